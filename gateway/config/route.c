/* A config generation: load and check the config, the server settings and the extra
 * listeners, then compile the route table (route_combo.c); reference counting. Knows nothing of
 * requests, sockets or the loop (pools are started through the gw_rt_pool_created hook). */
#include "config.h"

#include "gateway/config/route.h"

#include "gateway/config/apps.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/base/alloc.h"
#include "gateway/config/route_int.h"

void (*gw_rt_pool_release)(gw_pool *pool);
void (*gw_rt_pool_created)(gw_pool *pool);

/* ---- loading ---- */

static const char *blk_str(const gw_block *b, const char *key, const char *def)
{
    const gw_setting *s = gw_block_get(b, key);
    return s && s->val->type == GW_VAL_STR ? s->val->str : def;
}

static long long blk_int(const gw_block *b, const char *key, long long def)
{
    const gw_setting *s = gw_block_get(b, key);
    return s && s->val->type == GW_VAL_INT ? s->val->num : def;
}

static int blk_bool(const gw_block *b, const char *key, int def)
{
    const gw_setting *s = gw_block_get(b, key);
    int v = s ? gw_val_bool(s->val) : -1;
    return v < 0 ? def : v;
}

/* The settings a $SERVER["socket"] block may give its own listener (the top level gives them
 * to every listener): b's values over those already in s. */
static void listener_settings(gw_server_conf *s, const gw_block *c)
{
    s->tag = blk_str(c, "server.tag", s->tag);
    s->max_request_size = blk_int(c, "server.max-request-size", s->max_request_size);
    s->max_field_size = (long)blk_int(c, "server.max-request-field-size", s->max_field_size);
    s->read_idle = (double)blk_int(c, "server.max-read-idle", s->read_idle);
    s->write_idle = (double)blk_int(c, "server.max-write-idle", s->write_idle);
    s->ka_idle = (double)blk_int(c, "server.max-keep-alive-idle", s->ka_idle);
    s->ka_requests = (long)blk_int(c, "server.max-keep-alive-requests", s->ka_requests);
    s->stream_body = blk_bool(c, "server.stream-request-body", s->stream_body);
}

static void load_server(gw_rt *rt)
{
    gw_server_conf *s = &rt->srv;
    const gw_block *c = rt->conf->root;
    s->bind = blk_str(c, "server.bind", "127.0.0.1");
    s->port = (int)blk_int(c, "server.port", 8080);
    s->errorlog = blk_str(c, "server.errorlog", NULL);
    s->accesslog = blk_str(c, "accesslog.filename", NULL);
    s->tag = "portico/" PACKAGE_VERSION;
    s->max_request_size = 1048576;
    s->max_field_size = 16384;
    s->read_idle = 60;
    s->write_idle = 360;
    s->ka_idle = 5;
    s->ka_requests = 1000;
    s->stream_body = 0;
    listener_settings(s, c);
    s->max_connections = (long)blk_int(c, "server.max-connections", 10000);
    s->graceful_timeout = (double)blk_int(c, "server.graceful-shutdown-timeout", 30);
    s->username = blk_str(c, "server.username", NULL);
    s->groupname = blk_str(c, "server.groupname", NULL);
    s->pid_file = blk_str(c, "server.pid-file", NULL);
    s->state_dir = blk_str(c, "server.state-dir", NULL);
    const gw_setting *wk = gw_block_get(c, "server.workers");
    s->workers = wk && wk->val->type == GW_VAL_INT ? (int)wk->val->num : 0; /* 0: "auto" */
    if (strncmp(s->bind, "unix:", 5) == 0)
        snprintf(rt->main_socket, sizeof(rt->main_socket), "%s", s->bind);
    else if (strchr(s->bind, ':'))
        snprintf(rt->main_socket, sizeof(rt->main_socket), "[%s]:%d", s->bind, s->port);
    else
        snprintf(rt->main_socket, sizeof(rt->main_socket), "%s:%d", s->bind, s->port);
}

/* A log file must be one portico can create or append to: its directory exists (as lighttpd,
 * portico refuses to start without the log it was told to write). Checked by -t as well. */
static int check_log_path(const gw_conf *conf, const char *key, char **err)
{
    const gw_setting *st = gw_block_get(conf->root, key);
    if (st == NULL || st->val->type != GW_VAL_STR) return GW_OK;
    const char *path = st->val->str;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return gw_errf(err, "%s:%d: %s \"%s\": the directory %s does not exist", st->val->file,
                       st->val->line, key, path, dir);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return gw_errf(err, "%s:%d: %s \"%s\" is a directory", st->val->file, st->val->line, key,
                       path);
    return GW_OK;
}

