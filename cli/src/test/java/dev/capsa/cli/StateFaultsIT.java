package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The state root when something outside capsa broke it: a state.json that another implementation
 * left truncated, empty or not JSON, and a state root on a full disk.
 */
@Tag("integration")
class StateFaultsIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "sleep");

    StateFaultsIT() {
        super(APPLETS, true);
    }

    @ParameterizedTest
    @ValueSource(strings = {"truncated", "empty", "not json"})
    void aCorruptStateIsReportedListedAndRemovedWithForceAndTheOthersAreUntouched(String damage) throws Exception {
        args("sleep", "60");
        assertEquals(0, capsa("run", "--detach", id("running")).code());
        assertEquals(0, capsa("create", id("created")).code());
        Result broken = capsa("create", id("broken"));
        assertEquals(0, broken.code(), broken.err());
        long brokenPid = state("broken").get("pid").asLong();

        Path file = root.resolve("broken/state.json");
        byte[] whole = Files.readAllBytes(file);
        Files.write(file, switch (damage) {
            case "truncated" -> Arrays.copyOf(whole, whole.length / 2);
            case "empty" -> new byte[0];
            default -> "\u0000\u0000 disk error".getBytes();
        });

        Result state = capsa("state", "broken");
        assertEquals(1, state.code(), state.out());
        assertTrue(state.err().contains("state of container \"broken\" is corrupt: " + file), state.err());
        assertTrue(state.err().contains("delete --force"), "the message says what to do: " + state.err());

        Result list = capsa("list");
        assertEquals(0, list.code(), list.err());
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith("running ") && l.contains(" running ")), list.out());
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith("created ") && l.contains(" created ")), list.out());
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith("broken ") && l.contains(" unknown ")), list.out());
        assertTrue(list.err().contains("\"broken\" is corrupt: " + file), "the reason is on stderr: " + list.err());
        Result json = capsa("list", "--format", "json");
        assertEquals(0, json.code(), json.err());
        assertEquals(3, Json.mapper().readTree(json.out()).size(), json.out());

        Result plain = capsa("delete", "broken");
        assertEquals(1, plain.code(), "delete without --force keeps a state it cannot read");
        assertTrue(Files.exists(file));
        Result force = capsa("delete", "--force", "broken");
        assertEquals(0, force.code(), force.err());
        assertFalse(Files.exists(root.resolve("broken")), "delete --force removes the corrupt state");
        try (Stream<Path> left = Files.list(root)) {
            assertEquals(List.of("created", "running"), left.map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith(".")).sorted().toList());
        }
        Result gone = capsa("state", "broken");
        assertEquals(1, gone.code());
        assertTrue(gone.err().contains("container \"broken\" does not exist"), gone.err());

        // the others are untouched: same status, same process
        assertEquals("running", state("running").get("status").asText());
        assertEquals("created", state("created").get("status").asText());
        assertEquals(0, capsa("start", "created").code());
        assertEquals("running", state("created").get("status").asText());

        // The pid was in the lost record; the cgroup is named by the copy of config.json that create
        // kept: delete --force killed what was in it and removed it (docs/reliability.md)
        for (int i = 0; i < 100 && alive(brokenPid); i++) {
            Thread.sleep(20);
        }
        assertFalse(alive(brokenPid), "the broken container's process is gone");
    }

    @Test
    void aFullDiskFailsCreateClearlyAndLeavesNoHalfWrittenState() throws Exception {
        args("sh", "-c", "exit 0");
        Path disk = Files.createDirectories(tmp.resolve("disk"));
        Result mount = LauncherIT.exec(tmp, List.of("mount", "-t", "tmpfs", "-o", "size=64k,mode=0711", "capsa-it-full",
                disk.toString()));
        assumeTrue(mount.code() == 0, "cannot mount a tmpfs: " + mount.err());
        Path saved = root;
        try {
            root = Files.createDirectory(disk.resolve("root"));
            // the runtime's own first write there (the event journal's, say) must not be what fails
            Result first = capsa("create", id("first"));
            assertEquals(0, first.code(), first.err());
            assertEquals(0, capsa("delete", "--force", "first").code());

            Path filler = disk.resolve("filler");
            fill(filler);
            Result create = capsa("create", id("full"));
            assertEquals(1, create.code(), create.out());
            assertTrue(create.err().contains("cannot write state of container \"full\": "
                    + root.resolve("full/state.json") + ": No space left on device"), create.err());
            assertFalse(Files.exists(root.resolve("full")), "no half-written state is left");
            Result list = capsa("list", "--quiet");
            assertEquals(0, list.code(), list.err());
            assertEquals("", list.out());
            try (Stream<Path> left = Files.list(root)) {
                assertEquals(List.of(), left.filter(p -> !p.getFileName().toString().startsWith(".")).toList());
            }

            // with room again the same id can be created: nothing of the failed one is in the way
            Files.delete(filler);
            Result again = capsa("create", "full");
            assertEquals(0, again.code(), again.err());
            assertEquals(0, capsa("delete", "--force", "full").code());
        } finally {
            root = saved;
            Result umount = LauncherIT.exec(tmp, List.of("umount", disk.toString()));
            assertEquals(0, umount.code(), umount.err());
        }
    }

    /** Writes until the file system says it is full. */
    private static void fill(Path file) throws IOException {
        byte[] block = new byte[4096];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (int i = 0; i < 1 << 16; i++) {
                out.write(block);
                out.flush();
            }
        } catch (IOException full) {
            assertTrue(full.getMessage().contains("No space left"), full.toString());
            return;
        }
        throw new AssertionError("the tmpfs never filled up");
    }
}
