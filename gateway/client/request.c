/* From a parsed request head to the neutral request: the head copied into the arena, the target
 * and authority checked and normalised, the route looked up, the CGI variables resolved, the
 * body bytes taken from the read buffer, rewrite-request applied. Knows nothing of sockets or the
 * backend exchange; answers nobody (callers turn the returned status into a response). */
#include "config.h"

#include "gateway/client/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"

/* Copy the head out of the read buffer into the arena, so the buffer can be compacted and
 * reused for the body and for pipelined requests while the request is in flight. */
void gw_request_adopt_head(gw_conn *c, const char *base, size_t len, http_req_head *h)
{
    char *copy = gw_arena_alloc(&c->arena, len + 1);
    memcpy(copy, base, len);
    copy[len] = '\0';
#define REBASE(s) ((s).p = (s).p ? copy + ((s).p - base) : NULL)
    REBASE(h->method);
    REBASE(h->target);
    gw_header *hdr = gw_arena_alloc(&c->arena, (h->nhdr ? h->nhdr : 1) * sizeof(*hdr));
    for (size_t i = 0; i < h->nhdr; i++) {
        hdr[i] = h->hdr[i];
        REBASE(hdr[i].name);
        REBASE(hdr[i].value);
    }
#undef REBASE
    h->hdr = hdr;
}

/* An absolute-form target's authority is the Host every backend sees (RFC 9112 §3.2.2: the
 * received Host is ignored), so routing, HTTP_HOST and the forwarded head agree. The field
 * array is copied: the original belongs to the head as received. */
void gw_request_set_host(gw_conn *c, gw_str host)
{
    gw_req *rq = &c->req;
    gw_header *h = gw_arena_alloc(&c->arena, (rq->nhdr + 1) * sizeof(*h));
    size_t n = 0;
    int done = 0;
    for (size_t i = 0; i < rq->nhdr; i++) {
        if (!gw_str_caseeq(rq->hdr[i].name, "Host"))
            h[n++] = rq->hdr[i];
        else if (!done++)
            h[n++] = (gw_header){rq->hdr[i].name, host};
    }
    if (!done) h[n++] = (gw_header){GW_STR("Host"), host};
    rq->hdr = h;
    rq->nhdr = n;
}

/* Fields that would take the CGI variable of a framing or hop-by-hop field are dropped by every
 * adapter (gw_is_lookalike); say so once, for whoever wonders where a field went. */
static void log_lookalikes(const gw_req *rq)
{
    for (size_t i = 0; i < rq->nhdr; i++)
        if (gw_is_lookalike(rq->hdr[i].name))
            gw_log(GW_LOG_DEBUG, "request field \"%.*s\" dropped: it would pass for another",
                   (int)rq->hdr[i].name.n, rq->hdr[i].name.p);
}

