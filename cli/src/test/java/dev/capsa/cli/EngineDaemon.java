package dev.capsa.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A private engine daemon (containerd, dockerd) for the engine suites: started in a mount namespace
 * of its own ({@code unshare --mount --propagation private}), so the rootfs mounts it and its shims
 * make never reach the host's table and go away with the last process that uses them, and stopped
 * by its pid. Also what those suites share: a busybox image as a docker archive, commands bounded
 * in time, and the removal of processes and cgroups the suite left.
 */
final class EngineDaemon {
    static final Path BUSYBOX = Path.of("/bin/busybox");
    static final Path RUNC = Path.of("/usr/sbin/runc");
    static final Path CGROUP = Path.of("/sys/fs/cgroup");
    static final List<String> APPLETS = List.of("sh", "echo", "ls", "cat", "hostname", "id", "sleep", "true", "false",
            "env", "pwd", "ps", "tty", "touch", "kill");

    private final String name;
    private final Path tmp;
    private final Process process;
    private final Path log;

    private EngineDaemon(String name, Path tmp, Process process, Path log) {
        this.name = name;
        this.tmp = tmp;
        this.process = process;
        this.log = log;
    }

    /**
     * Starts {@code command} in a new private mount namespace, after binding each {@code binds}
     * source (key) over its target (value), and waits until {@code socket} exists.
     *
     * @return the daemon, or null when it exited or did not make its socket in time; then
     *     {@link #lastLog} of the file at {@code log} says why
     */
    static EngineDaemon start(String name, Path tmp, List<String> command, Map<Path, Path> binds, Path socket,
            Path log, Duration patience) throws IOException, InterruptedException {
        StringBuilder script = new StringBuilder("set -e\n");
        binds.forEach((from, to) -> script.append("mount --bind '").append(from).append("' '").append(to)
                .append("'\n"));
        script.append("exec \"$@\"\n");
        List<String> all = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                script.toString(), name));
        all.addAll(command);
        Process p = new ProcessBuilder(all).directory(tmp.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        EngineDaemon daemon = new EngineDaemon(name, tmp, p, log);
        for (long end = System.nanoTime() + patience.toNanos(); System.nanoTime() < end; ) {
            if (Files.exists(socket)) {
                return daemon;
            }
            if (!p.isAlive()) {
                return null;
            }
            Thread.sleep(50);
        }
        daemon.stop();
        return null;
    }

    long pid() {
        return process.pid();
    }

    /** The daemon's own last lines: what a skipped or failed suite reports. */
    static String lastLog(Path log, int lines) {
        try {
            List<String> all = Files.readAllLines(log);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /**
     * SIGTERM to the daemon by its pid, SIGKILL after 15 s; then every process still running whose
     * command line names this suite's temp dir (shims, a containerd that dockerd started) is killed
     * by pid. Shims outlive their daemon by design.
     */
    void stop() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        for (ProcessHandle left : leftovers()) {
            System.out.println("[" + name + "] killing left-over " + left.pid() + " "
                    + left.info().commandLine().orElse("?"));
            left.destroyForcibly();
        }
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5); System.nanoTime() < end
                && !leftovers().isEmpty(); ) {
            Thread.sleep(50);
        }
    }

    /** Processes whose command line names this suite's temp dir, other than this JVM. */
    List<ProcessHandle> leftovers() {
        String mark = tmp.toString();
        long self = ProcessHandle.current().pid();
        return ProcessHandle.allProcesses().filter(p -> p.pid() != self).filter(p -> {
            try {
                return Files.readString(Path.of("/proc/" + p.pid() + "/cmdline")).contains(mark);
            } catch (IOException e) {
                return false;
            }
        }).toList();
    }

    Path log() {
        return log;
    }

    /** A command with its output, bounded in time: a hung engine fails the case, never the build. */
    static Result exec(Path cwd, List<String> command, Map<String, String> env, Duration limit)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().putAll(env);
        Path out = Files.createTempFile(cwd, "out", ".txt");
        Path err = Files.createTempFile(cwd, "err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            if (!p.waitFor(limit.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("timed out after " + limit.toSeconds() + " s: " + String.join(" ", command)
                        + "\nstdout: " + Files.readString(out) + "\nstderr: " + Files.readString(err));
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /**
     * A docker archive (what {@code docker save} writes, and both {@code docker load} and
     * {@code ctr images import} read) of one layer: the host's static busybox in /bin with its
     * applet links, an empty /etc, and /tmp with mode 1777; {@code cmd} is the image's default
     * command. The files go to a new directory under {@code parent}.
     */
    static Path busyboxImage(Path parent, String reference, List<String> cmd) throws IOException,
            InterruptedException {
        Path dir = Files.createDirectories(parent.resolve("image-" + reference.replaceAll("[^a-zA-Z0-9]", "-")));
        Path rootfs = dir.resolve("rootfs");
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("etc"));
        Path tmpDir = Files.createDirectories(rootfs.resolve("tmp"));
        Files.copy(BUSYBOX, bin.resolve("busybox"));
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Path archive = Files.createDirectories(dir.resolve("archive"));
        Path layer = dir.resolve("layer.tar");
        mustRun(List.of("chmod", "1777", tmpDir.toString()), dir); // Java cannot set the sticky bit
        mustRun(List.of("tar", "--numeric-owner", "--owner=0", "--group=0", "-C", rootfs.toString(), "-cf",
                layer.toString(), "."), dir);
        String layerDigest = sha256(layer);
        Path layerDir = Files.createDirectories(archive.resolve(layerDigest));
        Files.move(layer, layerDir.resolve("layer.tar"));

        ObjectNode config = Json.mapper().createObjectNode();
        config.put("architecture", "amd64").put("os", "linux");
        ObjectNode run = config.putObject("config");
        run.putArray("Env").add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        cmd.forEach(run.putArray("Cmd")::add);
        ObjectNode rootfsNode = config.putObject("rootfs").put("type", "layers");
        rootfsNode.putArray("diff_ids").add("sha256:" + layerDigest);
        byte[] configBytes = Json.mapper().writeValueAsBytes(config);
        String configName = HexFormat.of().formatHex(digest(configBytes)) + ".json";
        Files.write(archive.resolve(configName), configBytes);

        ArrayNode manifest = Json.mapper().createArrayNode();
        ObjectNode entry = manifest.addObject().put("Config", configName);
        entry.putArray("RepoTags").add(reference);
        entry.putArray("Layers").add(layerDigest + "/layer.tar");
        Files.write(archive.resolve("manifest.json"), Json.mapper().writeValueAsBytes(manifest));

        Path image = dir.resolve("image.tar");
        mustRun(List.of("tar", "-C", archive.toString(), "-cf", image.toString(), "."), dir);
        return image;
    }

    private static void mustRun(List<String> command, Path cwd) throws IOException, InterruptedException {
        Result r = exec(cwd, command, Map.of(), Duration.ofSeconds(60));
        if (r.code() != 0) {
            throw new IOException(String.join(" ", command) + ": " + r.err());
        }
    }

    private static String sha256(Path file) throws IOException {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static byte[] digest(byte[] bytes) {
        return sha256().digest(bytes);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Removes the cgroup {@code /name} and everything below it from every hierarchy (rmdir: only
     * empty cgroups go), and returns the ones that would not go.
     */
    static List<Path> removeCgroups(String name) throws IOException {
        List<Path> stuck = new ArrayList<>();
        List<Path> hierarchies = new ArrayList<>();
        try (Stream<Path> s = Files.list(CGROUP)) {
            hierarchies.addAll(s.toList());
        }
        hierarchies.add(CGROUP); // a pure cgroup v2 host
        for (Path h : hierarchies) {
            Path top = h.resolve(name);
            if (!Files.isDirectory(top)) {
                continue;
            }
            List<Path> dirs;
            try (Stream<Path> tree = Files.walk(top)) {
                dirs = tree.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList();
            }
            for (Path d : dirs) {
                boolean gone = false;
                for (int i = 0; i < 20 && !gone; i++) { // a cgroup whose last task is exiting is busy for a moment
                    try {
                        Files.delete(d);
                        gone = true;
                    } catch (IOException e) {
                        try {
                            Thread.sleep(50);
                        } catch (InterruptedException ie) {
                            Thread.currentThread().interrupt();
                            break;
                        }
                    }
                }
                if (!gone) {
                    stuck.add(d);
                }
            }
        }
        return stuck;
    }

    /** Mount points under {@code dir} in this (the host's) mount namespace. */
    /** A command an engine suite repeats until its result is what the case waits for. */
    interface Call {
        Result call() throws Exception;
    }

    /** Repeats {@code call} every 100 ms until {@code done}, at most {@code limit}; the last result otherwise fails the case. */
    static Result waitFor(Call call, java.util.function.Predicate<Result> done, String what, Duration limit)
            throws Exception {
        Result last = null;
        for (long end = System.nanoTime() + limit.toNanos(); System.nanoTime() < end; ) {
            last = call.call();
            if (done.test(last)) {
                return last;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out waiting for " + what + "; last: " + last);
    }

    static List<String> mountsUnder(Path dir) throws IOException {
        List<String> mounts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String point = line.split(" ")[4];
            if (point.startsWith(dir.toString())) {
                mounts.add(point);
            }
        }
        return mounts;
    }
}
