package dev.capsa.os;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.SyscallException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The real OS seam against real processes this test starts. */
class LinuxOsTest {
    final LinuxOs os = new LinuxOs();

    @Test
    void killDeliversTheSignalWeAskFor() throws Exception {
        Process sleeper = new ProcessBuilder("sleep", "30").start();
        try {
            assertTrue(os.processStartTime(sleeper.pid()).isPresent());
            os.kill(sleeper.pid(), Signals.parse("USR1"));
            assertTrue(sleeper.waitFor(10, TimeUnit.SECONDS));
            assertEquals(128 + 10, sleeper.exitValue(), "killed by SIGUSR1");
        } finally {
            sleeper.destroyForcibly();
        }
        assertTrue(os.processStartTime(sleeper.pid()).isEmpty(), "a reaped process has no start time");
    }

    @Test
    void killingAMissingPidNamesTheCallAndErrno() throws Exception {
        Process done = new ProcessBuilder("true").start();
        done.waitFor();
        SyscallException e = assertThrows(SyscallException.class, () -> os.kill(done.pid(), 0));
        assertEquals("kill", e.call());
        assertEquals(3, e.errno());
        assertEquals("kill pid " + done.pid() + ": ESRCH (no such process)", e.getMessage());
    }

    @Test
    void effectiveIdsMatchProc() throws Exception {
        String status = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/status"));
        String uidLine = status.lines().filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow();
        assertEquals(Integer.parseInt(uidLine.split("\\s+")[2]), os.euid());
    }
}
