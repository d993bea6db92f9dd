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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CgroupV2Test {
    /** The control files of a v2 cgroup with cpu, cpuset, io, memory, pids, hugetlb and rdma enabled. */
    private static final List<String> FILES = List.of("cgroup.procs", "cgroup.controllers", "cgroup.subtree_control",
            "cgroup.freeze", "cgroup.events", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpu.stat",
            "cpuset.cpus", "cpuset.mems", "io.weight", "io.max", "memory.max", "memory.low", "memory.high",
            "memory.swap.max", "pids.max", "hugetlb.2MB.max", "rdma.max");

    @TempDir
    Path root;
    Fixture f;
    CgroupManager cg;
    Path dir;
    List<String> created;

    @BeforeEach
    void create() {
        f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.unifiedMountinfo("cpuset cpu io memory hugetlb pids rdma"), root);
        cg = host.manager(CgroupPath.of("/machine/c1", "c1", false, () -> "init"), List.of(), f.files);
        cg.create();
        dir = root.resolve("machine/c1");
        // what the kernel would show in the new directories
        Fixture.files(root.resolve("machine"), "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n",
                "cgroup.subtree_control", "");
        for (String name : FILES) {
            Fixture.files(dir, name, "");
        }
        created = List.copyOf(f.journal);
        f.journal.clear();
    }

    private String file(String name) {
        return Fixture.read(dir.resolve(name));
    }

    @Test
    void createEnablesEveryOfferedControllerOnEachAncestorFromTheRoot() {
        assertTrue(Files.isDirectory(dir));
        assertEquals(List.of("cgroup.subtree_control <- +cpuset +cpu +io +memory +hugetlb +pids +rdma"), created,
                "machine/ did not exist yet when the root was written; it offered nothing before");
        cg.create(); // again, now that machine/ offers controllers: idempotent, and enables below machine/ too
        assertEquals(List.of("cgroup.subtree_control <- +cpuset +cpu +io +memory +hugetlb +pids +rdma",
                "machine/cgroup.subtree_control <- +cpuset +cpu +io +memory +hugetlb +pids +rdma"), f.journal);
    }

    @Test
    void richResourcesGiveExactFileContents() {
        cg.set(Fixture.resources("""
                {'memory': {'limit': 1073741824, 'reservation': 536870912, 'swap': 2147483648},
                 'cpu': {'shares': 1024, 'quota': 50000, 'period': 100000, 'burst': 10000, 'cpus': '0-1', 'mems': '0',
                         'idle': 0},
                 'pids': {'limit': 100},
                 'blockIO': {'weight': 500,
                             'throttleReadBpsDevice': [{'major': 8, 'minor': 0, 'rate': 1048576}],
                             'throttleWriteIOPSDevice': [{'major': 8, 'minor': 0, 'rate': 100}]},
                 'hugepageLimits': [{'pageSize': '2MB', 'limit': 209715200}],
                 'rdma': {'mlx5_1': {'hcaHandles': 3, 'hcaObjects': 10000}},
                 'unified': {'memory.high': '900000000'}}"""));
        assertEquals("1073741824", file("memory.max"));
        assertEquals("1073741824", file("memory.swap.max")); // memory+swap 2 GiB minus memory 1 GiB
        assertEquals("536870912", file("memory.low"));
        assertEquals("100", file("cpu.weight")); // 1024 shares: the default weight
        assertEquals("50000 100000", file("cpu.max"));
        assertEquals("10000", file("cpu.max.burst"));
        assertEquals("0", file("cpu.idle"));
        assertEquals("0-1", file("cpuset.cpus"));
        assertEquals("0", file("cpuset.mems"));
        assertEquals("100", file("pids.max"));
        assertEquals("4950", file("io.weight")); // blkio 500 on 10..1000 to 1..10000
        assertEquals("209715200", file("hugetlb.2MB.max"));
        assertEquals("mlx5_1 hca_handle=3 hca_object=10000", file("rdma.max"));
        assertEquals("900000000", file("memory.high"));
        assertEquals(List.of("machine/c1/io.max <- 8:0 rbps=1048576", "machine/c1/io.max <- 8:0 wiops=100"),
                f.journal.stream().filter(l -> l.contains("io.max")).toList());
        // swap before memory: lowering memory.max first could be refused while swap is still high
        assertTrue(f.journal.indexOf("machine/c1/memory.swap.max <- 1073741824")
                < f.journal.indexOf("machine/c1/memory.max <- 1073741824"));
    }

    @Test
    void theOomKillCountComesFromMemoryEvents() throws Exception {
        assertEquals(-1, cg.oomKills(), "no memory.events: the kernel does not say");
        Files.writeString(dir.resolve("memory.events"), "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n");
        assertEquals(2, cg.oomKills());
    }

    @Test
    void unlimitedMemoryMakesSwapUnlimitedAndEqualSwapDisablesIt() {
        cg.set(Fixture.resources("{'memory': {'limit': -1}}"));
        assertEquals("max", file("memory.max"));
        assertEquals("max", file("memory.swap.max"));
        cg.set(Fixture.resources("{'memory': {'limit': 1048576, 'swap': 1048576}}"));
        assertEquals("0", file("memory.swap.max"));
    }

    @Test
    void quotaAloneAndUnlimitedQuota() {
        cg.set(Fixture.resources("{'cpu': {'quota': -1, 'period': 50000}}"));
        assertEquals("max 50000", file("cpu.max"));
        cg.set(Fixture.resources("{'cpu': {'quota': 20000}}"));
        assertEquals("20000", file("cpu.max"));
    }

    @Test
    void unifiedValuesAreWrittenLineByLine() {
        cg.set(Fixture.resources("{'unified': {'io.max': '8:16 rbps=1\\n8:32 wbps=2'}}"));
        assertEquals(List.of("machine/c1/io.max <- 8:16 rbps=1", "machine/c1/io.max <- 8:32 wbps=2",
                "machine/c1 <- bpf device program, 59 instructions"), f.journal);
    }

    @Test
    void sharesToWeightFollowsCurrentRunc() {
        assertEquals(0, CgroupResources.sharesToWeight(0));
        assertEquals(1, CgroupResources.sharesToWeight(2));
        assertEquals(100, CgroupResources.sharesToWeight(1024));
        assertEquals(10000, CgroupResources.sharesToWeight(262144));
        assertEquals(17, CgroupResources.sharesToWeight(102)); // Kubernetes' 100m CPU request
        assertEquals(1, CgroupResources.sharesToWeight(1));
    }

    @Test
    void blkioWeightToIoWeight() {
        assertEquals(1, CgroupResources.blkioToIoWeight(10));
        assertEquals(4950, CgroupResources.blkioToIoWeight(500));
        assertEquals(10000, CgroupResources.blkioToIoWeight(1000));
        assertEquals(0, CgroupResources.blkioToIoWeight(0));
    }

    @Test
    void swapWithoutLimitOrBelowItIsRefusedBeforeAnyWrite() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> cg.set(Fixture.resources("{'pids': {'limit': 5}, 'memory': {'swap': 1048576}}")));
        assertEquals("/linux/resources/memory/swap", e.pointer());
        assertEquals("/linux/resources/memory/swap: the memory+swap limit 1048576 is below the memory limit 2097152 "
                        + "(swap counts memory and swap together)",
                assertThrows(InvalidSpecException.class, () -> cg.set(Fixture.resources(
                        "{'memory': {'limit': 2097152, 'swap': 1048576}}"))).getMessage());
        assertEquals(List.of(), f.journal.stream().filter(l -> l.startsWith("machine/c1")).toList());
    }

    @Test
    void whatV2CannotDoIsRefusedWithThePointer() {
        assertEquals("/linux/resources/network", refused("{'network': {'classID': 1048577}}"));
        assertEquals("/linux/resources/memory/swappiness", refused("{'memory': {'swappiness': 60}}"));
        assertEquals("/linux/resources/memory/disableOOMKiller", refused("{'memory': {'disableOOMKiller': true}}"));
        assertEquals("/linux/resources/cpu/realtimeRuntime", refused("{'cpu': {'realtimeRuntime': 950000}}"));
        assertEquals("/linux/resources/blockIO/leafWeight", refused("{'blockIO': {'leafWeight': 300}}"));
        assertEquals("/linux/resources/blockIO/weightDevice/0/weight",
                refused("{'blockIO': {'weightDevice': [{'major': 8, 'minor': 0, 'weight': 300}]}}"));
        assertEquals("/linux/resources/unified/a~1b", refused("{'unified': {'a/b': '1'}}"));
        // unset swappiness (-1, or -1 read as uint64) is fine
        cg.set(Fixture.resources("{'memory': {'swappiness': -1, 'disableOOMKiller': false}}"));
    }

    @Test
    void setAttachesTheDeviceProgramOfTheSpecsRulesAndRuncsDefaults() {
        cg.set(Fixture.resources("{'pids': {'limit': 5}, 'devices': [{'allow': false, 'access': 'rwm'}, "
                + "{'allow': true, 'type': 'c', 'major': 10, 'minor': 200, 'access': 'rw'}]}"));
        assertEquals(List.of("machine/c1/pids.max <- 5", "machine/c1 <- bpf device program, 67 instructions"),
                f.journal);
        assertEquals(DeviceFilter.forContainer(List.of(
                new dev.capsa.spec.Resources.DeviceRule(true, "c", 10L, 200L, "rw", null))), f.programs.get(dir));
        // set always converges on the rules, as v1 does: no devices listed gives runc's defaults alone
        cg.set(Fixture.resources("{'pids': {'limit': 6}}"));
        assertEquals(DeviceFilter.forContainer(List.of()), f.programs.get(dir));
    }

    @Test
    void updateReplacesTheDeviceProgramOnlyWhenItNamesDevices() {
        cg.update(Fixture.resources("{'pids': {'limit': 7}}"));
        assertEquals(List.of("machine/c1/pids.max <- 7"), f.journal);
        assertFalse(f.programs.containsKey(dir));
        cg.update(Fixture.resources("{'devices': [{'allow': true, 'type': 'b', 'major': 8, 'access': 'r'}]}"));
        assertEquals(List.of("machine/c1/pids.max <- 7", "machine/c1 <- bpf device program, 66 instructions"),
                f.journal);
    }

    @Test
    void aDeviceRuleRuncRefusesIsRefusedBeforeAnyWrite() {
        // taking mknod out of the default "c *:* m" for one device: v1 would ignore it, runc refuses it
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> cg.set(Fixture.resources(
                "{'pids': {'limit': 5}, 'devices': [{'allow': true, 'type': 'c', 'access': 'm'}, "
                        + "{'allow': false, 'type': 'c', 'major': 1, 'minor': 3, 'access': 'm'}]}")));
        assertEquals("/linux/resources/devices/1", e.pointer());
        assertEquals(List.of(), f.journal);
        assertTrue(f.programs.isEmpty());
    }

    @Test
    void forbiddenValuesAreRefusedBeforeAnyWrite() {
        assertEquals("/linux/resources/cpu/shares", refused("{'pids': {'limit': 3}, 'cpu': {'shares': -2}}"));
        assertEquals("/linux/resources/memory/limit", refused("{'memory': {'limit': -5}}"));
        assertEquals("/linux/resources/cpu/idle", refused("{'cpu': {'idle': 3}}"));
        assertEquals("/linux/resources/hugepageLimits/0/pageSize",
                refused("{'hugepageLimits': [{'pageSize': '2M', 'limit': 1}]}"));
        assertEquals("/linux/resources/blockIO/throttleReadBpsDevice/0/major",
                refused("{'blockIO': {'throttleReadBpsDevice': [{'minor': 0, 'rate': 1}]}}"));
        assertEquals(List.of(), f.journal.stream().filter(l -> l.startsWith("machine/c1")).toList());
    }

    private String refused(String json) {
        return assertThrows(InvalidSpecException.class, () -> cg.set(Fixture.resources(json))).pointer();
    }

    @Test
    void aRefusedWriteNamesPointerValueFileAndErrno() throws Exception {
        Files.delete(dir.resolve("pids.max")); // as when the parent does not delegate pids
        CapsaException e = assertThrows(CapsaException.class, () -> cg.set(Fixture.resources("{'pids': {'limit': 5}}")));
        assertEquals("/linux/resources/pids/limit: writing 5 to " + dir.resolve("pids.max")
                + ": ENOENT (no such file or directory) (is the controller enabled in "
                + root.resolve("machine/cgroup.subtree_control") + "?)", e.getMessage());
    }

    @Test
    void freezeWritesCgroupFreezeAndWaitsForEvents() {
        Fixture.files(dir, "cgroup.events", "populated 1\nfrozen 1\n");
        cg.freeze();
        assertEquals("1", file("cgroup.freeze"));
        assertTrue(cg.frozen());
        Fixture.files(dir, "cgroup.events", "populated 1\nfrozen 0\n");
        cg.thaw();
        assertEquals("0", file("cgroup.freeze"));
        assertFalse(cg.frozen());
    }

    @Test
    void statsInRuncsShape() {
        Fixture.files(dir, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
                        + "throttled_usec 20\n",
                "memory.current", "4096\n", "memory.max", "max\n", "memory.peak", "8192\n",
                "memory.stat", "anon 4096\nfile 0\n", "pids.current", "2\n", "pids.max", "5\n",
                "io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
                "procs", "");
        ObjectNode s = cg.stats();
        assertEquals(1_500_000, s.at("/cpu/usage/total").asLong());
        assertEquals(500_000, s.at("/cpu/usage/kernel").asLong());
        assertEquals(1, s.at("/cpu/throttling/throttledPeriods").asLong());
        assertEquals(4096, s.at("/memory/usage/usage").asLong());
        assertEquals("18446744073709551615", s.at("/memory/usage/limit").asText());
        assertEquals(8192, s.at("/memory/usage/max").asLong());
        assertEquals(2, s.at("/pids/current").asLong());
        assertEquals(5, s.at("/pids/limit").asLong());
        assertEquals("Write", s.at("/blkio/ioServiceBytesRecursive/1/op").asText());
        assertEquals(20, s.at("/blkio/ioServiceBytesRecursive/1/value").asLong());
        assertTrue(s.at("/network_interfaces").isNull());
    }

    @Test
    void pidsAndDestroy() {
        Fixture.files(dir, "cgroup.procs", "12\n13\n");
        Fixture.files(dir.resolve("sub"), "cgroup.procs", "14\n");
        assertEquals(List.of(12L, 13L, 14L), cg.pids().stream().sorted().toList());
        cg.destroy();
        assertFalse(Files.exists(dir));
        assertFalse(cg.exists());
        cg.destroy(); // a second delete finds nothing and is fine
    }

    @Test
    void reopenFindsTheMountFromTheSavedPath() {
        CgroupManager again = CgroupHost.reopen(CgroupMode.V2, cg.paths());
        assertEquals(cg.paths(), again.paths());
    }
}
