/* Unit tests of the configuration language's includes (gateway/conf.c): globs, nesting,
 * loops, relative bases; run by test_conf.c's main(). */
#include "gateway/config/conf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const gw_val *get(const gw_block *b, const char *key);
void write_file(const char *path, const char *text);
TCase *conf_include_tcase(void);

static char tmpdir[64];

static void setup_dir(void)
{
    strcpy(tmpdir, "/tmp/portico-conf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tree(const char *dir)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *pathf(const char *name)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

START_TEST(test_include_glob)
{
    setup_dir();
    ck_assert_int_eq(mkdir(pathf("conf.d"), 0700), 0);
    ck_assert_int_eq(mkdir(pathf("conf.d/sub"), 0700), 0);
    ck_assert_int_eq(mkdir(pathf("empty.d"), 0700), 0);
    write_file(pathf("main.conf"), "var.root = \"/srv\"\n"
                                   "server.tag = \"main\"\n"
                                   "include \"conf.d/*.conf\"\n"
                                   "include \"empty.d/*.conf\"\n"
                                   "$HTTP[\"url\"] =^ \"/app\" {\n"
                                   "  include \"block.inc\"\n"
                                   "}\n"
                                   "server.document-root = var.root + var.sub\n");
    write_file(pathf("conf.d/20-b.conf"), "server.tag = \"b\"\nserver.modules += \"b\"\n");
    write_file(pathf("conf.d/10-a.conf"), "server.tag = \"a\"\nserver.modules += \"a\"\n"
                                          "include \"sub/inner.conf\"\n");
    write_file(pathf("conf.d/sub/inner.conf"), "var.sub = \"/inner\"\n");
    write_file(pathf("conf.d/ignored.txt"), "this is not a config\n");
    write_file(pathf("block.inc"), "proxy-core.backends = ( \"127.0.0.1:1\" )\n");
    char *err = NULL;
    gw_conf *c = gw_conf_load(pathf("main.conf"), &err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(get(c->root, "server.tag")->str, "b"); /* sorted: 10-a then 20-b */
    const gw_val *m = get(c->root, "server.modules");
    ck_assert_uint_eq(m->n, 2);
    ck_assert_str_eq(m->items[0]->str, "a");
    ck_assert_str_eq(get(c->root, "server.document-root")->str, "/srv/inner");
    const gw_setting *s = gw_block_get(c->blocks[1], "proxy-core.backends");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->file, pathf("block.inc"));
    ck_assert_int_eq(s->line, 1);
    ck_assert_str_eq(gw_block_get(c->root, "server.tag")->file, pathf("conf.d/20-b.conf"));
    ck_assert_str_eq(c->path, pathf("main.conf"));
    gw_conf_free(c);

    /* an error inside an included file names that file and line */
    write_file(pathf("conf.d/30-bad.conf"), "# fine\n\nproxy-core.protocl = \"http\"\n");
    c = gw_conf_load(pathf("main.conf"), &err);
    ck_assert_ptr_null(c);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:3: unknown key 'proxy-core.protocl' (did you mean "
             "'proxy-core.protocol'?)",
             pathf("conf.d/30-bad.conf"));
    ck_assert_str_eq(err, want);
    free(err);
    unlink(pathf("conf.d/30-bad.conf"));

    /* a '}' in an included file cannot close the includer's block */
    write_file(pathf("block.inc"), "}\n");
    c = gw_conf_load(pathf("main.conf"), &err);
    ck_assert_ptr_null(c);
    snprintf(want, sizeof(want), "%s:1: unexpected '}' (no block is open in this file)",
             pathf("block.inc"));
    ck_assert_str_eq(err, want);
    free(err);

    /* a plain name must exist; the error is at the include line of the includer */
    unlink(pathf("block.inc"));
    c = gw_conf_load(pathf("main.conf"), &err);
    ck_assert_ptr_null(c);
    snprintf(want, sizeof(want), "%s:6: cannot read '%s': No such file or directory",
             pathf("main.conf"), pathf("block.inc"));
    ck_assert_str_eq(err, want);
    free(err);

    /* a directory is not a file */
    ck_assert_int_eq(mkdir(pathf("block.inc"), 0700), 0);
    c = gw_conf_load(pathf("main.conf"), &err);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
    free(err);

    /* the main file itself */
    c = gw_conf_load(pathf("missing.conf"), &err);
    ck_assert_ptr_null(c);
    snprintf(want, sizeof(want), "%s: cannot read the configuration: No such file or directory",
             pathf("missing.conf"));
    ck_assert_str_eq(err, want);
    free(err);
    remove_tree(tmpdir);
}
END_TEST

START_TEST(test_include_loop_and_string_base)
{
    setup_dir();
    write_file(pathf("loop.conf"), "server.port = 1\ninclude \"loop.conf\"\n");
    char *err = NULL;
    gw_conf *c = gw_conf_load(pathf("loop.conf"), &err);
    ck_assert_ptr_null(c);
    char want[512];
    snprintf(want, sizeof(want), "%s:2: includes nested more than 16 deep", pathf("loop.conf"));
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    free(err);

    /* gw_conf_parse_string resolves includes against the directory of its name */
    write_file(pathf("part.conf"), "server.port = 4242\n");
    const char *text = "include \"part.conf\"\n";
    c = gw_conf_parse_string(pathf("virtual.conf"), text, strlen(text), &err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(get(c->root, "server.port")->num, 4242);
    gw_conf_free(c);

    /* ... and absolute names as they are; the fuzzer's name disables includes */
    char abs[400];
    snprintf(abs, sizeof(abs), "include \"%s\"\n", pathf("part.conf"));
    c = gw_conf_parse_string("elsewhere", abs, strlen(abs), &err);
    ck_assert_msg(c != NULL, "%s", err);
    gw_conf_free(c);
    c = gw_conf_parse_string("fuzz", abs, strlen(abs), &err);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, "fuzz:1: include is disabled here");
    free(err);
    remove_tree(tmpdir);
}
END_TEST

TCase *conf_include_tcase(void)
{
    TCase *tc = tcase_create("include");
    tcase_add_test(tc, test_include_glob);
    tcase_add_test(tc, test_include_loop_and_string_base);
    return tc;
}
