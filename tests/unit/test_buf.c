/* test_buf.c - the growable byte buffer (core/base/buf.c): appends of every
 * kind keep the bytes in order across growth, printf past its small stack
 * buffer, steal hands over a NUL-terminated copy and empties the buffer,
 * and a buffer that failed to grow (out of memory, or a size that would
 * overflow) stays failed: later appends change nothing; room reserved to
 * be filled is faulted in at once, other room is not. */
#include "tests/unit/unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/base/limits.h"

static void test_buf_appends_in_order_across_growth(void)
{
    md_buf b = MD_BUF_INIT;
    char want[5000];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {      /* grows past its first array many times */
        char c = (char)('a' + i % 26);
        CU_ASSERT_EQUAL(md_buf_putc(&b, (uint8_t)c), 0);
        want[n++] = c;
        CU_ASSERT_EQUAL(md_buf_append(&b, "xyz", 3), 0);
        memcpy(want + n, "xyz", 3);
        n += 3;
    }
    CU_ASSERT_EQUAL(md_buf_puts(&b, "end"), 0);
    memcpy(want + n, "end", 3);
    n += 3;
    CU_ASSERT_EQUAL_FATAL(b.len, n);
    CU_ASSERT_EQUAL(memcmp(b.data, want, n), 0);
    CU_ASSERT(b.cap > b.len);             /* room for steal's NUL */
    CU_ASSERT_FALSE(md_buf_failed(&b));
    md_buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
    CU_ASSERT_EQUAL(b.len, 0);
}

static void test_buf_printf_short_and_long(void)
{
    md_buf b = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_buf_printf(&b, "%d-%s", 42, "x"), 0);
    CU_ASSERT_EQUAL(b.len, 4);
    CU_ASSERT_EQUAL(memcmp(b.data, "42-x", 4), 0);
    /* longer than the 256-byte stack buffer: written straight into b */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(md_buf_printf(&b, "[%s]", big), 0);
    CU_ASSERT_EQUAL_FATAL(b.len, 4 + 1 + 999 + 1);
    CU_ASSERT_EQUAL(b.data[4], '[');
    CU_ASSERT_EQUAL(b.data[5], 'q');
    CU_ASSERT_EQUAL(b.data[4 + 999], 'q');
    CU_ASSERT_EQUAL(b.data[4 + 1000], ']');
    md_buf_free(&b);
}

static void test_buf_steal_and_reset(void)
{
    md_buf b = MD_BUF_INIT;
    size_t len = 99;
    char *empty = md_buf_steal(&b, &len);  /* even an empty buffer */
    CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_STRING_EQUAL(empty, "");
    md_free(empty);

    md_buf_puts(&b, "hello");
    char *s = md_buf_steal(&b, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_STRING_EQUAL(s, "hello");
    CU_ASSERT_PTR_NULL(b.data);           /* the buffer is empty again */
    CU_ASSERT_EQUAL(b.len, 0);
    md_free(s);

    md_buf_puts(&b, "abc");
    size_t cap = b.cap;
    md_buf_reset(&b);                     /* len 0, memory kept */
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_EQUAL(b.cap, cap);
    md_buf_puts(&b, "d");
    CU_ASSERT_EQUAL(b.len, 1);
    CU_ASSERT_EQUAL(b.data[0], 'd');
    md_buf_free(&b);
}

static void test_buf_failure_sticks(void)
{
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "keep");
    /* a size whose doubling would overflow fails at once */
    CU_ASSERT_EQUAL(md_buf_reserve(&b, SIZE_MAX - 2), -1);
    CU_ASSERT_TRUE(md_buf_failed(&b));
    CU_ASSERT_EQUAL(md_buf_append(&b, "x", 1), -1);
    CU_ASSERT_EQUAL(md_buf_putc(&b, 'y'), -1);
    CU_ASSERT_EQUAL(md_buf_printf(&b, "%d", 1), -1);
    CU_ASSERT_PTR_NULL(md_buf_steal(&b, NULL));
    CU_ASSERT_EQUAL(b.len, 4);            /* nothing written after the failure */
    CU_ASSERT_EQUAL(memcmp(b.data, "keep", 4), 0);
    md_buf_reset(&b);                     /* reset clears the failure */
    CU_ASSERT_FALSE(md_buf_failed(&b));
    CU_ASSERT_EQUAL(md_buf_puts(&b, "ok"), 0);
    md_buf_free(&b);

    /* out of memory while growing */
    md_buf c = MD_BUF_INIT;
    md_buf_puts(&c, "abc");               /* 64 bytes */
    md_alloc_fail_after(0);
    char big[200] = { 0 };
    int rc = md_buf_append(&c, big, sizeof big);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_TRUE(md_buf_failed(&c));
    CU_ASSERT_EQUAL(c.len, 3);
    CU_ASSERT_EQUAL(md_buf_puts(&c, "more"), -1);
    CU_ASSERT_EQUAL(memcmp(c.data, "abc", 3), 0);
    md_buf_free(&c);
}

