/* Check tests for the FastCGI codec and adapter, without sockets: gw_req -> golden record bytes,
 * golden backend byte streams -> gw_resp, each fed whole, split at every byte and byte by byte. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/cgi.h"
#include "gateway/base/log.h"
#include "proto/fastcgi/fcgi_backend.h"
#include "proto/fastcgi/fcgi_codec.h"

/* ---- helpers: a growable byte string and an independent record writer ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2 + 64;
        s->p = realloc(s->p, s->cap);
    }
    if (n) memcpy(s->p + s->n, p, n);
    s->n += n;
}

static void sb_byte(sbuf *s, unsigned b)
{
    unsigned char c = (unsigned char)b;
    sb_put(s, &c, 1);
}

static void rec(sbuf *s, unsigned type, unsigned id, const void *c, size_t n, unsigned pad)
{
    unsigned char h[8] = {1,
                          (unsigned char)type,
                          (unsigned char)(id >> 8),
                          (unsigned char)id,
                          (unsigned char)(n >> 8),
                          (unsigned char)n,
                          (unsigned char)pad,
                          0};
    sb_put(s, h, 8);
    sb_put(s, c, n);
    for (unsigned i = 0; i < pad; i++) sb_byte(s, 0xee);
}

static void out_s(sbuf *s, const char *str)
{
    rec(s, FCGI_STDOUT, 1, str, strlen(str), 0);
}

static void end_req(sbuf *s, unsigned app, unsigned proto)
{
    unsigned char b[8] = {(unsigned char)(app >> 24),
                          (unsigned char)(app >> 16),
                          (unsigned char)(app >> 8),
                          (unsigned char)app,
                          (unsigned char)proto,
                          0,
                          0,
                          0};
    rec(s, FCGI_END_REQUEST, 1, b, 8, 0);
}

/* A name-value pair written from the spec's table, not through the codec. */
static void tpair(sbuf *s, const char *name, size_t nl, const char *val, size_t vl)
{
    size_t l[2] = {nl, vl};
    for (int i = 0; i < 2; i++) {
        if (l[i] < 128) {
            sb_byte(s, (unsigned)l[i]);
        } else {
            sb_byte(s, 0x80 | (unsigned)(l[i] >> 24));
            sb_byte(s, (unsigned)(l[i] >> 16) & 0xff);
            sb_byte(s, (unsigned)(l[i] >> 8) & 0xff);
            sb_byte(s, (unsigned)l[i] & 0xff);
        }
    }
    sb_put(s, name, nl);
    sb_put(s, val, vl);
}

static void q_flat(const gw_bufq *q, sbuf *s)
{
    s->n = 0;
    char tmp[4096];
    for (size_t off = 0; off < q->bytes;) {
        size_t k = gw_bufq_copyout(q, off, tmp, sizeof(tmp));
        sb_put(s, tmp, k);
        off += k;
    }
}

/* Split a flat record stream: the contents of records of `type`, concatenated; the sizes of
 * those records in `sizes` (up to max). Checks every header's version and id 1. */
static size_t records(const sbuf *s, size_t from, unsigned type, sbuf *content, size_t *sizes,
                      size_t max, size_t *end)
{
    size_t i = from, nrec = 0;
    while (i + 8 <= s->n) {
        const unsigned char *h = (const unsigned char *)s->p + i;
        ck_assert_uint_eq(h[0], 1);
        ck_assert_uint_eq((h[2] << 8) | h[3], 1);
        size_t cl = (size_t)(h[4] << 8 | h[5]);
        if (h[1] != type) break;
        ck_assert_uint_le(i + 8 + cl + h[6], s->n);
        if (nrec < max) sizes[nrec] = cl;
        nrec++;
        sb_put(content, s->p + i + 8, cl);
        i += 8 + cl + h[6];
        if (cl == 0) break; /* end of stream */
    }
    *end = i;
    return nrec;
}

static gw_arena arena;

static void teardown(void)
{
    gw_arena_free(&arena);
    gw_blk_pool_trim();
}

/* ---- codec ---- */

