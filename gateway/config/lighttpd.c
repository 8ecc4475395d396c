/* lighttpd 1.4 configs carried over: fastcgi.server, scgi.server and proxy.server (and their
 * .balance) become, as they are parsed, portico's own keys -- condition blocks with proxy-core.*
 * settings and spawn.apps entries -- and what cannot be carried is named with FILE:LINE (a
 * warning where dropping it is harmless, an error where the meaning would change). Knows the
 * parser's tree only: the generated keys are checked later like hand-written ones. */
#include "gateway/config/conf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/alloc.h"

enum { LK_FASTCGI, LK_SCGI, LK_PROXY, LK_N };
static const char *const kind_name[LK_N] = {"fastcgi", "scgi", "proxy"};
static const char *const kind_proto[LK_N] = {"fastcgi", "scgi", "http"};

/* One X.server assignment: the else chain made of it under `block`. */
typedef struct lchain {
    struct lchain *next;
    int kind, dead; /* dead: replaced by a later `=` in the same block */
    gw_block *block, *head;
    gw_block **routes; /* the chain's blocks that proxy (not a closing else) */
    size_t nroutes;
} lchain;

/* X.balance in a block, as portico's balancer name. */
typedef struct lbal {
    struct lbal *next;
    int kind, used;
    gw_block *block;
    gw_val *val;
} lbal;

/* A bin-path host: the spawn.apps entry it becomes, named at the end. */
typedef struct lapp {
    struct lapp *next;
    const char *want; /* the name asked for: the host's label, or bin-path's file name */
    gw_val *map;
    gw_val *ref; /* the "spawn:NAME" backend, filled in once the name is final */
    lchain *chain;
    const char *name;
} lapp;

struct gw_lighty {
    lchain *chains; /* newest first, as are the others */
    lbal *bals;
    lapp *apps;
};

/* ---- values ---- */

static gw_val *mk(parser *P, gw_val_type type, const gw_val *at)
{
    gw_val *v = gw_conf_val_new(P, type, at->line);
    v->file = at->file;
    return v;
}

static gw_val *mk_str(parser *P, const gw_val *at, const char *s)
{
    gw_val *v = mk(P, GW_VAL_STR, at);
    v->str = gw_arena_strndup(P->a, s, strlen(s));
    return v;
}

static gw_val *mk_int(parser *P, const gw_val *at, long long n)
{
    gw_val *v = mk(P, GW_VAL_INT, at);
    v->num = n;
    return v;
}

static int val_equal(const gw_val *a, const gw_val *b)
{
    if (a == NULL || b == NULL) return a == b;
    if (a->type != b->type) return 0;
    if (a->type == GW_VAL_STR) return strcmp(a->str, b->str) == 0;
    if (a->type == GW_VAL_INT) return a->num == b->num;
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if ((a->type == GW_VAL_MAP && strcmp(a->keys[i], b->keys[i]) != 0) ||
            !val_equal(a->items[i], b->items[i]))
            return 0;
    return 1;
}

/* A number, also written as a string of digits: GW_OK or GW_ERR. */
static int as_int(const gw_val *v, long long *out)
{
    if (v->type == GW_VAL_INT) return *out = v->num, GW_OK;
    if (v->type == GW_VAL_STR && v->str[0] && strspn(v->str, "0123456789") == strlen(v->str) &&
        strlen(v->str) < 10)
        return *out = atoll(v->str), GW_OK;
    return GW_ERR;
}

/* key = v in block b, through the key table's type check (errors at v's FILE:LINE). */
static void set(parser *P, gw_block *b, const char *key, gw_val *v)
{
    const struct keydef *kd = gw_conf_key_find(key);
    v = gw_conf_check_type(P, kd, v, v->file, v->line);
    if (v == P->poison) return;
    b->settings = gw_conf_vec_room(P->a, b->settings, b->nsettings, sizeof(*b->settings));
    gw_setting *st = &b->settings[b->nsettings++];
    memset(st, 0, sizeof(*st));
    st->key = (char *)kd->name;
    st->val = v;
    st->file = v->file;
    st->line = v->line;
}

static struct gw_lighty *state(parser *P)
{
    if (P->ly == NULL) {
        P->ly = gw_arena_alloc(P->a, sizeof(*P->ly));
        memset(P->ly, 0, sizeof(*P->ly));
    }
    return P->ly;
}

/* ---- one host of an extension ---- */

