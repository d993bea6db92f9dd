/*
 * capsa-relay: the host process that stands for a process exec'd in a vm backend guest
 * (docs/vm.md "exec"). `capsa exec --detach` (and every exec with a terminal) starts it and
 * leaves it behind: it holds one exec slot, relays between the slot and the stdio it inherited
 * from capsa exec (conmon's pipes, under podman) or a pty it made, and exits with the exec'd
 * process's exit code (128+n for signal n). Its pid goes into --pid-file, so an engine that waits
 * for that pid as its child (conmon is a subreaper) gets the exit code. It is C and not a JVM: one
 * runs per exec'd process, and it needs a few hundred KiB where a JVM needs tens of MiB.
 *
 *   capsa-relay HANDSHAKE STATE_DIR SLOTS [CONSOLE_SOCKET ROWS COLS]
 *
 * 1. It connects to HANDSHAKE, a unix socket capsa exec listens on, and forks: the parent exits at
 *    once, the child goes on. capsa exec is a JVM, which reaps its children itself, so the exit
 *    code of a relay that ended before the JVM would be lost; the child is adopted by the nearest
 *    subreaper instead (conmon, which keeps the status of a child that ends before it knows its
 *    pid) or by init.
 * 2. It takes the first free slot N < SLOTS: a write lock (fcntl, whole file, the same kind Java's
 *    FileChannel.tryLock takes) on STATE_DIR/execN.lock, held for its whole life; then it connects
 *    to STATE_DIR/execN.sock, the socket QEMU listens on for the port capsa.execN.
 * 3. With CONSOLE_SOCKET: it opens a pty pair, sets its size (ROWS COLS, 0 0 for none), puts the
 *    slave into raw mode (the guest's pty does the terminal's work; a cooked host side would echo
 *    twice), and sends the master over CONSOLE_SOCKET with SCM_RIGHTS as runc does (the message
 *    is "/dev/ptmx"). The slave becomes its controlling terminal, so a resize of the master
 *    reaches it as SIGWINCH.
 * 4. It says "slot N PID" (PID: its own) on the handshake ("busy" when every slot is taken, "error TEXT" else) and
 *    waits for "go": capsa exec has had the agent start the process in slot N. Anything else, or
 *    EOF, and it exits with 1 (the process did not start; capsa exec reports why).
 * 5. It says hello on the slot and relays frames (ExecSession.java and capsa-agent.c describe
 *    them): stdin (or what the pty's master side types) as 'i', its end as 'c'; 'o' and 'e' to
 *    stdout and stderr (or into the pty); the 'x' frame ends it with that code.
 *
 * Signals: SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the relay are passed to
 * the exec'd process ('k' frames); its exit code then tells what the process did with them.
 * SIGKILL cannot be caught: the relay dies, the slot hangs up, and the agent kills the process.
 * With a terminal, SIGWINCH sends the slave's new size ('w' frame). If stdout or stderr goes
 * away (EPIPE), what would go there is dropped; the process runs on.
 *
 * Monitor mode (docs/vm.md "The container's pid"):
 *
 *   capsa-relay monitor [--stdio LOG STDIN] [--console CONSOLE_SOCKET ROWS COLS] QEMU_ARGV...
 *
 * The container's own host process: the vm backend records its pid as the container's, so an engine
 * that waits for that pid (conmon, as for runc's container process) gets the container's exit
 * status. It starts a session of its own, makes a pipe, and forks QEMU with the pipe's write end as
 * descriptor 3 (the command line has a virtio-serial port capsa.exit whose host end is the file
 * /proc/self/fd/3) and PR_SET_PDEATHSIG SIGKILL, so QEMU never outlives it. The guest agent
 * writes "exit CODE" or "signal N" there when the container's process has ended. Once QEMU has
 * exited the monitor exits with CODE, or kills itself with signal N (default disposition, no core
 * dump), as the container's process died. A guest that ends without a status (QEMU killed, a
 * crash, a power-off before the process ended) counts as killed: SIGKILL. Other signals sent to the
 * monitor have their default effect: it dies of them, and QEMU with it.
 * With --stdio (capsa starts the monitor as its caller's child, with the caller's stdio): the
 * monitor's and QEMU's stdout and stderr go to LOG (appended), and stdin becomes /dev/null unless
 * STDIN is 1 (a port of the guest reads the container's stdin, the caller's).
 * With --console (a terminal for the container's process, create --console-socket): before QEMU
 * starts it opens a pty pair, gives it the size, puts the slave into raw mode and sends the master
 * over CONSOLE_SOCKET as exec's relay does; QEMU gets the slave as descriptor 4, and the guest's
 * capsa.stdout and capsa.stdin ports end there (the guest's own pty does the terminal's work).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define FRAME_DATA 16384
#define HEADER 5

static int handshake = -1;

static void say(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > sizeof line - 2) {
        n = (int)sizeof line - 2;
    }
    line[n++] = '\n';
    if (handshake < 0) {
        /* monitor mode: no handshake; the message goes to QEMU's log */
        fprintf(stderr, "capsa-relay: %.*s", n, line);
        return;
    }
    if (send(handshake, line, (size_t)n, MSG_NOSIGNAL) < 0) {
        /* capsa exec is gone: nobody to tell */
    }
}

