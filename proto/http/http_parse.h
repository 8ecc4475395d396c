/* HTTP/1.1 message parsing (RFC 9112): request heads, response heads, chunked bodies.
 * Codec layer: pure functions over caller-given bytes; no libev, no sockets, no allocation.
 * Heads are parsed zero-copy: every gw_str points into the caller's buffer. */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/req.h"

/* A parsed request head. Slices borrow the input buffer. */
typedef struct http_req_head {
    gw_str method;
    gw_str target;  /* request-target as sent */
    int minor;      /* HTTP/1.<minor> */
    gw_header *hdr; /* caller's array */
    size_t nhdr;
} http_req_head;

/* Parse a request head from buf[0, len). Leading empty lines (CRLF) before the request line
 * are skipped (RFC 9112 §2.2). `hdr`/`maxhdr`: the caller's header array.
 * Returns the number of bytes of the head (through the blank line) on success;
 * GW_AGAIN when the head is incomplete (the caller decides when it is too large: 431/414);
 * GW_ERR on malformed input with *status set to the answer: 400 (syntax, control bytes,
 * whitespace before a colon, obs-fold, bare CR), 414 (target longer than max_target; 0: no
 * limit), 431 (more than maxhdr fields), 505 (HTTP version other than 1.0/1.1), 501 (method
 * token fine but not a known method is NOT an error here; methods are any token). */
int http_parse_request(const char *buf, size_t len, http_req_head *out, gw_header *hdr,
                       size_t maxhdr, size_t max_target, int *status);

/* What a request head means for framing and connection handling (RFC 9112 §6, §9). */
typedef struct http_req_info {
    int64_t content_length; /* -1: none given */
    unsigned chunked : 1;   /* Transfer-Encoding: chunked */
    unsigned keepalive : 1; /* the client wants the connection kept (1.1 default, 1.0 on ask) */
    unsigned expect_continue : 1; /* Expect: 100-continue */
    unsigned upgrade : 1;         /* Connection: upgrade and an Upgrade header */
    gw_str host;                  /* Host value as sent, or empty */
} http_req_info;

/* Check a parsed head for the strict rules of SPEC §4: both Content-Length and
 * Transfer-Encoding, a repeated or malformed Content-Length, a Transfer-Encoding that is not
 * exactly "chunked" (501 for an unknown coding, 400 otherwise), a missing or repeated Host on
 * HTTP/1.1, an Expect other than 100-continue (417). A Transfer-Encoding in an HTTP/1.0
 * request is 400 (RFC 9112 §6.1: its framing is faulty); a Host value that fails
 * http_authority_check, or an empty one on HTTP/1.1, is 400. Returns 0 and fills `info`, or the
 * HTTP status to answer with. */
int http_req_analyze(const http_req_head *h, http_req_info *info);

/* A parsed response head (from an HTTP backend). */
typedef struct http_resp_head {
    int minor;
    int status; /* 100..599 */
    gw_str reason;
    gw_header *hdr;
    size_t nhdr;
} http_resp_head;

/* Parse a response head from buf[0, len). Returns the head length, GW_AGAIN, or GW_ERR
 * (malformed: the gateway answers 502). Same field rules as requests. */
int http_parse_response(const char *buf, size_t len, http_resp_head *out, gw_header *hdr,
                        size_t maxhdr);

/* Chunked transfer-coding decoder (RFC 9112 §7.1), incremental and in place. */
typedef struct http_chunked {
    int state;
    uint64_t remain;      /* bytes left in the current chunk */
    size_t linelen;       /* length of the current size/trailer line, bounded */
    uint64_t declared;    /* sum of the chunk sizes of the chunks before the current one */
    uint64_t limit;       /* with `limited`: the most body bytes the caller will take */
    unsigned limited : 1; /* http_chunked_limit was called */
    unsigned too_big : 1; /* the GW_ERR came from the limit: the answer is 413, not 400 */
} http_chunked;

static inline void http_chunked_init(http_chunked *c)
{
    c->state = 0;
    c->remain = 0;
    c->linelen = 0;
    c->declared = 0;
    c->limit = 0;
    c->limited = 0;
    c->too_big = 0;
}

/* Refuse, as soon as its size is read, a chunk that would take the body past `max` bytes in
 * all: a client announcing 10 GB is answered at once, not after the bytes came. May be called
 * again with the same value before every decode call. */
static inline void http_chunked_limit(http_chunked *c, uint64_t max)
{
    c->limit = max;
    c->limited = 1;
}

/* Decode buf[0, len) in place. On return, buf[0, *datalen) holds decoded body bytes and
 * *consumed input bytes were used. Returns GW_AGAIN (all input consumed, more wanted),
 * GW_DONE (the last chunk and the trailer section are complete; bytes after *consumed belong
 * to the next message), or GW_ERR (bad chunk size, overflow, missing CRLF, a size or trailer
 * line longer than 4096 bytes; or, with c->too_big set, a chunk size over the limit, found as
 * soon as the size's digits end). Chunk extensions are skipped; trailers are discarded. */
int http_chunked_decode(http_chunked *c, char *buf, size_t len, size_t *consumed, size_t *datalen);

/* Is this field hop-by-hop: in the gateway's list (gw_is_hop_by_hop: Connection, Keep-Alive,
 * TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Connection), or named in one of the Connection
 * header values of `hdr`? */
int http_is_hop_by_hop(gw_str name, const gw_header *hdr, size_t nhdr);

/* Does a comma-separated header value contain `token` (case-insensitive)? */
int http_list_has(gw_str value, const char *token);

/* ASCII case-insensitive comparison with a lower-case literal, without a libc call: header
 * names are compared many times per request. HTTP_IS(s, "content-length"). */
static inline int http_str_is(gw_str s, const char *lower, size_t n)
{
    if (s.n != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 'A' && c <= 'Z') c |= 0x20;
        if (c != (unsigned char)lower[i]) return 0;
    }
    return 1;
}
#define HTTP_IS(s, lit) http_str_is((s), "" lit, sizeof(lit) - 1)

/* Check an authority (RFC 3986 §3.2.2, RFC 9110 §4.2), from a Host field or an absolute-form
 * target alike: uri-host [ ":" port ], where uri-host is a non-empty reg-name or IPv4 address
 * (unreserved, pct-encoded, sub-delims) or an IP-literal ("[" IPv6address or IPvFuture "]"),
 * and port is digits (possibly none) up to 65535. Userinfo ("user:pw@") is refused: credentials
 * must never travel on in Host or X-Forwarded-Host. Pure. Returns GW_OK or GW_ERR. */
int http_authority_check(gw_str a);

/* Content-Length value: one or more digits, nothing else, at most INT64_MAX. GW_OK or GW_ERR. */
int http_parse_length(gw_str v, int64_t *out);

/* One Transfer-Encoding field value: adds the number of "chunked" elements to *nchunked (empty
 * list elements are ignored). Returns 0, 501 (a coding other than chunked) or 400 (an element
 * that is not a token, e.g. with parameters). */
int http_te_check(gw_str value, int *nchunked);

#endif
