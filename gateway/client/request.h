/* Building the neutral request of a client connection (request.c). */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include "gateway/client/conn.h"

/* Parse the request head waiting in c->in, take it out of the buffer and build c->req (the
 * config generation in force is referenced in c->rt). Returns GW_OK, GW_AGAIN (incomplete), or
 * the status to answer with (the connection closes after it). */
int gw_request_take_head(gw_conn *c);
/* Copy the head (`len` bytes at `base`, parsed into `h`) into the connection's arena and point
 * `h`'s slices there, so the read buffer can be reused while the request is in flight. */
void gw_request_adopt_head(gw_conn *c, const char *base, size_t len, http_req_head *h);
/* Fill c->req from a checked head. Returns 0, or the status to answer with. */
int gw_request_build(gw_conn *c, http_req_head *h);
/* c->route from the conditions that hold for c->req (c->rt must be set). */
void gw_request_route(gw_conn *c);
/* SCRIPT_NAME / PATH_INFO / SCRIPT_FILENAME from the route's script-name and document-root. */
void gw_request_resolve_cgi(gw_conn *c);
/* Take body bytes from the read buffer into c->body. Returns 0, or the status to answer with. */
int gw_request_read_body(gw_conn *c);
/* Make `host` the request's Host field (the first one replaced, the others dropped, one added
 * when there is none): an absolute-form target's authority, an X-Rewrite-Host. Arena copy. */
void gw_request_set_host(gw_conn *c, gw_str host);
/* Is `t` an origin-form target without spaces or control bytes (X-Rewrite-URI, "_uri")? */
int gw_request_target_ok(gw_str t);
/* Apply the route's rewrite-request. GW_OK, or GW_ERR (logged) when a result is unusable: the
 * configuration's fault, so the caller answers 500 and nothing reaches the backend. */
int gw_request_rewrite(gw_conn *c);

#endif
