/* test_frame.c - unit tests of multiprocessing.connection framing
 * (transports/wire/frame.c): the captured connect streams of every Python
 * family split into exactly the captured messages, incrementally at every
 * split point; both header forms; every limit at the bound and one past. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "transports/wire/frame.h"

/* ======================================================================
 * Fixture streams
 * ====================================================================== */

static const char *const families[] = {"py27", "py37", "py311", "py312", "py313"};
#define NFAMILIES (sizeof families / sizeof families[0])

/* The messages each direction of an m.connect() connection carries, in
 * order: three handshake messages, then the dummy request or its reply. */
static const char *const c2s_parts[] = {
    "handshake-2-client-response.bin", "handshake-4-client-challenge.bin",
    "handshake-6-client-welcome.bin", "connect.request.bin"};
static const char *const s2c_parts[] = {
    "handshake-1-server-challenge.bin", "handshake-3-server-welcome.bin",
    "handshake-5-server-response.bin", "connect.reply.bin"};
#define NPARTS 4

typedef struct {
    uint8_t *data;
    size_t len;
} blob;

static blob fixture(const char *family, const char *suffix)
{
    char name[256];
    snprintf(name, sizeof name, "%s-%s", family, suffix);
    blob b = {NULL, 0};
    b.data = md_test_read_fixture(name, &b.len);
    if (!b.data) {
        fprintf(stderr, "\n  missing fixture %s in %s\n", name, md_test_fixtures_dir());
        CU_FAIL("fixture missing");
    }
    return b;
}

/* Handshake messages are read with CPython's 256-byte limit, the rest
 * with the default message limit. */
static size_t limit_for(size_t index)
{
    return index < 3 ? MD_HANDSHAKE_MAX : MD_MAX_MESSAGE_DEFAULT;
}

/* Split a whole stream; every frame must equal the captured message. */
static void check_stream_splits(const char *family, const char *dir, const char *const parts[])
{
    char sname[64];
    snprintf(sname, sizeof sname, "connect.%s.stream", dir);
    blob stream = fixture(family, sname);
    if (!stream.data)
        return;
    size_t off = 0;
    for (size_t i = 0; i < NPARTS; i++) {
        blob want = fixture(family, parts[i]);
        if (!want.data)
            break;
        size_t hdr_len = 99;
        uint64_t plen = 99;
        int rc = md_frame_parse(stream.data + off, stream.len - off, limit_for(i), &hdr_len, &plen);
        CU_ASSERT_EQUAL(rc, MD_FRAME_COMPLETE);
        CU_ASSERT_EQUAL(hdr_len, 4);
        CU_ASSERT_EQUAL(plen, want.len);
        if (rc == MD_FRAME_COMPLETE && plen == want.len)
            CU_ASSERT(memcmp(stream.data + off + hdr_len, want.data, want.len) == 0);
        off += hdr_len + (size_t)plen;
        free(want.data);
    }
    CU_ASSERT_EQUAL(off, stream.len);
    free(stream.data);
}

static void test_frame_connect_streams_split_into_the_captured_messages(void)
{
    for (size_t f = 0; f < NFAMILIES; f++) {
        check_stream_splits(families[f], "client-to-server", c2s_parts);
        check_stream_splits(families[f], "server-to-client", s2c_parts);
    }
}

/* Feed a stream one byte at a time, as a socket might deliver it: before
 * each frame is whole the parser must ask for more, saying exactly how
 * many bytes are missing; when it is whole it must be the captured one. */
static void check_stream_bytewise(const char *family, const char *dir, const char *const parts[])
{
    char sname[64];
    snprintf(sname, sizeof sname, "connect.%s.stream", dir);
    blob stream = fixture(family, sname);
    if (!stream.data)
        return;
    size_t start = 0, index = 0;
    for (size_t end = start; end <= stream.len; end++) {
        size_t avail = end - start;
        size_t hdr_len;
        uint64_t plen;
        int rc = md_frame_parse(stream.data + start, avail, limit_for(index), &hdr_len, &plen);
        if (avail < 4) {
            CU_ASSERT_EQUAL(rc, MD_FRAME_NEED_MORE);
            CU_ASSERT_EQUAL(md_frame_missing(avail, hdr_len, plen), 4 - avail);
            continue;
        }
        blob want = fixture(family, parts[index]);
        if (!want.data)
            break;
        CU_ASSERT_EQUAL(plen, want.len);
        if (avail < 4 + want.len) {
            CU_ASSERT_EQUAL(rc, MD_FRAME_NEED_PAYLOAD);
            CU_ASSERT_EQUAL(md_frame_missing(avail, hdr_len, plen), 4 + want.len - avail);
        } else {
            CU_ASSERT_EQUAL(rc, MD_FRAME_COMPLETE);
            CU_ASSERT_EQUAL(md_frame_missing(avail, hdr_len, plen), 0);
            CU_ASSERT(memcmp(stream.data + start + 4, want.data, want.len) == 0);
            start = end;
            index++;
        }
        free(want.data);
        if (rc < 0 || index == NPARTS)
            break;
    }
    CU_ASSERT_EQUAL(index, NPARTS);
    CU_ASSERT_EQUAL(start, stream.len);
    free(stream.data);
}

