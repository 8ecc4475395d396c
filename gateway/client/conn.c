/* Client connections: read and check a request head, read or stream its body, start a backend
 * exchange (exchange.h) for it, write the response (framing, header rewrites; X-Sendfile and
 * X-Rewrite are respond/'s), and keep the connection alive. Every client protocol error becomes
 * its status code here; backend trouble arrives as a status from the exchange. */
#include "config.h"

#include "gateway/client/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/client/accesslog.h"
#include "gateway/client/request.h"
#include "gateway/base/alloc.h"
#include "gateway/base/body.h"
#include "gateway/base/log.h"
#include "gateway/respond/head.h"
#include "gateway/respond/status.h"
#include "gateway/respond/xrewrite.h"
#include "gateway/respond/xsendfile.h"
#include "gateway/upstream/exchange.h"
#include "proto/http/http_write.h"

gw_server gw_srv = {.lock = PTHREAD_MUTEX_INITIALIZER, .accesslog_fd = -1};

#define OUT_HIGH (256 * 1024) /* pause the backend read above this */
#define OUT_LOW (64 * 1024)   /* resume below this */
/* Lingering close (like nginx's lingering_time and lighttpd): after an answer that left request
 * bytes unread, keep reading and discarding for at most this long and this much. */
#define LINGER_TIME 2.0
#define LINGER_BYTES (4u << 20)

static void on_client_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_client_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void process(gw_conn *c);
static void process_once(gw_conn *c);
static void flush(gw_conn *c);
static void send_error(gw_conn *c, int status);
static void update_io(gw_conn *c);
static void finish_request(gw_conn *c);
static void linger_mark(gw_conn *c);
static int linger_start(gw_conn *c);
static void linger_read(gw_conn *c);
static const gw_exchange_ops conn_xops;

static double now(void)
{
    return ev_now(gw_self->loop);
}

static const gw_server_conf *srv(const gw_conn *c)
{
    return gw_rt_server(c->rt ? c->rt : gw_self->rt, c->lst->name);
}

/* ---- lifetime ---- */

/* Forget the current request (its upstream, body, sendfile, arena, config reference); log it
 * if it was answered. */
static void request_reset(gw_conn *c)
{
    if (c->status) {
        gw_accesslog_write(c);
        if (c->status >= 100 && c->status < 600)
            gw_atomic_add(&gw_self->responses[c->status / 100], 1);
    }
    gw_exchange_free(c->up);
    c->up = NULL;
    gw_body_reset(&c->body);
    if (c->sf_fd >= 0) close(c->sf_fd);
    c->sf_fd = -1;
    c->sf_left = 0;
    if (c->rt) gw_rt_unref(c->rt);
    c->rt = NULL;
    c->route = NULL;
    memset(&c->req, 0, sizeof(c->req));
    memset(&c->info, 0, sizeof(c->info));
    c->body_mode = 0;
    c->body_left = 0;
    c->expect_pending = 0;
    c->reading_paused = 0;
    c->resp_started = c->resp_chunked = c->resp_nobody = 0;
    c->up_done = 0;
    c->resp_own = 0;
    c->status = 0;
    c->bytes_out = 0;
    c->head_len = 0;
    c->backend = NULL;
    c->rewrites = 0;
    c->rewrite_pending = 0;
    c->force_backend = NULL;
    gw_arena_reset(&c->arena);
}

/* Close the connection now; free its memory once no callback is running on it, so that code
 * up the stack may still look at c->dead. */
static void conn_free(gw_conn *c)
{
    if (c->dead) return;
    c->dead = 1;
    request_reset(c);
    ev_io_stop(gw_self->loop, &c->io);
    ev_timer_stop(gw_self->loop, &c->timer);
    close(c->fd);
    c->fd = -1;
    gw_buf_free(&c->in);
    gw_bufq_clear(&c->out);
    gw_arena_free(&c->arena);
    gw_worker *w = gw_self;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    gw_atomic_set(&w->nconns, w->nconns - 1);
    long total = __atomic_sub_fetch(&gw_srv.nconns, 1, __ATOMIC_SEQ_CST);
    /* below the limit again (of the config now in force: a reload may have changed it): every
     * worker accepts */
    if (w->rt && total + 1 >= w->rt->srv.max_connections && !gw_atomic_get(&gw_srv.stopping))
        gw_listeners_limit_changed();
    if (c->busy == 0) free(c);
}

