/* Test backend that misbehaves on purpose: for each connection (one at a time) it replays a
 * script of reads, raw bytes, pauses, closes and resets, so tests can produce split records,
 * bad heads, early closes and silence at exact points. Knows the three wire protocols only
 * well enough to tell when a request is complete.
 * Usage: hostile ADDR SCRIPTFILE   (prints "ready" once listening)
 * Steps, one per line (# starts a comment):
 *   read | send TEXT | sendhex HEX | sleep MS | close | reset | hang
 *   fcgi_stdout TEXT | fcgi_stderr TEXT | fcgi_end STATUS | fcgi_raw TYPE ID TEXT
 * TEXT takes the C escapes \r \n \t \0 \xHH \\ ; fcgi_* build FastCGI records (request id 1
 * unless fcgi_raw says otherwise). */
#include <poll.h>
#include <strings.h>

#include "tests/backends/echo_common.h"

enum { ST_READ, ST_SEND, ST_SLEEP, ST_CLOSE, ST_RESET, ST_HANG };

typedef struct step {
    int kind;
    ec_buf bytes; /* ST_SEND */
    long ms;      /* ST_SLEEP */
} step;

static step *steps;
static size_t nsteps;

/* ---- script ---- */

static void die_line(const char *file, int line, const char *msg)
{
    fprintf(stderr, "hostile: %s:%d: %s\n", file, line, msg);
    exit(2);
}

static int unescape(ec_buf *out, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (c != '\\') {
            ec_put(out, &c, 1);
            continue;
        }
        c = *++s;
        switch (c) {
        case 'r':
            c = '\r';
            break;
        case 'n':
            c = '\n';
            break;
        case 't':
            c = '\t';
            break;
        case '0':
            c = '\0';
            break;
        case '\\':
            break;
        case 'x':
            if (ec_hexval(s[1]) < 0 || ec_hexval(s[2]) < 0) return -1;
            c = (char)(ec_hexval(s[1]) * 16 + ec_hexval(s[2]));
            s += 2;
            break;
        case '\0':
            return -1;
        default:
            break; /* an unknown escape stands for the character itself */
        }
        ec_put(out, &c, 1);
    }
    return 0;
}

static int unhex(ec_buf *out, const char *s)
{
    int hi = -1;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == ':') continue;
        int v = ec_hexval(*s);
        if (v < 0) return -1;
        if (hi < 0) {
            hi = v;
        } else {
            char c = (char)(hi * 16 + v);
            ec_put(out, &c, 1);
            hi = -1;
        }
    }
    return hi < 0 ? 0 : -1;
}

/* FastCGI records of <type> for <id> carrying <data>; split at 65535 bytes; an empty payload
 * gives one empty record (the end-of-stream marker). No padding. */
static void fcgi_records(ec_buf *out, int type, int id, const char *data, size_t n)
{
    do {
        size_t k = n > 65535 ? 65535 : n;
        unsigned char h[8] = {1,
                              (unsigned char)type,
                              (unsigned char)(id >> 8),
                              (unsigned char)id,
                              (unsigned char)(k >> 8),
                              (unsigned char)k,
                              0,
                              0};
        ec_put(out, h, 8);
        ec_put(out, data, k);
        data += k;
        n -= k;
    } while (n > 0);
}

