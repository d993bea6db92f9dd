package dev.capsa.backend.vm;

import dev.capsa.backend.vm.libvirt.LibvirtHypervisor;
import dev.capsa.backend.vm.qemu.QemuHypervisor;
import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.Caller;
import dev.capsa.spec.Spec;
import dev.capsa.spi.Availability;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Which launcher boots a container's guest: {@code qemu} (a qemu-system-x86_64 process, the
 * default) or {@code libvirt} (a transient domain of a libvirt daemon). The annotation
 * {@code dev.capsa.vm.launcher} chooses per container, else {@code $CAPSA_VM_LAUNCHER} for the
 * host. The libvirt launcher's class, and with it libvirt-java and JNA, is loaded only when it is
 * chosen.
 */
public final class Launcher {
    public static final String ANNOTATION = "dev.capsa.vm.launcher";
    public static final String ENV = "CAPSA_VM_LAUNCHER";
    public static final String QEMU = "qemu";
    public static final String LIBVIRT = "libvirt";

    private Launcher() {
    }

    /** The host's launcher: $CAPSA_VM_LAUNCHER, else qemu. */
    public static Hypervisor fromEnvironment() {
        return fromSettings(null, null);
    }

    /**
     * The host's launcher: $CAPSA_VM_LAUNCHER, else the configuration file's
     * {@code backendOptions.vm.launcher} ({@code configured}), else qemu; the libvirt URI likewise
     * from $CAPSA_LIBVIRT_URI, else {@code backendOptions.vm.libvirtUri}.
     */
    public static Hypervisor fromSettings(String configured, String libvirtUri) {
        String env = Caller.env(ENV);
        if (env != null && !env.isBlank()) {
            return named(env, ENV + "=" + env, libvirtUri);
        }
        return named(configured, "backendOptions/vm/launcher \"" + configured + "\" in the configuration file",
                libvirtUri);
    }

    static Hypervisor named(String name) {
        return named(name, ENV + "=" + name, null);
    }

    private static Hypervisor named(String name, String source, String libvirtUri) {
        if (name == null || name.isBlank() || name.equals(QEMU)) {
            return QemuHypervisor.fromEnvironment();
        }
        if (name.equals(LIBVIRT)) {
            return LibvirtHypervisor.fromEnvironment(libvirtUri);
        }
        return new Unusable(source + ": the vm launcher must be " + QEMU + " or " + LIBVIRT);
    }

    /**
     * A host launcher setting that names no launcher: the backend is unavailable with the reason
     * (capsa --version shows it), rather than every vm command failing as the backend is made.
     */
    record Unusable(String reason) implements Hypervisor {
        public Availability probe() {
            return Availability.no(reason);
        }

        public Accelerator.Choice accelerator(Path cacheDir) {
            throw new BackendUnavailableException("backend vm is unavailable: " + reason);
        }

        public ProcessHandle launch(VmConfig config) {
            throw new BackendUnavailableException("backend vm is unavailable: " + reason);
        }
    }

    /**
     * The launcher for this container: the host's, unless the annotation names the other one.
     * An annotation that names neither is refused with its pointer.
     */
    static Hypervisor forSpec(Spec spec, Hypervisor host, Supplier<Hypervisor> qemu, Supplier<Hypervisor> libvirt) {
        Map<String, String> annotations = spec == null ? null : spec.annotations();
        String name = annotations == null ? null : annotations.get(ANNOTATION);
        if (name == null) {
            return host;
        }
        return switch (name) {
            // launcher() rather than instanceof: naming LibvirtHypervisor's class would load it
            case QEMU -> host.launcher().equals(QEMU) ? host : qemu.get();
            case LIBVIRT -> host.launcher().equals(LIBVIRT) ? host : libvirt.get();
            default -> throw new InvalidSpecException("/annotations/" + ANNOTATION,
                    "the vm launcher must be " + QEMU + " or " + LIBVIRT + ", got \"" + name + "\"");
        };
    }

    static Hypervisor forSpec(Spec spec, Hypervisor host) {
        // lambdas, not method references: a reference would resolve (load) LibvirtHypervisor at once
        return forSpec(spec, host, () -> QemuHypervisor.fromEnvironment(), () -> LibvirtHypervisor.fromEnvironment());
    }
}
