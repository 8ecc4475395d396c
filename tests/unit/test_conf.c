/* Unit tests of the configuration language (gateway/conf.c) and of condition matching
 * (gateway/cond.c): syntax, every error with its FILE:LINE, printing, matching; main() also
 * runs conf_include_tcase() from test_conf_files.c (includes). */
#include "gateway/config/conf.h"
#include "gateway/config/cond.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers (get and write_file also for test_conf_files.c) ---- */

const gw_val *get(const gw_block *b, const char *key);
void write_file(const char *path, const char *text);
TCase *conf_include_tcase(void);

static gw_conf *parse_ok(const char *text)
{
    char *err = NULL;
    gw_conf *c = gw_conf_parse_string("test.conf", text, strlen(text), &err);
    ck_assert_msg(c != NULL, "unexpected error: %s\nfor: %s", err ? err : "(none)", text);
    ck_assert_ptr_null(err);
    return c;
}

/* The text must fail, and the error text must contain `want` (a "FILE:LINE: message"). */
static void parse_fails(const char *text, const char *want)
{
    char *err = NULL;
    gw_conf *c = gw_conf_parse_string("test.conf", text, strlen(text), &err);
    ck_assert_msg(c == NULL, "parsed although it should fail: %s", text);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, want) != NULL, "error\n  %s\nlacks\n  %s\nfor: %s", err, want, text);
    free(err);
}

static char *print_str(const gw_conf *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    ck_assert_ptr_nonnull(f);
    gw_conf_print(c, f);
    fclose(f);
    return s;
}

