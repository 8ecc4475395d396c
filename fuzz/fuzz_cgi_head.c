/* libFuzzer target: gw_cgi_parse_head on arbitrary bytes, checking its contract: a head is found
 * at most once, every shorter prefix is incomplete, and the result is well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/cgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const uint8_t *data, size_t size, gw_arena *a, gw_resp *rsp)
{
    memset(rsp, 0, sizeof(*rsp));
    rsp->arena = a;
    /* an exact-size heap copy, so ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    int r = gw_cgi_parse_head(buf, size, rsp);
    free(buf);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_arena a = {0};
    gw_resp rsp;
    int r = parse(data, size, &a, &rsp);
    if (r == GW_AGAIN) {
        if (rsp.nhdr || rsp.head_done) abort(); /* nothing touched while incomplete */
    } else if (r >= 0) {
        if ((size_t)r > size || r == 0) abort();
        if (data[r - 1] != '\n') abort();
        if (rsp.status < 100 || rsp.status > 599 || !rsp.head_done) abort();
        for (size_t i = 0; i < rsp.nhdr; i++) {
            const gw_header *h = &rsp.hdr[i];
            if (h->name.n == 0 || gw_str_caseeq(h->name, "Status")) abort();
            for (size_t j = 0; j < h->name.n; j++)
                if (h->name.p[j] <= ' ' || h->name.p[j] == ':') abort();
            for (size_t j = 0; j < h->value.n; j++)
                if (h->value.p[j] == '\r' || h->value.p[j] == '\n' || h->value.p[j] == '\0')
                    abort();
        }
        /* the head ends exactly there: one byte less is incomplete */
        gw_resp again;
        if (parse(data, (size_t)r - 1, &a, &again) != GW_AGAIN) abort();
    } else if (r != GW_ERR) {
        abort();
    }
    gw_arena_free(&a);
    return 0;
}
