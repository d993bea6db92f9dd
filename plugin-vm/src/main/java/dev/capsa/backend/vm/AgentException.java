package dev.capsa.backend.vm;

import dev.capsa.error.CapsaException;

/** The agent answered with an error, or not at all. */
public final class AgentException extends CapsaException {
    private final String step;
    private final int errno;

    public AgentException(String step, int errno, String message) {
        super(message);
        this.step = step;
        this.errno = errno;
    }

    public AgentException(String message, Throwable cause) {
        super(message, cause);
        this.step = "";
        this.errno = 0;
    }

    /** The agent's step that failed ("mount", "exec", ...), or empty when the channel failed. */
    public String step() {
        return step;
    }

    public int errno() {
        return errno;
    }
}
