/* Byte slices, contiguous buffers, block queues with a recycled free list, and the arena.
 * Base layer: libc only. */
#include "gateway/base/buf.h"

#include "gateway/base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int gw_str_eq(gw_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.n == n && memcmp(a.p, lit, n) == 0;
}

int gw_str_caseeq(gw_str a, const char *lit)
{
    /* called with header names on every request: compare as we go instead of strlen first */
    size_t i = 0;
    for (; i < a.n; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)lit[i];
        if (y == 0) return 0;
        if (x != y && (x | 0x20) != (y | 0x20)) return 0;
        if (x != y && ((x | 0x20) < 'a' || (x | 0x20) > 'z')) return 0;
    }
    return lit[i] == '\0';
}

int gw_str_caseeq2(gw_str a, gw_str b)
{
    return a.n == b.n && (a.n == 0 || strncasecmp(a.p, b.p, a.n) == 0);
}

gw_str gw_str_from(const char *cstr)
{
    return (gw_str){cstr, cstr ? strlen(cstr) : 0};
}

/* ---- gw_buf ---- */

/* Freed buffers are kept for the next gw_buf_init of the same size: connections take and
 * give back their read buffers on every keep-alive round, and malloc of 24-64 KiB is not free.
 * Bounded, so idle connections hold no memory through here. */
#define BUF_POOL_MAX 64
static _Thread_local struct {
    char *data;
    size_t cap;
} buf_pool[BUF_POOL_MAX];
static _Thread_local size_t buf_npool;

void gw_buf_init(gw_buf *b, size_t cap)
{
    b->off = b->len = 0;
    for (size_t i = buf_npool; i-- > 0;) {
        if (buf_pool[i].cap != cap) continue;
        b->data = buf_pool[i].data;
        b->cap = cap;
        buf_pool[i] = buf_pool[--buf_npool];
        return;
    }
    b->data = gw_xmalloc(cap);
    b->cap = cap;
}

void gw_buf_free(gw_buf *b)
{
    if (b->data && buf_npool < BUF_POOL_MAX) {
        buf_pool[buf_npool].data = b->data;
        buf_pool[buf_npool++].cap = b->cap;
    } else {
        free(b->data);
    }
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

void gw_buf_consume(gw_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len) b->off = b->len = 0;
}

void gw_buf_compact(gw_buf *b)
{
    if (b->off == 0) return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

/* ---- gw_bufq ---- */

#define BLK_POOL_MAX 1024              /* 16 MiB of recycled blocks at most */
static _Thread_local gw_blk *blk_free; /* (each worker recycles its own) */
static _Thread_local size_t blk_nfree;

static gw_blk *blk_new(void)
{
    gw_blk *b = blk_free;
    if (b) {
        blk_free = b->next;
        blk_nfree--;
    } else {
        b = gw_xmalloc(sizeof(*b));
    }
    b->next = NULL;
    b->off = b->len = 0;
    return b;
}

static void blk_release(gw_blk *b)
{
    if (blk_nfree >= BLK_POOL_MAX) {
        free(b);
        return;
    }
    b->next = blk_free;
    blk_free = b;
    blk_nfree++;
}

static void arena_pool_trim(void);

void gw_blk_pool_trim(void)
{
    while (blk_free) {
        gw_blk *b = blk_free;
        blk_free = b->next;
        free(b);
    }
    blk_nfree = 0;
    while (buf_npool > 0) free(buf_pool[--buf_npool].data);
    arena_pool_trim();
}

static void q_push(gw_bufq *q, gw_blk *b)
{
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
}

char *gw_bufq_reserve(gw_bufq *q, size_t *avail)
{
    if (q->tail == NULL || q->tail->len == GW_BLK_SIZE) q_push(q, blk_new());
    *avail = GW_BLK_SIZE - q->tail->len;
    return q->tail->data + q->tail->len;
}

void gw_bufq_commit(gw_bufq *q, size_t n)
{
    q->tail->len += (uint32_t)n;
    q->bytes += n;
}

void gw_bufq_append(gw_bufq *q, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        size_t room;
        char *dst = gw_bufq_reserve(q, &room);
        size_t k = n < room ? n : room;
        memcpy(dst, s, k);
        gw_bufq_commit(q, k);
        s += k;
        n -= k;
    }
}

void gw_bufq_appendf(gw_bufq *q, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        gw_bufq_append(q, small, (size_t)n);
        return;
    }
    char *big = gw_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gw_bufq_append(q, big, (size_t)n);
    free(big);
}

void gw_bufq_append_escaped(gw_bufq *q, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') gw_bufq_append(q, "\\", 1);
        if ((unsigned char)*s < 0x20) {
            gw_bufq_appendf(q, "\\u%04x", (unsigned char)*s);
            continue;
        }
        gw_bufq_append(q, s, 1);
    }
}

