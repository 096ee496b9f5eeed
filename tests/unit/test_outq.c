/* test_outq.c - big payloads written by reference (serializers/outref.h)
 * and a connection's output queue (transports/outq.c): the encoder's
 * buffer with its refs inserted is byte for byte md_pickle_encode's
 * output, for sizes around MD_REPLY_REF_MIN_BYTES, every protocol and
 * the shapes a reply takes (bytes, bytearray, a Python 2 byte string,
 * the same bytes twice, two big ones in one value); out of memory at any
 * allocation of the encode leaves refs and the values' counts as they
 * were; a queue written through a socket whose buffers are tiny (many
 * partial writes) delivers the same bytes, holds each value exactly
 * until its bytes are written and lets everything go when dropped mid
 * write; out of memory when keeping a message changes nothing. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"
#include "transports/outq.h"

#define REF_MIN MD_REPLY_REF_MIN_BYTES

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    CU_ASSERT_FATAL(p != NULL);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + seed + (i >> 12));
    return p;
}

static md_val *big_bytes(size_t n, unsigned seed)
{
    uint8_t *p = pattern(n, seed);
    md_val *v = md_bytes_new(p, n);
    free(p);
    CU_ASSERT_FATAL(v != NULL);
    return v;
}

/* out with refs inserted, as the peer receives it. */
static void insert_refs(const md_buf *out, const md_out_refs *refs, md_buf *wire)
{
    size_t at = 0;
    md_buf_reset(wire);
    for (size_t i = 0; i < refs->n; i++) {
        CU_ASSERT_FATAL(refs->v[i].at >= at && refs->v[i].at <= out->len);
        md_buf_append(wire, out->data + at, refs->v[i].at - at);
        md_buf_append(wire, refs->v[i].data, refs->v[i].len);
        at = refs->v[i].at;
    }
    md_buf_append(wire, out->data + at, out->len - at);
    CU_ASSERT_FATAL(!md_buf_failed(wire));
}

/* v encoded with refs is the plain encoding, with nrefs refs. */
static void check_same_bytes(const md_val *v, int protocol, size_t nrefs)
{
    md_buf plain = MD_BUF_INIT, out = MD_BUF_INIT, wire = MD_BUF_INIT;
    md_out_refs refs = MD_OUT_REFS_INIT;
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(v, protocol, &plain, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode_refs(v, protocol, &out, &refs, NULL), 0);
    CU_ASSERT_EQUAL(refs.n, nrefs);
    insert_refs(&out, &refs, &wire);
    CU_ASSERT_EQUAL(wire.len, plain.len);
    CU_ASSERT(wire.len == plain.len && memcmp(wire.data, plain.data, plain.len) == 0);
    CU_ASSERT_EQUAL(out.len + refs.nbytes, plain.len);
    md_out_refs_free(&refs);
    md_buf_free(&plain);
    md_buf_free(&out);
    md_buf_free(&wire);
}

static void test_outq_encoder_bytes_on_the_wire_unchanged_around_the_threshold(void)
{
    const size_t sizes[] = {REF_MIN - 1, REF_MIN, REF_MIN + 1, 3 * REF_MIN + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t want = n >= REF_MIN;
        uint8_t *p = pattern(n, (unsigned)i);
        md_val *b = md_bytes_new(p, n), *ba = md_bytearray_new(p, n);
        md_val *py2 = md_bytes_new_py2(p, n);
        for (int proto = 3; proto <= 5; proto++) {
            md_val *reply = md_th_tuple(2, md_th_str("#RETURN"), md_incref(b));
            check_same_bytes(reply, proto, want);
            md_decref(reply);
            /* bytearray: BYTEARRAY8 at 5, bytearray(BINBYTES) before */
            reply = md_th_tuple(2, md_th_str("#RETURN"), md_incref(ba));
            check_same_bytes(reply, proto, want);
            md_decref(reply);
        }
        /* Protocol 2: a Python 2 byte string as BINSTRING (by reference);
         * Python 3 bytes as a latin-1 text (copied: not the value's bytes). */
        md_val *reply = md_th_tuple(2, md_th_str("#RETURN"), md_incref(py2));
        check_same_bytes(reply, 2, want);
        md_decref(reply);
        reply = md_th_tuple(2, md_th_str("#RETURN"), md_incref(b));
        check_same_bytes(reply, 2, 0);
        md_decref(reply);
        /* str: BINUNICODE at every protocol, a Python 2 str as BINSTRING */
        for (size_t k = 0; k < n; k++)
            p[k] = (uint8_t)('a' + k % 26);
        md_val *text = md_str_new((const char *)p, n), *text2 = md_str_new_py2((const char *)p, n);
        CU_ASSERT_FATAL(text && text2);
        for (int proto = 2; proto <= 5; proto++) {
            reply = md_th_tuple(2, md_th_str("#RETURN"), md_incref(text));
            check_same_bytes(reply, proto, want);
            md_decref(reply);
        }
        reply = md_th_tuple(2, md_th_str("#RETURN"), md_incref(text2));
        check_same_bytes(reply, 2, want);
        md_decref(reply);
        md_decref(text);
        md_decref(text2);
        md_decref(b);
        md_decref(ba);
        md_decref(py2);
        free(p);
    }
}

