package dev.capsa.os;

import dev.capsa.error.CapsaException;
import dev.capsa.error.SyscallException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * Runs a host program once through posix_spawn(3), for the config.json hooks: argv and envp
 * exactly as given (ProcessBuilder ties argv[0] to the path and adds nothing to say about envp),
 * stdin fed from bytes, stdout to /dev/null, the tail of stderr kept. The child gets default
 * signal dispositions and an empty signal mask (the JVM blocks and handles some), no descriptor
 * but 0, 1 and 2, and a process group of its own, so that a timeout kills everything it started.
 * libc is bound on first use: commands that run no hook never load jnr.
 */
public final class PosixSpawn {
    /** How a run ended; the stderr tail is decoded as UTF-8. */
    public sealed interface Outcome {
    }

    public record Exited(int status, String stderr) implements Outcome {
    }

    public record Signaled(int signal, String stderr) implements Outcome {
    }

    /** Past its timeout: the whole process group was killed and the child reaped. */
    public record TimedOut(String stderr) implements Outcome {
    }

    /** The calling thread was interrupted: the group was killed, the child reaped, the interrupt flag set again. */
    public record Interrupted() implements Outcome {
    }

    /** The libc functions this class calls. */
    public interface LibC {
        int pipe2(@Out int[] fds, int flags);

        int fcntl(int fd, int cmd, int arg);

        int close(int fd);

        @ssize_t long read(int fd, @Out byte[] buffer, @size_t long count);

        @ssize_t long write(int fd, Pointer buffer, @size_t long count);

        int poll(Pointer fds, @size_t long count, int timeoutMillis);

        int waitpid(int pid, @Out int[] status, int options);

        int kill(int pid, int signal);

        long syscall(long number, long arg1, long arg2);

        int posix_spawn(@Out int[] pid, Pointer path, Pointer fileActions, Pointer attr, Pointer argv, Pointer envp);

        int posix_spawn_file_actions_init(Pointer actions);

        int posix_spawn_file_actions_destroy(Pointer actions);

        int posix_spawn_file_actions_adddup2(Pointer actions, int fd, int newFd);

        int posix_spawn_file_actions_addopen(Pointer actions, int fd, Pointer path, int flags, int mode);

        int posix_spawn_file_actions_addclose(Pointer actions, int fd);

        /** glibc 2.29: the child's working directory. */
        int posix_spawn_file_actions_addchdir_np(Pointer actions, Pointer path);

        /** glibc 2.34 and later. */
        int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from);

        int posix_spawnattr_init(Pointer attr);

        int posix_spawnattr_destroy(Pointer attr);

        int posix_spawnattr_setflags(Pointer attr, short flags);

        int posix_spawnattr_setpgroup(Pointer attr, int pgroup);

        int posix_spawnattr_setsigdefault(Pointer attr, Pointer signals);

        int posix_spawnattr_setsigmask(Pointer attr, Pointer signals);

        int sigemptyset(Pointer set);

