/* test_alloc.c - md_grow, the one growth policy of appended arrays
 * (core/base/alloc.c): it doubles, jumps to what is asked when that is
 * more, keeps the items across growth, refuses a count whose size in
 * bytes would overflow, and leaves the array as it was when memory runs
 * out; md_grow_inline moves an owner's inline buffer to the heap once,
 * items kept and the buffer untouched, and never passes its bound. Big
 * blocks freed with md_free_sized are kept warm for the next allocation
 * of about their size while that is turned on, a bounded number of
 * them, and given back by md_alloc_warm_release. */
#include "tests/unit/unit.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"

static void test_grow_doubles_and_keeps_items(void)
{
    uint32_t *arr = NULL;
    size_t cap = 0, len = 0;
    size_t grew = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        size_t before = cap;
        CU_ASSERT_EQUAL_FATAL(md_grow(&arr, &cap, len + 1, sizeof *arr), 0);
        CU_ASSERT(cap >= len + 1);
        if (cap != before) {
            grew++;
            CU_ASSERT(before == 0 ? cap == MD_GROW_FIRST_BYTES / sizeof *arr
                                  : cap == 2 * before);
        }
        arr[len++] = i * 7;
    }
    /* 16 items doubled to at least 10000: 11 growths, not one per item. */
    CU_ASSERT_EQUAL(grew, 11);
    size_t bad = 0;
    for (uint32_t i = 0; i < len; i++)
        bad += arr[i] != i * 7;
    CU_ASSERT_EQUAL(bad, 0);
    md_free(arr);
}

static void test_grow_takes_need_when_more_and_is_a_noop_with_room(void)
{
    char *arr = NULL;
    size_t cap = 0;
    CU_ASSERT_EQUAL_FATAL(md_grow(&arr, &cap, 1000, 1), 0);
    CU_ASSERT_EQUAL(cap, 1000);
    char *same = arr;
    CU_ASSERT_EQUAL(md_grow(&arr, &cap, 1000, 1), 0);
    CU_ASSERT_EQUAL(md_grow(&arr, &cap, 3, 1), 0);
    CU_ASSERT_PTR_EQUAL(arr, same);
    CU_ASSERT_EQUAL(cap, 1000);
    CU_ASSERT_EQUAL_FATAL(md_grow(&arr, &cap, 1001, 1), 0);
    CU_ASSERT_EQUAL(cap, 2000);
    md_free(arr);
}

static void test_grow_refuses_a_size_that_overflows(void)
{
    uint64_t *arr = NULL;
    size_t cap = 0;
    CU_ASSERT_EQUAL_FATAL(md_grow(&arr, &cap, 4, sizeof *arr), 0);
    uint64_t *kept = arr;
    size_t kept_cap = cap;
    arr[0] = 42;
    CU_ASSERT_EQUAL(md_grow(&arr, &cap, SIZE_MAX / sizeof *arr + 1, sizeof *arr), -1);
    CU_ASSERT_EQUAL(md_grow(&arr, &cap, SIZE_MAX, 2), -1);
    CU_ASSERT_PTR_EQUAL(arr, kept);
    CU_ASSERT_EQUAL(cap, kept_cap);
    CU_ASSERT_EQUAL(arr[0], 42);
    md_free(arr);
}

static void test_grow_out_of_memory_leaves_the_array(void)
{
    int *arr = NULL;
    size_t cap = 0;
    md_alloc_fail_after(0);
    int rc = md_grow(&arr, &cap, 1, sizeof *arr);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NULL(arr);
    CU_ASSERT_EQUAL(cap, 0);
    CU_ASSERT_EQUAL_FATAL(md_grow(&arr, &cap, 3, sizeof *arr), 0);
    size_t had = cap;
    for (size_t i = 0; i < had; i++)
        arr[i] = (int)i;
    int *kept = arr;
    md_alloc_fail_after(0);
    rc = md_grow(&arr, &cap, had + 1, sizeof *arr);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_EQUAL(arr, kept);
    CU_ASSERT_EQUAL(cap, had);
    CU_ASSERT_EQUAL(arr[had - 1], (int)had - 1);
    CU_ASSERT_EQUAL(md_grow(&arr, &cap, had + 1, sizeof *arr), 0);
    CU_ASSERT_EQUAL(cap, 2 * had);
    CU_ASSERT_EQUAL(arr[had - 1], (int)had - 1);
    md_free(arr);
}

