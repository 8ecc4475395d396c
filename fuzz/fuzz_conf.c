/* libFuzzer target for the configuration parser: any input must parse or fail with a located
 * error; what parses must print, re-parse and print the same again; matching must not crash.
 * The name "fuzz" disables include, so the fuzzer never reads the file system. */
#include "gateway/config/conf.h"
#include "gateway/config/cond.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_conf(const gw_conf *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (f == NULL) abort();
    gw_conf_print(c, f);
    fclose(f);
    return s;
}

static void ignore(void *arg, const gw_block *b)
{
    (*(size_t *)arg)++;
    (void)b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *err = NULL;
    gw_conf *c = gw_conf_parse_string("fuzz", (const char *)data, size, &err);
    if (c == NULL) {
        if (err == NULL || strncmp(err, "fuzz:", 5) != 0) abort();
        free(err);
        return 0;
    }
    if (err != NULL) abort();

    char *p1 = print_conf(c);
    gw_conf *c2 = gw_conf_parse_string("fuzz", p1, strlen(p1), &err);
    if (c2 == NULL) {
        fprintf(stderr, "printed config does not parse: %s\n%s\n", err, p1);
        abort();
    }
    char *p2 = print_conf(c2);
    if (strcmp(p1, p2) != 0) {
        fprintf(stderr, "print is not stable:\n%s\n----\n%s\n", p1, p2);
        abort();
    }

    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr.s6_addr[15] = 1;
    gw_header hdr[] = {{GW_STR("Host"), GW_STR("a.example")}, {GW_STR("X-A"), GW_STR("1")}};
    gw_cond_ctx ctx = {.url = GW_STR("/app/index.php"),
                       .query = GW_STR("a=1"),
                       .host = GW_STR("a.example"),
                       .method = GW_STR("GET"),
                       .scheme = GW_STR("http"),
                       .remote = (struct sockaddr *)&sa,
                       .remote_ip = GW_STR("::1"),
                       .socket = GW_STR("127.0.0.1:8080"),
                       .hdr = hdr,
                       .nhdr = 2};
    size_t hits = 0;
    gw_conf_match(c, &ctx, ignore, &hits);
    if (hits == 0) abort(); /* the global block always applies */

    free(p1);
    free(p2);
    gw_conf_free(c2);
    gw_conf_free(c);
    return 0;
}
