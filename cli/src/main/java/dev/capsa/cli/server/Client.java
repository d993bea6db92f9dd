package dev.capsa.cli.server;

import dev.capsa.os.Child;
import dev.capsa.os.Launcher;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntConsumer;

/**
 * One connected capsa client (src/main/c/capsa-client.c has the protocol): its request, and the
 * {@link Launcher} through which the command starts helpers as the client's children. A reader
 * thread takes the client's answers (P, p, E) and the signals it relays (G).
 */
final class Client implements Launcher, AutoCloseable {
    /** What the client sent: its pid, working directory, arguments and environment. */
    record Request(long pid, Path cwd, String[] args, Map<String, String> env) {
    }

    private final SocketChannel channel;
    private final Object writing = new Object();
    private final BlockingQueue<String> spawned = new LinkedBlockingQueue<>();
    private final Map<Long, CompletableFuture<Integer>> waits = new ConcurrentHashMap<>();
    private volatile IntConsumer signalTarget;
    private volatile boolean gone;
    private volatile boolean ownProcess;

    Client(SocketChannel channel) {
        this.channel = channel; // blocking; read by one thread, written under a lock by others
    }

    Request readRequest() throws IOException {
        Frame f = readFrame();
        if (f.type != 'R') {
            throw new IOException("expected a request, got '" + (char) f.type + "'");
        }
        List<String> fields = new ArrayList<>();
        int at = 0;
        while (at < f.payload.length) {
            int len = le32(f.payload, at);
            at += 4;
            if (len < 0 || at + len > f.payload.length) {
                throw new IOException("a malformed request");
            }
            fields.add(new String(f.payload, at, len, StandardCharsets.UTF_8));
            at += len;
        }
        if (fields.size() < 4 || !fields.get(0).equals("1")) {
            throw new IOException("a request of another protocol version");
        }
        long pid = Long.parseLong(fields.get(1));
        Path cwd = Path.of(fields.get(2));
        int argc = Integer.parseInt(fields.get(3));
        String[] args = fields.subList(4, 4 + argc).toArray(String[]::new);
        Map<String, String> env = new java.util.LinkedHashMap<>();
        for (String e : fields.subList(4 + argc, fields.size())) {
            int eq = e.indexOf('=');
            if (eq > 0) {
                env.putIfAbsent(e.substring(0, eq), e.substring(eq + 1));
            }
        }
        return new Request(pid, cwd, args, env);
    }

    /** From now on a thread takes what the client sends. */
    void listen() {
        Thread.ofPlatform().daemon().name("capsa-client-reader").start(() -> {
            try {
                while (true) {
                    Frame f = readFrame();
                    String text = new String(f.payload, StandardCharsets.UTF_8);
                    switch (f.type) {
                        case 'P', 'p' -> spawned.add((char) f.type + text);
                        case 'E' -> {
                            String[] parts = text.split(" ");
                            CompletableFuture<Integer> w = waits.get(Long.parseLong(parts[0]));
                            if (w != null) {
                                w.complete(Integer.parseInt(parts[1]));
                            }
                        }
                        case 'G' -> {
                            IntConsumer target = signalTarget;
                            if (target != null) {
                                target.accept(Integer.parseInt(text));
                            }
                        }
                        default -> throw new IOException("unknown frame '" + (char) f.type + "'");
                    }
                }
            } catch (IOException | RuntimeException e) {
                gone = true;
                spawned.add("p-1");
                waits.values().forEach(w -> w.completeExceptionally(
                        new IOException("the capsa client went away")));
            }
        });
    }

    void send(char type, String payload) throws IOException {
        byte[] bytes = payload.getBytes(StandardCharsets.UTF_8);
        byte[] frame = new byte[5 + bytes.length];
        frame[0] = (byte) type;
        frame[1] = (byte) bytes.length;
        frame[2] = (byte) (bytes.length >>> 8);
        frame[3] = (byte) (bytes.length >>> 16);
        frame[4] = (byte) (bytes.length >>> 24);
        System.arraycopy(bytes, 0, frame, 5, bytes.length);
        synchronized (writing) {
            ByteBuffer buffer = ByteBuffer.wrap(frame);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        }
    }

    @Override
    public Child start(List<String> argv) throws IOException {
        if (gone) {
            throw new IOException("the capsa client went away");
        }
        send('S', String.join("\0", argv) + "\0");
        String reply;
        try {
            reply = spawned.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the client started " + argv.get(0));
        }
        if (reply.charAt(0) == 'p') {
            int errno = Integer.parseInt(reply.substring(1));
            throw new IOException(errno < 0 ? "the capsa client went away"
                    : "the client cannot run " + argv.get(0) + ": errno " + errno);
        }
        return new RemoteChild(Long.parseLong(reply.substring(1)));
    }

    @Override
    public Forwarding forwardSignals(IntConsumer target) {
        signalTarget = target;
        try {
            send('F', "1");
        } catch (IOException e) {
            // a client that is gone has no signals to relay
        }
        return () -> {
            signalTarget = null;
            try {
                send('F', "0");
            } catch (IOException e) {
                // as above
            }
        };
    }

    @Override
    public void requireOwnProcess(String why) {
        ownProcess = true;
        throw new dev.capsa.os.OwnProcessRequired(why);
    }

    /** Whether the command asked to run in a process of the client's own. */
    boolean ownProcessRequested() {
        return ownProcess;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // it is going away anyway
        }
    }

    /** A child of the client: the client waits for it on request; liveness is read from /proc. */
    private final class RemoteChild implements Child {
        private final long pid;

        RemoteChild(long pid) {
            this.pid = pid;
        }

        @Override
        public long pid() {
            return pid;
        }

        @Override
        public boolean isAlive() {
            CompletableFuture<Integer> w = waits.get(pid);
            if (w != null && w.isDone()) {
                return false;
            }
            try {
                String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
                return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
            } catch (IOException e) {
                return false;
            }
        }

        private CompletableFuture<Integer> waiting() throws InterruptedException {
            CompletableFuture<Integer> fresh = new CompletableFuture<>();
            CompletableFuture<Integer> w = waits.putIfAbsent(pid, fresh);
            if (w == null) {
                w = fresh;
                try {
                    send('W', Long.toString(pid));
                } catch (IOException e) {
                    w.completeExceptionally(e);
                }
            }
            return w;
        }

        @Override
        public int waitFor() throws InterruptedException {
            try {
                return waiting().get();
            } catch (ExecutionException e) {
                throw new IllegalStateException("cannot wait for process " + pid + ": " + e.getCause().getMessage(),
                        e.getCause());
            }
        }

        @Override
        public boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException {
            try {
                waiting().get(timeout, unit);
                return true;
            } catch (TimeoutException e) {
                return false;
            } catch (ExecutionException e) {
                return !isAlive();
            }
        }

        @Override
        public int exitValue() {
            CompletableFuture<Integer> w = waits.get(pid);
            if (w == null || !w.isDone() || w.isCompletedExceptionally()) {
                throw new IllegalThreadStateException("process " + pid + " has not exited");
            }
            return w.join();
        }

        @Override
        public void destroyForcibly() {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    private record Frame(int type, byte[] payload) {
    }

    private Frame readFrame() throws IOException {
        byte[] head = readFully(5);
        int len = le32(head, 1);
        if (len < 0 || len > (64 << 20)) {
            throw new IOException("a frame of " + len + " bytes");
        }
        return new Frame(head[0], readFully(len));
    }

    private byte[] readFully(int n) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(n);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                throw new EOFException("the client closed the connection");
            }
        }
        return buffer.array();
    }

    private static int le32(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
    }
}
