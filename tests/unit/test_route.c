/* Unit tests of route compilation at load (gateway/config/route*.c): which combinations of blocks
 * are compiled, errors of combinations with their FILE:LINE, the bound and its fallback, the
 * read-only request path; and that docs/config.md names every key, protocol and balancer. */
#include "gateway/config/cond.h"
#include "gateway/config/conf.h"
#include "gateway/config/route.h"
#include "gateway/config/route_int.h"
#include "gateway/upstream/registry.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- counting allocations (the binary links with --wrap for these) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
static long nalloc; /* allocations and frees made by the gateway libraries */

void *__wrap_malloc(size_t n)
{
    nalloc++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    nalloc++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    nalloc++;
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    if (p) nalloc++;
    __real_free(p);
}

/* ---- helpers ---- */

static char tmpdir[256];
static char conf_path[300];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/portico-route-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof(conf_path), "%s/t.conf", tmpdir);
}

static void teardown(void)
{
    unlink(conf_path);
    rmdir(tmpdir);
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static gw_rt *load_ok(const char *text)
{
    char *err = NULL;
    write_conf(text);
    gw_rt *rt = gw_rt_load(conf_path, &err);
    ck_assert_msg(rt != NULL, "unexpected error: %s\nfor: %s", err ? err : "(none)", text);
    return rt;
}

/* The load must fail with an error that starts with t.conf:LINE: and contains `want`. */
static void load_fails(const char *text, int line, const char *want)
{
    char *err = NULL, prefix[400];
    write_conf(text);
    gw_rt *rt = gw_rt_load(conf_path, &err);
    ck_assert_msg(rt == NULL, "loaded although it should fail: %s", text);
    ck_assert_ptr_nonnull(err);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error\n  %s\ndoes not start with %s",
                  err, prefix);
    ck_assert_msg(strstr(err, want) != NULL, "error\n  %s\nlacks\n  %s", err, want);
    free(err);
}

static gw_cond_ctx ctx_url(const char *url, const char *query)
{
    gw_cond_ctx c = {.url = {url, strlen(url)},
                     .query = {query, strlen(query)},
                     .host = GW_STR("a.com"),
                     .method = GW_STR("GET"),
                     .scheme = GW_STR("http"),
                     .socket = GW_STR("127.0.0.1:8080")};
    return c;
}

static const gw_route *route_of(const gw_rt *rt, const char *url, const char *query)
{
    gw_cond_ctx c = ctx_url(url, query);
    return gw_rt_route(rt, &c);
}

/* ---- which combinations are compiled ---- */

START_TEST(test_siblings_combine)
{
    gw_rt *rt = load_ok("proxy-core.max-retries = 1\n"
                        "$HTTP[\"url\"] =^ \"/a/\" { proxy-core.connect-timeout = 7 }\n"
                        "$HTTP[\"url\"] =~ \"x$\" { proxy-core.read-timeout = 9 }\n");
    ck_assert_uint_eq(gw_rt_ncombos(rt), 4); /* {}, {1}, {1,2}, {2} */
    const gw_route *both = route_of(rt, "/a/x", "");
    ck_assert_uint_eq(both->max_retries, 1);
    ck_assert(both->connect_timeout == 7 && both->read_timeout == 9);
    const gw_route *one = route_of(rt, "/a/y", "");
    ck_assert(one->connect_timeout == 7 && one->read_timeout == 60);
    const gw_route *other = route_of(rt, "/b/x", "");
    ck_assert(other->connect_timeout == 5 && other->read_timeout == 9);
    const gw_route *none = route_of(rt, "/b/y", "");
    ck_assert(none->connect_timeout == 5 && none->read_timeout == 60);
    ck_assert_ptr_null(none->pool);
    gw_rt_unref(rt);
}
END_TEST

