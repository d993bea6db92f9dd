package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the integration tests that run the built launcher on a busybox bundle share: the bundle in
 * a {@code @TempDir} (busybox in rootfs/bin, the class's applets, {@code capsa spec}), a state
 * root, config.json edits, and the check after each test that nothing is left behind: no state,
 * no mount under the test's directory, no cgroup of the test (each subclass may check more).
 */
abstract class BusyboxBundle {
    static final Path BUSYBOX = Path.of("/bin/busybox");

    @TempDir
    Path tmp;

    Path root;
    Path bundle;
    /** Each container's cgroup is /PREFIX-ID (set by {@link #id}) when this is not null. */
    final String cgroupPrefix;
    private final List<String> applets;
    private final List<String> ids = new ArrayList<>();

    /**
     * @param applets the busybox applets linked in rootfs/bin
     * @param cgroupPerId whether {@link #id} gives each container the cgroup /capsa-it-RANDOM-ID
     */
    BusyboxBundle(List<String> applets, boolean cgroupPerId) {
        this.applets = applets;
        this.cgroupPrefix = cgroupPerId
                ? "capsa-it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE) + "-"
                : null;
    }

    static void assumeRoot(String backend) {
        assumeTrue("root".equals(System.getProperty("user.name")), "the " + backend + " backend needs root; running as "
                + System.getProperty("user.name"));
    }

    static void assumeBusybox() {
        assumeTrue(Files.isExecutable(BUSYBOX), "no " + BUSYBOX + " (Debian: apt-get install busybox-static)");
    }

    /** The host's prerequisites, checked before the bundle is made: root and busybox for the ns backend. */
    void assumeHost() {
        assumeRoot("ns");
        assumeBusybox();
    }

    /**
     * The runtime binary the cases run: capsa's launcher here; a subclass that runs the same cases
     * against runc returns runc, so that the two can be compared case by case.
     */
    Path runtime() {
        return LauncherIT.launcher();
    }

    /** The state root given to every capsa call. */
    Path stateRoot() {
        return tmp.resolve("root");
    }

    @BeforeEach
    final void makeBundle() throws Exception {
        assumeHost();
        LauncherIT.launcher();
        root = stateRoot();
        bundle = Files.createDirectories(tmp.resolve("bundle"));
        Path bin = Files.createDirectories(bundle.resolve("rootfs/bin"));
        Files.copy(BUSYBOX, bin.resolve("busybox"));
        for (String applet : applets) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Result spec = LauncherIT.exec(bundle, List.of(LauncherIT.launcher().toString(), "spec"));
        assertEquals(0, spec.code(), spec.err());
    }

    @AfterEach
    final void nothingLeft() throws Exception {
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
        assertNothingElseLeft();
    }

    /**
     * After the containers are deleted and the state root is checked: no mount under the test's
     * directory and no cgroup with {@link #cgroupPrefix} in any cgroup hierarchy.
     */
    void assertNothingElseLeft() throws Exception {
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        assertFalse(mounts.contains(tmp.toString()), "a mount under " + tmp + " is left on the host:\n" + mounts);
        for (String line : mounts.lines().toList()) {
            String[] halves = line.split(" - ", 2);
            Path point = Path.of(halves[0].split(" ")[4]);
            if (halves.length == 2 && halves[1].startsWith("cgroup") && point.startsWith("/sys/fs/cgroup")) {
                try (Stream<Path> left = Files.list(point)) {
                    assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith(cgroupPrefix))
                            .toList(), "cgroups left in " + point);
                }
            }
        }
    }

    /**
     * A container id for this test, deleted after it. With a {@link #cgroupPrefix}, its cgroup is
     * /capsa-it-RANDOM-ID (set in config.json here), so that no test touches a cgroup it did not
     * make, and two containers never share one.
     */
    String id(String name) throws IOException {
        ids.add(name);
        if (cgroupPrefix != null) {
            Path file = bundle.resolve("config.json");
            ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
            ((ObjectNode) json.get("linux")).put("cgroupsPath", "/" + cgroupPrefix + name);
            Files.writeString(file, Json.mapper().writeValueAsString(json));
        }
        return name;
    }

    /** Edits config.json, with process.terminal false. */
    void config(Consumer<ObjectNode> edit) throws IOException {
        Path file = bundle.resolve("config.json");
        ObjectNode json = (ObjectNode) Json.mapper().readTree(file.toFile());
        ((ObjectNode) json.get("process")).put("terminal", false);
        edit.accept(json);
        Files.writeString(file, Json.mapper().writeValueAsString(json));
    }

    void args(String... args) throws IOException {
        config(json -> {
            ArrayNode a = ((ObjectNode) json.get("process")).putArray("args");
            for (String arg : args) {
                a.add(arg);
            }
        });
    }

    /** The launcher's command line with {@code --root} and {@code args}. */
    List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of(runtime().toString(), "--root", root.toString()));
        command.addAll(List.of(args));
        return command;
    }

    Result capsa(String... args) throws Exception {
        return LauncherIT.exec(bundle, command(args));
    }

    JsonNode state(String id) throws Exception {
        Result r = capsa("state", id);
        assertEquals(0, r.code(), r.err());
        return Json.mapper().readTree(r.out());
    }

    /** Live processes whose command line has {@code program} and mentions this test's directories. */
    List<String> processes(String program) throws IOException {
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

    /** Waits until `state` says {@code status}, failing with {@code why} after {@code seconds}. */
    void awaitStatus(String id, String status, long seconds, String why) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(seconds);
        while (!state(id).get("status").asText().equals(status)) {
            assertTrue(System.nanoTime() < deadline, why);
            Thread.sleep(50);
        }
    }

    /** The state letter in /proc/PID/stat, or "gone". */
    static String procState(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch (IOException e) {
            return "gone";
        }
    }

    static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
                && !procState(pid).equals("Z");
    }
}
