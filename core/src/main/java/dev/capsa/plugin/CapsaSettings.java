package dev.capsa.plugin;

import java.nio.file.Path;

/**
 * The runtime-wide settings of one {@code capsa} invocation, from global flags, environment and
 * defaults; injectable into extensions.
 *
 * @param root           state root (--root, default /run/capsa)
 * @param pluginsDir     plugins folder (--plugins, CAPSA_PLUGINS, or the distribution's own)
 * @param backendFlag    --backend, or null
 * @param defaultBackend the backend used when nothing names one
 * @param systemdCgroup  --systemd-cgroup
 */
public record CapsaSettings(Path root, Path pluginsDir, String backendFlag, String defaultBackend,
                            boolean systemdCgroup) {
}
