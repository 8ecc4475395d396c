/* Active health checks: per peer, a timer that starts one exchange (exchange.h) with a synthetic
 * GET pinned to the peer, and judges the answer in the exchange's done and error ops. Sockets,
 * protocol bytes and timeouts are the exchange engine's; the verdict goes into peer->health.
 *
 * A backend is checked once however many pools reach it with the same check (two routes with
 * other balancers, the old and the new generation during a reload): the first peer to start
 * checking it leads, the others follow (no timer; gw_health_changed spreads the verdict), and
 * when the leader's pool stops, a follower takes the checks over with the streak so far. All on
 * the main thread. */
#include "config.h"

#include "gateway/upstream/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/alloc.h"
#include "gateway/base/log.h"
#include "gateway/upstream/exchange.h"

#define HC_BODY_MAX (64 * 1024) /* a larger answer is not a health-check answer: failure */
#define HC_TIMEOUT_MAX 10.0     /* a check never waits longer than this */
#define HC_STREAK 2             /* results in a row needed to change a peer's state */

void (*gw_health_changed)(gw_pool *pool, gw_peer *peer);

typedef struct hc_pool hc_pool;

/* One peer's checker. Between checks x is NULL and `timer` waits for the next round; during a
 * check `timer` is its deadline. */
typedef struct hc_peer {
    hc_pool *hp; /* borrowed: the owner */
    gw_peer *peer;
    ev_timer timer;
    gw_exchange *x; /* the running check */
    double t_start; /* when the running (or last) check began */
    size_t body_total;
    gw_req req;
    gw_body body;   /* empty */
    gw_arena arena; /* the request's and the response's strings */
    int fails, passes;
    int leads; /* runs the checks of its backend (else another pool's peer does) */
} hc_peer;

struct hc_pool {
    struct ev_loop *loop;
    gw_pool *pool;
    double timeout;
    gw_route route; /* the checks' target: this pool, no retry, no backlog, no keep-alive */
    gw_str path, query;
    gw_header host_hdr;
    gw_endpoint client, server;
    hc_pool *next; /* every pool being checked (checks_running) */
    unsigned npeers;
    hc_peer peers[];
};

static hc_pool *checks_running;

static void on_hc_timer(struct ev_loop *loop, ev_timer *w, int revents);

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

/* The check is over (its exchange ended or was freed): count it, maybe change the peer's state. */
static void verdict(hc_peer *hc, int ok, const char *why)
{
    hc_pool *hp = hc->hp;
    gw_peer *p = hc->peer;
    gw_arena_reset(&hc->arena);
    schedule_next(hc);
    int changed = 0;
    if (ok) {
        hc->fails = 0;
        if (hc->passes < HC_STREAK) hc->passes++;
        if (hc->passes >= HC_STREAK && p->health != GW_PEER_UP) {
            gw_atomic_set(&p->health, GW_PEER_UP); /* (the main thread writes it; workers read) */
            pthread_mutex_lock(&p->pool->lock);
            p->last_error[0] = '\0'; /* (recovered: the last error is history) */
            pthread_mutex_unlock(&p->pool->lock);
            gw_log(GW_LOG_WARN, "backend %s: health check passed twice; up", p->name);
            changed = 1;
        }
    } else {
        hc->passes = 0;
        if (hc->fails < HC_STREAK) hc->fails++;
        pthread_mutex_lock(&p->pool->lock);
        snprintf(p->last_error, sizeof(p->last_error), "health check: %s", why);
        pthread_mutex_unlock(&p->pool->lock);
        if (hc->fails >= HC_STREAK && p->health != GW_PEER_DOWN) {
            gw_atomic_set(&p->health, GW_PEER_DOWN);
            gw_log(GW_LOG_WARN, "backend %s: health check failed twice (%s); down", p->name, why);
            changed = 1;
        }
    }
    if (changed && gw_health_changed) gw_health_changed(hp->pool, p);
}

/* ---- the exchange's ops ---- */

static void fail_now(hc_peer *hc, const char *why)
{
    gw_exchange_free(hc->x); /* (allowed inside head and body) */
    hc->x = NULL;
    verdict(hc, 0, why);
}

static void hc_head(void *ctx, gw_resp *rsp)
{
    if (rsp->upgrade) fail_now(ctx, "status 101");
}

static void hc_body(void *ctx, gw_resp *rsp)
{
    hc_peer *hc = ctx;
    hc->body_total += rsp->body.bytes;
    gw_bufq_clear(&rsp->body); /* only the status matters */
    if (hc->body_total > HC_BODY_MAX) fail_now(hc, "answer larger than 64 KiB");
}

static void hc_done(void *ctx, gw_resp *rsp)
{
    hc_peer *hc = ctx;
    hc->x = NULL;
    int st = rsp->status;
    int want = hc->hp->pool->hc_status;
    if (want ? st == want : st >= 200 && st <= 399) {
        verdict(hc, 1, NULL);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "status %d", st);
    verdict(hc, 0, why);
}

static void hc_error(void *ctx, int status, const char *why)
{
    hc_peer *hc = ctx;
    hc->x = NULL;
    char msg[96];
    if (status == 504) {
        snprintf(msg, sizeof(msg), "no answer within %.0f s", hc->hp->timeout);
        why = msg;
    }
    verdict(hc, 0, why);
}

static void hc_tunnel_data(void *ctx, const char *p, size_t n)
{
    /* not reached: a 101 fails in hc_head */
}

static const gw_exchange_ops hc_ops = {
    .head = hc_head,
    .body = hc_body,
    .done = hc_done,
    .error = hc_error,
    .tunnel_data = hc_tunnel_data,
};

