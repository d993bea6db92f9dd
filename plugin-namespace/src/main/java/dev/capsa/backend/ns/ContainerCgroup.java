package dev.capsa.backend.ns;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.backend.ns.cgroup.CgroupHost;
import dev.capsa.backend.ns.cgroup.CgroupManager;
import dev.capsa.backend.ns.cgroup.CgroupMode;
import dev.capsa.backend.ns.cgroup.CgroupPath;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.error.SyscallException;
import dev.capsa.fault.FaultStep;
import dev.capsa.fault.Faults;
import dev.capsa.os.Os;
import dev.capsa.os.Signals;
import dev.capsa.spec.Json;
import dev.capsa.spec.Linux;
import dev.capsa.spec.Resources;
import dev.capsa.spec.Spec;
import dev.capsa.spi.ContainerContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A container's cgroup as the ns backend uses it: made and written at create, before capsa-init
 * runs (so a refused limit leaves no process behind), recorded in the container's data as the
 * exact directories, and reopened from them by every later command (a relative cgroupsPath depends
 * on the cgroup of the capsa process that resolved it, so it is never resolved twice).
 *
 * <p>The limits last applied are kept in {@code resources.json} in the state dir: {@code update}
 * merges into them, as runc merges an update into the container's config.
 */
final class ContainerCgroup {
    /** The container-data key: {"mode":"V1","paths":{"memory":"/sys/fs/cgroup/memory/x",...}}. */
    static final String DATA_KEY = "cgroup";
    static final String RESOURCES_FILE = "resources.json";
    private static final String POINTER = "/linux/resources";
    private static final long GONE_TIMEOUT_MS = 10_000;
    private static final int ESRCH = 3;

    private final CgroupManager manager;

    private ContainerCgroup(CgroupManager manager) {
        this.manager = manager;
    }

    CgroupManager manager() {
        return manager;
    }

    /**
     * create: resolves cgroupsPath, checks the resources (nothing written yet), refuses a cgroup
     * that other processes use, makes the directories, records them (from here on delete removes
     * them), and writes the limits.
     */
    static ContainerCgroup create(ContainerContext ctx, boolean systemdCgroup) {
        Linux linux = ctx.spec().linux();
        Resources resources = linux == null ? null : linux.resources();
        CgroupHost host = CgroupHost.detect();
        CgroupManager m = host.manager(CgroupPath.of(linux == null ? null : linux.cgroupsPath(), ctx.id(),
                systemdCgroup));
        m.check(resources);
        if (m.exists()) {
            // runc 1.2 refuses too: delete kills every process in the container's cgroup
            List<Long> pids = m.pids();
            if (!pids.isEmpty()) {
                throw new CapsaException("container \"" + ctx.id() + "\": its cgroup " + where(m)
                        + " is not empty: " + pids.size() + " process(es) found; give it a cgroupsPath of its own");
            }
            if (m.frozen()) {
                throw new CapsaException("container \"" + ctx.id() + "\": its cgroup " + where(m)
                        + " exists and is frozen");
            }
        }
        // recorded before it is made: a capsa killed in between leaves a cgroup that delete still finds
        ctx.putData(DATA_KEY, encode(m));
        m.create();
        Faults.at(FaultStep.NS_CGROUP_MADE);
        m.set(resources);
        saveResources(ctx, resources == null ? Json.mapper().createObjectNode() : Json.mapper().valueToTree(resources));
        return new ContainerCgroup(m);
    }

    /** The cgroup recorded at create, or empty for a container that has none (a create that failed early). */
    static Optional<ContainerCgroup> of(ContainerContext ctx) {
        return ctx.data(DATA_KEY).map(ContainerCgroup::decode).map(ContainerCgroup::new);
    }

