/*
 * capsa: the command engines and people run (bin/capsa of the distribution).
 *
 * A JVM takes about 200 ms to start, and an engine runs several runtime commands per container,
 * so this small static program hands each command to a warm capsa JVM, the capsa server, and
 * does for it what must happen in the caller's own process tree (docs/server.md):
 *
 *   - it connects to the server's socket, /run/capsa-server/<build id>.<mnt>.<pid>.<net>.<user>.sock
 *     (the build id is lib/build-id of the distribution, so a rebuilt distribution gets a new
 *     server; the rest are the inodes of this process's namespaces, which the server shares), starting
 *     the server first when there is none (lib/capsa-jvm __serve SOCKET, detached, one at a time
 *     under an flock), and sends the command: its argv, environment, working directory and pid;
 *   - the server takes this process's stdin, stdout and stderr with pidfd_getfd, runs the
 *     command, and asks back for what only the caller can do:
 *       A         the request was taken (first, always): a server that ends before it never ran
 *                 the command, and another is asked, up to three times
 *       S argv    start a helper (capsa-init) as our child, with our stdio and no environment,
 *                 so that a detached container is reparented to the engine's subreaper (conmon,
 *                 containerd-shim) as under runc; answered P pid, or p errno
 *       W pid     wait for that child; answered E "pid status" (128+n for signal n)
 *       F 1|0     forward the signals that would end us (INT, TERM, HUP, QUIT, USR1, USR2) to
 *                 the server as G signum, or stop doing so
 *       X code    the command is done: exit with code
 *       D         run the command in a JVM of its own instead (lib/capsa-jvm)
 *
 * Without root, with CAPSA_SERVER=0, or with CAPSA_JAVA_OPTS or CAPSA_JAVA_HOME set (they are
 * about a JVM of this command's own), it execs lib/capsa-jvm with the same arguments.
 *
 * Frames, both ways: a type byte, a 4-byte little-endian length, then the payload. The request
 * (type R) is a list of fields, each a 4-byte length and its bytes: "1", pid, cwd, argc, the
 * args, then the environment entries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SERVER_DIR "/run/capsa-server" /* beside the default state root /run/capsa, not in it */
#define START_TIMEOUT_MS 30000
#define MAX_CHILDREN 16

static char dist[PATH_MAX];
static char **args;
static int sig_pipe[2] = {-1, -1};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("capsa: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The command in a JVM of its own: lib/capsa-jvm, the launcher script. */
static void direct(void) __attribute__((noreturn));

static void direct(void) {
    char jvm[PATH_MAX + 32];
    snprintf(jvm, sizeof jvm, "%s/lib/capsa-jvm", dist);
    args[0] = jvm;
    execv(jvm, args);
    die("cannot run %s: %s", jvm, strerror(errno));
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- frames */

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static void put32(char *p, uint32_t v) {
    p[0] = (char)(v & 0xff);
    p[1] = (char)((v >> 8) & 0xff);
    p[2] = (char)((v >> 16) & 0xff);
    p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int send_frame(int fd, char type, const char *payload, size_t len) {
    char head[5];
    head[0] = type;
    put32(head + 1, (uint32_t)len);
    return write_all(fd, head, 5) < 0 || write_all(fd, payload, len) < 0 ? -1 : 0;
}

/* A growing buffer for the request. */
struct buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n) {
    if (b->len + n + 4 > b->cap) {
        b->cap = (b->len + n + 4) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) {
            die("out of memory");
        }
    }
    put32(b->data + b->len, (uint32_t)n);
    memcpy(b->data + b->len + 4, s, n);
    b->len += n + 4;
}

static void buf_str(struct buf *b, const char *s) {
    buf_add(b, s, strlen(s));
}

/* ---- the server */

static void sleep_ms(long ms) {
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&pause, NULL);
}

