/* Unit tests for the launcher (spawn/launch.c): a real launcher process starting /bin/sh scripts
 * that report their fds, environment and process group; signals, failures, and the clean-up
 * when portico's end closes. Every test reaps what it started; timeouts are short. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn/launch.h"

TCase *launch_tcase(void);

typedef struct lt {
    int ctl;
    pid_t launcher;
    int logr, logw, sock;
    char log[16384];
    size_t loglen;
    int log_eof;
} lt;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void lt_start(lt *t)
{
    memset(t, 0, sizeof(*t));
    char *err = NULL;
    ck_assert_msg(spawn_launcher_start(&t->ctl, &t->launcher, &err) == 0, "%s", err);
    ck_assert(fcntl(t->ctl, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(t->ctl, F_GETFD) & FD_CLOEXEC);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    t->logr = p[0];
    t->logw = p[1];
    fcntl(t->logr, F_SETFL, O_NONBLOCK);
    t->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(t->sock, 0);
}

static void lt_close(lt *t)
{
    close(t->logr);
    if (t->logw >= 0) close(t->logw);
    close(t->sock);
}

/* Close portico's end; the launcher must exit (status 0) within 2 s. */
static void lt_stop(lt *t)
{
    if (t->ctl >= 0) close(t->ctl);
    t->ctl = -1;
    double start = now_s();
    int st = 0;
    pid_t r;
    while ((r = waitpid(t->launcher, &st, WNOHANG)) == 0 && now_s() - start < 2.0) nap_ms(2);
    ck_assert_msg(r == t->launcher, "the launcher did not exit within 2 s");
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    lt_close(t);
}

static int lt_launch(lt *t, uint32_t id, int pass, char *const *argv, char *const *envp,
                     const char *user, const char *group)
{
    spawn_launch l = {.id = id,
                      .argv = argv,
                      .envp = envp,
                      .pass = pass,
                      .sock_fd = t->sock,
                      .fdname = "web",
                      .log_fd = t->logw,
                      .user = user,
                      .group = group};
    char *err = NULL;
    int rc = spawn_launcher_launch(t->ctl, &l, &err);
    ck_assert_msg(rc == 0, "%s", err);
    return rc;
}

#define SH(script) ((char *const[]){"/bin/sh", "-c", (script), NULL})
static char *const plain_env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};

/* The next event, within ms; fails the test on a timeout. */
static void expect(lt *t, int type, uint32_t id, spawn_event *ev, int ms)
{
    double end = now_s() + ms / 1000.0;
    for (;;) {
        int r = spawn_launcher_recv(t->ctl, ev);
        ck_assert_int_ne(r, -1);
        if (r == 0) break;
        int left = (int)((end - now_s()) * 1000);
        ck_assert_msg(left > 0, "no event %d for id %u", type, id);
        struct pollfd p = {.fd = t->ctl, .events = POLLIN};
        poll(&p, 1, left);
    }
    ck_assert_msg(ev->type == type && ev->id == id, "event %d id %u, wanted %d id %u (%s)",
                  ev->type, ev->id, type, id, ev->what);
}

/* Read the log until EOF (every writer gone), within ms. */
static const char *log_all(lt *t, int ms)
{
    if (t->logw >= 0) close(t->logw);
    t->logw = -1;
    double end = now_s() + ms / 1000.0;
    while (!t->log_eof) {
        ssize_t n = read(t->logr, t->log + t->loglen, sizeof(t->log) - 1 - t->loglen);
        if (n > 0) t->loglen += (size_t)n;
        if (n == 0) t->log_eof = 1;
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            int left = (int)((end - now_s()) * 1000);
            ck_assert_msg(left > 0, "log not closed: %.*s", (int)t->loglen, t->log);
            struct pollfd p = {.fd = t->logr, .events = POLLIN};
            poll(&p, 1, left);
        }
    }
    t->log[t->loglen] = '\0';
    return t->log;
}

/* Wait for a log line "key<number>" and return the number. */
static long log_num(lt *t, const char *key, int ms)
{
    double end = now_s() + ms / 1000.0;
    for (;;) {
        t->log[t->loglen] = '\0';
        const char *k = strstr(t->log, key);
        if (k && strchr(k, '\n')) return atol(k + strlen(key));
        ssize_t n = read(t->logr, t->log + t->loglen, sizeof(t->log) - 1 - t->loglen);
        if (n > 0) {
            t->loglen += (size_t)n;
            continue;
        }
        int left = (int)((end - now_s()) * 1000);
        ck_assert_msg(n < 0 && left > 0, "no %s in the log: %s", key, t->log);
        struct pollfd p = {.fd = t->logr, .events = POLLIN};
        poll(&p, 1, left);
    }
}

