package dev.capsa.backend.ns.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Real cgroup v1 hierarchies of this host, as root: limits proved by their effect on processes
 * the test starts. Each test makes its own cgroup, /capsa-test-RANDOM in every hierarchy, and
 * removes it afterwards, killing only the processes in it (all started by the test).
 */
@Tag("integration")
class CgroupV1IT {
    private static final long MIB = 1024 * 1024;

    private CgroupManager cg;
    private final List<Process> started = new ArrayList<>();

    @BeforeEach
    void makeCgroup() {
        assumeTrue("root".equals(System.getProperty("user.name")), "writing cgroups needs root");
        CgroupHost host = CgroupHost.detect();
        assumeTrue(host.mode() == CgroupMode.V1, "this host uses cgroup v2; v2 is tested against fixtures (CgroupV2Test)");
        String name = "capsa-test-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
        cg = host.manager(CgroupPath.of("/" + name, name, false));
        cg.create();
    }

    @AfterEach
    void removeCgroup() throws Exception {
        if (cg == null) {
            return;
        }
        try {
            if (cg.frozen()) {
                cg.thaw();
            }
        } finally {
            // every process in the cgroup was started by this test (or forked by one it started)
            for (int round = 0; round < 50 && !cg.pids().isEmpty(); round++) {
                cg.pids().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
                Thread.sleep(20);
            }
            for (Process p : started) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
            cg.destroy();
        }
        for (Path dir : cg.paths().values()) {
            assertFalse(Files.exists(dir), "left behind: " + dir);
        }
    }

    private Process start(String... command) throws IOException {
        Process p = new ProcessBuilder(command).start();
        started.add(p);
        return p;
    }

    private static void go(Process p) throws IOException {
        OutputStream in = p.getOutputStream();
        in.write('\n');
        in.flush();
    }

    private Path dir(String controller) {
        return ((CgroupV1) cg).dir(controller);
    }

    @Test
    void pidsMaxMakesTheSixthForkFail() throws Exception {
        cg.set(Fixture.resources("{'pids': {'limit': 5}, 'memory': {'limit': 33554432}}"));
        assertEquals("5", Files.readString(dir("pids").resolve("pids.max")).strip());
        assertEquals(32 * MIB, Long.parseLong(Files.readString(dir("memory").resolve("memory.limit_in_bytes")).strip()));
        // the shell joins first, then forks 8 sleepers: the shell and 4 of them fill pids.max
        Process sh = start("/bin/sh", "-c",
                "read x; for i in 1 2 3 4 5 6 7 8; do sleep 30 </dev/null >/dev/null 2>&1 & done; exit 0");
        cg.addTask(sh.pid());
        go(sh);
        assertTrue(sh.waitFor(20, TimeUnit.SECONDS), "the shell did not finish");
        String err = new String(sh.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(err.toLowerCase().contains("fork"), "expected fork failures (EAGAIN), got: " + err);
        assertEquals(4, cg.pids().size(), "4 sleepers remain: " + cg.pids());
        assertEquals(4, cg.stats().at("/pids/current").asLong());
        assertEquals(5, cg.stats().at("/pids/limit").asLong());
    }

    @Test
    void memoryLimitGetsAHogOomKilled() throws Exception {
        cg.set(Fixture.resources("{'memory': {'limit': 33554432, 'swap': 33554432}}"));
        Process hog = start("/usr/bin/python3", "-c",
                "import sys; sys.stdin.readline(); a = b'a' * (64 * 1024 * 1024); print('survived', flush=True)");
        cg.addTask(hog.pid());
        go(hog);
        assertTrue(hog.waitFor(30, TimeUnit.SECONDS), "the hog did not end");
        String out = new String(hog.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(128 + 9, hog.exitValue(), "expected death by SIGKILL; stdout: " + out);
        assertFalse(out.contains("survived"));
        // the kernel's memcg OOM killer did it: counted in oom_control, with usage peaking at the limit
        // (memory.failcnt stays 0 on this 6.18 kernel's v1 memory controller, so it proves nothing here)
        String oom = Files.readString(dir("memory").resolve("memory.oom_control"));
        assertTrue(oom.matches("(?s).*\\boom_kill [1-9].*"), oom);
        ObjectNode stats = cg.stats();
        assertEquals(32 * MIB, stats.at("/memory/usage/max").asLong(), stats.toString());
        assertEquals(32 * MIB, stats.at("/memory/usage/limit").asLong());
    }

    @Test
    void freezeStopsAProcessAndThawResumesIt() throws Exception {
        Process sleeper = start("sleep", "30");
        cg.addTask(sleeper.pid());
        cg.freeze();
        assertTrue(cg.frozen());
        assertEquals("FROZEN", Files.readString(dir("freezer").resolve("freezer.state")).strip());
        // a v1-frozen task sleeps uninterruptibly in the freezer
        assertEquals("D", state(sleeper.pid()));
        cg.thaw();
        assertFalse(cg.frozen());
        assertEquals("S", state(sleeper.pid()));
        assertTrue(sleeper.isAlive());
    }

    private static String state(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("State:")) {
                return line.substring("State:".length()).strip().substring(0, 1);
            }
        }
        throw new AssertionError("no State in /proc/" + pid + "/status");
    }

    @Test
    void statsCountMemoryAllocatedInsideTheCgroup() throws Exception {
        cg.set(Fixture.resources("{'memory': {'limit': 33554432}}"));
        Process p = start("/usr/bin/python3", "-c",
                "import sys; sys.stdin.readline(); a = b'a' * (8 * 1024 * 1024); print('ok', flush=True); "
                        + "sys.stdin.readline()");
        cg.addTask(p.pid());
        go(p);
        assertEquals('o', (char) p.getInputStream().read());
        ObjectNode stats = cg.stats();
        assertTrue(stats.at("/memory/usage/usage").asLong() >= 8 * MIB, stats.toString());
        assertEquals(32 * MIB, stats.at("/memory/usage/limit").asLong());
        assertTrue(stats.at("/cpu/usage/total").asLong() > 0, stats.toString());
        assertEquals(List.of(p.pid()), cg.pids());
    }

    @Test
    void destroyLeavesNoDirectoryInAnyHierarchy() throws Exception {
        Process sleeper = start("sleep", "30");
        cg.apply(sleeper.pid());
        assertTrue(cg.paths().containsKey(""), "a hybrid host's unified hierarchy is joined too: " + cg.paths());
        for (Path dir : cg.paths().values()) {
            assertTrue(Files.readString(dir.resolve("cgroup.procs")).contains(Long.toString(sleeper.pid())), dir.toString());
        }
        // with a process inside, the kernel refuses (EBUSY) and the error says what to do
        CapsaException busy = org.junit.jupiter.api.Assertions.assertThrows(CapsaException.class, cg::destroy);
        assertTrue(busy.getMessage().contains("EBUSY"), busy.getMessage());
        sleeper.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        for (int i = 0; i < 100 && !cg.pids().isEmpty(); i++) {
            Thread.sleep(10);
        }
        cg.destroy();
        assertFalse(cg.exists());
        for (Path dir : cg.paths().values()) {
            assertFalse(Files.exists(dir), dir.toString());
        }
    }
}
