package dev.capsa.backend.vm.image;

import dev.capsa.error.CapsaException;
import dev.capsa.spi.Availability;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The guest image: the uncompressed kernel and the cpio of its modules that scripts/build-guest.sh
 * writes to a directory ($CAPSA_GUEST_DIR, else /var/lib/capsa/guest/current), and the agent from
 * this plugin's jar. The initramfs QEMU gets is the agent's own little cpio (/init) followed by
 * modules.cpio; the kernel unpacks concatenated archives one after the other. It is made once per
 * agent build as {@code initramfs-<agent sha256 prefix>.cpio} beside the modules, written to a temp
 * file and renamed, so the image never goes stale when the plugin is upgraded.
 */
public final class GuestImage {
    public static final Path DEFAULT_DIR = Path.of("/var/lib/capsa/guest/current");
    private static final String AGENT = "/capsa-init";

    private final Path dir;

    public GuestImage(Path dir) {
        this.dir = dir;
    }

    public static GuestImage fromEnvironment() {
        String configured = dev.capsa.os.Caller.env("CAPSA_GUEST_DIR");
        if (configured == null || configured.isBlank()) {
            return new GuestImage(DEFAULT_DIR);
        }
        // the directory build-guest.sh --out wrote (with current/), or one version's directory
        Path dir = Path.of(configured);
        return new GuestImage(Files.exists(dir.resolve("vmlinux")) ? dir : dir.resolve("current"));
    }

    public Path dir() {
        return dir;
    }

    public Path kernel() {
        return dir.resolve("vmlinux");
    }

    public Path modules() {
        return dir.resolve("modules.cpio");
    }

    public Availability probe() {
        if (!Files.isReadable(kernel()) || !Files.isReadable(modules())) {
            return Availability.no("no guest image in " + dir + " (build it with scripts/build-guest.sh; it needs"
                    + " Debian's linux-image-amd64)");
        }
        if (!agentBundled()) {
            return Availability.no("this build of the vm plugin has no capsa-init (it needs gcc and a static libc)");
        }
        return Availability.yes();
    }

    public static boolean agentBundled() {
        return GuestImage.class.getResource(AGENT) != null && GuestImage.class.getResource(AGENT + ".sha256") != null;
    }

    /** The initramfs for this plugin's agent, made on first use. */
    public Path initramfs() {
        String hash = resource(AGENT + ".sha256", true).trim();
        Path target = dir.resolve("initramfs-" + hash.substring(0, 16) + ".cpio");
        if (Files.isRegularFile(target)) {
            return target;
        }
        try {
            byte[] agent;
            try (InputStream in = GuestImage.class.getResourceAsStream(AGENT)) {
                if (in == null) {
                    throw new CapsaException("the vm plugin jar has no capsa-init");
                }
                agent = in.readAllBytes();
            }
            byte[] head = new Cpio().directory("dev", 0755).directory("proc", 0555).directory("sys", 0555)
                    .directory("mnt", 0755).file("init", 0755, agent).finish();
            Path tmp = Files.createTempFile(dir, ".initramfs-", ".tmp");
            try {
                try (var out = Files.newOutputStream(tmp)) {
                    out.write(head);
                    Files.copy(modules(), out);
                }
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
            return target;
        } catch (IOException e) {
            throw new CapsaException("cannot make the guest's initramfs in " + dir + ": " + e.getMessage(), e);
        }
    }

    private static String resource(String name, boolean required) {
        try (InputStream in = GuestImage.class.getResourceAsStream(name)) {
            if (in == null) {
                if (required) {
                    throw new CapsaException("the vm plugin jar has no " + name.substring(1));
                }
                return "";
            }
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new CapsaException("cannot read " + name.substring(1) + " from the vm plugin jar: " + e.getMessage(), e);
        }
    }
}
