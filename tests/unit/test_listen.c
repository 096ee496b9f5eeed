/* test_listen.c - the listeners and the framing of server connections
 * (transports/listen.c), over a real loopback socket served by the
 * harness's event base: a request that arrives a few bytes at a time is
 * served once whole and not before; a length over the limit, a bad
 * header, a wrong key or a handshake message over its limit close that
 * connection only; a client that vanishes mid-frame is reaped; replies
 * to Python 2 clients carry byte strings (the codec's dialect); a big
 * bytes value keeps the buffer its message was read into; a
 * connection whose handshake deadline cannot be armed is closed. */
#include "tests/unit/unit.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"
#include "tests/unit/loopclient.h"
#include "transports/listen.h"
#include "transports/wire/frame.h"

static const char TEST_KEY[] = "unit-test-key";

typedef struct lfix {
    md_lc_server srv;
    md_th *th;                 /* srv's, for short */
    struct event_base *base;
    md_listeners *ls;
    md_addr addr;
} lfix;

typedef struct client {
    int fd;
    md_buf in;
} client;

static bool lfix_open_max(lfix *f, size_t max_message)
{
    char err[256] = "";
    memset(f, 0, sizeof *f);
    bool ok = md_lc_server_open(&f->srv, TEST_KEY);
    f->th = f->srv.th;
    f->base = f->srv.base;
    md_listen_opts opts = {.max_message = max_message, .key = f->srv.key};
    f->ls = ok ? md_listen_new(md_th_server(f->th), f->base, &opts) : NULL;
    if (!f->ls || md_addr_parse("tcp://127.0.0.1:0", &f->addr, err, sizeof err) < 0 ||
        md_listen_add(f->ls, &f->addr, err, sizeof err) < 0) {
        fprintf(stderr, "\n    listener: %s\n", err);
        return false;
    }
    return f->addr.port > 0;
}

static bool lfix_open(lfix *f)
{
    return lfix_open_max(f, MD_MAX_MESSAGE_MIN);
}

/* lfix_open_max, then one shared object of typeid made in-process: its
 * ident into ident (64 bytes). */
static bool lfix_open_with(lfix *f, size_t max_message, const char *typeid, char *ident)
{
    if (!lfix_open_max(f, max_message))
        return false;
    ident[0] = 0;
    md_th_create_ok(f->th, typeid, NULL, NULL, ident, __FILE__, __LINE__);
    return ident[0] != 0;
}

static void lfix_close(lfix *f)
{
    md_listen_free(f->ls);
    md_lc_server_close(&f->srv);
}

static void client_close(client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    md_buf_free(&c->in);
}

/* The next frame's payload into payload: 1, 0 when the server closed
 * the connection first, -1 when nothing whole came in time. */
/* Move a whole frame at the head of c's input into payload, if there is
 * one. */
static bool take_frame(client *c, md_buf *payload)
{
    size_t hdr = 0;
    uint64_t plen = 0;
    if (!c->in.len ||
        md_frame_parse(c->in.data, c->in.len, SIZE_MAX, &hdr, &plen) != MD_FRAME_COMPLETE)
        return false;
    md_buf_reset(payload);
    md_buf_append(payload, c->in.data + hdr, (size_t)plen);
    size_t used = hdr + (size_t)plen;
    memmove(c->in.data, c->in.data + used, c->in.len - used);
    c->in.len -= used;
    return true;
}

static int read_frame(lfix *f, client *c, md_buf *payload, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        if (take_frame(c, payload))
            return 1;
        if (md_lc_poll(f->base, c->fd, &c->in) == 0)
            return 0;
    }
    return -1;
}

/* Whether the server closes the connection (reading and dropping what
 * it still sends) within the usual bound. */
static bool closed_by_server(lfix *f, client *c)
{
    for (int i = 0; i < MD_LC_ROUNDS; i++) {
        if (md_lc_poll(f->base, c->fd, &c->in) == 0)
            return true;
    }
    return false;
}

/* Connect and run the client side of the handshake with key. */
static bool client_open(lfix *f, client *c, const char *key)
{
    c->fd = md_lc_connect(f->addr.port);
    md_buf_init(&c->in);
    md_auth_key *k = md_auth_key_new((const uint8_t *)key, strlen(key));
    md_auth_ctx *a = k ? md_auth_new(MD_AUTH_CLIENT, k, NULL) : NULL;
    md_buf out = MD_BUF_INIT, payload = MD_BUF_INIT;
    int rc = c->fd >= 0 && a ? md_auth_start(a, &out) : MD_ENOMEM;
    while (rc == MD_AUTH_CONTINUE && read_frame(f, c, &payload, MD_LC_ROUNDS) == 1) {
        md_buf_reset(&out);
        rc = md_auth_feed(a, payload.data, payload.len, &out);
        if (out.len && !md_lc_send(c->fd, out.data, out.len))
            rc = MD_EIO;
    }
    md_buf_free(&out);
    md_buf_free(&payload);
    md_auth_free(a);
    md_auth_key_free(k);
    return rc == MD_AUTH_DONE;
}

