/* The SCGI backend adapter: CGI environment in a netstring, raw body, CGI-style response.
 * Knows nothing of sockets, the event loop, pools or retries. */
#ifndef SCGI_BACKEND_H
#define SCGI_BACKEND_H

#include "gateway/base/backend.h"

/* Longest response head accepted before the backend is declared broken. */
#define SCGI_HEAD_MAX 65536

/* name "scgi", GW_BE_NEEDS_LENGTH, one request per connection (SCGI has no keep-alive). */
extern const gw_backend_ops scgi_backend_ops;

#endif
