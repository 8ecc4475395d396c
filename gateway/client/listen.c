/* Listening sockets and accept. Knows addresses and sockets, not HTTP. */
#include "config.h"

#include "gateway/client/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/upstream/pool.h"
#include "gateway/worker.h"

void gw_endpoint_from(gw_endpoint *ep, const struct sockaddr *sa)
{
    memset(ep, 0, sizeof(*ep));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ep->addr, sizeof(ep->addr));
        snprintf(ep->port, sizeof(ep->port), "%u", ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ep->addr, sizeof(ep->addr));
        snprintf(ep->port, sizeof(ep->port), "%u", ntohs(in6->sin6_port));
    } else {
        ep->is_unix = 1;
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    gw_lsock *ls = w->data;
    gw_listener *l = ls->l;
    for (int i = 0; i < 64 && !gw_atomic_get(&gw_srv.stopping); i++) {
        /* (max-connections counts every worker's: another may have reached it meanwhile) */
        if (gw_atomic_get(&gw_srv.nconns) >= gw_self->rt->srv.max_connections) {
            gw_listeners_limit_changed();
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) gw_log(GW_LOG_ERR, "accept on %s: %s", l->name, strerror(errno));
            return;
        }
        if (l->local.is_unix) {
            ss.ss_family = AF_UNIX;
            sl = sizeof(sa_family_t);
        }
        gw_conn_accept(l, fd, (struct sockaddr *)&ss, sl);
        if (gw_self->paused) return;
    }
}

