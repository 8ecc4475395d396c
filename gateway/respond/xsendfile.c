/* X-Sendfile: the file a backend names answers the request instead of the backend's body.
 * Paths, roots, validators and ranges are sendfile.c's; this file writes the head. */
#include "config.h"

#include "gateway/respond/xsendfile.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/respond/head.h"
#include "gateway/respond/sendfile.h"
#include "proto/http/http_write.h"

gw_str gw_xsendfile_take(gw_resp *rsp)
{
    const gw_header *h = gw_resp_header(rsp, "X-Sendfile");
    if (h == NULL) h = gw_resp_header(rsp, "X-LIGHTTPD-send-file");
    gw_str v = h ? h->value : GW_STR_NULL;
    gw_resp_del_header(rsp, "X-Sendfile");
    gw_resp_del_header(rsp, "X-LIGHTTPD-send-file");
    return v;
}

/* A refused X-Sendfile is logged with its reason: the client only sees the status. */
static int refuse(const gw_resp *rsp, int status, const char *path, const char *why)
{
    gw_log(GW_LOG_WARN, "%s: X-Sendfile \"%s\" refused (%d): %s",
           rsp->log_tag && rsp->log_tag[0] ? rsp->log_tag : "backend", path, status, why);
    return status;
}

int gw_xsendfile_start(gw_conn *c, gw_resp *rsp, gw_str value)
{
    char path[4096];
    if (gw_sendfile_normalize(value, path, sizeof(path)) < 0) {
        snprintf(path, sizeof(path), "%.*s", (int)(value.n < 200 ? value.n : 200), value.p);
        return refuse(rsp, 403, path,
                      "not a clean absolute path (relative, NUL, or \"..\" above /)");
    }
    struct stat st;
    int status = 0;
    int fd = gw_sendfile_open((const char *const *)c->route->xs_roots, c->route->nxs_roots, path,
                              &st, &status);
    if (fd < 0) {
        if (status == 0 || status == 404)
            return refuse(rsp, 404, path, "no such file under proxy-core.x-sendfile-docroot");
        return refuse(rsp, status, path,
                      "outside every proxy-core.x-sendfile-docroot, a link out of it, not a "
                      "regular file, or not readable");
    }
    char etag[64], lm[32];
    gw_sendfile_etag(&st, etag, sizeof(etag));
    gw_http_date(st.st_mtime, lm);
    int code = gw_sendfile_conditional(&c->req, etag, st.st_mtime);
    uint64_t start = 0, len = (uint64_t)st.st_size;
    if (code == 0) {
        const gw_header *range = gw_req_header(&c->req, "Range");
        const gw_header *ifr = gw_req_header(&c->req, "If-Range");
        if (range && (gw_str_eq(c->req.method, "GET") || c->req.is_head))
            code = gw_range_parse(range->value, ifr ? ifr->value : GW_STR_NULL, etag, st.st_mtime,
                                  (uint64_t)st.st_size, &start, &len);
    }
    if (code == 412) {
        close(fd);
        return 412;
    }
    static const char *const replaced[] = {"Content-Length", "Content-Encoding", "Content-Range",
                                           "ETag",           "Last-Modified",    "Accept-Ranges",
                                           "Date",           "Transfer-Encoding"};
    for (size_t i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++)
        gw_resp_del_header(rsp, replaced[i]);
    int status_out = code ? code : 200;
    c->status = status_out;
    c->resp_started = 1;
    gw_head_start(c, status_out);
    int have_server = 0, have_type = 0;
    for (size_t i = 0; i < rsp->nhdr; i++) {
        const gw_header *hd = &rsp->hdr[i];
        if (gw_str_caseeq(hd->name, "Server")) have_server = 1;
        if (gw_str_caseeq(hd->name, "Content-Type")) have_type = 1;
        http_write_header(&c->out, hd->name, hd->value);
    }
    if (!have_server)
        http_write_header(&c->out, GW_STR("Server"), gw_str_from(gw_head_server_tag(c)));
    if (!have_type && status_out != 304)
        http_write_header(&c->out, GW_STR("Content-Type"), gw_str_from(gw_mime_type(path)));
    http_write_header(&c->out, GW_STR("ETag"), gw_str_from(etag));
    http_write_header(&c->out, GW_STR("Last-Modified"), gw_str_from(lm));
    if (status_out != 304) http_write_header(&c->out, GW_STR("Accept-Ranges"), GW_STR("bytes"));
    char cr[96];
    if (status_out == 206) {
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)(start + len - 1), (unsigned long long)st.st_size);
        http_write_header(&c->out, GW_STR("Content-Range"), gw_str_from(cr));
    } else if (status_out == 416) {
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)st.st_size);
        http_write_header(&c->out, GW_STR("Content-Range"), gw_str_from(cr));
        len = 0;
    }
    if (status_out == 304) len = 0;
    if (status_out != 304) http_write_header_u64(&c->out, GW_STR("Content-Length"), len);
    gw_conn_decide_close(c);
    gw_head_end(c);
    c->resp_nobody = 1; /* the backend's body is dropped */
    if (c->req.is_head || len == 0) {
        close(fd);
    } else {
        c->sf_fd = fd;
        c->sf_off = (off_t)start;
        c->sf_left = len;
    }
    return 0;
}
