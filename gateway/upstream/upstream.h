/* The upstream engine: runs exchanges (exchange.h) against backend pools: picks a peer, connects
 * or reuses a kept-alive connection, sends the request through the protocol's ops, receives the
 * response, with timeouts, the backlog and re-dispatch after failures. The only place that turns
 * backend trouble into a retry or a status code. Knows nothing of client connections. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include "gateway/upstream/exchange.h"
#include "gateway/upstream/pool.h"

struct gw_worker;

/* Free the calling thread's recycled exchanges and connection structs (exit). */
void gw_upstream_pool_trim(void);
/* Capacity may have appeared in `pool` (a peer came back): start waiting requests, on whichever
 * worker they wait. Any thread. */
void gw_upstream_pool_wake(gw_pool *pool);
/* Close the calling worker's idle connections of a pool (its generation was replaced, or is
 * freed). */
void gw_upstream_pool_release(gw_pool *pool);
/* Close the calling worker's idle connections that must go or that another request needs: of a
 * retired pool, to a process slot no longer usable, and on a pinning pool (FastCGI) whose
 * capacity requests wait for. `pools`: the worker's current generation's. */
void gw_upstream_reclaim(gw_pool *const *pools, size_t n);
/* Reset the timers of the calling worker's waiters in `pools` (a peer was disabled elsewhere:
 * they must wake when it returns). */
void gw_upstream_rearm(gw_pool *const *pools, size_t n);
/* Set by gateway/upstream/spawned.c: capacity freed on a spawned app's slot; wake every pool
 * bound to the app (any thread). */
extern void (*gw_upstream_app_wake)(spawn_app *app);
/* Set by gateway/upstream/spawned.c: how many requests wait for the app, in every pool bound to
 * it (any thread). */
extern unsigned (*gw_upstream_app_waiting)(spawn_app *app);
/* The worker's doorbell: run the exchanges a backlog handed capacity to (gateway/worker.c). */
void gw_upstream_mailbox(struct gw_worker *w);
/* Graceful shutdown began: keep no backend connection alive and recycle no exchange. */
void gw_upstream_shutdown(void);

#endif
