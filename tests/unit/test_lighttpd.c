/* Unit tests of lighttpd 1.4 configs carried over (gateway/config/lighttpd.c and the lighttpd
 * syntax in conf.c): :=, var.PID/var.CWD, else if/elseif, lighttpd's condition names, and
 * fastcgi/scgi/proxy.server translated into routes and spawned apps, or refused with FILE:LINE. */
#include "gateway/config/cond.h"
#include "gateway/config/conf.h"
#include "gateway/config/route.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ---- */

static gw_conf *parse_ok(const char *text)
{
    char *err = NULL;
    gw_conf *c = gw_conf_parse_string("l.conf", text, strlen(text), &err);
    ck_assert_msg(c != NULL, "unexpected error: %s\nfor: %s", err ? err : "(none)", text);
    return c;
}

/* The text must fail with an error line that contains `want` ("FILE:LINE: ..."). */
static void parse_fails(const char *text, const char *want)
{
    char *err = NULL;
    gw_conf *c = gw_conf_parse_string("l.conf", text, strlen(text), &err);
    ck_assert_msg(c == NULL, "parsed although it should fail: %s", text);
    ck_assert_msg(strstr(err, want) != NULL, "error\n  %s\nlacks\n  %s", err, want);
    free(err);
}

/* The text must load with a warning that contains `want`. */
static void warns(const char *text, const char *want)
{
    gw_conf *c = parse_ok(text);
    ck_assert_msg(c->warnings && strstr(c->warnings, want), "warnings\n  %s\nlack\n  %s",
                  c->warnings ? c->warnings : "(none)", want);
    gw_conf_free(c);
}

static char *print(const gw_conf *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    gw_conf_print(c, f);
    fclose(f);
    return s;
}

/* The printed translation contains `want`; and printing it again gives the same text. */
static void prints(const char *text, const char *want)
{
    gw_conf *c = parse_ok(text);
    char *out = print(c);
    ck_assert_msg(strstr(out, want) != NULL, "printed\n%s\nlacks\n%s", out, want);
    gw_conf *again = parse_ok(out);
    char *out2 = print(again);
    ck_assert_str_eq(out, out2);
    free(out);
    free(out2);
    gw_conf_free(again);
    gw_conf_free(c);
}

static const gw_val *get(const gw_block *b, const char *key)
{
    const gw_setting *s = gw_block_get(b, key);
    return s ? s->val : NULL;
}

/* ---- syntax ---- */

START_TEST(test_colon_assign)
{
    gw_conf *c = parse_ok("server.port = 81\nserver.port := 82\nvar.a = \"x\"\nvar.a := \"y\"\n"
                          "server.tag = var.a\n");
    ck_assert_int_eq(get(c->root, "server.port")->num, 82);
    ck_assert_str_eq(get(c->root, "server.tag")->str, "y");
    gw_conf_free(c);
    parse_fails("server.port : 82\n", "l.conf:1: unexpected character ':'");
}
END_TEST

START_TEST(test_pid_cwd)
{
    char cwd[4096], want[4200];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    gw_conf *c = parse_ok("server.tag = var.CWD + \"/x\"\nproxy-core.max-retries = var.PID\n");
    snprintf(want, sizeof(want), "%s/x", cwd);
    ck_assert_str_eq(get(c->root, "server.tag")->str, want);
    ck_assert_int_eq(get(c->root, "proxy-core.max-retries")->num, getpid());
    gw_conf_free(c);
    c = parse_ok("var.CWD = \"/srv\"\nserver.tag = var.CWD\n"); /* assignable, as in lighttpd */
    ck_assert_str_eq(get(c->root, "server.tag")->str, "/srv");
    gw_conf_free(c);
}
END_TEST

START_TEST(test_else_if)
{
    gw_conf *c = parse_ok("$HTTP[\"url\"] == \"/a\" { }\n"
                          "else if $HTTP[\"url\"] == \"/b\" { }\n"
                          "elseif $HTTP[\"url\"] == \"/c\" { }\n"
                          "else { }\n");
    ck_assert_uint_eq(c->root->nchildren, 1);
    const gw_block *b = c->root->children[0];
    ck_assert_str_eq(b->else_next->cond->pattern, "/b");
    ck_assert_str_eq(b->else_next->else_next->cond->pattern, "/c");
    ck_assert_ptr_null(b->else_next->else_next->else_next->cond);
    gw_conf_free(c);
    parse_fails("$HTTP[\"url\"] == \"/\" { }\nelse if { }\n",
                "l.conf:2: expected a condition after 'else if', found '{'");
    parse_fails("elseif $HTTP[\"url\"] == \"/\" { }\n",
                "l.conf:1: 'elseif' must follow the '}' of a condition block");
}
END_TEST

