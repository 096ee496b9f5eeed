/* alloc.c - allocator wrappers with a failure-injection hook for tests. */
/* pthread_getattr_np is a GNU extension (the fuzz targets build without
 * the project's -D_GNU_SOURCE). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/base/alloc.h"
#include "core/base/limits.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Thread-local: the client library may run one client per thread. */
static MD_THREAD_LOCAL long fail_countdown = -1;
static MD_THREAD_LOCAL unsigned long failures;

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        failures++;
        return 1;
    }
    fail_countdown--;
    return 0;
}

bool md_alloc_refused(void)
{
    return should_fail() != 0;
}

void *md_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *md_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *md_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void md_free(void *p)
{
    free(p);
}

int md_grow(void *arrp, size_t *cap, size_t need, size_t elemsize)
{
    return md_grow_inline(arrp, cap, NULL, need, 0, elemsize);
}

int md_grow_inline(void *arrp, size_t *cap, const void *inline_buf, size_t need, size_t most,
                   size_t elemsize)
{
    if (need <= *cap)
        return 0;
    if (elemsize == 0 || need > SIZE_MAX / elemsize || (most && need > most))
        return -1;
    size_t top = SIZE_MAX / elemsize;
    if (most && most < top)
        top = most;
    size_t ncap = *cap > top / 2 ? top : *cap * 2;
    if (ncap < MD_GROW_FIRST_BYTES / elemsize)
        ncap = MD_GROW_FIRST_BYTES / elemsize;
    if (ncap > top)
        ncap = top;
    if (ncap < need)
        ncap = need;
    /* The pointer is read and written as bytes: arrp may point at any
     * object pointer type (T **), which void ** may not alias. */
    void *old, *arr;
    memcpy(&old, arrp, sizeof old);
    if (old && old == inline_buf) {
        if (!(arr = md_malloc(ncap * elemsize)))
            return -1;
        memcpy(arr, old, *cap * elemsize);
    } else if (!(arr = md_realloc(old, ncap * elemsize))) {
        return -1;
    }
    memcpy(arrp, &arr, sizeof arr);
    *cap = ncap;
    return 0;
}

/* ---- big blocks kept warm ------------------------------------------------ */

/* One list for the process: a block freed by one thread may serve the
 * next big message of another (the client library's threads). Kept
 * blocks are poisoned under AddressSanitizer, so a use after free is
 * still caught. */
static pthread_mutex_t warm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct warm_block {
    void *p;
    size_t size;   /* malloc_usable_size */
} warm[MD_WARM_BLOCKS];
static size_t nwarm;
/* Off until the daemon turns it on (md_alloc_warm_enable): a client
 * program has nothing that would give the blocks back. */
static bool warm_on;

void md_alloc_warm_enable(bool on)
{
    warm_on = on;
    if (!on)
        md_alloc_warm_release();
}

/* The kept block that fits n best, taken off the list; NULL if none is at
 * least n and at most half again as big (a small value must not sit in a
 * huge block). */
static void *warm_take(size_t n)
{
    size_t best = MD_WARM_BLOCKS;
    pthread_mutex_lock(&warm_lock);
    for (size_t i = 0; i < nwarm; i++)
        if (warm[i].size >= n && warm[i].size - n <= n / 2 &&
            (best == MD_WARM_BLOCKS || warm[i].size < warm[best].size))
            best = i;
    void *p = NULL;
    if (best < MD_WARM_BLOCKS) {
        p = warm[best].p;
        MD_UNPOISON(p, warm[best].size);
        warm[best] = warm[--nwarm];
    }
    pthread_mutex_unlock(&warm_lock);
    return p;
}

void *md_malloc_sized(size_t n)
{
    if (n < MD_WARM_MIN_BYTES || n > MD_WARM_MAX_BYTES)
        return md_malloc(n);
    if (should_fail())
        return NULL;
    void *p = warm_take(n);
    /* Fresh memory gets no huge-page advice: on this VM the kernel's
     * clearing of each new 2 MiB page was 72% of a fresh server's 10 MB
     * q.put() (16-30 ms a put, against 4 ms faulting 4 KiB pages in). */
    return p ? p : malloc(n);
}

