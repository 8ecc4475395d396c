/* Routing: which blocks of the config hold for a request, and the effective proxy settings they
 * give. Routes are built once per distinct set of matching blocks and cached for the life of the
 * config generation, so the per-request cost is the condition walk and one hash lookup. */
#include "config.h"

#include "gateway/config/route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/upstream/balance.h"
#include "gateway/base/log.h"

void (*gw_rt_pool_release)(gw_pool *pool);
void (*gw_rt_pool_created)(gw_pool *pool);

enum rkey {
    R_BACKENDS,
    R_PROTOCOL,
    R_BALANCER,
    R_MAX_POOL,
    R_KA_REQ,
    R_BACKLOG_SIZE,
    R_BACKLOG_TIMEOUT,
    R_CONNECT_TIMEOUT,
    R_READ_TIMEOUT,
    R_WRITE_TIMEOUT,
    R_DISABLE_TIME,
    R_MAX_RETRIES,
    R_XSENDFILE,
    R_XSENDFILE_ROOT,
    R_XREWRITE,
    R_RW_REQ,
    R_RW_RESP,
    R_SCRIPT_NAME,
    R_DOCROOT,
    R_HEALTH,
    R_NKEYS
};

static const char *const rkey_names[R_NKEYS] = {
    "proxy-core.backends",
    "proxy-core.protocol",
    "proxy-core.balancer",
    "proxy-core.max-pool-size",
    "proxy-core.max-keep-alive-requests",
    "proxy-core.max-backlog-size",
    "proxy-core.backlog-timeout",
    "proxy-core.connect-timeout",
    "proxy-core.read-timeout",
    "proxy-core.write-timeout",
    "proxy-core.disable-time",
    "proxy-core.max-retries",
    "proxy-core.allow-x-sendfile",
    "proxy-core.x-sendfile-docroot",
    "proxy-core.allow-x-rewrite",
    "proxy-core.rewrite-request",
    "proxy-core.rewrite-response",
    "proxy-core.script-name",
    "server.document-root",
    "proxy-core.health-check",
};

#define MAX_APPENDS 16

/* The effective value of one key: the last plain assignment plus the appends after it. */
typedef struct eff_val {
    const gw_val *base;
    const gw_val *app[MAX_APPENDS];
    unsigned napp;
} eff_val;

typedef struct eff {
    eff_val v[R_NKEYS];
} eff;

static void eff_apply(eff *e, const gw_block *b)
{
    for (size_t i = 0; i < b->nsettings; i++) {
        const gw_setting *s = &b->settings[i];
        for (int k = 0; k < R_NKEYS; k++) {
            if (strcmp(s->key, rkey_names[k]) != 0) continue;
            eff_val *ev = &e->v[k];
            if (s->append && (ev->base || ev->napp)) {
                if (ev->napp < MAX_APPENDS) ev->app[ev->napp++] = s->val;
            } else {
                ev->base = s->val;
                ev->napp = 0;
            }
            break;
        }
    }
}

/* ---- the route cache: matched-block bitset -> route ---- */

typedef struct cache_ent {
    struct cache_ent *next;
    uint64_t hash;
    gw_route route;
    unsigned char bits[]; /* nbytes */
} cache_ent;

struct gw_route_cache {
    size_t nbytes; /* of a bitset */
    size_t nbuckets, n;
    cache_ent **buckets;
};