START_TEST(codec_header_begin)
{
    uint8_t h[8];
    fcgi_header_encode(h, FCGI_STDOUT, 0x1234, 0xfffe, 7);
    static const uint8_t want[8] = {1, 6, 0x12, 0x34, 0xff, 0xfe, 7, 0};
    ck_assert(memcmp(h, want, 8) == 0);
    uint8_t b[16];
    fcgi_begin_request_encode(b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    static const uint8_t wb[16] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    ck_assert(memcmp(b, wb, 16) == 0);
    fcgi_begin_request_encode(b, 1, FCGI_RESPONDER, 0);
    ck_assert_uint_eq(b[10], 0);
}
END_TEST

START_TEST(codec_pair)
{
    uint8_t out[600];
    ck_assert_uint_eq(fcgi_pair_encode(out, sizeof(out), GW_STR("AB"), GW_STR("xyz")), 7);
    ck_assert(memcmp(out,
                     "\x02\x03"
                     "ABxyz",
                     7) == 0);
    char v[300];
    memset(v, 'v', sizeof(v));
    ck_assert_uint_eq(fcgi_pair_encode(out, sizeof(out), GW_STR("N"), ((gw_str){v, 300})),
                      1 + 4 + 1 + 300);
    ck_assert(memcmp(out,
                     "\x01\x80\x00\x01\x2c"
                     "N",
                     6) == 0);
    /* the 127/128 boundary */
    ck_assert_uint_eq(fcgi_pair_size(127, 0), 1 + 1 + 127);
    ck_assert_uint_eq(fcgi_pair_size(128, 0), 4 + 1 + 128);
    ck_assert_uint_eq(fcgi_pair_encode(out, sizeof(out), ((gw_str){v, 128}), GW_STR("")), 133);
    ck_assert(memcmp(out, "\x80\x00\x00\x80\x00", 5) == 0);
    ck_assert_uint_eq(fcgi_pair_encode(out, sizeof(out), ((gw_str){v, 127}), GW_STR("")), 129);
    ck_assert_uint_eq(out[0], 127);
    /* no room: nothing written */
    out[0] = 0x55;
    ck_assert_uint_eq(fcgi_pair_encode(out, 6, GW_STR("AB"), GW_STR("xyz")), 0);
    ck_assert_uint_eq(out[0], 0x55);
}
END_TEST

/* PARAMS stream: a pair over 64 KiB crosses records, and a placeholder header that straddles a
 * block edge is patched correctly. */
START_TEST(codec_params_stream)
{
    size_t big = 70000;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) v[i] = (char)('a' + i % 26);
    gw_bufq q = {0};
    static char pre[GW_BLK_SIZE - 3];
    memset(pre, 'p', sizeof(pre));
    gw_bufq_append(&q, pre, sizeof(pre));
    fcgi_params w;
    fcgi_params_begin(&w, &q, 1);
    fcgi_params_add(&w, GW_STR("SMALL"), GW_STR("1"));
    fcgi_params_add(&w, GW_STR("HTTP_X_BIG"), ((gw_str){v, big}));
    fcgi_params_add(&w, GW_STR("AFTER"), GW_STR("2"));
    fcgi_params_end(&w);

    sbuf flat = {0}, want = {0}, got = {0};
    q_flat(&q, &flat);
    ck_assert(memcmp(flat.p, pre, sizeof(pre)) == 0);
    tpair(&want, "SMALL", 5, "1", 1);
    tpair(&want, "HTTP_X_BIG", 10, v, big);
    tpair(&want, "AFTER", 5, "2", 1);
    size_t sizes[8], end;
    size_t n = records(&flat, sizeof(pre), FCGI_PARAMS, &got, sizes, 8, &end);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(sizes[0], 65535);
    ck_assert_uint_eq(sizes[1], want.n - 65535);
    ck_assert_uint_eq(sizes[2], 0);
    ck_assert_uint_eq(end, flat.n);
    ck_assert_uint_eq(got.n, want.n);
    ck_assert(memcmp(got.p, want.p, want.n) == 0);
    gw_bufq_clear(&q);
    free(v);
    free(flat.p);
    free(want.p);
    free(got.p);
}
END_TEST

