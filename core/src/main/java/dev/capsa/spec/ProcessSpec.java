package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;

/**
 * config.md "process", also the whole of a {@code capsa exec --process} file. Named so that it
 * does not hide {@link java.lang.Process}.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd", "capabilities",
        "rlimits", "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "scheduler", "selinuxLabel",
        "ioPriority", "execCPUAffinity"})
public record ProcessSpec(
        Boolean terminal,
        ConsoleSize consoleSize,
        User user,
        List<String> args,
        String commandLine,
        List<String> env,
        String cwd,
        Capabilities capabilities,
        List<Rlimit> rlimits,
        Boolean noNewPrivileges,
        String apparmorProfile,
        Integer oomScoreAdj,
        Scheduler scheduler,
        String selinuxLabel,
        IoPriority ioPriority,
        CpuAffinity execCPUAffinity,
        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {

    public ProcessSpec {
        args = Copies.list(args);
        env = Copies.list(env);
        rlimits = Copies.list(rlimits);
        extra = Copies.extra(extra);
    }

    /** Height and width in characters; both uint. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"height", "width"})
    public record ConsoleSize(Long height, Long width,
                              @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public ConsoleSize {
            extra = Copies.extra(extra);
        }
    }

    /** uid, gid, umask and additionalGids are uint32; username is for Windows. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"uid", "gid", "umask", "additionalGids", "username"})
    public record User(Long uid, Long gid, Long umask, List<Long> additionalGids, String username,
                       @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public User {
            additionalGids = Copies.list(additionalGids);
            extra = Copies.extra(extra);
        }

        public User(long uid, long gid) {
            this(uid, gid, null, null, null, null);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"bounding", "effective", "inheritable", "permitted", "ambient"})
    public record Capabilities(List<String> bounding, List<String> effective, List<String> inheritable,
                               List<String> permitted, List<String> ambient,
                               @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Capabilities {
            bounding = Copies.list(bounding);
            effective = Copies.list(effective);
            inheritable = Copies.list(inheritable);
            permitted = Copies.list(permitted);
            ambient = Copies.list(ambient);
            extra = Copies.extra(extra);
        }
    }

    /** hard and soft are uint64: RLIM_INFINITY is 18446744073709551615. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"type", "hard", "soft"})
    public record Rlimit(String type, BigInteger hard, BigInteger soft,
                         @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Rlimit {
            extra = Copies.extra(extra);
        }

        public Rlimit(String type, long hard, long soft) {
            this(type, BigInteger.valueOf(hard), BigInteger.valueOf(soft), null);
        }
    }

    /** sched_setattr(2) attributes; runtime, deadline and period are uint64 nanoseconds. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"policy", "nice", "priority", "flags", "runtime", "deadline", "period"})
    public record Scheduler(String policy, Integer nice, Integer priority, List<String> flags,
                            BigInteger runtime, BigInteger deadline, BigInteger period,
                            @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Scheduler {
            flags = Copies.list(flags);
            extra = Copies.extra(extra);
        }
    }

    /** ioprio_set(2): {@code class} in JSON, a Java keyword, hence {@code ioClass}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"class", "priority"})
    public record IoPriority(@JsonProperty("class") String ioClass, Integer priority,
                             @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public IoPriority {
            extra = Copies.extra(extra);
        }
    }

    /**
     * CPU lists for an exec'd process: {@code initial} before it joins the container's cgroup,
     * {@code final} (a Java keyword, hence {@code finalCpus}) after.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"initial", "final"})
    public record CpuAffinity(String initial, @JsonProperty("final") String finalCpus,
                              @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public CpuAffinity {
            extra = Copies.extra(extra);
        }
    }
}