/* The host keys of lighttpd 1.4 and their types: s string, n number, b boolean, m map, l list
 * (a string is a one-item list). */
// clang-format off
enum {
    H_HOST, H_PORT, H_SOCKET, H_BIN, H_ENV, H_COPY, H_MIN, H_MAX, H_IDLE, H_KILL, H_LOAD,
    H_CHECK, H_MODE, H_DOCROOT, H_DISABLE, H_CONNECT, H_READ, H_WRITE, H_BROKEN, H_STRIP,
    H_FIXROOT, H_XS, H_XS_OLD, H_XSROOT, H_BACKLOG, H_FIN, H_UPGRADE, H_N
};
static const char *const hkey[H_N] = {
    "host", "port", "socket", "bin-path", "bin-environment", "bin-copy-environment",
    "min-procs", "max-procs", "idle-timeout", "kill-signal", "max-load-per-proc", "check-local",
    "mode", "docroot", "disable-time", "connect-timeout", "read-timeout", "write-timeout",
    "broken-scriptfilename", "strip-request-uri", "fix-root-scriptname", "x-sendfile",
    "allow-x-send-file", "x-sendfile-docroot", "listen-backlog", "tcp-fin-propagate", "upgrade"};
static const char htype[H_N + 1] = "snssmlnnnnnbssnnnnbsbbblnbb";
// clang-format on

/* The route settings a host gives (the hosts of one extension share one route). */
enum { RS_DOCROOT, RS_XS, RS_XSROOT, RS_DISABLE, RS_CONNECT, RS_READ, RS_WRITE, RS_N };
static const char *const rs_key[RS_N] = {
    "server.document-root",    "proxy-core.allow-x-sendfile", "proxy-core.x-sendfile-docroot",
    "proxy-core.disable-time", "proxy-core.connect-timeout",  "proxy-core.read-timeout",
    "proxy-core.write-timeout"};

typedef struct lhost {
    const gw_val *m;
    const char *label;
    const gw_val *v[H_N];
    int check_local, fix_root;
    gw_val *rs[RS_N];
} lhost;

/* Where a message about a host starts: `fastcgi.server ".php" => "php": "max-procs"`. */
#define HOST_FMT "%s.server \"%s\" => \"%s\": \"%s\" "
#define HOST_ARGS(k, ext, h, key) kind_name[k], ext, (h)->label, key

