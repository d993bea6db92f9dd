package dev.capsa.backend.vm;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.CapabilityNames;
import dev.capsa.os.RlimitNames;
import dev.capsa.spec.Hooks;
import dev.capsa.spec.Linux;
import dev.capsa.spec.Mount;
import dev.capsa.spec.ProcessSpec;
import dev.capsa.spec.Resources;
import dev.capsa.spec.Spec;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * config.json turned into what the guest needs (runc's specconv, for the vm backend): the agent's
 * orders, the guest's memory and vCPUs. A pure function. Fields that would change security and
 * that the guest does not enforce are refused with their JSON pointer; fields that do not apply
 * inside a VM are ignored and listed in docs/vm.md.
 *
 * @param orders the agent's orders before "create", each a list of words (docs/vm.md)
 */
public record GuestPlan(List<List<String>> orders, long memoryMib, int cpus) {
    /** Guest memory when the spec sets no limit. */
    public static final long DEFAULT_MEMORY_MIB = 256;
    /** Added to a memory limit: the guest kernel, the agent and the page cache of 9p need their own. */
    public static final long MEMORY_OVERHEAD_MIB = 64;

    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    // mount(2) flags
    private static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
            MS_REMOUNT = 32, MS_DIRSYNC = 128, MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_BIND = 4096,
            MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;
    private static final Map<String, Long> SET = Map.ofEntries(Map.entry("ro", MS_RDONLY),
            Map.entry("nosuid", MS_NOSUID), Map.entry("nodev", MS_NODEV), Map.entry("noexec", MS_NOEXEC),
            Map.entry("sync", MS_SYNCHRONOUS), Map.entry("dirsync", MS_DIRSYNC), Map.entry("noatime", MS_NOATIME),
            Map.entry("nodiratime", MS_NODIRATIME), Map.entry("relatime", MS_RELATIME),
            Map.entry("strictatime", MS_STRICTATIME));
    private static final Set<String> CLEAR = Set.of("rw", "suid", "dev", "exec", "async", "atime", "diratime",
            "norelatime", "nostrictatime", "private", "rprivate", "shared", "rshared", "slave", "rslave",
            "unbindable", "runbindable");
    private static final Set<String> FSTYPES = Set.of("proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup",
            "cgroup2");

    /** The devices runc makes in a container's /dev (config-linux.md "Default Devices"). */
    private static final List<List<String>> DEFAULT_DEVICES = List.of(
            List.of("mknod", "/dev/null", "0020666", "1", "3"),
            List.of("mknod", "/dev/zero", "0020666", "1", "5"),
            List.of("mknod", "/dev/full", "0020666", "1", "7"),
            List.of("mknod", "/dev/random", "0020666", "1", "8"),
            List.of("mknod", "/dev/urandom", "0020666", "1", "9"),
            List.of("mknod", "/dev/tty", "0020666", "5", "0"),
            List.of("symlink", "/proc/self/fd", "/dev/fd"),
            List.of("symlink", "/proc/self/fd/0", "/dev/stdin"),
            List.of("symlink", "/proc/self/fd/1", "/dev/stdout"),
            List.of("symlink", "/proc/self/fd/2", "/dev/stderr"),
            List.of("symlink", "pts/ptmx", "/dev/ptmx"));

    public static GuestPlan from(Spec spec, boolean foreground) {
        ProcessSpec process = spec.process();
        if (process == null || list(process.args()).isEmpty()) {
            throw new InvalidSpecException("/process/args", "the vm backend needs a process to run");
        }
        refuse(spec);
        List<List<String>> orders = new ArrayList<>();
        if (spec.hostname() != null && !spec.hostname().isEmpty()) {
            orders.add(List.of("hostname", spec.hostname()));
        }
        boolean devMounted = false;
        for (int i = 0; i < list(spec.mounts()).size(); i++) {
            Mount m = list(spec.mounts()).get(i);
            orders.add(mount(m, "/mounts/" + i));
            if ("/dev".equals(m.destination())) {
                devMounted = true;
            }
        }
        if (devMounted) {
            orders.addAll(DEFAULT_DEVICES);
        }
        if (spec.root() != null && Boolean.TRUE.equals(spec.root().readonly())) {
            // after the mounts, whose mount points it may have had to make
            orders.add(List.of("mount", "none", "/", "", Long.toString(MS_REMOUNT | MS_BIND | MS_RDONLY), ""));
        }
        list(process.args()).forEach(a -> orders.add(List.of("arg", a)));
        list(process.env()).forEach(e -> orders.add(List.of("env", e)));
        orders.add(List.of("cwd", process.cwd() == null || process.cwd().isEmpty() ? "/" : process.cwd()));
        ProcessSpec.User user = process.user();
        if (user != null) {
            orders.add(List.of("user", num(user.uid()), num(user.gid()),
                    user.umask() == null ? "-1" : Long.toString(user.umask())));
            List<String> groups = new ArrayList<>(List.of("groups"));
            if (user.additionalGids() != null) {
                user.additionalGids().forEach(g -> groups.add(Long.toString(g)));
            }
            orders.add(groups);
        }
        for (int i = 0; i < list(process.rlimits()).size(); i++) {
            orders.add(rlimit(process.rlimits().get(i), "/process/rlimits/" + i));
        }
        if (Boolean.TRUE.equals(process.noNewPrivileges())) {
            orders.add(List.of("nonewprivs", "1"));
        }
        // runc: without a capabilities object the process keeps the capabilities it has (all, as root)
        ProcessSpec.Capabilities caps = process.capabilities();
        if (caps != null) {
            orders.add(List.of("caps",
                    mask("/process/capabilities/bounding", caps.bounding()),
                    mask("/process/capabilities/effective", caps.effective()),
                    mask("/process/capabilities/permitted", caps.permitted()),
                    mask("/process/capabilities/inheritable", caps.inheritable()),
                    mask("/process/capabilities/ambient", caps.ambient())));
        }
        orders.add(List.of("stdin", foreground ? "1" : "0"));
        orders.add(List.of("exitpoweroff", foreground ? "0" : "1"));
        return new GuestPlan(List.copyOf(orders), memoryMib(spec), cpus(spec));
    }

    private static <T> List<T> list(List<T> l) {
        return l == null ? List.of() : l;
    }

    private static String num(Long v) {
        return v == null ? "0" : Long.toString(v);
    }

    /** Security fields the guest would not enforce, and what cannot reach into a guest. */
    private static void refuse(Spec spec) {
        ProcessSpec p = spec.process();
        if (Boolean.TRUE.equals(p.terminal())) {
            throw new InvalidSpecException("/process/terminal", "the vm backend has no terminal support yet");
        }
        if (p.apparmorProfile() != null && !p.apparmorProfile().isEmpty()) {
            throw new InvalidSpecException("/process/apparmorProfile", "the vm backend does not apply AppArmor profiles");
        }
        if (p.selinuxLabel() != null && !p.selinuxLabel().isEmpty()) {
            throw new InvalidSpecException("/process/selinuxLabel", "the vm backend does not apply SELinux labels");
        }
        Hooks hooks = spec.hooks();
        if (hooks != null && hooks.createContainer() != null && !hooks.createContainer().isEmpty()) {
            throw new InvalidSpecException("/hooks/createContainer", "the vm backend cannot run hooks inside the guest yet");
        }
        if (hooks != null && hooks.startContainer() != null && !hooks.startContainer().isEmpty()) {
            throw new InvalidSpecException("/hooks/startContainer", "the vm backend cannot run hooks inside the guest yet");
        }
        Linux linux = spec.linux();
        if (linux == null) {
            return;
        }
        if (!list(linux.uidMappings()).isEmpty() || !list(linux.gidMappings()).isEmpty()
                || list(linux.namespaces()).stream().anyMatch(n -> "user".equals(n.type()))) {
            throw new InvalidSpecException(!list(linux.uidMappings()).isEmpty() ? "/linux/uidMappings"
                    : "/linux/namespaces", "the vm backend has no user namespaces: the guest is the boundary");
        }
        for (int i = 0; i < list(linux.namespaces()).size(); i++) {
            if (list(linux.namespaces()).get(i).path() != null && !list(linux.namespaces()).get(i).path().isEmpty()) {
                throw new InvalidSpecException("/linux/namespaces/" + i + "/path",
                        "the vm backend cannot join a host namespace");
            }
        }
        if (linux.seccomp() != null) {
            throw new InvalidSpecException("/linux/seccomp", "the vm backend does not apply seccomp filters yet");
        }
        if (!list(linux.devices()).isEmpty()) {
            throw new InvalidSpecException("/linux/devices", "the vm backend cannot pass host devices into the guest");
        }
        if (linux.sysctl() != null && !linux.sysctl().isEmpty()) {
            throw new InvalidSpecException("/linux/sysctl", "the vm backend does not set sysctls in the guest yet");
        }
    }

    /**
     * A capability set as the agent's mask, in decimal. Every name Capsa knows goes in: the guest's
     * kernel, not the host's, is the one that knows them, and the agent leaves out what it does not.
     */
    private static String mask(String pointer, List<String> names) {
        long mask = CapabilityNames.mask(names, CapabilityNames.LAST_KNOWN, null);
        if (mask < 0) {
            int i = (int) (-1L - mask);
            throw new InvalidSpecException(pointer + "/" + i, "unknown capability \"" + names.get(i) + "\"");
        }
        return Long.toString(mask);
    }

    private static List<String> rlimit(ProcessSpec.Rlimit r, String pointer) {
        int number = RlimitNames.number(r.type());
        if (number < 0) {
            throw new InvalidSpecException(pointer + "/type", "unknown rlimit \"" + r.type() + "\"");
        }
        return List.of("rlimit", Integer.toString(number), uint64(r.soft(), pointer + "/soft"),
                uint64(r.hard(), pointer + "/hard"));
    }

    private static String uint64(BigInteger v, String pointer) {
        if (v == null || v.signum() < 0 || v.compareTo(UINT64_MAX) > 0) {
            throw new InvalidSpecException(pointer, "must be a number from 0 to 2^64-1");
        }
        return v.toString();
    }

    private static List<String> mount(Mount m, String pointer) {
        String type = m.type() == null ? "" : m.type();
        if (list(m.options()).contains("bind") || list(m.options()).contains("rbind") || type.equals("bind")) {
            throw new InvalidSpecException(pointer, "bind mounts are not supported by the vm backend yet");
        }
        if (!FSTYPES.contains(type)) {
            throw new InvalidSpecException(pointer + "/type", "the vm backend mounts only " + FSTYPES.stream().sorted()
                    .toList() + " in the guest");
        }
        if (m.destination() == null || !m.destination().startsWith("/")) {
            throw new InvalidSpecException(pointer + "/destination", "must be an absolute path");
        }
        long flags = 0;
        List<String> data = new ArrayList<>();
        for (String o : list(m.options())) {
            if (SET.containsKey(o)) {
                flags |= SET.get(o);
            } else if (CLEAR.contains(o)) {
                if (o.equals("rw")) {
                    flags &= ~MS_RDONLY;
                }
            } else {
                data.add(o);
            }
        }
        // a guest kernel has cgroup v2 only: "cgroup" in a runc spec means the container's cgroup view
        String fstype = type.equals("cgroup") ? "cgroup2" : type;
        String source = m.source() == null || m.source().isEmpty() ? type : m.source();
        return List.of("mount", source, m.destination(), fstype, Long.toString(flags), String.join(",", data));
    }

    /** linux.resources.memory.limit plus the guest's own overhead, or the default. */
    static long memoryMib(Spec spec) {
        Resources r = spec.linux() == null ? null : spec.linux().resources();
        Long limit = r == null || r.memory() == null ? null : r.memory().limit();
        if (limit == null || limit <= 0) {
            return DEFAULT_MEMORY_MIB;
        }
        return (limit + (1 << 20) - 1) / (1 << 20) + MEMORY_OVERHEAD_MIB;
    }

    /** The CPU quota over its period, rounded up; 1 without a quota. */
    static int cpus(Spec spec) {
        Resources r = spec.linux() == null ? null : spec.linux().resources();
        if (r == null || r.cpu() == null || r.cpu().quota() == null || r.cpu().quota() <= 0) {
            return 1;
        }
        BigInteger period = r.cpu().period() == null ? BigInteger.valueOf(100_000) : r.cpu().period();
        if (period.signum() <= 0) {
            return 1;
        }
        long n = BigInteger.valueOf(r.cpu().quota()).add(period).subtract(BigInteger.ONE).divide(period).longValue();
        return (int) Math.max(1, Math.min(n, Runtime.getRuntime().availableProcessors()));
    }
}
