/* Unit tests for the exchange engine (exchange.h) and the health checker on it: a real libev
 * loop, real loopback sockets, and HTTP backends scripted by the test on the same loop. Linked
 * without the client side (Makefile.am): the engine must not need it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/base/alloc.h"
#include "gateway/upstream/balance.h"
#include "gateway/upstream/registry.h"
#include "gateway/upstream/health.h"
#include "gateway/upstream/upstream.h"

static struct ev_loop *loop;

/* ---- a scripted backend ---- */

enum { S_REPLY, S_SILENT, S_HOLD, S_REPLY_CLOSE };

typedef struct tsrv tsrv;
typedef struct sconn {
    ev_io io;
    int fd;
    tsrv *s;
    char in[16384];
    size_t len;
    char *out;
    size_t out_len, out_off;
    int close_after;
    int held; /* a head arrived while the server was holding */
    struct sconn *next;
} sconn;

struct tsrv {
    int fd;
    char name[64];
    ev_io io;
    int mode;
    int status;      /* of the reply */
    size_t body_len; /* of the reply */
    int accepted, heads;
    sconn *conns;
};

static void sconn_close(sconn *sc)
{
    ev_io_stop(loop, &sc->io);
    close(sc->fd);
    sc->fd = -1;
    free(sc->out);
    sc->out = NULL;
}

static void sconn_write(sconn *sc)
{
    while (sc->out_off < sc->out_len) {
        ssize_t n = write(sc->fd, sc->out + sc->out_off, sc->out_len - sc->out_off);
        if (n < 0) {
            if (errno == EAGAIN) break;
            sconn_close(sc);
            return;
        }
        sc->out_off += (size_t)n;
    }
    ev_io_stop(loop, &sc->io);
    if (sc->out_off < sc->out_len) {
        ev_io_set(&sc->io, sc->fd, EV_WRITE);
        ev_io_start(loop, &sc->io);
    } else if (sc->close_after) {
        sconn_close(sc);
    } else {
        ev_io_set(&sc->io, sc->fd, EV_READ);
        ev_io_start(loop, &sc->io);
    }
}

static void sconn_reply(sconn *sc, int close_after)
{
    tsrv *s = sc->s;
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n",
                     s->status, s->body_len, close_after ? "Connection: close\r\n" : "");
    free(sc->out);
    sc->out = gw_xmalloc((size_t)n + s->body_len);
    memcpy(sc->out, head, (size_t)n);
    memset(sc->out + n, 'b', s->body_len);
    sc->out_len = (size_t)n + s->body_len;
    sc->out_off = 0;
    sc->close_after = close_after;
    sc->len = 0;
    sconn_write(sc);
}

static void on_sconn(struct ev_loop *l, ev_io *w, int revents)
{
    sconn *sc = w->data;
    if (revents & EV_WRITE) {
        sconn_write(sc);
        return;
    }
    ssize_t n = read(sc->fd, sc->in + sc->len, sizeof(sc->in) - sc->len - 1);
    if (n <= 0) {
        sconn_close(sc);
        return;
    }
    sc->len += (size_t)n;
    sc->in[sc->len] = '\0';
    if (strstr(sc->in, "\r\n\r\n") == NULL) return;
    sc->s->heads++;
    switch (sc->s->mode) {
    case S_REPLY:
        sconn_reply(sc, 0);
        break;
    case S_REPLY_CLOSE:
        sconn_reply(sc, 1);
        break;
    case S_HOLD:
        sc->held = 1;
        break;
    default:
        break;
    }
}

static void on_accept(struct ev_loop *l, ev_io *w, int revents)
{
    tsrv *s = w->data;
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    sconn *sc = gw_xcalloc(1, sizeof(*sc));
    sc->fd = fd;
    sc->s = s;
    sc->next = s->conns;
    s->conns = sc;
    s->accepted++;
    ev_io_init(&sc->io, on_sconn, fd, EV_READ);
    sc->io.data = sc;
    ev_io_start(loop, &sc->io);
}