static int read_host(parser *P, int kind, const char *ext, lhost *h)
{
    int nerr = P->nerr;
    const gw_val *m = h->m;
    h->check_local = 1;
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i];
        const gw_val *v = m->items[i];
        int id = 0;
        while (id < H_N && strcmp(hkey[id], k) != 0) id++;
        if (id == H_N) {
            gw_conf_perr(P, v->file, v->line, HOST_FMT "is not a lighttpd 1.4 host key",
                         HOST_ARGS(kind, ext, h, k));
            continue;
        }
        long long n = 0;
        int b = gw_val_bool(v);
        const char *want = NULL;
        if (htype[id] == 's' && v->type != GW_VAL_STR) want = "a string";
        if (htype[id] == 'm' && v->type != GW_VAL_MAP) want = "a map ( \"NAME\" => \"value\" )";
        if (htype[id] == 'l' && v->type != GW_VAL_LIST && v->type != GW_VAL_STR)
            want = "a list of strings";
        if (htype[id] == 'b' && b < 0) want = "\"enable\" or \"disable\"";
        if (htype[id] == 'n' && (as_int(v, &n) != GW_OK || n < 0)) want = "a number";
        if (want) {
            gw_conf_perr(P, v->file, v->line, HOST_FMT "must be %s", HOST_ARGS(kind, ext, h, k),
                         want);
            continue;
        }
        h->v[id] = v;
        switch (id) {
        case H_CHECK:
            h->check_local = b;
            if (b && kind != LK_PROXY)
                gw_conf_pwarn(P, v->file, v->line,
                              HOST_FMT "is not carried (dropped): portico does not look for the "
                                       "file before passing the request on; the backend answers "
                                       "for a missing one",
                              HOST_ARGS(kind, ext, h, k));
            break;
        case H_FIXROOT:
            h->fix_root = b;
            break;
        case H_MODE:
            if (strcmp(v->str, "responder") != 0)
                gw_conf_perr(P, v->file, v->line,
                             HOST_FMT "\"%s\" is not carried: portico runs responders only",
                             HOST_ARGS(kind, ext, h, k), v->str);
            break;
        case H_STRIP:
            if (v->str[0])
                gw_conf_perr(P, v->file, v->line,
                             HOST_FMT "is not carried: portico passes REQUEST_URI as the client "
                                      "sent it (proxy-core.script-name sets SCRIPT_NAME and "
                                      "PATH_INFO)",
                             HOST_ARGS(kind, ext, h, k));
            break;
        case H_UPGRADE:
            if (b && kind != LK_PROXY)
                gw_conf_perr(P, v->file, v->line,
                             HOST_FMT "is not carried: portico upgrades connections (WebSocket) "
                                      "to HTTP backends only",
                             HOST_ARGS(kind, ext, h, k));
            break;
        case H_LOAD:
        case H_BACKLOG:
        case H_FIN:
            gw_conf_pwarn(P, v->file, v->line, HOST_FMT "is not carried (dropped): %s",
                          HOST_ARGS(kind, ext, h, k),
                          id == H_LOAD      ? "portico starts another process when requests wait "
                                              "and every process is busy"
                          : id == H_BACKLOG ? "portico sizes its listen queues itself"
                                            : "portico does not pass a half-close on");
            break;
        case H_DOCROOT:
            h->rs[RS_DOCROOT] = (gw_val *)v;
            break;
        case H_XS:
        case H_XS_OLD:
            h->rs[RS_XS] = mk_str(P, v, b ? "enable" : "disable");
            break;
        case H_XSROOT:
            h->rs[RS_XSROOT] = (gw_val *)v;
            break;
        case H_DISABLE:
        case H_CONNECT:
        case H_READ:
        case H_WRITE: {
            int rs = id == H_DISABLE   ? RS_DISABLE
                     : id == H_CONNECT ? RS_CONNECT
                     : id == H_READ    ? RS_READ
                                       : RS_WRITE;
            if (n == 0 && id != H_DISABLE)
                gw_conf_pwarn(P, v->file, v->line,
                              HOST_FMT "0 (no limit) is not carried (dropped): %s applies",
                              HOST_ARGS(kind, ext, h, k), rs_key[rs]);
            else
                h->rs[rs] = mk_int(P, v, n);
            break;
        }
        default:
            break;
        }
    }
    const gw_val *host = h->v[H_HOST];
    if (host && host->str[0] == '/' && h->v[H_SOCKET] == NULL) { /* lighttpd reads it so */
        h->v[H_SOCKET] = host;
        h->v[H_HOST] = NULL;
    }
    if (h->v[H_SOCKET] && (h->v[H_HOST] || h->v[H_PORT]))
        gw_conf_perr(P, m->file, m->line,
                     "%s.server \"%s\" => \"%s\": either \"socket\" or "
                     "\"host\" and \"port\", not both",
                     kind_name[kind], ext, h->label);
    else if (!h->v[H_SOCKET] && !h->v[H_HOST] && !h->v[H_BIN])
        gw_conf_perr(P, m->file, m->line,
                     "%s.server \"%s\" => \"%s\": needs \"host\", "
                     "\"socket\" or \"bin-path\"",
                     kind_name[kind], ext, h->label);
    return P->nerr == nerr ? GW_OK : GW_ERR;
}

/* "unix:/path", "host:port" or "[v6]:port" of a host's socket; NULL for none. */
static char *host_addr(parser *P, const lhost *h)
{
    if (h->v[H_SOCKET]) return gw_arena_sprintf(P->a, "unix:%s", h->v[H_SOCKET]->str);
    if (!h->v[H_HOST] && !h->v[H_PORT]) return NULL;
    const char *host = h->v[H_HOST] ? h->v[H_HOST]->str : "127.0.0.1";
    long long port = 80; /* lighttpd's default */
    if (h->v[H_PORT]) as_int(h->v[H_PORT], &port);
    return gw_arena_sprintf(P->a, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, port);
}

/* The spawn.apps entry of a bin-path host; lighttpd's defaults where it sets none (4
 * processes, all started at once: min-procs is max-procs unless set). */
