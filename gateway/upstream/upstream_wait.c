/* The waiting side of the upstream engine: a pool's backlog over every worker. Handing freed
 * capacity to the oldest waiters (at once on this worker, through a mailbox on another), idle
 * FastCGI connections handed over or reclaimed, the waiters' timers. upstream.c decides when
 * a request waits; nothing here knows client connections. */
#include "config.h"

#include "gateway/upstream/upstream_int.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/upstream/balance.h"
#include "gateway/worker.h"

static _Thread_local int wake_depth; /* > 0 while this thread hands capacity to waiters */

static int wake_pass(gw_pool *pool, int defer);

static gw_exchange *of_node(gw_backlog_node *n)
{
    return (gw_exchange *)((char *)n - offsetof(gw_exchange, bl));
}

int gw_up_app_waitable(spawn_app *app)
{
    gw_main_lock();
    int r = spawn_app_waitable(app);
    gw_main_unlock();
    return r;
}

/* Can waiter `w` expect room on a peer of its pool? `used[i]`: room on peer i already handed to
 * earlier waiters in this pass. A worker's idle connections to a pinning peer are room for its
 * own waiters only (another worker's waiter would open a connection of its own). */
static int room_for(gw_pool *pool, const gw_exchange *w, double t, uint16_t *used,
                    unsigned *reserved)
{
    for (unsigned i = 0; i < pool->npeers; i++) {
        gw_peer *p = &pool->peers[i];
        if (!gw_peer_available(p, t) || gw_tried(w->tried, i) || w->pin) continue;
        if (w->peer_name && strcmp(w->peer_name, p->name) != 0) continue;
        unsigned cap = gw_peer_cap(p);
        if (cap == 0) return 1;
        unsigned own = p->pins && w->worker == gw_self->index ? p->idle[w->worker].n : 0;
        unsigned load = __atomic_load_n(gw_peer_load(p), __ATOMIC_SEQ_CST);
        /* (room already handed to waiters still in a mailbox is theirs) */
        while (*reserved > 0 && load + used[i] < cap) {
            used[i]++;
            (*reserved)--;
        }
        if (load + used[i] < cap + own) {
            used[i]++;
            return 1;
        }
    }
    return 0;
}

/* Hand `w` its turn on its own worker: at once on this thread (after the pass), else, or when
 * `defer`, through its worker's mailbox. Under the pool's lock. */
static void hand_over(gw_exchange *w, gw_exchange ***mine, int defer)
{
    w->woken = 1;
    w->mnext = NULL;
    if (w->worker == gw_self->index && !defer) {
        **mine = w;
        *mine = &w->mnext;
        return;
    }
    __atomic_fetch_add(&w->pool->in_transit, 1, __ATOMIC_SEQ_CST);
    gw_worker *wk = &gw_workers[w->worker];
    pthread_mutex_lock(&wk->lock);
    w->mnext = wk->woken; /* (taken oldest first: see gw_upstream_mailbox) */
    wk->woken = w;
    pthread_mutex_unlock(&wk->lock);
    ev_async_send(wk->loop, &wk->doorbell);
}

void (*gw_upstream_app_wake)(spawn_app *app);
unsigned (*gw_upstream_app_waiting)(spawn_app *app);

/* Capacity freed in `pool` (any thread): hand it to the oldest waiting requests, each on its own
 * worker. */
void gw_up_wake_backlog(gw_pool *pool)
{
    /* a spawned app's slots are shared by every pool that reaches the app */
    if (pool->app && gw_atomic_get(&pool->app_siblings) && gw_upstream_app_wake) {
        gw_upstream_app_wake(pool->app);
        return;
    }
    gw_up_wake_pool(pool);
    /* a backend another pool names too (another route, or the other generation during a
     * reload): its waiters may use what was freed (through their workers' mailboxes: the
     * registry's lock is held) */
    if (gw_atomic_get(&pool->shares)) gw_pool_each_waiting_sharer(pool, gw_upstream_pool_wake);
}