const gw_val *get(const gw_block *b, const char *key)
{
    const gw_setting *s = gw_block_get(b, key);
    ck_assert_msg(s != NULL, "%s not set", key);
    return s->val;
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ---- syntax ---- */

START_TEST(test_scalars_and_escapes)
{
    gw_conf *c = parse_ok("# a comment\n"
                          "server.port = 8081   # trailing comment\n"
                          "server.tag = \"a\\\"b\\\\c\\nd\\te\\rf\\.g\"\n"
                          "server.bind = \"h\" + \"i\" + 1 + 2\n");
    ck_assert_int_eq(get(c->root, "server.port")->type, GW_VAL_INT);
    ck_assert_int_eq(get(c->root, "server.port")->num, 8081);
    ck_assert_str_eq(get(c->root, "server.tag")->str, "a\"b\\c\nd\te\rf\\.g");
    ck_assert_str_eq(get(c->root, "server.bind")->str, "hi12");
    ck_assert_int_eq(gw_block_get(c->root, "server.port")->line, 2);
    ck_assert_str_eq(gw_block_get(c->root, "server.port")->file, "test.conf");
    ck_assert_ptr_null(gw_block_get(c->root, "server.pid-file"));
    gw_conf_free(c);

    c = parse_ok("server.port = 8000 + 80\nserver.max-connections = \"123\"\r\n");
    ck_assert_int_eq(get(c->root, "server.port")->num, 8080);
    ck_assert_int_eq(get(c->root, "server.max-connections")->type, GW_VAL_INT);
    ck_assert_int_eq(get(c->root, "server.max-connections")->num, 123);
    gw_conf_free(c);
}
END_TEST

START_TEST(test_lists_and_maps)
{
    gw_conf *c = parse_ok("proxy-core.backends = ( \"a:1\", \"b:2\", )\n"
                          "proxy-core.x-sendfile-docroot = \"/srv\"\n"
                          "server.modules = ()\n"
                          "proxy-core.health-check = ( \"path\" => \"/ping\", \"interval\" => 5 )\n"
                          "spawn.apps = ( \"php\" => ( \"bin-path\" => ( \"/bin/x\", \"-b\" ),\n"
                          "   \"environment\" => ( \"A\" => \"1\" ) ), \"rb\" => () )\n"
                          "proxy-core.rewrite-request = ( \"_uri\" => ( \"^/a\" => \"/b\" ) )\n");
    const gw_val *v = get(c->root, "proxy-core.backends");
    ck_assert_int_eq(v->type, GW_VAL_LIST);
    ck_assert_uint_eq(v->n, 2);
    ck_assert_str_eq(v->items[1]->str, "b:2");
    v = get(c->root, "proxy-core.x-sendfile-docroot"); /* a string is a one-item list */
    ck_assert_int_eq(v->type, GW_VAL_LIST);
    ck_assert_uint_eq(v->n, 1);
    ck_assert_str_eq(v->items[0]->str, "/srv");
    ck_assert_uint_eq(get(c->root, "server.modules")->n, 0);
    v = get(c->root, "proxy-core.health-check");
    ck_assert_int_eq(v->type, GW_VAL_MAP);
    ck_assert_str_eq(v->keys[1], "interval");
    ck_assert_int_eq(v->items[1]->num, 5);
    v = get(c->root, "spawn.apps");
    ck_assert_uint_eq(v->n, 2);
    ck_assert_str_eq(v->keys[0], "php");
    ck_assert_int_eq(v->items[1]->type, GW_VAL_MAP); /* () made an empty map */
    ck_assert_str_eq(v->items[0]->keys[1], "environment");
    ck_assert_str_eq(v->items[0]->items[0]->items[1]->str, "-b");
    v = get(c->root, "proxy-core.rewrite-request");
    ck_assert_str_eq(v->items[0]->keys[0], "^/a");
    ck_assert_str_eq(v->items[0]->items[0]->str, "/b");
    gw_conf_free(c);
}
END_TEST

START_TEST(test_vars_env_append)
{
    setenv("PORTICO_TEST_ENV", "from-env", 1);
    gw_conf *c = parse_ok("var.app = \"/srv/app\"\n"
                          "var.app += \"/v2\"\n"
                          "var.list = ( \"a:1\" )\n"
                          "server.document-root = var.app + \"/public\"\n"
                          "server.tag = env.PORTICO_TEST_ENV\n"
                          "server.modules += ( \"x\" )\n"
                          "server.modules += \"y\"\n"
                          "server.modules += ( \"z\" )\n"
                          "proxy-core.backends = var.list + \"b:2\"\n"
                          "proxy-core.backends += var.list\n"
                          "proxy-core.script-name = \"/a\"\n"
                          "proxy-core.script-name += \"/b\"\n"
                          "proxy-core.health-check = ( \"path\" => \"/\" )\n"
                          "proxy-core.health-check += ( \"interval\" => 2 )\n"
                          "$HTTP[\"url\"] =^ var.app {\n"
                          "  proxy-core.backends += \"c:3\"\n"
                          "  proxy-core.backends += \"d:4\"\n"
                          "  proxy-core.protocol = \"scgi\"\n"
                          "}\n");
    ck_assert_str_eq(get(c->root, "server.document-root")->str, "/srv/app/v2/public");
    ck_assert_str_eq(get(c->root, "server.tag")->str, "from-env");
    const gw_val *m = get(c->root, "server.modules");
    ck_assert_uint_eq(m->n, 3);
    ck_assert_str_eq(m->items[2]->str, "z");
    const gw_setting *s = gw_block_get(c->root, "proxy-core.backends");
    ck_assert_int_eq(s->append, 0); /* folded at the top level */
    ck_assert_uint_eq(s->val->n, 3);
    ck_assert_str_eq(s->val->items[2]->str, "a:1");
    ck_assert_str_eq(get(c->root, "proxy-core.script-name")->str, "/a/b");
    ck_assert_uint_eq(get(c->root, "proxy-core.health-check")->n, 2);
    ck_assert_uint_eq(c->nblocks, 2);
    const gw_block *b = c->blocks[1];
    ck_assert_str_eq(b->cond->pattern, "/srv/app/v2");
    s = gw_block_get(b, "proxy-core.backends");
    ck_assert_int_eq(s->append, 1); /* kept: applied on top of what is in effect */
    ck_assert_uint_eq(s->val->n, 2);
    ck_assert_str_eq(s->val->items[1]->str, "d:4");
    ck_assert_int_eq(gw_block_get(b, "proxy-core.protocol")->append, 0);
    gw_conf_free(c);
    unsetenv("PORTICO_TEST_ENV");
}
END_TEST

START_TEST(test_later_assignment_wins)
{
    gw_conf *c = parse_ok("server.port = 1\nserver.port = 2\n"
                          "$HTTP[\"host\"] == \"a\" { proxy-core.protocol = \"http\"\n"
                          "proxy-core.protocol = \"fastcgi\" }\n");
    ck_assert_uint_eq(c->root->nsettings, 1);
    ck_assert_int_eq(get(c->root, "server.port")->num, 2);
    ck_assert_int_eq(gw_block_get(c->root, "server.port")->line, 2);
    ck_assert_uint_eq(c->blocks[1]->nsettings, 1);
    ck_assert_str_eq(get(c->blocks[1], "proxy-core.protocol")->str, "fastcgi");
    gw_conf_free(c);
}
END_TEST

START_TEST(test_booleans)
{
    gw_conf *c = parse_ok("server.stream-request-body = \"enable\"\n"
                          "proxy-core.allow-x-sendfile = \"false\"\n"
                          "proxy-core.allow-x-rewrite = 1\n");
    ck_assert_int_eq(gw_val_bool(get(c->root, "server.stream-request-body")), 1);
    ck_assert_int_eq(gw_val_bool(get(c->root, "proxy-core.allow-x-sendfile")), 0);
    ck_assert_int_eq(gw_val_bool(get(c->root, "proxy-core.allow-x-rewrite")), 1);
    gw_conf_free(c);
    gw_val v = {.type = GW_VAL_STR, .str = "disable"};
    ck_assert_int_eq(gw_val_bool(&v), 0);
    v.str = "true";
    ck_assert_int_eq(gw_val_bool(&v), 1);
    v.str = "0";
    ck_assert_int_eq(gw_val_bool(&v), 0);
    v.str = "maybe";
    ck_assert_int_eq(gw_val_bool(&v), -1);
    v.type = GW_VAL_INT;
    v.num = 0;
    ck_assert_int_eq(gw_val_bool(&v), 0);
    v.type = GW_VAL_LIST;
    ck_assert_int_eq(gw_val_bool(&v), -1);
    ck_assert_int_eq(gw_val_bool(NULL), -1);
}
END_TEST

/* ---- blocks ---- */

START_TEST(test_nested_and_else)
{
    gw_conf *c = parse_ok("server.port = 1\n"
                          "$HTTP[\"host\"] == \"a.com\" {\n" /* 1 */
                          "  $HTTP[\"url\"] =^ \"/app\" {\n" /* 2 */
                          "    proxy-core.protocol = \"fastcgi\"\n"
                          "  } else $HTTP[\"url\"] =$ \".php\" {\n" /* 3 */
                          "    proxy-core.protocol = \"scgi\"\n"
                          "  }\n"
                          "  else {\n" /* 4 */
                          "    proxy-core.protocol = \"http\"\n"
                          "  }\n"
                          "}\n"
                          "$HTTP[\"scheme\"] == \"https\" { }\n"       /* 5 */
                          "$SERVER[\"socket\"] == \"127.0.0.1:9\" {\n" /* 6 */
                          "  server.max-connections = 7\n"
                          "  server.document-root = \"/x\"\n"
                          "  $HTTP[\"url\"] == \"/\" { server.document-root = \"/y\" }\n" /* 7 */
                          "}\n");
    ck_assert_uint_eq(c->nblocks, 8);
    for (size_t i = 0; i < c->nblocks; i++) ck_assert_int_eq(c->blocks[i]->id, (int)i);
    ck_assert_ptr_eq(c->root, c->blocks[0]);
    ck_assert_ptr_null(c->root->cond);
    ck_assert_uint_eq(c->root->nchildren, 3);
    ck_assert_ptr_eq(c->root->children[0], c->blocks[1]);
    ck_assert_ptr_eq(c->root->children[1], c->blocks[5]);
    ck_assert_ptr_eq(c->root->children[2], c->blocks[6]);
    const gw_block *h = c->blocks[1];
    ck_assert_int_eq(h->cond->field, GW_COND_HOST);
    ck_assert_uint_eq(h->nchildren, 1);
    ck_assert_ptr_eq(h->children[0], c->blocks[2]);
    ck_assert_ptr_eq(c->blocks[2]->else_next, c->blocks[3]);
    ck_assert_ptr_eq(c->blocks[3]->else_next, c->blocks[4]);
    ck_assert_ptr_null(c->blocks[4]->else_next);
    ck_assert_ptr_null(c->blocks[4]->cond);
    ck_assert_ptr_eq(c->blocks[4]->parent, h);
    ck_assert_int_eq(c->blocks[3]->cond->op, GW_OP_SUFFIX);
    ck_assert_int_eq(c->blocks[3]->line, 5);
    ck_assert_int_eq(c->blocks[3]->cond->line, 5);
    ck_assert_int_eq(c->blocks[6]->cond->field, GW_COND_SOCKET);
    ck_assert_int_eq(get(c->blocks[6], "server.max-connections")->num, 7);
    ck_assert_str_eq(get(c->blocks[7], "server.document-root")->str, "/y");
    gw_conf_free(c);
}
END_TEST

struct hits {
    int ids[16];
    int n;
};

static void collect(void *arg, const gw_block *b)
{
    struct hits *h = arg;
    if (h->n < 16) h->ids[h->n++] = b->id;
}

static char *match_ids(const gw_conf *c, const gw_cond_ctx *ctx)
{
    static char out[64];
    struct hits h = {.n = 0};
    gw_conf_match(c, ctx, collect, &h);
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < h.n; i++)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%d", i ? "," : "", h.ids[i]);
    return out;
}

