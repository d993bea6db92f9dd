package dev.capsa.hooks;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * One hooks.d file of the containers/common 1.0.0 schema (oci-hooks(5)): the OCI hook to run,
 * {@code when} it applies, and at which {@code stages}. Parsing checks what
 * {@code pkg/hooks/1.0.0/hook.go} validates, and reports the first problem by its field.
 */
record HookDefinition(Path file, Hook hook, When when, List<String> stages) {
    static final String VERSION = "1.0.0";
    /** The stages config.md defines; hook.go accepts no other (Capsa declares no extension stages). */
    static final Set<String> STAGES = Set.of("prestart", "createRuntime", "createContainer", "startContainer",
            "poststart", "poststop");

    /** A file that cannot be used; the message names the field. */
    static final class Invalid extends Exception {
        private static final long serialVersionUID = 1L;

        Invalid(String message) {
            super(message);
        }
    }

    static HookDefinition read(Path file) throws Invalid {
        JsonNode root;
        try {
            root = Json.mapper().readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new Invalid("not valid JSON: " + e.getMessage().lines().findFirst().orElse("unreadable"));
        }
        if (root == null || !root.isObject()) {
            throw new Invalid("not a JSON object");
        }
        JsonNode version = root.get("version");
        if (version == null) {
            throw new Invalid("version: missing (this schema needs \"" + VERSION + "\")");
        }
        if (!version.isTextual() || !VERSION.equals(version.asText())) {
            throw new Invalid("version: unsupported " + version + " (Capsa reads \"" + VERSION + "\")");
        }
        return new HookDefinition(file, hook(root.get("hook")), when(root.get("when")), stages(root.get("stages")));
    }

    private static Hook hook(JsonNode node) throws Invalid {
        if (node == null || !node.isObject()) {
            throw new Invalid("hook: " + (node == null ? "missing" : "must be an object"));
        }
        JsonNode path = node.get("path");
        if (path == null || !path.isTextual() || path.asText().isEmpty()) {
            throw new Invalid("hook.path: " + (path == null ? "missing" : "must be a non-empty string"));
        }
        if (!Files.exists(Path.of(path.asText()))) {
            throw new Invalid("hook.path: " + path.asText() + " does not exist");
        }
        JsonNode timeout = node.get("timeout");
        if (timeout != null && (!timeout.isIntegralNumber() || !timeout.canConvertToInt() || timeout.asInt() <= 0)) {
            throw new Invalid("hook.timeout: must be a whole number of seconds above 0"); // config.md
        }
        return new Hook(path.asText(), strings(node.get("args"), "hook.args"), strings(node.get("env"), "hook.env"),
                timeout == null ? null : timeout.asInt());
    }

    private static When when(JsonNode node) throws Invalid {
        if (node == null || !node.isObject()) {
            throw new Invalid("when: " + (node == null ? "missing" : "must be an object"));
        }
        Map<Pattern, Pattern> annotations = new LinkedHashMap<>();
        JsonNode map = node.get("annotations");
        if (map != null) {
            if (!map.isObject()) {
                throw new Invalid("when.annotations: must be an object of regular expressions");
            }
            for (Map.Entry<String, JsonNode> entry : map.properties()) {
                if (!entry.getValue().isTextual()) {
                    throw new Invalid("when.annotations[" + entry.getKey() + "]: must be a string");
                }
                annotations.put(regex(entry.getKey(), "when.annotations key"),
                        regex(entry.getValue().asText(), "when.annotations[" + entry.getKey() + "]"));
            }
        }
        List<Pattern> commands = new ArrayList<>();
        List<String> patterns = strings(node.get("commands"), "when.commands");
        for (int i = 0; patterns != null && i < patterns.size(); i++) {
            commands.add(regex(patterns.get(i), "when.commands[" + i + "]"));
        }
        return new When(bool(node.get("always"), "when.always"), annotations, commands,
                bool(node.get("hasBindMounts"), "when.hasBindMounts"));
    }

    private static List<String> stages(JsonNode node) throws Invalid {
        List<String> stages = strings(node, "stages");
        if (stages == null) {
            throw new Invalid("stages: missing");
        }
        for (String stage : stages) {
            if (!STAGES.contains(stage)) {
                throw new Invalid("stages: unknown stage \"" + stage + "\"");
            }
        }
        return stages;
    }

    private static Pattern regex(String text, String field) throws Invalid {
        try {
            return Pattern.compile(text);
        } catch (PatternSyntaxException e) {
            throw new Invalid(field + ": invalid regular expression \"" + text + "\": " + e.getDescription());
        }
    }

    private static Boolean bool(JsonNode node, String field) throws Invalid {
        if (node == null) {
            return null;
        }
        if (!node.isBoolean()) {
            throw new Invalid(field + ": must be true or false");
        }
        return node.asBoolean();
    }

    private static List<String> strings(JsonNode node, String field) throws Invalid {
        if (node == null) {
            return null;
        }
        if (!node.isArray()) {
            throw new Invalid(field + ": must be a list of strings");
        }
        List<String> values = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            if (!node.get(i).isTextual()) {
                throw new Invalid(field + "[" + i + "]: must be a string");
            }
            values.add(node.get(i).asText());
        }
        return values;
    }
}
