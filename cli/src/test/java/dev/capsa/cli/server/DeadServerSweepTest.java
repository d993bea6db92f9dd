package dev.capsa.cli.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A starting server removes what dead servers of other keys left, and nothing of a live or starting one. */
class DeadServerSweepTest {
    @TempDir
    Path dir;

    /** A key's three files; {@code logLine} null for a log without the listening line. */
    private Path key(String name, String logLine) throws Exception {
        Path sock = dir.resolve(name + ".sock");
        Files.writeString(sock, "");
        Files.writeString(dir.resolve(name + ".lock"), "");
        Files.writeString(dir.resolve(name + ".log"), logLine == null ? "" : logLine.replace("SOCK", sock.toString()) + "\n");
        return sock;
    }

    private boolean left(String name) {
        return Files.exists(dir.resolve(name + ".sock")) || Files.exists(dir.resolve(name + ".lock"))
                || Files.exists(dir.resolve(name + ".log"));
    }

    @Test
    void deadServersFilesGoAndTheOthersStay() throws Exception {
        Path own = key("own", "capsa server 1: listening on SOCK");
        // a pid that cannot exist (above pid_max's 2^22)
        key("dead", "capsa server 99999999: listening on SOCK");
        // this JVM is alive but serves no such socket: a recycled pid
        key("recycled", "capsa server " + ProcessHandle.current().pid() + ": listening on SOCK");
        key("starting", null);
        key("locked", "capsa server 99999999: listening on SOCK");
        try (FileChannel ch = FileChannel.open(dir.resolve("locked.lock"), StandardOpenOption.WRITE);
             FileLock held = ch.lock()) {
            // tryLock from the same JVM would throw OverlappingFileLockException: also "leave it"
            Server.sweepDeadServers(own);
        }
        assertFalse(left("dead"), "a dead server's socket, log and lock");
        assertFalse(left("recycled"), "a pid that serves another socket");
        assertTrue(left("starting"), "a server that has not said it listens yet");
        assertTrue(left("locked"), "a key whose lock a client holds");
        assertTrue(left("own"));
    }
}
