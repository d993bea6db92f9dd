package dev.capsa.example;

import dev.capsa.error.Errno;
import dev.capsa.error.SyscallException;
import dev.capsa.os.Os;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/** The OS seam for tests: a process table the test fills in, the signals sent, and the euid to report. */
final class FakeOs implements Os {
    record Kill(long pid, int signal) {
    }

    final Map<Long, Long> startTimes = new HashMap<>();
    final List<Kill> kills = new ArrayList<>();
    int euid;

    FakeOs(int euid) {
        this.euid = euid;
    }

    @Override
    public void kill(long pid, int signal) {
        if (!startTimes.containsKey(pid)) {
            throw new SyscallException("kill", Errno.number("ESRCH"), "pid " + pid);
        }
        kills.add(new Kill(pid, signal));
    }

    @Override
    public OptionalLong processStartTime(long pid) {
        Long t = startTimes.get(pid);
        return t == null ? OptionalLong.empty() : OptionalLong.of(t);
    }

    @Override
    public int euid() {
        return euid;
    }

    @Override
    public int egid() {
        return euid;
    }
}
