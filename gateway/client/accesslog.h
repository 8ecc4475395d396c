/* The access log: one line per answered request, in combined log format followed by the
 * request time in seconds and the backend that answered ("-" for none). */
#ifndef GW_ACCESSLOG_H
#define GW_ACCESSLOG_H

#include "gateway/client/conn.h"

/* Open (or with NULL close) the access log; reopen the same path after SIGUSR1. */
int gw_accesslog_open(const char *path);
int gw_accesslog_reopen(void);
void gw_accesslog_close(void); /* at exit */
void gw_accesslog_write(const gw_conn *c);

#endif
