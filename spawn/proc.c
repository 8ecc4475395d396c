/* Processes of the apps: start (through the launcher), readiness, output to the error log, exit
 * and replacement, back-off, scaling up on demand and down when idle, stop. Runs on the main
 * loop and never blocks it: the fork and exec happen in the launcher. Knows no request. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/base/alloc.h"
#include "gateway/base/log.h"
#include "spawn/argv.h"
#include "spawn/spawn_int.h"

extern char **environ;

/* ---- output: each line to the error log, tagged with the app and the pid ---- */

#define LOG_LINE_MAX 1024

typedef struct spawn_logpipe {
    ev_io io;
    struct spawn_logpipe *prev, *next; /* every pipe still open */
    char app[64];
    pid_t pid;
    spawn_slot *slot; /* while the process is the slot's; NULL after */
    size_t len;
    char buf[LOG_LINE_MAX];
} spawn_logpipe;

static void log_line(const spawn_logpipe *lp, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r') n--;
    gw_log(GW_LOG_INFO, "app %s[%ld]: %.*s", lp->app, (long)lp->pid, (int)n, p);
    if (lp->slot == NULL) return;
    spawn_app *app = lp->slot->app; /* (the last lines, for status: why it does not start) */
    snprintf(app->tail[app->tail_next], SPAWN_TAIL_LINE, "[%ld] %.*s", (long)lp->pid, (int)n, p);
    app->tail_next = (app->tail_next + 1) % SPAWN_TAIL;
    if (app->ntail < SPAWN_TAIL) app->ntail++;
}

/* The phase of the app's latest start that `s` reached (an older start's is not recorded). */
static double *phase(spawn_slot *s, size_t offset)
{
    spawn_phases *ph = &s->app->last_start;
    return ph->launch_id == s->launch_id ? (double *)((char *)ph + offset) : NULL;
}

#define PHASE(s, field, t)                                                                         \
    do {                                                                                           \
        double *at_ = phase((s), offsetof(spawn_phases, field));                                   \
        if (at_ && *at_ == 0) *at_ = (t); /* (the first time counts) */                            \
    } while (0)

static spawn_logpipe *logs;

static void log_close(spawn_logpipe *lp)
{
    if (lp->len) log_line(lp, lp->buf, lp->len);
    ev_io_stop(spawn_g.loop, &lp->io);
    close(lp->io.fd);
    if (lp->slot && lp->slot->log == lp) lp->slot->log = NULL;
    if (lp->prev)
        lp->prev->next = lp->next;
    else
        logs = lp->next;
    if (lp->next) lp->next->prev = lp->prev;
    free(lp);
}

void spawn_proc_close_logs(void)
{
    while (logs) log_close(logs);
}

/* Read what is in the pipe and log its whole lines; > 0 while there may be more. */
static ssize_t read_log(spawn_logpipe *lp)
{
    ev_io *w = &lp->io;
    ssize_t n = read(w->fd, lp->buf + lp->len, sizeof(lp->buf) - lp->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) { /* every writer is gone: the process and anything it left behind */
        log_close(lp);
        return 0;
    }
    lp->len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < lp->len; i++) {
        if (lp->buf[i] != '\n') continue;
        log_line(lp, lp->buf + start, i - start);
        start = i + 1;
    }
    if (start == 0 && lp->len == sizeof(lp->buf)) start = lp->len; /* too long: in pieces */
    if (start > 0 && start == lp->len && lp->buf[start - 1] != '\n') log_line(lp, lp->buf, start);
    memmove(lp->buf, lp->buf + start, lp->len - start);
    lp->len -= start;
    return n;
}

static void on_log(struct ev_loop *loop, ev_io *w, int revents)
{
    spawn_logpipe *lp = (spawn_logpipe *)w;
    if (lp->pid == 0 && lp->slot) { /* (its lines wait for its pid: the launcher's STARTED) */
        ev_io_stop(loop, w);
        return;
    }
    read_log(lp);
}

/* The process is gone: what it wrote last is read now, while the pipe is still its slot's. */
static void read_last_lines(spawn_slot *s)
{
    spawn_logpipe *lp = s->log;
    for (int i = 0; i < 64 && s->log == lp && read_log(lp) > 0; i++) continue;
}

/* ---- start ---- */

