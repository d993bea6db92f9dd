package dev.capsa.spi;

import java.nio.file.Path;

/**
 * The runc create/run flags a backend acts on. The pid file is written by the engine from the
 * pid the backend records, so it is not here.
 *
 * @param consoleSocket unix socket that receives the pty master (process.terminal), or null
 * @param noPivot       move the root instead of pivot_root
 * @param noNewKeyring  keep the caller's session keyring
 * @param preserveFds   number of descriptors after stdio (3, 4, ...) passed to the process
 * @param foreground    true for a foreground {@code run}: the process keeps the caller's stdio
 */
public record CreateOptions(Path consoleSocket, boolean noPivot, boolean noNewKeyring, int preserveFds,
                            boolean foreground) {
    public static CreateOptions defaults() {
        return new CreateOptions(null, false, false, 0, false);
    }
}
