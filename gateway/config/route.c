/* A config generation: load and check the config, the server settings and the extra
 * listeners, then compile the route table (route_combo.c); reference counting. Knows nothing of
 * requests, sockets or the loop (pools are started through the gw_rt_pool_created hook). */
#include "config.h"

#include "gateway/config/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/alloc.h"
#include "gateway/config/route_int.h"

void (*gw_rt_pool_release)(gw_pool *pool);
void (*gw_rt_pool_created)(gw_pool *pool);

/* ---- loading ---- */

static const char *top_str(const gw_conf *c, const char *key, const char *def)
{
    const gw_setting *s = gw_block_get(c->root, key);
    return s && s->val->type == GW_VAL_STR ? s->val->str : def;
}

static long long top_int(const gw_conf *c, const char *key, long long def)
{
    const gw_setting *s = gw_block_get(c->root, key);
    return s && s->val->type == GW_VAL_INT ? s->val->num : def;
}

static int top_bool(const gw_conf *c, const char *key, int def)
{
    const gw_setting *s = gw_block_get(c->root, key);
    int b = s ? gw_val_bool(s->val) : -1;
    return b < 0 ? def : b;
}

static void load_server(gw_rt *rt)
{
    gw_server_conf *s = &rt->srv;
    const gw_conf *c = rt->conf;
    s->bind = top_str(c, "server.bind", "127.0.0.1");
    s->port = (int)top_int(c, "server.port", 8080);
    s->tag = top_str(c, "server.tag", "portico/" PACKAGE_VERSION);
    s->errorlog = top_str(c, "server.errorlog", NULL);
    s->accesslog = top_str(c, "accesslog.filename", NULL);
    s->max_connections = (long)top_int(c, "server.max-connections", 10000);
    s->max_request_size = top_int(c, "server.max-request-size", 1048576);
    s->max_field_size = (long)top_int(c, "server.max-request-field-size", 16384);
    s->read_idle = (double)top_int(c, "server.max-read-idle", 60);
    s->write_idle = (double)top_int(c, "server.max-write-idle", 360);
    s->ka_idle = (double)top_int(c, "server.max-keep-alive-idle", 5);
    s->ka_requests = (long)top_int(c, "server.max-keep-alive-requests", 1000);
    s->stream_body = top_bool(c, "server.stream-request-body", 0);
    s->graceful_timeout = (double)top_int(c, "server.graceful-shutdown-timeout", 30);
    s->username = top_str(c, "server.username", NULL);
    s->groupname = top_str(c, "server.groupname", NULL);
    s->pid_file = top_str(c, "server.pid-file", NULL);
    s->state_dir = top_str(c, "server.state-dir", NULL);
    s->metrics_url = top_str(c, "status.metrics-url", NULL);
    s->status_url = top_str(c, "status.status-url", NULL);
    if (strncmp(s->bind, "unix:", 5) == 0)
        snprintf(rt->main_socket, sizeof(rt->main_socket), "%s", s->bind);
    else if (strchr(s->bind, ':'))
        snprintf(rt->main_socket, sizeof(rt->main_socket), "[%s]:%d", s->bind, s->port);
    else
        snprintf(rt->main_socket, sizeof(rt->main_socket), "%s:%d", s->bind, s->port);
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
    if (s->max_request_size < 0)
        return gw_errf(err, "%s: server.max-request-size must not be negative", f);
    const gw_setting *st = gw_block_get(rt->conf->root, "spawn.apps");
    if (st && st->val->n > 0)
        return gw_errf(err, "%s: spawn.apps: spawned apps are not available in this version", f);
    return GW_OK;
}

static void collect_sockets(gw_rt *rt)
{
    const gw_block *root = rt->conf->root;
    for (size_t i = 0; i < root->nchildren; i++) {
        for (const gw_block *b = root->children[i]; b; b = b->else_next) {
            if (b->cond == NULL || b->cond->field != GW_COND_SOCKET) continue;
            if (b->cond->op != GW_OP_EQ) continue;
            int dup = strcmp(b->cond->pattern, rt->main_socket) == 0;
            for (size_t k = 0; k < rt->nextra && !dup; k++)
                dup = strcmp(rt->extra[k].name, b->cond->pattern) == 0;
            if (dup) continue;
            rt->extra = gw_xreallocarray(rt->extra, rt->nextra + 1, sizeof(*rt->extra));
            rt->extra[rt->nextra++].name = b->cond->pattern;
        }
    }
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
    collect_sockets(rt);
    if (gw_rt_compile(rt, err) != GW_OK) {
        gw_rt_unref(rt);
        return NULL;
    }
    return rt;
}

void gw_rt_ref(gw_rt *rt)
{
    rt->refs++;
}

void gw_rt_unref(gw_rt *rt)
{
    if (rt == NULL || --rt->refs > 0) return;
    gw_rt_table_free(rt);
    for (size_t i = 0; i < rt->npools; i++) {
        if (gw_rt_pool_release) gw_rt_pool_release(rt->pools[i]);
        gw_pool_free(rt->pools[i]);
    }
    free(rt->pools);
    free(rt->extra);
    free(rt->warning);
    gw_conf_free(rt->conf);
    free(rt);
}
