/* Check tests for gateway/cgi.c: the RFC 3875 environment and the CGI response-head parser.
 * Linked into test_base; exports cgi_suite(). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/cgi.h"

Suite *cgi_suite(void);

/* ---- environment fixtures ---- */

typedef struct kv {
    char *name, *value;
} kv;

typedef struct envlist {
    kv v[256];
    size_t n;
    size_t stop_after; /* 0: never stop */
    gw_arena *a;
} envlist;

static int collect(void *ctx, gw_str name, gw_str value)
{
    envlist *e = ctx;
    if (e->stop_after && e->n == e->stop_after) return GW_ERR;
    ck_assert_uint_lt(e->n, 256);
    e->v[e->n].name = gw_arena_strndup(e->a, name.p, name.n);
    e->v[e->n].value = gw_arena_strndup(e->a, value.p, value.n);
    e->n++;
    return GW_OK;
}

/* The value of `name`, NULL if absent; fails the test if it appears twice. */
static const char *env_get(const envlist *e, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i].name, name) != 0) continue;
        ck_assert_msg(found == NULL, "%s emitted twice", name);
        found = e->v[i].value;
    }
    return found;
}

static gw_endpoint cli_ep = {"192.0.2.7", "51234", 0};
static gw_endpoint srv_ep = {"127.0.0.1", "8080", 0};
static gw_arena arena;
static envlist env;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
    memset(&env, 0, sizeof(env));
    env.a = &arena;
}

static void teardown(void)
{
    gw_arena_free(&arena);
}

#define H(n, v)                                                                                    \
    {                                                                                              \
        GW_STR(n), GW_STR(v)                                                                       \
    }

static gw_req base_req(gw_header *h, size_t nh)
{
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = GW_STR("GET");
    rq.target = GW_STR("/index.php?a=1&b=2");
    rq.path = GW_STR("/index.php");
    rq.query = GW_STR("a=1&b=2");
    rq.host = GW_STR("example.com");
    rq.scheme = GW_STR("http");
    rq.minor = 1;
    rq.hdr = h;
    rq.nhdr = nh;
    rq.client = &cli_ep;
    rq.server = &srv_ep;
    rq.server_software = GW_STR("portico/test");
    rq.arena = &arena;
    return rq;
}

static int run_env(const gw_req *rq, int scgi, int *status)
{
    return gw_cgi_env(rq, scgi, collect, &env, status);
}

START_TEST(env_php_docroot)
{
    gw_header h[] = {H("Host", "example.com:8080"), H("User-Agent", "curl/8"), H("Accept", "*/*")};
    gw_req rq = base_req(h, 3);
    rq.content_length = 0;
    rq.script_name = GW_STR("/index.php");
    rq.script_filename = GW_STR("/srv/www/index.php");
    rq.docroot = GW_STR("/srv/www");
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_int_eq(status, 0);
    static const char *want[][2] = {
        {"CONTENT_LENGTH", "0"},
        {"QUERY_STRING", "a=1&b=2"},
        {"REQUEST_URI", "/index.php?a=1&b=2"},
        {"REQUEST_METHOD", "GET"},
        {"SCRIPT_NAME", "/index.php"},
        {"SCRIPT_FILENAME", "/srv/www/index.php"},
        {"DOCUMENT_ROOT", "/srv/www"},
        {"SERVER_NAME", "example.com"},
        {"SERVER_PORT", "8080"},
        {"SERVER_ADDR", "127.0.0.1"},
        {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"SERVER_SOFTWARE", "portico/test"},
        {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"REMOTE_ADDR", "192.0.2.7"},
        {"REMOTE_PORT", "51234"},
        {"REQUEST_SCHEME", "http"},
        {"REDIRECT_STATUS", "200"},
        {"HTTP_HOST", "example.com:8080"},
        {"HTTP_USER_AGENT", "curl/8"},
        {"HTTP_ACCEPT", "*/*"},
    };
    size_t nwant = sizeof(want) / sizeof(want[0]);
    ck_assert_uint_eq(env.n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        ck_assert_str_eq(env.v[i].name, want[i][0]);
        ck_assert_str_eq(env.v[i].value, want[i][1]);
    }
}
END_TEST

