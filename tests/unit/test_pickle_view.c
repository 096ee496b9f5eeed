/* test_pickle_view.c - reply views (serializers/pickle.h): a view of a
 * dict or list must encode to exactly the bytes of the container it
 * stands for (d.copy(), d.keys(), d.values(), d.items(), l[a:b:c]) at
 * every protocol, with shared values, values that contain themselves,
 * a source met inside its own items or elsewhere in the value, deleted
 * entries, batches and frames, and under every allocation failure; and
 * the dispatcher must send views only to peers that encode at once. */
#include "tests/unit/unit.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/disp/disp.h"
#include "core/peer.h"
#include "core/protocol/protocol.h"
#include "serializers/codec.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

/* ======================================================================
 * Helpers
 * ====================================================================== */

/* The bytes of the reply ('#RETURN', payload) at protocol, as a
 * connection encodes it (payload stolen); NULL data when encoding failed
 * (*rc says why). */
static md_buf reply_bytes(md_val *payload, int protocol, int *rc)
{
    md_buf b = MD_BUF_INIT;
    md_codec_err err;
    memset(&err, 0, sizeof err);
    *rc = md_codec_encode_reply(&md_codec_pickle, protocol, "#RETURN", MD_CODEC_RESULT, payload,
                                &b, &err);
    if (*rc != 0)
        md_buf_free(&b);
    return b;
}

static bool same_bytes(const md_buf *a, const md_buf *b)
{
    return a->len == b->len && a->len > 0 && memcmp(a->data, b->data, a->len) == 0;
}

/* view (stolen) must encode as the container it stands for, at every
 * protocol; that container must also decode back equal to itself. */
static void check_view_at(md_val *view, int line)
{
    CHECK_AT(view != NULL && md_pickle_is_view(view), line);
    if (!view)
        return;
    for (int p = 2; p <= 5; p++) {
        /* The view first: the real container holds a reference to each
         * item, which would change what the view's encode sees. */
        int rc1, rc2;
        md_buf a = reply_bytes(md_incref(view), p, &rc1);
        md_val *real = md_pickle_view_materialize(view);
        CHECK_AT(real != NULL && !md_pickle_is_view(real), line);
        md_buf b = reply_bytes(real, p, &rc2);
        CHECK_AT(rc1 == 0 && rc2 == 0, line);
        CHECK_AT(same_bytes(&a, &b), line);
        md_buf_free(&a);
        md_buf_free(&b);
    }
    md_decref(view);
}
#define check_view(view) check_view_at((view), __LINE__)

/* (view, other) must encode as (container, other), other being src, or
 * the view itself (then the container itself: one object met twice). */
static void check_pair_at(md_val *view, md_val *src, int protocol, int line)
{
    int rc1, rc2;
    md_buf a = reply_bytes(T(2, md_incref(view), md_incref(src ? src : view)), protocol, &rc1);
    md_val *real = md_pickle_view_materialize(view);
    md_buf b = reply_bytes(T(2, md_incref(real), md_incref(src ? src : real)), protocol, &rc2);
    CHECK_AT(rc1 == 0 && rc2 == 0 && same_bytes(&a, &b), line);
    md_val *back = !src && rc1 == 0 ? md_ts_dec_ok(&md_codec_pickle, a.data, a.len, NULL) : NULL;
    md_val *pair = back ? md_tuple_get(back, 1) : NULL;
    CHECK_AT(src || (pair && md_tuple_get(pair, 0) == md_tuple_get(pair, 1)), line);
    md_decref(back);
    md_decref(real);
    md_buf_free(&a);
    md_buf_free(&b);
}

static void set_item(md_val *d, md_val *k, md_val *v)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    CU_ASSERT_EQUAL(md_dict_set(d, k, v, &e), 0);
    md_decref(k);
    md_decref(v);
}

/* A key longer than SHORT_BINUNICODE takes. */
static const char *long_key(void)
{
    static char key[300];
    memset(key, 'k', sizeof key - 1);
    return key;
}

/* A dict with what makes memo decisions differ: a list shared by two
 * values, a str that is a key and a value, a list that contains itself,
 * a tuple holding the shared list, keys of mixed types, entries deleted
 * after insertion (dummies in the table). */
