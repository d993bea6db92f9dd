package dev.capsa.backend.ns.cgroup;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.spec.Resources;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One container's cgroup, on either cgroup version (youki's seam). Made by
 * {@link CgroupHost#manager(CgroupPath)} at create and by {@link CgroupHost#reopen} afterwards.
 *
 * <p>Lifecycle as the ns backend drives it (dev.capsa.backend.ns.ContainerCgroup): {@link #check}
 * (nothing written yet), {@link #create} and {@link #set} before capsa-init starts; capsa-init
 * then joins the cgroup itself by writing its pid to the cgroup.procs files of {@link #paths()}
 * before it clones the init (runc's order), so {@link #addTask} is for callers that move a
 * process from outside; {@link #freeze}/{@link #thaw} for pause and resume; {@link #update} for
 * update; {@link #pids}, {@link #stats} for ps, kill --all and events; {@link #destroy} at
 * delete, after the caller killed every process in it.
 */
public interface CgroupManager {
    CgroupMode mode();

    /**
     * The container's directories, keyed by hierarchy: v1 by its controllers as mounted ("memory",
     * "cpu,cpuacct", "name=systemd", and "" for the unified hierarchy of a hybrid host); v2 by "".
     * The backend keeps them in the container record for {@link CgroupHost#reopen}.
     */
    Map<String, Path> paths();

    /**
     * Rejects what the spec forbids or this cgroup version cannot do, before anything is written:
     * an {@link dev.capsa.error.InvalidSpecException} whose pointer names the field.
     */
    void check(Resources resources);

    /** Makes the directories (v1: every hierarchy; v2: enabling controllers on the ancestors). Idempotent. */
    void create();

    /** Writes the limits of {@code resources}; a null resources writes nothing. Checks first. */
    void set(Resources resources);

    /**
     * {@link #set} for a running container ({@code runc update}): the same writes, except that the
     * device rules (v1: devices.allow/deny; v2: the eBPF program) are replaced only when
     * {@code resources.devices()} is not null. Rewriting the v1 rules starts with {@code a *:* rwm}
     * in devices.deny, which would deny every device to the running processes for a moment.
     */
    void update(Resources resources);

    /** Moves a process (all its threads) into the cgroup, in every hierarchy. */
    void addTask(long pid);

    /** create, then addTask: runc's Apply. */
    default void apply(long pid) {
        create();
        addTask(pid);
    }

    /** Freezes every process, waiting until the kernel reports the cgroup frozen. */
    void freeze();

    /** Thaws, waiting until the kernel reports the cgroup thawed. */
    void thaw();

    boolean frozen();

    /** The processes in the cgroup and its sub-cgroups (runc ps). */
    List<Long> pids();

    /** runc's {@code events --stats} "data" object: cpu, memory, pids, blkio, hugetlb. */
    ObjectNode stats();

    /**
     * How many processes of the cgroup the OOM killer has killed so far (v1: memory.oom_control's
     * oom_kill, Linux 4.13; v2: memory.events' oom_kill), or -1 when the kernel does not say.
     */
    long oomKills();

    /** Whether the cgroup directory still exists (in any hierarchy). */
    boolean exists();

    /**
     * Removes the directories, sub-cgroups first, retrying EBUSY briefly. Killing the processes
     * is the caller's job: a cgroup with processes cannot be removed. A missing directory is fine.
     */
    void destroy();
}