START_TEST(test_conf_match)
{
    gw_conf *c = parse_ok("$HTTP[\"host\"] == \"a.com\" {\n"              /* 1 */
                          "  $HTTP[\"url\"] =^ \"/app\" { }\n"            /* 2 */
                          "  else $HTTP[\"url\"] =$ \".php\" { }\n"       /* 3 */
                          "  else { }\n"                                  /* 4 */
                          "  $HTTP[\"request-method\"] == \"POST\" { }\n" /* 5 */
                          "}\n"
                          "$HTTP[\"querystring\"] =~ \"(^|&)debug=1\" { }\n" /* 6 */
                          "else $HTTP[\"scheme\"] != \"https\" { }\n"        /* 7 */
                          "$SERVER[\"socket\"] == \"unix:/s\" {\n"           /* 8 */
                          "  $HTTP[\"url\"] !~ \"^/x\" { }\n"                /* 9 */
                          "}\n");
    gw_cond_ctx ctx = {.url = GW_STR("/app/x"),
                       .query = GW_STR("a=1&debug=1"),
                       .host = GW_STR("a.com"),
                       .method = GW_STR("GET"),
                       .scheme = GW_STR("https"),
                       .socket = GW_STR("127.0.0.1:8080")};
    ck_assert_str_eq(match_ids(c, &ctx), "0,1,2,6");
    ctx.url = GW_STR("/i.php");
    ctx.query = GW_STR("");
    ctx.method = GW_STR("POST");
    ck_assert_str_eq(match_ids(c, &ctx), "0,1,3,5");
    ctx.url = GW_STR("/");
    ctx.scheme = GW_STR("http");
    ck_assert_str_eq(match_ids(c, &ctx), "0,1,4,5,7");
    ctx.host = GW_STR("b.com");
    ctx.socket = GW_STR("unix:/s");
    ck_assert_str_eq(match_ids(c, &ctx), "0,7,8,9");
    ctx.url = GW_STR("/xyz");
    ck_assert_str_eq(match_ids(c, &ctx), "0,7,8");
    gw_conf_free(c);
}
END_TEST

/* ---- condition operators ---- */

static int cond_holds(const char *cond, const gw_cond_ctx *ctx)
{
    char text[512];
    snprintf(text, sizeof(text), "%s { }\n", cond);
    gw_conf *c = parse_ok(text);
    ck_assert_uint_eq(c->nblocks, 2);
    int r = gw_cond_match(c->blocks[1]->cond, ctx);
    gw_conf_free(c);
    return r;
}

