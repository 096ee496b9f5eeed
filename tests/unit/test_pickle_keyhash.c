/* test_pickle_keyhash.c - the pickle decoder's kept key hashes
 * (serializers/pickle_dec.c keyhash, core/value/value_table.c
 * md_dict_set_pairs_steal_hashed): small dicts whose keys the memo
 * brings back (BINGET) are built from one hash per key object, and come
 * out as dicts built key by key do: same repr, lookups found, each
 * entry's kept hash the one md_val__hash_key gives. A memoized tuple
 * key still works, a memoized unhashable key still fails, and out of
 * memory at any allocation fails the message cleanly; the table call
 * takes given hashes and writes the others back, stopping at an
 * unhashable key as md_dict_set_pairs_steal does. White-box: reads
 * the tables through value_impl.h. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/value/value_impl.h"
#include "serializers/pickle.h"
#include "tests/unit/support.h"

/* Dicts in the message: more than the decoder's cache has slots. */
#define KH_DICTS 300

static void put_u32(md_buf *b, uint32_t u)
{
    uint8_t le[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
    md_buf_append(b, le, 4);
}

static void op_str(md_buf *b, const char *s)
{
    md_buf_putc(b, 'X');
    put_u32(b, (uint32_t)strlen(s));
    md_buf_append(b, s, strlen(s));
}

static void op_int(md_buf *b, int32_t i)
{
    md_buf_putc(b, 'J');
    put_u32(b, (uint32_t)i);
}

static void op_binput(md_buf *b, uint8_t idx)
{
    md_buf_putc(b, 'q');
    md_buf_putc(b, (char)idx);
}

static void op_binget(md_buf *b, uint8_t idx)
{
    md_buf_putc(b, 'h');
    md_buf_putc(b, (char)idx);
}

/* [{'v': i, b'bk': 2i, i: None, 's<i>': i, 'w': -i}, ...] at protocol
 * 3: 'v' (memo 1), b'bk' (2) and 'w' (3) pickled once and then fetched
 * by BINGET ('w' by LONG_BINGET); the 's<i>' keys are not memoized.
 * Half way, memo 1 is stored again with a new 'v' object (the old one
 * then held by the dicts only); dict 7 gets 'v' twice (the second
 * value kept). */
static void pickle_shared_keys(md_buf *b)
{
    md_buf_append(b, "\x80\x03]q\x00(", 6);
    for (int32_t i = 0; i < KH_DICTS; i++) {
        md_buf_append(b, "}(", 2);
        if (i == 0 || i == KH_DICTS / 2) {
            op_str(b, "v");
            op_binput(b, 1);
        } else {
            op_binget(b, 1);
        }
        op_int(b, i);
        if (i == 0) {
            md_buf_append(b, "C\x02" "bk", 4);
            op_binput(b, 2);
        } else {
            op_binget(b, 2);
        }
        op_int(b, 2 * i);
        op_int(b, i);
        md_buf_putc(b, 'N');
        char s[16];
        snprintf(s, sizeof s, "s%d", (int)i);
        op_str(b, s);
        op_int(b, i);
        if (i == 0) {
            op_str(b, "w");
            op_binput(b, 3);
        } else {
            md_buf_putc(b, 'j');
            put_u32(b, 3);
        }
        op_int(b, -i);
        if (i == 7) {
            op_binget(b, 1);
            op_int(b, 777);
        }
        md_buf_putc(b, 'u');
    }
    md_buf_append(b, "e.", 2);
}

static void set_steal(md_val *d, md_val *k, md_val *v)
{
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_set(d, k, v, &e), 0);
    md_decref(k);
    md_decref(v);
}

/* What pickle_shared_keys decodes to, built key by key from fresh
 * objects. */
static md_val *eager_shared_keys(void)
{
    md_val *l = md_list_new(KH_DICTS);
    for (int32_t i = 0; i < KH_DICTS; i++) {
        md_val *d = md_dict_new();
        set_steal(d, md_str_new("v", 1), md_int_from_i64(i == 7 ? 777 : i));
        set_steal(d, md_bytes_new("bk", 2), md_int_from_i64(2 * i));
        set_steal(d, md_int_from_i64(i), md_none());
        char s[16];
        snprintf(s, sizeof s, "s%d", (int)i);
        set_steal(d, md_str_new(s, strlen(s)), md_int_from_i64(i));
        set_steal(d, md_str_new("w", 1), md_int_from_i64(-i));
        CU_ASSERT_EQUAL(md_list_append_steal(l, d), 0);
    }
    return l;
}

