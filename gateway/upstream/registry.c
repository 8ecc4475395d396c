/* The registry of protocols and balancers: adding a protocol is its proto/NAME folder plus one
 * line here, adding a balancer its balance_NAME.c plus one line here. Knows nothing of the
 * config syntax, sockets or the loop. */
#include "gateway/upstream/registry.h"

#include <stdio.h>
#include <string.h>

#include "proto/fastcgi/fcgi_backend.h"
#include "proto/http/http_backend.h"
#include "proto/scgi/scgi_backend.h"

static const gw_backend_ops *const protocols[] = {
    &http_backend_ops,
    &fcgi_backend_ops,
    &scgi_backend_ops,
};

/* "carp" is lighttpd's name for its hash balancer; accepted so lighttpd configs carry over. */
static const struct {
    const char *name;
    const gw_balancer_ops *ops;
} balancers[] = {
    {"round-robin", &gw_balance_rr}, {"sqf", &gw_balance_sqf},       {"hash", &gw_balance_hash},
    {"carp", &gw_balance_hash},      {"static", &gw_balance_static},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const gw_backend_ops *gw_backend_find(const char *name)
{
    for (size_t i = 0; name && i < COUNT(protocols); i++)
        if (strcmp(protocols[i]->name, name) == 0) return protocols[i];
    return NULL;
}

const gw_balancer_ops *gw_balancer_find(const char *name)
{
    if (name == NULL) return &gw_balance_sqf; /* the documented default */
    for (size_t i = 0; i < COUNT(balancers); i++)
        if (strcmp(name, balancers[i].name) == 0) return balancers[i].ops;
    return NULL;
}

const char *gw_protocol_name(size_t i)
{
    return i < COUNT(protocols) ? protocols[i]->name : NULL;
}

const char *gw_balancer_name(size_t i)
{
    return i < COUNT(balancers) ? balancers[i].name : NULL;
}

static const char *join(const char *(*name)(size_t), char *buf, size_t size)
{
    size_t n = 0;
    if (size) buf[0] = '\0';
    for (size_t i = 0; name(i) && n < size; i++) {
        int k = snprintf(buf + n, size - n, "%s%s", i ? ", " : "", name(i));
        if (k < 0) break;
        n += (size_t)k;
    }
    return buf;
}

const char *gw_protocol_names(char *buf, size_t size)
{
    return join(gw_protocol_name, buf, size);
}

const char *gw_balancer_names(char *buf, size_t size)
{
    return join(gw_balancer_name, buf, size);
}