START_TEST(test_chains_and_nesting)
{
    /* of a chain at most one block holds */
    gw_rt *rt = load_ok("$HTTP[\"url\"] =~ \"a\" { proxy-core.max-retries = 1 }\n"
                        "else $HTTP[\"url\"] =~ \"b\" { proxy-core.max-retries = 2 }\n"
                        "else { proxy-core.max-retries = 4 }\n");
    ck_assert_uint_eq(gw_rt_ncombos(rt), 4); /* {}, {1}, {2}, {3} */
    ck_assert_uint_eq(route_of(rt, "/ab", "")->max_retries, 1);
    ck_assert_uint_eq(route_of(rt, "/b", "")->max_retries, 2);
    ck_assert_uint_eq(route_of(rt, "/c", "")->max_retries, 4);
    gw_rt_unref(rt);

    /* a nested block holds only with its enclosing one */
    rt = load_ok("$HTTP[\"url\"] =~ \"a\" { proxy-core.max-retries = 1\n"
                 "  $HTTP[\"url\"] =~ \"b\" { proxy-core.max-retries = 2 } }\n");
    ck_assert_uint_eq(gw_rt_ncombos(rt), 3); /* {}, {1}, {1,2} */
    ck_assert_uint_eq(route_of(rt, "/b", "")->max_retries, 3);
    ck_assert_uint_eq(route_of(rt, "/ab", "")->max_retries, 2);
    gw_rt_unref(rt);

    /* blocks that set no route key do not multiply; their relevant children still count */
    rt = load_ok("$HTTP[\"url\"] =~ \"a\" { server.document-root = \"/d\" }\n"
                 "$HTTP[\"host\"] =~ \"x\" { }\n"
                 "$HTTP[\"request-method\"] =~ \"x\" { }\n"
                 "$HTTP[\"scheme\"] =~ \"x\" {\n"
                 "  $HTTP[\"url\"] =~ \"b\" { proxy-core.max-retries = 2 } }\n");
    ck_assert_uint_eq(gw_rt_ncombos(rt), 4);
    gw_rt_unref(rt);

    /* an irrelevant else chain member still excludes its siblings' children */
    rt = load_ok("$HTTP[\"url\"] =~ \"a\" { proxy-core.max-retries = 1 }\n"
                 "else $HTTP[\"url\"] =~ \"b\" {\n"
                 "  $HTTP[\"url\"] =~ \"c\" { proxy-core.max-retries = 2 } }\n");
    ck_assert_uint_eq(gw_rt_ncombos(rt), 3);
    gw_rt_unref(rt);
}
END_TEST

START_TEST(test_exclusive_conditions)
{
    static const struct {
        const char *a, *b;
        size_t combos;
    } cases[] = {
        {"$HTTP[\"url\"] == \"/a\"", "$HTTP[\"url\"] == \"/b\"", 3},
        {"$HTTP[\"url\"] == \"/a\"", "$HTTP[\"url\"] == \"/a\"", 4},
        {"$HTTP[\"url\"] == \"/a\"", "$HTTP[\"url\"] != \"/a\"", 3},
        {"$HTTP[\"url\"] == \"/a\"", "$HTTP[\"url\"] != \"/b\"", 4},
        {"$HTTP[\"url\"] =^ \"/a/\"", "$HTTP[\"url\"] =^ \"/b/\"", 3},
        {"$HTTP[\"url\"] =^ \"/a/\"", "$HTTP[\"url\"] =^ \"/a/b/\"", 4},
        {"$HTTP[\"url\"] == \"/a/x\"", "$HTTP[\"url\"] =^ \"/a/\"", 4},
        {"$HTTP[\"url\"] == \"/b/x\"", "$HTTP[\"url\"] =^ \"/a/\"", 3},
        {"$HTTP[\"url\"] =$ \".php\"", "$HTTP[\"url\"] =$ \".js\"", 3},
        {"$HTTP[\"url\"] == \"/i.php\"", "$HTTP[\"url\"] =$ \".js\"", 3},
        {"$HTTP[\"host\"] == \"A.com\"", "$HTTP[\"host\"] == \"a.COM\"", 4},
        {"$HTTP[\"url\"] == \"/a\"", "$HTTP[\"querystring\"] == \"/b\"", 4},
        {"$REQUEST_HEADER[\"X-A\"] == \"1\"", "$REQUEST_HEADER[\"x-a\"] == \"2\"", 3},
        {"$REQUEST_HEADER[\"X-A\"] == \"1\"", "$REQUEST_HEADER[\"X-B\"] == \"2\"", 4},
        {"$HTTP[\"url\"] =~ \"^/a\"", "$HTTP[\"url\"] =~ \"^/b\"", 4}, /* assumed combinable */
        {"$HTTP[\"remote-ip\"] == \"10.0.0.0/8\"", "$HTTP[\"remote-ip\"] == \"10.1.0.0/16\"", 4},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[600];
        snprintf(text, sizeof(text),
                 "%s { proxy-core.max-retries = 1 }\n%s { proxy-core.max-retries = 2 }\n",
                 cases[i].a, cases[i].b);
        gw_rt *rt = load_ok(text);
        ck_assert_msg(gw_rt_ncombos(rt) == cases[i].combos, "%s: %zu combinations, want %zu", text,
                      gw_rt_ncombos(rt), cases[i].combos);
        gw_rt_unref(rt);
    }
    /* a nested block that contradicts its enclosing block never holds */
    gw_rt *rt = load_ok("$HTTP[\"url\"] == \"/a\" { proxy-core.max-retries = 1\n"
                        "  $HTTP[\"url\"] == \"/b\" { proxy-core.max-retries = 2 } }\n");
    ck_assert_uint_eq(gw_rt_ncombos(rt), 2);
    gw_rt_unref(rt);
}
END_TEST

