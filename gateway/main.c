/* portico: the command line, signals, start-up and shutdown, and the event loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/client/accesslog.h"
#include "gateway/config/cond.h"
#include "gateway/upstream/health.h"
#include "gateway/client/conn.h"
#include "gateway/client/listen.h"
#include "gateway/base/log.h"
#include "gateway/config/route.h"
#include "gateway/upstream/spawned.h"
#include "gateway/upstream/upstream.h"
#include "gateway/worker.h"
#include "spawn/spawn.h"

static const char *conf_path;
static ev_signal sig_term, sig_int, sig_hup, sig_usr1;
static double shutdown_deadline; /* (atomic: the main thread sets it, every worker reads it) */

static void pool_created(gw_pool *pool)
{
    if (pool->hc_path) gw_health_start(gw_workers[0].loop, pool); /* (on the main thread) */
}

static void pool_release(gw_pool *pool)
{
    gw_health_stop(pool);
    gw_upstream_pool_release(pool);
    gw_spawned_unbind(pool);
}

/* Two peers are one backend: the same count (protocol and parsed address, shared by pools and
 * generations), or the same name where there is none. */
static int same_backend(const gw_peer *a, const gw_peer *b)
{
    return a->count ? a->count == b->count : strcmp(a->name, b->name) == 0;
}

/* A backend's health is one state for every pool of the generation that reaches it without a
 * check of its own (another route, a block without the check) or with the same check: what a
 * check decides, each of them follows. (A pool with another check, on another path, follows
 * that one.) */
static void share_health(const gw_rt *rt, const gw_peer *from)
{
    int h = gw_atomic_get(&from->health);
    for (size_t i = 0; i < rt->npools; i++) {
        gw_pool *pool = rt->pools[i];
        int changed = 0;
        for (unsigned k = 0; k < pool->npeers; k++) {
            gw_peer *p = &pool->peers[k];
            if (!same_backend(p, from) || p == from || p->is_spawn ||
                (pool->hc_path && !gw_health_same_check(pool, from->pool)))
                continue;
            if (gw_atomic_get(&p->health) == h) continue;
            gw_atomic_set(&p->health, h);
            char why[sizeof(p->last_error)]; /* (one pool's lock at a time) */
            pthread_mutex_lock(&from->pool->lock);
            memcpy(why, from->last_error, sizeof(why));
            pthread_mutex_unlock(&from->pool->lock);
            pthread_mutex_lock(&pool->lock);
            memcpy(p->last_error, why, sizeof(why));
            pthread_mutex_unlock(&pool->lock);
            changed = 1;
        }
        if (changed && h == GW_PEER_UP) gw_upstream_pool_wake(pool);
    }
}

static void health_changed(gw_pool *pool, gw_peer *peer)
{
    share_health(gw_srv.rt, peer);
    gw_upstream_pool_wake(pool);
}

/* A new generation: each checked backend keeps the state its checks gave it (a backend that was
 * down stays down until its checks pass), and every pool follows the checked ones. */
static void carry_health(gw_rt *rt, const gw_rt *old)
{
    for (size_t i = 0; i < rt->npools; i++) {
        gw_pool *pool = rt->pools[i];
        if (pool->hc_path == NULL) continue;
        for (unsigned k = 0; k < pool->npeers; k++)
            for (size_t j = 0; j < old->npools; j++)
                for (unsigned m = 0; m < old->pools[j]->npeers; m++) {
                    const gw_peer *o = &old->pools[j]->peers[m];
                    if (old->pools[j]->hc_path && same_backend(o, &pool->peers[k]))
                        gw_atomic_set(&pool->peers[k].health, gw_atomic_get(&o->health));
                }
    }
    for (size_t i = 0; i < rt->npools; i++)
        for (unsigned k = 0; rt->pools[i]->hc_path && k < rt->pools[i]->npeers; k++)
            if (gw_atomic_get(&rt->pools[i]->peers[k].health) == GW_PEER_DOWN)
                share_health(rt, &rt->pools[i]->peers[k]);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: portico -f FILE     run with this config, in the foreground\n"
                 "       portico -t -f FILE  check the config and exit (0: good, 1: not)\n"
                 "       portico -p -f FILE  print the effective config and exit\n"
                 "       portico -v | --version, -h | --help\n");
}

static int workers_running(void)
{
    int n = 0;
    for (unsigned i = 1; i < gw_nworkers; i++) n += gw_atomic_get(&gw_workers[i].running);
    return n;
}

