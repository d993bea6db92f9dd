package dev.capsa.backend.ns;

import dev.capsa.error.CapsaException;
import dev.capsa.error.SyscallException;
import dev.capsa.os.Signals;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.Features;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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
 * <p>This slice creates pid, mount, uts, ipc, network (with lo up) and cgroup namespaces; mounts
 * the config.json mounts with their options, the default devices and /dev links; masked and
 * read-only paths, a read-only root, sysctls; the process's user, groups, umask, rlimits,
 * capabilities, no_new_privs, oom_score_adj and session keyring. Whatever it does not do yet is
 * refused by {@link LaunchPlan#from} with the field's JSON pointer (user namespaces, cgroups and
 * resources other than runc's default deny-all device rule, seccomp, terminals, ...).
 *
 * <p>Hooks: createRuntime (with prestart before it) runs while capsa-init waits after the
 * namespaces and mounts exist and before pivot_root, as config.md says. config.json's
 * createContainer and startContainer hooks are refused for now.
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
    private static final Logger LOG = LoggerFactory.getLogger(NamespaceBackend.class);
    private static final String EXIT_FILE = "exit";
    private static final Path PROC = Path.of("/proc");
    private static final long GONE_TIMEOUT_MS = 10_000;

    /** Foreground monitors of this JVM, by state dir: {@code run} waits on them. */
    private static final Map<Path, Process> MONITORS = new ConcurrentHashMap<>();

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
                List.of("cgroup", "ipc", "mount", "network", "pid", "uts"),
                Capabilities.known(lastCap()),
                null,
                new Features.Seccomp(false, null, null, null, null, null),
                Features.Enabled.NO, Features.Enabled.NO, Features.Enabled.NO,
                new Features.MountExtensions(Features.Enabled.NO), Features.Enabled.NO);
        return new Features(DefaultSpec.OCI_VERSION_MIN, DefaultSpec.OCI_VERSION,
                List.of("prestart", "createRuntime", "poststart", "poststop"), MountOptions.supported(), linux, null,
                null);
    }

    @Override
    public void create(ContainerContext ctx, CreateOptions options) {
        Path stateDir = ctx.stateDir();
        LaunchPlan plan = LaunchPlan.from(ctx.id(), ctx.spec(), ctx.bundle(), options,
                new LaunchPlan.Files(ExecFifo.of(stateDir), options.foreground() ? stateDir.resolve(EXIT_FILE) : null),
                host());
        plan.warnings().forEach(w -> LOG.warn("container \"{}\": {}", ctx.id(), w));
        try (InitChannel init = InitChannel.start(InitBinary.path(), socketPath(stateDir))) {
            init.send(plan.encode());
            for (InitChannel.Report r = init.next(); r != null; r = init.next()) {
                switch (r.kind()) {
                    case "pid" -> {
                        long pid = Long.parseLong(r.rest().trim());
                        ctx.recordPid(pid);
                        if (options.foreground()) {
                            MONITORS.put(stateDir, init.process());
                        }
                    }
                    case "step" -> LOG.debug("container \"{}\": {} done", ctx.id(), r.rest());
                    case "error" -> throw stepFailed(ctx.id(), r.rest());
                    case "sync" -> {
                        // the namespaces and mounts exist and pivot_root has not happened: config.md's createRuntime point
                        ctx.runHooks(HookPhase.CREATE_RUNTIME);
                        init.send("go\n".getBytes(StandardCharsets.US_ASCII));
                    }
                    case "ready" -> {
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

    @Override
    public void start(ContainerContext ctx) {
        ExecFifo.release(ExecFifo.of(ctx.stateDir()), ctx::processAlive, ctx.id());
    }

    @Override
    public Status status(ContainerContext ctx) {
        if (!ctx.processAlive()) {
            return Status.STOPPED;
        }
        return Files.exists(ExecFifo.of(ctx.stateDir())) ? Status.CREATED : Status.RUNNING;
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        long pid = ctx.pid().orElseThrow(() -> new CapsaException("container \"" + ctx.id() + "\" has no process"));
        if (!ctx.processAlive()) {
            throw new CapsaException("container \"" + ctx.id() + "\": its process is gone");
        }
        if (!all) {
            ctx.os().kill(pid, signal);
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
        if (ctx.processAlive()) {
            if (!force) {
                throw new CapsaException("container \"" + ctx.id() + "\" is still running");
            }
            // SIGKILL to the init of a pid namespace kills every process in it
            long pid = ctx.pid().getAsLong();
            try {
                ctx.os().kill(pid, Signals.SIGKILL);
            } catch (SyscallException e) {
                if (e.errno() != 3) {
                    throw e;
                }
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
        Process monitor = MONITORS.remove(ctx.stateDir());
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
        Process monitor = MONITORS.get(ctx.stateDir());
        try (SignalForwarder forwarder = new SignalForwarder(signal -> forward(ctx, pid, signal))) {
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
        return new PidNamespace(PROC).members(ctx.pid().getAsLong());
    }

    // ---- internals

    private static void forward(ContainerContext ctx, long pid, int signal) {
        try {
            if (ctx.processAlive()) {
                ctx.os().kill(pid, signal);
            }
        } catch (RuntimeException e) {
            LOG.debug("container \"{}\": forwarding signal {}: {}", ctx.id(), signal, e.getMessage());
        }
    }

    /** "error STEP ERRNO DETAIL" from capsa-init as the exception a user reads. */
    static CapsaException stepFailed(String id, String report) {
        String[] parts = report.split(" ", 3);
        String step = parts[0];
        int errno = parts.length > 1 ? parseErrno(parts[1]) : 0;
        String detail = parts.length > 2 ? parts[2] : "";
        if (step.equals("exec")) {
            // runc's wording, which engines and people grep for
            return new CapsaException("container \"" + id + "\": unable to start container process: " + detail);
        }
        return new SyscallException(step, errno, detail);
    }

    private static int parseErrno(String text) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static String exitNote(Process process) {
        try {
            if (process.waitFor(200, TimeUnit.MILLISECONDS)) {
                return " (it exited with status " + process.exitValue() + ")";
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "";
    }

    /** The control socket: in the state dir unless that path is too long for sun_path (108 bytes). */
    private static Path socketPath(Path stateDir) {
        Path socket = stateDir.resolve("init.sock");
        if (socket.toString().getBytes(StandardCharsets.UTF_8).length < 100) {
            return socket;
        }
        try {
            Files.createDirectories(InitBinary.DIR);
        } catch (IOException e) {
            throw new CapsaException("cannot create " + InitBinary.DIR + ": " + e.getMessage(), e);
        }
        return InitBinary.DIR.resolve("init-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + ".sock");
    }

    private static int lastCap() {
        try {
            return Integer.parseInt(readProc(Path.of("/proc/sys/kernel/cap_last_cap")).trim());
        } catch (IOException | NumberFormatException e) {
            return Capabilities.NAMES.size() - 1;
        }
    }

    /** The host facts the plan needs; cgroup v1 hierarchies only on a host without a unified cgroup root. */
    private static LaunchPlan.Host host() {
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
