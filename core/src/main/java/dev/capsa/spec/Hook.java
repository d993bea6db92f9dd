package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/** A config.md hook; {@code timeout} is in seconds and, when set, greater than zero. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"path", "args", "env", "timeout"})
public record Hook(String path, List<String> args, List<String> env, Integer timeout,
                   @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
    public Hook {
        args = Copies.list(args);
        env = Copies.list(env);
        extra = Copies.extra(extra);
    }

    public Hook(String path, List<String> args, List<String> env, Integer timeout) {
        this(path, args, env, timeout, null);
    }
}
