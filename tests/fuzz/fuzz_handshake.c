/* fuzz_handshake.c - libFuzzer target for the framing and the HMAC
 * handshake state machine (transports/wire/frame.c, transports/wire/auth.c), driven
 * the way a connection drives them: a byte stream cut into frames, each
 * frame fed to the handshake, bounded by MD_HANDSHAKE_MAX until the
 * handshake is done and by a message limit after.
 *
 * Input: [role][n][n bytes: our challenge body][stream]. role & 1 picks
 * the server or the client side; the challenge body (when the auth layer
 * accepts it) replaces the random one, so that captured handshakes with
 * the fixture key (tests/fixtures/wire) replay to the end and the fuzzer
 * starts from complete conversations. Invariants checked (abort()):
 * every frame header md_frame_header writes parses back to the same
 * length; the handshake never answers more than one frame per frame fed,
 * never answers after it failed, and never produces output larger than
 * a handshake message; after DONE or a failure it refuses further input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "transports/wire/auth.h"
#include "transports/wire/frame.h"

#define FIXTURE_KEY "managerd-fixture-key"
/* After the handshake, frames are only cut (the codecs have their own
 * fuzzers); a small limit keeps the fuzzer's inputs short. */
#define FUZZ_MAX_MESSAGE 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_handshake: %s\n", what);
    abort();
}

static void check_header_round_trip(uint64_t len)
{
    uint8_t hdr[MD_FRAME_HDR_MAX];
    int n = md_frame_header(hdr, len, true);
    if (n < 0)
        return;
    size_t hlen;
    uint64_t plen;
    if (md_frame_parse(hdr, (size_t)n, SIZE_MAX, &hlen, &plen) != MD_FRAME_NEED_PAYLOAD &&
        len != 0)
        die("a written header does not parse");
    if (len && (hlen != (size_t)n || plen != len))
        die("a written header parses to another length");
}

/* Output of one md_auth call: whole frames, each a handshake message. */
static void check_output(const md_buf *out)
{
    size_t off = 0;
    while (off < out->len) {
        size_t hlen;
        uint64_t plen;
        int rc = md_frame_parse(out->data + off, out->len - off, MD_HANDSHAKE_MAX, &hlen, &plen);
        if (rc != MD_FRAME_COMPLETE)
            die("the handshake wrote something that is not a whole frame");
        off += hlen + (size_t)plen;
    }
}

/* Cuts the stream into frames and feeds them; returns when the stream
 * ends, a frame is refused, or the handshake fails. */
static void run(md_auth_ctx *a, const uint8_t *p, size_t n)
{
    md_buf out = MD_BUF_INIT;
    int state = MD_AUTH_CONTINUE;
    size_t off = 0;
    while (off < n) {
        size_t hlen;
        uint64_t plen;
        size_t max = state == MD_AUTH_DONE ? FUZZ_MAX_MESSAGE : MD_HANDSHAKE_MAX;
        int rc = md_frame_parse(p + off, n - off, max, &hlen, &plen);
        if (rc < 0 || rc == MD_FRAME_NEED_MORE)
            break;
        check_header_round_trip(plen);
        if (rc == MD_FRAME_NEED_PAYLOAD)
            break;
        const uint8_t *payload = p + off + hlen;
        off += hlen + (size_t)plen;
        if (state == MD_AUTH_DONE)
            continue;   /* requests: only framed here */
        md_buf_reset(&out);
        state = md_auth_feed(a, payload, (size_t)plen, &out);
        check_output(&out);
        if (state < 0) {
            md_buf_reset(&out);
            if (md_auth_feed(a, payload, (size_t)plen, &out) >= 0 || out.len)
                die("a failed handshake accepted more input");
            break;
        }
    }
    if (state == MD_AUTH_DONE) {
        md_buf_reset(&out);
        if (md_auth_feed(a, (const uint8_t *)"#WELCOME#", 9, &out) >= 0)
            die("a finished handshake accepted more input");
    }
    md_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    md_auth_role role = data[0] & 1 ? MD_AUTH_CLIENT : MD_AUTH_SERVER;
    size_t clen = data[1];
    if (clen > size - 2)
        return 0;
    md_auth_key *key = md_auth_key_new((const uint8_t *)FIXTURE_KEY, strlen(FIXTURE_KEY));
    md_auth_opts opts = {.refuse_md5 = (data[0] & 2) != 0};
    md_auth_ctx *a = key ? md_auth_new(role, key, &opts) : NULL;
    if (a) {
        if (clen)
            md_auth_set_challenge(a, data + 2, clen);   /* refused bodies: random */
        md_buf out = MD_BUF_INIT;
        int rc = md_auth_start(a, &out);
        check_output(&out);
        md_buf_free(&out);
        if (rc == MD_AUTH_CONTINUE)
            run(a, data + 2 + clen, size - 2 - clen);
    }
    md_auth_free(a);
    md_auth_key_free(key);
    return 0;
}
