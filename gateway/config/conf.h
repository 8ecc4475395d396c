/* The lighttpd-syntax configuration: parsed once into an immutable tree of values, settings and
 * condition blocks. Errors name FILE:LINE. Knows nothing of sockets, the loop or protocols. */
#ifndef GW_CONF_H
#define GW_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "gateway/base/buf.h"
#include "gateway/base/req.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

typedef enum gw_val_type { GW_VAL_STR, GW_VAL_INT, GW_VAL_LIST, GW_VAL_MAP } gw_val_type;

typedef struct gw_val gw_val;
struct gw_val {
    gw_val_type type;
    const char *file; /* borrowed from the conf: where the value was written */
    int line;
    char *str;      /* GW_VAL_STR: NUL-terminated */
    long long num;  /* GW_VAL_INT */
    size_t n;       /* GW_VAL_LIST / GW_VAL_MAP: number of items */
    gw_val **items; /* LIST items; MAP values */
    char **keys;    /* MAP keys (same order as items) */
};

/* One assignment: `key = value` or `key += value` (append). Top-level appends are folded
 * into the value at parse time; appends inside a block are kept as append = 1 and applied
 * on top of the value in effect when the block matches. */
typedef struct gw_setting {
    char *key;
    gw_val *val;
    int append;
    const char *file;
    int line;
} gw_setting;

enum gw_cond_field {
    GW_COND_URL,       /* $HTTP["url"] */
    GW_COND_QUERY,     /* $HTTP["querystring"] */
    GW_COND_HOST,      /* $HTTP["host"] */
    GW_COND_METHOD,    /* $HTTP["request-method"] */
    GW_COND_SCHEME,    /* $HTTP["scheme"] */
    GW_COND_REMOTE_IP, /* $HTTP["remote-ip"] */
    GW_COND_HEADER,    /* $REQUEST_HEADER["Name"] */
    GW_COND_SOCKET     /* $SERVER["socket"] */
};

enum gw_cond_op { GW_OP_EQ, GW_OP_NE, GW_OP_RE, GW_OP_NRE, GW_OP_PREFIX, GW_OP_SUFFIX };

/* One condition: `$FIELD["name"] OP "pattern"`. */
typedef struct gw_cond {
    enum gw_cond_field field;
    char *header; /* GW_COND_HEADER: the field name */
    enum gw_cond_op op;
    char *pattern; /* the operand as written */
    size_t pattern_len;
    pcre2_code *re; /* GW_OP_RE / GW_OP_NRE: compiled (JIT where available) */
    /* GW_COND_REMOTE_IP with == / != and a "a.b.c.d/n" or "v6/n" operand (or a plain
     * address, /32 or /128): the network, compared bit by bit with the client address */
    int cidr_family; /* 0: not a CIDR; AF_INET or AF_INET6 */
    unsigned char cidr_addr[16];
    int cidr_bits;
    const char *file;
    int line;
} gw_cond;

typedef struct gw_block gw_block;
struct gw_block {
    int id;               /* 0: the global block; 1.. in source order */
    gw_cond *cond;        /* NULL for the global block and for a plain `else` */
    gw_block *parent;     /* NULL for the global block */
    gw_setting *settings; /* in source order */
    size_t nsettings;
    gw_block **children; /* nested condition blocks in source order; only chain heads */
    size_t nchildren;
    gw_block *else_next; /* the next block of an `else` chain, tried only if this one fails */
    const char *file;
    int line;
};

typedef struct gw_conf {
    gw_block *root;
    gw_block **blocks; /* by id; nblocks entries */
    size_t nblocks;
    char *path;     /* the main file, as given */
    char *warnings; /* "FILE:LINE: ..." lines (malloc'd, NULL if none): what loads but is not
                       carried as written (lighttpd keys dropped) */
    void *priv;     /* the parser's storage (file names, values) */
} gw_conf;

/* Parse `path` (and its includes). Returns the config, or NULL with *err set to a malloc'd
 * "FILE:LINE: message" (several lines separated by '\n' when there are several errors).
 * Checks syntax, known keys (with "did you mean"), value types, and that regexes compile. */
gw_conf *gw_conf_load(const char *path, char **err);
/* The same from a string (tests, fuzzing); `name` stands in for the file name in errors and
 * as the base of relative includes (its directory). */
gw_conf *gw_conf_parse_string(const char *name, const char *text, size_t len, char **err);
void gw_conf_free(gw_conf *c);

/* Print the effective config in the same syntax: variables, env.*, += and includes resolved
 * into plain values; condition blocks kept. */
void gw_conf_print(const gw_conf *c, FILE *out);

/* The i-th key of the key table, NULL past the end (docs check, tests). */
const char *gw_conf_key_name(size_t i);

/* The value of `key` in this block only (the last assignment; NULL if none). */
const gw_setting *gw_block_get(const gw_block *b, const char *key);
/* Booleans: "enable"/"true"/"1" -> 1, "disable"/"false"/"0" -> 0, otherwise -1. Ints count. */
int gw_val_bool(const gw_val *v);

/* ---- conditions, evaluated per request (cond.c) ---- */

/* Everything conditions look at. Slices borrow the request. */
typedef struct gw_cond_ctx {
    gw_str url;   /* decoded, normalised path, no query */
    gw_str query; /* without '?' */
    gw_str host;  /* without port, lower case */
    gw_str method;
    gw_str scheme;
    const struct sockaddr *remote; /* client address (AF_INET/AF_INET6), NULL for unix */
    gw_str remote_ip;              /* the client address as text */
    gw_str socket;                 /* the name of the listener that accepted: as written in
                                      its $SERVER["socket"] block, or the main listener's */
    const struct gw_header *hdr;   /* request header fields */
    size_t nhdr;
} gw_cond_ctx;

/* Does one condition hold? */
int gw_cond_match(const gw_cond *c, const gw_cond_ctx *ctx);

/* Call fn for the global block and then for every block whose condition holds (and whose
 * parents' hold), in source order; of an else chain at most one block. */
void gw_conf_match(const gw_conf *c, const gw_cond_ctx *ctx,
                   void (*fn)(void *arg, const gw_block *b), void *arg);

#endif
