/* Unit tests for gateway/rewrite.c: compiling hand-built config values (errors with FILE:LINE),
 * $0..$9 expansion, first-match-wins, pseudo headers, request and response rewriting, and the
 * CR/LF/NUL refusal. */
#include "gateway/config/rewrite.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- hand-built gw_val trees, all in one arena ---- */

static gw_arena va;

static gw_val *vnew(gw_val_type t, int line)
{
    gw_val *v = gw_arena_alloc(&va, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = t;
    v->file = "test.conf";
    v->line = line;
    return v;
}

static gw_val *vstr(const char *s, int line)
{
    gw_val *v = vnew(GW_VAL_STR, line);
    v->str = gw_arena_strndup(&va, s, strlen(s));
    return v;
}

static gw_val *vint(long long n, int line)
{
    gw_val *v = vnew(GW_VAL_INT, line);
    v->num = n;
    return v;
}

/* vmap(line, n, "key1", val1, "key2", val2, ...) */
static gw_val *vmap(int line, size_t n, ...)
{
    gw_val *v = vnew(GW_VAL_MAP, line);
    v->n = n;
    v->keys = gw_arena_alloc(&va, (n ? n : 1) * sizeof(char *));
    v->items = gw_arena_alloc(&va, (n ? n : 1) * sizeof(gw_val *));
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        v->keys[i] = va_arg(ap, char *);
        v->items[i] = va_arg(ap, gw_val *);
    }
    va_end(ap);
    return v;
}

/* one header, one pattern */
static gw_val *rule1(const char *hdr, const char *re, const char *repl)
{
    return vmap(1, 1, hdr, vmap(2, 1, re, vstr(repl, 3)));
}

static gw_rewrites rw;
static gw_arena ra;

static void setup(void)
{
    memset(&va, 0, sizeof(va));
    memset(&ra, 0, sizeof(ra));
    memset(&rw, 0, sizeof(rw));
}

static void teardown(void)
{
    gw_rewrites_free(&rw);
    gw_arena_free(&va);
    gw_arena_free(&ra);
}

static void compile_ok(const gw_val *map)
{
    char *err = NULL;
    int r = gw_rewrites_compile(map, &rw, &err);
    ck_assert_msg(r == GW_OK, "compile: %s", err ? err : "?");
    ck_assert_ptr_null(err);
}

static void req_init(gw_req *rq, gw_header *hdr, size_t nhdr, const char *target)
{
    memset(rq, 0, sizeof(*rq));
    rq->hdr = hdr;
    rq->nhdr = nhdr;
    rq->target = gw_str_from(target);
    rq->arena = &ra;
}

#define H(n, v) ((gw_header){GW_STR(n), GW_STR(v)})

static void assert_str(gw_str s, const char *want)
{
    ck_assert_ptr_nonnull(s.p);
    ck_assert_msg(s.n == strlen(want) && memcmp(s.p, want, s.n) == 0, "got \"%.*s\", want \"%s\"",
                  (int)s.n, s.p, want);
}

/* ---- the mod_proxy_core examples ---- */

START_TEST(test_uri_proxyme)
{
    compile_ok(rule1("_uri", "^/proxyme(/.*)", "$1"));
    ck_assert_uint_eq(rw.n, 1);
    gw_req rq;
    req_init(&rq, NULL, 0, "/proxyme/app/x?y=1");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    assert_str(rq.backend_target, "/app/x?y=1");
    assert_str(rq.target, "/proxyme/app/x?y=1"); /* REQUEST_URI keeps what the client sent */
    ck_assert_uint_eq(rq.nextra, 0);

    req_init(&rq, NULL, 0, "/other/proxyme/x");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    ck_assert_ptr_null(rq.backend_target.p);

    /* an earlier rewrite of the target is the starting point */
    req_init(&rq, NULL, 0, "/client");
    rq.backend_target = GW_STR("/proxyme/set");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    assert_str(rq.backend_target, "/set");
}
END_TEST

START_TEST(test_location_response)
{
    compile_ok(rule1("Location", "^http://127.0.0.1:3000/(.*)", "http://example.org/proxyme/$1"));
    gw_header hdr[3] = {H("Content-Type", "text/html"),
                        H("location", "http://127.0.0.1:3000/login?next=%2Fa"),
                        H("Set-Cookie", "http://127.0.0.1:3000/x")};
    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.hdr = hdr;
    rsp.nhdr = 3;
    rsp.arena = &ra;
    ck_assert_int_eq(gw_rewrite_response(&rw, &rsp), GW_OK);
    assert_str(rsp.hdr[1].value, "http://example.org/proxyme/login?next=%2Fa");
    assert_str(rsp.hdr[0].value, "text/html");
    assert_str(rsp.hdr[2].value, "http://127.0.0.1:3000/x");

    hdr[1] = H("Location", "https://elsewhere/");
    ck_assert_int_eq(gw_rewrite_response(&rw, &rsp), GW_OK);
    assert_str(rsp.hdr[1].value, "https://elsewhere/");

    hdr[1] = H("Location", "http://127.0.0.1:3000/a\r\nSet-Cookie: x=1");
    ck_assert_int_eq(gw_rewrite_response(&rw, &rsp), GW_ERR);
}
END_TEST

