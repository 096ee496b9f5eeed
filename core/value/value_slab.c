/* value_slab.c - pages of same-size small objects for the value layer.
 *
 * Decoding a big message makes one small object per key, str value,
 * float and small tuple, and malloc/free were a third of the decoder's
 * time; each object also paid malloc's 8-byte header and 16-byte
 * rounding. Here every size class (8-byte steps up to MD_SLAB_MAX_BYTES)
 * has pages of MD_SLAB_PAGE_BYTES, aligned to their size, so the page of
 * an object is its address rounded down; each page keeps its own free
 * list, so a page whose objects are all freed is reused by any class
 * (and its memory given back to the kernel past MD_SLAB_SPARE_PAGES
 * empty pages, at once or, when the thread keeps pages, after a period
 * nothing needed it: see page_take and md_val_slab_decay). Values
 * outlive the message that made them, which rules out an arena per
 * message.
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
#include <sys/mman.h>

#include "core/base/error.h"
#include "core/base/limits.h"

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
/* Where pages come from. Pages are cut from chunks of MD_SLAB_CHUNK_BYTES
 * (one aligned mapping per chunk, chunk_map; limits.h says why chunks
 * are this big). An empty
 * page goes to the spares, MD_SLAB_SPARE_PAGES at most, which absorb a
 * message-sized churn; past that its memory is given back to the kernel
 * (madvise) and the page kept as released, to be reused first after the
 * spares. Chunks are never freed: their pages are the memory's unit. */
static MD_THREAD_LOCAL slab_page *spares;
static MD_THREAD_LOCAL size_t nspares;
/* Keeping (md_val_slab_keep): every empty page stays among the spares,
 * past MD_SLAB_SPARE_PAGES too, until md_val_slab_decay finds it was not
 * needed for a whole period. A million-item dict of {'v': i} values
 * cleared and filled again gave its 44,000 pages back at the clear and
 * faulted them in again during the fill: the kernel's fault handling was
 * a third of the server's time, the fill 205 ns an item instead of 150.
 * spares_low is the fewest spares there were since the last decay: that
 * many sat unused all along. */
static MD_THREAD_LOCAL bool keeping;
static MD_THREAD_LOCAL size_t spares_low;
/* Of the pages the last decay found idle, those it left to give back
 * (md_val_slab_release_owed): a pass over a few hundred MiB stalled the
 * loop 20-45 ms, so the daemon gives them back in slices. */
static MD_THREAD_LOCAL size_t owed;
static MD_THREAD_LOCAL slab_page *released;
static MD_THREAD_LOCAL char *carve, *carve_end;   /* untouched pages of a chunk */

/* Pages of ended threads (released), for any thread that needs one. */
static pthread_mutex_t orphans_lock = PTHREAD_MUTEX_INITIALIZER;
static slab_page *orphans;

static void release(slab_page *pg)
{
    MD_UNPOISON(pg, MD_SLAB_PAGE_BYTES);
    (void)madvise(pg, MD_SLAB_PAGE_BYTES, MADV_DONTNEED);
}

/* A thread that ends hands its empty and untouched pages to the orphans
 * (a client program may start many threads); its other pages are
 * empty by then, unless it leaked values. */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static MD_THREAD_LOCAL bool exit_hooked;

static void orphan(slab_page *pg)
{
    pg->next = orphans;
    orphans = pg;
}

static void thread_ends(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&orphans_lock);
    while (spares) {
        slab_page *pg = spares;
        spares = pg->next;
        release(pg);
        orphan(pg);
    }
    while (released) {
        slab_page *pg = released;
        released = pg->next;
        orphan(pg);
    }
    for (; carve < carve_end; carve += MD_SLAB_PAGE_BYTES)
        orphan((slab_page *)carve);
    pthread_mutex_unlock(&orphans_lock);
    nspares = 0;
}

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, thread_ends) != 0)
        exit_key = 0;
}

/* Asks for thread_ends at this thread's end: once per thread, when it
 * first cuts a chunk. */
static void hook_thread_exit(void)
{
    if (exit_hooked)
        return;
    exit_hooked = true;
    pthread_once(&exit_key_once, make_exit_key);
    (void)pthread_setspecific(exit_key, &exit_hooked);
}

/* A new chunk of MD_SLAB_CHUNK_BYTES aligned to MD_SLAB_PAGE_BYTES,
 * mapped on its own: a chunk mapped a page larger is cut down to the
 * aligned part, so alignment costs no memory (posix_memalign from
 * malloc's heap left a gap of up to a page before every chunk: 7 B per
 * stored dict item). NULL if memory runs out. */