static void test_grow_inline_moves_to_the_heap_once_within_bound(void)
{
    struct { uint16_t inline_buf[8]; uint16_t *arr; size_t cap, len; } o;
    o.arr = o.inline_buf;
    o.cap = 8;
    o.len = 0;
    for (uint16_t i = 0; i < 8; i++)
        CU_ASSERT_EQUAL_FATAL(md_grow_inline(&o.arr, &o.cap, o.inline_buf, ++o.len, 100,
                                             sizeof *o.arr), 0);
    CU_ASSERT_PTR_EQUAL(o.arr, o.inline_buf);         /* room: no allocation */
    for (uint16_t i = 0; i < 8; i++)
        o.arr[i] = (uint16_t)(i + 1);
    CU_ASSERT_EQUAL_FATAL(md_grow_inline(&o.arr, &o.cap, o.inline_buf, 9, 100, sizeof *o.arr), 0);
    CU_ASSERT(o.arr != o.inline_buf);
    CU_ASSERT_EQUAL(o.cap, MD_GROW_FIRST_BYTES / sizeof *o.arr);   /* 32 > 2 x 8 */
    size_t bad = 0;
    for (uint16_t i = 0; i < 8; i++)
        bad += o.arr[i] != i + 1 || o.inline_buf[i] != i + 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL_FATAL(md_grow_inline(&o.arr, &o.cap, o.inline_buf, 33, 100, sizeof *o.arr), 0);
    CU_ASSERT_EQUAL(o.cap, 64);
    CU_ASSERT_EQUAL_FATAL(md_grow_inline(&o.arr, &o.cap, o.inline_buf, 65, 100, sizeof *o.arr), 0);
    CU_ASSERT_EQUAL(o.cap, 100);                      /* doubled, cut to the bound */
    uint16_t *kept = o.arr;
    CU_ASSERT_EQUAL(md_grow_inline(&o.arr, &o.cap, o.inline_buf, 101, 100, sizeof *o.arr), -1);
    CU_ASSERT_PTR_EQUAL(o.arr, kept);
    CU_ASSERT_EQUAL(o.cap, 100);
    CU_ASSERT_EQUAL(o.arr[7], 8);
    md_free(o.arr);
}

static void test_grow_inline_out_of_memory_keeps_the_buffer(void)
{
    int inline_buf[4] = {1, 2, 3, 4};
    int *arr = inline_buf;
    size_t cap = 4;
    md_alloc_fail_after(0);
    int rc = md_grow_inline(&arr, &cap, inline_buf, 5, 0, sizeof *arr);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_EQUAL(arr, inline_buf);
    CU_ASSERT_EQUAL(cap, 4);
}

/* ---- big blocks kept warm ---- */

#define MIB ((size_t)1 << 20)

static void test_warm_block_freed_serves_the_next_allocation_of_its_size(void)
{
    /* off (a client program): a big block is freed at once */
    md_alloc_warm_enable(false);
    md_free_sized(md_malloc_sized(4 * MIB), 4 * MIB);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    md_alloc_warm_enable(true);
    uint8_t *p = md_malloc_sized(4 * MIB);
    CU_ASSERT_FATAL(p != NULL);
    p[0] = 1;
    p[4 * MIB - 1] = 2;
    md_free_sized(p, 4 * MIB);
    CU_ASSERT(md_alloc_warm_bytes() >= 4 * MIB);
    /* a little smaller still fits; the block leaves the list */
    uint8_t *q = md_malloc_sized(4 * MIB - 1000);
    CU_ASSERT_PTR_EQUAL(q, p);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    md_free(q);   /* any kept block may be freed plainly */
    /* turning it off gives back what is kept */
    md_free_sized(md_malloc_sized(4 * MIB), 4 * MIB);
    CU_ASSERT(md_alloc_warm_bytes() >= 4 * MIB);
    md_alloc_warm_enable(false);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
}

