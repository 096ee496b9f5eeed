/* test_auth.c - unit tests of the HMAC handshake (transports/wire/auth.c):
 * every captured handshake (2.7 to 3.13) replays byte for byte through
 * both roles, every HMAC digest matches Python's hmac module, a server
 * and a client agree for every challenge form and digest, and every
 * failure (wrong key, rejected answer, unknown digest, short body,
 * oversize message) is refused with the right message. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "transports/wire/auth.h"
#include "transports/wire/frame.h"

/* ======================================================================
 * Helpers
 * ====================================================================== */

#define FIXTURE_KEY "managerd-fixture-key"
#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

static md_auth_key *fixture_key(void)
{
    md_auth_key *k = md_auth_key_new(LIT(FIXTURE_KEY));
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    return k;
}

typedef struct {
    uint8_t *data;
    size_t len;
} blob;

static blob fixture(const char *family, int step, const char *role)
{
    char name[256];
    snprintf(name, sizeof name, "%s-handshake-%d-%s.bin", family, step, role);
    blob b = {NULL, 0};
    b.data = md_test_read_fixture(name, &b.len);
    if (!b.data) {
        fprintf(stderr, "\n  missing fixture %s\n", name);
        CU_FAIL("fixture missing");
    }
    return b;
}

/* The messages framed in out, unframed, at most max of them. Asserts that
 * out holds whole frames only. */
typedef struct {
    size_t n;
    size_t len[8];
    uint8_t data[8][MD_HANDSHAKE_MAX];
} msgs;

static void unframe(const md_buf *out, msgs *m)
{
    m->n = 0;
    size_t off = 0;
    while (off < out->len && m->n < 8) {
        size_t hdr_len;
        uint64_t plen;
        int rc = md_frame_parse(out->data + off, out->len - off, MD_HANDSHAKE_MAX, &hdr_len, &plen);
        CU_ASSERT_EQUAL_FATAL(rc, MD_FRAME_COMPLETE);
        CU_ASSERT_EQUAL(hdr_len, 4);
        memcpy(m->data[m->n], out->data + off + hdr_len, (size_t)plen);
        m->len[m->n++] = (size_t)plen;
        off += hdr_len + (size_t)plen;
    }
    CU_ASSERT_EQUAL(off, out->len);
}

/* out holds exactly one frame whose payload is want[0..n). */
static int out_is(const md_buf *out, const void *want, size_t n)
{
    msgs m;
    unframe(out, &m);
    return m.n == 1 && m.len[0] == n && memcmp(m.data[0], want, n) == 0;
}

static int errstr_has(const md_auth_ctx *ctx, const char *want)
{
    const char *e = md_auth_errstr(ctx);
    if (strstr(e, want))
        return 1;
    fprintf(stderr, "\n  errstr '%s' lacks '%s'\n", e, want);
    return 0;
}

/* Run a server and a client context against each other, recording every
 * message in wire order. *src / *crc get each side's last result. */
typedef struct {
    size_t n;
    bool from_server[16];
    size_t len[16];
    uint8_t data[16][MD_HANDSHAKE_MAX];
} transcript;

static void deliver(md_buf *from, md_auth_ctx *to, int *to_rc, md_buf *to_out, bool from_server,
                    transcript *t)
{
    msgs m;
    unframe(from, &m);
    md_buf_reset(from);
    for (size_t i = 0; i < m.n; i++) {
        if (t->n < 16) {
            t->from_server[t->n] = from_server;
            t->len[t->n] = m.len[i];
            memcpy(t->data[t->n++], m.data[i], m.len[i]);
        }
        if (*to_rc == MD_AUTH_CONTINUE)
            *to_rc = md_auth_feed(to, m.data[i], m.len[i], to_out);
    }
}

static void run_pair(md_auth_ctx *srv, md_auth_ctx *cli, int *src, int *crc, transcript *t)
{
    md_buf s2c = MD_BUF_INIT, c2s = MD_BUF_INIT;
    t->n = 0;
    *src = md_auth_start(srv, &s2c);
    *crc = md_auth_start(cli, &c2s);
    CU_ASSERT_EQUAL(c2s.len, 0); /* the server speaks first */
    for (int round = 0; round < 8 && (s2c.len || c2s.len); round++) {
        deliver(&s2c, cli, crc, &c2s, true, t);
        deliver(&c2s, srv, src, &s2c, false, t);
    }
    md_buf_free(&s2c);
    md_buf_free(&c2s);
}

/* ======================================================================
 * HMAC test vectors, obtained from CPython 3.13's hmac module
 * ====================================================================== */

/* hmac.new(b'managerd-fixture-key', b'{NAME}' + bytes(range(40)), NAME),
 * prefixed with '{NAME}': the answer to a modern challenge body. */
static const struct {
    md_auth_digest d;
    const char *name;
    const char *answer;
    size_t answer_len;
} fixture_answers[] = {
    {MD_AUTH_SHA256, "sha256",
     "\x7b\x73\x68\x61\x32\x35\x36\x7d\xb7\x66\x8f\xfd\x8b\xa9\x68\xd1\x0c\xd1\xa5\xe2\x53\xa4"
     "\x94\x4b\x93\x71\x35\x1a\x89\x85\xd0\x56\xb8\x75\xd6\xf2\x9e\xbe\x51\x87",
     40},
    {MD_AUTH_SHA384, "sha384",
     "\x7b\x73\x68\x61\x33\x38\x34\x7d\xa6\xc7\xbc\xd9\x01\x4b\xd2\x12\xfd\x8f\x44\x37\x96\xfa"
     "\x44\x92\x18\xe5\x07\x65\xc2\x19\x53\xfa\x2f\xb5\xf8\x3e\xe2\xa4\x33\x10\x3c\x48\xd0\x3e"
     "\xbe\xc1\xa5\x20\xef\x9c\xd4\xfa\x9c\x62\xdd\xeb",
     56},
    {MD_AUTH_SHA3_256, "sha3_256",
     "\x7b\x73\x68\x61\x33\x5f\x32\x35\x36\x7d\x0b\x4c\x5d\xd5\xc7\xbd\xc9\x69\xbe\x9c\x53\x7f"
     "\xdf\x87\x58\xda\x2a\xd4\x3d\x1d\xe0\x35\x66\xdf\xae\x90\x7a\xf1\x4a\xdc\xab\xc8",
     42},
    {MD_AUTH_SHA3_384, "sha3_384",
     "\x7b\x73\x68\x61\x33\x5f\x33\x38\x34\x7d\x03\x4d\xb1\x8b\x4b\x71\x53\x61\x7a\x23\x07\xec"
     "\x15\x3d\x14\x8e\xd1\x83\x41\x96\xc3\x43\x49\x09\x8b\x63\x6c\xb4\x0f\xce\x41\xce\x25\x37"
     "\xd6\x35\xf9\xc1\xfc\xd7\x49\x38\x73\x53\x41\x61\x3e\x54",
     58},
    {MD_AUTH_MD5, "md5",
     "\x7b\x6d\x64\x35\x7d\x85\x18\x0b\x47\x0b\xce\x3a\x00\xf8\xb9\x6d\xb2\xa0\xdf\x96\xd7", 21},
};
#define NANSWERS (sizeof fixture_answers / sizeof fixture_answers[0])

