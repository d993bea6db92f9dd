package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The ns backend's process attributes seen from inside real busybox containers: personality,
 * scheduler, I/O priority, memory policy, execCPUAffinity, sysctls, and the LSM fields on a host
 * without AppArmor or SELinux. Values the kernel refuses fail create with the field's JSON
 * pointer, exit 1, and leave no state, cgroup or mount behind.
 */
@Tag("integration")
class NamespaceProcessIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "cat", "uname", "ionice", "grep", "sleep", "sysctl",
            "awk", "head", "true");

    NamespaceProcessIT() {
        super(APPLETS, true);
    }

    private static ObjectNode process(ObjectNode j) {
        return (ObjectNode) j.get("process");
    }

    private static ObjectNode linux(ObjectNode j) {
        return (ObjectNode) j.get("linux");
    }

    private byte[] original;

    /** Runs {@code script} in a container whose config.json is the bundle's first one with {@code edit}. */
    private Result run(String name, Consumer<ObjectNode> edit, String script) throws Exception {
        Path config = bundle.resolve("config.json");
        if (original == null) {
            original = Files.readAllBytes(config);
        }
        Files.write(config, original);
        args("sh", "-c", script);
        config(edit);
        return capsa("run", id(name));
    }

    /** A run that the field at {@code pointer} makes fail: exit 1, the pointer in the error, nothing left. */
    private void refused(String name, Consumer<ObjectNode> edit, String pointer, String... words) throws Exception {
        Result r = run(name, edit, "echo should-not-run");
        assertEquals(1, r.code(), r.out() + r.err());
        assertFalse(r.out().contains("should-not-run"), r.out());
        assertTrue(r.err().contains(pointer), r.err());
        for (String w : words) {
            assertTrue(r.err().contains(w), r.err());
        }
        assertFalse(Files.exists(root.resolve(name)), "state left for " + name);
        assertEquals("[]", capsa("list", "--format", "json").out().trim());
        assertNothingElseLeft();
    }

    @Test
    void personalityLinux32IsTheInitsAndExecs() throws Exception {
        assumeTrue(System.getProperty("os.arch").equals("amd64"), "LINUX32 is checked on x86_64 (uname -m i686)");
        config(j -> linux(j).putObject("personality").put("domain", "LINUX32"));
        args("sleep", "60");
        String id = id("pers");
        Result r = capsa("run", "-d", id);
        assertEquals(0, r.code(), r.err());
        r = capsa("exec", id, "sh", "-c", "uname -m; cat /proc/self/personality");
        assertEquals(0, r.code(), r.err());
        assertEquals("i686\n00000008\n", r.out());
        // the init itself, from the host: /proc/PID/personality
        long pid = state(id).get("pid").asLong();
        assertEquals("00000008", Files.readString(Path.of("/proc/" + pid + "/personality")).trim());

        Result plain = run("pers64", j -> linux(j).putObject("personality").put("domain", "LINUX"),
                "uname -m; cat /proc/self/personality");
        assertEquals(0, plain.code(), plain.err());
        assertEquals("x86_64\n00000000\n", plain.out());
    }

    @Test
    void schedulerAndIoPriorityAreThePolicyTheKernelReports() throws Exception {
        Result r = run("sched", j -> {
            process(j).putObject("scheduler").put("policy", "SCHED_BATCH").put("nice", 7);
            process(j).putObject("ioPriority").put("class", "IOPRIO_CLASS_BE").put("priority", 5);
        }, "grep -E '^policy' /proc/self/sched | awk '{print $3}'; awk '{print $19}' /proc/self/stat; ionice");
        assertEquals(0, r.code(), r.err());
        // SCHED_BATCH is 3; field 19 of /proc/PID/stat is the nice value
        assertEquals("3\n7\nbest-effort: prio 5\n", r.out());

        Result idle = run("idle", j -> process(j).putObject("ioPriority").put("class", "IOPRIO_CLASS_IDLE"),
                "ionice");
        assertEquals(0, idle.code(), idle.err());
        assertEquals("idle\n", idle.out()); // busybox prints no level for the idle class
    }

    @Test
    void memoryPolicyIsSetForTheContainer() throws Exception {
        // nothing in busybox reads a task's policy back (get_mempolicy works on the caller alone), so
        // this checks that the kernel took it, and the refusal below that it was really asked
        Result r = run("mpol", j -> linux(j).putObject("memoryPolicy").put("mode", "MPOL_BIND").put("nodes", "0"),
                "echo bound");
        assertEquals(0, r.code(), r.err());
        assertEquals("bound\n", r.out());
    }

    @Test
    void kernelRefusalsNameTheFieldAndLeaveNothing() throws Exception {
        // config.md: levels are 0 to 7 (the kernel takes more since Linux 6.5, where bits 3-12 are hints)
        refused("ioprio", j -> process(j).putObject("ioPriority").put("class", "IOPRIO_CLASS_RT").put("priority", 9),
                "/process/ioPriority/priority", "0 to 7");
        // a sysctl value the kernel does not take
        refused("sysctl", j -> linux(j).putObject("sysctl").put("net.ipv4.ip_forward", "yes"),
                "/linux/sysctl/net.ipv4.ip_forward", "EINVAL");
        // a sysctl outside the container's namespaces never reaches the kernel
        refused("sysctlhost", j -> linux(j).putObject("sysctl").put("kernel.panic", "1"),
                "/linux/sysctl/kernel.panic", "would change the host");
        // a policy with a node the host does not have
        assumeFalse(Files.exists(Path.of("/sys/devices/system/node/node7")), "this host has NUMA node 7");
        refused("mpolbad", j -> linux(j).putObject("memoryPolicy").put("mode", "MPOL_BIND").put("nodes", "7"),
                "/linux/memoryPolicy", "set_mempolicy", "EINVAL");
    }

    @Test
    void namespacedSysctlsAreSetInside() throws Exception {
        Result r = run("sysctls", j -> linux(j).putObject("sysctl").put("net.ipv4.ip_forward", "1")
                .put("kernel/shmmax", "123456").put("kernel.domainname", "example.org"),
                "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/kernel/domainname");
        assertEquals(0, r.code(), r.err());
        assertEquals("1\n123456\nexample.org\n", r.out());
    }

    @Test
    void securityModulesTheHostLacksAreRefusedAsRuncRefusesThem() throws Exception {
        assumeFalse(Files.exists(Path.of("/sys/kernel/security/apparmor")), "this host has AppArmor");
        assumeFalse(Files.exists(Path.of("/sys/fs/selinux/enforce")), "this host has SELinux");
        refused("aa", j -> process(j).put("apparmorProfile", "docker-default"), "/process/apparmorProfile",
                "AppArmor is not enabled");
        refused("se", j -> process(j).put("selinuxLabel", "system_u:system_r:container_t:s0"),
                "/process/selinuxLabel", "SELinux is disabled");
        refused("ml", j -> linux(j).put("mountLabel", "system_u:object_r:container_file_t:s0"), "/linux/mountLabel",
                "SELinux is disabled");
        assumeFalse(Files.exists(Path.of("/sys/fs/resctrl/schemata")), "this host has resctrl mounted");
        refused("rdt", j -> linux(j).putObject("intelRdt").put("closID", "c1"), "/linux/intelRdt",
                "resctrl filesystem, which is not mounted");
    }

    @Test
    void execCpuAffinityFinalIsTheExecdProcesssCpus() throws Exception {
        assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "needs two CPUs");
        args("sleep", "60");
        String id = id("aff");
        Result r = capsa("run", "-d", id);
        assertEquals(0, r.code(), r.err());
        Path spec = tmp.resolve("process.json");
        Files.writeString(spec, "{\"args\":[\"/bin/grep\",\"Cpus_allowed_list\",\"/proc/self/status\"],\"cwd\":\"/\","
                + "\"user\":{\"uid\":0,\"gid\":0},\"execCPUAffinity\":{\"initial\":\"0\",\"final\":\"1\"}}");
        r = capsa("exec", "--process", spec.toString(), id);
        assertEquals(0, r.code(), r.err());
        assertEquals("Cpus_allowed_list:\t1\n", r.out());

        // a CPU the host does not have: the initial affinity fails before the process joins anything
        Files.writeString(spec, "{\"args\":[\"/bin/true\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},"
                + "\"execCPUAffinity\":{\"initial\":\"1000\"}}");
        r = capsa("exec", "--process", spec.toString(), id);
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("/process/execCPUAffinity/initial"), r.err());
        JsonNode ps = Json.mapper().readTree(capsa("ps", "--format", "json", id).out());
        assertEquals(1, ps.size(), ps.toString()); // the init alone: nothing of the failed exec is left
    }
}