static lapp *host_app(parser *P, const lhost *h, const char *addr)
{
    gw_val *m = mk(P, GW_VAL_MAP, h->m);
    const gw_val *bin = h->v[H_BIN];
    gw_conf_val_push(P, m, "bin-path", (gw_val *)bin);
    gw_conf_val_push(P, m, "pass-socket", mk_str(P, bin, "fd0"));
    if (addr)
        gw_conf_val_push(P, m, "socket", mk_str(P, h->v[H_SOCKET] ? h->v[H_SOCKET] : h->m, addr));
    long long maxp = 4, minp;
    if (h->v[H_MAX]) as_int(h->v[H_MAX], &maxp);
    minp = maxp;
    if (h->v[H_MIN] && as_int(h->v[H_MIN], &minp) == GW_OK && minp > maxp) minp = maxp;
    gw_conf_val_push(P, m, "min-procs", mk_int(P, h->v[H_MIN] ? h->v[H_MIN] : h->m, minp));
    gw_conf_val_push(P, m, "max-procs", mk_int(P, h->v[H_MAX] ? h->v[H_MAX] : h->m, maxp));
    long long n;
    if (h->v[H_IDLE] && as_int(h->v[H_IDLE], &n) == GW_OK)
        gw_conf_val_push(P, m, "idle-timeout", mk_int(P, h->v[H_IDLE], n));
    if (h->v[H_KILL] && as_int(h->v[H_KILL], &n) == GW_OK)
        gw_conf_val_push(P, m, "kill-signal", mk_int(P, h->v[H_KILL], n));
    const gw_val *env = h->v[H_ENV];
    if (env) {
        gw_conf_val_push(P, m, "environment", (gw_val *)env);
        /* php-cgi forks this many children on the one socket: as many requests at once */
        long idx = gw_conf_map_index(env, "PHP_FCGI_CHILDREN");
        if (idx >= 0 && as_int(env->items[idx], &n) == GW_OK && n > 1)
            gw_conf_val_push(P, m, "concurrency", mk_int(P, env->items[idx], n));
    }
    const gw_val *copy = h->v[H_COPY];
    if (copy && copy->type == GW_VAL_STR) {
        gw_val *l = mk(P, GW_VAL_LIST, copy);
        gw_conf_val_push(P, l, NULL, (gw_val *)copy);
        copy = l;
    }
    if (copy) gw_conf_val_push(P, m, "copy-environment", (gw_val *)copy);
    lapp *app = gw_arena_alloc(P->a, sizeof(*app));
    memset(app, 0, sizeof(*app));
    app->map = m;
    app->want = h->label;
    if (!h->label[0]) { /* an unnamed host: the program's file name */
        const char *w = bin->str, *end = w + strcspn(w, " \t"), *slash = w;
        for (const char *p = w; p < end; p++)
            if (*p == '/') slash = p + 1;
        app->want = gw_arena_strndup(P->a, slash, (size_t)(end - slash));
    }
    return app;
}

/* ---- one extension: a block of the chain ---- */