START_TEST(test_lighty_fields)
{
    gw_conf *c = parse_ok("$HTTP[\"useragent\"] =~ \"curl\" { }\n"
                          "$HTTP[\"referer\"] == \"r\" { }\n"
                          "$HTTP[\"cookie\"] =^ \"sid=\" { }\n"
                          "$HTTP[\"remoteip\"] == \"10.0.0.0/8\" { }\n");
    gw_header hdr[] = {{GW_STR("user-agent"), GW_STR("curl/8")},
                       {GW_STR("Referer"), GW_STR("r")},
                       {GW_STR("Cookie"), GW_STR("sid=1")}};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a010203)};
    gw_cond_ctx ctx = {.hdr = hdr, .nhdr = 3, .remote = (const struct sockaddr *)&sin};
    ck_assert_int_eq(c->root->children[0]->cond->field, GW_COND_HEADER);
    ck_assert_str_eq(c->root->children[0]->cond->header, "User-Agent");
    for (int i = 0; i < 4; i++) ck_assert(gw_cond_match(c->root->children[i]->cond, &ctx));
    sin.sin_addr.s_addr = htonl(0x0b000001);
    ck_assert(!gw_cond_match(c->root->children[3]->cond, &ctx));
    ctx.nhdr = 0;
    ck_assert(!gw_cond_match(c->root->children[0]->cond, &ctx));
    char *out = print(c);
    ck_assert_ptr_nonnull(strstr(out, "$REQUEST_HEADER[\"User-Agent\"] =~ \"curl\""));
    ck_assert_ptr_nonnull(strstr(out, "$HTTP[\"remote-ip\"] == \"10.0.0.0/8\""));
    free(out);
    gw_conf_free(c);
}
END_TEST

/* ---- fastcgi.server, scgi.server, proxy.server ---- */

static const char php[] = "fastcgi.server = ( \".php\" =>\n"
                          "  ( \"php-local\" =>\n"
                          "    ( \"socket\" => \"/tmp/php.socket\",\n"
                          "      \"bin-path\" => \"/bin/cat\",\n"
                          "      \"max-procs\" => 2,\n"
                          "      \"bin-environment\" => ( \"PHP_FCGI_CHILDREN\" => \"8\" ),\n"
                          "      \"bin-copy-environment\" => ( \"PATH\", \"USER\" ),\n"
                          "      \"x-sendfile\" => \"enable\",\n"
                          "      \"x-sendfile-docroot\" => ( \"/tmp\" ),\n"
                          "      \"broken-scriptfilename\" => \"enable\" ) ) )\n";

START_TEST(test_fastcgi_bin_path)
{
    gw_conf *c = parse_ok(php);
    ck_assert_ptr_null(c->warnings);
    const gw_val *apps = get(c->root, "spawn.apps");
    ck_assert_uint_eq(apps->n, 1);
    ck_assert_str_eq(apps->keys[0], "php-local");
    const gw_val *app = apps->items[0];
    static const char *const want[][2] = {
        {"bin-path", "/bin/cat"}, {"pass-socket", "fd0"}, {"socket", "unix:/tmp/php.socket"}};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(app->keys[i], want[i][0]);
        ck_assert_str_eq(app->items[i]->str, want[i][1]);
    }
    const char *nums[] = {"min-procs", "max-procs", "concurrency"};
    long long vals[] = {2, 2, 8};
    for (size_t i = 0; i < 3; i++) {
        long k = -1;
        for (size_t j = 0; j < app->n; j++)
            if (strcmp(app->keys[j], nums[i]) == 0) k = (long)j;
        ck_assert_msg(k >= 0, "%s missing", nums[i]);
        ck_assert_int_eq(app->items[k]->num, vals[i]);
    }
    const gw_block *r = c->root->children[0];
    ck_assert_int_eq(r->cond->op, GW_OP_SUFFIX);
    ck_assert_str_eq(r->cond->pattern, ".php");
    ck_assert_int_eq(r->line, 2); /* the extension's hosts */
    ck_assert_str_eq(get(r, "proxy-core.protocol")->str, "fastcgi");
    ck_assert_str_eq(get(r, "proxy-core.backends")->items[0]->str, "spawn:php-local");
    ck_assert_str_eq(get(r, "proxy-core.allow-x-sendfile")->str, "enable");
    ck_assert_str_eq(get(r, "proxy-core.x-sendfile-docroot")->items[0]->str, "/tmp");
    ck_assert_ptr_null(get(r, "proxy-core.script-name"));
    gw_conf_free(c);
}
END_TEST

