/* The exchange contract: how a starter (a client connection, the health checker, a unit test)
 * runs one request against a backend pool and hears about the response. The exchange never
 * touches its starter's memory except through the ops below; the starter steers it only through
 * the gw_exchange_* functions. Knows nothing of client connections. */
#ifndef GW_EXCHANGE_H
#define GW_EXCHANGE_H

#include <ev.h>

#include "gateway/base/body.h"
#include "gateway/base/req.h"
#include "gateway/config/route.h"
#include "gateway/upstream/pool.h"

typedef struct gw_exchange gw_exchange;

/* The re-entry rule, the only one:
 *  - Ops run only from the exchange's own event callbacks (its socket, its timer, its wake-up
 *    watcher), never inside gw_exchange_start or any other gw_exchange_* call, and never inside
 *    a call the starter made into another exchange. What such a call finds (no backend, backlog
 *    full, an encode or socket error; body bytes taken) is owed and delivered from the loop: the
 *    exchange feeds its wake-up watcher (ev_feed_event), which libev runs after the callback in
 *    progress returns, in the same loop pass, with no system call.
 *  - done and error are final: the exchange recycles itself when the op returns, so the starter
 *    forgets its handle there (gw_exchange_free on it inside the op is a harmless no-op).
 *  - In head, body, tunnel_data and body_drained the starter may call any gw_exchange_* function
 *    on it, gw_exchange_free included; after a free no further op comes. out_full only answers.
 * `ctx` is the starter's pointer, given back to every op. */
typedef struct gw_exchange_ops {
    /* The response head is complete (status, headers, content_length, upgrade). Header strings
     * live in the starter's arena. The starter may edit the header list. */
    void (*head)(void *ctx, gw_resp *rsp);
    /* Body bytes are in rsp->body: move what is wanted out of it (what is left is dropped). */
    void (*body)(void *ctx, gw_resp *rsp);
    /* The response is complete; rsp->body may still hold its last bytes. Final. */
    void (*done)(void *ctx, gw_resp *rsp);
    /* The exchange failed. `status` is what the client should get if no response byte was sent
     * yet: 502/503/504 for backend trouble, 400 when the request cannot be expressed in the
     * backend's protocol (nothing was sent), 500 when the buffered body cannot be read back.
     * `why` is a short reason for logs. Final. */
    void (*error)(void *ctx, int status, const char *why);
    /* Has the starter enough queued to send on: should the exchange stop reading the backend
     * until gw_exchange_resume? NULL: never. */
    int (*out_full)(void *ctx);
    /* Streaming body or tunnel: the exchange took the starter's bytes, more may come. NULL: no
     * interest. */
    void (*body_drained)(void *ctx);
    /* Tunnel (after a 101): bytes from the backend for the client; the starter copies them. */
    void (*tunnel_data)(void *ctx, const char *p, size_t n);
} gw_exchange_ops;

/* What a starter gives at start. Everything pointed to must outlive the exchange. */
typedef struct gw_exchange_args {
    struct ev_loop *loop;
    const gw_exchange_ops *ops;
    void *ctx;
    const gw_req *req; /* encoded when a connection is ready (and again on a retry) */
    gw_body *body;     /* buffered (replayable) or streaming (the exchange drains body->mem) */
    /* The target: route->pool and its timeouts, retries, backlog and keep-alive settings.
     * A health check fills one of its own (no retry, no backlog, no keep-alive). */
    const gw_route *route;
    const char *peer_name; /* X-Rewrite-Backend: only the pool's peer of this name; or NULL */
    gw_peer *pin;          /* health check: this peer, whatever its health or disable state */
    gw_arena *arena;       /* where the adapter copies response header strings */
    unsigned probe : 1;    /* health check: not counted in the peer's request metrics, no passive
                              disable or failure count on trouble, no log lines */
} gw_exchange_args;

/* Start an exchange. Never fails and never calls an op before it returns. */
gw_exchange *gw_exchange_start(const gw_exchange_args *a);
/* The starter is done with it (the client went away, the answer did not need the backend):
 * close the backend connection, give back the peer's slot, free. No op follows. */
void gw_exchange_free(gw_exchange *x);
/* The starter drained its output after out_full said yes: read the backend again. */
void gw_exchange_resume(gw_exchange *x);
/* Streaming body: new bytes (or the end) are in the body given at start. */
void gw_exchange_body_ready(gw_exchange *x);
/* Tunnel: bytes from the client for the backend (moved out of `data`). Returns 1 when the
 * backend side holds enough unsent: stop sending until body_drained. */
int gw_exchange_tunnel_send(gw_exchange *x, gw_bufq *data);
/* Drop the rest of the response body (the answer is made without it: X-Sendfile, X-Rewrite);
 * done still comes when the backend finished, so the connection can be kept. */
void gw_exchange_discard(gw_exchange *x);
/* The answer is the file the response named (X-Sendfile): counted for the peer's status. */
void gw_exchange_sent_file(gw_exchange *x);
/* The starter found the response unusable (called in head or body): the backend is at fault,
 * so the exchange ends with error(502, why) from the loop. `why` is copied. */
void gw_exchange_reject(gw_exchange *x, const char *why);
/* The name of the peer the request went to (lives as long as the pool), or NULL. */
const char *gw_exchange_peer(const gw_exchange *x);

#endif
