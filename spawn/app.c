/* Apps and their sockets: the set of app objects (current and retired), one listening socket
 * per process slot made before the first process and kept for the app's life, reload (sync),
 * status. Processes themselves are proc.c's. Knows no request, no pool, no protocol. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/base/alloc.h"
#include "gateway/base/buf.h"
#include "gateway/base/log.h"
#include "spawn/argv.h"
#include "spawn/spawn_int.h"

spawn_sup spawn_g = {.ctl = -1};

static char **strv_dup(char *const *v)
{
    if (v == NULL) return NULL;
    size_t n = spawn_strv_len(v);
    char **out = gw_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) out[i] = gw_xstrdup(v[i]);
    return out;
}

static char *str_dup(const char *s)
{
    return s ? gw_xstrdup(s) : NULL;
}

static void conf_copy(spawn_conf *dst, const spawn_conf *src)
{
    *dst = *src;
    dst->name = gw_xstrdup(src->name);
    dst->argv = strv_dup(src->argv);
    dst->socket = str_dup(src->socket);
    dst->env = strv_dup(src->env);
    dst->copy_env = strv_dup(src->copy_env);
    dst->user = str_dup(src->user);
    dst->group = str_dup(src->group);
    dst->restart_file = str_dup(src->restart_file);
    dst->fingerprint = str_dup(src->fingerprint);
}

static void conf_clear(spawn_conf *c)
{
    free(c->name);
    spawn_strv_free(c->argv);
    free(c->socket);
    spawn_strv_free(c->env);
    spawn_strv_free(c->copy_env);
    free(c->user);
    free(c->group);
    free(c->restart_file);
    free(c->fingerprint);
}

void spawn_conf_free(spawn_conf *c)
{
    if (c == NULL) return;
    conf_clear(c);
    free(c);
}

/* ---- sockets ---- */

