package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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
 * Capsa under containerd, as a {@code ctr} user meets it: a private containerd daemon runs each
 * case through its runc v2 shim ({@code io.containerd.runc.v2}) with {@code --runc-binary} set to
 * Capsa's launcher, and the same case with runc, side by side.
 *
 * <p>The daemon is private to this class: its root, state, gRPC and ttrpc sockets live in a temp
 * dir, the CRI plugin and the snapshotters this machine cannot use are disabled, and it runs in a
 * mount namespace of its own ({@link EngineDaemon}), so the rootfs mounts of its shims never reach
 * the host. Each runtime keeps its state under {@code --runc-root DIR} in the same temp dir, and the
 * containers' cgroups sit under {@code /NAMESPACE/ID}, where NAMESPACE is this run's random
 * containerd namespace. The image is a docker archive built from the host's busybox and imported
 * with {@code ctr images import}. Every command is bounded in time; the daemon is stopped by its
 * pid after the class, left-over shims are killed by pid, and the cgroups are removed.
 *
 * <p>The same daemon runs its CRI plugin with two runtime entries (handlers) in its config.toml,
 * {@code capsa} and {@code runc}, each {@code io.containerd.runc.v2} with {@code BinaryName}, a
 * private {@code Root} and {@code pod_annotations = ["dev.capsa.backend"]}, as docs/engines.md gives
 * them. A pod goes through them as the kubelet drives it (RunPodSandbox, CreateContainer, ...),
 * spoken by {@code cri-client.py} (python3-grpcio), because Debian 12 packages no crictl. The pods
 * use the host's network (no CNI) and a cgroup parent under this run's namespace.
 */
@Tag("integration")
class ContainerdIT {
    private static final String IMAGE = "localhost/busybox:capsa";
    private static final String PAUSE = "localhost/pause:capsa";
    private static final String CRI_NAMESPACE = "k8s.io";
    private static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    static Path tmp;

    private static EngineDaemon daemon;
    /** python3 and cri-client.py, or null with the reason in {@link #criMissing}. */
    private static List<String> criClient;
    private static String criMissing;
    private final List<String> sandboxes = new ArrayList<>();
    private static Path socket;
    private static String namespace;
    private static Path capsa;

    private String runtime;

