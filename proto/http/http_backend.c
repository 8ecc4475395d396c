/* The "http" backend adapter: encodes a gw_req as an HTTP/1.1 request and parses the backend's
 * response into a gw_resp. Adapter layer: no sockets, no event loop, no pools or retries. */
#include "proto/http/http_backend.h"

#include <string.h>

#include "gateway/base/log.h"
#include "proto/http/http_parse.h"
#include "proto/http/http_write.h"

enum { BE_HEAD = 0, BE_BODY_CL, BE_BODY_CHUNKED, BE_BODY_CLOSE, BE_DONE };

typedef struct http_be {
    int phase;
    int64_t remain;   /* response Content-Length bytes still to come */
    int64_t req_left; /* request body bytes still to encode (known length) */
    http_chunked ch;
    unsigned is_head : 1;      /* the request was HEAD: no response body */
    unsigned want_upgrade : 1; /* the request asked for an upgrade: a 101 is final */
    unsigned keepalive : 1;    /* we did not send Connection: close */
    unsigned req_chunked : 1;  /* the request body goes out chunked */
    unsigned req_done : 1;     /* the whole request body was encoded */
    unsigned be_close : 1;     /* the backend will close (Connection: close, or 1.0) */
    unsigned close_delim : 1;  /* the body ended at eof */
    unsigned extra : 1;        /* bytes followed the response */
    unsigned upgraded : 1;
} http_be;

/* ---- request ---- */

/* Fields the adapter writes itself, whatever the client sent; Proxy, which is never passed on
 * (httpoxy: an application behind may still read it as HTTP_PROXY); and look-alikes of owned
 * fields ("Content_Length"), which an application mapping names to HTTP_* could not tell from
 * the real ones. */
static int is_own_field(gw_str n)
{
    if (gw_is_lookalike(n)) return 1;
    switch (n.n) {
    case 5:
        return HTTP_IS(n, "proxy");
    case 6:
        return HTTP_IS(n, "expect");
    case 14:
        return HTTP_IS(n, "content-length");
    case 15:
        return HTTP_IS(n, "x-forwarded-for");
    case 16:
        return HTTP_IS(n, "x-forwarded-host");
    case 17:
        return HTTP_IS(n, "transfer-encoding") || HTTP_IS(n, "x-forwarded-proto");
    }
    return 0;
}

/* A rewrite-request result for this field name (pseudo fields "_uri"... are not fields). */
static int hdr_has(const gw_req *rq, gw_str name)
{
    for (size_t i = 0; i < rq->nhdr; i++)
        if (gw_str_caseeq2(rq->hdr[i].name, name)) return 1;
    return 0;
}

static void write_server_host(gw_bufq *out, const gw_endpoint *srv)
{
    if (srv == NULL || srv->is_unix || srv->addr[0] == '\0') {
        http_write_header(out, GW_STR("Host"), GW_STR("localhost"));
        return;
    }
    int v6 = strchr(srv->addr, ':') != NULL;
    gw_bufq_append(out, "Host: ", 6);
    if (v6) gw_bufq_append(out, "[", 1);
    gw_bufq_append(out, srv->addr, strlen(srv->addr));
    if (v6) gw_bufq_append(out, "]", 1);
    if (srv->port[0]) {
        gw_bufq_append(out, ":", 1);
        gw_bufq_append(out, srv->port, strlen(srv->port));
    }
    http_write_crlf(out);
}

/* X-Forwarded-For: every client value in order, then the client's address. */
static void write_xff(gw_bufq *out, const gw_req *rq)
{
    static const gw_str name = {"X-Forwarded-For", 15};
    const gw_header *e = gw_req_extra(rq, name);
    if (e) {
        http_write_header(out, name, e->value);
        return;
    }
    int any = 0;
    for (size_t i = 0; i < rq->nhdr && !any; i++)
        any = rq->hdr[i].value.n > 0 && gw_str_caseeq2(rq->hdr[i].name, name);
    if (!any) { /* the common case, nothing to append to: one line written whole */
        const char *a = rq->client && rq->client->addr[0] ? rq->client->addr : "unknown";
        http_write_header(out, name, (gw_str){a, strlen(a)});
        return;
    }
    any = 0;
    gw_bufq_append(out, "X-Forwarded-For: ", 17);
    for (size_t i = 0; i < rq->nhdr; i++) {
        const gw_header *h = &rq->hdr[i];
        if (h->value.n == 0 || !gw_str_caseeq2(h->name, name)) continue;
        if (any) gw_bufq_append(out, ", ", 2);
        gw_bufq_append(out, h->value.p, h->value.n);
        any = 1;
    }
    if (rq->client && rq->client->addr[0]) {
        if (any) gw_bufq_append(out, ", ", 2);
        gw_bufq_append(out, rq->client->addr, strlen(rq->client->addr));
    } else if (!any) {
        gw_bufq_append(out, "unknown", 7);
    }
    http_write_crlf(out);
}

