/* auth.c - the multiprocessing.connection HMAC handshake as a state
 * machine; see auth.h and tests/docs/protocol.md section 2. The MACs come from
 * nettle (MD5, SHA-384, SHA3) and libsodium (SHA-256, randomness,
 * constant-time comparison, locked key memory); nothing here is
 * cryptography written by hand. */
#include "transports/wire/auth.h"

#include <nettle/hmac.h>
#include <nettle/nettle-meta.h>
#include <nettle/sha3.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "transports/wire/frame.h"

/* ======================================================================
 * Wire constants (tests/docs/protocol.md 2.1 - 2.3)
 * ====================================================================== */

#define CHALLENGE_MARK     "#CHALLENGE#"
#define CHALLENGE_MARK_LEN 11
#define WELCOME_MSG        "#WELCOME#"
#define FAILURE_MSG        "#FAILURE#"
#define RESULT_MSG_LEN     9

/* A legacy challenge body; also the shortest body a modern answerer
 * accepts. */
#define LEGACY_BODY_LEN    20
/* A raw (unprefixed) HMAC-MD5 answer. */
#define LEGACY_ANSWER_LEN  16
/* Random bytes after a modern '{name}' (CPython's MESSAGE_LENGTH). */
#define MODERN_RANDOM_LEN  40
/* The longest name is 8 characters, so '}' sits at index 9 at most
 * (CPython: message.find(b'}', 1, _MAX_DIGEST_LEN + 2)). */
#define NAME_MAX_LEN       8
/* A whole challenge message fits the handshake limit. */
#define BODY_MAX           (MD_HANDSHAKE_MAX - CHALLENGE_MARK_LEN)

/* ======================================================================
 * The key
 * ====================================================================== */

struct md_auth_key {
    uint8_t *bytes;     /* sodium_malloc: guard pages, mlocked, read-only */
    size_t len;
};

md_auth_key *md_auth_key_new(const uint8_t *bytes, size_t len)
{
    if (sodium_init() < 0)
        return NULL;
    md_auth_key *key = md_malloc(sizeof *key);
    if (!key)
        return NULL;
    /* sodium_malloc(0) is not guaranteed to give a usable pointer, and an
     * empty authkey is legal. */
    key->bytes = sodium_malloc(len ? len : 1);
    if (!key->bytes) {
        md_free(key);
        return NULL;
    }
    if (len)
        memcpy(key->bytes, bytes, len);
    key->len = len;
    sodium_mprotect_readonly(key->bytes);
    return key;
}

void md_auth_key_free(md_auth_key *key)
{
    if (!key)
        return;
    /* sodium_free wipes the region before unmapping it. */
    sodium_free(key->bytes);
    md_free(key);
}

const uint8_t *md_auth_key_bytes(const md_auth_key *key, size_t *len)
{
    *len = key->len;
    return key->bytes;
}

/* ======================================================================
 * Digests
 * ====================================================================== */

static const struct {
    const char *name;
    size_t size;
} digests[MD_AUTH_NDIGESTS] = {
    [MD_AUTH_SHA256] = {"sha256", 32},
    [MD_AUTH_SHA384] = {"sha384", 48},
    [MD_AUTH_SHA3_256] = {"sha3_256", 32},
    [MD_AUTH_SHA3_384] = {"sha3_384", 48},
    [MD_AUTH_MD5] = {"md5", 16},
};

const char *md_auth_digest_name(md_auth_digest d)
{
    return (unsigned)d < MD_AUTH_NDIGESTS ? digests[d].name : NULL;
}

size_t md_auth_digest_size(md_auth_digest d)
{
    return (unsigned)d < MD_AUTH_NDIGESTS ? digests[d].size : 0;
}

int md_auth_digest_lookup(const char *name, size_t len)
{
    for (int d = 0; d < MD_AUTH_NDIGESTS; d++)
        if (strlen(digests[d].name) == len && memcmp(digests[d].name, name, len) == 0)
            return d;
    return -1;
}

/* nettle has no HMAC-SHA3 wrapper; its generic HMAC over nettle_sha3_*
 * uses the hash's block size (136 and 104 bytes), which is what Python's
 * hmac module uses for hashlib.sha3_256/sha3_384 too. */
