package dev.capsa.os;

import java.nio.file.Path;
import java.util.Map;

/**
 * The process a command runs for: its environment, its working directory, its pid (whose
 * descriptors 0, 1, 2 and the preserved ones are the command's) and the {@link Launcher} that
 * starts helper processes for it. A plain {@code capsa} JVM has one caller, itself. The capsa
 * server (docs/server.md) runs many commands at once, each for a client process, and binds each
 * request's thread (and the threads it starts) to that client.
 */
public final class Caller {
    private static final InheritableThreadLocal<Caller> CURRENT = new InheritableThreadLocal<>();
    private static volatile Caller self;

    private final Map<String, String> environment;
    private final Path cwd;
    private final long pid;
    private final Launcher launcher;

    public Caller(Map<String, String> environment, Path cwd, long pid, Launcher launcher) {
        if (!cwd.isAbsolute()) {
            throw new IllegalArgumentException("the working directory must be absolute: " + cwd);
        }
        this.environment = Map.copyOf(environment);
        this.cwd = cwd;
        this.pid = pid;
        this.launcher = launcher;
    }

    /** The caller of the command this thread runs. */
    public static Caller current() {
        Caller c = CURRENT.get();
        if (c != null) {
            return c;
        }
        Caller s = self;
        if (s == null) {
            s = new Caller(System.getenv(), Path.of("").toAbsolutePath(), ProcessHandle.current().pid(),
                    LocalLauncher.INSTANCE);
            self = s;
        }
        return s;
    }

    /** Binds this thread, and the threads it starts from now on, to {@code caller}; null unbinds. */
    public static void bind(Caller caller) {
        if (caller == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(caller);
        }
    }

    /** An environment variable of the caller, or null. */
    public static String env(String name) {
        return current().environment.get(name);
    }

    public Map<String, String> environment() {
        return environment;
    }

    public Path cwd() {
        return cwd;
    }

    /** {@code path} resolved against the caller's working directory (unchanged when absolute), normalized. */
    public static Path resolve(Path path) {
        return current().cwd.resolve(path).normalize();
    }

    public static Path resolve(String path) {
        return resolve(Path.of(path));
    }

    public long pid() {
        return pid;
    }

    public Launcher launcher() {
        return launcher;
    }
}
