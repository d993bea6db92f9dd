package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The ns backend on pure cgroup v2, which this build machine lacks (it is hybrid): runs
 * scripts/cgroup2-suite.sh, which boots a QEMU guest (TCG) with cgroup2 alone on /sys/fs/cgroup
 * and runs the built distribution there (docs/cgroups.md lists the cases). One guest boot for
 * every case; about two minutes here. The script exits 2 when this host cannot run it (not root,
 * no QEMU, no guest image, no static busybox or jq), which is an assumption failure with its reason.
 */
@Tag("integration")
class Cgroup2SuiteIT {
    /** The script's own bound is 600 s, after which it kills QEMU; this one only guards against a hung script. */
    private static final long SCRIPT_TIMEOUT_S = 600;

    @Test
    void everyCgroupV2CasePassesInAGuest() throws Exception {
        Path dist = LauncherIT.launcher().getParent().getParent();
        Path script = Path.of(System.getProperty("capsa.scripts", "../scripts")).resolve("cgroup2-suite.sh");
        assumeTrue(Files.isExecutable(script), "no " + script);
        Path output = Files.createTempFile("capsa-cgroup2-suite", ".out");
        ProcessBuilder pb = new ProcessBuilder("bash", script.toString(), "--timeout", Long.toString(SCRIPT_TIMEOUT_S))
                .redirectErrorStream(true).redirectOutput(output.toFile()).redirectInput(ProcessBuilder.Redirect.from(
                        Path.of("/dev/null").toFile()));
        pb.environment().put("CAPSA_DIST", dist.toAbsolutePath().toString());
        Process p = pb.start();
        String out;
        try {
            if (!p.waitFor(SCRIPT_TIMEOUT_S + 60, TimeUnit.SECONDS)) {
                stop(p);
            }
            out = Files.readString(output, StandardCharsets.UTF_8);
        } finally {
            stop(p);
            Files.deleteIfExists(output);
        }
        System.out.println(out);
        assumeTrue(p.exitValue() != 2, "the cgroup v2 suite cannot run here: " + out.strip());
        assertEquals(0, p.exitValue(), out);
        List<String> results = out.lines().filter(l -> l.startsWith("ok ") || l.startsWith("FAIL ")).toList();
        assertTrue(results.size() >= 30 && results.stream().allMatch(l -> l.startsWith("ok ")), out);
    }

    /** SIGTERM first: the script's trap kills QEMU by its pid; then whatever of ours is left. */
    private static void stop(Process p) throws InterruptedException {
        if (!p.isAlive()) {
            return;
        }
        List<ProcessHandle> children = p.descendants().toList();
        p.destroy();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        children.forEach(ProcessHandle::destroyForcibly);
    }
}
