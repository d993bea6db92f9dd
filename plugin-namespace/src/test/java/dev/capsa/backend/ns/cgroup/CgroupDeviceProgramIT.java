package dev.capsa.backend.ns.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The cgroup v2 device program loaded and attached for real, as root, and proved by its effect: a
 * shell that moves itself into the cgroup can open what the rules allow and gets EPERM for the
 * rest. Any cgroup2 mount will do, also the controller-less one of a hybrid host
 * (/sys/fs/cgroup/unified): device programs need no controller. The test makes
 * capsa-test-RANDOM below it and removes it afterwards.
 */
@Tag("integration")
class CgroupDeviceProgramIT {
    private final LinuxCgroupBpf bpf = new LinuxCgroupBpf();
    private Path dir;

    @BeforeEach
    void makeCgroup() throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")), "attaching a device program needs root");
        Path mount = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .filter(l -> l.contains(" - cgroup2 ")).map(l -> Path.of(l.split(" ")[4])).findFirst().orElse(null);
        assumeTrue(mount != null, "no cgroup2 mounted on this host");
        dir = mount.resolve("capsa-test-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE));
        Files.createDirectory(dir);
    }

    @AfterEach
    void removeCgroup() throws IOException {
        if (dir != null) {
            // the shells have ended (each run waits for its own), so the cgroup is empty
            Files.delete(dir);
            assertFalse(Files.exists(dir), "left behind: " + dir);
        }
    }

    /** A shell that joins the cgroup, then tries each device: "PATH ok" or its error on stderr. */
    private String tryDevices(String... devices) throws Exception {
        StringBuilder script = new StringBuilder("echo $$ > \"$0/cgroup.procs\" || exit 9\n");
        for (String d : devices) {
            script.append("if head -c 1 ").append(d).append(" >/dev/null; then echo '").append(d).append(" ok'; fi\n");
        }
        Process sh = new ProcessBuilder("/bin/sh", "-c", script.toString(), dir.toString())
                .redirectErrorStream(true).start();
        try {
            assertTrue(sh.waitFor(20, TimeUnit.SECONDS), "the shell did not finish");
            String out = new String(sh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, sh.exitValue(), out);
            return out;
        } finally {
            sh.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    /** head's message for an open that failed with EPERM: "head: cannot open '/dev/full' ...: Operation not permitted". */
    private static boolean denied(String out, String device) {
        return out.lines().anyMatch(l -> l.contains(device) && l.endsWith("Operation not permitted"));
    }

    private static DeviceFilter.Rule allow(String line) {
        return DeviceFilter.Rule.parse(line, "/linux/resources/devices/0");
    }

    @Test
    void allowedDevicesOpenAndTheRestGetEperm() throws Exception {
        // without a program /dev/full and /dev/zero open fine (the host's root can open them)
        String before = tryDevices("/dev/null", "/dev/full", "/dev/zero");
        assertTrue(before.contains("/dev/full ok") && before.contains("/dev/zero ok"), before);

        bpf.replaceDeviceFilter(dir, DeviceFilter.compile(List.of(allow("c 1:3 rwm"), allow("c 1:5 r"))),
                CgroupResources.DEVICES);
        assertEquals(1, bpf.deviceFilters(dir).size());
        String out = tryDevices("/dev/null", "/dev/full", "/dev/zero");
        assertTrue(out.contains("/dev/null ok"), out);
        assertTrue(out.contains("/dev/zero ok"), "read access to 1:5 is allowed: " + out);
        assertFalse(out.contains("/dev/full ok"), out);
        assertTrue(denied(out, "/dev/full"), "EPERM expected: " + out);
        // write access to /dev/zero (1:5) was not granted
        Process w = new ProcessBuilder("/bin/sh", "-c", "echo $$ > \"$0/cgroup.procs\" && echo x > /dev/zero",
                dir.toString()).redirectErrorStream(true).start();
        assertTrue(w.waitFor(20, TimeUnit.SECONDS));
        String werr = new String(w.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(werr.contains("Operation not permitted") && w.exitValue() != 0, werr);
    }

    @Test
    void replacingTheProgramDetachesTheOldOne() throws Exception {
        bpf.replaceDeviceFilter(dir, DeviceFilter.compile(List.of(allow("c 1:3 rwm"))), CgroupResources.DEVICES);
        assertTrue(denied(tryDevices("/dev/full"), "/dev/full"));
        // runc's defaults allow /dev/full; with the old program still attached it would stay denied
        bpf.replaceDeviceFilter(dir, DeviceFilter.forContainer(List.of()), CgroupResources.DEVICES);
        assertEquals(1, bpf.deviceFilters(dir).size(), "the previous program is detached");
        String out = tryDevices("/dev/null", "/dev/full", "/dev/kmsg");
        assertTrue(out.contains("/dev/null ok") && out.contains("/dev/full ok"), out);
        assertTrue(denied(out, "/dev/kmsg"), "1:11 is not in runc's defaults: " + out);
    }

    @Test
    void aProgramTheVerifierRefusesReportsItsLog() {
        // no exit instruction: the verifier refuses it
        DeviceFilter.Program bad = new DeviceFilter.Program(List.of(
                new DeviceFilter.Insn(DeviceFilter.MOV32_K, 0, 0, 0, 1)), false);
        CapsaException e = assertThrows(CapsaException.class,
                () -> bpf.replaceDeviceFilter(dir, bad, "/linux/resources/devices"));
        assertTrue(e.getMessage().startsWith("/linux/resources/devices: loading the cgroup device program "
                + "(1 instructions) for " + dir + ": bpf(BPF_PROG_LOAD): EINVAL"), e.getMessage());
        assertTrue(e.getMessage().contains("verifier log:\n"), e.getMessage());
        assertEquals(List.of(), bpf.deviceFilters(dir));
    }
}
