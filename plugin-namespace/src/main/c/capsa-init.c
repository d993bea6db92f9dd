/*
 * capsa-init: the small C stage of Capsa's ns backend (design.md: "Java decides, native code
 * executes"). The JVM is multi-threaded, so it never calls clone, setns, unshare, pivot_root or
 * exec in a new namespace itself; this program does, following a flat launch plan that Java
 * worked out. It makes no policy decisions: every path, flag and number comes from the plan.
 *
 * Usage: capsa-init --control SOCKET
 *   Connects to the unix stream socket SOCKET (Java listens on it), reads the plan, reports
 *   each step back over the same connection, then execs the container's process. A plan with a
 *   "join" record is an exec plan (capsa exec): no clone and no rootfs, see "Exec mode" below.
 *
 * Plan (Java -> capsa-init): a sequence of records, ended by the record "end".
 *   record := TAG " " N "\n" FIELD{N}
 *   field  := LEN ":" BYTES "\n"            (LEN decimal byte count; BYTES raw, may hold anything)
 * Numbers are decimal text fields. Tags (fields in brackets):
 *   version [1]                      must come first
 *   clone [flags]                    CLONE_NEW* flags for the container init
 *   setns [path] (repeated)          an existing namespace stage 0 joins before the clone (a pid
 *                                    namespace: the init is a child in it, not its pid 1)
 *   uidmap [text], gidmap [text]     with CLONE_NEWUSER: written by stage 0 to /proc/PID/uid_map and
 *                                    gid_map before the init goes on; the init then becomes uid 0
 *   foreground [0|1]                 1: stay as monitor, reap the init, exit with its status
 *   exitfile [path]                  monitor writes the exit code here (foreground)
 *   hostname [name], domainname [name]
 *   loopback []                      bring up "lo" in the new network namespace
 *   propagation [flags]              applied to "/" first (MS_SLAVE|MS_REC by default)
 *   rootfs [abs path]
 *   The rootfs steps below run in the order they come; dest is inside the rootfs:
 *   mount [source, dest, fstype, flags, data, bind(0|1), propagation flags, copyup(0|1)
 *          (, recursive attr_set, attr_clr)]
 *                                    the last two: MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE) on
 *                                    the new mount (rro, rnosuid, rnodev, rnoexec, atime, rnosymfollow)
 *                                    copyup 1 (the tmpcopyup option, tmpfs only): what the image had
 *                                    at dest (files, dirs, symlinks, nodes, with modes and owners) is
 *                                    copied into the new tmpfs, read through a descriptor of the
 *                                    covered directory opened before the mount (runc, crun)
 *   remount [dest, flags]            bind-remount (per mount, e.g. MS_RDONLY) after sub-mounts
 *   device [dest, mode incl. S_IF*, major, minor, uid, gid]
 *   symlink [target, dest]
 *   mkdir [dest]                     e.g. the process's cwd
 *   fifo [abs host path]             the exec fifo: made here, waited on before exec
 *   sync []                          stop after the mounts, before pivot_root: report "sync",
 *                                    wait for "go" (Java runs the createRuntime hooks there)
 *   pivot [1|0]                      1: pivot_root; 0: MS_MOVE + chroot (--no-pivot)
 *   rootpropagation [flags]          applied to the new "/" after the pivot
 *   sysctl [path under /proc/sys, value(, field)]   field: the JSON pointer an error names
 *   masked [path], readonly [path], rootreadonly []
 *   arg [s] (repeated), env [s] (repeated), cwd [path]
 *   defaulthome []                   env has no HOME: after pivot_root (or setns) set HOME from the
 *                                    container's /etc/passwd line of the process uid, else "/" (runc)
 *   user [uid, gid, umask or -1], groups [gid...]
 *   rlimit [resource, soft, hard(, field)]   field: the JSON pointer an error names (/process/rlimits/N)
 *   caps [bounding, effective, permitted, inheritable, ambient]   64-bit masks
 *   nonewprivs []
 *   seccomp [bpf, flags]             a seccomp filter: bpf is the raw struct sock_filter array (8 bytes
 *                                    an instruction, host byte order) that Java compiled with
 *                                    libseccomp; flags are SECCOMP_FILTER_FLAG_* bits. Loaded with
 *                                    seccomp(SECCOMP_SET_MODE_FILTER) in runc's order: without
 *                                    nonewprivs before the capabilities are dropped (loading needs
 *                                    CAP_SYS_ADMIN then), with it after the uid change, the cwd and the
 *                                    executable lookup. Either way the last calls capsa-init makes
 *                                    are filtered too, as under runc: prctl, setgroups, setres[ug]id,
 *                                    capset, chdir, stat (without nonewprivs), then sendto ("ready"),
 *                                    close, openat and write (the exec fifo), dup2 and execve.
 *   keyring [name]                   join a new session keyring (absent: --no-new-keyring)
 *   scheduler [policy, flags, nice, priority, runtime, deadline, period]
 *                                    process.scheduler: sched_setattr(2) after no_new_privs, while the
 *                                    capabilities are still there (runc's order)
 *   ioprio [value]                   process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, 0, class<<13|prio)
 *   mempolicy [mode|flags, node...]  linux.memoryPolicy: set_mempolicy(2), for the init and exec'd processes
 *   affinity [initial|final, cpu...] process.execCPUAffinity (exec only): "initial" is set by stage 0
 *                                    before it joins the cgroup (the process inherits it), "final" by
 *                                    the process after (runc 1.2)
 *   personality [value]              linux.personality: personality(2) as the last step before the exec
 *                                    fifo and execve (runc: after seccomp), for exec'd processes too
 *   apparmor [profile]               "exec PROFILE" into /proc/thread-self/attr/apparmor/exec (the old
 *                                    attr/exec when that is absent), as runc's aa_change_onexec
 *   selinux [label]                  the label into /proc/thread-self/attr/keycreate before the session
 *                                    keyring and attr/exec before execve (go-selinux's SetKeyLabel and
 *                                    SetExecLabel); Java sends these two only when the LSM is enabled
 *   oomscoreadj [n]
 *   console [socket path]            process.terminal: a pty from the container's /dev/ptmx; the
 *                                    slave is stdio and controlling tty, the master goes to the
 *                                    socket (SCM_RIGHTS, data "/dev/ptmx", as runc's utils.SendFd)
 *   consolesize [rows, cols]         TIOCSWINSZ on the pty
 *   consolemount []                  bind the pty slave on /dev/console (create, as runc)
 *   preservefds [pid, fd...]         stage 0 copies these descriptors of process pid (the capsa JVM)
 *                                    with pidfd_getfd; they become 3, 4, ... of the process
 *   join [pid, starttime]            exec mode: join the namespaces of this process
 *   cgroupjoin [procs file...]       stage 0 writes its own pid to each cgroup.procs (v1: one per
 *                                    hierarchy; v2: one) before any setns or clone, so the init
 *                                    (or exec'd process) inherits the container's cgroup and a new
 *                                    cgroup namespace is rooted there (as runc joins before nsexec)
 *   cgroupleave [procs file...]      after the clone (or the exec fork), a stage 0 that stays as
 *                                    monitor moves itself back to these cgroups (capsa's own), so
 *                                    it does not count against the container's pids or memory
 *   hook [phase, path, timeout, argc, arg{argc}, env...]
 *                                    a config.json hook run inside the container: phase createContainer
 *                                    (after "go", before pivot_root) or startContainer (after start
 *                                    opened the fifo, before execve); timeout in seconds, 0 for none;
 *                                    argv is exactly the args (argc 0: the path alone), envp the env
 *   hookstate [phase, prefix, suffix] the state JSON the hooks of phase get on stdin: prefix, the
 *                                    init's pid in the host's pid namespace, suffix
 *   timeoffsets [monotonic secs, nsecs, boottime secs, nsecs]
 *                                    with CLONE_NEWTIME in clone: stage 0 unshares the time namespace
 *                                    (clone cannot take the flag) and writes /proc/self/timens_offsets
 *   joineduserns []                  a setns path is a user namespace: the init becomes its root
 *   fault [step, fail|kill]          tests only (Java's dev.capsa.fault.Faults): at the named step
 *                                    (fault_at below) report "error fault" and exit, or die by SIGKILL
 *   end []
 *
 * Reports (capsa-init -> Java), one line each:
 *   pid N                            the init's pid in the host's pid namespace
 *   step NAME                        a step that succeeded
 *   fault NAME                       tests only: capsa-init dies at the step NAME (plan record "fault")
 *   error STEP ERRNO DETAIL          a step that failed; the init exits
 *   sync                             waiting for "go\n" (or EOF: abort)
 *   ready                            all done; blocked on the exec fifo
 *
 * The exec fifo: start opens it for reading and reads until EOF. The init writes "0" when the
 * fifo opens, then runs the startContainer hooks; a failure there (or of execve) is written after
 * the "0" as one line of text before the init exits, so start reports it. EOF right after "0"
 * means the process runs (the descriptor is close-on-exec).
 *
 * Exec mode: stage 0 opens /proc/PID, checks the start time there (a reused pid fails), joins
 * every namespace of that process that differs from its own (user first, mnt last), and forks:
 * the child is in the container's pid namespace, applies the process records (console, user,
 * caps, ... the same functions as the init) and execs. Stage 0 reports "pid N"; the child's copy
 * of the control socket closes on execve, so EOF after "pid" means the process runs, and an
 * "error" line means it did not. In the foreground stage 0 waits for the child and exits with
 * its status (128+n for signal n); detached it exits at once.
 *
 * Processes: capsa-init (stage 0, a child of the JVM) reads the plan and clones the init
 * (stage 1) into the new namespaces. Detached, stage 0 exits at once, so the init is
 * reparented to the caller's subreaper, as with runc. In the foreground stage 0 stays as a
 * monitor: a subreaper with its stdio on /dev/null, it reaps the init and exits with its
 * status (128+n for signal n).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <termios.h>
#include <time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <unistd.h>

#define MAX_ITEMS 512

/* ---- the plan, as parsed */

struct mount_step {
    char *source, *dest, *fstype, *data;
    unsigned long flags, propagation;
    int bind, copyup;
    unsigned long long rec_set, rec_clr; /* mount_setattr(AT_RECURSIVE) attributes: rro, rnosuid, ... */
};

struct device_step {
    char *dest;
    unsigned long mode, major, minor;
    long uid, gid;
};

enum op_kind { OP_MOUNT, OP_REMOUNT, OP_DEVICE, OP_SYMLINK, OP_MKDIR };

/* one rootfs step; which members count depends on kind */
struct op {
    enum op_kind kind;
    struct mount_step mount;
    struct device_step device;
    char *target, *dest;
    unsigned long flags;
};

/* The in-container phases of config.md, in the order they run. */
enum hook_phase { HOOK_CREATE_CONTAINER, HOOK_START_CONTAINER };
static const char *const HOOK_PHASES[] = {"createContainer", "startContainer"};
#define MAX_HOOKS 64

struct hook {
    enum hook_phase phase;
    char *path;
    unsigned long timeout; /* seconds; 0: none */
    char **argv, **envp;   /* NULL-terminated */
};