/* The body '{NAME}' + bytes(range(40)). */
static size_t modern_body(const char *name, uint8_t *body)
{
    int n = snprintf((char *)body, 16, "{%s}", name);
    for (int i = 0; i < 40; i++)
        body[n + i] = (uint8_t)i;
    return (size_t)n + 40;
}

/* Keys around the block sizes: bytes((i*7+3) & 0xff for i in range(N)). */
static md_auth_key *pattern_key(size_t n)
{
    uint8_t k[256];
    for (size_t i = 0; i < n; i++)
        k[i] = (uint8_t)((i * 7 + 3) & 0xff);
    md_auth_key *key = md_auth_key_new(k, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    return key;
}

/* hmac.new(KEY, MSG, NAME).digest() for keys shorter than, at, and past
 * each hash's block size (64, 128, 136, 104). */
static const struct {
    md_auth_digest d;
    size_t key_len;     /* 0: the empty key and the empty message */
    const char *mac;
} key_vectors[] = {
    {MD_AUTH_SHA256, 200,
     "\xd2\x8c\x5f\x02\xa9\xee\x6c\xa3\xb7\xe7\x2f\xd7\x96\xf1\x6a\x95\x98\x80\x76\x35\x8f\xef"
     "\x19\x8a\xe3\x75\x78\x89\x26\x61\xf3\xd1"},
    {MD_AUTH_SHA384, 200,
     "\x13\x6f\xa8\xa6\xbb\xa7\xd2\x53\xa7\xb8\x58\x42\x8b\x8c\xb6\x84\x32\x98\x4b\xbe\x57\x45"
     "\x68\x7b\x29\xc9\x0e\x20\x42\x72\xa6\x51\x42\x16\xaf\x67\x58\x80\xb0\xd3\x9c\xc7\xe4\x09"
     "\x26\xaf\xb5\xab"},
    {MD_AUTH_SHA3_256, 200,
     "\xea\x16\xa6\x0a\x8c\x19\xdd\xe2\x42\x7e\x35\xdf\x4b\x0f\x34\x13\x9a\x2d\xe4\xfb\x05\xe5"
     "\xbe\x1e\xeb\xd6\xaa\xe4\x36\xf0\xc3\xb6"},
    {MD_AUTH_SHA3_384, 200,
     "\xde\x7b\x96\x14\xce\xd6\x33\xdf\x1c\xb7\x6c\x9e\x63\x72\xa2\x18\x89\xc1\xc1\xeb\x08\xcc"
     "\x95\x31\xd6\x80\xe2\xe8\x6f\xbe\xc0\xbd\x84\x40\xf4\xb6\xbf\x8b\x39\xb5\x7c\x46\x20\x63"
     "\x2a\xba\x72\x2b"},
    {MD_AUTH_MD5, 200, "\x02\x4c\x62\x40\x75\x80\x98\xa5\xea\x35\x66\x2a\x6c\xca\xdc\x34"},
    {MD_AUTH_SHA3_256, 136,
     "\xc7\x17\x6c\x79\x4f\x80\x66\xea\xa5\x40\x72\x14\x87\x4f\x87\x85\x8d\x16\x6c\xd4\x63\x77"
     "\xbf\x10\x4c\xff\x37\xa3\xcb\xc2\x86\xa5"},
    {MD_AUTH_SHA3_256, 137,
     "\xab\x04\xf5\x05\xc3\x76\xd9\x5a\x43\xc5\xa1\xd0\x4f\xea\x76\x69\xa3\xed\xb2\x05\x45\xa0"
     "\xf0\x01\xcc\xd4\xb8\x66\x57\x3d\xdb\x66"},
    {MD_AUTH_SHA3_384, 104,
     "\x72\xd5\x21\x1f\x48\x22\x1f\xa9\x47\x2c\xae\x35\x0e\xad\x8c\x4e\xe4\x3d\xf7\xaf\xe1\xf1"
     "\x1d\xe9\x7e\x65\x6a\x41\xae\x83\xcb\x2b\x86\x61\x36\xe4\xd3\x64\xe6\x11\x4d\x57\xd9\xc4"
     "\xc1\xa1\xd8\x73"},
    {MD_AUTH_SHA3_384, 105,
     "\x4e\xa4\x46\xd6\x75\x62\x91\xc9\xe4\xb4\x37\xe1\xfc\x65\x31\x30\xad\x8f\x12\x88\x19\xc4"
     "\xf9\x9e\x9b\x86\x6a\x0c\xb2\xb4\x75\x42\x57\x16\x5f\x47\xae\xfe\xf7\x78\xbb\xaf\x58\x15"
     "\xfc\xd1\x9e\x9a"},
    {MD_AUTH_SHA256, 0,
     "\xb6\x13\x67\x9a\x08\x14\xd9\xec\x77\x2f\x95\xd7\x78\xc3\x5f\xc5\xff\x16\x97\xc4\x93\x71"
     "\x56\x53\xc6\xc7\x12\x14\x42\x92\xc5\xad"},
    {MD_AUTH_SHA384, 0,
     "\x6c\x1f\x2e\xe9\x38\xfa\xd2\xe2\x4b\xd9\x12\x98\x47\x43\x82\xca\x21\x8c\x75\xdb\x3d\x83"
     "\xe1\x14\xb3\xd4\x36\x77\x76\xd1\x4d\x35\x51\x28\x9e\x75\xe8\x20\x9c\xd4\xb7\x92\x30\x28"
     "\x40\x23\x4a\xdc"},
    {MD_AUTH_SHA3_256, 0,
     "\xe8\x41\xc1\x64\xe5\xb4\xf1\x0c\x9f\x39\x85\x58\x79\x62\xaf\x72\xfd\x60\x7a\x95\x11\x96"
     "\xfc\x92\xfb\x3a\x52\x51\x94\x17\x84\xea"},
    {MD_AUTH_SHA3_384, 0,
     "\xad\xca\x89\xf0\x7b\xbf\xbe\xaf\x58\x88\x0c\x15\x72\x37\x9e\xa2\x41\x65\x68\xfd\x3b\x66"
     "\x54\x2b\xd4\x25\x99\xc5\x7c\x45\x67\xe6\xae\x08\x62\x99\xea\x21\x6c\x6f\x3e\x7a\xef\x90"
     "\xb6\x19\x1d\x24"},
    {MD_AUTH_MD5, 0, "\x74\xe6\xf7\x29\x8a\x9c\x2d\x16\x89\x35\xf5\x8c\x00\x1b\xad\x88"},
};

static void test_auth_hmac_matches_python_for_every_digest(void)
{
    md_auth_key *key = fixture_key();
    for (size_t i = 0; i < NANSWERS; i++) {
        uint8_t body[64], mac[MD_AUTH_MAC_MAX];
        size_t blen = modern_body(fixture_answers[i].name, body);
        size_t nlen = strlen(fixture_answers[i].name) + 2;
        size_t size = md_auth_hmac(fixture_answers[i].d, key, body, blen, mac);
        CU_ASSERT_EQUAL(size, fixture_answers[i].answer_len - nlen);
        CU_ASSERT_EQUAL(size, md_auth_digest_size(fixture_answers[i].d));
        CU_ASSERT(memcmp(mac, fixture_answers[i].answer + nlen, size) == 0);
    }
    md_auth_key_free(key);
}

static void test_auth_hmac_hashes_long_keys_like_python(void)
{
    for (size_t i = 0; i < sizeof key_vectors / sizeof key_vectors[0]; i++) {
        md_auth_key *key = pattern_key(key_vectors[i].key_len);
        uint8_t mac[MD_AUTH_MAC_MAX];
        size_t size = key_vectors[i].key_len
                          ? md_auth_hmac(key_vectors[i].d, key, LIT("abc"), mac)
                          : md_auth_hmac(key_vectors[i].d, key, (const uint8_t *)"", 0, mac);
        CU_ASSERT_EQUAL(size, md_auth_digest_size(key_vectors[i].d));
        if (memcmp(mac, key_vectors[i].mac, size) != 0) {
            fprintf(stderr, "\n  %s with a %zu-byte key differs from Python\n",
                    md_auth_digest_name(key_vectors[i].d), key_vectors[i].key_len);
            CU_FAIL("HMAC differs from Python's hmac module");
        }
        md_auth_key_free(key);
    }
}

static void test_auth_digest_names_round_trip(void)
{
    static const char *const names[] = {"sha256", "sha384", "sha3_256", "sha3_384", "md5"};
    for (int d = 0; d < MD_AUTH_NDIGESTS; d++) {
        CU_ASSERT_STRING_EQUAL(md_auth_digest_name((md_auth_digest)d), names[d]);
        CU_ASSERT_EQUAL(md_auth_digest_lookup(names[d], strlen(names[d])), d);
    }
    CU_ASSERT_EQUAL(md_auth_digest_lookup("blake2b", 7), -1);
    CU_ASSERT_EQUAL(md_auth_digest_lookup("sha1", 4), -1);
    CU_ASSERT_EQUAL(md_auth_digest_lookup("sha25", 5), -1);
    CU_ASSERT_EQUAL(md_auth_digest_lookup("", 0), -1);
    CU_ASSERT_PTR_NULL(md_auth_digest_name(MD_AUTH_NDIGESTS));
}

/* ======================================================================
 * Captured handshakes replay byte for byte
 * ====================================================================== */

static const char *const families[] = {"py27", "py37", "py311", "py312", "py313"};
#define NFAMILIES (sizeof families / sizeof families[0])

/* The server role, fed the captured client messages after sending the
 * captured challenge, must welcome the client and answer its challenge
 * with exactly the captured server answer. */
static void test_auth_server_role_replays_every_captured_handshake(void)
{
    md_auth_key *key = fixture_key();
    for (size_t f = 0; f < NFAMILIES; f++) {
        blob m[7] = {{0}};
        static const char *const roles[7] = {
            NULL, "server-challenge", "client-response", "server-welcome",
            "client-challenge", "server-response", "client-welcome"};
        bool ok = true;
        for (int i = 1; i <= 6; i++)
            ok = (m[i] = fixture(families[f], i, roles[i])).data && ok;
        if (ok) {
            md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, NULL);
            CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
            md_buf out = MD_BUF_INIT;
            CU_ASSERT_EQUAL(md_auth_set_challenge(srv, m[1].data + 11, m[1].len - 11), 0);
            CU_ASSERT_EQUAL(md_auth_start(srv, &out), MD_AUTH_CONTINUE);
            CU_ASSERT(out_is(&out, m[1].data, m[1].len));
            md_buf_reset(&out);
            CU_ASSERT_EQUAL(md_auth_feed(srv, m[2].data, m[2].len, &out), MD_AUTH_CONTINUE);
            CU_ASSERT(out_is(&out, m[3].data, m[3].len));
            md_buf_reset(&out);
            CU_ASSERT_EQUAL(md_auth_feed(srv, m[4].data, m[4].len, &out), MD_AUTH_CONTINUE);
            if (!out_is(&out, m[5].data, m[5].len)) {
                fprintf(stderr, "\n  %s: server answer differs from the capture\n", families[f]);
                CU_FAIL("server answer differs");
            }
            md_buf_reset(&out);
            CU_ASSERT_EQUAL(md_auth_feed(srv, m[6].data, m[6].len, &out), MD_AUTH_DONE);
            CU_ASSERT_EQUAL(out.len, 0);
            CU_ASSERT_STRING_EQUAL(md_auth_errstr(srv), "");
            md_buf_free(&out);
            md_auth_free(srv);
        }
        for (int i = 1; i <= 6; i++)
            free(m[i].data);
    }
    md_auth_key_free(key);
}

