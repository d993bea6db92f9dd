package dev.capsa.backend.vm;

import dev.capsa.backend.vm.qemu.QemuCommandLine.Chardev;
import java.nio.file.Path;
import java.util.List;

/**
 * One guest, as the hypervisor boots it: what a launcher needs and nothing about the container.
 *
 * @param kernel   the uncompressed vmlinux
 * @param initrd   the initramfs: the agent as /init and the modules
 * @param rootfs   the host directory shared as 9p tag "rootfs"
 * @param shares   more host directories shared with 9p, for bind mounts
 * @param console  the file that gets ttyS0
 * @param ctl      the agent's control port
 * @param stdin    the process's stdin port, or null for none (the process reads /dev/null)
 * @param execs    the exec slots' ports, {@code capsa.exec0}, {@code capsa.exec1}, ...
 * @param log      QEMU's own stdout and stderr
 */
public record VmConfig(String accel, long memoryMib, int cpus, long tscKhz, Path kernel, Path initrd, Path rootfs,
                       List<GuestPlan.Share> shares, Path console, Chardev ctl, Chardev stdout, Chardev stderr,
                       Chardev stdin, List<Chardev> execs, Path log) {
}
