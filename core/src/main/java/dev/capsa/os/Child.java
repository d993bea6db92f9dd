package dev.capsa.os;

import java.util.concurrent.TimeUnit;

/** A process a {@link Launcher} started: the part of {@link Process} that Capsa uses. */
public interface Child {
    long pid();

    boolean isAlive();

    /** Waits for it to end; its exit status, 128 + n when signal n ended it. */
    int waitFor() throws InterruptedException;

    boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException;

    /** The status of a process that has ended; {@link IllegalThreadStateException} before. */
    int exitValue();

    void destroyForcibly();
}
