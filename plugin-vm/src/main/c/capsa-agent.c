/*
 * capsa-init's agent mode: /init of the vm backend's guest (design.md "The vm backend"). It sets
 * up the container's process inside the guest and relays its stdio; Java on the host decides what
 * the process is and sends it as orders. It makes no policy decisions of its own: every path, flag
 * and number comes from the host. It is linked into the one capsa-init binary with the ns
 * backend's init (plugin-namespace/src/main/c/capsa-main.c chooses the mode): the same static
 * binary runs containers on the host and is the guest's /init. Its orders still differ from the
 * ns launch plan; the two share the binary, not yet one plan format.
 *
 * Boot: mount /dev (devtmpfs), /proc and /sys; load the kernel modules listed in
 * /etc/capsa/modules (one path per line, dependencies first, as scripts/build-guest.sh wrote
 * them) with finit_module; find the virtio-serial ports by name (/sys/class/virtio-ports/X/name,
 * device /dev/X); mount the 9p share with mount_tag "rootfs" on /mnt/rootfs.
 *
 * Ports: capsa.ctl (orders and replies), capsa.stdout, capsa.stderr, capsa.stdin (optional),
 * capsa.exit (optional, see the end of this comment), capsa.exec0 to capsa.exec3.
 * The host's end of capsa.ctl is a listening socket of QEMU, so every capsa command connects
 * anew: the agent must live with the host going away and coming back (reads return 0 and poll
 * says POLLHUP while nobody is connected), and never blocks on writing a reply.
 *
 * Protocol on capsa.ctl, one line per message, words separated by one space. A word escapes
 * every byte <= 0x20, >= 0x7f and '%' as %XX; the word "%" alone is the empty string.
 *   host -> agent                       agent -> host
 *   hello VERSION                       hello VERSION STATE [CODE OUT ERR]
 *                                         STATE: booted created running exited
 *   Orders (state booted, no reply; an error is reported by "create"):
 *   hostname NAME
 *   mount SOURCE DEST FSTYPE FLAGS DATA [copyup] (DEST inside the rootfs; made if missing;
 *                                       copyup: tmpfs gets what the image had under DEST)
 *   mknod DEST MODE MAJOR MINOR         (MODE with S_IF* bits; octal or decimal)
 *   symlink TARGET DEST
 *   mkdir DEST
 *   arg S, env S (repeated), cwd PATH, user UID GID UMASK(-1: keep), groups GID...
 *   rlimit RESOURCE SOFT HARD           (repeated; setrlimit numbers, unsigned decimal)
 *   nonewprivs 1                        PR_SET_NO_NEW_PRIVS for the process
 *   terminal ROWS COLS                  a pty of that size from the container's /dev/ptmx: an exec'd
 *                                       process's, see "exec" below; the container's, relayed over
 *                                       capsa.stdout (its output) and capsa.stdin (what is typed)
 *   caps BOUNDING EFFECTIVE PERMITTED INHERITABLE AMBIENT
 *                                       capability masks (bit n = capability n); without this
 *                                       order the process keeps the capabilities of its uid.
 *                                       Bits past this kernel's cap_last_cap are left out.
 *   stdin 0|1                           1: relay capsa.stdin to the process's stdin
 *   exitpoweroff 0|1                    1: power off once the process ended and its output is out
 *   seccomp FLAGS HEX                   a seccomp filter for the container's process and every exec'd
 *                                       one: HEX is the struct sock_filter array (8 bytes an
 *                                       instruction, x86_64 byte order) that Java compiled with
 *                                       libseccomp, FLAGS the SECCOMP_FILTER_FLAG_* bits. Loaded in
 *                                       capsa-init's (runc's) order: without no_new_privs right after
 *                                       the rlimits, before the capabilities are dropped (loading needs
 *                                       CAP_SYS_ADMIN then); with it after the umask, the last step
 *                                       before the start gate (exec'd processes: before execve).
 *   create                              ready PID | error STEP ERRNO DETAIL
 *   start                               ok | error STEP ERRNO DETAIL
 *   signal N                            ok | error kill ERRNO DETAIL
 *   wait                                exit CODE OUT ERR (when the process has ended)
 *   poweroff                            ok, then the guest powers off
 *   newexec, process orders, exec SLOT  ok PID | error STEP ERRNO DETAIL  (see "exec" below)
 *   signal N PID                        ok | error kill ERRNO DETAIL      (an exec'd process)
 * CODE is the exit status, 128+n for signal n. OUT and ERR are the bytes written to capsa.stdout
 * and capsa.stderr: the host acks with "poweroff" only after it has read that many, because
 * output still queued in a virtqueue is lost when the guest powers off.
 *
 * capsa.exit (optional): once the container's process has ended and its output is out, the agent
 * writes one line there, "exit CODE" or "signal N" (the process was killed by signal N). Its host
 * end is a pipe to capsa-relay's monitor mode, QEMU's parent, which exits with that status once
 * QEMU has gone (docs/vm.md "The container's pid"): nothing but the status travels there, so it
 * never competes with capsa.ctl's one connection.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL 1
#define ROOT "/mnt/rootfs"
#define SHARES "/mnt/shares"
/* cache=mmap: read and write go to the host at once, as with cache=none, and mapped pages are
 * cached (a binary's page faults read ahead instead of one 9p round trip per page), and written
 * back when the mapping closes; MAP_SHARED writable mappings work (cache=none refuses them) */
#define NINEP_OPTIONS "trans=virtio,version=9p2000.L,msize=262144,cache=mmap"
#define REST_GONE_MS 200
#define MAX_ITEMS 512
#define LINE_MAX_BYTES 131072 /* a seccomp order of 4096 instructions is 65 KiB of hex */

extern char **environ;

enum state { BOOTED, CREATED, RUNNING, EXITED };
static const char *state_names[] = {"booted", "created", "running", "exited"};

struct stream { /* one output of the process, relayed from a pipe to a port */
    int pipe_fd, port_fd;
    char buf[16384];
    size_t len, off;
    unsigned long long total;
};

#define EXEC_SLOTS 4
#define FRAME_DATA 16384

/* an exec'd process whose stdio travels, framed, over the port capsa.execN of its slot */
struct exec {
    int active;      /* started, and its exit frame not yet written */
    pid_t pid;       /* 0 once reaped */
    int exited, code;
    int port;
    int attached;    /* the host said hello on the port */
    int gone;        /* the host hung up after hello: the process was killed, its output is dropped */
    int out_pipe, err_pipe, in_pipe, in_eof;
    int tty;         /* out_pipe is the pty's master, in_pipe a dup of it; err_pipe is -1 */
    unsigned char obuf[FRAME_DATA + 5];
    size_t olen, ooff;
    int exit_sent;
    unsigned char ibuf[2 * (FRAME_DATA + 5)];
    size_t ilen;
    unsigned char pend[2 * FRAME_DATA]; /* stdin not yet taken by the process */
    size_t plen, poff;
};

struct proc { /* a process to start: the container's, or an exec'd one */
    char *args[MAX_ITEMS + 1], *env[MAX_ITEMS + 1], *cwd;
    int nargs, nenv;
    long uid, gid, umask_value;
    gid_t groups[MAX_ITEMS];
    int ngroups, has_groups;
    int nrlimits;
    int rlimit_resource[64];
    unsigned long long rlimit_soft[64], rlimit_hard[64];
    int nonewprivs, has_caps;
    int terminal;
    unsigned short rows, cols;
    unsigned long long cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
};

