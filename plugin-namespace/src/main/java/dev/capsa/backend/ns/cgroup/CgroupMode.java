package dev.capsa.backend.ns.cgroup;

/**
 * How a host mounts its cgroups. A hybrid host (v1 controllers plus a controller-less cgroup2
 * at /sys/fs/cgroup/unified) is driven as {@link #V1}, as runc does; the process also joins
 * the unified hierarchy there.
 */
public enum CgroupMode {
    /** Legacy or hybrid: one hierarchy per v1 controller (or group of controllers). */
    V1,
    /** Unified: a cgroup2 mounted at /sys/fs/cgroup, with cgroup.controllers. */
    V2
}
