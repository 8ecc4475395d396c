/* Compiling one route: the effective value of each route key for a combination of blocks,
 * checked and turned into a gw_route (regexes compiled, paths checked, pool found or created).
 * Runs at load only; knows nothing of requests, sockets or the loop. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/base/alloc.h"
#include "gateway/config/route_int.h"
#include "gateway/config/apps.h"
#include "gateway/upstream/registry.h"

#define MAX_BACKENDS GW_MAX_PEERS

static const char *const rkey_names[R_NKEYS] = {
    [R_BACKENDS] = "proxy-core.backends",
    [R_PROTOCOL] = "proxy-core.protocol",
    [R_BALANCER] = "proxy-core.balancer",
    [R_HASH_FACTOR] = "proxy-core.hash-balance-factor",
    [R_MAX_POOL] = "proxy-core.max-pool-size",
    [R_KA_REQ] = "proxy-core.max-keep-alive-requests",
    [R_BACKLOG_SIZE] = "proxy-core.max-backlog-size",
    [R_BACKLOG_TIMEOUT] = "proxy-core.backlog-timeout",
    [R_CONNECT_TIMEOUT] = "proxy-core.connect-timeout",
    [R_READ_TIMEOUT] = "proxy-core.read-timeout",
    [R_WRITE_TIMEOUT] = "proxy-core.write-timeout",
    [R_DISABLE_TIME] = "proxy-core.disable-time",
    [R_MAX_RETRIES] = "proxy-core.max-retries",
    [R_XSENDFILE] = "proxy-core.allow-x-sendfile",
    [R_XSENDFILE_ROOT] = "proxy-core.x-sendfile-docroot",
    [R_XREWRITE] = "proxy-core.allow-x-rewrite",
    [R_RW_REQ] = "proxy-core.rewrite-request",
    [R_RW_RESP] = "proxy-core.rewrite-response",
    [R_SCRIPT_NAME] = "proxy-core.script-name",
    [R_DOCROOT] = "server.document-root",
    [R_HEALTH] = "proxy-core.health-check",
    [R_NAME] = "proxy-core.name",
    [R_STATUS_URL] = "status.status-url",
    [R_METRICS_URL] = "status.metrics-url",
};

int gw_rkey_of(const char *key)
{
    for (int k = 0; k < R_NKEYS; k++)
        if (strcmp(key, rkey_names[k]) == 0) return k;
    return -1;
}

int gw_block_relevant(const gw_block *b)
{
    for (size_t i = 0; i < b->nsettings; i++)
        if (gw_rkey_of(b->settings[i].key) >= 0) return 1;
    return 0;
}

void gw_eff_apply(gw_eff *e, const gw_block *b)
{
    for (size_t i = 0; i < b->nsettings; i++) {
        const gw_setting *s = &b->settings[i];
        int k = gw_rkey_of(s->key);
        if (k < 0) continue;
        gw_eff_val *ev = &e->v[k];
        if (s->append && (ev->base || ev->napp)) {
            if (ev->napp < GW_MAX_APPENDS)
                ev->app[ev->napp++] = s->val;
            else if (ev->over == NULL)
                ev->over = s->val;
        } else {
            ev->base = s->val;
            ev->napp = 0;
            ev->over = NULL;
        }
    }
}

/* ---- values ---- */

static long long val_int(const gw_eff_val *ev, long long def)
{
    const gw_val *v = ev->base;
    if (v == NULL) return def;
    if (v->type == GW_VAL_INT) return v->num;
    if (v->type == GW_VAL_STR) return atoll(v->str);
    return def;
}

/* A string value: the base, with the strings of later `+=` (in other blocks) appended, as
 * within one block. A concatenation is allocated and owned by the route. */
