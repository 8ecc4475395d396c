/* Spawned apps as pools: binds the pools of "spawn:NAME" backends to the running apps of spawn/
 * (each peer one process slot) and carries spawn/'s news to the upstream engine. */
#ifndef GW_SPAWNED_H
#define GW_SPAWNED_H

#include "gateway/config/route.h"

/* What spawn_init gets: wake or fail waiting requests, drop idle connections, count waiters. */
extern const spawn_hooks gw_spawned_hooks;

/* Make the running apps what `rt` says (spawn_sync) and bind rt's app pools to them. Call before
 * `rt` becomes current. Returns GW_OK, or GW_ERR with *err (nothing changed then). */
int gw_spawned_bind(gw_rt *rt, char **err);
/* A pool is being freed: let go of its app. */
void gw_spawned_unbind(gw_pool *pool);

#endif
