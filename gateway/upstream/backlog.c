/* FIFO of requests waiting for backend capacity: an intrusive doubly linked list, O(1) for every
 * operation. Pure bookkeeping: the owner embeds the nodes and runs the timer; no loop here. */
#include <assert.h>

#include "gateway/upstream/backlog.h"

/* Timers fire at since + timeout computed in doubles; `now - since` can then come out a hair
 * below `timeout` and the entry would wait another (near zero) round. Anything this close to the
 * deadline counts as expired. */
#define GW_BACKLOG_SLACK 1e-6

/* Link `n` in before `at` (NULL: at the tail). */
static void link_before(gw_backlog *bl, gw_backlog_node *n, gw_backlog_node *at, double since)
{
    assert(!n->queued);
    n->since = since;
    n->queued = 1;
    n->next = at;
    n->prev = at ? at->prev : bl->tail;
    if (n->prev)
        n->prev->next = n;
    else
        bl->head = n;
    if (at)
        at->prev = n;
    else
        bl->tail = n;
    __atomic_store_n(&bl->len, bl->len + 1, __ATOMIC_SEQ_CST); /* (read without the lock) */
}

void gw_backlog_push(gw_backlog *bl, gw_backlog_node *n, double now)
{
    link_before(bl, n, NULL, now);
}

void gw_backlog_insert(gw_backlog *bl, gw_backlog_node *n, double since)
{
    gw_backlog_node *at = bl->head;
    while (at && at->since <= since) at = at->next;
    link_before(bl, n, at, since);
}

void gw_backlog_remove(gw_backlog *bl, gw_backlog_node *n)
{
    if (!n->queued) return;
    if (n->prev)
        n->prev->next = n->next;
    else
        bl->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        bl->tail = n->prev;
    n->prev = n->next = NULL;
    n->queued = 0;
    __atomic_store_n(&bl->len, bl->len - 1, __ATOMIC_SEQ_CST);
}

gw_backlog_node *gw_backlog_pop(gw_backlog *bl)
{
    gw_backlog_node *n = bl->head;
    if (n) gw_backlog_remove(bl, n);
    return n;
}

/* Only the head needs checking: entries are pushed in time order, so it is the oldest. */
gw_backlog_node *gw_backlog_expired(gw_backlog *bl, double now, double timeout)
{
    gw_backlog_node *n = bl->head;
    if (n && now - n->since + GW_BACKLOG_SLACK >= timeout) return n;
    return NULL;
}