/* Graceful shutdown, on each worker: its idle connections go at once, the others when their
 * requests are done or at the deadline. The main thread ends last: spawn/ stops the apps after. */
static void on_shutdown_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    gw_worker *w = gw_self;
    gw_conns_close_idle();
    int late = ev_now(loop) >= gw_atomic_get_double(&shutdown_deadline);
    if (w->nconns > 0 && !late) return;
    if (w->nconns) gw_log(GW_LOG_WARN, "shutdown: %ld connections cut", w->nconns);
    if (gw_on_main() && workers_running() > 0 && !late) return;
    gw_conns_close_all(); /* (what is left at the deadline is cut now, on every worker) */
    ev_timer_stop(loop, t);
    ev_break(loop, EVBREAK_ALL);
}

static void start_shutdown_tick(gw_worker *w)
{
    if (ev_is_active(&w->stop_timer)) return;
    ev_timer_init(&w->stop_timer, on_shutdown_tick, 0, 0.1);
    ev_timer_start(w->loop, &w->stop_timer);
}

/* A worker's doorbell asked it to look again: the current generation (take it, let the previous
 * one's idle connections go), its listener sockets, shutdown; on the main thread also the
 * generations freed on other workers. */
static void on_worker_sync(gw_worker *w)
{
    if (gw_on_main()) gw_rt_collect();
    pthread_mutex_lock(&gw_srv.lock);
    gw_rt *cur = gw_srv.rt != w->rt ? gw_srv.rt : NULL;
    if (cur) gw_rt_ref(cur);
    pthread_mutex_unlock(&gw_srv.lock);
    if (cur) {
        gw_rt *old = w->rt;
        w->rt = cur;
        if (old) {
            for (size_t i = 0; i < old->npools; i++) gw_upstream_pool_release(old->pools[i]);
            gw_rt_unref(old);
        }
    }
    gw_listeners_worker_sync();
    if (gw_atomic_get(&gw_srv.stopping)) start_shutdown_tick(w);
}

static void on_worker_reclaim(gw_worker *w)
{
    if (w->rt) gw_upstream_reclaim(w->rt->pools, w->rt->npools);
}

static void on_worker_rearm(gw_worker *w)
{
    if (w->rt) gw_upstream_rearm(w->rt->pools, w->rt->npools);
}

