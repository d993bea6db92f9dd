package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import dev.capsa.cli.LauncherIT.Result;

/**
 * The ns backend as a runc user meets it: the built launcher running real containers from a
 * busybox bundle, as root. Each test has its own --root and checks that nothing is left behind:
 * no state, no process, no mount on the host.
 */
@Tag("integration")
class NamespaceBackendIT {
    private static final Path BUSYBOX = Path.of("/bin/busybox");
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "ls", "hostname", "sleep", "id", "grep",
            "touch", "true", "test");

    @TempDir
    Path tmp;

    private Path root;
    private Path bundle;
    private final List<String> ids = new ArrayList<>();

    @BeforeEach
    void bundle() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "the ns backend needs root; running as "
                + System.getProperty("user.name"));
        assumeTrue(Files.isExecutable(BUSYBOX), "no " + BUSYBOX + " (Debian: apt-get install busybox-static)");
        LauncherIT.launcher();
        root = tmp.resolve("root");
        bundle = Files.createDirectories(tmp.resolve("bundle"));
        Path bin = Files.createDirectories(bundle.resolve("rootfs/bin"));
        Files.copy(BUSYBOX, bin.resolve("busybox"));
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Result spec = LauncherIT.exec(bundle, List.of(LauncherIT.launcher().toString(), "spec"));
        assertEquals(0, spec.code(), spec.err());
    }

    @AfterEach
    void nothingLeft() throws Exception {
        if (root == null) {
            return;
        }
        for (String id : ids) {
            capsa("delete", "--force", id);
        }
        if (Files.isDirectory(root)) {
            // dot files belong to hook plugins (the event journal), not to a container
            try (Stream<Path> left = Files.list(root)) {
                assertEquals(List.of(), left.filter(p -> !p.getFileName().toString().startsWith(".")).toList(),
                        "state left in " + root);
            }
        }
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        assertFalse(mounts.contains(tmp.toString()), "a mount under " + tmp + " is left on the host:\n" + mounts);
    }

    private String id(String name) {
        ids.add(name);
        return name;
    }

    private void config(Consumer<ObjectNode> edit) throws IOException {
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ((ObjectNode) json.get("process")).put("terminal", false);
        edit.accept(json);
        Files.writeString(file, Json.mapper().writeValueAsString(json));
    }

    private void args(String... args) throws IOException {
        config(json -> {
            ArrayNode a = ((ObjectNode) json.get("process")).putArray("args");
            for (String arg : args) {
                a.add(arg);
            }
        });
    }

    private Result capsa(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(LauncherIT.launcher().toString(), "--root", root.toString()));
        command.addAll(List.of(args));
        return LauncherIT.exec(bundle, command);
    }

    private JsonNode state(String id) throws Exception {
        Result r = capsa("state", id);
        assertEquals(0, r.code(), r.err());
        return Json.mapper().readTree(r.out());
    }

    private static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
                && !procState(pid).equals("Z");
    }

    private static String procState(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch (IOException e) {
            return "gone";
        }
    }

    private void awaitStatus(String id, String status) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String now;
        while (!(now = state(id).get("status").asText()).equals(status)) {
            assertTrue(System.nanoTime() < deadline, "container " + id + " is " + now + ", not " + status);
            Thread.sleep(20);
        }
    }

    @Test
    void runPrintsTheOutputAndReturnsTheExitCode() throws Exception {
        args("echo", "hello");
        Result r = capsa("run", id("hello"));
        assertEquals(0, r.code(), r.err());
        assertEquals("hello\n", r.out());

        args("sh", "-c", "echo to-stderr >&2; exit 3");
        r = capsa("run", id("three"));
        assertEquals(3, r.code(), r.err());
        assertTrue(r.err().contains("to-stderr"), r.err());
    }

    @Test
    void runOfAProcessKilledBySignalReturns128PlusTheSignal() throws Exception {
        args("sleep", "60");
        String id = id("killed");
        List<String> command = new ArrayList<>(List.of(LauncherIT.launcher().toString(), "--root", root.toString(),
                "run", id));
        Process run = new ProcessBuilder(command).directory(bundle.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (capsa("state", id).code() != 0 || !state(id).get("status").asText().equals("running")) {
                assertTrue(System.nanoTime() < deadline && run.isAlive(), "the container never ran");
                Thread.sleep(50);
            }
            Result kill = capsa("kill", id, "KILL");
            assertEquals(0, kill.code(), kill.err());
            assertTrue(run.waitFor(20, TimeUnit.SECONDS), "run did not return after the kill");
            assertEquals(128 + 9, run.exitValue());
        } finally {
            run.destroyForcibly().waitFor();
        }
    }

    @Test
    void createStartKillDeleteWalksTheStatesAndLeavesNothing() throws Exception {
        args("sh", "-c", "echo started; exec sleep 60");
        String id = id("walk");
        Result create = capsa("create", id);
        assertEquals(0, create.code(), create.err());
        assertEquals("", create.out(), "the process must not run before start");
        JsonNode created = state(id);
        assertEquals("created", created.get("status").asText());
        long pid = created.get("pid").asLong();
        assertTrue(alive(pid), "created container's process " + pid);
        assertTrue(Files.exists(root.resolve(id).resolve("exec.fifo")));

        Result start = capsa("start", id);
        assertEquals(0, start.code(), start.err());
        awaitStatus(id, "running");
        assertEquals(pid, state(id).get("pid").asLong());
        assertEquals("sleep 60", Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ').trim());

        Result ps = capsa("ps", id);
        assertEquals(0, ps.code(), ps.err());
        assertTrue(ps.out().contains(Long.toString(pid)), ps.out());

        Result kill = capsa("kill", id, "KILL");
        assertEquals(0, kill.code(), kill.err());
        awaitStatus(id, "stopped");
        assertFalse(alive(pid));

        Result delete = capsa("delete", id);
        assertEquals(0, delete.code(), delete.err());
        Result gone = capsa("state", id);
        assertEquals(1, gone.code());
        assertTrue(gone.err().contains("does not exist"), gone.err());
        assertFalse(Files.exists(root.resolve(id)));
    }

    @Test
    void deleteForceOfACreatedContainerKillsIt() throws Exception {
        args("true");
        String id = id("never-started");
        assertEquals(0, capsa("create", id).code());
        long pid = state(id).get("pid").asLong();
        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(alive(pid));
        assertFalse(Files.exists(root.resolve(id)));
    }

    @Test
    void aMissingCommandFailsLikeRunc() throws Exception {
        args("no-such-command");
        Result r = capsa("run", id("missing"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("exec: \"no-such-command\": executable file not found in $PATH"), r.err());
    }

    @Test
    void aMissingRootfsIsAClearErrorAndLeavesNothing() throws Exception {
        args("true");
        config(json -> ((ObjectNode) json.get("root")).put("path", "no-rootfs"));
        Result r = capsa("run", id("norootfs"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("no-rootfs"), r.err());
    }

    @Test
    void insideTheHostnameIsTheConfigsAndThePidOneIsTheProcess() throws Exception {
        config(json -> json.put("hostname", "inside-capsa"));
        args("sh", "-c", "hostname; echo pid=$$; cat /proc/1/cmdline; echo; cat /proc/self/mountinfo; "
                + "test -c /dev/null && test -L /dev/fd && echo devices-ok");
        Result r = capsa("run", id("inside"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("inside-capsa", lines.get(0));
        assertEquals("pid=1", lines.get(1));
        assertTrue(lines.get(2).startsWith("sh"), lines.get(2));
        for (String mount : List.of(" / ", " /proc ", " /dev ", " /dev/pts ", " /dev/shm ", " /sys ")) {
            assertTrue(r.out().contains(mount), mount + " is not mounted:\n" + r.out());
        }
        assertTrue(r.out().contains("devices-ok"), r.out());
    }

    @Test
    void aSymlinkOutOfTheRootfsDoesNotMountOnTheHost() throws Exception {
        Path hostDir = Files.createDirectories(tmp.resolve("host-dir"));
        Files.createSymbolicLink(bundle.resolve("rootfs/evil"), hostDir);
        config(json -> {
            ((ObjectNode) json.get("root")).put("readonly", false);
            ((ArrayNode) json.get("mounts")).addObject().put("destination", "/evil").put("type", "tmpfs")
                    .put("source", "tmpfs");
        });
        args("sh", "-c", "touch /evil/written-inside && grep -c host-dir /proc/self/mountinfo");
        Result r = capsa("run", id("evil"));
        assertEquals(0, r.code(), r.err());
        assertEquals("1\n", r.out(), "the tmpfs is mounted inside the container");
        try (Stream<Path> files = Files.list(hostDir)) {
            assertEquals(List.of(), files.toList(), "the container wrote into the host directory");
        }
        // resolved as if the rootfs were /: the mount went to rootfs/<host-dir path>
        assertTrue(Files.isDirectory(bundle.resolve("rootfs").resolve(hostDir.toString().substring(1))));
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(hostDir.toString()));
    }

    @Test
    void unsupportedFieldsFailNamingThem() throws Exception {
        args("true");
        config(json -> ((ObjectNode) json.get("linux")).putObject("seccomp").put("defaultAction", "SCMP_ACT_ALLOW"));
        Result r = capsa("run", id("seccomp"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/linux/seccomp: not supported by the ns backend yet"), r.err());
    }

    @Test
    void featuresListWhatWorks() throws Exception {
        Result r = capsa("features");
        assertEquals(0, r.code(), r.err());
        JsonNode features = Json.mapper().readTree(r.out());
        assertTrue(features.at("/linux/namespaces").toString().contains("\"pid\""), r.out());
        assertFalse(features.at("/linux/namespaces").toString().contains("\"user\""), r.out());
        assertTrue(new String(features.at("/mountOptions").toString().getBytes(), StandardCharsets.UTF_8)
                .contains("\"rbind\""), r.out());
    }
}