static void repr_of(const md_val *v, md_buf *out)
{
    md_pyerr e;
    CU_ASSERT_EQUAL(md_val_repr(v, out, &e), 0);
    CU_ASSERT(!md_buf_failed(out));
}

/* Every entry of dict d keeps the hash md_val__hash_key gives its key. */
static void check_kept_hashes(const md_val *d)
{
    const md_table *t = &((const md_tableobj *)d)->t;
    const uint32_t *kept = (const uint32_t *)(t->entries + 2 * t->ecap);
    for (size_t i = 0; i < t->nentries; i++) {
        md_val *key = t->entries[2 * i];
        if (!key)
            continue;
        int64_t h;
        md_pyerr e;
        CU_ASSERT_EQUAL_FATAL(md_val__hash_key(key, &h, &e), 0);
        CU_ASSERT_EQUAL(kept[i], (uint32_t)h);
    }
}

/* The int x holds (INT64_MIN when x is no int that fits). */
static int64_t int_of(const md_val *x)
{
    int64_t i;
    return x && md_int_to_i64(x, &i) == 0 ? i : INT64_MIN;
}

static md_val *first_key(const md_val *d)
{
    return ((const md_tableobj *)d)->t.entries[0];
}

static void check_shared_keys(md_val *got)
{
    md_val *want = eager_shared_keys();
    md_buf a = MD_BUF_INIT, b = MD_BUF_INIT;
    repr_of(got, &a);
    repr_of(want, &b);
    CU_ASSERT(a.len > 0 && a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    md_pyerr e;
    CU_ASSERT_EQUAL(md_val_eq(got, want, &e), 1);
    md_val *v = md_str_new("v", 1), *bk = md_bytes_new("bk", 2), *w = md_str_new("w", 1);
    for (size_t i = 0; i < KH_DICTS; i++) {
        md_val *d = md_list_get(got, i);
        CU_ASSERT_EQUAL(md_dict_len(d), 5);
        check_kept_hashes(d);
        md_val *x = md_dict_get(d, v, &e);
        CU_ASSERT(int_of(x) == (i == 7 ? 777 : (int64_t)i));
        x = md_dict_get(d, bk, &e);
        CU_ASSERT(int_of(x) == 2 * (int64_t)i);
        x = md_dict_get(d, w, &e);
        CU_ASSERT(int_of(x) == -(int64_t)i);
    }
    /* the memo path was taken: one 'v' object per BINPUT of it */
    md_val *d0 = md_list_get(got, 0), *d1 = md_list_get(got, KH_DICTS - 1);
    CU_ASSERT(first_key(d0) == first_key(md_list_get(got, KH_DICTS / 2 - 1)));
    CU_ASSERT(first_key(d1) == first_key(md_list_get(got, KH_DICTS / 2)));
    CU_ASSERT(first_key(d0) != first_key(d1));
    md_decref(v);
    md_decref(bk);
    md_decref(w);
    md_buf_free(&a);
    md_buf_free(&b);
    md_decref(want);
}

static void test_keyhash_shared_keys_build_eager_dicts(void)
{
    md_buf b = MD_BUF_INIT;
    pickle_shared_keys(&b);
    CU_ASSERT_FATAL(!md_buf_failed(&b));
    md_val *got = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &got, NULL, &err), 0);
    CU_ASSERT_EQUAL(md_list_len(got), KH_DICTS);
    check_shared_keys(got);
    md_decref(got);
    md_buf_free(&b);
}

/* {t: i} dicts whose key t = ('a', 1) is memoized (memo 1): not kept,
 * looked up as before. */
static void test_keyhash_memoized_tuple_key(void)
{
    md_buf b = MD_BUF_INIT;
    md_buf_append(&b, "\x80\x03](", 4);
    for (int32_t i = 0; i < 50; i++) {
        md_buf_putc(&b, '}');
        if (i == 0) {
            op_str(&b, "a");
            op_int(&b, 1);
            md_buf_putc(&b, '\x86');
            op_binput(&b, 1);
        } else {
            op_binget(&b, 1);
        }
        op_int(&b, i);
        md_buf_putc(&b, 's');
    }
    md_buf_append(&b, "e.", 2);
    md_val *got = NULL;
    CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &got, NULL, NULL), 0);
    md_val *t = md_tuple_new(2);
    md_tuple_set_steal(t, 0, md_str_new("a", 1));
    md_tuple_set_steal(t, 1, md_int_from_i64(1));
    md_pyerr e;
    for (size_t i = 0; i < 50; i++) {
        md_val *d = md_list_get(got, i);
        check_kept_hashes(d);
        md_val *x = md_dict_get(d, t, &e);
        CU_ASSERT(int_of(x) == (int64_t)i);
    }
    md_decref(t);
    md_decref(got);
    md_buf_free(&b);
}