/* Decoded pieces put back together must give each record's content, however the input is cut. */
static void decode_all(const sbuf *s, size_t chunk, size_t split, sbuf *out, int *nrec)
{
    fcgi_decoder d;
    fcgi_decoder_init(&d);
    size_t i = 0;
    *nrec = 0;
    while (i < s->n) {
        size_t lim = chunk ? chunk : (i < split ? split - i : s->n - i);
        if (lim > s->n - i) lim = s->n - i;
        size_t j = 0;
        while (j < lim) {
            fcgi_piece pc;
            ssize_t r = fcgi_decode(&d, s->p + i + j, lim - j, &pc);
            ck_assert_int_gt(r, 0);
            j += (size_t)r;
            if (pc.type == 0) continue;
            if (pc.first) {
                sb_byte(out, '<');
                sb_byte(out, pc.type + '0');
            }
            sb_put(out, pc.data, pc.len);
            if (pc.last) {
                sb_byte(out, '>');
                (*nrec)++;
            }
        }
        i += lim;
    }
    ck_assert(!d.in_record && d.hlen == 0);
}

START_TEST(codec_decoder_splits)
{
    sbuf s = {0};
    rec(&s, FCGI_STDOUT, 1, "hello", 5, 3);
    rec(&s, FCGI_STDERR, 1, "", 0, 0);
    rec(&s, FCGI_STDOUT, 1, "", 0, 7);
    rec(&s, FCGI_STDERR, 1, "err\n", 4, 0);
    end_req(&s, 0, 0);
    const char want[] = "<6hello><7><6><7err\n><3\0\0\0\0\0\0\0\0>";
    size_t wantn = sizeof(want) - 1;
    for (size_t split = 0; split <= s.n; split++) {
        sbuf out = {0};
        int nrec;
        decode_all(&s, 0, split, &out, &nrec);
        ck_assert_int_eq(nrec, 5);
        ck_assert_uint_eq(out.n, wantn);
        ck_assert(memcmp(out.p, want, wantn) == 0);
        free(out.p);
    }
    for (size_t chunk = 1; chunk <= 9; chunk++) {
        sbuf out = {0};
        int nrec;
        decode_all(&s, chunk, 0, &out, &nrec);
        ck_assert_int_eq(nrec, 5);
        ck_assert(memcmp(out.p, want, wantn) == 0);
        free(out.p);
    }
    /* a bad version is an error however it arrives */
    fcgi_decoder d;
    fcgi_decoder_init(&d);
    fcgi_piece pc;
    ck_assert_int_eq(fcgi_decode(&d, "\x02\x06\x00\x01", 4, &pc), 4);
    ck_assert_int_eq(fcgi_decode(&d, "\x00\x00\x00\x00", 4, &pc), GW_ERR);
    free(s.p);
}
END_TEST

/* ---- adapter: requests ---- */

static gw_endpoint cli_ep = {"10.0.0.2", "40000", 0};
static gw_endpoint srv_ep = {"10.0.0.1", "80", 0};

static gw_req mkreq(gw_header *h, size_t nh)
{
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = GW_STR("GET");
    rq.target = GW_STR("/");
    rq.path = GW_STR("/");
    rq.query = GW_STR("");
    rq.host = GW_STR("h");
    rq.scheme = GW_STR("http");
    rq.minor = 1;
    rq.hdr = h;
    rq.nhdr = nh;
    rq.client = &cli_ep;
    rq.server = &srv_ep;
    rq.script_name = GW_STR("");
    rq.path_info = GW_STR("/");
    rq.arena = &arena;
    return rq;
}

static void *new_state(void)
{
    return calloc(1, fcgi_backend_ops.state_size);
}