/* Where slot `i` listens: sa, addr, sockarg and port. */
static int slot_address(spawn_app *app, spawn_slot *s, char **err)
{
    const spawn_conf *c = &app->conf;
    memset(&s->sa, 0, sizeof(s->sa));
    char path[112]; /* (longer than any sun_path: a longer one is refused below) */
    const char *sock = c->socket;
    if (sock == NULL || strncmp(sock, "unix:", 5) == 0) {
        if (sock == NULL)
            snprintf(path, sizeof(path), "%s/%s.%u.%u.sock", spawn_g.state_dir, c->name,
                     app->serial, s->index);
        else
            snprintf(path, sizeof(path), "%s.%u", sock + 5, s->index);
        struct sockaddr_un *un = (struct sockaddr_un *)&s->sa;
        if (strlen(path) >= sizeof(un->sun_path))
            return gw_errf(err, "app %s: socket path %s is longer than %zu bytes", c->name, path,
                           sizeof(un->sun_path) - 1);
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        s->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        snprintf(s->addr, sizeof(s->addr), "unix:%s", path);
        snprintf(s->sockarg, sizeof(s->sockarg), "%s", path);
        s->port[0] = '\0';
        return 0;
    }
    /* "host:port" or "[v6]:port", parsed by the config layer: slot i on port + i */
    memcpy(&s->sa, &c->sock_sa, sizeof(s->sa));
    s->salen = c->sock_salen;
    char host[INET6_ADDRSTRLEN];
    unsigned port;
    if (s->sa.ss_family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&s->sa;
        port = ntohs(in4->sin_port) + s->index;
        in4->sin_port = htons((uint16_t)port);
        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
        snprintf(s->addr, sizeof(s->addr), "%s:%u", host, port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&s->sa;
        port = ntohs(in6->sin6_port) + s->index;
        in6->sin6_port = htons((uint16_t)port);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(s->addr, sizeof(s->addr), "[%s]:%u", host, port);
    }
    snprintf(s->sockarg, sizeof(s->sockarg), "%s", s->addr);
    snprintf(s->port, sizeof(s->port), "%u", port);
    return 0;
}

/* The listening socket of a slot. Blocking (the app's accept expects it; the flag is shared with
 * the app), close-on-exec (the launcher passes it explicitly). A stale unix socket file from an
 * earlier run is replaced. */
static int slot_listen(spawn_app *app, spawn_slot *s, char **err)
{
    int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return gw_errf(err, "app %s: socket: %s", app->conf.name, strerror(errno));
    if (s->sa.ss_family == AF_UNIX) {
        struct stat st;
        const char *path = ((struct sockaddr_un *)&s->sa)->sun_path;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&s->sa, s->salen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return gw_errf(err, "app %s: cannot listen on %s: %s", app->conf.name, s->addr,
                       strerror(e));
    }
    s->lfd = fd;
    s->owns_path = 0;
    if (s->sa.ss_family == AF_UNIX) {
        struct stat st;
        if (lstat(((struct sockaddr_un *)&s->sa)->sun_path, &st) == 0) {
            s->owns_path = 1;
            s->path_dev = st.st_dev;
            s->path_ino = st.st_ino;
        }
    }
    return 0;
}

static void slot_close(spawn_slot *s)
{
    if (s->lfd >= 0) {
        close(s->lfd);
        /* (another app object may have bound the same path since: an app renamed, or its
         * socket mode changed, on reload; its file is not ours to remove) */
        const char *path = ((struct sockaddr_un *)&s->sa)->sun_path;
        struct stat st;
        if (s->owns_path && lstat(path, &st) == 0 && st.st_dev == s->path_dev &&
            st.st_ino == s->path_ino)
            unlink(path);
    }
    s->lfd = -1;
}

int spawn_slot_queued(const spawn_slot *s)
{
    if (s->lfd < 0) return 0;
    struct pollfd p = {.fd = s->lfd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void spawn_slot_drain(spawn_slot *s)
{
    if (s->lfd < 0) return;
    int fl = fcntl(s->lfd, F_GETFL);
    fcntl(s->lfd, F_SETFL, fl | O_NONBLOCK);
    int fd;
    while ((fd = accept(s->lfd, NULL, NULL)) >= 0) close(fd);
    fcntl(s->lfd, F_SETFL, fl);
}

/* ---- apps ---- */

/* A new app object for `c`. A changed app with the same explicit socket takes over the old
 * object's sockets (the same kernel sockets: nothing queued is lost). */
static spawn_app *app_new(const spawn_conf *c, spawn_app *old, char **err)
{
    spawn_app *app = gw_xcalloc(1, sizeof(*app));
    conf_copy(&app->conf, c);
    app->serial = ++spawn_g.next_serial;
    app->nslots = spawn_conf_nslots(c);
    app->slots = gw_xcalloc(app->nslots, sizeof(spawn_slot));
    int adopt = old && old->conf.socket && c->socket && strcmp(old->conf.socket, c->socket) == 0 &&
                old->conf.pass == c->pass;
    for (unsigned i = 0; i < app->nslots; i++) {
        spawn_slot *s = &app->slots[i];
        s->app = app;
        s->index = i;
        s->cap = c->concurrency;
        s->request_timeout = c->request_timeout;
        s->lfd = s->probe_fd = -1;
        if (slot_address(app, s, err) != 0) goto fail;
        if (c->pass == SPAWN_PASS_ARGUMENT) continue;
        if (adopt && i < old->nslots && old->slots[i].lfd >= 0) {
            s->lfd = fcntl(old->slots[i].lfd, F_DUPFD_CLOEXEC, 3);
            s->owns_path = old->slots[i].owns_path;
            s->path_dev = old->slots[i].path_dev;
            s->path_ino = old->slots[i].path_ino;
            old->slots[i].owns_path = 0; /* (given back on abort: plan_free) */
            if (s->lfd >= 0) continue;
        }
        if (slot_listen(app, s, err) != 0) goto fail;
    }
    return app;
fail:
    if (adopt)
        for (unsigned i = 0; i < app->nslots && i < old->nslots; i++)
            if (app->slots[i].owns_path) old->slots[i].owns_path = 1, app->slots[i].owns_path = 0;
    spawn_app_free(app);
    return NULL;
}

void spawn_app_free(spawn_app *app)
{
    for (spawn_app **pp = &spawn_g.apps; *pp; pp = &(*pp)->next) {
        if (*pp == app) {
            *pp = app->next;
            break;
        }
    }
    for (unsigned i = 0; i < app->nslots; i++) {
        slot_close(&app->slots[i]);
        if (app->slots[i].probe_fd >= 0) close(app->slots[i].probe_fd);
    }
    free(app->slots);
    conf_clear(&app->conf);
    free(app);
}

unsigned spawn_app_live(const spawn_app *app)
{
    unsigned n = 0;
    for (unsigned i = 0; i < app->nslots; i++) n += spawn_slot_live(&app->slots[i]);
    return n;
}

unsigned spawn_app_procs(const spawn_app *app)
{
    unsigned n = 0;
    for (unsigned i = 0; i < app->nslots; i++) n += app->slots[i].state != SPAWN_SLOT_EMPTY;
    return n;
}

spawn_app *spawn_app_find(const char *name)
{
    for (spawn_app *a = spawn_g.apps; a; a = a->next)
        if (!a->retired && strcmp(a->conf.name, name) == 0) return a;
    return NULL;
}

struct spawn_plan {
    const spawn_conf *const *confs;
    size_t n;
    spawn_app **made; /* NULL: the app is kept as it runs */
    spawn_app **old;  /* the current app of that name, if any */
    char *update;     /* 1: a changed app kept, taking the new settings */
};

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int same_strv(char *const *a, char *const *b)
{
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0) return 0;
    return (a == NULL || a[i] == NULL) && (b == NULL || b[i] == NULL);
}

/* Can the running app object take the changed settings `c`? (Its slots, their sockets and
 * what the request path reads of them stay as they are.) */
static int updatable(const spawn_conf *o, const spawn_conf *c)
{
    return same_str(o->socket, c->socket) && o->pass == c->pass && o->max_procs == c->max_procs &&
           o->restart_surge == c->restart_surge && o->concurrency == c->concurrency &&
           o->request_timeout == c->request_timeout;
}

/* Do the processes of `o` run something else under `c`? */
static int runs_otherwise(const spawn_conf *o, const spawn_conf *c)
{
    return !same_strv(o->argv, c->argv) || !same_strv(o->env, c->env) ||
           !same_strv(o->copy_env, c->copy_env) || !same_str(o->user, c->user) ||
           !same_str(o->group, c->group);
}

/* The new app objects of a plan go away; sockets taken over go back to the old objects. */
static void plan_free(spawn_plan *pl, int undo)
{
    for (size_t k = 0; undo && k < pl->n; k++) {
        if (pl->made[k] == NULL) continue;
        for (unsigned j = 0; pl->old[k] && j < pl->made[k]->nslots && j < pl->old[k]->nslots; j++)
            if (pl->made[k]->slots[j].owns_path && pl->made[k]->slots[j].lfd >= 0 &&
                pl->old[k]->conf.socket)
                pl->old[k]->slots[j].owns_path = 1, pl->made[k]->slots[j].owns_path = 0;
        spawn_app_free(pl->made[k]);
    }
    free(pl->made);
    free(pl->old);
    free(pl->update);
    free(pl);
}

spawn_plan *spawn_sync_prepare(const spawn_conf *const *confs, size_t n, char **err)
{
    spawn_plan *pl = gw_xcalloc(1, sizeof(*pl));
    pl->confs = confs;
    pl->n = n;
    pl->made = gw_xcalloc(n ? n : 1, sizeof(*pl->made));
    pl->old = gw_xcalloc(n ? n : 1, sizeof(*pl->old));
    pl->update = gw_xcalloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++) {
        spawn_app *cur = spawn_app_find(confs[i]->name);
        if (cur && strcmp(cur->conf.fingerprint, confs[i]->fingerprint) == 0) continue;
        if (cur && updatable(&cur->conf, confs[i])) {
            pl->update[i] = 1;
            pl->old[i] = cur;
            continue;
        }
        pl->old[i] = cur;
        pl->made[i] = app_new(confs[i], cur, err);
        if (pl->made[i] == NULL) {
            plan_free(pl, 1);
            return NULL;
        }
    }
    return pl;
}

void spawn_sync_abort(spawn_plan *pl)
{
    if (pl) plan_free(pl, 1);
}

void spawn_sync_commit(spawn_plan *pl)
{
    const spawn_conf *const *confs = pl->confs;
    size_t n = pl->n;
    spawn_app **made = pl->made, **old = pl->old;
    /* retire what is gone or replaced, then bring in and start the new ones */
    for (spawn_app *a = spawn_g.apps; a; a = a->next) {
        if (a->retired) continue;
        int keep = 0;
        for (size_t i = 0; i < n && !keep; i++)
            keep = made[i] == NULL && strcmp(a->conf.name, confs[i]->name) == 0;
        if (keep) continue;
        int changed = 0;
        for (size_t i = 0; i < n && !changed; i++)
            changed = strcmp(a->conf.name, confs[i]->name) == 0;
        a->retired = 1;
        gw_log(GW_LOG_INFO, "app %s: %s; its processes stop once nothing uses them", a->conf.name,
               changed ? "changed" : "removed");
    }
    for (size_t i = 0; i < n; i++) {
        spawn_app *app = made[i];
        if (pl->update[i]) {
            int restart = runs_otherwise(&old[i]->conf, confs[i]);
            if (!same_str(old[i]->conf.restart_file, confs[i]->restart_file))
                old[i]->restart_seen = 0; /* (another file: its first look is no touch) */
            conf_clear(&old[i]->conf);
            conf_copy(&old[i]->conf, confs[i]);
            if (restart) spawn_recycle_all(old[i], "reload");
            if (!restart)
                gw_log(GW_LOG_INFO, "app %s: changed; its processes stay", old[i]->conf.name);
            continue;
        }
        if (app == NULL) continue;
        app->next = spawn_g.apps;
        spawn_g.apps = app;
        unsigned want = app->conf.min_procs;
        if (old[i]) {
            unsigned live = spawn_app_live(old[i]);
            if (live > want) want = live < app->conf.max_procs ? live : app->conf.max_procs;
        }
        for (unsigned k = 0; k < want; k++)
            if (!spawn_slot_address_busy(&app->slots[k])) spawn_proc_start(&app->slots[k]);
    }
    if (spawn_g.apps && !ev_is_active(&spawn_g.tick)) ev_timer_start(spawn_g.loop, &spawn_g.tick);
    plan_free(pl, 0);
}

void spawn_app_ref(spawn_app *app)
{
    app->refs++;
}

void spawn_app_unref(spawn_app *app)
{
    app->refs--; /* a retired app with no reference is stopped by the housekeeping tick */
}

const char *spawn_app_name(const spawn_app *app)
{
    return app->conf.name;
}

unsigned spawn_app_nslots(const spawn_app *app)
{
    return app->nslots;
}

spawn_slot *spawn_app_slot(spawn_app *app, unsigned i)
{
    return i < app->nslots ? &app->slots[i] : NULL;
}

double spawn_app_cold_wait(const spawn_app *app)
{
    for (unsigned i = 0; i < app->nslots; i++)
        if (app->slots[i].state == SPAWN_SLOT_READY) return 0;
    return app->conf.start_timeout;
}

double spawn_app_retry_in(const spawn_app *app)
{
    double now = spawn_now();
    return app->backoff_until > now && spawn_app_live(app) == 0 ? app->backoff_until - now : 0;
}

int spawn_app_waitable(const spawn_app *app)
{
    if (spawn_g.ctl < 0 || spawn_g.stopping_all) return spawn_app_live(app) > 0;
    return spawn_app_live(app) > 0 || app->backoff_until <= spawn_now();
}

static void on_kick(struct ev_loop *loop, ev_idle *w, int revents)
{
    for (spawn_app *a = spawn_g.apps; a; a = a->next) {
        if (!a->changed_owed) continue;
        a->changed_owed = 0;
        if (spawn_g.hooks.changed) spawn_g.hooks.changed(a);
    }
}

void spawn_owe_changed(spawn_app *app)
{
    app->changed_owed = 1;
    ev_feed_event(spawn_g.loop, &spawn_g.kick, EV_CUSTOM);
}

int spawn_init(struct ev_loop *loop, const char *state_dir, const spawn_hooks *hooks, char **err)
{
    spawn_g.loop = loop;
    if (hooks) spawn_g.hooks = *hooks;
    srand48((long)time(NULL) ^ (long)getpid()); /* (recycling's jitter) */
    if (state_dir) {
        if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
            return gw_errf(err, "server.state-dir %s: %s", state_dir, strerror(errno));
        spawn_g.state_dir = gw_xstrdup(state_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        char path[256];
        snprintf(path, sizeof(path), "%s/portico.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(path) == NULL)
            return gw_errf(err, "cannot make a state dir in %s: %s", tmp && *tmp ? tmp : "/tmp",
                           strerror(errno));
        spawn_g.state_dir = gw_xstrdup(path);
        spawn_g.own_dir = 1;
    }
    if (spawn_launcher_start(&spawn_g.ctl, &spawn_g.launcher, err) != 0) return GW_ERR;
    ev_io_init(&spawn_g.ctl_io, spawn_proc_on_ctl, spawn_g.ctl, EV_READ);
    ev_io_start(loop, &spawn_g.ctl_io);
    ev_init(&spawn_g.fast, spawn_proc_on_fast);
    ev_timer_init(&spawn_g.tick, spawn_proc_on_tick, SPAWN_TICK, SPAWN_TICK);
    ev_init(&spawn_g.kick, on_kick);
    return GW_OK;
}

/* ---- status ---- */

static const char *slot_state_name(const spawn_slot *s)
{
    switch (s->state) {
    case SPAWN_SLOT_STARTING:
        return "starting";
    case SPAWN_SLOT_STOPPING:
        return "stopping";
    case SPAWN_SLOT_READY:
        return spawn_slot_inflight(s) == 0        ? "idle"
               : spawn_slot_inflight(s) >= s->cap ? "busy"
                                                  : "ready";
    default:
        return "stopped";
    }
}

static const char *app_state_name(const spawn_app *app, double now)
{
    if (spawn_app_live(app) > 0) return "running";
    return app->backoff_until > now ? "backoff" : "stopped";
}

static void put_json_str(gw_bufq *out, const char *s)
{
    gw_bufq_append(out, "\"", 1);
    gw_bufq_append_escaped(out, s);
    gw_bufq_append(out, "\"", 1);
}

/* "last_start": how far the latest start got, each phase in seconds after the spawn (null: not
 * reached); "output": the last lines the app's processes wrote, oldest first. */
static void put_start(gw_bufq *out, const spawn_app *a)
{
    const spawn_phases *ph = &a->last_start;
    const char *names[] = {"exec_seconds", "ready_seconds", "first_response_seconds",
                           "end_seconds"};
    const double at[] = {ph->execd, ph->ready, ph->answered, ph->ended};
    gw_bufq_appendf(out, ",\"last_start\":{\"pid\":%ld", (long)ph->pid);
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        if (at[i] > 0)
            gw_bufq_appendf(out, ",\"%s\":%.6f", names[i], at[i] - ph->spawned);
        else
            gw_bufq_appendf(out, ",\"%s\":null", names[i]);
    }
    gw_bufq_appendf(out, "},\"output\":[");
    for (unsigned i = 0; i < a->ntail; i++) {
        unsigned k = (a->tail_next + SPAWN_TAIL - a->ntail + i) % SPAWN_TAIL;
        if (i) gw_bufq_append(out, ",", 1);
        put_json_str(out, a->tail[k]);
    }
    gw_bufq_append(out, "]", 1);
}

void spawn_status_json(gw_bufq *out)
{
    double now = spawn_g.loop ? spawn_now() : 0;
    int first = 1;
    /* the current apps, then the retired ones still running (a reload replaced or removed
     * them; they finish what the previous configuration sent them) */
    for (int pass = 0; pass < 2; pass++)
        for (spawn_app *a = spawn_g.apps; a; a = a->next) {
            if (a->retired != pass || (pass && spawn_app_procs(a) == 0)) continue;
            gw_bufq_appendf(out, "%s{\"name\":", first ? "" : ",");
            first = 0;
            put_json_str(out, a->conf.name);
            if (pass) gw_bufq_appendf(out, ",\"retired\":true");
            double retry = spawn_app_retry_in(a);
            gw_bufq_appendf(out,
                            ",\"state\":\"%s\",\"failures\":%u,\"retry_in\":%.3f,\"starts\":%llu,"
                            "\"restarts\":%llu,\"recycles\":%llu,\"request_timeouts\":%llu,"
                            "\"last_exit\":\"%s\",\"last_start_seconds\":%.6f",
                            app_state_name(a, now), a->failures, retry,
                            (unsigned long long)a->starts, (unsigned long long)a->restarts,
                            (unsigned long long)a->recycles, (unsigned long long)a->timeouts,
                            a->last_exit, a->last_start_seconds);
            put_start(out, a);
            gw_bufq_appendf(out, ",\"processes\":[");
            int pfirst = 1;
            for (unsigned i = 0; i < a->nslots; i++) {
                const spawn_slot *s = &a->slots[i];
                if (s->state == SPAWN_SLOT_EMPTY) continue;
                gw_bufq_appendf(
                    out,
                    "%s{\"slot\":%u,\"pid\":%ld,\"state\":\"%s\",\"age\":%.3f,\"requests\":%llu,"
                    "\"inflight\":%u,\"restarts\":%u,\"last_exit\":\"%s\",\"start_seconds\":%.6f,"
                    "\"socket\":",
                    pfirst ? "" : ",", i, (long)s->pid, slot_state_name(s), now - s->started_at,
                    (unsigned long long)gw_atomic_get(&s->requests), spawn_slot_inflight(s),
                    s->restarts, s->last_exit, s->ready_at ? s->ready_at - s->started_at : 0.0);
                put_json_str(out, s->addr);
                if (s->recycle) gw_bufq_appendf(out, ",\"recycle\":\"%s\"", s->recycle);
                if (a->conf.max_rss)
                    gw_bufq_appendf(out, ",\"rss\":%llu", (unsigned long long)s->rss);
                gw_bufq_appendf(out, "}");
                pfirst = 0;
            }
            gw_bufq_appendf(out, "]}");
        }
}

void spawn_status_metrics(gw_bufq *out)
{
    static const char *const fams[][3] = {
        {"portico_app_processes", "gauge", "Processes of the app (starting or ready)."},
        {"portico_app_starts_total", "counter", "Processes started."},
        {"portico_app_restarts_total", "counter", "Processes started to replace one that died."},
        {"portico_app_failures", "gauge", "Consecutive processes that died right after start."},
        {"portico_app_last_start_seconds", "gauge", "Spawn to ready, of the last start."},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        gw_bufq_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", fams[f][0], fams[f][2], fams[f][0],
                        fams[f][1]);
        for (spawn_app *a = spawn_g.apps; a; a = a->next) {
            if (a->retired) continue;
            gw_bufq_appendf(out, "%s{app=", fams[f][0]);
            put_json_str(out, a->conf.name);
            if (f == 4)
                gw_bufq_appendf(out, "} %.6f\n", a->last_start_seconds);
            else
                gw_bufq_appendf(out, "} %llu\n",
                                (unsigned long long)(f == 0   ? spawn_app_live(a)
                                                     : f == 1 ? a->starts
                                                     : f == 2 ? a->restarts
                                                              : a->failures));
        }
    }
}

/* ---- shutdown ---- */

unsigned spawn_live(void)
{
    unsigned n = 0;
    for (spawn_app *a = spawn_g.apps; a; a = a->next) n += spawn_app_procs(a);
    return n;
}

unsigned spawn_stop_all(void)
{
    spawn_g.stopping_all = 1;
    for (spawn_app *a = spawn_g.apps; a; a = a->next)
        for (unsigned i = 0; i < a->nslots; i++)
            if (spawn_slot_live(&a->slots[i])) spawn_proc_stop(&a->slots[i], a->conf.kill_signal);
    return spawn_live();
}

void spawn_cleanup(void)
{
    spawn_proc_close_logs(); /* (first: a pipe of a process still running points at its slot) */
    while (spawn_g.apps) spawn_app_free(spawn_g.apps);
    if (spawn_g.loop) {
        ev_io_stop(spawn_g.loop, &spawn_g.ctl_io);
        ev_timer_stop(spawn_g.loop, &spawn_g.fast);
        ev_timer_stop(spawn_g.loop, &spawn_g.tick);
        if (ev_is_pending(&spawn_g.kick)) ev_idle_stop(spawn_g.loop, &spawn_g.kick);
    }
    if (spawn_g.ctl >= 0) {
        close(spawn_g.ctl); /* the launcher kills whatever is left and exits */
        spawn_g.ctl = -1;
        for (int i = 0; i < 300; i++) { /* reap it: nothing of ours outlives us */
            pid_t r = waitpid(spawn_g.launcher, NULL, WNOHANG);
            if (r != 0) break;
            usleep(10000);
        }
    }
    if (spawn_g.own_dir) rmdir(spawn_g.state_dir);
    free(spawn_g.state_dir);
    spawn_g.state_dir = NULL;
}