/* The client role, given the captured client challenge, must answer the
 * captured server challenge exactly as the captured client did and
 * accept the captured server answer. */
static void test_auth_client_role_replays_every_captured_handshake(void)
{
    md_auth_key *key = fixture_key();
    for (size_t f = 0; f < NFAMILIES; f++) {
        blob m[7] = {{0}};
        static const char *const roles[7] = {
            NULL, "server-challenge", "client-response", "server-welcome",
            "client-challenge", "server-response", "client-welcome"};
        bool ok = true;
        for (int i = 1; i <= 6; i++)
            ok = (m[i] = fixture(families[f], i, roles[i])).data && ok;
        if (ok) {
            md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, NULL);
            CU_ASSERT_PTR_NOT_NULL_FATAL(cli);
            md_buf out = MD_BUF_INIT;
            CU_ASSERT_EQUAL(md_auth_set_challenge(cli, m[4].data + 11, m[4].len - 11), 0);
            CU_ASSERT_EQUAL(md_auth_start(cli, &out), MD_AUTH_CONTINUE);
            CU_ASSERT_EQUAL(out.len, 0);
            CU_ASSERT_EQUAL(md_auth_feed(cli, m[1].data, m[1].len, &out), MD_AUTH_CONTINUE);
            if (!out_is(&out, m[2].data, m[2].len)) {
                fprintf(stderr, "\n  %s: client answer differs from the capture\n", families[f]);
                CU_FAIL("client answer differs");
            }
            md_buf_reset(&out);
            CU_ASSERT_EQUAL(md_auth_feed(cli, m[3].data, m[3].len, &out), MD_AUTH_CONTINUE);
            CU_ASSERT(out_is(&out, m[4].data, m[4].len));
            md_buf_reset(&out);
            CU_ASSERT_EQUAL(md_auth_feed(cli, m[5].data, m[5].len, &out), MD_AUTH_DONE);
            CU_ASSERT(out_is(&out, m[6].data, m[6].len));
            md_buf_free(&out);
            md_auth_free(cli);
        }
        for (int i = 1; i <= 6; i++)
            free(m[i].data);
    }
    md_auth_key_free(key);
}

