package dev.capsa.engine;

import dev.capsa.spec.Hook;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;

/** Runs one config.json hook on the host: the state on stdin, its args and env, its timeout. */
public interface HookRunner {
    /** Throws {@link dev.capsa.error.HookFailedException} naming the phase, the path and why. */
    void run(HookPhase phase, Hook hook, OciState state);
}
