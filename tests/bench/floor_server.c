/* floor_server.c - a manager server that does nothing: the real handshake
 * (HMAC-MD5 or HMAC-SHA256, multiprocessing.connection framing) and then a
 * fixed reply to every request, so that a stock Python client can run any
 * benchmark against it. What a Python client achieves against it is the
 * floor no manager server can beat; bench_server.py prints managerd next
 * to it.
 *
 * usage: floor_server --listen ADDRESS [--listen ADDRESS]...
 *                     [--canned METHOD=FILE]...
 * The authkey comes from MANAGERD_AUTHKEY, as for managerd. It prints
 * "floor: listening on ADDRESS" per listener once it is ready.
 *
 * Replies: ('#RETURN', (ident, exposed)) to create - a fresh ident each time
 * and one exposed tuple that covers dict, list, Queue and the locks, so the
 * client can build any proxy (AutoProxy types take their methods from it);
 * ('#RETURN', None) to everything else, except:
 *
 * --canned METHOD=FILE (repeatable, at most MAX_CANNED): every call of
 * METHOD (on any object) is answered with FILE's bytes as one frame, byte
 * for byte, whatever its arguments. FILE holds a whole reply pickle, e.g.
 * what Python's ForkingPickler.dumps(('#RETURN', value)) writes; the floor
 * reads it once at start and never decodes it. That is the floor of a read:
 * a server that has the reply ready and only sends it (bench_bulk.py's
 * d.copy(), l[:] and q.get() rows). Of a request the floor reads only the
 * method name: the second item of the (ident, method, args, kwds) tuple,
 * a str right after the ident (None or a str) and its memo opcode; a later
 * METHOD=FILE for the same METHOD replaces an earlier one.
 *
 * It sets TCP_NODELAY and TCP_QUICKACK as managerd's design asks, so that
 * it is a floor and not a victim of the 40 ms delayed-ACK stall
 * (tests/docs/protocol.md §7). A reply the socket does not take at once
 * waits for EPOLLOUT; a canned one waits by reference, not as a copy.
 */
/* memmem, accept4: GNU extensions (the build's config.h is not included here). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "tests/bench/benchnet.h"

#define MAX_LISTENERS 8
#define SCRATCH_BYTES (1u << 20)
/* --canned options: bench_bulk.py uses five (four read rows, q.get). */
#define MAX_CANNED 16
/* A method name is a short str: SHORT_BINUNICODE in every protocol we read. */
#define MAX_METHOD_NAME 255

typedef enum conn_state {
    ST_LISTENER,   /* not a connection: a listening socket */
    ST_ANSWER,     /* we sent our challenge, waiting for its answer */
    ST_CHALLENGE,  /* we sent #WELCOME#, waiting for the client's challenge */
    ST_VERDICT,    /* we answered, waiting for #WELCOME# or #FAILURE# */
    ST_SERVING     /* requests and fixed replies */
} conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    bool is_tcp;
    uint8_t challenge[BENCH_CHALLENGE_BODY];
    uint8_t *in;          /* an incomplete frame; NULL while idle */
    size_t have, cap;
    uint8_t *out;         /* unsent reply bytes we own; NULL almost always */
    size_t out_len;
    const uint8_t *ext;   /* then the unsent rest of a canned reply (not ours) */
    size_t ext_len;
} conn;

/* One --canned METHOD=FILE: the reply bytes, kept until exit. */
typedef struct canned {
    char method[MAX_METHOD_NAME + 1];
    size_t method_len;
    uint8_t *bytes;
    size_t nbytes;
} canned;

static struct {
    int ep;
    const uint8_t *key;
    size_t keylen;
    uint8_t none_reply[64];
    size_t none_len;
    unsigned long long next_ident;
    canned canned[MAX_CANNED];
    size_t ncanned;
} floor_state;

static uint8_t scratch[SCRATCH_BYTES];

/* Every method name a SyncManager proxy of dict, list, Queue, Lock, RLock,
 * Event, Condition, Semaphore or Value might call. */