static md_val *tricky_dict(void)
{
    md_val *d = md_dict_new();
    md_val *shared = L(2, S("shared"), I(7));
    md_val *self = L(1, I(1));
    CU_ASSERT_EQUAL(md_list_append(self, self), 0);
    md_val *key_a = S("a");
    set_item(d, S("gone-1"), I(0));
    set_item(d, md_incref(key_a), md_incref(shared));
    set_item(d, I(1), md_incref(shared));
    set_item(d, F(2.5), md_incref(key_a));
    set_item(d, S("gone-2"), I(0));
    set_item(d, B("b", 1), self);
    set_item(d, T(2, I(1), S("x")), T(2, md_incref(shared), S("y")));
    set_item(d, NONE, D(1, S("in"), md_incref(shared)));
    set_item(d, SETV(true, 2, I(3), I(4)), BIG("123456789012345678901234567890"));
    set_item(d, S(long_key()), I(-70000));
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *g1 = S("gone-1"), *g2 = S("gone-2");
    CU_ASSERT_EQUAL(md_dict_del(d, g1, &e), 1);
    CU_ASSERT_EQUAL(md_dict_del(d, g2, &e), 1);
    md_decref(g1);
    md_decref(g2);
    md_decref(shared);
    md_decref(key_a);
    return d;
}

/* A dict of n 'k%07d' -> [i] items (long enough to cross a 64 KiB frame
 * and several batches of 1000). */
static md_val *big_dict(size_t n)
{
    md_val *d = md_dict_new();
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "key-of-some-length-%07zu", i);
        set_item(d, S(k), L(1, I((int64_t)i)));
    }
    return d;
}

static const md_pickle_view_kind dict_kinds[] = { MD_PV_COPY, MD_PV_KEYS, MD_PV_VALUES,
                                                  MD_PV_ITEMS };

/* ======================================================================
 * The encoder
 * ====================================================================== */

static void test_pickle_view_of_a_dict_encodes_as_its_copy_and_lists(void)
{
    md_val *d = tricky_dict();
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(d, dict_kinds[k]));
    /* The copy is what Python's copy, keys(), values(), items() give. */
    md_val *keys = md_pickle_view_new(d, MD_PV_KEYS);
    md_val *real = keys ? md_pickle_view_materialize(keys) : NULL;
    char expect[400];
    snprintf(expect, sizeof expect,
             "['a', 1, 2.5, b'b', (1, 'x'), None, frozenset({3, 4}), '%s']", long_key());
    CU_ASSERT_TRUE(md_ts_repr_is(real, expect));
    md_decref(real);
    md_decref(keys);
    md_val *items = md_pickle_view_new(d, MD_PV_ITEMS);
    real = items ? md_pickle_view_materialize(items) : NULL;
    CU_ASSERT_EQUAL(real ? md_list_len(real) : 0, 8);
    CU_ASSERT_TRUE(real && md_ts_repr_is(md_list_get(real, 0), "('a', ['shared', 7])"));
    md_decref(real);
    md_decref(items);
    md_decref(d);
    md_gc_collect();
}

static void test_pickle_view_of_an_empty_and_a_one_item_dict(void)
{
    md_val *d = md_dict_new();
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(d, dict_kinds[k]));
    set_item(d, S("only"), L(0));  /* one item: SETITEM / APPEND, no MARK */
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(d, dict_kinds[k]));
    md_decref(d);
}

static void test_pickle_view_of_a_big_dict_crosses_batches_and_frames(void)
{
    md_val *d = big_dict(5000);
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(d, dict_kinds[k]));
    md_decref(d);
    /* 20,000 items: the buffer is sized from the first batch. */
    d = big_dict(20000);
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(d, dict_kinds[k]));
    /* 1001 items: a last batch of one item is APPENDS, not APPEND. */
    md_val *e = big_dict(1001);
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(e, dict_kinds[k]));
    md_decref(e);
    md_decref(d);
}

/* A dict of n keys of key_len bytes (at least 7; '%07zu' then 'k's)
 * -> ints at every opcode width in turn (BININT1/2, BININT, LONG1, and
 * both sides of the pointer-sized int's bound). */
static md_val *plain_dict(size_t n, size_t key_len)
{
    static const int64_t ints[] = {
        0, 1, 255, 256, 65535, 65536, INT32_MAX, (int64_t)INT32_MAX + 1, -1, INT32_MIN,
        (int64_t)INT32_MIN - 1, ((int64_t)1 << 62) - 1, (int64_t)1 << 62, INT64_MIN,
    };
    md_val *d = md_dict_new();
    char key[400];
    for (size_t i = 0; i < n && key_len < sizeof key; i++) {
        int w = snprintf(key, sizeof key, "%07zu", i);
        memset(key + w, 'k', key_len - (size_t)w);
        set_item(d, md_str_new(key, key_len), I(ints[i % (sizeof ints / sizeof ints[0])]));
    }
    return d;
}

