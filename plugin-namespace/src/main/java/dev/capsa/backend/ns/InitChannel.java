package dev.capsa.backend.ns;

import dev.capsa.error.CapsaException;
import dev.capsa.os.Caller;
import dev.capsa.os.Child;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A running capsa-init and the control connection to it. The JDK cannot hand a child an extra
 * descriptor, so Java listens on a unix socket that only root can reach (in the container's state
 * directory) and capsa-init connects to it; stdio 0, 1 and 2 are the caller's, inherited, because
 * the container's process keeps them (runc without a terminal does the same). The caller's
 * {@link dev.capsa.os.Launcher} starts it, so that under the capsa server it is the client's child.
 */
final class InitChannel implements AutoCloseable {
    private static final long CONNECT_TIMEOUT_MS = 10_000;

    private final Child process;
    private final SocketChannel channel;
    private final BufferedReader reader;
    private final OutputStream writer;

    /** A line capsa-init sent: its first word and the rest. */
    record Report(String kind, String rest) {
    }

    private InitChannel(Child process, SocketChannel channel) {
        this.process = process;
        this.channel = channel;
        this.reader = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        this.writer = Channels.newOutputStream(channel);
    }

    /** Starts capsa-init and waits until it connects to {@code socket}, which is then removed. */
    static InitChannel start(Path binary, Path socket) {
        try {
            Files.deleteIfExists(socket);
            try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                 Selector selector = Selector.open()) {
                server.bind(UnixDomainSocketAddress.of(socket));
                server.configureBlocking(false);
                server.register(selector, SelectionKey.OP_ACCEPT);
                // a child of the caller (under the capsa server, of the client the engine ran), with
                // the caller's stdio and no environment: the container's comes from the plan alone
                Child process = Caller.current().launcher().start(
                        List.of(binary.toString(), "--control", socket.toString()));
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONNECT_TIMEOUT_MS);
                try {
                    while (true) {
                        selector.select(50);
                        SocketChannel ch = server.accept();
                        if (ch != null) {
                            ch.configureBlocking(true);
                            return new InitChannel(process, ch);
                        }
                        if (!process.isAlive()) {
                            throw new CapsaException("capsa-init " + binary + " exited with status "
                                    + process.exitValue() + " before it connected to " + socket);
                        }
                        if (System.nanoTime() > deadline) {
                            throw new CapsaException("capsa-init did not connect to " + socket + " within "
                                    + CONNECT_TIMEOUT_MS + " ms");
                        }
                    }
                } catch (RuntimeException e) {
                    process.destroyForcibly();
                    throw e;
                }
            } finally {
                Files.deleteIfExists(socket);
            }
        } catch (IOException e) {
            throw new CapsaException("cannot start capsa-init: " + e.getMessage(), e);
        }
    }

    Child process() {
        return process;
    }

    void send(byte[] bytes) {
        try {
            writer.write(bytes);
            writer.flush();
        } catch (IOException e) {
            throw new CapsaException("cannot send the launch plan to capsa-init: " + e.getMessage(), e);
        }
    }

    /** The next report, or null once capsa-init has closed the connection. */
    Report next() {
        try {
            String line = reader.readLine();
            if (line == null) {
                return null;
            }
            int space = line.indexOf(' ');
            return space < 0 ? new Report(line, "") : new Report(line.substring(0, space), line.substring(space + 1));
        } catch (IOException e) {
            throw new CapsaException("cannot read from capsa-init: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // nothing left to tell it
        }
    }
}
