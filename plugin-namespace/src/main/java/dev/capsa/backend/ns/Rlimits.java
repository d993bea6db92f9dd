package dev.capsa.backend.ns;

import java.util.List;

/** setrlimit(2) resource names and numbers (asm-generic/resource.h: x86_64 and arm64). */
final class Rlimits {
    /** Index = resource number. */
    static final List<String> NAMES = List.of(
            "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
            "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME");

    private Rlimits() {
    }

    static int number(String name) {
        return NAMES.indexOf(name);
    }
}