static void test_frame_need_more_at_every_split_point_of_every_stream(void)
{
    for (size_t f = 0; f < NFAMILIES; f++) {
        check_stream_bytewise(families[f], "client-to-server", c2s_parts);
        check_stream_bytewise(families[f], "server-to-client", s2c_parts);
    }
}

/* ======================================================================
 * Header forms
 * ====================================================================== */

static void test_frame_long_form_with_a_small_payload_is_accepted(void)
{
    const uint8_t msg[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    size_t hdr_len;
    uint64_t plen;
    CU_ASSERT_EQUAL(md_frame_parse(msg, sizeof msg, MD_HANDSHAKE_MAX, &hdr_len, &plen),
                    MD_FRAME_COMPLETE);
    CU_ASSERT_EQUAL(hdr_len, 12);
    CU_ASSERT_EQUAL(plen, 5);
    CU_ASSERT(memcmp(msg + hdr_len, "hello", 5) == 0);
    /* Header only: the payload is still to come; the limit applies. */
    CU_ASSERT_EQUAL(md_frame_parse(msg, 12, 5, &hdr_len, &plen), MD_FRAME_NEED_PAYLOAD);
    CU_ASSERT_EQUAL(md_frame_parse(msg, 12, 4, &hdr_len, &plen), MD_ETOOBIG);
    /* Zero-length long form too. */
    const uint8_t empty[12] = {0xff, 0xff, 0xff, 0xff};
    CU_ASSERT_EQUAL(md_frame_parse(empty, 12, 0, &hdr_len, &plen), MD_FRAME_COMPLETE);
    CU_ASSERT_EQUAL(hdr_len, 12);
    CU_ASSERT_EQUAL(plen, 0);
}

static void test_frame_long_form_header_needs_all_twelve_bytes(void)
{
    const uint8_t msg[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1};
    for (size_t avail = 4; avail < 12; avail++) {
        size_t hdr_len;
        uint64_t plen;
        CU_ASSERT_EQUAL(md_frame_parse(msg, avail, 100, &hdr_len, &plen), MD_FRAME_NEED_MORE);
        CU_ASSERT_EQUAL(hdr_len, 12);
        CU_ASSERT_EQUAL(md_frame_missing(avail, hdr_len, plen), 12 - avail);
    }
}

static void test_frame_zero_length_payload_is_legal_framing(void)
{
    const uint8_t msg[4] = {0, 0, 0, 0};
    size_t hdr_len;
    uint64_t plen;
    CU_ASSERT_EQUAL(md_frame_parse(msg, 4, MD_HANDSHAKE_MAX, &hdr_len, &plen), MD_FRAME_COMPLETE);
    CU_ASSERT_EQUAL(hdr_len, 4);
    CU_ASSERT_EQUAL(plen, 0);
}

static void test_frame_header_uses_four_bytes_up_to_2gib_minus_1(void)
{
    uint8_t hdr[12];
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0, false), 4);
    CU_ASSERT(memcmp(hdr, "\0\0\0\0", 4) == 0);
    CU_ASSERT_EQUAL(md_frame_header(hdr, 59, false), 4);
    CU_ASSERT(memcmp(hdr, "\0\0\0\x3b", 4) == 0);
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x01020304, false), 4);
    CU_ASSERT(memcmp(hdr, "\x01\x02\x03\x04", 4) == 0);
    /* At the bound the short form is used even for a 3.8+ peer. */
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x7fffffff, true), 4);
    CU_ASSERT(memcmp(hdr, "\x7f\xff\xff\xff", 4) == 0);
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x7fffffff, false), 4);
}