START_TEST(test_operators)
{
    gw_header hdr[] = {{GW_STR("Content-Type"), GW_STR("text/html")},
                       {GW_STR("X-Api"), GW_STR("v2")},
                       {GW_STR("x-api"), GW_STR("v3")}};
    gw_cond_ctx ctx = {.url = GW_STR("/static/a.css"),
                       .query = GW_STR("q=1"),
                       .host = GW_STR("www.example.org"),
                       .method = GW_STR("GET"),
                       .scheme = GW_STR("http"),
                       .remote_ip = GW_STR("192.0.2.7"),
                       .hdr = hdr,
                       .nhdr = 3};
    ck_assert(cond_holds("$HTTP[\"url\"] == \"/static/a.css\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] == \"/static/a.cs\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] != \"/static\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] != \"/static/a.css\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] =~ \"\\.css$\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] =~ \"^/dyn\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] !~ \"^/dyn\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] !~ \"css\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] =^ \"/static/\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] =^ \"/static/a.css/\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] =$ \".css\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] =$ \".js\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] =^ \"\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"url\"] =^ \"/static/a.css\"", &ctx)); /* the whole of it */
    ck_assert(cond_holds("$HTTP[\"url\"] =$ \"/static/a.css\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"url\"] =$ \"x/static/a.css\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"querystring\"] == \"q=1\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"request-method\"] == \"GET\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"request-method\"] == \"get\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"scheme\"] =^ \"htt\"", &ctx));
    /* host compares case-insensitively, regexes included */
    ck_assert(cond_holds("$HTTP[\"host\"] == \"WWW.Example.ORG\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"host\"] =$ \".EXAMPLE.org\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"host\"] =~ \"^WWW\\.\"", &ctx));
    ck_assert(!cond_holds("$HTTP[\"host\"] != \"www.example.ORG\"", &ctx));
    /* request headers: name case-insensitive, first one wins, absent is "" */
    ck_assert(cond_holds("$REQUEST_HEADER[\"x-API\"] == \"v2\"", &ctx));
    ck_assert(cond_holds("$REQUEST_HEADER[\"content-type\"] =^ \"text/\"", &ctx));
    ck_assert(cond_holds("$REQUEST_HEADER[\"Cookie\"] == \"\"", &ctx));
    ck_assert(!cond_holds("$REQUEST_HEADER[\"Cookie\"] =~ \".\"", &ctx));
    /* remote-ip with other operators compares the text */
    ck_assert(cond_holds("$HTTP[\"remote-ip\"] =^ \"192.0.2.\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"remote-ip\"] =~ \"\\.7$\"", &ctx));
    /* empty field against a regex (NULL slice) */
    ctx.query = GW_STR_NULL;
    ck_assert(cond_holds("$HTTP[\"querystring\"] =~ \"^$\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"querystring\"] == \"\"", &ctx));
    gw_cond_cleanup();
}
END_TEST

static int ip_in(const char *net, const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
        s6->sin6_family = AF_INET6;
    }
    char cond[200];
    snprintf(cond, sizeof(cond), "$HTTP[\"remote-ip\"] == \"%s\"", net);
    gw_cond_ctx ctx = {.remote = (struct sockaddr *)&ss, .remote_ip = gw_str_from(addr)};
    int eq = cond_holds(cond, &ctx);
    snprintf(cond, sizeof(cond), "$HTTP[\"remote-ip\"] != \"%s\"", net);
    ck_assert_int_eq(cond_holds(cond, &ctx), !eq);
    return eq;
}

START_TEST(test_cidr)
{
    ck_assert(ip_in("10.0.0.0/8", "10.200.3.4"));
    ck_assert(!ip_in("10.0.0.0/8", "11.0.0.1"));
    ck_assert(ip_in("10.1.2.3/8", "10.9.9.9")); /* host bits ignored */
    ck_assert(ip_in("192.168.1.128/25", "192.168.1.200"));
    ck_assert(!ip_in("192.168.1.128/25", "192.168.1.127"));
    ck_assert(ip_in("192.168.1.0/23", "192.168.0.255"));
    ck_assert(!ip_in("192.168.1.0/23", "192.168.2.0"));
    ck_assert(ip_in("127.0.0.1", "127.0.0.1"));
    ck_assert(!ip_in("127.0.0.1", "127.0.0.2"));
    ck_assert(ip_in("0.0.0.0/0", "8.8.8.8"));
    ck_assert(ip_in("::1/128", "::1"));
    ck_assert(ip_in("::1", "::1"));
    ck_assert(!ip_in("::1", "::2"));
    ck_assert(ip_in("2001:db8::/32", "2001:db8:ffff::1"));
    ck_assert(!ip_in("2001:db8::/32", "2001:db9::1"));
    ck_assert(ip_in("fe80::/10", "febf::1"));
    ck_assert(!ip_in("fe80::/10", "fec0::1"));
    ck_assert(ip_in("::/0", "2001:db8::1"));
    /* IPv4 clients seen through an IPv6 socket, and v4-mapped networks */
    ck_assert(ip_in("10.0.0.0/8", "::ffff:10.1.1.1"));
    ck_assert(!ip_in("10.0.0.0/8", "::ffff:11.1.1.1"));
    ck_assert(ip_in("::ffff:10.0.0.0/104", "10.1.1.1"));
    ck_assert(!ip_in("2001:db8::/32", "10.1.1.1"));
    ck_assert(!ip_in("10.0.0.0/8", "2001:db8::1"));
    /* a unix-socket client has no address: == never holds, != always does */
    gw_cond_ctx ctx = {.remote = NULL};
    ck_assert(!cond_holds("$HTTP[\"remote-ip\"] == \"0.0.0.0/0\"", &ctx));
    ck_assert(cond_holds("$HTTP[\"remote-ip\"] != \"0.0.0.0/0\"", &ctx));
}
END_TEST