static int try_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* Starts the server, detached from us (its own session, stdio on its log file), and not our child. */
static void start_server(const char *sock, const char *log) {
    pid_t pid = fork();
    if (pid < 0) {
        die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setsid();
        if (fork() != 0) {
            _exit(0);
        }
        /* a server outlives the directory it was started in: each command brings its own */
        if (chdir("/") < 0) {
            _exit(1);
        }
        int null = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (null < 0 || out < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
            _exit(1);
        }
        syscall(SYS_close_range, 3, ~0U, 0);
        char jvm[PATH_MAX + 32];
        snprintf(jvm, sizeof jvm, "%s/lib/capsa-jvm", dist);
        char *argv[] = {jvm, "__serve", (char *)sock, NULL};
        execv(jvm, argv);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
}

/* Connects, starting the server when none answers; -1 when it cannot be had. */
static int server(void) {
    char id[128] = "";
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/lib/build-id", dist);
    FILE *f = fopen(path, "re");
    if (!f || !fgets(id, sizeof id, f)) {
        if (f) {
            fclose(f);
        }
        return -1; /* a distribution without a build id: no server */
    }
    fclose(f);
    id[strcspn(id, "\r\n")] = 0;
    if (!*id || strchr(id, '/')) {
        return -1;
    }
    /* a server lives in the namespaces of the client that started it, and resolves paths, pids
       and hooks there: clients in other mount, pid, network or user namespaces (an engine's
       daemon in a private mount namespace, say) get a server of their own */
    static const char *const NS[] = {"mnt", "pid", "net", "user"};
    char key[160];
    size_t at = (size_t)snprintf(key, sizeof key, "%s", id);
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++) {
        char link[64], target[64];
        snprintf(link, sizeof link, "/proc/self/ns/%s", NS[i]);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) {
            return -1;
        }
        target[n] = 0;
        const char *ino = strchr(target, '[');
        at += (size_t)snprintf(key + at, sizeof key - at, ".%.*s", ino ? (int)strcspn(ino + 1, "]") : 0,
                               ino ? ino + 1 : "");
        if (at >= sizeof key) {
            return -1;
        }
    }
    char sock[108], lock[PATH_MAX], log[PATH_MAX];
    if (snprintf(sock, sizeof sock, SERVER_DIR "/%s.sock", key) >= (int)sizeof sock) {
        return -1;
    }
    int fd = try_connect(sock);
    if (fd >= 0) {
        return fd;
    }
    if (mkdir(SERVER_DIR, 0700) < 0 && errno != EEXIST) {
        return -1;
    }
    snprintf(lock, sizeof lock, SERVER_DIR "/%s.lock", key);
    snprintf(log, sizeof log, SERVER_DIR "/%s.log", key);
    int lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lk < 0 || flock(lk, LOCK_EX) < 0) {
        return -1;
    }
    /* under the lock: another client may have started it meanwhile */
    fd = try_connect(sock);
    if (fd < 0) {
        unlink(sock); /* a dead server's socket */
        start_server(sock, log);
        long long deadline = now_ms() + START_TIMEOUT_MS;
        while ((fd = try_connect(sock)) < 0 && now_ms() < deadline) {
            sleep_ms(5);
        }
    }
    close(lk);
    return fd;
}

/* ---- what the server asks of us */

static pid_t children[MAX_CHILDREN];
static int nchildren;

static void on_signal(int sig) {
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    (void)!write(sig_pipe[1], &b, 1);
    errno = saved;
}

static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

/*
 * The signals that would end us are caught from the start, as runc's signal handler is set up
 * before the container runs: one that comes before the server asks for forwarding (a foreground
 * run's container can be up before the server's F 1 reaches us) is kept and forwarded then; one
 * that comes to a command that never forwards ends us when the command is done, as it would
 * have ended a JVM of its own (it just lets the command finish first).
 */
static int forwarding;
static unsigned char pending[32];
static int npending;

static void catch_signals(int on) {
    struct sigaction sa = {0};
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) {
        sigaction(FORWARDED[i], &sa, NULL);
    }
}

static void relay(int conn, unsigned char sig) {
    if (forwarding) {
        char text[8];
        snprintf(text, sizeof text, "%d", sig);
        send_frame(conn, 'G', text, strlen(text));
    } else if (npending < (int)sizeof pending) {
        pending[npending++] = sig;
    }
}

