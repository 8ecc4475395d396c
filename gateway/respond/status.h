/* The status endpoints: status.metrics-url (Prometheus text) and status.status-url (JSON),
 * answered by the gateway itself from the pools' counters. */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include "gateway/client/conn.h"

/* If the request is for a status URL, answer it and return 1; else 0. */
int gw_status_handle(gw_conn *c);

/* Render into `out` (tests). */
void gw_status_metrics(const gw_rt *rt, gw_bufq *out);
void gw_status_json(const gw_rt *rt, gw_bufq *out);

#endif