static gw_block *translate_ext(parser *P, lchain *ch, gw_block *b, const char *ext,
                               const gw_val *hv, int first)
{
    int kind = ch->kind;
    size_t n = hv->type == GW_VAL_MAP || hv->type == GW_VAL_LIST ? hv->n : 0;
    lhost *hs = gw_arena_alloc(P->a, (n ? n : 1) * sizeof(*hs));
    memset(hs, 0, (n ? n : 1) * sizeof(*hs));
    for (size_t i = 0; i < n; i++) {
        hs[i].m = hv->items[i];
        hs[i].label = hv->type == GW_VAL_MAP ? hv->keys[i] : "";
        if (hs[i].m->type != GW_VAL_MAP) n = 0;
    }
    if (n == 0) {
        gw_conf_perr(P, hv->file, hv->line,
                     "%s.server \"%s\": expected ( \"name\" => ( \"host\" => ..., \"port\" => ... "
                     "), ... ) or ( ( \"host\" => ... ), ... )",
                     kind_name[kind], ext);
        return NULL;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= read_host(P, kind, ext, &hs[i]) != GW_OK;
    if (bad) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (hs[i].v[H_BIN] && n > 1) {
            gw_conf_perr(P, hs[i].m->file, hs[i].m->line,
                         "%s.server \"%s\" => \"%s\": a host with \"bin-path\" must be the only "
                         "host of its extension (its processes are the backends)",
                         kind_name[kind], ext, hs[i].label);
            return NULL;
        }
        for (int k = 0; k < RS_N && i > 0; k++) {
            if (val_equal(hs[0].rs[k], hs[i].rs[k]) && hs[0].check_local == hs[i].check_local &&
                hs[0].fix_root == hs[i].fix_root)
                continue;
            gw_conf_perr(P, hs[i].m->file, hs[i].m->line,
                         "%s.server \"%s\" => \"%s\": the hosts of one extension must agree on "
                         "docroot, x-sendfile, x-sendfile-docroot, check-local, "
                         "fix-root-scriptname and the timeouts (portico sets them per route)",
                         kind_name[kind], ext, hs[i].label);
            return NULL;
        }
    }
    /* SCRIPT_NAME: with check-local off, lighttpd makes a prefix the script and the rest of the
     * path PATH_INFO; a prefix ending in '/' takes the next path segment too, which portico
     * cannot (fix-root-scriptname on "/" gives SCRIPT_NAME "" and the whole path) */
    const char *sn = NULL;
    size_t len = strlen(ext);
    if (kind != LK_PROXY && ext[0] == '/' && !hs[0].check_local) {
        if (len == 1 && hs[0].fix_root) {
            sn = "";
        } else if (ext[len - 1] == '/') {
            gw_conf_perr(P, hv->file, hv->line,
                         "%s.server \"%s\" is not carried: with check-local disabled lighttpd's "
                         "SCRIPT_NAME would be the prefix and the next path segment; write the "
                         "prefix without its trailing '/' (SCRIPT_NAME = the prefix)%s",
                         kind_name[kind], ext,
                         len == 1 ? ", or set \"fix-root-scriptname\" => \"enable\"" : "");
            return NULL;
        } else {
            sn = ext;
        }
    }
    gw_cond *c = NULL;
    if (first || ext[0]) { /* an "" extension after others is the chain's plain else */
        c = gw_arena_alloc(P->a, sizeof(*c));
        memset(c, 0, sizeof(*c));
        c->field = GW_COND_URL;
        c->op = ext[0] == '/' || !ext[0] ? GW_OP_PREFIX : GW_OP_SUFFIX;
        c->pattern = gw_arena_strndup(P->a, ext, len);
        c->pattern_len = len;
        c->file = hv->file;
        c->line = hv->line;
    }
    gw_block *r = gw_conf_block_new(P, b, c, hv->line);
    r->file = hv->file;
    set(P, r, "proxy-core.protocol", mk_str(P, hv, kind_proto[kind]));
    gw_val *list = mk(P, GW_VAL_LIST, hv);
    for (size_t i = 0; i < n; i++) {
        char *addr = host_addr(P, &hs[i]);
        if (hs[i].v[H_BIN]) {
            lapp *app = host_app(P, &hs[i], addr);
            app->ref = mk_str(P, hv, "spawn:");
            app->chain = ch;
            app->next = state(P)->apps;
            state(P)->apps = app;
            gw_conf_val_push(P, list, NULL, app->ref);
        } else {
            gw_conf_val_push(P, list, NULL, mk_str(P, hs[i].m, addr));
        }
    }
    set(P, r, "proxy-core.backends", list);
    for (int k = 0; k < RS_N; k++)
        if (hs[0].rs[k]) set(P, r, rs_key[k], hs[0].rs[k]);
    if (sn) set(P, r, "proxy-core.script-name", mk_str(P, hv, sn));
    ch->routes = gw_conf_vec_room(P->a, ch->routes, ch->nroutes, sizeof(*ch->routes));
    ch->routes[ch->nroutes++] = r;
    return r;
}

/* ---- X.server ---- */

static void chain_kill(parser *P, lchain *ch)
{
    ch->dead = 1;
    for (gw_block *x = ch->head; x; x = x->else_next) x->nsettings = 0;
    gw_block *b = ch->block;
    for (size_t i = 0; i < b->nchildren; i++) {
        if (b->children[i] != ch->head) continue;
        memmove(&b->children[i], &b->children[i + 1], (b->nchildren - i - 1) * sizeof(gw_block *));
        b->nchildren--;
        break;
    }
    (void)P;
}

static lchain *chain_in(struct gw_lighty *L, int kind, const gw_block *b)
{
    for (lchain *ch = L->chains; ch; ch = ch->next)
        if (!ch->dead && ch->kind == kind && ch->block == b) return ch;
    return NULL;
}