struct plan {
    unsigned long clone_flags;
    int foreground;
    char *exitfile;
    char *hostname, *domainname;
    int loopback;
    unsigned long propagation, rootpropagation;
    char *rootfs;
    struct op ops[MAX_ITEMS];
    int nops;
    char *fifo;
    int sync;
    int pivot;
    char *sysctl_key[MAX_ITEMS], *sysctl_value[MAX_ITEMS];
    int nsysctls;
    char *masked[MAX_ITEMS];
    int nmasked;
    char *readonly[MAX_ITEMS];
    int nreadonly;
    int rootreadonly;
    char *args[MAX_ITEMS + 1];
    int nargs;
    char *env[MAX_ITEMS + 1];
    int nenv;
    char *cwd;
    int defaulthome;
    long uid, gid, umask_value;
    gid_t groups[MAX_ITEMS];
    int ngroups;
    int nrlimits;
    int rlimit_resource[64];
    unsigned long long rlimit_soft[64], rlimit_hard[64];
    char *rlimit_field[64];
    char *sysctl_field[MAX_ITEMS];
    int has_sched;
    unsigned long long sched_policy, sched_flags, sched_priority, sched_runtime, sched_deadline, sched_period;
    long sched_nice;
    int has_ioprio;
    unsigned long long ioprio;
    int has_personality;
    unsigned long long personality;
    int has_mempolicy;
    unsigned long long mempolicy_mode;
    unsigned long mempolicy_nodes[CPU_SETSIZE / (8 * sizeof(unsigned long))];
    unsigned long mempolicy_maxnode;
    int has_affinity_initial, has_affinity_final;
    cpu_set_t affinity_initial, affinity_final;
    char *apparmor, *selinux;
    int has_caps;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int nonewprivs;
    char *seccomp_bpf;                /* NULL: no filter */
    size_t seccomp_len;
    unsigned long seccomp_flags;
    char *keyring;
    char *oomscoreadj;
    /* exec mode: join the namespaces of this process (pid, start time) instead of cloning */
    int join;
    long join_pid;
    unsigned long long join_start;
    /* process.terminal: the socket that gets the pty master; console size; bind it on /dev/console */
    char *console;
    int console_mount;
    unsigned long console_rows, console_cols;
    /* descriptors of process preserve_pid that become 3, 4, ... of the process */
    long preserve_pid;
    int preserve_from[MAX_ITEMS];
    int npreserve;
    /* user namespace: the uid_map and gid_map text stage 0 writes for the init */
    char *uidmap, *gidmap;
    /* existing namespaces stage 0 joins before the clone */
    char *nspath[16];
    int nnspaths;
    char *joined_pidns; /* one of nspath, when it was a pid namespace */
    int joined_userns;  /* a user namespace is among nspath: the init becomes its root */
    /* CLONE_NEWTIME: stage 0 unshares it (clone cannot: 0x80 is in the exit signal's byte) and
       writes these offsets before the init enters it */
    int timeoffsets;
    long long mono_secs, mono_nsecs, boot_secs, boot_nsecs;
    /* cgroup.procs files stage 0 joins before the clone, and leaves for after it */
    char *cgroup_join[32], *cgroup_leave[32];
    int ncgroup_join, ncgroup_leave;
    /* config.json hooks that run inside the container, and their state JSON around the init's pid */
    struct hook hooks[MAX_HOOKS];
    int nhooks;
    char *hookstate_prefix[2], *hookstate_suffix[2];
    /* a test's fault: the step's name and whether to die (1) or fail (0) there */
    char *fault_step;
    int fault_kill;
};

static struct plan plan;
static int control = -1; /* the socket to Java */
static int console_socket = -1; /* connected by stage 0, used by the process stage */
static int preserved[MAX_ITEMS]; /* copies of the preserved descriptors, close-on-exec, above 2+npreserve */
static int session_made;          /* setsid() already done (the console needs it first) */

/* ---- reporting */

static void send_line(const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (n > (int)sizeof buf - 2) {
        n = sizeof buf - 2;
    }
    for (int i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            buf[i] = ' ';
        }
    }
    buf[n++] = '\n';
    const char *p = buf;
    while (n > 0 && control >= 0) {
        ssize_t w = send(control, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        p += w;
        n -= w;
    }
}

