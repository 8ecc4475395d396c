/* What the balancers share: the string hash (also used by the pool) and the rotating cursor.
 * The list of balancers by name is in registry.c. Knows nothing of sockets or the loop. */
#include <stdlib.h>
#include <string.h>

#include "gateway/upstream/balance.h"

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
