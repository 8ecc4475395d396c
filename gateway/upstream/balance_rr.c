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
    /* workers pick at the same time: a pick counts only if the cursor did not move meanwhile,
     * so that two workers do not both take the same turn (a few tries, then take it anyway) */
    for (int attempt = 0;; attempt++) {
        unsigned seen = st ? gw_atomic_get(&st->next) : 0, start = seen % n;
        gw_peer *got = NULL;
        unsigned next = seen;
        for (unsigned k = 0; k < n && !got; k++) {
            unsigned i = start + k;
            if (i >= n) i -= n;
            if (gw_peer_pickable(pool, i, tried, now)) {
                got = &pool->peers[i];
                next = i + 1 < n ? i + 1 : 0;
            }
        }
        if (got == NULL || st == NULL) return got;
        if (__atomic_compare_exchange_n(&st->next, &seen, next, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED) ||
            attempt == 3)
            return got;
    }
}

const gw_balancer_ops gw_balance_rr = {
    .name = "round-robin",
    .init = gw_balance_cursor_new,
    .destroy = gw_balance_cursor_free,
    .pick = rr_pick,
};
