package dev.capsa.backend.vm;

import dev.capsa.backend.vm.agent.AgentClient;
import dev.capsa.backend.vm.image.GuestImage;
import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.backend.vm.qemu.HostClock;
import dev.capsa.backend.vm.qemu.QemuCommandLine;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.error.SyscallException;
import dev.capsa.error.WrongStateException;
import dev.capsa.fault.FaultStep;
import dev.capsa.fault.Faults;
import dev.capsa.os.CapabilityNames;
import dev.capsa.os.ProcStat;
import dev.capsa.os.SeccompCompiler;
import dev.capsa.os.Signals;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.ProcessSpec;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.ExecOptions;
import dev.capsa.spi.Features;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.Status;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;
import org.pf4j.Extension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The vm backend: one QEMU guest per container (runV/Kata style). The guest boots Debian's kernel
 * and an initramfs whose /init is capsa-init in its agent mode (src/main/c/capsa-agent.c); the bundle's rootfs is shared into it
 * with virtio-9p; orders, replies and stdio travel over virtio-serial ports (docs/vm.md).
 *
 * <p>QEMU runs detached from the JVM, in a session of its own, so the container outlives the
 * command that made it. Its parent, capsa-relay's monitor mode, is what this backend records as
 * the container's pid: it lives as long as the guest and exits with the container's process's
 * status (or dies of its signal), so an engine that waits for the pid (conmon) sees what it would
 * see with runc (docs/vm.md "The container's pid"). The agent's control port ends in a socket
 * QEMU listens on ({@code ctl.sock} in the state directory), so every later command (start, kill,
 * delete) connects to it anew; no relay process is needed between commands.
 *
 * <p>stdio: a foreground {@code run} relays the guest's stdout and stderr through this JVM to the
 * caller's, and the caller's stdin to the guest, and waits for the byte counts the agent reports
 * before it lets the guest power off. A detached container's stdout and stderr go to the
 * descriptors the creating command inherited (QEMU opens /proc/PID/fd/1 and 2 of the JVM, as a
 * runc container inherits them); its stdin is the creator's when that is a pipe (QEMU reads its
 * own stdin), else /dev/null; with --console-socket its stdio is a pty the monitor made. The guest
 * powers off by itself when the process ends.
 */