static void translate_server(parser *P, gw_block *b, int kind, int append, gw_val *v,
                             const char *file, int line)
{
    struct gw_lighty *L = state(P);
    lchain *prev = chain_in(L, kind, b);
    if (prev && !append) chain_kill(P, prev); /* a later assignment in a block wins */
    if (v->type == GW_VAL_LIST && v->n == 0) return;
    if (v->type != GW_VAL_MAP) {
        gw_conf_perr(P, file, line,
                     "%s.server must be ( \"extension\" => ( \"name\" => ( \"host\" => ..., "
                     "\"port\" => ... ) ), ... ), not %s",
                     kind_name[kind], gw_conf_type_name(v));
        return;
    }
    /* a block setting X.server anew replaces the value of the blocks around it: what none of
     * its extensions takes is not passed to theirs (the closing else below) */
    int outer = 0;
    for (const gw_block *a = b->parent; a && !outer && !(prev && append); a = a->parent)
        outer = chain_in(L, kind, a) != NULL;
    lchain *ch = gw_arena_alloc(P->a, sizeof(*ch));
    memset(ch, 0, sizeof(*ch));
    ch->kind = kind;
    ch->block = b;
    ch->next = L->chains;
    L->chains = ch;
    gw_block *last = NULL;
    int all = 0;
    for (size_t i = 0; i < v->n; i++) {
        const gw_val *hv = v->items[i];
        if (all) {
            gw_conf_pwarn(P, hv->file, hv->line,
                          "%s.server \"%s\" is never reached (dropped): the \"\" extension "
                          "before it takes every request",
                          kind_name[kind], v->keys[i]);
            continue;
        }
        gw_block *r = translate_ext(P, ch, b, v->keys[i], hv, last == NULL);
        if (r == NULL) continue;
        if (last) {
            last->else_next = r;
        } else {
            ch->head = r;
            b->children = gw_conf_vec_room(P->a, b->children, b->nchildren, sizeof(gw_block *));
            b->children[b->nchildren++] = r;
        }
        last = r;
        all = v->keys[i][0] == '\0';
    }
    if (outer && last && !all) {
        gw_val *at = mk(P, GW_VAL_STR, v);
        gw_block *e = gw_conf_block_new(P, b, NULL, line);
        set(P, e, "proxy-core.backends", mk(P, GW_VAL_LIST, at));
        last->else_next = e;
    }
}

/* X.balance: lighttpd's names as portico's balancers. */
static void translate_balance(parser *P, gw_block *b, int kind, gw_val *v, const char *file,
                              int line)
{
    static const char *const map[][2] = {{"fair", "sqf"},
                                         {"least-connection", "sqf"},
                                         {"round-robin", "round-robin"},
                                         {"hash", "hash"}};
    const char *to = NULL;
    for (size_t i = 0; v->type == GW_VAL_STR && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(v->str, map[i][0]) == 0) to = map[i][1];
    if (to == NULL) {
        gw_conf_perr(P, file, line,
                     "%s.balance %s%s%s is not carried: portico has \"fair\" (sqf), "
                     "\"round-robin\" and \"hash\"%s",
                     kind_name[kind], v->type == GW_VAL_STR ? "\"" : "",
                     v->type == GW_VAL_STR ? v->str : gw_conf_type_name(v),
                     v->type == GW_VAL_STR ? "\"" : "",
                     v->type == GW_VAL_STR && strcmp(v->str, "sticky") == 0
                         ? ", no stickiness by client address"
                         : "");
        return;
    }
    lbal *x = gw_arena_alloc(P->a, sizeof(*x));
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->block = b;
    x->val = mk_str(P, v, to);
    x->next = state(P)->bals;
    state(P)->bals = x;
}

/* ---- the other lighttpd keys ---- */

