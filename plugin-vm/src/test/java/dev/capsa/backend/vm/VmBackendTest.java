package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.backend.vm.image.GuestImage;
import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.os.Os;
import dev.capsa.error.WrongStateException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.Status;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The backend's fault paths with a fake hypervisor whose "QEMU" is a sleep and whose guest never answers. */
class VmBackendTest {
    @TempDir
    Path tmp;

    private final List<ProcessHandle> started = new ArrayList<>();
    private final List<ServerSocketChannel> sockets = new ArrayList<>();

    @AfterEach
    void cleanUp() throws IOException {
        started.forEach(ProcessHandle::destroyForcibly);
        for (ServerSocketChannel s : sockets) {
            s.close();
        }
    }

    /** Boots nothing: a sleep stands for QEMU, and the ctl socket listens but nobody ever answers. */
    private final class SilentHypervisor implements Hypervisor {
        VmConfig launched;

        @Override
        public Availability probe() {
            return Availability.yes();
        }

        @Override
        public Accelerator.Choice accelerator(Path cacheDir) {
            return new Accelerator.Choice("tcg", "fake");
        }

        @Override
        public ProcessHandle launch(VmConfig config) {
            launched = config;
            try {
                Files.writeString(config.console(), "[    0.1] a kernel that went quiet\n");
                ServerSocketChannel ctl = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                ctl.bind(UnixDomainSocketAddress.of(((dev.capsa.backend.vm.qemu.QemuCommandLine.ListeningSocket)
                        config.ctl()).path()));
                sockets.add(ctl);
                ProcessHandle p = new ProcessBuilder("sleep", "60").start().toHandle();
                started.add(p);
                return p;
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static final class Context implements ContainerContext {
        final Path bundle, stateDir;
        final Spec spec;
        final Map<String, String> data = new HashMap<>();
        long pid;
        boolean realSignals;

        Context(Path bundle, Path stateDir, Spec spec) {
            this.bundle = bundle;
            this.stateDir = stateDir;
            this.spec = spec;
        }

        public String id() {
            return "c1";
        }

        public Path bundle() {
            return bundle;
        }

        public Spec spec() {
            return spec;
        }

        public Path stateDir() {
            return stateDir;
        }

        public OptionalLong pid() {
            return pid == 0 ? OptionalLong.empty() : OptionalLong.of(pid);
        }

        public void recordPid(long pid) {
            this.pid = pid;
        }

        public boolean processAlive() {
            return pid != 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        }

        public Optional<String> data(String key) {
            return Optional.ofNullable(data.get(key));
        }

        public void putData(String key, String value) {
            data.put(key, value);
        }

        public void runHooks(HookPhase phase) {
        }

        public Os os() {
            return new Os() {
                public void kill(long pid, int signal) {
                    if (!realSignals) {
                        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                        return;
                    }
                    try {
                        new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start().waitFor();
                    } catch (IOException | InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }

                public OptionalLong processStartTime(long pid) {
                    return OptionalLong.empty();
                }

                public int euid() {
                    return 0;
                }

                public int egid() {
                    return 0;
                }
            };
        }
    }

    private Context context() throws Exception {
        ObjectNode json = Json.mapper().valueToTree(DefaultSpec.example(false));
        ((ObjectNode) json.get("process")).put("terminal", false);
        Spec spec = SpecLoader.parse(Json.mapper().writeValueAsBytes(json));
        Path bundle = Files.createDirectories(tmp.resolve("bundle/rootfs")).getParent();
        return new Context(bundle, Files.createDirectories(tmp.resolve("root/c1")), spec);
    }

    private GuestImage image() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("guest"));
        Files.writeString(dir.resolve("vmlinux"), "kernel");
        Files.write(dir.resolve("modules.cpio"), new byte[0]);
        return new GuestImage(dir);
    }

    @Test
    void aGuestThatNeverAnswersFailsCreateInTimeWithItsConsoleAndNoQemuLeft() throws Exception {
        SilentHypervisor hv = new SilentHypervisor();
        VmBackend backend = new VmBackend(hv, image(), ctl -> {
            throw new AssertionError("create talks to the agent itself");
        }, Duration.ofMillis(500));
        Context ctx = context();
        long t0 = System.nanoTime();
        CapsaException e = assertThrows(CapsaException.class, () -> backend.create(ctx, CreateOptions.defaults()));
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "bounded by the boot timeout");
        assertTrue(e.getMessage().startsWith("container \"c1\": the guest did not come up: "), e.getMessage());
        assertTrue(e.getMessage().contains("did not answer within 500 ms"), e.getMessage());
        assertTrue(e.getMessage().contains("a kernel that went quiet"), "the console's tail: " + e.getMessage());
        assertFalse(started.getFirst().isAlive(), "QEMU is killed");
        assertEquals(Status.STOPPED, backend.status(ctx));
        assertEquals(ctx.bundle().resolve("rootfs"), hv.launched.rootfs());
        assertEquals(256, hv.launched.memoryMib());
    }