static const char *val_str_owned(const gw_eff_val *ev, const char *def, gw_route *r)
{
    const gw_val *v = ev->base;
    if (v == NULL || v->type != GW_VAL_STR) return def;
    if (ev->napp == 0) return v->str;
    size_t n = strlen(v->str);
    for (unsigned i = 0; i < ev->napp; i++)
        if (ev->app[i]->type == GW_VAL_STR) n += strlen(ev->app[i]->str);
    char *s = gw_xmalloc(n + 1);
    size_t k = strlen(v->str);
    memcpy(s, v->str, k);
    for (unsigned i = 0; i < ev->napp; i++) {
        if (ev->app[i]->type != GW_VAL_STR) continue;
        size_t m = strlen(ev->app[i]->str);
        memcpy(s + k, ev->app[i]->str, m);
        k += m;
    }
    s[k] = '\0';
    r->owned = gw_xreallocarray(r->owned, r->nowned + 1, sizeof(*r->owned));
    r->owned[r->nowned++] = s;
    return s;
}

/* rewrite-request / rewrite-response: the rules of the base map, then those of each `+=` in
 * config order (the first rule that matches a field wins). */
static int compile_rewrites(const gw_eff_val *ev, gw_rewrites *out, char **err)
{
    if (ev->base == NULL) return GW_OK;
    if (gw_rewrites_compile(ev->base, out, err) != GW_OK) return GW_ERR;
    for (unsigned i = 0; i < ev->napp; i++) {
        gw_rewrites more;
        if (gw_rewrites_compile(ev->app[i], &more, err) != GW_OK) return GW_ERR;
        out->rules = gw_xreallocarray(out->rules, out->n + more.n + 1, sizeof(*out->rules));
        if (more.n) memcpy(out->rules + out->n, more.rules, more.n * sizeof(*more.rules));
        out->n += more.n;
        free(more.rules);
    }
    return GW_OK;
}

static const char *val_str(const gw_eff_val *ev, const char *def)
{
    const gw_val *v = ev->base;
    return v && v->type == GW_VAL_STR ? v->str : def;
}

static int val_bool(const gw_eff_val *ev, int def)
{
    if (ev->base == NULL) return def;
    int b = gw_val_bool(ev->base);
    return b < 0 ? def : b;
}

/* Flatten a list value plus its appends into a NULL-terminated allocated array of borrowed
 * strings. A plain string counts as a one-item list. */
static char **val_strlist(const gw_eff_val *ev, size_t *count)
{
    size_t n = 0, cap = 8;
    char **out = gw_xreallocarray(NULL, cap, sizeof(*out));
    const gw_val *parts[GW_MAX_APPENDS + 1];
    size_t np = 0;
    if (ev->base) parts[np++] = ev->base;
    for (unsigned i = 0; i < ev->napp; i++) parts[np++] = ev->app[i];
    for (size_t p = 0; p < np; p++) {
        const gw_val *v = parts[p];
        size_t items = v->type == GW_VAL_LIST ? v->n : 1;
        for (size_t i = 0; i < items; i++) {
            const gw_val *it = v->type == GW_VAL_LIST ? v->items[i] : v;
            if (it->type != GW_VAL_STR) continue;
            if (n + 2 > cap) out = gw_xreallocarray(out, cap *= 2, sizeof(*out));
            out[n++] = it->str;
        }
    }
    out[n] = NULL;
    *count = n;
    return out;
}

static const char *where_file(const gw_val *v)
{
    return v && v->file ? v->file : "?";
}

static int where_line(const gw_val *v)
{
    return v ? v->line : 0;
}

/* The health-check map: ( "path" => "/ping", "interval" => 5, "status" => 200 ). */
typedef struct health_conf {
    const char *path; /* NULL: no checks */
    long long interval;
    int status; /* the status that passes; 0: any 2xx or 3xx */
} health_conf;

static int parse_health(const gw_val *v, health_conf *hc, char **err)
{
    hc->path = NULL;
    hc->interval = 5;
    hc->status = 0;
    if (v == NULL) return GW_OK;
    if (v->type != GW_VAL_MAP)
        return gw_errf(err,
                       "%s:%d: proxy-core.health-check: expected ( \"path\" => \"/ping\", "
                       "\"interval\" => 5 )",
                       where_file(v), v->line);
    for (size_t i = 0; i < v->n; i++) {
        const gw_val *it = v->items[i];
        if (strcmp(v->keys[i], "path") == 0 && it->type == GW_VAL_STR && it->str[0] == '/')
            hc->path = it->str;
        else if (strcmp(v->keys[i], "interval") == 0 && it->type == GW_VAL_INT && it->num >= 1 &&
                 it->num <= 3600)
            hc->interval = it->num;
        else if (strcmp(v->keys[i], "status") == 0 && it->type == GW_VAL_INT && it->num >= 100 &&
                 it->num <= 599)
            hc->status = (int)it->num;
        else
            return gw_errf(err,
                           "%s:%d: proxy-core.health-check: \"%s\" must be \"path\" (an "
                           "absolute path), \"interval\" (1..3600 seconds) or \"status\" (the "
                           "one status that passes, 100..599)",
                           where_file(v), v->line, v->keys[i]);
    }
    if (hc->path == NULL) hc->path = "/";
    return GW_OK;
}