/* Every matching block's `+=` counts, up to GW_MAX_APPENDS of them to one key in one route;
 * past that the load refuses the config, naming the first one that does not fit. */
START_TEST(test_many_appends_all_kept)
{
    char text[8192];
    for (int depth = GW_MAX_APPENDS; depth <= GW_MAX_APPENDS + 1; depth++) {
        size_t n = 0;
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "proxy-core.x-sendfile-docroot = \"/tmp\"\n");
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(text + n, sizeof(text) - n,
                                  "$HTTP[\"url\"] =^ \"/\" { proxy-core.x-sendfile-docroot += "
                                  "\"/tmp\"\n");
        for (int i = 0; i < depth; i++) n += (size_t)snprintf(text + n, sizeof(text) - n, "}\n");
        if (depth == GW_MAX_APPENDS) {
            gw_rt *rt = load_ok(text);
            const gw_route *r = route_of(rt, "/a", "");
            ck_assert_msg(r->nxs_roots == (size_t)depth + 1, "%zu roots, want %d", r->nxs_roots,
                          depth + 1);
            gw_rt_unref(rt);
        } else {
            char want[64];
            snprintf(want, sizeof(want), "more than %d `+=`", GW_MAX_APPENDS);
            load_fails(text, depth + 1, want); /* the 17th append, on line 18 */
        }
    }
}
END_TEST

/* Blocks that exclude each other cost one combination each: an else chain of many virtual
 * hosts (what docs/config.md recommends to stay under the bound) routes every one of them. */
START_TEST(test_long_else_chain_routes_every_block)
{
    int nb = 5000;
    size_t cap = (size_t)nb * 96, n = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < nb; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "%s$HTTP[\"host\"] == \"h%d.com\" { proxy-core.max-retries = %d }\n",
                              i ? "else " : "", i, i % 7 + 1);
    gw_rt *rt = load_ok(text);
    free(text);
    gw_cond_ctx c = ctx_url("/", "");
    c.host = GW_STR("h4999.com");
    ck_assert_uint_eq(gw_rt_route(rt, &c)->max_retries, 4999 % 7 + 1);
    gw_rt_unref(rt);
}
END_TEST

/* `+=` in a block adds to the value in effect (docs/config.md, "+="), for every route key. */
START_TEST(test_append_in_block_applies_to_every_key)
{
    gw_rt *rt = load_ok("proxy-core.rewrite-request = ( \"X-A\" => ( \"^a$\" => \"b\" ) )\n"
                        "proxy-core.script-name = \"/app\"\n"
                        "$HTTP[\"url\"] =^ \"/v\" {\n"
                        "  proxy-core.rewrite-request += ( \"X-B\" => ( \"^c$\" => \"d\" ) )\n"
                        "  proxy-core.script-name += \"/v2\"\n"
                        "}\n");
    const gw_route *r = route_of(rt, "/v/x", "");
    ck_assert_msg(r->script_name && strcmp(r->script_name, "/app/v2") == 0,
                  "script-name %s, want /app/v2", r->script_name ? r->script_name : "(null)");
    ck_assert_msg(r->rw_req.n == 2, "%zu rewrite rules, want 2", r->rw_req.n);
    gw_rt_unref(rt);
}
END_TEST

/* Thirteen ordinary URL-regex blocks (2^13 combinations, assumed combinable): a request that
 * matches one of them alone gets that block's route (the route cache before the compiled
 * table built each matching set on first use). */
