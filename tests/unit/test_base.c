/* Check tests for the base layer: gateway/buf.c (slices, buffers, block queues, arena) and
 * gateway/req.c (header lookups and edits); main() also runs cgi_suite() from test_cgi.c. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/req.h"

Suite *cgi_suite(void);

/* Deterministic bytes, so content checks catch reordering as well as loss. */
static void fill(char *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (char)((i + seed) * 131 % 251);
}

static void assert_q(const gw_bufq *q, const char *want, size_t n)
{
    ck_assert_uint_eq(q->bytes, n);
    char *got = malloc(n + 1);
    ck_assert_uint_eq(gw_bufq_copyout(q, 0, got, n + 1), n);
    ck_assert(memcmp(got, want, n) == 0);
    free(got);
    size_t sum = 0;
    for (const gw_blk *b = q->head; b; b = b->next) sum += b->len - b->off;
    ck_assert_uint_eq(sum, n);
}

static void teardown(void)
{
    gw_blk_pool_trim();
}

START_TEST(str_helpers)
{
    gw_str s = gw_str_from("Content-Type");
    ck_assert_uint_eq(s.n, 12);
    ck_assert(gw_str_eq(s, "Content-Type"));
    ck_assert(!gw_str_eq(s, "content-type"));
    ck_assert(gw_str_caseeq(s, "content-TYPE"));
    ck_assert(!gw_str_caseeq(s, "content-typ"));
    ck_assert(gw_str_caseeq2(s, GW_STR("CONTENT-type")));
    ck_assert(gw_str_caseeq2(GW_STR_NULL, GW_STR("")));
    ck_assert_uint_eq(gw_str_from(NULL).n, 0);
}
END_TEST

START_TEST(buf_consume_compact)
{
    gw_buf b;
    gw_buf_init(&b, 64);
    ck_assert_uint_eq(gw_buf_room(&b), 64);
    memcpy(b.data, "hello world", 11);
    b.len = 11;
    gw_buf_consume(&b, 6);
    ck_assert_uint_eq(gw_buf_unread(&b), 5);
    gw_buf_compact(&b);
    ck_assert_uint_eq(b.off, 0);
    ck_assert(memcmp(b.data, "world", 5) == 0);
    ck_assert_uint_eq(gw_buf_room(&b), 59);
    gw_buf_consume(&b, 5); /* all read: rewinds */
    ck_assert_uint_eq(b.off, 0);
    ck_assert_uint_eq(b.len, 0);
    gw_buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(bufq_append_iov_consume)
{
    static char src[40000];
    fill(src, sizeof(src), 1);
    gw_bufq q = {0};
    /* uneven appends that straddle block edges */
    size_t off = 0, step[] = {1, 16382, 3, 7, 20000, 3607};
    for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
        gw_bufq_append(&q, src + off, step[i]);
        off += step[i];
    }
    ck_assert_uint_eq(off, sizeof(src));
    assert_q(&q, src, sizeof(src));
    struct iovec iov[8];
    ck_assert_int_eq(gw_bufq_iov(&q, iov, 8), 3);
    ck_assert_uint_eq(iov[0].iov_len, GW_BLK_SIZE);
    ck_assert_uint_eq(iov[1].iov_len, GW_BLK_SIZE);
    ck_assert_uint_eq(iov[2].iov_len, sizeof(src) - 2 * GW_BLK_SIZE);
    ck_assert_int_eq(gw_bufq_iov(&q, iov, 2), 2);

    gw_bufq_consume(&q, 20000); /* crosses the first block edge */
    assert_q(&q, src + 20000, sizeof(src) - 20000);
    ck_assert_int_eq(gw_bufq_iov(&q, iov, 8), 2);
    ck_assert(iov[0].iov_base == (void *)(q.head->data + q.head->off));
    char peek[10];
    ck_assert_uint_eq(gw_bufq_copyout(&q, 5000, peek, 10), 10);
    ck_assert(memcmp(peek, src + 25000, 10) == 0);
    gw_bufq_consume(&q, sizeof(src)); /* more than there is */
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_ptr_null(q.head);
    ck_assert_ptr_null(q.tail);
}
END_TEST

