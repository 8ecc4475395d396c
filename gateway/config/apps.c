/* spawn.apps: each app's settings checked at load (FILE:LINE errors) and turned into the
 * spawn_conf the supervisor runs. Nothing is started here: -t runs this too. */
#include "config.h"

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/alloc.h"
#include "gateway/base/buf.h"
#include "gateway/config/apps.h"
#include "gateway/upstream/pool.h"
#include "spawn/argv.h"

#define APP_MAX_PROCS 256 /* a pool's peers fit the retry bitmap of an exchange */

/* cgroup limits: an app in a cgroup of its own is not built; a config that sets them is refused
 * rather than loaded to silently do less. */
static const char *const cgroup_keys[] = {"memory-max", "cpu-max", "pids-max"};

static const char *const known[] = {
    "bin-path",      "socket",           "pass-socket",   "concurrency",  "min-procs",
    "max-procs",     "idle-timeout",     "start-timeout", "stop-timeout", "kill-signal",
    "environment",   "copy-environment", "user",          "group",        "max-requests",
    "max-lifetime",  "request-timeout",  "max-rss",       "restart-file", "restart-surge",
    "drain-timeout", "kill-mode"};

static int where(const gw_val *v, char **err, const char *fmt, const char *app, const char *what)
{
    return gw_errf(err, "%s:%d: spawn.apps \"%s\": %s%s", v->file, v->line, app, fmt, what);
}

static int get_int(const gw_val *v, const char *app, const char *key, long long lo, long long hi,
                   long long *out, char **err)
{
    if (v->type != GW_VAL_INT || v->num < lo || v->num > hi) {
        char msg[160];
        snprintf(msg, sizeof(msg), "\"%s\" must be an integer from %lld to %lld", key, lo, hi);
        return where(v, err, msg, app, "");
    }
    *out = v->num;
    return GW_OK;
}

static char **str_list(const gw_val *v, const char *app, const char *key, char **err)
{
    if (v->type != GW_VAL_LIST) {
        char msg[128];
        snprintf(msg, sizeof(msg), "\"%s\" must be a list of strings", key);
        where(v, err, msg, app, "");
        return NULL;
    }
    char **out = gw_xcalloc(v->n + 1, sizeof(char *));
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->type != GW_VAL_STR) {
            spawn_strv_free(out);
            char msg[128];
            snprintf(msg, sizeof(msg), "\"%s\" must be a list of strings", key);
            where(v, err, msg, app, "");
            return NULL;
        }
        out[i] = gw_xstrdup(v->items[i]->str);
    }
    return out;
}

/* "unix:/path" or an address; a TCP one is parsed here, once, into c->sock_sa (slot 0's). */
static int check_socket(const gw_val *v, const char *app, spawn_conf *c, char **err)
{
    unsigned max_procs = spawn_conf_nslots(c);
    const char *s = v->str;
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/')
            return where(v, err, "\"socket\" needs an absolute path after unix:", app, "");
        return GW_OK;
    }
    gw_peer tmp;
    char *why = NULL;
    memset(&tmp, 0, sizeof(tmp));
    if (strncmp(s, "spawn:", 6) == 0 || gw_peer_parse(&tmp, s, &why) != GW_OK) {
        free(why);
        return where(v, err, "\"socket\" must be \"unix:/path\", \"host:port\" or \"[v6]:port\"",
                     app, "");
    }
    unsigned port = (unsigned)atoi(strrchr(s, ':') + 1);
    if (port + max_procs - 1 > 65535)
        return where(v, err, "\"socket\": one port per process slot runs past 65535", app, "");
    c->sock_sa = tmp.sa;
    c->sock_salen = tmp.salen;
    return GW_OK;
}

/* The PATH the app will see: from "environment", else copied from ours, else the default. */
static const char *app_path(char **env, char **copy)
{
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], "PATH=", 5) == 0) return env[i] + 5;
    int copied = copy == NULL;
    for (size_t i = 0; copy && copy[i]; i++) copied |= strcmp(copy[i], "PATH") == 0;
    const char *ours = getenv("PATH");
    return copied && ours ? ours : "/usr/local/bin:/usr/bin:/bin";
}

static void fp_add(gw_bufq *fp, const char *k, const char *v)
{
    gw_bufq_appendf(fp, "%s=%s\x1f", k, v ? v : "");
}

