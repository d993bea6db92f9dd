package dev.capsa.os;

import java.util.OptionalLong;

/**
 * The host-side system calls the engine and backends make. The real one is {@link LinuxOs};
 * tests use a hand-written fake that records calls.
 */
public interface Os {
    /** kill(2); throws {@link dev.capsa.error.SyscallException} with ESRCH for a gone pid. */
    void kill(long pid, int signal);

    /**
     * The start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot), or
     * empty when there is no such process or it is a zombie. A pid plus its start time names one
     * process for good: the kernel can reuse the pid, never both.
     */
    OptionalLong processStartTime(long pid);

    int euid();

    int egid();
}
