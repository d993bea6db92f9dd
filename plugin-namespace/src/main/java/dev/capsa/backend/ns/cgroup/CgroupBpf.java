package dev.capsa.backend.ns.cgroup;

import java.nio.file.Path;
import java.util.List;

/**
 * The eBPF side of a cgroup v2 directory (the OS seam of the device controller): {@link LinuxCgroupBpf}
 * makes the bpf(2) calls, tests pass a recording fake.
 */
interface CgroupBpf {
    /**
     * Loads {@code program} and attaches it to the cgroup {@code dir} as its BPF_CGROUP_DEVICE program
     * (BPF_F_ALLOW_MULTI), then detaches the device programs attached there before, as runc does on
     * update: for a moment both are in force, and a device is then allowed only if both allow it.
     * {@code pointer} is the spec field an error names.
     */
    void replaceDeviceFilter(Path dir, DeviceFilter.Program program, String pointer);

    /** The ids of the device programs attached to {@code dir} itself (BPF_PROG_QUERY). */
    List<Integer> deviceFilters(Path dir);
}
