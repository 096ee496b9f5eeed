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

/* Asks the kernel to back the 2 MiB-aligned part of [p, p + n) with huge
 * pages (transparent huge pages in 'madvise' mode): a big hash index is
 * read at random, and with 4 KiB pages nearly every probe of a
 * million-entry table also missed the TLB. A hint only: it does nothing
 * on a small block or where the kernel declines. */
void md_advise_huge(void *p, size_t n);

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
