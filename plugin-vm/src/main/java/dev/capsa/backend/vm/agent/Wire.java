package dev.capsa.backend.vm.agent;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The agent protocol's line format (capsa-agent.c, docs/vm.md): words separated by one space; a
 * word escapes every byte at or below 0x20, at or above 0x7f and '%' as %XX; "%" alone is the
 * empty word.
 */
public final class Wire {
    private Wire() {
    }

    public static String escape(String word) {
        if (word.isEmpty()) {
            return "%";
        }
        StringBuilder out = new StringBuilder(word.length());
        for (byte b : word.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c <= 0x20 || c >= 0x7f || c == '%') {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            } else {
                out.append((char) c);
            }
        }
        return out.toString();
    }

    public static String unescape(String word) {
        if (word.equals("%")) {
            return "";
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(word.length());
        for (int i = 0; i < word.length(); i++) {
            char c = word.charAt(i);
            if (c == '%' && i + 2 < word.length()) {
                out.write(Integer.parseInt(word.substring(i + 1, i + 3), 16));
                i += 2;
            } else if (c == '%') {
                throw new IllegalArgumentException("bad escape in \"" + word + "\"");
            } else {
                out.write(c);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** One line, newline included. */
    public static String line(List<String> words) {
        StringBuilder out = new StringBuilder();
        for (String w : words) {
            if (!out.isEmpty()) {
                out.append(' ');
            }
            out.append(escape(w));
        }
        return out.append('\n').toString();
    }

    /** The words of a line (without its newline). */
    public static List<String> words(String line) {
        List<String> words = new ArrayList<>();
        for (String w : line.split(" ")) {
            if (!w.isEmpty()) {
                words.add(unescape(w));
            }
        }
        return words;
    }
}
