package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/** config.md "root": {@code path} is absolute or relative to the bundle. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"path", "readonly"})
public record Root(String path, Boolean readonly,
                   @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
    public Root {
        extra = Copies.extra(extra);
    }

    public Root(String path, Boolean readonly) {
        this(path, readonly, null);
    }
}
