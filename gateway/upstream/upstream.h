/* One backend exchange: pick a peer, connect (or reuse a kept-alive connection), send the
 * request through the protocol's ops, receive the response into the neutral gw_resp, with
 * timeouts, the backlog, and re-dispatch after failures. The only place that turns backend
 * trouble into a retry or a status code. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <ev.h>

#include "gateway/upstream/backlog.h"
#include "gateway/client/conn.h"
#include "gateway/upstream/pool.h"

/* A connection to a backend; pooled while idle. */
typedef struct gw_upconn {
    ev_io io; /* stays started while the connection lives: no epoll churn between requests */
    int fd;
    gw_peer *peer;
    struct gw_upstream *up; /* the exchange using it; NULL while idle */
    unsigned nreq;          /* requests sent on it */
    struct gw_upconn *next; /* the peer's idle list */
    gw_buf in;
} gw_upconn;

enum gw_up_state {
    GW_UP_NEW,
    GW_UP_QUEUED, /* in the pool's backlog */
    GW_UP_CONNECTING,
    GW_UP_EXCHANGE, /* sending and/or receiving */
    GW_UP_TUNNEL,
    GW_UP_DONE
};

typedef struct gw_upstream {
    gw_conn *c;
    const gw_route *route;
    gw_pool *pool;
    gw_peer *peer;
    gw_upconn *uc;
    ev_timer timer;
    gw_backlog_node bl;
    int state;
    void *st; /* the protocol's per-exchange state */
    size_t st_cap;
    gw_bufq out;       /* encoded bytes for the backend */
    uint64_t body_off; /* buffered body: next offset to encode */
    unsigned body_sent_last : 1;
    unsigned sent_any : 1;   /* request bytes reached the backend socket */
    unsigned recv_any : 1;   /* response bytes arrived */
    unsigned head_given : 1; /* the response head went to the connection */
    unsigned discard : 1;    /* drop body bytes (X-Sendfile, X-Rewrite) */
    unsigned reused : 1;     /* the connection came from the idle pool */
    unsigned paused : 1;
    unsigned counted : 1; /* peer->inflight was incremented */
    unsigned dead : 1;    /* freed by the connection during a callback */
    int busy;             /* depth of calls into the connection */
    gw_resp rsp;
    uint8_t tried[256]; /* bit i: peers[i] already failed this request */
    unsigned retries;
    int fail_status; /* what the client gets if no retry is left: 502 or 503 */
    double t_start, t_connect, t_connected;
    double queued_at; /* when it first waited in the backlog (backlog-timeout counts from it) */
    char log_tag[160];
} gw_upstream;

/* Start an exchange for the connection's current request (c->route, c->req). Never fails
 * synchronously: errors arrive through gw_conn_resp_error (which may run before this returns). */
void gw_upstream_start(gw_conn *c);
/* The connection is done with the exchange (response over, or the client went away): release
 * the backend connection (pooled if reusable) and free. Safe inside the gw_conn_resp_*
 * callbacks: the memory then goes when the callback returns. gw_conn_resp_done and
 * gw_conn_resp_error must end the exchange this way. */
void gw_upstream_free(gw_upstream *up);
/* The client side drained: read from the backend again. */
void gw_upstream_resume(gw_upstream *up);
/* Streaming body: new body bytes (or the end) are available. */
void gw_upstream_body_ready(gw_upstream *up);
/* Tunnel: bytes from the client to forward (moved from `data`). */
void gw_upstream_tunnel_send(gw_upstream *up, gw_bufq *data);
/* Free the recycled exchanges (exit). */
void gw_upstream_pool_trim(void);
/* Capacity may have appeared in `pool` (a peer came back): start waiting requests. */
void gw_upstream_pool_wake(gw_pool *pool);
/* Close every idle connection of a pool (config generation freed). */
void gw_upstream_pool_release(gw_pool *pool);

#endif
