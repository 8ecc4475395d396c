/* Test backend: an HTTP/1.1 server that answers every request with JSON describing what it
 * received (method, target, version, headers in order, body length and FNV-1a 64), shaped by
 * query options (status, bytes, chunked, delay_ms, header, close, drip_ms). Pre-forked workers,
 * one connection at a time each; keep-alive, Content-Length and chunked bodies, HEAD, Expect:
 * 100-continue. Usage: http_echo ADDR   (prints "ready" once listening) */
#include <strings.h>
#include <sys/uio.h>

#include "tests/backends/echo_common.h"

#define HEAD_MAX 65536
#define MAX_FIELDS 256

typedef struct conn {
    int fd;
    char buf[HEAD_MAX + 4096];
    size_t off, len; /* unread bytes are buf[off, len) */
} conn;

typedef struct field {
    const char *name, *value;
    size_t nn, vn;
} field;

static const char *backend_addr;

/* Read more input. Returns bytes read, 0 at EOF, -1 on error or when the buffer is full. */
static ssize_t fill(conn *c)
{
    if (c->off == c->len) c->off = c->len = 0;
    if (c->len == sizeof(c->buf)) {
        if (c->off == 0) return -1;
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r < 0 && errno == EINTR) continue;
        if (r > 0) c->len += (size_t)r;
        return r;
    }
}

/* Consume n body bytes into the hash. Returns 0, or -1 when the client went away. */
static int take(conn *c, uint64_t n, uint64_t *h)
{
    while (n > 0) {
        if (c->off == c->len && fill(c) <= 0) return -1;
        size_t k = c->len - c->off;
        if (k > n) k = (size_t)n;
        *h = ec_fnv1a64(*h, c->buf + c->off, k);
        c->off += k;
        n -= k;
    }
    return 0;
}

/* One line (without its CRLF) from the input; NULL on EOF or an overlong line. */
static char *get_line(conn *c, size_t *n)
{
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl) {
            char *s = c->buf + c->off;
            *n = (size_t)(nl - s);
            if (*n && s[*n - 1] == '\r') (*n)--;
            c->off = (size_t)(nl - c->buf) + 1;
            return s;
        }
        if (fill(c) <= 0) return NULL;
    }
}

static int read_chunked(conn *c, uint64_t *len, uint64_t *h)
{
    for (;;) {
        size_t n;
        char *line = get_line(c, &n);
        if (line == NULL || n == 0) return -1;
        uint64_t size = 0;
        size_t i = 0;
        for (; i < n && ec_hexval(line[i]) >= 0; i++) {
            if (size >> 59) return -1;
            size = size * 16 + (uint64_t)ec_hexval(line[i]);
        }
        if (i == 0) return -1;
        if (size == 0) break;
        if (take(c, size, h) < 0) return -1;
        *len += size;
        if ((line = get_line(c, &n)) == NULL || n != 0) return -1;
    }
    for (;;) { /* trailer fields, up to the empty line */
        size_t n;
        if (get_line(c, &n) == NULL) return -1;
        if (n == 0) return 0;
    }
}

static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl) != 0) continue;
        int before = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
        int after = i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == '\t';
        if (before && after) return 1;
    }
    return 0;
}

static void send_error(int fd, int status)
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     ec_reason(status));
    ec_write_all(fd, msg, (size_t)n);
}

/* Send a body piece, chunk-framed when asked. */
static int send_piece(int fd, const char *p, size_t n, int chunked)
{
    if (!chunked) return ec_write_all(fd, p, n);
    char hd[24];
    int hl = snprintf(hd, sizeof(hd), "%zx\r\n", n);
    struct iovec iov[3] = {{hd, (size_t)hl}, {(void *)p, n}, {"\r\n", 2}};
    size_t total = (size_t)hl + n + 2;
    ssize_t w = writev(fd, iov, 3);
    if (w == (ssize_t)total) return 0;
    if (w < 0) return -1;
    /* Short write: finish the rest the slow way. */
    char *tmp = malloc(total);
    memcpy(tmp, hd, (size_t)hl);
    memcpy(tmp + hl, p, n);
    memcpy(tmp + hl + n, "\r\n", 2);
    int rc = ec_write_all(fd, tmp + w, total - (size_t)w);
    free(tmp);
    return rc;
}

