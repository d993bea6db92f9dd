package dev.capsa.backend.ns.cgroup;

import static dev.capsa.backend.ns.cgroup.CgroupResources.BLKIO;
import static dev.capsa.backend.ns.cgroup.CgroupResources.CPU;
import static dev.capsa.backend.ns.cgroup.CgroupResources.HUGEPAGES;
import static dev.capsa.backend.ns.cgroup.CgroupResources.MEMORY;
import static dev.capsa.backend.ns.cgroup.CgroupResources.NETWORK;
import static dev.capsa.backend.ns.cgroup.CgroupResources.PIDS;
import static dev.capsa.backend.ns.cgroup.CgroupResources.RDMA;
import static dev.capsa.backend.ns.cgroup.CgroupResources.UNIFIED;
import static dev.capsa.backend.ns.cgroup.CgroupResources.orZero;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A container's cgroup on a unified (v2) host: one directory, written as runc's
 * libcontainer/cgroups/fs2 does, converting the spec's v1 vocabulary where runc converts it.
 * What v2 cannot do is refused with the field's pointer, never skipped.
 */
final class CgroupV2 implements CgroupManager {
    private static final Logger LOG = LoggerFactory.getLogger(CgroupV2.class);
    private static final long FREEZE_TIMEOUT_MS = 10_000;

    private final Path mount;
    private final Path dir;
    private final CgroupFiles files;

    CgroupV2(Path mount, Path dir, CgroupFiles files) {
        if (!dir.startsWith(mount) || dir.equals(mount)) {
            throw new IllegalArgumentException(dir + " is not below the cgroup2 mount " + mount);
        }
        this.mount = mount;
        this.dir = dir;
        this.files = files;
    }

    @Override
    public CgroupMode mode() {
        return CgroupMode.V2;
    }

    @Override
    public Map<String, Path> paths() {
        return Map.of("", dir);
    }

    @Override
    public void check(Resources r) {
        CgroupResources.check(r);
        if (r == null) {
            return;
        }
        Resources.Memory m = r.memory();
        if (m != null) {
            CgroupResources.swapToV2(orZero(m.swap()), orZero(m.limit()));
            if (CgroupResources.swappiness(m) != null) {
                throw new InvalidSpecException(MEMORY + "/swappiness", "cgroup v2 has no per-cgroup swappiness; "
                        + "leave it unset (or -1)");
            }
            if (Boolean.TRUE.equals(m.disableOOMKiller())) {
                throw new InvalidSpecException(MEMORY + "/disableOOMKiller", "cgroup v2 cannot disable the OOM killer "
                        + "of a cgroup; leave it unset or false");
            }
        }
        Resources.Cpu c = r.cpu();
        if (c != null && (orZero(c.realtimeRuntime()) != 0 || orZero(c.realtimePeriod()) != 0)) {
            throw new InvalidSpecException(CPU + (orZero(c.realtimeRuntime()) != 0 ? "/realtimeRuntime" : "/realtimePeriod"),
                    "cgroup v2 has no real-time CPU bandwidth (cpu.rt_*): leave it unset");
        }
        Resources.BlockIo b = r.blockIO();
        if (b != null) {
            if (b.leafWeight() != null && b.leafWeight() != 0) {
                throw new InvalidSpecException(BLKIO + "/leafWeight", "cgroup v2 has no leaf weight");
            }
            for (int i = 0; i < CgroupResources.list(b.weightDevice()).size(); i++) {
                Resources.WeightDevice w = CgroupResources.list(b.weightDevice()).get(i);
                if (w.leafWeight() != null && w.leafWeight() != 0) {
                    throw new InvalidSpecException(BLKIO + "/weightDevice/" + i + "/leafWeight", "cgroup v2 has no leaf weight");
                }
            }
        }
        if (r.network() != null && (r.network().classID() != null || !CgroupResources.list(r.network().priorities()).isEmpty())) {
            throw new InvalidSpecException(NETWORK, "net_cls and net_prio do not exist on cgroup v2 "
                    + "(tag traffic with an eBPF program or nftables' socket cgroupv2 match instead)");
        }
        // compiled here, without loading it, so a rule runc refuses is refused before anything is written
        DeviceFilter.forContainer(CgroupResources.list(r.devices()));
    }

