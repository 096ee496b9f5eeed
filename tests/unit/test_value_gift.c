/* test_value_gift.c - a big bytes or bytearray value that takes over the
 * buffer its message was read into (value.h, md_gift; the pickle
 * decoder's BINBYTES, BINBYTES8 and BYTEARRAY8): the value is the block,
 * its bytes and the opcodes after them decode right, the block is freed
 * exactly once (through md_free_sized: counted in the blocks kept warm)
 * and not before md_gift_close whatever the decoder did with the value
 * (popped it, failed after it), the reply protocol comes from the
 * message as it was; small values, values that are not most of the
 * block, values too near its start, a second big value and hostile
 * lengths leave the block alone; out of memory at any allocation of the
 * decode loses nothing. */
#include "tests/unit/unit.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "serializers/codec.h"
#include "serializers/pickle.h"

enum { BIG = 2 << 20 };

/* Pickle opcodes the messages below are made of. */
enum {
    OP_PROTO = 0x80, OP_BINBYTES = 'B', OP_BINBYTES8 = 0x8e, OP_BYTEARRAY8 = 0x96,
    OP_MEMOIZE = 0x94, OP_BININT1 = 'K', OP_TUPLE2 = 0x86, OP_POP = '0', OP_STOP = '.'
};

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 12));
}

/* A block of size bytes (from md_malloc, as a receive buffer is) and the
 * gift of all of it. */
static uint8_t *new_block(size_t size, md_gift *gift)
{
    uint8_t *block = md_malloc(size);
    CU_ASSERT_FATAL(block != NULL);
    memset(block, 0xee, size);
    *gift = (md_gift){.block = block, .size = size};
    return block;
}

/* Writes at p: op with its length n, then n bytes of the pattern;
 * returns the end. put_big puts PROTO proto before. */
static uint8_t *put_bytes(uint8_t *p, int op, size_t n)
{
    *p++ = (uint8_t)op;
    int width = op == OP_BINBYTES ? 4 : 8;
    for (int i = 0; i < width; i++)
        *p++ = (uint8_t)((uint64_t)n >> (8 * i));
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(i);
    return p + n;
}

static uint8_t *put_big(uint8_t *p, int proto, int op, size_t n)
{
    *p++ = OP_PROTO;
    *p++ = (uint8_t)proto;
    return put_bytes(p, op, n);
}

/* Writes the usual tail: MEMOIZE, BININT1 7, TUPLE2, STOP: (value, 7). */
static uint8_t *put_pair_tail(uint8_t *p)
{
    static const uint8_t tail[] = {OP_MEMOIZE, OP_BININT1, 7, OP_TUPLE2, OP_STOP};
    memcpy(p, tail, sizeof tail);
    return p + sizeof tail;
}

/* A gifted block of BIG + 4096 bytes (*usable: its malloc size) holding,
 * at off, the protocol proto message (payload, 7) whose payload is op
 * with BIG pattern bytes; *end: the message's end. */
static uint8_t *big_pair_block(md_gift *gift, size_t off, int proto, int op, size_t *usable,
                               uint8_t **end)
{
    uint8_t *block = new_block(BIG + 4096, gift);
    *usable = malloc_usable_size(block);
    *end = put_pair_tail(put_big(block + off, proto, op, BIG));
    return block;
}

static int decode_with(md_gift *gift, const uint8_t *msg, size_t len, md_val **out)
{
    md_pickle_limits lim;
    md_pickle_limits_default(&lim);
    lim.gift = gift;
    return md_pickle_decode(msg, len, &lim, out, NULL, NULL);
}

static bool int_is(const md_val *v, int64_t want)
{
    int64_t got = 0;
    return v && md_typeof(v) == MD_T_INT && md_int_to_i64(v, &got) == 0 && got == want;
}

static bool is_pattern(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(i))
            return false;
    return true;
}

/* Closes the gift as a transport does (freeing the block itself when no
 * value took it) and says how many bytes went back through md_free_sized:
 * a block freed twice would be kept warm twice. */
