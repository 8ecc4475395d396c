/* spawn/: apps as sets of process slots. Each slot has its own listening socket, made before the
 * first process and kept for the app's life; the supervisor starts processes through the
 * launcher (launch.h), watches, scales and stops them on the main loop, and never blocks it.
 * It never sees a request or a pool: the gateway counts requests in and out of a slot and says
 * when requests wait; spawn/ calls back when slots change. Uses base and libev only. */
#ifndef SPAWN_H
#define SPAWN_H

#include <ev.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "gateway/base/atomic.h"
#include "gateway/base/buf.h"
#include "spawn/launch.h"

/* One app's settings, checked by the config layer (FILE:LINE errors are its business). */
typedef struct spawn_conf {
    char *name;
    char **argv;  /* NULL-terminated; argv[0] resolved; "{socket}"/"{port}" still in */
    char *socket; /* NULL: unix sockets in the state dir; "unix:/path" (a prefix: slot i is
                     "/path.i") or "host:port" (slot i on port + i) */
    struct sockaddr_storage sock_sa; /* a TCP `socket`, parsed: slot 0's address */
    socklen_t sock_salen;
    int pass; /* enum spawn_pass */
    unsigned concurrency, min_procs, max_procs;
    double idle_timeout, start_timeout, stop_timeout;
    int kill_signal;
    int kill_main;   /* kill-mode "main": kill-signal to the process alone (a pre-fork server
                        stops its own workers); else to its whole process group */
    char **env;      /* "NAME=value" from "environment", NULL-terminated */
    char **copy_env; /* names from "copy-environment", NULL-terminated; NULL: PATH only */
    char *user, *group;
    /* recycling: a process past one of these is replaced by a new one, which is ready before
     * the old one stops taking requests (0: none) */
    uint64_t max_requests;  /* requests served (up to 10% more, chosen per process) */
    double max_lifetime;    /* seconds since start (up to 10% more, chosen per process) */
    uint64_t max_rss;       /* bytes resident, the process and everything it started */
    char *restart_file;     /* NULL: none; a change of its mtime replaces every process */
    unsigned restart_surge; /* replacements started at a time (extra slots beyond max-procs) */
    double request_timeout; /* a request longer than this: 504, and its process is replaced */
    double drain_timeout;   /* a replaced process still busy after this long is stopped anyway */
    char *fingerprint;      /* every setting in one string: equal strings are the same app */
} spawn_conf;

void spawn_conf_free(spawn_conf *c);
/* Process slots of an app: max-procs, plus restart-surge for replacements (a replacement starts
 * beside the process it replaces: recycling, restart-file, a reload that changes the app). */
static inline unsigned spawn_conf_nslots(const spawn_conf *c)
{
    return c->max_procs + c->restart_surge;
}

typedef struct spawn_app spawn_app;

enum spawn_slot_state {
    SPAWN_SLOT_EMPTY,    /* no process */
    SPAWN_SLOT_STARTING, /* spawned, has not accepted a connection yet */
    SPAWN_SLOT_READY,
    SPAWN_SLOT_STOPPING /* signalled; takes nothing new */
};

/* A process slot. The first fields are what the gateway reads on its hot path (pool.h), from
 * any worker thread, atomically; it changes inflight only through spawn_slot_acquire /
 * spawn_slot_release, and conns and idle are its own. */
