package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The built distribution, run the way users and engines run it: bin/capsa as a process. */
@Tag("integration")
class LauncherIT {
    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    static Path launcher() {
        Path dist = Path.of(System.getProperty("capsa.dist", "target/capsa"));
        Path capsa = dist.resolve("bin/capsa");
        assumeTrue(Files.isExecutable(capsa), "no built launcher at " + capsa + ": run mvn package first");
        return capsa;
    }

    static Result exec(Path cwd, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        Path out = Files.createTempFile("capsa-out", ".txt");
        Path err = Files.createTempFile("capsa-err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("timed out: " + command);
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    Result capsa(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(launcher().toString(), "--root", tmp.resolve("root").toString()));
        command.addAll(List.of(args));
        return exec(tmp, command);
    }

    @Test
    void versionListsTheShippedBackends() throws Exception {
        Result r = capsa("--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("capsa version "), r.out());
        assertTrue(r.out().contains("spec: 1.2.1"), r.out());
        assertTrue(r.out().contains("backend ns: ") && r.out().contains("backend vm: "), r.out());
        assertEquals("", r.err(), "no JVM warnings on a plain run");
    }

    @Test
    void specMatchesRuncSpecExceptWhereDocumented() throws Exception {
        Path runc = Path.of("/usr/sbin/runc");
        assumeTrue(Files.isExecutable(runc), "runc is not installed (scripts/setup.sh installs it)");
        Path ours = Files.createDirectories(tmp.resolve("ours"));
        Path theirs = Files.createDirectories(tmp.resolve("theirs"));
        assertEquals(0, exec(ours, List.of(launcher().toString(), "spec")).code());
        assertEquals(0, exec(theirs, List.of(runc.toString(), "spec")).code());
        ObjectNode a = (ObjectNode) Json.mapper().readTree(ours.resolve("config.json").toFile());
        ObjectNode b = (ObjectNode) Json.mapper().readTree(theirs.resolve("config.json").toFile());
        // documented in docs/compatibility.md: our spec version and hostname; runc before 1.2 also set
        // ambient capabilities and lacked the tpm masked path
        for (ObjectNode n : List.of(a, b)) {
            n.remove("ociVersion");
            n.remove("hostname");
            ((ObjectNode) n.path("process").path("capabilities")).remove("ambient");
            ArrayNode masked = (ArrayNode) n.path("linux").path("maskedPaths");
            for (int i = masked.size() - 1; i >= 0; i--) {
                if (masked.get(i).asText().equals("/sys/devices/virtual/tpm")) {
                    masked.remove(i);
                }
            }
        }
        assertEquals(b, a);
    }

    @Test
    void featuresIsValidJsonForEachBackend() throws Exception {
        for (String backend : List.of("ns", "vm")) {
            Result r = capsa("--backend=" + backend, "features");
            assertEquals(0, r.code(), r.err());
            JsonNode f = Json.mapper().readTree(r.out());
            assertTrue(f.has("ociVersionMin") && f.has("ociVersionMax") && f.has("linux"), r.out());
        }
    }

    @Test
    void exitCodesAndMessagesCrossTheLauncher() throws Exception {
        Result missing = capsa("state", "ghost");
        assertEquals(1, missing.code());
        assertEquals("capsa: container \"ghost\" does not exist\n", missing.err());
        assertEquals(2, capsa("no-such-command").code());
        Result help = capsa("--help");
        assertEquals(0, help.code());
        for (String cmd : List.of("create", "run", "start", "state", "kill", "delete", "list", "ps", "exec", "pause",
                "resume", "events", "update", "spec", "features", "checkpoint", "restore")) {
            assertTrue(help.out().matches("(?s).*\\n  " + cmd + "[ ,].*"), cmd + " missing from --help:\n" + help.out());
        }
        Path log = tmp.resolve("capsa.log");
        Result json = capsa("--log", log.toString(), "--log-format", "json", "start", "ghost");
        assertEquals(1, json.code());
        JsonNode line = Json.mapper().readTree(Files.readAllLines(log, StandardCharsets.UTF_8).get(0));
        assertEquals("error", line.path("level").asText());
    }

    @Test
    void deleteForceOfAMissingContainerSucceedsAsInRunc() throws Exception {
        assertEquals(0, capsa("delete", "--force", "ghost").code());
        assertEquals(1, capsa("delete", "ghost").code());
    }
}
