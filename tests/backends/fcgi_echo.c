/* Test backend: a FastCGI responder (libfcgi) that answers with JSON listing every CGI
 * variable received, the body length and its FNV-1a 64, shaped by the query options of
 * QUERY_STRING. One request at a time; libfcgi honours FCGI_KEEP_CONN.
 * Usage: fcgi_echo [ADDR]   (no ADDR: serve the listening socket on fd 0, print nothing) */
#include <fcgiapp.h>

#include "tests/backends/echo_common.h"

static int fcgi_sink(void *ctx, const char *p, size_t n, int flush)
{
    FCGX_Stream *out = ctx;
    while (n > 0) { /* FCGX_PutStr takes an int count */
        int k = n > (1u << 30) ? (1 << 30) : (int)n;
        if (FCGX_PutStr(p, k, out) != k) return -1;
        p += k;
        n -= (size_t)k;
    }
    if (flush && FCGX_FFlush(out) < 0) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr,
                "usage: %s [ADDR]   (127.0.0.1:PORT, [::1]:PORT, unix:/path; "
                "none: the socket on fd 0)\n",
                argv[0]);
        return 2;
    }
    char tag[64];
    const char *backend = tag;
    int lfd = 0;
    if (FCGX_Init() != 0) {
        fputs("fcgi_echo: FCGX_Init failed\n", stderr);
        return 1;
    }
    if (argc == 2) {
        backend = argv[1];
        lfd = ec_listen("fcgi_echo", argv[1]);
    } else {
        snprintf(tag, sizeof(tag), "fd0:%ld", (long)getpid());
        signal(SIGPIPE, SIG_IGN);
    }
    FCGX_Request rq;
    if (FCGX_InitRequest(&rq, lfd, 0) != 0) {
        fputs("fcgi_echo: FCGX_InitRequest failed\n", stderr);
        return 1;
    }
    if (argc == 2) ec_ready();

    ec_buf js = {0};
    ec_opts o;
    memset(&o, 0, sizeof(o));
    static char buf[65536];
    while (FCGX_Accept_r(&rq) >= 0) {
        ec_json_params_open(&js);
        const char *query = "";
        for (char **e = rq.envp; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (eq == NULL) continue;
            ec_json_param(&js, *e, (size_t)(eq - *e), eq + 1, strlen(eq + 1));
            if (eq - *e == 12 && memcmp(*e, "QUERY_STRING", 12) == 0) query = eq + 1;
        }
        uint64_t h = EC_FNV_INIT, blen = 0;
        int r;
        while ((r = FCGX_GetStr(buf, sizeof(buf), rq.in)) > 0) {
            h = ec_fnv1a64(h, buf, (size_t)r);
            blen += (uint64_t)r;
        }
        ec_json_params_close(&js, blen, h, backend);
        ec_opts_parse(&o, query, strlen(query));
        ec_cgi_answer(&o, &js, fcgi_sink, rq.out);
        FCGX_Finish_r(&rq);
    }
    /* libfcgi ends the accept loop on SIGTERM: a clean exit, so LeakSanitizer has its say */
    free(js.p);
    return 0;
}