@Extension
public final class VmBackend implements RuntimeBackend {
    static final String NAME = "vm";
    private static final Logger LOG = LoggerFactory.getLogger(VmBackend.class);
    /** How long a guest may take to boot and answer under TCG (about 2 s is usual). */
    static final Duration BOOT_TIMEOUT = Duration.ofSeconds(20);
    static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);
    static final Duration GONE_TIMEOUT = Duration.ofSeconds(5);
    static final String CTL = "ctl.sock";
    static final String CONSOLE = "console.log";
    static final String QEMU_LOG = "qemu.log";
    private static final Path PROC = Path.of("/proc");
    /** State data: the launcher that booted the guest. */
    static final String LAUNCHER = "vm.launcher";
    static final String STARTED = "vm.started";
    /** "1" while the guest is paused: QEMU stopped with SIGSTOP (docs/vm.md "pause"). */
    static final String PAUSED = "vm.paused";
    private static final int SIGCONT = 18, SIGSTOP = 19; // x86_64, the only host the backend runs on
    /**
     * virtio-serial ports for exec'd processes' stdio, each behind a socket QEMU listens on
     * ({@code exec0.sock} ...): as many execs with stdio at once (docs/vm.md).
     */
    static final int EXEC_SLOTS = 4;

    /** Foreground guests of this JVM, by state dir: run's waitExit relays and acks them. */
    private static final Map<Path, Foreground> FOREGROUND = new ConcurrentHashMap<>();

    /**
     * A foreground run's guest: its monitor, its stdio relay, the hook that kills it if this JVM
     * dies, and the agent connection that create opened, which start and waitExit go on using (a
     * new connection waits for the agent's next look, up to 50 ms).
     */
    private record Foreground(ProcessHandle monitor, StdioRelay relay, Thread reaper, GuestAgent agent) {
    }

    private final Hypervisor hypervisor;
    private final GuestImage image;
    private final Function<Path, GuestAgent> agents;
    private final Duration bootTimeout;
    private final Supplier<ExecRelay> relays;

    public VmBackend() {
        this(Launcher.fromEnvironment(), GuestImage.fromEnvironment(),
                ctl -> AgentClient.connect(ctl, Duration.ofSeconds(2), REPLY_TIMEOUT), BOOT_TIMEOUT);
    }

    /** With the configuration file's {@code backendOptions.vm} ({@code launcher}, {@code libvirtUri}). */
    @jakarta.inject.Inject
    public VmBackend(dev.capsa.plugin.CapsaSettings settings) {
        this(Launcher.fromSettings(settings.backendOption(NAME, "launcher"), settings.backendOption(NAME, "libvirtUri")),
                GuestImage.fromEnvironment(), ctl -> AgentClient.connect(ctl, Duration.ofSeconds(2), REPLY_TIMEOUT),
                BOOT_TIMEOUT);
    }

    VmBackend(Hypervisor hypervisor, GuestImage image, Function<Path, GuestAgent> agents, Duration bootTimeout) {
        this(hypervisor, image, agents, bootTimeout, () -> new ExecRelay(RelayBinary.path(), REPLY_TIMEOUT));
    }

    VmBackend(Hypervisor hypervisor, GuestImage image, Function<Path, GuestAgent> agents, Duration bootTimeout,
              Supplier<ExecRelay> relays) {
        this.hypervisor = hypervisor;
        this.image = image;
        this.agents = agents;
        this.bootTimeout = bootTimeout;
        this.relays = relays;
    }

    @Override
    public String name() {
        return NAME;
    }

    /**
     * create and run are served by the capsa server: the monitor (QEMU's parent) comes from the
     * caller's launcher; exec asks for a JVM of its own (its relay is started here).
     */
    @Override
    public boolean launchesThroughCaller() {
        return true;
    }

    @Override
    public Availability probe() {
        if (!System.getProperty("os.name", "").equals("Linux")) {
            return Availability.no("the vm backend needs Linux");
        }
        Availability qemu = hypervisor.probe();
        if (!qemu.available()) {
            return qemu;
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            // 9p passthrough writes files with the guest's owners, which needs root on the host
            return Availability.no("the vm backend needs root (QEMU shares the rootfs with security_model=passthrough)");
        }
        return image.probe();
    }

    @Override
    public Features features() {
        // namespaces are implicit: the guest is a machine of its own; see docs/vm.md for the rest
        // seccomp: the guest's agent loads what core's SeccompCompiler compiles on the host, as capsa-init does
        Features.Linux linux = new Features.Linux(List.of(), CapabilityNames.NAMES, null, SeccompCompiler.features(),
                Features.Enabled.NO, Features.Enabled.NO, Features.Enabled.NO,
                new Features.MountExtensions(Features.Enabled.NO), Features.Enabled.NO);
        return new Features(DefaultSpec.OCI_VERSION_MIN, DefaultSpec.OCI_VERSION,
                List.of("prestart", "createRuntime", "poststart", "poststop"),
                List.of("ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
                        "noatime", "atime", "nodiratime", "diratime", "relatime", "norelatime", "strictatime",
                        "nostrictatime", "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave",
                        "rslave", "unbindable", "runbindable"),
                linux, null, null);
    }

    @Override
    public void create(ContainerContext ctx, CreateOptions options) {
        ProcessSpec process = ctx.spec().process();
        boolean terminal = process != null && Boolean.TRUE.equals(process.terminal());
        // runc's rules (the ns backend's too); a foreground terminal is refused by GuestPlan
        if (terminal && !options.foreground() && options.consoleSocket() == null) {
            throw new InvalidSpecException("/process/terminal", "process.terminal requires --console-socket");
        }
        if (!terminal && options.consoleSocket() != null) {
            throw new InvalidSpecException("/process/terminal", "--console-socket needs process.terminal true (runc: "
                    + "cannot use console socket if it will not allocate a tty)");
        }
        if (options.preserveFds() > 0) {
            throw new BackendUnavailableException("the vm backend cannot pass descriptors into the guest (--preserve-fds)");
        }
        Hypervisor hypervisor = Launcher.forSpec(ctx.spec(), this.hypervisor);
        // libvirtd starts its QEMU: neither capsa's stdin nor the monitor's pty can reach it
        boolean ownQemu = hypervisor.launcher().equals(Launcher.QEMU);
        if (terminal && !options.foreground() && !ownQemu) {
            throw new BackendUnavailableException("the vm backend's libvirt launcher cannot give the container a "
                    + "terminal (--console-socket): use the qemu launcher (annotation " + Launcher.ANNOTATION + ")");
        }
        // runc's container inherits its creator's stdin; a guest gets it through a port when it is a
        // pipe (conmon's, for podman run -i); a terminal or a file would not end the way a pipe does
        boolean pipedStdin = !options.foreground() && !terminal && ownQemu && stdinIsAPipe();
        GuestPlan plan = GuestPlan.from(ctx.spec(), options.foreground(),
                options.foreground() || pipedStdin || terminal, ctx.bundle());
        Availability ready = image.probe();
        if (!ready.available()) {
            throw new BackendUnavailableException("backend vm is unavailable: " + ready.reason());
        }
        Path dir = ctx.stateDir();
        Path ctl = socket(dir, CTL);
        Accelerator.Choice accel = hypervisor.accelerator(dir.getParent());
        LOG.debug("container \"{}\": accelerator {} ({})", ctx.id(), accel.accel(), accel.reason());

        StdioRelay relay = options.foreground() ? StdioRelay.listen(dir) : null;
        QemuCommandLine.Chardev out, err, in;
        if (relay != null) {
            out = new QemuCommandLine.ConnectingSocket(socket(dir, "out.sock"));
            err = new QemuCommandLine.ConnectingSocket(socket(dir, "err.sock"));
            in = new QemuCommandLine.ConnectingSocket(socket(dir, "in.sock"));
        } else if (terminal) {
            // the monitor's pty: its master goes to the console socket, its slave is the guest's stdio
            ProcessSpec.ConsoleSize size = process.consoleSize();
            out = new QemuCommandLine.PtyOutput();
            err = new QemuCommandLine.Null();
            in = new QemuCommandLine.PtyInput(options.consoleSocket(), size == null || size.height() == null ? 0
                    : size.height().intValue(), size == null || size.width() == null ? 0 : size.width().intValue());
        } else {
            // the caller's stdout and stderr (under the capsa server the client's, whose pid the
            // command has), opened by QEMU while this command runs
            long caller = dev.capsa.os.Caller.current().pid();
            out = new QemuCommandLine.File(Path.of("/proc/" + caller + "/fd/1"));
            err = new QemuCommandLine.File(Path.of("/proc/" + caller + "/fd/2"));
            in = pipedStdin ? new QemuCommandLine.Stdio() : null;
        }
        List<QemuCommandLine.Chardev> execs = new ArrayList<>();
        for (int i = 0; i < EXEC_SLOTS; i++) {
            execs.add(new QemuCommandLine.ListeningSocket(socket(dir, ExecSession.socketName(i))));
        }
        VmConfig vm = new VmConfig(accel.accel(), plan.memoryMib(), plan.cpus(), HostClock.tscKhz(), image.kernel(),
                image.initramfs(), rootfs(ctx), plan.shares(), dir.resolve(CONSOLE),
                new QemuCommandLine.ListeningSocket(ctl), out, err, in, List.copyOf(execs), dir.resolve(QEMU_LOG));
        ProcessHandle monitor = null;
        long started = System.nanoTime();
        try {
            monitor = hypervisor.launch(vm);
            ctx.putData(LAUNCHER, hypervisor.launcher());
            Faults.at(FaultStep.VM_QEMU_LAUNCHED);
            ctx.recordPid(monitor.pid());
            Faults.at(FaultStep.VM_PID_RECORDED);
            if (relay != null) {
                relay.accept(monitor, Duration.ofSeconds(5));
            }
            GuestAgent agent = AgentClient.connect(ctl, Duration.ofSeconds(5), bootTimeout);
            boolean kept = false;
            try {
                GuestAgent.Hello hello = agent.hello();
                if (hello.state() != GuestAgent.State.BOOTED) {
                    throw new CapsaException("the guest agent is " + hello.state() + ", not booted");
                }
                Faults.at(FaultStep.VM_GUEST_BOOTED);
                LOG.debug("container \"{}\": guest booted in {} ms", ctx.id(), (System.nanoTime() - started) / 1_000_000);
                long guestPid = agent.create(plan.orders());
                LOG.debug("container \"{}\": process ready in the guest {} ms after QEMU's start", ctx.id(),
                        (System.nanoTime() - started) / 1_000_000);
                ctx.putData("vm.guestPid", Long.toString(guestPid));
                Faults.at(FaultStep.VM_AGENT_CREATED);
                if (relay != null) {
                    ProcessHandle q = monitor;
                    // ^C or a crash of this JVM during a foreground run must not leave the guest behind
                    Thread reaper = new Thread(() -> q.destroyForcibly(), "capsa-vm-reaper");
                    Runtime.getRuntime().addShutdownHook(reaper);
                    FOREGROUND.put(dir, new Foreground(monitor, relay, reaper, agent));
                    kept = true;
                }
            } finally {
                if (!kept) {
                    agent.close();
                }
            }
        } catch (RuntimeException e) {
            if (monitor != null) {
                kill(monitor);
            }
            if (relay != null) {
                relay.close();
            }
            throw new CapsaException("container \"" + ctx.id() + "\": the guest did not come up: " + e.getMessage()
                    + consoleTail(dir), e);
        }
    }

    @Override
    public void start(ContainerContext ctx) {
        GuestAgent kept = kept(ctx);
        try (GuestAgent agent = kept != null ? kept : agent(ctx)) {
            if (kept == null) {
                agent.hello();
            }
            ctx.putData(STARTED, "1");
            Faults.at(FaultStep.VM_START_MARKED);
            agent.start();
        } catch (AgentException e) {
            if (e.step().equals("exec")) {
                // runc's wording, which engines and people grep for
                throw new CapsaException("container \"" + ctx.id() + "\": unable to start container process: exec: "
                        + e.getMessage(), e);
            }
            throw new CapsaException("container \"" + ctx.id() + "\": " + e.getMessage(), e);
        }
    }

    @Override
    public Status status(ContainerContext ctx) {
        if (!ctx.processAlive()) {
            return Status.STOPPED;
        }
        if (paused(ctx)) {
            return Status.PAUSED;
        }
        return ctx.data(STARTED).isPresent() ? Status.RUNNING : Status.CREATED;
    }

    /**
     * pause: the whole guest stops, QEMU with SIGSTOP (its vCPUs and its I/O threads; the guest's
     * clock jumps on resume). Paused when asked and QEMU's state is stopped, worked out each time.
     */
    @Override
    public void pause(ContainerContext ctx) {
        ProcessHandle qemu = guest(ctx);
        ctx.os().kill(qemu.pid(), SIGSTOP);
        long deadline = System.nanoTime() + GONE_TIMEOUT.toNanos();
        while (!stopped(qemu.pid())) {
            if (System.nanoTime() > deadline) {
                ctx.os().kill(qemu.pid(), SIGCONT);
                throw new CapsaException("container \"" + ctx.id() + "\": QEMU (pid " + qemu.pid()
                        + ") did not stop within " + GONE_TIMEOUT.toMillis() + " ms");
            }
            sleep(2);
        }
        ctx.putData(PAUSED, "1");
    }

    @Override
    public void resume(ContainerContext ctx) {
        ProcessHandle qemu = guest(ctx);
        ctx.putData(PAUSED, "0");
        ctx.os().kill(qemu.pid(), SIGCONT);
    }

    /**
     * runc's ps lists host pids, and a guest's processes have none: the host processes that hold
     * the container, the monitor (the container's pid) and QEMU (docs/vm.md "ps").
     */
    @Override
    public List<Long> processes(ContainerContext ctx) {
        if (!ctx.processAlive()) {
            return List.of();
        }
        List<Long> pids = new ArrayList<>();
        pids.add(ctx.pid().getAsLong());
        ProcessHandle.of(ctx.pid().getAsLong()).ifPresent(m -> m.children().forEach(c -> pids.add(c.pid())));
        return List.copyOf(pids);
    }

    private boolean paused(ContainerContext ctx) {
        if (!"1".equals(ctx.data(PAUSED).orElse("0"))) {
            return false;
        }
        return ProcessHandle.of(ctx.pid().getAsLong()).flatMap(m -> m.children().findFirst())
                .map(q -> stopped(q.pid())).orElse(false);
    }

    /** QEMU: the monitor's child. */
    private static ProcessHandle guest(ContainerContext ctx) {
        // the qemu launcher's pid is the monitor, QEMU's parent; the libvirt launcher's is QEMU's own
        boolean libvirt = ctx.data(LAUNCHER).map(Launcher.LIBVIRT::equals).orElse(false);
        return ProcessHandle.of(ctx.pid().orElse(0)).flatMap(m -> libvirt ? Optional.of(m) : m.children().findFirst())
                .orElseThrow(() -> new CapsaException("container \"" + ctx.id() + "\": its QEMU is gone"));
    }

    /** /proc/PID/stat's state is T (stopped by a signal). */
    private static boolean stopped(long pid) {
        return ProcStat.state(PROC, pid) == 'T';
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        if (all && !ctx.processAlive()) {
            return; // stopped: nothing of the container outlives its guest
        }
        if (!ctx.processAlive()) {
            throw new CapsaException("container \"" + ctx.id() + "\": its guest is gone");
        }
        if (paused(ctx)) {
            // a stopped QEMU cannot pass a signal in; SIGKILL ends the guest, as the freezer lets runc do
            if (signal != Signals.SIGKILL) {
                throw new WrongStateException("container \"" + ctx.id() + "\" is paused: the vm backend can send "
                        + "a paused guest SIGKILL only; resume it first");
            }
            ProcessHandle.of(ctx.pid().getAsLong()).ifPresent(VmBackend::kill);
            return;
        }
        try (GuestAgent agent = agent(ctx)) {
            agent.hello();
            agent.signal(signal);
        } catch (AgentException e) {
            if (signal == Signals.SIGKILL && e.step().isEmpty()) {
                LOG.warn("container \"{}\": the guest agent does not answer ({}); killing the guest", ctx.id(),
                        e.getMessage());
                ProcessHandle.of(ctx.pid().getAsLong()).ifPresent(VmBackend::kill);
                return;
            }
            throw new CapsaException("container \"" + ctx.id() + "\": " + e.getMessage(), e);
        }
    }

    @Override
    public void delete(ContainerContext ctx, boolean force) {
        Foreground fg = FOREGROUND.remove(ctx.stateDir());
        if (fg != null) {
            fg.agent().close(); // the ctl port takes one connection: free it for the power-off below
        }
        if (ctx.pid().isEmpty()) {
            killUnrecorded(ctx);
        }
        if (ctx.processAlive()) {
            if (!force) {
                throw new CapsaException("container \"" + ctx.id() + "\" is still running");
            }
            stopGuest(ctx);
        }
        if (fg != null) {
            fg.relay().close();
            removeHook(fg.reaper());
        }
        try {
            Files.deleteIfExists(ctx.stateDir().resolve(CTL));
        } catch (IOException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": cannot remove its files: " + e.getMessage(), e);
        }
    }

    /**
     * runc exec for a guest: the agent starts another process in the container (the same root,
     * mounts and hostname; its own args, env, cwd, user, rlimits and capabilities). In the
     * foreground its stdio is relayed through an exec slot and its exit code returned (128 + n for
     * signal n); the pid file gets this command's pid, the host process that lives exactly as long
     * as the exec'd one. With --detach (always with a terminal) capsa-relay takes the slot, relays
     * the stdio this command was given (or a pty whose master goes to the console socket) and exits
     * with the process's code; the pid file gets its pid, and this returns once the process runs.
     * docs/vm.md "exec".
     */
    @Override
    public int exec(ContainerContext ctx, ExecOptions options) {
        return exec(ctx, options, System.in, new FileOutputStream(FileDescriptor.out),
                new FileOutputStream(FileDescriptor.err));
    }

    int exec(ContainerContext ctx, ExecOptions options, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        // the exec relay (capsa-relay) is started with ProcessBuilder: it must be the caller's child
        dev.capsa.os.Caller.current().launcher().requireOwnProcess("the vm backend's exec starts capsa-relay itself");
        String id = ctx.id();
        if (!ctx.processAlive()) {
            throw new WrongStateException("cannot exec in container \"" + id + "\": its guest is gone");
        }
        ProcessSpec process = options.process();
        boolean terminal = process != null && Boolean.TRUE.equals(process.terminal());
        // the ns backend's rules, which are runc's for a detached exec
        if (terminal && options.consoleSocket() == null) {
            throw new InvalidSpecException("/terminal", "process.terminal requires --console-socket");
        }
        if (!terminal && options.consoleSocket() != null) {
            throw new InvalidSpecException("/terminal", "--console-socket needs process.terminal true (runc: cannot "
                    + "use console socket if it will not allocate a tty)");
        }
        if (terminal && !options.detach()) {
            throw new CapsaException("--console-socket needs --detach (runc: cannot use console socket if runc will "
                    + "not detach)");
        }
        if (options.preserveFds() > 0) {
            throw new BackendUnavailableException("the vm backend cannot pass descriptors into the guest "
                    + "(--preserve-fds)");
        }
        if (process != null && process.apparmorProfile() != null && !process.apparmorProfile().isEmpty()) {
            throw new InvalidSpecException("/apparmorProfile", "the vm backend does not apply AppArmor profiles");
        }
        if (process != null && process.selinuxLabel() != null && !process.selinuxLabel().isEmpty()) {
            throw new InvalidSpecException("/selinuxLabel", "the vm backend does not apply SELinux labels");
        }
        List<List<String>> orders = GuestPlan.processOrders(process);
        if (options.detach() && execThroughRelay(ctx, orders, options, terminal ? process : null)) {
            return 0;
        }
        if (options.detach()) {
            // every slot is taken: the process runs without stdio, and only the guest's monitor stands for it
            LOG.warn("container \"{}\": all {} exec slots are taken; the exec'd process runs without stdio and the "
                    + "pid file names the guest's monitor", id, EXEC_SLOTS);
            try (GuestAgent agent = agent(ctx)) {
                agent.hello();
                long guestPid = agent.exec(orders, -1);
                LOG.debug("container \"{}\": exec'd pid {} in the guest, detached", id, guestPid);
            } catch (AgentException e) {
                throw execFailed(id, e);
            }
            if (options.pidFile() != null) {
                writePidFile(options.pidFile(), ctx.pid().getAsLong());
            }
            return 0;
        }
        try (ExecSession session = ExecSession.open(ctx.stateDir(), EXEC_SLOTS, id)) {
            Faults.at(FaultStep.VM_EXEC_SLOT_TAKEN);
            long guestPid;
            try (GuestAgent agent = agent(ctx)) {
                agent.hello();
                guestPid = agent.exec(orders, session.slot());
            } catch (AgentException e) {
                throw execFailed(id, e);
            }
            LOG.debug("container \"{}\": exec'd pid {} in the guest, slot {}", id, guestPid, session.slot());
            if (options.pidFile() != null) {
                writePidFile(options.pidFile(), ProcessHandle.current().pid());
            }
            return session.relay(stdin, stdout, stderr, id);
        }
    }

    /**
     * exec --detach through capsa-relay ({@link ExecRelay}); false when every slot is taken and
     * the process has no terminal (the caller runs it without stdio then).
     */
    private boolean execThroughRelay(ContainerContext ctx, List<List<String>> orders, ExecOptions options,
                                     ProcessSpec terminal) {
        String id = ctx.id();
        ExecRelay.Terminal tty = null;
        if (terminal != null) {
            ProcessSpec.ConsoleSize size = terminal.consoleSize();
            tty = new ExecRelay.Terminal(options.consoleSocket(), size == null || size.height() == null ? 0
                    : size.height().intValue(), size == null || size.width() == null ? 0 : size.width().intValue());
        }
        // "r" and this JVM's pid in hex: never longer than execN.sock, which fits
        Path handshake = socket(ctx.stateDir(), "r" + Long.toHexString(ProcessHandle.current().pid()));
        long relay = relays.get().start(ctx.stateDir(), EXEC_SLOTS,
                handshake, tty, id, (slot, r) -> {
                    long guestPid;
                    try (GuestAgent agent = agent(ctx)) {
                        agent.hello();
                        guestPid = agent.exec(orders, slot);
                    } catch (AgentException e) {
                        throw execFailed(id, e);
                    }
                    LOG.debug("container \"{}\": exec'd pid {} in the guest, slot {}, relay pid {}", id, guestPid,
                            slot, r);
                    if (options.pidFile() != null) {
                        try {
                            writePidFile(options.pidFile(), r);
                        } catch (CapsaException e) {
                            // nobody will know of the process: it must not run on
                            try (GuestAgent agent = agent(ctx)) {
                                agent.hello();
                                agent.signal(Signals.SIGKILL, guestPid);
                            } catch (RuntimeException again) {
                                e.addSuppressed(again);
                            }
                            throw e;
                        }
                    }
                });
        if (relay == 0 && terminal != null) {
            throw new CapsaException("container \"" + id + "\": " + EXEC_SLOTS + " exec'd processes with stdio already "
                    + "run in its guest (the vm backend's limit); a terminal needs one of their slots");
        }
        return relay != 0;
    }

    private static CapsaException execFailed(String id, AgentException e) {
        if (e.step().equals("exec")) {
            // runc's wording
            return new CapsaException("container \"" + id + "\": unable to start container process: exec: "
                    + e.getMessage(), e);
        }
        return new CapsaException("container \"" + id + "\": exec: " + e.getMessage(), e);
    }

    /** runc: the pid, no newline, written to a temp file and renamed. */
    private static void writePidFile(Path file, long pid) {
        try {
            Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
            Files.writeString(tmp, Long.toString(pid));
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new CapsaException("cannot write the pid file " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public int waitExit(ContainerContext ctx) {
        Foreground fg = FOREGROUND.get(ctx.stateDir());
        GuestAgent.Exit exit;
        // the signals that would end the caller (^C, a TERM to the client) end the guest: its monitor
        // dies of them, and the run returns 128 + n, as when they ended a JVM of its own before
        java.util.concurrent.atomic.AtomicInteger forwarded = new java.util.concurrent.atomic.AtomicInteger();
        GuestAgent kept = kept(ctx);
        try (GuestAgent agent = kept != null ? kept : agent(ctx);
             dev.capsa.os.Launcher.Forwarding signals = dev.capsa.os.Caller.current().launcher().forwardSignals(sig -> {
                 forwarded.compareAndSet(0, sig);
                 try {
                     ctx.os().kill(ctx.pid().getAsLong(), sig);
                 } catch (SyscallException e) {
                     LOG.debug("container \"{}\": signal {} to the monitor: {}", ctx.id(), sig, e.getMessage());
                 }
             })) {
            if (kept == null) {
                agent.hello();
            }
            exit = agent.awaitExit();
            long exited = System.nanoTime();
            LOG.debug("container \"{}\": the process exited with {}", ctx.id(), exit.code());
            if (fg != null && !fg.relay().awaitCounts(exit.stdoutBytes(), exit.stderrBytes(), REPLY_TIMEOUT)) {
                LOG.warn("container \"{}\": the guest wrote {} and {} bytes to stdout and stderr, {} and {} arrived",
                        ctx.id(), exit.stdoutBytes(), exit.stderrBytes(), fg.relay().outBytes(), fg.relay().errBytes());
            }
            if (fg != null) {
                // the process has ended and its output is here: nothing of the guest is left to wait
                // for (9p writes reach the host at once, cache=none), so it ends now, without the
                // guest kernel's power-off
                fg.agent().close();
                kill(fg.monitor());
                LOG.debug("container \"{}\": output in and the guest gone {} ms after the exit", ctx.id(),
                        (System.nanoTime() - exited) / 1_000_000);
            } else {
                agent.powerOff();
            }
        } catch (AgentException e) {
            if (forwarded.get() != 0) {
                ProcessHandle.of(ctx.pid().getAsLong()).ifPresent(m -> awaitGone(m, GONE_TIMEOUT));
                return 128 + forwarded.get();
            }
            throw new CapsaException("container \"" + ctx.id() + "\": lost the guest agent: " + e.getMessage()
                    + consoleTail(ctx.stateDir()), e);
        }
        ProcessHandle.of(ctx.pid().getAsLong()).ifPresent(monitor -> {
            List<ProcessHandle> below = monitor.descendants().toList();
            if (!awaitGone(monitor, GONE_TIMEOUT)) {
                kill(monitor);
            }
            awaitAllGone(below);
        });
        return exit.code();
    }

    // ---- internals

    /**
     * A create that died between QEMU's start and the record of its pid left a guest nobody
     * knows the pid of: it is found by the control socket in this container's state directory,
     * which its command line names (and only its own can).
     */
    private static void killUnrecorded(ContainerContext ctx) {
        String ctl = ",path=" + ctx.stateDir().resolve(CTL) + ",";
        ProcessHandle.allProcesses()
                .filter(p -> p.info().arguments().map(args -> java.util.Arrays.stream(args)
                        .anyMatch(a -> a.contains(ctl))).orElse(false))
                .forEach(p -> {
                    LOG.warn("container \"{}\": QEMU (pid {}) runs without a record; killing it", ctx.id(), p.pid());
                    kill(p);
                });
    }

    private GuestAgent agent(ContainerContext ctx) {
        return agents.apply(ctx.stateDir().resolve(CTL));
    }

    /** The connection a foreground run of this JVM keeps, lent (closing it does not close it), or null. */
    private static GuestAgent kept(ContainerContext ctx) {
        Foreground fg = FOREGROUND.get(ctx.stateDir());
        return fg == null ? null : new Lent(fg.agent());
    }

    private record Lent(GuestAgent agent) implements GuestAgent {
        public Hello hello() {
            return agent.hello();
        }

        public long create(List<List<String>> orders) {
            return agent.create(orders);
        }

        public void start() {
            agent.start();
        }

        public void signal(int signal) {
            agent.signal(signal);
        }

        public long exec(List<List<String>> orders, int slot) {
            return agent.exec(orders, slot);
        }

        public void signal(int signal, long pid) {
            agent.signal(signal, pid);
        }

        public Exit awaitExit() {
            return agent.awaitExit();
        }

        public void powerOff() {
            agent.powerOff();
        }

        public void close() {
            // the run's: closed when the run ends
        }
    }

    /** Asks the agent to power off; kills the monitor (QEMU dies with it) if the guest does not go in time. */
    private void stopGuest(ContainerContext ctx) {
        ProcessHandle monitor = ProcessHandle.of(ctx.pid().getAsLong()).orElse(null);
        if (monitor == null) {
            return;
        }
        boolean acked = false;
        List<ProcessHandle> below = monitor.descendants().toList();
        if (!paused(ctx)) {
            try (GuestAgent agent = agent(ctx)) {
                agent.hello();
                agent.powerOff();
                acked = true;
            } catch (RuntimeException e) {
                LOG.debug("container \"{}\": power-off through the agent failed: {}", ctx.id(), e.getMessage());
            }
        }
        if (acked) {
            Faults.at(FaultStep.VM_POWER_OFF_SENT);
        }
        if (!acked || !awaitGone(monitor, Duration.ofSeconds(2))) {
            try {
                ctx.os().kill(monitor.pid(), Signals.SIGKILL);
            } catch (SyscallException e) {
                if (e.errno() != 3) { // ESRCH: it went meanwhile
                    throw e;
                }
            }
            if (!awaitGoneCtx(ctx, GONE_TIMEOUT)) {
                throw new CapsaException("container \"" + ctx.id() + "\": its monitor (pid " + monitor.pid()
                        + ") is still there " + GONE_TIMEOUT.toMillis() + " ms after SIGKILL");
            }
        }
        awaitAllGone(below);
    }

    /** QEMU dies with its monitor (PR_SET_PDEATHSIG), a moment later: nothing is left once this returns. */
    private static void awaitAllGone(List<ProcessHandle> processes) {
        for (ProcessHandle p : processes) {
            if (!awaitGone(p, GONE_TIMEOUT)) {
                p.destroyForcibly();
                if (!awaitGone(p, GONE_TIMEOUT)) {
                    LOG.warn("pid {} is still there {} ms after SIGKILL", p.pid(), GONE_TIMEOUT.toMillis());
                }
            }
        }
    }

    private static boolean awaitGoneCtx(ContainerContext ctx, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (ctx.processAlive()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            sleep(5);
        }
        return true;
    }

    /**
     * Whether the process is gone within the time. A zombie counts as gone: under the capsa server
     * the monitor is the client's child, which reaps it only when the command is done.
     */
    static boolean awaitGone(ProcessHandle p, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (p.isAlive() && !zombie(p.pid())) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            sleep(5);
        }
        return true;
    }

    /** /proc/PID/stat's state is Z: ended, not yet reaped. */
    private static boolean zombie(long pid) {
        return ProcStat.state(PROC, pid) == 'Z';
    }

    /** Kills the monitor, and waits for it and QEMU to be gone. */
    private static void kill(ProcessHandle monitor) {
        List<ProcessHandle> below = monitor.descendants().toList();
        monitor.destroyForcibly();
        if (!awaitGone(monitor, GONE_TIMEOUT)) {
            LOG.warn("the guest's monitor (pid {}) is still there {} ms after SIGKILL", monitor.pid(),
                    GONE_TIMEOUT.toMillis());
        }
        awaitAllGone(below);
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // shutting down already
        }
    }

    private static Path rootfs(ContainerContext ctx) {
        String path = ctx.spec().root() == null ? null : ctx.spec().root().path();
        if (path == null || path.isEmpty()) {
            throw new dev.capsa.error.InvalidSpecException("/root/path", "the vm backend needs a root filesystem");
        }
        Path p = Path.of(path);
        return (p.isAbsolute() ? p : ctx.bundle().resolve(p)).normalize();
    }

    /** Whether this process's stdin is a pipe or a FIFO (S_IFIFO). */
    /** Whether the caller's stdin (under the capsa server, the client's) is a pipe or a FIFO. */
    private static boolean stdinIsAPipe() {
        try {
            long caller = dev.capsa.os.Caller.current().pid();
            int mode = (Integer) Files.getAttribute(Path.of("/proc/" + caller + "/fd/0"), "unix:mode");
            return (mode & 0170000) == 0010000;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return false;
        }
    }

    /** A socket path in the state dir; sun_path holds 107 bytes and a NUL. */
    private static Path socket(Path dir, String name) {
        Path socket = dir.resolve(name);
        if (socket.toString().getBytes(StandardCharsets.UTF_8).length > 107) {
            throw new CapsaException("the socket path " + socket + " is too long for a unix socket (--root is too deep)");
        }
        return socket;
    }

    /** The last lines of the guest's console and QEMU's own messages, for an error a user can act on. */
    static String consoleTail(Path dir) {
        StringBuilder out = new StringBuilder();
        for (String name : List.of(CONSOLE, QEMU_LOG)) {
            try {
                List<String> lines = Files.readAllLines(dir.resolve(name), StandardCharsets.UTF_8);
                List<String> tail = lines.subList(Math.max(0, lines.size() - 15), lines.size()).stream()
                        .filter(l -> !l.isBlank()).toList();
                if (!tail.isEmpty()) {
                    out.append("\n").append(name.equals(CONSOLE) ? "guest console" : "qemu").append(" (")
                            .append(dir.resolve(name)).append("):\n  ").append(String.join("\n  ", tail));
                }
            } catch (IOException e) {
                // not written
            }
        }
        return out.toString();
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
