package dev.capsa.spi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.state.Status;
import java.util.List;
import org.pf4j.ExtensionPoint;

/**
 * A way to run containers (namespaces, a VM, ...). The engine owns the state, the locks, the
 * transitions of runtime.md and the hooks; a backend only builds, releases, signals and removes.
 * Operations that a backend does not implement throw {@link BackendUnavailableException#unsupported}
 * through the default methods below, so a command says so instead of pretending.
 */
public interface RuntimeBackend extends ExtensionPoint {
    /** The name used by {@code --backend} and the {@code dev.capsa.backend} annotation. */
    String name();

    /** Whether this backend can run containers on this host; cheap and bounded in time. */
    Availability probe();

    /** What this backend really implements, in the shape of the runtime-spec's features.md. */
    Features features();

    /** Builds the container up to the point just before the user's process runs, and records its pid. */
    void create(ContainerContext ctx, CreateOptions options);

    /** Releases the process that create left waiting. */
    void start(ContainerContext ctx);

    /** The live status: CREATED, RUNNING, PAUSED or STOPPED, worked out from the system. */
    Status status(ContainerContext ctx);

    /**
     * Sends a signal to the container's process, or to all its processes. With {@code all} the
     * container may be STOPPED: then whatever is left of it (processes still in its cgroup) gets
     * the signal, and nothing left is no error.
     */
    void kill(ContainerContext ctx, int signal, boolean all);

    /** Removes everything the backend made; with force, kills a live container first. */
    void delete(ContainerContext ctx, boolean force);

    /**
     * Whether every process this backend starts for create, run and exec comes from
     * {@code Caller.current().launcher()} (dev.capsa.os). Under the capsa server only such a
     * backend's create, run and exec are served there; the others run in a JVM of the caller's own,
     * so that what they start descends from the engine, as an engine expects.
     */
    default boolean launchesThroughCaller() {
        return false;
    }

    /**
     * How many of the container's processes the OOM killer has killed so far, for the {@code oom}
     * events of {@code events}; -1 when the backend cannot tell (the default).
     */
    default long oomKills(ContainerContext ctx) {
        return -1;
    }

    /**
     * {@code delete --force} of a container whose state record is unreadable (a crash of another
     * program, a full disk) or was never completed: there is no pid to go by, so the backend removes
     * what it can find from the container's id and the copy of its config.json alone (the ns
     * backend: the processes in the cgroup its cgroupsPath names, and that cgroup). Default: nothing.
     */
    default void deleteOrphan(String id, dev.capsa.spec.Spec spec) {
    }

    default int exec(ContainerContext ctx, ExecOptions options) {
        throw BackendUnavailableException.unsupported(name(), "exec");
    }

    /** Blocks until the container's process ends; returns its exit code, 128 + n for signal n. */
    default int waitExit(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(name(), "run in the foreground");
    }

    default void pause(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(name(), "pause");
    }

    default void resume(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(name(), "resume");
    }

    /** The pids of the container's processes, in the host's pid namespace. */
    default List<Long> processes(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(name(), "ps");
    }

    /** Applies new linux.resources. */
    default void update(ContainerContext ctx, JsonNode resources) {
        throw BackendUnavailableException.unsupported(name(), "update");
    }

    /** Resource statistics in runc's {@code events --stats} shape. */
    default JsonNode stats(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(name(), "events");
    }
}
