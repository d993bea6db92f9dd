package dev.capsa.plugin;

import com.google.inject.Injector;
import com.google.inject.Provider;
import java.nio.file.Path;
import java.util.List;
import org.pf4j.DefaultPluginManager;
import org.pf4j.ExtensionFactory;
import org.pf4j.PluginState;
import org.pf4j.PluginWrapper;

/**
 * pf4j's manager, used one plugin at a time: Capsa never calls loadPlugins(), it loads the jar a
 * command needs ({@link #load}), so no command pays for plugins it does not use.
 */
public final class CapsaPluginManager extends DefaultPluginManager {
    private final Provider<Injector> injector;

    public CapsaPluginManager(Path folder, Provider<Injector> injector) {
        super(List.of(folder));
        this.injector = injector;
    }

    @Override
    protected ExtensionFactory createExtensionFactory() {
        // called from the super constructor, before our field is set: defer to the provider
        return new GuiceExtensionFactory(() -> injector.get());
    }

    /** Loads and starts the plugin in that jar, once; returns its id. */
    public synchronized String load(Path jar) {
        for (PluginWrapper loaded : getPlugins()) {
            if (loaded.getPluginPath().equals(jar)) {
                return loaded.getPluginId();
            }
        }
        String id = loadPlugin(jar);
        PluginState state = startPlugin(id);
        if (state != PluginState.STARTED) {
            throw new org.pf4j.PluginRuntimeException("plugin {} did not start (state {})", id, state);
        }
        return id;
    }
}