/* An error of one step: what Java turns into an exception. Returns -1 for "return fail(...)". */
static int fail(const char *step, int err, const char *fmt, ...) {
    char detail[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (control >= 0) {
        send_line("error %s %d %s", step, err, detail);
    } else {
        fprintf(stderr, "capsa-init: %s: %s: %s\n", step, detail, strerror(err));
    }
    return -1;
}

static void step_ok(const char *step) {
    send_line("step %s", step);
}

/*
 * A test's fault at one of the steps FaultStep lists as INIT_*: SIGKILL, or the step fails with
 * "fault injected at step NAME" (-1). The init of a new pid namespace ignores a SIGKILL it sends
 * itself (pid_namespaces(7)): it ends with _exit(137) then, as abruptly, without any cleanup.
 */
static int fault_at(const char *step) {
    if (!plan.fault_step || strcmp(plan.fault_step, step) != 0) {
        return 0;
    }
    if (plan.fault_kill) {
        send_line("fault %s", step); /* so that the test knows the step was reached */
        raise(SIGKILL);
        _exit(128 + SIGKILL);
    }
    return fail("fault", 0, "fault injected at step %s", step);
}

/* ---- reading the plan */

static char inbuf[65536];
static size_t inlen, inpos;

static int read_byte(void) {
    if (inpos == inlen) {
        ssize_t r;
        do {
            r = read(control, inbuf, sizeof inbuf);
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
            return -1;
        }
        inlen = (size_t)r;
        inpos = 0;
    }
    return (unsigned char)inbuf[inpos++];
}

/* Reads up to (not including) the byte stop; returns the text, malloc'd. */
static char *read_until(int stop, size_t max) {
    size_t cap = 64, n = 0;
    char *s = malloc(cap);
    if (!s) {
        return NULL;
    }
    for (;;) {
        int c = read_byte();
        if (c < 0 || n >= max) {
            free(s);
            return NULL;
        }
        if (c == stop) {
            break;
        }
        if (n + 1 >= cap) {
            cap *= 2;
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        s[n++] = (char)c;
    }
    s[n] = 0;
    return s;
}

static size_t field_len; /* the length of the field read_field returned last (binary fields) */

static char *read_field(void) {
    char *len_text = read_until(':', 20);
    if (!len_text) {
        return NULL;
    }
    char *end;
    errno = 0;
    unsigned long len = strtoul(len_text, &end, 10);
    if (errno || *end || end == len_text || len > (1UL << 24)) {
        free(len_text);
        return NULL;
    }
    free(len_text);
    char *s = malloc(len + 1);
    if (!s) {
        return NULL;
    }
    for (unsigned long i = 0; i < len; i++) {
        int c = read_byte();
        if (c < 0) {
            free(s);
            return NULL;
        }
        s[i] = (char)c;
    }
    s[len] = 0;
    if (read_byte() != '\n') {
        free(s);
        return NULL;
    }
    field_len = len;
    return s;
}

static int parse_num(const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    if (!s || !*s) {
        return -1;
    }
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int parse_signed(const char *s, long *out) {
    char *end;
    errno = 0;
    if (!s || !*s) {
        return -1;
    }
    *out = strtol(s, &end, 10);
    return errno || *end ? -1 : 0;
}

#define NEED(n) do { if (nf != (n)) return fail("plan", EINVAL, "record %s needs %d fields", tag, (n)); } while (0)
#define NUM(i, dst) do { unsigned long long v_; \
        if (parse_num(f[i], &v_)) return fail("plan", EINVAL, "record %s: bad number %s", tag, f[i]); \
        (dst) = v_; } while (0)
#define ROOM(count) do { if ((count) >= MAX_ITEMS) return fail("plan", E2BIG, "too many %s records", tag); } while (0)

static int hook_phase_of(const char *name) {
    for (int i = 0; i < 2; i++) {
        if (!strcmp(name, HOOK_PHASES[i])) {
            return i;
        }
    }
    return -1;
}

/* hook [phase, path, timeout, argc, arg..., env...] */
static int read_hook(const char *tag, char **f, int nf) {
    unsigned long long argc;
    if (nf < 4 || parse_num(f[3], &argc) || argc > (unsigned long long)(nf - 4)) {
        return fail("plan", EINVAL, "record %s: needs phase, path, timeout, argc and argc args", tag);
    }
    if (plan.nhooks >= MAX_HOOKS) {
        return fail("plan", E2BIG, "too many %s records", tag);
    }
    struct hook *h = &plan.hooks[plan.nhooks];
    int phase = hook_phase_of(f[0]);
    if (phase < 0) {
        return fail("plan", EINVAL, "record %s: unknown phase %s", tag, f[0]);
    }
    h->phase = (enum hook_phase)phase;
    h->path = f[1];
    NUM(2, h->timeout);
    int nenv = nf - 4 - (int)argc;
    h->argv = calloc(argc + 2, sizeof(char *));
    h->envp = calloc((size_t)nenv + 1, sizeof(char *));
    if (!h->argv || !h->envp) {
        return fail("plan", ENOMEM, "record %s", tag);
    }
    if (argc == 0) {
        h->argv[0] = h->path; /* config.md: args absent, argv is the path alone */
    }
    for (int i = 0; i < (int)argc; i++) {
        h->argv[i] = f[4 + i];
    }
    for (int i = 0; i < nenv; i++) {
        h->envp[i] = f[4 + (int)argc + i];
    }
    plan.nhooks++;
    return 0;
}

static int read_plan(void) {
    int seen_version = 0;
    for (;;) {
        char *header = read_until('\n', 64);
        if (!header) {
            return fail("plan", EPROTO, "truncated plan");
        }
        char *space = strchr(header, ' ');
        if (!space) {
            return fail("plan", EPROTO, "bad record header");
        }
        *space = 0;
        char *tag = header;
        unsigned long long nf_ull;
        if (parse_num(space + 1, &nf_ull) || nf_ull > MAX_ITEMS) {
            return fail("plan", EPROTO, "bad field count in %s", tag);
        }
        int nf = (int)nf_ull;
        char *f[MAX_ITEMS];
        size_t flen[MAX_ITEMS];
        for (int i = 0; i < nf; i++) {
            f[i] = read_field();
            flen[i] = field_len;
            if (!f[i]) {
                return fail("plan", EPROTO, "bad field %d of record %s", i, tag);
            }
        }
        if (!seen_version && strcmp(tag, "version") != 0) {
            return fail("plan", EPROTO, "plan does not start with its version");
        }
        if (!strcmp(tag, "version")) {
            NEED(1);
            if (strcmp(f[0], "1") != 0) {
                return fail("plan", EPROTO, "plan version %s, this capsa-init reads 1", f[0]);
            }
            seen_version = 1;
        } else if (!strcmp(tag, "clone")) {
            NEED(1);
            NUM(0, plan.clone_flags);
        } else if (!strcmp(tag, "foreground")) {
            NEED(1);
            NUM(0, plan.foreground);
        } else if (!strcmp(tag, "exitfile")) {
            NEED(1);
            plan.exitfile = f[0];
        } else if (!strcmp(tag, "hostname")) {
            NEED(1);
            plan.hostname = f[0];
        } else if (!strcmp(tag, "domainname")) {
            NEED(1);
            plan.domainname = f[0];
        } else if (!strcmp(tag, "loopback")) {
            plan.loopback = 1;
        } else if (!strcmp(tag, "propagation")) {
            NEED(1);
            NUM(0, plan.propagation);
        } else if (!strcmp(tag, "rootpropagation")) {
            NEED(1);
            NUM(0, plan.rootpropagation);
        } else if (!strcmp(tag, "rootfs")) {
            NEED(1);
            plan.rootfs = f[0];
        } else if (!strcmp(tag, "mount")) {
            if (nf != 8 && nf != 10) {
                return fail("plan", EINVAL, "record %s needs 8 or 10 fields", tag);
            }
            ROOM(plan.nops);
            plan.ops[plan.nops].kind = OP_MOUNT;
            struct mount_step *m = &plan.ops[plan.nops++].mount;
            m->source = f[0];
            m->dest = f[1];
            m->fstype = f[2];
            NUM(3, m->flags);
            m->data = f[4];
            NUM(5, m->bind);
            NUM(6, m->propagation);
            NUM(7, m->copyup);
            if (nf == 10) {
                NUM(8, m->rec_set);
                NUM(9, m->rec_clr);
            }
        } else if (!strcmp(tag, "device")) {
            NEED(6);
            ROOM(plan.nops);
            plan.ops[plan.nops].kind = OP_DEVICE;
            struct device_step *d = &plan.ops[plan.nops++].device;
            d->dest = f[0];
            NUM(1, d->mode);
            NUM(2, d->major);
            NUM(3, d->minor);
            NUM(4, d->uid);
            NUM(5, d->gid);
        } else if (!strcmp(tag, "symlink")) {
            NEED(2);
            ROOM(plan.nops);
            plan.ops[plan.nops].kind = OP_SYMLINK;
            plan.ops[plan.nops].target = f[0];
            plan.ops[plan.nops++].dest = f[1];
        } else if (!strcmp(tag, "mkdir")) {
            NEED(1);
            ROOM(plan.nops);
            plan.ops[plan.nops].kind = OP_MKDIR;
            plan.ops[plan.nops++].dest = f[0];
        } else if (!strcmp(tag, "remount")) {
            NEED(2);
            ROOM(plan.nops);
            plan.ops[plan.nops].kind = OP_REMOUNT;
            plan.ops[plan.nops].dest = f[0];
            NUM(1, plan.ops[plan.nops].flags);
            plan.nops++;
        } else if (!strcmp(tag, "fifo")) {
            NEED(1);
            plan.fifo = f[0];
        } else if (!strcmp(tag, "sync")) {
            plan.sync = 1;
        } else if (!strcmp(tag, "pivot")) {
            NEED(1);
            NUM(0, plan.pivot);
        } else if (!strcmp(tag, "sysctl")) {
            if (nf != 2 && nf != 3) {
                return fail("plan", EINVAL, "record %s needs 2 or 3 fields", tag);
            }
            ROOM(plan.nsysctls);
            plan.sysctl_field[plan.nsysctls] = nf == 3 ? f[2] : NULL;
            plan.sysctl_key[plan.nsysctls] = f[0];
            plan.sysctl_value[plan.nsysctls++] = f[1];
        } else if (!strcmp(tag, "masked")) {
            NEED(1);
            ROOM(plan.nmasked);
            plan.masked[plan.nmasked++] = f[0];
        } else if (!strcmp(tag, "readonly")) {
            NEED(1);
            ROOM(plan.nreadonly);
            plan.readonly[plan.nreadonly++] = f[0];
        } else if (!strcmp(tag, "rootreadonly")) {
            plan.rootreadonly = 1;
        } else if (!strcmp(tag, "arg")) {
            NEED(1);
            ROOM(plan.nargs);
            plan.args[plan.nargs++] = f[0];
        } else if (!strcmp(tag, "env")) {
            NEED(1);
            ROOM(plan.nenv);
            plan.env[plan.nenv++] = f[0];
        } else if (!strcmp(tag, "defaulthome")) {
            plan.defaulthome = 1;
        } else if (!strcmp(tag, "cwd")) {
            NEED(1);
            plan.cwd = f[0];
        } else if (!strcmp(tag, "user")) {
            NEED(3);
            NUM(0, plan.uid);
            NUM(1, plan.gid);
            if (parse_signed(f[2], &plan.umask_value)) {
                return fail("plan", EINVAL, "record user: bad umask %s", f[2]);
            }
        } else if (!strcmp(tag, "groups")) {
            plan.ngroups = nf;
            for (int i = 0; i < nf; i++) {
                NUM(i, plan.groups[i]);
            }
        } else if (!strcmp(tag, "rlimit")) {
            if (nf != 3 && nf != 4) {
                return fail("plan", EINVAL, "record %s needs 3 or 4 fields", tag);
            }
            if (plan.nrlimits >= 64) {
                return fail("plan", E2BIG, "too many rlimit records");
            }
            plan.rlimit_field[plan.nrlimits] = nf == 4 ? f[3] : NULL;
            NUM(0, plan.rlimit_resource[plan.nrlimits]);
            NUM(1, plan.rlimit_soft[plan.nrlimits]);
            NUM(2, plan.rlimit_hard[plan.nrlimits]);
            plan.nrlimits++;
        } else if (!strcmp(tag, "caps")) {
            NEED(5);
            plan.has_caps = 1;
            NUM(0, plan.cap_bounding);
            NUM(1, plan.cap_effective);
            NUM(2, plan.cap_permitted);
            NUM(3, plan.cap_inheritable);
            NUM(4, plan.cap_ambient);
        } else if (!strcmp(tag, "keyring")) {
            NEED(1);
            plan.keyring = f[0];
        } else if (!strcmp(tag, "oomscoreadj")) {
            NEED(1);
            plan.oomscoreadj = f[0];
        } else if (!strcmp(tag, "scheduler")) {
            NEED(7);
            plan.has_sched = 1;
            NUM(0, plan.sched_policy);
            NUM(1, plan.sched_flags);
            if (parse_signed(f[2], &plan.sched_nice)) {
                return fail("plan", EINVAL, "record %s: bad nice %s", tag, f[2]);
            }
            NUM(3, plan.sched_priority);
            NUM(4, plan.sched_runtime);
            NUM(5, plan.sched_deadline);
            NUM(6, plan.sched_period);
        } else if (!strcmp(tag, "ioprio")) {
            NEED(1);
            plan.has_ioprio = 1;
            NUM(0, plan.ioprio);
        } else if (!strcmp(tag, "personality")) {
            NEED(1);
            plan.has_personality = 1;
            NUM(0, plan.personality);
        } else if (!strcmp(tag, "mempolicy")) {
            if (nf < 1) {
                return fail("plan", EINVAL, "record %s needs a mode", tag);
            }
            plan.has_mempolicy = 1;
            NUM(0, plan.mempolicy_mode);
            for (int i = 1; i < nf; i++) {
                unsigned long node;
                NUM(i, node);
                if (node >= CPU_SETSIZE) {
                    return fail("plan", EINVAL, "record %s: node %lu is out of range", tag, node);
                }
                plan.mempolicy_nodes[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
                if (node + 2 > plan.mempolicy_maxnode) {
                    plan.mempolicy_maxnode = node + 2; /* set_mempolicy reads maxnode - 1 bits */
                }
            }
        } else if (!strcmp(tag, "affinity")) {
            if (nf < 2 || (strcmp(f[0], "initial") != 0 && strcmp(f[0], "final") != 0)) {
                return fail("plan", EINVAL, "record %s needs initial or final and a cpu", tag);
            }
            int initial = !strcmp(f[0], "initial");
            cpu_set_t *set = initial ? &plan.affinity_initial : &plan.affinity_final;
            CPU_ZERO(set);
            for (int i = 1; i < nf; i++) {
                unsigned long cpu;
                NUM(i, cpu);
                if (cpu >= CPU_SETSIZE) {
                    return fail("plan", EINVAL, "record %s: cpu %lu is out of range", tag, cpu);
                }
                CPU_SET(cpu, set);
            }
            *(initial ? &plan.has_affinity_initial : &plan.has_affinity_final) = 1;
        } else if (!strcmp(tag, "apparmor")) {
            NEED(1);
            plan.apparmor = f[0];
        } else if (!strcmp(tag, "selinux")) {
            NEED(1);
            plan.selinux = f[0];
        } else if (!strcmp(tag, "nonewprivs")) {
            plan.nonewprivs = 1;
        } else if (!strcmp(tag, "seccomp")) {
            NEED(2);
            if (flen[0] == 0 || flen[0] % sizeof(struct sock_filter) != 0
                || flen[0] / sizeof(struct sock_filter) > BPF_MAXINSNS) {
                return fail("plan", EINVAL, "record seccomp: %zu bytes is not a filter program", flen[0]);
            }
            plan.seccomp_bpf = f[0];
            plan.seccomp_len = flen[0];
            NUM(1, plan.seccomp_flags);
        } else if (!strcmp(tag, "join")) {
            NEED(2);
            plan.join = 1;
            NUM(0, plan.join_pid);
            NUM(1, plan.join_start);
        } else if (!strcmp(tag, "console")) {
            NEED(1);
            plan.console = f[0];
        } else if (!strcmp(tag, "consolesize")) {
            NEED(2);
            NUM(0, plan.console_rows);
            NUM(1, plan.console_cols);
        } else if (!strcmp(tag, "consolemount")) {
            plan.console_mount = 1;
        } else if (!strcmp(tag, "preservefds")) {
            if (nf < 1) {
                return fail("plan", EINVAL, "record %s needs a pid", tag);
            }
            NUM(0, plan.preserve_pid);
            for (int i = 1; i < nf; i++) {
                NUM(i, plan.preserve_from[plan.npreserve]);
                plan.npreserve++;
            }
        } else if (!strcmp(tag, "uidmap")) {
            NEED(1);
            plan.uidmap = f[0];
        } else if (!strcmp(tag, "gidmap")) {
            NEED(1);
            plan.gidmap = f[0];
        } else if (!strcmp(tag, "timeoffsets")) {
            NEED(4);
            long v[4];
            for (int i = 0; i < 4; i++) {
                if (parse_signed(f[i], &v[i])) {
                    return fail("plan", EINVAL, "record %s: bad number %s", tag, f[i]);
                }
            }
            plan.timeoffsets = 1;
            plan.mono_secs = v[0];
            plan.mono_nsecs = v[1];
            plan.boot_secs = v[2];
            plan.boot_nsecs = v[3];
        } else if (!strcmp(tag, "joineduserns")) {
            plan.joined_userns = 1;
        } else if (!strcmp(tag, "setns")) {
            NEED(1);
            if (plan.nnspaths >= 16) {
                return fail("plan", E2BIG, "too many setns records");
            }
            plan.nspath[plan.nnspaths++] = f[0];
        } else if (!strcmp(tag, "cgroupjoin") || !strcmp(tag, "cgroupleave")) {
            int leave = !strcmp(tag, "cgroupleave");
            if (nf > 32) {
                return fail("plan", E2BIG, "record %s: too many cgroup files", tag);
            }
            for (int i = 0; i < nf; i++) {
                (leave ? plan.cgroup_leave : plan.cgroup_join)[i] = f[i];
            }
            *(leave ? &plan.ncgroup_leave : &plan.ncgroup_join) = nf;
        } else if (!strcmp(tag, "hook")) {
            if (read_hook(tag, f, nf) < 0) {
                return -1;
            }
        } else if (!strcmp(tag, "hookstate")) {
            NEED(3);
            int phase = hook_phase_of(f[0]);
            if (phase < 0) {
                return fail("plan", EINVAL, "record %s: unknown phase %s", tag, f[0]);
            }
            plan.hookstate_prefix[phase] = f[1];
            plan.hookstate_suffix[phase] = f[2];
        } else if (!strcmp(tag, "fault")) {
            NEED(2);
            plan.fault_step = f[0];
            plan.fault_kill = !strcmp(f[1], "kill");
        } else if (!strcmp(tag, "end")) {
            break;
        } else {
            return fail("plan", EPROTO, "unknown record %s", tag);
        }
        free(header);
    }
    if (plan.nargs == 0 || (!plan.join && (!plan.rootfs || !plan.fifo))) {
        return fail("plan", EINVAL, "plan lacks rootfs, args or fifo");
    }
    plan.args[plan.nargs] = NULL;
    plan.env[plan.nenv] = NULL;
    return 0;
}

/* ---- sealed copy of ourselves (runc CVE-2019-5736): run from a sealed memfd, never the file */

static int run_from_sealed_copy(char **argv) {
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0) {
        return fail("seal", errno, "/proc/self/exe");
    }
    int seals = fcntl(exe, F_GET_SEALS);
    if (seals >= 0 && (seals & F_SEAL_WRITE)) {
        close(exe);
        return 0; /* already the sealed copy */
    }
    int mem = memfd_create("capsa-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mem < 0) {
        close(exe);
        return fail("seal", errno, "memfd_create");
    }
    struct stat st;
    if (fstat(exe, &st) < 0) {
        return fail("seal", errno, "/proc/self/exe");
    }
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = sendfile(mem, exe, NULL, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return fail("seal", n < 0 ? errno : EIO, "copy of /proc/self/exe");
        }
        left -= n;
    }
    close(exe);
    if (fcntl(mem, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        return fail("seal", errno, "memfd");
    }
    char *envp[] = {NULL};
    fexecve(mem, argv, envp);
    return fail("seal", errno, "fexecve of the sealed copy");
}

/* ---- resolving paths inside the rootfs */

static long openat2_fd(int dirfd, const char *path, int flags) {
    struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof how);
}

enum make { MAKE_NONE, MAKE_DIR, MAKE_FILE };

/*
 * Creates the missing components of path inside root (the last one as a dir or a file), never
 * leaving root: each existing component is looked up with openat2(RESOLVE_IN_ROOT), and a
 * dangling symlink is followed by rewriting the path, as if root were "/" (what runc's
 * securejoin does).
 */
static int make_in_root(int root, const char *path, enum make kind) {
    char cur[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (int loops = 0; loops < 40; loops++) {
        char prefix[PATH_MAX] = "";
        char *comps[PATH_MAX / 2];
        int n = 0;
        char work[PATH_MAX];
        strcpy(work, cur);
        for (char *save = NULL, *c = strtok_r(work, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
            comps[n++] = c;
        }
        int restarted = 0;
        for (int i = 0; i < n && !restarted; i++) {
            char next[PATH_MAX];
            if (snprintf(next, sizeof next, "%s/%s", prefix, comps[i]) >= (int)sizeof next) {
                errno = ENAMETOOLONG;
                return -1;
            }
            long fd = openat2_fd(root, next, O_PATH);
            if (fd >= 0) {
                close((int)fd);
                strcpy(prefix, next);
                continue;
            }
            if (errno != ENOENT) {
                return -1;
            }
            long parent = openat2_fd(root, prefix, O_PATH | O_DIRECTORY);
            if (parent < 0) {
                return -1;
            }
            int r;
            if (i == n - 1 && kind == MAKE_FILE) {
                r = openat((int)parent, comps[i], O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
                if (r >= 0) {
                    close(r);
                    r = 0;
                }
            } else {
                r = mkdirat((int)parent, comps[i], 0755);
            }
            if (r != 0 && errno == EEXIST) {
                if ((fd = openat2_fd(root, next, O_PATH)) >= 0) {
                    /* made meanwhile by another container on the same rootfs: it resolves now */
                    close((int)fd);
                    r = 0;
                } else {
                    errno = EEXIST; /* there, and does not resolve: a dangling symlink, below */
                }
            }
            if (r == 0 || errno != EEXIST) {
                int saved = errno;
                close((int)parent);
                if (r != 0) {
                    errno = saved;
                    return -1;
                }
                strcpy(prefix, next);
                continue;
            }
            /* it exists but does not resolve: a dangling symlink; follow it inside root */
            char target[PATH_MAX];
            ssize_t len = readlinkat((int)parent, comps[i], target, sizeof target - 1);
            int saved = errno;
            close((int)parent);
            if (len < 0) {
                errno = saved == EINVAL ? EEXIST : saved;
                return -1;
            }
            target[len] = 0;
            char rest[PATH_MAX] = "";
            for (int j = i + 1; j < n; j++) {
                strncat(rest, "/", sizeof rest - strlen(rest) - 1);
                strncat(rest, comps[j], sizeof rest - strlen(rest) - 1);
            }
            char rewritten[PATH_MAX];
            int w = target[0] == '/' ? snprintf(rewritten, sizeof rewritten, "%s%s", target, rest)
                                     : snprintf(rewritten, sizeof rewritten, "%s/%s%s", prefix, target, rest);
            if (w >= (int)sizeof rewritten) {
                errno = ENAMETOOLONG;
                return -1;
            }
            strcpy(cur, rewritten);
            restarted = 1;
        }
        if (!restarted) {
            return 0;
        }
    }
    errno = ELOOP;
    return -1;
}

/* An O_PATH fd for path inside root, creating it first when kind says so. */
static int open_in_root(int root, const char *path, enum make kind) {
    long fd = openat2_fd(root, path, O_PATH);
    if (fd < 0 && errno == ENOENT && kind != MAKE_NONE) {
        if (make_in_root(root, path, kind) < 0) {
            return -1;
        }
        fd = openat2_fd(root, path, O_PATH);
    }
    return (int)fd;
}

static void fd_path(int fd, char *buf, size_t size) {
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* ---- the steps of the init, each returning 0 or -1 after fail() */

static int step_hostname(void) {
    if (plan.hostname && sethostname(plan.hostname, strlen(plan.hostname)) < 0) {
        return fail("sethostname", errno, "%s", plan.hostname);
    }
    if (plan.domainname && setdomainname(plan.domainname, strlen(plan.domainname)) < 0) {
        return fail("setdomainname", errno, "%s", plan.domainname);
    }
    return 0;
}

static int step_loopback(void) {
    if (!plan.loopback) {
        return 0;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return fail("loopback", errno, "socket");
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        close(s);
        return fail("loopback", errno, "SIOCGIFFLAGS lo");
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        close(s);
        return fail("loopback", errno, "SIOCSIFFLAGS lo");
    }
    close(s);
    step_ok("loopback");
    return 0;
}

/*
 * runc's rootfsParentMountPrivate: the mount that holds the rootfs becomes private (in our mount
 * namespace), so that the rootfs bind below is private too and pivot_root accepts it (it refuses
 * a shared parent); needed when rootfsPropagation made "/" shared.
 */
static int parent_mount_private(void) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) {
        return fail("open", errno, "/proc/self/mountinfo");
    }
    char line[4096], best[PATH_MAX] = "/";
    size_t best_len = 1;
    while (fgets(line, sizeof line, f)) {
        char point[PATH_MAX];
        /* id parent major:minor root mountpoint ... */
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1) {
            continue;
        }
        size_t n = strlen(point);
        int covers = !strcmp(point, "/") || (!strncmp(plan.rootfs, point, n) && plan.rootfs[n] == '/');
        if (covers && n >= best_len) {
            snprintf(best, sizeof best, "%s", point);
            best_len = n;
        }
    }
    fclose(f);
    if (mount(NULL, best, NULL, MS_PRIVATE, NULL) < 0) {
        return fail("mount", errno, "make %s, the mount that holds the rootfs, private", best);
    }
    return 0;
}

static int step_rootfs(int *root_out) {
    if (mount(NULL, "/", NULL, plan.propagation ? plan.propagation : MS_SLAVE | MS_REC, NULL) < 0) {
        return fail("mount", errno, "propagation of /");
    }
    /* pivot_root needs the new root to be a mount point whose parent is not shared */
    if ((plan.propagation & MS_SHARED) && parent_mount_private() < 0) {
        return -1;
    }
    if (mount(plan.rootfs, plan.rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        return fail("mount", errno, "bind %s", plan.rootfs);
    }
    int root = open(plan.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return fail("open", errno, "rootfs %s", plan.rootfs);
    }
    *root_out = root;
    step_ok("rootfs");
    return 0;
}

/* The flags of the mount under fd, as MS_* bits, so a remount keeps nosuid, nodev, ... */
static unsigned long mount_flags_of(const char *path) {
    struct statvfs sv;
    if (statvfs(path, &sv) < 0) {
        return 0;
    }
    unsigned long flags = 0;
    if (sv.f_flag & ST_RDONLY) flags |= MS_RDONLY;
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

/*
 * tmpcopyup: copies the entries of directory src into directory dst (the new tmpfs), keeping types,
 * modes and owners. Every name is opened relative to its parent with O_NOFOLLOW, so a symlink in
 * the image is copied as a symlink and never followed out of the rootfs. Hard links become copies.
 */
static char copy_failed[NAME_MAX + 1]; /* the first entry that could not be copied */

/* not static: the agent mode (capsa-agent.c, linked into this binary) copies up with it too */
int capsa_copy_tree(int src, int dst, int depth);

static int copy_tree(int src, int dst, int depth) {
    if (depth > 128) {
        errno = ELOOP;
        return -1;
    }
    int listfd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (listfd < 0) {
        return -1;
    }
    DIR *d = fdopendir(listfd);
    if (!d) {
        int err = errno;
        close(listfd);
        errno = err;
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (errno = 0, e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) {
            continue;
        }
        struct stat st;
        if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = -1;
            break;
        }
        mode_t perm = st.st_mode & 07777;
        if (S_ISDIR(st.st_mode)) {
            int from = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int to = -1;
            if (from < 0 || (mkdirat(dst, name, 0700) < 0 && errno != EEXIST)
                || (to = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0
                || copy_tree(from, to, depth + 1) < 0 || fchown(to, st.st_uid, st.st_gid) < 0
                || fchmod(to, perm) < 0) {
                rc = -1;
            }
            int err = errno;
            if (from >= 0) {
                close(from);
            }
            if (to >= 0) {
                close(to);
            }
            errno = err;
        } else if (S_ISREG(st.st_mode)) {
            int from = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            int to = from < 0 ? -1 : openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (to < 0) {
                rc = -1;
            }
            for (off_t left = st.st_size; rc == 0 && left > 0;) {
                ssize_t n = sendfile(to, from, NULL, left > (1 << 30) ? (1 << 30) : (size_t)left);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    rc = -1; /* n == 0: the file shrank meanwhile; keep what was copied */
                    if (n == 0) {
                        rc = 0;
                        break;
                    }
                }
                left -= n;
            }
            /* chown before chmod: chown clears set-id bits */
            if (rc == 0 && (fchown(to, st.st_uid, st.st_gid) < 0 || fchmod(to, perm) < 0)) {
                rc = -1;
            }
            int err = errno;
            if (from >= 0) {
                close(from);
            }
            if (to >= 0) {
                close(to);
            }
            errno = err;
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t len = readlinkat(src, name, target, sizeof target - 1);
            if (len < 0) {
                rc = -1;
            } else {
                target[len] = 0;
                if (symlinkat(target, dst, name) < 0
                    || fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
                    rc = -1;
                }
            }
        } else {
            /* device nodes, fifos, sockets: the node itself, as the image has it */
            if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0
                || fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0
                || fchmodat(dst, name, perm, 0) < 0) {
                rc = -1;
            }
        }
        if (rc < 0 && !copy_failed[0]) {
            snprintf(copy_failed, sizeof copy_failed, "%s", name);
        }
    }
    if (rc == 0 && errno != 0) {
        rc = -1;
    }
    int err = errno;
    closedir(d);
    errno = err;
    return rc;
}

static int step_mount(int root, struct mount_step *m) {
    enum make kind = MAKE_DIR;
    if (m->bind) {
        struct stat st;
        if (stat(m->source, &st) < 0) {
            return fail("mount", errno, "bind source %s", m->source);
        }
        if (!S_ISDIR(st.st_mode)) {
            kind = MAKE_FILE;
        }
    }
    int target = open_in_root(root, m->dest, kind);
    if (target < 0) {
        return fail("mount", errno, "destination %s in the rootfs", m->dest);
    }
    char tpath[64];
    fd_path(target, tpath, sizeof tpath);
    /* tmpcopyup: the image's directory, read after the tmpfs covers it */
    int lower = -1;
    struct stat lower_st;
    if (m->copyup) {
        lower = openat(target, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lower < 0 || fstat(lower, &lower_st) < 0) {
            int err = errno;
            close(target);
            if (lower >= 0) {
                close(lower);
            }
            return fail("mount", err, "tmpcopyup: %s is not a directory of the image", m->dest);
        }
    }
    int r;
    unsigned long remount = 0;
    if (m->bind) {
        r = mount(m->source, tpath, NULL, MS_BIND | (m->flags & MS_REC), NULL);
        remount = m->flags & ~(unsigned long)(MS_BIND | MS_REC);
    } else {
        /* read-only comes as a per-mount remount: a new mount of an existing superblock (sysfs or
           cgroup without their own namespace) must never turn the host's superblock read-only */
        r = mount(m->source, tpath, m->fstype, m->flags & ~(unsigned long)MS_RDONLY, *m->data ? m->data : NULL);
        remount = m->flags & MS_RDONLY ? m->flags & ~(unsigned long)MS_REC : 0;
    }
    int err = errno;
    close(target);
    if (r < 0) {
        if (lower >= 0) {
            close(lower);
        }
        return fail("mount", err, "%s on %s (%s)", m->source, m->dest, m->bind ? "bind" : m->fstype);
    }
    if (lower >= 0) {
        long upper = openat2_fd(root, m->dest, O_RDONLY | O_DIRECTORY);
        int rc = upper < 0 ? -1 : copy_tree(lower, (int)upper, 0);
        err = errno;
        /* runc: the tmpfs root gets the mode of the directory it covers */
        if (rc == 0 && (fchown((int)upper, lower_st.st_uid, lower_st.st_gid) < 0
                        || fchmod((int)upper, lower_st.st_mode & 07777) < 0)) {
            rc = -1;
            err = errno;
        }
        close(lower);
        if (upper >= 0) {
            close((int)upper);
        }
        if (rc < 0) {
            return fail("mount", err, "tmpcopyup of %s%s%s", m->dest, copy_failed[0] ? ": copying " : "",
                        copy_failed);
        }
    }
    if (remount || m->propagation) {
        /* the fd above is the dentry below the new mount: look the destination up again */
        target = open_in_root(root, m->dest, MAKE_NONE);
        if (target < 0) {
            return fail("mount", errno, "destination %s after mounting", m->dest);
        }
        fd_path(target, tpath, sizeof tpath);
        if (remount) {
            r = mount(NULL, tpath, NULL, MS_BIND | MS_REMOUNT | remount | mount_flags_of(tpath), NULL);
            if (r < 0) {
                err = errno;
                close(target);
                return fail("mount", err, "remount of %s", m->dest);
            }
        }
        if (m->propagation) {
            r = mount(NULL, tpath, NULL, m->propagation, NULL);
            if (r < 0) {
                err = errno;
                close(target);
                return fail("mount", err, "propagation of %s", m->dest);
            }
        }
        close(target);
    }
    if (m->rec_set || m->rec_clr) {
        /* the recursive options (rro, rnosuid, ...): mount_setattr on the whole tree, Linux 5.12 */
        target = open_in_root(root, m->dest, MAKE_NONE);
        if (target < 0) {
            return fail("mount", errno, "destination %s after mounting", m->dest);
        }
        struct {
            uint64_t attr_set, attr_clr, propagation, userns_fd;
        } attr = {m->rec_set, m->rec_clr, 0, 0};
        r = (int)syscall(SYS_mount_setattr, target, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
        err = errno;
        close(target);
        if (r < 0) {
            return fail("mount_setattr", err, "recursive options of %s%s", m->dest,
                        err == ENOSYS ? " (they need Linux 5.12)" : "");
        }
    }
    send_line("step mount %s", m->dest);
    return 0;
}

/* The parent directory of dest inside root (created) and the last component. */
static int open_parent(int root, const char *dest, const char **base) {
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dest);
    char *slash = strrchr(parent, '/');
    if (!slash || !slash[1]) {
        errno = EINVAL;
        return -1;
    }
    *base = dest + (slash - parent) + 1;
    *slash = 0;
    return open_in_root(root, parent, MAKE_DIR);
}

static int step_device(int root, struct device_step *d) {
    const char *base;
    int dir = open_parent(root, d->dest, &base);
    if (dir < 0) {
        return fail("mknod", errno, "parent of %s in the rootfs", d->dest);
    }
    unlinkat(dir, base, 0);
    /* the O_PATH dir fd cannot be used by mknodat: go through its /proc path */
    char dpath[64];
    fd_path(dir, dpath, sizeof dpath);
    int real = open(dpath, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    close(dir);
    if (real < 0) {
        return fail("mknod", errno, "parent of %s", d->dest);
    }
    if (mknodat(real, base, (mode_t)d->mode, makedev(d->major, d->minor)) < 0) {
        int err = errno;
        close(real);
        return fail("mknod", err, "%s", d->dest);
    }
    if (fchownat(real, base, (uid_t)d->uid, (gid_t)d->gid, AT_SYMLINK_NOFOLLOW) < 0) {
        int err = errno;
        close(real);
        return fail("chown", err, "%s", d->dest);
    }
    close(real);
    return 0;
}

static int step_symlink(int root, const char *target, const char *dest) {
    const char *base;
    int dir = open_parent(root, dest, &base);
    if (dir < 0) {
        return fail("symlink", errno, "parent of %s in the rootfs", dest);
    }
    char dpath[64];
    fd_path(dir, dpath, sizeof dpath);
    int real = open(dpath, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    close(dir);
    if (real < 0) {
        return fail("symlink", errno, "parent of %s", dest);
    }
    if (symlinkat(target, real, base) < 0 && errno != EEXIST) {
        int err = errno;
        close(real);
        return fail("symlink", err, "%s -> %s", dest, target);
    }
    close(real);
    return 0;
}

static int step_remount(int root, const char *dest, unsigned long flags) {
    int target = open_in_root(root, dest, MAKE_NONE);
    if (target < 0) {
        return fail("mount", errno, "remount of %s: not found in the rootfs", dest);
    }
    char tpath[64];
    fd_path(target, tpath, sizeof tpath);
    int r = mount(NULL, tpath, NULL, MS_BIND | MS_REMOUNT | flags | mount_flags_of(tpath), NULL);
    int err = errno;
    close(target);
    return r < 0 ? fail("mount", err, "remount of %s", dest) : 0;
}

static int step_rootfs_ops(int root) {
    umask(0); /* device nodes get exactly the plan's modes */
    for (int i = 0; i < plan.nops; i++) {
        struct op *op = &plan.ops[i];
        int r = 0;
        switch (op->kind) {
        case OP_MOUNT:
            r = step_mount(root, &op->mount);
            break;
        case OP_REMOUNT:
            r = step_remount(root, op->dest, op->flags);
            break;
        case OP_DEVICE:
            r = step_device(root, &op->device);
            break;
        case OP_SYMLINK:
            r = step_symlink(root, op->target, op->dest);
            break;
        case OP_MKDIR: {
            int fd = open_in_root(root, op->dest, MAKE_DIR);
            if (fd < 0) {
                r = fail("mkdir", errno, "%s in the rootfs", op->dest);
            } else {
                close(fd);
            }
            break;
        }
        }
        if (r < 0) {
            return -1;
        }
    }
    umask(022);
    step_ok("rootfs steps");
    return 0;
}

/* Waits for Java's "go": it runs the createRuntime hooks while the mounts exist, before pivot_root. */
static int step_sync(void) {
    if (!plan.sync) {
        return 0;
    }
    send_line("sync");
    char buf[3];
    size_t got = 0;
    while (got < 3) {
        ssize_t r = read(control, buf + got, 3 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            _exit(1); /* Java gave up (a hook failed): nothing to report to */
        }
        got += (size_t)r;
    }
    if (memcmp(buf, "go\n", 3) != 0) {
        return fail("sync", EPROTO, "expected go");
    }
    return 0;
}

static int step_pivot(int root) {
    if (fchdir(root) < 0) {
        return fail("chdir", errno, "%s", plan.rootfs);
    }
    if (plan.pivot) {
        int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (oldroot < 0) {
            return fail("open", errno, "/");
        }
        /* pivot_root(".", "."): the old root ends up on top of the new one, then goes */
        if (syscall(SYS_pivot_root, ".", ".") < 0) {
            int err = errno;
            close(oldroot);
            return fail("pivot_root", err, "%s", plan.rootfs);
        }
        if (fchdir(oldroot) < 0) {
            int err = errno;
            close(oldroot);
            return fail("chdir", err, "old root");
        }
        close(oldroot);
        /* never let the unmount of the old root propagate to the host */
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) {
            return fail("mount", errno, "old root slave");
        }
        if (umount2(".", MNT_DETACH) < 0) {
            return fail("umount2", errno, "old root");
        }
    } else {
        if (mount(plan.rootfs, "/", NULL, MS_MOVE, NULL) < 0) {
            return fail("mount", errno, "move %s to /", plan.rootfs);
        }
        if (chroot(".") < 0) {
            return fail("chroot", errno, "%s", plan.rootfs);
        }
    }
    if (chdir("/") < 0) {
        return fail("chdir", errno, "/");
    }
    if (plan.rootpropagation && mount(NULL, "/", NULL, plan.rootpropagation, NULL) < 0) {
        return fail("mount", errno, "propagation of the new /");
    }
    step_ok(plan.pivot ? "pivot_root" : "chroot");
    return 0;
}

static int step_sysctls(void) {
    for (int i = 0; i < plan.nsysctls; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/proc/sys/%s", plan.sysctl_key[i]);
        const char *field = plan.sysctl_field[i] ? plan.sysctl_field[i] : "";
        int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            return fail("sysctl", errno, "%s%s%s", field, *field ? ": " : "", path);
        }
        size_t len = strlen(plan.sysctl_value[i]);
        if (write(fd, plan.sysctl_value[i], len) != (ssize_t)len) {
            int err = errno;
            close(fd);
            return fail("sysctl", err, "%s%s%s = %s", field, *field ? ": " : "", path, plan.sysctl_value[i]);
        }
        close(fd);
    }
    return 0;
}

/*
 * A masked or read-only path must resolve inside the new root without a /proc magic link: through
 * /proc/self/fd/N it would reach one of the runtime's own descriptors (the exec fifo in the state
 * directory), the runc CVE-2025-52565 class. Returns 0 when usable, 1 when missing, -1 after fail().
 */
static int check_path_in_root(const char *p, const char *what) {
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return fail("open", errno, "/");
    }
    long fd = openat2_fd(root, p, O_PATH);
    int err = errno;
    close(root);
    if (fd >= 0) {
        close((int)fd);
        return 0;
    }
    if (err == ENOENT) {
        return 1;
    }
    return fail("mount", err, "%s %s%s", what, p,
                err == ELOOP ? ": it resolves through a /proc magic link or a symlink loop" : "");
}

static int step_masks(void) {
    if (plan.nmasked > 0) {
        /* runc CVE-2025-31133: what is bound over a masked file must be the null device, not what
           a symlink or another file at /dev/null points to */
        struct stat null_st;
        errno = 0;
        if (lstat("/dev/null", &null_st) < 0 || !S_ISCHR(null_st.st_mode) || null_st.st_rdev != makedev(1, 3)) {
            return fail("mount", errno ? errno : EINVAL, "mask: /dev/null in the container is not the null device");
        }
    }
    for (int i = 0; i < plan.nmasked; i++) {
        const char *p = plan.masked[i];
        int usable = check_path_in_root(p, "mask");
        if (usable != 0) {
            if (usable < 0) {
                return -1;
            }
            continue;
        }
        if (mount("/dev/null", p, NULL, MS_BIND, NULL) == 0 || errno == ENOENT) {
            continue;
        }
        if (errno != ENOTDIR) {
            return fail("mount", errno, "mask %s", p);
        }
        if (mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0) {
            return fail("mount", errno, "mask %s", p);
        }
    }
    for (int i = 0; i < plan.nreadonly; i++) {
        const char *p = plan.readonly[i];
        int usable = check_path_in_root(p, "bind");
        if (usable != 0) {
            if (usable < 0) {
                return -1;
            }
            continue;
        }
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT) {
                continue;
            }
            return fail("mount", errno, "bind %s", p);
        }
        if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags_of(p), NULL) < 0) {
            return fail("mount", errno, "read-only remount of %s", p);
        }
    }
    if (plan.rootreadonly
        && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags_of("/"), NULL) < 0) {
        return fail("mount", errno, "read-only remount of /");
    }
    step_ok("paths");
    return 0;
}

