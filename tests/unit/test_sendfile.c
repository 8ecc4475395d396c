/* Unit tests for gateway/sendfile.c: normalisation, the confined open against a real temp tree
 * (escapes through "..", encodings, symlinks, loops, FIFOs, devices), ranges, conditionals,
 * validators, dates and MIME types. Includes the .c to force the openat2-less walk as well. */
#include "gateway/respond/sendfile.c"

#include <check.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ---- the temp tree ---- */

static char T[256]; /* the mkdtemp directory */

static void mkfile(const char *rel, const char *content)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", T, rel);
    FILE *f = fopen(p, "w");
    ck_assert_msg(f != NULL, "create %s", p);
    fputs(content, f);
    fclose(f);
}

static void mkdir_rel(const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", T, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* a leading "@" in the target stands for the temp dir, for absolute links */
static void mklink(const char *target, const char *rel)
{
    char p[PATH_MAX], t[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", T, rel);
    if (target[0] == '@')
        snprintf(t, sizeof(t), "%s%s", T, target + 1);
    else
        snprintf(t, sizeof(t), "%s", target);
    ck_assert_int_eq(symlink(t, p), 0);
}

static void tree_setup(void)
{
    snprintf(T, sizeof(T), "%s/portico-sf-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert(mkdtemp(T) != NULL);
    mkdir_rel("root");
    mkdir_rel("root/sub");
    mkdir_rel("root/sub/deep");
    mkdir_rel("root/dir");
    mkdir_rel("root2");
    mkdir_rel("rootx");
    mkdir_rel("outside");
    mkfile("root/a.txt", "alpha\n");
    mkfile("root/sub/b.txt", "bravo\n");
    mkfile("root/sub/deep/c.txt", "charlie\n");
    mkfile("root/sp ace.txt", "space\n");
    mkfile("root/100%.txt", "percent\n");
    mkfile("root/noperm.txt", "secret\n");
    mkfile("root2/x.txt", "xray\n");
    mkfile("rootx/f.txt", "foxtrot\n");
    mkfile("outside/secret.txt", "secret\n");
    mklink("a.txt", "root/link_in");
    mklink("sub", "root/link_sub");
    mklink("../a.txt", "root/sub/link_parent");
    mklink("../root/a.txt", "root/link_up");
    mklink("../outside/secret.txt", "root/link_out");
    mklink("../outside", "root/link_outdir");
    mklink("@/outside/secret.txt", "root/link_abs");
    mklink("@/root/a.txt", "root/link_abs_in");
    mklink("loop2", "root/loop1");
    mklink("loop1", "root/loop2");
    mklink("self", "root/self");
    mklink("/dev/null", "root/null");
    mklink("nothing-here", "root/dangling");
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/root/fifo", T);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    snprintf(p, sizeof(p), "%s/root/noperm.txt", T);
    ck_assert_int_eq(chmod(p, 0), 0);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path);
}

static void tree_teardown(void)
{
    nftw(T, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the escape table ---- */

enum { NORM_ERR = -1 };
enum { BOTH, BENEATH_ONLY, WALK_ONLY };

static const struct open_case {
    const char *value; /* a leading "@" stands for the temp dir */
    int status;        /* 200, 403, 404, or NORM_ERR when normalisation refuses it */
    const char *content;
    int mode; /* BOTH, or only with openat2 / only with the walk */
} open_cases[] = {
    {"@/root/a.txt", 200, "alpha\n", BOTH},
    {"@/root//sub///b.txt", 200, "bravo\n", BOTH},
    {"@/root/./sub/./deep/c.txt", 200, "charlie\n", BOTH},
    {"@/root/sub/../a.txt", 200, "alpha\n", BOTH},
    {"@/root/sub/deep/../../a.txt", 200, "alpha\n", BOTH},
    {"@/root/%61.txt", 200, "alpha\n", BOTH},
    {"@/root/sub%2fb.txt", 200, "bravo\n", BOTH},
    {"@/root/sp%20ace.txt", 200, "space\n", BOTH},
    {"@/root/100%.txt", 200, "percent\n", BOTH},
    {"@/root/100%25.txt", 200, "percent\n", BOTH},
    {"@/root2/x.txt", 200, "xray\n", BOTH},
    /* links that stay inside: followed by openat2, refused by the stricter walk */
    {"@/root/link_in", 200, "alpha\n", BENEATH_ONLY},
    {"@/root/link_sub/b.txt", 200, "bravo\n", BENEATH_ONLY},
    {"@/root/sub/link_parent", 200, "alpha\n", BENEATH_ONLY},
    {"@/root/dangling", 404, NULL, BENEATH_ONLY},
    {"@/root/link_in", 403, NULL, WALK_ONLY},
    {"@/root/link_sub/b.txt", 403, NULL, WALK_ONLY},
    {"@/root/sub/link_parent", 403, NULL, WALK_ONLY},
    {"@/root/dangling", 403, NULL, WALK_ONLY},
    /* escapes */
    {"@/root/../outside/secret.txt", 403, NULL, BOTH},
    {"@/root/%2e%2e/outside/secret.txt", 403, NULL, BOTH},
    {"@/root/%2E%2e/outside/secret.txt", 403, NULL, BOTH},
    {"@/root/sub/%2e%2E/%2e%2e/outside/secret.txt", 403, NULL, BOTH},
    {"@/root/..%2foutside/secret.txt", 403, NULL, BOTH},
    {"@/root/sub/..%2F..%2F..%2Foutside/secret.txt", 403, NULL, BOTH},
    {"//etc/passwd", 403, NULL, BOTH},
    {"/etc/passwd", 403, NULL, BOTH},
    {"%2fetc%2fpasswd", 403, NULL, BOTH},
    {"@/rootx/f.txt", 403, NULL, BOTH}, /* "root" is not a prefix of "rootx" */
    {"@/outside/secret.txt", 403, NULL, BOTH},
    {"@/root", 403, NULL, BOTH},
    {"@/root/", 403, NULL, BOTH},
    {"@/root/link_out", 403, NULL, BOTH},
    {"@/root/link_outdir/secret.txt", 403, NULL, BOTH},
    {"@/root/link_up", 403, NULL, BOTH},
    {"@/root/link_abs", 403, NULL, BOTH},
    {"@/root/link_abs_in", 403, NULL, BOTH}, /* absolute links are never followed */
    {"@/root/loop1", 403, NULL, BOTH},
    {"@/root/self", 403, NULL, BOTH},
    {"@/root/loop1/x", 403, NULL, BOTH},
    {"@/root/null", 403, NULL, BOTH},
    {"@/root/fifo", 403, NULL, BOTH},
    {"@/root/dir", 403, NULL, BOTH},
    {"@/root/sub", 403, NULL, BOTH},
    {"@/root/missing.txt", 404, NULL, BOTH},
    {"@/root/nodir/x.txt", 404, NULL, BOTH},
    {"@/root/a.txt/x", 404, NULL, BOTH},
    {"@/root/sub/missing", 404, NULL, BOTH},
    /* refused before any open */
    {"", NORM_ERR, NULL, BOTH},
    {"relative/a.txt", NORM_ERR, NULL, BOTH},
    {"/../etc/passwd", NORM_ERR, NULL, BOTH},
    {"/%2e%2e/etc/passwd", NORM_ERR, NULL, BOTH},
    {"@/root/a.txt%00.jpg", NORM_ERR, NULL, BOTH},
};
#define NOPEN (int)(sizeof(open_cases) / sizeof(open_cases[0]))

static const char *roots[] = {NULL, NULL}; /* "T/root/" (trailing slash on purpose), "T/root2" */
static char root1[PATH_MAX], root2[PATH_MAX];

static void roots_init(void)
{
    snprintf(root1, sizeof(root1), "%s/root/", T);
    snprintf(root2, sizeof(root2), "%s/root2", T);
    roots[0] = root1;
    roots[1] = root2;
}

/* value -> normalise -> open: the status the gateway would answer (NORM_ERR if refused early) */
static int resolve(const char *value, char *content, size_t clen)
{
    char v[PATH_MAX], path[PATH_MAX];
    if (value[0] == '@')
        snprintf(v, sizeof(v), "%s%s", T, value + 1);
    else
        snprintf(v, sizeof(v), "%s", value);
    /* the value as an exact-size heap copy, so an overread shows under ASan */
    size_t n = strlen(v);
    char *heap = malloc(n ? n : 1);
    memcpy(heap, v, n);
    int len = gw_sendfile_normalize((gw_str){heap, n}, path, sizeof(path));
    free(heap);
    if (len < 0) return NORM_ERR;
    struct stat st;
    int status = 0;
    int fd = gw_sendfile_open(roots, 2, path, &st, &status);
    if (fd < 0) return status;
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ssize_t r = read(fd, content, clen - 1);
    ck_assert_int_ge(r, 0);
    ck_assert_int_eq(r, st.st_size);
    content[r] = '\0';
    close(fd);
    return 200;
}

static void run_open_case(int i, int walk)
{
    const struct open_case *c = &open_cases[i];
    if (c->mode == (walk ? BENEATH_ONLY : WALK_ONLY)) return;
    char content[256] = "";
    int got = resolve(c->value, content, sizeof(content));
    ck_assert_msg(got == c->status, "%s (%s): got %d, want %d", c->value, walk ? "walk" : "openat2",
                  got, c->status);
    if (c->content) ck_assert_str_eq(content, c->content);
}

START_TEST(test_open_beneath)
{
    openat2_state = 0;
    if (!openat2_usable()) return; /* the walk test still covers the table */
    roots_init();
    run_open_case(_i, 0);
}
END_TEST

START_TEST(test_open_walk)
{
    openat2_state = -1;
    roots_init();
    run_open_case(_i, 1);
    openat2_state = 0;
}
END_TEST

START_TEST(test_open_noperm)
{
    if (geteuid() == 0) return; /* root reads a mode 000 file */
    roots_init();
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/root/noperm.txt", T);
    struct stat st;
    int status = 0;
    for (int walk = 0; walk < 2; walk++) {
        openat2_state = walk ? -1 : 0;
        ck_assert_int_eq(gw_sendfile_open(roots, 2, path, &st, &status), -1);
        ck_assert_int_eq(status, 403);
    }
    openat2_state = 0;
}
END_TEST

/* A link leaving the longest root may still land in a shorter configured root. */
START_TEST(test_open_root_order)
{
    char outer[PATH_MAX], inner[PATH_MAX], path[PATH_MAX];
    snprintf(outer, sizeof(outer), "%s", T);
    snprintf(inner, sizeof(inner), "%s/root", T);
    const char *r[] = {inner, outer};
    struct stat st;
    int status = 0;
    snprintf(path, sizeof(path), "%s/root/link_out", T);
    openat2_state = 0;
    if (openat2_usable()) {
        int fd = gw_sendfile_open(r, 2, path, &st, &status);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(st.st_size, 7);
        close(fd);
    }
    /* the outer root does not make /etc reachable, and "/" covers everything */
    ck_assert_int_eq(gw_sendfile_open(r, 2, "/etc/passwd", &st, &status), -1);
    ck_assert_int_eq(status, 403);
    const char *slash[] = {"/"};
    snprintf(path, sizeof(path), "%s/root/a.txt", T);
    int fd = gw_sendfile_open(slash, 1, path, &st, &status);
    ck_assert_int_ge(fd, 0);
    close(fd);
    /* trailing slashes on a root do not matter; a relative root covers nothing */
    snprintf(outer, sizeof(outer), "%s/root2///", T);
    snprintf(path, sizeof(path), "%s/root2/x.txt", T);
    const char *trail[] = {"root2", outer};
    fd = gw_sendfile_open(trail, 2, path, &st, &status);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(gw_sendfile_open(trail, 1, path, &st, &status), -1);
    ck_assert_int_eq(status, 403);
    /* no roots, a relative path, a missing root */
    snprintf(path, sizeof(path), "%s/root/a.txt", T);
    ck_assert_int_eq(gw_sendfile_open(r, 0, path, &st, &status), -1);
    ck_assert_int_eq(status, 403);
    ck_assert_int_eq(gw_sendfile_open(r, 2, "root/a.txt", &st, &status), -1);
    ck_assert_int_eq(status, 403);
    snprintf(outer, sizeof(outer), "%s/gone", T);
    snprintf(path, sizeof(path), "%s/gone/a.txt", T);
    const char *gone[] = {outer};
    ck_assert_int_eq(gw_sendfile_open(gone, 1, path, &st, &status), -1);
    ck_assert_int_eq(status, 404);
}
END_TEST

/* ---- normalisation ---- */

static const struct {
    const char *in;
    const char *out; /* NULL: GW_ERR */
} norm_cases[] = {
    {"/", "/"},
    {"/a/b", "/a/b"},
    {"/a/b/", "/a/b"},
    {"//a//b//", "/a/b"},
    {"/a/./b/.", "/a/b"},
    {"/a/b/..", "/a"},
    {"/a/..", "/"},
    {"/a/b/../../c", "/c"},
    {"/..a/b..", "/..a/b.."},
    {"/a/...", "/a/..."},
    {"/a%2fb", "/a/b"},
    {"/%2E", "/"},
    {"/a%20b", "/a b"},
    {"/a%", "/a%"},
    {"/a%2", "/a%2"},
    {"/a%zz", "/a%zz"},
    {"/a%252e%252e", "/a%2e%2e"}, /* decoded once only */
    {"%2fa", "/a"},
    {"/\xc3\xa9t\xc3\xa9", "/\xc3\xa9t\xc3\xa9"},
    {"/..", NULL},
    {"/a/../..", NULL},
    {"/%2e%2e", NULL},
    {"/%2E%2e/", NULL},
    {"/a%00", NULL},
    {"a", NULL},
    {"./a", NULL},
    {"", NULL},
};

/* Whatever came out is absolute and clean: no "//", "/./", "/../", no trailing '/'. */
static void assert_clean(const char *p, int len)
{
    ck_assert_int_eq((int)strlen(p), len);
    ck_assert(p[0] == '/');
    ck_assert(strstr(p, "//") == NULL);
    ck_assert(strstr(p, "/./") == NULL && strstr(p, "/../") == NULL);
    ck_assert(len == 1 || p[len - 1] != '/');
    ck_assert(!(len >= 2 && strcmp(p + len - 2, "/.") == 0));
    ck_assert(!(len >= 3 && strcmp(p + len - 3, "/..") == 0));
}

static int norm(const char *s, size_t n, char *out, size_t outlen)
{
    char *heap = malloc(n ? n : 1);
    memcpy(heap, s, n);
    int r = gw_sendfile_normalize((gw_str){heap, n}, out, outlen);
    free(heap);
    return r;
}

START_TEST(test_normalize)
{
    char out[256];
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const char *in = norm_cases[i].in;
        size_t n = strlen(in);
        int r = norm(in, n, out, sizeof(out));
        if (norm_cases[i].out == NULL) {
            ck_assert_msg(r == GW_ERR, "%s: got %d", in, r);
        } else {
            ck_assert_msg(r >= 0, "%s: refused", in);
            ck_assert_str_eq(out, norm_cases[i].out);
            assert_clean(out, r);
        }
        /* every prefix: refused or clean */
        for (size_t k = 0; k < n; k++) {
            r = norm(in, k, out, sizeof(out));
            if (r >= 0) assert_clean(out, r);
        }
        /* trailing junk after a NUL is refused */
        char junk[300];
        memcpy(junk, in, n);
        memcpy(junk + n, "\0/x", 3);
        ck_assert_int_eq(norm(junk, n + 3, out, sizeof(out)), GW_ERR);
    }
}
END_TEST

START_TEST(test_normalize_bounds)
{
    char out[8];
    ck_assert_int_eq(norm("/abc", 4, out, 5), 4);
    ck_assert_str_eq(out, "/abc");
    ck_assert_int_eq(norm("/abc", 4, out, 4), GW_ERR);
    ck_assert_int_eq(norm("/abcdefgh", 9, out, sizeof(out)), GW_ERR);
    ck_assert_int_eq(norm("/abcdefg/..", 11, out, sizeof(out)), GW_ERR);
    ck_assert_int_eq(norm("/a/b/../c", 9, out, sizeof(out)), 4);
    ck_assert_str_eq(out, "/a/c");
    ck_assert_int_eq(norm("/", 1, out, 1), GW_ERR);
    ck_assert_int_eq(norm("/", 1, out, 2), 1);
}
END_TEST

/* ---- ranges ---- */

#define ETAG "\"1a-3e8-5f5e100\""
#define MTIME ((time_t)100000000)
#define MTIME_DATE "Sat, 03 Mar 1973 09:46:40 GMT"

static const struct {
    const char *range, *if_range;
    uint64_t size;
    int status;
    uint64_t start, len;
} range_cases[] = {
    {"bytes=0-499", NULL, 1000, 206, 0, 500},
    {"bytes=500-999", NULL, 1000, 206, 500, 500},
    {"bytes=500-", NULL, 1000, 206, 500, 500},
    {"bytes=-500", NULL, 1000, 206, 500, 500},
    {"bytes=-2000", NULL, 1000, 206, 0, 1000},
    {"bytes=0-0", NULL, 1000, 206, 0, 1},
    {"bytes=0-", NULL, 1000, 206, 0, 1000},
    {"bytes=999-2000", NULL, 1000, 206, 999, 1},
    {"bytes=0-99999999999999999999999", NULL, 1000, 206, 0, 1000},
    {"BYTES=1-2", NULL, 1000, 206, 1, 2},
    {"bytes= 1-2 ", NULL, 1000, 206, 1, 2},
    {"bytes=1-2,", NULL, 1000, 206, 1, 2},
    {"bytes=1000-", NULL, 1000, 416, 0, 0},
    {"bytes=1000-1001", NULL, 1000, 416, 0, 0},
    {"bytes=99999999999999999999999-", NULL, 1000, 416, 0, 0},
    {"bytes=-0", NULL, 1000, 416, 0, 0},
    {"bytes=0-", NULL, 0, 416, 0, 0},
    {"bytes=-5", NULL, 0, 0, 0, 0},
    {"bytes=5-4", NULL, 1000, 0, 0, 0},
    {"bytes=0-1,5-6", NULL, 1000, 0, 0, 0},
    {"bytes=0-1, 5-", NULL, 1000, 0, 0, 0},
    {"items=0-1", NULL, 1000, 0, 0, 0},
    {"bytes=", NULL, 1000, 0, 0, 0},
    {"bytes=-", NULL, 1000, 0, 0, 0},
    {"bytes=a-b", NULL, 1000, 0, 0, 0},
    {"bytes=1", NULL, 1000, 0, 0, 0},
    {"bytes=0-1x", NULL, 1000, 0, 0, 0},
    {"bytes=--1", NULL, 1000, 0, 0, 0},
    {"bytes 0-1", NULL, 1000, 0, 0, 0},
    {"", NULL, 1000, 0, 0, 0},
    /* If-Range */
    {"bytes=0-9", ETAG, 1000, 206, 0, 10},
    {"bytes=0-9", " " ETAG " ", 1000, 206, 0, 10},
    {"bytes=0-9", "\"other\"", 1000, 0, 0, 0},
    {"bytes=0-9", "W/" ETAG, 1000, 0, 0, 0},
    {"bytes=0-9", MTIME_DATE, 1000, 206, 0, 10},
    {"bytes=0-9", "Sat, 03 Mar 1973 09:46:41 GMT", 1000, 0, 0, 0},
    {"bytes=0-9", "garbage", 1000, 0, 0, 0},
    {"bytes=5000-", "\"other\"", 1000, 0, 0, 0}, /* a failed If-Range beats the 416 */
};

static gw_str heap_str(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return (gw_str){p, n};
}

static int range(const char *r, size_t rn, const char *ir, uint64_t size, uint64_t *start,
                 uint64_t *len)
{
    gw_str rs = heap_str(r, rn);
    gw_str is = ir ? heap_str(ir, strlen(ir)) : GW_STR_NULL;
    int st = gw_range_parse(rs, is, ETAG, MTIME, size, start, len);
    free((void *)rs.p);
    free((void *)is.p);
    return st;
}

START_TEST(test_range)
{
    for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        const char *r = range_cases[i].range;
        size_t n = strlen(r);
        uint64_t start = 77, len = 77;
        int st = range(r, n, range_cases[i].if_range, range_cases[i].size, &start, &len);
        ck_assert_msg(st == range_cases[i].status, "%s: got %d", r, st);
        if (st == 206) {
            ck_assert_msg(start == range_cases[i].start && len == range_cases[i].len,
                          "%s: got %llu+%llu", r, (unsigned long long)start,
                          (unsigned long long)len);
        }
        /* every prefix gives a sane answer; junk after a range makes it ignored */
        for (size_t k = 0; k < n; k++) {
            st = range(r, k, range_cases[i].if_range, range_cases[i].size, &start, &len);
            ck_assert(st == 0 || st == 206 || st == 416);
            if (st == 206) ck_assert(len > 0 && start + len <= range_cases[i].size);
        }
        char junk[128];
        snprintf(junk, sizeof(junk), "%s;x", r);
        ck_assert_int_eq(
            range(junk, strlen(junk), range_cases[i].if_range, range_cases[i].size, &start, &len),
            0);
    }
    uint64_t s, l;
    ck_assert_int_eq(gw_range_parse(GW_STR_NULL, GW_STR_NULL, ETAG, MTIME, 10, &s, &l), 0);
}
END_TEST

/* ---- conditionals ---- */

static int cond(const char *method, const char *h1, const char *v1, const char *h2, const char *v2)
{
    gw_header hdr[2];
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = gw_str_from(method);
    rq.hdr = hdr;
    if (h1) hdr[rq.nhdr++] = (gw_header){gw_str_from(h1), gw_str_from(v1)};
    if (h2) hdr[rq.nhdr++] = (gw_header){gw_str_from(h2), gw_str_from(v2)};
    return gw_sendfile_conditional(&rq, ETAG, MTIME);
}

#define OLDER "Sat, 03 Mar 1973 09:46:39 GMT"
#define NEWER "Sat, 03 Mar 1973 09:46:41 GMT"

START_TEST(test_conditional)
{
    ck_assert_int_eq(cond("GET", NULL, NULL, NULL, NULL), 0);
    /* If-None-Match: weak comparison */
    ck_assert_int_eq(cond("GET", "If-None-Match", ETAG, NULL, NULL), 304);
    ck_assert_int_eq(cond("HEAD", "if-none-match", ETAG, NULL, NULL), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match", "W/" ETAG, NULL, NULL), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match", "\"x\", W/\"y\" ," ETAG, NULL, NULL), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match", "*", NULL, NULL), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match", "\"x\", \"y\"", NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match", "\"1a-3e8-5f5e100", NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match", "1a-3e8-5f5e100", NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match", "\"x\"", "If-None-Match", ETAG), 304);
    ck_assert_int_eq(cond("POST", "If-None-Match", ETAG, NULL, NULL), 412);
    ck_assert_int_eq(cond("POST", "If-None-Match", "\"x\"", NULL, NULL), 0);
    /* If-Match: strong comparison */
    ck_assert_int_eq(cond("GET", "If-Match", ETAG, NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-Match", "*", NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-Match", "\"a\", " ETAG, NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-Match", "W/" ETAG, NULL, NULL), 412);
    ck_assert_int_eq(cond("GET", "If-Match", "\"a\"", NULL, NULL), 412);
    ck_assert_int_eq(cond("PUT", "If-Match", "\"a\"", NULL, NULL), 412);
    /* dates */
    ck_assert_int_eq(cond("GET", "If-Modified-Since", MTIME_DATE, NULL, NULL), 304);
    ck_assert_int_eq(cond("GET", "If-Modified-Since", NEWER, NULL, NULL), 304);
    ck_assert_int_eq(cond("GET", "If-Modified-Since", OLDER, NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-Modified-Since", "yesterday", NULL, NULL), 0);
    ck_assert_int_eq(cond("POST", "If-Modified-Since", NEWER, NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since", OLDER, NULL, NULL), 412);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since", MTIME_DATE, NULL, NULL), 0);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since", "junk", NULL, NULL), 0);
    /* precedence: If-None-Match decides alone; If-Match hides If-Unmodified-Since */
    ck_assert_int_eq(cond("GET", "If-None-Match", "\"x\"", "If-Modified-Since", NEWER), 0);
    ck_assert_int_eq(cond("GET", "If-Match", ETAG, "If-Unmodified-Since", OLDER), 0);
    ck_assert_int_eq(cond("GET", "If-Match", "\"x\"", "If-None-Match", ETAG), 412);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since", OLDER, "If-None-Match", ETAG), 412);
}
END_TEST

START_TEST(test_etag)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = 0x1a;
    st.st_size = 1000;
    st.st_mtime = MTIME;
    char buf[64];
    gw_sendfile_etag(&st, buf, sizeof(buf));
    ck_assert_str_eq(buf, ETAG);
    char small[6];
    gw_sendfile_etag(&st, small, sizeof(small));
    ck_assert_str_eq(small, "\"1a-3");
    st.st_size = 1001;
    gw_sendfile_etag(&st, buf, sizeof(buf));
    ck_assert_str_ne(buf, ETAG);
}
END_TEST

/* ---- dates ---- */

START_TEST(test_dates)
{
    char buf[30];
    ck_assert_str_eq(gw_http_date(784111777, buf), "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_str_eq(gw_http_date(0, buf), "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_str_eq(gw_http_date(951782400, buf), "Tue, 29 Feb 2000 00:00:00 GMT");
    const char *forms[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                           "Sun Nov  6 08:49:37 1994", " Sun, 06 Nov 1994 08:49:37 GMT "};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        size_t n = strlen(forms[i]);
        gw_str s = heap_str(forms[i], n);
        ck_assert_msg(gw_http_date_parse(s) == 784111777, "%s", forms[i]);
        /* a cut date is no date */
        for (size_t k = 0; k < n - (forms[i][n - 1] == ' ' ? 2 : 0); k++) {
            gw_str p = {s.p, k};
            ck_assert_msg(gw_http_date_parse(p) == -1, "%s cut at %zu", forms[i], k);
        }
        free((void *)s.p);
        char junk[64];
        snprintf(junk, sizeof(junk), "%sx", forms[i]);
        ck_assert_int_eq(gw_http_date_parse(gw_str_from(junk)), -1);
    }
    ck_assert_int_eq(gw_http_date_parse(gw_str_from("Thu Feb 29 12:00:00 2024")), 1709208000);
    const char *bad[] = {"Sun, 31 Feb 1994 08:49:37 GMT",    "Sun, 29 Feb 1900 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:49:37 GMT",    "Sun, 06 Nov 1994 08:60:37 GMT",
                         "Sun, 00 Nov 1994 08:49:37 GMT",    "sun, 06 Nov 1994 08:49:37 GMT",
                         "Sun, 06 nov 1994 08:49:37 GMT",    "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sun, 6 Nov 1994 08:49:37 GMT",     "Sun, 06 Nov 94 08:49:37 GMT",
                         "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
                         "Sun, 06 Nov 1994 08:49:3a GMT",    ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(gw_http_date_parse(gw_str_from(bad[i])) == -1, "%s", bad[i]);
    ck_assert_int_eq(gw_http_date_parse(GW_STR_NULL), -1);
    /* round trip over a spread of times, leap days and the 2038 boundary included */
    const time_t ts[] = {
        1, 86399, 951868799, 2147483647, 2147483648LL, 4107542400LL, 253402300799LL};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        ck_assert_int_eq(gw_http_date_parse(gw_str_from(gw_http_date(ts[i], buf))), ts[i]);
    for (time_t t = 0; t < 4000000000LL; t += 7777777)
        ck_assert_int_eq(gw_http_date_parse(gw_str_from(gw_http_date(t, buf))), t);
}
END_TEST

START_TEST(test_mime)
{
    ck_assert_str_eq(gw_mime_type("/a/index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(gw_mime_type("/a/INDEX.HTM"), "text/html; charset=utf-8");
    ck_assert_str_eq(gw_mime_type("/a/x.tar.gz"), "application/gzip");
    ck_assert_str_eq(gw_mime_type("/a/x.Jpeg"), "image/jpeg");
    ck_assert_str_eq(gw_mime_type("/a/font.woff2"), "font/woff2");
    ck_assert_str_eq(gw_mime_type("/a/app.wasm"), "application/wasm");
    ck_assert_str_eq(gw_mime_type("x.json"), "application/json");
    ck_assert_str_eq(gw_mime_type("/a/noext"), "application/octet-stream");
    ck_assert_str_eq(gw_mime_type("/a.d/noext"), "application/octet-stream");
    ck_assert_str_eq(gw_mime_type("/a/.bashrc"), "application/octet-stream");
    ck_assert_str_eq(gw_mime_type("/a/x."), "application/octet-stream");
    ck_assert_str_eq(gw_mime_type("/a/x.unknownext"), "application/octet-stream");
}
END_TEST

static Suite *sendfile_suite(void)
{
    Suite *s = suite_create("sendfile");
    TCase *tc = tcase_create("open");
    tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_loop_test(tc, test_open_beneath, 0, NOPEN);
    tcase_add_loop_test(tc, test_open_walk, 0, NOPEN);
    tcase_add_test(tc, test_open_noperm);
    tcase_add_test(tc, test_open_root_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_add_test(tc, test_normalize);
    tcase_add_test(tc, test_normalize_bounds);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_conditional);
    tcase_add_test(tc, test_etag);
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_mime);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sendfile_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
