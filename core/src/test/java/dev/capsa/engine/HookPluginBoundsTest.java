package dev.capsa.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.HookFailedException;
import dev.capsa.os.FakeOs;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.OciState;
import dev.capsa.state.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hook plugins under the engine: a bounded time each, and the dev.capsa.hooks annotation. */
class HookPluginBoundsTest {
    @TempDir
    Path tmp;

    final FakeOs os = new FakeOs();
    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    final FakeBackend ns = new FakeBackend("ns", os, calls);
    Path root;
    Path bundle;

    @BeforeEach
    void setUp() throws IOException {
        root = tmp.resolve("root");
        bundle = tmp.resolve("bundle");
        Files.createDirectories(bundle.resolve("rootfs"));
        writeConfig(null);
    }

    private void writeConfig(String hooksAnnotation) throws IOException {
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.2.1\",\"root\":{\"path\":\"rootfs\"},"
                + "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}"
                + (hooksAnnotation == null ? "" : ",\"annotations\":{\"dev.capsa.hooks\":\"" + hooksAnnotation + "\"}")
                + "}");
    }

    private Engine engine(Duration timeout, List<LifecycleHook> extensions) {
        Backends backends = new Backends() {
            @Override
            public RuntimeBackend get(String name) {
                if (!name.equals("ns")) {
                    throw new BackendUnavailableException("no backend named \"" + name + "\"");
                }
                return ns;
            }

            @Override
            public List<String> names() {
                return List.of("ns");
            }
        };
        HookRunner none = (phase, hook, state) -> calls.add("hook " + hook.path());
        return new Engine(new dev.capsa.state.FileStateStore(root, Duration.ofMillis(200)), backends,
                new HookDispatcher(none, () -> extensions, timeout), os, new EngineSettings("ns", null));
    }

    /** A hook plugin that blocks in its phases until interrupted, and records that it was. */
    static final class Hanging implements LifecycleHook {
        final Set<HookPhase> phases;
        final CountDownLatch interrupted = new CountDownLatch(1);

        Hanging(HookPhase... phases) {
            this.phases = Set.of(phases);
        }

        @Override
        public String name() {
            return "sleepy";
        }

        @Override
        public Set<HookPhase> phases() {
            return phases;
        }

        @Override
        public void run(HookPhase phase, OciState state) {
            try {
                Thread.sleep(Duration.ofMinutes(10));
            } catch (InterruptedException e) {
                interrupted.countDown();
            }
        }
    }

    static LifecycleHook recorder(String name, List<String> calls) {
        return TestHooks.hook(name, Set.of(HookPhase.values()), (phase, state) -> calls.add(name + " " + phase.specName()));
    }

    @Test
    void aHookPluginThatHangsInAFatalPhaseIsStoppedAndFailsCreate() throws InterruptedException {
        Hanging sleepy = new Hanging(HookPhase.CREATE_RUNTIME);
        Engine e = engine(Duration.ofMillis(300), List.of(sleepy));
        long start = System.nanoTime();
        HookFailedException ex = assertThrows(HookFailedException.class,
                () -> e.create("c1", bundle, CreateOptions.defaults(), null));
        long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals("createRuntime hook plugin sleepy: timed out after 0.3 s", ex.getMessage());
        assertTrue(took < 5000, "gave up after " + took + " ms");
        assertTrue(sleepy.interrupted.await(5, TimeUnit.SECONDS), "the hook's thread was interrupted");
        assertFalse(Files.exists(root.resolve("c1")), "a failed create leaves nothing");
    }

    @Test
    void aHookPluginThatHangsInPoststartOnlyWarns() throws InterruptedException {
        Hanging sleepy = new Hanging(HookPhase.POSTSTART);
        List<String> after = new ArrayList<>();
        Engine e = engine(Duration.ofMillis(300), List.of(sleepy, recorder("next", after)));
        e.create("c1", bundle, CreateOptions.defaults(), null);
        e.start("c1");
        assertEquals(Status.RUNNING, e.state("c1").status());
        assertTrue(after.contains("next poststart"), "the plugins after it still ran: " + after);
        assertTrue(sleepy.interrupted.await(5, TimeUnit.SECONDS));
        e.delete("c1", true);
    }

    @Test
    void aHookPluginThatThrowsAnErrorOfItsOwnIsAFailure() {
        LifecycleHook broken = TestHooks.hook("broken", Set.of(HookPhase.PRESTART), (phase, state) -> {
            throw new HookFailedException("prestart hook /x: exit status 1");
        });
        HookFailedException ex = assertThrows(HookFailedException.class,
                () -> engine(Duration.ofSeconds(5), List.of(broken)).create("c1", bundle, CreateOptions.defaults(), null));
        assertEquals("prestart hook plugin broken: prestart hook /x: exit status 1", ex.getMessage());
    }

    @Test
    void theAnnotationNarrowsTheHookPluginsOfOneContainer() throws IOException {
        List<String> ran = new ArrayList<>();
        List<LifecycleHook> plugins = List.of(recorder("journal", ran), recorder("hooks.d", ran));

        writeConfig("hooks.d");
        Engine e = engine(Duration.ofSeconds(5), plugins);
        e.create("c1", bundle, CreateOptions.defaults(), null);
        assertEquals(List.of("hooks.d prestart", "hooks.d createRuntime", "hooks.d createContainer"), ran);

        ran.clear();
        writeConfig(" journal , hooks.d ");
        e.create("c2", bundle, CreateOptions.defaults(), null);
        assertEquals(6, ran.size(), ran.toString());

        ran.clear();
        List<LifecycleHook> counted = new ArrayList<>();
        writeConfig("none");
        Engine lazy = new Engine(new dev.capsa.state.FileStateStore(root, Duration.ofMillis(200)), new Backends() {
            @Override
            public RuntimeBackend get(String name) {
                return ns;
            }

            @Override
            public List<String> names() {
                return List.of("ns");
            }
        }, new HookDispatcher((p, h, s) -> { }, () -> {
            counted.add(null);
            return plugins;
        }, Duration.ofSeconds(5)), os, new EngineSettings("ns", null));
        lazy.create("c3", bundle, CreateOptions.defaults(), null);
        assertEquals(List.of(), ran, "none runs no hook plugin");
        assertTrue(counted.isEmpty(), "and does not even load them");
    }
}