/* The whole request for a GET with one header, byte for byte. */
START_TEST(req_golden_minimal)
{
    gw_header h[] = {{GW_STR("Host"), GW_STR("h")}};
    gw_req rq = mkreq(h, 1);
    rq.content_length = 0;
    void *st = new_state();
    gw_bufq out = {0};
    ck_assert_int_eq(fcgi_backend_ops.encode_head(st, &rq, 1, &out), GW_OK);

    static const char *kv[][2] = {
        {"CONTENT_LENGTH", "0"},
        {"QUERY_STRING", ""},
        {"REQUEST_URI", "/"},
        {"REQUEST_METHOD", "GET"},
        {"SCRIPT_NAME", ""},
        {"PATH_INFO", "/"},
        {"SERVER_NAME", "h"},
        {"SERVER_PORT", "80"},
        {"SERVER_ADDR", "10.0.0.1"},
        {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"REMOTE_ADDR", "10.0.0.2"},
        {"REMOTE_PORT", "40000"},
        {"REQUEST_SCHEME", "http"},
        {"REDIRECT_STATUS", "200"},
        {"HTTP_HOST", "h"},
    };
    sbuf params = {0}, want = {0}, got = {0};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        tpair(&params, kv[i][0], strlen(kv[i][0]), kv[i][1], strlen(kv[i][1]));
    sb_put(&want, "\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00", 16);
    rec(&want, FCGI_PARAMS, 1, params.p, params.n, 0);
    rec(&want, FCGI_PARAMS, 1, "", 0, 0);
    rec(&want, FCGI_STDIN, 1, "", 0, 0); /* no body: STDIN ends at once */
    q_flat(&out, &got);
    ck_assert_uint_eq(got.n, want.n);
    ck_assert(memcmp(got.p, want.p, want.n) == 0);

    /* nothing more for an empty body, even when told it is the last */
    gw_bufq body = {0};
    ck_assert_int_eq(fcgi_backend_ops.encode_body(st, &body, 1, &out), GW_OK);
    ck_assert_uint_eq(out.bytes, want.n);

    /* without keep-alive the flag is clear */
    gw_bufq_clear(&out);
    memset(st, 0, fcgi_backend_ops.state_size);
    ck_assert_int_eq(fcgi_backend_ops.encode_head(st, &rq, 0, &out), GW_OK);
    q_flat(&out, &got);
    ck_assert_uint_eq(got.p[10], 0);
    gw_bufq_clear(&out);
    free(st);
    free(params.p);
    free(want.p);
    free(got.p);
}
END_TEST

/* A 300-byte value (4-byte length) and 80 KiB of headers (several PARAMS records). */
START_TEST(req_big_params)
{
    char *v300 = malloc(300), *vbig = malloc(80000);
    memset(v300, 'x', 300);
    for (size_t i = 0; i < 80000; i++) vbig[i] = (char)('A' + i % 23);
    gw_header h[] = {{GW_STR("X-Long"), {v300, 300}}, {GW_STR("X-Big"), {vbig, 80000}}};
    gw_req rq = mkreq(h, 2);
    rq.content_length = 0;
    void *st = new_state();
    gw_bufq out = {0};
    ck_assert_int_eq(fcgi_backend_ops.encode_head(st, &rq, 1, &out), GW_OK);
    sbuf got = {0}, params = {0};
    q_flat(&out, &got);
    size_t sizes[8], end;
    size_t n = records(&got, 16, FCGI_PARAMS, &params, sizes, 8, &end);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(sizes[0], 65535);
    ck_assert_uint_eq(sizes[2], 0);
    ck_assert_uint_eq(end + 8, got.n); /* then the empty STDIN */
    sbuf tail = {0};
    tpair(&tail, "HTTP_X_LONG", 11, v300, 300);
    tpair(&tail, "HTTP_X_BIG", 10, vbig, 80000);
    ck_assert_uint_gt(params.n, tail.n);
    ck_assert(memcmp(params.p + params.n - tail.n, tail.p, tail.n) == 0);
    ck_assert(memcmp(tail.p, "\x0b\x80\x00\x01\x2c", 5) == 0);
    gw_bufq_clear(&out);
    free(st);
    free(v300);
    free(vbig);
    free(got.p);
    free(params.p);
    free(tail.p);
}
END_TEST

