package dev.capsa.backend.vm.libvirt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.backend.vm.GuestPlan;
import dev.capsa.backend.vm.VmConfig;
import dev.capsa.backend.vm.qemu.QemuCommandLine;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class DomainXmlTest {
    private static final Path DIR = Path.of("/run/capsa/c1");

    private static VmConfig vm(String accel, QemuCommandLine.Chardev out, QemuCommandLine.Chardev err,
                               QemuCommandLine.Chardev in, List<GuestPlan.Share> shares,
                               List<QemuCommandLine.Chardev> execs) {
        return new VmConfig(accel, 320, 2, 2_600_000, Path.of("/g/vmlinux"), Path.of("/g/initramfs-ab.cpio"),
                Path.of("/b/rootfs"), shares, DIR.resolve("console.log"),
                new QemuCommandLine.ListeningSocket(DIR.resolve("ctl.sock")), out, err, in, execs,
                DIR.resolve("qemu.log"));
    }

    @Test
    void foregroundGuestIsTheQemuLaunchersGuestAsATransientQ35Domain() {
        String xml = LibvirtHypervisor.domainXml("capsa-c1", vm("tcg",
                new QemuCommandLine.ConnectingSocket(DIR.resolve("out.sock")),
                new QemuCommandLine.ConnectingSocket(DIR.resolve("err.sock")),
                new QemuCommandLine.ConnectingSocket(DIR.resolve("in.sock")),
                List.of(new GuestPlan.Share("m0", Path.of("/srv/data"), false),
                        new GuestPlan.Share("m1", Path.of("/var/lib/p/userdata"), true)),
                List.of(new QemuCommandLine.ListeningSocket(DIR.resolve("exec0.sock")))), null, List.of());
        assertEquals("""
                <domain type='qemu'>
                  <name>capsa-c1</name>
                  <memory unit='MiB'>320</memory>
                  <vcpu>2</vcpu>
                  <os>
                    <type arch='x86_64' machine='q35'>hvm</type>
                    <kernel>/g/vmlinux</kernel>
                    <initrd>/g/initramfs-ab.cpio</initrd>
                    <cmdline>console=ttyS0 quiet cryptomgr.notests tsc_early_khz=2600000 panic=-1</cmdline>
                  </os>
                  <features>
                    <acpi/>
                  </features>
                  <on_poweroff>destroy</on_poweroff>
                  <on_reboot>destroy</on_reboot>
                  <on_crash>destroy</on_crash>
                  <seclabel type='static' model='dac' relabel='no'>
                    <label>+0:+0</label>
                  </seclabel>
                  <devices>
                    <serial type='file'>
                      <source path='/run/capsa/c1/console.log'/>
                      <target port='0'/>
                    </serial>
                    <filesystem type='mount' accessmode='passthrough'>
                      <source dir='/b/rootfs'/>
                      <target dir='rootfs'/>
                    </filesystem>
                    <filesystem type='mount' accessmode='passthrough'>
                      <source dir='/srv/data'/>
                      <target dir='m0'/>
                    </filesystem>
                    <filesystem type='mount' accessmode='passthrough'>
                      <source dir='/var/lib/p/userdata'/>
                      <target dir='m1'/>
                      <readonly/>
                    </filesystem>
                    <channel type='unix'>
                      <source mode='bind' path='/run/capsa/c1/ctl.sock'/>
                      <target type='virtio' name='capsa.ctl'/>
                    </channel>
                    <channel type='unix'>
                      <source mode='connect' path='/run/capsa/c1/out.sock'/>
                      <target type='virtio' name='capsa.stdout'/>
                    </channel>
                    <channel type='unix'>
                      <source mode='connect' path='/run/capsa/c1/err.sock'/>
                      <target type='virtio' name='capsa.stderr'/>
                    </channel>
                    <channel type='unix'>
                      <source mode='connect' path='/run/capsa/c1/in.sock'/>
                      <target type='virtio' name='capsa.stdin'/>
                    </channel>
                    <channel type='unix'>
                      <source mode='bind' path='/run/capsa/c1/exec0.sock'/>
                      <target type='virtio' name='capsa.exec0'/>
                    </channel>
                    <controller type='usb' model='none'/>
                    <memballoon model='none'/>
                  </devices>
                </domain>
                """, xml);
    }

    @Test
    void detachedGuestAppendsToTheCreatorsDescriptorsHasNoStdinAndKvmFollowsTheProbe() {
        String xml = LibvirtHypervisor.domainXml("capsa-c1", vm("kvm",
                new QemuCommandLine.File(Path.of("/proc/42/fd/1")), new QemuCommandLine.File(Path.of("/proc/42/fd/2")),
                null, List.of(), List.of()), Path.of("/opt/qemu/bin/qemu-system-x86_64"), List.of("apparmor"));
        assertTrue(xml.startsWith("<domain type='kvm'>\n"), xml);
        assertTrue(xml.contains("""
                  </seclabel>
                  <seclabel type='none' model='apparmor'/>
                  <devices>
                    <emulator>/opt/qemu/bin/qemu-system-x86_64</emulator>
                    <serial type='file'>
                """), xml);
        assertTrue(xml.contains("""
                    <channel type='file'>
                      <source path='/proc/42/fd/1' append='on'/>
                      <target type='virtio' name='capsa.stdout'/>
                    </channel>
                    <channel type='file'>
                      <source path='/proc/42/fd/2' append='on'/>
                      <target type='virtio' name='capsa.stderr'/>
                    </channel>
                    <controller type='usb' model='none'/>
                """), xml);
        assertTrue(!xml.contains("capsa.stdin"), xml);
    }

    @Test
    void pathsAreEscaped() {
        assertEquals("    <filesystem type='mount' accessmode='passthrough'>\n"
                        + "      <source dir='/b/it&apos;s &amp; &lt;x&gt;'/>\n"
                        + "      <target dir='rootfs'/>\n"
                        + "    </filesystem>\n",
                new DomainXml.Filesystem(Path.of("/b/it's & <x>"), "rootfs", false).xml());
        assertEquals("  <name>a&amp;b</name>\n", new DomainXml.Name("a&b").xml());
    }

    @Test
    void domainNameIsCapsaAndTheIdUnlessTooLongOrUnsafe() {
        assertEquals("capsa-web-1", LibvirtHypervisor.domainName("web-1"));
        String podman = "4f1c2a9be3e7d5c06b2b8f1e9d1c3a7b5e6f8a9c0d1e2f3a4b5c6d7e8f9a0b1c";
        String name = LibvirtHypervisor.domainName(podman);
        assertEquals(LibvirtHypervisor.NAME_MAX, name.length(), name);
        assertTrue(name.startsWith("capsa-4f1c2a9be3e7d5c06b2b8f1e9d1c3a7b5e6f8a"), name);
        String other = LibvirtHypervisor.domainName(podman.substring(0, 63) + "d");
        assertNotEquals(name, other);
        String odd = LibvirtHypervisor.domainName("a/b c");
        assertTrue(odd.matches("capsa-a_b_c-[0-9a-f]{16}"), odd);
        assertNotEquals(odd, LibvirtHypervisor.domainName("a_b_c"));
    }

    @Test
    void otherSecurityModelsAreTheDaemonsDriversBesidesDac() {
        String caps = """
                <capabilities><host>
                  <secmodel>
                    <model>apparmor</model>
                    <doi>0</doi>
                  </secmodel>
                  <secmodel>
                    <model>dac</model>
                    <doi>0</doi>
                    <baselabel type='kvm'>+64055:+64055</baselabel>
                  </secmodel>
                </host></capabilities>
                """;
        assertEquals(List.of("apparmor"), LibvirtHypervisor.otherSecurityModels(caps));
        assertEquals(List.of(), LibvirtHypervisor.otherSecurityModels("<capabilities><host><secmodel><model>none</model>"
                + "<doi>0</doi></secmodel></host></capabilities>"));
    }
}
