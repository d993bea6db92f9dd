package dev.capsa.os;

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
 * A static C helper that a plugin ships inside its jar ({@code /NAME} and {@code /NAME.sha256},
 * next to its classes), extracted once per content to {@code /run/capsa-bin/NAME-<sha256>}:
 * owned by the user capsa runs as (root), mode 0555, in a directory only that user can write,
 * written to a temp file and renamed so that no command ever runs a half-written copy. The ns
 * plugin's capsa-init and the vm plugin's capsa-relay are two.
 */
public final class HelperBinary {
    public static final Path DIR = Path.of("/run/capsa-bin");

    private final Class<?> owner;
    private final String name;
    private final String plugin;
    /** The jar's content does not change under a loaded class: read once (a new jar is a new class). */
    private volatile String hash;

    /**
     * @param owner  a class of the plugin whose jar holds the binary
     * @param name   the binary's name, e.g. "capsa-init"
     * @param plugin how errors name the plugin, e.g. "ns"
     */
    public HelperBinary(Class<?> owner, String name, String plugin) {
        this.owner = owner;
        this.name = name;
        this.plugin = plugin;
    }

    /** Whether the jar carries the binary (a build without a C compiler would not). */
    public boolean bundled() {
        return owner.getResource("/" + name) != null && owner.getResource("/" + name + ".sha256") != null;
    }

    public Path path() {
        return path(DIR);
    }

    public Path path(Path dir) {
        Path target = dir.resolve(name + "-" + hash());
        try {
            if (Files.isRegularFile(target)) {
                return target;
            }
            Files.createDirectories(dir);
            String user = System.getProperty("user.name");
            PosixFileAttributes attrs = Files.readAttributes(dir, PosixFileAttributes.class);
            if (!attrs.owner().getName().equals(user) || attrs.permissions().contains(PosixFilePermission.GROUP_WRITE)
                    || attrs.permissions().contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new CapsaException(dir + " must be owned by " + user + " and writable by it alone");
            }
            Path temp = Files.createTempFile(dir, "." + name + "-", ".tmp");
            try {
                try (InputStream in = owner.getResourceAsStream("/" + name);
                     FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                    if (in == null) {
                        throw new CapsaException("the " + plugin + " plugin jar has no " + name);
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
            throw new CapsaException("cannot install " + name + " into " + dir + ": " + e.getMessage(), e);
        }
    }

    private String hash() {
        String known = hash;
        if (known == null) {
            known = readHash();
            hash = known;
        }
        return known;
    }

    private String readHash() {
        String file = name + ".sha256";
        try (InputStream in = owner.getResourceAsStream("/" + file)) {
            if (in == null) {
                throw new CapsaException("the " + plugin + " plugin jar has no " + file);
            }
            String hash = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            if (!hash.matches("[0-9a-f]{64}")) {
                throw new CapsaException("the " + plugin + " plugin jar has a bad " + file);
            }
            return hash;
        } catch (IOException e) {
            throw new CapsaException("cannot read " + file + " from the " + plugin + " plugin jar: " + e.getMessage(),
                    e);
        }
    }
}