static void hmac_sha3(const struct nettle_hash *hash, void *ctx3, const uint8_t *k, size_t klen,
                      const uint8_t *msg, size_t len, uint8_t *out)
{
    uint8_t *outer = ctx3;
    uint8_t *inner = outer + hash->context_size;
    uint8_t *state = inner + hash->context_size;
    hmac_set_key(outer, inner, state, hash, klen, k);
    hmac_update(state, hash, len, msg);
    hmac_digest(outer, inner, state, hash, hash->digest_size, out);
}

static size_t hmac_raw(md_auth_digest d, const uint8_t *k, size_t klen, const uint8_t *msg,
                       size_t len, uint8_t *out)
{
    /* One union so the key-derived state is wiped in one place. */
    union {
        struct hmac_md5_ctx md5;
        crypto_auth_hmacsha256_state sha256;
        struct hmac_sha384_ctx sha384;
        struct sha3_256_ctx sha3_256[3];
        struct sha3_384_ctx sha3_384[3];
    } ctx;
    switch (d) {
    case MD_AUTH_MD5:
        hmac_md5_set_key(&ctx.md5, klen, k);
        hmac_md5_update(&ctx.md5, len, msg);
        hmac_md5_digest(&ctx.md5, MD5_DIGEST_SIZE, out);
        break;
    case MD_AUTH_SHA256:
        crypto_auth_hmacsha256_init(&ctx.sha256, k, klen);
        crypto_auth_hmacsha256_update(&ctx.sha256, msg, len);
        crypto_auth_hmacsha256_final(&ctx.sha256, out);
        break;
    case MD_AUTH_SHA384:
        hmac_sha384_set_key(&ctx.sha384, klen, k);
        hmac_sha384_update(&ctx.sha384, len, msg);
        hmac_sha384_digest(&ctx.sha384, SHA384_DIGEST_SIZE, out);
        break;
    case MD_AUTH_SHA3_256:
        hmac_sha3(&nettle_sha3_256, ctx.sha3_256, k, klen, msg, len, out);
        break;
    case MD_AUTH_SHA3_384:
        hmac_sha3(&nettle_sha3_384, ctx.sha3_384, k, klen, msg, len, out);
        break;
    default:
        MD_ASSERT(!"unknown digest");
    }
    sodium_memzero(&ctx, sizeof ctx);
    return digests[d].size;
}

size_t md_auth_hmac(md_auth_digest d, const md_auth_key *key, const uint8_t *msg, size_t len,
                    uint8_t *out)
{
    MD_ASSERT((unsigned)d < MD_AUTH_NDIGESTS);
    return hmac_raw(d, key->bytes, key->len, msg, len, out);
}

/* ======================================================================
 * Classifying a body or an answer (tests/docs/protocol.md 2.3)
 * ====================================================================== */

enum { FORM_LEGACY, FORM_PREFIXED, FORM_NO_PREFIX, FORM_UNKNOWN_NAME };

/* CPython's _get_digest_name_and_payload: 16 or 20 bytes are legacy MD5;
 * otherwise '{name}' with '}' within the first 10 bytes and a known name.
 * On FORM_PREFIXED, *digest and *payload_off are set; on
 * FORM_UNKNOWN_NAME, *payload_off is the index of '}'. */
static int classify(const uint8_t *msg, size_t len, md_auth_digest *digest, size_t *payload_off)
{
    if (len == LEGACY_BODY_LEN || len == LEGACY_ANSWER_LEN) {
        *digest = MD_AUTH_MD5;
        *payload_off = 0;
        return FORM_LEGACY;
    }
    if (len < 2 || msg[0] != '{')
        return FORM_NO_PREFIX;
    size_t end = len < NAME_MAX_LEN + 2 ? len : NAME_MAX_LEN + 2;
    const uint8_t *curly = memchr(msg + 1, '}', end - 1);
    if (!curly)
        return FORM_NO_PREFIX;
    size_t close = (size_t)(curly - msg);
    *payload_off = close;
    int d = md_auth_digest_lookup((const char *)msg + 1, close - 1);
    if (d < 0)
        return FORM_UNKNOWN_NAME;
    *digest = (md_auth_digest)d;
    *payload_off = close + 1;
    return FORM_PREFIXED;
}