static struct {
    enum state state;
    struct proc main; /* the container's process */
    struct proc draft; /* the next exec'd process, from "newexec" on */
    struct proc *cur; /* what arg, env, ... describe */
    int stdin_relay, exit_poweroff;
    struct sock_filter *seccomp; /* NULL: no filter */
    unsigned short seccomp_len;  /* instructions */
    unsigned long seccomp_flags;
    int exit_port;               /* capsa.exit, or -1 */
    int term_signal;             /* the signal that killed the container's process, 0 if it exited */
    char error[512]; /* the first failed order, reported by "create" */
    char exec_error[512]; /* the first failed order since "newexec", reported by "exec" */
    struct exec execs[EXEC_SLOTS];
    int exec_ports[EXEC_SLOTS];
    char boot_error[512];
    pid_t child;
    int start_fd, exec_err_fd;
    int code;
    struct stream out, err;
    int stdin_port, stdin_pipe;
    int ctl;
    char inbuf[LINE_MAX_BYTES];
    size_t inlen;
    int wait_pending;
} g; /* zero, in .bss: its descriptors are set to -1 in agent_main (an initializer would put its
        half MiB in .data, in every guest's initramfs) */

/* Formats one line into buf, cut to fit, ending in '\n'; returns its length, or -1. */
static int format_line(char *buf, size_t size, const char *fmt, va_list ap) {
    int n = vsnprintf(buf, size - 1, fmt, ap);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n > size - 2) {
        n = (int)(size - 2);
    }
    buf[n++] = '\n';
    return n;
}

static void agent_log(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = format_line(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (write(2, "capsa-agent: ", 13) < 0 || write(2, line, n) < 0) {
        /* the console is all there is */
    }
}

static void power_off(void) {
    sync();
    reboot(RB_POWER_OFF);
    for (;;) {
        pause();
    }
}

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- replies on capsa.ctl: never block on a host that is not there */

static void reply(const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = format_line(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    /* The port's "host connected" news travels on virtio-serial's control queue, the host's
     * question on the port's own queue, so the question can come first: a port that looks
     * hung up right after a question is usually one whose news is late. Try for 2 s, then drop
     * the reply (nobody listens; the next connection asks again). */
    int off = 0;
    for (int tries = 0; off < n && tries < 200; tries++) {
        ssize_t w = write(g.ctl, line + off, n - off);
        if (w > 0) {
            off += w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return;
        }
        struct pollfd p = {g.ctl, POLLOUT, 0};
        if (poll(&p, 1, 10) > 0 && (p.revents & POLLHUP)) {
            nap_ms(10);
        }
    }
}

/* an error message as one escaped word */
static void escape(const char *in, char *out, size_t size) {
    size_t o = 0;
    if (*in == 0 && size > 1) {
        out[o++] = '%';
    }
    for (; *in && o + 4 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            o += snprintf(out + o, size - o, "%%%02X", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
}

static void fail(const char *step, int err, const char *fmt, ...) {
    char *error = g.cur == &g.draft ? g.exec_error : g.error;
    if (error[0]) {
        return;
    }
    char detail[400], word[460];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    escape(detail, word, sizeof word);
    snprintf(error, sizeof g.error, "error %s %d %s", step, err, word);
}

/* ---- words */

static int unescape(char *w) {
    if (strcmp(w, "%") == 0) {
        *w = 0;
        return 0;
    }
    char *o = w;
    for (char *i = w; *i; i++) {
        if (*i == '%') {
            if (!isxdigit((unsigned char)i[1]) || !isxdigit((unsigned char)i[2])) {
                return -1;
            }
            char hex[3] = {i[1], i[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            *o++ = *i;
        }
    }
    *o = 0;
    return 0;
}

static int split(char *line, char **words, int max) {
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save)) {
        if (unescape(w) < 0) {
            return -1;
        }
        words[n++] = w;
    }
    return n;
}

static int unumber(const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

static int number(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end) {
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- the rootfs */

static int mkdirs(const char *path, mode_t mode) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int root_fd = -1; /* O_PATH of ROOT: every path of the container resolves beneath it */

/* path (relative to the container's root) resolved as if the root were "/": a symlink to
 * "/x" or "../.." stays inside (openat2 RESOLVE_IN_ROOT) */
static int open_in_root(const char *path, int flags) {
    struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/') {
        path++;
    }
    return (int)syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof how);
}

/* Opens DEST of the container (O_PATH), making what is missing inside the root: the directories
 * on the way, and DEST itself as a directory or, with is_file, an empty file. Never follows a
 * symlink out of the root. -1 with errno on failure. */
static int make_in_root(const char *dest, int is_file) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dest);
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') {
        path[--len] = 0;
    }
    for (char *p = path;; p++) {
        int last = *p == 0;
        if (p == path || (*p != '/' && !last)) {
            continue;
        }
        char saved = *p;
        *p = 0;
        int fd = open_in_root(path, O_PATH | (last && is_file ? 0 : O_DIRECTORY));
        if (fd < 0 && errno == ENOENT) {
            char *slash = strrchr(path, '/');
            const char *name = slash ? slash + 1 : path;
            int parent;
            if (slash) {
                *slash = 0;
                parent = open_in_root(path, O_PATH | O_DIRECTORY);
                *slash = '/';
            } else {
                parent = open_in_root("", O_PATH | O_DIRECTORY);
            }
            if (parent < 0) {
                return -1;
            }
            int made;
            if (last && is_file) {
                /* O_NOFOLLOW|O_EXCL: a dangling symlink there is an error, never a way out */
                made = openat(parent, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
                if (made >= 0) {
                    close(made);
                }
            } else {
                made = mkdirat(parent, name, 0755);
            }
            int err = errno;
            close(parent);
            if (made < 0 && err != EEXIST) {
                errno = err;
                return -1;
            }
            fd = open_in_root(path, O_PATH | (last && is_file ? 0 : O_DIRECTORY));
        }
        if (fd < 0) {
            return -1;
        }
        if (last) {
            return fd;
        }
        close(fd);
        *p = saved;
    }
}

/* the directory that holds DEST (made if missing) and DEST's last name */
static int parent_in_root(const char *dest, char *name, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dest);
    char *slash = strrchr(path, '/');
    const char *last = slash ? slash + 1 : path;
    if (strlen(last) >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(name, last, strlen(last) + 1);
    if (slash) {
        *slash = 0;
    }
    return make_in_root(path, 0);
}

static void fd_path(int fd, char *path, size_t size) {
    snprintf(path, size, "/proc/self/fd/%d", fd);
}

/* share TAG RO: a 9p share for bind mounts, on /mnt/shares/TAG (outside the container's root) */
static void order_share(char **w) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SHARES, w[0]);
    if (mkdirs(path, 0755) < 0) {
        fail("mkdir", errno, "%s", path);
        return;
    }
    if (mount(w[0], path, "9p", strcmp(w[1], "1") == 0 ? MS_RDONLY : 0, NINEP_OPTIONS) < 0) {
        fail("mount9p", errno, "%s", w[0]);
    }
}

/* capsa-init.c's tmpcopyup (the same binary): entries of directory src copied into dst, types,
 * modes and owners kept, symlinks never followed */
int capsa_copy_tree(int src, int dst, int depth);
/* capsa-init.c's runc setupUser rule: "HOME=..." for uid from /etc/passwd of the current root, else "/" */
void capsa_passwd_home(unsigned long long uid, char *home_env, size_t size);

/* In the forked child, after the chroot: HOME from the container's /etc/passwd when env has none */
static void default_home(struct proc *p) {
    static char home_env[PATH_MAX + 6];
    for (int i = 0; i < p->nenv; i++) {
        if (strncmp(p->env[i], "HOME=", 5) == 0) {
            return;
        }
    }
    if (p->nenv < MAX_ITEMS) {
        capsa_passwd_home((unsigned long long)(p->uid < 0 ? 0 : p->uid), home_env, sizeof home_env);
        p->env[p->nenv++] = home_env;
        p->env[p->nenv] = NULL;
    }
}

/* tmpcopyup: what the image had under the mount point (lower, opened before the mount) copied into
 * the new tmpfs, whose root then takes the directory's owner and mode, as runc does */
