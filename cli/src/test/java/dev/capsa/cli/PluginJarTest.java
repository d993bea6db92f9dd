package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.spec.Json;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A third-party backend as its author would ship it: Java source compiled against core alone,
 * META-INF/extensions.idx from pf4j's annotation processor, a jar with a plugin manifest, dropped
 * into a plugins folder and driven through the CLI. Each test runs twice: with a manifest that
 * declares the backend ({@code Capsa-Backends: toy}) and with one that declares nothing, which
 * Capsa must load and ask.
 */
class PluginJarTest {
    /**
     * Keeps its state in marker files; records the test JVM's own pid, which is alive, and never
     * signals it: kill only writes the signal number down, in the bundle, where the test reads it.
     * It takes core's Os through Guice, as a real backend does.
     */
    private static final String TOY_BACKEND = """
            package toy;

            import dev.capsa.os.Os;
            import dev.capsa.spi.Availability;
            import dev.capsa.spi.ContainerContext;
            import dev.capsa.spi.CreateOptions;
            import dev.capsa.spi.Features;
            import dev.capsa.spi.RuntimeBackend;
            import dev.capsa.state.Status;
            import jakarta.inject.Inject;
            import java.io.IOException;
            import java.io.UncheckedIOException;
            import java.nio.file.Files;
            import java.nio.file.Path;
            import java.util.List;
            import org.pf4j.Extension;

            @Extension
            public final class ToyBackend implements RuntimeBackend {
                private final Os os;

                @Inject
                public ToyBackend(Os os) {
                    this.os = os;
                }

                public String name() {
                    return "toy";
                }

                public Availability probe() {
                    return Availability.yes();
                }

                public Features features() {
                    return new Features("1.0.0", "1.2.1", List.of(), List.of(), null, null, null);
                }

                public void create(ContainerContext ctx, CreateOptions options) {
                    touch(ctx.stateDir().resolve("created"), "");
                    ctx.recordPid(ProcessHandle.current().pid());
                }

                public void start(ContainerContext ctx) {
                    touch(ctx.stateDir().resolve("started"), "");
                }

                public Status status(ContainerContext ctx) {
                    Path dir = ctx.stateDir();
                    if (ctx.pid().isEmpty() || os.processStartTime(ctx.pid().getAsLong()).isEmpty()
                            || Files.exists(dir.resolve("stopped"))) {
                        return Status.STOPPED;
                    }
                    return Files.exists(dir.resolve("started")) ? Status.RUNNING : Status.CREATED;
                }

                public void kill(ContainerContext ctx, int signal, boolean all) {
                    touch(ctx.bundle().resolve("toy.signal"), Integer.toString(signal));
                    touch(ctx.stateDir().resolve("stopped"), "");
                }

                public void delete(ContainerContext ctx, boolean force) {
                    for (String marker : List.of("created", "started", "stopped")) {
                        try {
                            Files.deleteIfExists(ctx.stateDir().resolve(marker));
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    }
                }

                private static void touch(Path file, String content) {
                    try {
                        Files.writeString(file, content);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            }
            """;

