package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
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
 * Capsa under Docker: a private {@code dockerd} with Capsa registered as a runtime in its
 * {@code daemon.json} ({@code "runtimes": {"capsa": {"path": ...}}}) and with {@code --add-runtime},
 * and each case run with {@code docker run --runtime capsa} and with {@code --runtime runc}, side by
 * side.
 *
 * <p>The daemon is private to this class: its data root, exec root (with the containerd it starts
 * and the runtimes' state), pid file and API socket live in a temp dir, it makes no bridge and no
 * iptables rules ({@code "bridge": "none"}, {@code "iptables": false}, containers run with
 * {@code --network none}), and its containers' cgroups sit under a random {@code cgroup-parent}. It
 * runs in a mount namespace of its own where a temp dir is bound over {@code /etc/docker}, because
 * dockerd 20.10 writes its identity key to {@code /etc/docker/key.json} whatever its flags say. When
 * the daemon cannot start on a machine, the suite is skipped with the daemon's own last log lines.
 */
@Tag("integration")
class DockerIT {
    private static final String IMAGE = "localhost/busybox:capsa";
    private static final Duration LIMIT = Duration.ofSeconds(60);
    private static final Path DOCKERD = Path.of("/usr/sbin/dockerd");

    @TempDir
    static Path tmp;

    private static EngineDaemon daemon;
    private static Path docker;
    private static Map<String, String> env;
    private static String cgroupParent;

    private String runtime;

    @BeforeAll
    static void privateDockerd() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")),
                "dockerd needs root; running as " + System.getProperty("user.name"));
        assumeTrue(Files.isExecutable(DOCKERD), "no " + DOCKERD + " (Debian: apt-get install docker.io)");
        docker = Stream.of("/usr/bin/docker", "/usr/local/bin/docker").map(Path::of).filter(Files::isExecutable)
                .findFirst().orElse(null);
        assumeTrue(docker != null, "no docker client (Debian: apt-get install docker.io)");
        assumeTrue(Files.isDirectory(Path.of("/etc/docker")),
                "no /etc/docker to bind a private directory over (dockerd writes /etc/docker/key.json)");
        assumeTrue(Files.isExecutable(EngineDaemon.BUSYBOX),
                "no " + EngineDaemon.BUSYBOX + " (Debian: apt-get install busybox-static)");
        Path capsa = LauncherIT.launcher().toAbsolutePath();
        cgroupParent = "capsa-docker-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);

        // what docs/engines.md tells a Docker user to put in daemon.json
        ObjectNode config = Json.mapper().createObjectNode();
        config.putObject("runtimes").putObject("capsa").put("path", capsa.toString());
        config.putArray("exec-opts").add("native.cgroupdriver=cgroupfs");
        // the host stays untouched: no docker0 bridge, no iptables rules
        config.put("bridge", "none").put("iptables", false).put("ip-masq", false);
        config.put("cgroup-parent", "/" + cgroupParent);
        Path daemonJson = tmp.resolve("daemon.json");
        Json.mapper().writeValue(daemonJson.toFile(), config);
        Path etc = Files.createDirectories(tmp.resolve("etc-docker"));
        Path socket = tmp.resolve("docker.sock");
        Path log = tmp.resolve("dockerd.log");
        daemon = EngineDaemon.start("DockerIT", tmp, List.of(DOCKERD.toString(),
                "--config-file", daemonJson.toString(),
                "--data-root", tmp.resolve("data").toString(),
                "--exec-root", tmp.resolve("exec").toString(),
                "--pidfile", tmp.resolve("docker.pid").toString(),
                "--host", "unix://" + socket,
                "--add-runtime", "capsa-flag=" + capsa),
                Map.of(etc, Path.of("/etc/docker")), socket, log, Duration.ofSeconds(60));
        assumeTrue(daemon != null, "dockerd cannot start on this machine; its log ends:\n"
                + EngineDaemon.lastLog(log, 15));
        env = Map.of("DOCKER_HOST", "unix://" + socket, "DOCKER_CONFIG",
                Files.createDirectories(tmp.resolve("client")).toString());
        // the socket exists a moment before the API answers
        waitFor(() -> dk("version", "--format", "{{.Server.Version}}"), r -> r.code() == 0, "dockerd to answer");
        Result loaded = dk("load", "-i", EngineDaemon.busyboxImage(tmp, IMAGE, List.of("sh")).toString());
        assertEquals(0, loaded.code(), loaded.err());
    }

    @AfterAll
    static void stopTheDaemon() throws Exception {
        if (daemon == null) {
            return;
        }
        try {
            dk("rmi", "-f", IMAGE);
        } finally {
            daemon.stop();
        }
        assertEquals(List.of(), daemon.leftovers(), "processes left after dockerd stopped");
        assertEquals(List.of(), EngineDaemon.removeCgroups(cgroupParent), "cgroups that could not be removed");
        assertEquals(List.of(), EngineDaemon.mountsUnder(tmp), "mounts under " + tmp + " in the host's table");
    }

    @AfterEach
    void removeContainers() throws Exception {
        if (runtime == null) {
            return;
        }
        List<String> ids = dk("ps", "-aq").out().lines().filter(l -> !l.isBlank()).toList();
        if (!ids.isEmpty()) {
            List<String> rm = new ArrayList<>(List.of("rm", "-f"));
            rm.addAll(ids);
            Result r = dk(rm.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
        }
        assertEquals("", dk("ps", "-aq").out().strip(), "docker ps -a after rm -f");
        assertEquals(List.of(), state(), "runtime state left after docker rm -f");
    }

    // ---- the cases --------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void runRmPrintsTheOutput(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm"), "echo", "hi");
        assertEquals(0, r.code(), r.err());
        assertEquals("hi\n", r.out());
        if (rt.equals("capsa")) {
            // the same binary registered with --add-runtime instead of daemon.json
            Result flag = dk("run", "--rm", "--runtime", "capsa-flag", "--network", "none", IMAGE, "echo", "flag");
            assertEquals(0, flag.code(), flag.err());
            assertEquals("flag\n", flag.out());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void runReturnsTheExitCode(String rt) throws Exception {
        use(rt);
        assertEquals(3, run(List.of("--rm"), "sh", "-c", "exit 3").code());
        Result missing = run(List.of("--rm"), "/nonexistent");
        // Docker's own code for a command that cannot be found, and the runtime's error on stderr
        assertEquals(127, missing.code(), missing.err());
        assertTrue(missing.err().contains("exec: \"/nonexistent\""), missing.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void detachedContainerShowsInPsAndExecRunsInIt(String rt) throws Exception {
        use(rt);
        String name = detached(List.of(), "sleep", "1000");
        Result ps = dk("ps", "--format", "{{.Names}} {{.Status}}");
        assertTrue(ps.out().lines().anyMatch(l -> l.startsWith(name + " Up ")), ps.out());
        Result exec = dk("exec", "-e", "X=1", "-w", "/tmp", name, "sh", "-c", "echo $X $(pwd) $$; exit 4");
        assertEquals(4, exec.code(), exec.err());
        assertTrue(exec.out().startsWith("1 /tmp "), exec.out());
        assertNotEquals("1", exec.out().strip().split(" ")[2], "the exec'd process is not the init: " + exec.out());
        Result tty = dk("exec", "-t", name, "tty");
        assertEquals(0, tty.code(), tty.err());
        assertTrue(tty.out().strip().startsWith("/dev/pts/"), tty.out());
        Result top = dk("top", name);
        assertTrue(top.out().contains("sleep 1000"), top.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void stopSendsTermThenKill(String rt) throws Exception {
        use(rt);
        String polite = detached(List.of(), "sh", "-c",
                "trap 'exit 7' TERM; touch /tmp/ready; while true; do sleep 0.1; done");
        waitFor(() -> dk("exec", polite, "cat", "/tmp/ready"), r -> r.code() == 0, "the trap to be set");
        Result stop = dk("stop", "-t", "20", polite);
        assertEquals(0, stop.code(), stop.err());
        assertEquals("7", inspect(polite, "{{.State.ExitCode}}"));
        // sleep as pid 1 ignores SIGTERM: docker sends SIGKILL after -t
        String stubborn = detached(List.of(), "sleep", "1000");
        Result kill = dk("stop", "-t", "1", stubborn);
        assertEquals(0, kill.code(), kill.err());
        assertEquals("137", inspect(stubborn, "{{.State.ExitCode}}"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void pauseAndUnpause(String rt) throws Exception {
        use(rt);
        String name = detached(List.of(), "sleep", "1000");
        assertEquals(0, dk("pause", name).code());
        assertEquals("paused", inspect(name, "{{.State.Status}}"));
        Path freezer = cgroup("freezer", name).resolve("freezer.state");
        if (Files.exists(freezer)) {
            assertEquals("FROZEN", Files.readString(freezer).strip());
        }
        assertEquals(0, dk("unpause", name).code());
        assertEquals("running", inspect(name, "{{.State.Status}}"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void memoryLimitStatsAndUpdate(String rt) throws Exception {
        use(rt);
        String name = detached(List.of("--memory", "64m"), "sleep", "1000");
        Path limit = cgroup("memory", name).resolve("memory.limit_in_bytes");
        assumeTrue(Files.exists(limit), "no cgroup v1 memory hierarchy: this case reads " + limit);
        assertEquals("67108864", Files.readString(limit).strip());
        // docker stats: the shim's metrics, from the runtime's events --stats
        Result stats = dk("stats", "--no-stream", "--format", "{{.MemUsage}}", name);
        assertEquals(0, stats.code(), stats.err());
        assertTrue(stats.out().strip().endsWith("/ 64MiB"), stats.out());
        // docker update: the runtime's update --resources -
        Result update = dk("update", "--memory", "128m", "--memory-swap", "256m", name);
        assertEquals(0, update.code(), update.err());
        assertEquals("134217728", Files.readString(limit).strip());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void rmRefusesARunningContainerUnlessForced(String rt) throws Exception {
        use(rt);
        String name = detached(List.of(), "sleep", "1000");
        Result refused = dk("rm", name);
        assertNotEquals(0, refused.code());
        assertTrue(refused.err().contains("You cannot remove a running container"), refused.err());
        Result forced = dk("rm", "-f", name);
        assertEquals(0, forced.code(), forced.err());
        assertEquals("", dk("ps", "-aq").out().strip());
        assertEquals(List.of(), state(), "runtime state after docker rm -f");
    }

    // ---- helpers ----------------------------------------------------------------------------

    private void use(String rt) {
        assumeTrue(daemon != null, "dockerd setup did not run");
        runtime = rt;
    }

    private static Result dk(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(docker.toString()));
        command.addAll(List.of(args));
        return EngineDaemon.exec(tmp, command, env, LIMIT);
    }

    private Result run(List<String> options, String... command) throws Exception {
        List<String> args = new ArrayList<>(List.of("run", "--runtime", runtime, "--network", "none"));
        args.addAll(options);
        args.add(IMAGE);
        args.addAll(List.of(command));
        return dk(args.toArray(String[]::new));
    }

    private String detached(List<String> options, String... command) throws Exception {
        String name = "it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);
        List<String> all = new ArrayList<>(List.of("-d", "--name", name));
        all.addAll(options);
        Result r = run(all, command);
        assertEquals(0, r.code(), r.err());
        return name;
    }

    private String inspect(String name, String format) throws Exception {
        Result r = dk("inspect", "--format", format, name);
        assertEquals(0, r.code(), r.err());
        return r.out().strip();
    }

    private Path cgroup(String controller, String name) throws Exception {
        return EngineDaemon.CGROUP.resolve(controller).resolve(cgroupParent).resolve(inspect(name, "{{.Id}}"));
    }

    /** Container state dirs the runtimes keep under dockerd's exec root (dot files are Capsa's journal). */
    private static List<String> state() throws Exception {
        List<String> left = List.of();
        for (int i = 0; i < 50; i++) {
            List<String> now = new ArrayList<>();
            try (Stream<Path> roots = Files.list(tmp.resolve("exec"))) {
                for (Path root : roots.filter(p -> p.getFileName().toString().startsWith("runtime-")).toList()) {
                    Path moby = root.resolve("moby");
                    if (Files.isDirectory(moby)) {
                        try (Stream<Path> s = Files.list(moby)) {
                            s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).forEach(now::add);
                        }
                    }
                }
            }
            left = now;
            if (left.isEmpty()) {
                break;
            }
            Thread.sleep(100);
        }
        return left;
    }

    private static Result waitFor(EngineDaemon.Call call, Predicate<Result> done, String what) throws Exception {
        return EngineDaemon.waitFor(call, done, what, Duration.ofSeconds(20));
    }
}