typedef struct spawn_slot {
    int usable; /* (atomic) a process that takes requests: starting (when its socket is
                   portico's) or ready, and not stopping */
    unsigned
        inflight; /* (atomic) portico's requests on this slot, over every pool and generation */
    unsigned cap; /* the app's concurrency */
    double request_timeout; /* the app's: a request on it longer than this is answered 504 and
                               the process replaced (0: none) */
    unsigned conns;         /* (atomic, the gateway's) open connections, for a protocol whose kept
                               connection holds the process (FastCGI): bounded by cap */
    unsigned idle;          /* (atomic, the gateway's) of those, idle kept-alive ones */
    spawn_app *app;
    unsigned index;
    int state; /* enum spawn_slot_state */
    int lfd;   /* the listening socket; -1 with pass-socket "argument" */
    struct sockaddr_storage sa;
    socklen_t salen;
    char addr[128];    /* "unix:/path" or "host:port", for status and logs */
    char sockarg[128]; /* what "{socket}" becomes */
    char port[8];      /* what "{port}" becomes ("" for unix) */
    int owns_path;     /* unlink the unix socket file when closing */
    dev_t path_dev;    /* the file it bound: unlinked only while the path still names it */
    ino_t path_ino;    /* (with path_dev) */
    pid_t pid;         /* 0: none yet (EMPTY, or the launcher has not answered) */
    uint32_t launch_id;
    double started_at, ready_at, stop_deadline;
    double idle_since;         /* (atomic: spawn_slot_idle_since) */
    uint64_t requests;         /* (atomic) served by the current process */
    unsigned restarts;         /* processes started in this slot after one died */
    char last_exit[48];        /* how its previous process ended ("" if none did) */
    int probe_fd;              /* argument mode: the connect that tells the app listens */
    int kill_owed;             /* a stop was asked before the launcher told the pid */
    int timed_out;             /* killed for not getting ready within start-timeout */
    int answered;              /* (atomic) the current process has sent a response */
    struct spawn_logpipe *log; /* the current process's stdout/stderr, while it is read */
    /* recycling (proc.c) */
    const char *recycle;          /* why the process is to be replaced; NULL: it is not */
    struct spawn_slot *successor; /* its replacement, while that starts */
    struct spawn_slot *replacing; /* (of a replacement) the slot it replaces */
    int draining;                 /* replaced: takes nothing new, stops when nothing is in it */
    double marked_at;             /* when `recycle` was set (the first marked goes first) */
    double drain_since;           /* when it began to drain */
    uint64_t recycle_after;       /* max-requests for this process, jitter included */
    double recycle_at;            /* max-lifetime for this process: when (0: never) */
    uint64_t rss;                 /* bytes resident at the last look (max-rss) */
} spawn_slot;

static inline unsigned spawn_slot_inflight(const spawn_slot *s)
{
    return __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST);
}

static inline double spawn_slot_idle_since(const spawn_slot *s)
{
    return gw_atomic_get_double(&s->idle_since);
}

static inline void spawn_slot_set_idle_since(spawn_slot *s, double t)
{
    gw_atomic_set_double(&s->idle_since, t);
}

static inline void spawn_set_usable(spawn_slot *s, int usable)
{
    __atomic_store_n(&s->usable, usable, __ATOMIC_SEQ_CST);
}

/* What spawn/ tells the gateway. All run on the main loop, never inside a spawn_* call made by
 * the gateway. */
typedef struct spawn_hooks {
    /* Slots of `app` became usable or unusable, or its back-off began or ended: re-examine the
     * requests waiting for it (dispatch them, or fail them when spawn_app_waitable says no). */
    void (*changed)(spawn_app *app);
    /* `slot` is about to be signalled: drop idle kept-alive connections to it. */
    void (*stopping)(spawn_slot *slot);
    /* How many requests wait for `app` now (in every pool bound to it). */
    unsigned (*waiting)(spawn_app *app);
} spawn_hooks;

/* Every other spawn_* call, and every field not marked atomic above: the main thread, or
 * another thread holding the gateway's main lock. */

/* Start the supervisor: fork the launcher (call early, single-threaded), make the state dir
 * (mkdtemp under $TMPDIR or /tmp when state_dir is NULL). Returns 0, or -1 with *err. */
int spawn_init(struct ev_loop *loop, const char *state_dir, const spawn_hooks *hooks, char **err);

