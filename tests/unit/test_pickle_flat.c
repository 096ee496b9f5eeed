/* test_pickle_flat.c - the pickle decoder's loop for runs of str, int
 * and MEMOIZE (serializers/pickle_dec.c load_flat): what a protocol 4
 * client sends for a dict of str -> int, a list of str or of ints. Each
 * message is checked item by item against what it encodes, across the
 * stack's growth, the memo's array and chunk boundaries, every width
 * boundary of BININT1, BININT2, BININT and LONG1, str lengths 0 to 17
 * and a non-ASCII or invalid byte at each position of them; each
 * failure in the middle of a run has its own code, message and the
 * offset of its own opcode, and out of memory at any allocation fails
 * the message cleanly. The loop also reads records (EMPTY_DICT, BINGET,
 * SETITEM, TUPLE2, BINFLOAT, NONE, NEWTRUE, NEWFALSE): messages of them, cut at every byte, with a bad or
 * other opcode at every byte, under every small limit and out of memory
 * at every allocation, decode exactly as they do with the loop turned
 * off (md_pickle__set_runs), each opcode through its own handler. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"
#include "serializers/pickle.h"
#include "serializers/pickle_int.h"
#include "tests/unit/support.h"

/* Pairs in the big messages: past the memo's 2048-entry array into its
 * chunks, and past the stack's inline slots many times over. */
#define FLAT_PAIRS 5000

static void put_le(md_buf *b, uint64_t u, int width)
{
    for (int i = 0; i < width; i++)
        md_buf_putc(b, (char)((u >> (8 * i)) & 0xff));
}

/* A str as SHORT_BINUNICODE, or BINUNICODE when wide. */
static void put_str(md_buf *b, const char *s, size_t n, bool wide)
{
    md_buf_putc(b, wide ? 'X' : (char)0x8c);
    put_le(b, n, wide ? 4 : 1);
    md_buf_append(b, s, n);
}

/* An int as CPython's pickler writes it at protocol 2 and up: BININT1,
 * BININT2, BININT, else LONG1 with the fewest two's complement bytes. */
static void put_int(md_buf *b, int64_t x)
{
    if (x >= 0 && x <= 0xff) {
        md_buf_putc(b, 'K');
        put_le(b, (uint64_t)x, 1);
    } else if (x >= 0 && x <= 0xffff) {
        md_buf_putc(b, 'M');
        put_le(b, (uint64_t)x, 2);
    } else if (x >= INT32_MIN && x <= INT32_MAX) {
        md_buf_putc(b, 'J');
        put_le(b, (uint64_t)x, 4);
    } else {
        int n = 1;
        while (n < 8 && !(x >= -(INT64_C(1) << (8 * n - 1)) && x < (INT64_C(1) << (8 * n - 1))))
            n++;
        md_buf_putc(b, (char)0x8a);
        md_buf_putc(b, (char)n);
        put_le(b, (uint64_t)x, n);
    }
}

/* The ints of the runs: every width boundary and its neighbours, both
 * signs, then a spread of values. */
static int64_t flat_int(size_t i)
{
    static const int64_t edges[] = {
        0, 1, 254, 255, 256, 257, 65534, 65535, 65536, 65537, -1, -2, -255, -256, -257,
        -65536, -65537, INT32_MAX - 1, INT32_MAX, (int64_t)INT32_MAX + 1, INT32_MIN,
        INT32_MIN + 1, (int64_t)INT32_MIN - 1, INT64_C(1) << 39, -(INT64_C(1) << 39),
        (INT64_C(1) << 39) - 1, INT64_MAX, INT64_MIN,
    };
    size_t ne = sizeof edges / sizeof edges[0];
    return i < ne ? edges[i] : (int64_t)(int32_t)(uint32_t)(i * 2654435761u);
}

/* The key of pair i: lengths 0 to 17 in turn, 'k' then the index in
 * digits, padded with letters; one in seven carries é somewhere along
 * it (2 bytes, at each position in turn). n: its length in bytes. */
static void flat_key(size_t i, char *out, size_t *n)
{
    size_t len = i % 18;
    char digits[24];
    int nd = snprintf(digits, sizeof digits, "%zu", i);
    for (size_t j = 0; j < len; j++)
        out[j] = j == 0 ? 'k' : j - 1 < (size_t)nd ? digits[j - 1] : (char)('a' + j);
    if (i % 7 == 3 && len >= 2) {
        size_t at = (i / 7) % (len - 1);
        memcpy(out + at, "\xc3\xa9", 2);
    }
    *n = len;
}

/* A d.update chunk as a 3.8+ client pickles it, without the call
 * around it: EMPTY_DICT MEMOIZE MARK (key MEMOIZE int)* SETITEMS in
 * batches of 1000, every 5th key as BINUNICODE (keys of the same text
 * collapse, the last value kept). memo_off (may be NULL): where each
 * key's MEMOIZE is. marked: a MARK before the dict and no STOP, for
 * the caller to put more after it. */