/* A server method request (None, method, (), {}) pickled at protocol. */
static void server_request(const char *method, int protocol, md_buf *out)
{
    md_val *req = md_th_tuple(4, md_none(), md_th_str(method), md_th_tuple(0), md_th_dict(0));
    md_buf_reset(out);
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(req, protocol, out, NULL), 0);
    md_decref(req);
}

static bool send_frame(client *c, const void *payload, size_t len)
{
    md_buf b = MD_BUF_INIT;
    bool ok = md_frame_append(&b, payload, len, false) == 0 && md_lc_send(c->fd, b.data, b.len);
    md_buf_free(&b);
    return ok;
}

/* The reply payload decodes to a value whose repr is expect. */
static bool reply_is(const md_buf *payload, const char *expect)
{
    md_val *v = NULL;
    if (md_pickle_decode(payload->data, payload->len, NULL, &v, NULL, NULL) < 0)
        return false;
    bool ok = md_ts_repr_is(v, expect);
    md_decref(v);
    return ok;
}

static size_t nconns_after(lfix *f, size_t want)
{
    for (int i = 0; i < MD_LC_ROUNDS && md_listen_nconns(f->ls) != want; i++)
        md_lc_run(f->base, 1);
    return md_listen_nconns(f->ls);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_listen_serves_a_request_only_once_whole(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client c = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &c, TEST_KEY));
    CU_ASSERT_EQUAL(md_listen_nconns(f.ls), 1);
    md_buf req = MD_BUF_INIT, frame = MD_BUF_INIT, reply = MD_BUF_INIT;
    server_request("number_of_objects", 4, &req);
    CU_ASSERT_EQUAL_FATAL(md_frame_append(&frame, req.data, req.len, false), 0);
    /* one byte at a time, the loop running between them */
    for (size_t i = 0; i + 1 < frame.len; i++) {
        CU_ASSERT_FATAL(md_lc_send(c.fd, frame.data + i, 1));
        md_lc_run(f.base, 2);
    }
    CU_ASSERT_EQUAL(read_frame(&f, &c, &reply, 20), -1); /* no reply to half a frame */
    CU_ASSERT_FATAL(md_lc_send(c.fd, frame.data + frame.len - 1, 1));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', 0)"));
    /* a server method is a short connection: closed after its reply */
    CU_ASSERT(closed_by_server(&f, &c));
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    md_buf_free(&req);
    md_buf_free(&frame);
    md_buf_free(&reply);
    client_close(&c);
    lfix_close(&f);
}

/* Pickles req (stolen) at protocol 4 and sends it framed, in pieces of
 * `piece` bytes with the server's loop running between them. */
static bool send_request_in_pieces(lfix *f, client *c, md_val *req, size_t piece)
{
    md_buf payload = MD_BUF_INIT, frame = MD_BUF_INIT;
    bool ok = md_pickle_encode(req, 4, &payload, NULL) == 0 &&
              md_frame_append(&frame, payload.data, payload.len, true) == 0;
    md_decref(req);
    for (size_t at = 0; ok && at < frame.len; at += piece) {
        size_t n = frame.len - at < piece ? frame.len - at : piece;
        ok = md_lc_send(c->fd, frame.data + at, n);
        md_lc_run(f->base, 1);
    }
    md_buf_free(&payload);
    md_buf_free(&frame);
    return ok;
}

/* An 8 MiB bytes value through a Queue: the request, sent in 64 KiB
 * pieces, is read whole (its buffer sized from the frame header); the
 * reply of q.get(), more than the socket takes at once, is queued as it
 * is and comes back whole to a client that reads it as it comes. Then
 * the same again, now from blocks kept warm by the first round; the
 * deferred trim then gives them back. */
static void test_listen_big_payload_read_in_pieces_and_sent_back_whole(void)
{
    enum { N = 8 << 20 };
    lfix f;
    char ident[64];
    CU_ASSERT_FATAL(lfix_open_with(&f, 2 * N, "Queue", ident));
    client c = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &c, TEST_KEY));
    md_buf reply = MD_BUF_INIT;
    CU_ASSERT_FATAL(send_request_in_pieces(
        &f, &c, md_th_tuple(4, md_none(), md_th_str("accept_connection"),
                            md_th_tuple(1, md_th_str("unit")), md_th_dict(0)), 4096));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
    uint8_t *blob = malloc(N);
    CU_ASSERT_FATAL(blob != NULL);
    for (size_t i = 0; i < N; i++)
        blob[i] = (uint8_t)(i * 31 + (i >> 16));
    for (int round = 0; round < 2; round++) {
        md_val *data = md_bytes_new(blob, N);
        CU_ASSERT_FATAL(data != NULL);
        CU_ASSERT_FATAL(send_request_in_pieces(
            &f, &c, md_th_tuple(4, md_th_str(ident), md_th_str("put"), md_th_tuple(1, data),
                                md_th_dict(0)), 65536));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &reply, MD_LC_ROUNDS), 1);
        CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
        CU_ASSERT_FATAL(send_request_in_pieces(
            &f, &c, md_th_tuple(4, md_th_str(ident), md_th_str("get"), md_th_tuple(0),
                                md_th_dict(0)), 65536));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &reply, 20 * MD_LC_ROUNDS), 1);
        md_val *v = NULL;
        CU_ASSERT_EQUAL_FATAL(md_pickle_decode(reply.data, reply.len, NULL, &v, NULL, NULL), 0);
        CU_ASSERT_FATAL(md_typeof(v) == MD_T_TUPLE && md_tuple_len(v) == 2);
        md_val *got = md_tuple_get(v, 1);
        CU_ASSERT(md_str_eq_cstr(md_tuple_get(v, 0), "#RETURN"));
        CU_ASSERT_FATAL(md_typeof(got) == MD_T_BYTES && md_bytes_len(got) == N);
        CU_ASSERT_EQUAL(memcmp(md_bytes_data(got), blob, N), 0);
        md_decref(v);
    }
    /* The blocks of the last messages stay warm, then go back to the
     * system once no big message came for MD_TRIM_DELAY_MS. */
    CU_ASSERT(md_alloc_warm_bytes() >= N);
    for (int i = 0; i < MD_LC_ROUNDS && md_alloc_warm_bytes(); i++)
        md_lc_run(f.base, 1);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    free(blob);
    md_buf_free(&reply);
    client_close(&c);
    lfix_close(&f);
}