/* A listener on 127.0.0.1 (listening = 0: bound and closed, so connects are refused). */
static tsrv *tsrv_new(int mode, int listening)
{
    tsrv *s = gw_xcalloc(1, sizeof(*s));
    s->mode = mode;
    s->status = 200;
    s->body_len = 5;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(s->fd, (struct sockaddr *)&sa, &sl);
    snprintf(s->name, sizeof(s->name), "127.0.0.1:%d", ntohs(sa.sin_port));
    if (!listening) {
        close(s->fd);
        s->fd = -1;
        return s;
    }
    ck_assert_int_eq(listen(s->fd, 16), 0);
    ev_io_init(&s->io, on_accept, s->fd, EV_READ);
    s->io.data = s;
    ev_io_start(loop, &s->io);
    return s;
}

/* Answer the requests the server held. */
static void tsrv_release(tsrv *s)
{
    for (sconn *sc = s->conns; sc; sc = sc->next)
        if (sc->held && sc->fd >= 0) {
            sc->held = 0;
            sconn_reply(sc, 0);
        }
}

static void tsrv_free(tsrv *s)
{
    if (s->fd >= 0) {
        ev_io_stop(loop, &s->io);
        close(s->fd);
    }
    while (s->conns) {
        sconn *sc = s->conns;
        s->conns = sc->next;
        if (sc->fd >= 0) sconn_close(sc);
        free(sc->out);
        free(sc);
    }
    free(s);
}

/* ---- a starter ---- */

typedef struct tstart {
    gw_exchange *x;
    int started; /* gw_exchange_start returned */
    int op_in_start;
    int heads, bodies, done, error, status;
    size_t body_bytes;
    int full;        /* out_full answers this */
    int pause_after; /* set `full` after this many body ops (0: never) */
    gw_arena arena;
    gw_req req;
    gw_body body;
} tstart;

static void check_started(tstart *t)
{
    if (!t->started) t->op_in_start = 1;
}

static void t_head(void *ctx, gw_resp *rsp)
{
    tstart *t = ctx;
    check_started(t);
    t->heads++;
    t->status = rsp->status;
}

static void t_body(void *ctx, gw_resp *rsp)
{
    tstart *t = ctx;
    check_started(t);
    t->bodies++;
    t->body_bytes += rsp->body.bytes;
    gw_bufq_clear(&rsp->body);
    if (t->pause_after && t->bodies >= t->pause_after) t->full = 1;
}

static void t_done(void *ctx, gw_resp *rsp)
{
    tstart *t = ctx;
    check_started(t);
    t->body_bytes += rsp->body.bytes;
    gw_bufq_clear(&rsp->body);
    t->done++;
    t->x = NULL;
}

static void t_error(void *ctx, int status, const char *why)
{
    tstart *t = ctx;
    check_started(t);
    t->error++;
    t->status = status;
    t->x = NULL;
}

static int t_out_full(void *ctx)
{
    return ((tstart *)ctx)->full;
}

static void t_tunnel(void *ctx, const char *p, size_t n) {}

static const gw_exchange_ops t_ops = {.head = t_head,
                                      .body = t_body,
                                      .done = t_done,
                                      .error = t_error,
                                      .out_full = t_out_full,
                                      .tunnel_data = t_tunnel};

static gw_endpoint ep;

/* Start an exchange for `t` (ops: NULL for t_ops). */
static void tstart_go_ops(tstart *t, const gw_route *r, const gw_exchange_ops *ops)
{
    memset(&t->req, 0, sizeof(t->req));
    t->req.method = GW_STR("GET");
    t->req.target = t->req.path = t->req.backend_target = GW_STR("/x");
    t->req.query = GW_STR("");
    t->req.host = t->req.host_full = GW_STR("localhost");
    t->req.scheme = GW_STR("http");
    t->req.minor = 1;
    t->req.client = t->req.server = &ep;
    t->req.arena = &t->arena;
    gw_body_init(&t->body);
    t->body.complete = 1;
    gw_exchange_args a = {.loop = loop,
                          .ops = ops ? ops : &t_ops,
                          .ctx = t,
                          .req = &t->req,
                          .body = &t->body,
                          .route = r,
                          .arena = &t->arena};
    t->started = 0;
    t->x = gw_exchange_start(&a);
    t->started = 1;
}

static void tstart_go(tstart *t, const gw_route *r)
{
    tstart_go_ops(t, r, NULL);
}

static void tstart_end(tstart *t)
{
    gw_exchange_free(t->x);
    t->x = NULL;
    gw_arena_free(&t->arena);
}

/* ---- the loop ---- */

static void on_deadline(struct ev_loop *l, ev_timer *w, int revents)
{
    *(int *)w->data = 1;
}