/* Go's exec.LookPath, so the errors read as runc's */
static int executable(const char *path, int *err) {
    struct stat st;
    if (stat(path, &st) < 0) {
        *err = errno;
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        *err = EISDIR;
        return 0;
    }
    if (!(st.st_mode & 0111)) {
        *err = EACCES;
        return 0;
    }
    return 1;
}

static int look_path(const char *file, char *out, size_t size) {
    int err = 0;
    if (strchr(file, '/')) {
        if (!executable(file, &err)) {
            return fail("exec", err, "exec: \"%s\": stat %s: %s", file, file, strerror(err));
        }
        snprintf(out, size, "%s", file);
        return 0;
    }
    const char *path = "";
    for (int i = 0; i < plan.nenv; i++) {
        if (!strncmp(plan.env[i], "PATH=", 5)) {
            path = plan.env[i] + 5;
        }
    }
    const char *p = path;
    while (*path) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char cand[PATH_MAX];
        if (len == 0) {
            snprintf(cand, sizeof cand, "./%s", file);
        } else {
            snprintf(cand, sizeof cand, "%.*s/%s", (int)len, p, file);
        }
        if (executable(cand, &err)) {
            snprintf(out, size, "%s", cand);
            return 0;
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return fail("exec", ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}

static int capset_all(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    data[0].effective = (uint32_t)effective;
    data[1].effective = (uint32_t)(effective >> 32);
    data[0].permitted = (uint32_t)permitted;
    data[1].permitted = (uint32_t)(permitted >> 32);
    data[0].inheritable = (uint32_t)inheritable;
    data[1].inheritable = (uint32_t)(inheritable >> 32);
    return (int)syscall(SYS_capset, &hdr, data);
}

static int new_session(void) {
    if (!session_made && setsid() < 0) {
        return fail("setsid", errno, "process");
    }
    session_made = 1;
    return 0;
}

/*
 * process.terminal: a pty from the container's own devpts (/dev/ptmx after pivot_root or setns),
 * its slave the process's stdio and controlling terminal, its master sent to the console socket
 * as runc does (utils.SendFd: one sendmsg, the master's name "/dev/ptmx" as data, the fd as
 * SCM_RIGHTS).
 */
static int step_console(void) {
    if (!plan.console) {
        return 0;
    }
    if (new_session() < 0) {
        return -1;
    }
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) {
        return fail("console", errno, "open /dev/ptmx");
    }
    int unlock = 0, n = -1;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0) {
        int err = errno;
        close(master);
        return fail("console", err, "unlock the pty");
    }
    char slave_path[64];
    snprintf(slave_path, sizeof slave_path, "/dev/pts/%d", n);
    if (plan.console_rows && plan.console_cols) {
        struct winsize ws = {.ws_row = (unsigned short)plan.console_rows, .ws_col = (unsigned short)plan.console_cols};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0) {
            int err = errno;
            close(master);
            return fail("console", err, "TIOCSWINSZ");
        }
    }
    if (plan.console_mount) {
        int f = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (f >= 0) {
            fchmod(f, 0666);
            close(f);
        } else if (errno != EEXIST) {
            int err = errno;
            close(master);
            return fail("console", err, "create /dev/console");
        }
        if (mount(slave_path, "/dev/console", NULL, MS_BIND, NULL) < 0) {
            int err = errno;
            close(master);
            return fail("mount", err, "%s on /dev/console", slave_path);
        }
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
        sent = sendmsg(console_socket, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    int err = errno;
    close(master);
    close(console_socket);
    console_socket = -1;
    if (sent < 0) {
        return fail("console", err, "send the pty master to %s", plan.console);
    }
    int slave = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        return fail("console", errno, "open %s", slave_path);
    }
    /* runc's fixStdioPermissions: the process's user owns its terminal */
    if (fchown(slave, (uid_t)plan.uid, (gid_t)plan.gid) < 0) {
        err = errno;
        close(slave);
        return fail("console", err, "chown %s", slave_path);
    }
    for (int fd = 0; fd < 3; fd++) {
        if (dup2(slave, fd) < 0) {
            err = errno;
            close(slave);
            return fail("console", err, "dup2 %s", slave_path);
        }
    }
    close(slave);
    if (ioctl(0, TIOCSCTTY, 0) < 0) {
        return fail("console", errno, "TIOCSCTTY %s", slave_path);
    }
    step_ok("console");
    return 0;
}