/* Connects, accepts a long connection and checks its reply. */
static bool long_client_open(lfix *f, client *c, md_buf *reply)
{
    return client_open(f, c, TEST_KEY) &&
           send_request_in_pieces(f, c,
                                  md_th_tuple(4, md_none(), md_th_str("accept_connection"),
                                              md_th_tuple(1, md_th_str("unit")), md_th_dict(0)),
                                  4096) &&
           read_frame(f, c, reply, MD_LC_ROUNDS) == 1 && reply_is(reply, "('#RETURN', None)");
}

static md_val *queue_call(const char *ident, const char *method, md_val *arg)
{
    return md_th_tuple(4, md_th_str(ident), md_th_str(method),
                       arg ? md_th_tuple(1, arg) : md_th_tuple(0), md_th_dict(0));
}

/* Whether reply is ('#RETURN', bytes equal to blob[0..n)). */
static bool reply_is_blob(const md_buf *reply, const uint8_t *blob, size_t n)
{
    md_val *v = NULL;
    if (md_pickle_decode(reply->data, reply->len, NULL, &v, NULL, NULL) != 0)
        return false;
    md_val *got = md_typeof(v) == MD_T_TUPLE && md_tuple_len(v) == 2 ? md_tuple_get(v, 1) : NULL;
    bool ok = got && md_str_eq_cstr(md_tuple_get(v, 0), "#RETURN") &&
              md_typeof(got) == MD_T_BYTES && md_bytes_len(got) == n &&
              memcmp(md_bytes_data(got), blob, n) == 0;
    md_decref(v);
    return ok;
}

/* A 10 MB bytes value put through a Queue, its message read in 4 KiB
 * pieces (many reads into one buffer), takes the connection's receive
 * buffer over (md_gift): the value outlives the connection, which is
 * closed before another one gets it back whole. The same in a stream
 * of requests, behind a small one read with it. */
static void test_listen_big_bytes_keep_their_receive_buffer_past_the_connection(void)
{
    enum { N = 10 * 1000 * 1000 };
    lfix f;
    char ident[64];
    CU_ASSERT_FATAL(lfix_open_with(&f, 2 * N, "Queue", ident));
    uint8_t *blob = malloc(N);
    CU_ASSERT_FATAL(blob != NULL);
    for (size_t i = 0; i < N; i++)
        blob[i] = (uint8_t)(i * 13 + (i >> 20));
    md_buf reply = MD_BUF_INIT;
    client a = {.fd = -1}, b = {.fd = -1};
    CU_ASSERT_FATAL(long_client_open(&f, &a, &reply));
    unsigned long taken = md_gift_count(), lodged = md_gift_lodged_count();
    CU_ASSERT_FATAL(send_request_in_pieces(&f, &a, queue_call(ident, "put", md_bytes_new(blob, N)),
                                           4096));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &a, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
    CU_ASSERT_EQUAL(md_gift_count(), taken + 1);
    /* placed so that the value took the buffer where its bytes lay */
    CU_ASSERT_EQUAL(md_gift_lodged_count(), lodged + 1);
    client_close(&a);
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    CU_ASSERT_FATAL(long_client_open(&f, &b, &reply));
    CU_ASSERT_FATAL(send_request_in_pieces(&f, &b, queue_call(ident, "get", NULL), 65536));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, 20 * MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is_blob(&reply, blob, N));
    /* Four requests in one stream: the big put's frame comes in the same
     * read as the small put before it, so its buffer holds that one too. */
    md_buf both = MD_BUF_INIT, payload = MD_BUF_INIT;
    md_val *calls[] = {queue_call(ident, "put", md_int_from_i64(1)),
                       queue_call(ident, "put", md_bytes_new(blob, N)),
                       queue_call(ident, "get", NULL), queue_call(ident, "get", NULL)};
    for (size_t i = 0; i < 4; i++) {
        md_buf_reset(&payload);
        CU_ASSERT_FATAL(md_pickle_encode(calls[i], 4, &payload, NULL) == 0 &&
                        md_frame_append(&both, payload.data, payload.len, true) == 0);
        md_decref(calls[i]);
    }
    taken = md_gift_count();
    lodged = md_gift_lodged_count();
    for (size_t at = 0; at < both.len; at += 65536) {
        CU_ASSERT_FATAL(md_lc_send(b.fd, both.data + at, both.len - at < 65536 ? both.len - at : 65536));
        md_lc_run(f.base, 1);
    }
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, 20 * MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, 20 * MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, 20 * MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', 1)"));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, 20 * MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is_blob(&reply, blob, N));
    CU_ASSERT_EQUAL(md_gift_count(), taken + 1);
    CU_ASSERT_EQUAL(md_gift_lodged_count(), lodged + 1);
    md_buf_free(&both);
    md_buf_free(&payload);
    free(blob);
    md_buf_free(&reply);
    client_close(&b);
    lfix_close(&f);
}

