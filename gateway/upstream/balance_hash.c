/* The hash balancer ("hash", alias "carp"): one URL path always goes to the same peer, with
 * bounded load. Rendezvous hashing; stateless. Knows nothing of sockets, the loop or a protocol. */
#include "gateway/upstream/balance.h"

/* Rendezvous (highest random weight) hashing: each peer scores score(peer, key) and the highest
 * wins. When a peer leaves, only the keys it won move (each to its own runner-up) and they come
 * back when it returns; the scores depend only on names and the key, so two processes with the
 * same backends agree, in any list order. Unlike lighttpd's additive CRC scheme, shares are even.
 *
 * The score is the murmur3 64-bit finaliser of (peer hash, key hash). The finaliser is a
 * bijection, so two peers with different name hashes never tie on a key. */
static uint64_t score(uint32_t peer_hash, uint32_t key_hash)
{
    uint64_t x = (uint64_t)peer_hash << 32 | key_hash;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static void *hash_init(gw_pool *pool)
{
    return NULL;
}

static void hash_destroy(void *state) {}

/* Bounded load (consistent hashing with bounded loads, Mirrokni et al.): a peer may take the
 * request only while its in-flight count stays within ceil(f * (pool in-flight + 1) / number
 * of available peers), f = hash_factor / 100 (1.25 by default); a hot URL then spills to its
 * runner-up instead of piling onto one peer. hash_factor 0: no bound, a URL stays on its peer
 * while that one can take it (caches: every spill is a miss and a second copy).
 * One pass keeps the best score within the bound and the best score overall: the first is the
 * answer when it exists; otherwise (the bound cannot be met among the peers left, e.g. the others
 * were tried) the highest-scoring peer with room still serves rather than failing. */
static gw_peer *hash_pick(void *state, gw_pool *pool, gw_str key, const uint8_t *tried, double now)
{
    uint32_t kh = gw_hash_str(key.p ? key.p : "", key.n);
    unsigned navail = 0;
    for (unsigned i = 0; i < pool->npeers; i++)
        navail += gw_peer_available(&pool->peers[i], now) != 0;
    if (navail == 0) return NULL;

    /* ceil(factor * (m + 1) / (100 * navail)) in integers: exact, no rounding surprises */
    uint64_t den = 100ull * navail;
    uint64_t m1 = (uint64_t)gw_atomic_get(&pool->inflight) + 1;
    uint64_t bound = pool->hash_factor ? (pool->hash_factor * m1 + den - 1) / den : UINT64_MAX;

    gw_peer *in_bound = NULL, *any = NULL;
    uint64_t in_bound_s = 0, any_s = 0;
    for (unsigned i = 0; i < pool->npeers; i++) {
        if (!gw_peer_pickable(pool, i, tried, now)) continue;
        gw_peer *p = &pool->peers[i];
        uint64_t s = score(p->hash, kh);
        /* strict '>': on equal scores (duplicate names) the earlier peer wins, deterministically */
        if (any == NULL || s > any_s) {
            any = p;
            any_s = s;
        }
        if ((uint64_t)gw_atomic_get(&p->inflight) + 1 <= bound &&
            (in_bound == NULL || s > in_bound_s)) {
            in_bound = p;
            in_bound_s = s;
        }
    }
    return in_bound ? in_bound : any;
}

const gw_balancer_ops gw_balance_hash = {
    .name = "hash",
    .init = hash_init,
    .destroy = hash_destroy,
    .pick = hash_pick,
};
