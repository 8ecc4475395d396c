/* The project's one allocation idiom and one error idiom (docs/design.md §5). Base layer: libc
 * only.
 *
 * Allocation: gw_xmalloc and friends never return NULL; out of memory prints one line and
 * aborts, as Redis and lighttpd do. A gateway that cannot allocate a few hundred bytes cannot
 * answer anyone, and a recovery path nobody exercises is a bug waiting. Call sites never check.
 *
 * Errors: functions return GW_OK / GW_ERR (or a count, a status, GW_AGAIN where documented).
 * When the caller needs to know why, the callee writes an allocated message through
 * `char **err` with gw_errf: the first error wins (later ones are dropped), the caller frees
 * it. Config errors start with FILE:LINE. */
#ifndef GW_ALLOC_H
#define GW_ALLOC_H

#include <stddef.h>

void *gw_xmalloc(size_t n);
void *gw_xcalloc(size_t n, size_t size);
void *gw_xrealloc(void *p, size_t n);
/* realloc to n * size, with an overflow check. */
void *gw_xreallocarray(void *p, size_t n, size_t size);
char *gw_xstrdup(const char *s);
char *gw_xstrndup(const char *s, size_t n);
/* Out of memory: one line on stderr, then abort(). For allocators of libraries (pcre2). */
void gw_oom(void) __attribute__((noreturn));

/* Set *err to the formatted message unless it already holds one (the first error wins). A NULL
 * err is allowed (the caller does not want the message). Returns GW_ERR, so that
 * `return gw_errf(err, ...)` reads as what it does. */
int gw_errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