/* Stage 0: copies of the caller's descriptors (pidfd_getfd, Linux 5.6), kept above 2+npreserve. */
static int take_preserved_fds(void) {
    if (plan.npreserve == 0) {
        return 0;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)plan.preserve_pid, 0);
    if (pidfd < 0) {
        return fail("pidfd_open", errno, "capsa process %ld", plan.preserve_pid);
    }
    for (int i = 0; i < plan.npreserve; i++) {
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, plan.preserve_from[i], 0);
        if (fd < 0) {
            int err = errno;
            close(pidfd);
            return fail("pidfd_getfd", err, "descriptor %d of capsa (is it open?)", plan.preserve_from[i]);
        }
        preserved[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3 + plan.npreserve);
        close(fd);
        if (preserved[i] < 0) {
            int err = errno;
            close(pidfd);
            return fail("fcntl", err, "F_DUPFD_CLOEXEC");
        }
    }
    close(pidfd);
    return 0;
}

/* Just before execve: the preserved descriptors become 3, 4, ... without close-on-exec. */
static int place_preserved_fds(void) {
    for (int i = 0; i < plan.npreserve; i++) {
        if (dup2(preserved[i], 3 + i) < 0) {
            return fail("dup2", errno, "preserved descriptor %d", 3 + i);
        }
        close(preserved[i]);
    }
    return 0;
}

