package dev.capsa.backend.vm.qemu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The host's TSC frequency in kHz, for the guest's {@code tsc_early_khz} (without it a microvm guest
 * hangs in clock calibration in a third to a half of boots). The kernel exports it as
 * /sys/devices/system/cpu/cpu0/tsc_freq_khz only on some kernels; otherwise /proc/cpuinfo's
 * "cpu MHz" of the first CPU is the TSC rate on hosts with constant_tsc (every x86 of the last
 * fifteen years). 0 when neither is there.
 */
public final class HostClock {
    private HostClock() {
    }

    public static long tscKhz(Path sys, Path cpuinfo) {
        try {
            return Long.parseLong(Files.readString(sys, StandardCharsets.US_ASCII).strip());
        } catch (IOException | NumberFormatException e) {
            // fall back to cpuinfo
        }
        try (var lines = Files.lines(cpuinfo, StandardCharsets.US_ASCII)) {
            return lines.filter(l -> l.startsWith("cpu MHz")).findFirst()
                    .map(l -> Math.round(Double.parseDouble(l.substring(l.indexOf(':') + 1).strip()) * 1000))
                    .orElse(0L);
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    public static long tscKhz() {
        return tscKhz(Path.of("/sys/devices/system/cpu/cpu0/tsc_freq_khz"), Path.of("/proc/cpuinfo"));
    }
}
