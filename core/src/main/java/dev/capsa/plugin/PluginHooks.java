package dev.capsa.plugin;

import dev.capsa.spi.LifecycleHook;
import java.util.List;
import java.util.function.Supplier;

/**
 * The hook extensions, loaded the first time a hook phase runs and only from plugins that declare
 * hooks (or declare nothing). pf4j returns them sorted by {@code @Extension(ordinal)}.
 */
public final class PluginHooks implements Supplier<List<LifecycleHook>> {
    private final PluginCatalog catalog;
    private final CapsaPluginManager plugins;
    private List<LifecycleHook> hooks;

    public PluginHooks(PluginCatalog catalog, CapsaPluginManager plugins) {
        this.catalog = catalog;
        this.plugins = plugins;
    }

    @Override
    public synchronized List<LifecycleHook> get() {
        if (hooks == null) {
            boolean any = false;
            for (PluginCatalog.Entry entry : catalog.entries()) {
                if (!entry.declares() || (entry.hooks() != null && !entry.hooks().isEmpty())) {
                    plugins.load(entry.path());
                    any = true;
                }
            }
            hooks = any ? List.copyOf(plugins.getExtensions(LifecycleHook.class)) : List.of();
        }
        return hooks;
    }
}
