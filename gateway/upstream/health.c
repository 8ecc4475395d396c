/* Active health checks: per peer, a timer that sends one synthetic GET through the pool's own
 * gw_backend_ops on a fresh connection and judges the answer. Owns its sockets and timers; the
 * protocol bytes are the adapter's, the verdict goes into peer->health. */
#include "config.h"

#include "gateway/upstream/health.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/base/log.h"

#define HC_IN_MAX (64 * 1024) /* a larger answer is not a health-check answer: failure */
#define HC_TIMEOUT_MAX 10.0   /* a check never waits longer than this */
#define HC_STREAK 2           /* results in a row needed to change a peer's state */

void (*gw_health_changed)(gw_pool *pool, gw_peer *peer);

typedef struct hc_pool hc_pool;

/* One peer's checker. Between checks fd is -1 and only `timer` runs (waiting for the next
 * round); during a check `timer` is the deadline and `io` watches the socket. */
typedef struct hc_peer {
    hc_pool *hp; /* borrowed: the owner */
    gw_peer *peer;
    ev_timer timer;
    ev_io io;
    int fd;
    int connecting;
    double t_start; /* when the running (or last) check began */
    void *st;       /* adapter state, ops->state_size bytes */
    gw_bufq out;    /* encoded request not yet written */
    gw_buf in;      /* bytes from the backend, bounded by HC_IN_MAX */
    size_t in_total;
    gw_arena arena; /* the synthetic request's and the response's strings */
    gw_resp rsp;
    char tag[160]; /* rsp.log_tag */
    int fails, passes;
} hc_peer;

struct hc_pool {
    struct ev_loop *loop;
    gw_pool *pool;
    double timeout;
    gw_str path, query;
    gw_header host_hdr;
    gw_endpoint client, server;
    unsigned npeers;
    hc_peer peers[];
};

static void on_hc_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_hc_io(struct ev_loop *loop, ev_io *w, int revents);

/* End the running check's connection and per-check memory; keeps the streak counters. */
static void check_reset(hc_peer *hc)
{
    ev_io_stop(hc->hp->loop, &hc->io);
    if (hc->fd >= 0) close(hc->fd);
    hc->fd = -1;
    hc->connecting = 0;
    gw_bufq_clear(&hc->out);
    gw_bufq_clear(&hc->rsp.body);
    hc->in.off = hc->in.len = 0;
    hc->in_total = 0;
    gw_arena_reset(&hc->arena);
}

/* Wait for the next round: `interval` after the start of the one that just ended (at once if
 * that moment has passed, as after a check that used its whole interval). */
static void schedule_next(hc_peer *hc)
{
    hc_pool *hp = hc->hp;
    double after = hc->t_start + hp->pool->hc_interval - ev_now(hp->loop);
    ev_timer_stop(hp->loop, &hc->timer);
    ev_timer_set(&hc->timer, after > 0 ? after : 0, 0);
    ev_timer_start(hp->loop, &hc->timer);
}

static void verdict(hc_peer *hc, int ok, const char *why)
{
    hc_pool *hp = hc->hp;
    gw_peer *p = hc->peer;
    check_reset(hc);
    schedule_next(hc);
    int changed = 0;
    if (ok) {
        hc->fails = 0;
        if (hc->passes < HC_STREAK) hc->passes++;
        if (hc->passes >= HC_STREAK && p->health != GW_PEER_UP) {
            p->health = GW_PEER_UP;
            gw_log(GW_LOG_WARN, "backend %s: health check passed twice; up", p->name);
            changed = 1;
        }
    } else {
        hc->passes = 0;
        if (hc->fails < HC_STREAK) hc->fails++;
        snprintf(p->last_error, sizeof(p->last_error), "health check: %s", why);
        if (hc->fails >= HC_STREAK && p->health != GW_PEER_DOWN) {
            p->health = GW_PEER_DOWN;
            gw_log(GW_LOG_WARN, "backend %s: health check failed twice (%s); down", p->name, why);
            changed = 1;
        }
    }
    if (changed && gw_health_changed) gw_health_changed(hp->pool, p);
}