/* A slot is starting: check readiness every SPAWN_POLL until none is (spawn_proc_on_fast). */
static void poll_readiness(void)
{
    if (ev_is_active(&spawn_g.fast)) return;
    ev_timer_set(&spawn_g.fast, SPAWN_POLL, SPAWN_POLL);
    ev_timer_start(spawn_g.loop, &spawn_g.fast);
}

static void slot_failed_to_launch(spawn_slot *s, const char *why);

void spawn_proc_start(spawn_slot *s)
{
    spawn_app *app = s->app;
    const spawn_conf *c = &app->conf;
    s->state = SPAWN_SLOT_STARTING;
    /* (a socket of ours queues until it accepts) */
    spawn_set_usable(s, c->pass != SPAWN_PASS_ARGUMENT);
    s->started_at = spawn_now();
    s->ready_at = 0;
    spawn_slot_set_idle_since(s, s->started_at);
    s->pid = 0;
    gw_atomic_set(&s->requests, 0);
    s->kill_owed = s->timed_out = 0;
    gw_atomic_set(&s->answered, 0);
    s->launch_id = ++spawn_g.next_launch;
    app->last_start = (spawn_phases){.launch_id = s->launch_id, .spawned = s->started_at};
    spawn_recycle_started(s);
    app->starts++;
    if (app->unreplaced > 0) { /* it replaces a process that died */
        app->unreplaced--;
        app->restarts++;
        s->restarts++;
    }
    if (spawn_g.ctl < 0) {
        slot_failed_to_launch(s, "the launcher is gone");
        return;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        slot_failed_to_launch(s, strerror(errno));
        return;
    }
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    char **argv = spawn_argv_subst(c->argv, s->sockarg, s->port);
    char *extra[3];
    size_t nextra = 0;
    char portvar[32];
    if (s->port[0]) {
        snprintf(portvar, sizeof(portvar), "PORT=%s", s->port);
        extra[nextra++] = portvar;
    }
    static char *const path_only[] = {"PATH", NULL};
    char *const *copy = c->copy_env ? c->copy_env : path_only;
    char **envp = spawn_env_build(environ, copy, spawn_strv_len(copy), c->env,
                                  c->env ? spawn_strv_len(c->env) : 0, extra, nextra);
    spawn_launch l = {.id = s->launch_id,
                      .argv = argv,
                      .envp = envp,
                      .pass = c->pass,
                      .sock_fd = s->lfd,
                      .fdname = c->name,
                      .log_fd = pfd[1],
                      .user = c->user,
                      .group = c->group};
    char *err = NULL;
    int rc = spawn_launcher_launch(spawn_g.ctl, &l, &err);
    spawn_strv_free(argv);
    spawn_strv_free(envp);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        slot_failed_to_launch(s, err ? err : "cannot reach the launcher");
        free(err);
        return;
    }
    spawn_logpipe *lp = gw_xcalloc(1, sizeof(*lp));
    snprintf(lp->app, sizeof(lp->app), "%s", c->name);
    lp->slot = s;
    lp->next = logs;
    if (logs) logs->prev = lp;
    logs = lp;
    ev_io_init(&lp->io, on_log, pfd[0], EV_READ);
    ev_io_start(spawn_g.loop, &lp->io);
    s->log = lp;
    if (s->lfd >= 0) {
        /* Readiness: a connection closed at once sits in the queue until the app accepts it
         * (the app reads end-of-file and goes on); the queue found empty means it accepts. */
        int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            connect(fd, (struct sockaddr *)&s->sa, s->salen);
            close(fd);
        }
    }
    poll_readiness();
    if (s->usable) spawn_owe_changed(app);
}

/* ---- readiness ---- */

static void mark_ready(spawn_slot *s)
{
    spawn_app *app = s->app;
    int was_usable = s->usable;
    s->state = SPAWN_SLOT_READY;
    spawn_set_usable(s, !s->draining); /* (a drained one stays out) */
    s->ready_at = spawn_now();
    spawn_slot_set_idle_since(s, s->ready_at); /* (idle from now, not from its spawn) */
    PHASE(s, ready, s->ready_at);
    app->last_start_seconds = s->ready_at - s->started_at;
    if (s->probe_fd >= 0) {
        close(s->probe_fd);
        s->probe_fd = -1;
    }
    gw_log(GW_LOG_INFO, "app %s[%ld]: ready in %.1f ms", app->conf.name, (long)s->pid,
           app->last_start_seconds * 1000);
    if (!was_usable) spawn_owe_changed(app);
    spawn_recycle_ready(s); /* (a replacement: the process it replaces drains) */
}