static void test_listen_closes_only_the_connection_over_the_length_limit(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client bad = {.fd = -1}, good = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &bad, TEST_KEY));
    CU_ASSERT_FATAL(client_open(&f, &good, TEST_KEY));
    CU_ASSERT_EQUAL(nconns_after(&f, 2), 2);
    /* A header announcing one byte past the limit; no payload follows:
     * the header alone must close the connection. */
    uint8_t hdr[MD_FRAME_HDR_MAX];
    int hlen = md_frame_header(hdr, MD_MAX_MESSAGE_MIN + 1, false);
    CU_ASSERT_FATAL(hlen == MD_FRAME_SHORT_HDR);
    CU_ASSERT_FATAL(md_lc_send(bad.fd, hdr, (size_t)hlen));
    CU_ASSERT(closed_by_server(&f, &bad));
    CU_ASSERT_EQUAL(nconns_after(&f, 1), 1);
    /* the other client is served as before, at the limit exactly */
    md_buf req = MD_BUF_INIT, reply = MD_BUF_INIT;
    server_request("number_of_objects", 4, &req);
    CU_ASSERT_FATAL(send_frame(&good, req.data, req.len));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &good, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', 0)"));
    md_buf_free(&req);
    md_buf_free(&reply);
    client_close(&bad);
    client_close(&good);
    lfix_close(&f);
}

static void test_listen_limit_itself_is_accepted(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client c = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &c, TEST_KEY));
    /* MD_MAX_MESSAGE_MIN bytes of junk that is no pickle: decoded (and
     * refused with a traceback), so the frame itself was accepted. */
    static uint8_t junk[MD_MAX_MESSAGE_MIN];
    memset(junk, 'x', sizeof junk);
    junk[0] = 0x80;
    junk[1] = 4;
    md_buf reply = MD_BUF_INIT;
    CU_ASSERT_FATAL(send_frame(&c, junk, sizeof junk));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(memmem(reply.data, reply.len, "#TRACEBACK", 10) != NULL);
    CU_ASSERT(memmem(reply.data, reply.len, "could not decode the request", 28) != NULL);
    md_buf_free(&reply);
    client_close(&c);
    lfix_close(&f);
}

static void test_listen_closes_on_a_bad_frame_header(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client c = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &c, TEST_KEY));
    static const uint8_t negative[4] = {0x80, 0, 0, 0}; /* -2^31: not the long form */
    CU_ASSERT_FATAL(md_lc_send(c.fd, negative, sizeof negative));
    CU_ASSERT(closed_by_server(&f, &c));
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    client_close(&c);
    lfix_close(&f);
}

static void test_listen_closes_on_a_handshake_message_over_its_limit(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    int fd = md_lc_connect(f.addr.port);
    CU_ASSERT_FATAL(fd >= 0);
    client c = {.fd = fd};
    md_buf challenge = MD_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &challenge, MD_LC_ROUNDS), 1);
    uint8_t hdr[MD_FRAME_HDR_MAX];
    int hlen = md_frame_header(hdr, MD_HANDSHAKE_MAX + 1, false);
    CU_ASSERT_FATAL(md_lc_send(fd, hdr, (size_t)hlen));
    CU_ASSERT(closed_by_server(&f, &c));
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    md_buf_free(&challenge);
    client_close(&c);
    lfix_close(&f);
}

static void test_listen_refuses_a_wrong_key(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client c = {.fd = -1};
    CU_ASSERT_FALSE(client_open(&f, &c, "not-the-key"));
    CU_ASSERT(closed_by_server(&f, &c));
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    client_close(&c);
    lfix_close(&f);
}

