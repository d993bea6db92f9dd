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
 * command that made it. Its pid is what this backend records as the container's pid: the process
 * that holds the container in the host's pid namespace. The agent's control port ends in a socket
 * QEMU listens on ({@code ctl.sock} in the state directory), so every later command (start, kill,
 * delete) connects to it anew; no relay process is needed between commands.
 *
 * <p>stdio: a foreground {@code run} relays the guest's stdout and stderr through this JVM to the
 * caller's, and the caller's stdin to the guest, and waits for the byte counts the agent reports
 * before it lets the guest power off. A detached container's stdout and stderr go to the
 * descriptors the creating command inherited (QEMU opens /proc/PID/fd/1 and 2 of the JVM, as a
 * runc container inherits them); its stdin is /dev/null, and the guest powers off by itself when
 * the process ends.
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
    static final String STARTED = "vm.started";
    /**
     * virtio-serial ports for exec'd processes' stdio, each behind a socket QEMU listens on
     * ({@code exec0.sock} ...): as many execs with stdio at once (docs/vm.md).
     */
    static final int EXEC_SLOTS = 4;

    /** Foreground guests of this JVM, by state dir: run's waitExit relays and acks them. */
    private static final Map<Path, Foreground> FOREGROUND = new ConcurrentHashMap<>();

    private record Foreground(ProcessHandle qemu, StdioRelay relay, Thread reaper) {
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
        Features.Linux linux = new Features.Linux(List.of(), CapabilityNames.NAMES, null, new Features.Seccomp(false, null, null, null, null, null), Features.Enabled.NO,
                Features.Enabled.NO, Features.Enabled.NO, new Features.MountExtensions(Features.Enabled.NO),
                Features.Enabled.NO);
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
        if (options.consoleSocket() != null) {
            throw new BackendUnavailableException("the vm backend has no terminal support yet (--console-socket)");
        }
        if (options.preserveFds() > 0) {
            throw new BackendUnavailableException("the vm backend cannot pass descriptors into the guest (--preserve-fds)");
        }
        GuestPlan plan = GuestPlan.from(ctx.spec(), options.foreground(), ctx.bundle());
        Hypervisor hypervisor = Launcher.forSpec(ctx.spec(), this.hypervisor);
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
        } else {
            long self = ProcessHandle.current().pid();
            out = new QemuCommandLine.File(Path.of("/proc/" + self + "/fd/1"));
            err = new QemuCommandLine.File(Path.of("/proc/" + self + "/fd/2"));
            in = null;
        }
        List<QemuCommandLine.Chardev> execs = new ArrayList<>();
        for (int i = 0; i < EXEC_SLOTS; i++) {
            execs.add(new QemuCommandLine.ListeningSocket(socket(dir, ExecSession.socketName(i))));
        }
        VmConfig vm = new VmConfig(accel.accel(), plan.memoryMib(), plan.cpus(), HostClock.tscKhz(), image.kernel(),
                image.initramfs(), rootfs(ctx), plan.shares(), dir.resolve(CONSOLE),
                new QemuCommandLine.ListeningSocket(ctl), out, err, in, List.copyOf(execs), dir.resolve(QEMU_LOG));
        ProcessHandle qemu = null;
        long started = System.nanoTime();
        try {
            qemu = hypervisor.launch(vm);
            Faults.at(FaultStep.VM_QEMU_LAUNCHED);
            ctx.recordPid(qemu.pid());
            Faults.at(FaultStep.VM_PID_RECORDED);
            if (relay != null) {
                relay.accept(qemu, Duration.ofSeconds(5));
            }
            try (GuestAgent agent = AgentClient.connect(ctl, Duration.ofSeconds(5), bootTimeout)) {
                GuestAgent.Hello hello = agent.hello();
                if (hello.state() != GuestAgent.State.BOOTED) {
                    throw new CapsaException("the guest agent is " + hello.state() + ", not booted");
                }
                Faults.at(FaultStep.VM_GUEST_BOOTED);
                LOG.debug("container \"{}\": guest booted in {} ms", ctx.id(), (System.nanoTime() - started) / 1_000_000);
                long guestPid = agent.create(plan.orders());
                ctx.putData("vm.guestPid", Long.toString(guestPid));
                Faults.at(FaultStep.VM_AGENT_CREATED);
            }
            if (relay != null) {
                ProcessHandle q = qemu;
                // ^C or a crash of this JVM during a foreground run must not leave the guest behind
                Thread reaper = new Thread(() -> q.destroyForcibly(), "capsa-vm-reaper");
                Runtime.getRuntime().addShutdownHook(reaper);
                FOREGROUND.put(dir, new Foreground(qemu, relay, reaper));
            }
        } catch (RuntimeException e) {
            if (qemu != null) {
                kill(qemu);
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
        try (GuestAgent agent = agent(ctx)) {
            agent.hello();
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
        return ctx.data(STARTED).isPresent() ? Status.RUNNING : Status.CREATED;
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        if (all && !ctx.processAlive()) {
            return; // stopped: nothing of the container outlives its guest
        }
        if (!ctx.processAlive()) {
            throw new CapsaException("container \"" + ctx.id() + "\": its guest is gone");
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
            // every slot is taken: the process runs without stdio, and nothing but QEMU stands for it
            LOG.warn("container \"{}\": all {} exec slots are taken; the exec'd process runs without stdio and the "
                    + "pid file names QEMU", id, EXEC_SLOTS);
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
        try (GuestAgent agent = agent(ctx)) {
            agent.hello();
            exit = agent.awaitExit();
            if (fg != null && !fg.relay().awaitCounts(exit.stdoutBytes(), exit.stderrBytes(), REPLY_TIMEOUT)) {
                LOG.warn("container \"{}\": the guest wrote {} and {} bytes to stdout and stderr, {} and {} arrived",
                        ctx.id(), exit.stdoutBytes(), exit.stderrBytes(), fg.relay().outBytes(), fg.relay().errBytes());
            }
            agent.powerOff();
        } catch (AgentException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": lost the guest agent: " + e.getMessage()
                    + consoleTail(ctx.stateDir()), e);
        }
        ProcessHandle.of(ctx.pid().getAsLong()).ifPresent(q -> {
            if (!awaitGone(q, GONE_TIMEOUT)) {
                kill(q);
            }
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

    /** Asks the agent to power off; kills QEMU if it does not go in time. */
    private void stopGuest(ContainerContext ctx) {
        ProcessHandle qemu = ProcessHandle.of(ctx.pid().getAsLong()).orElse(null);
        if (qemu == null) {
            return;
        }
        boolean acked = false;
        try (GuestAgent agent = agent(ctx)) {
            agent.hello();
            agent.powerOff();
            acked = true;
        } catch (RuntimeException e) {
            LOG.debug("container \"{}\": power-off through the agent failed: {}", ctx.id(), e.getMessage());
        }
        if (acked) {
            Faults.at(FaultStep.VM_POWER_OFF_SENT);
        }
        if (!acked || !awaitGone(qemu, Duration.ofSeconds(2))) {
            try {
                ctx.os().kill(qemu.pid(), Signals.SIGKILL);
            } catch (SyscallException e) {
                if (e.errno() != 3) { // ESRCH: it went meanwhile
                    throw e;
                }
            }
            if (!awaitGoneCtx(ctx, GONE_TIMEOUT)) {
                throw new CapsaException("container \"" + ctx.id() + "\": QEMU (pid " + qemu.pid()
                        + ") is still there " + GONE_TIMEOUT.toMillis() + " ms after SIGKILL");
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

    static boolean awaitGone(ProcessHandle p, Duration timeout) {
        try {
            p.onExit().get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return !p.isAlive();
        } catch (java.util.concurrent.ExecutionException e) {
            return !p.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !p.isAlive();
        }
    }

    private static void kill(ProcessHandle qemu) {
        qemu.destroyForcibly();
        if (!awaitGone(qemu, GONE_TIMEOUT)) {
            LOG.warn("QEMU (pid {}) is still there {} ms after SIGKILL", qemu.pid(), GONE_TIMEOUT.toMillis());
        }
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