/* The captured answers of the legacy families are raw MD5 of a 20-byte
 * body; the modern ones '{sha256}' + HMAC-SHA256 of the 48-byte body. */
static void test_auth_captured_answers_have_the_expected_form(void)
{
    md_auth_key *key = fixture_key();
    for (size_t f = 0; f < NFAMILIES; f++) {
        bool modern = strcmp(families[f], "py312") == 0 || strcmp(families[f], "py313") == 0;
        for (int step = 1; step <= 4; step += 3) {
            blob ch = fixture(families[f], step, step == 1 ? "server-challenge" : "client-challenge");
            blob an = fixture(families[f], step + 1, step == 1 ? "client-response" : "server-response");
            if (ch.data && an.data) {
                uint8_t mac[MD_AUTH_MAC_MAX];
                CU_ASSERT_EQUAL(ch.len, modern ? 59u : 31u);
                size_t size = md_auth_hmac(modern ? MD_AUTH_SHA256 : MD_AUTH_MD5, key,
                                           ch.data + 11, ch.len - 11, mac);
                size_t off = modern ? 8 : 0;
                CU_ASSERT_EQUAL(an.len, off + size);
                CU_ASSERT(!modern || memcmp(an.data, "{sha256}", 8) == 0);
                CU_ASSERT(an.len == off + size && memcmp(an.data + off, mac, size) == 0);
            }
            free(ch.data);
            free(an.data);
        }
    }
    md_auth_key_free(key);
}

/* ======================================================================
 * Server against client, every form and digest
 * ====================================================================== */

/* Challenge configurations: legacy, then modern offering each digest. */
static md_auth_opts config(int i)
{
    md_auth_opts o = {0};
    if (i == 0)
        o.challenge = MD_AUTH_CHALLENGE_LEGACY;
    else
        o.digest = (md_auth_digest)(i - 1);
    return o;
}
#define NCONFIGS (1 + MD_AUTH_NDIGESTS)

/* The answer to body must be raw MD5 for a 20-byte body and '{name}' +
 * MAC of the name offered otherwise. */
static void check_answer_form(const uint8_t *challenge, size_t clen, const uint8_t *answer,
                              size_t alen, const md_auth_key *key)
{
    const uint8_t *body = challenge + 11;
    size_t blen = clen - 11;
    uint8_t mac[MD_AUTH_MAC_MAX];
    if (blen == 20) {
        size_t size = md_auth_hmac(MD_AUTH_MD5, key, body, blen, mac);
        CU_ASSERT_EQUAL(alen, 16);
        CU_ASSERT(alen == size && memcmp(answer, mac, size) == 0);
        return;
    }
    const uint8_t *close = memchr(body, '}', blen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(close);
    size_t off = (size_t)(close - body) + 1;
    int d = md_auth_digest_lookup((const char *)body + 1, off - 2);
    CU_ASSERT_FATAL(d >= 0);
    size_t size = md_auth_hmac((md_auth_digest)d, key, body, blen, mac);
    CU_ASSERT_EQUAL(alen, off + size);
    CU_ASSERT(memcmp(answer, body, off) == 0);
    CU_ASSERT(alen == off + size && memcmp(answer + off, mac, size) == 0);
}

static void test_auth_server_and_client_agree_for_every_form_and_digest(void)
{
    md_auth_key *key = fixture_key();
    for (int si = 0; si < NCONFIGS; si++) {
        for (int ci = 0; ci < NCONFIGS; ci++) {
            md_auth_opts so = config(si), co = config(ci);
            md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, &so);
            md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, &co);
            CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
            CU_ASSERT_PTR_NOT_NULL_FATAL(cli);
            int src, crc;
            transcript t;
            run_pair(srv, cli, &src, &crc, &t);
            CU_ASSERT_EQUAL(src, MD_AUTH_DONE);
            CU_ASSERT_EQUAL(crc, MD_AUTH_DONE);
            CU_ASSERT_EQUAL_FATAL(t.n, 6);
            /* Wire order and directions of tests/docs/protocol.md 2.1. */
            for (size_t i = 0; i < 6; i++)
                CU_ASSERT_EQUAL(t.from_server[i], i % 2 == 0);
            CU_ASSERT_EQUAL(t.len[0], si == 0 ? 31u : 11 + strlen(md_auth_digest_name(so.digest)) + 2 + 40);
            CU_ASSERT_EQUAL(t.len[3], ci == 0 ? 31u : 11 + strlen(md_auth_digest_name(co.digest)) + 2 + 40);
            CU_ASSERT(memcmp(t.data[0], "#CHALLENGE#", 11) == 0);
            CU_ASSERT(memcmp(t.data[3], "#CHALLENGE#", 11) == 0);
            check_answer_form(t.data[0], t.len[0], t.data[1], t.len[1], key);
            check_answer_form(t.data[3], t.len[3], t.data[4], t.len[4], key);
            CU_ASSERT(t.len[2] == 9 && memcmp(t.data[2], "#WELCOME#", 9) == 0);
            CU_ASSERT(t.len[5] == 9 && memcmp(t.data[5], "#WELCOME#", 9) == 0);
            md_auth_free(srv);
            md_auth_free(cli);
        }
    }
    md_auth_key_free(key);
}

static void test_auth_default_challenge_is_sha256_with_40_random_bytes(void)
{
    md_auth_key *key = fixture_key();
    md_buf a = MD_BUF_INIT, b = MD_BUF_INIT;
    md_auth_ctx *s1 = md_auth_new(MD_AUTH_SERVER, key, NULL);
    md_auth_ctx *s2 = md_auth_new(MD_AUTH_SERVER, key, NULL);
    CU_ASSERT_EQUAL(md_auth_start(s1, &a), MD_AUTH_CONTINUE);
    CU_ASSERT_EQUAL(md_auth_start(s2, &b), MD_AUTH_CONTINUE);
    msgs ma, mb;
    unframe(&a, &ma);
    unframe(&b, &mb);
    CU_ASSERT_EQUAL_FATAL(ma.n, 1);
    CU_ASSERT_EQUAL_FATAL(mb.n, 1);
    CU_ASSERT_EQUAL(ma.len[0], 59);
    CU_ASSERT(memcmp(ma.data[0], "#CHALLENGE#{sha256}", 19) == 0);
    /* Two challenges never repeat (2^-320 chance). */
    CU_ASSERT(memcmp(ma.data[0] + 19, mb.data[0] + 19, 40) != 0);
    /* Starting twice is a caller bug. */
    CU_ASSERT_EQUAL(md_auth_start(s1, &a), MD_EINVAL);
    md_buf_free(&a);
    md_buf_free(&b);
    md_auth_free(s1);
    md_auth_free(s2);
    md_auth_key_free(key);
}