static int copy_up(int lower, const char *dest) {
    struct stat st;
    int upper = open_in_root(dest, O_RDONLY | O_DIRECTORY);
    int rc = upper < 0 || fstat(lower, &st) < 0 ? -1 : capsa_copy_tree(lower, upper, 0);
    if (rc == 0 && (fchown(upper, st.st_uid, st.st_gid) < 0 || fchmod(upper, st.st_mode & 07777) < 0)) {
        rc = -1;
    }
    int err = errno;
    if (upper >= 0) {
        close(upper);
    }
    errno = err;
    return rc;
}

/* mount SOURCE DEST FSTYPE FLAGS DATA [copyup]; with MS_BIND (and no MS_REMOUNT) SOURCE is a path
 * of the agent (a share) and the other flags are applied by a remount of the bind, as mount(8)
 * does; "copyup" (tmpfs) copies the image's files under DEST into the new mount */
static void order_mount(char **w, int copyup) {
    long flags;
    if (number(w[3], &flags) < 0) {
        fail("mount", EINVAL, "bad flags %s", w[3]);
        return;
    }
    int bind = (flags & MS_BIND) && !(flags & MS_REMOUNT);
    struct stat st;
    if (bind && stat(w[0], &st) < 0) {
        fail("mount", errno, "bind source %s", w[0]);
        return;
    }
    int fd = make_in_root(w[1], bind && !S_ISDIR(st.st_mode));
    if (fd < 0) {
        fail("mkdir", errno, "%s", w[1]);
        return;
    }
    char target[64];
    fd_path(fd, target, sizeof target);
    if (!bind) {
        int lower = copyup ? openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (copyup && lower < 0) {
            fail("mount", errno, "tmpcopyup: %s is not a directory of the image", w[1]);
        } else if (mount(w[0], target, w[2], (unsigned long)flags, w[4][0] ? w[4] : NULL) < 0) {
            fail("mount", errno, "%s on %s", w[2], w[1]);
        } else if (copyup && copy_up(lower, w[1]) < 0) {
            fail("mount", errno, "tmpcopyup of %s", w[1]);
        }
        if (lower >= 0) {
            close(lower);
        }
        close(fd);
        return;
    }
    if (mount(w[0], target, NULL, MS_BIND | ((unsigned long)flags & MS_REC), NULL) < 0) {
        fail("mount", errno, "bind %s on %s", w[0], w[1]);
        close(fd);
        return;
    }
    close(fd);
    unsigned long rest = (unsigned long)flags & ~(unsigned long)(MS_BIND | MS_REC);
    if (rest) {
        /* open again: the old descriptor names what the bind now covers */
        fd = open_in_root(w[1], O_PATH);
        fd_path(fd, target, sizeof target);
        if (fd < 0 || mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | rest, NULL) < 0) {
            fail("mount", errno, "remount of the bind on %s", w[1]);
        }
        if (fd >= 0) {
            close(fd);
        }
    }
}

static void order_mknod(char **w) {
    long mode, major, minor;
    char name[NAME_MAX + 1];
    if (number(w[1], &mode) < 0 || number(w[2], &major) < 0 || number(w[3], &minor) < 0) {
        fail("mknod", EINVAL, "bad numbers for %s", w[0]);
        return;
    }
    int dir = parent_in_root(w[0], name, sizeof name);
    if (dir < 0) {
        fail("mknod", errno, "%s", w[0]);
        return;
    }
    unlinkat(dir, name, 0);
    if (mknodat(dir, name, (mode_t)mode, makedev(major, minor)) < 0) {
        fail("mknod", errno, "%s", w[0]);
    }
    close(dir);
}

static void order_symlink(char **w) {
    char name[NAME_MAX + 1];
    int dir = parent_in_root(w[1], name, sizeof name);
    if (dir < 0 || (symlinkat(w[0], dir, name) < 0 && errno != EEXIST)) {
        fail("symlink", errno, "%s", w[1]);
    }
    if (dir >= 0) {
        close(dir);
    }
}

/* ---- the process */

static int pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

static void child_fail(int fd, int err) {
    if (write(fd, &err, sizeof err) < 0) {
        /* the agent sees EOF instead */
    }
    _exit(127);
}

/* the steps of the process's setup, reported by "create" when one fails */
enum setup_step { S_STDIO, S_CHROOT, S_CWD, S_RLIMIT, S_NONEWPRIVS, S_CAPBSET, S_KEEPCAPS, S_GROUPS, S_GID, S_UID,
                  S_CAPSET, S_AMBIENT, S_EXEC, S_SECCOMP };
static const char *setup_names[] = {"stdio", "chroot", "cwd", "setrlimit", "nonewprivs", "capbset", "keepcaps",
                                    "setgroups", "setgid", "setuid", "capset", "ambient", "exec", "seccomp"};
static const char *setup_nouns[] = {"fd", "rootfs", "cwd", "resource", "prctl", "capability", "keepcaps",
                                    "count", "gid", "uid", "sets", "capability", "argv0", "instructions"};
struct setup_error {
    int step, err, detail;
};

static void setup_fail(int fd, int step, int detail) {
    struct setup_error e = {step, errno, detail};
    if (write(fd, &e, sizeof e) < 0) {
        /* the agent sees EOF and a dead child instead */
    }
    _exit(127);
}

static int last_cap(void) {
    char buf[16] = "";
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    long v;
    if (fd < 0) {
        return 63;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return number(buf, &v) < 0 ? 63 : (int)v;
}

/* the container's filter, in the child; with late 1 only if the process has no_new_privs, else only if not */
static void load_seccomp(int fd, const struct proc *p, int late) {
    if (!g.seccomp || late != (p->nonewprivs != 0)) {
        return;
    }
    struct sock_fprog prog = {.len = g.seccomp_len, .filter = g.seccomp};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, g.seccomp_flags, &prog) < 0) {
        setup_fail(fd, S_SECCOMP, g.seccomp_len);
    }
}

