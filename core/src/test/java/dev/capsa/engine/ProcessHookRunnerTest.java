package dev.capsa.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.HookFailedException;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Json;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json hooks as real processes: stdin, args, env, exit status, timeout. */
class ProcessHookRunnerTest {
    @TempDir
    Path tmp;

    final OciState state = new OciState("1.2.1", "c1", "creating", 42L, "/b", Map.of("k", "v"));

    private Path script(String body) throws Exception {
        Path file = tmp.resolve("hook.sh");
        Files.writeString(file, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwx------"));
        return file;
    }

    @Test
    void theHookGetsTheStateItsArgsAndOnlyItsEnv() throws Exception {
        Path out = tmp.resolve("out");
        Path hook = script("cat > " + out + ".state; echo \"$@\" > " + out + ".args; env > " + out + ".env");
        new ProcessHookRunner().run(HookPhase.POSTSTART,
                new Hook(hook.toString(), List.of("argv0", "one", "two"), List.of("A=1", "B=x=y"), 5), state);
        assertEquals(Json.mapper().readTree(Json.mapper().writeValueAsString(state)),
                Json.mapper().readTree(Files.readString(Path.of(out + ".state"))));
        assertEquals("one two\n", Files.readString(Path.of(out + ".args")));
        List<String> env = Files.readAllLines(Path.of(out + ".env")).stream()
                .filter(l -> !l.startsWith("PWD=") && !l.startsWith("SHLVL=") && !l.startsWith("_=")).sorted().toList();
        assertEquals(List.of("A=1", "B=x=y"), env);
    }

    @Test
    void aFailingHookNamesPhasePathStatusAndStderr() throws Exception {
        Path hook = script("echo 'no such thing' >&2; exit 3");
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.CREATE_RUNTIME, new Hook(hook.toString(), null, null, null), state));
        assertEquals("createRuntime hook " + hook + ": exit status 3: no such thing", e.getMessage());
    }

    @Test
    void aHookPastItsTimeoutIsKilled() throws Exception {
        Path hook = script("exec sleep 30");
        long t0 = System.nanoTime();
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.PRESTART, new Hook(hook.toString(), null, null, 1), state));
        assertTrue(e.getMessage().endsWith("timed out after 1 s"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
    }

    @Test
    void aMissingHookCannotStart() {
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.POSTSTOP, new Hook(tmp.resolve("nope").toString(), null, null, null), state));
        assertTrue(e.getMessage().startsWith("poststop hook " + tmp.resolve("nope") + ": cannot start"),
                e.getMessage());
    }
}
