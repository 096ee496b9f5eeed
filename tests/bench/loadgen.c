/* loadgen.c - managerd's own capacity, without a Python client in the way.
 *
 * usage: loadgen --connect ADDRESS [--conns N] [--seconds S] [--key KEY]
 *
 * It creates one dict on a short connection, opens N long connections
 * (handshake + accept_connection, exactly as a Python client does), stores
 * KEY -> 1 in the dict, and then every connection sends the same
 * pre-encoded request - d[KEY], the protocol-4 pickle a Python 3.8+ client
 * would send - waits for the reply and sends it again, for S seconds, all
 * connections at once over one epoll loop. It prints one line:
 *
 *   loadgen: conns=N seconds=S calls=C calls_per_s=R request_bytes=Q reply_bytes=P bad=B
 *
 * request_bytes and reply_bytes are payload sizes (each frame adds a 4-byte
 * header); pingpong takes them to measure the loopback floor for frames of
 * the same sizes. bad counts replies that differed from the first one.
 * The authkey comes from MANAGERD_AUTHKEY. It works against any manager
 * server (managerd, CPython's, the floor).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "tests/bench/benchnet.h"

#define MAX_CONNS 100000

typedef struct loadgen_opts {
    const char *connect;
    long conns;
    double seconds;
    const char *key;
} loadgen_opts;

static const uint8_t *authkey;
static size_t authkey_len;

/* One request and its reply on fd; the reply payload in reply/nbytes. */
static int call(int fd, const uint8_t *req, size_t reqlen, uint8_t *reply, size_t cap,
                size_t *nbytes)
{
    if (bench_send_frame(fd, req, reqlen) < 0 || bench_recv_frame(fd, reply, cap, nbytes) < 0)
        return -1;
    return 0;
}

static bool is_return_none(const uint8_t *reply, size_t nbytes)
{
    uint8_t none[64];
    long n = bench_pickle_return_none(none, sizeof none);
    /* Replies of other encoders may differ in framing; accept any
     * '#RETURN' whose last opcodes are NONE, TUPLE2 (MEMOIZE) STOP. */
    if (n > 0 && (size_t)n == nbytes && !memcmp(none, reply, nbytes))
        return true;
    return memmem(reply, nbytes, "#RETURN", 7) && nbytes >= 4 &&
           (memmem(reply + nbytes - 4, 4, "N\x86\x94.", 4) || memmem(reply + nbytes - 3, 3, "N\x86.", 3));
}

/* create('dict') on a short connection: the new dict's ident. */
static int create_dict(const bench_addr *addr, char *ident, size_t cap)
{
    uint8_t req[256], reply[65536];
    size_t n;
    long reqlen = bench_pickle_request(req, sizeof req, NULL, "create", "dict", NULL);
    int fd = bench_connect(addr);
    if (fd < 0 || bench_client_handshake(fd, authkey, authkey_len) < 0 ||
        call(fd, req, (size_t)reqlen, reply, sizeof reply, &n) < 0 ||
        bench_pickle_reply_str(reply, n, ident, cap) < 0) {
        fprintf(stderr, "loadgen: create('dict') failed\n");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* A long connection: handshake, then accept_connection. */
static int open_long(const bench_addr *addr)
{
    uint8_t req[256], reply[4096];
    size_t n;
    long reqlen = bench_pickle_request(req, sizeof req, NULL, "accept_connection", "loadgen",
                                       NULL);
    int fd = bench_connect(addr);
    if (fd < 0)
        return -1;
    if (bench_client_handshake(fd, authkey, authkey_len) < 0 ||
        call(fd, req, (size_t)reqlen, reply, sizeof reply, &n) < 0 || !is_return_none(reply, n)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int parse_args(int argc, char **argv, loadgen_opts *o)
{
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"conns", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->connect = optarg; break;
        case 'n': o->conns = strtol(optarg, NULL, 10); break;
        case 's': o->seconds = strtod(optarg, NULL); break;
        case 'k': o->key = optarg; break;
        default: return -1;
        }
    }
    if (!o->connect || o->conns < 1 || o->conns > MAX_CONNS || o->seconds <= 0 ||
        o->seconds > 3600 || strlen(o->key) > 200)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    loadgen_opts o = {.conns = 1, .seconds = 2.0, .key = "k0000001"};
    bench_addr addr;
    if (parse_args(argc, argv, &o) < 0 || bench_addr_parse(o.connect, &addr) < 0) {
        fprintf(stderr, "usage: loadgen --connect ADDRESS [--conns N] [--seconds S] [--key KEY]\n"
                        "       (authkey in MANAGERD_AUTHKEY)\n");
        return 2;
    }
    authkey = (const uint8_t *)bench_authkey(&authkey_len);
    if (!authkey || sodium_init() < 0) {
        fprintf(stderr, "loadgen: MANAGERD_AUTHKEY is not set\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();

    char ident[256];
    if (create_dict(&addr, ident, sizeof ident) < 0)
        return 1;
    int *fds = md_calloc((size_t)o.conns, sizeof *fds);
    if (!fds)
        return 1;
    for (long i = 0; i < o.conns; i++) {
        fds[i] = open_long(&addr);
        if (fds[i] < 0) {
            fprintf(stderr, "loadgen: long connection %ld failed\n", i);
            return 1;
        }
    }
    uint8_t set_req[512], get_req[512], reply[4096];
    size_t n;
    int one = 1;
    long set_len = bench_pickle_request(set_req, sizeof set_req, ident, "__setitem__", o.key, &one);
    long get_len = bench_pickle_request(get_req, sizeof get_req, ident, "__getitem__", o.key, NULL);
    if (set_len < 0 || get_len < 0 ||
        call(fds[0], set_req, (size_t)set_len, reply, sizeof reply, &n) < 0 ||
        !is_return_none(reply, n)) {
        fprintf(stderr, "loadgen: d[%s] = 1 failed\n", o.key);
        return 1;
    }

    bench_loop_result res;
    if (bench_closed_loop(fds, (size_t)o.conns, get_req, (size_t)get_len, o.seconds, &res) < 0) {
        fprintf(stderr, "loadgen: the closed loop failed\n");
        return 1;
    }
    printf("loadgen: conns=%ld seconds=%.3f calls=%llu calls_per_s=%.0f request_bytes=%ld "
           "reply_bytes=%zu bad=%llu\n",
           o.conns, res.seconds, res.calls, (double)res.calls / res.seconds, get_len,
           res.reply_nbytes, res.bad);
    for (long i = 0; i < o.conns; i++)
        close(fds[i]);
    md_free(fds);
    return res.bad ? 1 : 0;
}
