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

    /**
     * A foreground run is served by the capsa server (the client starts the monitor); a TERM to
     * the client, as an engine or a terminal sends it, ends the guest and the run with 143.
     */
    @Test
    void aTermToAForegroundRunEndsTheGuestAndTheRunWith143() throws Exception {
        args("sh", "-c", "echo up; sleep 100");
        String id = id("term-vm");
        List<String> command = List.of(LauncherIT.launcher().toString(), "--root", root.toString(), "--backend=vm",
                "run", id);
        Process p = new ProcessBuilder(command).directory(bundle.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                StandardCharsets.UTF_8));
        assertEquals("up", out.readLine(), "the guest's process started");
        // served by the server: the process the test ran is still the C client, not a JVM it became
        String exe = Files.readSymbolicLink(Path.of("/proc/" + p.pid() + "/exe")).toString();
        assertFalse(exe.endsWith("/java"), "the run went to a JVM of its own: " + exe);
        long monitor = state(id).get("pid").asLong();
        assertTrue(Files.readString(Path.of("/proc/" + monitor + "/status")).contains("\nPPid:\t" + p.pid() + "\n"),
                "the monitor is the client's child");
        assertEquals(0, new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the run did not end after TERM");
        assertEquals(143, p.exitValue());
        assertFalse(Files.exists(root.resolve(id)), "run removes its container");
    }

    /**
     * The rootfs share is mounted cache=mmap (docs/vm.md): a MAP_SHARED writable mapping of a file
     * works (cache=none refused it), and what a process wrote through one is in the host's file
     * when run returns, even though run ends the guest by killing QEMU: the mapping is written back
     * when it closes, also in a process the end of the container killed (the agent waits for
     * it and syncs before it reports the exit).
     */
    @Test
    void writesThroughASharedMappingReachTheHostBeforeRunReturns() throws Exception {
        assumeTrue(onPath("gcc"), "no gcc to build the mapping test program (Debian: apt-get install gcc libc6-dev)");
        Path source = Files.writeString(tmp.resolve("mapwrite.c"), """
                #include <fcntl.h>
                #include <signal.h>
                #include <stdio.h>
                #include <string.h>
                #include <sys/mman.h>
                #include <unistd.h>
                static int map_write(const char *path, const char *text) {
                    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
                    if (fd < 0 || ftruncate(fd, 4096) < 0) { perror(path); return -1; }
                    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                    if (m == MAP_FAILED) { perror("mmap"); return -1; }
                    memcpy(m, text, strlen(text));
                    return 0; /* no msync, no munmap */
                }
                int main(void) {
                    int ready[2];
                    if (pipe(ready) < 0) return 2;
                    pid_t child = fork();
                    if (child == 0) {
                        if (map_write("/bg.txt", "from a killed process\\n") < 0) return 1;
                        if (write(ready[1], "k", 1) != 1) return 1;
                        pause(); /* until the end of the container kills it */
                        return 0;
                    }
                    char c;
                    close(ready[1]);
                    if (read(ready[0], &c, 1) != 1) return 3; /* the child failed */
                    if (map_write("/fg.txt", "from the container's process\\n") < 0) return 1;
                    puts("mapped");
                    return 0;
                }
                """);
        Path program = bundle.resolve("rootfs/mapwrite");
        Process cc = new ProcessBuilder("gcc", "-static", "-O2", "-o", program.toString(), source.toString())
                .redirectErrorStream(true).start();
        String ccOut = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, cc.waitFor(), ccOut);
        args("/mapwrite");
        config(json -> ((ObjectNode) json.get("root")).put("readonly", false));
        Result r = capsa("--backend=vm", "run", id("mmap-vm"));
        assertEquals(0, r.code(), r.err());
        assertEquals("mapped\n", r.out());
        assertEquals("from the container's process\n", Files.readString(bundle.resolve("rootfs/fg.txt")).replace("\0", ""));
        assertEquals("from a killed process\n", Files.readString(bundle.resolve("rootfs/bg.txt")).replace("\0", ""));
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
        awaitStatus(id, "stopped", 20, "the guest did not stop after kill");
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

    /** linux.seccomp that refuses mkdir and mkdirat with ENOTSUP (95), and the process's noNewPrivileges. */
    private void seccomp(boolean noNewPrivileges) throws IOException {
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ((ObjectNode) json.get("process")).put("noNewPrivileges", noNewPrivileges);
        ((ObjectNode) json.get("root")).put("readonly", false);
        ObjectNode seccomp = ((ObjectNode) json.get("linux")).putObject("seccomp");
        seccomp.put("defaultAction", "SCMP_ACT_ALLOW").putArray("architectures").add("SCMP_ARCH_X86_64");
        seccomp.putArray("syscalls").addObject().put("action", "SCMP_ACT_ERRNO").put("errnoRet", 95)
                .putArray("names").add("mkdir").add("mkdirat");
        Files.writeString(file, Json.mapper().writeValueAsString(json));
    }

    @Test
    void theSeccompFilterIsLoadedInTheGuestWithAndWithoutNoNewPrivs() throws Exception {
        String[] script = {"sh", "-c", "grep Seccomp: /proc/self/status; mkdir /blocked 2>&1; echo mkdir=$?;"
                + " touch /allowed && echo touch=$?"};
        for (boolean nnp : new boolean[] {false, true}) {
            args(script);
            seccomp(nnp);
            Result r = capsa("--backend=vm", "run", id("seccomp-vm-" + nnp));
            assertEquals(0, r.code(), r.err());
            // the same errno a runc container would get; the filter leaves the rest alone
            assertEquals("Seccomp:\t2\nmkdir: can't create directory '/blocked': Operation not supported\n"
                    + "mkdir=1\ntouch=0\n", r.out(), "noNewPrivileges " + nnp);
        }
    }

    @Test
    void securityFieldsTheGuestWouldIgnoreAreRefused() throws Exception {
        args("echo", "x");
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ((ObjectNode) json.get("linux")).putArray("devices").addObject().put("path", "/dev/sda").put("type", "b")
                .put("major", 8).put("minor", 0);
        Files.writeString(file, Json.mapper().writeValueAsString(json));
        Result r = capsa("--backend=vm", "run", id("devices-vm"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/linux/devices"), r.err());
    }

    /**
     * conmon's part, played by python3: a subreaper that runs create, start and kill, then waits for
     * the container's pid (state's pid, the monitor) as its adopted child and prints how it ended.
     */
    private static final String SUBREAPER = String.join("\n",
            "import ctypes, json, os, subprocess, sys, time",
            "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER",
            "capsa, cid, sig, ready = sys.argv[1:-3], sys.argv[-3], sys.argv[-2], sys.argv[-1]",
            "subprocess.run(capsa + ['--backend=vm', 'create', cid], check=True, stdin=subprocess.DEVNULL)",
            "pid = json.loads(subprocess.run(capsa + ['state', cid], check=True, capture_output=True).stdout)['pid']",
            "subprocess.run(capsa + ['start', cid], check=True)",
            "for _ in range(600):",
            "    if ready == '-' or os.path.exists(ready): break",
            "    time.sleep(0.05)",
            "if sig != '-': subprocess.run(capsa + ['kill', cid, sig], check=True)",
            "_, status = os.waitpid(pid, 0)",
            "print('signal %d' % os.WTERMSIG(status) if os.WIFSIGNALED(status)",
            "      else 'exit %d' % os.WEXITSTATUS(status))",
            "subprocess.run(capsa + ['delete', cid], check=True)");

    /** @param ready a file in the rootfs the process makes when it is ready for the signal, or "-" */
    private String waitedStatus(String id, String signal, String ready) throws Exception {
        assumeTrue(onPath("python3"), "no python3 to play conmon (a subreaper that waits for the container's pid)");
        List<String> command = new ArrayList<>(List.of("python3", "-c", SUBREAPER));
        command.addAll(List.of(LauncherIT.launcher().toString(), "--root", root.toString(), id, signal,
                ready.equals("-") ? ready : bundle.resolve("rootfs").resolve(ready).toString()));
        Path out = Files.createTempFile(tmp, "subreaper", ".txt");
        Process p = new ProcessBuilder(command).directory(bundle.toFile()).redirectErrorStream(true)
                .redirectOutput(out.toFile()).start();
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), "timed out: " + command);
        String text = Files.readString(out);
        assertEquals(0, p.exitValue(), text);
        return text.lines().filter(l -> l.startsWith("exit ") || l.startsWith("signal ")).reduce((a, b) -> b)
                .orElse(text);
    }

    @Test
    void theContainersPidEndsAsItsProcessDidSoAnEngineThatWaitsForItGetsTheExitStatus() throws Exception {
        // what conmon sees of runc's container process: its exit code, or death by the same signal
        args("sh", "-c", "exit 7");
        assertEquals("exit 7", waitedStatus(id("exit7-vm"), "-", "-"));
        args("sh", "-c", "trap 'exit 3' TERM; touch /trap-set; while true; do sleep 0.1; done");
        assertEquals("exit 3", waitedStatus(id("trap-vm"), "TERM", "trap-set"));
        args("sleep", "600");
        assertEquals("signal 15", waitedStatus(id("term-vm"), "TERM", "-"));
    }

    @Test
    void aTerminalForTheContainersProcessGoesToTheConsoleSocket() throws Exception {
        assumeTrue(onPath("python3"), "no python3 to receive the pty master");
        args("sh", "-c", "tty; stty size; test -t 0 && echo stdin-is-a-tty; read line; echo got:$line; exit 3");
        config(json -> {
            ObjectNode process = (ObjectNode) json.get("process");
            process.put("terminal", true);
            process.putObject("consoleSize").put("height", 30).put("width", 100);
        });
        String id = id("run-tty-vm");
        Path socket = tmp.resolve("console.sock");
        Process receiver = ConsoleReceiver.start(tmp, socket, "hello\n", Duration.ofSeconds(30));
        try {
            Result create = capsa("--backend=vm", "create", "--console-socket", socket.toString(), id);
            assertEquals(0, create.code(), create.err());
            assertEquals(0, capsa("start", id).code());
            String out = ConsoleReceiver.output(receiver, Duration.ofSeconds(60));
            assertTrue(out.startsWith("name=/dev/ptmx\n"), out);
            // the guest's own pty, of the spec's size, with what was typed on the master (the receiver drops \r)
            assertTrue(out.contains("/dev/pts/0\n"), out);
            assertTrue(out.contains("30 100\n"), out);
            assertTrue(out.contains("stdin-is-a-tty\n"), out);
            assertTrue(out.contains("got:hello\n"), out);
            awaitStatus(id, "stopped", 20, "the guest did not stop after its process ended");
        } finally {
            receiver.destroyForcibly();
            Result delete = capsa("delete", "--force", id);
            assertEquals(0, delete.code(), delete.err());
        }
    }

    @Test
    void stdinOfADetachedContainerIsItsCreatorsPipe() throws Exception {
        stdinOfADetachedContainer(false);
        stdinOfADetachedContainer(true);
    }

    private void stdinOfADetachedContainer(boolean closeBeforeStart) throws Exception {
        Files.deleteIfExists(bundle.resolve("rootfs/stdin.txt"));
        args("sh", "-c", "read a; read b; echo got:$a:$b > /stdin.txt; cat > /dev/null; echo eof >> /stdin.txt");
        config(json -> ((ObjectNode) json.get("root")).put("readonly", false));
        String id = id("stdin-vm-" + closeBeforeStart);
        // as conmon for podman run -i: create's stdin is a pipe, written and closed later. A FIFO: the
        // JDK closes a Process's stdin pipe when the process exits, before the test is done with it
        Path fifo = tmp.resolve("stdin-" + closeBeforeStart + ".fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        var writer = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new java.io.FileOutputStream(fifo.toFile()); // blocks until create opens it to read
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        List<String> command = List.of(LauncherIT.launcher().toString(), "--root", root.toString(), "--backend=vm",
                "create", id);
        Process create = new ProcessBuilder(command).directory(bundle.toFile()).redirectErrorStream(true)
                .redirectInput(fifo.toFile()).redirectOutput(tmp.resolve("create.txt").toFile()).start();
        var stdin = writer.get(20, TimeUnit.SECONDS);
        try {
            assertTrue(create.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, create.exitValue(), Files.readString(tmp.resolve("create.txt")));
            // podman run -i writes (and may close) before the process starts: nothing may be lost
            stdin.write("one\ntwo\n".getBytes(StandardCharsets.UTF_8));
            stdin.flush();
            if (closeBeforeStart) {
                stdin.close();
            }
            assertEquals(0, capsa("start", id).code());
            if (!closeBeforeStart) {
                stdin.write("more\n".getBytes(StandardCharsets.UTF_8));
                stdin.close(); // the end of input reaches the process
            }
            Path file = bundle.resolve("rootfs/stdin.txt");
            awaitStatus(id, "stopped", 20, "the process did not see the end of its stdin");
            assertEquals("got:one:two\neof\n", Files.readString(file));
        } finally {
            Result delete = capsa("delete", "--force", id);
            assertEquals(0, delete.code(), delete.err());
        }
    }

    @Test
    void pauseStopsTheGuestAndResumeLetsItGoOn() throws Exception {
        args("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tick; sleep 0.05; done");
        config(json -> ((ObjectNode) json.get("root")).put("readonly", false));
        String id = id("pause-vm");
        assertEquals(0, capsa("--backend=vm", "create", id).code());
        assertEquals(0, capsa("start", id).code());
        Path tick = bundle.resolve("rootfs/tick");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(tick)) {
            assertTrue(System.nanoTime() < deadline, "the loop did not start");
            Thread.sleep(50);
        }
        Result pause = capsa("pause", id);
        assertEquals(0, pause.code(), pause.err());
        assertEquals("paused", state(id).get("status").asText());
        String before = Files.readString(tick);
        Thread.sleep(500);
        assertEquals(before, Files.readString(tick), "a paused guest kept running");
        Result ps = capsa("ps", "--format", "json", id);
        assertEquals(0, ps.code(), ps.err());
        // the host processes that hold the guest: the monitor (state's pid) and QEMU
        JsonNode pids = Json.mapper().readTree(ps.out());
        assertEquals(2, pids.size(), ps.out());
        assertEquals(state(id).get("pid").asLong(), pids.get(0).asLong());
        Result resume = capsa("resume", id);
        assertEquals(0, resume.code(), resume.err());
        assertEquals("running", state(id).get("status").asText());
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (Files.readString(tick).equals(before)) {
            assertTrue(System.nanoTime() < deadline, "the loop did not go on after resume");
            Thread.sleep(50);
        }
        assertEquals(0, capsa("delete", "--force", id).code());
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
