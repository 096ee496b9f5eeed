/* benchnet.c - sockets, framing, the HMAC handshake, tiny fixed pickles and
 * the closed-loop client shared by the benchmark programs (see benchnet.h). */
/* memmem, accept4: GNU extensions (the build's config.h is not included here). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tests/bench/benchnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/base/alloc.h"

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define CHALLENGE_LEN 11
#define MARKER_LEN 9

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- addresses ------------------------------------------------------------- */

static int parse_unix(const char *path, bool abstract, bench_addr *out)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
    size_t n = strlen(path);
    if (n + 1 > sizeof sun->sun_path || n == 0)
        return -1;
    sun->sun_family = AF_UNIX;
    if (abstract) {
        sun->sun_path[0] = 0;
        memcpy(sun->sun_path + 1, path, n);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    } else {
        memcpy(sun->sun_path, path, n + 1);
        out->len = (socklen_t)sizeof *sun;
    }
    out->is_tcp = false;
    return 0;
}

int bench_addr_parse(const char *text, bench_addr *out)
{
    memset(out, 0, sizeof *out);
    if (!strncmp(text, "unix:@", 6))
        return parse_unix(text + 6, true, out);
    if (!strncmp(text, "unix:", 5))
        return parse_unix(text + 5, false, out);
    if (!strncmp(text, "tcp://", 6))
        text += 6;
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= 64)
        return -1;
    char host[64];
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    out->len = (socklen_t)sizeof *sin;
    out->is_tcp = true;
    return 0;
}

void bench_addr_format(int fd, bool is_tcp, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(buf, len, "?");
        return;
    }
    if (is_tcp) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        snprintf(buf, len, "tcp://%s:%d", host, ntohs(sin->sin_port));
        return;
    }
    struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
    size_t n = sl > offsetof(struct sockaddr_un, sun_path)
                   ? sl - offsetof(struct sockaddr_un, sun_path) : 0;
    if (n && sun->sun_path[0] == 0)
        snprintf(buf, len, "unix:@%.*s", (int)(n - 1), sun->sun_path + 1);
    else
        snprintf(buf, len, "unix:%s", sun->sun_path);
}

int bench_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int bench_connect(const bench_addr *addr)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
        close(fd);
        return -1;
    }
    if (addr->is_tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int bench_listen(const bench_addr *addr, int backlog)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (addr->is_tcp)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 || listen(fd, backlog) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- blocking frames ---------------------------------------------------------- */

int bench_write_all(int fd, const void *buf, size_t nbytes)
{
    const uint8_t *p = buf;
    while (nbytes) {
        ssize_t w = write(fd, p, nbytes);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            /* A non-blocking socket whose buffer is full: wait, briefly. */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        if (w <= 0)
            return -1;
        p += w;
        nbytes -= (size_t)w;
    }
    return 0;
}

int bench_read_all(int fd, void *buf, size_t nbytes)
{
    uint8_t *p = buf;
    while (nbytes) {
        ssize_t r = read(fd, p, nbytes);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        nbytes -= (size_t)r;
    }
    return 0;
}

int bench_send_frame(int fd, const void *payload, size_t nbytes)
{
    uint8_t small[4 + 1024];
    if (nbytes > INT32_MAX)
        return -1;
    uint32_t be = htonl((uint32_t)nbytes);
    if (nbytes <= 1024) {
        memcpy(small, &be, 4);
        memcpy(small + 4, payload, nbytes);
        return bench_write_all(fd, small, 4 + nbytes);
    }
    if (bench_write_all(fd, &be, 4) < 0)
        return -1;
    return bench_write_all(fd, payload, nbytes);
}

int bench_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *nbytes)
{
    uint32_t be;
    if (bench_read_all(fd, &be, 4) < 0)
        return -1;
    uint32_t n = ntohl(be);
    if (n > cap || n > INT32_MAX)
        return -1;
    *nbytes = n;
    return bench_read_all(fd, buf, n);
}

/* ---- authentication ---------------------------------------------------------- */

