package dev.capsa.backend.vm;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A foreground run's stdio: this JVM listens on out.sock, err.sock and in.sock in the state
 * directory, QEMU connects to them when it starts, and threads copy the guest's stdout and stderr
 * to this process's own descriptors 1 and 2 and this process's stdin to the guest. It counts what
 * it copied, so the exit can wait until everything the agent reported has arrived (design.md:
 * output still queued when the guest powers off is lost).
 */
final class StdioRelay implements AutoCloseable {
    private final ServerSocketChannel outServer, errServer, inServer;
    private final Path dir;
    private final AtomicLong outBytes = new AtomicLong(), errBytes = new AtomicLong();
    private final List<SocketChannel> channels = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();

    private StdioRelay(Path dir) throws IOException {
        this.dir = dir;
        this.outServer = bind(out(dir));
        this.errServer = bind(err(dir));
        this.inServer = bind(in(dir));
    }

    static Path out(Path dir) {
        return dir.resolve("out.sock");
    }

    static Path err(Path dir) {
        return dir.resolve("err.sock");
    }

    static Path in(Path dir) {
        return dir.resolve("in.sock");
    }

    static StdioRelay listen(Path dir) {
        try {
            return new StdioRelay(dir);
        } catch (IOException e) {
            throw new CapsaException("cannot listen for the guest's stdio in " + dir + ": " + e.getMessage(), e);
        }
    }

    private static ServerSocketChannel bind(Path socket) throws IOException {
        Files.deleteIfExists(socket);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        server.configureBlocking(false);
        return server;
    }

    /** Takes QEMU's three connections and starts copying; QEMU makes them while it starts. */
    void accept(ProcessHandle qemu, Duration timeout) {
        SocketChannel out = accept(outServer, qemu, timeout);
        SocketChannel err = accept(errServer, qemu, timeout);
        SocketChannel in = accept(inServer, qemu, timeout);
        // System.out and System.err: the caller's (under the capsa server they route to the client's
        // descriptors for the threads of its command, these included)
        copy("capsa-vm-stdout", out, System.out, outBytes);
        copy("capsa-vm-stderr", err, System.err, errBytes);
        Thread t = Thread.ofPlatform().daemon().name("capsa-vm-stdin").unstarted(() -> feed(System.in, in));
        threads.add(t);
        t.start();
    }

    private SocketChannel accept(ServerSocketChannel server, ProcessHandle qemu, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                SocketChannel ch = server.accept();
                if (ch != null) {
                    ch.configureBlocking(true);
                    channels.add(ch);
                    return ch;
                }
                if (!qemu.isAlive()) {
                    throw new CapsaException("QEMU exited before it connected to the stdio sockets in " + dir);
                }
                if (System.nanoTime() > deadline) {
                    throw new CapsaException("QEMU did not connect to the stdio sockets in " + dir + " within "
                            + timeout.toMillis() + " ms");
                }
                Thread.sleep(5);
            }
        } catch (IOException e) {
            throw new CapsaException("cannot accept QEMU's stdio connection in " + dir + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted");
        }
    }

    private void copy(String name, SocketChannel from, OutputStream to, AtomicLong count) {
        Thread t = Thread.ofPlatform().daemon().name(name).unstarted(() -> {
            ByteBuffer buf = ByteBuffer.allocate(65536);
            try {
                while (from.read(buf) >= 0) {
                    buf.flip();
                    to.write(buf.array(), 0, buf.limit());
                    to.flush();
                    count.addAndGet(buf.limit());
                    buf.clear();
                }
            } catch (IOException e) {
                // the guest is gone, or the caller stopped reading
            }
        });
        threads.add(t);
        t.start();
    }

    private static void feed(InputStream from, SocketChannel to) {
        byte[] buf = new byte[65536];
        try {
            int n;
            while ((n = from.read(buf)) >= 0) {
                ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
                while (b.hasRemaining()) {
                    to.write(b);
                }
            }
            to.shutdownOutput(); // design.md: stdin's EOF reaches the guest as a half-close
        } catch (IOException e) {
            // the guest is gone
        }
    }

    /** Waits until the copied byte counts reach the agent's; false on timeout. */
    boolean awaitCounts(long out, long err, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (outBytes.get() < out || errBytes.get() < err) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    long outBytes() {
        return outBytes.get();
    }

    long errBytes() {
        return errBytes.get();
    }

    @Override
    public void close() {
        for (var c : List.of(outServer, errServer, inServer)) {
            try {
                c.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
        for (SocketChannel c : channels) {
            try {
                c.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
        for (Path p : List.of(out(dir), err(dir), in(dir))) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                // the engine removes the directory
            }
        }
    }
}
