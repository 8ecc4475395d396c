/* X-Sendfile: path normalisation, the confined open (openat2 or an O_NOFOLLOW walk), validators,
 * conditional and range evaluation, MIME types and HTTP dates. Pure functions over paths, fds
 * and header values: knows nothing of the event loop, sockets or backend protocols. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, timegm */
#endif

#include "gateway/respond/sendfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(HAVE_LINUX_OPENAT2_H)
#include <linux/openat2.h>
#define GW_HAVE_OPEN_HOW 1
#elif !defined(HAVE_CONFIG_H) && defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define GW_HAVE_OPEN_HOW 1
#endif
#endif

#ifndef GW_HAVE_OPEN_HOW
/* The kernel ABI (linux/openat2.h), for C libraries whose headers predate it. */
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_BENEATH 0x08
#endif

#if !defined(SYS_openat2) && defined(__linux__)
#define SYS_openat2 437 /* the same number on every architecture */
#endif

/* ---- normalisation ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decoding comes first, so an encoded "%2e%2e" or "%2f" is resolved exactly like the plain
 * characters: the value is decoded once and never again. A '%' without two hex digits is kept
 * literally (as lighttpd does), so apps that forget to encode a '%' still work. */
int gw_sendfile_normalize(gw_str value, char *out, size_t outlen)
{
    size_t o = 0;
    size_t seg = 0; /* start of the component being written (just after its '/') */
    if (value.n == 0 || outlen < 2) return GW_ERR;

    for (size_t i = 0; i <= value.n; i++) {
        int c;
        if (i == value.n) {
            c = '/'; /* a virtual separator closes the last component */
        } else if (value.p[i] == '%' && i + 2 < value.n && hexval(value.p[i + 1]) >= 0 &&
                   hexval(value.p[i + 2]) >= 0) {
            c = hexval(value.p[i + 1]) * 16 + hexval(value.p[i + 2]);
            i += 2;
        } else {
            c = (unsigned char)value.p[i];
        }
        if (c == '\0') return GW_ERR;
        if (o == 0) {
            if (c != '/') return GW_ERR; /* relative */
            out[o++] = '/';
            seg = o;
            continue;
        }
        if (c != '/') {
            if (o + 1 >= outlen) return GW_ERR;
            out[o++] = (char)c;
            continue;
        }
        /* end of a component: out[seg, o) */
        size_t clen = o - seg;
        if (clen == 0) continue; /* "//", or the end just after a '/' */
        if (clen == 1 && out[seg] == '.') {
            o = seg;
            continue;
        }
        if (clen == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            if (seg == 1) return GW_ERR; /* above "/" */
            o = seg - 1;                 /* the '/' before ".." */
            while (out[o - 1] != '/') o--;
            seg = o;
            continue;
        }
        if (i == value.n) break; /* the last component: no separator after it */
        if (o + 1 >= outlen) return GW_ERR;
        out[o++] = '/';
        seg = o;
    }
    if (o > 1 && out[o - 1] == '/') o--; /* no trailing slash, except for "/" itself */
    out[o] = '\0';
    return (int)o;
}

/* ---- the confined open ---- */

/* O_NONBLOCK: a FIFO under a root must not hang the open until a writer appears; O_NOCTTY: a
 * terminal must not become our controlling one. Both are harmless for the regular files kept. */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

static int status_for(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return 404;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return 500; /* our trouble, not the file's */
    default:
        return 403; /* EXDEV, ELOOP, EACCES, EPERM, ENAMETOOLONG, ... */
    }
}

static _Thread_local int openat2_state; /* 0: not probed yet, 1: usable, -1: missing or
                                           filtered (probed once per worker) */

static int openat2_usable(void)
{
#ifdef SYS_openat2
    if (openat2_state == 0) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC};
        /* "" gives ENOENT wherever the call exists; an old kernel gives ENOSYS and a seccomp
         * filter ENOSYS or EPERM, and then every file would fail, so probe once. */
        long r = syscall(SYS_openat2, AT_FDCWD, "", &how, sizeof(how));
        if (r >= 0) close((int)r);
        openat2_state = (r >= 0 || errno == ENOENT) ? 1 : -1;
    }
    return openat2_state > 0;
