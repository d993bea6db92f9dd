package dev.capsa.backend.vm.agent;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for capsa-agent behind QEMU's listening ctl socket: one connection at a time, as
 * QEMU takes them, answering the protocol of docs/vm.md from a small state machine. It can be told
 * to leave a stale line for the next connection (what QEMU does with a reply nobody read).
 */
public final class FakeAgent implements AutoCloseable {
    public final List<List<String>> received = new CopyOnWriteArrayList<>();
    final ServerSocketChannel server;
    final Thread thread;
    public volatile String state = "booted";
    public volatile String failOn; // an order word that makes "create" fail
    volatile String staleLine; // sent first on the next connection
    volatile int exitCode = 0;

    public FakeAgent(Path socket) throws IOException {
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        thread = Thread.ofPlatform().daemon().start(this::serve);
    }

    private void serve() {
        while (server.isOpen()) {
            try (SocketChannel ch = server.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(ch);
                if (staleLine != null) {
                    out.write((staleLine + "\n").getBytes(StandardCharsets.UTF_8));
                    staleLine = null;
                }
                String error = null;
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    List<String> w = Wire.words(line);
                    received.add(w);
                    String reply = switch (w.getFirst()) {
                        case "hello" -> "hello 1 " + state + (state.equals("exited") ? " " + exitCode + " 6 0" : "");
                        case "create" -> {
                            state = error == null ? "created" : state;
                            yield error == null ? "ready 7" : error;
                        }
                        case "start" -> {
                            state = "running";
                            yield "ok";
                        }
                        case "signal" -> state.equals("running") ? "ok" : "error kill 3 not%20running";
                        case "wait" -> {
                            state = "exited";
                            yield "exit " + exitCode + " 6 0";
                        }
                        case "poweroff" -> "ok";
                        case "newexec" -> {
                            error = null;
                            yield null;
                        }
                        case "exec" -> {
                            if (!state.equals("running") && !state.equals("created")) {
                                yield "error exec 3 the%20container%27s%20process%20is%20" + state;
                            }
                            yield error == null ? "ok 42" : error;
                        }
                        default -> {
                            if (w.getFirst().equals(failOn)) {
                                error = "error mount 2 proc%20on%20/proc";
                            }
                            yield null; // orders have no reply
                        }
                    };
                    if (reply != null) {
                        out.write((reply + "\n").getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // closed
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
