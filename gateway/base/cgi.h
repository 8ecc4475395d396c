/* The RFC 3875 environment for FastCGI and SCGI, built once for both, and the parser of
 * CGI-style response heads. Base layer: libc only; knows no protocol framing. */
#ifndef GW_CGI_H
#define GW_CGI_H

#include "gateway/base/buf.h"
#include "gateway/base/req.h"

/* Called once per variable, in order. Both strings are valid only during the call. Return
 * GW_OK to go on, GW_ERR to stop (the builder then returns GW_ERR). */
typedef int (*gw_cgi_emit)(void *ctx, gw_str name, gw_str value);

/* Emit the environment of `rq` (SPEC §4): CONTENT_LENGTH first (always, "0" when there is no
 * body), CONTENT_TYPE (when sent), QUERY_STRING, REQUEST_URI, REQUEST_METHOD, SCRIPT_NAME,
 * PATH_INFO, SCRIPT_FILENAME (when a docroot is known), DOCUMENT_ROOT, SERVER_NAME, SERVER_PORT,
 * SERVER_ADDR, SERVER_PROTOCOL, SERVER_SOFTWARE, GATEWAY_INTERFACE, REMOTE_ADDR, REMOTE_PORT,
 * REQUEST_SCHEME, HTTPS (https only), REDIRECT_STATUS, SCGI=1 when `scgi`, then HTTP_* for each
 * end-to-end request header (hop-by-hop fields, Content-Length, Content-Type and Proxy are
 * skipped; rq->extra headers replace or add). rq->content_length must be known (>= 0).
 * Returns GW_OK; GW_ERR when `emit` stopped; GW_AGAIN... never. *status is set to 400 when two
 * header names map to the same HTTP_* name (the builder then returns GW_ERR without emitting
 * anything more). Uses rq->arena for scratch. */
int gw_cgi_env(const gw_req *rq, int scgi, gw_cgi_emit emit, void *ctx, int *status);

/* Parse a CGI response head (lines ending in "\n" or "\r\n", ended by an empty line) from
 * buf[0, len) into rsp: "Status: NNN reason" sets the status (not forwarded); "Location:"
 * without Status means 302; a first line "HTTP/1.x NNN reason" is accepted (NPH style);
 * default 200. Content-Length sets rsp->content_length (invalid: error). Header strings are
 * copied into rsp->arena. Returns bytes consumed (the head, through the empty line),
 * GW_AGAIN (incomplete; the caller bounds the size), or GW_ERR (malformed: 502). */
int gw_cgi_parse_head(const char *buf, size_t len, gw_resp *rsp);

#endif