    @Test
    void statusFollowsQemuAndStart() throws Exception {
        VmBackend backend = new VmBackend(new SilentHypervisor(), image(), ctl -> null, Duration.ofSeconds(1));
        Context ctx = context();
        assertEquals(Status.STOPPED, backend.status(ctx));
        ProcessHandle qemu = new ProcessBuilder("sleep", "60").start().toHandle();
        started.add(qemu);
        ctx.recordPid(qemu.pid());
        assertEquals(Status.CREATED, backend.status(ctx));
        ctx.putData(VmBackend.STARTED, "1");
        assertEquals(Status.RUNNING, backend.status(ctx));
    }

    @Test
    void deleteForceKillsAGuestWhoseAgentIsGone() throws Exception {
        VmBackend backend = new VmBackend(new SilentHypervisor(), image(), ctl -> {
            throw new AgentException("cannot connect to the guest agent at " + ctl, null);
        }, Duration.ofSeconds(1));
        Context ctx = context();
        ProcessHandle qemu = new ProcessBuilder("sleep", "60").start().toHandle();
        started.add(qemu);
        ctx.recordPid(qemu.pid());
        assertThrows(CapsaException.class, () -> backend.delete(ctx, false));
        backend.delete(ctx, true);
        assertFalse(qemu.isAlive());
    }

    /**
     * The slot's guest end, as capsa-agent plays it: waits for the host's hello, collects stdin
     * frames up to the close frame, answers with the stdin on stdout, a line on stderr, and the exit.
     */
    private Thread fakeSlot(Path socket, int code, StringBuilder seen) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        sockets.add(server);
        return Thread.ofPlatform().daemon().start(() -> {
            try (java.nio.channels.SocketChannel ch = server.accept()) {
                java.io.DataInputStream in = new java.io.DataInputStream(java.nio.channels.Channels.newInputStream(ch));
                java.io.ByteArrayOutputStream stdin = new java.io.ByteArrayOutputStream();
                while (true) {
                    byte type = in.readByte();
                    byte[] data = new byte[in.readInt()];
                    in.readFully(data);
                    seen.append((char) type);
                    if (type == 'i') {
                        stdin.write(data);
                    } else if (type == 'c') {
                        break;
                    }
                }
                java.io.DataOutputStream out = new java.io.DataOutputStream(java.nio.channels.Channels.newOutputStream(ch));
                for (Object[] f : List.<Object[]>of(new Object[] {'o', stdin.toByteArray()},
                        new Object[] {'e', "to stderr\n".getBytes()}, new Object[] {'x', Integer.toString(code).getBytes()})) {
                    byte[] d = (byte[]) f[1];
                    out.writeByte((Character) f[0]);
                    out.writeInt(d.length);
                    out.write(d);
                }
                out.flush();
            } catch (IOException e) {
                seen.append("!").append(e.getMessage());
            }
        });
    }

