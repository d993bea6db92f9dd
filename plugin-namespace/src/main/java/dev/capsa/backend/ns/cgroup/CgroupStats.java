package dev.capsa.backend.ns.cgroup;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;

/**
 * The "data" object of runc's {@code events --stats} (runc types/events.go), built as JSON:
 * Go's encoding drops zero fields marked omitempty and always writes structs, so this does too.
 */
final class CgroupStats {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private static final java.math.BigInteger UINT64_MAX =
            java.math.BigInteger.ONE.shiftLeft(64).subtract(java.math.BigInteger.ONE);

    private final ObjectNode root = JSON.objectNode();

    CgroupStats() {
        root.putObject("cpu").putObject("usage").put("kernel", 0).put("user", 0);
        obj("cpu").putObject("throttling");
        ObjectNode cpuset = root.putObject("cpuset");
        for (String k : List.of("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                "memory_spread_page", "memory_spread_slab", "memory_pressure", "sched_load_balance",
                "sched_relax_domain_level")) {
            cpuset.put(k, 0);
        }
        ObjectNode memory = root.putObject("memory");
        for (String k : List.of("usage", "swap", "kernel", "kernelTCP")) {
            memory.set(k, memoryEntry(0, 0, 0, 0));
        }
        root.putObject("pids");
        root.putObject("blkio");
        root.putObject("hugetlb");
        root.putObject("intel_rdt");
        root.putNull("network_interfaces");
    }

    private ObjectNode obj(String field) {
        return (ObjectNode) root.get(field);
    }

    ObjectNode json() {
        return root;
    }

    void cpuUsage(long totalNs, List<Long> percpu, long kernelNs, long userNs) {
        ObjectNode usage = JSON.objectNode();
        omitZero(usage, "total", totalNs);
        if (!percpu.isEmpty()) {
            ArrayNode a = usage.putArray("percpu");
            percpu.forEach(a::add);
        }
        usage.put("kernel", kernelNs).put("user", userNs);
        obj("cpu").set("usage", usage);
    }

    void throttling(long periods, long throttledPeriods, long throttledTimeNs) {
        ObjectNode t = JSON.objectNode();
        omitZero(t, "periods", periods);
        omitZero(t, "throttledPeriods", throttledPeriods);
        omitZero(t, "throttledTime", throttledTimeNs);
        obj("cpu").set("throttling", t);
    }

    void memory(String entry, long limit, long usage, long max, long failcnt) {
        obj("memory").set(entry, memoryEntry(limit, usage, max, failcnt));
    }

    void memoryRaw(Map<String, Long> raw, long cache) {
        ObjectNode memory = obj("memory");
        ObjectNode ordered = JSON.objectNode();
        omitZero(ordered, "cache", cache);
        memory.fieldNames().forEachRemaining(f -> ordered.set(f, memory.get(f)));
        if (!raw.isEmpty()) {
            ObjectNode r = ordered.putObject("raw");
            raw.forEach(r::put);
        }
        root.set("memory", ordered);
    }

    void pids(long current, long limit) {
        ObjectNode p = JSON.objectNode();
        omitZero(p, "current", current);
        omitZero(p, "limit", limit);
        root.set("pids", p);
    }

    /** One blkio list entry ("ioServiceBytesRecursive"): major, minor, op ("Read"), value. */
    void blkio(String list, long major, long minor, String op, long value) {
        ObjectNode blkio = obj("blkio");
        ArrayNode a = blkio.has(list) ? (ArrayNode) blkio.get(list) : blkio.putArray(list);
        ObjectNode e = a.addObject();
        omitZero(e, "major", major);
        omitZero(e, "minor", minor);
        if (op != null && !op.isEmpty()) {
            e.put("op", op);
        }
        omitZero(e, "value", value);
    }

    void hugetlb(String pageSize, long usage, long max, long failcnt) {
        ObjectNode h = obj("hugetlb").putObject(pageSize);
        omitZero(h, "usage", usage);
        omitZero(h, "max", max);
        h.put("failcnt", failcnt);
    }

    private static ObjectNode memoryEntry(long limit, long usage, long max, long failcnt) {
        ObjectNode e = JSON.objectNode();
        if (limit < 0) {
            e.put("limit", UINT64_MAX); // v2 "max", as Go's math.MaxUint64
        } else {
            e.put("limit", limit);
        }
        omitZero(e, "usage", usage);
        omitZero(e, "max", max);
        e.put("failcnt", failcnt);
        return e;
    }

    private static void omitZero(ObjectNode node, String field, long value) {
        if (value != 0) {
            node.put(field, value);
        }
    }
}