/* A socket bound to `sa`; with `reuseport`, one of a group each worker has one of. */
static int bind_one(const gw_peer *a, int reuseport, char **err, const char *name)
{
    int family = a->sa.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        gw_errf(err, "cannot listen on %s: %s", name, strerror(errno));
        return -1;
    }
    int one = 1;
    if (family != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    /* (listen() waits for gw_listener_start: at start-up the port takes no connection before
     * privileges are dropped and signals are handled) */
    if (bind(fd, (const struct sockaddr *)&a->sa, a->salen) != 0) {
        gw_errf(err, "cannot listen on %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

gw_listener *gw_listener_open(const char *name, char **err)
{
    gw_peer tmp;
    memset(&tmp, 0, sizeof(tmp));
    char *perr = NULL;
    int bad = strncmp(name, "spawn:", 6) == 0 || gw_peer_parse(&tmp, name, &perr) != GW_OK;
    free(perr);
    if (bad) {
        gw_errf(err, "cannot listen on \"%s\": not an address", name);
        return NULL;
    }
    int family = tmp.sa.ss_family;
    if (family == AF_UNIX) {
        /* a stale socket file from an earlier run; refuse if something answers on it */
        const char *path = ((struct sockaddr_un *)&tmp.sa)->sun_path;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (probe >= 0 && connect(probe, (struct sockaddr *)&tmp.sa, tmp.salen) != 0)
                unlink(path);
            if (probe >= 0) close(probe);
        }
    }
    unsigned n = gw_nworkers;
    int group = n > 1 && family != AF_UNIX;
    if (group) { /* a port someone else holds, even with SO_REUSEPORT, is refused */
        int probe = bind_one(&tmp, 0, err, name);
        if (probe < 0) return NULL;
        close(probe);
    }
    gw_listener *l = gw_xcalloc(1, sizeof(*l));
    l->socks = gw_xcalloc(n, sizeof(gw_lsock));
    for (unsigned i = 0; i < n; i++) l->socks[i].fd = -1;
    for (unsigned i = 0; i < n; i++) {
        gw_lsock *ls = &l->socks[i];
        ls->fd = i == 0 || group ? bind_one(&tmp, group, err, name)
                                 : fcntl(l->socks[0].fd, F_DUPFD_CLOEXEC, 0);
        if (ls->fd < 0) {
            if (i > 0 && !group) gw_errf(err, "cannot listen on %s: %s", name, strerror(errno));
            for (unsigned k = 0; k < i; k++) close(l->socks[k].fd);
            if (family == AF_UNIX && i > 0) unlink(name + 5);
            free(l->socks);
            free(l);
            return NULL;
        }
        ls->l = l;
        ev_io_init(&ls->io, on_accept, ls->fd, EV_READ);
        ls->io.data = ls;
    }
    snprintf(l->name, sizeof(l->name), "%s", name);
    if (family == AF_UNIX) {
        l->local.is_unix = 1;
        snprintf(l->local.addr, sizeof(l->local.addr), "%s", name + 5);
    } else {
        gw_endpoint_from(&l->local, (struct sockaddr *)&tmp.sa);
    }
    return l;
}

/* listen() on every worker's socket (the main thread; workers then watch theirs). */
static void listen_all(gw_listener *l)
{
    if (l->listening) return;
    for (unsigned i = 0; i < gw_nworkers; i++) {
        if (listen(l->socks[i].fd, 1024) != 0) {
            gw_log(GW_LOG_ERR, "cannot listen on %s: %s", l->name, strerror(errno));
            return;
        }
        if (l->local.is_unix) break; /* (one socket, dup'ed) */
    }
    l->listening = 1;
}

void gw_listeners_start_all(void)
{
    pthread_mutex_lock(&gw_srv.lock);
    gw_atomic_set(&gw_srv.started, 1);
    for (gw_listener *l = gw_srv.listeners; l; l = l->next) listen_all(l);
    pthread_mutex_unlock(&gw_srv.lock);
    gw_workers_ask_all(GW_WK_SYNC);
}

void gw_listener_close(gw_listener *l)
{
    for (unsigned i = 0; i < gw_nworkers; i++) {
        gw_lsock *ls = &l->socks[i];
        if (ls->fd < 0) continue;
        ev_io_stop(gw_workers[i].loop, &ls->io); /* (at exit: the workers are gone) */
        close(ls->fd);
    }
    if (l->local.is_unix) unlink(l->name + 5);
    free(l->socks);
    free(l);
}

/* The calling worker's socket of `l`: watched while it accepts, closed once `l` is retired. */
static void sock_sync(gw_listener *l, int accept_now)
{
    gw_worker *w = gw_self;
    gw_lsock *ls = &l->socks[w->index];
    if (l->retired) {
        if (ls->fd < 0) return;
        ev_io_stop(w->loop, &ls->io);
        close(ls->fd);
        ls->fd = -1;
        return;
    }
    if (accept_now && l->listening && !ev_is_active(&ls->io))
        ev_io_start(w->loop, &ls->io);
    else if (!accept_now && ev_is_active(&ls->io))
        ev_io_stop(w->loop, &ls->io);
}

void gw_listeners_worker_sync(void)
{
    gw_worker *w = gw_self;
    /* (max-connections counts every worker's connections: at it, no worker accepts) */
    w->paused = w->rt && gw_atomic_get(&gw_srv.nconns) >= w->rt->srv.max_connections;
    pthread_mutex_lock(&gw_srv.lock);
    int accept_now =
        gw_atomic_get(&gw_srv.started) && !gw_atomic_get(&gw_srv.stopping) && !w->paused;
    for (gw_listener *l = gw_srv.listeners; l; l = l->next) sock_sync(l, accept_now);
    for (gw_listener *l = gw_srv.retired; l; l = l->next) sock_sync(l, 0);
    pthread_mutex_unlock(&gw_srv.lock);
}

void gw_listeners_limit_changed(void)
{
    gw_listeners_worker_sync(); /* (this worker at once, before its next accept) */
    for (unsigned i = 0; i < gw_nworkers; i++)
        if (&gw_workers[i] != gw_self) gw_worker_ask(&gw_workers[i], GW_WK_SYNC);
}

/* Retired listeners: closed, but connections accepted on them still point here. */
void gw_listeners_free_retired(void)
{
    while (gw_srv.retired) {
        gw_listener *l = gw_srv.retired;
        gw_srv.retired = l->next;
        gw_listener_close(l);
    }
}

static void retire(gw_listener *l)
{
    l->retired = 1;
    l->next = gw_srv.retired;
    gw_srv.retired = l;
}

void gw_listeners_retire_all(void)
{
    pthread_mutex_lock(&gw_srv.lock);
    while (gw_srv.listeners) {
        gw_listener *l = gw_srv.listeners;
        gw_srv.listeners = l->next;
        retire(l);
    }
    pthread_mutex_unlock(&gw_srv.lock);
    gw_workers_ask_all(GW_WK_SYNC); /* each worker closes its sockets */
}

static gw_listener *find(const char *name)
{
    for (gw_listener *l = gw_srv.listeners; l; l = l->next)
        if (strcmp(l->name, name) == 0) return l;
    return NULL;
}

int gw_listeners_sync(const gw_rt *rt, char **err)
{
    size_t n = rt->nextra + 1;
    gw_listener *fresh = NULL;
    for (gw_listener *l = gw_srv.listeners; l; l = l->next) l->mark = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = i == 0 ? rt->main_socket : rt->extra[i - 1].name;
        gw_listener *l = find(name);
        if (l) {
            l->mark = 1;
            continue;
        }
        l = gw_listener_open(name, err);
        if (l == NULL) {
            while (fresh) {
                gw_listener *next = fresh->next;
                gw_listener_close(fresh);
                fresh = next;
            }
            return GW_ERR;
        }
        l->mark = 1;
        l->next = fresh;
        fresh = l;
    }
    /* retire the listeners that went, keep the rest, add the new ones */
    pthread_mutex_lock(&gw_srv.lock);
    gw_listener **pp = &gw_srv.listeners;
    while (*pp) {
        gw_listener *l = *pp;
        if (!l->mark) {
            *pp = l->next;
            retire(l); /* (connections accepted on it keep a pointer: freed at exit) */
            continue;
        }
        pp = &l->next;
    }
    int started = gw_atomic_get(&gw_srv.started) && !gw_atomic_get(&gw_srv.stopping);
    while (fresh) {
        gw_listener *next = fresh->next;
        fresh->next = gw_srv.listeners;
        gw_srv.listeners = fresh;
        if (started) listen_all(fresh);
        fresh = next;
    }
    pthread_mutex_unlock(&gw_srv.lock);
    /* (the workers watch the new sockets, and close the retired ones, when they are told to
     * sync: after the generation that names them is theirs) */
    return GW_OK;
}
