/* HTTP/1.1 message parsing (RFC 9112): request and response heads, request analysis, chunked
 * bodies. Codec layer: loops over caller-given bytes; no allocation, no sockets, no event loop. */
#include "proto/http/http_parse.h"

#include <arpa/inet.h>
#include <string.h>

/* Byte classes. T: tchar (RFC 9110 §5.6.2). V: field-value / reason byte (VCHAR, obs-text, SP,
 * HTAB). U: request-target byte (anything visible; obs-text is tolerated, as nginx does). */
enum { C_T = 1, C_V = 2, C_U = 4 };

#define TVU (C_T | C_V | C_U)
#define VU (C_V | C_U)
/* clang-format off */
static const unsigned char cls[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, C_V, 0, 0, 0, 0, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20  SP    !    "   #    $    %    &    '    (   )   *    +    ,   -    .    /  */
         C_V, TVU, VU, TVU, TVU, TVU, TVU, TVU, VU, VU, TVU, TVU, VU, TVU, TVU, VU,
    /* 0x30  0-9 : ; < = > ? */
         TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, VU, VU, VU, VU, VU, VU,
    /* 0x40  @ A-O */
         VU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU,
    /* 0x50  P-Z [ \ ] ^ _ */
         TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, VU, VU, VU, TVU, TVU,
    /* 0x60  ` a-o */
         TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU,
    /* 0x70  p-z { | } ~ DEL */
         TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, TVU, VU, TVU, VU, TVU, 0,
    /* 0x80-0xff: obs-text */
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
    VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU, VU,
};
/* clang-format on */

/* Internal result of a sub-parser: a byte count, or one of these. */
#define P_AGAIN (-2)
#define P_BAD (-3)

static inline int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* "HTTP/d.d" at p (avail bytes). Returns 8, P_AGAIN, or P_BAD; *major and *minor are set. */
static int parse_version(const char *p, size_t avail, int *major, int *minor)
{
    static const char pre[] = "HTTP/";
    size_t i;
    for (i = 0; i < 5; i++) {
        if (i >= avail) return P_AGAIN;
        if (p[i] != pre[i]) return P_BAD;
    }
    if (avail < 6) return P_AGAIN;
    if (p[5] < '0' || p[5] > '9') return P_BAD;
    if (avail < 7) return P_AGAIN;
    if (p[6] != '.') return P_BAD;
    if (avail < 8) return P_AGAIN;
    if (p[7] < '0' || p[7] > '9') return P_BAD;
    *major = p[5] - '0';
    *minor = p[7] - '0';
    return 8;
}

/* CRLF at p. Returns 2, P_AGAIN or P_BAD. */
static inline int expect_crlf(const char *p, size_t avail)
{
    if (avail < 1) return P_AGAIN;
    if (p[0] != '\r') return P_BAD;
    if (avail < 2) return P_AGAIN;
    return p[1] == '\n' ? 2 : P_BAD;
}

/* SWAR tests on 8 bytes at once: does any byte fall below 0x20 (CTL, including HTAB) or
 * below 0x21 (CTL or SP), or equal DEL? Exact for "any"; bytes >= 0x80 never match. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t swar_less(uint64_t x, unsigned n)
{
    return (x - ONES * n) & ~x & HIGHS;
}
static inline uint64_t swar_del(uint64_t x)
{
    uint64_t y = x ^ (ONES * 0x7f);
    return (y - ONES) & ~y & HIGHS;
}

/* Skip field-value bytes from pos; returns the position of the first other byte, or len.
 * Values are most of a head, so whole words are checked while they hold only plain bytes. */
static size_t scan_value(const unsigned char *b, size_t pos, size_t len)
{
    for (;;) {
        while (pos + 8 <= len) {
            uint64_t x;
            memcpy(&x, b + pos, 8);
            if (swar_less(x, 0x20) | swar_del(x)) break;
            pos += 8;
        }
        while (pos < len && (cls[b[pos]] & C_V)) {
            pos++;
            if (((pos & 7) == 0) && pos + 8 <= len) break; /* back to whole words */
        }
        if (pos >= len || !(cls[b[pos]] & C_V)) return pos;
    }
}

/* The field section from p up to and including the empty line. Returns its length, P_AGAIN,
 * P_BAD (*status 400) or P_BAD with *status 431 when more than maxhdr fields come. */
