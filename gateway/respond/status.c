/* Status and metrics: a read-only view of the current generation's pools and peers, and of the
 * workers. Other workers change the counters meanwhile: every one is read atomically. */
#include "config.h"

#include "gateway/respond/status.h"

#include "gateway/upstream/balance.h"

#include <stdio.h>
#include <string.h>

#include "spawn/spawn.h"

static const char *peer_state(const gw_peer *p, double now)
{
    if (gw_atomic_get(&p->health) != GW_PEER_UP) return "down";
    if (gw_peer_disabled_until(p) > now) return "disabled";
    return "up";
}

static long total_conns(void)
{
    long n = 0;
    for (unsigned i = 0; i < gw_nworkers; i++) n += gw_atomic_get(&gw_workers[i].nconns);
    return n;
}

static unsigned long long total_responses(int cls)
{
    unsigned long long n = 0;
    for (unsigned i = 0; i < gw_nworkers; i++) n += gw_atomic_get(&gw_workers[i].responses[cls]);
    return n;
}

/* spawn/ is the main thread's: another worker reads it under the main lock. */
static void spawn_part(void (*put)(gw_bufq *), gw_bufq *out)
{
    gw_main_lock();
    put(out);
    gw_main_unlock();
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
    double now = ev_now(gw_self->loop);
    gw_bufq_appendf(out,
                    "# HELP portico_connections Open client connections.\n"
                    "# TYPE portico_connections gauge\nportico_connections %ld\n",
                    total_conns());
    gw_bufq_appendf(out, "# HELP portico_worker_connections Open client connections by worker.\n"
                         "# TYPE portico_worker_connections gauge\n");
    for (unsigned i = 0; i < gw_nworkers; i++)
        gw_bufq_appendf(out, "portico_worker_connections{worker=\"%u\"} %ld\n", i,
                        gw_atomic_get(&gw_workers[i].nconns));
    gw_bufq_appendf(out, "# HELP portico_responses_total Client responses by status class.\n"
                         "# TYPE portico_responses_total counter\n");
    for (int cls = 1; cls <= 5; cls++)
        gw_bufq_appendf(out, "portico_responses_total{code=\"%dxx\"} %llu\n", cls,
                        total_responses(cls));
    static const char *const fams[][3] = {
        {"portico_backend_requests_total", "counter", "Requests sent to the backend."},
        {"portico_backend_failures_total", "counter", "Failed connects and exchanges."},
        {"portico_backend_retries_total", "counter", "Requests re-dispatched away from it."},
        {"portico_backend_x_sendfile_total", "counter", "Answers sent as the file it named."},
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
                unsigned long long v = f == 0   ? gw_atomic_get(&p->requests)
                                       : f == 1 ? gw_atomic_get(&p->failures)
                                       : f == 2 ? gw_atomic_get(&p->retries)
                                       : f == 3 ? gw_atomic_get(&p->x_sendfile)
                                       : f == 4 ? gw_atomic_get(&p->inflight)
                                       : f == 5 ? strcmp(peer_state(p, now), "up") == 0
                                                : gw_atomic_get(&p->nidle);
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
                                (unsigned long long)gw_atomic_get(&p->responses[cls]));
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
                gw_hist h;
                gw_hist_copy(&h, hi == 0 ? &p->connect_time : &p->response_time);
                uint64_t cum = 0;
                for (int b = 0; b < GW_HIST_N; b++) {
                    cum += h.bucket[b];
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
                gw_bufq_appendf(out, "} %.6f\n", (double)h.sum_ns / 1e9);
                snprintf(series, sizeof(series), "%s_count", hists[hi][0]);
                put_series(out, series, pool, p);
                gw_bufq_appendf(out, "} %llu\n", (unsigned long long)h.count);
            }
        }
    }
    gw_bufq_appendf(out, "# HELP portico_backlog_depth Requests waiting for a backend.\n"
                         "# TYPE portico_backlog_depth gauge\n");
    for (size_t i = 0; i < rt->npools; i++) {
        gw_bufq_appendf(out, "portico_backlog_depth{pool=\"");
        gw_bufq_append_escaped(out, rt->pools[i]->name);
        gw_bufq_appendf(out, "\"} %zu\n", gw_atomic_get(&rt->pools[i]->backlog.len));
    }
    gw_bufq_appendf(out, "# HELP portico_pool_inflight Requests in flight to the pool.\n"
                         "# TYPE portico_pool_inflight gauge\n");
    for (size_t i = 0; i < rt->npools; i++) {
        gw_bufq_appendf(out, "portico_pool_inflight{pool=\"");
        gw_bufq_append_escaped(out, rt->pools[i]->name);
        gw_bufq_appendf(out, "\"} %u\n", gw_atomic_get(&rt->pools[i]->inflight));
    }
    spawn_part(spawn_status_metrics, out);
}

