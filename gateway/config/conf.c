/* The parser of the configuration language: tokens (conf_lex.c) -> the immutable gw_conf tree,
 * keys checked against the key table (conf_keys.c); every error names FILE:LINE. Knows nothing
 * of sockets, the loop, routes or protocols; condition operands are compiled in cond.c. */
#include "gateway/config/conf_int.h"
#include "gateway/base/alloc.h"
#include "gateway/config/cond.h"

#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- names shared by the parser and the printer ---- */

static const char *cond_kind(const gw_cond *c)
{
    if (c == NULL) return "an else block";
    if (c->field == GW_COND_HEADER) return "a $REQUEST_HEADER condition";
    if (c->field == GW_COND_SOCKET) return "a $SERVER condition";
    return "a $HTTP condition";
}

static gw_val *val_str(parser *P, const char *s, size_t n, int line)
{
    gw_val *v = gw_conf_val_new(P, GW_VAL_STR, line);
    v->str = gw_arena_strndup(P->a, s, n);
    return v;
}

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
        gw_val *v = gw_conf_val_new(P, GW_VAL_INT, line);
        if (__builtin_add_overflow(a->num, b->num, &v->num)) {
            gw_conf_perr(P, P->in->file, line, "number out of range");
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
        gw_val *v = gw_conf_val_new(P, GW_VAL_STR, line);
        v->str = gw_arena_sprintf(P->a, "%s%s", sa, sb);
        return v;
    }
    if (a->type == GW_VAL_LIST) {
        gw_val *v = gw_conf_val_new(P, GW_VAL_LIST, line);
        for (size_t i = 0; i < a->n; i++) gw_conf_val_push(P, v, NULL, a->items[i]);
        if (b->type == GW_VAL_LIST)
            for (size_t i = 0; i < b->n; i++) gw_conf_val_push(P, v, NULL, b->items[i]);
        else if (b->type != GW_VAL_MAP)
            gw_conf_val_push(P, v, NULL, b);
        else
            goto bad;
        return v;
    }
    if (a->type == GW_VAL_MAP && b->type == GW_VAL_MAP) {
        gw_val *v = gw_conf_val_new(P, GW_VAL_MAP, line);
        for (size_t i = 0; i < a->n; i++) gw_conf_val_push(P, v, a->keys[i], a->items[i]);
        for (size_t i = 0; i < b->n; i++) {
            if (gw_conf_map_index(a, b->keys[i]) >= 0) {
                gw_conf_perr(P, P->in->file, line, "duplicate key \"%s\" when adding maps",
                             b->keys[i]);
                return P->poison;
            }
            gw_conf_val_push(P, v, b->keys[i], b->items[i]);
        }
        return v;
    }
bad:
    gw_conf_perr(P, P->in->file, line, "cannot add %s and %s", gw_conf_type_name(a),
                 gw_conf_type_name(b));
    return P->poison;
}

/* `(` ... `)`: a list, or a map when the items are "key" => value pairs. */
static gw_val *parse_list(parser *P)
{
    char found[80];
    gw_val *v = gw_conf_val_new(P, GW_VAL_LIST, P->t.line);
    int mixed = 0;
    if (++P->nest > MAX_NEST) {
        ERR_HERE(P, "values nested too deeply");
        return NULL;
    }
    if (gw_conf_lex(P)) return NULL;
    while (P->t.type != T_RPAREN) {
        int line = P->t.line;
        gw_val *item = parse_expr(P);
        if (item == NULL) return NULL;
        if (P->t.type == T_ARROW) {
            if (gw_conf_lex(P)) return NULL;
            gw_val *val = parse_expr(P);
            if (val == NULL) return NULL;
            if (v->n == 0) v->type = GW_VAL_MAP;
            if (v->type != GW_VAL_MAP) {
                mixed = 1;
            } else if (item != P->poison && item->type != GW_VAL_STR) {
                gw_conf_perr(P, P->in->file, line, "a map key must be a string, not %s",
                             gw_conf_type_name(item));
            } else if (item != P->poison) {
                if (gw_conf_map_index(v, item->str) >= 0)
                    gw_conf_perr(P, P->in->file, line, "duplicate key \"%s\" in map", item->str);
                else
                    gw_conf_val_push(P, v, item->str, val);
            }
        } else if (v->type == GW_VAL_MAP) {
            mixed = 1;
        } else {
            gw_conf_val_push(P, v, NULL, item);
        }
        if (mixed) {
            gw_conf_perr(P, P->in->file, line,
                         "a list cannot mix plain items and \"key\" => value pairs");
            mixed = 0;
        }
        if (P->t.type == T_COMMA) {
            if (gw_conf_lex(P)) return NULL;
        } else if (P->t.type != T_RPAREN) {
            ERR_HERE(P, "expected ',' or ')' in a list, found %s", FOUND(P));
            return NULL;
        }
    }
    P->nest--;
    if (gw_conf_lex(P)) return NULL;
    return v;
}