static size_t close_and_count(md_gift *gift, uint8_t *block, md_val *result)
{
    md_alloc_warm_enable(false); /* none kept from before */
    md_alloc_warm_enable(true);
    bool taken = md_gift_close(gift);
    md_decref(result);
    if (!taken)
        md_free_sized(block, BIG);
    size_t warm = md_alloc_warm_bytes();
    md_alloc_warm_enable(false);
    return warm;
}

/* ---- taking the block ------------------------------------------------------- */

static void take_and_check(int op, size_t off)
{
    md_gift gift;
    size_t usable;
    uint8_t *end, *block = big_pair_block(&gift, off, 4, op, &usable, &end);
    md_val *v = NULL;
    unsigned long before = md_gift_count();
    CU_ASSERT_EQUAL_FATAL(decode_with(&gift, block + off, (size_t)(end - block - off), &v), 0);
    CU_ASSERT_EQUAL(md_gift_count(), before + 1);
    CU_ASSERT_FATAL(md_typeof(v) == MD_T_TUPLE && md_tuple_len(v) == 2);
    md_val *b = md_tuple_get(v, 0);
    CU_ASSERT_FATAL(md_typeof(b) == MD_T_BYTES && md_bytes_len(b) == BIG);
    CU_ASSERT_PTR_EQUAL(b, block);        /* the value is the block */
    CU_ASSERT(is_pattern(md_bytes_data(b), BIG));
    CU_ASSERT_EQUAL(md_bytes_data(b)[BIG], 0);
    CU_ASSERT(int_is(md_tuple_get(v, 1), 7));
    CU_ASSERT_PTR_EQUAL(gift.taker, b);
    CU_ASSERT_EQUAL(md_refcount(b), 2);   /* the tuple's and the gift's */
    CU_ASSERT_EQUAL(close_and_count(&gift, block, v), usable);
    CU_ASSERT_PTR_NULL(gift.taker);
    CU_ASSERT_PTR_NULL(gift.block);
}

static void test_gift_binbytes_take_the_block_and_what_follows_decodes(void)
{
    take_and_check(OP_BINBYTES, 64);
    take_and_check(OP_BINBYTES, 6); /* text at 13: the header's 12 and one */
    take_and_check(OP_BINBYTES8, 100);
}

/* Decodes the message (big payload, 7) from msg to end through gift: the
 * lodged count rises by lodged, and the tuple's first item is a `type`
 * of the BIG pattern bytes, its second the int 7. Returns the tuple. */
static md_val *decode_big_pair(md_gift *gift, const uint8_t *msg, const uint8_t *end,
                               bool lodged, md_vtype type)
{
    unsigned long before = md_gift_lodged_count();
    md_val *v = NULL;
    CU_ASSERT_EQUAL_FATAL(decode_with(gift, msg, (size_t)(end - msg), &v), 0);
    CU_ASSERT_EQUAL(md_gift_lodged_count(), before + lodged);
    md_val *b = md_tuple_get(v, 0);
    CU_ASSERT_FATAL(md_typeof(b) == type && md_bytes_len(b) == BIG);
    CU_ASSERT(is_pattern(md_bytes_data(b), BIG));
    CU_ASSERT(int_is(md_tuple_get(v, 1), 7));
    return v;
}

/* A text whose header fits before it, 8-aligned, with room for the
 * block's lodge (md_gift_skew): the value takes the block where the text
 * lies, without moving a byte; the byte after the text stays the
 * message's until the gift closes, and is the NUL after; freeing the
 * value frees the block, once. Without the room, or misaligned, the text
 * moves to the block's start as before. */
