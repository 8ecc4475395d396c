/* rewrite-request / rewrite-response: header regexes compiled once at config load (PCRE2, JIT
 * where available) and applied per request. Knows nothing of the loop or of protocols. */
#ifndef GW_REWRITE_H
#define GW_REWRITE_H

#include "gateway/base/buf.h"
#include "gateway/config/conf.h"
#include "gateway/base/req.h"

typedef struct gw_rewrite_rule {
    char *header; /* header name, or a pseudo header "_uri", "_scriptname", "_pathinfo",
                     "_docroot" */
    pcre2_code *re;
    char *repl; /* replacement with $0..$9 */
} gw_rewrite_rule;

typedef struct gw_rewrites {
    gw_rewrite_rule *rules; /* in config order */
    size_t n;
} gw_rewrites;

/* Compile `( "Header" => ( "regex" => "replacement", ... ), ... )`. Returns GW_OK, or GW_ERR
 * with *err a malloc'd "FILE:LINE: message". */
int gw_rewrites_compile(const gw_val *map, gw_rewrites *out, char **err);
void gw_rewrites_free(gw_rewrites *rw);

/* Apply one rule to a value: 1 and *out (arena) on a match (the whole value is replaced by the
 * expanded replacement), 0 when the regex does not match, GW_ERR when the result would contain
 * CR, LF or NUL (the caller answers 500 and logs). */
int gw_rewrite_apply(const gw_rewrite_rule *r, gw_str value, gw_arena *a, gw_str *out);

/* Rewrite a request before its backend sees it: header rules put replaced values in rq->extra
 * (the original header is then not sent); "_uri" sets rq->backend_target, "_scriptname",
 * "_pathinfo", "_docroot" the CGI fields. For each rule the first matching pattern wins.
 * Returns GW_OK or GW_ERR (a CR/LF/NUL result). */
int gw_rewrite_request(const gw_rewrites *rw, gw_req *rq);
/* Rewrite response headers in place (values re-pointed into rsp->arena). GW_OK or GW_ERR. */
int gw_rewrite_response(const gw_rewrites *rw, gw_resp *rsp);

#endif
