package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * capsa-relay's monitor mode, the built binary, with a shell for QEMU: the shell writes what the
 * agent would write on capsa.exit (its descriptor 3, /proc/self/fd/3 in QEMU's command line), and
 * the monitor's own exit status must be the container's, as conmon reads runc's container process.
 * Java reports a death by signal n as 128 + n.
 */
class MonitorTest {
    private Path binary;

    @BeforeEach
    void binary() throws Exception {
        var url = MonitorTest.class.getResource("/capsa-relay");
        assumeTrue(url != null && url.getProtocol().equals("file"), "capsa-relay was not built (no C compiler?)");
        binary = Path.of(url.toURI());
        assumeTrue(Files.isExecutable(binary), binary + " is not executable");
    }

    private int monitor(String qemu) throws Exception {
        List<String> argv = new ArrayList<>(List.of(binary.toString(), "monitor", "sh", "-c", qemu));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the monitor ends with its QEMU");
        return p.exitValue();
    }

    @Test
    void exitsWithTheCodeTheGuestReported() throws Exception {
        assertEquals(7, monitor("echo 'exit 7' >> /proc/self/fd/3; sleep 0.1"));
        assertEquals(0, monitor("echo 'exit 0' >&3"));
    }

    @Test
    void diesOfTheSignalThatKilledTheContainersProcess() throws Exception {
        assertEquals(128 + 15, monitor("echo 'signal 15' >&3"));
        assertEquals(128 + 9, monitor("echo 'signal 9' >&3"));
    }

    @Test
    void aGuestThatEndsWithoutAStatusCountsAsKilled() throws Exception {
        assertEquals(128 + 9, monitor("exit 0"));
        assertEquals(128 + 9, monitor("echo 'garbage' >&3"));
    }

    @Test
    void qemuDiesWithItsMonitorAndIsInASessionOfItsOwn() throws Exception {
        Process p = new ProcessBuilder(binary.toString(), "monitor", "sleep", "60").start();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (p.toHandle().children().findAny().isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        ProcessHandle qemu = p.toHandle().children().findFirst().orElseThrow();
        String stat = Files.readString(Path.of("/proc/" + p.pid() + "/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        assertEquals(Long.toString(p.pid()), fields[3], "the monitor leads a session of its own");
        p.destroyForcibly();
        qemu.onExit().get(5, TimeUnit.SECONDS);
        assertFalse(qemu.isAlive(), "QEMU died with its monitor");
    }

    @Test
    void withStdioQemusOutputGoesToTheLogAndItsStdinIsNullUnlessKept(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        Path log = tmp.resolve("qemu.log");
        Path in = Files.writeString(tmp.resolve("in.txt"), "from-caller\n");
        // "QEMU" prints, reads its stdin, and reports exit 0
        String qemu = "echo out; echo err >&2; cat; echo 'exit 0' >&3";
        Process p = new ProcessBuilder(binary.toString(), "monitor", "--stdio", log.toString(), "0", "sh", "-c", qemu)
                .redirectInput(in.toFile()).start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        assertEquals("", new String(p.getInputStream().readAllBytes()), "nothing on the caller's stdout");
        assertEquals("out\nerr\n", Files.readString(log), "stdin was /dev/null: cat read nothing");
        Process kept = new ProcessBuilder(binary.toString(), "monitor", "--stdio", log.toString(), "1", "sh", "-c",
                qemu).redirectInput(in.toFile()).start();
        assertTrue(kept.waitFor(10, TimeUnit.SECONDS));
        assertEquals("out\nerr\nout\nerr\nfrom-caller\n", Files.readString(log), "appended, with the caller's stdin");
    }
}
