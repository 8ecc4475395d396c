/* Response heads on a client connection: the status line and the fields the gateway writes
 * itself (Date, Server, Connection), for backend responses, error pages and the gateway's own
 * bodies. The keep-alive decision (c->resp_close) is the connection's, made before these run. */
#ifndef GW_HEAD_H
#define GW_HEAD_H

#include "gateway/client/conn.h"

/* The status line and Date. */
void gw_head_start(gw_conn *c, int status);
/* The Server field's value (server.tag of the request's configuration). */
const char *gw_head_server_tag(const gw_conn *c);
/* Connection (close, or keep-alive for HTTP/1.0) and the blank line. */
void gw_head_end(gw_conn *c);
/* A backend's head: its fields minus those the gateway writes itself, and the framing
 * (Content-Length, chunked, or close-delimited for HTTP/1.0). Sets c->status, resp_started,
 * resp_nobody, resp_chunked, and resp_close when the body ends with the close. A 101 gets
 * Connection: upgrade and the client's Upgrade value. */
void gw_head_backend(gw_conn *c, gw_resp *rsp);
/* A whole error page for `status` (head and, unless HEAD, the small HTML body). */
void gw_head_error_page(gw_conn *c, int status);
/* A whole response with the gateway's own body (moved from `body`; dropped for HEAD). */
void gw_head_body(gw_conn *c, int status, const char *type, gw_bufq *body);
/* Body bytes of a backend response, framed as its head said (dropped, chunked or as they are). */
void gw_head_move_body(gw_conn *c, gw_bufq *body);
/* Could the response carry one of the X- fields the gateway acts on (X-Sendfile, X-Rewrite-*)?
 * One cheap pass, so that the common response skips the lookups. */
int gw_head_has_x_fields(const gw_resp *rsp);

#endif