static void *chunk_map(void)
{
    size_t span = MD_SLAB_CHUNK_BYTES + MD_SLAB_PAGE_BYTES;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + MD_SLAB_PAGE_BYTES - 1) & ~(uintptr_t)(MD_SLAB_PAGE_BYTES - 1);
    size_t head = start - (uintptr_t)raw;
    if (head)
        (void)munmap(raw, head);
    if (span - head > MD_SLAB_CHUNK_BYTES)
        (void)munmap((char *)start + MD_SLAB_CHUNK_BYTES, span - head - MD_SLAB_CHUNK_BYTES);
    return (void *)start;
}

/* An empty page to set up: NULL if memory runs out. */
static void *page_take(void)
{
    slab_page *pg = NULL;
    if (spares) {
        pg = spares;
        spares = pg->next;
        if (--nspares < spares_low)
            spares_low = nspares;
    } else if (released) {
        pg = released;
        released = pg->next;
    } else if (carve < carve_end) {
        pg = (slab_page *)carve;
        carve += MD_SLAB_PAGE_BYTES;
    } else {
        pthread_mutex_lock(&orphans_lock);
        if ((pg = orphans))
            orphans = pg->next;
        pthread_mutex_unlock(&orphans_lock);
        void *mem = pg ? NULL : chunk_map();
        if (mem) {
            hook_thread_exit();
            pg = mem;
            carve = (char *)mem + MD_SLAB_PAGE_BYTES;
            carve_end = (char *)mem + MD_SLAB_CHUNK_BYTES;
        }
    }
    return pg;
}

static void page_give(slab_page *pg)
{
    if (nspares < MD_SLAB_SPARE_PAGES || keeping) {
        MD_POISON((char *)pg + PAGE_HEADER, MD_SLAB_PAGE_BYTES - PAGE_HEADER);
        pg->next = spares;
        spares = pg;
        nspares++;
        return;
    }
    release(pg);
    pg->next = released;
    released = pg;
}

static slab_class *class_of(size_t size)
{
    MD_ASSERT(size > 0 && size <= MD_SLAB_MAX_BYTES);
    return &classes[(size + 7) / 8 - 1];
}

/* The page an object of the slab lives in. */
static slab_page *page_of(const void *obj)
{
    return (slab_page *)((uintptr_t)obj & ~(uintptr_t)(MD_SLAB_PAGE_BYTES - 1));
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
    void *mem = md_alloc_refused() ? NULL : page_take();
    if (!mem)
        return NULL;
    slab_page *pg = mem;
    pg->free = NULL;
    pg->bump = (char *)mem + PAGE_HEADER;
    pg->end = (char *)mem + MD_SLAB_PAGE_BYTES;
    pg->live = 0;
    pg->size = size;
    MD_POISON(pg->bump, (size_t)(pg->end - pg->bump));
    c->pages++;
    link_page(c, pg);
    return pg;
}

/* An object from pg, which has room; a page left full leaves its class's
 * list (freeing an object relinks it). For a new page only:
 * md_val__slab_alloc takes from a listed page itself. */
static void *take_from(slab_class *c, slab_page *pg, uint32_t osize)
{
    void *obj;
    if (pg->free) {
        obj = pg->free;
        MD_UNPOISON(obj, osize);
        memcpy(&pg->free, obj, sizeof pg->free);
    } else {
        obj = pg->bump;
        MD_UNPOISON(obj, osize);
        pg->bump += osize;
    }
    pg->live++;
    if (!pg->free && (size_t)(pg->end - pg->bump) < osize)
        unlink_page(c, pg);
    return obj;
}

/* The class has no page with room: a new one. Apart from the fast path,
 * which then needs no registers saved. */
static __attribute__((noinline)) void *alloc_new_page(slab_class *c, uint32_t osize)
{
    slab_page *pg = page_new(c, osize);
    return pg ? take_from(c, pg, osize) : NULL;
}

/* md_val__slab_alloc's end when obj was the last object of pg with room:
 * the page leaves its class's list. Apart from the fast path too. */
static __attribute__((noinline)) void *page_filled(slab_class *c, slab_page *pg, void *obj)
{
    unlink_page(c, pg);
    return obj;
}

static __attribute__((noinline, cold)) void *bad_size(size_t size)
{
    (void)class_of(size);   /* fails its assertion */
    return NULL;
}

/* The fast path takes from the class's first page itself, every rare
 * case a tail call: 36 instructions per object instead of 42 (five of
 * them pushes) for each of the four objects of a decoded {'v': i}. Two
 * pushes are left: GCC treats each thread-local access of this -fPIC
 * code as a call, though the linker makes it a plain load. */