static void enter(gw_conn *c)
{
    c->busy++;
}

static void leave(gw_conn *c)
{
    if (--c->busy == 0 && c->dead) free(c);
}

void gw_conn_accept(gw_listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
    gw_conn *c = gw_xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->lst = l;
    c->sf_fd = -1;
    gw_body_init(&c->body);
    c->server = l->local;
    if (salen <= sizeof(c->peer_sa)) memcpy(&c->peer_sa, sa, salen);
    gw_endpoint_from(&c->client, sa);
    if (!l->local.is_unix) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            gw_endpoint_from(&c->server, (struct sockaddr *)&ss);
    }
    gw_worker *w = gw_self;
    c->next = w->conns;
    if (c->next) c->next->prev = c;
    w->conns = c;
    gw_atomic_set(&w->nconns, w->nconns + 1);
    if (__atomic_add_fetch(&gw_srv.nconns, 1, __ATOMIC_SEQ_CST) >= w->rt->srv.max_connections)
        gw_listeners_limit_changed(); /* every worker stops accepting */
    ev_io_init(&c->io, on_client_io, fd, EV_READ);
    c->io.data = c;
    ev_init(&c->timer, on_client_timer);
    c->timer.data = c;
    c->last_io = now();
    c->state = GW_C_HEAD;
    ev_io_start(gw_self->loop, &c->io);
    c->timer.repeat = gw_rt_server(w->rt, l->name)->ka_idle;
    ev_timer_again(gw_self->loop, &c->timer);
}

void gw_conns_close_idle(void)
{
    for (gw_conn *c = gw_self->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == GW_C_HEAD && (c->in.data == NULL || gw_buf_unread(&c->in) == 0) &&
            c->out.bytes == 0)
            conn_free(c);
    }
}

void gw_conns_close_all(void)
{
    while (gw_self->conns) conn_free(gw_self->conns);
}

/* ---- writing ---- */

static void begin_close(gw_conn *c)
{
    c->state = GW_C_CLOSING;
    c->resp_close = 1;
    gw_exchange_free(c->up);
    c->up = NULL;
    linger_mark(c);
    if (!c->linger) shutdown(c->fd, SHUT_RD);
    update_io(c);
    flush(c);
}

static void update_io(gw_conn *c)
{
    if (c->dead) return;
    int ev = 0;
    if (c->out.bytes > 0 || c->sf_left > 0) ev |= EV_WRITE;
    switch (c->state) {
    case GW_C_HEAD:
    case GW_C_BODY:
        ev |= EV_READ;
        break;
    case GW_C_ACTIVE:
        /* streaming bodies are read under backpressure; otherwise only watch for the client
         * going away (and let pipelined bytes wait in the buffer) */
        if (!c->reading_paused && !c->client_eof && c->in.data && gw_buf_room(&c->in) > 0)
            ev |= EV_READ;
        break;
    case GW_C_TUNNEL:
        if (!c->reading_paused) ev |= EV_READ;
        break;
    case GW_C_LINGER:
        ev |= EV_READ;
        break;
    default:
        break;
    }
    if (ev_is_active(&c->io)) {
        if ((c->io.events & (EV_READ | EV_WRITE)) == ev) return;
        ev_io_stop(gw_self->loop, &c->io); /* (stopping also drops a fed event: only if active) */
    }
    if (ev) {
        ev_io_set(&c->io, c->fd, ev);
        ev_io_start(gw_self->loop, &c->io);
    }
}

