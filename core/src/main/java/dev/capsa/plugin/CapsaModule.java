package dev.capsa.plugin;

import com.google.inject.AbstractModule;
import com.google.inject.Injector;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.capsa.engine.Engine;
import dev.capsa.engine.EngineSettings;
import dev.capsa.engine.HookDispatcher;
import dev.capsa.engine.HookRunner;
import dev.capsa.engine.ProcessHookRunner;
import dev.capsa.os.LinuxOs;
import dev.capsa.os.Os;
import dev.capsa.state.FileStateStore;
import java.time.Duration;

/**
 * Wires the engine; extensions get their dependencies from the same injector. One injector can
 * serve many commands with the same settings (the capsa server keeps them): everything that holds
 * per-command state (the state store, which resolves a relative root against the caller's
 * directory, the plugin catalog, the backends and hook plugins made from it) is made anew for
 * each {@link Engine}; the singletons are stateless.
 */
public final class CapsaModule extends AbstractModule {
    /** How long a command waits for another command that holds the same container's lock. */
    static final Duration LOCK_WAIT = Duration.ofSeconds(30);

    private final CapsaSettings settings;

    public CapsaModule(CapsaSettings settings) {
        this.settings = settings;
    }

    @Override
    protected void configure() {
        bind(CapsaSettings.class).toInstance(settings);
        bind(Os.class).to(LinuxOs.class).in(Singleton.class);
        bind(HookRunner.class).to(ProcessHookRunner.class).in(Singleton.class);
    }

    /** The whole engine of one command: a fresh state store, plugin catalog, backends and hook plugins. */
    @Provides
    Engine engine(HookRunner runner, CapsaPluginManager plugins, Os os, Injector injector) {
        PluginCatalog catalog = catalog();
        HookDispatcher hooks = new HookDispatcher(runner, new PluginHooks(catalog, plugins, settings.hooks(), injector),
                settings.hooks().timeout());
        return new Engine(new FileStateStore(settings.root(), LOCK_WAIT), new PluginBackends(catalog, plugins, injector),
                hooks, os, new EngineSettings(settings.defaultBackend(), settings.backendFlag()));
    }

    /** Read again for each command: a plugin added to or removed from the folder counts at once. */
    @Provides
    PluginCatalog catalog() {
        return new PluginCatalog(settings.pluginsDir());
    }

    @Provides
    @Singleton
    CapsaPluginManager pluginManager() {
        return CapsaPluginManager.shared(settings.pluginsDir());
    }
}