/* Run the loop until *flag is set or `secs` pass. Returns *flag. */
static int run_until(const int *flag, double secs)
{
    int expired = 0;
    ev_timer t;
    ev_timer_init(&t, on_deadline, secs, 0);
    t.data = &expired;
    ev_timer_start(loop, &t);
    /* Work a call made out here (not from a callback, as the server always does) left owed
     * runs when the loop next invokes callbacks: a pass that does not wait gets it. */
    ev_run(loop, EVRUN_NOWAIT);
    while (!*flag && !expired) ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return *flag;
}

static void run_for(double secs)
{
    int never = 0;
    run_until(&never, secs);
}

static gw_pool *pool_of(tsrv **s, size_t n, unsigned cap)
{
    char *specs[4];
    for (size_t i = 0; i < n; i++) specs[i] = s[i]->name;
    char *err = NULL;
    gw_pool *p =
        gw_pool_new("test", gw_backend_find("http"), &gw_balance_static, specs, n, cap, &err);
    ck_assert_msg(p != NULL, "%s", err ? err : "");
    return p;
}

static gw_route route_of(gw_pool *p)
{
    gw_route r = {.pool = p,
                  .ops = p->ops,
                  .ka_requests = 100,
                  .max_backlog = 8,
                  .max_retries = 1,
                  .backlog_timeout = 5,
                  .connect_timeout = 2,
                  .read_timeout = 2,
                  .write_timeout = 2,
                  .disable_time = 10};
    return r;
}

static void pool_end(gw_pool *p)
{
    gw_upstream_pool_release(p);
    gw_pool_free(p);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    loop = ev_loop_new(EVFLAG_AUTO);
}

static void teardown(void)
{
    gw_upstream_pool_trim();
    ev_loop_destroy(loop);
}

/* ---- tests ---- */

