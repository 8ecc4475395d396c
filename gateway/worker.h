/* Workers: threads, each with its own event loop, that own client connections and their backend
 * exchanges for life. Worker 0 is the main thread (signals, reloads, spawn/, health checks run
 * there too). What crosses threads goes through a worker's mailbox (a doorbell ev_async and a
 * few flags and lists) or through the shared state docs/design.md lists. Knows no request. */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdint.h>

#include "gateway/base/atomic.h"

#define GW_MAX_WORKERS 256

struct gw_exchange;
struct gw_conn;
struct gw_rt;

typedef struct gw_worker {
    unsigned index;
    struct ev_loop *loop;
    pthread_t thread;
    ev_async doorbell;
    /* the mailbox: written by any thread, under `lock` */
    pthread_mutex_t lock;
    struct gw_exchange *woken; /* exchanges of this worker a backlog hands capacity to */
    int flags;                 /* GW_WK_* asked of this worker (atomic) */
    /* the worker's own; other threads read the counters only, atomically */
    struct gw_rt *rt; /* the generation new requests start on (one reference) */
    struct gw_conn *conns;
    long nconns;
    uint64_t responses[6]; /* client responses by status class */
    int paused;            /* not accepting: max-connections reached */
    int running;           /* the thread's loop runs (atomic; main reads it while stopping) */
    ev_timer stop_timer;   /* graceful shutdown: until its connections are done */
    int epoll_fd;          /* its loop's epoll set, -1 if unknown (libev does not say) */
} gw_worker;

enum {
    GW_WK_SYNC = 1,    /* the generation or the listeners changed, or the server stops */
    GW_WK_RECLAIM = 2, /* requests elsewhere wait for connections this worker keeps idle */
    GW_WK_REARM = 4,   /* a peer was disabled: its waiters' timers must end when it returns */
};

extern gw_worker *gw_workers; /* [gw_nworkers]; worker 0 is the main thread */
extern unsigned gw_nworkers;
extern _Thread_local gw_worker *gw_self; /* the calling thread's worker */

/* Set up `n` workers (worker 0 on `main_loop`, the calling thread's). Threads start later. */
void gw_workers_init(unsigned n, struct ev_loop *main_loop);
/* Take `fd` out of the calling worker's epoll set at once (libev would only when it is closed,
 * or at a spurious event): the socket is about to belong to another worker. Returns 0 when that
 * cannot be done (the fd must then stay with this worker). */
int gw_worker_forget_fd(int fd);
/* Start the threads of workers 1..n-1; each runs its loop until gw_worker_stop_loop. */
void gw_workers_start(void);
/* Wait for every worker thread to end; free what workers own (at exit). */
void gw_workers_join(void);
void gw_workers_free(void);

/* Ask worker `w` for `flags` (GW_WK_*) and ring its doorbell. Any thread. */
void gw_worker_ask(gw_worker *w, int flags);
void gw_workers_ask_all(int flags);
/* The calling thread is the main thread (worker 0). */
static inline int gw_on_main(void)
{
    return gw_self->index == 0;
}

/* What a doorbell runs on the worker's own thread, set by the gateway at start-up: `sync` for
 * GW_WK_SYNC (the client side: generation, listeners, stopping), `reclaim` for GW_WK_RECLAIM,
 * `rearm` for GW_WK_REARM; woken exchanges go to the upstream engine (gw_upstream_mailbox). */
extern void (*gw_worker_on_sync)(gw_worker *w);
extern void (*gw_worker_on_reclaim)(gw_worker *w);
extern void (*gw_worker_on_rearm)(gw_worker *w);
/* Run on a worker thread when its loop ended, before its recycled objects are freed. */
extern void (*gw_worker_on_exit)(gw_worker *w);

/* The main lock: held by the main thread whenever it runs its callbacks (not while it waits
 * for events). Another worker takes it to call into what the main thread owns (spawn/, health,
 * the status of apps). No-ops on the main thread itself and with one worker. Never take it
 * while holding a pool lock. */
void gw_main_lock(void);
void gw_main_unlock(void);
/* Unlock after a call that changed what the main loop waits for (a timer, an event fed to it):
 * its doorbell rings, so it looks again now rather than at its next wake-up. */
void gw_main_unlock_wake(void);

#endif