    /**
     * The plan records: the container's cgroup.procs in every hierarchy to join; for a stage 0 that
     * stays (foreground run or exec), capsa's own cgroups in the same hierarchies to go back to.
     */
    LaunchPlan.PlanCgroup plan(boolean monitor) {
        List<Path> join = new ArrayList<>();
        for (Path dir : new LinkedHashSet<>(manager.paths().values())) {
            join.add(dir.resolve("cgroup.procs"));
        }
        List<Path> leave = new ArrayList<>();
        if (monitor) {
            Map<String, Path> own = CgroupHost.detect().ownDirs();
            for (String key : manager.paths().keySet()) {
                Path dir = own.get(key);
                if (dir == null) {
                    throw new CapsaException("capsa's own cgroup in the \"" + key
                            + "\" hierarchy is not in /proc/self/cgroup");
                }
                leave.add(dir.resolve("cgroup.procs"));
            }
        }
        return new LaunchPlan.PlanCgroup(join, leave);
    }

    boolean frozen() {
        return manager.exists() && manager.frozen();
    }

    List<Long> pids() {
        return manager.pids();
    }

    /** kill --all: every process in the cgroup. */
    void signalAll(Os os, int signal) {
        for (long pid : manager.pids()) {
            kill(os, pid, signal);
        }
    }

    /**
     * delete: SIGKILL to every process left in the cgroup until none is (a frozen cgroup is thawed,
     * as a frozen task takes its SIGKILL only when it runs), then the directories in every hierarchy.
     */
    /**
     * delete --force of a container whose state is lost: the cgroup its config.json names (as
     * create resolved it) loses its processes and its directories. Create refused a cgroup that
     * other processes used, so it was the container's alone; still, a cgroup that holds the caller
     * (or is above it) or a hierarchy's root is never touched.
     */
    static void destroyOrphan(String id, Spec spec, boolean systemdCgroup, Os os) {
        Linux linux = spec.linux();
        CgroupHost host = CgroupHost.detect();
        CgroupManager m = host.manager(CgroupPath.of(linux == null ? null : linux.cgroupsPath(), id, systemdCgroup));
        if (!m.exists()) {
            return;
        }
        Map<String, Path> own = host.ownDirs();
        for (Map.Entry<String, Path> e : m.paths().entrySet()) {
            Path mine = own.get(e.getKey());
            Path dir = e.getValue();
            if (dir.getParent() == null || (mine != null && mine.startsWith(dir)) || mountRoot(dir)) {
                throw new CapsaException("container \"" + id + "\": its cgroup " + dir
                        + " holds capsa's caller or is a hierarchy's root: not touched");
            }
        }
        new ContainerCgroup(m).destroy(os, id);
    }

    /** Whether dir is where a hierarchy is mounted: another device than its parent's. */
    private static boolean mountRoot(Path dir) {
        try {
            return !Files.getAttribute(dir, "unix:dev").equals(Files.getAttribute(dir.getParent(), "unix:dev"));
        } catch (IOException | RuntimeException e) {
            return true; // cannot tell: leave it alone
        }
    }

    void destroy(Os os, String id) {
        if (!manager.exists()) {
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GONE_TIMEOUT_MS);
        for (List<Long> pids = manager.pids(); !pids.isEmpty(); pids = manager.pids()) {
            if (System.nanoTime() > deadline) {
                throw new CapsaException("container \"" + id + "\": processes " + pids + " are still in cgroup "
                        + where(manager) + " " + GONE_TIMEOUT_MS + " ms after SIGKILL");
            }
            for (long pid : pids) {
                kill(os, pid, Signals.SIGKILL);
            }
            if (manager.frozen()) {
                manager.thaw();
            }
            sleep(5);
        }
        manager.destroy();
    }

    /**
     * runc update: {@code update} (linux.resources JSON, possibly partial) is merged field by field
     * into the resources last applied; the merged whole is checked, and the top-level sections the
     * update names (memory, cpu, pids, blockIO, ...) are written with their merged values.
     */
    void update(ContainerContext ctx, JsonNode update) {
        if (update == null || !update.isObject()) {
            throw new InvalidSpecException(POINTER, "expected an object");
        }
        toResources(update); // type errors point into the update itself
        ObjectNode merged = loadResources(ctx);
        merge(merged, (ObjectNode) update);
        ObjectNode touched = Json.mapper().createObjectNode();
        update.fieldNames().forEachRemaining(name -> {
            if (merged.has(name)) {
                touched.set(name, merged.get(name));
            }
        });
        manager.check(toResources(merged));
        manager.update(toResources(touched));
        saveResources(ctx, merged);
    }

