/* The launcher (launch.h): portico's side of the control socket, and the helper process that
 * starts, signals and reaps the apps and kills everything when portico goes. Knows no config,
 * no loop, no request; the app child's set-up is in launch_child.c. */
#include "config.h"

#include "spawn/launch.h"
#include "spawn/launch_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/base/alloc.h"

/* ---- portico's side ---- */

/* Send one datagram; a full socket is waited for briefly (the launcher reads all the time). */
static int ctl_send(int ctl, struct msghdr *mh, char **err)
{
    for (;;) {
        if (sendmsg(ctl, mh, MSG_NOSIGNAL) >= 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd p = {.fd = ctl, .events = POLLOUT};
            int n = poll(&p, 1, 1000);
            if (n > 0 || (n < 0 && errno == EINTR)) continue;
            if (n == 0) return gw_errf(err, "launcher: its socket stays full");
        }
        return gw_errf(err, "launcher: %s", strerror(errno));
    }
}

int spawn_launcher_start(int *ctl, pid_t *pid, char **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return gw_errf(err, "launcher: socketpair: %s", strerror(errno));
    /* every signal blocked across the fork: the launcher sets its dispositions before any of
     * portico's signals (SIGTERM, SIGINT...) can reach it */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t p = fork();
    if (p == 0) spawn_launcher_run(sv[1]);
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (p < 0) {
        close(sv[0]);
        return gw_errf(err, "launcher: fork: %s", strerror(e));
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    *ctl = sv[0];
    *pid = p;
    return 0;
}

static size_t strs_size(char *const *v, uint32_t *count)
{
    size_t n = 0;
    *count = 0;
    for (; v && v[*count]; (*count)++) n += strlen(v[*count]) + 1;
    return n;
}

static char *strs_put(char *p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(p, s, n);
    return p + n;
}

int spawn_launcher_launch(int ctl, const spawn_launch *l, char **err)
{
    if (l->argv == NULL || l->argv[0] == NULL) return gw_errf(err, "launch: empty argv");
    if (l->pass != SPAWN_PASS_ARGUMENT && l->sock_fd < 0)
        return gw_errf(err, "launch: no socket to pass");
    spawn_msg h = {.type = SPAWN_MSG_START, .id = l->id, .pass = l->pass};
    size_t size = sizeof(h) + strs_size(l->argv, &h.argc) + strs_size(l->envp, &h.envc);
    const char *opt[3] = {l->fdname, l->user, l->group};
    static const uint32_t opt_flag[3] = {SPAWN_MSG_FDNAME, SPAWN_MSG_USER, SPAWN_MSG_GROUP};
    for (int i = 0; i < 3; i++) {
        if (opt[i] == NULL) continue;
        h.flags |= opt_flag[i];
        size += strlen(opt[i]) + 1;
    }
    if (size > SPAWN_MSG_MAX)
        return gw_errf(err, "launch: the command and environment take %zu bytes, over 64 KiB",
                       size);

    char *buf = gw_xmalloc(size), *p = buf + sizeof(h);
    for (uint32_t i = 0; i < h.argc; i++) p = strs_put(p, l->argv[i]);
    for (uint32_t i = 0; i < h.envc; i++) p = strs_put(p, l->envp[i]);
    for (int i = 0; i < 3; i++)
        if (opt[i]) p = strs_put(p, opt[i]);
    int fds[2], nfd = 0;
    if (l->pass != SPAWN_PASS_ARGUMENT && l->sock_fd >= 0) {
        h.flags |= SPAWN_MSG_SOCK;
        fds[nfd++] = l->sock_fd;
    }
    if (l->log_fd >= 0) {
        h.flags |= SPAWN_MSG_LOG;
        fds[nfd++] = l->log_fd;
    }
    memcpy(buf, &h, sizeof(h));

    union {
        char b[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } cbuf;
    memset(&cbuf, 0, sizeof(cbuf));
    struct iovec iov = {.iov_base = buf, .iov_len = size};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfd > 0) {
        mh.msg_control = cbuf.b;
        mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
    }
    int rc = ctl_send(ctl, &mh, err);
    free(buf);
    return rc;
}

int spawn_launcher_kill(int ctl, pid_t pid, int sig, int group)
{
    spawn_msg h = {
        .type = SPAWN_MSG_KILL, .pid = pid, .sig = sig, .flags = group ? SPAWN_MSG_KILL_GROUP : 0};
    struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    return ctl_send(ctl, &mh, NULL);
}

int spawn_launcher_recv(int ctl, spawn_event *ev)
{
    for (;;) {
        ssize_t n = recv(ctl, ev, sizeof(*ev), MSG_DONTWAIT);
        if (n == (ssize_t)sizeof(*ev)) return 0;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
        return -1; /* EOF, an error, or a datagram that is not an event */
    }
}

/* ---- the launcher process ---- */

typedef struct kid {
    pid_t pid;
    uint32_t id;
} kid;

typedef struct launcher {
    int ctl, sfd;
    pid_t self;
    kid *kids;
    size_t nkids, cap;
    char *buf; /* one message */
} launcher;

static void send_ev(launcher *L, int type, uint32_t id, pid_t pid, int status, int err,
                    const char *what)
{
    spawn_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.id = id;
    ev.pid = pid;
    ev.status = status;
    ev.err = err;
    if (what) snprintf(ev.what, sizeof(ev.what), "%s", what);
    /* a failure means portico is gone: the next poll sees the hang-up */
    while (send(L->ctl, &ev, sizeof(ev), MSG_NOSIGNAL) < 0 && errno == EINTR) continue;
}

static long kid_find(const launcher *L, pid_t pid)
{
    for (size_t i = 0; i < L->nkids; i++)
        if (L->kids[i].pid == pid) return (long)i;
    return -1;
}

/* The next of a START's strings (the block was checked: enough of them, NUL-terminated). */
static char *next_str(char **cur)
{
    char *s = *cur;
    *cur += strlen(s) + 1;
    return s;
}

static void close_all(const int *fds, int nfd)
{
    for (int i = 0; i < nfd; i++) close(fds[i]);
}

/* A START: fork, and report STARTED or FAILED. The fds are closed here, before any event (the
 * log pipe must not stay open in the launcher). */
static void do_start(launcher *L, const spawn_msg *h, size_t len, const int *fds, int nfd)
{
    static const uint32_t opts[3] = {SPAWN_MSG_FDNAME, SPAWN_MSG_USER, SPAWN_MSG_GROUP};
    size_t want = (size_t)h->argc + h->envc, count = 0;
    for (int i = 0; i < 3; i++) want += (h->flags & opts[i]) != 0;
    int want_fds = ((h->flags & SPAWN_MSG_SOCK) != 0) + ((h->flags & SPAWN_MSG_LOG) != 0);
    char *cur = L->buf + sizeof(*h), *end = L->buf + len;
    for (const char *p = cur; p < end; p++) count += *p == '\0';
    if (h->argc == 0 || count != want || (end > cur && end[-1] != '\0') || nfd != want_fds ||
        (h->pass != SPAWN_PASS_ARGUMENT && !(h->flags & SPAWN_MSG_SOCK))) {
        close_all(fds, nfd);
        send_ev(L, SPAWN_EV_FAILED, h->id, 0, 0, EINVAL, "launch message");
        return;
    }
    spawn_child c = {.pass = h->pass, .sock = -1, .log = -1, .launcher = L->self};
    char **v = gw_xcalloc(want + 2, sizeof(*v));
    c.argv = v;
    c.envp = v + h->argc + 1;
    for (uint32_t i = 0; i < h->argc; i++) c.argv[i] = next_str(&cur);
    for (uint32_t i = 0; i < h->envc; i++) c.envp[i] = next_str(&cur);
    if (h->flags & SPAWN_MSG_FDNAME) c.fdname = next_str(&cur);
    if (h->flags & SPAWN_MSG_USER) c.user = next_str(&cur);
    if (h->flags & SPAWN_MSG_GROUP) c.group = next_str(&cur);
    int k = 0;
    if (h->flags & SPAWN_MSG_SOCK) c.sock = fds[k++];
    if (h->flags & SPAWN_MSG_LOG) c.log = fds[k++];

    char **envp = spawn_child_env(&c);
    int pp[2] = {-1, -1};
    pid_t pid = pipe2(pp, O_CLOEXEC) == 0 ? fork() : -1;
    if (pid == 0) spawn_child_exec(&c, envp, pp[1]);
    int e = errno;
    close_all(fds, nfd);
    if (pp[1] >= 0) close(pp[1]);
    spawn_report r;
    ssize_t got = 0; /* EOF: the exec succeeded */
    while (pid > 0 && (got = read(pp[0], &r, sizeof(r))) < 0 && errno == EINTR) continue;
    if (pp[0] >= 0) close(pp[0]);
    free(v);
    free(envp);
    free(c.listen_names);
    if (pid < 0) {
        send_ev(L, SPAWN_EV_FAILED, h->id, 0, 0, e, pp[0] < 0 ? "pipe" : "fork");
    } else if (got == (ssize_t)sizeof(r)) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) continue;
        r.what[sizeof(r.what) - 1] = '\0';
        send_ev(L, SPAWN_EV_FAILED, h->id, pid, 0, r.err, r.what);
    } else {
        if (L->nkids == L->cap) {
            L->cap = L->cap ? L->cap * 2 : 16;
            L->kids = gw_xreallocarray(L->kids, L->cap, sizeof(*L->kids));
        }
        L->kids[L->nkids++] = (kid){.pid = pid, .id = h->id};
        send_ev(L, SPAWN_EV_STARTED, h->id, pid, 0, 0, NULL);
    }
}