START_TEST(req_collision_leaves_out_empty)
{
    gw_header h[] = {{GW_STR("X-A"), GW_STR("1")}, {GW_STR("X_A"), GW_STR("2")}};
    gw_req rq = mkreq(h, 2);
    rq.content_length = 0;
    void *st = new_state();
    gw_bufq out = {0};
    ck_assert_int_eq(fcgi_backend_ops.encode_head(st, &rq, 1, &out), GW_ERR);
    ck_assert_uint_eq(out.bytes, 0);
    free(st);
}
END_TEST

/* `total` body bytes arriving in parts; the STDIN records must carry them in order, each
 * taking the whole 16 KiB blocks that fit in 65535 bytes, then the empty STDIN. */
static void body_case(const size_t *parts, size_t nparts, const size_t *want, size_t nwant)
{
    size_t total = 0;
    for (size_t i = 0; i < nparts; i++) total += parts[i];
    char *b = malloc(total);
    for (size_t i = 0; i < total; i++) b[i] = (char)(i * 7 % 256);
    gw_req rq = mkreq(NULL, 0);
    rq.content_length = (int64_t)total;
    rq.method = GW_STR("POST");
    void *st = new_state();
    gw_bufq out = {0}, body = {0};
    ck_assert_int_eq(fcgi_backend_ops.encode_head(st, &rq, 0, &out), GW_OK);
    size_t headlen = out.bytes, off = 0;
    for (size_t i = 0; i < nparts; i++) {
        gw_bufq_append(&body, b + off, parts[i]);
        off += parts[i];
        ck_assert_int_eq(fcgi_backend_ops.encode_body(st, &body, i + 1 == nparts, &out), GW_OK);
        ck_assert_uint_eq(body.bytes, 0);
    }
    sbuf got = {0}, content = {0};
    q_flat(&out, &got);
    size_t sizes[16], end;
    size_t n = records(&got, headlen, FCGI_STDIN, &content, sizes, 16, &end);
    ck_assert_uint_eq(end, got.n);
    ck_assert_uint_eq(content.n, total);
    ck_assert(memcmp(content.p, b, total) == 0);
    ck_assert_msg(n == nwant + 1, "n %zu: %zu %zu %zu", n, sizes[0], sizes[1], sizes[2]);
    for (size_t i = 0; i < nwant; i++) ck_assert_uint_eq(sizes[i], want[i]);
    ck_assert_uint_eq(sizes[nwant], 0);
    gw_bufq_clear(&out);
    free(st);
    free(b);
    free(got.p);
    free(content.p);
}

START_TEST(req_body_records)
{
    static const size_t one[] = {100000}, one_w[] = {49152, 50848};
    body_case(one, 1, one_w, 2);
    static const size_t two[] = {60000, 40000}, two_w[] = {60000, 40000};
    body_case(two, 2, two_w, 2);
    static const size_t small[] = {1, 2, 3}, small_w[] = {1, 2, 3};
    body_case(small, 3, small_w, 3);

    /* a body that disagrees with CONTENT_LENGTH is refused, not framed */
    gw_req rq = mkreq(NULL, 0);
    rq.content_length = 10;
    for (int i = 0; i < 2; i++) {
        void *st = new_state();
        gw_bufq out = {0}, body = {0};
        ck_assert_int_eq(fcgi_backend_ops.encode_head(st, &rq, 0, &out), GW_OK);
        size_t before = out.bytes;
        gw_bufq_append(&body, "0123456789X", i ? 5 : 11);
        ck_assert_int_eq(fcgi_backend_ops.encode_body(st, &body, 1, &out), GW_ERR);
        ck_assert_uint_eq(out.bytes, before);
        gw_bufq_clear(&out);
        gw_bufq_clear(&body);
        free(st);
    }
}
END_TEST

/* ---- adapter: responses ---- */

typedef struct rcase {
    const char *name;
    void (*build)(sbuf *s);
    unsigned is_head : 1, keepalive : 1;
    int rc; /* final parse result with eof after the last byte: GW_DONE or GW_ERR */
    int status;
    const char *body;
    const char *hname, *hval; /* one header to look for, or NULL */
    int64_t clen;
    int reusable;
    size_t leftover; /* unconsumed bytes after GW_DONE */
} rcase;

