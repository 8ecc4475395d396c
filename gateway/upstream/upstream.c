/* The upstream engine: one backend exchange per request. Protocol bytes are the adapter's
 * business (gw_backend_ops); this file owns sockets, the idle pool, timeouts, the backlog and
 * the decision between retrying and answering 502/503/504. */
#include "config.h"

#include "gateway/upstream/upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/upstream/balance.h"
#include "gateway/base/log.h"

#define UP_IN_SIZE 65536        /* read buffer per backend connection */
#define UP_OUT_HIGH (64 * 1024) /* encode more body only below this */
#define UP_IDLE_MAX 1024        /* idle connections kept to one peer, at most */

static void on_up_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_uc_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void dispatch(gw_upstream *up);
static void fail(gw_upstream *up, int status, const char *why);

/* Call into the connection; if it freed the exchange meanwhile, finish freeing and leave the
 * calling function. */
#define CONN_CALL(up, call)                                                                        \
    do {                                                                                           \
        (up)->busy++;                                                                              \
        call;                                                                                      \
        (up)->busy--;                                                                              \
        if ((up)->dead) {                                                                          \
            if ((up)->busy == 0) up_destroy(up);                                                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static void up_destroy(gw_upstream *up);

static double now(void)
{
    return ev_now(gw_srv.loop);
}

/* ---- backend connections ---- */

static void uc_close(gw_upconn *uc)
{
    if (uc == NULL) return;
    ev_io_stop(gw_srv.loop, &uc->io);
    if (uc->fd >= 0) close(uc->fd);
    gw_buf_free(&uc->in);
    free(uc);
}

static void idle_remove(gw_upconn *uc)
{
    gw_peer *p = uc->peer;
    for (gw_upconn **pp = &p->idle; *pp; pp = &(*pp)->next) {
        if (*pp == uc) {
            *pp = uc->next;
            p->nidle--;
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
    uc_close(uc);
}

/* Keep the connection for the next request, or close it. Never more idle connections than the
 * peer can serve at once: its cap, or the most it has served concurrently. */
static void uc_release(gw_upconn *uc, int reusable)
{
    gw_peer *p = uc->peer;
    unsigned cap = p->max_inflight ? p->max_inflight : p->peak_inflight;
    if (cap > UP_IDLE_MAX) cap = UP_IDLE_MAX;
    uc->up = NULL;
    if (!reusable || gw_srv.stopping || p->nidle >= cap || gw_buf_unread(&uc->in) > 0) {
        uc_close(uc);
        return;
    }
    if (!ev_is_active(&uc->io) || uc->io.events != EV_READ) {
        ev_io_stop(gw_srv.loop, &uc->io);
        ev_io_set(&uc->io, uc->fd, EV_READ);
        ev_io_start(gw_srv.loop, &uc->io);
    }
    gw_buf_free(&uc->in); /* idle connections hold no buffer */
    uc->next = p->idle;
    p->idle = uc;
    p->nidle++;
}

void gw_upstream_pool_release(gw_pool *pool)
{
    for (unsigned i = 0; i < pool->npeers; i++) {
        gw_peer *p = &pool->peers[i];
        while (p->idle) {
            gw_upconn *uc = p->idle;
            p->idle = uc->next;
            uc_close(uc);
        }
        p->nidle = 0;
    }
}

/* ---- accounting ---- */

static void peer_release(gw_upstream *up)
{
    if (!up->counted) return;
    up->counted = 0;
    up->peer->inflight--;
    up->pool->inflight--;
}

/* Capacity freed in `pool`: hand it to the oldest waiting requests. */
static void wake_backlog(gw_pool *pool)
{
    /* One pass at most: each waiter gets one try. A peer with room is not necessarily one a
     * given request may use (it already failed there, or X-Rewrite-Backend names another);
     * such a request queues again at the tail and the next one gets its chance. */
    for (size_t pass = pool->backlog.len; pass > 0 && pool->backlog.len > 0; pass--) {
        int room = 0;
        double t = now();
        for (unsigned i = 0; i < pool->npeers && !room; i++)
            room = gw_peer_available(&pool->peers[i], t) && gw_peer_has_room(&pool->peers[i]);
        if (!room) return;
        gw_backlog_node *n = gw_backlog_pop(&pool->backlog);
        gw_upstream *w = (gw_upstream *)((char *)n - offsetof(gw_upstream, bl));
        ev_timer_stop(gw_srv.loop, &w->timer);
        dispatch(w);
    }
}

/* How long a queued request sleeps: until its backlog-timeout, or until the first disabled peer
 * of its pool comes back (a disable-time ending is not an event of its own). */
static double queue_wait(const gw_upstream *up, double t)
{
    double until = up->queued_at + up->route->backlog_timeout;
    const gw_pool *pool = up->pool;
    for (unsigned i = 0; i < pool->npeers; i++) {
        const gw_peer *p = &pool->peers[i];
        if (p->health == GW_PEER_UP && p->disabled_until > t && p->disabled_until < until)
            until = p->disabled_until;
    }
    return until - t > 0.001 ? until - t : 0.001;
}

void gw_upstream_pool_wake(gw_pool *pool)
{
    wake_backlog(pool);
}

/* Arm the exchange's one timer `after` seconds from now (0: stop it). ev_timer_again moves an
 * active timer in place: cheaper than stop + start on every read. */
static void set_timer(gw_upstream *up, double after)
{
    if (after <= 0) {
        ev_timer_stop(gw_srv.loop, &up->timer);
        return;
    }
    up->timer.repeat = after;
    ev_timer_again(gw_srv.loop, &up->timer);
}

static void set_io(gw_upstream *up, int events)
{
    gw_upconn *uc = up->uc;
    if (uc == NULL) return;
    if (up->paused) events &= ~EV_READ;
    if ((uc->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&uc->io)) return;
    ev_io_stop(gw_srv.loop, &uc->io);
    if (events == 0) return;
    ev_io_set(&uc->io, uc->fd, events);
    ev_io_start(gw_srv.loop, &uc->io);
}

/* ---- request bytes ---- */

static int body_replayable(const gw_upstream *up)
{
    const gw_conn *c = up->c;
    return !c->body.streaming || (up->body_off == 0 && c->body.total == c->body.mem.bytes);
}

/* Encode body bytes while the output queue is short. */
static int fill_body(gw_upstream *up)
{
    gw_conn *c = up->c;
    const gw_backend_ops *ops = up->pool->ops;
    while (!up->body_sent_last && up->out.bytes < UP_OUT_HIGH) {
        gw_bufq chunk = {0};
        int last;
        if (c->body.streaming) {
            gw_bufq_move_all(&chunk, &c->body.mem);
            up->body_off += chunk.bytes;
            last = c->body.complete;
            if (chunk.bytes == 0 && !last) break;
            if (chunk.bytes) gw_conn_body_drained(c);
        } else {
            uint64_t left = c->body.total - up->body_off;
            while (left > 0 && chunk.bytes < UP_OUT_HIGH) {
                size_t room;
                char *dst = gw_bufq_reserve(&chunk, &room);
                if (room > left) room = (size_t)left;
                ssize_t n = gw_body_pread(&c->body, up->body_off, dst, room);
                if (n <= 0) {
                    gw_bufq_clear(&chunk);
                    return GW_ERR;
                }
                gw_bufq_commit(&chunk, (size_t)n);
                up->body_off += (uint64_t)n;
                left -= (uint64_t)n;
            }
            last = up->body_off == c->body.total;
        }
        int rc = ops->encode_body(up->st, &chunk, last, &up->out);
        gw_bufq_clear(&chunk);
        if (rc != GW_OK) return GW_ERR;
        if (last) up->body_sent_last = 1;
    }
    return GW_OK;
}

static int flush_out(gw_upstream *up)
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

static void arm_exchange_timer(gw_upstream *up)
{
    if (up->state == GW_UP_TUNNEL) {
        set_timer(up, 0);
        return;
    }
    if (up->paused) {
        set_timer(up, 0);
        return;
    }
    set_timer(up, up->out.bytes > 0 ? up->route->write_timeout : up->route->read_timeout);
}

/* Send what can be sent, then wait for writability or the response. */
static void pump_send(gw_upstream *up)
{
    if (up->state != GW_UP_EXCHANGE && up->state != GW_UP_TUNNEL) return;
    for (;;) {
        if (up->state == GW_UP_EXCHANGE && fill_body(up) != GW_OK) {
            fail(up, 500, "cannot read the buffered request body");
            return;
        }
        int rc = flush_out(up);
        if (rc == GW_ERR) {
            /* a write error is a failure before the response: the read side reports it */
            set_io(up, EV_READ);
            return;
        }
        if (rc == GW_AGAIN) {
            set_io(up, EV_READ | EV_WRITE);
            arm_exchange_timer(up);
            return;
        }
        if (up->state == GW_UP_TUNNEL) gw_conn_body_drained(up->c); /* the client may send more */
        if (up->state != GW_UP_EXCHANGE || up->body_sent_last) break;
        if (up->c->body.streaming && up->c->body.mem.bytes == 0) break;
    }
    set_io(up, EV_READ);
    arm_exchange_timer(up);
}

/* ---- the exchange ---- */

static void start_exchange(gw_upstream *up)
{
    gw_conn *c = up->c;
    const gw_backend_ops *ops = up->pool->ops;
    up->state = GW_UP_EXCHANGE;
    if (up->uc->in.data == NULL) gw_buf_init(&up->uc->in, UP_IN_SIZE);
    up->t_connected = now();
    if (!up->reused) gw_hist_add(&up->peer->connect_time, up->t_connected - up->t_connect);
    if (up->st_cap < ops->state_size || up->st == NULL) {
        free(up->st);
        up->st_cap = ops->state_size ? ops->state_size : 1;
        up->st = malloc(up->st_cap);
        if (up->st == NULL) abort();
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
                    up->uc->nreq + 1 < up->route->ka_requests && !gw_srv.stopping;
    if ((ops->flags & GW_BE_PINS_WORKER) && up->peer->max_inflight == 0) keepalive = 0;
    if (c->req.upgrade) keepalive = 0;
    up->uc->nreq++;
    if (ops->encode_head(up->st, &c->req, keepalive, &up->out) != GW_OK) {
        fail(up, 400, "the request cannot be encoded for this backend");
        return;
    }
    c->backend = up->peer->name;
    up->peer->requests++;
    pump_send(up);
}

static void connect_failed(gw_upstream *up, const char *why)
{
    gw_peer *p = up->peer;
    double t = now();
    p->disabled_until = t + up->route->disable_time;
    p->failures++;
    snprintf(p->last_error, sizeof(p->last_error), "%s", why);
    gw_log(GW_LOG_WARN, "backend %s: %s; disabled for %.0f s", p->name, why,
           up->route->disable_time);
    uc_close(up->uc);
    up->uc = NULL;
    set_timer(up, 0);
    up->tried[p->index >> 3] |= (uint8_t)(1u << (p->index & 7));
    peer_release(up);
    up->fail_status = 503;
    if (up->retries < up->route->max_retries) {
        up->retries++;
        p->retries++;
        dispatch(up);
    } else {
        fail(up, 503, "no backend accepted the connection");
    }
}

static void connect_new(gw_upstream *up)
{
    gw_peer *p = up->peer;
    int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        gw_log(GW_LOG_ERR, "socket: %s", strerror(errno));
        peer_release(up);
        fail(up, 503, "out of sockets");
        return;
    }
    if (p->sa.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    gw_upconn *uc = calloc(1, sizeof(*uc));
    if (uc == NULL) abort();
    uc->fd = fd;
    uc->peer = p;
    ev_io_init(&uc->io, on_uc_io, fd, EV_WRITE);
    uc->io.data = uc;
    uc->up = up;
    up->uc = uc;
    up->reused = 0;
    up->t_connect = now();
    if (connect(fd, (struct sockaddr *)&p->sa, p->salen) == 0) {
        start_exchange(up);
        return;
    }
    if (errno != EINPROGRESS && errno != EAGAIN) {
        char why[96];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        connect_failed(up, why);
        return;
    }
    up->state = GW_UP_CONNECTING;
    ev_io_start(gw_srv.loop, &uc->io);
    set_timer(up, up->route->connect_timeout);
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

static void dispatch(gw_upstream *up)
{
    gw_pool *pool = up->pool;
    double t = now();
    const char *named = up->c->force_backend;
    gw_peer *p;
    int waitable;
    if (named) {
        int unknown;
        p = pick_named(pool, named, up->tried, t, &unknown, &waitable);
        if (unknown) {
            fail(up, 502, "X-Rewrite-Backend names no backend of this route");
            return;
        }
    } else {
        p = pool->balancer->pick(pool->bal_state, pool, up->c->req.path, up->tried, t);
        waitable = p == NULL && any_waitable(pool, up->tried, t);
    }
    if (p == NULL) {
        if (waitable) { /* every candidate is at capacity: wait */
            if (pool->backlog.len >= up->route->max_backlog) {
                fail(up, 503, "backlog full");
                return;
            }
            up->state = GW_UP_QUEUED;
            if (up->queued_at == 0) up->queued_at = t; /* a re-queue keeps its deadline */
            gw_backlog_push(&pool->backlog, &up->bl, t);
            set_timer(up, queue_wait(up, t));
            return;
        }
        if (up->fail_status) { /* a retry found no other backend: the first failure stands */
            fail(up, up->fail_status, "no other backend to retry on");
            return;
        }
        if (!pool->all_down_logged) {
            gw_log(GW_LOG_ERR, "every backend of %s is unavailable", pool->key);
            pool->all_down_logged = 1;
        }
        fail(up, 503, "no backend available");
        return;
    }
    pool->all_down_logged = 0;
    up->peer = p;
    up->counted = 1;
    p->inflight++;
    pool->inflight++;
    if (p->inflight > p->peak_inflight) p->peak_inflight = p->inflight;
    make_tag(up->log_tag, sizeof(up->log_tag), p->name, &up->c->req);
    up->rsp.log_tag = up->log_tag;
    gw_upconn *uc = p->idle;
    if (uc) {
        p->idle = uc->next;
        p->nidle--;
        uc->up = up;
        up->uc = uc;
        up->reused = 1;
        start_exchange(up);
        return;
    }
    connect_new(up);
}

/* Exchanges are recycled: one is taken and given back per request. */
#define UP_POOL_MAX 256
static gw_upstream *up_pool[UP_POOL_MAX];
static size_t up_npool;

void gw_upstream_start(gw_conn *c)
{
    gw_upstream *up;
    void *st = NULL;
    if (up_npool > 0) {
        up = up_pool[--up_npool];
        st = up->st; /* its protocol state buffer comes along (see start_exchange) */
        size_t st_cap = up->st_cap;
        memset(up, 0, sizeof(*up));
        up->st = st;
        up->st_cap = st_cap;
    } else {
        up = calloc(1, sizeof(*up));
        if (up == NULL) abort();
    }
    up->c = c;
    up->route = c->route;
    up->pool = c->route->pool;
    up->rsp.arena = &c->arena;
    up->rsp.content_length = -1;
    up->t_start = now();
    ev_init(&up->timer, on_up_timer);
    up->timer.data = up;
    c->up = up;
    dispatch(up);
}

/* The exchange ended without a usable response. Before any response byte reached the client,
 * the request is retried while it can be replayed; otherwise the connection learns the status. */
static void fail(gw_upstream *up, int status, const char *why)
{
    gw_conn *c = up->c;
    if (up->uc) {
        uc_close(up->uc);
        up->uc = NULL;
    }
    set_timer(up, 0);
    if (up->counted) {
        if (status >= 500) {
            up->peer->failures++;
            snprintf(up->peer->last_error, sizeof(up->peer->last_error), "%s", why);
        }
        peer_release(up);
        wake_backlog(up->pool);
    }
    up->state = GW_UP_DONE;
    if (status != 503 || up->head_given)
        gw_log(GW_LOG_WARN, "%s: %s", up->log_tag[0] ? up->log_tag : "upstream", why);
    CONN_CALL(up, gw_conn_resp_error(c, status));
}

/* The backend closed or reset before any response byte. */
static void early_close(gw_upstream *up, const char *why)
{
    gw_peer *p = up->peer;
    if (body_replayable(up)) {
        if (up->reused) { /* a stale kept-alive connection: try a fresh one, same peer */
            uc_close(up->uc);
            up->uc = NULL;
            connect_new(up);
            return;
        }
        if (up->retries < up->route->max_retries) {
            p->disabled_until = now() + up->route->disable_time;
            p->failures++;
            snprintf(p->last_error, sizeof(p->last_error), "%s", why);
            gw_log(GW_LOG_WARN, "backend %s: %s before responding; disabled for %.0f s", p->name,
                   why, up->route->disable_time);
            uc_close(up->uc);
            up->uc = NULL;
            set_timer(up, 0);
            up->tried[p->index >> 3] |= (uint8_t)(1u << (p->index & 7));
            peer_release(up);
            up->fail_status = 502;
            up->retries++;
            p->retries++;
            dispatch(up);
            return;
        }
    }
    fail(up, 502, why);
}

static void finish(gw_upstream *up)
{
    gw_conn *c = up->c;
    const gw_backend_ops *ops = up->pool->ops;
    up->state = GW_UP_DONE;
    set_timer(up, 0);
    int st = up->rsp.status;
    if (st >= 100 && st < 600) up->peer->responses[st / 100]++;
    gw_hist_add(&up->peer->response_time, now() - up->t_connected);
    /* an answer that came before the whole request went out leaves the stream mid-message */
    uc_release(up->uc, ops->reusable(up->st) && up->body_sent_last && up->out.bytes == 0);
    up->uc = NULL;
    peer_release(up);
    wake_backlog(up->pool);
    CONN_CALL(up, gw_conn_resp_done(c));
}

static void do_read(gw_upstream *up)
{
    gw_upconn *uc = up->uc;
    const gw_backend_ops *ops = up->pool->ops;
    for (;;) {
        if (up->paused) return;
        if (up->state == GW_UP_TUNNEL && gw_buf_unread(&uc->in) > 0) {
            gw_bufq_append(&up->c->out, uc->in.data + uc->in.off, gw_buf_unread(&uc->in));
            gw_buf_consume(&uc->in, gw_buf_unread(&uc->in));
            CONN_CALL(up, gw_conn_tunnel_data(up->c));
            if (up->paused) return;
            if (gw_conn_out_full(up->c)) { /* a client that does not read slows the backend */
                up->paused = 1;
                set_io(up, up->out.bytes ? EV_WRITE : 0);
                return;
            }
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
                    fail(up, 502, strerror(errno));
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
        if (up->state == GW_UP_TUNNEL) {
            if (eof) {
                gw_bufq_append(&up->c->out, uc->in.data + uc->in.off, gw_buf_unread(&uc->in));
                gw_buf_consume(&uc->in, gw_buf_unread(&uc->in));
                fail(up, 502, "tunnel closed by the backend");
                return;
            }
            continue;
        }
        int rc = ops->parse(up->st, &uc->in, eof, &up->rsp);
        if (rc == GW_AGAIN && room == 0 && gw_buf_room(&uc->in) == 0 && uc->in.off == 0) {
            fail(up, 502, "response head too large");
            return;
        }
        if (rc == GW_ERR) {
            fail(up, 502,
                 up->head_given ? "invalid or truncated response body" : "invalid response head");
            return;
        }
        if (up->rsp.head_done && !up->head_given) {
            up->head_given = 1;
            if (up->rsp.upgrade) {
                up->state = GW_UP_TUNNEL;
                set_timer(up, 0);
            }
            CONN_CALL(up, gw_conn_resp_head(up->c));
        }
        if (up->rsp.body.bytes > 0) {
            if (up->discard)
                gw_bufq_clear(&up->rsp.body);
            else
                CONN_CALL(up, gw_conn_resp_body(up->c));
        }
        if (rc == GW_DONE && up->state != GW_UP_TUNNEL) {
            finish(up);
            return;
        }
        if (eof) {
            fail(up, 502, "backend closed the connection early");
            return;
        }
        if (up->state == GW_UP_TUNNEL) continue; /* bytes after the 101 head are tunnel data */
        if (gw_conn_out_full(up->c)) {
            up->paused = 1;
            set_io(up, up->out.bytes ? EV_WRITE : 0);
            set_timer(up, 0);
            return;
        }
        arm_exchange_timer(up);
    }
}

static void on_up_io(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_upstream *up = ((gw_upconn *)w->data)->up;
    if (up->state == GW_UP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            char why[96];
            snprintf(why, sizeof(why), "connect: %s", strerror(err));
            connect_failed(up, why);
            return;
        }
        ev_io_stop(loop, w);
        start_exchange(up);
        return;
    }
    if (revents & EV_WRITE) {
        up->busy++; /* a failed send ends the exchange: keep `up` readable until here */
        pump_send(up);
        up->busy--;
        if (up->dead) {
            if (up->busy == 0) up_destroy(up);
            return;
        }
        if (up->state == GW_UP_DONE) return;
    }
    if (revents & EV_READ) do_read(up);
}

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_upstream *up = w->data;
    switch (up->state) {
    case GW_UP_QUEUED: {
        double t = now();
        if (t < up->queued_at + up->route->backlog_timeout) { /* a disabled peer is back */
            up->busy++; /* waking may serve (and free) this very request */
            wake_backlog(up->pool);
            up->busy--;
            if (up->dead) {
                if (up->busy == 0) up_destroy(up);
                return;
            }
            if (up->state == GW_UP_QUEUED) set_timer(up, queue_wait(up, t));
            return;
        }
        gw_backlog_remove(&up->pool->backlog, &up->bl);
        up->state = GW_UP_DONE;
        CONN_CALL(up, gw_conn_resp_error(up->c, 503));
        return;
    }
    case GW_UP_CONNECTING:
        connect_failed(up, "connect timed out");
        return;
    case GW_UP_EXCHANGE:
        if (up->out.bytes > 0)
            fail(up, 504, "write to the backend timed out");
        else
            fail(up, 504, "the backend did not answer in time");
        return;
    default:
        ev_timer_stop(loop, w);
        return;
    }
}

void gw_upstream_resume(gw_upstream *up)
{
    if (!up->paused) return;
    up->paused = 0;
    if (up->state != GW_UP_EXCHANGE && up->state != GW_UP_TUNNEL) return;
    set_io(up, EV_READ | (up->out.bytes ? EV_WRITE : 0));
    arm_exchange_timer(up);
    if (gw_buf_unread(&up->uc->in) > 0 || up->rsp.body.bytes > 0) do_read(up);
}

void gw_upstream_body_ready(gw_upstream *up)
{
    if (up->state == GW_UP_EXCHANGE) pump_send(up);
}

void gw_upstream_tunnel_send(gw_upstream *up, gw_bufq *data)
{
    if (up->state != GW_UP_TUNNEL) {
        gw_bufq_clear(data);
        return;
    }
    gw_bufq_move_all(&up->out, data);
    pump_send(up);
}

static void up_destroy(gw_upstream *up)
{
    if (up_npool < UP_POOL_MAX && !gw_srv.stopping) {
        up_pool[up_npool++] = up;
        return;
    }
    free(up->st);
    free(up);
}

void gw_upstream_pool_trim(void)
{
    while (up_npool > 0) {
        gw_upstream *up = up_pool[--up_npool];
        free(up->st);
        free(up);
    }
}

void gw_upstream_free(gw_upstream *up)
{
    if (up == NULL || up->dead) return;
    if (up->state == GW_UP_QUEUED) gw_backlog_remove(&up->pool->backlog, &up->bl);
    up->state = GW_UP_DONE;
    ev_timer_stop(gw_srv.loop, &up->timer);
    if (up->uc) {
        uc_close(up->uc);
        up->uc = NULL;
    }
    int wake = up->counted;
    peer_release(up);
    gw_bufq_clear(&up->out);
    gw_bufq_clear(&up->rsp.body);
    if (up->c && up->c->up == up) up->c->up = NULL;
    up->c = NULL;
    up->dead = 1;
    if (wake) wake_backlog(up->pool);
    if (up->busy == 0) up_destroy(up);
}