    @BeforeAll
    static void privateContainerd() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")),
                "containerd with a real runtime needs root; running as " + System.getProperty("user.name"));
        for (String bin : List.of("/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2")) {
            assumeTrue(Files.isExecutable(Path.of(bin)), "no " + bin + " (Debian: apt-get install containerd)");
        }
        assumeTrue(Files.isExecutable(EngineDaemon.BUSYBOX),
                "no " + EngineDaemon.BUSYBOX + " (Debian: apt-get install busybox-static)");
        capsa = LauncherIT.launcher().toAbsolutePath();
        namespace = "capsa-ctd-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);

        socket = tmp.resolve("containerd.sock");
        Path config = tmp.resolve("config.toml");
        // the runtime entries are the ones docs/engines.md gives, plus a private Root
        Files.writeString(config, """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                # snapshotters that need devices or filesystems this machine does not have
                disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
                  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

                [grpc]
                  address = "%1$s/containerd.sock"

                [ttrpc]
                  address = "%1$s/containerd.sock.ttrpc"

                [debug]
                  address = "%1$s/debug.sock"
                  level = "info"

                [plugins."io.containerd.internal.v1.opt"]
                  path = "%1$s/opt"

                [plugins."io.containerd.grpc.v1.cri"]
                  sandbox_image = "%2$s"
                  disable_apparmor = true
                  # the sandbox's oom_score_adj of -998 needs CAP_SYS_RESOURCE, which this machine lacks
                  restrict_oom_score_adj = true
                  stream_server_address = "127.0.0.1"
                  stream_server_port = "0"

                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = "%1$s/cni/bin"
                    conf_dir = "%1$s/cni/conf"

                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.capsa]
                    runtime_type = "io.containerd.runc.v2"
                    pod_annotations = ["dev.capsa.backend"]

                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.capsa.options]
                      BinaryName = "%3$s"
                      Root = "%1$s/cri-root-capsa"
                      SystemdCgroup = false

                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                    runtime_type = "io.containerd.runc.v2"
                    pod_annotations = ["dev.capsa.backend"]

                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                      BinaryName = "%4$s"
                      Root = "%1$s/cri-root-runc"
                      SystemdCgroup = false
                """.formatted(tmp, PAUSE, capsa, EngineDaemon.RUNC));
        Path log = tmp.resolve("containerd.log");
        daemon = EngineDaemon.start("ContainerdIT", tmp, List.of("/usr/bin/containerd", "--config", config.toString()),
                Map.of(), socket, log, Duration.ofSeconds(30));
        if (daemon == null) {
            fail("the private containerd did not start:\n" + EngineDaemon.lastLog(log, 20));
        }
        Path image = EngineDaemon.busyboxImage(tmp, IMAGE, List.of("sh"));
        Result imported = ctr("images", "import", image.toString());
        assertEquals(0, imported.code(), imported.err());
        // CRI keeps its images in the k8s.io namespace; its pod sandbox ("pause") image only has to
        // stay up, which busybox's sleep does
        for (Path archive : List.of(image, EngineDaemon.busyboxImage(tmp, PAUSE, List.of("sleep", "2147483647")))) {
            Result cri = ctrIn(CRI_NAMESPACE, "images", "import", archive.toString());
            assertEquals(0, cri.code(), cri.err());
        }
        for (String rt : List.of("capsa", "runc")) {
            Files.createDirectories(tmp.resolve("runc-root-" + rt));
        }
        criClient();
    }

    /** No crictl is packaged for Debian 12: the CRI cases speak CRI through a small python3-grpcio client. */
    private static void criClient() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        if (!Files.isExecutable(python)) {
            criMissing = "no /usr/bin/python3 for the CRI client";
            return;
        }
        Result grpc = EngineDaemon.exec(tmp, List.of(python.toString(), "-c", "import grpc"), Map.of(), LIMIT);
        if (grpc.code() != 0) {
            criMissing = "python3 has no grpc module for the CRI client (Debian: apt-get install python3-grpcio): "
                    + grpc.err().strip();
            return;
        }
        Path script = tmp.resolve("cri-client.py");
        try (InputStream in = ContainerdIT.class.getResourceAsStream("cri-client.py")) {
            Files.copy(in, script);
        }
        criClient = List.of(python.toString(), script.toString());
        JsonNode version = criCall("version", Json.mapper().createObjectNode());
        assertEquals("containerd", version.path("runtimeName").asText(), version.toString());
    }

    @AfterAll
    static void stopTheDaemon() throws Exception {
        if (daemon == null) {
            return;
        }
        try {
            ctr("images", "rm", IMAGE);
            ctrIn(CRI_NAMESPACE, "images", "rm", IMAGE, PAUSE);
        } finally {
            daemon.stop();
        }
        assertEquals(List.of(), daemon.leftovers(), "processes left after the daemon stopped");
        assertEquals(List.of(), EngineDaemon.removeCgroups(namespace), "cgroups that could not be removed");
        assertEquals(List.of(), EngineDaemon.mountsUnder(tmp), "mounts under " + tmp + " in the host's table");
    }

    @AfterEach
    void removeContainers() throws Exception {
        if (runtime == null) {
            return;
        }
        for (String sandbox : sandboxes) { // a CRI case that failed half-way
            ObjectNode sb = Json.mapper().createObjectNode().put("id", sandbox);
            criCall("stopPodSandbox", sb);
            criCall("removePodSandbox", sb);
        }
        for (String id : ctr("tasks", "ls", "-q").out().lines().filter(l -> !l.isBlank()).toList()) {
            ctr("tasks", "kill", "-a", "-s", "SIGKILL", id);
            waitFor(() -> ctr("tasks", "delete", id), r -> r.code() == 0 || r.err().contains("not found"),
                    "task " + id + " deleted");
        }
        for (String id : ctr("containers", "ls", "-q").out().lines().filter(l -> !l.isBlank()).toList()) {
            Result rm = ctr("containers", "rm", id);
            assertEquals(0, rm.code(), rm.err());
        }
        assertEquals("", ctr("snapshots", "ls").out().lines().skip(1).filter(l -> l.contains("Active"))
                .reduce("", String::concat), "active snapshots left");
        assertEquals(List.of(), state(), runtime + " state left after the tasks and containers were deleted");
        assertEquals(List.of(), left(criRoot()), runtime + " state left by CRI");
    }

    // ---- the cases --------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void runRmPrintsTheOutput(String rt) throws Exception {
        use(rt);
        Result r = run(List.of("--rm"), id(), "echo", "hi");
        assertEquals(0, r.code(), r.err());
        assertEquals("hi\n", r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void runReturnsTheExitCode(String rt) throws Exception {
        use(rt);
        assertEquals(3, run(List.of("--rm"), id(), "sh", "-c", "exit 3").code());
        assertEquals(1, run(List.of("--rm"), id(), "false").code());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void ttyGivesAPseudoTerminal(String rt) throws Exception {
        use(rt);
        Path script = Path.of("/usr/bin/script");
        assumeTrue(Files.isExecutable(script), "no /usr/bin/script (util-linux) to give ctr -t a terminal");
        // ctr -t puts its own stdin in raw mode, so it needs a terminal: script(1) gives it one.
        // The runtime gets the pty through --console-socket.
        String command = String.join(" ", ctrCommand()) + " run -t --rm --runc-binary " + binary() + " --runc-root "
                + tmp.resolve("runc-root-" + runtime) + " " + IMAGE + " " + id() + " tty";
        Result r = EngineDaemon.exec(tmp, List.of(script.toString(), "-qec", command, "/dev/null"), Map.of(), LIMIT);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("/dev/pts/0"), r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void detachedTaskExecAndPs(String rt) throws Exception {
        use(rt);
        String id = detached(List.of(), "sh", "-c", "sleep 1000 & sleep 2000");
        long pid = taskPid(id);
        assertEquals("RUNNING", taskStatus(id));
        Result exec = ctr("tasks", "exec", "--exec-id", "e1", "--cwd", "/tmp", id, "sh", "-c",
                "echo in $(pwd) $$; exit 5");
        assertEquals(5, exec.code(), exec.err());
        assertTrue(exec.out().startsWith("in /tmp "), exec.out());
        assertNotEquals("1", exec.out().strip().split(" ")[2], "the exec'd process is not the init: " + exec.out());
        // task ps: runc ps --format json, pids as the host sees them
        Result ps = waitFor(() -> ctr("tasks", "ps", id), r -> r.out().lines().count() >= 3,
                "two processes in task ps");
        assertEquals(0, ps.code(), ps.err());
        assertTrue(ps.out().lines().anyMatch(l -> l.startsWith(pid + " ")), ps.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void pauseAndResume(String rt) throws Exception {
        use(rt);
        String id = detached(List.of(), "sleep", "1000");
        Path freezer = EngineDaemon.CGROUP.resolve("freezer").resolve(namespace).resolve(id).resolve("freezer.state");
        Result pause = ctr("tasks", "pause", id);
        assertEquals(0, pause.code(), pause.err());
        assertEquals("PAUSED", taskStatus(id));
        if (Files.exists(freezer)) {
            assertEquals("FROZEN", Files.readString(freezer).strip());
        }
        Result resume = ctr("tasks", "resume", id);
        assertEquals(0, resume.code(), resume.err());
        assertEquals("RUNNING", taskStatus(id));
        if (Files.exists(freezer)) {
            assertEquals("THAWED", Files.readString(freezer).strip());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void killSendsTheSignalAndDeleteReportsTheExit(String rt) throws Exception {
        use(rt);
        String id = detached(List.of(), "sh", "-c",
                "trap 'exit 7' TERM; touch /tmp/ready; while true; do sleep 0.1; done");
        waitFor(() -> ctr("tasks", "exec", "--exec-id", "r", id, "cat", "/tmp/ready"), r -> r.code() == 0,
                "the trap to be set");
        Result kill = ctr("tasks", "kill", id); // SIGTERM
        assertEquals(0, kill.code(), kill.err());
        waitFor(() -> ctr("tasks", "ls"), r -> statusOf(r, id).equals("STOPPED"), id + " stopped");
        Result delete = ctr("tasks", "delete", id);
        assertEquals(0, delete.code(), delete.err());
        assertTrue(delete.err().contains("exit code 7"), delete.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void killAllStopsEveryProcess(String rt) throws Exception {
        use(rt);
        String id = detached(List.of(), "sh", "-c", "sleep 1000 & sleep 2000");
        waitFor(() -> ctr("tasks", "ps", id), r -> r.out().lines().count() >= 3, "two processes in task ps");
        Result kill = ctr("tasks", "kill", "--all", "-s", "SIGKILL", id);
        assertEquals(0, kill.code(), kill.err());
        waitFor(() -> ctr("tasks", "ls"), r -> statusOf(r, id).equals("STOPPED"), id + " stopped");
        Result delete = ctr("tasks", "delete", id);
        assertEquals(0, delete.code(), delete.err());
        assertTrue(delete.err().contains("exit code 137"), delete.err());
        Path procs = EngineDaemon.CGROUP.resolve("pids").resolve(namespace).resolve(id).resolve("cgroup.procs");
        assertTrue(!Files.exists(procs) || Files.readString(procs).isBlank(), "processes left in " + procs);
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void deleteRefusesARunningTaskUnlessForced(String rt) throws Exception {
        use(rt);
        String id = detached(List.of(), "sleep", "1000");
        Result refused = ctr("tasks", "delete", id);
        assertNotEquals(0, refused.code());
        assertTrue(refused.err().contains("must be stopped"), refused.err());
        Result forced = ctr("tasks", "delete", "--force", id);
        assertEquals(0, forced.code(), forced.err());
        Result rm = ctr("containers", "rm", id);
        assertEquals(0, rm.code(), rm.err());
        assertEquals(List.of(), state(), "runtime state after task delete --force");
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void metricsComeFromEventsStats(String rt) throws Exception {
        use(rt);
        String id = detached(List.of("--memory-limit", "67108864"), "sleep", "1000");
        Path limit = EngineDaemon.CGROUP.resolve("memory").resolve(namespace).resolve(id)
                .resolve("memory.limit_in_bytes");
        assumeTrue(Files.exists(limit), "no cgroup v1 memory hierarchy: the metrics checks read " + limit);
        assertEquals("67108864", Files.readString(limit).strip());
        // the shim reads runc events --stats (cgroup v1 here) and hands containerd its metrics
        Result m = ctr("tasks", "metrics", "--format", "json", id);
        assertEquals(0, m.code(), m.err());
        JsonNode metrics = Json.mapper().readTree(m.out());
        assertEquals(67108864L, metrics.path("memory").path("usage").path("limit").asLong(), m.out());
        assertTrue(metrics.path("memory").path("usage").path("usage").asLong() > 0, m.out());
        assertEquals(1, metrics.path("pids").path("current").asLong(), m.out());
        assertTrue(metrics.path("cpu").path("usage").path("total").asLong() > 0, m.out());
        assertTrue(metrics.path("cpu").path("usage").path("per_cpu").size() > 0, m.out());
        Result table = ctr("tasks", "metrics", id);
        assertEquals(0, table.code(), table.err());
        assertTrue(table.out().lines().anyMatch(l -> l.matches("memory\\.limit_in_bytes\\s+67108864\\s*")),
                table.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void aMissingExecutableIsReportedClearly(String rt) throws Exception {
        use(rt);
        // the runtime's --log (json) line is what the shim hands back; the user reads it from ctr
        Result r = run(List.of("--rm"), id(), "/nonexistent");
        assertNotEquals(0, r.code());
        String err = r.err().toLowerCase(Locale.ROOT);
        assertTrue(err.contains("exec: \"/nonexistent\"") && err.contains("no such file or directory"), r.err());
        String id = detached(List.of(), "sleep", "1000");
        Result exec = ctr("tasks", "exec", "--exec-id", "e1", id, "/nope");
        assertNotEquals(0, exec.code());
        String execErr = exec.err().toLowerCase(Locale.ROOT);
        assertTrue(execErr.contains("exec: \"/nope\"") && execErr.contains("no such file or directory"), exec.err());
        Result cwd = ctr("tasks", "exec", "--exec-id", "e2", "--cwd", "/nodir", id, "true");
        assertNotEquals(0, cwd.code());
        assertTrue(cwd.err().contains("/nodir") && cwd.err().toLowerCase(Locale.ROOT).contains("no such file"),
                cwd.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"capsa", "runc"})
    void criPodThroughTheRuntimeEntry(String rt) throws Exception {
        use(rt);
        assumeTrue(criClient != null, criMissing);
        // what the kubelet asks for a pod with runtimeClassName: capsa (handler capsa) and one container
        String name = id();
        ObjectNode pod = Json.mapper().createObjectNode().put("name", name).put("uid", name)
                .put("logDir", Files.createDirectories(tmp.resolve("pod-logs").resolve(name)).toString())
                .put("cgroupParent", "/" + namespace + "/cri").put("handler", rt);
        pod.putObject("annotations").put("dev.capsa.backend", "ns");
        String sandbox = cri("runPodSandbox", pod).path("id").asText();
        sandboxes.add(sandbox);
        // pod_annotations: the pod's annotation is in the sandbox's config.json, as the runtime sees it
        Result state = EngineDaemon.exec(tmp, List.of(binary(), "--root", criRoot().toString(), "state", sandbox),
                Map.of(), LIMIT);
        assertEquals(0, state.code(), state.err());
        assertEquals("ns", Json.mapper().readTree(state.out()).path("annotations").path("dev.capsa.backend").asText(),
                state.out());

        ObjectNode container = pod.deepCopy().put("sandbox", sandbox).put("container", "c1").put("image", IMAGE);
        container.putArray("command").add("sleep").add("1000");
        String id = cri("createContainer", container).path("id").asText();
        ObjectNode ref = Json.mapper().createObjectNode().put("id", id);
        cri("startContainer", ref);
        assertEquals("CONTAINER_RUNNING", cri("containerStatus", ref).path("state").asText());
        ObjectNode exec = ref.deepCopy();
        exec.putArray("cmd").add("sh").add("-c").add("echo hi; exit 3");
        JsonNode ran = cri("execSync", exec);
        assertEquals("hi\n", ran.path("stdout").asText(), ran.toString());
        assertEquals(3, ran.path("exitCode").asInt(), ran.toString());
        ObjectNode nope = ref.deepCopy();
        nope.putArray("cmd").add("/nope");
        String error = criCall("execSync", nope).path("error").asText();
        assertTrue(error.contains("exec: \"/nope\"") && error.toLowerCase(Locale.ROOT).contains("no such file"), error);
        JsonNode stats = cri("containerStats", ref); // the shim's metrics: the runtime's events --stats
        assertTrue(stats.path("cpuNanos").asLong() > 0 && stats.path("workingSetBytes").asLong() > 0, stats.toString());

        // the pod's containers share its pid namespace, so sleep is not an init and SIGTERM ends it;
        // the shim then sends kill --all to the stopped container, for what is left in its cgroup
        cri("stopContainer", ref.deepCopy().put("timeout", 10));
        JsonNode stopped = cri("containerStatus", ref);
        assertEquals("CONTAINER_EXITED", stopped.path("state").asText(), stopped.toString());
        assertEquals(143, stopped.path("exitCode").asInt(), stopped.toString());
        cri("removeContainer", ref);
        ObjectNode sb = Json.mapper().createObjectNode().put("id", sandbox);
        cri("stopPodSandbox", sb);
        cri("removePodSandbox", sb);
        sandboxes.remove(sandbox);
        assertEquals(List.of(), left(criRoot()), rt + " state left after the pod was removed");
    }

    // ---- helpers ----------------------------------------------------------------------------

    private Path criRoot() {
        return tmp.resolve("cri-root-" + runtime).resolve(CRI_NAMESPACE);
    }

    /** A CRI call that must succeed. */
    private static JsonNode cri(String call, JsonNode args) throws Exception {
        JsonNode answer = criCall(call, args);
        assertTrue(!answer.has("error"), "CRI " + call + ": " + answer);
        return answer;
    }

    /** A CRI call through cri-client.py: its answer, or {"error": ...} as containerd gave it. */
    private static JsonNode criCall(String call, JsonNode args) throws Exception {
        Result r = EngineDaemon.exec(tmp, List.of(criClient.get(0), criClient.get(1), socket.toString(), call,
                Json.mapper().writeValueAsString(args)), Map.of(), LIMIT);
        assertTrue(r.out().startsWith("{"), "cri-client.py " + call + ": " + r.out() + r.err());
        return Json.mapper().readTree(r.out());
    }

    private void use(String rt) {
        assumeTrue(daemon != null, "the private containerd did not start");
        assumeTrue(rt.equals("capsa") || Files.isExecutable(EngineDaemon.RUNC), "runc is not installed");
        runtime = rt;
    }

    private String binary() {
        return runtime.equals("capsa") ? capsa.toString() : EngineDaemon.RUNC.toString();
    }

    private static String id() {
        return "it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);
    }

    private static List<String> ctrCommand() {
        return List.of("/usr/bin/ctr", "--address", socket.toString(), "--namespace", namespace);
    }

    private static Result ctr(String... args) throws Exception {
        return ctrIn(namespace, args);
    }

    private static Result ctrIn(String ns, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("/usr/bin/ctr", "--address", socket.toString(), "--namespace",
                ns));
        command.addAll(List.of(args));
        return EngineDaemon.exec(tmp, command, Map.of(), LIMIT);
    }

    /** ctr run through the runc v2 shim with this case's runtime binary and a private runtime root. */
    private Result run(List<String> options, String id, String... command) throws Exception {
        List<String> args = new ArrayList<>(List.of("run", "--runtime", "io.containerd.runc.v2", "--runc-binary",
                binary(), "--runc-root", tmp.resolve("runc-root-" + runtime).toString()));
        args.addAll(options);
        args.add(IMAGE);
        args.add(id);
        args.addAll(List.of(command));
        return ctr(args.toArray(String[]::new));
    }

    private String detached(List<String> options, String... command) throws Exception {
        String id = id();
        List<String> all = new ArrayList<>(List.of("-d"));
        all.addAll(options);
        Result r = run(all, id, command);
        assertEquals(0, r.code(), r.err());
        return id;
    }

    private long taskPid(String id) throws Exception {
        Result ls = ctr("tasks", "ls");
        return ls.out().lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length == 3 && f[0].equals(id))
                .mapToLong(f -> Long.parseLong(f[1])).findFirst().orElseThrow(() -> new AssertionError(ls.out()));
    }

    private String taskStatus(String id) throws Exception {
        return statusOf(ctr("tasks", "ls"), id);
    }

    private static String statusOf(Result ls, String id) {
        return ls.out().lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length == 3 && f[0].equals(id))
                .map(f -> f[2]).findFirst().orElse("(not listed)");
    }

    /** What the runtime keeps under its root for this namespace (dot files are Capsa's journal). */
    private List<String> state() throws Exception {
        return left(tmp.resolve("runc-root-" + runtime).resolve(namespace));
    }

    private static List<String> left(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<String> left = List.of();
        for (int i = 0; i < 50; i++) {
            try (Stream<Path> s = Files.list(dir)) {
                left = s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).toList();
            }
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
