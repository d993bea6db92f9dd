package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.backend.vm.image.GuestImage;
import dev.capsa.backend.vm.qemu.Accelerator;
import dev.capsa.error.CapsaException;
import dev.capsa.os.Os;
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
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
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
}
