/* Unit tests for the balancers (round-robin, sqf, hash/carp, static) and the backlog FIFO.
 * Pools and peers are built by hand: no sockets, no loop. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/upstream/backlog.h"
#include "gateway/upstream/balance.h"
#include "gateway/upstream/registry.h"

#define MAXP 256
#define NOW 1000.0

/* A pool with its peers and their names in one block, as the pool code would fill them. */
typedef struct tpool {
    gw_pool pool;
    gw_peer peers[MAXP];
    gw_peer_count counts[MAXP];
    char names[MAXP][32];
} tpool;

static tpool *tpool_new(unsigned n, const gw_balancer_ops *ops)
{
    tpool *t = calloc(1, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    for (unsigned i = 0; i < n; i++) {
        gw_peer *p = &t->peers[i];
        snprintf(t->names[i], sizeof(t->names[i]), "10.0.%u.%u:8080", i / 200, i % 200 + 1);
        p->name = t->names[i];
        p->pool = &t->pool;
        p->index = i;
        p->hash = gw_hash_str(p->name, strlen(p->name));
        p->health = GW_PEER_UP;
        p->count = &t->counts[i];
    }
    t->pool.peers = t->peers;
    t->pool.npeers = n;
    t->pool.balancer = ops;
    t->pool.hash_factor = GW_HASH_FACTOR;
    t->pool.bal_state = ops->init(&t->pool);
    return t;
}

static void tpool_free(tpool *t)
{
    t->pool.balancer->destroy(t->pool.bal_state);
    free(t);
}

/* Index of the picked peer, or -1 for NULL. */
static int pick(tpool *t, const char *key, const uint8_t *tried)
{
    gw_peer *p = t->pool.balancer->pick(t->pool.bal_state, &t->pool, gw_str_from(key), tried, NOW);
    if (p == NULL) return -1;
    ck_assert_ptr_eq(p, &t->peers[p - t->peers]);
    return (int)(p - t->peers);
}

static void set_inflight(tpool *t, unsigned i, unsigned v)
{
    t->pool.inflight = t->pool.inflight - t->peers[i].inflight + v;
    t->peers[i].inflight = v;
    t->counts[i].inflight = v; /* (this pool is the backend's only user) */
}

static void set_tried(uint8_t *tried, unsigned i)
{
    tried[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* ---- registry and hash ---- */

/* A spawned app's process slot that takes requests. */
static spawn_slot usable_slot = {.usable = 1, .cap = 1000};

START_TEST(test_find)
{
    ck_assert_ptr_eq(gw_balancer_find("round-robin"), &gw_balance_rr);
    ck_assert_ptr_eq(gw_balancer_find("sqf"), &gw_balance_sqf);
    ck_assert_ptr_eq(gw_balancer_find("hash"), &gw_balance_hash);
    ck_assert_ptr_eq(gw_balancer_find("carp"), &gw_balance_hash);
    ck_assert_ptr_eq(gw_balancer_find("static"), &gw_balance_static);
    ck_assert_ptr_eq(gw_balancer_find(NULL), &gw_balance_sqf);
    ck_assert_ptr_null(gw_balancer_find("random"));
    ck_assert_ptr_null(gw_balancer_find(""));
    ck_assert_ptr_null(gw_balancer_find("SQF"));
    ck_assert_str_eq(gw_balance_rr.name, "round-robin");
    ck_assert_str_eq(gw_balance_sqf.name, "sqf");
    ck_assert_str_eq(gw_balance_hash.name, "hash");
    ck_assert_str_eq(gw_balance_static.name, "static");
}
END_TEST

START_TEST(test_hash_str)
{
    /* fixed values: the hash must not change between builds or processes */
    ck_assert_uint_eq(gw_hash_str("abc", 3), gw_hash_str("abcd", 3));
    ck_assert_uint_ne(gw_hash_str("10.0.0.1:80", 11), gw_hash_str("10.0.0.2:80", 11));
    ck_assert_uint_ne(gw_hash_str("", 0), gw_hash_str("a", 1));
    /* avalanche: one changed character flips about half of the 32 bits, on average */
    unsigned bits = 0, trials = 0;
    char a[16], b[16];
    for (unsigned i = 0; i < 200; i++) {
        int n = snprintf(a, sizeof(a), "/p/%u", i);
        memcpy(b, a, sizeof(a));
        b[n - 1] ^= 1;
        bits += (unsigned)__builtin_popcount(gw_hash_str(a, (size_t)n) ^ gw_hash_str(b, (size_t)n));
        trials++;
    }
    ck_assert_uint_ge(bits, trials * 12);
    ck_assert_uint_le(bits, trials * 20);
}
END_TEST

/* ---- round-robin ---- */

START_TEST(test_rr_rotation)
{
    tpool *t = tpool_new(4, &gw_balance_rr);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 4; i++) ck_assert_int_eq(pick(t, "/", NULL), i);
    tpool_free(t);
}
END_TEST

START_TEST(test_rr_skips)
{
    tpool *t = tpool_new(4, &gw_balance_rr);
    t->peers[1].disabled_until = NOW + 2;
    /* a disabled peer is skipped and its successor does not get two turns */
    int want[] = {0, 2, 3, 0, 2, 3};
    for (size_t k = 0; k < 6; k++) ck_assert_int_eq(pick(t, "/", NULL), want[k]);
    /* disabled in the past: usable again, rotation continues where it was */
    t->peers[1].disabled_until = NOW - 1;
    ck_assert_int_eq(pick(t, "/", NULL), 0);
    ck_assert_int_eq(pick(t, "/", NULL), 1);

    /* full */
    t->peers[2].max_inflight = 3;
    set_inflight(t, 2, 3);
    ck_assert_int_eq(pick(t, "/", NULL), 3);
    ck_assert_int_eq(pick(t, "/", NULL), 0);
    ck_assert_int_eq(pick(t, "/", NULL), 1);
    ck_assert_int_eq(pick(t, "/", NULL), 3);
    set_inflight(t, 2, 2); /* room again */
    ck_assert_int_eq(pick(t, "/", NULL), 0);
    ck_assert_int_eq(pick(t, "/", NULL), 1);
    ck_assert_int_eq(pick(t, "/", NULL), 2);

    /* tried */
    uint8_t tried[MAXP / 8] = {0};
    set_tried(tried, 3);
    set_tried(tried, 0);
    ck_assert_int_eq(pick(t, "/", tried), 1);
    ck_assert_int_eq(pick(t, "/", tried), 2);
    ck_assert_int_eq(pick(t, "/", tried), 1);

    /* health down and spawn not ready */
    t->peers[1].health = GW_PEER_DOWN;
    t->peers[2].is_spawn = 1;
    ck_assert_int_eq(pick(t, "/", tried), -1);
    t->peers[2].slot = &usable_slot;
    ck_assert_int_eq(pick(t, "/", tried), 2);
    ck_assert_int_eq(pick(t, "/", NULL), 3);
    ck_assert_int_eq(pick(t, "/", NULL), 0);
    ck_assert_int_eq(pick(t, "/", NULL), 2);
    tpool_free(t);
}
END_TEST

START_TEST(test_rr_none)
{
    tpool *t = tpool_new(3, &gw_balance_rr);
    for (unsigned i = 0; i < 3; i++) t->peers[i].disabled_until = NOW + 1;
    ck_assert_int_eq(pick(t, "/", NULL), -1);
    tpool_free(t);
    t = tpool_new(0, &gw_balance_rr);
    ck_assert_int_eq(pick(t, "/", NULL), -1);
    tpool_free(t);
}
END_TEST

/* ---- sqf ---- */

START_TEST(test_sqf_least_loaded)
{
    tpool *t = tpool_new(4, &gw_balance_sqf);
    set_inflight(t, 0, 3);
    set_inflight(t, 1, 1);
    set_inflight(t, 2, 2);
    set_inflight(t, 3, 5);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(pick(t, "/", NULL), 1);
    /* the least loaded is skipped when full, tried or disabled */
    t->peers[1].max_inflight = 1;
    ck_assert_int_eq(pick(t, "/", NULL), 2);
    t->peers[1].max_inflight = 0;
    uint8_t tried[MAXP / 8] = {0};
    set_tried(tried, 1);
    ck_assert_int_eq(pick(t, "/", tried), 2);
    set_tried(tried, 2);
    ck_assert_int_eq(pick(t, "/", tried), 0);
    t->peers[1].disabled_until = NOW + 0.5;
    ck_assert_int_eq(pick(t, "/", NULL), 2);
    /* simulate requests arriving: each pick takes a slot; loads even out */
    t->peers[1].disabled_until = 0;
    for (int k = 0; k < 9; k++) {
        int i = pick(t, "/", NULL);
        ck_assert_int_ge(i, 0);
        set_inflight(t, (unsigned)i, t->peers[i].inflight + 1);
    }
    /* 11 + 9 = 20 over 4 peers, and peer 3 started at 5: all at 5 */
    for (unsigned i = 0; i < 4; i++) ck_assert_uint_eq(t->peers[i].inflight, 5);
    tpool_free(t);
}
END_TEST

START_TEST(test_sqf_spreads_ties)
{
    tpool *t = tpool_new(4, &gw_balance_sqf);
    unsigned count[4] = {0};
    /* requests finish before the next arrives: every peer stays at 0 */
    for (int k = 0; k < 40; k++) count[pick(t, "/", NULL)]++;
    for (unsigned i = 0; i < 4; i++) ck_assert_uint_eq(count[i], 10);
    /* ties among a subset: peers 0 and 2 at 1, 1 and 3 at 4 */
    set_inflight(t, 0, 1);
    set_inflight(t, 1, 4);
    set_inflight(t, 2, 1);
    set_inflight(t, 3, 4);
    int a = pick(t, "/", NULL), b = pick(t, "/", NULL), c = pick(t, "/", NULL);
    ck_assert(a == 0 || a == 2);
    ck_assert_int_eq(b, 2 - a);
    ck_assert_int_eq(c, a);
    /* all unavailable */
    for (unsigned i = 0; i < 4; i++) t->peers[i].health = GW_PEER_DOWN;
    ck_assert_int_eq(pick(t, "/", NULL), -1);
    tpool_free(t);
}
END_TEST

/* ---- hash ---- */

static void key_of(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "/app/item/%u/show", i);
}

START_TEST(test_hash_stable)
{
    tpool *t = tpool_new(5, &gw_balance_hash);
    char key[64];
    int first[1000];
    for (unsigned k = 0; k < 1000; k++) {
        key_of(key, sizeof(key), k);
        first[k] = pick(t, key, NULL);
        ck_assert_int_ge(first[k], 0);
    }
    for (int round = 0; round < 3; round++)
        for (unsigned k = 0; k < 1000; k++) {
            key_of(key, sizeof(key), k);
            ck_assert_int_eq(pick(t, key, NULL), first[k]);
        }
    /* every peer gets some keys: the key really decides */
    unsigned seen[5] = {0};
    for (unsigned k = 0; k < 1000; k++) seen[first[k]]++;
    for (unsigned i = 0; i < 5; i++) ck_assert_uint_gt(seen[i], 0);
    /* an empty key and a NULL slice are valid keys */
    gw_peer *p = t->pool.balancer->pick(NULL, &t->pool, GW_STR_NULL, NULL, NOW);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(pick(t, "", NULL), (int)(p - t->peers));
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_distribution)
{
    tpool *t = tpool_new(4, &gw_balance_hash);
    char key[64];
    unsigned count[4] = {0};
    for (unsigned k = 0; k < 10000; k++) {
        key_of(key, sizeof(key), k);
        count[pick(t, key, NULL)]++;
    }
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_ge(count[i], 2500 - 625);
        ck_assert_uint_le(count[i], 2500 + 625);
    }
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_remove_restore)
{
    tpool *t = tpool_new(4, &gw_balance_hash);
    char key[64];
    int before[1000];
    for (unsigned k = 0; k < 1000; k++) {
        key_of(key, sizeof(key), k);
        before[k] = pick(t, key, NULL);
    }
    for (unsigned gone = 0; gone < 4; gone++) {
        t->peers[gone].disabled_until = NOW + 2;
        unsigned moved = 0;
        for (unsigned k = 0; k < 1000; k++) {
            key_of(key, sizeof(key), k);
            int now_at = pick(t, key, NULL);
            ck_assert_int_ne(now_at, (int)gone);
            if (before[k] == (int)gone)
                moved++;
            else
                ck_assert_int_eq(now_at, before[k]); /* only the gone peer's keys move */
        }
        ck_assert_uint_gt(moved, 0);
        t->peers[gone].disabled_until = 0;
        for (unsigned k = 0; k < 1000; k++) {
            key_of(key, sizeof(key), k);
            ck_assert_int_eq(pick(t, key, NULL), before[k]); /* and come back */
        }
    }
    /* a tried peer is passed over the same way: the key goes to its runner-up */
    uint8_t tried[MAXP / 8] = {0};
    set_tried(tried, 1);
    t->peers[1].health = GW_PEER_DOWN;
    int runner_up[1000];
    for (unsigned k = 0; k < 1000; k++) {
        key_of(key, sizeof(key), k);
        runner_up[k] = pick(t, key, NULL);
    }
    t->peers[1].health = GW_PEER_UP;
    for (unsigned k = 0; k < 1000; k++) {
        key_of(key, sizeof(key), k);
        ck_assert_int_eq(pick(t, key, tried), runner_up[k]);
    }
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_two_pools_agree)
{
    tpool *a = tpool_new(7, &gw_balance_hash);
    tpool *b = tpool_new(7, &gw_balance_hash);
    /* a third pool with the same names in reverse order */
    tpool *r = tpool_new(7, &gw_balance_hash);
    for (unsigned i = 0; i < 7; i++) {
        memcpy(r->names[i], a->names[6 - i], sizeof(r->names[i]));
        r->peers[i].hash = gw_hash_str(r->names[i], strlen(r->names[i]));
    }
    char key[64];
    for (unsigned k = 0; k < 1000; k++) {
        key_of(key, sizeof(key), k);
        int ia = pick(a, key, NULL), ib = pick(b, key, NULL), ir = pick(r, key, NULL);
        ck_assert_ptr_ne(a->peers[ia].name, b->peers[ib].name);
        ck_assert_str_eq(a->peers[ia].name, b->peers[ib].name);
        ck_assert_str_eq(a->peers[ia].name, r->peers[ir].name);
    }
    tpool_free(a);
    tpool_free(b);
    tpool_free(r);
}
END_TEST