static int check_protocol(const gw_val *v, char **err)
{
    char names[200];
    if (v == NULL || (v->type == GW_VAL_STR && gw_backend_find(v->str))) return GW_OK;
    return gw_errf(err, "%s:%d: unknown proxy-core.protocol \"%s\" (known: %s)", where_file(v),
                   v->line, v->type == GW_VAL_STR ? v->str : "",
                   gw_protocol_names(names, sizeof(names)));
}

static int check_balancer(const gw_val *v, char **err)
{
    char names[200];
    if (v == NULL || (v->type == GW_VAL_STR && gw_balancer_find(v->str))) return GW_OK;
    return gw_errf(err, "%s:%d: unknown proxy-core.balancer \"%s\" (known: %s)", where_file(v),
                   v->line, v->type == GW_VAL_STR ? v->str : "",
                   gw_balancer_names(names, sizeof(names)));
}

static int check_roots(const gw_val *where, char **roots, size_t n, char **err)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (roots[i][0] != '/')
            return gw_errf(err,
                           "%s:%d: proxy-core.x-sendfile-docroot \"%s\" must be an absolute "
                           "path",
                           where_file(where), where_line(where), roots[i]);
        if (stat(roots[i], &st) != 0 || !S_ISDIR(st.st_mode))
            return gw_errf(err, "%s:%d: proxy-core.x-sendfile-docroot \"%s\" is not a directory",
                           where_file(where), where_line(where), roots[i]);
    }
    return GW_OK;
}

int gw_block_check_values(const gw_block *b, char **err)
{
    for (size_t i = 0; i < b->nsettings; i++) {
        const gw_val *v = b->settings[i].val;
        int rc = GW_OK;
        switch (gw_rkey_of(b->settings[i].key)) {
        case R_PROTOCOL:
            rc = check_protocol(v, err);
            break;
        case R_BALANCER:
            rc = check_balancer(v, err);
            break;
        case R_XSENDFILE_ROOT: {
            gw_eff_val ev = {.base = v};
            size_t n;
            char **roots = val_strlist(&ev, &n);
            rc = check_roots(v, roots, n, err);
            free(roots);
            break;
        }
        case R_RW_REQ:
        case R_RW_RESP: {
            gw_rewrites rw = {0};
            rc = gw_rewrites_compile(v, &rw, err);
            gw_rewrites_free(&rw);
            break;
        }
        case R_BACKENDS: {
            /* parsed here too, so that a block past the combination bound is checked */
            gw_eff_val ev = {.base = v};
            size_t n;
            char **specs = val_strlist(&ev, &n);
            char *msg = NULL;
            gw_peer peer;
            for (size_t k = 0; k < n && rc == GW_OK; k++) {
                memset(&peer, 0, sizeof(peer));
                if (gw_peer_parse(&peer, specs[k], &msg) != GW_OK)
                    rc = gw_errf(err, "%s:%d: %s", where_file(v), v->line, msg);
            }
            free(msg);
            free(specs);
            break;
        }
        case R_HEALTH: {
            health_conf hc;
            rc = parse_health(v, &hc, err);
            break;
        }
        default:
            break;
        }
        if (rc != GW_OK) return GW_ERR;
    }
    return GW_OK;
}

/* ---- pools ---- */

/* The name of a pool no proxy-core.name names: where its backends are set ("FILE:LINE", the
 * file without its directories), made unique among the generation's pools with "#2", "#3". */
