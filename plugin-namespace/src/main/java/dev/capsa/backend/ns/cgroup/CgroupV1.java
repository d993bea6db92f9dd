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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A container's cgroup on a v1 (or hybrid) host: one directory per hierarchy, written as runc's
 * libcontainer/cgroups/fs does. Named hierarchies (name=systemd) and the unified hierarchy of
 * a hybrid host are only joined, as runc joins them.
 */
final class CgroupV1 implements CgroupManager {
    private static final Logger LOG = LoggerFactory.getLogger(CgroupV1.class);
    /** cpuacct.stat counts in USER_HZ, which is 100 on every Linux architecture runc supports. */
    private static final long NANOS_PER_USER_HZ = 1_000_000_000L / 100;
    private static final long FREEZE_TIMEOUT_MS = 10_000;

    private final Map<String, Path> dirs;
    private final CgroupFiles files;

    CgroupV1(Map<String, Path> dirs, CgroupFiles files) {
        this.dirs = Map.copyOf(new LinkedHashMap<>(dirs));
        this.files = files;
    }

    @Override
    public CgroupMode mode() {
        return CgroupMode.V1;
    }

    @Override
    public Map<String, Path> paths() {
        return new LinkedHashMap<>(dirs);
    }

    /** The directory of the hierarchy that has {@code controller}, or null when it is not mounted. */
    Path dir(String controller) {
        for (Map.Entry<String, Path> e : dirs.entrySet()) {
            if (Arrays.asList(e.getKey().split(",")).contains(controller)) {
                return e.getValue();
            }
        }
        return null;
    }

    private Path need(String controller, String pointer) {
        Path d = dir(controller);
        if (d == null) {
            throw new InvalidSpecException(pointer, "needs the " + controller
                    + " cgroup controller, which this host does not mount");
        }
        return d;
    }

    @Override
    public void check(Resources r) {
        CgroupResources.check(r);
        if (r == null) {
            return;
        }
        if (!CgroupResources.map(r.unified()).isEmpty()) {
            throw new InvalidSpecException(UNIFIED, "is for cgroup v2, and this host uses cgroup v1");
        }
        Resources.Memory m = r.memory();
        if (m != null && (m.limit() != null || m.reservation() != null || m.swap() != null
                || CgroupResources.swappiness(m) != null || Boolean.TRUE.equals(m.disableOOMKiller()))) {
            need("memory", MEMORY);
        }
        Resources.Cpu c = r.cpu();
        if (c != null) {
            if (c.shares() != null || c.quota() != null || c.period() != null || c.burst() != null
                    || c.realtimeRuntime() != null || c.realtimePeriod() != null || c.idle() != null) {
                need("cpu", CPU);
            }
            if (notEmpty(c.cpus()) || notEmpty(c.mems())) {
                need("cpuset", CPU + (notEmpty(c.cpus()) ? "/cpus" : "/mems"));
            }
        }
        if (r.pids() != null && r.pids().limit() != null) {
            need("pids", PIDS);
        }
        if (r.blockIO() != null) {
            need("blkio", BLKIO);
        }
        if (!CgroupResources.list(r.hugepageLimits()).isEmpty()) {
            need("hugetlb", HUGEPAGES);
        }
        if (r.network() != null && r.network().classID() != null) {
            need("net_cls", NETWORK + "/classID");
        }
        if (r.network() != null && !CgroupResources.list(r.network().priorities()).isEmpty()) {
            need("net_prio", NETWORK + "/priorities");
        }
        if (!CgroupResources.map(r.rdma()).isEmpty()) {
            need("rdma", RDMA);
        }
        if (!CgroupResources.list(r.devices()).isEmpty()) {
            need("devices", CgroupResources.DEVICES);
        }
    }

    @Override
    public void create() {
        for (Map.Entry<String, Path> e : dirs.entrySet()) {
            CgroupTree.mkdirs(e.getValue());
            if (Arrays.asList(e.getKey().split(",")).contains("cpuset")) {
                // a new cpuset cgroup has empty cpus and mems, and no task can join it: copy the parent's,
                // from the top down (runc's cpuset ensureParent)
                inheritCpuset(e.getValue(), "cpuset.cpus");
                inheritCpuset(e.getValue(), "cpuset.mems");
            }
        }
    }