/* One message from portico. Returns -1 when portico is gone. */
static int ctl_read(launcher *L)
{
    union {
        char b[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = L->buf, .iov_len = SPAWN_MSG_MAX + 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    mh.msg_control = cbuf.b;
    mh.msg_controllen = sizeof(cbuf.b);
    ssize_t n = recvmsg(L->ctl, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0) return -1;
    int fds[2], nfd = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < cnt; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (nfd < 2)
                fds[nfd++] = fd;
            else
                close(fd);
        }
    }
    spawn_msg h;
    if ((size_t)n >= sizeof(h) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        memcpy(&h, L->buf, sizeof(h));
        if (h.type == SPAWN_MSG_KILL && h.pid > 0 && kid_find(L, h.pid) >= 0)
            kill(h.flags & SPAWN_MSG_KILL_GROUP ? -h.pid : h.pid, h.sig);
        if (h.type == SPAWN_MSG_START) {
            do_start(L, &h, (size_t)n, fds, nfd);
            return 0;
        }
    }
    close_all(fds, nfd);
    return 0;
}

/* SIGCHLD: reap everything; a tracked child's exit takes its process group with it. */
static void reap(launcher *L)
{
    struct signalfd_siginfo si;
    while (read(L->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) continue;
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR) continue;
        if (pid <= 0) return;
        long i = kid_find(L, pid);
        if (i < 0) continue; /* an orphan reparented to us */
        uint32_t id = L->kids[i].id;
        L->kids[i] = L->kids[--L->nkids];
        kill(-pid, SIGKILL);
        send_ev(L, SPAWN_EV_EXITED, id, pid, st, 0, NULL);
    }
}