static void test_listen_reaps_a_client_gone_mid_frame(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client c = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &c, TEST_KEY));
    md_buf req = MD_BUF_INIT, frame = MD_BUF_INIT;
    server_request("number_of_objects", 4, &req);
    CU_ASSERT_EQUAL_FATAL(md_frame_append(&frame, req.data, req.len, false), 0);
    CU_ASSERT_FATAL(md_lc_send(c.fd, frame.data, frame.len / 2));
    md_lc_run(f.base, 5);
    CU_ASSERT_EQUAL(md_listen_nconns(f.ls), 1);
    client_close(&c);
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    /* and the listener goes on accepting */
    client again = {.fd = -1};
    CU_ASSERT(client_open(&f, &again, TEST_KEY));
    CU_ASSERT_EQUAL(nconns_after(&f, 1), 1);
    md_buf_free(&req);
    md_buf_free(&frame);
    client_close(&again);
    lfix_close(&f);
}

/* ---- replies sent from their value (outq.h) ------------------------------ */

enum { BIG_REPLY = 10 * 1000 * 1000 };

/* n bytes that differ from run to run of seed and repeat only far apart
 * (malloc'd; the test frees it). */
static uint8_t *pattern_blob(size_t n, unsigned seed)
{
    uint8_t *blob = malloc(n);
    CU_ASSERT_FATAL(blob != NULL);
    for (size_t i = 0; i < n; i++)
        blob[i] = (uint8_t)(i * seed + (i >> 11));
    return blob;
}

/* A listener for messages up to max and a Queue to put them in. */
static void open_with_queue(lfix *f, size_t max, char *ident)
{
    CU_ASSERT_FATAL(lfix_open_max(f, max));
    md_th_create_ok(f->th, "Queue", NULL, NULL, ident, __FILE__, __LINE__);
    CU_ASSERT_FATAL(ident[0] != 0);
}

/* A queue holding v (which the test keeps a reference to), put there by
 * an in-process peer; returns v's count then (2). */
static uint32_t queue_holding(lfix *f, char *ident, md_val *v)
{
    md_th_create_ok(f->th, "Queue", NULL, NULL, ident, __FILE__, __LINE__);
    CU_ASSERT_FATAL(ident[0] != 0);
    md_peer *p = md_th_peer(f->th, 4);
    md_val *got = NULL, *args = md_th_tuple(1, md_incref(v));
    CU_ASSERT_EQUAL(md_th_call_take(f->th, p, ident, "put", args, NULL, &got), MD_OUT_RETURN);
    md_decref(got);
    md_decref(args);
    CU_ASSERT_EQUAL(md_refcount(v), 2);
    return md_refcount(v);
}

/* Read the next frame piece bytes at a time (a slow reader: the server
 * meets a full socket again and again); 1 when whole. */
static int read_frame_slowly(lfix *f, client *c, md_buf *payload, size_t piece)
{
    uint8_t *chunk = malloc(piece);
    int rc = -1;
    for (int i = 0; chunk && i < 200 * MD_LC_ROUNDS && rc < 0; i++) {
        if (take_frame(c, payload)) {
            rc = 1;
            break;
        }
        md_lc_run(f->base, 1);
        ssize_t n = recv(c->fd, chunk, piece, 0);
        if (n > 0)
            md_buf_append(&c->in, chunk, (size_t)n);
        else if (n == 0)
            rc = 0;
    }
    free(chunk);
    return rc;
}

/* A 10 MB q.get() to a client that does not read: the reply holds the
 * value (the queue let it go), the server serves another client
 * meanwhile and reads no more requests from the first one while it owes
 * it more than MD_OUTPUT_SOFT_BYTES; the first then reads its reply a
 * few KiB at a time (many partial writes) and gets it whole, after which
 * nothing holds the value but the test. */