    private static dev.capsa.spi.ExecOptions execOptions(Spec spec, boolean detach, Path pidFile) throws Exception {
        ObjectNode p = Json.mapper().valueToTree(spec.process());
        p.putArray("args").add("sh").add("-c").add("cat; exit 3");
        p.putArray("env").add("A=1");
        p.put("cwd", "/tmp");
        return new dev.capsa.spi.ExecOptions(Json.mapper().treeToValue(p, dev.capsa.spec.ProcessSpec.class), detach,
                null, pidFile, 0);
    }

    @Test
    void execStartsTheProcessThroughTheAgentAndRelaysItsStdioAndExitThroughASlot() throws Exception {
        Context ctx = context();
        ProcessHandle qemu = new ProcessBuilder("sleep", "60").start().toHandle();
        started.add(qemu);
        ctx.recordPid(qemu.pid());
        Path ctl = ctx.stateDir().resolve(VmBackend.CTL);
        try (dev.capsa.backend.vm.agent.FakeAgent agent = new dev.capsa.backend.vm.agent.FakeAgent(ctl)) {
            agent.state = "running";
            StringBuilder seen = new StringBuilder();
            Thread slot = fakeSlot(ctx.stateDir().resolve(ExecSession.socketName(0)), 3, seen);
            var relayUrl = VmBackendTest.class.getResource("/capsa-relay");
            org.junit.jupiter.api.Assumptions.assumeTrue(relayUrl != null && relayUrl.getProtocol().equals("file"),
                    "capsa-relay was not built (no C compiler?)");
            Path relayIn = Files.writeString(tmp.resolve("relay.in"), "relay input\n");
            Path relayOut = tmp.resolve("relay.out"), relayErr = tmp.resolve("relay.err");
            VmBackend backend = new VmBackend(new SilentHypervisor(), image(),
                    c -> dev.capsa.backend.vm.agent.AgentClient.connect(c, Duration.ofSeconds(2), Duration.ofSeconds(2)),
                    Duration.ofSeconds(1), () -> new ExecRelay(Path.of(java.net.URI.create(relayUrl.toString())),
                            Duration.ofSeconds(5), ProcessBuilder.Redirect.from(relayIn.toFile()),
                            ProcessBuilder.Redirect.to(relayOut.toFile()), ProcessBuilder.Redirect.to(relayErr.toFile())));
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
            Path pidFile = tmp.resolve("exec.pid");
            int code = backend.exec(ctx, execOptions(ctx.spec(), false, pidFile),
                    new java.io.ByteArrayInputStream("some input\n".getBytes()), out, err);
            slot.join(5000);
            assertEquals(3, code);
            assertEquals("some input\n", out.toString());
            assertEquals("to stderr\n", err.toString());
            assertEquals("hic", seen.toString(), "hello, the stdin, its end");
            assertEquals(Long.toString(ProcessHandle.current().pid()), Files.readString(pidFile));
            List<List<String>> r = agent.received;
            int n = r.indexOf(List.of("newexec"));
            assertTrue(n > 0, r.toString());
            assertEquals(List.of(List.of("arg", "sh"), List.of("arg", "-c"), List.of("arg", "cat; exit 3"),
                    List.of("env", "A=1"), List.of("cwd", "/tmp")), r.subList(n + 1, n + 6));
            assertTrue(r.contains(List.of("exec", "0")), r.toString());

            // detached: capsa-relay takes a slot and stands for the process; the pid file names it
            sockets.removeFirst().close();
            Files.delete(ctx.stateDir().resolve(ExecSession.socketName(0)));
            StringBuilder seenByRelay = new StringBuilder();
            Thread relaySlot = fakeSlot(ctx.stateDir().resolve(ExecSession.socketName(0)), 5, seenByRelay);
            assertEquals(0, backend.exec(ctx, execOptions(ctx.spec(), true, pidFile), null, null, null));
            assertEquals(List.of("exec", "0"), r.getLast());
            long relayPid = Long.parseLong(Files.readString(pidFile));
            assertTrue(relayPid != ProcessHandle.current().pid() && relayPid != qemu.pid(), "the relay's pid");
            relaySlot.join(5000);
            ProcessHandle.of(relayPid).ifPresent(h -> h.onExit().join());
            assertEquals("hic", seenByRelay.toString(), "hello, the relay's stdin, its end");
            assertEquals("relay input\n", Files.readString(relayOut));
            assertEquals("to stderr\n", Files.readString(relayErr));

            // every slot taken: the process runs without stdio, and the pid file names QEMU
            List<java.nio.channels.FileChannel> held = new ArrayList<>();
            try {
                for (int i = 0; i < VmBackend.EXEC_SLOTS; i++) {
                    java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(
                            ctx.stateDir().resolve("exec" + i + ".lock"), java.nio.file.StandardOpenOption.CREATE,
                            java.nio.file.StandardOpenOption.WRITE);
                    held.add(ch);
                    ch.lock();
                }
                assertEquals(0, backend.exec(ctx, execOptions(ctx.spec(), true, pidFile), null, null, null));
                assertEquals(List.of("exec", "-1"), r.getLast());
                assertEquals(Long.toString(qemu.pid()), Files.readString(pidFile));
            } finally {
                for (java.nio.channels.FileChannel ch : held) {
                    ch.close();
                }
            }

            // a failure in the guest comes back with the agent's step
            agent.failOn = "cwd";
            CapsaException e = assertThrows(CapsaException.class,
                    () -> backend.exec(ctx, execOptions(ctx.spec(), true, null), null, null, null));
            assertTrue(e.getMessage().startsWith("container \"c1\": exec: mount failed with errno 2"), e.getMessage());
        }
    }

