package dev.capsa.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Linux capability names and numbers (linux/capability.h), shared by the backends: Java resolves
 * names, the native side (capsa-init, the vm guest's agent) sees numbers and masks.
 */
public final class CapabilityNames {
    /** Index = capability number. */
    public static final List<String> NAMES = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
            "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE");

    /** The highest capability number Capsa knows by name. */
    public static final int LAST_KNOWN = NAMES.size() - 1;

    private CapabilityNames() {
    }

    /** The number of a capability name, or -1 for a name Capsa does not know. */
    public static int number(String name) {
        return NAMES.indexOf(name);
    }

    /** The names a kernel whose last capability is {@code lastCap} knows. */
    public static List<String> known(int lastCap) {
        return NAMES.subList(0, Math.max(0, Math.min(NAMES.size(), lastCap + 1)));
    }

    /** This host's last capability (/proc/sys/kernel/cap_last_cap), else the last one Capsa knows. */
    public static int hostLastCap() {
        return lastCap(Path.of("/proc/sys/kernel/cap_last_cap"));
    }

    static int lastCap(Path capLastCap) {
        try {
            // proc files state size 0: read them as a stream, never by their stated size
            try (java.io.InputStream in = Files.newInputStream(capLastCap)) {
                return Integer.parseInt(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).trim());
            }
        } catch (IOException | NumberFormatException e) {
            return LAST_KNOWN;
        }
    }

    /**
     * The mask of {@code names} (bit n = capability n); names past {@code lastCap} are left out
     * (runc skips a capability the kernel does not know, with a warning).
     *
     * @return the mask, or -1 - i when {@code names.get(i)} is not a capability name
     */
    public static long mask(List<String> names, int lastCap, List<String> skipped) {
        long mask = 0;
        for (int i = 0; names != null && i < names.size(); i++) {
            int number = number(names.get(i));
            if (number < 0) {
                return -1L - i;
            }
            if (number > lastCap) {
                if (skipped != null && !skipped.contains(names.get(i))) {
                    skipped.add(names.get(i));
                }
                continue;
            }
            mask |= 1L << number;
        }
        return mask;
    }
}