#else
    return 0;
#endif
}

static int open_beneath(int rootfd, const char *rel)
{
#ifdef SYS_openat2
    struct open_how how = {.flags = OPEN_FLAGS, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long r;
    int tries = 0;
    /* EAGAIN: the kernel saw a concurrent rename it could not rule out; retrying is allowed */
    do r = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
    while (r < 0 && (errno == EINTR || errno == EAGAIN) && ++tries < 8);
    return (int)r;
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* Without openat2: one component at a time, never following a symlink, so neither a link nor a
 * directory swapped for one leads out. Stricter than openat2: even links that stay inside the
 * root are refused. */
static int open_walk(int rootfd, const char *rel)
{
    char comp[NAME_MAX + 1];
    int dfd = rootfd, e;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > NAME_MAX) {
            e = n ? ENAMETOOLONG : ENOENT;
            goto fail;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
            e = EXDEV; /* a normalised path has none; refuse rather than resolve */
            goto fail;
        }
        int flags =
            slash ? (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : (OPEN_FLAGS | O_NOFOLLOW);
        int fd = openat(dfd, comp, flags);
        if (fd < 0) {
            e = errno;
            struct stat lst;
            /* a symlink to a directory fails O_DIRECTORY|O_NOFOLLOW with ENOTDIR: that is a
             * refused link (403), not a missing file (404) */
            if (e == ENOTDIR && fstatat(dfd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(lst.st_mode))
                e = ELOOP;
            goto fail;
        }
        if (dfd != rootfd) close(dfd);
        if (slash == NULL) return fd;
        dfd = fd;
        p = slash + 1;
    }
fail:
    if (dfd != rootfd) close(dfd);
    errno = e;
    return -1;
}

/* Open `rel` (relative, no leading '/') beneath the directory `root`. */
static int open_in_root(const char *root, const char *rel, struct stat *st, int *status)
{
    if (*rel == '\0') {
        *status = 403; /* the root directory itself */
        return -1;
    }
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        *status = status_for(errno);
        return -1;
    }
    int fd;
    if (openat2_usable()) {
        fd = open_beneath(rootfd, rel);
        if (fd < 0 && errno == ENOSYS) { /* the probe passed, yet the call is gone */
            openat2_state = -1;
            fd = open_walk(rootfd, rel);
        }
    } else {
        fd = open_walk(rootfd, rel);
    }
    int e = errno;
    close(rootfd);
    if (fd < 0) {
        *status = status_for(e);
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        *status = 403;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* The length of the prefix a root stands for: without trailing slashes, and 0 for "/" (it
 * covers every path). Roots are taken as written (absolute, already clean): no decoding. A root
 * that is not absolute covers nothing. */
static size_t root_len(const char *root, int *ok)
{
    size_t n = strlen(root);
    *ok = root[0] == '/';
    while (n > 1 && root[n - 1] == '/') n--;
    return n == 1 ? 0 : n;
}

/* Roots are tried longest first, each only if it is a prefix of `path` ending on a component
 * boundary ("/srv/a" covers "/srv/a/x", not "/srv/ab"). A shorter root is tried after a 403
 * only: a symlink that leaves "/srv/a" may still land inside a configured "/srv". */
int gw_sendfile_open(const char *const *roots, size_t nroots, const char *path, struct stat *st,
                     int *status)
{
    size_t below = (size_t)-1;
    int first = 0;
    *status = 403;
    if (path == NULL || path[0] != '/') return -1;
    for (;;) {
        size_t best = (size_t)-1, bestlen = 0;
        for (size_t i = 0; i < nroots; i++) {
            int ok;
            if (roots[i] == NULL) continue;
            size_t len = root_len(roots[i], &ok);
            if (!ok || len >= below || (best != (size_t)-1 && len <= bestlen)) continue;
            if (strncmp(path, roots[i], len) != 0 || (path[len] != '/' && path[len] != '\0'))
                continue;
            best = i;
            bestlen = len;
        }
        if (best == (size_t)-1) break;
        below = bestlen;
        const char *rel = path + bestlen;
        while (*rel == '/') rel++;
        int fd = open_in_root(roots[best], rel, st, status);
        if (fd >= 0) return fd;
        if (first == 0) first = *status;
        if (*status != 403) break;
    }
    *status = first ? first : 403;
    return -1;
}

void gw_sendfile_etag(const struct stat *st, char *buf, size_t buflen)
{
    if (buflen == 0) return;
    snprintf(buf, buflen, "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
             (unsigned long long)st->st_size, (unsigned long long)st->st_mtime);
}

/* ---- conditional requests ---- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Does the entity-tag list `list` (If-Match / If-None-Match) name `etag`? "*" names any current
 * representation. Weak comparison ignores W/; strong needs both tags strong. A malformed list
 * stops matching where it breaks. */
static int etag_list_match(gw_str list, const char *etag, int weak)
{
    int etag_weak = strncmp(etag, "W/", 2) == 0;
    const char *op = etag + (etag_weak ? 2 : 0);
    size_t on = strlen(op);
    size_t i = 0;
    for (;;) {
        while (i < list.n && (is_ows(list.p[i]) || list.p[i] == ',')) i++;
        if (i >= list.n) return 0;
        if (list.p[i] == '*') return 1;
        int w = 0;
        if (list.n - i >= 2 && list.p[i] == 'W' && list.p[i + 1] == '/') {
            w = 1;
            i += 2;
        }
        if (i >= list.n || list.p[i] != '"') return 0;
        const char *q = memchr(list.p + i + 1, '"', list.n - i - 1);
        if (q == NULL) return 0;
        size_t tn = (size_t)(q - (list.p + i)) + 1;
        if (tn == on && memcmp(list.p + i, op, on) == 0 && (weak || (!w && !etag_weak))) return 1;
        i += tn;
        while (i < list.n && is_ows(list.p[i])) i++;
        if (i < list.n && list.p[i] != ',') return 0;
    }
}

int gw_sendfile_conditional(const gw_req *rq, const char *etag, time_t mtime)
{
    int get_head = gw_str_eq(rq->method, "GET") || gw_str_eq(rq->method, "HEAD");
    int has_im = 0, im = 0, has_inm = 0, inm = 0;
    /* list fields may be split over several lines; every line counts */
    for (size_t i = 0; i < rq->nhdr; i++) {
        if (gw_str_caseeq(rq->hdr[i].name, "If-Match")) {
            has_im = 1;
            im |= etag_list_match(rq->hdr[i].value, etag, 0);
        } else if (gw_str_caseeq(rq->hdr[i].name, "If-None-Match")) {
            has_inm = 1;
            inm |= etag_list_match(rq->hdr[i].value, etag, 1);
        }
    }
    const gw_header *h;
    if (has_im) {
        if (!im) return 412;
    } else if ((h = gw_req_header(rq, "If-Unmodified-Since")) != NULL) {
        time_t t = gw_http_date_parse(h->value);
        if (t != -1 && mtime > t) return 412;
    }
    if (has_inm) {
        if (inm) return get_head ? 304 : 412;
    } else if (get_head && (h = gw_req_header(rq, "If-Modified-Since")) != NULL) {
        time_t t = gw_http_date_parse(h->value);
        if (t != -1 && mtime <= t) return 304;
    }
    return 0;
}

/* ---- ranges ---- */

/* Decimal digits at p[0, n) into *v, saturating: an offset past any file is as unsatisfiable as
 * a huge one. Returns the number of digits read. */
static size_t parse_u64(const char *p, size_t n, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *v = x;
    return i;
}

static gw_str trim_ows(gw_str s)
{
    while (s.n && is_ows(s.p[0])) s.p++, s.n--;
    while (s.n && is_ows(s.p[s.n - 1])) s.n--;
    return s;
}

/* If-Range holds only for the same strong validator: an exact strong ETag, or the exact
 * Last-Modified date. */
static int if_range_holds(gw_str ir, const char *etag, time_t mtime)
{
    ir = trim_ows(ir);
    if (ir.n >= 2 && ir.p[0] == 'W' && ir.p[1] == '/') return 0;
    if (ir.n && ir.p[0] == '"')
        return strncmp(etag, "W/", 2) != 0 && strlen(etag) == ir.n && memcmp(etag, ir.p, ir.n) == 0;
    time_t t = gw_http_date_parse(ir);
    return t != -1 && t == mtime;
}

int gw_range_parse(gw_str range, gw_str if_range, const char *etag, time_t mtime, uint64_t size,
                   uint64_t *start, uint64_t *len)
{
    if (range.p == NULL || range.n == 0) return 0;
    if (if_range.p != NULL && if_range.n && !if_range_holds(if_range, etag, mtime)) return 0;
    range = trim_ows(range);
    const char *p = range.p;
    size_t n = range.n, i = 6, d;
    if (n < 6 || strncasecmp(p, "bytes=", 6) != 0) return 0;
    while (i < n && is_ows(p[i])) i++;
    uint64_t a = 0, b = 0;
    int suffix = 0, open_end = 0;
    if (i < n && p[i] == '-') {
        suffix = 1;
        if ((d = parse_u64(p + i + 1, n - i - 1, &b)) == 0) return 0;
        i += 1 + d;
    } else {
        if ((d = parse_u64(p + i, n - i, &a)) == 0) return 0;
        i += d;
        if (i >= n || p[i] != '-') return 0;
        i++;
        d = parse_u64(p + i, n - i, &b);
        open_end = d == 0;
        i += d;
    }
    /* empty list elements are allowed; anything more is a second range (or junk): whole file */
    for (; i < n; i++)
        if (!is_ows(p[i]) && p[i] != ',') return 0;

    if (suffix) {
        if (b == 0) return 416;
        if (size == 0) return 0; /* satisfiable, but no Content-Range can say "nothing of 0" */
        if (b > size) b = size;
        *start = size - b;
        *len = b;
        return 206;
    }
    if (!open_end && b < a) return 0; /* invalid: ignored */
    if (a >= size) return 416;
    if (open_end || b >= size) b = size - 1;
    *start = a;
    *len = b - a + 1;
    return 206;
}

/* ---- MIME types ---- */

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"bmp", "image/bmp"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tgz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"bz2", "application/x-bzip2"},
    {"xz", "application/x-xz"},
    {"zst", "application/zstd"},
    {"7z", "application/x-7z-compressed"},
    {"mp4", "video/mp4"},
    {"m4v", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"opus", "audio/ogg"},
    {"wav", "audio/wav"},
    {"flac", "audio/flac"},
    {"m4a", "audio/mp4"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"eot", "application/vnd.ms-fontobject"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"epub", "application/epub+zip"},
    {"rtf", "application/rtf"},
    {"ics", "text/calendar; charset=utf-8"},
};

const char *gw_mime_type(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot != NULL && dot != base && dot[1] != '\0') /* ".bashrc" has no extension */
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0) return mime_types[i].type;
    return "application/octet-stream";
}

