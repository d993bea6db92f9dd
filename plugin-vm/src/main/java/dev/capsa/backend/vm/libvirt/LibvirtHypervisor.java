package dev.capsa.backend.vm.libvirt;

import dev.capsa.backend.vm.Hypervisor;
import dev.capsa.backend.vm.VmConfig;
import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.backend.vm.qemu.QemuCommandLine;
import dev.capsa.backend.vm.qemu.QemuHypervisor;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.CapsaException;
import dev.capsa.os.Caller;
import dev.capsa.spi.Availability;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.libvirt.jna.Libvirt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The libvirt launcher: the qemu launcher's guest as a transient libvirt domain
 * ({@code capsa-<id>}), through libvirt-java against a libvirt daemon (docs/vm.md "The libvirt
 * launcher"). The domain's QEMU is the container's process, as with the qemu launcher: state,
 * kill and delete work on its pid, and the agent's sockets are the same paths. A transient domain
 * goes away by itself when its QEMU ends (the guest powers off, or delete kills QEMU).
 *
 * <p>libvirt-java and JNA are loaded only through this class, which only the launcher choice
 * ({@link dev.capsa.backend.vm.Launcher}) names: the qemu launcher never pays for them.
 */
public final class LibvirtHypervisor implements Hypervisor {
    public static final String DEFAULT_URI = "qemu:///system";
    /** libvirt refuses nothing this long, but keeps names short in its own paths; ours stay readable. */
    static final int NAME_MAX = 64;
    static final String HOW_TO_START = "start the daemon: virtlogd -d && libvirtd -d (as root; docs/vm.md)";
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_.-]+");
    private static final Pattern SECMODEL = Pattern.compile("<secmodel>\\s*<model>([^<]+)</model>");

    private static final Logger LOG = LoggerFactory.getLogger(LibvirtHypervisor.class);

    private final String uri;
    private final QemuHypervisor qemu;
    private final Path emulator;

    /**
     * @param uri      the daemon's URI
     * @param qemu     the qemu launcher, for the accelerator probe (it runs QEMU directly)
     * @param emulator another QEMU than the daemon's default, or null
     */
    public LibvirtHypervisor(String uri, QemuHypervisor qemu, Path emulator) {
        this.uri = uri;
        this.qemu = qemu;
        this.emulator = emulator;
    }

    /** $CAPSA_LIBVIRT_URI, else qemu:///system; $CAPSA_QEMU, when set, as the domain's emulator. */
    public static LibvirtHypervisor fromEnvironment() {
        return fromEnvironment(null);
    }

    /** $CAPSA_LIBVIRT_URI, else {@code configured} (the configuration file's), else qemu:///system. */
    public static LibvirtHypervisor fromEnvironment(String configured) {
        String env = Caller.env("CAPSA_LIBVIRT_URI");
        String uri = env != null && !env.isBlank() ? env
                : configured != null && !configured.isBlank() ? configured : DEFAULT_URI;
        String binary = Caller.env("CAPSA_QEMU");
        return new LibvirtHypervisor(uri, QemuHypervisor.fromEnvironment(),
                binary != null && !binary.isBlank() ? Path.of(binary) : null);
    }

    @Override
    public String launcher() {
        return dev.capsa.backend.vm.Launcher.LIBVIRT;
    }

    public String uri() {
        return uri;
    }

    /** Cheap: libvirt's client library is there (libvirt0) and QEMU is; the daemon is asked at launch. */
    @Override
    public Availability probe() {
        Availability q = qemu.probe();
        if (!q.available()) {
            return q;
        }
        for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
                "/usr/local/lib")) {
            if (Files.exists(Path.of(dir, "libvirt.so.0"))) {
                return Availability.yes();
            }
        }
        return Availability.no("the libvirt launcher needs libvirt.so.0 (Debian: apt-get install libvirt0 "
                + "libvirt-daemon-system)");
    }

    @Override
    public Accelerator.Choice accelerator(Path cacheDir) {
        return qemu.accelerator(cacheDir);
    }

    /** The domain of one guest (a pure function of the guest and the daemon's other security drivers). */
    public static String domainXml(String name, VmConfig vm, Path emulator, List<String> otherSecurityModels) {
        DomainXml d = new DomainXml(vm.accel())
                .add(new DomainXml.Name(name))
                .add(new DomainXml.Memory(vm.memoryMib()))
                .add(new DomainXml.Vcpus(vm.cpus()))
                .add(new DomainXml.Boot("q35", vm.kernel(), vm.initrd(),
                        new QemuCommandLine.Boot(vm.kernel(), vm.initrd(), vm.tscKhz()).append()))
                .add(new DomainXml.Lifecycle())
                .add(new DomainXml.Unconfined(otherSecurityModels));
        if (emulator != null) {
            d.add(new DomainXml.Emulator(emulator));
        }
        d.add(new DomainXml.Serial(vm.console()))
                .add(new DomainXml.Filesystem(vm.rootfs(), "rootfs", false));
        vm.shares().forEach(s -> d.add(new DomainXml.Filesystem(s.path(), s.tag(), s.readOnly())));
        d.add(new DomainXml.Channel("capsa.ctl", vm.ctl()))
                .add(new DomainXml.Channel("capsa.stdout", vm.stdout()))
                .add(new DomainXml.Channel("capsa.stderr", vm.stderr()));
        if (vm.stdin() != null) {
            d.add(new DomainXml.Channel("capsa.stdin", vm.stdin()));
        }
        for (int i = 0; i < vm.execs().size(); i++) {
            d.add(new DomainXml.Channel("capsa.exec" + i, vm.execs().get(i)));
        }
        return d.add(new DomainXml.NoDefaults()).xml();
    }

    /**
     * {@code capsa-<id>}, the id being the state directory's name; an id that is long or has other
     * characters than {@code [A-Za-z0-9_.-]} is cut and followed by a hash of the whole id.
     */
    public static String domainName(String id) {
        String name = "capsa-" + id;
        if (name.length() <= NAME_MAX && SAFE.matcher(id).matches()) {
            return name;
        }
        String hash = sha256(id).substring(0, 16);
        String kept = id.replaceAll("[^A-Za-z0-9_.-]", "_");
        kept = kept.substring(0, Math.min(kept.length(), NAME_MAX - "capsa-".length() - 1 - hash.length()));
        return "capsa-" + kept + "-" + hash;
    }

    /** The security drivers in the daemon's capabilities other than dac and none. */
    static List<String> otherSecurityModels(String capabilities) {
        List<String> models = new ArrayList<>();
        Matcher m = SECMODEL.matcher(capabilities);
        while (m.find()) {
            String model = m.group(1).strip();
            if (!model.equals("dac") && !model.equals("none") && !models.contains(model)) {
                models.add(model);
            }
        }
        return models;
    }

    @Override
    public ProcessHandle launch(VmConfig vm) {
        Availability ready = probe();
        if (!ready.available()) {
            throw new BackendUnavailableException("backend vm: " + ready.reason());
        }
        requirePciModules(vm.initrd());
        // the state directory is <root>/<id>
        String name = domainName(vm.console().getParent().getFileName().toString());
        Connect conn = connect();
        Domain domain = null;
        try {
            String xml = domainXml(name, vm, emulator, otherSecurityModels(conn.getCapabilities()));
            note(vm.log(), "libvirt: domain " + name + " on " + uri + " (QEMU's own log: /var/log/libvirt/qemu/"
                    + name + ".log)\n" + xml);
            long started = System.nanoTime();
            try {
                domain = conn.domainCreateXML(xml, 0);
                LOG.debug("libvirt: domain {} started in {} ms", name, (System.nanoTime() - started) / 1_000_000);
            } catch (LibvirtException e) {
                String m = message(e);
                if (m.contains("Unable to determine current file offset")) {
                    // virtlogd (stdio_handler "logd", libvirt's default) cannot append to a pipe or tty
                    m += " (libvirt's virtlogd cannot write to capsa's stdout or stderr, a pipe or terminal: set "
                            + "stdio_handler = \"file\" in /etc/libvirt/qemu.conf and start libvirtd again, as "
                            + "scripts/setup.sh does; docs/vm.md)";
                }
                throw new CapsaException("libvirt (" + uri + ") did not start domain " + name + ": " + m, e);
            }
            Optional<ProcessHandle> pid = qemuOf(name);
            if (pid.isEmpty()) {
                throw new CapsaException("libvirt (" + uri + ") started domain " + name
                        + " but its QEMU process is not on this host (the libvirt launcher needs a local daemon)");
            }
            return pid.get();
        } catch (LibvirtException e) {
            throw new CapsaException("libvirt (" + uri + "): " + message(e), e);
        } catch (RuntimeException e) {
            if (domain != null) {
                destroy(domain);
            }
            throw e;
        } finally {
            free(domain);
            close(conn);
        }
    }

    /** The q35 guest's devices are PCI ones: an image made before virtio_pci was added would never boot. */
    static void requirePciModules(Path initrd) {
        String content;
        try {
            content = new String(Files.readAllBytes(initrd), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new CapsaException("cannot read the guest's initramfs " + initrd + ": " + e.getMessage(), e);
        }
        if (!content.contains("virtio_pci.ko")) {
            throw new BackendUnavailableException("backend vm: the guest image of " + initrd.getParent()
                    + " has no virtio_pci module, which the libvirt launcher's q35 guest needs: run scripts/build-guest.sh");
        }
    }

    /**
     * libvirt prints every error to stderr unless an error function is set; the errors reach the
     * caller as LibvirtExceptions anyway. Held here: JNA frees a callback whose object is collected.
     */
    private static final Libvirt.VirErrorCallback QUIET = (data, error) -> { };

    private Connect connect() {
        try {
            Connect.setErrorCallback(QUIET);
            return new Connect(uri);
        } catch (LibvirtException e) {
            throw new BackendUnavailableException("backend vm: cannot reach the libvirt daemon at " + uri + " ("
                    + message(e) + "): " + HOW_TO_START);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            throw new BackendUnavailableException("backend vm: the libvirt launcher cannot load libvirt.so.0 ("
                    + e.getMessage() + "): apt-get install libvirt0");
        }
    }

    /**
     * The domain's QEMU: the pid file of a local privileged daemon, else the process whose
     * {@code -name guest=NAME,...} names the domain.
     */
    static Optional<ProcessHandle> qemuOf(String name) {
        Path pidFile = Path.of("/run/libvirt/qemu", name + ".pid");
        try {
            long pid = Long.parseLong(Files.readString(pidFile, StandardCharsets.US_ASCII).strip());
            Optional<ProcessHandle> p = ProcessHandle.of(pid);
            if (p.isPresent()) {
                return p;
            }
        } catch (IOException | NumberFormatException e) {
            // not a local system daemon: look for the process
        }
        String guest = "guest=" + name + ",";
        return ProcessHandle.allProcesses().filter(p -> {
            String[] args = p.info().arguments().orElse(new String[0]);
            for (int i = 0; i + 1 < args.length; i++) {
                if (args[i].equals("-name") && (args[i + 1] + ",").startsWith(guest)) {
                    return true;
                }
            }
            return false;
        }).findFirst();
    }

    private static void note(Path log, String text) {
        try {
            Files.writeString(log, text, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // only for the failure message
        }
    }

    private static void destroy(Domain domain) {
        try {
            domain.destroy();
        } catch (LibvirtException e) {
            // gone already
        }
    }

    private static void free(Domain domain) {
        if (domain != null) {
            try {
                domain.free();
            } catch (LibvirtException e) {
                // nothing to do
            }
        }
    }

    private static void close(Connect conn) {
        try {
            conn.close();
        } catch (LibvirtException e) {
            // nothing to do
        }
    }

    private static String message(LibvirtException e) {
        String m = e.getError() != null && e.getError().getMessage() != null ? e.getError().getMessage() : e.getMessage();
        return m == null ? e.toString() : m.strip();
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
