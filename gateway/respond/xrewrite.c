/* X-Rewrite: re-target a request from its response's X-Rewrite-* fields. Routing again and the
 * new exchange are the connection's business; this file only rewrites c->req. */
#include "config.h"

#include "gateway/respond/xrewrite.h"

#include <string.h>

#include "gateway/base/log.h"
#include "gateway/client/request.h"

static gw_str header_value(const gw_resp *rsp, const char *name)
{
    const gw_header *h = gw_resp_header(rsp, name);
    return h ? h->value : GW_STR_NULL;
}

int gw_xrewrite_take(gw_conn *c, gw_resp *rsp, const char **why)
{
    gw_str uri = header_value(rsp, "X-Rewrite-URI");
    gw_str host = header_value(rsp, "X-Rewrite-Host");
    gw_str be = header_value(rsp, "X-Rewrite-Backend");
    if (!uri.p && !host.p && !be.p) return 0;
    gw_resp_del_header(rsp, "X-Rewrite-URI");
    gw_resp_del_header(rsp, "X-Rewrite-Host");
    gw_resp_del_header(rsp, "X-Rewrite-Backend");
    /* (after a 101 the exchange is a tunnel already: its bytes are not a body to drop) */
    if (!c->route->allow_xrewrite || c->body_mode != 0 || rsp->upgrade) return 0;
    if (++c->rewrites > GW_XREWRITE_MAX) {
        gw_log(GW_LOG_WARN, "X-Rewrite loop for %.*s: more than %d re-dispatches",
               (int)c->req.path.n, c->req.path.p, GW_XREWRITE_MAX);
        *why = "X-Rewrite loop";
        return GW_ERR;
    }
    if (uri.p) c->req.target = gw_arena_str(&c->arena, uri);
    if (host.p && host.n && http_authority_check(host) != GW_OK) {
        gw_log(GW_LOG_WARN, "X-Rewrite-Host \"%.*s\" is not a valid authority", (int)host.n,
               host.p);
        *why = "X-Rewrite-Host is not a valid authority";
        return GW_ERR;
    }
    if (host.p) {
        c->info.host = gw_arena_str(&c->arena, host);
        gw_request_set_host(c, c->info.host);
    }
    if (!gw_request_target_ok(c->req.target)) {
        gw_log(GW_LOG_WARN, "X-Rewrite-URI \"%.*s\" is not an origin-form target",
               (int)c->req.target.n, c->req.target.p);
        *why = "X-Rewrite-URI is not an origin-form target";
        return GW_ERR;
    }
    /* the request as the next route sees it (the exchange no longer reads c->req: it is past
     * sending, and a response with X-Rewrite is never retried) */
    http_req_head h = {.method = c->req.method,
                       .target = c->req.target,
                       .minor = c->req.minor,
                       .hdr = c->req.hdr,
                       .nhdr = c->req.nhdr};
    c->req.extra = NULL; /* the first route's rewrite-request results do not carry over */
    c->req.nextra = 0;
    if (gw_request_build(c, &h) != 0) {
        *why = "X-Rewrite-URI does not parse";
        return GW_ERR;
    }
    c->force_backend = be.p ? gw_arena_strndup(&c->arena, be.p, be.n) : NULL;
    c->rewrite_pending = 1;
    return 1;
}
