package dev.capsa.error;

/** A backend that does not exist, cannot run on this host, or does not implement an operation. */
public final class BackendUnavailableException extends CapsaException {
    private static final long serialVersionUID = 1L;

    public BackendUnavailableException(String message) {
        super(message);
    }

    /** The backend exists but has not implemented {@code operation}: it says so instead of pretending. */
    public static BackendUnavailableException unsupported(String backend, String operation) {
        return new BackendUnavailableException("backend " + backend + " does not support " + operation);
    }
}