/* The synthetic request: GET hc_path, Host: localhost, no body, no keep-alive. */
static int encode_request(hc_peer *hc)
{
    hc_pool *hp = hc->hp;
    const gw_backend_ops *ops = hp->pool->ops;
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = GW_STR("GET");
    rq.target = gw_str_from(hp->pool->hc_path);
    rq.path = hp->path;
    rq.query = hp->query;
    rq.host = GW_STR("localhost");
    rq.host_full = GW_STR("localhost");
    rq.scheme = GW_STR("http");
    rq.minor = 1;
    rq.hdr = &hp->host_hdr;
    rq.nhdr = 1;
    rq.content_length = 0;
    rq.client = &hp->client;
    rq.server = &hp->server;
    rq.backend_target = rq.target;
    rq.script_name = hp->path;
    rq.docroot = GW_STR("");
    rq.server_software = GW_STR("portico-health");
    rq.arena = &hc->arena;

    memset(hc->st, 0, ops->state_size);
    if (ops->encode_head(hc->st, &rq, 0, &hc->out) != GW_OK) return GW_ERR;
    gw_bufq empty = {0};
    if (ops->encode_body(hc->st, &empty, 1, &hc->out) != GW_OK) return GW_ERR;
    return GW_OK;
}

static void check_start(hc_peer *hc)
{
    hc_pool *hp = hc->hp;
    gw_peer *p = hc->peer;
    hc->t_start = ev_now(hp->loop);
    hc->rsp.status = 0;
    hc->rsp.hdr = NULL;
    hc->rsp.nhdr = 0;
    hc->rsp.content_length = -1;
    hc->rsp.head_done = hc->rsp.done = hc->rsp.upgrade = 0;
    if (encode_request(hc) != GW_OK) {
        verdict(hc, 0, "the check request cannot be encoded for this protocol");
        return;
    }
    int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        char why[96];
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        verdict(hc, 0, why);
        return;
    }
    if (p->sa.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    hc->fd = fd;
    ev_timer_stop(hp->loop, &hc->timer);
    ev_timer_set(&hc->timer, hp->timeout, 0);
    ev_timer_start(hp->loop, &hc->timer);
    if (connect(fd, (struct sockaddr *)&p->sa, p->salen) == 0) {
        ev_io_set(&hc->io, fd, EV_WRITE);
    } else if (errno == EINPROGRESS || errno == EAGAIN) {
        hc->connecting = 1;
        ev_io_set(&hc->io, fd, EV_WRITE);
    } else {
        char why[96];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        verdict(hc, 0, why);
        return;
    }
    ev_io_start(hp->loop, &hc->io);
}

/* Write what the socket takes; once all is out, wait for the answer. */
static void do_send(hc_peer *hc)
{
    while (hc->out.bytes > 0) {
        struct iovec iov[16];
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)gw_bufq_iov(&hc->out, iov, 16);
        ssize_t n = sendmsg(hc->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            char why[96];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            verdict(hc, 0, why);
            return;
        }
        gw_bufq_consume(&hc->out, (size_t)n);
    }
    ev_io_stop(hc->hp->loop, &hc->io);
    ev_io_set(&hc->io, hc->fd, EV_READ);
    ev_io_start(hc->hp->loop, &hc->io);
}

static void judge(hc_peer *hc)
{
    int st = hc->rsp.status;
    if (st >= 200 && st <= 399) {
        verdict(hc, 1, NULL);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "status %d", st);
    verdict(hc, 0, why);
}

static void do_read(hc_peer *hc)
{
    const gw_backend_ops *ops = hc->hp->pool->ops;
    for (;;) {
        int eof = 0;
        gw_buf_compact(&hc->in);
        if (gw_buf_room(&hc->in) == 0) { /* the adapter wants more than the bound holds */
            verdict(hc, 0, "answer larger than 64 KiB");
            return;
        }
        ssize_t n = read(hc->fd, hc->in.data + hc->in.len, gw_buf_room(&hc->in));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            char why[96];
            snprintf(why, sizeof(why), "read: %s", strerror(errno));
            verdict(hc, 0, why);
            return;
        }
        if (n == 0) {
            eof = 1;
        } else {
            hc->in.len += (size_t)n;
            hc->in_total += (size_t)n;
            if (hc->in_total > HC_IN_MAX) {
                verdict(hc, 0, "answer larger than 64 KiB");
                return;
            }
        }
        int rc = ops->parse(hc->st, &hc->in, eof, &hc->rsp);
        gw_bufq_clear(&hc->rsp.body); /* only the status matters */
        if (rc == GW_DONE) {
            judge(hc);
            return;
        }
        if (rc == GW_ERR) {
            verdict(hc, 0, "invalid answer");
            return;
        }
        if (eof) {
            verdict(hc, 0,
                    hc->in_total ? "connection closed before the answer ended"
                                 : "connection closed without an answer");
            return;
        }
    }
}

