/* SCGI adapter: encode_head writes the CGI environment as one netstring, the body goes out
 * unframed, and the response is a CGI head followed by the body up to Content-Length or EOF.
 * Must not know sockets, libev, pools or retries: only gw_req in, bytes out, gw_resp back. */
#include "proto/scgi/scgi_backend.h"

#include <string.h>

#include "gateway/base/cgi.h"
#include "proto/scgi/scgi_codec.h"

typedef struct scgi_state {
    int64_t body_left; /* request body bytes the netstring announced and not yet sent */
    int64_t resp_left; /* response body bytes still expected; -1: until EOF */
    char *acc;         /* head bytes kept across calls when the head arrives split (arena) */
    size_t acc_len, acc_cap;
    size_t scan; /* offset of the first head line not yet searched for the blank line */
    unsigned is_head : 1;
    unsigned head_done : 1;
    unsigned no_body : 1;
    unsigned done : 1;
} scgi_state;

/* ---- request ---- */

static void q_put_pair(gw_bufq *q, gw_str name, gw_str value)
{
    size_t need = scgi_pair_len(name, value), avail;
    char *dst = gw_bufq_reserve(q, &avail);
    if (avail >= need) {
        gw_bufq_commit(q, scgi_pair_put(dst, name, value));
        return;
    }
    /* The pair straddles two blocks: the slow path copies piece by piece. */
    gw_bufq_append(q, name.p, name.n);
    gw_bufq_append(q, "", 1);
    gw_bufq_append(q, value.p, value.n);
    gw_bufq_append(q, "", 1);
}

static int on_cgi_var(void *ctx, gw_str name, gw_str value)
{
    if (scgi_pair_check(name, value) != GW_OK) return GW_ERR;
    q_put_pair(ctx, name, value);
    return GW_OK;
}

/* The length prefix must come first but is known only at the end. Instead of two passes
 * over the environment, the first block keeps SCGI_PREFIX_MAX bytes of headroom and the
 * digits are written into it backwards once the payload length is known. */
static int scgi_encode_head(void *vst, const gw_req *rq, int keepalive, gw_bufq *out)
{
    scgi_state *st = vst;
    (void)keepalive;                           /* SCGI closes after every response */
    if (rq->content_length < 0) return GW_ERR; /* GW_BE_NEEDS_LENGTH: the gateway buffers */
    st->body_left = rq->content_length;
    st->is_head = rq->is_head;
    st->resp_left = -1;

    gw_bufq hq = {0};
    size_t avail;
    (void)gw_bufq_reserve(&hq, &avail);
    hq.head->off = hq.head->len = SCGI_PREFIX_MAX;

    int status = 0;
    if (gw_cgi_env(rq, 1, on_cgi_var, &hq, &status) != GW_OK) {
        gw_bufq_clear(&hq);
        return GW_ERR;
    }
    size_t k = scgi_prefix_put_before(hq.head->data + hq.head->off, hq.bytes);
    hq.head->off -= (uint32_t)k;
    hq.bytes += k;
    gw_bufq_append(&hq, ",", 1);
    gw_bufq_move_all(out, &hq);
    return GW_OK;
}

/* The body goes through unframed; the netstring promised exactly body_left bytes, and a
 * different count would make the backend misread the stream. */
static int scgi_encode_body(void *vst, gw_bufq *body, int last, gw_bufq *out)
{
    scgi_state *st = vst;
    if ((int64_t)body->bytes > st->body_left) return GW_ERR;
    st->body_left -= (int64_t)body->bytes;
    gw_bufq_move_all(out, body);
    if (last && st->body_left != 0) return GW_ERR;
    return GW_OK;
}

/* ---- response ---- */

/* Find the end of a CGI head (the byte after its empty line) in buf[0, len), resuming at the
 * line start *scan. Returns 0 while the empty line has not arrived. */
static size_t head_end(const char *buf, size_t len, size_t *scan)
{
    size_t s = *scan;
    while (s < len) {
        if (buf[s] == '\n') return s + 1;
        if (buf[s] == '\r') {
            if (s + 1 == len) break;
            if (buf[s + 1] == '\n') return s + 2;
        }
        const char *nl = memchr(buf + s, '\n', len - s);
        if (nl == NULL) break;
        s = (size_t)(nl - buf) + 1;
    }
    *scan = s;
    return 0;
}

static int head_parse(scgi_state *st, const char *p, size_t end, gw_resp *rsp)
{
    rsp->content_length = -1;
    int r = gw_cgi_parse_head(p, end, rsp);
    if (r <= 0 || (size_t)r != end) return GW_ERR; /* the head is whole: AGAIN is a lie */
    st->head_done = 1;
    rsp->head_done = 1;
    st->resp_left = rsp->content_length;
    st->no_body = st->is_head || rsp->status == 204 || rsp->status == 304;
    return GW_OK;
}