static void test_warm_block_much_bigger_than_asked_is_not_handed_out(void)
{
    md_alloc_warm_enable(true);
    md_alloc_warm_release();
    uint8_t *big = md_malloc_sized(8 * MIB);
    CU_ASSERT_FATAL(big != NULL);
    md_free_sized(big, 8 * MIB);
    size_t kept = md_alloc_warm_bytes();
    CU_ASSERT(kept >= 8 * MIB);
    uint8_t *small = md_malloc_sized(2 * MIB);
    CU_ASSERT_FATAL(small != NULL);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), kept);   /* still kept */
    CU_ASSERT_PTR_NULL(md_alloc_warm_take(2 * MIB));
    md_free_sized(small, 2 * MIB);
    md_alloc_warm_enable(false);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
}

static void test_warm_keeps_at_most_its_blocks_and_no_small_or_huge_one(void)
{
    md_alloc_warm_enable(true);
    md_alloc_warm_release();
    void *small = md_malloc_sized(MD_WARM_MIN_BYTES - 1);
    md_free_sized(small, MD_WARM_MIN_BYTES - 1);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    void *huge = md_malloc_sized(MD_WARM_MAX_BYTES + 1);   /* mapped, never touched */
    CU_ASSERT_FATAL(huge != NULL);
    md_free_sized(huge, MD_WARM_MAX_BYTES + 1);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    for (int i = 0; i < MD_WARM_BLOCKS + 3; i++)
        md_free_sized(md_malloc_sized(MD_WARM_MIN_BYTES), MD_WARM_MIN_BYTES);
    /* one block is taken back and freed each time: never more than one */
    CU_ASSERT(md_alloc_warm_bytes() < 2 * MD_WARM_MIN_BYTES + 4096);
    void *blocks[MD_WARM_BLOCKS + 3];
    for (int i = 0; i < MD_WARM_BLOCKS + 3; i++)
        blocks[i] = md_malloc_sized(MD_WARM_MIN_BYTES);
    for (int i = 0; i < MD_WARM_BLOCKS + 3; i++)
        md_free_sized(blocks[i], MD_WARM_MIN_BYTES);
    size_t kept = md_alloc_warm_bytes();
    CU_ASSERT(kept >= MD_WARM_BLOCKS * MD_WARM_MIN_BYTES);
    CU_ASSERT(kept < (MD_WARM_BLOCKS + 1) * MD_WARM_MIN_BYTES);
    md_alloc_warm_enable(false);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
}

static void test_warm_allocation_fails_under_the_hook_and_keeps_the_block(void)
{
    md_alloc_warm_enable(true);
    md_alloc_warm_release();
    md_free_sized(md_malloc_sized(2 * MIB), 2 * MIB);
    size_t kept = md_alloc_warm_bytes();
    CU_ASSERT(kept >= 2 * MIB);
    unsigned long before = md_alloc_failures();
    md_alloc_fail_after(0);
    void *p = md_malloc_sized(2 * MIB);
    md_alloc_fail_after(-1);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(md_alloc_failures(), before + 1);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), kept);
    md_alloc_warm_enable(false);
}

void md_test_register_alloc(void)
{
    CU_pSuite s = md_test_suite("alloc");
    MD_ADD_TEST(s, test_grow_doubles_and_keeps_items);
    MD_ADD_TEST(s, test_grow_takes_need_when_more_and_is_a_noop_with_room);
    MD_ADD_TEST(s, test_grow_refuses_a_size_that_overflows);
    MD_ADD_TEST(s, test_grow_out_of_memory_leaves_the_array);
    MD_ADD_TEST(s, test_grow_inline_moves_to_the_heap_once_within_bound);
    MD_ADD_TEST(s, test_grow_inline_out_of_memory_keeps_the_buffer);
    MD_ADD_TEST(s, test_warm_block_freed_serves_the_next_allocation_of_its_size);
    MD_ADD_TEST(s, test_warm_block_much_bigger_than_asked_is_not_handed_out);
    MD_ADD_TEST(s, test_warm_keeps_at_most_its_blocks_and_no_small_or_huge_one);
    MD_ADD_TEST(s, test_warm_allocation_fails_under_the_hook_and_keeps_the_block);
}