void gw_bufq_consume(gw_bufq *q, size_t n)
{
    while (n > 0 && q->head) {
        gw_blk *b = q->head;
        size_t have = b->len - b->off;
        if (n < have) {
            b->off += (uint32_t)n;
            q->bytes -= n;
            return;
        }
        n -= have;
        q->bytes -= have;
        q->head = b->next;
        if (q->head == NULL) q->tail = NULL;
        blk_release(b);
    }
}

void gw_bufq_move(gw_bufq *dst, gw_bufq *src, size_t n)
{
    while (n > 0 && src->head) {
        gw_blk *b = src->head;
        size_t have = b->len - b->off;
        if (have <= n) { /* whole block changes owner */
            src->head = b->next;
            if (src->head == NULL) src->tail = NULL;
            src->bytes -= have;
            if (have == 0) {
                blk_release(b);
                continue;
            }
            q_push(dst, b);
            dst->bytes += have;
            n -= have;
        } else { /* a part: copy it */
            gw_bufq_append(dst, b->data + b->off, n);
            gw_bufq_consume(src, n);
            n = 0;
        }
    }
}

void gw_bufq_move_all(gw_bufq *dst, gw_bufq *src)
{
    if (src->head == NULL) return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->bytes += src->bytes;
    src->head = src->tail = NULL;
    src->bytes = 0;
}

void gw_bufq_clear(gw_bufq *q)
{
    gw_bufq_consume(q, q->bytes);
    while (q->head) { /* empty blocks, if any */
        gw_blk *b = q->head;
        q->head = b->next;
        blk_release(b);
    }
    q->tail = NULL;
    q->bytes = 0;
}

size_t gw_bufq_copyout(const gw_bufq *q, size_t off, void *dst, size_t n)
{
    char *d = dst;
    size_t done = 0;
    for (const gw_blk *b = q->head; b && done < n; b = b->next) {
        size_t have = b->len - b->off;
        if (off >= have) {
            off -= have;
            continue;
        }
        size_t k = have - off;
        if (k > n - done) k = n - done;
        memcpy(d + done, b->data + b->off + off, k);
        done += k;
        off = 0;
    }
    return done;
}

int gw_bufq_iov(const gw_bufq *q, struct iovec *iov, int max)
{
    int i = 0;
    for (const gw_blk *b = q->head; b && i < max; b = b->next) {
        if (b->len == b->off) continue;
        iov[i].iov_base = (void *)(b->data + b->off);
        iov[i].iov_len = b->len - b->off;
        i++;
    }
    return i;
}

/* ---- arena ---- */

struct gw_arena_chunk {
    gw_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

#define ARENA_CHUNK 4096
#define ARENA_POOL_MAX 256 /* standard chunks kept for reuse: 1 MiB at most */

static _Thread_local gw_arena_chunk *chunk_free;
static _Thread_local size_t chunk_nfree;

static void chunk_release(gw_arena_chunk *c)
{
    if (c->cap != ARENA_CHUNK || chunk_nfree >= ARENA_POOL_MAX) {
        free(c);
        return;
    }
    c->next = chunk_free;
    chunk_free = c;
    chunk_nfree++;
}

void *gw_arena_alloc(gw_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    gw_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        gw_arena_chunk *nc;
        if (cap == ARENA_CHUNK && chunk_free) {
            nc = chunk_free;
            chunk_free = nc->next;
            chunk_nfree--;
        } else {
            nc = gw_xmalloc(sizeof(*nc) + cap);
        }
        nc->used = 0;
        nc->cap = cap;
        if (c && n > ARENA_CHUNK / 4) { /* big one-off: keep the current chunk in front */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used_total += n;
    return p;
}

char *gw_arena_strndup(gw_arena *a, const char *p, size_t n)
{
    char *s = gw_arena_alloc(a, n + 1);
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

gw_str gw_arena_str(gw_arena *a, gw_str s)
{
    return (gw_str){gw_arena_strndup(a, s.p, s.n), s.n};
}

char *gw_arena_sprintf(gw_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *s = gw_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void gw_arena_reset(gw_arena *a)
{
    gw_arena_chunk *c = a->head;
    if (c == NULL) return;
    /* keep the last chunk in the list (the oldest, a standard-size one if any) */
    while (c->next) {
        gw_arena_chunk *next = c->next;
        chunk_release(c);
        c = next;
    }
    c->used = 0;
    a->head = c;
    a->used_total = 0;
}

void gw_arena_free(gw_arena *a)
{
    gw_arena_chunk *c = a->head;
    while (c) {
        gw_arena_chunk *next = c->next;
        chunk_release(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

static void arena_pool_trim(void)
{
    while (chunk_free) {
        gw_arena_chunk *c = chunk_free;
        chunk_free = c->next;
        free(c);
    }
    chunk_nfree = 0;
}
