/* Unit tests for spawn/argv.c (command-line splitting, substitution, environment, PATH lookup,
 * signal names, back-off); main() also runs launch_tcase() from test_launch.c (the launcher). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn/argv.h"
#include "spawn/launch.h"

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})
#define V(...) ((char *const[]){__VA_ARGS__, NULL})

static void assert_strv(char **got, const char *const *want)
{
    ck_assert_ptr_nonnull(got);
    size_t i = 0;
    for (; want[i]; i++) {
        ck_assert_msg(got[i] != NULL, "missing [%zu] %s", i, want[i]);
        ck_assert_str_eq(got[i], want[i]);
    }
    ck_assert_msg(got[i] == NULL, "extra [%zu] %s", i, got[i]);
    ck_assert_uint_eq(spawn_strv_len(got), i);
}

static void split_ok(const char *in, const char *const *want)
{
    char *err = NULL;
    char **v = spawn_split_cmdline(in, &err);
    ck_assert_msg(v != NULL, "%s: %s", in, err);
    ck_assert_ptr_null(err);
    assert_strv(v, want);
    spawn_strv_free(v);
}

static void split_err(const char *in, const char *needle)
{
    char *err = NULL;
    ck_assert_ptr_null(spawn_split_cmdline(in, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, needle) != NULL, "%s: %s", in, err);
    free(err);
    ck_assert_ptr_null(spawn_split_cmdline(in, NULL)); /* no message wanted */
}

START_TEST(split_words)
{
    split_ok("php-cgi", W("php-cgi"));
    split_ok("a b  c", W("a", "b", "c"));
    split_ok("  lead\ttab\nnl  ", W("lead", "tab", "nl"));
    split_ok("/usr/bin/puma -b {socket}", W("/usr/bin/puma", "-b", "{socket}"));
    /* no expansion of any kind */
    split_ok("$HOME ~ * ?x [a] $(id) `id` a;b a|b a&b",
             W("$HOME", "~", "*", "?x", "[a]", "$(id)", "`id`", "a;b", "a|b", "a&b"));
}
END_TEST

START_TEST(split_quotes)
{
    split_ok("'a b' c", W("a b", "c"));
    split_ok("'a\"b\\c'", W("a\"b\\c")); /* single quotes: everything literal */
    split_ok("'\\'", W("\\"));           /* even a backslash before the closing quote */
    split_ok("\"a  b\" \"'x'\"", W("a  b", "'x'"));
    split_ok("\"x\\\"y\" \"\\\\\" \"\\$\" \"\\`\"", W("x\"y", "\\", "$", "`"));
    split_ok("\"\\n\\a\\'\"", W("\\n\\a\\'")); /* other backslashes in "..." stay */
    split_ok("\"a\\\nb\"", W("ab"));           /* line continuation inside "..." */
    split_ok("a'b'\"c\"d", W("abcd"));         /* quoted parts join the word */
    split_ok("''", W(""));
    split_ok("\"\"", W(""));
    split_ok("a '' b \"\"", W("a", "", "b", ""));
    split_ok("'a\tb\nc'", W("a\tb\nc"));
}
END_TEST

START_TEST(split_escapes)
{
    split_ok("a\\ b", W("a b"));
    split_ok("\\'x \\\"y", W("'x", "\"y"));
    split_ok("\\\\", W("\\"));
    split_ok("\\a\\b", W("ab"));
    split_ok("a\\\nb", W("ab")); /* backslash-newline: a line continuation */
    split_ok("a \\\n b", W("a", "b"));
    split_ok("a\\\n", W("a"));
    split_ok("\\$HOME", W("$HOME"));
}
END_TEST

START_TEST(split_errors)
{
    split_err("", "empty");
    split_err("   \t\n ", "empty");
    split_err(" \\\n ", "empty");
    split_err("'abc", "unterminated '");
    split_err("a 'b c", "unterminated '");
    split_err("\"abc", "unterminated \"");
    split_err("\"abc\\\"", "unterminated \"");
    split_err("'a'\"", "unterminated \"");
    split_err("abc\\", "trailing backslash");
    split_err("\\", "trailing backslash");
}
END_TEST