/* The filter Java compiled (libseccomp's export, sock_filter[]); malloc's alignment suits it. */
static int load_seccomp(void) {
    if (!plan.seccomp_bpf) {
        return 0;
    }
    struct sock_fprog prog = {
        .len = (unsigned short)(plan.seccomp_len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)(void *)plan.seccomp_bpf,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog) < 0) {
        return fail("seccomp", errno, "load the filter (%u instructions, flags %lu)", prog.len,
                    plan.seccomp_flags);
    }
    return 0;
}

/*
 * runc's setupUser: without HOME in env, HOME is the home field of the container's /etc/passwd line
 * for the process uid, else "/". Runs after pivot_root (or the exec's setns), so the file and any
 * symlink in its path are resolved inside the container's root.
 */
/* "HOME=..." for uid into out, from /etc/passwd of the current root, else "HOME=/"; shared with
 * the agent mode (capsa-agent.c), which is linked into this binary */
void capsa_passwd_home(unsigned long long uid, char *home_env, size_t size);

static int set_default_home(void) {
    if (!plan.defaulthome) {
        return 0;
    }
    static char home_env[PATH_MAX + 6];
    capsa_passwd_home((unsigned long long)plan.uid, home_env, sizeof home_env);
    if (plan.nenv >= MAX_ITEMS) {
        return fail("env", E2BIG, "no room for HOME");
    }
    plan.env[plan.nenv++] = home_env;
    plan.env[plan.nenv] = NULL;
    return 0;
}

void capsa_passwd_home(unsigned long long uid_wanted, char *home_env, size_t size) {
    snprintf(home_env, size, "HOME=/");
    FILE *f = fopen("/etc/passwd", "re");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            /* name:password:uid:gid:gecos:home:shell */
            char *fields[7] = {0};
            int n = 0;
            char *p = line;
            line[strcspn(line, "\n")] = 0;
            while (n < 7) {
                fields[n++] = p;
                char *colon = strchr(p, ':');
                if (!colon) {
                    break;
                }
                *colon = 0;
                p = colon + 1;
            }
            unsigned long long uid;
            if (n >= 6 && parse_num(fields[2], &uid) == 0 && uid == uid_wanted) {
                snprintf(home_env, size, "HOME=%s", fields[5]);
                break;
            }
        }
        fclose(f);
    }
}

/*
 * An LSM attribute of this thread (proc(5) /proc/thread-self/attr): under LSM-specific
 * subdirectory lsm when the kernel has it, else the shared file, as libapparmor and go-selinux do.
 */
static int write_attr(const char *attr, const char *lsm, const char *value, const char *field) {
    char path[128];
    int fd = -1;
    if (lsm) {
        snprintf(path, sizeof path, "/proc/thread-self/attr/%s/%s", lsm, attr);
        fd = open(path, O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(path, sizeof path, "/proc/thread-self/attr/%s", attr);
        fd = open(path, O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        return fail("lsm", errno, "%s: %s", field, path);
    }
    size_t len = strlen(value);
    ssize_t w = write(fd, value, len);
    int err = errno;
    close(fd);
    return w == (ssize_t)len ? 0 : fail("lsm", w < 0 ? err : EIO, "%s: write %s", field, path);
}

/* struct sched_attr of sched_setattr(2), SCHED_ATTR_SIZE_VER0: glibc has no wrapper */
struct capsa_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

/*
 * The process attributes runc sets after no_new_privs and before the capabilities are dropped
 * (a realtime policy needs CAP_SYS_NICE): scheduler, I/O priority, memory policy, the final CPU
 * affinity of an exec'd process, and the AppArmor and SELinux labels for execve. Errors name the
 * config.json field.
 */
static int step_attributes(void) {
    if (plan.has_sched) {
        struct capsa_sched_attr attr = {
            .size = sizeof attr,
            .sched_policy = (uint32_t)plan.sched_policy,
            .sched_flags = plan.sched_flags,
            .sched_nice = (int32_t)plan.sched_nice,
            .sched_priority = (uint32_t)plan.sched_priority,
            .sched_runtime = plan.sched_runtime,
            .sched_deadline = plan.sched_deadline,
            .sched_period = plan.sched_period,
        };
        if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) {
            return fail("sched_setattr", errno, "/process/scheduler (policy %llu, nice %ld, priority %llu)",
                        plan.sched_policy, plan.sched_nice, plan.sched_priority);
        }
    }
    if (plan.has_ioprio && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)plan.ioprio) < 0) {
        return fail("ioprio_set", errno, "/process/ioPriority (class %llu, priority %llu)", plan.ioprio >> 13,
                    plan.ioprio & 0x1fff);
    }
    if (plan.has_mempolicy && syscall(SYS_set_mempolicy, (int)plan.mempolicy_mode,
                                      plan.mempolicy_maxnode ? plan.mempolicy_nodes : NULL,
                                      plan.mempolicy_maxnode) < 0) {
        return fail("set_mempolicy", errno, "/linux/memoryPolicy (mode and flags %#llx)", plan.mempolicy_mode);
    }
    if (plan.has_affinity_final && sched_setaffinity(0, sizeof plan.affinity_final, &plan.affinity_final) < 0) {
        return fail("sched_setaffinity", errno, "/process/execCPUAffinity/final");
    }
    if (plan.apparmor) {
        char value[4096];
        snprintf(value, sizeof value, "exec %s", plan.apparmor);
        if (write_attr("exec", "apparmor", value, "/process/apparmorProfile") < 0) {
            return -1;
        }
    }
    if (plan.selinux && write_attr("exec", NULL, plan.selinux, "/process/selinuxLabel") < 0) {
        return -1;
    }
    return 0;
}

static int step_process(char *exe, size_t exesize) {
    if (new_session() < 0 || set_default_home() < 0) {
        return -1;
    }
    /* go-selinux SetKeyLabel: the session keyring made next gets the process label */
    if (plan.selinux && write_attr("keycreate", NULL, plan.selinux, "/process/selinuxLabel") < 0) {
        return -1;
    }
    /* runc: a new session keyring per container; kernels without keys are fine */
    if (plan.keyring && syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, plan.keyring) < 0
        && errno != ENOSYS) {
        return fail("keyctl", errno, "join session keyring %s", plan.keyring);
    }
    if (plan.oomscoreadj) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        size_t len = strlen(plan.oomscoreadj);
        if (fd < 0 || write(fd, plan.oomscoreadj, len) != (ssize_t)len) {
            int err = errno;
            if (fd >= 0) {
                close(fd);
            }
            return fail("oom_score_adj", err, "%s", plan.oomscoreadj);
        }
        close(fd);
    }
    for (int i = 0; i < plan.nrlimits; i++) {
        struct rlimit rl = {.rlim_cur = plan.rlimit_soft[i], .rlim_max = plan.rlimit_hard[i]};
        if (setrlimit(plan.rlimit_resource[i], &rl) < 0) {
            return fail("setrlimit", errno, "%s%sresource %d, soft %llu, hard %llu",
                        plan.rlimit_field[i] ? plan.rlimit_field[i] : "", plan.rlimit_field[i] ? ": " : "",
                        plan.rlimit_resource[i], plan.rlimit_soft[i], plan.rlimit_hard[i]);
        }
    }
    /* runc's standard_init: no_new_privs before the capabilities and the user change */
    if (plan.nonewprivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        return fail("prctl", errno, "PR_SET_NO_NEW_PRIVS");
    }
    if (step_attributes() < 0) {
        return -1;
    }
    /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN, so (as runc) it goes in before the
       capabilities are dropped; with it, as late as possible (below). */
    if (!plan.nonewprivs && load_seccomp() < 0) {
        return -1;
    }
    if (plan.has_caps) {
        for (int cap = 0; cap < 64; cap++) {
            if (plan.cap_bounding & (1ULL << cap)) {
                continue;
            }
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                if (errno == EINVAL) {
                    break; /* past the kernel's last capability */
                }
                return fail("prctl", errno, "PR_CAPBSET_DROP %d", cap);
            }
        }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
        return fail("prctl", errno, "PR_SET_KEEPCAPS");
    }
    if (setgroups((size_t)plan.ngroups, plan.groups) < 0) {
        return fail("setgroups", errno, "additionalGids");
    }
    if (setresgid((gid_t)plan.gid, (gid_t)plan.gid, (gid_t)plan.gid) < 0) {
        return fail("setresgid", errno, "gid %ld", plan.gid);
    }
    if (setresuid((uid_t)plan.uid, (uid_t)plan.uid, (uid_t)plan.uid) < 0) {
        return fail("setresuid", errno, "uid %ld", plan.uid);
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
        return fail("prctl", errno, "PR_SET_KEEPCAPS");
    }
    if (plan.has_caps) {
        if (capset_all(plan.cap_effective, plan.cap_permitted, plan.cap_inheritable) < 0) {
            return fail("capset", errno, "process capabilities");
        }
        for (int cap = 0; cap < 64; cap++) {
            if ((plan.cap_ambient & (1ULL << cap))
                && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
                return fail("prctl", errno, "PR_CAP_AMBIENT_RAISE %d", cap);
            }
        }
    }
    umask(plan.umask_value >= 0 ? (mode_t)plan.umask_value : 022);
    const char *cwd = plan.cwd ? plan.cwd : "/";
    if (chdir(cwd) < 0) {
        return fail("chdir", errno, "cwd %s", cwd);
    }
    if (look_path(plan.args[0], exe, exesize) < 0) {
        return -1;
    }
    /* runc: "as close to execve as possible, so as few syscalls take place afterward"; what is
       left is the ready report, the exec fifo and execve (see the seccomp record above) */
    if (plan.nonewprivs && load_seccomp() < 0) {
        return -1;
    }
    /* runc: personality after seccomp, the last thing before the exec fifo */
    if (plan.has_personality && syscall(SYS_personality, (unsigned long)plan.personality) < 0) {
        return fail("personality", errno, "/linux/personality (%#llx)", plan.personality);
    }
    return 0;
}

