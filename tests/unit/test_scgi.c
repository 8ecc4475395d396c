/* Unit tests for the SCGI codec (netstring) and adapter (request bytes, response decoding).
 * No sockets: request objects in, golden bytes out; golden backend bytes in, gw_resp out. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/cgi.h"
#include "proto/scgi/scgi_backend.h"
#include "proto/scgi/scgi_codec.h"

#define S(lit) GW_STR(lit)

/* ---- codec ---- */

/* The example request of the SCGI specification. */
static const char spec_head[] = "70:"
                                "CONTENT_LENGTH\0"
                                "27\0"
                                "SCGI\0"
                                "1\0"
                                "REQUEST_METHOD\0"
                                "POST\0"
                                "REQUEST_URI\0"
                                "/deepthought\0"
                                ",";
#define SPEC_HEAD_LEN (sizeof(spec_head) - 1)

START_TEST(test_codec_golden)
{
    char buf[128];
    size_t pre = SCGI_PREFIX_MAX, o = pre;
    o += scgi_pair_put(buf + o, S("CONTENT_LENGTH"), S("27"));
    o += scgi_pair_put(buf + o, S("SCGI"), S("1"));
    o += scgi_pair_put(buf + o, S("REQUEST_METHOD"), S("POST"));
    o += scgi_pair_put(buf + o, S("REQUEST_URI"), S("/deepthought"));
    ck_assert_uint_eq(o - pre, 70);
    ck_assert_uint_eq(scgi_pair_len(S("SCGI"), S("1")), 7);
    size_t k = scgi_prefix_put_before(buf + pre, o - pre);
    ck_assert_uint_eq(k, 3);
    buf[o++] = ',';
    ck_assert_uint_eq(o - (pre - k), SPEC_HEAD_LEN);
    ck_assert_mem_eq(buf + pre - k, spec_head, SPEC_HEAD_LEN);
}
END_TEST

