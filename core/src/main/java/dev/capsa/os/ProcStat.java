package dev.capsa.os;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/** Reads /proc/PID/stat. The comm field may hold spaces and parentheses, so parse from the last ')'. */
public final class ProcStat {
    private ProcStat() {
    }

    /** Start time in ticks, or empty for a missing or zombie process. */
    public static OptionalLong startTime(Path procRoot, long pid) {
        String stat = read(procRoot, pid);
        return stat == null ? OptionalLong.empty() : parseStartTime(stat);
    }

    /** The state letter (field 3: R, S, D, T, Z, ...), or 0 when the process is not there. */
    public static char state(Path procRoot, long pid) {
        String stat = read(procRoot, pid);
        return stat == null ? 0 : parseState(stat);
    }

    static char parseState(String stat) {
        int close = stat.lastIndexOf(')');
        return close < 0 || close + 2 >= stat.length() ? 0 : stat.charAt(close + 2);
    }

    private static String read(Path procRoot, long pid) {
        // proc files report size 0: read them as a stream, never by their stated size
        try (InputStream in = Files.newInputStream(procRoot.resolve(Long.toString(pid)).resolve("stat"))) {
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return null;
        }
    }

    static OptionalLong parseStartTime(String stat) {
        int close = stat.lastIndexOf(')');
        if (close < 0) {
            return OptionalLong.empty();
        }
        // after ") " come field 3 (state) onwards; starttime is field 22
        String[] rest = stat.substring(close + 2).trim().split(" ");
        if (rest.length < 20) {
            return OptionalLong.empty();
        }
        if (rest[0].equals("Z") || rest[0].equals("X")) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(rest[19]));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }
}
