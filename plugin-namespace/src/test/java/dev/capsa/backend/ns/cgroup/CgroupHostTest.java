package dev.capsa.backend.ns.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.CapsaException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CgroupHostTest {
    @TempDir
    Path root;

    private static final List<String> SELF = List.of("9:name=systemd:/", "4:memory:/process_api/6b56", "1:cpu:/",
            "0::/");

    @Test
    void unifiedRootWithControllersIsV2() {
        Fixture f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.unifiedMountinfo("cpu memory pids"), root);
        assertEquals(CgroupMode.V2, host.mode());
        CgroupManager m = host.manager(CgroupPath.of("/capsa/c1", "c1", false, () -> "init"), List.of(), f.files);
        assertEquals(Map.of("", root.resolve("capsa/c1")), m.paths());
    }

    @Test
    void hybridIsDrivenAsV1AndJoinsUnifiedAndSystemd() {
        Fixture f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.hybridMountinfo(), root);
        assertEquals(CgroupMode.V1, host.mode());
        Map<String, Path> paths = host.manager(CgroupPath.of("/c1", "c1", false, () -> "init"), SELF, f.files).paths();
        assertEquals(root.resolve("memory/c1"), paths.get("memory"));
        assertEquals(root.resolve("unified/c1"), paths.get(""));
        assertEquals(root.resolve("systemd/c1"), paths.get("name=systemd"));
        assertEquals(10, paths.size());
    }

    @Test
    void relativePathFollowsTheRuntimesCgroupInEachV1Hierarchy() {
        Fixture f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.hybridMountinfo(), root);
        Map<String, Path> paths = host.manager(CgroupPath.of("", "c1", false, () -> "init"), SELF, f.files).paths();
        assertEquals(root.resolve("memory/process_api/6b56/c1"), paths.get("memory"));
        assertEquals(root.resolve("cpu/c1"), paths.get("cpu"));
        assertEquals(root.resolve("pids/c1"), paths.get("pids")); // not in the list: the hierarchy root
    }

    @Test
    void ownDirsAreWhereAMonitorGoesBackToInTheSameHierarchies() {
        Fixture f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.hybridMountinfo(), root);
        Map<String, Path> own = host.ownDirs(SELF);
        Map<String, Path> container = host.manager(CgroupPath.of("/c1", "c1", false, () -> "init"), SELF, f.files)
                .paths();
        assertEquals(container.keySet(), own.keySet());
        assertEquals(root.resolve("memory/process_api/6b56"), own.get("memory"));
        assertEquals(root.resolve("unified"), own.get(""));
        assertEquals(root.resolve("systemd"), own.get("name=systemd"));

        CgroupHost v2 = CgroupHost.detect(new Fixture(root.resolve("v2")).unifiedMountinfo("memory"), root.resolve("v2"));
        assertEquals(Map.of("", root.resolve("v2/user.slice/s.scope")), v2.ownDirs(List.of("0::/user.slice/s.scope")));
    }

    @Test
    void relativePathOnV2GoesUnderTheParentOfTheRuntimesCgroup() {
        Fixture f = new Fixture(root);
        CgroupHost host = CgroupHost.detect(f.unifiedMountinfo("memory"), root);
        CgroupManager m = host.manager(CgroupPath.of("", "c1", false, () -> "init"),
                List.of("0::/user.slice/user-0.slice/session-1.scope"), f.files);
        assertEquals(root.resolve("user.slice/user-0.slice/c1"), m.paths().get(""));
    }

    @Test
    void coMountedControllersShareOneDirectory() {
        Fixture.files(root.resolve("cpu,cpuacct"), "cgroup.procs", "");
        List<String> lines = List.of(Fixture.mountinfo(40, root.resolve("cpu,cpuacct"), "cgroup", "rw,cpu,cpuacct"));
        CgroupHost host = CgroupHost.detect(lines, root);
        CgroupV1 m = (CgroupV1) host.manager(CgroupPath.of("/c1", "c1", false, () -> "init"), List.of(), new CgroupFiles());
        assertEquals(root.resolve("cpu,cpuacct/c1"), m.dir("cpu"));
        assertEquals(root.resolve("cpu,cpuacct/c1"), m.dir("cpuacct"));
        assertEquals(null, m.dir("memory"));
    }

    @Test
    void cgroup2AtTheRootWithoutControllersFileIsNotV2() {
        List<String> lines = new ArrayList<>(List.of(Fixture.mountinfo(30, root, "cgroup2", "rw")));
        CapsaException e = assertThrows(CapsaException.class, () -> CgroupHost.detect(lines, root));
        assertTrue(e.getMessage().startsWith("no cgroup hierarchy is mounted under " + root), e.getMessage());
    }

    @Test
    void mountsOutsideTheRootAreIgnored() {
        List<String> lines = List.of(Fixture.mountinfo(30, Path.of("/elsewhere/memory"), "cgroup", "rw,memory"));
        assertThrows(CapsaException.class, () -> CgroupHost.detect(lines, root));
    }

    @Test
    void ownCgroupsParsesEveryLineKind() {
        Map<String, String> own = CgroupHost.ownCgroups(List.of("2:cpu,cpuacct:/a", "9:name=systemd:/s", "0::/u"));
        assertEquals("/a", own.get("cpu"));
        assertEquals("/a", own.get("cpuacct"));
        assertEquals("/s", own.get("name=systemd"));
        assertEquals("/u", own.get(""));
    }

    @Test
    void theLiveHostIsDetected() {
        // whatever this machine is, detection must give an answer or a clear error, and never write
        try {
            CgroupHost host = CgroupHost.detect();
            assertTrue(host.mounts().size() >= 1);
        } catch (CapsaException e) {
            assertTrue(e.getMessage().startsWith("no cgroup hierarchy"), e.getMessage());
        }
    }
}
