package dev.capsa.plugin;

import com.google.inject.AbstractModule;
import com.google.inject.Injector;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.capsa.engine.Backends;
import dev.capsa.engine.Engine;
import dev.capsa.engine.EngineSettings;
import dev.capsa.engine.HookDispatcher;
import dev.capsa.engine.HookRunner;
import dev.capsa.engine.ProcessHookRunner;
import dev.capsa.os.LinuxOs;
import dev.capsa.os.Os;
import dev.capsa.state.FileStateStore;
import dev.capsa.state.StateStore;
import java.time.Duration;

/** Wires the engine for one command; extensions get their dependencies from the same injector. */
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

    @Provides
    @Singleton
    StateStore store() {
        return new FileStateStore(settings.root(), LOCK_WAIT);
    }

    @Provides
    @Singleton
    PluginCatalog catalog() {
        return new PluginCatalog(settings.pluginsDir());
    }

    @Provides
    @Singleton
    CapsaPluginManager pluginManager() {
        return CapsaPluginManager.shared(settings.pluginsDir());
    }

    @Provides
    @Singleton
    Backends backends(PluginCatalog catalog, CapsaPluginManager plugins, Injector injector) {
        return new PluginBackends(catalog, plugins, injector);
    }

    @Provides
    @Singleton
    HookDispatcher hooks(HookRunner runner, PluginCatalog catalog, CapsaPluginManager plugins, Injector injector) {
        return new HookDispatcher(runner, new PluginHooks(catalog, plugins, settings.hooks(), injector),
                settings.hooks().timeout());
    }

    @Provides
    @Singleton
    Engine engine(StateStore store, Backends backends, HookDispatcher hooks, Os os) {
        return new Engine(store, backends, hooks, os, new EngineSettings(settings.defaultBackend(),
                settings.backendFlag()));
    }
}
