/* Recycling: a process is replaced without an outage when it has served max-requests, lived
 * max-lifetime, grown past max-rss, when the app's restart-file changes, or when one of its
 * requests ran past request-timeout. The replacement starts in a free slot (restart-surge
 * extra slots beyond max-procs), and only once it is ready does the old process stop taking
 * requests; it stops when the last of its requests is over. A replacement that fails to start
 * leaves the old process serving (it is tried again after the app's back-off). Main loop. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "spawn/argv.h"
#include "spawn/spawn_int.h"

#define RECYCLE_JITTER 0.1  /* a limit is reached up to 10% later, per process */
#define RSS_PERIOD 1.0      /* max-rss: resident sizes read every second */
#define RESTART_PERIOD 1.0  /* restart-file: looked at every second */
#define PRESSURE_PERIOD 1.0 /* memory pressure: read every second */

static const char WHY_TIMEOUT[] = "request-timeout";

static double jitter(void)
{
    return 1 + RECYCLE_JITTER * drand48();
}

void spawn_recycle_started(spawn_slot *s)
{
    const spawn_conf *c = &s->app->conf;
    s->recycle = NULL;
    s->successor = s->replacing = NULL;
    s->draining = 0;
    s->rss = 0;
    s->recycle_after = c->max_requests ? (uint64_t)((double)c->max_requests * jitter()) : 0;
    s->recycle_at = c->max_lifetime > 0 ? s->started_at + c->max_lifetime * jitter() : 0;
}

/* Live and taking requests (or about to), not on its way out. */
static int serving(const spawn_slot *s)
{
    return spawn_slot_live(s) && !s->draining;
}

unsigned spawn_app_serving(const spawn_app *app)
{
    unsigned n = 0;
    for (unsigned i = 0; i < app->nslots; i++)
        n += serving(&app->slots[i]) && app->slots[i].replacing == NULL;
    return n;
}

/* Take the process out of use; it stops once nothing of portico's is in it. */
static void drain(spawn_slot *s)
{
    int was = s->usable;
    s->draining = 1;
    s->drain_since = spawn_now();
    spawn_set_usable(s, 0); /* (before the count is read: spawn_slot_acquire) */
    if (spawn_g.hooks.stopping) spawn_g.hooks.stopping(s);
    if (was) spawn_owe_changed(s->app);
    if (s->successor) s->successor->replacing = NULL;
    if (s->replacing) s->replacing->successor = NULL; /* (a replacement drained itself) */
    s->successor = s->replacing = NULL;
    s->app->recycles++;
}

/* A draining process with nothing in flight stops (at once when it was stuck), and one with
 * requests still in it (an upgraded connection, a long poll) once drain-timeout is over. */
static void stop_drained(spawn_slot *s)
{
    if (!s->draining || s->state == SPAWN_SLOT_STOPPING) return;
    if (spawn_slot_inflight(s) > 0) {
        if (spawn_now() < s->drain_since + s->app->conf.drain_timeout) return;
        gw_log(GW_LOG_WARN,
               "app %s[%ld]: %u requests still in it %.0f s after it was replaced "
               "(drain-timeout): stopped anyway",
               s->app->conf.name, (long)s->pid, spawn_slot_inflight(s), s->app->conf.drain_timeout);
    }
    int hard = s->recycle == WHY_TIMEOUT;
    gw_log(GW_LOG_INFO, "app %s[%ld]: replaced (%s): stopping", s->app->conf.name, (long)s->pid,
           s->recycle ? s->recycle : "recycled");
    spawn_proc_stop(s, hard ? SIGKILL : s->app->conf.kill_signal);
}

void spawn_recycle_ready(spawn_slot *s)
{
    spawn_slot *old = s->replacing;
    if (old == NULL) return;
    s->replacing = NULL;
    drain(old);
    stop_drained(old);
}

void spawn_recycle_exited(spawn_slot *s)
{
    if (s->replacing) { /* a replacement that died: the old process goes on serving */
        spawn_slot *old = s->replacing;
        old->successor = NULL;
        gw_log(GW_LOG_WARN, "app %s[%ld]: its replacement did not start; it keeps serving",
               s->app->conf.name, (long)old->pid);
    }
    if (s->successor) s->successor->replacing = NULL; /* (it serves as a process of its own) */
    s->successor = s->replacing = NULL;
    s->recycle = NULL;
    s->draining = 0;
}

void spawn_slot_timed_out(spawn_slot *s)
{
    s->app->timeouts++;
    /* (a process still starting is slow to boot, not stuck: killing it would only start the
     * boot again) */
    if (s->draining || s->state != SPAWN_SLOT_READY) return;
    s->recycle = WHY_TIMEOUT;
    drain(s); /* a stuck process is not left serving until a replacement is ready */
}

