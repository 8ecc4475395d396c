/* A loaded configuration generation (gw_rt): the parsed tree, the server settings, the pools,
 * and every route the conditions can select, all compiled at load and immutable after. Requests
 * hold a reference to the generation they were routed by, so a reload never pulls a pool from
 * under an in-flight request. */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include "gateway/config/conf.h"
#include "gateway/upstream/pool.h"
#include "gateway/config/rewrite.h"
#include "spawn/spawn.h"

/* server.* and status.* settings: top level only. */
typedef struct gw_server_conf {
    const char *bind; /* "127.0.0.1", "::1", "unix:/path" */
    int port;
    const char *tag;
    const char *errorlog, *accesslog;
    long max_connections;
    long long max_request_size;
    long max_field_size;
    double read_idle, write_idle, ka_idle;
    long ka_requests;
    int stream_body;
    double graceful_timeout;
    const char *username, *groupname, *pid_file, *state_dir;
    int workers; /* server.workers; 0: "auto" (gw_rt_workers) */
} gw_server_conf;

/* The effective proxy settings of one combination of matching blocks. */
typedef struct gw_route {
    gw_pool *pool; /* NULL: this request is not proxied (404) */
    const gw_backend_ops *ops;
    unsigned max_pool_size, ka_requests, max_backlog, max_retries;
    double backlog_timeout, connect_timeout, read_timeout, write_timeout, disable_time;
    int allow_xsendfile, allow_xrewrite;
    char **xs_roots; /* NULL-terminated, absolute, without a trailing '/' */
    size_t nxs_roots;
    gw_rewrites rw_req, rw_resp;
    const char *script_name;              /* NULL: unset (PHP style) */
    const char *docroot;                  /* NULL: none */
    const char *status_url, *metrics_url; /* the status pages here; NULL or "": none (a block
                                             may turn them off, e.g. by remote-ip) */
    char **owned;                         /* strings made for this route (values joined by `+=`) */
    size_t nowned;
} gw_route;

/* At most this many combinations of condition blocks are compiled (docs/config.md). */
#define GW_RT_MAX_COMBOS 65536

typedef struct gw_route_table gw_route_table;

/* Extra listeners: the $SERVER["socket"] blocks. */
typedef struct gw_listen_spec {
    const char *name;   /* as written: "127.0.0.1:8081", "[::1]:8081", "unix:/run/x.sock" */
    gw_server_conf srv; /* the top level's settings with the block's own over them */
} gw_listen_spec;

typedef struct gw_rt {
    int refs;                /* (atomic) */
    struct gw_rt *next_dead; /* (route.c: waiting for the main thread to free it) */
    gw_conf *conf;
    gw_server_conf srv;
    char main_socket[300]; /* the main listener's name for $SERVER["socket"] */
    gw_listen_spec *extra;
    size_t nextra;
    gw_pool **pools;
    size_t npools;
    spawn_conf **apps; /* spawn.apps, checked; started by the running server only */
    size_t napps;
    unsigned max_procs_total; /* spawn.max-procs-total; 0 = none */
    unsigned memory_pressure; /* spawn.memory-pressure (percent); 0 = ignored */
    gw_route_table *table;    /* every compiled route, immutable once loaded */
    char *warning; /* set when combinations were cut by GW_RT_MAX_COMBOS: "FILE:LINE: ..." */
    uint64_t generation;
} gw_rt;

/* Load, check and compile a config: syntax, every value, and the route of every combination of
 * blocks that can hold together (cross-key rules, regexes, x-sendfile roots, pools). Returns the
 * generation, or NULL with *err an allocated "FILE:LINE: ..." (the first error). What loads
 * never fails at request time. rt->warning is set when the combinations were bounded. */
gw_rt *gw_rt_load(const char *path, char **err);
void gw_rt_ref(gw_rt *rt);
/* Free the generations whose last reference went on another worker (the main thread). */
void gw_rt_collect(void);
/* The number of workers the generation asks for: server.workers, or for "auto" the CPUs this
 * process may run on. */
unsigned gw_rt_workers(const gw_rt *rt);
/* Drop a reference; the last one frees the generation (gw_rt_pool_release for each pool). */
void gw_rt_unref(gw_rt *rt);
/* Hooks of the running server (unset for -t / -p): a pool was created (start its health
 * checks), a pool is about to be freed (close its idle connections, stop its checks). */
extern void (*gw_rt_pool_created)(gw_pool *pool);
extern void (*gw_rt_pool_release)(gw_pool *pool);

/* The settings of the listener named `listener`: the main listener's, or an extra one's with
 * what its $SERVER["socket"] block sets (server.tag, server.max-request-size and -field-size,
 * the idle and keep-alive limits, server.stream-request-body). */
const gw_server_conf *gw_rt_listener_server(const gw_rt *rt, const char *listener);
static inline const gw_server_conf *gw_rt_server(const gw_rt *rt, const char *listener)
{
    return rt->nextra == 0 ? &rt->srv : gw_rt_listener_server(rt, listener); /* (hot path) */
}

/* The route for a request: evaluates the conditions and walks the precompiled table; allocates
 * nothing, logs nothing, writes nothing shared. Never NULL: pool == NULL means "not proxied".
 * Equal sets of matching blocks give the same pointer. A set whose combination was cut by the
 * bound takes its blocks in config order, each only when its combination with those taken was
 * compiled (docs/config.md, "Combinations"). */
const gw_route *gw_rt_route(const gw_rt *rt, const gw_cond_ctx *ctx);

/* Combinations compiled and distinct routes built (tests, status). */
size_t gw_rt_ncombos(const gw_rt *rt);
size_t gw_rt_nroutes(const gw_rt *rt);

#endif
