package dev.capsa.backend.vm;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starts capsa-relay (src/main/c/capsa-relay.c), the host process that {@code exec --detach} leaves
 * behind for a process exec'd in the guest: it holds an exec slot, relays between the slot and the
 * stdio capsa exec was given (or a pty whose master it sent to the console socket), and exits with
 * the process's exit code. It inherits this JVM's descriptors 0, 1 and 2 and nothing else, so the
 * two talk over a handshake socket this JVM listens on: the relay takes a slot and says
 * {@code slot N PID}, the JVM has the agent start the process in slot N, says {@code go}, and exits.
 * The relay forks first and its parent exits: the JDK reaps its own children, so the exit code of a
 * relay that was this JVM's child and ended before it would be lost to the engine that waits for
 * it (conmon, a subreaper, adopts the relay instead).
 */
final class ExecRelay {
    /** The pty the relay makes: the socket that receives its master, and its size (0 0: none). */
    record Terminal(Path consoleSocket, int rows, int cols) {
    }

    /** Starts the process in the slot the relay holds; a throw stops the relay and is rethrown. */
    interface InSlot {
        void start(int slot, long relayPid);
    }

    private final Path binary;
    private final Duration timeout;
    private final ProcessBuilder.Redirect in, out, err;

    /** A relay with this JVM's stdin, stdout and stderr. */
    ExecRelay(Path binary, Duration timeout) {
        this(binary, timeout, ProcessBuilder.Redirect.INHERIT, ProcessBuilder.Redirect.INHERIT,
                ProcessBuilder.Redirect.INHERIT);
    }

    ExecRelay(Path binary, Duration timeout, ProcessBuilder.Redirect in, ProcessBuilder.Redirect out,
              ProcessBuilder.Redirect err) {
        this.binary = binary;
        this.timeout = timeout;
        this.in = in;
        this.out = out;
        this.err = err;
    }

    /**
     * @return the pid of the relay, running and relaying; 0 when every slot is taken (it has exited
     *     then)
     */
    long start(Path stateDir, int slots, Path handshake, Terminal terminal, String id, InSlot inSlot) {
        List<String> command = new ArrayList<>(List.of(binary.toString(), handshake.toString(), stateDir.toString(),
                Integer.toString(slots)));
        if (terminal != null) {
            command.addAll(List.of(terminal.consoleSocket().toString(), Integer.toString(terminal.rows()),
                    Integer.toString(terminal.cols())));
        }
        Process relay = null;
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            Files.deleteIfExists(handshake);
            server.bind(UnixDomainSocketAddress.of(handshake));
            server.configureBlocking(false);
            relay = new ProcessBuilder(command).redirectInput(in).redirectOutput(out).redirectError(err).start();
            long deadline = System.nanoTime() + timeout.toNanos();
            try (SocketChannel ch = accept(server, relay, deadline, id)) {
                String line = readLine(ch, relay, deadline, id);
                if (line.equals("busy")) {
                    return 0;
                }
                String[] words = line.split(" ");
                if (words.length != 3 || !words[0].equals("slot")) {
                    throw new CapsaException("container \"" + id + "\": exec: "
                            + (line.startsWith("error ") ? line.substring(6) : "capsa-relay said \"" + line + "\""));
                }
                long pid = Long.parseLong(words[2]);
                inSlot.start(Integer.parseInt(words[1]), pid);
                ByteBuffer go = ByteBuffer.wrap("go\n".getBytes(StandardCharsets.US_ASCII));
                while (go.hasRemaining()) {
                    ch.write(go);
                }
                return pid;
            }
        } catch (IOException e) {
            throw new CapsaException("container \"" + id + "\": exec: cannot start capsa-relay (" + binary + "): "
                    + e.getMessage(), e);
        } finally {
            if (relay != null) {
                awaitExit(relay); // the parent of the fork exits at once
            }
            try {
                Files.deleteIfExists(handshake);
            } catch (IOException e) {
                // a stale socket is replaced by the next exec of this pid
            }
        }
    }

    private static SocketChannel accept(ServerSocketChannel server, Process relay, long deadline, String id)
            throws IOException {
        while (true) {
            SocketChannel ch = server.accept();
            if (ch != null) {
                ch.configureBlocking(false);
                return ch;
            }
            check(relay, deadline, id);
            pause();
        }
    }

    private static String readLine(SocketChannel ch, Process relay, long deadline, String id) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1024);
        while (true) {
            int n = ch.read(buf);
            for (int i = 0; i < buf.position(); i++) {
                if (buf.get(i) == '\n') {
                    return new String(buf.array(), 0, i, StandardCharsets.UTF_8);
                }
            }
            if (n < 0 || !buf.hasRemaining()) {
                throw new CapsaException("container \"" + id + "\": exec: capsa-relay ended before it took a slot");
            }
            if (n == 0) {
                check(relay, deadline, id);
                pause();
            }
        }
    }

    private static void check(Process relay, long deadline, String id) {
        if (!relay.isAlive() && relay.exitValue() != 0) {
            throw new CapsaException("container \"" + id + "\": exec: capsa-relay exited with " + relay.exitValue()
                    + " before it took a slot");
        }
        if (System.nanoTime() > deadline) {
            throw new CapsaException("container \"" + id + "\": exec: capsa-relay did not take a slot in time");
        }
    }

    private static void awaitExit(Process relay) {
        try {
            if (!relay.waitFor(2, TimeUnit.SECONDS)) {
                relay.destroyForcibly().waitFor(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            relay.destroyForcibly();
        }
    }

    private static void pause() {
        try {
            Thread.sleep(2);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted");
        }
    }
}