static spawn_conf *app_conf(const char *name, const gw_val *m, const char *const *owner, char **err)
{
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return where(m, err, "an app name may hold letters, digits, '-', '_' and '.'", name,
                         ""),
                   NULL;
    if (*name == '\0') return where(m, err, "an app needs a name", name, ""), NULL;
    spawn_conf *c = gw_xcalloc(1, sizeof(*c));
    c->name = gw_xstrdup(name);
    c->pass = SPAWN_PASS_FD0;
    c->concurrency = 1;
    c->max_procs = 4;
    c->idle_timeout = 60;
    c->start_timeout = 30;
    c->stop_timeout = 10;
    c->kill_signal = 15;
    c->restart_surge = 1;
    c->drain_timeout = 60;
    const gw_val *bin = NULL, *sock = NULL;
    long long n = 0;
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i];
        const gw_val *v = m->items[i];
        int is_known = 0, rc = GW_OK;
        for (size_t j = 0; j < sizeof(known) / sizeof(known[0]); j++)
            is_known |= strcmp(k, known[j]) == 0;
        if (!is_known) {
            for (size_t j = 0; j < sizeof(cgroup_keys) / sizeof(cgroup_keys[0]); j++) {
                if (strcmp(k, cgroup_keys[j]) != 0) continue;
                gw_errf(err,
                        "%s:%d: spawn.apps \"%s\": \"%s\" cannot take effect: this version puts "
                        "no app in a cgroup of its own (a cgroup v2 subtree delegated to portico "
                        "would be needed%s)",
                        v->file, v->line, name, k,
                        access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0
                            ? ""
                            : "; this machine has no cgroup v2 hierarchy at /sys/fs/cgroup");
                goto fail;
            }
            gw_errf(err, "%s:%d: spawn.apps \"%s\": unknown key \"%s\"", v->file, v->line, name, k);
            goto fail;
        }
        if (strcmp(k, "bin-path") == 0) {
            bin = v;
            if (v->type == GW_VAL_STR) {
                c->argv = spawn_split_cmdline(v->str, err);
                if (c->argv == NULL) {
                    char *why = *err;
                    *err = NULL;
                    gw_errf(err, "%s:%d: spawn.apps \"%s\": \"bin-path\": %s", v->file, v->line,
                            name, why);
                    free(why);
                    goto fail;
                }
            } else if ((c->argv = str_list(v, name, k, err)) == NULL) {
                goto fail;
            } else if (c->argv[0] == NULL) {
                where(v, err, "\"bin-path\" is an empty list", name, "");
                goto fail;
            }
        } else if (strcmp(k, "kill-mode") == 0) {
            if (v->type != GW_VAL_STR ||
                (strcmp(v->str, "group") != 0 && strcmp(v->str, "main") != 0)) {
                where(v, err, "\"kill-mode\" must be \"group\" or \"main\"", name, "");
                goto fail;
            }
            c->kill_main = strcmp(v->str, "main") == 0;
        } else if (strcmp(k, "socket") == 0 || strcmp(k, "user") == 0 || strcmp(k, "group") == 0 ||
                   strcmp(k, "pass-socket") == 0 || strcmp(k, "kill-signal") == 0) {
            if (v->type != GW_VAL_STR &&
                !(strcmp(k, "kill-signal") == 0 && v->type == GW_VAL_INT)) {
                gw_errf(err, "%s:%d: spawn.apps \"%s\": \"%s\" must be a string", v->file, v->line,
                        name, k);
                goto fail;
            }
            if (k[0] == 's') {
                sock = v;
                c->socket = gw_xstrdup(v->str);
            } else if (k[0] == 'u') {
                if (getpwnam(v->str) == NULL) {
                    where(v, err, "no such user: ", name, v->str);
                    goto fail;
                }
                c->user = gw_xstrdup(v->str);
            } else if (k[0] == 'g') {
                if (getgrnam(v->str) == NULL) {
                    where(v, err, "no such group: ", name, v->str);
                    goto fail;
                }
                c->group = gw_xstrdup(v->str);
            } else if (k[0] == 'p') {
                if (strcmp(v->str, "fd0") == 0)
                    c->pass = SPAWN_PASS_FD0;
                else if (strcmp(v->str, "listen-fds") == 0)
                    c->pass = SPAWN_PASS_LISTEN_FDS;
                else if (strcmp(v->str, "argument") == 0)
                    c->pass = SPAWN_PASS_ARGUMENT;
                else {
                    where(v, err, "\"pass-socket\" must be \"fd0\", \"listen-fds\" or \"argument\"",
                          name, "");
                    goto fail;
                }
            } else {
                char num[24];
                if (v->type == GW_VAL_INT) snprintf(num, sizeof(num), "%lld", v->num);
                c->kill_signal = spawn_signal_parse(v->type == GW_VAL_INT ? num : v->str);
                if (c->kill_signal <= 0) {
                    where(v, err, "\"kill-signal\" is not a signal", name, "");
                    goto fail;
                }
            }
        } else if (strcmp(k, "environment") == 0) {
            if (v->type != GW_VAL_MAP) {
                where(v, err, "\"environment\" must be a map of strings", name, "");
                goto fail;
            }
            c->env = gw_xcalloc(v->n + 1, sizeof(char *));
            for (size_t j = 0; j < v->n; j++) {
                const gw_val *e = v->items[j];
                if (e->type != GW_VAL_STR && e->type != GW_VAL_INT) {
                    where(e, err, "\"environment\" values must be strings", name, "");
                    goto fail;
                }
                if (v->keys[j][0] == '\0' || strchr(v->keys[j], '=')) {
                    where(e, err, "bad environment variable name: ", name, v->keys[j]);
                    goto fail;
                }
                char num[24];
                if (e->type == GW_VAL_INT) snprintf(num, sizeof(num), "%lld", e->num);
                size_t len = strlen(v->keys[j]) + 2 + strlen(e->type == GW_VAL_INT ? num : e->str);
                c->env[j] = gw_xmalloc(len);
                snprintf(c->env[j], len, "%s=%s", v->keys[j], e->type == GW_VAL_INT ? num : e->str);
            }
        } else if (strcmp(k, "copy-environment") == 0) {
            if ((c->copy_env = str_list(v, name, k, err)) == NULL) goto fail;
        } else if (strcmp(k, "restart-file") == 0) {
            if (v->type != GW_VAL_STR || v->str[0] != '/') {
                where(v, err, "\"restart-file\" must be an absolute path", name, "");
                goto fail;
            }
            c->restart_file = gw_xstrdup(v->str);
        } else if (strcmp(k, "max-requests") == 0 || strcmp(k, "max-rss") == 0) {
            int rss = k[4] == 'r' && k[5] == 's'; /* max-rss: MiB */
            if (get_int(v, name, k, 0, rss ? 1048576 : 1000000000, &n, err) != GW_OK) goto fail;
            if (rss)
                c->max_rss = (uint64_t)n << 20;
            else
                c->max_requests = (uint64_t)n;
        } else if (strcmp(k, "max-lifetime") == 0) {
            if (get_int(v, name, k, 0, 31536000, &n, err) != GW_OK) goto fail;
            c->max_lifetime = (double)n;
        } else {
            long long lo = 0, hi = 86400;
            if (strcmp(k, "concurrency") == 0) lo = 1, hi = 4096;
            if (strcmp(k, "max-procs") == 0) lo = 1, hi = APP_MAX_PROCS;
            if (strcmp(k, "min-procs") == 0) hi = APP_MAX_PROCS;
            if (strcmp(k, "start-timeout") == 0) lo = 1;
            if (strcmp(k, "restart-surge") == 0) lo = 1, hi = APP_MAX_PROCS;
            rc = get_int(v, name, k, lo, hi, &n, err);
            if (rc != GW_OK) goto fail;
            if (strcmp(k, "concurrency") == 0) c->concurrency = (unsigned)n;
            if (strcmp(k, "max-procs") == 0) c->max_procs = (unsigned)n;
            if (strcmp(k, "min-procs") == 0) c->min_procs = (unsigned)n;
            if (strcmp(k, "idle-timeout") == 0) c->idle_timeout = (double)n;
            if (strcmp(k, "start-timeout") == 0) c->start_timeout = (double)n;
            if (strcmp(k, "stop-timeout") == 0) c->stop_timeout = (double)n;
            if (strcmp(k, "request-timeout") == 0) c->request_timeout = (double)n;
            if (strcmp(k, "drain-timeout") == 0) c->drain_timeout = (double)n;
            if (strcmp(k, "restart-surge") == 0) c->restart_surge = (unsigned)n;
        }
    }
    if (c->user == NULL && c->group == NULL && owner[0]) { /* server.username's, by default */
        c->user = gw_xstrdup(owner[0]);
        if (owner[1]) c->group = gw_xstrdup(owner[1]);
    } else if (c->user == NULL && c->group == NULL && owner[1]) {
        c->group = gw_xstrdup(owner[1]);
    }
    if (bin == NULL) {
        where(m, err, "\"bin-path\" is required", name, "");
        goto fail;
    }
    if (c->min_procs > c->max_procs) {
        where(m, err, "\"min-procs\" is above \"max-procs\"", name, "");
        goto fail;
    }
    if (sock && check_socket(sock, name, c, err) != GW_OK) goto fail;
    char *why = NULL;
    char *exe = spawn_resolve_exe(c->argv[0], app_path(c->env, c->copy_env), &why);
    if (exe == NULL) {
        gw_errf(err, "%s:%d: spawn.apps \"%s\": \"bin-path\" %s: %s", bin->file, bin->line, name,
                c->argv[0], why ? why : "cannot be run");
        free(why);
        goto fail;
    }
    free(c->argv[0]);
    c->argv[0] = exe;
    gw_bufq fp = {0};
    for (size_t i = 0; c->argv[i]; i++) fp_add(&fp, "argv", c->argv[i]);
    for (size_t i = 0; c->env && c->env[i]; i++) fp_add(&fp, "env", c->env[i]);
    for (size_t i = 0; c->copy_env && c->copy_env[i]; i++) fp_add(&fp, "copy", c->copy_env[i]);
    fp_add(&fp, "socket", c->socket);
    fp_add(&fp, "user", c->user);
    fp_add(&fp, "group", c->group);
    fp_add(&fp, "restart-file", c->restart_file);
    gw_bufq_appendf(&fp, "%d|%u|%u|%u|%g|%g|%g|%d|%llu|%g|%llu|%u|%g", c->pass, c->concurrency,
                    c->min_procs, c->max_procs, c->idle_timeout, c->start_timeout, c->stop_timeout,
                    c->kill_signal, (unsigned long long)c->max_requests, c->max_lifetime,
                    (unsigned long long)c->max_rss, c->restart_surge, c->request_timeout);
    gw_bufq_appendf(&fp, "|%g|%d", c->drain_timeout, c->kill_main);
    c->fingerprint = gw_xmalloc(fp.bytes + 1);
    gw_bufq_copyout(&fp, 0, c->fingerprint, fp.bytes);
    c->fingerprint[fp.bytes] = '\0';
    gw_bufq_clear(&fp);
    return c;
