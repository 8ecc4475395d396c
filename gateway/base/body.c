/* Request bodies: memory first, an unlinked temp file past GW_BODY_MEM_MAX. */
#include "config.h"

#include "gateway/base/body.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/base/log.h"

void gw_body_reset(gw_body *b)
{
    gw_bufq_clear(&b->mem);
    if (b->fd >= 0) close(b->fd);
    b->fd = -1;
    b->total = 0;
    b->complete = 0;
    b->streaming = 0;
}

ssize_t gw_body_pread(const gw_body *b, uint64_t off, void *dst, size_t n)
{
    if (b->fd >= 0) {
        ssize_t r;
        do r = pread(b->fd, dst, n, (off_t)off);
        while (r < 0 && errno == EINTR);
        return r;
    }
    return (ssize_t)gw_bufq_copyout(&b->mem, (size_t)off, dst, n);
}

/* O_TMPFILE: the file never has a name; where the kernel lacks it, a name removed at once. */
static int spill_open(void)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0') dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/portico-body-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

static int write_all(int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return GW_ERR;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return GW_OK;
}

/* Keep body bytes: in memory, or in the spill file once past GW_BODY_MEM_MAX (a streamed body
 * never spills: its producer is paused instead). */
int gw_body_append(gw_body *b, const char *p, size_t n, uint64_t max)
{
    if (n == 0) return 0;
    if (b->total + n > max) return 413;
    if (!b->streaming && b->fd < 0 && b->mem.bytes + n > GW_BODY_MEM_MAX) {
        b->fd = spill_open();
        if (b->fd < 0) {
            gw_log(GW_LOG_ERR, "cannot create a temp file for a request body: %s", strerror(errno));
            return 500;
        }
        uint64_t off = 0;
        while (b->mem.bytes > 0) {
            struct iovec iov;
            if (gw_bufq_iov(&b->mem, &iov, 1) == 0 ||
                write_all(b->fd, iov.iov_base, iov.iov_len, off) != GW_OK)
                return 500;
            off += iov.iov_len;
            gw_bufq_consume(&b->mem, iov.iov_len);
        }
    }
    if (b->fd >= 0) {
        if (write_all(b->fd, p, n, b->total) != GW_OK) return 500;
    } else {
        gw_bufq_append(&b->mem, p, n);
    }
    b->total += n;
    return 0;
}
