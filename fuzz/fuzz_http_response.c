/* libFuzzer target: backend response bytes through http_backend_ops.parse, fed in pieces, with
 * the adapter's promises asserted. Knows only the ops table and the neutral objects. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "proto/http/http_backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gw_endpoint ep = {"127.0.0.1", "8080", 0};
    if (size < 2) return 0;
    gw_log_level = -1;
    /* first byte: request flags and piece size */
    unsigned flags = data[0];
    size_t step = (size_t)(data[1] % 64) + 1;
    data += 2;
    size -= 2;

    gw_header h[] = {{GW_STR("Host"), GW_STR("h")}};
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = (flags & 1) ? GW_STR("HEAD") : GW_STR("GET");
    rq.target = GW_STR("/");
    rq.minor = 1;
    rq.hdr = h;
    rq.nhdr = 1;
    rq.is_head = flags & 1;
    rq.upgrade = (flags >> 1) & 1;
    rq.content_length = 0;
    rq.scheme = GW_STR("http");
    rq.client = rq.server = &ep;

    void *st = calloc(1, http_backend_ops.state_size);
    gw_arena arena = {0};
    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.arena = &arena;
    gw_bufq out = {0};
    gw_buf in;
    gw_buf_init(&in, (flags & 4) ? 256 : 4096);
    if (http_backend_ops.encode_head(st, &rq, (flags >> 3) & 1, &out) != GW_OK) abort();
    gw_bufq_clear(&out);

    size_t pos = 0;
    int rc = GW_AGAIN;
    while (rc == GW_AGAIN) {
        size_t k = size - pos < step ? size - pos : step;
        if (gw_buf_room(&in) < k) gw_buf_compact(&in);
        if (gw_buf_room(&in) < k) k = gw_buf_room(&in);
        if (k == 0 && pos < size) abort(); /* a full buffer must have been an error */
        memcpy(in.data + in.len, data + pos, k);
        in.len += k;
        pos += k;
        rc = http_backend_ops.parse(st, &in, pos == size, &rsp);
        if (rc == GW_AGAIN && pos == size) abort(); /* eof must settle it */
    }
    if (rc == GW_DONE) {
        if (!rsp.head_done || !rsp.done) abort();
        if (rsp.status < 100 || rsp.status > 599) abort();
        (void)http_backend_ops.reusable(st);
    } else if (rc != GW_ERR) {
        abort();
    }
    if (rsp.head_done && rsp.nhdr && rsp.hdr == NULL) abort();

    gw_bufq_clear(&rsp.body);
    gw_arena_free(&arena);
    gw_buf_free(&in);
    free(st);
    return 0;
}
