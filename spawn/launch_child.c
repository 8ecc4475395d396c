/* The app child between the launcher's fork and exec (launch_int.h): signals, session,
 * credentials, fds, environment. Knows nothing of portico or of the control socket. */
#include "config.h"

#include "spawn/launch.h"
#include "spawn/launch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gateway/base/alloc.h"

static void close_range_loop(unsigned lo, unsigned hi)
{
#ifdef SYS_close_range
    if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0) return;
#endif
    struct rlimit rl;
    unsigned max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max)
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++) close((int)fd);
}

void spawn_close_from(int from, int keep)
{
    if (keep >= from) {
        if (keep > from) close_range_loop((unsigned)from, (unsigned)keep - 1);
        close_range_loop((unsigned)keep + 1, UINT_MAX);
    } else {
        close_range_loop((unsigned)from, UINT_MAX);
    }
}

static void __attribute__((noreturn)) fail(int fd, int err, const char *step, const char *arg)
{
    spawn_report r;
    memset(&r, 0, sizeof(r));
    r.err = err;
    snprintf(r.what, sizeof(r.what), "%s%s%s", step, arg ? " " : "", arg ? arg : "");
    ssize_t w = write(fd, &r, sizeof(r));
    (void)w;
    _exit(127);
}

/* user/group: only root switches. The group defaults to the user's primary group. */
static void set_credentials(const spawn_child *c, int rfd)
{
    if ((c->user == NULL && c->group == NULL) || geteuid() != 0) return;
    uid_t uid = 0;
    gid_t gid = 0;
    if (c->user) {
        errno = 0;
        struct passwd *pw = getpwnam(c->user);
        if (pw == NULL) fail(rfd, errno ? errno : ENOENT, "user", c->user);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (c->group) {
        errno = 0;
        struct group *gr = getgrnam(c->group);
        if (gr == NULL) fail(rfd, errno ? errno : ENOENT, "group", c->group);
        gid = gr->gr_gid;
    }
    if (c->user ? initgroups(c->user, gid) < 0 : setgroups(1, &gid) < 0)
        fail(rfd, errno, c->user ? "initgroups" : "setgroups", c->user ? c->user : c->group);
    if (setgid(gid) < 0) fail(rfd, errno, "setgid", c->group ? c->group : c->user);
    if (c->user && setuid(uid) < 0) fail(rfd, errno, "setuid", c->user);
}

/* envp with `entry` ("NAME=value") replacing the variable of the same name, or appended. */
static void env_put(char **envp, size_t *n, char *entry)
{
    size_t len = (size_t)(strchr(entry, '=') - entry) + 1;
    for (size_t i = 0; i < *n; i++) {
        if (strncmp(envp[i], entry, len) == 0) {
            envp[i] = entry;
            return;
        }
    }
    envp[(*n)++] = entry;
    envp[*n] = NULL;
}

char **spawn_child_env(spawn_child *c)
{
    size_t n = 0;
    while (c->envp[n]) n++;
    char **envp = gw_xcalloc(n + 4, sizeof(*envp));
    memcpy(envp, c->envp, n * sizeof(*envp));
    c->listen_names = NULL;
    if (c->pass != SPAWN_PASS_LISTEN_FDS) return envp;
    const char *names = c->fdname ? c->fdname : "";
    size_t nl = strlen(names) + sizeof("LISTEN_FDNAMES=");
    c->listen_names = gw_xmalloc(nl);
    snprintf(c->listen_names, nl, "LISTEN_FDNAMES=%s", names);
    snprintf(c->listen_pid, sizeof(c->listen_pid), "LISTEN_PID=");
    env_put(envp, &n, "LISTEN_FDS=1");
    env_put(envp, &n, c->listen_pid);
    env_put(envp, &n, c->listen_names);
    return envp;
}

/* Move fd above 10 (the fds that arrived may sit on 0-3), close-on-exec. */
static int move_up(int fd, int rfd)
{
    int to = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    if (to < 0) fail(rfd, errno, "dup", NULL);
    return to;
}

void spawn_child_exec(spawn_child *c, char **envp, int report_fd)
{
    int rfd = report_fd;
    /* first out of portico's process group (a terminal's ^C reaches that group), then the
     * launcher's ignored signals back to their defaults */
    if (setsid() < 0) fail(rfd, errno, "setsid", NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (sigaction(s, &sa, NULL) == 0 || s == SIGKILL || s == SIGSTOP) continue;
        /* libc refuses its own signals (32, 33), yet an ignored one stays ignored across exec
         * (make leaves them so): the kernel call, with an all-zero struct, is SIG_DFL */
        char ksa[64] = {0};
        syscall(SYS_rt_sigaction, s, ksa, NULL, (size_t)(NSIG - 1 + 7) / 8);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    set_credentials(c, rfd);
    /* after the credentials: changing them clears the parent-death signal */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) fail(rfd, errno, "prctl", NULL);
    if (getppid() != c->launcher) _exit(127); /* the launcher died before the prctl */

    /* the pid, into the string the launcher placed in envp (nothing is allocated here) */
    if (c->pass == SPAWN_PASS_LISTEN_FDS)
        snprintf(c->listen_pid + strlen("LISTEN_PID="),
                 sizeof(c->listen_pid) - strlen("LISTEN_PID="), "%ld", (long)getpid());

    rfd = move_up(rfd, rfd);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) fail(rfd, errno, "open /dev/null", NULL);
    null = move_up(null, rfd);
    int sock = c->sock >= 0 ? move_up(c->sock, rfd) : -1;
    int log = c->log >= 0 ? move_up(c->log, rfd) : null;
    int in = c->pass == SPAWN_PASS_FD0 ? sock : null;
    if (dup2(in, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) fail(rfd, errno, "dup2", NULL);
    if (c->pass == SPAWN_PASS_LISTEN_FDS && dup2(sock, 3) < 0) fail(rfd, errno, "dup2", NULL);
    spawn_close_from(c->pass == SPAWN_PASS_LISTEN_FDS ? 4 : 3, rfd);

    execve(c->argv[0], c->argv, envp);
    fail(rfd, errno, "exec", c->argv[0]);
}