    /**
     * Makes the directory, enabling on every ancestor from the mount down (the mount's own
     * cgroup.subtree_control included) the controllers it offers, as runc's fs2 CreateCgroupPath
     * does: all at once, else one by one, ignoring refusals (a controller a parent cannot
     * delegate shows later as a missing file, which {@link #set} reports).
     */
    @Override
    public void create() {
        Path rel = mount.relativize(dir);
        Path current = mount;
        for (int i = 0; i < rel.getNameCount(); i++) {
            enableControllers(current);
            current = current.resolve(rel.getName(i));
            CgroupTree.mkdirs(current);
        }
    }

    private void enableControllers(Path parent) {
        Path available = parent.resolve("cgroup.controllers");
        if (!Files.exists(available)) {
            return;
        }
        String[] controllers = CgroupFiles.read(available).strip().split("\\s+");
        if (controllers.length == 0 || controllers[0].isEmpty()) {
            return;
        }
        Path control = parent.resolve("cgroup.subtree_control");
        List<String> plus = new ArrayList<>();
        for (String c : controllers) {
            plus.add("+" + c);
        }
        try {
            files.writeOrThrow(control, String.join(" ", plus));
        } catch (IOException all) {
            for (String one : plus) {
                try {
                    files.writeOrThrow(control, one);
                } catch (IOException e) {
                    LOG.debug("cannot enable {} in {}: {}", one, control, CgroupFiles.errno(e));
                }
            }
        }
    }

    /** {@link #set}, except that the device program is replaced only when the update names devices. */
    @Override
    public void update(Resources r) {
        set(r, r != null && r.devices() != null);
    }

    @Override
    public void addTask(long pid) {
        CgroupTree.addProc(files, dir, pid);
    }

    @Override
    public void set(Resources r) {
        set(r, true);
    }

    private void set(Resources r, boolean devices) {
        check(r);
        if (r == null) {
            return;
        }
        if (r.pids() != null && r.pids().limit() != null && r.pids().limit() != 0) {
            long limit = r.pids().limit();
            write("pids.max", limit > 0 ? Long.toString(limit) : "max", PIDS);
        }
        if (r.memory() != null) {
            memory(r.memory());
        }
        if (r.blockIO() != null) {
            io(r.blockIO());
        }
        if (r.cpu() != null) {
            cpu(r.cpu());
        }
        for (int i = 0; i < CgroupResources.list(r.hugepageLimits()).size(); i++) {
            Resources.HugepageLimit h = CgroupResources.list(r.hugepageLimits()).get(i);
            write("hugetlb." + h.pageSize() + ".max", h.limit().toString(), HUGEPAGES + "/" + i + "/limit");
        }
        for (Map.Entry<String, Resources.Rdma> e : CgroupResources.map(r.rdma()).entrySet()) {
            write("rdma.max", CgroupV1.rdmaLine(e.getKey(), e.getValue()), RDMA + "/" + CgroupResources.escape(e.getKey()));
        }
        for (Map.Entry<String, String> e : CgroupResources.map(r.unified()).entrySet()) {
            String pointer = UNIFIED + "/" + CgroupResources.escape(e.getKey());
            // runc's WriteFileByLine: one write per line, as files like io.max take one device per write
            for (String line : e.getValue().split("\n")) {
                if (!line.isEmpty()) {
                    write(e.getKey(), line, pointer);
                }
            }
        }
        if (devices) {
            // runc's fs2 does the same: the spec's rules, then its default allow list, as an eBPF
            // program on the directory (v2 has no devices.allow); it replaces the one attached before
            files.bpf().replaceDeviceFilter(dir, DeviceFilter.forContainer(CgroupResources.list(r.devices())),
                    CgroupResources.DEVICES);
        }
    }

