package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.error.CapsaException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Json;
import dev.capsa.spec.SpecLoader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line in-process: parsing, exit codes, output formats; no container is run. */
class CliTest {
    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    Result capsa(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of("--root", tmp.resolve("root").toString()));
        all.addAll(List.of(args));
        int code = Main.run(all.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static Path builtPlugins() {
        Path dir = Path.of(System.getProperty("capsa.test.plugins", "../plugins"));
        assumeTrue(Files.isRegularFile(dir.resolve("capsa-ns.jar")),
                "the plugin jars are built by `mvn package`; " + dir + " has no capsa-ns.jar yet");
        return dir;
    }

    @Test
    void specWritesRuncsDefaultOnceAndRefusesToOverwrite() throws Exception {
        Result r = capsa("spec", "--bundle", tmp.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        JsonNode written = Json.mapper().readTree(tmp.resolve("config.json").toFile());
        JsonNode expected = Json.mapper().readTree(SpecLoader.toJson(
                DefaultSpec.example(DefaultSpec.hostHasUnifiedCgroup())));
        assertEquals(expected, written);
        assertEquals("1.2.1", written.path("ociVersion").asText());
        assertTrue(Files.readString(tmp.resolve("config.json")).startsWith("{\n\t\"ociVersion\""), "tab indented");

        Result again = capsa("spec", "--bundle", tmp.toString());
        assertEquals(1, again.code());
        assertEquals("capsa: " + tmp.resolve("config.json") + " already exists: remove it first\n", again.err());
    }

    @Test
    void rootlessSpecMapsTheCallerAndDropsNetworkAndResources() throws Exception {
        assertEquals(0, capsa("spec", "--rootless", "-b", tmp.toString()).code());
        JsonNode spec = Json.mapper().readTree(tmp.resolve("config.json").toFile());
        List<String> types = new ArrayList<>();
        spec.path("linux").path("namespaces").forEach(n -> types.add(n.path("type").asText()));
        assertTrue(types.contains("user") && !types.contains("network"), types.toString());
        assertEquals(1, spec.path("linux").path("uidMappings").get(0).path("size").asInt());
        assertTrue(spec.path("linux").path("resources").isMissingNode());
    }

    @Test
    void specIntoAMissingBundleFails() {
        Result r = capsa("spec", "--bundle", tmp.resolve("nope").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(tmp.resolve("nope").toString()), r.err());
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(2, capsa("frobnicate").code());
        assertEquals(2, capsa("state").code(), "missing id");
        assertEquals(2, capsa("--log-format", "xml", "list").code());
        Result none = capsa();
        assertEquals(2, none.code(), "no command");
        assertTrue(none.out().contains("Commands:") && none.out().contains("  delete "), "every subcommand listed: "
                + none.out());
        Result r = capsa("kill", "--bogus", "x");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--bogus"), r.err());
    }

    @Test
    void failuresExitOneWithTheMessageOnStderr() {
        Result r = capsa("--plugins", tmp.toString(), "state", "ghost");
        assertEquals(1, r.code());
        assertEquals("capsa: container \"ghost\" does not exist\n", r.err());
        assertEquals(1, capsa("kill", "ghost", "SIGNOPE").code());
        Result bad = capsa("state", "../x");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("invalid container id"), bad.err());
        Result cp = capsa("checkpoint", "--image-path", "/x", "c1");
        assertEquals(1, cp.code());
        assertEquals("capsa: checkpoint is not supported by capsa\n", cp.err());
    }

    @Test
    void jsonLogLinesGoToTheLogFileAsRuncWritesThem() throws Exception {
        Path log = tmp.resolve("log.json");
        Result r = capsa("--log", log.toString(), "--log-format", "json", "delete", "ghost");
        assertEquals(1, r.code());
        List<String> lines = Files.readAllLines(log);
        assertEquals(1, lines.size(), lines.toString());
        JsonNode line = Json.mapper().readTree(lines.get(0));
        assertEquals("error", line.path("level").asText());
        assertEquals("container \"ghost\" does not exist", line.path("msg").asText());
        assertTrue(line.path("time").asText().matches("\\d{4}-\\d\\d-\\d\\dT.*"), line.toString());
        // and the user still sees it on stderr
        assertEquals("capsa: container \"ghost\" does not exist\n", r.err());
        // a global flag after the subcommand works as runc's do
        Path log2 = tmp.resolve("log2.txt");
        assertEquals(1, capsa("delete", "--log", log2.toString(), "ghost").code());
        assertTrue(Files.readString(log2).startsWith("time=\""), Files.readString(log2));
        assertTrue(Files.readString(log2).contains("level=error msg=\"container \\\"ghost\\\" does not exist\""),
                Files.readString(log2));
    }

    @Test
    void listOfNothing() throws Exception {
        Path plugins = tmp.resolve("no-plugins");
        Result table = capsa("--plugins", plugins.toString(), "list");
        assertEquals(0, table.code(), table.err());
        assertEquals("ID          PID         STATUS      BUNDLE      CREATED     OWNER\n", table.out());
        Result json = capsa("--plugins", plugins.toString(), "list", "--format", "json");
        assertEquals(0, json.code());
        assertEquals(0, Json.mapper().readTree(json.out()).size());
        assertEquals(2, capsa("list", "--format", "yaml").code());
    }

    @Test
    void versionNamesCapsaTheSpecAndTheBackends() throws Exception {
        Path plugins = builtPlugins();
        Result r = capsa("--plugins", plugins.toString(), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("capsa version "), r.out());
        assertTrue(r.out().contains("\nspec: 1.2.1\n"), r.out());
        assertTrue(r.out().contains("backend ns: "), r.out());
        assertTrue(r.out().contains("backend vm: "), r.out());
        // the second call answers from the per-boot probe cache in the state root
        assertTrue(Files.exists(tmp.resolve("root").resolve(VersionReport.CACHE)));
        Result warm = capsa("--debug", "--plugins", plugins.toString(), "--version");
        assertEquals(r.out(), warm.out());
        // a warm --version reads manifests and the cache: no backend is made and probed (in this
        // JVM the plugins stay loaded from the first call, as in the capsa server)
        assertFalse(warm.err().contains("Loading plugin"), warm.err());
        assertFalse(warm.err().contains("extension point 'dev.capsa.spi.RuntimeBackend'"), warm.err());
        Files.delete(tmp.resolve("root").resolve(VersionReport.CACHE));
        Result cold = capsa("--debug", "--plugins", plugins.toString(), "--version");
        assertTrue(cold.err().contains("extension point 'dev.capsa.spi.RuntimeBackend'"),
                "the first call probes: " + cold.err());
    }

    @Test
    void versionWithoutPluginsSaysSo() {
        Result r = capsa("--plugins", tmp.resolve("empty").toString(), "-v");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("backends: none found in " + tmp.resolve("empty")), r.out());
    }