static const char *const exposed[] = {
    "__contains__", "__delitem__", "__getitem__", "__iter__", "__len__", "__setitem__",
    "clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
    "values", "__add__", "__imul__", "__iadd__", "__mul__", "__reversed__", "__rmul__",
    "append", "count", "extend", "index", "insert", "remove", "reverse", "sort",
    "empty", "full", "get_nowait", "join", "put", "put_nowait", "qsize", "task_done",
    "shutdown", "acquire", "release", "is_set", "set", "wait", "notify", "notify_all",
    "_is_owned",
};

/* ---- output ---------------------------------------------------------------- */

static void close_conn(conn *c)
{
    epoll_ctl(floor_state.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    md_free(c->in);
    md_free(c->out);
    md_free(c);
}

static int watch_output(conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    return epoll_ctl(floor_state.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Append a copy of bytes to what c owes. */
static int owe_copy(conn *c, const uint8_t *bytes, size_t nbytes)
{
    if (!nbytes)
        return 0;
    uint8_t *grown = md_realloc(c->out, c->out_len + nbytes);
    if (!grown)
        return -1;
    memcpy(grown + c->out_len, bytes, nbytes);
    c->out = grown;
    c->out_len += nbytes;
    return 0;
}

/* Frame and send; whatever the socket does not take now waits for
 * EPOLLOUT, behind anything already owed. A canned payload lives until
 * exit, so what is left of it waits by reference: a 100 MB reply is never
 * copied (that would be server work the floor must not do). */
static int send_frame_of(conn *c, const uint8_t *payload, size_t nbytes, bool canned_bytes)
{
    uint8_t hdr[4] = {(uint8_t)(nbytes >> 24), (uint8_t)(nbytes >> 16), (uint8_t)(nbytes >> 8),
                      (uint8_t)nbytes};
    bool idle = !c->out_len && !c->ext_len;
    size_t sent = 0;
    if (idle) {
        struct iovec iov[2] = {{hdr, 4}, {(void *)payload, nbytes}};
        ssize_t w = writev(c->fd, iov, 2);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        sent = w > 0 ? (size_t)w : 0;
        if (sent == 4 + nbytes)
            return 0;
    }
    if (c->ext_len) {
        /* Pipelined requests behind a canned reply still going out (rare):
         * keep the order by owning the rest of it. */
        if (owe_copy(c, c->ext, c->ext_len) < 0)
            return -1;
        c->ext = NULL;
        c->ext_len = 0;
    }
    size_t from = sent > 4 ? sent - 4 : 0;
    if (sent < 4 && owe_copy(c, hdr + sent, 4 - sent) < 0)
        return -1;
    if (canned_bytes) {
        c->ext = payload + from;
        c->ext_len = nbytes - from;
    } else if (owe_copy(c, payload + from, nbytes - from) < 0) {
        return -1;
    }
    return idle ? watch_output(c, true) : 0;
}

static int send_frame(conn *c, const void *payload, size_t nbytes)
{
    return send_frame_of(c, payload, nbytes, false);
}

/* EPOLLOUT: what c owes, its own bytes first, then the canned rest. */
static int flush_out(conn *c)
{
    struct iovec iov[2] = {{c->out, c->out_len}, {(void *)c->ext, c->ext_len}};
    ssize_t w = writev(c->fd, iov, 2);
    if (w < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    size_t done = (size_t)w, own = done < c->out_len ? done : c->out_len;
    if (own) {
        memmove(c->out, c->out + own, c->out_len - own);
        c->out_len -= own;
    }
    if (done > own) {                  /* (out may be NULL, ext too) */
        c->ext += done - own;
        c->ext_len -= done - own;
    }
    if (c->out_len || c->ext_len)
        return 0;
    md_free(c->out);
    c->out = NULL;
    c->ext = NULL;
    return watch_output(c, false);
}

/* ---- messages ---------------------------------------------------------------- */

static bool is_marker(const uint8_t *p, size_t n, const char *marker)
{
    return n == strlen(marker) && !memcmp(p, marker, n);
}

/* A server-method create: (None, 'create', ...). The floor reads no more of
 * a pickle than this, on purpose. */
static bool is_create(const uint8_t *p, size_t n)
{
    size_t span = n < 48 ? n : 48;
    return memmem(p, span, "N\x8c\x06" "create", 9) || memmem(p, span, "NU\x06" "create", 9) ||
           memmem(p, span, "NX\x06\x00\x00\x00" "create", 12);
}

/* A str opcode at p[*at] (SHORT_BINUNICODE, BINUNICODE, or Python 2's
 * SHORT_BINSTRING), then its memo opcode if any: the str's bytes, *at moved
 * past both; NULL if there is no str there. */
static const uint8_t *take_str(const uint8_t *p, size_t n, size_t *at, size_t *len)
{
    size_t i = *at, head;
    if (i + 2 > n)
        return NULL;
    if (p[i] == 0x8c || p[i] == 'U') {
        head = 2;
        *len = p[i + 1];
    } else if (p[i] == 'X' && i + 5 <= n) {
        head = 5;
        *len = (size_t)p[i + 1] | (size_t)p[i + 2] << 8 | (size_t)p[i + 3] << 16 |
               (size_t)p[i + 4] << 24;
    } else {
        return NULL;
    }
    if (*len > n - i - head)
        return NULL;
    const uint8_t *s = p + i + head;
    i += head + *len;
    if (i < n && p[i] == 0x94)            /* MEMOIZE */
        i += 1;
    else if (i < n && p[i] == 'q')        /* BINPUT */
        i += 2;
    else if (i < n && p[i] == 'r')        /* LONG_BINPUT */
        i += 5;
    *at = i;
    return s;
}

/* The canned reply for request p's method, or NULL. The request is
 * (ident, method, args, kwds): [PROTO] [FRAME] MARK ident method ... */
static const canned *canned_for(const uint8_t *p, size_t n)
{
    size_t at = 0, len;
    if (!floor_state.ncanned)
        return NULL;
    if (n >= 2 && p[0] == 0x80)                     /* PROTO */
        at = 2;
    if (at + 9 <= n && p[at] == 0x95)               /* FRAME */
        at += 9;
    if (at >= n || p[at++] != '(')                  /* MARK */
        return NULL;
    if (at < n && p[at] == 'N')
        at++;
    else if (!take_str(p, n, &at, &len))
        return NULL;
    const uint8_t *method = take_str(p, n, &at, &len);
    for (size_t k = 0; method && k < floor_state.ncanned; k++) {
        const canned *cn = &floor_state.canned[k];
        if (cn->method_len == len && !memcmp(cn->method, method, len))
            return cn;
    }
    return NULL;
}

static int serve_request(conn *c, const uint8_t *p, size_t n)
{
    const canned *cn = canned_for(p, n);
    if (cn)
        return send_frame_of(c, cn->bytes, cn->nbytes, true);
    if (!is_create(p, n))
        return send_frame(c, floor_state.none_reply, floor_state.none_len);
    char ident[32];
    uint8_t reply[2048];
    snprintf(ident, sizeof ident, "f%llx", floor_state.next_ident++);
    long len = bench_pickle_create_reply(reply, sizeof reply, ident, exposed,
                                         sizeof exposed / sizeof exposed[0]);
    return len < 0 ? -1 : send_frame(c, reply, (size_t)len);
}

static int handle_message(conn *c, const uint8_t *p, size_t n)
{
    uint8_t answer[64];
    switch (c->state) {
    case ST_ANSWER:
        if (!bench_verify(floor_state.key, floor_state.keylen, c->challenge,
                          BENCH_CHALLENGE_BODY, p, n)) {
            send_frame(c, "#FAILURE#", 9);
            return -1;
        }
        c->state = ST_CHALLENGE;
        return send_frame(c, "#WELCOME#", 9);
    case ST_CHALLENGE: {
        if (n < 11 || memcmp(p, "#CHALLENGE#", 11))
            return -1;
        int alen = bench_answer(floor_state.key, floor_state.keylen, p + 11, n - 11, answer);
        c->state = ST_VERDICT;
        return alen < 0 ? -1 : send_frame(c, answer, (size_t)alen);
    }
    case ST_VERDICT:
        if (!is_marker(p, n, "#WELCOME#"))
            return -1;
        c->state = ST_SERVING;
        return 0;
    case ST_SERVING:
        return serve_request(c, p, n);
    case ST_LISTENER:
        break;
    }
    return -1;
}

/* Handle every complete frame in data; the number of bytes used, or -1. */
static long process(conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (len - off >= 4) {
        const uint8_t *h = data + off;
        uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        size_t limit = c->state == ST_SERVING ? BENCH_MAX_FRAME : BENCH_MAX_HANDSHAKE;
        if (n > limit)
            return -1;
        if (len - off - 4 < n)
            break;
        if (handle_message(c, h + 4, n) < 0)
            return -1;
        off += 4 + (size_t)n;
    }
    return (long)off;
}

static int keep(conn *c, const uint8_t *data, size_t nbytes)
{
    if (c->cap < nbytes) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < nbytes)
            cap *= 2;
        uint8_t *grown = md_realloc(c->in, cap);
        if (!grown)
            return -1;
        c->in = grown;
        c->cap = cap;
    }
    memmove(c->in, data, nbytes);
    c->have = nbytes;
    return 0;
}

static int on_readable(conn *c)
{
    ssize_t r = read(c->fd, scratch, sizeof scratch);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r == 0)
        return -1;
    if (c->is_tcp) {
        /* Acknowledge now: the client's next small write waits for it. */
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    const uint8_t *data = scratch;
    size_t len = (size_t)r;
    if (c->have) {
        /* The rest of a frame begun earlier: append it to what we kept. */
        size_t need = c->have + len;
        if (need > c->cap) {
            size_t cap = c->cap * 2 > need ? c->cap * 2 : need;
            uint8_t *grown = md_realloc(c->in, cap);
            if (!grown)
                return -1;
            c->in = grown;
            c->cap = cap;
        }
        memcpy(c->in + c->have, scratch, len);
        c->have = need;
        data = c->in;
        len = need;
    }
    long used = process(c, data, len);
    if (used < 0)
        return -1;
    if ((size_t)used == len) {
        /* Idle connections hold no buffer. */
        md_free(c->in);
        c->in = NULL;
        c->have = c->cap = 0;
        return 0;
    }
    return keep(c, data + used, len - (size_t)used);
}

/* ---- connections ------------------------------------------------------------------- */

static void on_accept(conn *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        conn *c = md_calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->is_tcp = l->is_tcp;
        c->state = ST_ANSWER;
        if (c->is_tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        uint8_t msg[11 + BENCH_CHALLENGE_BODY];
        bench_new_challenge(c->challenge);
        memcpy(msg, "#CHALLENGE#", 11);
        memcpy(msg + 11, c->challenge, BENCH_CHALLENGE_BODY);
        if (epoll_ctl(floor_state.ep, EPOLL_CTL_ADD, fd, &ev) < 0 ||
            send_frame(c, msg, sizeof msg) < 0)
            close_conn(c);
    }
}

static int add_listener(const char *text)
{
    bench_addr addr;
    if (bench_addr_parse(text, &addr) < 0) {
        fprintf(stderr, "floor: bad address '%s'\n", text);
        return -1;
    }
    int fd = bench_listen(&addr, 4096);
    conn *l = md_calloc(1, sizeof *l);
    if (fd < 0 || !l) {
        fprintf(stderr, "floor: cannot listen on %s: %s\n", text, strerror(errno));
        return -1;
    }
    l->fd = fd;
    l->state = ST_LISTENER;
    l->is_tcp = addr.is_tcp;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
    if (epoll_ctl(floor_state.ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    char shown[256];
    bench_addr_format(fd, addr.is_tcp, shown, sizeof shown);
    printf("floor: listening on %s\n", shown);
    return 0;
}

/* ---- canned replies ---------------------------------------------------------- */

/* A whole file into memory: 0, or -1 with the reason printed. */
static int read_file(const char *path, uint8_t **bytes, size_t *nbytes)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        fprintf(stderr, "floor: cannot read %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (st.st_size <= 0 || (unsigned long long)st.st_size > BENCH_MAX_FRAME) {
        fprintf(stderr, "floor: %s: a reply of %lld bytes (1 to %u)\n", path,
                (long long)st.st_size, BENCH_MAX_FRAME);
        fclose(f);
        return -1;
    }
    *nbytes = (size_t)st.st_size;
    *bytes = md_malloc(*nbytes);
    size_t got = *bytes ? fread(*bytes, 1, *nbytes, f) : 0;
    fclose(f);
    if (got != *nbytes) {
        fprintf(stderr, "floor: cannot read %s whole\n", path);
        md_free(*bytes);
        return -1;
    }
    return 0;
}

/* --canned METHOD=FILE. 0, or -1 with the reason printed. */
static int add_canned(const char *arg)
{
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : 0;
    if (!len || len > MAX_METHOD_NAME || !eq[1]) {
        fprintf(stderr, "floor: --canned takes METHOD=FILE, not '%s'\n", arg);
        return -1;
    }
    canned *cn = NULL;
    for (size_t k = 0; k < floor_state.ncanned; k++)
        if (floor_state.canned[k].method_len == len &&
            !memcmp(floor_state.canned[k].method, arg, len))
            cn = &floor_state.canned[k];
    if (!cn && floor_state.ncanned == MAX_CANNED) {
        fprintf(stderr, "floor: at most %d --canned methods\n", MAX_CANNED);
        return -1;
    }
    uint8_t *bytes;
    size_t nbytes;
    if (read_file(eq + 1, &bytes, &nbytes) < 0)
        return -1;
    if (cn) {
        md_free(cn->bytes);
    } else {
        cn = &floor_state.canned[floor_state.ncanned++];
        memcpy(cn->method, arg, len);
        cn->method[len] = 0;
        cn->method_len = len;
    }
    cn->bytes = bytes;
    cn->nbytes = nbytes;
    return 0;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"canned", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_on[MAX_LISTENERS];
    int nlisten = 0, ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 'c') {
            if (add_canned(optarg) < 0)
                return 2;
            continue;
        }
        if (ch != 'l' || nlisten == MAX_LISTENERS) {
            fprintf(stderr, "usage: floor_server --listen ADDRESS... [--canned METHOD=FILE]...\n");
            return 2;
        }
        listen_on[nlisten++] = optarg;
    }
    floor_state.key = (const uint8_t *)bench_authkey(&floor_state.keylen);
    if (!nlisten || !floor_state.key || sodium_init() < 0) {
        fprintf(stderr, "floor: needs --listen and MANAGERD_AUTHKEY\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();
    long n = bench_pickle_return_none(floor_state.none_reply, sizeof floor_state.none_reply);
    floor_state.ep = epoll_create1(EPOLL_CLOEXEC);
    if (n < 0 || floor_state.ep < 0)
        return 1;
    floor_state.none_len = (size_t)n;
    for (int i = 0; i < nlisten; i++)
        if (add_listener(listen_on[i]) < 0)
            return 1;
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int nev = epoll_wait(floor_state.ep, evs, 256, -1);
        for (int k = 0; k < nev; k++) {
            conn *c = evs[k].data.ptr;
            if (c->state == ST_LISTENER) {
                on_accept(c);
                continue;
            }
            int rc = 0;
            if (evs[k].events & EPOLLOUT)
                rc = flush_out(c);
            if (rc == 0 && evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                rc = on_readable(c);
            if (rc < 0)
                close_conn(c);
        }
    }
}
