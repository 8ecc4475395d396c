/* Backend addresses and pools: parsing "host:port" / "[v6]:port" / "unix:/path", building the
 * peers of a pool. Connections themselves belong to the upstream engine. */
#include "config.h"

#include "gateway/upstream/pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "gateway/upstream/balance.h"

const double gw_hist_bounds[GW_HIST_N - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,   0.25,   0.5,   1,    2.5};

void gw_hist_add(gw_hist *h, double seconds)
{
    int i = 0;
    while (i < GW_HIST_N - 1 && seconds > gw_hist_bounds[i]) i++;
    gw_atomic_add(&h->bucket[i], 1);
    gw_atomic_add(&h->count, 1);
    gw_atomic_add(&h->sum_ns, (uint64_t)(seconds * 1e9));
}

void gw_hist_copy(gw_hist *to, const gw_hist *from)
{
    for (int i = 0; i < GW_HIST_N; i++) to->bucket[i] = gw_atomic_get(&from->bucket[i]);
    to->count = gw_atomic_get(&from->count);
    to->sum_ns = gw_atomic_get(&from->sum_ns);
}

static int parse_port(const char *s, unsigned *port)
{
    char *end;
    if (*s < '0' || *s > '9') return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v == 0 || v > 65535) return -1;
    *port = (unsigned)v;
    return 0;
}

int gw_peer_parse(gw_peer *peer, const char *spec, char **err)
{
    memset(&peer->sa, 0, sizeof(peer->sa));
    peer->is_spawn = 0;
    if (strncmp(spec, "unix:", 5) == 0) {
        const char *path = spec + 5;
        struct sockaddr_un *un = (struct sockaddr_un *)&peer->sa;
        if (path[0] != '/' || strlen(path) >= sizeof(un->sun_path)) {
            return gw_errf(err,
                           "backend \"%s\": a unix socket needs an absolute path shorter "
                           "than %zu bytes",
                           spec, sizeof(un->sun_path));
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        peer->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        return GW_OK;
    }
    if (strncmp(spec, "spawn:", 6) == 0) {
        if (spec[6] == '\0')
            return gw_errf(err,
                           "backend \"%s\": expected \"spawn:NAME\", NAME an app of "
                           "spawn.apps",
                           spec);
        peer->is_spawn = 1;
        return GW_OK;
    }
    char host[256];
    const char *colon;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host)) {
            return gw_errf(err, "backend \"%s\": expected \"[v6-address]:port\"", spec);
        }
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
            return gw_errf(err,
                           "backend \"%s\": expected \"host:port\", \"[v6]:port\" or "
                           "\"unix:/path\"",
                           spec);
        }
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    unsigned port;
    if (parse_port(colon + 1, &port) != 0) {
        return gw_errf(err, "backend \"%s\": bad port", spec);
    }
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)&peer->sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&peer->sa;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        peer->salen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        peer->salen = sizeof(*in6);
    } else {
        return gw_errf(err, "backend \"%s\": \"%s\" is not a numeric address (no DNS lookups)",
                       spec, host);
    }
    return 0;
}

/* The backend counts: one per "protocol|address" that a live pool names (pools are made and
 * freed by the main thread; workers read the users lists to wake or reclaim). */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_peer_count *counts;

/* `peer` counts against its backend's count, made on first use. Every pair of peers of two
 * pools sharing one raises both pools' `shares`. */
/* Is `c` the count of the backend `peer` names, spoken to with `ops`? (By the parsed address:
 * "localhost:9000" and "127.0.0.1:9000" are one backend; gw_peer_parse zeroes the rest.) */
static int same_backend(const gw_peer_count *c, const gw_peer *peer, const gw_backend_ops *ops)
{
    const gw_peer *u = c->users[0]; /* (a count in the registry has a user) */
    return u->pool->ops == ops && u->salen == peer->salen &&
           memcmp(&u->sa, &peer->sa, peer->salen) == 0;
}