enum { L_SERVER, L_BALANCE, L_WARN, L_ERR, L_ERR_ON };
static const struct {
    const char *key;
    int what;
    const char *why;
} lkeys[] = {
    {"fastcgi.server", L_SERVER, NULL},
    {"scgi.server", L_SERVER, NULL},
    {"proxy.server", L_SERVER, NULL},
    {"fastcgi.balance", L_BALANCE, NULL},
    {"scgi.balance", L_BALANCE, NULL},
    {"proxy.balance", L_BALANCE, NULL},
    {"fastcgi.debug", L_WARN, "portico's error log has no debug switch per module"},
    {"scgi.debug", L_WARN, "portico's error log has no debug switch per module"},
    {"proxy.debug", L_WARN, "portico's error log has no debug switch per module"},
    {"proxy.forwarded", L_WARN, "portico always sets X-Forwarded-For, -Proto and -Host"},
    {"fastcgi.map-extensions", L_ERR_ON, "list each extension in fastcgi.server itself"},
    {"scgi.map-extensions", L_ERR_ON, "list each extension in scgi.server itself"},
    {"proxy.map-extensions", L_ERR_ON, "list each extension in proxy.server itself"},
    {"proxy.replace-http-host", L_ERR_ON, "portico passes the client's Host on"},
    {"proxy.header", L_ERR_ON, "use proxy-core.rewrite-request / rewrite-response"},
    {"mimetype.assign", L_WARN, "portico serves no files itself; backends set Content-Type"},
    {"static-file.exclude-extensions", L_WARN, "portico serves no files itself"},
    {"static-file.etags", L_WARN, "portico serves no files itself"},
    {"server.event-handler", L_WARN, "portico picks the best one itself"},
    {"server.network-backend", L_WARN, "portico picks the best one itself"},
    {"server.stat-cache-engine", L_WARN, "portico serves no files itself"},
    {"server.follow-symlink", L_WARN, "portico serves no files itself"},
    {"server.max-fds", L_WARN, "set the limit with ulimit -n"},
    {"server.max-worker", L_WARN, "portico's workers are threads (server.workers)"},
    {"debug.log-request-handling", L_WARN, "portico has no such log"},
    {"debug.log-file-not-found", L_WARN, "portico has no such log"},
    {"debug.log-request-header", L_WARN, "portico has no such log"},
    {"debug.log-response-header", L_WARN, "portico has no such log"},
    {"index-file.names", L_ERR_ON,
     "portico does not turn a directory URL into its index file (\"/\" into \"/index.php\")"},
    {"server.indexfiles", L_ERR_ON,
     "portico does not turn a directory URL into its index file (\"/\" into \"/index.php\")"},
    {"url.rewrite", L_ERR_ON, "portico rewrites no URL before routing"},
    {"url.rewrite-once", L_ERR_ON, "portico rewrites no URL before routing"},
    {"url.rewrite-repeat", L_ERR_ON, "portico rewrites no URL before routing"},
    {"url.rewrite-if-not-file", L_ERR_ON, "portico rewrites no URL before routing"},
    {"url.redirect", L_ERR_ON, "portico answers no redirect itself"},
    {"alias.url", L_ERR_ON, "portico serves no files itself"},
    {"server.error-handler-404", L_ERR_ON, "portico routes no error pages"},
    {"server.error-handler", L_ERR_ON, "portico routes no error pages"},
    {"url.access-deny", L_ERR_ON, "requests lighttpd refuses would be served"},
    {"auth.require", L_ERR_ON, "requests lighttpd refuses would be served"},
    {"cgi.assign", L_ERR_ON, "portico runs no CGI programs (spawn.apps runs app servers)"},
    {"dir-listing.activate", L_ERR_ON, "portico lists no directories"},
    {"server.dir-listing", L_ERR_ON, "portico lists no directories"},
    {"setenv.add-request-header", L_ERR_ON, "headers lighttpd adds would be missing"},
    {"setenv.add-response-header", L_ERR_ON, "headers lighttpd adds would be missing"},
    {"setenv.add-environment", L_ERR_ON, "variables lighttpd adds would be missing"},
    {"server.use-ipv6", L_ERR_ON, "set server.bind to an IPv6 address instead"},
};

static int lkey_index(const char *key)
{
    for (size_t i = 0; i < sizeof(lkeys) / sizeof(lkeys[0]); i++)
        if (strcmp(lkeys[i].key, key) == 0) return (int)i;
    return -1;
}

int gw_lighty_key(const char *key)
{
    return lkey_index(key) >= 0;
}

void gw_lighty_assign(parser *P, gw_block *b, const char *key, int append, gw_val *v,
                      const char *file, int line)
{
    int i = lkey_index(key), kind = LK_N;
    if (v == P->poison) return;
    for (int k = 0; k < LK_N; k++)
        if (strncmp(key, kind_name[k], strlen(kind_name[k])) == 0 &&
            key[strlen(kind_name[k])] == '.')
            kind = k;
    /* "disable", 0 and an empty list change nothing */
    int off = gw_val_bool(v) == 0 || (v->type == GW_VAL_LIST && v->n == 0);
    switch (lkeys[i].what) {
    case L_SERVER:
        translate_server(P, b, kind, append, v, file, line);
        break;
    case L_BALANCE:
        translate_balance(P, b, kind, v, file, line);
        break;
    case L_WARN:
        if (off) break;
        gw_conf_pwarn(P, file, line, "lighttpd's %s is not carried (dropped): %s", key,
                      lkeys[i].why);
        break;
    case L_ERR_ON:
        if (off) break;
        /* fall through */
    default:
        gw_conf_perr(P, file, line, "lighttpd's %s is not carried: %s", key, lkeys[i].why);
    }
}

