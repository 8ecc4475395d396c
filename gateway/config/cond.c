/* Conditions: compiling an operand once at load (regex, CIDR) and matching a request's fields
 * against it, then walking the block tree for one request. Knows nothing of sockets beyond a
 * client sockaddr, nor of the loop or protocols. */
#include "gateway/config/cond.h"

#include "gateway/base/alloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Names as written in the config: the parser reads them, the printer writes them. */
const char *const gw_cond_field_names[] = {
    [GW_COND_URL] = "url",       [GW_COND_QUERY] = "querystring",
    [GW_COND_HOST] = "host",     [GW_COND_METHOD] = "request-method",
    [GW_COND_SCHEME] = "scheme", [GW_COND_REMOTE_IP] = "remote-ip",
    [GW_COND_HEADER] = NULL,     [GW_COND_SOCKET] = "socket",
};
const char *const gw_cond_op_names[] = {
    [GW_OP_EQ] = "==",  [GW_OP_NE] = "!=",     [GW_OP_RE] = "=~",
    [GW_OP_NRE] = "!~", [GW_OP_PREFIX] = "=^", [GW_OP_SUFFIX] = "=$",
};

/* A match writes into its match data, and the compiled regexes belong to a config generation
 * that every request (and, with worker threads, every thread) shares: so the match data is the
 * thread's, one block for every regex. Ten pairs: conditions only ask whether a regex matches,
 * rewrites use $0..$9. */
static _Thread_local pcre2_match_data *match_data;

pcre2_match_data *gw_re_match_data(void)
{
    if (match_data == NULL) match_data = pcre2_match_data_create(GW_RE_PAIRS, NULL);
    if (match_data == NULL) gw_oom();
    return match_data;
}

/* "a.b.c.d", "a.b.c.d/n", "v6", "v6/n" -> family, address bytes (host bits cleared), bits. */
static int parse_cidr(gw_cond *c)
{
    char addr[64];
    const char *slash = strchr(c->pattern, '/');
    size_t alen = slash ? (size_t)(slash - c->pattern) : c->pattern_len;
    if (alen == 0 || alen >= sizeof(addr)) return GW_ERR;
    memcpy(addr, c->pattern, alen);
    addr[alen] = '\0';
    int family, maxbits;
    if (inet_pton(AF_INET, addr, c->cidr_addr) == 1) {
        family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, addr, c->cidr_addr) == 1) {
        family = AF_INET6;
        maxbits = 128;
    } else {
        return GW_ERR;
    }
    int bits = maxbits;
    if (slash) {
        const char *p = slash + 1;
        if (*p == '\0') return GW_ERR;
        bits = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') return GW_ERR;
            bits = bits * 10 + (*p - '0');
            if (bits > maxbits) return GW_ERR;
        }
    }
    /* clear host bits so that "10.1.2.3/8" means 10.0.0.0/8 */
    for (int i = 0; i < maxbits / 8; i++) {
        int keep = bits - i * 8;
        if (keep >= 8) continue;
        c->cidr_addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
    c->cidr_family = family;
    c->cidr_bits = bits;
    return GW_OK;
}

int gw_cond_compile(gw_cond *c, char **err)
{
    *err = NULL;
    if (c->op == GW_OP_RE || c->op == GW_OP_NRE) {
        int ec;
        PCRE2_SIZE eoff;
        uint32_t opts = c->field == GW_COND_HOST ? PCRE2_CASELESS : 0;
        c->re = pcre2_compile((PCRE2_SPTR)c->pattern, c->pattern_len, opts, &ec, &eoff, NULL);
        if (c->re == NULL) {
            PCRE2_UCHAR buf[256];
            if (pcre2_get_error_message(ec, buf, sizeof(buf)) < 0) strcpy((char *)buf, "error");
            return gw_errf(err, "bad regular expression \"%s\": %s at offset %zu", c->pattern,
                           (const char *)buf, (size_t)eoff);
        }
        /* JIT is an optimisation: where it is unavailable the interpreter runs instead */
        (void)pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE);
        /* made here so that matching a request never allocates */
        gw_re_match_data();
        return GW_OK;
    }
    if (c->field == GW_COND_REMOTE_IP && (c->op == GW_OP_EQ || c->op == GW_OP_NE)) {
        if (parse_cidr(c) != GW_OK) {
            return gw_errf(err,
                           "$HTTP[\"remote-ip\"]: \"%s\" is not an IP address or a network "
                           "like \"10.0.0.0/8\" or \"::1/128\"",
                           c->pattern);
        }
    }
    return GW_OK;
}