static void on_worker_exit(gw_worker *w)
{
    gw_conns_close_all();
    for (size_t i = 0; w->rt && i < w->rt->npools; i++) /* (its idle backend connections) */
        gw_upstream_pool_release(w->rt->pools[i]);
    gw_cond_cleanup(); /* (this thread's match data) */
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    if (gw_atomic_get(&gw_srv.stopping)) { /* a second signal: stop now */
        gw_atomic_set_double(&shutdown_deadline, 0);
        gw_workers_ask_all(GW_WK_SYNC);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    gw_log(GW_LOG_INFO, "signal %d: finishing in-flight requests, then exiting", w->signum);
    gw_atomic_set_double(&shutdown_deadline, ev_now(loop) + gw_srv.rt->srv.graceful_timeout);
    gw_atomic_set(&gw_srv.stopping, 1);
    gw_upstream_shutdown();
    gw_listeners_retire_all(); /* (asks every worker to sync: each starts its shutdown tick) */
}

/* Returns 0, or -1 when a log could not be opened (logged; at start-up portico stops). */
static int open_logs(const gw_rt *rt)
{
    int rc = 0;
    if (gw_log_open(rt->srv.errorlog) != 0) {
        gw_log(GW_LOG_ERR, "cannot open %s: %s", rt->srv.errorlog, strerror(errno));
        rc = -1;
    }
    if (gw_accesslog_open(rt->srv.accesslog) != 0) {
        gw_log(GW_LOG_ERR, "cannot open %s: %s", rt->srv.accesslog, strerror(errno));
        rc = -1;
    }
    return rc;
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    char *err = NULL;
    if (gw_atomic_get(&gw_srv.stopping))
        return; /* the listeners are retired: a reload would
                    open them again */
    gw_rt *rt = gw_rt_load(conf_path, &err);
    if (rt == NULL) {
        gw_log(GW_LOG_ERR, "reload refused, the running config stays: %s", err);
        free(err);
        return;
    }
    /* (the apps are committed only once the listeners are: a refused reload changes no app) */
    spawn_plan *plan = gw_spawned_prepare(rt, &err);
    if (plan == NULL || gw_listeners_sync(rt, &err) != GW_OK) {
        gw_log(GW_LOG_ERR, "reload refused, the running config stays: %s", err);
        free(err);
        spawn_sync_abort(plan);
        gw_rt_unref(rt);
        return;
    }
    gw_spawned_bind(rt, plan);
    gw_rt *old = gw_srv.rt;
    for (size_t i = 0; i < rt->npools; i++) /* per-backend counters survive the reload */
        for (size_t k = 0; k < old->npools; k++)
            if (strcmp(rt->pools[i]->name, old->pools[k]->name) == 0)
                gw_pool_inherit(rt->pools[i], old->pools[k]);
    carry_health(rt, old);
    for (size_t k = 0; k < old->npools; k++) /* its pools keep no idle connection from now on */
        gw_atomic_set(&old->pools[k]->retired, 1);
    if (gw_rt_workers(rt) != gw_nworkers)
        gw_log(GW_LOG_WARN, "server.workers changed: it takes effect at a restart (%u workers run)",
               gw_nworkers);
    pthread_mutex_lock(&gw_srv.lock);
    gw_srv.rt = rt;
    pthread_mutex_unlock(&gw_srv.lock);
    on_worker_sync(gw_self);        /* (the main thread's own worker, now) */
    gw_workers_ask_all(GW_WK_SYNC); /* every other worker takes it on its own thread */
    gw_rt_unref(old); /* requests in flight keep their own references, workers theirs */
    open_logs(rt);
    if (rt->warning) gw_log(GW_LOG_WARN, "%s", rt->warning);
    gw_log(GW_LOG_INFO, "configuration reloaded from %s", conf_path);
}

/* One line that names every listener and every spawned app. */
static void log_started(const gw_rt *rt)
{
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof(line), "portico %s (%u worker%s) listening on %s",
                                PACKAGE_VERSION, gw_nworkers, gw_nworkers == 1 ? "" : "s",
                                rt->main_socket);
    for (size_t i = 0; i < rt->nextra && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, ", %s", rt->extra[i].name);
    for (size_t i = 0; i < rt->napps && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s (%u-%u processes)",
                              i ? ", " : "; spawned apps: ", rt->apps[i]->name,
                              rt->apps[i]->min_procs, rt->apps[i]->max_procs);
    gw_log(GW_LOG_INFO, "%s", line);
}

static void on_reopen(struct ev_loop *loop, ev_signal *w, int revents)
{
    gw_log_reopen();
    gw_accesslog_reopen();
}

static int drop_privileges(const gw_server_conf *s)
{
    if (s->groupname) {
        struct group *g = getgrnam(s->groupname);
        if (g == NULL || setgroups(0, NULL) != 0 || setgid(g->gr_gid) != 0) {
            fprintf(stderr, "portico: cannot switch to group %s\n", s->groupname);
            return -1;
        }
    }
    if (s->username) {
        struct passwd *pw = getpwnam(s->username);
        if (pw == NULL || (!s->groupname && setgid(pw->pw_gid) != 0) ||
            initgroups(pw->pw_name, s->groupname ? getgid() : pw->pw_gid) != 0 ||
            setuid(pw->pw_uid) != 0) {
            fprintf(stderr, "portico: cannot switch to user %s\n", s->username);
            return -1;
        }
    }
    return 0;
}

