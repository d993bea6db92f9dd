package dev.capsa.backend.vm;

import dev.capsa.error.CapsaException;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The host's end of one exec slot: the virtio-serial port {@code capsa.execN}, whose host end is
 * a socket QEMU listens on ({@code execN.sock} in the state directory). A {@code capsa exec} takes
 * a free slot (an flock on {@code execN.lock}, held while the process runs), connects, has the
 * agent start the process in that slot, says hello, and then relays framed stdio until the exit
 * frame (docs/vm.md "exec"). Frames, both ways: a type byte, a 4-byte big-endian length, the data.
 */
final class ExecSession implements AutoCloseable {
    static final byte HELLO = 'h', STDIN = 'i', STDIN_CLOSED = 'c', STDOUT = 'o', STDERR = 'e', EXIT = 'x';
    /** The agent's limit for one frame's data. */
    static final int FRAME_DATA = 16384;

    private final int slot;
    private final FileChannel lockFile;
    private final FileLock lock;
    private final SocketChannel channel;
    private final Object writeLock = new Object();

    private ExecSession(int slot, FileChannel lockFile, FileLock lock, SocketChannel channel) {
        this.slot = slot;
        this.lockFile = lockFile;
        this.lock = lock;
        this.channel = channel;
    }

    static String socketName(int slot) {
        return "exec" + slot + ".sock";
    }

    /** Takes the first free slot of {@code slots} and connects to its port; fails when all are busy. */
    static ExecSession open(Path stateDir, int slots, String id) {
        for (int i = 0; i < slots; i++) {
            FileChannel file = null;
            try {
                file = FileChannel.open(stateDir.resolve("exec" + i + ".lock"), StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE);
                FileLock lock;
                try {
                    lock = file.tryLock();
                } catch (OverlappingFileLockException e) {
                    lock = null; // this JVM holds it
                }
                if (lock == null) {
                    file.close();
                    continue;
                }
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    ch.connect(UnixDomainSocketAddress.of(stateDir.resolve(socketName(i))));
                } catch (IOException e) {
                    ch.close();
                    lock.release();
                    file.close();
                    throw new CapsaException("container \"" + id + "\": cannot connect to exec slot " + i + " at "
                            + stateDir.resolve(socketName(i)) + ": " + e.getMessage(), e);
                }
                return new ExecSession(i, file, lock, ch);
            } catch (IOException e) {
                closeQuietly(file);
                throw new CapsaException("container \"" + id + "\": cannot take an exec slot in " + stateDir + ": "
                        + e.getMessage(), e);
            }
        }
        throw new CapsaException("container \"" + id + "\": " + slots
                + " exec'd processes with stdio already run in its guest (the vm backend's limit); use --detach");
    }

    int slot() {
        return slot;
    }

    /**
     * Says hello, feeds {@code in} to the process (a daemon thread; its EOF becomes a close frame)
     * and copies the process's output to {@code out} and {@code err} until its exit frame.
     *
     * @return the exit code, 128 + n for signal n
     */
    int relay(InputStream in, OutputStream out, OutputStream err, String id) {
        try {
            write(HELLO, new byte[0], 0);
            Thread feeder = Thread.ofPlatform().daemon().name("capsa-vm-exec-stdin").unstarted(() -> feed(in));
            feeder.start();
            ByteBuffer header = ByteBuffer.allocate(5);
            while (true) {
                header.clear();
                readFully(header);
                byte type = header.get(0);
                int length = header.getInt(1);
                if (length < 0 || length > FRAME_DATA) {
                    throw new CapsaException("container \"" + id + "\": exec slot " + slot + " sent a frame of "
                            + length + " bytes");
                }
                ByteBuffer data = ByteBuffer.allocate(length);
                readFully(data);
                switch (type) {
                    case STDOUT -> {
                        out.write(data.array(), 0, length);
                        out.flush();
                    }
                    case STDERR -> {
                        err.write(data.array(), 0, length);
                        err.flush();
                    }
                    case EXIT -> {
                        return Integer.parseInt(new String(data.array(), StandardCharsets.US_ASCII).trim());
                    }
                    default -> throw new CapsaException("container \"" + id + "\": exec slot " + slot
                            + " sent a frame of unknown type " + (type & 0xff));
                }
            }
        } catch (EOFException e) {
            throw new CapsaException("container \"" + id + "\": the guest went away before the exec'd process's "
                    + "exit status came (did the container's process end?)", e);
        } catch (IOException e) {
            throw new CapsaException("container \"" + id + "\": exec slot " + slot + ": " + e.getMessage(), e);
        }
    }

    private void feed(InputStream in) {
        byte[] buf = new byte[FRAME_DATA];
        try {
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (n > 0) {
                    write(STDIN, buf, n);
                }
            }
            write(STDIN_CLOSED, buf, 0);
        } catch (IOException e) {
            // the process ended and the session closed
        }
    }

    private void write(byte type, byte[] data, int length) throws IOException {
        ByteBuffer frame = ByteBuffer.allocate(5 + length);
        frame.put(type).putInt(length).put(data, 0, length).flip();
        synchronized (writeLock) {
            while (frame.hasRemaining()) {
                channel.write(frame);
            }
        }
    }

    private void readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException();
            }
        }
    }

    @Override
    public void close() {
        closeQuietly(channel);
        try {
            lock.release();
        } catch (IOException e) {
            // closing the file releases it too
        }
        closeQuietly(lockFile);
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }
}