void gw_cond_release(gw_cond *c)
{
    if (c->re) pcre2_code_free(c->re);
    c->re = NULL;
}

void gw_cond_cleanup(void)
{
    if (match_data) pcre2_match_data_free(match_data);
    match_data = NULL;
}

static gw_str field_value(const gw_cond *c, const gw_cond_ctx *ctx)
{
    switch (c->field) {
    case GW_COND_URL:
        return ctx->url;
    case GW_COND_QUERY:
        return ctx->query;
    case GW_COND_HOST:
        return ctx->host;
    case GW_COND_METHOD:
        return ctx->method;
    case GW_COND_SCHEME:
        return ctx->scheme;
    case GW_COND_REMOTE_IP:
        return ctx->remote_ip;
    case GW_COND_SOCKET:
        return ctx->socket;
    case GW_COND_HEADER:
        for (size_t i = 0; i < ctx->nhdr; i++)
            if (gw_str_caseeq(ctx->hdr[i].name, c->header)) return ctx->hdr[i].value;
        return GW_STR("");
    }
    return GW_STR("");
}

/* Does the client address lie in the condition's network? An IPv4 client seen through an
 * IPv6 socket (::ffff:a.b.c.d) is compared as IPv4, and the other way round. */
static int cidr_match(const gw_cond *c, const struct sockaddr *sa)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned char a[16];
    int family;
    if (sa == NULL) return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memcpy(a, &s4->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(a, &s6->sin6_addr, 16);
        family = AF_INET6;
        if (c->cidr_family == AF_INET && memcmp(a, v4mapped, 12) == 0) {
            memmove(a, a + 12, 4);
            family = AF_INET;
        }
    } else {
        return 0;
    }
    if (family == AF_INET && c->cidr_family == AF_INET6) {
        memmove(a + 12, a, 4);
        memcpy(a, v4mapped, 12);
        family = AF_INET6;
    }
    if (family != c->cidr_family) return 0;
    int bits = c->cidr_bits, whole = bits / 8, rest = bits % 8;
    if (memcmp(a, c->cidr_addr, (size_t)whole) != 0) return 0;
    if (rest == 0) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (c->cidr_addr[whole] & mask);
}

static int re_match(const gw_cond *c, gw_str s)
{
    if (c->re == NULL) return 0;
    /* PCRE2 before 10.43 refuses a NULL subject even when empty */
    const char *p = s.p ? s.p : "";
    return pcre2_match(c->re, (PCRE2_SPTR)p, s.n, 0, 0, gw_re_match_data(), NULL) >= 0;
}

int gw_cond_match(const gw_cond *c, const gw_cond_ctx *ctx)
{
    if (c->cidr_family && (c->op == GW_OP_EQ || c->op == GW_OP_NE)) {
        int in = cidr_match(c, ctx->remote);
        return c->op == GW_OP_EQ ? in : !in;
    }
    gw_str s = field_value(c, ctx);
    size_t n = c->pattern_len;
    int fold = c->field == GW_COND_HOST;
    int (*cmp)(const char *, const char *, size_t) = fold ? strncasecmp : strncmp;
    switch (c->op) {
    case GW_OP_EQ:
    case GW_OP_NE: {
        int eq = s.n == n && (n == 0 || cmp(s.p, c->pattern, n) == 0);
        return c->op == GW_OP_EQ ? eq : !eq;
    }
    case GW_OP_PREFIX:
        return s.n >= n && (n == 0 || cmp(s.p, c->pattern, n) == 0);
    case GW_OP_SUFFIX:
        return s.n >= n && (n == 0 || cmp(s.p + s.n - n, c->pattern, n) == 0);
    case GW_OP_RE:
        return re_match(c, s);
    case GW_OP_NRE:
        return !re_match(c, s);
    }
    return 0;
}

static void match_children(const gw_block *b, const gw_cond_ctx *ctx,
                           void (*fn)(void *arg, const gw_block *b), void *arg)
{
    for (size_t i = 0; i < b->nchildren; i++) {
        for (const gw_block *x = b->children[i]; x; x = x->else_next) {
            if (x->cond == NULL || gw_cond_match(x->cond, ctx)) {
                fn(arg, x);
                match_children(x, ctx, fn, arg);
                break;
            }
        }
    }
}

void gw_conf_match(const gw_conf *c, const gw_cond_ctx *ctx,
                   void (*fn)(void *arg, const gw_block *b), void *arg)
{
    fn(arg, c->root);
    match_children(c->root, ctx, fn, arg);
}