START_TEST(test_codec_prefix)
{
    static const struct {
        size_t len;
        const char *want;
    } cases[] = {{0, "0:"},
                 {9, "9:"},
                 {10, "10:"},
                 {65536, "65536:"},
                 {(size_t)-1, "18446744073709551615:"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[SCGI_PREFIX_MAX + 4];
        memset(buf, 'x', sizeof(buf));
        char *end = buf + SCGI_PREFIX_MAX;
        size_t k = scgi_prefix_put_before(end, cases[i].len);
        ck_assert_uint_eq(k, strlen(cases[i].want));
        ck_assert_mem_eq(end - k, cases[i].want, k);
        ck_assert_int_eq(end[0], 'x'); /* nothing written past the end */
    }
}
END_TEST

START_TEST(test_codec_pair_check)
{
    ck_assert_int_eq(scgi_pair_check(S("A"), S("")), GW_OK);
    ck_assert_int_eq(scgi_pair_check(S(""), S("x")), GW_ERR);
    ck_assert_int_eq(scgi_pair_check(S("A\0B"), S("x")), GW_ERR);
    ck_assert_int_eq(scgi_pair_check(S("A"), S("x\0y")), GW_ERR);
}
END_TEST

/* Whole, every proper prefix (GW_AGAIN), and with junk after it (same count consumed). */
START_TEST(test_codec_netstring_parse)
{
    char buf[SPEC_HEAD_LEN + 8];
    memcpy(buf, spec_head, SPEC_HEAD_LEN);
    memcpy(buf + SPEC_HEAD_LEN, "junk!!!!", 8);
    gw_str pl;
    for (size_t n = 0; n < SPEC_HEAD_LEN; n++)
        ck_assert_int_eq(scgi_netstring_parse(buf, n, 1 << 20, &pl), GW_AGAIN);
    for (size_t extra = 0; extra <= 8; extra++) {
        pl = GW_STR_NULL;
        ck_assert_int_eq(scgi_netstring_parse(buf, SPEC_HEAD_LEN + extra, 1 << 20, &pl),
                         (int)SPEC_HEAD_LEN);
        ck_assert_ptr_eq(pl.p, buf + 3);
        ck_assert_uint_eq(pl.n, 70);
    }
    /* Walk the pairs. */
    static const char *want[] = {"CONTENT_LENGTH", "27",   "SCGI",        "1",
                                 "REQUEST_METHOD", "POST", "REQUEST_URI", "/deepthought"};
    size_t off = 0, i = 0;
    gw_str name, value;
    int r;
    while ((r = scgi_pair_next(pl, &off, &name, &value)) == GW_OK) {
        ck_assert_uint_lt(i, 8);
        ck_assert(gw_str_eq(name, want[i]));
        ck_assert(gw_str_eq(value, want[i + 1]));
        i += 2;
    }
    ck_assert_int_eq(r, GW_DONE);
    ck_assert_uint_eq(i, 8);
}
END_TEST

START_TEST(test_codec_netstring_bad)
{
    static const struct {
        const char *in;
        size_t max;
        int want;
    } cases[] = {
        {":abc,", 100, GW_ERR},   {"a:", 100, GW_ERR},
        {"01:x,", 100, GW_ERR},   {"3:abc;", 100, GW_ERR},
        {"3:abc", 100, GW_AGAIN}, {"0:,", 100, 3},
        {"101:", 100, GW_ERR},    {"3x", 100, GW_ERR},
        {"-1:", 100, GW_ERR},     {"99999999999999999999999:", (size_t)-1, GW_ERR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_str pl;
        ck_assert_msg(scgi_netstring_parse(cases[i].in, strlen(cases[i].in), cases[i].max, &pl) ==
                          cases[i].want,
                      "case %zu: %s", i, cases[i].in);
    }
}
END_TEST

START_TEST(test_codec_pairs_bad)
{
    size_t off = 0;
    gw_str n, v;
    ck_assert_int_eq(scgi_pair_next((gw_str){"A\0B", 3}, &off, &n, &v), GW_ERR);
    off = 0;
    ck_assert_int_eq(scgi_pair_next((gw_str){"\0x\0", 3}, &off, &n, &v), GW_ERR);
    off = 0;
    ck_assert_int_eq(scgi_pair_next((gw_str){"AB", 2}, &off, &n, &v), GW_ERR);
    off = 0;
    ck_assert_int_eq(scgi_pair_next((gw_str){"A\0\0", 3}, &off, &n, &v), GW_OK);
    ck_assert(gw_str_eq(n, "A"));
    ck_assert_uint_eq(v.n, 0);
    ck_assert_int_eq(scgi_pair_next((gw_str){"A\0\0", 3}, &off, &n, &v), GW_DONE);
}
END_TEST

/* ---- adapter: request ---- */

typedef struct fixture {
    gw_arena arena;
    gw_endpoint client, server;
    gw_header hdr[4];
    gw_req rq;
    void *st;
} fixture;

static void fx_init(fixture *fx, const char *method, int64_t clen)
{
    memset(fx, 0, sizeof(*fx));
    strcpy(fx->client.addr, "192.0.2.7");
    strcpy(fx->client.port, "50000");
    strcpy(fx->server.addr, "127.0.0.1");
    strcpy(fx->server.port, "8080");
    fx->hdr[0] = (gw_header){S("Host"), S("example.org:8080")};
    fx->hdr[1] = (gw_header){S("X-Token"), S("abc def")};
    fx->hdr[2] = (gw_header){S("Content-Type"), S("text/plain")};
    gw_req *rq = &fx->rq;
    rq->method = gw_str_from(method);
    rq->target = S("/app/run?x=1&y=2");
    rq->backend_target = rq->target;
    rq->path = S("/app/run");
    rq->query = S("x=1&y=2");
    rq->host = S("example.org");
    rq->host_full = S("example.org:8080");
    rq->scheme = S("http");
    rq->minor = 1;
    rq->hdr = fx->hdr;
    rq->nhdr = 3;
    rq->content_length = clen;
    rq->is_head = strcmp(method, "HEAD") == 0;
    rq->client = &fx->client;
    rq->server = &fx->server;
    rq->script_name = S("/app/run");
    rq->path_info = S("");
    rq->server_software = S("portico/test");
    rq->arena = &fx->arena;
    fx->st = calloc(1, scgi_backend_ops.state_size);
}

static void fx_free(fixture *fx)
{
    free(fx->st);
    gw_arena_free(&fx->arena);
    gw_blk_pool_trim();
}

/* What the netstring must carry: the builder's own output, in its order. */
typedef struct flat {
    char buf[1 << 17];
    size_t n, count;
} flat;

static int on_flat(void *ctx, gw_str name, gw_str value)
{
    flat *f = ctx;
    memcpy(f->buf + f->n, name.p, name.n);
    f->n += name.n;
    f->buf[f->n++] = '\0';
    memcpy(f->buf + f->n, value.p, value.n);
    f->n += value.n;
    f->buf[f->n++] = '\0';
    f->count++;
    return GW_OK;
}

static char *q_flatten(gw_bufq *q, size_t *n)
{
    *n = q->bytes;
    char *p = malloc(q->bytes + 1);
    ck_assert_uint_eq(gw_bufq_copyout(q, 0, p, q->bytes), q->bytes);
    return p;
}

static void check_head(fixture *fx, gw_bufq *out)
{
    static flat want;
    want.n = want.count = 0;
    int status = 0;
    ck_assert_int_eq(gw_cgi_env(&fx->rq, 1, on_flat, &want, &status), GW_OK);

    size_t n;
    char *got = q_flatten(out, &n);
    char pre[32];
    int k = snprintf(pre, sizeof(pre), "%zu:", want.n);
    ck_assert_uint_eq(n, (size_t)k + want.n + 1);
    ck_assert_mem_eq(got, pre, (size_t)k);
    ck_assert_mem_eq(got + k, want.buf, want.n);
    ck_assert_int_eq(got[n - 1], ',');

    /* The SCGI rules on top of the CGI ones. */
    gw_str pl, name, value;
    ck_assert_int_eq(scgi_netstring_parse(got, n, n, &pl), (int)n);
    size_t off = 0, i = 0;
    int seen_scgi = 0, seen_token = 0;
    char clen[32];
    snprintf(clen, sizeof(clen), "%lld", (long long)fx->rq.content_length);
    while (scgi_pair_next(pl, &off, &name, &value) == GW_OK) {
        if (i++ == 0) {
            ck_assert(gw_str_eq(name, "CONTENT_LENGTH"));
            ck_assert(gw_str_eq(value, clen));
        }
        if (gw_str_eq(name, "SCGI")) seen_scgi = gw_str_eq(value, "1");
        if (gw_str_eq(name, "HTTP_X_TOKEN")) seen_token = gw_str_eq(value, "abc def");
    }
    ck_assert_uint_eq(off, pl.n);
    ck_assert_uint_eq(i, want.count);
    ck_assert(seen_scgi);
    ck_assert(seen_token);
    free(got);
}

START_TEST(test_encode_head_golden)
{
    fixture fx;
    fx_init(&fx, "POST", 11);
    gw_bufq out = {0};
    gw_bufq_append(&out, "before", 6); /* the adapter appends; it never clears */
    gw_bufq_consume(&out, 6);
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 1, &out), GW_OK);
    check_head(&fx, &out);
    gw_bufq_clear(&out);
    fx_free(&fx);
}
END_TEST

