package dev.capsa.backend.ns.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class CgroupPathTest {
    private static CgroupPath of(String path) {
        return CgroupPath.of(path, "c1", false, () -> "init");
    }

    @Test
    void absolutePathIsCleanedAndStaysAbsolute() {
        CgroupPath p = of("//machine.slice/./c1/");
        assertEquals("/machine.slice/c1", p.inner());
        assertTrue(p.absolute());
        assertEquals(Path.of("/sys/fs/cgroup/memory/machine.slice/c1"),
                p.in(Path.of("/sys/fs/cgroup/memory"), "/process_api/x"));
    }

    @Test
    void relativePathGoesUnderTheRuntimesOwnCgroup() {
        CgroupPath p = of("pods/c1");
        assertFalse(p.absolute());
        assertEquals(Path.of("/sys/fs/cgroup/memory/process_api/x/pods/c1"),
                p.in(Path.of("/sys/fs/cgroup/memory"), "/process_api/x"));
        assertEquals(Path.of("/sys/fs/cgroup/cpu/pods/c1"), p.in(Path.of("/sys/fs/cgroup/cpu"), "/"));
    }

    @Test
    void emptyPathIsTheIdRelativeAsInRunc() {
        // specconv: cgroupfs with no cgroupsPath sets Name = id and Path = "", a relative inner path
        assertEquals("c1", of("").inner());
        assertEquals("c1", of(null).inner());
        assertFalse(of(null).absolute());
    }

    @Test
    void dotDotIsRefusedWithThePointer() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> of("/a/../../etc"));
        assertEquals("/linux/cgroupsPath", e.pointer());
        assertEquals("/linux/cgroupsPath: \"/a/../../etc\" must not contain \"..\"", e.getMessage());
        assertThrows(InvalidSpecException.class, () -> of("../x"));
    }

    @Test
    void theRootCgroupIsRefused() {
        assertEquals("/linux/cgroupsPath", assertThrows(InvalidSpecException.class, () -> of("/")).pointer());
    }

    @Test
    void systemdCgroupWithoutSystemdSaysWhatToDo() {
        CapsaException e = assertThrows(CapsaException.class,
                () -> CgroupPath.of("system.slice:capsa:c1", "c1", true, () -> "process_api"));
        assertEquals("--systemd-cgroup needs systemd (pid 1 is process_api); drop the flag to use cgroupfs",
                e.getMessage());
    }

    @Test
    void systemdCgroupUnderSystemdIsNotBuiltYet() {
        CapsaException e = assertThrows(CapsaException.class,
                () -> CgroupPath.of("system.slice:capsa:c1", "c1", true, () -> "systemd"));
        assertTrue(e.getMessage().startsWith("--systemd-cgroup is not supported yet"), e.getMessage());
    }
}
