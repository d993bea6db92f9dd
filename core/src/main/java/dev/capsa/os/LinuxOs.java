package dev.capsa.os;

import dev.capsa.error.SyscallException;
import java.nio.file.Path;
import java.util.OptionalLong;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

/** {@link Os} for Linux through jnr-ffi. libc is bound on first use, so commands that never signal don't pay for it. */
public final class LinuxOs implements Os {
    private static final Path PROC = Path.of("/proc");

    /** The libc functions Capsa calls from Java. */
    public interface LibC {
        int kill(int pid, int sig);

        int geteuid();

        int getegid();
    }

    private static final class Holder {
        static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    }

    @Override
    public void kill(long pid, int signal) {
        if (Holder.LIBC.kill((int) pid, signal) != 0) {
            int errno = Runtime.getRuntime(Holder.LIBC).getLastError();
            throw new SyscallException("kill", errno, "pid " + pid);
        }
    }

    @Override
    public OptionalLong processStartTime(long pid) {
        return ProcStat.startTime(PROC, pid);
    }

    @Override
    public int euid() {
        return Holder.LIBC.geteuid();
    }

    @Override
    public int egid() {
        return Holder.LIBC.getegid();
    }
}
