package dev.capsa.plugin;

import com.google.inject.Injector;
import dev.capsa.engine.Backends;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.spi.RuntimeBackend;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Backends from the plugins folder. {@link #get} loads the one plugin whose manifest declares the
 * name; plugins that declare nothing are loaded and asked only when no declaration matches.
 */
public final class PluginBackends implements Backends {
    private final PluginCatalog catalog;
    private final CapsaPluginManager plugins;
    private final Injector injector;
    private final Map<String, RuntimeBackend> loaded = new HashMap<>();

    public PluginBackends(PluginCatalog catalog, CapsaPluginManager plugins, Injector injector) {
        this.catalog = catalog;
        this.plugins = plugins;
        this.injector = injector;
    }

    @Override
    public synchronized RuntimeBackend get(String name) {
        RuntimeBackend backend = loaded.get(name);
        if (backend != null) {
            return backend;
        }
        for (PluginCatalog.Entry entry : catalog.entries()) {
            if (entry.backends() != null && entry.backends().contains(name)) {
                backend = find(entry, name);
                if (backend == null) {
                    throw new BackendUnavailableException("plugin " + entry.id() + " (" + entry.path()
                            + ") declares backend " + name + " but has no extension with that name");
                }
                return backend;
            }
        }
        for (PluginCatalog.Entry entry : catalog.entries()) {
            if (!entry.declares()) {
                backend = find(entry, name);
                if (backend != null) {
                    return backend;
                }
            }
        }
        throw new BackendUnavailableException("no backend named \"" + name + "\" in plugins folder "
                + catalog.folder() + " (found: " + String.join(", ", names()) + ")");
    }

    private RuntimeBackend find(PluginCatalog.Entry entry, String name) {
        String id = plugins.load(entry.path());
        RuntimeBackend match = null;
        for (CapsaPluginManager.Made<RuntimeBackend> made : plugins.create(RuntimeBackend.class, id, injector)) {
            RuntimeBackend candidate = made.extension();
            loaded.putIfAbsent(candidate.name(), candidate);
            if (candidate.name().equals(name)) {
                match = candidate;
            }
        }
        return match;
    }

    /** Declared names from the manifests; plugins that declare nothing are loaded to ask them. */
    @Override
    public synchronized List<String> names() {
        TreeSet<String> names = new TreeSet<>(loaded.keySet());
        for (PluginCatalog.Entry entry : catalog.entries()) {
            if (entry.backends() != null) {
                names.addAll(entry.backends());
            } else if (!entry.declares()) {
                String id = plugins.load(entry.path());
                for (CapsaPluginManager.Made<RuntimeBackend> made : plugins.create(RuntimeBackend.class, id, injector)) {
                    loaded.putIfAbsent(made.extension().name(), made.extension());
                    names.add(made.extension().name());
                }
            }
        }
        return new ArrayList<>(names);
    }
}
