package dev.capsa.cli.server;

import dev.capsa.cli.CapsaCommand;
import dev.capsa.cli.log.LogSink;
import dev.capsa.os.Caller;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * The capsa server (docs/server.md): a warm JVM that runs the commands of capsa clients
 * (src/main/c/capsa-client.c), each on a thread of its own bound to its client: the client's
 * environment, working directory, stdio (borrowed with pidfd_getfd) and a {@link Client} that
 * starts helpers as the client's children. It exits after a quiet spell; the next client starts
 * a new one.
 */
public final class Server {
    private static final long DEFAULT_IDLE_SECONDS = 30;

    private final Path socket;
    private final long idleMillis;
    private final AtomicInteger active = new AtomicInteger();
    private volatile long lastActivity = System.nanoTime();

    private Server(Path socket, long idleMillis) {
        this.socket = socket;
        this.idleMillis = idleMillis;
    }

    private static volatile boolean running;

    /** Whether this JVM is the capsa server. */
    public static boolean running() {
        return running;
    }

    /** {@code capsa __serve SOCKET}, as the client starts it; returns when the server has been idle. */
    public static int serve(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: capsa __serve SOCKET (the capsa client starts this)");
            return 2;
        }
        long idle = DEFAULT_IDLE_SECONDS;
        String configured = System.getenv("CAPSA_SERVER_IDLE");
        if (configured != null) {
            try {
                idle = Math.max(1, Long.parseLong(configured.trim()));
            } catch (NumberFormatException e) {
                System.err.println("capsa server: CAPSA_SERVER_IDLE=" + configured + " is not a number of seconds");
            }
        }
        Routes.install();
        LogSink.serverMode();
        running = true;
        try {
            new Server(Path.of(args[1]), idle * 1000).run();
            return 0;
        } catch (IOException e) {
            System.err.println("capsa server: " + e.getMessage());
            return 1;
        }
    }

    private void run() throws IOException {
        Path temp = socket.resolveSibling(socket.getFileName() + "." + ProcessHandle.current().pid() + ".new");
        Files.deleteIfExists(temp);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
             Selector selector = Selector.open()) {
            server.bind(UnixDomainSocketAddress.of(temp));
            Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-------"));
            // the name appears complete, listening: a client never connects to a half-made socket
            Files.move(temp, socket, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Object key = Files.readAttributes(socket, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
            System.err.println("capsa server " + ProcessHandle.current().pid() + ": listening on " + socket);
            sweepDeadServers(socket);
            // ended by a signal (SIGTERM, SIGINT): nothing of it is left in the server directory either
            Thread cleanup = new Thread(() -> removeOwnFiles(key), "capsa-server-exit");
            Runtime.getRuntime().addShutdownHook(cleanup);
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
            while (true) {
                selector.select(1000);
                selector.selectedKeys().clear();
                acceptAll(server);
                if (active.get() == 0 && System.nanoTime() - lastActivity > idleMillis * 1_000_000) {
                    break;
                }
            }
            // stop taking clients first: one that comes now starts a new server
            removeOwnFiles(key);
            // one that connected between the last look and the unlink is in the backlog: serve it
            // rather than close it unanswered, and leave when every command is done
            do {
                acceptAll(server);
                Thread.sleep(5);
            } while (active.get() > 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            Files.deleteIfExists(temp);
        }
        System.err.println("capsa server " + ProcessHandle.current().pid() + ": idle, exiting");
    }

    /**
     * Removes what dead servers of other keys left (a server killed with SIGKILL, or one of a
     * distribution that is gone: no client of its key comes again to replace it): the socket, log
     * and lock of every key whose lock nobody holds and whose socket nobody answers. Once per
     * server start; a key in use is never touched.
     */
    static void sweepDeadServers(Path own) {
        try {
            sweep(own);
        } catch (RuntimeException e) {
            // never a reason for this server not to serve
            System.err.println("capsa server: looking for dead servers' files: " + e);
        }
    }

    private static void sweep(Path own) {
        Path dir = own.getParent();
        String ownName = own.getFileName().toString();
        try (var locks = Files.newDirectoryStream(dir, "*.lock")) {
            for (Path lock : locks) {
                String base = lock.getFileName().toString();
                base = base.substring(0, base.length() - ".lock".length());
                Path sock = dir.resolve(base + ".sock");
                if (sock.getFileName().toString().equals(ownName)) {
                    continue;
                }
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lock,
                        java.nio.file.StandardOpenOption.WRITE);
                     java.nio.channels.FileLock held = ch.tryLock()) {
                    if (held == null || alive(dir.resolve(base + ".log"), sock)) {
                        continue; // a client is starting its server, or the server is alive
                    }
                    Files.deleteIfExists(sock);
                    Files.deleteIfExists(dir.resolve(base + ".log"));
                    Files.deleteIfExists(lock);
                } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
                    // gone meanwhile, or not ours to judge: leave it
                }
            }
        } catch (IOException e) {
            System.err.println("capsa server: cannot look for dead servers' files in " + dir + ": " + e.getMessage());
        }
    }

    /**
     * Whether the server that last logged "listening on SOCK" in its log still runs: its pid is
     * alive and serves that socket (its command line names it). A log without that line is a
     * server still starting: alive.
     */
    static boolean alive(Path log, Path sock) {
        String pid = null;
        try {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                if (line.startsWith("capsa server ") && line.endsWith(": listening on " + sock)) {
                    pid = line.substring("capsa server ".length(), line.indexOf(':'));
                }
            }
        } catch (IOException e) {
            return !Files.exists(sock); // no log: a socket alone is a dead server's
        }
        if (pid == null) {
            return true;
        }
        try {
            String cmdline = new String(Files.readAllBytes(Path.of("/proc", pid, "cmdline")), StandardCharsets.UTF_8);
            return cmdline.contains("__serve\0" + sock);
        } catch (IOException e) {
            return false;
        }
    }

    private void acceptAll(ServerSocketChannel server) throws IOException {
        SocketChannel ch;
        while ((ch = server.accept()) != null) {
            ch.configureBlocking(true);
            SocketChannel conn = ch;
            active.incrementAndGet();
            lastActivity = System.nanoTime();
            Thread.ofPlatform().name("capsa-request").start(() -> handle(conn));
        }
    }

    /**
     * The socket, if it is still this server's (a newer server may have replaced it), and the
     * server's log and lock files beside it. A client that holds the lock right now keeps its
     * (unlinked) file and starts a server; at worst two start, and the one whose socket was
     * replaced idles out.
     */
    private void removeOwnFiles(Object key) {
        String name = socket.getFileName().toString();
        String base = name.endsWith(".sock") ? name.substring(0, name.length() - ".sock".length()) : name;
        try {
            Object now = Files.readAttributes(socket, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
            if (key != null && key.equals(now)) {
                Files.deleteIfExists(socket);
                Files.deleteIfExists(socket.resolveSibling(base + ".log"));
                Files.deleteIfExists(socket.resolveSibling(base + ".lock"));
            }
        } catch (IOException e) {
            // replaced or removed: not ours to remove
        }
    }

    private void handle(SocketChannel conn) {
        int[] stdio = null;
        try (Client client = new Client(conn)) {
            UnixDomainPrincipal peer = conn.getOption(ExtendedSocketOptions.SO_PEERCRED);
            Client.Request request = client.readRequest();
            client.send('A', ""); // taken: from here on, an end of this server is the command's failure
            if (!peer.user().getName().equals("root")) {
                client.send('D', ""); // only root's commands run here; others run in a JVM of their own
                return;
            }
            try {
                stdio = Fds.take(request.pid(), 0, 1, 2);
            } catch (IOException | RuntimeException | LinkageError e) {
                System.err.println("capsa server: " + e.getMessage() + "; the client runs the command itself");
                client.send('D', "");
                return;
            }
            client.listen();
            int code = run(client, request, stdio);
            if (client.ownProcessRequested()) {
                client.send('D', "");
            } else {
                client.send('X', Integer.toString(code));
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("capsa server: a request failed: " + e);
        } finally {
            if (stdio != null) {
                for (int fd : stdio) {
                    Fds.close(fd);
                }
            }
            lastActivity = System.nanoTime();
            active.decrementAndGet();
        }
    }

    private static int run(Client client, Client.Request request, int[] stdio) {
        InputStream in = Fds.input(stdio[0]);
        PrintStream out = new PrintStream(new BufferedOutputStream(Fds.output(stdio[1]), 8192), true,
                StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new BufferedOutputStream(Fds.output(stdio[2]), 8192), true,
                StandardCharsets.UTF_8);
        Caller.bind(new Caller(request.env(), request.cwd(), request.pid(), client));
        Routes.bind(in, out, err);
        try {
            return CapsaCommand.execute(request.args(), out, err);
        } catch (RuntimeException | LinkageError e) {
            err.println("capsa: internal error: " + e);
            return 1;
        } finally {
            out.flush();
            err.flush();
            LogSink.release();
            Routes.unbind();
            Caller.bind(null);
        }
    }
}
