/* Test backend: an SCGI server that answers with JSON listing every CGI variable received,
 * the body length and its FNV-1a 64, shaped by the query options of QUERY_STRING.
 * Pre-forked workers, one connection (= one request, as SCGI has it) at a time each.
 * Usage: scgi_echo ADDR   (prints "ready" once listening) */
#include "tests/backends/echo_common.h"

#define NETSTRING_MAX (1 << 20)

static const char *backend_addr;

static int fd_sink(void *ctx, const char *p, size_t n, int flush)
{
    (void)flush; /* plain writes are never held back */
    return ec_write_all(*(int *)ctx, p, n);
}

static ssize_t read_some(int fd, char *p, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0 || errno != EINTR) return r;
    }
}

static void serve(int fd)
{
    /* One read usually brings the whole request; the body part of it is hashed below. */
    size_t cap = 65536, have = 0, len = 0, i = 0;
    char *in = malloc(cap);
    ec_buf js = {0};
    ec_opts o;
    memset(&o, 0, sizeof(o));
    for (;;) {
        ssize_t r = read_some(fd, in + have, cap - have);
        if (r <= 0) goto out;
        have += (size_t)r;
        while (i < have && in[i] >= '0' && in[i] <= '9' && i < 8)
            len = len * 10 + (size_t)(in[i++] - '0');
        if (i < have) break;
    }
    if (i == 0 || i == 8 || in[i] != ':' || len > NETSTRING_MAX) goto out;
    size_t need = i + 1 + len + 1; /* "LEN:" payload "," */
    if (need > cap) {
        cap = need + 65536;
        char *bigger = realloc(in, cap);
        if (bigger == NULL) goto out;
        in = bigger;
    }
    while (have < need) {
        ssize_t r = read_some(fd, in + have, cap - have);
        if (r <= 0) goto out;
        have += (size_t)r;
    }
    char *head = in + i + 1;
    if (head[len] != ',') goto out;

    ec_json_params_open(&js);
    long long clen = -1;
    const char *query = "";
    size_t qlen = 0;
    for (size_t off = 0; off < len;) {
        const char *name = head + off;
        const char *z1 = memchr(name, '\0', len - off);
        if (z1 == NULL) goto out;
        const char *value = z1 + 1;
        const char *z2 = memchr(value, '\0', (size_t)(head + len - value));
        if (z2 == NULL) goto out;
        size_t nn = (size_t)(z1 - name), vn = (size_t)(z2 - value);
        ec_json_param(&js, name, nn, value, vn);
        if (nn == 14 && memcmp(name, "CONTENT_LENGTH", 14) == 0) clen = atoll(value);
        if (nn == 12 && memcmp(name, "QUERY_STRING", 12) == 0) {
            query = value;
            qlen = vn;
        }
        off = (size_t)(z2 + 1 - head);
    }
    if (clen < 0) goto out; /* CONTENT_LENGTH is mandatory in SCGI */

    uint64_t h = EC_FNV_INIT;
    size_t early = have - need; /* body bytes that came with the head */
    if ((long long)early > clen) early = (size_t)clen;
    h = ec_fnv1a64(h, in + need, early);
    char buf[65536];
    for (long long left = clen - (long long)early; left > 0;) {
        ssize_t r = read_some(fd, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));
        if (r <= 0) goto out;
        h = ec_fnv1a64(h, buf, (size_t)r);
        left -= r;
    }
    ec_json_params_close(&js, (uint64_t)clen, h, backend_addr);
    ec_opts_parse(&o, query, qlen);
    ec_cgi_answer(&o, &js, fd_sink, &fd);
out:
    free(in);
    free(js.p);
    free(o.headers.p);
}

static void serve_conn(int fd)
{
    serve(fd);
    /* Half-close and drain so the answer is not destroyed by a reset. */
    shutdown(fd, SHUT_WR);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char sink[4096];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ADDR   (127.0.0.1:PORT, [::1]:PORT or unix:/path)\n", argv[0]);
        return 2;
    }
    backend_addr = argv[1];
    int lfd = ec_listen("scgi_echo", argv[1]);
    ec_ready();
    ec_serve_forever(lfd, serve_conn);
    return 1;
}
