package dev.capsa.backend.ns;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The capsa-init binary shipped inside the plugin jar, extracted once per content to
 * {@code /run/capsa-bin/capsa-init-<sha256>}: root-owned, mode 0555, in a directory only root can
 * write, written to a temp file and renamed so that no command ever runs a half-written copy.
 * capsa-init then re-executes itself from a sealed memfd (runc CVE-2019-5736), so not even this
 * file is what runs next to a container.
 */
final class InitBinary {
    static final Path DIR = Path.of("/run/capsa-bin");
    private static final String RESOURCE = "/capsa-init";

    private InitBinary() {
    }

    /** Whether the jar carries the binary (a build without a C compiler would not). */
    static boolean bundled() {
        return InitBinary.class.getResource(RESOURCE) != null && InitBinary.class.getResource(RESOURCE + ".sha256") != null;
    }

    static Path path() {
        String hash = hash();
        Path target = DIR.resolve("capsa-init-" + hash);
        try {
            if (Files.isRegularFile(target)) {
                return target;
            }
            Files.createDirectories(DIR);
            PosixFileAttributes dir = Files.readAttributes(DIR, PosixFileAttributes.class);
            if (!dir.owner().getName().equals("root") || dir.permissions().contains(
                    java.nio.file.attribute.PosixFilePermission.GROUP_WRITE) || dir.permissions().contains(
                    java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE)) {
                throw new CapsaException(DIR + " must be owned by root and writable by root alone");
            }
            Path temp = Files.createTempFile(DIR, ".capsa-init-", ".tmp");
            try {
                try (InputStream in = InitBinary.class.getResourceAsStream(RESOURCE);
                     FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                    if (in == null) {
                        throw new CapsaException("the ns plugin jar has no capsa-init");
                    }
                    out.write(java.nio.ByteBuffer.wrap(in.readAllBytes()));
                    out.force(true);
                }
                Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("r-xr-xr-x"));
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(temp);
            }
            return target;
        } catch (IOException e) {
            throw new CapsaException("cannot install capsa-init into " + DIR + ": " + e.getMessage(), e);
        }
    }

    private static String hash() {
        try (InputStream in = InitBinary.class.getResourceAsStream(RESOURCE + ".sha256")) {
            if (in == null) {
                throw new CapsaException("the ns plugin jar has no capsa-init.sha256");
            }
            String hash = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            if (!hash.matches("[0-9a-f]{64}")) {
                throw new CapsaException("the ns plugin jar has a bad capsa-init.sha256");
            }
            return hash;
        } catch (IOException e) {
            throw new CapsaException("cannot read capsa-init.sha256 from the ns plugin jar: " + e.getMessage(), e);
        }
    }
}
