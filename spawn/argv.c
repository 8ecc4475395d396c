/* The app's command line, environment and restart back-off (argv.h): pure functions over
 * strings and numbers. Knows no process, no socket, no config. */
#include "config.h"

#include "spawn/argv.h"

#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/alloc.h"

/* A growing NULL-terminated string vector. */
typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

/* Start an empty vector: already NULL-terminated. */
static void strv_init(strv *s)
{
    s->cap = 8;
    s->n = 0;
    s->v = gw_xcalloc(s->cap, sizeof(*s->v));
}

static void strv_push(strv *s, char *str)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = gw_xreallocarray(s->v, s->cap, sizeof(*s->v));
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

/* A growing word (not NUL-terminated until taken). */
typedef struct word {
    char *p;
    size_t n, cap;
} word;

static void word_add(word *w, char c)
{
    if (w->n + 2 > w->cap) {
        w->cap = w->cap ? w->cap * 2 : 32;
        w->p = gw_xrealloc(w->p, w->cap);
    }
    w->p[w->n++] = c;
    w->p[w->n] = '\0';
}

static void word_adds(word *w, const char *s)
{
    for (; *s; s++) word_add(w, *s);
}

static char *word_take(word *w)
{
    char *p = w->p ? w->p : gw_xstrdup("");
    memset(w, 0, sizeof(*w));
    return p;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

char **spawn_split_cmdline(const char *s, char **err)
{
    strv out;
    strv_init(&out);
    word w = {0};
    int in_word = 0; /* a word has started, even an empty quoted one ('') */
    for (const char *p = s; *p;) {
        char c = *p;
        if (is_blank(c)) {
            if (in_word) strv_push(&out, word_take(&w));
            in_word = 0;
            p++;
            continue;
        }
        if (c == '\\' && p[1] == '\n') { /* a line continuation: nothing at all */
            p += 2;
            continue;
        }
        in_word = 1;
        if (c == '\\') {
            if (p[1] == '\0') {
                gw_errf(err, "trailing backslash in \"%s\"", s);
                goto fail;
            }
            word_add(&w, p[1]);
            p += 2;
        } else if (c == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (end == NULL) {
                gw_errf(err, "unterminated ' in \"%s\"", s);
                goto fail;
            }
            for (p++; p < end; p++) word_add(&w, *p);
            p = end + 1;
        } else if (c == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0') {
                    gw_errf(err, "unterminated \" in \"%s\"", s);
                    goto fail;
                }
                if (*p == '\\' && p[1] != '\0' && strchr("\"\\$`\n", p[1])) {
                    p++;
                    if (*p == '\n') continue; /* line continuation */
                }
                word_add(&w, *p);
            }
            p++;
        } else {
            word_add(&w, c);
            p++;
        }
    }
    if (in_word) strv_push(&out, word_take(&w));
    if (out.n == 0) {
        gw_errf(err, "empty command line");
        goto fail;
    }
    return out.v;
fail:
    free(w.p);
    spawn_strv_free(out.v);
    return NULL;
}

char **spawn_argv_subst(char *const *argv, const char *socket, const char *port)
{
    static const char k_socket[] = "{socket}", k_port[] = "{port}";
    strv out;
    strv_init(&out);
    for (size_t i = 0; argv[i]; i++) {
        word w = {0};
        for (const char *p = argv[i]; *p;) {
            if (strncmp(p, k_socket, sizeof(k_socket) - 1) == 0) {
                word_adds(&w, socket ? socket : "");
                p += sizeof(k_socket) - 1;
            } else if (strncmp(p, k_port, sizeof(k_port) - 1) == 0) {
                word_adds(&w, port ? port : "");
                p += sizeof(k_port) - 1;
            } else {
                word_add(&w, *p++);
            }
        }
        strv_push(&out, word_take(&w));
    }
    return out.v;
}

/* The length of the name in "NAME=value" (the whole string when it has no '='). */
static size_t env_name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* The index of the entry named like `entry` (or `name`/`len`) in out, or -1. */
static long env_find(const strv *out, const char *name, size_t len)
{
    for (size_t i = 0; i < out->n; i++)
        if (env_name_len(out->v[i]) == len && strncmp(out->v[i], name, len) == 0) return (long)i;
    return -1;
}

