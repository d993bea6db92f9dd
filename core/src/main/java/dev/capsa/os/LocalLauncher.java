package dev.capsa.os;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/** The JVM is the caller: helpers are its children with its stdio; its own signals are proxied. */
final class LocalLauncher implements Launcher {
    static final LocalLauncher INSTANCE = new LocalLauncher();

    private LocalLauncher() {
    }

    @Override
    public Child start(List<String> argv) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(argv).inheritIO();
        pb.environment().clear();
        return new LocalChild(pb.start());
    }

    @Override
    public Forwarding forwardSignals(IntConsumer target) {
        return new SignalProxy(target);
    }

    private record LocalChild(Process process) implements Child {
        @Override
        public long pid() {
            return process.pid();
        }

        @Override
        public boolean isAlive() {
            return process.isAlive();
        }

        @Override
        public int waitFor() throws InterruptedException {
            return process.waitFor();
        }

        @Override
        public boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException {
            return process.waitFor(timeout, unit);
        }

        @Override
        public int exitValue() {
            return process.exitValue();
        }

        @Override
        public void destroyForcibly() {
            process.destroyForcibly();
        }
    }
}