    private void inheritCpuset(Path dir, String file) {
        Path own = dir.resolve(file);
        Path parent = dir.getParent();
        if (!Files.exists(own) || parent == null || !Files.exists(parent.resolve(file))) {
            return;
        }
        if (!CgroupFiles.read(own).isBlank()) {
            return;
        }
        inheritCpuset(parent, file);
        files.write(own, CgroupFiles.read(parent.resolve(file)).strip(), "");
    }

    @Override
    public void addTask(long pid) {
        for (Path d : dirs.values()) {
            CgroupTree.addProc(files, d, pid);
        }
    }

    @Override
    public void set(Resources r) {
        set(r, true);
    }

    @Override
    public void update(Resources r) {
        set(r, r != null && r.devices() != null);
    }

    private void set(Resources r, boolean deviceRules) {
        check(r);
        if (r == null) {
            return;
        }
        if (r.memory() != null) {
            memory(r.memory());
        }
        if (r.cpu() != null) {
            cpu(r.cpu());
        }
        if (r.pids() != null && r.pids().limit() != null && r.pids().limit() != 0) {
            long limit = r.pids().limit();
            files.write(dir("pids").resolve("pids.max"), limit > 0 ? Long.toString(limit) : "max", PIDS);
        }
        if (r.blockIO() != null) {
            blkio(r.blockIO());
        }
        for (int i = 0; i < CgroupResources.list(r.hugepageLimits()).size(); i++) {
            Resources.HugepageLimit h = CgroupResources.list(r.hugepageLimits()).get(i);
            files.write(dir("hugetlb").resolve("hugetlb." + h.pageSize() + ".limit_in_bytes"), h.limit().toString(),
                    HUGEPAGES + "/" + i + "/limit");
        }
        if (r.network() != null) {
            if (r.network().classID() != null) {
                files.write(dir("net_cls").resolve("net_cls.classid"), r.network().classID().toString(),
                        NETWORK + "/classID");
            }
            List<Resources.InterfacePriority> prios = CgroupResources.list(r.network().priorities());
            for (int i = 0; i < prios.size(); i++) {
                files.write(dir("net_prio").resolve("net_prio.ifpriomap"),
                        prios.get(i).name() + " " + orZero(prios.get(i).priority()), NETWORK + "/priorities/" + i);
            }
        }
        for (Map.Entry<String, Resources.Rdma> e : CgroupResources.map(r.rdma()).entrySet()) {
            files.write(dir("rdma").resolve("rdma.max"), rdmaLine(e.getKey(), e.getValue()),
                    RDMA + "/" + CgroupResources.escape(e.getKey()));
        }
        Path devices = dir("devices");
        if (devices != null && deviceRules) {
            // runc always converges the device cgroup on deny-all, the spec's rules, then its defaults
            for (DeviceRules.Rule rule : DeviceRules.v1(CgroupResources.list(r.devices()))) {
                files.write(devices.resolve(rule.allow() ? "devices.allow" : "devices.deny"), rule.line(),
                        rule.pointer().isEmpty() ? CgroupResources.DEVICES : rule.pointer());
            }
        }
    }

    static String rdmaLine(String device, Resources.Rdma r) {
        return device + " hca_handle=" + (r.hcaHandles() == null ? "max" : r.hcaHandles())
                + " hca_object=" + (r.hcaObjects() == null ? "max" : r.hcaObjects());
    }

