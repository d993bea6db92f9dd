package dev.capsa.os;

import dev.capsa.error.CapsaException;

/**
 * Thrown under the capsa server when a command must run in a process of the caller's own (see
 * {@link Launcher#requireOwnProcess}); the server then tells the client to run it itself. Nothing
 * that the command did before must be visible: it is thrown before any state exists.
 */
public final class OwnProcessRequired extends CapsaException {
    private static final long serialVersionUID = 1L;

    public OwnProcessRequired(String why) {
        super(why);
    }
}