static void test_auth_empty_key_works_on_both_sides(void)
{
    md_auth_key *key = md_auth_key_new(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    size_t len = 99;
    md_auth_key_bytes(key, &len);
    CU_ASSERT_EQUAL(len, 0);
    md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, NULL);
    md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, NULL);
    int src, crc;
    transcript t;
    run_pair(srv, cli, &src, &crc, &t);
    CU_ASSERT_EQUAL(src, MD_AUTH_DONE);
    CU_ASSERT_EQUAL(crc, MD_AUTH_DONE);
    md_auth_free(srv);
    md_auth_free(cli);
    md_auth_key_free(key);
}

static void test_auth_key_bytes_are_a_copy(void)
{
    uint8_t raw[] = "secret";
    md_auth_key *key = md_auth_key_new(raw, 6);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    raw[0] = 'X';
    size_t len;
    const uint8_t *kb = md_auth_key_bytes(key, &len);
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT(memcmp(kb, "secret", 6) == 0);
    md_auth_key_free(key);
    md_auth_key_free(NULL);
}

/* ======================================================================
 * Failures
 * ====================================================================== */

static void test_auth_wrong_key_server_queues_failure_and_client_is_rejected(void)
{
    md_auth_key *k1 = fixture_key();
    md_auth_key *k2 = md_auth_key_new(LIT("another-key"));
    for (int ci = 0; ci < 2; ci++) {
        md_auth_opts co = config(ci); /* legacy, then modern */
        md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, k1, NULL);
        md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, k2, &co);
        md_buf s2c = MD_BUF_INIT, c2s = MD_BUF_INIT;
        msgs m;
        md_auth_start(srv, &s2c);
        md_auth_start(cli, &c2s);
        unframe(&s2c, &m);
        md_buf_reset(&s2c);
        CU_ASSERT_EQUAL(md_auth_feed(cli, m.data[0], m.len[0], &c2s), MD_AUTH_CONTINUE);
        unframe(&c2s, &m);
        md_buf_reset(&c2s);
        CU_ASSERT_EQUAL(md_auth_feed(srv, m.data[0], m.len[0], &s2c), MD_EAUTH);
        CU_ASSERT(errstr_has(srv, "digest received was wrong"));
        CU_ASSERT(out_is(&s2c, "#FAILURE#", 9));
        unframe(&s2c, &m);
        CU_ASSERT_EQUAL(md_auth_feed(cli, m.data[0], m.len[0], &c2s), MD_EAUTH);
        CU_ASSERT_STRING_EQUAL(md_auth_errstr(cli), "digest sent was rejected");
        CU_ASSERT_EQUAL(c2s.len, 0);
        /* A failed context stays failed and keeps its reason. */
        CU_ASSERT_EQUAL(md_auth_feed(srv, m.data[0], m.len[0], &s2c), MD_EINVAL);
        CU_ASSERT(errstr_has(srv, "digest received was wrong"));
        md_buf_free(&s2c);
        md_buf_free(&c2s);
        md_auth_free(srv);
        md_auth_free(cli);
    }
    md_auth_key_free(k1);
    md_auth_key_free(k2);
}

/* CPython sends #FAILURE# and then a pickled #TRACEBACK; anything but
 * #WELCOME# is a rejection. */
static void test_auth_anything_but_welcome_is_a_rejection(void)
{
    md_auth_key *key = fixture_key();
    static const char *const verdicts[] = {"#FAILURE#", "#WELCOME", "#WELCOME##", "", "\x80\x04."};
    for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
        md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, NULL);
        md_buf out = MD_BUF_INIT;
        md_auth_start(cli, &out);
        uint8_t ch[31] = "#CHALLENGE#";
        CU_ASSERT_EQUAL(md_auth_feed(cli, ch, sizeof ch, &out), MD_AUTH_CONTINUE);
        md_buf_reset(&out);
        CU_ASSERT_EQUAL(md_auth_feed(cli, (const uint8_t *)verdicts[i], strlen(verdicts[i]), &out),
                        MD_EAUTH);
        CU_ASSERT_STRING_EQUAL(md_auth_errstr(cli), "digest sent was rejected");
        CU_ASSERT_EQUAL(out.len, 0);
        md_buf_free(&out);
        md_auth_free(cli);
    }
    md_auth_key_free(key);
}

/* Bring a client to the point where it has sent its (fixed) challenge. */
static md_auth_ctx *client_awaiting_answer(const md_auth_key *key, const md_auth_opts *opts,
                                           const uint8_t *body, size_t blen)
{
    md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cli);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_set_challenge(cli, body, blen), 0);
    md_auth_start(cli, &out);
    uint8_t ch[31] = "#CHALLENGE#";
    CU_ASSERT_EQUAL(md_auth_feed(cli, ch, sizeof ch, &out), MD_AUTH_CONTINUE);
    CU_ASSERT_EQUAL(md_auth_feed(cli, LIT("#WELCOME#"), &out), MD_AUTH_CONTINUE);
    uint8_t want[256];
    memcpy(want, "#CHALLENGE#", 11);
    memcpy(want + 11, body, blen);
    msgs m;
    unframe(&out, &m);
    CU_ASSERT(m.n == 2 && m.len[1] == 11 + blen && memcmp(m.data[1], want, 11 + blen) == 0);
    md_buf_free(&out);
    return cli;
}

/* Same for a server that has sent its (fixed) challenge. */
static md_auth_ctx *server_awaiting_answer(const md_auth_key *key, const md_auth_opts *opts,
                                           const uint8_t *body, size_t blen)
{
    md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, blen), 0);
    CU_ASSERT_EQUAL(md_auth_start(srv, &out), MD_AUTH_CONTINUE);
    md_buf_free(&out);
    return srv;
}

static void test_auth_client_sends_failure_for_a_wrong_server_answer(void)
{
    md_auth_key *key = fixture_key();
    uint8_t body[64];
    size_t blen = modern_body("sha256", body);
    md_auth_ctx *cli = client_awaiting_answer(key, NULL, body, blen);
    uint8_t bad[40];
    memcpy(bad, fixture_answers[0].answer, 40);
    bad[39] ^= 1;
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_feed(cli, bad, sizeof bad, &out), MD_EAUTH);
    CU_ASSERT_STRING_EQUAL(md_auth_errstr(cli), "digest received was wrong");
    CU_ASSERT(out_is(&out, "#FAILURE#", 9));
    md_buf_free(&out);
    md_auth_free(cli);
    /* The right answer is welcomed and ends the handshake. */
    cli = client_awaiting_answer(key, NULL, body, blen);
    CU_ASSERT_EQUAL(md_auth_feed(cli, (const uint8_t *)fixture_answers[0].answer, 40, &out),
                    MD_AUTH_DONE);
    CU_ASSERT(out_is(&out, "#WELCOME#", 9));
    md_buf_reset(&out);
    CU_ASSERT_EQUAL(md_auth_feed(cli, LIT("#WELCOME#"), &out), MD_EINVAL);
    md_buf_free(&out);
    md_auth_free(cli);
    md_auth_key_free(key);
}

/* A modern challenger welcomes an answer in any of the five digests (not
 * only the one offered) and raw MD5 from a legacy peer; both roles. */