/* Argument mode: the app binds the address itself; it is ready once a connect succeeds. */
static int argument_ready(spawn_slot *s)
{
    if (s->probe_fd < 0) {
        s->probe_fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->probe_fd < 0) return 0;
        if (connect(s->probe_fd, (struct sockaddr *)&s->sa, s->salen) == 0) return 1;
        if (errno == EINPROGRESS || errno == EAGAIN) return 0;
    } else {
        int err = 0;
        socklen_t len = sizeof(err);
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        if (getpeername(s->probe_fd, (struct sockaddr *)&peer, &plen) == 0) return 1;
        getsockopt(s->probe_fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && errno == ENOTCONN) return 0; /* still connecting */
    }
    close(s->probe_fd); /* refused: the app does not listen yet; try again next time */
    s->probe_fd = -1;
    return 0;
}

void spawn_proc_on_fast(struct ev_loop *loop, ev_timer *w, int revents)
{
    int starting = 0;
    for (spawn_app *a = spawn_g.apps; a; a = a->next) {
        for (unsigned i = 0; i < a->nslots; i++) {
            spawn_slot *s = &a->slots[i];
            if (s->state != SPAWN_SLOT_STARTING) continue;
            if (s->pid == 0) { /* the launcher has not answered yet */
                starting = 1;
                continue;
            }
            int ready = s->lfd >= 0 ? !spawn_slot_queued(s) : argument_ready(s);
            if (ready)
                mark_ready(s);
            else
                starting = 1;
        }
    }
    if (!starting) ev_timer_stop(loop, w);
}

void spawn_slot_refused(spawn_slot *s)
{
    if (s->lfd >= 0 || s->state != SPAWN_SLOT_READY) return; /* (our own socket never refuses) */
    s->state = SPAWN_SLOT_STARTING; /* probed again until a connect succeeds */
    spawn_set_usable(s, 0);
    poll_readiness();
    spawn_owe_changed(s->app);
}

void spawn_slot_answered(spawn_slot *s)
{
    gw_atomic_set(&s->answered, 1);
    PHASE(s, ready, spawn_now()); /* (it answered: it was ready, whatever the polling saw) */
    PHASE(s, answered, spawn_now());
    s->app->failures = 0; /* it served: not a failed start, however it ends */
    if (s->state == SPAWN_SLOT_STARTING && s->pid) mark_ready(s);
}

/* ---- requests in and out ---- */

int spawn_slot_acquire(spawn_slot *s, int capped)
{
    unsigned cur = __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST);
    do {
        if (capped && cur >= s->cap) return 0;
    } while (!__atomic_compare_exchange_n(&s->inflight, &cur, cur + 1, 1, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    /* (an idle stop takes `usable` away first, then looks at the count: one of the two sides
     * sees the other) */
    if (!__atomic_load_n(&s->usable, __ATOMIC_SEQ_CST)) {
        spawn_slot_release(s);
        return 0;
    }
    gw_atomic_add(&s->requests, 1);
    return 1;
}

void spawn_slot_release(spawn_slot *s)
{
    if (__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST) == 0)
        spawn_slot_set_idle_since(s, ev_time()); /* (any thread: not the main loop's clock) */
}

/* ---- scaling ---- */

static int in_backoff(const spawn_app *app)
{
    return app->backoff_until > spawn_now();
}

/* Argument mode: the app binds its address itself. While a process of another app object (the
 * old one of an app changed on reload) still runs on the same address, a new one could not
 * bind it, and the readiness probe would reach the old one: the slot starts once it is gone. */
int spawn_slot_address_busy(const spawn_slot *s)
{
    if (s->app->conf.pass != SPAWN_PASS_ARGUMENT) return 0;
    for (const spawn_app *a = spawn_g.apps; a; a = a->next) {
        if (a == s->app) continue;
        for (unsigned i = 0; i < a->nslots; i++)
            if (a->slots[i].state != SPAWN_SLOT_EMPTY && strcmp(a->slots[i].addr, s->addr) == 0)
                return 1;
    }
    return 0;
}

