/* The quickstart app: a tiny FastCGI responder (libfcgi) that greets and shows what the
 * gateway told it. Run it under portico's spawn (the socket on fd 0) or by hand with an
 * address: hello_fcgi 127.0.0.1:9000 | hello_fcgi [::1]:9000 | hello_fcgi unix:/tmp/hello.sock
 * Build: cc -O2 hello_fcgi.c -o hello_fcgi -lfcgi */
#include <fcgiapp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Bind and listen on "host:port", "[v6]:port" or "unix:/path"; -1 on failure. libfcgi's own
 * FCGX_OpenSocket knows no IPv6 literals, so the socket is made here and handed over. */
static int listen_on(const char *addr)
{
    int fd;
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(addr + 5) >= sizeof(sun.sun_path)) return -1;
        strcpy(sun.sun_path, addr + 5);
        unlink(sun.sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) return -1;
    } else {
        char host[256];
        const char *colon = strrchr(addr, ':');
        if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) return -1;
        size_t hl = (size_t)(colon - addr);
        const char *h = addr;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
        if (getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai) != 0) return -1;
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        int one = 1;
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        int rc = fd >= 0 ? bind(fd, ai->ai_addr, ai->ai_addrlen) : -1;
        freeaddrinfo(ai);
        if (rc < 0) return -1;
    }
    return listen(fd, 128) == 0 ? fd : -1;
}

static const char *param(FCGX_Request *rq, const char *name)
{
    const char *v = FCGX_GetParam(name, rq->envp);
    return v ? v : "";
}

int main(int argc, char **argv)
{
    int fd = 0; /* spawn-fcgi convention: the listening socket is stdin */
    if (argc > 1 && (fd = listen_on(argv[1])) < 0) {
        perror(argv[1]);
        return 1;
    }
    if (FCGX_Init() != 0) return 1;
    FCGX_Request rq;
    FCGX_InitRequest(&rq, fd, 0);
    static const char *const vars[] = {"REQUEST_METHOD", "REQUEST_URI",  "SCRIPT_NAME",
                                       "PATH_INFO",      "QUERY_STRING", "REMOTE_ADDR"};
    while (FCGX_Accept_r(&rq) >= 0) {
        /* Read the whole body even when only its size is shown: the gateway is still
         * sending it, and a responder must not answer over an unread request. */
        long long size = 0;
        char buf[8192];
        int n;
        while ((n = FCGX_GetStr(buf, sizeof(buf), rq.in)) > 0) size += n;

        FCGX_FPrintF(rq.out, "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                             "Hello from portico's example app\n\n");
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
            FCGX_FPrintF(rq.out, "%-15s %s\n", vars[i], param(&rq, vars[i]));
        if (strcmp(param(&rq, "REQUEST_METHOD"), "POST") == 0)
            FCGX_FPrintF(rq.out, "%-15s %lld bytes\n", "body", size);
        FCGX_Finish_r(&rq);
    }
    return 0;
}
