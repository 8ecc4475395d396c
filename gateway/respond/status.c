/* Status and metrics: a read-only view of the current generation's pools and peers. */
#include "config.h"

#include "gateway/respond/status.h"

#include "gateway/upstream/balance.h"

#include <stdio.h>
#include <string.h>

#include "spawn/spawn.h"

static const char *peer_state(const gw_peer *p, double now)
{
    if (p->health != GW_PEER_UP) return "down";
    if (p->disabled_until > now) return "disabled";
    return "up";
}

/* `NAME{pool="..",protocol="..",backend=".."` (the closing brace is the caller's: some series
 * add labels). */
static void put_series(gw_bufq *out, const char *name, const gw_pool *pool, const gw_peer *p)
{
    gw_bufq_appendf(out, "%s{pool=\"", name);
    gw_bufq_append_escaped(out, pool->name);
    gw_bufq_appendf(out, "\",protocol=\"%s\",backend=\"", pool->ops->name);
    gw_bufq_append_escaped(out, p->name);
    gw_bufq_append(out, "\"", 1);
}

void gw_status_metrics(const gw_rt *rt, gw_bufq *out)
{
    double now = ev_now(gw_srv.loop);
    gw_bufq_appendf(out,
                    "# HELP portico_connections Open client connections.\n"
                    "# TYPE portico_connections gauge\nportico_connections %ld\n",
                    gw_srv.nconns);
    gw_bufq_appendf(out, "# HELP portico_responses_total Client responses by status class.\n"
                         "# TYPE portico_responses_total counter\n");
    for (int cls = 1; cls <= 5; cls++)
        gw_bufq_appendf(out, "portico_responses_total{code=\"%dxx\"} %llu\n", cls,
                        (unsigned long long)gw_srv.responses[cls]);
    static const char *const fams[][3] = {
        {"portico_backend_requests_total", "counter", "Requests sent to the backend."},
        {"portico_backend_failures_total", "counter", "Failed connects and exchanges."},
        {"portico_backend_retries_total", "counter", "Requests re-dispatched away from it."},
        {"portico_backend_inflight", "gauge", "Requests in flight."},
        {"portico_backend_up", "gauge", "1 when the backend takes traffic."},
        {"portico_backend_idle_connections", "gauge", "Kept-alive idle connections."},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        gw_bufq_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", fams[f][0], fams[f][2], fams[f][0],
                        fams[f][1]);
        for (size_t i = 0; i < rt->npools; i++) {
            const gw_pool *pool = rt->pools[i];
            for (unsigned k = 0; k < pool->npeers; k++) {
                const gw_peer *p = &pool->peers[k];
                unsigned long long v = f == 0   ? p->requests
                                       : f == 1 ? p->failures
                                       : f == 2 ? p->retries
                                       : f == 3 ? p->inflight
                                       : f == 4 ? strcmp(peer_state(p, now), "up") == 0
                                                : p->nidle;
                put_series(out, fams[f][0], pool, p);
                gw_bufq_appendf(out, "} %llu\n", v);
            }
        }
    }
    gw_bufq_appendf(out, "# HELP portico_backend_responses_total Responses by status class.\n"
                         "# TYPE portico_backend_responses_total counter\n");
    for (size_t i = 0; i < rt->npools; i++) {
        const gw_pool *pool = rt->pools[i];
        for (unsigned k = 0; k < pool->npeers; k++) {
            const gw_peer *p = &pool->peers[k];
            for (int cls = 1; cls <= 5; cls++) {
                put_series(out, "portico_backend_responses_total", pool, p);
                gw_bufq_appendf(out, ",code=\"%dxx\"} %llu\n", cls,
                                (unsigned long long)p->responses[cls]);
            }
        }
    }
    static const char *const hists[][2] = {
        {"portico_backend_connect_seconds", "Time to establish a backend connection."},
        {"portico_backend_response_seconds", "Time from the request sent to the response done."},
    };
    for (int hi = 0; hi < 2; hi++) {
        gw_bufq_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", hists[hi][0], hists[hi][1],
                        hists[hi][0]);
        for (size_t i = 0; i < rt->npools; i++) {
            const gw_pool *pool = rt->pools[i];
            for (unsigned k = 0; k < pool->npeers; k++) {
                const gw_peer *p = &pool->peers[k];
                const gw_hist *h = hi == 0 ? &p->connect_time : &p->response_time;
                uint64_t cum = 0;
                for (int b = 0; b < GW_HIST_N; b++) {
                    cum += h->bucket[b];
                    char series[96];
                    snprintf(series, sizeof(series), "%s_bucket", hists[hi][0]);
                    put_series(out, series, pool, p);
                    if (b < GW_HIST_N - 1)
                        gw_bufq_appendf(out, ",le=\"%g\"} %llu\n", gw_hist_bounds[b],
                                        (unsigned long long)cum);
                    else
                        gw_bufq_appendf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
                }
                char series[96];
                snprintf(series, sizeof(series), "%s_sum", hists[hi][0]);
                put_series(out, series, pool, p);
                gw_bufq_appendf(out, "} %.6f\n", h->sum);
                snprintf(series, sizeof(series), "%s_count", hists[hi][0]);
                put_series(out, series, pool, p);
                gw_bufq_appendf(out, "} %llu\n", (unsigned long long)h->count);
            }
        }
    }
    gw_bufq_appendf(out, "# HELP portico_backlog_depth Requests waiting for a backend.\n"
                         "# TYPE portico_backlog_depth gauge\n");
    for (size_t i = 0; i < rt->npools; i++) {
        gw_bufq_appendf(out, "portico_backlog_depth{pool=\"");
        gw_bufq_append_escaped(out, rt->pools[i]->name);
        gw_bufq_appendf(out, "\"} %zu\n", rt->pools[i]->backlog.len);
    }
    gw_bufq_appendf(out, "# HELP portico_pool_inflight Requests in flight to the pool.\n"
                         "# TYPE portico_pool_inflight gauge\n");
    for (size_t i = 0; i < rt->npools; i++) {
        gw_bufq_appendf(out, "portico_pool_inflight{pool=\"");
        gw_bufq_append_escaped(out, rt->pools[i]->name);
        gw_bufq_appendf(out, "\"} %u\n", rt->pools[i]->inflight);
    }
    spawn_status_metrics(out);
}

