/* Lookups and edits on the neutral request and response objects.
 * Base layer: used by protocol adapters too, so libc only. */
#include "gateway/base/req.h"

#include <string.h>

const gw_header *gw_req_header(const gw_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->nhdr; i++)
        if (gw_str_caseeq(rq->hdr[i].name, name)) return &rq->hdr[i];
    return NULL;
}

const gw_header *gw_req_extra(const gw_req *rq, gw_str name)
{
    for (size_t i = 0; i < rq->nextra; i++) {
        const gw_header *e = &rq->extra[i];
        if (e->name.n && e->name.p[0] != '_' && gw_str_caseeq2(e->name, name)) return e;
    }
    return NULL;
}

const gw_header *gw_resp_header(const gw_resp *rsp, const char *name)
{
    for (size_t i = 0; i < rsp->nhdr; i++)
        if (gw_str_caseeq(rsp->hdr[i].name, name)) return &rsp->hdr[i];
    return NULL;
}

/* The array grows in the arena by doubling; capacity is the next power of two >= 8. */
static size_t cap_for(size_t n)
{
    size_t c = 8;
    while (c < n) c <<= 1;
    return c;
}

void gw_resp_add_header(gw_resp *rsp, gw_str name, gw_str value)
{
    size_t n = rsp->nhdr;
    if (rsp->hdr == NULL || (n >= 8 && (n & (n - 1)) == 0)) {
        gw_header *h = gw_arena_alloc(rsp->arena, cap_for(n + 1) * sizeof(*h));
        if (n) memcpy(h, rsp->hdr, n * sizeof(*h));
        rsp->hdr = h;
    }
    rsp->hdr[n].name = name;
    rsp->hdr[n].value = value;
    rsp->nhdr = n + 1;
}

void gw_resp_del_header(gw_resp *rsp, const char *name)
{
    size_t j = 0;
    for (size_t i = 0; i < rsp->nhdr; i++)
        if (!gw_str_caseeq(rsp->hdr[i].name, name)) rsp->hdr[j++] = rsp->hdr[i];
    rsp->nhdr = j;
}

/* ---- field names the gateway owns ---- */

int gw_is_hop_by_hop(gw_str n)
{
    switch (n.n) { /* by length first: called for every field of every message */
    case 2:
        return gw_str_caseeq(n, "TE");
    case 7:
        return gw_str_caseeq(n, "Trailer") || gw_str_caseeq(n, "Upgrade");
    case 10:
        return gw_str_caseeq(n, "Connection") || gw_str_caseeq(n, "Keep-Alive");
    case 16:
        return gw_str_caseeq(n, "Proxy-Connection");
    case 17:
        return gw_str_caseeq(n, "Transfer-Encoding");
    default:
        return 0;
    }
}

int gw_named_by_connection(const gw_header *hdr, size_t nhdr, gw_str name)
{
    for (size_t k = 0; k < nhdr; k++) {
        if (hdr[k].name.n != 10 || !gw_str_caseeq(hdr[k].name, "Connection")) continue;
        gw_str v = hdr[k].value;
        size_t i = 0;
        while (i < v.n) {
            while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ',')) i++;
            size_t s = i;
            while (i < v.n && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t') i++;
            if (i > s && gw_str_caseeq2((gw_str){v.p + s, i - s}, name)) return 1;
        }
    }
    return 0;
}

static inline unsigned char cgi_char(unsigned char c)
{
    if (c >= 'a' && c <= 'z') return (unsigned char)(c - 'a' + 'A');
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return c;
    return '_';
}

int gw_cgi_name_eq(gw_str a, gw_str b)
{
    if (a.n != b.n) return 0;
    for (size_t i = 0; i < a.n; i++)
        if (cgi_char((unsigned char)a.p[i]) != cgi_char((unsigned char)b.p[i])) return 0;
    return 1;
}

int gw_is_lookalike(gw_str name)
{
    /* Only names with a '-' can have look-alikes: a letters-only name maps onto itself. */
    static const gw_str owned[] = {
        GW_STR("Keep-Alive"),       GW_STR("Proxy-Connection"),  GW_STR("Transfer-Encoding"),
        GW_STR("Content-Length"),   GW_STR("Content-Type"),      GW_STR("X-Forwarded-For"),
        GW_STR("X-Forwarded-Host"), GW_STR("X-Forwarded-Proto"),
    };
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (name.n == owned[i].n && gw_cgi_name_eq(name, owned[i]))
            return !gw_str_caseeq2(name, owned[i]);
    return 0;
}

/* ---- request-target pieces ---- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decode %XX and resolve dot segments of an origin-form path into the arena. GW_ERR on %00
 * or a bad escape. */
int gw_path_normalize(gw_arena *a, gw_str raw, gw_str *out)
{
    char *buf = gw_arena_alloc(a, raw.n + 2);
    size_t n = 0;
    for (size_t i = 0; i < raw.n; i++) {
        char ch = raw.p[i];
        if (ch == '%') {
            if (i + 2 >= raw.n) return GW_ERR;
            int h = hexval((unsigned char)raw.p[i + 1]), l = hexval((unsigned char)raw.p[i + 2]);
            if (h < 0 || l < 0) return GW_ERR;
            ch = (char)(h * 16 + l);
            if (ch == '\0') return GW_ERR;
            i += 2;
        }
        buf[n++] = ch;
    }
    /* segment by segment, writing over the same buffer: the output never runs ahead */
    size_t w = 0, i = 0;
    int trailing = 0;
    while (i < n) {
        while (i < n && buf[i] == '/') i++;
        size_t j = i;
        while (j < n && buf[j] != '/') j++;
        size_t seg = j - i;
        if (seg == 0 || (seg == 1 && buf[i] == '.')) {
            trailing = 1;
        } else if (seg == 2 && buf[i] == '.' && buf[i + 1] == '.') {
            while (w > 0 && buf[w - 1] != '/') w--;
            if (w > 0) w--;
            trailing = 1;
        } else {
            buf[w++] = '/';
            memmove(buf + w, buf + i, seg);
            w += seg;
            trailing = j < n;
        }
        i = j;
    }
    if (trailing || w == 0) buf[w++] = '/';
    buf[w] = '\0';
    *out = (gw_str){buf, w};
    return GW_OK;
}

/* Host without the port, lower case, for $HTTP["host"] and SERVER_NAME. */
gw_str gw_host_lower(gw_arena *a, gw_str host)
{
    size_t n = host.n;
    if (n > 0 && host.p[0] == '[') { /* [v6]:port */
        const char *close = memchr(host.p, ']', n);
        if (close) n = (size_t)(close - host.p) + 1;
    } else if (n > 0) {
        const char *colon = memchr(host.p, ':', n);
        if (colon) n = (size_t)(colon - host.p);
    }
    char *s = gw_arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++) {
        char ch = host.p[i];
        s[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    s[n] = '\0';
    return (gw_str){s, n};
}