/* in the child, as runc's init: rlimits, no_new_privs, the bounding set, the user, the other sets */
static void setup_credentials(int fd, const struct proc *p) {
    for (int i = 0; i < p->nrlimits; i++) {
        struct rlimit rl = {.rlim_cur = p->rlimit_soft[i], .rlim_max = p->rlimit_hard[i]};
        if (setrlimit(p->rlimit_resource[i], &rl) < 0) {
            setup_fail(fd, S_RLIMIT, p->rlimit_resource[i]);
        }
    }
    if (p->nonewprivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        setup_fail(fd, S_NONEWPRIVS, 0);
    }
    /* without no_new_privs loading needs CAP_SYS_ADMIN: before the capabilities go (runc's order) */
    load_seccomp(fd, p, 0);
    int last = last_cap();
    if (p->has_caps) {
        for (int cap = 0; cap <= last && cap < 64; cap++) {
            if (!(p->cap_bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                setup_fail(fd, S_CAPBSET, cap);
            }
        }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
        setup_fail(fd, S_KEEPCAPS, 1);
    }
    if (p->has_groups && setgroups(p->ngroups, p->groups) < 0) {
        setup_fail(fd, S_GROUPS, p->ngroups);
    }
    if (setresgid((gid_t)p->gid, (gid_t)p->gid, (gid_t)p->gid) < 0) {
        setup_fail(fd, S_GID, (int)p->gid);
    }
    if (setresuid((uid_t)p->uid, (uid_t)p->uid, (uid_t)p->uid) < 0) {
        setup_fail(fd, S_UID, (int)p->uid);
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
        setup_fail(fd, S_KEEPCAPS, 0);
    }
    if (p->has_caps) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[2] = {
            {(uint32_t)p->cap_effective, (uint32_t)p->cap_permitted, (uint32_t)p->cap_inheritable},
            {(uint32_t)(p->cap_effective >> 32), (uint32_t)(p->cap_permitted >> 32),
             (uint32_t)(p->cap_inheritable >> 32)}};
        if (syscall(SYS_capset, &hdr, data) < 0) {
            setup_fail(fd, S_CAPSET, 0);
        }
        for (int cap = 0; cap <= last && cap < 64; cap++) {
            if ((p->cap_ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
                setup_fail(fd, S_AMBIENT, cap);
            }
        }
    }
}

static void create_process(void) {
    if (g.boot_error[0]) {
        reply("%s", g.boot_error);
        return;
    }
    if (g.error[0]) {
        reply("%s", g.error);
        return;
    }
    if (g.main.nargs == 0) {
        reply("error args %d %s", EINVAL, "no%20process%20args");
        return;
    }
    int start[2], report[2], setup[2], out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
    int tty = g.main.terminal, slave = -1;
    if (tty) {
        /* the container's own ptmx, as for an exec'd process: capsa.stdout carries the master's
         * output, capsa.stdin what is typed; the host's ends are a pty whose master went to the
         * console socket (docs/vm.md "A terminal for the container's process") */
        int unlock = 0;
        struct winsize ws = {.ws_row = g.main.rows, .ws_col = g.main.cols};
        int master = open_in_root("/dev/ptmx", O_RDWR | O_NOCTTY);
        if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0
            || ((ws.ws_row || ws.ws_col) && ioctl(master, TIOCSWINSZ, &ws) < 0)
            || (slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0
            || (g.stdin_relay && (in[1] = fcntl(master, F_DUPFD_CLOEXEC, 3)) < 0)) {
            int e = errno;
            if (master >= 0) {
                close(master);
            }
            reply("error console %d /dev/ptmx", e);
            return;
        }
        out[0] = master;
    }
    if (pipe_cloexec(start) < 0 || pipe_cloexec(report) < 0 || pipe_cloexec(setup) < 0
        || (!tty && (pipe_cloexec(out) < 0 || pipe_cloexec(err) < 0 || (g.stdin_relay && pipe_cloexec(in) < 0)))) {
        reply("error pipe %d %s", errno, "%");
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        reply("error fork %d %s", errno, "%");
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (tty ? dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0 || ioctl(0, TIOCSCTTY, 0) < 0
                : dup2(g.stdin_relay ? in[0] : null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
            setup_fail(setup[1], S_STDIO, 0);
        }
        if (chdir(ROOT) < 0 || chroot(".") < 0) {
            setup_fail(setup[1], S_CHROOT, 0);
        }
        default_home(&g.main);
        if (g.main.cwd && chdir(g.main.cwd) < 0) {
            setup_fail(setup[1], S_CWD, 0);
        }
        setup_credentials(setup[1], &g.main);
        if (g.main.umask_value >= 0) {
            umask((mode_t)g.main.umask_value);
        }
        load_seccomp(setup[1], &g.main, 1); /* runc: as close to the exec as it can */
        close(setup[1]); /* EOF: set up, waiting for start */
        char go;
        if (read(start[0], &go, 1) != 1) {
            _exit(127); /* the agent went away or the container was deleted before start */
        }
        environ = g.main.env;
        execvp(g.main.args[0], g.main.args);
        child_fail(report[1], errno);
    }
    close(start[0]);
    close(report[1]);
    close(setup[1]);
    if (tty) {
        close(slave);
    } else {
        close(out[1]);
        close(err[1]);
    }
    struct setup_error se;
    ssize_t sn;
    do {
        sn = read(setup[0], &se, sizeof se);
    } while (sn < 0 && errno == EINTR);
    close(setup[0]);
    if (sn == (ssize_t)sizeof se) {
        /* the child has exited; reap() collects it, and nothing else runs: the state stays booted */
        close(start[1]);
        close(report[0]);
        close(out[0]);
        if (err[0] >= 0) {
            close(err[0]);
        }
        if (!tty && g.stdin_relay) {
            close(in[0]);
        }
        if (in[1] >= 0) {
            close(in[1]);
        }
        waitpid(pid, NULL, 0);
        char detail[32], word[300];
        snprintf(detail, sizeof detail, "%s %d", setup_nouns[se.step], se.detail);
        escape(se.step == S_CWD ? (g.main.cwd ? g.main.cwd : "/") : detail, word, sizeof word);
        reply("error %s %d %s", setup_names[se.step], se.err, word);
        return;
    }
    if (g.stdin_relay) {
        if (!tty) {
            close(in[0]);
        }
        g.stdin_pipe = in[1];
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    }
    g.child = pid;
    g.start_fd = start[1];
    g.exec_err_fd = report[0];
    g.out.pipe_fd = out[0];
    g.err.pipe_fd = err[0];
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    g.state = CREATED;
    reply("ready %d", (int)pid);
}

static void start_process(void) {
    if (g.state != CREATED) {
        reply("error start %d the%%20process%%20is%%20%s", EINVAL, state_names[g.state]);
        return;
    }
    if (write(g.start_fd, "g", 1) != 1) {
        reply("error start %d release", errno);
        return;
    }
    close(g.start_fd);
    g.start_fd = -1;
    int err = 0;
    ssize_t n = read(g.exec_err_fd, &err, sizeof err); /* EOF: exec succeeded (close-on-exec) */
    close(g.exec_err_fd);
    g.exec_err_fd = -1;
    g.state = RUNNING;
    if (n == (ssize_t)sizeof err) {
        char word[300];
        escape(g.main.args[0], word, sizeof word);
        reply("error exec %d %s", err, word);
        return;
    }
    reply("ok");
}

/* ---- exec: more processes in the container, each with its stdio on a slot's port
 *
 * Frames on capsa.execN, both ways: TYPE (1 byte), LENGTH (4 bytes, big-endian), DATA.
 *   host -> agent: 'h' hello (the host is there; sent after "exec" answered), 'i' stdin data,
 *                  'c' stdin closed (ignored for a terminal), 'k' a signal for the process (DATA: its
 *                  number in decimal), 'w' the terminal's new size (DATA: "ROWS COLS")
 *   agent -> host: 'o' stdout data, 'e' stderr data, 'x' exit (DATA: the code in decimal), last
 * With "terminal ROWS COLS" among the process's orders, the agent opens a pty from the container's
 * own /dev/ptmx (its devpts instance), gives the process the peer as stdin, stdout, stderr and
 * controlling terminal, and relays the master: its output as 'o' frames, 'i' frames into it.
 */

static int open_port(const char *name, int wait_ms);
static void exec_finish(struct exec *x);

static void free_proc(struct proc *p) {
    for (int i = 0; i < p->nargs; i++) {
        free(p->args[i]);
    }
    for (int i = 0; i < p->nenv; i++) {
        free(p->env[i]);
    }
    free(p->cwd);
    memset(p, 0, sizeof *p);
    p->umask_value = -1;
}

static void new_exec(void) {
    free_proc(&g.draft);
    g.exec_error[0] = 0;
    g.cur = &g.draft;
}

static void close_fd(int *fd) {
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* exec SLOT: starts the draft at once (no start gate); SLOT -1: stdio is /dev/null */
static void exec_process(const char *word) {
    long slot;
    if (number(word, &slot) < 0 || slot < -1 || slot >= EXEC_SLOTS) {
        reply("error exec %d bad%%20slot", EINVAL);
        return;
    }
    if (g.cur != &g.draft) {
        reply("error exec %d no%%20newexec", EINVAL);
        return;
    }
    if (g.exec_error[0]) {
        reply("%s", g.exec_error);
        return;
    }
    if (g.state != CREATED && g.state != RUNNING) {
        reply("error exec %d the%%20container%%27s%%20process%%20is%%20%s", ESRCH, state_names[g.state]);
        return;
    }
    if (g.draft.nargs == 0) {
        reply("error args %d %s", EINVAL, "no%20process%20args");
        return;
    }
    struct exec *x = slot >= 0 ? &g.execs[slot] : NULL;
    if (x && x->active) {
        /* the host takes a slot's lock before it asks for the slot: whoever held it before is gone
         * (it may have died between "exec" and its hello), so what it left in the slot goes */
        if (x->pid > 0) {
            kill(x->pid, SIGKILL);
        }
        exec_finish(x);
    }
    if (x && g.exec_ports[slot] < 0) {
        char name[32];
        snprintf(name, sizeof name, "capsa.exec%ld", slot);
        g.exec_ports[slot] = open_port(name, 1000);
        if (g.exec_ports[slot] < 0) {
            reply("error exec %d no%%20port%%20%s", ENODEV, name);
            return;
        }
    }
    if (x) {
        /* whatever an earlier connection to this slot left unread is not for this process */
        char trash[4096];
        while (read(g.exec_ports[slot], trash, sizeof trash) > 0) {
        }
    }
    int tty = g.draft.terminal;
    if (tty && !x) {
        reply("error terminal %d a%%20terminal%%20needs%%20an%%20exec%%20slot", EINVAL);
        return;
    }
    int master = -1, slave = -1;
    if (tty) {
        /* the container's own ptmx (its devpts instance), so that the process's ttyname is its /dev/pts/N */
        int unlock = 0;
        struct winsize ws = {.ws_row = g.draft.rows, .ws_col = g.draft.cols};
        master = open_in_root("/dev/ptmx", O_RDWR | O_NOCTTY);
        if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0
            || ((ws.ws_row || ws.ws_col) && ioctl(master, TIOCSWINSZ, &ws) < 0)
            || (slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
            int e = errno;
            close_fd(&master);
            reply("error console %d /dev/ptmx", e);
            return;
        }
    }
    int setup[2], out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
    if (pipe_cloexec(setup) < 0
        || (x && !tty && (pipe_cloexec(out) < 0 || pipe_cloexec(err) < 0 || pipe_cloexec(in) < 0))
        || (tty && (in[1] = fcntl(master, F_DUPFD_CLOEXEC, 3)) < 0)) {
        reply("error pipe %d %s", errno, "%");
        close_fd(&master);
        close_fd(&slave);
        return;
    }
    if (tty) {
        out[0] = master;
        out[1] = err[1] = in[0] = slave;
    }
    pid_t pid = fork();
    if (pid < 0) {
        reply("error fork %d %s", errno, "%");
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (dup2(x ? in[0] : null, 0) < 0 || dup2(x ? out[1] : null, 1) < 0 || dup2(x ? err[1] : null, 2) < 0) {
            setup_fail(setup[1], S_STDIO, 0);
        }
        if (tty && ioctl(0, TIOCSCTTY, 0) < 0) {
            setup_fail(setup[1], S_STDIO, 0);
        }
        if (chdir(ROOT) < 0 || chroot(".") < 0) {
            setup_fail(setup[1], S_CHROOT, 0);
        }
        default_home(&g.draft);
        if (g.draft.cwd && chdir(g.draft.cwd) < 0) {
            setup_fail(setup[1], S_CWD, 0);
        }
        setup_credentials(setup[1], &g.draft);
        if (g.draft.umask_value >= 0) {
            umask((mode_t)g.draft.umask_value);
        }
        load_seccomp(setup[1], &g.draft, 1);
        environ = g.draft.env;
        execvp(g.draft.args[0], g.draft.args);
        setup_fail(setup[1], S_EXEC, 0);
    }
    close(setup[1]);
    if (tty) {
        close_fd(&slave);
        out[1] = err[1] = in[0] = -1;
    }
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&in[0]);
    struct setup_error se;
    ssize_t sn;
    do {
        sn = read(setup[0], &se, sizeof se); /* EOF: it execs (close-on-exec) */
    } while (sn < 0 && errno == EINTR);
    close(setup[0]);
    if (sn == (ssize_t)sizeof se) {
        waitpid(pid, NULL, 0);
        close_fd(&out[0]);
        close_fd(&err[0]);
        close_fd(&in[1]);
        char detail[32], word[300];
        snprintf(detail, sizeof detail, "%s %d", setup_nouns[se.step], se.detail);
        escape(se.step == S_CWD ? (g.draft.cwd ? g.draft.cwd : "/") : se.step == S_EXEC ? g.draft.args[0] : detail,
               word, sizeof word);
        reply("error %s %d %s", setup_names[se.step], se.err, word);
        return;
    }
    if (x) {
        memset(x, 0, sizeof *x);
        x->active = 1;
        x->pid = pid;
        x->port = g.exec_ports[slot];
        x->out_pipe = out[0];
        x->err_pipe = err[0];
        x->in_pipe = in[1];
        x->tty = tty;
        fcntl(out[0], F_SETFL, O_NONBLOCK);
        if (err[0] >= 0) {
            fcntl(err[0], F_SETFL, O_NONBLOCK);
        }
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    }
    reply("ok %d", (int)pid);
}

static void frame(struct exec *x, char type, size_t len) {
    x->obuf[0] = (unsigned char)type;
    x->obuf[1] = (unsigned char)(len >> 24);
    x->obuf[2] = (unsigned char)(len >> 16);
    x->obuf[3] = (unsigned char)(len >> 8);
    x->obuf[4] = (unsigned char)len;
    x->olen = len + 5;
    x->ooff = 0;
}

static void exec_finish(struct exec *x) {
    close_fd(&x->out_pipe);
    close_fd(&x->err_pipe);
    close_fd(&x->in_pipe);
    x->active = 0;
}

/* the host's frames: hello, stdin, stdin's end */
static void exec_input(struct exec *x) {
    if (x->plen == x->poff && x->ilen < sizeof x->ibuf) {
        ssize_t n = read(x->port, x->ibuf + x->ilen, sizeof x->ibuf - x->ilen);
        if (n > 0) {
            x->ilen += (size_t)n;
        }
    }
    size_t off = 0;
    while (x->ilen - off >= 5) {
        unsigned char *f = x->ibuf + off;
        size_t len = (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
        if (len > FRAME_DATA) {
            x->ilen = off = 0; /* not from capsa */
            break;
        }
        if (x->ilen - off < 5 + len || (f[0] == 'i' && x->plen + len > sizeof x->pend)) {
            break;
        }
        if (f[0] == 'h') {
            x->attached = 1;
        } else if (f[0] == 'i' && x->in_pipe >= 0) {
            memcpy(x->pend + x->plen, f + 5, len);
            x->plen += len;
        } else if (f[0] == 'c' && !x->tty) {
            x->in_eof = 1; /* a terminal has no end of input: the host's side just stops typing */
        } else if (f[0] == 'k' && len > 0 && len < 8 && x->pid > 0) {
            char sig[8];
            memcpy(sig, f + 5, len);
            sig[len] = 0;
            long n;
            if (number(sig, &n) == 0 && n > 0 && n < 65) {
                kill(x->pid, (int)n);
            }
        } else if (f[0] == 'w' && x->tty && len > 0 && len < 24) {
            char size[24];
            memcpy(size, f + 5, len);
            size[len] = 0;
            unsigned rows, cols;
            if (sscanf(size, "%u %u", &rows, &cols) == 2 && rows < 65536 && cols < 65536) {
                struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
                ioctl(x->out_pipe, TIOCSWINSZ, &ws);
            }
        }
        off += 5 + len;
    }
    memmove(x->ibuf, x->ibuf + off, x->ilen - off);
    x->ilen -= off;
}

/* moves what can move without blocking; every descriptor is non-blocking, poll only wakes us */
static void exec_pump(struct exec *x) {
    if (!x->gone) {
        exec_input(x);
    }
    if (x->in_pipe >= 0 && x->plen > x->poff) {
        ssize_t n = write(x->in_pipe, x->pend + x->poff, x->plen - x->poff);
        if (n > 0) {
            x->poff += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            close_fd(&x->in_pipe); /* the process closed its stdin */
            x->plen = x->poff = 0;
        }
        if (x->poff == x->plen) {
            x->plen = x->poff = 0;
        }
    }
    if (x->in_pipe >= 0 && x->in_eof && x->plen == 0) {
        close_fd(&x->in_pipe);
    }
    if (x->gone) {
        char trash[4096];
        for (int *fd = &x->out_pipe; fd <= &x->err_pipe; fd++) {
            while (*fd >= 0) {
                ssize_t n = read(*fd, trash, sizeof trash);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    close_fd(fd);
                } else if (n < 0) {
                    break;
                }
            }
        }
        if (x->exited) {
            exec_finish(x);
        }
        return;
    }
    if (!x->attached) {
        return;
    }
    if (x->olen == x->ooff && !x->exit_sent) {
        int *pipes[2] = {&x->out_pipe, &x->err_pipe};
        for (int k = 0; k < 2 && x->olen == x->ooff; k++) {
            if (*pipes[k] < 0) {
                continue;
            }
            ssize_t n = read(*pipes[k], x->obuf + 5, FRAME_DATA);
            if (n > 0) {
                frame(x, k == 0 ? 'o' : 'e', (size_t)n);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close_fd(pipes[k]);
            }
        }
        /* ended, and what it wrote before it ended is out (a child it left behind may hold the pipes) */
        if (x->olen == x->ooff && x->exited) {
            int n = snprintf((char *)x->obuf + 5, FRAME_DATA, "%d", x->code);
            frame(x, 'x', (size_t)n);
            x->exit_sent = 1;
        }
    }
    while (x->olen > x->ooff) {
        ssize_t n = write(x->port, x->obuf + x->ooff, x->olen - x->ooff);
        if (n <= 0) {
            break;
        }
        x->ooff += (size_t)n;
    }
    if (x->olen == x->ooff) {
        x->olen = x->ooff = 0;
        if (x->exit_sent) {
            exec_finish(x);
        }
    }
}

/* signal N: the container's process; signal N PID: a process exec'd in it (PID as "exec" said) */
static void signal_process(char *arg, char *target) {
    long sig, pid;
    if (number(arg, &sig) < 0) {
        reply("error kill %d bad%%20signal", EINVAL);
        return;
    }
    if (target) {
        if (number(target, &pid) < 0 || pid <= 1) {
            reply("error kill %d bad%%20pid", EINVAL);
        } else if (kill((pid_t)pid, (int)sig) < 0) {
            reply("error kill %d %ld", errno, pid);
        } else {
            reply("ok");
        }
        return;
    }
    if (g.state == BOOTED || g.state == EXITED) {
        reply("error kill %d the%%20process%%20is%%20%s", ESRCH, state_names[g.state]);
        return;
    }
    if (kill(g.child, (int)sig) < 0) {
        reply("error kill %d %d", errno, (int)g.child);
        return;
    }
    reply("ok");
}

static void send_exit(void) {
    reply("exit %d %llu %llu", g.code, g.out.total, g.err.total);
    g.wait_pending = 0;
}

/* arg, env, cwd, user, groups, rlimit, nonewprivs, caps: they describe g.cur; 0 if cmd is none of them */
static int process_order(const char *cmd, char **a, int na) {
    struct proc *p = g.cur;
    if (strcmp(cmd, "arg") == 0 && na == 1 && p->nargs < MAX_ITEMS) {
        p->args[p->nargs++] = strdup(a[0]);
    } else if (strcmp(cmd, "env") == 0 && na == 1 && p->nenv < MAX_ITEMS) {
        p->env[p->nenv++] = strdup(a[0]);
    } else if (strcmp(cmd, "cwd") == 0 && na == 1) {
        free(p->cwd);
        p->cwd = strdup(a[0]);
    } else if (strcmp(cmd, "user") == 0 && na == 3) {
        if (number(a[0], &p->uid) < 0 || number(a[1], &p->gid) < 0 || number(a[2], &p->umask_value) < 0) {
            fail("user", EINVAL, "bad numbers");
        }
    } else if (strcmp(cmd, "groups") == 0) {
        p->has_groups = 1;
        for (int i = 0; i < na && p->ngroups < MAX_ITEMS; i++) {
            long v;
            if (number(a[i], &v) < 0) {
                fail("groups", EINVAL, "bad gid %s", a[i]);
                break;
            }
            p->groups[p->ngroups++] = (gid_t)v;
        }
    } else if (strcmp(cmd, "rlimit") == 0 && na == 3) {
        long res;
        int i = p->nrlimits;
        if (i >= 64 || number(a[0], &res) < 0 || unumber(a[1], &p->rlimit_soft[i]) < 0
            || unumber(a[2], &p->rlimit_hard[i]) < 0) {
            fail("rlimit", EINVAL, "bad rlimit %s", a[0]);
        } else {
            p->rlimit_resource[i] = (int)res;
            p->nrlimits++;
        }
    } else if (strcmp(cmd, "terminal") == 0 && na == 2) {
        long rows, cols;
        if (number(a[0], &rows) < 0 || number(a[1], &cols) < 0 || rows < 0 || rows > 65535 || cols < 0
            || cols > 65535) {
            fail("terminal", EINVAL, "bad size %s %s", a[0], a[1]);
        } else {
            p->terminal = 1;
            p->rows = (unsigned short)rows;
            p->cols = (unsigned short)cols;
        }
    } else if (strcmp(cmd, "nonewprivs") == 0 && na == 1) {
        p->nonewprivs = strcmp(a[0], "1") == 0;
    } else if (strcmp(cmd, "caps") == 0 && na == 5) {
        if (unumber(a[0], &p->cap_bounding) < 0 || unumber(a[1], &p->cap_effective) < 0
            || unumber(a[2], &p->cap_permitted) < 0 || unumber(a[3], &p->cap_inheritable) < 0
            || unumber(a[4], &p->cap_ambient) < 0) {
            fail("caps", EINVAL, "bad capability masks");
        } else {
            p->has_caps = 1;
        }
    } else {
        return 0;
    }
    return 1;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* seccomp FLAGS HEX: the program, kept for the container's process and the exec'd ones */
static void order_seccomp(char **a) {
    unsigned long long flags;
    size_t hex = strlen(a[1]), bytes = hex / 2;
    if (unumber(a[0], &flags) < 0 || hex % 2 || bytes == 0 || bytes % sizeof(struct sock_filter)
        || bytes / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        fail("seccomp", EINVAL, "not a filter program (%zu bytes)", bytes);
        return;
    }
    unsigned char *prog = malloc(bytes);
    if (!prog) {
        fail("seccomp", ENOMEM, "%zu bytes", bytes);
        return;
    }
    for (size_t i = 0; i < bytes; i++) {
        int hi = hex_digit(a[1][2 * i]), lo = hex_digit(a[1][2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(prog);
            fail("seccomp", EINVAL, "not hex at %zu", 2 * i);
            return;
        }
        prog[i] = (unsigned char)(hi << 4 | lo);
    }
    free(g.seccomp);
    g.seccomp = (struct sock_filter *)(void *)prog;
    g.seccomp_len = (unsigned short)(bytes / sizeof(struct sock_filter));
    g.seccomp_flags = (unsigned long)flags;
}

static void order(char *line) {
    char *w[MAX_ITEMS + 1];
    int n = split(line, w, MAX_ITEMS);
    if (n < 0) {
        fail("protocol", EINVAL, "bad escape");
        return;
    }
    if (n == 0) {
        return;
    }
    const char *cmd = w[0];
    char **a = w + 1;
    int na = n - 1;
    if (strcmp(cmd, "hello") == 0) {
        g.wait_pending = 0; /* a new connection: whatever the last one waited for is its own business */
        if (g.state == EXITED) {
            reply("hello %d exited %d %llu %llu", PROTOCOL, g.code, g.out.total, g.err.total);
        } else {
            reply("hello %d %s", PROTOCOL, state_names[g.state]);
        }
    } else if (strcmp(cmd, "create") == 0) {
        if (g.state != BOOTED) {
            reply("error create %d already%%20created", EEXIST);
        } else {
            create_process();
        }
    } else if (strcmp(cmd, "start") == 0) {
        start_process();
    } else if (strcmp(cmd, "signal") == 0 && (na == 1 || na == 2)) {
        signal_process(a[0], na == 2 ? a[1] : NULL);
    } else if (strcmp(cmd, "wait") == 0) {
        g.wait_pending = 1;
        if (g.state == EXITED) {
            send_exit();
        }
    } else if (strcmp(cmd, "poweroff") == 0) {
        reply("ok");
        nap_ms(20); /* let the reply leave */
        power_off();
    } else if (strcmp(cmd, "newexec") == 0 && na == 0) {
        new_exec();
    } else if (strcmp(cmd, "exec") == 0 && na == 1) {
        exec_process(a[0]);
        g.cur = &g.main;
    } else if ((g.state == BOOTED || g.cur == &g.draft) && process_order(cmd, a, na)) {
        /* described */
    } else if (g.state != BOOTED) {
        fail("protocol", EINVAL, "order %s after create", cmd);
    } else if (strcmp(cmd, "hostname") == 0 && na == 1) {
        if (sethostname(a[0], strlen(a[0])) < 0) {
            fail("sethostname", errno, "%s", a[0]);
        }
    } else if (strcmp(cmd, "share") == 0 && na == 2) {
        order_share(a);
    } else if (strcmp(cmd, "mount") == 0 && na == 5) {
        order_mount(a, 0);
    } else if (strcmp(cmd, "mount") == 0 && na == 6 && strcmp(a[5], "copyup") == 0) {
        order_mount(a, 1);
    } else if (strcmp(cmd, "mknod") == 0 && na == 4) {
        order_mknod(a);
    } else if (strcmp(cmd, "symlink") == 0 && na == 2) {
        order_symlink(a);
    } else if (strcmp(cmd, "mkdir") == 0 && na == 1) {
        int fd = make_in_root(a[0], 0);
        if (fd < 0) {
            fail("mkdir", errno, "%s", a[0]);
        } else {
            close(fd);
        }
    } else if (strcmp(cmd, "stdin") == 0 && na == 1) {
        if (strcmp(a[0], "1") == 0 && g.stdin_port < 0) {
            /* boot looked without waiting: a port may appear after the ones it waited for */
            g.stdin_port = open_port("capsa.stdin", 1000);
        }
        g.stdin_relay = strcmp(a[0], "1") == 0 && g.stdin_port >= 0;
    } else if (strcmp(cmd, "exitpoweroff") == 0 && na == 1) {
        g.exit_poweroff = strcmp(a[0], "1") == 0;
    } else if (strcmp(cmd, "seccomp") == 0 && na == 2) {
        order_seccomp(a);
    } else {
        fail("protocol", EINVAL, "unknown order %s with %d words", cmd, na);
    }
}

/* ---- boot */

/* Whether the machine has a PCI device: q35 (the libvirt launcher's) does, microvm none */
static int has_pci_devices(void) {
    DIR *d = opendir("/sys/bus/pci/devices");
    int found = 0;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        found = e->d_name[0] != '.';
    }
    if (d) {
        closedir(d);
    }
    return found;
}

static void load_modules(void) {
    FILE *f = fopen("/etc/capsa/modules", "re");
    if (!f) {
        return; /* a kernel with everything built in */
    }
    /* virtio over PCI is for the libvirt launcher's q35; on microvm its three modules would load
     * for nothing, at tens of ms under TCG */
    int pci = has_pci_devices();
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || (!pci && strstr(line, "/virtio_pci") != NULL)) {
            continue;
        }
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
            agent_log("cannot load %s: %s", line, strerror(errno));
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    fclose(f);
}

/* the device of the virtio-serial port with that name, opened; -1 if it does not appear in time */
static int open_port(const char *name, int wait_ms) {
    for (int waited = 0;; waited += 10) {
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') {
                continue;
            }
            char path[512], value[128] = "";
            snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                continue;
            }
            ssize_t n = read(fd, value, sizeof value - 1);
            close(fd);
            value[n > 0 ? n : 0] = 0;
            value[strcspn(value, "\n")] = 0;
            if (strcmp(value, name) == 0) {
                snprintf(path, sizeof path, "/dev/%s", e->d_name);
                int port = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (port >= 0) {
                    closedir(d);
                    return port;
                }
            }
        }
        if (d) {
            closedir(d);
        }
        if (waited >= wait_ms) {
            return -1;
        }
        nap_ms(10);
    }
}

