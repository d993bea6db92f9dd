package dev.capsa.error;

/** Another capsa process holds the container's lock and did not release it in time. */
public final class LockedException extends CapsaException {
    private static final long serialVersionUID = 1L;

    public LockedException(String message) {
        super(message);
    }
}
