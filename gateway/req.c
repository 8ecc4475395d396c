/* Lookups and edits on the neutral request and response objects.
 * Base layer: used by protocol adapters too, so libc only. */
#include "gateway/req.h"

#include <string.h>

const gw_header *gw_req_header(const gw_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->nhdr; i++)
        if (gw_str_caseeq(rq->hdr[i].name, name)) return &rq->hdr[i];
    return NULL;
}

const gw_header *gw_req_extra(const gw_req *rq, gw_str name)
{
    for (size_t i = 0; i < rq->nextra; i++) {
        const gw_header *e = &rq->extra[i];
        if (e->name.n && e->name.p[0] != '_' && gw_str_caseeq2(e->name, name)) return e;
    }
    return NULL;
}

const gw_header *gw_resp_header(const gw_resp *rsp, const char *name)
{
    for (size_t i = 0; i < rsp->nhdr; i++)
        if (gw_str_caseeq(rsp->hdr[i].name, name)) return &rsp->hdr[i];
    return NULL;
}

/* The array grows in the arena by doubling; capacity is the next power of two >= 8. */
static size_t cap_for(size_t n)
{
    size_t c = 8;
    while (c < n) c <<= 1;
    return c;
}

void gw_resp_add_header(gw_resp *rsp, gw_str name, gw_str value)
{
    size_t n = rsp->nhdr;
    if (rsp->hdr == NULL || (n >= 8 && (n & (n - 1)) == 0)) {
        gw_header *h = gw_arena_alloc(rsp->arena, cap_for(n + 1) * sizeof(*h));
        if (n) memcpy(h, rsp->hdr, n * sizeof(*h));
        rsp->hdr = h;
    }
    rsp->hdr[n].name = name;
    rsp->hdr[n].value = value;
    rsp->nhdr = n + 1;
}

void gw_resp_del_header(gw_resp *rsp, const char *name)
{
    size_t j = 0;
    for (size_t i = 0; i < rsp->nhdr; i++)
        if (!gw_str_caseeq(rsp->hdr[i].name, name)) rsp->hdr[j++] = rsp->hdr[i];
    rsp->nhdr = j;
}
