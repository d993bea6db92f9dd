package dev.capsa.backend.ns.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CgroupV1Test {
    /** The files runc's v1 drivers touch, per hierarchy, empty as a fresh cgroup's are not: see {@link #create}. */
    private static final Map<String, List<String>> FILES = Map.of(
            "memory", List.of("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
                    "memory.oom_control", "memory.swappiness", "memory.usage_in_bytes"),
            "cpu", List.of("cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.idle",
                    "cpu.rt_period_us", "cpu.rt_runtime_us"),
            "cpuset", List.of(),
            "pids", List.of("pids.max"),
            "blkio", List.of("blkio.weight", "blkio.weight_device", "blkio.throttle.read_bps_device",
                    "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                    "blkio.throttle.write_iops_device"),
            "devices", List.of("devices.allow", "devices.deny"),
            "freezer", List.of("freezer.state"),
            "cpuacct", List.of(),
            "systemd", List.of(),
            "unified", List.of());

    @TempDir
    Path root;
    Fixture f;
    CgroupManager cg;

    @BeforeEach
    void create() {
        f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.hybridMountinfo(), root);
        cg = host.manager(CgroupPath.of("/capsa/c1", "c1", false, () -> "init"), List.of(), f.files);
        Fixture.files(root.resolve("cpuset/capsa"), "cpuset.cpus", "", "cpuset.mems", "");
        Fixture.files(root.resolve("cpuset/capsa/c1"), "cpuset.cpus", "", "cpuset.mems", "");
        cg.create();
        FILES.forEach((h, names) -> names.forEach(n -> Fixture.files(dir(h), n, "")));
        FILES.keySet().forEach(h -> Fixture.files(dir(h), "cgroup.procs", ""));
        Fixture.files(dir("memory"), "memory.limit_in_bytes", "9223372036854771712\n");
        f.journal.clear();
    }

    private Path dir(String hierarchy) {
        return root.resolve(hierarchy).resolve("capsa/c1");
    }

    private String file(String hierarchy, String name) {
        return Fixture.read(dir(hierarchy).resolve(name));
    }

    @Test
    void updateLeavesTheDeviceRulesAloneUnlessItNamesThem() {
        cg.update(Fixture.resources("{'pids':{'limit':7}}"));
        assertEquals(List.of("pids/capsa/c1/pids.max <- 7"), f.journal);
        f.journal.clear();
        cg.update(Fixture.resources("{'devices':[{'allow':false,'access':'rwm'}]}"));
        assertTrue(f.journal.contains("devices/capsa/c1/devices.deny <- a *:* rwm"), f.journal.toString());
    }

    @Test
    void createMakesEveryHierarchyAndGivesCpusetItsParentsCpusAndMems() {
        for (String h : FILES.keySet()) {
            assertTrue(Files.isDirectory(dir(h)), h);
        }
        assertEquals("0-3", file("cpuset", "cpuset.cpus"));
        assertEquals("0", file("cpuset", "cpuset.mems"));
        assertEquals("0-3", Fixture.read(root.resolve("cpuset/capsa/cpuset.cpus")), "the ancestor first");
    }

    @Test
    void richResourcesGiveExactFileContents() {
        cg.set(Fixture.resources("""
                {'memory': {'limit': 33554432, 'reservation': 16777216, 'swap': 67108864, 'swappiness': 10,
                            'disableOOMKiller': true},
                 'cpu': {'shares': 512, 'quota': 50000, 'period': 100000, 'burst': 1000, 'realtimeRuntime': 950,
                         'realtimePeriod': 1000000, 'cpus': '0-1', 'mems': '0', 'idle': 1},
                 'pids': {'limit': 5},
                 'blockIO': {'weight': 500, 'weightDevice': [{'major': 8, 'minor': 0, 'weight': 600}],
                             'throttleReadBpsDevice': [{'major': 8, 'minor': 0, 'rate': 1048576}],
                             'throttleWriteIOPSDevice': [{'major': 8, 'minor': 16, 'rate': 100}]}}"""));
        assertEquals("33554432", file("memory", "memory.limit_in_bytes"));
        assertEquals("67108864", file("memory", "memory.memsw.limit_in_bytes")); // v1 takes memory+swap as is
        assertEquals("16777216", file("memory", "memory.soft_limit_in_bytes"));
        assertEquals("1", file("memory", "memory.oom_control"));
        assertEquals("10", file("memory", "memory.swappiness"));
        assertEquals("512", file("cpu", "cpu.shares"));
        assertEquals("50000", file("cpu", "cpu.cfs_quota_us"));
        assertEquals("100000", file("cpu", "cpu.cfs_period_us"));
        assertEquals("1000", file("cpu", "cpu.cfs_burst_us"));
        assertEquals("950", file("cpu", "cpu.rt_runtime_us"));
        assertEquals("1000000", file("cpu", "cpu.rt_period_us"));
        assertEquals("1", file("cpu", "cpu.idle"));
        assertEquals("0-1", file("cpuset", "cpuset.cpus"));
        assertEquals("0", file("cpuset", "cpuset.mems"));
        assertEquals("5", file("pids", "pids.max"));
        assertEquals("500", file("blkio", "blkio.weight"));
        assertEquals("8:0 600", file("blkio", "blkio.weight_device"));
        assertEquals("8:0 1048576", file("blkio", "blkio.throttle.read_bps_device"));
        assertEquals("8:16 100", file("blkio", "blkio.throttle.write_iops_device"));
        // the current limit (unlimited) is above the new memsw: limit first, then memsw
        assertTrue(f.journal.indexOf("memory/capsa/c1/memory.limit_in_bytes <- 33554432")
                < f.journal.indexOf("memory/capsa/c1/memory.memsw.limit_in_bytes <- 67108864"));
    }

    @Test
    void raisingMemoryWritesMemswFirst() {
        Fixture.files(dir("memory"), "memory.limit_in_bytes", "33554432\n");
        cg.set(Fixture.resources("{'memory': {'limit': 67108864, 'swap': 134217728}}"));
        assertEquals(List.of("memory/capsa/c1/memory.memsw.limit_in_bytes <- 134217728",
                        "memory/capsa/c1/memory.limit_in_bytes <- 67108864"),
                f.journal.stream().filter(l -> l.startsWith("memory/")).toList());
    }

    @Test
    void devicesDenyAllThenTheSpecsRulesThenRuncsDefaults() {
        cg.set(Fixture.resources("{'devices': [{'allow': false, 'access': 'rwm'},"
                + " {'allow': true, 'type': 'c', 'major': 10, 'minor': 200, 'access': 'rwm'}]}"));
        List<String> expected = new java.util.ArrayList<>(List.of(
                "devices/capsa/c1/devices.deny <- a *:* rwm",
                "devices/capsa/c1/devices.deny <- a *:* rwm",
                "devices/capsa/c1/devices.allow <- c 10:200 rwm"));
        DeviceRules.RUNC_DEFAULTS.forEach(l -> expected.add("devices/capsa/c1/devices.allow <- " + l));
        assertEquals(expected, f.journal);
        assertEquals(List.of("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
                "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm"), DeviceRules.RUNC_DEFAULTS);
    }

    @Test
    void unifiedIsRefusedOnV1WithThePointer() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> cg.set(Fixture.resources("{'unified': {'memory.high': '1'}}")));
        assertEquals("/linux/resources/unified: is for cgroup v2, and this host uses cgroup v1", e.getMessage());
    }

    @Test
    void aControllerTheHostDoesNotMountIsRefusedBeforeAnyWrite() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> cg.set(Fixture.resources(
                "{'pids': {'limit': 5}, 'hugepageLimits': [{'pageSize': '2MB', 'limit': 2097152}]}")));
        assertEquals("/linux/resources/hugepageLimits: needs the hugetlb cgroup controller, which this host does not mount",
                e.getMessage());
        assertEquals("/linux/resources/network/classID", assertThrows(InvalidSpecException.class,
                () -> cg.set(Fixture.resources("{'network': {'classID': 1}}"))).pointer());
        assertEquals(List.of(), f.journal);
    }

    @Test
    void negativeSharesAndBadSwappinessAreRefusedBeforeAnyWrite() {
        assertEquals("/linux/resources/cpu/shares", assertThrows(InvalidSpecException.class,
                () -> cg.set(Fixture.resources("{'pids': {'limit': 5}, 'cpu': {'shares': -1024}}"))).pointer());
        assertEquals("/linux/resources/memory/swappiness: 101 is out of range 0-100", assertThrows(
                InvalidSpecException.class, () -> cg.set(Fixture.resources("{'memory': {'swappiness': 101}}"))).getMessage());
        assertEquals(List.of(), f.journal);
    }

    @Test
    void swapWithoutSwapAccountingIsExplained() throws Exception {
        Files.delete(dir("memory").resolve("memory.memsw.limit_in_bytes"));
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> cg.set(Fixture.resources("{'memory': {'limit': 1048576, 'swap': 2097152}}")));
        assertEquals("/linux/resources/memory/swap", e.pointer());
        assertTrue(e.getMessage().contains("swapaccount=1"), e.getMessage());
    }

    @Test
    void aRefusedWriteNamesPointerValueFileAndErrno() throws Exception {
        Files.delete(dir("cpu").resolve("cpu.idle")); // a kernel without SCHED_IDLE groups
        CapsaException e = assertThrows(CapsaException.class, () -> cg.set(Fixture.resources("{'cpu': {'idle': 1}}")));
        assertEquals("/linux/resources/cpu/idle: writing 1 to " + dir("cpu").resolve("cpu.idle")
                + ": ENOENT (no such file or directory)", e.getMessage());
    }

    @Test
    void addTaskWritesThePidInEveryHierarchyIncludingUnifiedAndSystemd() {
        cg.addTask(4242);
        assertEquals(10, f.journal.size());
        assertTrue(f.journal.contains("unified/capsa/c1/cgroup.procs <- 4242"));
        assertTrue(f.journal.contains("systemd/capsa/c1/cgroup.procs <- 4242"));
        assertEquals("4242", file("memory", "cgroup.procs"));
    }

    @Test
    void freezeAndThawWriteFreezerState() {
        cg.freeze();
        assertEquals("FROZEN", file("freezer", "freezer.state"));
        assertTrue(cg.frozen());
        cg.thaw();
        assertEquals("THAWED", file("freezer", "freezer.state"));
        assertFalse(cg.frozen());
    }

    @Test
    void statsInRuncsShape() {
        Fixture.files(dir("cpuacct"), "cpuacct.usage", "3000\n", "cpuacct.usage_percpu", "1000 2000 \n",
                "cpuacct.stat", "user 3\nsystem 1\n");
        Fixture.files(dir("cpu"), "cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n");
        Fixture.files(dir("memory"), "memory.usage_in_bytes", "1048576\n", "memory.max_usage_in_bytes", "2097152\n",
                "memory.failcnt", "3\n", "memory.limit_in_bytes", "33554432\n", "memory.stat", "cache 4096\nrss 8192\n");
        Fixture.files(dir("pids"), "pids.current", "1\n", "pids.max", "max\n");
        Fixture.files(dir("blkio"), "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        ObjectNode s = cg.stats();
        assertEquals(3000, s.at("/cpu/usage/total").asLong());
        assertEquals(2, s.at("/cpu/usage/percpu").size());
        assertEquals(30_000_000, s.at("/cpu/usage/user").asLong());
        assertEquals(10_000_000, s.at("/cpu/usage/kernel").asLong());
        assertEquals(5000, s.at("/cpu/throttling/throttledTime").asLong());
        assertEquals(1048576, s.at("/memory/usage/usage").asLong());
        assertEquals(2097152, s.at("/memory/usage/max").asLong());
        assertEquals(3, s.at("/memory/usage/failcnt").asLong());
        assertEquals(33554432, s.at("/memory/usage/limit").asLong());
        assertEquals(4096, s.at("/memory/cache").asLong());
        assertEquals(8192, s.at("/memory/raw/rss").asLong());
        assertEquals(1, s.at("/pids/current").asLong());
        assertTrue(s.at("/pids/limit").isMissingNode(), "unlimited pids: omitted, as Go's omitempty");
        assertEquals(1, s.at("/blkio/ioServiceBytesRecursive/0/minor").asLong() + 1);
        assertEquals("Read", s.at("/blkio/ioServiceBytesRecursive/0/op").asText());
        assertTrue(s.at("/blkio/ioServiceBytesRecursive/1/value").isMissingNode());
    }

    @Test
    void destroyRemovesEveryHierarchysDirectoryAndReopenSeesTheSame() {
        CgroupManager again = CgroupHost.reopen(CgroupMode.V1, cg.paths());
        assertEquals(cg.paths(), again.paths());
        again.destroy();
        for (String h : FILES.keySet()) {
            assertFalse(Files.exists(dir(h)), h);
            assertTrue(Files.isDirectory(root.resolve(h).resolve("capsa")), "the parent stays, as in runc: " + h);
        }
        assertFalse(cg.exists());
    }
}
