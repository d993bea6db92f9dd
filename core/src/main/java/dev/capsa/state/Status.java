package dev.capsa.state;

import java.util.Locale;

/** runtime.md's statuses, plus {@code paused} as runc reports it. */
public enum Status {
    CREATING, CREATED, RUNNING, PAUSED, STOPPED;

    /** The lowercase word of the OCI state JSON. */
    public String json() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Status parse(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