static void load_script(const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "hostile: cannot open %s: %s\n", file, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0' || *p == '#') continue;
        char kw[32];
        size_t kl = strcspn(p, " \t");
        if (kl >= sizeof(kw)) die_line(file, lineno, "unknown step");
        memcpy(kw, p, kl);
        kw[kl] = '\0';
        const char *arg = p[kl] ? p + kl + 1 : p + kl; /* exactly one separator: TEXT keeps
                                                         leading spaces after it */
        if (nsteps == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            steps = realloc(steps, alloc * sizeof(*steps));
        }
        step *st = &steps[nsteps++];
        memset(st, 0, sizeof(*st));
        st->kind = ST_SEND;
        if (strcmp(kw, "read") == 0) {
            st->kind = ST_READ;
        } else if (strcmp(kw, "close") == 0) {
            st->kind = ST_CLOSE;
        } else if (strcmp(kw, "reset") == 0) {
            st->kind = ST_RESET;
        } else if (strcmp(kw, "hang") == 0) {
            st->kind = ST_HANG;
        } else if (strcmp(kw, "sleep") == 0) {
            st->kind = ST_SLEEP;
            st->ms = atol(arg);
        } else if (strcmp(kw, "send") == 0) {
            if (unescape(&st->bytes, arg) < 0) die_line(file, lineno, "bad escape");
        } else if (strcmp(kw, "sendhex") == 0) {
            if (unhex(&st->bytes, arg) < 0) die_line(file, lineno, "bad hex");
        } else if (strcmp(kw, "fcgi_stdout") == 0 || strcmp(kw, "fcgi_stderr") == 0) {
            ec_buf text = {0};
            if (unescape(&text, arg) < 0) die_line(file, lineno, "bad escape");
            fcgi_records(&st->bytes, strcmp(kw, "fcgi_stdout") == 0 ? 6 : 7, 1, text.p, text.n);
            free(text.p);
        } else if (strcmp(kw, "fcgi_end") == 0) {
            unsigned long app = strtoul(arg, NULL, 10);
            unsigned char body[8] = {(unsigned char)(app >> 24),
                                     (unsigned char)(app >> 16),
                                     (unsigned char)(app >> 8),
                                     (unsigned char)app,
                                     0,
                                     0,
                                     0,
                                     0};
            fcgi_records(&st->bytes, 3, 1, (const char *)body, 8);
        } else if (strcmp(kw, "fcgi_raw") == 0) {
            int type, id, used = 0;
            if (sscanf(arg, "%d %d%n", &type, &id, &used) < 2)
                die_line(file, lineno, "fcgi_raw TYPE ID TEXT");
            const char *text = arg + used;
            if (*text == ' ') text++;
            ec_buf t = {0};
            if (unescape(&t, text) < 0) die_line(file, lineno, "bad escape");
            fcgi_records(&st->bytes, type, id, t.p, t.n);
            free(t.p);
        } else {
            die_line(file, lineno, "unknown step");
        }
    }
    free(line);
    fclose(f);
}

/* ---- telling when a request is complete ---- */

static size_t fcgi_len(const unsigned char *b, size_t n)
{
    for (size_t off = 0; off + 8 <= n;) {
        size_t end = off + 8 + (size_t)((b[off + 4] << 8) | b[off + 5]) + b[off + 6];
        if (end > n) return 0;
        if (b[off + 1] == 5 && b[off + 4] == 0 && b[off + 5] == 0) return end; /* empty STDIN */
        off = end;
    }
    return 0;
}

static size_t scgi_len(const char *b, size_t n)
{
    size_t i = 0, len = 0;
    while (i < n && b[i] >= '0' && b[i] <= '9' && i < 9) len = len * 10 + (size_t)(b[i++] - '0');
    if (i == n || b[i] != ':' || n < i + 1 + len + 1) return 0;
    const char *pl = b + i + 1, *end = pl + len;
    long long clen = 0;
    for (const char *p = pl; p < end;) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (z == NULL) break;
        const char *v = z + 1, *z2 = memchr(v, '\0', (size_t)(end - v));
        if (z2 == NULL) break;
        if (z - p == 14 && memcmp(p, "CONTENT_LENGTH", 14) == 0) clen = atoll(v);
        p = z2 + 1;
    }
    size_t total = i + 1 + len + 1 + (size_t)clen;
    return n >= total ? total : 0;
}

static const char *find_field(const char *head, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = head; p + nl < head + n; p++)
        if ((p == head || p[-1] == '\n') && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return p + nl + 1;
    return NULL;
}

