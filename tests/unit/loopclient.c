/* loopclient.c - a loopback client for the transport tests (see
 * loopclient.h). */
#include "tests/unit/loopclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/log.h"

int md_lc_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A loopback connect completes in the kernel's backlog, before the
     * server's loop accepts it. */
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool md_lc_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    for (int round = 0; len && round < MD_LC_ROUNDS; round++) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return false;
        } else {
            usleep(1000);
        }
    }
    return len == 0;
}

long md_lc_poll(struct event_base *base, int fd, md_buf *in)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0)
        return md_buf_append(in, chunk, (size_t)n) < 0 ? -1 : (long)n;
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
        return 0; /* closed, or reset */
    usleep(1000);
    return -1;
}

void md_lc_run(struct event_base *base, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

bool md_lc_server_open(md_lc_server *s, const char *key)
{
    md_log_set_level(MD_LOG_ERROR);
    s->th = md_th_new();
    s->base = md_server_base(md_th_server(s->th));
    s->key = md_auth_key_new((const uint8_t *)key, strlen(key));
    return s->key != NULL;
}

void md_lc_server_close(md_lc_server *s)
{
    md_auth_key_free(s->key);
    md_th_free(s->th);
    md_log_set_level(MD_LOG_INFO); /* the default */
}
