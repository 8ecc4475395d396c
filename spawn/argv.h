/* The app's command line and environment, and the restart back-off: pure functions over strings
 * and numbers, no processes. */
#ifndef SPAWN_ARGV_H
#define SPAWN_ARGV_H

#include <stddef.h>

/* Split a command line into words the way a POSIX shell splits them: blanks separate words,
 * '...' quotes literally, "..." quotes with \" \\ \$ \` escapes, a backslash outside quotes
 * escapes the next character; no expansion of any kind. Blanks are space, tab and newline; a
 * backslash-newline (outside '...') is a line continuation and vanishes, as in sh. Returns a
 * NULL-terminated array (free with spawn_strv_free), or NULL with *err set (unterminated quote,
 * trailing backslash, no word at all). */
char **spawn_split_cmdline(const char *s, char **err);

/* A copy of argv with every "{socket}" replaced by `socket` and every "{port}" by `port` (""
 * when NULL), anywhere in a word. */
char **spawn_argv_subst(char *const *argv, const char *socket, const char *port);

/* The child's environment, NULL-terminated "NAME=value" strings, built from nothing:
 * - each name in copy[0..ncopy) whose variable is set in `parent` (an environ-style array);
 * - PATH=/usr/local/bin:/usr/bin:/bin when PATH did not come from `parent` that way;
 * - set[0..nset) ("NAME=value"), replacing a copied variable of the same name;
 * - PHP_FCGI_CHILDREN=1 unless set by then;
 * - extra[0..nextra) ("NAME=value", e.g. PORT, LISTEN_FDS), replacing anything of the same name.
 * Later entries replace earlier ones in place: every name appears once. */
char **spawn_env_build(char *const *parent, char *const *copy, size_t ncopy, char *const *set,
                       size_t nset, char *const *extra, size_t nextra);

/* The executable for `name`: itself when it contains '/' (if it is an executable file), else
 * the first executable regular file `name` in the colon-separated `path` (empty elements are
 * skipped, not taken as "."). Returns an allocated absolute-or-relative path, or NULL with *err
 * set ("not found in PATH", "not executable": found, but none executable; "no such file",
 * "not an executable file" for a name with '/'). */
char *spawn_resolve_exe(const char *name, const char *path, char **err);

/* "SIGTERM", "TERM", "term" or "15" -> 15; an unknown name or number -> -1. */
int spawn_signal_parse(const char *name);
/* 15 -> "SIGTERM" (a static string; "SIG?" for unknown). */
const char *spawn_signal_name(int sig);

/* Restart back-off after `failures` consecutive early deaths: 0 for 0, then
 * SPAWN_BACKOFF_FIRST * 2^(failures-1), capped at SPAWN_BACKOFF_MAX seconds. */
#define SPAWN_BACKOFF_FIRST 0.5
#define SPAWN_BACKOFF_MAX 30.0
double spawn_backoff_delay(unsigned failures);
/* The "some avg10" of a PSI file's text (/proc/pressure/memory: the share of the last 10 s, in
 * percent, in which some task stalled on memory). Returns 0 and sets *avg10, or -1. */
int spawn_psi_some_avg10(const char *text, double *avg10);

void spawn_strv_free(char **v);
size_t spawn_strv_len(char *const *v);

#endif
