package dev.capsa.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.AlreadyExistsException;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.HookFailedException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.error.NotFoundException;
import dev.capsa.error.WrongStateException;
import dev.capsa.os.FakeOs;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.FileStateStore;
import dev.capsa.state.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The transitions and errors of runtime.md, and the hook order, through the engine with a fake backend. */
class EngineTest {
    @TempDir
    Path tmp;

    final FakeOs os = new FakeOs();
    final List<String> calls = new ArrayList<>();
    final FakeBackend ns = new FakeBackend("ns", os, calls);
    final FakeBackend vm = new FakeBackend("vm", os, calls);
    final Set<String> failingHooks = new HashSet<>();
    Path root;
    Path bundle;

    /** Records each OCI hook as "phase path status pid", failing those whose path is in failingHooks. */
    final HookRunner hookRunner = (phase, hook, state) -> {
        calls.add("hook " + phase.specName() + " " + hook.path() + " " + state.status() + " " + state.pid());
        if (failingHooks.contains(hook.path())) {
            throw new HookFailedException(phase.specName() + " hook " + hook.path() + ": exit status 1");
        }
    };

    final LifecycleHook extension = TestHooks.hook("recorder", Set.of(HookPhase.values()),
            (phase, state) -> calls.add("ext " + phase.specName() + " " + state.status()));

    @BeforeEach
    void setUp() throws IOException {
        root = tmp.resolve("root");
        bundle = tmp.resolve("bundle");
        Files.createDirectories(bundle.resolve("rootfs"));
        writeConfig(null, "");
    }

