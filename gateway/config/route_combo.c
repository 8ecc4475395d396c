/* The route table: every combination of relevant blocks that can hold together, compiled at load
 * depth first up to a bound, kept as a trie the request path only reads. Knows the block tree
 * and conditions; nothing of requests, sockets or the loop. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/base/alloc.h"
#include "gateway/config/route_int.h"

/* ---- which blocks can hold together ---- */

static int str_eq(const gw_cond *c, const char *a, const char *b)
{
    return c->field == GW_COND_HOST ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static int starts_with(const gw_cond *c, const char *s, const char *p)
{
    size_t n = strlen(p);
    if (strlen(s) < n) return 0;
    return c->field == GW_COND_HOST ? strncasecmp(s, p, n) == 0 : strncmp(s, p, n) == 0;
}

static int ends_with(const gw_cond *c, const char *s, const char *x)
{
    size_t n = strlen(x), m = strlen(s);
    if (m < n) return 0;
    return c->field == GW_COND_HOST ? strcasecmp(s + m - n, x) == 0 : strcmp(s + m - n, x) == 0;
}

/* Can a and b never both hold? Only the cases that are plain to see; anything else may. */
static int conds_exclusive(const gw_cond *a, const gw_cond *b)
{
    if (a->field != b->field) return 0;
    if (a->field == GW_COND_HEADER && strcasecmp(a->header, b->header) != 0) return 0;
    /* networks: "10.0.0.0/8" == and "10.1.0.0/16" == can both hold */
    if (a->cidr_family || b->cidr_family) return 0;
    if (a->op > b->op) {
        const gw_cond *t = a;
        a = b;
        b = t;
    }
    const char *x = a->pattern, *y = b->pattern;
    switch (a->op) {
    case GW_OP_EQ:
        if (b->op == GW_OP_EQ) return !str_eq(a, x, y);
        if (b->op == GW_OP_NE) return str_eq(a, x, y);
        if (b->op == GW_OP_PREFIX) return !starts_with(a, x, y);
        if (b->op == GW_OP_SUFFIX) return !ends_with(a, x, y);
        return 0;
    case GW_OP_PREFIX:
        return b->op == GW_OP_PREFIX && !starts_with(a, x, y) && !starts_with(a, y, x);
    case GW_OP_SUFFIX:
        return b->op == GW_OP_SUFFIX && !ends_with(a, x, y) && !ends_with(a, y, x);
    default:
        return 0;
    }
}

/* The chain each block belongs to: the id of its chain's first block (the root is its own). */
static void chain_heads(const gw_conf *c, int *head)
{
    head[0] = 0;
    for (size_t i = 0; i < c->nblocks; i++) {
        const gw_block *p = c->blocks[i];
        for (size_t k = 0; k < p->nchildren; k++)
            for (const gw_block *x = p->children[k]; x; x = x->else_next)
                head[x->id] = p->children[k]->id;
    }
}

/* Can two blocks both hold? Not when some enclosing-or-self block of one and of the other are
 * different blocks of one else chain, or have provably exclusive conditions. */
static int blocks_compatible(const gw_block *a, const gw_block *b, const int *head)
{
    for (const gw_block *x = a; x && x->parent; x = x->parent) {
        for (const gw_block *y = b; y && y->parent; y = y->parent) {
            if (x == y) continue;
            if (head[x->id] == head[y->id]) return 0;
            if (x->cond && y->cond && conds_exclusive(x->cond, y->cond)) return 0;
        }
    }
    return 1;
}

/* ---- the table ---- */

typedef struct rt_node {
    uint32_t route;       /* index into routes */
    uint32_t first, n;    /* children: edges [first, first + n), sorted by rel */
    uint32_t parent, rel; /* while building */
} rt_node;

struct gw_route_table {
    int *rel_of; /* by block id: index among the relevant blocks, or -1 */
    size_t nrel;
    rt_node *nodes; /* nodes[0]: no relevant block holds (the global settings alone) */
    size_t nnodes, capnodes;
    uint32_t *edge_rel, *edge_node;
    gw_route **routes;
    size_t nroutes;
};

/* Routes with equal effective values are one route: many combinations differ only in keys
 * that route compilation ignores, or set the same values. */
typedef struct dedup {
    gw_eff **effs;   /* by route index */
    uint32_t *slots; /* open addressing: route index + 1, 0 = empty */
    size_t nslots;
} dedup;

static int eff_equal(const gw_eff *a, const gw_eff *b)
{
    for (int k = 0; k < R_NKEYS; k++) {
        if (a->v[k].base != b->v[k].base || a->v[k].napp != b->v[k].napp ||
            a->v[k].over != b->v[k].over)
            return 0;
        for (unsigned i = 0; i < a->v[k].napp; i++)
            if (a->v[k].app[i] != b->v[k].app[i]) return 0;
    }
    return 1;
}

static uint64_t eff_hash(const gw_eff *e)
{
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < R_NKEYS; k++) {
        h = (h ^ (uint64_t)(uintptr_t)e->v[k].base) * 1099511628211ull;
        h = (h ^ (uint64_t)(uintptr_t)e->v[k].over) * 1099511628211ull;
        for (unsigned i = 0; i < e->v[k].napp; i++)
            h = (h ^ (uint64_t)(uintptr_t)e->v[k].app[i]) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

typedef struct enumr {
    gw_rt *rt;
    struct gw_route_table *t;
    const gw_block **rel;   /* the relevant blocks in config order */
    uint8_t *compat;        /* nrel x nrel bits: may both hold */
    uint8_t *self_ok;       /* by rel: the block's own nesting path can hold */
    uint8_t *in;            /* by rel: in the current combination */
    const gw_block **stack; /* the current combination, for messages */
    size_t depth;
    dedup d;
    size_t limit;
    long cut; /* the smallest rel whose combinations were cut, -1 if none */
    char **err;
} enumr;

static int compat(const enumr *E, size_t a, size_t b)
{
    size_t bit = a * E->t->nrel + b;
    return (E->compat[bit >> 3] >> (bit & 7)) & 1;
}

/* Is rel j compatible with the current combination (and are its relevant enclosing blocks in
 * it, since a nested block holds only inside them)? */
static int can_add(const enumr *E, size_t j)
{
    if (!E->self_ok[j]) return 0;
    for (const gw_block *p = E->rel[j]->parent; p && p->parent; p = p->parent) {
        int r = E->t->rel_of[p->id];
        if (r >= 0 && !E->in[r]) return 0;
    }
    for (size_t i = 0; i < E->depth; i++)
        if (!compat(E, (size_t)E->t->rel_of[E->stack[i]->id], j)) return 0;
    return 1;
}

static uint32_t route_for(enumr *E, const gw_eff *e)
{
    struct gw_route_table *t = E->t;
    dedup *d = &E->d;
    if (t->nroutes * 2 >= d->nslots) { /* grow and rehash */
        size_t ns = d->nslots ? d->nslots * 2 : 64;
        uint32_t *s = gw_xcalloc(ns, sizeof(*s));
        for (size_t i = 0; i < t->nroutes; i++) {
            size_t h = (size_t)eff_hash(d->effs[i]) & (ns - 1);
            while (s[h]) h = (h + 1) & (ns - 1);
            s[h] = (uint32_t)i + 1;
        }
        free(d->slots);
        d->slots = s;
        d->nslots = ns;
    }
    size_t h = (size_t)eff_hash(e) & (d->nslots - 1);
    for (; d->slots[h]; h = (h + 1) & (d->nslots - 1))
        if (eff_equal(d->effs[d->slots[h] - 1], e)) return d->slots[h] - 1;
    gw_route *r = gw_xcalloc(1, sizeof(*r));
    if (gw_route_build(E->rt, e, r, E->stack, E->depth, E->err) != GW_OK) {
        free(r);
        return UINT32_MAX;
    }
    t->routes = gw_xreallocarray(t->routes, t->nroutes + 1, sizeof(*t->routes));
    d->effs = gw_xreallocarray(d->effs, t->nroutes + 1, sizeof(*d->effs));
    d->effs[t->nroutes] = gw_xmalloc(sizeof(gw_eff));
    *d->effs[t->nroutes] = *e;
    t->routes[t->nroutes] = r;
    d->slots[h] = (uint32_t)(t->nroutes + 1);
    return (uint32_t)t->nroutes++;
}

static uint32_t node_new(enumr *E, uint32_t parent, uint32_t rel, const gw_eff *e)
{
    struct gw_route_table *t = E->t;
    uint32_t route = route_for(E, e);
    if (route == UINT32_MAX) return UINT32_MAX;
    if (t->nnodes == t->capnodes) {
        t->capnodes = t->capnodes ? t->capnodes * 2 : 64;
        t->nodes = gw_xreallocarray(t->nodes, t->capnodes, sizeof(*t->nodes));
    }
    t->nodes[t->nnodes] = (rt_node){.route = route, .parent = parent, .rel = rel};
    return (uint32_t)t->nnodes++;
}

/* Breadth-first, by the number of blocks: every combination of k blocks that can hold together
 * is compiled before any of k + 1, so the limit, when reached, leaves out only the largest ones
 * (a request matching few blocks always has its exact route). A node's children are made in
 * config order, so every compiled combination's prefixes are compiled and each node's edges
 * come out sorted. */
static int enumerate(enumr *E)
{
    struct gw_route_table *t = E->t;
    gw_eff *e = gw_xmalloc(sizeof(*e)), *ce = gw_xmalloc(sizeof(*ce));
    int rc = GW_OK;
    for (size_t n = 0; n < t->nnodes && rc == GW_OK && E->cut < 0; n++) {
        /* the node's combination (its blocks in config order) and its settings */
        E->depth = 0;
        for (uint32_t x = (uint32_t)n; x != 0; x = t->nodes[x].parent) E->depth++;
        size_t d = E->depth;
        for (uint32_t x = (uint32_t)n; x != 0; x = t->nodes[x].parent) {
            E->stack[--d] = E->rel[t->nodes[x].rel];
            E->in[t->nodes[x].rel] = 1;
        }
        memset(e, 0, sizeof(*e));
        gw_eff_apply(e, E->rt->conf->root);
        for (size_t i = 0; i < E->depth; i++) gw_eff_apply(e, E->stack[i]);
        for (size_t j = n == 0 ? 0 : t->nodes[n].rel + 1; j < t->nrel && rc == GW_OK; j++) {
            if (!can_add(E, j)) continue;
            if (t->nnodes >= E->limit) {
                E->cut = (long)j;
                break;
            }
            *ce = *e;
            gw_eff_apply(ce, E->rel[j]);
            E->stack[E->depth++] = E->rel[j]; /* (named in an error message) */
            if (node_new(E, (uint32_t)n, (uint32_t)j, ce) == UINT32_MAX) rc = GW_ERR;
            E->depth--;
        }
        for (uint32_t x = (uint32_t)n; x != 0; x = t->nodes[x].parent) E->in[t->nodes[x].rel] = 0;
    }
    free(e);
    free(ce);
    return rc;
}

/* Lay the children of each node out contiguously; they were created in increasing rel order,
 * so each node's edges come out sorted. */
static void layout_edges(struct gw_route_table *t)
{
    for (size_t i = 0; i < t->nnodes; i++) t->nodes[i].n = 0;
    for (size_t i = 1; i < t->nnodes; i++) t->nodes[t->nodes[i].parent].n++;
    uint32_t at = 0;
    for (size_t i = 0; i < t->nnodes; i++) {
        t->nodes[i].first = at;
        at += t->nodes[i].n;
        t->nodes[i].n = 0;
    }
    t->edge_rel = gw_xreallocarray(NULL, at + 1, sizeof(*t->edge_rel));
    t->edge_node = gw_xreallocarray(NULL, at + 1, sizeof(*t->edge_node));
    for (size_t i = 1; i < t->nnodes; i++) {
        rt_node *p = &t->nodes[t->nodes[i].parent];
        t->edge_rel[p->first + p->n] = t->nodes[i].rel;
        t->edge_node[p->first + p->n] = (uint32_t)i;
        p->n++;
    }
}

int gw_rt_compile(gw_rt *rt, char **err)
{
    const gw_conf *c = rt->conf;
    for (size_t i = 0; i < c->nblocks; i++)
        if (gw_block_check_values(c->blocks[i], err) != GW_OK) return GW_ERR;

    struct gw_route_table *t = gw_xcalloc(1, sizeof(*t));
    rt->table = t;
    t->rel_of = gw_xreallocarray(NULL, c->nblocks, sizeof(*t->rel_of));
    int *head = gw_xreallocarray(NULL, c->nblocks, sizeof(*head));
    const gw_block **rel = gw_xreallocarray(NULL, c->nblocks, sizeof(*rel));
    chain_heads(c, head);
    t->rel_of[0] = -1; /* the global block applies to every route */
    for (size_t i = 1; i < c->nblocks; i++) {
        t->rel_of[i] = gw_block_relevant(c->blocks[i]) ? (int)t->nrel : -1;
        if (t->rel_of[i] >= 0) rel[t->nrel++] = c->blocks[i];
    }

    enumr E = {.rt = rt, .t = t, .rel = rel, .limit = GW_RT_MAX_COMBOS, .cut = -1, .err = err};
    size_t nrel = t->nrel;
    E.compat = gw_xcalloc((nrel * nrel + 7) / 8 + 1, 1);
    E.self_ok = gw_xcalloc(nrel + 1, 1);
    E.in = gw_xcalloc(nrel + 1, 1);
    E.stack = gw_xreallocarray(NULL, nrel + 1, sizeof(*E.stack));
    for (size_t a = 0; a < nrel; a++) {
        /* a block whose own nesting path cannot hold never matches */
        E.self_ok[a] = 1;
        for (const gw_block *x = rel[a]; x->parent && E.self_ok[a]; x = x->parent)
            for (const gw_block *y = x->parent; y->parent; y = y->parent)
                if (x->cond && y->cond && conds_exclusive(x->cond, y->cond)) E.self_ok[a] = 0;
        for (size_t b = a + 1; b < nrel; b++) {
            if (!blocks_compatible(rel[a], rel[b], head)) continue;
            size_t ab = a * nrel + b, ba = b * nrel + a;
            E.compat[ab >> 3] |= (uint8_t)(1u << (ab & 7));
            E.compat[ba >> 3] |= (uint8_t)(1u << (ba & 7));
        }
    }

    gw_eff *e = gw_xcalloc(1, sizeof(*e));
    gw_eff_apply(e, c->root);
    int rc = node_new(&E, 0, 0, e) == UINT32_MAX ? GW_ERR : enumerate(&E);
    free(e);
    if (rc == GW_OK) {
        layout_edges(t);
        if (E.cut >= 0) {
            const gw_block *b = rel[E.cut];
            gw_errf(&rt->warning,
                    "%s:%d: more than %d combinations of condition blocks: the largest ones "
                    "(this block with others) are not compiled; a request matching one of them "
                    "gets the blocks taken in config order, leaving out each block whose "
                    "combination with those taken was not compiled (docs/config.md, "
                    "\"Combinations\")",
                    b->file, b->line, GW_RT_MAX_COMBOS);
        }
    }
    for (size_t i = 0; i < t->nroutes; i++) free(E.d.effs[i]);
    free(E.d.effs);
    free(E.d.slots);
    free(E.compat);
    free(E.self_ok);
    free(E.in);
    free(E.stack);
    free(rel);
    free(head);
    return rc;
}

void gw_rt_table_free(gw_rt *rt)
{
    struct gw_route_table *t = rt->table;
    if (t == NULL) return;
    for (size_t i = 0; i < t->nroutes; i++) {
        gw_route_release(t->routes[i]);
        free(t->routes[i]);
    }
    free(t->routes);
    free(t->nodes);
    free(t->edge_rel);
    free(t->edge_node);
    free(t->rel_of);
    free(t);
    rt->table = NULL;
}

/* ---- the request path: read only ---- */

typedef struct walk {
    const struct gw_route_table *t;
    uint32_t node;
} walk;

static void on_match(void *arg, const gw_block *b)
{
    walk *w = arg;
    int r = w->t->rel_of[b->id];
    if (r < 0) return;
    const rt_node *n = &w->t->nodes[w->node];
    uint32_t lo = n->first, hi = n->first + n->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->t->edge_rel[mid] < (uint32_t)r)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* (no edge: this block's combination with those taken was not compiled; it is left out) */
    if (lo < n->first + n->n && w->t->edge_rel[lo] == (uint32_t)r) w->node = w->t->edge_node[lo];
}

const gw_route *gw_rt_route(const gw_rt *rt, const gw_cond_ctx *ctx)
{
    walk w = {.t = rt->table};
    gw_conf_match(rt->conf, ctx, on_match, &w);
    return w.t->routes[w.t->nodes[w.node].route];
}

size_t gw_rt_ncombos(const gw_rt *rt)
{
    return rt->table->nnodes;
}

size_t gw_rt_nroutes(const gw_rt *rt)
{
    return rt->table->nroutes;
}
