package dev.capsa.backend.vm.qemu;

import dev.capsa.backend.vm.Hypervisor;
import dev.capsa.backend.vm.RelayBinary;
import dev.capsa.backend.vm.VmConfig;
import dev.capsa.error.CapsaException;
import dev.capsa.spi.Availability;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The default launcher: a qemu-system-x86_64 process per guest, started by capsa-relay's monitor
 * mode, whose pid is the container's: the monitor is QEMU's parent and exits with the status of
 * the container's process, which the agent writes on the port {@code capsa.exit} (docs/vm.md
 * "The container's pid").
 */
public final class QemuHypervisor implements Hypervisor {
    public static final String BINARY = "qemu-system-x86_64";
    /** The descriptor the monitor gives QEMU: the write end of its status pipe. */
    public static final int STATUS_FD = 3;
    private static final String PROBE_RESOURCE = "/accel-probe.bin";

    private final String binary;
    private final Supplier<Path> monitor;

    public QemuHypervisor(String binary) {
        this(binary, RelayBinary::path);
    }

    /** @param monitor capsa-relay, extracted on the first launch */
    public QemuHypervisor(String binary, Supplier<Path> monitor) {
        this.binary = binary;
        this.monitor = monitor;
    }

    /** The binary named by CAPSA_QEMU, else qemu-system-x86_64 from PATH. */
    public static QemuHypervisor fromEnvironment() {
        String configured = dev.capsa.os.Caller.env("CAPSA_QEMU");
        return new QemuHypervisor(configured != null && !configured.isBlank() ? configured : BINARY);
    }

    @Override
    public Availability probe() {
        return find(binary) != null ? Availability.yes()
                : Availability.no("no " + binary + " on PATH (Debian: apt-get install qemu-system-x86)");
    }

    @Override
    public Accelerator.Choice accelerator(Path cacheDir) {
        Path image = null;
        try (InputStream in = QemuHypervisor.class.getResourceAsStream(PROBE_RESOURCE)) {
            if (in == null) {
                return new Accelerator.Choice("tcg", "this build of the vm plugin has no accelerator probe");
            }
            Files.createDirectories(cacheDir);
            image = Files.createTempFile(cacheDir, ".vm-accel-probe", ".bin");
            Files.write(image, in.readAllBytes());
            return new Accelerator(binary, Path.of("/dev/kvm"), Accelerator::runProcess)
                    .choose(cacheDir.resolve(".vm-accelerator"), bootId(), image);
        } catch (IOException e) {
            return new Accelerator.Choice("tcg", "cannot run the accelerator probe: " + e.getMessage());
        } finally {
            if (image != null) {
                try {
                    Files.deleteIfExists(image);
                } catch (IOException e) {
                    // a temp file in the state root
                }
            }
        }
    }

    /** The argv of one guest. */
    public List<String> commandLine(VmConfig vm) {
        QemuCommandLine cl = new QemuCommandLine(binary)
                .add(new QemuCommandLine.Machine("microvm", vm.accel()))
                .add(new QemuCommandLine.Memory(vm.memoryMib()))
                .add(new QemuCommandLine.Cpus(vm.cpus()))
                .add(new QemuCommandLine.Boot(vm.kernel(), vm.initrd(), vm.tscKhz()))
                .add(new QemuCommandLine.Serial(vm.console()))
                .add(new QemuCommandLine.Share9p("r", vm.rootfs(), "rootfs"));
        vm.shares().forEach(s -> cl.add(new QemuCommandLine.Share9p(s.tag(), s.path(), s.tag(), s.readOnly())));
        cl.add(new QemuCommandLine.SerialBus())
                .add(new QemuCommandLine.Port("ctl", "capsa.ctl", vm.ctl()))
                .add(new QemuCommandLine.Port("stdout", "capsa.stdout", vm.stdout()))
                .add(new QemuCommandLine.Port("stderr", "capsa.stderr", vm.stderr()));
        if (vm.stdin() != null) {
            cl.add(new QemuCommandLine.Port("stdin", "capsa.stdin", vm.stdin()));
        }
        // the container's exit status, for the monitor (its pipe, inherited as descriptor 3)
        cl.add(new QemuCommandLine.Port("exit", "capsa.exit",
                new QemuCommandLine.File(Path.of("/proc/self/fd/" + STATUS_FD))));
        for (int i = 0; i < vm.execs().size(); i++) {
            cl.add(new QemuCommandLine.Port("exec" + i, "capsa.exec" + i, vm.execs().get(i)));
        }
        return cl.argv();
    }

    /**
     * Starts the monitor, which starts QEMU in a session of its own (so a terminal's signals to
     * capsa's group reach neither); returns the monitor, the container's process. QEMU is its only
     * child, and dies with it (PR_SET_PDEATHSIG). The monitor is the caller's child (under the
     * capsa server, the client's: it descends from the engine, as runc's container process does),
     * with the caller's stdio and an empty environment; it points QEMU's stdout and stderr at the
     * log and its stdin at /dev/null unless a port reads the container's stdin ({@code --stdio}).
     */
    @Override
    public ProcessHandle launch(VmConfig vm) {
        List<String> argv = launchCommand(monitor.get(), vm);
        try {
            dev.capsa.os.Child child = dev.capsa.os.Caller.current().launcher().start(argv);
            return ProcessHandle.of(child.pid()).orElseThrow(() -> new CapsaException("the guest's monitor (pid "
                    + child.pid() + ") ended at once; see " + vm.log()));
        } catch (IOException e) {
            throw new CapsaException("cannot start " + binary + ": " + e.getMessage(), e);
        }
    }

    /** The monitor's argv: its options, then QEMU's. */
    public List<String> launchCommand(Path monitorBinary, VmConfig vm) {
        List<String> argv = new ArrayList<>();
        argv.add(monitorBinary.toString());
        argv.add("monitor");
        argv.addAll(List.of("--stdio", vm.log().toString(), vm.stdin() instanceof QemuCommandLine.Stdio ? "1" : "0"));
        if (vm.stdin() instanceof QemuCommandLine.PtyInput tty) {
            argv.addAll(List.of("--console", tty.consoleSocket().toString(), Integer.toString(tty.rows()),
                    Integer.toString(tty.cols())));
        }
        argv.addAll(commandLine(vm));
        return argv;
    }

    static String bootId() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/random/boot_id"), StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** The program's path: itself when it has a slash, else the first match on PATH. */
    static Path find(String program) {
        if (program.contains("/")) {
            Path p = Path.of(program);
            return Files.isExecutable(p) ? p : null;
        }
        String path = java.util.Objects.requireNonNullElse(dev.capsa.os.Caller.env("PATH"), "/usr/local/bin:/usr/bin:/bin");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return Path.of(dir, program);
            }
        }
        return null;
    }
}
