package dev.capsa.backend.vm;

import java.util.List;

/**
 * The host's side of the guest agent (Kata's "agent" seam): one connection to the agent's control
 * port. The real one is {@link dev.capsa.backend.vm.agent.AgentClient}; tests use fakes.
 */
public interface GuestAgent extends AutoCloseable {
    /** What the agent says about its process when a connection opens. */
    enum State { BOOTED, CREATED, RUNNING, EXITED }

    /** The process's end: its exit code (128 + n for signal n) and the bytes it wrote to stdout and stderr. */
    record Exit(int code, long stdoutBytes, long stderrBytes) {
    }

    /** The agent's state, and the exit when the state is EXITED; the first thing on every connection. */
    record Hello(State state, Exit exit) {
    }

    Hello hello();

    /** Sends the orders (see docs/vm.md) and "create"; returns the process's pid inside the guest. */
    long create(List<List<String>> orders);

    /** Releases the created process (it execs). */
    void start();

    void signal(int signal);

    /**
     * Starts another process in the container at once: "newexec", the process's orders
     * ({@link GuestPlan#processOrders}), then "exec SLOT". Its stdio travels over the slot's port
     * ({@link ExecSession}); slot -1: /dev/null. Returns its pid inside the guest.
     */
    long exec(List<List<String>> orders, int slot);

    /** Signals a process that {@link #exec} started, by its pid inside the guest. */
    void signal(int signal, long pid);

    /** Blocks until the process has ended and its output has left the guest. */
    Exit awaitExit();

    /** Acknowledges the exit; the guest powers off. */
    void powerOff();

    @Override
    void close();
}