static void mark(spawn_slot *s, const char *why)
{
    if (s->recycle || s->draining || !spawn_slot_live(s) || s->replacing) return;
    s->recycle = why;
    s->marked_at = spawn_now();
    gw_log(GW_LOG_INFO, "app %s[%ld]: to be replaced (%s)", s->app->conf.name, (long)s->pid, why);
}

void spawn_recycle_all(spawn_app *app, const char *why)
{
    gw_log(GW_LOG_INFO, "app %s: %s: replacing %u processes, %u at a time", app->conf.name, why,
           spawn_app_serving(app), app->conf.restart_surge);
    for (unsigned i = 0; i < app->nslots; i++) {
        spawn_slot *s = &app->slots[i];
        if (s->replacing && s->state == SPAWN_SLOT_STARTING) {
            /* (started before this: it would run what it replaces; it took no request) */
            s->replacing->successor = NULL;
            s->replacing = NULL;
            spawn_proc_stop(s, SIGKILL);
            continue;
        }
        mark(s, why);
    }
}

/* An empty slot for a replacement; NULL, with *soon set when a process is on its way out (its
 * slot is free in a moment). */
static spawn_slot *free_slot(spawn_app *app, int *soon)
{
    *soon = 0;
    for (unsigned i = 0; i < app->nslots; i++) {
        spawn_slot *s = &app->slots[i];
        if (s->state == SPAWN_SLOT_EMPTY && !spawn_slot_address_busy(s)) return s;
        *soon |= s->state == SPAWN_SLOT_STOPPING || s->draining;
    }
    return NULL;
}

/* Has the restart-file's mtime changed since it was last seen? (Its first sight, or its absence,
 * is no change: only a touch after the app started restarts it.) */
static int restart_touched(spawn_app *app, double now)
{
    const char *path = app->conf.restart_file;
    if (path == NULL || now < app->restart_checked + RESTART_PERIOD) return 0;
    app->restart_checked = now;
    struct stat st;
    struct timespec m = {0, 0};
    if (stat(path, &st) == 0) m = st.st_mtim;
    int changed = app->restart_seen && (m.tv_sec != app->restart_mtime.tv_sec ||
                                        m.tv_nsec != app->restart_mtime.tv_nsec);
    changed &= m.tv_sec != 0 || m.tv_nsec != 0; /* (removed: nothing to do) */
    app->restart_mtime = m;
    app->restart_seen = 1;
    return changed;
}

void spawn_recycle_tick(spawn_app *app, double now)
{
    const spawn_conf *c = &app->conf;
    if (restart_touched(app, now)) spawn_recycle_all(app, "restart-file");
    unsigned starting = 0;
    for (unsigned i = 0; i < app->nslots; i++) {
        spawn_slot *s = &app->slots[i];
        stop_drained(s);
        if (s->replacing && s->state == SPAWN_SLOT_STARTING) starting++;
        if (s->state != SPAWN_SLOT_READY) continue;
        if (s->recycle_after && gw_atomic_get(&s->requests) >= s->recycle_after)
            mark(s, "max-requests");
        if (s->recycle_at > 0 && now >= s->recycle_at) mark(s, "max-lifetime");
        if (c->max_rss && s->rss > c->max_rss && !s->recycle) {
            gw_log(GW_LOG_INFO, "app %s[%ld]: %.1f MiB resident, above max-rss (%llu MiB)", c->name,
                   (long)s->pid, (double)s->rss / 1048576, (unsigned long long)(c->max_rss >> 20));
            mark(s, "max-rss");
        }
    }
    if (app->retired || spawn_g.stopping_all || app->backoff_until > now) return;
    while (starting < c->restart_surge) {
        spawn_slot *s = NULL; /* the one marked first (a process marked later waits its turn) */
        for (unsigned i = 0; i < app->nslots; i++) {
            spawn_slot *t = &app->slots[i];
            if (t->recycle && !t->successor && !t->draining && t->state == SPAWN_SLOT_READY &&
                (s == NULL || t->marked_at < s->marked_at))
                s = t;
        }
        if (s == NULL) return;
        int soon;
        spawn_slot *to = free_slot(app, &soon);
        if (to == NULL && soon) return; /* (a replaced process is on its way out) */
        if (to == NULL) {               /* (every slot holds a serving process): it goes first */
            drain(s);
            stop_drained(s);
            continue;
        }
        spawn_proc_start(to);
        if (to->state == SPAWN_SLOT_EMPTY) return; /* (it could not be launched) */
        spawn_set_usable(to, 0); /* (it takes requests once it is ready: mark_ready) */
        to->replacing = s;
        s->successor = to;
        starting++;
    }
}

/* ---- spawn.max-procs-total: a budget over every app ---- */

