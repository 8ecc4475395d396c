/* The upstream engine: runs exchanges (exchange.h) against backend pools: picks a peer, connects
 * or reuses a kept-alive connection, sends the request through the protocol's ops, receives the
 * response, with timeouts, the backlog and re-dispatch after failures. The only place that turns
 * backend trouble into a retry or a status code. Knows nothing of client connections. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include "gateway/upstream/exchange.h"
#include "gateway/upstream/pool.h"

/* Free the recycled exchanges (exit). */
void gw_upstream_pool_trim(void);
/* Capacity may have appeared in `pool` (a peer came back): start waiting requests. */
void gw_upstream_pool_wake(gw_pool *pool);
/* Close every idle connection of a pool (config generation freed). */
void gw_upstream_pool_release(gw_pool *pool);
/* Close the peer's idle kept-alive connections (a spawned process about to stop). */
void gw_upstream_peer_close_idle(gw_peer *p);
/* Set by gateway/upstream/spawned.c: a new connection is about to be made to a spawned app's
 * process slot (peer->slot); the idle connections other pools keep to that slot go first. */
extern void (*gw_upstream_slot_connect)(gw_peer *p);
/* Graceful shutdown began: keep no backend connection alive and recycle no exchange. */
void gw_upstream_shutdown(void);

#endif
