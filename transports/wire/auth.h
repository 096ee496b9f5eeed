/* auth.h - the mutual HMAC handshake of multiprocessing.connection
 * (tests/docs/protocol.md section 2), as a state machine over byte buffers that both
 * the server (libevent) and the blocking C client drive.
 *
 * Six framed messages, the server speaking first:
 *
 *   server                                  client
 *   (1) #CHALLENGE# + M1           ->
 *                                  <-  (2) answer to M1
 *   (3) #WELCOME# / #FAILURE#      ->
 *                                  <-  (4) #CHALLENGE# + M2
 *   (5) answer to M2               ->
 *                                  <-  (6) #WELCOME# / #FAILURE#
 *
 * A body M is either legacy (20 random bytes; answered with 16 raw bytes
 * of HMAC-MD5) or modern ('{name}' + random bytes; answered with '{name}'
 * + HMAC-name(K, M), the MAC covering the prefix too). Answers to our own
 * challenge are accepted in every form CPython 3.12+ accepts: 16 raw MD5
 * bytes or '{name}' + MAC for md5, sha256, sha384, sha3_256, sha3_384,
 * exact lengths, compared in constant time. A 20-byte challenge is always
 * answered with raw MD5: a prefixed answer kills 2.7 - 3.11 peers.
 *
 * Usage (either role):
 *
 *   ctx = md_auth_new(role, key, NULL);
 *   md_auth_start(ctx, &out);          // server: queues (1); client: nothing
 *   send out;
 *   for each received frame payload (md_frame_parse with MD_HANDSHAKE_MAX):
 *       rc = md_auth_feed(ctx, payload, len, &out);
 *       send out (also when rc < 0: it may hold #FAILURE#);
 *       if rc == MD_AUTH_DONE: handshake over; bytes after it are requests
 *       if rc < 0: close; md_auth_errstr(ctx) says why
 *
 * Output is appended to the caller's md_buf already framed. The caller
 * enforces the handshake deadline (MD_HANDSHAKE_DEADLINE_MS) with its own
 * timer: a peer that stops talking leaves the context waiting forever.
 * The caller also frames input with max_len = MD_HANDSHAKE_MAX; feed
 * re-checks the length and fails with "handshake message too long".
 */
#ifndef MD_AUTH_H
#define MD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"

/* ---- the authkey ---------------------------------------------------------- */

/* The key lives in libsodium guarded, locked (never swapped) memory,
 * read-only once set, and is wiped when freed. */
typedef struct md_auth_key md_auth_key;

/* Copy len bytes (0 allowed: an empty authkey is a valid manager key).
 * NULL if out of memory or libsodium cannot start. */
md_auth_key *md_auth_key_new(const uint8_t *bytes, size_t len);
void md_auth_key_free(md_auth_key *key);
/* The key bytes (borrowed, read-only) and their count. */
const uint8_t *md_auth_key_bytes(const md_auth_key *key, size_t *len);

/* ---- digests ---------------------------------------------------------------- */

/* The digests CPython 3.12+ allows in '{name}' prefixes. */
typedef enum md_auth_digest {
    MD_AUTH_SHA256 = 0,         /* first, so zeroed options offer it */
    MD_AUTH_SHA384,
    MD_AUTH_SHA3_256,
    MD_AUTH_SHA3_384,
    MD_AUTH_MD5,
    MD_AUTH_NDIGESTS
} md_auth_digest;

#define MD_AUTH_MAC_MAX 48      /* sha384 / sha3_384 */

/* 'md5', 'sha256', ... ; NULL for an out-of-range value. */
const char *md_auth_digest_name(md_auth_digest d);
/* MAC length in bytes (16, 32 or 48). */
size_t md_auth_digest_size(md_auth_digest d);
/* Look a name up (not NUL-terminated); -1 if it is not one of the five. */
int md_auth_digest_lookup(const char *name, size_t len);

/* HMAC-d(key, msg) into out, which has room for md_auth_digest_size(d)
 * bytes (MD_AUTH_MAC_MAX always does); returns that size. Exposed for
 * tests and tools; the handshake itself needs nothing but md_auth_feed. */
