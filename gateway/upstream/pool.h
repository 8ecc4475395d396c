/* Backends of a route (a pool of peers): addresses, state, in-flight counts, idle connections.
 * Pools are shared: every route naming the same protocol and backend list uses one pool, so
 * in-flight counts and disable state are the same whichever condition routed the request. */
#ifndef GW_POOL_H
#define GW_POOL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway/base/backend.h"
#include "gateway/upstream/backlog.h"
#include "gateway/worker.h"
#include "spawn/spawn.h"

struct gw_upconn;
struct gw_balancer;

enum gw_peer_health { GW_PEER_UP = 0, GW_PEER_DOWN = 1 };

#define GW_MAX_PEERS 2048 /* backends of one pool, at most (the retry bitmap of an exchange) */

/* A latency histogram in seconds, with Prometheus-style cumulative buckets when rendered. */
#define GW_HIST_N 12
extern const double gw_hist_bounds[GW_HIST_N - 1]; /* upper bounds; the last bucket is +Inf */
typedef struct gw_hist {
    uint64_t bucket[GW_HIST_N]; /* not cumulative */
    uint64_t count;
    uint64_t sum_ns;
} gw_hist; /* (atomic: workers add, status reads) */
void gw_hist_add(gw_hist *h, double seconds);
/* A consistent-enough copy of a histogram other workers may be adding to. */
void gw_hist_copy(gw_hist *to, const gw_hist *from);

/* What a backend's cap bounds, one per backend (protocol and address) over every pool and
 * generation that names it: two routes, or the old and the new config during a reload, never
 * send it more than max-pool-size together. Shared by the peers in `users` (pool.c's registry
 * lock); the counts are atomics. */
typedef struct gw_peer_count {
    unsigned inflight;      /* (atomic) requests in flight, over the peers whose pool sets a cap */
    unsigned conns;         /* (atomic) connections, busy or idle (a pinning protocol's cap) */
    unsigned idle;          /* (atomic) idle connections */
    unsigned pools_waiting; /* (atomic) pools naming it whose backlog is not empty */
    struct gw_peer **users;
    size_t nusers;
    struct gw_peer_count *next;
} gw_peer_count;

typedef struct gw_peer_idle { /* one worker's idle keep-alive connections to a peer */
    struct gw_upconn *list;
    unsigned n;
} gw_peer_idle;

/* A peer is shared by every worker: the counters and states marked (atomic) are read and
 * changed without a lock (gw_atomic_* or the helpers below); last_error under the pool's lock;
 * idle[w] is worker w's alone. */
typedef struct gw_peer {
    char *name; /* owned: as configured, "127.0.0.1:3000", "[::1]:80", "unix:/p", "spawn:app" */
    struct sockaddr_storage sa;
    socklen_t salen;
    struct gw_pool *pool; /* borrowed: the pool this peer belongs to */
    unsigned index;       /* position in pool->peers */
    uint32_t hash;        /* hash of `name`, for consistent hashing */

    unsigned inflight;      /* (atomic) requests of this pool currently using this peer */
    gw_peer_count *count;   /* the backend's count against its cap (NULL for a spawned app's
                               slot, whose own count is shared the same way) */
    unsigned max_inflight;  /* max-pool-size, or the process count of a spawned app; 0 = no cap */
    unsigned peak_inflight; /* (atomic) most requests it served at once: bounds idle connections */
    int pins;               /* the cap bounds connections, not requests: the protocol's kept
                               connection holds a backend worker (GW_BE_PINS_WORKER) */
    double disabled_until;  /* (atomic) passive health: skipped until this time; 0 = enabled */
    int health;             /* (atomic) active health check verdict: GW_PEER_UP | GW_PEER_DOWN */
    int is_spawn;           /* a process slot of a spawned app ("spawn:NAME") */
    spawn_slot *slot;       /* its slot while bound to the running app (gateway/upstream/spawned.c):
                               usable, in-flight count and cap are the slot's, shared by every
                               pool and generation that reaches the app */

    gw_peer_idle *idle; /* owned: [gw_nworkers], each worker's own */
    unsigned nidle;     /* (atomic) idle connections over all workers */

    /* counters for status and metrics (atomic) */
    uint64_t requests, failures, retries, responses[6]; /* responses[status / 100] */
    uint64_t x_sendfile;   /* answers sent as the file its X-Sendfile named */
    gw_hist connect_time;  /* connect() to established */
    gw_hist response_time; /* request sent to response complete */
    char last_error[96];   /* (the pool's lock) */
} gw_peer;

#define GW_HASH_FACTOR 125

