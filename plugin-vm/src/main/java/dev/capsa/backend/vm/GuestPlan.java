package dev.capsa.backend.vm;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.CapabilityNames;
import dev.capsa.os.RlimitNames;
import dev.capsa.os.SeccompCompiler;
import dev.capsa.os.SeccompProgram;
import dev.capsa.spec.Hooks;
import dev.capsa.spec.Linux;
import dev.capsa.spec.Mount;
import dev.capsa.spec.ProcessSpec;
import dev.capsa.spec.Resources;
import dev.capsa.spec.Spec;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * config.json turned into what the guest needs (runc's specconv, for the vm backend): the agent's
 * orders, the guest's memory and vCPUs. A pure function (but for {@code linux.seccomp}, which
 * libseccomp compiles, as for the ns backend). Fields that would change security and
 * that the guest does not enforce are refused with their JSON pointer; fields that do not apply
 * inside a VM are ignored and listed in docs/vm.md.
 *
 * @param orders the agent's orders before "create", each a list of words (docs/vm.md)
 * @param shares the host directories the bind mounts need, each an extra 9p share
 */
public record GuestPlan(List<List<String>> orders, long memoryMib, int cpus, List<Share> shares) {
    /**
     * A host directory shared into the guest for bind mounts: the agent mounts it on
     * {@code /mnt/shares/TAG}, outside the container's root, and binds from there.
     *
     * @param tag      the 9p mount tag, {@code m0}, {@code m1}, ...
     * @param path     the host directory, symlinks resolved
     * @param readOnly shared read-only (QEMU refuses writes too) when every bind from it is read-only
     */
    public record Share(String tag, Path path, boolean readOnly) {
    }

    /** Where the agent mounts the shares (outside the container's root). */
    public static final String SHARES = "/mnt/shares";
    /**
     * microvm has 24 virtio-mmio transports; the rootfs share and the virtio-serial controller take
     * two (measured: QEMU 7.2 refuses a 25th device with "No 'virtio-bus' bus found").
     */
    public static final int MAX_SHARES = 22;

    /** Guest memory when the spec sets no limit. */
    public static final long DEFAULT_MEMORY_MIB = 256;
    /** Added to a memory limit: the guest kernel, the agent and the page cache of 9p need their own. */
    public static final long MEMORY_OVERHEAD_MIB = 64;

    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    // mount(2) flags
    private static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
            MS_REMOUNT = 32, MS_DIRSYNC = 128, MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_BIND = 4096,
            MS_REC = 16384, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;
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

    /** A plan for a spec without bind mounts (or whose bind sources are absolute). */
    public static GuestPlan from(Spec spec, boolean foreground) {
        return from(spec, foreground, Path.of("/"));
    }

    /** @param bundle what relative bind-mount sources are relative to (runc: the bundle) */
    public static GuestPlan from(Spec spec, boolean foreground, Path bundle) {
        return from(spec, foreground, foreground, bundle);
    }