/* Every rewrite-request result of this name, in order (a header the client sent several
 * times gives several results). */
static void write_extras(gw_bufq *out, const gw_req *rq, gw_str name)
{
    for (size_t k = 0; k < rq->nextra; k++)
        if (gw_str_caseeq2(rq->extra[k].name, name))
            http_write_header(out, rq->extra[k].name, rq->extra[k].value);
}

static void write_own(gw_bufq *out, const gw_req *rq, gw_str name, gw_str value)
{
    const gw_header *e = gw_req_extra(rq, name);
    if (e) value = e->value;
    if (value.n) http_write_header(out, name, value);
}

static int be_encode_head(void *vst, const gw_req *rq, int keepalive, gw_bufq *out)
{
    static const gw_str host = {"Host", 4};
    http_be *st = vst;
    gw_str target = rq->backend_target.p ? rq->backend_target : rq->target;

    if (rq->method.n == 0 || target.n == 0) return GW_ERR;
    st->is_head = rq->is_head;
    st->want_upgrade = rq->upgrade;
    st->keepalive = keepalive && !rq->upgrade;

    http_write_request_line(out, rq->method, target);

    /* HTTP/1.0 clients may send no Host; a backend speaking 1.1 requires one. */
    if (!hdr_has(rq, host)) {
        const gw_header *e = gw_req_extra(rq, host);
        if (e)
            http_write_header(out, host, e->value);
        else
            write_server_host(out, rq->server);
    }

    for (size_t i = 0; i < rq->nhdr; i++) {
        const gw_header *h = &rq->hdr[i];
        /* Host is checked first: a "Connection: host" must not strip it. */
        int is_host = gw_str_caseeq2(h->name, host);
        if (!is_host && (is_own_field(h->name) || http_is_hop_by_hop(h->name, rq->hdr, rq->nhdr)))
            continue;
        const gw_header *e = gw_req_extra(rq, h->name);
        if (e == NULL) {
            http_write_header(out, h->name, h->value);
            continue;
        }
        /* Replaced fields are written at the first occurrence of their name. */
        size_t j = 0;
        while (j < i && !gw_str_caseeq2(rq->hdr[j].name, h->name)) j++;
        if (j == i) write_extras(out, rq, h->name);
    }
    for (size_t i = 0; i < rq->nextra; i++) {
        const gw_header *e = &rq->extra[i];
        if (e->name.n == 0 || e->name.p[0] == '_' || gw_str_caseeq2(e->name, host)) continue;
        if (is_own_field(e->name) || http_is_hop_by_hop(e->name, NULL, 0)) continue;
        if (hdr_has(rq, e->name)) continue;
        size_t j = 0; /* a name given twice in extras: all of them, at the first */
        while (j < i && !gw_str_caseeq2(rq->extra[j].name, e->name)) j++;
        if (j == i) write_extras(out, rq, e->name);
    }

    write_xff(out, rq);
    write_own(out, rq, GW_STR("X-Forwarded-Proto"), rq->scheme);
    write_own(out, rq, GW_STR("X-Forwarded-Host"), rq->host_full);

    if (rq->content_length >= 0) {
        st->req_left = rq->content_length;
        st->req_done = rq->content_length == 0;
        if (rq->content_length > 0 || rq->chunked || gw_req_header(rq, "content-length") != NULL)
            http_write_header_u64(out, GW_STR("Content-Length"), (uint64_t)rq->content_length);
    } else {
        st->req_chunked = 1;
        http_write_header(out, GW_STR("Transfer-Encoding"), GW_STR("chunked"));
    }

    if (rq->upgrade) {
        for (size_t i = 0; i < rq->nhdr; i++)
            if (HTTP_IS(rq->hdr[i].name, "upgrade"))
                http_write_header(out, rq->hdr[i].name, rq->hdr[i].value);
        http_write_header(out, GW_STR("Connection"), GW_STR("upgrade"));
    } else if (!keepalive) {
        http_write_header(out, GW_STR("Connection"), GW_STR("close"));
    }
    http_write_crlf(out);
    return GW_OK;
}

