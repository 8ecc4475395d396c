/* RFC 3875 environment builder (shared by FastCGI and SCGI) and the CGI response-head parser.
 * Base layer: libc only; knows no protocol framing, no sockets, no event loop. */
#include "gateway/base/cgi.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- environment ---- */

static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* Header name byte -> environment name byte: [A-Z0-9_] only, so an application can never be
 * handed a variable name it would not expect, whatever the parser let through. */
static inline char var_char(unsigned char c)
{
    if (c >= 'a' && c <= 'z') return (char)(c - 'a' + 'A');
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return (char)c;
    return '_';
}

/* Field names are compared on every request and response: a length that differs settles it
 * without entering the loop of gw_str_caseeq. */
#define NAME_IS(s, lit) ((s).n == sizeof(lit) - 1 && gw_str_caseeq((s), (lit)))

/* Fields never passed as HTTP_*: hop-by-hop (RFC 9110 §7.6.1), the two that have their own
 * variables, Expect (handled by the gateway), Proxy (httpoxy, CVE-2016-5385), and every
 * look-alike that would take the variable of an owned field ("Content_Length"). */
static int skipped_name(gw_str n)
{
    if (gw_is_hop_by_hop(n) || gw_is_lookalike(n)) return 1;
    switch (n.n) {
    case 5:
        return gw_str_caseeq(n, "Proxy");
    case 6:
        return gw_str_caseeq(n, "Expect");
    case 12:
        return gw_str_caseeq(n, "Content-Type");
    case 14:
        return gw_str_caseeq(n, "Content-Length");
    default:
        return 0;
    }
}

/* One HTTP_* variable: the first header name that produced it and its values, in order. */
typedef struct hvar {
    gw_str name; /* header name as sent (first occurrence) */
    char *var;   /* "HTTP_..." (arena) */
    size_t varlen;
    uint32_t hash;
    int first, last; /* value list through val_next */
    size_t vlen;     /* sum of value lengths */
    int nval;
} hvar;

typedef struct henv {
    hvar *v;
    size_t nv;
    gw_str *val;
    int *val_next;
    size_t nval;
    uint16_t *slot; /* open addressing: index + 1, 0 = empty */
    size_t mask;
} henv;

/* Add one header; returns GW_ERR when a different name already produced the same variable. */
static int henv_add(henv *e, gw_arena *a, gw_str name, gw_str value)
{
    char *var = gw_arena_alloc(a, 5 + name.n + 1);
    memcpy(var, "HTTP_", 5);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < name.n; i++) {
        char c = var_char((unsigned char)name.p[i]);
        var[5 + i] = c;
        h = (h ^ (unsigned char)c) * 16777619u;
    }
    size_t varlen = 5 + name.n;
    var[varlen] = '\0';

    int vi = (int)e->nval++;
    e->val[vi] = value;
    e->val_next[vi] = -1;

    size_t s = h & e->mask;
    while (e->slot[s]) {
        hvar *o = &e->v[e->slot[s] - 1];
        if (o->hash == h && o->varlen == varlen && memcmp(o->var, var, varlen) == 0) {
            if (!gw_str_caseeq2(o->name, name)) return GW_ERR; /* X-Foo vs X_Foo */
            e->val_next[o->last] = vi;
            o->last = vi;
            o->vlen += value.n;
            o->nval++;
            return GW_OK;
        }
        s = (s + 1) & e->mask;
    }
    hvar *nv = &e->v[e->nv];
    e->slot[s] = (uint16_t)(++e->nv);
    *nv = (hvar){name, var, varlen, h, vi, vi, value.n, 1};
    return GW_OK;
}

/* Collect the HTTP_* variables before anything is emitted, so that an ambiguous request is
 * rejected whole instead of half-sent. */
static int henv_build(henv *e, const gw_req *rq)
{
    size_t total = rq->nhdr + rq->nextra;
    memset(e, 0, sizeof(*e));
    if (total == 0) return GW_OK;
    if (total > 30000) return GW_ERR; /* the slot index is 16 bits; far beyond any real head */
    size_t cap = 16;
    while (cap < total * 2) cap <<= 1;
    e->v = gw_arena_alloc(rq->arena, total * sizeof(*e->v));
    e->val = gw_arena_alloc(rq->arena, total * sizeof(*e->val));
    e->val_next = gw_arena_alloc(rq->arena, total * sizeof(*e->val_next));
    e->slot = gw_arena_alloc(rq->arena, cap * sizeof(*e->slot));
    memset(e->slot, 0, cap * sizeof(*e->slot));
    e->mask = cap - 1;

    size_t conn_at = rq->nhdr; /* the first Connection field */
    for (size_t i = 0; i < rq->nhdr && conn_at == rq->nhdr; i++)
        if (NAME_IS(rq->hdr[i].name, "Connection")) conn_at = i;

    for (size_t i = 0; i < rq->nhdr; i++) {
        const gw_header *hd = &rq->hdr[i];
        if (hd->name.n == 0 || skipped_name(hd->name)) continue;
        if (conn_at < rq->nhdr &&
            gw_named_by_connection(rq->hdr + conn_at, rq->nhdr - conn_at, hd->name))
            continue;
        if (rq->nextra && gw_req_extra(rq, hd->name)) continue;
        if (henv_add(e, rq->arena, hd->name, hd->value) != GW_OK) return GW_ERR;
    }
    for (size_t i = 0; i < rq->nextra; i++) {
        const gw_header *hd = &rq->extra[i];
        /* "_uri", "_docroot", ...: rewrite pseudo headers, not request fields */
        if (hd->name.n == 0 || hd->name.p[0] == '_' || skipped_name(hd->name)) continue;
        if (henv_add(e, rq->arena, hd->name, hd->value) != GW_OK) return GW_ERR;
    }
    return GW_OK;
}

