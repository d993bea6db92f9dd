package dev.capsa.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.CapsaException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The wait-then-exec mechanism with real processes and a real fifo; no chroot, so no root. */
class ExecFifoTest {
    @TempDir
    Path tmp;
    private Process process;

    @AfterEach
    void noProcessLeft() throws Exception {
        if (process != null && process.isAlive()) {
            process.destroyForcibly().waitFor();
        }
    }

    private Process waitingShell(Path fifo, Path out, String... command) throws Exception {
        ExecFifo.make(fifo);
        List<String> argv = new ArrayList<>(List.of(ChrootCommand.SH, "-c", ChrootCommand.WAIT_FOR_START,
                fifo.toString()));
        argv.addAll(List.of(command));
        process = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        return process;
    }

    @Test
    void theProcessWaitsForTheFifoThenExecs() throws Exception {
        Path fifo = tmp.resolve("exec.fifo");
        Path out = tmp.resolve("out");
        Process p = waitingShell(fifo, out, "/bin/echo", "released");
        assertFalse(p.waitFor(200, TimeUnit.MILLISECONDS), "it must wait for start");
        assertEquals("", Files.readString(out));

        ExecFifo.release(fifo, p::isAlive);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        assertEquals("released\n", Files.readString(out));
    }

    @Test
    void releasingAProcessThatDiedSaysSoInsteadOfHanging() throws Exception {
        Path fifo = tmp.resolve("exec.fifo");
        Process p = waitingShell(fifo, tmp.resolve("out"), "/bin/true");
        p.destroyForcibly().waitFor();
        CapsaException e = assertThrows(CapsaException.class, () -> ExecFifo.release(fifo, p::isAlive));
        assertEquals("the process waiting on " + fifo + " ended before it was released", e.getMessage());
    }

    @Test
    void aDeathBySignalIsReportedAs128PlusTheSignal() throws Exception {
        // waitExit relies on this: the JDK on Linux reports WTERMSIG n as exit value 128 + n
        Path fifo = tmp.resolve("exec.fifo");
        Process p = waitingShell(fifo, tmp.resolve("out"), "/bin/sh", "-c", "kill -TERM $$");
        ExecFifo.release(fifo, p::isAlive);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(128 + 15, p.exitValue());
    }

    @Test
    void mkfifoErrorsNameThePath() {
        Path nowhere = tmp.resolve("missing/exec.fifo");
        CapsaException e = assertThrows(CapsaException.class, () -> ExecFifo.make(nowhere));
        assertTrue(e.getMessage().startsWith("mkfifo " + nowhere + ": "), e.getMessage());
    }
}
