/* Access log lines, written with one write(2) each so that lines never interleave. */
#include "config.h"

#include "gateway/client/accesslog.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *log_path;

/* Workers write while the main thread reopens: the new file takes the old descriptor's number
 * (dup2), so a line goes to the old file or the new one, never to a closed or reused number. A
 * log turned off keeps its number, pointed at /dev/null, until exit. */
int gw_accesslog_reopen(void)
{
    int old = gw_atomic_get(&gw_srv.accesslog_fd);
    if (log_path == NULL) {
        gw_atomic_set(&gw_srv.accesslog_fd, -1);
        if (old >= 0) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (null >= 0 && dup3(null, old, O_CLOEXEC) >= 0) close(null);
        }
        return 0;
    }
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (old >= 0 && dup3(fd, old, O_CLOEXEC) >= 0) {
        close(fd);
        fd = old;
    }
    gw_atomic_set(&gw_srv.accesslog_fd, fd);
    return 0;
}

void gw_accesslog_close(void)
{
    int fd = gw_atomic_get(&gw_srv.accesslog_fd);
    gw_atomic_set(&gw_srv.accesslog_fd, -1);
    if (fd >= 0) close(fd);
    free(log_path);
    log_path = NULL;
}

int gw_accesslog_open(const char *path)
{
    free(log_path);
    log_path = path ? gw_xstrdup(path) : NULL;
    return gw_accesslog_reopen();
}

/* One log line being built: every append stops at the end of the buffer (a long target or
 * User-Agent truncates the line, it never writes past it). */
typedef struct line {
    char buf[4096];
    size_t n; /* < sizeof(buf): room for the final '\n' is kept */
} line;

static void put_fmt(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(line *l, const char *fmt, ...)
{
    size_t room = sizeof(l->buf) - 1 - l->n;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->buf + l->n, room + 1, fmt, ap);
    va_end(ap);
    if (k > 0) l->n += (size_t)k < room ? (size_t)k : room;
}

/* A field, escaping quotes, backslashes and control bytes, as "-" when empty. */
static void put_field(line *l, gw_str s)
{
    if (s.p == NULL || s.n == 0) {
        put_fmt(l, "-");
        return;
    }
    for (size_t i = 0; i < s.n && l->n + 4 < sizeof(l->buf) - 1; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '"' || ch == '\\') {
            l->buf[l->n++] = '\\';
            l->buf[l->n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            put_fmt(l, "\\x%02x", ch);
        } else {
            l->buf[l->n++] = (char)ch;
        }
    }
}

void gw_accesslog_write(const gw_conn *c)
{
    int fd = gw_atomic_get(&gw_srv.accesslog_fd);
    if (fd < 0 || c->status == 0) return;
    line l;
    l.n = 0;
    time_t t = (time_t)c->t_start;
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[40];
    strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    const gw_req *rq = &c->req;
    const gw_header *ref = rq->hdr ? gw_req_header(rq, "Referer") : NULL;
    const gw_header *ua = rq->hdr ? gw_req_header(rq, "User-Agent") : NULL;
    put_fmt(&l, "%s - - [%s] \"", c->client.is_unix ? "unix" : c->client.addr, when);
    put_field(&l, rq->method);
    put_fmt(&l, " ");
    put_field(&l, rq->target);
    /* %b of the combined format: body bytes, without the head */
    uint64_t body = c->bytes_out > c->head_len ? c->bytes_out - c->head_len : 0;
    put_fmt(&l, " HTTP/1.%d\" %d %llu \"", rq->minor, c->status, (unsigned long long)body);
    put_field(&l, ref ? ref->value : GW_STR_NULL);
    put_fmt(&l, "\" \"");
    put_field(&l, ua ? ua->value : GW_STR_NULL);
    double dt = ev_now(gw_self->loop) - c->t_start;
    put_fmt(&l, "\" %.3f %s", dt < 0 ? 0 : dt, c->backend ? c->backend : "-");
    l.buf[l.n++] = '\n';
    ssize_t w = write(fd, l.buf, l.n); /* (one write: lines of workers never interleave) */
    (void)w;
}