START_TEST(test_first_match_chain)
{
    /* lighttpd takes the first extension that matches: an else chain; "" after others is the
     * plain else, and what follows it is never reached */
    prints("proxy.server = ( \"/api\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 3000 ) ),\n"
           "                 \".jsp\" => ( ( \"host\" => \"::1\", \"port\" => 8080 ) ),\n"
           "                 \"\" => ( ( \"socket\" => \"/run/app.sock\" ) ) )\n",
           "$HTTP[\"url\"] =^ \"/api\" {\n"
           "    proxy-core.protocol = \"http\"\n"
           "    proxy-core.backends = ( \"127.0.0.1:3000\" )\n"
           "} else $HTTP[\"url\"] =$ \".jsp\" {\n"
           "    proxy-core.protocol = \"http\"\n"
           "    proxy-core.backends = ( \"[::1]:8080\" )\n"
           "} else {\n"
           "    proxy-core.protocol = \"http\"\n"
           "    proxy-core.backends = ( \"unix:/run/app.sock\" )\n"
           "}\n");
    warns("proxy.server = ( \"\" => ( ( \"host\" => \"127.0.0.1\" ) ),\n"
          "  \".x\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n",
          "l.conf:2: proxy.server \".x\" is never reached (dropped)");
    prints("proxy.server = ( \"\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n",
           "$HTTP[\"url\"] =^ \"\" {\n    proxy-core.protocol = \"http\"\n"
           "    proxy-core.backends = ( \"127.0.0.1:80\" )\n");
}
END_TEST

START_TEST(test_prefix_script_name)
{
    prints("fastcgi.server = ( \"/app\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 9000,\n"
           "  \"check-local\" => \"disable\" ) ) )\n",
           "proxy-core.script-name = \"/app\"");
    prints("scgi.server = ( \"/\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 9000,\n"
           "  \"check-local\" => \"disable\", \"fix-root-scriptname\" => \"enable\" ) ) )\n",
           "proxy-core.protocol = \"scgi\"\n    proxy-core.backends = ( \"127.0.0.1:9000\" )\n"
           "    proxy-core.script-name = \"\"");
    parse_fails("fastcgi.server = ( \"/cgi/\" =>\n ( ( \"host\" => \"127.0.0.1\", \"port\" => 1,\n"
                "  \"check-local\" => \"disable\" ) ) )\n",
                "l.conf:2: fastcgi.server \"/cgi/\" is not carried");
    parse_fails("fastcgi.server = ( \"/\" =>\n ( ( \"host\" => \"127.0.0.1\", \"port\" => 1,\n"
                "  \"check-local\" => \"disable\" ) ) )\n",
                "\"fix-root-scriptname\" => \"enable\"");
}
END_TEST

START_TEST(test_balance)
{
    prints("proxy.balance = \"hash\"\n"
           "$HTTP[\"host\"] == \"a\" {\n"
           "  proxy.server = ( \"\" => ( ( \"host\" => \"10.0.0.1\", \"port\" => 80 ),\n"
           "                           ( \"host\" => \"10.0.0.2\", \"port\" => 80 ) ) )\n"
           "}\n",
           "    proxy-core.backends = ( \"10.0.0.1:80\", \"10.0.0.2:80\" )\n"
           "        proxy-core.balancer = \"hash\"");
    prints("fastcgi.server = ( \".php\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 1 ) ) )\n"
           "fastcgi.balance = \"fair\"\nproxy.balance = \"round-robin\"\n",
           "proxy-core.balancer = \"sqf\"");
    parse_fails("proxy.server = ( \"\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n"
                "proxy.balance = \"sticky\"\n",
                "l.conf:2: proxy.balance \"sticky\" is not carried");
    parse_fails("proxy.server = ( \"\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n"
                "$HTTP[\"host\"] == \"a\" {\n  proxy.balance = \"hash\"\n}\n",
                "l.conf:3: proxy.balance is not carried: no proxy.server is set in its block");
    warns("scgi.balance = \"hash\"\n", "l.conf:1: scgi.balance is not carried (dropped)");
}
END_TEST

