/* spawn/'s private parts, shared by app.c (apps, sockets, sync, status) and proc.c (processes:
 * start, readiness, exit, scaling, stop). Nothing outside spawn/ includes it. */
#ifndef SPAWN_INT_H
#define SPAWN_INT_H

#include <time.h>

#include "spawn/spawn.h"

#define SPAWN_YOUNG                                                                                \
    3.0                      /* a process that dies younger than this (s) without having answered  \
                                anything (or before it was ready) failed to start */
#define SPAWN_MAX_STARTING 4 /* starts in flight per app */
#define SPAWN_TICK 0.1       /* housekeeping period (s) */
#define SPAWN_POLL 0.001     /* readiness polling while a process starts (s) */
#define SPAWN_TAIL 10        /* lines of the apps' output kept for status */
#define SPAWN_TAIL_LINE 200

/* The phases of an app's latest start, for status: when each was reached (0: not yet). */
typedef struct spawn_phases {
    uint32_t launch_id;
    pid_t pid;
    double spawned;  /* the launcher was asked */
    double execd;    /* the program runs (exec succeeded) */
    double ready;    /* it accepts connections on its socket */
    double answered; /* its first response */
    double ended;    /* it is gone (how: app->last_exit) */
} spawn_phases;

struct spawn_app {
    spawn_conf conf; /* owned copy */
    spawn_slot *slots;
    unsigned nslots;
    unsigned serial; /* unique per app object: part of default socket names */
    int refs;
    int retired;       /* no longer in the config: stops when the last reference goes */
    int changed_owed;  /* hooks.changed runs from the loop */
    unsigned failures; /* consecutive early deaths */
    double backoff_until;
    uint64_t starts, restarts;
    unsigned unreplaced; /* processes that died and were not started again yet */
    char last_exit[48];
    double last_start_seconds;
    uint64_t recycles, timeouts; /* processes replaced; requests past request-timeout */
    spawn_phases last_start;
    char tail[SPAWN_TAIL][SPAWN_TAIL_LINE]; /* the last lines its processes wrote (a ring) */
    unsigned ntail, tail_next;
    struct timespec restart_mtime; /* the restart-file's, when last looked at */
    double restart_checked;
    int restart_seen;
    struct spawn_app *next; /* every app object alive, current and retired */
};

typedef struct spawn_sup {
    struct ev_loop *loop;
    spawn_hooks hooks;
    int ctl; /* the launcher's control socket; -1 when gone */
    pid_t launcher;
    ev_io ctl_io;
    ev_timer fast; /* readiness polling while a slot starts */
    ev_timer tick; /* housekeeping */
    ev_idle kick;  /* never started: fed to run owed hooks from the loop */
    char *state_dir;
    int own_dir; /* made by us: removed at cleanup */
    spawn_app *apps;
    uint32_t next_launch;
    unsigned next_serial;
    int stopping_all;
    unsigned max_total;      /* spawn.max-procs-total: processes over every app; 0 = no budget */
    unsigned pressure_limit; /* spawn.memory-pressure (percent); 0 = ignored */
    int pressured;           /* the memory pressure is at or above it (read every second) */
} spawn_sup;

extern spawn_sup spawn_g;

static inline double spawn_now(void)
{
    return ev_now(spawn_g.loop);
}

static inline int spawn_slot_live(const spawn_slot *s)
{
    return s->state == SPAWN_SLOT_STARTING || s->state == SPAWN_SLOT_READY;
}

/* app.c */
unsigned spawn_app_live(const spawn_app *app);  /* processes starting or ready */
unsigned spawn_app_procs(const spawn_app *app); /* processes in any state, stopping included */
void spawn_app_free(spawn_app *app);
void spawn_owe_changed(spawn_app *app);
int spawn_slot_queued(const spawn_slot *s); /* connections wait in its listen queue */
void spawn_slot_drain(spawn_slot *s);       /* accept and close them (no process holds it) */

/* proc.c */
void spawn_proc_start(spawn_slot *s);
void spawn_proc_stop(spawn_slot *s, int sig);
void spawn_proc_scale(spawn_app *app);
int spawn_take_idle(spawn_slot *s);               /* out of use if nothing is in it (then 1) */
int spawn_slot_address_busy(const spawn_slot *s); /* another app object's process holds it */
void spawn_proc_on_ctl(struct ev_loop *loop, ev_io *w, int revents);
void spawn_proc_on_fast(struct ev_loop *loop, ev_timer *w, int revents);
void spawn_proc_on_tick(struct ev_loop *loop, ev_timer *w, int revents);
void spawn_proc_close_logs(void); /* (exit) */

/* recycle.c */
void spawn_recycle_started(spawn_slot *s); /* a process starts in the slot */
void spawn_recycle_ready(spawn_slot *s);   /* it is ready: the one it replaces drains */
void spawn_recycle_exited(spawn_slot *s);  /* it is gone */
void spawn_recycle_tick(spawn_app *app, double now);
void spawn_recycle_rss(double now);
/* Every process of the app is to be replaced (restart-file, a reload that changed it). */
void spawn_recycle_all(spawn_app *app, const char *why);
void spawn_read_pressure(double now);
unsigned spawn_app_serving(const spawn_app *app); /* live, not draining, not a replacement */
/* The budget (spawn.max-procs-total) is full: may `app` start one more process now? If not,
 * the longest-idle process of another app above its min-procs may have been asked to stop. */
int spawn_budget_allows(spawn_app *app);

#endif