static void lodge_and_check(int op, size_t off, bool lodged)
{
    md_gift gift;
    size_t usable;
    uint8_t *end, *block = big_pair_block(&gift, off, 4, op, &usable, &end);
    size_t at = off + 3 + (op == OP_BINBYTES ? 4 : 8);
    CU_ASSERT_EQUAL(md_gift_skew(at, BIG) == 0, lodged || at < 28);
    md_val *v = decode_big_pair(&gift, block + off, end, lodged, MD_T_BYTES);
    md_val *b = md_tuple_get(v, 0);
    CU_ASSERT_PTR_EQUAL(md_bytes_data(b), lodged ? block + at : block + 12);
    if (lodged)
        CU_ASSERT_EQUAL(block[at + BIG], OP_MEMOIZE); /* still the message's */
    md_alloc_warm_enable(false); /* none kept from before */
    md_alloc_warm_enable(true);
    CU_ASSERT(md_gift_close(&gift));
    CU_ASSERT_EQUAL(md_bytes_data(b)[BIG], 0);
    CU_ASSERT(is_pattern(md_bytes_data(b), BIG));
    md_decref(v);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), usable);
    md_alloc_warm_enable(false);
}

static void test_gift_lodged_where_the_text_lies_when_aligned_with_room(void)
{
    lodge_and_check(OP_BINBYTES, 21, true);  /* text at 28: header 12 + lodge 16 */
    lodge_and_check(OP_BINBYTES8, 17, true);
    lodge_and_check(OP_BINBYTES8, 17 + 64, true);
    lodge_and_check(OP_BINBYTES, 13, false); /* aligned, no room for the lodge */
    lodge_and_check(OP_BINBYTES, 22, false); /* room, misaligned */
}

/* The transport's guess of where a big payload starts, from the opcodes
 * before it: a q.put() request as Python pickles it; none when the
 * length is small or runs past the message; a BINBYTES8 byte inside a
 * text is passed over when its "length" does not fit. */
static void test_gift_transport_guesses_where_the_payload_lies(void)
{
    uint8_t *blob = calloc(1, BIG);
    CU_ASSERT_FATAL(blob != NULL);
    md_val *parts[] = {md_str_from_cstr("7f\xc2\x8e" "abc"), md_str_from_cstr("put"),
                       md_bytes_new(blob, BIG), md_dict_new(), NULL};
    free(blob);
    parts[4] = md_tuple_pack(1, parts[2]);
    md_val *req = md_tuple_pack(4, parts[0], parts[1], parts[4], parts[3]);
    for (size_t i = 0; i < 5; i++)
        md_decref(parts[i]);
    md_buf out = MD_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(req, 4, &out, NULL), 0);
    size_t at = md_pickle_guess_big_bytes(out.data, 256, out.len, MD_GIFT_MIN_BYTES);
    CU_ASSERT_FATAL(at > 5 && at < 256);
    CU_ASSERT_EQUAL(out.data[at - 5], OP_BINBYTES);
    CU_ASSERT_EQUAL(md_pickle_guess_big_bytes(out.data, 256, out.len, BIG + 1), 0);
    CU_ASSERT_EQUAL(md_pickle_guess_big_bytes(out.data, 256, out.len - 2 - BIG / 2, MD_GIFT_MIN_BYTES),
                    0);
    CU_ASSERT_EQUAL(md_pickle_guess_big_bytes(out.data, at - 5, out.len, MD_GIFT_MIN_BYTES), 0);
    md_buf_free(&out);
    md_decref(req);
}

/* A bytearray's bytes are apart from its object: they stay where they
 * lie when the block's lodge fits before them (16 bytes), else they move
 * to the block's start. Either way the block is freed once. */
static void bytearray_takes(size_t off, bool lodged)
{
    md_gift gift;
    size_t usable;
    uint8_t *end, *block = big_pair_block(&gift, off, 5, OP_BYTEARRAY8, &usable, &end);
    md_val *v = decode_big_pair(&gift, block + off, end, lodged, MD_T_BYTEARRAY);
    CU_ASSERT_PTR_EQUAL(md_bytes_data(md_tuple_get(v, 0)), lodged ? block + off + 11 : block);
    CU_ASSERT_EQUAL(close_and_count(&gift, block, v), usable);
}