START_TEST(test_thirteen_regex_blocks_each_routed)
{
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 13; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "$HTTP[\"url\"] =~ \"^/p%d/\" { proxy-core.connect-timeout = %d }\n",
                              i, i + 10);
    gw_rt *rt = load_ok(text);
    ck_assert_uint_eq(route_of(rt, "/p0/x", "")->connect_timeout, 10);
    ck_assert_msg(route_of(rt, "/p1/x", "")->connect_timeout == 11,
                  "a request matching only block 2 got connect-timeout %g",
                  route_of(rt, "/p1/x", "")->connect_timeout);
    gw_rt_unref(rt);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_invalid_combination)
{
    char text[1000];
    /* each block is valid alone; together x-sendfile has no docroot */
    snprintf(text, sizeof(text),
             "$HTTP[\"url\"] =^ \"/app/\" {\n"
             "  proxy-core.allow-x-sendfile = \"enable\"\n"
             "  proxy-core.x-sendfile-docroot = \"%s\"\n"
             "}\n"
             "$HTTP[\"url\"] =~ \"\\.txt$\" {\n"
             "  proxy-core.x-sendfile-docroot = ()\n"
             "}\n",
             tmpdir);
    load_fails(text, 2, "proxy-core.allow-x-sendfile needs proxy-core.x-sendfile-docroot");
    write_conf(text);
    char *err = NULL;
    ck_assert_ptr_null(gw_rt_load(conf_path, &err));
    ck_assert_ptr_nonnull(strstr(err, "t.conf:1, "));
    ck_assert_ptr_nonnull(strstr(err, "t.conf:5 hold together"));
    free(err);

    /* exclusive blocks are never combined, so the same settings load */
    snprintf(text, sizeof(text),
             "$HTTP[\"url\"] =^ \"/app/\" {\n"
             "  proxy-core.allow-x-sendfile = \"enable\"\n"
             "  proxy-core.x-sendfile-docroot = \"%s\"\n"
             "}\n"
             "$HTTP[\"url\"] =^ \"/static/\" {\n"
             "  proxy-core.x-sendfile-docroot = ()\n"
             "}\n",
             tmpdir);
    gw_rt *rt = load_ok(text);
    ck_assert_int_eq(route_of(rt, "/app/x", "")->allow_xsendfile, 1);
    gw_rt_unref(rt);

    /* the first error wins */
    load_fails("$HTTP[\"url\"] =~ \"a\" { proxy-core.allow-x-sendfile = \"enable\" }\n"
               "$HTTP[\"url\"] =~ \"b\" { proxy-core.protocol = \"nope\" }\n",
               2, "unknown proxy-core.protocol");
}
END_TEST

START_TEST(test_registry_names)
{
    load_fails("proxy-core.protocol = \"fcgi\"\n", 1,
               "unknown proxy-core.protocol \"fcgi\" (known: http, fastcgi, scgi)");
    load_fails("\n$HTTP[\"url\"] =~ \"a\" {\n proxy-core.balancer = \"rr\"\n}\n", 3,
               "unknown proxy-core.balancer \"rr\" (known: round-robin, sqf, hash, carp, static)");
    for (size_t i = 0; gw_protocol_name(i); i++)
        ck_assert_ptr_nonnull(gw_backend_find(gw_protocol_name(i)));
    for (size_t i = 0; gw_balancer_name(i); i++)
        ck_assert_ptr_nonnull(gw_balancer_find(gw_balancer_name(i)));
    ck_assert_ptr_null(gw_backend_find("fcgi"));
    char buf[8];
    ck_assert_str_eq(gw_protocol_names(buf, sizeof(buf)), "http, f");
}
END_TEST

static char *many_blocks(int n);

START_TEST(test_values_checked_in_every_block)
{
    load_fails("$HTTP[\"url\"] =~ \"a\" {\n"
               " proxy-core.rewrite-request = ( \"_uri\" => ( \"(\" => \"x\" ) )\n}\n",
               2, "bad regex");
    load_fails("$HTTP[\"url\"] =~ \"a\" {\n proxy-core.x-sendfile-docroot = \"rel\"\n}\n", 2,
               "must be an absolute path");
    load_fails(
        "$HTTP[\"url\"] =~ \"a\" {\n proxy-core.x-sendfile-docroot = \"/nonexistent/x\"\n}\n", 2,
        "is not a directory");
    load_fails("$HTTP[\"url\"] =~ \"a\" {\n proxy-core.health-check = ( \"x\" => 1 )\n}\n", 2,
               "proxy-core.health-check");
    load_fails("$HTTP[\"url\"] =~ \"a\" {\n proxy-core.backends = ( \"nohost\" )\n}\n", 2,
               "backend \"nohost\"");
    /* a block past the bound is still checked */
    char *text = many_blocks(13);
    text = realloc(text, strlen(text) + 100);
    strcat(text, "$HTTP[\"url\"] =~ \"z\" {\n proxy-core.backends = \"x:y\"\n}\n");
    load_fails(text, 41, "backend \"x:y\"");
    free(text);
}
END_TEST

