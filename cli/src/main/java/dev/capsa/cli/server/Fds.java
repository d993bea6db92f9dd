package dev.capsa.cli.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import jnr.ffi.LibraryLoader;

/**
 * The descriptors the server borrows from a client: pidfd_getfd(2) copies the client's stdin,
 * stdout and stderr into this process (Linux 5.6, and the rights to ptrace the client, which
 * root has), and streams over them write and read the client's own pipes, files or terminal.
 */
final class Fds {
    private static final long SYS_PIDFD_OPEN = 434;
    private static final long SYS_PIDFD_GETFD = 438;

    public interface LibC {
        long syscall(long number, long arg1, long arg2, long arg3);

        long read(int fd, byte[] buf, long count);

        long write(int fd, byte[] buf, long count);

        int close(int fd);
    }

    private static final class Holder {
        static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    }

    private Fds() {
    }

    /** Copies of descriptors {@code fds} of process {@code pid}, in order; throws if one cannot be had. */
    static int[] take(long pid, int... fds) throws IOException {
        LibC c = Holder.LIBC;
        int pidfd = (int) c.syscall(SYS_PIDFD_OPEN, pid, 0, 0);
        if (pidfd < 0) {
            throw new IOException("pidfd_open of the client " + pid + " failed");
        }
        int[] taken = new int[fds.length];
        try {
            for (int i = 0; i < fds.length; i++) {
                taken[i] = (int) c.syscall(SYS_PIDFD_GETFD, pidfd, fds[i], 0);
                if (taken[i] < 0) {
                    for (int j = 0; j < i; j++) {
                        c.close(taken[j]);
                    }
                    throw new IOException("pidfd_getfd of descriptor " + fds[i] + " of the client " + pid + " failed");
                }
            }
        } finally {
            c.close(pidfd);
        }
        return taken;
    }

    static void close(int fd) {
        if (fd >= 0) {
            Holder.LIBC.close(fd);
        }
    }

    /** Writes to a borrowed descriptor; closing the stream does not close it (see {@link #close}). */
    static OutputStream output(int fd) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                byte[] rest = java.util.Arrays.copyOfRange(b, off, off + len);
                while (rest.length > 0) {
                    long w = Holder.LIBC.write(fd, rest, rest.length);
                    if (w <= 0) {
                        throw new IOException("write to the client's descriptor failed");
                    }
                    rest = java.util.Arrays.copyOfRange(rest, (int) w, rest.length);
                }
            }
        };
    }

    static InputStream input(int fd) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) <= 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                byte[] buf = off == 0 ? b : new byte[len];
                long r = Holder.LIBC.read(fd, buf, len);
                if (r < 0) {
                    throw new IOException("read from the client's descriptor failed");
                }
                if (r == 0) {
                    return -1;
                }
                if (buf != b) {
                    System.arraycopy(buf, 0, b, off, (int) r);
                }
                return (int) r;
            }
        };
    }
}