void spawn_set_host_limits(unsigned max_total, unsigned pressure)
{
    spawn_g.max_total = max_total;
    spawn_g.pressure_limit = pressure;
}

/* ---- memory pressure (PSI) ---- */

void spawn_read_pressure(double now)
{
    static double last;
    if (spawn_g.pressure_limit == 0 || now < last + PRESSURE_PERIOD) return;
    last = now;
    char buf[512];
    double avg10;
    FILE *f = fopen("/proc/pressure/memory", "re");
    if (f == NULL) return; /* (a kernel without PSI) */
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (spawn_psi_some_avg10(buf, &avg10) != 0) return;
    int was = spawn_g.pressured;
    spawn_g.pressured = avg10 >= spawn_g.pressure_limit;
    if (spawn_g.pressured != was)
        gw_log(spawn_g.pressured ? GW_LOG_WARN : GW_LOG_INFO,
               "memory pressure %.1f%% (spawn.memory-pressure %u%%): %s", avg10,
               spawn_g.pressure_limit,
               spawn_g.pressured ? "app processes above min-procs stop after a second idle"
                                 : "over, idle processes stop after idle-timeout again");
}

int spawn_budget_allows(spawn_app *app)
{
    if (spawn_g.max_total == 0) return 1;
    unsigned total = 0, leaving = 0;
    spawn_slot *idlest = NULL;
    for (spawn_app *a = spawn_g.apps; a; a = a->next) {
        total += spawn_app_procs(a);
        unsigned floor = a->retired ? 0 : a->conf.min_procs;
        int spare = a != app && spawn_app_serving(a) > floor;
        for (unsigned i = 0; i < a->nslots; i++) {
            spawn_slot *s = &a->slots[i];
            leaving += s->state == SPAWN_SLOT_STOPPING;
            if (spare && s->state == SPAWN_SLOT_READY && !s->draining && !s->replacing &&
                spawn_slot_inflight(s) == 0 &&
                (idlest == NULL || spawn_slot_idle_since(s) < spawn_slot_idle_since(idlest)))
                idlest = s;
        }
    }
    if (total < spawn_g.max_total) return 1;
    /* full: a process on its way out frees a place soon; else make one */
    if (leaving > 0 || idlest == NULL || !spawn_take_idle(idlest)) return 0;
    gw_log(GW_LOG_INFO, "app %s[%ld]: stopped to make room for app %s (spawn.max-procs-total %u)",
           idlest->app->conf.name, (long)idlest->pid, app->conf.name, spawn_g.max_total);
    spawn_proc_stop(idlest, idlest->app->conf.kill_signal);
    return 0;
}

/* ---- max-rss: the resident size of each process and everything it started ---- */

#define RSS_TREE_MAX 256 /* processes counted under one slot's process, at most */

/* Resident bytes of `pid` (statm's second field, in pages). */
static uint64_t rss_of(pid_t pid, long page)
{
    char path[64];
    unsigned long size = 0, resident = 0;
    snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) return 0;
    int ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    return ok ? (uint64_t)resident * (uint64_t)page : 0;
}

/* The resident size of a slot's process and everything it started (php-cgi's children, a
 * forking server's workers): its tree, through each thread's children list. Only the apps'
 * own processes are read, never the whole of /proc. */
static uint64_t rss_of_tree(pid_t root, long page)
{
    pid_t pending[RSS_TREE_MAX];
    size_t n = 0, seen = 0;
    uint64_t sum = 0;
    pending[n++] = root;
    while (n > 0 && seen < RSS_TREE_MAX) {
        pid_t pid = pending[--n];
        seen++;
        sum += rss_of(pid, page);
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
        DIR *d = opendir(path);
        if (d == NULL) continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!isdigit((unsigned char)e->d_name[0])) continue;
            char cpath[300];
            snprintf(cpath, sizeof(cpath), "/proc/%ld/task/%s/children", (long)pid, e->d_name);
            FILE *f = fopen(cpath, "re");
            if (f == NULL) continue;
            long child;
            while (n < RSS_TREE_MAX && fscanf(f, "%ld", &child) == 1) pending[n++] = (pid_t)child;
            fclose(f);
        }
        closedir(d);
    }
    return sum;
}

static void read_rss(void)
{
    long page = sysconf(_SC_PAGESIZE);
    for (spawn_app *a = spawn_g.apps; a; a = a->next) {
        if (a->conf.max_rss == 0) continue;
        for (unsigned i = 0; i < a->nslots; i++) {
            spawn_slot *s = &a->slots[i];
            s->rss = spawn_slot_live(s) && s->pid > 0 ? rss_of_tree(s->pid, page) : 0;
        }
    }
}

void spawn_recycle_rss(double now)
{
    static double last;
    if (now < last + RSS_PERIOD) return;
    last = now;
    read_rss();
}