    @TempDir
    static Path build;
    static Path declaring;
    static Path undeclared;

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    @BeforeAll
    static void buildPluginJars() throws Exception {
        Path src = build.resolve("src/toy/ToyBackend.java");
        Files.createDirectories(src.getParent());
        Files.writeString(src, TOY_BACKEND);
        Path classes = Files.createDirectories(build.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        StringWriter diagnostics = new StringWriter();
        boolean ok = javac.getTask(diagnostics, null, null, List.of("-classpath", System.getProperty("java.class.path"),
                        "-processor", "org.pf4j.processor.ExtensionAnnotationProcessor", "-d", classes.toString()),
                null, javac.getStandardFileManager(null, null, null).getJavaFileObjects(src)).call();
        assertTrue(ok, diagnostics.toString());
        assertEquals("toy.ToyBackend", Files.readString(classes.resolve("META-INF/extensions.idx")).lines()
                .filter(l -> !l.startsWith("#")).findFirst().orElse(""), "the processor indexed the extension");

        declaring = jar(classes, build.resolve("declaring/toy.jar"), true);
        undeclared = jar(classes, build.resolve("undeclared/toy.jar"), false);
    }

    private static Path jar(Path classes, Path jar, boolean declares) throws Exception {
        Manifest manifest = new Manifest();
        Attributes main = manifest.getMainAttributes();
        main.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        main.putValue("Plugin-Id", "toy-plugin");
        main.putValue("Plugin-Version", "1.0.0");
        if (declares) {
            main.putValue("Capsa-Backends", "toy");
        }
        Files.createDirectories(jar.getParent());
        try (OutputStream file = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(file, manifest);
             Stream<Path> walk = Files.walk(classes)) {
            for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(p).toString().replace('\\', '/')));
                out.write(Files.readAllBytes(p));
                out.closeEntry();
            }
        }
        return jar;
    }

    /** The plugins folder: a copy of one jar, alone, as a user drops it in. */
    private Path plugins(boolean declares) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("plugins"));
        Files.copy(declares ? declaring : undeclared, dir.resolve("toy.jar"));
        return dir;
    }

    private Path bundle() throws Exception {
        Path bundle = Files.createDirectories(tmp.resolve("bundle"));
        Files.createDirectories(bundle.resolve("rootfs"));
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion": "1.2.1", "root": {"path": "rootfs"}, "process": {"args": ["true"], "cwd": "/"}}
                """);
        return bundle;
    }

    private Result capsa(Path plugins, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of("--root", tmp.resolve("root").toString(),
                "--plugins", plugins.toString()));
        all.addAll(List.of(args));
        int code = Main.run(all.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private JsonNode state(Path plugins, String id) throws Exception {
        Result r = capsa(plugins, "state", id);
        assertEquals(0, r.code(), r.err());
        return Json.mapper().readTree(r.out());
    }

    @ParameterizedTest(name = "manifest declares the backend: {0}")
    @ValueSource(booleans = {true, false})
    void theWholeLifecycleThroughAPluginJar(boolean declares) throws Exception {
        Path plugins = plugins(declares);
        Path bundle = bundle();

        Result create = capsa(plugins, "--backend=toy", "create", "--bundle", bundle.toString(), "c1");
        assertEquals(0, create.code(), create.err());
        assertEquals("created", state(plugins, "c1").path("status").asText());

        assertEquals(0, capsa(plugins, "start", "c1").code());
        JsonNode running = state(plugins, "c1");
        assertEquals("running", running.path("status").asText());
        assertEquals(ProcessHandle.current().pid(), running.path("pid").asLong());
        assertEquals(bundle.toString(), running.path("bundle").asText());

        Result kill = capsa(plugins, "kill", "c1", "KILL");
        assertEquals(0, kill.code(), kill.err());
        assertEquals("9", Files.readString(bundle.resolve("toy.signal")));
        JsonNode stopped = state(plugins, "c1");
        assertEquals("stopped", stopped.path("status").asText());
        assertEquals(0, stopped.path("pid").asLong());

        Result delete = capsa(plugins, "delete", "c1");
        assertEquals(0, delete.code(), delete.err());
        assertFalse(Files.exists(tmp.resolve("root/c1")), "the state dir is gone");
        Result list = capsa(plugins, "list", "--quiet");
        assertEquals(0, list.code(), list.err());
        assertEquals("", list.out());
    }

    @ParameterizedTest(name = "manifest declares the backend: {0}")
    @ValueSource(booleans = {true, false})
    void anUnknownBackendIsNamedWithTheOnesFound(boolean declares) throws Exception {
        Path plugins = plugins(declares);
        Result r = capsa(plugins, "--backend=nope", "create", "--bundle", bundle().toString(), "c1");
        assertEquals(1, r.code());
        assertEquals("capsa: no backend named \"nope\" in plugins folder " + plugins + " (found: toy)\n", r.err());
        assertEquals("", capsa(plugins, "list", "--quiet").out(), "no container is left behind");
    }

    @ParameterizedTest(name = "manifest declares the backend: {0}")
    @ValueSource(booleans = {true, false})
    void versionListsThePluginsBackend(boolean declares) throws Exception {
        Result r = capsa(plugins(declares), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\nbackend toy: available\n"), r.out());
    }
}
