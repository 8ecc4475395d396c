/* The configuration language: lexer, parser and key table (the printer is conf_print.c). Turns
 * lighttpd-syntax text (and its includes) into the immutable gw_conf tree; every error names
 * FILE:LINE. Knows nothing of sockets, the loop or protocols; condition operands are compiled in
 * cond.c. */
#include "gateway/config/conf.h"
#include "gateway/config/cond.h"

#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INCLUDE_DEPTH 16
#define MAX_NEST 64   /* brackets and blocks: keeps the recursive descent off the stack's end */
#define MAX_ERRORS 20 /* past this the rest is noise */
#define MAX_FILE (16u << 20)

/* ---- the known keys ---- */

enum ktype { KT_STR, KT_INT, KT_BOOL, KT_LIST, KT_STRLIST, KT_MAP, KT_MAPMAP, KT_MAPMAPSTR };
enum kscope {
    KS_ANY,    /* anywhere, also inside conditions */
    KS_SERVER, /* the top level or directly in a $SERVER["socket"] block */
    KS_TOP     /* the top level only */
};

static const struct keydef {
    const char *name;
    enum ktype type;
    enum kscope scope;
    const char *choices; /* KT_STR: the accepted values, separated by single spaces */
} keydefs[] = {
    {"server.bind", KT_STR, KS_SERVER, NULL},
    {"server.port", KT_INT, KS_SERVER, NULL},
    {"server.document-root", KT_STR, KS_ANY, NULL},
    {"server.tag", KT_STR, KS_SERVER, NULL},
    {"server.errorlog", KT_STR, KS_TOP, NULL},
    {"server.max-connections", KT_INT, KS_SERVER, NULL},
    {"server.max-request-size", KT_INT, KS_SERVER, NULL},
    {"server.max-request-field-size", KT_INT, KS_SERVER, NULL},
    {"server.max-read-idle", KT_INT, KS_SERVER, NULL},
    {"server.max-write-idle", KT_INT, KS_SERVER, NULL},
    {"server.max-keep-alive-idle", KT_INT, KS_SERVER, NULL},
    {"server.max-keep-alive-requests", KT_INT, KS_SERVER, NULL},
    {"server.graceful-shutdown-timeout", KT_INT, KS_TOP, NULL},
    {"server.stream-request-body", KT_BOOL, KS_SERVER, NULL},
    {"server.username", KT_STR, KS_TOP, NULL},
    {"server.groupname", KT_STR, KS_TOP, NULL},
    {"server.pid-file", KT_STR, KS_TOP, NULL},
    {"server.state-dir", KT_STR, KS_TOP, NULL},
    {"server.modules", KT_LIST, KS_TOP, NULL},
    {"accesslog.filename", KT_STR, KS_TOP, NULL},
    {"status.metrics-url", KT_STR, KS_TOP, NULL},
    {"status.status-url", KT_STR, KS_TOP, NULL},
    {"proxy-core.backends", KT_STRLIST, KS_ANY, NULL},
    {"proxy-core.protocol", KT_STR, KS_ANY, "http fastcgi scgi"},
    {"proxy-core.balancer", KT_STR, KS_ANY, "round-robin sqf hash carp static"},
    {"proxy-core.max-pool-size", KT_INT, KS_ANY, NULL},
    {"proxy-core.max-keep-alive-requests", KT_INT, KS_ANY, NULL},
    {"proxy-core.max-backlog-size", KT_INT, KS_ANY, NULL},
    {"proxy-core.backlog-timeout", KT_INT, KS_ANY, NULL},
    {"proxy-core.connect-timeout", KT_INT, KS_ANY, NULL},
    {"proxy-core.read-timeout", KT_INT, KS_ANY, NULL},
    {"proxy-core.write-timeout", KT_INT, KS_ANY, NULL},
    {"proxy-core.disable-time", KT_INT, KS_ANY, NULL},
    {"proxy-core.max-retries", KT_INT, KS_ANY, NULL},
    {"proxy-core.allow-x-sendfile", KT_BOOL, KS_ANY, NULL},
    {"proxy-core.allow-x-rewrite", KT_BOOL, KS_ANY, NULL},
    {"proxy-core.x-sendfile-docroot", KT_STRLIST, KS_ANY, NULL},
    {"proxy-core.rewrite-request", KT_MAPMAPSTR, KS_ANY, NULL},
    {"proxy-core.rewrite-response", KT_MAPMAPSTR, KS_ANY, NULL},
    {"proxy-core.script-name", KT_STR, KS_ANY, NULL},
    {"proxy-core.health-check", KT_MAP, KS_ANY, NULL},
    {"spawn.apps", KT_MAPMAP, KS_TOP, NULL},
};

static const struct keydef *key_find(const char *name)
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

static const char *key_suggest(const char *name)
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

/* ---- names shared by the parser and the printer ---- */

static const char *cond_kind(const gw_cond *c)
{
    if (c == NULL) return "an else block";
    if (c->field == GW_COND_HEADER) return "a $REQUEST_HEADER condition";
    if (c->field == GW_COND_SOCKET) return "a $SERVER condition";
    return "a $HTTP condition";
}

/* ---- parser state ---- */

enum tt {
    T_EOF,
    T_IDENT,
    T_STR,
    T_INT,
    T_DOLLAR,
    T_OP,
    T_ASSIGN,
    T_APPEND,
    T_PLUS,
    T_ARROW,
    T_COMMA,
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET
};