    /** runc's fs/memory.go: limit and memsw in the order the kernel accepts, then the rest. */
    private void memory(Resources.Memory m) {
        Path d = dir("memory");
        long limit = orZero(m.limit());
        long swap = orZero(m.swap());
        Path memsw = d.resolve("memory.memsw.limit_in_bytes");
        if (Boolean.TRUE.equals(m.checkBeforeUpdate()) && limit > 0) {
            long usage = CgroupFiles.readLongOrZero(d.resolve("memory.usage_in_bytes"));
            if (usage > 0 && limit <= usage) {
                throw new InvalidSpecException(MEMORY + "/limit", "rejecting memory limit " + limit
                        + " at or below the current usage " + usage + " (checkBeforeUpdate)");
            }
        }
        if (limit == -1 && swap == 0 && Files.exists(memsw)) {
            swap = -1; // runc: unlimited memory with swap unset means unlimited swap too
        }
        if (swap != 0 && !Files.exists(memsw)) {
            throw new InvalidSpecException(MEMORY + "/swap", "this kernel does not account swap (no " + memsw
                    + "; boot with swapaccount=1)");
        }
        if (limit != 0 && swap != 0) {
            long current = CgroupFiles.readLong(d.resolve("memory.limit_in_bytes"));
            if (swap == -1 || current < swap) {
                // raising: memsw first, since the kernel keeps limit <= memsw at every step
                files.write(memsw, Long.toString(swap), MEMORY + "/swap");
                memoryLimit(d, limit);
            } else {
                memoryLimit(d, limit);
                files.write(memsw, Long.toString(swap), MEMORY + "/swap");
            }
        } else {
            if (limit != 0) {
                memoryLimit(d, limit);
            }
            if (swap != 0) {
                files.write(memsw, Long.toString(swap), MEMORY + "/swap");
            }
        }
        if (m.reservation() != null && m.reservation() != 0) {
            files.write(d.resolve("memory.soft_limit_in_bytes"), m.reservation().toString(), MEMORY + "/reservation");
        }
        if (Boolean.TRUE.equals(m.disableOOMKiller())) {
            files.write(d.resolve("memory.oom_control"), "1", MEMORY + "/disableOOMKiller");
        }
        Long swappiness = CgroupResources.swappiness(m);
        if (swappiness != null) {
            files.write(d.resolve("memory.swappiness"), swappiness.toString(), MEMORY + "/swappiness");
        }
        if (m.kernel() != null || m.kernelTCP() != null) {
            LOG.warn("{}/kernel and kernelTCP are ignored, as runc ignores them (kernel memory limits are deprecated)",
                    MEMORY);
        }
    }

    private void memoryLimit(Path d, long limit) {
        Path file = d.resolve("memory.limit_in_bytes");
        try {
            files.writeOrThrow(file, Long.toString(limit));
        } catch (IOException e) {
            String more = "";
            if (CgroupFiles.is(e, "EBUSY")) {
                more = " (current usage " + CgroupFiles.readLongOrZero(d.resolve("memory.usage_in_bytes"))
                        + ", peak " + CgroupFiles.readLongOrZero(d.resolve("memory.max_usage_in_bytes")) + ")";
            }
            throw CgroupFiles.failed(MEMORY + "/limit", file, Long.toString(limit), e, more);
        }
    }

    /** runc's fs/cpu.go, with its retries for period and quota that only fit in the other order. */
    private void cpu(Resources.Cpu c) {
        if (notEmpty(c.cpus())) {
            files.write(dir("cpuset").resolve("cpuset.cpus"), c.cpus(), CPU + "/cpus");
        }
        if (notEmpty(c.mems())) {
            files.write(dir("cpuset").resolve("cpuset.mems"), c.mems(), CPU + "/mems");
        }
        Path d = dir("cpu");
        if (d == null) {
            return;
        }
        long shares = orZero(c.shares());
        if (shares != 0) {
            Path file = d.resolve("cpu.shares");
            files.write(file, Long.toString(shares), CPU + "/shares");
            long read = CgroupFiles.readLong(file);
            if (read != shares) {
                throw new InvalidSpecException(CPU + "/shares", shares + " is out of the kernel's range: it set "
                        + read + (shares > read ? ", the maximum" : ", the minimum"));
            }
        }
        long quota = orZero(c.quota());
        String period = null;
        if (c.period() != null && c.period().signum() != 0) {
            period = c.period().toString();
            try {
                files.writeOrThrow(d.resolve("cpu.cfs_period_us"), period);
                period = null;
            } catch (IOException e) {
                // a smaller period can be refused while the old quota/period exceeds the parent's: retry after quota
                if (!CgroupFiles.is(e, "EINVAL") || quota == 0) {
                    throw CgroupFiles.failed(CPU + "/period", d.resolve("cpu.cfs_period_us"), period, e, "");
                }
            }
        }
        String burst = null;
        if (c.burst() != null) {
            burst = c.burst().toString();
            try {
                files.writeOrThrow(d.resolve("cpu.cfs_burst_us"), burst);
                burst = null;
            } catch (IOException e) {
                if (!CgroupFiles.is(e, "EINVAL") || quota == 0) {
                    throw CgroupFiles.failed(CPU + "/burst", d.resolve("cpu.cfs_burst_us"), burst, e, "");
                }
            }
        }
        if (quota != 0) {
            files.write(d.resolve("cpu.cfs_quota_us"), Long.toString(quota), CPU + "/quota");
            if (period != null) {
                files.write(d.resolve("cpu.cfs_period_us"), period, CPU + "/period");
            }
            if (burst != null) {
                files.write(d.resolve("cpu.cfs_burst_us"), burst, CPU + "/burst");
            }
        }
        if (c.idle() != null) {
            files.write(d.resolve("cpu.idle"), c.idle().toString(), CPU + "/idle");
        }
        String rtPeriod = null;
        long rtRuntime = orZero(c.realtimeRuntime());
        if (c.realtimePeriod() != null && c.realtimePeriod().signum() != 0) {
            rtPeriod = c.realtimePeriod().toString();
            try {
                files.writeOrThrow(d.resolve("cpu.rt_period_us"), rtPeriod);
                rtPeriod = null;
            } catch (IOException e) {
                if (!CgroupFiles.is(e, "EINVAL") || rtRuntime == 0) {
                    throw CgroupFiles.failed(CPU + "/realtimePeriod", d.resolve("cpu.rt_period_us"), rtPeriod, e, "");
                }
            }
        }
        if (rtRuntime != 0) {
            files.write(d.resolve("cpu.rt_runtime_us"), Long.toString(rtRuntime), CPU + "/realtimeRuntime");
            if (rtPeriod != null) {
                files.write(d.resolve("cpu.rt_period_us"), rtPeriod, CPU + "/realtimePeriod");
            }
        }
    }

