/* Spawned apps as pools: binds the pools of "spawn:NAME" backends to the running apps of spawn/
 * (each peer one process slot) and carries spawn/'s news to the upstream engine. */
#ifndef GW_SPAWNED_H
#define GW_SPAWNED_H

#include "gateway/config/route.h"

/* What spawn_init gets: wake or fail waiting requests, drop idle connections, count waiters. */
extern const spawn_hooks gw_spawned_hooks;

/* The apps `rt` needs, made but not running yet (spawn_sync_prepare): NULL with *err when a
 * socket cannot be made. Nothing changes until gw_spawned_bind; spawn_sync_abort drops it. */
spawn_plan *gw_spawned_prepare(gw_rt *rt, char **err);
/* Make the running apps what `rt` says (the plan of gw_spawned_prepare for `rt`) and bind rt's
 * app pools to them. Call when nothing can fail any more, before `rt` becomes current. */
void gw_spawned_bind(gw_rt *rt, spawn_plan *plan);
/* A pool is being freed: let go of its app. */
void gw_spawned_unbind(gw_pool *pool);

#endif