static int gone(pid_t pid)
{
    return kill(pid, 0) == -1 && errno == ESRCH;
}

static void wait_gone(pid_t pid, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (!gone(pid) && now_s() < end) nap_ms(2);
    ck_assert_msg(gone(pid), "pid %ld still there", (long)pid);
}

/* The state letter in /proc/PID/stat ('T' stopped), or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

static void wait_state(pid_t pid, int stopped, int ms)
{
    double end = now_s() + ms / 1000.0;
    while ((proc_state(pid) == 'T') != stopped && now_s() < end) nap_ms(2);
    ck_assert_msg((proc_state(pid) == 'T') == stopped, "pid %ld state %c", (long)pid,
                  proc_state(pid));
}

static const char report[] = "set -- $(cat /proc/$$/stat); echo \"pgid=$5 sid=$6 ppid=$4\"\n"
                             "ls /proc/$$/fd\n"
                             "tr '\\0' '\\n' < /proc/$$/environ\n"
                             /* no signal blocked or ignored (the launcher ignores some) */
                             "test \"$(grep -cE '^Sig(Blk|Ign):[[:space:]]+0+$' /proc/$$/status)\""
                             " = 2 && echo signals=default\n"
                             "echo out; echo err >&2\n";

START_TEST(launch_fd0)
{
    lt t;
    lt_start(&t);
    char script[1024];
    snprintf(script, sizeof(script), "test -S /proc/$$/fd/0 && echo fd0=socket\n%s", report);
    lt_launch(&t, 7, SPAWN_PASS_FD0, SH(script), plain_env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 7, &ev, 2000);
    pid_t pid = ev.pid;
    ck_assert_int_gt(pid, 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "fd0=socket\npgid=%ld sid=%ld ppid=%ld\n0\n1\n2\nFOO=bar baz\nPATH=/usr/bin:/bin\n"
             "signals=default\nout\nerr\n",
             (long)pid, (long)pid, (long)t.launcher);
    ck_assert_str_eq(log_all(&t, 2000), want);
    expect(&t, SPAWN_EV_EXITED, 7, &ev, 2000);
    ck_assert_int_eq(ev.pid, pid);
    ck_assert(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 0);
    ck_assert(gone(pid));
    lt_stop(&t);
}
END_TEST

START_TEST(launch_listen_fds)
{
    lt t;
    lt_start(&t);
    char script[1024];
    snprintf(script, sizeof(script),
             "test -S /proc/$$/fd/3 && echo fd3=socket\n"
             "test \"$(readlink /proc/$$/fd/0)\" = /dev/null && echo fd0=null\n"
             "test \"$LISTEN_PID\" = $$ && echo listen_pid=self\n%s",
             report);
    char *const env[] = {"FOO=1", "LISTEN_PID=1", "PATH=/usr/bin:/bin", "LISTEN_FDNAMES=old", NULL};
    lt_launch(&t, 8, SPAWN_PASS_LISTEN_FDS, SH(script), env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 8, &ev, 2000);
    pid_t pid = ev.pid;
    char want[1024];
    snprintf(want, sizeof(want),
             "fd3=socket\nfd0=null\nlisten_pid=self\npgid=%ld sid=%ld ppid=%ld\n0\n1\n2\n3\n"
             "FOO=1\nLISTEN_PID=%ld\nPATH=/usr/bin:/bin\nLISTEN_FDNAMES=web\nLISTEN_FDS=1\n"
             "signals=default\nout\nerr\n",
             (long)pid, (long)pid, (long)t.launcher, (long)pid);
    ck_assert_str_eq(log_all(&t, 2000), want);
    expect(&t, SPAWN_EV_EXITED, 8, &ev, 2000);
    ck_assert(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 0);
    lt_stop(&t);
}
END_TEST

