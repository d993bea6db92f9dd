package dev.capsa.example;

import dev.capsa.spec.ProcessSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The command line that create spawns: a host shell that waits on the exec fifo, then becomes
 * {@code chroot ROOTFS ARGS...}. A pure function of the spec, so it is tested without root.
 */
final class ChrootCommand {
    static final String SH = "/bin/sh";
    static final String CHROOT = "/usr/sbin/chroot";

    /**
     * Runs with $0 = the fifo and "$@" = the real command. Opening a fifo for reading blocks until
     * someone opens it for writing: that someone is {@code start} (runc's exec.fifo, in one line).
     */
    static final String WAIT_FOR_START = "read _ < \"$0\" && exec \"$@\"";

    /**
     * chroot(1) always changes into the new root's "/", so a process.cwd elsewhere needs a
     * shell inside the rootfs to change into it. Runs with $0 = the cwd.
     */
    static final String CHANGE_DIR = "cd \"$0\" && exec \"$@\"";

    private ChrootCommand() {
    }

    static List<String> argv(Path fifo, Path rootfs, ProcessSpec process) {
        List<String> argv = new ArrayList<>(List.of(SH, "-c", WAIT_FOR_START, fifo.toString(), CHROOT));
        ProcessSpec.User user = process.user();
        long uid = user == null || user.uid() == null ? 0 : user.uid();
        long gid = user == null || user.gid() == null ? 0 : user.gid();
        if (uid != 0 || gid != 0) {
            argv.add("--userspec=" + uid + ":" + gid);
        }
        if (user != null && user.additionalGids() != null && !user.additionalGids().isEmpty()) {
            argv.add("--groups=" + user.additionalGids().stream().map(String::valueOf)
                    .collect(Collectors.joining(",")));
        }
        argv.add(rootfs.toString());
        String cwd = process.cwd() == null ? "/" : process.cwd();
        if (!cwd.equals("/")) {
            argv.addAll(List.of(SH, "-c", CHANGE_DIR, cwd));
        }
        argv.addAll(process.args());
        return argv;
    }
}
