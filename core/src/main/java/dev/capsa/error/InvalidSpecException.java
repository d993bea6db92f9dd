package dev.capsa.error;

/**
 * A config.json (or process.json) that cannot be used. {@link #pointer()} is the RFC 6901
 * JSON pointer of the offending field, for example {@code /process/cwd}; the message starts
 * with it so that a user sees the field first.
 */
public final class InvalidSpecException extends CapsaException {
    private static final long serialVersionUID = 1L;
    private final String pointer;

    public InvalidSpecException(String pointer, String problem) {
        super(pointer.isEmpty() ? problem : pointer + ": " + problem);
        this.pointer = pointer;
    }

    public InvalidSpecException(String pointer, String problem, Throwable cause) {
        super(pointer.isEmpty() ? problem : pointer + ": " + problem, cause);
        this.pointer = pointer;
    }

    public String pointer() {
        return pointer;
    }
}