/* Same-named fields are one list (RFC 9110 §5.3); Cookie is the exception with "; " (RFC
 * 6265 §5.4), which is what PHP and Rack split on. */
static gw_str henv_value(const henv *e, const hvar *v, gw_arena *a)
{
    if (v->nval == 1) return e->val[v->first];
    int cookie = v->varlen == 11 && memcmp(v->var, "HTTP_COOKIE", 11) == 0;
    size_t n = v->vlen + 2 * (size_t)(v->nval - 1);
    char *s = gw_arena_alloc(a, n + 1), *d = s;
    for (int i = v->first; i >= 0; i = e->val_next[i]) {
        if (d != s) {
            *d++ = cookie ? ';' : ',';
            *d++ = ' ';
        }
        if (e->val[i].n) memcpy(d, e->val[i].p, e->val[i].n);
        d += e->val[i].n;
    }
    *d = '\0';
    return (gw_str){s, n};
}

static const gw_header *find_field(const gw_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->nextra; i++)
        if (gw_str_caseeq(rq->extra[i].name, name)) return &rq->extra[i];
    return gw_req_header(rq, name);
}

#define EMIT(n, v)                                                                                 \
    do {                                                                                           \
        if (emit(ctx, GW_STR(n), (v)) != GW_OK) return GW_ERR;                                     \
    } while (0)

int gw_cgi_env(const gw_req *rq, int scgi, gw_cgi_emit emit, void *ctx, int *status)
{
    if (rq->content_length < 0) {
        *status = 500; /* the gateway must de-chunk first: a guessed length would desync */
        return GW_ERR;
    }
    henv e;
    if (henv_build(&e, rq) != GW_OK) {
        *status = 400;
        return GW_ERR;
    }

    char clen[24]; /* per request: digits by hand, printf costs more than the rest here */
    size_t k = sizeof(clen);
    uint64_t left = (uint64_t)rq->content_length;
    do clen[--k] = (char)('0' + left % 10);
    while ((left /= 10) != 0);
    EMIT("CONTENT_LENGTH", ((gw_str){clen + k, sizeof(clen) - k}));
    const gw_header *ctype = find_field(rq, "Content-Type");
    if (ctype) EMIT("CONTENT_TYPE", ctype->value);
    EMIT("QUERY_STRING", rq->query);
    EMIT("REQUEST_URI", rq->target);
    if (rq->backend_target.n && !(rq->backend_target.n == rq->target.n &&
                                  memcmp(rq->backend_target.p, rq->target.p, rq->target.n) == 0))
        EMIT("REDIRECT_URI", rq->backend_target); /* an "_uri" rewrite, lighttpd's name */
    EMIT("REQUEST_METHOD", rq->method);
    EMIT("SCRIPT_NAME", rq->script_name);
    if (rq->path_info.n) EMIT("PATH_INFO", rq->path_info);
    if (rq->script_filename.n) EMIT("SCRIPT_FILENAME", rq->script_filename);
    if (rq->docroot.n) EMIT("DOCUMENT_ROOT", rq->docroot);

    const gw_endpoint *srv = rq->server, *cli = rq->client;
    int https = gw_str_caseeq(rq->scheme, "https");
    gw_str sname = rq->host;
    if (sname.n == 0 && srv) sname = gw_str_from(srv->addr);
    EMIT("SERVER_NAME", sname);
    /* a unix-socket listener has no port; apps building URLs still need one */
    gw_str sport =
        srv && srv->port[0] ? gw_str_from(srv->port) : (https ? GW_STR("443") : GW_STR("80"));
    EMIT("SERVER_PORT", sport);
    if (srv) EMIT("SERVER_ADDR", gw_str_from(srv->addr));
    EMIT("SERVER_PROTOCOL", rq->minor == 0 ? GW_STR("HTTP/1.0") : GW_STR("HTTP/1.1"));
    if (rq->server_software.n) EMIT("SERVER_SOFTWARE", rq->server_software);
    EMIT("GATEWAY_INTERFACE", GW_STR("CGI/1.1"));
    if (cli) {
        EMIT("REMOTE_ADDR", gw_str_from(cli->addr));
        if (cli->port[0]) EMIT("REMOTE_PORT", gw_str_from(cli->port));
    }
    EMIT("REQUEST_SCHEME", rq->scheme.n ? rq->scheme : GW_STR("http"));
    if (https) EMIT("HTTPS", GW_STR("on"));
    EMIT("REDIRECT_STATUS", GW_STR("200"));
    if (scgi) EMIT("SCGI", GW_STR("1"));

    for (size_t i = 0; i < e.nv; i++) {
        const hvar *v = &e.v[i];
        if (emit(ctx, (gw_str){v->var, v->varlen}, henv_value(&e, v, rq->arena)) != GW_OK)
            return GW_ERR;
    }
    return GW_OK;
}

