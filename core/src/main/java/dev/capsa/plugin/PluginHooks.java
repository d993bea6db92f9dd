package dev.capsa.plugin;

import dev.capsa.spi.LifecycleHook;
import java.util.List;
import java.util.function.Supplier;

/**
 * The enabled hook extensions (configuration key {@code hooks}, default all), loaded the first
 * time a hook phase runs and only from plugins that declare an enabled hook (or declare nothing).
 * pf4j returns them sorted by {@code @Extension(ordinal)}.
 */
public final class PluginHooks implements Supplier<List<LifecycleHook>> {
    private final PluginCatalog catalog;
    private final CapsaPluginManager plugins;
    private final CapsaSettings.HookSettings settings;
    private List<LifecycleHook> hooks;

    public PluginHooks(PluginCatalog catalog, CapsaPluginManager plugins, CapsaSettings.HookSettings settings) {
        this.catalog = catalog;
        this.plugins = plugins;
        this.settings = settings;
    }

    @Override
    public synchronized List<LifecycleHook> get() {
        if (hooks == null && settings.enabled() != null && settings.enabled().isEmpty()) {
            hooks = List.of(); // "hooks": [] switches them all off: load nothing
        }
        if (hooks == null) {
            boolean any = false;
            for (PluginCatalog.Entry entry : catalog.entries()) {
                if (!entry.declares() || (entry.hooks() != null && entry.hooks().stream().anyMatch(settings::enabled))) {
                    plugins.load(entry.path());
                    any = true;
                }
            }
            hooks = any
                    ? plugins.getExtensions(LifecycleHook.class).stream().filter(h -> settings.enabled(h.name())).toList()
                    : List.of();
        }
        return hooks;
    }
}
