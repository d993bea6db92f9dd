package dev.capsa.example;

import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.Errno;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.error.SyscallException;
import dev.capsa.os.Os;
import dev.capsa.os.Signals;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Hooks;
import dev.capsa.spec.ProcessSpec;
import dev.capsa.spec.Spec;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.Features;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.Status;
import jakarta.inject.Inject;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.pf4j.Extension;

/**
 * The {@code hello} backend, a template for writing your own (docs/plugins.md). It runs the
 * container's process as a plain host process, chrooted into the bundle's rootfs.
 *
 * <p><b>No isolation:</b> no namespaces, no cgroups, no mounts, no capabilities, no seccomp.
 * The process sees the host's pids, network and users, and root in it is root on the host.
 * It is for learning and for tests, never for code you do not trust.
 *
 * <p>How it maps onto runc's design without native code:
 * <ul>
 *   <li>create spawns {@code /bin/sh -c 'read _ < "$0" && exec "$@"' FIFO /usr/sbin/chroot ROOTFS ARGS...}
 *       ({@link ChrootCommand}); the shell blocks on the exec fifo, so the process exists (and
 *       has its pid) but the user's program has not run yet;</li>
 *   <li>start writes a line into the fifo and removes it ({@link ExecFifo});</li>
 *   <li>status is never stored: the pid is alive with the start time it had at create, and the
 *       fifo is still there (created) or not (running); otherwise stopped.</li>
 * </ul>
 */
@Extension
public final class HelloBackend implements RuntimeBackend {
    static final String NAME = "hello";
    static final String FIFO = "exec.fifo";
    static final String STDOUT = "stdout.log";
    static final String STDERR = "stderr.log";
    /** Key of the pid's start time in the container's data: a pid alone can be reused. */
    private static final Duration KILL_WAIT = Duration.ofSeconds(10);

    /**
     * The processes this JVM spawned, by state dir. Only a parent can read a child's exit code,
     * and the engine calls {@link #waitExit} in the command that created the container
     * ({@code capsa run}), so this map is enough; other commands never need it.
     */
    private static final Map<Path, Process> CHILDREN = new ConcurrentHashMap<>();

    private final Os os;
    private final List<String> tools;

    /** Guice calls this: the plugin gets core's {@link Os}, the same one the engine uses. */
    @Inject
    public HelloBackend(Os os) {
        this(os, List.of(ChrootCommand.SH, ChrootCommand.CHROOT, ExecFifo.MKFIFO));
    }

