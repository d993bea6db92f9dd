package dev.capsa.plugin;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plugin jars in the plugins folder, read from their manifests only: no class is loaded. A
 * Capsa plugin may name what it provides in its manifest ({@code Capsa-Backends: ns},
 * {@code Capsa-Hooks: journal}), so a command loads just the plugin it needs. A plugin without
 * those attributes still works; it is loaded and asked when nothing else matches.
 */
public final class PluginCatalog {
    private static final Logger LOG = LoggerFactory.getLogger(PluginCatalog.class);
    public static final String BACKENDS = "Capsa-Backends";
    public static final String HOOKS = "Capsa-Hooks";

    /**
     * @param backends the backend names it declares, or null when it declares nothing (unknown)
     * @param hooks    the hook names it declares, or null when unknown
     */
    public record Entry(String id, String version, Path path, List<String> backends, List<String> hooks) {
        public boolean declares() {
            return backends != null || hooks != null;
        }
    }

    private final Path folder;
    private List<Entry> entries;

    public PluginCatalog(Path folder) {
        this.folder = folder;
    }

    public Path folder() {
        return folder;
    }

    public synchronized List<Entry> entries() {
        if (entries == null) {
            entries = scan();
        }
        return entries;
    }

    private List<Entry> scan() {
        List<Entry> found = new ArrayList<>();
        if (folder == null || !Files.isDirectory(folder)) {
            return found;
        }
        try (DirectoryStream<Path> jars = Files.newDirectoryStream(folder, "*.jar")) {
            for (Path jar : jars) {
                Entry entry = read(jar);
                if (entry != null) {
                    found.add(entry);
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot list plugins folder {}: {}", folder, e.getMessage());
        }
        found.sort((a, b) -> a.id().compareTo(b.id()));
        return found;
    }

    private static Entry read(Path jar) {
        try (JarFile file = new JarFile(jar.toFile(), false)) {
            Manifest manifest = file.getManifest();
            Attributes main = manifest == null ? null : manifest.getMainAttributes();
            String id = main == null ? null : main.getValue("Plugin-Id");
            if (id == null || id.isBlank()) {
                LOG.warn("{} is not a plugin: its manifest has no Plugin-Id; skipped", jar);
                return null;
            }
            return new Entry(id, main.getValue("Plugin-Version"), jar, names(main.getValue(BACKENDS)),
                    names(main.getValue(HOOKS)));
        } catch (IOException e) {
            LOG.warn("cannot read plugin {}: {}; skipped", jar, e.getMessage());
            return null;
        }
    }

    private static List<String> names(String value) {
        if (value == null) {
            return null;
        }
        return Arrays.stream(value.split("[,\\s]+")).filter(s -> !s.isEmpty()).toList();
    }
}
