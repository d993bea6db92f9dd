package dev.capsa.os;

import java.io.IOException;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Starts the helper processes of a command (capsa-init and the like) as children of the command's
 * caller, with the caller's stdin, stdout and stderr and an empty environment. Under the capsa
 * server the caller is the client that the engine ran, so the helpers descend from the engine, as
 * runc's do: a detached container's process is reparented to the engine's subreaper (conmon,
 * containerd-shim), which waits for it.
 */
public interface Launcher {
    Child start(List<String> argv) throws IOException;

    /**
     * Until the returned handle is closed, the signals that would end the caller (INT, TERM, HUP,
     * USR1, USR2) go to {@code target} instead, as runc's signal proxy does for a foreground process.
     */
    Forwarding forwardSignals(IntConsumer target);

    /**
     * Called before a command starts processes some other way than through this launcher (a
     * backend that runs QEMU itself, say): under the capsa server that would make them the
     * server's children, not the caller's, so the command is refused with {@link OwnProcessRequired}
     * and the client runs it in a JVM of its own. A JVM that is its own caller goes on.
     */
    default void requireOwnProcess(String why) {
    }

    /** Signal forwarding in force; closing it restores what was there before. */
    interface Forwarding extends AutoCloseable {
        @Override
        void close();
    }
}