START_TEST(test_replace_and_override)
{
    /* a later `=` in the same block replaces the first; `+=` adds extensions */
    gw_conf *c = parse_ok("fastcgi.server = ( \".a\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n"
                          "fastcgi.server = ( \".b\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n"
                          "fastcgi.server += ( \".c\" => ( ( \"host\" => \"127.0.0.1\" ) ) )\n");
    ck_assert_uint_eq(c->root->nchildren, 2);
    ck_assert_str_eq(c->root->children[0]->cond->pattern, ".b");
    ck_assert_str_eq(c->root->children[1]->cond->pattern, ".c");
    gw_conf_free(c);
    /* a block that sets fastcgi.server anew: what its extensions do not take is not proxied */
    prints("fastcgi.server = ( \".php\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 1 ) ) )\n"
           "$HTTP[\"host\"] == \"a\" {\n"
           "  fastcgi.server = ( \".fcgi\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 2 ) ) )\n"
           "}\n",
           "    } else {\n        proxy-core.backends = ( )\n    }\n");
}
END_TEST

START_TEST(test_refused)
{
    parse_fails("fastcgi.server = ( \".php\" => ( \"x\" => ( \"host\" => \"127.0.0.1\",\n"
                "  \"strip-request-uri\" => \"/app\" ) ) )\n",
                "l.conf:2: fastcgi.server \".php\" => \"x\": \"strip-request-uri\" is not carried");
    parse_fails("fastcgi.server = ( \".php\" => ( ( \"host\" => \"127.0.0.1\",\n"
                "  \"mode\" => \"authorizer\" ) ) )\n",
                "l.conf:2: fastcgi.server \".php\" => \"\": \"mode\" \"authorizer\"");
    parse_fails("fastcgi.server = ( \".php\" => ( ( \"host\" => \"127.0.0.1\",\n"
                "  \"max_procs\" => 2 ) ) )\n",
                "l.conf:2: fastcgi.server \".php\" => \"\": \"max_procs\" is not a lighttpd");
    parse_fails("fastcgi.server = ( \".php\" => ( ( \"bin-path\" => \"/bin/cat\" ),\n"
                "  ( \"host\" => \"127.0.0.1\" ) ) )\n",
                "a host with \"bin-path\" must be the only host");
    parse_fails("fastcgi.server = ( \".php\" =>\n ( ( \"port\" => 9000 ) ) )\n",
                "l.conf:2: fastcgi.server \".php\" => \"\": needs \"host\", \"socket\"");
    parse_fails("fastcgi.server = \"x\"\n", "l.conf:1: fastcgi.server must be");
    parse_fails("server.port = 80\nindex-file.names = ( \"index.php\" )\n",
                "l.conf:2: lighttpd's index-file.names is not carried");
    parse_fails("url.rewrite-once = ( \"^/a\" => \"/b\" )\n", "l.conf:1: lighttpd's url.rewrite");
    parse_fails("proxy.replace-http-host = 1\n", "l.conf:1: lighttpd's proxy.replace-http-host");
    gw_conf_free(parse_ok("server.dir-listing = \"disable\"\nurl.access-deny = ()\n"));
}
END_TEST

START_TEST(test_dropped)
{
    warns("fastcgi.server = ( \".php\" => ( ( \"bin-path\" => \"/bin/cat\",\n"
          "  \"max-load-per-proc\" => 4, \"check-local\" => \"enable\" ) ) )\n",
          "l.conf:2: fastcgi.server \".php\" => \"\": \"max-load-per-proc\" is not carried "
          "(dropped)");
    warns("fastcgi.server = ( \".php\" => ( ( \"bin-path\" => \"/bin/cat\",\n"
          "  \"check-local\" => \"enable\" ) ) )\n",
          "l.conf:2: fastcgi.server \".php\" => \"\": \"check-local\" is not carried");
    warns("server.port = 80\nmimetype.assign = ( \".html\" => \"text/html\" )\n",
          "l.conf:2: lighttpd's mimetype.assign is not carried (dropped)");
    warns("proxy.server = ( \"\" => ( ( \"host\" => \"127.0.0.1\", \"read-timeout\" => 0 ) ) )\n",
          "l.conf:1: proxy.server \"\" => \"\": \"read-timeout\" 0 (no limit) is not carried");
}
END_TEST

