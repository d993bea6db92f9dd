package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/** A uid or gid range (config-linux.md "User namespace mappings"); all three are uint32. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"containerID", "hostID", "size"})
public record IdMapping(Long containerID, Long hostID, Long size,
                        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
    public IdMapping {
        extra = Copies.extra(extra);
    }

    public IdMapping(long containerID, long hostID, long size) {
        this(containerID, hostID, size, null);
    }
}