/* ---- expansion ---- */

static const char *apply1(const char *re, const char *repl, const char *value, int *rc)
{
    gw_rewrites_free(&rw);
    compile_ok(rule1("X-T", re, repl));
    gw_str out = GW_STR_NULL;
    *rc = gw_rewrite_apply(&rw.rules[0], gw_str_from(value), &ra, &out);
    if (*rc != 1) return NULL;
    ck_assert_uint_eq(strlen(out.p), out.n); /* NUL-terminated, no NUL inside */
    return out.p;
}

START_TEST(test_captures)
{
    static const struct {
        const char *re, *repl, *value, *want; /* want NULL: no match */
    } cases[] = {
        {"^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)$", "$9$8$7$6$5$4$3$2$1$0", "abcdefghij",
         "ihgfedcbaabcdefghij"},
        {"^(\\w+)@(\\w+)$", "$2 at $1", "joe@host", "host at joe"},
        /* more groups than $0..$9 can name: the first ten are still set */
        {"^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$", "$9$1$0", "abcdefghijkl", "iaabcdefghijkl"},
        {"^(a)|(b)$", "[$1][$2]", "b", "[][b]"}, /* unset group: empty */
        {"^(a)", "$1$5", "abc", "a"},            /* group past the last: empty */
        {"b", "$0$0", "abc", "bb"},              /* the whole value is replaced */
        {"^x", "$$1 $$ $x $", "xyz", "$1 $ $x $"},
        {"^(.*)$", "", "anything", ""},
        {"^$", "empty", "", "empty"},
        {"^z", "nope", "abc", NULL},
        {"^A", "ci", "abc", NULL}, /* case-sensitive */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        const char *got = apply1(cases[i].re, cases[i].repl, cases[i].value, &rc);
        if (cases[i].want == NULL) {
            ck_assert_msg(rc == 0, "%s on %s: rc %d", cases[i].re, cases[i].value, rc);
        } else {
            ck_assert_msg(rc == 1, "%s on %s: rc %d", cases[i].re, cases[i].value, rc);
            ck_assert_str_eq(got, cases[i].want);
        }
    }
}
END_TEST

START_TEST(test_crlf_nul)
{
    int rc;
    ck_assert_ptr_null(apply1("(?s)^(.*)$", "v=$1", "a\nb", &rc));
    ck_assert_int_eq(rc, GW_ERR);
    ck_assert_ptr_null(apply1("(?s)^(.*)$", "v=$1", "a\rb", &rc));
    ck_assert_int_eq(rc, GW_ERR);
    ck_assert_str_eq(apply1("^(a)", "v=$1", "a\nb", &rc), "v=a"); /* the CR/LF is not copied */
    gw_str out;
    ck_assert_int_eq(gw_rewrite_apply(&rw.rules[0], (gw_str){"a\0b", 3}, &ra, &out), 1);
    ck_assert_str_eq(apply1("^(.*)$", "$1", "x", &rc), "x");
    ck_assert_int_eq(gw_rewrite_apply(&rw.rules[0], (gw_str){"a\0b", 3}, &ra, &out), GW_ERR);

    /* through the request: a pseudo field and a header */
    gw_rewrites_free(&rw);
    compile_ok(vmap(1, 2, "_pathinfo", vmap(2, 1, "(?s)^/(.*)", vstr("/x/$1", 3)), "X-A",
                    vmap(4, 1, "(.*)", vstr("$1", 5))));
    gw_req rq;
    req_init(&rq, NULL, 0, "/");
    rq.path_info = GW_STR("/a\nb");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_ERR);
    gw_header hdr[1] = {{GW_STR("X-A"), {"a\r", 2}}};
    req_init(&rq, hdr, 1, "/");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_ERR);
}
END_TEST

/* ---- request rewriting ---- */

START_TEST(test_first_pattern_wins)
{
    compile_ok(
        vmap(1, 1, "X-Foo",
             vmap(2, 3, "^a", vstr("first", 3), "^ab", vstr("second", 4), ".*", vstr("third", 5))));
    ck_assert_uint_eq(rw.n, 3);
    ck_assert_str_eq(rw.rules[1].repl, "second");
    gw_header hdr[4] = {H("X-Foo", "abc"), H("Host", "h"), H("x-foo", "zzz"),
                        H("X-Foo-Bar", "abc")};
    gw_req rq;
    req_init(&rq, hdr, 4, "/");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    ck_assert_uint_eq(rq.nextra, 2);
    assert_str(rq.extra[0].name, "X-Foo");
    assert_str(rq.extra[0].value, "first");
    assert_str(rq.extra[1].name, "x-foo");
    assert_str(rq.extra[1].value, "third");
    assert_str(hdr[0].value, "abc"); /* the originals are left alone */
}
END_TEST

