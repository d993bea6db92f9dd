package dev.capsa.backend.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.capsa.error.CapsaException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * capsa-relay, the built binary, against a fake guest end of an exec slot: the handshake, the slot
 * lock, stdio, signals passed on as frames, the exit code, and the pty sent to a console socket.
 */
class ExecRelayTest {
    @TempDir
    Path tmp;

    private Path relay, reaper, reaped;
    private final List<ServerSocketChannel> sockets = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();

    /**
     * conmon's part: a subreaper that starts the relay (as capsa exec does), adopts it when it forks
     * away, and writes "PID EXITCODE" of every process it reaps. It forks itself away first, so the
     * process ExecRelay started ends at once, as the relay's own first half does.
     */
    private static final String REAPER = """
            import ctypes, os, subprocess, sys
            if os.fork() > 0:
                os._exit(0)  # as capsa exec's JVM, the process that started it, goes
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
            subprocess.Popen(sys.argv[2:], close_fds=False)
            with open(sys.argv[1], 'a') as out:
                while True:
                    try:
                        pid, status = os.waitpid(-1, 0)
                    except ChildProcessError:
                        break
                    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
                    out.write('%d %d\\n' % (pid, code))
                    out.flush()
            """;

    @BeforeEach
    void binary() throws Exception {
        var url = ExecRelayTest.class.getResource("/capsa-relay");
        assumeTrue(url != null && url.getProtocol().equals("file"), "capsa-relay was not built (no C compiler?)");
        Path binary = Path.of(url.toURI());
        assumeTrue(Files.isExecutable(binary), binary + " is not executable");
        assumeTrue(Stream.of(System.getenv("PATH").split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, "python3"))),
                "no python3 to play conmon (a subreaper that collects the relay's exit code)");
        reaped = tmp.resolve("reaped");
        Path script = Files.writeString(tmp.resolve("reaper.py"), REAPER);
        relay = tmp.resolve("relay.sh");
        Files.writeString(relay, "#!/bin/sh\nexec python3 " + script + " " + reaped + " " + binary + " \"$@\"\n");
        relay.toFile().setExecutable(true);
        reaper = binary;
    }

    /** The relay's exit code, as the subreaper saw it. */
    private int exitCode(long pid) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (Files.exists(reaped)) {
                for (String line : Files.readAllLines(reaped)) {
                    String[] w = line.split(" ");
                    if (Long.parseLong(w[0]) == pid) {
                        return Integer.parseInt(w[1]);
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("relay " + pid + " did not end");
    }

    @AfterEach
    void cleanUp() throws IOException {
        processes.forEach(Process::destroyForcibly);
        for (ServerSocketChannel s : sockets) {
            s.close();
        }
    }

    /** One frame: its type and data. */
    record Frame(char type, String data) {
    }

    /**
     * The guest's end of slot {@code slot}: records the host's frames; when one matches a trigger,
     * it answers with that trigger's frames. The exit frame ends it.
     */
    private final class FakeSlot {
        final List<Frame> seen = new CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);

        FakeSlot(Path dir, int slot, List<Object[]> script) throws IOException {
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(dir.resolve(ExecSession.socketName(slot))));
            sockets.add(server);
            Thread.ofPlatform().daemon().start(() -> {
                try (SocketChannel ch = server.accept()) {
                    DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
                    DataOutputStream out = new DataOutputStream(Channels.newOutputStream(ch));
                    while (true) {
                        char type = (char) in.readByte();
                        byte[] data = new byte[in.readInt()];
                        in.readFully(data);
                        Frame f = new Frame(type, new String(data, StandardCharsets.UTF_8));
                        seen.add(f);
                        for (Object[] step : script) {
                            if (step[0].equals(f)) {
                                for (int i = 1; i < step.length; i++) {
                                    Frame reply = (Frame) step[i];
                                    byte[] d = reply.data().getBytes(StandardCharsets.UTF_8);
                                    out.writeByte(reply.type());
                                    out.writeInt(d.length);
                                    out.write(d);
                                    out.flush();
                                    if (reply.type() == 'x') {
                                        done.countDown();
                                        in.readAllBytes(); // until the relay hangs up
                                        return;
                                    }
                                }
                            }
                        }
                    }
                } catch (IOException e) {
                    seen.add(new Frame('!', e.toString()));
                }
                done.countDown();
            });
        }
    }

    private ExecRelay relay(Path stdin, Path stdout, Path stderr) {
        return new ExecRelay(relay, Duration.ofSeconds(5), ProcessBuilder.Redirect.from(stdin.toFile()),
                ProcessBuilder.Redirect.to(stdout.toFile()), ProcessBuilder.Redirect.to(stderr.toFile()));
    }

    private static boolean locked(Path lockFile) throws IOException {
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock lock = ch.tryLock();
            if (lock != null) {
                lock.release();
            }
            return lock == null;
        }
    }

    @Test
    void theRelayTakesAFreeSlotRelaysStdioPassesSignalsOnAndExitsWithTheCode() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("state"));
        Path stdin = Files.writeString(tmp.resolve("in"), "some input\n");
        Path stdout = tmp.resolve("out"), stderr = tmp.resolve("err");
        // slot 0 is held by someone else (a foreground exec)
        try (FileChannel busy = FileChannel.open(dir.resolve("exec0.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock held = busy.lock()) {
            FakeSlot slot = new FakeSlot(dir, 1, List.of(
                    new Object[] {new Frame('c', "")},
                    new Object[] {new Frame('k', "15"), new Frame('o', "got input and TERM\n"),
                            new Frame('e', "to stderr\n"), new Frame('x', "143")}));
            List<Integer> slots = new ArrayList<>();
            long pid = relay(stdin, stdout, stderr).start(dir, 4, dir.resolve("r1"), null, "c1",
                    (n, r) -> slots.add(n));
            assertTrue(pid > 0);
            assertEquals(List.of(1), slots, "the first free slot");
            String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.startsWith(reaper + " "), "the pid is the relay's own: " + cmdline);
            assertTrue(locked(dir.resolve("exec1.lock")), "the relay holds the slot's lock");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!slot.seen.contains(new Frame('c', ""))) {
                assertTrue(System.nanoTime() < deadline, "no end of stdin: " + slot.seen);
                Thread.sleep(10);
            }
            ProcessHandle.of(pid).orElseThrow().destroy(); // SIGTERM, as an engine stops an exec session
            assertEquals(143, exitCode(pid), Files.readString(stderr));
            assertEquals(List.of(new Frame('h', ""), new Frame('i', "some input\n"), new Frame('c', ""),
                    new Frame('k', "15")), slot.seen);
            assertEquals("got input and TERM\n", Files.readString(stdout));
            assertEquals("to stderr\n", Files.readString(stderr));
            assertFalse(locked(dir.resolve("exec1.lock")), "the slot is free again");
            assertFalse(Files.exists(dir.resolve("r1")), "the handshake socket is gone");
        }
    }

    @Test
    void aFailureToStartTheProcessEndsTheRelayAndEveryTakenSlotSaysBusy() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("state"));
        Path none = Files.writeString(tmp.resolve("in"), "");
        new FakeSlot(dir, 0, List.of());
        CapsaException e = assertThrows(CapsaException.class, () -> relay(none, tmp.resolve("o"), tmp.resolve("e"))
                .start(dir, 1, dir.resolve("r1"), null, "c1", (n, r) -> {
                    throw new CapsaException("container \"c1\": exec: cwd failed with errno 2: /nope");
                }));
        assertEquals("container \"c1\": exec: cwd failed with errno 2: /nope", e.getMessage());
        assertNoRelayLeft(dir);
        assertFalse(locked(dir.resolve("exec0.lock")), "the relay let go of the slot");

        try (FileChannel busy = FileChannel.open(dir.resolve("exec0.lock"), StandardOpenOption.WRITE);
             FileLock held = busy.lock()) {
            assertEquals(0, relay(none, tmp.resolve("o"), tmp.resolve("e")).start(dir, 1, dir.resolve("r1"), null, "c1",
                    (n, r) -> {
                        throw new AssertionError("no slot was free");
                    }));
        }
        assertNoRelayLeft(dir);
    }

    /** Every relay started has ended: the subreaper saw the relay's fork exit with 1. */
    private void assertNoRelayLeft(Path dir) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(reaped) || Files.readAllLines(reaped).stream().noneMatch(l -> l.endsWith(" 1"))) {
            assertTrue(System.nanoTime() < deadline, "the relay did not end");
            Thread.sleep(20);
        }
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            assertEquals(List.of(), all.filter(c -> c.info().command().orElse("").equals(reaper.toString()))
                    .filter(c -> String.join(" ", c.info().arguments().orElse(new String[0])).contains(dir.toString()))
                    .map(ProcessHandle::pid).toList());
        }
    }

    /** python3 receives the master (Java cannot receive SCM_RIGHTS), prints its size, types and reads. */
    private static final String RECEIVER = """
            import array, fcntl, os, select, socket, struct, sys, termios, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sys.argv[1])
            s.listen(1)
            c, _ = s.accept()
            msg, anc, _, _ = c.recvmsg(4096, socket.CMSG_SPACE(4))
            fds = array.array('i')
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:4])
            fd = fds[0]
            rows, cols = struct.unpack('HHHH', fcntl.ioctl(fd, termios.TIOCGWINSZ, b'\\0' * 8))[:2]
            print('name=%s size=%d %d' % (msg.decode(), rows, cols), flush=True)
            os.write(fd, b'typed\\n')
            time.sleep(0.3)
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 132, 0, 0))
            out = b''
            deadline = time.time() + 15
            while time.time() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
            sys.stdout.write(out.decode())
            """;

    @Test
    void withATerminalTheMasterGoesToTheConsoleSocketAndThePtyIsRelayedRaw() throws Exception {
        assumeTrue(Stream.of(System.getenv("PATH").split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, "python3"))),
                "no python3 to receive the pty master");
        Path dir = Files.createDirectories(tmp.resolve("state"));
        Path console = tmp.resolve("console.sock");
        Path script = Files.writeString(tmp.resolve("receiver.py"), RECEIVER);
        Process receiver = new ProcessBuilder("python3", script.toString(), console.toString())
                .redirectErrorStream(true).start();
        processes.add(receiver);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(console)) {
            assertTrue(System.nanoTime() < deadline && receiver.isAlive(), "the receiver did not start");
            Thread.sleep(20);
        }
        FakeSlot slot = new FakeSlot(dir, 0, List.<Object[]>of(
                new Object[] {new Frame('w', "50 132"), new Frame('o', "guest saw typed\r\n"), new Frame('x', "0")}));
        Path none = Files.writeString(tmp.resolve("in"), "");
        long pid = relay(none, tmp.resolve("o"), tmp.resolve("e")).start(dir, 4, dir.resolve("r1"),
                new ExecRelay.Terminal(console, 30, 100), "c1", (n, r) -> {
                });
        assertEquals(0, exitCode(pid), Files.readString(tmp.resolve("e")) + slot.seen);
        assertTrue(receiver.waitFor(20, TimeUnit.SECONDS));
        String out = new String(receiver.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals("name=/dev/ptmx size=30 100\nguest saw typed\r\n", out);
        // raw: what was typed arrives once, unechoed and untranslated; no end of input for a terminal
        assertEquals(List.of(new Frame('h', ""), new Frame('i', "typed\n"), new Frame('w', "50 132")), slot.seen);
        assertEquals("", Files.readString(tmp.resolve("o")), "nothing goes to the relay's own stdout");
    }
}