static void forward_signals(int conn, int on) {
    forwarding = on;
    for (int i = 0; on && i < npending; i++) {
        relay(conn, pending[i]);
    }
    if (on) {
        npending = 0;
    }
}

/* A signal that was never forwarded ends us now, as it would have before. */
static void raise_pending(void) {
    if (npending > 0) {
        catch_signals(0);
        raise(pending[0]);
    }
}

static void spawn(int conn, char *payload, uint32_t len) {
    /* as many arguments as came (a guest's QEMU has well over a hundred), never a cut */
    size_t count = 0;
    for (uint32_t i = 0; i < len; i++) {
        count += payload[i] == 0;
    }
    char **argv = calloc(count + 2, sizeof *argv);
    int n = 0;
    for (uint32_t i = 0; argv && i < len;) {
        argv[n++] = payload + i;
        i += (uint32_t)strlen(payload + i) + 1;
    }
    char reply[32];
    if (!argv || n == 0 || nchildren == MAX_CHILDREN) {
        free(argv);
        snprintf(reply, sizeof reply, "%d", E2BIG);
        send_frame(conn, 'p', reply, strlen(reply));
        return;
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        snprintf(reply, sizeof reply, "%d", errno);
        send_frame(conn, 'p', reply, strlen(reply));
        free(argv);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* only stdio reaches the helper, as from the JVM: what the engine passes for
           --preserve-fds is taken from this process by capsa-init (pidfd_getfd), not inherited */
        if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) { /* before Linux 5.11 */
            for (int fd = 3; fd < 1024; fd++) {
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) {
            signal(FORWARDED[i], SIG_DFL); /* caught here, default for the helper */
        }
        char *envp[] = {NULL};
        execve(argv[0], argv, envp);
        int err = errno;
        (void)!write(report[1], &err, sizeof err);
        _exit(127);
    }
    close(report[1]);
    int err = pid < 0 ? errno : 0;
    if (pid > 0 && read_all(report[0], &err, sizeof err) == 0) {
        waitpid(pid, NULL, 0);
        pid = -1;
    } else if (pid > 0) {
        err = 0;
    }
    close(report[0]);
    free(argv);
    if (pid < 0) {
        snprintf(reply, sizeof reply, "%d", err);
        send_frame(conn, 'p', reply, strlen(reply));
        return;
    }
    children[nchildren++] = pid;
    snprintf(reply, sizeof reply, "%d", (int)pid);
    send_frame(conn, 'P', reply, strlen(reply));
}

