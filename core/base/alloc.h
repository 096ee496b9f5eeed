/* alloc.h - managerd's allocator entry points.
 *
 * Every allocation goes through these so that tests can make the Nth one
 * fail (md_alloc_fail_after) and sweep failure paths of the decoders and
 * the dispatcher. They return NULL on failure like malloc; nothing here
 * aborts.
 */
#ifndef MD_ALLOC_H
#define MD_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* State of the value layer that must not be shared between the threads of
 * a client program (one client per thread, mdc.h) is thread-local. */
#define MD_THREAD_LOCAL _Thread_local

void *md_malloc(size_t n);
void *md_calloc(size_t count, size_t size);
void *md_realloc(void *p, size_t n);
void md_free(void *p);
char *md_strdup(const char *s);
char *md_strndup(const char *s, size_t n);

/* The one way to grow an array that is appended to. arrp is the address
 * of the array pointer (T **, the array may be NULL), *cap its capacity in
 * elements of elemsize bytes. Makes room for at least need elements:
 * doubles the capacity (a first array takes MD_GROW_FIRST_BYTES, a cache line:
 * smaller is not worth a call to the allocator) or takes need when that is
 * more. 0, or -1 when need * elemsize would overflow or memory runs out;
 * on failure the array and *cap are unchanged and still valid. */
#define MD_GROW_FIRST_BYTES 64
int md_grow(void *arrp, size_t *cap, size_t need, size_t elemsize);
/* md_grow for an array that may still be inline_buf, a fixed buffer of *cap
 * elements inside its owner (so that small work never calls the
 * allocator): the first growth copies it to the heap and leaves the buffer
 * alone. A non-zero most bounds the capacity (a limit the caller enforces
 * on the count: a stack of at most most items never takes room for more);
 * need > most fails. md_grow is md_grow_inline(arrp, cap, NULL, need, 0,
 * elemsize). */
int md_grow_inline(void *arrp, size_t *cap, const void *inline_buf, size_t need, size_t most,
                   size_t elemsize);

/* Memory an allocator keeps for reuse (a free slab object, a block kept
 * warm) is poisoned under AddressSanitizer, so a use after free of it is
 * still caught. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define MD_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define MD_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define MD_POISON(p, n) ((void)(p), (void)(n))
#define MD_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The server's settings of malloc (mallopt), for the daemon and for the
 * programs that measure its code as it runs there (bench_pickle):
 * blocks of MD_MMAP_THRESHOLD_BYTES and more (large requests and
 * replies) get their own mappings, given back when freed, where glibc
 * would raise the threshold after the first large free and keep later
 * ones in a heap that fragments; and the heap's top is trimmed only past
 * MD_TRIM_THRESHOLD_BYTES, or every message's temporary blocks would be
 * given back and faulted in again (the slab's chunks are mapped apart,
 * so the heap holds little else: decoding a 100k str list took 2.9x as
 * long with glibc's defaults). The daemon trims itself, deferred
 * (MD_TRIM_DELAY_MS). */
void md_alloc_tune_for_server(void);

/* Big blocks kept warm. A big message costs its buffers' page faults
 * more than its copies (a fresh 10 MB block faults 2,441 pages in, and
 * unmapping it shoots them down again): a block of MD_WARM_MIN_BYTES or
 * more freed through md_free_sized is kept (at most MD_WARM_BLOCKS of
 * them, MD_WARM_MAX_BYTES each) for the next md_malloc_sized of about
 * its size, until md_alloc_warm_release gives them all back (the
 * daemon does so when big messages stop: MD_TRIM_DELAY_MS). Only while
 * md_alloc_warm_enable(true) is in force. A fresh block is plain
 * malloc: huge pages for it cost more than they saved (alloc.c). Any
 * block of either may be freed with md_free or resized with
 * md_realloc; below MD_WARM_MIN_BYTES both are md_malloc and md_free.
 * md_malloc_sized counts as one allocation for the test hook. */
void *md_malloc_sized(size_t n);
/* Keeping blocks is off until turned on (the daemon does, with the
 * deferred trim that gives them back); turning it off releases them. */
void md_alloc_warm_enable(bool on);
/* p (may be NULL) was allocated with at least n bytes. */
void md_free_sized(void *p, size_t n);
/* A kept block for n bytes, NULL when none fits (then allocate as
 * usual): for a buffer that would otherwise be realloc'ed. */
void *md_alloc_warm_take(size_t n);
void md_alloc_warm_release(void);
/* Bytes held in kept blocks (tests, statistics). */
size_t md_alloc_warm_bytes(void);

/* Asks the kernel to back the 2 MiB-aligned part of [p, p + n) with huge
 * pages (transparent huge pages in 'madvise' mode): a big hash index is
 * read at random, and with 4 KiB pages nearly every probe of a
 * million-entry table also missed the TLB. A hint only: it does nothing
 * on a small block or where the kernel declines. */
void md_advise_huge(void *p, size_t n);

/* Faults [p, p + n) in with one call (MADV_POPULATE_WRITE) instead of
 * one page fault per 4 KiB page as it is first written: for memory about
 * to be written whole (a big message's receive buffer; about 10% of a
 * fresh 10 MB put's server time). Memory whose first page is already
 * there is left alone (walking it costs more than it saves). A hint
 * only: nothing happens where the kernel lacks it (before Linux 5.14). */
void md_alloc_prefault(void *p, size_t n);

/* For allocators built on top of these (the value slab, which hands out
 * many objects per block): counts one allocation against the test hook
 * below, true when that allocation must fail. */
bool md_alloc_refused(void);

/* Test hook: after n more successful allocations, every allocation fails
 * until md_alloc_fail_after(-1) turns the hook off. */
void md_alloc_fail_after(long n);
/* Number of allocations refused by the hook so far. */
unsigned long md_alloc_failures(void);

/* The C stack, the other resource recursion spends: true when the
 * calling thread has less than MD_STACK_RESERVE_BYTES of stack left.
 * Every recursive walk checks it beside its depth counter, so a depth
 * limit is safe whatever a frame costs (sanitizer builds have frames
 * several times larger) and whatever stack a client program's thread
 * has. */
bool md_stack_exhausted(void);

#endif /* MD_ALLOC_H */
