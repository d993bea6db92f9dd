package dev.capsa.error;

/** An operation that runtime.md does not allow in the container's current status. */
public final class WrongStateException extends CapsaException {
    private static final long serialVersionUID = 1L;

    public WrongStateException(String message) {
        super(message);
    }
}