/* A name from the wire, made printable for an error message. */
static void sanitize(char *dst, size_t cap, const uint8_t *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        uint8_t c = src[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
    }
    dst[o] = '\0';
}

/* ======================================================================
 * The state machine
 * ====================================================================== */

typedef enum {
    ST_INIT,            /* md_auth_start not called yet */
    ST_WAIT_ANSWER,     /* we challenged; the peer's answer is next */
    ST_WAIT_CHALLENGE,  /* the peer's challenge is next */
    ST_WAIT_RESULT,     /* we answered; #WELCOME# / #FAILURE# is next */
    ST_DONE,
    ST_FAILED
} auth_state;

struct md_auth_ctx {
    md_auth_role role;
    const md_auth_key *key;
    md_auth_opts opts;
    auth_state state;
    bool fixed_body;                /* md_auth_set_challenge was used */
    size_t body_len;
    uint8_t body[BODY_MAX];         /* our challenge body (what is MACed) */
    char errstr[MD_ERRMSG_SIZE];
};

md_auth_ctx *md_auth_new(md_auth_role role, const md_auth_key *key, const md_auth_opts *opts)
{
    if (!key || (role != MD_AUTH_SERVER && role != MD_AUTH_CLIENT))
        return NULL;
    md_auth_opts o = {0};
    if (opts)
        o = *opts;
    if ((unsigned)o.digest >= MD_AUTH_NDIGESTS ||
        (o.challenge != MD_AUTH_CHALLENGE_MODERN && o.challenge != MD_AUTH_CHALLENGE_LEGACY))
        return NULL;
    /* randombytes_buf needs an initialised libsodium; cheap once done. */
    if (sodium_init() < 0)
        return NULL;
    md_auth_ctx *ctx = md_calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->role = role;
    ctx->key = key;
    ctx->opts = o;
    ctx->state = ST_INIT;
    return ctx;
}

void md_auth_free(md_auth_ctx *ctx)
{
    if (!ctx)
        return;
    sodium_memzero(ctx, sizeof *ctx);
    md_free(ctx);
}

const char *md_auth_errstr(const md_auth_ctx *ctx)
{
    return ctx ? ctx->errstr : "no handshake context";
}

__attribute__((format(printf, 3, 4)))
static int fail(md_auth_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errstr, sizeof ctx->errstr, fmt, ap);
    va_end(ap);
    ctx->state = ST_FAILED;
    return code;
}

static int send_msg(md_auth_ctx *ctx, md_buf *out, const void *a, size_t alen, const void *b,
                    size_t blen)
{
    /* Handshake messages are tiny: build them on the stack and frame
     * them in one piece. */
    uint8_t msg[MD_HANDSHAKE_MAX];
    MD_ASSERT(alen + blen <= sizeof msg);
    memcpy(msg, a, alen);
    if (blen)
        memcpy(msg + alen, b, blen);
    int rc = md_frame_append(out, msg, alen + blen, false);
    if (rc < 0)
        return fail(ctx, rc, "out of memory queuing a handshake message");
    return 0;
}

int md_auth_set_challenge(md_auth_ctx *ctx, const uint8_t *body, size_t len)
{
    /* The server challenges in md_auth_start, the client after its own
     * answer was welcomed. */
    bool sent = ctx->role == MD_AUTH_SERVER
                    ? ctx->state != ST_INIT
                    : ctx->state == ST_WAIT_ANSWER || ctx->state == ST_DONE || ctx->state == ST_FAILED;
    if (sent)
        return MD_EINVAL;
    md_auth_digest d;
    size_t off;
    if (len < LEGACY_BODY_LEN || len > BODY_MAX ||
        (len != LEGACY_BODY_LEN && classify(body, len, &d, &off) != FORM_PREFIXED))
        return MD_EINVAL;
    memcpy(ctx->body, body, len);
    ctx->body_len = len;
    ctx->fixed_body = true;
    return 0;
}

