package dev.capsa.plugin;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The runtime-wide settings of one {@code capsa} invocation, from global flags, environment and
 * defaults; injectable into extensions.
 *
 * @param root           state root (--root, default /run/capsa)
 * @param pluginsDir     plugins folder (--plugins, CAPSA_PLUGINS, or the distribution's own)
 * @param backendFlag    --backend, or null
 * @param defaultBackend the backend used when nothing names one
 * @param systemdCgroup  --systemd-cgroup
 * @param hooks          which hook plugins run, where hooks.d lives, and how long a plugin may take
 * @param backendOptions the configuration key {@code backendOptions}: per backend name, its own
 *                       string settings (the vm backend's {@code launcher}, for example)
 */
public record CapsaSettings(Path root, Path pluginsDir, String backendFlag, String defaultBackend,
                            boolean systemdCgroup, HookSettings hooks, Map<String, Map<String, String>> backendOptions) {

    public CapsaSettings {
        hooks = hooks == null ? HookSettings.DEFAULTS : hooks;
        backendOptions = backendOptions == null ? Map.of() : Map.copyOf(backendOptions);
    }

    public CapsaSettings(Path root, Path pluginsDir, String backendFlag, String defaultBackend,
                         boolean systemdCgroup, HookSettings hooks) {
        this(root, pluginsDir, backendFlag, defaultBackend, systemdCgroup, hooks, Map.of());
    }

    public CapsaSettings(Path root, Path pluginsDir, String backendFlag, String defaultBackend,
                         boolean systemdCgroup) {
        this(root, pluginsDir, backendFlag, defaultBackend, systemdCgroup, HookSettings.DEFAULTS);
    }

    /** A backend's own setting from the configuration file, or null. */
    public String backendOption(String backend, String key) {
        Map<String, String> options = backendOptions.get(backend);
        return options == null ? null : options.get(key);
    }

    /**
     * The configuration keys {@code hooks}, {@code hooksDirs} and {@code hookTimeoutSeconds}.
     *
     * @param enabled the names of the hook plugins that run, or null for every one installed
     * @param dirs    the hooks.d directories in increasing precedence, or null for the hooks.d
     *                plugin's defaults
     * @param timeout how long one hook plugin may take in one phase before it counts as failed
     */
    public record HookSettings(List<String> enabled, List<Path> dirs, Duration timeout) {
        public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
        public static final HookSettings DEFAULTS = new HookSettings(null, null, DEFAULT_TIMEOUT);

        public HookSettings {
            enabled = enabled == null ? null : List.copyOf(enabled);
            dirs = dirs == null ? null : List.copyOf(dirs);
            timeout = timeout == null ? DEFAULT_TIMEOUT : timeout;
        }

        /** Whether the hook plugin of that name may run. */
        public boolean enabled(String name) {
            return enabled == null || enabled.contains(name);
        }
    }
}