START_TEST(launch_argument)
{
    lt t;
    lt_start(&t);
    char script[1024];
    snprintf(script, sizeof(script),
             "test \"$(readlink /proc/$$/fd/0)\" = /dev/null && echo fd0=null\n%sexit 5\n", report);
    /* sock_fd is set in the request but not passed in this mode */
    lt_launch(&t, 9, SPAWN_PASS_ARGUMENT, SH(script), plain_env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 9, &ev, 2000);
    pid_t pid = ev.pid;
    char want[1024];
    snprintf(want, sizeof(want),
             "fd0=null\npgid=%ld sid=%ld ppid=%ld\n0\n1\n2\nFOO=bar baz\nPATH=/usr/bin:/bin\n"
             "signals=default\nout\nerr\n",
             (long)pid, (long)pid, (long)t.launcher);
    ck_assert_str_eq(log_all(&t, 2000), want);
    expect(&t, SPAWN_EV_EXITED, 9, &ev, 2000);
    ck_assert(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 5);
    lt_stop(&t);
}
END_TEST

/* A quick FAILED round trip: every message sent before it has been handled. */
static void barrier(lt *t)
{
    lt_launch(t, 999, SPAWN_PASS_ARGUMENT, (char *const[]){"/nonexistent/barrier", NULL}, plain_env,
              NULL, NULL);
    spawn_event ev;
    expect(t, SPAWN_EV_FAILED, 999, &ev, 2000);
}

START_TEST(launch_kill_group)
{
    lt t;
    lt_start(&t);
    lt_launch(&t, 1, SPAWN_PASS_FD0, SH("sleep 100 & echo kid=$!; wait"), plain_env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 1, &ev, 2000);
    pid_t pid = ev.pid;
    pid_t kid = (pid_t)log_num(&t, "kid=", 2000);
    /* pids that are not the launcher's live children are ignored: the grandchild, ourselves */
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, kid, SIGSTOP, 1), 0);
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, getpid(), SIGKILL, 1), 0);
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, 0, SIGKILL, 1), 0);
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, -1, SIGKILL, 1), 0);
    barrier(&t);
    ck_assert_int_ne(proc_state(kid), 'T');
    /* the signal reaches the whole process group */
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, pid, SIGSTOP, 1), 0);
    wait_state(pid, 1, 2000);
    wait_state(kid, 1, 2000);
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, pid, SIGCONT, 1), 0);
    wait_state(pid, 0, 2000);
    wait_state(kid, 0, 2000);
    /* or the process alone (kill-mode "main") */
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, pid, SIGSTOP, 0), 0);
    wait_state(pid, 1, 2000);
    barrier(&t);
    ck_assert_int_ne(proc_state(kid), 'T');
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, pid, SIGCONT, 0), 0);
    wait_state(pid, 0, 2000);
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, pid, SIGTERM, 1), 0);
    expect(&t, SPAWN_EV_EXITED, 1, &ev, 2000);
    ck_assert_int_eq(ev.pid, pid);
    ck_assert(WIFSIGNALED(ev.status) && WTERMSIG(ev.status) == SIGTERM);
    wait_gone(kid, 1000);
    /* a reaped child is no longer a target */
    ck_assert_int_eq(spawn_launcher_kill(t.ctl, pid, SIGKILL, 1), 0);
    barrier(&t);
    lt_stop(&t);
}
END_TEST

START_TEST(launch_exit_kills_group)
{
    lt t;
    lt_start(&t);
    /* the leader exits; the group member keeping the socket must not survive it */
    lt_launch(&t, 2, SPAWN_PASS_FD0, SH("sleep 100 & echo kid=$!; exit 4"), plain_env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 2, &ev, 2000);
    pid_t kid = (pid_t)log_num(&t, "kid=", 2000);
    expect(&t, SPAWN_EV_EXITED, 2, &ev, 2000);
    ck_assert(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 4);
    wait_gone(kid, 1000);
    lt_stop(&t);
}
END_TEST