void gw_status_json(const gw_rt *rt, gw_bufq *out)
{
    double now = ev_now(gw_srv.loop);
    gw_bufq_appendf(out, "{\"connections\":%ld,\"pools\":[", gw_srv.nconns);
    for (size_t i = 0; i < rt->npools; i++) {
        const gw_pool *pool = rt->pools[i];
        gw_bufq_appendf(out, "%s{\"name\":\"", i ? "," : "");
        gw_bufq_append_escaped(out, pool->name);
        gw_bufq_appendf(out,
                        "\",\"protocol\":\"%s\",\"balancer\":\"%s\",\"inflight\":%u,"
                        "\"backlog\":%zu,\"backends\":[",
                        pool->ops->name, pool->balancer->name, pool->inflight, pool->backlog.len);
        for (unsigned k = 0; k < pool->npeers; k++) {
            const gw_peer *p = &pool->peers[k];
            gw_bufq_appendf(out, "%s{\"name\":\"", k ? "," : "");
            gw_bufq_append_escaped(out, p->name);
            gw_bufq_appendf(
                out,
                "\",\"state\":\"%s\",\"inflight\":%u,\"idle\":%u,\"requests\":%llu,"
                "\"failures\":%llu,\"retries\":%llu,\"responses\":{\"1xx\":%llu,"
                "\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
                "\"last_error\":\"",
                peer_state(p, now), p->inflight, p->nidle, (unsigned long long)p->requests,
                (unsigned long long)p->failures, (unsigned long long)p->retries,
                (unsigned long long)p->responses[1], (unsigned long long)p->responses[2],
                (unsigned long long)p->responses[3], (unsigned long long)p->responses[4],
                (unsigned long long)p->responses[5]);
            gw_bufq_append_escaped(out, p->last_error);
            gw_bufq_appendf(out, "\"}");
        }
        gw_bufq_appendf(out, "]}");
    }
    gw_bufq_appendf(out, "],\"apps\":[");
    spawn_status_json(out);
    gw_bufq_appendf(out, "]}\n");
}

int gw_status_handle(gw_conn *c)
{
    const gw_server_conf *s = &c->rt->srv;
    int metrics = s->metrics_url && gw_str_eq(c->req.path, s->metrics_url);
    int json = s->status_url && gw_str_eq(c->req.path, s->status_url);
    if (!metrics && !json) return 0;
    gw_bufq body = {0};
    if (metrics)
        gw_status_metrics(c->rt, &body);
    else
        gw_status_json(c->rt, &body);
    gw_conn_send_body(c, 200, metrics ? "text/plain; version=0.0.4" : "application/json", &body);
    return 1;
}
