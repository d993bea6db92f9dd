package dev.capsa.spi;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;
import java.util.Map;

/**
 * The runtime-spec features.md document. A backend fills in only what it really implements;
 * a null member means "not reported", an empty list means "none".
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations",
    "potentiallyUnsafeConfigAnnotations"})
public record Features(String ociVersionMin, String ociVersionMax, List<String> hooks, List<String> mountOptions,
                       Linux linux, Map<String, String> annotations,
                       List<String> potentiallyUnsafeConfigAnnotations) {

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"namespaces", "capabilities", "cgroup", "seccomp", "apparmor", "selinux", "intelRdt",
        "memoryPolicy", "mountExtensions", "netDevices"})
    public record Linux(List<String> namespaces, List<String> capabilities, Cgroup cgroup, Seccomp seccomp,
                        Enabled apparmor, Enabled selinux, Enabled intelRdt, MemoryPolicy memoryPolicy,
                        MountExtensions mountExtensions, Enabled netDevices) {
        /** Without memoryPolicy: not reported. */
        public Linux(List<String> namespaces, List<String> capabilities, Cgroup cgroup, Seccomp seccomp,
                     Enabled apparmor, Enabled selinux, Enabled intelRdt, MountExtensions mountExtensions,
                     Enabled netDevices) {
            this(namespaces, capabilities, cgroup, seccomp, apparmor, selinux, intelRdt, null, mountExtensions,
                    netDevices);
        }
    }

    /** features.md linux.memoryPolicy: the set_mempolicy(2) modes and flags the runtime knows. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"modes", "flags"})
    public record MemoryPolicy(List<String> modes, List<String> flags) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"v1", "v2", "systemd", "systemdUser", "rdma"})
    public record Cgroup(Boolean v1, Boolean v2, Boolean systemd, Boolean systemdUser, Boolean rdma) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"enabled", "actions", "operators", "archs", "knownFlags", "supportedFlags"})
    public record Seccomp(Boolean enabled, List<String> actions, List<String> operators, List<String> archs,
                          List<String> knownFlags, List<String> supportedFlags) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Enabled(Boolean enabled) {
        public static final Enabled NO = new Enabled(false);
        public static final Enabled YES = new Enabled(true);
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record MountExtensions(Enabled idmap) {
    }
}