START_TEST(env_rack_root_scgi)
{
    gw_header h[] = {H("Host", "app.test"), H("Content-Type", "application/json"),
                     H("Content-Length", "11")};
    gw_req rq = base_req(h, 3);
    rq.method = GW_STR("POST");
    rq.target = GW_STR("/foo");
    rq.path = GW_STR("/foo");
    rq.query = GW_STR("");
    rq.content_length = 11;
    rq.script_name = GW_STR("");
    rq.path_info = GW_STR("/foo");
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 1, &status), GW_OK);
    ck_assert_str_eq(env.v[0].name, "CONTENT_LENGTH");
    ck_assert_str_eq(env.v[0].value, "11");
    ck_assert_str_eq(env.v[1].name, "CONTENT_TYPE");
    ck_assert_str_eq(env.v[1].value, "application/json");
    ck_assert_str_eq(env_get(&env, "SCRIPT_NAME"), "");
    ck_assert_str_eq(env_get(&env, "PATH_INFO"), "/foo");
    ck_assert_str_eq(env_get(&env, "QUERY_STRING"), "");
    ck_assert_str_eq(env_get(&env, "SCGI"), "1");
    ck_assert_ptr_null(env_get(&env, "SCRIPT_FILENAME"));
    ck_assert_ptr_null(env_get(&env, "DOCUMENT_ROOT"));
    ck_assert_ptr_null(env_get(&env, "HTTP_CONTENT_TYPE"));
    ck_assert_ptr_null(env_get(&env, "HTTP_CONTENT_LENGTH"));
    ck_assert_str_eq(env_get(&env, "HTTP_HOST"), "app.test");
}
END_TEST

START_TEST(env_app_prefix_https)
{
    gw_header h[] = {H("Host", "secure.test")};
    gw_req rq = base_req(h, 1);
    rq.target = GW_STR("/app/users/1");
    rq.path = GW_STR("/app/users/1");
    rq.query = GW_STR("");
    rq.scheme = GW_STR("https");
    rq.minor = 0;
    rq.content_length = 0;
    rq.script_name = GW_STR("/app");
    rq.path_info = GW_STR("/users/1");
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_str_eq(env_get(&env, "SCRIPT_NAME"), "/app");
    ck_assert_str_eq(env_get(&env, "PATH_INFO"), "/users/1");
    ck_assert_str_eq(env_get(&env, "HTTPS"), "on");
    ck_assert_str_eq(env_get(&env, "REQUEST_SCHEME"), "https");
    ck_assert_str_eq(env_get(&env, "SERVER_PROTOCOL"), "HTTP/1.0");
    ck_assert_ptr_null(env_get(&env, "SCGI"));
    ck_assert_ptr_null(env_get(&env, "REDIRECT_URI"));
}
END_TEST

START_TEST(env_collision_400)
{
    static const gw_header pairs[][2] = {
        {H("X-Foo", "1"), H("X_Foo", "2")},
        {H("X.Foo", "1"), H("x-foo", "2")},
        {H("Accept_Encoding", "x"), H("Accept-Encoding", "gzip")},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        gw_header h[3] = {H("Host", "a"), pairs[i][0], pairs[i][1]};
        gw_req rq = base_req(h, 3);
        rq.content_length = 0;
        env.n = 0;
        int status = 0;
        ck_assert_int_eq(run_env(&rq, 0, &status), GW_ERR);
        ck_assert_int_eq(status, 400);
        ck_assert_uint_eq(env.n, 0); /* nothing half-sent */
    }
}
END_TEST