/* Waits for child pid while relaying signals; then E "pid status". */
static void wait_child(int conn, pid_t pid) {
    int known = 0;
    for (int i = 0; i < nchildren; i++) {
        known |= children[i] == pid;
    }
    char reply[48];
    if (!known) {
        snprintf(reply, sizeof reply, "%d -1", (int)pid);
        send_frame(conn, 'E', reply, strlen(reply));
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            break;
        }
        struct pollfd fds[2] = {{.fd = sig_pipe[0], .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int n = poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 10);
        if (n > 0 && (fds[0].revents & POLLIN)) {
            unsigned char sig;
            if (read(sig_pipe[0], &sig, 1) == 1) {
                relay(conn, sig);
            }
        }
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    for (int i = 0; i < nchildren; i++) {
        if (children[i] == pid) {
            children[i] = children[--nchildren]; /* reaped: not ours to wait for again */
            break;
        }
    }
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    snprintf(reply, sizeof reply, "%d %d", (int)pid, code);
    send_frame(conn, 'E', reply, strlen(reply));
}

/*
 * Before exiting: the helpers that were not waited for (a detached capsa-init's first stage
 * exits right after the container's init is ready) are reaped here, as the JVM's reaper would,
 * so that no zombie lingers in the container's cgroup (a zombie counts in pids.current) until an
 * init that reaps late gets to it. A helper still running after a short while is left alone.
 */
static void reap_children(void) {
    for (int i = 0; i < nchildren; i++) {
        int pidfd = (int)syscall(SYS_pidfd_open, children[i], 0);
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            poll(&p, 1, 2000);
            close(pidfd);
        }
        waitpid(children[i], NULL, WNOHANG);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    args = argv;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        die("cannot read /proc/self/exe: %s", strerror(errno));
    }
    self[n] = 0;
    /* DIST/bin/capsa */
    char *slash = strrchr(self, '/');
    if (slash) {
        *slash = 0;
        slash = strrchr(self, '/');
    }
    if (!slash) {
        die("cannot tell the distribution's directory from %s", self);
    }
    *slash = 0;
    snprintf(dist, sizeof dist, "%s", *self ? self : "/");

    const char *mode = getenv("CAPSA_SERVER");
    if (geteuid() != 0 || (mode && !strcmp(mode, "0")) || getenv("CAPSA_JAVA_OPTS") || getenv("CAPSA_JAVA_HOME")) {
        direct();
    }
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        direct();
    }
    signal(SIGPIPE, SIG_IGN);
    catch_signals(1);

    struct buf req = {0};
    char num[32];
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        die("cannot read the working directory: %s", strerror(errno));
    }
    buf_str(&req, "1");
    snprintf(num, sizeof num, "%d", (int)getpid());
    buf_str(&req, num);
    buf_str(&req, cwd);
    int nargs = 0;
    while (argv[nargs + 1]) {
        nargs++;
    }
    snprintf(num, sizeof num, "%d", nargs);
    buf_str(&req, num);
    for (int i = 1; i <= nargs; i++) {
        buf_str(&req, argv[i]);
    }
    for (char **e = environ; *e; e++) {
        buf_str(&req, *e);
    }
    /* A server that ends before it says 'A' (it took the request) never ran the command: one that
     * was dying when we connected (its socket still open for a moment), say. Then a new one is
     * asked, up to three times, before the command runs in a JVM of its own. */
    int attempts = 0, accepted = 0;
    int conn = -1;
    for (;;) {
        if (conn < 0) {
            if (++attempts > 3 || (conn = server()) < 0) {
                raise_pending();
                catch_signals(0);
                direct();
            }
            if (send_frame(conn, 'R', req.data, req.len) < 0) {
                /* it closed before reading the request (EPIPE): it took nothing, ask again */
                close(conn);
                conn = -1;
                sleep_ms(50);
                continue;
            }
        }
        unsigned char head[5];
        struct pollfd fds[2] = {{.fd = conn, .events = POLLIN}, {.fd = sig_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("poll: %s", strerror(errno));
        }
        if (fds[1].revents & POLLIN) {
            unsigned char sig;
            if (read(sig_pipe[0], &sig, 1) == 1) {
                relay(conn, sig);
            }
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
        if (read_all(conn, head, 5) < 0) {
            if (!accepted) {
                close(conn);
                conn = -1;
                sleep_ms(50); /* let a dying server finish dying */
                continue;
            }
            die("the capsa server ended before the command finished (see " SERVER_DIR "/*.log)");
        }
        uint32_t len = get32(head + 1);
        char *payload = malloc((size_t)len + 1);
        if (!payload || (len && read_all(conn, payload, len) < 0)) {
            die("the capsa server ended before the command finished (see " SERVER_DIR "/*.log)");
        }
        payload[len] = 0;
        switch (head[0]) {
        case 'A':
            accepted = 1;
            free(req.data);
            req.data = NULL;
            break;
        case 'X':
            reap_children();
            raise_pending();
            exit(atoi(payload));
        case 'D':
            close(conn);
            raise_pending();
            catch_signals(0); /* the JVM handles its own */
            direct();
        case 'S':
            spawn(conn, payload, len);
            break;
        case 'W':
            wait_child(conn, (pid_t)atoi(payload));
            break;
        case 'F':
            forward_signals(conn, payload[0] == '1');
            break;
        default:
            die("the capsa server sent an unknown request '%c'", head[0]);
        }
        free(payload);
    }
}
