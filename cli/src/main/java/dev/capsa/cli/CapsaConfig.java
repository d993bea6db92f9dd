package dev.capsa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.engine.EngineSettings;
import dev.capsa.error.CapsaException;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Capsa's configuration file: {@code $CAPSA_CONFIG}, else {@code /etc/capsa/config.json}; absent
 * means all defaults. Read only by commands that create or select a backend.
 *
 * @param defaultBackend the backend for containers that name none (key {@code defaultBackend})
 */
record CapsaConfig(String defaultBackend) {
    static final Path DEFAULT_PATH = Path.of("/etc/capsa/config.json");

    static CapsaConfig load() {
        String env = System.getenv("CAPSA_CONFIG");
        Path file = env == null || env.isBlank() ? DEFAULT_PATH : Path.of(env);
        if (!Files.exists(file)) {
            if (env != null && !env.isBlank()) {
                throw new CapsaException("configuration file " + file + " (from CAPSA_CONFIG) does not exist");
            }
            return new CapsaConfig(EngineSettings.DEFAULT_BACKEND);
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
        return new CapsaConfig(backend == null ? EngineSettings.DEFAULT_BACKEND : backend.asText());
    }
}
