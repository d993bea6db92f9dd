package dev.capsa.spi;

import dev.capsa.os.Os;
import dev.capsa.spec.Spec;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Everything a backend gets about one container. The engine implements it over the state store,
 * so whatever a backend records here survives into the next {@code capsa} process.
 */
public interface ContainerContext {
    String id();

    /** The bundle directory, absolute. */
    Path bundle();

    /** The config.json the container was created from (a copy kept at create time). */
    Spec spec();

    /** A directory that belongs to this container alone; the engine removes it on delete. */
    Path stateDir();

    /** The container process's pid in the host's pid namespace, once recorded. */
    OptionalLong pid();

    /** Records the container's pid; the engine stores it with the process's start time. */
    void recordPid(long pid);

    /**
     * Whether the recorded pid still names the process that was recorded: alive, not a zombie,
     * and with the same start time, so a reused pid is never taken for the container.
     */
    boolean processAlive();

    /** A value the backend stored earlier with {@link #putData}. */
    Optional<String> data(String key);

    /** Stores a value for later commands (a socket path, a VM pid); written to disk at once. */
    void putData(String key, String value);

    /**
     * Runs the hooks of a phase at the point the backend reaches it. For createRuntime the engine
     * runs prestart first. The engine rejects phases out of order; a phase the backend does not
     * reach by the end of its operation is run by the engine afterwards where that is possible.
     */
    void runHooks(HookPhase phase);

    Os os();
}
