package dev.capsa.backend.ns;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * runc's exec.fifo: capsa-init blocks opening it for writing; {@code start} opens it for reading,
 * takes the byte, and removes it. Its presence is what tells a created container from a running one.
 */
final class ExecFifo {
    static final String NAME = "exec.fifo";

    private ExecFifo() {
    }

    static Path of(Path stateDir) {
        return stateDir.resolve(NAME);
    }

    /**
     * Releases the waiting process. Opening a fifo blocks until a writer comes, so the open runs
     * beside a loop that gives up when the process is gone (then a read-write open unblocks it).
     */
    static void release(Path fifo, BooleanSupplier alive, String id) {
        FutureTask<Integer> reader = new FutureTask<>(() -> {
            try (InputStream in = Files.newInputStream(fifo)) {
                return in.read();
            }
        });
        Thread thread = Thread.ofPlatform().daemon().name("exec-fifo").start(reader);
        try {
            while (true) {
                try {
                    int b = reader.get(20, TimeUnit.MILLISECONDS);
                    if (b < 0) {
                        throw new CapsaException("cannot start container \"" + id + "\": its process is gone");
                    }
                    break;
                } catch (TimeoutException e) {
                    if (!alive.getAsBoolean()) {
                        unblock(fifo);
                        thread.join(1000);
                        throw new CapsaException("cannot start container \"" + id + "\": its process is gone");
                    }
                }
            }
            Files.deleteIfExists(fifo);
        } catch (ExecutionException e) {
            throw new CapsaException("cannot start container \"" + id + "\": " + fifo + ": "
                    + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted while starting container \"" + id + "\"");
        } catch (IOException e) {
            throw new CapsaException("cannot remove " + fifo + ": " + e.getMessage(), e);
        }
    }

    private static void unblock(Path fifo) {
        try (RandomAccessFile rw = new RandomAccessFile(fifo.toFile(), "rw")) {
            rw.getFD(); // opening read-write lets the blocked reader's open return
        } catch (IOException e) {
            // the reader is stuck on a fifo that vanished: it dies with the JVM, a daemon thread
        }
    }
}
