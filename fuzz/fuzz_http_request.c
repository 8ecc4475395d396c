/* libFuzzer target: the HTTP request head parser, request analysis, hop-by-hop checks, the
 * authority check and the chunked decoder (with and without a limit), with their invariants
 * asserted. Knows only proto/http/http_parse.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode `in` in pieces of `step` bytes; checks what the decoder promises. */
static void decode(const char *in, size_t n, size_t step, int64_t limit)
{
    char *buf = malloc(n ? n : 1);
    http_chunked c;
    http_chunked_init(&c);
    if (limit >= 0) http_chunked_limit(&c, (uint64_t)limit);
    uint64_t out = 0;
    size_t pos = 0;
    int rc = GW_AGAIN;
    while (pos < n && rc == GW_AGAIN) {
        size_t k = n - pos < step ? n - pos : step;
        size_t used = 0, dl = 0;
        memcpy(buf, in + pos, k);
        rc = http_chunked_decode(&c, buf, k, &used, &dl);
        if (dl > used || used > k) abort();
        if (rc == GW_AGAIN && used != k) abort();
        if (c.too_big && rc != GW_ERR) abort();
        out += dl;
        pos += used;
    }
    /* a limited decoder never hands out more than its limit */
    if (limit >= 0 && out > (uint64_t)limit) abort();
    if (limit < 0 && c.too_big) abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    gw_header hdr[GW_MAX_HEADERS];
    http_req_head h;
    int status = 0;
    int r = http_parse_request(s, size, &h, hdr, GW_MAX_HEADERS, 8192, &status);
    if (r > 0) {
        if ((size_t)r > size || status != 0) abort();
        /* what the word-at-a-time scans let through must still be valid bytes */
        for (size_t i = 0; i < h.target.n; i++) {
            unsigned char c = (unsigned char)h.target.p[i];
            if (c <= 0x20 || c == 0x7f) abort();
        }
        for (size_t i = 0; i < h.nhdr; i++) {
            gw_str v = h.hdr[i].value;
            for (size_t j = 0; j < v.n; j++) {
                unsigned char c = (unsigned char)v.p[j];
                if ((c < 0x20 && c != '\t') || c == 0x7f) abort();
            }
            if (v.n && (v.p[0] == ' ' || v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t')) abort();
        }
        http_req_info info;
        int st = http_req_analyze(&h, &info);
        if (st != 0 && st != 400 && st != 417 && st != 501) abort();
        for (size_t i = 0; i < h.nhdr; i++) {
            (void)http_is_hop_by_hop(h.hdr[i].name, h.hdr, h.nhdr);
            (void)http_list_has(h.hdr[i].value, "close");
            /* an authority that passes carries no userinfo, path, space or control byte */
            gw_str v = h.hdr[i].value;
            if (http_authority_check(v) == GW_OK)
                for (size_t j = 0; j < v.n; j++)
                    if (strchr("@/?# \t\\\"", v.p[j]) || (unsigned char)v.p[j] < 0x20) abort();
        }
        if (st == 0 && info.host.n && http_authority_check(info.host) != GW_OK) abort();
        if (st == 0 && info.chunked) decode(s + r, size - (size_t)r, 7, -1);
        /* the same head must parse the same way when it is all there is */
        http_req_head h2;
        if (http_parse_request(s, (size_t)r, &h2, hdr, GW_MAX_HEADERS, 8192, &status) != r) abort();
    } else if (r == GW_ERR) {
        if (status != 400 && status != 414 && status != 431 && status != 505) abort();
    } else if (r != GW_AGAIN) {
        abort();
    }
    if (size > 0) {
        decode(s + 1, size - 1, (size_t)(data[0] % 32) + 1, -1);
        decode(s + 1, size - 1, (size_t)(data[0] % 32) + 1, data[0] * 16);
        decode(s, size, size, -1);
    }
    return 0;
}