    /** runc's fs2/memory.go: memory.swap.max before memory.max, then memory.low. */
    private void memory(Resources.Memory m) {
        long limit = orZero(m.limit());
        long swap = orZero(m.swap());
        long reservation = orZero(m.reservation());
        if (limit == 0 && swap == 0 && reservation == 0) {
            return;
        }
        if (Boolean.TRUE.equals(m.checkBeforeUpdate()) && (limit > 0 || swap > 0) && Files.exists(dir.resolve("memory.current"))) {
            long usage = CgroupFiles.readLongOrZero(dir.resolve("memory.current"));
            if (usage > 0 && swap > 0 && swap <= usage) {
                throw new InvalidSpecException(MEMORY + "/swap", "rejecting memory+swap limit " + swap
                        + " at or below the current usage " + usage + " (checkBeforeUpdate)");
            }
            if (usage > 0 && limit > 0 && limit <= usage) {
                throw new InvalidSpecException(MEMORY + "/limit", "rejecting memory limit " + limit
                        + " at or below the current usage " + usage + " (checkBeforeUpdate)");
            }
        }
        long swapMax = CgroupResources.swapToV2(swap, limit);
        String swapValue = CgroupResources.v2Number(swapMax);
        if (swapValue == null && swapMax == 0 && swap > 0) {
            swapValue = "0"; // memory and memory+swap equal: no swap at all
        }
        if (swapValue != null) {
            Path file = dir.resolve("memory.swap.max");
            try {
                files.writeOrThrow(file, swapValue);
            } catch (NoSuchFileException e) {
                // no swap accounting in this kernel: "no swap" and "unlimited swap" are what it does anyway (runc)
                if (!swapValue.equals("max") && !swapValue.equals("0")) {
                    throw CgroupFiles.failed(MEMORY + "/swap", file, swapValue, e,
                            " (this kernel does not account swap)");
                }
            } catch (IOException e) {
                throw CgroupFiles.failed(MEMORY + "/swap", file, swapValue, e, "");
            }
        }
        if (CgroupResources.v2Number(limit) != null) {
            write("memory.max", CgroupResources.v2Number(limit), MEMORY + "/limit");
        }
        if (CgroupResources.v2Number(reservation) != null) {
            write("memory.low", CgroupResources.v2Number(reservation), MEMORY + "/reservation");
        }
        if (m.kernel() != null || m.kernelTCP() != null) {
            LOG.warn("{}/kernel and kernelTCP are ignored, as runc ignores them (cgroup v2 has no separate limit)",
                    MEMORY);
        }
    }

    /** runc's fs2/io.go: BFQ's io.bfq.weight when the kernel has it, else io.weight converted; io.max lines. */
    private void io(Resources.BlockIo b) {
        boolean bfq = Files.exists(dir.resolve("io.bfq.weight"));
        if (b.weight() != null && b.weight() != 0) {
            if (bfq) {
                write("io.bfq.weight", b.weight().toString(), BLKIO + "/weight");
            } else {
                write("io.weight", Long.toString(CgroupResources.blkioToIoWeight(b.weight())), BLKIO + "/weight");
            }
        }
        for (int i = 0; i < CgroupResources.list(b.weightDevice()).size(); i++) {
            Resources.WeightDevice w = CgroupResources.list(b.weightDevice()).get(i);
            if (w.weight() == null || w.weight() == 0) {
                continue;
            }
            String pointer = BLKIO + "/weightDevice/" + i + "/weight";
            if (!bfq) {
                throw new InvalidSpecException(pointer, "per-device weights on cgroup v2 need the BFQ I/O scheduler "
                        + "(io.bfq.weight), which this cgroup does not have");
            }
            write("io.bfq.weight", w.major() + ":" + w.minor() + " " + w.weight(), pointer);
        }
        ioMax(CgroupResources.list(b.throttleReadBpsDevice()), "throttleReadBpsDevice", "rbps");
        ioMax(CgroupResources.list(b.throttleWriteBpsDevice()), "throttleWriteBpsDevice", "wbps");
        ioMax(CgroupResources.list(b.throttleReadIOPSDevice()), "throttleReadIOPSDevice", "riops");
        ioMax(CgroupResources.list(b.throttleWriteIOPSDevice()), "throttleWriteIOPSDevice", "wiops");
    }

