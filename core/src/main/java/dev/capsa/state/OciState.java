package dev.capsa.state;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;

/**
 * The state of runtime.md: what hooks receive on stdin. {@code pid} is absent once the process
 * is gone, as the spec requires for the stopped status.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"ociVersion", "id", "status", "pid", "bundle", "annotations"})
public record OciState(String ociVersion, String id, String status, Long pid, String bundle,
                       Map<String, String> annotations) {
}
