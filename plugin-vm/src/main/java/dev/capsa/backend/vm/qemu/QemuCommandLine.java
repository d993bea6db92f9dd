package dev.capsa.backend.vm.qemu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The qemu-system-x86_64 argv, built from one object per device (Kata's QEMU generator): a pure
 * function of its parts, so tests compare it with the exact expected arguments. Measured choices
 * (design.md "The vm backend"): microvm with mmio devices, an uncompressed vmlinux booted through
 * its PVH entry, an uncompressed initramfs, and a kernel command line with tsc_early_khz (microvm
 * guests hang in clock calibration without it in a third of boots).
 */
public final class QemuCommandLine {
    /** A part of the command line. */
    public sealed interface Part permits Machine, Memory, Cpus, Boot, Serial, Share9p, SerialBus, Port, Bios,
            DebugExit {
        List<String> args();
    }

    /** {@code -M microvm} and the accelerator; no default devices, no user config, no display, no reboot. */
    public record Machine(String type, String accel) implements Part {
        public List<String> args() {
            return List.of("-M", type, "-accel", accel, "-nodefaults", "-no-user-config", "-nographic",
                    "-no-reboot");
        }
    }

    public record Memory(long mib) implements Part {
        public List<String> args() {
            return List.of("-m", Long.toString(mib));
        }
    }

    public record Cpus(int count) implements Part {
        public List<String> args() {
            return List.of("-smp", Integer.toString(count));
        }
    }

    /**
     * The kernel, the initramfs and the kernel command line. {@code panic=-1} with QEMU's
     * {@code -no-reboot} turns a guest panic into QEMU's exit instead of a hang.
     */
    public record Boot(Path kernel, Path initrd, long tscKhz) implements Part {
        public List<String> args() {
            return List.of("-kernel", kernel.toString(), "-initrd", initrd.toString(), "-append", append());
        }

        public String append() {
            return "console=ttyS0 quiet cryptomgr.notests" + (tscKhz > 0 ? " tsc_early_khz=" + tscKhz : "")
                    + " panic=-1";
        }
    }

    /** ttyS0, the guest's console, into a file: the kernel's and the agent's messages. */
    public record Serial(Path log) implements Part {
        public List<String> args() {
            return List.of("-chardev", "file,id=console,path=" + opt(log), "-serial", "chardev:console");
        }
    }

    /** A host directory as a virtio-9p share (the mmio kind: -virtfs needs PCI, which microvm lacks). */
    public record Share9p(String id, Path path, String tag, boolean readOnly) implements Part {
        public Share9p(String id, Path path, String tag) {
            this(id, path, tag, false);
        }

        public List<String> args() {
            return List.of("-fsdev", "local,id=" + id + ",path=" + opt(path) + ",security_model=passthrough"
                    + (readOnly ? ",readonly=on" : ""), "-device", "virtio-9p-device,fsdev=" + id + ",mount_tag=" + tag);
        }
    }

    /** The virtio-serial controller the ports hang on. */
    public record SerialBus() implements Part {
        public List<String> args() {
            return List.of("-device", "virtio-serial-device");
        }
    }

    /** Where a port's host end goes. */
    public sealed interface Chardev {
        String spec(String id);
    }

    /** QEMU listens and takes one connection at a time; {@code wait=off}: it does not wait for the first. */
    public record ListeningSocket(Path path) implements Chardev {
        public String spec(String id) {
            return "socket,id=" + id + ",path=" + opt(path) + ",server=on,wait=off";
        }
    }

    /** QEMU connects, at start, to a socket the host already listens on (design.md: the safest way). */
    public record ConnectingSocket(Path path) implements Chardev {
        public String spec(String id) {
            return "socket,id=" + id + ",path=" + opt(path) + ",server=off";
        }
    }

    /** A file QEMU opens for writing, appending. */
    public record File(Path path) implements Chardev {
        public String spec(String id) {
            return "file,id=" + id + ",path=" + opt(path) + ",append=on";
        }
    }

    /**
     * QEMU's own stdin (and stdout, which nothing writes to through it): a detached container's
     * stdin, when its creator's stdin is a pipe. {@code signal=off}: a ^C in it is data.
     */
    public record Stdio() implements Chardev {
        public String spec(String id) {
            return "stdio,id=" + id + ",signal=off";
        }
    }

    /**
     * The container's terminal, input side: the pty slave the monitor gives QEMU as descriptor 4
     * (capsa-relay monitor --console), opened as a serial line (QEMU makes it raw). The monitor
     * sends the pty's master to {@code consoleSocket}, sized {@code rows} by {@code cols}.
     */
    public record PtyInput(Path consoleSocket, int rows, int cols) implements Chardev {
        public String spec(String id) {
            return "serial,id=" + id + ",path=/proc/self/fd/" + PTY_FD;
        }
    }

    /** The container's terminal, output side: the same pty slave, written to. */
    public record PtyOutput() implements Chardev {
        public String spec(String id) {
            return "file,id=" + id + ",path=/proc/self/fd/" + PTY_FD + ",append=on";
        }
    }

    /** Host end discarded (output) or always at EOF (input). */
    public record Null() implements Chardev {
        public String spec(String id) {
            return "null,id=" + id;
        }
    }

    /** A named virtio-serial port; the agent finds it by name in /sys/class/virtio-ports. */
    public record Port(String id, String name, Chardev chardev) implements Part {
        public List<String> args() {
            return List.of("-chardev", chardev.spec(id), "-device", "virtserialport,chardev=" + id + ",name=" + name);
        }
    }

    /** A firmware image instead of the default one (the accelerator probe's). */
    public record Bios(Path image) implements Part {
        public List<String> args() {
            return List.of("-bios", image.toString());
        }
    }

    /** isa-debug-exit on port 0xf4: a write of v makes QEMU exit with status (v << 1) | 1. */
    public record DebugExit() implements Part {
        public List<String> args() {
            return List.of("-device", "isa-debug-exit,iobase=0xf4,iosize=4");
        }
    }

    /** Where capsa-relay monitor --console puts the pty slave in QEMU. */
    public static final int PTY_FD = 4;

    private final String binary;
    private final List<Part> parts = new ArrayList<>();

    public QemuCommandLine(String binary) {
        this.binary = binary;
    }

    public QemuCommandLine add(Part part) {
        parts.add(part);
        return this;
    }

    public List<Part> parts() {
        return List.copyOf(parts);
    }

    public List<String> argv() {
        List<String> argv = new ArrayList<>();
        argv.add(binary);
        parts.forEach(p -> argv.addAll(p.args()));
        return List.copyOf(argv);
    }

    /** QEMU's option syntax: a comma inside a value is written twice. */
    static String opt(Path path) {
        return path.toString().replace(",", ",,");
    }
}
