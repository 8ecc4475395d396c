/* The protocol-neutral request and response objects: everything a backend protocol sees.
 * No sockets, no event loop, no config: the gateway resolves all of that into plain fields. */
#ifndef GW_REQ_H
#define GW_REQ_H

#include "gateway/base/buf.h"

typedef struct gw_header {
    gw_str name, value;
} gw_header;

/* One side of a connection, as text, ready for REMOTE_ADDR / SERVER_ADDR and logs. */
typedef struct gw_endpoint {
    char addr[64]; /* "127.0.0.1", "::1", or the unix socket path (truncated) */
    char port[8];  /* "" for unix sockets */
    unsigned is_unix : 1;
} gw_endpoint;

#define GW_MAX_HEADERS 100

typedef struct gw_req {
    /* As received (slices of the client's input, or of the arena after a rewrite). */
    gw_str method;
    gw_str target;    /* request-target as sent: REQUEST_URI */
    gw_str path;      /* decoded, normalised path, no query ($HTTP["url"]) */
    gw_str query;     /* after '?', without it; empty if none */
    gw_str host;      /* Host without port, lower-cased */
    gw_str host_full; /* Host header value as sent (with port) */
    gw_str scheme;    /* "http" | "https" */
    int minor;        /* HTTP/1.<minor> */
    gw_header *hdr;   /* request header fields, in order, as sent (hop-by-hop included) */
    size_t nhdr;
    int64_t content_length; /* body length; -1 while unknown (chunked, streaming) */
    unsigned chunked : 1;   /* the client sent Transfer-Encoding: chunked */
    unsigned is_head : 1;   /* method HEAD: the response carries no body */
    unsigned upgrade : 1;   /* Connection: upgrade + Upgrade: websocket */

    const gw_endpoint *client, *server; /* borrowed */

    /* Resolved by the gateway from the route before the backend sees the request. */
    gw_str backend_target; /* the target sent on (after "_uri" rewrite); default = target */
    gw_str script_name, path_info, script_filename, docroot;
    gw_str server_software; /* server.tag */
    gw_header *extra;       /* headers added or replaced by rewrite-request (arena) */
    size_t nextra;

    gw_arena *arena; /* per-request allocations; borrowed from the connection */
} gw_req;

/* Find a request header by name (case-insensitive); NULL if absent. */
const gw_header *gw_req_header(const gw_req *rq, const char *name);
/* The rewrite-request result for a header name (case-insensitive; pseudo headers such as
 * "_uri" never match); NULL if none. Adapters send it instead of the original field. */
const gw_header *gw_req_extra(const gw_req *rq, gw_str name);

/* Is this field hop-by-hop by its name (RFC 9110 §7.6.1): Connection, Keep-Alive, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Connection (case-insensitive)? The gateway's one list; the
 * fields a Connection header names are hop-by-hop too, which callers that have the head check
 * themselves. */
int gw_is_hop_by_hop(gw_str name);
/* Does a Connection field among hdr[0..nhdr) name `name` (RFC 9110 §7.6.1: a field named there
 * is for this hop only)? Every token of every Connection field counts. */
int gw_named_by_connection(const gw_header *hdr, size_t nhdr, gw_str name);

/* Do two field names give the same CGI variable (RFC 3875 §4.1.18: upper case, and here any
 * byte other than a letter or digit becomes '_')? "Content_Length" and "content-length" do. */
int gw_cgi_name_eq(gw_str a, gw_str b);

/* Is `name` a look-alike: not itself one of the fields the gateway owns (framing, hop-by-hop,
 * Content-Type, Expect, Proxy, Host, X-Forwarded-*) but mapped onto the CGI variable of one
 * ("Content_Length", "Transfer.Encoding", "X_Forwarded_For")? Such fields are never passed to
 * a backend: an application reading HTTP_* could not tell them from the real ones. */
int gw_is_lookalike(gw_str name);

/* Decode %XX and resolve "." / ".." segments and "//" of an origin-form path (no query) into
 * the arena: the $HTTP["url"] of a request. GW_ERR on %00 or a bad escape. */
int gw_path_normalize(gw_arena *a, gw_str raw, gw_str *out);
/* A Host value without its port, in lower case, copied into the arena. */
gw_str gw_host_lower(gw_arena *a, gw_str host);

typedef struct gw_resp {
    int status;
    gw_header *hdr; /* end-to-end response headers, arena-allocated by the adapter */
    size_t nhdr;
    int64_t content_length; /* -1: unknown (close-delimited or chunked from the backend) */
    gw_bufq body;           /* decoded body bytes; drained by the gateway */
    unsigned head_done : 1; /* status and headers are final */
    unsigned done : 1;      /* the whole body is in `body` */
    unsigned upgrade : 1;   /* 101 Switching Protocols: raw tunnel from here on */
    gw_arena *arena;        /* borrowed: where adapters copy header strings */
    const char *log_tag;    /* borrowed: "backend 127.0.0.1:9000 GET /x" for log lines */
} gw_resp;

/* Append a header to a response (strings must outlive the response: arena or static). */
void gw_resp_add_header(gw_resp *rsp, gw_str name, gw_str value);
const gw_header *gw_resp_header(const gw_resp *rsp, const char *name);
void gw_resp_del_header(gw_resp *rsp, const char *name);

#endif
