package dev.capsa.backend.ns;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Linux;
import dev.capsa.spec.ProcessSpec;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The scheduling and security attributes of a process, as capsa-init sets them after
 * no_new_privs: process.scheduler (sched_setattr), ioPriority (ioprio_set), execCPUAffinity
 * (sched_setaffinity, exec'd processes only), the AppArmor profile and SELinux label, and the
 * container-wide linux.personality and linux.memoryPolicy, which runc applies to the init and to
 * exec'd processes alike. Names and ranges are checked here, as runc's specconv and validator
 * check them; what only the kernel can judge (a realtime priority, a node the host lacks) fails in
 * capsa-init with the field's JSON pointer.
 *
 * @param personality  personality(2) persona, or null
 * @param memoryPolicy mode with its flags, and the nodes; null for none
 * @param cpusInitial  exec only: stage 0's CPUs until the process joins the cgroup; empty for none
 * @param cpusFinal    exec only: the process's CPUs after it joined; empty for none
 * @param apparmor     the profile, only on a host with AppArmor enabled
 * @param selinux      the label, only on a host with SELinux enabled
 */
record ProcessAttributes(Scheduler scheduler, Integer ioPriority, Long personality, MemoryPolicy memoryPolicy,
                         List<Integer> cpusInitial, List<Integer> cpusFinal, String apparmor, String selinux) {

    static final ProcessAttributes NONE = new ProcessAttributes(null, null, null, null, List.of(), List.of(), null,
            null);

    /** sched(7) policies by their config.md names. */
    static final Map<String, Integer> POLICIES = Map.of("SCHED_OTHER", 0, "SCHED_FIFO", 1, "SCHED_RR", 2,
            "SCHED_BATCH", 3, "SCHED_ISO", 4, "SCHED_IDLE", 5, "SCHED_DEADLINE", 6);
    /** sched_setattr(2) flags (linux/sched.h). */
    static final Map<String, Long> SCHED_FLAGS = Map.of("SCHED_FLAG_RESET_ON_FORK", 0x01L,
            "SCHED_FLAG_RECLAIM", 0x02L, "SCHED_FLAG_DL_OVERRUN", 0x04L, "SCHED_FLAG_KEEP_POLICY", 0x08L,
            "SCHED_FLAG_KEEP_PARAMS", 0x10L, "SCHED_FLAG_UTIL_CLAMP_MIN", 0x20L, "SCHED_FLAG_UTIL_CLAMP_MAX", 0x40L);
    /** ioprio classes (linux/ioprio.h). */
    static final Map<String, Integer> IO_CLASSES = Map.of("IOPRIO_CLASS_RT", 1, "IOPRIO_CLASS_BE", 2,
            "IOPRIO_CLASS_IDLE", 3);
    /** personality(2) domains config-linux.md names. */
    static final Map<String, Long> PERSONALITIES = Map.of("LINUX", 0x0000L, "LINUX32", 0x0008L);
    /** set_mempolicy(2) modes and mode flags (linux/mempolicy.h), for features.md too. */
    static final Map<String, Integer> MEMORY_MODES = Map.of("MPOL_DEFAULT", 0, "MPOL_PREFERRED", 1, "MPOL_BIND", 2,
            "MPOL_INTERLEAVE", 3, "MPOL_LOCAL", 4, "MPOL_PREFERRED_MANY", 5, "MPOL_WEIGHTED_INTERLEAVE", 6);
    static final Map<String, Integer> MEMORY_FLAGS = Map.of("MPOL_F_NUMA_BALANCING", 1 << 13,
            "MPOL_F_RELATIVE_NODES", 1 << 14, "MPOL_F_STATIC_NODES", 1 << 15);
    /** capsa-init's CPU and node sets hold this many (glibc's CPU_SETSIZE). */
    static final int MAX_CPUS = 1024;
    private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    ProcessAttributes {
        cpusInitial = List.copyOf(cpusInitial);
        cpusFinal = List.copyOf(cpusFinal);
    }

    /** sched_setattr(2)'s struct sched_attr; runtime, deadline and period in nanoseconds (u64). */
    record Scheduler(int policy, long flags, int nice, int priority, BigInteger runtime, BigInteger deadline,
                     BigInteger period) {
    }

    /** set_mempolicy(2): mode ORed with its flags, and the node numbers. */
    record MemoryPolicy(int mode, List<Integer> nodes) {
        MemoryPolicy {
            nodes = List.copyOf(nodes);
        }
    }

    /**
     * The attributes of {@code process} in a container whose config.json has {@code linux}
     * (the container's, also for exec). {@code exec} is true for capsa exec: execCPUAffinity is
     * for exec'd processes alone (config.md), so the init only gets a warning.
     */
    static ProcessAttributes of(ProcessSpec process, Linux linux, HostSecurity host, boolean exec,
                                List<String> warnings) {
        Scheduler scheduler = scheduler(process.scheduler());
        Integer ioPriority = ioPriority(process.ioPriority());
        List<Integer> initial = List.of();
        List<Integer> fin = List.of();
        ProcessSpec.CpuAffinity affinity = process.execCPUAffinity();
        if (affinity != null) {
            initial = cpuList(affinity.initial(), "/process/execCPUAffinity/initial");
            fin = cpuList(affinity.finalCpus(), "/process/execCPUAffinity/final");
            if (!exec && (!initial.isEmpty() || !fin.isEmpty())) {
                warnings.add("process.execCPUAffinity applies to exec'd processes only (config.md); the init"
                        + " keeps the CPUs of its cgroup");
                initial = List.of();
                fin = List.of();
            }
        }
        String apparmor = blankToNull(process.apparmorProfile());
        if (apparmor != null && !host.apparmor()) {
            // runc writes the profile to /proc/self/attr and fails there; this fails before anything exists
            throw new InvalidSpecException("/process/apparmorProfile", "AppArmor is not enabled on this host"
                    + " (/sys/kernel/security/apparmor), so profile \"" + apparmor + "\" cannot be applied");
        }
        String selinux = blankToNull(process.selinuxLabel());
        if (selinux != null && !host.selinux()) {
            // runc's validator: "selinux label is specified in config, but selinux is disabled or not supported"
            throw new InvalidSpecException("/process/selinuxLabel",
                    "SELinux is disabled or not supported on this host (no /sys/fs/selinux)");
        }
        Long personality = null;
        MemoryPolicy memoryPolicy = null;
        if (linux != null) {
            personality = personality(linux.personality(), warnings);
            memoryPolicy = memoryPolicy(linux.memoryPolicy());
        }
        return new ProcessAttributes(scheduler, ioPriority, personality, memoryPolicy, initial, fin, apparmor,
                selinux);
    }

    /**
     * The container-wide fields with no per-process part: intelRdt (needs resctrl, which this
     * backend does not drive) and mountLabel (SELinux only). Called once per create.
     */
    static void checkContainer(Linux linux, HostSecurity host) {
        if (linux.intelRdt() != null) {
            throw new InvalidSpecException("/linux/intelRdt", host.resctrl()
                    ? "Intel RDT (resctrl) is not supported by the ns backend yet"
                    : "Intel RDT needs the resctrl filesystem, which is not mounted on this host (/sys/fs/resctrl)");
        }
        if (blankToNull(linux.mountLabel()) != null && !host.selinux()) {
            // runc hands the label to the mounts as context=, which a kernel without SELinux refuses
            throw new InvalidSpecException("/linux/mountLabel",
                    "SELinux is disabled or not supported on this host (no /sys/fs/selinux)");
        }
    }

    /**
     * go-selinux FormatMountLabel: {@code context="LABEL"} added to a mount's data, for the mount
     * types runc labels (not proc, sysfs, mqueue, cgroup; bind mounts take no data).
     */
    static String labelMountData(String data, String type, boolean bind, String mountLabel) {
        if (mountLabel == null || mountLabel.isEmpty() || bind
                || List.of("proc", "sysfs", "mqueue", "cgroup", "cgroup2").contains(type)) {
            return data;
        }
        String context = "context=\"" + mountLabel + "\"";
        return data == null || data.isEmpty() ? context : data + "," + context;
    }

    private static Scheduler scheduler(ProcessSpec.Scheduler s) {
        if (s == null) {
            return null;
        }
        String at = "/process/scheduler";
        if (s.policy() == null || s.policy().isEmpty()) {
            throw new InvalidSpecException(at + "/policy", "required (runc: scheduler policy is required)");
        }
        Integer policy = POLICIES.get(s.policy());
        if (policy == null) {
            throw new InvalidSpecException(at + "/policy", "unknown policy \"" + s.policy() + "\" (one of "
                    + new TreeSet<>(POLICIES.keySet()) + ")");
        }
        int nice = s.nice() == null ? 0 : s.nice();
        if (nice < -20 || nice > 19) {
            throw new InvalidSpecException(at + "/nice", "must be -20 to 19, not " + nice);
        }
        int priority = s.priority() == null ? 0 : s.priority();
        if (priority != 0 && policy != 1 && policy != 2) {
            throw new InvalidSpecException(at + "/priority", "only SCHED_FIFO and SCHED_RR take a priority");
        }
        if (priority < 0) {
            throw new InvalidSpecException(at + "/priority", "must not be negative");
        }
        BigInteger runtime = u64(s.runtime(), at + "/runtime");
        BigInteger deadline = u64(s.deadline(), at + "/deadline");
        BigInteger period = u64(s.period(), at + "/period");
        if (policy != 6 && (runtime.signum() != 0 || deadline.signum() != 0 || period.signum() != 0)) {
            throw new InvalidSpecException(at, "runtime, deadline and period are for SCHED_DEADLINE only");
        }
        long flags = 0;
        List<String> names = s.flags() == null ? List.of() : s.flags();
        for (int i = 0; i < names.size(); i++) {
            Long flag = SCHED_FLAGS.get(names.get(i));
            if (flag == null) {
                throw new InvalidSpecException(at + "/flags/" + i, "unknown flag \"" + names.get(i) + "\"");
            }
            flags |= flag;
        }
        return new Scheduler(policy, flags, nice, priority, runtime, deadline, period);
    }

    private static BigInteger u64(BigInteger value, String at) {
        if (value == null) {
            return BigInteger.ZERO;
        }
        if (value.signum() < 0 || value.compareTo(U64_MAX) > 0) {
            throw new InvalidSpecException(at, "must be 0 to " + U64_MAX);
        }
        return value;
    }

    /**
     * class << 13 | priority (linux/ioprio.h). config.md's levels are 0 to 7; since Linux 6.5 the
     * kernel reads bits 3 to 12 as hints, so a larger number would quietly mean something else.
     */
    private static Integer ioPriority(ProcessSpec.IoPriority p) {
        if (p == null) {
            return null;
        }
        Integer ioClass = IO_CLASSES.get(p.ioClass());
        if (ioClass == null) {
            throw new InvalidSpecException("/process/ioPriority/class", "unknown class \"" + p.ioClass()
                    + "\" (one of " + new TreeSet<>(IO_CLASSES.keySet()) + ")");
        }
        int priority = p.priority() == null ? 0 : p.priority();
        if (priority < 0 || priority > 7) {
            throw new InvalidSpecException("/process/ioPriority/priority", "must be 0 to 7");
        }
        return ioClass << 13 | priority;
    }

    private static Long personality(Linux.Personality p, List<String> warnings) {
        if (p == null) {
            return null;
        }
        Long persona = PERSONALITIES.get(p.domain());
        if (persona == null) {
            throw new InvalidSpecException("/linux/personality/domain", "unknown domain \"" + p.domain()
                    + "\" (LINUX or LINUX32)");
        }
        if (p.flags() != null && !p.flags().isEmpty()) {
            // as runc: config-linux.md defines no flags yet
            warnings.add("linux.personality.flags " + p.flags() + " are not supported; ignored");
        }
        return persona;
    }

    private static MemoryPolicy memoryPolicy(Linux.MemoryPolicy m) {
        if (m == null) {
            return null;
        }
        String at = "/linux/memoryPolicy";
        Integer mode = MEMORY_MODES.get(m.mode());
        if (mode == null) {
            throw new InvalidSpecException(at + "/mode", "unknown mode \"" + m.mode() + "\" (one of "
                    + new TreeSet<>(MEMORY_MODES.keySet()) + ")");
        }
        List<String> names = m.flags() == null ? List.of() : m.flags();
        for (int i = 0; i < names.size(); i++) {
            Integer flag = MEMORY_FLAGS.get(names.get(i));
            if (flag == null) {
                throw new InvalidSpecException(at + "/flags/" + i, "unknown flag \"" + names.get(i) + "\"");
            }
            mode |= flag;
        }
        return new MemoryPolicy(mode, cpuList(m.nodes(), at + "/nodes"));
    }

    /** A list such as "0-3,7" (cpuset(7)'s list format) as sorted numbers; empty for null or "". */
    static List<Integer> cpuList(String text, String at) {
        if (text == null || text.isBlank()) {
            return List.of();
        }
        TreeSet<Integer> found = new TreeSet<>();
        for (String part : text.trim().split(",")) {
            String[] range = part.trim().split("-", -1);
            try {
                int from = Integer.parseInt(range[0].trim());
                int to = range.length == 2 ? Integer.parseInt(range[1].trim()) : from;
                if (range.length > 2 || from < 0 || to < from) {
                    throw new NumberFormatException();
                }
                if (to >= MAX_CPUS) {
                    throw new InvalidSpecException(at, "numbers must be below " + MAX_CPUS + ", not " + to);
                }
                for (int i = from; i <= to; i++) {
                    found.add(i);
                }
            } catch (NumberFormatException e) {
                throw new InvalidSpecException(at, "\"" + text + "\" is not a list such as \"0-3,7\"");
            }
        }
        return List.copyOf(found);
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    /** capsa-init's records for these attributes (see capsa-init.c). */
    void encode(LaunchPlan.Writer w) {
        if (scheduler != null) {
            w.record("scheduler", Integer.toString(scheduler.policy()), Long.toString(scheduler.flags()),
                    Integer.toString(scheduler.nice()), Integer.toString(scheduler.priority()),
                    scheduler.runtime().toString(), scheduler.deadline().toString(), scheduler.period().toString());
        }
        if (ioPriority != null) {
            w.record("ioprio", Integer.toString(ioPriority));
        }
        if (memoryPolicy != null) {
            List<String> fields = new ArrayList<>();
            fields.add(Integer.toString(memoryPolicy.mode()));
            memoryPolicy.nodes().forEach(n -> fields.add(Integer.toString(n)));
            w.record("mempolicy", fields.toArray(String[]::new));
        }
        affinity(w, "initial", cpusInitial);
        affinity(w, "final", cpusFinal);
        if (personality != null) {
            w.record("personality", Long.toString(personality));
        }
        if (apparmor != null) {
            w.record("apparmor", apparmor);
        }
        if (selinux != null) {
            w.record("selinux", selinux);
        }
    }

    private static void affinity(LaunchPlan.Writer w, String which, List<Integer> cpus) {
        if (cpus.isEmpty()) {
            return;
        }
        List<String> fields = new ArrayList<>();
        fields.add(which);
        cpus.forEach(c -> fields.add(Integer.toString(c)));
        w.record("affinity", fields.toArray(String[]::new));
    }
}
