/* FIFO of requests waiting for backend capacity, bounded by size and time.
 * Pure bookkeeping: the owner embeds a gw_backlog_node in each waiting request, runs the timer
 * and holds the lock (len may be read without it, atomically); nothing here knows the loop. */
#ifndef GW_BACKLOG_H
#define GW_BACKLOG_H

#include <stddef.h>

typedef struct gw_backlog_node {
    struct gw_backlog_node *prev, *next;
    double since; /* when it started waiting */
    int queued;   /* 1 while in a backlog */
} gw_backlog_node;

typedef struct gw_backlog {
    gw_backlog_node *head, *tail;
    size_t len;
} gw_backlog;

void gw_backlog_push(gw_backlog *bl, gw_backlog_node *n, double now); /* at the tail */
/* Back in its place by `since` (when it first queued): a waiter that could not use what it was
 * handed does not lose its turn. */
void gw_backlog_insert(gw_backlog *bl, gw_backlog_node *n, double since);
gw_backlog_node *gw_backlog_pop(gw_backlog *bl);            /* the oldest, or NULL */
void gw_backlog_remove(gw_backlog *bl, gw_backlog_node *n); /* no-op if not queued */
/* The oldest entry if it has waited `timeout` seconds or more at `now`, else NULL. */
gw_backlog_node *gw_backlog_expired(gw_backlog *bl, double now, double timeout);

#endif
