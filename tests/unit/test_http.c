/* Unit tests of proto/http: request and response heads, request analysis, the chunked decoder,
 * the response writers, and the "http" backend adapter (golden bytes both ways, no sockets). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "proto/http/http_backend.h"
#include "proto/http/http_parse.h"
#include "proto/http/http_write.h"

#define MAXH 32
#define MAXT 1024

/* Inputs are copied into heap buffers of exactly their size, so AddressSanitizer catches any
 * read past the end at every split point. */
static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    if (n) memcpy(p, s, n);
    return p;
}

static void sum_add(char *sum, size_t cap, gw_str a, const char *sep)
{
    size_t l = strlen(sum);
    snprintf(sum + l, cap - l, "%.*s%s", (int)a.n, a.p, sep);
}

static void sum_hdrs(char *sum, size_t cap, const gw_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sum_add(sum, cap, h[i].name, "=");
        sum_add(sum, cap, h[i].value, "|");
    }
}

/* Parse s[0, n); returns the result and writes "METHOD|target|minor|name=value|..." to sum. */
static int req_try(const char *s, size_t n, int *status, char *sum, size_t cap)
{
    char *b = dup_exact(s, n);
    gw_header hdr[MAXH];
    http_req_head h;
    int st = -1;
    int rc = http_parse_request(b, n, &h, hdr, MAXH, MAXT, &st);
    if (sum) sum[0] = '\0';
    if (rc > 0 && sum) {
        snprintf(sum, cap, "%.*s|%.*s|%d|", (int)h.method.n, h.method.p, (int)h.target.n,
                 h.target.p, h.minor);
        sum_hdrs(sum, cap, h.hdr, h.nhdr);
    }
    free(b);
    if (status) *status = st;
    return rc;
}

static const char *const junks[] = {"GET /next HTTP/1.1\r\nHost: h\r\n\r\n", "\x01\xff junk\r\n"};

/* A valid head: whole, every prefix (GW_AGAIN), and followed by junk (same length, same
 * result). `expect` may be NULL when only the length matters. */
static void req_valid(const char *s, size_t n, const char *expect)
{
    char sum[2048], sum2[2048], buf[4096];
    int rc = req_try(s, n, NULL, sum, sizeof(sum));
    ck_assert_int_eq(rc, (int)n);
    if (expect) ck_assert_str_eq(sum, expect);
    for (size_t k = 0; k < n; k++) ck_assert_int_eq(req_try(s, k, NULL, NULL, 0), GW_AGAIN);
    for (size_t j = 0; j < sizeof(junks) / sizeof(junks[0]); j++) {
        size_t jl = strlen(junks[j]);
        ck_assert_uint_lt(n + jl, sizeof(buf));
        memcpy(buf, s, n);
        memcpy(buf + n, junks[j], jl);
        ck_assert_int_eq(req_try(buf, n + jl, NULL, sum2, sizeof(sum2)), (int)n);
        ck_assert_str_eq(sum2, sum);
    }
}

/* An invalid head: GW_ERR with `status` whole and with junk; every prefix either waits or
 * already fails with the same status. */
static void req_bad(const char *s, size_t n, int status)
{
    char buf[8192];
    int st;
    ck_assert_int_eq(req_try(s, n, &st, NULL, 0), GW_ERR);
    ck_assert_int_eq(st, status);
    for (size_t k = 0; k < n; k++) {
        int rc = req_try(s, k, &st, NULL, 0);
        ck_assert(rc == GW_AGAIN || (rc == GW_ERR && st == status));
    }
    memcpy(buf, s, n);
    memcpy(buf + n, "X\r\n\r\n", 5);
    ck_assert_int_eq(req_try(buf, n + 5, &st, NULL, 0), GW_ERR);
    ck_assert_int_eq(st, status);
}

/* ---- request heads ---- */

static const struct {
    const char *in, *sum;
} req_ok[] = {
    {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET|/|1|Host=example.com|"},
    {"\r\n\r\nGET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
     "GET|/a?b=c|1|Host=x|Accept=*/*|"},
    {"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
     "GET|http://example.com:8080/p?q|1|Host=example.com:8080|"},
    {"GET /old HTTP/1.0\r\n\r\n", "GET|/old|0|"},
    {"POST /f HTTP/1.1\r\nHost: h\r\nX-A:   spaced  value \t \r\nX-Empty:\r\nX-Tab:\tv\r\n"
     "Content-Length: 3\r\n\r\n",
     "POST|/f|1|Host=h|X-A=spaced  value|X-Empty=|X-Tab=v|Content-Length=3|"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-U: caf\xc3\xa9 \"q\" (c)\r\n\r\n",
     "GET|/|1|Host=h|X-U=caf\xc3\xa9 \"q\" (c)|"},
    {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS|*|1|Host=h|"},
    {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "CONNECT|h:443|1|Host=h:443|"},
    {"GET /caf\xc3\xa9 HTTP/1.1\r\nhOsT: h\r\n\r\n", "GET|/caf\xc3\xa9|1|hOsT=h|"},
    {"M-SEARCH /x HTTP/1.1\r\nHost: h\r\nX!#$%&'*+.^_`|~: 1\r\n\r\n",
     "M-SEARCH|/x|1|Host=h|X!#$%&'*+.^_`|~=1|"},
};

START_TEST(test_req_valid)
{
    req_valid(req_ok[_i].in, strlen(req_ok[_i].in), req_ok[_i].sum);
}
END_TEST

START_TEST(test_req_methods)
{
    static const char *const m[] = {"GET",     "HEAD",  "POST",  "PUT",      "DELETE",
                                    "OPTIONS", "TRACE", "PATCH", "PROPFIND", "MKCOL"};
    char in[128], sum[128];
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        snprintf(in, sizeof(in), "%s /m HTTP/1.1\r\nHost: h\r\n\r\n", m[i]);
        snprintf(sum, sizeof(sum), "%s|/m|1|Host=h|", m[i]);
        req_valid(in, strlen(in), sum);
    }
}
END_TEST

START_TEST(test_req_pipelined)
{
    const char *s = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\n"
                    "Content-Length: 0\r\n\r\n";
    char sum[256];
    int n1 = req_try(s, strlen(s), NULL, sum, sizeof(sum));
    ck_assert_int_eq(n1, 28);
    ck_assert_str_eq(sum, "GET|/1|1|Host=h|");
    int n2 = req_try(s + n1, strlen(s) - (size_t)n1, NULL, sum, sizeof(sum));
    ck_assert_int_eq(n2, (int)strlen(s) - n1);
    ck_assert_str_eq(sum, "POST|/2|1|Host=h|Content-Length=0|");
}
END_TEST

START_TEST(test_req_limits)
{
    char in[4096];
    /* exactly MAXH fields is fine; one more is 431 */
    size_t n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < MAXH; i++) n += (size_t)snprintf(in + n, sizeof(in) - n, "X-%d: v\r\n", i);
    memcpy(in + n, "\r\n", 3);
    req_valid(in, n + 2, NULL);
    n += (size_t)snprintf(in + n, sizeof(in) - n, "X-more: v\r\n\r\n");
    req_bad(in, n, 431);

    /* a target of MAXT bytes is fine; one more is 414 */
    n = (size_t)snprintf(in, sizeof(in), "GET /");
    memset(in + n, 'a', MAXT - 1);
    n += MAXT - 1;
    n += (size_t)snprintf(in + n, sizeof(in) - n, " HTTP/1.1\r\nHost: h\r\n\r\n");
    req_valid(in, n, NULL);
    n = (size_t)snprintf(in, sizeof(in), "GET /");
    memset(in + n, 'a', MAXT);
    n += MAXT;
    n += (size_t)snprintf(in + n, sizeof(in) - n, " HTTP/1.1\r\nHost: h\r\n\r\n");
    req_bad(in, n, 414);
}
END_TEST

