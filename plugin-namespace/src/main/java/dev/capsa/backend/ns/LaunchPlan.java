package dev.capsa.backend.ns;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.RlimitNames;
import dev.capsa.os.SeccompCompiler;
import dev.capsa.os.SeccompProgram;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Hooks;
import dev.capsa.spec.IdMapping;
import dev.capsa.spec.Json;
import dev.capsa.spec.Linux;
import dev.capsa.spec.Mount;
import dev.capsa.spec.ProcessSpec;
import dev.capsa.spec.Spec;
import dev.capsa.spi.CreateOptions;
import dev.capsa.state.OciState;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Everything capsa-init does for one container, worked out from the spec once, at the edge
 * (runc's specconv): namespaces as clone flags, mounts as mount(2) arguments, capabilities as
 * masks, rlimits as numbers. {@link #from} is a pure function; {@link #encode} writes the flat
 * format documented at the top of {@code src/main/c/capsa-init.c}.
 *
 * <p>What this slice of the ns backend does not do is refused here with the JSON pointer of the
 * field, never ignored: joining a mount namespace by path, seccomp
 * notify, netDevices, AppArmor and SELinux labels on a host without that module, Intel RDT,
 * idmapped mounts, and process.terminal without
 * a console socket. A pid namespace (new or joined by path) and a new mount namespace are required:
 * without them kill --all and the mount steps would act on the host. {@code linux.resources} and {@code cgroupsPath} are the
 * cgroup package's to check ({@link ContainerCgroup}); the plan only carries the cgroup.procs
 * files to join ({@link PlanCgroup}).
 */
record LaunchPlan(
        long cloneFlags,
        List<String> namespacePaths,
        boolean joinedUserns,
        List<Long> timeOffsets,
        String uidMap,
        String gidMap,
        boolean foreground,
        Path exitFile,
        String hostname,
        String domainname,
        boolean loopback,
        long propagation,
        long rootPropagation,
        Path rootfs,
        List<RootfsStep> rootfsSteps,
        Path fifo,
        boolean pivot,
        List<PlanSysctl> sysctls,
        List<String> maskedPaths,
        List<String> readonlyPaths,
        boolean rootReadonly,
        PlanProcess process,
        PlanHooks hooks,
        PlanCgroup cgroup,
        List<String> warnings) {

    static final long CLONE_NEWTIME = 0x80;
    static final long CLONE_NEWNS = 0x20000;
    static final long CLONE_NEWCGROUP = 0x02000000;
    static final long CLONE_NEWUTS = 0x04000000;
    static final long CLONE_NEWIPC = 0x08000000;
    static final long CLONE_NEWUSER = 0x10000000;
    static final long CLONE_NEWPID = 0x20000000;
    static final long CLONE_NEWNET = 0x40000000;

    /** The namespace types this backend creates, for features.md. */
    static final Map<String, Long> NAMESPACES = Map.of(
            "pid", CLONE_NEWPID, "mount", CLONE_NEWNS, "uts", CLONE_NEWUTS, "ipc", CLONE_NEWIPC,
            "network", CLONE_NEWNET, "cgroup", CLONE_NEWCGROUP, "user", CLONE_NEWUSER, "time", CLONE_NEWTIME);

    /**
     * The types a container may join by path: capsa-init's stage 0 joins them before the clone. A
     * joined pid namespace (podman --pid container:X) makes the init a child there, not its pid 1;
     * kill --all, ps and delete go by the container's cgroup, never by the pid namespace. A joined
     * user namespace comes first (it gives the rights for the rest) and the init becomes its root.
     * Not mount: stage 0 keeps working with host paths (the rootfs, the fifo, the cgroup files).
     */
    static final Set<String> JOINABLE = Set.of("network", "ipc", "uts", "cgroup", "pid", "user", "time");

    private static final String NOT_YET = "not supported by the ns backend yet";

    /** What capsa-init does inside the rootfs before pivot_root, in order; paths are inside the rootfs. */
    sealed interface RootfsStep {
    }

    /** One mount(2); {@code copyUp}: a tmpfs that gets a copy of what the image has at its destination. */
    record PlanMount(String source, String destination, String type, long flags, String data, boolean bind,
                     long propagation, boolean copyUp, long recSet, long recClr) implements RootfsStep {
        PlanMount(String source, String destination, String type, long flags, String data, boolean bind,
                  long propagation) {
            this(source, destination, type, flags, data, bind, propagation, false);
        }

        PlanMount(String source, String destination, String type, long flags, String data, boolean bind,
                  long propagation, boolean copyUp) {
            this(source, destination, type, flags, data, bind, propagation, copyUp, 0, 0);
        }
    }

    /** A per-mount flag change (MS_BIND|MS_REMOUNT) once what is mounted below is in place. */
    record PlanRemount(String destination, long flags) implements RootfsStep {
    }

    /** A device node; mode holds the S_IF* type bits and the permissions. */
    record PlanDevice(String path, long mode, long major, long minor, long uid, long gid) implements RootfsStep {
    }

    record PlanSymlink(String target, String path) implements RootfsStep {
    }

    record PlanMkdir(String path) implements RootfsStep {
    }

    /**
     * One cgroup v1 hierarchy at {@code destination} in a container without a cgroup namespace: as
     * runc, a bind mount of the container's own cgroup directory in that hierarchy, which is known
     * only once the cgroup exists ({@link PlanCgroup#dirIn}); {@code flags} are the cgroup mount's.
     */
    record PlanCgroupBind(CgroupHierarchy hierarchy, String destination, long flags) implements RootfsStep {
    }

    /** A cgroup v1 hierarchy of the host: its directory under /sys/fs/cgroup and its mount data ("cpu"). */
    record CgroupHierarchy(String name, String type, String data) {
    }

    /** key is the path under /proc/sys ("net/ipv4/ip_forward"); field the JSON pointer an error names. */
    record PlanSysctl(String key, String value, String field) {
    }

    record PlanRlimit(int resource, BigInteger soft, BigInteger hard) {
    }

    record CapabilitySets(long bounding, long effective, long permitted, long inheritable, long ambient) {
    }

    /**
     * What the plan needs to know about the host, so that {@link #from} stays pure. On a cgroup v1
     * (or hybrid) host, {@code cgroupV1} lists the hierarchies under /sys/fs/cgroup and
     * {@code cgroupLinks} its symlinks ("cpu" -> "cpu,cpuacct").
     */
    record Host(boolean unifiedCgroup, int lastCap, List<CgroupHierarchy> cgroupV1, Map<String, String> cgroupLinks,
                boolean timeNamespaces, HostSecurity security, Predicate<String> hostNetns) {
        Host(boolean unifiedCgroup, int lastCap) {
            this(unifiedCgroup, lastCap, List.of(), Map.of(), true);
        }

        Host(boolean unifiedCgroup, int lastCap, List<CgroupHierarchy> cgroupV1, Map<String, String> cgroupLinks) {
            this(unifiedCgroup, lastCap, cgroupV1, cgroupLinks, true);
        }

        Host(boolean unifiedCgroup, int lastCap, List<CgroupHierarchy> cgroupV1, Map<String, String> cgroupLinks,
             boolean timeNamespaces) {
            this(unifiedCgroup, lastCap, cgroupV1, cgroupLinks, timeNamespaces, HostSecurity.NONE, path -> false);
        }

        Host withTimeNamespaces(boolean supported) {
            return new Host(unifiedCgroup, lastCap, cgroupV1, cgroupLinks, supported, security, hostNetns);
        }

        /**
         * This host with its security modules, and {@code hostNetns} telling whether a namespace path
         * is the runtime's own network namespace (runc refuses net.* sysctls there).
         */
        Host withSecurity(HostSecurity s, Predicate<String> isHostNetns) {
            return new Host(unifiedCgroup, lastCap, cgroupV1, cgroupLinks, timeNamespaces, s, isHostNetns);
        }
    }

    /**
     * The cgroup.procs files stage 0 writes its pid to before any setns or clone ({@code join}:
     * the container's, in every hierarchy), and after the clone when it stays as a monitor
     * ({@code leave}: capsa's own), as runc joins the cgroup before nsexec makes the cgroup namespace.
     */
    record PlanCgroup(List<Path> join, List<Path> leave) {
        static final PlanCgroup NONE = new PlanCgroup(List.of(), List.of());

        PlanCgroup {
            join = List.copyOf(join);
            leave = List.copyOf(leave);
        }

        /** The container's directory in the hierarchy mounted at /sys/fs/cgroup/NAME, or null. */
        Path dirIn(String hierarchy) {
            Path mountPoint = Path.of("/sys/fs/cgroup", hierarchy);
            for (Path procs : join) {
                Path dir = procs.getParent();
                if (dir != null && dir.startsWith(mountPoint)) {
                    return dir;
                }
            }
            return null;
        }

        void encode(Writer w) {
            if (!join.isEmpty()) {
                w.record("cgroupjoin", join.stream().map(Path::toString).toArray(String[]::new));
            }
            if (!leave.isEmpty()) {
                w.record("cgroupleave", leave.stream().map(Path::toString).toArray(String[]::new));
            }
        }
    }

    /** Where the backend keeps this container's files on the host. */
    record Files(Path fifo, Path exitFile) {
    }

    /** A config.json hook for capsa-init; timeout in seconds, 0 for none. */
    record PlanHook(String phase, String path, long timeout, List<String> args, List<String> env) {
    }

    /** A state JSON split around its pid: capsa-init puts the init's host pid in between. */
    record HookState(String prefix, String suffix) {
        private static final String PID = "\"pid\":0";

        static HookState of(OciState state) {
            String json;
            try {
                json = Json.mapper().writeValueAsString(state);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException("cannot write the hooks' state", e);
            }
            // the first "pid":0 is the member's: a quote inside a string value is escaped, and
            // the annotations come after the pid (OciState's property order)
            int at = json.indexOf(PID);
            return new HookState(json.substring(0, at + PID.length() - 1), json.substring(at + PID.length()));
        }
    }

    /** The in-container hooks of a plan and the two states they get. */
    record PlanHooks(List<PlanHook> hooks, HookState creating, HookState created) {
        static final PlanHooks NONE = new PlanHooks(List.of(), null, null);
    }

    /**
     * The process part, the same for create and exec: what capsa-init applies after the
     * namespaces and the rootfs, just before execve.
     */
    record PlanProcess(
            List<String> args,
            List<String> env,
            String cwd,
            long uid,
            long gid,
            long umask,
            List<Long> additionalGids,
            List<PlanRlimit> rlimits,
            CapabilitySets capabilities,
            boolean noNewPrivileges,
            String sessionKeyring,
            Integer oomScoreAdj,
            Console console,
            PreservedFds preservedFds,
            SeccompProgram seccomp,
            ProcessAttributes attributes) {
    }

    /** process.terminal: the socket that receives the pty master, and the size (0 0: the kernel's default). */
    record Console(Path socket, long rows, long cols) {
    }

    /**
     * Descriptors of process {@code pid} (the capsa JVM) that become the process's 3, 4, ... in
     * this order: systemd's LISTEN_FDS first, then --preserve-fds.
     */
    record PreservedFds(long pid, List<Integer> fds) {
        static final PreservedFds NONE = new PreservedFds(0, List.of());
    }

    /** The caller's side of --preserve-fds and socket activation, so that {@link #from} stays pure. */
    record Caller(long pid, int listenFds) {
        static final Caller NONE = new Caller(0, 0);
    }

    // runc's default devices (libcontainer/specconv AllowedDevices minus the wildcard rules)
    private static final long S_IFCHR = 0020000;
    private static final long S_IFBLK = 0060000;
    private static final long S_IFIFO = 0010000;
    private static final List<PlanDevice> DEFAULT_DEVICES = List.of(
            new PlanDevice("/dev/null", S_IFCHR | 0666, 1, 3, 0, 0),
            new PlanDevice("/dev/zero", S_IFCHR | 0666, 1, 5, 0, 0),
            new PlanDevice("/dev/full", S_IFCHR | 0666, 1, 7, 0, 0),
            new PlanDevice("/dev/random", S_IFCHR | 0666, 1, 8, 0, 0),
            new PlanDevice("/dev/urandom", S_IFCHR | 0666, 1, 9, 0, 0),
            new PlanDevice("/dev/tty", S_IFCHR | 0666, 5, 0, 0, 0));
    private static final List<PlanSymlink> DEV_SYMLINKS = List.of(
            new PlanSymlink("/proc/self/fd", "/dev/fd"),
            new PlanSymlink("/proc/self/fd/0", "/dev/stdin"),
            new PlanSymlink("/proc/self/fd/1", "/dev/stdout"),
            new PlanSymlink("/proc/self/fd/2", "/dev/stderr"),
            new PlanSymlink("pts/ptmx", "/dev/ptmx"));

    /** Sysctls a container may set, by the namespace that isolates them (runc's validator). */
    private static final Set<String> IPC_SYSCTLS = Set.of("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
            "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced");

    /**
     * The plan for container {@code id}. Throws {@link InvalidSpecException} naming the field for
     * anything the ns backend cannot do yet.
     */
    static LaunchPlan from(String id, Spec spec, Path bundle, CreateOptions options, Files files, Host host) {
        return from(id, spec, bundle, options, files, host, Caller.NONE);
    }

    static LaunchPlan from(String id, Spec spec, Path bundle, CreateOptions options, Files files, Host host,
                           Caller caller) {
        ProcessSpec process = spec.process();
        if (process == null) {
            throw new InvalidSpecException("/process", "required to create a container");
        }

        Linux linux = spec.linux() != null ? spec.linux()
                : new Linux(null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
                        null, null, null);
        checkLinux(linux);
        ProcessAttributes.checkContainer(linux, host.security());
        List<String> namespacePaths = new ArrayList<>();
        Set<String> types = new java.util.HashSet<>();
        long cloneFlags = cloneFlags(linux, namespacePaths, types, host.timeNamespaces());
        boolean newUserns = (cloneFlags & CLONE_NEWUSER) != 0;
        boolean joinedUserns = types.contains("user") && !newUserns;
        // in a user namespace, new or joined: no mknod, no cgroup v1 mount
        boolean userns = newUserns || joinedUserns;
        String uidMap = idMap(linux.uidMappings(), "/linux/uidMappings", newUserns);
        String gidMap = idMap(linux.gidMappings(), "/linux/gidMappings", newUserns);
        List<Long> timeOffsets = timeOffsets(linux.timeOffsets(), (cloneFlags & CLONE_NEWTIME) != 0);
        boolean uts = types.contains("uts");
        if (spec.hostname() != null && !uts) {
            throw new InvalidSpecException("/hostname", "needs a new uts namespace in /linux/namespaces");
        }
        if (spec.domainname() != null && !uts) {
            throw new InvalidSpecException("/domainname", "needs a new uts namespace in /linux/namespaces");
        }

        long propagation = MountOptions.MS_SLAVE | MountOptions.MS_REC;
        long rootPropagation = 0;
        if (linux.rootfsPropagation() != null) {
            Long flag = MountOptions.PROPAGATION.get(linux.rootfsPropagation());
            if (flag == null) {
                throw new InvalidSpecException("/linux/rootfsPropagation",
                        "unknown propagation \"" + linux.rootfsPropagation() + "\"");
            }
            propagation = flag;
            rootPropagation = flag;
        }

        Path root = Path.of(spec.root().path());
        Path rootfs = (root.isAbsolute() ? root : bundle.resolve(root)).normalize();

        List<RootfsStep> steps = new ArrayList<>();
        boolean devIsBind = false;
        for (int i = 0; i < list(spec.mounts()).size(); i++) {
            Mount m = spec.mounts().get(i);
            String at = "/mounts/" + i;
            if (m.uidMappings() != null || m.gidMappings() != null) {
                throw new InvalidSpecException(at + "/uidMappings", "idmapped mounts are " + NOT_YET);
            }
            MountOptions o = MountOptions.parse(m.options(), m.type(), at);
            String type = m.type() == null ? "" : m.type();
            if (type.isEmpty() && !o.bind()) {
                throw new InvalidSpecException(at + "/type", "required unless the options hold bind or rbind");
            }
            if ("cgroup".equals(type) && host.unifiedCgroup()) {
                type = "cgroup2"; // what runc mounts for "cgroup" on a cgroup v2 host
            } else if ("cgroup".equals(type) && !o.bind() && userns) {
                // the kernel refuses a cgroup v1 mount in a user namespace; runc binds the host's instead
                throw new InvalidSpecException(at, "a cgroup v1 mount inside a user namespace is " + NOT_YET);
            } else if ("cgroup".equals(type) && !o.bind()) {
                steps.addAll(cgroupV1(clean(m.destination()), o, host, types.contains("cgroup")));
                continue;
            }
            String source = m.source() == null ? type : m.source();
            if (o.bind()) {
                Path src = Path.of(source);
                source = (src.isAbsolute() ? src : bundle.resolve(src)).normalize().toString();
            }
            String destination = clean(m.destination());
            if (destination.equals("/dev") && o.bind()) {
                devIsBind = true;
            }
            // runc: the mount label as context= (checkContainer refused it unless SELinux is enabled)
            String data = ProcessAttributes.labelMountData(o.data(), type, o.bind(), linux.mountLabel());
            steps.add(new PlanMount(source, destination, type, o.flags(), data, o.bind(), o.propagation(),
                    o.copyUp(), o.recSet(), o.recClr()));
        }

        if (steps.stream().noneMatch(s -> s instanceof PlanMount m && m.destination().equals("/proc")
                && m.type().equals("proc"))) {
            // capsa-init reopens the exec fifo through /proc/self/fd after pivot_root, as runc does
            throw new InvalidSpecException("/mounts", "the ns backend needs a proc mount at /proc");
        }
        List<PlanDevice> devices = new ArrayList<>();
        if (!devIsBind) {
            devices.addAll(DEFAULT_DEVICES);
        }
        for (int i = 0; i < list(linux.devices()).size(); i++) {
            devices.add(device(linux.devices().get(i), "/linux/devices/" + i));
        }
        for (PlanDevice d : devices) {
            // mknod is refused inside a user namespace: runc bind-mounts the host's node instead
            steps.add(userns ? new PlanMount(d.path(), d.path(), "", MountOptions.MS_BIND, "", true, 0) : d);
        }
        if (!devIsBind) {
            steps.addAll(DEV_SYMLINKS);
        }

        List<PlanSysctl> sysctls = new ArrayList<>();
        for (Map.Entry<String, String> e : map(linux.sysctl()).entrySet()) {
            sysctls.add(sysctl(e.getKey(), e.getValue(), types, linux, host));
        }

        List<String> warnings = new ArrayList<>();
        PlanProcess planProcess = process(process, options.consoleSocket(), !options.foreground(),
                options.preserveFds(), options.noNewKeyring() ? null : "_ses." + id, caller, host.lastCap(), warnings,
                SeccompCompiler.compile(linux.seccomp()), linux, host.security(), false);
        steps.add(new PlanMkdir(planProcess.cwd())); // runc creates a missing cwd inside the rootfs

        return new LaunchPlan(
                cloneFlags,
                List.copyOf(namespacePaths),
                joinedUserns,
                timeOffsets,
                uidMap,
                gidMap,
                options.foreground(),
                files.exitFile(),
                spec.hostname(),
                spec.domainname(),
                (cloneFlags & CLONE_NEWNET) != 0,
                propagation,
                rootPropagation,
                rootfs,
                List.copyOf(steps),
                files.fifo(),
                !options.noPivot(),
                List.copyOf(sysctls),
                list(linux.maskedPaths()).stream().map(LaunchPlan::clean).toList(),
                list(linux.readonlyPaths()).stream().map(LaunchPlan::clean).toList(),
                spec.root().readonly() != null && spec.root().readonly(),
                planProcess,
                hooks(id, spec, bundle),
                PlanCgroup.NONE,
                List.copyOf(warnings));
    }

    /** This plan with the container's cgroup to join (and, for a monitor, capsa's own to go back to). */
    LaunchPlan withCgroup(PlanCgroup c) {
        return new LaunchPlan(cloneFlags, namespacePaths, joinedUserns, timeOffsets, uidMap, gidMap, foreground, exitFile, hostname, domainname,
                loopback, propagation, rootPropagation, rootfs, rootfsSteps, fifo, pivot, sysctls, maskedPaths,
                readonlyPaths, rootReadonly, process, hooks, c, warnings);
    }

    /**
     * The process part of a plan, for create and for exec. {@code detached} is false when the
     * caller waits in the foreground; runc refuses a console socket there, and a terminal without
     * one would need capsa to relay the caller's terminal, which it cannot do yet.
     */
    static PlanProcess process(ProcessSpec process, Path consoleSocket, boolean detached, int preserveFds,
                               String sessionKeyring, Caller caller, int lastCap, List<String> warnings,
                               SeccompProgram seccomp, Linux container, HostSecurity security, boolean exec) {
        if (process.args() == null || process.args().isEmpty()) {
            throw new InvalidSpecException("/process/args", "required: the command to run");
        }
        refuse(process.commandLine(), "/process/commandLine");
        ProcessAttributes attributes = ProcessAttributes.of(process, container, security, exec, warnings);
        boolean terminal = Boolean.TRUE.equals(process.terminal());
        Console console = null;
        if (terminal && consoleSocket == null) {
            throw new InvalidSpecException("/process/terminal", "process.terminal requires --console-socket"
                    + " (capsa cannot relay the caller's terminal yet; run detached with a console socket)");
        }
        if (consoleSocket != null && !terminal) {
            throw new InvalidSpecException("/process/terminal",
                    "--console-socket needs process.terminal true (runc: cannot use console socket if it will not"
                            + " allocate a tty)");
        }
        if (consoleSocket != null && !detached) {
            throw new InvalidSpecException("", "--console-socket needs --detach (runc: cannot use console socket"
                    + " if runc will not detach)");
        }
        if (terminal) {
            ProcessSpec.ConsoleSize size = process.consoleSize();
            long rows = size == null || size.height() == null ? 0 : size.height();
            long cols = size == null || size.width() == null ? 0 : size.width();
            if (rows > 0xffff || cols > 0xffff) {
                throw new InvalidSpecException("/process/consoleSize", "height and width must fit in 16 bits");
            }
            console = new Console(consoleSocket, rows, cols);
        }
        if (preserveFds < 0) {
            throw new InvalidSpecException("", "--preserve-fds must not be negative");
        }
        List<String> env = new ArrayList<>(list(process.env()));
        List<Integer> fds = new ArrayList<>();
        // runc: descriptors from socket activation come first, then --preserve-fds after them
        for (int i = 0; i < caller.listenFds() + preserveFds; i++) {
            fds.add(3 + i);
        }
        if (caller.listenFds() > 0) {
            env.add("LISTEN_FDS=" + caller.listenFds());
            env.add("LISTEN_PID=1");
        }
        if (!fds.isEmpty() && caller.pid() <= 0) {
            throw new IllegalArgumentException("preserved descriptors need the caller's pid");
        }
        String cwd = process.cwd() == null ? "/" : clean(process.cwd());
        ProcessSpec.User user = process.user() == null ? new ProcessSpec.User(0, 0) : process.user();
        List<PlanRlimit> rlimits = new ArrayList<>();
        for (int i = 0; i < list(process.rlimits()).size(); i++) {
            ProcessSpec.Rlimit r = process.rlimits().get(i);
            int number = RlimitNames.number(r.type());
            if (number < 0) {
                throw new InvalidSpecException("/process/rlimits/" + i + "/type", "unknown rlimit \"" + r.type() + "\"");
            }
            rlimits.add(new PlanRlimit(number, r.soft(), r.hard()));
        }
        // runc: without a capabilities object the process keeps the capabilities it has (all, as root)
        CapabilitySets caps = process.capabilities() == null ? null
                : new CapabilitySets(
                        mask(process.capabilities().bounding(), "/process/capabilities/bounding", lastCap, warnings),
                        mask(process.capabilities().effective(), "/process/capabilities/effective", lastCap, warnings),
                        mask(process.capabilities().permitted(), "/process/capabilities/permitted", lastCap, warnings),
                        mask(process.capabilities().inheritable(), "/process/capabilities/inheritable", lastCap,
                                warnings),
                        mask(process.capabilities().ambient(), "/process/capabilities/ambient", lastCap, warnings));
        return new PlanProcess(
                process.args(),
                List.copyOf(env),
                cwd,
                user.uid() == null ? 0 : user.uid(),
                user.gid() == null ? 0 : user.gid(),
                user.umask() == null ? -1 : user.umask(),
                list(user.additionalGids()),
                List.copyOf(rlimits),
                caps,
                Boolean.TRUE.equals(process.noNewPrivileges()),
                sessionKeyring,
                process.oomScoreAdj(),
                console,
                fds.isEmpty() ? PreservedFds.NONE : new PreservedFds(caller.pid(), List.copyOf(fds)),
                seccomp,
                attributes);
    }

    /** A uid_map or gid_map (user_namespaces(7)): one "inside outside count" line per mapping. */
    private static String idMap(List<IdMapping> mappings, String at, boolean userns) {
        if (list(mappings).isEmpty()) {
            if (userns) {
                throw new InvalidSpecException(at, "required with a new user namespace");
            }
            return null;
        }
        if (!userns) {
            throw new InvalidSpecException(at, "needs a new user namespace in /linux/namespaces");
        }
        StringBuilder map = new StringBuilder();
        for (int i = 0; i < mappings.size(); i++) {
            IdMapping m = mappings.get(i);
            if (m.containerID() == null || m.hostID() == null || m.size() == null || m.size() <= 0) {
                throw new InvalidSpecException(at + "/" + i, "containerID, hostID and a positive size are required");
            }
            map.append(m.containerID()).append(' ').append(m.hostID()).append(' ').append(m.size()).append('\n');
        }
        return map.toString();
    }

    private static <T> List<T> list(List<T> list) {
        return list == null ? List.of() : list;
    }

    private static <V> Map<String, V> map(Map<String, V> map) {
        return map == null ? Map.of() : map;
    }

    private static void refuse(Object value, String pointer) {
        if (value != null) {
            throw new InvalidSpecException(pointer, NOT_YET);
        }
    }

    /**
     * The config.json hooks capsa-init runs inside the container, and their state: runtime.md's
     * state of the container with status "creating" (createContainer) or "created" (startContainer,
     * as runc gives it), and the init's pid in the host's pid namespace, which only capsa-init knows.
     */
    static PlanHooks hooks(String id, Spec spec, Path bundle) {
        Hooks hooks = spec.hooks();
        if (hooks == null || (hooks.of("createContainer").isEmpty() && hooks.of("startContainer").isEmpty())) {
            return PlanHooks.NONE;
        }
        List<PlanHook> list = new ArrayList<>();
        for (String phase : List.of("createContainer", "startContainer")) {
            for (Hook h : hooks.of(phase)) {
                list.add(new PlanHook(phase, h.path(), h.timeout() == null ? 0 : h.timeout(), list(h.args()),
                        list(h.env())));
            }
        }
        Map<String, String> annotations = spec.annotations() == null || spec.annotations().isEmpty() ? null
                : spec.annotations();
        return new PlanHooks(List.copyOf(list),
                HookState.of(new OciState(spec.ociVersion(), id, "creating", 0L, bundle.toString(), annotations)),
                HookState.of(new OciState(spec.ociVersion(), id, "created", 0L, bundle.toString(), annotations)));
    }

    private static void checkLinux(Linux linux) {
        if (!map(linux.netDevices()).isEmpty()) {
            throw new InvalidSpecException("/linux/netDevices", NOT_YET);
        }
    }

    /**
     * config-linux.md timeOffsets as the four numbers of capsa-init's timeoffsets record (monotonic
     * secs and nanosecs, boottime secs and nanosecs), empty without offsets. They need a new time
     * namespace: a joined one is already in use, and its offsets can no longer change.
     */
    static List<Long> timeOffsets(Map<String, Linux.TimeOffset> offsets, boolean newTimeNamespace) {
        if (map(offsets).isEmpty()) {
            return List.of();
        }
        if (!newTimeNamespace) {
            throw new InvalidSpecException("/linux/timeOffsets", "needs a new time namespace in /linux/namespaces");
        }
        long[] numbers = new long[4];
        for (Map.Entry<String, Linux.TimeOffset> e : offsets.entrySet()) {
            String at = "/linux/timeOffsets/" + e.getKey();
            int base = switch (e.getKey()) {
                case "monotonic" -> 0;
                case "boottime" -> 2;
                default -> throw new InvalidSpecException(at, "unknown clock (monotonic or boottime)");
            };
            Linux.TimeOffset o = e.getValue();
            long nanos = o == null || o.nanosecs() == null ? 0 : o.nanosecs();
            if (nanos < 0 || nanos >= 1_000_000_000L) {
                throw new InvalidSpecException(at + "/nanosecs", "must be 0 to 999999999");
            }
            numbers[base] = o == null || o.secs() == null ? 0 : o.secs();
            numbers[base + 1] = nanos;
        }
        return List.of(numbers[0], numbers[1], numbers[2], numbers[3]);
    }

    /**
     * The clone flags of the new namespaces; {@code paths} gets those to join (a user namespace
     * first), {@code types} every type.
     */
    private static long cloneFlags(Linux linux, List<String> paths, Set<String> types, boolean timeNamespaces) {
        long flags = 0;
        for (int i = 0; i < list(linux.namespaces()).size(); i++) {
            Linux.Namespace ns = linux.namespaces().get(i);
            String at = "/linux/namespaces/" + i;
            Long flag = NAMESPACES.get(ns.type());
            if (flag == null) {
                throw new InvalidSpecException(at + "/type", "\"" + ns.type() + "\" namespaces are " + NOT_YET);
            }
            if (!types.add(ns.type())) {
                throw new InvalidSpecException(at + "/type", "\"" + ns.type() + "\" is listed twice");
            }
            if (ns.type().equals("time") && !timeNamespaces) {
                throw new InvalidSpecException(at + "/type", "this kernel has no time namespaces (Linux 5.6 or newer"
                        + " with CONFIG_TIME_NS)");
            }
            if (ns.path() != null && !ns.path().isEmpty()) {
                if (!JOINABLE.contains(ns.type())) {
                    throw new InvalidSpecException(at + "/path", "joining an existing " + ns.type()
                            + " namespace is " + NOT_YET);
                }
                if (!ns.path().startsWith("/")) {
                    throw new InvalidSpecException(at + "/path", "must be an absolute path");
                }
                if (ns.type().equals("user")) {
                    paths.add(0, ns.path());
                } else {
                    paths.add(ns.path());
                }
                continue;
            }
            flags |= flag;
        }
        if ((flags & CLONE_NEWPID) == 0 && !types.contains("pid")) {
            throw new InvalidSpecException("/linux/namespaces",
                    "the ns backend needs a new or joined pid namespace (sharing the host's is " + NOT_YET + ")");
        }
        if ((flags & CLONE_NEWNS) == 0) {
            throw new InvalidSpecException("/linux/namespaces",
                    "the ns backend needs a new mount namespace (sharing the host's is " + NOT_YET + ")");
        }
        return flags;
    }

    /**
     * A "cgroup" mount on a cgroup v1 host, as runc lays it out: a tmpfs, one mount per host
     * hierarchy under it (with a cgroup namespace, a mount of the hierarchy, which shows the
     * container's own cgroup as its root; without one, a bind mount of the container's own cgroup
     * directory, as runc's mountCgroupV1 does), read-only when asked, the host's links between
     * comounted controllers, and the tmpfs made read-only last.
     */
    private static List<RootfsStep> cgroupV1(String dest, MountOptions o, Host host, boolean cgroupns) {
        List<RootfsStep> steps = new ArrayList<>();
        long flags = o.flags() & ~MountOptions.MS_RDONLY;
        steps.add(new PlanMount("tmpfs", dest, "tmpfs", flags, "mode=755", false, 0));
        for (CgroupHierarchy h : host.cgroupV1()) {
            steps.add(cgroupns
                    ? new PlanMount(h.type(), dest + "/" + h.name(), h.type(), o.flags(), h.data(), false, 0)
                    : new PlanCgroupBind(h, dest + "/" + h.name(), o.flags()));
        }
        host.cgroupLinks().forEach((name, target) -> steps.add(new PlanSymlink(target, dest + "/" + name)));
        if ((o.flags() & MountOptions.MS_RDONLY) != 0) {
            steps.add(new PlanRemount(dest, o.flags()));
        }
        return steps;
    }

    /**
     * The cgroup v1 hierarchies of a host from its /proc/self/mountinfo: the cgroup and cgroup2
     * mounts directly under /sys/fs/cgroup, with their super options minus rw/ro as mount data.
     */
    static List<CgroupHierarchy> cgroupHierarchies(List<String> mountinfo) {
        List<CgroupHierarchy> found = new ArrayList<>();
        for (String line : mountinfo) {
            int dash = line.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String[] left = line.substring(0, dash).split(" ");
            String[] right = line.substring(dash + 3).split(" ");
            if (left.length < 5 || right.length < 3) {
                continue;
            }
            String mountPoint = left[4];
            String type = right[0];
            if (!(type.equals("cgroup") || type.equals("cgroup2")) || !mountPoint.startsWith("/sys/fs/cgroup/")) {
                continue;
            }
            String name = mountPoint.substring("/sys/fs/cgroup/".length());
            if (name.isEmpty() || name.contains("/")) {
                continue;
            }
            List<String> data = new ArrayList<>();
            for (String option : right[2].split(",")) {
                if (!option.equals("rw") && !option.equals("ro")) {
                    data.add(option);
                }
            }
            found.add(new CgroupHierarchy(name, type, type.equals("cgroup2") ? "" : String.join(",", data)));
        }
        return found;
    }

    private static PlanDevice device(Linux.Device d, String at) {
        long kind = switch (d.type() == null ? "" : d.type()) {
            case "c", "u" -> S_IFCHR;
            case "b" -> S_IFBLK;
            case "p" -> S_IFIFO;
            default -> throw new InvalidSpecException(at + "/type", "unknown device type \"" + d.type() + "\"");
        };
        if (d.path() == null || !d.path().startsWith("/")) {
            throw new InvalidSpecException(at + "/path", "must be an absolute path");
        }
        if (kind != S_IFIFO && (d.major() == null || d.minor() == null)) {
            throw new InvalidSpecException(at, "major and minor are required for a \"" + d.type() + "\" device");
        }
        long mode = d.fileMode() == null ? 0666 : d.fileMode() & 07777;
        return new PlanDevice(clean(d.path()), kind | mode, d.major() == null ? 0 : d.major(),
                d.minor() == null ? 0 : d.minor(), d.uid() == null ? 0 : d.uid(), d.gid() == null ? 0 : d.gid());
    }

    /**
     * One linux.sysctl entry, checked as runc's validator checks it: the ipc keys need an ipc
     * namespace, net.* a network namespace that is not the runtime's own, kernel.domainname a uts
     * namespace, kernel.hostname is refused (config.md's hostname field sets it), and anything else
     * would change the host. As runc, "net/ipv4/ip_forward" is the same key as "net.ipv4.ip_forward".
     */
    private static PlanSysctl sysctl(String key, String value, Set<String> types, Linux linux, Host host) {
        String at = "/linux/sysctl/" + key.replace("~", "~0").replace("/", "~1");
        // runc's convertSysctlVariableToDotsSeparator: a key whose first separator is '/' has '.' and '/' swapped
        int firstSep = indexOfAny(key, "./");
        boolean slashes = firstSep >= 0 && key.charAt(firstSep) == '/';
        String dotted = slashes ? swapDotsAndSlashes(key) : key;
        String path = slashes ? key : key.replace('.', '/');
        if (key.isEmpty() || key.startsWith("/") || key.startsWith(".") || path.contains("//")
                || List.of(path.split("/")).contains("..")) {
            throw new InvalidSpecException(at, "not a sysctl name");
        }
        boolean allowed;
        if (IPC_SYSCTLS.contains(dotted) || dotted.startsWith("fs.mqueue.")) {
            allowed = types.contains("ipc");
        } else if (dotted.startsWith("net.")) {
            if (types.contains("network") && joinsHostNetns(linux, host)) {
                throw new InvalidSpecException(at, "sysctl \"" + dotted + "\" is not allowed in the host's network"
                        + " namespace");
            }
            allowed = types.contains("network");
        } else if (dotted.equals("kernel.hostname") && types.contains("uts")) {
            throw new InvalidSpecException(at, "sysctl \"kernel.hostname\" is not allowed: it conflicts with the"
                    + " hostname field (/hostname)");
        } else if (dotted.equals("kernel.domainname")) {
            allowed = types.contains("uts");
        } else {
            throw new InvalidSpecException(at, "sysctl \"" + dotted + "\" is not in any namespace the container has"
                    + " and would change the host");
        }
        if (!allowed) {
            throw new InvalidSpecException(at, "sysctl \"" + dotted + "\" needs its namespace in /linux/namespaces");
        }
        return new PlanSysctl(path, value, at);
    }

    private static boolean joinsHostNetns(Linux linux, Host host) {
        for (Linux.Namespace ns : list(linux.namespaces())) {
            if ("network".equals(ns.type()) && ns.path() != null && !ns.path().isEmpty()) {
                return host.hostNetns().test(ns.path());
            }
        }
        return false;
    }

    private static int indexOfAny(String s, String chars) {
        for (int i = 0; i < s.length(); i++) {
            if (chars.indexOf(s.charAt(i)) >= 0) {
                return i;
            }
        }
        return -1;
    }

    private static String swapDotsAndSlashes(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            b.append(c == '.' ? '/' : c == '/' ? '.' : c);
        }
        return b.toString();
    }

    private static long mask(List<String> names, String at, int lastCap, List<String> warnings) {
        long mask = 0;
        for (int i = 0; names != null && i < names.size(); i++) {
            String name = names.get(i);
            int number = Capabilities.number(name);
            if (number < 0) {
                throw new InvalidSpecException(at + "/" + i, "unknown capability \"" + name + "\"");
            }
            if (number > lastCap) {
                // runc: a capability this kernel does not know is skipped with a warning
                String warning = "capability " + name + " is not known to this kernel; skipped";
                if (!warnings.contains(warning)) {
                    warnings.add(warning);
                }
                continue;
            }
            mask |= 1L << number;
        }
        return mask;
    }

    /** Go's filepath.Clean of an absolute path: no "//", no "." and no trailing "/". */
    static String clean(String path) {
        List<String> parts = new ArrayList<>();
        for (String part : path.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (!parts.isEmpty()) {
                    parts.remove(parts.size() - 1);
                }
                continue;
            }
            parts.add(part);
        }
        return "/" + String.join("/", parts);
    }

    // ---- the wire format (see capsa-init.c)

    byte[] encode() {
        Writer w = new Writer();
        w.record("version", "1");
        cgroup.encode(w);
        w.record("clone", Long.toString(cloneFlags));
        for (String path : namespacePaths) {
            w.record("setns", path);
        }
        if (joinedUserns) {
            w.record("joineduserns");
        }
        if (!timeOffsets.isEmpty()) {
            w.record("timeoffsets", timeOffsets.stream().map(String::valueOf).toArray(String[]::new));
        }
        if (uidMap != null) {
            w.record("uidmap", uidMap);
        }
        if (gidMap != null) {
            w.record("gidmap", gidMap);
        }
        w.record("foreground", foreground ? "1" : "0");
        if (exitFile != null) {
            w.record("exitfile", exitFile.toString());
        }
        if (hostname != null) {
            w.record("hostname", hostname);
        }
        if (domainname != null) {
            w.record("domainname", domainname);
        }
        if (loopback) {
            w.record("loopback");
        }
        w.record("propagation", Long.toString(propagation));
        w.record("rootfs", rootfs.toString());
        for (RootfsStep step : rootfsSteps) {
            switch (step) {
                case PlanMount m when m.recSet() != 0 || m.recClr() != 0 -> w.record("mount", m.source(),
                        m.destination(), m.type(), Long.toString(m.flags()), m.data(), m.bind() ? "1" : "0",
                        Long.toString(m.propagation()), m.copyUp() ? "1" : "0", Long.toString(m.recSet()),
                        Long.toString(m.recClr()));
                case PlanMount m -> w.record("mount", m.source(), m.destination(), m.type(), Long.toString(m.flags()),
                        m.data(), m.bind() ? "1" : "0", Long.toString(m.propagation()), m.copyUp() ? "1" : "0");
                case PlanRemount r -> w.record("remount", r.destination(), Long.toString(r.flags()));
                case PlanDevice d -> w.record("device", d.path(), Long.toString(d.mode()), Long.toString(d.major()),
                        Long.toString(d.minor()), Long.toString(d.uid()), Long.toString(d.gid()));
                case PlanSymlink l -> w.record("symlink", l.target(), l.path());
                case PlanMkdir d -> w.record("mkdir", d.path());
                case PlanCgroupBind b -> {
                    Path dir = cgroup.dirIn(b.hierarchy().name());
                    if (dir == null) {
                        // create always gives the container a directory in every hierarchy
                        throw new IllegalStateException("no cgroup directory of the container in "
                                + b.hierarchy().name() + " to bind on " + b.destination());
                    }
                    w.record("mount", dir.toString(), b.destination(), "", Long.toString(b.flags()), "", "1", "0",
                            "0");
                }
            }
        }
        w.record("fifo", fifo.toString());
        w.record("sync");
        w.record("pivot", pivot ? "1" : "0");
        if (rootPropagation != 0) {
            w.record("rootpropagation", Long.toString(rootPropagation));
        }
        for (PlanSysctl s : sysctls) {
            if (s.field() == null) {
                w.record("sysctl", s.key(), s.value());
            } else {
                w.record("sysctl", s.key(), s.value(), s.field());
            }
        }
        for (String p : maskedPaths) {
            w.record("masked", p);
        }
        for (String p : readonlyPaths) {
            w.record("readonly", p);
        }
        if (rootReadonly) {
            w.record("rootreadonly");
        }
        if (process.console() != null) {
            w.record("consolemount"); // runc binds the pty slave on /dev/console for the init
        }
        encodeProcess(w, process);
        for (PlanHook h : hooks.hooks()) {
            List<String> fields = new ArrayList<>(List.of(h.phase(), h.path(), Long.toString(h.timeout()),
                    Integer.toString(h.args().size())));
            fields.addAll(h.args());
            fields.addAll(h.env());
            w.record("hook", fields.toArray(String[]::new));
        }
        if (!hooks.hooks().isEmpty()) {
            w.record("hookstate", "createContainer", hooks.creating().prefix(), hooks.creating().suffix());
            w.record("hookstate", "startContainer", hooks.created().prefix(), hooks.created().suffix());
        }
        encodeFault(w);
        w.record("end");
        return w.bytes();
    }

    /** A test's fault for one of capsa-init's own steps ({@link dev.capsa.fault.Faults}): nothing when unset. */
    static void encodeFault(Writer w) {
        dev.capsa.fault.Faults.forInit().ifPresent(f -> w.record("fault", f.step().key(), f.action().key()));
    }

    /** The process records, shared by create and exec plans. */
    static void encodeProcess(Writer w, PlanProcess p) {
        if (p.sessionKeyring() != null) {
            w.record("keyring", p.sessionKeyring());
        }
        if (p.oomScoreAdj() != null) {
            w.record("oomscoreadj", Integer.toString(p.oomScoreAdj()));
        }
        if (p.console() != null) {
            w.record("console", p.console().socket().toString());
            if (p.console().rows() > 0 && p.console().cols() > 0) {
                w.record("consolesize", Long.toString(p.console().rows()), Long.toString(p.console().cols()));
            }
        }
        if (!p.preservedFds().fds().isEmpty()) {
            List<String> fields = new ArrayList<>();
            fields.add(Long.toString(p.preservedFds().pid()));
            p.preservedFds().fds().forEach(fd -> fields.add(Integer.toString(fd)));
            w.record("preservefds", fields.toArray(String[]::new));
        }
        for (String a : p.args()) {
            w.record("arg", a);
        }
        for (String e : p.env()) {
            w.record("env", e);
        }
        w.record("cwd", p.cwd());
        if (p.env().stream().noneMatch(e -> e.startsWith("HOME="))) {
            w.record("defaulthome"); // runc: HOME from the container's /etc/passwd, else "/"
        }
        w.record("user", Long.toString(p.uid()), Long.toString(p.gid()), Long.toString(p.umask()));
        w.record("groups", p.additionalGids().stream().map(String::valueOf).toArray(String[]::new));
        for (int i = 0; i < p.rlimits().size(); i++) {
            PlanRlimit r = p.rlimits().get(i);
            // one record per process.rlimits entry, in order: an error names the entry
            w.record("rlimit", Integer.toString(r.resource()), r.soft().toString(), r.hard().toString(),
                    "/process/rlimits/" + i);
        }
        CapabilitySets c = p.capabilities();
        if (c != null) {
            w.record("caps", Long.toUnsignedString(c.bounding()), Long.toUnsignedString(c.effective()),
                    Long.toUnsignedString(c.permitted()), Long.toUnsignedString(c.inheritable()),
                    Long.toUnsignedString(c.ambient()));
        }
        if (p.noNewPrivileges()) {
            w.record("nonewprivs");
        }
        p.attributes().encode(w);
        if (p.seccomp() != null) {
            w.binaryRecord("seccomp", p.seccomp().bpf(),
                    Long.toString(p.seccomp().flags()).getBytes(StandardCharsets.US_ASCII));
        }
    }

    static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        void record(String tag, String... fields) {
            ascii(tag + " " + fields.length + "\n");
            for (String field : fields) {
                byte[] bytes = field.getBytes(StandardCharsets.UTF_8);
                ascii(bytes.length + ":");
                out.writeBytes(bytes);
                out.write('\n');
            }
        }

        /** A record of raw fields (the seccomp program is binary). */
        void binaryRecord(String tag, byte[]... fields) {
            ascii(tag + " " + fields.length + "\n");
            for (byte[] field : fields) {
                ascii(field.length + ":");
                out.writeBytes(field);
                out.write('\n');
            }
        }

        private void ascii(String s) {
            out.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