fail:
    spawn_conf_free(c);
    return NULL;
}

/* The host of a "host:port" / "[v6]:port" socket into buf ("localhost" is 127.0.0.1), and the
 * first port. */
static unsigned tcp_host(const char *sock, char *buf, size_t cap)
{
    const char *colon = strrchr(sock, ':');
    const char *h = sock[0] == '[' ? sock + 1 : sock;
    size_t n = (size_t)(colon - h) - (sock[0] == '[');
    snprintf(buf, cap, "%.*s", (int)n, h);
    if (strcmp(buf, "localhost") == 0) snprintf(buf, cap, "127.0.0.1");
    return (unsigned)atoi(colon + 1);
}

/* Two apps whose slots would listen on the same address: the second would take the first's
 * unix socket files (its requests then reach the other app) or fail to bind at start. */
static int sockets_overlap(const spawn_conf *a, const spawn_conf *b)
{
    if (a->socket == NULL || b->socket == NULL) return 0;
    int ua = strncmp(a->socket, "unix:", 5) == 0, ub = strncmp(b->socket, "unix:", 5) == 0;
    if (ua || ub) return ua && ub && strcmp(a->socket, b->socket) == 0;
    char ha[64], hb[64];
    unsigned pa = tcp_host(a->socket, ha, sizeof(ha)), pb = tcp_host(b->socket, hb, sizeof(hb));
    return strcmp(ha, hb) == 0 && pa < pb + b->max_procs && pb < pa + a->max_procs;
}

