package dev.capsa.os;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CapabilityNamesTest {
    @Test
    void namesAreTheKernelNumbers() {
        assertEquals(0, CapabilityNames.number("CAP_CHOWN"));
        assertEquals(21, CapabilityNames.number("CAP_SYS_ADMIN"));
        assertEquals(40, CapabilityNames.number("CAP_CHECKPOINT_RESTORE"));
        assertEquals(40, CapabilityNames.LAST_KNOWN);
        assertEquals(-1, CapabilityNames.number("CAP_NOPE"));
        assertEquals(List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE"), CapabilityNames.known(1));
        assertEquals(41, CapabilityNames.known(63).size());
    }

    @Test
    void runcsDefaultSetIsItsMask() {
        // runc spec: CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
        assertEquals(0x20000420L, CapabilityNames.mask(List.of("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
                40, null));
    }

    @Test
    void unknownNamesAndCapabilitiesPastTheKernelsLast() {
        assertEquals(-2, CapabilityNames.mask(List.of("CAP_KILL", "CAP_NOPE"), 40, null));
        List<String> skipped = new ArrayList<>();
        assertEquals(1L << 5, CapabilityNames.mask(List.of("CAP_KILL", "CAP_BPF", "CAP_BPF"), 37, skipped));
        assertEquals(List.of("CAP_BPF"), skipped);
    }

    @Test
    void lastCapIsReadFromProcElseTheLastKnown(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("cap_last_cap");
        Files.writeString(f, "38\n");
        assertEquals(38, CapabilityNames.lastCap(f));
        assertEquals(CapabilityNames.LAST_KNOWN, CapabilityNames.lastCap(dir.resolve("missing")));
    }

    @Test
    void theHostsLastCapabilityIsReadWholeFromProc() throws Exception {
        // /proc files state size 0; a reader that trusts the size reads "4" of "40"
        Process cat = new ProcessBuilder("cat", "/proc/sys/kernel/cap_last_cap").start();
        String expected = new String(cat.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII)
                .trim();
        org.junit.jupiter.api.Assertions.assertEquals(0, cat.waitFor());
        org.junit.jupiter.api.Assertions.assertEquals(Integer.parseInt(expected), CapabilityNames.hostLastCap());
    }
}
