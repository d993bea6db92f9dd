package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/** config-linux.md: the "linux" section. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"uidMappings", "gidMappings", "sysctl", "resources", "cgroupsPath", "namespaces",
        "devices", "netDevices", "seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths",
        "mountLabel", "intelRdt", "memoryPolicy", "personality", "timeOffsets"})
public record Linux(
        List<IdMapping> uidMappings,
        List<IdMapping> gidMappings,
        Map<String, String> sysctl,
        Resources resources,
        String cgroupsPath,
        List<Namespace> namespaces,
        List<Device> devices,
        Map<String, NetDevice> netDevices,
        Seccomp seccomp,
        String rootfsPropagation,
        List<String> maskedPaths,
        List<String> readonlyPaths,
        String mountLabel,
        IntelRdt intelRdt,
        MemoryPolicy memoryPolicy,
        Personality personality,
        Map<String, TimeOffset> timeOffsets,
        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {

    /** The namespace types of config-linux.md "Namespaces". */
    public static final List<String> NAMESPACE_TYPES =
            List.of("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time");

    public Linux {
        uidMappings = Copies.list(uidMappings);
        gidMappings = Copies.list(gidMappings);
        sysctl = Copies.map(sysctl);
        namespaces = Copies.list(namespaces);
        devices = Copies.list(devices);
        netDevices = Copies.map(netDevices);
        maskedPaths = Copies.list(maskedPaths);
        readonlyPaths = Copies.list(readonlyPaths);
        timeOffsets = Copies.map(timeOffsets);
        extra = Copies.extra(extra);
    }

    public Linux withNamespaces(List<Namespace> newNamespaces) {
        return new Linux(uidMappings, gidMappings, sysctl, resources, cgroupsPath, newNamespaces, devices,
                netDevices, seccomp, rootfsPropagation, maskedPaths, readonlyPaths, mountLabel, intelRdt,
                memoryPolicy, personality, timeOffsets, extra);
    }

    public Linux withIdMappings(List<IdMapping> newUidMappings, List<IdMapping> newGidMappings) {
        return new Linux(newUidMappings, newGidMappings, sysctl, resources, cgroupsPath, namespaces, devices,
                netDevices, seccomp, rootfsPropagation, maskedPaths, readonlyPaths, mountLabel, intelRdt,
                memoryPolicy, personality, timeOffsets, extra);
    }

    public Linux withResources(Resources newResources) {
        return new Linux(uidMappings, gidMappings, sysctl, newResources, cgroupsPath, namespaces, devices,
                netDevices, seccomp, rootfsPropagation, maskedPaths, readonlyPaths, mountLabel, intelRdt,
                memoryPolicy, personality, timeOffsets, extra);
    }

    /** Whether the namespaces list has one of {@code type}, created or joined. */
    public boolean hasNamespace(String type) {
        return namespaces != null && namespaces.stream().anyMatch(ns -> type.equals(ns.type()));
    }

    /** A namespace to create, or to join when {@code path} is set. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"type", "path"})
    public record Namespace(String type, String path,
                            @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Namespace {
            extra = Copies.extra(extra);
        }

        public Namespace(String type) {
            this(type, null, null);
        }
    }

    /** A clock offset of the time namespace: secs is int64, nanosecs uint32. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"secs", "nanosecs"})
    public record TimeOffset(Long secs, Long nanosecs,
                             @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public TimeOffset {
            extra = Copies.extra(extra);
        }
    }

    /** A device node to create: major and minor are int64; fileMode, uid and gid uint32. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"path", "type", "major", "minor", "fileMode", "uid", "gid"})
    public record Device(String path, String type, Long major, Long minor, Long fileMode, Long uid, Long gid,
                         @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Device {
            extra = Copies.extra(extra);
        }
    }

    /** A host network device moved into the container, keyed by its host name; name renames it. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name"})
    public record NetDevice(String name, @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public NetDevice {
            extra = Copies.extra(extra);
        }
    }

    /**
     * Intel RDT. {@code schemata} is raw JSON: runtime-spec releases disagree on whether it is a
     * string or a list of lines, and either must survive a save.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"closID", "schemata", "l3CacheSchema", "memBwSchema", "enableCMT", "enableMBM"})
    public record IntelRdt(String closID, JsonNode schemata, String l3CacheSchema, String memBwSchema,
                           Boolean enableCMT, Boolean enableMBM,
                           @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public IntelRdt {
            extra = Copies.extra(extra);
        }
    }

    /** set_mempolicy(2) for the container: mode MPOL_*, nodes as "0-3,7", flags MPOL_F_*. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"mode", "nodes", "flags"})
    public record MemoryPolicy(String mode, String nodes, List<String> flags,
                               @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public MemoryPolicy {
            flags = Copies.list(flags);
            extra = Copies.extra(extra);
        }
    }

    /** personality(2): domain LINUX or LINUX32. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"domain", "flags"})
    public record Personality(String domain, List<String> flags,
                              @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Personality {
            flags = Copies.list(flags);
            extra = Copies.extra(extra);
        }
    }
}
