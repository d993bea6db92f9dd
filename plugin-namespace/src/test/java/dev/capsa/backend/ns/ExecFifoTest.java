package dev.capsa.backend.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capsa.error.CapsaException;
import dev.capsa.error.HookFailedException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What start makes of what capsa-init writes to the exec fifo, with a real fifo and a writer thread. */
class ExecFifoTest {
    @TempDir
    Path dir;

    @Test
    void zeroThenEofMeansTheProcessRuns() throws Exception {
        Path fifo = fifo();
        Thread writer = write(fifo, "0");
        ExecFifo.release(fifo, () -> true, "c1");
        writer.join();
        assertFalse(Files.exists(fifo), "start removes the fifo");
    }

    @Test
    void textAfterTheZeroIsWhatFailed() throws Exception {
        Path fifo = fifo();
        Thread writer = write(fifo, "0startContainer hook /hook: exit status 3: boom");
        HookFailedException e = assertThrows(HookFailedException.class,
                () -> ExecFifo.release(fifo, () -> true, "c1"));
        writer.join();
        assertEquals("container \"c1\": startContainer hook /hook: exit status 3: boom", e.getMessage());
        assertFalse(Files.exists(fifo));

        CapsaException exec = assertThrows(CapsaException.class,
                () -> ExecFifo.check("0exec /bin/x: Permission denied".getBytes(StandardCharsets.UTF_8), "c1"));
        assertFalse(exec instanceof HookFailedException);
        // Go's wording, as runc's: Docker maps "permission denied" to exit code 126
        assertEquals("container \"c1\": unable to start container process: exec /bin/x: permission denied",
                exec.getMessage());
    }

    @Test
    void execFailuresAtCreateUseGosWordingForTheErrno() {
        // what capsa-init reports when the program is missing: "error exec ERRNO DETAIL"
        CapsaException e = NamespaceBackend.stepFailed("c1",
                "exec 2 exec: \"/nonexistent\": stat /nonexistent: No such file or directory");
        assertEquals("container \"c1\": unable to start container process: exec: \"/nonexistent\": stat /nonexistent: "
                + "no such file or directory", e.getMessage());
        // a detail that does not end in strerror's text is left as it is
        assertEquals("container \"c1\": unable to start container process: exec: \"x\": executable file not found in "
                + "$PATH", NamespaceBackend.stepFailed("c1", "exec 2 exec: \"x\": executable file not found in $PATH")
                .getMessage());
    }

    @Test
    void aProcessThatIsGoneBeforeOpeningTheFifoFailsStartWithoutHanging() throws Exception {
        Path fifo = fifo();
        AtomicBoolean alive = new AtomicBoolean(false);
        CapsaException e = assertThrows(CapsaException.class, () -> ExecFifo.release(fifo, alive::get, "c1"));
        assertEquals("cannot start container \"c1\": it is stopped (its process ended before start released it)",
                e.getMessage());
        assertInstanceOf(dev.capsa.error.WrongStateException.class, e, "a stopped container: wrong state");
    }

    private Path fifo() throws Exception {
        Path fifo = dir.resolve(ExecFifo.NAME);
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mk.waitFor());
        return fifo;
    }

    private static Thread write(Path fifo, String text) {
        return Thread.ofPlatform().start(() -> {
            try (OutputStream out = Files.newOutputStream(fifo)) {
                out.write(text.getBytes(StandardCharsets.UTF_8));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }
}
