/* Worker threads: their loops, their mailboxes, and the main lock. What a worker does with a
 * doorbell is the gateway's (hooks) and the upstream engine's (woken exchanges). */
#include "config.h"

#include "gateway/worker.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <string.h>

#include "gateway/base/alloc.h"
#include "gateway/base/buf.h"
#include "gateway/upstream/upstream.h"

static gw_worker worker0 = {.lock = PTHREAD_MUTEX_INITIALIZER, .running = 1, .epoll_fd = -1};
gw_worker *gw_workers = &worker0;
unsigned gw_nworkers = 1;
_Thread_local gw_worker *gw_self = &worker0;

void (*gw_worker_on_sync)(gw_worker *w);
void (*gw_worker_on_reclaim)(gw_worker *w);
void (*gw_worker_on_rearm)(gw_worker *w);
void (*gw_worker_on_exit)(gw_worker *w);

static pthread_mutex_t main_lock = PTHREAD_MUTEX_INITIALIZER;

/* The main loop holds the main lock except while it waits for events. */
static void main_release(struct ev_loop *loop)
{
    pthread_mutex_unlock(&main_lock);
}

static void main_acquire(struct ev_loop *loop)
{
    pthread_mutex_lock(&main_lock);
}

void gw_main_lock(void)
{
    if (gw_nworkers > 1 && !gw_on_main()) pthread_mutex_lock(&main_lock);
}

void gw_main_unlock(void)
{
    if (gw_nworkers > 1 && !gw_on_main()) pthread_mutex_unlock(&main_lock);
}

void gw_main_unlock_wake(void)
{
    if (gw_nworkers == 1 || gw_on_main()) return;
    pthread_mutex_unlock(&main_lock);
    ev_async_send(gw_workers[0].loop, &gw_workers[0].doorbell);
}

static void on_doorbell(struct ev_loop *loop, ev_async *a, int revents)
{
    gw_worker *w = a->data;
    int fl = __atomic_exchange_n(&w->flags, 0, __ATOMIC_ACQ_REL);
    if ((fl & GW_WK_SYNC) && gw_worker_on_sync) gw_worker_on_sync(w);
    if ((fl & GW_WK_RECLAIM) && gw_worker_on_reclaim) gw_worker_on_reclaim(w);
    if ((fl & GW_WK_REARM) && gw_worker_on_rearm) gw_worker_on_rearm(w);
    gw_upstream_mailbox(w);
}

/* The epoll descriptors open now (libev keeps its loop's to itself: a new loop's is the one
 * that appears when it is made). */
static int eventpoll_fds(int *fds, int cap)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        char path[300], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(path, target, sizeof(target) - 1);
        if (k < 0) continue;
        target[k] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0) fds[n++] = atoi(e->d_name);
    }
    closedir(d);
    return n;
}

/* The one epoll descriptor in `after` that is not in `before`, or -1. */
static int new_epoll_fd(const int *before, int nb, const int *after, int na)
{
    int found = -1;
    for (int i = 0; i < na; i++) {
        int known = 0;
        for (int k = 0; k < nb; k++) known |= before[k] == after[i];
        if (known) continue;
        if (found >= 0) return -1;
        found = after[i];
    }
    return found;
}

int gw_worker_forget_fd(int fd)
{
    gw_worker *w = gw_self;
    if (w->epoll_fd < 0 || ev_backend(w->loop) != EVBACKEND_EPOLL) return 0;
    /* (ENOENT: not in the set known here, which libev may have rebuilt on a new descriptor;
     * the fd stays with this worker then) */
    return epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, fd, NULL) == 0;
}

static void worker_setup(gw_worker *w, unsigned index, struct ev_loop *loop)
{
    w->index = index;
    w->loop = loop;
    ev_async_init(&w->doorbell, on_doorbell);
    w->doorbell.data = w;
    ev_async_start(loop, &w->doorbell);
    w->running = 1;
}

void gw_workers_init(unsigned n, struct ev_loop *main_loop)
{
    if (n < 1) n = 1;
    if (n > 1) {
        gw_workers = gw_xcalloc(n, sizeof(gw_worker));
        for (unsigned i = 0; i < n; i++) pthread_mutex_init(&gw_workers[i].lock, NULL);
        gw_self = &gw_workers[0];
    }
    gw_nworkers = n;
    int before[64], after[64];
    int nb = eventpoll_fds(before, 64);
    worker_setup(&gw_workers[0], 0, main_loop);
    gw_workers[0].epoll_fd = nb == 1 ? before[0] : -1; /* (the main loop's, made first) */
    for (unsigned i = 1; i < n; i++) {
        worker_setup(&gw_workers[i], i, ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK));
        int na = eventpoll_fds(after, 64);
        gw_workers[i].epoll_fd = new_epoll_fd(before, nb, after, na);
        memcpy(before, after, sizeof(after));
        nb = na;
    }
    if (n > 1) {
        pthread_mutex_lock(&main_lock);
        ev_set_loop_release_cb(main_loop, main_release, main_acquire);
    }
}

static void *worker_main(void *arg)
{
    gw_worker *w = arg;
    gw_self = w;
    sigset_t all; /* signals are the main thread's */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    ev_run(w->loop, 0);
    if (gw_worker_on_exit) gw_worker_on_exit(w);
    gw_upstream_pool_trim(); /* (this thread's recycled objects) */
    gw_blk_pool_trim();
    gw_atomic_set(&w->running, 0);
    gw_worker_ask(&gw_workers[0], GW_WK_SYNC); /* the main thread counts the workers left */
    return NULL;
}

void gw_workers_start(void)
{
    for (unsigned i = 1; i < gw_nworkers; i++) {
        /* the sync hook starts the worker's listeners on its own thread */
        gw_workers[i].flags = GW_WK_SYNC;
        ev_async_send(gw_workers[i].loop, &gw_workers[i].doorbell);
        int rc = pthread_create(&gw_workers[i].thread, NULL, worker_main, &gw_workers[i]);
        if (rc != 0) {
            fprintf(stderr, "portico: cannot start worker thread %u: %s\n", i, strerror(rc));
            abort();
        }
    }
}

void gw_workers_join(void)
{
    if (gw_nworkers == 1) return;
    pthread_mutex_unlock(&main_lock); /* (the loop no longer runs: nothing else to guard) */
    ev_set_loop_release_cb(gw_workers[0].loop, NULL, NULL);
    for (unsigned i = 1; i < gw_nworkers; i++) pthread_join(gw_workers[i].thread, NULL);
}

void gw_workers_free(void)
{
    for (unsigned i = 1; i < gw_nworkers; i++) {
        ev_async_stop(gw_workers[i].loop, &gw_workers[i].doorbell);
        ev_loop_destroy(gw_workers[i].loop);
        pthread_mutex_destroy(&gw_workers[i].lock);
    }
    ev_async_stop(gw_workers[0].loop, &gw_workers[0].doorbell);
    if (gw_workers != &worker0) {
        pthread_mutex_destroy(&gw_workers[0].lock);
        free(gw_workers);
        gw_workers = &worker0;
        gw_self = &worker0;
    }
    gw_nworkers = 1;
}

void gw_worker_ask(gw_worker *w, int flags)
{
    __atomic_fetch_or(&w->flags, flags, __ATOMIC_ACQ_REL);
    ev_async_send(w->loop, &w->doorbell);
}

void gw_workers_ask_all(int flags)
{
    for (unsigned i = 0; i < gw_nworkers; i++) gw_worker_ask(&gw_workers[i], flags);
}
