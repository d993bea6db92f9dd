package dev.capsa.backend.vm.agent;

import dev.capsa.backend.vm.AgentException;
import dev.capsa.backend.vm.GuestAgent;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A connection to the agent's control port through QEMU's listening socket for it. QEMU takes one
 * connection at a time and listens again when it closes, so every capsa command connects anew;
 * replies the agent wrote while nobody was connected are gone, which is why every exchange is a
 * question and its answer, and a connection starts with "hello" to skip whatever is stale.
 */
public final class AgentClient implements GuestAgent {
    public static final int PROTOCOL = 1;
    private static final int MAX_LINE = 65536;

    private final SocketChannel channel;
    private final Selector selector;
    private final Duration replyTimeout;
    private final ByteBuffer in = ByteBuffer.allocate(MAX_LINE);
    private final String where;

    private AgentClient(SocketChannel channel, Duration replyTimeout, String where) throws IOException {
        this.channel = channel;
        this.replyTimeout = replyTimeout;
        this.where = where;
        channel.configureBlocking(false);
        this.selector = Selector.open();
        channel.register(selector, SelectionKey.OP_READ);
        in.flip();
    }

    /** Connects, retrying until the socket exists and accepts, for at most {@code connectTimeout}. */
    public static AgentClient connect(Path socket, Duration connectTimeout, Duration replyTimeout) {
        long deadline = System.nanoTime() + connectTimeout.toNanos();
        IOException last = null;
        do {
            SocketChannel ch = null;
            try {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(socket));
                return new AgentClient(ch, replyTimeout, socket.toString());
            } catch (IOException e) {
                last = e;
                closeQuietly(ch);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        } while (System.nanoTime() < deadline);
        throw new AgentException("cannot connect to the guest agent at " + socket + ": "
                + (last == null ? "interrupted" : last.getMessage()), last);
    }

    @Override
    public Hello hello() {
        send(List.of(List.of("hello", Integer.toString(PROTOCOL))));
        while (true) {
            List<String> w = read(replyTimeout);
            if (w.isEmpty() || !w.getFirst().equals("hello")) {
                continue; // a reply meant for an earlier connection
            }
            if (w.size() < 3 || !w.get(1).equals(Integer.toString(PROTOCOL))) {
                throw new AgentException("the guest agent speaks another protocol: " + String.join(" ", w), null);
            }
            State state = State.valueOf(w.get(2).toUpperCase(java.util.Locale.ROOT));
            Exit exit = state == State.EXITED && w.size() >= 6 ? exit(w.subList(3, 6)) : null;
            return new Hello(state, exit);
        }
    }

    @Override
    public long create(List<List<String>> orders) {
        List<List<String>> all = new ArrayList<>(orders);
        all.add(List.of("create"));
        send(all);
        List<String> w = answer("ready");
        return Long.parseLong(w.get(1));
    }

    @Override
    public void start() {
        send(List.of(List.of("start")));
        answer("ok");
    }

    @Override
    public void signal(int signal) {
        send(List.of(List.of("signal", Integer.toString(signal))));
        answer("ok");
    }

    @Override
    public long exec(List<List<String>> orders, int slot) {
        List<List<String>> all = new ArrayList<>();
        all.add(List.of("newexec"));
        all.addAll(orders);
        all.add(List.of("exec", Integer.toString(slot)));
        send(all);
        List<String> w = answer("ok");
        if (w.size() != 2) {
            throw new AgentException("the guest agent answered \"" + String.join(" ", w) + "\" to exec", null);
        }
        return Long.parseLong(w.get(1));
    }

    @Override
    public void signal(int signal, long pid) {
        send(List.of(List.of("signal", Integer.toString(signal), Long.toString(pid))));
        answer("ok");
    }

    @Override
    public Exit awaitExit() {
        send(List.of(List.of("wait")));
        while (true) {
            List<String> w = read(null);
            if (!w.isEmpty() && w.getFirst().equals("exit") && w.size() == 4) {
                return exit(w.subList(1, 4));
            }
            if (!w.isEmpty() && w.getFirst().equals("error")) {
                throw error(w);
            }
        }
    }

    @Override
    public void powerOff() {
        send(List.of(List.of("poweroff")));
        answer("ok");
    }

    @Override
    public void close() {
        try {
            selector.close();
        } catch (IOException e) {
            // nothing to do
        }
        closeQuietly(channel);
    }

    // ---- internals

    private static Exit exit(List<String> w) {
        return new Exit(Integer.parseInt(w.get(0)), Long.parseLong(w.get(1)), Long.parseLong(w.get(2)));
    }

    private List<String> answer(String expected) {
        List<String> w = read(replyTimeout);
        if (!w.isEmpty() && w.getFirst().equals(expected)) {
            return w;
        }
        if (!w.isEmpty() && w.getFirst().equals("error")) {
            throw error(w);
        }
        throw new AgentException("the guest agent answered \"" + String.join(" ", w) + "\" instead of "
                + expected, null);
    }

    private static AgentException error(List<String> w) {
        String step = w.size() > 1 ? w.get(1) : "?";
        int errno = w.size() > 2 ? parseInt(w.get(2)) : 0;
        String detail = w.size() > 3 ? w.get(3) : "";
        return new AgentException(step, errno, step + (errno != 0 ? " failed with errno " + errno : " failed")
                + (detail.isEmpty() ? "" : ": " + detail));
    }

    private static int parseInt(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private void send(List<List<String>> lines) {
        StringBuilder text = new StringBuilder();
        lines.forEach(l -> text.append(Wire.line(l)));
        ByteBuffer out = ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8));
        try {
            long deadline = System.nanoTime() + replyTimeout.toNanos();
            while (out.hasRemaining()) {
                if (channel.write(out) == 0) {
                    if (System.nanoTime() > deadline) {
                        throw new AgentException("the guest agent at " + where + " takes no orders", null);
                    }
                    Thread.sleep(2);
                }
            }
        } catch (IOException e) {
            throw new AgentException("cannot talk to the guest agent at " + where + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AgentException("interrupted while talking to the guest agent", e);
        }
    }

    /** The next line's words; a null timeout waits for ever. */
    private List<String> read(Duration timeout) {
        long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                for (int i = in.position(); i < in.limit(); i++) {
                    if (in.get(i) == '\n') {
                        byte[] line = new byte[i - in.position()];
                        in.get(line);
                        in.get(); // the newline
                        return Wire.words(new String(line, StandardCharsets.UTF_8));
                    }
                }
                long left = deadline == Long.MAX_VALUE ? 0 : (deadline - System.nanoTime()) / 1_000_000;
                if (deadline != Long.MAX_VALUE && left <= 0) {
                    throw new AgentException("the guest agent at " + where + " did not answer within "
                            + timeout.toMillis() + " ms", null);
                }
                selector.select(deadline == Long.MAX_VALUE ? 0 : Math.max(1, left));
                selector.selectedKeys().clear();
                in.compact();
                int n = channel.read(in);
                in.flip();
                if (n < 0) {
                    throw new AgentException("the guest agent at " + where + " hung up (the guest is gone)", null);
                }
                if (in.remaining() == in.capacity()) {
                    throw new AgentException("the guest agent at " + where + " sent a line too long", null);
                }
            }
        } catch (IOException e) {
            throw new AgentException("cannot read from the guest agent at " + where + ": " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }
}
