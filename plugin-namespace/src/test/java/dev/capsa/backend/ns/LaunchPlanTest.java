package dev.capsa.backend.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.backend.ns.LaunchPlan.CgroupHierarchy;
import dev.capsa.backend.ns.LaunchPlan.PlanDevice;
import dev.capsa.backend.ns.LaunchPlan.PlanMkdir;
import dev.capsa.backend.ns.LaunchPlan.PlanMount;
import dev.capsa.backend.ns.LaunchPlan.PlanRemount;
import dev.capsa.backend.ns.LaunchPlan.PlanSymlink;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.SeccompProgram;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spec.Spec;
import dev.capsa.spi.CreateOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class LaunchPlanTest {
    private static final Path BUNDLE = Path.of("/bundles/b1");
    private static final LaunchPlan.Files FILES =
            new LaunchPlan.Files(Path.of("/run/capsa/c1/exec.fifo"), Path.of("/run/capsa/c1/exit"));
    private static final LaunchPlan.Host V2 = new LaunchPlan.Host(true, 40);

    /** runc's example spec with process.terminal false, edited through its JSON. */
    private static Spec spec(Consumer<ObjectNode> edit) {
        ObjectNode json = Json.mapper().valueToTree(DefaultSpec.example(false));
        ((ObjectNode) json.get("process")).put("terminal", false);
        edit.accept(json);
        return SpecLoader.parse(json.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static LaunchPlan plan(Spec spec) {
        return LaunchPlan.from("c1", spec, BUNDLE, CreateOptions.defaults(), FILES, V2);
    }

    private static InvalidSpecException refused(Consumer<ObjectNode> edit) {
        return assertThrows(InvalidSpecException.class, () -> plan(spec(edit)));
    }

    private static ObjectNode linux(ObjectNode json) {
        return (ObjectNode) json.get("linux");
    }

    @Test
    void runcSpecBecomesNamespacesMountsAndProcess() {
        LaunchPlan plan = plan(spec(j -> { }));
        assertEquals(LaunchPlan.CLONE_NEWPID | LaunchPlan.CLONE_NEWNET | LaunchPlan.CLONE_NEWIPC
                | LaunchPlan.CLONE_NEWUTS | LaunchPlan.CLONE_NEWNS, plan.cloneFlags());
        assertTrue(plan.loopback());
        assertEquals("capsa", plan.hostname());
        assertEquals(Path.of("/bundles/b1/rootfs"), plan.rootfs());
        assertEquals(MountOptions.MS_SLAVE | MountOptions.MS_REC, plan.propagation());
        assertEquals(0, plan.rootPropagation());
        assertTrue(plan.pivot());
        assertTrue(plan.rootReadonly());
        assertFalse(plan.foreground());

        List<PlanMount> mounts = plan.rootfsSteps().stream()
                .filter(PlanMount.class::isInstance).map(PlanMount.class::cast).toList();
        assertEquals(new PlanMount("proc", "/proc", "proc", 0, "", false, 0), mounts.get(0));
        assertEquals(new PlanMount("tmpfs", "/dev", "tmpfs", MountOptions.MS_NOSUID | MountOptions.MS_STRICTATIME,
                "mode=755,size=65536k", false, 0), mounts.get(1));
        assertEquals(new PlanMount("sysfs", "/sys", "sysfs", MountOptions.MS_NOSUID | MountOptions.MS_NOEXEC
                | MountOptions.MS_NODEV | MountOptions.MS_RDONLY, "", false, 0), mounts.get(5));
        // runc mounts cgroup2 for "cgroup" on a unified host
        assertEquals("cgroup2", mounts.get(6).type());
        assertEquals("/sys/fs/cgroup", mounts.get(6).destination());

        assertTrue(plan.rootfsSteps().contains(new PlanDevice("/dev/null", 0020666, 1, 3, 0, 0)));
        assertTrue(plan.rootfsSteps().contains(new PlanSymlink("/proc/self/fd", "/dev/fd")));
        assertTrue(plan.rootfsSteps().contains(new PlanSymlink("pts/ptmx", "/dev/ptmx")));
        assertEquals(new PlanMkdir("/"), plan.rootfsSteps().get(plan.rootfsSteps().size() - 1));

        assertEquals(List.of("sh"), plan.process().args());
        assertEquals("/", plan.process().cwd());
        assertEquals(0, plan.process().uid());
        assertEquals(-1, plan.process().umask());
        long caps = 1L << 29 | 1L << 5 | 1L << 10; // AUDIT_WRITE, KILL, NET_BIND_SERVICE
        assertEquals(new LaunchPlan.CapabilitySets(caps, caps, caps, 0, 0), plan.process().capabilities());
        assertEquals(List.of(new LaunchPlan.PlanRlimit(7, java.math.BigInteger.valueOf(1024),
                java.math.BigInteger.valueOf(1024))), plan.process().rlimits());
        assertTrue(plan.process().noNewPrivileges());
        assertEquals("_ses.c1", plan.process().sessionKeyring());
        assertTrue(plan.maskedPaths().contains("/proc/kcore"));
        assertTrue(plan.readonlyPaths().contains("/proc/sys"));
        assertTrue(plan.warnings().isEmpty());
    }

    @Test
    void runOptionsReachThePlan() {
        LaunchPlan plan = LaunchPlan.from("c1", spec(j -> { }), BUNDLE,
                new CreateOptions(null, true, true, 0, true), FILES, V2);
        assertTrue(plan.foreground());
        assertFalse(plan.pivot());
        assertNull(plan.process().sessionKeyring());
        assertEquals(FILES.exitFile(), plan.exitFile());
    }

    @Test
    void noCapabilitiesObjectKeepsTheProcessCapabilities() {
        assertNull(plan(spec(j -> ((ObjectNode) j.get("process")).remove("capabilities"))).process().capabilities());
    }

    @Test
    void capabilitiesThisKernelLacksAreSkippedWithAWarning() {
        LaunchPlan plan = LaunchPlan.from("c1", spec(j -> { }), BUNDLE, CreateOptions.defaults(), FILES,
                new LaunchPlan.Host(true, 9));
        assertEquals(1L << 5, plan.process().capabilities().bounding());
        assertEquals(2, plan.warnings().size(), plan.warnings().toString());
    }

    @Test
    void unknownCapabilityIsRefusedWithItsPointer() {
        InvalidSpecException e = refused(j -> ((ArrayNode) j.at("/process/capabilities/bounding")).add("CAP_NOPE"));
        assertEquals("/process/capabilities/bounding/3", e.pointer());
    }

    @Test
    void cgroupMountOnAV1HostWithoutCgroupNamespaceBindsTheContainersOwnDirectories() {
        CgroupHierarchy cpu = new CgroupHierarchy("cpu,cpuacct", "cgroup", "cpu,cpuacct");
        CgroupHierarchy unified = new CgroupHierarchy("unified", "cgroup2", "");
        LaunchPlan.Host v1 = new LaunchPlan.Host(false, 40, List.of(cpu, unified), Map.of("cpu", "cpu,cpuacct"));
        LaunchPlan plan = LaunchPlan.from("c1", spec(j -> { }), BUNDLE, CreateOptions.defaults(), FILES, v1);
        long flags = MountOptions.MS_NOSUID | MountOptions.MS_NOEXEC | MountOptions.MS_NODEV
                | MountOptions.MS_RELATIME | MountOptions.MS_RDONLY;
        assertTrue(plan.rootfsSteps().contains(new LaunchPlan.PlanCgroupBind(cpu, "/sys/fs/cgroup/cpu,cpuacct", flags)),
                plan.rootfsSteps().toString());
        plan = plan.withCgroup(new LaunchPlan.PlanCgroup(List.of(
                Path.of("/sys/fs/cgroup/cpu,cpuacct/p/c1/cgroup.procs"), Path.of("/sys/fs/cgroup/unified/p/c1/cgroup.procs")),
                List.of()));
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("mount 8\n31:/sys/fs/cgroup/cpu,cpuacct/p/c1\n26:/sys/fs/cgroup/cpu,cpuacct\n0:\n"
                + Long.toString(flags).length() + ":" + flags + "\n0:\n1:1\n1:0\n1:0\n"), text);
        assertTrue(text.contains("mount 8\n27:/sys/fs/cgroup/unified/p/c1\n22:/sys/fs/cgroup/unified\n"), text);
    }

    @Test
    void cgroupMountOnAV1HostIsATmpfsWithEachHierarchyThenReadOnly() {
        LaunchPlan.Host v1 = new LaunchPlan.Host(false, 40,
                List.of(new CgroupHierarchy("cpu,cpuacct", "cgroup", "cpu,cpuacct"),
                        new CgroupHierarchy("unified", "cgroup2", "")),
                Map.of("cpu", "cpu,cpuacct"));
        // with a cgroup namespace the hierarchies themselves are mounted: each shows the container's cgroup as root
        LaunchPlan plan = LaunchPlan.from("c1", spec(j -> ((ArrayNode) linux(j).get("namespaces")).addObject()
                .put("type", "cgroup")), BUNDLE, CreateOptions.defaults(), FILES, v1);
        long flags = MountOptions.MS_NOSUID | MountOptions.MS_NOEXEC | MountOptions.MS_NODEV
                | MountOptions.MS_RELATIME;
        int at = plan.rootfsSteps().indexOf(
                new PlanMount("tmpfs", "/sys/fs/cgroup", "tmpfs", flags, "mode=755", false, 0));
        assertTrue(at > 0, plan.rootfsSteps().toString());
        assertEquals(List.of(
                new PlanMount("cgroup", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", flags | MountOptions.MS_RDONLY,
                        "cpu,cpuacct", false, 0),
                new PlanMount("cgroup2", "/sys/fs/cgroup/unified", "cgroup2", flags | MountOptions.MS_RDONLY, "",
                        false, 0),
                new PlanSymlink("cpu,cpuacct", "/sys/fs/cgroup/cpu"),
                new PlanRemount("/sys/fs/cgroup", flags | MountOptions.MS_RDONLY)),
                plan.rootfsSteps().subList(at + 1, at + 5));
    }

    @Test
    void cgroupHierarchiesComeFromMountinfo() {
        List<String> mountinfo = List.of(
                "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
                "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
                "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
                "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
                "50 24 0:40 / /other/cgroup rw - cgroup cgroup rw,memory");
        assertEquals(List.of(new CgroupHierarchy("cpu", "cgroup", "cpu"),
                new CgroupHierarchy("systemd", "cgroup", "name=systemd"),
                new CgroupHierarchy("unified", "cgroup2", "")), LaunchPlan.cgroupHierarchies(mountinfo));
    }

    @Test
    void mountOptionsSplitIntoFlagsPropagationAndData() {
        MountOptions o = MountOptions.parse(List.of("rbind", "ro", "nosuid", "rprivate", "mode=755", "rw", "ro"),
                null, "/mounts/0");
        assertTrue(o.bind());
        assertEquals(MountOptions.MS_REC | MountOptions.MS_RDONLY | MountOptions.MS_NOSUID, o.flags());
        assertEquals(MountOptions.MS_PRIVATE | MountOptions.MS_REC, o.propagation());
        assertEquals("mode=755", o.data());
        assertEquals("/mounts/0/options/1", assertThrows(InvalidSpecException.class,
                () -> MountOptions.parse(List.of("nosuid", "idmap"), "bind", "/mounts/0")).pointer());
    }

    @Test
    void recursiveOptionsBecomeMountSetattrAttributesAndTheLastOneWins() {
        MountOptions o = MountOptions.parse(List.of("rbind", "rro", "rnosuid", "rnoatime", "rnodev", "rdev"), null,
                "/mounts/0");
        assertEquals(MountOptions.MOUNT_ATTR_RDONLY | MountOptions.MOUNT_ATTR_NOSUID | MountOptions.MOUNT_ATTR_NOATIME,
                o.recSet());
        assertEquals(MountOptions.MOUNT_ATTR__ATIME | MountOptions.MOUNT_ATTR_NODEV, o.recClr());
        MountOptions back = MountOptions.parse(List.of("rro", "rrw"), "bind", "/mounts/0");
        assertEquals(0, back.recSet());
        assertEquals(MountOptions.MOUNT_ATTR_RDONLY, back.recClr());
        assertEquals(0, MountOptions.parse(List.of("ro"), "bind", "/mounts/0").recSet());

        LaunchPlan plan = plan(spec(j -> ((ArrayNode) j.get("mounts")).addObject().put("destination", "/data")
                .put("source", "/srv").put("type", "bind").putArray("options").add("rbind").add("rro")));
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("mount 10\n4:/srv\n5:/data\n"), text);
        assertTrue(text.contains("1:0\n1:1\n1:0\n"), "copyup 0, recursive set 1 (rdonly), clear 0: " + text);
    }

    @Test
    void aTimeNamespaceGetsItsOffsetsFromStageZero() {
        LaunchPlan plan = plan(spec(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "time");
            ObjectNode offsets = linux(j).putObject("timeOffsets");
            offsets.putObject("monotonic").put("secs", -3600).put("nanosecs", 5);
            offsets.putObject("boottime").put("secs", 86400);
        }));
        assertEquals(LaunchPlan.CLONE_NEWTIME, plan.cloneFlags() & LaunchPlan.CLONE_NEWTIME);
        assertEquals(List.of(-3600L, 5L, 86400L, 0L), plan.timeOffsets());
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("timeoffsets 4\n5:-3600\n1:5\n5:86400\n1:0\n"), text);

        assertEquals("/linux/timeOffsets", refused(j -> linux(j).putObject("timeOffsets").putObject("monotonic")
                .put("secs", 1)).pointer(), "offsets without a time namespace");
        assertEquals("/linux/timeOffsets", refused(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "time").put("path", "/proc/1/ns/time");
            linux(j).putObject("timeOffsets").putObject("monotonic").put("secs", 1);
        }).pointer(), "a joined time namespace cannot get offsets");
        assertEquals("/linux/timeOffsets/realtime", refused(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "time");
            linux(j).putObject("timeOffsets").putObject("realtime").put("secs", 1);
        }).pointer());
        assertEquals("/linux/timeOffsets/boottime/nanosecs", refused(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "time");
            linux(j).putObject("timeOffsets").putObject("boottime").put("nanosecs", 1_000_000_000L);
        }).pointer());
        InvalidSpecException old = assertThrows(InvalidSpecException.class, () -> LaunchPlan.from("c1",
                spec(j -> ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "time")), BUNDLE,
                CreateOptions.defaults(), FILES, V2.withTimeNamespaces(false)));
        assertEquals("/linux/namespaces/5/type", old.pointer());
    }

    @Test
    void aJoinedUserNamespaceComesFirstAndTheInitBecomesItsRoot() {
        LaunchPlan plan = plan(spec(j -> {
            ArrayNode ns = (ArrayNode) linux(j).get("namespaces");
            ns.addObject().put("type", "time").put("path", "/proc/42/ns/time");
            ns.addObject().put("type", "user").put("path", "/proc/42/ns/user");
        }));
        assertEquals(List.of("/proc/42/ns/user", "/proc/42/ns/time"), plan.namespacePaths());
        assertTrue(plan.joinedUserns());
        assertEquals(0, plan.cloneFlags() & LaunchPlan.CLONE_NEWUSER);
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("joineduserns 0\n"), text);
        // in a user namespace devices are bind mounts of the host's nodes, not mknod
        assertTrue(plan.rootfsSteps().stream().noneMatch(s -> s instanceof PlanDevice));
        assertEquals("/linux/uidMappings", refused(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "user").put("path", "/proc/42/ns/user");
            linux(j).putArray("uidMappings").addObject().put("containerID", 0).put("hostID", 1000).put("size", 1);
        }).pointer(), "mappings belong to a new user namespace");
        java.util.concurrent.atomic.AtomicInteger mount = new java.util.concurrent.atomic.AtomicInteger(-1);
        InvalidSpecException joinMount = refused(j -> {
            ArrayNode ns = (ArrayNode) linux(j).get("namespaces");
            for (int i = 0; i < ns.size(); i++) {
                if (ns.get(i).get("type").asText().equals("mount")) {
                    ((ObjectNode) ns.get(i)).put("path", "/proc/42/ns/mnt");
                    mount.set(i);
                }
            }
        });
        assertEquals("/linux/namespaces/" + mount.get() + "/path", joinMount.pointer(), "joining a mount namespace");
    }

    @Test
    void bindSourcesAreResolvedAgainstTheBundleAndDestinationsCleaned() {
        LaunchPlan plan = plan(spec(j -> ((ArrayNode) j.get("mounts")).addObject()
                .put("destination", "/data//x/./y/../").put("source", "shared").put("type", "none")
                .set("options", Json.mapper().createArrayNode().add("bind").add("ro"))));
        assertTrue(plan.rootfsSteps().contains(new PlanMount("/bundles/b1/shared", "/data/x", "none",
                MountOptions.MS_RDONLY, "", true, 0)), plan.rootfsSteps().toString());
    }

    @Test
    void aBindMountedDevGetsNoDefaultDevices() {
        LaunchPlan plan = plan(spec(j -> ((ArrayNode) j.get("mounts")).addObject()
                .put("destination", "/dev").put("source", "/dev").put("type", "bind")
                .set("options", Json.mapper().createArrayNode().add("rbind"))));
        assertFalse(plan.rootfsSteps().stream().anyMatch(s -> s instanceof PlanDevice || s instanceof PlanSymlink));
    }

    @Test
    void specDevicesAreMade() {
        LaunchPlan plan = plan(spec(j -> linux(j).putArray("devices").addObject().put("path", "/dev/fuse")
                .put("type", "c").put("major", 10).put("minor", 229).put("fileMode", 0600).put("gid", 7)));
        assertTrue(plan.rootfsSteps().contains(new PlanDevice("/dev/fuse", 0020600, 10, 229, 0, 7)));
    }

    @Test
    void namespacedSysctlsOnly() {
        LaunchPlan plan = plan(spec(j -> linux(j).putObject("sysctl").put("net.ipv4.ip_forward", "1")
                .put("kernel.shmmax", "4096")));
        assertEquals(List.of(new LaunchPlan.PlanSysctl("net/ipv4/ip_forward", "1", "/linux/sysctl/net.ipv4.ip_forward"),
                new LaunchPlan.PlanSysctl("kernel/shmmax", "4096", "/linux/sysctl/kernel.shmmax")), plan.sysctls());
        assertEquals("/linux/sysctl/kernel.panic",
                refused(j -> linux(j).putObject("sysctl").put("kernel.panic", "1")).pointer());
        // runc: the '/' form is the same key, and its path keeps the dots inside a name (a VLAN device)
        assertEquals(List.of(new LaunchPlan.PlanSysctl("net/ipv4/conf/eth0.100/rp_filter", "1",
                "/linux/sysctl/net~1ipv4~1conf~1eth0.100~1rp_filter")), plan(spec(j -> linux(j).putObject("sysctl")
                .put("net/ipv4/conf/eth0.100/rp_filter", "1"))).sysctls());
        assertEquals("/linux/sysctl/kernel~1panic",
                refused(j -> linux(j).putObject("sysctl").put("kernel/panic", "1")).pointer());
        assertEquals("/linux/sysctl/..~1..~1x", refused(j -> linux(j).putObject("sysctl").put("../../x", "1"))
                .pointer());
        // runc: kernel.hostname conflicts with the hostname field; kernel.domainname is namespaced by uts
        assertTrue(refused(j -> linux(j).putObject("sysctl").put("kernel.hostname", "x")).getMessage()
                .contains("conflicts with the hostname field"));
        assertEquals("kernel/domainname", plan(spec(j -> linux(j).putObject("sysctl").put("kernel.domainname", "d")))
                .sysctls().get(0).key());
        // ipc keys need an ipc namespace, net.* a network namespace
        assertTrue(refused(j -> {
            linux(j).putObject("sysctl").put("fs.mqueue.msg_max", "20");
            removeNamespace(j, "ipc");
        }).getMessage().contains("needs its namespace"));
        assertEquals("/linux/sysctl/net.core.somaxconn", refused(j -> {
            linux(j).putObject("sysctl").put("net.core.somaxconn", "20");
            removeNamespace(j, "network");
        }).pointer());
    }

    @Test
    void netSysctlsAreRefusedInTheRuntimesOwnNetworkNamespace() {
        Spec joined = spec(j -> {
            linux(j).putObject("sysctl").put("net.ipv4.ip_forward", "1");
            for (var ns : linux(j).get("namespaces")) {
                if (ns.get("type").asText().equals("network")) {
                    ((ObjectNode) ns).put("path", "/proc/1/ns/net");
                }
            }
        });
        LaunchPlan.Host host = V2.withSecurity(HostSecurity.NONE, "/proc/1/ns/net"::equals);
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> LaunchPlan.from("c1", joined, BUNDLE,
                CreateOptions.defaults(), FILES, host));
        assertEquals("/linux/sysctl/net.ipv4.ip_forward", e.pointer());
        assertTrue(e.getMessage().contains("host's network namespace"), e.getMessage());
        // another network namespace by path is the container's own
        LaunchPlan.from("c1", joined, BUNDLE, CreateOptions.defaults(), FILES,
                V2.withSecurity(HostSecurity.NONE, path -> false));
    }

    private static void removeNamespace(ObjectNode j, String type) {
        ArrayNode namespaces = (ArrayNode) linux(j).get("namespaces");
        for (int i = 0; i < namespaces.size(); i++) {
            if (namespaces.get(i).get("type").asText().equals(type)) {
                namespaces.remove(i);
                return;
            }
        }
    }

    @Test
    void resourcesAndCgroupsPathAreLeftToTheCgroupPackage() {
        plan(spec(j -> { }));
        plan(spec(j -> linux(j).remove("resources")));
        plan(spec(j -> {
            linux(j).put("cgroupsPath", "/capsa/c1");
            ((ObjectNode) linux(j).get("resources")).putObject("memory").put("limit", 1000000);
        }));
    }

    @Test
    void theCgroupIsJoinedFirstAndLeftByAMonitor() {
        LaunchPlan plan = plan(spec(j -> { })).withCgroup(new LaunchPlan.PlanCgroup(
                List.of(Path.of("/sys/fs/cgroup/memory/c1/cgroup.procs"), Path.of("/sys/fs/cgroup/pids/c1/cgroup.procs")),
                List.of(Path.of("/sys/fs/cgroup/memory/cgroup.procs"))));
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.startsWith("version 1\n1:1\ncgroupjoin 2\n37:/sys/fs/cgroup/memory/c1/cgroup.procs\n"
                + "35:/sys/fs/cgroup/pids/c1/cgroup.procs\ncgroupleave 1\n34:/sys/fs/cgroup/memory/cgroup.procs\n"
                + "clone 1\n"), text);
        assertFalse(new String(plan(spec(j -> { })).encode(), StandardCharsets.UTF_8).contains("cgroupjoin"));
    }

    @Test
    void inContainerHooksGoToCapsaInitWithTheirStateAroundThePid() throws Exception {
        LaunchPlan plan = plan(spec(j -> {
            j.putObject("annotations").put("pid", "0").put("a\"pid\":0", "x");
            ObjectNode hooks = j.putObject("hooks");
            ObjectNode cc = hooks.putArray("createContainer").addObject().put("path", "/bin/busybox").put("timeout", 5);
            cc.putArray("args").add("sh").add("-c").add("exit 0");
            cc.putArray("env").add("A=1");
            hooks.putArray("startContainer").addObject().put("path", "/hook");
            hooks.putArray("poststart").addObject().put("path", "/host-only");
        }));
        assertEquals(List.of(
                new LaunchPlan.PlanHook("createContainer", "/bin/busybox", 5, List.of("sh", "-c", "exit 0"),
                        List.of("A=1")),
                new LaunchPlan.PlanHook("startContainer", "/hook", 0, List.of(), List.of())), plan.hooks().hooks());
        LaunchPlan.HookState creating = plan.hooks().creating();
        JsonNode state = new ObjectMapper().readTree(creating.prefix() + 4242 + creating.suffix());
        assertEquals("creating", state.get("status").asText());
        assertEquals(4242, state.get("pid").asLong());
        assertEquals("c1", state.get("id").asText());
        assertEquals(BUNDLE.toString(), state.get("bundle").asText());
        assertEquals("0", state.get("annotations").get("pid").asText());
        LaunchPlan.HookState created = plan.hooks().created();
        assertEquals("created", new ObjectMapper().readTree(created.prefix() + 7 + created.suffix())
                .get("status").asText());
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("hook 8\n15:createContainer\n12:/bin/busybox\n1:5\n1:3\n2:sh\n2:-c\n6:exit 0\n3:A=1\n"),
                text);
        assertTrue(text.contains("hook 4\n14:startContainer\n5:/hook\n1:0\n1:0\n"), text);
        assertFalse(text.contains("/host-only"), text);
        assertFalse(new String(plan(spec(j -> { })).encode(), StandardCharsets.UTF_8).contains("hookstate"));
    }

    @Test
    void unsupportedFieldsAreRefusedByPointer() {
        assertEquals("/linux/seccomp/listenerPath", refused(j -> linux(j).putObject("seccomp")
                .put("defaultAction", "SCMP_ACT_ALLOW").put("listenerPath", "/run/agent.sock")).pointer());
        assertEquals("/linux/namespaces/5/type", refused(j -> ((ArrayNode) linux(j).get("namespaces"))
                .addObject().put("type", "bogus")).pointer());
        assertEquals("/linux/rootfsPropagation", refused(j -> linux(j).put("rootfsPropagation", "bidirectional"))
                .pointer());
        LaunchPlan shared = plan(spec(j -> linux(j).put("rootfsPropagation", "rshared")));
        assertEquals(MountOptions.MS_SHARED | MountOptions.MS_REC, shared.propagation());
        assertEquals(MountOptions.MS_SHARED | MountOptions.MS_REC, shared.rootPropagation());
        assertEquals("/process/apparmorProfile", refused(j -> ((ObjectNode) j.get("process"))
                .put("apparmorProfile", "docker-default")).pointer());
        assertEquals("/mounts", refused(j -> ((ArrayNode) j.get("mounts")).remove(0)).pointer());
        InvalidSpecException terminal = refused(j -> ((ObjectNode) j.get("process")).put("terminal", true));
        assertTrue(terminal.getMessage().startsWith("/process/terminal: process.terminal requires --console-socket"),
                terminal.getMessage());
        assertEquals("/linux/seccomp/listenerPath: seccomp notify is not supported by capsa yet",
                refused(j -> linux(j).putObject("seccomp").put("defaultAction", "SCMP_ACT_ALLOW")
                        .put("listenerPath", "/run/agent.sock")).getMessage());
    }

    @Test
    void pidAndMountNamespacesAreRequiredAndHostnameNeedsUts() {
        assertTrue(refused(j -> ((ArrayNode) linux(j).get("namespaces")).remove(0)).getMessage()
                .contains("new or joined pid namespace"));
        InvalidSpecException e = refused(j -> {
            ArrayNode ns = (ArrayNode) linux(j).get("namespaces");
            ns.remove(3); // uts
        });
        assertEquals("/hostname", e.pointer());
    }

    @Test
    void preservedFdsComeAfterListenFdsWhichGetTheirEnvironment() {
        LaunchPlan plan = LaunchPlan.from("c1", spec(j -> { }), BUNDLE, new CreateOptions(null, false, false, 2, false),
                FILES, V2, new LaunchPlan.Caller(4242, 1));
        assertEquals(new LaunchPlan.PreservedFds(4242, List.of(3, 4, 5)), plan.process().preservedFds());
        assertTrue(plan.process().env().containsAll(List.of("LISTEN_FDS=1", "LISTEN_PID=1")), plan.process().env()
                .toString());
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("preservefds 4\n4:4242\n1:3\n1:4\n1:5\n"), text);
        assertEquals(LaunchPlan.PreservedFds.NONE, plan(spec(j -> { })).process().preservedFds());
    }

    @Test
    void aTerminalNeedsAConsoleSocketAndADetachedProcess() {
        Spec tty = spec(j -> ((ObjectNode) j.get("process")).put("terminal", true).putObject("consoleSize")
                .put("height", 30).put("width", 100));
        Path socket = Path.of("/tmp/console.sock");
        LaunchPlan plan = LaunchPlan.from("c1", tty, BUNDLE, new CreateOptions(socket, false, false, 0, false), FILES,
                V2);
        assertEquals(new LaunchPlan.Console(socket, 30, 100), plan.process().console());
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("consolemount 0\n") && text.contains("console 1\n17:/tmp/console.sock\n")
                && text.contains("consolesize 2\n2:30\n3:100\n"), text);
        assertTrue(assertThrows(InvalidSpecException.class, () -> LaunchPlan.from("c1", spec(j -> { }), BUNDLE,
                new CreateOptions(socket, false, false, 0, false), FILES, V2)).getMessage()
                .contains("--console-socket needs process.terminal"));
        assertTrue(assertThrows(InvalidSpecException.class, () -> LaunchPlan.from("c1", tty, BUNDLE,
                new CreateOptions(socket, false, false, 0, true), FILES, V2)).getMessage()
                .contains("--console-socket needs --detach"));
        assertEquals("/process/terminal", assertThrows(InvalidSpecException.class, () -> plan(tty)).pointer());
    }

    @Test
    void aUserNamespaceGetsItsMapsAndBindsDevicesInsteadOfMknod() {
        LaunchPlan plan = plan(spec(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "user");
            linux(j).putArray("uidMappings").addObject().put("containerID", 0).put("hostID", 100000)
                    .put("size", 65536);
            linux(j).putArray("gidMappings").addObject().put("containerID", 0).put("hostID", 200000)
                    .put("size", 1000);
        }));
        assertTrue((plan.cloneFlags() & LaunchPlan.CLONE_NEWUSER) != 0);
        assertEquals("0 100000 65536\n", plan.uidMap());
        assertEquals("0 200000 1000\n", plan.gidMap());
        assertFalse(plan.rootfsSteps().stream().anyMatch(s -> s instanceof PlanDevice), plan.rootfsSteps().toString());
        assertTrue(plan.rootfsSteps().contains(new PlanMount("/dev/null", "/dev/null", "", MountOptions.MS_BIND, "",
                true, 0)));
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("uidmap 1\n15:0 100000 65536\n"), text);

        InvalidSpecException v1 = assertThrows(InvalidSpecException.class, () -> LaunchPlan.from("c1", spec(j -> {
            ((ArrayNode) linux(j).get("namespaces")).addObject().put("type", "user");
            linux(j).putArray("uidMappings").addObject().put("containerID", 0).put("hostID", 1).put("size", 1);
            linux(j).putArray("gidMappings").addObject().put("containerID", 0).put("hostID", 1).put("size", 1);
            ((ArrayNode) j.get("mounts")).addObject().put("destination", "/sys/fs/cgroup").put("type", "cgroup")
                    .put("source", "cgroup");
        }), BUNDLE, CreateOptions.defaults(), FILES, new LaunchPlan.Host(false, 40)));
        assertTrue(v1.getMessage().contains("a cgroup v1 mount inside a user namespace"), v1.getMessage());
        assertEquals("/linux/uidMappings", refused(j -> ((ArrayNode) linux(j).get("namespaces")).addObject()
                .put("type", "user")).pointer());
        assertEquals("/linux/uidMappings", refused(j -> linux(j).putArray("uidMappings").addObject()
                .put("containerID", 0).put("hostID", 1).put("size", 1)).pointer());
    }

    @Test
    void networkIpcUtsAndCgroupNamespacesAreJoinedByPath() {
        LaunchPlan plan = plan(spec(j -> {
            ((ObjectNode) linux(j).at("/namespaces/1")).put("path", "/var/run/netns/n1"); // network
            linux(j).putObject("sysctl").put("net.ipv4.ip_forward", "1");
        }));
        assertEquals(List.of("/var/run/netns/n1"), plan.namespacePaths());
        assertEquals(0, plan.cloneFlags() & LaunchPlan.CLONE_NEWNET);
        assertFalse(plan.loopback(), "lo of a joined namespace is not ours to bring up");
        assertTrue(new String(plan.encode(), StandardCharsets.UTF_8).contains("setns 1\n17:/var/run/netns/n1\n"));
        assertEquals("/linux/namespaces/4/path", refused(j -> ((ObjectNode) linux(j).at("/namespaces/4"))
                .put("path", "/proc/1/ns/mnt")).pointer()); // mount
    }

    @Test
    void aPidNamespaceIsJoinedByPathInsteadOfMadeNew() {
        LaunchPlan plan = plan(spec(j -> ((ObjectNode) linux(j).at("/namespaces/0")).put("path", "/proc/42/ns/pid")));
        assertEquals(List.of("/proc/42/ns/pid"), plan.namespacePaths());
        assertEquals(0, plan.cloneFlags() & LaunchPlan.CLONE_NEWPID);
        assertTrue(new String(plan.encode(), StandardCharsets.UTF_8).contains("setns 1\n15:/proc/42/ns/pid\n"));
    }

    @Test
    void tmpcopyupMarksTheTmpfsAndHomeIsLeftToCapsaInitWithoutHome() {
        LaunchPlan plan = plan(spec(j -> ((ArrayNode) j.get("mounts")).addObject().put("destination", "/data")
                .put("type", "tmpfs").put("source", "tmpfs").putArray("options").add("tmpcopyup").add("nosuid")));
        assertTrue(plan.rootfsSteps().contains(new PlanMount("tmpfs", "/data", "tmpfs", MountOptions.MS_NOSUID, "",
                false, 0, true)), plan.rootfsSteps().toString());
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.contains("mount 8\n5:tmpfs\n5:/data\n5:tmpfs\n1:2\n0:\n1:0\n1:0\n1:1\n"), text);
        assertTrue(text.contains("defaulthome 0\n"), text);
        InvalidSpecException bind = refused(j -> ((ArrayNode) j.get("mounts")).addObject()
                .put("destination", "/x").put("type", "bind").put("source", "/tmp").putArray("options")
                .add("tmpcopyup"));
        assertTrue(bind.pointer().matches("/mounts/\\d+/options/0"), bind.pointer());
        assertFalse(new String(plan(spec(j -> ((ArrayNode) j.at("/process/env")).add("HOME=/root"))).encode(),
                StandardCharsets.UTF_8).contains("defaulthome"));
    }

    @Test
    void execPlanJoinsTheInitAndCarriesTheSameProcessRecords() {
        dev.capsa.spec.ProcessSpec process = spec(j -> ((ObjectNode) j.get("process")).putArray("args").add("sh"))
                .process();
        ExecPlan exec = ExecPlan.of(new dev.capsa.spi.ExecOptions(process, false, null, null, 0), 77, 1234,
                "_ses.c1", LaunchPlan.Caller.NONE, 40, new LaunchPlan.PlanCgroup(
                        List.of(Path.of("/cg/c1/cgroup.procs")), List.of(Path.of("/cg/cgroup.procs"))),
                new SeccompProgram(new byte[] {6, 0, 0, 0, 0, 0, (byte) 0xff, 0x7f}, 4), null, HostSecurity.NONE);
        assertTrue(exec.foreground());
        String text = new String(exec.encode(), StandardCharsets.UTF_8);
        assertTrue(text.startsWith("version 1\n1:1\ncgroupjoin 1\n19:/cg/c1/cgroup.procs\ncgroupleave 1\n"
                + "16:/cg/cgroup.procs\njoin 2\n2:77\n4:1234\nforeground 1\n1:1\n"), text);
        assertTrue(text.contains("keyring 1\n7:_ses.c1\n") && text.contains("arg 1\n2:sh\n"), text);
        assertFalse(text.contains("rootfs") || text.contains("fifo"), text);
        // the container's filter, as raw bytes: BPF_RET|BPF_K SECCOMP_RET_ALLOW, then the flags
        String raw = new String(exec.encode(), StandardCharsets.ISO_8859_1);
        assertTrue(raw.endsWith("seccomp 2\n8:\u0006\0\0\0\0\0\u00ff\u007f\n1:4\nend 0\n"), raw);
    }

    @Test
    void encodingIsLengthPrefixedFieldsUnderCountedHeaders() {
        LaunchPlan plan = plan(spec(j -> {
            ((ObjectNode) j.get("process")).putArray("args").add("echo").add("héllo\nworld");
            j.put("hostname", "h");
        }));
        String text = new String(plan.encode(), StandardCharsets.UTF_8);
        assertTrue(text.startsWith("version 1\n1:1\nclone 1\n10:" + plan.cloneFlags() + "\n"), text);
        assertTrue(text.contains("hostname 1\n1:h\n"), text);
        assertTrue(text.contains("arg 1\n4:echo\narg 1\n12:héllo\nworld\n"), text); // é is two bytes
        assertTrue(text.contains("mount 8\n4:proc\n5:/proc\n4:proc\n1:0\n0:\n1:0\n1:0\n1:0\n"), text);
        assertTrue(text.contains("fifo 1\n23:/run/capsa/c1/exec.fifo\nsync 0\npivot 1\n1:1\n"), text);
        assertTrue(text.endsWith("nonewprivs 0\nend 0\n"), text);
    }

    @Test
    void cleanIsGoFilepathCleanForAbsolutePaths() {
        assertEquals("/a/b/d", LaunchPlan.clean("/a//b/./c/../d/"));
        assertEquals("/", LaunchPlan.clean("/../.."));
    }
}