START_TEST(env_hop_by_hop_and_httpoxy)
{
    gw_header h[] = {
        H("Host", "a"),
        H("Connection", "keep-alive, X-Secret"),
        H("Keep-Alive", "5"),
        H("TE", "trailers"),
        H("Trailer", "X"),
        H("Transfer-Encoding", "chunked"),
        H("Upgrade", "h2c"),
        H("Proxy-Connection", "close"),
        H("Expect", "100-continue"),
        H("Proxy", "http://evil:1"),
        H("X-Secret", "s"),
        H("X-Kept", "k"),
    };
    gw_req rq = base_req(h, sizeof(h) / sizeof(h[0]));
    rq.content_length = 0;
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    size_t nhttp = 0;
    for (size_t i = 0; i < env.n; i++)
        if (strncmp(env.v[i].name, "HTTP_", 5) == 0) nhttp++;
    ck_assert_uint_eq(nhttp, 2);
    ck_assert_str_eq(env_get(&env, "HTTP_HOST"), "a");
    ck_assert_str_eq(env_get(&env, "HTTP_X_KEPT"), "k");
    ck_assert_ptr_null(env_get(&env, "HTTP_PROXY"));
    ck_assert_ptr_null(env_get(&env, "HTTP_X_SECRET"));
}
END_TEST

/* Look-alikes of owned fields are dropped, not 400: the request goes on without them, even
 * next to the real field they imitate. */
START_TEST(env_lookalikes_dropped)
{
    gw_header h[] = {
        H("Host", "a"),
        H("Content_Length", "99"),
        H("Content-Length", "5"),
        H("transfer.encoding", "chunked"),
        H("Content_Type", "text/evil"),
        H("Keep_Alive", "1"),
        H("Proxy_Connection", "x"),
        H("X_Forwarded_For", "6.6.6.6"),
        H("X-Forwarded-For", "10.0.0.1"),
        H("X-Kept", "k"),
    };
    gw_req rq = base_req(h, sizeof(h) / sizeof(h[0]));
    rq.content_length = 5;
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 1, &status), GW_OK);
    ck_assert_str_eq(env.v[0].name, "CONTENT_LENGTH");
    ck_assert_str_eq(env.v[0].value, "5");
    ck_assert_ptr_null(env_get(&env, "CONTENT_TYPE"));
    ck_assert_ptr_null(env_get(&env, "HTTP_CONTENT_LENGTH"));
    ck_assert_ptr_null(env_get(&env, "HTTP_TRANSFER_ENCODING"));
    ck_assert_ptr_null(env_get(&env, "HTTP_CONTENT_TYPE"));
    ck_assert_ptr_null(env_get(&env, "HTTP_KEEP_ALIVE"));
    ck_assert_ptr_null(env_get(&env, "HTTP_PROXY_CONNECTION"));
    ck_assert_str_eq(env_get(&env, "HTTP_X_FORWARDED_FOR"), "10.0.0.1");
    ck_assert_str_eq(env_get(&env, "HTTP_X_KEPT"), "k");

    /* rewrite-request results are held to the same rule */
    gw_header extra[] = {H("Content_Length", "7"), H("X-Added", "1")};
    gw_header h2[] = {H("Host", "a")};
    rq = base_req(h2, 1);
    rq.extra = extra;
    rq.nextra = 2;
    rq.content_length = 0;
    env.n = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_ptr_null(env_get(&env, "HTTP_CONTENT_LENGTH"));
    ck_assert_str_eq(env_get(&env, "HTTP_X_ADDED"), "1");
}
END_TEST

START_TEST(env_joined_headers)
{
    gw_header h[] = {H("Accept", "a/b"), H("Cookie", "a=1"), H("X-A", "1"),     H("accept", "c/d"),
                     H("cookie", "b=2"), H("x-a", ""),       H("Cookie", "c=3")};
    gw_req rq = base_req(h, sizeof(h) / sizeof(h[0]));
    rq.content_length = 0;
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_str_eq(env_get(&env, "HTTP_ACCEPT"), "a/b, c/d");
    ck_assert_str_eq(env_get(&env, "HTTP_COOKIE"), "a=1; b=2; c=3");
    ck_assert_str_eq(env_get(&env, "HTTP_X_A"), "1, ");
    /* first-occurrence order */
    size_t i = 0;
    while (strncmp(env.v[i].name, "HTTP_", 5) != 0) i++;
    ck_assert_str_eq(env.v[i].name, "HTTP_ACCEPT");
    ck_assert_str_eq(env.v[i + 1].name, "HTTP_COOKIE");
    ck_assert_str_eq(env.v[i + 2].name, "HTTP_X_A");
    ck_assert_uint_eq(env.n, i + 3);
}
END_TEST