static char *derived_name(const gw_rt *rt, const gw_val *where)
{
    const char *file = where_file(where);
    const char *slash = strrchr(file, '/');
    char base[256];
    snprintf(base, sizeof(base), "%s:%d", slash ? slash + 1 : file, where_line(where));
    char name[300];
    snprintf(name, sizeof(name), "%s", base);
    for (int k = 2;; k++) {
        int taken = 0;
        for (size_t i = 0; i < rt->npools && !taken; i++)
            taken = strcmp(rt->pools[i]->name, name) == 0;
        if (!taken) return gw_xstrdup(name);
        snprintf(name, sizeof(name), "%s#%d", base, k);
    }
}

static gw_pool *rt_pool(gw_rt *rt, const gw_backend_ops *ops, const gw_balancer_ops *bal,
                        unsigned hash_factor, char **specs, size_t n, unsigned max_pool,
                        const health_conf *hc, const char *name, const gw_val *where, char **err)
{
    const char *hc_path = hc->path;
    size_t len = strlen(ops->name) + strlen(bal->name) + 80 + (hc_path ? strlen(hc_path) : 0) +
                 (name ? strlen(name) : 0);
    for (size_t i = 0; i < n; i++) len += strlen(specs[i]) + 1;
    char *key = gw_xmalloc(len);
    /* (an explicit name is part of the pool's identity; a derived one is not, so that routes
     * to the same backends share one pool and its caps) */
    int k = snprintf(key, len, "%s|%s|%u|%u|%s|%lld|%d|%s|", ops->name, bal->name, hash_factor,
                     max_pool, hc_path ? hc_path : "", hc_path ? hc->interval : 0,
                     hc_path ? hc->status : 0, name ? name : "");
    for (size_t i = 0; i < n; i++) k += snprintf(key + k, len - (size_t)k, "%s,", specs[i]);
    for (size_t i = 0; i < rt->npools; i++) {
        if (strcmp(rt->pools[i]->key, key) == 0) {
            free(key);
            return rt->pools[i];
        }
    }
    char *msg = NULL;
    gw_pool *p = NULL;
    size_t nspawn = 0;
    for (size_t i = 0; i < n; i++) nspawn += strncmp(specs[i], "spawn:", 6) == 0;
    if (nspawn == 0) {
        p = gw_pool_new(key, ops, bal, specs, n, max_pool, &msg);
    } else if (n > 1) {
        gw_errf(&msg, "a \"spawn:NAME\" backend stands alone in its list (its process slots are "
                      "the pool)");
    } else if (hc_path) {
        gw_errf(&msg, "proxy-core.health-check does not apply to a spawned app: portico watches "
                      "its processes itself");
    } else {
        const spawn_conf *app = gw_apps_find(rt->apps, rt->napps, specs[0] + 6);
        if (app == NULL)
            gw_errf(&msg, "backend \"%s\": no app \"%s\" in spawn.apps", specs[0], specs[0] + 6);
        else
            p = gw_pool_new_app(key, ops, bal, app->name, spawn_conf_nslots(app));
    }
    free(key);
    if (p == NULL) {
        gw_errf(err, "%s:%d: %s", where_file(where), where_line(where), msg ? msg : "bad backend");
        free(msg);
        return NULL;
    }
    p->hash_factor = hash_factor;
    if (hc_path) {
        p->hc_path = gw_xstrdup(hc_path);
        p->hc_interval = (double)hc->interval;
        p->hc_status = hc->status;
    }
    free(p->name);
    p->name = NULL;
    for (size_t i = 0; name && i < rt->npools; i++) {
        if (strcmp(rt->pools[i]->name, name) != 0) continue;
        gw_errf(err,
                "%s:%d: proxy-core.name \"%s\" already names another pool (other backends, "
                "protocol, balancer, cap or health check)",
                where_file(where), where_line(where), name);
        gw_pool_free(p);
        return NULL;
    }
    p->name = name ? gw_xstrdup(name) : derived_name(rt, where);
    rt->pools = gw_xreallocarray(rt->pools, rt->npools + 1, sizeof(*rt->pools));
    rt->pools[rt->npools++] = p;
    if (gw_rt_pool_created) gw_rt_pool_created(p);
    return p;
}

/* ---- one route ---- */

