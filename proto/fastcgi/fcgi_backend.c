/* FastCGI adapter (the "fastcgi" ops table): frames a gw_req as RESPONDER records and turns the
 * application's records back into a gw_resp, streaming STDOUT without waiting for whole records.
 * Adapter layer: knows no sockets, event loop, pools or retries. */
#include "proto/fastcgi/fcgi_backend.h"

#include <string.h>

#include "gateway/base/cgi.h"
#include "gateway/base/log.h"
#include "proto/fastcgi/fcgi_codec.h"

#define FCGI_REQUEST_ID 1 /* one request per connection at a time: no multiplexing */
#define STDIN_RECORD_MAX FCGI_MAX_CONTENT
#define ERRLINE_MAX 1024

typedef struct fcgi_state {
    fcgi_decoder dec;
    char *head; /* owned by rsp->arena: head bytes gathered across STDOUT pieces */
    size_t hlen, hcap;
    size_t line_start; /* start of the current line in `head` */
    int64_t body_seen; /* body bytes after the head, dropped ones included */
    int64_t body_left; /* request body bytes still to frame (CONTENT_LENGTH minus sent) */
    uint8_t endreq[8]; /* END_REQUEST body */
    uint8_t endlen;
    unsigned keepalive : 1;    /* FCGI_KEEP_CONN was sent */
    unsigned is_head : 1;      /* HEAD request: body bytes are dropped */
    unsigned head_done : 1;    /* the CGI head was parsed */
    unsigned stdin_closed : 1; /* the empty STDIN went out */
    unsigned ended : 1;        /* END_REQUEST seen */
    unsigned trailing : 1;     /* bytes followed END_REQUEST: the connection is not clean */
    size_t errlen;
    char err[ERRLINE_MAX]; /* the STDERR line being gathered */
} fcgi_state;

static const char *tag_of(const gw_resp *rsp)
{
    return rsp->log_tag ? rsp->log_tag : "backend";
}

/* ---- request ---- */

typedef struct penc {
    fcgi_params w;
    gw_bufq *out;
    unsigned keepalive : 1;
    unsigned started : 1;
} penc;

/* BEGIN_REQUEST goes out with the first variable, so that an environment the builder rejects
 * (before it emits anything) leaves `out` untouched. */
static void penc_start(penc *pe)
{
    uint8_t br[16];
    fcgi_begin_request_encode(br, FCGI_REQUEST_ID, FCGI_RESPONDER,
                              pe->keepalive ? FCGI_KEEP_CONN : 0);
    gw_bufq_append(pe->out, br, sizeof(br));
    fcgi_params_begin(&pe->w, pe->out, FCGI_REQUEST_ID);
    pe->started = 1;
}

static int emit_param(void *ctx, gw_str name, gw_str value)
{
    penc *pe = ctx;
    if (!pe->started) penc_start(pe);
    fcgi_params_add(&pe->w, name, value);
    return GW_OK;
}

static void put_header(gw_bufq *out, unsigned type, size_t clen)
{
    uint8_t h[FCGI_HEADER_LEN];
    fcgi_header_encode(h, type, FCGI_REQUEST_ID, (uint16_t)clen, 0);
    gw_bufq_append(out, h, sizeof(h));
}

static int encode_head(void *vst, const gw_req *rq, int keepalive, gw_bufq *out)
{
    fcgi_state *st = vst;
    fcgi_decoder_init(&st->dec);
    st->keepalive = keepalive != 0;
    st->is_head = rq->is_head;
    st->body_left = rq->content_length;

    penc pe = {.out = out, .keepalive = st->keepalive};
    int status = 0;
    if (gw_cgi_env(rq, 0, emit_param, &pe, &status) != GW_OK) return GW_ERR;
    if (!pe.started) penc_start(&pe);
    fcgi_params_end(&pe.w);
    if (rq->content_length == 0) { /* nothing will follow: end STDIN now */
        put_header(out, FCGI_STDIN, 0);
        st->stdin_closed = 1;
    }
    return GW_OK;
}

/* STDIN records follow the body's block edges, so whole 16 KiB blocks change owner instead of
 * being copied; a record takes as many whole blocks as fit in 65535 bytes. */