/* ---- errors ---- */

static const struct {
    const char *text, *want;
} bad[] = {
    {"server.port 8080\n", "test.conf:1: expected '=' or '+=' after key 'server.port', found the "
                           "number 8080"},
    {"\n\nserver.tag = \"abc\n", "test.conf:3: unterminated string"},
    {"server.tag = \"abc", "test.conf:1: unterminated string"},
    {"proxy-core.backend = \"x\"\n", "test.conf:1: unknown key 'proxy-core.backend' (did you "
                                     "mean 'proxy-core.backends'?)"},
    {"server.prot = 1\n", "test.conf:1: unknown key 'server.prot' (did you mean 'server.port'?)"},
    {"proxy.backends = ( \"x\" )\n", "test.conf:1: unknown key 'proxy.backends'"},
    {"server.tag = env.PORTICO_SURELY_UNSET\n",
     "test.conf:1: environment variable PORTICO_SURELY_UNSET is not set"},
    {"server.tag = var.nope\n", "test.conf:1: undefined variable var.nope"},
    {"env.X = \"a\"\n", "test.conf:1: env.X cannot be assigned"},
    {"server.port = \"eighty\"\n", "test.conf:1: server.port must be an integer, not a string"},
    {"server.port = 70000\n", "test.conf:1: server.port is out of range (70000)"},
    {"proxy-core.max-retries = -1\n", "test.conf:1: proxy-core.max-retries is out of range (-1)"},
    {"proxy-core.hash-balance-factor = 99\n",
     "test.conf:1: proxy-core.hash-balance-factor must be 0 (no load bound) or a percentage of the "
     "mean load from 100 to 100000, not 99"},
    {"server.tag = 5\n", "test.conf:1: server.tag must be a string, not an integer"},
    {"proxy-core.allow-x-sendfile = \"yes\"\n",
     "test.conf:1: proxy-core.allow-x-sendfile must be \"enable\" or \"disable\""},
    {"proxy-core.allow-x-rewrite = 2\n", "test.conf:1: proxy-core.allow-x-rewrite must be"},
    /* protocol and balancer names are checked where routes compile (test_route.c) */
    {"proxy-core.protocol = 5\n", "test.conf:1: proxy-core.protocol must be a string"},
    {"proxy-core.balancer = ( \"a\" )\n", "test.conf:1: proxy-core.balancer must be a string"},
    {"proxy-core.backends = ( 1, 2 )\n", "test.conf:1: proxy-core.backends must be a list of "
                                         "strings"},
    {"proxy-core.backends = ( \"a\" => \"b\" )\n", "test.conf:1: proxy-core.backends must be a "
                                                   "list"},
    {"proxy-core.health-check = \"x\"\n", "test.conf:1: proxy-core.health-check must be a map"},
    {"spawn.apps = ( \"php\" => \"x\" )\n", "test.conf:1: spawn.apps: \"php\" must be a map"},
    {"proxy-core.rewrite-request = ( \"_uri\" => ( \"a\" => 1 ) )\n",
     "test.conf:1: proxy-core.rewrite-request: \"_uri\" must be a map of strings"},
    {"$HTTP[\"url\"] == \"/\" {\n server.port = 1\n}\n",
     "test.conf:2: server.port cannot be set inside a $HTTP condition"},
    {"$REQUEST_HEADER[\"A\"] == \"/\" {\n server.tag = \"x\"\n}\n",
     "test.conf:2: server.tag cannot be set inside a $REQUEST_HEADER condition"},
    {"$SERVER[\"socket\"] == \":1\" {\n spawn.apps = ()\n}\n",
     "test.conf:2: spawn.apps cannot be set inside a $SERVER condition (only at the top level)"},
    {"$HTTP[\"url\"] == \"/\" { } else {\n server.bind = \"x\"\n}\n",
     "test.conf:2: server.bind cannot be set inside an else block"},
    {"$HTTP[\"url\"] =~ \"(\" { }\n", "test.conf:1: bad regular expression \"(\": missing closing "
                                      "parenthesis at offset 1"},
    {"$HTTP[\"host\"] !~ \"a[\" { }\n", "test.conf:1: bad regular expression \"a[\""},
    {"$HTTP[\"remote-ip\"] == \"1.2.3.4/33\" { }\n", "test.conf:1: $HTTP[\"remote-ip\"]: "
                                                     "\"1.2.3.4/33\" is not an IP address"},
    {"$HTTP[\"remote-ip\"] == \"localhost\" { }\n", "is not an IP address"},
    {"$HTTP[\"remote-ip\"] == \"::1/\" { }\n", "is not an IP address"},
    {"$HTTP[\"remote-ip\"] == \"::1/129\" { }\n", "is not an IP address"},
    {"$HTTP[\"uri\"] == \"/\" { }\n", "test.conf:1: unknown condition $HTTP[\"uri\"]"},
    {"$PHYSICAL[\"path\"] == \"/\" { }\n", "test.conf:1: unknown condition $PHYSICAL[\"path\"]"},
    {"$REQUEST_HEADER[\"\"] == \"/\" { }\n", "test.conf:1: unknown condition"},
    {"$SERVER[\"socket\"] =~ \"x\" { }\n", "test.conf:1: $SERVER[\"socket\"] only takes =="},
    {"$HTTP[\"url\"] == \"/\" {\n $SERVER[\"socket\"] == \":1\" { }\n}\n",
     "test.conf:2: $SERVER[\"socket\"] is only allowed at the top level"},
    {"$HTTP[\"url\"] == \"/\" { } else $SERVER[\"socket\"] == \":1\" { }\n",
     "test.conf:1: $SERVER[\"socket\"] is only allowed at the top level"},
    {"$SERVER[\"socket\"] == \":1\" { }\nelse { }\n",
     "test.conf:2: a $SERVER[\"socket\"] block cannot have an else"},
    {"$HTTP[\"url\"] == \"/\" {\n\nproxy-core.protocol = \"http\"\n",
     "test.conf:3: unexpected end of file: missing '}' for the block opened at line 1"},
    {"$HTTP[\"url\"] == \"/\"\nproxy-core.protocol = \"http\"\n",
     "test.conf:2: expected '{' after the condition, found 'proxy-core.protocol'"},
    {"$HTTP \"url\"] == \"/\" { }", "test.conf:1: expected '[' after $HTTP"},
    {"$HTTP[url] == \"/\" { }", "test.conf:1: expected a quoted name in $HTTP[...]"},
    {"$HTTP[\"url\" == \"/\" { }", "test.conf:1: expected ']' after $HTTP[\"url\""},
    {"$HTTP[\"url\"] = \"/\" { }", "test.conf:1: expected an operator (==, !=, =~, !~, =^ or =$)"},
    {"$HTTP[\"url\"] == 5 { }", "test.conf:1: a condition compares with a string, not an "
                                "integer"},
    {"$ = 1", "test.conf:1: expected a condition name after '$'"},
    {"}\n", "test.conf:1: unexpected '}' (no block is open)"},
    {"else { }\n", "test.conf:1: 'else' must follow the '}' of a condition block"},
    {"$HTTP[\"url\"] == \"/\" { } else { } else { }\n",
     "test.conf:1: 'else' must follow the '}' of a condition block"},
    {"elseif $HTTP[\"url\"] == \"/\" { }\n",
     "test.conf:1: 'elseif' must follow the '}' of a condition block"},
    {"$HTTP[\"url\"] == \"/\" { } else { }\nelse if $HTTP[\"url\"] == \"/a\" { }\n",
     "test.conf:2: 'else' must follow the '}' of a condition block"},
    {"elsif $HTTP[\"url\"] == \"/\" { }\n", "test.conf:1: 'elsif' is not supported"},
    {"$HTTP[\"url\"] == \"/\" { } else 5", "test.conf:1: expected a condition or '{' after "
                                           "'else', found the number 5"},
    {"server.tag = \n", "test.conf:1: expected a value (a \"string\", a number, a ( list ), "
                        "var.NAME or env.NAME), found end of file"},
    {"server.tag = server.bind\n", "found 'server.bind'"},
    {"server.modules = ( \"a\" \"b\" )\n", "test.conf:1: expected ',' or ')' in a list, found "
                                           "the string \"b\""},
    {"server.modules = ( \"a\", \"k\" => \"v\" )\n",
     "test.conf:1: a list cannot mix plain items and \"key\" => value pairs"},
    {"spawn.apps = ( \"k\" => (), \"x\" )\n", "a list cannot mix plain items"},
    {"spawn.apps = ( 1 => () )\n", "test.conf:1: a map key must be a string, not an integer"},
    {"spawn.apps = ( \"a\" => (), \"a\" => () )\n", "test.conf:1: duplicate key \"a\" in map"},
    {"spawn.apps = ( \"a\" => () ) + ( \"a\" => () )\n", "duplicate key \"a\" when adding maps"},
    {"server.tag = \"a\" + ( \"b\" )\n", "test.conf:1: cannot add a string and a list"},
    {"server.modules = ( \"a\" ) + ( \"k\" => \"v\" )\n", "cannot add a list and a map"},
    {"server.port = 9223372036854775807 + 1\n", "test.conf:1: number out of range"},
    {"server.port = 99999999999999999999\n", "test.conf:1: number out of range"},
    {"server.port = 10s\n", "test.conf:1: bad number '10s'"},
    {"server.port = 0x10\n", "bad number '0x10'"},
    {"server.tag = @\n", "test.conf:1: unexpected character '@'"},
    {"server.tag = \"a\" ! \"b\"\n", "test.conf:1: unexpected character '!'"},
    {"server.tag = \x01\n", "test.conf:1: unexpected byte 0x01"},
    {"include_shell \"cat x\"\n", "test.conf:1: include_shell is not supported"},
    {"include 5\n", "test.conf:1: include needs a file name or a glob, not an integer"},
    {"include \"/nonexistent/portico/x.conf\"\n", "test.conf:1: cannot read "
                                                  "'/nonexistent/portico/x.conf': No such file"},
    {"var. = 1\n", "test.conf:1: a variable needs a name: var.NAME"},
    {"= 1\n", "test.conf:1: expected a key, a condition ($HTTP[...]) or include, found '='"},
};

