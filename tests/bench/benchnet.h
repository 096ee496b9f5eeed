/* benchnet.h - what the benchmark programs (floor_server, loadgen,
 * pingpong) share: loopback addresses, multiprocessing.connection framing,
 * the HMAC challenge/answer of both sides, and one closed-loop client.
 *
 * These programs deliberately share no code with transports/: a floor or a
 * load generator that used the server's own framing and handshake would
 * inherit its bugs and its costs, and measure nothing.
 */
#ifndef MD_BENCHNET_H
#define MD_BENCHNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest frame the bench programs read: bench_bulk.py sends values of
 * 10M items (about 150 MB) in one message, and starts managerd with the
 * same --max-message. */
#define BENCH_MAX_FRAME (1u << 30)
/* Handshake messages are at most 256 bytes (tests/docs/protocol.md §1.3). */
#define BENCH_MAX_HANDSHAKE 256
/* A challenge body we send: "{sha256}" + 40 random bytes, as CPython 3.12+. */
#define BENCH_CHALLENGE_BODY 48

typedef struct bench_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool is_tcp;
} bench_addr;

/* Monotonic seconds. */
double bench_now(void);

/* "HOST:PORT", "tcp://HOST:PORT", "unix:PATH" or "unix:@NAME". 0 or -1. */
int bench_addr_parse(const char *text, bench_addr *out);
/* The printed form of a bound socket (the real port after port 0). */
void bench_addr_format(int fd, bool is_tcp, char *buf, size_t len);

/* A blocking socket connected to addr, TCP_NODELAY set. -1 on failure. */
int bench_connect(const bench_addr *addr);
/* A listening non-blocking socket. -1 on failure. */
int bench_listen(const bench_addr *addr, int backlog);
int bench_set_nonblock(int fd);
/* Raise RLIMIT_NOFILE's soft limit to the hard limit. */
void bench_raise_nofile(void);

/* Blocking I/O helpers: 0 on success, -1 on error or end-of-file. */
int bench_write_all(int fd, const void *buf, size_t nbytes);
int bench_read_all(int fd, void *buf, size_t nbytes);
/* Header and payload in one write, as CPython does for small messages. */
int bench_send_frame(int fd, const void *payload, size_t nbytes);
/* One frame into buf (at most cap bytes); its length in *nbytes. */
int bench_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *nbytes);

/* ---- authentication ------------------------------------------------------ */

/* The answer to a challenge body, in the form the body asks for: 16 raw
 * bytes of HMAC-MD5 for a 20-byte (legacy) body, "{name}" + MAC for a
 * "{sha256}" or "{md5}" body. Returns the answer's length, or -1 for a body
 * we do not understand. out must hold 64 bytes. */
int bench_answer(const uint8_t *key, size_t keylen, const uint8_t *body, size_t bodylen,
                 uint8_t *out);
/* Is answer a valid answer to body? (Any form CPython 3.13 accepts that
 * the bench programs need: raw MD5, "{md5}", "{sha256}".) Constant time. */
bool bench_verify(const uint8_t *key, size_t keylen, const uint8_t *body, size_t bodylen,
                  const uint8_t *answer, size_t answerlen);
/* A fresh "{sha256}" + 40 random bytes challenge body (48 bytes). */
void bench_new_challenge(uint8_t body[BENCH_CHALLENGE_BODY]);
/* The client side of the six-message handshake on a blocking socket. */
int bench_client_handshake(int fd, const uint8_t *key, size_t keylen);
/* The authkey from MANAGERD_AUTHKEY, as managerd takes it. NULL if unset. */
const char *bench_authkey(size_t *keylen);

/* ---- pickles --------------------------------------------------------------- */

/* A protocol-4 pickle of (ident, method, (str_arg[, int_arg]), {}) byte
 * for byte as Python 3.8+ pickle.dumps(..., protocol=4) writes it. ident
 * NULL means None; int_arg NULL means a 1-tuple; int_arg must be in 0..255
 * (BININT1) and every string under 256 bytes. The length, or -1 if it does
 * not fit in cap or an argument is out of range. */
long bench_pickle_request(uint8_t *out, size_t cap, const char *ident, const char *method,
                          const char *str_arg, const int *int_arg);
/* A protocol-4 pickle of ('#RETURN', (ident, (names...))), the reply to
 * create, byte for byte as Python writes it. The length, or -1. */
long bench_pickle_create_reply(uint8_t *out, size_t cap, const char *ident,
                               const char *const *names, size_t nnames);
/* A protocol-4 pickle of ('#RETURN', None). The length, or -1. */
long bench_pickle_return_none(uint8_t *out, size_t cap);
/* The first str after '#RETURN' in a reply pickle (the ident in a create
 * reply), copied NUL-terminated into out. 0, or -1 if there is none. */
int bench_pickle_reply_str(const uint8_t *reply, size_t nbytes, char *out, size_t cap);

/* ---- the closed loop --------------------------------------------------------- */

typedef struct bench_loop_result {
    unsigned long long calls;  /* round trips completed inside the window */
    double seconds;            /* length of the window */
    size_t reply_nbytes;       /* payload bytes of one reply */
    unsigned long long bad;    /* replies that differed from the first one */
} bench_loop_result;

/* Each of the nfds connected sockets sends req (a payload, framed here),
 * waits for one reply frame, and sends again, for `seconds`; the replies
 * must all equal the first one. Replies that complete after the window
 * are not counted. 0 or -1. */
int bench_closed_loop(const int *fds, size_t nfds, const uint8_t *req, size_t reqlen,
                      double seconds, bench_loop_result *res);

#endif /* MD_BENCHNET_H */