static uint64_t bits_hash(const unsigned char *b, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* ---- building a route ---- */

static long long val_int(const eff_val *ev, long long def)
{
    const gw_val *v = ev->base;
    if (v == NULL) return def;
    if (v->type == GW_VAL_INT) return v->num;
    if (v->type == GW_VAL_STR) return atoll(v->str);
    return def;
}

static const char *val_str(const eff_val *ev, const char *def)
{
    const gw_val *v = ev->base;
    return v && v->type == GW_VAL_STR ? v->str : def;
}

static int val_bool(const eff_val *ev, int def)
{
    if (ev->base == NULL) return def;
    int b = gw_val_bool(ev->base);
    return b < 0 ? def : b;
}

/* Flatten a list value plus its appends into a NULL-terminated malloc'd array of borrowed
 * strings. A plain string counts as a one-item list. */
static char **val_strlist(const eff_val *ev, size_t *count)
{
    size_t n = 0, cap = 8;
    char **out = malloc(cap * sizeof(*out));
    const gw_val *parts[MAX_APPENDS + 1];
    size_t np = 0;
    if (ev->base) parts[np++] = ev->base;
    for (unsigned i = 0; i < ev->napp; i++) parts[np++] = ev->app[i];
    for (size_t p = 0; p < np; p++) {
        const gw_val *v = parts[p];
        size_t items = v->type == GW_VAL_LIST ? v->n : 1;
        for (size_t i = 0; i < items; i++) {
            const gw_val *it = v->type == GW_VAL_LIST ? v->items[i] : v;
            if (it->type != GW_VAL_STR) continue;
            if (n + 2 > cap) out = realloc(out, (cap *= 2) * sizeof(*out));
            out[n++] = it->str;
        }
    }
    out[n] = NULL;
    *count = n;
    return out;
}

static void route_fail(gw_route *r, char **err, const gw_val *where, const char *fmt,
                       const char *arg)
{
    char msg[512];
    int n = 0;
    if (where && where->file) n = snprintf(msg, sizeof(msg), "%s:%d: ", where->file, where->line);
    snprintf(msg + n, sizeof(msg) - (size_t)n, fmt, arg);
    if (*err == NULL) *err = strdup(msg);
    r->error = "invalid configuration for this request";
}

/* The health-check map: ( "path" => "/ping", "interval" => 5 ). Returns 0 or -1 (err set). */
static int parse_health(const gw_val *v, const char **path, long long *interval, char **err)
{
    *path = NULL;
    *interval = 5;
    if (v == NULL) return 0;
    char msg[300];
    msg[0] = '\0';
    if (v->type != GW_VAL_MAP) {
        snprintf(msg, sizeof(msg),
                 "proxy-core.health-check: expected ( \"path\" => \"/ping\", "
                 "\"interval\" => 5 )");
    }
    for (size_t i = 0; msg[0] == '\0' && i < v->n; i++) {
        const gw_val *it = v->items[i];
        if (strcmp(v->keys[i], "path") == 0 && it->type == GW_VAL_STR && it->str[0] == '/')
            *path = it->str;
        else if (strcmp(v->keys[i], "interval") == 0 && it->type == GW_VAL_INT && it->num >= 1 &&
                 it->num <= 3600)
            *interval = it->num;
        else
            snprintf(msg, sizeof(msg),
                     "proxy-core.health-check: \"%s\" must be \"path\" (an "
                     "absolute path) or \"interval\" (1..3600 seconds)",
                     v->keys[i]);
    }
    if (msg[0] == '\0' && *path == NULL) *path = "/";
    if (msg[0] == '\0') return 0;
    char full[400];
    snprintf(full, sizeof(full), "%s:%d: %s", v->file ? v->file : "?", v->line, msg);
    if (*err == NULL) *err = strdup(full);
    return -1;
}

static gw_pool *rt_pool(gw_rt *rt, const gw_backend_ops *ops, const gw_balancer_ops *bal,
                        char **specs, size_t n, unsigned max_pool, const char *hc_path,
                        long long hc_interval, char **err, const gw_val *where)
{
    size_t len = strlen(ops->name) + strlen(bal->name) + 64 + (hc_path ? strlen(hc_path) : 0);
    for (size_t i = 0; i < n; i++) len += strlen(specs[i]) + 1;
    char *key = malloc(len);
    int k = snprintf(key, len, "%s|%s|%u|%s|%lld|", ops->name, bal->name, max_pool,
                     hc_path ? hc_path : "", hc_path ? hc_interval : 0);
    for (size_t i = 0; i < n; i++) k += snprintf(key + k, len - (size_t)k, "%s,", specs[i]);
    for (size_t i = 0; i < rt->npools; i++) {
        if (strcmp(rt->pools[i]->key, key) == 0) {
            free(key);
            return rt->pools[i];
        }
    }
    char *msg = NULL;
    gw_pool *p = gw_pool_new(key, ops, bal, specs, n, max_pool, &msg);
    free(key);
    if (p == NULL) {
        char full[600];
        snprintf(full, sizeof(full), "%s:%d: %s", where && where->file ? where->file : "?",
                 where ? where->line : 0, msg);
        if (*err == NULL) *err = strdup(full);
        free(msg);
        return NULL;
    }
    if (hc_path) {
        p->hc_path = strdup(hc_path);
        p->hc_interval = (double)hc_interval;
    }
    rt->pools = realloc(rt->pools, (rt->npools + 1) * sizeof(*rt->pools));
    rt->pools[rt->npools++] = p;
    if (gw_rt_pool_created) gw_rt_pool_created(p);
    return p;
}

static void route_build(gw_rt *rt, const eff *e, gw_route *r, char **err)
{
    memset(r, 0, sizeof(*r));
    r->max_pool_size = (unsigned)val_int(&e->v[R_MAX_POOL], 0);
    r->ka_requests = (unsigned)val_int(&e->v[R_KA_REQ], 100);
    r->max_backlog = (unsigned)val_int(&e->v[R_BACKLOG_SIZE], 1024);
    r->backlog_timeout = (double)val_int(&e->v[R_BACKLOG_TIMEOUT], 10);
    r->connect_timeout = (double)val_int(&e->v[R_CONNECT_TIMEOUT], 5);
    r->read_timeout = (double)val_int(&e->v[R_READ_TIMEOUT], 60);
    r->write_timeout = (double)val_int(&e->v[R_WRITE_TIMEOUT], 60);
    r->disable_time = (double)val_int(&e->v[R_DISABLE_TIME], 2);
    r->max_retries = (unsigned)val_int(&e->v[R_MAX_RETRIES], 3);
    r->allow_xsendfile = val_bool(&e->v[R_XSENDFILE], 0);
    r->allow_xrewrite = val_bool(&e->v[R_XREWRITE], 0);
    r->script_name = val_str(&e->v[R_SCRIPT_NAME], NULL);
    r->docroot = val_str(&e->v[R_DOCROOT], NULL);

    const char *proto = val_str(&e->v[R_PROTOCOL], "http");
    r->ops = gw_backend_find(proto);
    if (r->ops == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "unknown proxy-core.protocol \"%%s\" (known: %s)",
                 gw_backend_names());
        route_fail(r, err, e->v[R_PROTOCOL].base, msg, proto);
        return;
    }
    const char *balname = val_str(&e->v[R_BALANCER], "sqf");
    const gw_balancer_ops *bal = gw_balancer_find(balname);
    if (bal == NULL) {
        route_fail(r, err, e->v[R_BALANCER].base,
                   "unknown proxy-core.balancer \"%s\" (known: round-robin, sqf, hash, carp, "
                   "static)",
                   balname);
        return;
    }

    size_t nroots;
    char **roots = val_strlist(&e->v[R_XSENDFILE_ROOT], &nroots);
    for (size_t i = 0; i < nroots; i++) {
        struct stat st;
        if (roots[i][0] != '/') {
            route_fail(r, err, e->v[R_XSENDFILE_ROOT].base,
                       "proxy-core.x-sendfile-docroot \"%s\" must be an absolute path", roots[i]);
        } else if (stat(roots[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            route_fail(r, err, e->v[R_XSENDFILE_ROOT].base,
                       "proxy-core.x-sendfile-docroot \"%s\" is not a directory", roots[i]);
        }
    }
    if (r->allow_xsendfile && nroots == 0)
        route_fail(r, err, e->v[R_XSENDFILE].base,
                   "proxy-core.allow-x-sendfile needs proxy-core.x-sendfile-docroot%s", "");
    r->xs_roots = roots;
    r->nxs_roots = nroots;

    char *rwerr = NULL;
    if (e->v[R_RW_REQ].base && gw_rewrites_compile(e->v[R_RW_REQ].base, &r->rw_req, &rwerr)) {
        route_fail(r, err, NULL, "%s", rwerr);
        free(rwerr);
        rwerr = NULL;
    }
    if (e->v[R_RW_RESP].base && gw_rewrites_compile(e->v[R_RW_RESP].base, &r->rw_resp, &rwerr)) {
        route_fail(r, err, NULL, "%s", rwerr);
        free(rwerr);
    }

    const char *hc_path;
    long long hc_interval;
    if (parse_health(e->v[R_HEALTH].base, &hc_path, &hc_interval, err) != 0)
        r->error = "invalid health check";
    size_t nb;
    char **specs = val_strlist(&e->v[R_BACKENDS], &nb);
    if (nb > 0 && r->error == NULL) {
        if (nb > 2048) {
            route_fail(r, err, e->v[R_BACKENDS].base, "more than %s backends in one list", "2048");
        } else {
            r->pool = rt_pool(rt, r->ops, bal, specs, nb, r->max_pool_size, hc_path, hc_interval,
                              err, e->v[R_BACKENDS].base);
            if (r->pool == NULL) r->error = "invalid backend";
        }
    }
    free(specs);
}

static void route_free(gw_route *r)
{
    free(r->xs_roots);
    gw_rewrites_free(&r->rw_req);
    gw_rewrites_free(&r->rw_resp);
}

/* ---- per request ---- */

typedef struct match_acc {
    unsigned char *bits;
    const gw_block *list[256];
    size_t n;
    int overflow;
} match_acc;

static void on_match(void *arg, const gw_block *b)
{
    match_acc *m = arg;
    m->bits[b->id >> 3] |= (unsigned char)(1u << (b->id & 7));
    if (m->n < sizeof(m->list) / sizeof(m->list[0]))
        m->list[m->n++] = b;
    else
        m->overflow = 1;
}

static gw_route *cache_insert(gw_rt *rt, const unsigned char *bits, uint64_t h)
{
    gw_route_cache *c = rt->cache;
    if (c->n >= c->nbuckets) { /* grow */
        size_t nb = c->nbuckets * 2;
        cache_ent **b = calloc(nb, sizeof(*b));
        for (size_t i = 0; i < c->nbuckets; i++) {
            for (cache_ent *e = c->buckets[i], *next; e; e = next) {
                next = e->next;
                e->next = b[e->hash & (nb - 1)];
                b[e->hash & (nb - 1)] = e;
            }
        }
        free(c->buckets);
        c->buckets = b;
        c->nbuckets = nb;
    }
    cache_ent *e = calloc(1, sizeof(*e) + c->nbytes);
    memcpy(e->bits, bits, c->nbytes);
    e->hash = h;
    e->next = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    c->n++;
    return &e->route;
}

static gw_route *route_for_blocks(gw_rt *rt, const unsigned char *bits, const gw_block **list,
                                  size_t n, char **err)
{
    gw_route_cache *c = rt->cache;
    uint64_t h = bits_hash(bits, c->nbytes);
    for (cache_ent *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && memcmp(e->bits, bits, c->nbytes) == 0) return &e->route;
    eff ef;
    memset(&ef, 0, sizeof(ef));
    for (size_t i = 0; i < n; i++) eff_apply(&ef, list[i]);
    gw_route *r = cache_insert(rt, bits, h);
    route_build(rt, &ef, r, err);
    return r;
}

const gw_route *gw_rt_route(gw_rt *rt, const gw_cond_ctx *ctx)
{
    unsigned char bits[512];
    unsigned char *b = rt->cache->nbytes <= sizeof(bits) ? bits : malloc(rt->cache->nbytes);
    memset(b, 0, rt->cache->nbytes);
    match_acc m = {.bits = b};
    gw_conf_match(rt->conf, ctx, on_match, &m);
    char *err = NULL;
    gw_route *r = route_for_blocks(rt, b, m.list, m.n, &err);
    if (err) {
        gw_log(GW_LOG_ERR, "%s", err);
        free(err);
    }
    if (b != bits) free(b);
    return r;
}

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
    char msg[300];
    msg[0] = '\0';
    if (s->port <= 0 || s->port > 65535)
        snprintf(msg, sizeof(msg), "server.port %d is out of range 1-65535", s->port);
    else if (s->max_field_size < 1024 || s->max_field_size > 1048576)
        snprintf(msg, sizeof(msg), "server.max-request-field-size must be 1024..1048576");
    else if (s->max_connections < 1)
        snprintf(msg, sizeof(msg), "server.max-connections must be at least 1");
    else if (s->max_request_size < 0)
        snprintf(msg, sizeof(msg), "server.max-request-size must not be negative");
    if (msg[0] == '\0') {
        const gw_setting *st = gw_block_get(rt->conf->root, "spawn.apps");
        if (st && st->val->n > 0)
            snprintf(msg, sizeof(msg),
                     "spawn.apps: spawned apps are not available in this "
                     "version");
    }
    if (msg[0] == '\0') return 0;
    char full[400];
    snprintf(full, sizeof(full), "%s: %s", rt->conf->path, msg);
    *err = strdup(full);
    return -1;
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
            rt->extra = realloc(rt->extra, (rt->nextra + 1) * sizeof(*rt->extra));
            rt->extra[rt->nextra++].name = b->cond->pattern;
        }
    }
}

