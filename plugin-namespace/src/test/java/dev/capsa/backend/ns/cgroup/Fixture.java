package dev.capsa.backend.ns.cgroup;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.capsa.spec.Json;
import dev.capsa.spec.Resources;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Directories laid out like cgroup mounts, with the control files as plain files, and a journal
 * of every write (a plain file keeps only the last of several writes, the kernel takes each).
 */
final class Fixture {
    final Path root;
    final List<String> journal = new ArrayList<>();
    /** The device program each directory got last, in place of the kernel's BPF_CGROUP_DEVICE attachment. */
    final Map<Path, DeviceFilter.Program> programs = new LinkedHashMap<>();
    final CgroupFiles files;

    Fixture(Path root) {
        this.root = root;
        this.files = new CgroupFiles((file, value) -> journal.add(root.relativize(file) + " <- " + value),
                new CgroupBpf() {
                    @Override
                    public void replaceDeviceFilter(Path dir, DeviceFilter.Program program, String pointer) {
                        programs.put(dir, program);
                        journal.add(root.relativize(dir) + " <- bpf device program, " + program.insns().size()
                                + " instructions");
                    }

                    @Override
                    public List<Integer> deviceFilters(Path dir) {
                        return programs.containsKey(dir) ? List.of(1) : List.of();
                    }
                });
    }

    /** Writes "name", "content" pairs into {@code dir}, making it. */
    static void files(Path dir, String... nameContent) {
        try {
            Files.createDirectories(dir);
            for (int i = 0; i < nameContent.length; i += 2) {
                Files.writeString(dir.resolve(nameContent[i]), nameContent[i + 1]);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Resources resources(String json) {
        try {
            return Json.mapper().readValue(json.replace('\'', '"'), Resources.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** A mountinfo line for a cgroup mount at {@code point}. */
    static String mountinfo(int id, Path point, String type, String options) {
        return id + " 31 0:" + id + " / " + point + " rw,nosuid,nodev,noexec,relatime shared:" + id + " - " + type + " "
                + type + " " + options;
    }

    /** This build machine's layout, under the fixture root: v1 controllers, name=systemd, a bare unified. */
    List<String> hybridMountinfo() {
        List<String> lines = new ArrayList<>();
        lines.add("31 23 0:28 / " + root + " rw,relatime - tmpfs tmpfs rw,mode=755");
        int id = 32;
        for (String c : List.of("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")) {
            files(root.resolve(c), "cgroup.procs", "");
            lines.add(mountinfo(id++, root.resolve(c), "cgroup", "rw," + c));
        }
        files(root.resolve("systemd"), "cgroup.procs", "");
        lines.add(mountinfo(id++, root.resolve("systemd"), "cgroup", "rw,xattr,name=systemd"));
        files(root.resolve("unified"), "cgroup.procs", "", "cgroup.controllers", "");
        lines.add(mountinfo(id, root.resolve("unified"), "cgroup2", "rw,nsdelegate"));
        files(root.resolve("cpuset"), "cpuset.cpus", "0-3\n", "cpuset.mems", "0\n");
        return lines;
    }

    /** A unified host: cgroup2 at the fixture root offering {@code controllers}. */
    List<String> unifiedMountinfo(String controllers) {
        files(root, "cgroup.controllers", controllers + "\n", "cgroup.subtree_control", "", "cgroup.procs", "");
        return List.of(mountinfo(30, root, "cgroup2", "rw,nsdelegate,memory_recursiveprot"));
    }

    static Map<String, String> map(String... kv) {
        java.util.LinkedHashMap<String, String> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }
}