static void b_simple(sbuf *s)
{
    out_s(s, "Content-Type: text/plain\r\n\r\nhello");
    out_s(s, " world");
    out_s(s, "");
    end_req(s, 0, 0);
}
static void b_padding(sbuf *s)
{
    rec(s, FCGI_STDOUT, 1, "Content-Type: a/b\n\nab", 21, 3);
    rec(s, FCGI_STDOUT, 1, "cd", 2, 6);
    rec(s, FCGI_STDOUT, 1, "", 0, 5);
    unsigned char e[8] = {0};
    rec(s, FCGI_END_REQUEST, 1, e, 8, 8);
}
static void b_stderr(sbuf *s)
{
    rec(s, FCGI_STDERR, 1, "PHP Notice: one\nPHP Warn", 24, 0);
    out_s(s, "Status: 500 Oops\r\nX-A: 1\r\n");
    rec(s, FCGI_STDERR, 1, "ing: two\r\n", 10, 1);
    out_s(s, "\r\nfail");
    rec(s, FCGI_STDERR, 1, "tail without newline", 20, 0);
    end_req(s, 255, 0);
}
static void b_unknown_type(sbuf *s)
{
    rec(s, 20, 1, "whatever", 8, 0);
    out_s(s, "Location: /next\r\n\r\n");
    rec(s, FCGI_GET_VALUES_RESULT, 1,
        "\x01\x01"
        "ab",
        4, 4);
    rec(s, FCGI_DATA, 1, "", 0, 0);
    end_req(s, 0, 0);
}
static void b_wrong_id(sbuf *s)
{
    out_s(s, "X: 1\n\n");
    rec(s, FCGI_STDOUT, 2, "body", 4, 0);
    end_req(s, 0, 0);
}
static void b_no_end(sbuf *s)
{
    out_s(s, "Content-Type: text/plain\n\nbody");
}
static void b_overloaded(sbuf *s)
{
    end_req(s, 0, FCGI_OVERLOADED);
}
static void b_nph(sbuf *s)
{
    out_s(s, "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<h1>no</h1>");
    end_req(s, 0, 0);
}
static void b_location(sbuf *s)
{
    out_s(s, "Location: http://example.com/x\r\n\r\n");
    end_req(s, 0, 0);
}
static void b_bytewise_head(sbuf *s)
{
    const char *h = "Content-Length: 3\r\nX-Y: z\r\n\r\nabc";
    for (const char *p = h; *p; p++) rec(s, FCGI_STDOUT, 1, p, 1, 0);
    end_req(s, 0, 0);
}
static void b_clen_over(sbuf *s)
{
    out_s(s, "Content-Length: 5\n\nhello!");
    end_req(s, 0, 0);
}
static void b_clen_short(sbuf *s)
{
    out_s(s, "Content-Length: 5\n\nhel");
    end_req(s, 0, 0);
}
static void b_head_req(sbuf *s)
{
    out_s(s, "Content-Length: 5\n\nhello");
    end_req(s, 0, 0);
}
static void b_trailing(sbuf *s)
{
    out_s(s, "X: 1\n\nok");
    end_req(s, 0, 0);
    out_s(s, "junk");
}
static void b_no_head(sbuf *s)
{
    out_s(s, "X: 1\n");
    end_req(s, 0, 0);
}
static void b_bad_head(sbuf *s)
{
    out_s(s, "Status: 9999\n\n");
    end_req(s, 0, 0);
}
static void b_short_end(sbuf *s)
{
    out_s(s, "X: 1\n\n");
    rec(s, FCGI_END_REQUEST, 1, "\0\0\0\0\0", 5, 0);
}
static void b_huge_head(sbuf *s)
{
    char line[1000];
    memset(line, 'v', sizeof(line));
    memcpy(line, "X-Pad: ", 7);
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 70; i++) rec(s, FCGI_STDOUT, 1, line, sizeof(line), 0);
    out_s(s, "\n");
    end_req(s, 0, 0);
}
static void b_big_head_ok(sbuf *s)
{
    /* 60 KiB of head in many records, the body in the same record as its end */
    char line[1000];
    memset(line, 'v', sizeof(line));
    memcpy(line, "X-Pad: ", 7);
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 60; i++) rec(s, FCGI_STDOUT, 1, line, sizeof(line), 0);
    out_s(s, "\nbody");
    end_req(s, 0, 0);
}