static int check_server(gw_rt *rt, char **err)
{
    const gw_server_conf *s = &rt->srv;
    const char *f = rt->conf->path;
    if (s->port <= 0 || s->port > 65535)
        return gw_errf(err, "%s: server.port %d is out of range 1-65535", f, s->port);
    if (s->max_field_size < 1024 || s->max_field_size > 1048576)
        return gw_errf(err, "%s: server.max-request-field-size must be 1024..1048576", f);
    if (s->max_connections < 1)
        return gw_errf(err, "%s: server.max-connections must be at least 1", f);
    const gw_setting *wk = gw_block_get(rt->conf->root, "server.workers");
    if (wk && wk->val->type == GW_VAL_INT && (wk->val->num < 1 || wk->val->num > GW_MAX_WORKERS))
        return gw_errf(err, "%s:%d: server.workers must be 1..%d or \"auto\" (not %lld)",
                       wk->val->file, wk->val->line, GW_MAX_WORKERS, wk->val->num);
    if (s->max_request_size < 0)
        return gw_errf(err, "%s: server.max-request-size must not be negative", f);
    if (check_log_path(rt->conf, "server.errorlog", err) != GW_OK ||
        check_log_path(rt->conf, "accesslog.filename", err) != GW_OK)
        return GW_ERR;
    const gw_setting *st = gw_block_get(rt->conf->root, "spawn.apps");
    if (gw_apps_load(st ? st->val : NULL, s->username, s->groupname, &rt->apps, &rt->napps, err) !=
        GW_OK)
        return GW_ERR;
    const gw_setting *mp = gw_block_get(rt->conf->root, "spawn.memory-pressure");
    rt->memory_pressure = mp ? (unsigned)mp->val->num : 10;
    if (mp && (mp->val->num < 0 || mp->val->num > 100))
        return gw_errf(err, "%s:%d: spawn.memory-pressure must be a percentage, 0 to 100",
                       mp->val->file, mp->val->line);
    const gw_setting *tot = gw_block_get(rt->conf->root, "spawn.max-procs-total");
    if (tot == NULL) return GW_OK;
    unsigned long long mins = 0;
    for (size_t i = 0; i < rt->napps; i++) mins += rt->apps[i]->min_procs;
    if (tot->val->num < 0 || tot->val->num > 65536 ||
        (tot->val->num && (unsigned long long)tot->val->num < mins))
        return gw_errf(err,
                       "%s:%d: spawn.max-procs-total must be 0 (no budget) or from the apps' "
                       "min-procs together (%llu) to 65536",
                       tot->val->file, tot->val->line, mins);
    rt->max_procs_total = (unsigned)tot->val->num;
    return GW_OK;
}

/* A listener's own settings must be as sane as the top level's; the address is the block's
 * condition and max-connections counts every listener together, so those three are refused
 * there rather than ignored. */
static int check_listener(const gw_server_conf *s, const gw_block *b, char **err)
{
    static const char *const global[] = {"server.bind", "server.port", "server.max-connections"};
    for (size_t i = 0; i < sizeof(global) / sizeof(global[0]); i++) {
        const gw_setting *st = gw_block_get(b, global[i]);
        if (st)
            return gw_errf(err, "%s:%d: %s applies to every listener: set it at the top level",
                           st->val->file, st->val->line, global[i]);
    }
    if (s->max_field_size < 1024 || s->max_field_size > 1048576)
        return gw_errf(err, "%s:%d: server.max-request-field-size must be 1024..1048576", b->file,
                       b->line);
    if (s->max_request_size < 0)
        return gw_errf(err, "%s:%d: server.max-request-size must not be negative", b->file,
                       b->line);
    return GW_OK;
}

/* The extra listeners: each $SERVER["socket"] == NAME at the top level, with the settings its
 * block gives that listener (a block naming the main listener gives them to it). A name that
 * is no address is refused here, so that -t refuses what the start would. */
