package dev.capsa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.plugin.PluginCatalog;
import dev.capsa.spec.Json;
import dev.capsa.spi.Availability;
import dev.capsa.spi.RuntimeBackend;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * {@code capsa --version}: Capsa's version, the OCI spec version, and each backend with its
 * availability. Backends are found from plugin manifests; their probe answers are cached per host
 * boot in the state root, so a warm {@code --version} loads no plugin code at all.
 */
final class VersionReport {
    static final String CACHE = ".probes.json";
    private final CapsaCommand root;

    VersionReport(CapsaCommand root) {
        this.root = root;
    }

    static Properties versions() {
        Properties p = new Properties();
        try (InputStream in = VersionReport.class.getResourceAsStream("/dev/capsa/version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // reported as unknown below
        }
        return p;
    }

    int print() {
        Properties v = versions();
        root.out.println("capsa version " + v.getProperty("version", "unknown"));
        root.out.println("spec: " + v.getProperty("ociVersion", "unknown"));
        root.out.println("java: " + System.getProperty("java.version"));
        // which JVM ran this: the capsa server's (docs/server.md), or one of the command's own
        root.out.println(dev.capsa.cli.server.Server.running()
                ? "server: pid " + ProcessHandle.current().pid() : "server: no (a JVM of its own)");
        Path plugins = root.pluginsDir();
        PluginCatalog catalog = new PluginCatalog(plugins);
        List<String[]> backends = new ArrayList<>();
        boolean undeclared = false;
        for (PluginCatalog.Entry e : catalog.entries()) {
            if (e.backends() != null) {
                for (String name : e.backends()) {
                    backends.add(new String[] {name, e.id(), stamp(e.path())});
                }
            } else if (!e.declares()) {
                undeclared = true;
            }
        }
        if (undeclared) {
            // plugins that don't declare their backends must be loaded to be asked
            for (String name : root.engine().backends().names()) {
                if (backends.stream().noneMatch(b -> b[0].equals(name))) {
                    backends.add(new String[] {name, "?", ""});
                }
            }
        }
        if (backends.isEmpty()) {
            root.out.println("backends: none found in " + plugins);
            return 0;
        }
        ObjectNode cache = readCache();
        boolean changed = false;
        for (String[] b : backends) {
            JsonNode hit = cache.path("backends").path(b[0]);
            Availability a;
            if (!b[2].isEmpty() && hit.path("stamp").asText().equals(b[2])) {
                a = new Availability(hit.path("available").asBoolean(), hit.path("reason").asText());
            } else {
                a = probe(b[0]);
                if (!b[2].isEmpty()) {
                    ObjectNode entry = cache.withObject("backends").putObject(b[0]);
                    entry.put("stamp", b[2]).put("available", a.available()).put("reason", a.reason());
                    changed = true;
                }
            }
            root.out.println("backend " + b[0] + ": " + a);
        }
        if (changed) {
            writeCache(cache);
        }
        return 0;
    }

    private Availability probe(String name) {
        try {
            RuntimeBackend backend = root.engine().backends().get(name);
            return backend.probe();
        } catch (RuntimeException | LinkageError e) {
            return Availability.no("cannot load: " + e.getMessage());
        }
    }

    private static String stamp(Path jar) {
        try {
            return jar + ":" + Files.size(jar) + ":" + Files.getLastModifiedTime(jar).toMillis();
        } catch (IOException e) {
            return "";
        }
    }

    private Path cacheFile() {
        return root.settings().root().resolve(CACHE);
    }

    /** The cache, or an empty one when it is missing, unreadable or from an earlier boot. */
    private ObjectNode readCache() {
        String boot = bootId();
        try {
            JsonNode tree = Json.mapper().readTree(Files.readAllBytes(cacheFile()));
            if (tree instanceof ObjectNode o && o.path("bootId").asText().equals(boot)) {
                return o;
            }
        } catch (IOException | RuntimeException e) {
            // start afresh
        }
        ObjectNode fresh = Json.mapper().createObjectNode();
        fresh.put("bootId", boot);
        return fresh;
    }

    private void writeCache(ObjectNode cache) {
        Path file = cacheFile();
        try {
            Files.createDirectories(file.getParent());
            Path temp = file.resolveSibling(CACHE + "." + ProcessHandle.current().pid());
            Files.write(temp, Json.mapper().writeValueAsBytes(cache));
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            // a cache we cannot write only costs the next --version a probe
        }
    }

    private static String bootId() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim();
        } catch (IOException e) {
            return "";
        }
    }
}