size_t md_auth_hmac(md_auth_digest d, const md_auth_key *key, const uint8_t *msg,
                    size_t len, uint8_t *out);

/* ---- the handshake ---------------------------------------------------------- */

typedef enum md_auth_role {
    MD_AUTH_SERVER,             /* challenges first, then answers */
    MD_AUTH_CLIENT              /* answers first, then challenges */
} md_auth_role;

/* The form of the challenge this side sends. */
typedef enum md_auth_challenge {
    /* '{name}' + 40 random bytes (the default, what CPython 3.12+ sends).
     * Legacy peers (2.7 - 3.11) MAC the whole body with MD5 and answer 16
     * raw bytes, which is accepted, so this works with every version
     * (tests/docs/protocol.md 2.6). */
    MD_AUTH_CHALLENGE_MODERN = 0,
    /* 20 random bytes, exactly what 2.7 - 3.11 send; every peer answers
     * with raw HMAC-MD5. For tests and for mimicking an old peer. */
    MD_AUTH_CHALLENGE_LEGACY
} md_auth_challenge;

/* A zeroed md_auth_opts (or NULL) is the default: a modern '{sha256}'
 * challenge, MD5 answers accepted. */
typedef struct md_auth_opts {
    md_auth_challenge challenge;    /* form of our challenge */
    md_auth_digest digest;          /* name offered by a modern challenge;
                                       CPython always offers sha256 */
    bool refuse_md5;                /* refuse MD5 answers (raw or '{md5}')
                                       to our challenge: no downgrade, but
                                       every pre-3.12 peer is refused */
} md_auth_opts;

/* Non-error results of md_auth_start / md_auth_feed. */
enum {
    MD_AUTH_CONTINUE = 0,           /* feed the next received message */
    MD_AUTH_DONE = 1                /* both sides proved the key */
};

typedef struct md_auth_ctx md_auth_ctx;

/* key is borrowed and must outlive the context; opts (copied) may be
 * NULL. NULL if out of memory or opts are out of range. */
md_auth_ctx *md_auth_new(md_auth_role role, const md_auth_key *key, const md_auth_opts *opts);
void md_auth_free(md_auth_ctx *ctx);

/* Begin: the server role appends the framed challenge (1) to out; the
 * client role appends nothing (the server speaks first). Returns
 * MD_AUTH_CONTINUE or a negative MD_E* code. Call once. */
int md_auth_start(md_auth_ctx *ctx, md_buf *out);

/* Consume one received handshake message (the frame's payload, without
 * its length prefix) and append whatever must be sent next, framed.
 * Returns MD_AUTH_CONTINUE, MD_AUTH_DONE, or a negative code:
 *   MD_EAUTH         'digest received was wrong' (the peer's answer to our
 *                    challenge did not verify, malformed answers included;
 *                    #FAILURE# has been appended to out) or 'digest sent
 *                    was rejected' (the peer did not welcome our answer)
 *   MD_EPROTO        not a challenge where one was due; a challenge body
 *                    shorter than 20 bytes, or neither 20 bytes nor a
 *                    valid '{name}' prefix
 *   MD_EUNSUPPORTED  a '{name}' challenge with a name not among the five
 *   MD_ETOOBIG       message over MD_HANDSHAKE_MAX bytes
 *   MD_ENOMEM        out could not grow
 *   MD_EINVAL        fed after the handshake ended or before start
 * After an error the context is dead: every later call fails. */
int md_auth_feed(md_auth_ctx *ctx, const uint8_t *payload, size_t len, md_buf *out);

/* Why the last call failed ("" if it did not). Valid until the next call
 * or md_auth_free. */
const char *md_auth_errstr(const md_auth_ctx *ctx);

/* Tests and interop tools only: use body (copied) as this side's
 * challenge instead of random bytes, so captured handshakes replay
 * byte for byte. A body must be one that CPython answers: 20 bytes, or
 * '{name}' with a known name and at least 20 bytes in all. Call before
 * the challenge is sent (server: before md_auth_start). 0 or MD_EINVAL.
 * Never use it on a real connection: a fixed challenge can be replayed. */
int md_auth_set_challenge(md_auth_ctx *ctx, const uint8_t *body, size_t len);

#endif /* MD_AUTH_H */
