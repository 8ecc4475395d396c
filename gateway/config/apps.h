/* spawn.apps, checked and compiled at load into the settings the supervisor runs (spawn.h). */
#ifndef GW_APPS_H
#define GW_APPS_H

#include <stddef.h>

#include "gateway/config/conf.h"
#include "spawn/spawn.h"

/* Every app of the spawn.apps map `apps` (NULL: none). Returns GW_OK with *out an array of
 * *nout settings (free with gw_apps_free), or GW_ERR with *err "FILE:LINE: ...". Resolves
 * bin-path and checks users and groups; starts nothing. An app that names neither user nor
 * group runs as `user` / `group` (server.username / server.groupname; NULL: unchanged). */
int gw_apps_load(const gw_val *apps, const char *user, const char *group, spawn_conf ***out,
                 size_t *nout, char **err);
void gw_apps_free(spawn_conf **v, size_t n);
const spawn_conf *gw_apps_find(spawn_conf *const *v, size_t n, const char *name);

#endif
