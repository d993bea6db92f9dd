package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.SeccompCompiler;
import dev.capsa.os.SeccompProgram;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
                List.of("cwd", "/"), List.of("user", "0", "0", "-1"), List.of("groups"),
                List.of("rlimit", "7", "1024", "1024"), List.of("nonewprivs", "1"),
                // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10): 0x20000420
                List.of("caps", "536871968", "536871968", "536871968", "0", "0"),
                List.of("stdin", "1"), List.of("exitpoweroff", "0")), o.subList(remount + 1, o.size()));
        assertEquals(256, plan.memoryMib());
        assertEquals(1, plan.cpus());
    }

    @Test
    void tmpcopyupBecomesTheMountsCopyupWordForTmpfsOnly() throws Exception {
        List<List<String>> o = GuestPlan.from(spec(j -> ((com.fasterxml.jackson.databind.node.ArrayNode) j.get("mounts"))
                .addObject().put("destination", "/etc").put("type", "tmpfs").put("source", "tmpfs")
                .putArray("options").add("nosuid").add("tmpcopyup").add("size=1m")), true).orders();
        assertTrue(o.contains(List.of("mount", "tmpfs", "/etc", "tmpfs", "2", "size=1m", "copyup")), o.toString());
        refused("/mounts/7/options", j -> ((com.fasterxml.jackson.databind.node.ArrayNode) j.get("mounts")).addObject()
                .put("destination", "/x").put("type", "proc").put("source", "proc").putArray("options").add("tmpcopyup"));
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

    @Test
    void capabilitiesBecomeMasksAndWithoutThemTheProcessKeepsItsOwn() throws Exception {
        List<String> podman = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT");
        List<List<String>> o = GuestPlan.from(spec(j -> {
            ObjectNode caps = (ObjectNode) j.at("/process/capabilities");
            for (String set : List.of("bounding", "effective", "permitted")) {
                podman.forEach(caps.putArray(set)::add);
            }
            caps.putArray("ambient").add("CAP_CHECKPOINT_RESTORE");
            ((ObjectNode) j.get("process")).put("noNewPrivileges", false);
            ((ObjectNode) j.get("process")).putArray("rlimits").addObject().put("type", "RLIMIT_NPROC")
                    .put("soft", 10).put("hard", new java.math.BigInteger("18446744073709551615"));
        }), true).orders();
        long mask = 1L | 2 | 8 | 16 | 32 | 1L << 10 | 1L << 31 | 1L << 6 | 1L << 8 | 1L << 7 | 1L << 18;
        assertTrue(o.contains(List.of("caps", Long.toString(mask), Long.toString(mask), Long.toString(mask), "0",
                Long.toString(1L << 40))), o.toString());
        assertTrue(o.contains(List.of("rlimit", "6", "10", "18446744073709551615")), o.toString());
        assertTrue(o.stream().noneMatch(l -> l.getFirst().equals("nonewprivs")), o.toString());
        List<List<String>> none = GuestPlan.from(spec(j -> ((ObjectNode) j.get("process")).remove("capabilities")),
                true).orders();
        assertTrue(none.stream().noneMatch(l -> l.getFirst().equals("caps")), none.toString());
    }

    @TempDir
    Path tmp;

    @Test
    void bindMountsBecomeSharesAndBindsFromThem() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        Path userdata = Files.createDirectories(tmp.resolve("userdata"));
        Files.writeString(userdata.resolve("hosts"), "127.0.0.1 localhost\n");
        Files.writeString(userdata.resolve("hostname"), "c1\n");
        Files.createSymbolicLink(tmp.resolve("hosts-link"), userdata.resolve("hosts"));
        GuestPlan plan = GuestPlan.from(spec(j -> {
            ArrayNode mounts = j.withArray("mounts");
            ObjectNode m = mounts.addObject().put("destination", "/data").put("type", "bind")
                    .put("source", data.toString());
            m.putArray("options").add("rbind").add("ro").add("nosuid").add("nodev").add("noexec").add("rprivate");
            mounts.addObject().put("destination", "/etc/hosts").put("type", "bind").put("source", "hosts-link")
                    .putArray("options").add("bind").add("rprivate");
            mounts.addObject().put("destination", "/etc/hostname").put("type", "bind")
                    .put("source", userdata.resolve("hostname").toString()).putArray("options").add("bind").add("ro");
        }), true, tmp);
        assertEquals(List.of(new GuestPlan.Share("m0", data.toRealPath(), true),
                new GuestPlan.Share("m1", userdata.toRealPath(), false)), plan.shares());
        List<List<String>> o = plan.orders();
        int i = o.indexOf(List.of("share", "m0", "1"));
        assertTrue(i > 0, o.toString());
        // MS_BIND | MS_REC | ro | nosuid | nodev | noexec
        assertEquals(List.of("mount", "/mnt/shares/m0", "/data", "", Long.toString(4096 | 16384 | 1 | 2 | 4 | 8), ""),
                o.get(i + 1));
        // the relative source resolves against the bundle, and the link to the real file
        assertEquals(List.of(List.of("share", "m1", "0"), List.of("mount", "/mnt/shares/m1/hosts", "/etc/hosts", "",
                "4096", ""), List.of("mount", "/mnt/shares/m1/hostname", "/etc/hostname", "", Long.toString(4096 | 1),
                "")), o.subList(i + 2, i + 5));
    }

    @Test
    void aBindOfSomethingMissingOrOfADeviceIsRefusedByPointer() throws Exception {
        refused("/mounts/0/source", j -> j.withArray("mounts").insertObject(0).put("destination", "/data")
                .put("type", "bind").put("source", tmp.resolve("missing").toString()).putArray("options").add("rbind"));
        refused("/mounts/0/source", j -> j.withArray("mounts").insertObject(0).put("destination", "/null")
                .put("type", "bind").put("source", "/dev/null").putArray("options").add("bind"));
    }

    @Test
    void anExecdProcessHasTheSameOrdersAsTheContainersOwn() throws Exception {
        Spec s = spec(j -> { });
        List<List<String>> all = GuestPlan.from(s, true).orders();
        List<List<String>> process = GuestPlan.processOrders(s.process());
        int at = all.indexOf(List.of("arg", "sh"));
        assertEquals(process, all.subList(at, at + process.size()));
    }

    @Test
    void anExecdProcessWithATerminalAsksTheAgentForAPtyOfItsSize() throws Exception {
        Spec s = spec(j -> ((ObjectNode) j.get("process")).put("terminal", true).putObject("consoleSize")
                .put("height", 30).put("width", 100));
        List<List<String>> o = GuestPlan.processOrders(s.process());
        assertTrue(o.contains(List.of("terminal", "30", "100")), o.toString());
        Spec unsized = spec(j -> ((ObjectNode) j.get("process")).put("terminal", true));
        assertTrue(GuestPlan.processOrders(unsized.process()).contains(List.of("terminal", "0", "0")));
        assertTrue(GuestPlan.processOrders(spec(j -> { }).process()).stream().noneMatch(l -> l.getFirst()
                .equals("terminal")));
    }

    private static void refused(String pointer, Consumer<ObjectNode> edit) throws Exception {
        Spec s = spec(edit);
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> GuestPlan.from(s, true));
        assertEquals(pointer, e.pointer(), e.getMessage());
    }

    @Test
    void securityFieldsTheGuestDoesNotEnforceAreRefusedByPointer() throws Exception {
        refused("/linux/seccomp/defaultAction", j -> ((ObjectNode) j.get("linux")).putObject("seccomp")
                .put("defaultAction", "SCMP_ACT_NOPE"));
        refused("/process/capabilities/bounding/3", j -> ((ObjectNode) j.at("/process/capabilities"))
                .withArray("bounding").add("CAP_NOT_A_CAPABILITY"));
        refused("/process/rlimits/0/type", j -> ((ObjectNode) j.at("/process/rlimits/0")).put("type", "RLIMIT_NOPE"));
        refused("/linux/uidMappings", j -> ((ObjectNode) j.get("linux")).putArray("uidMappings").addObject()
                .put("containerID", 0).put("hostID", 1000).put("size", 1));
        refused("/process/terminal", j -> ((ObjectNode) j.get("process")).put("terminal", true));
        refused("/mounts/0/type", j -> j.withArray("mounts").insertObject(0).put("destination", "/data")
                .put("type", "ext4").put("source", "/dev/sda1"));
        refused("/linux/namespaces/0/path", j -> ((ObjectNode) j.at("/linux/namespaces/0")).put("path",
                "/proc/1/ns/pid"));
    }

    @Test
    void seccompIsCompiledOnTheHostAndSentAsHex() throws Exception {
        assumeTrue(SeccompCompiler.unavailabilityCause() == null, "libseccomp cannot be loaded here: "
                + SeccompCompiler.unavailabilityCause());
        Spec s = spec(j -> {
            ObjectNode seccomp = ((ObjectNode) j.get("linux")).putObject("seccomp");
            seccomp.put("defaultAction", "SCMP_ACT_ALLOW").putArray("flags").add("SECCOMP_FILTER_FLAG_LOG");
            seccomp.putArray("architectures").add("SCMP_ARCH_X86_64");
            seccomp.putArray("syscalls").addObject().put("action", "SCMP_ACT_ERRNO").put("errnoRet", 38)
                    .putArray("names").add("mkdir").add("mkdirat");
        });
        List<List<String>> seccomp = GuestPlan.from(s, false).orders().stream()
                .filter(o -> o.getFirst().equals("seccomp")).toList();
        assertEquals(1, seccomp.size(), seccomp.toString());
        SeccompProgram program = SeccompCompiler.compile(s.linux().seccomp());
        // the same program the ns backend would load, byte for byte, and SECCOMP_FILTER_FLAG_LOG (2)
        assertEquals(List.of("seccomp", "2", HexFormat.of().formatHex(program.bpf())), seccomp.getFirst());
        assertTrue(program.instructions() > 4, program.toString());
        // after the process's orders, before "create": the exec'd processes get it too (the agent keeps it)
        List<List<String>> orders = GuestPlan.from(s, false).orders();
        assertTrue(orders.indexOf(seccomp.getFirst()) > orders.indexOf(List.of("arg", "sh")), orders.toString());
        assertTrue(GuestPlan.from(spec(j -> { }), false).orders().stream()
                .noneMatch(o -> o.getFirst().equals("seccomp")));
    }
}