/* An environment larger than one block: the prefix stays in front, pairs cross blocks. */
START_TEST(test_encode_head_large)
{
    fixture fx;
    fx_init(&fx, "GET", 0);
    size_t big = 3 * GW_BLK_SIZE + 123;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) v[i] = (char)('a' + i % 26);
    fx.hdr[3] = (gw_header){S("X-Big"), {v, big}};
    fx.rq.nhdr = 4;
    gw_bufq out = {0};
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &out), GW_OK);
    check_head(&fx, &out);
    gw_bufq_clear(&out);
    free(v);
    fx_free(&fx);
}
END_TEST

START_TEST(test_encode_head_refuses)
{
    fixture fx;
    fx_init(&fx, "POST", -1); /* unknown length: SCGI cannot announce it */
    gw_bufq out = {0};
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &out), GW_ERR);
    ck_assert_uint_eq(out.bytes, 0);
    fx_free(&fx);
    fx_init(&fx, "GET", 0);
    fx.hdr[1].value = (gw_str){"a\0b", 3}; /* would shift every later pair */
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &out), GW_ERR);
    ck_assert_uint_eq(out.bytes, 0);
    fx_free(&fx);
}
END_TEST

START_TEST(test_encode_body)
{
    fixture fx;
    fx_init(&fx, "POST", 11);
    gw_bufq out = {0}, body = {0};
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &out), GW_OK);
    size_t head = out.bytes;
    gw_bufq_append(&body, "hello ", 6);
    ck_assert_int_eq(scgi_backend_ops.encode_body(fx.st, &body, 0, &out), GW_OK);
    ck_assert_uint_eq(body.bytes, 0);
    gw_bufq_append(&body, "world", 5);
    ck_assert_int_eq(scgi_backend_ops.encode_body(fx.st, &body, 1, &out), GW_OK);
    char tail[11];
    ck_assert_uint_eq(gw_bufq_copyout(&out, head, tail, 11), 11);
    ck_assert_mem_eq(tail, "hello world", 11); /* unframed */
    ck_assert_uint_eq(out.bytes, head + 11);
    gw_bufq_clear(&out);
    fx_free(&fx);

    /* More than announced, or fewer at the end: the stream would be misread. */
    fx_init(&fx, "POST", 3);
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &out), GW_OK);
    gw_bufq_append(&body, "abcd", 4);
    ck_assert_int_eq(scgi_backend_ops.encode_body(fx.st, &body, 0, &out), GW_ERR);
    gw_bufq_clear(&body);
    gw_bufq_clear(&out);
    fx_free(&fx);
    fx_init(&fx, "POST", 3);
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &out), GW_OK);
    gw_bufq_append(&body, "ab", 2);
    ck_assert_int_eq(scgi_backend_ops.encode_body(fx.st, &body, 1, &out), GW_ERR);
    gw_bufq_clear(&body);
    gw_bufq_clear(&out);
    ck_assert_int_eq(scgi_backend_ops.reusable(fx.st), 0);
    fx_free(&fx);
}
END_TEST