START_TEST(env_extra_replace_add)
{
    gw_header h[] = {H("Host", "a"), H("User-Agent", "orig"), H("user-agent", "orig2")};
    gw_header ex[] = {H("User-Agent", "rewritten"), H("X-New", "1"), H("_uri", "/x"),
                      H("Content-Type", "text/x")};
    gw_req rq = base_req(h, 3);
    rq.extra = ex;
    rq.nextra = 4;
    rq.content_length = 3;
    rq.backend_target = GW_STR("/rewritten?q");
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_str_eq(env_get(&env, "HTTP_USER_AGENT"), "rewritten");
    ck_assert_str_eq(env_get(&env, "HTTP_X_NEW"), "1");
    ck_assert_ptr_null(env_get(&env, "HTTP__URI"));
    ck_assert_str_eq(env_get(&env, "CONTENT_TYPE"), "text/x");
    ck_assert_ptr_null(env_get(&env, "HTTP_CONTENT_TYPE"));
    ck_assert_str_eq(env_get(&env, "REQUEST_URI"), "/index.php?a=1&b=2");
    ck_assert_str_eq(env_get(&env, "REDIRECT_URI"), "/rewritten?q");
}
END_TEST

START_TEST(env_no_host_unix_listener)
{
    static gw_endpoint usrv = {"/run/portico.sock", "", 1};
    static gw_endpoint ucli = {"/run/portico.sock", "", 1};
    gw_req rq = base_req(NULL, 0);
    rq.host = GW_STR("");
    rq.server = &usrv;
    rq.client = &ucli;
    rq.content_length = 0;
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_str_eq(env_get(&env, "SERVER_NAME"), "/run/portico.sock");
    ck_assert_str_eq(env_get(&env, "SERVER_PORT"), "80");
    ck_assert_ptr_null(env_get(&env, "REMOTE_PORT"));
}
END_TEST

START_TEST(env_names_are_safe)
{
    gw_header h[] = {H("x-we!rd#$%&'*+.^`|~9", "v")};
    gw_req rq = base_req(h, 1);
    rq.content_length = 0;
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    for (size_t i = 0; i < env.n; i++)
        for (const char *c = env.v[i].name; *c; c++)
            ck_assert_msg((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_',
                          "bad byte in %s", env.v[i].name);
    ck_assert_str_eq(env_get(&env, "HTTP_X_WE_RD____________9"), "v");
}
END_TEST

START_TEST(env_emit_stops_and_bad_length)
{
    gw_req rq = base_req(NULL, 0);
    rq.content_length = 0;
    int status = 0;
    env.stop_after = 3;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_ERR);
    ck_assert_int_eq(status, 0);
    ck_assert_uint_eq(env.n, 3);

    env.n = 0;
    env.stop_after = 0;
    rq.content_length = -1;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_ERR);
    ck_assert_uint_eq(env.n, 0);
}
END_TEST