static void flat_dict(md_buf *b, size_t npairs, size_t *memo_off, bool marked)
{
    md_buf_puts(b, marked ? "\x80\x04(}\x94" : "\x80\x04}\x94");
    for (size_t i = 0; i < npairs; i++) {
        if (i % 1000 == 0)
            md_buf_putc(b, '(');
        char key[24];
        size_t n;
        flat_key(i, key, &n);
        put_str(b, key, n, i % 5 == 4);
        if (memo_off)
            memo_off[i] = b->len;
        md_buf_putc(b, (char)0x94);
        put_int(b, flat_int(i));
        if (i % 1000 == 999 || i + 1 == npairs)
            md_buf_putc(b, 'u');
    }
    if (!marked)
        md_buf_putc(b, '.');
}

/* Whether d holds what flat_dict(npairs) wrote: equal to the dict made
 * by md_dict_set of each pair in turn (the value model's own path). */
static bool flat_dict_matches(const md_val *d, size_t npairs)
{
    md_val *want = md_dict_new();
    md_pyerr e;
    e.type = NULL;
    bool ok = want != NULL;
    for (size_t i = 0; ok && i < npairs; i++) {
        char key[24];
        size_t n;
        flat_key(i, key, &n);
        md_val *k = md_str_new(key, n), *v = md_int_from_i64(flat_int(i));
        ok = k && v && md_dict_set(want, k, v, &e) == 0;
        md_decref(k);
        md_decref(v);
    }
    ok = ok && md_typeof(d) == MD_T_DICT && md_dict_len(d) == md_dict_len(want) &&
         md_ts_val_eq(d, want);
    md_decref(want);
    return ok;
}

/* Dicts of str -> int at every size around the stack's inline slots
 * and the memo's array and chunks decode to the same pairs, and the
 * memo holds every key under its MEMOIZE index (BINGET after the run,
 * in a tuple with the dict, gives the same object as the dict's key). */
static void test_pickle_flat_dict_chunks_decode_pair_by_pair(void)
{
    static const size_t sizes[] = { 0, 1, 2, 15, 16, 17, 31, 32, 33, 1023, 1024, 2046,
                                    2047, 2048, 2049, FLAT_PAIRS };
    md_buf b = MD_BUF_INIT;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        md_buf_reset(&b);
        flat_dict(&b, sizes[k], NULL, false);
        md_val *v = NULL;
        CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &v, NULL, NULL), 0);
        CU_ASSERT_TRUE(flat_dict_matches(v, sizes[k]));
        md_decref(v);
    }
    /* ({...}, memo[1], memo[2048], memo[2049], memo[n]): keys 0, 2047,
     * 2048 and the last, fetched back by LONG_BINGET */
    md_buf_reset(&b);
    flat_dict(&b, FLAT_PAIRS, NULL, true);
    static const uint32_t idx[] = { 1, 2048, 2049, FLAT_PAIRS };
    for (size_t i = 0; i < 4; i++) {
        md_buf_putc(&b, 'j');
        put_le(&b, idx[i], 4);
    }
    md_buf_puts(&b, "t.");
    md_val *t = NULL;
    CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &t, NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(md_tuple_len(t), 5);
    for (size_t i = 0; i < 4; i++) {
        char key[24];
        size_t n;
        flat_key(idx[i] - 1, key, &n);
        const md_val *got = md_tuple_get(t, i + 1);
        CU_ASSERT(md_typeof(got) == MD_T_STR && md_str_nbytes(got) == n &&
                  memcmp(md_str_data(got), key, n) == 0);
    }
    md_decref(t);
    md_buf_free(&b);
}

/* A list of str with a non-ASCII or invalid sequence at each position
 * of each length 0 to 17: the valid ones decode to their text (and
 * code point count), the invalid ones fail at their own opcode with
 * "is not valid UTF-8", also when the run goes on after them. Lone
 * surrogates pass (CPython's pickler writes them with surrogatepass). */
