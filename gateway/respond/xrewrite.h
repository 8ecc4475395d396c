/* X-Rewrite-URI / -Host / -Backend: a response that sends its request elsewhere. Knows the
 * client connection's request, not the exchange engine: the caller tells the exchange what the
 * result means (discard the body, or reject the response). */
#ifndef GW_XREWRITE_H
#define GW_XREWRITE_H

#include "gateway/client/conn.h"

#define GW_XREWRITE_MAX 4 /* re-dispatches of one request, at most */

/* Look for X-Rewrite-* fields in `rsp` and remove them. When the route allows it and the
 * request has no body, re-target c->req (new target, Host, forced backend) and set
 * c->rewrite_pending. Returns 0 (nothing to do), 1 (re-dispatch when the exchange ends), or
 * GW_ERR with *why set (a static string) when the result is the backend's fault: a loop past
 * GW_XREWRITE_MAX, a target that is not origin-form or that does not parse. */
int gw_xrewrite_take(gw_conn *c, gw_resp *rsp, const char **why);

#endif