/* A big value met twice is written once (then BINGET), two big ones
 * both by reference, with small items and frames between them. */
static void test_outq_encoder_shapes_keep_their_bytes(void)
{
    md_val *a = big_bytes(REF_MIN + 5, 1), *b = big_bytes(2 * REF_MIN, 2);
    for (int proto = 2; proto <= 5; proto++) {
        md_val *v = md_th_list(5, md_incref(a), md_th_str("between"), md_incref(a), md_th_int(7),
                               md_th_tuple(2, md_incref(b), md_th_bytes("small", 5)));
        check_same_bytes(v, proto, proto >= 3 ? 2 : 0);
        md_decref(v);
    }
    md_decref(a);
    md_decref(b);
}

/* Out of memory at each allocation of an encode with refs: it fails with
 * refs as they were and every value's count unchanged, until it passes. */
static void test_outq_encoder_out_of_memory_at_every_allocation(void)
{
    md_val *a = big_bytes(REF_MIN, 3), *b = big_bytes(REF_MIN + 1, 4);
    md_val *v = md_th_list(3, md_incref(a), md_th_str("x"), md_incref(b));
    md_out_refs refs = MD_OUT_REFS_INIT;
    bool passed = false;
    unsigned failed = 0;
    for (long k = 0; k < 200 && !passed; k++) {
        md_buf out = MD_BUF_INIT;
        md_alloc_fail_after(k);
        int rc = md_pickle_encode_refs(v, 4, &out, &refs, NULL);
        md_alloc_fail_after(-1);
        if (rc == 0) {
            passed = true;
            CU_ASSERT_EQUAL(refs.n, 2);
            CU_ASSERT_EQUAL(md_refcount(a), 3);
        } else {
            failed++;
            CU_ASSERT_EQUAL(refs.n, 0);
            CU_ASSERT_EQUAL(refs.nbytes, 0);
            CU_ASSERT_EQUAL(md_refcount(a), 2);
            CU_ASSERT_EQUAL(md_refcount(b), 2);
        }
        md_buf_free(&out);
    }
    CU_ASSERT(passed);
    CU_ASSERT(failed > 0);
    md_out_refs_free(&refs);
    CU_ASSERT_EQUAL(md_refcount(a), 2);
    md_decref(v);
    md_decref(a);
    md_decref(b);
}

/* ---- the queue over a socket pair -------------------------------------- */

/* fds[0] writes (non-blocking), fds[1] reads; both with tiny buffers,
 * so that every write takes a few KiB at most. */
static void tiny_pair(int fds[2])
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    int small = 4096;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CU_ASSERT_FATAL(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
    CU_ASSERT_FATAL(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
}

/* Read what fds[1] has into wire (at most max bytes); the bytes read. */
static size_t drain(int fd, md_buf *wire, size_t max)
{
    uint8_t chunk[65536];
    size_t got = 0;
    while (got < max) {
        size_t want = max - got < sizeof chunk ? max - got : sizeof chunk;
        ssize_t n = read(fd, chunk, want);
        if (n <= 0)
            break;
        md_buf_append(wire, chunk, (size_t)n);
        got += (size_t)n;
    }
    return got;
}

/* A reply of v encoded with refs, as a connection holds it. */
static void reply_msg(md_val *v, md_buf *out, md_out_refs *refs, md_outmsg *m)
{
    md_buf_init(out);
    *refs = (md_out_refs)MD_OUT_REFS_INIT;
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode_refs(v, 4, out, refs, NULL), 0);
    *m = (md_outmsg){.buf = *out, .refs = *refs};
}