void *md_val__slab_alloc(size_t size)
{
    if (__builtin_expect(size - 1 >= MD_SLAB_MAX_BYTES, 0))
        return bad_size(size);   /* class_of's check, as a tail call */
    if (md_alloc_refused())
        return NULL;
    slab_class *c = &classes[(size + 7) / 8 - 1];
    uint32_t osize = (uint32_t)((size + 7) & ~(size_t)7);
    slab_page *pg = c->avail;
    if (__builtin_expect(!pg, 0))
        return alloc_new_page(c, osize);
    void *obj = pg->free;
    if (obj) {
        MD_UNPOISON(obj, osize);
        void *next;
        memcpy(&next, obj, sizeof next);
        pg->free = next;
        pg->live++;
        if (__builtin_expect(!next && (size_t)(pg->end - pg->bump) < osize, 0))
            return page_filled(c, pg, obj);
        return obj;
    }
    obj = pg->bump;
    MD_UNPOISON(obj, osize);
    pg->bump += osize;
    pg->live++;
    if (__builtin_expect((size_t)(pg->end - pg->bump) < osize, 0))
        return page_filled(c, pg, obj);
    return obj;
}

void md_val__slab_free(void *obj, size_t size)
{
    slab_class *c = class_of(size);
    slab_page *pg = page_of(obj);
    MD_ASSERT(pg->size == ((size + 7) & ~(size_t)7) && pg->live > 0);
    memcpy(obj, &pg->free, sizeof pg->free);
    pg->free = obj;
    MD_POISON(obj, pg->size);
    if (!pg->listed)
        link_page(c, pg);
    if (--pg->live > 0)
        return;
    unlink_page(c, pg);
    c->pages--;
    page_give(pg);
}

/* Objects of one page go onto its free list together, and the page's
 * list membership and count are settled once for the run: a freed list
 * of str made one after another frees page by page. */
void md_val__slab_free_many(void *const *objs, size_t n)
{
    for (size_t i = 0; i < n;) {
        slab_page *pg = page_of(objs[i]);
        void *head = pg->free;
        uint32_t k = 0;
        for (; i < n && page_of(objs[i]) == pg; i++, k++) {
            MD_ASSERT(pg->live > k);
            memcpy(objs[i], &head, sizeof head);
            head = objs[i];
            MD_POISON(head, pg->size);
        }
        pg->free = head;
        slab_class *c = class_of(pg->size);
        if (!pg->listed)
            link_page(c, pg);
        if ((pg->live -= k) > 0)
            continue;
        unlink_page(c, pg);
        c->pages--;
        page_give(pg);
    }
}

/* Gives back the memory of up to n spares, turned released: adjacent
 * pages (a dict's objects freed in the order they were made) in one
 * madvise each. */
static void release_spares(size_t n)
{
    char *run = NULL;
    size_t run_bytes = 0;
    for (; n && spares; n--) {
        slab_page *pg = spares;
        spares = pg->next;
        nspares--;
        MD_UNPOISON(pg, MD_SLAB_PAGE_BYTES);
        if (run && (char *)pg == run + run_bytes) {
            run_bytes += MD_SLAB_PAGE_BYTES;
        } else if (run && (char *)pg + MD_SLAB_PAGE_BYTES == run) {
            run = (char *)pg;
            run_bytes += MD_SLAB_PAGE_BYTES;
        } else {
            if (run)
                (void)madvise(run, run_bytes, MADV_DONTNEED);
            run = (char *)pg;
            run_bytes = MD_SLAB_PAGE_BYTES;
        }
        pg->next = released;
        released = pg;
    }
    if (run)
        (void)madvise(run, run_bytes, MADV_DONTNEED);
    if (spares_low > nspares)
        spares_low = nspares;
}

static size_t spares_past_keep(size_t n)
{
    return n > MD_SLAB_SPARE_PAGES ? n - MD_SLAB_SPARE_PAGES : 0;
}

void md_val_slab_keep(bool on)
{
    keeping = on;
    if (!on)
        release_spares(spares_past_keep(nspares));
    spares_low = nspares;
    owed = 0;
}

size_t md_val_slab_release_owed(size_t most)
{
    /* pages taken since the decay are no longer there to give back */
    if (owed > spares_past_keep(nspares))
        owed = spares_past_keep(nspares);
    size_t n = owed < most ? owed : most;
    release_spares(n);
    owed -= n;
    return owed;
}

size_t md_val_slab_decay(size_t most)
{
    owed = spares_past_keep(spares_low);
    (void)md_val_slab_release_owed(most);
    spares_low = nspares;
    return spares_past_keep(nspares);
}

void md_val__slab_stats(size_t size, size_t *pages, size_t *spare)
{
    *pages = class_of(size)->pages;
    *spare = nspares;
}