/* Each waiter gets one try. A peer with room is not necessarily one a given request may use (it
 * already failed there, or X-Rewrite-Backend names another); such a request queues again at the
 * tail, and the others get another pass (a few at most). */
void gw_up_wake_pool(gw_pool *pool)
{
    for (int pass = 0; pass < 4 && wake_pass(pool, 0) > 0; pass++) continue;
}

/* From outside the engine (health, spawn/): the caller may hold locks a dispatch could need
 * (spawned.c's list of pools), so even this worker's waiters go through its mailbox. */
void gw_upstream_pool_wake(gw_pool *pool)
{
    wake_pass(pool, 1);
}

/* One pass over the backlog. Returns how many of this worker's waiters went back to it. */
static int wake_pass(gw_pool *pool, int defer)
{
    if (__atomic_load_n(&pool->backlog.len, __ATOMIC_SEQ_CST) == 0) return 0;
    /* back-off with nothing alive: each waiter's dispatch answers 503 (spawn/ says so on the
     * main thread: from another one, the main lock may not be taken here, see spawned.c) */
    int all = pool->app && gw_on_main() && !spawn_app_waitable(pool->app);
    /* (the waker's loop clock, as the waiters' dispatch reads theirs) */
    double t = gw_self->loop ? ev_now(gw_self->loop) : ev_time();
    uint16_t used[GW_MAX_PEERS];
    memset(used, 0, pool->npeers * sizeof(used[0]));
    gw_exchange *mine = NULL, **tail = &mine;
    pthread_mutex_lock(&pool->lock);
    unsigned reserved = __atomic_load_n(&pool->in_transit, __ATOMIC_SEQ_CST);
    size_t n = pool->backlog.len, before = n;
    for (gw_backlog_node *nd = pool->backlog.head, *next; nd && n > 0; nd = next, n--) {
        next = nd->next;
        gw_exchange *w = of_node(nd);
        if (!all && !room_for(pool, w, t, used, &reserved)) {
            if (w->worker != gw_self->index) break; /* (no room but this worker's own idle) */
            continue;
        }
        gw_backlog_remove(&pool->backlog, nd);
        hand_over(w, &tail, defer);
    }
    gw_pool_backlog_changed(pool, before);
    pthread_mutex_unlock(&pool->lock);
    int again = 0;
    wake_depth++;
    while (mine) {
        gw_exchange *w = mine;
        mine = w->mnext;
        w->woken = 0;
        w->via_wake = 1;
        ev_timer_stop(w->loop, &w->timer);
        gw_up_dispatch(w);
        again += w->state == UP_QUEUED;
    }
    wake_depth--;
    return again;
}

void gw_upstream_mailbox(gw_worker *wk)
{
    for (;;) { /* one at a time: running one may free another still in the box */
        pthread_mutex_lock(&wk->lock);
        gw_exchange **pp = &wk->woken;
        if (*pp == NULL) {
            pthread_mutex_unlock(&wk->lock);
            return;
        }
        while ((*pp)->mnext) pp = &(*pp)->mnext; /* the oldest: pushed first */
        gw_exchange *up = *pp;
        *pp = NULL;
        pthread_mutex_unlock(&wk->lock);
        up->woken = 0;
        up->via_wake = 1;
        __atomic_fetch_sub(&up->pool->in_transit, 1, __ATOMIC_SEQ_CST);
        if (up->gift) { /* another worker's idle connection, with its capacity */
            gw_up_idle_adopt(up->gift);
            up->gift = NULL;
        }
        gw_up_cb_enter(up);
        ev_timer_stop(up->loop, &up->timer);
        gw_up_dispatch(up);
        gw_up_cb_leave(up);
    }
}