/* Two replies with big payloads and a small one between them, kept
 * after a first partial write, written through the tiny socket a little
 * at a time: the reader gets the plain encodings in order, and each value
 * keeps the queue's reference exactly until its last byte is written. */
static void test_outq_partial_writes_keep_each_value_until_its_bytes_are_out(void)
{
    int fds[2];
    tiny_pair(fds);
    md_val *a = big_bytes(REF_MIN + 3, 5), *b = big_bytes(REF_MIN * 2, 6);
    md_val *all[] = {md_th_tuple(2, md_th_str("#RETURN"), md_incref(a)),
                     md_th_tuple(2, md_th_str("#RETURN"), md_th_int(1)),
                     md_th_tuple(2, md_th_str("#RETURN"), md_incref(b))};
    md_buf expect = MD_BUF_INIT, wire = MD_BUF_INIT;
    size_t ends[3]; /* where each big payload ends in the stream */
    md_outq q = MD_OUTQ_INIT;
    size_t sent = 0;
    for (size_t i = 0; i < 3; i++) {
        md_buf out;
        md_out_refs refs;
        md_outmsg m;
        reply_msg(all[i], &out, &refs, &m);
        ends[i] = refs.n ? expect.len + refs.v[0].at + refs.v[0].len : 0;
        CU_ASSERT_EQUAL_FATAL(md_pickle_encode(all[i], 4, &expect, NULL), 0);
        if (i == 0) {
            CU_ASSERT_EQUAL(md_outmsg_write(&m, fds[0], &sent), 0);
            CU_ASSERT(sent > 0 && md_outmsg_pending(&m) > 0);
        }
        CU_ASSERT_EQUAL_FATAL(md_outq_keep(&q, &m, &out), 0);
        /* the queue took the buffers that hold refs, and copied the small one */
        CU_ASSERT_EQUAL(out.data == NULL, i != 1);
        md_out_refs_free(&m.refs);
        md_buf_free(&out);
        md_decref(all[i]);
    }
    CU_ASSERT_EQUAL(md_outq_pending(&q) + sent, expect.len);
    size_t rounds = 0;
    bool a_held = true, b_held = true, order_ok = true;
    while (md_outq_pending(&q) && rounds++ < 100000) {
        CU_ASSERT_EQUAL_FATAL(md_outq_write(&q, fds[0], &sent), 0);
        /* a reference goes exactly when its last byte is written */
        order_ok &= (md_refcount(a) == 2) == (sent < ends[0]);
        order_ok &= (md_refcount(b) == 2) == (sent < ends[2]);
        a_held &= sent >= ends[0] || md_refcount(a) == 2;
        b_held &= sent >= ends[2] || md_refcount(b) == 2;
        drain(fds[1], &wire, 3000);
    }
    drain(fds[1], &wire, SIZE_MAX);
    CU_ASSERT(order_ok);
    CU_ASSERT(a_held && b_held);
    CU_ASSERT_EQUAL(md_outq_pending(&q), 0);
    CU_ASSERT(rounds > 10); /* the writes were partial */
    CU_ASSERT_EQUAL(wire.len, expect.len);
    CU_ASSERT(wire.len == expect.len && memcmp(wire.data, expect.data, wire.len) == 0);
    CU_ASSERT_EQUAL(md_refcount(a), 1);
    CU_ASSERT_EQUAL(md_refcount(b), 1);
    CU_ASSERT_PTR_NULL(q.m); /* an idle queue keeps no memory */
    md_outq_drop(&q);
    md_decref(a);
    md_decref(b);
    md_buf_free(&expect);
    md_buf_free(&wire);
    close(fds[0]);
    close(fds[1]);
}

/* The reader goes away in the middle of a payload: the write fails, and
 * dropping the queue lets the value go (its only other holder). */