/* Start processes for the requests that wait beyond the room of the usable slots, up to
 * max-procs and SPAWN_MAX_STARTING starts in flight. */
void spawn_proc_scale(spawn_app *app)
{
    if (spawn_g.stopping_all || in_backoff(app)) return;
    unsigned waiting = spawn_g.hooks.waiting ? spawn_g.hooks.waiting(app) : 0;
    unsigned room = 0, starting = 0, live = spawn_app_serving(app);
    for (unsigned i = 0; i < app->nslots; i++) {
        const spawn_slot *s = &app->slots[i];
        if (!spawn_slot_live(s) || s->draining) continue;
        starting += s->state == SPAWN_SLOT_STARTING;
        unsigned in = spawn_slot_inflight(s);
        if (in < s->cap) room += s->cap - in;
    }
    unsigned want = live < app->conf.min_procs && !app->retired ? app->conf.min_procs - live : 0;
    if (live >= app->conf.max_procs) want = 0; /* (replacements come on top: recycle.c) */
    if (waiting > room) {
        unsigned more = (waiting - room + app->conf.concurrency - 1) / app->conf.concurrency;
        if (more > want) want = more;
    }
    for (unsigned i = 0;
         i < app->nslots && want > 0 && starting < SPAWN_MAX_STARTING && live < app->conf.max_procs;
         i++) {
        spawn_slot *s = &app->slots[i];
        if (s->state != SPAWN_SLOT_EMPTY || spawn_slot_address_busy(s)) continue;
        if (!spawn_budget_allows(app)) break;
        spawn_proc_start(s);
        want--;
        starting++;
        live++;
    }
}

void spawn_app_demand(spawn_app *app)
{
    spawn_proc_scale(app);
}

/* An idle slot is about to stop: take it out of use first, then make sure no worker took a
 * request meanwhile (spawn_slot_acquire looks at `usable` after counting itself in). */
int spawn_take_idle(spawn_slot *s)
{
    int was = s->usable;
    spawn_set_usable(s, 0);
    if (spawn_slot_inflight(s) > 0) {
        spawn_set_usable(s, was);
        return 0;
    }
    if (was) spawn_owe_changed(s->app);
    return 1;
}

/* ---- stop ---- */

/* SIGKILL takes the whole group; kill-signal only the process under kill-mode "main". */
static int kill_group(const spawn_slot *s, int sig)
{
    return sig == SIGKILL || !s->app->conf.kill_main;
}

void spawn_proc_stop(spawn_slot *s, int sig)
{
    if (s->state != SPAWN_SLOT_STOPPING) {
        int was_usable = s->usable;
        s->state = SPAWN_SLOT_STOPPING;
        spawn_set_usable(s, 0);
        s->stop_deadline = spawn_now() + s->app->conf.stop_timeout;
        if (spawn_g.hooks.stopping) spawn_g.hooks.stopping(s);
        if (was_usable) spawn_owe_changed(s->app);
    }
    if (s->pid == 0) {
        s->kill_owed = sig;
        return;
    }
    if (spawn_g.ctl >= 0) spawn_launcher_kill(spawn_g.ctl, s->pid, sig, kill_group(s, sig));
}

/* ---- exit ---- */

