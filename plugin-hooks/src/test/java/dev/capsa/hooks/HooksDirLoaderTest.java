package dev.capsa.hooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.engine.HookRunner;
import dev.capsa.engine.ProcessHookRunner;
import dev.capsa.error.HookFailedException;
import dev.capsa.spec.Json;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HooksDirLoaderTest {
    @TempDir
    Path tmp;

    Path usr;
    Path etc;
    Path root;
    Path bin;
    final List<String> warnings = new ArrayList<>();
    final List<String> ran = new ArrayList<>();
    final List<String> failing = new ArrayList<>();

    /** Records "phase path", failing those in {@link #failing}. */
    final HookRunner recorder = (phase, hook, state) -> {
        ran.add(phase.specName() + " " + hook.path());
        if (failing.contains(hook.path())) {
            throw new HookFailedException(phase.specName() + " hook " + hook.path() + ": exit status 1");
        }
    };

    @BeforeEach
    void setUp() throws IOException {
        usr = Files.createDirectories(tmp.resolve("usr"));
        etc = Files.createDirectories(tmp.resolve("etc"));
        root = Files.createDirectories(tmp.resolve("root"));
        bin = Files.createDirectories(tmp.resolve("bin"));
    }

    private Path executable(String name, String script) throws IOException {
        Path file = bin.resolve(name);
        Files.writeString(file, script);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }

    private Path definition(Path dir, String name, String json) throws IOException {
        return Files.writeString(dir.resolve(name), json);
    }

    private String hookJson(Path path, String when, String stages) {
        return "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"" + path + "\"},\"when\":" + when + ",\"stages\":" + stages + "}";
    }

    /** Writes the engine's spec copy for container c1. */
    private void spec(String json) throws IOException {
        Files.createDirectories(root.resolve("c1"));
        Files.writeString(root.resolve("c1").resolve("config.json"), json);
    }

    private static String specJson(String args, String annotations, String mounts, String hooks) {
        return "{\"ociVersion\":\"1.2.1\",\"root\":{\"path\":\"rootfs\"}"
                + (args == null ? "" : ",\"process\":{\"args\":" + args + ",\"cwd\":\"/\"}")
                + (annotations == null ? "" : ",\"annotations\":" + annotations)
                + (mounts == null ? "" : ",\"mounts\":" + mounts)
                + (hooks == null ? "" : ",\"hooks\":" + hooks) + "}";
    }

    private static OciState state(String status) {
        return new OciState("1.2.1", "c1", status, 42L, "/nonexistent-bundle", Map.of());
    }

    private HooksDirLoader loader(HookRunner runner) {
        return new HooksDirLoader(List.of(usr, etc), root, runner);
    }

    // ---- parsing

    @Test
    void aGoodFileLoadsWithItsHookWhenAndStages() throws IOException {
        Path hook = executable("h", "#!/bin/sh\n");
        definition(etc, "good.json", "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"" + hook + "\",\"args\":[\"h\",\"-v\"],"
                + "\"env\":[\"A=1\"],\"timeout\":5},\"when\":{\"always\":true},\"stages\":[\"prestart\",\"poststop\"]}");
        List<HookDefinition> loaded = HooksDirLoader.load(List.of(usr, etc), warnings::add);
        assertEquals(List.of(), warnings);
        assertEquals(1, loaded.size());
        HookDefinition d = loaded.get(0);
        assertEquals(hook.toString(), d.hook().path());
        assertEquals(List.of("h", "-v"), d.hook().args());
        assertEquals(List.of("A=1"), d.hook().env());
        assertEquals(5, d.hook().timeout());
        assertEquals(List.of("prestart", "poststop"), d.stages());
    }

    @Test
    void eachBadFileIsAWarningNamingTheFileAndTheFieldAndTheGoodOnesStillLoad() throws IOException {
        Path hook = executable("h", "#!/bin/sh\n");
        definition(etc, "00-good.json", hookJson(hook, "{\"always\":true}", "[\"prestart\"]"));
        definition(etc, "bad-json.json", "{\"version\": \"1.0.0\", ");
        definition(etc, "bad-version.json", "{\"version\":\"0.1.0\",\"hook\":\"" + hook + "\",\"stages\":[\"prestart\"]}");
        definition(etc, "no-path.json", "{\"version\":\"1.0.0\",\"hook\":{\"args\":[]},\"when\":{\"always\":true},"
                + "\"stages\":[\"prestart\"]}");
        definition(etc, "missing-binary.json", hookJson(tmp.resolve("nothing-here"), "{\"always\":true}", "[\"prestart\"]"));
        definition(etc, "bad-regex.json", hookJson(hook, "{\"commands\":[\"(unclosed\"]}", "[\"prestart\"]"));
        definition(etc, "bad-key-regex.json", hookJson(hook, "{\"annotations\":{\"[x\":\"y\"}}", "[\"prestart\"]"));
        definition(etc, "bad-stage.json", hookJson(hook, "{\"always\":true}", "[\"prestrat\"]"));
        definition(etc, "no-stages.json", "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"" + hook + "\"},\"when\":{\"always\":true}}");
        definition(etc, "bad-timeout.json", "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"" + hook + "\",\"timeout\":0},"
                + "\"when\":{\"always\":true},\"stages\":[\"prestart\"]}");
        definition(etc, "bad-always.json", hookJson(hook, "{\"always\":\"yes\"}", "[\"prestart\"]"));
        definition(etc, "empty-when.json", hookJson(hook, "{}", "[\"prestart\"]"));
        definition(etc, "not-json.txt", "ignored: not a .json file");

        List<HookDefinition> loaded = HooksDirLoader.load(List.of(usr, etc), warnings::add);

        assertEquals(1, loaded.size(), warnings.toString());
        assertEquals("00-good.json", loaded.get(0).file().getFileName().toString());
        assertWarning("bad-json.json", "not valid JSON");
        assertWarning("bad-version.json", "version: unsupported \"0.1.0\"");
        assertWarning("no-path.json", "hook.path: missing");
        assertWarning("missing-binary.json", "hook.path: " + tmp.resolve("nothing-here") + " does not exist");
        assertWarning("bad-regex.json", "when.commands[0]: invalid regular expression \"(unclosed\"");
        assertWarning("bad-key-regex.json", "when.annotations key: invalid regular expression \"[x\"");
        assertWarning("bad-stage.json", "stages: unknown stage \"prestrat\"");
        assertWarning("no-stages.json", "stages: missing");
        assertWarning("bad-timeout.json", "hook.timeout");
        assertWarning("bad-always.json", "when.always: must be true or false");
        assertWarning("empty-when.json", "when: sets no condition");
        assertEquals(11, warnings.size(), warnings.toString());
    }

    private void assertWarning(String file, String text) {
        assertTrue(warnings.stream().anyMatch(w -> w.contains(etc.resolve(file).toString()) && w.contains(text)),
                "no warning naming " + file + " with \"" + text + "\" in " + warnings);
    }

    @Test
    void inContainerStagesAreWarnedAboutAndSkippedTheOthersKept() throws IOException {
        Path hook = executable("h", "#!/bin/sh\n");
        definition(etc, "mixed.json", hookJson(hook, "{\"always\":true}",
                "[\"createContainer\",\"prestart\",\"startContainer\",\"poststart\"]"));
        List<HookDefinition> loaded = HooksDirLoader.load(List.of(etc), warnings::add);
        assertEquals(List.of("prestart", "poststart"), loaded.get(0).stages());
        assertEquals(2, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains(etc.resolve("mixed.json").toString())
                && warnings.get(0).contains("createContainer is not supported"), warnings.get(0));
        assertTrue(warnings.get(1).contains("startContainer is not supported"), warnings.get(1));
    }

    @Test
    void laterDirectoriesMaskFilesOfTheSameNameAndRunOrderIsByLowerCasedName() throws IOException {
        Path a = executable("a", "#!/bin/sh\n");
        Path b = executable("b", "#!/bin/sh\n");
        Path c = executable("c", "#!/bin/sh\n");
        definition(usr, "10-same.json", hookJson(a, "{\"always\":true}", "[\"prestart\"]"));
        definition(etc, "10-same.json", hookJson(b, "{\"always\":true}", "[\"prestart\"]"));
        definition(usr, "02-Upper.json", hookJson(c, "{\"always\":true}", "[\"prestart\"]"));
        definition(etc, "01-lower.json", hookJson(a, "{\"always\":true}", "[\"prestart\"]"));
        List<HookDefinition> loaded = HooksDirLoader.load(List.of(usr, etc), warnings::add);
        assertEquals(List.of(etc.resolve("01-lower.json"), usr.resolve("02-Upper.json"), etc.resolve("10-same.json")),
                loaded.stream().map(HookDefinition::file).toList());
        assertEquals(b.toString(), loaded.get(2).hook().path(), "the later directory wins");
        assertTrue(HooksDirLoader.load(List.of(tmp.resolve("missing")), warnings::add).isEmpty());
        assertEquals(List.of(), warnings, "a directory that does not exist is no warning");
    }

    // ---- when, as containers/common's when.go

    private boolean matches(String when, String specJson) throws Exception {
        Path hook = executable("m", "#!/bin/sh\n");
        Path file = definition(etc, "m.json", hookJson(hook, when, "[\"prestart\"]"));
        HookDefinition d = HookDefinition.read(file);
        Spec spec = SpecLoader.parse(specJson.getBytes(StandardCharsets.UTF_8));
        return d.when().matches(spec, spec.annotations(), HooksDirLoader.hasBindMounts(spec));
    }

    @Test
    void whenMatchesAsPodmanDoes() throws Exception {
        String sh = specJson("[\"/bin/sh\",\"-c\",\"x\"]", "{\"com.example.dept\":\"fluid-dynamics\"}", null, null);
        String bound = specJson("[\"/sbin/init\"]", null,
                "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv\",\"options\":[\"rbind\"]}]", null);
        String noProcess = specJson(null, null, null, null);

        assertTrue(matches("{\"always\":true}", sh));
        assertFalse(matches("{\"always\":false}", sh), "always:false never matches");
        assertTrue(matches("{\"commands\":[\"sh$\"]}", sh));
        assertTrue(matches("{\"commands\":[\"bin\"]}", sh), "an unanchored search, as Go's MatchString");
        assertFalse(matches("{\"commands\":[\"^sh$\"]}", sh));
        assertTrue(matches("{\"commands\":[\"nope\",\".*/init$\"]}", bound), "any command pattern will do");
        assertTrue(matches("{\"annotations\":{\"^com\\\\.example\\\\.dept$\":\"fluid\"}}", sh));
        assertFalse(matches("{\"annotations\":{\"^com\\\\.example\\\\.dept$\":\"^solid\"}}", sh));
        assertFalse(matches("{\"annotations\":{\"dept\":\"fluid\",\"other\":\".*\"}}", sh),
                "every annotation pair must match");
        assertTrue(matches("{\"hasBindMounts\":true}", bound));
        assertFalse(matches("{\"hasBindMounts\":true}", sh));
        assertFalse(matches("{\"hasBindMounts\":false}", sh), "hasBindMounts:false never matches");
        // the conditions are ANDed (when.go with Or unset, as for every 1.0.0 file)
        assertFalse(matches("{\"always\":true,\"commands\":[\"init\"]}", sh));
        assertTrue(matches("{\"always\":true,\"commands\":[\"sh\"]}", sh));
        assertFalse(matches("{\"hasBindMounts\":true,\"commands\":[\"sh\"]}", sh));
        assertTrue(matches("{\"hasBindMounts\":true,\"commands\":[\"init\"]}", bound));
        assertFalse(matches("{\"always\":true,\"annotations\":{\"dept\":\"solid\"}}", sh));
        // without a process, commands are not looked at
        assertFalse(matches("{\"commands\":[\".*\"]}", noProcess));
        assertTrue(matches("{\"always\":true,\"commands\":[\"nothing\"]}", noProcess));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> matches("{\"commands\":[\".*\"]}", specJson("[]", null, null, null)));
        assertTrue(e.getMessage().contains("process.args"), e.getMessage());
    }

    // ---- running

    @Test
    void matchedHooksRunAtTheirStagesOnlyAndNotTwiceWhenConfigJsonHasThem() throws IOException {
        Path a = executable("a", "#!/bin/sh\n");
        Path b = executable("b", "#!/bin/sh\n");
        Path c = executable("c", "#!/bin/sh\n");
        definition(etc, "a.json", hookJson(a, "{\"commands\":[\"sh\"]}", "[\"prestart\",\"poststop\"]"));
        definition(etc, "b.json", hookJson(b, "{\"commands\":[\"init\"]}", "[\"prestart\"]"));
        definition(etc, "c.json", hookJson(c, "{\"always\":true}", "[\"poststart\"]"));
        // podman injected c into config.json already
        spec(specJson("[\"sh\"]", null, null, "{\"poststart\":[{\"path\":\"" + c + "\"}]}"));
        HooksDirLoader loader = loader(recorder);
        for (HookPhase phase : HookPhase.values()) {
            if (loader.phases().contains(phase)) {
                loader.run(phase, state("running"));
            }
        }
        assertEquals(List.of("prestart " + a, "poststop " + a), ran);
        assertFalse(loader.phases().contains(HookPhase.CREATE_CONTAINER));
        assertFalse(loader.phases().contains(HookPhase.START_CONTAINER));
    }

    @Test
    void aFailureStopsAFatalPhaseAndOnlyWarnsInALaterOne() throws IOException {
        Path a = executable("a", "#!/bin/sh\n");
        Path b = executable("b", "#!/bin/sh\n");
        definition(etc, "a.json", hookJson(a, "{\"always\":true}", "[\"createRuntime\",\"poststop\"]"));
        definition(etc, "b.json", hookJson(b, "{\"always\":true}", "[\"createRuntime\",\"poststop\"]"));
        spec(specJson("[\"sh\"]", null, null, null));
        failing.add(a.toString());
        HooksDirLoader loader = loader(recorder);

        HookFailedException e = assertThrows(HookFailedException.class,
                () -> loader.run(HookPhase.CREATE_RUNTIME, state("creating")));
        assertTrue(e.getMessage().contains("exit status 1") && e.getMessage().contains(etc.resolve("a.json").toString()),
                e.getMessage());
        assertEquals(List.of("createRuntime " + a), ran, "a fatal failure stops the phase");

        ran.clear();
        loader.run(HookPhase.POSTSTOP, state("stopped"));
        assertEquals(List.of("poststop " + a, "poststop " + b), ran, "poststop goes on after a failure");
    }

    @Test
    void aHookScriptRunsWithTheStateOnStdinItsArgsAndEnv() throws Exception {
        Path out = tmp.resolve("out");
        Path script = executable("record", "#!/bin/sh\ncat > " + out + ".state\necho \"$0 $1 $GREETING\" > " + out + "\n");
        definition(etc, "record.json", "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"" + script + "\","
                + "\"args\":[\"record\",\"first\"],\"env\":[\"GREETING=hello\"],\"timeout\":10},"
                + "\"when\":{\"annotations\":{\"^run-me$\":\"^yes$\"}},\"stages\":[\"prestart\"]}");
        spec(specJson("[\"sh\"]", "{\"run-me\":\"yes\"}", null, null));
        OciState state = new OciState("1.2.1", "c1", "creating", 42L, "/b", Map.of("run-me", "yes"));

        loader(new ProcessHookRunner()).run(HookPhase.PRESTART, state);

        assertEquals(script + " first hello", Files.readString(out).strip());
        JsonNode got = Json.mapper().readTree(Files.readString(tmp.resolve("out.state")));
        assertEquals("c1", got.get("id").asText());
        assertEquals("creating", got.get("status").asText());
        assertEquals(42, got.get("pid").asInt());
        assertEquals("yes", got.get("annotations").get("run-me").asText());
    }

    @Test
    void aFailingScriptFailsCreateRuntimeWithItsStderr() throws IOException {
        Path script = executable("fail", "#!/bin/sh\necho 'no gpu here' >&2\nexit 3\n");
        definition(etc, "fail.json", hookJson(script, "{\"always\":true}", "[\"createRuntime\"]"));
        spec(specJson("[\"sh\"]", null, null, null));
        HookFailedException e = assertThrows(HookFailedException.class,
                () -> loader(new ProcessHookRunner()).run(HookPhase.CREATE_RUNTIME, state("creating")));
        assertTrue(e.getMessage().contains("exit status 3") && e.getMessage().contains("no gpu here"), e.getMessage());
    }

    @Test
    void withoutDefinitionsTheSpecIsNotEvenRead() {
        // no spec copy and no bundle: nothing to match, nothing read, no failure
        loader(recorder).run(HookPhase.PRESTART, state("creating"));
        assertEquals(List.of(), ran);
    }
}