/* ---- adapter: response ---- */

typedef struct run {
    int rc;            /* the final return */
    int status;        /* rsp.status */
    int64_t clen;      /* rsp.content_length */
    char body[131072]; /* rsp.body, flattened */
    size_t nbody;
    char ctype[64]; /* Content-Type, if any */
    int head_done, done;
} run;

/* Feed <input> to a fresh exchange in pieces ending at each offset of <cuts> (ascending,
 * the last one == len), the way upstream.c would: new bytes are appended after whatever the
 * parser left unread; eof comes with the last piece when <eof>, else as an extra empty call. */
static void feed(const char *input, size_t len, const size_t *cuts, size_t ncuts, int eof,
                 int is_head, run *out)
{
    fixture fx;
    fx_init(&fx, is_head ? "HEAD" : "GET", 0);
    gw_bufq q = {0};
    ck_assert_int_eq(scgi_backend_ops.encode_head(fx.st, &fx.rq, 0, &q), GW_OK);
    gw_bufq_clear(&q);

    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.arena = &fx.arena;
    rsp.content_length = -1;
    gw_buf in;
    gw_buf_init(&in, len + 1);
    size_t at = 0;
    int rc = GW_AGAIN;
    for (size_t c = 0; c < ncuts && rc == GW_AGAIN; c++) {
        gw_buf_compact(&in);
        memcpy(in.data + in.len, input + at, cuts[c] - at);
        in.len += cuts[c] - at;
        at = cuts[c];
        int last = c + 1 == ncuts;
        rc = scgi_backend_ops.parse(fx.st, &in, last && eof, &rsp);
        if (rc == GW_AGAIN) ck_assert(!rsp.done);
    }
    if (rc == GW_AGAIN && !eof) rc = scgi_backend_ops.parse(fx.st, &in, 1, &rsp);
    out->rc = rc;
    out->status = rsp.status;
    out->clen = rsp.content_length;
    out->head_done = rsp.head_done;
    out->done = rsp.done;
    out->nbody = rsp.body.bytes;
    ck_assert_uint_le(out->nbody, sizeof(out->body));
    gw_bufq_copyout(&rsp.body, 0, out->body, out->nbody);
    const gw_header *ct = gw_resp_header(&rsp, "Content-Type");
    out->ctype[0] = '\0';
    if (ct) snprintf(out->ctype, sizeof(out->ctype), "%.*s", (int)ct->value.n, ct->value.p);
    if (rc == GW_DONE) ck_assert(rsp.done);
    gw_bufq_clear(&rsp.body);
    gw_buf_free(&in);
    fx_free(&fx);
}