/* Write queued bytes, then the X-Sendfile file; finish the request when all is out. */
static void flush(gw_conn *c)
{
    if (c->dead) return;
    while (c->out.bytes > 0) {
        struct iovec iov[64];
        int n = gw_bufq_iov(&c->out, iov, 64);
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            conn_free(c);
            return;
        }
        c->last_io = now();
        c->bytes_out += (uint64_t)w;
        gw_bufq_consume(&c->out, (size_t)w);
    }
    while (c->out.bytes == 0 && c->sf_left > 0) {
        size_t n = c->sf_left > (1u << 30) ? (1u << 30) : (size_t)c->sf_left;
        ssize_t w = sendfile(c->fd, c->sf_fd, &c->sf_off, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            conn_free(c);
            return;
        }
        if (w == 0) { /* the file shrank under us: the client sees the truncation */
            conn_free(c);
            return;
        }
        c->last_io = now();
        c->bytes_out += (uint64_t)w;
        c->sf_left -= (uint64_t)w;
    }
    if (c->out.bytes < OUT_LOW && c->up) gw_exchange_resume(c->up);
    if (c->out.bytes == 0 && c->sf_left == 0) {
        if (c->state == GW_C_CLOSING) {
            if (!linger_start(c)) conn_free(c);
            return;
        }
        if (c->state == GW_C_ACTIVE && c->up_done) {
            finish_request(c);
            return;
        }
    }
    update_io(c);
}

/* Was the request read whole (so that what follows on the connection is the next request)? */
static int body_read(const gw_conn *c)
{
    return c->body.complete || (!c->info.chunked && c->info.content_length <= 0);
}

/* ---- lingering close ---- */

/* Closing now with request bytes unread (a body not taken, bytes beyond the request) makes the
 * kernel answer the client's next bytes with a reset, which can destroy the response before
 * the client reads it: such a connection lingers once the answer is out. */
static void linger_mark(gw_conn *c)
{
    if (!c->client_eof && (!body_read(c) || (c->in.data && gw_buf_unread(&c->in) > 0)))
        c->linger = 1;
}

/* The answer is out: shut the write side (the client sees the end of the response), drop the
 * request and its buffers, and discard input for LINGER_TIME / LINGER_BYTES at most. Returns 0
 * when there is no need to linger (the caller closes). */
static int linger_start(gw_conn *c)
{
    if (!c->linger || shutdown(c->fd, SHUT_WR) != 0) return 0;
    request_reset(c); /* logged now, not when the lingering ends */
    c->state = GW_C_LINGER;
    c->linger_bytes = 0;
    gw_buf_free(&c->in);
    gw_arena_free(&c->arena);
    c->last_io = now(); /* the bound counts from here; discarded reads do not extend it */
    c->timer.repeat = LINGER_TIME;
    ev_timer_again(gw_self->loop, &c->timer);
    update_io(c);
    return 1;
}

static void linger_read(gw_conn *c)
{
    char sink[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(c->fd, sink, sizeof(sink));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) { /* the client closed (or reset): done */
            conn_free(c);
            return;
        }
        c->linger_bytes += (uint64_t)n;
        if (c->linger_bytes > LINGER_BYTES) {
            conn_free(c);
            return;
        }
    }
}

/* ---- responses made by the gateway ---- */

static void send_error(gw_conn *c, int status)
{
    if (c->dead) return;
    c->status = status;
    c->resp_started = 1;
    /* the connection stays usable only if the request was read whole */
    if (c->state == GW_C_CLOSING || !body_read(c) || c->info.upgrade || !c->info.keepalive)
        c->resp_close = 1;
    gw_head_error_page(c, status);
    if (c->resp_close) {
        begin_close(c);
        return;
    }
    c->state = GW_C_ACTIVE;
    if (c->up == NULL) c->up_done = 1; /* else: done when the exchange ends */
    flush(c);
}

void gw_conn_send_body(gw_conn *c, int status, const char *type, gw_bufq *body)
{
    c->state = GW_C_ACTIVE;
    c->status = status;
    c->resp_started = 1;
    gw_conn_decide_close(c); /* a body sent along is not read: such a connection closes */
    gw_head_body(c, status, type, body);
    c->up_done = 1;
    flush(c);
}

/* ---- the end of one request ---- */

static void finish_request(gw_conn *c)
{
    /* a backend may answer before the whole body arrived: its rest cannot be told apart from
     * the next request, so such a connection closes */
    int close_it = c->resp_close || gw_atomic_get(&gw_srv.stopping) ||
                   c->nreq >= (unsigned)srv(c)->ka_requests || !body_read(c);
    if (close_it) linger_mark(c); /* while the request still says what was read */
    request_reset(c);
    if (close_it) {
        begin_close(c);
        return;
    }
    c->state = GW_C_HEAD;
    c->last_io = now();
    if (c->in.data && gw_buf_unread(&c->in) > 0) {
        process(c); /* a pipelined request is waiting */
        return;
    }
    /* idle keep-alive connections hold no buffer */
    gw_buf_free(&c->in);
    gw_arena_free(&c->arena);
    update_io(c);
}