static gw_val *parse_term(parser *P)
{
    char found[80];
    tok t = P->t;
    const char *file = P->in->file;
    switch (t.type) {
    case T_STR:
        if (gw_conf_lex(P)) return NULL;
        gw_val *s = gw_conf_val_new(P, GW_VAL_STR, t.line);
        s->str = t.str;
        return s;
    case T_INT:
        if (gw_conf_lex(P)) return NULL;
        gw_val *n = gw_conf_val_new(P, GW_VAL_INT, t.line);
        n->num = t.num;
        return n;
    case T_LPAREN:
        return parse_list(P);
    case T_IDENT:
        if (strncmp(t.str, "var.", 4) == 0 && t.str[4]) {
            if (gw_conf_lex(P)) return NULL;
            gw_val *v = var_get(P, t.str);
            if (v) return v;
            gw_conf_perr(P, file, t.line, "undefined variable %s", t.str);
            return P->poison;
        }
        if (strncmp(t.str, "env.", 4) == 0 && t.str[4]) {
            if (gw_conf_lex(P)) return NULL;
            const char *e = getenv(t.str + 4);
            if (e) return val_str(P, e, strlen(e), t.line);
            gw_conf_perr(P, file, t.line, "environment variable %s is not set", t.str + 4);
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
        if (gw_conf_lex(P)) return NULL;
        gw_val *r = parse_term(P);
        if (r == NULL) return NULL;
        v = concat(P, v, r, line);
    }
    return v;
}

/* ---- blocks and statements ---- */

gw_block *gw_conf_block_new(parser *P, gw_block *parent, gw_cond *cond, int line)
{
    gw_block *b = gw_arena_alloc(P->a, sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->id = (int)P->conf->nblocks;
    b->cond = cond;
    b->parent = parent;
    b->file = P->in ? P->in->file : P->conf->path;
    b->line = line;
    P->conf->blocks = gw_conf_vec_room(P->a, P->conf->blocks, P->conf->nblocks, sizeof(gw_block *));
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
            gw_conf_perr(P, file, line, "a variable needs a name: var.NAME");
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
        gw_conf_perr(P, file, line, "%s cannot be assigned: env.NAME only reads the environment",
                     key);
        return;
    }
    const struct keydef *kd = gw_conf_key_find(key);
    if (kd == NULL && gw_lighty_key(key)) {
        gw_lighty_assign(P, b, key, append, v, file, line);
        return;
    }
    if (kd == NULL) {
        const char *hint = gw_conf_key_suggest(key);
        if (hint)
            gw_conf_perr(P, file, line, "unknown key '%.100s' (did you mean '%s'?)", key, hint);
        else
            gw_conf_perr(P, file, line, "unknown key '%.100s'", key);
        return;
    }
    if (b != P->conf->root &&
        (kd->scope == KS_TOP ||
         (kd->scope == KS_SERVER && !(b->cond && b->cond->field == GW_COND_SOCKET)))) {
        gw_conf_perr(P, file, line, "%s cannot be set inside %s%s", key, cond_kind(b->cond),
                     kd->scope == KS_TOP ? " (only at the top level)" : "");
        return;
    }
    gw_setting *old = setting_find(b, key);
    if (old && append) v = concat(P, old->val, v, line);
    v = gw_conf_check_type(P, kd, v, file, line);
    if (v == P->poison) return;
    if (old) { /* a later assignment in the same block wins, as in lighttpd */
        old->val = v;
        old->file = file;
        old->line = line;
        return;
    }
    b->settings = gw_conf_vec_room(P->a, b->settings, b->nsettings, sizeof(*b->settings));
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

/* lighttpd's $HTTP[...] names that are a request header here (printed as $REQUEST_HEADER),
 * and its spelling of remote-ip (header NULL). */
static const struct {
    const char *name, *header;
} lighty_fields[] = {
    {"remoteip", NULL},     {"useragent", "User-Agent"}, {"user-agent", "User-Agent"},
    {"referer", "Referer"}, {"cookie", "Cookie"},        {"language", "Accept-Language"},
};

/* `$FIELD["name"] OP value`; the operand is compiled before returning. */
static gw_cond *parse_cond(parser *P)
{
    char found[80];
    tok t = P->t;
    const char *file = P->in->file;
    if (gw_conf_lex(P)) return NULL;
    if (P->t.type != T_LBRACKET) {
        ERR_HERE(P, "expected '[' after $%s, found %s", t.str, FOUND(P));
        return NULL;
    }
    if (gw_conf_lex(P)) return NULL;
    if (P->t.type != T_STR) {
        ERR_HERE(P, "expected a quoted name in $%s[...], found %s", t.str, FOUND(P));
        return NULL;
    }
    char *name = P->t.str;
    if (gw_conf_lex(P)) return NULL;
    if (P->t.type != T_RBRACKET) {
        ERR_HERE(P, "expected ']' after $%s[\"%.40s\", found %s", t.str, name, FOUND(P));
        return NULL;
    }
    if (gw_conf_lex(P)) return NULL;
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
    if (gw_conf_lex(P)) return NULL;
    gw_val *v = parse_expr(P);
    if (v == NULL) return NULL;
    if (v != P->poison && v->type != GW_VAL_STR)
        gw_conf_perr(P, file, t.line, "a condition compares with a string, not %s",
                     gw_conf_type_name(v));
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
        /* lighttpd's other names: a field portico has, or a request header */
        for (size_t i = 0; !known && i < sizeof(lighty_fields) / sizeof(lighty_fields[0]); i++) {
            if (strcmp(lighty_fields[i].name, name) != 0) continue;
            c->field = lighty_fields[i].header ? GW_COND_HEADER : GW_COND_REMOTE_IP;
            c->header = (char *)lighty_fields[i].header;
            known = 1;
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
        gw_conf_perr(
            P, file, t.line,
            "unknown condition $%.40s[\"%.40s\"] (expected $HTTP[\"url\"], \"querystring\", "
            "\"host\", \"request-method\", \"scheme\", \"remote-ip\", \"useragent\", "
            "\"referer\", \"cookie\", \"language\", $REQUEST_HEADER[\"Name\"] or "
            "$SERVER[\"socket\"])",
            t.str, name);
        return c;
    }
    char *msg;
    if (gw_cond_compile(c, &msg) != GW_OK) {
        gw_conf_perr(P, file, t.line, "%s", msg);
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
            b = gw_conf_block_new(P, parent, c, line);
            if (c->field == GW_COND_SOCKET && (parent != P->conf->root || prev))
                gw_conf_perr(P, file, line,
                             "$SERVER[\"socket\"] is only allowed at the top level, "
                             "not inside a condition or an else chain");
            else if (c->field == GW_COND_SOCKET && c->op != GW_OP_EQ)
                gw_conf_perr(P, file, line, "$SERVER[\"socket\"] only takes ==");
        } else {
            b = gw_conf_block_new(P, parent, NULL, line);
        }
        if (prev && prev->cond->field == GW_COND_SOCKET)
            gw_conf_perr(P, file, line, "a $SERVER[\"socket\"] block cannot have an else");
        if (prev) {
            prev->else_next = b;
        } else {
            parent->children =
                gw_conf_vec_room(P->a, parent->children, parent->nchildren, sizeof(gw_block *));
            parent->children[parent->nchildren++] = b;
        }
        if (P->t.type != T_LBRACE) {
            ERR_HERE(P, "expected '{' after the condition, found %s", FOUND(P));
            return GW_ERR;
        }
        if (gw_conf_lex(P) || parse_body(P, b, line) || gw_conf_lex(P)) return GW_ERR;
        prev = b;
        if (b->cond == NULL) break; /* a plain else ends the chain */
        if (P->t.type != T_IDENT ||
            (strcmp(P->t.str, "else") != 0 && strcmp(P->t.str, "elseif") != 0))
            break;
        int elseif = strcmp(P->t.str, "else") != 0; /* lighttpd's `elseif` */
        if (gw_conf_lex(P)) return GW_ERR;
        if (!elseif && P->t.type == T_IDENT && strcmp(P->t.str, "if") == 0) {
            elseif = 1; /* lighttpd's `else if` */
            if (gw_conf_lex(P)) return GW_ERR;
        }
        if (elseif && P->t.type != T_DOLLAR) {
            ERR_HERE(P, "expected a condition after 'else if', found %s", FOUND(P));
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
    char *buf = gw_xmalloc(cap);
    int rerr = 0;
    for (;;) {
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
            buf = gw_xrealloc(buf, cap *= 2);
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
        gw_conf_perr(P, from, line, "cannot read '%s': %s", path, strerror(e));
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
    if (gw_conf_lex(P)) return GW_ERR;
    gw_val *v = parse_expr(P);
    if (v == NULL) return GW_ERR;
    if (v == P->poison) return GW_OK;
    if (v->type != GW_VAL_STR) {
        gw_conf_perr(P, file, t.line, "include needs a file name or a glob, not %s",
                     gw_conf_type_name(v));
        return GW_OK;
    }
    if (P->no_include) {
        gw_conf_perr(P, file, t.line, "include is disabled here");
        return GW_OK;
    }
    if (P->in->depth + 1 > MAX_INCLUDE_DEPTH) {
        gw_conf_perr(P, file, t.line,
                     "includes nested more than %d deep (does a file include itself?)",
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
        gw_conf_perr(P, file, t.line, "cannot list '%s'", pattern);
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
        if (gw_conf_lex(P) || parse_expr(P) == NULL) return GW_ERR;
        gw_conf_perr(P, file, t.line,
                     "include_shell is not supported: run the command once and "
                     "include the file it writes");
        return GW_OK;
    }
    if (strcmp(t.str, "else") == 0 || strcmp(t.str, "elseif") == 0) {
        ERR_HERE(P, "'%s' must follow the '}' of a condition block", t.str);
        return GW_ERR;
    }
    if (strcmp(t.str, "elsif") == 0) {
        ERR_HERE(P, "'elsif' is not supported: write 'else $HTTP[\"...\"] ... {'");
        return GW_ERR;
    }
    if (gw_conf_lex(P)) return GW_ERR;
    if (P->t.type != T_ASSIGN && P->t.type != T_APPEND) {
        gw_conf_perr(P, file, t.line, "expected '=' or '+=' after key '%.100s', found %s", t.str,
                     FOUND(P));
        return GW_ERR;
    }
    int append = P->t.type == T_APPEND;
    if (gw_conf_lex(P)) return GW_ERR;
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
    int rc = gw_conf_lex(P);
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

/* lighttpd's predefined variables: var.PID (this process) and var.CWD (the working directory
 * at load); a config may assign them like any other. */
static void predefine(parser *P)
{
    static const char *const names[] = {"var.PID", "var.CWD"};
    char cwd[4096];
    for (int i = 0; i < 2; i++) {
        var *x = gw_arena_alloc(P->a, sizeof(*x));
        x->name = (char *)names[i];
        if (i == 0) {
            x->val = gw_conf_val_new(P, GW_VAL_INT, 0);
            x->val->num = (long long)getpid();
        } else {
            const char *d = getcwd(cwd, sizeof(cwd)) ? cwd : "/";
            x->val = val_str(P, d, strlen(d), 0);
        }
        x->next = P->vars;
        P->vars = x;
    }
}

static gw_conf *parse_main(const char *name, const char *text, size_t len, int no_include,
                           char **err)
{
    store *st = gw_xcalloc(1, sizeof(*st));
    gw_conf *c = &st->conf;
    c->priv = st;
    c->path = gw_arena_strndup(&st->arena, name, strlen(name));
    parser P;
    memset(&P, 0, sizeof(P));
    P.conf = c;
    P.a = &st->arena;
    P.no_include = no_include;
    P.poison = gw_conf_val_new(&P, GW_VAL_STR, 0);
    P.poison->str = "";
    c->root = gw_conf_block_new(&P, NULL, NULL, 1);
    predefine(&P);
    int rc = parse_text(&P, name, text, len, 0, c->root);
    if (rc == GW_OK && P.nerr == 0) gw_lighty_finish(&P);
    if (rc != GW_OK || P.nerr) {
        if (P.err == NULL) gw_conf_perr(&P, name, 1, "invalid configuration");
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
        *err = NULL;
        gw_errf(err, "%s: cannot read the configuration: %s", path, strerror(e));
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
    free(c->warnings);
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