typedef struct resp_case {
    const char *name;
    const char *in;
    int is_head;
    int rc, status;
    int64_t clen;
    const char *body, *ctype;
    int junk_ok; /* appending junk must not change the outcome */
} resp_case;

static const resp_case resp_cases[] = {
    {"crlf+length",
     "Status: 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", 0,
     GW_DONE, 201, 5, "hello", "text/plain", 1},
    {"lf+length", "Content-Type: a/b\nContent-Length: 3\n\nxyz", 0, GW_DONE, 200, 3, "xyz", "a/b",
     1},
    {"to eof", "Content-Type: a/b\r\n\r\nuntil the end", 0, GW_DONE, 200, -1, "until the end",
     "a/b", 0},
    {"empty body", "Status: 204 No Content\r\n\r\n", 0, GW_DONE, 204, -1, "", "", 1},
    {"zero length", "Content-Length: 0\r\n\r\n", 0, GW_DONE, 200, 0, "", "", 1},
    {"location", "Location: /else\r\n\r\n", 0, GW_DONE, 302, -1, "", "", 0},
    {"head drops body", "Content-Type: t/p\r\nContent-Length: 4\r\n\r\nbody", 1, GW_DONE, 200, 4,
     "", "t/p", 1},
    {"head drops eof body", "Content-Type: t/p\r\n\r\nbody", 1, GW_DONE, 200, -1, "", "t/p", 1},
    {"truncated body", "Content-Length: 10\r\n\r\nhello", 0, GW_ERR, 0, 0, NULL, NULL, 0},
    {"truncated head", "Content-Type: a/b\r\nX-A: b", 0, GW_ERR, 0, 0, NULL, NULL, 0},
    {"nothing", "", 0, GW_ERR, 0, 0, NULL, NULL, 0},
    {"no blank line", "Status: 200 OK\r\n", 0, GW_ERR, 0, 0, NULL, NULL, 0},
    {"bad length", "Content-Length: x\r\n\r\nhello", 0, GW_ERR, 0, 0, NULL, NULL, 1},
    {"bad status", "Status: abc\r\n\r\n", 0, GW_ERR, 0, 0, NULL, NULL, 1},
    {"no colon", "this is not a header\r\n\r\n", 0, GW_ERR, 0, 0, NULL, NULL, 1},
};

static void check_run(const resp_case *c, const run *r, const char *how, size_t at)
{
    ck_assert_msg(r->rc == c->rc, "%s %s %zu: rc %d", c->name, how, at, r->rc);
    if (c->rc != GW_DONE) return;
    ck_assert_msg(r->status == c->status, "%s %s %zu: status %d", c->name, how, at, r->status);
    ck_assert_msg(r->clen == c->clen, "%s %s %zu: clen", c->name, how, at);
    ck_assert_msg(r->head_done && r->done, "%s %s %zu: flags", c->name, how, at);
    ck_assert_msg(r->nbody == strlen(c->body) && memcmp(r->body, c->body, r->nbody) == 0,
                  "%s %s %zu: body %.*s", c->name, how, at, (int)r->nbody, r->body);
    ck_assert_msg(strcmp(r->ctype, c->ctype) == 0, "%s %s %zu: ctype %s", c->name, how, at,
                  r->ctype);
}

/* Whole, split once at every offset, and one byte at a time; eof with the last piece and
 * as a separate call. */
START_TEST(test_parse_splits)
{
    const resp_case *c = &resp_cases[_i];
    size_t len = strlen(c->in);
    static run r;
    size_t cuts[2], *bytes = malloc((len + 1) * sizeof(size_t));
    for (int eof = 0; eof <= 1; eof++) {
        cuts[0] = len;
        feed(c->in, len, cuts, 1, eof, c->is_head, &r);
        check_run(c, &r, "whole", 0);
        for (size_t k = 0; k <= len; k++) {
            cuts[0] = k;
            cuts[1] = len;
            feed(c->in, len, cuts, 2, eof, c->is_head, &r);
            check_run(c, &r, "split", k);
        }
        for (size_t k = 0; k < len; k++) bytes[k] = k + 1;
        if (len) {
            feed(c->in, len, bytes, len, eof, c->is_head, &r);
            check_run(c, &r, "bytewise", 0);
        }
    }
    free(bytes);
}
END_TEST