/* ---- rounds ---- */

/* The synthetic request: GET hc_path, Host: localhost, no body. */
static void build_request(hc_peer *hc)
{
    hc_pool *hp = hc->hp;
    gw_req *rq = &hc->req;
    memset(rq, 0, sizeof(*rq));
    rq->method = GW_STR("GET");
    rq->target = gw_str_from(hp->pool->hc_path);
    rq->path = hp->path;
    rq->query = hp->query;
    rq->host = GW_STR("localhost");
    rq->host_full = GW_STR("localhost");
    rq->scheme = GW_STR("http");
    rq->minor = 1;
    rq->hdr = &hp->host_hdr;
    rq->nhdr = 1;
    rq->content_length = 0;
    rq->client = &hp->client;
    rq->server = &hp->server;
    rq->backend_target = rq->target;
    rq->script_name = hp->path;
    rq->docroot = GW_STR("");
    rq->server_software = GW_STR("portico-health");
    rq->arena = &hc->arena;
}

static void check_start(hc_peer *hc)
{
    hc_pool *hp = hc->hp;
    hc->t_start = ev_now(hp->loop);
    /* A peer at its max-pool-size is busy serving: a check would open a connection past the
     * cap (a single-worker FastCGI app could not even accept it). Judged next round. */
    if (!gw_peer_has_room(hc->peer)) {
        schedule_next(hc);
        return;
    }
    build_request(hc);
    hc->body_total = 0;
    ev_timer_stop(hp->loop, &hc->timer);
    ev_timer_set(&hc->timer, hp->timeout, 0);
    ev_timer_start(hp->loop, &hc->timer);
    gw_exchange_args a = {.loop = hp->loop,
                          .ops = &hc_ops,
                          .ctx = hc,
                          .req = &hc->req,
                          .body = &hc->body,
                          .route = &hp->route,
                          .pin = hc->peer,
                          .arena = &hc->arena,
                          .probe = 1};
    hc->x = gw_exchange_start(&a);
}

static void on_hc_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    hc_peer *hc = w->data;
    if (hc->x == NULL) {
        check_start(hc);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "no answer within %.0f s", hc->hp->timeout);
    gw_exchange_free(hc->x);
    hc->x = NULL;
    verdict(hc, 0, why);
}

int gw_health_same_check(const gw_pool *a, const gw_pool *b)
{
    return a->hc_path && b->hc_path && a->ops == b->ops && strcmp(a->hc_path, b->hc_path) == 0 &&
           a->hc_interval == b->hc_interval && a->hc_status == b->hc_status;
}

/* Another pool's peer that checks (or may check: `leads` as asked) the same backend in the
 * same way as `hc`. */
static hc_peer *same_backend_checker(const hc_peer *hc, int leads)
{
    if (hc->peer->count == NULL) return NULL;
    for (hc_pool *hp = checks_running; hp; hp = hp->next) {
        if (hp == hc->hp || !gw_health_same_check(hp->pool, hc->hp->pool)) continue;
        for (unsigned i = 0; i < hp->npeers; i++)
            if (hp->peers[i].peer->count == hc->peer->count && hp->peers[i].leads == leads)
                return &hp->peers[i];
    }
    return NULL;
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
    hc_pool *hp = gw_xcalloc(1, sizeof(*hp) + pool->npeers * sizeof(hc_peer));
    hp->loop = loop;
    hp->pool = pool;
    hp->timeout = pool->hc_interval < HC_TIMEOUT_MAX ? pool->hc_interval : HC_TIMEOUT_MAX;
    hp->route.pool = pool;
    hp->route.ops = pool->ops;
    hp->route.connect_timeout = hp->route.read_timeout = hp->route.write_timeout = hp->timeout;
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
    for (unsigned i = 0; i < hp->npeers; i++) {
        hc_peer *hc = &hp->peers[i];
        hc->hp = hp;
        hc->peer = &pool->peers[i];
        gw_body_init(&hc->body);
        hc->body.complete = 1;
        ev_init(&hc->timer, on_hc_timer);
        hc->timer.data = hc;
        /* spawned apps have no address until their supervisor starts them: not checked here */
        if (hc->peer->is_spawn || hc->peer->sa.ss_family == AF_UNSPEC) continue;
        if (same_backend_checker(hc, 1)) continue;
        hc->leads = 1;
        ev_timer_set(&hc->timer, 0, 0);
        ev_timer_start(loop, &hc->timer);
    }
    hp->next = checks_running;
    checks_running = hp;
}

/* The leader's pool stops: a follower goes on where it was (its streak, its next round). */
static void hand_over(hc_peer *hc)
{
    hc_peer *to = same_backend_checker(hc, 0);
    if (to == NULL) return;
    to->leads = 1;
    to->fails = hc->fails;
    to->passes = hc->passes;
    to->t_start = hc->t_start;
    schedule_next(to);
}

void gw_health_stop(gw_pool *pool)
{
    hc_pool *hp = pool->health;
    if (hp == NULL) return;
    for (hc_pool **pp = &checks_running; *pp; pp = &(*pp)->next)
        if (*pp == hp) {
            *pp = hp->next;
            break;
        }
    for (unsigned i = 0; i < hp->npeers; i++) {
        hc_peer *hc = &hp->peers[i];
        if (hc->leads) hand_over(hc);
        gw_exchange_free(hc->x);
        hc->x = NULL;
        ev_timer_stop(hp->loop, &hc->timer);
        gw_arena_free(&hc->arena);
    }
    free(hp);
    pool->health = NULL;
}