START_TEST(test_errors)
{
    parse_fails(bad[_i].text, bad[_i].want);
}
END_TEST

START_TEST(test_several_errors)
{
    char *err = NULL;
    const char *text = "server.prot = 1\nserver.tag = 5\n$HTTP[\"url\"] =~ \"(\" {\n"
                       "  server.port = 2\n}\n";
    gw_conf *c = gw_conf_parse_string("x/y.conf", text, strlen(text), &err);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, "x/y.conf:1: unknown key 'server.prot' (did you mean 'server.port'?)\n"
                          "x/y.conf:2: server.tag must be a string, not an integer\n"
                          "x/y.conf:3: bad regular expression \"(\": missing closing parenthesis "
                          "at offset 1\n"
                          "x/y.conf:4: server.port cannot be set inside a $HTTP condition");
    free(err);

    /* a flood of errors is cut short */
    char many[4096] = "";
    for (int i = 0; i < 50; i++) strcat(many, "nope = 1\n");
    c = gw_conf_parse_string("m.conf", many, strlen(many), &err);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err, "m.conf:20: too many errors, giving up"));
    ck_assert_ptr_null(strstr(err, "m.conf:21:"));
    free(err);
}
END_TEST

START_TEST(test_did_you_mean)
{
    parse_fails("proxy-core.conect-timeout = 1\n", "(did you mean 'proxy-core.connect-timeout'?)");
    parse_fails("server.documentroot = \"/\"\n", "(did you mean 'server.document-root'?)");
    parse_fails("proxy-core.balance = \"sqf\"\n", "(did you mean 'proxy-core.balancer'?)");
    parse_fails("spawn.app = ()\n", "(did you mean 'spawn.apps'?)");
    /* four edits away: no suggestion */
    char *err = NULL;
    gw_conf *c = gw_conf_parse_string("t", "server.pxxxx = 1", 16, &err);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, "t:1: unknown key 'server.pxxxx'");
    free(err);
}
END_TEST

