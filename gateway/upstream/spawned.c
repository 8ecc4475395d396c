/* Spawned apps as pools: the pools of "spawn:NAME" backends bound to the running apps (each
 * peer one process slot, addressed by the slot's socket), and spawn/'s news carried to the
 * upstream engine. The one place that knows both pools and apps. */
#include "config.h"

#include "gateway/upstream/spawned.h"

#include <string.h>

#include "gateway/base/alloc.h"
#include "gateway/upstream/upstream.h"

/* Every pool bound to an app, over every live generation. Changed by the main thread; read by
 * any worker (to wake the pools of an app) under the lock. */
static pthread_mutex_t bound_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_pool **bound;
static size_t nbound;

/* Wake every pool bound to `app` (any thread; a pool is freed only after it is unbound). */
static void wake_app(spawn_app *app)
{
    pthread_mutex_lock(&bound_lock);
    for (size_t i = 0; i < nbound; i++)
        if (bound[i]->app == app) gw_upstream_pool_wake(bound[i]);
    pthread_mutex_unlock(&bound_lock);
}

static void on_changed(spawn_app *app)
{
    wake_app(app);
}

/* Each pool of `app` learns how many others share its slots. Under the lock. */
static void count_siblings(spawn_app *app)
{
    int n = -1;
    for (size_t i = 0; i < nbound; i++) n += bound[i]->app == app;
    for (size_t i = 0; i < nbound; i++)
        if (bound[i]->app == app) gw_atomic_set(&bound[i]->app_siblings, n);
}

/* The slot is no longer usable: every worker closes its idle connections to it. */
static void on_stopping(spawn_slot *slot)
{
    gw_workers_ask_all(GW_WK_RECLAIM);
}

static unsigned on_waiting(spawn_app *app)
{
    size_t n = 0;
    pthread_mutex_lock(&bound_lock);
    for (size_t i = 0; i < nbound; i++)
        if (bound[i]->app == app) n += gw_atomic_get(&bound[i]->backlog.len);
    pthread_mutex_unlock(&bound_lock);
    return (unsigned)n;
}

const spawn_hooks gw_spawned_hooks = {on_changed, on_stopping, on_waiting};

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
     * to one app, keep theirs: a pinning protocol's connections count against the slot's cap
     * in every pool, and idle ones are reclaimed when another pool's requests wait) */
    for (size_t i = 0; i < nbound; i++) {
        if (bound[i]->app != app || pool_of(rt, bound[i])) continue;
        gw_atomic_set(&bound[i]->app_stale, 1);
        gw_workers_ask_all(GW_WK_RECLAIM);
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
    pthread_mutex_lock(&bound_lock);
    bound = gw_xreallocarray(bound, nbound + 1, sizeof(*bound));
    bound[nbound++] = pool;
    count_siblings(app);
    pthread_mutex_unlock(&bound_lock);
}

spawn_plan *gw_spawned_prepare(gw_rt *rt, char **err)
{
    /* (set once, at start-up, before the workers run) */
    if (gw_upstream_app_wake != wake_app) gw_upstream_app_wake = wake_app;
    if (gw_upstream_app_waiting != on_waiting) gw_upstream_app_waiting = on_waiting;
    return spawn_sync_prepare((const spawn_conf *const *)rt->apps, rt->napps, err);
}

void gw_spawned_bind(gw_rt *rt, spawn_plan *plan)
{
    spawn_set_host_limits(rt->max_procs_total, rt->memory_pressure);
    spawn_sync_commit(plan);
    for (size_t i = 0; i < rt->npools; i++)
        if (rt->pools[i]->app_name) bind_pool(rt, rt->pools[i]);
}

void gw_spawned_unbind(gw_pool *pool)
{
    if (pool->app == NULL) return;
    pthread_mutex_lock(&bound_lock);
    for (size_t i = 0; i < nbound; i++) {
        if (bound[i] != pool) continue;
        bound[i] = bound[--nbound];
        break;
    }
    count_siblings(pool->app);
    pthread_mutex_unlock(&bound_lock);
    for (unsigned i = 0; i < pool->npeers; i++) pool->peers[i].slot = NULL;
    spawn_app_unref(pool->app);
    pool->app = NULL;
    pthread_mutex_lock(&bound_lock);
    if (nbound == 0) {
        free(bound);
        bound = NULL;
    }
    pthread_mutex_unlock(&bound_lock);
}