/* Make our challenge body (unless a test fixed it) and queue it. */
static int send_challenge(md_auth_ctx *ctx, md_buf *out)
{
    if (!ctx->fixed_body) {
        if (ctx->opts.challenge == MD_AUTH_CHALLENGE_LEGACY) {
            ctx->body_len = LEGACY_BODY_LEN;
            randombytes_buf(ctx->body, LEGACY_BODY_LEN);
        } else {
            const char *name = digests[ctx->opts.digest].name;
            int n = snprintf((char *)ctx->body, sizeof ctx->body, "{%s}", name);
            randombytes_buf(ctx->body + n, MODERN_RANDOM_LEN);
            ctx->body_len = (size_t)n + MODERN_RANDOM_LEN;
        }
    }
    ctx->state = ST_WAIT_ANSWER;
    return send_msg(ctx, out, CHALLENGE_MARK, CHALLENGE_MARK_LEN, ctx->body, ctx->body_len);
}

/* Does answer prove the key for our challenge body? Accepts what CPython
 * 3.12+'s _verify_challenge accepts; sets why on refusal. */
static bool answer_ok(md_auth_ctx *ctx, const uint8_t *answer, size_t len, char *why, size_t cap)
{
    md_auth_digest d = MD_AUTH_MD5;
    size_t off = 0;
    int form = classify(answer, len, &d, &off);
    if (form == FORM_NO_PREFIX) {
        snprintf(why, cap, " (%zu bytes, neither raw MD5 nor a {digest} prefix)", len);
        return false;
    }
    if (form == FORM_UNKNOWN_NAME) {
        char name[48];
        sanitize(name, sizeof name, answer + 1, off - 1);
        snprintf(why, cap, " (unsupported digest {%s})", name);
        return false;
    }
    if (d == MD_AUTH_MD5 && ctx->opts.refuse_md5) {
        snprintf(why, cap, " (MD5 answers are refused)");
        return false;
    }
    uint8_t expected[MD_AUTH_MAC_MAX];
    size_t size = md_auth_hmac(d, ctx->key, ctx->body, ctx->body_len, expected);
    bool ok = len - off == size && sodium_memcmp(expected, answer + off, size) == 0;
    if (!ok && len - off != size)
        snprintf(why, cap, " (expected %s of length %zu, got %zu)", digests[d].name, size,
                 len - off);
    sodium_memzero(expected, sizeof expected);
    return ok;
}

/* The peer answered our challenge: welcome it, or queue #FAILURE# and fail
 * (what CPython's deliver_challenge does). */
static int on_answer(md_auth_ctx *ctx, const uint8_t *msg, size_t len, md_buf *out)
{
    char why[MD_ERRMSG_SIZE] = "";   /* each reason is under 96 bytes */
    if (!answer_ok(ctx, msg, len, why, sizeof why)) {
        int rc = send_msg(ctx, out, FAILURE_MSG, RESULT_MSG_LEN, NULL, 0);
        if (rc < 0)
            return rc;
        return fail(ctx, MD_EAUTH, "digest received was wrong%s", why);
    }
    int rc = send_msg(ctx, out, WELCOME_MSG, RESULT_MSG_LEN, NULL, 0);
    if (rc < 0)
        return rc;
    /* The server challenges first, so its handshake goes on; the client
     * challenges last, so it is done. */
    if (ctx->role == MD_AUTH_SERVER) {
        ctx->state = ST_WAIT_CHALLENGE;
        return MD_AUTH_CONTINUE;
    }
    ctx->state = ST_DONE;
    return MD_AUTH_DONE;
}

/* The peer challenged us: answer in the form its body asks for (CPython's
 * answer_challenge / _create_response). */
