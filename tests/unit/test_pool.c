/* Unit tests for backend addresses and pools (gateway/upstream/pool.c): every address form and
 * every refusal, the pool built from specs, the latency histogram, the availability rules. No
 * sockets are opened, no loop runs. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "gateway/upstream/balance.h"
#include "gateway/upstream/pool.h"

/* Parse `spec`; on success return NULL, on failure the message (caller frees). */
static char *parse(gw_peer *p, const char *spec)
{
    char *err = NULL;
    memset(p, 0, sizeof(*p));
    int rc = gw_peer_parse(p, spec, &err);
    if (rc == GW_OK) ck_assert_ptr_null(err);
    if (rc != GW_OK) ck_assert_ptr_nonnull(err);
    return err;
}

START_TEST(test_parse_ipv4)
{
    gw_peer p;
    ck_assert_ptr_null(parse(&p, "127.0.0.1:3000"));
    const struct sockaddr_in *in = (const struct sockaddr_in *)&p.sa;
    ck_assert_int_eq(in->sin_family, AF_INET);
    ck_assert_int_eq(ntohs(in->sin_port), 3000);
    ck_assert_uint_eq(in->sin_addr.s_addr, htonl(0x7f000001));
    ck_assert_int_eq(p.salen, sizeof(struct sockaddr_in));
    /* "localhost" is the one name taken without DNS */
    ck_assert_ptr_null(parse(&p, "localhost:80"));
    ck_assert_uint_eq(((const struct sockaddr_in *)&p.sa)->sin_addr.s_addr, htonl(0x7f000001));
}
END_TEST

START_TEST(test_parse_ipv6)
{
    gw_peer p;
    ck_assert_ptr_null(parse(&p, "[::1]:8080"));
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&p.sa;
    ck_assert_int_eq(in6->sin6_family, AF_INET6);
    ck_assert_int_eq(ntohs(in6->sin6_port), 8080);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    ck_assert_int_eq(p.salen, sizeof(struct sockaddr_in6));
    /* a bare v6 address without brackets: the last colon is the port's */
    ck_assert_ptr_null(parse(&p, "::1:9000"));
    ck_assert_int_eq(ntohs(((const struct sockaddr_in6 *)&p.sa)->sin6_port), 9000);
}
END_TEST

START_TEST(test_parse_unix)
{
    gw_peer p;
    ck_assert_ptr_null(parse(&p, "unix:/run/app.sock"));
    const struct sockaddr_un *un = (const struct sockaddr_un *)&p.sa;
    ck_assert_int_eq(un->sun_family, AF_UNIX);
    ck_assert_str_eq(un->sun_path, "/run/app.sock");
    ck_assert_int_eq(p.salen, offsetof(struct sockaddr_un, sun_path) + strlen("/run/app.sock") + 1);
}
END_TEST

/* Each refusal names the spec, so the config error can say which backend is wrong. */
START_TEST(test_parse_refusals)
{
    static const char *const bad[] = {
        "unix:relative.sock",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:80x",
        "127.0.0.1:-1",
        "[::1]8080",
        "[::1:8080",
        "example.com:80",
        "spawn:",
        "",
        ":80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gw_peer p;
        char *err = parse(&p, bad[i]);
        ck_assert_msg(err != NULL, "\"%s\" was accepted", bad[i]);
        ck_assert_msg(strstr(err, bad[i]) != NULL, "\"%s\": message \"%s\" does not name it",
                      bad[i], err);
        free(err);
    }
    /* a spawned app: no address until its slots are bound */
    {
        gw_peer sp;
        ck_assert_ptr_null(parse(&sp, "spawn:app"));
        ck_assert_int_eq(sp.is_spawn, 1);
        ck_assert_int_eq(sp.sa.ss_family, AF_UNSPEC);
    }
    /* a unix path that does not fit sun_path */
    char longpath[200] = "unix:/";
    memset(longpath + 6, 'a', sizeof(longpath) - 7);
    longpath[sizeof(longpath) - 1] = '\0';
    gw_peer p;
    char *err = parse(&p, longpath);
    ck_assert_ptr_nonnull(strstr(err, "shorter than"));
    free(err);
}
END_TEST

/* The first error wins: a message already set is kept. */
START_TEST(test_parse_first_error_wins)
{
    gw_peer p;
    char *err = NULL;
    ck_assert_int_eq(gw_peer_parse(&p, "bad", &err), GW_ERR);
    char *first = err;
    ck_assert_int_eq(gw_peer_parse(&p, "worse:x", &err), GW_ERR);
    ck_assert_ptr_eq(err, first);
    free(err);
    ck_assert_int_eq(gw_peer_parse(&p, "bad", NULL), GW_ERR); /* no message wanted */
}
END_TEST

