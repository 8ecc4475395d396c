/* X-Sendfile / X-LIGHTTPD-send-file: a backend response answered with a file, confined to the
 * route's roots, with conditional requests and ranges. Writes the head with respond/head.h;
 * knows nothing of the exchange engine. */
#ifndef GW_XSENDFILE_H
#define GW_XSENDFILE_H

#include "gateway/client/conn.h"

/* The X-Sendfile (or X-LIGHTTPD-send-file) value of `rsp`, GW_STR_NULL if none; both fields
 * are removed from the response. */
gw_str gw_xsendfile_take(gw_resp *rsp);

/* Answer with the file `value` names: queue the head in c->out and set c->sf_* for the body.
 * Returns 0 when the file answers, or the status of an error response to send instead (403,
 * 404, 412, ...). */
int gw_xsendfile_start(gw_conn *c, gw_resp *rsp, gw_str value);

#endif
