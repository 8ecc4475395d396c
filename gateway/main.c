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
#include "spawn/spawn.h"

static const char *conf_path;
static ev_signal sig_term, sig_int, sig_hup, sig_usr1;
static ev_timer shutdown_timer;
static double shutdown_deadline;

static void pool_created(gw_pool *pool)
{
    if (pool->hc_path) gw_health_start(gw_srv.loop, pool);
}

static void pool_release(gw_pool *pool)
{
    gw_health_stop(pool);
    gw_upstream_pool_release(pool);
    gw_spawned_unbind(pool);
}

static void health_changed(gw_pool *pool, gw_peer *peer)
{
    gw_upstream_pool_wake(pool);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: portico -f FILE     run with this config, in the foreground\n"
                 "       portico -t -f FILE  check the config and exit (0: good, 1: not)\n"
                 "       portico -p -f FILE  print the effective config and exit\n"
                 "       portico -v | --version, -h | --help\n");
}

static void on_shutdown_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_conns_close_idle();
    if (gw_srv.nconns == 0 || ev_now(loop) >= shutdown_deadline) {
        if (gw_srv.nconns) gw_log(GW_LOG_WARN, "shutdown: %ld connections cut", gw_srv.nconns);
        ev_break(loop, EVBREAK_ALL);
    }
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    if (gw_srv.stopping) { /* a second signal: stop now */
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    gw_log(GW_LOG_INFO, "signal %d: finishing in-flight requests, then exiting", w->signum);
    gw_srv.stopping = 1;
    gw_upstream_shutdown();
    gw_listeners_retire_all();
    shutdown_deadline = ev_now(loop) + gw_srv.rt->srv.graceful_timeout;
    ev_timer_init(&shutdown_timer, on_shutdown_tick, 0, 0.1);
    ev_timer_start(loop, &shutdown_timer);
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
    if (gw_srv.stopping) return; /* the listeners are retired: a reload would open them again */
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
    gw_srv.rt = rt;
    gw_rt_unref(old); /* requests in flight keep their own references */
    gw_listeners_pause(gw_srv.nconns >= rt->srv.max_connections);
    open_logs(rt);
    if (rt->warning) gw_log(GW_LOG_WARN, "%s", rt->warning);
    gw_log(GW_LOG_INFO, "configuration reloaded from %s", conf_path);
}

/* One line that names every listener and every spawned app. */
static void log_started(const gw_rt *rt)
{
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof(line), "portico %s listening on %s", PACKAGE_VERSION,
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
    while (gw_srv.conns) gw_conns_close_all();
    while (gw_srv.listeners) {
        gw_listener *l = gw_srv.listeners;
        gw_srv.listeners = l->next;
        gw_listener_close(l);
    }
    gw_listeners_free_retired();
    gw_rt_unref(gw_srv.rt);
    gw_srv.rt = NULL;
    gw_accesslog_open(NULL);
    gw_log_open(NULL);
    gw_cond_cleanup();
    gw_upstream_pool_trim();
    gw_blk_pool_trim();
    spawn_cleanup();
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
    if (!test && !print) {
        gw_srv.loop = ev_default_loop(EVFLAG_AUTO);
        gw_rt_pool_created = pool_created;
        gw_rt_pool_release = pool_release;
        gw_health_changed = health_changed;
    }
    char *err = NULL;
    gw_rt *rt = gw_rt_load(conf_path, &err);
    if (rt == NULL) {
        fprintf(stderr, "%s\n", err ? err : "portico: cannot load the config");
        free(err);
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
    /* the launcher is forked now, while the process is small and before privileges drop */
    spawn_plan *plan = NULL;
    if (spawn_init(gw_srv.loop, rt->srv.state_dir, &gw_spawned_hooks, &err) != GW_OK ||
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
    ev_signal_start(gw_srv.loop, &sig_term);
    ev_signal_start(gw_srv.loop, &sig_int);
    ev_signal_start(gw_srv.loop, &sig_hup);
    ev_signal_start(gw_srv.loop, &sig_usr1);
    log_started(rt);
    gw_listeners_start_all(); /* (only now: connections meet a process that dropped privileges
                                 and handles its signals) */
    ev_run(gw_srv.loop, 0);
    if (spawn_stop_all() > 0) { /* every app process, kill-signal then SIGKILL after stop-timeout */
        gw_log(GW_LOG_INFO, "stopping %u app processes", spawn_live());
        while (spawn_live() > 0) ev_run(gw_srv.loop, EVRUN_ONCE);
    }
    if (gw_srv.rt->srv.pid_file) unlink(gw_srv.rt->srv.pid_file);
    gw_log(GW_LOG_INFO, "portico stopped");
    cleanup();
    ev_loop_destroy(gw_srv.loop);
    return 0;
}