START_TEST(env_many_headers)
{
    /* 100 distinct names plus a repeat of each: joins, no false collisions */
    gw_header h[200];
    char names[100][16];
    for (int i = 0; i < 100; i++) {
        int k = snprintf(names[i], sizeof(names[i]), "X-H%d", i);
        h[i] = (gw_header){{names[i], (size_t)k}, GW_STR("a")};
        h[100 + i] = (gw_header){{names[i], (size_t)k}, GW_STR("b")};
    }
    gw_req rq = base_req(h, 200);
    rq.content_length = 0;
    int status = 0;
    ck_assert_int_eq(run_env(&rq, 0, &status), GW_OK);
    ck_assert_str_eq(env_get(&env, "HTTP_X_H0"), "a, b");
    ck_assert_str_eq(env_get(&env, "HTTP_X_H99"), "a, b");
    size_t nhttp = 0;
    for (size_t i = 0; i < env.n; i++)
        if (strncmp(env.v[i].name, "HTTP_", 5) == 0) nhttp++;
    ck_assert_uint_eq(nhttp, 100);
}
END_TEST

/* ---- response head ---- */

typedef struct hcase {
    const char *in;
    int status; /* -1: GW_ERR expected */
    int64_t clen;
    const char *hdrs; /* "Name=value|..." in order */
} hcase;

static const hcase heads[] = {
    {"Content-Type: text/html\r\n\r\n", 200, -1, "Content-Type=text/html"},
    {"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", 404, -1,
     "Content-Type=text/plain"},
    {"Location: /x\n\n", 302, -1, "Location=/x"},
    {"Status: 301\nLocation: /y\n\n", 301, -1, "Location=/y"},
    {"Location: /z\nStatus: 303 See Other\n\n", 303, -1, "Location=/z"},
    {"HTTP/1.1 201 Created\r\nX-A: 1\r\n\r\n", 201, -1, "X-A=1"},
    {"HTTP/1.0 404\nLocation: /q\n\n", 404, -1, "Location=/q"},
    {"Content-Length: 5\r\nX-B:   spaced  value \t\r\n\r\n", 200, 5,
     "Content-Length=5|X-B=spaced  value"},
    {"Content-Length: 7\nContent-Length: 7\n\n", 200, 7, "Content-Length=7"},
    {"\r\n", 200, -1, ""},
    {"\n", 200, -1, ""},
    {"X-Empty:\nA: 1\r\nB: 2\n\r\n", 200, -1, "X-Empty=|A=1|B=2"},
    {"Set-Cookie: a=1\nSet-Cookie: b=2\nStatus: 200 OK\n\n", 200, -1,
     "Set-Cookie=a=1|Set-Cookie=b=2"},
    {"X-Utf8: caf\xc3\xa9\n\n", 200, -1, "X-Utf8=caf\xc3\xa9"},
    {"Status: 99\n\n", -1, 0, NULL},
    {"Status: 600 Big\n\n", -1, 0, NULL},
    {"Status: abc\n\n", -1, 0, NULL},
    {"Status: 2000\n\n", -1, 0, NULL},
    {"Status:\n\n", -1, 0, NULL},
    {"Status: 200\nStatus: 404\n\n", -1, 0, NULL},
    {"Bad Name: x\n\n", -1, 0, NULL},
    {"NoColon\n\n", -1, 0, NULL},
    {": x\n\n", -1, 0, NULL},
    {"X-A : 1\n\n", -1, 0, NULL},
    {"A: 1\n  folded\n\n", -1, 0, NULL},
    {"A: 1\r\n\tfolded\r\n\r\n", -1, 0, NULL},
    {"Content-Length: abc\n\n", -1, 0, NULL},
    {"Content-Length: -1\n\n", -1, 0, NULL},
    {"Content-Length: \n\n", -1, 0, NULL},
    {"Content-Length: 1\nContent-Length: 2\n\n", -1, 0, NULL},
    {"Content-Length: 99999999999999999999\n\n", -1, 0, NULL},
    {"HTTP/1.1 2000 X\n\n", -1, 0, NULL},
    {"HTTP/2 200\n\n", -1, 0, NULL},
    {"HTTP/1.1 abc\n\n", -1, 0, NULL},
    {"A: x\x01y\n\n", -1, 0, NULL},
    {"A: x\ry\n\n", -1, 0, NULL},
    {"X-A: 1\nHTTP/1.1 200 OK\n\n", -1, 0, NULL},
};

