package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * config.json of the OCI runtime-spec (config.md). Every record of this package keeps the fields
 * it does not know in {@code extra}, so that a load and a save lose nothing; absent fields are
 * null and are not written. The platform sections Capsa does not run stay raw JSON.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks",
        "annotations", "linux", "solaris", "windows", "vm", "zos"})
public record Spec(
        String ociVersion,
        ProcessSpec process,
        Root root,
        String hostname,
        String domainname,
        List<Mount> mounts,
        Hooks hooks,
        Map<String, String> annotations,
        Linux linux,
        JsonNode solaris,
        JsonNode windows,
        JsonNode vm,
        JsonNode zos,
        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {

    public Spec {
        mounts = Copies.list(mounts);
        annotations = Copies.map(annotations);
        extra = Copies.extra(extra);
    }

    public Optional<String> annotation(String key) {
        return annotations == null ? Optional.empty() : Optional.ofNullable(annotations.get(key));
    }

    public Spec withMounts(List<Mount> newMounts) {
        return new Spec(ociVersion, process, root, hostname, domainname, newMounts, hooks, annotations,
                linux, solaris, windows, vm, zos, extra);
    }

    public Spec withLinux(Linux newLinux) {
        return new Spec(ociVersion, process, root, hostname, domainname, mounts, hooks, annotations,
                newLinux, solaris, windows, vm, zos, extra);
    }
}
