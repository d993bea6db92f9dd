package dev.capsa.backend.vm;

import dev.capsa.os.HelperBinary;
import java.nio.file.Path;

/**
 * capsa-relay (src/main/c/capsa-relay.c): exec --detach's relay, and in monitor mode the
 * container's own host process, QEMU's parent (docs/vm.md). Shipped in the plugin jar and extracted once per content
 * to {@code /run/capsa-bin/capsa-relay-<sha256>} ({@link HelperBinary}), as the ns plugin extracts
 * capsa-init.
 */
public final class RelayBinary {
    private static final HelperBinary BINARY = new HelperBinary(RelayBinary.class, "capsa-relay", "vm");

    private RelayBinary() {
    }

    public static Path path() {
        return BINARY.path();
    }

    static Path path(Path dir) {
        return BINARY.path(dir);
    }
}
