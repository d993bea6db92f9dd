package dev.capsa.state;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;

/** An exclusive lock on one container, released on close. */
public final class ContainerLock implements AutoCloseable {
    private final String id;
    private final FileChannel channel;
    private final FileLock lock;

    ContainerLock(String id, FileChannel channel, FileLock lock) {
        this.id = id;
        this.channel = channel;
        this.lock = lock;
    }

    public String id() {
        return id;
    }

    public boolean held() {
        return lock.isValid();
    }

    @Override
    public void close() {
        try {
            if (lock.isValid()) {
                lock.release();
            }
            channel.close();
        } catch (IOException e) {
            // closing the channel drops the lock in any case
        }
    }
}
