/* HTTP/1.1 response writing helpers: status line, header lines, chunk framing into a gw_bufq.
 * Codec layer: formats bytes only; knows nothing of connections or the event loop. */
#ifndef HTTP_WRITE_H
#define HTTP_WRITE_H

#include <stdint.h>

#include "gateway/base/buf.h"

#define HTTP_CRLF "\r\n"
#define HTTP_LAST_CHUNK "0\r\n\r\n" /* last-chunk and an empty trailer section */

/* The reason phrase of a status code ("OK", "Not Found", ...); "Unknown" for others. Static. */
const char *http_reason(int status);

/* Append "HTTP/1.<minor> NNN Reason\r\n". The gateway always answers HTTP/1.1: pass 1. */
void http_write_status(gw_bufq *out, int minor, int status);

/* Append "METHOD target HTTP/1.1\r\n" (the line of a request to a backend). */
void http_write_request_line(gw_bufq *out, gw_str method, gw_str target);

/* Append "Name: value\r\n" (both copied). */
void http_write_header(gw_bufq *out, gw_str name, gw_str value);

/* Append "Name: <decimal v>\r\n", e.g. Content-Length. */
void http_write_header_u64(gw_bufq *out, gw_str name, uint64_t v);

/* Append the chunk-size line "<hex n>\r\n" that precedes n bytes of chunk data. */
void http_write_chunk_head(gw_bufq *out, size_t n);

static inline void http_write_crlf(gw_bufq *out)
{
    gw_bufq_append(out, HTTP_CRLF, 2);
}

static inline void http_write_last_chunk(gw_bufq *out)
{
    gw_bufq_append(out, HTTP_LAST_CHUNK, sizeof(HTTP_LAST_CHUNK) - 1);
}

#endif