static void test_listen_big_reply_waits_for_a_slow_reader_without_blocking_others(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open_max(&f, 2 * BIG_REPLY));
    uint8_t *blob = pattern_blob(BIG_REPLY, 7);
    md_val *v = md_bytes_new(blob, BIG_REPLY);
    char ident[64];
    /* held by the test and the queue */
    uint32_t held = queue_holding(&f, ident, v);
    md_buf reply = MD_BUF_INIT;
    client a = {.fd = -1}, b = {.fd = -1};
    CU_ASSERT_FATAL(long_client_open(&f, &a, &reply));
    CU_ASSERT_FATAL(long_client_open(&f, &b, &reply));
    CU_ASSERT_FATAL(send_request_in_pieces(&f, &a, queue_call(ident, "get", NULL), 4096));
    /* and one more request behind it, which must wait */
    CU_ASSERT_FATAL(send_request_in_pieces(&f, &a, queue_call(ident, "qsize", NULL), 4096));
    md_lc_run(f.base, 20);
    CU_ASSERT_EQUAL(md_refcount(v), held); /* the queue's reference is now the reply's */
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_FATAL(send_request_in_pieces(&f, &b, queue_call(ident, "put", md_int_from_i64(i)),
                                               4096));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, MD_LC_ROUNDS), 1);
        CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
    }
    CU_ASSERT_EQUAL(read_frame_slowly(&f, &a, &reply, 4096), 1);
    CU_ASSERT(reply_is_blob(&reply, blob, BIG_REPLY));
    CU_ASSERT_EQUAL(md_refcount(v), held - 1);
    /* the request held back is served once the reply is out: 3 ints */
    CU_ASSERT_EQUAL(read_frame(&f, &a, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(reply_is(&reply, "('#RETURN', 3)"));
    md_decref(v);
    free(blob);
    md_buf_free(&reply);
    client_close(&a);
    client_close(&b);
    lfix_close(&f);
}

/* The frames a client receives for q.get() of bytes around
 * MD_REPLY_REF_MIN_BYTES (copied below it, sent from the value from it
 * on) are byte for byte the plain encoding of the reply, the frame
 * header's length included; the value is let go once it is sent. */
static void test_listen_reply_bytes_on_the_wire_around_the_threshold(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    md_buf reply = MD_BUF_INIT, expect = MD_BUF_INIT;
    client a = {.fd = -1};
    CU_ASSERT_FATAL(long_client_open(&f, &a, &reply));
    const size_t sizes[] = {MD_REPLY_REF_MIN_BYTES - 1, MD_REPLY_REF_MIN_BYTES,
                            MD_REPLY_REF_MIN_BYTES + 1, 3 * MD_REPLY_REF_MIN_BYTES + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *blob = pattern_blob(sizes[i], 5 + 2 * (unsigned)i);
        md_val *v = md_bytes_new(blob, sizes[i]);
        free(blob);
        char ident[64];
        uint32_t held = queue_holding(&f, ident, v);
        md_val *want = md_th_tuple(2, md_th_str("#RETURN"), md_incref(v));
        md_buf_reset(&expect);
        CU_ASSERT_EQUAL_FATAL(md_pickle_encode(want, 4, &expect, NULL), 0);
        md_decref(want);
        CU_ASSERT_FATAL(send_request_in_pieces(&f, &a, queue_call(ident, "get", NULL), 4096));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &a, &reply, 20 * MD_LC_ROUNDS), 1);
        CU_ASSERT_EQUAL(reply.len, expect.len);
        CU_ASSERT(reply.len == expect.len && memcmp(reply.data, expect.data, reply.len) == 0);
        CU_ASSERT_EQUAL(md_refcount(v), held - 1);
        md_decref(v);
    }
    md_buf_free(&reply);
    md_buf_free(&expect);
    client_close(&a);
    lfix_close(&f);
}

/* Python sends a big message's 4-byte header apart from the rest: the
 * server reads a little of the message before sizing the buffer, so
 * that the value still takes the buffer where its bytes lie (lodged);
 * so too when the rest comes a few bytes at a time at first. */
static void test_listen_big_put_with_its_header_apart_is_placed_for_its_value(void)
{
    enum { N = 3 << 20 };
    lfix f;
    char ident[64];
    open_with_queue(&f, 2 * N, ident);
    uint8_t *blob = pattern_blob(N, 11);
    md_buf reply = MD_BUF_INIT, payload = MD_BUF_INIT, frame = MD_BUF_INIT;
    client a = {.fd = -1};
    CU_ASSERT_FATAL(long_client_open(&f, &a, &reply));
    for (int trickle = 0; trickle < 2; trickle++) {
        md_val *put = queue_call(ident, "put", md_bytes_new(blob, N));
        md_buf_reset(&payload);
        md_buf_reset(&frame);
        CU_ASSERT_FATAL(md_pickle_encode(put, 4, &payload, NULL) == 0 &&
                        md_frame_append(&frame, payload.data, payload.len, true) == 0);
        md_decref(put);
        unsigned long lodged = md_gift_lodged_count();
        CU_ASSERT_FATAL(md_lc_send(a.fd, frame.data, 4));
        md_lc_run(f.base, 3);
        size_t at = 4;
        for (int i = 0; trickle && i < 40; i++, at += 7) {
            CU_ASSERT_FATAL(md_lc_send(a.fd, frame.data + at, 7));
            md_lc_run(f.base, 1);
        }
        for (; at < frame.len; at += 65536) {
            CU_ASSERT_FATAL(md_lc_send(a.fd, frame.data + at,
                                       frame.len - at < 65536 ? frame.len - at : 65536));
            md_lc_run(f.base, 1);
        }
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &a, &reply, MD_LC_ROUNDS), 1);
        CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
        CU_ASSERT_EQUAL(md_gift_lodged_count(), lodged + 1);
        CU_ASSERT_FATAL(send_request_in_pieces(&f, &a, queue_call(ident, "get", NULL), 4096));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &a, &reply, 20 * MD_LC_ROUNDS), 1);
        CU_ASSERT(reply_is_blob(&reply, blob, N));
    }
    free(blob);
    md_buf_free(&reply);
    md_buf_free(&payload);
    md_buf_free(&frame);
    client_close(&a);
    lfix_close(&f);
}

/* A client that vanishes in the middle of a 10 MB reply is reaped, and
 * the value its reply was sent from goes with it. */