/* A key whose first choice is `want` and the peer it falls back to when `want` is unusable. */
static void find_key(tpool *t, unsigned want, char *key, size_t len, int *second)
{
    for (unsigned k = 0;; k++) {
        key_of(key, len, k);
        if (pick(t, key, NULL) == (int)want) break;
    }
    gw_peer *p = &t->peers[want];
    double saved = p->disabled_until;
    p->disabled_until = NOW + 1;
    *second = pick(t, key, NULL);
    p->disabled_until = saved;
    ck_assert_int_ge(*second, 0);
    ck_assert_int_ne(*second, (int)want);
}

START_TEST(test_hash_bounded_load)
{
    tpool *t = tpool_new(4, &gw_balance_hash);
    char key[64];
    int second;
    find_key(t, 2, key, sizeof(key), &second);

    /* 15 in flight over 4 peers: bound = ceil(1.25 * 16 / 4) = 5 */
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, i == 2 ? 5 : (i == 0 ? 4 : 3));
    ck_assert_uint_eq(t->pool.inflight, 5 + 4 + 3 + 3);
    ck_assert_int_eq(pick(t, key, NULL), second); /* at the bound: diverted */
    /* one below the bound: it keeps its key */
    set_inflight(t, 2, 4);
    set_inflight(t, 0, 3); /* 13 in flight: bound = ceil(1.25 * 14 / 4) = 5 */
    ck_assert_int_eq(pick(t, key, NULL), 2);

    /* an idle pool: bound = ceil(1.25 / 4) = 1; a peer with one request is over it */
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, 0);
    ck_assert_int_eq(pick(t, key, NULL), 2);
    set_inflight(t, 2, 1);
    ck_assert_int_eq(pick(t, key, NULL), second);

    /* the average is over available peers only: with one idle peer disabled, 8 in flight over
     * the 3 left gives bound = ceil(1.25 * 9 / 3) = 4 (over all 4 peers it would be 3) */
    unsigned off = 0, other = 0;
    while (off == 2 || off == (unsigned)second) off++;
    while (other == 2 || other == (unsigned)second || other == off) other++;
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, 0);
    set_inflight(t, other, 2);
    set_inflight(t, (unsigned)second, 3);
    set_inflight(t, 2, 3);
    t->peers[off].disabled_until = NOW + 1;
    ck_assert_int_eq(pick(t, key, NULL), 2);
    set_inflight(t, 2, 5); /* 10 in flight: bound = ceil(1.25 * 11 / 3) = 5 */
    ck_assert_int_eq(pick(t, key, NULL), second);
    t->peers[off].disabled_until = 0;

    /* at max_inflight: diverted even though well under the load bound */
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, 10);
    t->peers[2].max_inflight = 10;
    ck_assert_int_eq(pick(t, key, NULL), second);
    t->peers[2].max_inflight = 11;
    ck_assert_int_eq(pick(t, key, NULL), 2);
    t->peers[2].max_inflight = 0;

    /* everyone left is over the bound but has room: the highest weight among them serves */
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, 0);
    set_inflight(t, 2, 3);
    set_inflight(t, (unsigned)second, 3); /* 6 in flight: bound = ceil(1.25 * 7 / 4) = 3 */
    uint8_t tried[MAXP / 8] = {0};
    for (unsigned i = 0; i < 4; i++)
        if (i != 2 && i != (unsigned)second) set_tried(tried, i);
    ck_assert_int_eq(pick(t, key, tried), 2);
    /* ... and once the top one is full, the next one with room */
    t->peers[2].max_inflight = 3;
    ck_assert_int_eq(pick(t, key, tried), second);
    t->peers[second].max_inflight = 3;
    ck_assert_int_eq(pick(t, key, tried), -1);
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_bounded_load_spreads)
{
    /* one hot key under sustained load: it fills its peer up to 1.25x the average, then its
     * runner-up, and so on; the last in its order takes the rest. Without the bound all 400
     * requests would sit on one peer. */
    tpool *t = tpool_new(4, &gw_balance_hash);
    int top = pick(t, "/hot", NULL);
    for (int k = 0; k < 400; k++) {
        int i = pick(t, "/hot", NULL);
        ck_assert_int_ge(i, 0);
        set_inflight(t, (unsigned)i, t->peers[i].inflight + 1);
    }
    unsigned full = 0;
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_le(t->peers[i].inflight, 125); /* ceil(1.25 * 400 / 4) */
        ck_assert_uint_ge(t->peers[i].inflight, 25);
        full += t->peers[i].inflight >= 124;
    }
    ck_assert_uint_eq(full, 3);
    ck_assert_uint_ge(t->peers[top].inflight, 124);
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_balance_factor)
{
    /* 200: a peer may hold twice the mean; 0: no bound at all, a hot key stays on its peer
     * while it has room (and then goes to the runner-up, as max_inflight says) */
    tpool *t = tpool_new(4, &gw_balance_hash);
    char key[64];
    int second;
    find_key(t, 2, key, sizeof(key), &second);
    t->pool.hash_factor = 200;
    /* 7 in flight over 4 peers: bound = ceil(2 * 8 / 4) = 4 */
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, i == 2 ? 3 : (i == 0 ? 2 : 1));
    ck_assert_int_eq(pick(t, key, NULL), 2);
    set_inflight(t, 2, 4); /* 8 in flight: bound = ceil(2 * 9 / 4) = 5 */
    ck_assert_int_eq(pick(t, key, NULL), 2);
    set_inflight(t, 2, 5); /* 9 in flight: bound = ceil(2 * 10 / 4) = 5, and 5 + 1 > 5 */
    ck_assert_int_eq(pick(t, key, NULL), second);

    t->pool.hash_factor = 0;
    for (unsigned i = 0; i < 4; i++) set_inflight(t, i, 0);
    for (int k = 0; k < 400; k++) {
        ck_assert_int_eq(pick(t, key, NULL), 2);
        set_inflight(t, 2, t->peers[2].inflight + 1);
    }
    t->peers[2].max_inflight = 400;
    ck_assert_int_eq(pick(t, key, NULL), second);
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_many_peers)
{
    tpool *t = tpool_new(MAXP, &gw_balance_hash);
    char key[64];
    unsigned hit[MAXP] = {0};
    for (unsigned k = 0; k < 20000; k++) {
        key_of(key, sizeof(key), k);
        int i = pick(t, key, NULL);
        ck_assert_int_ge(i, 0);
        hit[i]++;
    }
    unsigned used = 0;
    for (unsigned i = 0; i < MAXP; i++) used += hit[i] > 0;
    ck_assert_uint_ge(used, MAXP - 2);
    /* the last peer's bit in `tried` is honoured */
    uint8_t tried[MAXP / 8];
    memset(tried, 0xff, sizeof(tried));
    tried[(MAXP - 1) >> 3] &= (uint8_t) ~(1u << ((MAXP - 1) & 7));
    ck_assert_int_eq(pick(t, "/x", tried), MAXP - 1);
    tpool_free(t);
}
END_TEST

