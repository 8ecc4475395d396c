/* Shared by the parser files only (conf.c, conf_lex.c, conf_keys.c, lighttpd.c): the parser
 * state, the tokens and the key table's types. Not for the rest of the gateway. */
#ifndef GW_CONF_INT_H
#define GW_CONF_INT_H

#include "gateway/config/conf.h"

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

struct keydef {
    const char *name;
    enum ktype type;
    enum kscope scope;
};

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
    struct gw_lighty *ly; /* lighttpd.c's translation state (arena), NULL until needed */
} parser;

/* Report an error at FILE:LINE; errors are collected (up to MAX_ERRORS) and parsing goes on. */
void gw_conf_perr(parser *P, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ERR_HERE(P, ...) gw_conf_perr((P), (P)->in->file, (P)->t.line, __VA_ARGS__)

/* Record a warning at FILE:LINE (the config loads; portico -t prints it). */
void gw_conf_pwarn(parser *P, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Grow an arena array so that element n fits. */
void *gw_conf_vec_room(gw_arena *a, void *arr, size_t n, size_t size);
/* A new value of the given type, located at the current file and `line` (arena). */
gw_val *gw_conf_val_new(parser *P, gw_val_type type, int line);
/* Append an item (with its key for a map). */
void gw_conf_val_push(parser *P, gw_val *v, const char *key, gw_val *item);
/* The index of key in a map, or -1. */
long gw_conf_map_index(const gw_val *m, const char *key);

/* Read the next token into P->t: GW_OK, or GW_ERR after reporting. */
int gw_conf_lex(parser *P);
/* The current token, for "found ..." in messages (written into buf). */
const char *gw_conf_tok_desc(const tok *t, char *buf, size_t size);
#define FOUND(P) gw_conf_tok_desc(&(P)->t, found, sizeof(found))

/* The key table (conf_keys.c): the definition of a known key, or NULL. */
const struct keydef *gw_conf_key_find(const char *name);
/* The known key closest to name (at most 3 edits away), or NULL. */
const char *gw_conf_key_suggest(const char *name);
/* The value as the key wants it, or P->poison after reporting why it does not fit. */
gw_val *gw_conf_check_type(parser *P, const struct keydef *kd, gw_val *v, const char *file,
                           int line);
/* "a string", "a list", ... */
const char *gw_conf_type_name(const gw_val *v);

/* A new condition block under parent (appended to nothing: the caller links it into
 * parent->children or an else chain), numbered next in source order. */
gw_block *gw_conf_block_new(parser *P, gw_block *parent, gw_cond *cond, int line);

/* ---- lighttpd 1.4 keys (lighttpd.c) ---- */

/* Is key one of lighttpd's that lighttpd.c translates, warns about or refuses? */
int gw_lighty_key(const char *key);
/* key = v / key += v of a lighttpd key in block b: translated at once into condition blocks
 * under b (their place in source order is the assignment's), or a warning, or an error. */
void gw_lighty_assign(parser *P, gw_block *b, const char *key, int append, gw_val *v,
                      const char *file, int line);
/* After the last file: the balancers, the spawned apps merged into spawn.apps. */
void gw_lighty_finish(parser *P);

#endif
