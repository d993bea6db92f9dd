package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Capsa under podman, as a podman user meets it: each case runs once with Capsa and once with runc
 * as podman's {@code --runtime}, so the differences show side by side.
 *
 * <p>Everything podman and the runtimes keep is private to this class: podman's {@code --root},
 * {@code --runroot}, {@code --tmpdir} and network config dir live in a temp dir, containers run with
 * {@code --network none} (the default bridge would add a bridge and iptables rules to the host)
 * under their own {@code --cgroup-parent}, and each runtime is reached through a two-line wrapper
 * that only adds {@code --root DIR}. The wrapper is needed because podman does not pass its
 * {@code --runtime-flag} options to the cleanup command that conmon runs when a container exits, so
 * that command would look for the container in the default {@code /run/capsa}, and leave the state
 * and the cgroup behind. The image is a busybox rootfs imported with {@code podman import}.
 *
 * <p>Seccomp: when {@code capsa --backend=ns features} says seccomp is not enabled, Capsa's
 * containers get {@code --security-opt seccomp=unconfined} (podman's default profile would be
 * refused); runc always runs with podman's default profile. Once Capsa implements seccomp the same
 * cases run Capsa with the default profile too.
 *
 * <p>A case Capsa cannot pass yet ends in an assumption that names the missing feature and what was
 * seen ({@link #gap}); the same check still has to hold for runc, and starts to hold for Capsa
 * without an edit here once the feature lands.
 */
@Tag("integration")
class PodmanIT {
    private static final Path BUSYBOX = Path.of("/bin/busybox");
    private static final Path RUNC = Path.of("/usr/sbin/runc");
    private static final Path CGROUP = Path.of("/sys/fs/cgroup");
    private static final String IMAGE = "localhost/busybox:capsa";
    private static final List<String> APPLETS = List.of("sh", "echo", "ls", "cat", "hostname", "id", "sleep",
            "true", "false", "env", "pwd", "ps", "top", "head", "tr", "wc", "tty", "touch", "mkdir", "grep", "kill");
    private static final long TIMEOUT_SECONDS = 60;

    @TempDir
    static Path tmp;

    private static Path podman;
    private static Path vmState;
    private static String cgroupParent;
    private static boolean capsaSeccomp;

    private String runtime;

    @BeforeAll
    static void privatePodman() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")),
                "podman with a real runtime needs root; running as " + System.getProperty("user.name"));
        podman = Stream.of("/usr/bin/podman", "/usr/local/bin/podman").map(Path::of).filter(Files::isExecutable)
                .findFirst().orElse(null);
        assumeTrue(podman != null, "podman is not installed (Debian: apt-get install podman)");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/conmon")), "conmon is not installed (it comes with podman)");
        assumeTrue(Files.isExecutable(BUSYBOX), "no " + BUSYBOX + " (Debian: apt-get install busybox-static)");
        assumeTrue(Files.isDirectory(CGROUP.resolve("memory")) && Files.isDirectory(CGROUP.resolve("pids")),
                "the cgroup cases read the host's cgroup v1 memory and pids hierarchies, which this host lacks");
        Path capsa = LauncherIT.launcher().toAbsolutePath();

        Result features = LauncherIT.exec(tmp, List.of(capsa.toString(), "--backend=ns", "features"));
        assertEquals(0, features.code(), features.err());
        JsonNode seccomp = Json.mapper().readTree(features.out()).path("linux").path("seccomp");
        capsaSeccomp = seccomp.path("enabled").asBoolean(false);
        System.out.println("[PodmanIT] capsa seccomp " + (capsaSeccomp
                ? "enabled: capsa runs with podman's default profile"
                : "not enabled: capsa's containers get --security-opt seccomp=unconfined"));

        wrapper("capsa", capsa);
        if (Files.isExecutable(RUNC)) {
            wrapper("runc", RUNC);
        }
        vmWrapper(capsa);
        // podman's default ulimits raise hard limits, which needs CAP_SYS_RESOURCE; this machine's
        // bounding set lacks it, so runc fails with EPERM as well. An empty list keeps the caller's.
        Files.writeString(tmp.resolve("containers.conf"), "[containers]\ndefault_ulimits = []\n");
        cgroupParent = "/capsa-podman-it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);

        Path rootfs = tmp.resolve("rootfs");
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.createDirectories(rootfs.resolve("tmp"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxrwxrwx")));
        Files.copy(BUSYBOX, bin.resolve("busybox"));
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Path tar = tmp.resolve("busybox.tar");
        Result packed = LauncherIT.exec(tmp, List.of("tar", "-C", rootfs.toString(), "-cf", tar.toString(), "."));
        assertEquals(0, packed.code(), packed.err());
        Result imported = podman(null, List.of("import", "-q", tar.toString(), IMAGE), null);
        assertEquals(0, imported.code(), imported.err());
    }

    /** bin-NAME/NAME: podman names a runtime after the file, so the wrapper keeps the real name. */
    private static void wrapper(String name, Path binary) throws IOException {
        Path state = Files.createDirectories(tmp.resolve("state-" + name));
        Path file = Files.createDirectories(tmp.resolve("bin-" + name)).resolve(name);
        Files.writeString(file, "#!/bin/sh\nexec " + binary + " --root " + state + " \"$@\"\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /**
     * The vm backend's runtime, capsavm: capsa with a state root short enough for the sockets in
     * {@code ROOT/<64-hex id>/} (108 bytes; a @TempDir is too deep), when a guest can boot here.
     * tmp/state-capsavm links to that root, for the checks after each case.
     */
    private static void vmWrapper(Path capsa) throws Exception {
        Path guest = Path.of(System.getenv().getOrDefault("CAPSA_GUEST_DIR", "/var/lib/capsa/guest"));
        boolean qemu = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, "qemu-system-x86_64")));
        if (!qemu || !(Files.exists(guest.resolve("current/vmlinux")) || Files.exists(guest.resolve("vmlinux")))) {
            System.out.println("[PodmanIT] no qemu-system-x86_64 or no guest image in " + guest
                    + ": the vm backend's cases are skipped");
            return;
        }
        vmState = Files.createTempDirectory("cvm");
        Files.createSymbolicLink(tmp.resolve("state-capsavm"), vmState);
        Path file = Files.createDirectories(tmp.resolve("bin-capsavm")).resolve("capsavm");
        Files.writeString(file, "#!/bin/sh\nexec " + capsa + " --root " + vmState + " \"$@\"\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterAll
    static void nothingLeft() throws Exception {
        if (podman == null || tmp == null) {
            return;
        }
        if (vmState != null) {
            try (Stream<Path> s = Files.list(vmState)) {
                // .vm-accelerator, the accelerator probe's cache, is the root's own file
                assertEquals(List.of(), s.filter(p -> !p.getFileName().toString().startsWith(".")).toList(),
                        "vm state left");
            }
            try (Stream<Path> s = Files.walk(vmState)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        podman(null, List.of("rmi", "-af"), null);
        // conmon outlives podman by design; any still running for this class's root is ours
        for (long pid : conmons()) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        List<String> mounts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String point = line.split(" ")[4];
            if (point.startsWith(tmp.toString())) {
                mounts.add(point);
            }
        }
        for (String point : mounts.reversed()) {
            LauncherIT.exec(tmp, List.of("umount", "-l", point));
        }
        List<Path> cgroups = new ArrayList<>();
        try (Stream<Path> hierarchies = Files.list(CGROUP)) {
            for (Path h : hierarchies.toList()) {
                Path parent = h.resolve(cgroupParent.substring(1));
                if (Files.isDirectory(parent)) {
                    try (Stream<Path> tree = Files.walk(parent)) {
                        tree.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).forEach(d -> {
                            try {
                                Files.delete(d); // rmdir: only an empty cgroup goes
                            } catch (IOException e) {
                                cgroups.add(d);
                            }
                        });
                    }
                }
            }
        }
        assertEquals(List.of(), mounts, "mounts left under " + tmp);
        assertEquals(List.of(), cgroups, "cgroups that could not be removed");
    }

    private static List<Long> conmons() {
        return ProcessHandle.allProcesses().filter(p -> p.info().command().orElse("").endsWith("/conmon"))
                .filter(p -> String.join(" ", p.info().arguments().orElse(new String[0])).contains(tmp.toString()))
                .map(ProcessHandle::pid).toList();
    }

    @AfterEach
    void removeContainers() throws Exception {
        if (runtime == null) {
            return;
        }
        pod("rm", "-af", "-t", "0");
        pm("rm", "-af", "-t", "0");
        Path state = tmp.resolve("state-" + runtime);
        List<String> left = List.of();
        for (int i = 0; i < 50; i++) {
            try (Stream<Path> s = Files.list(state)) {
                left = s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).toList();
            }
            if (left.isEmpty()) {
                break;
            }
            Thread.sleep(100);
        }
        assertEquals(List.of(), left, runtime + " state left after podman rm -af");
        Result ps = pm("ps", "-aq");
        assertEquals("", ps.out().strip(), "podman ps -a after rm -af");
    }

    // ---- the cases --------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void runRmPrintsTheOutput(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm"), "echo", "hi");
        assertEquals(0, r.code(), r.err());
        assertEquals("hi\n", r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void runReturnsTheExitCode(String rt) throws Exception {
        use(rt);
        assertEquals(3, run(List.of("--rm"), "sh", "-c", "exit 3").code());
        assertEquals(1, run(List.of("--rm"), "false").code());
        // 128 + signal for a process killed by a signal: see killSendsTheSignal and stopSendsTermThenKill
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void stdinReachesTheProcessWithDashI(String rt) throws Exception {
        use(rt);
        Result r = podman(runtime, runArgs(List.of("--rm", "-i"), "tr", "a-z", "A-Z"), "piped\n");
        assertEquals(0, r.code(), r.err());
        assertEquals("PIPED\n", r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void detachedContainerShowsInPs(String rt) throws Exception {
        use(rt);
        String name = detached("sleep", "1000");
        Result ps = pm("ps", "--format", "{{.Names}} {{.Status}} {{.Command}}");
        assertEquals(0, ps.code(), ps.err());
        assertTrue(ps.out().lines().anyMatch(l -> l.startsWith(name + " Up ") && l.endsWith("sleep 1000")), ps.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void execRunsInTheContainer(String rt) throws Exception {
        use(rt);
        String name = detached("sh", "-c", "echo inside > /tmp/mark; sleep 1000");
        waitFor(() -> pm("exec", name, "cat", "/tmp/mark"), r -> r.out().equals("inside\n"), "the mark file");
        Result r = pm("exec", "-e", "X=1", "-w", "/tmp", name, "sh", "-c", "echo $X $(pwd) $$; exit 4");
        assertEquals(4, r.code(), r.err());
        assertTrue(r.out().startsWith("1 /tmp "), r.out());
        assertTrue(!r.out().strip().endsWith(" 1"), "exec'd process is not the init: " + r.out());
        Result tty = pm("exec", "-t", name, "tty");
        assertEquals(0, tty.code(), tty.err());
        assertTrue(tty.out().strip().startsWith("/dev/pts/"), tty.out());
    }

    /**
     * podman exec into a vm backend guest. conmon runs {@code capsa exec --detach --pid-file F} and
     * then waits for the pid in F as its child (it is a subreaper): capsa-relay, which relays
     * conmon's pipes (or a pty) to the exec'd process in the guest and exits with its code.
     */
    @org.junit.jupiter.api.Test
    void execRunsInAVmGuest() throws Exception {
        use("capsavm");
        String name = detached(List.of("--annotation", "dev.capsa.backend=vm"),
                "sh", "-c", "echo inside > /tmp/mark; exec sleep 1000");
        waitFor(() -> pm("exec", name, "cat", "/tmp/mark"), r -> r.out().equals("inside\n"), "the mark file");
        Result r = pm("exec", "-e", "X=1", "-w", "/tmp", name, "sh", "-c",
                "echo $X $(pwd); ps -o pid,args | grep -c 'sleep 100[0]'; echo to-err >&2; exit 4");
        assertEquals(4, r.code(), r.err());
        // the container's process is there: the same guest
        assertEquals("1 /tmp\n1\n", r.out());
        assertTrue(r.err().contains("to-err"), r.err());
        Result killed = pm("exec", name, "sh", "-c", "kill -9 $$");
        assertEquals(137, killed.code(), killed.err());
        Result piped = podman(runtime, List.of("exec", "-i", name, "tr", "a-z", "A-Z"), "piped\n");
        assertEquals(0, piped.code(), piped.err());
        assertEquals("PIPED\n", piped.out());
        Result tty = pm("exec", "-t", name, "sh", "-c", "tty; exit 5");
        assertEquals(5, tty.code(), tty.err());
        assertTrue(tty.out().strip().startsWith("/dev/pts/"), tty.out());
        assertEquals("running", inspect(name, "{{.State.Status}}"));
        // podman's default seccomp profile, loaded by the guest's agent, for exec'd processes too
        Result seccomp = pm("exec", name, "grep", "Seccomp:", "/proc/self/status");
        assertEquals("Seccomp:\t2", seccomp.out().strip(), seccomp.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void logsShowStdoutAndStderr(String rt) throws Exception {
        use(rt);
        String name = detached("sh", "-c", "echo to-out; echo to-err >&2; sleep 1000");
        Result logs = waitFor(() -> pm("logs", name), r -> r.out().contains("to-out") && r.err().contains("to-err"),
                "both lines in podman logs");
        assertEquals(0, logs.code(), logs.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void stopSendsTermThenKill(String rt) throws Exception {
        use(rt);
        // a process that handles SIGTERM exits at once with its own code
        String polite = detached("sh", "-c", "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done");
        // running is not enough: a slow start (a guest under TCG) may not have set the trap yet
        waitFor(() -> pm("logs", polite), r -> r.out().contains("ready"), "the trap to be set");
        long start = System.nanoTime();
        Result stop = pm("stop", "-t", "20", polite);
        assertEquals(0, stop.code(), stop.err());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "stop waited for the timeout");
        assertEquals("7", inspect(polite, "{{.State.ExitCode}}"));
        // sleep as pid 1 has no handler, so SIGTERM does nothing; podman sends SIGKILL after -t. In a
        // vm guest the container's process is not pid 1 (the agent is): SIGTERM kills it, 128 + 15
        String stubborn = detached("sleep", "1000");
        Result kill = pm("stop", "-t", "1", stubborn);
        assertEquals(0, kill.code(), kill.err());
        assertEquals(rt.equals("capsavm") ? "143" : "137", inspect(stubborn, "{{.State.ExitCode}}"));
        assertEquals("exited", inspect(stubborn, "{{.State.Status}}"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void killSendsTheSignal(String rt) throws Exception {
        use(rt);
        String name = detached("sh", "-c", "trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.1; done");
        waitFor(() -> pm("logs", name), r -> r.out().contains("ready"), "the trap to be set");
        Result usr1 = pm("kill", "-s", "USR1", name);
        assertEquals(0, usr1.code(), usr1.err());
        waitFor(() -> pm("logs", name), r -> r.out().contains("got-usr1"), "got-usr1 in the logs");
        assertEquals("running", inspect(name, "{{.State.Status}}"));
        Result kill = pm("kill", name); // podman's default: SIGKILL
        assertEquals(0, kill.code(), kill.err());
        waitFor(() -> pm("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name),
                r -> r.out().strip().equals("exited 137"), "exited 137");
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void rmRemovesStoppedAndForcesRunning(String rt) throws Exception {
        use(rt);
        String done = name();
        Result r = run(List.of("--name", done), "true");
        assertEquals(0, r.code(), r.err());
        String running = detached("sleep", "1000");
        assertEquals(0, pm("rm", done).code());
        Result refused = pm("rm", running);
        assertTrue(refused.code() != 0, "rm of a running container without -f must fail: " + refused);
        Result forced = pm("rm", "-f", "-t", "0", running);
        assertEquals(0, forced.code(), forced.err());
        assertEquals("", pm("ps", "-aq").out().strip());
        try (Stream<Path> s = Files.list(tmp.resolve("state-" + runtime))) {
            assertEquals(List.of(), s.filter(p -> !p.getFileName().toString().startsWith(".")).toList());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void ttyGivesAPseudoTerminal(String rt) throws Exception {
        use(rt);
        // -t without -i: podman allocates the pty through --console-socket; no terminal needed here
        Result r = run(List.of("--rm", "-t"), "tty");
        assertEquals(0, r.code(), r.err());
        assertEquals("/dev/pts/0", r.out().strip());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void memoryAndPidsLimitsReachTheCgroup(String rt) throws Exception {
        use(rt);
        String name = detached(List.of("--memory", "64m", "--pids-limit", "42"), "sleep", "1000");
        String id = inspect(name, "{{.Id}}");
        Path memory = CGROUP.resolve("memory" + cgroupParent + "/libpod-" + id);
        Path pids = CGROUP.resolve("pids" + cgroupParent + "/libpod-" + id);
        assertEquals("67108864", Files.readString(memory.resolve("memory.limit_in_bytes")).strip());
        assertEquals("42", Files.readString(pids.resolve("pids.max")).strip());
        Result stats = pm("stats", "--no-stream", "--format", "{{.MemUsage}}", name);
        assertEquals(0, stats.code(), stats.err());
        assertTrue(stats.out().strip().endsWith("/ 67.11MB"), stats.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void containerSeesItsOwnMemoryLimit(String rt) throws Exception {
        use(rt);
        // what cgroup-aware programs (a JVM sizing its heap, for one) read inside the container
        Result r = run(List.of("--rm", "--memory", "64m"), "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes");
        assertEquals(0, r.code(), r.err());
        // on cgroup v1 without a cgroup namespace both bind the container's own cgroup directory there
        assertEquals("67108864", r.out().strip());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void readOnlyRootWithoutTmpfs(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm", "--read-only", "--read-only-tmpfs=false"), "sh", "-c",
                "touch /x 2>&1; echo rc=$?");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Read-only file system") && r.out().contains("rc=1"), r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void readOnlyRootKeepsWritableTmp(String rt) throws Exception {
        use(rt);
        // --read-only adds tmpfs on /tmp, /var/tmp and /run with the tmpcopyup option (runc and crun
        // copy the image's content into the new tmpfs)
        Result r = run(List.of("--rm", "--read-only"), "sh", "-c", "touch /x 2>&1; touch /tmp/y && echo tmp-ok");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Read-only file system") && r.out().contains("tmp-ok"), r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void tmpfsAndBindVolumes(String rt) throws Exception {
        use(rt);
        Path data = Files.createDirectories(tmp.resolve("data-" + rt));
        Files.writeString(data.resolve("f"), "from-host\n");
        Result plain = run(List.of("--rm", "-v", data + ":/data:ro", "--tmpfs", "/scratch:notmpcopyup"), "sh", "-c",
                "cat /data/f; touch /scratch/a && echo scratch-ok; touch /data/g 2>&1; true");
        assertEquals(0, plain.code(), plain.err());
        assertTrue(plain.out().startsWith("from-host\nscratch-ok\n") && plain.out().contains("Read-only"),
                plain.out());
        // plain --tmpfs gets tmpcopyup from podman
        Result copyup = run(List.of("--rm", "--tmpfs", "/bin:exec"), "ls", "/bin/busybox");
        assertEquals(0, copyup.code(), copyup.err());
        assertEquals("/bin/busybox\n", copyup.out(), "the image's /bin was not copied into the tmpfs");
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void userEnvAndWorkdir(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm", "--user", "1000", "--env", "FOO=bar", "--workdir", "/tmp"), "sh", "-c",
                "id; echo $FOO; pwd");
        assertEquals(0, r.code(), r.err());
        assertEquals("uid=1000 gid=0 groups=0\nbar\n/tmp\n", r.out());
        Result both = run(List.of("--rm", "--user", "1000:1000"), "id");
        assertEquals("uid=1000 gid=1000 groups=1000\n", both.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void homeIsSetWhenTheImageDoesNotSetIt(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm"), "sh", "-c", "echo home=$HOME");
        assertEquals(0, r.code(), r.err());
        // runc (libcontainer setupUser) sets HOME from the container's /etc/passwd, "/" without one
        assertEquals("home=/\n", r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void pauseAndUnpause(String rt) throws Exception {
        use(rt);
        String name = detached("sh", "-c",
                "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done");
        waitForRunning(name);
        // running is not enough under a slow start (a guest under TCG): the loop must have ticked
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(rootfsFile(name, "tmp/tick"))) {
            assertTrue(System.nanoTime() < deadline, "the loop did not start");
            Thread.sleep(50);
        }
        assertEquals(0, pm("pause", name).code());
        assertEquals("paused", inspect(name, "{{.State.Status}}"));
        String tick = Files.readString(rootfsFile(name, "tmp/tick"));
        Thread.sleep(300);
        assertEquals(tick, Files.readString(rootfsFile(name, "tmp/tick")), "a paused container kept running");
        assertEquals(0, pm("unpause", name).code());
        assertEquals("running", inspect(name, "{{.State.Status}}"));
        waitFor(() -> pm("exec", name, "cat", "/tmp/tick"), t -> !t.out().equals(tick), "the loop to run again");
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void topListsTheProcesses(String rt) throws Exception {
        use(rt);
        // busybox sh execs its last command: pid 1 becomes sleep 2000
        String name = detached("sh", "-c", "sleep 1000 & sleep 2000");
        Result top = waitFor(() -> pm("top", name), r -> r.out().contains("sleep 1000"), "sleep 1000 in top");
        assertTrue(top.out().lines().findFirst().orElse("").matches("USER\\s+PID\\s+PPID.*COMMAND"), top.out());
        assertTrue(top.out().contains("sleep 2000"), top.out());
        Result pids = pm("top", name, "pid", "args");
        assertTrue(pids.out().lines().anyMatch(l -> l.matches("1\\s+sleep 2000\\s*")),
                pids.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc", "capsavm"})
    void networkNoneHasOnlyLoopback(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm", "--network", "none"), "ls", "/sys/class/net");
        assertEquals(0, r.code(), r.err());
        assertEquals("lo\n", r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void joinAnotherContainersNamespaces(String rt) throws Exception {
        use(rt);
        String first = detached(List.of("--hostname", "first"), "sleep", "1000");
        // network, ipc and uts by path (/proc/PID/ns/...): podman passes linux.namespaces[].path
        Result r = run(List.of("--rm", "--network", "container:" + first, "--uts", "container:" + first, "--ipc",
                "container:" + first), "hostname");
        assertEquals(0, r.code(), r.err());
        assertEquals("first\n", r.out());
        Result pid = run(List.of("--rm", "--pid", "container:" + first), "ps", "-o", "pid,args");
        assertEquals(0, pid.code(), pid.err());
        assertTrue(pid.out().contains("sleep 1000"), pid.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void podSharesTheInfraContainersNamespaces(String rt) throws Exception {
        use(rt);
        String pod = name();
        List<String> create = new ArrayList<>(List.of("create", "--name", pod, "--network", "none", "--cgroup-parent",
                cgroupParent));
        create.addAll(seccomp()); // the infra container's profile
        Result created = pod(create.toArray(String[]::new));
        assertEquals(0, created.code(), created.err());
        List<String> run = new ArrayList<>(List.of("run", "--rm", "--pod", pod));
        run.addAll(seccomp());
        run.addAll(List.of(IMAGE, "hostname"));
        Result r = podman(runtime, run, null);
        assertEquals(0, r.code(), r.err());
        assertEquals(pod + "\n", r.out());
        assertEquals("Running", pod("ps", "--filter", "name=" + pod, "--format", "{{.Status}}").out().strip());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void annotationReachesTheRuntime(String rt) throws Exception {
        use(rt);
        // podman --annotation lands in config.json: the way to pick Capsa's backend per container
        String name = detached(List.of("--annotation", "dev.capsa.backend=ns"), "sleep", "1000");
        Result state = LauncherIT.exec(tmp, List.of(tmp.resolve("bin-" + rt).resolve(rt).toString(), "state",
                inspect(name, "{{.Id}}")));
        assertEquals(0, state.code(), state.err());
        assertEquals("ns", Json.mapper().readTree(state.out()).path("annotations").path("dev.capsa.backend").asText(),
                state.out());
        if (rt.equals("capsa")) {
            Result unknown = run(List.of("--rm", "--annotation", "dev.capsa.backend=nope"), "true");
            assertEquals(126, unknown.code(), unknown.err());
            assertTrue(unknown.err().contains("capsa: no backend named \"nope\""), unknown.err());
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private void use(String rt) {
        assumeTrue(podman != null, "podman setup did not run");
        assumeTrue(Files.isExecutable(tmp.resolve("bin-" + rt).resolve(rt)), rt + " is not installed");
        runtime = rt;
    }

    /**
     * A difference Capsa has today: the check must hold for runc; for Capsa it ends the case with an
     * assumption naming the missing feature, so it is reported as skipped, never passed.
     */
    private void gap(boolean holds, String missing, String seen) {
        if (holds) {
            return;
        }
        if (runtime.equals("capsa")) {
            assumeTrue(false, "known gap in capsa: " + missing + "; saw: " + seen);
        }
        fail(runtime + ": " + seen);
    }

    /**
     * Empty unless Capsa has no seccomp yet: then podman's default profile would be refused. capsavm:
     * the annotation that picks the vm backend; the guest's agent loads podman's default profile.
     */
    private List<String> seccomp() {
        if (runtime.equals("capsavm")) {
            return List.of("--annotation", "dev.capsa.backend=vm");
        }
        return runtime.equals("capsa") && !capsaSeccomp ? List.of("--security-opt", "seccomp=unconfined") : List.of();
    }

    private static String name() {
        return "it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);
    }

    private List<String> runArgs(List<String> options, String... command) {
        List<String> args = new ArrayList<>(List.of("run", "--cgroup-parent", cgroupParent));
        args.addAll(seccomp());
        if (!options.contains("--network")) {
            args.addAll(List.of("--network", "none"));
        }
        args.addAll(options);
        args.add(IMAGE);
        args.addAll(List.of(command));
        return args;
    }

    private Result run(List<String> options, String... command) throws Exception {
        return podman(runtime, runArgs(options, command), null);
    }

    private String detached(String... command) throws Exception {
        return detached(List.of(), command);
    }

    private String detached(List<String> options, String... command) throws Exception {
        String name = name();
        List<String> all = new ArrayList<>(List.of("-d", "--name", name));
        all.addAll(options);
        Result r = run(all, command);
        assertEquals(0, r.code(), r.err());
        return name;
    }

    private Result pm(String... args) throws Exception {
        return podman(runtime, List.of(args), null);
    }

    private Result pod(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("pod"));
        all.addAll(List.of(args));
        return podman(runtime, all, null);
    }

    private String inspect(String name, String format) throws Exception {
        Result r = pm("inspect", "--format", format, name);
        assertEquals(0, r.code(), r.err());
        return r.out().strip();
    }

    private void waitForRunning(String name) throws Exception {
        waitFor(() -> pm("inspect", "--format", "{{.State.Status}}", name), r -> r.out().strip().equals("running"),
                name + " running");
    }

    /** A file of the container's rootfs as the host sees it (overlay merged dir). */
    private Path rootfsFile(String name, String file) throws Exception {
        return Path.of(inspect(name, "{{.GraphDriver.Data.MergedDir}}")).resolve(file);
    }

    private static Result waitFor(EngineDaemon.Call call, Predicate<Result> done, String what) throws Exception {
        return EngineDaemon.waitFor(call, done, what, Duration.ofSeconds(15));
    }

    /** podman with this class's private storage, and {@code --runtime} when rt is given. */
    private static Result podman(String rt, List<String> args, String stdin) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(podman.toString(),
                "--root", tmp.resolve("storage").toString(),
                "--runroot", tmp.resolve("run").toString(),
                "--tmpdir", tmp.resolve("libpod").toString(),
                "--network-config-dir", tmp.resolve("networks").toString(),
                "--cgroup-manager", "cgroupfs",
                "--events-backend", "file"));
        if (rt != null) {
            command.addAll(List.of("--runtime", tmp.resolve("bin-" + rt).resolve(rt).toString()));
        }
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(tmp.toFile());
        pb.environment().put("CONTAINERS_CONF", tmp.resolve("containers.conf").toString());
        pb.environment().remove("CAPSA_PLUGINS");
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("podman timed out after " + TIMEOUT_SECONDS + " s: " + command);
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
