/* FastCGI 1.0 framing (record headers, name-value pairs, PARAMS stream, record decoder).
 * Codec layer: knows no sockets, no event loop, no request objects. */
#include "proto/fastcgi/fcgi_codec.h"

#include <string.h>

void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], unsigned type, uint16_t id, uint16_t clen,
                        uint8_t pad)
{
    out[0] = FCGI_VERSION_1;
    out[1] = (uint8_t)type;
    out[2] = (uint8_t)(id >> 8);
    out[3] = (uint8_t)id;
    out[4] = (uint8_t)(clen >> 8);
    out[5] = (uint8_t)clen;
    out[6] = pad;
    out[7] = 0;
}

void fcgi_begin_request_encode(uint8_t out[16], uint16_t id, unsigned role, unsigned flags)
{
    fcgi_header_encode(out, FCGI_BEGIN_REQUEST, id, 8, 0);
    out[8] = (uint8_t)(role >> 8);
    out[9] = (uint8_t)role;
    out[10] = (uint8_t)flags;
    memset(out + 11, 0, 5);
}

#define PAIR_LEN_MAX 0x7fffffffu

static inline size_t len_size(size_t n)
{
    return n < 128 ? 1 : 4;
}

static size_t len_encode(uint8_t *p, size_t n)
{
    if (n < 128) {
        p[0] = (uint8_t)n;
        return 1;
    }
    p[0] = (uint8_t)(0x80 | (n >> 24));
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return 4;
}

size_t fcgi_pair_size(size_t nlen, size_t vlen)
{
    return len_size(nlen) + len_size(vlen) + nlen + vlen;
}

size_t fcgi_pair_encode(uint8_t *out, size_t cap, gw_str name, gw_str value)
{
    if (name.n > PAIR_LEN_MAX || value.n > PAIR_LEN_MAX) return 0;
    size_t need = fcgi_pair_size(name.n, value.n);
    if (need > cap) return 0;
    size_t k = len_encode(out, name.n);
    k += len_encode(out + k, value.n);
    if (name.n) memcpy(out + k, name.p, name.n);
    k += name.n;
    if (value.n) memcpy(out + k, value.p, value.n);
    return k + value.n;
}

/* ---- PARAMS stream ---- */

void fcgi_params_begin(fcgi_params *w, gw_bufq *out, uint16_t id)
{
    *w = (fcgi_params){.out = out, .id = id};
}

/* Patch the placeholder header; it may straddle two blocks. */
static void params_close(fcgi_params *w)
{
    uint8_t h[FCGI_HEADER_LEN];
    fcgi_header_encode(h, FCGI_PARAMS, w->id, (uint16_t)w->clen, 0);
    gw_blk *b = w->hblk;
    uint32_t off = w->hoff;
    for (size_t i = 0; i < FCGI_HEADER_LEN; i++) {
        while (off >= b->len) {
            b = b->next;
            off = 0;
        }
        b->data[off++] = (char)h[i];
    }
    w->open = 0;
}

static void params_open(fcgi_params *w)
{
    static const char zero[FCGI_HEADER_LEN];
    size_t room;
    gw_bufq_reserve(w->out, &room); /* makes sure the tail block has room for a byte */
    w->hblk = w->out->tail;
    w->hoff = w->hblk->len;
    gw_bufq_append(w->out, zero, sizeof(zero));
    w->clen = 0;
    w->open = 1;
}

/* Content bytes of the stream: cut into records at FCGI_MAX_CONTENT wherever that falls. */
static void params_put(fcgi_params *w, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        if (!w->open) params_open(w);
        size_t k = FCGI_MAX_CONTENT - w->clen;
        if (k > n) k = n;
        gw_bufq_append(w->out, s, k);
        w->clen += (uint32_t)k;
        s += k;
        n -= k;
        if (w->clen == FCGI_MAX_CONTENT) params_close(w);
    }
}

void fcgi_params_add(fcgi_params *w, gw_str name, gw_str value)
{
    uint8_t lens[8];
    size_t k = len_encode(lens, name.n);
    k += len_encode(lens + k, value.n);
    size_t total = k + name.n + value.n, room;
    if (w->open && w->clen + total <= FCGI_MAX_CONTENT) {
        /* the usual pair: one copy into the tail block, one commit */
        char *dst = gw_bufq_reserve(w->out, &room);
        if (room >= total) {
            memcpy(dst, lens, k);
            memcpy(dst + k, name.p, name.n);
            memcpy(dst + k + name.n, value.p, value.n);
            gw_bufq_commit(w->out, total);
            w->clen += (uint32_t)total;
            return;
        }
    }
    params_put(w, lens, k);
    params_put(w, name.p, name.n);
    params_put(w, value.p, value.n);
}

void fcgi_params_end(fcgi_params *w)
{
    if (w->open) params_close(w);
    uint8_t h[FCGI_HEADER_LEN];
    fcgi_header_encode(h, FCGI_PARAMS, w->id, 0, 0);
    gw_bufq_append(w->out, h, sizeof(h));
}

/* ---- decoder ---- */

ssize_t fcgi_decode(fcgi_decoder *d, const char *buf, size_t len, fcgi_piece *piece)
{
    size_t used = 0;
    piece->type = 0;
    piece->len = 0;
    piece->data = NULL;
    piece->first = piece->last = 0;

    if (!d->in_record) {
        size_t k = FCGI_HEADER_LEN - d->hlen;
        if (k > len) k = len;
        memcpy(d->hdr + d->hlen, buf, k);
        d->hlen = (uint8_t)(d->hlen + k);
        used = k;
        if (d->hlen < FCGI_HEADER_LEN) return (ssize_t)used;
        if (d->hdr[0] != FCGI_VERSION_1) return GW_ERR;
        d->type = d->hdr[1];
        d->id = (uint16_t)(d->hdr[2] << 8 | d->hdr[3]);
        d->remain = (uint32_t)(d->hdr[4] << 8 | d->hdr[5]);
        d->pad = d->hdr[6];
        d->hlen = 0;
        d->in_record = 1;
        d->started = 0;
    }

    if (d->remain > 0 || !d->started) {
        size_t k = len - used;
        if (k > d->remain) k = d->remain;
        if (k == 0 && d->remain > 0) return (ssize_t)used; /* content pending, no bytes yet */
        piece->type = d->type;
        piece->id = d->id;
        piece->data = buf + used;
        piece->len = k;
        piece->first = !d->started;
        d->started = 1;
        d->remain -= (uint32_t)k;
        piece->last = d->remain == 0;
        used += k;
        /* report now; padding is skipped on the next call so that a piece is never delayed
         * behind bytes that have not arrived */
        if (d->remain > 0 || d->pad > 0) return (ssize_t)used;
        d->in_record = 0;
        return (ssize_t)used;
    }

    size_t k = len - used;
    if (k > d->pad) k = d->pad;
    d->pad -= (uint32_t)k;
    used += k;
    if (d->pad == 0) d->in_record = 0;
    return (ssize_t)used;
}
