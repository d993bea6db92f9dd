package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.CapsaException;
import dev.capsa.error.Errno;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Reads and writes cgroup control files. Every write is one open, one write(2) and a close,
 * as the kernel takes one value (one device rule, one io.max line) per write. A write the
 * kernel refuses becomes a {@link CapsaException} that names the spec field's JSON pointer,
 * the value, the file and the errno:
 * {@code /linux/resources/memory/limit: writing 1048576 to /sys/fs/cgroup/memory/x/memory.limit_in_bytes: EBUSY (device or resource busy)}.
 */
final class CgroupFiles {
    /** Writes go nowhere else; tests pass a journal to see every write, also to files a later write overwrote. */
    private final BiConsumer<Path, String> journal;
    private final CgroupBpf bpf;

    CgroupFiles() {
        this((file, value) -> { }, new LinuxCgroupBpf());
    }

    CgroupFiles(BiConsumer<Path, String> journal, CgroupBpf bpf) {
        this.journal = journal;
        this.bpf = bpf;
    }

    /** The eBPF calls on a cgroup v2 directory (the device program). */
    CgroupBpf bpf() {
        return bpf;
    }

    /** Writes {@code value} to {@code file}; {@code pointer} is the spec field it comes from. */
    void write(Path file, String value, String pointer) {
        try {
            writeOrThrow(file, value);
        } catch (IOException e) {
            throw failed(pointer, file, value, e, "");
        }
    }

    /** The raw write, for callers that handle an errno themselves (EINVAL retries, EBUSY context). */
    void writeOrThrow(Path file, String value) throws IOException {
        // No CREATE: a missing control file means the controller is absent, and must say so.
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(value.getBytes(StandardCharsets.UTF_8));
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        }
        journal.accept(file, value);
    }

    static CapsaException failed(String pointer, Path file, String value, IOException e, String more) {
        String where = pointer == null || pointer.isEmpty() ? "" : pointer + ": ";
        return new CapsaException(where + "writing " + value.strip() + " to " + file + ": " + errno(e) + more, e);
    }

    /** The file's whole content; cgroupfs reports a size of 4096 or 0, so read as a stream. */
    static String read(Path file) {
        try {
            return readOrThrow(file);
        } catch (IOException e) {
            throw new CapsaException("reading " + file + ": " + errno(e), e);
        }
    }

    static String readOrThrow(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** A file holding one number; "max" (cgroup v2 for no limit) reads as -1. */
    static long readLong(Path file) {
        String s = read(file).strip();
        if (s.equals("max")) {
            return -1;
        }
        try {
            return Long.parseUnsignedLong(s);
        } catch (NumberFormatException e) {
            throw new CapsaException("reading " + file + ": expected a number, found \"" + s + "\"");
        }
    }

    /** A number, or 0 when the file does not exist (an optional statistic). */
    static long readLongOrZero(Path file) {
        if (!Files.exists(file)) {
            return 0;
        }
        long v = readLong(file);
        return v < 0 ? 0 : v;
    }

    /** "key value" lines (memory.stat, cpu.stat, memory.events, cgroup.events); absent file: empty. */
    static Map<String, Long> readKeyed(Path file) {
        Map<String, Long> out = new LinkedHashMap<>();
        if (!Files.exists(file)) {
            return out;
        }
        for (String line : read(file).split("\n")) {
            String[] kv = line.strip().split("\\s+");
            if (kv.length == 2) {
                try {
                    out.put(kv[0], Long.parseUnsignedLong(kv[1]));
                } catch (NumberFormatException e) {
                    // a non-numeric value ("max") is not a statistic
                }
            }
        }
        return out;
    }

    /**
     * The errno name and text of an I/O error: "EBUSY (device or resource busy)". The JDK keeps
     * strerror's text in the message (or uses a subclass for ENOENT and EACCES).
     */
    static String errno(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "ENOENT (no such file or directory)";
        }
        if (e instanceof java.nio.file.DirectoryNotEmptyException) {
            return "ENOTEMPTY (directory not empty)";
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException) {
            return "EEXIST (file exists)";
        }
        if (e instanceof AccessDeniedException) {
            return "EACCES (permission denied)";
        }
        String text = e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason() : e.getMessage();
        if (text == null) {
            return e.getClass().getSimpleName();
        }
        String lower = text.strip().toLowerCase(java.util.Locale.ROOT);
        for (int n = 1; n < 200; n++) {
            String describe = Errno.describe(n);
            if (!describe.equals("unknown error") && lower.endsWith(describe)) {
                return Errno.name(n) + " (" + describe + ")";
            }
        }
        return lower;
    }

    /** Whether an I/O error is the errno {@code name} ("EBUSY"). */
    static boolean is(IOException e, String name) {
        return errno(e).startsWith(name + " ");
    }
}
