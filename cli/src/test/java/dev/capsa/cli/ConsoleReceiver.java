package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The other end of a {@code --console-socket} for the ITs: a python3 script (Java cannot receive
 * SCM_RIGHTS) that takes the pty master as runc sends it, prints {@code name=<the message>}, types
 * its input into the terminal, and prints what comes back until EOF, EIO (every slave descriptor is
 * closed) or its reading time is up.
 */
final class ConsoleReceiver {
    private static final String SCRIPT = """
            import array, os, select, socket, sys, time
            path, send, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(1)
            c, _ = s.accept()
            msg, anc, _, _ = c.recvmsg(4096, socket.CMSG_SPACE(4))
            fds = array.array('i')
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:4])
            print('name=' + msg.decode(), flush=True)
            fd = fds[0]
            os.write(fd, send.encode())
            out = b''
            deadline = time.time() + seconds
            while time.time() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break  # EIO: every slave descriptor is closed
                    if not chunk:
                        break
                    out += chunk
            sys.stdout.write(out.decode(errors='replace').replace('\\r', ''))
            """;

    private ConsoleReceiver() {
    }

    /** Starts the receiver on {@code socket} (its script in {@code dir}) and waits until it listens. */
    static Process start(Path dir, Path socket, String input, Duration reading) throws Exception {
        Path script = Files.writeString(dir.resolve("receiver.py"), SCRIPT);
        Process p = new ProcessBuilder("python3", script.toString(), socket.toString(), input,
                Long.toString(reading.toSeconds())).redirectErrorStream(true).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(socket)) {
            assertTrue(System.nanoTime() < deadline && p.isAlive(), "the console receiver did not start: "
                    + (p.isAlive() ? "" : new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)));
            Thread.sleep(20);
        }
        return p;
    }

    /** What the receiver printed, once it has finished (within {@code limit}). */
    static String output(Process p, Duration limit) throws Exception {
        assertTrue(p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS), "the console receiver did not finish");
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
}
