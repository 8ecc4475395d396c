/* The key table of the configuration language: every known key, its type and where it may be
 * set, the "did you mean" suggestion and the type checks. Knows no value a key may take beyond
 * its type (protocol and balancer names are checked where routes compile). */
#include "gateway/config/conf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct keydef keydefs[] = {
    {"server.bind", KT_STR, KS_SERVER},
    {"server.port", KT_INT, KS_SERVER},
    {"server.document-root", KT_STR, KS_ANY},
    {"server.tag", KT_STR, KS_SERVER},
    {"server.errorlog", KT_STR, KS_TOP},
    {"server.max-connections", KT_INT, KS_SERVER},
    {"server.max-request-size", KT_INT, KS_SERVER},
    {"server.max-request-field-size", KT_INT, KS_SERVER},
    {"server.max-read-idle", KT_INT, KS_SERVER},
    {"server.max-write-idle", KT_INT, KS_SERVER},
    {"server.max-keep-alive-idle", KT_INT, KS_SERVER},
    {"server.max-keep-alive-requests", KT_INT, KS_SERVER},
    {"server.graceful-shutdown-timeout", KT_INT, KS_TOP},
    {"server.stream-request-body", KT_BOOL, KS_SERVER},
    {"server.username", KT_STR, KS_TOP},
    {"server.groupname", KT_STR, KS_TOP},
    {"server.pid-file", KT_STR, KS_TOP},
    {"server.state-dir", KT_STR, KS_TOP},
    {"server.workers", KT_INT, KS_TOP},
    {"server.modules", KT_LIST, KS_TOP},
    {"accesslog.filename", KT_STR, KS_TOP},
    {"status.metrics-url", KT_STR, KS_ANY},
    {"status.status-url", KT_STR, KS_ANY},
    {"proxy-core.backends", KT_STRLIST, KS_ANY},
    {"proxy-core.protocol", KT_STR, KS_ANY},
    {"proxy-core.balancer", KT_STR, KS_ANY},
    {"proxy-core.max-pool-size", KT_INT, KS_ANY},
    {"proxy-core.hash-balance-factor", KT_INT, KS_ANY},
    {"proxy-core.max-keep-alive-requests", KT_INT, KS_ANY},
    {"proxy-core.max-backlog-size", KT_INT, KS_ANY},
    {"proxy-core.backlog-timeout", KT_INT, KS_ANY},
    {"proxy-core.connect-timeout", KT_INT, KS_ANY},
    {"proxy-core.read-timeout", KT_INT, KS_ANY},
    {"proxy-core.write-timeout", KT_INT, KS_ANY},
    {"proxy-core.disable-time", KT_INT, KS_ANY},
    {"proxy-core.max-retries", KT_INT, KS_ANY},
    {"proxy-core.allow-x-sendfile", KT_BOOL, KS_ANY},
    {"proxy-core.allow-x-rewrite", KT_BOOL, KS_ANY},
    {"proxy-core.x-sendfile-docroot", KT_STRLIST, KS_ANY},
    {"proxy-core.rewrite-request", KT_MAPMAPSTR, KS_ANY},
    {"proxy-core.rewrite-response", KT_MAPMAPSTR, KS_ANY},
    {"proxy-core.script-name", KT_STR, KS_ANY},
    {"proxy-core.health-check", KT_MAP, KS_ANY},
    {"proxy-core.name", KT_STR, KS_ANY},
    {"spawn.apps", KT_MAPMAP, KS_TOP},
    {"spawn.max-procs-total", KT_INT, KS_TOP},
    {"spawn.memory-pressure", KT_INT, KS_TOP},
};

const char *gw_conf_key_name(size_t i)
{
    return i < sizeof(keydefs) / sizeof(keydefs[0]) ? keydefs[i].name : NULL;
}

const struct keydef *gw_conf_key_find(const char *name)
{
    for (size_t i = 0; i < sizeof(keydefs) / sizeof(keydefs[0]); i++)
        if (strcmp(keydefs[i].name, name) == 0) return &keydefs[i];
    return NULL;
}

/* Levenshtein distance, giving up (returning limit + 1) on long or very different words. */
static int edit_distance(const char *a, const char *b, int limit)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return limit + 1;
    if ((la > lb ? la - lb : lb - la) > (size_t)limit) return limit + 1;
    int row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *gw_conf_key_suggest(const char *name)
{
    const char *best = NULL;
    int bestd = 4;
    for (size_t i = 0; i < sizeof(keydefs) / sizeof(keydefs[0]); i++) {
        int d = edit_distance(name, keydefs[i].name, 3);
        if (d < bestd) {
            bestd = d;
            best = keydefs[i].name;
        }
    }
    return best;
}

const char *gw_conf_type_name(const gw_val *v)
{
    switch (v->type) {
    case GW_VAL_STR:
        return "a string";
    case GW_VAL_INT:
        return "an integer";
    case GW_VAL_LIST:
        return "a list";
    case GW_VAL_MAP:
        return "a map";
    }
    return "a value";
}

