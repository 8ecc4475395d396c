/* The lexer of the configuration language: bytes of one file -> tokens, plus the error list and
 * the arena value helpers the parser files share. Knows no key, no block, nothing of routes. */
#include "gateway/config/conf_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/alloc.h"

void gw_conf_perr(parser *P, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gw_conf_perr(parser *P, const char *file, int line, const char *fmt, ...)
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
    char *e = gw_xrealloc(P->err, P->errlen + add);
    P->err = e;
    P->errlen +=
        (size_t)snprintf(e + P->errlen, add, "%s%s:%d: %s", P->errlen ? "\n" : "", file, line, msg);
}

void gw_conf_pwarn(parser *P, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *old = P->conf->warnings;
    size_t had = old ? strlen(old) : 0, add = strlen(file) + strlen(msg) + 32;
    char *w = gw_xrealloc(old, had + add);
    snprintf(w + had, add, "%s%s:%d: %s", had ? "\n" : "", file, line, msg);
    P->conf->warnings = w;
}

/* Grow an arena array so that element n fits: capacity is 4, then the next power of two. */
void *gw_conf_vec_room(gw_arena *a, void *arr, size_t n, size_t size)
{
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return arr;
    size_t cap = n ? n * 2 : 4;
    void *na = gw_arena_alloc(a, cap * size);
    if (n) memcpy(na, arr, n * size);
    return na;
}

gw_val *gw_conf_val_new(parser *P, gw_val_type type, int line)
{
    gw_val *v = gw_arena_alloc(P->a, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = type;
    v->file = P->in ? P->in->file : "";
    v->line = line;
    return v;
}

void gw_conf_val_push(parser *P, gw_val *v, const char *key, gw_val *item)
{
    v->items = gw_conf_vec_room(P->a, v->items, v->n, sizeof(*v->items));
    if (v->type == GW_VAL_MAP) {
        v->keys = gw_conf_vec_room(P->a, v->keys, v->n, sizeof(*v->keys));
        v->keys[v->n] = (char *)key;
    }
    v->items[v->n++] = item;
}

long gw_conf_map_index(const gw_val *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return (long)i;
    return -1;
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
            gw_conf_perr(P, s->file, P->t.line,
                         "unterminated string (a string ends on its own line)");
            return GW_ERR;
        }
        if (*q == '\0') {
            gw_conf_perr(P, s->file, P->t.line, "NUL byte inside a string");
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
        gw_conf_perr(P, s->file, P->t.line, "bad number '%.*s' (only decimal integers are numbers)",
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
        gw_conf_perr(P, s->file, P->t.line, "number out of range");
        return GW_ERR;
    }
    P->t.type = T_INT;
    P->t.num = v;
    P->t.n = len;
    s->p = q;
    return GW_OK;
}

/* Read the next token into P->t. */
int gw_conf_lex(parser *P)
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
            gw_conf_perr(P, s->file, t->line,
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
    case ':': /* lighttpd's `:=` (replace): a later assignment always replaces here */
        if (c2 != '=') goto bad;
        t->type = T_ASSIGN;
        t->n = 2;
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
        gw_conf_perr(P, s->file, t->line, "unexpected character '%c'", c);
    else
        gw_conf_perr(P, s->file, t->line, "unexpected byte 0x%02x", c);
    return GW_ERR;
}

/* The current token, for "found ..." in messages. */
const char *gw_conf_tok_desc(const tok *t, char *buf, size_t size)
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