typedef struct tok {
    enum tt type;
    const char *s; /* the token's text in the source */
    size_t n;
    char *str;     /* T_STR: the decoded value (arena); T_IDENT / T_DOLLAR: the name */
    long long num; /* T_INT */
    int op;        /* T_OP */
    int line;
} tok;

typedef struct src {
    const char *file; /* arena: values and blocks borrow it */
    const char *p, *end;
    int line;
    int depth; /* 0 for the main file, +1 per include */
} src;

typedef struct var {
    struct var *next;
    char *name;
    gw_val *val;
} var;

typedef struct store {
    gw_conf conf;
    gw_arena arena;
} store;

typedef struct parser {
    gw_conf *conf;
    gw_arena *a;
    src *in;
    tok t;
    var *vars;
    gw_val *poison; /* stands in for a value whose error was already reported */
    char *err;
    size_t errlen;
    int nerr;
    int nest;
    int no_include;
} parser;

static void perr(parser *P, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void perr(parser *P, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    P->nerr++;
    if (P->nerr > MAX_ERRORS) return;
    if (P->nerr == MAX_ERRORS) snprintf(msg, sizeof(msg), "too many errors, giving up");
    size_t add = strlen(file) + strlen(msg) + 32;
    char *e = realloc(P->err, P->errlen + add);
    if (e == NULL) abort();
    P->err = e;
    P->errlen +=
        (size_t)snprintf(e + P->errlen, add, "%s%s:%d: %s", P->errlen ? "\n" : "", file, line, msg);
}

#define ERR_HERE(P, ...) perr((P), (P)->in->file, (P)->t.line, __VA_ARGS__)

/* Grow an arena array so that element n fits: capacity is 4, then the next power of two. */
static void *vec_room(gw_arena *a, void *arr, size_t n, size_t size)
{
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return arr;
    size_t cap = n ? n * 2 : 4;
    void *na = gw_arena_alloc(a, cap * size);
    if (n) memcpy(na, arr, n * size);
    return na;
}

static gw_val *val_new(parser *P, gw_val_type type, int line)
{
    gw_val *v = gw_arena_alloc(P->a, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = type;
    v->file = P->in ? P->in->file : "";
    v->line = line;
    return v;
}

static gw_val *val_str(parser *P, const char *s, size_t n, int line)
{
    gw_val *v = val_new(P, GW_VAL_STR, line);
    v->str = gw_arena_strndup(P->a, s, n);
    return v;
}

static void val_push(parser *P, gw_val *v, const char *key, gw_val *item)
{
    v->items = vec_room(P->a, v->items, v->n, sizeof(*v->items));
    if (v->type == GW_VAL_MAP) {
        v->keys = vec_room(P->a, v->keys, v->n, sizeof(*v->keys));
        v->keys[v->n] = (char *)key;
    }
    v->items[v->n++] = item;
}

static long map_index(const gw_val *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return (long)i;
    return -1;
}

static const char *type_name(const gw_val *v)
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

/* ---- lexer ---- */

static int is_ident(int c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return 1;
    return !first && ((c >= '0' && c <= '9') || c == '.' || c == '-');
}

static int lex_string(parser *P, const char *p)
{
    src *s = P->in;
    const char *q = p + 1;
    size_t n = 0;
    for (;; q++, n++) {
        if (q >= s->end || *q == '\n') {
            perr(P, s->file, P->t.line, "unterminated string (a string ends on its own line)");
            return GW_ERR;
        }
        if (*q == '\0') {
            perr(P, s->file, P->t.line, "NUL byte inside a string");
            return GW_ERR;
        }
        if (*q == '"') break;
        if (*q == '\\') {
            if (q + 1 >= s->end || q[1] == '\n' || q[1] == '\0') continue;
            if (q[1] != '"' && q[1] != '\\' && q[1] != 'n' && q[1] != 't' && q[1] != 'r') n++;
            q++;
        }
    }
    char *out = gw_arena_alloc(P->a, n + 1), *o = out;
    for (const char *r = p + 1; r < q; r++) {
        if (*r != '\\') {
            *o++ = *r;
            continue;
        }
        r++;
        switch (*r) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case '"':
        case '\\':
            *o++ = *r;
            break;
        default: /* unknown escapes stay as written, so regexes like "\.php$" read naturally */
            *o++ = '\\';
            *o++ = *r;
        }
    }
    *o = '\0';
    P->t.type = T_STR;
    P->t.str = out;
    P->t.n = (size_t)(q + 1 - p);
    s->p = q + 1;
    return GW_OK;
}

static int lex_number(parser *P, const char *p)
{
    src *s = P->in;
    const char *q = p + (*p == '-');
    while (q < s->end && *q >= '0' && *q <= '9') q++;
    if (q < s->end && is_ident((unsigned char)*q, 0)) {
        const char *e = q;
        while (e < s->end && is_ident((unsigned char)*e, 0)) e++;
        perr(P, s->file, P->t.line, "bad number '%.*s' (only decimal integers are numbers)",
             (int)(e - p > 40 ? 40 : e - p), p);
        return GW_ERR;
    }
    char buf[32];
    size_t len = (size_t)(q - p);
    errno = 0;
    long long v = 0;
    if (len < sizeof(buf)) {
        memcpy(buf, p, len);
        buf[len] = '\0';
        v = strtoll(buf, NULL, 10);
    }
    if (len >= sizeof(buf) || errno == ERANGE) {
        perr(P, s->file, P->t.line, "number out of range");
        return GW_ERR;
    }
    P->t.type = T_INT;
    P->t.num = v;
    P->t.n = len;
    s->p = q;
    return GW_OK;
}

/* Read the next token into P->t. */
static int lex(parser *P)
{
    src *s = P->in;
    const char *p = s->p, *e = s->end;
    int prev_line = s->line; /* tokens never span lines: where the previous one ended */
    for (;;) {
        while (p < e &&
               (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f' || *p == '\v')) {
            if (*p == '\n') s->line++;
            p++;
        }
        if (p < e && *p == '#') {
            while (p < e && *p != '\n') p++;
            continue;
        }
        break;
    }
    tok *t = &P->t;
    memset(t, 0, sizeof(*t));
    t->line = s->line;
    t->s = p;
    s->p = p;
    if (p >= e) { /* "missing X" reads best on the last line that has something */
        t->type = T_EOF;
        t->line = prev_line;
        return GW_OK;
    }
    unsigned char c = (unsigned char)*p;
    if (is_ident(c, 1) || c == '$') {
        const char *q = p + (c == '$');
        while (q < e && is_ident((unsigned char)*q, q == p + (c == '$'))) q++;
        if (c == '$' && q == p + 1) {
            perr(P, s->file, t->line,
                 "expected a condition name after '$' ($HTTP, "
                 "$REQUEST_HEADER or $SERVER)");
            return GW_ERR;
        }
        t->type = c == '$' ? T_DOLLAR : T_IDENT;
        t->str = gw_arena_strndup(P->a, p + (c == '$'), (size_t)(q - p) - (c == '$'));
        t->n = (size_t)(q - p);
        s->p = q;
        return GW_OK;
    }
    if ((c >= '0' && c <= '9') || (c == '-' && p + 1 < e && p[1] >= '0' && p[1] <= '9'))
        return lex_number(P, p);
    if (c == '"') return lex_string(P, p);
    char c2 = p + 1 < e ? p[1] : '\0';
    t->n = 1;
    switch (c) {
    case '=':
        t->n = 2;
        t->type = T_OP;
        if (c2 == '=')
            t->op = GW_OP_EQ;
        else if (c2 == '~')
            t->op = GW_OP_RE;
        else if (c2 == '^')
            t->op = GW_OP_PREFIX;
        else if (c2 == '$')
            t->op = GW_OP_SUFFIX;
        else if (c2 == '>')
            t->type = T_ARROW;
        else {
            t->type = T_ASSIGN;
            t->n = 1;
        }
        break;
    case '!':
        t->n = 2;
        t->type = T_OP;
        if (c2 == '=')
            t->op = GW_OP_NE;
        else if (c2 == '~')
            t->op = GW_OP_NRE;
        else
            goto bad;
        break;
    case '+':
        t->type = c2 == '=' ? T_APPEND : T_PLUS;
        t->n = c2 == '=' ? 2 : 1;
        break;
    case ',':
        t->type = T_COMMA;
        break;
    case '(':
        t->type = T_LPAREN;
        break;
    case ')':
        t->type = T_RPAREN;
        break;
    case '{':
        t->type = T_LBRACE;
        break;
    case '}':
        t->type = T_RBRACE;
        break;
    case '[':
        t->type = T_LBRACKET;
        break;
    case ']':
        t->type = T_RBRACKET;
        break;
    default:
        goto bad;
    }
    s->p = p + t->n;
    return GW_OK;
bad:
    if (c >= 0x21 && c < 0x7f)
        perr(P, s->file, t->line, "unexpected character '%c'", c);
    else
        perr(P, s->file, t->line, "unexpected byte 0x%02x", c);
    return GW_ERR;
}

/* The current token, for "found ..." in messages. */
static const char *tok_desc(const tok *t, char *buf, size_t size)
{
    switch (t->type) {
    case T_EOF:
        return "end of file";
    case T_STR:
        snprintf(buf, size, "the string \"%.40s\"", t->str);
        break;
    case T_INT:
        snprintf(buf, size, "the number %lld", t->num);
        break;
    default:
        snprintf(buf, size, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
    }
    return buf;
}

#define FOUND(P) tok_desc(&(P)->t, found, sizeof(found))

/* ---- values ---- */

static gw_val *parse_expr(parser *P);

static gw_val *var_get(parser *P, const char *name)
{
    for (var *v = P->vars; v; v = v->next)
        if (strcmp(v->name, name) == 0) return v->val;
    return NULL;
}

/* a + b without touching either: strings concatenate (an integer is written in decimal),
 * integers add, lists concatenate (a scalar is appended as one item), maps merge. */
static gw_val *concat(parser *P, gw_val *a, gw_val *b, int line)
{
    if (a == P->poison || b == P->poison) return P->poison;
    if (a->type == GW_VAL_LIST && a->n == 0 && b->type == GW_VAL_MAP) return b;
    if (b->type == GW_VAL_LIST && b->n == 0 && a->type == GW_VAL_MAP) return a;
    if (a->type == GW_VAL_INT && b->type == GW_VAL_INT) {
        gw_val *v = val_new(P, GW_VAL_INT, line);
        if (__builtin_add_overflow(a->num, b->num, &v->num)) {
            perr(P, P->in->file, line, "number out of range");
            return P->poison;
        }
        return v;
    }
    if ((a->type == GW_VAL_STR || a->type == GW_VAL_INT) &&
        (b->type == GW_VAL_STR || b->type == GW_VAL_INT)) {
        char na[24], nb[24];
        const char *sa = a->str, *sb = b->str;
        if (a->type == GW_VAL_INT) snprintf(na, sizeof(na), "%lld", a->num), sa = na;
        if (b->type == GW_VAL_INT) snprintf(nb, sizeof(nb), "%lld", b->num), sb = nb;
        gw_val *v = val_new(P, GW_VAL_STR, line);
        v->str = gw_arena_sprintf(P->a, "%s%s", sa, sb);
        return v;
    }
    if (a->type == GW_VAL_LIST) {
        gw_val *v = val_new(P, GW_VAL_LIST, line);
        for (size_t i = 0; i < a->n; i++) val_push(P, v, NULL, a->items[i]);
        if (b->type == GW_VAL_LIST)
            for (size_t i = 0; i < b->n; i++) val_push(P, v, NULL, b->items[i]);
        else if (b->type != GW_VAL_MAP)
            val_push(P, v, NULL, b);
        else
            goto bad;
        return v;
    }
    if (a->type == GW_VAL_MAP && b->type == GW_VAL_MAP) {
        gw_val *v = val_new(P, GW_VAL_MAP, line);
        for (size_t i = 0; i < a->n; i++) val_push(P, v, a->keys[i], a->items[i]);
        for (size_t i = 0; i < b->n; i++) {
            if (map_index(a, b->keys[i]) >= 0) {
                perr(P, P->in->file, line, "duplicate key \"%s\" when adding maps", b->keys[i]);
                return P->poison;
            }
            val_push(P, v, b->keys[i], b->items[i]);
        }
        return v;
    }
bad:
    perr(P, P->in->file, line, "cannot add %s and %s", type_name(a), type_name(b));
    return P->poison;
}

/* `(` ... `)`: a list, or a map when the items are "key" => value pairs. */
static gw_val *parse_list(parser *P)
{
    char found[80];
    gw_val *v = val_new(P, GW_VAL_LIST, P->t.line);
    int mixed = 0;
    if (++P->nest > MAX_NEST) {
        ERR_HERE(P, "values nested too deeply");
        return NULL;
    }
    if (lex(P)) return NULL;
    while (P->t.type != T_RPAREN) {
        int line = P->t.line;
        gw_val *item = parse_expr(P);
        if (item == NULL) return NULL;
        if (P->t.type == T_ARROW) {
            if (lex(P)) return NULL;
            gw_val *val = parse_expr(P);
            if (val == NULL) return NULL;
            if (v->n == 0) v->type = GW_VAL_MAP;
            if (v->type != GW_VAL_MAP) {
                mixed = 1;
            } else if (item != P->poison && item->type != GW_VAL_STR) {
                perr(P, P->in->file, line, "a map key must be a string, not %s", type_name(item));
            } else if (item != P->poison) {
                if (map_index(v, item->str) >= 0)
                    perr(P, P->in->file, line, "duplicate key \"%s\" in map", item->str);
                else
                    val_push(P, v, item->str, val);
            }
        } else if (v->type == GW_VAL_MAP) {
            mixed = 1;
        } else {
            val_push(P, v, NULL, item);
        }
        if (mixed) {
            perr(P, P->in->file, line, "a list cannot mix plain items and \"key\" => value pairs");
            mixed = 0;
        }
        if (P->t.type == T_COMMA) {
            if (lex(P)) return NULL;
        } else if (P->t.type != T_RPAREN) {
            ERR_HERE(P, "expected ',' or ')' in a list, found %s", FOUND(P));
            return NULL;
        }
    }
    P->nest--;
    if (lex(P)) return NULL;
    return v;
}

static gw_val *parse_term(parser *P)
{
    char found[80];
    tok t = P->t;
    const char *file = P->in->file;
    switch (t.type) {
    case T_STR:
        if (lex(P)) return NULL;
        gw_val *s = val_new(P, GW_VAL_STR, t.line);
        s->str = t.str;
        return s;
    case T_INT:
        if (lex(P)) return NULL;
        gw_val *n = val_new(P, GW_VAL_INT, t.line);
        n->num = t.num;
        return n;
    case T_LPAREN:
        return parse_list(P);
    case T_IDENT:
        if (strncmp(t.str, "var.", 4) == 0 && t.str[4]) {
            if (lex(P)) return NULL;
            gw_val *v = var_get(P, t.str);
            if (v) return v;
            perr(P, file, t.line, "undefined variable %s", t.str);
            return P->poison;
        }
        if (strncmp(t.str, "env.", 4) == 0 && t.str[4]) {
            if (lex(P)) return NULL;
            const char *e = getenv(t.str + 4);
            if (e) return val_str(P, e, strlen(e), t.line);
            perr(P, file, t.line, "environment variable %s is not set", t.str + 4);
            return P->poison;
        }
        break;
    default:
        break;
    }
    ERR_HERE(P,
             "expected a value (a \"string\", a number, a ( list ), var.NAME or env.NAME), "
             "found %s",
             FOUND(P));
    return NULL;
}

static gw_val *parse_expr(parser *P)
{
    gw_val *v = parse_term(P);
    while (v && P->t.type == T_PLUS) {
        int line = P->t.line;
        if (lex(P)) return NULL;
        gw_val *r = parse_term(P);
        if (r == NULL) return NULL;
        v = concat(P, v, r, line);
    }
    return v;
}

/* ---- key types ---- */

/* Is w one of the space-separated words of list? */
static int word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, w, n) == 0) return 1;
        p += k + (p[k] == ' ');
    }
    return 0;
}