/* ---- key types ---- */

static gw_val *as_map(parser *P, gw_val *v)
{
    if (v->type == GW_VAL_LIST && v->n == 0) return gw_conf_val_new(P, GW_VAL_MAP, v->line);
    return v->type == GW_VAL_MAP ? v : NULL;
}

/* The value as the key wants it (a string made a one-item list, "80" made 80, an empty list
 * made an empty map), or poison after reporting why it does not fit. */
gw_val *gw_conf_check_type(parser *P, const struct keydef *kd, gw_val *v, const char *file,
                           int line)
{
    if (v == P->poison) return v;
    switch (kd->type) {
    case KT_STR:
        if (v->type != GW_VAL_STR) {
            gw_conf_perr(P, file, line, "%s must be a string, not %s", kd->name,
                         gw_conf_type_name(v));
            return P->poison;
        }
        return v;
    case KT_INT:
        if (strcmp(kd->name, "server.workers") == 0 && v->type == GW_VAL_STR) {
            if (strcmp(v->str, "auto") == 0) return v;
            gw_conf_perr(P, file, line, "server.workers must be a number of threads or \"auto\"");
            return P->poison;
        }
        if (v->type == GW_VAL_STR && v->str[0] && strspn(v->str, "0123456789") == strlen(v->str) &&
            strlen(v->str) < 19) {
            gw_val *n = gw_conf_val_new(P, GW_VAL_INT, v->line);
            n->file = v->file;
            n->num = strtoll(v->str, NULL, 10);
            v = n;
        }
        if (v->type != GW_VAL_INT) {
            gw_conf_perr(P, file, line, "%s must be an integer, not %s", kd->name,
                         gw_conf_type_name(v));
            return P->poison;
        }
        if (v->num < 0 || (strcmp(kd->name, "server.port") == 0 && v->num > 65535)) {
            gw_conf_perr(P, file, line, "%s is out of range (%lld)", kd->name, v->num);
            return P->poison;
        }
        if (strcmp(kd->name, "proxy-core.hash-balance-factor") == 0 && v->num != 0 &&
            (v->num < 100 || v->num > 100000)) {
            gw_conf_perr(P, file, line,
                         "proxy-core.hash-balance-factor must be 0 (no load bound) or a "
                         "percentage of the mean load from 100 to 100000, not %lld",
                         v->num);
            return P->poison;
        }
        return v;
    case KT_BOOL:
        if ((v->type == GW_VAL_INT && (v->num == 0 || v->num == 1)) ||
            (v->type == GW_VAL_STR && gw_val_bool(v) >= 0))
            return v;
        gw_conf_perr(P, file, line, "%s must be \"enable\" or \"disable\"", kd->name);
        return P->poison;
    case KT_LIST:
    case KT_STRLIST:
        if (v->type == GW_VAL_STR) {
            gw_val *l = gw_conf_val_new(P, GW_VAL_LIST, v->line);
            l->file = v->file;
            gw_conf_val_push(P, l, NULL, v);
            return l;
        }
        if (v->type == GW_VAL_LIST) {
            size_t i = 0;
            while (kd->type == KT_STRLIST && i < v->n && v->items[i]->type == GW_VAL_STR) i++;
            if (kd->type == KT_LIST || i == v->n) return v;
        }
        gw_conf_perr(P, file, line, "%s must be a list%s", kd->name,
                     kd->type == KT_STRLIST ? " of strings ( \"a\", \"b\" )" : " ( \"a\", \"b\" )");
        return P->poison;
    case KT_MAP:
    case KT_MAPMAP:
    case KT_MAPMAPSTR: {
        gw_val *m = as_map(P, v);
        if (m == NULL) {
            gw_conf_perr(P, file, line, "%s must be a map ( \"name\" => value, ... ), not %s",
                         kd->name, gw_conf_type_name(v));
            return P->poison;
        }
        if (kd->type == KT_MAP) return m;
        gw_val *out = gw_conf_val_new(P, GW_VAL_MAP, m->line);
        out->file = m->file;
        for (size_t i = 0; i < m->n; i++) {
            gw_val *inner = as_map(P, m->items[i]);
            size_t j = 0;
            while (inner && kd->type == KT_MAPMAPSTR && j < inner->n &&
                   inner->items[j]->type == GW_VAL_STR)
                j++;
            if (inner == NULL || (kd->type == KT_MAPMAPSTR && j < inner->n)) {
                gw_conf_perr(P, file, line, "%s: \"%s\" must be a map%s", kd->name, m->keys[i],
                             kd->type == KT_MAPMAPSTR
                                 ? " of strings ( \"regex\" => \"replacement\" )"
                                 : " ( \"name\" => value, ... )");
                return P->poison;
            }
            gw_conf_val_push(P, out, m->keys[i], inner);
        }
        return out;
    }
    }
    return P->poison;
}