static int build(gw_rt *rt, const gw_eff *e, gw_route *r, char **err)
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
    for (int k = 0; k < R_NKEYS; k++)
        if (e->v[k].over)
            return gw_errf(err,
                           "%s:%d: more than %d `+=` to %s reach one request; join them into "
                           "fewer settings",
                           where_file(e->v[k].over), where_line(e->v[k].over), GW_MAX_APPENDS,
                           rkey_names[k]);
    r->script_name = val_str_owned(&e->v[R_SCRIPT_NAME], NULL, r);
    r->docroot = val_str_owned(&e->v[R_DOCROOT], NULL, r);
    r->status_url = val_str_owned(&e->v[R_STATUS_URL], NULL, r);
    r->metrics_url = val_str_owned(&e->v[R_METRICS_URL], NULL, r);

    /* (every value was checked on its own in its block, gw_block_check_values: names are
     * known and docroots are directories; what is left here are the rules across keys) */
    r->ops = gw_backend_find(val_str(&e->v[R_PROTOCOL], "http"));
    const gw_balancer_ops *bal = gw_balancer_find(val_str(&e->v[R_BALANCER], "sqf"));
    /* (only the hash balancer reads it: other pools do not split over it) */
    unsigned hash_factor =
        bal == &gw_balance_hash ? (unsigned)val_int(&e->v[R_HASH_FACTOR], GW_HASH_FACTOR) : 0;

    r->xs_roots = val_strlist(&e->v[R_XSENDFILE_ROOT], &r->nxs_roots);
    if (r->allow_xsendfile && r->nxs_roots == 0)
        return gw_errf(err,
                       "%s:%d: proxy-core.allow-x-sendfile needs proxy-core.x-sendfile-docroot",
                       where_file(e->v[R_XSENDFILE].base), where_line(e->v[R_XSENDFILE].base));

    if (compile_rewrites(&e->v[R_RW_REQ], &r->rw_req, err) != GW_OK ||
        compile_rewrites(&e->v[R_RW_RESP], &r->rw_resp, err) != GW_OK)
        return GW_ERR;

    health_conf hc;
    if (parse_health(e->v[R_HEALTH].base, &hc, err) != GW_OK) return GW_ERR;
    size_t nb;
    char **specs = val_strlist(&e->v[R_BACKENDS], &nb);
    int rc = GW_OK;
    if (nb > MAX_BACKENDS) {
        rc = gw_errf(err, "%s:%d: more than %d backends in one list",
                     where_file(e->v[R_BACKENDS].base), where_line(e->v[R_BACKENDS].base),
                     MAX_BACKENDS);
    } else if (nb > 0) {
        r->pool = rt_pool(rt, r->ops, bal, hash_factor, specs, nb, r->max_pool_size, &hc,
                          val_str(&e->v[R_NAME], NULL), e->v[R_BACKENDS].base, err);
        if (r->pool == NULL) rc = GW_ERR;
    }
    free(specs);
    return rc;
}

int gw_route_build(gw_rt *rt, const gw_eff *e, gw_route *r, const gw_block *const *blocks,
                   size_t nblocks, char **err)
{
    char *msg = NULL;
    if (build(rt, e, r, &msg) == GW_OK) return GW_OK;
    gw_route_release(r);
    /* name the blocks whose combination fails: each may be fine on its own */
    char with[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < nblocks && n < sizeof(with) - 1; i++) {
        int k = snprintf(with + n, sizeof(with) - n, "%s%s:%d", i ? ", " : "", blocks[i]->file,
                         blocks[i]->line);
        if (k < 0) break;
        n += (size_t)k;
    }
    if (n >= sizeof(with)) n = sizeof(with) - 1;
    if (nblocks)
        gw_errf(err, "%s (when the blocks at %s hold together)", msg, with);
    else
        gw_errf(err, "%s", msg);
    free(msg);
    return GW_ERR;
}

void gw_route_release(gw_route *r)
{
    free(r->xs_roots);
    r->xs_roots = NULL;
    gw_rewrites_free(&r->rw_req);
    gw_rewrites_free(&r->rw_resp);
    for (size_t i = 0; i < r->nowned; i++) free(r->owned[i]);
    free(r->owned);
    r->owned = NULL;
    r->nowned = 0;
}
