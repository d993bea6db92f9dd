package dev.capsa.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.AlreadyExistsException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.LockedException;
import dev.capsa.error.NotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileStateStoreTest {
    @TempDir
    Path tmp;

    private FileStateStore store() {
        return new FileStateStore(tmp.resolve("root"), Duration.ofMillis(100));
    }

    private static ContainerRecord record(String id) {
        return new ContainerRecord(id, "ns", "/b", "/b/rootfs", "2026-11-23T00:00:00Z", "root", true, 42, 99,
                Map.of("a", "b"), Map.of("k", "v"));
    }

    @Test
    void writesAtomicallyAndReadsBack() throws IOException {
        FileStateStore s = store();
        try (ContainerLock lock = s.createAndLock("c1")) {
            s.write(lock, record("c1"));
            s.write(lock, record("c1").withData("k2", "v2"));
        }
        ContainerRecord back = s.read("c1").orElseThrow();
        assertEquals(record("c1").withData("k2", "v2"), back);
        try (var files = Files.list(s.dir("c1"))) {
            assertEquals(List.of("lock", "state.json"), files.map(p -> p.getFileName().toString()).sorted().toList(), "no temp file is left");
        }
    }

    @Test
    void idsAreSortedAndSkipWhatIsNotAContainer() throws IOException {
        FileStateStore s = store();
        for (String id : List.of("b", "a", "c")) {
            s.createAndLock(id).close();
        }
        Files.writeString(s.root().resolve(".probes.json"), "{}");
        Files.createDirectories(s.root().resolve(".hidden"));
        assertEquals(List.of("a", "b", "c"), s.ids());
    }

    @Test
    void anIdIsTakenOnce() {
        FileStateStore s = store();
        s.createAndLock("c1").close();
        assertThrows(AlreadyExistsException.class, () -> s.createAndLock("c1"));
    }

    @Test
    void lockingAMissingContainerIsNotFound() {
        assertThrows(NotFoundException.class, () -> store().lock("nope"));
        assertThrows(NotFoundException.class, () -> store().read("nope"));
    }

    @Test
    void aHeldLockMakesOthersWaitThenFail() {
        FileStateStore s = store();
        try (ContainerLock held = s.createAndLock("c1")) {
            assertTrue(held.held());
            LockedException e = assertThrows(LockedException.class, () -> s.lock("c1"));
            assertTrue(e.getMessage().contains("waited 100 ms"), e.getMessage());
        }
        try (ContainerLock again = s.lock("c1")) {
            assertTrue(again.held());
        }
    }

    @Test
    void removeDeletesEverythingAndAWaiterThenSeesNotFound() throws Exception {
        FileStateStore s = new FileStateStore(tmp.resolve("root"), Duration.ofSeconds(5));
        ContainerLock lock = s.createAndLock("c1");
        s.write(lock, record("c1"));
        Files.createDirectories(s.dir("c1").resolve("sub/deeper"));
        Files.writeString(s.dir("c1").resolve("sub/deeper/f"), "x");
        Throwable[] seen = new Throwable[1];
        Thread waiter = new Thread(() -> {
            try (ContainerLock l = s.lock("c1")) {
                seen[0] = null;
            } catch (Throwable t) {
                seen[0] = t;
            }
        });
        waiter.start();
        Thread.sleep(50);
        s.remove(lock);
        waiter.join();
        assertFalse(Files.exists(s.dir("c1")));
        assertTrue(seen[0] instanceof NotFoundException, String.valueOf(seen[0]));
    }

    @Test
    void aStateFileThatIsNotJsonIsReportedWithItsPath() throws IOException {
        FileStateStore s = store();
        s.createAndLock("c1").close();
        for (String junk : List.of("", "{", "not json", "{\"id\":\"other\"}")) {
            Files.writeString(s.dir("c1").resolve("state.json"), junk);
            CapsaException e = assertThrows(CapsaException.class, () -> s.read("c1"), junk);
            assertTrue(e.getMessage().contains("is corrupt: " + s.dir("c1").resolve("state.json")), e.getMessage());
        }
    }

    @Test
    void aWriteThatFailsKeepsThePreviousRecordWholeAndNamesTheFile() throws IOException {
        FileStateStore s = store();
        try (ContainerLock lock = s.createAndLock("c1")) {
            s.write(lock, record("c1"));
            // the temp file cannot be written (as on a full disk, the write fails before the rename)
            Path temp = Files.createDirectories(s.dir("c1").resolve(".state.json.tmp").resolve("in-the-way"));
            CapsaException e = assertThrows(CapsaException.class, () -> s.write(lock, record("c1").withPid(7, 8)));
            assertTrue(e.getMessage().startsWith("cannot write state of container \"c1\": "
                    + s.dir("c1").resolve("state.json")), e.getMessage());
            assertEquals(record("c1"), s.read("c1").orElseThrow(), "the old record is still whole");
            Files.delete(temp);
        }
    }

    @Test
    void aDirectoryWithoutARecordReadsAsEmpty() {
        FileStateStore s = store();
        s.createAndLock("c1").close();
        assertTrue(s.read("c1").isEmpty());
    }

    @Test
    void badIdsNeverBecomePaths() {
        for (String id : List.of("", "..", "../x", "a/b", ".hidden", "-x", "x y")) {
            assertThrows(CapsaException.class, () -> store().dir(id), id);
        }
        assertEquals("a.b_c-1", ContainerIds.check("a.b_c-1"));
    }

    @Test
    void removeSucceedsWhileOtherCommandsHammerTheLock() throws Exception {
        FileStateStore s = new FileStateStore(tmp.resolve("root"), Duration.ofMillis(200));
        for (int round = 0; round < 30; round++) {
            ContainerLock lock = s.createAndLock("c1");
            s.write(lock, record("c1"));
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            List<Thread> waiters = new java.util.ArrayList<>();
            for (int t = 0; t < 4; t++) {
                Thread w = new Thread(() -> {
                    while (!stop.get()) {
                        try (ContainerLock l = s.lock("c1")) {
                            // got it after the remove: only possible once a new c1 exists
                        } catch (CapsaException expected) {
                            // locked or not found: both are fine answers
                        }
                    }
                });
                w.start();
                waiters.add(w);
            }
            s.remove(lock); // must not fail with "directory not empty" because of a waiter
            stop.set(true);
            for (Thread w : waiters) {
                w.join();
            }
            assertFalse(Files.exists(s.dir("c1")), "round " + round);
            try (var left = Files.list(s.root())) {
                assertEquals(List.of(), left.map(p -> p.getFileName().toString()).toList(), "nothing left, round " + round);
            }
        }
    }
}