static int connect_unix(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* every byte, waiting out EAGAIN on a non-blocking descriptor; -1 with errno on a real error */
static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, -1);
        } else {
            return -1;
        }
    }
    return 0;
}

/* frames for the slot, written as the slot takes them */
static unsigned char sbuf[2 * (FRAME_DATA + HEADER)];
static size_t slen, soff;

static void queue(char type, const void *data, size_t len) {
    if (slen + HEADER + len > sizeof sbuf) {
        return; /* only control frames come while stdin's frame waits; they are tiny */
    }
    unsigned char *f = sbuf + slen;
    f[0] = (unsigned char)type;
    f[1] = (unsigned char)(len >> 24);
    f[2] = (unsigned char)(len >> 16);
    f[3] = (unsigned char)(len >> 8);
    f[4] = (unsigned char)len;
    memcpy(f + HEADER, data, len);
    slen += HEADER + len;
}

static int take_slot(const char *dir, int slots, int *lock_fd) {
    for (int i = 0; i < slots; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/exec%d.lock", dir, i);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            say("error cannot open %s: %s", path, strerror(errno));
            return -2;
        }
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_SETLK, &fl) == 0) {
            *lock_fd = fd;
            return i;
        }
        close(fd);
    }
    return -1;
}

/* a pty pair: the master goes over the console socket, the slave stays here; -1 on failure */
static int console(const char *socket_path, unsigned short rows, unsigned short cols) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        say("error cannot open a pty: %s", strerror(errno));
        return -1;
    }
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        say("error cannot open the pty's slave: %s", strerror(errno));
        return -1;
    }
    if (rows || cols) {
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    struct termios t;
    if (tcgetattr(slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(slave, TCSANOW, &t);
    }
    if (setsid() >= 0) {
        ioctl(slave, TIOCSCTTY, 0); /* SIGWINCH when the master's owner resizes it */
    }
    int s = connect_unix(socket_path);
    if (s < 0) {
        say("error cannot connect to the console socket %s: %s", socket_path, strerror(errno));
        return -1;
    }
    const char name[] = "/dev/ptmx";
    struct iovec iov = {.iov_base = (void *)name, .iov_len = sizeof name - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    ssize_t sent;
    do {
        sent = sendmsg(s, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        say("error cannot send the pty master to %s: %s", socket_path, strerror(errno));
        return -1;
    }
    close(s);
    close(master);
    return slave;
}

static int number(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

/* dies of sig as the container's process did; exits 128+sig when the signal does not kill by default */
static void die_of(int sig) {
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* the guest's process may have dumped core; the monitor has none to give */
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}

/* --stdio LOG STDIN: stdout and stderr to LOG, stdin kept (STDIN 1) or /dev/null */
static int monitor_stdio(const char *log, int keep_stdin) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "capsa-relay monitor: %s: %s\n", log, strerror(errno));
        return -1;
    }
    if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        return -1;
    }
    close(fd);
    if (!keep_stdin) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0) {
            return -1;
        }
        close(null);
    }
    return 0;
}