static void test_frame_header_uses_long_form_above_2gib_minus_1(void)
{
    uint8_t hdr[12];
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x80000000u, true), 12);
    CU_ASSERT(memcmp(hdr, "\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x00", 12) == 0);
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x0102030405060708ull, true), 12);
    CU_ASSERT(memcmp(hdr, "\xff\xff\xff\xff\x01\x02\x03\x04\x05\x06\x07\x08", 12) == 0);
    CU_ASSERT_EQUAL(md_frame_header(hdr, UINT64_MAX, true), 12);
    CU_ASSERT(memcmp(hdr, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12) == 0);
    /* The generated header parses back to the same length (header only:
     * nothing of the 2 GiB payload exists). */
    size_t hdr_len;
    uint64_t plen;
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x80000000u, true), 12);
    CU_ASSERT_EQUAL(md_frame_parse(hdr, 12, SIZE_MAX, &hdr_len, &plen), MD_FRAME_NEED_PAYLOAD);
    CU_ASSERT_EQUAL(hdr_len, 12);
    CU_ASSERT_EQUAL(plen, 0x80000000u);
    CU_ASSERT_EQUAL(md_frame_missing(12, hdr_len, plen), 0x80000000u);
}

static void test_frame_header_refuses_long_form_for_pre_38_peers(void)
{
    uint8_t hdr[12] = {0};
    CU_ASSERT_EQUAL(md_frame_header(hdr, 0x80000000u, false), MD_ETOOBIG);
    CU_ASSERT_EQUAL(md_frame_header(hdr, UINT64_MAX, false), MD_ETOOBIG);
    /* md_frame_append refuses before touching the (absent) payload. */
    md_buf out = MD_BUF_INIT;
    static const uint8_t one = 1;
    CU_ASSERT_EQUAL(md_frame_append(&out, &one, (size_t)0x80000000u, false), MD_ETOOBIG);
    CU_ASSERT_EQUAL(out.len, 0);
    md_buf_free(&out);
}