START_TEST(argv_subst)
{
    char **v = spawn_argv_subst(V("/usr/bin/puma", "-b", "unix://{socket}", "--port={port}{port}",
                                  "{sock}", "{socket", "{port}x{socket}"),
                                "/run/a.sock", "9000");
    assert_strv(v, W("/usr/bin/puma", "-b", "unix:///run/a.sock", "--port=90009000", "{sock}",
                     "{socket", "9000x/run/a.sock"));
    spawn_strv_free(v);
    v = spawn_argv_subst(V("app", "{socket}", "-p{port}"), NULL, NULL);
    assert_strv(v, W("app", "", "-p"));
    spawn_strv_free(v);
    v = spawn_argv_subst((char *const[]){NULL}, "s", "1");
    assert_strv(v, (const char *const[]){NULL});
    spawn_strv_free(v);
    /* the substituted text is not scanned again */
    v = spawn_argv_subst(V("{socket}"), "{port}", "1");
    assert_strv(v, W("{port}"));
    spawn_strv_free(v);
}
END_TEST

static char *const parent_env[] = {"PATH=/opt/bin", "HOME=/root", "SECRET=x", "LANG=C",
                                   "PATHX=y",       "EMPTY=",     NULL};

static void env_is(char *const *copy, size_t nc, char *const *set, size_t ns, char *const *extra,
                   size_t ne, const char *const *want)
{
    char **v = spawn_env_build(parent_env, copy, nc, set, ns, extra, ne);
    assert_strv(v, want);
    spawn_strv_free(v);
}

START_TEST(env_build)
{
    /* only the listed variables are copied; PATH gets a default */
    env_is(V("PATH"), 1, NULL, 0, NULL, 0, W("PATH=/opt/bin", "PHP_FCGI_CHILDREN=1"));
    env_is(NULL, 0, NULL, 0, NULL, 0,
           W("PATH=/usr/local/bin:/usr/bin:/bin", "PHP_FCGI_CHILDREN=1"));
    env_is(V("HOME", "NOPE", "EMPTY"), 3, NULL, 0, NULL, 0,
           W("HOME=/root", "EMPTY=", "PATH=/usr/local/bin:/usr/bin:/bin", "PHP_FCGI_CHILDREN=1"));
    /* a name is matched whole: PAT is not PATH, PATHX is not PATH */
    env_is(V("PAT", "PATHX"), 2, NULL, 0, NULL, 0,
           W("PATHX=y", "PATH=/usr/local/bin:/usr/bin:/bin", "PHP_FCGI_CHILDREN=1"));
    /* set replaces a copied variable in place, and the default PATH */
    env_is(V("PATH", "HOME"), 2, V("HOME=/srv", "FOO=1"), 2, NULL, 0,
           W("PATH=/opt/bin", "HOME=/srv", "FOO=1", "PHP_FCGI_CHILDREN=1"));
    env_is(NULL, 0, V("PATH=/s"), 1, NULL, 0, W("PATH=/s", "PHP_FCGI_CHILDREN=1"));
    /* PHP_FCGI_CHILDREN: set wins over the default; extra over both */
    env_is(NULL, 0, V("PHP_FCGI_CHILDREN=4"), 1, NULL, 0,
           W("PATH=/usr/local/bin:/usr/bin:/bin", "PHP_FCGI_CHILDREN=4"));
    env_is(NULL, 0, NULL, 0, V("PHP_FCGI_CHILDREN=0"), 1,
           W("PATH=/usr/local/bin:/usr/bin:/bin", "PHP_FCGI_CHILDREN=0"));
    /* extra replaces anything of the same name, in place */
    env_is(V("PATH"), 1, V("FOO=1"), 1, V("PORT=9000", "PATH=/x", "FOO=2"), 3,
           W("PATH=/x", "FOO=2", "PHP_FCGI_CHILDREN=1", "PORT=9000"));
    /* every name once, the last value */
    env_is(V("PATH", "PATH", "HOME"), 3, V("A=1", "A=2", "HOME=/h"), 3, V("B=1", "B=2"), 2,
           W("PATH=/opt/bin", "HOME=/h", "A=2", "PHP_FCGI_CHILDREN=1", "B=2"));
    /* a value may hold '=' */
    env_is(NULL, 0, V("Q=a=b"), 1, NULL, 0,
           W("PATH=/usr/local/bin:/usr/bin:/bin", "Q=a=b", "PHP_FCGI_CHILDREN=1"));
    /* no parent environment at all */
    char **v = spawn_env_build(NULL, V("PATH"), 1, NULL, 0, NULL, 0);
    assert_strv(v, W("PATH=/usr/local/bin:/usr/bin:/bin", "PHP_FCGI_CHILDREN=1"));
    spawn_strv_free(v);
}
END_TEST