/* Serve one request. Returns 1 to keep the connection, 0 to close it. */
static int serve(conn *c, ec_buf *js, ec_buf *out, ec_opts *o)
{
    /* The head: skip stray CRLFs before it, then find the empty line. */
    size_t end = 0;
    for (;;) {
        while (c->off < c->len && (c->buf[c->off] == '\r' || c->buf[c->off] == '\n')) c->off++;
        char *s = c->buf + c->off;
        size_t n = c->len - c->off;
        for (size_t i = 0; i + 1 < n; i++) {
            if (s[i] != '\n') continue;
            if (s[i + 1] == '\n')
                end = i + 2;
            else if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')
                end = i + 3;
            if (end) break;
        }
        if (end) break;
        if (n >= HEAD_MAX) {
            send_error(c->fd, 431);
            return 0;
        }
        if (fill(c) <= 0) return 0;
    }
    char *head = c->buf + c->off;
    c->off += end;

    /* Request line. */
    char *line_end = memchr(head, '\n', end);
    size_t ll = (size_t)(line_end - head);
    if (ll && head[ll - 1] == '\r') ll--;
    char *sp1 = memchr(head, ' ', ll);
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - head)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == head || sp2 == sp1 + 1 || head + ll - (sp2 + 1) != 8 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1')) {
        send_error(c->fd, 400);
        return 0;
    }
    const char *method = head, *target = sp1 + 1, *version = sp2 + 1;
    size_t mlen = (size_t)(sp1 - head), tlen = (size_t)(sp2 - target);
    int minor = sp2[8] - '0';

    /* Header fields. */
    static field f[MAX_FIELDS];
    size_t nf = 0;
    char *p = line_end + 1, *hend = head + end;
    while (p < hend) {
        char *nl = memchr(p, '\n', (size_t)(hend - p));
        size_t n = (size_t)(nl - p);
        if (n && p[n - 1] == '\r') n--;
        if (n == 0) break;
        char *colon = memchr(p, ':', n);
        if (colon == NULL || colon == p || nf == MAX_FIELDS) {
            send_error(c->fd, colon ? 431 : 400);
            return 0;
        }
        char *v = colon + 1, *ve = p + n;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        f[nf++] = (field){p, v, (size_t)(colon - p), (size_t)(ve - v)};
        p = nl + 1;
    }

    int64_t clen = -1;
    int chunked = 0, keep = minor == 1, expect = 0;
    for (size_t i = 0; i < nf; i++) {
        if (f[i].nn == 14 && strncasecmp(f[i].name, "Content-Length", 14) == 0) {
            char *e;
            clen = strtoll(f[i].value, &e, 10);
            if (e != f[i].value + f[i].vn || clen < 0 || f[i].vn == 0) {
                send_error(c->fd, 400);
                return 0;
            }
        } else if (f[i].nn == 17 && strncasecmp(f[i].name, "Transfer-Encoding", 17) == 0) {
            chunked = has_token(f[i].value, f[i].vn, "chunked");
        } else if (f[i].nn == 10 && strncasecmp(f[i].name, "Connection", 10) == 0) {
            if (has_token(f[i].value, f[i].vn, "close")) keep = 0;
            if (minor == 0 && has_token(f[i].value, f[i].vn, "keep-alive")) keep = 1;
        } else if (f[i].nn == 6 && strncasecmp(f[i].name, "Expect", 6) == 0) {
            expect = f[i].vn == 12 && strncasecmp(f[i].value, "100-continue", 12) == 0;
        }
    }

    /* Everything from the head goes into the answer now: reading the body may overwrite it. */
    js->n = 0;
    ec_puts(js, "{\"method\":");
    ec_json_str(js, method, mlen);
    ec_puts(js, ",\"target\":");
    ec_json_str(js, target, tlen);
    ec_puts(js, ",\"version\":");
    ec_json_str(js, version, 8);
    ec_puts(js, ",\"headers\":[");
    for (size_t i = 0; i < nf; i++) {
        ec_puts(js, i ? ",[" : "[");
        ec_json_str(js, f[i].name, f[i].nn);
        ec_puts(js, ",");
        ec_json_str(js, f[i].value, f[i].vn);
        ec_puts(js, "]");
    }
    ec_puts(js, "]");
    const char *qm = memchr(target, '?', tlen);
    ec_opts_parse(o, qm ? qm + 1 : "", qm ? (size_t)(target + tlen - qm - 1) : 0);
    int is_head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;

    /* The body. */
    if (expect && minor == 1 && (chunked || clen > 0))
        ec_write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    uint64_t h = EC_FNV_INIT, blen = 0;
    if (chunked) {
        if (read_chunked(c, &blen, &h) < 0) {
            send_error(c->fd, 400);
            return 0;
        }
    } else if (clen > 0) {
        if (take(c, (uint64_t)clen, &h) < 0) return 0;
        blen = (uint64_t)clen;
    }
    ec_printf(js,
              ",\"body_len\":%llu,\"body_fnv\":\"%016llx\",\"backend\":", (unsigned long long)blen,
              (unsigned long long)h);
    ec_json_str(js, backend_addr, strlen(backend_addr));
    ec_puts(js, "}\n");

    ec_msleep(o->delay_ms);

    /* The answer. */
    int no_body = o->status < 200 || o->status == 204 || o->status == 304;
    int send_body = !no_body && !is_head;
    uint64_t total = o->bytes >= 0 ? (uint64_t)o->bytes : js->n;
    int resp_chunked = o->chunked && minor == 1;
    if (o->close || (o->chunked && minor == 0)) keep = 0;
    out->n = 0;
    ec_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", o->status, ec_reason(o->status),
              o->bytes >= 0 ? "application/octet-stream" : "application/json");
    if (!no_body) {
        if (resp_chunked)
            ec_puts(out, "Transfer-Encoding: chunked\r\n");
        else if (!o->chunked)
            ec_printf(out, "Content-Length: %llu\r\n", (unsigned long long)total);
    }
    if (!keep)
        ec_puts(out, "Connection: close\r\n");
    else if (minor == 0)
        ec_puts(out, "Connection: keep-alive\r\n");
    ec_put(out, o->headers.p, o->headers.n);
    ec_puts(out, "\r\n");

    if (send_body && o->bytes < 0 && o->drip_ms < 0) { /* the common case: one write */
        if (resp_chunked) ec_printf(out, "%zx\r\n", js->n);
        ec_put(out, js->p, js->n);
        if (resp_chunked) ec_puts(out, "\r\n0\r\n\r\n");
        return ec_write_all(c->fd, out->p, out->n) == 0 && keep;
    }
    if (ec_write_all(c->fd, out->p, out->n) < 0) return 0;
    if (!send_body) return keep;

    static char pattern[65536];
    if (pattern[0] == '\0') ec_pattern_fill(pattern, sizeof(pattern), 0);
    size_t piece = o->drip_ms >= 0 ? 1024 : sizeof(pattern);
    for (uint64_t sent = 0; sent < total;) {
        size_t k = total - sent < piece ? (size_t)(total - sent) : piece;
        const char *src = o->bytes >= 0 ? pattern + (sent % sizeof(pattern)) : js->p + sent;
        if (o->bytes >= 0 && (sent % sizeof(pattern)) + k > sizeof(pattern))
            k = sizeof(pattern) - (size_t)(sent % sizeof(pattern));
        if (sent > 0) ec_msleep(o->drip_ms);
        if (send_piece(c->fd, src, k, resp_chunked) < 0) return 0;
        sent += k;
    }
    if (resp_chunked && ec_write_all(c->fd, "0\r\n\r\n", 5) < 0) return 0;
    return keep;
}

static void serve_conn(int fd)
{
    static conn c;
    ec_buf js = {0}, out = {0};
    ec_opts o;
    memset(&o, 0, sizeof(o));
    c.fd = fd;
    c.off = c.len = 0;
    while (serve(&c, &js, &out, &o)) {
    }
    shutdown(fd, SHUT_WR);
    /* Drain what the client still sends so close() does not turn into a reset that could
     * destroy the answer in flight. */
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char sink[4096];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
    free(js.p);
    free(out.p);
    free(o.headers.p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ADDR   (127.0.0.1:PORT, [::1]:PORT or unix:/path)\n", argv[0]);
        return 2;
    }
    backend_addr = argv[1];
    int lfd = ec_listen("http_echo", argv[1]);
    ec_ready();
    ec_serve_forever(lfd, serve_conn);
    return 1;
}
