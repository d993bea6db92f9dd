package dev.capsa.backend.ns;

import dev.capsa.os.HelperBinary;
import java.nio.file.Path;

/**
 * The capsa-init binary shipped inside the plugin jar, extracted once per content to
 * {@code /run/capsa-bin/capsa-init-<sha256>} ({@link HelperBinary}). capsa-init then re-executes
 * itself from a sealed memfd (runc CVE-2019-5736), so not even this file is what runs next to a
 * container.
 */
final class InitBinary {
    static final Path DIR = HelperBinary.DIR;
    private static final HelperBinary BINARY = new HelperBinary(InitBinary.class, "capsa-init", "ns");

    private InitBinary() {
    }

    /** Whether the jar carries the binary (a build without a C compiler would not). */
    static boolean bundled() {
        return BINARY.bundled();
    }

    static Path path() {
        return BINARY.path();
    }
}
