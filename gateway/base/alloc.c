/* Allocation that aborts on out-of-memory, and the first-error-wins message (alloc.h). */
#include "gateway/base/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/buf.h"

void gw_oom(void)
{
    static const char msg[] = "portico: out of memory\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    abort();
}

void *gw_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) gw_oom();
    return p;
}

void *gw_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) gw_oom();
    return p;
}

void *gw_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) gw_oom();
    return q;
}

void *gw_xreallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) gw_oom();
    return gw_xrealloc(p, n * size);
}

char *gw_xstrdup(const char *s)
{
    return gw_xstrndup(s, strlen(s));
}

char *gw_xstrndup(const char *s, size_t n)
{
    char *d = gw_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int gw_errf(char **err, const char *fmt, ...)
{
    if (err == NULL || *err != NULL) return GW_ERR;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *m = gw_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(m, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *err = m;
    return GW_ERR;
}