static int parse_fields(const char *buf, size_t len, size_t pos, gw_header *hdr, size_t maxhdr,
                        size_t *nhdr, int *status)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t n = 0;
    for (;;) {
        if (pos >= len) return P_AGAIN;
        if (b[pos] == '\r') {
            if (pos + 1 >= len) return P_AGAIN;
            if (b[pos + 1] != '\n') break;
            *nhdr = n;
            return (int)(pos + 2);
        }
        if (n == maxhdr) {
            *status = 431;
            return P_BAD;
        }
        /* field-name: a token right up to the colon; whitespace at the start of a line is
         * obs-fold (or a folded first field), whitespace before the colon is a smuggling
         * vector: both are rejected. */
        size_t name = pos;
        while (pos < len && (cls[b[pos]] & C_T)) pos++;
        if (pos >= len) return P_AGAIN;
        if (b[pos] != ':' || pos == name) break;
        hdr[n].name.p = buf + name;
        hdr[n].name.n = pos - name;
        pos++;
        while (pos < len && is_ows(b[pos])) pos++;
        size_t val = pos;
        pos = scan_value(b, pos, len);
        if (pos >= len) return P_AGAIN;
        size_t end = pos;
        while (end > val && is_ows(b[end - 1])) end--;
        if (b[pos] != '\r') break; /* control byte, bare LF, DEL */
        if (pos + 1 >= len) return P_AGAIN;
        if (b[pos + 1] != '\n') break;
        hdr[n].value.p = buf + val;
        hdr[n].value.n = end - val;
        n++;
        pos += 2;
        if (pos > (size_t)INT32_MAX) break;
    }
    *status = 400;
    return P_BAD;
}

int http_parse_request(const char *buf, size_t len, http_req_head *out, gw_header *hdr,
                       size_t maxhdr, size_t max_target, int *status)
{
    const unsigned char *b = (const unsigned char *)buf;
    int dummy;
    if (status == NULL) status = &dummy;
    *status = 400;
    size_t pos = 0;

    /* RFC 9112 §2.2: empty lines before the request-line are ignored. */
    while (pos < len && b[pos] == '\r') {
        if (pos + 1 >= len) return GW_AGAIN;
        if (b[pos + 1] != '\n') return GW_ERR;
        pos += 2;
    }

    size_t m = pos;
    while (pos < len && (cls[b[pos]] & C_T)) pos++;
    if (pos >= len) return GW_AGAIN;
    if (b[pos] != ' ' || pos == m) return GW_ERR;
    out->method.p = buf + m;
    out->method.n = pos - m;
    pos++;

    size_t t = pos;
    size_t tmax = max_target ? max_target : (size_t)-1;
    for (;;) {
        while (pos + 8 <= len) {
            uint64_t x;
            memcpy(&x, b + pos, 8);
            if (swar_less(x, 0x21) | swar_del(x)) break;
            pos += 8;
        }
        while (pos < len && (cls[b[pos]] & C_U)) {
            pos++;
            if (((pos & 7) == 0) && pos + 8 <= len) break;
        }
        if (pos - t > tmax) {
            *status = 414;
            return GW_ERR;
        }
        if (pos >= len || !(cls[b[pos]] & C_U)) break;
    }
    if (pos >= len) return GW_AGAIN;
    if (b[pos] != ' ' || pos == t) return GW_ERR;
    out->target.p = buf + t;
    out->target.n = pos - t;
    pos++;

    int major = 0, minor = 0;
    int r = parse_version(buf + pos, len - pos, &major, &minor);
    if (r == P_AGAIN) return GW_AGAIN;
    if (r == P_BAD) return GW_ERR;
    pos += (size_t)r;
    r = expect_crlf(buf + pos, len - pos);
    if (r == P_AGAIN) return GW_AGAIN;
    if (r == P_BAD) return GW_ERR;
    if (major != 1 || minor > 1) {
        *status = 505;
        return GW_ERR;
    }
    out->minor = minor;
    pos += 2;

    size_t nhdr = 0;
    r = parse_fields(buf, len, pos, hdr, maxhdr, &nhdr, status);
    if (r == P_AGAIN) return GW_AGAIN;
    if (r == P_BAD) return GW_ERR;
    out->hdr = hdr;
    out->nhdr = nhdr;
    *status = 0;
    return r;
}