static void test_gift_bytearray8_takes_the_block(void)
{
    bytearray_takes(10, true);  /* bytes at 21 */
    bytearray_takes(5, true);   /* at 16: just room for the lodge */
    bytearray_takes(2, false);  /* at 13 */
}

/* The decoder pops the value (its last reference but the gift's) and
 * reads on from the block: it must still be there, and be freed at the
 * close, once. */
static void test_gift_block_lives_until_closed_when_the_value_is_popped(void)
{
    md_gift gift;
    uint8_t *block = new_block(BIG + 4096, &gift);
    size_t usable = malloc_usable_size(block);
    uint8_t *p = put_big(block + 32, 4, OP_BINBYTES, BIG);
    static const uint8_t tail[] = {OP_POP, OP_BININT1, 5, OP_STOP};
    memcpy(p, tail, sizeof tail);
    md_val *v = NULL;
    CU_ASSERT_EQUAL_FATAL(decode_with(&gift, block + 32, (size_t)(p + sizeof tail - block - 32), &v),
                          0);
    CU_ASSERT(int_is(v, 5));
    CU_ASSERT_FATAL(gift.taker != NULL);
    CU_ASSERT_EQUAL(md_refcount(gift.taker), 1);
    CU_ASSERT_EQUAL(close_and_count(&gift, block, v), usable);
}

/* A message that fails after its value took the block: the value goes
 * with the decoder's stack, the block at the close, once; the reply
 * protocol is the one the message announced, though its first bytes
 * were overwritten (here by pattern bytes that read 0x80 0x05). */
static void test_gift_taken_then_failing_frees_the_block_once_and_keeps_the_protocol(void)
{
    md_gift gift;
    uint8_t *block = new_block(BIG + 4096, &gift);
    size_t usable = malloc_usable_size(block);
    uint8_t *msg = block + 16;
    uint8_t *p = put_big(msg, 3, OP_BINBYTES, BIG);
    /* The text moves to the block's start + 12: its bytes 4 and 5 land
     * where PROTO 3 was. */
    block[16 + 7 + 4] = 0x80;
    block[16 + 7 + 5] = 0x05;
    *p++ = 0xff; /* no such opcode */
    md_codec_limits lim;
    md_codec_limits_default(&lim);
    lim.gift = &gift;
    md_codec_msg out;
    md_codec_err err;
    CU_ASSERT(md_codec_decode_request(&md_codec_pickle, msg, (size_t)(p - msg), &lim, &out, &err) < 0);
    CU_ASSERT_PTR_NULL(out.value);
    CU_ASSERT_FATAL(gift.taker != NULL);
    CU_ASSERT(msg[0] == 0x80 && msg[1] == 0x05); /* overwritten... */
    CU_ASSERT_EQUAL(out.protocol, 3);            /* ...but read before */
    CU_ASSERT_EQUAL(md_refcount(gift.taker), 1);
    CU_ASSERT_EQUAL(close_and_count(&gift, block, NULL), usable);
}

/* ---- leaving the block alone ------------------------------------------------- */

/* Decodes msg (in block) and checks that the value was copied: the block
 * untouched, the value intact once the block is freed. */
static void check_copied(md_gift *gift, uint8_t *block, size_t size, const uint8_t *msg,
                         size_t len, size_t n)
{
    uint8_t *copy = md_malloc(size);
    CU_ASSERT_FATAL(copy != NULL);
    memcpy(copy, block, size);
    md_val *v = NULL;
    unsigned long before = md_gift_count();
    CU_ASSERT_EQUAL_FATAL(decode_with(gift, msg, len, &v), 0);
    CU_ASSERT_EQUAL(md_gift_count(), before);
    CU_ASSERT_PTR_NULL(gift->taker);
    CU_ASSERT_EQUAL(memcmp(copy, block, size), 0);
    CU_ASSERT_FALSE(md_gift_close(gift));
    md_free(block);
    md_free(copy);
    md_val *b = md_tuple_get(v, 0);
    CU_ASSERT(md_bytes_len(b) == n && is_pattern(md_bytes_data(b), n));
    md_decref(v);
}

