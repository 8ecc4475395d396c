/* Balancers: pick a peer of a pool for a request. One small file per algorithm behind these
 * ops; none of them knows sockets, the loop or a protocol. */
#ifndef GW_BALANCE_H
#define GW_BALANCE_H

#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/upstream/pool.h"

typedef struct gw_balancer_ops {
    const char *name;
    /* Build per-pool state once the pool's peers are known (may return NULL). */
    void *(*init)(gw_pool *pool);
    void (*destroy)(void *state);
    /* Pick an available peer with room for one more request, skipping those whose bit is set
     * in `tried` (bit i = pool->peers[i]). `key`: the request's URL path (hash balancer).
     * Returns NULL when none is available with room. */
    gw_peer *(*pick)(void *state, gw_pool *pool, gw_str key, const uint8_t *tried, double now);
} gw_balancer_ops;

/* The state of the rotating balancers (round-robin, sqf): where the next search starts. */
typedef struct gw_balance_cursor {
    unsigned next;
} gw_balance_cursor;
void *gw_balance_cursor_new(gw_pool *pool);
void gw_balance_cursor_free(void *state);

extern const gw_balancer_ops gw_balance_rr;
extern const gw_balancer_ops gw_balance_sqf;
extern const gw_balancer_ops gw_balance_hash;
extern const gw_balancer_ops gw_balance_static;

static inline int gw_tried(const uint8_t *tried, unsigned i)
{
    return tried && (tried[i >> 3] >> (i & 7)) & 1;
}

/* May `pool->peers[i]` take this request: not tried yet, available at `now`, with room? The
 * one filter every balancer applies before its own preference. */
static inline int gw_peer_pickable(const gw_pool *pool, unsigned i, const uint8_t *tried,
                                   double now)
{
    const gw_peer *p = &pool->peers[i];
    return !gw_tried(tried, i) && gw_peer_available(p, now) && gw_peer_has_room(p);
}

/* 32-bit hash of n bytes (FNV-1a with a final avalanche). Stable across processes and builds:
 * the pool sets peer->hash = gw_hash_str(name), so every process maps URLs the same way. */
uint32_t gw_hash_str(const char *p, size_t n);

#endif