    /** runc's fs/blkio.go: blkio.weight, or BFQ's files on kernels without CFQ. */
    private void blkio(Resources.BlockIo b) {
        Path d = dir("blkio");
        boolean bfq = !Files.exists(d.resolve("blkio.weight")) && Files.exists(d.resolve("blkio.bfq.weight"));
        if (b.weight() != null && b.weight() != 0) {
            files.write(d.resolve(bfq ? "blkio.bfq.weight" : "blkio.weight"), b.weight().toString(), BLKIO + "/weight");
        }
        if (b.leafWeight() != null && b.leafWeight() != 0) {
            files.write(d.resolve("blkio.leaf_weight"), b.leafWeight().toString(), BLKIO + "/leafWeight");
        }
        for (int i = 0; i < CgroupResources.list(b.weightDevice()).size(); i++) {
            Resources.WeightDevice w = CgroupResources.list(b.weightDevice()).get(i);
            String dev = w.major() + ":" + w.minor() + " ";
            if (w.weight() != null && w.weight() != 0) {
                files.write(d.resolve(bfq ? "blkio.bfq.weight_device" : "blkio.weight_device"), dev + w.weight(),
                        BLKIO + "/weightDevice/" + i + "/weight");
            }
            if (w.leafWeight() != null && w.leafWeight() != 0) {
                files.write(d.resolve("blkio.leaf_weight_device"), dev + w.leafWeight(),
                        BLKIO + "/weightDevice/" + i + "/leafWeight");
            }
        }
        throttle(d, CgroupResources.list(b.throttleReadBpsDevice()), "throttleReadBpsDevice", "blkio.throttle.read_bps_device");
        throttle(d, CgroupResources.list(b.throttleWriteBpsDevice()), "throttleWriteBpsDevice", "blkio.throttle.write_bps_device");
        throttle(d, CgroupResources.list(b.throttleReadIOPSDevice()), "throttleReadIOPSDevice", "blkio.throttle.read_iops_device");
        throttle(d, CgroupResources.list(b.throttleWriteIOPSDevice()), "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device");
    }

    private void throttle(Path d, List<Resources.ThrottleDevice> list, String field, String file) {
        for (int i = 0; i < list.size(); i++) {
            Resources.ThrottleDevice t = list.get(i);
            files.write(d.resolve(file), t.major() + ":" + t.minor() + " " + t.rate(), BLKIO + "/" + field + "/" + i);
        }
    }