/* ---- response head ---- */

/* Where the head ends: the byte after the first empty line ("\n" or "\r\n"), or 0. */
static size_t head_end(const char *buf, size_t len)
{
    size_t ls = 0; /* start of the current line */
    for (;;) {
        const char *nl = memchr(buf + ls, '\n', len - ls);
        if (nl == NULL) return 0;
        size_t e = (size_t)(nl - buf);
        if (e == ls || (e == ls + 1 && buf[ls] == '\r')) return e + 1;
        ls = e + 1;
    }
}

static int parse_status3(const char *p, size_t n, size_t *used)
{
    if (n < 3) return -1;
    for (int i = 0; i < 3; i++)
        if (p[i] < '0' || p[i] > '9') return -1;
    if (n > 3 && p[3] != ' ' && p[3] != '\t') return -1;
    int s = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    if (s < 100 || s > 599) return -1;
    *used = 3;
    return s;
}

static int parse_length(gw_str v, int64_t *out)
{
    if (v.n == 0 || v.n > 18) return GW_ERR;
    int64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return GW_ERR;
        n = n * 10 + (v.p[i] - '0');
    }
    *out = n;
    return GW_OK;
}

static int nph_line(const char *p, size_t n)
{
    /* "HTTP/1.x NNN reason" */
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
        return -1;
    size_t used;
    return parse_status3(p + 9, n - 9, &used);
}

int gw_cgi_parse_head(const char *buf, size_t len, gw_resp *rsp)
{
    size_t end = head_end(buf, len);
    if (end == 0) return GW_AGAIN;

    /* one copy of the whole head; every header string is a slice of it */
    char *h = gw_arena_alloc(rsp->arena, end);
    memcpy(h, buf, end);

    int status = 0, from_status = 0, have_location = 0;
    int64_t clen = -1;
    rsp->content_length = -1;
    size_t ls = 0;
    for (int first = 1;; first = 0) {
        const char *nl = memchr(h + ls, '\n', end - ls);
        size_t le = (size_t)(nl - h), next = le + 1;
        if (le > ls && h[le - 1] == '\r') le--;
        if (le == ls) break; /* the empty line */
        const char *p = h + ls;
        size_t n = le - ls;
        ls = next;

        if (first && n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
            status = nph_line(p, n);
            if (status < 0) return GW_ERR;
            continue;
        }
        if (p[0] == ' ' || p[0] == '\t') return GW_ERR; /* obs-fold */
        size_t c = 0;
        while (c < n && tchar[(unsigned char)p[c]]) c++;
        if (c == 0 || c == n || p[c] != ':') return GW_ERR;
        gw_str name = {p, c};
        size_t vs = c + 1, ve = n;
        while (vs < ve && (p[vs] == ' ' || p[vs] == '\t')) vs++;
        while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t')) ve--;
        for (size_t i = vs; i < ve; i++) {
            unsigned char b = (unsigned char)p[i];
            if ((b < 0x20 && b != '\t') || b == 0x7f) return GW_ERR; /* CR, NUL: splitting */
        }
        gw_str value = {p + vs, ve - vs};

        if (NAME_IS(name, "Status")) {
            size_t used;
            int s = parse_status3(value.p, value.n, &used);
            if (s < 0 || from_status) return GW_ERR;
            status = s;
            from_status = 1;
            continue;
        }
        if (NAME_IS(name, "Content-Length")) {
            int64_t v;
            if (parse_length(value, &v) != GW_OK) return GW_ERR;
            if (clen >= 0) {
                if (v != clen) return GW_ERR;
                continue; /* an identical repeat is one field (RFC 9110 §8.6) */
            }
            clen = v;
        } else if (NAME_IS(name, "Location")) {
            have_location = 1;
        }
        /* NUL-terminate in place: the separator byte after a value is never needed again */
        ((char *)value.p)[value.n] = '\0';
        gw_resp_add_header(rsp, name, value);
    }
    if (status == 0) status = have_location ? 302 : 200;
    rsp->status = status;
    rsp->content_length = clen;
    rsp->head_done = 1;
    return (int)end;
}
