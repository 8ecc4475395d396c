/* The upstream engine: one backend exchange per request, for any starter (exchange.h). This
 * file owns the exchange's life: picking a peer, the backlog, timeouts, retries, the decision
 * between retrying and answering 502/503/504, and when the starter's ops run. Sockets and bytes
 * are upstream_io.c's, protocol bytes the adapter's. Knows nothing of client connections. */
#include "config.h"

#include "gateway/upstream/upstream_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/alloc.h"
#include "gateway/base/log.h"
#include "gateway/upstream/balance.h"
#include "gateway/worker.h"

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_up_kick(struct ev_loop *loop, ev_idle *w, int revents);
static void dispatch(gw_exchange *up);
static int wake_pass(gw_pool *pool, int defer);

static _Thread_local int api_depth;  /* > 0 while a starter is inside a gw_exchange_* call */
static _Thread_local int wake_depth; /* > 0 while this thread hands capacity to waiters */
int gw_up_stopping;                  /* graceful shutdown: keep nothing alive */

/* May ops run now? Only under this exchange's own callback, and not inside a starter's call. */
static int direct(const gw_exchange *up)
{
    return up->in_cb > 0 && api_depth == 0;
}

void gw_up_kick(gw_exchange *up)
{
    ev_feed_event(up->loop, &up->kick, EV_CUSTOM);
}

/* Run the owed final op (done or error); the exchange is recycled after it. */
static void deliver_final(gw_exchange *up)
{
    int st = up->state;
    up->state = UP_DONE;
    up->dead = 1;
    if (st == UP_FAILED)
        up->ops->error(up->ctx, up->err_status, up->why);
    else
        up->ops->done(up->ctx, &up->rsp);
}

/* The exchange is over: owe the final op, and run it now if the rule allows. */
void gw_up_end(gw_exchange *up, int state, int status, const char *why)
{
    up->state = state;
    up->err_status = status;
    if (why == NULL)
        up->why[0] = '\0';
    else if (why != up->why)
        snprintf(up->why, sizeof(up->why), "%s", why);
    if (direct(up))
        deliver_final(up);
    else
        gw_up_kick(up);
}

void gw_upstream_shutdown(void)
{
    gw_atomic_set(&gw_up_stopping, 1);
}

static gw_exchange *of_node(gw_backlog_node *n)
{
    return (gw_exchange *)((char *)n - offsetof(gw_exchange, bl));
}

/* spawn/ is the main thread's: asked under the main lock from another worker. */
static int app_waitable(spawn_app *app)
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
    size_t n = pool->backlog.len;
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
    pthread_mutex_unlock(&pool->lock);
    int again = 0;
    wake_depth++;
    while (mine) {
        gw_exchange *w = mine;
        mine = w->mnext;
        w->woken = 0;
        w->via_wake = 1;
        ev_timer_stop(w->loop, &w->timer);
        dispatch(w);
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
        dispatch(up);
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
        w->gift = uc;
        hand_over(w, NULL, 1);
    }
    pthread_mutex_unlock(&pool->lock);
    if (w == NULL) gw_up_uc_close(uc); /* (its capacity goes to whoever waits now) */
}

/* An exchange leaves its worker's mailbox unrun (it is freed). */
static void mailbox_remove(gw_exchange *up)
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

/* Set the peer's last error (status shows it; other workers read it under the lock). */
static void set_last_error(gw_peer *p, const char *why)
{
    pthread_mutex_lock(&p->pool->lock);
    snprintf(p->last_error, sizeof(p->last_error), "%s", why);
    pthread_mutex_unlock(&p->pool->lock);
}

/* The peer failed before taking the request: disable it (passive health) and retry elsewhere
 * while retries are left. */
