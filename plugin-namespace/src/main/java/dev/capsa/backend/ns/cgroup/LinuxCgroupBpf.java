package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.CapsaException;
import dev.capsa.error.Errno;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * bpf(2) from Java through jnr-ffi: BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program,
 * BPF_PROG_ATTACH to the cgroup directory's descriptor with BPF_F_ALLOW_MULTI, BPF_PROG_QUERY and
 * BPF_PROG_DETACH of the programs it replaces. None of these cares how many threads the calling
 * process has, so the JVM makes them itself. The layouts are union bpf_attr's (linux/bpf.h).
 */
final class LinuxCgroupBpf implements CgroupBpf {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxCgroupBpf.class);

    private static final int BPF_PROG_LOAD = 5;
    private static final int BPF_PROG_ATTACH = 8;
    private static final int BPF_PROG_DETACH = 9;
    private static final int BPF_PROG_GET_FD_BY_ID = 13;
    private static final int BPF_PROG_QUERY = 16;
    private static final int BPF_PROG_TYPE_CGROUP_DEVICE = 15;
    private static final int BPF_CGROUP_DEVICE = 6;
    private static final int BPF_F_ALLOW_MULTI = 2;
    /** Larger than every field used; the kernel takes a shorter or longer union whose tail is zero. */
    private static final int ATTR_SIZE = 128;
    private static final int LOG_SIZE = 256 * 1024;
    private static final int RLIMIT_MEMLOCK = 8;
    private static final int EPERM = 1;
    private static final int O_CLOEXEC = 02000000;

    /** The libc functions used; unsigned and pointer-sized arguments travel as Java longs. */
    public interface LibC {
        long syscall(long number, long cmd, Pointer attr, long size);

        int open(String path, int flags);

        int close(int fd);

        int prlimit(int pid, int resource, Pointer newLimit, Pointer oldLimit);
    }

    private record Arch(long bpf, int directory) {
    }

    /** Bound on first use: only a v2 container with a device program pays for it. */
    private static final class Native {
        static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
        static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
    }

    private static Arch arch() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> new Arch(321, 0200000);
            case "aarch64" -> new Arch(280, 040000);
            default -> throw new CapsaException("the cgroup v2 device program is not supported on "
                    + System.getProperty("os.arch") + " (bpf(2) is wired for x86_64 and aarch64)");
        };
    }

    @Override
    public void replaceDeviceFilter(Path dir, DeviceFilter.Program program, String pointer) {
        int cgroup = openDir(dir, pointer);
        try {
            List<Integer> old = query(cgroup, dir, pointer);
            int prog = load(program, dir, pointer);
            try {
                Pointer attr = attr();
                attr.putInt(0, cgroup);
                attr.putInt(4, prog);
                attr.putInt(8, BPF_CGROUP_DEVICE);
                attr.putInt(12, BPF_F_ALLOW_MULTI);
                bpf(BPF_PROG_ATTACH, attr, "BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)", dir, pointer);
            } finally {
                // the attachment holds the program from here on
                Native.LIBC.close(prog);
            }
            for (int id : old) {
                detach(cgroup, id, dir, pointer);
            }
        } finally {
            Native.LIBC.close(cgroup);
        }
    }

    @Override
    public List<Integer> deviceFilters(Path dir) {
        int cgroup = openDir(dir, CgroupResources.DEVICES);
        try {
            return query(cgroup, dir, CgroupResources.DEVICES);
        } finally {
            Native.LIBC.close(cgroup);
        }
    }

    private int load(DeviceFilter.Program program, Path dir, String pointer) {
        byte[] code = program.encode();
        Pointer insns = Memory.allocateDirect(Native.RUNTIME, code.length, true);
        insns.put(0, code, 0, code.length);
        Pointer license = cString(DeviceFilter.LICENSE);
        Pointer attr = loadAttr(insns, program.insns().size(), license, null);
        long fd = Native.LIBC.syscall(arch().bpf(), BPF_PROG_LOAD, attr, ATTR_SIZE);
        int errno = fd < 0 ? Native.RUNTIME.getLastError() : 0;
        if (fd < 0 && errno == EPERM) {
            // before Linux 5.11 BPF memory is charged to RLIMIT_MEMLOCK: raised for this one call, as
            // runc raises it, and put back so the container's processes do not inherit it
            fd = withUnlimitedMemlock(() -> Native.LIBC.syscall(arch().bpf(), BPF_PROG_LOAD, attr, ATTR_SIZE));
            errno = fd < 0 ? Native.RUNTIME.getLastError() : 0;
        }
        if (fd >= 0) {
            Reference.reachabilityFence(insns);
            Reference.reachabilityFence(license);
            return (int) fd;
        }
        // again, with the verifier's log, to say why
        Pointer log = Memory.allocateDirect(Native.RUNTIME, LOG_SIZE, true);
        long again = Native.LIBC.syscall(arch().bpf(), BPF_PROG_LOAD, loadAttr(insns, program.insns().size(), license,
                log), ATTR_SIZE);
        if (again >= 0) {
            Native.LIBC.close((int) again);
        }
        Reference.reachabilityFence(insns);
        Reference.reachabilityFence(license);
        String verifier = log.getString(0, LOG_SIZE, StandardCharsets.UTF_8).strip();
        throw new CapsaException(pointer + ": loading the cgroup device program (" + program.insns().size()
                + " instructions) for " + dir + ": bpf(BPF_PROG_LOAD): " + Errno.name(errno) + " ("
                + Errno.describe(errno) + ")" + (verifier.isEmpty() ? "" : "; verifier log:\n" + verifier));
    }

    private static Pointer loadAttr(Pointer insns, int count, Pointer license, Pointer log) {
        Pointer attr = attr();
        attr.putInt(0, BPF_PROG_TYPE_CGROUP_DEVICE);
        attr.putInt(4, count);
        attr.putLong(8, insns.address());
        attr.putLong(16, license.address());
        if (log != null) {
            attr.putInt(24, 1);
            attr.putInt(28, LOG_SIZE);
            attr.putLong(32, log.address());
        }
        byte[] name = "capsa_devices".getBytes(StandardCharsets.US_ASCII);
        attr.put(48, name, 0, name.length); // prog_name[16], NUL-terminated by the zeroed attr
        attr.putInt(68, BPF_CGROUP_DEVICE);  // expected_attach_type
        return attr;
    }

    private long withUnlimitedMemlock(java.util.function.LongSupplier call) {
        Pointer old = Memory.allocateDirect(Native.RUNTIME, 16, true);
        Pointer unlimited = Memory.allocateDirect(Native.RUNTIME, 16, true);
        unlimited.putLong(0, -1L);
        unlimited.putLong(8, -1L);
        if (Native.LIBC.prlimit(0, RLIMIT_MEMLOCK, unlimited, old) != 0) {
            LOG.debug("cannot raise RLIMIT_MEMLOCK: {}", Errno.name(Native.RUNTIME.getLastError()));
            return call.getAsLong();
        }
        try {
            return call.getAsLong();
        } finally {
            int errno = Native.RUNTIME.getLastError();
            Native.LIBC.prlimit(0, RLIMIT_MEMLOCK, old, null);
            Native.RUNTIME.setLastError(errno);
        }
    }

    private List<Integer> query(int cgroup, Path dir, String pointer) {
        int max = 64;
        Pointer ids = Memory.allocateDirect(Native.RUNTIME, max * 4, true);
        Pointer attr = attr();
        attr.putInt(0, cgroup);
        attr.putInt(4, BPF_CGROUP_DEVICE);
        attr.putLong(16, ids.address());
        attr.putInt(24, max);
        bpf(BPF_PROG_QUERY, attr, "BPF_PROG_QUERY (BPF_CGROUP_DEVICE)", dir, pointer);
        int count = Math.min(attr.getInt(24), max);
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(ids.getInt(i * 4L));
        }
        return out;
    }

    private void detach(int cgroup, int id, Path dir, String pointer) {
        Pointer byId = attr();
        byId.putInt(0, id);
        int prog = (int) bpf(BPF_PROG_GET_FD_BY_ID, byId, "BPF_PROG_GET_FD_BY_ID " + id, dir, pointer);
        try {
            Pointer attr = attr();
            attr.putInt(0, cgroup);
            attr.putInt(4, prog);
            attr.putInt(8, BPF_CGROUP_DEVICE);
            bpf(BPF_PROG_DETACH, attr, "BPF_PROG_DETACH of the previous device program " + id, dir, pointer);
        } finally {
            Native.LIBC.close(prog);
        }
    }

    private static long bpf(int cmd, Pointer attr, String what, Path dir, String pointer) {
        long rc = Native.LIBC.syscall(arch().bpf(), cmd, attr, ATTR_SIZE);
        if (rc < 0) {
            int errno = Native.RUNTIME.getLastError();
            throw new CapsaException(pointer + ": bpf(" + what + ") on " + dir + ": " + Errno.name(errno) + " ("
                    + Errno.describe(errno) + ")");
        }
        return rc;
    }

    private static int openDir(Path dir, String pointer) {
        int fd = Native.LIBC.open(dir.toString(), arch().directory() | O_CLOEXEC);
        if (fd < 0) {
            int errno = Native.RUNTIME.getLastError();
            throw new CapsaException(pointer + ": opening the cgroup " + dir + " for its device program: "
                    + Errno.name(errno) + " (" + Errno.describe(errno) + ")");
        }
        return fd;
    }

    private static Pointer attr() {
        return Memory.allocateDirect(Native.RUNTIME, ATTR_SIZE, true);
    }

    private static Pointer cString(String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        Pointer p = Memory.allocateDirect(Native.RUNTIME, b.length + 1, true);
        p.put(0, b, 0, b.length);
        return p;
    }
}
