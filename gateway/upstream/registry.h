/* The registry: the one list of backend protocols and of balancers, by config name. Lookups,
 * the "known: ..." lists of error messages and the docs check all read it. Knows the ops tables
 * only; nothing of the config, sockets or the loop. */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stddef.h>

#include "gateway/base/backend.h"
#include "gateway/upstream/balance.h"

/* The protocol named `name` ("http", "fastcgi", "scgi"); NULL if none is. */
const gw_backend_ops *gw_backend_find(const char *name);
/* The balancer named `name` (aliases included, "carp" = "hash"); NULL (the name) gives the
 * default, sqf; an unknown name gives NULL. */
const gw_balancer_ops *gw_balancer_find(const char *name);

/* The i-th registered name, NULL past the end: for messages, docs and tests. Balancer names
 * include the aliases. */
const char *gw_protocol_name(size_t i);
const char *gw_balancer_name(size_t i);

/* "http, fastcgi, scgi" into buf (truncated to size); returns buf. */
const char *gw_protocol_names(char *buf, size_t size);
const char *gw_balancer_names(char *buf, size_t size);

#endif
