package dev.capsa.engine;

import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.state.OciState;
import java.util.Set;
import java.util.function.BiConsumer;

/** Hook plugins for engine tests, built from a name, the phases and what each run does. */
final class TestHooks {
    private TestHooks() {
    }

    static LifecycleHook hook(String name, Set<HookPhase> phases, BiConsumer<HookPhase, OciState> body) {
        return new LifecycleHook() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Set<HookPhase> phases() {
                return phases;
            }

            @Override
            public void run(HookPhase phase, OciState state) {
                body.accept(phase, state);
            }
        };
    }
}
