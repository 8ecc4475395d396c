/* Backend connections and the bytes on them: connect, the idle pool, sending the encoded
 * request and body, reading and parsing the response for the exchange (upstream.c decides what
 * a failure means). Knows nothing of client connections. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/base/alloc.h"
#include "gateway/base/log.h"
#include "gateway/upstream/upstream_int.h"

static void on_uc_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_up_io(struct ev_loop *loop, ev_io *w, int revents);

/* Backend connection structs are recycled: a protocol without keep-alive (SCGI) takes and gives
 * back one per request, and malloc's slow path showed in its profile. */
#define UC_POOL_MAX 64
static _Thread_local gw_upconn *uc_pool[UC_POOL_MAX];
static _Thread_local size_t uc_npool;

static gw_upconn *uc_new(void)
{
    if (uc_npool == 0) return gw_xcalloc(1, sizeof(gw_upconn));
    gw_upconn *uc = uc_pool[--uc_npool];
    memset(uc, 0, sizeof(*uc));
    return uc;
}

void gw_up_uc_close(gw_upconn *uc)
{
    if (uc == NULL) return;
    ev_io_stop(uc->loop, &uc->io);
    if (uc->fd >= 0) close(uc->fd);
    gw_buf_free(&uc->in);
    if (uc->claim) { /* a pinning peer's connection: its capacity is free again */
        uc->claim = 0;
        __atomic_fetch_sub(gw_peer_load(uc->peer), 1, __ATOMIC_SEQ_CST);
        gw_up_wake_backlog(uc->peer->pool);
    }
    if (uc_npool < UC_POOL_MAX && !gw_up_is_stopping())
        uc_pool[uc_npool++] = uc;
    else
        free(uc);
}

void gw_up_uc_trim(void)
{
    while (uc_npool > 0) free(uc_pool[--uc_npool]);
}

static void idle_count(gw_peer *p, int d)
{
    __atomic_fetch_add(&p->nidle, (unsigned)d, __ATOMIC_SEQ_CST);
    if (p->slot)
        __atomic_fetch_add(&p->slot->idle, (unsigned)d, __ATOMIC_SEQ_CST);
    else if (p->count)
        __atomic_fetch_add(&p->count->idle, (unsigned)d, __ATOMIC_SEQ_CST);
}

static void idle_remove(gw_upconn *uc)
{
    gw_peer_idle *mine = &uc->peer->idle[gw_self->index];
    for (gw_upconn **pp = &mine->list; *pp; pp = &(*pp)->next) {
        if (*pp == uc) {
            *pp = uc->next;
            mine->n--;
            idle_count(uc->peer, -1);
            return;
        }
    }
}

/* Events of a backend connection: of its exchange, or, while idle, a sign that the backend
 * closed it or broke the protocol (data or EOF on an idle connection): drop it. */
static void on_uc_io(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_upconn *uc = w->data;
    if (uc->up) {
        on_up_io(loop, w, revents);
        return;
    }
    idle_remove(uc);
    gw_up_uc_close(uc);
}

/* Must the worker's idle connections to `p` go? (The pool was replaced; a spawned app's slot
 * is stopping, or another generation's pool took the app over: a kept connection would pin its
 * process.) */
static int idle_unwanted(const gw_peer *p)
{
    return gw_atomic_get(&p->pool->retired) ||
           (p->slot && (!gw_atomic_get(&p->slot->usable) || gw_atomic_get(&p->pool->app_stale)));
}

/* Keep the connection for the next request (in this worker's idle list), or close it. Never
 * more idle connections on a worker than the peer can serve at once: its cap, or the most it has
 * served concurrently. */