static void test_pickle_flat_str_every_position_and_length(void)
{
    static const struct {
        const char *seq;
        size_t cps;   /* code points; 0: invalid */
    } seqs[] = {
        { "\xc3\xa9", 1 },          { "\xe2\x82\xac", 1 },     { "\xf0\x9f\x98\x80", 1 },
        { "\xed\xa0\x80", 1 },      { "\xed\xbf\xbf", 1 },     { "\xf4\x8f\xbf\xbf", 1 },
        { "\x7f", 1 },              { "\x80", 0 },             { "\xff", 0 },
        { "\xc0\x80", 0 },          { "\xc1\xbf", 0 },         { "\xe0\x9f\xbf", 0 },
        { "\xf0\x8f\xbf\xbf", 0 },  { "\xf4\x90\x80\x80", 0 }, { "\xf5\x80\x80\x80", 0 },
        { "\xc3", 0 },              { "\xe2\x82", 0 },         { "\xc3\x28", 0 },
    };
    md_buf b = MD_BUF_INIT;
    for (size_t s = 0; s < sizeof seqs / sizeof seqs[0]; s++) {
        size_t sl = strlen(seqs[s].seq);
        for (size_t len = sl; len <= 17; len++) {
            for (size_t at = 0; at + sl <= len; at++) {
                char text[24];
                memset(text, 'a', sizeof text);
                memcpy(text + at, seqs[s].seq, sl);
                md_buf_reset(&b);
                md_buf_puts(&b, "\x80\x04](");
                put_str(&b, "x", 1, false);
                md_buf_putc(&b, (char)0x94);
                size_t off = b.len;
                put_str(&b, text, len, at % 2 == 1);
                md_buf_putc(&b, (char)0x94);
                put_int(&b, 7);
                put_str(&b, "y", 1, false);
                md_buf_puts(&b, "e.");
                md_val *v = NULL;
                md_pickle_err err;
                int rc = md_pickle_decode(b.data, b.len, NULL, &v, NULL, &err);
                if (!seqs[s].cps) {
                    CU_ASSERT_EQUAL(rc, MD_EPROTO);
                    CU_ASSERT_EQUAL(err.offset, off);
                    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not valid UTF-8"));
                    CU_ASSERT_PTR_NULL(v);
                    continue;
                }
                CU_ASSERT_EQUAL_FATAL(rc, 0);
                CU_ASSERT_EQUAL_FATAL(md_list_len(v), 4);
                const md_val *got = md_list_get(v, 1);
                CU_ASSERT(md_str_nbytes(got) == len && memcmp(md_str_data(got), text, len) == 0);
                CU_ASSERT_EQUAL(md_str_len(got), len - sl + seqs[s].cps);
                CU_ASSERT_EQUAL(md_str_is_ascii(got), s == 6);
                md_decref(v);
            }
        }
    }
    /* every length 0 to 17, ASCII, SHORT_BINUNICODE and BINUNICODE */
    md_buf_reset(&b);
    md_buf_puts(&b, "\x80\x04](");
    const char *az = "abcdefghijklmnopqrstuvwxyz";
    for (size_t len = 0; len <= 17; len++) {
        put_str(&b, az, len, false);
        md_buf_putc(&b, (char)0x94);
        put_str(&b, az + 1, len, true);
    }
    md_buf_puts(&b, "e.");
    md_val *v = NULL;
    CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &v, NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(md_list_len(v), 36);
    for (size_t len = 0; len <= 17; len++) {
        const md_val *x = md_list_get(v, 2 * len), *y = md_list_get(v, 2 * len + 1);
        CU_ASSERT(md_str_nbytes(x) == len && memcmp(md_str_data(x), az, len) == 0 &&
                  md_str_is_ascii(x));
        CU_ASSERT(md_str_nbytes(y) == len && memcmp(md_str_data(y), az + 1, len) == 0);
    }
    md_decref(v);
    md_buf_free(&b);
}

/* A list of the ints of flat_int: each width boundary, also as the
 * only item, the first or the last of a run, and next to a str. */
static void test_pickle_flat_ints_at_every_width_boundary(void)
{
    md_buf b = MD_BUF_INIT;
    for (size_t i = 0; i < 40; i++) {
        for (int shape = 0; shape < 3; shape++) {
            md_buf_reset(&b);
            md_buf_puts(&b, "\x80\x04](");
            if (shape == 1)
                put_int(&b, 3);
            if (shape == 2)
                put_str(&b, "s", 1, false);
            put_int(&b, flat_int(i));
            if (shape != 0)
                put_int(&b, -3);
            md_buf_puts(&b, "e.");
            md_val *v = NULL;
            CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &v, NULL, NULL), 0);
            size_t at = shape == 0 ? 0 : 1;
            int64_t x = 0;
            CU_ASSERT_EQUAL_FATAL(md_list_len(v), shape == 0 ? 1u : 3u);
            CU_ASSERT(md_int_to_i64(md_list_get(v, at), &x) == 0 && x == flat_int(i));
            if (shape != 0)
                CU_ASSERT(md_int_to_i64(md_list_get(v, 2), &x) == 0 && x == -3);
            md_decref(v);
        }
    }
    md_buf_free(&b);
}

/* MEMOIZE onto an index BINPUT already filled replaces it without
 * counting a new entry, inside a run as alone (as CPython's memo_len):
 * ('a', 'b', 'c', 'd', memo[1], memo[2]) is ('a', 'b', 'c', 'd', 'c', 'd'),
 * as CPython reads it. */