/* SIGKILL every process whose parent is the launcher (children, and orphans reparented to it
 * as the subreaper). */
static void kill_children(pid_t self)
{
    DIR *d = opendir("/proc");
    if (d == NULL) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[64], line[512];
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, line, sizeof(line) - 1);
        close(fd);
        if (n <= 0) continue;
        line[n] = '\0';
        const char *rp = strrchr(line, ')'); /* the name may hold spaces and parentheses */
        int ppid;
        if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == self) kill((pid_t)pid, SIGKILL);
    }
    closedir(d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* portico is gone: kill and reap everything, then exit. */
static void __attribute__((noreturn)) launcher_stop(launcher *L)
{
    for (size_t i = 0; i < L->nkids; i++) kill(-L->kids[i].pid, SIGKILL);
    double start = now_s();
    for (;;) {
        kill_children(L->self);
        for (;;) {
            pid_t p = waitpid(-1, NULL, WNOHANG);
            if (p > 0 || (p < 0 && errno == EINTR)) continue;
            if (p < 0) _exit(0); /* ECHILD: nothing left */
            break;
        }
        if (now_s() - start > 2.0) _exit(0);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void spawn_launcher_run(int ctl)
{
    launcher L = {.self = getpid()};
    /* keep only the control socket, on a number above 2; fds 0-2 are /dev/null */
    L.ctl = ctl > 2 ? ctl : fcntl(ctl, F_DUPFD_CLOEXEC, 3);
    if (L.ctl < 0) _exit(1); /* portico sees the socket close */
    spawn_close_from(0, L.ctl);
    for (int fd = 0; fd < 3; fd++)
        if (open("/dev/null", O_RDWR) < 0) break;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        sigaction(ignored[i], &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_SETMASK, &set, NULL);
    L.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    prctl(PR_SET_NAME, "portico-spawn");
    L.buf = gw_xmalloc(SPAWN_MSG_MAX + 1);

    for (;;) {
        struct pollfd p[2] = {{.fd = L.ctl, .events = POLLIN}, {.fd = L.sfd, .events = POLLIN}};
        int n = poll(p, L.sfd >= 0 ? 2 : 1, L.sfd >= 0 ? -1 : 100);
        if (n < 0 && errno != EINTR) break;
        if (n < 0) continue;
        if (L.sfd < 0 || p[1].revents) reap(&L);
        if (p[0].revents && ctl_read(&L) < 0) break;
    }
    launcher_stop(&L);
}
