package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import dev.capsa.cli.LauncherIT.Result;

/**
 * The ns backend as a runc user meets it: the built launcher running real containers from a
 * busybox bundle, as root. Each test has its own --root and checks that nothing is left behind:
 * no state, no process, no mount on the host.
 */
@Tag("integration")
class NamespaceBackendIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "ls", "hostname", "sleep", "id", "grep",
            "touch", "true", "test", "readlink", "tty", "stty", "sort", "tr", "kill", "pwd", "ps");

    NamespaceBackendIT() {
        super(APPLETS, true);
    }

    private void awaitStatus(String id, String status) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String now;
        while (!(now = state(id).get("status").asText()).equals(status)) {
            assertTrue(System.nanoTime() < deadline, "container " + id + " is " + now + ", not " + status);
            Thread.sleep(20);
        }
    }

    @Test
    void runPrintsTheOutputAndReturnsTheExitCode() throws Exception {
        args("echo", "hello");
        Result r = capsa("run", id("hello"));
        assertEquals(0, r.code(), r.err());
        assertEquals("hello\n", r.out());

        args("sh", "-c", "echo to-stderr >&2; exit 3");
        r = capsa("run", id("three"));
        assertEquals(3, r.code(), r.err());
        assertTrue(r.err().contains("to-stderr"), r.err());
    }

    @Test
    void runOfAProcessKilledBySignalReturns128PlusTheSignal() throws Exception {
        args("sleep", "60");
        String id = id("killed");
        List<String> command = new ArrayList<>(List.of(LauncherIT.launcher().toString(), "--root", root.toString(),
                "run", id));
        Process run = new ProcessBuilder(command).directory(bundle.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (capsa("state", id).code() != 0 || !state(id).get("status").asText().equals("running")) {
                assertTrue(System.nanoTime() < deadline && run.isAlive(), "the container never ran");
                Thread.sleep(50);
            }
            Result kill = capsa("kill", id, "KILL");
            assertEquals(0, kill.code(), kill.err());
            assertTrue(run.waitFor(20, TimeUnit.SECONDS), "run did not return after the kill");
            assertEquals(128 + 9, run.exitValue());
        } finally {
            run.destroyForcibly().waitFor();
        }
    }

    @Test
    void createStartKillDeleteWalksTheStatesAndLeavesNothing() throws Exception {
        args("sh", "-c", "echo started; exec sleep 60");
        String id = id("walk");
        Result create = capsa("create", id);
        assertEquals(0, create.code(), create.err());
        assertEquals("", create.out(), "the process must not run before start");
        JsonNode created = state(id);
        assertEquals("created", created.get("status").asText());
        long pid = created.get("pid").asLong();
        assertTrue(alive(pid), "created container's process " + pid);
        assertTrue(Files.exists(root.resolve(id).resolve("exec.fifo")));

        Result start = capsa("start", id);
        assertEquals(0, start.code(), start.err());
        awaitStatus(id, "running");
        assertEquals(pid, state(id).get("pid").asLong());
        assertEquals("sleep 60", Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ').trim());

        Result ps = capsa("ps", id);
        assertEquals(0, ps.code(), ps.err());
        assertTrue(ps.out().contains(Long.toString(pid)), ps.out());

        Result kill = capsa("kill", id, "KILL");
        assertEquals(0, kill.code(), kill.err());
        awaitStatus(id, "stopped");
        assertFalse(alive(pid));

        Result delete = capsa("delete", id);
        assertEquals(0, delete.code(), delete.err());
        Result gone = capsa("state", id);
        assertEquals(1, gone.code());
        assertTrue(gone.err().contains("does not exist"), gone.err());
        assertFalse(Files.exists(root.resolve(id)));
    }

    @Test
    void deleteForceOfACreatedContainerKillsIt() throws Exception {
        args("true");
        String id = id("never-started");
        assertEquals(0, capsa("create", id).code());
        long pid = state(id).get("pid").asLong();
        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(alive(pid));
        assertFalse(Files.exists(root.resolve(id)));
    }

    @Test
    void aMissingCommandFailsLikeRunc() throws Exception {
        args("no-such-command");
        Result r = capsa("run", id("missing"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("exec: \"no-such-command\": executable file not found in $PATH"), r.err());
    }

    @Test
    void aMissingRootfsIsAClearErrorAndLeavesNothing() throws Exception {
        args("true");
        config(json -> ((ObjectNode) json.get("root")).put("path", "no-rootfs"));
        Result r = capsa("run", id("norootfs"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("no-rootfs"), r.err());
    }

    @Test
    void insideTheHostnameIsTheConfigsAndThePidOneIsTheProcess() throws Exception {
        config(json -> json.put("hostname", "inside-capsa"));
        args("sh", "-c", "hostname; echo pid=$$; cat /proc/1/cmdline; echo; cat /proc/self/mountinfo; "
                + "test -c /dev/null && test -L /dev/fd && echo devices-ok");
        Result r = capsa("run", id("inside"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("inside-capsa", lines.get(0));
        assertEquals("pid=1", lines.get(1));
        assertTrue(lines.get(2).startsWith("sh"), lines.get(2));
        for (String mount : List.of(" / ", " /proc ", " /dev ", " /dev/pts ", " /dev/shm ", " /sys ")) {
            assertTrue(r.out().contains(mount), mount + " is not mounted:\n" + r.out());
        }
        assertTrue(r.out().contains("devices-ok"), r.out());
    }

    @Test
    void aSymlinkOutOfTheRootfsDoesNotMountOnTheHost() throws Exception {
        Path hostDir = Files.createDirectories(tmp.resolve("host-dir"));
        Files.createSymbolicLink(bundle.resolve("rootfs/evil"), hostDir);
        config(json -> {
            ((ObjectNode) json.get("root")).put("readonly", false);
            ((ArrayNode) json.get("mounts")).addObject().put("destination", "/evil").put("type", "tmpfs")
                    .put("source", "tmpfs");
        });
        args("sh", "-c", "touch /evil/written-inside && grep -c host-dir /proc/self/mountinfo");
        Result r = capsa("run", id("evil"));
        assertEquals(0, r.code(), r.err());
        assertEquals("1\n", r.out(), "the tmpfs is mounted inside the container");
        try (Stream<Path> files = Files.list(hostDir)) {
            assertEquals(List.of(), files.toList(), "the container wrote into the host directory");
        }
        // resolved as if the rootfs were /: the mount went to rootfs/<host-dir path>
        assertTrue(Files.isDirectory(bundle.resolve("rootfs").resolve(hostDir.toString().substring(1))));
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(hostDir.toString()));
    }

    @Test
    void unsupportedFieldsFailNamingThem() throws Exception {
        args("true");
        config(json -> ((ObjectNode) json.get("linux")).putObject("seccomp").put("defaultAction", "SCMP_ACT_ALLOW")
                .put("listenerPath", "/run/x.sock"));
        Result r = capsa("run", id("seccomp"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/linux/seccomp/listenerPath: seccomp notify is not supported by capsa yet"),
                r.err());
    }

    @Test
    void featuresListWhatWorks() throws Exception {
        Result r = capsa("features");
        assertEquals(0, r.code(), r.err());
        JsonNode features = Json.mapper().readTree(r.out());
        assertTrue(features.at("/linux/namespaces").toString().contains("\"pid\""), r.out());
        assertTrue(features.at("/linux/namespaces").toString().contains("\"user\""), r.out());
        assertTrue(new String(features.at("/mountOptions").toString().getBytes(), StandardCharsets.UTF_8)
                .contains("\"rbind\""), r.out());
    }

    // ---- exec

    private long runDetached(String id, String... args) throws Exception {
        args(args);
        Result run = capsa("run", "--detach", id(id));
        assertEquals(0, run.code(), run.err());
        return state(id).get("pid").asLong();
    }

    private static String nsLinks(long pid) throws IOException {
        StringBuilder links = new StringBuilder();
        for (String ns : List.of("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")) {
            links.append(Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + ns))).append('\n');
        }
        return links.toString();
    }

    @Test
    void execRunsInTheContainersNamespacesAndReturnsTheExitCode() throws Exception {
        config(json -> json.put("hostname", "inside-capsa"));
        long init = runDetached("exec1", "sleep", "60");

        // `--` because picocli, unlike runc's flag parser, reads options after the command (-c = --cap)
        Result r = capsa("exec", "exec1", "sh", "-c", "echo $$; hostname; exit 5");
        assertEquals(5, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(Long.parseLong(lines.get(0)) > 1, "the exec'd shell is not the container's pid 1: " + r.out());
        assertEquals("inside-capsa", lines.get(1));

        r = capsa("exec", "exec1", "--", "sh", "-c",
                "for n in cgroup ipc mnt net pid time user uts; do readlink /proc/$$/ns/$n; done");
        assertEquals(0, r.code(), r.err());
        assertEquals(nsLinks(init), r.out(), "the exec'd process's namespaces are the init's");

        r = capsa("exec", "--env", "FOO=bar", "--cwd", "/bin", "--user", "1000:1000", "exec1", "--", "sh", "-c",
                "echo $FOO; pwd; id -u; id -g");
        assertEquals(0, r.code(), r.err());
        assertEquals("bar\n/bin\n1000\n1000\n", r.out());

        r = capsa("exec", "exec1", "sh", "-c", "kill -TERM $$");
        assertEquals(128 + 15, r.code(), r.err());

        r = capsa("exec", "exec1", "no-such-command");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("exec: \"no-such-command\": executable file not found in $PATH"), r.err());

        Path pidFile = tmp.resolve("exec.pid");
        r = capsa("exec", "--detach", "--pid-file", pidFile.toString(), "exec1", "sleep", "30");
        assertEquals(0, r.code(), r.err());
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        assertTrue(alive(pid), "the detached exec'd process " + pid);
        assertEquals("sleep 30", Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ').trim());
        assertEquals(nsLinks(init), nsLinks(pid));

        assertEquals(0, capsa("kill", "exec1", "KILL").code());
        awaitStatus("exec1", "stopped");
        assertFalse(alive(pid), "killing the init ends every process of its pid namespace");
        r = capsa("exec", "exec1", "true");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("cannot exec in container \"exec1\": it is stopped"), r.err());
    }

    // ---- process.terminal

    private Process consoleReceiver(Path socket, String input) throws Exception {
        return ConsoleReceiver.start(tmp, socket, input, Duration.ofSeconds(15));
    }

    private static String receiverOutput(Process p) throws Exception {
        return ConsoleReceiver.output(p, Duration.ofSeconds(30));
    }

    @Test
    void aTerminalGoesToTheConsoleSocketAsRuncSendsIt() throws Exception {
        assumeTrue(isExecutable("python3"), "no python3 to receive the pty master");
        args("sh", "-c", "tty; stty size; test -t 0 && echo stdin-is-a-tty; read line; echo got:$line");
        config(json -> ((ObjectNode) json.get("process")).put("terminal", true).putObject("consoleSize")
                .put("height", 30).put("width", 100)); // after args(): config() resets terminal
        Path socket = tmp.resolve("console.sock");
        Process receiver = consoleReceiver(socket, "hello\n");
        Result r = capsa("run", "--detach", "--console-socket", socket.toString(), id("tty1"));
        assertEquals(0, r.code(), r.err());
        String out = receiverOutput(receiver);
        assertTrue(out.startsWith("name=/dev/ptmx\n"), out);
        assertTrue(out.contains("/dev/pts/0\n"), out);
        assertTrue(out.contains("30 100\n"), out);
        assertTrue(out.contains("stdin-is-a-tty\n"), out);
        assertTrue(out.contains("got:hello\n"), out);
    }

    @Test
    void execWithTtyGetsItsOwnTerminal() throws Exception {
        assumeTrue(isExecutable("python3"), "no python3 to receive the pty master");
        runDetached("tty2", "sleep", "60");
        Path socket = tmp.resolve("exec-console.sock");
        Process receiver = consoleReceiver(socket, "");
        Result r = capsa("exec", "--tty", "--detach", "--console-socket", socket.toString(), "tty2", "--", "sh", "-c",
                "tty; test -t 1 && echo stdout-is-a-tty");
        assertEquals(0, r.code(), r.err());
        String out = receiverOutput(receiver);
        assertTrue(out.contains("/dev/pts/"), out);
        assertTrue(out.contains("stdout-is-a-tty\n"), out);
    }

    @Test
    void aTerminalWithoutAConsoleSocketIsAClearError() throws Exception {
        args("true");
        config(json -> ((ObjectNode) json.get("process")).put("terminal", true));
        Result r = capsa("run", id("tty3"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/process/terminal: process.terminal requires --console-socket"), r.err());
    }

    private static boolean isExecutable(String command) {
        return Stream.of(System.getenv("PATH").split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, command)));
    }

    // ---- --preserve-fds

    /** capsa run through bash, so that the JVM inherits the descriptors bash opened. */
    private Result runThroughBash(String redirections, String... capsaArgs) throws Exception {
        StringBuilder cmd = new StringBuilder(redirections).append(" exec ").append(LauncherIT.launcher())
                .append(" --root ").append(root);
        for (String a : capsaArgs) {
            cmd.append(' ').append(a);
        }
        return LauncherIT.exec(bundle, List.of("bash", "-c", cmd.toString()));
    }

    @Test
    void preservedDescriptorsReachTheProcessAndNoOthers() throws Exception {
        Path file = tmp.resolve("fd3.txt");
        args("sh", "-c", "echo hi >&3; ls /proc/$$/fd; true");
        Result r = runThroughBash("exec 3>" + file + ";", "run", "--preserve-fds", "1", id("fds1"));
        assertEquals(0, r.code(), r.err());
        assertEquals("hi\n", Files.readString(file));
        assertEquals("0 1 2 3", String.join(" ", r.out().lines().toList()));

        args("sh", "-c", "ls /proc/$$/fd; true");
        r = runThroughBash("exec 3>" + file + " 4>" + file + ";", "run", id("fds2"));
        assertEquals(0, r.code(), r.err());
        assertEquals("0 1 2", String.join(" ", r.out().lines().toList()),
                "descriptors capsa inherited but was not asked to pass leak in");
    }

    @Test
    void execPreservesDescriptorsToo() throws Exception {
        runDetached("fds3", "sleep", "60");
        Path file = tmp.resolve("exec-fd3.txt");
        Result r = runThroughBash("exec 3>" + file + ";", "exec", "--preserve-fds", "1", "fds3", "--", "sh", "-c",
                "'echo from-exec >&3; ls /proc/$$/fd; true'");
        assertEquals(0, r.code(), r.err());
        assertEquals("from-exec\n", Files.readString(file));
        assertEquals("0 1 2 3", String.join(" ", r.out().lines().toList()));
    }

    /** The open descriptors of a process, as the host sees them, in numeric order. */
    private static String descriptors(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return String.join(" ", fds.map(p -> Integer.parseInt(p.getFileName().toString())).sorted()
                    .map(String::valueOf).toList());
        }
    }

    @Test
    void detachedAndExecdProcessesGetOnlyStdioAndThePreservedDescriptors() throws Exception {
        Path file = tmp.resolve("fds.txt");
        // bash opens 3 and 4, capsa inherits them; only --preserve-fds may pass them on
        String two = "exec 3>" + file + " 4>" + file + ";";
        args("sleep", "60");
        Result r = runThroughBash(two, "run", "--detach", "--preserve-fds", "1", id("fds4"));
        assertEquals(0, r.code(), r.err());
        assertEquals("0 1 2 3", descriptors(state("fds4").get("pid").asLong()),
                "run --detach --preserve-fds 1 with 3 and 4 open");

        r = runThroughBash(two, "exec", "fds4", "--", "sh", "-c", "'ls /proc/$$/fd; true'");
        assertEquals(0, r.code(), r.err());
        assertEquals("0 1 2", String.join(" ", r.out().lines().toList()), "exec with 3 and 4 open");

        Path pidFile = tmp.resolve("exec.pid");
        r = runThroughBash(two, "exec", "--detach", "--pid-file", pidFile.toString(), "fds4", "--", "sleep", "60");
        assertEquals(0, r.code(), r.err());
        assertEquals("0 1 2", descriptors(Long.parseLong(Files.readString(pidFile).strip())),
                "exec --detach with 3 and 4 open");

        r = runThroughBash(two, "exec", "--detach", "--preserve-fds", "2", "--pid-file", pidFile.toString(), "fds4",
                "--", "sleep", "60");
        assertEquals(0, r.code(), r.err());
        assertEquals("0 1 2 3 4", descriptors(Long.parseLong(Files.readString(pidFile).strip())),
                "exec --detach --preserve-fds 2");

        r = runThroughBash(two, "run", "--detach", id("fds5"));
        assertEquals(0, r.code(), r.err());
        assertEquals("0 1 2", descriptors(state("fds5").get("pid").asLong()), "run --detach with 3 and 4 open");
    }

    // ---- user namespaces

    @Test
    void aUserNamespaceMapsRootToAnUnprivilegedHostUser() throws Exception {
        Path rootfs = tmp.resolve("userns-rootfs");
        Result cp = LauncherIT.exec(tmp, List.of("cp", "-a", bundle.resolve("rootfs").toString(), rootfs.toString()));
        assertEquals(0, cp.code(), cp.err());
        Result chown = LauncherIT.exec(tmp, List.of("chown", "-R", "100000:100000", rootfs.toString()));
        assertEquals(0, chown.code(), chown.err());
        // the init becomes the namespace's root (host uid 100000) before it reaches the rootfs
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        config(json -> {
            ((ObjectNode) json.get("root")).put("path", rootfs.toString());
            if (!Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"))) {
                dropCgroupMount(json); // cgroup v1 inside a user namespace is refused (see below)
            }
            ObjectNode linux = (ObjectNode) json.get("linux");
            ((ArrayNode) linux.get("namespaces")).addObject().put("type", "user");
            linux.putArray("uidMappings").addObject().put("containerID", 0).put("hostID", 100000).put("size", 65536);
            linux.putArray("gidMappings").addObject().put("containerID", 0).put("hostID", 100000).put("size", 65536);
        });
        long init = runDetached("userns", "sleep", "60");
        Result r = capsa("exec", "userns", "--", "sh", "-c", "id -u; cat /proc/self/uid_map; ls -ln /bin/busybox");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("0", lines.get(0));
        assertEquals(List.of("0", "100000", "65536"), List.of(lines.get(1).trim().split("\\s+")));
        assertTrue(lines.get(2).contains(" 0 ") , "the rootfs belongs to the container's root: " + lines.get(2));
        String status = Files.readString(Path.of("/proc/" + init + "/status"));
        assertTrue(status.contains("\nUid:\t100000\t100000\t100000\t100000\n"), status);
        assertTrue(status.contains("\nGid:\t100000\t100000\t100000\t100000\n"), status);
    }

    @Test
    void aUserNamespaceIsJoinedByPathAndItsRootRunsTheProcess() throws Exception {
        Path rootfs = tmp.resolve("userns-rootfs");
        Result cp = LauncherIT.exec(tmp, List.of("cp", "-a", bundle.resolve("rootfs").toString(), rootfs.toString()));
        assertEquals(0, cp.code(), cp.err());
        Result chown = LauncherIT.exec(tmp, List.of("chown", "-R", "200000:200000", rootfs.toString()));
        assertEquals(0, chown.code(), chown.err());
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        config(json -> {
            ((ObjectNode) json.get("root")).put("path", rootfs.toString());
            if (!Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"))) {
                dropCgroupMount(json);
            }
            ObjectNode linux = (ObjectNode) json.get("linux");
            ((ArrayNode) linux.get("namespaces")).addObject().put("type", "user");
            linux.putArray("uidMappings").addObject().put("containerID", 0).put("hostID", 200000).put("size", 65536);
            linux.putArray("gidMappings").addObject().put("containerID", 0).put("hostID", 200000).put("size", 65536);
        });
        long first = runDetached("usera", "sleep", "60");
        String userns = Files.readSymbolicLink(Path.of("/proc/" + first + "/ns/user")).toString();
        // the second container: the first one's user namespace by path, no mappings of its own
        config(json -> {
            ObjectNode linux = (ObjectNode) json.get("linux");
            linux.remove("uidMappings");
            linux.remove("gidMappings");
            ArrayNode namespaces = (ArrayNode) linux.get("namespaces");
            for (int i = 0; i < namespaces.size(); i++) {
                if (namespaces.get(i).get("type").asText().equals("user")) {
                    ((ObjectNode) namespaces.get(i)).put("path", "/proc/" + first + "/ns/user");
                }
            }
        });
        args("sh", "-c", "id -u; readlink /proc/self/ns/user; cat /proc/self/uid_map");
        Result r = capsa("run", id("userb"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("0", lines.get(0), r.out());
        assertEquals(userns, lines.get(1));
        assertEquals(List.of("0", "200000", "65536"), List.of(lines.get(2).trim().split("\\s+")));
    }

    // ---- time namespaces, recursive mount options

    @Test
    void aTimeNamespaceShiftsTheContainersClocks() throws Exception {
        assumeTrue(Files.exists(Path.of("/proc/self/ns/time")), "this kernel has no time namespaces");
        config(json -> {
            ObjectNode linux = (ObjectNode) json.get("linux");
            ((ArrayNode) linux.get("namespaces")).addObject().put("type", "time");
            ObjectNode offsets = linux.putObject("timeOffsets");
            offsets.putObject("boottime").put("secs", 864000).put("nanosecs", 0);
            offsets.putObject("monotonic").put("secs", -1).put("nanosecs", 500);
        });
        args("sh", "-c", "readlink /proc/self/ns/time; cat /proc/self/timens_offsets; cat /proc/uptime");
        double hostUptime = Double.parseDouble(Files.readString(Path.of("/proc/uptime")).split(" ")[0]);
        Result r = capsa("run", id("timens"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/time")).toString(), lines.get(0));
        assertEquals(List.of("monotonic", "-1", "500"), List.of(lines.get(1).trim().split("\\s+")));
        assertEquals(List.of("boottime", "864000", "0"), List.of(lines.get(2).trim().split("\\s+")));
        double uptime = Double.parseDouble(lines.get(3).split(" ")[0]);
        assertTrue(uptime >= hostUptime + 864000 && uptime < hostUptime + 864000 + 120,
                "the container's uptime " + uptime + " is the host's " + hostUptime + " plus ten days");
    }

    @Test
    void aSharedRootfsPropagationMakesTheContainersRootShared() throws Exception {
        config(json -> ((ObjectNode) json.get("linux")).put("rootfsPropagation", "rshared"));
        // the line of the mount on "/" (field 5), whatever part of its filesystem it shows (field 4)
        args("sh", "-c", "grep -E '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ' /proc/self/mountinfo");
        Result r = capsa("run", id("rshared"));
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.out().lines().count(), r.out());
        assertTrue(r.out().contains(" shared:"), "the container's / is shared: " + r.out());
        config(json -> ((ObjectNode) json.get("linux")).remove("rootfsPropagation"));
        r = capsa("run", id("rslave"));
        assertEquals(0, r.code(), r.err());
        assertFalse(r.out().contains(" shared:"), "by default it is not: " + r.out());
    }

    @Test
    void rroMakesABindMountAndItsSubmountsReadOnlyWhereRoDoesNot() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("rro-src/sub"));
        Result mount = LauncherIT.exec(tmp, List.of("mount", "-t", "tmpfs", "capsa-it-rro", src.toString()));
        assertEquals(0, mount.code(), mount.err());
        try {
            config(json -> {
                ArrayNode mounts = (ArrayNode) json.get("mounts");
                mounts.addObject().put("destination", "/rec").put("type", "bind")
                        .put("source", src.getParent().toString()).putArray("options").add("rbind").add("rro");
                mounts.addObject().put("destination", "/flat").put("type", "bind")
                        .put("source", src.getParent().toString()).putArray("options").add("rbind").add("ro");
            });
            args("sh", "-c", "touch /rec/sub/x; echo rec=$?; touch /flat/sub/y; echo flat=$?; touch /flat/z;"
                    + " echo top=$?");
            Result r = capsa("run", id("rro"));
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("rec=1\n"), "rro reaches the submount: " + r.out());
            assertTrue(r.out().contains("flat=0\n"), "ro does not: " + r.out());
            assertTrue(r.out().contains("top=1\n"), "ro makes the bind itself read-only: " + r.out());
            assertTrue(Files.exists(src.resolve("y")) && !Files.exists(src.resolve("x")));
        } finally {
            Result umount = LauncherIT.exec(tmp, List.of("umount", src.toString()));
            assertEquals(0, umount.code(), umount.err());
        }
    }

    private static void dropCgroupMount(ObjectNode json) {
        ArrayNode mounts = (ArrayNode) json.get("mounts");
        for (int i = mounts.size() - 1; i >= 0; i--) {
            if (mounts.get(i).path("type").asText().equals("cgroup")) {
                mounts.remove(i);
            }
        }
    }

    // ---- joining a namespace by path, session keyrings

    @Test
    void aNetworkNamespaceIsJoinedByPath() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip")),
                "no ip(8) to make a named network namespace");
        String name = "capsa-it-" + ProcessHandle.current().pid();
        Result add = LauncherIT.exec(tmp, List.of("ip", "netns", "add", name));
        assertEquals(0, add.code(), add.err());
        try {
            Path netns = Path.of("/var/run/netns", name);
            long inode = (Long) Files.getAttribute(netns, "unix:ino");
            config(json -> {
                ArrayNode namespaces = (ArrayNode) json.at("/linux/namespaces");
                for (int i = 0; i < namespaces.size(); i++) {
                    if (namespaces.get(i).get("type").asText().equals("network")) {
                        ((ObjectNode) namespaces.get(i)).put("path", netns.toString());
                    }
                }
            });
            args("readlink", "/proc/self/ns/net");
            Result r = capsa("run", id("netns"));
            assertEquals(0, r.code(), r.err());
            assertEquals("net:[" + inode + "]\n", r.out());
        } finally {
            LauncherIT.exec(tmp, List.of("ip", "netns", "del", name));
        }
    }

    @Test
    void aPidNamespaceIsJoinedByPathAndKillAllStaysInTheContainer() throws Exception {
        long first = runDetached("pida", "sleep", "1000");
        config(json -> {
            ArrayNode namespaces = (ArrayNode) json.at("/linux/namespaces");
            for (int i = 0; i < namespaces.size(); i++) {
                if (namespaces.get(i).get("type").asText().equals("pid")) {
                    ((ObjectNode) namespaces.get(i)).put("path", "/proc/" + first + "/ns/pid");
                }
            }
        });
        args("ps", "-o", "pid,args");
        Result r = capsa("run", id("pidb"));
        assertEquals(0, r.code(), r.err());
        // the first container's init is pid 1 of the namespace this one joined
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\s*1\\s+sleep 1000")), r.out());

        long second = runDetached("pidc", "sleep", "2000");
        assertEquals(Files.readSymbolicLink(Path.of("/proc/" + first + "/ns/pid")),
                Files.readSymbolicLink(Path.of("/proc/" + second + "/ns/pid")));
        Result ps = capsa("ps", "--format", "json", "pidc");
        assertEquals(0, ps.code(), ps.err());
        assertEquals("[" + second + "]", ps.out().strip());
        assertEquals(0, capsa("kill", "--all", "pidc", "KILL").code());
        awaitStatus("pidc", "stopped");
        assertTrue(alive(first), "kill --all of the joining container killed the other container's init");
    }

    @Test
    void aPidNamespaceWhoseInitExitedIsAClearError() throws Exception {
        Path unshare = Stream.of("/usr/bin/unshare", "/bin/unshare").map(Path::of).filter(Files::isExecutable)
                .findFirst().orElse(null);
        assumeTrue(unshare != null, "no unshare(1) to keep a pid namespace after its init (util-linux)");
        Path pidns = Files.createFile(tmp.resolve("pidns"));
        Result made = LauncherIT.exec(tmp, List.of(unshare.toString(), "--pid=" + pidns, "--fork", "true"));
        assertEquals(0, made.code(), made.err());
        try {
            config(json -> {
                ArrayNode namespaces = (ArrayNode) json.at("/linux/namespaces");
                for (int i = 0; i < namespaces.size(); i++) {
                    if (namespaces.get(i).get("type").asText().equals("pid")) {
                        ((ObjectNode) namespaces.get(i)).put("path", pidns.toString());
                    }
                }
            });
            args("true");
            Result r = capsa("run", id("deadpidns"));
            assertEquals(1, r.code(), r.out());
            assertTrue(r.err().contains("into the pid namespace " + pidns + ": its init has exited"), r.err());
        } finally {
            LauncherIT.exec(tmp, List.of("umount", pidns.toString()));
        }
    }

    @Test
    void homeComesFromTheContainersPasswdElseSlash() throws Exception {
        args("sh", "-c", "echo home=$HOME");
        Result r = capsa("run", id("home1"));
        assertEquals(0, r.code(), r.err());
        assertEquals("home=/\n", r.out());

        Files.createDirectories(bundle.resolve("rootfs/etc"));
        Files.writeString(bundle.resolve("rootfs/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n"
                + "u:x:1000:1000:a user:/home/u:/bin/sh\n");
        config(json -> ((ObjectNode) json.at("/process/user")).put("uid", 1000).put("gid", 1000));
        r = capsa("run", id("home2"));
        assertEquals(0, r.code(), r.err());
        assertEquals("home=/home/u\n", r.out());

        config(json -> ((ArrayNode) json.at("/process/env")).add("HOME=/elsewhere"));
        r = capsa("run", id("home3"));
        assertEquals("home=/elsewhere\n", r.out(), r.err());
    }

    @Test
    void aTmpfsWithTmpcopyupStartsWithTheImagesContent() throws Exception {
        Path data = Files.createDirectories(bundle.resolve("rootfs/data"));
        Files.createDirectories(data.resolve("sub"));
        Files.writeString(data.resolve("f"), "image\n");
        Files.setPosixFilePermissions(data.resolve("f"), java.nio.file.attribute.PosixFilePermissions.fromString(
                "rw-r-----"));
        Files.setAttribute(data.resolve("f"), "unix:uid", 1000);
        Files.writeString(data.resolve("sub/g"), "deep\n");
        Files.createSymbolicLink(data.resolve("l"), Path.of("f"));
        config(json -> ((ArrayNode) json.get("mounts")).addObject().put("destination", "/data").put("type", "tmpfs")
                .put("source", "tmpfs").putArray("options").add("nosuid").add("tmpcopyup"));
        args("sh", "-c", "cat /data/f /data/sub/g; readlink /data/l; ls -ln /data/f; echo new > /data/sub/g && cat /data/sub/g;"
                + " grep ' /data ' /proc/self/mounts");
        Result r = capsa("run", id("copyup"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(List.of("image", "deep", "f"), lines.subList(0, 3), r.out());
        assertTrue(lines.get(3).matches("-rw-r-----\\s+1\\s+1000\\s+0\\s+6 .*/data/f"), r.out());
        assertEquals("new", lines.get(4), r.out());
        assertTrue(lines.get(5).startsWith("tmpfs /data tmpfs "), r.out());
        assertEquals("deep\n", Files.readString(data.resolve("sub/g")), "the image's file changed");
    }

    @Test
    void withoutACgroupNamespaceTheContainerSeesItsOwnV1Cgroup() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/sys/fs/cgroup/memory")) && !Files.exists(
                Path.of("/sys/fs/cgroup/cgroup.controllers")), "this host has no cgroup v1 memory hierarchy");
        config(json -> ((ObjectNode) json.get("linux")).putObject("resources").putObject("memory")
                .put("limit", 67108864));
        args("sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; touch /sys/fs/cgroup/memory/x 2>&1;"
                + " readlink /proc/self/ns/cgroup");
        Result r = capsa("run", id("cgbind"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("67108864", lines.get(0), r.out());
        assertTrue(lines.get(1).contains("Read-only file system"), r.out());
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/cgroup")).toString(), lines.get(2),
                "the container has a cgroup namespace of its own: " + r.out());
    }

    @Test
    void aSessionKeyringNamedAfterTheContainerUnlessNoNewKeyring() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/keys")), "this kernel has no /proc/keys");
        runDetached("keyring1", "sleep", "60");
        assertTrue(Files.readString(Path.of("/proc/keys")).contains("keyring   _ses.keyring1: "),
                Files.readString(Path.of("/proc/keys")));

        args("sleep", "60");
        Result r = capsa("run", "--detach", "--no-new-keyring", id("keyring2"));
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.readString(Path.of("/proc/keys")).contains("_ses.keyring2"));
    }
}