    @Test
    void execInAStoppedGuestOrWithAMisusedTerminalIsRefused() throws Exception {
        Context ctx = context();
        VmBackend backend = new VmBackend(new SilentHypervisor(), image(), c -> {
            throw new AssertionError("no agent is asked");
        }, Duration.ofSeconds(1));
        CapsaException stopped = assertThrows(CapsaException.class,
                () -> backend.exec(ctx, execOptions(ctx.spec(), false, null)));
        assertTrue(stopped.getMessage().contains("its guest is gone"), stopped.getMessage());
        ProcessHandle qemu = new ProcessBuilder("sleep", "60").start().toHandle();
        started.add(qemu);
        ctx.recordPid(qemu.pid());
        dev.capsa.spi.ExecOptions o = execOptions(ctx.spec(), false, null);
        CapsaException noTty = assertThrows(CapsaException.class, () -> backend.exec(ctx,
                new dev.capsa.spi.ExecOptions(o.process(), true, tmp.resolve("console.sock"), null, 0)));
        assertTrue(noTty.getMessage().startsWith("/terminal: --console-socket needs process.terminal true"),
                noTty.getMessage());
        ObjectNode withTty = Json.mapper().valueToTree(o.process());
        withTty.put("terminal", true);
        dev.capsa.spec.ProcessSpec tty = Json.mapper().treeToValue(withTty, dev.capsa.spec.ProcessSpec.class);
        CapsaException noSocket = assertThrows(CapsaException.class, () -> backend.exec(ctx,
                new dev.capsa.spi.ExecOptions(tty, true, null, null, 0)));
        assertTrue(noSocket.getMessage().startsWith("/terminal: process.terminal requires --console-socket"),
                noSocket.getMessage());
        CapsaException foreground = assertThrows(CapsaException.class, () -> backend.exec(ctx,
                new dev.capsa.spi.ExecOptions(tty, false, tmp.resolve("console.sock"), null, 0)));
        assertTrue(foreground.getMessage().startsWith("--console-socket needs --detach"), foreground.getMessage());
    }

