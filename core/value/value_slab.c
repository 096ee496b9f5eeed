/* value_slab.c - pages of same-size small objects for the value layer.
 *
 * Decoding a big message makes one small object per key, str value,
 * float and small tuple, and malloc/free were a third of the decoder's
 * time; each object also paid malloc's 8-byte header and 16-byte
 * rounding. Here every size class (8-byte steps up to MD_SLAB_MAX_BYTES)
 * has pages of MD_SLAB_PAGE_BYTES, aligned to their size, so the page of
 * an object is its address rounded down; each page keeps its own free
 * list, so a page whose objects are all freed is given back (after the
 * first MD_SLAB_SPARE_PAGES, kept for new pages of any class: they absorb
 * a message-sized churn without touching malloc). Values outlive the message that made them, which
 * rules out an arena per message.
 *
 * Thread-local, as the collector's lists are: values belong to the thread
 * that made them (value.h). Every object counts as one allocation for the
 * test hook (md_alloc_fail_after), and so does every new page, so the
 * failure sweeps reach both. Under AddressSanitizer a free object is
 * poisoned, so a use after free is still caught.
 */
#include "core/value/value_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "core/base/limits.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define NCLASSES (MD_SLAB_MAX_BYTES / 8)
/* The page header takes the first cache line; objects follow. */
#define PAGE_HEADER 64

typedef struct slab_page {
    struct slab_page *prev, *next;  /* the class's pages with room       */
    void *free;                     /* freed objects, linked by 1st word */
    char *bump;                     /* objects never handed out: to end  */
    char *end;
    uint32_t live;                  /* objects handed out, not freed     */
    uint32_t size;                  /* of each object                    */
    bool listed;                    /* on its class's list               */
} slab_page;

_Static_assert(sizeof(slab_page) <= PAGE_HEADER, "slab page header fits its line");
_Static_assert((MD_SLAB_PAGE_BYTES & (MD_SLAB_PAGE_BYTES - 1)) == 0,
               "slab pages are a power of two, aligned to their size");

typedef struct slab_class {
    slab_page *avail;   /* pages with a free or never-used object */
    size_t pages;       /* pages of this class, spares not counted */
} slab_class;

static MD_THREAD_LOCAL slab_class classes[NCLASSES];
/* Empty pages kept for the next new page of any class (linked through
 * next), at most MD_SLAB_SPARE_PAGES: giving each back at once made the
 * allocator map and fault in the same memory again for every message. */
static MD_THREAD_LOCAL slab_page *spares;
static MD_THREAD_LOCAL size_t nspares;

/* A thread that ends gives its spare pages back (a client program may
 * start many threads); its other pages are empty by then, and so already
 * given back, unless it leaked values. */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static MD_THREAD_LOCAL bool exit_hooked;

static void free_spares(void *unused)
{
    (void)unused;
    while (spares) {
        slab_page *pg = spares;
        spares = pg->next;
        UNPOISON(pg, MD_SLAB_PAGE_BYTES);
        free(pg);
    }
    nspares = 0;
}

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, free_spares) != 0)
        exit_key = 0;
}

/* Asks for free_spares at this thread's end: once per thread, when it
 * first keeps a spare page. */
static void hook_thread_exit(void)
{
    if (exit_hooked)
        return;
    exit_hooked = true;
    pthread_once(&exit_key_once, make_exit_key);
    (void)pthread_setspecific(exit_key, &exit_hooked);
}

static slab_class *class_of(size_t size)
{
    MD_ASSERT(size > 0 && size <= MD_SLAB_MAX_BYTES);
    return &classes[(size + 7) / 8 - 1];
}

static void link_page(slab_class *c, slab_page *pg)
{
    pg->prev = NULL;
    pg->next = c->avail;
    if (c->avail)
        c->avail->prev = pg;
    c->avail = pg;
    pg->listed = true;
}

static void unlink_page(slab_class *c, slab_page *pg)
{
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        c->avail = pg->next;
    if (pg->next)
        pg->next->prev = pg->prev;
    pg->prev = pg->next = NULL;
    pg->listed = false;
}

static slab_page *page_new(slab_class *c, uint32_t size)
{
    void *mem = NULL;
    if (md_alloc_refused())
        return NULL;
    if (spares) {
        mem = spares;
        spares = spares->next;
        nspares--;
    } else if (posix_memalign(&mem, MD_SLAB_PAGE_BYTES, MD_SLAB_PAGE_BYTES) != 0) {
        return NULL;
    }
    slab_page *pg = mem;
    pg->free = NULL;
    pg->bump = (char *)mem + PAGE_HEADER;
    pg->end = (char *)mem + MD_SLAB_PAGE_BYTES;
    pg->live = 0;
    pg->size = size;
    POISON(pg->bump, (size_t)(pg->end - pg->bump));
    c->pages++;
    link_page(c, pg);
    return pg;
}

void *md_val__slab_alloc(size_t size)
{
    if (md_alloc_refused())
        return NULL;
    slab_class *c = class_of(size);
    uint32_t osize = (uint32_t)((size + 7) & ~(size_t)7);
    slab_page *pg = c->avail;
    if (!pg && !(pg = page_new(c, osize)))
        return NULL;
    void *obj;
    if (pg->free) {
        obj = pg->free;
        UNPOISON(obj, osize);
        memcpy(&pg->free, obj, sizeof pg->free);
    } else {
        obj = pg->bump;
        UNPOISON(obj, osize);
        pg->bump += osize;
    }
    pg->live++;
    if (!pg->free && (size_t)(pg->end - pg->bump) < osize)
        unlink_page(c, pg);   /* full: freeing an object relinks it */
    return obj;
}

void md_val__slab_free(void *obj, size_t size)
{
    slab_class *c = class_of(size);
    slab_page *pg = (slab_page *)((uintptr_t)obj & ~(uintptr_t)(MD_SLAB_PAGE_BYTES - 1));
    MD_ASSERT(pg->size == ((size + 7) & ~(size_t)7) && pg->live > 0);
    memcpy(obj, &pg->free, sizeof pg->free);
    pg->free = obj;
    POISON(obj, pg->size);
    if (!pg->listed)
        link_page(c, pg);
    if (--pg->live > 0)
        return;
    unlink_page(c, pg);
    c->pages--;
    if (nspares < MD_SLAB_SPARE_PAGES) {
        hook_thread_exit();
        POISON((char *)pg + PAGE_HEADER, MD_SLAB_PAGE_BYTES - PAGE_HEADER);
        pg->next = spares;
        spares = pg;
        nspares++;
        return;
    }
    UNPOISON(pg, MD_SLAB_PAGE_BYTES);
    free(pg);
}

void md_val__slab_stats(size_t size, size_t *pages, size_t *spare)
{
    *pages = class_of(size)->pages;
    *spare = nspares;
}