/* Take body bytes; GW_DONE once the declared length is complete (extra bytes are dropped:
 * the connection is not reused, so they cannot belong to another response). */
static int body_feed(scgi_state *st, const char *p, size_t n, gw_resp *rsp)
{
    if (st->no_body) return GW_DONE;
    if (st->resp_left >= 0) {
        if ((int64_t)n > st->resp_left) n = (size_t)st->resp_left;
        gw_bufq_append(&rsp->body, p, n);
        st->resp_left -= (int64_t)n;
        return st->resp_left == 0 ? GW_DONE : GW_AGAIN;
    }
    gw_bufq_append(&rsp->body, p, n);
    return GW_AGAIN;
}

static void acc_add(scgi_state *st, gw_resp *rsp, const char *p, size_t n)
{
    if (n == 0) return;
    if (st->acc_len + n > st->acc_cap) {
        size_t cap = st->acc_cap ? st->acc_cap * 2 : 4096;
        while (cap < st->acc_len + n) cap *= 2;
        if (cap > SCGI_HEAD_MAX) cap = SCGI_HEAD_MAX;
        char *a = gw_arena_alloc(rsp->arena, cap);
        if (st->acc_len) memcpy(a, st->acc, st->acc_len);
        st->acc = a;
        st->acc_cap = cap;
    }
    memcpy(st->acc + st->acc_len, p, n);
    st->acc_len += n;
}

/* Head not yet complete. The common case (the whole head in one read) parses straight from
 * <in>; a split head is copied aside, so the caller's buffer never has to hold it. */
static int parse_head_phase(scgi_state *st, gw_buf *in, gw_resp *rsp)
{
    const char *p = in->data + in->off;
    size_t n = gw_buf_unread(in);
    if (st->acc_len == 0) {
        size_t end = head_end(p, n, &st->scan);
        if (end) {
            if (end > SCGI_HEAD_MAX || head_parse(st, p, end, rsp) != GW_OK) return GW_ERR;
            gw_buf_consume(in, end);
            return GW_OK;
        }
        if (n > SCGI_HEAD_MAX) return GW_ERR;
        acc_add(st, rsp, p, n);
        gw_buf_consume(in, n);
        return GW_AGAIN;
    }
    size_t take = SCGI_HEAD_MAX - st->acc_len;
    if (take > n) take = n;
    acc_add(st, rsp, p, take);
    gw_buf_consume(in, take);
    size_t end = head_end(st->acc, st->acc_len, &st->scan);
    if (end == 0) return st->acc_len == SCGI_HEAD_MAX ? GW_ERR : GW_AGAIN;
    if (head_parse(st, st->acc, end, rsp) != GW_OK) return GW_ERR;
    /* Bytes read past the head are the start of the body. */
    if (end < st->acc_len && body_feed(st, st->acc + end, st->acc_len - end, rsp) == GW_DONE)
        st->done = 1;
    st->acc_len = 0;
    return GW_OK;
}

static int scgi_parse(void *vst, gw_buf *in, int eof, gw_resp *rsp)
{
    scgi_state *st = vst;
    if (!st->done && !st->head_done) {
        int r = parse_head_phase(st, in, rsp);
        if (r == GW_ERR) return GW_ERR;
        if (r == GW_AGAIN) return eof ? GW_ERR : GW_AGAIN; /* closed before a whole head */
    }
    if (!st->done) {
        size_t n = gw_buf_unread(in);
        if ((n && body_feed(st, in->data + in->off, n, rsp) == GW_DONE) || st->no_body ||
            st->resp_left == 0)
            st->done = 1;
        gw_buf_consume(in, n);
    } else {
        gw_buf_consume(in, gw_buf_unread(in));
    }
    if (!st->done) {
        if (!eof) return GW_AGAIN;
        if (st->resp_left > 0) return GW_ERR; /* closed before the declared length */
        st->done = 1;
    }
    rsp->done = 1;
    return GW_DONE;
}

static int scgi_reusable(const void *st)
{
    (void)st;
    return 0;
}

const gw_backend_ops scgi_backend_ops = {
    .name = "scgi",
    .state_size = sizeof(scgi_state),
    .flags = GW_BE_NEEDS_LENGTH,
    .encode_head = scgi_encode_head,
    .encode_body = scgi_encode_body,
    .parse = scgi_parse,
    .reusable = scgi_reusable,
};
