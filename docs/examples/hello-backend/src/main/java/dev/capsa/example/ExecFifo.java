package dev.capsa.example;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * runc's exec.fifo without native code. The container's shell opens the fifo for reading and
 * blocks there ({@link ChrootCommand#WAIT_FOR_START}); {@link #release} opens it for writing and
 * writes a line, and the shell goes on to exec the user's process. While the fifo exists the
 * container is created; start removes it.
 */
final class ExecFifo {
    static final String MKFIFO = "/usr/bin/mkfifo";

    private ExecFifo() {
    }

    /** mkfifo(1): Java has no call for mkfifo(3), and a helper process keeps this plugin free of native code. */
    static void make(Path fifo) {
        try {
            Process mkfifo = new ProcessBuilder(MKFIFO, "-m", "600", fifo.toString())
                    .redirectErrorStream(true).start();
            String output = new String(mkfifo.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (mkfifo.waitFor() != 0) {
                throw new CapsaException("mkfifo " + fifo + ": " + output);
            }
        } catch (IOException e) {
            throw new CapsaException("mkfifo " + fifo + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("mkfifo " + fifo + ": interrupted", e);
        }
    }

    /**
     * Lets the waiting process go on. Opening a fifo for writing blocks until its reader opens
     * it, and the reader may have died meanwhile (killed from outside): so the open runs on its
     * own thread, and if {@code alive} turns false first we stop waiting and say so.
     */
    static void release(Path fifo, BooleanSupplier alive) {
        CompletableFuture<Void> write = CompletableFuture.runAsync(() -> writeLine(fifo),
                task -> Thread.ofPlatform().daemon().name("exec-fifo").start(task));
        while (true) {
            try {
                write.get(20, TimeUnit.MILLISECONDS);
                return;
            } catch (TimeoutException stillBlocked) {
                if (!alive.getAsBoolean() && !write.isDone()) {
                    unblock(fifo);
                    throw new CapsaException("the process waiting on " + fifo + " ended before it was released");
                }
            } catch (ExecutionException e) {
                throw new CapsaException("cannot write " + fifo + ": " + e.getCause().getMessage(), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                unblock(fifo);
                throw new CapsaException("interrupted while releasing " + fifo, e);
            }
        }
    }

    private static void writeLine(Path fifo) {
        try (OutputStream out = Files.newOutputStream(fifo, StandardOpenOption.WRITE)) {
            out.write('\n');
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** fifo(7): on Linux an open for reading and writing never blocks, and it completes a blocked writer's open. */
    private static void unblock(Path fifo) {
        try {
            // READ and WRITE without CREATE: O_RDWR, and no regular file made if the fifo is gone
            Files.newByteChannel(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
        } catch (IOException e) {
            // the fifo is gone: the blocked thread is a daemon and ends with the command
        }
    }
}
