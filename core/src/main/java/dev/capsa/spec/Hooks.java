package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/** config.md "hooks", one list per phase; prestart is deprecated but still honoured. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"})
public record Hooks(
        List<Hook> prestart,
        List<Hook> createRuntime,
        List<Hook> createContainer,
        List<Hook> startContainer,
        List<Hook> poststart,
        List<Hook> poststop,
        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {

    /** The phase names as config.json spells them, in lifecycle order. */
    public static final List<String> PHASES = List.of(
            "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop");

    public Hooks {
        prestart = Copies.list(prestart);
        createRuntime = Copies.list(createRuntime);
        createContainer = Copies.list(createContainer);
        startContainer = Copies.list(startContainer);
        poststart = Copies.list(poststart);
        poststop = Copies.list(poststop);
        extra = Copies.extra(extra);
    }

    /** The hooks of a phase named as in config.json ("createRuntime"), empty when none are set. */
    public List<Hook> of(String phase) {
        List<Hook> hooks = switch (phase) {
            case "prestart" -> prestart;
            case "createRuntime" -> createRuntime;
            case "createContainer" -> createContainer;
            case "startContainer" -> startContainer;
            case "poststart" -> poststart;
            case "poststop" -> poststop;
            default -> throw new IllegalArgumentException("unknown hook phase \"" + phase + "\"");
        };
        return hooks == null ? List.of() : hooks;
    }
}