static int encode_body(void *vst, gw_bufq *body, int last, gw_bufq *out)
{
    fcgi_state *st = vst;
    /* a body that disagrees with CONTENT_LENGTH would leave the application reading the
     * next request's records as this one's body */
    if (st->stdin_closed || (int64_t)body->bytes > st->body_left)
        return body->bytes ? GW_ERR : GW_OK;
    if (last && (int64_t)body->bytes != st->body_left) return GW_ERR;
    st->body_left -= (int64_t)body->bytes;
    while (body->bytes > 0) {
        size_t n = 0;
        for (const gw_blk *b = body->head; b; b = b->next) {
            size_t have = b->len - b->off;
            if (n + have > STDIN_RECORD_MAX) {
                if (n == 0) n = STDIN_RECORD_MAX;
                break;
            }
            n += have;
        }
        put_header(out, FCGI_STDIN, n);
        gw_bufq_move(out, body, n);
    }
    if (last) {
        put_header(out, FCGI_STDIN, 0);
        st->stdin_closed = 1;
    }
    return GW_OK;
}

/* ---- response ---- */

static void err_flush(fcgi_state *st, const gw_resp *rsp)
{
    size_t n = st->errlen;
    if (n && st->err[n - 1] == '\r') n--;
    if (n) gw_log(GW_LOG_WARN, "%s: fastcgi stderr: %.*s", tag_of(rsp), (int)n, st->err);
    st->errlen = 0;
}

/* STDERR is logged a line at a time, whatever the record edges. */
static void on_stderr(fcgi_state *st, const char *p, size_t n, const gw_resp *rsp)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        while (k > 0) {
            size_t c = sizeof(st->err) - st->errlen;
            if (c > k) c = k;
            memcpy(st->err + st->errlen, p, c);
            st->errlen += c;
            p += c;
            n -= c;
            k -= c;
            if (st->errlen == sizeof(st->err)) err_flush(st, rsp);
        }
        if (nl) {
            err_flush(st, rsp);
            p++;
            n--;
        }
    }
}

__attribute__((cold)) static int fail(fcgi_state *st, const gw_resp *rsp, const char *why)
{
    err_flush(st, rsp);
    gw_log(GW_LOG_ERR, "%s: fastcgi: %s", tag_of(rsp), why);
    return GW_ERR;
}

/* Gather head bytes; returns 1 once an empty line has arrived. Lines are tracked as bytes come,
 * so a head trickling in one byte per record costs linear time, not quadratic. */
static int head_gather(fcgi_state *st, const char *p, size_t n, gw_resp *rsp)
{
    if (n == 0) return 0;
    if (st->hlen + n > st->hcap) {
        size_t cap = st->hcap ? st->hcap : 1024;
        while (cap < st->hlen + n) cap *= 2;
        char *h = gw_arena_alloc(rsp->arena, cap);
        if (st->hlen) memcpy(h, st->head, st->hlen);
        st->head = h;
        st->hcap = cap;
    }
    size_t from = st->hlen;
    memcpy(st->head + from, p, n);
    st->hlen += n;
    for (size_t i = from; i < st->hlen; i++) {
        if (st->head[i] != '\n') continue;
        size_t ll = i - st->line_start;
        if (ll == 0 || (ll == 1 && st->head[st->line_start] == '\r')) return 1;
        st->line_start = i + 1;
    }
    return 0;
}

static int no_body_status(int s)
{
    return s < 200 || s == 204 || s == 304;
}