void gw_up_peer_failed(gw_exchange *up, const char *why, const char *when, int status)
{
    gw_peer *p = up->peer;
    gw_up_uc_close(up->uc);
    up->uc = NULL;
    gw_up_set_timer(up, 0);
    gw_up_peer_release(up);
    if (up->probe) {                  /* the checker judges; a check does not disable a peer */
        gw_up_wake_backlog(up->pool); /* (the slot it held is free) */
        gw_up_fail(up, status, why);
        return;
    }
    gw_atomic_add(&p->failures, 1);
    set_last_error(p, why);
    if (p->is_spawn) {
        /* a spawned process: its supervisor sees it die and replaces it on the same socket,
         * so the slot is neither disabled nor excluded from the retry */
        gw_log(GW_LOG_WARN, "backend %s: %s%s", p->name, why, when);
        if (status == 503 && p->slot) { /* (a connect failed) */
            gw_main_lock();
            spawn_slot_refused(p->slot);
            gw_main_unlock_wake();
        }
    } else {
        gw_peer_disable_until(p, gw_up_now(up) + up->route->disable_time);
        if (rearm_waiters(up->pool, gw_up_now(up))) /* (and other workers' waiters) */
            for (unsigned i = 0; i < gw_nworkers; i++)
                if (i != up->worker) gw_worker_ask(&gw_workers[i], GW_WK_REARM);
        gw_log(GW_LOG_WARN, "backend %s: %s%s; disabled for %.0f s", p->name, why, when,
               up->route->disable_time);
        up->tried[p->index >> 3] |= (uint8_t)(1u << (p->index & 7));
    }
    up->fail_status = status;
    gw_up_wake_backlog(up->pool); /* the slot it held is free (the peer may be usable again) */
    if (up->retries < up->route->max_retries) {
        up->retries++;
        gw_atomic_add(&p->retries, 1);
        dispatch(up);
    } else {
        gw_up_fail(up, status, status == 503 ? "no backend accepted the connection" : why);
    }
}

/* "backend NAME METHOD PATH" for log lines, built per request without printf. */
static void make_tag(char *dst, size_t cap, const char *name, const gw_req *rq)
{
    const gw_str parts[] = {GW_STR("backend "), gw_str_from(name), GW_STR(" "),
                            rq->method,         GW_STR(" "),       rq->path};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t k = parts[i].n < cap - 1 - n ? parts[i].n : cap - 1 - n;
        memcpy(dst + n, parts[i].p, k);
        n += k;
    }
    dst[n] = '\0';
}

static int any_waitable(const gw_pool *pool, const uint8_t *tried, double t)
{
    for (unsigned i = 0; i < pool->npeers; i++)
        if (!gw_tried(tried, i) && gw_peer_available(&pool->peers[i], t)) return 1;
    return 0;
}

/* X-Rewrite-Backend: the named peer of this route's pool, if it can take the request now.
 * *unknown is set when no peer has that name (the app may not invent addresses). */
static gw_peer *pick_named(gw_pool *pool, const char *name, const uint8_t *tried, double t,
                           int *unknown, int *waitable)
{
    *unknown = 1;
    *waitable = 0;
    for (unsigned i = 0; i < pool->npeers; i++) {
        gw_peer *p = &pool->peers[i];
        if (strcmp(p->name, name) != 0) continue;
        *unknown = 0;
        if (gw_tried(tried, i) || !gw_peer_available(p, t)) continue;
        if (gw_peer_has_room(p)) return p;
        *waitable = 1;
    }
    return NULL;
}

/* Take a unit of the peer's capacity for `up` (the cap holds across workers: the count is
 * compared and raised in one atomic step). A pinning peer's capacity is its connections: a
 * worker's own idle connection is taken later, and a new one holds a claim until its socket
 * exists. Returns 0 when another worker took the last unit first. */
static int take(gw_exchange *up, gw_peer *p)
{
    unsigned cap = gw_peer_cap(p);
    int own_idle = p->pins && p->idle[up->worker].n > 0;
    if (cap > 0 && !own_idle && (p->pins || !p->slot)) {
        unsigned *load = gw_peer_load(p), cur = __atomic_load_n(load, __ATOMIC_SEQ_CST);
        do {
            if (cur >= cap) return 0;
        } while (!__atomic_compare_exchange_n(load, &cur, cur + 1, 1, __ATOMIC_SEQ_CST,
                                              __ATOMIC_SEQ_CST));
        up->claim = p->pins;
    }
    if (p->slot && !spawn_slot_acquire(p->slot, !p->pins)) { /* (its cap: not pinning) */
        if (up->claim) gw_up_unclaim(p);
        up->claim = 0;
        return 0;
    }
    if (!(cap > 0 && !p->pins && !p->slot)) __atomic_fetch_add(&p->inflight, 1, __ATOMIC_SEQ_CST);
    return 1;
}

/* Requests queue on a pinning pool: idle connections other workers keep may hold the capacity
 * (one backend process each); ask for them. */