static void count_attach(gw_peer *peer, const gw_backend_ops *ops)
{
    pthread_mutex_lock(&count_lock);
    gw_peer_count *c = counts;
    while (c && !same_backend(c, peer, ops)) c = c->next;
    if (c == NULL) {
        c = gw_xcalloc(1, sizeof(*c));
        c->next = counts;
        counts = c;
    }
    for (size_t i = 0; i < c->nusers; i++) {
        if (c->users[i]->pool == peer->pool) continue;
        gw_atomic_add(&c->users[i]->pool->shares, 1);
        gw_atomic_add(&peer->pool->shares, 1);
    }
    c->users = gw_xrealloc(c->users, (c->nusers + 1) * sizeof(c->users[0]));
    c->users[c->nusers++] = peer;
    peer->count = c;
    pthread_mutex_unlock(&count_lock);
}

static void count_detach(gw_peer *peer)
{
    gw_peer_count *c = peer->count;
    if (c == NULL) return;
    pthread_mutex_lock(&count_lock);
    size_t k = 0;
    for (size_t i = 0; i < c->nusers; i++) {
        if (c->users[i] == peer) continue;
        if (c->users[i]->pool != peer->pool) {
            gw_atomic_add(&c->users[i]->pool->shares, -1);
            gw_atomic_add(&peer->pool->shares, -1);
        }
        c->users[k++] = c->users[i];
    }
    c->nusers = k;
    if (k == 0) {
        gw_peer_count **pp = &counts;
        while (*pp != c) pp = &(*pp)->next;
        *pp = c->next;
        free(c->users);
        free(c);
    }
    peer->count = NULL;
    pthread_mutex_unlock(&count_lock);
}

void gw_pool_backlog_changed(gw_pool *pool, size_t before)
{
    size_t now = pool->backlog.len;
    if ((before == 0) == (now == 0)) return;
    for (unsigned i = 0; i < pool->npeers; i++)
        if (pool->peers[i].count)
            __atomic_add_fetch(&pool->peers[i].count->pools_waiting, now ? 1u : -1u,
                               __ATOMIC_SEQ_CST);
}

int gw_pool_sharers_wait(const gw_peer *p)
{
    if (p->count == NULL) return 0;
    unsigned own = __atomic_load_n(&p->pool->backlog.len, __ATOMIC_SEQ_CST) > 0;
    return __atomic_load_n(&p->count->pools_waiting, __ATOMIC_SEQ_CST) > own;
}

int gw_pool_any_sharer_waits(const gw_pool *pool)
{
    for (unsigned i = 0; i < pool->npeers; i++)
        if (gw_pool_sharers_wait(&pool->peers[i])) return 1;
    return 0;
}

void gw_pool_each_waiting_sharer(const gw_pool *pool, void (*fn)(gw_pool *))
{
    if (!gw_pool_any_sharer_waits(pool)) return; /* (the common case: no lock) */
    gw_pool *done[16];
    size_t ndone = 0;
    pthread_mutex_lock(&count_lock);
    for (unsigned k = 0; k < pool->npeers; k++) {
        const gw_peer_count *c = pool->peers[k].count;
        for (size_t i = 0; c && i < c->nusers; i++) {
            gw_pool *other = c->users[i]->pool;
            if (other == pool || gw_atomic_get(&other->backlog.len) == 0) continue;
            size_t j = 0;
            while (j < ndone && done[j] != other) j++;
            if (j < ndone) continue; /* (once per pool) */
            if (ndone < sizeof(done) / sizeof(done[0])) done[ndone++] = other;
            fn(other);
        }
    }
    pthread_mutex_unlock(&count_lock);
}