int http_parse_response(const char *buf, size_t len, http_resp_head *out, gw_header *hdr,
                        size_t maxhdr)
{
    const unsigned char *b = (const unsigned char *)buf;
    int major = 0, minor = 0, status = 0;
    int r = parse_version(buf, len, &major, &minor);
    if (r == P_AGAIN) return GW_AGAIN;
    if (r == P_BAD || major != 1 || minor > 1) return GW_ERR;
    size_t pos = 8;
    if (pos >= len) return GW_AGAIN;
    if (b[pos] != ' ') return GW_ERR;
    pos++;
    for (int i = 0; i < 3; i++, pos++) {
        if (pos >= len) return GW_AGAIN;
        if (b[pos] < '0' || b[pos] > '9') return GW_ERR;
        status = status * 10 + (b[pos] - '0');
    }
    if (status < 100 || status > 599) return GW_ERR;
    if (pos >= len) return GW_AGAIN;
    /* The SP before an empty reason-phrase is often left out; accept both. */
    size_t rs = pos, re = pos;
    if (b[pos] == ' ') {
        rs = ++pos;
        while (pos < len && (cls[b[pos]] & C_V)) pos++;
        re = pos;
    }
    r = expect_crlf(buf + pos, len - pos);
    if (r == P_AGAIN) return GW_AGAIN;
    if (r == P_BAD) return GW_ERR;
    pos += 2;

    size_t nhdr = 0;
    int st;
    r = parse_fields(buf, len, pos, hdr, maxhdr, &nhdr, &st);
    if (r == P_AGAIN) return GW_AGAIN;
    if (r == P_BAD) return GW_ERR;
    out->minor = minor;
    out->status = status;
    out->reason.p = buf + rs;
    out->reason.n = re - rs;
    out->hdr = hdr;
    out->nhdr = nhdr;
    return r;
}

/* ---- request analysis ---- */

int http_parse_length(gw_str v, int64_t *out)
{
    if (v.n == 0) return GW_ERR;
    uint64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        unsigned d = (unsigned char)v.p[i] - '0';
        if (d > 9) return GW_ERR;
        if (n > ((uint64_t)INT64_MAX - d) / 10) return GW_ERR;
        n = n * 10 + d;
    }
    *out = (int64_t)n;
    return GW_OK;
}

/* Walk the elements of a comma-separated list (RFC 9110 §5.6.1): *pos advances; returns 1 with
 * the trimmed element in *elem (possibly empty), 0 at the end. */
static int list_next(gw_str v, size_t *pos, gw_str *elem)
{
    size_t i = *pos;
    if (i > v.n) return 0;
    while (i < v.n && is_ows((unsigned char)v.p[i])) i++;
    size_t s = i;
    while (i < v.n && v.p[i] != ',') i++;
    size_t e = i;
    while (e > s && is_ows((unsigned char)v.p[e - 1])) e--;
    elem->p = v.p + s;
    elem->n = e - s;
    *pos = i + 1;
    return 1;
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

static int is_token(gw_str s)
{
    if (s.n == 0) return 0;
    for (size_t i = 0; i < s.n; i++)
        if (!(cls[(unsigned char)s.p[i]] & C_T)) return 0;
    return 1;
}

int http_list_has(gw_str value, const char *token)
{
    gw_str e;
    size_t pos = 0;
    size_t n = strlen(token);
    while (list_next(value, &pos, &e))
        if (e.n == n && ieq(e.p, token, n)) return 1;
    return 0;
}

int http_te_check(gw_str value, int *nchunked)
{
    gw_str e;
    size_t pos = 0;
    int bad = 0, other = 0;
    while (list_next(value, &pos, &e)) {
        if (e.n == 0) continue; /* empty elements are allowed and ignored */
        if (!is_token(e))
            bad = 1;
        else if (HTTP_IS(e, "chunked"))
            (*nchunked)++;
        else
            other = 1;
    }
    if (bad) return 400;
    return other ? 501 : 0;
}

/* reg-name bytes besides pct-encoded (RFC 3986 §3.2.2): unreserved and sub-delims. */
/* reg-name bytes besides pct-encoded ones: unreserved and sub-delims (a table: every byte of
 * every Host field goes through it) */
static const unsigned char reg_name_tab[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['-'] = 1, ['.'] = 1,  ['_'] = 1,
    ['~'] = 1,         ['!'] = 1,         ['$'] = 1,         ['&'] = 1, ['\''] = 1, ['('] = 1,
    [')'] = 1,         ['*'] = 1,         ['+'] = 1,         [','] = 1, [';'] = 1,  ['='] = 1,
};

static inline int reg_name_char(unsigned char c)
{
    return reg_name_tab[c];
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The inside of an IP-literal: an IPv6 address (inet_pton is the reference parser; no zone
 * identifier, which HTTP URIs do not carry) or an IPvFuture. */
static int ip_literal_ok(const char *p, size_t n)
{
    if (n >= 1 && (p[0] == 'v' || p[0] == 'V')) { /* "v" 1*HEXDIG "." 1*(unreserved / ...) */
        size_t i = 1;
        while (i < n && is_hex((unsigned char)p[i])) i++;
        if (i == 1 || i >= n || p[i] != '.' || i + 1 == n) return 0;
        for (i++; i < n; i++)
            if (p[i] != ':' && !reg_name_char((unsigned char)p[i])) return 0;
        return 1;
    }
    char tmp[64];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof(tmp)) return 0;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

int http_authority_check(gw_str a)
{
    const char *p = a.p;
    size_t n = a.n, i = 0;
    if (n == 0) return GW_ERR;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL || !ip_literal_ok(p + 1, (size_t)(close - p) - 1)) return GW_ERR;
        i = (size_t)(close - p) + 1;
    } else {
        /* reg-name, which covers IPv4address; '@' (userinfo), '/', '"', '\\' and the rest of
         * the bytes that could carry a path, a second authority or a quote are not in it */
        while (i < n && p[i] != ':') {
            unsigned char c = (unsigned char)p[i];
            if (c == '%') {
                if (i + 2 >= n || !is_hex((unsigned char)p[i + 1]) ||
                    !is_hex((unsigned char)p[i + 2]))
                    return GW_ERR;
                i += 3;
                continue;
            }
            if (!reg_name_char(c)) return GW_ERR;
            i++;
        }
        if (i == 0) return GW_ERR; /* no host: RFC 9110 §4.2.1 forbids an empty one */
    }
    if (i == n) return GW_OK;
    if (p[i] != ':') return GW_ERR;
    /* port = *DIGIT (an empty port is allowed by the grammar), at most 65535 */
    unsigned long port = 0;
    for (i++; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return GW_ERR;
        port = port * 10 + d;
        if (port > 65535) return GW_ERR;
    }
    return GW_OK;
}