static void resolve_err(const char *name, const char *path, const char *needle)
{
    char *err = NULL;
    ck_assert_ptr_null(spawn_resolve_exe(name, path, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, needle) != NULL, "%s: %s", name, err);
    free(err);
}

static void resolve_is(const char *name, const char *path, const char *want)
{
    char *err = NULL, *got = spawn_resolve_exe(name, path, &err);
    ck_assert_msg(got != NULL, "%s: %s", name, err);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(resolve_exe)
{
    resolve_is("/bin/sh", "", "/bin/sh");
    resolve_err("./no-such-program-xyz", NULL, "no such file"); /* a name with a slash: itself */
    resolve_err("/etc/passwd", NULL, "not an executable file");
    resolve_err("/tmp", "/bin", "not an executable file");
    resolve_is("sh", "/nonexistent:/bin", "/bin/sh");
    resolve_is("sh", "::/nonexistent::/bin:", "/bin/sh");
    resolve_err("sh", "", "not found in PATH");
    resolve_err("sh", NULL, "not found in PATH");
    resolve_err("no-such-program-xyz", "/bin:/usr/bin", "not found in PATH");
    resolve_err("", "/bin", "empty");

    char dir[] = "/tmp/test_spawn.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char a[64], b[64], path[256], f[128];
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    ck_assert_int_eq(mkdir(a, 0755), 0);
    ck_assert_int_eq(mkdir(b, 0755), 0);
    snprintf(f, sizeof(f), "%s/prog", a); /* a/prog: not executable */
    int fd = open(f, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(path, sizeof(path), "%s:/nonexistent", a);
    resolve_err("prog", path, "not executable");
    snprintf(f, sizeof(f), "%s/prog", b); /* b/prog: a directory, skipped */
    ck_assert_int_eq(mkdir(f, 0755), 0);
    snprintf(path, sizeof(path), "%s:%s", b, a);
    resolve_err("prog", path, "not executable");
    ck_assert_int_eq(rmdir(f), 0);
    fd = open(f, O_CREAT | O_WRONLY, 0755); /* b/prog: executable, found after a/prog */
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(path, sizeof(path), "%s:%s", a, b);
    resolve_is("prog", path, f);
    unlink(f);
    snprintf(f, sizeof(f), "%s/prog", a);
    unlink(f);
    rmdir(a);
    rmdir(b);
    rmdir(dir);
}
END_TEST

START_TEST(signals)
{
    ck_assert_int_eq(spawn_signal_parse("SIGTERM"), SIGTERM);
    ck_assert_int_eq(spawn_signal_parse("TERM"), SIGTERM);
    ck_assert_int_eq(spawn_signal_parse("term"), SIGTERM);
    ck_assert_int_eq(spawn_signal_parse("sigterm"), SIGTERM);
    ck_assert_int_eq(spawn_signal_parse("15"), SIGTERM);
    ck_assert_int_eq(spawn_signal_parse("9"), SIGKILL);
    ck_assert_int_eq(spawn_signal_parse("SIGKILL"), SIGKILL);
    ck_assert_int_eq(spawn_signal_parse("HUP"), SIGHUP);
    ck_assert_int_eq(spawn_signal_parse("USR1"), SIGUSR1);
    ck_assert_int_eq(spawn_signal_parse("SIGQUIT"), SIGQUIT);
    ck_assert_int_eq(spawn_signal_parse("SIGINT"), SIGINT);
    ck_assert_int_eq(spawn_signal_parse("winch"), SIGWINCH);
    const char *bad[] = {"",    "0",   "999", "65",  "FOO",     "SIG",
                         "15x", "-15", "+15", " 15", "SIGTERM "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(spawn_signal_parse(bad[i]) == -1, "'%s'", bad[i]);
    ck_assert_int_eq(spawn_signal_parse(NULL), -1);
    ck_assert_str_eq(spawn_signal_name(SIGTERM), "SIGTERM");
    ck_assert_str_eq(spawn_signal_name(SIGUSR2), "SIGUSR2");
    ck_assert_str_eq(spawn_signal_name(SIGKILL), "SIGKILL");
    ck_assert_str_eq(spawn_signal_name(0), "SIG?");
    ck_assert_str_eq(spawn_signal_name(-1), "SIG?");
    ck_assert_str_eq(spawn_signal_name(1000), "SIG?");
    /* both ways agree for every named signal */
    int named = 0;
    for (int s = 1; s < 32; s++) {
        const char *n = spawn_signal_name(s);
        if (strcmp(n, "SIG?") == 0) continue;
        named++;
        ck_assert_int_eq(spawn_signal_parse(n), s);
        ck_assert_int_eq(spawn_signal_parse(n + 3), s);
        char num[16];
        snprintf(num, sizeof(num), "%d", s);
        ck_assert_int_eq(spawn_signal_parse(num), s);
    }
    ck_assert_int_ge(named, 28);
}
END_TEST

/* /proc/pressure/memory as the kernel writes it; what is not that is refused. */
START_TEST(psi)
{
    double v = -1;
    const char *real = "some avg10=12.34 avg60=3.00 avg300=0.50 total=123456\n"
                       "full avg10=1.00 avg60=0.20 avg300=0.00 total=2345\n";
    ck_assert_int_eq(spawn_psi_some_avg10(real, &v), 0);
    ck_assert(v == 12.34);
    const char *full_first = "full avg10=1.00 avg60=0 avg300=0 total=1\n"
                             "some avg10=0.00 avg60=0 avg300=0 total=1\n";
    ck_assert_int_eq(spawn_psi_some_avg10(full_first, &v), 0);
    ck_assert(v == 0.0);
    /* every prefix of the real text: a whole "some" line with its avg10, or a refusal */
    char buf[256];
    for (size_t n = 0; n <= strlen(real); n++) {
        memcpy(buf, real, n);
        buf[n] = '\0';
        v = -1;
        int rc = spawn_psi_some_avg10(buf, &v);
        if (n >= strlen("some avg10=12.34"))
            ck_assert(rc == 0 && v == 12.34);
        else if (rc == 0) /* (a number cut short is still a number: 12.3, 1) */
            ck_assert(v >= 0 && v <= 12.34);
    }
    const char *bad[] = {"",
                         "full avg10=1.00 avg60=0 avg300=0 total=1\n",
                         "some avg60=1.00 total=1\nfull avg10=5.00\n",
                         "some avg10=x avg60=0\n",
                         "some avg10=-1 avg60=0\n",
                         "some avg10=101 avg60=0\n",
                         "garbage\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(spawn_psi_some_avg10(bad[i], &v) == -1, "accepted %s", bad[i]);
}
END_TEST

START_TEST(backoff)
{
    ck_assert(spawn_backoff_delay(0) == 0.0);
    ck_assert(spawn_backoff_delay(1) == 0.5);
    ck_assert(spawn_backoff_delay(2) == 1.0);
    ck_assert(spawn_backoff_delay(3) == 2.0);
    ck_assert(spawn_backoff_delay(4) == 4.0);
    ck_assert(spawn_backoff_delay(5) == 8.0);
    ck_assert(spawn_backoff_delay(6) == 16.0);
    ck_assert(spawn_backoff_delay(7) == 30.0); /* 32, capped */
    ck_assert(spawn_backoff_delay(8) == SPAWN_BACKOFF_MAX);
    ck_assert(spawn_backoff_delay(100) == SPAWN_BACKOFF_MAX);
    ck_assert(spawn_backoff_delay(UINT_MAX) == SPAWN_BACKOFF_MAX);
    for (unsigned f = 1; f < 200; f++)
        ck_assert(spawn_backoff_delay(f) >= spawn_backoff_delay(f - 1));
}
END_TEST

START_TEST(strv_helpers)
{
    ck_assert_uint_eq(spawn_strv_len(NULL), 0);
    ck_assert_uint_eq(spawn_strv_len(V("a", "b")), 2);
    spawn_strv_free(NULL);
}
END_TEST

TCase *launch_tcase(void);

static Suite *spawn_suite(void)
{
    Suite *s = suite_create("spawn");
    TCase *tc = tcase_create("argv");
    tcase_add_test(tc, split_words);
    tcase_add_test(tc, split_quotes);
    tcase_add_test(tc, split_escapes);
    tcase_add_test(tc, split_errors);
    tcase_add_test(tc, argv_subst);
    tcase_add_test(tc, env_build);
    tcase_add_test(tc, resolve_exe);
    tcase_add_test(tc, signals);
    tcase_add_test(tc, backoff);
    tcase_add_test(tc, psi);
    tcase_add_test(tc, strv_helpers);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, launch_tcase());
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spawn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
