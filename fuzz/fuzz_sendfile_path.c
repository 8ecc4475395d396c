/* libFuzzer target for the X-Sendfile parsers: gw_sendfile_normalize (the path must come out
 * absolute and clean, or be refused), gw_range_parse (a 206 stays inside the file) and the
 * HTTP date parser behind If-Range. Aborts on any broken invariant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/respond/sendfile.h"

#define ETAG "\"1a-3e8-5f5e100\""
#define MTIME ((time_t)100000000)

static void check(int ok)
{
    if (!ok) abort();
}

static void fuzz_normalize(const uint8_t *data, size_t size)
{
    char out[512], again[512];
    int n = gw_sendfile_normalize((gw_str){(const char *)data, size}, out, sizeof(out));
    if (n < 0) return;
    check((size_t)n < sizeof(out) && strlen(out) == (size_t)n);
    check(out[0] == '/');
    check(strstr(out, "//") == NULL && strstr(out, "/./") == NULL && strstr(out, "/../") == NULL);
    check(n == 1 || out[n - 1] != '/');
    check(!(n >= 2 && strcmp(out + n - 2, "/.") == 0));
    check(!(n >= 3 && strcmp(out + n - 3, "/..") == 0));
    /* without '%' left to decode, a clean path is its own normal form */
    if (strchr(out, '%') == NULL) {
        int m = gw_sendfile_normalize((gw_str){out, (size_t)n}, again, sizeof(again));
        check(m == n && memcmp(out, again, (size_t)n) == 0);
    }
}

/* data: [size selector][Range]\n[If-Range] */
static void fuzz_range(const uint8_t *data, size_t size)
{
    static const uint64_t sizes[] = {0, 1, 2, 10, 1000, 1ULL << 32, UINT64_MAX - 1, UINT64_MAX};
    if (size == 0) return;
    uint64_t fsize = sizes[data[0] % (sizeof(sizes) / sizeof(sizes[0]))];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(p, '\n', n);
    gw_str range = {p, nl ? (size_t)(nl - p) : n};
    gw_str if_range = nl ? (gw_str){nl + 1, n - range.n - 1} : GW_STR_NULL;
    uint64_t start = 0, len = 0;
    int st = gw_range_parse(range, if_range, ETAG, MTIME, fsize, &start, &len);
    check(st == 0 || st == 206 || st == 416);
    if (st == 206) check(len > 0 && start < fsize && len <= fsize - start);

    time_t t = gw_http_date_parse((gw_str){p, n});
    if (t != -1) {
        char buf[30];
        check(gw_http_date_parse(gw_str_from(gw_http_date(t, buf))) == t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so reading one byte past the input is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    fuzz_normalize(copy, size);
    fuzz_range(copy, size);
    free(copy);
    return 0;
}
