/* pingpong.c - the physical floor for loadgen: a loopback ping-pong of
 * frames of the same sizes over the same number of connections, with no
 * processing at all.
 *
 * usage: pingpong [--conns N] [--seconds S] [--request-bytes Q]
 *                 [--reply-bytes P] [--unix]
 *
 * It forks a server that answers every frame (4-byte big-endian length +
 * payload, as multiprocessing.connection frames) with a fixed frame of P
 * payload bytes, with the socket options managerd uses (TCP_NODELAY,
 * TCP_QUICKACK after reads) and one epoll loop, as managerd has. The
 * client is loadgen's own closed loop with a Q-byte request. It prints:
 *
 *   pingpong: conns=N seconds=S messages=M messages_per_s=R request_bytes=Q reply_bytes=P
 *
 * where a message is one request and its reply, comparable to a loadgen call.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "tests/bench/benchnet.h"

#define MAX_CONNS 100000
#define MAX_PAYLOAD 60000
#define SERVER_BUF 65536

typedef struct pp_conn {
    int fd;
    size_t have;
    uint8_t buf[SERVER_BUF];
} pp_conn;

/* Answer every complete frame in c->buf with the fixed reply frame. */
static int answer_frames(pp_conn *c, const uint8_t *reply, size_t reply_len)
{
    size_t off = 0;
    while (c->have - off >= 4) {
        uint32_t n;
        memcpy(&n, c->buf + off, 4);
        n = ntohl(n);
        if (n > SERVER_BUF - 4)
            return -1;
        if (c->have - off < 4 + (size_t)n)
            break;
        off += 4 + (size_t)n;
        if (bench_write_all(c->fd, reply, reply_len) < 0)
            return -1;
    }
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
    return 0;
}

static void accept_all(int lfd, int ep, bool is_tcp)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        pp_conn *c = md_malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->have = 0;
        if (is_tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* The server child: runs until killed (or its parent dies). */
static void serve(int lfd, bool is_tcp, size_t reply_bytes)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint8_t *reply = md_calloc(1, reply_bytes + 4);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!reply || ep < 0)
        _exit(1);
    uint32_t be = htonl((uint32_t)reply_bytes);
    memcpy(reply, &be, 4);
    memset(reply + 4, 'r', reply_bytes);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event evs[256];
    for (;;) {
        int nev = epoll_wait(ep, evs, 256, -1);
        for (int k = 0; k < nev; k++) {
            pp_conn *c = evs[k].data.ptr;
            if (!c) {
                accept_all(lfd, ep, is_tcp);
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->have, SERVER_BUF - c->have);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r > 0 && is_tcp) {
                int one = 1;
                setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
            }
            if (r > 0) {
                c->have += (size_t)r;
                if (answer_frames(c, reply, reply_bytes + 4) == 0)
                    continue;
            }
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            md_free(c);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"conns", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'},
        {"request-bytes", required_argument, NULL, 'q'},
        {"reply-bytes", required_argument, NULL, 'p'},
        {"unix", no_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    long conns = 1, req_bytes = 52, reply_bytes = 26;
    double seconds = 2.0;
    bool use_unix = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': conns = strtol(optarg, NULL, 10); break;
        case 's': seconds = strtod(optarg, NULL); break;
        case 'q': req_bytes = strtol(optarg, NULL, 10); break;
        case 'p': reply_bytes = strtol(optarg, NULL, 10); break;
        case 'u': use_unix = true; break;
        default: conns = -1;
        }
    }
    if (conns < 1 || conns > MAX_CONNS || seconds <= 0 || seconds > 3600 || req_bytes < 1 ||
        req_bytes > MAX_PAYLOAD || reply_bytes < 1 || reply_bytes > MAX_PAYLOAD) {
        fprintf(stderr, "usage: pingpong [--conns N] [--seconds S] [--request-bytes Q] "
                        "[--reply-bytes P] [--unix]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();

    char where[128];
    if (use_unix)
        snprintf(where, sizeof where, "unix:@managerd-pingpong-%ld", (long)getpid());
    else
        snprintf(where, sizeof where, "127.0.0.1:0");
    bench_addr addr;
    int lfd = bench_addr_parse(where, &addr) < 0 ? -1 : bench_listen(&addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "pingpong: cannot listen on %s: %s\n", where, strerror(errno));
        return 1;
    }
    /* Connect to the real port when it was 0. */
    socklen_t sl = sizeof addr.ss;
    getsockname(lfd, (struct sockaddr *)&addr.ss, &sl);
    if (addr.is_tcp)
        addr.len = sl;
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0)
        serve(lfd, addr.is_tcp, (size_t)reply_bytes);
    close(lfd);

    int *fds = md_calloc((size_t)conns, sizeof *fds);
    uint8_t *req = md_malloc((size_t)req_bytes);
    int rc = 1;
    if (!fds || !req)
        goto out;
    memset(req, 'q', (size_t)req_bytes);
    for (long i = 0; i < conns; i++) {
        fds[i] = bench_connect(&addr);
        if (fds[i] < 0) {
            fprintf(stderr, "pingpong: connection %ld failed: %s\n", i, strerror(errno));
            goto out;
        }
    }
    bench_loop_result res;
    if (bench_closed_loop(fds, (size_t)conns, req, (size_t)req_bytes, seconds, &res) < 0) {
        fprintf(stderr, "pingpong: the closed loop failed\n");
        goto out;
    }
    printf("pingpong: conns=%ld seconds=%.3f messages=%llu messages_per_s=%.0f "
           "request_bytes=%ld reply_bytes=%zu\n",
           conns, res.seconds, res.calls, (double)res.calls / res.seconds, req_bytes,
           res.reply_nbytes);
    rc = res.bad ? 1 : 0;
out:
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    for (long i = 0; fds && i < conns; i++)
        if (fds[i] > 0)
            close(fds[i]);
    md_free(fds);
    md_free(req);
    return rc;
}
