package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.Availability;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class LauncherTest {
    private record Named(String launcher) implements Hypervisor {
        public Availability probe() {
            return Availability.yes();
        }

        public Accelerator.Choice accelerator(Path cacheDir) {
            return new Accelerator.Choice("tcg", "test");
        }

        public ProcessHandle launch(VmConfig config) {
            throw new UnsupportedOperationException();
        }
    }

    private static final Hypervisor QEMU = new Named("qemu");
    private static final Hypervisor LIBVIRT = new Named("libvirt");

    private static Spec spec(String launcher) throws Exception {
        ObjectNode json = Json.mapper().valueToTree(DefaultSpec.example(false));
        if (launcher != null) {
            json.putObject("annotations").put(Launcher.ANNOTATION, launcher);
        }
        return SpecLoader.parse(Json.mapper().writeValueAsBytes(json));
    }

    private static Hypervisor choose(String annotation, Hypervisor host) throws Exception {
        return Launcher.forSpec(spec(annotation), host, () -> QEMU, () -> LIBVIRT);
    }

    @Test
    void theHostsLauncherUnlessTheAnnotationNamesTheOther() throws Exception {
        Hypervisor hostQemu = new Named("qemu");
        Hypervisor hostLibvirt = new Named("libvirt");
        assertSame(hostQemu, choose(null, hostQemu));
        assertSame(hostLibvirt, choose(null, hostLibvirt));
        assertSame(hostQemu, choose("qemu", hostQemu));
        assertSame(LIBVIRT, choose("libvirt", hostQemu));
        assertSame(hostLibvirt, choose("libvirt", hostLibvirt));
        assertSame(QEMU, choose("qemu", hostLibvirt));
    }

    @Test
    void anotherLauncherIsRefusedWithTheAnnotationsPointer() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> choose("firecracker", QEMU));
        assertEquals("/annotations/dev.capsa.vm.launcher", e.pointer());
        assertEquals(true, e.getMessage().contains("\"firecracker\""), e.getMessage());
    }

    @Test
    void aHostSettingThatNamesNoLauncherMakesTheBackendUnavailableWithTheReason() {
        Availability a = Launcher.named("firecracker").probe();
        assertEquals(false, a.available());
        assertEquals("CAPSA_VM_LAUNCHER=firecracker: the vm launcher must be qemu or libvirt", a.reason());
        assertEquals("qemu", Launcher.named(null).launcher());
        assertEquals("qemu", Launcher.named("qemu").launcher());
        assertEquals("libvirt", Launcher.named("libvirt").launcher());
    }

    @Test
    void theConfigurationFileChoosesTheHostsLauncherWhenTheEnvironmentDoesNot() {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv(Launcher.ENV) == null
                && System.getenv("CAPSA_LIBVIRT_URI") == null, "the environment names a launcher or URI");
        Hypervisor libvirt = Launcher.fromSettings("libvirt", "qemu+unix:///system?socket=/tmp/x.sock");
        assertEquals("libvirt", libvirt.launcher());
        assertEquals("qemu+unix:///system?socket=/tmp/x.sock",
                ((dev.capsa.backend.vm.libvirt.LibvirtHypervisor) libvirt).uri());
        assertEquals("qemu", Launcher.fromSettings(null, null).launcher());
        assertEquals("backendOptions/vm/launcher \"xen\" in the configuration file: the vm launcher must be qemu or "
                + "libvirt", Launcher.fromSettings("xen", null).probe().reason());
    }
}
