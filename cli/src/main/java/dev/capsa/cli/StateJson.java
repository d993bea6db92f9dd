package dev.capsa.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import dev.capsa.engine.ContainerView;
import dev.capsa.error.CapsaException;
import dev.capsa.spec.Json;
import dev.capsa.state.ContainerRecord;
import java.util.Map;

/** The state JSON of runc's {@code state} and {@code list --format json}: the OCI state plus rootfs, created, owner. */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
@JsonPropertyOrder({"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner", "annotations"})
record StateJson(String ociVersion, String id, @JsonInclude(JsonInclude.Include.ALWAYS) long pid, String status,
                 String bundle, String rootfs, String created, @JsonInclude(JsonInclude.Include.ALWAYS) String owner,
                 Map<String, String> annotations) {

    static StateJson of(ContainerView view) {
        ContainerRecord r = view.record();
        return new StateJson(view.ociVersion(), view.id(), view.pid(), view.status().json(),
                r == null ? null : r.bundle(), r == null ? null : r.rootfs(), r == null ? null : r.created(),
                r == null || r.owner() == null ? "" : r.owner(), r == null ? null : r.annotations());
    }

    /** runc prints these with two-space indentation. */
    static String indented(Object value) {
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter()
                .withObjectIndenter(new DefaultIndenter("  ", "\n"))
                .withArrayIndenter(new DefaultIndenter("  ", "\n"))
                .withSeparators(com.fasterxml.jackson.core.util.Separators.createDefaultInstance()
                        .withObjectFieldValueSpacing(com.fasterxml.jackson.core.util.Separators.Spacing.AFTER)
                        .withArrayEmptySeparator("").withObjectEmptySeparator(""));
        try {
            return Json.mapper().writer(printer).writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new CapsaException("cannot write json: " + e.getOriginalMessage(), e);
        }
    }
}
