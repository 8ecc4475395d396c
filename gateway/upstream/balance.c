/* The balancer registry and the string hash shared by the pool and the hash balancer.
 * Knows the algorithms only by their ops tables; knows nothing of sockets or the loop. */
#include <stdlib.h>
#include <string.h>

#include "gateway/upstream/balance.h"

static const gw_balancer_ops *const balancers[] = {
    &gw_balance_sqf,
    &gw_balance_rr,
    &gw_balance_hash,
    &gw_balance_static,
};

/* "carp" is lighttpd's name for its hash balancer; accepted so lighttpd configs carry over. */
const gw_balancer_ops *gw_balancer_find(const char *name)
{
    if (name == NULL) return &gw_balance_sqf; /* the documented default */
    if (strcmp(name, "carp") == 0) return &gw_balance_hash;
    for (size_t i = 0; i < sizeof(balancers) / sizeof(balancers[0]); i++)
        if (strcmp(name, balancers[i]->name) == 0) return balancers[i];
    return NULL;
}

/* FNV-1a spreads short, similar strings ("10.0.0.1:80", "10.0.0.2:80") poorly in the high
 * bits, so the murmur3 finaliser runs after it to make every input bit reach every output bit. */
uint32_t gw_hash_str(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

void *gw_balance_cursor_new(gw_pool *pool)
{
    return gw_xcalloc(1, sizeof(gw_balance_cursor));
}

void gw_balance_cursor_free(void *state)
{
    free(state);
}