    private void writeConfig(String backendAnnotation, String hooks) throws IOException {
        String annotations = backendAnnotation == null ? "" :
                ",\"annotations\":{\"dev.capsa.backend\":\"" + backendAnnotation + "\"}";
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.2.1\",\"root\":{\"path\":\"rootfs\"},"
                + "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}" + annotations
                + (hooks.isEmpty() ? "" : ",\"hooks\":{" + hooks + "}") + "}");
    }

    private Engine engine(String flag, List<LifecycleHook> extensions) {
        Map<String, RuntimeBackend> table = Map.of("ns", ns, "vm", vm);
        Backends backends = new Backends() {
            @Override
            public RuntimeBackend get(String name) {
                RuntimeBackend b = table.get(name);
                if (b == null) {
                    throw new BackendUnavailableException("no backend named \"" + name + "\"");
                }
                return b;
            }

            @Override
            public List<String> names() {
                return List.of("ns", "vm");
            }
        };
        return new Engine(new FileStateStore(root, Duration.ofMillis(200)), backends,
                new HookDispatcher(hookRunner, () -> extensions), os, new EngineSettings("ns", flag));
    }

    private Engine engine() {
        return engine(null, List.of());
    }

    @Test
    void createStartKillDeleteFollowsRuntimeMd() throws IOException {
        Engine e = engine();
        Path pidFile = tmp.resolve("pid");
        ContainerView created = e.create("c1", bundle, CreateOptions.defaults(), pidFile);
        assertEquals(Status.CREATED, created.status());
        assertEquals(Long.toString(created.pid()), Files.readString(pidFile));
        assertEquals("ns", e.state("c1").record().backend());
        assertEquals(bundle.resolve("rootfs").toString(), e.state("c1").record().rootfs());

        e.start("c1");
        assertEquals(Status.RUNNING, e.state("c1").status());
        WrongStateException twice = assertThrows(WrongStateException.class, () -> e.start("c1"));
        assertTrue(twice.getMessage().contains("\"c1\"") && twice.getMessage().contains("running"), twice.getMessage());

        WrongStateException running = assertThrows(WrongStateException.class, () -> e.delete("c1", false));
        assertTrue(running.getMessage().contains("--force"), running.getMessage());

        e.kill("c1", 15, false);
        assertEquals(Status.STOPPED, e.state("c1").status());
        assertEquals(0, e.state("c1").pid(), "a stopped container shows no pid");
        WrongStateException stopped = assertThrows(WrongStateException.class, () -> e.kill("c1", 15, false));
        // runc's words: containerd's shim maps them to "process already finished"
        assertEquals("cannot kill container \"c1\": container not running", stopped.getMessage());
        e.kill("c1", 9, true); // runc: kill --all of a stopped container signals what is left, if anything
        assertThrows(WrongStateException.class, () -> e.start("c1"));

        e.delete("c1", false);
        assertThrows(NotFoundException.class, () -> e.state("c1"));
        assertFalse(Files.exists(root.resolve("c1")));
        assertEquals(List.of("ns:create c1", "ns:start c1", "ns:kill c1 15", "ns:kill c1 9 all", "ns:delete c1"),
                calls);
    }

    @Test
    void unknownIdsAndClashingIds() {
        Engine e = engine();
        NotFoundException nf = assertThrows(NotFoundException.class, () -> e.state("ghost"));
        assertEquals("container \"ghost\" does not exist", nf.getMessage());
        assertThrows(NotFoundException.class, () -> e.start("ghost"));
        assertThrows(NotFoundException.class, () -> e.kill("ghost", 9, false));
        assertThrows(NotFoundException.class, () -> e.delete("ghost", false));
        e.delete("ghost", true); // runc: --force on a missing container succeeds

        e.create("c1", bundle, CreateOptions.defaults(), null);
        assertThrows(AlreadyExistsException.class, () -> e.create("c1", bundle, CreateOptions.defaults(), null));
        assertEquals(1, calls.stream().filter(c -> c.startsWith("ns:create")).count());
        CapsaException bad = assertThrows(CapsaException.class,
                () -> e.create("../etc", bundle, CreateOptions.defaults(), null));
        assertTrue(bad.getMessage().contains("invalid container id"), bad.getMessage());
    }

    @Test
    void deleteWithForceKillsACreatedContainer() {
        Engine e = engine();
        long pid = e.create("c1", bundle, CreateOptions.defaults(), null).pid();
        assertThrows(WrongStateException.class, () -> e.delete("c1", false));
        e.delete("c1", true);
        assertFalse(os.alive(pid));
        assertTrue(e.list().isEmpty());
    }

    @Test
    void theEngineRecordsThePidWithItsStartTime() {
        Engine e = engine();
        long pid = e.create("c1", bundle, CreateOptions.defaults(), null).pid();
        long start = os.processStartTime(pid).getAsLong();
        os.reuse(pid);
        // the record keeps the start time of the process it meant, so a reused pid can be told apart
        assertEquals(start, e.state("c1").record().pidStartTime());
        assertTrue(os.processStartTime(pid).getAsLong() != start);
    }

    @Test
    void backendChoiceFlagAnnotationDefault() throws IOException {
        assertEquals("ns", engine().create("a", bundle, CreateOptions.defaults(), null).record().backend());
        assertEquals("vm", engine("vm", List.of()).create("b", bundle, CreateOptions.defaults(), null)
                .record().backend());
        writeConfig("vm", "");
        assertEquals("vm", engine().create("c", bundle, CreateOptions.defaults(), null).record().backend());
        CapsaException clash = assertThrows(CapsaException.class,
                () -> engine("ns", List.of()).create("d", bundle, CreateOptions.defaults(), null));
        assertEquals("--backend=ns and annotation dev.capsa.backend=vm disagree: drop one or make them equal",
                clash.getMessage());
        assertFalse(Files.exists(root.resolve("d")));
        // later commands use the recorded backend, whatever the flag says now
        engine("ns", List.of()).start("c");
        assertTrue(calls.contains("vm:start c"), calls.toString());
    }

    @Test
    void anUnavailableBackendIsRefusedBeforeAnythingIsMade() {
        ns.availability = dev.capsa.spi.Availability.no("no kvm here");
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> engine().create("c1", bundle, CreateOptions.defaults(), null));
        assertEquals("backend ns is unavailable: no kvm here", e.getMessage());
        assertFalse(Files.exists(root.resolve("c1")));
        assertTrue(calls.isEmpty());
    }

    @Test
    void anInvalidSpecNamesTheFieldAndLeavesNothing() throws IOException {
        Files.writeString(bundle.resolve("config.json"),
                "{\"ociVersion\":\"1.2.1\",\"root\":{\"path\":\"rootfs\"},\"process\":{\"args\":[\"sh\"],\"cwd\":\"rel\"}}");
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> engine().create("c1", bundle, CreateOptions.defaults(), null));
        assertEquals("/process/cwd", e.pointer());
        assertFalse(Files.exists(root.resolve("c1")));
    }

    @Test
    void hooksRunInSpecOrderWithTheStateTheySee() throws IOException {
        writeConfig(null, "\"prestart\":[{\"path\":\"/h/prestart\"}],\"createRuntime\":[{\"path\":\"/h/cr\"}],"
                + "\"createContainer\":[{\"path\":\"/h/cc\"}],\"startContainer\":[{\"path\":\"/h/sc\"}],"
                + "\"poststart\":[{\"path\":\"/h/ps\"}],\"poststop\":[{\"path\":\"/h/stop\"}]");
        Engine e = engine(null, List.of(extension));
        long pid = e.create("c1", bundle, CreateOptions.defaults(), null).pid();
        e.start("c1");
        e.kill("c1", 9, false);
        e.delete("c1", false);
        assertEquals(List.of(
                "ns:create c1",
                "hook prestart /h/prestart creating " + pid,
                "ext prestart creating",
                "hook createRuntime /h/cr creating " + pid,
                "ext createRuntime creating",
                // createContainer and startContainer config.json hooks run inside the container, by the backend
                "ext createContainer creating",
                "ext startContainer created",
                "ns:start c1",
                "hook poststart /h/ps running " + pid,
                "ext poststart running",
                "ns:kill c1 9",
                "ns:delete c1",
                "hook poststop /h/stop stopped null",
                "ext poststop stopped"), calls);
    }

    @Test
    void theEngineRunsCreateRuntimeWhenTheBackendDoesNotReportIt() throws IOException {
        ns.reportsCreateRuntime = false;
        writeConfig(null, "\"createRuntime\":[{\"path\":\"/h/cr\"}]");
        Engine e = engine();
        long pid = e.create("c1", bundle, CreateOptions.defaults(), null).pid();
        assertEquals(List.of("ns:create c1", "hook createRuntime /h/cr creating " + pid), calls);
    }

    @Test
    void aFailingCreateRuntimeHookUndoesCreate() throws IOException {
        writeConfig(null, "\"createRuntime\":[{\"path\":\"/h/bad\"}]");
        failingHooks.add("/h/bad");
        Engine e = engine();
        HookFailedException ex = assertThrows(HookFailedException.class,
                () -> e.create("c1", bundle, CreateOptions.defaults(), null));
        assertTrue(ex.getMessage().contains("/h/bad"), ex.getMessage());
        assertTrue(calls.contains("ns:delete c1 force"), calls.toString());
        assertFalse(Files.exists(root.resolve("c1")), "no state left");
        assertTrue(os.kills.stream().anyMatch(k -> k.signal() == 9), "the process was killed");
    }

    @Test
    void aFailingBackendCreateLeavesNothing() {
        ns.failCreate = "before-hooks";
        Engine e = engine();
        assertThrows(CapsaException.class, () -> e.create("c1", bundle, CreateOptions.defaults(), null));
        assertFalse(Files.exists(root.resolve("c1")));
        assertTrue(calls.contains("ns:delete c1 force"));
    }

    @Test
    void failingPoststartAndPoststopHooksOnlyWarn() throws IOException {
        writeConfig(null, "\"poststart\":[{\"path\":\"/h/ps\"}],\"poststop\":[{\"path\":\"/h/stop\"}]");
        failingHooks.add("/h/ps");
        failingHooks.add("/h/stop");
        Engine e = engine();
        e.create("c1", bundle, CreateOptions.defaults(), null);
        e.start("c1");
        assertEquals(Status.RUNNING, e.state("c1").status());
        e.delete("c1", true);
        assertFalse(Files.exists(root.resolve("c1")));
    }

    @Test
    void aHookPluginThatThrowsInAFatalPhaseStopsCreate() {
        LifecycleHook broken = TestHooks.hook("broken", Set.of(HookPhase.CREATE_RUNTIME), (phase, state) -> {
            throw new IllegalStateException("boom");
        });
        Engine e = engine(null, List.of(broken));
        HookFailedException ex = assertThrows(HookFailedException.class,
                () -> e.create("c1", bundle, CreateOptions.defaults(), null));
        assertTrue(ex.getMessage().contains("hook plugin broken"), ex.getMessage());
        assertFalse(Files.exists(root.resolve("c1")));
    }

    @Test
    void runWaitsReturnsTheExitCodeAndRemovesTheContainer() {
        Engine e = engine();
        assertEquals(7, e.run("c1", bundle, CreateOptions.defaults(), null, false));
        assertEquals(List.of("ns:create c1", "ns:start c1", "ns:wait c1", "ns:delete c1 force"), calls);
        assertFalse(Files.exists(root.resolve("c1")));
        assertEquals(0, e.run("c2", bundle, CreateOptions.defaults(), null, true));
        assertEquals(Status.RUNNING, e.state("c2").status());
    }

    @Test
    void aCrashBeforeTheFirstWriteLeavesACreatingContainerThatForceDeletes() throws IOException {
        Files.createDirectories(root.resolve("crashed"));
        Engine e = engine();
        assertEquals(Status.CREATING, e.state("crashed").status());
        assertThrows(WrongStateException.class, () -> e.start("crashed"));
        WrongStateException ex = assertThrows(WrongStateException.class, () -> e.delete("crashed", false));
        assertTrue(ex.getMessage().contains("--force"), ex.getMessage());
        e.delete("crashed", true);
        assertFalse(Files.exists(root.resolve("crashed")));
    }

    @Test
    void aCrashMidCreateLeavesCreatingUntilForceDelete() {
        ns.failCreate = "after-hooks";
        Engine e = engine();
        // simulate a capsa process that died inside backend.create: the record says create is not done
        FileStateStore store = new FileStateStore(root, Duration.ofMillis(200));
        try (var lock = store.createAndLock("half")) {
            store.write(lock, new dev.capsa.state.ContainerRecord("half", "ns", bundle.toString(),
                    bundle.resolve("rootfs").toString(), "2026-01-01T00:00:00Z", "root", false, 0, 0, null, null));
        }
        assertEquals(Status.CREATING, e.state("half").status());
        assertThrows(WrongStateException.class, () -> e.kill("half", 9, false));
        e.delete("half", true);
        assertTrue(calls.contains("ns:delete half force"), calls.toString());
        assertFalse(Files.exists(root.resolve("half")));
    }

    @Test
    void aCreateThatDiedAfterItsProcessIsStoppedNotCreating() {
        Engine e = engine();
        // a capsa killed after it recorded the pid, and the process gone since: pid 424242 is not alive
        FileStateStore store = new FileStateStore(root, Duration.ofMillis(200));
        try (var lock = store.createAndLock("died")) {
            store.write(lock, new dev.capsa.state.ContainerRecord("died", "ns", bundle.toString(),
                    bundle.resolve("rootfs").toString(), "2026-01-01T00:00:00Z", "root", false, 424242, 1, null, null));
        }
        assertFalse(os.alive(424242));
        assertEquals(Status.STOPPED, e.state("died").status());
        e.delete("died", false);
        assertFalse(Files.exists(root.resolve("died")));
    }

    @Test
    void aCorruptStateFileIsReportedListedAndForceDeleted() throws IOException {
        Engine e = engine();
        e.create("good", bundle, CreateOptions.defaults(), null);
        Files.createDirectories(root.resolve("bad"));
        Files.writeString(root.resolve("bad/state.json"), "{\"id\":\"bad\",\"pid\":");
        CapsaException ex = assertThrows(CapsaException.class, () -> e.state("bad"));
        assertTrue(ex.getMessage().startsWith("state of container \"bad\" is corrupt: " + root.resolve("bad/state.json")),
                ex.getMessage());
        List<ContainerView> list = e.list();
        assertEquals(2, list.size());
        assertTrue(list.get(0).problem().contains("corrupt"));
        assertThrows(CapsaException.class, () -> e.delete("bad", false));
        e.delete("bad", true);
        assertFalse(Files.exists(root.resolve("bad")));
        assertEquals(Status.CREATED, e.state("good").status(), "the other container is untouched");
    }

    @Test
    void unimplementedOperationsSayWhichBackendAndOperation() {
        Engine e = engine();
        e.create("c1", bundle, CreateOptions.defaults(), null);
        e.start("c1");
        BackendUnavailableException ex = assertThrows(BackendUnavailableException.class, () -> e.pause("c1"));
        assertEquals("backend ns does not support pause", ex.getMessage());
        assertThrows(WrongStateException.class, () -> e.resume("c1"));
        assertEquals("backend ns does not support ps",
                assertThrows(BackendUnavailableException.class, () -> e.processes("c1")).getMessage());
    }

    @Test
    void aLockedContainerGivesAClearErrorAfterABoundedWait() throws Exception {
        Engine e = engine();
        e.create("c1", bundle, CreateOptions.defaults(), null);
        FileStateStore other = new FileStateStore(root, Duration.ofMillis(100));
        Thread holder;
        var held = new java.util.concurrent.CountDownLatch(1);
        var release = new java.util.concurrent.CountDownLatch(1);
        holder = new Thread(() -> {
            try (var lock = other.lock("c1")) {
                held.countDown();
                release.await();
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        });
        holder.start();
        held.await();
        try {
            dev.capsa.error.LockedException ex = assertThrows(dev.capsa.error.LockedException.class,
                    () -> e.start("c1"));
            assertTrue(ex.getMessage().contains("\"c1\" is locked"), ex.getMessage());
        } finally {
            release.countDown();
            holder.join();
        }
        e.start("c1");
        assertEquals(Status.RUNNING, e.state("c1").status());
    }

    @Test
    void theOciStateHasNoPidOnceStopped() {
        Engine e = engine();
        long pid = e.create("c1", bundle, CreateOptions.defaults(), null).pid();
        assertEquals(pid, e.state("c1").ociState().pid());
        assertEquals("created", e.state("c1").ociState().status());
        os.exit(pid);
        assertEquals(null, e.state("c1").ociState().pid());
        assertEquals("stopped", e.state("c1").ociState().status());
        assertEquals("1.2.1", e.state("c1").ociState().ociVersion());
    }
}
