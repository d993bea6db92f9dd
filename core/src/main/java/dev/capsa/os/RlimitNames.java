package dev.capsa.os;

import java.util.List;

/** setrlimit(2) resource names and numbers (asm-generic/resource.h: x86_64 and arm64), for every backend. */
public final class RlimitNames {
    /** Index = resource number. */
    public static final List<String> NAMES = List.of(
            "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
            "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME");

    private RlimitNames() {
    }

    /** The resource number of a name, or -1 for a name Capsa does not know. */
    public static int number(String name) {
        return NAMES.indexOf(name);
    }
}