static void test_listen_client_gone_mid_reply_lets_the_value_go(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open_max(&f, 2 * BIG_REPLY));
    uint8_t *blob = calloc(1, BIG_REPLY);
    CU_ASSERT_FATAL(blob != NULL);
    md_val *v = md_bytes_new(blob, BIG_REPLY);
    free(blob);
    char ident[64];
    uint32_t held = queue_holding(&f, ident, v);
    md_buf reply = MD_BUF_INIT;
    client a = {.fd = -1};
    CU_ASSERT_FATAL(long_client_open(&f, &a, &reply));
    CU_ASSERT_FATAL(send_request_in_pieces(&f, &a, queue_call(ident, "get", NULL), 4096));
    md_lc_run(f.base, 5);
    uint8_t some[65536];
    CU_ASSERT(recv(a.fd, some, sizeof some, 0) > 0); /* the reply has begun */
    CU_ASSERT_EQUAL(md_refcount(v), held);
    CU_ASSERT_EQUAL(md_listen_nconns(f.ls), 1);
    client_close(&a);
    CU_ASSERT_EQUAL(nconns_after(&f, 0), 0);
    CU_ASSERT_EQUAL(md_refcount(v), held - 1);
    md_decref(v);
    md_buf_free(&reply);
    lfix_close(&f);
}

/* A reply whose value loses every other holder while it is being sent:
 * a dict's 10 MB item read by one client that does not read its reply
 * yet, deleted by another, which then stores another 10 MB value (that
 * could take the freed block); the first still gets the first bytes. */
static void test_listen_reply_keeps_a_value_deleted_while_it_is_sent(void)
{
    lfix f;
    char ident[64];
    CU_ASSERT_FATAL(lfix_open_with(&f, 2 * BIG_REPLY, "dict", ident));
    uint8_t *blob = malloc(BIG_REPLY);
    CU_ASSERT_FATAL(blob != NULL);
    md_buf reply = MD_BUF_INIT;
    client a = {.fd = -1}, b = {.fd = -1};
    CU_ASSERT_FATAL(long_client_open(&f, &a, &reply));
    CU_ASSERT_FATAL(long_client_open(&f, &b, &reply));
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < BIG_REPLY; i++)
            blob[i] = (uint8_t)(i * 3 + (unsigned)round * 101 + (i >> 11));
        md_val *set = md_th_tuple(4, md_th_str(ident), md_th_str("__setitem__"),
                                  md_th_tuple(2, md_th_str(round ? "k2" : "k"),
                                              md_bytes_new(blob, BIG_REPLY)),
                                  md_th_dict(0));
        CU_ASSERT_FATAL(send_request_in_pieces(&f, &b, set, 65536));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, MD_LC_ROUNDS), 1);
        CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
        if (round)
            break;
        CU_ASSERT_FATAL(send_request_in_pieces(
            &f, &a, md_th_tuple(4, md_th_str(ident), md_th_str("__getitem__"),
                                md_th_tuple(1, md_th_str("k")), md_th_dict(0)), 4096));
        md_lc_run(f.base, 5);
        CU_ASSERT_FATAL(send_request_in_pieces(
            &f, &b, md_th_tuple(4, md_th_str(ident), md_th_str("__delitem__"),
                                md_th_tuple(1, md_th_str("k")), md_th_dict(0)), 4096));
        CU_ASSERT_EQUAL_FATAL(read_frame(&f, &b, &reply, MD_LC_ROUNDS), 1);
        CU_ASSERT(reply_is(&reply, "('#RETURN', None)"));
    }
    CU_ASSERT_EQUAL(read_frame_slowly(&f, &a, &reply, 65536), 1);
    for (size_t i = 0; i < BIG_REPLY; i++)
        blob[i] = (uint8_t)(i * 3 + (i >> 11));
    CU_ASSERT(reply_is_blob(&reply, blob, BIG_REPLY));
    free(blob);
    md_buf_free(&reply);
    client_close(&a);
    client_close(&b);
    lfix_close(&f);
}

/* Python 2 reads '#RETURN' and traceback texts as str: at protocol 2
 * they go as SHORT_BINSTRING / BINSTRING, not BINUNICODE. */
static void test_listen_answers_python2_with_byte_strings(void)
{
    lfix f;
    CU_ASSERT_FATAL(lfix_open(&f));
    client c = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &c, TEST_KEY));
    md_buf req = MD_BUF_INIT, reply = MD_BUF_INIT;
    server_request("number_of_objects", 2, &req);
    CU_ASSERT_FATAL(send_frame(&c, req.data, req.len));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &c, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(reply.len > 2 && reply.data[0] == 0x80 && reply.data[1] == 2);
    CU_ASSERT(memmem(reply.data, reply.len, "U\x07#RETURN", 9) != NULL);
    client_close(&c);

    client old = {.fd = -1};
    CU_ASSERT_FATAL(client_open(&f, &old, TEST_KEY));
    static const uint8_t bad[] = {0x80, 2, 'x', 'y'};
    CU_ASSERT_FATAL(send_frame(&old, bad, sizeof bad));
    CU_ASSERT_EQUAL_FATAL(read_frame(&f, &old, &reply, MD_LC_ROUNDS), 1);
    CU_ASSERT(memmem(reply.data, reply.len, "U\x0a#TRACEBACK", 12) != NULL);
    CU_ASSERT(memmem(reply.data, reply.len, "X\x0a\0\0\0#TRACEBACK", 15) == NULL);
    md_buf_free(&req);
    md_buf_free(&reply);
    client_close(&old);
    lfix_close(&f);
}