        int sigfillset(Pointer set);
    }

    private static final class Holder {
        static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
        static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
    }

    // Linux values, the same on x86_64 and arm64
    private static final int O_WRONLY = 1;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    private static final int F_DUPFD_CLOEXEC = 1030;
    private static final short POLLIN = 0x1;
    private static final short POLLOUT = 0x4;
    private static final short POLLERR = 0x8;
    private static final short POLLHUP = 0x10;
    private static final int WNOHANG = 1;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;
    private static final int SYS_PIDFD_OPEN = 434; // one number on every architecture
    private static final short POSIX_SPAWN_SETPGROUP = 0x02;
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
    private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
    /** Signals 32 and 33: bits 31 and 32 of the first word of a sigset_t. */
    private static final long GLIBC_INTERNAL_SIGNALS = 3L << 31;
    /** glibc's posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t 128: room to spare. */
    private static final int OPAQUE_SIZE = 1024;
    /** How often a waiting run looks at the thread's interrupt flag. */
    private static final int SLICE_MILLIS = 200;
    private static final int CHUNK = 65536;

    private PosixSpawn() {
    }

    /**
     * Runs the program and waits for it, at most {@code timeout} when that is not null.
     *
     * @throws SyscallException {@code posix_spawn} with the errno when the program cannot start
     *                          (missing, not executable), or another call that failed
     */
    public static Outcome run(String path, List<String> argv, List<String> envp, byte[] stdin, Duration timeout,
                              int stderrTail) {
        LibC c = Holder.LIBC;
        int[] in = {-1, -1};
        int[] err = {-1, -1};
        int pid = -1;
        int pidfd = -1;
        boolean reaped = false;
        try {
            in = pipe("stdin of " + path);
            err = pipe("stderr of " + path);
            pid = spawn(path, argv, envp, in[0], err[1]);
            in[0] = closed(in[0]);
            err[1] = closed(err[1]);
            // pidfd_open(2) wakes poll(2) when the child exits; without it (before 5.3) poll in short slices
            pidfd = (int) c.syscall(SYS_PIDFD_OPEN, pid, 0);
            nonBlocking(in[1], path);
            nonBlocking(err[0], path);
            Supervisor s = new Supervisor(pid, pidfd, in[1], err[0], stdin, new Tail(stderrTail), path);
            in[1] = -1;
            err[0] = -1;
            try {
                Outcome outcome = s.await(timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos());
                reaped = true;
                return outcome;
            } finally {
                s.closeAll();
            }
        } finally {
            if (pid > 0 && !reaped) {
                killGroup(pid);
                reap(pid, 0, path);
            }
            closed(pidfd);
            closed(in[0]);
            closed(in[1]);
            closed(err[0]);
            closed(err[1]);
        }
    }

    /** The poll loop: feeds stdin, keeps stderr's tail, waits for the exit, the deadline or an interrupt. */
    private static final class Supervisor {
        private final int pid;
        private final int pidfd;
        private final byte[] stdin;
        private final Pointer stdinMemory;
        private final Tail tail;
        private final String path;
        private final Pointer pollfds;
        private final byte[] buffer = new byte[CHUNK];
        private int stdinFd;
        private int stderrFd;
        private int written;

        Supervisor(int pid, int pidfd, int stdinFd, int stderrFd, byte[] stdin, Tail tail, String path) {
            this.pid = pid;
            this.pidfd = pidfd;
            this.stdinFd = stdinFd;
            this.stderrFd = stderrFd;
            this.stdin = stdin;
            this.tail = tail;
            this.path = path;
            this.stdinMemory = Memory.allocateDirect(Holder.RUNTIME, Math.max(1, stdin.length));
            stdinMemory.put(0, stdin, 0, stdin.length);
            this.pollfds = Memory.allocateDirect(Holder.RUNTIME, 3 * 8, true);
            if (stdin.length == 0) {
                this.stdinFd = closed(stdinFd);
            }
        }

        Outcome await(long deadline) {
            while (true) {
                Integer status = reap(pid, WNOHANG, path);
                if (status != null) {
                    stdinFd = closed(stdinFd);
                    drainStderr();
                    int signal = status & 0x7f;
                    return signal == 0 ? new Exited((status >> 8) & 0xff, tail.text())
                            : new Signaled(signal, tail.text());
                }
                if (Thread.interrupted()) {
                    killGroup(pid);
                    reap(pid, 0, path);
                    Thread.currentThread().interrupt();
                    return new Interrupted();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    killGroup(pid);
                    reap(pid, 0, path);
                    drainStderr();
                    return new TimedOut(tail.text());
                }
                long slice = Math.min(left / 1_000_000 + 1, pidfd >= 0 ? SLICE_MILLIS : 10);
                pollOnce((int) slice);
            }
        }

        private void pollOnce(int millis) {
            int n = 0;
            int stdinSlot = -1;
            int stderrSlot = -1;
            if (stdinFd >= 0) {
                stdinSlot = n;
                entry(n++, stdinFd, POLLOUT);
            }
            if (stderrFd >= 0) {
                stderrSlot = n;
                entry(n++, stderrFd, POLLIN);
            }
            if (pidfd >= 0) {
                entry(n++, pidfd, POLLIN);
            }
            int ready = Holder.LIBC.poll(pollfds, n, millis);
            if (ready < 0) {
                int errno = Holder.RUNTIME.getLastError();
                if (errno == EINTR) {
                    return;
                }
                throw new SyscallException("poll", errno, path);
            }
            if (stdinSlot >= 0 && revents(stdinSlot) != 0) {
                feedStdin();
            }
            if (stderrSlot >= 0 && (revents(stderrSlot) & (POLLIN | POLLHUP | POLLERR)) != 0) {
                readStderr();
            }
        }

        private void entry(int slot, int fd, short events) {
            pollfds.putInt(slot * 8L, fd);
            pollfds.putShort(slot * 8L + 4, events);
            pollfds.putShort(slot * 8L + 6, (short) 0);
        }

        private short revents(int slot) {
            return pollfds.getShort(slot * 8L + 6);
        }

        /**
         * A hook may exit, or close its stdin, without reading it: write then fails with EPIPE and
         * the thread gets SIGPIPE, which HotSpot ignores (as for java.lang.Process pipes). The exit
         * status decides, so the rest of the state is dropped.
         */
        private void feedStdin() {
            long n = Holder.LIBC.write(stdinFd, stdinMemory.slice(written), stdin.length - written);
            if (n < 0) {
                int errno = Holder.RUNTIME.getLastError();
                if (errno != EAGAIN && errno != EINTR) {
                    stdinFd = closed(stdinFd);
                }
                return;
            }
            written += (int) n;
            if (written == stdin.length) {
                stdinFd = closed(stdinFd); // EOF: the hook has the whole state
            }
        }

        /** Returns false when nothing more can be read now. */
        private boolean readStderr() {
            long n = Holder.LIBC.read(stderrFd, buffer, buffer.length);
            if (n > 0) {
                tail.add(buffer, (int) n);
                return true;
            }
            if (n < 0 && Holder.RUNTIME.getLastError() == EINTR) {
                return true;
            }
            if (n == 0 || Holder.RUNTIME.getLastError() != EAGAIN) {
                stderrFd = closed(stderrFd);
            }
            return false;
        }

        /**
         * After the exit, what the hook wrote is in the pipe. A process it left behind may hold the
         * pipe open, so take what is there and do not wait for EOF.
         */
        private void drainStderr() {
            while (stderrFd >= 0 && readStderr()) {
                // keep reading
            }
        }

        void closeAll() {
            stdinFd = closed(stdinFd);
            stderrFd = closed(stderrFd);
        }
    }

    private static int spawn(String path, List<String> argv, List<String> envp, int stdinFd, int stderrFd) {
        LibC c = Holder.LIBC;
        Runtime rt = Holder.RUNTIME;
        Pointer actions = Memory.allocateDirect(rt, OPAQUE_SIZE, true);
        Pointer attr = Memory.allocateDirect(rt, OPAQUE_SIZE, true);
        check("posix_spawn_file_actions_init", c.posix_spawn_file_actions_init(actions), path);
        try {
            check("posix_spawnattr_init", c.posix_spawnattr_init(attr), path);
            try {
                // dup2 clears close-on-exec on 0 and 2; every other descriptor closes (below)
                check("posix_spawn_file_actions_adddup2", c.posix_spawn_file_actions_adddup2(actions, stdinFd, 0), path);
                check("posix_spawn_file_actions_adddup2", c.posix_spawn_file_actions_adddup2(actions, stderrFd, 2), path);
                check("posix_spawn_file_actions_addopen", c.posix_spawn_file_actions_addopen(actions, 1,
                        cString(rt, "/dev/null"), O_WRONLY, 0), path);
                closeFrom3(actions, path);
                // runc's hooks run in runc's working directory: the caller's, also under the capsa server
                String cwd = Caller.current().cwd().toString();
                try {
                    check("posix_spawn_file_actions_addchdir_np",
                            c.posix_spawn_file_actions_addchdir_np(actions, cString(rt, cwd)), path);
                } catch (UnsatisfiedLinkError e) {
                    // glibc before 2.29: the JVM's own working directory, which is the caller's outside the server
                }
                Pointer all = Memory.allocateDirect(rt, OPAQUE_SIZE, true);
                Pointer none = Memory.allocateDirect(rt, OPAQUE_SIZE, true);
                c.sigfillset(all);
                // glibc's sigfillset leaves out its own 32 and 33 (SIGCANCEL, SIGSETXID), and its
                // posix_spawn then sets them to SIG_IGN in the child, which exec keeps: ask for SIG_DFL
                all.putLong(0, all.getLong(0) | GLIBC_INTERNAL_SIGNALS);
                c.sigemptyset(none);
                check("posix_spawnattr_setsigdefault", c.posix_spawnattr_setsigdefault(attr, all), path);
                check("posix_spawnattr_setsigmask", c.posix_spawnattr_setsigmask(attr, none), path);
                check("posix_spawnattr_setpgroup", c.posix_spawnattr_setpgroup(attr, 0), path);
                check("posix_spawnattr_setflags", c.posix_spawnattr_setflags(attr,
                        (short) (POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)), path);
                int[] pid = new int[1];
                List<Pointer> keep = new ArrayList<>();
                int errno = c.posix_spawn(pid, cString(rt, path), actions, attr, cStrings(rt, argv, keep),
                        cStrings(rt, envp, keep));
                if (errno != 0) {
                    throw new SyscallException("posix_spawn", errno, path);
                }
                return pid[0];
            } finally {
                c.posix_spawnattr_destroy(attr);
            }
        } finally {
            c.posix_spawn_file_actions_destroy(actions);
        }
    }

    /**
     * The JVM opens files without O_CLOEXEC (its own launcher closes every descriptor in the
     * child), so they are closed here. Before glibc 2.34 there is no closefrom action: close
     * what is open now; glibc ignores a close action on a descriptor closed in the meantime.
     */
    private static void closeFrom3(Pointer actions, String path) {
        try {
            check("posix_spawn_file_actions_addclosefrom_np",
                    Holder.LIBC.posix_spawn_file_actions_addclosefrom_np(actions, 3), path);
            return;
        } catch (UnsatisfiedLinkError e) {
            // older glibc: below
        }
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                int n = Integer.parseInt(fd.getFileName().toString());
                if (n > 2) {
                    check("posix_spawn_file_actions_addclose", Holder.LIBC.posix_spawn_file_actions_addclose(actions, n),
                            path);
                }
            }
        } catch (IOException e) {
            throw new CapsaException("cannot list /proc/self/fd: " + e.getMessage(), e);
        }
    }

    private static int[] pipe(String what) {
        int[] fds = new int[2];
        if (Holder.LIBC.pipe2(fds, O_CLOEXEC) != 0) {
            throw new SyscallException("pipe2", Holder.RUNTIME.getLastError(), what);
        }
        // were 0, 1 or 2 closed, a pipe end could land there and be clobbered by the child's dup2
        fds[0] = above2(fds[0], what);
        fds[1] = above2(fds[1], what);
        return fds;
    }

    private static int above2(int fd, String what) {
        if (fd > 2) {
            return fd;
        }
        int moved = Holder.LIBC.fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int errno = Holder.RUNTIME.getLastError();
        closed(fd);
        if (moved < 0) {
            throw new SyscallException("fcntl", errno, what);
        }
        return moved;
    }

    private static void nonBlocking(int fd, String path) {
        int flags = Holder.LIBC.fcntl(fd, F_GETFL, 0);
        if (flags < 0 || Holder.LIBC.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
            throw new SyscallException("fcntl", Holder.RUNTIME.getLastError(), path);
        }
    }

    /** The child leads its group (POSIX_SPAWN_SETPGROUP); should the group be gone, the child at least. */
    private static void killGroup(int pid) {
        if (Holder.LIBC.kill(-pid, Signals.SIGKILL) != 0) {
            Holder.LIBC.kill(pid, Signals.SIGKILL);
        }
    }

    /** The wait status, or null when WNOHANG finds the child running. */
    private static Integer reap(int pid, int options, String path) {
        int[] status = new int[1];
        while (true) {
            int r = Holder.LIBC.waitpid(pid, status, options);
            if (r == pid) {
                return status[0];
            }
            if (r == 0) {
                return null;
            }
            int errno = Holder.RUNTIME.getLastError();
            if (errno != EINTR) {
                throw new SyscallException("waitpid", errno, path);
            }
        }
    }

    private static int closed(int fd) {
        if (fd >= 0) {
            Holder.LIBC.close(fd);
        }
        return -1;
    }

    private static void check(String call, int errno, String path) {
        if (errno != 0) {
            throw new SyscallException(call, errno, path);
        }
    }

    private static Pointer cString(Runtime rt, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        Pointer p = Memory.allocateDirect(rt, bytes.length + 1, true);
        p.put(0, bytes, 0, bytes.length);
        return p;
    }

    /** A NULL-terminated char* array; the strings stay reachable through {@code keep}. */
    private static Pointer cStrings(Runtime rt, List<String> strings, List<Pointer> keep) {
        int size = rt.addressSize();
        Pointer array = Memory.allocateDirect(rt, (strings.size() + 1) * size, true);
        for (int i = 0; i < strings.size(); i++) {
            Pointer s = cString(rt, strings.get(i));
            keep.add(s);
            array.putPointer((long) i * size, s);
        }
        keep.add(array);
        return array;
    }

    /** The last bytes of a stream. */
    private static final class Tail {
        private final byte[] bytes;
        private int length;

        Tail(int size) {
            bytes = new byte[size];
        }

        void add(byte[] buffer, int n) {
            if (n >= bytes.length) {
                System.arraycopy(buffer, n - bytes.length, bytes, 0, bytes.length);
                length = bytes.length;
                return;
            }
            int keep = Math.min(length, bytes.length - n);
            System.arraycopy(bytes, length - keep, bytes, 0, keep);
            System.arraycopy(buffer, 0, bytes, keep, n);
            length = keep + n;
        }

        String text() {
            return new String(bytes, 0, length, StandardCharsets.UTF_8);
        }
    }
}