    @Test
    void featuresPrintsTheSelectedBackendsDocument() throws Exception {
        Path plugins = builtPlugins();
        for (String backend : List.of("ns", "vm")) {
            Result r = capsa("--plugins", plugins.toString(), "--backend", backend, "features");
            assertEquals(0, r.code(), r.err());
            JsonNode f = Json.mapper().readTree(r.out());
            assertTrue(f.path("ociVersionMax").asText().startsWith("1."), r.out());
            assertTrue(f.path("linux").path("namespaces").isArray(), r.out());
        }
        Result none = capsa("--plugins", plugins.toString(), "--backend", "nope", "features");
        assertEquals(1, none.code());
        assertTrue(none.err().contains("no backend named \"nope\"") && none.err().contains("ns, vm"), none.err());
    }

    @Test
    void theConfigFlagNamesTheConfigurationFile() throws Exception {
        Path empty = tmp.resolve("no-plugins");
        Path config = tmp.resolve("capsa.json");
        Files.writeString(config, "{\"defaultBackend\": \"from-flag\"}");
        // features asks the configured default backend: the flag's file was read, before or after the command
        for (List<String> args : List.of(List.of("--config", config.toString(), "features"),
                List.of("features", "--config", config.toString()))) {
            List<String> all = new ArrayList<>(List.of("--plugins", empty.toString()));
            all.addAll(args);
            Result r = capsa(all.toArray(String[]::new));
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("no backend named \"from-flag\""), r.err());
        }
        Files.writeString(config, "{\"hooks\": \"journal\"}");
        Result bad = capsa("--plugins", empty.toString(), "--config", config.toString(), "list");
        assertEquals(1, bad.code());
        assertEquals("capsa: configuration file " + config + ": /hooks must be a list of strings\n", bad.err());
        Path missing = tmp.resolve("missing.json");
        Result gone = capsa("--plugins", empty.toString(), "--config", missing.toString(), "list");
        assertEquals(1, gone.code());
        assertEquals("capsa: configuration file " + missing + " (from --config) does not exist\n", gone.err());
        assertEquals(2, capsa("list", "--config").code(), "the flag needs a file");
    }

    @Test
    void theConfigFlagWinsOverTheEnvironmentWhichWinsOverTheDefault() {
        Path flag = tmp.resolve("flag.json");
        assertEquals(new CapsaConfig.Source(flag, "--config"), CapsaConfig.Source.of(flag, "/env.json"));
        assertEquals(new CapsaConfig.Source(Path.of("/env.json"), "CAPSA_CONFIG"), CapsaConfig.Source.of(null, "/env.json"));
        assertEquals(new CapsaConfig.Source(CapsaConfig.DEFAULT_PATH, null), CapsaConfig.Source.of(null, null));
        assertEquals(new CapsaConfig.Source(CapsaConfig.DEFAULT_PATH, null), CapsaConfig.Source.of(null, " "));
        // a file named by the environment must exist too; only the default path may be absent
        Path missing = tmp.resolve("missing.json");
        CapsaException e = assertThrows(CapsaException.class,
                () -> CapsaConfig.load(CapsaConfig.Source.of(null, missing.toString())));
        assertEquals("configuration file " + missing + " (from CAPSA_CONFIG) does not exist", e.getMessage());
        CapsaConfig defaults = CapsaConfig.load(new CapsaConfig.Source(missing, null));
        assertEquals("ns", defaults.defaultBackend());
    }

    @Test
    void backendOptionsReachTheSettingsAndBadOnesAreNamedByPointer() throws Exception {
        Path file = tmp.resolve("options.json");
        Files.writeString(file, "{\"backendOptions\": {\"vm\": {\"launcher\": \"libvirt\", \"libvirtUri\": \"qemu:///system\"}}}");
        CapsaConfig config = CapsaConfig.load(new CapsaConfig.Source(file, "--config"));
        assertEquals(java.util.Map.of("vm", java.util.Map.of("launcher", "libvirt", "libvirtUri", "qemu:///system")),
                config.backendOptions());
        Files.writeString(file, "{\"backendOptions\": {\"vm\": {\"launcher\": 3}}}");
        CapsaException e = assertThrows(CapsaException.class,
                () -> CapsaConfig.load(new CapsaConfig.Source(file, "--config")));
        assertEquals("configuration file " + file + ": /backendOptions/vm/launcher must be a string", e.getMessage());
        Files.writeString(file, "{\"backendOptions\": [\"vm\"]}");
        e = assertThrows(CapsaException.class, () -> CapsaConfig.load(new CapsaConfig.Source(file, "--config")));
        assertEquals("configuration file " + file + ": /backendOptions must be an object", e.getMessage());
    }

    @Test
    void sizesAndDurationsParseLikeRuncs() {
        assertEquals(512L << 20, UpdateCommand.bytes("--memory", "512m"));
        assertEquals(1L << 30, UpdateCommand.bytes("--memory", "1G"));
        assertEquals(-1, UpdateCommand.bytes("--memory-swap", "-1"));
        assertEquals(4096, UpdateCommand.bytes("--memory", "4096"));
        assertEquals(1500, EventsCommand.GoDuration.parse("1.5s").toMillis());
        assertEquals(90_000, EventsCommand.GoDuration.parse("1m30s").toMillis());
        assertEquals(1, capsa("events", "--interval", "soon", "x").code());
    }
}