/* rewrite-request: a bad result is the configuration's fault: 500, nothing reaches the backend. */
static int apply_rewrites(gw_conn *c)
{
    if (gw_request_rewrite(c) == GW_OK) return GW_OK;
    send_error(c, 500);
    return GW_ERR;
}

static void dispatch_request(gw_conn *c)
{
    c->state = GW_C_ACTIVE;
    if (!c->body.streaming) c->req.content_length = (int64_t)c->body.total;
    update_io(c);
    gw_exchange_args a = {.loop = gw_self->loop,
                          .ops = &conn_xops,
                          .ctx = c,
                          .req = &c->req,
                          .body = &c->body,
                          .route = c->route,
                          .peer_name = c->force_backend,
                          .arena = &c->arena};
    c->up = gw_exchange_start(&a); /* its outcome comes through conn_xops, from the loop */
}

/* After the head: the status pages, routing, limits, then the body or the dispatch. */
static void handle_request(gw_conn *c)
{
    const gw_server_conf *s = srv(c);
    gw_request_route(c);
    if (gw_status_handle(c)) return;
    if (c->route->pool == NULL) {
        send_error(c, 404);
        return;
    }
    if (c->info.content_length > s->max_request_size) {
        send_error(c, 413); /* never after a 100 Continue */
        return;
    }
    c->body_mode = c->info.chunked ? 2 : c->info.content_length > 0 ? 1 : 0;
    c->body_left = c->info.content_length > 0 ? (uint64_t)c->info.content_length : 0;
    if (c->body_mode == 2) http_chunked_init(&c->chunk);
    gw_request_resolve_cgi(c);
    if (apply_rewrites(c) != GW_OK) return;
    if (c->body_mode == 0) {
        c->body.complete = 1;
        dispatch_request(c);
        return;
    }
    int needs_len = (c->route->pool->ops->flags & GW_BE_NEEDS_LENGTH) != 0;
    c->body.streaming = s->stream_body && !(needs_len && c->body_mode == 2);
    if (c->info.expect_continue && gw_buf_unread(&c->in) == 0)
        gw_bufq_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (c->body.streaming) {
        dispatch_request(c);
        if (!c->dead && c->state == GW_C_ACTIVE && c->up) process(c); /* bytes already here */
        return;
    }
    c->state = GW_C_BODY;
    process(c);
}

/* Work through what the read buffer holds, as far as the state allows. Answering a request can
 * finish it and start the next pipelined one from deep inside this call (flush ->
 * finish_request -> process): such a nested call only asks the outermost one to go round again,
 * so a long pipeline of answers the gateway makes itself does not grow the stack. */
static void process(gw_conn *c)
{
    if (c->processing) {
        c->process_again = 1;
        return;
    }
    enter(c);
    c->processing = 1;
    do {
        c->process_again = 0;
        process_once(c);
    } while (c->process_again && !c->dead);
    c->processing = 0;
    leave(c);
}

static void process_once(gw_conn *c)
{
    if (c->dead) return;
    switch (c->state) {
    case GW_C_HEAD: {
        if (c->in.data == NULL || gw_buf_unread(&c->in) == 0) break;
        int st = gw_request_take_head(c);
        if (st == GW_AGAIN) break;
        if (st != GW_OK) {
            c->state = GW_C_CLOSING;
            send_error(c, st);
            return;
        }
        handle_request(c);
        return;
    }
    case GW_C_BODY:
    case GW_C_ACTIVE: {
        if (c->state == GW_C_ACTIVE && (!c->body.streaming || c->body.complete)) break;
        int st = gw_request_read_body(c);
        if (st) {
            if (c->resp_started) {
                conn_free(c);
                return;
            }
            gw_exchange_free(c->up);
            c->up = NULL;
            c->state = GW_C_CLOSING;
            send_error(c, st);
            return;
        }
        if (c->state == GW_C_BODY && c->body.complete) {
            dispatch_request(c);
            return;
        }
        if (c->state == GW_C_ACTIVE && c->up) gw_exchange_body_ready(c->up);
        break;
    }
    case GW_C_TUNNEL:
        if (c->up && c->in.data && gw_buf_unread(&c->in) > 0) {
            gw_bufq q = {0};
            gw_bufq_append(&q, c->in.data + c->in.off, gw_buf_unread(&c->in));
            gw_buf_consume(&c->in, gw_buf_unread(&c->in));
            /* a backend that does not read slows the client (body_drained resumes) */
            if (gw_exchange_tunnel_send(c->up, &q)) c->reading_paused = 1;
        }
        break;
    default:
        break;
    }
    update_io(c);
    flush(c);
}