START_TEST(bufq_move)
{
    static char src[50000];
    fill(src, sizeof(src), 7);
    gw_bufq a = {0}, b = {0};
    gw_bufq_append(&a, src, sizeof(src));
    gw_blk *first = a.head;
    gw_bufq_move(&b, &a, GW_BLK_SIZE); /* exactly one block: changes owner, no copy */
    ck_assert_ptr_eq(b.head, first);
    assert_q(&b, src, GW_BLK_SIZE);
    assert_q(&a, src + GW_BLK_SIZE, sizeof(src) - GW_BLK_SIZE);

    gw_bufq_move(&b, &a, 100); /* a part: copied */
    assert_q(&b, src, GW_BLK_SIZE + 100);
    assert_q(&a, src + GW_BLK_SIZE + 100, sizeof(src) - GW_BLK_SIZE - 100);

    gw_bufq_move(&b, &a, 20000); /* the rest of a block plus part of the next */
    assert_q(&b, src, GW_BLK_SIZE + 20100);
    gw_bufq_move_all(&b, &a);
    assert_q(&b, src, sizeof(src));
    ck_assert_uint_eq(a.bytes, 0);
    ck_assert_ptr_null(a.head);
    gw_bufq_move_all(&b, &a); /* empty source: no-op */
    assert_q(&b, src, sizeof(src));
    gw_bufq_clear(&b);
    ck_assert_uint_eq(b.bytes, 0);
    ck_assert_ptr_null(b.head);
}
END_TEST

START_TEST(bufq_reserve_commit_appendf)
{
    gw_bufq q = {0};
    size_t avail;
    char *p = gw_bufq_reserve(&q, &avail);
    ck_assert_uint_eq(avail, GW_BLK_SIZE);
    memset(p, 'x', avail - 2);
    gw_bufq_commit(&q, avail - 2);
    p = gw_bufq_reserve(&q, &avail);
    ck_assert_uint_eq(avail, 2);
    memcpy(p, "yz", 2);
    gw_bufq_commit(&q, 2);
    gw_blk *full = q.tail;
    p = gw_bufq_reserve(&q, &avail); /* the tail is full: a new block */
    ck_assert_ptr_ne(q.tail, full);
    ck_assert_uint_eq(avail, GW_BLK_SIZE);
    gw_bufq_commit(&q, 0);
    ck_assert_uint_eq(q.bytes, GW_BLK_SIZE);

    gw_bufq_clear(&q);
    gw_bufq_appendf(&q, "%s=%d", "n", 42);
    assert_q(&q, "n=42", 4);
    static char big[3000];
    memset(big, 'b', sizeof(big) - 1);
    gw_bufq_appendf(&q, "[%s]", big); /* beyond the small stack buffer */
    ck_assert_uint_eq(q.bytes, 4 + 2 + sizeof(big) - 1);
    char c[3];
    gw_bufq_copyout(&q, 4, c, 2);
    ck_assert(c[0] == '[' && c[1] == 'b');
    gw_bufq_clear(&q);
}
END_TEST

START_TEST(arena_allocs)
{
    gw_arena a = {0};
    for (int i = 1; i < 2000; i++) {
        char *p = gw_arena_alloc(&a, (size_t)(i % 97) + 1);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 97) + 1); /* ASan catches an overlap or overrun */
    }
    char *big = gw_arena_alloc(&a, 100000);
    memset(big, 1, 100000);
    char *s = gw_arena_strndup(&a, "abcdef", 3);
    ck_assert_str_eq(s, "abc");
    gw_str c = gw_arena_str(&a, GW_STR("copy me"));
    ck_assert(gw_str_eq(c, "copy me"));
    ck_assert_str_eq(gw_arena_sprintf(&a, "%d-%s", 7, "x"), "7-x");
    ck_assert_uint_gt(a.used_total, 100000);
    gw_arena_reset(&a);
    ck_assert_uint_eq(a.used_total, 0);
    char *again = gw_arena_alloc(&a, 32);
    memset(again, 0, 32);
    gw_arena_free(&a);
    ck_assert_ptr_null(a.head);
}
END_TEST

START_TEST(req_lookups)
{
    gw_header h[] = {{GW_STR("Host"), GW_STR("a")},
                     {GW_STR("X-Two"), GW_STR("1")},
                     {GW_STR("x-two"), GW_STR("2")}};
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.hdr = h;
    rq.nhdr = 3;
    const gw_header *f = gw_req_header(&rq, "X-TWO");
    ck_assert_ptr_eq(f, &h[1]); /* the first of a repeated field */
    ck_assert_ptr_null(gw_req_header(&rq, "Missing"));
}
END_TEST

