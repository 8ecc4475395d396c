/* Cold-start timing driver for bench/spawn-cold.
 *
 *   coldstart alone PHP_CGI SCRIPT SOCKDIR N [CHILDREN]
 *       N times: a fresh listening unix socket in SOCKDIR; a client connection to it with one
 *       FastCGI request for SCRIPT already written (queued in the kernel, nobody has accepted
 *       it); then PHP_CGI is started with that listening socket as fd 0 (FastCGI convention),
 *       in its own session and process group, with a clean environment (PATH,
 *       PHP_FCGI_CHILDREN=CHILDREN, default 1, "" for unset) and /dev/null as stdout and
 *       stderr. Prints one line per run: milliseconds from just before posix_spawn to the first
 *       response byte. The whole response is read and checked (FCGI_END_REQUEST, "cold-ok" in
 *       the output), then the process group is killed and every process of it reaped (this
 *       driver is a child subreaper) before the next run.
 *
 *   coldstart http PORT PATH
 *       One HTTP/1.1 GET of PATH on 127.0.0.1:PORT, Connection: close. Prints milliseconds from
 *       just before connect() to the first response byte. The response must be a 200 whose body
 *       contains "cold-ok".
 *
 * Exit status 0 on success; otherwise a message on stderr and status 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MARKER "cold-ok"
#define TIMEOUT_MS 30000

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("coldstart: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* read with a deadline; returns bytes read, 0 at EOF */
static ssize_t read_timed(int fd, void *buf, size_t len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do r = poll(&p, 1, TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r == 0) die("no response within %d s", TIMEOUT_MS / 1000);
    if (r < 0) die("poll: %s", strerror(errno));
    ssize_t n = read(fd, buf, len);
    if (n < 0) die("read: %s", strerror(errno));
    return n;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* ------------------------------------------------------------------ FastCGI request */
enum {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7
};

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) die("out of memory");
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void record(buf_t *b, int type, const void *content, size_t n)
{
    unsigned char h[8] = {
        1, (unsigned char)type, 0, 1, (unsigned char)(n >> 8), (unsigned char)n, 0, 0};
    put(b, h, 8);
    if (n) put(b, content, n);
}

static void name_len(buf_t *b, size_t n)
{
    if (n < 128) {
        unsigned char c = (unsigned char)n;
        put(b, &c, 1);
    } else {
        unsigned char c[4] = {(unsigned char)(0x80 | (n >> 24)), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 8), (unsigned char)n};
        put(b, c, 4);
    }
}

static void param(buf_t *b, const char *name, const char *value)
{
    name_len(b, strlen(name));
    name_len(b, strlen(value));
    put(b, name, strlen(name));
    put(b, value, strlen(value));
}

/* BEGIN_REQUEST (responder, no keep-conn), PARAMS, empty PARAMS, empty STDIN */
static buf_t fcgi_request(const char *script)
{
    buf_t req = {0}, params = {0};
    const char *slash = strrchr(script, '/');
    char docroot[4096];
    snprintf(docroot, sizeof docroot, "%.*s", slash ? (int)(slash - script) : 0, script);
    const char *name = slash ? slash : script;

    param(&params, "GATEWAY_INTERFACE", "CGI/1.1");
    param(&params, "SERVER_SOFTWARE", "coldstart");
    param(&params, "SERVER_PROTOCOL", "HTTP/1.1");
    param(&params, "SERVER_NAME", "localhost");
    param(&params, "SERVER_ADDR", "127.0.0.1");
    param(&params, "SERVER_PORT", "80");
    param(&params, "REMOTE_ADDR", "127.0.0.1");
    param(&params, "REMOTE_PORT", "40000");
    param(&params, "REQUEST_METHOD", "GET");
    param(&params, "REQUEST_URI", name);
    param(&params, "QUERY_STRING", "");
    param(&params, "SCRIPT_NAME", name);
    param(&params, "SCRIPT_FILENAME", script);
    param(&params, "DOCUMENT_ROOT", docroot);
    param(&params, "CONTENT_LENGTH", "");
    param(&params, "REDIRECT_STATUS", "200");
    param(&params, "HTTP_HOST", "localhost");
    if (params.len > 65535) die("FastCGI params too long");

    unsigned char begin[8] = {0, 1 /* responder */, 0 /* flags: close */, 0, 0, 0, 0, 0};
    record(&req, FCGI_BEGIN_REQUEST, begin, 8);
    record(&req, FCGI_PARAMS, params.p, params.len);
    record(&req, FCGI_PARAMS, NULL, 0);
    record(&req, FCGI_STDIN, NULL, 0);
    free(params.p);
    return req;
}

