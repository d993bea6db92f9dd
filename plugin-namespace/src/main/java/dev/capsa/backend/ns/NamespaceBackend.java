package dev.capsa.backend.ns;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.error.CapsaException;
import dev.capsa.os.Caller;
import dev.capsa.os.Child;
import dev.capsa.os.Launcher;
import dev.capsa.error.HookFailedException;
import dev.capsa.error.SyscallException;
import dev.capsa.error.WrongStateException;
import dev.capsa.fault.FaultStep;
import dev.capsa.fault.Faults;
import dev.capsa.os.ProcStat;
import dev.capsa.os.CapabilityNames;
import dev.capsa.os.SeccompCompiler;
import dev.capsa.os.SeccompProgram;
import dev.capsa.os.Signals;
import dev.capsa.plugin.CapsaSettings;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.ExecOptions;
import dev.capsa.spi.Features;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.Status;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.pf4j.Extension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ns backend: runc-style containers in Linux namespaces. Java works out a {@link LaunchPlan}
 * and the static C helper capsa-init (src/main/c) carries it out: clone into the namespaces,
 * mounts, pivot_root, the process's credentials, the exec fifo, exec.
 *
 * <p>This slice creates pid, mount, uts, ipc, network (with lo up), cgroup and user namespaces
 * (with the uid and gid maps written from outside), or joins network, ipc, uts, cgroup and pid
 * namespaces by path; mounts the config.json mounts with their options, the default devices (bind
 * mounts of the host's nodes inside a user namespace) and /dev links; masked and read-only paths,
 * a read-only root, sysctls; the process's user, groups, umask, rlimits, capabilities,
 * no_new_privs, oom_score_adj and session keyring; a seccomp filter compiled in Java
 * ({@link SeccompCompiler}) and loaded by capsa-init just before exec; a terminal sent to
 * --console-socket;
 * --preserve-fds and systemd's LISTEN_FDS. {@code exec} joins the namespaces of the container's
 * init and applies the same process part. Whatever it does not do yet is refused by
 * {@link LaunchPlan#from} with the field's JSON pointer (seccomp notify, ...).
 *
 * <p>cgroups ({@link ContainerCgroup}): the container's cgroup is made and its limits written
 * before capsa-init starts; capsa-init joins it before any setns or clone (runc's order), so the
 * init inherits it and a new cgroup namespace is rooted in it, and exec joins it the same way.
 * pause and resume freeze and thaw it, {@code kill --all}, ps and delete act on its processes,
 * update and events write and read it.
 *
 * <p>Hooks: createRuntime (with prestart before it) runs while capsa-init waits after the
 * namespaces and mounts exist and before pivot_root, as config.md says. config.json's
 * createContainer hooks run right after it, by capsa-init inside the container's namespaces, and
 * its startContainer hooks after start opened the exec fifo, before execve; their failure comes
 * back as the step "hook" (create) or as text after the fifo's "0" (start).
 *
 * <p>Processes: capsa-init is a child of the JVM and clones the container's init. Detached, it
 * exits at once, so the init is reparented to the caller's subreaper as under runc (conmon and
 * containerd-shim wait for it there). For a foreground {@code run} it stays as a monitor: a
 * subreaper with its stdio on /dev/null (it must not keep the caller's pipes open), that reaps the
 * init and exits with its status, which {@link #waitExit} returns.
 */
@Extension
public final class NamespaceBackend implements RuntimeBackend {
    static final String NAME = "ns";
    /** features.md annotation: how the cgroup device rules are enforced on each cgroup version. */
    static final String DEVICES_ANNOTATION = "dev.capsa.ns.cgroup.devices";
    private static final Logger LOG = LoggerFactory.getLogger(NamespaceBackend.class);
    private static final String EXIT_FILE = "exit";
    /** Stored at create: exec joins the container's session keyring unless create had --no-new-keyring. */
    private static final String NO_NEW_KEYRING = "noNewKeyring";
    private static final Path PROC = Path.of("/proc");
    private static final Path SYS = Path.of("/sys");
    private static final long GONE_TIMEOUT_MS = 10_000;

    /** Foreground monitors of this JVM, by state dir: {@code run} waits on them. */
    private static final Map<Path, Child> MONITORS = new ConcurrentHashMap<>();
    private static final java.util.concurrent.atomic.AtomicLong SOCKETS = new java.util.concurrent.atomic.AtomicLong();

    private final CapsaSettings settings;

    /** pf4j makes extensions through Guice, which passes the runtime's settings (--systemd-cgroup). */
    @Inject
    public NamespaceBackend(CapsaSettings settings) {
        this.settings = settings;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Availability probe() {
        if (!System.getProperty("os.name", "").equals("Linux")) {
            return Availability.no("the ns backend needs Linux");
        }
        if (!InitBinary.bundled()) {
            return Availability.no("this build of the ns plugin has no capsa-init (it needs gcc and a static libc)");
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            return Availability.no("the ns backend needs root (rootless containers are not supported yet)");
        }
        return Availability.yes();
    }

    @Override
    public Features features() {
        Features.Linux linux = new Features.Linux(
                timeNamespaces() ? List.of("cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts")
                        : List.of("cgroup", "ipc", "mount", "network", "pid", "user", "uts"),
                Capabilities.known(lastCap()),
                // v2 device rules are an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE), see docs/cgroups.md
                new Features.Cgroup(true, true, false, false, true),
                SeccompCompiler.features(),
                // as runc, what the runtime implements, not what this host enables: a profile or label is
                // applied where the module is enabled and refused, naming the field, where it is not
                Features.Enabled.YES, Features.Enabled.YES,
                Features.Enabled.NO, // intelRdt: refused (resctrl is not driven by this backend)
                new Features.MemoryPolicy(
                        new java.util.TreeSet<>(ProcessAttributes.MEMORY_MODES.keySet()).stream().toList(),
                        new java.util.TreeSet<>(ProcessAttributes.MEMORY_FLAGS.keySet()).stream().toList()),
                new Features.MountExtensions(Features.Enabled.NO), Features.Enabled.NO);
        return new Features(DefaultSpec.OCI_VERSION_MIN, DefaultSpec.OCI_VERSION,
                List.of("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"),
                MountOptions.supported(), linux,
                Map.of(DEVICES_ANNOTATION, "devices.allow/deny on v1, eBPF BPF_CGROUP_DEVICE program on v2"), null);
    }

    /** A lost state: the processes of the cgroup that the container's config.json names, and the cgroup. */
    @Override
    public void deleteOrphan(String id, dev.capsa.spec.Spec spec) {
        ContainerCgroup.destroyOrphan(id, spec, settings.systemdCgroup(), new dev.capsa.os.LinuxOs());
    }

    /** capsa-init, the only process this backend starts, comes from the caller's launcher (InitChannel). */
    @Override
    public boolean launchesThroughCaller() {
        return true;
    }

    @Override
    public void create(ContainerContext ctx, CreateOptions options) {
        Path stateDir = ctx.stateDir();
        long t0 = System.nanoTime();
        LaunchPlan plan = LaunchPlan.from(ctx.id(), ctx.spec(), ctx.bundle(), options,
                new LaunchPlan.Files(ExecFifo.of(stateDir), options.foreground() ? stateDir.resolve(EXIT_FILE) : null),
                host(), caller());
        plan.warnings().forEach(w -> LOG.warn("container \"{}\": {}", ctx.id(), w));
        if (options.noNewKeyring()) {
            ctx.putData(NO_NEW_KEYRING, "true");
        }
        long t1 = System.nanoTime();
        // made and written before capsa-init runs; on a failure from here on the engine's delete removes it
        ContainerCgroup cgroup = ContainerCgroup.create(ctx, settings.systemdCgroup());
        plan = plan.withCgroup(cgroup.plan(options.foreground()));
        long t2 = System.nanoTime();
        try (InitChannel init = InitChannel.start(InitBinary.path(), socketPath(stateDir, "init"))) {
            LOG.debug("container \"{}\": plan {} ms, cgroup {} ms, capsa-init connected {} ms", ctx.id(),
                    (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (System.nanoTime() - t2) / 1_000_000);
            Faults.at(FaultStep.NS_INIT_CONNECTED);
            init.send(plan.encode());
            for (InitChannel.Report r = init.next(); r != null; r = init.next()) {
                switch (r.kind()) {
                    case "pid" -> {
                        long pid = Long.parseLong(r.rest().trim());
                        try {
                            ctx.recordPid(pid);
                        } catch (CapsaException gone) {
                            throw reportedInstead(init, ctx.id(), gone);
                        }
                        if (options.foreground()) {
                            MONITORS.put(stateDir, init.process());
                        }
                        Faults.at(FaultStep.NS_PID_RECORDED);
                    }
                    case "step" -> LOG.debug("container \"{}\": {} done", ctx.id(), r.rest());
                    case "fault" -> initFault(ctx.id(), r.rest());
                    case "error" -> throw stepFailed(ctx.id(), r.rest());
                    case "sync" -> {
                        // the namespaces and mounts exist and pivot_root has not happened: config.md's createRuntime point
                        Faults.at(FaultStep.NS_SYNC_REACHED);
                        ctx.runHooks(HookPhase.CREATE_RUNTIME);
                        init.send("go\n".getBytes(StandardCharsets.US_ASCII));
                    }
                    case "ready" -> {
                        Faults.at(FaultStep.NS_READY);
                        return;
                    }
                    default -> throw new CapsaException("container \"" + ctx.id() + "\": capsa-init said \""
                            + r.kind() + "\", which this plugin does not understand");
                }
            }
            throw new CapsaException("container \"" + ctx.id() + "\": capsa-init ended before the container was ready"
                    + exitNote(init.process()));
        } catch (RuntimeException e) {
            MONITORS.remove(stateDir);
            throw e;
        }
    }

    /**
     * runc exec: a new process in the namespaces of the container's init. In the foreground it has
     * the caller's stdio and its exit code is returned (128+n for signal n); detached, this returns
     * once it runs. The pid file gets its pid in the host's pid namespace.
     */
    @Override
    public int exec(ContainerContext ctx, ExecOptions options) {
        String id = ctx.id();
        long pid = ctx.pid().orElseThrow(() -> new WrongStateException("cannot exec in container \"" + id
                + "\": it has no process"));
        java.util.OptionalLong start = ProcStat.startTime(PROC, pid);
        if (!ctx.processAlive() || start.isEmpty()) {
            throw new WrongStateException("cannot exec in container \"" + id + "\": it is stopped");
        }
        String keyring = ctx.data(NO_NEW_KEYRING).isPresent() ? null : "_ses." + id;
        LaunchPlan.PlanCgroup cgroup = ContainerCgroup.of(ctx).map(c -> c.plan(!options.detach()))
                .orElse(LaunchPlan.PlanCgroup.NONE);
        // runc's setns init: exec'd processes get the container's seccomp filter, compiled from its config.json
        SeccompProgram seccomp = ctx.spec().linux() == null ? null
                : SeccompCompiler.compile(ctx.spec().linux().seccomp());
        ExecPlan plan = ExecPlan.of(options, pid, start.getAsLong(), keyring, caller(), lastCap(), cgroup, seccomp,
                ctx.spec().linux(), HostSecurity.probe(SYS));
        plan.warnings().forEach(w -> LOG.warn("container \"{}\": exec: {}", id, w));
        try (InitChannel init = InitChannel.start(InitBinary.path(), socketPath(ctx.stateDir(), "exec"))) {
            Faults.at(FaultStep.NS_EXEC_CONNECTED);
            init.send(plan.encode());
            long execPid = -1;
            // the process's copy of the control socket closes on execve: EOF after "pid" means it runs
            for (InitChannel.Report r = init.next(); r != null; r = init.next()) {
                switch (r.kind()) {
                    case "pid" -> {
                        execPid = Long.parseLong(r.rest().trim());
                        Faults.at(FaultStep.NS_EXEC_STARTED);
                        if (options.pidFile() != null) {
                            writePidFile(options.pidFile(), execPid);
                        }
                    }
                    case "step" -> LOG.debug("container \"{}\": exec: {} done", id, r.rest());
                    case "fault" -> initFault(id, r.rest());
                    case "error" -> throw stepFailed(id, r.rest());
                    default -> throw new CapsaException("container \"" + id + "\": capsa-init said \""
                            + r.kind() + "\", which this plugin does not understand");
                }
            }
            if (execPid < 0) {
                throw new CapsaException("container \"" + id + "\": capsa-init ended before the exec'd process started"
                        + exitNote(init.process()));
            }
            if (options.detach()) {
                return 0;
            }
            long target = execPid;
            try (Launcher.Forwarding forwarder = Caller.current().launcher().forwardSignals(signal -> forwardTo(ctx, target, signal))) {
                return init.process().waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CapsaException("interrupted while waiting for the exec'd process of \"" + id + "\"");
            }
        }
    }

    @Override
    public void start(ContainerContext ctx) {
        ExecFifo.release(ExecFifo.of(ctx.stateDir()), ctx::processAlive, ctx.id());
    }

    @Override
    public Status status(ContainerContext ctx) {
        if (!ctx.processAlive()) {
            return Status.STOPPED;
        }
        if (ContainerCgroup.of(ctx).map(ContainerCgroup::frozen).orElse(false)) {
            return Status.PAUSED;
        }
        return Files.exists(ExecFifo.of(ctx.stateDir())) ? Status.CREATED : Status.RUNNING;
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        if (all && !ctx.processAlive()) {
            // stopped: what is left in its cgroup (children of an init that shared a pid namespace)
            ContainerCgroup.of(ctx).ifPresent(cgroup -> cgroup.signalAll(ctx.os(), signal));
            return;
        }
        long pid = ctx.pid().orElseThrow(() -> new CapsaException("container \"" + ctx.id() + "\" has no process"));
        if (!ctx.processAlive()) {
            throw new CapsaException("container \"" + ctx.id() + "\": its process is gone");
        }
        if (!all) {
            ctx.os().kill(pid, signal);
            return;
        }
        Optional<ContainerCgroup> cgroup = ContainerCgroup.of(ctx);
        if (cgroup.isPresent()) {
            cgroup.get().signalAll(ctx.os(), signal);
            return;
        }
        for (long member : new PidNamespace(PROC).members(pid)) {
            try {
                ctx.os().kill(member, signal);
            } catch (SyscallException e) {
                if (e.errno() != 3) { // ESRCH: it ended meanwhile
                    throw e;
                }
            }
        }
    }

    @Override
    public void delete(ContainerContext ctx, boolean force) {
        Optional<ContainerCgroup> cgroup = ContainerCgroup.of(ctx);
        if (ctx.processAlive()) {
            if (!force) {
                throw new CapsaException("container \"" + ctx.id() + "\" is still running");
            }
            // SIGKILL to the init of a pid namespace kills every process in it (one that joined another
            // container's pid namespace is not its init: the cgroup's destroy below kills the rest)
            long pid = ctx.pid().getAsLong();
            try {
                ctx.os().kill(pid, Signals.SIGKILL);
            } catch (SyscallException e) {
                if (e.errno() != 3) {
                    throw e;
                }
            }
            // a frozen process takes its SIGKILL only once thawed
            if (cgroup.isPresent() && cgroup.get().frozen()) {
                cgroup.get().manager().thaw();
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GONE_TIMEOUT_MS);
            while (ctx.processAlive()) {
                if (System.nanoTime() > deadline) {
                    throw new CapsaException("container \"" + ctx.id() + "\": process " + pid
                            + " is still there " + GONE_TIMEOUT_MS + " ms after SIGKILL");
                }
                sleep(5);
            }
        }
        Faults.at(FaultStep.NS_DELETE_KILLED);
        // what is left in the cgroup (exec'd processes outside the pid namespace cannot be, but a
        // partly created container's may), then its directories in every hierarchy
        cgroup.ifPresent(c -> c.destroy(ctx.os(), ctx.id()));
        Faults.at(FaultStep.NS_DELETE_CGROUP_REMOVED);
        Child monitor = MONITORS.remove(ctx.stateDir());
        if (monitor != null) {
            try {
                monitor.waitFor(GONE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            Files.deleteIfExists(ExecFifo.of(ctx.stateDir()));
            Files.deleteIfExists(ctx.stateDir().resolve(EXIT_FILE));
        } catch (IOException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": cannot remove its files: " + e.getMessage(), e);
        }
    }

    @Override
    public int waitExit(ContainerContext ctx) {
        long pid = ctx.pid().orElseThrow(() -> new CapsaException("container \"" + ctx.id() + "\" has no process"));
        Child monitor = MONITORS.get(ctx.stateDir());
        try (Launcher.Forwarding forwarder = Caller.current().launcher().forwardSignals(signal -> forward(ctx, pid, signal))) {
            if (monitor != null) {
                return monitor.waitFor();
            }
            // not started by this JVM: wait for the process, then the monitor's record of its status
            while (ctx.processAlive()) {
                sleep(20);
            }
            Path exit = ctx.stateDir().resolve(EXIT_FILE);
            for (int i = 0; i < 100 && !Files.exists(exit); i++) {
                sleep(10);
            }
            return Integer.parseInt(Files.readString(exit).trim());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted while waiting for container \"" + ctx.id() + "\"");
        } catch (IOException | NumberFormatException e) {
            throw new CapsaException("the exit status of container \"" + ctx.id() + "\" is unknown: " + e.getMessage(),
                    e);
        }
    }

    @Override
    public List<Long> processes(ContainerContext ctx) {
        if (!ctx.processAlive()) {
            return List.of();
        }
        Optional<ContainerCgroup> cgroup = ContainerCgroup.of(ctx);
        if (cgroup.isPresent()) {
            return cgroup.get().pids();
        }
        return new PidNamespace(PROC).members(ctx.pid().getAsLong());
    }

    /** runc pause: freezes the cgroup; the status is paused while it is frozen. */
    @Override
    public void pause(ContainerContext ctx) {
        cgroupOf(ctx, "pause").manager().freeze();
    }

    @Override
    public void resume(ContainerContext ctx) {
        cgroupOf(ctx, "resume").manager().thaw();
    }

    /** runc update: merged into the resources last applied, checked, then written. */
    @Override
    public void update(ContainerContext ctx, JsonNode resources) {
        cgroupOf(ctx, "update").update(ctx, resources);
    }

    /** runc events --stats: the cgroup's statistics; the CLI wraps them as {"type":"stats","id":...,"data":...}. */
    @Override
    public JsonNode stats(ContainerContext ctx) {
        return cgroupOf(ctx, "events").stats();
    }

    /** The cgroup's OOM kill count, for events' oom events. */
    @Override
    public long oomKills(ContainerContext ctx) {
        return ContainerCgroup.of(ctx).map(c -> c.manager().oomKills()).orElse(-1L);
    }

    // ---- internals

    private static ContainerCgroup cgroupOf(ContainerContext ctx, String operation) {
        return ContainerCgroup.of(ctx).orElseThrow(() -> new CapsaException("cannot " + operation + " container \""
                + ctx.id() + "\": it has no cgroup (it was created by a capsa without cgroup support)"));
    }

    /** Who runs capsa, for --preserve-fds; systemd socket activation counts only when meant for us (LISTEN_PID). */
    private static LaunchPlan.Caller caller() {
        // under the capsa server the caller is the client: its pid and environment, its descriptors
        long self = Caller.current().pid();
        int listen = 0;
        String fds = Caller.env("LISTEN_FDS");
        if (fds != null && String.valueOf(self).equals(Caller.env("LISTEN_PID"))) {
            try {
                listen = Math.max(0, Integer.parseInt(fds.trim()));
            } catch (NumberFormatException e) {
                LOG.warn("LISTEN_FDS={} is not a number; no descriptors passed", fds);
            }
        }
        return new LaunchPlan.Caller(self, listen);
    }

    private static void forwardTo(ContainerContext ctx, long pid, int signal) {
        try {
            ctx.os().kill(pid, signal);
        } catch (RuntimeException e) {
            LOG.debug("container \"{}\": forwarding signal {} to {}: {}", ctx.id(), signal, pid, e.getMessage());
        }
    }

    /** The pid file: a temp file renamed over it, so a reader never sees half of it (as runc). */
    private static void writePidFile(Path file, long pid) {
        try {
            Path dir = Caller.resolve(file).getParent();
            Path temp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
            try {
                Files.writeString(temp, Long.toString(pid));
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(temp);
            }
        } catch (IOException e) {
            throw new CapsaException("cannot write the pid file " + file + ": " + e.getMessage(), e);
        }
    }

    private static void forward(ContainerContext ctx, long pid, int signal) {
        try {
            if (ctx.processAlive()) {
                ctx.os().kill(pid, signal);
            }
        } catch (RuntimeException e) {
            LOG.debug("container \"{}\": forwarding signal {}: {}", ctx.id(), signal, e.getMessage());
        }
    }

    /**
     * The init was gone before its pid could be recorded: stage 0 failed right after the clone
     * (its error is on the way, and the init exits when stage 0 does). That error, if one comes
     * before capsa-init closes the connection, says more than "gone".
     */
    private static CapsaException reportedInstead(InitChannel init, String id, CapsaException gone) {
        try {
            for (InitChannel.Report r = init.next(); r != null; r = init.next()) {
                if (r.kind().equals("fault")) {
                    initFault(id, r.rest());
                } else if (r.kind().equals("error")) {
                    CapsaException reported = stepFailed(id, r.rest());
                    reported.addSuppressed(gone);
                    return reported;
                }
            }
        } catch (CapsaException unreadable) {
            gone.addSuppressed(unreadable);
        }
        return gone;
    }

    /** A test's fault ({@link Faults}): capsa-init is about to SIGKILL itself at this step. */
    private static void initFault(String id, String step) {
        LOG.warn("container \"{}\": fault injected at step {}: capsa-init kills itself", id, step);
    }

    /** "error STEP ERRNO DETAIL" from capsa-init as the exception a user reads. */
    static CapsaException stepFailed(String id, String report) {
        String[] parts = report.split(" ", 3);
        String step = parts[0];
        int errno = parts.length > 1 ? parseErrno(parts[1]) : 0;
        String detail = parts.length > 2 ? parts[2] : "";
        if (step.equals("hook")) {
            // "<phase> hook <path>: exit status N: <output>", as the host-side hooks report it
            return new HookFailedException("container \"" + id + "\": " + detail);
        }
        if (step.equals("exec")) {
            return startFailed(id, detail);
        }
        if (step.equals("fault")) {
            return new CapsaException("container \"" + id + "\": " + detail); // a test's, Faults
        }
        return new SyscallException(step, errno, detail);
    }

    /**
     * The container's process could not be exec'd: runc's wording, which engines and people grep
     * for. capsa-init ends the detail with strerror's text ("No such file or directory"); runc's
     * ends with Go's, the same words in lower case, and Docker maps a start error that contains
     * "no such file or directory" or "executable file not found" to exit code 127 and
     * "permission denied" to 126, so the text is given Go's case.
     */
    static CapsaException startFailed(String id, String detail) {
        int at = detail.lastIndexOf(": ");
        String reason = at < 0 ? "" : detail.substring(at + 2);
        if (reason.matches("[A-Z][a-z][a-z ]*")) {
            detail = detail.substring(0, at + 2) + Character.toLowerCase(reason.charAt(0)) + reason.substring(1);
        }
        return new CapsaException("container \"" + id + "\": unable to start container process: " + detail);
    }

    private static int parseErrno(String text) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static String exitNote(Child process) {
        try {
            if (process.waitFor(200, TimeUnit.MILLISECONDS)) {
                return " (it exited with status " + process.exitValue() + ")";
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "";
    }

    /**
     * A control socket: in the state dir unless that path is too long for sun_path (108 bytes).
     * Each exec gets its own name, since several may run at once.
     */
    private static Path socketPath(Path stateDir, String kind) {
        Path socket = stateDir.resolve(kind.equals("init") ? "init.sock" : kind + "-" + System.nanoTime() + ".sock");
        if (socket.toString().getBytes(StandardCharsets.UTF_8).length < 100) {
            return socket;
        }
        try {
            Files.createDirectories(InitBinary.DIR);
        } catch (IOException e) {
            throw new CapsaException("cannot create " + InitBinary.DIR + ": " + e.getMessage(), e);
        }
        // unique per command, also among the commands the capsa server runs at once
        return InitBinary.DIR.resolve("init-" + ProcessHandle.current().pid() + "-" + SOCKETS.incrementAndGet() + "-"
                + System.nanoTime() + ".sock");
    }

    private static int lastCap() {
        return CapabilityNames.hostLastCap();
    }

    /** The host facts the plan needs; cgroup v1 hierarchies only on a host without a unified cgroup root. */
    private static LaunchPlan.Host host() {
        return cgroupHost().withTimeNamespaces(timeNamespaces())
                .withSecurity(HostSecurity.probe(SYS), NamespaceBackend::isOwnNetns);
    }

    /** Whether {@code path} is this process's network namespace (runc's isHostNetNS: same device and inode). */
    private static boolean isOwnNetns(String path) {
        try {
            Object own = Files.getAttribute(PROC.resolve("self/ns/net"), "unix:ino");
            Object ownDev = Files.getAttribute(PROC.resolve("self/ns/net"), "unix:dev");
            Path p = Path.of(path);
            return own.equals(Files.getAttribute(p, "unix:ino")) && ownDev.equals(Files.getAttribute(p, "unix:dev"));
        } catch (IOException | UnsupportedOperationException e) {
            return false; // a path that cannot be read fails when capsa-init joins it, naming it
        }
    }

    /** Whether the kernel has time namespaces (Linux 5.6, CONFIG_TIME_NS): the link exists then. */
    private static boolean timeNamespaces() {
        return Files.exists(PROC.resolve("self/ns/time"), java.nio.file.LinkOption.NOFOLLOW_LINKS);
    }

    private static LaunchPlan.Host cgroupHost() {
        Path cgroupRoot = Path.of("/sys/fs/cgroup");
        if (Files.exists(cgroupRoot.resolve("cgroup.controllers"))) {
            return new LaunchPlan.Host(true, lastCap());
        }
        try {
            List<LaunchPlan.CgroupHierarchy> hierarchies =
                    LaunchPlan.cgroupHierarchies(readProc(PROC.resolve("self/mountinfo")).lines().toList());
            Map<String, String> links = new java.util.TreeMap<>();
            try (var entries = Files.list(cgroupRoot)) {
                for (Path p : entries.toList()) {
                    if (Files.isSymbolicLink(p)) {
                        links.put(p.getFileName().toString(), Files.readSymbolicLink(p).toString());
                    }
                }
            }
            return new LaunchPlan.Host(false, lastCap(), hierarchies, links);
        } catch (IOException e) {
            throw new CapsaException("cannot read the host's cgroup mounts: " + e.getMessage(), e);
        }
    }

    /** Files.readString stops short on some /proc files (it trusts their size of 0): read as a stream. */
    private static String readProc(Path path) throws IOException {
        try (var in = Files.newInputStream(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted");
        }
    }
}