/* ---- config.json hooks inside the container (createContainer, startContainer) */

#define HOOK_OUTPUT_TAIL 2048

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the last HOOK_OUTPUT_TAIL bytes of what the hook wrote, for the error message. */
static void keep_tail(char *tail, size_t *len, const char *buf, size_t n) {
    if (n >= HOOK_OUTPUT_TAIL) {
        memcpy(tail, buf + n - HOOK_OUTPUT_TAIL, HOOK_OUTPUT_TAIL);
        *len = HOOK_OUTPUT_TAIL;
        return;
    }
    size_t keep = *len + n > HOOK_OUTPUT_TAIL ? HOOK_OUTPUT_TAIL - n : *len;
    memmove(tail, tail + *len - keep, keep);
    memcpy(tail + keep, buf, n);
    *len = keep + n;
}

static void hook_child(const struct hook *h, int in, int out, int report) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and the unused numbers */
    }
    setpgid(0, 0); /* its own group: a timeout kills what it started too */
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
        int err = errno;
        (void)!write(report, &err, sizeof err);
        _exit(127);
    }
    execve(h->path, h->argv, h->envp);
    int err = errno;
    (void)!write(report, &err, sizeof err);
    _exit(127);
}

/*
 * Runs one hook as config.md says: the state on stdin, exactly its args (args[0] included) and
 * env, killed (with its process group) past its timeout. Its stdout and stderr go to one pipe whose
 * tail goes into the message. Returns 0, or -1 with msg set ("<phase> hook <path>: ...").
 */
static int run_hook(const struct hook *h, const char *state, size_t state_len, char *msg, size_t size) {
    const char *phase = HOOK_PHASES[h->phase];
    int in[2], out[2], report[2];
    /* a socket for stdin: a hook that exits without reading it gives EPIPE, not SIGPIPE */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0) {
        snprintf(msg, size, "%s hook %s: socketpair: %s", phase, h->path, strerror(errno));
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
        snprintf(msg, size, "%s hook %s: pipe: %s", phase, h->path, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, size, "%s hook %s: fork: %s", phase, h->path, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        hook_child(h, in[1], out[1], report[1]);
    }
    close(in[1]);
    close(out[1]);
    close(report[1]);
    int err = 0;
    ssize_t r;
    do {
        r = read(report[0], &err, sizeof err); /* EOF: execve worked (close-on-exec) */
    } while (r < 0 && errno == EINTR);
    close(report[0]);
    if (r == (ssize_t)sizeof err) {
        waitpid(pid, NULL, 0);
        close(in[0]);
        close(out[0]);
        snprintf(msg, size, "%s hook %s: cannot start: %s", phase, h->path, strerror(err));
        return -1;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    fcntl(in[0], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    size_t written = 0;
    char tail[HOOK_OUTPUT_TAIL];
    size_t tail_len = 0;
    long long deadline = h->timeout ? now_ms() + (long long)h->timeout * 1000 : 0;
    int status = 0, exited = 0, timed_out = 0;
    while (!exited) {
        struct pollfd fds[3];
        int n = 0, out_at = -1, in_at = -1;
        if (out[0] >= 0) {
            fds[n] = (struct pollfd){.fd = out[0], .events = POLLIN};
            out_at = n++;
        }
        if (in[0] >= 0 && written < state_len) {
            fds[n] = (struct pollfd){.fd = in[0], .events = POLLOUT};
            in_at = n++;
        }
        if (pidfd >= 0) {
            fds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        }
        int wait = pidfd >= 0 ? -1 : 10; /* without pidfd_open (before Linux 5.3): poll the pid */
        if (deadline) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            if (wait < 0 || left < wait) {
                wait = (int)left;
            }
        }
        if (poll(fds, (nfds_t)n, wait) < 0 && errno != EINTR) {
            break;
        }
        if (out_at >= 0 && (fds[out_at].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[4096];
            r = read(out[0], buf, sizeof buf);
            if (r > 0) {
                keep_tail(tail, &tail_len, buf, (size_t)r);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(out[0]);
                out[0] = -1;
            }
        }
        if (in_at >= 0 && (fds[in_at].revents & (POLLOUT | POLLHUP | POLLERR))) {
            r = send(in[0], state + written, state_len - written, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r > 0) {
                written += (size_t)r;
            } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
                written = state_len; /* the hook closed its stdin: its exit status decides */
            }
        }
        if (in[0] >= 0 && written >= state_len) {
            close(in[0]); /* EOF on the hook's stdin */
            in[0] = -1;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
        }
    }
    if (timed_out) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (out[0] >= 0) {
        char buf[4096];
        while ((r = read(out[0], buf, sizeof buf)) > 0) { /* what it wrote before it ended */
            keep_tail(tail, &tail_len, buf, (size_t)r);
        }
        close(out[0]);
    }
    if (in[0] >= 0) {
        close(in[0]);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    while (tail_len > 0 && (tail[tail_len - 1] == '\n' || tail[tail_len - 1] == ' ')) {
        tail_len--;
    }
    const char *sep = tail_len ? ": " : "";
    if (timed_out) {
        snprintf(msg, size, "%s hook %s: timed out after %lu s%s%.*s", phase, h->path, h->timeout, sep,
                 (int)tail_len, tail);
        return -1;
    }
    if (WIFSIGNALED(status)) {
        snprintf(msg, size, "%s hook %s: killed by signal %d%s%.*s", phase, h->path, WTERMSIG(status), sep,
                 (int)tail_len, tail);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(msg, size, "%s hook %s: exit status %d%s%.*s", phase, h->path, WEXITSTATUS(status), sep,
                 (int)tail_len, tail);
        return -1;
    }
    return 0;
}

/* The hooks of one phase, in their order; the state is the plan's JSON around our host pid. */
static int run_hooks(enum hook_phase phase, long host_pid, char *msg, size_t size) {
    char *state = NULL;
    for (int i = 0; i < plan.nhooks; i++) {
        if (plan.hooks[i].phase != phase) {
            continue;
        }
        if (!state) {
            const char *prefix = plan.hookstate_prefix[phase] ? plan.hookstate_prefix[phase] : "";
            const char *suffix = plan.hookstate_suffix[phase] ? plan.hookstate_suffix[phase] : "";
            if (asprintf(&state, "%s%ld%s", prefix, host_pid, suffix) < 0) {
                snprintf(msg, size, "%s hooks: out of memory", HOOK_PHASES[phase]);
                return -1;
            }
        }
        if (run_hook(&plan.hooks[i], state, strlen(state), msg, size) < 0) {
            free(state);
            return -1;
        }
    }
    free(state);
    return 0;
}

/* ---- the container's init (stage 1) */

static int init_main(int syncfd) {
    /* stage 0 has reported our pid, and sends it here too: "N\n", our pid in the host's pid
       namespace, which the hooks' state holds. EOF instead: stage 0 gave up. */
    char pidtext[24];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(syncfd, pidtext + got, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r != 1) {
            return 1;
        }
        if (pidtext[got] == '\n' || ++got == sizeof pidtext - 1) {
            break;
        }
    }
    pidtext[got] = 0;
    close(syncfd);
    long host_pid = strtol(pidtext, NULL, 10);
    char hook_msg[3000];
    /* opened while still the host's root: the state dir need not be reachable from the user namespace */
    int fifo = open(plan.fifo, O_PATH | O_CLOEXEC);
    if (fifo < 0) {
        fail("open", errno, "exec fifo %s", plan.fifo);
        return 1;
    }
    /* runc's nsexec: become the user namespace's root once stage 0 wrote the maps, so that what
       the init creates in the rootfs belongs to the container's root */
    if ((plan.clone_flags & CLONE_NEWUSER || plan.joined_userns)
        && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        fail("setresuid", errno, "root of the user namespace (is 0 mapped?)");
        return 1;
    }
    if (fault_at("init-namespaces-entered") < 0) {
        return 1;
    }
    int root = -1;
    if (step_hostname() < 0 || step_loopback() < 0 || step_rootfs(&root) < 0) {
        return 1;
    }
    if (step_rootfs_ops(root) < 0 || fault_at("init-mounts-done") < 0) {
        return 1;
    }
    if (step_sync() < 0) {
        return 1;
    }
    /* config.md: createContainer after the runtime environment exists, before pivot_root, in the
       container's namespaces, its path resolved in the runtime's (the host's root is still there) */
    if (run_hooks(HOOK_CREATE_CONTAINER, host_pid, hook_msg, sizeof hook_msg) < 0) {
        fail("hook", 0, "%s", hook_msg);
        return 1;
    }
    if (step_pivot(root) < 0 || fault_at("init-pivoted") < 0 || step_console() < 0 || step_sysctls() < 0
        || step_masks() < 0) {
        return 1;
    }
    close(root);
    char exe[PATH_MAX];
    if (step_process(exe, sizeof exe) < 0 || fault_at("init-process-ready") < 0) {
        return 1;
    }
    send_line("ready");
    close(control);
    control = -1;

    /* runtime.md: the process waits here until start opens the fifo for reading */
    char fifo_path[64];
    fd_path(fifo, fifo_path, sizeof fifo_path);
    int w = open(fifo_path, O_WRONLY | O_CLOEXEC);
    if (w < 0) {
        fail("exec fifo", errno, "%s (is /proc mounted in the container?)", fifo_path);
        return 1;
    }
    close(fifo);
    /* kept open until execve closes it: start reads "0", then either EOF (the process runs) or
       what went wrong after the release; above the numbers the preserved descriptors take */
    int high = fcntl(w, F_DUPFD_CLOEXEC, 3 + plan.npreserve);
    if (high < 0) {
        fail("exec fifo", errno, "F_DUPFD_CLOEXEC");
        return 1;
    }
    close(w);
    w = high;
    if (plan.fault_step && !strcmp(plan.fault_step, "init-fifo-opened") && !plan.fault_kill) {
        /* Java is gone since "ready": the failure reaches start through the fifo, after the "0" */
        static const char msg[] = "0fault injected at step init-fifo-opened";
        (void)!write(w, msg, sizeof msg - 1);
        return 1;
    }
    (void)fault_at("init-fifo-opened");
    if (write(w, "0", 1) != 1) {
        fail("exec fifo", errno, "write");
        return 1;
    }
    /* config.md: startContainer before the user's process, its path resolved in the container */
    if (run_hooks(HOOK_START_CONTAINER, host_pid, hook_msg, sizeof hook_msg) < 0) {
        (void)!write(w, hook_msg, strlen(hook_msg));
        return 1;
    }
    if (place_preserved_fds() < 0) {
        return 1;
    }
    execve(exe, plan.args, plan.env);
    int err = errno;
    char detail[PATH_MAX + 128];
    int n = snprintf(detail, sizeof detail, "exec %s: %s", exe, strerror(err));
    (void)!write(w, detail, n > 0 ? (size_t)n : 0);
    fprintf(stderr, "capsa-init: %s\n", detail);
    return 127;
}

/* ---- exec mode: a new process in the namespaces of a running container */

/* setns(2) order: user first (it grants the rights for the rest), mnt last (it changes the root) */
static const char *const JOIN_ORDER[] = {"user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt"};
#define NJOIN (int)(sizeof JOIN_ORDER / sizeof JOIN_ORDER[0])

static int same_file(int a, int b) {
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Opens /proc/PID once, checks the start time through that directory (a reused pid fails
 * there), opens every namespace of the process that differs from ours, then joins them.
 */
static int join_namespaces(void) {
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%ld", plan.join_pid);
    int proc = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (proc < 0) {
        return fail("open", errno, "%s: the container's process is gone", dir);
    }
    int statfd = openat(proc, "stat", O_RDONLY | O_CLOEXEC);
    char stat[1024];
    ssize_t n = statfd < 0 ? -1 : read(statfd, stat, sizeof stat - 1);
    if (statfd >= 0) {
        close(statfd);
    }
    unsigned long long start = 0;
    char *close_paren = n > 0 ? (stat[n] = 0, strrchr(stat, ')')) : NULL;
    char *field = close_paren ? close_paren + 2 : NULL; /* field 3 */
    for (int i = 3; field && i < 22; i++) {
        field = strchr(field, ' ');
        field = field ? field + 1 : NULL;
    }
    if (!field || sscanf(field, "%llu", &start) != 1 || start != plan.join_start) {
        close(proc);
        return fail("join", ESRCH, "%s: not the container's process any more", dir);
    }
    int fds[NJOIN];
    for (int i = 0; i < NJOIN; i++) {
        char rel[32], self[48];
        snprintf(rel, sizeof rel, "ns/%s", JOIN_ORDER[i]);
        snprintf(self, sizeof self, "/proc/self/ns/%s", JOIN_ORDER[i]);
        fds[i] = openat(proc, rel, O_RDONLY | O_CLOEXEC);
        int mine = open(self, O_RDONLY | O_CLOEXEC);
        if (fds[i] >= 0 && mine >= 0 && same_file(fds[i], mine)) {
            close(fds[i]);
            fds[i] = -1; /* shared with us: nothing to join (and setns into our own user ns is EINVAL) */
        } else if (fds[i] < 0 && errno != ENOENT) {
            int err = errno;
            if (mine >= 0) {
                close(mine);
            }
            close(proc);
            return fail("open", err, "%s/%s", dir, rel);
        }
        if (mine >= 0) {
            close(mine);
        }
    }
    close(proc);
    for (int i = 0; i < NJOIN; i++) {
        if (fds[i] < 0) {
            continue;
        }
        if (setns(fds[i], 0) < 0) {
            return fail("setns", errno, "%s namespace of process %ld", JOIN_ORDER[i], plan.join_pid);
        }
        close(fds[i]);
    }
    step_ok("setns");
    return 0;
}

/* The exec'd process: forked after the setns calls, so it is inside the container's pid namespace. */
static int exec_child(void) {
    char exe[PATH_MAX];
    if (step_console() < 0 || step_process(exe, sizeof exe) < 0 || place_preserved_fds() < 0) {
        return 1;
    }
    execve(exe, plan.args, plan.env);
    /* the control socket is close-on-exec: Java reads EOF on success, this line on failure */
    fail("exec", errno, "exec: \"%s\": %s", plan.args[0], strerror(errno));
    return 127;
}

/* ---- stage 0 */

/* cgroup.procs files opened by stage 0 before any setns: exec joins the container's mount namespace */
static int cgroup_leave_fds[32];

static int open_cgroup_files(char *const *files, int n, int *fds, const char *step) {
    for (int i = 0; i < n; i++) {
        fds[i] = open(files[i], O_WRONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            return fail(step, errno, "%s", files[i]);
        }
    }
    return 0;
}

/*
 * Moves stage 0 (single-threaded: cgroup.procs moves the whole process) into each cgroup by
 * writing its pid to the cgroup.procs files opened earlier, and closes them. Its children
 * inherit the cgroups, and a cgroup namespace made afterwards is rooted in them.
 */
static int move_to_cgroups(char *const *files, int *fds, int n, const char *step) {
    char pid[24];
    int len = snprintf(pid, sizeof pid, "%d", (int)getpid());
    int rc = 0;
    for (int i = 0; i < n; i++) {
        ssize_t w = rc < 0 ? len : write(fds[i], pid, len);
        int err = errno;
        close(fds[i]);
        if (w != len) {
            rc = fail(step, w < 0 ? err : EIO, "writing %s to %s", pid, files[i]);
        }
    }
    if (rc == 0 && n > 0) {
        step_ok(step);
    }
    return rc;
}

static int join_cgroups(void) {
    int fds[32];
    if (open_cgroup_files(plan.cgroup_join, plan.ncgroup_join, fds, "cgroupjoin") < 0) {
        return -1;
    }
    return move_to_cgroups(plan.cgroup_join, fds, plan.ncgroup_join, "cgroupjoin");
}

static int leave_cgroups(void) {
    return move_to_cgroups(plan.cgroup_leave, cgroup_leave_fds, plan.ncgroup_leave, "cgroupleave");
}

static int connect_control(const char *path) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return -1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        return -1;
    }
    return s;
}

