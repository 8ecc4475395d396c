/* The round-robin balancer: a true rotation over the usable peers, not a random pick.
 * Its only state is where the next search starts; knows nothing of sockets or the loop. */
#include "gateway/upstream/balance.h"

/* Start after the peer picked last, so a skipped (disabled, full, tried) peer does not make its
 * successor take two turns. Without state (allocation failed at init) every search starts at 0:
 * degraded to static, still correct. */
static gw_peer *rr_pick(void *state, gw_pool *pool, gw_str key, const uint8_t *tried, double now)
{
    gw_balance_cursor *st = state;
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
    .init = gw_balance_cursor_new,
    .destroy = gw_balance_cursor_free,
    .pick = rr_pick,
};