    /**
     * @param stdin whether the guest has a stdin port for the process (a foreground run's, or a
     *              detached container's whose creator's stdin is a pipe); else it reads /dev/null
     */
    public static GuestPlan from(Spec spec, boolean foreground, boolean stdin, Path bundle) {
        ProcessSpec process = spec.process();
        if (process == null || list(process.args()).isEmpty()) {
            throw new InvalidSpecException("/process/args", "the vm backend needs a process to run");
        }
        refuse(spec, foreground);
        List<List<String>> orders = new ArrayList<>();
        if (spec.hostname() != null && !spec.hostname().isEmpty()) {
            orders.add(List.of("hostname", spec.hostname()));
        }
        boolean devMounted = false;
        Map<Path, Share> shares = shares(spec, bundle);
        List<String> shared = new ArrayList<>();
        for (int i = 0; i < list(spec.mounts()).size(); i++) {
            Mount m = list(spec.mounts()).get(i);
            if (isBind(m)) {
                orders.addAll(bind(m, "/mounts/" + i, bundle, shares, shared));
                continue;
            }
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
        orders.addAll(processOrders(process));
        SeccompProgram seccomp = spec.linux() == null ? null : SeccompCompiler.compile(spec.linux().seccomp());
        if (seccomp != null) {
            // the guest is x86_64 like the host, so the host's libseccomp compiles for it
            orders.add(List.of("seccomp", Long.toString(seccomp.flags()), HexFormat.of().formatHex(seccomp.bpf())));
        }
        orders.add(List.of("stdin", stdin ? "1" : "0"));
        orders.add(List.of("exitpoweroff", foreground ? "0" : "1"));
        return new GuestPlan(List.copyOf(orders), memoryMib(spec), cpus(spec), List.copyOf(shares.values()));
    }

    /**
     * The orders that describe a process (args, env, cwd, user, groups, rlimits, no_new_privs,
     * capabilities): the container's before "create", an exec'd one's after "newexec".
     */
    public static List<List<String>> processOrders(ProcessSpec process) {
        if (process == null || list(process.args()).isEmpty()) {
            throw new InvalidSpecException("/process/args", "the vm backend needs a process to run");
        }
        List<List<String>> orders = new ArrayList<>();
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
        if (Boolean.TRUE.equals(process.terminal())) {
            // an exec'd process, or a detached container's with --console-socket
            ProcessSpec.ConsoleSize size = process.consoleSize();
            orders.add(List.of("terminal", size == null ? "0" : num(size.height()),
                    size == null ? "0" : num(size.width())));
        }
        ProcessSpec.Capabilities caps = process.capabilities();
        if (caps != null) {
            orders.add(List.of("caps",
                    mask("/process/capabilities/bounding", caps.bounding()),
                    mask("/process/capabilities/effective", caps.effective()),
                    mask("/process/capabilities/permitted", caps.permitted()),
                    mask("/process/capabilities/inheritable", caps.inheritable()),
                    mask("/process/capabilities/ambient", caps.ambient())));
        }
        return orders;
    }

    private static <T> List<T> list(List<T> l) {
        return l == null ? List.of() : l;
    }

    private static String num(Long v) {
        return v == null ? "0" : Long.toString(v);
    }

    /** Security fields the guest would not enforce, and what cannot reach into a guest. */
    private static void refuse(Spec spec, boolean foreground) {
        ProcessSpec p = spec.process();
        if (Boolean.TRUE.equals(p.terminal()) && foreground) {
            // a detached one gets its terminal through --console-socket (VmBackend.create)
            throw new InvalidSpecException("/process/terminal", "the vm backend cannot relay the caller's terminal "
                    + "yet: create the container with --console-socket");
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

    private static boolean isBind(Mount m) {
        return "bind".equals(m.type()) || list(m.options()).contains("bind") || list(m.options()).contains("rbind");
    }

    /** A bind mount's host source: absolute, or relative to the bundle (runc), symlinks resolved. */
    private static Path source(Mount m, String pointer, Path bundle) {
        if (m.source() == null || m.source().isEmpty()) {
            throw new InvalidSpecException(pointer + "/source", "a bind mount needs a source");
        }
        Path p = bundle.resolve(m.source());
        try {
            return p.toRealPath();
        } catch (IOException e) {
            throw new InvalidSpecException(pointer + "/source", "cannot bind " + p + ": no such file or directory");
        }
    }

    /** Whether the mount asks for read-only; the last of ro/rw wins, as in mount(8). */
    private static boolean readOnly(Mount m) {
        boolean ro = false;
        for (String o : list(m.options())) {
            if (o.equals("ro")) {
                ro = true;
            } else if (o.equals("rw")) {
                ro = false;
            }
        }
        return ro;
    }

    /**
     * The shares the bind mounts need, in the order of the mounts: a directory is shared itself; a
     * regular file through its parent directory (9p shares directories only), which the guest then
     * sees, though the container sees only the file. A directory shared by several binds is shared
     * once, read-only only when all of them are.
     */
    private static Map<Path, Share> shares(Spec spec, Path bundle) {
        Map<Path, Boolean> readOnly = new LinkedHashMap<>();
        for (int i = 0; i < list(spec.mounts()).size(); i++) {
            Mount m = list(spec.mounts()).get(i);
            if (!isBind(m)) {
                continue;
            }
            String pointer = "/mounts/" + i;
            Path src = source(m, pointer, bundle);
            Path dir;
            if (Files.isDirectory(src)) {
                dir = src;
            } else if (Files.isRegularFile(src)) {
                dir = src.getParent();
            } else {
                throw new InvalidSpecException(pointer + "/source", "the vm backend binds directories and regular "
                        + "files only, not " + src);
            }
            readOnly.merge(dir, readOnly(m), Boolean::logicalAnd);
            if (readOnly.size() > MAX_SHARES) {
                throw new InvalidSpecException(pointer, "the vm backend shares at most " + MAX_SHARES
                        + " host directories for bind mounts (microvm's virtio-mmio slots)");
            }
        }
        Map<Path, Share> shares = new LinkedHashMap<>();
        readOnly.forEach((dir, ro) -> shares.put(dir, new Share("m" + shares.size(), dir, ro)));
        return shares;
    }

    /**
     * A bind mount: the share's mount on /mnt/shares/TAG the first time it is needed, then a bind
     * from there to the destination. The agent makes a missing destination as a directory or a
     * file, like the source, and applies ro, nosuid, nodev, noexec with a remount of the bind.
     */
    private static List<List<String>> bind(Mount m, String pointer, Path bundle, Map<Path, Share> shares,
                                           List<String> shared) {
        if (m.destination() == null || !m.destination().startsWith("/")) {
            throw new InvalidSpecException(pointer + "/destination", "must be an absolute path");
        }
        Path src = source(m, pointer, bundle);
        boolean dir = Files.isDirectory(src);
        Share share = shares.get(dir ? src : src.getParent());
        List<List<String>> orders = new ArrayList<>();
        if (!shared.contains(share.tag())) {
            shared.add(share.tag());
            orders.add(List.of("share", share.tag(), share.readOnly() ? "1" : "0"));
        }
        long flags = MS_BIND | (list(m.options()).contains("rbind") ? MS_REC : 0);
        for (String o : list(m.options())) {
            if (SET.containsKey(o)) {
                flags |= SET.get(o);
            } else if (o.equals("rw")) {
                flags &= ~MS_RDONLY;
            }
            // propagation, bind/rbind and anything else mean nothing for a bind of a 9p share
        }
        String from = SHARES + "/" + share.tag() + (dir ? "" : "/" + src.getFileName());
        orders.add(List.of("mount", from, m.destination(), "", Long.toString(flags), ""));
        return orders;
    }

    private static List<String> mount(Mount m, String pointer) {
        String type = m.type() == null ? "" : m.type();
        if (!FSTYPES.contains(type)) {
            throw new InvalidSpecException(pointer + "/type", "the vm backend mounts only " + FSTYPES.stream().sorted()
                    .toList() + " in the guest");
        }
        if (m.destination() == null || !m.destination().startsWith("/")) {
            throw new InvalidSpecException(pointer + "/destination", "must be an absolute path");
        }
        long flags = 0;
        List<String> data = new ArrayList<>();
        boolean copyUp = false;
        for (String o : list(m.options())) {
            if (o.equals("tmpcopyup")) {
                if (!type.equals("tmpfs")) {
                    throw new InvalidSpecException(pointer + "/options", "tmpcopyup is an option of tmpfs only");
                }
                copyUp = true; // runc's: the image's files under the destination are copied into the tmpfs
            } else if (SET.containsKey(o)) {
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
        List<String> order = List.of("mount", source, m.destination(), fstype, Long.toString(flags),
                String.join(",", data));
        if (copyUp) {
            order = new ArrayList<>(order);
            order.add("copyup");
        }
        return order;
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
