package dev.capsa.plugin;

import com.google.inject.Injector;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.pf4j.DefaultPluginManager;
import org.pf4j.ExtensionFactory;
import org.pf4j.ExtensionWrapper;
import org.pf4j.PluginRuntimeException;
import org.pf4j.PluginState;
import org.pf4j.PluginWrapper;

/**
 * pf4j's manager, used one plugin at a time: Capsa never calls loadPlugins(), it loads the jar a
 * command needs ({@link #load}), so no command pays for plugins it does not use.
 *
 * <p>One manager per plugins folder lives as long as the JVM ({@link #shared}): under the capsa
 * server (docs/server.md) a warm command finds its plugin's classes loaded. Extension instances
 * are never shared: {@link #create} makes new ones with the command's own injector (its
 * settings, its Os), and a jar that changed on disk is loaded again.
 */
public final class CapsaPluginManager extends DefaultPluginManager {
    private static final Map<Path, CapsaPluginManager> SHARED = new ConcurrentHashMap<>();

    private final Map<Path, FileTime> loadedVersions = new HashMap<>();

    private CapsaPluginManager(Path folder) {
        super(List.of(folder));
    }

    /** The manager of {@code folder}, made on first use. */
    public static CapsaPluginManager shared(Path folder) {
        return SHARED.computeIfAbsent(folder.toAbsolutePath().normalize(), CapsaPluginManager::new);
    }

    @Override
    protected ExtensionFactory createExtensionFactory() {
        // extensions are made by create(), with the command's injector; pf4j's own path is not used
        return new ExtensionFactory() {
            @Override
            public <T> T create(Class<T> extensionClass) {
                throw new PluginRuntimeException("extension {} must be made through CapsaPluginManager.create",
                        extensionClass.getName());
            }
        };
    }

    /** Loads and starts the plugin in that jar, once (again when the jar changed); returns its id. */
    public synchronized String load(Path jar) {
        FileTime modified;
        try {
            modified = Files.getLastModifiedTime(jar);
        } catch (IOException e) {
            throw new PluginRuntimeException(e, "cannot read plugin {}: {}", jar, e.getMessage());
        }
        for (PluginWrapper loaded : getPlugins()) {
            if (loaded.getPluginPath().equals(jar)) {
                if (modified.equals(loadedVersions.get(jar))) {
                    return loaded.getPluginId();
                }
                unloadPlugin(loaded.getPluginId()); // replaced on disk since: take the new one
                break;
            }
        }
        String id = loadPlugin(jar);
        PluginState state = startPlugin(id);
        if (state != PluginState.STARTED) {
            throw new org.pf4j.PluginRuntimeException("plugin {} did not start (state {})", id, state);
        }
        loadedVersions.put(jar, modified);
        return id;
    }

    /** An extension instance and its {@code @Extension(ordinal)}. */
    public record Made<T>(T extension, int ordinal) {
    }

    /** New instances, made by {@code injector}, of the extensions of {@code type} in plugin {@code id}. */
    public synchronized <T> List<Made<T>> create(Class<T> type, String id, Injector injector) {
        List<Made<T>> made = new ArrayList<>();
        for (ExtensionWrapper<T> w : extensionFinder.find(type, id)) {
            Class<?> cls = w.getDescriptor().extensionClass;
            try {
                made.add(new Made<>(type.cast(injector.getInstance(cls)), w.getOrdinal()));
            } catch (RuntimeException e) {
                throw new PluginRuntimeException(e, "cannot create extension {}: {}", cls.getName(), e.getMessage());
            }
        }
        return made;
    }
}
