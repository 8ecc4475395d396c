/* One condition's operand, compiled at load time (PCRE2 regex, CIDR network) and matched per
 * request. Knows the condition structs of conf.h; nothing of sockets, the loop or protocols. */
#ifndef GW_COND_H
#define GW_COND_H

#include "gateway/config/conf.h"

/* The config spelling of fields ($HTTP["url"] -> "url"; NULL for $REQUEST_HEADER) and of
 * operators ("==", "=~", ...), indexed by enum gw_cond_field / gw_cond_op. */
extern const char *const gw_cond_field_names[];
extern const char *const gw_cond_op_names[];

/* Prepare c (field, op and pattern filled in): compile a regex for =~ / !~ (JIT where
 * available), parse the network of remote-ip == / !=. Returns GW_OK, or GW_ERR with *err a
 * malloc'd message without FILE:LINE (the caller adds it). */
int gw_cond_compile(gw_cond *c, char **err);

/* Free what gw_cond_compile allocated (the regex); c itself belongs to the caller. */
void gw_cond_release(gw_cond *c);

/* Free the process-wide regex match data (tests and shutdown; it is re-created on demand). */
void gw_cond_cleanup(void);
/* The calling thread's match data for every regex of the config (GW_RE_PAIRS offset pairs),
 * made on first use; gw_cond_cleanup frees the calling thread's. */
#define GW_RE_PAIRS 10
pcre2_match_data *gw_re_match_data(void);

#endif