#define S(lit) lit, sizeof(lit) - 1
static const struct {
    const char *in;
    size_t n;
    int status;
} req_ko[] = {
    {S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505},
    {S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505},
    {S("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505},
    {S("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400},
    {S("GET / http/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400},
    {S("GET /\r\n\r\n"), 400},
    {S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("G(ET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /a\x01z HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /a\tz HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /a\x7fz HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /a\0z HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\nHost: h\n\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX: a\0z\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost h\r\n\r\n"), 400},
    {S("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
};

START_TEST(test_req_invalid)
{
    req_bad(req_ko[_i].in, req_ko[_i].n, req_ko[_i].status);
}
END_TEST

/* ---- request analysis ---- */

static int analyze(const char *s, http_req_info *info)
{
    gw_header hdr[MAXH];
    http_req_head h;
    int st;
    req_valid(s, strlen(s), NULL);
    ck_assert_int_gt(http_parse_request(s, strlen(s), &h, hdr, MAXH, MAXT, &st), 0);
    return http_req_analyze(&h, info);
}

static const struct {
    const char *hdrs; /* after "POST / HTTP/1.x\r\n" */
    int minor, status;
} an_ko[] = {
    {"Host: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n", 1, 400},
    {"Host: h\r\nContent-Length: abc\r\n", 1, 400},
    {"Host: h\r\nContent-Length: -1\r\n", 1, 400},
    {"Host: h\r\nContent-Length: +1\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 1 2\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 5, 5\r\n", 1, 400},
    {"Host: h\r\nContent-Length:\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 0x10\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 9223372036854775808\r\n", 1, 400},
    {"Host: h\r\nContent-Length: 99999999999999999999\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding: gzip\r\n", 1, 501},
    {"Host: h\r\nTransfer-Encoding: identity\r\n", 1, 501},
    {"Host: h\r\nTransfer-Encoding: chunked, chunked\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding: gzip, chunked\r\n", 1, 501},
    {"Host: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding: chunked;q=1\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding: \"chunked\"\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding:\r\n", 1, 400},
    {"Host: h\r\nTransfer-Encoding: chunked\r\n", 0, 400},
    {"Content-Length: 0\r\n", 1, 400},
    {"Host: h\r\nHost: h\r\n", 1, 400},
    {"Host: a\r\nhost: b\r\n", 0, 400},
    {"Host: a b\r\n", 1, 400},
    {"Host: a/b\r\n", 1, 400},
    {"Host: user@a\r\n", 1, 400},
    {"Host:\r\n", 1, 400},
    {"Host: \t \r\n", 1, 400},
    {"Host: a:8o\r\n", 1, 400},
    {"Host: a:65536\r\n", 1, 400},
    {"Host: a:1:2\r\n", 1, 400},
    {"Host: user:pw@a\r\n", 1, 400},
    {"Host: a\"b\r\n", 1, 400},
    {"Host: [::1\r\n", 1, 400},
    {"Host: a%2\r\n", 1, 400},
    {"Host: :80\r\n", 0, 400},
    {"Host: a{b}\r\n", 0, 400},
    {"Host: h\r\nExpect: foo\r\n", 1, 417},
    {"Host: h\r\nExpect: 100-continue, foo\r\n", 1, 417},
    {"Host: h\r\nExpect: foo\r\n", 0, 417},
};

START_TEST(test_analyze_invalid)
{
    char in[512];
    http_req_info info;
    snprintf(in, sizeof(in), "POST / HTTP/1.%d\r\n%s\r\n", an_ko[_i].minor, an_ko[_i].hdrs);
    ck_assert_int_eq(analyze(in, &info), an_ko[_i].status);
}
END_TEST

START_TEST(test_analyze_valid)
{
    http_req_info i;
    ck_assert_int_eq(analyze("GET / HTTP/1.1\r\nHost: Example.com:80\r\n\r\n", &i), 0);
    ck_assert(i.keepalive && !i.chunked && !i.upgrade && !i.expect_continue);
    ck_assert_int_eq(i.content_length, -1);
    ck_assert(gw_str_eq(i.host, "Example.com:80"));

    ck_assert_int_eq(analyze("GET / HTTP/1.1\r\nHost: [::1]:8\r\nConnection: keep-alive, Close\r\n"
                             "\r\n",
                             &i),
                     0);
    ck_assert(!i.keepalive);
    ck_assert_int_eq(analyze("GET / HTTP/1.0\r\n\r\n", &i), 0);
    ck_assert(!i.keepalive);
    ck_assert_uint_eq(i.host.n, 0);
    ck_assert_int_eq(analyze("GET / HTTP/1.0\r\nHost:\r\n\r\n", &i), 0); /* as if absent */
    ck_assert_uint_eq(i.host.n, 0);
    ck_assert_int_eq(analyze("GET / HTTP/1.1\r\nHost: [v1.x:y]:0080\r\n\r\n", &i), 0);
    ck_assert_int_eq(analyze("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &i), 0);
    ck_assert(i.keepalive);

    ck_assert_int_eq(analyze("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0042\r\n\r\n", &i), 0);
    ck_assert_int_eq(i.content_length, 42);
    ck_assert_int_eq(
        analyze("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", &i),
        0);
    ck_assert_int_eq(i.content_length, INT64_MAX);
    ck_assert_int_eq(
        analyze("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", &i), 0);
    ck_assert(i.chunked);
    ck_assert_int_eq(i.content_length, -1);
    ck_assert_int_eq(
        analyze("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n", &i), 0);
    ck_assert(i.chunked);

    ck_assert_int_eq(analyze("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n\r\n", &i), 0);
    ck_assert(i.expect_continue);
    ck_assert_int_eq(analyze("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &i), 0);
    ck_assert(!i.expect_continue);

    ck_assert_int_eq(analyze("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                             "Upgrade: websocket\r\n\r\n",
                             &i),
                     0);
    ck_assert(i.upgrade && i.keepalive);
    ck_assert_int_eq(analyze("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", &i), 0);
    ck_assert(!i.upgrade);
    ck_assert_int_eq(
        analyze("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", &i), 0);
    ck_assert(!i.upgrade);
}
END_TEST

/* ---- authority ---- */

static const char *const auth_ok[] = {
    "example.com",
    "Example.COM:8080",
    "a",
    "127.0.0.1",
    "127.0.0.1:65535",
    "h:0",
    "h:",
    "h:00080",
    "[::1]",
    "[::1]:443",
    "[2001:db8::7]",
    "[::ffff:192.0.2.1]:80",
    "[v1.fe:x]",
    "xn--bcher-kva.example",
    "a_b~c-d.e",
    "%41%2e",
    "!$&'()*+,;=",
};

static const char *const auth_ko[] = {
    "",
    ":80",
    "h:8o",
    "h:+80",
    "h:-1",
    "h: 80",
    "h:65536",
    "h:99999999999999999999",
    "h:1:2",
    "user@h",
    "user:pw@h",
    "@h",
    "h/x",
    "h?x",
    "h#x",
    "h x",
    "h\"",
    "h\\x",
    "h{x}",
    "h<x>",
    "h^x",
    "h|x",
    "h`x",
    "h%",
    "h%4",
    "h%zz",
    "[::1",
    "[::1]x",
    "[::1]:x",
    "[::g]",
    "[]",
    "[1.2.3.4]",
    "[::1%25eth0]",
    "[v.x]",
    "[v1.]",
    "[vx.y]",
    "::1",
    "h\x01",
    "h\x7f",
    "h\xc3\xa9",
};

static int auth_check(const char *s, size_t n)
{
    char *b = dup_exact(s, n);
    int rc = http_authority_check((gw_str){b, n});
    free(b);
    return rc;
}

START_TEST(test_authority)
{
    for (size_t i = 0; i < sizeof(auth_ok) / sizeof(auth_ok[0]); i++) {
        const char *a = auth_ok[i];
        size_t n = strlen(a);
        ck_assert_msg(auth_check(a, n) == GW_OK, "%s", a);
        /* junk after a good authority makes it bad: nothing is skipped at the end */
        static const char *const junk[] = {"/", "@x", " ", "?", "\"", ":x", "]"};
        char buf[128];
        for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
            int k = snprintf(buf, sizeof(buf), "%s%s", a, junk[j]);
            if (n && a[n - 1] == ':' && strcmp(junk[j], ":x") == 0) continue;
            ck_assert_msg(auth_check(buf, (size_t)k) == GW_ERR, "%s", buf);
        }
        /* every prefix is read within its bounds, whatever it gives */
        for (size_t k = 0; k < n; k++) (void)auth_check(a, k);
    }
    for (size_t i = 0; i < sizeof(auth_ko) / sizeof(auth_ko[0]); i++) {
        const char *a = auth_ko[i];
        size_t n = strlen(a);
        ck_assert_msg(auth_check(a, n) == GW_ERR, "%s", a);
        for (size_t k = 0; k < n; k++) (void)auth_check(a, k);
    }
}
END_TEST

START_TEST(test_hop_by_hop)
{
    gw_header h[] = {{GW_STR("Connection"), GW_STR("close, X-Foo ,x-bar")},
                     {GW_STR("connection"), GW_STR("X-Baz")}};
    const char *yes[] = {"Connection", "keep-alive",       "TE",    "Trailer", "Transfer-Encoding",
                         "Upgrade",    "Proxy-Connection", "x-foo", "X-BAR",   "X-Baz"};
    const char *no[] = {"Host", "X-Fo", "Content-Length", "Accept", "Proxy", "T"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(http_is_hop_by_hop(gw_str_from(yes[i]), h, 2), "%s", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(!http_is_hop_by_hop(gw_str_from(no[i]), h, 2), "%s", no[i]);
    ck_assert(!http_is_hop_by_hop(GW_STR("X-Foo"), NULL, 0));

    ck_assert(http_list_has(GW_STR("a, B ,c"), "b"));
    ck_assert(http_list_has(GW_STR(",,c\t"), "c"));
    ck_assert(!http_list_has(GW_STR("ab, bc"), "b"));
    ck_assert(!http_list_has(GW_STR(""), "b"));
}
END_TEST

/* ---- response heads ---- */

static int resp_try(const char *s, size_t n, char *sum, size_t cap)
{
    char *b = dup_exact(s, n);
    gw_header hdr[MAXH];
    http_resp_head h;
    int rc = http_parse_response(b, n, &h, hdr, MAXH);
    if (sum) sum[0] = '\0';
    if (rc > 0 && sum) {
        snprintf(sum, cap, "%d|%d|%.*s|", h.minor, h.status, (int)h.reason.n, h.reason.p);
        sum_hdrs(sum, cap, h.hdr, h.nhdr);
    }
    free(b);
    return rc;
}

static const struct {
    const char *in, *sum;
} resp_ok[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "1|200|OK|Content-Length=2|"},
    {"HTTP/1.0 404 Not Found\r\nServer: x \r\nX-E:\r\n\r\n", "0|404|Not Found|Server=x|X-E=|"},
    {"HTTP/1.1 204 \r\n\r\n", "1|204||"},
    {"HTTP/1.1 200\r\nA: b\r\n\r\n", "1|200||A=b|"},
    {"HTTP/1.1 599 Caf\xc3\xa9\tOK\r\n\r\n", "1|599|Caf\xc3\xa9\tOK|"},
    {"HTTP/1.1 100 Continue\r\n\r\n", "1|100|Continue|"},
};

START_TEST(test_resp_valid)
{
    const char *s = resp_ok[_i].in;
    size_t n = strlen(s);
    char sum[512], sum2[512], buf[512];
    ck_assert_int_eq(resp_try(s, n, sum, sizeof(sum)), (int)n);
    ck_assert_str_eq(sum, resp_ok[_i].sum);
    for (size_t k = 0; k < n; k++) ck_assert_int_eq(resp_try(s, k, NULL, 0), GW_AGAIN);
    memcpy(buf, s, n);
    memcpy(buf + n, "HTTP/1.1 200 OK\r\n\x01", 18);
    ck_assert_int_eq(resp_try(buf, n + 18, sum2, sizeof(sum2)), (int)n);
    ck_assert_str_eq(sum2, sum);
}
END_TEST

static const struct {
    const char *in;
    size_t n;
} resp_ko[] = {
    {S("HTTP/1.1 20 OK\r\n\r\n")},
    {S("HTTP/1.1 2000 OK\r\n\r\n")},
    {S("HTTP/1.1 099 X\r\n\r\n")},
    {S("HTTP/1.1 600 X\r\n\r\n")},
    {S("HTTP/2.0 200 OK\r\n\r\n")},
    {S("HTTP/1.2 200 OK\r\n\r\n")},
    {S("HTTP/1.1  200 OK\r\n\r\n")},
    {S("HTTP/1.1 200 OK\nA: b\r\n\r\n")},
    {S("HTTP/1.1 200 O\x01K\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nA : b\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n")},
    {S("\r\nHTTP/1.1 200 OK\r\n\r\n")},
    {S("ICY 200 OK\r\n\r\n")},
};

START_TEST(test_resp_invalid)
{
    const char *s = resp_ko[_i].in;
    size_t n = resp_ko[_i].n;
    ck_assert_int_eq(resp_try(s, n, NULL, 0), GW_ERR);
    for (size_t k = 0; k < n; k++) {
        int rc = resp_try(s, k, NULL, 0);
        ck_assert(rc == GW_AGAIN || rc == GW_ERR);
    }
}
END_TEST

START_TEST(test_resp_too_many)
{
    char in[2048];
    size_t n = (size_t)snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= MAXH; i++) n += (size_t)snprintf(in + n, sizeof(in) - n, "X%d: v\r\n", i);
    n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
    ck_assert_int_eq(resp_try(in, n, NULL, 0), GW_ERR);
}
END_TEST

/* ---- chunked decoder ---- */

/* Decode `in` fed as the pieces [0, split) and [split, n) (split 0: byte by byte). Returns the
 * last result; the decoded bytes go to out, the input bytes used to *used. */
static int chunk_run_limit(const char *in, size_t n, size_t split, int64_t limit, char *out,
                           size_t *outlen, size_t *used, int *too_big)
{
    http_chunked c;
    http_chunked_init(&c);
    if (limit >= 0) http_chunked_limit(&c, (uint64_t)limit);
    size_t pos = 0;
    int rc = GW_AGAIN;
    *outlen = *used = 0;
    while (pos < n && rc == GW_AGAIN) {
        size_t k = split ? (pos < split ? split - pos : n - pos) : 1;
        char *b = dup_exact(in + pos, k);
        size_t cons = 0, dl = 0;
        rc = http_chunked_decode(&c, b, k, &cons, &dl);
        ck_assert_uint_le(dl, cons);
        if (rc == GW_AGAIN) ck_assert_uint_eq(cons, k);
        memcpy(out + *outlen, b, dl);
        *outlen += dl;
        *used += cons;
        pos += k;
        free(b);
    }
    if (rc == GW_DONE) { /* once done, it stays done and takes nothing more */
        char x[4] = "5\r\n";
        size_t cons = 9, dl = 9;
        ck_assert_int_eq(http_chunked_decode(&c, x, 3, &cons, &dl), GW_DONE);
        ck_assert_uint_eq(cons + dl, 0);
    }
    if (too_big) *too_big = c.too_big;
    if (rc != GW_ERR) ck_assert(!c.too_big);
    return rc;
}

static int chunk_run(const char *in, size_t n, size_t split, char *out, size_t *outlen,
                     size_t *used)
{
    return chunk_run_limit(in, n, split, -1, out, outlen, used, NULL);
}

static const struct {
    const char *in, *out;
} ch_ok[] = {
    {"5\r\nhello\r\n0\r\n\r\n", "hello"},
    {"5;name=val;x\r\nhello\r\n6 ; a=\"q\"\r\n world\r\n0\r\n\r\n", "hello world"},
    {"A\r\n0123456789\r\na\r\nabcdefghij\r\nF\r\n---------------\r\n0\r\n\r\n",
     "0123456789abcdefghij---------------"},
    {"3\r\nabc\r\n0\r\nX-T: 1\r\nY: two\r\n\r\n", "abc"},
    {"000\r\n\r\n", ""},
    {"0;ext\r\n\r\n", ""},
    {"0005\r\nhello\r\n1\r\n\n\r\n0\r\n\r\n", "hello\n"},
    {"00000000000000000000000000000000000000001\r\nx\r\n0\r\n\r\n", "x"},
};

START_TEST(test_chunked_valid)
{
    const char *s = ch_ok[_i].in;
    size_t n = strlen(s), ol, used;
    char out[256], buf[256];
    for (size_t split = 0; split <= n; split++) {
        ck_assert_int_eq(chunk_run(s, n, split, out, &ol, &used), GW_DONE);
        ck_assert_uint_eq(used, n);
        ck_assert_uint_eq(ol, strlen(ch_ok[_i].out));
        ck_assert(memcmp(out, ch_ok[_i].out, ol) == 0);
    }
    /* what follows the trailer section belongs to the next message */
    memcpy(buf, s, n);
    memcpy(buf + n, "GET / HTTP/1.1\r\n", 16);
    for (size_t split = 0; split <= n + 16; split++) {
        ck_assert_int_eq(chunk_run(buf, n + 16, split, out, &ol, &used), GW_DONE);
        ck_assert_uint_eq(used, n);
        ck_assert_uint_eq(ol, strlen(ch_ok[_i].out));
    }
    /* every proper prefix wants more */
    for (size_t k = 1; k < n; k++) ck_assert_int_eq(chunk_run(s, k, k, out, &ol, &used), GW_AGAIN);
}
END_TEST

START_TEST(test_chunked_big)
{
    size_t dl = 40000, n = 0, ol, used;
    char *in = malloc(dl + 64), *out = malloc(dl + 64);
    n += (size_t)sprintf(in, "9C40\r\n");
    for (size_t i = 0; i < dl; i++) in[n + i] = (char)('a' + i % 26);
    n += dl;
    n += (size_t)sprintf(in + n, "\r\n0\r\n\r\n");
    size_t splits[] = {0, 1, 5, 6, 7, 100, 20000, dl + 6, dl + 7, dl + 8, n - 1};
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        ck_assert_int_eq(chunk_run(in, n, splits[i], out, &ol, &used), GW_DONE);
        ck_assert_uint_eq(ol, dl);
        ck_assert_uint_eq(used, n);
        ck_assert(memcmp(out, in + 6, dl) == 0);
    }
    free(in);
    free(out);
}
END_TEST

static const struct {
    const char *in;
    size_t n;
} ch_ko[] = {
    {S("g\r\n")},
    {S("\r\n")},
    {S(";x\r\n")},
    {S("-1\r\n")},
    {S(" 5\r\nhello\r\n0\r\n\r\n")},
    {S("0x5\r\nhello\r\n0\r\n\r\n")},
    {S("5 x\r\nhello\r\n0\r\n\r\n")},
    {S("5;\x01\r\nhello\r\n0\r\n\r\n")},
    {S("5\r\nhelloX\r\n0\r\n\r\n")},
    {S("5\r\nhelloX\n0\r\n\r\n")},
    {S("5\r\nhello\n\n0\r\n\r\n")},
    {S("5\r\nhello\rX0\r\n\r\n")},
    {S("5\nhello\r\n0\r\n\r\n")},
    {S("5\r\rhello\r\n0\r\n\r\n")},
    {S("5\r\nhello\n0\r\n\r\n")},
    {S("5\r\nhello\r\n0\r\n\n")},
    {S("5\r\nhello\r\n0\r\nX: y\n\r\n")},
    {S("5\r\nhello\r\n0\r\nX: \x01\r\n\r\n")},
    {S("0\r\n\rX")},
    {S("fffffffffffffffff\r\n")},
    {S("8000000000000000\r\n")},
};

START_TEST(test_chunked_invalid)
{
    const char *s = ch_ko[_i].in;
    size_t n = ch_ko[_i].n, ol, used;
    char out[256];
    for (size_t split = 0; split <= n; split++)
        ck_assert_int_eq(chunk_run(s, n, split, out, &ol, &used), GW_ERR);
}
END_TEST

/* With a limit, a chunk size that takes the body past it fails at once (too_big), at every split
 * and whatever follows; up to the limit exactly is fine. */
static const struct {
    const char *in;
    int64_t limit;
    int rc;      /* GW_DONE, GW_AGAIN (wants the data), or GW_ERR with too_big */
    size_t stop; /* for GW_ERR: input bytes up to and including the byte after the size */
} ch_lim[] = {
    {"2540BE400\r\n", 1048576, GW_ERR, 10}, /* 10 GB against 1 MiB */
    {"2540be400;ext\r\nxx", 1048576, GW_ERR, 10},
    {"2540be400 ;ext\r\nxx", 1048576, GW_ERR, 10},
    {"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 10, GW_DONE, 0},
    {"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 9, GW_ERR, 12},
    {"00000000000000000005\r\nhello\r\n0\r\n\r\n", 5, GW_DONE, 0},
    {"6\r\nhello!\r\n0\r\n\r\n", 5, GW_ERR, 2},
    {"1\r\nx\r\n", 0, GW_ERR, 2},
    {"0\r\n\r\n", 0, GW_DONE, 0},
    {"fffffffffffffff\r\n", 0x7fffffffffffffffLL, GW_AGAIN, 0}, /* fits: waits for data */
};

START_TEST(test_chunked_limit)
{
    const char *s = ch_lim[_i].in;
    size_t n = strlen(s), ol, used;
    char *out = malloc(n + 64), buf[256];
    int big;
    if (ch_lim[_i].rc == GW_AGAIN) {
        for (size_t split = 0; split <= n; split++)
            ck_assert_int_eq(chunk_run_limit(s, n, split, ch_lim[_i].limit, out, &ol, &used, &big),
                             GW_AGAIN);
        free(out);
        return;
    }
    for (size_t split = 0; split <= n; split++) {
        int rc = chunk_run_limit(s, n, split, ch_lim[_i].limit, out, &ol, &used, &big);
        ck_assert_int_eq(rc, ch_lim[_i].rc);
        if (rc == GW_ERR) {
            ck_assert(big);
            ck_assert_uint_eq(used, ch_lim[_i].stop);
        }
    }
    /* the same with bytes after it */
    ck_assert_uint_lt(n + 16, sizeof(buf));
    memcpy(buf, s, n);
    memcpy(buf + n, "ffffff\r\nGET / H", 16);
    for (size_t split = 0; split <= n + 16; split++) {
        int rc = chunk_run_limit(buf, n + 16, split, ch_lim[_i].limit, out, &ol, &used, &big);
        ck_assert_int_eq(rc, ch_lim[_i].rc);
        if (rc == GW_ERR) ck_assert(big);
        if (rc == GW_DONE) ck_assert_uint_eq(used, n);
    }
    /* the prefix before the end of the size only waits */
    if (ch_lim[_i].rc == GW_ERR)
        ck_assert_int_eq(
            chunk_run_limit(s, ch_lim[_i].stop - 1, 0, ch_lim[_i].limit, out, &ol, &used, &big),
            GW_AGAIN);
    /* a malformed body is still 400, not 413; so is a size too long for 63 bits, or one run into
     * a bad byte */
    ck_assert_int_eq(chunk_run_limit("zz\r\n", 4, 0, 1, out, &ol, &used, &big), GW_ERR);
    ck_assert(!big);
    ck_assert_int_eq(chunk_run_limit(S("ffffffffffffffffff1\r\n"), 0, 1, out, &ol, &used, &big),
                     GW_ERR);
    ck_assert(!big);
    ck_assert_int_eq(chunk_run_limit(S("ffx\r\n"), 0, 1, out, &ol, &used, &big), GW_ERR);
    ck_assert(!big);
    free(out);
}
END_TEST

START_TEST(test_chunked_long_lines)
{
    size_t n, ol, used;
    char *in = malloc(10000), *out = malloc(10000);
    /* a size line of 4096 bytes is fine, one longer is not */
    n = (size_t)sprintf(in, "1;");
    memset(in + n, 'e', 4092);
    n += 4092;
    n += (size_t)sprintf(in + n, "\r\nx\r\n0\r\n\r\n");
    ck_assert_int_eq(chunk_run(in, n, 0, out, &ol, &used), GW_DONE);
    ck_assert_int_eq(chunk_run(in, n, 1000, out, &ol, &used), GW_DONE);
    n = (size_t)sprintf(in, "1;");
    memset(in + n, 'e', 5000);
    n += 5000;
    n += (size_t)sprintf(in + n, "\r\nx\r\n0\r\n\r\n");
    ck_assert_int_eq(chunk_run(in, n, 0, out, &ol, &used), GW_ERR);
    ck_assert_int_eq(chunk_run(in, n, 3000, out, &ol, &used), GW_ERR);
    /* likewise a trailer line */
    n = (size_t)sprintf(in, "0\r\nX: ");
    memset(in + n, 't', 5000);
    n += 5000;
    n += (size_t)sprintf(in + n, "\r\n\r\n");
    ck_assert_int_eq(chunk_run(in, n, 0, out, &ol, &used), GW_ERR);
    free(in);
    free(out);
}
END_TEST

/* ---- writers ---- */

static char *q_str(gw_bufq *q)
{
    char *s = malloc(q->bytes + 1);
    ck_assert_uint_eq(gw_bufq_copyout(q, 0, s, q->bytes), q->bytes);
    s[q->bytes] = '\0';
    return s;
}

#define ASSERT_Q(q, lit)                                                                           \
    do {                                                                                           \
        char *got_ = q_str(q);                                                                     \
        ck_assert_str_eq(got_, lit);                                                               \
        free(got_);                                                                                \
    } while (0)

START_TEST(test_write)
{
    gw_bufq q = {0};
    ck_assert_str_eq(http_reason(200), "OK");
    ck_assert_str_eq(http_reason(404), "Not Found");
    ck_assert_str_eq(http_reason(503), "Service Unavailable");
    ck_assert_str_eq(http_reason(299), "Unknown");
    http_write_status(&q, 1, 200);
    http_write_status(&q, 1, 431);
    http_write_status(&q, 0, 999);
    http_write_header(&q, GW_STR("Content-Type"), GW_STR("text/plain"));
    http_write_header(&q, GW_STR("X-Empty"), GW_STR_NULL);
    http_write_header_u64(&q, GW_STR("Content-Length"), 0);
    http_write_header_u64(&q, GW_STR("Content-Length"), UINT64_MAX);
    http_write_chunk_head(&q, 0);
    http_write_chunk_head(&q, 0x1f);
    http_write_chunk_head(&q, 0xabcdef12);
    http_write_crlf(&q);
    http_write_last_chunk(&q);
    ASSERT_Q(&q, "HTTP/1.1 200 OK\r\nHTTP/1.1 431 Request Header Fields Too Large\r\n"
                 "HTTP/1.0 999 Unknown\r\nContent-Type: text/plain\r\nX-Empty: \r\n"
                 "Content-Length: 0\r\nContent-Length: 18446744073709551615\r\n"
                 "0\r\n1f\r\nabcdef12\r\n\r\n0\r\n\r\n");
    gw_bufq_clear(&q);

    /* lines that straddle a block boundary come out whole */
    char big[GW_BLK_SIZE];
    memset(big, 'v', sizeof(big));
    gw_bufq_append(&q, big, GW_BLK_SIZE - 5);
    http_write_header(&q, GW_STR("Name"), (gw_str){big, 100});
    ck_assert_uint_eq(q.bytes, GW_BLK_SIZE - 5 + 4 + 2 + 100 + 2);
    char tail[8];
    gw_bufq_copyout(&q, GW_BLK_SIZE - 5, tail, 7);
    ck_assert(memcmp(tail, "Name: v", 7) == 0);
    gw_bufq_clear(&q);
}
END_TEST

/* ---- the "http" backend adapter: requests ---- */

static gw_endpoint ep_client = {"192.0.2.7", "51000", 0};
static gw_endpoint ep_server = {"127.0.0.1", "8080", 0};

static void req_init(gw_req *rq, const char *method, const char *target, gw_header *h, size_t n)
{
    memset(rq, 0, sizeof(*rq));
    rq->method = gw_str_from(method);
    rq->target = gw_str_from(target);
    rq->minor = 1;
    rq->hdr = h;
    rq->nhdr = n;
    rq->scheme = GW_STR("http");
    rq->client = &ep_client;
    rq->server = &ep_server;
    rq->is_head = strcmp(method, "HEAD") == 0;
    const gw_header *host = gw_req_header(rq, "host");
    if (host) rq->host_full = host->value;
}

/* Encode the head with a fresh state; returns the bytes (malloc'd), keeps the state in st. */
static char *encode(void *st, const gw_req *rq, int keepalive)
{
    gw_bufq q = {0};
    memset(st, 0, http_backend_ops.state_size);
    ck_assert_int_eq(http_backend_ops.encode_head(st, rq, keepalive, &q), GW_OK);
    char *s = q_str(&q);
    gw_bufq_clear(&q);
    return s;
}

START_TEST(test_encode_get)
{
    gw_header h[] = {
        {GW_STR("Host"), GW_STR("example.com:8080")},
        {GW_STR("User-Agent"), GW_STR("t/1")},
        {GW_STR("Connection"), GW_STR("keep-alive, X-Secret")},
        {GW_STR("X-Secret"), GW_STR("s")},
        {GW_STR("Keep-Alive"), GW_STR("300")},
        {GW_STR("X-Forwarded-For"), GW_STR("10.0.0.1")},
        {GW_STR("Accept"), GW_STR("*/*")},
        {GW_STR("x-forwarded-for"), GW_STR("10.0.0.2, 10.0.0.3")},
        {GW_STR("X-Forwarded-Proto"), GW_STR("evil")},
        {GW_STR("X-Forwarded-Host"), GW_STR("evil")},
        {GW_STR("Proxy-Connection"), GW_STR("x")},
        {GW_STR("TE"), GW_STR("trailers")},
        {GW_STR("Expect"), GW_STR("100-continue")},
    };
    gw_req rq;
    char st[256];
    ck_assert_uint_le(http_backend_ops.state_size, sizeof(st));
    ck_assert_str_eq(http_backend_ops.name, "http");
    ck_assert(http_backend_ops.flags & GW_BE_KEEPALIVE);
    req_init(&rq, "GET", "/app/x?y=1", h, sizeof(h) / sizeof(h[0]));
    rq.scheme = GW_STR("https");
    char *s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "GET /app/x?y=1 HTTP/1.1\r\n"
                        "Host: example.com:8080\r\n"
                        "User-Agent: t/1\r\n"
                        "Accept: */*\r\n"
                        "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n"
                        "X-Forwarded-Proto: https\r\n"
                        "X-Forwarded-Host: example.com:8080\r\n"
                        "\r\n");
    free(s);
}
END_TEST

/* Look-alikes of owned fields and Proxy never reach an HTTP backend, from the client or from
 * rewrite-request. */
START_TEST(test_encode_lookalikes)
{
    gw_header h[] = {
        {GW_STR("Host"), GW_STR("h")},
        {GW_STR("Content_Length"), GW_STR("99")},
        {GW_STR("Transfer_Encoding"), GW_STR("chunked")},
        {GW_STR("Proxy"), GW_STR("http://evil:1/")},
        {GW_STR("X_Forwarded_For"), GW_STR("6.6.6.6")},
        {GW_STR("x.forwarded.host"), GW_STR("evil")},
        {GW_STR("Keep_Alive"), GW_STR("1")},
        {GW_STR("Content-Type"), GW_STR("text/plain")},
        {GW_STR("X_Custom"), GW_STR("kept")},
    };
    gw_header extra[] = {{GW_STR("Proxy_Connection"), GW_STR("x")},
                         {GW_STR("Content_Type"), GW_STR("y")}};
    gw_req rq;
    char st[256];
    req_init(&rq, "POST", "/p", h, sizeof(h) / sizeof(h[0]));
    rq.extra = extra;
    rq.nextra = 2;
    rq.content_length = 2;
    char *s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "POST /p HTTP/1.1\r\n"
                        "Host: h\r\n"
                        "Content-Type: text/plain\r\n"
                        "X_Custom: kept\r\n"
                        "X-Forwarded-For: 192.0.2.7\r\n"
                        "X-Forwarded-Proto: http\r\n"
                        "X-Forwarded-Host: h\r\n"
                        "Content-Length: 2\r\n"
                        "\r\n");
    free(s);
}
END_TEST

START_TEST(test_encode_post)
{
    gw_header h[] = {
        {GW_STR("Host"), GW_STR("h")},           {GW_STR("User-Agent"), GW_STR("a")},
        {GW_STR("Content-Length"), GW_STR("5")}, {GW_STR("user-agent"), GW_STR("b")},
        {GW_STR("Connection"), GW_STR("host")},
    };
    gw_header extra[] = {
        {GW_STR("User-Agent"), GW_STR("rw")},       {GW_STR("X-New"), GW_STR("1")},
        {GW_STR("_uri"), GW_STR("/ignored")},       {GW_STR("Content-Length"), GW_STR("99")},
        {GW_STR("X-Forwarded-Proto"), GW_STR("x")}, {GW_STR("x-new"), GW_STR("2")},
    };
    gw_req rq;
    char st[256];
    req_init(&rq, "POST", "/orig", h, sizeof(h) / sizeof(h[0]));
    rq.backend_target = GW_STR("/rewritten");
    rq.extra = extra;
    rq.nextra = sizeof(extra) / sizeof(extra[0]);
    rq.content_length = 5;
    char *s = encode(st, &rq, 0);
    ck_assert_str_eq(s, "POST /rewritten HTTP/1.1\r\n"
                        "Host: h\r\n"
                        "User-Agent: rw\r\n"
                        "X-New: 1\r\n"
                        "x-new: 2\r\n" /* every result of a name goes out, in order */
                        "X-Forwarded-For: 192.0.2.7\r\n"
                        "X-Forwarded-Proto: x\r\n"
                        "X-Forwarded-Host: h\r\n"
                        "Content-Length: 5\r\n"
                        "Connection: close\r\n"
                        "\r\n");
    free(s);

    /* the body moves as is; bytes beyond the announced length never go out */
    gw_bufq body = {0}, out = {0};
    gw_bufq_append(&body, "hel", 3);
    ck_assert_int_eq(http_backend_ops.encode_body(st, &body, 0, &out), GW_OK);
    gw_bufq_append(&body, "loEXTRA", 7);
    ck_assert_int_eq(http_backend_ops.encode_body(st, &body, 1, &out), GW_OK);
    ck_assert_uint_eq(body.bytes, 0);
    ASSERT_Q(&out, "hello");
    gw_bufq_clear(&out);
}
END_TEST

START_TEST(test_encode_chunked)
{
    gw_header h[] = {{GW_STR("Host"), GW_STR("h")},
                     {GW_STR("Transfer-Encoding"), GW_STR("chunked")},
                     {GW_STR("Content-Type"), GW_STR("text/plain")}};
    gw_req rq;
    char st[256];
    req_init(&rq, "PUT", "/up", h, 3);
    rq.chunked = 1;
    rq.content_length = -1;
    char *s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "PUT /up HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
                        "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
                        "X-Forwarded-Host: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    free(s);
    gw_bufq body = {0}, out = {0};
    gw_bufq_append(&body, "abc", 3);
    http_backend_ops.encode_body(st, &body, 0, &out);
    http_backend_ops.encode_body(st, &body, 0, &out); /* nothing: no empty chunk */
    gw_bufq_append(&body, "abcdefghijklmnopqrstuvwxyz", 26);
    http_backend_ops.encode_body(st, &body, 0, &out);
    http_backend_ops.encode_body(st, &body, 1, &out);
    ASSERT_Q(&out, "3\r\nabc\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
    gw_bufq_clear(&out);
    gw_bufq_append(&body, "x", 1);
    http_backend_ops.encode_body(st, &body, 1, &out); /* after the end: dropped */
    ck_assert_uint_eq(out.bytes + body.bytes, 0);

    /* data and the end in the same call */
    s = encode(st, &rq, 1);
    free(s);
    gw_bufq_append(&body, "xy", 2);
    http_backend_ops.encode_body(st, &body, 1, &out);
    ASSERT_Q(&out, "2\r\nxy\r\n0\r\n\r\n");
    gw_bufq_clear(&out);
}
END_TEST

START_TEST(test_encode_no_host)
{
    gw_endpoint v6 = {"::1", "8080", 0}, ux = {"/run/p.sock", "", 1};
    gw_header h[] = {{GW_STR("Content-Length"), GW_STR("0")}};
    gw_req rq;
    char st[256];
    req_init(&rq, "GET", "/", h, 1);
    rq.minor = 0;
    rq.server = &v6;
    rq.client = &v6;
    char *s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX-Forwarded-For: ::1\r\n"
                        "X-Forwarded-Proto: http\r\nContent-Length: 0\r\n\r\n");
    free(s);
    req_init(&rq, "HEAD", "/", NULL, 0);
    rq.server = &ux;
    s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "HEAD / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 192.0.2.7\r\n"
                        "X-Forwarded-Proto: http\r\n\r\n");
    free(s);
    req_init(&rq, "GET", "/", NULL, 0);
    s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Forwarded-For: 192.0.2.7\r\n"
                        "X-Forwarded-Proto: http\r\n\r\n");
    free(s);
    gw_header extra[] = {{GW_STR("Host"), GW_STR("rewritten")}};
    rq.extra = extra;
    rq.nextra = 1;
    s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "GET / HTTP/1.1\r\nHost: rewritten\r\nX-Forwarded-For: 192.0.2.7\r\n"
                        "X-Forwarded-Proto: http\r\n\r\n");
    free(s);
}
END_TEST

START_TEST(test_encode_upgrade)
{
    gw_header h[] = {{GW_STR("Host"), GW_STR("h")},
                     {GW_STR("Connection"), GW_STR("Upgrade")},
                     {GW_STR("Upgrade"), GW_STR("websocket")},
                     {GW_STR("Sec-WebSocket-Key"), GW_STR("k")}};
    gw_req rq;
    char st[256];
    req_init(&rq, "GET", "/ws", h, 4);
    rq.upgrade = 1;
    char *s = encode(st, &rq, 1);
    ck_assert_str_eq(s, "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\n"
                        "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
                        "X-Forwarded-Host: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    free(s);
}
END_TEST

/* ---- the "http" backend adapter: responses ---- */

typedef struct rt {
    void *st;
    gw_arena arena;
    gw_resp rsp;
    gw_buf in;
} rt;

static void rt_open(rt *t, int is_head, int upgrade, int keepalive, size_t cap)
{
    gw_header h[] = {{GW_STR("Host"), GW_STR("h")}};
    gw_req rq;
    memset(t, 0, sizeof(*t));
    t->st = calloc(1, http_backend_ops.state_size);
    gw_buf_init(&t->in, cap);
    t->rsp.arena = &t->arena;
    t->rsp.log_tag = "test backend";
    req_init(&rq, is_head ? "HEAD" : "GET", "/", h, 1);
    rq.upgrade = upgrade;
    char *s = encode(t->st, &rq, keepalive);
    free(s);
}

static void rt_close(rt *t)
{
    free(t->st);
    gw_buf_free(&t->in);
    gw_bufq_clear(&t->rsp.body);
    gw_arena_free(&t->arena);
}

static int rt_feed(rt *t, const char *p, size_t n, int eof)
{
    if (gw_buf_room(&t->in) < n) gw_buf_compact(&t->in);
    ck_assert_uint_ge(gw_buf_room(&t->in), n);
    if (n) memcpy(t->in.data + t->in.len, p, n);
    t->in.len += n;
    return http_backend_ops.parse(t->st, &t->in, eof, &t->rsp);
}

static const struct rcase {
    const char *in;
    unsigned head : 1, upgrade : 1, eof : 1;
    int status;
    int64_t cl;
    const char *body, *hdrs;
    size_t left; /* bytes after the response, left in `in` */
    int reuse;
} rcases[] = {
    {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
     "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello",
     0, 0, 0, 200, 5, "hello", "Content-Type=text/plain|", 0, 1},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA", 0, 0, 0, 200, 2, "hi", "", 5, 0},
    {"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhello\r\n"
     "6;e=1\r\n world\r\n0\r\nT: x\r\n\r\n",
     0, 0, 0, 201, -1, "hello world", "X-A=1|", 0, 1},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\nJUNK", 0, 0, 0, 200,
     -1, "z", "", 4, 0},
    {"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of it", 0, 0, 1, 200, -1, "all of it", "X-A=1|", 0, 0},
    {"HTTP/1.0 200 OK\r\n\r\n", 0, 0, 1, 200, -1, "", "", 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 1, 0, 0, 200, 1234, "", "", 0, 1},
    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 1, 0, 0, 200, 3, "", "", 3, 0},
    {"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", 0, 0, 0, 204, -1, "", "X-A=1|", 0, 1},
    {"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 50\r\n\r\n", 0, 0, 0, 304, 50, "",
     "ETag=\"x\"|", 0, 1},
    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     0, 0, 0, 200, 2, "ok", "", 0, 1},
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Accept: abc\r\n\r\n\x81\x05hello",
     0, 1, 0, 101, -1, "", "Upgrade=websocket|Sec-WebSocket-Accept=abc|", 7, 0},
    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 1, 0, 200, 0,
     "", "", 0, 0},
    {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 0, 0, 0, 200, 1, "x", "",
     0, 0},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 0, 0, 200, 1, "x", "", 0, 0},
    {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 0, 0, 0, 200, 1,
     "x", "", 0, 1},
    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0, 200, 3, "abc",
     "", 0, 1},
    {"HTTP/1.1 404 Not Found\r\nConnection: X-Private\r\nX-Private: s\r\nX-Public: p\r\n"
     "Content-Length: 0\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
     0, 0, 0, 404, 0, "", "X-Public=p|Set-Cookie=a=1|Set-Cookie=b=2|", 0, 1},
};

static void rcase_check(rt *t, const struct rcase *c, int rc, size_t n)
{
    char sum[512] = "", body[512];
    ck_assert_int_eq(rc, GW_DONE);
    ck_assert(t->rsp.head_done && t->rsp.done);
    ck_assert_int_eq(t->rsp.status, c->status);
    ck_assert_int_eq(t->rsp.content_length, c->cl);
    ck_assert_int_eq(t->rsp.upgrade, c->status == 101);
    sum_hdrs(sum, sizeof(sum), t->rsp.hdr, t->rsp.nhdr);
    ck_assert_str_eq(sum, c->hdrs);
    ck_assert_uint_eq(t->rsp.body.bytes, strlen(c->body));
    gw_bufq_copyout(&t->rsp.body, 0, body, t->rsp.body.bytes);
    ck_assert(memcmp(body, c->body, strlen(c->body)) == 0);
    ck_assert_uint_eq(gw_buf_unread(&t->in), c->left);
    if (c->left) ck_assert(memcmp(t->in.data + t->in.off, c->in + n - c->left, c->left) == 0);
    ck_assert_int_eq(http_backend_ops.reusable(t->st), c->reuse);
}

START_TEST(test_resp_adapter)
{
    const struct rcase *c = &rcases[_i];
    size_t n = strlen(c->in);
    rt t;
    for (size_t split = 0; split <= n; split++) {
        rt_open(&t, c->head, c->upgrade, 1, 4096);
        int rc = rt_feed(&t, c->in, split, 0);
        ck_assert(rc == GW_AGAIN || rc == GW_DONE);
        rc = rt_feed(&t, c->in + split, n - split, 0);
        if (c->eof) {
            ck_assert_int_eq(rc, GW_AGAIN);
            rc = rt_feed(&t, NULL, 0, 1);
        }
        rcase_check(&t, c, rc, n);
        rt_close(&t);
    }
    /* byte by byte: GW_AGAIN exactly until the last byte of the response */
    rt_open(&t, c->head, c->upgrade, 1, 4096);
    int rc = GW_AGAIN;
    for (size_t i = 0; i < n; i++) {
        rc = rt_feed(&t, c->in + i, 1, 0);
        int complete = !c->eof && i + 1 >= n - c->left;
        ck_assert_int_eq(rc, complete ? GW_DONE : GW_AGAIN);
    }
    if (c->eof) rc = rt_feed(&t, NULL, 0, 1);
    rcase_check(&t, c, rc, n);
    /* header strings live in the arena, not in the input buffer */
    memset(t.in.data, 'Z', t.in.cap);
    char sum[512] = "";
    sum_hdrs(sum, sizeof(sum), t.rsp.hdr, t.rsp.nhdr);
    ck_assert_str_eq(sum, c->hdrs);
    rt_close(&t);
}
END_TEST

static const struct {
    const char *in;
    unsigned upgrade : 1, eof : 1;
} rbad[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0},
    {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 0, 0},
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0, 0},
    {"HTTP/1.1 2OO OK\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nX : y\r\n\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, 1},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 0, 1},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0, 1},
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConte", 1, 1},
    {"HTTP/1.1 200 OK\r\nContent-Le", 0, 1},
    {"HTTP/1.1 100 Continue\r\n\r\n", 0, 1},
    {"", 0, 1},
};

