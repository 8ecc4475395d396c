/* The static balancer: the first usable peer in configured order (primary, then standbys).
 * Stateless; knows nothing of sockets, the loop or a protocol. */
#include "gateway/upstream/balance.h"

static void *static_init(gw_pool *pool)
{
    return NULL;
}

static void static_destroy(void *state) {}

static gw_peer *static_pick(void *state, gw_pool *pool, gw_str key, const uint8_t *tried,
                            double now)
{
    for (unsigned i = 0; i < pool->npeers; i++)
        if (gw_peer_pickable(pool, i, tried, now)) return &pool->peers[i];
    return NULL;
}

const gw_balancer_ops gw_balance_static = {
    .name = "static",
    .init = static_init,
    .destroy = static_destroy,
    .pick = static_pick,
};
