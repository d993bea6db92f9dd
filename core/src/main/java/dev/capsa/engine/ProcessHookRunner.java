package dev.capsa.engine;

import dev.capsa.error.HookFailedException;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Json;
import dev.capsa.spi.HookPhase;
import dev.capsa.state.OciState;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a config.json hook as a host process: config.md says the state goes to stdin and the hook
 * gets its env and nothing else. A hook past its timeout is killed and counts as failed.
 */
public final class ProcessHookRunner implements HookRunner {
    private static final int STDERR_TAIL = 2048;

    @Override
    public void run(HookPhase phase, Hook hook, OciState state) {
        String what = phase.specName() + " hook " + hook.path();
        List<String> command = new ArrayList<>();
        command.add(hook.path());
        // args[0] is the hook's argv[0]; ProcessBuilder ties argv[0] to the path, so pass the rest
        if (hook.args() != null && hook.args().size() > 1) {
            command.addAll(hook.args().subList(1, hook.args().size()));
        }
        ProcessBuilder builder = new ProcessBuilder(command);
        Map<String, String> env = builder.environment();
        env.clear();
        if (hook.env() != null) {
            for (String entry : hook.env()) {
                int eq = entry.indexOf('=');
                if (eq > 0) {
                    env.put(entry.substring(0, eq), entry.substring(eq + 1));
                }
            }
        }
        builder.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new HookFailedException(what + ": cannot start: " + e.getMessage(), e);
        }
        try {
            try (OutputStream stdin = process.getOutputStream()) {
                stdin.write(Json.mapper().writeValueAsBytes(state));
            } catch (IOException e) {
                // a hook may exit without reading its stdin; its exit status decides
            }
            StderrTail stderr = new StderrTail(process.getErrorStream());
            stderr.start();
            boolean done = hook.timeout() == null
                    ? waitFor(process)
                    : process.waitFor(hook.timeout(), TimeUnit.SECONDS);
            if (!done) {
                process.destroyForcibly().waitFor();
                throw new HookFailedException(what + ": timed out after " + hook.timeout() + " s");
            }
            stderr.join(1000);
            int code = process.exitValue();
            if (code != 0) {
                String err = stderr.text().strip();
                throw new HookFailedException(what + ": exit status " + code + (err.isEmpty() ? "" : ": " + err));
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new HookFailedException(what + ": interrupted", e);
        }
    }

    private static boolean waitFor(Process process) throws InterruptedException {
        process.waitFor();
        return true;
    }

    /** Keeps the last bytes of the hook's stderr for the error message. */
    private static final class StderrTail extends Thread {
        private final InputStream in;
        private final byte[] tail = new byte[STDERR_TAIL];
        private int length;

        StderrTail(InputStream in) {
            super("hook-stderr");
            setDaemon(true);
            this.in = in;
        }

        @Override
        public void run() {
            byte[] buffer = new byte[4096];
            try (in) {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    synchronized (this) {
                        if (n >= tail.length) {
                            System.arraycopy(buffer, n - tail.length, tail, 0, tail.length);
                            length = tail.length;
                        } else {
                            int keep = Math.min(length, tail.length - n);
                            System.arraycopy(tail, length - keep, tail, 0, keep);
                            System.arraycopy(buffer, 0, tail, keep, n);
                            length = keep + n;
                        }
                    }
                }
            } catch (IOException e) {
                // the process is gone; what was read is what there is
            }
        }

        synchronized String text() {
            return new String(tail, 0, length, StandardCharsets.UTF_8);
        }
    }
}
