package dev.capsa.backend.vm.libvirt;

import dev.capsa.backend.vm.qemu.QemuCommandLine;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A libvirt domain XML, built from one object per device as {@link QemuCommandLine} builds QEMU's
 * argv: a pure function of its parts, so tests compare it with the exact expected text. It
 * describes the qemu launcher's guest: direct kernel boot, 9p shares, ttyS0 into a file and
 * named virtio-serial ports whose host ends are the same sockets and files.
 *
 * <p>The machine is q35, not microvm: libvirt 9.0 refuses a microvm domain with a filesystem ("No
 * PCI buses available"), so the devices are the PCI kinds (libvirt adds the root ports), and the
 * guest loads virtio_pci (scripts/build-guest.sh).
 */
public final class DomainXml {
    /** A part of the domain: top-level elements go before {@code <devices>}, devices inside it. */
    public sealed interface Part permits Name, Memory, Vcpus, Boot, Lifecycle, Unconfined, Emulator, Filesystem,
            Serial, Channel, NoDefaults {
        String xml();

        default boolean device() {
            return false;
        }
    }

    public record Name(String name) implements Part {
        public String xml() {
            return "  <name>" + text(name) + "</name>\n";
        }
    }

    public record Memory(long mib) implements Part {
        public String xml() {
            return "  <memory unit='MiB'>" + mib + "</memory>\n";
        }
    }

    public record Vcpus(int count) implements Part {
        public String xml() {
            return "  <vcpu>" + count + "</vcpu>\n";
        }
    }

    /**
     * Direct kernel boot: the machine type, the kernel, the initramfs and the kernel command line,
     * and ACPI (the guest's power-off goes through it on q35).
     */
    public record Boot(String machine, Path kernel, Path initrd, String cmdline) implements Part {
        public String xml() {
            return "  <os>\n"
                    + "    <type arch='x86_64' machine='" + attr(machine) + "'>hvm</type>\n"
                    + "    <kernel>" + text(kernel.toString()) + "</kernel>\n"
                    + "    <initrd>" + text(initrd.toString()) + "</initrd>\n"
                    + "    <cmdline>" + text(cmdline) + "</cmdline>\n"
                    + "  </os>\n"
                    + "  <features>\n"
                    + "    <acpi/>\n"
                    + "  </features>\n";
        }
    }

    /** A power-off, reboot or crash of the guest ends the domain (QEMU's -no-reboot and panic=-1). */
    public record Lifecycle() implements Part {
        public String xml() {
            return "  <on_poweroff>destroy</on_poweroff>\n"
                    + "  <on_reboot>destroy</on_reboot>\n"
                    + "  <on_crash>destroy</on_crash>\n";
        }
    }

    /**
     * QEMU runs as root with its capabilities and nothing is relabelled, as the qemu launcher's
     * QEMU: 9p passthrough writes files with the guest's owners, and libvirt's default (QEMU as
     * libvirt-qemu, files chowned to it) would change the owner of the bundle's files. One
     * {@code type='none'} label per other security driver the daemon runs (AppArmor, SELinux):
     * the qemu launcher's QEMU is not confined either.
     */
    public record Unconfined(List<String> otherModels) implements Part {
        public Unconfined {
            otherModels = List.copyOf(otherModels);
        }

        public String xml() {
            StringBuilder b = new StringBuilder("  <seclabel type='static' model='dac' relabel='no'>\n"
                    + "    <label>+0:+0</label>\n"
                    + "  </seclabel>\n");
            otherModels.forEach(m -> b.append("  <seclabel type='none' model='").append(attr(m)).append("'/>\n"));
            return b.toString();
        }
    }

    /** Another QEMU binary than the daemon's default one ($CAPSA_QEMU). */
    public record Emulator(Path binary) implements Part {
        public String xml() {
            return "    <emulator>" + text(binary.toString()) + "</emulator>\n";
        }

        public boolean device() {
            return true;
        }
    }

    /** A host directory as a virtio-9p share with {@code security_model=passthrough}. */
    public record Filesystem(Path source, String tag, boolean readOnly) implements Part {
        public String xml() {
            return "    <filesystem type='mount' accessmode='passthrough'>\n"
                    + "      <source dir='" + attr(source.toString()) + "'/>\n"
                    + "      <target dir='" + attr(tag) + "'/>\n"
                    + (readOnly ? "      <readonly/>\n" : "")
                    + "    </filesystem>\n";
        }

        public boolean device() {
            return true;
        }
    }

    /** ttyS0, the guest's console, into a file (truncated, as QEMU's file chardev does). */
    public record Serial(Path log) implements Part {
        public String xml() {
            return "    <serial type='file'>\n"
                    + "      <source path='" + attr(log.toString()) + "'/>\n"
                    + "      <target port='0'/>\n"
                    + "    </serial>\n";
        }

        public boolean device() {
            return true;
        }
    }

    /**
     * A named virtio-serial port; the agent finds it by name. The host ends are the qemu
     * launcher's: a socket QEMU listens on ({@code mode='bind'}), one it connects to
     * ({@code mode='connect'}), a file it appends to, or nothing.
     */
    public record Channel(String name, QemuCommandLine.Chardev chardev) implements Part {
        public String xml() {
            String target = "      <target type='virtio' name='" + attr(name) + "'/>\n";
            return switch (chardev) {
                case QemuCommandLine.ListeningSocket s -> "    <channel type='unix'>\n"
                        + "      <source mode='bind' path='" + attr(s.path().toString()) + "'/>\n" + target
                        + "    </channel>\n";
                case QemuCommandLine.ConnectingSocket s -> "    <channel type='unix'>\n"
                        + "      <source mode='connect' path='" + attr(s.path().toString()) + "'/>\n" + target
                        + "    </channel>\n";
                case QemuCommandLine.File f -> "    <channel type='file'>\n"
                        + "      <source path='" + attr(f.path().toString()) + "' append='on'/>\n" + target
                        + "    </channel>\n";
                case QemuCommandLine.Null n -> "    <channel type='null'>\n" + target + "    </channel>\n";
                // the qemu launcher's monitor owns these; VmBackend does not ask libvirt for them
                case QemuCommandLine.Stdio s -> throw new IllegalArgumentException("libvirt: no stdio port");
                case QemuCommandLine.PtyInput p -> throw new IllegalArgumentException("libvirt: no pty port");
                case QemuCommandLine.PtyOutput p -> throw new IllegalArgumentException("libvirt: no pty port");
            };
        }

        public boolean device() {
            return true;
        }
    }

    /** What libvirt would add by default and the guest does not use: a USB controller, a balloon. */
    public record NoDefaults() implements Part {
        public String xml() {
            return "    <controller type='usb' model='none'/>\n"
                    + "    <memballoon model='none'/>\n";
        }

        public boolean device() {
            return true;
        }
    }

    private final String type;
    private final List<Part> parts = new ArrayList<>();

    /** @param accel the accelerator the probe chose: {@code kvm}, else TCG ({@code qemu} domains) */
    public DomainXml(String accel) {
        this.type = "kvm".equals(accel) ? "kvm" : "qemu";
    }

    public DomainXml add(Part part) {
        parts.add(part);
        return this;
    }

    public String xml() {
        StringBuilder b = new StringBuilder("<domain type='" + type + "'>\n");
        parts.stream().filter(p -> !p.device()).forEach(p -> b.append(p.xml()));
        b.append("  <devices>\n");
        parts.stream().filter(Part::device).forEach(p -> b.append(p.xml()));
        return b.append("  </devices>\n</domain>\n").toString();
    }

    static String text(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    static String attr(String s) {
        return text(s).replace("'", "&apos;").replace("\"", "&quot;");
    }
}