static int collect_sockets(gw_rt *rt, char **err)
{
    const gw_block *root = rt->conf->root;
    for (int pass = 0; pass < 2; pass++) { /* the main listener's first: extras start from it */
        for (size_t i = 0; i < root->nchildren; i++) {
            for (const gw_block *b = root->children[i]; b; b = b->else_next) {
                if (b->cond == NULL || b->cond->field != GW_COND_SOCKET) continue;
                if (b->cond->op != GW_OP_EQ) continue;
                const char *name = b->cond->pattern;
                if (strcmp(name, rt->main_socket) == 0) {
                    if (pass == 0) listener_settings(&rt->srv, b);
                    if (pass == 0 && check_listener(&rt->srv, b, err) != GW_OK) return GW_ERR;
                    continue;
                }
                if (pass == 0) continue;
                gw_listen_spec *spec = NULL;
                for (size_t k = 0; k < rt->nextra && !spec; k++)
                    if (strcmp(rt->extra[k].name, name) == 0) spec = &rt->extra[k];
                if (spec == NULL) {
                    gw_peer tmp;
                    char *why = NULL;
                    int bad =
                        strncmp(name, "spawn:", 6) == 0 || gw_peer_parse(&tmp, name, &why) != GW_OK;
                    free(why);
                    if (bad)
                        return gw_errf(err,
                                       "%s:%d: $SERVER[\"socket\"] \"%s\" is not an address to "
                                       "listen on (\"host:port\", \"[v6]:port\" or "
                                       "\"unix:/path\")",
                                       b->file, b->line, name);
                    rt->extra = gw_xreallocarray(rt->extra, rt->nextra + 1, sizeof(*rt->extra));
                    spec = &rt->extra[rt->nextra++];
                    spec->name = name;
                    spec->srv = rt->srv;
                }
                listener_settings(&spec->srv, b);
                if (check_listener(&spec->srv, b, err) != GW_OK) return GW_ERR;
            }
        }
    }
    return GW_OK;
}

const gw_server_conf *gw_rt_listener_server(const gw_rt *rt, const char *listener)
{
    for (size_t k = 0; k < rt->nextra; k++)
        if (strcmp(rt->extra[k].name, listener) == 0) return &rt->extra[k].srv;
    return &rt->srv;
}

static uint64_t next_generation;

gw_rt *gw_rt_load(const char *path, char **err)
{
    *err = NULL;
    gw_conf *conf = gw_conf_load(path, err);
    if (conf == NULL) return NULL;
    gw_rt *rt = gw_xcalloc(1, sizeof(*rt));
    rt->refs = 1;
    rt->conf = conf;
    rt->generation = ++next_generation;
    load_server(rt);
    if (check_server(rt, err) != GW_OK) {
        gw_rt_unref(rt);
        return NULL;
    }
    if (collect_sockets(rt, err) != GW_OK || gw_rt_compile(rt, err) != GW_OK) {
        gw_rt_unref(rt);
        return NULL;
    }
    if (conf->warnings) { /* what the parser dropped (lighttpd keys), then the bound's */
        char *bound = rt->warning;
        rt->warning = NULL;
        gw_errf(&rt->warning, "%s%s%s", conf->warnings, bound ? "\n" : "", bound ? bound : "");
        free(bound);
    }
    return rt;
}

unsigned gw_rt_workers(const gw_rt *rt)
{
    if (rt->srv.workers > 0) return (unsigned)rt->srv.workers;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > GW_MAX_WORKERS ? GW_MAX_WORKERS : (unsigned)n;
}

void gw_rt_ref(gw_rt *rt)
{
    __atomic_fetch_add(&rt->refs, 1, __ATOMIC_RELAXED);
}

/* Generations whose last reference went on another worker: freed by the main thread, which owns
 * what their pools hold (health checks, bound apps). */
static pthread_mutex_t dead_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_rt *dead;

static void rt_free(gw_rt *rt);

void gw_rt_unref(gw_rt *rt)
{
    if (rt == NULL || __atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (!gw_on_main()) {
        pthread_mutex_lock(&dead_lock);
        rt->next_dead = dead;
        dead = rt;
        pthread_mutex_unlock(&dead_lock);
        gw_worker_ask(&gw_workers[0], GW_WK_SYNC);
        return;
    }
    rt_free(rt);
}

void gw_rt_collect(void)
{
    pthread_mutex_lock(&dead_lock);
    gw_rt *list = dead;
    dead = NULL;
    pthread_mutex_unlock(&dead_lock);
    while (list) {
        gw_rt *next = list->next_dead;
        rt_free(list);
        list = next;
    }
}

static void rt_free(gw_rt *rt)
{
    gw_rt_table_free(rt);
    for (size_t i = 0; i < rt->npools; i++) {
        if (gw_rt_pool_release) gw_rt_pool_release(rt->pools[i]);
        gw_pool_free(rt->pools[i]);
    }
    free(rt->pools);
    gw_apps_free(rt->apps, rt->napps);
    free(rt->extra);
    free(rt->warning);
    gw_conf_free(rt->conf);
    free(rt);
}