static void uc_release(gw_upconn *uc, int reusable)
{
    gw_peer *p = uc->peer;
    unsigned cap = p->max_inflight ? p->max_inflight : gw_atomic_get(&p->peak_inflight);
    if (cap > UP_IDLE_MAX) cap = UP_IDLE_MAX;
    gw_peer_idle *mine = &p->idle[gw_self->index];
    uc->up = NULL;
    if (!reusable || gw_up_is_stopping() || mine->n >= cap || gw_buf_unread(&uc->in) > 0 ||
        idle_unwanted(p)) {
        gw_up_uc_close(uc);
        return;
    }
    if (!ev_is_active(&uc->io) || uc->io.events != EV_READ) {
        ev_io_stop(uc->loop, &uc->io);
        ev_io_set(&uc->io, uc->fd, EV_READ);
        ev_io_start(uc->loop, &uc->io);
    }
    gw_buf_free(&uc->in); /* idle connections hold no buffer */
    uc->next = mine->list;
    mine->list = uc;
    mine->n++;
    idle_count(p, 1);
}

void gw_up_close_idle(gw_peer *p)
{
    gw_peer_idle *mine = &p->idle[gw_self->index];
    while (mine->list) {
        gw_upconn *uc = mine->list;
        mine->list = uc->next;
        mine->n--;
        idle_count(p, -1);
        gw_up_uc_close(uc);
    }
}

gw_upconn *gw_up_idle_pop(gw_peer *p)
{
    gw_peer_idle *mine = &p->idle[gw_self->index];
    gw_upconn *uc = mine->list;
    if (uc == NULL) return NULL;
    mine->list = uc->next;
    mine->n--;
    idle_count(p, -1);
    return uc;
}

gw_upconn *gw_up_idle_take(gw_peer *p)
{
    gw_upconn *uc = p->idle[gw_self->index].list;
    if (uc == NULL) return NULL;
    /* libev leaves a stopped fd in its epoll set until it is closed (it drops it lazily, at a
     * spurious event): this loop must not hear of the socket, or touch its number, once another
     * worker has it */
    ev_io_stop(uc->loop, &uc->io);
    if (!gw_worker_forget_fd(uc->fd)) {
        ev_io_start(uc->loop, &uc->io);
        return NULL;
    }
    return gw_up_idle_pop(p);
}

void gw_up_idle_adopt(gw_upconn *uc)
{
    gw_peer *p = uc->peer;
    gw_peer_idle *mine = &p->idle[gw_self->index];
    uc->loop = gw_self->loop;
    uc->up = NULL;
    if (gw_up_is_stopping() || idle_unwanted(p)) {
        gw_up_uc_close(uc);
        return;
    }
    ev_io_init(&uc->io, on_uc_io, uc->fd, EV_READ);
    uc->io.data = uc;
    ev_io_start(uc->loop, &uc->io);
    uc->next = mine->list;
    mine->list = uc;
    mine->n++;
    idle_count(p, 1);
}

void gw_upstream_pool_release(gw_pool *pool)
{
    for (unsigned i = 0; i < pool->npeers; i++) gw_up_close_idle(&pool->peers[i]);
}

/* Do requests of another pool wait for pinning peer `p` (a process of the same spawned app, or
 * the same backend through another route or generation)? */
static int another_pool_waits(gw_pool *pool, const gw_peer *p)
{
    if (p->slot)
        return gw_atomic_get(&pool->app_siblings) && gw_upstream_app_waiting &&
               gw_upstream_app_waiting(pool->app) > 0;
    return gw_atomic_get(&pool->shares) && gw_pool_sharers_wait(p);
}

/* Do requests wait for the capacity of pinning peer `p` (in its pool, or in another)? */
static int capacity_wanted(const gw_peer *p)
{
    return gw_atomic_get(&p->pool->backlog.len) > 0 || another_pool_waits(p->pool, p);
}

void gw_upstream_reclaim(gw_pool *const *pools, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gw_pool *pool = pools[i];
        for (unsigned k = 0; k < pool->npeers; k++) {
            gw_peer *p = &pool->peers[k];
            if (p->idle[gw_self->index].n == 0) continue;
            if (idle_unwanted(p) || (p->pins && capacity_wanted(p))) gw_up_close_idle(p);
        }
    }
}

/* Arm the exchange's one timer `after` seconds from now (0: stop it). ev_timer_again moves an
 * active timer in place: cheaper than stop + start on every read. */
