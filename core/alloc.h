/* alloc.h - managerd's allocator entry points.
 *
 * Every allocation goes through these so that tests can make the Nth one
 * fail (md_alloc_fail_after) and sweep failure paths of the decoders and
 * the dispatcher. They return NULL on failure like malloc; nothing here
 * aborts.
 */
#ifndef MD_ALLOC_H
#define MD_ALLOC_H

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

/* Test hook: after n more successful allocations, every allocation fails
 * until md_alloc_fail_after(-1) turns the hook off. */
void md_alloc_fail_after(long n);
/* Number of allocations refused by the hook so far. */
unsigned long md_alloc_failures(void);

#endif /* MD_ALLOC_H */
