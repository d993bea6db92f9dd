package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;

/** config-linux.md "seccomp"; errno values are uint, argument values uint64. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
        "listenerMetadata", "syscalls"})
public record Seccomp(
        String defaultAction,
        Long defaultErrnoRet,
        List<String> architectures,
        List<String> flags,
        String listenerPath,
        String listenerMetadata,
        List<Syscall> syscalls,
        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {

    public Seccomp {
        architectures = Copies.list(architectures);
        flags = Copies.list(flags);
        syscalls = Copies.list(syscalls);
        extra = Copies.extra(extra);
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"names", "action", "errnoRet", "args"})
    public record Syscall(List<String> names, String action, Long errnoRet, List<Arg> args,
                          @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Syscall {
            names = Copies.list(names);
            args = Copies.list(args);
            extra = Copies.extra(extra);
        }
    }

    /** A comparison of syscall argument {@code index}; value and valueTwo are uint64. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"index", "value", "valueTwo", "op"})
    public record Arg(Long index, BigInteger value, BigInteger valueTwo, String op,
                      @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Arg {
            extra = Copies.extra(extra);
        }
    }
}
