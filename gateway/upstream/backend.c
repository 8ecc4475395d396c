/* The protocol registry: the one place that names every backend protocol. Adding a protocol
 * is its proto/NAME folder plus one line here. */
#include "gateway/base/backend.h"

#include <string.h>

#include "proto/fastcgi/fcgi_backend.h"
#include "proto/http/http_backend.h"
#include "proto/scgi/scgi_backend.h"

static const gw_backend_ops *const protocols[] = {
    &http_backend_ops,
    &fcgi_backend_ops,
    &scgi_backend_ops,
};

const gw_backend_ops *gw_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
        if (strcmp(protocols[i]->name, name) == 0) return protocols[i];
    return NULL;
}

const char *gw_backend_names(void)
{
    return "http, fastcgi, scgi";
}
