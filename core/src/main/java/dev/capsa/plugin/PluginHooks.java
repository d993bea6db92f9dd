package dev.capsa.plugin;

import com.google.inject.Injector;
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
    private final Injector injector;
    private List<LifecycleHook> hooks;

    public PluginHooks(PluginCatalog catalog, CapsaPluginManager plugins, CapsaSettings.HookSettings settings,
                       Injector injector) {
        this.catalog = catalog;
        this.plugins = plugins;
        this.settings = settings;
        this.injector = injector;
    }

    @Override
    public synchronized List<LifecycleHook> get() {
        if (hooks == null && settings.enabled() != null && settings.enabled().isEmpty()) {
            hooks = List.of(); // "hooks": [] switches them all off: load nothing
        }
        if (hooks == null) {
            List<CapsaPluginManager.Made<LifecycleHook>> made = new java.util.ArrayList<>();
            for (PluginCatalog.Entry entry : catalog.entries()) {
                if (!entry.declares() || (entry.hooks() != null && entry.hooks().stream().anyMatch(settings::enabled))) {
                    made.addAll(plugins.create(LifecycleHook.class, plugins.load(entry.path()), injector));
                }
            }
            // in @Extension(ordinal) order across plugins, as pf4j orders them
            hooks = made.stream().sorted(java.util.Comparator.comparingInt(CapsaPluginManager.Made::ordinal))
                    .map(CapsaPluginManager.Made::extension).filter(h -> settings.enabled(h.name())).toList();
        }
        return hooks;
    }
}
