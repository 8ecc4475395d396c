/* Inside the launcher (launch.c, launch_child.c): the control messages and the app child's
 * set-up. Not for portico's other code: the public interface is launch.h. */
#ifndef SPAWN_LAUNCH_INT_H
#define SPAWN_LAUNCH_INT_H

#include <stdint.h>
#include <sys/types.h>

/* The largest message portico sends (header and strings). */
#define SPAWN_MSG_MAX 65536

enum { SPAWN_MSG_START = 1, SPAWN_MSG_KILL = 2 };

/* spawn_msg.flags: what a START carries. The fds travel in one SCM_RIGHTS: the socket first
 * (SOCK), then the log (LOG). The options follow the envp strings in this order. */
enum {
    SPAWN_MSG_SOCK = 1,
    SPAWN_MSG_LOG = 2,
    SPAWN_MSG_FDNAME = 4,
    SPAWN_MSG_USER = 8,
    SPAWN_MSG_GROUP = 16,
};
/* spawn_msg.flags of a KILL: the signal goes to the whole process group, not the process alone */
enum { SPAWN_MSG_KILL_GROUP = 1 };

/* The fixed head of every message; a START is followed by argc + envc + options NUL-terminated
 * strings, nothing else. */
typedef struct spawn_msg {
    uint32_t type;
    uint32_t id;    /* START */
    int32_t pid;    /* KILL */
    int32_t sig;    /* KILL */
    int32_t pass;   /* START: enum spawn_pass */
    uint32_t flags; /* START; KILL: SPAWN_MSG_KILL_GROUP */
    uint32_t argc;  /* START: at least 1 */
    uint32_t envc;  /* START */
} spawn_msg;
_Static_assert(sizeof(spawn_msg) == 32, "launch.h documents a 32-byte header");

/* What the app child is to become: pointers into the launcher's message buffer. */
typedef struct spawn_child {
    char **argv, **envp;
    int pass;
    int sock, log; /* -1: none (log: /dev/null) */
    const char *fdname, *user, *group;
    pid_t launcher; /* the parent the child checks after PR_SET_PDEATHSIG */
    /* set by spawn_child_env: the child writes its pid into listen_pid ("LISTEN_PID=") */
    char listen_pid[32];
    char *listen_names; /* "LISTEN_FDNAMES=..." (allocated) */
} spawn_child;

/* The child's set-up failure, written to the launcher through a close-on-exec pipe. */
typedef struct spawn_report {
    int err;
    char what[96];
} spawn_report;

/* In the launcher, before the fork: the app's environment, c->envp with LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES put in for SPAWN_PASS_LISTEN_FDS (each replacing a variable of
 * the same name). The child allocates nothing: free the array and c->listen_names after the
 * fork. */
char **spawn_child_env(spawn_child *c);

/* In the forked child: set up and exec `envp`, or report on `report_fd` and _exit(127). */
void spawn_child_exec(spawn_child *c, char **envp, int report_fd) __attribute__((noreturn));

/* Close every fd >= from except `keep` (-1: none). */
void spawn_close_from(int from, int keep);

/* The launcher process's body; ends with _exit. */
void spawn_launcher_run(int ctl) __attribute__((noreturn));

#endif