/* Fill the neutral request from a checked head. Returns 0 or a status to answer with. */
int gw_request_build(gw_conn *c, http_req_head *h)
{
    gw_req *rq = &c->req;
    rq->arena = &c->arena;
    rq->method = h->method;
    rq->target = h->target;
    rq->minor = h->minor;
    rq->hdr = h->hdr;
    rq->nhdr = h->nhdr;
    rq->client = &c->client;
    rq->server = &c->server;
    rq->scheme = GW_STR("http");
    rq->is_head = gw_str_eq(h->method, "HEAD");
    rq->upgrade = c->info.upgrade;
    rq->chunked = c->info.chunked;
    rq->content_length = c->info.chunked              ? -1
                         : c->info.content_length < 0 ? 0
                                                      : c->info.content_length;
    rq->server_software = gw_str_from(gw_rt_server(c->rt, c->lst->name)->tag);
    gw_str host = c->info.host;
    gw_str t = h->target;
    if (gw_str_eq(h->method, "CONNECT")) return 405;
    if (t.n == 1 && t.p[0] == '*') {
        if (!gw_str_eq(h->method, "OPTIONS")) return 400;
        rq->path = t;
        rq->query = GW_STR("");
    } else {
        if (t.n == 0) return 400;
        if (t.p[0] != '/') { /* absolute-form: the authority replaces Host (RFC 9112 §3.2.2) */
            const char *sep = t.n > 7 ? memmem(t.p, t.n, "://", 3) : NULL;
            if (sep == NULL) return 400;
            gw_str scheme = {t.p, (size_t)(sep - t.p)};
            if (!gw_str_caseeq(scheme, "http") && !gw_str_caseeq(scheme, "https")) return 400;
            const char *auth = sep + 3, *end = t.p + t.n;
            const char *slash = auth;
            while (slash < end && *slash != '/' && *slash != '?') slash++;
            host = (gw_str){auth, (size_t)(slash - auth)};
            /* the same check as a Host field: userinfo, a bad port or stray bytes are 400 */
            if (http_authority_check(host) != GW_OK) return 400;
            if (slash == end || *slash == '?') {
                char *fixed = gw_arena_sprintf(&c->arena, "/%.*s", (int)(end - slash), slash);
                t = gw_str_from(fixed);
            } else {
                t = (gw_str){slash, (size_t)(end - slash)};
            }
            rq->target = t;
            gw_request_set_host(c, host);
            c->info.host = host; /* an X-Rewrite re-dispatch builds from it again */
        }
        const char *q = memchr(t.p, '?', t.n);
        gw_str rawpath = q ? (gw_str){t.p, (size_t)(q - t.p)} : t;
        rq->query = q ? (gw_str){q + 1, (size_t)(t.p + t.n - q - 1)} : GW_STR("");
        if (gw_path_normalize(&c->arena, rawpath, &rq->path) != GW_OK) return 400;
    }
    /* (the authority is checked where it enters: the Host field by http_req_analyze, the
     * target's above, an X-Rewrite-Host when it is taken) */
    rq->host_full = host;
    rq->host = gw_host_lower(&c->arena, host);
    if (gw_log_level >= GW_LOG_DEBUG) log_lookalikes(rq);
    return 0;
}

/* SCRIPT_NAME / PATH_INFO / SCRIPT_FILENAME per proxy-core.script-name and document-root. */
void gw_request_resolve_cgi(gw_conn *c)
{
    gw_req *rq = &c->req;
    const gw_route *r = c->route;
    rq->docroot = r->docroot ? gw_str_from(r->docroot) : GW_STR_NULL;
    if (r->script_name == NULL) {
        rq->script_name = rq->path;
        rq->path_info = GW_STR("");
    } else {
        gw_str sn = gw_str_from(r->script_name);
        while (sn.n > 0 && sn.p[sn.n - 1] == '/') sn.n--;
        rq->script_name = sn;
        if (sn.n <= rq->path.n && memcmp(rq->path.p, sn.p, sn.n) == 0 &&
            (rq->path.n == sn.n || rq->path.p[sn.n] == '/'))
            rq->path_info = (gw_str){rq->path.p + sn.n, rq->path.n - sn.n};
        else
            rq->path_info = rq->path;
    }
    if (r->docroot)
        rq->script_filename = gw_str_from(gw_arena_sprintf(
            &c->arena, "%s%.*s", r->docroot, (int)rq->script_name.n, rq->script_name.p));
    else
        rq->script_filename = GW_STR_NULL;
    rq->backend_target = rq->target;
}

void gw_request_route(gw_conn *c)
{
    gw_req *rq = &c->req;
    gw_cond_ctx ctx = {
        .url = rq->path,
        .query = rq->query,
        .host = rq->host,
        .method = rq->method,
        .scheme = rq->scheme,
        .remote = c->client.is_unix ? NULL : (const struct sockaddr *)&c->peer_sa,
        .remote_ip = gw_str_from(c->client.addr),
        .socket = gw_str_from(c->lst->name),
        .hdr = rq->hdr,
        .nhdr = rq->nhdr,
    };
    c->route = gw_rt_route(c->rt, &ctx);
}