static void boot(void) {
    mkdir("/dev", 0755);
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    int console = open("/dev/console", O_RDWR | O_CLOEXEC);
    if (console >= 0) {
        dup2(console, 1);
        dup2(console, 2);
    }
    load_modules();
    g.ctl = open_port("capsa.ctl", 10000);
    if (g.ctl < 0) {
        agent_log("no virtio-serial port named capsa.ctl: nothing to take orders from");
        power_off();
    }
    g.out.port_fd = open_port("capsa.stdout", 2000);
    g.err.port_fd = open_port("capsa.stderr", 2000);
    g.stdin_port = open_port("capsa.stdin", 0);
    g.exit_port = open_port("capsa.exit", 0);
    if (g.out.port_fd < 0 || g.err.port_fd < 0) {
        snprintf(g.boot_error, sizeof g.boot_error, "error ports %d capsa.stdout%%20or%%20capsa.stderr", ENODEV);
    }
    mkdirs(ROOT, 0755);
    if (mount("rootfs", ROOT, "9p", 0, NINEP_OPTIONS) < 0) {
        snprintf(g.boot_error, sizeof g.boot_error, "error mount9p %d rootfs", errno);
        agent_log("cannot mount the 9p share rootfs: %s", strerror(errno));
    }
    root_fd = open(ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* ---- the main loop: ctl orders, the process's output and stdin, its exit */

static void reap(int sfd) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) > 0) {
    }
    int status;
    pid_t pid;
    /* after the container's process ended, the rest was killed: wait for it to be gone (its mappings
     * are written back when they close, cache=mmap) for at most REST_GONE_MS, so that the exit is
     * reported once nothing in the guest can still write to a share */
    int rounds = 0, rest_killed = 0;
    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0 && rest_killed && rounds++ < REST_GONE_MS) {
            nap_ms(1);
            continue;
        }
        if (pid <= 0) {
            break;
        }
        for (int k = 0; k < EXEC_SLOTS; k++) {
            struct exec *x = &g.execs[k];
            if (x->active && x->pid == pid) {
                x->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                x->exited = 1;
                x->pid = 0;
            }
        }
        if (pid == g.child && (g.state == CREATED || g.state == RUNNING)) {
            g.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            g.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            g.child = 0;
            kill(-1, SIGKILL); /* like the end of a pid namespace: nothing outlives the container's init */
            rest_killed = 1;
            if (g.start_fd >= 0) {
                close(g.start_fd);
                g.start_fd = -1;
            }
        }
    }
}