    private void ioMax(List<Resources.ThrottleDevice> list, String field, String key) {
        for (int i = 0; i < list.size(); i++) {
            Resources.ThrottleDevice t = list.get(i);
            // a rate of 0 lifts the limit, as in v1
            String rate = t.rate().signum() == 0 ? "max" : t.rate().toString();
            write("io.max", t.major() + ":" + t.minor() + " " + key + "=" + rate, BLKIO + "/" + field + "/" + i);
        }
    }

    /** runc's fs2/cpu.go and cpuset.go. */
    private void cpu(Resources.Cpu c) {
        if (c.idle() != null) {
            write("cpu.idle", c.idle().toString(), CPU + "/idle");
        }
        long weight = CgroupResources.sharesToWeight(orZero(c.shares()));
        if (weight != 0) {
            write("cpu.weight", Long.toString(weight), CPU + "/shares");
        }
        String burst = c.burst() == null ? null : c.burst().toString();
        if (burst != null) {
            try {
                files.writeOrThrow(dir.resolve("cpu.max.burst"), burst);
                burst = null;
            } catch (IOException e) {
                // burst must not exceed the quota: retried after cpu.max, as runc does
                if (!CgroupFiles.is(e, "EINVAL")) {
                    throw CgroupFiles.failed(CPU + "/burst", dir.resolve("cpu.max.burst"), burst, e, hint(e));
                }
            }
        }
        long quota = orZero(c.quota());
        long period = orZero(c.period());
        if (quota != 0 || period != 0) {
            String max = quota > 0 ? Long.toString(quota) : "max";
            if (period != 0) {
                max += " " + c.period();
            }
            write("cpu.max", max, CPU + (quota != 0 ? "/quota" : "/period"));
        }
        if (burst != null) {
            write("cpu.max.burst", burst, CPU + "/burst");
        }
        if (c.cpus() != null && !c.cpus().isEmpty()) {
            write("cpuset.cpus", c.cpus(), CPU + "/cpus");
        }
        if (c.mems() != null && !c.mems().isEmpty()) {
            write("cpuset.mems", c.mems(), CPU + "/mems");
        }
    }

    private void write(String file, String value, String pointer) {
        Path path = dir.resolve(file);
        try {
            files.writeOrThrow(path, value);
        } catch (IOException e) {
            throw CgroupFiles.failed(pointer, path, value, e, hint(e));
        }
    }

    /** A missing file in a v2 cgroup almost always means the parent did not delegate the controller. */
    private String hint(IOException e) {
        if (!(e instanceof NoSuchFileException) && !CgroupFiles.is(e, "EACCES") && !CgroupFiles.is(e, "EPERM")) {
            return "";
        }
        return " (is the controller enabled in " + dir.getParent().resolve("cgroup.subtree_control") + "?)";
    }

    /** cgroup.freeze, then waiting for cgroup.events to say "frozen 1" (kernel 5.2+). */
    @Override
    public void freeze() {
        toggle("1", "pause");
    }

    @Override
    public void thaw() {
        toggle("0", "resume");
    }

    private void toggle(String value, String operation) {
        Path freeze = dir.resolve("cgroup.freeze");
        if (!Files.exists(freeze)) {
            throw new CapsaException(operation + " needs cgroup.freeze (Linux 5.2 or later), missing in " + dir);
        }
        files.write(freeze, value, "");
        long deadline = System.currentTimeMillis() + FREEZE_TIMEOUT_MS;
        while (CgroupFiles.readKeyed(dir.resolve("cgroup.events")).getOrDefault("frozen", -1L) != Long.parseLong(value)) {
            if (System.currentTimeMillis() > deadline) {
                if (value.equals("1")) {
                    files.write(freeze, "0", "");
                }
                throw new CapsaException("cgroup " + dir + " did not " + (value.equals("1") ? "freeze" : "thaw")
                        + " within " + FREEZE_TIMEOUT_MS / 1000 + " s");
            }
            CgroupTree.sleep(1);
        }
    }

    @Override
    public boolean frozen() {
        return CgroupFiles.readKeyed(dir.resolve("cgroup.events")).getOrDefault("frozen", 0L) == 1;
    }

