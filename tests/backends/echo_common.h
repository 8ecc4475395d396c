/* Helpers shared by the test backends: listening on "host:port" / "[v6]:port" / "unix:/path",
 * a growable output buffer with JSON escaping, FNV-1a 64, query options, the "bytes" pattern,
 * blocking I/O helpers. Test code only: plain POSIX, no gateway headers. */
#ifndef ECHO_COMMON_H
#define ECHO_COMMON_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- growable buffer ---- */

typedef struct ec_buf {
    char *p;
    size_t n, cap;
} ec_buf;

static inline void ec_reserve(ec_buf *b, size_t more)
{
    if (b->n + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        fputs("out of memory\n", stderr);
        _exit(1);
    }
    b->p = p;
    b->cap = cap;
}

static inline void ec_put(ec_buf *b, const void *p, size_t n)
{
    if (n == 0) return;
    ec_reserve(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static inline void ec_puts(ec_buf *b, const char *s)
{
    ec_put(b, s, strlen(s));
}

static inline void ec_printf(ec_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void ec_printf(ec_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ec_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* A JSON string literal, quotes included. Bytes >= 0x80 pass through unchanged, so UTF-8
 * text stays readable; control bytes become \u00XX. */
static inline void ec_json_str(ec_buf *b, const char *s, size_t n)
{
    ec_reserve(b, n * 6 + 2);
    char *o = b->p + b->n;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
}

/* ---- hashing and the "bytes" pattern ---- */

#define EC_FNV_INIT 0xcbf29ce484222325ULL

static inline uint64_t ec_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static const char ec_pattern16[] = "0123456789abcdef";

/* Fill dst with the pattern as it stands at stream offset <off>. */
static inline void ec_pattern_fill(char *dst, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++) dst[i] = ec_pattern16[(off + i) & 15];
}

/* ---- query options ---- */

static inline int ec_hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode (and '+' to space, as forms encode it) into dst; returns the length. */
static inline size_t ec_urldecode(char *dst, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && ec_hexval(s[i + 1]) >= 0 && ec_hexval(s[i + 2]) >= 0) {
            dst[o++] = (char)(ec_hexval(s[i + 1]) * 16 + ec_hexval(s[i + 2]));
            i += 2;
        } else {
            dst[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return o;
}

typedef struct ec_opts {
    int status;      /* 200 unless status=NNN */
    long long bytes; /* -1: answer with JSON; else this many pattern bytes */
    int chunked;     /* chunked=1 */
    long delay_ms;   /* delay_ms=N */
    long drip_ms;    /* drip_ms=N: 1 KiB pieces, N ms apart; -1 when not asked */
    int close;       /* close=1 */
    ec_buf headers;  /* header=Name:Value, each as "Name: Value\r\n" */
} ec_opts;

/* Parse query options from q[0, n). Unknown keys are ignored. The opts' header buffer is
 * reused across calls (reset here). */
static inline void ec_opts_parse(ec_opts *o, const char *q, size_t n)
{
    ec_buf keep = o->headers;
    memset(o, 0, sizeof(*o));
    o->headers = keep;
    o->headers.n = 0;
    o->status = 200;
    o->bytes = -1;
    o->drip_ms = -1;
    char tmp[8192];
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - q) : n;
        const char *kv = q + i, *eq = memchr(kv, '=', end - i);
        size_t klen = eq ? (size_t)(eq - kv) : end - i;
        const char *v = eq ? eq + 1 : kv + klen;
        size_t vlen = (size_t)(q + end - v);
        if (vlen >= sizeof(tmp)) vlen = sizeof(tmp) - 1;
        size_t dl = ec_urldecode(tmp, v, vlen);
        tmp[dl] = '\0';
#define EC_KEY(lit) (klen == sizeof(lit) - 1 && memcmp(kv, lit, klen) == 0)
        if (EC_KEY("status")) {
            int s = atoi(tmp);
            if (s >= 100 && s <= 999) o->status = s;
        } else if (EC_KEY("bytes")) {
            o->bytes = atoll(tmp);
            if (o->bytes < 0) o->bytes = -1;
        } else if (EC_KEY("chunked")) {
            o->chunked = atoi(tmp) != 0;
        } else if (EC_KEY("delay_ms")) {
            o->delay_ms = atol(tmp);
        } else if (EC_KEY("drip_ms")) {
            o->drip_ms = atol(tmp);
        } else if (EC_KEY("close")) {
            o->close = atoi(tmp) != 0;
        } else if (EC_KEY("header")) {
            char *colon = memchr(tmp, ':', dl);
            if (colon && colon != tmp) {
                char *val = colon + 1;
                while (*val == ' ') val++;
                ec_put(&o->headers, tmp, (size_t)(colon - tmp));
                ec_puts(&o->headers, ": ");
                ec_put(&o->headers, val, (size_t)(tmp + dl - val));
                ec_puts(&o->headers, "\r\n");
            }
        }
#undef EC_KEY
        i = end + 1;
    }
}

static inline const char *ec_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* ---- I/O ---- */

static inline void ec_msleep(long ms)
{
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Write everything; returns 0, or -1 when the peer is gone. */
static inline int ec_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- CGI-style answers (scgi_echo, fcgi_echo) ---- */

/* Where an answer goes: write n bytes; <flush> asks to push them out now (drip). Returns 0,
 * or -1 when the peer is gone. */
typedef int (*ec_sink)(void *ctx, const char *p, size_t n, int flush);

/* Start the JSON object and its "params" member. */
static inline void ec_json_params_open(ec_buf *js)
{
    js->n = 0;
    ec_puts(js, "{\"params\":{");
}

static inline void ec_json_param(ec_buf *js, const char *name, size_t nn, const char *value,
                                 size_t vn)
{
    if (js->p[js->n - 1] != '{') ec_puts(js, ",");
    ec_json_str(js, name, nn);
    ec_puts(js, ":");
    ec_json_str(js, value, vn);
}

static inline void ec_json_params_close(ec_buf *js, uint64_t blen, uint64_t h, const char *backend)
{
    ec_printf(js,
              "},\"body_len\":%llu,\"body_fnv\":\"%016llx\",\"backend\":", (unsigned long long)blen,
              (unsigned long long)h);
    ec_json_str(js, backend, strlen(backend));
    ec_puts(js, "}\n");
}

/* Send a CGI response (Status:, headers, body) shaped by <o>: the JSON in <js>, or the
 * pattern when bytes=N; no Content-Length when chunked=1; 1 KiB pieces with drip_ms. */
static inline int ec_cgi_answer(const ec_opts *o, const ec_buf *js, ec_sink sink, void *ctx)
{
    ec_msleep(o->delay_ms);
    int no_body = o->status < 200 || o->status == 204 || o->status == 304;
    uint64_t total = o->bytes >= 0 ? (uint64_t)o->bytes : js->n;
    ec_buf h = {0};
    ec_printf(&h, "Status: %d %s\r\nContent-Type: %s\r\n", o->status, ec_reason(o->status),
              o->bytes >= 0 ? "application/octet-stream" : "application/json");
    if (!no_body && !o->chunked)
        ec_printf(&h, "Content-Length: %llu\r\n", (unsigned long long)total);
    ec_put(&h, o->headers.p, o->headers.n);
    ec_puts(&h, "\r\n");
    if (!no_body && o->bytes < 0 && o->drip_ms < 0) ec_put(&h, js->p, js->n);
    int rc = sink(ctx, h.p, h.n, o->drip_ms >= 0);
    free(h.p);
    if (rc < 0 || no_body || (o->bytes < 0 && o->drip_ms < 0)) return rc;

    static char pattern[65536];
    if (pattern[0] == '\0') ec_pattern_fill(pattern, sizeof(pattern), 0);
    size_t piece = o->drip_ms >= 0 ? 1024 : sizeof(pattern);
    for (uint64_t sent = 0; sent < total;) {
        size_t k = total - sent < piece ? (size_t)(total - sent) : piece;
        const char *src = o->bytes >= 0 ? pattern : js->p + sent;
        ec_msleep(o->drip_ms);
        if (sink(ctx, src, k, o->drip_ms >= 0) < 0) return -1;
        sent += k;
    }
    return 0;
}

/* ---- listening ---- */

static const char *ec_unix_path; /* unlinked when the listener process is stopped */
static pid_t ec_listener_pid;

static void ec_on_term(int sig)
{
    (void)sig;
    if (ec_unix_path && getpid() == ec_listener_pid) unlink(ec_unix_path);
    _exit(0);
}

static inline void ec_die(const char *prog, const char *what, const char *addr)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, addr, strerror(errno));
    exit(1);
}

/* Listen on <addr> ("host:port", "[v6]:port", "unix:/path"); exits with a message on
 * failure. Also ignores SIGPIPE and arranges for SIGTERM to remove a unix socket. */
static inline int ec_listen(const char *prog, const char *addr)
{
    signal(SIGPIPE, SIG_IGN);
    ec_listener_pid = getpid();
    signal(SIGTERM, ec_on_term);
    signal(SIGINT, ec_on_term);
    int fd;
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(addr + 5) >= sizeof(sun.sun_path)) {
            errno = ENAMETOOLONG;
            ec_die(prog, "cannot listen on", addr);
        }
        strcpy(sun.sun_path, addr + 5);
        unlink(sun.sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            ec_die(prog, "cannot listen on", addr);
        ec_unix_path = addr + 5;
    } else {
        char host[256];
        const char *colon = strrchr(addr, ':');
        if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(host)) {
            fprintf(stderr, "%s: bad address %s (want host:port, [v6]:port or unix:/path)\n", prog,
                    addr);
            exit(2);
        }
        const char *h = addr;
        size_t hl = (size_t)(colon - addr);
        if (h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
        struct addrinfo hints, *ai;
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        int rc =
            getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, colon + 1, &hints, &ai);
        if (rc != 0) {
            fprintf(stderr, "%s: bad address %s: %s\n", prog, addr, gai_strerror(rc));
            exit(2);
        }
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        int one = 1;
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd >= 0 && ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
            ec_die(prog, "cannot listen on", addr);
        freeaddrinfo(ai);
    }
    if (listen(fd, 1024) < 0) ec_die(prog, "cannot listen on", addr);
    return fd;
}