/* Take body bytes from the read buffer. Returns 0, or a status to answer with. */
int gw_request_read_body(gw_conn *c)
{
    gw_buf *in = &c->in;
    while (!c->body.complete && in->data && gw_buf_unread(in) > 0) {
        if (c->body.streaming && c->body.mem.bytes >= GW_BODY_MEM_MAX) {
            c->reading_paused = 1;
            break;
        }
        char *p = in->data + in->off;
        size_t avail = gw_buf_unread(in);
        if (c->body_mode == 1) {
            size_t k = avail < c->body_left ? avail : (size_t)c->body_left;
            int st = gw_body_append(&c->body, p, k,
                                    (uint64_t)gw_rt_server(c->rt, c->lst->name)->max_request_size);
            if (st) return st;
            gw_buf_consume(in, k);
            c->body_left -= k;
            if (c->body_left == 0) c->body.complete = 1;
        } else {
            size_t used = 0, data = 0;
            /* a chunk announced larger than what the limit still allows is 413 at once */
            http_chunked_limit(&c->chunk,
                               (uint64_t)gw_rt_server(c->rt, c->lst->name)->max_request_size);
            int rc = http_chunked_decode(&c->chunk, p, avail, &used, &data);
            if (rc == GW_ERR) return c->chunk.too_big ? 413 : 400;
            int st = gw_body_append(&c->body, p, data,
                                    (uint64_t)gw_rt_server(c->rt, c->lst->name)->max_request_size);
            if (st) return st;
            gw_buf_consume(in, used);
            if (rc == GW_DONE) c->body.complete = 1;
            if (used == 0) break;
        }
    }
    return 0;
}

/* A target from X-Rewrite-URI or a "_uri" rewrite must be origin-form without spaces or
 * control bytes. */
int gw_request_target_ok(gw_str t)
{
    if (t.n == 0 || t.p[0] != '/') return 0;
    for (size_t i = 0; i < t.n; i++)
        if ((unsigned char)t.p[i] <= 0x20 || t.p[i] == 0x7f) return 0;
    return 1;
}

/* rewrite-request: a result with CR/LF/NUL, or a "_uri" result that is no origin-form target,
 * is the configuration's fault: 500 and a log line, nothing reaches the backend. */
int gw_request_rewrite(gw_conn *c)
{
    gw_req *rq = &c->req;
    const char *what = NULL;
    if (gw_rewrite_request(&c->route->rw_req, rq) != GW_OK)
        what = "a CR, LF or NUL";
    else if (rq->backend_target.p != rq->target.p && !gw_request_target_ok(rq->backend_target))
        what = "a request target that is not origin-form";
    if (what == NULL) return GW_OK;
    gw_log(GW_LOG_ERR, "rewrite-request for %.*s produced %s; refused", (int)rq->path.n, rq->path.p,
           what);
    return GW_ERR;
}

int gw_request_take_head(gw_conn *c)
{
    static _Thread_local gw_header scratch[GW_MAX_HEADERS];
    http_req_head h;
    int status = 400;
    const char *p = c->in.data + c->in.off;
    size_t avail = gw_buf_unread(&c->in);
    size_t maxf = (size_t)gw_rt_server(gw_self->rt, c->lst->name)->max_field_size;
    c->t_start = ev_now(gw_self->loop); /* also for a head refused below (the access log) */
    int n = http_parse_request(p, avail, &h, scratch, GW_MAX_HEADERS, maxf < 8192 ? maxf : 8192,
                               &status);
    if (n == GW_AGAIN) {
        /* too long; or the buffer, sized by the config before a reload, is full */
        if (avail >= maxf || (c->in.off == 0 && gw_buf_room(&c->in) == 0))
            return memchr(p, '\n', avail) ? 431 : 414;
        return GW_AGAIN;
    }
    if (n < 0 || (size_t)n > maxf) return n < 0 ? (status ? status : 400) : 431;
    c->nreq++;
    c->rt = gw_self->rt;
    gw_rt_ref(c->rt);
    gw_request_adopt_head(c, p, (size_t)n, &h);
    gw_buf_consume(&c->in, (size_t)n);
    status = http_req_analyze(&h, &c->info);
    if (status == 0) status = gw_request_build(c, &h);
    if (status) { /* enough of the request for the error page and the access log */
        c->req.method = h.method;
        c->req.target = h.target;
        c->req.minor = h.minor;
    }
    return status ? status : GW_OK;
}