static void write_exit_file(int code) {
    if (!plan.exitfile) {
        return;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", plan.exitfile);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d\n", code);
    if (write(fd, buf, n) == n) {
        fsync(fd);
        close(fd);
        rename(tmp, plan.exitfile);
    } else {
        close(fd);
    }
}

static int monitor(pid_t init) {
    /* the monitor must not hold the caller's terminal or pipes: only the container may */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
    /* signals reach the container through capsa (the JVM forwards them), not through us twice */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    int code = 255;
    for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, 0);
        if (p < 0) {
            if (errno == EINTR) {
                continue;
            }
            break; /* ECHILD: the init and every orphan we adopted are gone */
        }
        if (p == init) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            write_exit_file(code);
        }
    }
    return code;
}

/* Writes the uid_map or gid_map of the init: from outside, as the parent ns's root may (user_namespaces(7)). */
/* A new time namespace for the init: unshare makes it for our children only, and its offsets can
   be written until a process enters it (time_namespaces(7)). */
static int unshare_time(void) {
    if (!(plan.clone_flags & CLONE_NEWTIME)) {
        return 0;
    }
    plan.clone_flags &= ~(unsigned long)CLONE_NEWTIME;
    if (unshare(CLONE_NEWTIME) < 0) {
        return fail("unshare", errno, "CLONE_NEWTIME%s", errno == EINVAL ? " (does the kernel have time namespaces?)" : "");
    }
    if (!plan.timeoffsets) {
        return 0;
    }
    char text[160];
    int n = snprintf(text, sizeof text, "monotonic %lld %lld\nboottime %lld %lld\n", plan.mono_secs, plan.mono_nsecs,
                     plan.boot_secs, plan.boot_nsecs);
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, (size_t)n) != n) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        return fail("timens_offsets", err, "%s", text);
    }
    close(fd);
    step_ok("timens");
    return 0;
}

static int write_map(pid_t pid, const char *file, const char *map) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return fail("write", errno, "%s", path);
    }
    size_t len = strlen(map);
    ssize_t w = write(fd, map, len);
    int err = errno;
    close(fd);
    if (w != (ssize_t)len) {
        return fail("write", w < 0 ? err : EIO, "%s", path);
    }
    return 0;
}

/* Stage 0 of create: join the namespaces given by path; they are inherited by the clone. */
static int join_paths(void) {
    for (int i = 0; i < plan.nnspaths; i++) {
        int fd = open(plan.nspath[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return fail("open", errno, "namespace %s", plan.nspath[i]);
        }
        int type = (int)ioctl(fd, NS_GET_NSTYPE);
        if (setns(fd, 0) < 0) {
            int err = errno;
            close(fd);
            return fail("setns", err, "%s", plan.nspath[i]);
        }
        close(fd);
        if (type == CLONE_NEWPID) {
            plan.joined_pidns = plan.nspath[i];
        }
    }
    return 0;
}

static int wait_child(pid_t child) {
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    for (;;) {
        int status;
        pid_t p = waitpid(child, &status, 0);
        if (p < 0 && errno == EINTR) {
            continue;
        }
        if (p < 0) {
            return 255;
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}

static int exec_main(void) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        fail("open", errno, "/dev/null");
        return 1;
    }
    /* execCPUAffinity.initial: where this process and its child run until they join the cgroup */
    if (plan.has_affinity_initial
        && sched_setaffinity(0, sizeof plan.affinity_initial, &plan.affinity_initial) < 0) {
        fail("sched_setaffinity", errno, "/process/execCPUAffinity/initial");
        return 1;
    }
    if (join_cgroups() < 0 || join_namespaces() < 0 || fault_at("init-exec-joined") < 0) {
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fail("fork", errno, "exec'd process");
        return 1;
    }
    if (pid == 0) {
        close(null);
        _exit(exec_child());
    }
    send_line("pid %d", (int)pid);
    if (fault_at("init-exec-forked") < 0 || leave_cgroups() < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }
    close(control);
    control = -1;
    if (console_socket >= 0) {
        close(console_socket);
    }
    for (int i = 0; i < plan.npreserve; i++) {
        close(preserved[i]);
    }
    if (!plan.foreground) {
        return 0; /* the process is reparented to the caller's subreaper, as under runc exec -d */
    }
    /* like the run monitor: the caller's stdio belongs to the process alone */
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
    return wait_child(pid);
}

static int connect_console(void) {
    if (!plan.console) {
        return 0;
    }
    int s = connect_control(plan.console);
    if (s < 0) {
        return fail("console", errno, "connect to the console socket %s", plan.console);
    }
    console_socket = fcntl(s, F_DUPFD_CLOEXEC, 3 + plan.npreserve);
    close(s);
    return console_socket < 0 ? fail("fcntl", errno, "console socket") : 0;
}

/* the ns backend's mode (capsa-main.c) */
int ns_main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "--control") != 0) {
        fprintf(stderr, "usage: capsa-init --control SOCKET (capsa runs this; it is not a command)\n");
        return 2;
    }
    if (run_from_sealed_copy(argv) < 0) {
        return 1;
    }
    control = connect_control(argv[2]);
    if (control < 0) {
        fprintf(stderr, "capsa-init: connect %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (read_plan() < 0) {
        return 1;
    }
    if (plan.npreserve > 0) {
        /* keep 3 .. 2+npreserve free for the preserved descriptors */
        int moved = fcntl(control, F_DUPFD_CLOEXEC, 3 + plan.npreserve);
        if (moved < 0) {
            fail("fcntl", errno, "control socket");
            return 1;
        }
        close(control);
        control = moved;
    }
    if (take_preserved_fds() < 0 || connect_console() < 0
        || open_cgroup_files(plan.cgroup_leave, plan.ncgroup_leave, cgroup_leave_fds, "cgroupleave") < 0) {
        return 1;
    }
    if (plan.join) {
        return exec_main();
    }
    if (mkfifo(plan.fifo, 0622) < 0 || chmod(plan.fifo, 0622) < 0) {
        fail("mkfifo", errno, "%s", plan.fifo);
        return 1;
    }
    if (fault_at("init-fifo-made") < 0) {
        return 1;
    }
    if (plan.foreground && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        fail("prctl", errno, "PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    if (join_cgroups() < 0 || join_paths() < 0 || fault_at("init-cgroup-joined") < 0) {
        return 1;
    }
    if (unshare_time() < 0) {
        return 1;
    }
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) {
        fail("pipe2", errno, "sync");
        return 1;
    }
    pid_t pid = (pid_t)syscall(SYS_clone, plan.clone_flags | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        if (errno == ENOMEM && plan.joined_pidns) {
            /* pid_namespaces(7): a pid namespace whose init has terminated takes no new process */
            fail("clone", errno, "into the pid namespace %s: its init has exited, and such a namespace takes no"
                 " new process", plan.joined_pidns);
        } else {
            fail("clone", errno, "flags %#lx", plan.clone_flags);
        }
        return 1;
    }
    if (pid == 0) {
        close(sync[1]);
        _exit(init_main(sync[0]));
    }
    close(sync[0]);
    send_line("pid %d", (int)pid);
    if (fault_at("init-cloned") < 0 || leave_cgroups() < 0) {
        close(sync[1]); /* the init reads EOF and exits */
        waitpid(pid, NULL, 0);
        return 1;
    }
    if (plan.clone_flags & CLONE_NEWUSER) {
        /* the init waits on the sync pipe until its maps exist; on failure it reads EOF and exits */
        if ((plan.uidmap && write_map(pid, "uid_map", plan.uidmap) < 0)
            || (plan.gidmap && write_map(pid, "gid_map", plan.gidmap) < 0)) {
            close(sync[1]);
            waitpid(pid, NULL, 0);
            return 1;
        }
        step_ok("idmap");
    }
    if (dprintf(sync[1], "%d\n", (int)pid) < 0) {
        return 1;
    }
    close(sync[1]);
    close(control);
    control = -1;
    if (console_socket >= 0) {
        close(console_socket);
        console_socket = -1;
    }
    for (int i = 0; i < plan.npreserve; i++) {
        close(preserved[i]);
    }
    if (!plan.foreground) {
        return 0; /* the init is reparented to the caller's subreaper, as under runc */
    }
    return monitor(pid);
}

int capsa_copy_tree(int src, int dst, int depth) {
    return copy_tree(src, dst, depth);
}
