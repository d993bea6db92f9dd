package dev.capsa.backend.ns;

import dev.capsa.error.CapsaException;
import dev.capsa.error.HookFailedException;
import dev.capsa.error.WrongStateException;
import dev.capsa.fault.FaultStep;
import dev.capsa.fault.Faults;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
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
 * Unlike runc, start reads on until EOF: capsa-init writes "0", runs the startContainer hooks and
 * execs (the descriptor is close-on-exec), or writes what failed after the "0" and exits, so a
 * failing startContainer hook or execve fails {@code start} with its message.
 */
final class ExecFifo {
    static final String NAME = "exec.fifo";
    /** More than capsa-init's longest message; a reader that stops early still sees EOF-less data as a failure. */
    private static final int MAX_REPORT = 8192;

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
        FutureTask<byte[]> reader = new FutureTask<>(() -> {
            try (InputStream in = Files.newInputStream(fifo)) {
                Faults.at(FaultStep.NS_FIFO_OPENED);
                return in.readNBytes(MAX_REPORT);
            }
        });
        Thread thread = Thread.ofPlatform().daemon().name("exec-fifo").start(reader);
        try {
            byte[] got;
            while (true) {
                try {
                    got = reader.get(20, TimeUnit.MILLISECONDS);
                    break;
                } catch (TimeoutException e) {
                    if (!alive.getAsBoolean()) {
                        unblock(fifo);
                        try {
                            // it may have written what failed before it went: that is the better message
                            got = reader.get(1, TimeUnit.SECONDS);
                            break;
                        } catch (TimeoutException stuck) {
                            throw gone(id);
                        }
                    }
                }
            }
            Files.deleteIfExists(fifo);
            check(got, id);
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

    /**
     * The process ended before start released it (killed by a command that came just before, say):
     * the container is stopped, and start fails as on any stopped container.
     */
    private static WrongStateException gone(String id) {
        return new WrongStateException("cannot start container \"" + id + "\": it is stopped (its process ended"
                + " before start released it)");
    }

    /** "0" then EOF: the process runs; "0" and text: what failed after the release; nothing: it died. */
    static void check(byte[] got, String id) {
        if (got.length == 0 || got[0] != '0') {
            throw gone(id);
        }
        if (got.length == 1) {
            return;
        }
        String detail = new String(got, 1, got.length - 1, StandardCharsets.UTF_8).strip();
        if (detail.startsWith("startContainer hook ")) {
            throw new HookFailedException("container \"" + id + "\": " + detail);
        }
        throw NamespaceBackend.startFailed(id, detail);
    }

    private static void unblock(Path fifo) {
        try (RandomAccessFile rw = new RandomAccessFile(fifo.toFile(), "rw")) {
            rw.getFD(); // opening read-write lets the blocked reader's open return
        } catch (IOException e) {
            // the reader is stuck on a fifo that vanished: it dies with the JVM, a daemon thread
        }
    }
}
