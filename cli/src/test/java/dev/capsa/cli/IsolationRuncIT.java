package dev.capsa.cli;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;

/**
 * {@link IsolationCases} with runc as the runtime binary: the same cases, to show on this machine
 * what runc does where capsa is compared with it (docs/compatibility.md).
 */
@Tag("integration")
class IsolationRuncIT extends IsolationCases {
    @Override
    boolean capsa() {
        return false;
    }

    @Override
    void assumeHost() {
        super.assumeHost();
        assumeTrue(runc() != null, "runc is not installed (scripts/setup.sh installs it)");
    }

    @Override
    Path runtime() {
        return runc();
    }

    private static Path runc() {
        return Stream.of("/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc")
                .map(Path::of).filter(Files::isExecutable).findFirst().orElse(null);
    }
}
