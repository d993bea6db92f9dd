package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The ns backend's isolation as a runc user meets it, looked at from inside real busybox
 * containers (/proc/self/status, /proc/self/limits, mountinfo, /dev), written once and run against
 * two runtimes: capsa ({@link IsolationCapsaIT}) and runc ({@link IsolationRuncIT}), so that every
 * case says what both do on this machine. A case where they differ asserts each one's behaviour
 * and docs/compatibility.md records it.
 */
abstract class IsolationCases extends BusyboxBundle {
    static final List<String> APPLETS = List.of("sh", "echo", "cat", "grep", "ls", "touch", "pwd", "readlink",
            "stat", "umask", "true", "hostname", "mkdir", "test", "sed", "sleep");

    IsolationCases() {
        super(APPLETS, true);
    }

    /** Whether this class runs capsa (not runc). */
    abstract boolean capsa();

    /** The lines of /proc/self/status named in {@code keys}, as key -> value. */
    private static Map<String, String> status(String out, String... keys) {
        Map<String, String> found = new LinkedHashMap<>();
        for (String line : out.lines().toList()) {
            for (String key : keys) {
                if (line.startsWith(key + ":")) {
                    found.put(key, line.substring(key.length() + 1).trim().replaceAll("\\s+", " "));
                }
            }
        }
        return found;
    }

