package dev.capsa.spi;

import dev.capsa.state.OciState;
import java.util.Set;
import org.pf4j.ExtensionPoint;

/**
 * A hook plugin: runs at the phases it names, after the config.json hooks of the same phase.
 * Extensions run in {@code @Extension(ordinal)} order. A hook that throws during a fatal phase
 * (see {@link HookPhase#fatal()}) stops the container like a failing OCI hook.
 */
public interface LifecycleHook extends ExtensionPoint {
    /** A short name, used in logs and to switch the hook on or off. */
    String name();

    Set<HookPhase> phases();

    void run(HookPhase phase, OciState state);
}
