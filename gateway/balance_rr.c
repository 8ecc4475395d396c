/* The round-robin balancer: a true rotation over the usable peers, not a random pick.
 * Its only state is where the next search starts; knows nothing of sockets or the loop. */
#include <stdlib.h>

#include "gateway/balance.h"

typedef struct rr_state {
    unsigned next; /* index the next search starts at */
} rr_state;

static void *rr_init(gw_pool *pool)
{
    return calloc(1, sizeof(rr_state));
}

static void rr_destroy(void *state)
{
    free(state);
}

/* Start after the peer picked last, so a skipped (disabled, full, tried) peer does not make its
 * successor take two turns. Without state (allocation failed at init) every search starts at 0:
 * degraded to static, still correct. */
static gw_peer *rr_pick(void *state, gw_pool *pool, gw_str key, const uint8_t *tried, double now)
{
    rr_state *st = state;
    unsigned n = pool->npeers;
    if (n == 0) return NULL;
    unsigned start = st ? st->next % n : 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = start + k;
        if (i >= n) i -= n;
        if (gw_peer_pickable(pool, i, tried, now)) {
            if (st) st->next = i + 1 < n ? i + 1 : 0;
            return &pool->peers[i];
        }
    }
    return NULL;
}

const gw_balancer_ops gw_balance_rr = {
    .name = "round-robin",
    .init = rr_init,
    .destroy = rr_destroy,
    .pick = rr_pick,
};