/* Build the route of every nesting path root -> ... -> block, so that -t reports the errors of
 * each block where it is written. */
static void check_block(gw_rt *rt, const gw_block *b, const gw_block **path, size_t depth,
                        char **err)
{
    if (depth >= 64) return;
    path[depth] = b;
    gw_route_cache *c = rt->cache;
    unsigned char bits[512];
    unsigned char *bs = c->nbytes <= sizeof(bits) ? bits : malloc(c->nbytes);
    memset(bs, 0, c->nbytes);
    for (size_t i = 0; i <= depth; i++)
        bs[path[i]->id >> 3] |= (unsigned char)(1u << (path[i]->id & 7));
    route_for_blocks(rt, bs, path, depth + 1, err);
    if (bs != bits) free(bs);
    for (size_t i = 0; i < b->nchildren && *err == NULL; i++)
        for (const gw_block *x = b->children[i]; x && *err == NULL; x = x->else_next)
            check_block(rt, x, path, depth + 1, err);
}

static uint64_t next_generation;

gw_rt *gw_rt_load(const char *path, char **err)
{
    *err = NULL;
    gw_conf *conf = gw_conf_load(path, err);
    if (conf == NULL) return NULL;
    gw_rt *rt = calloc(1, sizeof(*rt));
    rt->refs = 1;
    rt->conf = conf;
    rt->generation = ++next_generation;
    rt->cache = calloc(1, sizeof(*rt->cache));
    rt->cache->nbytes = (conf->nblocks + 7) / 8;
    rt->cache->nbuckets = 16;
    rt->cache->buckets = calloc(16, sizeof(cache_ent *));
    load_server(rt);
    if (check_server(rt, err) != 0) {
        gw_rt_unref(rt);
        return NULL;
    }
    collect_sockets(rt);
    const gw_block *path_buf[64];
    check_block(rt, conf->root, path_buf, 0, err);
    if (*err) {
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
    gw_route_cache *c = rt->cache;
    for (size_t i = 0; c && i < c->nbuckets; i++) {
        for (cache_ent *e = c->buckets[i], *next; e; e = next) {
            next = e->next;
            route_free(&e->route);
            free(e);
        }
    }
    if (c) free(c->buckets);
    free(c);
    for (size_t i = 0; i < rt->npools; i++) {
        if (gw_rt_pool_release) gw_rt_pool_release(rt->pools[i]);
        gw_pool_free(rt->pools[i]);
    }
    free(rt->pools);
    free(rt->extra);
    gw_conf_free(rt->conf);
    free(rt);
}