START_TEST(test_apps_named_and_shared)
{
    /* two extensions with the same host share one app; a name taken gets "-2" */
    gw_conf *c = parse_ok("spawn.apps = ( \"php\" => ( \"bin-path\" => \"/bin/cat\" ) )\n"
                          "fastcgi.server = (\n"
                          "  \".php\" => ( \"php\" => ( \"bin-path\" => \"/bin/cat -a\" ) ),\n"
                          "  \".php5\" => ( \"php\" => ( \"bin-path\" => \"/bin/cat -a\" ) ),\n"
                          "  \".cgi\" => ( ( \"bin-path\" => \"/usr/bin/env x\" ) ) )\n");
    const gw_val *apps = get(c->root, "spawn.apps");
    ck_assert_uint_eq(apps->n, 3);
    ck_assert_str_eq(apps->keys[0], "php");
    ck_assert_str_eq(apps->keys[1], "php-2");
    ck_assert_str_eq(apps->keys[2], "env");
    const gw_block *r = c->root->children[0];
    ck_assert_str_eq(get(r, "proxy-core.backends")->items[0]->str, "spawn:php-2");
    ck_assert_str_eq(get(r->else_next, "proxy-core.backends")->items[0]->str, "spawn:php-2");
    ck_assert_str_eq(get(r->else_next->else_next, "proxy-core.backends")->items[0]->str,
                     "spawn:env");
    gw_conf_free(c);
}
END_TEST

/* ---- loaded whole: routes and apps ---- */

START_TEST(test_load_routes)
{
    char dir[] = "/tmp/lighty-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/l.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(php, f);
    fputs("proxy.server = ( \"/api\" => ( ( \"host\" => \"127.0.0.1\", \"port\" => 3000,\n"
          "  \"listen-backlog\" => 10 ) ) )\n",
          f);
    fclose(f);
    char *err = NULL;
    gw_rt *rt = gw_rt_load(path, &err);
    ck_assert_msg(rt != NULL, "%s", err ? err : "");
    ck_assert_uint_eq(rt->napps, 1);
    ck_assert_str_eq(rt->apps[0]->name, "php-local");
    ck_assert_ptr_nonnull(strstr(rt->warning, "l.conf:12: proxy.server \"/api\" => \"\": "
                                              "\"listen-backlog\" is not carried (dropped)"));
    gw_cond_ctx ctx = {.url = GW_STR("/x.php"), .host = GW_STR("a"), .method = GW_STR("GET")};
    const gw_route *r = gw_rt_route(rt, &ctx);
    ck_assert_ptr_nonnull(r->pool);
    ck_assert_str_eq(r->ops->name, "fastcgi");
    ck_assert_int_eq(r->allow_xsendfile, 1);
    ctx.url = GW_STR("/api/x.php"); /* the later proxy.server block wins, as later blocks do */
    r = gw_rt_route(rt, &ctx);
    ck_assert_str_eq(r->ops->name, "http");
    ctx.url = GW_STR("/x.html");
    ck_assert_ptr_null(gw_rt_route(rt, &ctx)->pool);
    gw_rt_unref(rt);
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *lighty_suite(void)
{
    Suite *s = suite_create("lighttpd");
    TCase *t = tcase_create("syntax");
    tcase_add_test(t, test_colon_assign);
    tcase_add_test(t, test_pid_cwd);
    tcase_add_test(t, test_else_if);
    tcase_add_test(t, test_lighty_fields);
    suite_add_tcase(s, t);
    t = tcase_create("servers");
    tcase_add_test(t, test_fastcgi_bin_path);
    tcase_add_test(t, test_first_match_chain);
    tcase_add_test(t, test_prefix_script_name);
    tcase_add_test(t, test_balance);
    tcase_add_test(t, test_replace_and_override);
    tcase_add_test(t, test_refused);
    tcase_add_test(t, test_dropped);
    tcase_add_test(t, test_apps_named_and_shared);
    tcase_add_test(t, test_load_routes);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lighty_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    gw_cond_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
