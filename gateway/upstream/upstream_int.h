/* The upstream engine's private parts, shared by upstream.c (the exchange's life: dispatch,
 * retries, the ops and the starter's calls), upstream_wait.c (the backlog over every worker) and
 * upstream_io.c (backend connections and the bytes on them). Nothing outside
 * gateway/upstream/upstream*.c includes it. */
#ifndef GW_UPSTREAM_INT_H
#define GW_UPSTREAM_INT_H

#include "gateway/upstream/upstream.h"

#define UP_IN_SIZE 65536            /* read buffer per backend connection */
#define UP_OUT_HIGH (64 * 1024)     /* encode more body only below this */
#define UP_TUNNEL_HIGH (256 * 1024) /* tunnel: the client waits above this */
#define UP_IDLE_MAX 1024            /* idle connections kept to one peer, at most */

/* A connection to a backend; pooled while idle. */
typedef struct gw_upconn {
    ev_io io; /* stays started while the connection lives: no epoll churn between requests */
    struct ev_loop *loop;
    int fd;
    gw_peer *peer;
    struct gw_exchange *up; /* the exchange using it; NULL while idle */
    unsigned nreq;          /* requests sent on it */
    int head_ready;         /* the exchange's head is encoded already (sent before connected) */
    int claim;              /* it holds a unit of the peer's connection count (pinning peers) */
    struct gw_upconn *next; /* the peer's idle list */
    gw_buf in;
} gw_upconn;

enum up_state {
    UP_NEW,
    UP_QUEUED, /* in the pool's backlog */
    UP_CONNECTING,
    UP_EXCHANGE, /* sending and/or receiving */
    UP_TUNNEL,
    UP_FAILED,   /* over; the error op is owed (delivered from the kick) */
    UP_FINISHED, /* over; the done op is owed */
    UP_DONE
};

struct gw_exchange {
    struct ev_loop *loop;
    unsigned worker;           /* the worker whose loop runs it */
    struct gw_exchange *mnext; /* its worker's mailbox, while a backlog hands it capacity */
    int via_wake; /* dispatched because a backlog handed it capacity (not a new request) */
    int woken;    /* a backlog handed it capacity (set by that thread under the pool's lock: not a
                     bit-field, whose neighbours this worker writes) */
    struct gw_upconn *gift; /* with the capacity, another worker's idle connection to a pinning
                               peer (adopted by this worker when it runs) */
    const gw_exchange_ops *ops;
    void *ctx;
    const gw_req *req;
    gw_body *body;
    const gw_route *route;
    gw_pool *pool;
    const char *peer_name; /* X-Rewrite-Backend */
    gw_peer *pin;          /* health check */
    gw_peer *peer;
    const char *sent_to; /* the peer the request was last encoded for */
    gw_upconn *uc;
    ev_timer timer;
    ev_idle kick; /* never started: fed to run owed work after the current callback */
    gw_backlog_node bl;
    int state;
    void *st; /* the protocol's per-exchange state */
    size_t st_cap;
    gw_bufq out;       /* encoded bytes for the backend */
    uint64_t body_off; /* buffered body: next offset to encode */
    unsigned body_sent_last : 1;
    unsigned sent_any : 1;   /* request bytes reached the backend socket */
    unsigned recv_any : 1;   /* response bytes arrived */
    unsigned head_given : 1; /* the head op ran */
    unsigned discard : 1;    /* drop body bytes */
    unsigned reused : 1;     /* the connection came from the idle pool */
    unsigned paused : 1;     /* out_full said yes: not reading until resume */
    unsigned counted : 1;    /* peer->inflight was incremented */
    unsigned claim : 1;      /* holds a unit of a pinning peer's connection count (no socket yet) */
    unsigned capped : 1; /* holds a unit of its backend's in-flight count (a cap, not pinning) */
    unsigned dead : 1;   /* over: recycled when the outermost callback returns */
    unsigned probe : 1;
    unsigned rejected : 1;     /* the starter refused the response: 502 */
    unsigned drained_owed : 1; /* body_drained op owed */
    int in_cb;                 /* depth of this exchange's own callbacks on the stack */
    int err_status;
    gw_resp rsp;
    uint8_t tried[256]; /* bit i: peers[i] already failed this request */
    unsigned retries;
    int fail_status; /* what the starter gets if no retry is left: 502 or 503 */
    double t_connect, t_connected;
    double deadline;   /* a spawned app's request-timeout: when its response head is due */
    double queued_at;  /* when it first waited in the backlog (backlog-timeout counts from it) */
    char log_tag[160]; /* (these two stay last: a recycled exchange is zeroed up to here) */
    char why[96];
};

extern int gw_up_stopping; /* (atomic) graceful shutdown: keep nothing alive */