START_TEST(test_pool_new)
{
    char *specs[] = {"127.0.0.1:3000", "[::1]:3001", "unix:/tmp/x.sock"};
    char *err = NULL;
    gw_pool *p = gw_pool_new("k", NULL, &gw_balance_rr, specs, 3, 4, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(p->npeers, 3);
    ck_assert_str_eq(p->key, "k");
    for (unsigned i = 0; i < 3; i++) {
        const gw_peer *peer = &p->peers[i];
        ck_assert_str_eq(peer->name, specs[i]);
        ck_assert_ptr_ne(peer->name, specs[i]); /* the pool owns a copy */
        ck_assert_ptr_eq(peer->pool, p);
        ck_assert_uint_eq(peer->index, i);
        ck_assert_uint_eq(peer->max_inflight, 4);
        ck_assert_uint_eq(peer->hash, gw_hash_str(specs[i], strlen(specs[i])));
        ck_assert_int_eq(peer->health, GW_PEER_UP);
    }
    gw_pool_free(p);
}
END_TEST

static gw_pool *waited_for;
static void note_waiting(gw_pool *p)
{
    waited_for = p;
}

/* Two pools naming one backend (two routes, or the old and the new config of a reload) count
 * against one cap; a backend only one of them names is its own. */
START_TEST(test_pools_share_a_backend_count)
{
    char *a_specs[] = {"127.0.0.1:3000", "127.0.0.1:3001"};
    char *b_specs[] = {"localhost:3001", "127.0.0.1:3002"}; /* (3001: one backend) */
    gw_pool *a = gw_pool_new("a", NULL, &gw_balance_rr, a_specs, 2, 1, NULL);
    gw_pool *b = gw_pool_new("b", NULL, &gw_balance_rr, b_specs, 2, 1, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_eq(a->peers[1].count, b->peers[0].count); /* 3001: one count */
    ck_assert_ptr_ne(a->peers[0].count, b->peers[1].count);
    ck_assert_int_eq(a->shares, 1);
    ck_assert_int_eq(b->shares, 1);
    a->peers[1].count->inflight = 1;            /* a request of pool a fills 3001's cap ... */
    ck_assert(!gw_peer_has_room(&b->peers[0])); /* ... for pool b too */
    ck_assert(gw_peer_has_room(&b->peers[1]));
    ck_assert(!gw_pool_sharers_wait(&a->peers[1])); /* nobody waits */
    b->backlog.len = 1;
    gw_pool_backlog_changed(b, 0);
    ck_assert(gw_pool_sharers_wait(&a->peers[1]));
    ck_assert(gw_pool_any_sharer_waits(a));
    ck_assert(!gw_pool_any_sharer_waits(b));
    ck_assert(!gw_pool_sharers_wait(&a->peers[0])); /* (b does not name 3000) */
    ck_assert(!gw_pool_sharers_wait(&b->peers[0])); /* (its own pool is not another) */
    waited_for = NULL;
    gw_pool_each_waiting_sharer(a, note_waiting);
    ck_assert_ptr_eq(waited_for, b);
    waited_for = NULL;
    gw_pool_each_waiting_sharer(b, note_waiting); /* (a waits for nothing) */
    ck_assert_ptr_null(waited_for);
    b->backlog.len = 0;
    gw_pool_backlog_changed(b, 1);
    ck_assert(!gw_pool_any_sharer_waits(a));
    a->peers[1].count->inflight = 0;
    gw_pool_free(a);
    ck_assert_int_eq(b->shares, 0);
    ck_assert_uint_eq(b->peers[0].count->nusers, 1);
    gw_pool_free(b);
}
END_TEST

START_TEST(test_pool_new_refuses_bad_spec)
{
    char *specs[] = {"127.0.0.1:3000", "127.0.0.1:nope"};
    char *err = NULL;
    ck_assert_ptr_null(gw_pool_new("k", NULL, &gw_balance_rr, specs, 2, 0, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:nope"));
    free(err);
}
END_TEST

START_TEST(test_hist)
{
    gw_hist h;
    memset(&h, 0, sizeof(h));
    gw_hist_add(&h, 0.0005); /* first bucket */
    gw_hist_add(&h, 0.001);  /* an upper bound is inclusive */
    gw_hist_add(&h, 0.0011); /* second */
    gw_hist_add(&h, 2.5);    /* last finite bucket */
    gw_hist_add(&h, 100);    /* +Inf */
    ck_assert_uint_eq(h.bucket[0], 2);
    ck_assert_uint_eq(h.bucket[1], 1);
    ck_assert_uint_eq(h.bucket[GW_HIST_N - 2], 1);
    ck_assert_uint_eq(h.bucket[GW_HIST_N - 1], 1);
    ck_assert_uint_eq(h.count, 5);
    ck_assert_double_eq_tol(h.sum_ns / 1e9, 0.0005 + 0.001 + 0.0011 + 2.5 + 100, 1e-8);
}
END_TEST

START_TEST(test_available_and_room)
{
    gw_peer p;
    gw_peer_count count;
    memset(&p, 0, sizeof(p));
    memset(&count, 0, sizeof(count));
    p.count = &count;
    ck_assert(gw_peer_available(&p, 10));
    p.disabled_until = 12; /* passive disable: skipped until then */
    ck_assert(!gw_peer_available(&p, 10));
    ck_assert(gw_peer_available(&p, 12));
    p.health = GW_PEER_DOWN; /* an active check's verdict outlasts the disable time */
    ck_assert(!gw_peer_available(&p, 20));
    p.health = GW_PEER_UP;
    ck_assert(gw_peer_has_room(&p)); /* no cap */
    count.inflight = 1000;
    ck_assert(gw_peer_has_room(&p));
    p.max_inflight = 2;
    count.inflight = 1; /* (the backend's count: every pool naming it) */
    ck_assert(gw_peer_has_room(&p));
    count.inflight = 2;
    ck_assert(!gw_peer_has_room(&p));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_parse_ipv4);
    tcase_add_test(tc, test_parse_ipv6);
    tcase_add_test(tc, test_parse_unix);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_parse_first_error_wins);
    tcase_add_test(tc, test_pool_new);
    tcase_add_test(tc, test_pool_new_refuses_bad_spec);
    tcase_add_test(tc, test_pools_share_a_backend_count);
    tcase_add_test(tc, test_hist);
    tcase_add_test(tc, test_available_and_room);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