/* A buffer growing past MD_WARM_MIN_BYTES (a big message) moves into a
 * block kept warm, its bytes with it, and its free keeps the block warm
 * again for the next message. */
static void test_buf_big_growth_takes_a_warm_block_and_keeps_its_bytes(void)
{
    size_t big = 3 * MD_WARM_MIN_BYTES;
    md_alloc_warm_enable(true);
    md_alloc_warm_release();
    uint8_t *warm = md_malloc_sized(big);
    CU_ASSERT_FATAL(warm != NULL);
    md_free_sized(warm, big);
    md_buf b = MD_BUF_INIT;
    CU_ASSERT_EQUAL(md_buf_puts(&b, "header"), 0);
    CU_ASSERT_EQUAL(md_buf_reserve(&b, big - 100), 0);
    CU_ASSERT_PTR_EQUAL(b.data, warm);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    CU_ASSERT_EQUAL(b.len, 6);
    CU_ASSERT_EQUAL(memcmp(b.data, "header", 6), 0);
    memset(b.data + b.len, 'x', big - 100);
    b.len += big - 100;
    CU_ASSERT_EQUAL(md_buf_putc(&b, 'y'), 0);   /* within the spare room */
    CU_ASSERT_EQUAL(b.data[b.len - 1], 'y');
    md_buf_free(&b);
    CU_ASSERT(md_alloc_warm_bytes() >= big - 100);
    /* with nothing kept, growth is plain realloc and still keeps the bytes */
    md_alloc_warm_release();
    CU_ASSERT_EQUAL(md_buf_puts(&b, "abc"), 0);
    CU_ASSERT_EQUAL(md_buf_reserve(&b, big), 0);
    CU_ASSERT_EQUAL(memcmp(b.data, "abc", 3), 0);
    md_alloc_fail_after(0);
    int rc = md_buf_reserve(&b, 2 * big);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(memcmp(b.data, "abc", 3), 0);
    md_buf_free(&b);
    md_alloc_warm_enable(false);
}

/* Pages of [p, p + n) the kernel has in memory (whole pages only). */
static size_t resident_pages(const uint8_t *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    size_t npages = hi > lo ? (hi - lo) / page : 0;
    unsigned char *vec = malloc(npages ? npages : 1);
    CU_ASSERT_FATAL(vec != NULL);
    size_t in = 0;
    if (npages && mincore((void *)lo, hi - lo, vec) == 0)
        for (size_t i = 0; i < npages; i++)
            in += vec[i] & 1;
    free(vec);
    return in;
}

/* A big buffer reserved to be filled (a message being read) is faulted
 * in by the reserve; one reserved for output that may stay short is not.
 * 40 MiB: past the highest threshold glibc raises its mmap threshold to
 * (32 MiB) and past MD_MMAP_THRESHOLD_BYTES, so malloc maps the block on
 * its own and its pages start out absent whatever ran before. */
static void test_buf_room_reserved_to_be_filled_is_faulted_in_at_once(void)
{
    enum { N = 40 << 20 };
    /* No block kept warm by an earlier test (a listener's test server
     * turns keeping on): one would be taken instead of a fresh mapping,
     * and its last page, there already, tells the prefault to skip it. */
    md_alloc_warm_enable(false);
    md_buf filled = MD_BUF_INIT, plain = MD_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(md_buf_append(&filled, "abc", 3), 0);
    CU_ASSERT_EQUAL_FATAL(md_buf_reserve_filled(&filled, N), 0);
    CU_ASSERT_EQUAL_FATAL(md_buf_reserve(&plain, N), 0);
    CU_ASSERT(filled.cap > 3 + (size_t)N && memcmp(filled.data, "abc", 3) == 0);
    size_t pages = N / (size_t)sysconf(_SC_PAGESIZE);
    CU_ASSERT(resident_pages(plain.data, N) < pages / 4);
#ifdef MADV_POPULATE_WRITE
    CU_ASSERT(resident_pages(filled.data + 3, N) >= pages - 2);
#endif
    md_buf_free(&filled);
    md_buf_free(&plain);
}

void md_test_register_buf(void)
{
    CU_pSuite s = md_test_suite("buf");
    MD_ADD_TEST(s, test_buf_appends_in_order_across_growth);
    MD_ADD_TEST(s, test_buf_printf_short_and_long);
    MD_ADD_TEST(s, test_buf_steal_and_reset);
    MD_ADD_TEST(s, test_buf_failure_sticks);
    MD_ADD_TEST(s, test_buf_big_growth_takes_a_warm_block_and_keeps_its_bytes);
    MD_ADD_TEST(s, test_buf_room_reserved_to_be_filled_is_faulted_in_at_once);
}