static void hmac_md5(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t mlen,
                     uint8_t out[16])
{
    struct hmac_md5_ctx ctx;
    hmac_md5_set_key(&ctx, keylen, key);
    hmac_md5_update(&ctx, mlen, msg);
    hmac_md5_digest(&ctx, 16, out);
}

static void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t mlen,
                        uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}

static bool has_prefix(const uint8_t *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !memcmp(p, prefix, k);
}

int bench_answer(const uint8_t *key, size_t keylen, const uint8_t *body, size_t bodylen,
                 uint8_t *out)
{
    if (bodylen == 20) {
        hmac_md5(key, keylen, body, bodylen, out);
        return 16;
    }
    if (bodylen < 20)
        return -1;
    if (has_prefix(body, bodylen, "{sha256}")) {
        memcpy(out, "{sha256}", 8);
        hmac_sha256(key, keylen, body, bodylen, out + 8);
        return 40;
    }
    if (has_prefix(body, bodylen, "{md5}")) {
        memcpy(out, "{md5}", 5);
        hmac_md5(key, keylen, body, bodylen, out + 5);
        return 21;
    }
    return -1;
}

bool bench_verify(const uint8_t *key, size_t keylen, const uint8_t *body, size_t bodylen,
                  const uint8_t *answer, size_t answerlen)
{
    uint8_t mac[32];
    if (answerlen == 16) {
        hmac_md5(key, keylen, body, bodylen, mac);
        return sodium_memcmp(mac, answer, 16) == 0;
    }
    if (answerlen == 21 && has_prefix(answer, answerlen, "{md5}")) {
        hmac_md5(key, keylen, body, bodylen, mac);
        return sodium_memcmp(mac, answer + 5, 16) == 0;
    }
    if (answerlen == 40 && has_prefix(answer, answerlen, "{sha256}")) {
        hmac_sha256(key, keylen, body, bodylen, mac);
        return sodium_memcmp(mac, answer + 8, 32) == 0;
    }
    return false;
}

void bench_new_challenge(uint8_t body[BENCH_CHALLENGE_BODY])
{
    memcpy(body, "{sha256}", 8);
    randombytes_buf(body + 8, BENCH_CHALLENGE_BODY - 8);
}

int bench_client_handshake(int fd, const uint8_t *key, size_t keylen)
{
    uint8_t msg[BENCH_MAX_HANDSHAKE], ans[64];
    size_t n;
    /* (1) the server's challenge, (2) our answer, (3) its verdict. */
    if (bench_recv_frame(fd, msg, sizeof msg, &n) < 0 || !has_prefix(msg, n, CHALLENGE))
        return -1;
    int alen = bench_answer(key, keylen, msg + CHALLENGE_LEN, n - CHALLENGE_LEN, ans);
    if (alen < 0 || bench_send_frame(fd, ans, (size_t)alen) < 0)
        return -1;
    if (bench_recv_frame(fd, msg, sizeof msg, &n) < 0 || n != MARKER_LEN ||
        memcmp(msg, WELCOME, MARKER_LEN))
        return -1;
    /* (4) our challenge, (5) its answer, (6) our verdict. */
    uint8_t ch[CHALLENGE_LEN + BENCH_CHALLENGE_BODY];
    memcpy(ch, CHALLENGE, CHALLENGE_LEN);
    bench_new_challenge(ch + CHALLENGE_LEN);
    if (bench_send_frame(fd, ch, sizeof ch) < 0 ||
        bench_recv_frame(fd, msg, sizeof msg, &n) < 0)
        return -1;
    bool ok = bench_verify(key, keylen, ch + CHALLENGE_LEN, BENCH_CHALLENGE_BODY, msg, n);
    if (bench_send_frame(fd, ok ? WELCOME : FAILURE, MARKER_LEN) < 0)
        return -1;
    return ok ? 0 : -1;
}

const char *bench_authkey(size_t *keylen)
{
    const char *k = getenv("MANAGERD_AUTHKEY");
    if (k)
        *keylen = strlen(k);
    return k;
}

/* ---- pickles ---------------------------------------------------------------------- */

typedef struct pkout {
    uint8_t *p;
    size_t n, cap;
    bool overflow;
} pkout;