    /**
     * Writes FROZEN and waits for the state to settle, as runc's fs/freezer.go: a freeze can stay
     * in FREEZING while a task is in an uninterruptible sleep; thawing and freezing again unsticks it.
     */
    @Override
    public void freeze() {
        Path state = freezer("pause").resolve("freezer.state");
        long deadline = System.currentTimeMillis() + FREEZE_TIMEOUT_MS;
        for (int i = 0; ; i++) {
            if (i % 50 == 49) {
                files.write(state, "THAWED", "");
                CgroupTree.sleep(10);
            }
            files.write(state, "FROZEN", "");
            if (i % 25 == 24) {
                CgroupTree.sleep(10);
            }
            if (CgroupFiles.read(state).strip().equals("FROZEN")) {
                return;
            }
            if (System.currentTimeMillis() > deadline) {
                files.write(state, "THAWED", "");
                throw new CapsaException("cgroup " + state.getParent() + " did not freeze within "
                        + FREEZE_TIMEOUT_MS / 1000 + " s (state " + CgroupFiles.read(state).strip() + "); thawed it again");
            }
            CgroupTree.sleep(1);
        }
    }

    @Override
    public void thaw() {
        Path state = freezer("resume").resolve("freezer.state");
        long deadline = System.currentTimeMillis() + FREEZE_TIMEOUT_MS;
        files.write(state, "THAWED", "");
        while (!CgroupFiles.read(state).strip().equals("THAWED")) {
            if (System.currentTimeMillis() > deadline) {
                throw new CapsaException("cgroup " + state.getParent() + " did not thaw within "
                        + FREEZE_TIMEOUT_MS / 1000 + " s");
            }
            CgroupTree.sleep(1);
            files.write(state, "THAWED", "");
        }
    }

    @Override
    public boolean frozen() {
        Path d = dir("freezer");
        return d != null && Files.exists(d.resolve("freezer.state"))
                && CgroupFiles.read(d.resolve("freezer.state")).strip().equals("FROZEN");
    }

    private Path freezer(String operation) {
        Path d = dir("freezer");
        if (d == null) {
            throw new CapsaException(operation + " needs the freezer cgroup controller, which this host does not mount");
        }
        return d;
    }

    /** From the pids hierarchy, else the freezer's, else any mounted one: every hierarchy holds every task. */
    @Override
    public List<Long> pids() {
        for (String c : List.of("pids", "freezer", "memory", "cpu", "devices")) {
            if (dir(c) != null) {
                return CgroupTree.procs(dir(c));
            }
        }
        return dirs.isEmpty() ? List.of() : CgroupTree.procs(dirs.values().iterator().next());
    }

    @Override
    public long oomKills() {
        Path mem = dir("memory");
        if (mem == null || !Files.isDirectory(mem)) {
            return -1;
        }
        return CgroupFiles.readKeyed(mem.resolve("memory.oom_control")).getOrDefault("oom_kill", -1L);
    }

