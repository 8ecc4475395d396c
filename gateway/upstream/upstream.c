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

static _Thread_local int api_depth; /* > 0 while a starter is inside a gw_exchange_* call */
int gw_up_stopping;                 /* graceful shutdown: keep nothing alive */

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
        gw_up_rearm_waiters(up);
        gw_log(GW_LOG_WARN, "backend %s: %s%s; disabled for %.0f s", p->name, why, when,
               up->route->disable_time);
        up->tried[p->index >> 3] |= (uint8_t)(1u << (p->index & 7));
    }
    up->fail_status = status;
    gw_up_wake_backlog(up->pool); /* the slot it held is free (the peer may be usable again) */
    if (up->retries < up->route->max_retries) {
        up->retries++;
        gw_atomic_add(&p->retries, 1);
        gw_up_dispatch(up);
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
        up->capped = !p->pins;
    }
    if (p->slot && !spawn_slot_acquire(p->slot, !p->pins)) { /* (its cap: not pinning) */
        if (up->claim) gw_up_unclaim(p);
        up->claim = 0;
        return 0;
    }
    __atomic_fetch_add(&p->inflight, 1, __ATOMIC_SEQ_CST);
    return 1;
}

/* Choose a peer (or wait in the backlog, or fail) and go. */
void gw_up_dispatch(gw_exchange *up)
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
         __atomic_load_n(&pool->in_transit, __ATOMIC_SEQ_CST) > 0 ||
         (gw_atomic_get(&pool->shares) && gw_pool_any_sharer_waits(pool))) &&
        (any_waitable(pool, up->tried, t) || (pool->app && gw_up_app_waitable(pool->app)))) {
        gw_up_enqueue(up, t);
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
                waitable = pool->app
                               ? any_waitable(pool, up->tried, t) || gw_up_app_waitable(pool->app)
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
            gw_up_enqueue(up, t);
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
    gw_up_dispatch(up);
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

/* A spawned app's request ran past its request-timeout: 504, and its process is replaced (it
 * takes nothing new and is killed once its other requests are over). */
static void request_timed_out(gw_exchange *up)
{
    gw_log(GW_LOG_WARN, "%s: past the app's request-timeout (%.0f s): 504, its process is replaced",
           up->log_tag, up->peer->slot->request_timeout);
    gw_main_lock();
    spawn_slot_timed_out(up->peer->slot);
    gw_main_unlock_wake();
    gw_up_fail(up, 504, "request-timeout");
}

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_exchange *up = w->data;
    gw_up_cb_enter(up);
    switch (up->state) {
    case UP_QUEUED:
        gw_up_queue_timer(up);
        break;
    case UP_CONNECTING:
    case UP_EXCHANGE:
        if (up->deadline > 0 && !up->head_given && gw_up_now(up) >= up->deadline - 0.001) {
            request_timed_out(up);
            break;
        }
        if (up->state == UP_CONNECTING) {
            gw_up_peer_failed(up, "connect timed out", "", 503);
            break;
        }
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

void gw_exchange_sent_file(gw_exchange *up)
{
    if (up->peer) gw_atomic_add(&up->peer->x_sendfile, 1);
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
    if (up->state == UP_QUEUED && !gw_up_unqueue(up) && up->woken) {
        gw_up_mailbox_remove(up); /* the capacity it was handed goes to the next waiter */
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
