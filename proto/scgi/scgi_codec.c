/* SCGI netstring head: encode the pairs and the length prefix, and decode them again (for
 * tests, fuzzing and tools). Codec layer: no allocation, no sockets, no libev. */
#include "proto/scgi/scgi_codec.h"

#include <limits.h>
#include <string.h>

int scgi_pair_check(gw_str name, gw_str value)
{
    if (name.n == 0) return GW_ERR;
    /* A NUL inside would shift every later pair: the backend would read a different env. */
    if (memchr(name.p, '\0', name.n) != NULL) return GW_ERR;
    if (value.n && memchr(value.p, '\0', value.n) != NULL) return GW_ERR;
    return GW_OK;
}

size_t scgi_pair_put(char *dst, gw_str name, gw_str value)
{
    memcpy(dst, name.p, name.n);
    dst[name.n] = '\0';
    if (value.n) memcpy(dst + name.n + 1, value.p, value.n);
    dst[name.n + 1 + value.n] = '\0';
    return name.n + value.n + 2;
}

size_t scgi_prefix_put_before(char *end, size_t len)
{
    char *p = end;
    *--p = ':';
    do {
        *--p = (char)('0' + len % 10);
        len /= 10;
    } while (len);
    return (size_t)(end - p);
}

int scgi_netstring_parse(const char *buf, size_t len, size_t max, gw_str *payload)
{
    size_t i = 0, n = 0;
    while (i < len && buf[i] >= '0' && buf[i] <= '9') {
        if (i > 0 && n == 0) return GW_ERR; /* "0" may only stand alone */
        n = n * 10 + (size_t)(buf[i] - '0');
        if (n > max) return GW_ERR;
        i++;
    }
    if (i == len) return i > 20 ? GW_ERR : GW_AGAIN;
    if (i == 0 || buf[i] != ':') return GW_ERR;
    i++;
    if (n > (size_t)INT_MAX - i - 1) return GW_ERR; /* the count must fit the return value */
    if (len - i < n + 1) return GW_AGAIN;
    if (buf[i + n] != ',') return GW_ERR;
    payload->p = buf + i;
    payload->n = n;
    return (int)(i + n + 1);
}

int scgi_pair_next(gw_str payload, size_t *off, gw_str *name, gw_str *value)
{
    size_t o = *off;
    if (o >= payload.n) return GW_DONE;
    const char *p = payload.p + o, *end = payload.p + payload.n;
    const char *z1 = memchr(p, '\0', (size_t)(end - p));
    if (z1 == NULL || z1 == p) return GW_ERR;
    const char *z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1));
    if (z2 == NULL) return GW_ERR;
    name->p = p;
    name->n = (size_t)(z1 - p);
    value->p = z1 + 1;
    value->n = (size_t)(z2 - z1 - 1);
    *off = (size_t)(z2 + 1 - payload.p);
    return GW_OK;
}