/* Make the running apps what `confs` says, in two steps for a caller that has more to do that
 * may fail. prepare makes the new app objects and their sockets and changes nothing that runs
 * (NULL with *err when a socket cannot be made); commit then makes it so, abort undoes it.
 * `confs` must outlive the plan. An app whose fingerprint is unchanged is kept with its
 * processes and sockets. A changed app whose slots stay as they are (socket, pass-socket,
 * max-procs, restart-surge, concurrency, request-timeout) is kept too and takes the new
 * settings; when what its processes run changed (command, environment, user, group) they are
 * replaced one by one, each new one ready before the old one stops (a new one that does not
 * start leaves the old one serving). Any other change, or a new app, makes a new app object
 * (its processes started ahead, as many as the old one runs, at least min-procs); a changed or
 * removed one is retired: it keeps serving what still refers to it and stops when the last
 * reference is gone. */
typedef struct spawn_plan spawn_plan;
spawn_plan *spawn_sync_prepare(const spawn_conf *const *confs, size_t n, char **err);
void spawn_sync_commit(spawn_plan *plan);
/* Limits over every app. spawn.max-procs-total `max_total` (0: none): at most this many
 * processes, replacements aside; an app that needs one while the budget is full gets another
 * app's longest-idle process above its min-procs stopped first. spawn.memory-pressure
 * `pressure` (percent, 0: ignored): while the kernel's memory pressure (PSI "some avg10") is at
 * or above it, processes above min-procs stop after a second idle. */
void spawn_set_host_limits(unsigned max_total, unsigned pressure);
void spawn_sync_abort(spawn_plan *plan);

/* The current app of that name, or NULL. */
spawn_app *spawn_app_find(const char *name);
void spawn_app_ref(spawn_app *app);
/* The last reference to a retired app stops its processes and closes its sockets. */
void spawn_app_unref(spawn_app *app);

const char *spawn_app_name(const spawn_app *app);
unsigned spawn_app_nslots(const spawn_app *app);
spawn_slot *spawn_app_slot(spawn_app *app, unsigned i);
/* How long a request may wait for a cold app: its start-timeout while none of its processes is
 * ready, else 0 (the route's backlog-timeout applies). */
double spawn_app_cold_wait(const spawn_app *app);

/* Seconds until the app's back-off ends, while it has no live process (what a client should
 * wait before trying again); 0 otherwise. */
double spawn_app_retry_in(const spawn_app *app);

/* Requests wait for `app` and no usable slot has room: start processes as the settings allow. */
void spawn_app_demand(spawn_app *app);
/* Can a waiting request expect a process? 0 while the app is in back-off with no live process
 * (its requests should get 503 at once). */
int spawn_app_waitable(const spawn_app *app);

/* A request is sent to the slot / is over with it. Any thread, without a lock. acquire returns
 * 0, counting nothing, when the slot is not usable (an idle stop took it a moment ago) or, with
 * `capped`, when its in-flight count is at cap. */
int spawn_slot_acquire(spawn_slot *s, int capped);
void spawn_slot_release(spawn_slot *s);
/* A connect to the slot was refused: with pass-socket "argument" its process no longer listens
 * (it is dying, or restarting its listener); the slot takes nothing until it listens again. */
void spawn_slot_refused(spawn_slot *s);
/* A response came from the slot: its process is surely ready. */
void spawn_slot_answered(spawn_slot *s);
/* A request on the slot ran past the app's request-timeout (and was answered 504): the process
 * is replaced; it takes nothing new and stops as soon as its other requests are over (no
 * other request fails). Main thread or main lock. */
void spawn_slot_timed_out(spawn_slot *s);

/* Status: the apps as JSON array items for the status page, and Prometheus text for the
 * metrics page, appended to `out`. */
void spawn_status_json(gw_bufq *out);
void spawn_status_metrics(gw_bufq *out);

/* Shutdown: signal every process (kill-signal, SIGKILL after stop-timeout). Returns the number
 * of processes still alive; run the loop until it is 0. */
unsigned spawn_stop_all(void);
unsigned spawn_live(void);
/* Close every socket, remove the state dir, let the launcher go (it kills what is left). */
void spawn_cleanup(void);

#endif
