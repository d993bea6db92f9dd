package dev.capsa.engine;

import dev.capsa.error.CapsaException;
import dev.capsa.os.Os;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.ContainerLock;
import dev.capsa.state.ContainerRecord;
import dev.capsa.state.StateStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * The engine's {@link ContainerContext}: one container as one command sees it. Writes go through
 * the store at once, so another command (or a crash) sees what the backend recorded.
 */
final class StoredContainer implements ContainerContext {
    static final String SPEC_COPY = "config.json";

    private final StateStore store;
    private final ContainerLock lock;
    private final Os os;
    private final HookGate hooks;
    private ContainerRecord record;
    private Spec spec;

    /** What the engine does when a backend reaches a hook phase. */
    interface HookGate {
        void reached(StoredContainer container, HookPhase phase);
    }

    StoredContainer(StateStore store, ContainerLock lock, ContainerRecord record, Spec spec, Os os, HookGate hooks) {
        this.store = store;
        this.lock = lock;
        this.record = record;
        this.spec = spec;
        this.os = os;
        this.hooks = hooks;
    }

    private final Set<HookPhase> phasesRun = EnumSet.noneOf(HookPhase.class);

    ContainerRecord record() {
        return record;
    }

    ContainerLock lock() {
        return lock;
    }

    boolean ran(HookPhase phase) {
        return phasesRun.contains(phase);
    }

    void markRan(HookPhase phase) {
        phasesRun.add(phase);
    }

    void update(ContainerRecord newRecord) {
        if (lock == null) {
            throw new IllegalStateException("a read-only view of container " + record.id() + " cannot be changed");
        }
        store.write(lock, newRecord);
        record = newRecord;
    }

    @Override
    public String id() {
        return record.id();
    }

    @Override
    public Path bundle() {
        return Path.of(record.bundle());
    }

    @Override
    public Spec spec() {
        if (spec == null) {
            Path copy = stateDir().resolve(SPEC_COPY);
            try {
                spec = SpecLoader.parse(Files.readAllBytes(copy));
            } catch (IOException e) {
                throw new CapsaException("cannot read the config of container \"" + id() + "\": " + copy + ": "
                        + e.getMessage(), e);
            }
        }
        return spec;
    }

    @Override
    public Path stateDir() {
        return store.dir(record.id());
    }

    @Override
    public OptionalLong pid() {
        return record.pid() > 0 ? OptionalLong.of(record.pid()) : OptionalLong.empty();
    }

    @Override
    public boolean processAlive() {
        if (record.pid() <= 0) {
            return false;
        }
        OptionalLong start = os.processStartTime(record.pid());
        return start.isPresent() && start.getAsLong() == record.pidStartTime();
    }

    @Override
    public void recordPid(long pid) {
        OptionalLong start = os.processStartTime(pid);
        if (start.isEmpty()) {
            throw new CapsaException("container \"" + id() + "\": process " + pid + " is gone before it was recorded");
        }
        update(record.withPid(pid, start.getAsLong()));
    }

    @Override
    public Optional<String> data(String key) {
        return Optional.ofNullable(record.data().get(key));
    }

    @Override
    public void putData(String key, String value) {
        update(record.withData(key, value));
    }

    @Override
    public void runHooks(HookPhase phase) {
        hooks.reached(this, phase);
    }

    @Override
    public Os os() {
        return os;
    }
}