static void describe_exit(char *dst, size_t cap, int status)
{
    if (status < 0)
        snprintf(dst, cap, "not started");
    else if (WIFEXITED(status))
        snprintf(dst, cap, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(dst, cap, "killed by %s", spawn_signal_name(WTERMSIG(status)));
    else
        snprintf(dst, cap, "status %d", status);
}

/* The slot's process is gone (status < 0: it never ran). Decide about back-off and the
 * replacement. */
static void slot_exited(spawn_slot *s, int status)
{
    spawn_app *app = s->app;
    double now = spawn_now();
    int asked = s->state == SPAWN_SLOT_STOPPING && !s->timed_out;
    int was_usable = s->usable;
    double age = now - s->started_at;
    describe_exit(app->last_exit, sizeof(app->last_exit), status);
    snprintf(s->last_exit, sizeof(s->last_exit), "%s", app->last_exit);
    if (s->probe_fd >= 0) close(s->probe_fd);
    s->probe_fd = -1;
    PHASE(s, ended, now);
    if (s->log) { /* its last lines (they may say why it died), then the pipe lives on its own */
        if (s->log->pid == 0) s->log->pid = s->pid;
        read_last_lines(s);
    }
    if (s->log) {
        s->log->slot = NULL;
        ev_io_start(spawn_g.loop, &s->log->io); /* (until its end of file) */
    }
    s->log = NULL;
    int was_out = s->draining || s->successor; /* (replaced, or being replaced) */
    spawn_recycle_exited(s);
    pid_t pid = s->pid;
    s->state = SPAWN_SLOT_EMPTY;
    spawn_set_usable(s, 0);
    s->pid = 0;
    if (!asked) app->unreplaced++;
    if (asked) {
        gw_log(GW_LOG_INFO, "app %s[%ld]: stopped (%s)", app->conf.name, (long)pid, app->last_exit);
    } else if (s->ready_at == 0 || (age < SPAWN_YOUNG && !s->answered)) {
        app->failures++;
        double delay = spawn_backoff_delay(app->failures);
        app->backoff_until = now + delay;
        gw_log(GW_LOG_ERR,
               "app %s[%ld]: %s %.2f s after start%s; next start in %.1f s (%u failed "
               "in a row)",
               app->conf.name, (long)pid, app->last_exit, age,
               s->ready_at == 0 ? ", before it was ready" : "", delay, app->failures);
    } else {
        app->failures = 0;
        gw_log(GW_LOG_WARN, "app %s[%ld]: %s after %.0f s; replacing it", app->conf.name, (long)pid,
               app->last_exit, age);
    }
    if (was_usable || in_backoff(app)) spawn_owe_changed(app); /* (back-off: 503 for waiters) */
    if (spawn_g.stopping_all) return;
    if (spawn_g.max_total) /* (its place in the budget may be what another app waits for) */
        for (spawn_app *a = spawn_g.apps; a; a = a->next)
            if (a != app) spawn_proc_scale(a);
    if (asked) { /* the next replacement may take its slot; requests that came while it was
                    stopping may wait for a process */
        spawn_recycle_tick(app, now);
        spawn_proc_scale(app);
        return;
    }
    if (in_backoff(app)) {
        /* nobody takes what waits in this socket for a while: hand it back, to be retried on
         * another process or answered 503 (it never reached an app; no process holds the
         * socket now, the launcher killed the whole group) */
        spawn_slot_drain(s);
        return;
    }
    if (was_out) { /* its place is its successor's: what waits in its socket goes back */
        spawn_slot_drain(s);
    } else if (spawn_slot_inflight(s) > 0 ||
               spawn_slot_queued(s)) { /* connections wait for this very slot */
        spawn_proc_start(s);
        return;
    }
    spawn_proc_scale(app); /* min-procs, or requests waiting */
}

static void slot_failed_to_launch(spawn_slot *s, const char *why)
{
    gw_log(GW_LOG_ERR, "app %s: cannot start %s: %s", s->app->conf.name, s->app->conf.argv[0], why);
    s->ready_at = 0;
    slot_exited(s, -1);
}

static spawn_slot *slot_of(uint32_t id)
{
    for (spawn_app *a = spawn_g.apps; a; a = a->next)
        for (unsigned i = 0; i < a->nslots; i++)
            if (a->slots[i].launch_id == id && a->slots[i].state != SPAWN_SLOT_EMPTY)
                return &a->slots[i];
    return NULL;
}

void spawn_proc_on_ctl(struct ev_loop *loop, ev_io *w, int revents)
{
    spawn_event ev;
    int rc;
    while ((rc = spawn_launcher_recv(spawn_g.ctl, &ev)) == 0) {
        spawn_slot *s = slot_of(ev.id);
        if (s == NULL) continue;
        if (ev.type == SPAWN_EV_STARTED) {
            s->pid = ev.pid;
            if (s->log) {
                s->log->pid = ev.pid;
                ev_io_start(loop, &s->log->io); /* (no-op when it is active) */
            }
            PHASE(s, execd, spawn_now());
            if (s->app->last_start.launch_id == s->launch_id) s->app->last_start.pid = ev.pid;
            gw_log(GW_LOG_INFO, "app %s[%ld]: started on %s", s->app->conf.name, (long)ev.pid,
                   s->addr);
            if (s->kill_owed)
                spawn_launcher_kill(spawn_g.ctl, s->pid, s->kill_owed, kill_group(s, s->kill_owed));
        } else if (ev.type == SPAWN_EV_FAILED) {
            char why[160];
            snprintf(why, sizeof(why), "%s: %s", ev.what[0] ? ev.what : "setup", strerror(ev.err));
            s->pid = ev.pid;
            slot_failed_to_launch(s, why);
        } else {
            slot_exited(s, ev.status);
        }
    }
    if (rc < 0) {
        gw_log(GW_LOG_ERR, "the launcher of spawned apps is gone: apps cannot be started");
        ev_io_stop(loop, w);
        close(spawn_g.ctl);
        spawn_g.ctl = -1;
        for (spawn_app *a = spawn_g.apps; a; a = a->next) {
            for (unsigned i = 0; i < a->nslots; i++)
                if (a->slots[i].state != SPAWN_SLOT_EMPTY) { /* its processes died with it */
                    a->slots[i].state = SPAWN_SLOT_STOPPING;
                    slot_exited(&a->slots[i], SIGKILL);
                }
            spawn_owe_changed(a);
        }
    }
}

/* ---- housekeeping ---- */

/* How long a process above min-procs may idle: idle-timeout, a second under memory pressure. */
static double idle_limit(const spawn_conf *c)
{
    return spawn_g.pressured && c->idle_timeout > 1 ? 1 : c->idle_timeout;
}

static void tick_app(spawn_app *app, double now)
{
    const spawn_conf *c = &app->conf;
    int unused = app->retired && app->refs == 0;
    /* a retired app gets only what the old configuration still sends: an idle process of it
     * goes at once (it may hold an address the new app's process needs) */
    int drained =
        app->retired && (unused || !spawn_g.hooks.waiting || spawn_g.hooks.waiting(app) == 0);
    unsigned live = spawn_app_serving(app);
    for (unsigned k = app->nslots; k-- > 0;) { /* from the top: low slots stay warm */
        spawn_slot *s = &app->slots[k];
        if (s->state == SPAWN_SLOT_READY && now - s->started_at >= SPAWN_YOUNG)
            app->failures = 0; /* a good start ends the row, however the process ends */
        if (s->state == SPAWN_SLOT_STARTING && now - s->started_at > c->start_timeout) {
            gw_log(GW_LOG_ERR, "app %s[%ld]: not ready after %.0f s (start-timeout): killed",
                   c->name, (long)s->pid, c->start_timeout);
            spawn_proc_stop(s, SIGKILL);
            s->timed_out = 1;
        } else if (s->state == SPAWN_SLOT_STOPPING && now >= s->stop_deadline) {
            gw_log(GW_LOG_WARN, "app %s[%ld]: still running %.0f s after %s: SIGKILL", c->name,
                   (long)s->pid, c->stop_timeout, spawn_signal_name(c->kill_signal));
            s->stop_deadline = INFINITY;
            spawn_proc_stop(s, SIGKILL);
        } else if (s->state == SPAWN_SLOT_READY && spawn_slot_inflight(s) == 0 &&
                   !spawn_g.stopping_all && !s->draining && !s->replacing &&
                   (drained ||
                    (live > c->min_procs && now - spawn_slot_idle_since(s) >= idle_limit(c)))) {
            if (!spawn_take_idle(s)) continue;
            spawn_proc_stop(s, c->kill_signal);
            live--;
        } else if (unused && s->state == SPAWN_SLOT_STARTING && spawn_slot_inflight(s) == 0) {
            if (!spawn_take_idle(s)) continue;
            spawn_proc_stop(s, c->kill_signal);
        }
    }
    if (app->backoff_until != 0 && now >= app->backoff_until) {
        app->backoff_until = 0;
        spawn_owe_changed(app);
    }
    spawn_recycle_tick(app, now);
    spawn_proc_scale(app); /* min-procs, and requests that wait (for an address, too) */
}

void spawn_proc_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    double now = spawn_now();
    spawn_recycle_rss(now);
    spawn_read_pressure(now);
    for (spawn_app *a = spawn_g.apps, *next; a; a = next) {
        next = a->next;
        tick_app(a, now);
        if (a->retired && a->refs == 0 && spawn_app_procs(a) == 0) spawn_app_free(a);
    }
    if (spawn_g.apps == NULL) ev_timer_stop(loop, w); /* (started again by spawn_sync_commit) */
}
