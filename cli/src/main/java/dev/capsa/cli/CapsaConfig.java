package dev.capsa.cli;

import dev.capsa.os.Caller;
import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.engine.EngineSettings;
import dev.capsa.error.CapsaException;
import dev.capsa.plugin.CapsaSettings.HookSettings;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Capsa's configuration file: {@code --config FILE}, else {@code $CAPSA_CONFIG}, else
 * {@code /etc/capsa/config.json}; the default path absent means all defaults. Read only by
 * commands that create or select a backend.
 *
 * @param defaultBackend the backend for containers that name none (key {@code defaultBackend})
 * @param hooks          keys {@code hooks} (enabled hook plugins), {@code hooksDirs} and
 *                       {@code hookTimeoutSeconds}
 * @param backendOptions key {@code backendOptions}: an object per backend name of string settings
 */
record CapsaConfig(String defaultBackend, HookSettings hooks, Map<String, Map<String, String>> backendOptions) {
    static final Path DEFAULT_PATH = Path.of("/etc/capsa/config.json");

    /** Where the file comes from: {@code --config}, else {@code $CAPSA_CONFIG}, else the default path. */
    record Source(Path file, String from) {
        static Source of(Path flag, String env) {
            if (flag != null) {
                return new Source(Caller.resolve(flag), "--config");
            }
            if (env != null && !env.isBlank()) {
                return new Source(Caller.resolve(env), "CAPSA_CONFIG");
            }
            return new Source(DEFAULT_PATH, null);
        }
    }

    /** @param flag the {@code --config} flag, or null */
    static CapsaConfig load(Path flag) {
        return load(Source.of(flag, Caller.env("CAPSA_CONFIG")));
    }

    /** A file named explicitly (flag or environment) must exist; the default path may be absent. */
    static CapsaConfig load(Source source) {
        Path file = source.file();
        if (!Files.exists(file)) {
            if (source.from() != null) {
                throw new CapsaException("configuration file " + file + " (from " + source.from() + ") does not exist");
            }
            return new CapsaConfig(EngineSettings.DEFAULT_BACKEND, HookSettings.DEFAULTS, Map.of());
        }
        JsonNode tree;
        try {
            tree = Json.mapper().readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new CapsaException("configuration file " + file + ": " + e.getMessage().lines().findFirst()
                    .orElse("not valid json"), e);
        }
        JsonNode backend = tree == null ? null : tree.get("defaultBackend");
        if (backend != null && !backend.isTextual()) {
            throw new CapsaException("configuration file " + file + ": /defaultBackend must be a string");
        }
        List<String> hooks = strings(tree, "hooks", file);
        List<String> dirs = strings(tree, "hooksDirs", file);
        JsonNode timeout = tree == null ? null : tree.get("hookTimeoutSeconds");
        if (timeout != null && (!timeout.canConvertToInt() || !timeout.isIntegralNumber() || timeout.asInt() <= 0)) {
            throw new CapsaException("configuration file " + file + ": /hookTimeoutSeconds must be a whole number above 0");
        }
        return new CapsaConfig(backend == null ? EngineSettings.DEFAULT_BACKEND : backend.asText(),
                new HookSettings(hooks, dirs == null ? null : dirs.stream().map(Path::of).toList(),
                        timeout == null ? null : Duration.ofSeconds(timeout.asInt())),
                backendOptions(tree, file));
    }

    /** {@code backendOptions}: {"vm": {"launcher": "libvirt"}, ...}, every value a string. */
    private static Map<String, Map<String, String>> backendOptions(JsonNode tree, Path file) {
        JsonNode node = tree == null ? null : tree.get("backendOptions");
        if (node == null) {
            return Map.of();
        }
        if (!node.isObject()) {
            throw new CapsaException("configuration file " + file + ": /backendOptions must be an object");
        }
        Map<String, Map<String, String>> all = new LinkedHashMap<>();
        for (var backend : node.properties()) {
            if (!backend.getValue().isObject()) {
                throw new CapsaException("configuration file " + file + ": /backendOptions/" + backend.getKey()
                        + " must be an object");
            }
            Map<String, String> options = new LinkedHashMap<>();
            for (var option : backend.getValue().properties()) {
                if (!option.getValue().isTextual()) {
                    throw new CapsaException("configuration file " + file + ": /backendOptions/" + backend.getKey()
                            + "/" + option.getKey() + " must be a string");
                }
                options.put(option.getKey(), option.getValue().asText());
            }
            all.put(backend.getKey(), options);
        }
        return all;
    }

    /** A list of strings under that key, or null when the key is absent. */
    private static List<String> strings(JsonNode tree, String key, Path file) {
        JsonNode node = tree == null ? null : tree.get(key);
        if (node == null) {
            return null;
        }
        if (!node.isArray()) {
            throw new CapsaException("configuration file " + file + ": /" + key + " must be a list of strings");
        }
        List<String> values = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            if (!node.get(i).isTextual()) {
                throw new CapsaException("configuration file " + file + ": /" + key + "/" + i + " must be a string");
            }
            values.add(node.get(i).asText());
        }
        return values;
    }
}