static void test_frame_negative_header_other_than_minus_1_is_a_protocol_error(void)
{
    static const uint8_t bad[][4] = {
        {0x80, 0, 0, 0}, {0x80, 0, 0, 1}, {0xff, 0xff, 0xff, 0xfe}, {0xc0, 0, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t hdr_len;
        uint64_t plen;
        CU_ASSERT_EQUAL(md_frame_parse(bad[i], 4, SIZE_MAX, &hdr_len, &plen), MD_EPROTO);
    }
}

/* ======================================================================
 * Limits
 * ====================================================================== */

static void test_frame_handshake_limit_256_ok_and_257_too_big(void)
{
    uint8_t msg[4 + 257] = {0};
    size_t hdr_len;
    uint64_t plen;
    /* At the limit: a whole 256-byte message is complete. */
    md_frame_header(msg, 256, false);
    CU_ASSERT_EQUAL(md_frame_parse(msg, 4 + 256, MD_HANDSHAKE_MAX, &hdr_len, &plen),
                    MD_FRAME_COMPLETE);
    CU_ASSERT_EQUAL(plen, 256);
    CU_ASSERT_EQUAL(md_frame_parse(msg, 4, MD_HANDSHAKE_MAX, &hdr_len, &plen),
                    MD_FRAME_NEED_PAYLOAD);
    /* One past: refused from the header alone, and in both forms. */
    md_frame_header(msg, 257, false);
    CU_ASSERT_EQUAL(md_frame_parse(msg, 4, MD_HANDSHAKE_MAX, &hdr_len, &plen), MD_ETOOBIG);
    CU_ASSERT_EQUAL(md_frame_parse(msg, sizeof msg, MD_HANDSHAKE_MAX, &hdr_len, &plen),
                    MD_ETOOBIG);
    const uint8_t long257[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x01, 0x01};
    const uint8_t long256[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    CU_ASSERT_EQUAL(md_frame_parse(long257, 12, MD_HANDSHAKE_MAX, &hdr_len, &plen), MD_ETOOBIG);
    CU_ASSERT_EQUAL(md_frame_parse(long256, 12, MD_HANDSHAKE_MAX, &hdr_len, &plen),
                    MD_FRAME_NEED_PAYLOAD);
    /* The 311-byte challenge CPython refused with 'bad message length'. */
    md_frame_header(msg, 311, false);
    CU_ASSERT_EQUAL(md_frame_parse(msg, 4, MD_HANDSHAKE_MAX, &hdr_len, &plen), MD_ETOOBIG);
}

static void test_frame_message_limit_at_max_ok_and_one_past_too_big(void)
{
    uint8_t hdr[12];
    size_t hdr_len;
    uint64_t plen;
    md_frame_header(hdr, MD_MAX_MESSAGE_DEFAULT, false);
    CU_ASSERT_EQUAL(md_frame_parse(hdr, 4, MD_MAX_MESSAGE_DEFAULT, &hdr_len, &plen),
                    MD_FRAME_NEED_PAYLOAD);
    CU_ASSERT_EQUAL(plen, MD_MAX_MESSAGE_DEFAULT);
    md_frame_header(hdr, MD_MAX_MESSAGE_DEFAULT + 1, false);
    CU_ASSERT_EQUAL(md_frame_parse(hdr, 4, MD_MAX_MESSAGE_DEFAULT, &hdr_len, &plen), MD_ETOOBIG);
    /* Long form: the largest configurable limit, and one past it. */
    md_frame_header(hdr, MD_MAX_MESSAGE_MAX, true);
    CU_ASSERT_EQUAL(md_frame_parse(hdr, 12, MD_MAX_MESSAGE_MAX, &hdr_len, &plen),
                    MD_FRAME_NEED_PAYLOAD);
    CU_ASSERT_EQUAL(plen, MD_MAX_MESSAGE_MAX);
    md_frame_header(hdr, (uint64_t)MD_MAX_MESSAGE_MAX + 1, true);
    CU_ASSERT_EQUAL(md_frame_parse(hdr, 12, MD_MAX_MESSAGE_MAX, &hdr_len, &plen), MD_ETOOBIG);
    /* A 2^64-1 announcement never overflows anything. */
    md_frame_header(hdr, UINT64_MAX, true);
    CU_ASSERT_EQUAL(md_frame_parse(hdr, 12, SIZE_MAX, &hdr_len, &plen),
                    SIZE_MAX >= UINT64_MAX ? MD_FRAME_NEED_PAYLOAD : MD_ETOOBIG);
    CU_ASSERT_EQUAL(md_frame_missing(12, 12, UINT64_MAX), UINT64_MAX);
}

/* ======================================================================
 * Writing
 * ====================================================================== */

static void test_frame_append_writes_header_and_payload_contiguously(void)
{
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_frame_append(&out, "#WELCOME#", 9, false), 0);
    CU_ASSERT_EQUAL(md_frame_append(&out, "", 0, true), 0);
    CU_ASSERT_EQUAL(out.len, 13 + 4);
    CU_ASSERT(memcmp(out.data, "\0\0\0\x09#WELCOME#\0\0\0\0", 17) == 0);
    /* What was written parses back. */
    size_t hdr_len;
    uint64_t plen;
    CU_ASSERT_EQUAL(md_frame_parse(out.data, out.len, MD_HANDSHAKE_MAX, &hdr_len, &plen),
                    MD_FRAME_COMPLETE);
    CU_ASSERT_EQUAL(plen, 9);
    md_buf_free(&out);
}

static void test_frame_append_reports_out_of_memory(void)
{
    md_buf out = MD_BUF_INIT;
    md_alloc_fail_after(0);
    int rc = md_frame_append(&out, "#WELCOME#", 9, false);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, MD_ENOMEM);
    md_buf_free(&out);
}

void md_test_register_frame(void)
{
    CU_pSuite s = md_test_suite("frame");
    MD_ADD_TEST(s, test_frame_connect_streams_split_into_the_captured_messages);
    MD_ADD_TEST(s, test_frame_need_more_at_every_split_point_of_every_stream);
    MD_ADD_TEST(s, test_frame_long_form_with_a_small_payload_is_accepted);
    MD_ADD_TEST(s, test_frame_long_form_header_needs_all_twelve_bytes);
    MD_ADD_TEST(s, test_frame_zero_length_payload_is_legal_framing);
    MD_ADD_TEST(s, test_frame_header_uses_four_bytes_up_to_2gib_minus_1);
    MD_ADD_TEST(s, test_frame_header_uses_long_form_above_2gib_minus_1);
    MD_ADD_TEST(s, test_frame_header_refuses_long_form_for_pre_38_peers);
    MD_ADD_TEST(s, test_frame_negative_header_other_than_minus_1_is_a_protocol_error);
    MD_ADD_TEST(s, test_frame_handshake_limit_256_ok_and_257_too_big);
    MD_ADD_TEST(s, test_frame_message_limit_at_max_ok_and_one_past_too_big);
    MD_ADD_TEST(s, test_frame_append_writes_header_and_payload_contiguously);
    MD_ADD_TEST(s, test_frame_append_reports_out_of_memory);
}