static void b_empty_stdout(sbuf *s)
{
    /* empty STDOUT records before and inside the head (fuzzer find) */
    out_s(s, "");
    out_s(s, "X: 1\n");
    out_s(s, "");
    out_s(s, "\nok");
    end_req(s, 0, 0);
}

static const rcase rcases[] = {
    {"empty_stdout", b_empty_stdout, 0, 1, GW_DONE, 200, "ok", "X", "1", -1, 1, 0},
    {"simple", b_simple, 0, 1, GW_DONE, 200, "hello world", "Content-Type", "text/plain", -1, 1, 0},
    {"padding", b_padding, 0, 1, GW_DONE, 200, "abcd", "Content-Type", "a/b", -1, 1, 0},
    {"stderr", b_stderr, 0, 0, GW_DONE, 500, "fail", "X-A", "1", -1, 0, 0},
    {"unknown", b_unknown_type, 0, 1, GW_DONE, 302, "", "Location", "/next", -1, 1, 0},
    {"wrong_id", b_wrong_id, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"no_end", b_no_end, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"overloaded", b_overloaded, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"nph", b_nph, 0, 1, GW_DONE, 404, "<h1>no</h1>", "Content-Type", "text/html", -1, 1, 0},
    {"location", b_location, 0, 1, GW_DONE, 302, "", "Location", "http://example.com/x", -1, 1, 0},
    {"bytewise", b_bytewise_head, 0, 1, GW_DONE, 200, "abc", "X-Y", "z", 3, 1, 0},
    {"clen_over", b_clen_over, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"clen_short", b_clen_short, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"head_req", b_head_req, 1, 1, GW_DONE, 200, "", "Content-Length", "5", 5, 1, 0},
    {"trailing", b_trailing, 0, 1, GW_DONE, 200, "ok", "X", "1", -1, 0, 12},
    {"no_head", b_no_head, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"bad_head", b_bad_head, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"short_end", b_short_end, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"huge_head", b_huge_head, 0, 1, GW_ERR, 0, NULL, NULL, NULL, 0, 0, 0},
    {"big_head_ok", b_big_head_ok, 0, 1, GW_DONE, 200, "body", "X-Pad", NULL, -1, 1, 0},
};

typedef struct run {
    void *st;
    gw_resp rsp;
    gw_buf in;
    int rc;
} run;