static void test_auth_answers_in_every_digest_are_accepted(void)
{
    md_auth_key *key = fixture_key();
    uint8_t body[64];
    size_t blen = modern_body("sha256", body);
    for (int role = 0; role < 2; role++) {
        for (size_t i = 0; i <= NANSWERS; i++) {
            uint8_t answer[64];
            size_t alen;
            if (i < NANSWERS) {
                /* '{name}' + HMAC-name over the '{sha256}...' body. */
                int n = snprintf((char *)answer, 16, "{%s}", fixture_answers[i].name);
                alen = (size_t)n + md_auth_hmac(fixture_answers[i].d, key, body, blen, answer + n);
            } else {
                alen = md_auth_hmac(MD_AUTH_MD5, key, body, blen, answer); /* legacy peer */
            }
            md_auth_ctx *ctx = role == 0 ? server_awaiting_answer(key, NULL, body, blen)
                                         : client_awaiting_answer(key, NULL, body, blen);
            md_buf out = MD_BUF_INIT;
            int rc = md_auth_feed(ctx, answer, alen, &out);
            CU_ASSERT_EQUAL(rc, role == 0 ? MD_AUTH_CONTINUE : MD_AUTH_DONE);
            CU_ASSERT(out_is(&out, "#WELCOME#", 9));
            md_buf_free(&out);
            md_auth_free(ctx);
        }
    }
    md_auth_key_free(key);
}

/* The captured-against-Python answers to '{NAME}' + bytes(range(40)). */
static void test_auth_python_answers_verify_for_every_offered_digest(void)
{
    md_auth_key *key = fixture_key();
    for (size_t i = 0; i < NANSWERS; i++) {
        uint8_t body[64];
        size_t blen = modern_body(fixture_answers[i].name, body);
        md_auth_ctx *srv = server_awaiting_answer(key, NULL, body, blen);
        md_buf out = MD_BUF_INIT;
        CU_ASSERT_EQUAL(md_auth_feed(srv, (const uint8_t *)fixture_answers[i].answer,
                                     fixture_answers[i].answer_len, &out),
                        MD_AUTH_CONTINUE);
        CU_ASSERT(out_is(&out, "#WELCOME#", 9));
        md_buf_free(&out);
        md_auth_free(srv);
        /* And our answer to that body is exactly Python's. */
        md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, NULL);
        uint8_t msg[80];
        memcpy(msg, "#CHALLENGE#", 11);
        memcpy(msg + 11, body, blen);
        md_auth_start(cli, &out);
        CU_ASSERT_EQUAL(md_auth_feed(cli, msg, 11 + blen, &out), MD_AUTH_CONTINUE);
        CU_ASSERT(out_is(&out, fixture_answers[i].answer, fixture_answers[i].answer_len));
        md_buf_free(&out);
        md_auth_free(cli);
    }
    md_auth_key_free(key);
}

static void test_auth_malformed_answers_get_failure(void)
{
    md_auth_key *key = fixture_key();
    uint8_t body[64];
    size_t blen = modern_body("sha256", body);
    uint8_t good[40];
    memcpy(good, fixture_answers[0].answer, 40);
    uint8_t md5[16];
    md_auth_hmac(MD_AUTH_MD5, key, body, blen, md5);
    uint8_t md5_20[20] = {0};
    memcpy(md5_20, md5, 16);
    static const struct {
        const char *answer;
        size_t len;
        const char *why;
    } bad[] = {
        {"{blake2b}0123456789012345678901234567890123456789012345678901234567890123", 73,
         "unsupported digest {blake2b}"},
        {"{sha1}01234567890123456789", 26, "unsupported digest {sha1}"},
        {"{}0123456789012345678901234", 27, "unsupported digest {}"},
        {"sha256}01234567890123456789012345678901", 39, "neither raw MD5"},
        {"{sha256012345678901234567890123456789012", 40, "neither raw MD5"},
        {"", 0, "neither raw MD5"},
        {"#CHALLENGE#", 11, "neither raw MD5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        md_auth_ctx *srv = server_awaiting_answer(key, NULL, body, blen);
        md_buf out = MD_BUF_INIT;
        CU_ASSERT_EQUAL(md_auth_feed(srv, (const uint8_t *)bad[i].answer, bad[i].len, &out), MD_EAUTH);
        CU_ASSERT(errstr_has(srv, "digest received was wrong"));
        CU_ASSERT(errstr_has(srv, bad[i].why));
        CU_ASSERT(out_is(&out, "#FAILURE#", 9));
        md_buf_free(&out);
        md_auth_free(srv);
    }
    /* Right MAC, wrong length: one byte short, one byte long, a 20-byte
     * "raw" answer; and one flipped bit. */
    struct {
        const uint8_t *p;
        size_t len;
        const char *why;
    } near[] = {{good, 39, "expected sha256 of length 32, got 31"},
                {md5_20, 20, "expected md5 of length 16, got 20"},
                {md5, 15, "neither raw MD5"}};
    for (size_t i = 0; i < 3; i++) {
        md_auth_ctx *srv = server_awaiting_answer(key, NULL, body, blen);
        md_buf out = MD_BUF_INIT;
        CU_ASSERT_EQUAL(md_auth_feed(srv, near[i].p, near[i].len, &out), MD_EAUTH);
        CU_ASSERT(errstr_has(srv, near[i].why));
        CU_ASSERT(out_is(&out, "#FAILURE#", 9));
        md_buf_free(&out);
        md_auth_free(srv);
    }
    uint8_t longer[41];
    memcpy(longer, good, 40);
    longer[40] = 0;
    md_auth_ctx *srv = server_awaiting_answer(key, NULL, body, blen);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_feed(srv, longer, 41, &out), MD_EAUTH);
    CU_ASSERT(errstr_has(srv, "expected sha256 of length 32, got 33"));
    md_buf_free(&out);
    md_auth_free(srv);
    for (size_t bit = 0; bit < 40 * 8; bit += 7) {
        uint8_t flipped[40];
        memcpy(flipped, good, 40);
        flipped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        srv = server_awaiting_answer(key, NULL, body, blen);
        int rc = md_auth_feed(srv, flipped, 40, &out);
        CU_ASSERT_EQUAL(rc, MD_EAUTH);
        md_buf_reset(&out);
        md_auth_free(srv);
    }
    md_buf_free(&out);
    md_auth_key_free(key);
}