static int on_stdout(fcgi_state *st, const char *p, size_t n, gw_resp *rsp)
{
    if (!st->head_done) {
        int r = GW_AGAIN;
        if (st->hlen == 0) r = gw_cgi_parse_head(p, n, rsp); /* the usual case: zero copy */
        if (r == GW_ERR) return fail(st, rsp, "invalid response head");
        if (r >= 0) {
            p += r;
            n -= (size_t)r;
        } else {
            /* gather no more than the limit allows: what lies beyond may be body */
            size_t k = FCGI_HEAD_MAX - st->hlen;
            if (k > n) k = n;
            if (!head_gather(st, p, k, rsp)) {
                if (k < n) return fail(st, rsp, "response head too large");
                return GW_OK;
            }
            r = gw_cgi_parse_head(st->head, st->hlen, rsp);
            if (r < 0) return fail(st, rsp, "invalid response head");
            /* the body starts inside the bytes just gathered */
            size_t used = k - (st->hlen - (size_t)r);
            p += used;
            n -= used;
        }
        st->head_done = 1;
    }
    if (n == 0) return GW_OK;
    st->body_seen += (int64_t)n;
    if (st->is_head || no_body_status(rsp->status)) return GW_OK;
    if (rsp->content_length >= 0 && st->body_seen > rsp->content_length)
        return fail(st, rsp, "more body than Content-Length");
    gw_bufq_append(&rsp->body, p, n);
    return GW_OK;
}

static int on_end_request(fcgi_state *st, gw_resp *rsp)
{
    if (st->endlen < sizeof(st->endreq)) return fail(st, rsp, "short END_REQUEST record");
    err_flush(st, rsp);
    if (st->endreq[4] != FCGI_REQUEST_COMPLETE) {
        static const char *why[] = {"request complete", "cannot multiplex", "overloaded",
                                    "unknown role"};
        gw_log(GW_LOG_ERR, "%s: fastcgi: request refused: %s (protocolStatus %u)", tag_of(rsp),
               st->endreq[4] < 4 ? why[st->endreq[4]] : "unknown", st->endreq[4]);
        return GW_ERR;
    }
    if (!st->head_done) return fail(st, rsp, "END_REQUEST before a complete response head");
    if (rsp->content_length >= 0 && !st->is_head && !no_body_status(rsp->status) &&
        st->body_seen < rsp->content_length)
        return fail(st, rsp, "less body than Content-Length");
    st->ended = 1;
    return GW_OK;
}

static int parse(void *vst, gw_buf *in, int eof, gw_resp *rsp)
{
    fcgi_state *st = vst;
    while (gw_buf_unread(in) > 0 && !(st->ended && !st->dec.in_record)) {
        fcgi_piece pc;
        ssize_t n = fcgi_decode(&st->dec, in->data + in->off, gw_buf_unread(in), &pc);
        if (n < 0) return fail(st, rsp, "bad record version");
        int r = GW_OK;
        if (pc.type != 0) {
            if (pc.id != FCGI_REQUEST_ID) {
                r = fail(st, rsp, "record for another request id");
            } else if (pc.type == FCGI_STDOUT) {
                r = on_stdout(st, pc.data, pc.len, rsp);
            } else if (pc.type == FCGI_STDERR) {
                on_stderr(st, pc.data, pc.len, rsp);
            } else if (pc.type == FCGI_END_REQUEST) {
                size_t k = sizeof(st->endreq) - st->endlen;
                if (k > pc.len) k = pc.len;
                memcpy(st->endreq + st->endlen, pc.data, k);
                st->endlen = (uint8_t)(st->endlen + k);
                if (pc.last) r = on_end_request(st, rsp);
            } /* other types (GET_VALUES_RESULT, ...) carry nothing for a response */
        }
        gw_buf_consume(in, (size_t)n);
        if (r != GW_OK) return GW_ERR;
    }
    if (st->ended) {
        if (st->dec.in_record) { /* END_REQUEST padding still on its way */
            if (!eof) return GW_AGAIN;
            st->trailing = 1;
        } else if (gw_buf_unread(in) > 0) {
            st->trailing = 1;
        }
        rsp->done = 1;
        return GW_DONE;
    }
    if (eof) return fail(st, rsp, "connection closed before END_REQUEST");
    return GW_AGAIN;
}

static int reusable(const void *vst)
{
    const fcgi_state *st = vst;
    return st->keepalive && st->ended && !st->trailing;
}

const gw_backend_ops fcgi_backend_ops = {
    .name = "fastcgi",
    .state_size = sizeof(fcgi_state),
    .flags = GW_BE_NEEDS_LENGTH | GW_BE_KEEPALIVE | GW_BE_PINS_WORKER,
    .encode_head = encode_head,
    .encode_body = encode_body,
    .parse = parse,
    .reusable = reusable,
};