/* Bytes after a complete response are dropped, not taken as body. */
START_TEST(test_parse_trailing)
{
    const resp_case *c = &resp_cases[_i];
    if (!c->junk_ok) return;
    char buf[512];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "%sJUNK AFTER\r\n", c->in);
    static run r;
    for (size_t k = 0; k <= len; k++) {
        size_t cuts[2] = {k, len};
        feed(buf, len, cuts, 2, 1, c->is_head, &r);
        check_run(c, &r, "junk", k);
    }
}
END_TEST

/* A head of exactly SCGI_HEAD_MAX bytes passes; one byte more is refused, whole or split. */
START_TEST(test_parse_head_limit)
{
    size_t len = SCGI_HEAD_MAX + 1;
    char *in = malloc(len + 8);
    static const char pre[] = "X-Pad: ";
    memcpy(in, pre, sizeof(pre) - 1);
    for (int over = 0; over <= 1; over++) {
        size_t head = SCGI_HEAD_MAX + (size_t)over;
        memset(in + 7, 'p', head - 7 - 4);
        memcpy(in + head - 4, "\r\n\r\n", 4);
        memcpy(in + head, "ok", 2);
        static run r;
        size_t cuts1[1] = {head + 2};
        feed(in, head + 2, cuts1, 1, 1, 0, &r);
        ck_assert_int_eq(r.rc, over ? GW_ERR : GW_DONE);
        size_t cuts3[3] = {100, 40000, head + 2};
        feed(in, head + 2, cuts3, 3, 1, 0, &r);
        ck_assert_int_eq(r.rc, over ? GW_ERR : GW_DONE);
        if (!over) {
            ck_assert_uint_eq(r.nbody, 2);
            ck_assert_mem_eq(r.body, "ok", 2);
        }
    }
    free(in);
}
END_TEST

/* A body much larger than one read, delivered in pieces, arrives whole and in order. */
START_TEST(test_parse_big_body)
{
    size_t blen = 100000;
    char *in = malloc(blen + 64);
    int h = sprintf(in, "Content-Length: %zu\r\n\r\n", blen);
    for (size_t i = 0; i < blen; i++) in[h + i] = (char)('0' + i % 10);
    size_t len = (size_t)h + blen, cuts[8];
    for (int i = 0; i < 8; i++) cuts[i] = len * (size_t)(i + 1) / 8;
    static run r;
    feed(in, len, cuts, 8, 0, 0, &r);
    ck_assert_int_eq(r.rc, GW_DONE);
    ck_assert_uint_eq(r.nbody, blen);
    ck_assert_mem_eq(r.body, in + h, blen);
    free(in);
}
END_TEST

static Suite *scgi_suite(void)
{
    Suite *s = suite_create("scgi");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_codec_golden);
    tcase_add_test(tc, test_codec_prefix);
    tcase_add_test(tc, test_codec_pair_check);
    tcase_add_test(tc, test_codec_netstring_parse);
    tcase_add_test(tc, test_codec_netstring_bad);
    tcase_add_test(tc, test_codec_pairs_bad);
    suite_add_tcase(s, tc);
    tc = tcase_create("request");
    tcase_add_test(tc, test_encode_head_golden);
    tcase_add_test(tc, test_encode_head_large);
    tcase_add_test(tc, test_encode_head_refuses);
    tcase_add_test(tc, test_encode_body);
    suite_add_tcase(s, tc);
    tc = tcase_create("response");
    tcase_set_timeout(tc, 60);
    int n = (int)(sizeof(resp_cases) / sizeof(resp_cases[0]));
    tcase_add_loop_test(tc, test_parse_splits, 0, n);
    tcase_add_loop_test(tc, test_parse_trailing, 0, n);
    tcase_add_test(tc, test_parse_head_limit);
    tcase_add_test(tc, test_parse_big_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scgi_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