static int be_encode_body(void *vst, gw_bufq *body, int last, gw_bufq *out)
{
    http_be *st = vst;
    if (st->req_chunked) {
        if (st->req_done) {
            gw_bufq_clear(body);
            return GW_OK;
        }
        if (body->bytes) {
            http_write_chunk_head(out, body->bytes);
            gw_bufq_move_all(out, body);
            http_write_crlf(out);
        }
        if (last) {
            http_write_last_chunk(out);
            st->req_done = 1;
        }
        return GW_OK;
    }
    /* Never send more than announced: excess bytes would be read as another request. */
    if ((int64_t)body->bytes > st->req_left) {
        gw_log(GW_LOG_WARN, "http backend: %zu request body bytes beyond Content-Length dropped",
               body->bytes - (size_t)st->req_left);
        gw_bufq_move(out, body, (size_t)st->req_left);
        gw_bufq_clear(body);
        st->req_left = 0;
    } else {
        st->req_left -= (int64_t)body->bytes;
        gw_bufq_move_all(out, body);
    }
    if (st->req_left == 0) st->req_done = 1;
    return GW_OK;
}

/* ---- response ---- */

static int fail(const gw_resp *rsp, const char *why)
{
    gw_log(GW_LOG_ERR, "%s: %s", rsp->log_tag ? rsp->log_tag : "http backend", why);
    return GW_ERR;
}

/* Is a (non Content-Length) response field passed on? Not hop-by-hop ones, except Upgrade on
 * a 101: the client must learn which protocol it is switching to. */
static int resp_keep(const http_resp_head *h, gw_str n)
{
    if (h->status == 101 && HTTP_IS(n, "upgrade")) return 1;
    return !http_is_hop_by_hop(n, h->hdr, h->nhdr);
}

/* Validate framing and copy the end-to-end fields of a final head into rsp. */
static int take_head(http_be *st, const http_resp_head *h, gw_resp *rsp)
{
    int64_t cl = -1;
    int ncl = 0, nte = 0, nchunked = 0, conn_close = 0, conn_ka = 0;
    size_t keep = 0, bytes = 0;

    for (size_t i = 0; i < h->nhdr; i++) {
        gw_str n = h->hdr[i].name, v = h->hdr[i].value;
        if (HTTP_IS(n, "content-length")) {
            int64_t x;
            if (http_parse_length(v, &x) != GW_OK) return fail(rsp, "bad Content-Length");
            if (ncl++ && x != cl) return fail(rsp, "conflicting Content-Length");
            cl = x;
            continue;
        }
        if (HTTP_IS(n, "transfer-encoding")) {
            nte++;
            if (http_te_check(v, &nchunked) != 0) return fail(rsp, "unsupported Transfer-Encoding");
        } else if (HTTP_IS(n, "connection")) {
            conn_close |= http_list_has(v, "close");
            conn_ka |= http_list_has(v, "keep-alive");
        }
        if (!resp_keep(h, n)) continue;
        keep++;
        bytes += n.n + v.n + 2;
    }
    if (nte && (ncl || nchunked != 1 || h->minor == 0))
        return fail(rsp, "bad Transfer-Encoding framing");

    /* One arena block for all strings, NUL-terminated for callers that want C strings. */
    char *p = keep ? gw_arena_alloc(rsp->arena, bytes) : NULL;
    for (size_t i = 0; i < h->nhdr && keep; i++) {
        gw_str n = h->hdr[i].name, v = h->hdr[i].value;
        if (HTTP_IS(n, "content-length") || !resp_keep(h, n)) continue;
        gw_str cn = {p, n.n}, cv;
        memcpy(p, n.p, n.n);
        p[n.n] = '\0';
        p += n.n + 1;
        cv.p = p;
        cv.n = v.n;
        if (v.n) memcpy(p, v.p, v.n);
        p[v.n] = '\0';
        p += v.n + 1;
        gw_resp_add_header(rsp, cn, cv);
    }

    rsp->status = h->status;
    st->be_close = conn_close || (h->minor == 0 && !conn_ka);
    rsp->content_length = cl;
    if (h->status == 101) {
        st->upgraded = 1;
        rsp->upgrade = 1;
        st->phase = BE_DONE;
    } else if (st->is_head || h->status == 204 || h->status == 304) {
        st->phase = BE_DONE;
    } else if (nte) {
        rsp->content_length = -1;
        http_chunked_init(&st->ch);
        st->phase = BE_BODY_CHUNKED;
    } else if (ncl) {
        st->remain = cl;
        st->phase = cl ? BE_BODY_CL : BE_DONE;
    } else {
        st->phase = BE_BODY_CLOSE;
    }
    rsp->head_done = 1;
    return GW_OK;
}