static void ask_reclaim(gw_pool *pool)
{
    for (unsigned i = 0; i < pool->npeers; i++) {
        gw_peer *p = &pool->peers[i];
        /* (sequentially consistent, as the backlog's length the finishing side reads: one of
         * the two sides sees the other) */
        unsigned idle = p->slot ? __atomic_load_n(&p->slot->idle, __ATOMIC_SEQ_CST)
                                : __atomic_load_n(&p->nidle, __ATOMIC_SEQ_CST);
        if (idle > p->idle[gw_self->index].n || (p->slot && idle > 0)) {
            gw_workers_ask_all(GW_WK_RECLAIM);
            return;
        }
    }
}

/* Every candidate is at capacity: wait in the pool's backlog. */
static void enqueue(gw_exchange *up, double t)
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

/* Choose a peer (or wait in the backlog, or fail) and go. */
static void dispatch(gw_exchange *up)
{
    gw_pool *pool = up->pool;
    double t = gw_up_now(up);
    gw_peer *p;
    int waitable = 0;
    int woken = up->via_wake;
    up->via_wake = 0;
    /* requests wait, or were handed capacity and have not taken it yet: a new one queues
     * behind them (FIFO over every worker), and the wake it runs after its push hands out
     * what is left */
    if (!woken && !up->pin &&
        (__atomic_load_n(&pool->backlog.len, __ATOMIC_SEQ_CST) > 0 ||
         __atomic_load_n(&pool->in_transit, __ATOMIC_SEQ_CST) > 0) &&
        (any_waitable(pool, up->tried, t) || (pool->app && app_waitable(pool->app)))) {
        enqueue(up, t);
        return;
    }
    for (int race = 0;; race++) {
        waitable = 0;
        if (up->pin) { /* a health check: the peer whatever its state, but within its cap */
            p = gw_peer_has_room(up->pin) ? up->pin : NULL;
        } else if (up->peer_name) {
            int unknown;
            p = pick_named(pool, up->peer_name, up->tried, t, &unknown, &waitable);
            if (unknown) {
                gw_up_fail(up, 502, "X-Rewrite-Backend names no backend of this route");
                return;
            }
        } else {
            p = pool->balancer->pick(pool->bal_state, pool, up->req->path, up->tried, t);
            if (p == NULL)
                waitable = pool->app ? any_waitable(pool, up->tried, t) || app_waitable(pool->app)
                                     : any_waitable(pool, up->tried, t);
        }
        if (p == NULL || take(up, p)) break;
        if (race == 8) { /* other workers keep taking it: wait for a turn */
            p = NULL;
            waitable = 1;
            break;
        }
    }
    if (p == NULL) {
        if (waitable && !up->pin) {
            enqueue(up, t);
            return;
        }
        if (pool->app) {
            gw_up_fail(up, 503, "the app is in back-off after failed starts");
            return;
        }
        if (up->fail_status) { /* a retry found no other backend: the first failure stands */
            gw_up_fail(up, up->fail_status, "no other backend to retry on");
            return;
        }
        if (up->pin) {
            gw_up_fail(up, 503, "the backend is at its max-pool-size");
            return;
        }
        if (!gw_atomic_get(&pool->all_down_logged)) {
            gw_log(GW_LOG_ERR, "every backend of pool %s is unavailable", pool->name);
            gw_atomic_set(&pool->all_down_logged, 1);
        }
        gw_up_fail(up, 503, "no backend available");
        return;
    }
    up->peer = p;
    up->counted = 1;
    __atomic_fetch_add(&pool->inflight, 1, __ATOMIC_RELAXED);
    if (!up->probe) {
        if (gw_atomic_get(&pool->all_down_logged)) gw_atomic_set(&pool->all_down_logged, 0);
        unsigned now_in = gw_atomic_get(&p->inflight);
        if (now_in > gw_atomic_get(&p->peak_inflight)) gw_atomic_set(&p->peak_inflight, now_in);
        make_tag(up->log_tag, sizeof(up->log_tag), p->name, up->req);
    }
    gw_upconn *uc = gw_up_idle_pop(p);
    if (uc) { /* (a check takes it too: on a worker-pinning backend a new one would wait) */
        if (up->claim) { /* (a kept connection came back meanwhile: the claim is not needed) */
            gw_up_unclaim(p);
            up->claim = 0;
        }
        uc->up = up;
        up->uc = uc;
        up->reused = 1;
        gw_up_start_exchange(up);
        return;
    }
    gw_up_connect(up);
}