int gw_apps_load(const gw_val *apps, const char *user, const char *group, spawn_conf ***out,
                 size_t *nout, char **err)
{
    *out = NULL;
    *nout = 0;
    if (apps == NULL || apps->n == 0) return GW_OK;
    spawn_conf **v = gw_xcalloc(apps->n, sizeof(*v));
    for (size_t i = 0; i < apps->n; i++) {
        const char *owner[2] = {user, group};
        v[i] = app_conf(apps->keys[i], apps->items[i], owner, err);
        if (v[i] == NULL) {
            gw_apps_free(v, i);
            return GW_ERR;
        }
    }
    for (size_t j = 1; j < apps->n; j++)
        for (size_t i = 0; i < j; i++)
            if (sockets_overlap(v[i], v[j])) {
                char msg[160];
                snprintf(msg, sizeof(msg), "\"socket\" overlaps the sockets of app \"%s\"",
                         v[i]->name);
                where(apps->items[j], err, msg, v[j]->name, "");
                gw_apps_free(v, apps->n);
                return GW_ERR;
            }
    *out = v;
    *nout = apps->n;
    return GW_OK;
}

void gw_apps_free(spawn_conf **v, size_t n)
{
    for (size_t i = 0; i < n; i++) spawn_conf_free(v[i]);
    free(v);
}

const spawn_conf *gw_apps_find(spawn_conf *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i]->name, name) == 0) return v[i];
    return NULL;
}