static int finish(http_be *st, gw_buf *in, gw_resp *rsp)
{
    st->phase = BE_DONE;
    rsp->done = 1;
    if (gw_buf_unread(in)) st->extra = 1;
    return GW_DONE;
}

static int be_parse(void *vst, gw_buf *in, int eof, gw_resp *rsp)
{
    http_be *st = vst;

    while (st->phase == BE_HEAD) {
        gw_header hdr[GW_MAX_HEADERS];
        http_resp_head h;
        size_t n = gw_buf_unread(in);
        int r = http_parse_response(in->data + in->off, n, &h, hdr, GW_MAX_HEADERS);
        if (r == GW_AGAIN) {
            if (eof) return fail(rsp, n ? "response head truncated" : "closed before response");
            if (n >= in->cap) return fail(rsp, "response head too large");
            if (gw_buf_room(in) == 0) gw_buf_compact(in);
            return GW_AGAIN;
        }
        if (r < 0) return fail(rsp, "malformed response head");
        if (h.status < 200 && !(h.status == 101 && st->want_upgrade)) {
            if (h.status == 101) return fail(rsp, "101 without an upgrade request");
            gw_buf_consume(in, (size_t)r); /* interim response */
            continue;
        }
        if (take_head(st, &h, rsp) != GW_OK) return GW_ERR;
        gw_buf_consume(in, (size_t)r);
    }

    size_t n = gw_buf_unread(in);
    char *p = in->data + in->off;
    switch (st->phase) {
    case BE_BODY_CL: {
        size_t k = (uint64_t)n > (uint64_t)st->remain ? (size_t)st->remain : n;
        gw_bufq_append(&rsp->body, p, k);
        gw_buf_consume(in, k);
        st->remain -= (int64_t)k;
        if (st->remain == 0) return finish(st, in, rsp);
        if (eof) return fail(rsp, "body shorter than Content-Length");
        return GW_AGAIN;
    }
    case BE_BODY_CHUNKED: {
        size_t used = 0, data = 0;
        int r = n ? http_chunked_decode(&st->ch, p, n, &used, &data) : GW_AGAIN;
        if (r == GW_ERR) return fail(rsp, "bad chunked body");
        gw_bufq_append(&rsp->body, p, data);
        gw_buf_consume(in, used);
        if (r == GW_DONE) return finish(st, in, rsp);
        if (eof) return fail(rsp, "chunked body truncated");
        return GW_AGAIN;
    }
    case BE_BODY_CLOSE:
        gw_bufq_append(&rsp->body, p, n);
        gw_buf_consume(in, n);
        if (!eof) return GW_AGAIN;
        st->close_delim = 1;
        return finish(st, in, rsp);
    default:
        return finish(st, in, rsp);
    }
}

static int be_reusable(const void *vst)
{
    const http_be *st = vst;
    return st->phase == BE_DONE && st->keepalive && st->req_done && !st->be_close &&
           !st->close_delim && !st->extra && !st->upgraded;
}

const gw_backend_ops http_backend_ops = {
    .name = "http",
    .state_size = sizeof(http_be),
    .flags = GW_BE_KEEPALIVE,
    .encode_head = be_encode_head,
    .encode_body = be_encode_body,
    .parse = be_parse,
    .reusable = be_reusable,
};