static void check_dict_views_at(md_val *d, int line)
{
    for (size_t k = 0; k < 4; k++)
        check_view_at(md_pickle_view_new(d, dict_kinds[k]), line);
    md_decref(d);
}
#define check_dict_views(d) check_dict_views_at((d), __LINE__)

/* The encoder writes runs of plain items (a short str that only its
 * container holds, an int of 32 bits) in one loop; the real containers
 * take the general way (their keys are held twice), so the two must
 * agree on every boundary of that loop. */
static void test_pickle_view_plain_runs_write_what_the_general_way_does(void)
{
    /* batches: one item, 999 to 1001, and a last batch of one */
    size_t sizes[] = { 1, 2, 999, 1000, 1001, 2001 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_dict_views(plain_dict(sizes[i], 8));
    /* keys of 255 bytes (SHORT_BINUNICODE) and 256 (BINUNICODE), 300 of
     * them: frames of 64 KiB end inside their entries */
    for (size_t len = 253; len <= 257; len++)
        check_dict_views(plain_dict(300, len));
    /* 9,000 short entries cross frames at every offset of an entry */
    check_dict_views(plain_dict(9000, 9));
    /* values met twice, a key that is also a value, a non-ASCII key,
     * a deleted entry, a bool and a float among the ints */
    md_val *d = plain_dict(1500, 10);
    md_val *twice = S("twice"), *key = S("a key and a value");
    md_pyerr e;
    md_pyerr_clear(&e);
    set_item(d, S("first"), md_incref(twice));
    set_item(d, md_incref(key), I(7));
    set_item(d, S("\xc3\xa9t\xc3\xa9"), md_incref(twice));
    set_item(d, S("then"), md_incref(key));
    set_item(d, S("yes"), md_incref(md_true()));
    set_item(d, S("half"), md_float_new(0.5));
    md_val *gone = S("0000500kkk");
    CU_ASSERT_EQUAL(md_dict_del(d, gone, &e), 1);
    md_decref(gone);
    md_decref(twice);
    md_decref(key);
    check_dict_views(d);
}

static void test_pickle_view_slices_of_a_list(void)
{
    md_val *shared = S("twice");
    md_val *l = md_list_new(0);
    for (int i = 0; i < 2500; i++)
        md_list_append_steal(l, i % 7 == 0 ? md_incref(shared) : I(i * 1000));
    CU_ASSERT_EQUAL(md_list_append(l, l), 0);
    md_decref(shared);
    size_t n = md_list_len(l);
    check_view(md_pickle_view_new(l, MD_PV_COPY));                 /* l[:], src inside */
    check_view(md_pickle_view_slice(l, 0, 1, n - 1));              /* l[:-1] */
    check_view(md_pickle_view_slice(l, 3, 3, (n - 1 - 3 + 2) / 3)); /* l[3:-1:3] */
    check_view(md_pickle_view_slice(l, (int64_t)n - 2, -2, 10));   /* l[-2::-2][:10] */
    check_view(md_pickle_view_slice(l, 5, 1, 1));                  /* one item: APPEND */
    check_view(md_pickle_view_slice(l, 5, 1, 0));                  /* empty */
    /* Positions past the end (the list changed): an error, not a read. */
    md_val *past = md_pickle_view_slice(l, 0, 1, n + 1);
    int rc;
    md_buf none = reply_bytes(md_incref(past), 4, &rc);
    CU_ASSERT_EQUAL(rc, MD_EINVAL);
    CU_ASSERT_PTR_NULL(md_pickle_view_materialize(past));
    md_buf_free(&none);
    md_decref(past);
    md_val *one = md_pickle_view_slice(l, 1, 1, 2);
    md_val *real = one ? md_pickle_view_materialize(one) : NULL;
    CU_ASSERT_TRUE(md_ts_repr_is(real, "[1000, 2000]"));
    md_decref(real);
    md_decref(one);
    md_decref(l);
    md_gc_collect();
}

/* A source inside its own items (or anywhere else in the value) would be
 * met while its view is written: the encoder starts again with the
 * container made real, and the bytes are the container's. */
static void test_pickle_view_of_a_source_inside_the_value(void)
{
    md_val *d = tricky_dict();
    set_item(d, S("me"), md_incref(d));
    for (size_t k = 0; k < 4; k++)
        check_view(md_pickle_view_new(d, dict_kinds[k]));
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *me = S("me");
    CU_ASSERT_EQUAL(md_dict_del(d, me, &e), 1); /* break the cycle */
    md_decref(me);
    for (int p = 2; p <= 5; p += 3) {
        /* (view, src): the source after its view */
        md_val *view = md_pickle_view_new(d, MD_PV_ITEMS);
        check_pair_at(view, d, p, __LINE__);
        md_decref(view);
    }
    md_decref(d);
    md_gc_collect();
}

/* One view twice in a value is one new container, met twice. */
static void test_pickle_view_met_twice_is_one_container(void)
{
    md_val *d = tricky_dict();
    for (size_t k = 0; k < 4; k++) {
        md_val *view = md_pickle_view_new(d, dict_kinds[k]);
        check_pair_at(view, NULL, 4, __LINE__);
        md_decref(view);
    }
    md_decref(d);
    md_gc_collect();
}

/* Every allocation of making, encoding and making real a view may fail:
 * each failure is a clean MD_ENOMEM (or NULL), and once nothing fails the
 * bytes are the container's. The self-containing dict takes the
 * encode-again path. */
static void test_pickle_view_survives_every_allocation_failure(void)
{
    md_val *d = tricky_dict();
    set_item(d, S("me"), md_incref(d));
    md_val *plain = tricky_dict();
    md_val *srcs[] = { plain, d };
    for (size_t s = 0; s < 2; s++) {
        for (size_t k = 0; k < 4; k++) {
            md_val *view = md_pickle_view_new(srcs[s], dict_kinds[k]);
            md_val *real = md_pickle_view_materialize(view);
            int rc;
            md_buf want = reply_bytes(real, 4, &rc);
            md_decref(view);
            bool done = false;
            for (long fail_at = 0; fail_at < 5000 && !done; fail_at++) {
                md_alloc_fail_after(fail_at);
                view = md_pickle_view_new(srcs[s], dict_kinds[k]);
                md_buf got = view ? reply_bytes(md_incref(view), 4, &rc) : (md_buf)MD_BUF_INIT;
                md_val *copy = view ? md_pickle_view_materialize(view) : NULL;
                md_alloc_fail_after(-1);
                if (view)
                    CU_ASSERT(rc == 0 || rc == MD_ENOMEM);
                done = view && copy && rc == 0;
                if (done)
                    CU_ASSERT_TRUE(same_bytes(&got, &want));
                md_buf_free(&got);
                md_decref(copy);
                md_decref(view);
            }
            CU_ASSERT_TRUE(done);
            md_buf_free(&want);
        }
    }
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *me = S("me");
    md_dict_del(d, me, &e);
    md_decref(me);
    md_decref(d);
    md_decref(plain);
    md_gc_collect();
}

/* ======================================================================
 * The dispatcher
 * ====================================================================== */

/* A peer that encodes each reply as it is delivered, as a connection
 * does; `at_once` says so to the dispatcher (then it may get views). */
typedef struct enc_peer {
    md_peer base;
    md_buf out;
    int kind, rc;
} enc_peer;

static void enc_deliver(md_peer *peer, int kind, md_val *payload)
{
    enc_peer *p = (enc_peer *)peer;
    md_codec_err err;
    memset(&err, 0, sizeof err);
    md_buf_free(&p->out);
    p->kind = kind;
    const md_codec_ops *codec = peer->protocol ? &md_codec_pickle : &md_codec_xmlrpc;
    p->rc = md_codec_encode_reply(codec, peer->protocol, md_out_kind_text(kind),
                                  MD_CODEC_RESULT, payload, &p->out, &err);
}

static const md_peer_ops at_once_ops = {.deliver = enc_deliver, .encodes_at_once = true};
static const md_peer_ops later_ops = {.deliver = enc_deliver};

/* method(args) on ident must reply the same bytes to both peers; args
 * stolen (NULL: none). */
static void same_reply_at(md_th *th, enc_peer *now, enc_peer *later, const char *ident,
                          const char *method, md_val *args, int line)
{
    md_th_call(th, &now->base, ident, method, args, NULL);
    md_th_call(th, &later->base, ident, method, args, NULL);
    md_decref(args);
    CHECK_AT(now->kind == MD_OUT_RETURN && later->kind == MD_OUT_RETURN, line);
    /* XML-RPC cannot carry some of tricky_dict(): then both fail alike. */
    CHECK_AT(now->rc == later->rc && (now->rc == 0 || now->base.protocol == 0), line);
    CHECK_AT(now->rc != 0 || same_bytes(&now->out, &later->out), line);
}
#define same_reply(th, a, b, id, m, args) same_reply_at(th, a, b, id, m, args, __LINE__)

static void test_pickle_view_replies_equal_copies_through_the_dispatcher(void)
{
    md_th *th = md_th_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    char did[32], lid[32];
    md_th_create_ok(th, "dict", T(1, tricky_dict()), NULL, did, __FILE__, __LINE__);
    md_val *shared = S("s");
    md_th_create_ok(th, "list", T(1, L(5, I(1), md_incref(shared), S("x"), md_incref(shared),
                                        L(0))),
                    NULL, lid, __FILE__, __LINE__);
    md_decref(shared);
    static const char *const dict_calls[] = {"copy", "items", "keys", "values"};
    for (int protocol = 0; protocol <= 5; protocol++) {
        if (protocol == 1)
            continue;
        enc_peer now = {0}, later = {0};
        md_peer_init(&now.base, &at_once_ops, md_th_server(th));
        md_peer_init(&later.base, &later_ops, md_th_server(th));
        now.base.protocol = later.base.protocol = protocol;
        for (size_t i = 0; i < 4; i++)
            same_reply(th, &now, &later, did, dict_calls[i], NULL);
        same_reply(th, &now, &later, lid, "copy", NULL);
        same_reply(th, &now, &later, lid, "__getitem__", T(1, md_slice_new(NONE, NONE, NONE)));
        same_reply(th, &now, &later, lid, "__getitem__", T(1, md_slice_new(I(4), I(0), I(-2))) /* small ints: no reference */);
        same_reply(th, &now, &later, lid, "__getslice__", T(2, I(1), I(3)));
        md_buf_free(&now.out);
        md_buf_free(&later.out);
        md_peer_close(&now.base);
        md_peer_close(&later.base);
    }
    md_th_free(th);
    md_gc_collect();
}

/* A peer that keeps the payload (this recording peer) gets the real
 * container: a change made after the reply does not reach it. */
static void test_pickle_view_kept_replies_are_real_containers(void)
{
    md_th *th = md_th_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    char did[32], lid[32];
    md_th_create_ok(th, "dict", T(1, D(1, S("a"), I(1))), NULL, did, __FILE__, __LINE__);
    md_th_create_ok(th, "list", T(1, L(2, I(1), I(2))), NULL, lid, __FILE__, __LINE__);
    md_peer *peer = md_th_peer(th, 4);
    const struct {
        const char *ident, *method, *expect;
    } calls[] = {
        {did, "copy", "{'a': 1}"}, {did, "items", "[('a', 1)]"}, {did, "keys", "['a']"},
        {did, "values", "[1]"}, {lid, "copy", "[1, 2]"}, {lid, "__getslice__", "[2]"},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        md_val *args = strcmp(calls[i].method, "__getslice__") == 0 ? T(2, I(1), I(5)) : NULL;
        md_val *got = NULL;
        int kind = md_th_call_take(th, peer, calls[i].ident, calls[i].method, args, NULL, &got);
        md_decref(args);
        CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
        CU_ASSERT_FALSE(got && md_pickle_is_view(got));
        md_val *none = NULL;
        md_val *kv = T(2, S("a"), I(2));
        md_th_call_take(th, peer, did, "__setitem__", kv, NULL, &none);
        md_decref(kv);
        md_decref(none);
        md_val *one = T(1, I(3));
        md_th_call_take(th, peer, lid, "append", one, NULL, &none);
        md_decref(none);
        md_decref(one);
        md_th_call_take(th, peer, lid, "pop", NULL, NULL, &none);
        md_decref(none);
        CU_ASSERT_TRUE(md_ts_repr_is(got, calls[i].expect));
        md_decref(got);
        kv = T(2, S("a"), I(1));
        md_th_call_take(th, peer, did, "__setitem__", kv, NULL, &none);
        md_decref(kv);
        md_decref(none);
    }
    md_th_free(th);
    md_gc_collect();
}

/* Every allocation of a view reply may fail, on both paths: made real
 * for a peer that keeps replies, written as a view for one that encodes
 * at once. Each run gets one reply: the container (the bytes of it), or
 * MemoryError; once nothing fails, the right one. */
static void test_pickle_view_replies_survive_every_allocation_failure(void)
{
    md_th *th = md_th_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    char did[32];
    md_th_create_ok(th, "dict", T(1, D(2, S("a"), L(1, I(1)), I(2), S("b"))), NULL, did,
                    __FILE__, __LINE__);
    static const char *const methods[] = {"copy", "items", "keys", "values"};
    static const char *const expect[] = {"{'a': [1], 2: 'b'}", "[('a', [1]), (2, 'b')]",
                                         "['a', 2]", "[[1], 'b']"};
    for (size_t m = 0; m < 4; m++) {
        md_val *req = T(4, S(did), S(methods[m]), T(0), md_dict_new());
        md_th_rec_peer kept;
        md_th_rec_peer_init(&kept, md_th_server(th));
        enc_peer now = {0};
        md_peer_init(&now.base, &at_once_ops, md_th_server(th));
        bool done_kept = false, done_now = false;
        for (long n = 0; n < 5000 && !(done_kept && done_now); n++) {
            kept.nreplies = 0;
            kept.payload = NULL;
            kept.base.protocol = now.base.protocol = 4;
            now.kind = MD_OUT_NONE;
            unsigned long before = md_alloc_failures();
            md_alloc_fail_after(n);
            md_disp_request(md_th_server(th), &kept.base, req, true);
            md_disp_request(md_th_server(th), &now.base, req, true);
            md_alloc_fail_after(-1);
            bool clean = md_alloc_failures() == before;
            CU_ASSERT_EQUAL(kept.nreplies, 1);
            CU_ASSERT(kept.kind == MD_OUT_RETURN || kept.kind == MD_OUT_ERROR ||
                      kept.kind == MD_OUT_TRACEBACK);
            if (kept.kind == MD_OUT_RETURN) {
                CU_ASSERT_FALSE(md_pickle_is_view(kept.payload));
                CU_ASSERT_TRUE(md_ts_repr_is(kept.payload, expect[m]));
                done_kept = true;
            }
            CU_ASSERT(now.kind == MD_OUT_RETURN || now.kind == MD_OUT_ERROR ||
                      now.kind == MD_OUT_TRACEBACK);
            if (now.kind == MD_OUT_RETURN && now.rc == 0) {
                md_val *back = md_ts_dec_ok(&md_codec_pickle, now.out.data, now.out.len, NULL);
                CU_ASSERT_TRUE(back && md_ts_repr_is(md_tuple_get(back, 1), expect[m]));
                md_decref(back);
                done_now = true;
            }
            CU_ASSERT(!clean || (done_kept && done_now));
            md_decref(kept.payload);
        }
        CU_ASSERT_TRUE(done_kept && done_now);
        md_buf_free(&now.out);
        md_peer_close(&kept.base);
        md_peer_close(&now.base);
        md_decref(req);
    }
    md_th_free(th);
    md_gc_collect();
}

void md_test_register_pickle_view(void)
{
    CU_pSuite s = md_test_suite("pickle_view");
    MD_ADD_TEST(s, test_pickle_view_of_a_dict_encodes_as_its_copy_and_lists);
    MD_ADD_TEST(s, test_pickle_view_of_an_empty_and_a_one_item_dict);
    MD_ADD_TEST(s, test_pickle_view_of_a_big_dict_crosses_batches_and_frames);
    MD_ADD_TEST(s, test_pickle_view_plain_runs_write_what_the_general_way_does);
    MD_ADD_TEST(s, test_pickle_view_slices_of_a_list);
    MD_ADD_TEST(s, test_pickle_view_of_a_source_inside_the_value);
    MD_ADD_TEST(s, test_pickle_view_met_twice_is_one_container);
    MD_ADD_TEST(s, test_pickle_view_survives_every_allocation_failure);
    MD_ADD_TEST(s, test_pickle_view_replies_equal_copies_through_the_dispatcher);
    MD_ADD_TEST(s, test_pickle_view_kept_replies_are_real_containers);
    MD_ADD_TEST(s, test_pickle_view_replies_survive_every_allocation_failure);
}