gw_pool *gw_pool_new(const char *key, const gw_backend_ops *ops, const gw_balancer_ops *bal,
                     char *const *specs, size_t n, unsigned max_inflight, char **err)
{
    gw_pool *p = gw_xcalloc(1, sizeof(*p));
    p->key = gw_xstrdup(key);
    p->name = gw_xstrdup(key); /* (the config layer names it) */
    p->ops = ops;
    p->balancer = bal;
    p->hash_factor = GW_HASH_FACTOR;
    pthread_mutex_init(&p->lock, NULL);
    p->peers = gw_xcalloc(n, sizeof(gw_peer));
    for (size_t i = 0; i < n; i++) {
        gw_peer *peer = &p->peers[i];
        p->npeers++;
        peer->name = gw_xstrdup(specs[i]);
        peer->pool = p;
        peer->index = (unsigned)i;
        peer->pins = ops && (ops->flags & GW_BE_PINS_WORKER);
        peer->idle = gw_xcalloc(gw_nworkers, sizeof(gw_peer_idle));
        peer->max_inflight = max_inflight;
        peer->hash = gw_hash_str(specs[i], strlen(specs[i]));
        if (gw_peer_parse(peer, specs[i], err) != GW_OK) {
            gw_pool_free(p);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!p->peers[i].is_spawn) count_attach(&p->peers[i], ops);
    p->bal_state = bal->init ? bal->init(p) : NULL;
    return p;
}

gw_pool *gw_pool_new_app(const char *key, const gw_backend_ops *ops, const gw_balancer_ops *bal,
                         const char *name, unsigned nslots)
{
    gw_pool *p = gw_xcalloc(1, sizeof(*p));
    p->key = gw_xstrdup(key);
    p->name = gw_xstrdup(key); /* (the config layer names it) */
    p->ops = ops;
    p->balancer = bal;
    p->hash_factor = GW_HASH_FACTOR;
    p->app_name = gw_xstrdup(name);
    pthread_mutex_init(&p->lock, NULL);
    p->peers = gw_xcalloc(nslots, sizeof(gw_peer));
    p->npeers = nslots;
    for (unsigned i = 0; i < nslots; i++) {
        gw_peer *peer = &p->peers[i];
        char nm[160];
        snprintf(nm, sizeof(nm), "spawn:%s/%u", name, i);
        peer->name = gw_xstrdup(nm);
        peer->pool = p;
        peer->index = i;
        peer->is_spawn = 1;
        /* a process serves `concurrency` connections at once, whatever the protocol: a kept
         * connection holds one of its threads (puma waits on it for the next request) */
        peer->pins = 1;
        peer->idle = gw_xcalloc(gw_nworkers, sizeof(gw_peer_idle));
        peer->hash = gw_hash_str(nm, strlen(nm));
    }
    p->bal_state = bal->init ? bal->init(p) : NULL;
    return p;
}

void gw_pool_inherit(gw_pool *to, const gw_pool *from)
{
    for (unsigned i = 0; i < to->npeers; i++) {
        gw_peer *t = &to->peers[i];
        for (unsigned k = 0; k < from->npeers; k++) {
            const gw_peer *f = &from->peers[k];
            if (strcmp(t->name, f->name) != 0) continue;
            /* (the old pool still serves: its counters are read as other workers add) */
            t->requests = gw_atomic_get(&f->requests);
            t->failures = gw_atomic_get(&f->failures);
            t->retries = gw_atomic_get(&f->retries);
            t->x_sendfile = gw_atomic_get(&f->x_sendfile);
            for (int c = 0; c < 6; c++) t->responses[c] = gw_atomic_get(&f->responses[c]);
            gw_hist_copy(&t->connect_time, &f->connect_time);
            gw_hist_copy(&t->response_time, &f->response_time);
            pthread_mutex_lock(&((gw_pool *)from)->lock);
            memcpy(t->last_error, f->last_error, sizeof(t->last_error));
            pthread_mutex_unlock(&((gw_pool *)from)->lock);
            break;
        }
    }
}

void gw_pool_free(gw_pool *p)
{
    if (p == NULL) return;
    if (p->balancer && p->balancer->destroy) p->balancer->destroy(p->bal_state);
    for (unsigned i = 0; i < p->npeers; i++) {
        count_detach(&p->peers[i]);
        free(p->peers[i].name);
        free(p->peers[i].idle);
    }
    pthread_mutex_destroy(&p->lock);
    free(p->peers);
    free(p->hc_path);
    free(p->app_name);
    free(p->name);
    free(p->key);
    free(p);
}