/* ---- HTTP dates ---- */

static const char wkdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wkdays_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                           "Thursday", "Friday", "Saturday"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static char *put_digits(char *p, int v, int width)
{
    for (int k = width - 1; k >= 0; k--, v /= 10) p[k] = (char)('0' + v % 10);
    return p + width;
}

/* Month and weekday names come from tables, not strftime, so a locale never leaks in. */
char *gw_http_date(time_t t, char *buf)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        time_t zero = 0;
        gmtime_r(&zero, &tm);
    }
    /* fixed width, written by hand: "Sun, 06 Nov 1994 08:49:37 GMT" */
    int year = tm.tm_year + 1900;
    char *p = buf;
    memcpy(p, wkdays[tm.tm_wday % 7], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = ' ';
    memcpy(p, months[tm.tm_mon % 12], 3);
    p += 3;
    *p++ = ' ';
    p = put_digits(p, year, 4);
    *p++ = ' ';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    memcpy(p, " GMT", 5);
    return buf;
}

typedef struct cursor {
    const char *p;
    size_t n, i;
} cursor;

static int take(cursor *c, const char *lit)
{
    size_t l = strlen(lit);
    if (c->n - c->i < l || memcmp(c->p + c->i, lit, l) != 0) return 0;
    c->i += l;
    return 1;
}

