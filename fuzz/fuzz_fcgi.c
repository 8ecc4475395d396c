/* libFuzzer target: backend bytes through the FastCGI record decoder and fcgi_backend_ops.parse.
 * The first input byte picks HEAD/keep-alive and how the rest is cut into reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "proto/fastcgi/fcgi_backend.h"
#include "proto/fastcgi/fcgi_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char state[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    gw_log_level = -1;
    unsigned mode = data[0];
    data++;
    size--;

    gw_arena arena = {0};
    gw_endpoint ep = {"127.0.0.1", "9000", 0};
    gw_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = GW_STR("GET");
    rq.target = rq.path = GW_STR("/");
    rq.scheme = GW_STR("http");
    rq.client = rq.server = &ep;
    rq.arena = &arena;
    rq.is_head = mode & 1;
    if (fcgi_backend_ops.state_size > sizeof(state)) abort();
    memset(state, 0, fcgi_backend_ops.state_size);
    gw_bufq out = {0};
    if (fcgi_backend_ops.encode_head(state, &rq, (mode >> 1) & 1, &out) != GW_OK) abort();
    gw_bufq_clear(&out);

    gw_resp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.arena = &arena;
    rsp.content_length = -1;
    rsp.log_tag = "fuzz";
    gw_buf in;
    gw_buf_init(&in, size + 1);
    size_t chunk = (mode >> 2) ? (mode >> 2) : size + 1; /* 1..63 bytes per read, or all */
    size_t i = 0;
    int rc = GW_AGAIN;
    do {
        size_t k = size - i < chunk ? size - i : chunk;
        gw_buf_compact(&in);
        memcpy(in.data + in.len, data + i, k);
        in.len += k;
        i += k;
        rc = fcgi_backend_ops.parse(state, &in, i == size, &rsp);
    } while (rc == GW_AGAIN && i < size);
    if (rc == GW_DONE) {
        if (!rsp.done || !rsp.head_done) abort();
        if (rsp.status < 100 || rsp.status > 599) abort();
        if (rsp.content_length >= 0 && (int64_t)rsp.body.bytes > rsp.content_length) abort();
        if (rq.is_head && rsp.body.bytes) abort();
        (void)fcgi_backend_ops.reusable(state);
    } else if (rc != GW_ERR && !(rc == GW_AGAIN && size == 0)) {
        abort(); /* eof was given with the last byte: never "more wanted" */
    }

    /* the bare decoder on the same bytes: progress on every call, slices inside the input */
    fcgi_decoder d;
    fcgi_decoder_init(&d);
    for (size_t j = 0; j < size;) {
        fcgi_piece pc;
        ssize_t r = fcgi_decode(&d, (const char *)data + j, size - j, &pc);
        if (r < 0) break;
        if (r == 0) abort();
        if (pc.len && (pc.data < (const char *)data + j ||
                       pc.data + pc.len > (const char *)data + j + (size_t)r))
            abort();
        j += (size_t)r;
    }

    gw_bufq_clear(&rsp.body);
    gw_buf_free(&in);
    gw_arena_free(&arena);
    return 0;
}