/* ---- listeners ---- */

/* A $SERVER["socket"] block gives its listener its own limits; what applies to every listener
 * is refused there; a name that is no address is refused at load, as the start would. */
START_TEST(test_listener_settings)
{
    gw_rt *rt = load_ok("server.port = 8080\n"
                        "server.max-request-size = 1000\n"
                        "$SERVER[\"socket\"] == \"127.0.0.1:8081\" {\n"
                        "  server.max-request-size = 10\n"
                        "  server.tag = \"edge\"\n"
                        "}\n"
                        "$SERVER[\"socket\"] == \"127.0.0.1:8080\" { server.max-read-idle = 7 }\n");
    ck_assert_int_eq(gw_rt_server(rt, "127.0.0.1:8080")->max_request_size, 1000);
    ck_assert(gw_rt_server(rt, "127.0.0.1:8080")->read_idle == 7);
    ck_assert_int_eq(gw_rt_server(rt, "127.0.0.1:8081")->max_request_size, 10);
    ck_assert_str_eq(gw_rt_server(rt, "127.0.0.1:8081")->tag, "edge");
    /* the extra listener starts from the main one's settings */
    ck_assert(gw_rt_server(rt, "127.0.0.1:8081")->read_idle == 7);
    gw_rt_unref(rt);
    load_fails("$SERVER[\"socket\"] == \"127.0.0.1:8081\" {\n  server.port = 9\n}\n", 2,
               "server.port applies to every listener");
    load_fails("\n$SERVER[\"socket\"] == \"nowhere\" { }\n", 2, "is not an address");
}
END_TEST

/* ---- the bound ---- */

/* n sibling blocks, block k holds when the query has "bk;" and sets max-retries = 10 + k. */
static char *many_blocks(int n)
{
    size_t cap = 64 + (size_t)n * 100;
    char *text = malloc(cap);
    size_t len = 0;
    text[0] = '\0';
    for (int k = 0; k < n; k++)
        len += (size_t)snprintf(text + len, cap - len,
                                "$HTTP[\"querystring\"] =~ \"b%d;\" {\n"
                                "  proxy-core.max-retries = %d\n}\n",
                                k, 10 + k);
    return text;
}

START_TEST(test_bound_and_fallback)
{
    char *text = many_blocks(16); /* 65536 combinations: all of them fit */
    gw_rt *rt = load_ok(text);
    free(text);
    ck_assert_uint_eq(gw_rt_ncombos(rt), 65536);
    ck_assert_ptr_null(rt->warning);
    ck_assert_uint_eq(route_of(rt, "/", "b15;")->max_retries, 25);
    ck_assert_uint_eq(route_of(rt, "/", "b3;b9;b15;b0;")->max_retries, 25);
    gw_rt_unref(rt);

    text = many_blocks(17); /* 131072: cut */
    rt = load_ok(text);
    free(text);
    ck_assert_uint_eq(gw_rt_ncombos(rt), GW_RT_MAX_COMBOS);
    /* routes with equal settings are one: the last matching block decides max-retries */
    ck_assert_uint_eq(gw_rt_nroutes(rt), 18);
    /* breadth first: every combination of up to 8 of the 17 blocks is compiled (that is exactly
     * 65536); the first one cut adds block 8 (line 25) to blocks 0-7 */
    ck_assert_ptr_nonnull(rt->warning);
    char want[400];
    snprintf(want, sizeof(want), "%s:25: more than %d combinations", conf_path, GW_RT_MAX_COMBOS);
    ck_assert_msg(strncmp(rt->warning, want, strlen(want)) == 0, "%s", rt->warning);
    /* compiled: any request matching up to 8 blocks gets its exact route */
    ck_assert_uint_eq(route_of(rt, "/", "b1;")->max_retries, 11);
    ck_assert_uint_eq(route_of(rt, "/", "b16;")->max_retries, 26);
    ck_assert_uint_eq(route_of(rt, "/", "b0;b2;b4;b6;b8;b10;b12;b16;")->max_retries, 26);
    /* not compiled: blocks taken in config order, each one whose combination with those taken
     * was not compiled left out (b0-b7 taken, b8-b16 left out) */
    ck_assert_uint_eq(
        route_of(rt, "/", "b0;b1;b2;b3;b4;b5;b6;b7;b8;b9;b10;b11;b12;b13;b14;b15;b16;")
            ->max_retries,
        17);
    gw_rt_unref(rt);
}
END_TEST