static void test_outq_dropped_mid_payload_lets_the_value_go(void)
{
    int fds[2];
    tiny_pair(fds);
    md_val *a = big_bytes(4 * REF_MIN, 7);
    md_val *v = md_th_tuple(2, md_th_str("#RETURN"), md_incref(a));
    md_buf out;
    md_out_refs refs;
    md_outmsg m;
    reply_msg(v, &out, &refs, &m);
    md_decref(v);
    md_outq q = MD_OUTQ_INIT;
    size_t sent = 0;
    CU_ASSERT_EQUAL(md_outmsg_write(&m, fds[0], &sent), 0);
    CU_ASSERT_EQUAL_FATAL(md_outq_keep(&q, &m, &out), 0);
    md_buf wire = MD_BUF_INIT;
    drain(fds[1], &wire, 2000);
    CU_ASSERT_EQUAL(md_outq_write(&q, fds[0], &sent), 0);
    CU_ASSERT(sent > 2000 && md_outq_pending(&q) > 0);
    close(fds[1]);
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0 && md_outq_pending(&q); i++)
        rc = md_outq_write(&q, fds[0], &sent);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(errno == EPIPE || errno == ECONNRESET);
    CU_ASSERT_EQUAL(md_refcount(a), 2);
    md_outq_drop(&q);
    CU_ASSERT_EQUAL(md_outq_pending(&q), 0);
    CU_ASSERT_EQUAL(md_refcount(a), 1);
    md_decref(a);
    md_buf_free(&wire);
    close(fds[0]);
}

/* Out of memory at each allocation md_outq_keep makes (a new slot; a
 * copy of a small rest): -1 with the queue, the message and its buffer
 * as they were; then it succeeds. */
static void test_outq_keep_out_of_memory_changes_nothing(void)
{
    md_val *a = big_bytes(REF_MIN, 8);
    md_val *v = md_th_tuple(2, md_th_str("#RETURN"), md_incref(a));
    md_val *small = md_th_tuple(2, md_th_str("#RETURN"), md_th_int(5));
    md_outq q = MD_OUTQ_INIT;
    md_val *msgs[] = {v, small, v};
    for (size_t i = 0; i < 3; i++) {
        md_buf out;
        md_out_refs refs;
        md_outmsg m;
        reply_msg(msgs[i], &out, &refs, &m);
        size_t pending = md_outq_pending(&q), left = md_outmsg_pending(&m);
        uint32_t count = md_refcount(a);
        bool kept = false;
        unsigned failed = 0;
        for (long k = 0; k < 10 && !kept; k++) {
            md_alloc_fail_after(k);
            int rc = md_outq_keep(&q, &m, &out);
            md_alloc_fail_after(-1);
            kept = rc == 0;
            if (!kept) {
                failed++;
                CU_ASSERT_EQUAL(md_outq_pending(&q), pending);
                CU_ASSERT_EQUAL(md_outmsg_pending(&m), left);
                CU_ASSERT_PTR_NOT_NULL(out.data);
                CU_ASSERT_EQUAL(md_refcount(a), count);
            }
        }
        CU_ASSERT(kept);
        CU_ASSERT(failed > 0 || i == 2); /* the third fits the slots grown */
        CU_ASSERT_EQUAL(md_outq_pending(&q), pending + left);
        md_out_refs_free(&m.refs);
        md_buf_free(&out);
    }
    CU_ASSERT_EQUAL(md_refcount(a), 4);
    md_outq_drop(&q);
    CU_ASSERT_EQUAL(md_refcount(a), 2);
    md_decref(v);
    md_decref(small);
    md_decref(a);
}

void md_test_register_outq(void)
{
    CU_pSuite s = md_test_suite("outq");
    MD_ADD_TEST(s, test_outq_encoder_bytes_on_the_wire_unchanged_around_the_threshold);
    MD_ADD_TEST(s, test_outq_encoder_shapes_keep_their_bytes);
    MD_ADD_TEST(s, test_outq_encoder_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_outq_partial_writes_keep_each_value_until_its_bytes_are_out);
    MD_ADD_TEST(s, test_outq_dropped_mid_payload_lets_the_value_go);
    MD_ADD_TEST(s, test_outq_keep_out_of_memory_changes_nothing);
}
