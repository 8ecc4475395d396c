/* FastCGI 1.0 wire format: record headers, BEGIN_REQUEST, name-value pairs, the PARAMS stream
 * writer and an incremental record decoder. Codec layer: pure functions over caller-given
 * buffers; no sockets, no event loop, and nothing here calls malloc itself. */
#ifndef FCGI_CODEC_H
#define FCGI_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gateway/base/buf.h"

#define FCGI_VERSION_1 1
#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535 /* contentLength is 16 bits */

/* record types */
#define FCGI_BEGIN_REQUEST 1
#define FCGI_ABORT_REQUEST 2
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
#define FCGI_DATA 8
#define FCGI_GET_VALUES 9
#define FCGI_GET_VALUES_RESULT 10
#define FCGI_UNKNOWN_TYPE 11

/* BEGIN_REQUEST role and flags */
#define FCGI_RESPONDER 1
#define FCGI_KEEP_CONN 1

/* END_REQUEST protocolStatus */
#define FCGI_REQUEST_COMPLETE 0
#define FCGI_CANT_MPX_CONN 1
#define FCGI_OVERLOADED 2
#define FCGI_UNKNOWN_ROLE 3

/* Write an 8-byte record header into `out`: version 1, `type`, `id`, `clen` content bytes
 * followed by `pad` padding bytes. */
void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], unsigned type, uint16_t id, uint16_t clen,
                        uint8_t pad);

/* Write a whole BEGIN_REQUEST record (header + 8-byte body, 16 bytes) into `out` for `role`
 * with `flags` (FCGI_KEEP_CONN or 0). */
void fcgi_begin_request_encode(uint8_t out[16], uint16_t id, unsigned role, unsigned flags);

/* Bytes a name-value pair takes on the wire: each length is 1 byte below 128, else 4. */
size_t fcgi_pair_size(size_t nlen, size_t vlen);

/* Encode one name-value pair into out[0, cap). Returns the bytes written, or 0 when it does not
 * fit (nothing written) or a length exceeds 2^31-1. */
size_t fcgi_pair_encode(uint8_t *out, size_t cap, gw_str name, gw_str value);

/* The PARAMS stream writer. Pairs are packed back to back into PARAMS records of up to
 * FCGI_MAX_CONTENT bytes; a pair that does not fit the current record continues in the next
 * one (the params are one byte stream; record edges carry no meaning), so a pair larger than
 * 64 KiB is fine. The open record's header is written as a placeholder and patched in place
 * when the record closes, so no pass over the environment is needed to learn its size. */
typedef struct fcgi_params {
    gw_bufq *out;  /* borrowed: records are appended here */
    gw_blk *hblk;  /* block holding the first byte of the open record's header */
    uint32_t hoff; /* its offset in that block */
    uint32_t clen; /* content bytes in the open record */
    uint16_t id;
    unsigned open : 1;
} fcgi_params;

/* Start writing PARAMS for request `id` to `out` (nothing is written yet). */
void fcgi_params_begin(fcgi_params *w, gw_bufq *out, uint16_t id);
/* Append one pair. */
void fcgi_params_add(fcgi_params *w, gw_str name, gw_str value);
/* Close the open record and write the empty PARAMS record that ends the stream. */
void fcgi_params_end(fcgi_params *w);

/* Incremental record decoder: headers may arrive split at any byte, padding is skipped, and
 * content is handed out as it arrives (never waiting for a whole record). */
typedef struct fcgi_decoder {
    uint8_t hdr[FCGI_HEADER_LEN]; /* header bytes gathered so far */
    uint8_t hlen;
    uint8_t type;           /* of the current record */
    uint16_t id;            /* of the current record */
    uint32_t remain;        /* content bytes left in the current record */
    uint32_t pad;           /* padding bytes left */
    unsigned in_record : 1; /* header complete, content or padding pending */
    unsigned started : 1;   /* the current record's first piece was reported */
} fcgi_decoder;

/* A piece of one record's content, a slice of the input. */
typedef struct fcgi_piece {
    uint8_t type; /* 0: nothing to report (header or padding bytes only) */
    uint16_t id;
    const char *data; /* borrowed from the input */
    size_t len;
    unsigned first : 1; /* the first piece of its record */
    unsigned last : 1;  /* the record's content ends with this piece */
} fcgi_piece;

static inline void fcgi_decoder_init(fcgi_decoder *d)
{
    *d = (fcgi_decoder){.hlen = 0};
}

/* Decode from buf[0, len) into `piece`. Returns the bytes consumed (> 0 when len > 0; call
 * again with the rest), or GW_ERR for a record whose version is not 1. A record with no
 * content is reported as one piece with first = last = 1 and len = 0. */
ssize_t fcgi_decode(fcgi_decoder *d, const char *buf, size_t len, fcgi_piece *piece);

#endif
