/* The shortest-queue-first balancer (the default): the usable peer with the fewest requests in
 * flight. Knows nothing of sockets, the loop or a protocol. */
#include "gateway/upstream/balance.h"

/* Ties are common (an idle pool has every peer at 0). Always breaking them at index 0 would
 * send every light-load request to the first peer and keep the others cold; starting the search
 * just after the last pick rotates among equally loaded peers instead. */
static gw_peer *sqf_pick(void *state, gw_pool *pool, gw_str key, const uint8_t *tried, double now)
{
    gw_balance_cursor *st = state;
    unsigned n = pool->npeers;
    if (n == 0) return NULL;
    unsigned start = st ? gw_atomic_get(&st->next) % n : 0;
    gw_peer *best = NULL;
    unsigned best_i = 0, best_in = 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = start + k;
        if (i >= n) i -= n;
        if (!gw_peer_pickable(pool, i, tried, now)) continue;
        gw_peer *p = &pool->peers[i];
        unsigned in = gw_atomic_get(&p->inflight); /* (other workers change it meanwhile) */
        if (best == NULL || in < best_in) {
            best = p;
            best_i = i;
            best_in = in;
            if (in == 0) break; /* nothing can beat an idle peer */
        }
    }
    if (best && st) gw_atomic_set(&st->next, best_i + 1 < n ? best_i + 1 : 0);
    return best;
}

const gw_balancer_ops gw_balance_sqf = {
    .name = "sqf",
    .init = gw_balance_cursor_new,
    .destroy = gw_balance_cursor_free,
    .pick = sqf_pick,
};