START_TEST(launch_failures)
{
    lt t;
    lt_start(&t);
    spawn_event ev;
    lt_launch(&t, 3, SPAWN_PASS_FD0, (char *const[]){"/nonexistent/prog", "x", NULL}, plain_env,
              NULL, NULL);
    expect(&t, SPAWN_EV_FAILED, 3, &ev, 2000);
    ck_assert_int_eq(ev.err, ENOENT);
    ck_assert_str_eq(ev.what, "exec /nonexistent/prog");
    ck_assert_int_gt(ev.pid, 0);
    ck_assert(gone(ev.pid)); /* already reaped */
    lt_launch(&t, 4, SPAWN_PASS_ARGUMENT, (char *const[]){"/etc/passwd", NULL}, plain_env, NULL,
              NULL);
    expect(&t, SPAWN_EV_FAILED, 4, &ev, 2000);
    ck_assert_int_eq(ev.err, EACCES);
    ck_assert_str_eq(ev.what, "exec /etc/passwd");
    if (geteuid() == 0) {
        lt_launch(&t, 5, SPAWN_PASS_ARGUMENT, SH("exit 0"), plain_env, "no-such-user-xyz", NULL);
        expect(&t, SPAWN_EV_FAILED, 5, &ev, 2000);
        ck_assert_int_eq(ev.err, ENOENT);
        ck_assert_str_eq(ev.what, "user no-such-user-xyz");
        lt_launch(&t, 6, SPAWN_PASS_ARGUMENT, SH("exit 0"), plain_env, "root", "no-such-grp");
        expect(&t, SPAWN_EV_FAILED, 6, &ev, 2000);
        ck_assert_str_eq(ev.what, "group no-such-grp");
    }
    /* no EXITED follows a FAILED: the next events are the next process's */
    lt_launch(&t, 10, SPAWN_PASS_ARGUMENT, SH("exit 0"), plain_env, NULL, NULL);
    expect(&t, SPAWN_EV_STARTED, 10, &ev, 2000);
    expect(&t, SPAWN_EV_EXITED, 10, &ev, 2000);
    lt_stop(&t);
}
END_TEST

START_TEST(launch_user)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || pw == NULL) return; /* switching needs root and a "nobody" */
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    lt t;
    lt_start(&t);
    lt_launch(&t, 11, SPAWN_PASS_FD0, SH("id -u; id -g; echo out"), plain_env, "nobody", NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 11, &ev, 2000);
    char want[128];
    snprintf(want, sizeof(want), "%ld\n%ld\nout\n", (long)uid, (long)gid);
    ck_assert_str_eq(log_all(&t, 2000), want);
    expect(&t, SPAWN_EV_EXITED, 11, &ev, 2000);
    lt_stop(&t);
}
END_TEST

START_TEST(launch_sizes)
{
    lt t;
    lt_start(&t);
    size_t big = 60000;
    char *var = malloc(big + 5);
    memcpy(var, "BIG=", 4);
    memset(var + 4, 'x', big);
    var[4 + big] = '\0';
    char *const env[] = {var, "PATH=/usr/bin:/bin", NULL};
    lt_launch(&t, 12, SPAWN_PASS_FD0, SH("echo ${#BIG}"), env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 12, &ev, 2000);
    ck_assert_str_eq(log_all(&t, 2000), "60000\n");
    expect(&t, SPAWN_EV_EXITED, 12, &ev, 2000);
    /* over 64 KiB: refused here, nothing sent */
    char *huge = malloc(70000);
    memset(huge, 'y', 69999);
    huge[69999] = '\0';
    spawn_launch l = {.id = 13,
                      .argv = SH(huge),
                      .envp = env,
                      .pass = SPAWN_PASS_ARGUMENT,
                      .sock_fd = -1,
                      .log_fd = -1};
    char *err = NULL;
    ck_assert_int_eq(spawn_launcher_launch(t.ctl, &l, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "64 KiB"));
    free(err);
    free(huge);
    free(var);
    lt_stop(&t);
}
END_TEST

START_TEST(launcher_process)
{
    lt t;
    lt_start(&t);
    /* it ignores the signals meant for portico */
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        ck_assert_int_eq(kill(t.launcher, sigs[i]), 0);
    barrier(&t);
    char path[64], name[32] = "";
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)t.launcher);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(name, sizeof(name), f));
    fclose(f);
    ck_assert_str_eq(name, "portico-spawn\n");
    /* it keeps only its control socket (and /dev/null on 0-2, and its signalfd) */
    snprintf(path, sizeof(path), "/proc/%ld/fd", (long)t.launcher);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int sockets = 0, fds = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char target[256];
        ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
        ck_assert_int_gt(n, 0);
        target[n] = '\0';
        if (atoi(e->d_name) >= 1000) continue; /* valgrind's own, at the top of the range */
        fds++;
        if (strncmp(target, "socket:", 7) == 0)
            sockets++;
        else if (atoi(e->d_name) <= 2)
            ck_assert_str_eq(target, "/dev/null");
        else
            ck_assert_str_eq(target, "anon_inode:[signalfd]");
    }
    closedir(d);
    ck_assert_int_eq(sockets, 1);
    ck_assert_int_eq(fds, 5);
    lt_stop(&t);
    /* gone: every call says so */
    spawn_event ev;
    char *err = NULL;
    int p[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, p), 0);
    close(p[1]);
    ck_assert_int_eq(spawn_launcher_recv(p[0], &ev), -1);
    ck_assert_int_eq(spawn_launcher_kill(p[0], 1, SIGTERM, 1), -1);
    spawn_launch l = {.argv = SH("exit 0"),
                      .envp = plain_env,
                      .pass = SPAWN_PASS_ARGUMENT,
                      .sock_fd = -1,
                      .log_fd = -1};
    ck_assert_int_eq(spawn_launcher_launch(p[0], &l, &err), -1);
    ck_assert_ptr_nonnull(err);
    free(err);
    close(p[0]);
}
END_TEST

