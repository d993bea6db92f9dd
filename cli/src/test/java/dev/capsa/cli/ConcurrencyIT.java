package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Many capsa processes at once on one state root: distinct containers through their whole life in
 * parallel, and parallel commands on one id. Each command either succeeds or fails with one of the
 * errors a user can act on (locked, wrong state, does not exist, already exists); a state read
 * always parses or says the container does not exist; {@code list} never fails; nothing is left.
 * The figures printed ({@code concurrency: ...}) are the ones in docs/reliability.md.
 */
@Tag("integration")
class ConcurrencyIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "sleep");
    private static final Set<String> STATUSES = Set.of("creating", "created", "running", "stopped");
    private static final Map<String, String> SERVER = Map.of();
    private static final Map<String, String> OWN_JVM = Map.of("CAPSA_SERVER", "0");

    /** Error kinds seen, by kind, over the test (printed with the figures). */
    private final Map<String, AtomicInteger> kinds = new ConcurrentHashMap<>();
    /** Every container pid seen by a state command: none may be alive at the end. */
    private final Set<Long> pids = ConcurrentHashMap.newKeySet();

    ConcurrencyIT() {
        super(APPLETS, true);
    }

    @Test
    void fiftyContainersCreatedStartedKilledAndDeletedByParallelProcessesThroughTheServer() throws Exception {
        lifecycles(50, 10, SERVER, "server");
    }

    @Test
    void eightContainersInParallelWithAJvmPerCommand() throws Exception {
        lifecycles(8, 4, OWN_JVM, "jvm-per-command");
    }

    @Test
    void tenParallelCommandsOnTheSameIdGetSuccessOrAClearError() throws Exception {
        args("sleep", "60");
        String id = id("same");
        List<String[]> mix = List.of(
                new String[] {"create", id}, new String[] {"create", id},
                new String[] {"start", id}, new String[] {"start", id},
                new String[] {"kill", id, "KILL"}, new String[] {"kill", id, "KILL"},
                new String[] {"delete", id}, new String[] {"delete", "--force", id},
                new String[] {"state", id}, new String[] {"state", id});
        int rounds = 6;
        ExecutorService pool = Executors.newFixedThreadPool(mix.size());
        long began = System.nanoTime();
        int commands = 0;
        try (Lister lister = new Lister()) {
            for (int round = 0; round < rounds; round++) {
                List<String[]> order = new ArrayList<>(mix);
                Collections.shuffle(order, new java.util.Random(round));
                if (round % 2 == 1) {
                    // every other round starts from a created container, so that start, kill and
                    // delete meet one in each status rather than mostly an id that is not there yet
                    Result create = capsa(SERVER, "create", id);
                    assertEquals(0, create.code(), create.err());
                }
                List<Future<Result>> results = new ArrayList<>();
                for (String[] command : order) {
                    results.add(pool.submit(() -> capsa(SERVER, command)));
                }
                for (int i = 0; i < order.size(); i++) {
                    check(id, order.get(i), results.get(i).get(120, TimeUnit.SECONDS));
                    commands++;
                }
                // between rounds: whatever the round left reads back whole, then goes
                Result state = capsa(SERVER, "state", id);
                check(id, new String[] {"state", id}, state);
                Result delete = capsa(SERVER, "delete", "--force", id);
                assertEquals(0, delete.code(), delete.err());
                Result gone = capsa(SERVER, "state", id);
                assertEquals(1, gone.code(), gone.out());
                assertTrue(gone.err().contains("does not exist"), gone.err());
            }
            lister.assertNeverFailed();
            System.out.printf("concurrency: same id: %d rounds of %d parallel commands (%d in all) in %.1f s; "
                    + "outcomes %s; list ran %d times, never failed%n", rounds, mix.size(), commands,
                    (System.nanoTime() - began) / 1e9, new TreeMap<>(kinds), lister.runs.get());
        } finally {
            pool.shutdownNow();
        }
        assertEquals(rounds * mix.size(), commands);
        assertTrue(kinds.containsKey("ok"), "no command succeeded: " + kinds);
        assertNoProcessLeft();
    }

    /**
     * {@code n} containers, each with its own bundle and cgroup, go through create, start, kill,
     * stopped, delete on a pool of {@code parallel} threads, each step a capsa process of its own;
     * list runs in a loop all the while.
     */
    private void lifecycles(int n, int parallel, Map<String, String> env, String how) throws Exception {
        args("sleep", "60");
        List<String> ids = new ArrayList<>();
        List<Path> bundles = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(id("c" + i)); // writes this id's cgroupsPath into the shared config.json
            Path b = Files.createDirectories(tmp.resolve("b" + i));
            Files.writeString(b.resolve("config.json"), Files.readString(bundle.resolve("config.json"))
                    .replace("\"path\":\"rootfs\"", "\"path\":\"" + bundle.resolve("rootfs") + "\""));
            bundles.add(b);
        }
        ExecutorService pool = Executors.newFixedThreadPool(parallel);
        long began = System.nanoTime();
        AtomicInteger commands = new AtomicInteger();
        try (Lister lister = new Lister()) {
            List<Future<?>> lives = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String id = ids.get(i);
                Path b = bundles.get(i);
                lives.add(pool.submit(() -> {
                    ok(env, commands, "create", "--bundle", b.toString(), id);
                    ok(env, commands, "start", id);
                    JsonNode running = Json.mapper().readTree(ok(env, commands, "state", id).out());
                    assertEquals("running", running.get("status").asText(), id);
                    pids.add(running.get("pid").asLong());
                    ok(env, commands, "kill", id, "KILL");
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    String status;
                    while (!(status = Json.mapper().readTree(ok(env, commands, "state", id).out())
                            .get("status").asText()).equals("stopped")) {
                        assertTrue(System.nanoTime() < deadline, id + " is still " + status + " after SIGKILL");
                        Thread.sleep(20);
                    }
                    ok(env, commands, "delete", id);
                    return null;
                }));
            }
            for (Future<?> life : lives) {
                life.get(300, TimeUnit.SECONDS);
            }
            lister.assertNeverFailed();
            System.out.printf("concurrency: %s: %d containers, %d at a time: %d commands in %.1f s; "
                    + "list ran %d times, never failed%n", how, n, parallel, commands.get(),
                    (System.nanoTime() - began) / 1e9, lister.runs.get());
        } finally {
            pool.shutdownNow();
        }
        Result list = capsa(env, "list", "--quiet");
        assertEquals(0, list.code(), list.err());
        assertEquals("", list.out(), "every container was deleted");
        assertEquals(n, pids.size(), "each container had a process of its own");
        assertNoProcessLeft();
    }

    private Result ok(Map<String, String> env, AtomicInteger commands, String... args) throws Exception {
        Result r = capsa(env, args);
        commands.incrementAndGet();
        assertEquals(0, r.code(), String.join(" ", args) + ": " + r.err());
        return r;
    }

    /**
     * One command of a same-id round: success, or exit 1 with a message of a known kind; a state
     * that succeeds parses and names a status of runtime.md.
     */
    private void check(String id, String[] command, Result r) throws Exception {
        String verb = String.join(" ", command);
        if (r.code() == 0) {
            kinds.computeIfAbsent("ok", k -> new AtomicInteger()).incrementAndGet();
            if (command[0].equals("state")) {
                JsonNode state = Json.mapper().readTree(r.out());
                assertEquals(id, state.get("id").asText(), r.out());
                assertTrue(STATUSES.contains(state.get("status").asText()), verb + ": " + r.out());
                if (state.get("pid").asLong() > 0) {
                    pids.add(state.get("pid").asLong());
                }
            }
            return;
        }
        assertEquals(1, r.code(), verb + ": " + r.err());
        String err = r.err();
        String kind;
        if (err.contains("is locked")) {
            kind = "locked";
        } else if (err.contains("does not exist")) {
            kind = "does not exist";
        } else if (err.contains("already exists")) {
            kind = "already exists";
        } else if (err.contains("container not running") || err.matches("(?s).*: it is (creating|created|running|"
                + "stopped|paused).*") || err.contains("is creating")) {
            kind = "wrong state";
        } else {
            fail(verb + " failed with an unexpected message: " + err);
            return;
        }
        assertTrue(err.contains("\"" + id + "\""), verb + ": the message names the container: " + err);
        kinds.computeIfAbsent(command[0] + ": " + kind, k -> new AtomicInteger()).incrementAndGet();
    }

    private void assertNoProcessLeft() {
        for (long pid : pids) {
            assertFalse(alive(pid), "process " + pid + " of a deleted container is still there");
        }
    }

    private Result capsa(Map<String, String> env, String... args) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command(args)).directory(bundle.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().putAll(env);
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("timed out: " + String.join(" ", args));
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** {@code list --format json} in a loop on a thread of its own until closed; every run must succeed. */
    private final class Lister implements AutoCloseable {
        final AtomicInteger runs = new AtomicInteger();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
        private final Thread thread;

        Lister() {
            thread = new Thread(() -> {
                while (!stop.get() && failures.size() < 5) {
                    try {
                        Result r = capsa(SERVER, "list", "--format", "json");
                        runs.incrementAndGet();
                        JsonNode list = Json.mapper().readTree(r.out());
                        if (r.code() != 0 || list == null || !(list.isArray() || list.isNull())) {
                            failures.add("exit " + r.code() + ": " + r.out() + r.err());
                        } else {
                            for (JsonNode c : list) {
                                if (!STATUSES.contains(c.path("status").asText())) {
                                    failures.add("a listed container has no valid status: " + c);
                                }
                            }
                        }
                        Thread.sleep(20); // leave the two cores to the commands under test
                    } catch (InterruptedException e) {
                        return;
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            }, "capsa-list-loop");
            thread.start();
        }

        void assertNeverFailed() {
            Supplier<String> why = () -> String.join("\n", failures);
            assertEquals(List.of(), List.copyOf(failures), why);
            assertTrue(runs.get() > 0, "list never ran");
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            thread.join(TimeUnit.SECONDS.toMillis(130));
        }
    }
}