static inline void ec_ready(void)
{
    fputs("ready\n", stdout);
    fflush(stdout);
}

/* Accept with EINTR retries; sets TCP_NODELAY on TCP sockets (answers go out in few writes,
 * and a delayed ACK must not stall keep-alive benchmarks). */
static inline int ec_accept(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        if (errno != EINTR && errno != ECONNABORTED && errno != EMFILE && errno != ENFILE)
            return -1;
        if (errno == EMFILE || errno == ENFILE) ec_msleep(10);
    }
}

/* ---- process model (http_echo, scgi_echo) ----
 * Pre-forked workers, each serving one connection at a time, all blocked in accept() on the
 * shared socket. A worker that takes the last idle slot asks the master for one more, so a
 * slow or kept-alive connection never starves the others; surplus idle workers exit. No fork
 * per connection in steady state, which keeps the backend out of the way of benchmarks. Only
 * the master forks, and workers die with it (PR_SET_PDEATHSIG), so stopping a backend also
 * ends its kept-alive connections, as stopping a real server would. */

#define EC_WORKERS_START 8
#define EC_IDLE_MAX 64

typedef void (*ec_serve_fn)(int fd);

static inline void ec_worker(int lfd, int more_fd, volatile int *idle, ec_serve_fn serve)
{
    for (;;) {
        __atomic_add_fetch(idle, 1, __ATOMIC_SEQ_CST);
        int fd = ec_accept(lfd);
        if (fd < 0) _exit(1);
        if (__atomic_sub_fetch(idle, 1, __ATOMIC_SEQ_CST) <= 0) {
            char c = 'w';
            if (write(more_fd, &c, 1) < 0) { /* the master is gone; PDEATHSIG follows */
            }
        }
        serve(fd);
        close(fd);
        if (__atomic_load_n(idle, __ATOMIC_SEQ_CST) >= EC_IDLE_MAX) _exit(0);
    }
}

static inline void ec_spawn_worker(int lfd, int pipefd[2], volatile int *idle, ec_serve_fn serve)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return;
    }
    if (pid > 0) return;
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != master) _exit(0);
    close(pipefd[0]);
    ec_worker(lfd, pipefd[1], idle, serve);
}

/* Serve connections on <lfd> with <serve> (which must not close the fd) until killed. */
static inline void ec_serve_forever(int lfd, ec_serve_fn serve)
{
    volatile int *idle =
        mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int pipefd[2];
    if (idle == MAP_FAILED || pipe(pipefd) < 0) {
        perror("ec_serve_forever");
        exit(1);
    }
    *idle = 0;
    signal(SIGCHLD, SIG_IGN); /* workers are reaped by the kernel */
    for (int i = 0; i < EC_WORKERS_START; i++) ec_spawn_worker(lfd, pipefd, idle, serve);
    for (;;) {
        char c[64];
        ssize_t n = read(pipefd[0], c, sizeof(c));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) exit(1);
        for (ssize_t i = 0; i < n; i++) ec_spawn_worker(lfd, pipefd, idle, serve);
    }
}

#endif