START_TEST(test_hash_none)
{
    tpool *t = tpool_new(3, &gw_balance_hash);
    for (unsigned i = 0; i < 3; i++) t->peers[i].is_spawn = 1;
    ck_assert_int_eq(pick(t, "/a", NULL), -1);
    t->peers[1].slot = &usable_slot;
    ck_assert_int_eq(pick(t, "/a", NULL), 1);
    tpool_free(t);
    t = tpool_new(0, &gw_balance_hash);
    ck_assert_int_eq(pick(t, "/a", NULL), -1);
    tpool_free(t);
}
END_TEST

/* ---- static ---- */

START_TEST(test_static_order)
{
    tpool *t = tpool_new(3, &gw_balance_static);
    for (int k = 0; k < 3; k++) ck_assert_int_eq(pick(t, "/", NULL), 0);
    t->peers[0].disabled_until = NOW + 5;
    ck_assert_int_eq(pick(t, "/", NULL), 1);
    t->peers[0].disabled_until = NOW; /* the disable time has run out exactly now */
    ck_assert_int_eq(pick(t, "/", NULL), 0);
    t->peers[0].max_inflight = 2;
    set_inflight(t, 0, 2);
    ck_assert_int_eq(pick(t, "/", NULL), 1);
    set_inflight(t, 0, 1);
    ck_assert_int_eq(pick(t, "/", NULL), 0);
    uint8_t tried[MAXP / 8] = {0};
    set_tried(tried, 0);
    ck_assert_int_eq(pick(t, "/", tried), 1);
    set_tried(tried, 1);
    ck_assert_int_eq(pick(t, "/", tried), 2);
    set_tried(tried, 2);
    ck_assert_int_eq(pick(t, "/", tried), -1);
    t->peers[1].health = GW_PEER_DOWN;
    t->peers[0].health = GW_PEER_DOWN;
    ck_assert_int_eq(pick(t, "/", NULL), 2);
    tpool_free(t);
}
END_TEST

