package dev.capsa.error;

/** An id that is already taken. */
public final class AlreadyExistsException extends CapsaException {
    private static final long serialVersionUID = 1L;

    public AlreadyExistsException(String message) {
        super(message);
    }

    public static AlreadyExistsException container(String id) {
        return new AlreadyExistsException("container \"" + id + "\" already exists");
    }
}