/* Put "NAME=value" into out, replacing an entry of the same name in place. */
static void env_put(strv *out, const char *entry)
{
    long i = env_find(out, entry, env_name_len(entry));
    if (i >= 0) {
        free(out->v[i]);
        out->v[i] = gw_xstrdup(entry);
    } else {
        strv_push(out, gw_xstrdup(entry));
    }
}

char **spawn_env_build(char *const *parent, char *const *copy, size_t ncopy, char *const *set,
                       size_t nset, char *const *extra, size_t nextra)
{
    strv out;
    strv_init(&out);
    for (size_t i = 0; i < ncopy; i++) {
        size_t len = strlen(copy[i]);
        for (size_t j = 0; parent && parent[j]; j++) {
            if (strncmp(parent[j], copy[i], len) == 0 && parent[j][len] == '=') {
                env_put(&out, parent[j]);
                break;
            }
        }
    }
    if (env_find(&out, "PATH", 4) < 0) env_put(&out, "PATH=/usr/local/bin:/usr/bin:/bin");
    for (size_t i = 0; i < nset; i++) env_put(&out, set[i]);
    if (env_find(&out, "PHP_FCGI_CHILDREN", 17) < 0) env_put(&out, "PHP_FCGI_CHILDREN=1");
    for (size_t i = 0; i < nextra; i++) env_put(&out, extra[i]);
    return out.v;
}

/* A regular file that this process may execute. */
static int is_exe(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *spawn_resolve_exe(const char *name, const char *path, char **err)
{
    if (name == NULL || *name == '\0') {
        gw_errf(err, "empty program name");
        return NULL;
    }
    if (strchr(name, '/')) {
        if (is_exe(name)) return gw_xstrdup(name);
        gw_errf(err, "%s: %s", name,
                access(name, F_OK) != 0 ? "no such file" : "not an executable file");
        return NULL;
    }
    int seen = 0; /* a file of that name exists but is not executable */
    for (const char *p = path ? path : ""; *p;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        if (dlen > 0) { /* an empty element (a legacy "current directory") is skipped */
            size_t n = dlen + 1 + strlen(name) + 1;
            char *cand = gw_xmalloc(n);
            memcpy(cand, p, dlen);
            cand[dlen] = '/';
            strcpy(cand + dlen + 1, name);
            if (is_exe(cand)) return cand;
            if (access(cand, F_OK) == 0) seen = 1;
            free(cand);
        }
        p = *end ? end + 1 : end;
    }
    if (seen)
        gw_errf(err, "%s: not executable", name);
    else
        gw_errf(err, "%s: not found in PATH", name);
    return NULL;
}

static const struct {
    int sig;
    const char *name;
} signals[] = {
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},   {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},     {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"},     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},   {SIGCHLD, "SIGCHLD"},
    {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},   {SIGTTIN, "SIGTTIN"},
    {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
    {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},
    {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
};

int spawn_signal_parse(const char *name)
{
    if (name == NULL || *name == '\0') return -1;
    if (isdigit((unsigned char)*name)) {
        char *end;
        long n = strtol(name, &end, 10);
        if (*end != '\0' || n <= 0 || n > 64) return -1;
        return strcmp(spawn_signal_name((int)n), "SIG?") ? (int)n : -1;
    }
    if (strncasecmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (strcasecmp(name, signals[i].name + 3) == 0) return signals[i].sig;
    return -1;
}

const char *spawn_signal_name(int sig)
{
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (signals[i].sig == sig) return signals[i].name;
    return "SIG?";
}

int spawn_psi_some_avg10(const char *text, double *avg10)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
        if (strncmp(line, "some ", 5) != 0) continue;
        const char *p = strstr(line, " avg10=");
        const char *eol = strchr(line, '\n');
        if (p == NULL || (eol && p > eol)) return -1;
        char *end;
        double v = strtod(p + 7, &end);
        if (end == p + 7 || v < 0 || v > 100) return -1;
        *avg10 = v;
        return 0;
    }
    return -1;
}

double spawn_backoff_delay(unsigned failures)
{
    if (failures == 0) return 0;
    double d = SPAWN_BACKOFF_FIRST;
    for (unsigned i = 1; i < failures && d < SPAWN_BACKOFF_MAX; i++) d *= 2;
    return d < SPAWN_BACKOFF_MAX ? d : SPAWN_BACKOFF_MAX;
}

void spawn_strv_free(char **v)
{
    if (v == NULL) return;
    for (size_t i = 0; v[i]; i++) free(v[i]);
    free(v);
}

size_t spawn_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n]) n++;
    return n;
}
