package dev.capsa.backend.vm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostClockTest {
    @TempDir
    Path tmp;

    @Test
    void sysfsWinsThenCpuinfoThenNothing() throws Exception {
        Path sys = tmp.resolve("tsc_freq_khz");
        Path cpuinfo = Files.writeString(tmp.resolve("cpuinfo"),
                "processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2600.000\n\nprocessor\t: 1\ncpu MHz\t\t: 1200.000\n");
        assertEquals(2_600_000, HostClock.tscKhz(sys, cpuinfo));
        Files.writeString(sys, "2593906\n");
        assertEquals(2_593_906, HostClock.tscKhz(sys, cpuinfo));
        assertEquals(0, HostClock.tscKhz(tmp.resolve("a"), tmp.resolve("b")));
    }
}