    /** For tests: the host programs that {@link #probe} looks for. */
    HelloBackend(Os os, List<String> tools) {
        this.os = os;
        this.tools = tools;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Availability probe() {
        int euid = os.euid();
        if (euid != 0) {
            return Availability.no("needs root: chroot(2) requires CAP_SYS_CHROOT (running as uid " + euid + ")");
        }
        for (String tool : tools) {
            if (!Files.isExecutable(Path.of(tool))) {
                return Availability.no(tool + " is missing (hello runs /bin/sh, and chroot and mkfifo from coreutils)");
            }
        }
        return Availability.yes();
    }

    @Override
    public Features features() {
        // only what it does: the host-side hooks (the engine runs them), nothing of linux
        return new Features(DefaultSpec.OCI_VERSION_MIN, DefaultSpec.OCI_VERSION,
                List.of("prestart", "createRuntime", "poststart", "poststop"), List.of(),
                new Features.Linux(List.of(), List.of(), new Features.Cgroup(false, false, false, false, false),
                        new Features.Seccomp(false, null, null, null, null, null), Features.Enabled.NO,
                        Features.Enabled.NO, Features.Enabled.NO, null, Features.Enabled.NO),
                null, null);
    }

    @Override
    public void create(ContainerContext ctx, CreateOptions options) {
        Spec spec = ctx.spec();
        refuseWhatItCannotDo(spec, options);
        Path fifo = ctx.stateDir().resolve(FIFO);
        ExecFifo.make(fifo);

        ProcessBuilder builder = new ProcessBuilder(ChrootCommand.argv(fifo, rootfs(ctx), spec.process()));
        builder.environment().clear(); // process.env and nothing of capsa's own environment
        List<String> env = spec.process().env() == null ? List.of() : spec.process().env();
        for (String entry : env) {
            int eq = entry.indexOf('=');
            if (eq > 0) {
                builder.environment().put(entry.substring(0, eq), entry.substring(eq + 1));
            }
        }
        if (options.foreground()) {
            builder.inheritIO(); // capsa run: the process talks to the caller's terminal or pipes
        } else {
            builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ctx.stateDir().resolve(STDOUT).toFile())
                    .redirectError(ctx.stateDir().resolve(STDERR).toFile());
        }
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": cannot spawn " + ChrootCommand.SH + ": "
                    + e.getMessage(), e);
        }
        CHILDREN.put(ctx.stateDir(), process);

        ctx.recordPid(process.pid()); // fails, and the engine cleans up, when the process is already gone
        // the process exists and waits: the point where runc runs the createRuntime hooks
        ctx.runHooks(HookPhase.CREATE_RUNTIME);
    }

    @Override
    public void start(ContainerContext ctx) {
        Path fifo = ctx.stateDir().resolve(FIFO);
        try {
            ExecFifo.release(fifo, ctx::processAlive);
        } catch (CapsaException e) {
            throw new CapsaException("cannot start container \"" + ctx.id() + "\": " + e.getMessage(), e);
        }
        try {
            Files.delete(fifo); // from here on, status says running
        } catch (IOException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": cannot remove " + fifo + ": " + e.getMessage(),
                    e);
        }
    }

    @Override
    public Status status(ContainerContext ctx) {
        if (!ctx.processAlive()) {
            return Status.STOPPED;
        }
        return Files.exists(ctx.stateDir().resolve(FIFO)) ? Status.CREATED : Status.RUNNING;
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        long pid = ctx.pid().orElseThrow(() -> new CapsaException("container \"" + ctx.id() + "\" has no process"));
        // without a cgroup, "all" can only mean the process's descendants as /proc shows them now:
        // a process that double-forked away is missed
        List<Long> targets = new ArrayList<>();
        targets.add(pid);
        if (all) {
            ProcessHandle.of(pid).ifPresent(p -> p.descendants().forEach(d -> targets.add(d.pid())));
        }
        for (long target : targets) {
            try {
                os.kill(target, signal);
            } catch (SyscallException e) {
                if (e.errno() != Errno.number("ESRCH") || target == pid) {
                    throw e;
                }
                // a descendant that ended meanwhile
            }
        }
    }

    @Override
    public void delete(ContainerContext ctx, boolean force) {
        Process child = CHILDREN.remove(ctx.stateDir());
        if (ctx.processAlive()) {
            // the engine lets a live container through only with --force
            kill(ctx, Signals.SIGKILL, true);
            awaitEnd(ctx);
        } else if (child != null && child.isAlive()) {
            // a create that failed before it recorded the process: only this JVM knows it
            try {
                child.destroyForcibly().waitFor(KILL_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // the fifo and the logs are in ctx.stateDir(), which the engine removes
    }

    @Override
    public int waitExit(ContainerContext ctx) {
        Process process = CHILDREN.get(ctx.stateDir());
        if (process == null) {
            throw new CapsaException("container \"" + ctx.id() + "\" was not created by this capsa process: "
                    + "only the parent of its process can read the exit code");
        }
        try {
            // on Linux the JDK reports a death by signal n as 128 + n, as the SPI wants
            return process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted while waiting for container \"" + ctx.id() + "\"", e);
        }
    }

    // ---- internals

    private void awaitEnd(ContainerContext ctx) {
        long deadline = System.nanoTime() + KILL_WAIT.toNanos();
        while (ctx.processAlive()) {
            if (System.nanoTime() > deadline) {
                throw new CapsaException("container \"" + ctx.id() + "\": process " + ctx.pid().getAsLong()
                        + " is still there " + KILL_WAIT.toSeconds() + "s after SIGKILL");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CapsaException("interrupted while deleting container \"" + ctx.id() + "\"", e);
            }
        }
    }

    private static Path rootfs(ContainerContext ctx) {
        Path root = Path.of(ctx.spec().root().path());
        return root.isAbsolute() ? root : ctx.bundle().resolve(root).normalize();
    }

    /** Says no to what it cannot do, rather than running the container without it. */
    private static void refuseWhatItCannotDo(Spec spec, CreateOptions options) {
        ProcessSpec process = spec.process();
        if (process == null) {
            throw new InvalidSpecException("/process", "the hello backend needs the process at create");
        }
        if (Boolean.TRUE.equals(process.terminal()) || options.consoleSocket() != null) {
            throw BackendUnavailableException.unsupported(NAME, "process.terminal (set it to false)");
        }
        if (options.preserveFds() > 0) {
            throw BackendUnavailableException.unsupported(NAME, "--preserve-fds");
        }
        Hooks hooks = spec.hooks();
        if (hooks != null && (!hooks.of("createContainer").isEmpty() || !hooks.of("startContainer").isEmpty())) {
            throw BackendUnavailableException.unsupported(NAME,
                    "createContainer and startContainer hooks (they run in the container's namespaces, and hello "
                            + "has none)");
        }
    }
}