START_TEST(resp_headers_grow_delete)
{
    gw_arena a = {0};
    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.arena = &a;
    char *names[40];
    for (int i = 0; i < 40; i++) {
        names[i] = gw_arena_sprintf(&a, "%s%d", i % 2 ? "Set-Cookie" : "X-H", i);
        gw_resp_add_header(&rsp, gw_str_from(names[i]), gw_str_from(names[i]));
    }
    ck_assert_uint_eq(rsp.nhdr, 40);
    for (int i = 0; i < 40; i++) /* nothing lost when the array moved */
        ck_assert(gw_str_eq(rsp.hdr[i].name, names[i]));
    ck_assert_ptr_nonnull(gw_resp_header(&rsp, "x-h38"));
    gw_resp_add_header(&rsp, GW_STR("Dup"), GW_STR("1"));
    gw_resp_add_header(&rsp, GW_STR("dup"), GW_STR("2"));
    gw_resp_del_header(&rsp, "DUP");
    ck_assert_uint_eq(rsp.nhdr, 40);
    ck_assert_ptr_null(gw_resp_header(&rsp, "dup"));
    gw_resp_del_header(&rsp, "X-H0");
    ck_assert_uint_eq(rsp.nhdr, 39);
    ck_assert(gw_str_eq(rsp.hdr[0].name, "Set-Cookie1")); /* order kept */
    gw_arena_free(&a);
}
END_TEST

START_TEST(req_field_names)
{
    static const char *const hop[] = {"Connection", "keep-alive",       "TE",
                                      "te",         "Trailer",          "UPGRADE",
                                      "Upgrade",    "Proxy-Connection", "Transfer-Encoding"};
    static const char *const not_hop[] = {
        "Host",        "Content-Length",    "Proxy", "Keep_Alive", "T",
        "Connections", "Transfer_Encoding", "",      "Expect"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        ck_assert_msg(gw_is_hop_by_hop(gw_str_from(hop[i])), "%s", hop[i]);
    for (size_t i = 0; i < sizeof(not_hop) / sizeof(not_hop[0]); i++)
        ck_assert_msg(!gw_is_hop_by_hop(gw_str_from(not_hop[i])), "%s", not_hop[i]);

    ck_assert(gw_cgi_name_eq(GW_STR("Content_Length"), GW_STR("content-length")));
    ck_assert(gw_cgi_name_eq(GW_STR("X.Y~z"), GW_STR("x-y-Z")));
    ck_assert(!gw_cgi_name_eq(GW_STR("Content-Lengths"), GW_STR("Content-Length")));
    ck_assert(!gw_cgi_name_eq(GW_STR("Content-Lengtg"), GW_STR("Content-Length")));

    /* every spelling that takes an owned field's variable, but not the field itself */
    static const char *const alike[] = {"Content_Length",    "content.length",   "CONTENT~LENGTH",
                                        "Transfer_Encoding", "Content_Type",     "Keep_Alive",
                                        "Proxy_Connection",  "X_Forwarded_For",  "x.forwarded.host",
                                        "X-Forwarded_Proto", "transfer*encoding"};
    static const char *const not_alike[] = {"Content-Length",
                                            "content-length",
                                            "Transfer-Encoding",
                                            "Content-Type",
                                            "Keep-Alive",
                                            "X-Forwarded-For",
                                            "Proxy",
                                            "Host",
                                            "Connection",
                                            "X_Custom",
                                            "Content_Lengths",
                                            "TE",
                                            "Accept_Encoding",
                                            ""};
    for (size_t i = 0; i < sizeof(alike) / sizeof(alike[0]); i++)
        ck_assert_msg(gw_is_lookalike(gw_str_from(alike[i])), "%s", alike[i]);
    for (size_t i = 0; i < sizeof(not_alike) / sizeof(not_alike[0]); i++)
        ck_assert_msg(!gw_is_lookalike(gw_str_from(not_alike[i])), "%s", not_alike[i]);
}
END_TEST

static Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("buf");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, str_helpers);
    tcase_add_test(tc, buf_consume_compact);
    tcase_add_test(tc, bufq_append_iov_consume);
    tcase_add_test(tc, bufq_move);
    tcase_add_test(tc, bufq_reserve_commit_appendf);
    tcase_add_test(tc, arena_allocs);
    suite_add_tcase(s, tc);
    tc = tcase_create("req");
    tcase_add_test(tc, req_lookups);
    tcase_add_test(tc, resp_headers_grow_delete);
    tcase_add_test(tc, req_field_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(base_suite());
    srunner_add_suite(sr, cgi_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