START_TEST(test_resp_adapter_bad)
{
    const char *s = rbad[_i].in;
    size_t n = strlen(s);
    rt t;
    for (size_t split = 0; split <= n; split++) {
        rt_open(&t, 0, rbad[_i].upgrade, 1, 4096);
        int rc = rt_feed(&t, s, split, 0);
        if (rc == GW_AGAIN) rc = rt_feed(&t, s + split, n - split, 0);
        if (rc == GW_AGAIN && rbad[_i].eof) rc = rt_feed(&t, NULL, 0, 1);
        ck_assert_int_eq(rc, GW_ERR);
        rt_close(&t);
    }
    rt_open(&t, 0, rbad[_i].upgrade, 1, 4096);
    int rc = GW_AGAIN;
    for (size_t i = 0; i < n && rc == GW_AGAIN; i++) rc = rt_feed(&t, s + i, 1, 0);
    if (rc == GW_AGAIN && rbad[_i].eof) rc = rt_feed(&t, NULL, 0, 1);
    ck_assert_int_eq(rc, GW_ERR);
    rt_close(&t);
}
END_TEST

START_TEST(test_resp_buffer_limits)
{
    rt t;
    char in[128];
    /* a head that fills the whole buffer is too large */
    rt_open(&t, 0, 0, 1, 64);
    memset(in, 'a', sizeof(in));
    memcpy(in, "HTTP/1.1 200 OK\r\nX: ", 20);
    ck_assert_int_eq(rt_feed(&t, in, 63, 0), GW_AGAIN);
    ck_assert_int_eq(rt_feed(&t, in + 63, 1, 0), GW_ERR);
    rt_close(&t);

    /* after an interim response the rest of the head is moved to the front */
    rt_open(&t, 0, 0, 1, 64);
    size_t n =
        (size_t)snprintf(in, sizeof(in), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: ");
    memset(in + n, 'a', 64 - n);
    ck_assert_int_eq(rt_feed(&t, in, 64, 0), GW_AGAIN);
    ck_assert_uint_eq(t.in.off, 0);
    ck_assert_uint_gt(gw_buf_room(&t.in), 0);
    ck_assert_int_eq(rt_feed(&t, "\r\nContent-Length: 0\r\n\r\n", 23, 0), GW_DONE);
    ck_assert_int_eq(t.rsp.status, 200);
    ck_assert_uint_eq(t.rsp.hdr[0].value.n, 64 - n);
    rt_close(&t);

    /* a body much larger than the buffer streams through it */
    rt_open(&t, 0, 0, 1, 4096);
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    ck_assert_int_eq(rt_feed(&t, head, strlen(head), 0), GW_AGAIN);
    ck_assert(t.rsp.head_done && !t.rsp.done);
    char chunk[1000];
    size_t total = 0;
    int rc = GW_AGAIN;
    for (int i = 0; i < 100; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        rc = rt_feed(&t, chunk, sizeof(chunk), 0);
        total += sizeof(chunk);
        ck_assert_uint_eq(t.rsp.body.bytes, total);
        ck_assert_uint_eq(gw_buf_unread(&t.in), 0);
    }
    ck_assert_int_eq(rc, GW_DONE);
    ck_assert(http_backend_ops.reusable(t.st));
    rt_close(&t);
}
END_TEST

START_TEST(test_reusable_request_side)
{
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    rt t;
    /* we asked the backend to close */
    rt_open(&t, 0, 0, 0, 4096);
    ck_assert_int_eq(rt_feed(&t, ok, strlen(ok), 0), GW_DONE);
    ck_assert(!http_backend_ops.reusable(t.st));
    rt_close(&t);

    /* an answer before the whole request body went out */
    gw_header h[] = {{GW_STR("Host"), GW_STR("h")}};
    gw_req rq;
    gw_bufq body = {0}, out = {0};
    rt_open(&t, 0, 0, 1, 4096);
    req_init(&rq, "POST", "/", h, 1);
    rq.content_length = 10;
    free(encode(t.st, &rq, 1));
    gw_bufq_append(&body, "12345", 5);
    http_backend_ops.encode_body(t.st, &body, 0, &out);
    ck_assert_int_eq(rt_feed(&t, ok, strlen(ok), 0), GW_DONE);
    ck_assert(!http_backend_ops.reusable(t.st));
    gw_bufq_append(&body, "67890", 5);
    http_backend_ops.encode_body(t.st, &body, 0, &out);
    ck_assert(http_backend_ops.reusable(t.st));
    rt_close(&t);

    /* a chunked request body without its last chunk */
    rt_open(&t, 0, 0, 1, 4096);
    rq.content_length = -1;
    free(encode(t.st, &rq, 1));
    ck_assert_int_eq(rt_feed(&t, ok, strlen(ok), 0), GW_DONE);
    ck_assert(!http_backend_ops.reusable(t.st));
    http_backend_ops.encode_body(t.st, &body, 1, &out);
    ck_assert(http_backend_ops.reusable(t.st));
    rt_close(&t);
    gw_bufq_clear(&out);
}
END_TEST

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("request");
    tcase_add_loop_test(tc, test_req_valid, 0, NELEM(req_ok));
    tcase_add_test(tc, test_req_methods);
    tcase_add_test(tc, test_req_pipelined);
    tcase_add_test(tc, test_req_limits);
    tcase_add_loop_test(tc, test_req_invalid, 0, NELEM(req_ko));
    tcase_add_loop_test(tc, test_analyze_invalid, 0, NELEM(an_ko));
    tcase_add_test(tc, test_analyze_valid);
    tcase_add_test(tc, test_hop_by_hop);
    tcase_add_test(tc, test_authority);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_loop_test(tc, test_resp_valid, 0, NELEM(resp_ok));
    tcase_add_loop_test(tc, test_resp_invalid, 0, NELEM(resp_ko));
    tcase_add_test(tc, test_resp_too_many);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunked");
    tcase_add_loop_test(tc, test_chunked_valid, 0, NELEM(ch_ok));
    tcase_add_test(tc, test_chunked_big);
    tcase_add_loop_test(tc, test_chunked_invalid, 0, NELEM(ch_ko));
    tcase_add_test(tc, test_chunked_long_lines);
    tcase_add_loop_test(tc, test_chunked_limit, 0, NELEM(ch_lim));
    suite_add_tcase(s, tc);

    tc = tcase_create("write");
    tcase_add_test(tc, test_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("backend");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_encode_get);
    tcase_add_test(tc, test_encode_post);
    tcase_add_test(tc, test_encode_lookalikes);
    tcase_add_test(tc, test_encode_chunked);
    tcase_add_test(tc, test_encode_no_host);
    tcase_add_test(tc, test_encode_upgrade);
    tcase_add_loop_test(tc, test_resp_adapter, 0, NELEM(rcases));
    tcase_add_loop_test(tc, test_resp_adapter_bad, 0, NELEM(rbad));
    tcase_add_test(tc, test_resp_buffer_limits);
    tcase_add_test(tc, test_reusable_request_side);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gw_log_level = -1; /* the adapter logs each malformed response; keep the output clean */
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    gw_blk_pool_trim();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