/* ---- after the last file ---- */

static void apply_balances(parser *P, struct gw_lighty *L)
{
    for (lchain *ch = L->chains; ch; ch = ch->next) {
        if (ch->dead) continue;
        lbal *hit = NULL; /* the newest in the nearest block: the one in effect */
        for (const gw_block *a = ch->block; a && !hit; a = a->parent)
            for (lbal *x = L->bals; x && !hit; x = x->next)
                if (x->kind == ch->kind && x->block == a) hit = x;
        if (hit == NULL) continue;
        hit->used = 1;
        for (size_t i = 0; i < ch->nroutes; i++)
            set(P, ch->routes[i], "proxy-core.balancer", hit->val);
    }
    for (lbal *x = L->bals; x; x = x->next) {
        if (x->used) continue;
        int any = 0;
        for (lchain *ch = L->chains; ch; ch = ch->next) any |= !ch->dead && ch->kind == x->kind;
        if (any)
            gw_conf_perr(P, x->val->file, x->val->line,
                         "%s.balance is not carried: no %s.server is set in its block or in a "
                         "block inside it; set it beside %s.server",
                         kind_name[x->kind], kind_name[x->kind], kind_name[x->kind]);
        else
            gw_conf_pwarn(P, x->val->file, x->val->line,
                          "%s.balance is not carried (dropped): there is no %s.server",
                          kind_name[x->kind], kind_name[x->kind]);
    }
}

static int name_taken(const gw_val *apps, const char *name)
{
    return apps && gw_conf_map_index(apps, name) >= 0;
}

/* The bin-path hosts as spawn.apps entries beside those the config writes itself: each named
 * after its host (made unique with "-2", "-3"), two identical hosts sharing one app. */
static void merge_apps(parser *P, struct gw_lighty *L)
{
    lapp *rev = NULL; /* source order */
    while (L->apps) {
        lapp *a = L->apps;
        L->apps = a->next;
        a->next = rev;
        rev = a;
    }
    gw_setting *st = NULL;
    gw_block *root = P->conf->root;
    for (size_t i = root->nsettings; i-- > 0 && !st;)
        if (strcmp(root->settings[i].key, "spawn.apps") == 0) st = &root->settings[i];
    gw_val *apps = NULL;
    for (lapp *a = rev; a; a = a->next) {
        if (a->chain->dead) continue;
        for (lapp *o = rev; o != a && !a->name; o = o->next)
            if (!o->chain->dead && val_equal(o->map, a->map)) a->name = o->name;
        if (!a->name) {
            char base[64], name[80];
            size_t k = 0;
            for (const char *p = a->want; *p && k < sizeof(base) - 1; p++)
                base[k++] = isalnum((unsigned char)*p) || strchr("-_.", *p) ? *p : '-';
            base[k] = '\0';
            if (k == 0) snprintf(base, sizeof(base), "app");
            snprintf(name, sizeof(name), "%s", base);
            for (int n = 2; name_taken(st ? st->val : NULL, name) || name_taken(apps, name); n++)
                snprintf(name, sizeof(name), "%s-%d", base, n);
            a->name = gw_arena_strndup(P->a, name, strlen(name));
            if (apps == NULL) {
                apps = mk(P, GW_VAL_MAP, a->map);
                for (size_t i = 0; st && i < st->val->n; i++)
                    gw_conf_val_push(P, apps, st->val->keys[i], st->val->items[i]);
            }
            gw_conf_val_push(P, apps, a->name, a->map);
        }
        a->ref->str = gw_arena_sprintf(P->a, "spawn:%s", a->name);
    }
    if (apps == NULL) return;
    if (st)
        st->val = apps;
    else
        set(P, root, "spawn.apps", apps);
}

void gw_lighty_finish(parser *P)
{
    if (P->ly == NULL) return;
    apply_balances(P, P->ly);
    merge_apps(P, P->ly);
}