/* Read FastCGI records until END_REQUEST; 0 when it came and STDOUT held the marker. */
static int fcgi_read_response(int fd, const unsigned char *first, size_t firstlen, char *why,
                              size_t whylen)
{
    buf_t in = {0}, out = {0};
    unsigned char tmp[16384];
    put(&in, first, firstlen);
    for (;;) {
        size_t off = 0;
        while (in.len - off >= 8) {
            unsigned char *h = in.p + off;
            size_t clen = (size_t)h[4] << 8 | h[5], total = 8 + clen + h[6];
            if (in.len - off < total) break;
            if (h[1] == FCGI_STDOUT)
                put(&out, h + 8, clen);
            else if (h[1] == FCGI_STDERR)
                fprintf(stderr, "coldstart: php stderr: %.*s\n", (int)clen, (char *)h + 8);
            else if (h[1] == FCGI_END_REQUEST) {
                put(&out, "", 1);
                int ok = strstr((char *)out.p, MARKER) != NULL;
                if (!ok)
                    snprintf(why, whylen, "response without \"%s\": %.200s", MARKER, (char *)out.p);
                free(in.p);
                free(out.p);
                return ok ? 0 : -1;
            }
            off += total;
        }
        memmove(in.p, in.p + off, in.len - off);
        in.len -= off;
        ssize_t n = read_timed(fd, tmp, sizeof tmp);
        if (n == 0) {
            snprintf(why, whylen, "connection closed before FCGI_END_REQUEST");
            free(in.p);
            free(out.p);
            return -1;
        }
        put(&in, tmp, (size_t)n);
    }
}

static int run_alone(int argc, char **argv)
{
    if (argc < 6) die("usage: coldstart alone PHP_CGI SCRIPT SOCKDIR N [CHILDREN]");
    const char *php = argv[2], *script = argv[3], *dir = argv[4];
    int n = atoi(argv[5]);
    const char *children = argc > 6 ? argv[6] : "1";
    if (access(php, X_OK) != 0) die("%s: %s", php, strerror(errno));
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);

    char envchildren[64];
    snprintf(envchildren, sizeof envchildren, "PHP_FCGI_CHILDREN=%s", children);
    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    *children ? envchildren : NULL, NULL};
    char *args[] = {(char *)php, NULL};
    buf_t req = fcgi_request(script);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/alone.sock", dir) >=
        sizeof sa.sun_path)
        die("socket path too long: %s", dir);

    for (int i = 0; i < n; i++) {
        unlink(sa.sun_path);
        int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0)
            die("listen on %s: %s", sa.sun_path, strerror(errno));
        int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof sa) != 0)
            die("connect %s: %s", sa.sun_path, strerror(errno));
        write_all(cfd, req.p, req.len); /* queued: nobody has accepted the connection yet */

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, lfd, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawnattr_init(&at);
        /* its own session (and process group), as portico's launcher starts an app: with
         * sched_autogroup the session decides the scheduling group the process runs in */
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);

        pid_t pid;
        double t0 = now_ms();
        int err = posix_spawn(&pid, php, &fa, &at, args, envp);
        if (err) die("posix_spawn %s: %s", php, strerror(err));
        unsigned char first[16384];
        ssize_t got = read_timed(cfd, first, sizeof first);
        double t1 = now_ms();
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(lfd);

        char why[300] = "";
        int bad = got == 0 ? (snprintf(why, sizeof why, "connection closed, no response"), -1)
                           : fcgi_read_response(cfd, first, (size_t)got, why, sizeof why);
        close(cfd);
        kill(-pid, SIGKILL);
        /* reap php-cgi and whatever it forked (reparented to us, the subreaper) */
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
        if (bad) die("run %d: %s", i + 1, why);
        printf("%.3f\n", t1 - t0);
        fflush(stdout);
    }
    unlink(sa.sun_path);
    free(req.p);
    return 0;
}

/* ------------------------------------------------------------------ HTTP */
static int run_http(int argc, char **argv)
{
    if (argc < 4) die("usage: coldstart http PORT PATH");
    int port = atoi(argv[2]);
    const char *path = argv[3];
    char req[2048];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: coldstart\r\n"
                       "Connection: close\r\n\r\n",
                       path, port);
    if (len >= (int)sizeof req) die("path too long");
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s", strerror(errno));

    double t0 = now_ms();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect 127.0.0.1:%d: %s", port, strerror(errno));
    write_all(fd, req, (size_t)len);
    buf_t resp = {0};
    unsigned char tmp[16384];
    ssize_t n = read_timed(fd, tmp, sizeof tmp);
    double t1 = now_ms();
    while (n > 0) {
        put(&resp, tmp, (size_t)n);
        n = read_timed(fd, tmp, sizeof tmp);
    }
    close(fd);
    put(&resp, "", 1);
    char *r = (char *)resp.p;
    if (resp.len <= 1) die("GET %s: connection closed without a response", path);
    if (strncmp(r, "HTTP/1.1 200", 12) != 0 && strncmp(r, "HTTP/1.0 200", 12) != 0)
        die("GET %s: not a 200: %.300s", path, r);
    char *body = strstr(r, "\r\n\r\n");
    if (!body || !strstr(body, MARKER)) die("GET %s: body without \"%s\": %.300s", path, MARKER, r);
    printf("%.3f\n", t1 - t0);
    free(resp.p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "alone") == 0) return run_alone(argc, argv);
    if (argc > 1 && strcmp(argv[1], "http") == 0) return run_http(argc, argv);
    die("usage: coldstart alone PHP_CGI SCRIPT SOCKDIR N [CHILDREN] | http PORT PATH");
    return 1;
}
