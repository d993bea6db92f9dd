package dev.capsa.backend.vm;

import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.spi.Availability;
import java.nio.file.Path;

/**
 * What boots guests (Kata's "hypervisor" seam): direct QEMU now, libvirt later. The real one is
 * {@link dev.capsa.backend.vm.qemu.QemuHypervisor}; tests use fakes.
 */
public interface Hypervisor {
    /** Whether the launcher's program is there; cheap. */
    Availability probe();

    /** The accelerator for this host, probed once per boot and cached under {@code cacheDir}. */
    Accelerator.Choice accelerator(Path cacheDir);

    /** Boots the guest detached from this JVM (its own session); returns its process. */
    ProcessHandle launch(VmConfig config);
}
