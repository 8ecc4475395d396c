/* Spawned apps as pools: the pools of "spawn:NAME" backends bound to the running apps (each
 * peer one process slot, addressed by the slot's socket), and spawn/'s news carried to the
 * upstream engine. The one place that knows both pools and apps. */
#include "config.h"

#include "gateway/upstream/spawned.h"

#include <string.h>

#include "gateway/base/alloc.h"
#include "gateway/upstream/upstream.h"

/* Every pool bound to an app, over every live generation. */
static gw_pool **bound;
static size_t nbound;

static void on_changed(spawn_app *app)
{
    for (size_t i = 0; i < nbound; i++)
        if (bound[i]->app == app) gw_upstream_pool_wake(bound[i]);
}

static void on_stopping(spawn_slot *slot)
{
    for (size_t i = 0; i < nbound; i++)
        if (bound[i]->app == slot->app && slot->index < bound[i]->npeers)
            gw_upstream_peer_close_idle(&bound[i]->peers[slot->index]);
}

static unsigned on_waiting(spawn_app *app)
{
    size_t n = 0;
    for (size_t i = 0; i < nbound; i++)
        if (bound[i]->app == app) n += bound[i]->backlog.len;
    return (unsigned)n;
}

const spawn_hooks gw_spawned_hooks = {on_changed, on_stopping, on_waiting};

static void bind_pool(gw_pool *pool)
{
    spawn_app *app = spawn_app_find(pool->app_name);
    if (app == NULL) return; /* (cannot happen: the generation's apps were just synced) */
    /* an older generation's pool for the same app keeps no idle connection from now on: it
     * would pin a process this pool's requests need */
    for (size_t i = 0; i < nbound; i++) {
        if (bound[i]->app != app) continue;
        bound[i]->app_stale = 1;
        gw_upstream_pool_release(bound[i]);
    }
    spawn_app_ref(app);
    pool->app = app;
    unsigned n = spawn_app_nslots(app);
    for (unsigned i = 0; i < pool->npeers; i++) {
        gw_peer *p = &pool->peers[i];
        p->slot = i < n ? spawn_app_slot(app, i) : NULL;
        if (p->slot == NULL) continue;
        memcpy(&p->sa, &p->slot->sa, sizeof(p->sa));
        p->salen = p->slot->salen;
        p->max_inflight = p->slot->cap; /* the idle-connection bound (upstream_io.c) */
    }
    bound = gw_xreallocarray(bound, nbound + 1, sizeof(*bound));
    bound[nbound++] = pool;
}

int gw_spawned_bind(gw_rt *rt, char **err)
{
    if (spawn_sync((const spawn_conf *const *)rt->apps, rt->napps, err) != GW_OK) return GW_ERR;
    for (size_t i = 0; i < rt->npools; i++)
        if (rt->pools[i]->app_name) bind_pool(rt->pools[i]);
    return GW_OK;
}

void gw_spawned_unbind(gw_pool *pool)
{
    if (pool->app == NULL) return;
    for (size_t i = 0; i < nbound; i++) {
        if (bound[i] != pool) continue;
        bound[i] = bound[--nbound];
        break;
    }
    for (unsigned i = 0; i < pool->npeers; i++) pool->peers[i].slot = NULL;
    spawn_app_unref(pool->app);
    pool->app = NULL;
    if (nbound == 0) {
        free(bound);
        bound = NULL;
    }
}