/* the process's end on capsa.exit, for the host's monitor: "exit CODE" or "signal N" */
static void report_exit(void) {
    if (g.exit_port < 0) {
        /* boot looked without waiting; by now every port of the command line has appeared */
        g.exit_port = open_port("capsa.exit", 1000);
    }
    if (g.exit_port < 0) {
        return;
    }
    char line[32];
    int n = g.term_signal ? snprintf(line, sizeof line, "signal %d\n", g.term_signal)
                          : snprintf(line, sizeof line, "exit %d\n", g.code);
    for (int off = 0, tries = 0; off < n && tries < 200; tries++) {
        ssize_t w = write(g.exit_port, line + off, (size_t)(n - off));
        if (w > 0) {
            off += (int)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            agent_log("cannot write the exit status to capsa.exit: %s", strerror(errno));
            return;
        } else {
            nap_ms(5);
        }
    }
}

/* 1 while the stream still has something to relay */
static int stream_open(struct stream *s) {
    return s->pipe_fd >= 0 || s->len > s->off;
}

static void stream_io(struct stream *s, short pipe_ev, short port_ev) {
    if (s->len == s->off && s->pipe_fd >= 0 && (pipe_ev & (POLLIN | POLLHUP))) {
        ssize_t n = read(s->pipe_fd, s->buf, sizeof s->buf);
        if (n > 0) {
            s->len = (size_t)n;
            s->off = 0;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            close(s->pipe_fd);
            s->pipe_fd = -1;
        }
    }
    if (s->len > s->off && (port_ev & POLLOUT)) {
        ssize_t n = write(s->port_fd, s->buf + s->off, s->len - s->off);
        if (n > 0) {
            s->off += (size_t)n;
            s->total += (unsigned long long)n;
            if (s->off == s->len) {
                s->len = s->off = 0;
            }
        }
    }
}

