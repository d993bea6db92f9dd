package dev.capsa.cli;

import dev.capsa.os.Caller;
import dev.capsa.spi.CreateOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The flags create and run share, as runc names them. */
final class CreateFlags {
    @Option(names = {"-b", "--bundle"}, paramLabel = "DIR", description = "bundle directory (default: the current one)")
    Path bundle;

    @Option(names = "--console-socket", paramLabel = "PATH",
            description = "unix socket that receives the pty master when process.terminal is true")
    Path consoleSocket;

    @Option(names = "--pid-file", paramLabel = "FILE", description = "write the container process's pid to FILE")
    Path pidFile;

    @Option(names = "--no-pivot", description = "move the root instead of pivot_root (for a ramdisk root)")
    boolean noPivot;

    @Option(names = "--no-new-keyring", description = "keep the caller's session keyring")
    boolean noNewKeyring;

    @Option(names = "--preserve-fds", paramLabel = "N", description = "pass N descriptors after stdio to the process")
    int preserveFds;

    Path bundleDir() {
        return Caller.resolve(bundle == null ? Path.of("") : bundle);
    }

    Path pidFileAbsolute() {
        return pidFile == null ? null : Caller.resolve(pidFile);
    }

    CreateOptions options(boolean foreground) {
        return new CreateOptions(consoleSocket == null ? null : Caller.resolve(consoleSocket), noPivot, noNewKeyring,
                preserveFds, foreground);
    }
}
