/* X-Sendfile: path normalisation, the confined open, conditional and range requests.
 * Pure functions over paths, file descriptors and header values; the connection code does the
 * sendfile(2) writing. Knows nothing of the loop or of protocols. */
#ifndef GW_SENDFILE_H
#define GW_SENDFILE_H

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "gateway/base/buf.h"
#include "gateway/base/req.h"

/* URL-decode (%XX) and normalise an X-Sendfile value into out[0, outlen): an absolute path with
 * "//" collapsed and "." / ".." resolved lexically. A NUL byte (raw or %00), a relative path,
 * a ".." above "/" or a result that does not fit: GW_ERR. Returns the length. */
int gw_sendfile_normalize(gw_str value, char *out, size_t outlen);

/* Open the normalised absolute `path` read-only, confined to one of `roots` (absolute
 * directories): the kernel resolves it beneath the root (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS, or a component-by-component O_NOFOLLOW walk where openat2 is
 * missing), so no "..", symlink or swapped directory escapes. Returns the fd (O_CLOEXEC) with
 * *st filled, or -1 with *status = 404 (no such file, under a root), 403 (outside every root,
 * a symlink escape, not a regular file, no permission). */
int gw_sendfile_open(const char *const *roots, size_t nroots, const char *path, struct stat *st,
                     int *status);

/* A strong-enough validator from inode, size and mtime: "\"ino-size-mtime\"" in hex. */
void gw_sendfile_etag(const struct stat *st, char *buf, size_t buflen);

/* Conditional request evaluation (RFC 9110 §13.2.2) against the file's ETag and mtime:
 * If-Match (fails: 412), If-Unmodified-Since (412), If-None-Match (matches: 304 for GET/HEAD,
 * 412 otherwise), If-Modified-Since (not modified: 304; only without If-None-Match).
 * Returns 0 to send the file, or 304 / 412. */
int gw_sendfile_conditional(const gw_req *rq, const char *etag, time_t mtime);

/* A single byte range against a file of `size` bytes (RFC 9110 §14): "bytes=a-b", "bytes=a-",
 * "bytes=-n". Returns 0: serve the whole file (no header, an unknown unit, several ranges, or
 * an If-Range that does not match); 206: serve [*start, *start + *len); 416: unsatisfiable.
 * Malformed values are ignored (0), as RFC 9110 allows. */
int gw_range_parse(gw_str range, gw_str if_range, const char *etag, time_t mtime, uint64_t size,
                   uint64_t *start, uint64_t *len);

/* Content-Type by file name extension; "application/octet-stream" when unknown. */
const char *gw_mime_type(const char *path);

/* RFC 9110 IMF-fixdate for `t` into buf (at least 30 bytes); returns buf. */
char *gw_http_date(time_t t, char *buf);
/* Parse an HTTP date (IMF-fixdate; RFC 850 and asctime accepted). Returns -1 if invalid. */
time_t gw_http_date_parse(gw_str s);

#endif
