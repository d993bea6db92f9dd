package dev.capsa.error;

/** A system call that failed: names the call, the errno and, where there is one, the path. */
public final class SyscallException extends CapsaException {
    private static final long serialVersionUID = 1L;
    private final String call;
    private final int errno;
    private final String path;

    public SyscallException(String call, int errno, String path) {
        super(call + (path == null ? "" : " " + path) + ": " + Errno.name(errno) + " (" + Errno.describe(errno) + ")");
        this.call = call;
        this.errno = errno;
        this.path = path;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }

    public String path() {
        return path;
    }
}
