package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.cli.LauncherIT.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * bin/capsa, the client, and the capsa server behind it (docs/server.md), as root with busybox
 * containers: commands run in the warm server, each with its own stdio and environment; the
 * opt-outs run a JVM of their own; a server that was killed is replaced; and what an engine
 * relies on still holds: a detached container's init is not the server's child, and signals
 * to a foreground run reach the container.
 */
@Tag("integration")
class ServerIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "sleep", "true", "env");

    ServerIT() {
        super(APPLETS, true);
    }

    private Result capsa(Map<String, String> env, String... args) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command(args)).directory(bundle.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().putAll(env);
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError("timed out: " + String.join(" ", args));
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    private static long serverPid(Result version) {
        for (String line : version.out().lines().toList()) {
            if (line.startsWith("server: pid ")) {
                return Long.parseLong(line.substring("server: pid ".length()));
            }
        }
        return -1;
    }

    /**
     * A server that ends before it says it took the request (one that was dying when the client
     * connected) never ran the command: the client asks again, three times, then runs it in a JVM
     * of its own. Here a stand-in that closes every connection unanswered holds the socket's name.
     */
    @Test
    void aServerThatEndsBeforeTakingTheRequestIsAskedAgainThenTheCommandRunsOnItsOwn() throws Exception {
        long server = serverPid(capsa("--version"));
        assertTrue(server > 0);
        String cmdline = Files.readString(Path.of("/proc/" + server + "/cmdline")).replace('\0', ' ').strip();
        Path socket = Path.of(cmdline.substring(cmdline.lastIndexOf(' ') + 1));
        Path aside = socket.resolveSibling(socket.getFileName() + ".aside");
        Files.move(socket, aside);
        java.util.concurrent.atomic.AtomicInteger taken = new java.util.concurrent.atomic.AtomicInteger();
        try (var standIn = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            standIn.bind(java.net.UnixDomainSocketAddress.of(socket));
            Thread closer = Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (true) {
                        var connection = standIn.accept();
                        taken.incrementAndGet();
                        connection.close();
                    }
                } catch (java.io.IOException e) {
                    // closed at the end of the test
                }
            });
            Result r = capsa("--version");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("server: no (a JVM of its own)"), r.out());
            assertEquals(3, taken.get(), "asked three times");
        } finally {
            Files.deleteIfExists(socket);
            Files.move(aside, socket);
        }
        assertEquals(server, serverPid(capsa("--version")), "the real server serves again");
    }

    @Test
    void commandsRunInTheWarmServerAndTheOptOutsInAJvmOfTheirOwn() throws Exception {
        long first = serverPid(capsa("--version"));
        assertTrue(first > 0, "a root command goes to the server");
        assertEquals(first, serverPid(capsa("--version")), "the same warm server serves the next one");
        for (Map<String, String> optOut : List.of(Map.of("CAPSA_SERVER", "0"),
                Map.of("CAPSA_JAVA_OPTS", "-Dcapsa.it=1"))) {
            Result direct = capsa(optOut, "--version");
            assertEquals(0, direct.code(), direct.err());
            assertTrue(direct.out().contains("server: no (a JVM of its own)"), optOut + ": " + direct.out());
        }
    }

    @Test
    void parallelCommandsEachGetTheirOwnOutputEnvironmentAndExitCode() throws Exception {
        args("sh", "-c", "echo out-$0; echo err-$0 >&2; exit $1", "x", "0");
        int n = 8;
        List<String> ids = new ArrayList<>();
        // each container says its own id and exits with its own code; its config names both (and
        // its own cgroup, which id() writes into the shared config.json)
        List<Path> bundles = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(id("par" + i));
            Path b = Files.createDirectories(tmp.resolve("b" + i));
            String json = Files.readString(bundle.resolve("config.json"))
                    .replace("\"x\",\"0\"", "\"" + ids.get(i) + "\",\"" + (i % 5) + "\"");
            Files.writeString(b.resolve("config.json"), json.replace("\"path\":\"rootfs\"",
                    "\"path\":\"" + bundle.resolve("rootfs") + "\""));
            bundles.add(b);
        }
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<Result>> results = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int k = i;
                Map<String, String> env = new HashMap<>();
                env.put("CAPSA_IT_MARK", "m" + k);
                results.add(pool.submit(() -> capsa(env, "run", "--bundle", bundles.get(k).toString(), ids.get(k))));
            }
            for (int i = 0; i < n; i++) {
                Result r = results.get(i).get(120, TimeUnit.SECONDS);
                assertEquals(i % 5, r.code(), ids.get(i) + ": " + r.err());
                assertEquals("out-" + ids.get(i) + "\n", r.out(), "stdout goes to the client that asked");
                assertEquals("err-" + ids.get(i) + "\n", r.err(), "stderr too");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aDetachedContainersInitIsNotTheServersChildAndSignalsReachAForegroundRun() throws Exception {
        long server = serverPid(capsa("--version"));
        args("sleep", "60");
        Result run = capsa("run", "--detach", id("detached"));
        assertEquals(0, run.code(), run.err());
        long pid = state("detached").get("pid").asLong();
        String status = Files.readString(Path.of("/proc/" + pid + "/status"));
        String ppid = status.lines().filter(l -> l.startsWith("PPid:")).findFirst().orElseThrow().split("\\s+")[1];
        assertNotEquals(Long.toString(server), ppid, "the init must descend from the caller, not the server");

        // a foreground run: SIGTERM to the client reaches the container, whose exit code comes back
        args("sh", "-c", "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.1; done");
        ProcessBuilder pb = new ProcessBuilder(command("run", id("fg"))).directory(bundle.toFile());
        Path out = Files.createTempFile(tmp, "fg", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        for (int i = 0; i < 200 && !Files.readString(out).contains("ready"); i++) {
            Thread.sleep(50);
        }
        assertTrue(Files.readString(out).contains("ready"), Files.readString(out));
        new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(3, p.exitValue());
        assertEquals("ready\ngot-term\n", Files.readString(out));
    }

    @Test
    void aClientInAnotherMountNamespaceGetsAServerOfItsOwn() throws Exception {
        long here = serverPid(capsa("--version"));
        // unshare(1) runs the client in a new mount namespace: paths may differ there, so the
        // server that serves it must live in that namespace too
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private"));
        cmd.addAll(command("--version"));
        Result there = LauncherIT.exec(bundle, cmd);
        assertEquals(0, there.code(), there.err());
        long other = serverPid(there);
        assertTrue(here > 0 && other > 0, there.out());
        assertNotEquals(here, other, "one server per mount namespace");
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/" + here + "/ns/mnt")),
                Files.readSymbolicLink(Path.of("/proc/" + other + "/ns/mnt")));
        assertEquals(here, serverPid(capsa("--version")), "this namespace's server is still the same");
    }

    @Test
    void aServerEndedBySigtermLeavesNothingInItsDirectory() throws Exception {
        long server = serverPid(capsa("--version"));
        assertTrue(server > 0);
        String cwd = Files.readSymbolicLink(Path.of("/proc/" + server + "/cwd")).toString();
        assertEquals("/", cwd, "the client starts the server in /, not in a directory it would pin");
        List<Path> mine;
        try (var files = Files.list(Path.of("/run/capsa-server"))) {
            mine = files.filter(f -> {
                try {
                    return Files.readString(f.resolveSibling(f.getFileName().toString().replaceAll("\\.(sock|lock)$",
                            ".log"))).contains("capsa server " + server + ":");
                } catch (Exception e) {
                    return false;
                }
            }).toList();
        }
        assertEquals(3, mine.size(), "its socket, lock and log: " + mine);
        new ProcessBuilder("kill", "-TERM", Long.toString(server)).start().waitFor();
        for (int i = 0; i < 200 && ProcessHandle.of(server).map(ProcessHandle::isAlive).orElse(false); i++) {
            Thread.sleep(20);
        }
        for (Path f : mine) {
            assertTrue(Files.notExists(f), f + " is left");
        }
    }

    @Test
    void aKilledServerIsReplacedByTheNextCommand() throws Exception {
        long server = serverPid(capsa("--version"));
        assertTrue(server > 0);
        // this test's own server, started for it by the command above, ended by its pid
        new ProcessBuilder("kill", "-KILL", Long.toString(server)).start().waitFor();
        for (int i = 0; i < 100 && ProcessHandle.of(server).map(ProcessHandle::isAlive).orElse(false); i++) {
            Thread.sleep(20);
        }
        Result again = capsa("--version");
        assertEquals(0, again.code(), again.err());
        long next = serverPid(again);
        assertTrue(next > 0 && next != server, again.out());
        args("echo", "still here");
        Result run = capsa("run", id("after"));
        assertEquals(0, run.code(), run.err());
        assertEquals("still here\n", run.out());
    }
}