static size_t http_len(const char *b, size_t n)
{
    size_t h = 0;
    for (size_t i = 0; i + 1 < n && !h; i++) {
        if (b[i] != '\n') continue;
        if (b[i + 1] == '\n')
            h = i + 2;
        else if (b[i + 1] == '\r' && i + 2 < n && b[i + 2] == '\n')
            h = i + 3;
    }
    if (h == 0) return 0;
    const char *te = find_field(b, h, "Transfer-Encoding");
    if (te && strncasecmp(te + strspn(te, " \t"), "chunked", 7) == 0) {
        size_t off = h;
        for (;;) { /* size line, data, CRLF ... then trailers up to an empty line */
            const char *nl = memchr(b + off, '\n', n - off);
            if (nl == NULL) return 0;
            size_t size = strtoul(b + off, NULL, 16);
            off = (size_t)(nl - b) + 1;
            if (size == 0) break;
            off += size;
            if (off >= n) return 0;
            nl = memchr(b + off, '\n', n - off);
            if (nl == NULL) return 0;
            off = (size_t)(nl - b) + 1;
        }
        for (;;) {
            const char *nl = memchr(b + off, '\n', n - off);
            if (nl == NULL) return 0;
            size_t ll = (size_t)(nl - (b + off));
            off = (size_t)(nl - b) + 1;
            if (ll == 0 || (ll == 1 && nl[-1] == '\r')) return off;
        }
    }
    const char *cl = find_field(b, h, "Content-Length");
    size_t total = h + (cl ? strtoul(cl, NULL, 10) : 0);
    return n >= total ? total : 0;
}

static size_t request_len(const char *b, size_t n)
{
    if (n == 0) return 0;
    if (b[0] == 1) return fcgi_len((const unsigned char *)b, n);
    if (b[0] >= '0' && b[0] <= '9') return scgi_len(b, n);
    return http_len(b, n);
}

/* ---- running a script on one connection ---- */

typedef struct conn {
    int fd;
    int eof;
    ec_buf in; /* bytes read and not yet matched to a request */
} conn;

/* Read once, waiting at most <ms> (-1: forever). Returns 1 on data, 0 on silence, -1 at EOF. */
static int read_once(conn *c, int ms)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int r = poll(&pfd, 1, ms);
    if (r < 0 && errno == EINTR) return 1;
    if (r == 0) return 0;
    ec_reserve(&c->in, 65536);
    ssize_t k = read(c->fd, c->in.p + c->in.n, 65536);
    if (k < 0 && errno == EINTR) return 1;
    if (k <= 0) {
        c->eof = 1;
        return -1;
    }
    c->in.n += (size_t)k;
    return 1;
}

static void step_read(conn *c)
{
    for (;;) {
        size_t n = request_len(c->in.p, c->in.n);
        if (n) {
            memmove(c->in.p, c->in.p + n, c->in.n - n);
            c->in.n -= n;
            return;
        }
        if (c->eof || read_once(c, 1000) <= 0) {
            c->in.n = 0; /* silence or EOF: what came so far counts as the request */
            return;
        }
    }
}

/* A clean FIN: stop sending, then wait briefly for the peer's close so that unread input
 * does not turn close() into a reset. */
static void close_clean(conn *c)
{
    shutdown(c->fd, SHUT_WR);
    while (!c->eof && read_once(c, 500) > 0) c->in.n = 0;
    close(c->fd);
}

static void run_script(conn *c)
{
    for (size_t i = 0; i < nsteps; i++) {
        step *st = &steps[i];
        switch (st->kind) {
        case ST_READ:
            step_read(c);
            break;
        case ST_SEND:
            if (ec_write_all(c->fd, st->bytes.p, st->bytes.n) < 0) {
                close(c->fd);
                return;
            }
            break;
        case ST_SLEEP:
            ec_msleep(st->ms);
            break;
        case ST_CLOSE:
            close_clean(c);
            return;
        case ST_RESET: {
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(c->fd);
            return;
        }
        case ST_HANG:
            while (read_once(c, -1) >= 0) c->in.n = 0;
            close(c->fd);
            return;
        }
    }
    close_clean(c);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s ADDR SCRIPTFILE\n", argv[0]);
        return 2;
    }
    load_script(argv[2]);
    int lfd = ec_listen("hostile", argv[1]);
    ec_ready();
    conn c;
    memset(&c, 0, sizeof(c));
    for (;;) {
        c.fd = ec_accept(lfd);
        if (c.fd < 0) {
            perror("hostile: accept");
            return 1;
        }
        c.eof = 0;
        c.in.n = 0;
        run_script(&c);
    }
}
