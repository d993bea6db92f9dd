package dev.capsa.error;

/**
 * The one unchecked base of every error Capsa reports to its user. Messages are lowercase,
 * carry no trailing period, and name the container id, the path or the field they are about.
 * The CLI maps every subclass to exit code 1.
 */
public class CapsaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CapsaException(String message) {
        super(message);
    }

    public CapsaException(String message, Throwable cause) {
        super(message, cause);
    }
}
