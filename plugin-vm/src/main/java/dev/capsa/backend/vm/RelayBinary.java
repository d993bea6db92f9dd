package dev.capsa.backend.vm;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * capsa-relay (src/main/c/capsa-relay.c), shipped in the plugin jar and extracted once per content
 * to {@code /run/capsa-bin/capsa-relay-<sha256>} as the ns plugin extracts capsa-init: root-owned,
 * mode 0555, in a directory only root can write, through a temp file and a rename so that nobody
 * runs a half-written copy.
 */
final class RelayBinary {
    static final Path DIR = Path.of("/run/capsa-bin");
    private static final String RESOURCE = "/capsa-relay";

    private RelayBinary() {
    }

    static Path path() {
        return path(DIR);
    }

    static Path path(Path dir) {
        Path target = dir.resolve("capsa-relay-" + hash());
        try {
            if (Files.isRegularFile(target)) {
                return target;
            }
            Files.createDirectories(dir);
            PosixFileAttributes attrs = Files.readAttributes(dir, PosixFileAttributes.class);
            if (!attrs.owner().getName().equals(System.getProperty("user.name"))
                    || attrs.permissions().contains(PosixFilePermission.GROUP_WRITE)
                    || attrs.permissions().contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new CapsaException(dir + " must be owned by " + System.getProperty("user.name")
                        + " and writable by it alone");
            }
            Path temp = Files.createTempFile(dir, ".capsa-relay-", ".tmp");
            try {
                try (InputStream in = RelayBinary.class.getResourceAsStream(RESOURCE);
                     FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                    if (in == null) {
                        throw new CapsaException("the vm plugin jar has no capsa-relay");
                    }
                    out.write(ByteBuffer.wrap(in.readAllBytes()));
                    out.force(true);
                }
                Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("r-xr-xr-x"));
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(temp);
            }
            return target;
        } catch (IOException e) {
            throw new CapsaException("cannot install capsa-relay into " + dir + ": " + e.getMessage(), e);
        }
    }

    private static String hash() {
        try (InputStream in = RelayBinary.class.getResourceAsStream(RESOURCE + ".sha256")) {
            if (in == null) {
                throw new CapsaException("the vm plugin jar has no capsa-relay.sha256");
            }
            String hash = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            if (!hash.matches("[0-9a-f]{64}")) {
                throw new CapsaException("the vm plugin jar has a bad capsa-relay.sha256");
            }
            return hash;
        } catch (IOException e) {
            throw new CapsaException("cannot read capsa-relay.sha256 from the vm plugin jar: " + e.getMessage(), e);
        }
    }
}
