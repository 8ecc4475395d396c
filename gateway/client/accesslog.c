/* Access log lines, written with one write(2) each so that lines never interleave. */
#include "config.h"

#include "gateway/client/accesslog.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *log_path;

int gw_accesslog_reopen(void)
{
    if (gw_srv.accesslog_fd >= 0) close(gw_srv.accesslog_fd);
    gw_srv.accesslog_fd = -1;
    if (log_path == NULL) return 0;
    gw_srv.accesslog_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return gw_srv.accesslog_fd < 0 ? -1 : 0;
}

int gw_accesslog_open(const char *path)
{
    free(log_path);
    log_path = path ? gw_xstrdup(path) : NULL;
    return gw_accesslog_reopen();
}

/* Copy a field, escaping quotes, backslashes and control bytes, as "-" when empty. */
static size_t put_field(char *dst, size_t room, gw_str s)
{
    if (s.p == NULL || s.n == 0) {
        if (room > 1) dst[0] = '-';
        return room > 1 ? 1 : 0;
    }
    size_t w = 0;
    for (size_t i = 0; i < s.n && w + 4 < room; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '"' || ch == '\\') {
            dst[w++] = '\\';
            dst[w++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            w += (size_t)snprintf(dst + w, room - w, "\\x%02x", ch);
        } else {
            dst[w++] = (char)ch;
        }
    }
    return w;
}

void gw_accesslog_write(const gw_conn *c)
{
    if (gw_srv.accesslog_fd < 0 || c->status == 0) return;
    char line[4096];
    size_t n = 0, room = sizeof(line) - 2;
    time_t t = (time_t)c->t_start;
    struct tm tm;
    gmtime_r(&t, &tm);
    const gw_req *rq = &c->req;
    const gw_header *ref = rq->hdr ? gw_req_header(rq, "Referer") : NULL;
    const gw_header *ua = rq->hdr ? gw_req_header(rq, "User-Agent") : NULL;
    n += (size_t)snprintf(line + n, room - n, "%s - - ",
                          c->client.is_unix ? "unix" : c->client.addr);
    n += strftime(line + n, room - n, "[%d/%b/%Y:%H:%M:%S +0000] \"", &tm);
    n += put_field(line + n, room - n, rq->method);
    line[n++] = ' ';
    n += put_field(line + n, room - n, rq->target);
    n += (size_t)snprintf(line + n, room - n, " HTTP/1.%d\" %d %llu \"", rq->minor, c->status,
                          (unsigned long long)c->bytes_out);
    n += put_field(line + n, room - n, ref ? ref->value : GW_STR_NULL);
    n += (size_t)snprintf(line + n, room - n, "\" \"");
    n += put_field(line + n, room - n, ua ? ua->value : GW_STR_NULL);
    double dt = ev_now(gw_srv.loop) - c->t_start;
    n += (size_t)snprintf(line + n, room - n, "\" %.3f %s\n", dt < 0 ? 0 : dt,
                          c->backend ? c->backend : "-");
    if (n > sizeof(line)) n = sizeof(line);
    ssize_t w = write(gw_srv.accesslog_fd, line, n);
    (void)w;
}