void *md_alloc_warm_take(size_t n)
{
    /* Not an allocation for the test hook: md_grow's, after it, is. */
    if (n < MD_WARM_MIN_BYTES || n > MD_WARM_MAX_BYTES)
        return NULL;
    return warm_take(n);
}

void md_free_sized(void *p, size_t n)
{
    if (!p || n < MD_WARM_MIN_BYTES || n > MD_WARM_MAX_BYTES || !warm_on) {
        free(p);
        return;
    }
    size_t size = malloc_usable_size(p);
    void *evicted = NULL;
    pthread_mutex_lock(&warm_lock);
    if (nwarm == MD_WARM_BLOCKS) {
        /* The oldest goes: the next message is likelier to be like the
         * last ones. */
        evicted = warm[0].p;
        MD_UNPOISON(evicted, warm[0].size);
        memmove(warm, warm + 1, (MD_WARM_BLOCKS - 1) * sizeof warm[0]);
        nwarm--;
    }
    warm[nwarm].p = p;
    warm[nwarm].size = size;
    nwarm++;
    MD_POISON(p, size);
    pthread_mutex_unlock(&warm_lock);
    free(evicted);
}

void md_alloc_warm_release(void)
{
    pthread_mutex_lock(&warm_lock);
    while (nwarm) {
        nwarm--;
        MD_UNPOISON(warm[nwarm].p, warm[nwarm].size);
        free(warm[nwarm].p);
    }
    pthread_mutex_unlock(&warm_lock);
}

size_t md_alloc_warm_bytes(void)
{
    size_t total = 0;
    pthread_mutex_lock(&warm_lock);
    for (size_t i = 0; i < nwarm; i++)
        total += warm[i].size;
    pthread_mutex_unlock(&warm_lock);
    return total;
}

char *md_strndup(const char *s, size_t n)
{
    char *p = md_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *md_strdup(const char *s)
{
    return md_strndup(s, strlen(s));
}

void md_alloc_fail_after(long n)
{
    fail_countdown = n;
}

unsigned long md_alloc_failures(void)
{
    return failures;
}

/* ---- stack ---------------------------------------------------------------- */

/* The lowest address this thread's stack may reach before a walk stops:
 * found once per thread from the thread's stack bounds (the main thread's
 * follow RLIMIT_STACK). 0 while unknown; 1 when the bounds cannot be read,
 * which leaves only the depth counters. */
static MD_THREAD_LOCAL uintptr_t stack_floor;

static uintptr_t find_stack_floor(void)
{
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return 1;
    int rc = pthread_attr_getstack(&attr, &low, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0 || size <= 2 * MD_STACK_RESERVE_BYTES)
        return 1;
    return (uintptr_t)low + MD_STACK_RESERVE_BYTES;
}

bool md_stack_exhausted(void)
{
    if (!stack_floor)
        stack_floor = find_stack_floor();
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    return here < stack_floor;
}

#if defined(MADV_HUGEPAGE) || defined(MADV_POPULATE_WRITE)
/* madvise(advice) on the whole units of unit bytes (a power of two)
 * inside [p, p + n): a hint, so failures are ignored. */
static void advise_units(void *p, size_t n, uintptr_t unit, int advice)
{
    uintptr_t lo = ((uintptr_t)p + unit - 1) & ~(unit - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(unit - 1);
    if (p && hi > lo)
        (void)madvise((void *)lo, hi - lo, advice);
}
#endif

void md_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    advise_units(p, n, (uintptr_t)MD_HUGE_PAGE_BYTES, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

void md_alloc_prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    /* Only memory not there yet: walking 10 MB of pages that are (a
     * block the heap had freed and hands out again) cost a put 0.5 ms.
     * Its last whole page tells: the first may have been written by the
     * allocator (realloc's copy, AddressSanitizer's fill of a block's
     * first 4 KiB) even in a block that is otherwise new. */
    const uintptr_t page = 4096;
    uintptr_t last = (((uintptr_t)p + n) & ~(page - 1)) - page;
    unsigned char in = 0;
    if (n < 2 * page || mincore((void *)last, page, &in) != 0 || (in & 1))
        return;
    advise_units(p, n, page, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

void md_alloc_tune_for_server(void)
{
    mallopt(M_MMAP_THRESHOLD, MD_MMAP_THRESHOLD_BYTES);
    mallopt(M_TRIM_THRESHOLD, MD_TRIM_THRESHOLD_BYTES);
}