static void test_auth_refuse_md5_option_refuses_md5_answers_only(void)
{
    md_auth_key *key = fixture_key();
    md_auth_opts o = {.refuse_md5 = true};
    uint8_t body[64];
    size_t blen = modern_body("sha256", body);
    uint8_t raw[16], prefixed[21] = "{md5}";
    md_auth_hmac(MD_AUTH_MD5, key, body, blen, raw);
    memcpy(prefixed + 5, raw, 16);
    const uint8_t *answers[3] = {raw, prefixed, (const uint8_t *)fixture_answers[0].answer};
    size_t lens[3] = {16, 21, 40};
    for (int i = 0; i < 3; i++) {
        md_auth_ctx *srv = server_awaiting_answer(key, &o, body, blen);
        md_buf out = MD_BUF_INIT;
        int rc = md_auth_feed(srv, answers[i], lens[i], &out);
        if (i < 2) {
            CU_ASSERT_EQUAL(rc, MD_EAUTH);
            CU_ASSERT(errstr_has(srv, "MD5 answers are refused"));
            CU_ASSERT(out_is(&out, "#FAILURE#", 9));
        } else {
            CU_ASSERT_EQUAL(rc, MD_AUTH_CONTINUE);
        }
        md_buf_free(&out);
        md_auth_free(srv);
    }
    md_auth_key_free(key);
}

/* Gotcha 3: a prefixed answer to a 20-byte challenge kills 2.7 - 3.11
 * clients, even when the body happens to look prefixed. */
static void test_auth_20_byte_challenge_always_gets_raw_md5(void)
{
    md_auth_key *key = fixture_key();
    uint8_t bodies[4][20];
    memcpy(bodies[0], "{sha256}abcdefghijkl", 20);
    memcpy(bodies[1], "{md5}abcdefghijklmno", 20);
    memset(bodies[2], 0, 20);
    for (int i = 0; i < 20; i++)
        bodies[3][i] = (uint8_t)(0xff - i);
    for (int role = 0; role < 2; role++) {
        for (int i = 0; i < 4; i++) {
            md_auth_ctx *ctx = md_auth_new(role ? MD_AUTH_CLIENT : MD_AUTH_SERVER, key, NULL);
            md_buf out = MD_BUF_INIT;
            md_auth_start(ctx, &out);
            if (role == 0) {
                /* The server answers after welcoming the client. */
                msgs m;
                unframe(&out, &m);
                uint8_t mac[16];
                md_auth_hmac(MD_AUTH_MD5, key, m.data[0] + 11, m.len[0] - 11, mac);
                CU_ASSERT_EQUAL(md_auth_feed(ctx, mac, 16, &out), MD_AUTH_CONTINUE);
            }
            md_buf_reset(&out);
            uint8_t msg[31];
            memcpy(msg, "#CHALLENGE#", 11);
            memcpy(msg + 11, bodies[i], 20);
            CU_ASSERT_EQUAL(md_auth_feed(ctx, msg, 31, &out), MD_AUTH_CONTINUE);
            uint8_t want[16];
            md_auth_hmac(MD_AUTH_MD5, key, bodies[i], 20, want);
            CU_ASSERT(out_is(&out, want, 16));
            md_buf_free(&out);
            md_auth_free(ctx);
        }
    }
    md_auth_key_free(key);
}

/* A client at the point where the server's challenge is next. */
static md_auth_ctx *client_at_challenge(const md_auth_key *key)
{
    md_auth_ctx *cli = md_auth_new(MD_AUTH_CLIENT, key, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cli);
    md_buf out = MD_BUF_INIT;
    md_auth_start(cli, &out);
    md_buf_free(&out);
    return cli;
}

static void check_challenge_refused(const md_auth_key *key, const uint8_t *msg, size_t len,
                                    int code, const char *why)
{
    md_auth_ctx *cli = client_at_challenge(key);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_feed(cli, msg, len, &out), code);
    CU_ASSERT(errstr_has(cli, why));
    CU_ASSERT_EQUAL(out.len, 0);
    md_buf_free(&out);
    md_auth_free(cli);
}

static void test_auth_unknown_digest_in_a_challenge_is_refused(void)
{
    md_auth_key *key = fixture_key();
    uint8_t msg[80] = "#CHALLENGE#{blake2b}";
    memset(msg + 20, 'x', 40);
    check_challenge_refused(key, msg, 60, MD_EUNSUPPORTED, "unsupported digest {blake2b}");
    uint8_t msg2[80] = "#CHALLENGE#{SHA256}";
    memset(msg2 + 19, 'x', 40);
    check_challenge_refused(key, msg2, 59, MD_EUNSUPPORTED, "unsupported digest {SHA256}");
    /* Non-printable names are escaped in the message. */
    uint8_t msg3[80] = "#CHALLENGE#{\x01\n}";
    memset(msg3 + 15, 'x', 40);
    check_challenge_refused(key, msg3, 55, MD_EUNSUPPORTED, "unsupported digest {\\x01\\x0a}");
    /* '}' beyond the 10th byte: no valid prefix at all. */
    uint8_t msg4[80] = "#CHALLENGE#{sha256xyz}";
    memset(msg4 + 22, 'x', 40);
    check_challenge_refused(key, msg4, 62, MD_EPROTO, "no {digest} prefix");
    md_auth_key_free(key);
}

static void test_auth_short_or_unprefixed_challenge_bodies_are_refused(void)
{
    md_auth_key *key = fixture_key();
    uint8_t msg[80];
    memcpy(msg, "#CHALLENGE#", 11);
    memset(msg + 11, 'z', 60);
    /* One below the 20-byte minimum, 16 (CPython refuses it too), empty. */
    check_challenge_refused(key, msg, 11 + 19, MD_EPROTO, "challenge too short: 19 bytes");
    check_challenge_refused(key, msg, 11 + 16, MD_EPROTO, "challenge too short: 16 bytes");
    check_challenge_refused(key, msg, 11, MD_EPROTO, "challenge too short: 0 bytes");
    /* A modern-style body shorter than 20 bytes. */
    memcpy(msg + 11, "{sha256}0123456789", 18);
    check_challenge_refused(key, msg, 11 + 18, MD_EPROTO, "challenge too short: 18 bytes");
    /* Neither 20 bytes nor prefixed. */
    memset(msg + 11, 'z', 60);
    check_challenge_refused(key, msg, 11 + 21, MD_EPROTO, "no {digest} prefix");
    check_challenge_refused(key, msg, 11 + 40, MD_EPROTO, "no {digest} prefix");
    /* Not a challenge at all. */
    check_challenge_refused(key, LIT("#WELCOME#"), MD_EPROTO, "expected a challenge");
    check_challenge_refused(key, LIT("#CHALLENGE"), MD_EPROTO, "expected a challenge");
    /* The shortest modern body accepted: '{md5}' + 15 bytes = 20 bytes is
     * legacy by length; '{md5}' + 16 = 21 bytes is modern. */
    md_auth_ctx *cli = client_at_challenge(key);
    md_buf out = MD_BUF_INIT;
    memcpy(msg + 11, "{md5}", 5);
    CU_ASSERT_EQUAL(md_auth_feed(cli, msg, 11 + 21, &out), MD_AUTH_CONTINUE);
    msgs m;
    unframe(&out, &m);
    CU_ASSERT(m.n == 1 && m.len[0] == 21 && memcmp(m.data[0], "{md5}", 5) == 0);
    md_buf_free(&out);
    md_auth_free(cli);
    md_auth_key_free(key);
}

