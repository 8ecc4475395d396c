/* Byte slices, contiguous buffers, block queues and the per-request arena.
 * Base layer: libc only; knows nothing of sockets or the event loop. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gateway/base/alloc.h"

#define GW_OK 0
#define GW_ERR (-1)
#define GW_AGAIN (-2)
#define GW_DONE 1

/* A borrowed slice: never freed through this struct. */
typedef struct gw_str {
    const char *p;
    size_t n;
} gw_str;

#define GW_STR(lit) ((gw_str){(lit), sizeof(lit) - 1})
#define GW_STR_NULL ((gw_str){NULL, 0})

int gw_str_eq(gw_str a, const char *lit);     /* exact */
int gw_str_caseeq(gw_str a, const char *lit); /* ASCII case-insensitive */
int gw_str_caseeq2(gw_str a, gw_str b);
gw_str gw_str_from(const char *cstr);

/* A contiguous buffer that owns its storage; unread bytes are [off, len). */
typedef struct gw_buf {
    char *data;
    size_t off, len, cap;
} gw_buf;

void gw_buf_init(gw_buf *b, size_t cap);
void gw_buf_free(gw_buf *b);
void gw_buf_consume(gw_buf *b, size_t n);
void gw_buf_compact(gw_buf *b); /* move unread bytes to the front */
static inline size_t gw_buf_unread(const gw_buf *b)
{
    return b->len - b->off;
}
static inline size_t gw_buf_room(const gw_buf *b)
{
    return b->cap - b->len;
}

/* A queue of fixed-size blocks. The queue owns its blocks; blocks are recycled through a
 * process-wide free list, so steady traffic does not call malloc. */
#define GW_BLK_SIZE 16384

typedef struct gw_blk {
    struct gw_blk *next;
    uint32_t off, len; /* unread bytes are data[off, len) */
    char data[GW_BLK_SIZE];
} gw_blk;

typedef struct gw_bufq {
    gw_blk *head, *tail;
    size_t bytes;
} gw_bufq;

void gw_bufq_append(gw_bufq *q, const void *p, size_t n); /* copies */
void gw_bufq_appendf(gw_bufq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `s` for a JSON string or a Prometheus label value (the quotes are the caller's): '"' and '\\'
 * escaped with a backslash, control bytes as \u00XX. */
void gw_bufq_append_escaped(gw_bufq *q, const char *s);
void gw_bufq_move(gw_bufq *dst, gw_bufq *src, size_t n); /* transfers n bytes, whole blocks */
void gw_bufq_move_all(gw_bufq *dst, gw_bufq *src);
void gw_bufq_consume(gw_bufq *q, size_t n);
void gw_bufq_clear(gw_bufq *q);
size_t gw_bufq_copyout(const gw_bufq *q, size_t off, void *dst, size_t n); /* peek, no consume */
int gw_bufq_iov(const gw_bufq *q, struct iovec *iov, int max);             /* returns count */
/* Space to write into at the tail (allocating a block if needed); commit what was written. */
char *gw_bufq_reserve(gw_bufq *q, size_t *avail);
void gw_bufq_commit(gw_bufq *q, size_t n);
void gw_blk_pool_trim(void); /* free every recycled block, buffer and arena chunk (tests, exit) */

/* Per-request arena: many small allocations freed in one call. */
typedef struct gw_arena_chunk gw_arena_chunk;
typedef struct gw_arena {
    gw_arena_chunk *head;
    size_t used_total;
} gw_arena;

void *gw_arena_alloc(gw_arena *a, size_t n); /* 16-byte aligned, never NULL (aborts on OOM) */
char *gw_arena_strndup(gw_arena *a, const char *p, size_t n); /* NUL-terminated copy */
gw_str gw_arena_str(gw_arena *a, gw_str s);                   /* copy into the arena */
char *gw_arena_sprintf(gw_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_arena_reset(gw_arena *a); /* frees all but the first chunk */
void gw_arena_free(gw_arena *a);

#endif
