package dev.capsa.os;

import dev.capsa.error.Errno;
import dev.capsa.error.SyscallException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/** A hand-written fake of the OS seam: a process table the test controls, and a record of signals sent. */
public final class FakeOs implements Os {
    public record Kill(long pid, int signal) {
    }

    private final Map<Long, Long> startTimes = new HashMap<>();
    public final List<Kill> kills = new ArrayList<>();
    private long nextPid = 1000;

    /** Adds a live process and returns its pid. */
    public synchronized long spawn() {
        long pid = nextPid++;
        startTimes.put(pid, 500_000L + pid);
        return pid;
    }

    public synchronized void exit(long pid) {
        startTimes.remove(pid);
    }

    /** The pid is reused by a new process with another start time. */
    public synchronized void reuse(long pid) {
        startTimes.put(pid, startTimes.getOrDefault(pid, 0L) + 1);
    }

    public synchronized boolean alive(long pid) {
        return startTimes.containsKey(pid);
    }

    @Override
    public synchronized void kill(long pid, int signal) {
        if (!startTimes.containsKey(pid)) {
            throw new SyscallException("kill", Errno.number("ESRCH"), "pid " + pid);
        }
        kills.add(new Kill(pid, signal));
        if (signal == Signals.SIGKILL || signal == Signals.SIGTERM) {
            startTimes.remove(pid);
        }
    }

    @Override
    public synchronized OptionalLong processStartTime(long pid) {
        Long t = startTimes.get(pid);
        return t == null ? OptionalLong.empty() : OptionalLong.of(t);
    }

    @Override
    public int euid() {
        return 0;
    }

    @Override
    public int egid() {
        return 0;
    }
}