int http_req_analyze(const http_req_head *h, http_req_info *info)
{
    int ncl = 0, nhost = 0, nte = 0, nchunked = 0, te_status = 0;
    int conn_close = 0, conn_ka = 0, conn_upgrade = 0, has_upgrade = 0, expect = 0;
    int64_t cl = -1;

    memset(info, 0, sizeof(*info));
    for (size_t i = 0; i < h->nhdr; i++) {
        gw_str name = h->hdr[i].name, v = h->hdr[i].value;
        switch (name.n) {
        case 4:
            if (HTTP_IS(name, "host")) {
                nhost++;
                info->host = v;
            }
            break;
        case 6:
            if (HTTP_IS(name, "expect")) {
                if (!HTTP_IS(v, "100-continue")) return 417;
                expect = 1;
            }
            break;
        case 7:
            if (HTTP_IS(name, "upgrade")) has_upgrade = 1;
            break;
        case 10:
            if (HTTP_IS(name, "connection")) {
                gw_str e;
                size_t pos = 0;
                while (list_next(v, &pos, &e)) {
                    conn_close |= HTTP_IS(e, "close");
                    conn_ka |= HTTP_IS(e, "keep-alive");
                    conn_upgrade |= HTTP_IS(e, "upgrade");
                }
            }
            break;
        case 14:
            if (HTTP_IS(name, "content-length")) {
                if (++ncl > 1 || http_parse_length(v, &cl) != GW_OK) return 400;
            }
            break;
        case 17:
            if (HTTP_IS(name, "transfer-encoding")) {
                nte++;
                int s = http_te_check(v, &nchunked);
                if (s == 400 || te_status == 0) te_status = s;
            }
            break;
        }
    }
    if (nhost > 1 || (nhost == 0 && h->minor == 1)) return 400;
    /* RFC 9112 §3.2 allows an empty Host only for a target without an authority, which an
     * HTTP/1.1 request to a gateway never has; on HTTP/1.0 an empty Host is no Host. */
    if (nhost == 1 && (info->host.n ? http_authority_check(info->host) != GW_OK : h->minor == 1))
        return 400;
    if (nte) {
        /* RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; §6.3:
         * with Content-Length too it is a smuggling attempt. Both are 400. */
        if (ncl || h->minor == 0) return 400;
        if (te_status) return te_status;
        if (nchunked == 0) return 400; /* only empty elements */
        if (nchunked > 1) return 400;  /* chunked applied twice: broken framing (RFC 9112 §6.1) */
        info->chunked = 1;
    }
    info->content_length = cl;
    if (h->minor == 1) {
        info->keepalive = !conn_close;
        info->upgrade = conn_upgrade && has_upgrade;
        info->expect_continue = expect;
    } else {
        /* RFC 9110 §10.1.1 and §7.8: 100-continue and Upgrade in HTTP/1.0 are ignored. */
        info->keepalive = conn_ka && !conn_close;
    }
    return 0;
}