/* Exchanges are recycled: one is taken and given back per request. */
#define UP_POOL_MAX 256
static _Thread_local gw_exchange *up_pool[UP_POOL_MAX];
static _Thread_local size_t up_npool;

gw_exchange *gw_exchange_start(const gw_exchange_args *a)
{
    gw_exchange *up;
    api_depth++;
    if (up_npool > 0) {
        up = up_pool[--up_npool];
        void *st = up->st; /* its protocol state buffer comes along (see start_exchange) */
        size_t st_cap = up->st_cap;
        memset(up, 0, offsetof(gw_exchange, log_tag)); /* (the text buffers are set when used) */
        up->log_tag[0] = up->why[0] = '\0';
        up->st = st;
        up->st_cap = st_cap;
    } else {
        up = gw_xcalloc(1, sizeof(*up));
    }
    up->loop = a->loop;
    up->worker = gw_self->index;
    up->ops = a->ops;
    up->ctx = a->ctx;
    up->req = a->req;
    up->body = a->body;
    up->route = a->route;
    up->pool = a->route->pool;
    up->peer_name = a->peer_name;
    up->pin = a->pin;
    up->probe = a->probe;
    up->rsp.arena = a->arena;
    up->rsp.content_length = -1;
    up->rsp.log_tag = up->log_tag;
    if (up->probe)
        snprintf(up->log_tag, sizeof(up->log_tag), "backend %s health check", a->pin->name);
    ev_init(&up->timer, on_up_timer);
    up->timer.data = up;
    ev_init(&up->kick, on_up_kick);
    up->kick.data = up;
    dispatch(up);
    api_depth--;
    return up;
}

/* The exchange ended without a usable response. Before any response byte reached the starter,
 * the request is retried while it can be replayed; otherwise the starter learns the status. */
void gw_up_fail(gw_exchange *up, int status, const char *why)
{
    if (up->uc) {
        gw_up_uc_close(up->uc);
        up->uc = NULL;
    }
    gw_up_set_timer(up, 0);
    if (up->counted) {
        if (status >= 500 && !up->probe) {
            gw_atomic_add(&up->peer->failures, 1);
            set_last_error(up->peer, why);
        }
        gw_up_peer_release(up);
        gw_up_wake_backlog(up->pool);
    }
    if ((status != 503 || up->head_given) && !up->probe)
        gw_log(GW_LOG_WARN, "%s: %s", up->log_tag[0] ? up->log_tag : "upstream", why);
    gw_up_end(up, UP_FAILED, status, why);
}

/* Owed work, run from the loop: a final op, a rejected response, body_drained, or input that
 * waited while reading was paused. */
static void on_up_kick(struct ev_loop *loop, ev_idle *w, int revents)
{
    gw_exchange *up = w->data;
    gw_up_cb_enter(up);
    if (up->state == UP_FAILED || up->state == UP_FINISHED) {
        deliver_final(up);
    } else if (up->rejected) {
        gw_up_fail(up, 502, up->why);
    } else if (up->state == UP_EXCHANGE || up->state == UP_TUNNEL) {
        if (up->drained_owed) {
            up->drained_owed = 0;
            up->ops->body_drained(up->ctx);
        }
        if (!up->dead && !up->paused && up->head_given && up->rsp.body.bytes > 0)
            gw_up_give_body(up);
        if (!up->dead && !up->paused && up->uc && gw_buf_unread(&up->uc->in) > 0) gw_up_do_read(up);
    }
    gw_up_cb_leave(up);
}

/* Is it still in its pool's backlog (not yet handed capacity)? */
static int queued(gw_exchange *up)
{
    pthread_mutex_lock(&up->pool->lock);
    int q = up->bl.queued;
    pthread_mutex_unlock(&up->pool->lock);
    return q;
}

/* Take it out of the backlog. Returns 0 when a backlog handed it capacity first (it is in its
 * worker's mailbox, or about to be dispatched). */