static inline int gw_up_is_stopping(void)
{
    return gw_atomic_get(&gw_up_stopping);
}

static inline double gw_up_now(const gw_exchange *up)
{
    return ev_now(up->loop);
}

/* Around each of the exchange's own callbacks: ops may run inside (see exchange.h), and an
 * exchange that ended meanwhile is recycled when the outermost one returns. */
static inline void gw_up_cb_enter(gw_exchange *up)
{
    up->in_cb++;
}

void gw_up_destroy(gw_exchange *up);

static inline void gw_up_cb_leave(gw_exchange *up)
{
    if (--up->in_cb == 0 && up->dead) gw_up_destroy(up);
}

/* Give back the peer's in-flight slot, once. */
static inline void gw_up_peer_release(gw_exchange *up)
{
    if (!up->counted) return;
    up->counted = 0;
    if (up->claim) { /* (no connection was made with it) */
        __atomic_fetch_sub(gw_peer_load(up->peer), 1, __ATOMIC_SEQ_CST);
        up->claim = 0;
    }
    up->deadline = 0;
    if (up->capped) {
        __atomic_fetch_sub(&up->peer->count->inflight, 1, __ATOMIC_SEQ_CST);
        up->capped = 0;
    }
    __atomic_fetch_sub(&up->peer->inflight, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_sub(&up->pool->inflight, 1, __ATOMIC_RELAXED);
    if (up->peer->slot) spawn_slot_release(up->peer->slot);
}

/* A unit of a pinning peer's connection count given back (a claim a kept connection made
 * unnecessary). */
static inline void gw_up_unclaim(gw_peer *p)
{
    __atomic_fetch_sub(gw_peer_load(p), 1, __ATOMIC_SEQ_CST);
}

/* upstream.c */
/* Choose a peer (or wait in the backlog, or fail) and go. */
void gw_up_dispatch(gw_exchange *up);
void gw_up_kick(gw_exchange *up);
void gw_up_end(gw_exchange *up, int state, int status, const char *why);
void gw_up_fail(gw_exchange *up, int status, const char *why);
void gw_up_peer_failed(gw_exchange *up, const char *why, const char *when, int status);
/* upstream_wait.c: the backlog over every worker */
void gw_up_wake_backlog(gw_pool *pool); /* (and the pools of the same spawned app) */
void gw_up_wake_pool(gw_pool *pool);
/* A pinning peer's connection went idle on this worker while requests of other workers wait:
 * hand it, with its capacity, to the oldest of them (no reconnect); closed if none. */
void gw_up_gift(gw_pool *pool, gw_upconn *uc);
/* Every candidate is at capacity, or others wait already: wait in the pool's backlog. */
void gw_up_enqueue(gw_exchange *up, double t);
/* Take it out of the backlog. Returns 0 when a backlog handed it capacity first (it is in its
 * worker's mailbox, or about to be dispatched). */
int gw_up_unqueue(gw_exchange *up);
/* A waiter leaves its worker's mailbox unrun (it is freed): its capacity goes on. */
void gw_up_mailbox_remove(gw_exchange *up);
/* Can a request wait for the spawned app? (spawn/ is asked under the main lock.) */
int gw_up_app_waitable(spawn_app *app);
/* The exchange's peer was just disabled: every waiter's sleep must end when it comes back. */
void gw_up_rearm_waiters(gw_exchange *up);
/* A waiting exchange's timer: a disabled peer is back, or its backlog-timeout is reached. */
void gw_up_queue_timer(gw_exchange *up);

/* upstream_io.c */
void gw_up_uc_close(gw_upconn *uc);
/* Close the calling worker's idle connections to `p`. */
void gw_up_close_idle(gw_peer *p);
/* One of the calling worker's idle connections to `p`, out of its list and its loop (it keeps
 * its claim on the peer's capacity), to hand to another worker; NULL if none. */
gw_upconn *gw_up_idle_take(gw_peer *p);
/* One of the calling worker's idle connections to `p`, out of its list (still watched: for an
 * exchange of this worker); NULL if none. */
gw_upconn *gw_up_idle_pop(gw_peer *p);
/* A connection another worker handed over becomes the calling worker's idle one. */
void gw_up_idle_adopt(gw_upconn *uc);
/* Free the recycled connection structs (exit). */
void gw_up_uc_trim(void);
void gw_up_set_timer(gw_exchange *up, double after);
void gw_up_set_io(gw_exchange *up, int events);
void gw_up_arm_timer(gw_exchange *up);
void gw_up_connect(gw_exchange *up);
void gw_up_start_exchange(gw_exchange *up);
void gw_up_pump_send(gw_exchange *up);
void gw_up_do_read(gw_exchange *up);
void gw_up_give_body(gw_exchange *up);

#endif