static int monitor(char **qemu_argv, const char *tty_socket, long rows, long cols) {
    int status[2];
    if (pipe2(status, O_CLOEXEC) < 0) {
        fprintf(stderr, "capsa-relay monitor: pipe: %s\n", strerror(errno));
        return 1;
    }
    setsid(); /* fails only for a group leader, which the JVM's child is not */
    int tty = -1;
    /* after setsid: the pty does not become the monitor's controlling terminal (no SIGHUP when the
     * console's owner closes the master) */
    if (tty_socket && (tty = console(tty_socket, (unsigned short)rows, (unsigned short)cols)) < 0) {
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    pid_t self = getpid();
    pid_t qemu = fork();
    if (qemu < 0) {
        fprintf(stderr, "capsa-relay monitor: fork: %s\n", strerror(errno));
        return 1;
    }
    if (qemu == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != self) {
            _exit(1); /* the monitor died before the line above */
        }
        if (status[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(status[1], 3) < 0) {
            _exit(1);
        }
        if (tty >= 0 && (tty == 4 ? fcntl(4, F_SETFD, 0) < 0 : dup2(tty, 4) < 0)) {
            _exit(1);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(qemu_argv[0], qemu_argv);
        fprintf(stderr, "capsa-relay monitor: cannot run %s: %s\n", qemu_argv[0], strerror(errno));
        _exit(127);
    }
    close(status[1]);
    if (tty >= 0) {
        close(tty);
    }
    fcntl(status[0], F_SETFL, O_NONBLOCK);
    char buf[256];
    size_t len = 0;
    int reaped = 0, eof = 0, qemu_status = 0;
    while (!reaped || !eof) {
        struct pollfd p[2] = {{eof ? -1 : status[0], POLLIN, 0}, {reaped ? -1 : sfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            fprintf(stderr, "capsa-relay monitor: poll: %s\n", strerror(errno));
            break;
        }
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0) {
            }
            if (waitpid(qemu, &qemu_status, WNOHANG) == qemu) {
                reaped = 1;
            }
        }
        if (!eof) {
            ssize_t n;
            while ((n = read(status[0], buf + len, sizeof buf - 1 - len)) > 0) {
                len += (size_t)n;
                if (len == sizeof buf - 1) { /* keep the tail: the last line is what counts */
                    memmove(buf, buf + len / 2, len - len / 2);
                    len -= len / 2;
                }
            }
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                eof = 1;
            }
        }
    }
    buf[len] = 0;
    /* the last complete line */
    char *end = len > 0 && buf[len - 1] == '\n' ? buf + len - 1 : NULL;
    if (end) {
        *end = 0;
        char *line = strrchr(buf, '\n');
        line = line ? line + 1 : buf;
        long v;
        if (strncmp(line, "exit ", 5) == 0 && number(line + 5, 0, 255, &v) == 0) {
            _exit((int)v);
        }
        if (strncmp(line, "signal ", 7) == 0 && number(line + 7, 1, 64, &v) == 0) {
            die_of((int)v);
        }
        fprintf(stderr, "capsa-relay monitor: the guest said \"%s\"\n", line);
    }
    if (WIFSIGNALED(qemu_status) && WTERMSIG(qemu_status) != SIGKILL) {
        fprintf(stderr, "capsa-relay monitor: QEMU died of signal %d\n", WTERMSIG(qemu_status));
    } else if (WIFEXITED(qemu_status) && WEXITSTATUS(qemu_status) != 0) {
        fprintf(stderr, "capsa-relay monitor: QEMU exited with %d\n", WEXITSTATUS(qemu_status));
    }
    die_of(SIGKILL); /* no status: the container was killed with its guest */
    return 1;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "monitor") == 0) {
        long rows = 0, cols = 0, keep_stdin = 0;
        const char *console_socket = NULL;
        int i = 2;
        if (i + 3 < argc && strcmp(argv[i], "--stdio") == 0) {
            if (number(argv[i + 2], 0, 1, &keep_stdin) < 0 || monitor_stdio(argv[i + 1], (int)keep_stdin) < 0) {
                return 1;
            }
            i += 3;
        }
        if (i < argc && strcmp(argv[i], "--console") == 0) {
            if (i + 4 >= argc || number(argv[i + 2], 0, 65535, &rows) < 0 || number(argv[i + 3], 0, 65535, &cols) < 0) {
                fprintf(stderr, "usage: capsa-relay monitor [--stdio LOG STDIN] [--console CONSOLE_SOCKET ROWS COLS] "
                                "QEMU_ARGV...\n");
                return 2;
            }
            console_socket = argv[i + 1];
            i += 4;
        }
        if (i >= argc) {
            fprintf(stderr, "usage: capsa-relay monitor [--stdio LOG STDIN] [--console CONSOLE_SOCKET ROWS COLS] "
                            "QEMU_ARGV...\n");
            return 2;
        }
        return monitor(argv + i, console_socket, rows, cols);
    }
    long slots, rows = 0, cols = 0;
    if ((argc != 4 && argc != 7) || number(argv[3], 1, 64, &slots) < 0
        || (argc == 7 && (number(argv[5], 0, 65535, &rows) < 0 || number(argv[6], 0, 65535, &cols) < 0))) {
        fprintf(stderr, "usage: capsa-relay HANDSHAKE STATE_DIR SLOTS [CONSOLE_SOCKET ROWS COLS]\n"
                        "       capsa-relay monitor [--stdio LOG STDIN] [--console CONSOLE_SOCKET ROWS COLS] QEMU_ARGV...\n"
                        "(started by capsa exec for the vm backend; see docs/vm.md)\n");
        return 2;
    }
    const char *tty_socket = argc == 7 ? argv[4] : NULL;
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        sigaddset(&mask, forwarded[i]);
    }
    sigaddset(&mask, SIGWINCH);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    handshake = connect_unix(argv[1]);
    if (handshake < 0) {
        fprintf(stderr, "capsa-relay: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        say("error cannot fork: %s", strerror(errno));
        return 1;
    }
    if (child > 0) {
        _exit(0);
    }
    int lock_fd = -1; /* fcntl locks are not inherited: taken after the fork */
    int slot = take_slot(argv[2], (int)slots, &lock_fd);
    if (slot == -1) {
        say("busy");
        return 1;
    }
    if (slot < 0) {
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/exec%d.sock", argv[2], slot);
    int port = connect_unix(path);
    if (port < 0) {
        say("error cannot connect to exec slot %d at %s: %s", slot, path, strerror(errno));
        return 1;
    }
    int tty = -1;
    if (tty_socket && (tty = console(tty_socket, (unsigned short)rows, (unsigned short)cols)) < 0) {
        return 1;
    }
    say("slot %d %d", slot, (int)getpid());
    char go[8];
    ssize_t n = recv(handshake, go, sizeof go, 0);
    if (n < 3 || memcmp(go, "go\n", 3) != 0) {
        return 1; /* the process did not start */
    }
    close(handshake);
    handshake = -1;

    int in = tty >= 0 ? tty : 0, out = tty >= 0 ? tty : 1, err = tty >= 0 ? tty : 2;
    int in_open = 1, out_ok = 1, err_ok = 1;
    fcntl(port, F_SETFL, O_NONBLOCK);
    queue('h', "", 0);
    static unsigned char rbuf[2 * (FRAME_DATA + HEADER)];
    size_t rlen = 0;
    for (;;) {
        struct pollfd p[3] = {{port, POLLIN | (slen > soff ? POLLOUT : 0), 0},
                              {in_open && slen == soff ? in : -1, POLLIN, 0},
                              {sfd, POLLIN, 0}};
        if (poll(p, 3, -1) < 0 && errno != EINTR) {
            fprintf(stderr, "capsa-relay: poll: %s\n", strerror(errno));
            return 255;
        }
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                char word[32];
                int len;
                if (si.ssi_signo == SIGWINCH) {
                    struct winsize ws;
                    if (tty >= 0 && ioctl(tty, TIOCGWINSZ, &ws) == 0) {
                        len = snprintf(word, sizeof word, "%u %u", ws.ws_row, ws.ws_col);
                        queue('w', word, (size_t)len);
                    }
                } else {
                    len = snprintf(word, sizeof word, "%u", si.ssi_signo);
                    queue('k', word, (size_t)len);
                }
            }
        }
        if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            unsigned char data[FRAME_DATA];
            ssize_t r = read(in, data, sizeof data);
            if (r > 0) {
                queue('i', data, (size_t)r);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                in_open = 0; /* EOF, or EIO: the pty's master side closed */
                if (tty < 0) {
                    queue('c', "", 0);
                }
            }
        }
        while (slen > soff) {
            ssize_t w = write(port, sbuf + soff, slen - soff);
            if (w > 0) {
                soff += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "capsa-relay: exec slot %d: %s\n", slot, strerror(errno));
                return 255;
            } else {
                break;
            }
        }
        if (slen == soff) {
            slen = soff = 0;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(port, rbuf + rlen, sizeof rbuf - rlen);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "capsa-relay: the guest went away before the exec'd process's exit status came\n");
                return 255;
            }
            if (r > 0) {
                rlen += (size_t)r;
            }
            size_t off = 0;
            while (rlen - off >= HEADER) {
                unsigned char *f = rbuf + off;
                size_t len = (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
                if (len > FRAME_DATA) {
                    fprintf(stderr, "capsa-relay: exec slot %d sent a frame of %zu bytes\n", slot, len);
                    return 255;
                }
                if (rlen - off < HEADER + len) {
                    break;
                }
                if (f[0] == 'o' && out_ok && write_all(out, f + HEADER, len) < 0) {
                    out_ok = 0;
                } else if (f[0] == 'e' && err_ok && write_all(err, f + HEADER, len) < 0) {
                    err_ok = 0;
                } else if (f[0] == 'x') {
                    char code[16];
                    long c;
                    size_t k = len < sizeof code - 1 ? len : sizeof code - 1;
                    memcpy(code, f + HEADER, k);
                    code[k] = 0;
                    if (tty >= 0) {
                        tcdrain(tty);
                    }
                    return number(code, 0, 255, &c) == 0 ? (int)c : 255;
                }
                off += HEADER + len;
            }
            memmove(rbuf, rbuf + off, rlen - off);
            rlen -= off;
        }
    }
}