/* ---- the request path ---- */

START_TEST(test_lookup_readonly)
{
    long at_start = nalloc;
    gw_rt *rt = load_ok("proxy-core.backends = ( \"127.0.0.1:9\" )\n"
                        "$HTTP[\"url\"] =^ \"/a/\" { proxy-core.connect-timeout = 7 }\n"
                        "$HTTP[\"url\"] =~ \"x$\" { proxy-core.read-timeout = 9 }\n"
                        "$HTTP[\"host\"] =~ \"^a\" { server.document-root = \"/d\" }\n"
                        "$HTTP[\"querystring\"] == \"q\" { proxy-core.max-retries = 0 }\n");
    ck_assert_int_gt(nalloc, at_start); /* the counting works: loading allocates */
    const gw_route *r1 = route_of(rt, "/a/1x", "");
    long before = nalloc;
    int same = 0, differ = 0; /* Check itself allocates in ck_assert: count first, assert after */
    for (int i = 0; i < 100; i++) {
        same += route_of(rt, "/a/2x", "") == r1;
        same += route_of(rt, "/a/3x", "z") == r1;
        differ += route_of(rt, "/a/3x", "q") != r1;
        differ += route_of(rt, "/b/x", "") != r1;
    }
    long after = nalloc;
    ck_assert_int_eq(same, 200);
    ck_assert_int_eq(differ, 200);
    ck_assert_int_eq(after, before);
    ck_assert_ptr_nonnull(r1->pool);
    ck_assert_str_eq(r1->docroot, "/d");
    /* every route shares the one pool */
    ck_assert_ptr_eq(route_of(rt, "/b/x", "q")->pool, r1->pool);
    ck_assert_uint_eq(rt->npools, 1);
    gw_rt_unref(rt);
}
END_TEST

/* ---- the docs name everything the registry and the key table know ---- */

static int doc_has_word(const char *doc, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = strstr(doc, w); p; p = strstr(p + 1, w)) {
        char before = p == doc ? ' ' : p[-1], after = p[n];
        int wordc = (after >= 'a' && after <= 'z') || (after >= '0' && after <= '9') ||
                    after == '-' || (after == '.' && p[n + 1] >= 'a' && p[n + 1] <= 'z');
        int wordb = (before >= 'a' && before <= 'z') || before == '-' || before == '.';
        if (!wordc && !wordb) return 1;
    }
    return 0;
}

START_TEST(test_docs_name_everything)
{
    const char *srcdir = getenv("srcdir");
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/config.md", srcdir ? srcdir : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char doc[1 << 18];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    doc[n] = '\0';
    fclose(f);
    for (size_t i = 0; gw_conf_key_name(i); i++)
        ck_assert_msg(doc_has_word(doc, gw_conf_key_name(i)), "docs/config.md lacks key %s",
                      gw_conf_key_name(i));
    for (size_t i = 0; gw_protocol_name(i); i++) {
        char q[64];
        snprintf(q, sizeof(q), "\"%s\"", gw_protocol_name(i));
        ck_assert_msg(strstr(doc, q), "docs/config.md lacks protocol %s", q);
    }
    for (size_t i = 0; gw_balancer_name(i); i++) {
        char q[64];
        snprintf(q, sizeof(q), "\"%s\"", gw_balancer_name(i));
        ck_assert_msg(strstr(doc, q), "docs/config.md lacks balancer %s", q);
    }
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("combinations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_siblings_combine);
    tcase_add_test(tc, test_chains_and_nesting);
    tcase_add_test(tc, test_exclusive_conditions);
    tcase_add_test(tc, test_many_appends_all_kept);
    tcase_add_test(tc, test_thirteen_regex_blocks_each_routed);
    tcase_add_test(tc, test_append_in_block_applies_to_every_key);
    tcase_add_test(tc, test_long_else_chain_routes_every_block);
    tcase_add_test(tc, test_invalid_combination);
    tcase_add_test(tc, test_registry_names);
    tcase_add_test(tc, test_values_checked_in_every_block);
    tcase_add_test(tc, test_listener_settings);
    tcase_add_test(tc, test_bound_and_fallback);
    tcase_add_test(tc, test_lookup_readonly);
    suite_add_tcase(s, tc);
    tc = tcase_create("docs");
    tcase_add_test(tc, test_docs_name_everything);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    gw_cond_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