static void test_auth_handshake_message_256_accepted_and_257_refused(void)
{
    md_auth_key *key = fixture_key();
    uint8_t msg[320];
    memcpy(msg, "#CHALLENGE#{sha256}", 19);
    for (size_t i = 19; i < sizeof msg; i++)
        msg[i] = (uint8_t)i;
    /* At the limit: answered, over the whole 245-byte body. */
    md_auth_ctx *cli = client_at_challenge(key);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_feed(cli, msg, MD_HANDSHAKE_MAX, &out), MD_AUTH_CONTINUE);
    msgs m;
    unframe(&out, &m);
    uint8_t want[40] = "{sha256}";
    md_auth_hmac(MD_AUTH_SHA256, key, msg + 11, MD_HANDSHAKE_MAX - 11, want + 8);
    CU_ASSERT(m.n == 1 && m.len[0] == 40 && memcmp(m.data[0], want, 40) == 0);
    md_buf_free(&out);
    md_auth_free(cli);
    /* One past: refused before anything else. */
    check_challenge_refused(key, msg, MD_HANDSHAKE_MAX + 1, MD_ETOOBIG,
                            "handshake message too long (257 > 256)");
    /* Also as an answer to the server's challenge (no #FAILURE#: this is
     * a framing error, as in CPython). */
    uint8_t body[64];
    size_t blen = modern_body("sha256", body);
    md_auth_ctx *srv = server_awaiting_answer(key, NULL, body, blen);
    CU_ASSERT_EQUAL(md_auth_feed(srv, msg, 311, &out), MD_ETOOBIG);
    CU_ASSERT_STRING_EQUAL(md_auth_errstr(srv), "handshake message too long (311 > 256)");
    CU_ASSERT_EQUAL(out.len, 0);
    md_buf_free(&out);
    md_auth_free(srv);
    md_auth_key_free(key);
}

static void test_auth_set_challenge_refuses_bodies_cpython_would_not_answer(void)
{
    md_auth_key *key = fixture_key();
    md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, NULL);
    uint8_t body[260];
    memset(body, 'a', sizeof body);
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 19), MD_EINVAL);
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 21), MD_EINVAL); /* no prefix */
    memcpy(body, "{blake2b}", 9);
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 49), MD_EINVAL);
    memset(body, 'a', sizeof body);
    memcpy(body, "{sha256}", 8);
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 246), MD_EINVAL); /* 257-byte message */
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 245), 0);
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 20), 0); /* legacy by length */
    md_buf out = MD_BUF_INIT;
    md_auth_start(srv, &out);
    CU_ASSERT(out_is(&out, "#CHALLENGE#{sha256}aaaaaaaaaaaa", 31));
    /* Too late once the challenge is out. */
    CU_ASSERT_EQUAL(md_auth_set_challenge(srv, body, 48), MD_EINVAL);
    md_buf_free(&out);
    md_auth_free(srv);
    md_auth_key_free(key);
}

static void test_auth_feed_before_start_or_after_done_is_invalid(void)
{
    md_auth_key *key = fixture_key();
    md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, NULL);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_auth_feed(srv, LIT("#WELCOME#"), &out), MD_EINVAL);
    CU_ASSERT(errstr_has(srv, "not started"));
    md_auth_free(srv);
    /* Options out of range are refused. */
    md_auth_opts o = {.digest = MD_AUTH_NDIGESTS};
    CU_ASSERT_PTR_NULL(md_auth_new(MD_AUTH_SERVER, key, &o));
    md_auth_opts o2 = {.challenge = (md_auth_challenge)7};
    CU_ASSERT_PTR_NULL(md_auth_new(MD_AUTH_SERVER, key, &o2));
    CU_ASSERT_PTR_NULL(md_auth_new(MD_AUTH_SERVER, NULL, NULL));
    md_auth_free(NULL);
    md_buf_free(&out);
    md_auth_key_free(key);
}

static void test_auth_out_of_memory_fails_cleanly(void)
{
    md_auth_key *key = fixture_key();
    md_alloc_fail_after(0);
    md_auth_ctx *none = md_auth_new(MD_AUTH_SERVER, key, NULL);
    md_auth_key *nokey = md_auth_key_new(LIT("k"));
    md_alloc_fail_after(-1);
    CU_ASSERT_PTR_NULL(none);
    CU_ASSERT_PTR_NULL(nokey);
    md_auth_ctx *srv = md_auth_new(MD_AUTH_SERVER, key, NULL);
    md_buf out = MD_BUF_INIT;
    md_alloc_fail_after(0);
    int rc = md_auth_start(srv, &out);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, MD_ENOMEM);
    CU_ASSERT(errstr_has(srv, "out of memory"));
    md_buf_free(&out);
    md_auth_free(srv);
    md_auth_key_free(key);
}

void md_test_register_auth(void)
{
    CU_pSuite s = md_test_suite("auth");
    MD_ADD_TEST(s, test_auth_hmac_matches_python_for_every_digest);
    MD_ADD_TEST(s, test_auth_hmac_hashes_long_keys_like_python);
    MD_ADD_TEST(s, test_auth_digest_names_round_trip);
    MD_ADD_TEST(s, test_auth_server_role_replays_every_captured_handshake);
    MD_ADD_TEST(s, test_auth_client_role_replays_every_captured_handshake);
    MD_ADD_TEST(s, test_auth_captured_answers_have_the_expected_form);
    MD_ADD_TEST(s, test_auth_server_and_client_agree_for_every_form_and_digest);
    MD_ADD_TEST(s, test_auth_default_challenge_is_sha256_with_40_random_bytes);
    MD_ADD_TEST(s, test_auth_empty_key_works_on_both_sides);
    MD_ADD_TEST(s, test_auth_key_bytes_are_a_copy);
    MD_ADD_TEST(s, test_auth_wrong_key_server_queues_failure_and_client_is_rejected);
    MD_ADD_TEST(s, test_auth_anything_but_welcome_is_a_rejection);
    MD_ADD_TEST(s, test_auth_client_sends_failure_for_a_wrong_server_answer);
    MD_ADD_TEST(s, test_auth_answers_in_every_digest_are_accepted);
    MD_ADD_TEST(s, test_auth_python_answers_verify_for_every_offered_digest);
    MD_ADD_TEST(s, test_auth_malformed_answers_get_failure);
    MD_ADD_TEST(s, test_auth_refuse_md5_option_refuses_md5_answers_only);
    MD_ADD_TEST(s, test_auth_20_byte_challenge_always_gets_raw_md5);
    MD_ADD_TEST(s, test_auth_unknown_digest_in_a_challenge_is_refused);
    MD_ADD_TEST(s, test_auth_short_or_unprefixed_challenge_bodies_are_refused);
    MD_ADD_TEST(s, test_auth_handshake_message_256_accepted_and_257_refused);
    MD_ADD_TEST(s, test_auth_set_challenge_refuses_bodies_cpython_would_not_answer);
    MD_ADD_TEST(s, test_auth_feed_before_start_or_after_done_is_invalid);
    MD_ADD_TEST(s, test_auth_out_of_memory_fails_cleanly);
}