/* A memoized unhashable key (a list, a tuple holding a list) fails the
 * message with Python's TypeError, whether it comes first in its dict
 * or after a key whose hash is kept. */
static void test_keyhash_memoized_unhashable_key_fails(void)
{
    static const struct {
        const char *ops;
        size_t len;
    } holders[] = { { "]", 1 }, { "X\x01\x00\x00\x00" "a]\x86", 8 } };
    for (size_t h = 0; h < 2; h++) {
        for (int after_kept = 0; after_kept < 2; after_kept++) {
            md_buf b = MD_BUF_INIT;
            md_buf_append(&b, "\x80\x03](", 4);
            md_buf_append(&b, holders[h].ops, holders[h].len);
            op_binput(&b, 1);
            md_buf_putc(&b, '0');   /* POP: the key is in the memo only */
            for (int32_t i = 0; i < 3; i++) {
                md_buf_append(&b, "}(", 2);
                if (i == 0) {
                    op_str(&b, "v");
                    op_binput(&b, 2);
                } else {
                    op_binget(&b, 2);
                }
                op_int(&b, i);
                if (i == 2) {
                    if (!after_kept)   /* the bad key first: 'v' after it */
                        md_buf_append(&b, "u}(", 3);
                    op_binget(&b, 1);
                    op_int(&b, i);
                }
                md_buf_putc(&b, 'u');
            }
            md_buf_append(&b, "e.", 2);
            md_val *got = NULL;
            md_pickle_err err;
            int rc = md_pickle_decode(b.data, b.len, NULL, &got, NULL, &err);
            CU_ASSERT_EQUAL(rc, MD_EPROTO);
            CU_ASSERT(got == NULL);
            CU_ASSERT(rc != 0 && strstr(err.msg, "TypeError: unhashable type: 'list'") != NULL);
            md_buf_free(&b);
        }
    }
}

/* Out of memory at each allocation of a message of shared keys: a clean
 * failure each time, then the same dicts. */
static void test_keyhash_out_of_memory_at_every_allocation(void)
{
    md_buf b = MD_BUF_INIT;
    pickle_shared_keys(&b);
    CU_ASSERT_FATAL(!md_buf_failed(&b));
    CU_ASSERT(md_ts_decode_at_every_failure(&b, check_shared_keys) > 0);
    md_buf_free(&b);
}

static uint32_t hash32(md_val *k)
{
    int64_t h = 0;
    md_pyerr e;
    CU_ASSERT_EQUAL(md_val__hash_key(k, &h, &e), 0);
    return (uint32_t)h;
}

/* md_dict_set_pairs_steal_hashed itself: a given hash is used as it is,
 * the others written back up to an unhashable key, where the call stops
 * with the pairs before it stored (and the caller keeping the rest). */
static void test_keyhash_set_pairs_hashed_writes_back_and_stops(void)
{
    md_val *items[8] = {
        md_str_new("a", 1), md_int_from_i64(0), md_str_new("b", 1), md_int_from_i64(1),
        md_list_new(0),     md_int_from_i64(2), md_str_new("c", 1), md_int_from_i64(3),
    };
    const uint32_t sentinel = 0xdeadbeefu;
    uint32_t hashes[4] = { sentinel, hash32(items[2]), sentinel, sentinel };
    md_val *d = md_dict_new();
    md_pyerr e;
    e.type = NULL;
    size_t taken = 99;
    int rc = md_dict_set_pairs_steal_hashed(d, items, 4, 1, hashes, 2, &e, &taken);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(taken, 2);
    CU_ASSERT(e.type && strcmp(e.type, "TypeError") == 0);
    CU_ASSERT_EQUAL(hashes[0], hash32(items[0]));
    CU_ASSERT_EQUAL(hashes[2], sentinel);
    CU_ASSERT_EQUAL(hashes[3], sentinel);
    CU_ASSERT_EQUAL(md_dict_len(d), 2);
    check_kept_hashes(d);
    md_val *b = md_str_new("b", 1);
    CU_ASSERT_EQUAL(int_of(md_dict_get(d, b, &e)), 1);
    for (size_t i = 4; i < 8; i++)
        md_decref(items[i]);
    md_decref(b);
    md_decref(d);
}

