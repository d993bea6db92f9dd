package dev.capsa.error;

/** A container, file or plugin that does not exist. */
public final class NotFoundException extends CapsaException {
    private static final long serialVersionUID = 1L;

    public NotFoundException(String message) {
        super(message);
    }

    public static NotFoundException container(String id) {
        return new NotFoundException("container \"" + id + "\" does not exist");
    }
}
