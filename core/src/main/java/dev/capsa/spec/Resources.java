package dev.capsa.spec;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;

/**
 * config-linux.md "resources", the cgroup settings. The number types follow specs-go: int64
 * becomes Long (memory limits use -1 for unlimited), uint64 becomes BigInteger, uint32 and
 * smaller become Long or Integer.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
        "unified"})
public record Resources(
        List<DeviceRule> devices,
        Memory memory,
        Cpu cpu,
        Pids pids,
        BlockIo blockIO,
        List<HugepageLimit> hugepageLimits,
        Network network,
        Map<String, Rdma> rdma,
        Map<String, String> unified,
        @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {

    public Resources {
        devices = Copies.list(devices);
        hugepageLimits = Copies.list(hugepageLimits);
        rdma = Copies.map(rdma);
        unified = Copies.map(unified);
        extra = Copies.extra(extra);
    }

    /** An entry of the device allow list; unset type, major or minor mean "all". */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"allow", "type", "major", "minor", "access"})
    public record DeviceRule(Boolean allow, String type, Long major, Long minor, String access,
                             @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public DeviceRule {
            extra = Copies.extra(extra);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
            "useHierarchy", "checkBeforeUpdate"})
    public record Memory(Long limit, Long reservation, Long swap, Long kernel, Long kernelTCP,
                         BigInteger swappiness, Boolean disableOOMKiller, Boolean useHierarchy,
                         Boolean checkBeforeUpdate,
                         @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Memory {
            extra = Copies.extra(extra);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems",
            "idle"})
    public record Cpu(BigInteger shares, Long quota, BigInteger burst, BigInteger period, Long realtimeRuntime,
                      BigInteger realtimePeriod, String cpus, String mems, Long idle,
                      @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Cpu {
            extra = Copies.extra(extra);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"limit"})
    public record Pids(Long limit, @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Pids {
            extra = Copies.extra(extra);
        }
    }

    /** Weights are uint16. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
            "throttleReadIOPSDevice", "throttleWriteIOPSDevice"})
    public record BlockIo(Integer weight, Integer leafWeight, List<WeightDevice> weightDevice,
                          List<ThrottleDevice> throttleReadBpsDevice, List<ThrottleDevice> throttleWriteBpsDevice,
                          List<ThrottleDevice> throttleReadIOPSDevice, List<ThrottleDevice> throttleWriteIOPSDevice,
                          @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public BlockIo {
            weightDevice = Copies.list(weightDevice);
            throttleReadBpsDevice = Copies.list(throttleReadBpsDevice);
            throttleWriteBpsDevice = Copies.list(throttleWriteBpsDevice);
            throttleReadIOPSDevice = Copies.list(throttleReadIOPSDevice);
            throttleWriteIOPSDevice = Copies.list(throttleWriteIOPSDevice);
            extra = Copies.extra(extra);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"major", "minor", "weight", "leafWeight"})
    public record WeightDevice(Long major, Long minor, Integer weight, Integer leafWeight,
                               @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public WeightDevice {
            extra = Copies.extra(extra);
        }
    }

    /** rate is uint64, bytes or operations per second. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"major", "minor", "rate"})
    public record ThrottleDevice(Long major, Long minor, BigInteger rate,
                                 @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public ThrottleDevice {
            extra = Copies.extra(extra);
        }
    }

    /** limit is uint64 bytes of pages of pageSize ("2MB"). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"pageSize", "limit"})
    public record HugepageLimit(String pageSize, BigInteger limit,
                                @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public HugepageLimit {
            extra = Copies.extra(extra);
        }
    }

    /** net_cls and net_prio; classID and priority are uint32. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"classID", "priorities"})
    public record Network(Long classID, List<InterfacePriority> priorities,
                          @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Network {
            priorities = Copies.list(priorities);
            extra = Copies.extra(extra);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "priority"})
    public record InterfacePriority(String name, Long priority,
                                    @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public InterfacePriority {
            extra = Copies.extra(extra);
        }
    }

    /** RDMA limits of one device; both uint32. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"hcaHandles", "hcaObjects"})
    public record Rdma(Long hcaHandles, Long hcaObjects,
                       @JsonAnySetter @JsonAnyGetter Map<String, JsonNode> extra) {
        public Rdma {
            extra = Copies.extra(extra);
        }
    }
}