/* md_dict_set_first_steal_hashed, the decoder's SETITEM of a kept key
 * into a dict never filled, builds the very table
 * md_dict_set_pairs_steal_hashed builds (index, entries, kept hash,
 * joined block), puts a dict holding a container on the collector's
 * lists, declines a dict that has a block (nothing changed), and out of
 * memory leaves the dict as it was. */
static void test_keyhash_set_first_builds_the_small_table(void)
{
    md_val *key = md_str_new("v", 1);
    uint32_t h = hash32(key);
    md_val *ref = md_dict_new(), *d = md_dict_new();
    md_val *items[2] = { md_incref(key), md_int_from_i64(5) };
    md_pyerr e;
    e.type = NULL;
    size_t taken = 0;
    uint32_t given = h;
    CU_ASSERT_EQUAL(md_dict_set_pairs_steal_hashed(ref, items, 1, 1, &given, 1, &e, &taken), 0);
    /* out of memory first: nothing changes, the references stay ours */
    md_val *val = md_int_from_i64(5);
    md_alloc_fail_after(0);
    CU_ASSERT_EQUAL(md_dict_set_first_steal_hashed(d, key, val, h), -1);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(md_dict_len(d), 0);
    CU_ASSERT_EQUAL(md_dict_set_first_steal_hashed(d, md_incref(key), val, h), 0);
    const md_table *a = &((const md_tableobj *)ref)->t, *b = &((const md_tableobj *)d)->t;
    CU_ASSERT(a->log2size == b->log2size && a->ecap == b->ecap && a->joined == b->joined &&
              a->nentries == b->nentries && a->used == b->used && b->used == 1);
    CU_ASSERT_EQUAL(memcmp(a->index, b->index, (size_t)1 << a->log2size), 0);
    CU_ASSERT(b->entries[0] == key && b->entries[1] == val);
    check_kept_hashes(d);
    CU_ASSERT_EQUAL(int_of(md_dict_get(d, key, &e)), 5);
    CU_ASSERT_TRUE(md_ts_val_eq(d, ref));
    /* a dict with a block declines, changing nothing */
    md_val *x = md_str_new("x", 1), *one = md_int_from_i64(1);
    CU_ASSERT_EQUAL(md_dict_set_first_steal_hashed(d, x, one, hash32(x)), 1);
    CU_ASSERT_EQUAL(md_dict_len(d), 1);
    CU_ASSERT_PTR_NULL(md_dict_get(d, x, &e));
    md_decref(x);
    md_decref(one);
    /* a container value tracks the dict, an atom does not */
    CU_ASSERT_FALSE(md_val__gc_tracked(d));
    md_val *dl = md_dict_new();
    CU_ASSERT_FALSE(md_val__gc_tracked(dl));
    CU_ASSERT_EQUAL(md_dict_set_first_steal_hashed(dl, md_incref(key), md_list_new(0), h), 0);
    CU_ASSERT_TRUE(md_val__gc_tracked(dl));
    md_decref(dl);
    md_decref(d);
    md_decref(ref);
    md_decref(key);
}

/* Small dicts as a client pickles {'v': i} (EMPTY_DICT, the memoized
 * key, the value, SETITEM), which the table builds at their final size
 * (value_table.c small_pairs), then small dicts of up to 4 pairs with a
 * repeated memoized key and with keys that compare equal across types
 * (1, 1.0, True): [{'v': 0}, ..., {'v': KH_DICTS - 1}, {'v': 2}, {1: 30},
 * {'v': 3, 'x': 2, 'y': 4}], where the keys are stored twice. */
