/* The "http" backend adapter: gw_req -> HTTP/1.1 request bytes, backend bytes -> gw_resp.
 * Adapter layer: knows the neutral request/response and the HTTP codec; no sockets, no loop. */
#ifndef HTTP_BACKEND_H
#define HTTP_BACKEND_H

#include "gateway/base/backend.h"

/* proxy-core.protocol = "http" (flags GW_BE_KEEPALIVE).
 * Request: hop-by-hop fields, Expect, X-Forwarded-* from the client and the client's framing
 * are dropped; rq->extra replaces or adds fields; X-Forwarded-For/-Proto/-Host are written;
 * framing is Content-Length when rq->content_length >= 0, else chunked.
 * Response: 1xx interim responses are skipped (101 ends parsing when the request asked for an
 * upgrade: rsp->upgrade, the tunnel bytes stay in `in`). rsp->hdr holds the end-to-end
 * fields; Content-Length is not among them (it is rsp->content_length), nor are hop-by-hop
 * fields, except Upgrade on a 101. rsp->content_length is -1 for chunked and close-delimited
 * bodies; for HEAD, 204 and 304 it is the backend's Content-Length if it sent one, else -1,
 * and rsp->done is set with an empty body. */
extern const gw_backend_ops http_backend_ops;

#endif