/* Exactly `digits` digits, or with lead_space a space then one fewer (asctime's " 6"). */
static int take_num(cursor *c, int digits, int lead_space, int *v)
{
    if (lead_space && c->i < c->n && c->p[c->i] == ' ') {
        c->i++;
        digits--;
    }
    if (c->n - c->i < (size_t)digits) return 0;
    int x = 0;
    for (int k = 0; k < digits; k++) {
        char ch = c->p[c->i + (size_t)k];
        if (ch < '0' || ch > '9') return 0;
        x = x * 10 + (ch - '0');
    }
    c->i += (size_t)digits;
    *v = x;
    return 1;
}

static int take_month(cursor *c, int *mon)
{
    for (int m = 0; m < 12; m++)
        if (take(c, months[m])) {
            *mon = m;
            return 1;
        }
    return 0;
}

static int take_time(cursor *c, struct tm *tm)
{
    return take_num(c, 2, 0, &tm->tm_hour) && take(c, ":") && take_num(c, 2, 0, &tm->tm_min) &&
           take(c, ":") && take_num(c, 2, 0, &tm->tm_sec);
}

static int days_in(int mon, int year)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return d[mon] + (mon == 1 && leap);
}

time_t gw_http_date_parse(gw_str s)
{
    s = trim_ows(s);
    if (s.p == NULL) return -1;
    cursor c = {s.p, s.n, 0};
    struct tm tm;
    int year, wd = -1, ok;
    memset(&tm, 0, sizeof(tm));
    for (int k = 0; k < 7 && wd < 0; k++)
        if (take(&c, wkdays[k])) wd = k;
    if (wd < 0) return -1;
    if (take(&c, ", ")) { /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        ok = take_num(&c, 2, 0, &tm.tm_mday) && take(&c, " ") && take_month(&c, &tm.tm_mon) &&
             take(&c, " ") && take_num(&c, 4, 0, &year) && take(&c, " ") && take_time(&c, &tm) &&
             take(&c, " GMT");
    } else if (take(&c, " ")) { /* asctime: Sun Nov  6 08:49:37 1994 */
        ok = take_month(&c, &tm.tm_mon) && take(&c, " ") && take_num(&c, 2, 1, &tm.tm_mday) &&
             take(&c, " ") && take_time(&c, &tm) && take(&c, " ") && take_num(&c, 4, 0, &year);
    } else { /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        int yy;
        c.i = 0;
        ok = take(&c, wkdays_long[wd]) && take(&c, ", ") && take_num(&c, 2, 0, &tm.tm_mday) &&
             take(&c, "-") && take_month(&c, &tm.tm_mon) && take(&c, "-") &&
             take_num(&c, 2, 0, &yy) && take(&c, " ") && take_time(&c, &tm) && take(&c, " GMT");
        if (ok) {
            /* RFC 9110 §5.6.7: more than 50 years ahead means the previous century */
            time_t now = time(NULL);
            struct tm ntm;
            int cur = gmtime_r(&now, &ntm) ? ntm.tm_year + 1900 : 2000;
            year = cur - cur % 100 + yy;
            if (year > cur + 50) year -= 100;
        }
    }
    if (!ok || c.i != c.n) return -1;
    if (tm.tm_mday < 1 || tm.tm_mday > days_in(tm.tm_mon, year) || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year = year - 1900;
    return timegm(&tm);
}