START_TEST(test_scope)
{
    gw_conf *c = parse_ok("$HTTP[\"host\"] == \"a\" {\n"
                          "  server.document-root = \"/a\"\n"
                          "  proxy-core.backends = \"x:1\"\n"
                          "}\n"
                          "$SERVER[\"socket\"] == \"[::1]:8081\" {\n"
                          "  server.port = 1\n"
                          "  server.tag = \"t\"\n"
                          "  server.stream-request-body = \"enable\"\n"
                          "}\n");
    ck_assert_str_eq(get(c->blocks[1], "server.document-root")->str, "/a");
    ck_assert_int_eq(get(c->blocks[2], "server.port")->num, 1);
    ck_assert_str_eq(c->blocks[2]->cond->pattern, "[::1]:8081");
    gw_conf_free(c);
    parse_fails("$SERVER[\"socket\"] == \":1\" {\n$HTTP[\"url\"] == \"/\" {\n"
                "server.tag = \"t\"\n}\n}\n",
                "test.conf:3: server.tag cannot be set inside a $HTTP condition");
    parse_fails("$SERVER[\"socket\"] == \":1\" {\nserver.errorlog = \"/l\"\n}\n",
                "test.conf:2: server.errorlog cannot be set inside a $SERVER condition");
}
END_TEST

/* ---- printing ---- */

static const char *full_conf =
    "# everything at once\n"
    "var.app = \"/srv/app\"\n"
    "server.bind = \"::1\"\n"
    "server.port = 8080\n"
    "server.modules += ( \"mod_a\" )\n"
    "server.document-root = var.app + \"/public\"\n"
    "server.tag = \"quote\\\" back\\\\ nl\\n tab\\t cr\\r re\\.x\"\n"
    "server.stream-request-body = \"enable\"\n"
    "proxy-core.health-check = ( \"path\" => \"/ping\", \"interval\" => 5, \"x\" => () )\n"
    "spawn.apps = (\n"
    "  \"php\" => ( \"bin-path\" => \"/usr/bin/php-cgi\", \"max-procs\" => 4,\n"
    "     \"environment\" => ( \"PHP_FCGI_CHILDREN\" => \"1\" ),\n"
    "     \"copy-environment\" => ( \"PATH\", \"HOME\" ) ),\n"
    "  \"rails\" => ( \"bin-path\" => ( \"puma\", \"-b\", \"unix://{socket}\" ),\n"
    "     \"nested\" => ( ( \"a\", ( \"k\" => 1 ) ), -3 ) ),\n"
    ")\n"
    "$HTTP[\"url\"] =~ \"^/app(/|$)\" {\n"
    "  proxy-core.protocol = \"http\"\n"
    "  proxy-core.backends = ( \"127.0.0.1:3000\", \"127.0.0.1:3001\", )\n"
    "  $HTTP[\"host\"] == \"a.com\" { proxy-core.backends += \"[::1]:3002\" }\n"
    "  else $REQUEST_HEADER[\"X-\\\"q\\\"\"] =$ \"x\" { proxy-core.max-retries = 0 }\n"
    "  else { proxy-core.rewrite-request = ( \"_uri\" => ( \"^/app(.*)\" => \"$1\" ) ) }\n"
    "} else $HTTP[\"remote-ip\"] != \"10.0.0.0/8\" {\n"
    "  proxy-core.allow-x-sendfile = \"enable\"\n"
    "  proxy-core.x-sendfile-docroot = \"/srv/files\"\n"
    "}\n"
    "$HTTP[\"querystring\"] !~ \"a\" { }\n"
    "$HTTP[\"request-method\"] =^ \"P\" { proxy-core.balancer = \"hash\" }\n"
    "$HTTP[\"scheme\"] == \"https\" { server.document-root = \"/tls\" }\n"
    "$SERVER[\"socket\"] == \"unix:/run/p.sock\" { server.max-connections = 10 }\n";

