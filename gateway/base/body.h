/* A request body as received: in memory, spilled to an unlinked temp file past 64 KiB when it
 * is buffered whole (so a retry can replay it); a streamed body holds only the bytes not yet
 * sent. Base layer: libc only. */
#ifndef GW_BODY_H
#define GW_BODY_H

#include <stdint.h>
#include <sys/types.h>

#include "gateway/base/buf.h"

#define GW_BODY_MEM_MAX (64 * 1024)

typedef struct gw_body {
    gw_bufq mem;
    int fd;         /* spill file, or -1 */
    uint64_t total; /* bytes received */
    unsigned complete : 1;
    unsigned streaming : 1;
} gw_body;

static inline void gw_body_init(gw_body *b)
{
    b->mem = (gw_bufq){0};
    b->fd = -1;
    b->total = 0;
    b->complete = b->streaming = 0;
}

/* Drop the bytes and the spill file; ready for the next request. */
void gw_body_reset(gw_body *b);

/* Keep n more bytes. `max`: server.max-request-size. Returns 0, or the status to answer with:
 * 413 past max, 500 when the spill file cannot be made or written. */
int gw_body_append(gw_body *b, const char *p, size_t n, uint64_t max);

/* Read up to n bytes at offset off (a buffered body, for sending or replaying). Returns the
 * bytes read, 0 past the end, or -1. */
ssize_t gw_body_pread(const gw_body *b, uint64_t off, void *dst, size_t n);

#endif