START_TEST(test_headers_into_extra)
{
    compile_ok(vmap(1, 2, "X-Foo", vmap(2, 1, "^a(.*)", vstr("b$1", 3)), "Host",
                    vmap(4, 1, ".*", vstr("backend.local", 5))));
    gw_header hdr[4] = {H("X-Foo", "a1"), H("Accept", "*/*"), H("x-foo", "zz"),
                        H("host", "example.org")};
    gw_req rq;
    req_init(&rq, hdr, 4, "/");
    gw_header pre = H("X-Pre", "kept");
    rq.extra = &pre;
    rq.nextra = 1;
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    ck_assert_uint_eq(rq.nextra, 4);
    assert_str(rq.extra[0].name, "X-Pre");
    assert_str(rq.extra[0].value, "kept");
    /* one match among two X-Foo lines: both go into extra, the other one unchanged */
    assert_str(rq.extra[1].value, "b1");
    assert_str(rq.extra[2].name, "x-foo");
    assert_str(rq.extra[2].value, "zz");
    assert_str(rq.extra[3].name, "host");
    assert_str(rq.extra[3].value, "backend.local");

    /* nothing matches: nothing added */
    gw_header none[2] = {H("X-Foo", "zz"), H("Accept", "*/*")};
    req_init(&rq, none, 2, "/");
    gw_rewrites_free(&rw);
    compile_ok(rule1("X-Foo", "^a", "b"));
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    ck_assert_uint_eq(rq.nextra, 0);
    ck_assert_ptr_null(rq.extra);
}
END_TEST

START_TEST(test_pseudo_fields)
{
    compile_ok(vmap(1, 3, "_docroot", vmap(2, 1, "^/srv/www$", vstr("/var/app", 3)), "_scriptname",
                    vmap(4, 1, "^/app(/.*)?$", vstr("/app", 5)), "_pathinfo",
                    vmap(6, 1, "^$", vstr("/", 7))));
    gw_req rq;
    req_init(&rq, NULL, 0, "/app");
    rq.docroot = GW_STR("/srv/www");
    rq.script_filename = GW_STR("/srv/www/app");
    rq.script_name = GW_STR("/app/index");
    rq.path_info = GW_STR("");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    assert_str(rq.docroot, "/var/app");
    assert_str(rq.script_filename, "/var/app/app"); /* moved with the docroot */
    assert_str(rq.script_name, "/app");
    assert_str(rq.path_info, "/");
    ck_assert_ptr_null(rq.backend_target.p);

    /* a front controller: every path runs one script (after a _docroot rule, which it wins) */
    gw_rewrites fc;
    char *err = NULL;
    ck_assert_int_eq(
        gw_rewrites_compile(vmap(1, 2, "_docroot", vmap(2, 1, "^/srv/www$", vstr("/var/app", 3)),
                                 "_scriptfilename",
                                 vmap(4, 1, "^(/var/app)/.*$", vstr("$1/index.php", 5))),
                            &fc, &err),
        GW_OK);
    req_init(&rq, NULL, 0, "/hello/x");
    rq.docroot = GW_STR("/srv/www");
    rq.script_filename = GW_STR("/srv/www/hello/x");
    ck_assert_int_eq(gw_rewrite_request(&fc, &rq), GW_OK);
    assert_str(rq.docroot, "/var/app");
    assert_str(rq.script_filename, "/var/app/index.php");
    gw_rewrites_free(&fc);

    /* SCRIPT_FILENAME outside the old docroot is left alone */
    req_init(&rq, NULL, 0, "/");
    rq.docroot = GW_STR("/srv/www");
    rq.script_filename = GW_STR("/elsewhere/x.php");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    assert_str(rq.script_filename, "/elsewhere/x.php");

    /* pseudo rules never touch a header, and response rewriting ignores them */
    gw_header hdr[1] = {H("_docroot", "/srv/www")};
    req_init(&rq, hdr, 1, "/");
    ck_assert_int_eq(gw_rewrite_request(&rw, &rq), GW_OK);
    ck_assert_uint_eq(rq.nextra, 0);
    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.hdr = hdr;
    rsp.nhdr = 1;
    rsp.arena = &ra;
    ck_assert_int_eq(gw_rewrite_response(&rw, &rsp), GW_OK);
    assert_str(hdr[0].value, "/srv/www");

    /* empty rule sets do nothing */
    gw_rewrites empty = {NULL, 0};
    ck_assert_int_eq(gw_rewrite_request(&empty, &rq), GW_OK);
    ck_assert_int_eq(gw_rewrite_request(NULL, &rq), GW_OK);
    ck_assert_int_eq(gw_rewrite_response(NULL, &rsp), GW_OK);
}
END_TEST

