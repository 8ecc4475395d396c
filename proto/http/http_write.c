/* HTTP/1.1 response writing helpers: each line is built in place at the tail of the queue
 * (one reserve, one commit) when it fits. Codec layer: no connections, no event loop. */
#include "proto/http/http_write.h"

#include <string.h>

const char *http_reason(int status)
{
    /* clang-format off */
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
    /* clang-format on */
}

/* Append the concatenation of up to four pieces with a single commit when they fit in the
 * tail block, which is the common case for header lines. */
static void put4(gw_bufq *out, const char *a, size_t an, const char *b, size_t bn, const char *c,
                 size_t cn, const char *d, size_t dn)
{
    size_t total = an + bn + cn + dn, avail;
    char *p = gw_bufq_reserve(out, &avail);
    if (avail < total) {
        gw_bufq_append(out, a, an);
        gw_bufq_append(out, b, bn);
        gw_bufq_append(out, c, cn);
        gw_bufq_append(out, d, dn);
        return;
    }
    if (an) memcpy(p, a, an);
    if (bn) memcpy(p + an, b, bn);
    if (cn) memcpy(p + an + bn, c, cn);
    if (dn) memcpy(p + an + bn + cn, d, dn);
    gw_bufq_commit(out, total);
}

void http_write_status(gw_bufq *out, int minor, int status)
{
    char line[16] = "HTTP/1.x NNN ";
    if (status < 100 || status > 999) status = 500;
    line[7] = (char)('0' + (minor == 0 ? 0 : 1));
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    const char *reason = http_reason(status);
    put4(out, line, 13, reason, strlen(reason), HTTP_CRLF, 2, "", 0);
}

/* A header line is written for every field of every request and response: the fixed ": " and
 * CRLF are stored directly instead of going through two more memcpy calls each (put4 cannot be
 * specialised for them). */
static void put_line(gw_bufq *out, const char *name, size_t nn, const char *value, size_t vn)
{
    size_t total = nn + vn + 4, avail;
    char *p = gw_bufq_reserve(out, &avail);
    if (avail < total) {
        put4(out, name, nn, ": ", 2, value, vn, HTTP_CRLF, 2);
        return;
    }
    if (nn) memcpy(p, name, nn);
    p += nn;
    p[0] = ':';
    p[1] = ' ';
    if (vn) memcpy(p + 2, value, vn);
    p[vn + 2] = '\r';
    p[vn + 3] = '\n';
    gw_bufq_commit(out, total);
}

void http_write_request_line(gw_bufq *out, gw_str method, gw_str target)
{
    put4(out, method.p, method.n, " ", 1, target.p, target.n, " HTTP/1.1\r\n", 11);
}

void http_write_header(gw_bufq *out, gw_str name, gw_str value)
{
    put_line(out, name.p, name.n, value.p, value.n);
}

void http_write_header_u64(gw_bufq *out, gw_str name, uint64_t v)
{
    char num[24];
    size_t i = sizeof(num);
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_line(out, name.p, name.n, num + i, sizeof(num) - i);
}

void http_write_chunk_head(gw_bufq *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char line[2 * sizeof(size_t) + 2];
    size_t i = sizeof(line) - 2;
    line[i] = '\r';
    line[i + 1] = '\n';
    do {
        line[--i] = hex[n & 15];
        n >>= 4;
    } while (n);
    put4(out, line + i, sizeof(line) - i, "", 0, "", 0, "", 0);
}
