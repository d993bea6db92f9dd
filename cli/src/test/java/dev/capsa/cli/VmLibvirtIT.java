package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.cli.LauncherIT.Result;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vm backend's libvirt launcher (annotation dev.capsa.vm.launcher=libvirt) against a real
 * libvirt daemon at qemu:///system, as root. When no daemon answers, the class starts one
 * (virtlogd and libvirtd, as docs/vm.md says to without systemd) and stops it afterwards by pid;
 * when it cannot, it says why. Each test checks that no libvirt domain, no QEMU process and no
 * state (with its sockets) is left.
 */
@Tag("integration")
class VmLibvirtIT extends BusyboxBundle {
    private static final Path SOCKET = Path.of("/run/libvirt/libvirt-sock");
    private static final String URI = "qemu:///system";
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "sleep");
    /** Ids (and so domain names) of this run: another run of the class on the host cannot clash. */
    private static final String TAG = "lv" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffL) + "-";
    private static final Path LIBVIRT_LOGS = Path.of("/var/log/libvirt/qemu");

    @TempDir
    static Path shared;

    private static Path sharedRoot;
    /** The guest image to use: the host's, or one made here when the host's has no virtio_pci. */
    private static Path guestDir;
    /** Daemons this class started (pid files), stopped in {@link #stopDaemons()}. */
    private static final List<Path> started = new ArrayList<>();

    VmLibvirtIT() {
        super(APPLETS, false);
    }

    @BeforeAll
    static void host() throws Exception {
        assumeRoot("vm");
        assumeTrue(onPath("qemu-system-x86_64") != null, "no qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)");
        assumeBusybox();
        assumeTrue(onPath("virsh") != null, "no virsh to look at the daemon's domains (Debian: apt-get install libvirt-clients)");
        sharedRoot = shared.resolve("root");
        guestDir = guestImage();
        if (!reachable()) {
            Path libvirtd = onPath("libvirtd");
            Path virtlogd = onPath("virtlogd");
            assumeTrue(libvirtd != null && virtlogd != null, "no libvirt daemon answers at " + SOCKET
                    + " and none can be started here (Debian: apt-get install libvirt-daemon-system)");
            startDaemon(virtlogd, "virtlogd");
            startDaemon(libvirtd, "libvirtd");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            while (!reachable() && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assumeTrue(reachable(), "started libvirtd, but it does not answer at " + SOCKET + " within 15 s");
        }
    }

    /** The host's guest image when it has virtio_pci (the q35 guest needs it), else one made in a temp dir. */
    private static Path guestImage() throws Exception {
        Path host = Path.of(System.getenv().getOrDefault("CAPSA_GUEST_DIR", "/var/lib/capsa/guest"));
        Path modules = Files.exists(host.resolve("current/modules.cpio")) ? host.resolve("current/modules.cpio")
                : host.resolve("modules.cpio");
        if (Files.exists(modules) && new String(Files.readAllBytes(modules), StandardCharsets.ISO_8859_1)
                .contains("virtio_pci.ko")) {
            return host;
        }
        Path script = Path.of(System.getProperty("user.dir")).resolveSibling("scripts/build-guest.sh");
        assumeTrue(Files.isExecutable(script), "the guest image in " + host + " has no virtio_pci and there is no "
                + script + " to make one (run scripts/build-guest.sh)");
        Path dir = shared.resolve("guest");
        Result r = LauncherIT.exec(shared, List.of(script.toString(), "--out", dir.toString()));
        assumeTrue(r.code() == 0, "scripts/build-guest.sh failed: " + r.err());
        return dir;
    }

    private static void startDaemon(Path binary, String name) throws Exception {
        Path pidFile = shared.resolve(name + ".pid");
        Result r = LauncherIT.exec(shared, List.of(binary.toString(), "--daemon", "--pid-file", pidFile.toString()));
        assumeTrue(r.code() == 0, name + " --daemon failed (" + r.code() + "): " + r.err());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!Files.exists(pidFile) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assumeTrue(Files.exists(pidFile), name + " wrote no pid file " + pidFile);
        started.add(0, pidFile);
    }

    @AfterAll
    static void stopDaemons() throws Exception {
        for (Path pidFile : started) {
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            ProcessHandle.of(pid).ifPresent(p -> {
                p.destroy();
                try {
                    p.onExit().get(15, TimeUnit.SECONDS);
                } catch (Exception e) {
                    p.destroyForcibly();
                }
            });
        }
        started.clear();
    }

    private static boolean reachable() {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(SOCKET));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static Path onPath(String program) {
        return Stream.of((System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/sbin").split(":"))
                .filter(d -> !d.isEmpty()).map(d -> Path.of(d, program)).filter(Files::isExecutable)
                .findFirst().orElse(null);
    }

    @Override
    void assumeHost() {
    }

    @Override
    Path stateRoot() {
        return sharedRoot;
    }

    @Override
    void assertNothingElseLeft() throws Exception {
        assertEquals(List.of(), capsaDomains(), "libvirt domains left behind");
        assertEquals(List.of(), qemuProcesses(), "QEMU processes left behind");
        // libvirt keeps a log of every domain it ran (docs/vm.md); these are the test's own
        try (Stream<Path> logs = Files.list(LIBVIRT_LOGS)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().startsWith("capsa-" + TAG)).toList()) {
                Files.deleteIfExists(log);
            }
        } catch (java.nio.file.NoSuchFileException e) {
            // a daemon with other paths
        }
    }

    @Override
    String id(String name) throws IOException {
        return super.id(TAG + name);
    }

    /** This test's domains: capsa-ID for the ids it made. libvirt drops a transient domain soon after its QEMU ends. */
    private List<String> capsaDomains() throws Exception {
        List<String> left = List.of();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        do {
            Result r = LauncherIT.exec(tmp, List.of("virsh", "-c", URI, "list", "--all", "--name"));
            assertEquals(0, r.code(), r.err());
            left = r.out().lines().filter(n -> n.startsWith("capsa-" + TAG)).toList();
            if (left.isEmpty()) {
                return left;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        return left;
    }

    private List<String> qemuProcesses() throws IOException {
        return processes("qemu-system");
    }

    @Override
    Result capsa(String... args) throws Exception {
        List<String> command = command(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(bundle.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().remove("CAPSA_VM_LAUNCHER");
        pb.environment().putAll(Map.of("CAPSA_GUEST_DIR", guestDir.toString(), "CAPSA_LIBVIRT_URI", URI));
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError("timed out: " + command);
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** The bundle runs under the libvirt launcher through the annotation. */
    private void libvirt() throws IOException {
        config(json -> json.withObjectProperty("annotations").put("dev.capsa.vm.launcher", "libvirt"));
    }

    private String domainState(String id) throws Exception {
        Result r = LauncherIT.exec(tmp, List.of("virsh", "-c", URI, "domstate", "capsa-" + id));
        return r.code() == 0 ? r.out().strip() : "none: " + r.err().strip();
    }

    @Test
    void runPrintsTheOutputAndReturnsTheExitCode() throws Exception {
        args("sh", "-c", "echo hello; exit 3");
        libvirt();
        Result r = capsa("--backend=vm", "run", id("run"));
        assertEquals(3, r.code(), r.err());
        assertEquals("hello\n", r.out());
    }

    @Test
    void createStartStateKillDeleteWalkTheStatesOfADomain() throws Exception {
        args("sh", "-c", "echo started; exec sleep 60");
        libvirt();
        String id = id("life");
        Result create = capsa("--backend=vm", "create", id);
        assertEquals(0, create.code(), create.err());
        assertEquals("", create.out(), "the process must not run before start");
        JsonNode created = state(id);
        assertEquals("created", created.get("status").asText());
        assertEquals("running", domainState(id), "the container's libvirt domain");
        long qemu = created.get("pid").asLong();
        String cmdline = Files.readString(Path.of("/proc/" + qemu + "/cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains("guest=capsa-" + id), "the container's pid is its domain's QEMU: " + cmdline);

        Result start = capsa("start", id);
        assertEquals(0, start.code(), start.err());
        assertEquals("running", state(id).get("status").asText());

        Result kill = capsa("kill", id, "KILL");
        assertEquals(0, kill.code(), kill.err());
        awaitStatus(id, "stopped", 20, "the guest did not stop after kill");
        Result delete = capsa("delete", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(alive(qemu) && !procState(qemu).equals("Z"), "QEMU " + qemu + " is still there");
        assertFalse(Files.exists(root.resolve(id)), "the state directory and its sockets");
    }

    /**
     * A detached container's stdout is the descriptor its creator inherited, here a pipe (as under
     * conmon): libvirtd opens it for the domain (stdio_handler "file", docs/vm.md).
     */
    @Test
    void aDetachedContainersOutputReachesThePipeItsCreatorHad() throws Exception {
        args("sh", "-c", "echo started; exec sleep 60");
        libvirt();
        String id = id("pipe");
        List<String> command = command("--backend=vm", "create", id);
        ProcessBuilder pb = new ProcessBuilder(command).directory(bundle.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().putAll(Map.of("CAPSA_GUEST_DIR", guestDir.toString(), "CAPSA_LIBVIRT_URI", URI));
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Process create = pb.redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        // the first line, read as it comes: the pipe itself ends only with QEMU, its last writer
        java.util.concurrent.CompletableFuture<String> line = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new java.io.BufferedReader(new java.io.InputStreamReader(create.getInputStream(),
                        StandardCharsets.UTF_8)).readLine();
            } catch (IOException e) {
                return "read failed: " + e;
            }
        });
        assertTrue(create.waitFor(90, TimeUnit.SECONDS), "create timed out");
        assertEquals(0, create.exitValue(), Files.readString(err));
        assertFalse(line.isDone(), "the process must not run before start");
        Result start = capsa("start", id);
        assertEquals(0, start.code(), start.err());
        assertEquals("started", line.get(20, TimeUnit.SECONDS));
        assertEquals(0, capsa("delete", "--force", id).code());
    }

    @Test
    void deleteForceOfACreatedDomainEndsIt() throws Exception {
        args("sh", "-c", "echo never");
        libvirt();
        String id = id("force");
        Result create = capsa("--backend=vm", "create", id);
        assertEquals(0, create.code(), create.err());
        long qemu = state(id).get("pid").asLong();
        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertFalse(alive(qemu) && !procState(qemu).equals("Z"), "QEMU " + qemu + " is still there");
        assertEquals(List.of(), capsaDomains());
    }

    @Test
    void aBindMountReachesTheProcessBothWays() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        Files.writeString(data.resolve("in"), "from the host\n");
        args("sh", "-c", "cat /data/in; echo written > /data/out");
        libvirt();
        config(json -> json.withArray("mounts").addObject().put("destination", "/data").put("type", "bind")
                .put("source", data.toString()).putArray("options").add("rbind"));
        Result r = capsa("--backend=vm", "run", id("bind"));
        assertEquals(0, r.code(), r.err());
        assertEquals("from the host\n", r.out());
        assertEquals("written\n", Files.readString(data.resolve("out")));
    }

    @Test
    void anUnknownLauncherIsRefusedWithItsPointer() throws Exception {
        args("echo", "never");
        config(json -> json.withObjectProperty("annotations").put("dev.capsa.vm.launcher", "firecracker"));
        Result r = capsa("--backend=vm", "run", id("bad"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("/annotations/dev.capsa.vm.launcher"), r.err());
        assertEquals("", r.out());
    }
}
