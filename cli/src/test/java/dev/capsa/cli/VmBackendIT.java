package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vm backend as a user meets it: the built launcher booting real QEMU guests (TCG on the
 * build machines, about 2.5 s a container) from a busybox bundle, as root. One state root serves
 * the class, so the accelerator probe (3 s where KVM is unusable) runs once. Each test checks that
 * no QEMU process and no state is left.
 */
@Tag("integration")
class VmBackendIT extends BusyboxBundle {
    private static final Path GUEST = Path.of(System.getenv().getOrDefault("CAPSA_GUEST_DIR", "/var/lib/capsa/guest"));
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "sleep", "hostname", "tty", "stty");

    @TempDir
    static Path shared;

    private static Path sharedRoot;

    VmBackendIT() {
        super(APPLETS, false);
    }

    @BeforeAll
    static void host() {
        assumeRoot("vm");
        assumeTrue(onPath("qemu-system-x86_64"), "no qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)");
        assumeTrue(Files.exists(GUEST.resolve("current/vmlinux")) || Files.exists(GUEST.resolve("vmlinux")),
                "no guest image in " + GUEST + " (run scripts/build-guest.sh)");
        assumeBusybox();
        sharedRoot = shared.resolve("root");
    }

    private static boolean onPath(String program) {
        return Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, program)));
    }

    /** The host was checked once for the class, in {@link #host()}. */
    @Override
    void assumeHost() {
    }

    /** One state root for the class: the accelerator probe runs once. */
    @Override
    Path stateRoot() {
        return sharedRoot;
    }

    @Override
    void assertNothingElseLeft() throws Exception {
        assertEquals(List.of(), qemuProcesses(), "QEMU processes left behind");
        assertEquals(List.of(), processes("capsa-relay"), "exec relays left behind");
    }

    /** QEMU processes whose command line mentions this test's directories. */
    private List<String> qemuProcesses() throws IOException {
        return processes("qemu-system");
    }

    /** Live processes whose command line has {@code program} and mentions this test's directories. */
    private List<String> processes(String program) throws IOException {
        List<String> found = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                            .replace('\0', ' ');
                    if (cmd.contains(program) && (cmd.contains(root.toString()) || cmd.contains(tmp.toString()))
                            && !procState(Long.parseLong(p.getFileName().toString())).equals("Z")) {
                        found.add(p.getFileName() + ": " + cmd);
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return found;
    }

    private Result capsa(Map<String, String> env, String... args) throws Exception {
        List<String> command = command(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(bundle.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().putAll(env);
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError("timed out: " + command);
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    @Override
    Result capsa(String... args) throws Exception {
        return capsa(Map.of(), args);
    }

    /** Whether QEMU {@code pid} is there and no zombie. */
    private static boolean qemuAlive(long pid) {
        String s = procState(pid);
        return !s.equals("gone") && !s.equals("Z");
    }

    @Test
    void theSameBundlePrintsTheSameUnderNsAndVm() throws Exception {
        args("echo", "hello");
        Result ns = capsa("--backend=ns", "run", id("echo-ns"));
        Result vm = capsa("--backend=vm", "run", id("echo-vm"));
        assertEquals(0, ns.code(), ns.err());
        assertEquals(0, vm.code(), vm.err());
        assertEquals("hello\n", ns.out());
        assertEquals(ns.out(), vm.out());

        args("sh", "-c", "echo to-stderr >&2; exit 3");
        ns = capsa("--backend=ns", "run", id("three-ns"));
        vm = capsa("--backend=vm", "run", id("three-vm"));
        assertEquals(3, ns.code(), ns.err());
        assertEquals(3, vm.code(), vm.err());
        assertTrue(vm.err().contains("to-stderr"), vm.err());

        args("hostname");
        assertEquals("capsa\n", capsa("--backend=vm", "run", id("hostname-vm")).out());
    }

    @Test
    void stdinReachesTheProcessAndItsEofEndsIt() throws Exception {
        args("cat");
        Path input = Files.writeString(tmp.resolve("in.txt"), "line one\nline two\n");
        List<String> command = List.of(LauncherIT.launcher().toString(), "--root", root.toString(), "--backend=vm",
                "run", id("cat-vm"));
        Process p = new ProcessBuilder(command).directory(bundle.toFile()).redirectInput(input.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        assertEquals("line one\nline two\n", out);
    }

    @Test
    void createStartKillDeleteWalkTheStatesAndLeaveNoQemu() throws Exception {
        args("sh", "-c", "echo started; exec sleep 60");
        String id = id("life-vm");
        Result create = capsa("--backend=vm", "create", id);
        assertEquals(0, create.code(), create.err());
        assertEquals("", create.out(), "the process must not run before start");
        JsonNode created = state(id);
        assertEquals("created", created.get("status").asText());
        long qemu = created.get("pid").asLong();
        assertTrue(qemuAlive(qemu), "the guest's QEMU " + qemu);

        Result start = capsa("start", id);
        assertEquals(0, start.code(), start.err());
        assertEquals("running", state(id).get("status").asText());

        Result kill = capsa("kill", id, "KILL");
        assertEquals(0, kill.code(), kill.err());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!state(id).get("status").asText().equals("stopped")) {
            assertTrue(System.nanoTime() < deadline, "the guest did not stop after kill");
            Thread.sleep(50);
        }
        Result delete = capsa("delete", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(qemuAlive(qemu), "QEMU " + qemu + " is still there");
        assertFalse(Files.exists(root.resolve(id)));
    }

    @Test
    void deleteForceOfACreatedGuestStopsQemu() throws Exception {
        args("sh", "-c", "echo never");
        String id = id("force-vm");
        assertEquals(0, capsa("--backend=vm", "create", id).code());
        long qemu = state(id).get("pid").asLong();
        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(qemuAlive(qemu), "QEMU " + qemu + " is still there");
    }

    /** The process's Cap* and NoNewPrivs lines of /proc/self/status, and its open-files limit, with busybox sh alone. */
    private static final String[] STATUS = {"sh", "-c", "while read l; do case $l in Cap*|NoNewPrivs*) echo $l;; esac;"
            + " done < /proc/self/status; echo nofile $(ulimit -n)"};

    private void capabilities(Map<String, List<String>> sets, Long uid) throws IOException {
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ObjectNode caps = ((ObjectNode) json.get("process")).putObject("capabilities");
        sets.forEach((set, names) -> names.forEach(caps.putArray(set)::add));
        if (uid != null) {
            ((ObjectNode) json.at("/process/user")).put("uid", uid).put("gid", uid);
        }
        Files.writeString(file, Json.mapper().writeValueAsString(json));
    }

    private static String hex(long mask) {
        return String.format("%016x", mask);
    }

    @Test
    void theGuestsProcessHasTheSpecsCapabilitiesRlimitsAndNoNewPrivs() throws Exception {
        args(STATUS);
        // runc spec: bounding, effective and permitted are CAP_AUDIT_WRITE (29), CAP_KILL (5) and
        // CAP_NET_BIND_SERVICE (10); noNewPrivileges; RLIMIT_NOFILE 1024
        long runc = 1L << 29 | 1L << 5 | 1L << 10;
        Result r = capsa("--backend=vm", "run", id("caps-runc-vm"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("CapBnd: " + hex(runc) + "\n"), r.out());
        assertTrue(r.out().contains("CapEff: " + hex(runc) + "\n"), r.out());
        assertTrue(r.out().contains("CapPrm: " + hex(runc) + "\n"), r.out());
        assertTrue(r.out().contains("CapInh: " + hex(0) + "\n"), r.out());
        assertTrue(r.out().contains("NoNewPrivs: 1\n"), r.out());
        assertTrue(r.out().contains("nofile 1024\n"), r.out());

        // the set podman 4 puts in config.json, larger than runc's
        List<String> podman = List.of("CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
                "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID",
                "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT");
        long podmanMask = 1L << 29 | 1L << 0 | 1L << 1 | 1L << 3 | 1L << 4 | 1L << 5 | 1L << 27 | 1L << 10 | 1L << 13
                | 1L << 31 | 1L << 6 | 1L << 8 | 1L << 7 | 1L << 18;
        assertEquals(0xa80425fbL, podmanMask);
        capabilities(Map.of("bounding", podman, "effective", podman, "permitted", podman), null);
        r = capsa("--backend=vm", "run", id("caps-podman-vm"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("CapBnd: " + hex(podmanMask) + "\n"), r.out());
        assertTrue(r.out().contains("CapEff: " + hex(podmanMask) + "\n"), r.out());

        // a non-root user keeps only its ambient set across exec
        List<String> bind = List.of("CAP_NET_BIND_SERVICE");
        capabilities(Map.of("bounding", podman, "effective", bind, "permitted", bind, "inheritable", bind,
                "ambient", bind), 1000L);
        r = capsa("--backend=vm", "run", id("caps-ambient-vm"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("CapBnd: " + hex(podmanMask) + "\n"), r.out());
        assertTrue(r.out().contains("CapAmb: " + hex(1L << 10) + "\n"), r.out());
        assertTrue(r.out().contains("CapEff: " + hex(1L << 10) + "\n"), r.out());
    }

    @Test
    void aFailedProcessSetupFailsCreateWithItsStepAndLeavesNoQemu() throws Exception {
        args("echo", "x");
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ((ObjectNode) json.get("process")).put("cwd", "/no-such-dir");
        Files.writeString(file, Json.mapper().writeValueAsString(json));
        Result r = capsa("--backend=vm", "run", id("cwd-vm"));
        assertEquals(1, r.code(), r.out());
        assertTrue(r.err().contains("cwd failed with errno 2: /no-such-dir"), r.err());
    }

    @Test
    void securityFieldsTheGuestWouldIgnoreAreRefused() throws Exception {
        args("echo", "x");
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ((ObjectNode) json.get("linux")).putObject("seccomp").put("defaultAction", "SCMP_ACT_ALLOW");
        Files.writeString(file, Json.mapper().writeValueAsString(json));
        Result r = capsa("--backend=vm", "run", id("seccomp-vm"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/linux/seccomp"), r.err());
    }

    @Test
    void aGuestThatCannotTakeOrdersFailsCreateWithItsConsoleAndLeavesNothing() throws Exception {
        // a guest image without modules: the agent boots but finds no control port
        Path image = Files.createDirectories(tmp.resolve("guest"));
        Path current = Files.exists(GUEST.resolve("current/vmlinux")) ? GUEST.resolve("current") : GUEST;
        Files.createSymbolicLink(image.resolve("vmlinux"), current.resolve("vmlinux").toRealPath());
        Files.write(image.resolve("modules.cpio"), new byte[0]);
        args("echo", "x");
        Result r;
        try {
            r = capsa(Map.of("CAPSA_GUEST_DIR", image.toString()), "--backend=vm", "run", id("broken-vm"));
        } finally {
            Files.delete(image.resolve("vmlinux")); // the link, not the shared image
        }
        assertEquals(1, r.code(), r.out());
        assertTrue(r.err().contains("the guest did not come up"), r.err());
        assertTrue(r.err().contains("no virtio-serial port named capsa.ctl"), "the console's tail: " + r.err());
    }

    @Test
    void bindMountsOfDirectoriesAndFilesReachTheProcessAndStayInsideItsRoot() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        Files.writeString(data.resolve("in"), "from the host\n");
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        Path files = Files.createDirectories(tmp.resolve("files"));
        Files.writeString(files.resolve("hosts"), "10.0.0.1 podman-host\n");
        Path rootfs = bundle.resolve("rootfs");
        // a symlink that would leave the rootfs if it were resolved in the guest's own root
        Files.createSymbolicLink(rootfs.resolve("esc"), Path.of("/"));
        args("sh", "-c", "echo written > /data/out; (echo x > /ro/f) 2>/dev/null || echo ro-refused;"
                + " cat /etc/hosts /data/in; cat /esc/target/in");
        config(json -> {
            var mounts = json.withArray("mounts");
            mounts.addObject().put("destination", "/data").put("type", "bind").put("source", data.toString())
                    .putArray("options").add("rbind").add("nosuid").add("nodev");
            mounts.addObject().put("destination", "/ro").put("type", "bind").put("source", ro.toString())
                    .putArray("options").add("bind").add("ro");
            mounts.addObject().put("destination", "/etc/hosts").put("type", "bind")
                    .put("source", files.resolve("hosts").toString()).putArray("options").add("bind").add("rprivate");
            mounts.addObject().put("destination", "/esc/target").put("type", "bind").put("source", data.toString())
                    .putArray("options").add("bind");
        });
        Result r = capsa("--backend=vm", "run", id("binds-vm"));
        assertEquals(0, r.code(), r.err());
        assertEquals("ro-refused\n10.0.0.1 podman-host\nfrom the host\nfrom the host\n", r.out());
        assertEquals("written\n", Files.readString(data.resolve("out")));
        assertFalse(Files.exists(ro.resolve("f")));
        assertTrue(Files.isDirectory(rootfs.resolve("target")), "the mount point was made inside the rootfs");
        assertTrue(Files.isRegularFile(rootfs.resolve("etc/hosts")), "a file's mount point is a file");
    }

    @Test
    void execRunsASecondProcessInTheGuestWithItsOwnStdioEnvCwdAndExitCode() throws Exception {
        args("sh", "-c", "echo $$ > /main.pid; exec sleep 120");
        config(json -> ((ObjectNode) json.get("root")).put("readonly", false));
        String id = id("exec-vm");
        assertEquals(0, capsa("--backend=vm", "create", id).code());
        try {
            assertEquals(0, capsa("start", id).code());
            Result r = capsa("exec", "--env", "GREETING=hello from exec", "--cwd", "/bin", id, "sh", "-c",
                    "echo $GREETING; pwd; kill -0 $(cat /main.pid) && echo same-guest; echo to-stderr >&2; exit 7");
            assertEquals(7, r.code(), r.err());
            // the container's process is visible: the same guest, the same pid namespace
            assertEquals("hello from exec\n/bin\nsame-guest\n", r.out());
            assertTrue(r.err().contains("to-stderr"), r.err());

            Result signalled = capsa("exec", id, "sh", "-c", "kill -9 $$");
            assertEquals(137, signalled.code(), signalled.err());

            Result missing = capsa("exec", id, "/no/such/program");
            assertEquals(1, missing.code());
            assertTrue(missing.err().contains("unable to start container process: exec"), missing.err());

            // --detach leaves capsa-relay behind: it relays the stdio exec was given, the pid file names it
            Path pidFile = tmp.resolve("exec.pid");
            Path out = tmp.resolve("detached.out");
            ProcessBuilder pb = new ProcessBuilder(command("exec", "--detach", "--pid-file", pidFile.toString(), id,
                    "sh", "-c", "echo detached > /detached.txt; sleep 1; echo to-relay-stdout; exit 6"));
            pb.environment().remove("CAPSA_PLUGINS");
            Process detached = pb.redirectOutput(out.toFile()).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            assertTrue(detached.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, detached.exitValue(), Files.readString(out));
            long relay = Long.parseLong(Files.readString(pidFile));
            assertTrue(relay != state(id).get("pid").asLong(), "the pid file names the relay, not QEMU");
            String cmdline = Files.readString(Path.of("/proc/" + relay + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("capsa-relay"), cmdline);
            ProcessHandle handle = ProcessHandle.of(relay).orElseThrow();
            handle.onExit().get(20, TimeUnit.SECONDS);
            assertEquals("detached\n", Files.readString(bundle.resolve("rootfs/detached.txt")));
            assertEquals("to-relay-stdout\n", Files.readString(out), "the relay wrote to what capsa exec was given");
            assertEquals("running", state(id).get("status").asText());
        } finally {
            Result delete = capsa("delete", "--force", id);
            assertEquals(0, delete.code(), delete.err());
        }
    }

    @Test
    void execWithATerminalSendsAPtyToTheConsoleSocketAndTheProcessGetsAPtyInTheGuest() throws Exception {
        assumeTrue(onPath("python3"), "no python3 to receive the pty master");
        args("sleep", "120");
        String id = id("tty-vm");
        assertEquals(0, capsa("--backend=vm", "create", id).code());
        try {
            assertEquals(0, capsa("start", id).code());
            Path socket = tmp.resolve("console.sock");
            Process receiver = ConsoleReceiver.start(tmp, socket, "hello\n", Duration.ofSeconds(30));
            Path process = tmp.resolve("process.json");
            ObjectNode p = Json.mapper().createObjectNode().put("terminal", true).put("cwd", "/");
            p.putObject("consoleSize").put("height", 30).put("width", 100);
            p.putArray("args").add("sh").add("-c")
                    .add("tty; stty size; test -t 0 && echo stdin-is-a-tty; read line; echo got:$line; exit 3");
            p.putArray("env").add("PATH=/bin");
            p.putObject("user").put("uid", 0).put("gid", 0);
            Files.writeString(process, Json.mapper().writeValueAsString(p));
            Path pidFile = tmp.resolve("tty.pid");
            Result r = capsa("exec", "--tty", "--detach", "--console-socket", socket.toString(), "--pid-file",
                    pidFile.toString(), "--process", process.toString(), id);
            assertEquals(0, r.code(), r.err());
            String out = ConsoleReceiver.output(receiver, Duration.ofSeconds(60));
            assertTrue(out.startsWith("name=/dev/ptmx\n"), out);
            assertTrue(out.contains("/dev/pts/0\n"), out);
            assertTrue(out.contains("30 100\n"), out);
            assertTrue(out.contains("stdin-is-a-tty\n"), out);
            assertTrue(out.contains("got:hello\n"), out);
            long relay = Long.parseLong(Files.readString(pidFile));
            ProcessHandle.of(relay).ifPresent(h -> h.onExit().join());
        } finally {
            Result delete = capsa("delete", "--force", id);
            assertEquals(0, delete.code(), delete.err());
        }
    }
}