void gw_up_set_timer(gw_exchange *up, double after)
{
    /* a spawned app's request-timeout: from the whole request sent to the process until its
     * response head (the time it takes to answer; not a slow client's upload or download) */
    if (after > 0 && up->state == UP_EXCHANGE && !up->head_given && up->body_sent_last &&
        up->out.bytes == 0 && up->peer->slot && up->peer->slot->request_timeout > 0) {
        if (up->deadline == 0) up->deadline = gw_up_now(up) + up->peer->slot->request_timeout;
        double left = up->deadline - gw_up_now(up);
        if (after > left) after = left > 0.001 ? left : 0.001;
    }
    if (after <= 0) {
        ev_timer_stop(up->loop, &up->timer);
        return;
    }
    up->timer.repeat = after;
    ev_timer_again(up->loop, &up->timer);
}

void gw_up_set_io(gw_exchange *up, int events)
{
    gw_upconn *uc = up->uc;
    if (uc == NULL) return;
    if (up->paused) events &= ~EV_READ;
    if ((uc->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&uc->io)) return;
    ev_io_stop(up->loop, &uc->io);
    if (events == 0) return;
    ev_io_set(&uc->io, uc->fd, events);
    ev_io_start(up->loop, &uc->io);
}

static int body_replayable(const gw_exchange *up)
{
    const gw_body *b = up->body;
    return !b->streaming || (up->body_off == 0 && b->total == b->mem.bytes);
}

/* The starter's streaming body or tunnel bytes were taken: tell it from the loop. */
static void owe_drained(gw_exchange *up)
{
    if (up->ops->body_drained == NULL || up->drained_owed) return;
    up->drained_owed = 1;
    gw_up_kick(up);
}

/* Encode body bytes while the output queue is short. */
static int fill_body(gw_exchange *up)
{
    gw_body *b = up->body;
    const gw_backend_ops *ops = up->pool->ops;
    while (!up->body_sent_last && up->out.bytes < UP_OUT_HIGH) {
        gw_bufq chunk = {0};
        int last;
        if (b->streaming) {
            gw_bufq_move_all(&chunk, &b->mem);
            up->body_off += chunk.bytes;
            last = b->complete;
            if (chunk.bytes == 0 && !last) break;
            if (chunk.bytes) owe_drained(up);
        } else {
            uint64_t left = b->total - up->body_off;
            while (left > 0 && chunk.bytes < UP_OUT_HIGH) {
                size_t room;
                char *dst = gw_bufq_reserve(&chunk, &room);
                if (room > left) room = (size_t)left;
                ssize_t n = gw_body_pread(b, up->body_off, dst, room);
                if (n <= 0) {
                    gw_bufq_clear(&chunk);
                    return GW_ERR;
                }
                gw_bufq_commit(&chunk, (size_t)n);
                up->body_off += (uint64_t)n;
                left -= (uint64_t)n;
            }
            last = up->body_off == b->total;
        }
        int rc = ops->encode_body(up->st, &chunk, last, &up->out);
        gw_bufq_clear(&chunk);
        if (rc != GW_OK) return GW_ERR;
        if (last) up->body_sent_last = 1;
    }
    return GW_OK;
}

static int flush_out(gw_exchange *up)
{
    while (up->out.bytes > 0) {
        struct iovec iov[64];
        int n = gw_bufq_iov(&up->out, iov, 64);
        ssize_t w = writev(up->uc->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) return GW_AGAIN;
            return GW_ERR;
        }
        up->sent_any = 1;
        gw_bufq_consume(&up->out, (size_t)w);
    }
    return GW_OK;
}

void gw_up_arm_timer(gw_exchange *up)
{
    /* (nor while a streamed body waits for the client's next bytes: that is the client's idle) */
    if (up->state == UP_TUNNEL || up->paused || (!up->body_sent_last && up->out.bytes == 0)) {
        gw_up_set_timer(up, 0);
        return;
    }
    gw_up_set_timer(up, up->out.bytes > 0 ? up->route->write_timeout : up->route->read_timeout);
}

