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

/* A pool opens a connection to a slot: every other pool's idle connections to it go. Two routes
 * to one app have two pools, and each pool bounds only its own idle connections: a process that
 * serves one connection at a time (php-cgi with FCGI_KEEP_CONN) would otherwise wait on the
 * other pool's kept connection while this request waits on it. */
static void on_slot_connect(gw_peer *p)
{
    for (size_t i = 0; i < nbound; i++) {
        gw_pool *b = bound[i];
        if (b == p->pool || b->app != p->slot->app || p->slot->index >= b->npeers) continue;
        gw_upstream_peer_close_idle(&b->peers[p->slot->index]);
    }
}

static int pool_of(const gw_rt *rt, const gw_pool *pool)
{
    for (size_t i = 0; i < rt->npools; i++)
        if (rt->pools[i] == pool) return 1;
    return 0;
}

static void bind_pool(gw_rt *rt, gw_pool *pool)
{
    spawn_app *app = spawn_app_find(pool->app_name);
    if (app == NULL) return; /* (cannot happen: the generation's apps were just synced) */
    /* an older generation's pool for the same app keeps no idle connection from now on: it
     * would pin a process this pool's requests need (this generation's pools, several routes
     * to one app, keep theirs: on_slot_connect settles between them) */
    for (size_t i = 0; i < nbound; i++) {
        if (bound[i]->app != app || pool_of(rt, bound[i])) continue;
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
    gw_upstream_slot_connect = on_slot_connect;
    bound = gw_xreallocarray(bound, nbound + 1, sizeof(*bound));
    bound[nbound++] = pool;
}

spawn_plan *gw_spawned_prepare(gw_rt *rt, char **err)
{
    return spawn_sync_prepare((const spawn_conf *const *)rt->apps, rt->napps, err);
}

void gw_spawned_bind(gw_rt *rt, spawn_plan *plan)
{
    spawn_sync_commit(plan);
    for (size_t i = 0; i < rt->npools; i++)
        if (rt->pools[i]->app_name) bind_pool(rt, rt->pools[i]);
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
