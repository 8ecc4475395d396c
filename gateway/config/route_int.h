/* Shared by the route files only: the route keys, the effective value of each key for one
 * combination of blocks, and the compiler of one route. Not for the rest of the gateway. */
#ifndef GW_ROUTE_INT_H
#define GW_ROUTE_INT_H

#include "gateway/config/route.h"

/* The keys a route is made of; a block that sets one of them is "relevant" to routing. */
enum gw_rkey {
    R_BACKENDS,
    R_PROTOCOL,
    R_BALANCER,
    R_HASH_FACTOR,
    R_MAX_POOL,
    R_KA_REQ,
    R_BACKLOG_SIZE,
    R_BACKLOG_TIMEOUT,
    R_CONNECT_TIMEOUT,
    R_READ_TIMEOUT,
    R_WRITE_TIMEOUT,
    R_DISABLE_TIME,
    R_MAX_RETRIES,
    R_XSENDFILE,
    R_XSENDFILE_ROOT,
    R_XREWRITE,
    R_RW_REQ,
    R_RW_RESP,
    R_SCRIPT_NAME,
    R_DOCROOT,
    R_HEALTH,
    R_NAME,
    R_STATUS_URL,
    R_METRICS_URL,
    R_NKEYS
};

#define GW_MAX_APPENDS 16

/* The effective value of one key: the last plain assignment plus the appends after it. */
typedef struct gw_eff_val {
    const gw_val *base;
    const gw_val *app[GW_MAX_APPENDS];
    unsigned napp;
    const gw_val *over; /* the first `+=` past GW_MAX_APPENDS: the route is refused at load */
} gw_eff_val;

/* The effective route settings of a combination; zeroed before use, so that two equal
 * combinations compare equal with memcmp. */
typedef struct gw_eff {
    gw_eff_val v[R_NKEYS];
} gw_eff;

/* The rkey of a setting's key, or -1 when it is not a route key. */
int gw_rkey_of(const char *key);
/* Does block b set any route key? */
int gw_block_relevant(const gw_block *b);
/* Apply b's route settings on top of e. */
void gw_eff_apply(gw_eff *e, const gw_block *b);

/* Check every route value of block b on its own (names known, paths absolute directories,
 * regexes compile, shapes): GW_OK, or GW_ERR with *err "FILE:LINE: ...". */
int gw_block_check_values(const gw_block *b, char **err);

/* Build r from e: values, x-sendfile roots, rewrites, pool (found or created in rt). `blocks`
 * names the combination in messages. GW_OK, or GW_ERR with *err "FILE:LINE: ..." (r is then
 * released). */
int gw_route_build(gw_rt *rt, const gw_eff *e, gw_route *r, const gw_block *const *blocks,
                   size_t nblocks, char **err);
void gw_route_release(gw_route *r);

/* Enumerate and compile every combination of relevant blocks that can hold together (route
 * table, trie and warning in rt). GW_OK or GW_ERR with *err. */
int gw_rt_compile(gw_rt *rt, char **err);
/* Free what gw_rt_compile built. */
void gw_rt_table_free(gw_rt *rt);

#endif
