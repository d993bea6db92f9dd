package dev.capsa.engine;

import dev.capsa.error.Errno;
import dev.capsa.error.HookFailedException;
import dev.capsa.error.SyscallException;
import dev.capsa.os.PosixSpawn;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Json;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;
import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * Runs a config.json hook as a host process. config.md: {@code args} is the hook's argv, argv[0]
 * included (as execv(3) takes it), {@code env} is its whole environment, the state goes to its
 * stdin, and a hook past its {@code timeout} is killed and counts as failed. ProcessBuilder
 * cannot pass an argv[0] of its own, so the hook starts through posix_spawn(3).
 */
public final class ProcessHookRunner implements HookRunner {
    private static final int STDERR_TAIL = 2048;

    @Override
    public void run(HookPhase phase, Hook hook, OciState state) {
        String what = phase.specName() + " hook " + hook.path();
        // as Go's exec.Cmd in runc: no args means argv is just the path
        List<String> argv = hook.args() == null || hook.args().isEmpty() ? List.of(hook.path()) : hook.args();
        List<String> envp = hook.env() == null ? List.of() : hook.env();
        byte[] stdin;
        try {
            stdin = Json.mapper().writeValueAsBytes(state);
        } catch (IOException e) {
            throw new HookFailedException(what + ": cannot write the state: " + e.getMessage(), e);
        }
        PosixSpawn.Outcome outcome;
        try {
            outcome = PosixSpawn.run(hook.path(), argv, envp, stdin,
                    hook.timeout() == null ? null : Duration.ofSeconds(hook.timeout()), STDERR_TAIL);
        } catch (SyscallException e) {
            if (e.call().equals("posix_spawn")) {
                throw new HookFailedException(what + ": cannot start: " + Errno.describe(e.errno()), e);
            }
            throw new HookFailedException(what + ": " + e.getMessage(), e);
        }
        switch (outcome) {
            case PosixSpawn.Exited(int status, String stderr) when status == 0 -> {
            }
            case PosixSpawn.Exited(int status, String stderr) ->
                    throw new HookFailedException(what + ": exit status " + status + tail(stderr));
            case PosixSpawn.Signaled(int signal, String stderr) ->
                    throw new HookFailedException(what + ": killed by signal " + signal + tail(stderr));
            case PosixSpawn.TimedOut(String stderr) ->
                    throw new HookFailedException(what + ": timed out after " + hook.timeout() + " s" + tail(stderr));
            case PosixSpawn.Interrupted() -> throw new HookFailedException(what + ": interrupted");
        }
    }

    private static String tail(String stderr) {
        String err = stderr.strip();
        return err.isEmpty() ? "" : ": " + err;
    }
}
