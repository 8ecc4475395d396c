/* The backend protocol ops table: the only way the gateway knows a protocol (the registry of
 * tables is gateway/upstream/registry.h).
 * An adapter turns a gw_req into bytes for its backend and the backend's bytes into a gw_resp;
 * it knows nothing of sockets, the event loop, pools or retries. */
#ifndef GW_BACKEND_H
#define GW_BACKEND_H

#include "gateway/base/buf.h"
#include "gateway/base/req.h"

/* flags */
#define GW_BE_NEEDS_LENGTH 0x1 /* the backend needs the body length up front (CGI protocols) */
#define GW_BE_KEEPALIVE 0x2    /* a connection may carry more than one request */
/* A kept-alive connection occupies one backend worker (a libfcgi or php-cgi process serves one
 * connection at a time), so connections are only kept when the peer's capacity is known. */
#define GW_BE_PINS_WORKER 0x4

struct gw_backend_ops {
    const char *name;  /* "http" | "fastcgi" | "scgi" */
    size_t state_size; /* per-exchange private state; the gateway zeroes it before encode_head */
    unsigned flags;

    /* Encode the request head into `out`. `keepalive`: ask the backend to keep the connection
     * open after this request. Returns GW_OK, or GW_ERR when the request cannot be expressed
     * in this protocol (two header names that map to one CGI variable): the gateway answers
     * 400 and nothing is sent. The gateway guarantees a known content_length to adapters with
     * GW_BE_NEEDS_LENGTH. */
    int (*encode_head)(void *st, const gw_req *rq, int keepalive, gw_bufq *out);

    /* Move or frame body bytes from `body` into `out` (consumes all of `body`). `last`: no
     * more body follows (after this call's bytes). */
    int (*encode_body)(void *st, gw_bufq *body, int last, gw_bufq *out);

    /* Parse backend bytes from `in` (consuming what it used) into `rsp`: sets status and
     * headers, then sets head_done; appends body bytes to rsp->body. `eof`: the backend closed
     * its side. Returns GW_AGAIN (more input wanted), GW_DONE (response complete) or GW_ERR
     * (malformed or truncated: the gateway answers 502, or cuts the client). */
    int (*parse)(void *st, gw_buf *in, int eof, gw_resp *rsp);

    /* After GW_DONE: may the connection carry another request? */
    int (*reusable)(const void *st);
};
typedef struct gw_backend_ops gw_backend_ops;

#endif