static void ctl_input(void) {
    for (;;) {
        ssize_t n = read(g.ctl, g.inbuf + g.inlen, sizeof g.inbuf - 1 - g.inlen);
        if (n == 0) {
            /* nobody connected, or the news that somebody is comes late (see reply): keep what
             * was read and a pending wait; a new connection's "hello" resets the wait */
            return;
        }
        if (n < 0) {
            return;
        }
        g.inlen += (size_t)n;
        char *start = g.inbuf, *nl;
        while ((nl = memchr(start, '\n', g.inlen - (size_t)(start - g.inbuf)))) {
            *nl = 0;
            order(start);
            start = nl + 1;
        }
        g.inlen -= (size_t)(start - g.inbuf);
        memmove(g.inbuf, start, g.inlen);
        if (g.inlen == sizeof g.inbuf - 1) {
            g.inlen = 0; /* a line that long is not from capsa */
        }
    }
}

/* capsa-init's agent mode (capsa-main.c): the guest kernel's /init, pid 1 */
int agent_main(void) {
    if (getpid() != 1) {
        fprintf(stderr, "capsa-init: the agent runs as /init of the vm backend's guest only\n");
        return 2;
    }
    g.out.pipe_fd = g.err.pipe_fd = -1;
    g.main.umask_value = -1;
    g.start_fd = g.exec_err_fd = g.stdin_port = g.stdin_pipe = g.ctl = g.exit_port = -1;
    g.cur = &g.main;
    g.draft.umask_value = -1;
    for (int k = 0; k < EXEC_SLOTS; k++) {
        g.exec_ports[k] = -1;
    }
    boot();
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    char stdin_buf[16384];
    size_t stdin_len = 0, stdin_off = 0;
    for (;;) {
        struct pollfd p[8 + 4 * EXEC_SLOTS];
        int np = 0;
        int i_sig = np;
        p[np++] = (struct pollfd){sfd, POLLIN, 0};
        int i_ctl = np;
        p[np++] = (struct pollfd){g.ctl, POLLIN, 0};
        struct stream *streams[2] = {&g.out, &g.err};
        int i_pipe[2], i_port[2];
        for (int k = 0; k < 2; k++) {
            struct stream *s = streams[k];
            i_pipe[k] = i_port[k] = -1;
            if (s->len == s->off && s->pipe_fd >= 0) {
                i_pipe[k] = np;
                p[np++] = (struct pollfd){s->pipe_fd, POLLIN, 0};
            } else if (s->len > s->off) {
                i_port[k] = np;
                p[np++] = (struct pollfd){s->port_fd, POLLOUT, 0};
            }
        }
        int i_in = -1, i_inpipe = -1;
        if (g.stdin_pipe >= 0 && g.state == RUNNING) {
            if (stdin_len == stdin_off) {
                i_in = np;
                p[np++] = (struct pollfd){g.stdin_port, POLLIN, 0};
            } else {
                i_inpipe = np;
                p[np++] = (struct pollfd){g.stdin_pipe, POLLOUT, 0};
            }
        }
        /* a port whose host end is gone polls POLLHUP at once: look again in 50 ms instead of spinning */
        int timeout = -1;
        struct pollfd probe[2] = {{g.ctl, POLLIN, 0}, {i_in >= 0 ? g.stdin_port : -1, POLLIN, 0}};
        poll(probe, 2, 0);
        if ((probe[0].revents & POLLHUP) && !(probe[0].revents & POLLIN)) {
            p[i_ctl].fd = -1;
            timeout = 50;
        }
        if (i_in >= 0 && (probe[1].revents & POLLHUP) && !(probe[1].revents & POLLIN)) {
            close(g.stdin_pipe); /* the host half-closed stdin: EOF for the process */
            g.stdin_pipe = -1;
            p[i_in].fd = -1;
        }
        for (int k = 0; k < EXEC_SLOTS; k++) {
            struct exec *x = &g.execs[k];
            if (!x->active) {
                continue;
            }
            if (!x->gone) {
                struct pollfd pr = {x->port, POLLIN, 0};
                poll(&pr, 1, 0);
                if ((pr.revents & POLLHUP) && !(pr.revents & POLLIN)) {
                    if (x->attached) {
                        /* the host went away (capsa exec was killed): nobody will read the output */
                        x->gone = 1;
                        if (x->pid > 0) {
                            kill(x->pid, SIGKILL);
                        }
                    } else {
                        timeout = timeout < 0 || timeout > 50 ? 50 : timeout; /* its "connected" news is late */
                    }
                } else {
                    short ev = x->plen == x->poff ? POLLIN : 0;
                    ev |= x->attached && x->olen > x->ooff ? POLLOUT : 0;
                    p[np++] = (struct pollfd){x->port, ev, 0};
                }
            }
            if (x->exited && x->attached && !x->exit_sent) {
                timeout = timeout < 0 || timeout > 10 ? 10 : timeout; /* its pipes may stay quiet (a child it left holds them): look again soon */
            }
            int read_pipes = x->gone || (x->attached && x->olen == x->ooff);
            if (read_pipes && x->out_pipe >= 0) {
                p[np++] = (struct pollfd){x->out_pipe, POLLIN, 0};
            }
            if (read_pipes && x->err_pipe >= 0) {
                p[np++] = (struct pollfd){x->err_pipe, POLLIN, 0};
            }
            if (x->in_pipe >= 0 && x->plen > x->poff) {
                p[np++] = (struct pollfd){x->in_pipe, POLLOUT, 0};
            }
        }
        if (poll(p, np, timeout) < 0 && errno != EINTR) {
            agent_log("poll: %s", strerror(errno));
            nap_ms(50);
            continue;
        }
        if (p[i_sig].revents) {
            reap(sfd);
        }
        if (i_ctl >= 0 && p[i_ctl].fd >= 0 && p[i_ctl].revents) {
            ctl_input();
        }
        for (int k = 0; k < EXEC_SLOTS; k++) {
            if (g.execs[k].active) {
                exec_pump(&g.execs[k]);
            }
        }
        for (int k = 0; k < 2; k++) {
            stream_io(streams[k], i_pipe[k] >= 0 ? p[i_pipe[k]].revents : 0,
                      i_port[k] >= 0 ? p[i_port[k]].revents : 0);
        }
        if (i_in >= 0 && p[i_in].fd >= 0 && (p[i_in].revents & POLLIN)) {
            ssize_t n = read(g.stdin_port, stdin_buf, sizeof stdin_buf);
            if (n > 0) {
                stdin_len = (size_t)n;
                stdin_off = 0;
            } else if (n == 0) {
                close(g.stdin_pipe);
                g.stdin_pipe = -1;
            }
        }
        if (i_inpipe >= 0 && (p[i_inpipe].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(g.stdin_pipe, stdin_buf + stdin_off, stdin_len - stdin_off);
            if (n > 0) {
                stdin_off += (size_t)n;
            } else if (errno != EAGAIN && errno != EINTR) {
                close(g.stdin_pipe); /* the process closed its stdin */
                g.stdin_pipe = -1;
            }
            if (stdin_off == stdin_len) {
                stdin_len = stdin_off = 0;
            }
        }
        if ((g.state == CREATED || g.state == RUNNING) && g.child == 0 && !stream_open(&g.out)
            && !stream_open(&g.err)) {
            g.state = EXITED;
            sync(); /* what the container's mappings left dirty is on the host before anyone hears of the end */
            report_exit();
            if (g.stdin_pipe >= 0) {
                close(g.stdin_pipe);
                g.stdin_pipe = -1;
            }
            if (g.wait_pending) {
                send_exit();
            }
            if (g.exit_poweroff) {
                power_off();
            }
        }
    }
}
