package dev.capsa.backend.ns;

import dev.capsa.os.CapabilityNames;
import java.util.List;

/** Linux capability names and numbers: core's {@link CapabilityNames}; Java resolves names, capsa-init sees masks. */
final class Capabilities {
    /** Index = capability number. */
    static final List<String> NAMES = CapabilityNames.NAMES;

    private Capabilities() {
    }

    /** The number of a capability name, or -1 for a name Capsa does not know. */
    static int number(String name) {
        return CapabilityNames.number(name);
    }

    /** The names this host's kernel knows: those up to /proc/sys/kernel/cap_last_cap. */
    static List<String> known(int lastCap) {
        return CapabilityNames.known(lastCap);
    }
}