static void test_gift_is_left_alone_by_values_that_should_not_take_it(void)
{
    md_gift gift;
    /* smaller than MD_GIFT_MIN_BYTES */
    size_t small = MD_GIFT_MIN_BYTES - 1;
    uint8_t *block = new_block(small + 64, &gift);
    uint8_t *end = put_pair_tail(put_big(block + 32, 4, OP_BINBYTES, small));
    check_copied(&gift, block, small + 64, block + 32, (size_t)(end - block - 32), small);
    /* less than two thirds of the block */
    size_t size = BIG / 2 * 3 + 64;
    block = new_block(size, &gift);
    end = put_pair_tail(put_big(block + 32, 4, OP_BINBYTES, BIG));
    check_copied(&gift, block, size, block + 32, (size_t)(end - block - 32), BIG);
    /* its text too near the block's start for the header and the NUL */
    block = new_block(BIG + 64, &gift);
    end = put_pair_tail(put_big(block + 5, 4, OP_BINBYTES, BIG)); /* text at 12 */
    check_copied(&gift, block, BIG + 64, block + 5, (size_t)(end - block - 5), BIG);
    /* no gift */
    uint8_t *plain = md_malloc(BIG + 64);
    CU_ASSERT_FATAL(plain != NULL);
    end = put_pair_tail(put_big(plain + 32, 4, OP_BINBYTES, BIG));
    md_val *v = NULL;
    CU_ASSERT_EQUAL_FATAL(decode_with(NULL, plain + 32, (size_t)(end - plain - 32), &v), 0);
    CU_ASSERT(md_bytes_data(md_tuple_get(v, 0)) < plain || md_bytes_data(md_tuple_get(v, 0)) > end);
    md_free(plain);
    CU_ASSERT(is_pattern(md_bytes_data(md_tuple_get(v, 0)), BIG));
    md_decref(v);
}

/* Two big values in one message: the first takes the block, the second
 * is copied (and both read right). */
static void test_gift_is_taken_by_the_first_big_value_only(void)
{
    md_gift gift;
    size_t n = 3 * MD_GIFT_MIN_BYTES, n2 = MD_GIFT_MIN_BYTES; /* both could take it */
    uint8_t *block = new_block(n + n2 + 4096, &gift);
    size_t usable = malloc_usable_size(block);
    uint8_t *p = put_big(block + 32, 4, OP_BINBYTES, n);
    *p++ = OP_MEMOIZE;
    p = put_bytes(p, OP_BINBYTES, n2);
    static const uint8_t tail[] = {OP_TUPLE2, OP_STOP};
    memcpy(p, tail, sizeof tail);
    md_val *v = NULL;
    CU_ASSERT_EQUAL_FATAL(decode_with(&gift, block + 32, (size_t)(p + 2 - block - 32), &v), 0);
    CU_ASSERT_FATAL(md_typeof(v) == MD_T_TUPLE && md_tuple_len(v) == 2);
    md_val *first = md_tuple_get(v, 0), *second = md_tuple_get(v, 1);
    CU_ASSERT_PTR_EQUAL(first, block);
    CU_ASSERT(first != second);
    CU_ASSERT(md_bytes_len(first) == n && is_pattern(md_bytes_data(first), n));
    CU_ASSERT(md_bytes_len(second) == n2 && is_pattern(md_bytes_data(second), n2));
    /* the second's own block is kept warm too */
    size_t second_usable = malloc_usable_size(second);
    CU_ASSERT_EQUAL(close_and_count(&gift, block, v), usable + second_usable);
}

/* Lengths past the end of the message: an error, the block untouched and
 * still the giver's. A length that ends exactly at the message's end
 * (no STOP after it) takes the block, fails, and frees it once. */
