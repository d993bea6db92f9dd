package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class GuestPlanTest {
    private static Spec spec(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode json = Json.mapper().valueToTree(DefaultSpec.example(false));
        ((ObjectNode) json.get("process")).put("terminal", false);
        edit.accept(json);
        return SpecLoader.parse(Json.mapper().writeValueAsBytes(json));
    }

    @Test
    void theDefaultSpecBecomesMountsDevicesAReadOnlyRootAndTheProcess() throws Exception {
        GuestPlan plan = GuestPlan.from(spec(j -> { }), true);
        List<List<String>> o = plan.orders();
        assertEquals(List.of("hostname", "capsa"), o.getFirst());
        assertTrue(o.contains(List.of("mount", "proc", "/proc", "proc", "0", "")), o.toString());
        assertTrue(o.contains(List.of("mount", "tmpfs", "/dev", "tmpfs", "2", "strictatime,mode=755,size=65536k"))
                || o.contains(List.of("mount", "tmpfs", "/dev", "tmpfs", Long.toString(2 | (1 << 24)),
                "mode=755,size=65536k")), o.toString());
        assertTrue(o.contains(List.of("mount", "cgroup", "/sys/fs/cgroup", "cgroup2", Long.toString(1 | 2 | 4 | 8 | (1 << 21)),
                "")), o.toString());
        assertTrue(o.contains(List.of("mknod", "/dev/null", "0020666", "1", "3")), o.toString());
        int remount = o.indexOf(List.of("mount", "none", "/", "", Long.toString(32 | 4096 | 1), ""));
        assertTrue(remount > o.indexOf(List.of("mknod", "/dev/null", "0020666", "1", "3")), "read-only root last");
        assertEquals(List.of(List.of("arg", "sh"), List.of("env",
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), List.of("env", "TERM=xterm"),
                List.of("cwd", "/"), List.of("user", "0", "0", "-1"), List.of("groups"), List.of("stdin", "1"),
                List.of("exitpoweroff", "0")), o.subList(remount + 1, o.size()));
        assertEquals(256, plan.memoryMib());
        assertEquals(1, plan.cpus());
    }

    @Test
    void aDetachedGuestPowersOffWhenItsProcessEnds() throws Exception {
        List<List<String>> o = GuestPlan.from(spec(j -> { }), false).orders();
        assertEquals(List.of(List.of("stdin", "0"), List.of("exitpoweroff", "1")), o.subList(o.size() - 2, o.size()));
    }

    @Test
    void memoryAndCpuLimitsSizeTheGuest() throws Exception {
        GuestPlan plan = GuestPlan.from(spec(j -> {
            ObjectNode res = ((ObjectNode) j.get("linux")).putObject("resources");
            res.putObject("memory").put("limit", 512L << 20);
            res.putObject("cpu").put("quota", 150_000).put("period", 100_000);
        }), true);
        assertEquals(512 + GuestPlan.MEMORY_OVERHEAD_MIB, plan.memoryMib());
        assertEquals(Math.min(2, Runtime.getRuntime().availableProcessors()), plan.cpus());
    }

    private static void refused(String pointer, Consumer<ObjectNode> edit) throws Exception {
        Spec s = spec(edit);
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> GuestPlan.from(s, true));
        assertEquals(pointer, e.pointer(), e.getMessage());
    }

    @Test
    void securityFieldsTheGuestDoesNotEnforceAreRefusedByPointer() throws Exception {
        refused("/linux/seccomp", j -> ((ObjectNode) j.get("linux")).putObject("seccomp").put("defaultAction",
                "SCMP_ACT_ALLOW"));
        refused("/process/capabilities/bounding/3", j -> ((ObjectNode) j.at("/process/capabilities"))
                .withArray("bounding").add("CAP_SYS_ADMIN"));
        refused("/linux/uidMappings", j -> ((ObjectNode) j.get("linux")).putArray("uidMappings").addObject()
                .put("containerID", 0).put("hostID", 1000).put("size", 1));
        refused("/process/terminal", j -> ((ObjectNode) j.get("process")).put("terminal", true));
        refused("/mounts/0", j -> j.withArray("mounts").insertObject(0).put("destination", "/data")
                .put("type", "bind").put("source", "/tmp").putArray("options").add("rbind"));
        refused("/linux/namespaces/0/path", j -> ((ObjectNode) j.at("/linux/namespaces/0")).put("path",
                "/proc/1/ns/pid"));
    }
}