typedef struct gw_pool {
    char *key;  /* owned: "protocol|backend,backend,..."; identity for sharing */
    char *name; /* owned: proxy-core.name, or where its backends are set ("FILE:LINE"); unique
                   in its generation: metrics labels, status, log lines */
    const gw_backend_ops *ops;
    gw_peer *peers; /* owned array */
    unsigned npeers;
    const struct gw_balancer_ops *balancer;
    void *bal_state;      /* owned by the balancer */
    pthread_mutex_t lock; /* the backlog, last_error, and handing capacity to waiters */
    gw_backlog backlog;   /* (its len is read without the lock, atomically) */
    unsigned inflight;    /* (atomic) sum over peers */
    int all_down_logged;  /* (atomic) */
    unsigned in_transit;  /* (atomic) waiters handed capacity, in a worker's mailbox: new
                             requests leave that capacity to them */
    unsigned hash_factor; /* the hash balancer's load bound, in percent of the mean in flight
                             (proxy-core.hash-balance-factor, default GW_HASH_FACTOR); 0: none */
    /* active health checks (proxy-core.health-check): hc_path NULL = none */
    char *hc_path;      /* owned */
    double hc_interval; /* seconds */
    int hc_status;      /* the one status that passes; 0: any 2xx or 3xx */
    void *health;       /* owned by health.c while checks run */
    char *app_name;     /* owned: a spawned app's pool ("spawn:NAME"); its peers are the slots */
    spawn_app *app;     /* the running app while bound (gateway/upstream/spawned.c) */
    int app_stale;      /* (atomic) a newer generation's pool serves the app: keep no idle
                           connection */
    int retired;        /* (atomic) a newer generation took over: keep no idle connection */
    int app_siblings;   /* (atomic) other pools bound to the same app (they share its slots) */
    int shares;         /* (atomic) peers of other pools that share a backend count with this
                           one's: capacity freed here may be another pool's waiters' */
} gw_pool;

static inline double gw_peer_disabled_until(const gw_peer *p)
{
    return gw_atomic_get_double(&p->disabled_until);
}

static inline void gw_peer_disable_until(gw_peer *p, double t)
{
    gw_atomic_set_double(&p->disabled_until, t);
}

/* Is the peer usable at `now` (enabled and healthy), ignoring capacity? */
static inline int gw_peer_available(const gw_peer *p, double now)
{
    return gw_atomic_get(&p->health) == GW_PEER_UP && gw_peer_disabled_until(p) <= now &&
           (!p->is_spawn || (p->slot && gw_atomic_get(&p->slot->usable)));
}

/* What the peer's cap bounds (the slot's count for a spawned app's process), and the cap. */
static inline unsigned *gw_peer_load(gw_peer *p)
{
    if (p->slot) return p->pins ? &p->slot->conns : &p->slot->inflight;
    return p->pins ? &p->count->conns : &p->count->inflight;
}

static inline unsigned gw_peer_cap(const gw_peer *p)
{
    return p->slot ? p->slot->cap : p->max_inflight;
}

/* Does the peer have room for one more request of the calling worker? (A worker's own idle
 * connection is room for its own requests.) */
static inline int gw_peer_has_room(const gw_peer *p)
{
    unsigned cap = gw_peer_cap(p);
    if (cap == 0) return 1;
    if (p->pins && p->idle[gw_self->index].n > 0) return 1;
    return __atomic_load_n(gw_peer_load((gw_peer *)p), __ATOMIC_SEQ_CST) < cap;
}

/* Parse a backend address ("host:port", "[v6]:port", "unix:/path", "spawn:NAME") into `peer`
 * ("spawn:NAME" sets is_spawn and no address: the app's slots give it when bound).
 * Returns GW_OK, or GW_ERR with a message through err (alloc.h). Does no DNS: hosts are numeric
 * or "localhost". */
int gw_peer_parse(gw_peer *peer, const char *spec, char **err);

/* A pool of `n` peers from their specs. `max_inflight`: the per-peer cap (0 = none). Returns
 * NULL with a message through err when a spec does not parse. The pool owns copies of the strings;
 * idle connections are the upstream engine's to close before gw_pool_free. */
gw_pool *gw_pool_new(const char *key, const gw_backend_ops *ops, const struct gw_balancer_ops *bal,
                     char *const *specs, size_t n, unsigned max_inflight, char **err);
/* The pool of a spawned app: `nslots` peers "spawn:NAME/0".., one per process slot. */
gw_pool *gw_pool_new_app(const char *key, const gw_backend_ops *ops,
                         const struct gw_balancer_ops *bal, const char *name, unsigned nslots);
void gw_pool_free(gw_pool *p);
/* The pool's backlog went from `before` requests to its length now (under the pool's lock):
 * its backends' counts learn whether it waits. */
void gw_pool_backlog_changed(gw_pool *pool, size_t before);
/* Do requests of another pool wait for the capacity of `p`'s backend? Of any backend of
 * `pool`? (Any thread, no lock.) */
int gw_pool_sharers_wait(const gw_peer *p);
int gw_pool_any_sharer_waits(const gw_pool *pool);
/* Call `fn` for every other pool sharing a backend count with `pool` that has requests
 * waiting, under the registry lock (any thread; `fn` must not take it). */
void gw_pool_each_waiting_sharer(const gw_pool *pool, void (*fn)(gw_pool *));
/* A reload: `to` (new) takes the counters of the peers of `from` (old, same name) that it has
 * too, by name, so that per-backend counters survive for backends that stay. */
void gw_pool_inherit(gw_pool *to, const gw_pool *from);

#endif