static gw_val *as_map(parser *P, gw_val *v)
{
    if (v->type == GW_VAL_LIST && v->n == 0) return val_new(P, GW_VAL_MAP, v->line);
    return v->type == GW_VAL_MAP ? v : NULL;
}

/* The value as the key wants it (a string made a one-item list, "80" made 80, an empty list
 * made an empty map), or poison after reporting why it does not fit. */
static gw_val *check_type(parser *P, const struct keydef *kd, gw_val *v, const char *file, int line)
{
    if (v == P->poison) return v;
    switch (kd->type) {
    case KT_STR:
        if (v->type != GW_VAL_STR) {
            perr(P, file, line, "%s must be a string, not %s", kd->name, type_name(v));
            return P->poison;
        }
        if (kd->choices && !word_in(kd->choices, v->str)) {
            perr(P, file, line, "%s cannot be \"%.60s\" (one of: %s)", kd->name, v->str,
                 kd->choices);
            return P->poison;
        }
        return v;
    case KT_INT:
        if (v->type == GW_VAL_STR && v->str[0] && strspn(v->str, "0123456789") == strlen(v->str) &&
            strlen(v->str) < 19) {
            gw_val *n = val_new(P, GW_VAL_INT, v->line);
            n->file = v->file;
            n->num = strtoll(v->str, NULL, 10);
            v = n;
        }
        if (v->type != GW_VAL_INT) {
            perr(P, file, line, "%s must be an integer, not %s", kd->name, type_name(v));
            return P->poison;
        }
        if (v->num < 0 || (strcmp(kd->name, "server.port") == 0 && v->num > 65535)) {
            perr(P, file, line, "%s is out of range (%lld)", kd->name, v->num);
            return P->poison;
        }
        return v;
    case KT_BOOL:
        if ((v->type == GW_VAL_INT && (v->num == 0 || v->num == 1)) ||
            (v->type == GW_VAL_STR && gw_val_bool(v) >= 0))
            return v;
        perr(P, file, line, "%s must be \"enable\" or \"disable\"", kd->name);
        return P->poison;
    case KT_LIST:
    case KT_STRLIST:
        if (v->type == GW_VAL_STR) {
            gw_val *l = val_new(P, GW_VAL_LIST, v->line);
            l->file = v->file;
            val_push(P, l, NULL, v);
            return l;
        }
        if (v->type == GW_VAL_LIST) {
            size_t i = 0;
            while (kd->type == KT_STRLIST && i < v->n && v->items[i]->type == GW_VAL_STR) i++;
            if (kd->type == KT_LIST || i == v->n) return v;
        }
        perr(P, file, line, "%s must be a list%s", kd->name,
             kd->type == KT_STRLIST ? " of strings ( \"a\", \"b\" )" : " ( \"a\", \"b\" )");
        return P->poison;
    case KT_MAP:
    case KT_MAPMAP:
    case KT_MAPMAPSTR: {
        gw_val *m = as_map(P, v);
        if (m == NULL) {
            perr(P, file, line, "%s must be a map ( \"name\" => value, ... ), not %s", kd->name,
                 type_name(v));
            return P->poison;
        }
        if (kd->type == KT_MAP) return m;
        gw_val *out = val_new(P, GW_VAL_MAP, m->line);
        out->file = m->file;
        for (size_t i = 0; i < m->n; i++) {
            gw_val *inner = as_map(P, m->items[i]);
            size_t j = 0;
            while (inner && kd->type == KT_MAPMAPSTR && j < inner->n &&
                   inner->items[j]->type == GW_VAL_STR)
                j++;
            if (inner == NULL || (kd->type == KT_MAPMAPSTR && j < inner->n)) {
                perr(P, file, line, "%s: \"%s\" must be a map%s", kd->name, m->keys[i],
                     kd->type == KT_MAPMAPSTR ? " of strings ( \"regex\" => \"replacement\" )"
                                              : " ( \"name\" => value, ... )");
                return P->poison;
            }
            val_push(P, out, m->keys[i], inner);
        }
        return out;
    }
    }
    return P->poison;
}