static void check_head(const hcase *c, const char *buf, size_t len, size_t headlen)
{
    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.arena = &arena;
    rsp.status = -7;
    int r = gw_cgi_parse_head(buf, len, &rsp);
    if (len < headlen) {
        ck_assert_msg(r == GW_AGAIN, "prefix %zu of \"%s\": %d", len, c->in, r);
        ck_assert_int_eq(rsp.status, -7); /* untouched until complete */
        ck_assert_uint_eq(rsp.nhdr, 0);
        return;
    }
    if (c->status < 0) {
        ck_assert_msg(r == GW_ERR, "\"%s\" accepted", c->in);
        return;
    }
    ck_assert_msg(r == (int)headlen, "\"%s\": %d", c->in, r);
    ck_assert_int_eq(rsp.status, c->status);
    ck_assert_int_eq(rsp.content_length, c->clen);
    ck_assert(rsp.head_done);
    char got[512];
    size_t k = 0;
    for (size_t i = 0; i < rsp.nhdr; i++) {
        ck_assert(rsp.hdr[i].name.p < buf || rsp.hdr[i].name.p >= buf + len); /* copied */
        k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%.*s=%.*s", i ? "|" : "",
                              (int)rsp.hdr[i].name.n, rsp.hdr[i].name.p, (int)rsp.hdr[i].value.n,
                              rsp.hdr[i].value.p);
    }
    got[k] = '\0';
    ck_assert_str_eq(got, c->hdrs);
    ck_assert_ptr_null(gw_resp_header(&rsp, "Status"));
}

START_TEST(head_cases)
{
    const hcase *c = &heads[_i];
    size_t hl = strlen(c->in);
    char *buf = malloc(hl + 16);
    memcpy(buf, c->in, hl);
    /* whole, then every prefix (the split-at-every-byte case for a stateless parser) */
    check_head(c, buf, hl, hl);
    for (size_t i = 0; i < hl; i++) check_head(c, buf, i, hl);
    /* with body bytes after the head */
    memcpy(buf + hl, "BODY\n\nmore", 10);
    check_head(c, buf, hl + 10, hl);
    free(buf);
}
END_TEST

START_TEST(head_large_many_headers)
{
    /* no size limit inside: 2000 headers, 40 KiB */
    size_t cap = 64 * 1024, k = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 2000; i++)
        k += (size_t)snprintf(buf + k, cap - k, "X-H%d: value-%d\r\n", i, i);
    k += (size_t)snprintf(buf + k, cap - k, "\r\nbody");
    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.arena = &arena;
    int r = gw_cgi_parse_head(buf, k, &rsp);
    ck_assert_int_eq(r, (int)k - 4);
    ck_assert_uint_eq(rsp.nhdr, 2000);
    const gw_header *h = gw_resp_header(&rsp, "x-h1999");
    ck_assert_ptr_nonnull(h);
    ck_assert(gw_str_eq(h->value, "value-1999"));
    free(buf);
}
END_TEST

Suite *cgi_suite(void)
{
    Suite *s = suite_create("cgi");
    TCase *tc = tcase_create("env");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, env_php_docroot);
    tcase_add_test(tc, env_rack_root_scgi);
    tcase_add_test(tc, env_app_prefix_https);
    tcase_add_test(tc, env_collision_400);
    tcase_add_test(tc, env_hop_by_hop_and_httpoxy);
    tcase_add_test(tc, env_lookalikes_dropped);
    tcase_add_test(tc, env_joined_headers);
    tcase_add_test(tc, env_extra_replace_add);
    tcase_add_test(tc, env_no_host_unix_listener);
    tcase_add_test(tc, env_names_are_safe);
    tcase_add_test(tc, env_emit_stops_and_bad_length);
    tcase_add_test(tc, env_many_headers);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse_head");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, head_cases, 0, (int)(sizeof(heads) / sizeof(heads[0])));
    tcase_add_test(tc, head_large_many_headers);
    suite_add_tcase(s, tc);
    return s;
}
