package dev.capsa.backend.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.CreateOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessAttributesTest {
    private static final LaunchPlan.Files FILES =
            new LaunchPlan.Files(Path.of("/run/capsa/c1/exec.fifo"), Path.of("/run/capsa/c1/exit"));
    private static final LaunchPlan.Host HOST = new LaunchPlan.Host(true, 40);

    private static Spec spec(Consumer<ObjectNode> edit) {
        ObjectNode json = Json.mapper().valueToTree(DefaultSpec.example(false));
        ((ObjectNode) json.get("process")).put("terminal", false);
        edit.accept(json);
        return SpecLoader.parse(json.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static LaunchPlan plan(Spec spec, LaunchPlan.Host host) {
        return LaunchPlan.from("c1", spec, Path.of("/b"), CreateOptions.defaults(), FILES, host);
    }

    private static String encoded(Consumer<ObjectNode> edit) {
        return new String(plan(spec(edit), HOST).encode(), StandardCharsets.UTF_8);
    }

    private static InvalidSpecException refused(Consumer<ObjectNode> edit) {
        return assertThrows(InvalidSpecException.class, () -> plan(spec(edit), HOST));
    }

    private static ObjectNode process(ObjectNode j) {
        return (ObjectNode) j.get("process");
    }

    private static ObjectNode linux(ObjectNode j) {
        return (ObjectNode) j.get("linux");
    }

    @Test
    void schedulerBecomesSchedAttr() {
        String text = encoded(j -> process(j).putObject("scheduler").put("policy", "SCHED_FIFO").put("priority", 10)
                .putArray("flags").add("SCHED_FLAG_RESET_ON_FORK"));
        assertTrue(text.contains("scheduler 7\n1:1\n1:1\n1:0\n2:10\n1:0\n1:0\n1:0\n"), text);
        String deadline = encoded(j -> process(j).putObject("scheduler").put("policy", "SCHED_DEADLINE")
                .put("runtime", 10_000_000).put("deadline", 20_000_000).put("period", 30_000_000));
        assertTrue(deadline.contains("scheduler 7\n1:6\n1:0\n1:0\n1:0\n8:10000000\n8:20000000\n8:30000000\n"), deadline);
    }

    @Test
    void schedulerIsCheckedAsRuncChecksIt() {
        assertEquals("/process/scheduler/policy", refused(j -> process(j).putObject("scheduler").put("nice", 1))
                .pointer());
        assertEquals("/process/scheduler/policy", refused(j -> process(j).putObject("scheduler")
                .put("policy", "SCHED_FAST")).pointer());
        assertEquals("/process/scheduler/nice", refused(j -> process(j).putObject("scheduler")
                .put("policy", "SCHED_OTHER").put("nice", 20)).pointer());
        assertEquals("/process/scheduler/priority", refused(j -> process(j).putObject("scheduler")
                .put("policy", "SCHED_BATCH").put("priority", 3)).pointer());
        assertEquals("/process/scheduler", refused(j -> process(j).putObject("scheduler")
                .put("policy", "SCHED_RR").put("runtime", 5)).pointer());
        assertEquals("/process/scheduler/flags/1", refused(j -> process(j).putObject("scheduler")
                .put("policy", "SCHED_OTHER").putArray("flags").add("SCHED_FLAG_RECLAIM").add("SCHED_FLAG_NOPE"))
                .pointer());
    }

    @Test
    void ioPriorityIsClassAndLevel() {
        assertTrue(encoded(j -> process(j).putObject("ioPriority").put("class", "IOPRIO_CLASS_BE").put("priority", 6))
                .contains("ioprio 1\n5:16390\n")); // 2 << 13 | 6
        assertEquals("/process/ioPriority/class", refused(j -> process(j).putObject("ioPriority")
                .put("class", "IOPRIO_CLASS_NONE")).pointer());
        assertEquals("/process/ioPriority/priority", refused(j -> process(j).putObject("ioPriority")
                .put("class", "IOPRIO_CLASS_RT").put("priority", -1)).pointer());
        assertEquals("/process/ioPriority/priority", refused(j -> process(j).putObject("ioPriority")
                .put("class", "IOPRIO_CLASS_BE").put("priority", 8)).pointer());
    }

    @Test
    void personalityAndMemoryPolicy() {
        List<String> warnings = new ArrayList<>();
        String text = encoded(j -> {
            linux(j).putObject("personality").put("domain", "LINUX32");
            linux(j).putObject("memoryPolicy").put("mode", "MPOL_BIND").put("nodes", "0,2-3")
                    .putArray("flags").add("MPOL_F_STATIC_NODES");
        });
        assertTrue(text.contains("personality 1\n1:8\n"), text);
        assertTrue(text.contains("mempolicy 4\n5:32770\n1:0\n1:2\n1:3\n"), text); // 2 | 1 << 15
        assertEquals("/linux/personality/domain", refused(j -> linux(j).putObject("personality")
                .put("domain", "SVR4")).pointer());
        assertEquals("/linux/memoryPolicy/mode", refused(j -> linux(j).putObject("memoryPolicy")
                .put("mode", "MPOL_ANY")).pointer());
        assertEquals("/linux/memoryPolicy/flags/0", refused(j -> linux(j).putObject("memoryPolicy")
                .put("mode", "MPOL_BIND").put("nodes", "0").putArray("flags").add("MPOL_F_NOPE")).pointer());
        assertEquals("/linux/memoryPolicy/nodes", refused(j -> linux(j).putObject("memoryPolicy")
                .put("mode", "MPOL_BIND").put("nodes", "3-1")).pointer());
        // as runc: personality flags are not defined yet and are ignored with a warning
        LaunchPlan withFlags = plan(spec(j -> linux(j).putObject("personality").put("domain", "LINUX")
                .putArray("flags").add("ADDR_NO_RANDOMIZE")), HOST);
        assertTrue(withFlags.warnings().get(0).contains("personality.flags"), withFlags.warnings().toString());
        assertTrue(warnings.isEmpty());
    }

    @Test
    void cpuListsAreCpusetLists() {
        assertEquals(List.of(0, 1, 2, 3, 7), ProcessAttributes.cpuList("0-3,7", "/x"));
        assertEquals(List.of(), ProcessAttributes.cpuList("", "/x"));
        assertThrows(InvalidSpecException.class, () -> ProcessAttributes.cpuList("a", "/x"));
        assertThrows(InvalidSpecException.class, () -> ProcessAttributes.cpuList("1-2-3", "/x"));
        assertThrows(InvalidSpecException.class, () -> ProcessAttributes.cpuList("4096", "/x"));
    }

    @Test
    void execCpuAffinityIsForExecOnly() {
        LaunchPlan create = plan(spec(j -> process(j).putObject("execCPUAffinity").put("initial", "0")
                .put("final", "1")), HOST);
        assertFalse(new String(create.encode(), StandardCharsets.UTF_8).contains("affinity"));
        assertTrue(create.warnings().get(0).contains("execCPUAffinity"), create.warnings().toString());
        dev.capsa.spec.ProcessSpec p = spec(j -> process(j).putObject("execCPUAffinity").put("initial", "0-1")
                .put("final", "1")).process();
        ExecPlan exec = ExecPlan.of(new dev.capsa.spi.ExecOptions(p, true, null, null, 0), 7, 8, null,
                LaunchPlan.Caller.NONE, 40, LaunchPlan.PlanCgroup.NONE, null, null, HostSecurity.NONE);
        String text = new String(exec.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("affinity 3\n7:initial\n1:0\n1:1\n") && text.contains("affinity 2\n5:final\n1:1\n"),
                text);
        assertEquals("/process/execCPUAffinity/final", assertThrows(InvalidSpecException.class,
                () -> ExecPlan.of(new dev.capsa.spi.ExecOptions(spec(j -> process(j).putObject("execCPUAffinity")
                        .put("final", "x")).process(), true, null, null, 0), 7, 8, null, LaunchPlan.Caller.NONE, 40,
                        LaunchPlan.PlanCgroup.NONE, null, null, HostSecurity.NONE)).pointer());
    }

    @Test
    void execGetsTheContainersPersonality() {
        Spec spec = spec(j -> linux(j).putObject("personality").put("domain", "LINUX32"));
        ExecPlan exec = ExecPlan.of(new dev.capsa.spi.ExecOptions(spec.process(), true, null, null, 0), 7, 8, null,
                LaunchPlan.Caller.NONE, 40, LaunchPlan.PlanCgroup.NONE, null, spec.linux(), HostSecurity.NONE);
        assertTrue(new String(exec.encode(), StandardCharsets.UTF_8).contains("personality 1\n1:8\n"));
    }

    @Test
    void labelsAreRefusedWithoutTheirSecurityModule() {
        InvalidSpecException apparmor = refused(j -> process(j).put("apparmorProfile", "docker-default"));
        assertEquals("/process/apparmorProfile", apparmor.pointer());
        assertTrue(apparmor.getMessage().contains("AppArmor is not enabled"), apparmor.getMessage());
        assertEquals("/process/selinuxLabel", refused(j -> process(j).put("selinuxLabel",
                "system_u:system_r:container_t:s0")).pointer());
        assertEquals("/linux/mountLabel", refused(j -> linux(j).put("mountLabel",
                "system_u:object_r:container_file_t:s0")).pointer());
        // empty strings are "not set", as in runc
        plan(spec(j -> {
            process(j).put("apparmorProfile", "").put("selinuxLabel", "");
            linux(j).put("mountLabel", "");
        }), HOST);
    }

    @Test
    void labelsAreAppliedWhereTheModuleIsEnabled() {
        LaunchPlan.Host lsm = HOST.withSecurity(new HostSecurity(true, true, false), p -> false);
        LaunchPlan plan = plan(spec(j -> {
            process(j).put("apparmorProfile", "docker-default").put("selinuxLabel", "system_u:system_r:container_t:s0");
            linux(j).put("mountLabel", "system_u:object_r:container_file_t:s0");
        }), lsm);
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("apparmor 1\n14:docker-default\n"), text);
        assertTrue(text.contains("selinux 1\n32:system_u:system_r:container_t:s0\n"), text);
        // go-selinux FormatMountLabel on the tmpfs at /dev; proc keeps its data
        LaunchPlan.PlanMount dev = plan.rootfsSteps().stream().filter(LaunchPlan.PlanMount.class::isInstance)
                .map(LaunchPlan.PlanMount.class::cast).filter(m -> m.destination().equals("/dev")).findFirst()
                .orElseThrow();
        assertEquals("mode=755,size=65536k,context=\"system_u:object_r:container_file_t:s0\"", dev.data());
        LaunchPlan.PlanMount proc = plan.rootfsSteps().stream().filter(LaunchPlan.PlanMount.class::isInstance)
                .map(LaunchPlan.PlanMount.class::cast).filter(m -> m.destination().equals("/proc")).findFirst()
                .orElseThrow();
        assertEquals("", proc.data());
    }

    @Test
    void intelRdtNamesResctrl() {
        InvalidSpecException e = refused(j -> linux(j).putObject("intelRdt").put("closID", "c1"));
        assertEquals("/linux/intelRdt", e.pointer());
        assertTrue(e.getMessage().contains("resctrl filesystem, which is not mounted"), e.getMessage());
        LaunchPlan.Host resctrl = HOST.withSecurity(new HostSecurity(false, false, true), p -> false);
        InvalidSpecException withResctrl = assertThrows(InvalidSpecException.class, () -> plan(spec(j -> linux(j)
                .putObject("intelRdt").put("closID", "c1")), resctrl));
        assertTrue(withResctrl.getMessage().contains("not supported by the ns backend yet"), withResctrl.getMessage());
    }

    @Test
    void hostSecurityIsReadFromSys(@TempDir Path sys) throws Exception {
        assertEquals(HostSecurity.NONE, HostSecurity.probe(sys));
        Files.createDirectories(sys.resolve("kernel/security/apparmor"));
        Files.createDirectories(sys.resolve("module/apparmor/parameters"));
        Files.writeString(sys.resolve("module/apparmor/parameters/enabled"), "N\n");
        assertFalse(HostSecurity.probe(sys).apparmor());
        Files.writeString(sys.resolve("module/apparmor/parameters/enabled"), "Y\n");
        Files.createDirectories(sys.resolve("fs/selinux"));
        Files.writeString(sys.resolve("fs/selinux/enforce"), "1");
        Files.createDirectories(sys.resolve("fs/resctrl"));
        Files.writeString(sys.resolve("fs/resctrl/schemata"), "L3:0=fff\n");
        assertEquals(new HostSecurity(true, true, true), HostSecurity.probe(sys));
    }

    @Test
    void rlimitRecordsNameTheirEntry() {
        String text = encoded(j -> { });
        assertTrue(text.contains("rlimit 4\n1:7\n4:1024\n4:1024\n18:/process/rlimits/0\n"), text);
    }
}