/* ---- compile errors ---- */

static void compile_err(const gw_val *map, const char *prefix, const char *needle)
{
    char *err = NULL;
    gw_rewrites out = {(gw_rewrite_rule *)&out, 99}; /* must be reset */
    ck_assert_int_eq(gw_rewrites_compile(map, &out, &err), GW_ERR);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "\"%s\" lacks \"%s\"", err, prefix);
    ck_assert_msg(strstr(err, needle) != NULL, "\"%s\" lacks \"%s\"", err, needle);
    ck_assert_ptr_null(out.rules);
    ck_assert_uint_eq(out.n, 0);
    free(err);
}

START_TEST(test_compile_errors)
{
    /* a bad regex after a good one: the good one is freed again (ASan would see a leak) */
    compile_err(vmap(1, 2, "_uri", vmap(2, 1, "^/ok", vstr("/", 3)), "X-A",
                     vmap(6, 2, "^fine$", vstr("x", 7), "(unclosed", vstr("y", 8))),
                "test.conf:8: ", "bad regex \"(unclosed\"");
    compile_err(vmap(1, 1, "_uri", vstr("x", 3)), "test.conf:3: ", "expected a map");
    compile_err(vmap(1, 1, "X-A", vmap(4, 1, "a", vint(5, 9))),
                "test.conf:9: ", "must be a string");
    compile_err(vstr("x", 11), "test.conf:11: ", "expected (");
    gw_val *list = vnew(GW_VAL_LIST, 12);
    compile_err(list, "test.conf:12: ", "expected (");
    compile_err(vmap(1, 1, "_nope", vmap(13, 1, "a", vstr("b", 14))),
                "test.conf:13: ", "unknown pseudo header");
    compile_err(vmap(1, 1, "Bad Name", vmap(15, 1, "a", vstr("b", 16))),
                "test.conf:15: ", "not allowed");
    compile_err(vmap(1, 1, "", vmap(17, 1, "a", vstr("b", 18))), "test.conf:17: ", "empty");
    compile_err(vmap(1, 1, "X-A", vmap(19, 1, "a", vstr("b\r\nX: y", 20))),
                "test.conf:20: ", "CR or LF");
    gw_val *anon = vstr("x", 0);
    anon->file = NULL;
    compile_err(anon, "(config):0: ", "expected (");

    /* empty and absent maps are fine */
    char *err = NULL;
    ck_assert_int_eq(gw_rewrites_compile(NULL, &rw, &err), GW_OK);
    ck_assert_uint_eq(rw.n, 0);
    ck_assert_int_eq(gw_rewrites_compile(vmap(1, 0), &rw, &err), GW_OK);
    ck_assert_uint_eq(rw.n, 0);
    ck_assert_int_eq(gw_rewrites_compile(vmap(1, 1, "X-A", vmap(2, 0)), &rw, &err), GW_OK);
    ck_assert_uint_eq(rw.n, 0);
    ck_assert_ptr_null(err);
}
END_TEST

START_TEST(test_compile_order)
{
    compile_ok(vmap(1, 2, "Location", vmap(2, 2, "^a", vstr("1", 3), "^b", vstr("2", 4)), "_uri",
                    vmap(5, 1, "^c", vstr("3", 6))));
    ck_assert_uint_eq(rw.n, 3);
    ck_assert_str_eq(rw.rules[0].header, "Location");
    ck_assert_str_eq(rw.rules[1].header, "Location");
    ck_assert_str_eq(rw.rules[2].header, "_uri");
    ck_assert_str_eq(rw.rules[2].repl, "3");
    for (size_t i = 0; i < rw.n; i++) {
        ck_assert_ptr_nonnull(rw.rules[i].re);
    }
    gw_rewrites_free(&rw);
    ck_assert_uint_eq(rw.n, 0);
    ck_assert_ptr_null(rw.rules);
}
END_TEST

static Suite *rewrite_suite(void)
{
    Suite *s = suite_create("rewrite");
    TCase *tc = tcase_create("rewrite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_uri_proxyme);
    tcase_add_test(tc, test_location_response);
    tcase_add_test(tc, test_captures);
    tcase_add_test(tc, test_crlf_nul);
    tcase_add_test(tc, test_first_pattern_wins);
    tcase_add_test(tc, test_headers_into_extra);
    tcase_add_test(tc, test_pseudo_fields);
    tcase_add_test(tc, test_compile_errors);
    tcase_add_test(tc, test_compile_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rewrite_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