    @Override
    public List<Long> pids() {
        return CgroupTree.procs(dir);
    }

    @Override
    public long oomKills() {
        Path events = dir.resolve("memory.events");
        if (!Files.exists(events)) {
            return -1;
        }
        return CgroupFiles.readKeyed(events).getOrDefault("oom_kill", -1L);
    }

    @Override
    public ObjectNode stats() {
        CgroupStats s = new CgroupStats();
        if (!Files.isDirectory(dir)) {
            return s.json();
        }
        Map<String, Long> cpu = CgroupFiles.readKeyed(dir.resolve("cpu.stat"));
        s.cpuUsage(cpu.getOrDefault("usage_usec", 0L) * 1000, List.of(), cpu.getOrDefault("system_usec", 0L) * 1000,
                cpu.getOrDefault("user_usec", 0L) * 1000);
        s.throttling(cpu.getOrDefault("nr_periods", 0L), cpu.getOrDefault("nr_throttled", 0L),
                cpu.getOrDefault("throttled_usec", 0L) * 1000);
        if (Files.exists(dir.resolve("memory.current"))) {
            long usage = CgroupFiles.readLongOrZero(dir.resolve("memory.current"));
            long limit = CgroupFiles.readLong(dir.resolve("memory.max"));
            s.memory("usage", limit, usage, CgroupFiles.readLongOrZero(dir.resolve("memory.peak")), 0);
            if (Files.exists(dir.resolve("memory.swap.current"))) {
                // runc reports memory+swap, as v1 did
                long swapLimit = CgroupFiles.readLong(dir.resolve("memory.swap.max"));
                s.memory("swap", swapLimit < 0 || limit < 0 ? -1 : swapLimit + limit,
                        usage + CgroupFiles.readLongOrZero(dir.resolve("memory.swap.current")), 0, 0);
            }
            Map<String, Long> raw = CgroupFiles.readKeyed(dir.resolve("memory.stat"));
            s.memoryRaw(raw, raw.getOrDefault("file", 0L));
        }
        if (Files.exists(dir.resolve("pids.current"))) {
            long limit = Files.exists(dir.resolve("pids.max")) ? CgroupFiles.readLong(dir.resolve("pids.max")) : 0;
            s.pids(CgroupFiles.readLongOrZero(dir.resolve("pids.current")), Math.max(limit, 0));
        }
        Path ioStat = dir.resolve("io.stat");
        if (Files.exists(ioStat)) {
            for (String line : CgroupFiles.read(ioStat).split("\n")) {
                String[] f = line.strip().split("\\s+");
                if (f.length < 2 || !f[0].contains(":")) {
                    continue;
                }
                String[] mm = f[0].split(":");
                long major = Long.parseLong(mm[0]);
                long minor = Long.parseLong(mm[1]);
                for (int i = 1; i < f.length; i++) {
                    String[] kv = f[i].split("=");
                    if (kv.length != 2) {
                        continue;
                    }
                    long v = Long.parseUnsignedLong(kv[1]);
                    switch (kv[0]) {
                        case "rbytes" -> s.blkio("ioServiceBytesRecursive", major, minor, "Read", v);
                        case "wbytes" -> s.blkio("ioServiceBytesRecursive", major, minor, "Write", v);
                        case "rios" -> s.blkio("ioServicedRecursive", major, minor, "Read", v);
                        case "wios" -> s.blkio("ioServicedRecursive", major, minor, "Write", v);
                        default -> { }
                    }
                }
            }
        }
        for (String size : CgroupV1.hugepageSizes(dir)) {
            String p = "hugetlb." + size + ".";
            if (Files.exists(dir.resolve(p + "current"))) {
                s.hugetlb(size, CgroupFiles.readLongOrZero(dir.resolve(p + "current")), 0,
                        CgroupFiles.readKeyed(dir.resolve(p + "events")).getOrDefault("max", 0L));
            }
        }
        return s.json();
    }

    @Override
    public boolean exists() {
        return Files.isDirectory(dir);
    }

    @Override
    public void destroy() {
        CgroupTree.remove(dir);
    }
}
