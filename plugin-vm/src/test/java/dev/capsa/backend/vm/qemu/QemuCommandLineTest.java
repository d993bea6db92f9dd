package dev.capsa.backend.vm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capsa.backend.vm.GuestPlan;
import dev.capsa.backend.vm.VmConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class QemuCommandLineTest {
    private static final Path DIR = Path.of("/run/capsa/c1");

    private static VmConfig vm(QemuCommandLine.Chardev out, QemuCommandLine.Chardev err, QemuCommandLine.Chardev in) {
        return vm(out, err, in, List.of(), List.of());
    }

    private static VmConfig vm(QemuCommandLine.Chardev out, QemuCommandLine.Chardev err, QemuCommandLine.Chardev in,
                               List<GuestPlan.Share> shares, List<QemuCommandLine.Chardev> execs) {
        return new VmConfig("tcg", 256, 1, 2_600_000, Path.of("/g/vmlinux"), Path.of("/g/initramfs-ab.cpio"),
                Path.of("/b/rootfs"), shares, DIR.resolve("console.log"),
                new QemuCommandLine.ListeningSocket(DIR.resolve("ctl.sock")), out, err, in, execs,
                DIR.resolve("qemu.log"));
    }

    @Test
    void bindSharesFollowTheRootfsAndExecSlotsFollowTheStdioPorts() {
        List<String> argv = new QemuHypervisor("q").commandLine(vm(
                new QemuCommandLine.File(Path.of("/proc/42/fd/1")), new QemuCommandLine.File(Path.of("/proc/42/fd/2")),
                null, List.of(new GuestPlan.Share("m0", Path.of("/srv/data"), false),
                        new GuestPlan.Share("m1", Path.of("/var/lib/p/userdata"), true)),
                List.of(new QemuCommandLine.ListeningSocket(DIR.resolve("exec0.sock")),
                        new QemuCommandLine.ListeningSocket(DIR.resolve("exec1.sock")))));
        int rootfs = argv.indexOf("virtio-9p-device,fsdev=r,mount_tag=rootfs");
        assertEquals(List.of(
                "-fsdev", "local,id=m0,path=/srv/data,security_model=passthrough",
                "-device", "virtio-9p-device,fsdev=m0,mount_tag=m0",
                "-fsdev", "local,id=m1,path=/var/lib/p/userdata,security_model=passthrough,readonly=on",
                "-device", "virtio-9p-device,fsdev=m1,mount_tag=m1",
                "-device", "virtio-serial-device"), argv.subList(rootfs + 1, rootfs + 11));
        assertEquals(List.of(
                "-chardev", "socket,id=exec0,path=/run/capsa/c1/exec0.sock,server=on,wait=off",
                "-device", "virtserialport,chardev=exec0,name=capsa.exec0",
                "-chardev", "socket,id=exec1,path=/run/capsa/c1/exec1.sock,server=on,wait=off",
                "-device", "virtserialport,chardev=exec1,name=capsa.exec1"), argv.subList(argv.size() - 8, argv.size()));
    }

    @Test
    void foregroundGuestHasEveryPortOnSocketsQemuConnectsTo() {
        List<String> argv = new QemuHypervisor("qemu-system-x86_64").commandLine(vm(
                new QemuCommandLine.ConnectingSocket(DIR.resolve("out.sock")),
                new QemuCommandLine.ConnectingSocket(DIR.resolve("err.sock")),
                new QemuCommandLine.ConnectingSocket(DIR.resolve("in.sock"))));
        assertEquals(List.of("qemu-system-x86_64",
                "-M", "microvm", "-accel", "tcg", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-m", "256",
                "-smp", "1",
                "-kernel", "/g/vmlinux", "-initrd", "/g/initramfs-ab.cpio",
                "-append", "console=ttyS0 quiet cryptomgr.notests tsc_early_khz=2600000 panic=-1",
                "-chardev", "file,id=console,path=/run/capsa/c1/console.log", "-serial", "chardev:console",
                "-fsdev", "local,id=r,path=/b/rootfs,security_model=passthrough",
                "-device", "virtio-9p-device,fsdev=r,mount_tag=rootfs",
                "-device", "virtio-serial-device",
                "-chardev", "socket,id=ctl,path=/run/capsa/c1/ctl.sock,server=on,wait=off",
                "-device", "virtserialport,chardev=ctl,name=capsa.ctl",
                "-chardev", "socket,id=stdout,path=/run/capsa/c1/out.sock,server=off",
                "-device", "virtserialport,chardev=stdout,name=capsa.stdout",
                "-chardev", "socket,id=stderr,path=/run/capsa/c1/err.sock,server=off",
                "-device", "virtserialport,chardev=stderr,name=capsa.stderr",
                "-chardev", "socket,id=stdin,path=/run/capsa/c1/in.sock,server=off",
                "-device", "virtserialport,chardev=stdin,name=capsa.stdin",
                "-chardev", "file,id=exit,path=/proc/self/fd/3,append=on",
                "-device", "virtserialport,chardev=exit,name=capsa.exit"), argv);
    }

    @Test
    void detachedGuestWritesToInheritedDescriptorsAndHasNoStdin() {
        List<String> argv = new QemuHypervisor("/usr/bin/qemu-system-x86_64").commandLine(vm(
                new QemuCommandLine.File(Path.of("/proc/42/fd/1")), new QemuCommandLine.File(Path.of("/proc/42/fd/2")),
                null));
        List<String> tail = argv.subList(argv.indexOf("virtserialport,chardev=ctl,name=capsa.ctl") + 1, argv.size());
        assertEquals(List.of(
                "-chardev", "file,id=stdout,path=/proc/42/fd/1,append=on",
                "-device", "virtserialport,chardev=stdout,name=capsa.stdout",
                "-chardev", "file,id=stderr,path=/proc/42/fd/2,append=on",
                "-device", "virtserialport,chardev=stderr,name=capsa.stderr",
                // the monitor's status pipe (capsa-relay monitor gives it to QEMU as descriptor 3)
                "-chardev", "file,id=exit,path=/proc/self/fd/3,append=on",
                "-device", "virtserialport,chardev=exit,name=capsa.exit"), tail);
    }

    @Test
    void resourcesAndAcceleratorReachTheirOptions() {
        List<String> argv = new QemuCommandLine("q")
                .add(new QemuCommandLine.Machine("microvm", "kvm"))
                .add(new QemuCommandLine.Memory(1088))
                .add(new QemuCommandLine.Cpus(2))
                .argv();
        assertEquals(List.of("q", "-M", "microvm", "-accel", "kvm", "-nodefaults", "-no-user-config", "-nographic",
                "-no-reboot", "-m", "1088", "-smp", "2"), argv);
    }

    @Test
    void commasInPathsAreDoubledAndAnUnknownTscIsLeftOut() {
        assertEquals(List.of("-fsdev", "local,id=r,path=/b/a,,b,security_model=passthrough",
                        "-device", "virtio-9p-device,fsdev=r,mount_tag=rootfs"),
                new QemuCommandLine.Share9p("r", Path.of("/b/a,b"), "rootfs").args());
        assertEquals("console=ttyS0 quiet cryptomgr.notests panic=-1",
                new QemuCommandLine.Boot(Path.of("k"), Path.of("i"), 0).append());
    }

    @Test
    void theProbeGuestRunsFromTheBiosWithDebugExit() {
        assertEquals(List.of("q", "-M", "microvm", "-accel", "kvm", "-nodefaults", "-no-user-config", "-nographic",
                        "-no-reboot", "-m", "16", "-bios", "/p.bin", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"),
                new QemuCommandLine("q").add(new QemuCommandLine.Machine("microvm", "kvm"))
                        .add(new QemuCommandLine.Memory(16)).add(new QemuCommandLine.Bios(Path.of("/p.bin")))
                        .add(new QemuCommandLine.DebugExit()).argv());
    }

    @Test
    void theMonitorStartsQemuAndATerminalGoesThroughItsPty() {
        QemuHypervisor hv = new QemuHypervisor("q");
        VmConfig plain = vm(new QemuCommandLine.File(Path.of("/proc/42/fd/1")),
                new QemuCommandLine.File(Path.of("/proc/42/fd/2")), null);
        List<String> argv = hv.launchCommand(Path.of("/run/capsa-bin/capsa-relay-x"), plain);
        // QEMU's stdout and stderr go to its log, its stdin is /dev/null (0): no port reads the caller's
        assertEquals(List.of("/run/capsa-bin/capsa-relay-x", "monitor", "--stdio", plain.log().toString(), "0", "q"),
                argv.subList(0, 6));
        assertEquals(hv.commandLine(plain), argv.subList(5, argv.size()));

        VmConfig tty = vm(new QemuCommandLine.PtyOutput(), new QemuCommandLine.Null(),
                new QemuCommandLine.PtyInput(Path.of("/c/console.sock"), 30, 100));
        argv = hv.launchCommand(Path.of("/m"), tty);
        assertEquals(List.of("/m", "monitor", "--stdio", tty.log().toString(), "0", "--console", "/c/console.sock", "30",
                "100", "q"), argv.subList(0, 10));
        // the pty slave is QEMU's descriptor 4: written by capsa.stdout, read as a serial line by capsa.stdin
        List<String> ports = argv.subList(argv.indexOf("virtserialport,chardev=ctl,name=capsa.ctl") + 1,
                argv.indexOf("virtserialport,chardev=exit,name=capsa.exit") - 3);
        assertEquals(List.of(
                "-chardev", "file,id=stdout,path=/proc/self/fd/4,append=on",
                "-device", "virtserialport,chardev=stdout,name=capsa.stdout",
                "-chardev", "null,id=stderr",
                "-device", "virtserialport,chardev=stderr,name=capsa.stderr",
                "-chardev", "serial,id=stdin,path=/proc/self/fd/4",
                "-device", "virtserialport,chardev=stdin,name=capsa.stdin"), ports);
    }

    @Test
    void aPipedStdinIsQemusOwn() {
        List<String> argv = new QemuHypervisor("q").commandLine(vm(new QemuCommandLine.File(Path.of("/proc/42/fd/1")),
                new QemuCommandLine.File(Path.of("/proc/42/fd/2")), new QemuCommandLine.Stdio()));
        int at = argv.indexOf("virtserialport,chardev=stdin,name=capsa.stdin");
        assertEquals(List.of("-chardev", "stdio,id=stdin,signal=off", "-device"), argv.subList(at - 3, at));
    }
}
