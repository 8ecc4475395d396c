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
    gw_listener *l = w->data;
    for (int i = 0; i < 64 && !gw_srv.stopping; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        if (gw_srv.nconns >= gw_srv.rt->srv.max_connections) return;
    }
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
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        gw_errf(err, "cannot listen on %s: %s", name, strerror(errno));
        return NULL;
    }
    int one = 1;
    if (family != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
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
    /* (listen() waits for gw_listener_start: at start-up the port takes no connection before
     * privileges are dropped and signals are handled) */
    if (bind(fd, (struct sockaddr *)&tmp.sa, tmp.salen) != 0) {
        gw_errf(err, "cannot listen on %s: %s", name, strerror(errno));
        close(fd);
        return NULL;
    }
    gw_listener *l = gw_xcalloc(1, sizeof(*l));
    l->fd = fd;
    snprintf(l->name, sizeof(l->name), "%s", name);
    if (family == AF_UNIX) {
        l->local.is_unix = 1;
        snprintf(l->local.addr, sizeof(l->local.addr), "%s", name + 5);
    } else {
        gw_endpoint_from(&l->local, (struct sockaddr *)&tmp.sa);
    }
    ev_io_init(&l->io, on_accept, fd, EV_READ);
    l->io.data = l;
    return l;
}

void gw_listener_start(gw_listener *l)
{
    if (!l->listening) {
        if (listen(l->fd, 1024) != 0) {
            gw_log(GW_LOG_ERR, "cannot listen on %s: %s", l->name, strerror(errno));
            return;
        }
        l->listening = 1;
    }
    ev_io_start(gw_srv.loop, &l->io);
}

void gw_listeners_start_all(void)
{
    gw_srv.started = 1;
    for (gw_listener *l = gw_srv.listeners; l; l = l->next) gw_listener_start(l);
}

void gw_listener_close(gw_listener *l)
{
    ev_io_stop(gw_srv.loop, &l->io);
    close(l->fd);
    if (l->local.is_unix) unlink(l->name + 5);
    free(l);
}

void gw_listeners_pause(int pause)
{
    for (gw_listener *l = gw_srv.listeners; l; l = l->next) {
        if (pause)
            ev_io_stop(gw_srv.loop, &l->io);
        else if (gw_srv.started && !gw_srv.stopping)
            gw_listener_start(l);
    }
}

/* Listeners a reload removed: closed, but connections accepted on them still point here. */
static gw_listener *retired;

void gw_listeners_free_retired(void)
{
    while (retired) {
        gw_listener *l = retired;
        retired = l->next;
        if (l->local.is_unix) unlink(l->name + 5);
        free(l);
    }
}

void gw_listeners_retire_all(void)
{
    while (gw_srv.listeners) {
        gw_listener *l = gw_srv.listeners;
        gw_srv.listeners = l->next;
        ev_io_stop(gw_srv.loop, &l->io);
        close(l->fd);
        l->fd = -1;
        l->next = retired;
        retired = l;
    }
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
    /* close the listeners that went, keep the rest, add the new ones */
    gw_listener **pp = &gw_srv.listeners;
    while (*pp) {
        gw_listener *l = *pp;
        if (!l->mark) {
            *pp = l->next;
            /* connections accepted on it keep a pointer: keep it open until exit */
            ev_io_stop(gw_srv.loop, &l->io);
            close(l->fd);
            l->fd = -1;
            l->next = retired;
            retired = l;
            continue;
        }
        pp = &l->next;
    }
    while (fresh) {
        gw_listener *next = fresh->next;
        fresh->next = gw_srv.listeners;
        gw_srv.listeners = fresh;
        if (gw_srv.started && !gw_srv.stopping) gw_listener_start(fresh);
        fresh = next;
    }
    return GW_OK;
}
