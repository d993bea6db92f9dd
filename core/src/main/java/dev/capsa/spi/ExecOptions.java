package dev.capsa.spi;

import dev.capsa.spec.ProcessSpec;
import java.nio.file.Path;

/**
 * What {@code capsa exec} asks for: the process to start (from --process or from arguments and
 * flags, already merged by the CLI) and how to attach to it.
 */
public record ExecOptions(ProcessSpec process, boolean detach, Path consoleSocket, Path pidFile, int preserveFds) {
}
