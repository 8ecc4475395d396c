/* Error log: timestamped lines written with one write(2) each, so lines never interleave.
 * Base layer: libc only. */
#include "config.h"

#include "gateway/base/log.h"

#include "gateway/base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int gw_log_level = GW_LOG_INFO;
static int log_fd = 2;
static char *log_path;

int gw_log_open(const char *path)
{
    free(log_path);
    log_path = path ? gw_xstrdup(path) : NULL;
    return gw_log_reopen();
}

/* Other threads log while the file is reopened: the new file takes the old descriptor's number
 * (dup2), so a line goes to the old file or the new one, never to a closed number. */
int gw_log_reopen(void)
{
    int old = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    if (log_path == NULL) {
        __atomic_store_n(&log_fd, 2, __ATOMIC_RELAXED);
        if (old > 2) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (null >= 0 && dup3(null, old, O_CLOEXEC) >= 0) close(null);
        }
        return 0;
    }
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (old > 2 && dup3(fd, old, O_CLOEXEC) >= 0) {
        close(fd);
        fd = old;
    }
    __atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
    return 0;
}

void gw_log_close(void)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    __atomic_store_n(&log_fd, 2, __ATOMIC_RELAXED);
    if (fd > 2) close(fd);
    free(log_path);
    log_path = NULL;
}

void gw_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level > gw_log_level) return;
    char line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S ", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s] ", names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += (size_t)m;
    if (n > sizeof(line) - 2) n = sizeof(line) - 2;
    /* control bytes from the network never reach the log verbatim */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t') line[i] = '?';
    line[n++] = '\n';
    int saved = errno;
    ssize_t w = write(__atomic_load_n(&log_fd, __ATOMIC_RELAXED), line, n);
    (void)w;
    errno = saved;
}
