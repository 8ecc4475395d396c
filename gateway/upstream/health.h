/* Active health checks (proxy-core.health-check): every interval, a real request in the pool's
 * own protocol to each peer, run as an exchange (exchange.h) pinned to that peer; a peer is down
 * after 2 failures in a row and up again after 2 successes. Knows the loop and the exchange
 * contract, not sockets or a protocol's bytes. Checks hold a slot of the peer's max-pool-size
 * while they run (a peer at its cap is not checked that round) and are not counted in the
 * peer's request, response or failure metrics. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <ev.h>

#include "gateway/upstream/pool.h"

/* Start checking every peer of `pool` (pool->hc_path, pool->hc_interval; a check that takes
 * longer than the interval, at most 10 s, fails, and so does an answer whose body is over
 * 64 KiB or whose head is over the engine's 64 KiB read buffer). The first round runs at once. */
void gw_health_start(struct ev_loop *loop, gw_pool *pool);
/* Stop and free the pool's checks (before the pool is freed). No-op if none run. */
void gw_health_stop(gw_pool *pool);
/* Whether two pools check their backends the same way (protocol, path, interval, status): a
 * backend both reach is checked once, and both follow that check's verdict. */
int gw_health_same_check(const gw_pool *a, const gw_pool *b);

/* Called when a peer changes state (set by the upstream engine: a peer that comes up frees
 * capacity for the backlog). */
extern void (*gw_health_changed)(gw_pool *pool, gw_peer *peer);

#endif