/* ---- the response, from the exchange ---- */

static int x_out_full(void *ctx)
{
    const gw_conn *c = ctx;
    return c->out.bytes >= OUT_HIGH;
}

static void x_body_drained(void *ctx)
{
    gw_conn *c = ctx;
    if (c->reading_paused && c->body.mem.bytes < GW_BODY_MEM_MAX) {
        c->reading_paused = 0;
        update_io(c);
        /* bytes already buffered are taken now: this op runs from the exchange's own callback
         * (never inside a call the connection made), so feeding it more body is allowed */
        if (c->in.data && gw_buf_unread(&c->in) > 0) process(c);
    }
}

/* Route the request again after X-Rewrite (conditions see the new target and Host). */
static void redispatch(gw_conn *c)
{
    c->rewrite_pending = 0;
    c->up_done = 0;
    const char *fb = c->force_backend;
    gw_request_route(c);
    if (c->route->pool == NULL) {
        send_error(c, 404);
        return;
    }
    c->force_backend = fb;
    gw_request_resolve_cgi(c);
    if (apply_rewrites(c) != GW_OK) return;
    c->body.complete = 1;
    dispatch_request(c);
}

void gw_conn_decide_close(gw_conn *c)
{
    if (!c->info.keepalive || c->nreq >= (unsigned)srv(c)->ka_requests ||
        gw_atomic_get(&gw_srv.stopping) || !body_read(c))
        c->resp_close = 1;
}

static void x_head(void *ctx, gw_resp *rsp)
{
    gw_conn *c = ctx;
    enter(c);
    const gw_route *r = c->route;
    gw_str xs = GW_STR_NULL;
    c->backend = gw_exchange_peer(c->up);
    if (gw_head_has_x_fields(rsp)) { /* X-Rewrite-*, X-Sendfile, X-LIGHTTPD-send-file */
        const char *why = NULL;
        int xr = gw_xrewrite_take(c, rsp, &why);
        if (xr == GW_ERR) {
            gw_exchange_reject(c->up, why); /* the backend's fault: its status comes back */
            goto out;
        }
        if (xr) {
            gw_exchange_discard(c->up);
            goto out;
        }
        xs = gw_xsendfile_take(rsp);
    }
    if (gw_rewrite_response(&r->rw_resp, rsp) != GW_OK) {
        gw_log(GW_LOG_ERR, "rewrite-response for %.*s produced a CR, LF or NUL; refused",
               (int)c->req.path.n, c->req.path.p);
        gw_exchange_discard(c->up);
        c->resp_own = 1;
        send_error(c, 500);
        goto out;
    }
    if (xs.p && r->allow_xsendfile && rsp->status >= 200 && rsp->status < 300 && !rsp->upgrade) {
        gw_exchange_discard(c->up);
        c->resp_own = 1;
        int st = gw_xsendfile_start(c, rsp, xs);
        if (st) {
            send_error(c, st);
        } else {
            gw_exchange_sent_file(c->up);
            flush(c);
        }
        goto out;
    }
    gw_conn_decide_close(c);
    gw_head_backend(c, rsp);
    if (rsp->upgrade) {
        c->state = GW_C_TUNNEL;
        c->resp_close = 1;
    }
    if (rsp->upgrade || (rsp->body.bytes == 0 && !rsp->done))
        flush(c); /* else the body's flush takes it along */
    if (rsp->upgrade && !c->dead && c->in.data && gw_buf_unread(&c->in) > 0) process(c);
out:
    leave(c);
}

static void x_body(void *ctx, gw_resp *rsp)
{
    gw_conn *c = ctx;
    enter(c);
    gw_head_move_body(c, &rsp->body);
    flush(c);
    leave(c);
}