static void test_pickle_flat_memoize_over_a_filled_index(void)
{
    md_val *v = md_ts_dec_ok(&md_codec_pickle,
                             LIT("\x80\x04(\x8c\x01" "aq\x01\x8c\x01" "b\x94\x8c\x01" "c\x94"
                                 "q\x02\x8c\x01" "d\x94h\x01h\x02t."), NULL);
    CU_ASSERT_TRUE(md_ts_repr_is(v, "('a', 'b', 'c', 'd', 'c', 'd')"));
    md_decref(v);
    /* the same with the run broken by ints between */
    v = md_ts_dec_ok(&md_codec_pickle,
                     LIT("\x80\x04(\x8c\x01" "aq\x01K\x05\x8c\x01" "b\x94K\x06\x8c\x01" "c\x94"
                         "h\x01t."), NULL);
    CU_ASSERT_TRUE(md_ts_repr_is(v, "('a', 5, 'b', 6, 'c', 'c')"));
    md_decref(v);
}

/* Failures in the middle of a mixed run, each at its own opcode. */
static void test_pickle_flat_failures_at_their_opcode(void)
{
    static const struct {
        const char *data;
        size_t n;
        int code;
        const char *want;
    } bad[] = {
#define M(s) s, sizeof s - 1
        { M("\x80\x04(\x8c\x01" "a\x94K\x01\x8c\x02\xc3\x28\x94."), MD_EPROTO,
          "SHORT_BINUNICODE is not valid UTF-8 at byte 9" },
        { M("\x80\x04(\x8c\x01" "a\x94M\x01"), MD_EPROTO,
          "BININT2 argument runs past the end of the message at byte 7" },
        { M("\x80\x04(\x8c\x01" "a\x94J\x01\x02\x03"), MD_EPROTO,
          "BININT argument runs past the end of the message at byte 7" },
        { M("\x80\x04(K\x01\x8c\x05" "ab"), MD_EPROTO,
          "SHORT_BINUNICODE length 5 runs past the end of the message at byte 5" },
        { M("\x80\x04(K\x01\x8c\x02" "a"), MD_EPROTO,
          "SHORT_BINUNICODE length 2 runs past the end of the message at byte 5" },
        { M("\x80\x04(K\x01\x8c\x02" "ab"), MD_EPROTO, "pickle data was truncated at byte 9" },
        { M("\x80\x04(K\x01X\x02\x00\x00\x00" "a"), MD_EPROTO,
          "BINUNICODE length 2 runs past the end of the message at byte 5" },
        { M("\x80\x04(\x8c\x01" "aK"), MD_EPROTO,
          "BININT1 argument runs past the end of the message at byte 6" },
        { M("\x80\x04(K\x01\x8c"), MD_EPROTO,
          "SHORT_BINUNICODE argument runs past the end of the message at byte 5" },
        { M("\x80\x04(K\x01X\x03\x00\x00"), MD_EPROTO,
          "BINUNICODE argument runs past the end of the message at byte 5" },
        { M("\x80\x04(K\x01X\x03\x00\x00\x00" "ab"), MD_EPROTO,
          "BINUNICODE length 3 runs past the end of the message at byte 5" },
        { M("\x80\x04(\x8c\x01" "a\x94"), MD_EPROTO, "pickle data was truncated at byte 7" },
        { M("\x80\x04\x94"), MD_EPROTO, "MEMOIZE with an empty stack at byte 2" },
        { M("\x80\x04(\x94"), MD_EPROTO, "MEMOIZE with an empty stack at byte 3" },
#undef M
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT(md_ts_dec_fails(&md_codec_pickle, (const uint8_t *)bad[i].data, bad[i].n,
                                  NULL, bad[i].code, bad[i].want));
    /* max_memo and max_stack reached inside a run: at the MEMOIZE or
     * the push one past the limit */
    md_pickle_limits lim;
    md_pickle_limits_default(&lim);
    md_buf b = MD_BUF_INIT;
    size_t memo_off[100];
    flat_dict(&b, 100, memo_off, false);
    lim.max_memo = 41;   /* the dict is memo 0, key i is memo i + 1 */
    char want[80];
    snprintf(want, sizeof want, "memo index 41 exceeds max_memo 41 at byte %zu", memo_off[40]);
    CU_ASSERT(md_ts_dec_fails(&md_codec_pickle, b.data, b.len, &lim, MD_ELIMIT, want));
    /* max_stack 33 (past the stack's 32 inline slots) reached at a str
     * and at an int of a run of str+MEMOIZE (5 bytes) and BININT2 (3) */
    md_pickle_limits_default(&lim);
    lim.max_stack = 33;
    for (size_t last_int = 0; last_int <= 1; last_int++) {
        md_buf_reset(&b);
        md_buf_puts(&b, "\x80\x04(");
        size_t at = 0;
        for (size_t i = 0; i < 34; i++) {
            at = b.len;
            if ((33 - i) % 2 != last_int) {
                put_int(&b, 300);
            } else {
                put_str(&b, "ab", 2, false);
                md_buf_putc(&b, (char)0x94);
            }
        }
        md_buf_puts(&b, "t.");
        snprintf(want, sizeof want, "value stack exceeds max_stack 33 at byte %zu", at);
        CU_ASSERT(md_ts_dec_fails(&md_codec_pickle, b.data, b.len, &lim, MD_ELIMIT, want));
        b.len = at;   /* one less: read */
        md_buf_puts(&b, "t.");
        md_val *v = NULL;
        CU_ASSERT_EQUAL(md_pickle_decode(b.data, b.len, &lim, &v, NULL, NULL), 0);
        CU_ASSERT(v && md_tuple_len(v) == 33);
        md_decref(v);
    }
    md_buf_free(&b);
}

/* Out of memory at each allocation of a mixed run (a str of the fast
 * path, the memo's growth, the stack's) fails the message cleanly;
 * once enough succeed, the dict is whole. */
static void check_flat_dict_of_40(md_val *got)
{
    CU_ASSERT_TRUE(flat_dict_matches(got, 40));
}

static void test_pickle_flat_out_of_memory_at_every_allocation(void)
{
    md_buf b = MD_BUF_INIT;
    flat_dict(&b, 40, NULL, false);
    /* each key an allocation of its own */
    CU_ASSERT(md_ts_decode_at_every_failure(&b, check_flat_dict_of_40) >= 40);
    md_buf_free(&b);
}

/* ---- records: the loop against its reference ---------------------------- */

/* How one decode ended: code, error text with its offset, the value's
 * repr, how many containers it left alive and which of them the
 * collector tracks (a bit per container, in the order tracked_bits
 * walks them). */
typedef struct outcome {
    int rc;
    md_pickle_err err;
    char repr[512];
    size_t containers;
    uint64_t tracked;
} outcome;

/* Appends a bit per container of v and of what it holds (3 levels
 * down, at most 64 bits): whether the collector tracks it. */
static void tracked_bits(const md_val *v, int levels, uint64_t *bits, size_t *n)
{
    md_vtype t = md_typeof(v);
    if (t != MD_T_LIST && t != MD_T_TUPLE && t != MD_T_DICT)
        return;
    if (*n < 64 && md_val__gc_tracked(v))
        *bits |= UINT64_C(1) << *n;
    ++*n;
    if (levels == 0)
        return;
    size_t pos = 0;
    md_val *k, *x;
    if (t == MD_T_DICT)
        while (md_dict_next(v, &pos, &k, &x))
            tracked_bits(x, levels - 1, bits, n);
    for (size_t i = 0; t == MD_T_LIST && i < md_list_len(v); i++)
        tracked_bits(md_list_get(v, i), levels - 1, bits, n);
    for (size_t i = 0; t == MD_T_TUPLE && i < md_tuple_len(v); i++)
        tracked_bits(md_tuple_get(v, i), levels - 1, bits, n);
}

/* The repr of an opaque object names its address: dropped, so that
 * two decodes compare (the allocator need not reuse the address). */
static void drop_addresses(char *s)
{
    char *o = s;
    for (const char *i = s; *i;) {
        if (strncmp(i, " at 0x", 6) == 0) {
            for (i += 6; (*i >= '0' && *i <= '9') || (*i >= 'a' && *i <= 'f'); i++)
                ;
            continue;
        }
        *o++ = *i++;
    }
    *o = '\0';
}

static void decode_with_runs(bool on, const uint8_t *m, size_t n, const md_pickle_limits *lim,
                             long fail_at, outcome *o)
{
    memset(o, 0, sizeof *o);
    md_pickle__set_runs(on);
    size_t before = md_gc_tracked();
    md_val *v = NULL;
    md_alloc_fail_after(fail_at);
    o->rc = md_pickle_decode(m, n, lim, &v, NULL, &o->err);
    md_alloc_fail_after(-1);
    md_pickle__set_runs(true);
    o->containers = md_gc_tracked() - before;
    size_t nbits = 0;
    if (v) {
        md_val_short_repr(v, o->repr, sizeof o->repr, "<failed>");
        drop_addresses(o->repr);
        tracked_bits(v, 3, &o->tracked, &nbits);
    }
    md_decref(v);
    /* a byte changed into BINGET may have made a dict hold itself */
    md_gc_collect();
}

/* Decodes m with the runs and without; false (with both outcomes on
 * stderr) when anything differs. */
static bool same_with_and_without_runs(const uint8_t *m, size_t n, const md_pickle_limits *lim,
                                       long fail_at, outcome *with)
{
    outcome without;
    decode_with_runs(true, m, n, lim, fail_at, with);
    decode_with_runs(false, m, n, lim, fail_at, &without);
    bool same = with->rc == without.rc && with->err.code == without.err.code &&
                with->err.offset == without.err.offset &&
                strcmp(with->err.msg, without.err.msg) == 0 &&
                strcmp(with->repr, without.repr) == 0 && with->containers == without.containers &&
                with->tracked == without.tracked;
    if (!same)
        fprintf(stderr, "\n  %zu bytes, fail_at %ld: runs %d '%s' %s (%zu, %llx); "
                        "alone %d '%s' %s (%zu, %llx)\n",
                n, fail_at, with->rc, with->err.msg, with->repr, with->containers,
                (unsigned long long)with->tracked, without.rc, without.err.msg, without.repr,
                without.containers, (unsigned long long)without.tracked);
    return same;
}

/* A record dict {'v': i} as a 3.8+ client writes it, its 'v' memoized
 * at memo index *v_idx the first time (0: not yet). */
static void put_record(md_buf *b, int64_t i, size_t *memo_n, size_t *v_idx)
{
    md_buf_puts(b, "}\x94");
    (*memo_n)++;
    if (!*v_idx) {
        put_str(b, "v", 1, false);
        md_buf_putc(b, (char)0x94);
        *v_idx = (*memo_n)++;
    } else {
        md_buf_putc(b, 'h');
        md_buf_putc(b, (char)*v_idx);
    }
    put_int(b, i);
    md_buf_putc(b, 's');
}

/* The messages every check below is run on. */
enum {
    REC_CHUNK, REC_TUPLES, REC_KEYS, REC_PENDING, REC_OTHERS, REC_LIST, REC_FULL_DICT,
    REC_FULL_GET, REC_BAD, REC_N
};

static void rec_message(md_buf *b, int which)
{
    md_buf_reset(b);
    size_t memo_n = 0, v_idx = 0;
    switch (which) {
    case REC_CHUNK:
        /* d.update(chunk) of str -> {'v': i}, two batches */
        md_buf_puts(b, "\x80\x04}\x94(");
        memo_n = 1;
        for (int64_t i = 0; i < 6; i++) {
            if (i == 3)
                md_buf_puts(b, "u(");
            char key[8];
            snprintf(key, sizeof key, "k%d", (int)i);
            put_str(b, key, strlen(key), false);
            md_buf_putc(b, (char)0x94);
            memo_n++;
            put_record(b, i * 70000 - 3, &memo_n, &v_idx);
        }
        md_buf_puts(b, "u.");
        break;
    case REC_TUPLES:
        /* [(i, 'ti'), ..., ({}, 7), a tuple again inside a tuple, a
         * record in a tuple, tuples of None, False, a float, True] */
        md_buf_puts(b, "\x80\x04]\x94(");
        for (int i = 0; i < 4; i++) {
            char s[8];
            snprintf(s, sizeof s, "t%d", i);
            put_int(b, i * 300);
            put_str(b, s, strlen(s), false);
            md_buf_puts(b, "\x94\x86\x94");
        }
        md_buf_puts(b, "}\x94K\x07\x86\x94h\x04K\x01\x86\x94");
        memo_n = 12;
        put_str(b, "w", 1, false);
        put_record(b, 5, &memo_n, &v_idx);
        md_buf_puts(b, "\x86\x94");
        /* (None, False), (1.5, True) */
        md_buf_append(b, "N\x89\x86\x94G?\xf8\x00\x00\x00\x00\x00\x00\x88\x86\x94", 16);
        md_buf_puts(b, "e.");
        break;
    case REC_KEYS: {
        /* repeated keys: the first key object stays, the last value
         * wins; 1, True and 1.0 one key; a memoized dict filled later */
        static const char keys[] =
            "\x80\x04(}\x94\x8c\x01" "a\x94K\x01s\x8c\x01" "a\x94K\x02sh\x01K\x03s"
            "}\x94K\x01\x8c\x01x\x94s\x88\x8c\x01y\x94sG?\xf0\x00\x00\x00\x00\x00\x00"
            "h\x05sh\x00\x8c\x01" "b\x94h\x03sh\x01t.";
        md_buf_append(b, keys, sizeof keys - 1);
        break;
    }
    case REC_PENDING:
        /* a dict of 70 pairs (pending once decoded), then SETITEM onto
         * it, a repeated key too */
        md_buf_puts(b, "\x80\x04}\x94(");
        for (int i = 0; i < 70; i++) {
            char key[8];
            snprintf(key, sizeof key, "p%d", i);
            put_str(b, key, strlen(key), false);
            put_int(b, i);
        }
        md_buf_puts(b, "u\x8c\x02p3K\x09s\x8c\x02zzK\x08s.");
        break;
    case REC_OTHERS:
        /* SETITEM onto an opaque object, BINGET of a dict, a record
         * in a record, MEMOIZE after SETITEM and after BINGET, and
         * onto an index BINPUT filled (memo 10: 9, then {}) */
        md_buf_puts(b, "\x80\x04(c__main__\nX\n)R\x94\x8c\x01k\x94K\x01s"
                       "}\x94\x8c\x01" "a\x94}\x94\x8c\x01" "b\x94K\x02ss\x94h\x02\x94h\x07\x94"
                       "K\x09q\x0a}\x94h\x0aK\x08\x86\x94h\x0at.");
        break;
    case REC_LIST:
        /* containers pushed by the loop right before APPENDS and LIST:
         * their depth counts (str, a dict, BINGET of a dict, int) */
        md_buf_puts(b, "\x80\x04(](\x8c\x01" "a\x94}\x94\x8c\x01" "b\x94" "e("
                       "\x8c\x01" "c\x94h\x01K\x05" "e(\x8c\x01" "d\x94}\x94l\x94(K\x01h\x06lt.");
        break;
    case REC_FULL_DICT:
    case REC_FULL_GET:
        /* a dict pushed when the stack's inline slots are full (the
         * loop's checking path grows it), pushed anew or fetched from
         * the memo, right before APPENDS: its depth counts */
        md_buf_puts(b, "\x80\x04}\x94](");
        for (int i = 0; i < 30; i++)
            put_str(b, "x", 1, false);
        md_buf_puts(b, which == REC_FULL_DICT ? "}" : "h\x00");
        md_buf_puts(b, "\x8c\x01" "ye\x86.");
        break;
    default:
        /* SETITEM onto a list, then the rest never read */
        md_buf_puts(b, "\x80\x04(]\x94\x8c\x01" "a\x94K\x01s}\x94h\x01K\x02st.");
        break;
    }
}

/* What the messages decode to (the checks below compare the loop with
 * its reference; these pin the reference itself). */
static void test_pickle_flat_records_decode_as_python_reads_them(void)
{
    static const char *const want[REC_N] = {
        "{'k0': {'v': -3}, 'k1': {'v': 69997}, 'k2': {'v': 139997}, 'k3': {'v': 209997}, "
        "'k4': {'v': 279997}, 'k5': {'v': 349997}}",
        "[(0, 't0'), (300, 't1'), (600, 't2'), (900, 't3'), ({}, 7), ((300, 't1'), 1), "
        "('w', {'v': 5}), (None, False), (1.5, True)]",
        "({'a': 3, 'b': {1: 'y'}}, {1: 'y'}, {'a': 3, 'b': {1: 'y'}}, 'a')",
        NULL,
        NULL,
        "(['a', {}, 'b', 'c', {}, 5], ['d', {}], [1, ['d', {}]])",
        NULL,
        NULL,
        NULL,
    };
    md_buf b = MD_BUF_INIT;
    for (int which = 0; which < REC_N; which++) {
        rec_message(&b, which);
        outcome o;
        CU_ASSERT(same_with_and_without_runs(b.data, b.len, NULL, -1, &o));
        if (want[which])
            CU_ASSERT_STRING_EQUAL(o.repr, want[which]);
        if (which == REC_BAD)
            CU_ASSERT_STRING_EQUAL(o.err.msg, "SETITEM on a list at byte 11");
    }
    md_buf_free(&b);
    /* the first key object stays: the dict's 'a' is memo 2, not memo 3 */
    md_val *t = md_ts_dec_ok(&md_codec_pickle,
                             LIT("\x80\x04(}\x94\x8c\x01" "a\x94K\x01s\x8c\x01" "a\x94K\x02s"
                                 "h\x01h\x02t."), NULL);
    CU_ASSERT_FATAL(t && md_tuple_len(t) == 3);
    size_t pos = 0;
    md_val *k, *v;
    CU_ASSERT_FATAL(md_dict_next(md_tuple_get(t, 0), &pos, &k, &v));
    CU_ASSERT(k == md_tuple_get(t, 1) && k != md_tuple_get(t, 2));
    CU_ASSERT_TRUE(md_ts_repr_is(t, "({'a': 2}, 'a', 'a')"));
    md_decref(t);
}

/* Each message cut at every byte, and with each byte replaced by an
 * invalid opcode or by each opcode of the loop and its neighbours
 * (MARK, POP, APPENDS, SETITEMS): the same value or the same error at
 * the same byte, with and without the runs. */
static void test_pickle_flat_records_cut_and_changed_at_every_byte(void)
{
    static const uint8_t swaps[] = { 0xff, 's', 0x86, 'h', 0x94, '}', ']', '(', '0', 'e', 'u',
                                     'K', 0x8c, '.', 'G', 'N', 0x88, 0x89 };
    md_buf b = MD_BUF_INIT;
    size_t differ = 0, decoded = 0;
    for (int which = 0; which < REC_N; which++) {
        rec_message(&b, which);
        for (size_t cut = 0; cut < b.len; cut++) {
            outcome o;
            differ += !same_with_and_without_runs(b.data, cut, NULL, -1, &o);
        }
        for (size_t at = 2; at < b.len; at++) {
            uint8_t was = b.data[at];
            for (size_t s = 0; s < sizeof swaps; s++) {
                b.data[at] = swaps[s];
                outcome o;
                differ += !same_with_and_without_runs(b.data, b.len, NULL, -1, &o);
                decoded += o.rc == 0;
            }
            b.data[at] = was;
        }
    }
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT(decoded > 100);   /* not only errors were compared */
    md_buf_free(&b);
}

/* Every max_memo, max_stack and max_depth from 1 up to past what the
 * message needs: reached in the middle of a run of records, the same
 * error at the same opcode. */
static void test_pickle_flat_records_at_every_small_limit(void)
{
    md_buf b = MD_BUF_INIT;
    size_t differ = 0, failed = 0, decoded = 0;
    for (int which = 0; which < REC_N; which++) {
        rec_message(&b, which);
        for (size_t x = 1; x <= 80; x++) {
            for (int kind = 0; kind < 3; kind++) {
                if (kind == 2 && x > 6)
                    continue;
                md_pickle_limits lim;
                md_pickle_limits_default(&lim);
                if (kind == 0)
                    lim.max_memo = x;
                else if (kind == 1)
                    lim.max_stack = x;
                else
                    lim.max_depth = x;
                outcome o;
                differ += !same_with_and_without_runs(b.data, b.len, &lim, -1, &o);
                failed += o.err.code == MD_ELIMIT || o.err.code == MD_EDEPTH;
                decoded += o.rc == 0;
            }
        }
    }
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT(failed > 100 && decoded > 100);
    md_buf_free(&b);
}

/* Out of memory at each allocation in turn: the same error at the same
 * opcode with and without the runs, until both decode. */
static void test_pickle_flat_records_out_of_memory_at_every_allocation(void)
{
    md_buf b = MD_BUF_INIT;
    size_t differ = 0, refused = 0;
    for (int which = 0; which < REC_N; which++) {
        rec_message(&b, which);
        for (long fail_at = 0; fail_at < 100000; fail_at++) {
            outcome o;
            differ += !same_with_and_without_runs(b.data, b.len, NULL, fail_at, &o);
            if (o.err.code != MD_ENOMEM)
                break;
            refused++;
        }
    }
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT(refused > 50);
    md_buf_free(&b);
}

static void check_rec_chunk(md_val *got)
{
    CU_ASSERT_TRUE(md_ts_repr_is(got, "{'k0': {'v': -3}, 'k1': {'v': 69997}, 'k2': {'v': 139997}, "
                                      "'k3': {'v': 209997}, 'k4': {'v': 279997}, "
                                      "'k5': {'v': 349997}}"));
}

static void check_rec_tuples(md_val *got)
{
    CU_ASSERT_EQUAL(md_list_len(got), 9);
}

/* The sweep of support.c on the records: each failure is a clean
 * MD_ENOMEM leaving no value. */
static void test_pickle_flat_records_sweep_out_of_memory(void)
{
    md_buf b = MD_BUF_INIT;
    rec_message(&b, REC_CHUNK);
    CU_ASSERT(md_ts_decode_at_every_failure(&b, check_rec_chunk) >= 18);
    rec_message(&b, REC_TUPLES);
    CU_ASSERT(md_ts_decode_at_every_failure(&b, check_rec_tuples) >= 10);
    md_buf_free(&b);
}

void md_test_register_pickle_flat(void)
{
    CU_pSuite s = md_test_suite("pickle_flat");
    MD_ADD_TEST(s, test_pickle_flat_dict_chunks_decode_pair_by_pair);
    MD_ADD_TEST(s, test_pickle_flat_str_every_position_and_length);
    MD_ADD_TEST(s, test_pickle_flat_ints_at_every_width_boundary);
    MD_ADD_TEST(s, test_pickle_flat_memoize_over_a_filled_index);
    MD_ADD_TEST(s, test_pickle_flat_failures_at_their_opcode);
    MD_ADD_TEST(s, test_pickle_flat_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_pickle_flat_records_decode_as_python_reads_them);
    MD_ADD_TEST(s, test_pickle_flat_records_cut_and_changed_at_every_byte);
    MD_ADD_TEST(s, test_pickle_flat_records_at_every_small_limit);
    MD_ADD_TEST(s, test_pickle_flat_records_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_pickle_flat_records_sweep_out_of_memory);
}