static void test_gift_hostile_lengths_leave_the_block_alone(void)
{
    static const uint64_t lengths[] = {0xffffffffu, BIG + 1, (uint64_t)1 << 63, UINT64_MAX};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        md_gift gift;
        uint8_t *block = new_block(BIG + 64, &gift);
        uint8_t *end = put_big(block + 32, 4, OP_BINBYTES8, BIG);
        for (int i = 0; i < 8; i++)
            block[32 + 3 + i] = (uint8_t)(lengths[k] >> (8 * i));
        uint8_t *copy = md_malloc(BIG + 64);
        CU_ASSERT_FATAL(copy != NULL);
        memcpy(copy, block, BIG + 64);
        md_val *v = NULL;
        CU_ASSERT(decode_with(&gift, block + 32, (size_t)(end - block - 32), &v) < 0);
        CU_ASSERT_PTR_NULL(v);
        CU_ASSERT_FALSE(md_gift_close(&gift));
        CU_ASSERT_EQUAL(memcmp(copy, block, BIG + 64), 0);
        md_free(copy);
        md_free(block);
    }
    md_gift gift;
    uint8_t *block = new_block(BIG + 64, &gift);
    size_t usable = malloc_usable_size(block);
    uint8_t *end = put_big(block + 32, 4, OP_BINBYTES8, BIG);
    md_val *v = NULL;
    CU_ASSERT(decode_with(&gift, block + 32, (size_t)(end - block - 32), &v) < 0);
    CU_ASSERT_FATAL(gift.taker != NULL);
    CU_ASSERT_EQUAL(close_and_count(&gift, block, NULL), usable);
}

/* Out of memory at each allocation of the decode in turn: either the
 * decode fails (and the block goes back once, whether a value took it
 * or not) or it succeeds whole. */
static void test_gift_out_of_memory_at_every_allocation_loses_nothing(void)
{
    bool completed = false;
    for (long k = 0; k < 64 && !completed; k++) {
        for (int op = 0; op < 2; op++) {
            md_gift gift;
            uint8_t *block = new_block(BIG + 4096, &gift);
            size_t usable = malloc_usable_size(block);
            uint8_t *end = op ? put_pair_tail(put_big(block + 32, 5, OP_BYTEARRAY8, BIG))
                              : put_pair_tail(put_big(block + 32, 4, OP_BINBYTES, BIG));
            md_val *v = NULL;
            md_alloc_fail_after(k);
            int rc = decode_with(&gift, block + 32, (size_t)(end - block - 32), &v);
            md_alloc_fail_after(-1);
            if (rc == 0) {
                completed = true;
                md_val *b = md_tuple_get(v, 0);
                CU_ASSERT(md_bytes_len(b) == BIG && is_pattern(md_bytes_data(b), BIG));
            } else {
                CU_ASSERT_EQUAL(rc, MD_ENOMEM);
            }
            /* a bytearray's object is allocated: refused, nothing is taken */
            size_t warm = close_and_count(&gift, block, v);
            CU_ASSERT(warm == usable);
        }
    }
    CU_ASSERT(completed);
}

void md_test_register_value_gift(void)
{
    CU_pSuite s = md_test_suite("value_gift");
    MD_ADD_TEST(s, test_gift_binbytes_take_the_block_and_what_follows_decodes);
    MD_ADD_TEST(s, test_gift_bytearray8_takes_the_block);
    MD_ADD_TEST(s, test_gift_block_lives_until_closed_when_the_value_is_popped);
    MD_ADD_TEST(s, test_gift_taken_then_failing_frees_the_block_once_and_keeps_the_protocol);
    MD_ADD_TEST(s, test_gift_is_left_alone_by_values_that_should_not_take_it);
    MD_ADD_TEST(s, test_gift_is_taken_by_the_first_big_value_only);
    MD_ADD_TEST(s, test_gift_hostile_lengths_leave_the_block_alone);
    MD_ADD_TEST(s, test_gift_out_of_memory_at_every_allocation_loses_nothing);
    MD_ADD_TEST(s, test_gift_lodged_where_the_text_lies_when_aligned_with_room);
    MD_ADD_TEST(s, test_gift_transport_guesses_where_the_payload_lies);
}