    @Test
    void theProcessGetsItsUserGroupsUmaskCwdEnvCapabilitiesRlimitsAndOomScore() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs/work"));
        config(json -> {
            ObjectNode p = (ObjectNode) json.get("process");
            p.putArray("args").add("sh").add("-c").add("cat /proc/self/status; cat /proc/self/oom_score_adj;"
                    + " pwd; echo \"FOO=$FOO\"; grep 'open files' /proc/self/limits; umask");
            p.put("cwd", "/work");
            p.putArray("env").add("PATH=/bin").add("FOO=bar baz");
            ObjectNode user = p.putObject("user").put("uid", 1000).put("gid", 1001).put("umask", 23);
            user.putArray("additionalGids").add(10).add(20);
            p.put("noNewPrivileges", true);
            p.put("oomScoreAdj", 500);
            ObjectNode caps = p.putObject("capabilities");
            for (String set : List.of("bounding", "effective", "permitted")) {
                caps.putArray(set).add("CAP_CHOWN").add("CAP_KILL").add("CAP_NET_BIND_SERVICE");
            }
            caps.putArray("inheritable").add("CAP_KILL");
            caps.putArray("ambient").add("CAP_KILL");
            p.putArray("rlimits").addObject().put("type", "RLIMIT_NOFILE").put("hard", 2048).put("soft", 1024);
        });
        Result r = capsa("run", id("process"));
        assertEquals(0, r.code(), r.err());
        Map<String, String> s = status(r.out(), "Uid", "Gid", "Groups", "NoNewPrivs", "CapInh", "CapPrm", "CapEff",
                "CapBnd", "CapAmb");
        assertEquals("1000 1000 1000 1000", s.get("Uid"), r.out());
        assertEquals("1001 1001 1001 1001", s.get("Gid"));
        assertEquals("10 20", s.get("Groups"));
        assertEquals("1", s.get("NoNewPrivs"));
        // CAP_CHOWN is bit 0, CAP_KILL bit 5, CAP_NET_BIND_SERVICE bit 10. The process is uid 1000
        // and busybox has no file capabilities, so execve leaves it the ambient set as permitted and
        // effective (capabilities(7)): what the runtime set shows in the bounding, inheritable and
        // ambient sets, and the ambient one survives the exec
        assertEquals("0000000000000421", s.get("CapBnd"));
        assertEquals("0000000000000020", s.get("CapPrm"));
        assertEquals("0000000000000020", s.get("CapEff"));
        assertEquals("0000000000000020", s.get("CapInh"));
        assertEquals("0000000000000020", s.get("CapAmb"));
        List<String> tail = r.out().lines().toList();
        tail = tail.subList(tail.size() - 5, tail.size());
        assertEquals("500", tail.get(0), "oom_score_adj");
        assertEquals("/work", tail.get(1), "cwd");
        assertEquals("FOO=bar baz", tail.get(2), "env");
        assertTrue(tail.get(3).matches("Max open files\\s+1024\\s+2048\\s+files\\s*"), tail.get(3));
        assertEquals("0027", tail.get(4), "umask 23 (decimal) is 027");
    }

    @Test
    void devHasTheDefaultNodesTheSymlinksPtsShmAndTheConfiguredDevices() throws Exception {
        config(json -> {
            ArrayNode devices = ((ObjectNode) json.get("linux")).putArray("devices");
            devices.addObject().put("path", "/dev/mynull").put("type", "c").put("major", 1).put("minor", 3)
                    .put("fileMode", 0620).put("uid", 0).put("gid", 0);
            // the cgroup must let it be opened: allow c 1:3 rw as runc's default rules do
            ((ObjectNode) json.get("process")).putArray("args").add("sh").add("-c").add(
                    "for d in null zero full random urandom tty mynull; do stat -c '%n %F %t:%T %a' /dev/$d; done;"
                            + " for l in fd stdin stdout stderr ptmx; do echo \"$l -> $(readlink /dev/$l)\"; done;"
                            + " grep -E ' /dev/(pts|shm|mqueue) ' /proc/self/mountinfo"
                            + " | sed 's|.* \\(/dev/[a-z]*\\) .* - \\([a-z]*\\) .*|\\1 \\2|';"
                            + " echo hi > /dev/mynull && echo written");
        });
        Result r = capsa("run", id("dev"));
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        for (String node : List.of("/dev/null character special file 1:3 666", "/dev/zero character special file 1:5 666",
                "/dev/full character special file 1:7 666", "/dev/random character special file 1:8 666",
                "/dev/urandom character special file 1:9 666", "/dev/tty character special file 5:0 666",
                "/dev/mynull character special file 1:3 620")) {
            assertTrue(out.contains(node + "\n"), node + " in:\n" + out);
        }
        for (String link : List.of("fd -> /proc/self/fd", "stdin -> /proc/self/fd/0", "stdout -> /proc/self/fd/1",
                "stderr -> /proc/self/fd/2", "ptmx -> pts/ptmx")) {
            assertTrue(out.contains(link + "\n"), link + " in:\n" + out);
        }
        assertTrue(out.contains("/dev/pts devpts\n") && out.contains("/dev/shm tmpfs\n")
                && out.contains("/dev/mqueue mqueue\n"), out);
        assertTrue(out.endsWith("written\n"), out);
    }

    @Test
    void maskedAndReadonlyPathsAndAReadonlyRoot() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs/etc"));
        Files.writeString(bundle.resolve("rootfs/etc/secret"), "top secret\n");
        Files.createDirectories(bundle.resolve("rootfs/hidden"));
        Files.writeString(bundle.resolve("rootfs/hidden/file"), "x\n");
        Files.createDirectories(bundle.resolve("rootfs/data"));
        Files.createDirectories(bundle.resolve("rootfs/tmp"));
        config(json -> {
            ObjectNode linux = (ObjectNode) json.get("linux");
            linux.putArray("maskedPaths").add("/etc/secret").add("/hidden");
            linux.putArray("readonlyPaths").add("/data");
            ((ObjectNode) json.get("root")).put("readonly", true);
            ((ArrayNode) json.get("mounts")).addObject().put("destination", "/tmp").put("type", "tmpfs")
                    .put("source", "tmpfs");
            ((ObjectNode) json.get("process")).putArray("args").add("sh").add("-c").add(
                    "echo \"secret=[$(cat /etc/secret)]\"; echo \"hidden=[$(ls /hidden)]\";"
                            + " touch /x 2>/dev/null; echo root=$?; touch /data/x 2>/dev/null; echo data=$?;"
                            + " touch /tmp/x; echo tmp=$?");
        });
        Result r = capsa("run", id("masked"));
        assertEquals(0, r.code(), r.err());
        assertEquals("secret=[]\nhidden=[]\nroot=1\ndata=1\ntmp=0\n", r.out());
    }

    @Test
    void theNamespacesAreNewAndLoIsUp() throws Exception {
        config(json -> {
            json.put("hostname", "box").put("domainname", "example.test");
            ((ArrayNode) json.at("/linux/namespaces")).addObject().put("type", "cgroup");
            ((ObjectNode) json.get("process")).putArray("args").add("sh").add("-c").add(
                    "for n in ipc net pid mnt uts cgroup; do echo \"$n $(readlink /proc/self/ns/$n)\"; done;"
                            + " echo \"lo $(cat /sys/class/net/lo/flags)\"; hostname;"
                            + " cat /proc/sys/kernel/domainname; echo \"pid $$\"");
        });
        Result r = capsa("run", id("ns"));
        assertEquals(0, r.code(), r.err());
        long self = ProcessHandle.current().pid();
        for (String line : r.out().lines().toList()) {
            String[] parts = line.split(" ", 2);
            if (List.of("ipc", "net", "pid", "mnt", "uts", "cgroup").contains(parts[0])) {
                String host = Files.readSymbolicLink(Path.of("/proc/" + self + "/ns/" + parts[0])).toString();
                assertNotEquals(host, parts[1], parts[0] + " is a new namespace");
            }
        }
        // IFF_UP | IFF_LOOPBACK
        assertTrue(r.out().contains("lo 0x9\n"), r.out());
        // config.md's domainname: capsa sets it; runc 1.1.5 leaves the kernel's "(none)"
        String domain = capsa() ? "example.test" : "(none)";
        assertTrue(r.out().contains("\nbox\n" + domain + "\npid 1\n"), r.out());
    }

    @Test
    void withoutPivotTheRootfsIsStillTheContainersRoot() throws Exception {
        args("sh", "-c", "ls /; test -e /bin/busybox && echo inside");
        Result r = capsa("run", "--no-pivot", id("nopivot"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("bin\n") && r.out().endsWith("inside\n"), r.out());
    }

    @Test
    void aMountWhoseSourceIsMissingAndAnIdInUseAreClearErrors() throws Exception {
        Path missing = tmp.resolve("no-such-dir");
        config(json -> ((ArrayNode) json.get("mounts")).addObject().put("destination", "/mnt")
                .put("type", "bind").put("source", missing.toString()).putArray("options").add("rbind"));
        args("true");
        Result r = capsa("run", id("nosource"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(missing.toString()), "the error names the source: " + r.err());
        assertEquals(1, capsa("state", "nosource").code(), "nothing left");

        config(json -> ((ArrayNode) json.get("mounts")).remove(((ArrayNode) json.get("mounts")).size() - 1));
        args("sleep", "30");
        Result first = capsa("run", "--detach", id("twice"));
        assertEquals(0, first.code(), first.err());
        Result again = capsa("run", "--detach", "twice");
        assertEquals(1, again.code(), again.err());
        assertTrue(again.err().contains("exists"), again.err());
        if (capsa()) {
            // runc says "container with given ID already exists"; capsa names it
            assertTrue(again.err().contains("\"twice\""), again.err());
        }
    }
}
