package dev.capsa.state;

import dev.capsa.error.CapsaException;
import java.util.regex.Pattern;

/** Container ids as runc accepts them; an id becomes a directory name, so nothing else gets through. */
public final class ContainerIds {
    private static final Pattern VALID = Pattern.compile("^[a-zA-Z0-9][a-zA-Z0-9_.-]*$");
    /** A directory entry must fit in NAME_MAX. */
    private static final int MAX = 255;

    private ContainerIds() {
    }

    public static String check(String id) {
        if (id == null || id.isEmpty()) {
            throw new CapsaException("container id cannot be empty");
        }
        if (id.length() > MAX || !VALID.matcher(id).matches()) {
            throw new CapsaException("invalid container id \"" + id + "\": it must match " + VALID.pattern()
                    + " and be at most " + MAX + " characters");
        }
        return id;
    }
}