/* ---- backlog ---- */

#define NB 5

static void check_order(gw_backlog *bl, const gw_backlog_node *nodes, const int *want, size_t n)
{
    ck_assert_uint_eq(bl->len, n);
    const gw_backlog_node *prev = NULL;
    size_t k = 0;
    for (const gw_backlog_node *x = bl->head; x; x = x->next, k++) {
        ck_assert_uint_lt(k, n);
        ck_assert_ptr_eq(x, &nodes[want[k]]);
        ck_assert_ptr_eq(x->prev, prev);
        ck_assert_int_eq(x->queued, 1);
        prev = x;
    }
    ck_assert_uint_eq(k, n);
    ck_assert_ptr_eq(bl->tail, prev);
}

START_TEST(test_backlog_fifo)
{
    gw_backlog bl = {0};
    gw_backlog_node nodes[NB] = {{0}};
    ck_assert_ptr_null(gw_backlog_pop(&bl));
    for (int i = 0; i < NB; i++) {
        gw_backlog_push(&bl, &nodes[i], 100.0 + i);
        ck_assert_uint_eq(bl.len, (size_t)i + 1);
        ck_assert_int_eq(nodes[i].queued, 1);
        ck_assert(nodes[i].since == 100.0 + i);
    }
    int all[] = {0, 1, 2, 3, 4};
    check_order(&bl, nodes, all, NB);
    for (int i = 0; i < NB; i++) {
        gw_backlog_node *n = gw_backlog_pop(&bl);
        ck_assert_ptr_eq(n, &nodes[i]);
        ck_assert_int_eq(n->queued, 0);
        ck_assert_ptr_null(n->prev);
        ck_assert_ptr_null(n->next);
        ck_assert_uint_eq(bl.len, (size_t)(NB - 1 - i));
    }
    ck_assert_ptr_null(gw_backlog_pop(&bl));
    ck_assert_ptr_null(bl.head);
    ck_assert_ptr_null(bl.tail);
    /* a popped node can wait again */
    gw_backlog_push(&bl, &nodes[3], 200.0);
    gw_backlog_push(&bl, &nodes[1], 201.0);
    int again[] = {3, 1};
    check_order(&bl, nodes, again, 2);
    ck_assert_ptr_eq(gw_backlog_pop(&bl), &nodes[3]);
    ck_assert_ptr_eq(gw_backlog_pop(&bl), &nodes[1]);
}
END_TEST

