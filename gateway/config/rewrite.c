/* rewrite-request / rewrite-response: the `( "Header" => ( "regex" => "replacement" ) )` maps,
 * compiled once with PCRE2 and applied to the neutral request and response objects.
 * Knows nothing of the event loop, sockets or backend protocols. */
#include "gateway/config/rewrite.h"

#include "gateway/config/cond.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/base/alloc.h"
#include "gateway/base/log.h"

/* The request fields a pseudo header stands for. "_uri" starts from the target as received when
 * nothing has set backend_target yet. */
static const struct {
    const char *name;
    size_t off;
} pseudo[] = {
    {"_uri", offsetof(gw_req, backend_target)},
    {"_scriptname", offsetof(gw_req, script_name)},
    {"_pathinfo", offsetof(gw_req, path_info)},
    {"_docroot", offsetof(gw_req, docroot)},
    {"_scriptfilename", offsetof(gw_req, script_filename)}, /* (after _docroot: it wins) */
};
#define NPSEUDO (sizeof(pseudo) / sizeof(pseudo[0]))

/* "FILE:LINE: message" through err, as every config error is (the first one wins). */
static int errf(char **err, const gw_val *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int errf(char **err, const gw_val *v, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gw_errf(err, "%s:%d: %s", v && v->file ? v->file : "(config)", v ? v->line : 0, msg);
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A field name (RFC 9110 token) or one of the pseudo headers. */
static const char *check_name(const char *name)
{
    if (name == NULL || name[0] == '\0') return "an empty header name";
    if (name[0] == '_') {
        for (size_t i = 0; i < NPSEUDO; i++)
            if (strcmp(name, pseudo[i].name) == 0) return NULL;
        return "an unknown pseudo header (expected \"_uri\", \"_scriptname\", \"_pathinfo\", "
               "\"_docroot\" or \"_scriptfilename\")";
    }
    for (const char *p = name; *p; p++)
        if (!is_tchar((unsigned char)*p)) return "a header name with a character not allowed";
    return NULL;
}

void gw_rewrites_free(gw_rewrites *rw)
{
    for (size_t i = 0; i < rw->n; i++) {
        free(rw->rules[i].header);
        free(rw->rules[i].repl);
        pcre2_code_free(rw->rules[i].re);
    }
    free(rw->rules);
    rw->rules = NULL;
    rw->n = 0;
}

/* The shape is checked whole before anything is compiled, so an error leaves nothing behind. */
static int check_shape(const gw_val *map, size_t *total, char **err)
{
    static const char expect[] = "expected ( \"Header\" => ( \"regex\" => \"replacement\", ... ), "
                                 "... )";
    if (map->type != GW_VAL_MAP) return errf(err, map, "%s", expect);
    *total = 0;
    for (size_t i = 0; i < map->n; i++) {
        const gw_val *v = map->items[i];
        const char *bad = check_name(map->keys[i]);
        if (bad)
            return errf(err, v, "rewrite key \"%s\": %s", map->keys[i] ? map->keys[i] : "", bad);
        if (v->type != GW_VAL_MAP)
            return errf(err, v, "rewrite \"%s\": expected a map ( \"regex\" => \"replacement\" )",
                        map->keys[i]);
        for (size_t j = 0; j < v->n; j++) {
            const gw_val *r = v->items[j];
            if (r->type != GW_VAL_STR)
                return errf(err, r, "rewrite \"%s\" => \"%s\": the replacement must be a string",
                            map->keys[i], v->keys[j]);
            if (strpbrk(r->str, "\r\n"))
                return errf(err, r, "rewrite \"%s\" => \"%s\": the replacement contains CR or LF",
                            map->keys[i], v->keys[j]);
        }
        *total += v->n;
    }
    return GW_OK;
}

int gw_rewrites_compile(const gw_val *map, gw_rewrites *out, char **err)
{
    size_t total = 0;
    out->rules = NULL;
    out->n = 0;
    if (map == NULL) return GW_OK;
    if (check_shape(map, &total, err) != GW_OK) return GW_ERR;
    if (total == 0) return GW_OK;
    out->rules = gw_xcalloc(total, sizeof(*out->rules));
    for (size_t i = 0; i < map->n; i++) {
        const gw_val *v = map->items[i];
        for (size_t j = 0; j < v->n; j++) {
            gw_rewrite_rule *r = &out->rules[out->n];
            int ec;
            PCRE2_SIZE eo;
            r->re = pcre2_compile((PCRE2_SPTR)v->keys[j], PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
            if (r->re == NULL) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(ec, msg, sizeof(msg));
                errf(err, v->items[j], "rewrite \"%s\": bad regex \"%s\" at offset %zu: %s",
                     map->keys[i], v->keys[j], (size_t)eo, (const char *)msg);
                gw_rewrites_free(out);
                return GW_ERR;
            }
            out->n++;
            pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter is used */
            r->header = gw_xstrdup(map->keys[i]);
            r->repl = gw_xstrdup(v->items[j]->str);
        }
    }
    return GW_OK;
}

/* Expand the replacement: "$0".."$9" are captures (unset or absent groups give ""), "$$" is a
 * literal '$' (so "$$1" writes "$1"), any other '$' is itself. With dst NULL only counts. */
static size_t expand(const char *repl, const char *subj, const PCRE2_SIZE *ov, int ngroups,
                     char *dst)
{
    size_t o = 0;
    for (const char *p = repl; *p; p++) {
        if (p[0] == '$' && p[1] >= '0' && p[1] <= '9') {
            int k = *++p - '0';
            if (k < ngroups && ov[2 * k] != PCRE2_UNSET && ov[2 * k + 1] > ov[2 * k]) {
                size_t len = ov[2 * k + 1] - ov[2 * k];
                if (dst) memcpy(dst + o, subj + ov[2 * k], len);
                o += len;
            }
            continue;
        }
        if (p[0] == '$' && p[1] == '$') p++;
        if (dst) dst[o] = *p;
        o++;
    }
    return o;
}

int gw_rewrite_apply(const gw_rewrite_rule *r, gw_str value, gw_arena *a, gw_str *out)
{
    const char *subj = value.p ? value.p : "";
    pcre2_match_data *md = gw_re_match_data(); /* the thread's: the rule is shared config */
    int rc = pcre2_match(r->re, (PCRE2_SPTR)subj, value.n, 0, 0, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        /* match or depth limit: forwarding the value unrewritten could bypass the rule */
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        gw_log(GW_LOG_WARN, "rewrite \"%s\": regex match failed: %s", r->header, (const char *)msg);
        return GW_ERR;
    }
    if (rc == 0) rc = GW_RE_PAIRS; /* more groups than $0..$9 name: the first ten are set */
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t n = expand(r->repl, subj, ov, rc, NULL);
    char *s = gw_arena_alloc(a, n + 1);
    expand(r->repl, subj, ov, rc, s);
    s[n] = '\0';
    if (memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n)) return GW_ERR;
    *out = (gw_str){s, n};
    return 1;
}

/* Try every rule for `name` in config order; the first that matches gives the new value.
 * Returns 1 (*out set), 0 (no rule matched) or GW_ERR. */
static int rewrite_one(const gw_rewrites *rw, gw_str name, int exact, gw_str value, gw_arena *a,
                       gw_str *out)
{
    for (size_t i = 0; i < rw->n; i++) {
        const gw_rewrite_rule *r = &rw->rules[i];
        if (exact ? !gw_str_eq(name, r->header) : !gw_str_caseeq(name, r->header)) continue;
        int rc = gw_rewrite_apply(r, value, a, out);
        if (rc != 0) return rc;
    }
    return 0;
}

static int starts_with(gw_str s, gw_str prefix)
{
    return prefix.n && s.n >= prefix.n && memcmp(s.p, prefix.p, prefix.n) == 0;
}

static int rewrite_pseudo(const gw_rewrites *rw, gw_req *rq)
{
    for (size_t f = 0; f < NPSEUDO; f++) {
        gw_str *field = (gw_str *)((char *)rq + pseudo[f].off);
        gw_str cur = *field, out;
        if (f == 0 && cur.p == NULL) cur = rq->target;
        int rc = rewrite_one(rw, gw_str_from(pseudo[f].name), 1, cur, rq->arena, &out);
        if (rc < 0) return GW_ERR;
        if (rc == 0) continue;
        /* a new docroot moves SCRIPT_FILENAME with it, as SCRIPT_FILENAME = docroot + path */
        if (field == &rq->docroot && starts_with(rq->script_filename, cur)) {
            gw_str rest = {rq->script_filename.p + cur.n, rq->script_filename.n - cur.n};
            char *s = gw_arena_alloc(rq->arena, out.n + rest.n + 1);
            memcpy(s, out.p, out.n);
            if (rest.n) memcpy(s + out.n, rest.p, rest.n);
            s[out.n + rest.n] = '\0';
            rq->script_filename = (gw_str){s, out.n + rest.n};
        }
        *field = out;
    }
    return GW_OK;
}

/* Append n headers to rq->extra: the array is copied into a larger one in the arena. */
static gw_header *extra_grow(gw_req *rq, size_t n)
{
    gw_header *h = gw_arena_alloc(rq->arena, (rq->nextra + n) * sizeof(*h));
    if (rq->nextra) memcpy(h, rq->extra, rq->nextra * sizeof(*h));
    rq->extra = h;
    gw_header *tail = h + rq->nextra;
    rq->nextra += n;
    return tail;
}

/* One header name with rules: rewrite every field of that name. The originals of a rewritten
 * name are not sent (rq->extra replaces them), so when any field matched, every field of the
 * name goes into extra, the unmatched ones unchanged, in their order. */
static int rewrite_header(const gw_rewrites *rw, const char *name, gw_req *rq)
{
    size_t count = 0, matched = 0;
    for (size_t h = 0; h < rq->nhdr; h++)
        if (gw_str_caseeq(rq->hdr[h].name, name)) count++;
    if (count == 0) return GW_OK;
    gw_str *vals = gw_arena_alloc(rq->arena, count * sizeof(*vals));
    size_t k = 0;
    for (size_t h = 0; h < rq->nhdr; h++) {
        if (!gw_str_caseeq(rq->hdr[h].name, name)) continue;
        int rc = rewrite_one(rw, rq->hdr[h].name, 0, rq->hdr[h].value, rq->arena, &vals[k]);
        if (rc < 0) return GW_ERR;
        if (rc == 0) vals[k] = rq->hdr[h].value;
        matched += (size_t)rc;
        k++;
    }
    if (matched == 0) return GW_OK;
    gw_header *dst = extra_grow(rq, count);
    k = 0;
    for (size_t h = 0; h < rq->nhdr; h++) {
        if (!gw_str_caseeq(rq->hdr[h].name, name)) continue;
        dst[k].name = rq->hdr[h].name;
        dst[k].value = vals[k];
        k++;
    }
    return GW_OK;
}

int gw_rewrite_request(const gw_rewrites *rw, gw_req *rq)
{
    if (rw == NULL || rw->n == 0) return GW_OK;
    if (rewrite_pseudo(rw, rq) != GW_OK) return GW_ERR;
    for (size_t i = 0; i < rw->n; i++) {
        const char *name = rw->rules[i].header;
        if (name[0] == '_') continue;
        /* each name once, at its first rule */
        size_t j = 0;
        while (j < i && strcasecmp(rw->rules[j].header, name) != 0) j++;
        if (j < i) continue;
        if (rewrite_header(rw, name, rq) != GW_OK) return GW_ERR;
    }
    return GW_OK;
}

int gw_rewrite_response(const gw_rewrites *rw, gw_resp *rsp)
{
    if (rw == NULL || rw->n == 0) return GW_OK;
    for (size_t h = 0; h < rsp->nhdr; h++) {
        gw_str out;
        if (rsp->hdr[h].name.n && rsp->hdr[h].name.p[0] == '_') continue;
        int rc = rewrite_one(rw, rsp->hdr[h].name, 0, rsp->hdr[h].value, rsp->arena, &out);
        if (rc < 0) return GW_ERR;
        if (rc == 1) rsp->hdr[h].value = out;
    }
    return GW_OK;
}