/* Send what can be sent, then wait for writability or the response. */
void gw_up_pump_send(gw_exchange *up)
{
    if (up->state != UP_EXCHANGE && up->state != UP_TUNNEL) return;
    for (;;) {
        if (up->state == UP_EXCHANGE && fill_body(up) != GW_OK) {
            gw_up_fail(up, 500, "cannot read the buffered request body");
            return;
        }
        int rc = flush_out(up);
        if (rc == GW_ERR) {
            /* a write error is a failure before the response: the read side reports it */
            gw_up_set_io(up, EV_READ);
            return;
        }
        if (rc == GW_AGAIN) {
            gw_up_set_io(up, EV_READ | EV_WRITE);
            gw_up_arm_timer(up);
            return;
        }
        if (up->state == UP_TUNNEL) owe_drained(up); /* the client may send more */
        if (up->state != UP_EXCHANGE || up->body_sent_last) break;
        if (up->body->streaming && up->body->mem.bytes == 0) break;
    }
    gw_up_set_io(up, EV_READ);
    gw_up_arm_timer(up);
}

/* The exchange's state from scratch and the request head in up->out. */
static int encode_request(gw_exchange *up)
{
    const gw_backend_ops *ops = up->pool->ops;
    if (up->st_cap < ops->state_size || up->st == NULL) {
        free(up->st);
        up->st_cap = ops->state_size ? ops->state_size : 1;
        up->st = gw_xmalloc(up->st_cap);
    }
    memset(up->st, 0, ops->state_size);
    gw_bufq_clear(&up->out);
    gw_bufq_clear(&up->rsp.body);
    up->rsp.status = 0;
    up->rsp.nhdr = 0;
    up->rsp.hdr = NULL;
    up->rsp.content_length = -1;
    up->rsp.head_done = up->rsp.done = up->rsp.upgrade = 0;
    up->body_off = 0;
    up->body_sent_last = 0;
    up->sent_any = up->recv_any = 0;
    int keepalive = (ops->flags & GW_BE_KEEPALIVE) && up->route->ka_requests > 0 &&
                    up->uc->nreq + 1 < up->route->ka_requests && !gw_up_is_stopping();
    if ((ops->flags & GW_BE_PINS_WORKER) && up->peer->max_inflight == 0) keepalive = 0;
    if (up->req->upgrade) keepalive = 0;
    up->uc->nreq++;
    return ops->encode_head(up->st, up->req, keepalive, &up->out);
}

void gw_up_start_exchange(gw_exchange *up)
{
    up->state = UP_EXCHANGE;
    if (up->uc->in.data == NULL) gw_buf_init(&up->uc->in, UP_IN_SIZE);
    up->t_connected = gw_up_now(up);
    if (!up->reused && !up->probe)
        gw_hist_add(&up->peer->connect_time, up->t_connected - up->t_connect);
    int ready = up->uc->head_ready;
    up->uc->head_ready = 0;
    if (!ready && encode_request(up) != GW_OK) {
        gw_up_fail(up, 400, "the request cannot be encoded for this backend");
        return;
    }
    up->sent_to = up->peer->name;
    if (!up->probe) gw_atomic_add(&up->peer->requests, 1);
    gw_up_pump_send(up);
}

/* A connect() in progress: write the head at once. Over loopback the handshake has as a rule
 * completed inside connect(), and a write that succeeds spares waiting for writability, the
 * getsockopt and the epoll_ctl that turns the wait for writability into one for the answer
 * (for SCGI, a new connection per request, 2 of 11 system calls). Returns 0 when the
 * connection is still being made: the encoded head waits for it. */
static int send_early(gw_exchange *up)
{
    if (encode_request(up) != GW_OK) {
        up->state = UP_EXCHANGE;
        gw_up_fail(up, 400, "the request cannot be encoded for this backend");
        return 1;
    }
    up->uc->head_ready = 1;
    if (flush_out(up) == GW_ERR && !up->sent_any) {
        /* (the error of the failed connect: what getsockopt's SO_ERROR would have said) */
        char why[96];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        gw_up_peer_failed(up, why, "", 503);
        return 1;
    }
    if (!up->sent_any) return 0;
    gw_up_start_exchange(up);
    return 1;
}