START_TEST(launcher_cleanup)
{
    lt t;
    lt_start(&t);
    lt_launch(&t, 20, SPAWN_PASS_FD0,
              SH("setsid sh -c 'sleep 100 & echo esc2=$!; echo esc=$$; exec sleep 100' &\n"
                 "sleep 100 & echo kid=$!\n"
                 "wait"),
              plain_env, NULL, NULL);
    lt_launch(&t, 21, SPAWN_PASS_LISTEN_FDS, SH("echo two=$$; exec sleep 100"), plain_env, NULL,
              NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 20, &ev, 2000);
    pid_t app = ev.pid;
    expect(&t, SPAWN_EV_STARTED, 21, &ev, 2000);
    pid_t two = ev.pid;
    pid_t esc = (pid_t)log_num(&t, "esc=", 2000), esc2 = (pid_t)log_num(&t, "esc2=", 2000);
    pid_t kid = (pid_t)log_num(&t, "kid=", 2000);
    ck_assert_int_eq(log_num(&t, "two=", 2000), two);
    ck_assert(!gone(app) && !gone(two) && !gone(esc) && !gone(esc2) && !gone(kid));
    ck_assert_int_eq(getpgid(esc), esc); /* it did escape the app's process group */
    /* portico's end closes: within 2 s the launcher has exited and nothing is left */
    double start = now_s();
    close(t.ctl);
    int st = 0;
    pid_t r;
    while ((r = waitpid(t.launcher, &st, WNOHANG)) == 0 && now_s() - start < 2.0) nap_ms(2);
    double took = now_s() - start;
    pid_t all[] = {app, two, esc, esc2, kid};
    int survived = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (gone(all[i])) continue;
        survived++;
        kill(all[i], SIGKILL); /* leave nothing behind, even when failing */
    }
    if (r == 0) kill(t.launcher, SIGKILL);
    ck_assert_msg(r == t.launcher && took < 2.0, "the launcher did not exit within 2 s");
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(survived, 0);
    lt_close(&t);
}
END_TEST

START_TEST(launcher_killed)
{
    /* the launcher itself SIGKILLed (never by portico; here to check the last line of defence):
     * its children die of PR_SET_PDEATHSIG. We are their subreaper, to reap and see it. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    lt t;
    lt_start(&t);
    lt_launch(&t, 30, SPAWN_PASS_FD0, SH("exec sleep 100"), plain_env, NULL, NULL);
    spawn_event ev;
    expect(&t, SPAWN_EV_STARTED, 30, &ev, 2000);
    pid_t app = ev.pid;
    ck_assert_int_eq(kill(t.launcher, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(t.launcher, &st, 0), t.launcher);
    double end = now_s() + 2.0;
    pid_t r;
    while ((r = waitpid(app, &st, WNOHANG)) == 0 && now_s() < end) nap_ms(2);
    ck_assert_int_eq(r, app);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ck_assert_int_eq(spawn_launcher_recv(t.ctl, &ev), -1);
    close(t.ctl);
    lt_close(&t);
}
END_TEST

TCase *launch_tcase(void)
{
    TCase *tc = tcase_create("launch");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, launch_fd0);
    tcase_add_test(tc, launch_listen_fds);
    tcase_add_test(tc, launch_argument);
    tcase_add_test(tc, launch_kill_group);
    tcase_add_test(tc, launch_exit_kills_group);
    tcase_add_test(tc, launch_failures);
    tcase_add_test(tc, launch_user);
    tcase_add_test(tc, launch_sizes);
    tcase_add_test(tc, launcher_process);
    tcase_add_test(tc, launcher_cleanup);
    tcase_add_test(tc, launcher_killed);
    return tc;
}