START_TEST(normal_response)
{
    tsrv *s = tsrv_new(S_REPLY, 1);
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    tstart t = {0};
    tstart_go(&t, &r);
    ck_assert_int_eq(t.heads + t.bodies + t.done + t.error, 0);
    ck_assert(run_until(&t.done, 2));
    ck_assert_int_eq(t.op_in_start, 0);
    ck_assert_int_eq(t.heads, 1);
    ck_assert_int_eq(t.status, 200);
    ck_assert_uint_eq(t.body_bytes, 5);
    ck_assert_int_eq(t.error, 0);
    ck_assert_uint_eq(p->peers[0].requests, 1);
    ck_assert_uint_eq(p->peers[0].responses[2], 1);
    ck_assert_uint_eq(p->peers[0].inflight, 0);
    ck_assert_uint_eq(p->peers[0].nidle, 1); /* kept alive */
    tstart_end(&t);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

START_TEST(error_after_start_returns)
{
    tsrv *s = tsrv_new(S_REPLY, 0); /* refused */
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    r.max_retries = 0;
    tstart t = {0};
    tstart_go(&t, &r);
    ck_assert_int_eq(t.error, 0); /* not from inside start */
    ck_assert(run_until(&t.error, 2));
    ck_assert_int_eq(t.op_in_start, 0);
    ck_assert_int_eq(t.status, 503);
    ck_assert_uint_eq(p->peers[0].failures, 1);
    /* a pool with nothing available fails on the loop's next pass, too */
    tstart u = {0};
    tstart_go(&u, &r);
    ck_assert_int_eq(u.error, 0);
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_int_eq(u.error, 1);
    ck_assert_int_eq(u.status, 503);
    tstart_end(&t);
    tstart_end(&u);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

START_TEST(refused_retries_another_peer)
{
    tsrv *s[2] = {tsrv_new(S_REPLY, 0), tsrv_new(S_REPLY, 1)};
    gw_pool *p = pool_of(s, 2, 0);
    gw_route r = route_of(p);
    tstart t = {0};
    tstart_go(&t, &r);
    ck_assert(run_until(&t.done, 2));
    ck_assert_int_eq(t.status, 200);
    ck_assert_uint_eq(p->peers[0].failures, 1);
    ck_assert_uint_eq(p->peers[0].retries, 1);
    ck_assert(p->peers[0].disabled_until > 0);
    ck_assert_uint_eq(p->peers[1].requests, 1);
    tstart_end(&t);
    pool_end(p);
    tsrv_free(s[0]);
    tsrv_free(s[1]);
}
END_TEST

START_TEST(read_timeout_is_504)
{
    tsrv *s = tsrv_new(S_SILENT, 1);
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    r.read_timeout = 0.1;
    tstart t = {0};
    tstart_go(&t, &r);
    ck_assert(run_until(&t.error, 2));
    ck_assert_int_eq(t.status, 504);
    ck_assert_uint_eq(p->peers[0].inflight, 0);
    tstart_end(&t);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

START_TEST(backlog_full_and_wake_up)
{
    tsrv *s = tsrv_new(S_HOLD, 1);
    gw_pool *p = pool_of(&s, 1, 1); /* max-pool-size 1 */
    gw_route r = route_of(p);
    r.max_backlog = 1;
    tstart a = {0}, b = {0}, c = {0};
    tstart_go(&a, &r);
    run_until(&s->heads, 2);
    ck_assert_int_eq(s->heads, 1);
    tstart_go(&b, &r); /* waits */
    tstart_go(&c, &r); /* the backlog is full */
    ck_assert_int_eq(c.error, 0);
    ck_assert_uint_eq(p->backlog.len, 1);
    ck_assert(run_until(&c.error, 2));
    ck_assert_int_eq(c.status, 503);
    ck_assert_int_eq(b.done + b.error, 0);
    s->mode = S_REPLY;
    tsrv_release(s); /* a's answer frees the slot: b goes */
    ck_assert(run_until(&a.done, 2));
    ck_assert(run_until(&b.done, 2));
    ck_assert_int_eq(b.status, 200);
    ck_assert_uint_eq(p->backlog.len, 0);
    ck_assert_uint_eq(p->peers[0].inflight, 0);
    tstart_end(&a);
    tstart_end(&b);
    tstart_end(&c);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

START_TEST(pause_and_resume)
{
    tsrv *s = tsrv_new(S_REPLY, 1);
    s->body_len = 1024 * 1024;
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    tstart t = {0};
    t.pause_after = 1;
    tstart_go(&t, &r);
    ck_assert(run_until(&t.bodies, 2));
    run_for(0.1);
    ck_assert_int_eq(t.bodies, 1); /* paused: nothing more while full */
    ck_assert_int_eq(t.done, 0);
    ck_assert(t.body_bytes < s->body_len);
    t.full = 0;
    t.pause_after = 0;
    gw_exchange_resume(t.x);
    ck_assert_int_eq(t.bodies, 1); /* resuming reads from the loop, not inside the call */
    ck_assert(run_until(&t.done, 3));
    ck_assert_uint_eq(t.body_bytes, s->body_len);
    tstart_end(&t);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

/* A kept-alive connection the backend closed while it sat idle: the next request takes it, finds
 * it dead before any answer, and reconnects once, without blaming the peer. */
START_TEST(stale_keepalive_retried_once)
{
    tsrv *s = tsrv_new(S_REPLY, 1);
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    r.max_retries = 0;
    tstart first = {0};
    tstart_go(&first, &r);
    ck_assert(run_until(&first.done, 2));
    ck_assert_uint_eq(p->peers[0].nidle, 1);
    for (sconn *sc = s->conns; sc; sc = sc->next)
        if (sc->fd >= 0) sconn_close(sc); /* the backend closes its end */
    tstart second = {0};
    tstart_go(&second, &r); /* takes the idle connection before the loop sees the close */
    ck_assert_uint_eq(p->peers[0].nidle, 0);
    ck_assert(run_until(&second.done, 2));
    ck_assert_int_eq(second.status, 200);
    ck_assert_int_eq(s->accepted, 2);
    ck_assert_uint_eq(p->peers[0].failures, 0);
    tstart_end(&first);
    tstart_end(&second);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

/* The starter refuses the head (as X-Rewrite does with a loop): the engine, not the starter,
 * turns it into 502, from its own callback after the head op returned. */
static int reject_called_back; /* error arrived while reject was still running */
static int in_reject;
static void reject_head(void *ctx, gw_resp *rsp)
{
    tstart *t = ctx;
    t->heads++;
    in_reject = 1;
    gw_exchange_reject(t->x, "refused by the starter");
    in_reject = 0;
}

static void reject_error(void *ctx, int status, const char *why)
{
    if (in_reject) reject_called_back = 1;
    t_error(ctx, status, why);
}

START_TEST(reject_is_502_from_the_engine)
{
    tsrv *s = tsrv_new(S_REPLY, 1);
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    static gw_exchange_ops ops;
    ops = t_ops;
    ops.head = reject_head;
    ops.error = reject_error;
    tstart t = {0};
    reject_called_back = 0;
    tstart_go_ops(&t, &r, &ops);
    ck_assert(run_until(&t.error, 2));
    ck_assert_int_eq(t.heads, 1);
    ck_assert_int_eq(t.status, 502);
    ck_assert_int_eq(reject_called_back, 0);
    ck_assert_int_eq(t.bodies + t.done, 0);
    ck_assert_uint_eq(p->peers[0].inflight, 0);
    tstart_end(&t);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

/* A free inside the body op: no op follows, the peer's slot is back. */
static void free_in_body(void *ctx, gw_resp *rsp)
{
    tstart *t = ctx;
    t->bodies++;
    gw_exchange_free(t->x);
    t->x = NULL;
}

START_TEST(free_inside_an_op)
{
    tsrv *s = tsrv_new(S_REPLY, 1);
    s->body_len = 300 * 1024;
    gw_pool *p = pool_of(&s, 1, 0);
    gw_route r = route_of(p);
    static gw_exchange_ops ops;
    ops = t_ops;
    ops.body = free_in_body;
    tstart t = {0};
    tstart_go_ops(&t, &r, &ops);
    ck_assert(run_until(&t.bodies, 2));
    run_for(0.1);
    ck_assert_int_eq(t.bodies, 1);
    ck_assert_int_eq(t.done + t.error, 0);
    ck_assert_uint_eq(p->peers[0].inflight, 0);
    ck_assert_uint_eq(p->peers[0].nidle, 0); /* mid-body: not reusable */
    tstart_end(&t);
    pool_end(p);
    tsrv_free(s);
}
END_TEST

static int changes;
static int heads_at_change[4];
static tsrv *hc_srv;
static void on_changed(gw_pool *pool, gw_peer *peer)
{
    if (changes < 4) heads_at_change[changes] = hc_srv->heads;
    changes++;
}

START_TEST(health_down_after_two_up_after_two)
{
    tsrv *s = tsrv_new(S_REPLY_CLOSE, 1);
    s->status = 500;
    hc_srv = s;
    changes = 0;
    gw_health_changed = on_changed;
    gw_pool *p = pool_of(&s, 1, 1);
    p->hc_path = gw_xstrdup("/ping");
    p->hc_interval = 0.05;
    gw_health_start(loop, p);
    ck_assert(run_until(&changes, 3));
    ck_assert_int_eq(p->peers[0].health, GW_PEER_DOWN);
    ck_assert_int_eq(heads_at_change[0], 2); /* one failure is not enough */
    s->status = 200;
    int up = 0;
    for (int i = 0; i < 300 && !up; i++) {
        run_for(0.01);
        up = changes >= 2;
    }
    ck_assert(up);
    ck_assert_int_eq(p->peers[0].health, GW_PEER_UP);
    ck_assert_int_eq(heads_at_change[1] - heads_at_change[0], 2);
    /* checks are not client requests */
    ck_assert_uint_eq(p->peers[0].requests, 0);
    ck_assert_uint_eq(p->peers[0].responses[2] + p->peers[0].responses[5], 0);
    ck_assert_uint_eq(p->peers[0].response_time.count, 0);
    /* a peer at its cap is not checked (the check would open a connection past it) */
    p->peers[0].count->inflight = 1; /* (requests of any pool naming it) */
    int h = s->heads;
    run_for(0.2);
    ck_assert_int_eq(s->heads, h);
    p->peers[0].count->inflight = 0;
    gw_health_stop(p);
    gw_health_changed = NULL;
    pool_end(p);
    tsrv_free(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = tcase_create("exchange");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, normal_response);
    tcase_add_test(tc, error_after_start_returns);
    tcase_add_test(tc, refused_retries_another_peer);
    tcase_add_test(tc, read_timeout_is_504);
    tcase_add_test(tc, backlog_full_and_wake_up);
    tcase_add_test(tc, pause_and_resume);
    tcase_add_test(tc, stale_keepalive_retried_once);
    tcase_add_test(tc, reject_is_502_from_the_engine);
    tcase_add_test(tc, free_inside_an_op);
    tcase_add_test(tc, health_down_after_two_up_after_two);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
