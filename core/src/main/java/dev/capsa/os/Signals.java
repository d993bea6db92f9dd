package dev.capsa.os;

import dev.capsa.error.CapsaException;
import java.util.Locale;

/** Linux signal names and numbers (x86_64 and arm64), as {@code kill} accepts them: KILL, SIGKILL or 9. */
public final class Signals {
    private static final String[] NAMES = {
        null, "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE",
        "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM",
        "PROF", "WINCH", "IO", "PWR", "SYS",
    };
    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;
    private static final int SIGRTMIN = 34;
    private static final int SIGRTMAX = 64;

    private Signals() {
    }

    public static int parse(String text) {
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (!s.isEmpty() && Character.isDigit(s.charAt(0))) {
            try {
                int n = Integer.parseInt(s);
                if (n >= 1 && n <= SIGRTMAX) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
            throw new CapsaException("invalid signal \"" + text + "\"");
        }
        if (s.startsWith("SIG")) {
            s = s.substring(3);
        }
        for (int i = 1; i < NAMES.length; i++) {
            if (NAMES[i].equals(s)) {
                return i;
            }
        }
        if (s.equals("IOT")) {
            return 6;
        }
        if (s.equals("POLL")) {
            return 29;
        }
        if (s.startsWith("RTMIN") || s.startsWith("RTMAX")) {
            int offset = 0;
            String tail = s.substring(5);
            try {
                offset = tail.isEmpty() ? 0 : Integer.parseInt(tail);
            } catch (NumberFormatException e) {
                throw new CapsaException("invalid signal \"" + text + "\"");
            }
            int n = s.startsWith("RTMIN") ? SIGRTMIN + offset : SIGRTMAX + offset;
            if (n >= SIGRTMIN && n <= SIGRTMAX) {
                return n;
            }
        }
        throw new CapsaException("invalid signal \"" + text + "\"");
    }

    public static String name(int signal) {
        return signal > 0 && signal < NAMES.length ? "SIG" + NAMES[signal] : "signal " + signal;
    }
}