void gw_up_connect(gw_exchange *up)
{
    gw_peer *p = up->peer;
    int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        gw_log(GW_LOG_ERR, "socket: %s", strerror(errno));
        gw_up_fail(up, 503, "out of sockets");
        return;
    }
    if (p->sa.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    gw_upconn *uc = uc_new();
    uc->fd = fd;
    uc->peer = p;
    uc->loop = up->loop;
    ev_io_init(&uc->io, on_uc_io, fd, EV_WRITE);
    uc->io.data = uc;
    uc->up = up;
    uc->claim = up->claim; /* (the connection holds the peer's capacity from now on) */
    up->claim = 0;
    up->uc = uc;
    up->reused = 0;
    up->t_connect = gw_up_now(up);
    if (connect(fd, (struct sockaddr *)&p->sa, p->salen) == 0) {
        gw_up_start_exchange(up);
        return;
    }
    if (errno != EINPROGRESS && errno != EAGAIN) {
        char why[96];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        gw_up_peer_failed(up, why, "", 503);
        return;
    }
    up->state = UP_CONNECTING;
    if (errno == EINPROGRESS && send_early(up)) return;
    ev_io_start(up->loop, &uc->io);
    gw_up_set_timer(up, up->route->connect_timeout);
}

/* The backend closed or reset before any response byte. */
static void early_close(gw_exchange *up, const char *why)
{
    if (body_replayable(up)) {
        if (up->reused) { /* a stale kept-alive connection: try a fresh one, same peer */
            up->claim = up->uc->claim; /* (its capacity goes to the new one) */
            up->uc->claim = 0;
            gw_up_uc_close(up->uc);
            up->uc = NULL;
            gw_up_connect(up);
            return;
        }
        if (up->retries < up->route->max_retries) {
            gw_up_peer_failed(up, why, " before responding", 502);
            return;
        }
    }
    gw_up_fail(up, 502, why);
}

static void finish(gw_exchange *up)
{
    const gw_backend_ops *ops = up->pool->ops;
    gw_up_set_timer(up, 0);
    int st = up->rsp.status;
    if (!up->probe) {
        if (st >= 100 && st < 600) gw_atomic_add(&up->peer->responses[st / 100], 1);
        gw_hist_add(&up->peer->response_time, gw_up_now(up) - up->t_connected);
    }
    /* an answer that came before the whole request went out leaves the stream mid-message */
    gw_peer *p = up->peer;
    uc_release(up->uc, ops->reusable(up->st) && up->body_sent_last && up->out.bytes == 0);
    up->uc = NULL;
    gw_up_peer_release(up);
    gw_up_wake_backlog(up->pool);
    /* a pinning peer's connection kept idle while requests of other workers still wait for its
     * capacity (this worker's waiters took theirs above): it goes to the oldest of them */
    if (p->pins && p->idle[gw_self->index].n > 0 && gw_atomic_get(&up->pool->backlog.len) > 0) {
        gw_upconn *uc = gw_up_idle_take(p);
        if (uc)
            gw_up_gift(up->pool, uc);
        else
            gw_up_close_idle(p);
    } else if (p->pins && p->idle[gw_self->index].n > 0 && another_pool_waits(up->pool, p)) {
        gw_up_close_idle(p); /* (another route's, or generation's, requests wait for it) */
    }
    gw_up_end(up, UP_FINISHED, 0, NULL);
}

/* Stop reading the backend while the starter's output is full. */
static int pause_if_full(gw_exchange *up)
{
    if (up->ops->out_full == NULL || !up->ops->out_full(up->ctx)) return 0;
    up->paused = 1;
    gw_up_set_io(up, up->out.bytes ? EV_WRITE : 0);
    gw_up_set_timer(up, 0);
    return 1;
}

/* Body bytes parsed so far go to the starter (or nowhere). */
void gw_up_give_body(gw_exchange *up)
{
    if (up->rsp.body.bytes == 0) return;
    if (up->discard)
        gw_bufq_clear(&up->rsp.body);
    else
        up->ops->body(up->ctx, &up->rsp);
}