static int on_challenge(md_auth_ctx *ctx, const uint8_t *msg, size_t len, md_buf *out)
{
    if (len < CHALLENGE_MARK_LEN || memcmp(msg, CHALLENGE_MARK, CHALLENGE_MARK_LEN) != 0)
        return fail(ctx, MD_EPROTO, "protocol error, expected a challenge (%zu-byte message)",
                    len);
    const uint8_t *body = msg + CHALLENGE_MARK_LEN;
    size_t blen = len - CHALLENGE_MARK_LEN;
    if (blen < LEGACY_BODY_LEN)
        return fail(ctx, MD_EPROTO, "challenge too short: %zu bytes", blen);
    md_auth_digest d = MD_AUTH_MD5;
    size_t off = 0;
    int form = classify(body, blen, &d, &off);
    if (form == FORM_NO_PREFIX)
        return fail(ctx, MD_EPROTO,
                    "unsupported challenge: %zu bytes and no {digest} prefix", blen);
    if (form == FORM_UNKNOWN_NAME) {
        char name[48];
        sanitize(name, sizeof name, body + 1, off - 1);
        return fail(ctx, MD_EUNSUPPORTED, "unsupported digest {%s}", name);
    }
    uint8_t mac[MD_AUTH_MAC_MAX];
    size_t size = md_auth_hmac(d, ctx->key, body, blen, mac);
    int rc;
    if (form == FORM_LEGACY) {
        /* Never a prefix here: 2.7 - 3.11 challengers accept only the 16
         * raw bytes (tests/docs/protocol.md 2.4, gotcha 3). */
        rc = send_msg(ctx, out, mac, size, NULL, 0);
    } else {
        /* Echo the prefix exactly as received: '{' + name + '}'. */
        uint8_t answer[2 + NAME_MAX_LEN + MD_AUTH_MAC_MAX];
        memcpy(answer, body, off);
        memcpy(answer + off, mac, size);
        rc = send_msg(ctx, out, answer, off + size, NULL, 0);
    }
    sodium_memzero(mac, sizeof mac);
    if (rc < 0)
        return rc;
    ctx->state = ST_WAIT_RESULT;
    return MD_AUTH_CONTINUE;
}

/* The peer's verdict on our answer. */
static int on_result(md_auth_ctx *ctx, const uint8_t *msg, size_t len, md_buf *out)
{
    /* CPython: anything but #WELCOME# is a rejection. */
    if (len != RESULT_MSG_LEN || memcmp(msg, WELCOME_MSG, RESULT_MSG_LEN) != 0)
        return fail(ctx, MD_EAUTH, "digest sent was rejected");
    if (ctx->role == MD_AUTH_CLIENT)
        return send_challenge(ctx, out);
    ctx->state = ST_DONE;
    return MD_AUTH_DONE;
}

int md_auth_start(md_auth_ctx *ctx, md_buf *out)
{
    ctx->errstr[0] = '\0';
    if (ctx->state != ST_INIT)
        return fail(ctx, MD_EINVAL, "handshake already started");
    if (ctx->role == MD_AUTH_CLIENT) {
        ctx->state = ST_WAIT_CHALLENGE;
        return MD_AUTH_CONTINUE;
    }
    int rc = send_challenge(ctx, out);
    return rc < 0 ? rc : MD_AUTH_CONTINUE;
}

int md_auth_feed(md_auth_ctx *ctx, const uint8_t *payload, size_t len, md_buf *out)
{
    switch (ctx->state) {
    case ST_INIT:
        return fail(ctx, MD_EINVAL, "handshake not started");
    case ST_DONE:
        return fail(ctx, MD_EINVAL, "handshake already complete");
    case ST_FAILED:
        /* Keep the first reason; just refuse. */
        return MD_EINVAL;
    default:
        break;
    }
    ctx->errstr[0] = '\0';
    if (len > MD_HANDSHAKE_MAX)
        return fail(ctx, MD_ETOOBIG, "handshake message too long (%zu > %d)", len,
                    MD_HANDSHAKE_MAX);
    switch (ctx->state) {
    case ST_WAIT_ANSWER:
        return on_answer(ctx, payload, len, out);
    case ST_WAIT_CHALLENGE:
        return on_challenge(ctx, payload, len, out);
    case ST_WAIT_RESULT:
        return on_result(ctx, payload, len, out);
    default:
        MD_ASSERT(!"unreachable handshake state");
    }
}
