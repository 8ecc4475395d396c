/* Listening sockets: TCP on IPv4/IPv6 and unix sockets, opened from the config's main address
 * and its $SERVER["socket"] blocks; accepting hands each client to conn.c. */
#ifndef GW_LISTEN_H
#define GW_LISTEN_H

#include "gateway/client/conn.h"

/* Open (bind) a listener for "host:port", "[v6]:port" or "unix:/path": one socket per worker
 * (SO_REUSEPORT for TCP with several workers, a port held by anyone else refused). Returns it
 * (not yet listening), or NULL with a message through err (alloc.h). */
gw_listener *gw_listener_open(const char *name, char **err);
/* Start-up is over: every listener listens and every worker accepts; later syncs start new ones
 * at once. */
void gw_listeners_start_all(void);
void gw_listener_close(gw_listener *l); /* at exit, the workers gone */
/* On each worker (its sync): watch its sockets of the current listeners while it accepts, close
 * its sockets of the retired ones. */
void gw_listeners_worker_sync(void);

/* Make the set of listeners match a config generation: keep the ones that stay, open the new
 * ones (listening once start-up is over), retire the ones that went; the workers follow when
 * asked to sync (GW_WK_SYNC), after the generation is swapped. Returns GW_OK, or GW_ERR with a
 * message through err (nothing changed). */
int gw_listeners_sync(const gw_rt *rt, char **err);
/* Stop listening altogether (graceful shutdown): each worker closes its sockets, so new
 * connections are refused by the kernel, while connections already accepted go on. */
void gw_listeners_retire_all(void);
void gw_listeners_free_retired(void); /* at exit */

#endif