/* A waiter that could not use its turn goes back in its place: by when it first queued, among
 * equals after them, at the head, in the middle or at the tail. */
START_TEST(test_backlog_insert_keeps_places)
{
    gw_backlog bl = {0};
    gw_backlog_node nodes[NB] = {{0}};
    gw_backlog_insert(&bl, &nodes[2], 10.0); /* into an empty backlog */
    int w0[] = {2};
    check_order(&bl, nodes, w0, 1);
    gw_backlog_push(&bl, &nodes[3], 12.0);
    gw_backlog_insert(&bl, &nodes[0], 5.0); /* the oldest: at the head */
    int w1[] = {0, 2, 3};
    check_order(&bl, nodes, w1, 3);
    gw_backlog_insert(&bl, &nodes[1], 10.0); /* equal to one: after it */
    int w2[] = {0, 2, 1, 3};
    check_order(&bl, nodes, w2, 4);
    gw_backlog_insert(&bl, &nodes[4], 20.0); /* the newest: at the tail */
    int w3[] = {0, 2, 1, 3, 4};
    check_order(&bl, nodes, w3, 5);
    ck_assert(nodes[1].since == 10.0);
    for (int i = 0; i < NB; i++) ck_assert_ptr_eq(gw_backlog_pop(&bl), &nodes[w3[i]]);
    ck_assert_ptr_null(bl.tail);
}
END_TEST