static void x_done(void *ctx, gw_resp *rsp)
{
    gw_conn *c = ctx;
    enter(c);
    c->backend = gw_exchange_peer(c->up);
    c->up = NULL; /* the exchange ends with this call */
    if (c->rewrite_pending) {
        redispatch(c);
    } else {
        if (rsp->body.bytes > 0) gw_head_move_body(c, &rsp->body);
        if (c->resp_chunked) http_write_last_chunk(&c->out);
        c->up_done = 1;
        flush(c);
    }
    leave(c);
}

static void x_error(void *ctx, int status, const char *why)
{
    gw_conn *c = ctx;
    enter(c);
    const char *peer = gw_exchange_peer(c->up);
    if (peer) c->backend = peer;
    c->up = NULL; /* the exchange ends with this call */
    int own = c->resp_own && !c->rewrite_pending;
    c->rewrite_pending = 0;
    if (own && c->resp_started) { /* the answer did not need the backend's body */
        c->up_done = 1;
        flush(c);
    } else if (c->resp_started && c->state == GW_C_TUNNEL) { /* the tunnel ends: deliver */
        begin_close(c);
    } else if (c->resp_started) { /* cut: the client sees the truncation */
        conn_free(c);
    } else {
        send_error(c, status);
    }
    leave(c);
}

static void x_tunnel_data(void *ctx, const char *p, size_t n)
{
    gw_conn *c = ctx;
    enter(c);
    gw_bufq_append(&c->out, p, n);
    flush(c);
    leave(c);
}

static const gw_exchange_ops conn_xops = {
    .head = x_head,
    .body = x_body,
    .done = x_done,
    .error = x_error,
    .out_full = x_out_full,
    .body_drained = x_body_drained,
    .tunnel_data = x_tunnel_data,
};

/* ---- events ---- */

static void client_read(gw_conn *c)
{
    if (c->state == GW_C_LINGER) {
        linger_read(c);
        return;
    }
    if (c->in.data == NULL) {
        gw_buf_init(&c->in, (size_t)srv(c)->max_field_size + 8192);
    }
    if (c->in.off > 0 && (c->in.off == c->in.len || gw_buf_room(&c->in) < 4096))
        gw_buf_compact(&c->in);
    size_t room = gw_buf_room(&c->in);
    if (room == 0) { /* work through what is buffered first */
        process(c);
        return;
    }
    ssize_t n = read(c->fd, c->in.data + c->in.len, room);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_free(c);
        else if (gw_buf_unread(&c->in) > 0) /* a fed read: bytes that waited in the buffer */
            process(c);
        return;
    }
    if (n == 0) { /* the client went away: nothing more can be answered */
        c->client_eof = 1;
        conn_free(c);
        return;
    }
    c->in.len += (size_t)n;
    c->last_io = now();
    process(c);
}

static void on_client_io(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_conn *c = w->data;
    enter(c);
    if (revents & EV_WRITE) /* level-triggered: a pending read event comes back */
        flush(c);
    else if (revents & EV_READ)
        client_read(c);
    leave(c);
}

/* The idle timeout that applies now, or 0 for none (the upstream engine times backends). */
static double idle_limit(const gw_conn *c)
{
    const gw_server_conf *s = srv(c);
    if (c->out.bytes > 0 || c->sf_left > 0) return s->write_idle;
    switch (c->state) {
    case GW_C_HEAD:
        if (c->in.data && gw_buf_unread(&c->in) > 0) return s->read_idle;
        return c->nreq ? s->ka_idle : s->read_idle;
    case GW_C_BODY:
        return s->read_idle;
    case GW_C_ACTIVE:
        return c->body.streaming && !c->body.complete && !c->reading_paused ? s->read_idle : 0;
    case GW_C_CLOSING:
        return s->write_idle;
    case GW_C_LINGER:
        return LINGER_TIME;
    default:
        return 0;
    }
}

static void on_client_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    gw_conn *c = w->data;
    double limit = idle_limit(c);
    double t = now();
    if (limit > 0 && t - c->last_io >= limit) {
        conn_free(c);
        return;
    }
    double next = limit > 0 ? c->last_io + limit - t : 1.0;
    if (next < 0.05) next = 0.05;
    w->repeat = next;
    ev_timer_again(loop, w);
}