void gw_up_gift(gw_pool *pool, gw_upconn *uc)
{
    pthread_mutex_lock(&pool->lock);
    gw_exchange *w = NULL;
    const gw_peer *p = uc->peer;
    for (gw_backlog_node *nd = pool->backlog.head; nd && !w; nd = nd->next) {
        gw_exchange *c = of_node(nd); /* (one that may use this very backend) */
        if (c->worker != gw_self->index && !gw_tried(c->tried, p->index) && !c->pin &&
            (c->peer_name == NULL || strcmp(c->peer_name, p->name) == 0))
            w = c;
    }
    if (w) {
        gw_backlog_remove(&pool->backlog, &w->bl);
        gw_pool_backlog_changed(pool, pool->backlog.len + 1);
        w->gift = uc;
        hand_over(w, NULL, 1);
    }
    pthread_mutex_unlock(&pool->lock);
    if (w == NULL) gw_up_uc_close(uc); /* (its capacity goes to whoever waits now) */
}

void gw_up_mailbox_remove(gw_exchange *up)
{
    gw_worker *wk = &gw_workers[up->worker];
    int found = 0;
    pthread_mutex_lock(&wk->lock);
    for (gw_exchange **pp = &wk->woken; *pp; pp = &(*pp)->mnext) {
        if (*pp == up) {
            *pp = up->mnext;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&wk->lock);
    if (found) __atomic_fetch_sub(&up->pool->in_transit, 1, __ATOMIC_SEQ_CST);
    up->woken = 0;
    if (up->gift) { /* (closed: its capacity goes to the next waiter) */
        up->gift->loop = up->loop;
        up->gift->up = NULL;
        gw_up_uc_close(up->gift);
        up->gift = NULL;
    }
}

/* How long a queued request sleeps: until its backlog-timeout, or until the first disabled peer
 * of its pool comes back (a disable-time ending is not an event of its own). */
/* How long a request may wait for its pool's cold app (spawn/ says, under the main lock: not
 * to be asked with a pool's lock held). */
static double cold_wait(const gw_pool *pool)
{
    if (pool->app == NULL) return 0;
    gw_main_lock();
    double w = spawn_app_cold_wait(pool->app);
    gw_main_unlock();
    return w;
}

static double queue_deadline(const gw_exchange *up, double cold)
{
    double limit = up->route->backlog_timeout;
    if (cold > limit) limit = cold; /* (a cold app may take that long) */
    return up->queued_at + limit;
}

static double queue_wait(const gw_exchange *up, double t, double cold)
{
    double until = queue_deadline(up, cold);
    const gw_pool *pool = up->pool;
    for (unsigned i = 0; i < pool->npeers; i++) {
        const gw_peer *p = &pool->peers[i];
        double d = gw_peer_disabled_until(p);
        if (gw_atomic_get(&p->health) == GW_PEER_UP && d > t && d < until) until = d;
    }
    return until - t > 0.001 ? until - t : 0.001;
}

/* A peer of `pool` was just disabled: each waiter's sleep must end when it comes back, not only
 * at the waiter's backlog-timeout (computed when it queued, before this peer failed). The timers
 * of this worker's waiters; another worker's waiters try again when capacity frees, or at
 * their deadline. */
static int rearm_waiters(gw_pool *pool, double t)
{
    int foreign = 0;
    double cold = cold_wait(pool);
    pthread_mutex_lock(&pool->lock);
    for (gw_backlog_node *n = pool->backlog.head; n; n = n->next) {
        gw_exchange *w = of_node(n);
        if (w->worker == gw_self->index)
            gw_up_set_timer(w, queue_wait(w, t, cold));
        else
            foreign = 1;
    }
    pthread_mutex_unlock(&pool->lock);
    return foreign;
}

void gw_upstream_rearm(gw_pool *const *pools, size_t n)
{
    double t = ev_now(gw_self->loop);
    for (size_t i = 0; i < n; i++)
        if (gw_atomic_get(&pools[i]->backlog.len) > 0) rearm_waiters(pools[i], t);
}

/* Requests queue on a pinning pool: idle connections other workers keep may hold the capacity
 * (one backend process each); ask for them. */
static void ask_reclaim(gw_pool *pool)
{
    for (unsigned i = 0; i < pool->npeers; i++) {
        gw_peer *p = &pool->peers[i];
        /* (sequentially consistent, as the backlog's length the finishing side reads: one of
         * the two sides sees the other) */
        unsigned idle = p->slot    ? __atomic_load_n(&p->slot->idle, __ATOMIC_SEQ_CST)
                        : p->count ? __atomic_load_n(&p->count->idle, __ATOMIC_SEQ_CST)
                                   : 0;
        if (idle > p->idle[gw_self->index].n || (p->slot && idle > 0)) {
            gw_workers_ask_all(GW_WK_RECLAIM);
            return;
        }
    }
}

void gw_up_enqueue(gw_exchange *up, double t)
{
    gw_pool *pool = up->pool;
    pthread_mutex_lock(&pool->lock);
    if (pool->backlog.len >= up->route->max_backlog) {
        pthread_mutex_unlock(&pool->lock);
        gw_up_fail(up, 503, "backlog full");
        return;
    }
    up->state = UP_QUEUED;
    if (up->queued_at == 0) {
        up->queued_at = t;
        gw_backlog_push(&pool->backlog, &up->bl, t);
    } else { /* a re-queue keeps its deadline and its place */
        gw_backlog_insert(&pool->backlog, &up->bl, up->queued_at);
    }
    gw_pool_backlog_changed(pool, pool->backlog.len - 1);
    pthread_mutex_unlock(&pool->lock);
    gw_up_set_timer(up, queue_wait(up, t, cold_wait(pool)));
    if (pool->app) { /* (starts processes; calls no op) */
        gw_main_lock();
        spawn_app_demand(pool->app);
        gw_main_unlock_wake();
    }
    if (pool->npeers && pool->peers[0].pins) ask_reclaim(pool);
    /* capacity freed on another worker between the pick and the push saw no waiter: look again
     * (not from inside a wake: that pass goes on) */
    if (wake_depth == 0) gw_up_wake_backlog(pool);
}

/* Is it still in its pool's backlog (not yet handed capacity)? */
static int queued(gw_exchange *up)
{
    pthread_mutex_lock(&up->pool->lock);
    int q = up->bl.queued;
    pthread_mutex_unlock(&up->pool->lock);
    return q;
}

int gw_up_unqueue(gw_exchange *up)
{
    pthread_mutex_lock(&up->pool->lock);
    int q = up->bl.queued;
    size_t before = up->pool->backlog.len;
    gw_backlog_remove(&up->pool->backlog, &up->bl);
    gw_pool_backlog_changed(up->pool, before);
    pthread_mutex_unlock(&up->pool->lock);
    return q;
}

void gw_up_rearm_waiters(gw_exchange *up)
{
    if (rearm_waiters(up->pool, gw_up_now(up))) /* (and other workers' waiters) */
        for (unsigned i = 0; i < gw_nworkers; i++)
            if (i != up->worker) gw_worker_ask(&gw_workers[i], GW_WK_REARM);
}

void gw_up_queue_timer(gw_exchange *up)
{
    double t = gw_up_now(up);
    if (!queued(up)) return; /* a backlog handed it capacity: its mailbox runs it */
    double cold = cold_wait(up->pool);
    if (t < queue_deadline(up, cold)) { /* a disabled peer is back */
        gw_up_wake_backlog(up->pool);   /* (may serve, or end, this very request) */
        if (!up->dead && up->state == UP_QUEUED) gw_up_set_timer(up, queue_wait(up, t, cold));
        return;
    }
    gw_up_wake_backlog(up->pool); /* a last try: a peer may have come back just now */
    if (up->dead || up->state != UP_QUEUED || !gw_up_unqueue(up)) return;
    gw_up_end(up, UP_FAILED, 503, "backlog timeout");
}