void gw_status_json(const gw_rt *rt, gw_bufq *out)
{
    double now = ev_now(gw_self->loop);
    gw_bufq_appendf(out, "{\"connections\":%ld,\"workers\":[", total_conns());
    for (unsigned i = 0; i < gw_nworkers; i++)
        gw_bufq_appendf(out, "%s{\"connections\":%ld}", i ? "," : "",
                        gw_atomic_get(&gw_workers[i].nconns));
    gw_bufq_appendf(out, "],\"pools\":[");
    for (size_t i = 0; i < rt->npools; i++) {
        const gw_pool *pool = rt->pools[i];
        gw_bufq_appendf(out, "%s{\"name\":\"", i ? "," : "");
        gw_bufq_append_escaped(out, pool->name);
        gw_bufq_appendf(out,
                        "\",\"protocol\":\"%s\",\"balancer\":\"%s\",\"inflight\":%u,"
                        "\"backlog\":%zu,\"backends\":[",
                        pool->ops->name, pool->balancer->name, gw_atomic_get(&pool->inflight),
                        gw_atomic_get(&pool->backlog.len));
        for (unsigned k = 0; k < pool->npeers; k++) {
            const gw_peer *p = &pool->peers[k];
            gw_bufq_appendf(out, "%s{\"name\":\"", k ? "," : "");
            gw_bufq_append_escaped(out, p->name);
            gw_bufq_appendf(out,
                            "\",\"state\":\"%s\",\"inflight\":%u,\"idle\":%u,\"requests\":%llu,"
                            "\"failures\":%llu,\"retries\":%llu,\"x_sendfile\":%llu,"
                            "\"responses\":{\"1xx\":%llu,"
                            "\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
                            "\"last_error\":\"",
                            peer_state(p, now), gw_atomic_get(&p->inflight),
                            gw_atomic_get(&p->nidle),
                            (unsigned long long)gw_atomic_get(&p->requests),
                            (unsigned long long)gw_atomic_get(&p->failures),
                            (unsigned long long)gw_atomic_get(&p->retries),
                            (unsigned long long)gw_atomic_get(&p->x_sendfile),
                            (unsigned long long)gw_atomic_get(&p->responses[1]),
                            (unsigned long long)gw_atomic_get(&p->responses[2]),
                            (unsigned long long)gw_atomic_get(&p->responses[3]),
                            (unsigned long long)gw_atomic_get(&p->responses[4]),
                            (unsigned long long)gw_atomic_get(&p->responses[5]));
            char last_error[sizeof(p->last_error)];
            pthread_mutex_lock(&((gw_pool *)pool)->lock);
            memcpy(last_error, p->last_error, sizeof(last_error));
            pthread_mutex_unlock(&((gw_pool *)pool)->lock);
            gw_bufq_append_escaped(out, last_error);
            gw_bufq_appendf(out, "\"}");
        }
        gw_bufq_appendf(out, "]}");
    }
    gw_bufq_appendf(out, "],\"apps\":[");
    spawn_part(spawn_status_json, out);
    gw_bufq_appendf(out, "]}\n");
}

int gw_status_handle(gw_conn *c)
{
    const gw_route *r = c->route; /* (the blocks that hold for this request say) */
    int metrics = r->metrics_url && r->metrics_url[0] && gw_str_eq(c->req.path, r->metrics_url);
    int json = r->status_url && r->status_url[0] && gw_str_eq(c->req.path, r->status_url);
    if (!metrics && !json) return 0;
    gw_bufq body = {0};
    if (metrics)
        gw_status_metrics(c->rt, &body);
    else
        gw_status_json(c->rt, &body);
    gw_conn_send_body(c, 200, metrics ? "text/plain; version=0.0.4" : "application/json", &body);
    return 1;
}
