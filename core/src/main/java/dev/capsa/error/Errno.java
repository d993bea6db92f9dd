package dev.capsa.error;

/** Linux errno numbers (x86_64 and arm64 share them) with their symbolic names. */
public final class Errno {
    private static final String[][] TABLE = {
        {"0", "OK", "success"},
        {"1", "EPERM", "operation not permitted"},
        {"2", "ENOENT", "no such file or directory"},
        {"3", "ESRCH", "no such process"},
        {"4", "EINTR", "interrupted system call"},
        {"5", "EIO", "input/output error"},
        {"6", "ENXIO", "no such device or address"},
        {"7", "E2BIG", "argument list too long"},
        {"8", "ENOEXEC", "exec format error"},
        {"9", "EBADF", "bad file descriptor"},
        {"10", "ECHILD", "no child processes"},
        {"11", "EAGAIN", "resource temporarily unavailable"},
        {"12", "ENOMEM", "cannot allocate memory"},
        {"13", "EACCES", "permission denied"},
        {"14", "EFAULT", "bad address"},
        {"15", "ENOTBLK", "block device required"},
        {"16", "EBUSY", "device or resource busy"},
        {"17", "EEXIST", "file exists"},
        {"18", "EXDEV", "invalid cross-device link"},
        {"19", "ENODEV", "no such device"},
        {"20", "ENOTDIR", "not a directory"},
        {"21", "EISDIR", "is a directory"},
        {"22", "EINVAL", "invalid argument"},
        {"23", "ENFILE", "too many open files in system"},
        {"24", "EMFILE", "too many open files"},
        {"25", "ENOTTY", "inappropriate ioctl for device"},
        {"26", "ETXTBSY", "text file busy"},
        {"27", "EFBIG", "file too large"},
        {"28", "ENOSPC", "no space left on device"},
        {"29", "ESPIPE", "illegal seek"},
        {"30", "EROFS", "read-only file system"},
        {"31", "EMLINK", "too many links"},
        {"32", "EPIPE", "broken pipe"},
        {"33", "EDOM", "numerical argument out of domain"},
        {"34", "ERANGE", "numerical result out of range"},
        {"35", "EDEADLK", "resource deadlock avoided"},
        {"36", "ENAMETOOLONG", "file name too long"},
        {"37", "ENOLCK", "no locks available"},
        {"38", "ENOSYS", "function not implemented"},
        {"39", "ENOTEMPTY", "directory not empty"},
        {"40", "ELOOP", "too many levels of symbolic links"},
        {"61", "ENODATA", "no data available"},
        {"62", "ETIME", "timer expired"},
        {"75", "EOVERFLOW", "value too large for defined data type"},
        {"95", "EOPNOTSUPP", "operation not supported"},
        {"98", "EADDRINUSE", "address already in use"},
        {"104", "ECONNRESET", "connection reset by peer"},
        {"110", "ETIMEDOUT", "connection timed out"},
        {"111", "ECONNREFUSED", "connection refused"},
        {"122", "EDQUOT", "disk quota exceeded"},
    };

    private Errno() {
    }

    public static String name(int errno) {
        String[] row = find(errno);
        return row == null ? "errno " + errno : row[1];
    }

    public static String describe(int errno) {
        String[] row = find(errno);
        return row == null ? "unknown error" : row[2];
    }

    /** The number for a symbolic name such as {@code EPERM}, or -1. */
    public static int number(String name) {
        for (String[] row : TABLE) {
            if (row[1].equals(name)) {
                return Integer.parseInt(row[0]);
            }
        }
        return -1;
    }

    private static String[] find(int errno) {
        String key = Integer.toString(errno);
        for (String[] row : TABLE) {
            if (row[0].equals(key)) {
                return row;
            }
        }
        return null;
    }
}