int http_is_hop_by_hop(gw_str name, const gw_header *hdr, size_t nhdr)
{
    return gw_is_hop_by_hop(name) || gw_named_by_connection(hdr, nhdr, name);
}

/* ---- chunked transfer coding ---- */

enum {
    CH_SIZE0 = 0, /* first hex digit of a chunk-size */
    CH_SIZE,      /* more hex digits */
    CH_BWS,       /* whitespace after the size: only more of it or ';' may follow */
    CH_EXT,       /* chunk-ext, up to CR */
    CH_SIZE_LF,   /* LF after the size line */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER0, /* start of a trailer line, or the final CRLF */
    CH_TRAILER,  /* inside a trailer line */
    CH_TRAILER_LF,
    CH_END_LF, /* LF of the final empty line */
    CH_DONE,
};

#define CH_LINE_MAX 4096

static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int http_chunked_decode(http_chunked *c, char *buf, size_t len, size_t *consumed, size_t *datalen)
{
    size_t r = 0, w = 0;
    int st = c->state;
    int rc = GW_AGAIN;

    if (st == CH_DONE) {
        *consumed = *datalen = 0;
        return GW_DONE;
    }

    while (r < len) {
        unsigned char ch = (unsigned char)buf[r];
        if (st == CH_DATA) {
            size_t k = len - r;
            if ((uint64_t)k > c->remain) k = (size_t)c->remain;
            if (w != r) memmove(buf + w, buf + r, k);
            w += k;
            r += k;
            c->remain -= k;
            if (c->remain == 0) st = CH_DATA_CR;
            continue;
        }
        r++;
        switch (st) {
        case CH_SIZE0:
        case CH_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (c->remain > ((uint64_t)INT64_MAX >> 4)) goto bad;
                c->remain = (c->remain << 4) | (unsigned)v;
                st = CH_SIZE;
                break;
            }
            if (st == CH_SIZE0) goto bad;
            /* The size is complete: one that takes the body past the caller's limit is refused
             * now, not after its bytes came (no overflow: declared <= limit, remain <=
             * INT64_MAX). A size too long for 63 bits was already a bad size above. */
            if (c->limited && (ch == '\r' || ch == ';' || is_ows(ch)) &&
                c->declared + c->remain > c->limit) {
                c->too_big = 1;
                goto bad;
            }
            if (ch == '\r')
                st = CH_SIZE_LF;
            else if (ch == ';')
                st = CH_EXT;
            else if (is_ows(ch))
                st = CH_BWS;
            else
                goto bad;
            break;
        }
        case CH_BWS:
            if (ch == ';')
                st = CH_EXT;
            else if (!is_ows(ch))
                goto bad;
            break;
        case CH_EXT:
            if (ch == '\r')
                st = CH_SIZE_LF;
            else if (!(cls[ch] & C_V))
                goto bad;
            break;
        case CH_SIZE_LF:
            if (ch != '\n') goto bad;
            c->linelen = 0;
            c->declared += c->remain;
            st = c->remain ? CH_DATA : CH_TRAILER0;
            continue;
        case CH_DATA_CR:
            if (ch != '\r') goto bad;
            st = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n') goto bad;
            st = CH_SIZE0;
            c->linelen = 0;
            continue;
        case CH_TRAILER0:
            if (ch == '\r') {
                st = CH_END_LF;
                break;
            }
            if (!(cls[ch] & C_V)) goto bad;
            st = CH_TRAILER;
            break;
        case CH_TRAILER:
            if (ch == '\r')
                st = CH_TRAILER_LF;
            else if (!(cls[ch] & C_V))
                goto bad;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n') goto bad;
            st = CH_TRAILER0;
            c->linelen = 0;
            continue;
        case CH_END_LF:
            if (ch != '\n') goto bad;
            st = CH_DONE;
            break;
        default:
            goto bad;
        }
        if (st == CH_DONE) {
            rc = GW_DONE;
            break;
        }
        if (++c->linelen > CH_LINE_MAX) goto bad;
    }
    c->state = st;
    *consumed = r;
    *datalen = w;
    return rc;
bad:
    c->state = st;
    *consumed = r;
    *datalen = w;
    return GW_ERR;
}