static void pickle_small_dicts(md_buf *b)
{
    md_buf_append(b, "\x80\x04]q\x00(", 6);
    for (int32_t i = 0; i < KH_DICTS; i++) {
        md_buf_putc(b, '}');
        if (i == 0) {
            op_str(b, "v");
            op_binput(b, 1);
        } else {
            op_binget(b, 1);
        }
        op_int(b, i);
        md_buf_putc(b, 's');
    }
    /* {'v': 1, 'v': 2}: one object twice */
    md_buf_append(b, "}(", 2);
    op_binget(b, 1);
    op_int(b, 1);
    op_binget(b, 1);
    op_int(b, 2);
    md_buf_putc(b, 'u');
    /* {1: 10, 1.0: 20, True: 30} */
    md_buf_append(b, "}(", 2);
    op_int(b, 1);
    op_int(b, 10);
    md_buf_append(b, "G\x3f\xf0\x00\x00\x00\x00\x00\x00", 9);
    op_int(b, 20);
    md_buf_putc(b, '\x88');
    op_int(b, 30);
    md_buf_putc(b, 'u');
    /* {'v': 1, 'x': 2, 'v': 3, 'y': 4} */
    md_buf_append(b, "}(", 2);
    op_binget(b, 1);
    op_int(b, 1);
    op_str(b, "x");
    op_int(b, 2);
    op_binget(b, 1);
    op_int(b, 3);
    op_str(b, "y");
    op_int(b, 4);
    md_buf_putc(b, 'u');
    md_buf_append(b, "e.", 2);
}

static void check_small_dicts(md_val *got)
{
    CU_ASSERT_EQUAL_FATAL(md_list_len(got), KH_DICTS + 3);
    md_val *v = md_str_new("v", 1);
    md_pyerr e;
    md_val *memo_v = first_key(md_list_get(got, 0));
    size_t bad = 0;
    for (size_t i = 0; i < KH_DICTS; i++) {
        md_val *d = md_list_get(got, i);
        bad += md_dict_len(d) != 1 || int_of(md_dict_get(d, v, &e)) != (int64_t)i ||
               first_key(d) != memo_v;   /* the memo's object, hashed once */
        check_kept_hashes(d);
    }
    CU_ASSERT_EQUAL(bad, 0);
    md_buf out = MD_BUF_INIT;
    repr_of(md_list_get(got, 0), &out);
    CU_ASSERT(out.len == 8 && memcmp(out.data, "{'v': 0}", 8) == 0);
    static const char *const want[3] = { "{'v': 2}", "{1: 30}", "{'v': 3, 'x': 2, 'y': 4}" };
    for (size_t i = 0; i < 3; i++) {
        md_val *d = md_list_get(got, KH_DICTS + i);
        check_kept_hashes(d);
        out.len = 0;
        repr_of(d, &out);
        CU_ASSERT(out.len == strlen(want[i]) && memcmp(out.data, want[i], out.len) == 0);
    }
    md_val *one_f = md_float_new(1.0);
    CU_ASSERT_EQUAL(int_of(md_dict_get(md_list_get(got, KH_DICTS + 1), one_f, &e)), 30);
    CU_ASSERT_EQUAL(md_typeof(first_key(md_list_get(got, KH_DICTS + 1))), MD_T_INT);
    md_decref(one_f);
    md_buf_free(&out);
    md_decref(v);
}

/* Decoded, then again with each allocation refused in turn
 * (md_ts_decode_at_every_failure). */
static void test_keyhash_small_dicts_built_directly(void)
{
    md_buf b = MD_BUF_INIT;
    pickle_small_dicts(&b);
    CU_ASSERT_FATAL(!md_buf_failed(&b));
    md_val *got = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &got, NULL, &err), 0);
    check_small_dicts(got);
    md_decref(got);
    /* each dict's object and its one block (index joined to the
     * entries) refused in turn */
    CU_ASSERT(md_ts_decode_at_every_failure(&b, check_small_dicts) >= 2 * KH_DICTS);
    md_buf_free(&b);
}

void md_test_register_pickle_keyhash(void)
{
    CU_pSuite s = md_test_suite("pickle_keyhash");
    MD_ADD_TEST(s, test_keyhash_shared_keys_build_eager_dicts);
    MD_ADD_TEST(s, test_keyhash_memoized_tuple_key);
    MD_ADD_TEST(s, test_keyhash_memoized_unhashable_key_fails);
    MD_ADD_TEST(s, test_keyhash_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_keyhash_set_pairs_hashed_writes_back_and_stops);
    MD_ADD_TEST(s, test_keyhash_small_dicts_built_directly);
    MD_ADD_TEST(s, test_keyhash_set_first_builds_the_small_table);
}