/* ---- a deadline that cannot be armed --------------------------------------- */

static int count_timer(const struct event_base *base, const struct event *ev, void *arg)
{
    (void)base;
    if (event_pending(ev, EV_TIMEOUT, NULL))
        (*(int *)arg)++;
    return 0;
}

static int pending_timers(struct event_base *base)
{
    int n = 0;
    event_base_foreach_event(base, count_timer, &n);
    return n;
}

static void far_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

enum { FILLERS_MAX = 1024 };

/* Far timers until libevent's timer heap is full, so that the next timer
 * armed must allocate (libevent's memory goes through md_malloc here).
 * Returns how many were added, into fill. */
static size_t fill_timer_heap(struct event_base *base, struct event **fill)
{
    struct timeval far = {3600, 0};
    for (size_t i = 0; i < FILLERS_MAX; i++) {
        if (!(fill[i] = evtimer_new(base, far_timer_cb, NULL)))
            return i;
        md_alloc_fail_after(0);
        int rc = evtimer_add(fill[i], &far);
        md_alloc_fail_after(-1);
        if (rc < 0) {
            event_free(fill[i]);
            return i;
        }
    }
    return FILLERS_MAX;
}

static void test_listen_closes_a_connection_whose_deadline_cannot_be_armed(void)
{
    unsigned closed = 0, served = 0;
    bool completed = false;
    for (long n = 0; n < 200 && !completed; n++) {
        lfix f;
        CU_ASSERT_FATAL(lfix_open(&f));
        event_set_mem_functions(md_malloc, md_realloc, md_free);
        static struct event *fill[FILLERS_MAX];
        size_t nfill = fill_timer_heap(f.base, fill);
        CU_ASSERT(nfill < FILLERS_MAX);
        int timers = pending_timers(f.base);
        client c = {.fd = md_lc_connect(f.addr.port)};
        md_buf_init(&c.in);
        CU_ASSERT_FATAL(c.fd >= 0);
        /* the accept, with the n+1-th allocation and all after it failing */
        unsigned long before = md_alloc_failures();
        md_alloc_fail_after(n);
        md_lc_run(f.base, 5);
        md_alloc_fail_after(-1);
        completed = md_alloc_failures() == before;
        long got = -1;
        for (int i = 0; i < MD_LC_ROUNDS && got < 0; i++)
            got = md_lc_poll(f.base, c.fd, &c.in);
        if (got > 0) {
            /* challenged: alive, and its deadline is armed */
            served++;
            CU_ASSERT_EQUAL(md_listen_nconns(f.ls), 1);
            CU_ASSERT_EQUAL(pending_timers(f.base), timers + 1);
        } else {
            closed++;
            CU_ASSERT_EQUAL(got, 0);
            CU_ASSERT_EQUAL(md_listen_nconns(f.ls), 0);
        }
        client_close(&c);
        for (size_t i = 0; i < nfill; i++)
            event_free(fill[i]);
        lfix_close(&f);
        event_set_mem_functions(NULL, NULL, NULL);
    }
    CU_ASSERT(completed);      /* the sweep reached an accept with no failure */
    CU_ASSERT(closed > 0);
    CU_ASSERT(served > 0);
}

void md_test_register_listen(void)
{
    CU_pSuite s = md_test_suite("listen");
    MD_ADD_TEST(s, test_listen_serves_a_request_only_once_whole);
    MD_ADD_TEST(s, test_listen_closes_only_the_connection_over_the_length_limit);
    MD_ADD_TEST(s, test_listen_limit_itself_is_accepted);
    MD_ADD_TEST(s, test_listen_big_payload_read_in_pieces_and_sent_back_whole);
    MD_ADD_TEST(s, test_listen_big_bytes_keep_their_receive_buffer_past_the_connection);
    MD_ADD_TEST(s, test_listen_closes_on_a_bad_frame_header);
    MD_ADD_TEST(s, test_listen_closes_on_a_handshake_message_over_its_limit);
    MD_ADD_TEST(s, test_listen_refuses_a_wrong_key);
    MD_ADD_TEST(s, test_listen_reaps_a_client_gone_mid_frame);
    MD_ADD_TEST(s, test_listen_answers_python2_with_byte_strings);
    MD_ADD_TEST(s, test_listen_closes_a_connection_whose_deadline_cannot_be_armed);
    MD_ADD_TEST(s, test_listen_big_reply_waits_for_a_slow_reader_without_blocking_others);
    MD_ADD_TEST(s, test_listen_client_gone_mid_reply_lets_the_value_go);
    MD_ADD_TEST(s, test_listen_reply_bytes_on_the_wire_around_the_threshold);
    MD_ADD_TEST(s, test_listen_big_put_with_its_header_apart_is_placed_for_its_value);
    MD_ADD_TEST(s, test_listen_reply_keeps_a_value_deleted_while_it_is_sent);
}