START_TEST(test_backlog_remove)
{
    gw_backlog bl = {0};
    gw_backlog_node nodes[NB] = {{0}};
    for (int i = 0; i < NB; i++) gw_backlog_push(&bl, &nodes[i], 1.0);
    gw_backlog_remove(&bl, &nodes[2]); /* middle */
    int w1[] = {0, 1, 3, 4};
    check_order(&bl, nodes, w1, 4);
    ck_assert_int_eq(nodes[2].queued, 0);
    gw_backlog_remove(&bl, &nodes[2]); /* not queued: no-op */
    check_order(&bl, nodes, w1, 4);
    gw_backlog_remove(&bl, &nodes[0]); /* head */
    int w2[] = {1, 3, 4};
    check_order(&bl, nodes, w2, 3);
    gw_backlog_remove(&bl, &nodes[4]); /* tail */
    int w3[] = {1, 3};
    check_order(&bl, nodes, w3, 2);
    gw_backlog_push(&bl, &nodes[0], 2.0); /* push after a tail removal links correctly */
    int w4[] = {1, 3, 0};
    check_order(&bl, nodes, w4, 3);
    gw_backlog_remove(&bl, &nodes[1]);
    gw_backlog_remove(&bl, &nodes[0]);
    int w5[] = {3};
    check_order(&bl, nodes, w5, 1);
    gw_backlog_remove(&bl, &nodes[3]); /* the only one */
    check_order(&bl, nodes, NULL, 0);
    ck_assert_ptr_null(bl.head);
    ck_assert_ptr_null(bl.tail);
    ck_assert_ptr_null(gw_backlog_pop(&bl));
}
END_TEST

