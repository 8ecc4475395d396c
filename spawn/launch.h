/* The launcher: a small helper process forked at start-up, before the event loop has grown. It
 * forks and execs the app processes, signals their process groups and reaps them, and reports to
 * portico over a SOCK_SEQPACKET socket pair. When portico's end closes (portico exited, even by
 * SIGKILL) it kills every process group it started and every descendant reparented to it, reaps
 * them and exits: nothing portico started outlives it. Knows no config, no loop, no request. */
#ifndef SPAWN_LAUNCH_H
#define SPAWN_LAUNCH_H

#include <stdint.h>
#include <sys/types.h>

/* How the app gets its socket (spawn.apps "pass-socket"). */
enum spawn_pass {
    SPAWN_PASS_FD0,        /* the listening socket is fd 0 (FastCGI convention) */
    SPAWN_PASS_LISTEN_FDS, /* systemd socket activation: fd 3, LISTEN_FDS=1, LISTEN_PID,
                              LISTEN_FDNAMES */
    SPAWN_PASS_ARGUMENT    /* the app binds the address itself; fd 0 is /dev/null */
};

typedef struct spawn_launch {
    uint32_t id;        /* the caller's handle, echoed in the events of this process */
    char *const *argv;  /* NULL-terminated; argv[0] is the absolute path executed */
    char *const *envp;  /* NULL-terminated: the whole environment (the child adds LISTEN_PID) */
    int pass;           /* enum spawn_pass */
    int sock_fd;        /* the listening socket (FD0, LISTEN_FDS); -1 for ARGUMENT */
    const char *fdname; /* LISTEN_FDNAMES value (LISTEN_FDS) */
    int log_fd;         /* becomes the child's fds 1 and 2 (a pipe portico reads) */
    const char *user;   /* NULL: keep the launcher's; switched only when it runs as root */
    const char *group;  /* NULL: the user's primary group (or keep) */
} spawn_launch;

enum spawn_ev_type {
    SPAWN_EV_STARTED, /* exec succeeded: pid runs the app */
    SPAWN_EV_FAILED,  /* the child could not be set up or exec'd; already reaped, no EXITED */
    SPAWN_EV_EXITED   /* the process exited; the rest of its process group was killed */
};

typedef struct spawn_event {
    int type;
    uint32_t id;
    pid_t pid;
    int status;    /* EXITED: the wait status */
    int err;       /* FAILED: errno of the step that failed */
    char what[96]; /* FAILED: the step, e.g. "exec /usr/bin/php-cgi", "setuid www-data" */
} spawn_event;

/* Fork the launcher. *ctl gets portico's end (non-blocking, close-on-exec), *pid the launcher's
 * pid. Call once, early, from a single-threaded process. Returns 0, or -1 with *err set. */
int spawn_launcher_start(int *ctl, pid_t *pid, char **err);

/* Ask the launcher to start a process. The fds are passed over (the caller keeps its own).
 * Returns 0, or -1 with *err set (the message would be over 64 KiB, or the launcher is gone).
 * The 64 KiB count the strings (argv, envp, fdname, user, group, each with its NUL) and a
 * 32-byte header. sock_fd is required for FD0 and LISTEN_FDS and not passed for ARGUMENT;
 * log_fd -1 gives /dev/null. The result comes as an event: STARTED or FAILED (id; FAILED with
 * pid 0 when the fork itself failed or the message was malformed). A full socket is waited on
 * for at most a second. */
int spawn_launcher_launch(int ctl, const spawn_launch *l, char **err);

/* Send `sig` to the process group led by `pid` (group) or to pid alone, if pid is a live
 * (unreaped) child of the launcher. Returns 0, or -1 when the launcher is gone. */
int spawn_launcher_kill(int ctl, pid_t pid, int sig, int group);

/* One event from the launcher: 0 (ev filled), 1 (nothing yet: EAGAIN), -1 (launcher gone). */
int spawn_launcher_recv(int ctl, spawn_event *ev);

#endif