/* ---- blocks and statements ---- */

static gw_block *block_new(parser *P, gw_block *parent, gw_cond *cond, int line)
{
    gw_block *b = gw_arena_alloc(P->a, sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->id = (int)P->conf->nblocks;
    b->cond = cond;
    b->parent = parent;
    b->file = P->in ? P->in->file : P->conf->path;
    b->line = line;
    P->conf->blocks = vec_room(P->a, P->conf->blocks, P->conf->nblocks, sizeof(gw_block *));
    P->conf->blocks[P->conf->nblocks++] = b;
    return b;
}

static gw_setting *setting_find(gw_block *b, const char *key)
{
    for (size_t i = b->nsettings; i-- > 0;)
        if (strcmp(b->settings[i].key, key) == 0) return &b->settings[i];
    return NULL;
}

/* key = v / key += v in block b. Errors here are reported and parsing goes on. */
static void assign(parser *P, gw_block *b, const char *key, int append, gw_val *v, const char *file,
                   int line)
{
    if (strncmp(key, "var.", 4) == 0) {
        if (key[4] == '\0') {
            perr(P, file, line, "a variable needs a name: var.NAME");
            return;
        }
        for (var *x = P->vars; x; x = x->next) {
            if (strcmp(x->name, key) == 0) {
                x->val = append ? concat(P, x->val, v, line) : v;
                return;
            }
        }
        var *x = gw_arena_alloc(P->a, sizeof(*x));
        x->name = gw_arena_strndup(P->a, key, strlen(key));
        x->val = v;
        x->next = P->vars;
        P->vars = x;
        return;
    }
    if (strncmp(key, "env.", 4) == 0) {
        perr(P, file, line, "%s cannot be assigned: env.NAME only reads the environment", key);
        return;
    }
    const struct keydef *kd = key_find(key);
    if (kd == NULL) {
        const char *hint = key_suggest(key);
        if (hint)
            perr(P, file, line, "unknown key '%.100s' (did you mean '%s'?)", key, hint);
        else
            perr(P, file, line, "unknown key '%.100s'", key);
        return;
    }
    if (b != P->conf->root &&
        (kd->scope == KS_TOP ||
         (kd->scope == KS_SERVER && !(b->cond && b->cond->field == GW_COND_SOCKET)))) {
        perr(P, file, line, "%s cannot be set inside %s%s", key, cond_kind(b->cond),
             kd->scope == KS_TOP ? " (only at the top level)" : "");
        return;
    }
    gw_setting *old = setting_find(b, key);
    if (old && append) v = concat(P, old->val, v, line);
    v = check_type(P, kd, v, file, line);
    if (v == P->poison) return;
    if (old) { /* a later assignment in the same block wins, as in lighttpd */
        old->val = v;
        old->file = file;
        old->line = line;
        return;
    }
    b->settings = vec_room(P->a, b->settings, b->nsettings, sizeof(*b->settings));
    gw_setting *st = &b->settings[b->nsettings++];
    st->key = (char *)kd->name;
    st->val = v;
    st->append = append && b != P->conf->root;
    st->file = file;
    st->line = line;
}

static int parse_statement(parser *P, gw_block *b);

/* Statements up to the closing '}' (left as the current token). */
static int parse_body(parser *P, gw_block *b, int open_line)
{
    while (P->t.type != T_RBRACE) {
        if (P->t.type == T_EOF) {
            ERR_HERE(P, "unexpected end of file: missing '}' for the block opened at line %d",
                     open_line);
            return GW_ERR;
        }
        if (P->nerr >= MAX_ERRORS || parse_statement(P, b) != GW_OK) return GW_ERR;
    }
    return GW_OK;
}

/* `$FIELD["name"] OP value`; the operand is compiled before returning. */
static gw_cond *parse_cond(parser *P)
{
    char found[80];
    tok t = P->t;
    const char *file = P->in->file;
    if (lex(P)) return NULL;
    if (P->t.type != T_LBRACKET) {
        ERR_HERE(P, "expected '[' after $%s, found %s", t.str, FOUND(P));
        return NULL;
    }
    if (lex(P)) return NULL;
    if (P->t.type != T_STR) {
        ERR_HERE(P, "expected a quoted name in $%s[...], found %s", t.str, FOUND(P));
        return NULL;
    }
    char *name = P->t.str;
    if (lex(P)) return NULL;
    if (P->t.type != T_RBRACKET) {
        ERR_HERE(P, "expected ']' after $%s[\"%.40s\", found %s", t.str, name, FOUND(P));
        return NULL;
    }
    if (lex(P)) return NULL;
    if (P->t.type != T_OP) {
        ERR_HERE(P,
                 "expected an operator (==, !=, =~, !~, =^ or =$) after $%s[\"%.40s\"], "
                 "found %s",
                 t.str, name, FOUND(P));
        return NULL;
    }
    gw_cond *c = gw_arena_alloc(P->a, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->op = (enum gw_cond_op)P->t.op;
    c->file = file;
    c->line = t.line;
    if (lex(P)) return NULL;
    gw_val *v = parse_expr(P);
    if (v == NULL) return NULL;
    if (v != P->poison && v->type != GW_VAL_STR)
        perr(P, file, t.line, "a condition compares with a string, not %s", type_name(v));
    c->pattern = v->type == GW_VAL_STR ? v->str : "";
    c->pattern_len = strlen(c->pattern);

    int known = 0;
    if (strcmp(t.str, "HTTP") == 0) {
        for (int f = GW_COND_URL; f <= GW_COND_REMOTE_IP; f++) {
            if (strcmp(gw_cond_field_names[f], name) == 0) {
                c->field = (enum gw_cond_field)f;
                known = 1;
            }
        }
    } else if (strcmp(t.str, "REQUEST_HEADER") == 0 && name[0]) {
        c->field = GW_COND_HEADER;
        c->header = name;
        known = 1;
    } else if (strcmp(t.str, "SERVER") == 0 && strcmp(name, "socket") == 0) {
        c->field = GW_COND_SOCKET;
        known = 1;
    }
    if (!known) {
        perr(P, file, t.line,
             "unknown condition $%.40s[\"%.40s\"] (expected $HTTP[\"url\"], \"querystring\", "
             "\"host\", \"request-method\", \"scheme\", \"remote-ip\", "
             "$REQUEST_HEADER[\"Name\"] or $SERVER[\"socket\"])",
             t.str, name);
        return c;
    }
    char *msg;
    if (gw_cond_compile(c, &msg) != GW_OK) {
        perr(P, file, t.line, "%s", msg);
        free(msg);
    }
    return c;
}

/* A condition block and the `else` blocks chained to it. */
static int parse_chain(parser *P, gw_block *parent)
{
    char found[80];
    gw_block *prev = NULL;
    if (++P->nest > MAX_NEST) {
        ERR_HERE(P, "conditions nested too deeply");
        return GW_ERR;
    }
    for (;;) {
        int line = P->t.line;
        const char *file = P->in->file;
        gw_block *b;
        if (P->t.type == T_DOLLAR) {
            gw_cond *c = parse_cond(P);
            if (c == NULL) return GW_ERR;
            b = block_new(P, parent, c, line);
            if (c->field == GW_COND_SOCKET && (parent != P->conf->root || prev))
                perr(P, file, line,
                     "$SERVER[\"socket\"] is only allowed at the top level, "
                     "not inside a condition or an else chain");
            else if (c->field == GW_COND_SOCKET && c->op != GW_OP_EQ)
                perr(P, file, line, "$SERVER[\"socket\"] only takes ==");
        } else {
            b = block_new(P, parent, NULL, line);
        }
        if (prev && prev->cond->field == GW_COND_SOCKET)
            perr(P, file, line, "a $SERVER[\"socket\"] block cannot have an else");
        if (prev) {
            prev->else_next = b;
        } else {
            parent->children =
                vec_room(P->a, parent->children, parent->nchildren, sizeof(gw_block *));
            parent->children[parent->nchildren++] = b;
        }
        if (P->t.type != T_LBRACE) {
            ERR_HERE(P, "expected '{' after the condition, found %s", FOUND(P));
            return GW_ERR;
        }
        if (lex(P) || parse_body(P, b, line) || lex(P)) return GW_ERR;
        prev = b;
        if (b->cond == NULL) break; /* a plain else ends the chain */
        if (P->t.type != T_IDENT || strcmp(P->t.str, "else") != 0) break;
        if (lex(P)) return GW_ERR;
        if (P->t.type == T_IDENT && strcmp(P->t.str, "if") == 0) {
            ERR_HERE(P, "'else if' is not supported: write 'else $HTTP[\"...\"] ... {'");
            return GW_ERR;
        }
        if (P->t.type != T_DOLLAR && P->t.type != T_LBRACE) {
            ERR_HERE(P, "expected a condition or '{' after 'else', found %s", FOUND(P));
            return GW_ERR;
        }
    }
    P->nest--;
    return GW_OK;
}

static int parse_text(parser *P, const char *file, const char *text, size_t len, int depth,
                      gw_block *b);

/* The whole file into a malloc'd buffer; 0 or an errno value. */
static int read_file(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rerr = 0;
    for (;;) {
        if (buf == NULL) abort();
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            rerr = ferror(f) ? (errno ? errno : EIO) : 0;
            break;
        }
        if (n == cap) {
            if (cap >= MAX_FILE) {
                rerr = EFBIG;
                break;
            }
            buf = realloc(buf, cap *= 2);
        }
    }
    fclose(f);
    if (rerr) {
        free(buf);
        return rerr;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

static int include_file(parser *P, gw_block *b, const char *path, const char *from, int line)
{
    char *buf;
    size_t n;
    int e = read_file(path, &buf, &n);
    if (e) {
        perr(P, from, line, "cannot read '%s': %s", path, strerror(e));
        return GW_OK;
    }
    int rc = parse_text(P, path, buf, n, P->in->depth + 1, b);
    free(buf);
    return rc;
}

/* `include "name-or-glob"`, relative to the including file's directory. */
static int parse_include(parser *P, gw_block *b)
{
    tok t = P->t;
    const char *file = P->in->file;
    if (lex(P)) return GW_ERR;
    gw_val *v = parse_expr(P);
    if (v == NULL) return GW_ERR;
    if (v == P->poison) return GW_OK;
    if (v->type != GW_VAL_STR) {
        perr(P, file, t.line, "include needs a file name or a glob, not %s", type_name(v));
        return GW_OK;
    }
    if (P->no_include) {
        perr(P, file, t.line, "include is disabled here");
        return GW_OK;
    }
    if (P->in->depth + 1 > MAX_INCLUDE_DEPTH) {
        perr(P, file, t.line, "includes nested more than %d deep (does a file include itself?)",
             MAX_INCLUDE_DEPTH);
        return GW_ERR;
    }
    const char *pattern = v->str, *slash = strrchr(file, '/');
    if (pattern[0] != '/' && slash)
        pattern = gw_arena_sprintf(P->a, "%.*s/%s", (int)(slash - file), file, v->str);
    /* a plain name must exist; a glob may match nothing (an empty conf.d/ is fine) */
    if (strpbrk(pattern, "*?[") == NULL) return include_file(P, b, pattern, file, t.line);
    glob_t g;
    int gr = glob(pattern, 0, NULL, &g);
    int rc = GW_OK;
    if (gr == 0) {
        for (size_t i = 0; i < g.gl_pathc && rc == GW_OK; i++)
            rc = include_file(P, b, g.gl_pathv[i], file, t.line);
    } else if (gr != GLOB_NOMATCH) {
        perr(P, file, t.line, "cannot list '%s'", pattern);
    }
    globfree(&g);
    return rc;
}

static int parse_statement(parser *P, gw_block *b)
{
    char found[80];
    tok t = P->t;
    const char *file = P->in->file;
    if (t.type == T_DOLLAR) return parse_chain(P, b);
    if (t.type != T_IDENT) {
        ERR_HERE(P, "expected a key, a condition ($HTTP[...]) or include, found %s", FOUND(P));
        return GW_ERR;
    }
    if (strcmp(t.str, "include") == 0) return parse_include(P, b);
    if (strcmp(t.str, "include_shell") == 0) {
        if (lex(P) || parse_expr(P) == NULL) return GW_ERR;
        perr(P, file, t.line,
             "include_shell is not supported: run the command once and "
             "include the file it writes");
        return GW_OK;
    }
    if (strcmp(t.str, "else") == 0) {
        ERR_HERE(P, "'else' must follow the '}' of a condition block");
        return GW_ERR;
    }
    if (strcmp(t.str, "elseif") == 0 || strcmp(t.str, "elsif") == 0) {
        ERR_HERE(P, "'%s' is not supported: write 'else $HTTP[\"...\"] ... {'", t.str);
        return GW_ERR;
    }
    if (lex(P)) return GW_ERR;
    if (P->t.type != T_ASSIGN && P->t.type != T_APPEND) {
        perr(P, file, t.line, "expected '=' or '+=' after key '%.100s', found %s", t.str, FOUND(P));
        return GW_ERR;
    }
    int append = P->t.type == T_APPEND;
    if (lex(P)) return GW_ERR;
    gw_val *v = parse_expr(P);
    if (v == NULL) return GW_ERR;
    assign(P, b, t.str, append, v, file, t.line);
    return GW_OK;
}

/* Parse one file's text into block b; the including file's position is kept and restored. */
static int parse_text(parser *P, const char *file, const char *text, size_t len, int depth,
                      gw_block *b)
{
    src s = {gw_arena_strndup(P->a, file, strlen(file)), text, text + len, 1, depth};
    src *saved_in = P->in;
    tok saved_t = P->t;
    P->in = &s;
    int rc = lex(P);
    while (rc == GW_OK && P->t.type != T_EOF) {
        if (P->t.type == T_RBRACE) {
            ERR_HERE(P, "unexpected '}' (no block is open%s)", depth ? " in this file" : "");
            rc = GW_ERR;
        } else if (P->nerr >= MAX_ERRORS) {
            rc = GW_ERR;
        } else {
            rc = parse_statement(P, b);
        }
    }
    P->in = saved_in;
    P->t = saved_t;
    return rc;
}

/* ---- public API ---- */

static gw_conf *parse_main(const char *name, const char *text, size_t len, int no_include,
                           char **err)
{
    store *st = calloc(1, sizeof(*st));
    if (st == NULL) abort();
    gw_conf *c = &st->conf;
    c->priv = st;
    c->path = gw_arena_strndup(&st->arena, name, strlen(name));
    parser P;
    memset(&P, 0, sizeof(P));
    P.conf = c;
    P.a = &st->arena;
    P.no_include = no_include;
    P.poison = val_new(&P, GW_VAL_STR, 0);
    P.poison->str = "";
    c->root = block_new(&P, NULL, NULL, 1);
    int rc = parse_text(&P, name, text, len, 0, c->root);
    if (rc != GW_OK || P.nerr) {
        if (P.err == NULL) perr(&P, name, 1, "invalid configuration");
        *err = P.err;
        gw_conf_free(c);
        return NULL;
    }
    free(P.err);
    *err = NULL;
    return c;
}

gw_conf *gw_conf_load(const char *path, char **err)
{
    char *text;
    size_t len;
    int e = read_file(path, &text, &len);
    if (e) {
        size_t n = strlen(path) + 200;
        *err = malloc(n);
        if (*err == NULL) abort();
        snprintf(*err, n, "%s: cannot read the configuration: %s", path, strerror(e));
        return NULL;
    }
    gw_conf *c = parse_main(path, text, len, 0, err);
    free(text);
    return c;
}

gw_conf *gw_conf_parse_string(const char *name, const char *text, size_t len, char **err)
{
    /* the fuzzer must not wander the file system */
    return parse_main(name, text, len, strcmp(name, "fuzz") == 0, err);
}

void gw_conf_free(gw_conf *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i < c->nblocks; i++)
        if (c->blocks[i]->cond) gw_cond_release(c->blocks[i]->cond);
    store *st = c->priv;
    gw_arena_free(&st->arena);
    free(st);
}

const gw_setting *gw_block_get(const gw_block *b, const char *key)
{
    for (size_t i = b->nsettings; i-- > 0;)
        if (strcmp(b->settings[i].key, key) == 0) return &b->settings[i];
    return NULL;
}

int gw_val_bool(const gw_val *v)
{
    if (v == NULL) return -1;
    if (v->type == GW_VAL_INT) return v->num != 0;
    if (v->type != GW_VAL_STR) return -1;
    if (!strcasecmp(v->str, "enable") || !strcasecmp(v->str, "true") || !strcmp(v->str, "1"))
        return 1;
    if (!strcasecmp(v->str, "disable") || !strcasecmp(v->str, "false") || !strcmp(v->str, "0"))
        return 0;
    return -1;
}
