/* The FastCGI backend adapter: gw_req -> BEGIN_REQUEST/PARAMS/STDIN records, and STDOUT/
 * STDERR/END_REQUEST records -> gw_resp. Knows no sockets, event loop, pools or retries. */
#ifndef FCGI_BACKEND_H
#define FCGI_BACKEND_H

#include "gateway/base/backend.h"

/* Largest CGI response head accepted from an application, in bytes (larger: GW_ERR). */
#define FCGI_HEAD_MAX 65536

/* "fastcgi": GW_BE_NEEDS_LENGTH | GW_BE_KEEPALIVE. Request id 1, role RESPONDER,
 * FCGI_KEEP_CONN iff encode_head is asked for keep-alive. parse() returns GW_ERR for a head
 * over FCGI_HEAD_MAX, a record for another request id, a non-zero protocolStatus, a close before
 * END_REQUEST, or more body than the head's Content-Length (or less, at END_REQUEST). */
extern const gw_backend_ops fcgi_backend_ops;

#endif
