package dev.capsa.state;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Where containers' records live: one directory per container under a root. Every command that
 * changes a container holds its {@link ContainerLock}; readers ({@code state}, {@code list}) do not
 * lock, and always see a whole record because writes replace the file atomically.
 */
public interface StateStore {
    Path root();

    /** The directory that belongs to the container, whether or not it exists. */
    Path dir(String id);

    /** Makes the container's directory and locks it; fails if the id is taken. */
    ContainerLock createAndLock(String id);

    /** Locks an existing container, waiting a bounded time for another command to finish. */
    ContainerLock lock(String id);

    /**
     * The record, or empty when the directory exists but no record was written yet (a create that
     * crashed before its first write). Throws NotFound when there is no such container, and a
     * CapsaException naming the file when the record is not valid JSON.
     */
    Optional<ContainerRecord> read(String id);

    void write(ContainerLock lock, ContainerRecord record);

    /** Removes the container's directory and everything in it; the lock is released. */
    void remove(ContainerLock lock);

    /** The ids of all containers, sorted. */
    List<String> ids();
}