static int write_pid(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static void cleanup(void)
{
    while (gw_self->conns) gw_conns_close_all();
    while (gw_srv.listeners) {
        gw_listener *l = gw_srv.listeners;
        gw_srv.listeners = l->next;
        gw_listener_close(l);
    }
    gw_listeners_free_retired();
    for (unsigned i = 0; i < gw_nworkers; i++) { /* (their threads are gone) */
        gw_rt_unref(gw_workers[i].rt);
        gw_workers[i].rt = NULL;
    }
    gw_rt_collect();
    gw_rt_unref(gw_srv.rt);
    gw_srv.rt = NULL;
    gw_accesslog_close();
    gw_log_close();
    gw_cond_cleanup();
    gw_upstream_pool_trim();
    gw_blk_pool_trim();
    spawn_cleanup();
    gw_workers_free();
}

int main(int argc, char **argv)
{
    int test = 0, print = 0, opt;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'v'}, {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "f:tpvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            conf_path = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'p':
            print = 1;
            break;
        case 'v':
            printf("portico %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (conf_path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    struct ev_loop *loop = NULL;
    if (!test && !print) {
        loop = ev_default_loop(EVFLAG_AUTO);
        gw_workers[0].loop = loop;
        gw_rt_pool_created = pool_created;
        gw_rt_pool_release = pool_release;
        gw_health_changed = health_changed;
    }
    char *err = NULL;
    gw_rt *rt = gw_rt_load(conf_path, &err);
    if (rt && !test && !print && gw_rt_workers(rt) > 1) {
        /* each backend keeps an idle list per worker: load again with the workers known */
        gw_workers_init(gw_rt_workers(rt), loop);
        gw_rt_unref(rt);
        rt = gw_rt_load(conf_path, &err);
    } else if (rt && !test && !print) {
        gw_workers_init(1, loop);
    }
    if (rt == NULL) {
        fprintf(stderr, "%s\n", err ? err : "portico: cannot load the config");
        free(err);
        if (loop) gw_workers_free();
        return 1;
    }
    if (test || print) {
        if (rt->warning) fprintf(stderr, "portico: warning: %s\n", rt->warning);
        if (print) gw_conf_print(rt->conf, stdout);
        if (test) printf("%s: configuration OK\n", conf_path);
        gw_rt_unref(rt);
        gw_cond_cleanup();
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    gw_srv.rt = rt;
    gw_rt_ref(rt);
    gw_self->rt = rt; /* (the main thread's worker; the others take it when they start) */
    gw_worker_on_sync = on_worker_sync;
    gw_worker_on_reclaim = on_worker_reclaim;
    gw_worker_on_rearm = on_worker_rearm;
    gw_worker_on_exit = on_worker_exit;
    /* the launcher is forked now, while the process is small and before privileges drop */
    spawn_plan *plan = NULL;
    if (spawn_init(loop, rt->srv.state_dir, &gw_spawned_hooks, &err) != GW_OK ||
        (plan = gw_spawned_prepare(rt, &err)) == NULL) {
        fprintf(stderr, "portico: %s\n", err);
        free(err);
        cleanup();
        return 1;
    }
    gw_spawned_bind(rt, plan);
    if (gw_listeners_sync(rt, &err) != GW_OK) {
        fprintf(stderr, "portico: %s\n", err);
        free(err);
        cleanup();
        return 1;
    }
    if (rt->srv.pid_file && write_pid(rt->srv.pid_file) != 0) {
        fprintf(stderr, "portico: cannot write %s: %s\n", rt->srv.pid_file, strerror(errno));
        cleanup();
        return 1;
    }
    if (drop_privileges(&rt->srv) != 0) {
        cleanup();
        return 1;
    }
    if (open_logs(rt) != 0) {
        cleanup();
        return 1;
    }
    if (rt->warning) gw_log(GW_LOG_WARN, "%s", rt->warning);
    ev_signal_init(&sig_term, on_stop, SIGTERM);
    ev_signal_init(&sig_int, on_stop, SIGINT);
    ev_signal_init(&sig_hup, on_reload, SIGHUP);
    ev_signal_init(&sig_usr1, on_reopen, SIGUSR1);
    ev_signal_start(loop, &sig_term);
    ev_signal_start(loop, &sig_int);
    ev_signal_start(loop, &sig_hup);
    ev_signal_start(loop, &sig_usr1);
    log_started(rt);
    gw_workers_start();       /* (signals stay with the main thread: libev blocks them elsewhere) */
    gw_listeners_start_all(); /* (only now: connections meet a process that dropped privileges
                                 and handles its signals) */
    ev_run(loop, 0);
    while (workers_running() > 0) ev_run(loop, EVRUN_ONCE); /* (a second signal: the rest) */
    gw_workers_join();
    if (spawn_stop_all() > 0) { /* every app process, kill-signal then SIGKILL after stop-timeout */
        gw_log(GW_LOG_INFO, "stopping %u app processes", spawn_live());
        while (spawn_live() > 0) ev_run(loop, EVRUN_ONCE);
    }
    if (gw_srv.rt->srv.pid_file) unlink(gw_srv.rt->srv.pid_file);
    gw_log(GW_LOG_INFO, "portico stopped");
    cleanup();
    ev_loop_destroy(loop);
    return 0;
}
