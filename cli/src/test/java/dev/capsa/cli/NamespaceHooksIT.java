package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The six OCI hooks of config.json with real ns containers, as root: each records its phase,
 * its stdin (the state), its environment and its namespaces into one log directory that is the
 * rootfs's /hooklog, so the host hooks, createContainer (host path, before pivot_root) and
 * startContainer (container path) write to the same place. Then a timeout, failures of each kind,
 * and args[0].
 */
@Tag("integration")
class NamespaceHooksIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "cat", "echo", "env", "readlink", "sleep", "true");
    /** A recorder: $1 the phase, $2 the log directory. Host hooks run it with the host's sh, the container's with busybox. */
    private static final String RECORDER = """
            #!/bin/sh
            cat > "$2/$1.state"
            echo "$1" >> "$2/order"
            env > "$2/$1.env"
            readlink /proc/self/ns/mnt > "$2/$1.mnt"
            readlink /proc/self/ns/pid > "$2/$1.pidns"
            readlink /proc/self/ns/net > "$2/$1.net"
            """;

    private Path log;
    private Path hostRecorder;

    NamespaceHooksIT() {
        super(APPLETS, true);
    }

    @BeforeEach
    void recorders() throws Exception {
        log = Files.createDirectories(bundle.resolve("rootfs/hooklog"));
        hostRecorder = tmp.resolve("record");
        Files.writeString(hostRecorder, RECORDER);
        Files.setPosixFilePermissions(hostRecorder, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path inside = bundle.resolve("rootfs/record");
        Files.writeString(inside, RECORDER);
        Files.setPosixFilePermissions(inside, PosixFilePermissions.fromString("rwxr-xr-x"));
        config(json -> ((ObjectNode) json.get("root")).put("readonly", false));
    }

    private static ObjectNode hook(ObjectNode hooks, String phase, String path, List<String> args, List<String> env) {
        ArrayNode list = hooks.has(phase) ? (ArrayNode) hooks.get(phase) : hooks.putArray(phase);
        ObjectNode hook = list.addObject().put("path", path);
        ArrayNode a = hook.putArray("args");
        args.forEach(a::add);
        ArrayNode e = hook.putArray("env");
        env.forEach(e::add);
        return hook;
    }

    private void hooks(java.util.function.Consumer<ObjectNode> edit) throws Exception {
        config(json -> edit.accept(json.has("hooks") ? (ObjectNode) json.get("hooks") : json.putObject("hooks")));
    }

    private String read(String name) throws Exception {
        return Files.readString(log.resolve(name)).strip();
    }

    private static String ns(String kind, long pid) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)).toString();
    }

    @Test
    void allSixRunInOrderWithTheirStateEnvAndNamespaces() throws Exception {
        List<String> env = List.of("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOOKVAR=from-config");
        hooks(h -> {
            for (String phase : List.of("prestart", "createRuntime", "createContainer", "poststart", "poststop")) {
                // createContainer's path resolves on the host (it runs before pivot_root)
                hook(h, phase, hostRecorder.toString(), List.of("record", phase, log.toString()), env);
            }
            hook(h, "startContainer", "/record", List.of("record", "startContainer", "/hooklog"), env);
        });
        args("sh", "-c", "echo process >> /hooklog/order; sleep 30");
        String id = id("six");
        Result r = capsa("create", "--bundle", bundle.toString(), id);
        assertEquals(0, r.code(), r.err());
        long pid = state(id).get("pid").asLong();
        assertEquals(List.of("prestart", "createRuntime", "createContainer"), Files.readAllLines(log.resolve("order")));

        r = capsa("start", id);
        assertEquals(0, r.code(), r.err());
        for (int i = 0; i < 100 && !Files.readString(log.resolve("order")).contains("process"); i++) {
            Thread.sleep(50);
        }
        List<String> order = Files.readAllLines(log.resolve("order"));
        assertEquals(List.of("prestart", "createRuntime", "createContainer", "startContainer"), order.subList(0, 4));
        assertEquals(Set.of("process", "poststart"), Set.copyOf(order.subList(4, order.size())), order.toString());

        r = capsa("kill", id, "KILL");
        assertEquals(0, r.code(), r.err());
        for (int i = 0; i < 100 && alive(pid); i++) {
            Thread.sleep(50);
        }
        r = capsa("delete", id);
        assertEquals(0, r.code(), r.err());
        assertEquals("poststop", Files.readAllLines(log.resolve("order")).getLast());

        // the state each phase got on stdin
        for (String phase : List.of("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                "poststop")) {
            JsonNode state = Json.mapper().readTree(read(phase + ".state"));
            assertEquals(id, state.get("id").asText(), phase);
            assertEquals(bundle.toString(), state.get("bundle").asText(), phase);
            String status = switch (phase) {
                case "startContainer" -> "created";
                case "poststart" -> "running";
                case "poststop" -> "stopped";
                default -> "creating";
            };
            assertEquals(status, state.get("status").asText(), phase);
            if (!phase.equals("poststop")) {
                assertEquals(pid, state.get("pid").asLong(), phase + ": the container's pid as the host sees it");
            }
            // exactly the hook's env: nothing of capsa's own environment
            Set<String> names = Files.readAllLines(log.resolve(phase + ".env")).stream()
                    .map(l -> l.substring(0, Math.max(0, l.indexOf('=')))).collect(Collectors.toSet());
            assertTrue(names.contains("HOOKVAR"), phase + ": " + names);
            Set<String> leaked = System.getenv().keySet().stream()
                    .filter(n -> !Set.of("PATH", "PWD", "SHLVL", "_", "OLDPWD").contains(n))
                    .filter(names::contains).collect(Collectors.toSet());
            assertEquals(Set.of(), leaked, phase + " got variables of the caller");
        }

        // the namespaces: the host's for the host hooks, the container's for the other two
        long self = ProcessHandle.current().pid();
        for (String phase : List.of("prestart", "createRuntime", "poststart", "poststop")) {
            assertEquals(ns("mnt", self), read(phase + ".mnt"), phase);
            assertEquals(ns("pid", self), read(phase + ".pidns"), phase);
        }
        JsonNode created = Json.mapper().readTree(read("createContainer.state"));
        assertEquals(pid, created.get("pid").asLong());
        for (String phase : List.of("createContainer", "startContainer")) {
            assertNotEquals(ns("mnt", self), read(phase + ".mnt"), phase + " runs in the container's mount namespace");
            assertNotEquals(ns("pid", self), read(phase + ".pidns"), phase + " runs in the container's pid namespace");
            assertNotEquals(ns("net", self), read(phase + ".net"), phase + " runs in the container's network namespace");
        }
        assertEquals(read("createContainer.mnt"), read("startContainer.mnt"));
        assertEquals(read("createContainer.pidns"), read("startContainer.pidns"));
    }

    /** Each fatal phase, failing and timing out: the command fails with the phase, the path and why. */
    @Test
    void everyFatalPhaseFailsTheCommandWithItsHookPathStatusOrTimeout() throws Exception {
        args("true");
        for (String phase : List.of("prestart", "createRuntime", "createContainer", "startContainer")) {
            for (boolean hang : List.of(false, true)) {
                String id = id((hang ? "hang-" : "fail-") + phase.toLowerCase());
                config(json -> {
                    ObjectNode hooks = json.putObject("hooks");
                    ObjectNode h = hook(hooks, phase, "/bin/sh", List.of("sh", "-c", hang ? "echo slow >&2; sleep 30"
                            : "echo broken >&2; exit 3"), List.of());
                    if (hang) {
                        h.put("timeout", 1);
                    }
                });
                Result r = capsa("run", id);
                assertEquals(1, r.code(), phase + ": " + r.err());
                String why = hang ? "timed out after 1 s: slow" : "exit status 3: broken";
                assertTrue(r.err().contains(phase + " hook /bin/sh: " + why), phase + ": " + r.err());
                Result state = capsa("state", id);
                assertTrue(state.code() == 1 || state.out().contains("\"stopped\""),
                        phase + ": the container is gone or stopped: " + state.out() + state.err());
                capsa("delete", "--force", id);
            }
        }
    }

    @Test
    void args0IsTheHooksArgv0Inside() throws Exception {
        // busybox picks its applet by argv[0]: run as "sh" it is a shell, as "/bin/busybox" it is not
        hooks(h -> {
            hook(h, "createContainer", BUSYBOX.toString(),
                    List.of("sh", "-c", "echo $0 > " + log + "/create-argv0"), List.of());
            hook(h, "startContainer", "/bin/busybox", List.of("sh", "-c", "echo $0 > /hooklog/start-argv0"), List.of());
        });
        args("true");
        Result r = capsa("run", id("argv0"));
        assertEquals(0, r.code(), r.err());
        assertEquals("sh", read("create-argv0"));
        assertEquals("sh", read("start-argv0"));
    }

    @Test
    void aCreateContainerHookPastItsTimeoutFailsCreateAndLeavesNothing() throws Exception {
        hooks(h -> hook(h, "createContainer", "/bin/sh", List.of("sh", "-c", "echo waiting >&2; sleep 30"), List.of())
                .put("timeout", 1));
        args("true");
        long started = System.nanoTime();
        Result r = capsa("create", "--bundle", bundle.toString(), id("slow"));
        long seconds = (System.nanoTime() - started) / 1_000_000_000L;
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("createContainer hook /bin/sh: timed out after 1 s: waiting"), r.err());
        assertTrue(seconds < 20, "create took " + seconds + " s");
        assertEquals(1, capsa("state", "slow").code(), "no container is left");
    }

    @Test
    void aFailingCreateContainerHookFailsRunWithItsStatusAndOutput() throws Exception {
        hooks(h -> hook(h, "createContainer", "/bin/sh", List.of("sh", "-c", "echo boom >&2; exit 3"), List.of()));
        args("true");
        Result r = capsa("run", id("fails"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("createContainer hook /bin/sh: exit status 3: boom"), r.err());
    }

    @Test
    void aMissingHookPathIsNamed() throws Exception {
        hooks(h -> hook(h, "startContainer", "/no/such/hook", List.of(), List.of()));
        args("true");
        String id = id("missing");
        assertEquals(0, capsa("create", "--bundle", bundle.toString(), id).code());
        Result r = capsa("start", id);
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("startContainer hook /no/such/hook: cannot start: No such file or directory"),
                r.err());
    }

    @Test
    void aFailingStartContainerHookFailsStartAndStopsTheContainer() throws Exception {
        hooks(h -> hook(h, "startContainer", "/bin/sh", List.of("sh", "-c", "echo nope >&2; exit 7"), List.of()));
        args("sh", "-c", "echo ran > /hooklog/ran");
        String id = id("startfails");
        Result r = capsa("create", "--bundle", bundle.toString(), id);
        assertEquals(0, r.code(), r.err());
        r = capsa("start", id);
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("startContainer hook /bin/sh: exit status 7: nope"), r.err());
        assertEquals("stopped", state(id).get("status").asText());
        assertFalse(Files.exists(log.resolve("ran")), "the process must not run after a failed startContainer hook");
        r = capsa("delete", id);
        assertEquals(0, r.code(), r.err());
    }

    /**
     * runc CVE-2019-5736: a process in the container must not be able to overwrite the runtime's
     * helper through /proc/PID/exe. While a startContainer hook runs, the container's pid 1 is
     * capsa-init itself (it waits for the hook), so the hook is exactly such a process: it tries
     * to write and to truncate /proc/1/exe, and, as the 2019 exploit did, keeps it open and
     * writes once pid 1 has exec'd the container's process (no ETXTBSY any more). Every try
     * fails, and the helper on the host is unchanged.
     */
    @Test
    void theHelperCannotBeOverwrittenFromInsideThroughProcExe() throws Exception {
        Path helpers = Path.of("/run/capsa-bin");
        hooks(h -> hook(h, "startContainer", "/bin/sh", List.of("sh", "-c",
                "readlink /proc/1/exe > /hooklog/exe; "
                        + "echo evil >> /proc/1/exe; echo append=$? >> /hooklog/tries; "
                        + "echo evil > /proc/1/exe; echo truncate=$? >> /hooklog/tries; "
                        // the 2019 exploit: hold the binary open, write once it no longer runs
                        + "(exec 3</proc/1/exe; sleep 1; echo evil > /proc/self/fd/3; echo later=$? >> /hooklog/tries) >/dev/null 2>&1 &"),
                List.of()));
        args("sleep", "3");
        // as privileged as a container gets: without CAP_DAC_OVERRIDE a mode 0555 file is safe anyway
        config(json -> {
            ObjectNode caps = ((ObjectNode) json.get("process")).putObject("capabilities");
            for (String set : List.of("bounding", "effective", "permitted")) {
                ArrayNode list = caps.putArray(set);
                List.of("CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_KILL")
                        .forEach(list::add);
            }
        });
        // the helper is extracted on first use: run once so that it exists, then hash it
        Result r = capsa("run", id("first"));
        assertEquals(0, r.code(), r.err());
        java.util.Map<Path, String> before = hashes(helpers);
        assertFalse(before.isEmpty(), "no capsa-init in " + helpers);
        Files.deleteIfExists(log.resolve("tries"));

        // detached, as an engine runs it: no capsa-init stays behind on the host to keep the file busy
        String id = id("cve");
        r = capsa("create", "--bundle", bundle.toString(), id);
        assertEquals(0, r.code(), r.err());
        r = capsa("start", id);
        assertEquals(0, r.code(), r.err());
        for (int i = 0; i < 100 && (!Files.exists(log.resolve("tries"))
                || Files.readAllLines(log.resolve("tries")).size() < 3); i++) {
            Thread.sleep(50);
        }
        List<String> tries = Files.readAllLines(log.resolve("tries"));
        java.util.Map<Path, String> after = hashes(helpers);
        assertEquals(List.of(), before.keySet().stream().filter(f -> !before.get(f).equals(after.get(f))).toList(),
                "helpers on the host changed: " + tries);
        assertEquals(3, tries.size(), tries.toString());
        for (String t : tries) {
            assertNotEquals("0", t.substring(t.indexOf('=') + 1), "a write through /proc/1/exe worked: " + tries);
        }
        assertTrue(read("exe").startsWith("/memfd:capsa-init"), "pid 1 runs from the sealed copy: " + read("exe"));
    }

    private static java.util.Map<Path, String> hashes(Path dir) throws Exception {
        java.util.Map<Path, String> hashes = new java.util.TreeMap<>();
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
                hashes.put(f, java.util.HexFormat.of().formatHex(digest));
            }
        }
        return hashes;
    }

    /**
     * A hook plugin that fails, or hangs past hookTimeoutSeconds, is a failing hook of its phase:
     * here the hooks.d plugin, fed a failing prestart hook and then a createRuntime hook that
     * never ends. create fails with the plugin, the file and the reason, and leaves nothing.
     */
    @Test
    void aHookPluginThatFailsOrHangsStopsCreateAndLeavesNothing() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("hooks.d"));
        Path config = tmp.resolve("capsa-config.json");
        Files.writeString(config, "{\"hooksDirs\": [\"" + dir + "\"], \"hookTimeoutSeconds\": 1}");
        args("true");
        Files.writeString(dir.resolve("10-fail.json"), """
                {"version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", "echo refused >&2; exit 2"]},
                 "when": {"always": true}, "stages": ["prestart"]}
                """);
        Result r = capsa("--config", config.toString(), "run", id("plugfail"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("prestart hook plugin hooks.d") && r.err().contains("exit status 2")
                && r.err().contains("10-fail.json"), r.err());
        assertEquals(1, capsa("state", "plugfail").code(), "no container is left");

        Files.delete(dir.resolve("10-fail.json"));
        Files.writeString(dir.resolve("20-hang.json"), """
                {"version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"]},
                 "when": {"always": true}, "stages": ["createRuntime"]}
                """);
        long started = System.nanoTime();
        r = capsa("--config", config.toString(), "create", "--bundle", bundle.toString(), id("plughang"));
        long seconds = (System.nanoTime() - started) / 1_000_000_000L;
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("createRuntime hook plugin hooks.d: timed out after 1 s"), r.err());
        assertTrue(seconds < 20, "create took " + seconds + " s");
        assertEquals(1, capsa("state", "plughang").code(), "no container is left");
    }

    @Test
    void aFailingPoststartHookIsAWarningAndTheLifecycleGoesOn() throws Exception {
        hooks(h -> {
            hook(h, "poststart", "/bin/sh", List.of("sh", "-c", "echo late >&2; exit 4"), List.of());
            hook(h, "poststop", "/bin/sh", List.of("sh", "-c", "exit 5"), List.of());
        });
        args("echo", "hello");
        Result r = capsa("run", id("warns"));
        assertEquals(0, r.code(), r.err());
        assertEquals("hello\n", r.out());
        assertTrue(r.err().contains("poststart hook /bin/sh: exit status 4: late"), r.err());
        assertTrue(r.err().contains("poststop hook /bin/sh: exit status 5"), r.err());
    }
}