static int unqueue(gw_exchange *up)
{
    pthread_mutex_lock(&up->pool->lock);
    int q = up->bl.queued;
    gw_backlog_remove(&up->pool->backlog, &up->bl);
    pthread_mutex_unlock(&up->pool->lock);
    return q;
}

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_exchange *up = w->data;
    gw_up_cb_enter(up);
    switch (up->state) {
    case UP_QUEUED: {
        double t = gw_up_now(up);
        if (!queued(up)) break; /* a backlog handed it capacity: its mailbox runs it */
        double cold = cold_wait(up->pool);
        if (t < queue_deadline(up, cold)) { /* a disabled peer is back */
            gw_up_wake_backlog(up->pool);   /* (may serve, or end, this very request) */
            if (!up->dead && up->state == UP_QUEUED) gw_up_set_timer(up, queue_wait(up, t, cold));
            break;
        }
        gw_up_wake_backlog(up->pool); /* a last try: a peer may have come back just now */
        if (up->dead || up->state != UP_QUEUED || !unqueue(up)) break;
        gw_up_end(up, UP_FAILED, 503, "backlog timeout");
        break;
    }
    case UP_CONNECTING:
        gw_up_peer_failed(up, "connect timed out", "", 503);
        break;
    case UP_EXCHANGE:
        if (up->out.bytes > 0)
            gw_up_fail(up, 504, "write to the backend timed out");
        else
            gw_up_fail(up, 504, "the backend did not answer in time");
        break;
    default:
        ev_timer_stop(loop, w);
        break;
    }
    gw_up_cb_leave(up);
}

void gw_exchange_resume(gw_exchange *up)
{
    if (!up->paused || up->dead) return;
    up->paused = 0;
    if (up->state != UP_EXCHANGE && up->state != UP_TUNNEL) return;
    gw_up_set_io(up, EV_READ | (up->out.bytes ? EV_WRITE : 0));
    gw_up_arm_timer(up);
    if (gw_buf_unread(&up->uc->in) > 0 || up->rsp.body.bytes > 0) gw_up_kick(up);
}

void gw_exchange_body_ready(gw_exchange *up)
{
    if (up->dead || up->state != UP_EXCHANGE) return;
    api_depth++;
    gw_up_pump_send(up);
    api_depth--;
}

int gw_exchange_tunnel_send(gw_exchange *up, gw_bufq *data)
{
    if (up->dead || up->state != UP_TUNNEL) {
        gw_bufq_clear(data);
        return 0;
    }
    api_depth++;
    gw_bufq_move_all(&up->out, data);
    gw_up_pump_send(up);
    api_depth--;
    return up->out.bytes >= UP_TUNNEL_HIGH;
}

void gw_exchange_discard(gw_exchange *up)
{
    up->discard = 1;
    gw_bufq_clear(&up->rsp.body);
}

void gw_exchange_reject(gw_exchange *up, const char *why)
{
    if (up->dead || up->rejected) return;
    up->rejected = 1;
    snprintf(up->why, sizeof(up->why), "%s", why);
    gw_up_kick(up); /* (inside the head or body op, the read loop sees it first) */
}

const char *gw_exchange_peer(const gw_exchange *up)
{
    return up->sent_to;
}

/* Stop the timer and drop a fed wake-up that did not run (checked first: on the common path
 * both are idle already, and these are calls into libev). */
static void stop_watchers(gw_exchange *up)
{
    if (ev_is_active(&up->timer) || ev_is_pending(&up->timer)) ev_timer_stop(up->loop, &up->timer);
    if (ev_is_pending(&up->kick)) ev_idle_stop(up->loop, &up->kick);
}

void gw_up_destroy(gw_exchange *up)
{
    stop_watchers(up);
    gw_bufq_clear(&up->out);
    gw_bufq_clear(&up->rsp.body);
    if (up_npool < UP_POOL_MAX && !gw_up_is_stopping()) {
        up_pool[up_npool++] = up;
        return;
    }
    free(up->st);
    free(up);
}

void gw_upstream_pool_trim(void)
{
    gw_up_uc_trim();
    while (up_npool > 0) {
        gw_exchange *up = up_pool[--up_npool];
        free(up->st);
        free(up);
    }
}

void gw_exchange_free(gw_exchange *up)
{
    if (up == NULL || up->dead) return;
    api_depth++;
    int wake = 0;
    if (up->state == UP_QUEUED && !unqueue(up) && up->woken) {
        mailbox_remove(up); /* the capacity it was handed goes to the next waiter */
        wake = 1;
    }
    up->state = UP_DONE;
    stop_watchers(up);
    if (up->uc) {
        gw_up_uc_close(up->uc);
        up->uc = NULL;
    }
    wake |= up->counted;
    gw_up_peer_release(up);
    gw_bufq_clear(&up->out);
    gw_bufq_clear(&up->rsp.body);
    up->dead = 1;
    if (wake) gw_up_wake_backlog(up->pool);
    api_depth--;
    if (up->in_cb == 0) gw_up_destroy(up);
}