    ObjectNode stats() {
        return manager.stats();
    }

    // ---- internals

    /** Objects merge key by key, at every level; arrays and values replace; a null in the update changes nothing. */
    static void merge(ObjectNode into, ObjectNode update) {
        for (Iterator<Map.Entry<String, JsonNode>> it = update.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode old = into.get(e.getKey());
            if (e.getValue().isNull()) {
                continue;
            }
            if (old instanceof ObjectNode o && e.getValue() instanceof ObjectNode u) {
                merge(o, u);
            } else {
                into.set(e.getKey(), e.getValue().deepCopy());
            }
        }
    }

    static Resources toResources(JsonNode json) {
        try {
            return Json.mapper().treeToValue(json, Resources.class);
        } catch (JsonMappingException e) {
            StringBuilder at = new StringBuilder(POINTER);
            for (JsonMappingException.Reference ref : e.getPath()) {
                if (ref.getFieldName() != null) {
                    at.append('/').append(ref.getFieldName().replace("~", "~0").replace("/", "~1"));
                } else if (ref.getIndex() >= 0) {
                    at.append('/').append(ref.getIndex());
                }
            }
            String why = e.getOriginalMessage() == null ? "" : e.getOriginalMessage().lines().findFirst().orElse("");
            throw new InvalidSpecException(at.toString(), "invalid value: " + why, e);
        } catch (JsonProcessingException e) {
            throw new InvalidSpecException(POINTER, e.getOriginalMessage(), e);
        }
    }

    private static ObjectNode loadResources(ContainerContext ctx) {
        Path file = ctx.stateDir().resolve(RESOURCES_FILE);
        try {
            if (Files.exists(file)) {
                JsonNode json = Json.mapper().readTree(file.toFile());
                if (json instanceof ObjectNode o) {
                    return o;
                }
            }
        } catch (IOException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": cannot read " + file + ": " + e.getMessage(), e);
        }
        Linux linux = ctx.spec().linux();
        return linux == null || linux.resources() == null ? Json.mapper().createObjectNode()
                : Json.mapper().valueToTree(linux.resources());
    }

    private static void saveResources(ContainerContext ctx, JsonNode resources) {
        Path file = ctx.stateDir().resolve(RESOURCES_FILE);
        Path tmp = ctx.stateDir().resolve(RESOURCES_FILE + ".tmp");
        try {
            Files.write(tmp, Json.mapper().writeValueAsString(resources).getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new CapsaException("container \"" + ctx.id() + "\": cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    static String encode(CgroupManager m) {
        ObjectNode json = Json.mapper().createObjectNode();
        json.put("mode", m.mode().name());
        ObjectNode paths = json.putObject("paths");
        m.paths().forEach((key, dir) -> paths.put(key, dir.toString()));
        return json.toString();
    }

    static CgroupManager decode(String data) {
        try {
            JsonNode json = Json.mapper().readTree(data);
            Map<String, Path> paths = new LinkedHashMap<>();
            json.get("paths").fields().forEachRemaining(e -> paths.put(e.getKey(), Path.of(e.getValue().asText())));
            return CgroupHost.reopen(CgroupMode.valueOf(json.get("mode").asText()), paths);
        } catch (IOException | RuntimeException e) {
            throw new CapsaException("the container's recorded cgroup \"" + data + "\" cannot be read: " + e.getMessage(),
                    e);
        }
    }

    /** One directory to name the cgroup in a message: memory's on v1, else any. */
    private static String where(CgroupManager m) {
        Map<String, Path> paths = m.paths();
        Path dir = paths.getOrDefault("memory", paths.getOrDefault("", paths.values().iterator().next()));
        return dir.toString();
    }

    private static void kill(Os os, long pid, int signal) {
        try {
            os.kill(pid, signal);
        } catch (SyscallException e) {
            if (e.errno() != ESRCH) { // it ended meanwhile
                throw e;
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted");
        }
    }
}
