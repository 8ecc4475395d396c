/* SCGI framing (the netstring request head): "LEN:" NAME\0VALUE\0 ... ",".
 * Codec layer: pure functions over caller-given buffers; no allocation, no sockets, no libev. */
#ifndef SCGI_CODEC_H
#define SCGI_CODEC_H

#include <stddef.h>

#include "gateway/base/buf.h"

/* Longest "LEN:" prefix: 20 digits of a size_t and the colon. */
#define SCGI_PREFIX_MAX 21

/* Bytes one NAME\0VALUE\0 pair takes in the netstring payload. */
static inline size_t scgi_pair_len(gw_str name, gw_str value)
{
    return name.n + value.n + 2;
}

/* Check that a pair can be framed: a non-empty name, no NUL in either string.
 * Returns GW_OK or GW_ERR. */
int scgi_pair_check(gw_str name, gw_str value);

/* Write NAME\0VALUE\0 at <dst>, which has room for scgi_pair_len() bytes. Returns the count. */
size_t scgi_pair_put(char *dst, gw_str name, gw_str value);

/* Write the "LEN:" prefix for a payload of <len> bytes so that it ENDS at <end> (the prefix
 * is written right-aligned into reserved room just before the payload: one pass, no copy of
 * the payload). Returns the prefix length (at most SCGI_PREFIX_MAX); the prefix starts at
 * end - return value. */
size_t scgi_prefix_put_before(char *end, size_t len);

/* Parse the netstring head from buf[0, len): on success sets *payload to the NAME\0VALUE\0
 * bytes (borrowing <buf>) and returns the bytes consumed through the ','; GW_AGAIN when
 * incomplete; GW_ERR when malformed (no digits, a leading zero with more digits, a length
 * over <max>, or no ',' after the payload). */
int scgi_netstring_parse(const char *buf, size_t len, size_t max, gw_str *payload);

/* Step through the pairs of a payload: <*off> starts at 0. Returns GW_OK with name/value set
 * (borrowing <payload>), GW_DONE at the end, GW_ERR when a pair is cut short or a name is
 * empty. */
int scgi_pair_next(gw_str payload, size_t *off, gw_str *name, gw_str *value);

#endif
