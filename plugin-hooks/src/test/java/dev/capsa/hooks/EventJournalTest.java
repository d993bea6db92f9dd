package dev.capsa.hooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.error.NotFoundException;
import dev.capsa.spec.Json;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EventJournalTest {
    @TempDir
    Path root;

    final Clock clock = Clock.fixed(Instant.parse("2025-03-04T05:06:07.123456789Z"), ZoneOffset.UTC);

    private static OciState state(String id, String status, Long pid) {
        return new OciState("1.2.1", id, status, pid, "/b", Map.of());
    }

    private void writeRecord(String id, String backend) throws IOException {
        Files.createDirectories(root.resolve(id));
        Files.writeString(root.resolve(id).resolve("state.json"), "{\"id\":\"" + id + "\",\"backend\":\"" + backend
                + "\",\"createDone\":true,\"pid\":42,\"pidStartTime\":1}");
    }

    private static JsonNode json(String line) throws IOException {
        return Json.mapper().readTree(line);
    }

    @Test
    void eachPhaseIsOneLineReadBackInOrderAndOutlivesTheContainersDirectory() throws IOException {
        writeRecord("c1", "ns");
        EventJournal journal = new EventJournal(root, clock);
        journal.run(HookPhase.PRESTART, state("c1", "creating", 42L));
        journal.run(HookPhase.POSTSTART, state("c1", "running", 42L));
        journal.run(HookPhase.POSTSTOP, state("c1", "stopped", null));
        // delete removes <root>/<id> after poststop; the journal is elsewhere
        Files.delete(root.resolve("c1").resolve("state.json"));
        Files.delete(root.resolve("c1"));

        List<String> lines = JournalReader.lines(root, "c1");
        assertEquals(3, lines.size(), lines.toString());
        assertEquals("{\"time\":\"2025-03-04T05:06:07.123456789Z\",\"id\":\"c1\",\"backend\":\"ns\","
                + "\"phase\":\"prestart\",\"status\":\"creating\",\"pid\":42}", lines.get(0));
        assertEquals("poststart", json(lines.get(1)).get("phase").asText());
        JsonNode stop = json(lines.get(2));
        assertEquals("stopped", stop.get("status").asText());
        assertFalse(stop.has("pid"), "a stopped container has no pid");
        assertFalse(stop.has("exitStatus"), "the engine does not know it, so the journal does not say it");
        assertEquals(root.resolve(".journal").resolve("c1.jsonl"), JournalReader.file(root, "c1"));
    }

    @Test
    void withoutAStateRecordTheBackendIsLeftOut() throws IOException {
        new EventJournal(root, clock).run(HookPhase.POSTSTOP, state("gone", "stopped", null));
        assertFalse(json(JournalReader.lines(root, "gone").get(0)).has("backend"));
    }

    @Test
    void aTornLastLineIsSkipped() throws IOException {
        EventJournal journal = new EventJournal(root, clock);
        journal.run(HookPhase.PRESTART, state("c1", "creating", 7L));
        journal.run(HookPhase.POSTSTART, state("c1", "running", 7L));
        Files.writeString(JournalReader.file(root, "c1"), "{\"time\":\"2025-03-04T05:06:0", StandardOpenOption.APPEND);
        List<String> lines = JournalReader.lines(root, "c1");
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(1).contains("poststart"));
    }

    @Test
    void aTornLineCompletedByALaterAppendIsSkippedTheRestIsKept() throws IOException {
        Path file = JournalReader.file(root, "c1");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "{\"time\":\"2025-03-04T05:06:0");
        new EventJournal(root, clock).run(HookPhase.POSTSTART, state("c1", "running", 7L));
        new EventJournal(root, clock).run(HookPhase.POSTSTOP, state("c1", "stopped", null));
        List<String> lines = JournalReader.lines(root, "c1");
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("poststop"));
    }

    @Test
    void concurrentAppendsProduceWholeLines() throws Exception {
        EventJournal journal = new EventJournal(root, clock);
        int threads = 8;
        int each = 200;
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            long pid = 1000 + t;
            Thread worker = new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < each; i++) {
                    journal.run(HookPhase.POSTSTART, state("c1", "running", pid));
                }
            });
            worker.start();
            workers.add(worker);
        }
        go.countDown();
        for (Thread worker : workers) {
            worker.join();
        }
        List<String> raw = Files.readAllLines(JournalReader.file(root, "c1"));
        assertEquals(threads * each, raw.size());
        Set<Long> pids = new HashSet<>();
        for (String line : raw) {
            pids.add(json(line).get("pid").asLong()); // every line parses on its own: nothing interleaved
        }
        assertEquals(threads, pids.size());
        assertEquals(threads * each, JournalReader.lines(root, "c1").size());
    }

    @Test
    void aNewCreateReplacesTheJournalOfTheSameIdAndPrunesStaleOnes() throws IOException {
        EventJournal journal = new EventJournal(root, clock);
        journal.run(HookPhase.PRESTART, state("c1", "creating", 1L));
        journal.run(HookPhase.POSTSTOP, state("c1", "stopped", null));
        journal.run(HookPhase.POSTSTOP, state("old", "stopped", null));
        journal.run(HookPhase.POSTSTOP, state("recent", "stopped", null));
        journal.run(HookPhase.POSTSTOP, state("alive", "stopped", null));
        Files.createDirectories(root.resolve("alive"));
        FileTime longAgo = FileTime.from(clock.instant().minus(EventJournal.RETENTION).minus(Duration.ofMinutes(1)));
        Files.setLastModifiedTime(JournalReader.file(root, "old"), longAgo);
        Files.setLastModifiedTime(JournalReader.file(root, "alive"), longAgo);
        Files.setLastModifiedTime(JournalReader.file(root, "recent"), FileTime.from(clock.instant()));
        journal.run(HookPhase.PRESTART, state("c1", "creating", 2L));

        List<String> lines = JournalReader.lines(root, "c1");
        assertEquals(1, lines.size(), "the earlier container's lines are gone: " + lines);
        assertEquals(2, json(lines.get(0)).get("pid").asLong());
        assertFalse(Files.exists(JournalReader.file(root, "old")), "a deleted container's old journal is pruned");
        assertTrue(Files.exists(JournalReader.file(root, "recent")), "a recent one is kept");
        assertTrue(Files.exists(JournalReader.file(root, "alive")), "a live container's journal is kept");

        // that create swept: another one within SWEEP_EVERY does not read the folder again
        journal.run(HookPhase.POSTSTOP, state("old", "stopped", null));
        Files.setLastModifiedTime(JournalReader.file(root, "old"), longAgo);
        journal.run(HookPhase.PRESTART, state("c2", "creating", 5L));
        assertTrue(Files.exists(JournalReader.file(root, "old")), "no sweep within SWEEP_EVERY of the last one");
        Path swept = JournalReader.file(root, "c1").resolveSibling(EventJournal.SWEPT);
        Files.setLastModifiedTime(swept, FileTime.from(clock.instant().minus(EventJournal.SWEEP_EVERY)
                .minusSeconds(1)));
        journal.run(HookPhase.PRESTART, state("c3", "creating", 6L));
        assertFalse(Files.exists(JournalReader.file(root, "old")), "a sweep once SWEEP_EVERY has passed");
    }

    @Test
    void aJournalThatCannotBeWrittenIsOnlyAWarning() throws IOException {
        Files.writeString(root.resolve(".journal"), "not a directory");
        new EventJournal(root, clock).run(HookPhase.PRESTART, state("c1", "creating", 1L)); // no exception
    }

    @Test
    void noJournalIsNotFound() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> JournalReader.lines(root, "nope"));
        assertTrue(e.getMessage().contains("\"nope\""), e.getMessage());
    }
}