    /** /proc/PID/stat's state letter. */
    private static char procState(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return stat.charAt(stat.lastIndexOf(')') + 2);
    }

    @Test
    void pauseStopsQemuAndStateSaysPausedUntilResumeAndPsListsTheHostProcesses() throws Exception {
        var url = VmBackendTest.class.getResource("/capsa-relay");
        assumeTrue(url != null && url.getProtocol().equals("file"), "capsa-relay was not built (no C compiler?)");
        // the real monitor, with a sleep for QEMU
        ProcessHandle monitor = new ProcessBuilder(Path.of(url.toURI()).toString(), "monitor", "sleep", "60").start()
                .toHandle();
        started.add(monitor);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (monitor.children().findAny().isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        ProcessHandle qemu = monitor.children().findFirst().orElseThrow();
        started.add(qemu);
        Context ctx = context();
        ctx.realSignals = true;
        ctx.recordPid(monitor.pid());
        ctx.putData(VmBackend.STARTED, "1");
        VmBackend backend = new VmBackend(new SilentHypervisor(), image(), ctl -> {
            throw new AssertionError("pause and resume do not talk to the agent");
        }, Duration.ofSeconds(1));
        assertEquals(Status.RUNNING, backend.status(ctx));
        assertEquals(List.of(monitor.pid(), qemu.pid()), backend.processes(ctx));

        backend.pause(ctx);
        assertEquals(Status.PAUSED, backend.status(ctx));
        assertEquals('T', procState(qemu.pid()));
        // a paused guest cannot take a signal through its agent; only SIGKILL is refused nothing
        assertThrows(WrongStateException.class, () -> backend.kill(ctx, 15, false));

        backend.resume(ctx);
        assertEquals(Status.RUNNING, backend.status(ctx));
        assertTrue("SR".indexOf(procState(qemu.pid())) >= 0, "QEMU runs again");

        backend.pause(ctx);
        backend.kill(ctx, 9, false);
        assertFalse(monitor.isAlive(), "SIGKILL of a paused guest ends its monitor");
        assertEquals(Status.STOPPED, backend.status(ctx));
    }

    @Test
    void aTerminalNeedsAConsoleSocketAndGoesThroughTheMonitorsPty() throws Exception {
        SilentHypervisor hv = new SilentHypervisor();
        VmBackend backend = new VmBackend(hv, image(), ctl -> {
            throw new AssertionError("create talks to the agent itself");
        }, Duration.ofMillis(300));
        Context plain = context();
        Path socket = tmp.resolve("console.sock");
        InvalidSpecException noTty = assertThrows(InvalidSpecException.class,
                () -> backend.create(plain, new CreateOptions(socket, false, false, 0, false)));
        assertEquals("/process/terminal", noTty.pointer());
        assertEquals(null, hv.launched, "nothing starts");

        ObjectNode json = Json.mapper().valueToTree(DefaultSpec.example(false));
        ((ObjectNode) json.get("process")).put("terminal", true).putObject("consoleSize").put("height", 30)
                .put("width", 100);
        Context tty = new Context(plain.bundle(), plain.stateDir(),
                SpecLoader.parse(Json.mapper().writeValueAsBytes(json)));
        InvalidSpecException noSocket = assertThrows(InvalidSpecException.class,
                () -> backend.create(tty, CreateOptions.defaults()));
        assertEquals("/process/terminal", noSocket.pointer());

        // the guest never answers here; what matters is what QEMU was given
        assertThrows(CapsaException.class, () -> backend.create(tty, new CreateOptions(socket, false, false, 0, false)));
        assertEquals(new dev.capsa.backend.vm.qemu.QemuCommandLine.PtyInput(socket, 30, 100), hv.launched.stdin());
        assertEquals(new dev.capsa.backend.vm.qemu.QemuCommandLine.PtyOutput(), hv.launched.stdout());
    }
}