START_TEST(test_print_round_trip)
{
    gw_conf *c = parse_ok(full_conf);
    char *p1 = print_str(c);
    ck_assert_ptr_nonnull(strstr(p1, "server.document-root = \"/srv/app/public\"\n"));
    ck_assert_ptr_nonnull(strstr(p1, "server.tag = \"quote\\\" back\\\\ nl\\n tab\\t cr\\r "
                                     "re\\\\.x\"\n"));
    ck_assert_ptr_nonnull(strstr(p1, "    proxy-core.backends += ( \"[::1]:3002\" )\n"));
    ck_assert_ptr_nonnull(strstr(p1, "} else $REQUEST_HEADER[\"X-\\\"q\\\"\"] =$ \"x\" {\n"));
    ck_assert_ptr_nonnull(strstr(p1, "    } else {\n"));
    ck_assert_ptr_null(strstr(p1, "var."));
    gw_conf *c2 = parse_ok(p1);
    char *p2 = print_str(c2);
    ck_assert_str_eq(p1, p2);
    ck_assert_uint_eq(c->nblocks, c2->nblocks);
    for (size_t i = 1; i < c->nblocks; i++) {
        const gw_block *a = c->blocks[i], *b = c2->blocks[i];
        ck_assert_int_eq(a->cond != NULL, b->cond != NULL);
        ck_assert_int_eq(a->nsettings, b->nsettings);
        ck_assert_int_eq(a->else_next != NULL, b->else_next != NULL);
        ck_assert_int_eq(a->parent->id, b->parent->id);
        if (a->cond) {
            ck_assert_str_eq(a->cond->pattern, b->cond->pattern);
            ck_assert_int_eq(a->cond->op, b->cond->op);
            ck_assert_int_eq(a->cond->field, b->cond->field);
        }
    }
    ck_assert_str_eq(get(c2->root, "server.tag")->str, get(c->root, "server.tag")->str);
    free(p1);
    free(p2);
    gw_conf_free(c);
    gw_conf_free(c2);
}
END_TEST

/* Every prefix of a valid config either parses or fails with a located error; nothing else
 * (crash, leak, error without FILE:LINE) is allowed. Junk after a valid config is an error. */
START_TEST(test_truncation_and_junk)
{
    size_t len = strlen(full_conf);
    int parsed = 0, failed = 0;
    for (size_t n = 0; n <= len; n++) {
        char *err = NULL;
        gw_conf *c = gw_conf_parse_string("t.conf", full_conf, n, &err);
        if (c) {
            ck_assert_ptr_null(err);
            char *p = print_str(c);
            gw_conf *again = parse_ok(p);
            gw_conf_free(again);
            free(p);
            gw_conf_free(c);
            parsed++;
        } else {
            ck_assert_msg(err && strncmp(err, "t.conf:", 7) == 0, "prefix %zu: %s", n, err);
            free(err);
            failed++;
        }
    }
    ck_assert_int_gt(parsed, 10);
    ck_assert_int_gt(failed, 10);
    static const char *junk[] = {"}",     "{",       "\"", "(",           "=", "+ 1",
                                 "$HTTP", "else {}", "@",  "server.port", ")"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        size_t jl = strlen(junk[i]);
        char *text = malloc(len + jl + 1);
        memcpy(text, full_conf, len);
        memcpy(text + len, junk[i], jl + 1);
        char *err = NULL;
        gw_conf *c = gw_conf_parse_string("t.conf", text, len + jl, &err);
        ck_assert_msg(c == NULL, "junk '%s' accepted", junk[i]);
        ck_assert_ptr_nonnull(strstr(err, "t.conf:31:"));
        free(err);
        free(text);
    }
}
END_TEST

START_TEST(test_empty_and_deep)
{
    gw_conf *c = parse_ok("");
    ck_assert_uint_eq(c->nblocks, 1);
    ck_assert_uint_eq(c->root->nsettings, 0);
    char *p = print_str(c);
    gw_conf *c2 = parse_ok(p);
    gw_conf_free(c2);
    free(p);
    gw_conf_free(c);
    c = parse_ok("# only a comment, no newline at the end");
    gw_conf_free(c);

    /* deep nesting is refused, not a stack overflow */
    char deep[2000] = "server.modules = ";
    for (int i = 0; i < 500; i++) strcat(deep, "(");
    parse_fails(deep, "test.conf:1: values nested too deeply");
    char blocks[8000] = "";
    for (int i = 0; i < 200; i++) strcat(blocks, "$HTTP[\"url\"] == \"/\" {\n");
    parse_fails(blocks, "test.conf:65: conditions nested too deeply");
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("syntax");
    tcase_add_test(tc, test_scalars_and_escapes);
    tcase_add_test(tc, test_lists_and_maps);
    tcase_add_test(tc, test_vars_env_append);
    tcase_add_test(tc, test_later_assignment_wins);
    tcase_add_test(tc, test_booleans);
    tcase_add_test(tc, test_empty_and_deep);
    suite_add_tcase(s, tc);
    tc = tcase_create("blocks");
    tcase_add_test(tc, test_nested_and_else);
    tcase_add_test(tc, test_conf_match);
    tcase_add_test(tc, test_operators);
    tcase_add_test(tc, test_cidr);
    tcase_add_test(tc, test_scope);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_several_errors);
    tcase_add_test(tc, test_did_you_mean);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, conf_include_tcase());
    tc = tcase_create("print");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_print_round_trip);
    tcase_add_test(tc, test_truncation_and_junk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    gw_cond_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
