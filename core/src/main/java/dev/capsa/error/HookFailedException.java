package dev.capsa.error;

/** A lifecycle hook that failed, timed out or could not be started. */
public final class HookFailedException extends CapsaException {
    private static final long serialVersionUID = 1L;

    public HookFailedException(String message) {
        super(message);
    }

    public HookFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