#define OP_CHECK(up)                                                                               \
    do {                                                                                           \
        if ((up)->dead) return;                                                                    \
        if ((up)->rejected) {                                                                      \
            gw_up_fail((up), 502, (up)->why);                                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static void tunnel_out(gw_exchange *up)
{
    gw_upconn *uc = up->uc;
    size_t n = gw_buf_unread(&uc->in);
    if (n == 0) return;
    up->ops->tunnel_data(up->ctx, uc->in.data + uc->in.off, n);
    if (!up->dead) gw_buf_consume(&uc->in, n); /* (a free in the op took the buffer along) */
}

void gw_up_do_read(gw_exchange *up)
{
    gw_upconn *uc = up->uc;
    const gw_backend_ops *ops = up->pool->ops;
    for (;;) {
        if (up->paused) return;
        if (up->state == UP_TUNNEL && gw_buf_unread(&uc->in) > 0) {
            tunnel_out(up);
            OP_CHECK(up);
            if (up->paused || pause_if_full(up)) return; /* a client that does not read */
        }
        int eof = 0;
        gw_buf_compact(&uc->in);
        size_t room = gw_buf_room(&uc->in);
        if (room > 0) {
            ssize_t n = read(uc->fd, uc->in.data + uc->in.len, room);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                if (!up->recv_any) {
                    early_close(up, strerror(errno));
                    return;
                }
                if (up->head_given) {
                    gw_up_fail(up, 502, strerror(errno));
                    return;
                }
                eof = 1;
            } else if (n == 0) {
                if (!up->recv_any) {
                    early_close(up, "connection closed");
                    return;
                }
                eof = 1;
            } else {
                uc->in.len += (size_t)n;
                up->recv_any = 1;
            }
        }
        if (up->state == UP_TUNNEL) {
            if (eof) {
                tunnel_out(up);
                OP_CHECK(up);
                gw_up_fail(up, 502, "tunnel closed by the backend");
                return;
            }
            continue;
        }
        int rc = ops->parse(up->st, &uc->in, eof, &up->rsp);
        if (rc == GW_AGAIN && room == 0 && gw_buf_room(&uc->in) == 0 && uc->in.off == 0) {
            gw_up_fail(up, 502, "response head too large");
            return;
        }
        if (rc == GW_ERR) {
            gw_up_fail(up, 502,
                       up->head_given ? "invalid or truncated response body"
                                      : "invalid response head");
            return;
        }
        if (up->rsp.head_done && !up->head_given) {
            up->head_given = 1;
            if (up->peer->slot && !gw_atomic_get(&up->peer->slot->answered)) {
                gw_main_lock(); /* (spawn/ is the main thread's) */
                spawn_slot_answered(up->peer->slot);
                gw_main_unlock_wake();
            }
            if (up->rsp.upgrade) {
                up->state = UP_TUNNEL;
                gw_up_set_timer(up, 0);
            }
            up->ops->head(up->ctx, &up->rsp);
            OP_CHECK(up);
        }
        /* the response is whole: the peer's in-flight count drops before the client has its
         * last bytes, or the client's next request, on another worker, could find the peer
         * still busy (the hash balancer would then move its URL) */
        if (rc == GW_DONE && up->state != UP_TUNNEL && up->counted) {
            gw_up_peer_release(up);
            gw_up_wake_backlog(up->pool);
        }
        gw_up_give_body(up);
        OP_CHECK(up);
        if (rc == GW_DONE && up->state != UP_TUNNEL) {
            finish(up);
            return;
        }
        if (eof) {
            gw_up_fail(up, 502, "backend closed the connection early");
            return;
        }
        if (up->state == UP_TUNNEL) continue; /* bytes after the 101 head are tunnel data */
        if (pause_if_full(up)) return;
        gw_up_arm_timer(up);
    }
}

static void on_up_io(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_exchange *up = ((gw_upconn *)w->data)->up;
    gw_up_cb_enter(up);
    if (up->state == UP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            char why[96];
            snprintf(why, sizeof(why), "connect: %s", strerror(err));
            gw_up_peer_failed(up, why, "", 503);
        } else {
            ev_io_stop(loop, w);
            gw_up_start_exchange(up);
        }
    } else {
        if (revents & EV_WRITE) gw_up_pump_send(up);
        if ((revents & EV_READ) && !up->dead &&
            (up->state == UP_EXCHANGE || up->state == UP_TUNNEL))
            gw_up_do_read(up);
    }
    gw_up_cb_leave(up);
}
