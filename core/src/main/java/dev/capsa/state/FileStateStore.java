package dev.capsa.state;

import dev.capsa.error.AlreadyExistsException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.LockedException;
import dev.capsa.error.NotFoundException;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The state store on disk: {@code <root>/<id>/state.json}, replaced atomically (temp file, then
 * rename), and {@code <root>/<id>/lock}, held with an fcntl lock by every command that changes the
 * container.
 *
 * <p>No fsync, as runc: the rename is atomic for every reader and for a capsa process killed at
 * any point, and what the record describes (processes, mounts, cgroups) does not outlive a power
 * loss either; the state root is a tmpfs ({@code /run}) on most hosts. An fsync of the file and of
 * its directory on each of a run's four state writes cost several milliseconds on a disk.
 */
public final class FileStateStore implements StateStore {
    static final String STATE = "state.json";
    static final String LOCK = "lock";
    private static final String TEMP = ".state.json.tmp";

    private final Path root;
    private final Duration lockWait;

    public FileStateStore(Path root, Duration lockWait) {
        this.root = dev.capsa.os.Caller.resolve(root);
        this.lockWait = lockWait;
    }

    @Override
    public Path root() {
        return root;
    }

    @Override
    public Path dir(String id) {
        return root.resolve(ContainerIds.check(id));
    }

    @Override
    public ContainerLock createAndLock(String id) {
        Path dir = dir(id);
        ensureRoot();
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
        } catch (FileAlreadyExistsException e) {
            throw AlreadyExistsException.container(id);
        } catch (IOException e) {
            throw new CapsaException("cannot create state directory " + dir + ": " + e.getMessage(), e);
        }
        ContainerLock lock = tryLockOnce(id, dir);
        if (lock == null) {
            throw new LockedException("container \"" + id + "\" is locked by another capsa command");
        }
        return lock;
    }

    @Override
    public ContainerLock lock(String id) {
        Path dir = dir(id);
        long deadline = System.nanoTime() + lockWait.toNanos();
        long pause = 2;
        while (true) {
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw NotFoundException.container(id);
            }
            ContainerLock lock = tryLockOnce(id, dir);
            if (lock != null) {
                return lock;
            }
            if (System.nanoTime() > deadline) {
                throw new LockedException("container \"" + id + "\" is locked by another capsa command (waited "
                        + lockWait.toMillis() + " ms)");
            }
            sleep(pause);
            pause = Math.min(pause * 2, 50);
        }
    }

    /**
     * One attempt. The lock file may be unlinked by a delete while we wait for it, so after taking
     * the lock check that the path still names the file we locked; otherwise try again.
     */
    private ContainerLock tryLockOnce(String id, Path dir) {
        Path file = dir.resolve(LOCK);
        FileChannel channel = null;
        try {
            Object before = inode(file);
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // another thread of this JVM holds it
            }
            if (lock == null) {
                channel.close();
                return null;
            }
            Object after = inode(file);
            if (after == null || (before != null && !before.equals(after))) {
                lock.release();
                channel.close();
                return null;
            }
            return new ContainerLock(id, channel, lock);
        } catch (NoSuchFileException e) {
            closeQuietly(channel);
            return null; // the directory went away: the caller's loop reports not found
        } catch (IOException e) {
            closeQuietly(channel);
            throw new CapsaException("cannot lock container \"" + id + "\": " + file + ": " + e.getMessage(), e);
        }
    }

    private static Object inode(Path file) throws IOException {
        try {
            return Files.getAttribute(file, "unix:ino", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    @Override
    public Optional<ContainerRecord> read(String id) {
        Path dir = dir(id);
        Path file = dir.resolve(STATE);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                return Optional.empty();
            }
            throw NotFoundException.container(id);
        } catch (IOException e) {
            throw new CapsaException("cannot read state of container \"" + id + "\": " + file + ": " + e.getMessage(), e);
        }
        try {
            ContainerRecord record = Json.mapper().readValue(bytes, ContainerRecord.class);
            if (record == null || record.id() == null || !record.id().equals(id)) {
                throw new IOException("record does not describe this container");
            }
            return Optional.of(record);
        } catch (IOException e) {
            throw new CapsaException("state of container \"" + id + "\" is corrupt: " + file + ": "
                    + firstLine(e.getMessage()) + " (delete --force removes it)", e);
        }
    }

    @Override
    public void write(ContainerLock lock, ContainerRecord record) {
        requireHeld(lock, record.id());
        Path dir = dir(record.id());
        Path temp = dir.resolve(TEMP);
        try {
            byte[] bytes = Json.mapper().writeValueAsBytes(record);
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            }
            Files.move(temp, dir.resolve(STATE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // the original error is the one to report
            }
            throw new CapsaException("cannot write state of container \"" + record.id() + "\": " + dir.resolve(STATE)
                    + ": " + e.getMessage(), e);
        }
    }

    /**
     * Removes the container. The directory is first renamed out of the way in one atomic step, so
     * a command waiting for the lock can neither re-create the lock file in a half-deleted directory
     * nor see a container that is partly gone; the renamed tree (a dot name, never listed) is then
     * deleted.
     */
    @Override
    public void remove(ContainerLock lock) {
        requireHeld(lock, lock.id());
        Path dir = dir(lock.id());
        Path doomed = root.resolve("." + lock.id() + ".removed-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        try {
            Files.move(dir, doomed, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(doomed);
        } catch (IOException e) {
            throw new CapsaException("cannot remove state directory " + dir + ": " + e.getMessage(), e);
        } finally {
            lock.close();
        }
    }

    @Override
    public List<String> ids() {
        List<String> ids = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return ids;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS) && isId(name)) {
                    ids.add(name);
                }
            }
        } catch (IOException e) {
            throw new CapsaException("cannot list " + root + ": " + e.getMessage(), e);
        }
        ids.sort(null);
        return ids;
    }

    private static boolean isId(String name) {
        try {
            ContainerIds.check(name);
            return true;
        } catch (CapsaException e) {
            return false;
        }
    }

    private void ensureRoot() {
        if (Files.isDirectory(root)) {
            return;
        }
        try {
            Files.createDirectories(root, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
        } catch (IOException e) {
            throw new CapsaException("cannot create state root " + root + ": " + e.getMessage(), e);
        }
    }

    private static void requireHeld(ContainerLock lock, String id) {
        if (lock == null || !lock.held() || !lock.id().equals(id)) {
            throw new IllegalStateException("container " + id + " is not locked by this command");
        }
    }

    /** Removes a tree without following symlinks out of it. */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                if (exc != null) {
                    throw exc;
                }
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "not valid json";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LockedException("interrupted while waiting for a container lock");
        }
    }
}
