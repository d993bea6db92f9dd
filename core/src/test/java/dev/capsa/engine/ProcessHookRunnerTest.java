package dev.capsa.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.capsa.error.HookFailedException;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Json;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;
import java.io.FileInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json hooks as real processes: argv, env, stdin, exit status, signals, timeout, descriptors. */
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

    /** An executable found on PATH, as a hook's absolute path. */
    private static Optional<Path> onPath(String name) {
        String path = System.getenv("PATH");
        return Stream.of((path == null ? "/usr/bin:/bin" : path).split(File.pathSeparator))
                .filter(d -> !d.isEmpty())
                .map(d -> Path.of(d, name).toAbsolutePath())
                .filter(Files::isExecutable)
                .findFirst();
    }

    private static String sh() {
        Optional<Path> sh = onPath("sh");
        assumeTrue(sh.isPresent(), "no sh on PATH");
        return sh.get().toString();
    }

    /** A hook that is {@code sh -c SCRIPT}, with argv[0] of our choosing and $1 = out. */
    private Hook shell(String argv0, String script, List<String> env, Integer timeout) {
        return new Hook(sh(), List.of(argv0, "-c", script, "zero", tmp.resolve("out").toString()), env, timeout);
    }

    private Path out(String suffix) {
        return tmp.resolve("out" + suffix);
    }

    @Test
    void theHookGetsExactlyItsArgvItsEnvAndTheStateOnStdin() throws Exception {
        Hook hook = shell("my-hook", "cat > $1.state; cat /proc/$$/cmdline > $1.argv; cat /proc/$$/environ > $1.env;"
                + " exec grep -E '^Sig(Blk|Ign):' /proc/self/status > $1.sig", List.of("A=1", "B=x=y", "EMPTY="), 5);
        new ProcessHookRunner().run(HookPhase.POSTSTART, hook, state);
        assertEquals(Json.mapper().readTree(Json.mapper().writeValueAsString(state)),
                Json.mapper().readTree(Files.readString(out(".state"))));
        assertEquals(String.join("\0", hook.args()) + "\0", Files.readString(out(".argv")), "argv exactly args");
        assertEquals("A=1\0B=x=y\0EMPTY=\0", Files.readString(out(".env")), "envp exactly env");
        // read by the program the shell execs: a waiting shell blocks signals of its own
        assertEquals(List.of("SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"),
                Files.readAllLines(out(".sig")), "no blocked or ignored signal inherited from the JVM");
    }

    @Test
    void argv0ReachesAMultiCallBinary() throws Exception {
        // busybox picks its applet from argv[0]: with argv[0] = the path it would run no shell at all
        Optional<Path> busybox = onPath("busybox");
        assumeTrue(busybox.isPresent(), "no busybox on PATH: the argv[0] case needs a multi-call binary");
        new ProcessHookRunner().run(HookPhase.CREATE_RUNTIME, new Hook(busybox.get().toString(),
                List.of("sh", "-c", "echo \"$0 ran\" > " + out("")), List.of(), 5), state);
        assertEquals("sh ran\n", Files.readString(out("")));
    }

    @Test
    void theHookHasOnlyDescriptorsZeroOneAndTwo() throws Exception {
        // The test reads the running hook's /proc/PID/fd from outside: a hook that listed its own
        // would see the lister's directory fd, and a shell redirection adds fds of its own.
        // The JVM holds a descriptor without O_CLOEXEC (FileInputStream) while the hook starts.
        Path held = Files.writeString(tmp.resolve("held"), "x");
        Path pidFile = out(".pid");
        Path done = out(".done");
        Hook hook = shell("hook", "echo $$ > $1.pid.tmp; mv $1.pid.tmp $1.pid; while [ ! -e $1.done ]; do sleep 0.05; done",
                List.of(), 20);
        Map<String, String> fds = new TreeMap<>();
        Thread runner;
        java.util.concurrent.atomic.AtomicReference<Throwable> failed = new java.util.concurrent.atomic.AtomicReference<>();
        try (FileInputStream open = new FileInputStream(held.toFile())) {
            runner = Thread.ofPlatform().start(() -> {
                try {
                    new ProcessHookRunner().run(HookPhase.PRESTART, hook, state);
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
            try {
                long until = System.nanoTime() + 10_000_000_000L;
                while (!Files.exists(pidFile) && System.nanoTime() < until) {
                    Thread.sleep(20);
                }
                Path dir = Path.of("/proc", Files.readString(pidFile).strip(), "fd");
                try (Stream<Path> list = Files.list(dir)) {
                    for (Path fd : list.toList()) {
                        fds.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                    }
                }
            } finally {
                Files.writeString(done, "");
                runner.join(20_000);
            }
        }
        assertEquals(null, failed.get());
        assertEquals(List.of("0", "1", "2"), List.copyOf(fds.keySet()), fds.toString());
        assertTrue(fds.get("0").startsWith("pipe:"), fds.toString());
        assertEquals("/dev/null", fds.get("1"));
        assertTrue(fds.get("2").startsWith("pipe:"), fds.toString());
    }

    @Test
    void aFailingHookNamesPhasePathStatusAndStderr() throws Exception {
        Path hook = script("echo 'no such thing' >&2; exit 3");
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.CREATE_RUNTIME, new Hook(hook.toString(), null, null, null), state));
        assertEquals("createRuntime hook " + hook + ": exit status 3: no such thing", e.getMessage());
    }

    @Test
    void onlyTheTailOfALongStderrIsKept() throws Exception {
        Path hook = script("i=0; while [ $i -lt 500 ]; do echo \"line $i of the hook's complaint\" >&2;"
                + " i=$((i+1)); done; exit 1");
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.PRESTART, new Hook(hook.toString(), null, null, 10), state));
        assertTrue(e.getMessage().endsWith("line 499 of the hook's complaint"), e.getMessage());
        assertTrue(e.getMessage().length() < 2048 + 200, "about 2 KiB: " + e.getMessage().length());
    }

    @Test
    void aHookKilledByASignalSaysWhich() throws Exception {
        Path hook = script("kill -9 $$");
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.PRESTART, new Hook(hook.toString(), null, null, 10), state));
        assertEquals("prestart hook " + hook + ": killed by signal 9", e.getMessage());
    }

    @Test
    void aHookPastItsTimeoutIsKilledWithEverythingItStarted() throws Exception {
        Hook hook = shell("hook", "sleep 300 & echo \"$$ $(cut -d' ' -f5 /proc/$$/stat) $(cut -d' ' -f5 /proc/$!/stat)\""
                + " > $1; wait", List.of(), 1);
        long t0 = System.nanoTime();
        HookFailedException e = assertThrows(HookFailedException.class,
                () -> new ProcessHookRunner().run(HookPhase.PRESTART, hook, state));
        assertEquals("prestart hook " + hook.path() + ": timed out after 1 s", e.getMessage());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
        String[] ids = Files.readString(out("")).strip().split(" ");
        long group = Long.parseLong(ids[0]);
        assertEquals(List.of(ids[0], ids[0]), List.of(ids[1], ids[2]),
                "the hook leads a process group of its own, and its background sleep is in it");
        List<Long> left = liveMembers(group);
        try {
            long until = System.nanoTime() + 5_000_000_000L;
            while (!left.isEmpty() && System.nanoTime() < until) {
                Thread.sleep(50);
                left = liveMembers(group);
            }
            assertEquals(List.of(), left, "processes of the hook's group still alive");
        } finally {
            left.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    @Test
    void anInterruptedRunKillsAndReapsTheHook() throws Exception {
        // hooks.d's plugin thread is interrupted when its phase runs out of time
        Hook hook = shell("hook", "echo $$ > $1.tmp; mv $1.tmp $1; exec sleep 300", List.of(), null);
        java.util.concurrent.atomic.AtomicReference<String> seen = new java.util.concurrent.atomic.AtomicReference<>();
        Thread runner = Thread.ofPlatform().start(() -> {
            try {
                new ProcessHookRunner().run(HookPhase.PRESTART, hook, state);
                seen.set("returned");
            } catch (HookFailedException e) {
                seen.set(e.getMessage() + (Thread.currentThread().isInterrupted() ? " (flag set)" : ""));
            }
        });
        long until = System.nanoTime() + 10_000_000_000L;
        while (!Files.exists(out("")) && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        long pid = Long.parseLong(Files.readString(out("")).strip());
        runner.interrupt();
        runner.join(10_000);
        assertEquals("prestart hook " + hook.path() + ": interrupted (flag set)", seen.get());
        assertTrue(ProcessHandle.of(pid).isEmpty(), "the hook was killed and reaped");
    }

    @Test
    void aHookThatDoesNotReadALargeStateNeitherHangsNorHurtsTheJvm() throws Exception {
        OciState large = new OciState("1.2.1", "c1", "creating", 42L, "/b", Map.of("big", "x".repeat(1 << 20)));
        // exits at once, and exits later while Capsa is blocked on the full pipe
        new ProcessHookRunner().run(HookPhase.PRESTART, shell("hook", "exit 0", List.of(), 10), large);
        new ProcessHookRunner().run(HookPhase.PRESTART, shell("hook", "sleep 1; exit 0", List.of(), 10), large);
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.PRESTART, shell("hook", "exec 0<&-; sleep 1; exit 4", List.of(), 10), large));
        assertTrue(e.getMessage().endsWith(": exit status 4"), e.getMessage());
        // and one that reads it gets all of it
        new ProcessHookRunner().run(HookPhase.PRESTART, shell("hook", "cat > $1", List.of(), 10), large);
        assertEquals(Json.mapper().writeValueAsString(large).length(), Files.size(out("")));
    }

    @Test
    void aHookThatIsNotExecutableCannotStart() throws Exception {
        Path hook = tmp.resolve("plain");
        Files.writeString(hook, "#!/bin/sh\nexit 0\n");
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rw-------"));
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.PRESTART, new Hook(hook.toString(), null, null, null), state));
        assertEquals("prestart hook " + hook + ": cannot start: permission denied", e.getMessage());
    }

    @Test
    void aMissingHookCannotStart() {
        Path hook = tmp.resolve("nope");
        HookFailedException e = assertThrows(HookFailedException.class, () -> new ProcessHookRunner()
                .run(HookPhase.POSTSTOP, new Hook(hook.toString(), null, null, null), state));
        assertEquals("poststop hook " + hook + ": cannot start: no such file or directory", e.getMessage());
    }

    /** Pids whose process group is {@code group} and that are not zombies (killed, awaiting their reaper). */
    private static List<Long> liveMembers(long group) throws IOException {
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                Optional<String[]> f = stat(p.resolve("stat"));
                if (f.isPresent() && Long.parseLong(f.get()[2]) == group && !f.get()[0].equals("Z")) {
                    pids.add(Long.parseLong(p.getFileName().toString()));
                }
            }
        }
        return pids;
    }

    /** The fields after the command name: [state, ppid, pgrp, ...]. */
    private static Optional<String[]> stat(Path file) {
        try {
            String s = Files.readString(file, StandardCharsets.UTF_8);
            return Optional.of(s.substring(s.lastIndexOf(')') + 2).split(" "));
        } catch (IOException e) {
            return Optional.empty(); // gone
        }
    }
}