static void put(pkout *o, const void *bytes, size_t n)
{
    if (o->n + n > o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->n, bytes, n);
    o->n += n;
}

static void put_byte(pkout *o, uint8_t b)
{
    put(o, &b, 1);
}

/* SHORT_BINUNICODE then MEMOIZE, as pickle does for every new str. */
static void put_str(pkout *o, const char *s)
{
    size_t n = strlen(s);
    if (n > 255) {
        o->overflow = true;
        return;
    }
    put_byte(o, 0x8c);
    put_byte(o, (uint8_t)n);
    put(o, s, n);
    put_byte(o, 0x94);
}

/* PROTO 4 and FRAME with the frame length of everything after them. */
static long finish_frame(pkout *o)
{
    if (o->overflow)
        return -1;
    uint64_t frame = o->n - 11;
    o->p[0] = 0x80;
    o->p[1] = 4;
    o->p[2] = 0x95;
    for (int i = 0; i < 8; i++)
        o->p[3 + i] = (uint8_t)(frame >> (8 * i));
    return (long)o->n;
}

long bench_pickle_create_reply(uint8_t *out, size_t cap, const char *ident,
                               const char *const *names, size_t nnames)
{
    if (cap < 11)
        return -1;
    pkout o = {.p = out, .n = 11, .cap = cap};
    put_str(&o, "#RETURN");
    put_str(&o, ident);
    put_byte(&o, '(');
    for (size_t i = 0; i < nnames; i++)
        put_str(&o, names[i]);
    put_byte(&o, 't');
    put_byte(&o, 0x94);
    put_byte(&o, 0x86);                  /* (ident, exposed) */
    put_byte(&o, 0x94);
    put_byte(&o, 0x86);                  /* ('#RETURN', ...) */
    put_byte(&o, 0x94);
    put_byte(&o, '.');
    return finish_frame(&o);
}

long bench_pickle_return_none(uint8_t *out, size_t cap)
{
    if (cap < 11)
        return -1;
    pkout o = {.p = out, .n = 11, .cap = cap};
    put_str(&o, "#RETURN");
    put_byte(&o, 'N');
    put_byte(&o, 0x86);
    put_byte(&o, 0x94);
    put_byte(&o, '.');
    return finish_frame(&o);
}

long bench_pickle_request(uint8_t *out, size_t cap, const char *ident, const char *method,
                          const char *str_arg, const int *int_arg)
{
    if (cap < 11 || (int_arg && (*int_arg < 0 || *int_arg > 255)))
        return -1;
    /* PROTO 4, FRAME <len> ... ; the frame length is patched in below. */
    pkout o = {.p = out, .n = 11, .cap = cap};
    put_byte(&o, '(');                   /* MARK */
    if (ident)
        put_str(&o, ident);
    else
        put_byte(&o, 'N');               /* NONE */
    put_str(&o, method);
    put_str(&o, str_arg);
    if (int_arg) {
        put_byte(&o, 'K');               /* BININT1 */
        put_byte(&o, (uint8_t)*int_arg);
        put_byte(&o, 0x86);              /* TUPLE2 */
    } else {
        put_byte(&o, 0x85);              /* TUPLE1 */
    }
    put_byte(&o, 0x94);
    put_byte(&o, '}');                   /* EMPTY_DICT */
    put_byte(&o, 0x94);
    put_byte(&o, 't');                   /* TUPLE */
    put_byte(&o, 0x94);
    put_byte(&o, '.');                   /* STOP */
    return finish_frame(&o);
}