START_TEST(test_backlog_expired)
{
    gw_backlog bl = {0};
    gw_backlog_node a = {0}, b = {0};
    ck_assert_ptr_null(gw_backlog_expired(&bl, 1e9, 10.0));
    gw_backlog_push(&bl, &a, 100.0);
    gw_backlog_push(&bl, &b, 105.0);
    ck_assert_ptr_null(gw_backlog_expired(&bl, 100.0, 10.0));
    ck_assert_ptr_null(gw_backlog_expired(&bl, 109.99, 10.0));
    ck_assert_ptr_eq(gw_backlog_expired(&bl, 110.0, 10.0), &a); /* exactly the timeout */
    ck_assert_ptr_eq(gw_backlog_expired(&bl, 120.0, 10.0), &a);
    /* expired does not dequeue */
    ck_assert_uint_eq(bl.len, 2);
    ck_assert_int_eq(a.queued, 1);
    gw_backlog_remove(&bl, &a);
    ck_assert_ptr_null(gw_backlog_expired(&bl, 114.99, 10.0));
    ck_assert_ptr_eq(gw_backlog_expired(&bl, 115.0, 10.0), &b);
    /* a deadline computed in doubles that lands a rounding error short still counts */
    gw_backlog_remove(&bl, &b);
    gw_backlog_push(&bl, &a, 0.1);
    ck_assert_ptr_eq(gw_backlog_expired(&bl, 0.1 + 0.2, 0.2), &a);
    ck_assert_ptr_eq(gw_backlog_expired(&bl, 0.3, 0.2), &a);
    ck_assert_ptr_null(gw_backlog_expired(&bl, 0.29, 0.2));
    /* timeout 0: everything waiting has expired */
    ck_assert_ptr_eq(gw_backlog_expired(&bl, 0.1, 0.0), &a);
    gw_backlog_pop(&bl);
    ck_assert_ptr_null(gw_backlog_expired(&bl, 1e9, 0.0));
}
END_TEST

static Suite *balance_suite(void)
{
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("balancers");
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_hash_str);
    tcase_add_test(tc, test_rr_rotation);
    tcase_add_test(tc, test_rr_skips);
    tcase_add_test(tc, test_rr_none);
    tcase_add_test(tc, test_sqf_least_loaded);
    tcase_add_test(tc, test_sqf_spreads_ties);
    tcase_add_test(tc, test_hash_stable);
    tcase_add_test(tc, test_hash_distribution);
    tcase_add_test(tc, test_hash_remove_restore);
    tcase_add_test(tc, test_hash_two_pools_agree);
    tcase_add_test(tc, test_hash_bounded_load);
    tcase_add_test(tc, test_hash_bounded_load_spreads);
    tcase_add_test(tc, test_hash_balance_factor);
    tcase_add_test(tc, test_hash_many_peers);
    tcase_add_test(tc, test_hash_none);
    tcase_add_test(tc, test_static_order);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("backlog");
    tcase_add_test(tb, test_backlog_fifo);
    tcase_add_test(tb, test_backlog_remove);
    tcase_add_test(tb, test_backlog_insert_keeps_places);
    tcase_add_test(tb, test_backlog_expired);
    suite_add_tcase(s, tb);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(balance_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