static void on_hc_io(struct ev_loop *loop, ev_io *w, int revents)
{
    hc_peer *hc = w->data;
    if (hc->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(hc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            char why[96];
            snprintf(why, sizeof(why), "connect: %s", strerror(err));
            verdict(hc, 0, why);
            return;
        }
        hc->connecting = 0;
    }
    if (revents & EV_WRITE) {
        do_send(hc);
        return;
    }
    if (revents & EV_READ) do_read(hc);
}

static void on_hc_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    hc_peer *hc = w->data;
    if (hc->fd < 0) {
        check_start(hc);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "no answer within %.0f s", hc->hp->timeout);
    verdict(hc, 0, why);
}

static void endpoint_set(gw_endpoint *e, const char *addr, const char *port)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->addr, sizeof(e->addr), "%s", addr);
    snprintf(e->port, sizeof(e->port), "%s", port);
}

void gw_health_start(struct ev_loop *loop, gw_pool *pool)
{
    if (pool->hc_path == NULL || pool->health != NULL) return;
    hc_pool *hp = calloc(1, sizeof(*hp) + pool->npeers * sizeof(hc_peer));
    if (hp == NULL) abort();
    hp->loop = loop;
    hp->pool = pool;
    hp->timeout = pool->hc_interval < HC_TIMEOUT_MAX ? pool->hc_interval : HC_TIMEOUT_MAX;
    const char *q = strchr(pool->hc_path, '?');
    if (q) {
        hp->path = (gw_str){pool->hc_path, (size_t)(q - pool->hc_path)};
        hp->query = gw_str_from(q + 1);
    } else {
        hp->path = gw_str_from(pool->hc_path);
        hp->query = GW_STR("");
    }
    hp->host_hdr.name = GW_STR("Host");
    hp->host_hdr.value = GW_STR("localhost");
    endpoint_set(&hp->client, "127.0.0.1", "0");
    endpoint_set(&hp->server, "127.0.0.1", "80");
    hp->npeers = pool->npeers;
    pool->health = hp;
    const gw_backend_ops *ops = pool->ops;
    for (unsigned i = 0; i < hp->npeers; i++) {
        hc_peer *hc = &hp->peers[i];
        hc->hp = hp;
        hc->peer = &pool->peers[i];
        hc->fd = -1;
        hc->st = gw_xcalloc(1, ops->state_size ? ops->state_size : 1);
        gw_buf_init(&hc->in, HC_IN_MAX);
        hc->rsp.arena = &hc->arena;
        hc->rsp.content_length = -1;
        snprintf(hc->tag, sizeof(hc->tag), "backend %s health check", hc->peer->name);
        hc->rsp.log_tag = hc->tag;
        ev_init(&hc->io, on_hc_io);
        hc->io.data = hc;
        ev_init(&hc->timer, on_hc_timer);
        hc->timer.data = hc;
        /* spawned apps have no address until their supervisor starts them: not checked here */
        if (hc->peer->is_spawn || hc->peer->sa.ss_family == AF_UNSPEC) continue;
        ev_timer_set(&hc->timer, 0, 0);
        ev_timer_start(loop, &hc->timer);
    }
}

void gw_health_stop(gw_pool *pool)
{
    hc_pool *hp = pool->health;
    if (hp == NULL) return;
    for (unsigned i = 0; i < hp->npeers; i++) {
        hc_peer *hc = &hp->peers[i];
        check_reset(hc);
        ev_timer_stop(hp->loop, &hc->timer);
        gw_buf_free(&hc->in);
        gw_arena_free(&hc->arena);
        free(hc->st);
    }
    free(hp);
    pool->health = NULL;
}
