package dev.capsa.backend.vm;

import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.spi.Availability;
import java.nio.file.Path;

/**
 * What boots guests (Kata's "hypervisor" seam): {@link dev.capsa.backend.vm.qemu.QemuHypervisor}
 * (a QEMU process) and {@link dev.capsa.backend.vm.libvirt.LibvirtHypervisor} (a libvirt domain),
 * chosen by {@link Launcher}; tests use fakes.
 */
public interface Hypervisor {
    /** The launcher's name, as the annotation dev.capsa.vm.launcher says it. */
    default String launcher() {
        return Launcher.QEMU;
    }

    /** Whether the launcher's program is there; cheap. */
    Availability probe();

    /** The accelerator for this host, probed once per boot and cached under {@code cacheDir}. */
    Accelerator.Choice accelerator(Path cacheDir);

    /** Boots the guest detached from this JVM (its own session); returns its process. */
    ProcessHandle launch(VmConfig config);
}
