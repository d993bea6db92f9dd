package dev.capsa.example;

import dev.capsa.os.Os;
import dev.capsa.spec.Spec;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.HookPhase;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/** What the engine would hand the backend, kept in memory; records the hook points reached. */
final class FakeContext implements ContainerContext {
    final Path bundle;
    final Path stateDir;
    final Spec spec;
    final Os os;
    final Map<String, String> data = new HashMap<>();
    final List<HookPhase> hooks = new ArrayList<>();
    long pid;
    long pidStartTime;

    FakeContext(Path bundle, Path stateDir, Spec spec, Os os) {
        this.bundle = bundle;
        this.stateDir = stateDir;
        this.spec = spec;
        this.os = os;
    }

    @Override
    public String id() {
        return "c1";
    }

    @Override
    public Path bundle() {
        return bundle;
    }

    @Override
    public Spec spec() {
        return spec;
    }

    @Override
    public Path stateDir() {
        return stateDir;
    }

    @Override
    public OptionalLong pid() {
        return pid > 0 ? OptionalLong.of(pid) : OptionalLong.empty();
    }

    @Override
    public void recordPid(long newPid) {
        // as the engine does: the pid with its start time
        pid = newPid;
        pidStartTime = os.processStartTime(newPid).orElseThrow();
    }

    @Override
    public boolean processAlive() {
        OptionalLong now = pid > 0 ? os.processStartTime(pid) : OptionalLong.empty();
        return now.isPresent() && now.getAsLong() == pidStartTime;
    }

    @Override
    public Optional<String> data(String key) {
        return Optional.ofNullable(data.get(key));
    }

    @Override
    public void putData(String key, String value) {
        data.put(key, value);
    }

    @Override
    public void runHooks(HookPhase phase) {
        hooks.add(phase);
    }

    @Override
    public Os os() {
        return os;
    }
}
