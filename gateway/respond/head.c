/* Response heads on a client connection (see head.h): bytes into c->out, no I/O, no decision
 * about the connection's life. */
#include "config.h"

#include "gateway/respond/head.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#include "gateway/respond/sendfile.h"
#include "proto/http/http_write.h"

/* The Date value, formatted once a second. */
static const char *date_now(void)
{
    static _Thread_local char buf[32];
    static _Thread_local time_t last;
    time_t t = (time_t)ev_now(gw_self->loop);
    if (t != last) {
        gw_http_date(t, buf);
        last = t;
    }
    return buf;
}

void gw_head_start(gw_conn *c, int status)
{
    c->head_len = c->out.bytes; /* (where the head starts; its length once it ends) */
    http_write_status(&c->out, 1, status);
    http_write_header(&c->out, GW_STR("Date"), gw_str_from(date_now()));
}

/* The blank line that ends a head; the head's length is known from here (the access log counts
 * body bytes only). */
static void head_finish(gw_conn *c)
{
    http_write_crlf(&c->out);
    c->head_len = c->out.bytes - c->head_len;
}

const char *gw_head_server_tag(const gw_conn *c)
{
    return gw_rt_server(c->rt ? c->rt : gw_self->rt, c->lst->name)->tag;
}

void gw_head_end(gw_conn *c)
{
    if (c->resp_close)
        http_write_header(&c->out, GW_STR("Connection"), GW_STR("close"));
    else if (c->req.minor == 0)
        http_write_header(&c->out, GW_STR("Connection"), GW_STR("keep-alive"));
    head_finish(c);
}

void gw_head_error_page(gw_conn *c, int status)
{
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body>"
                     "</html>\n",
                     status, http_reason(status), status, http_reason(status));
    gw_head_start(c, status);
    http_write_header(&c->out, GW_STR("Server"), gw_str_from(gw_head_server_tag(c)));
    http_write_header(&c->out, GW_STR("Content-Type"), GW_STR("text/html"));
    if (status == 503) {
        /* a spawned app in back-off says when its next start is due; otherwise 2 s */
        double r = 0;
        if (c->route && c->route->pool && c->route->pool->app) {
            gw_main_lock(); /* (spawn/ is the main thread's) */
            r = spawn_app_retry_in(c->route->pool->app);
            gw_main_unlock();
        }
        http_write_header_u64(&c->out, GW_STR("Retry-After"), r > 0 ? (uint64_t)ceil(r) : 2);
    }
    if (status == 405) http_write_header(&c->out, GW_STR("Allow"), GW_STR("GET, HEAD, POST"));
    http_write_header_u64(&c->out, GW_STR("Content-Length"), (uint64_t)n);
    if (c->resp_close) http_write_header(&c->out, GW_STR("Connection"), GW_STR("close"));
    head_finish(c);
    if (!c->req.is_head) gw_bufq_append(&c->out, body, (size_t)n);
}

void gw_head_body(gw_conn *c, int status, const char *type, gw_bufq *body)
{
    gw_head_start(c, status);
    http_write_header(&c->out, GW_STR("Server"), gw_str_from(gw_head_server_tag(c)));
    http_write_header(&c->out, GW_STR("Content-Type"), gw_str_from(type));
    http_write_header(&c->out, GW_STR("Cache-Control"), GW_STR("no-store"));
    http_write_header_u64(&c->out, GW_STR("Content-Length"), body->bytes);
    if (c->resp_close) http_write_header(&c->out, GW_STR("Connection"), GW_STR("close"));
    head_finish(c);
    if (c->req.is_head)
        gw_bufq_clear(body);
    else
        gw_bufq_move_all(&c->out, body);
}

void gw_head_backend(gw_conn *c, gw_resp *rsp)
{
    int st = rsp->status;
    c->status = st;
    c->resp_started = 1;
    c->resp_nobody = c->req.is_head || st < 200 || st == 204 || st == 304;
    gw_head_start(c, st);
    int have_server = 0;
    for (size_t i = 0; i < rsp->nhdr; i++) {
        const gw_header *h = &rsp->hdr[i];
        gw_str n = h->name;
        /* hop-by-hop fields, and the ones the gateway writes itself */
        int skip = gw_is_hop_by_hop(n);
        switch (n.n) { /* by length first: hot path */
        case 4:
            skip |= gw_str_caseeq(n, "Date");
            break;
        case 6:
            have_server |= gw_str_caseeq(n, "Server");
            break;
        case 14:
            skip |= gw_str_caseeq(n, "Content-Length");
            break;
        }
        if (!skip) http_write_header(&c->out, n, h->value);
    }
    if (!have_server)
        http_write_header(&c->out, GW_STR("Server"), gw_str_from(gw_head_server_tag(c)));
    if (rsp->upgrade) {
        const gw_header *u = gw_req_header(&c->req, "Upgrade");
        http_write_header(&c->out, GW_STR("Connection"), GW_STR("upgrade"));
        if (u) http_write_header(&c->out, GW_STR("Upgrade"), u->value);
        head_finish(c);
        return;
    }
    if (st >= 200 && st != 204) {
        if (rsp->content_length >= 0 && st != 304) {
            http_write_header_u64(&c->out, GW_STR("Content-Length"), (uint64_t)rsp->content_length);
        } else if (!c->resp_nobody) {
            if (c->req.minor >= 1) {
                c->resp_chunked = 1;
                http_write_header(&c->out, GW_STR("Transfer-Encoding"), GW_STR("chunked"));
            } else {
                c->resp_close = 1; /* HTTP/1.0: the end of the body is the close */
            }
        }
    }
    gw_head_end(c);
}

/* Could the response carry one of the X- fields the gateway acts on? (one cheap pass, so that
 * the common response skips a dozen lookups) */
int gw_head_has_x_fields(const gw_resp *rsp)
{
    for (size_t i = 0; i < rsp->nhdr; i++) {
        gw_str n = rsp->hdr[i].name;
        if (n.n >= 10 && (n.p[0] | 0x20) == 'x' && n.p[1] == '-') return 1;
    }
    return 0;
}

void gw_head_move_body(gw_conn *c, gw_bufq *body)
{
    if (c->resp_nobody) {
        gw_bufq_clear(body);
    } else if (c->resp_chunked) {
        http_write_chunk_head(&c->out, body->bytes);
        gw_bufq_move_all(&c->out, body);
        http_write_crlf(&c->out);
    } else {
        gw_bufq_move_all(&c->out, body);
    }
}
