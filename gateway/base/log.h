/* Error log: one line per event, to stderr or server.errorlog; reopened on SIGUSR1.
 * Base layer: libc only. */
#ifndef GW_LOG_H
#define GW_LOG_H

enum { GW_LOG_ERR = 0, GW_LOG_WARN = 1, GW_LOG_INFO = 2, GW_LOG_DEBUG = 3 };

extern int gw_log_level; /* messages above this level are dropped; default GW_LOG_INFO */

/* Open `path` for appending (NULL: stderr). Returns 0, or -1 with errno set. */
int gw_log_open(const char *path);
int gw_log_reopen(void);
void gw_log_close(void); /* at exit: back to stderr */
void gw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
