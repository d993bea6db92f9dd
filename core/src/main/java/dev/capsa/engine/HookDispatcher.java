package dev.capsa.engine;

import dev.capsa.error.CapsaException;
import dev.capsa.error.HookFailedException;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Spec;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.state.OciState;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one phase: the config.json hooks of the phase first, then the hook extensions in their
 * order. A failure in a fatal phase is thrown; in poststart and poststop it is logged and the
 * lifecycle goes on (config.md).
 */
public final class HookDispatcher {
    private static final Logger LOG = LoggerFactory.getLogger(HookDispatcher.class);

    private final HookRunner ociRunner;
    private final Supplier<List<LifecycleHook>> extensions;

    public HookDispatcher(HookRunner ociRunner, Supplier<List<LifecycleHook>> extensions) {
        this.ociRunner = ociRunner;
        this.extensions = extensions;
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
        for (LifecycleHook extension : extensions.get()) {
            if (!extension.phases().contains(phase)) {
                continue;
            }
            try {
                extension.run(phase, state);
            } catch (RuntimeException | LinkageError e) {
                failed(phase, new HookFailedException(phase.specName() + " hook plugin " + extension.name()
                        + " failed: " + e, e));
            }
        }
    }

    private static void failed(HookPhase phase, CapsaException e) {
        if (phase.fatal()) {
            throw e;
        }
        LOG.warn("{} (the lifecycle goes on)", e.getMessage());
    }
}