    @Override
    public ObjectNode stats() {
        CgroupStats s = new CgroupStats();
        Path acct = dir("cpuacct");
        if (acct != null && Files.isDirectory(acct)) {
            Map<String, Long> stat = CgroupFiles.readKeyed(acct.resolve("cpuacct.stat"));
            List<Long> percpu = new ArrayList<>();
            Path file = acct.resolve("cpuacct.usage_percpu");
            if (Files.exists(file)) {
                for (String v : CgroupFiles.read(file).strip().split("\\s+")) {
                    if (!v.isEmpty()) {
                        percpu.add(Long.parseUnsignedLong(v));
                    }
                }
            }
            s.cpuUsage(CgroupFiles.readLongOrZero(acct.resolve("cpuacct.usage")), percpu,
                    stat.getOrDefault("system", 0L) * NANOS_PER_USER_HZ, stat.getOrDefault("user", 0L) * NANOS_PER_USER_HZ);
        }
        Path cpu = dir("cpu");
        if (cpu != null && Files.isDirectory(cpu)) {
            Map<String, Long> stat = CgroupFiles.readKeyed(cpu.resolve("cpu.stat"));
            s.throttling(stat.getOrDefault("nr_periods", 0L), stat.getOrDefault("nr_throttled", 0L),
                    stat.getOrDefault("throttled_time", 0L));
        }
        Path mem = dir("memory");
        if (mem != null && Files.isDirectory(mem)) {
            memoryEntry(s, mem, "usage", "memory.");
            memoryEntry(s, mem, "swap", "memory.memsw.");
            memoryEntry(s, mem, "kernel", "memory.kmem.");
            memoryEntry(s, mem, "kernelTCP", "memory.kmem.tcp.");
            Map<String, Long> raw = CgroupFiles.readKeyed(mem.resolve("memory.stat"));
            s.memoryRaw(raw, raw.getOrDefault("cache", 0L));
        }
        Path pids = dir("pids");
        if (pids != null && Files.isDirectory(pids)) {
            long limit = Files.exists(pids.resolve("pids.max")) ? CgroupFiles.readLong(pids.resolve("pids.max")) : 0;
            s.pids(CgroupFiles.readLongOrZero(pids.resolve("pids.current")), Math.max(limit, 0));
        }
        Path blkio = dir("blkio");
        if (blkio != null && Files.isDirectory(blkio)) {
            blkioList(s, blkio, "ioServiceBytesRecursive", "io_service_bytes_recursive");
            blkioList(s, blkio, "ioServicedRecursive", "io_serviced_recursive");
        }
        Path huge = dir("hugetlb");
        if (huge != null && Files.isDirectory(huge)) {
            for (String size : hugepageSizes(huge)) {
                String p = "hugetlb." + size + ".";
                s.hugetlb(size, CgroupFiles.readLongOrZero(huge.resolve(p + "usage_in_bytes")),
                        CgroupFiles.readLongOrZero(huge.resolve(p + "max_usage_in_bytes")),
                        CgroupFiles.readLongOrZero(huge.resolve(p + "failcnt")));
            }
        }
        return s.json();
    }

    private static void memoryEntry(CgroupStats s, Path d, String entry, String prefix) {
        if (!Files.exists(d.resolve(prefix + "usage_in_bytes"))) {
            return;
        }
        s.memory(entry, CgroupFiles.readLongOrZero(d.resolve(prefix + "limit_in_bytes")),
                CgroupFiles.readLongOrZero(d.resolve(prefix + "usage_in_bytes")),
                CgroupFiles.readLongOrZero(d.resolve(prefix + "max_usage_in_bytes")),
                CgroupFiles.readLongOrZero(d.resolve(prefix + "failcnt")));
    }

    /** blkio.X (CFQ), else blkio.bfq.X, else blkio.throttle.X, as runc's fs/blkio.go picks; lines "8:0 Read 4096". */
    private static void blkioList(CgroupStats s, Path d, String list, String name) {
        for (String prefix : List.of("blkio.", "blkio.bfq.", "blkio.throttle.")) {
            Path file = d.resolve(prefix + name);
            if (Files.exists(file)) {
                for (String line : CgroupFiles.read(file).split("\n")) {
                    String[] f = line.strip().split("\\s+");
                    if (f.length == 3 && f[0].contains(":")) {
                        String[] mm = f[0].split(":");
                        s.blkio(list, Long.parseLong(mm[0]), Long.parseLong(mm[1]), f[1], Long.parseUnsignedLong(f[2]));
                    }
                }
                return;
            }
        }
    }

    static List<String> hugepageSizes(Path d) {
        LinkedHashSet<String> sizes = new LinkedHashSet<>();
        try (Stream<Path> list = Files.list(d)) {
            list.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith("hugetlb.") && n.split("\\.").length == 3)
                    .map(n -> n.split("\\.")[1])
                    .sorted()
                    .forEach(sizes::add);
        } catch (IOException e) {
            throw new CapsaException("listing " + d + ": " + CgroupFiles.errno(e), e);
        }
        return List.copyOf(sizes);
    }

    @Override
    public boolean exists() {
        return dirs.values().stream().anyMatch(Files::isDirectory);
    }

    @Override
    public void destroy() {
        List<String> failures = new ArrayList<>();
        CapsaException first = null;
        for (Path d : new LinkedHashSet<>(dirs.values())) {
            try {
                CgroupTree.remove(d);
            } catch (CapsaException e) {
                failures.add(e.getMessage());
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            // every hierarchy was tried: report them all
            throw new CapsaException(String.join("; ", failures), first);
        }
    }

    private static boolean notEmpty(String s) {
        return s != null && !s.isEmpty();
    }
}
