package dev.capsa.engine;

import dev.capsa.error.CapsaException;
import dev.capsa.error.HookFailedException;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Spec;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.state.OciState;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one phase: the config.json hooks of the phase first, then the hook extensions in their
 * order. A failure in a fatal phase is thrown; in poststart and poststop it is logged and the
 * lifecycle goes on (config.md). Each extension gets a bounded time, as an OCI hook gets its
 * {@code timeout}: one that hangs counts as failed.
 */
public final class HookDispatcher {
    private static final Logger LOG = LoggerFactory.getLogger(HookDispatcher.class);

    /** The annotation that narrows the hook plugins of one container: comma-separated names, or "none". */
    public static final String ANNOTATION = "dev.capsa.hooks";
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    private final HookRunner ociRunner;
    private final Supplier<List<LifecycleHook>> extensions;
    private final Duration timeout;

    public HookDispatcher(HookRunner ociRunner, Supplier<List<LifecycleHook>> extensions) {
        this(ociRunner, extensions, DEFAULT_TIMEOUT);
    }

    /** @param timeout how long one extension may run in one phase */
    public HookDispatcher(HookRunner ociRunner, Supplier<List<LifecycleHook>> extensions, Duration timeout) {
        this.ociRunner = ociRunner;
        this.extensions = extensions;
        this.timeout = timeout;
    }

    /**
     * @param withOciHooks false for the in-container phases, whose config.json hooks the backend
     *                     runs inside the container itself
     */
    public void run(HookPhase phase, Spec spec, OciState state, boolean withOciHooks) {
        if (withOciHooks && spec.hooks() != null) {
            List<Hook> hooks = spec.hooks().of(phase.specName());
            for (Hook hook : hooks) {
                try {
                    ociRunner.run(phase, hook, state);
                } catch (CapsaException e) {
                    failed(phase, e);
                }
            }
        }
        Set<String> wanted = wanted(spec);
        if (wanted != null && wanted.isEmpty()) {
            return; // "none": not even the plugins get loaded
        }
        for (LifecycleHook extension : extensions.get()) {
            if (!extension.phases().contains(phase) || (wanted != null && !wanted.contains(extension.name()))) {
                continue;
            }
            try {
                runBounded(extension, phase, state);
            } catch (HookFailedException e) {
                failed(phase, e);
            }
        }
    }

    /** The names the annotation allows, empty for "none", or null when the container does not narrow them. */
    static Set<String> wanted(Spec spec) {
        String value = spec == null || spec.annotations() == null ? null : spec.annotations().get(ANNOTATION);
        if (value == null) {
            return null;
        }
        Set<String> names = Arrays.stream(value.split(",")).map(String::strip).filter(s -> !s.isEmpty())
                .collect(Collectors.toSet());
        return names.contains("none") ? Set.of() : names;
    }

    /**
     * Runs the extension on a daemon thread and waits at most the timeout. A Java thread cannot be
     * killed: one past its time is interrupted and abandoned (a daemon, it does not keep the JVM
     * alive), and the phase goes on as if the hook had failed.
     */
    private void runBounded(LifecycleHook extension, HookPhase phase, OciState state) {
        String what = phase.specName() + " hook plugin " + extension.name();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread worker = new Thread(() -> {
            try {
                extension.run(phase, state);
            } catch (Throwable t) {
                thrown.set(t);
            }
        }, "hook-" + extension.name());
        worker.setDaemon(true);
        worker.start();
        try {
            worker.join(timeout.toMillis());
        } catch (InterruptedException e) {
            worker.interrupt();
            Thread.currentThread().interrupt();
            throw new HookFailedException(what + ": interrupted", e);
        }
        if (worker.isAlive()) {
            worker.interrupt();
            throw new HookFailedException(what + ": timed out after " + seconds(timeout) + " s");
        }
        Throwable t = thrown.get();
        if (t == null) {
            return;
        }
        if (t instanceof HookFailedException failure) {
            throw new HookFailedException(what + ": " + failure.getMessage(), failure);
        }
        if (t instanceof RuntimeException || t instanceof LinkageError) {
            throw new HookFailedException(what + " failed: " + t, t);
        }
        if (t instanceof Error error) {
            throw error; // out of memory and the like are not a hook's failure
        }
        throw new HookFailedException(what + " failed: " + t, t);
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? Long.toString(d.toSeconds()) : Double.toString(d.toMillis() / 1000.0);
    }

    private static void failed(HookPhase phase, CapsaException e) {
        if (phase.fatal()) {
            throw e;
        }
        LOG.warn("{} (the lifecycle goes on)", e.getMessage());
    }
}
