package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Resources;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What both cgroup versions check in linux.resources before writing, the JSON pointers of its
 * fields, and runc's conversions from the v1 vocabulary of the spec to cgroup v2.
 */
final class CgroupResources {
    static final String R = "/linux/resources";
    static final String MEMORY = R + "/memory";
    static final String CPU = R + "/cpu";
    static final String PIDS = R + "/pids/limit";
    static final String BLKIO = R + "/blockIO";
    static final String HUGEPAGES = R + "/hugepageLimits";
    static final String NETWORK = R + "/network";
    static final String RDMA = R + "/rdma";
    static final String UNIFIED = R + "/unified";
    static final String DEVICES = R + "/devices";

    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final Pattern PAGE_SIZE = Pattern.compile("[0-9]+[KMG]B");
    private static final Pattern ACCESS = Pattern.compile("[rwm]{1,3}");

    private CgroupResources() {
    }

    /** Checks what the spec forbids, whatever the cgroup version. */
    static void check(Resources r) {
        if (r == null) {
            return;
        }
        Resources.Memory m = r.memory();
        if (m != null) {
            atLeast(m.limit(), -1, MEMORY + "/limit");
            atLeast(m.reservation(), -1, MEMORY + "/reservation");
            atLeast(m.swap(), -1, MEMORY + "/swap");
            if (m.swap() != null && m.swap() > 0 && m.limit() != null && m.limit() > 0 && m.swap() < m.limit()) {
                throw new InvalidSpecException(MEMORY + "/swap", "the memory+swap limit " + m.swap()
                        + " is below the memory limit " + m.limit() + " (swap counts memory and swap together)");
            }
            if (swappiness(m) != null && swappiness(m) > 100) {
                throw new InvalidSpecException(MEMORY + "/swappiness", m.swappiness() + " is out of range 0-100");
            }
        }
        Resources.Cpu c = r.cpu();
        if (c != null) {
            unsigned(c.shares(), CPU + "/shares");
            unsigned(c.period(), CPU + "/period");
            unsigned(c.burst(), CPU + "/burst");
            unsigned(c.realtimePeriod(), CPU + "/realtimePeriod");
            atLeast(c.quota(), -1, CPU + "/quota");
            atLeast(c.realtimeRuntime(), -1, CPU + "/realtimeRuntime");
            if (c.idle() != null && c.idle() != 0 && c.idle() != 1) {
                throw new InvalidSpecException(CPU + "/idle", "must be 0 or 1, not " + c.idle());
            }
        }
        Resources.BlockIo b = r.blockIO();
        if (b != null) {
            uint16(b.weight(), BLKIO + "/weight");
            uint16(b.leafWeight(), BLKIO + "/leafWeight");
            for (int i = 0; i < CgroupResources.list(b.weightDevice()).size(); i++) {
                Resources.WeightDevice w = CgroupResources.list(b.weightDevice()).get(i);
                device(w.major(), w.minor(), BLKIO + "/weightDevice/" + i);
                uint16(w.weight(), BLKIO + "/weightDevice/" + i + "/weight");
                uint16(w.leafWeight(), BLKIO + "/weightDevice/" + i + "/leafWeight");
            }
            throttles(CgroupResources.list(b.throttleReadBpsDevice()), "throttleReadBpsDevice");
            throttles(CgroupResources.list(b.throttleWriteBpsDevice()), "throttleWriteBpsDevice");
            throttles(CgroupResources.list(b.throttleReadIOPSDevice()), "throttleReadIOPSDevice");
            throttles(CgroupResources.list(b.throttleWriteIOPSDevice()), "throttleWriteIOPSDevice");
        }
        for (int i = 0; i < CgroupResources.list(r.hugepageLimits()).size(); i++) {
            Resources.HugepageLimit h = CgroupResources.list(r.hugepageLimits()).get(i);
            String at = HUGEPAGES + "/" + i;
            if (h.pageSize() == null || !PAGE_SIZE.matcher(h.pageSize()).matches()) {
                throw new InvalidSpecException(at + "/pageSize", "expected a size such as \"2MB\" or \"1GB\", found "
                        + (h.pageSize() == null ? "nothing" : "\"" + h.pageSize() + "\""));
            }
            if (h.limit() == null) {
                throw new InvalidSpecException(at + "/limit", "is required");
            }
            unsigned(h.limit(), at + "/limit");
        }
        Resources.Network n = r.network();
        if (n != null) {
            atLeast(n.classID(), 0, NETWORK + "/classID");
            for (int i = 0; i < CgroupResources.list(n.priorities()).size(); i++) {
                Resources.InterfacePriority p = CgroupResources.list(n.priorities()).get(i);
                if (p.name() == null || p.name().isEmpty() || p.name().contains(" ")) {
                    throw new InvalidSpecException(NETWORK + "/priorities/" + i + "/name", "must be an interface name");
                }
                atLeast(p.priority(), 0, NETWORK + "/priorities/" + i + "/priority");
            }
        }
        for (Map.Entry<String, Resources.Rdma> e : CgroupResources.map(r.rdma()).entrySet()) {
            String at = RDMA + "/" + escape(e.getKey());
            if (e.getKey().isEmpty() || e.getKey().contains(" ") || e.getKey().contains("\n")) {
                throw new InvalidSpecException(at, "is not an RDMA device name");
            }
            atLeast(e.getValue().hcaHandles(), 0, at + "/hcaHandles");
            atLeast(e.getValue().hcaObjects(), 0, at + "/hcaObjects");
        }
        for (String key : CgroupResources.map(r.unified()).keySet()) {
            if (key.contains("/") || key.equals(".") || key.equals("..") || key.isEmpty()) {
                throw new InvalidSpecException(UNIFIED + "/" + escape(key), "must be a file name of the cgroup (no slashes)");
            }
        }
        for (int i = 0; i < CgroupResources.list(r.devices()).size(); i++) {
            Resources.DeviceRule d = CgroupResources.list(r.devices()).get(i);
            String at = DEVICES + "/" + i;
            if (d.type() != null && !List.of("a", "b", "c").contains(d.type())) {
                throw new InvalidSpecException(at + "/type", "must be \"a\", \"b\" or \"c\", not \"" + d.type() + "\"");
            }
            if (d.access() == null || !ACCESS.matcher(d.access()).matches()) {
                throw new InvalidSpecException(at + "/access", "must be letters of \"rwm\"");
            }
            atLeast(d.major(), -1, at + "/major");
            atLeast(d.minor(), -1, at + "/minor");
        }
    }

