package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The ns backend's cgroups as a runc user meets them, on this host's real cgroup v1 hierarchies,
 * as root: limits proved by their effect inside busybox containers, the values in the host's
 * cgroup files, pause, update, events, ps, and every directory gone after delete. Each test uses
 * its own absolute cgroupsPath, /capsa-it-RANDOM, and touches no other cgroup.
 */
@Tag("integration")
class NamespaceCgroupIT extends BusyboxBundle {
    private static final Path CGROUP = Path.of("/sys/fs/cgroup");
    private static final long MIB = 1024 * 1024;
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "sleep", "true", "head", "dd", "grep");

    private String cgroup;

    NamespaceCgroupIT() {
        super(APPLETS, false);
    }

    @Override
    void assumeHost() {
        super.assumeHost();
        assumeTrue(Files.isDirectory(CGROUP.resolve("memory")) && Files.isDirectory(CGROUP.resolve("pids"))
                        && Files.isDirectory(CGROUP.resolve("freezer")),
                "this host does not mount the cgroup v1 memory, pids and freezer hierarchies (v2 is covered by "
                        + "CgroupV2Test's fixtures)");
    }

    @BeforeEach
    void cgroup() throws Exception {
        cgroup = "capsa-it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
        config(json -> {
            ObjectNode linux = (ObjectNode) json.get("linux");
            linux.put("cgroupsPath", "/" + cgroup);
            ((ArrayNode) linux.get("namespaces")).addObject().put("type", "cgroup");
        });
    }

    @Override
    void assertNothingElseLeft() throws Exception {
        assertEquals(List.of(), leftovers(), "cgroups left behind");
    }

    /** This test's cgroup in every hierarchy mounted under /sys/fs/cgroup (named and unified included). */
    private List<Path> leftovers() throws IOException {
        List<Path> left = new ArrayList<>();
        for (Path hierarchy : hierarchies()) {
            if (Files.exists(hierarchy.resolve(cgroup))) {
                left.add(hierarchy.resolve(cgroup));
            }
        }
        return left;
    }

    private static List<Path> hierarchies() throws IOException {
        List<Path> points = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] halves = line.split(" - ", 2);
            String type = halves.length == 2 ? halves[1].split(" ")[0] : "";
            Path point = Path.of(halves[0].split(" ")[4]);
            if ((type.equals("cgroup") || type.equals("cgroup2")) && point.startsWith(CGROUP)) {
                points.add(point);
            }
        }
        return points;
    }

    private void resources(Consumer<ObjectNode> edit) throws IOException {
        config(json -> edit.accept((ObjectNode) json.get("linux").get("resources")));
    }

    private String file(String hierarchy, String name) throws IOException {
        return Files.readString(CGROUP.resolve(hierarchy).resolve(cgroup).resolve(name)).strip();
    }

    private static String statusState(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("State:")).findFirst().orElseThrow().split("\\s+")[1];
    }

    private static void eventually(String what, java.util.function.BooleanSupplier check) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!check.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(20);
        }
    }

    @Test
    void aPidsLimitMakesForksFailAndTheContainerSurvives() throws Exception {
        resources(r -> r.putObject("pids").put("limit", 5));
        args("sh", "-c", "cat /proc/self/cgroup; sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 30 & done'; "
                + "echo survived");
        Result r = capsa("run", id("pids"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("can't fork"), r.err());
        assertTrue(r.out().endsWith("survived\n"), r.out());
        // the cgroup namespace is rooted at the container's cgroup, in every hierarchy it joined
        List<String> cgroups = r.out().lines().filter(l -> l.matches("\\d+:.*")).toList();
        assertEquals(hierarchies().size(), cgroups.size(), r.out());
        assertTrue(cgroups.stream().allMatch(l -> l.endsWith(":/")), r.out());
    }

    @Test
    void eventsReportsAnOomAsSoonAsTheKillerStrikes() throws Exception {
        resources(r -> r.putObject("memory").put("limit", 32 * MIB));
        // the hog runs a second after start; the container lives on after it is killed
        args("sh", "-c", "sleep 1; dd if=/dev/zero bs=64M count=1 of=/dev/null 2>/dev/null; echo big=$?; sleep 30");
        String id = id("oomevents");
        Result run = capsa("run", "--detach", id);
        assertEquals(0, run.code(), run.err());
        // a stats interval far longer than the test: what arrives early is the oom event
        Path out = tmp.resolve("events.out");
        Process events = new ProcessBuilder(command("events", "--interval", "60s", id))
                .redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            eventually("an oom event", () -> {
                try {
                    return Files.readString(out).contains("\"type\":\"oom\"");
                } catch (IOException e) {
                    return false;
                }
            });
            List<String> lines = Files.readAllLines(out);
            assertTrue(lines.get(0).startsWith("{\"type\":\"stats\""), lines.toString());
            assertEquals("{\"type\":\"oom\",\"id\":\"" + id + "\"}", lines.get(1), lines.toString());
        } finally {
            events.destroyForcibly().waitFor();
        }
    }

    @Test
    void aMemoryLimitOomKillsAHogInside() throws Exception {
        resources(r -> r.putObject("memory").put("limit", 32 * MIB));
        // busybox dd allocates its block size: 16 MiB fits under the limit, 64 MiB does not (no swap here)
        args("sh", "-c", "dd if=/dev/zero bs=16M count=1 of=/dev/null 2>/dev/null; echo small=$?; "
                + "dd if=/dev/zero bs=64M count=1 of=/dev/null 2>/dev/null; echo big=$?");
        Result r = capsa("run", id("oom"));
        assertEquals(0, r.code(), r.err());
        assertEquals("small=0\nbig=137\n", r.out(), "the 64 MiB dd is killed by SIGKILL (128 + 9)");
    }

    @Test
    void aRunningContainerIsPausedUpdatedMeasuredListedAndRemoved() throws Exception {
        resources(r -> {
            r.putObject("memory").put("limit", 32 * MIB);
            r.putObject("pids").put("limit", 20);
        });
        args("sleep", "600");
        String id = id("life");
        Result run = capsa("run", "--detach", id);
        assertEquals(0, run.code(), run.err());
        long init = state(id).get("pid").asLong();

        // the limits on the host, and the init in this cgroup in every hierarchy
        assertEquals(Long.toString(32 * MIB), file("memory", "memory.limit_in_bytes"));
        assertEquals("20", file("pids", "pids.max"));
        List<String> initCgroups = Files.readAllLines(Path.of("/proc/" + init + "/cgroup"));
        assertEquals(hierarchies().size(), initCgroups.size(), initCgroups.toString());
        assertTrue(initCgroups.stream().allMatch(l -> l.endsWith(":/" + cgroup)), initCgroups.toString());

        // exec'd processes join it too
        Path pidFile = tmp.resolve("exec.pid");
        Result exec = capsa("exec", "--detach", "--pid-file", pidFile.toString(), id, "sleep", "600");
        assertEquals(0, exec.code(), exec.err());
        long execPid = Long.parseLong(Files.readString(pidFile).strip());
        assertEquals(initCgroups, Files.readAllLines(Path.of("/proc/" + execPid + "/cgroup")));
        Result inside = capsa("exec", id, "--", "cat", "/proc/self/cgroup");
        assertEquals(0, inside.code(), inside.err());
        assertTrue(inside.out().lines().allMatch(l -> l.endsWith(":/")), inside.out());

        Result ps = capsa("ps", "--format", "json", id);
        assertEquals(0, ps.code(), ps.err());
        List<Long> pids = new ArrayList<>();
        Json.mapper().readTree(ps.out()).forEach(p -> pids.add(p.asLong()));
        assertEquals(List.of(init, execPid), pids.stream().sorted().toList());
        assertEquals(List.of(Long.toString(init), Long.toString(execPid)),
                file("pids", "cgroup.procs").lines().sorted().toList(),
                "no capsa-init is left in the container's cgroup");

        assertEquals(0, capsa("pause", id).code());
        assertEquals("paused", state(id).get("status").asText());
        assertEquals("FROZEN", file("freezer", "freezer.state"));
        eventually("frozen processes are in D state", () -> {
            try {
                return statusState(init).equals("D") && statusState(execPid).equals("D");
            } catch (IOException e) {
                return false;
            }
        });
        Result again = capsa("pause", id);
        assertEquals(1, again.code(), "pause of a paused container");
        assertEquals(0, capsa("resume", id).code());
        assertEquals("running", state(id).get("status").asText());
        assertEquals("S", statusState(init));

        Result update = capsa("update", "--memory", "64m", id);
        assertEquals(0, update.code(), update.err());
        assertEquals(Long.toString(64 * MIB), file("memory", "memory.limit_in_bytes"));
        assertEquals("20", file("pids", "pids.max"), "update leaves what it does not name");
        update = capsa("update", "--pids-limit", "30", id);
        assertEquals(0, update.code(), update.err());
        assertEquals("30", file("pids", "pids.max"));
        assertEquals(Long.toString(64 * MIB), file("memory", "memory.limit_in_bytes"), "the earlier update stays");
        Result bad = capsa("update", "--cpuset-cpus", "99", id);
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("/linux/resources/cpu/cpus"), bad.err());

        Result events = capsa("events", "--stats", id);
        assertEquals(0, events.code(), events.err());
        JsonNode event = Json.mapper().readTree(events.out());
        assertEquals("stats", event.get("type").asText());
        assertEquals(id, event.get("id").asText());
        assertTrue(event.at("/data/memory/usage/usage").asLong() > 0, events.out());
        assertEquals(64 * MIB, event.at("/data/memory/usage/limit").asLong(), events.out());
        assertEquals(2, event.at("/data/pids/current").asLong(), events.out());

        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(ProcessHandle.of(execPid).map(ProcessHandle::isAlive).orElse(false), "exec'd process " + execPid);
        assertEquals(List.of(), leftovers());
    }

    @Test
    void aPausedContainerIsDeletedWithForce() throws Exception {
        args("sleep", "600");
        String id = id("paused");
        assertEquals(0, capsa("run", "--detach", id).code());
        assertEquals(0, capsa("pause", id).code());
        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertEquals(List.of(), leftovers());
    }

    @Test
    void aCgroupInUseByAnotherContainerIsRefusedAndLeftAlone() throws Exception {
        args("sleep", "600");
        assertEquals(0, capsa("run", "--detach", id("first")).code());
        long first = state("first").get("pid").asLong();
        Result second = capsa("run", "--detach", id("second"));
        assertEquals(1, second.code());
        assertTrue(second.err().contains("is not empty: 1 process(es) found"), second.err());
        assertEquals("running", state("first").get("status").asText());
        assertEquals(List.of(Long.toString(first)), file("pids", "cgroup.procs").lines().toList());
    }

    @Test
    void aFailedCreateLeavesNoCgroup() throws Exception {
        args("no-such-command");
        Result r = capsa("run", id("missing"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("executable file not found"), r.err());
        assertEquals(List.of(), leftovers());

        args("true");
        resources(res -> res.putObject("cpu").put("cpus", "99"));
        r = capsa("create", id("cpus"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/linux/resources/cpu/cpus: writing 99 to "), r.err());
        assertEquals(List.of(), leftovers());
        assertFalse(Files.exists(root.resolve("cpus")));

        resources(res -> res.putObject("cpu").put("shares", -1));
        r = capsa("create", id("shares"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/linux/resources/cpu/shares"), r.err());
        assertEquals(List.of(), leftovers());
    }

    @Test
    void featuresReportTheCgroupDrivers() throws Exception {
        Result r = capsa("features");
        assertEquals(0, r.code(), r.err());
        JsonNode cgroup = Json.mapper().readTree(r.out()).at("/linux/cgroup");
        assertEquals(Json.mapper().readTree("{\"v1\":true,\"v2\":true,\"systemd\":false,\"systemdUser\":false,"
                + "\"rdma\":true}"), cgroup);
        assertEquals("devices.allow/deny on v1, eBPF BPF_CGROUP_DEVICE program on v2",
                Json.mapper().readTree(r.out()).at("/annotations/dev.capsa.ns.cgroup.devices").asText());
    }
}