/* Feed `s` in pieces: cut at `split` (0: none) or every `chunk` bytes; eof after the end. */
static void feed(run *r, const rcase *c, const sbuf *s, size_t split, size_t chunk)
{
    memset(r, 0, sizeof(*r));
    r->st = new_state();
    gw_req rq = mkreq(NULL, 0);
    rq.content_length = 0;
    rq.is_head = c->is_head;
    gw_bufq sink = {0};
    ck_assert_int_eq(fcgi_backend_ops.encode_head(r->st, &rq, c->keepalive, &sink), GW_OK);
    gw_bufq_clear(&sink);
    r->rsp.arena = &arena;
    r->rsp.content_length = -1;
    r->rsp.log_tag = "backend test GET /";
    gw_buf_init(&r->in, s->n + 1);
    size_t i = 0;
    r->rc = GW_AGAIN;
    while (r->rc == GW_AGAIN) {
        size_t k = chunk ? chunk : (split > i ? split - i : s->n - i);
        if (k > s->n - i) k = s->n - i;
        gw_buf_compact(&r->in);
        memcpy(r->in.data + r->in.len, s->p + i, k);
        r->in.len += k;
        i += k;
        r->rc = fcgi_backend_ops.parse(r->st, &r->in, i == s->n, &r->rsp);
        if (i == s->n) break;
    }
    ck_assert_msg(r->rc == c->rc, "%s split %zu chunk %zu: rc %d", c->name, split, chunk, r->rc);
    if (c->rc != GW_DONE) return;
    if (c->leftover == 0) {
        ck_assert_uint_eq(i, s->n); /* never done before the END_REQUEST record is complete */
    } else if (i < s->n) {
        /* the junk after END_REQUEST arrives later: still done, but no longer reusable */
        ck_assert_uint_le(s->n - i, c->leftover);
        memcpy(r->in.data + r->in.len, s->p + i, s->n - i);
        r->in.len += s->n - i;
        ck_assert_int_eq(fcgi_backend_ops.parse(r->st, &r->in, 1, &r->rsp), GW_DONE);
    }
    ck_assert(r->rsp.done && r->rsp.head_done);
    ck_assert_int_eq(r->rsp.status, c->status);
    ck_assert_int_eq(r->rsp.content_length, c->clen);
    size_t bl = strlen(c->body);
    ck_assert_uint_eq(r->rsp.body.bytes, bl);
    char got[64];
    gw_bufq_copyout(&r->rsp.body, 0, got, bl);
    ck_assert(memcmp(got, c->body, bl) == 0);
    const gw_header *h = gw_resp_header(&r->rsp, c->hname);
    ck_assert_ptr_nonnull(h);
    if (c->hval) ck_assert(gw_str_eq(h->value, c->hval));
    ck_assert_ptr_null(gw_resp_header(&r->rsp, "Status"));
    ck_assert_int_eq(fcgi_backend_ops.reusable(r->st), c->reusable);
    ck_assert_uint_eq(gw_buf_unread(&r->in), c->leftover);
}

static void run_free(run *r)
{
    gw_bufq_clear(&r->rsp.body);
    gw_buf_free(&r->in);
    free(r->st);
    gw_arena_free(&arena);
}

START_TEST(resp_cases)
{
    const rcase *c = &rcases[_i];
    sbuf s = {0};
    c->build(&s);
    run r;
    gw_log_level = -1;     /* the error cases log; keep the test output readable */
    feed(&r, c, &s, 0, 0); /* whole: several records per read */
    run_free(&r);
    size_t step = s.n > 4096 ? 61 : 1; /* big streams: a sample of split points */
    for (size_t split = 1; split < s.n; split += step) {
        feed(&r, c, &s, split, 0);
        run_free(&r);
    }
    for (size_t chunk = 1; chunk <= 3; chunk++) {
        feed(&r, c, &s, 0, chunk);
        run_free(&r);
    }
    free(s.p);
}
END_TEST

/* STDERR reaches the error log line by line, tagged, across record edges. */
START_TEST(resp_stderr_logged)
{
    char path[] = "/tmp/test_fcgi_logXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(gw_log_open(path), 0);
    gw_log_level = GW_LOG_INFO;
    sbuf s = {0};
    b_stderr(&s);
    run r;
    feed(&r, &rcases[3], &s, 0, 1);
    run_free(&r);
    gw_log_open(NULL);
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    ck_assert_ptr_nonnull(strstr(text, "backend test GET /: fastcgi stderr: PHP Notice: one\n"));
    ck_assert_ptr_nonnull(strstr(text, "fastcgi stderr: PHP Warning: two\n"));
    ck_assert_ptr_nonnull(strstr(text, "fastcgi stderr: tail without newline\n"));
    ck_assert_ptr_null(strstr(text, "?")); /* the \r was stripped, not escaped */
    free(s.p);
}
END_TEST

static Suite *fcgi_suite(void)
{
    Suite *s = suite_create("fcgi");
    TCase *tc = tcase_create("codec");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, codec_header_begin);
    tcase_add_test(tc, codec_pair);
    tcase_add_test(tc, codec_params_stream);
    tcase_add_test(tc, codec_decoder_splits);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, req_golden_minimal);
    tcase_add_test(tc, req_big_params);
    tcase_add_test(tc, req_collision_leaves_out_empty);
    tcase_add_test(tc, req_body_records);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, resp_cases, 0, (int)(sizeof(rcases) / sizeof(rcases[0])));
    tcase_add_test(tc, resp_stderr_logged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fcgi_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