int bench_pickle_reply_str(const uint8_t *reply, size_t nbytes, char *out, size_t cap)
{
    const uint8_t *p = memmem(reply, nbytes, "#RETURN", 7);
    if (!p)
        return -1;
    const uint8_t *end = reply + nbytes;
    /* Skip memo puts and MARK until the next string opcode; no pickle
     * parsing beyond that is needed for a create reply. */
    for (p += 7; p < end; p++) {
        size_t n;
        const uint8_t *s;
        if (*p == 0x94 || *p == '(')
            continue;
        if (*p == 'q') {                 /* BINPUT i */
            p += 1;
            continue;
        }
        if (*p == 'r') {                 /* LONG_BINPUT i */
            p += 4;
            continue;
        }
        if (*p == 0x8c && p + 1 < end) {
            n = p[1];
            s = p + 2;
        } else if (*p == 'X' && p + 4 < end) {
            n = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16 | (size_t)p[4] << 24;
            s = p + 5;
        } else {
            return -1;
        }
        if (s + n > end || n + 1 > cap)
            return -1;
        memcpy(out, s, n);
        out[n] = 0;
        return 0;
    }
    return -1;
}

/* ---- the closed loop ---------------------------------------------------------- */

#define LOOP_BUF 65536

typedef struct loop_conn {
    int fd;
    size_t have;
    uint8_t *buf;
} loop_conn;

/* Complete frames in c->buf: check each against the first reply, count
 * it, and send the next request. -1 on a broken stream. */
static int drain_frames(loop_conn *c, bench_loop_result *res, uint8_t *first, size_t *first_len,
                        const uint8_t *framed_req, size_t framed_len, bool in_window)
{
    size_t off = 0;
    while (c->have - off >= 4) {
        uint32_t n;
        memcpy(&n, c->buf + off, 4);
        n = ntohl(n);
        if (n > LOOP_BUF - 4)
            return -1;
        if (c->have - off < 4 + (size_t)n)
            break;
        const uint8_t *payload = c->buf + off + 4;
        if (*first_len == (size_t)-1) {
            memcpy(first, payload, n);
            *first_len = n;
        } else if (n != *first_len || memcmp(first, payload, n)) {
            res->bad++;
        }
        off += 4 + (size_t)n;
        if (!in_window)
            continue;
        res->calls++;
        if (bench_write_all(c->fd, framed_req, framed_len) < 0)
            return -1;
    }
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
    return 0;
}

int bench_closed_loop(const int *fds, size_t nfds, const uint8_t *req, size_t reqlen,
                      double seconds, bench_loop_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t *framed = md_malloc(reqlen + 4);
    loop_conn *conns = md_calloc(nfds, sizeof *conns);
    uint8_t *first = md_malloc(LOOP_BUF);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = -1;
    if (!framed || !conns || !first || ep < 0)
        goto out;
    uint32_t be = htonl((uint32_t)reqlen);
    memcpy(framed, &be, 4);
    memcpy(framed + 4, req, reqlen);
    for (size_t i = 0; i < nfds; i++) {
        conns[i].fd = fds[i];
        conns[i].buf = md_malloc(LOOP_BUF);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (!conns[i].buf || bench_set_nonblock(fds[i]) < 0 ||
            epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            goto out;
    }
    size_t first_len = (size_t)-1;
    double t0 = bench_now(), end = t0 + seconds, now = t0;
    for (size_t i = 0; i < nfds; i++)
        if (bench_write_all(fds[i], framed, reqlen + 4) < 0)
            goto out;
    struct epoll_event evs[256];
    while (now < end) {
        int nev = epoll_wait(ep, evs, 256, 50);
        if (nev < 0 && errno != EINTR)
            goto out;
        now = bench_now();
        for (int k = 0; k < nev; k++) {
            loop_conn *c = &conns[evs[k].data.u64];
            ssize_t r = read(c->fd, c->buf + c->have, LOOP_BUF - c->have);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fprintf(stderr, "closed loop: connection %d %s\n", (int)evs[k].data.u64,
                        r == 0 ? "closed by the server" : strerror(errno));
                goto out;
            }
            c->have += (size_t)r;
            if (drain_frames(c, res, first, &first_len, framed, reqlen + 4, now < end) < 0)
                goto out;
        }
    }
    res->seconds = now - t0;
    res->reply_nbytes = first_len == (size_t)-1 ? 0 : first_len;
    rc = 0;
out:
    if (ep >= 0)
        close(ep);
    for (size_t i = 0; conns && i < nfds; i++)
        md_free(conns[i].buf);
    md_free(conns);
    md_free(first);
    md_free(framed);
    return rc;
}
