/* Client connections: the HTTP/1.1 state machine (read head, read body, hand the request to the
 * upstream engine, write the response, keep-alive), limits and timeouts. The only place that
 * turns a client protocol error into a status code. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <ev.h>
#include <sys/socket.h>

#include "gateway/base/body.h"
#include "gateway/base/buf.h"
#include "gateway/base/req.h"
#include "gateway/config/route.h"
#include "gateway/worker.h"
#include "proto/http/http_parse.h"

struct gw_exchange;

/* One worker's socket of a listener (each worker accepts on its own: SO_REUSEPORT for TCP, a
 * dup of the one socket for a unix path). Worker w's alone, except fd before it starts. */
typedef struct gw_lsock {
    ev_io io;
    int fd;
    struct gw_listener *l;
} gw_lsock;

typedef struct gw_listener {
    char name[300]; /* "127.0.0.1:8080", "[::1]:8081", "unix:/path" */
    gw_endpoint local;
    gw_lsock *socks; /* [gw_nworkers] */
    struct gw_listener *next;
    int mark;      /* reload bookkeeping */
    int listening; /* listen() done: the kernel queues connections */
    int retired;   /* (gw_srv.lock) removed: each worker closes its socket */
} gw_listener;

enum gw_conn_state {
    GW_C_HEAD,    /* reading a request head */
    GW_C_BODY,    /* buffering a request body before dispatch */
    GW_C_ACTIVE,  /* the request is with the upstream engine or being answered */
    GW_C_CLOSING, /* flushing a final response, then close */
    GW_C_TUNNEL,  /* after 101: raw bytes both ways */
    GW_C_LINGER   /* answered and write side shut: discard what the client still sends */
};

typedef struct gw_conn {
    ev_io io;
    ev_timer timer;
    int fd;
    struct gw_conn *prev, *next;
    gw_listener *lst;
    gw_endpoint client, server;
    struct sockaddr_storage peer_sa;
    int state;
    gw_buf in;   /* client bytes; allocated while needed */
    gw_bufq out; /* bytes for the client */
    unsigned nreq;
    double last_io;

    /* the current request */
    gw_rt *rt; /* the config generation that routed it (one reference) */
    gw_arena arena;
    gw_req req;
    http_req_info info;
    const gw_route *route;
    struct gw_exchange *up;       /* the backend exchange of this request (exchange.h) */
    int rewrites;                 /* X-Rewrite re-dispatches so far */
    unsigned rewrite_pending : 1; /* the response asked for X-Rewrite: route again when over */
    const char *force_backend;    /* X-Rewrite-Backend: the peer to use (arena) */

    /* request body */
    int body_mode; /* 0 none, 1 Content-Length, 2 chunked */
    uint64_t body_left;
    http_chunked chunk;
    gw_body body;
    unsigned expect_pending : 1; /* a 100 Continue is owed once the body is wanted */
    unsigned client_eof : 1;
    unsigned reading_paused : 1;
    unsigned dead : 1;       /* closed; the memory goes when the outermost callback returns */
    unsigned processing : 1; /* inside process(): a nested call only asks for another round */
    unsigned process_again : 1;
    int busy; /* depth of event callbacks running on this connection */

    /* the response */
    unsigned resp_started : 1; /* the head went out: errors now cut the connection */
    unsigned resp_chunked : 1; /* framing the body as chunks */
    unsigned resp_nobody : 1;  /* HEAD, 204, 304 */
    unsigned resp_close : 1;   /* close after this response */
    unsigned up_done : 1;      /* the upstream exchange is over */
    unsigned resp_own : 1;     /* the gateway answers itself while the exchange drains */
    int status;
    uint64_t bytes_out; /* written to the client for this request, head included */
    size_t head_len;    /* the response head's length (respond/head.c) */
    int sf_fd;          /* X-Sendfile: the file, its next offset and bytes left */
    off_t sf_off;
    uint64_t sf_left;
    double t_start;
    const char *backend; /* the peer that answered (its name lives as long as c->rt) */

    /* lingering close */
    unsigned linger : 1;   /* closing leaves request bytes unread: linger after the answer */
    uint64_t linger_bytes; /* discarded while lingering */
} gw_conn;

/* The process-wide server state; what is each worker's is in gateway/worker.h (its loop,
 * connections, generation, counters). */
typedef struct gw_server {
    pthread_mutex_t lock; /* rt for the workers to take, the listener lists */
    gw_rt *rt;            /* the current configuration generation (the main thread swaps it) */
    gw_listener *listeners, *retired;
    long nconns;      /* (atomic) open client connections over every worker */
    int stopping;     /* (atomic) */
    int started;      /* (atomic) start-up is over (privileges dropped, signals handled) */
    int accesslog_fd; /* (one write(2) per line; reopened with dup2 onto the same number) */
} gw_server;

extern gw_server gw_srv;

/* A listener accepted `fd` (non-blocking, close-on-exec). Takes ownership. */
void gw_conn_accept(gw_listener *l, int fd, const struct sockaddr *sa, socklen_t salen);
/* The connection count crossed server.max-connections (counted over every worker): each worker
 * stops or resumes accepting. */
void gw_listeners_limit_changed(void);
/* Close the calling worker's idle keep-alive connections (graceful shutdown). */
void gw_conns_close_idle(void);
void gw_conns_close_all(void); /* the calling worker's, at exit */

/* Will the connection close after this response (keep-alive off or used up, shutting down, the
 * request not read whole)? Sets c->resp_close; the head writers (respond/head.h) follow it. */
void gw_conn_decide_close(gw_conn *c);

/* Answer with a body the gateway made itself (status pages); `body` is moved. */
void gw_conn_send_body(gw_conn *c, int status, const char *type, gw_bufq *body);

/* "127.0.0.1" / "::1" / unix path and port text of a socket address. */
void gw_endpoint_from(gw_endpoint *ep, const struct sockaddr *sa);

#endif