    /** Swappiness as runc takes it: unset, -1 or 2^64-1 (-1 as uint64) mean "leave it". */
    static Long swappiness(Resources.Memory m) {
        BigInteger s = m.swappiness();
        if (s == null || s.equals(BigInteger.ONE.negate()) || s.equals(UINT64_MAX)) {
            return null;
        }
        if (s.signum() < 0) {
            throw new InvalidSpecException(MEMORY + "/swappiness", s + " is out of range 0-100");
        }
        return s.min(BigInteger.valueOf(Long.MAX_VALUE)).longValueExact();
    }

    /**
     * cpu.shares (2..262144) to cpu.weight (1..10000), as runc >= 1.3.2 and crun >= 1.23 convert
     * it (opencontainers/runc#4785): a quadratic in log2(shares) that maps 2 to 1, the default
     * 1024 to the default 100, and 262144 to 10000. The linear formula of older runc,
     * 1 + ((shares - 2) * 9999) / 262142, gave 39 for the default 1024.
     */
    static long sharesToWeight(long shares) {
        if (shares == 0) {
            return 0;
        }
        if (shares <= 2) {
            return 1;
        }
        if (shares >= 262144) {
            return 10000;
        }
        double l = Math.log(shares) / Math.log(2);
        double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
        return (long) Math.ceil(Math.pow(10, exponent));
    }

    /** blkio.weight (10..1000) to io.weight (1..10000): runc's ConvertBlkIOToIOWeightValue. */
    static long blkioToIoWeight(long weight) {
        if (weight == 0) {
            return 0;
        }
        return 1 + (weight - 10) * 9999 / 990;
    }

    /**
     * memory.swap.max from the spec's swap (memory+swap) and limit, as runc's
     * ConvertMemorySwapToCgroupV2Value: -1 means "max", 0 "leave it".
     */
    static long swapToV2(long swap, long limit) {
        if (limit == -1 && swap == 0) {
            return -1;
        }
        if (swap == -1 || swap == 0) {
            return swap;
        }
        if (limit == 0 || limit == -1) {
            throw new InvalidSpecException(MEMORY + "/swap", "cannot limit swap without a memory limit on cgroup v2");
        }
        if (swap < limit) {
            throw new InvalidSpecException(MEMORY + "/swap", "the memory+swap limit " + swap
                    + " is below the memory limit " + limit);
        }
        return swap - limit;
    }

    /** A number for a v2 .max/.low file: 0 means "do not write" (null), -1 "max". */
    static String v2Number(long value) {
        if (value == 0) {
            return null;
        }
        return value == -1 ? "max" : Long.toString(value);
    }

    /** The spec model keeps an absent list as null (to write it back as it came). */
    static <T> List<T> list(List<T> list) {
        return list == null ? List.of() : list;
    }

    static <V> Map<String, V> map(Map<String, V> map) {
        return map == null ? Map.of() : map;
    }

    static long orZero(Long v) {
        return v == null ? 0 : v;
    }

    static long orZero(BigInteger v) {
        return v == null ? 0 : v.min(BigInteger.valueOf(Long.MAX_VALUE)).longValue();
    }

    static long orZero(Integer v) {
        return v == null ? 0 : v;
    }

    /** RFC 6901: "~" and "/" in a key. */
    static String escape(String key) {
        return key.replace("~", "~0").replace("/", "~1");
    }

    private static void throttles(List<Resources.ThrottleDevice> list, String field) {
        for (int i = 0; i < list.size(); i++) {
            Resources.ThrottleDevice t = list.get(i);
            String at = BLKIO + "/" + field + "/" + i;
            device(t.major(), t.minor(), at);
            if (t.rate() == null) {
                throw new InvalidSpecException(at + "/rate", "is required");
            }
            unsigned(t.rate(), at + "/rate");
        }
    }

    private static void device(Long major, Long minor, String at) {
        if (major == null || major < 0) {
            throw new InvalidSpecException(at + "/major", "a block device's major number is required");
        }
        if (minor == null || minor < 0) {
            throw new InvalidSpecException(at + "/minor", "a block device's minor number is required");
        }
    }

    private static void atLeast(Long v, long min, String pointer) {
        if (v != null && v < min) {
            throw new InvalidSpecException(pointer, v + " is out of range (at least " + min + ")");
        }
    }

    private static void unsigned(BigInteger v, String pointer) {
        if (v != null && (v.signum() < 0 || v.compareTo(UINT64_MAX) > 0)) {
            throw new InvalidSpecException(pointer, v + " is not an unsigned 64-bit number");
        }
    }

    private static void uint16(Integer v, String pointer) {
        if (v != null && (v < 0 || v > 65535)) {
            throw new InvalidSpecException(pointer, v + " is not an unsigned 16-bit number");
        }
    }
}
