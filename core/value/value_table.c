/* value_table.c - the mutable containers: list, and the insertion-ordered
 * hash table behind dict, set and frozenset (CPython's compact dict
 * layout: a small-integer index over a dense array of entries).
 *
 * Each entry keeps 32 bits of its key's hash, as CPython's dict keeps the
 * whole hash: a probe compares hashes before it touches a key (most
 * slots are rejected without a cache miss on the key object), and a
 * rebuild places entries by their kept hash without hashing any key
 * again. Equal keys have equal hashes in Python, so rejecting on a hash
 * mismatch is exact. The probe sequence starts from those 32 bits only,
 * which spreads keys as well as the full hash for any index below 2^32
 * slots (beyond, still correct, just less spread).
 *
 * Two more things keep a probe of a big table to about one cache miss
 * (a million-item d.update() spent 40% of its time in the probe, waiting
 * on the index and then on the kept hash of a slot's entry):
 *  - an index slot holds, in the bits above the entry number that its
 *    width leaves free, a tag of high hash bits: a slot whose tag
 *    differs is passed without reading the kept hash (9 tag bits at a
 *    million entries, so 511 in 512 foreign slots cost nothing);
 *  - the probe looks at PROBE_RUN neighbouring slots (one cache line)
 *    before jumping on with CPython's perturbed recurrence, so the next
 *    slot is usually in the line the first miss brought in.
 */
#include <stddef.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"

/* ======================================================================
 * Blocks
 * ====================================================================== */

/* A table's index and entries blocks and a list's items array: the
 * small ones (a small dict's 8-slot index, its entries for a few items,
 * the items of a list of up to 10) from the value slab, the others from
 * malloc. A million small dict values took three mallocs each (object,
 * index, entries: 14% of a d.update() of str -> dict items in malloc and
 * free, and 64 bytes of malloc headers and rounding per item); a list
 * nested 10,000 deep decoded no faster than CPython's pickle, half of it
 * in malloc and realloc of one-item arrays. The size a block was taken
 * with is its owner's to know. */
static void *blk_alloc(size_t size)
{
    return size <= MD_SLAB_MAX_BYTES ? md_val__slab_alloc(size) : md_malloc(size);
}

static void blk_free(void *mem, size_t size)
{
    if (!mem)
        return;
    if (size <= MD_SLAB_MAX_BYTES)
        md_val__slab_free(mem, size);
    else
        md_free(mem);
}

/* A block of old bytes made one of new bytes (both not 0), its first
 * keep bytes kept; realloc when both are malloc's. NULL when out of
 * memory, the old block unchanged. */
static void *blk_resize(void *mem, size_t old, size_t new, size_t keep)
{
    if (!mem)
        return blk_alloc(new);
    if (old > MD_SLAB_MAX_BYTES && new > MD_SLAB_MAX_BYTES)
        return md_realloc(mem, new);
    void *to = blk_alloc(new);
    if (!to)
        return NULL;
    memcpy(to, mem, keep);
    blk_free(mem, old);
    return to;
}

/* ======================================================================
 * list
 * ====================================================================== */

md_val *md_list_new(size_t capacity_hint)
{
    md_listobj *l = md_val__alloc_gc(MD_T_LIST, sizeof *l);
    if (!l)
        return NULL;
    l->len = l->cap = 0;
    l->items = NULL;
    if (capacity_hint && capacity_hint < SIZE_MAX / sizeof(md_val *)) {
        l->items = blk_alloc(capacity_hint * sizeof(md_val *));
        if (!l->items) {
            md_decref(&l->h);
            return NULL;
        }
        l->cap = capacity_hint;
    }
    return &l->h;
}

size_t md_list_len(const md_val *l)
{
    return ((const md_listobj *)l)->len;
}

md_val *md_list_get(const md_val *l, size_t i)
{
    const md_listobj *lp = (const md_listobj *)l;
    MD_ASSERT(i < lp->len);
    return lp->items[i];
}

md_val *const *md_seq_items(const md_val *v, size_t *len)
{
    static md_val *const no_items[1];
    *len = 0;
    switch (v ? md_typeof(v) : MD_T_NONE) {
    case MD_T_TUPLE:
        *len = ((const md_tupleobj *)v)->len;
        return ((const md_tupleobj *)v)->items;
    case MD_T_LIST:
        *len = ((const md_listobj *)v)->len;
        /* an empty list may have no array yet: callers test for NULL */
        return *len ? ((const md_listobj *)v)->items : no_items;
    default:
        return NULL;
    }
}

int md_list_reserve(md_val *l, size_t n)
{
    md_listobj *lp = (md_listobj *)l;
    if (n > SIZE_MAX / sizeof(md_val *) - lp->len)
        return -1;
    size_t want = lp->len + n;
    if (want <= lp->cap)
        return 0;
    /* At least CPython's over-allocation (about 1/8), so that appends
     * and batches do not realloc each time. Not md_grow: doubling would
     * leave up to half of a big list's items array unused, where CPython
     * (and the bytes-per-item figures of the README) waste an eighth. */
    size_t cap = lp->len + (lp->len >> 3) + (lp->len < 9 ? 3 : 6);
    if (cap < want)
        cap = want;
    if (cap > SIZE_MAX / sizeof(md_val *))
        return -1;
    md_val **items = blk_resize(lp->items, lp->cap * sizeof(md_val *), cap * sizeof(md_val *),
                                lp->len * sizeof(md_val *));
    if (!items)
        return -1;
    lp->items = items;
    lp->cap = cap;
    return 0;
}

/* Room for one more item. */
static int list_grow(md_listobj *l)
{
    return md_list_reserve(&l->h, 1);
}

int md_list_append(md_val *l, md_val *item)
{
    md_listobj *lp = (md_listobj *)l;
    if (list_grow(lp) < 0)
        return -1;
    lp->items[lp->len++] = md_incref(item);
    return 0;
}

int md_list_append_steal(md_val *l, md_val *item)
{
    md_listobj *lp = (md_listobj *)l;
    if (list_grow(lp) < 0) {
        md_decref(item);
        return -1;
    }
    lp->items[lp->len++] = item;
    return 0;
}

/* md_list_extend's work; steal: the references move into the list
 * (the caller forgets them) instead of being taken anew. */
static inline __attribute__((always_inline)) int
list_extend(md_val *l, md_val *const *items, size_t n, size_t stride, bool steal)
{
    md_listobj *lp = (md_listobj *)l;
    if (n == 0)
        return 0;   /* an empty list may have no array to point into */
    if (md_list_reserve(l, n) < 0)
        return -1;
    md_val **dst = lp->items + lp->len;
    for (size_t i = 0; i < n; i++)
        dst[i] = steal ? items[i * stride] : md_incref(items[i * stride]);
    lp->len += n;
    return 0;
}

int md_list_extend(md_val *l, md_val *const *items, size_t n, size_t stride)
{
    return list_extend(l, items, n, stride, false);
}

int md_list_extend_steal(md_val *l, md_val *const *items, size_t n, size_t stride)
{
    return list_extend(l, items, n, stride, true);
}

void md_list_set(md_val *l, size_t i, md_val *item)
{
    md_listobj *lp = (md_listobj *)l;
    MD_ASSERT(i < lp->len);
    md_val *old = lp->items[i];
    lp->items[i] = md_incref(item);
    md_decref(old);
}

int md_list_insert(md_val *l, size_t i, md_val *item)
{
    md_listobj *lp = (md_listobj *)l;
    if (list_grow(lp) < 0)
        return -1;
    if (i > lp->len)
        i = lp->len;
    memmove(lp->items + i + 1, lp->items + i, (lp->len - i) * sizeof(md_val *));
    lp->items[i] = md_incref(item);
    lp->len++;
    return 0;
}

void md_list_del(md_val *l, size_t i)
{
    md_listobj *lp = (md_listobj *)l;
    MD_ASSERT(i < lp->len);
    md_val *old = lp->items[i];
    memmove(lp->items + i, lp->items + i + 1, (lp->len - i - 1) * sizeof(md_val *));
    lp->len--;
    md_decref(old);
}

void md_list_clear(md_val *l)
{
    md_listobj *lp = (md_listobj *)l;
    /* Detach first: a decref may run a free hook that looks at the list. */
    md_val **items = lp->items;
    size_t n = lp->len, cap = lp->cap;
    lp->items = NULL;
    lp->len = lp->cap = 0;
    md_val__decref_many(items, n, 1);
    blk_free(items, cap * sizeof(md_val *));
}

void md_val__list_free_items(md_val *l)
{
    md_listobj *lp = (md_listobj *)l;
    blk_free(lp->items, lp->cap * sizeof(md_val *));
    lp->items = NULL;
    lp->cap = 0;
}

/* ======================================================================
 * Hash table index
 * ====================================================================== */

#define IX_EMPTY (-1)
#define IX_DUMMY (-2)
#define MIN_LOG2 3
/* Bulk loops (rebuild, merge) know the hashes of the entries to come:
 * they prefetch the index slot this many entries ahead, so that the
 * cache misses of a big table overlap instead of following one another
 * (32 merged 1M keys 5-10% faster than 16). */
#define PREFETCH_AHEAD 32

static size_t tbl_size(const md_table *t)
{
    return t->log2size ? (size_t)1 << t->log2size : 0;
}

static size_t usable(size_t size)
{
    return (size << 1) / 3;
}

static size_t ix_width(uint8_t log2size)
{
    if (log2size <= 7)
        return 1;
    if (log2size <= 15)
        return 2;
    if (log2size <= 31)
        return 4;
    return 8;
}

static int64_t ix_raw(const md_table *t, size_t slot)
{
    switch (ix_width(t->log2size)) {
    case 1: return ((const int8_t *)t->index)[slot];
    case 2: return ((const int16_t *)t->index)[slot];
    case 4: return ((const int32_t *)t->index)[slot];
    default: return ((const int64_t *)t->index)[slot];
    }
}

static void ix_raw_set(md_table *t, size_t slot, int64_t ix)
{
    switch (ix_width(t->log2size)) {
    case 1: ((int8_t *)t->index)[slot] = (int8_t)ix; break;
    case 2: ((int16_t *)t->index)[slot] = (int16_t)ix; break;
    case 4: ((int32_t *)t->index)[slot] = (int32_t)ix; break;
    default: ((int64_t *)t->index)[slot] = ix; break;
    }
}

/* Bits of an index slot above the entry number that its width leaves
 * free (the sign bit stays for IX_EMPTY and IX_DUMMY); none in 8-byte
 * slots, whose tables are beyond the 32 kept hash bits anyway. */
static unsigned tag_bits(const md_table *t)
{
    size_t width = ix_width(t->log2size);
    return width == 8 ? 0 : (unsigned)(width * 8 - 1 - t->log2size);
}

/* The tag of hash h: its top bits, which the slot number (its low
 * log2size bits) never uses. */
static int64_t tag_of(const md_table *t, uint32_t h)
{
    unsigned bits = tag_bits(t);
    return bits ? (int64_t)(h >> (32 - bits)) << t->log2size : 0;
}

/* The entry number in a slot, IX_EMPTY or IX_DUMMY, without its tag. */
static inline int64_t ix_get(const md_table *t, size_t slot)
{
    int64_t raw = ix_raw(t, slot);
    return raw < 0 ? raw : raw & (((int64_t)1 << t->log2size) - 1);
}

/* Stores entry ix, whose key's hash is h, in a slot. */
static void ix_set_tagged(md_table *t, size_t slot, int64_t ix, uint32_t h)
{
    ix_raw_set(t, slot, ix | tag_of(t, h));
}

/* The probe sequence: PROBE_RUN neighbours from each start, the starts
 * following CPython's recurrence (which reaches every slot, so a probe
 * always ends at an empty one). */
#define PROBE_RUN 4

typedef struct probe {
    size_t base, mask;
    uint32_t perturb;
    unsigned run;
} probe;

static size_t probe_start(probe *p, const md_table *t, uint32_t h)
{
    p->mask = tbl_size(t) - 1;
    p->base = h & p->mask;
    p->perturb = h;
    p->run = 0;
    return p->base;
}

static size_t probe_next(probe *p)
{
    if (++p->run < PROBE_RUN)
        return (p->base + p->run) & p->mask;
    p->run = 0;
    p->perturb >>= 5;
    p->base = (p->base * 5 + p->perturb + 1) & p->mask;
    return p->base;
}

/* The kept hashes live in the entries block, after ecap entries: one
 * allocation per table, and 4 bytes more per entry, not 8. */
static uint32_t *tbl_hashes(const md_table *t)
{
    return (uint32_t *)(t->entries + t->ecap * t->stride);
}

static size_t index_bytes(uint8_t log2size)
{
    return log2size ? ((size_t)1 << log2size) * ix_width(log2size) : 0;
}

static size_t entry_bytes(uint8_t stride)
{
    return stride * sizeof(md_val *) + sizeof(uint32_t);
}

/* The bytes of the entries block, the index included if it is joined. */
static size_t entries_block_bytes(const md_table *t)
{
    return t->ecap * entry_bytes(t->stride) + (t->joined ? index_bytes(t->log2size) : 0);
}

/* Resizes the entries block to ecap entries (>= nentries), moving the
 * kept hashes to their new place. Nothing changes on failure. Not md_grow:
 * the block holds two arrays (entries, then hashes) and is sized by the
 * table's own policy, shrinking too. A joined index moves out to a
 * block of its own. */
static int entries_resize(md_table *t, size_t ecap)
{
    size_t per = entry_bytes(t->stride), old = entries_block_bytes(t);
    if (ecap == 0 || ecap > SIZE_MAX / per)
        return -1;
    md_val **ent;
    void *index = NULL;   /* a joined index, moved to a block of its own */
    if (t->joined) {
        if (!(index = blk_alloc(index_bytes(t->log2size))))
            return -1;
        memcpy(index, t->index, index_bytes(t->log2size));
    }
    if (ecap * per > MD_SLAB_MAX_BYTES && old > MD_SLAB_MAX_BYTES) {
        ent = md_realloc(t->entries, ecap * per);
        if (!ent)
            return -1;
        if (t->nentries)
            memmove(ent + ecap * t->stride, ent + t->ecap * t->stride,
                    t->nentries * sizeof(uint32_t));
    } else {
        /* From or to the slab, which has no realloc (a joined block is
         * always in the slab). */
        ent = blk_alloc(ecap * per);
        if (!ent) {
            blk_free(index, index_bytes(t->log2size));
            return -1;
        }
        if (t->nentries) {
            memcpy(ent, t->entries, t->nentries * t->stride * sizeof(md_val *));
            memcpy(ent + ecap * t->stride, tbl_hashes(t), t->nentries * sizeof(uint32_t));
        }
        blk_free(t->entries, old);
    }
    t->entries = ent;
    t->ecap = ecap;
    if (index) {
        t->index = index;
        t->joined = false;
    }
    return 0;
}

void md_table__init(md_table *t, uint8_t stride)
{
    memset(t, 0, sizeof *t);
    t->stride = stride;
}

void md_table__clear(md_table *t)
{
    md_val **entries = t->entries;
    size_t n = t->nentries * t->stride, ebytes = entries_block_bytes(t);
    if (!t->joined)
        blk_free(t->index, index_bytes(t->log2size));
    md_table__init(t, t->stride);
    md_val__decref_many(entries, n, 1);
    blk_free(entries, ebytes);
}

/* Fills a fresh index of 1 << log2size slots from the (compacted)
 * entries and their kept hashes: no key is hashed again (a key whose
 * state changed since it went in keeps the place its old hash gave it,
 * as in Python). */
/* One loop per slot width, with the width's array read directly: every
 * growth refills the whole index (the index doubles, so the entries are
 * placed twice over a table's growth), and through ix_raw/ix_set_tagged
 * this loop took 110 instructions per entry, 6 % of a d.update(). */
#define INDEX_FILL_LOOP(T)                                                              \
    do {                                                                                \
        T *ix = t->index;                                                               \
        for (size_t i = 0; i < n; i++) {                                                \
            uint32_t h = hashes[i];                                                     \
            if (i + PREFETCH_AHEAD < n)                                                 \
                __builtin_prefetch(ix + (hashes[i + PREFETCH_AHEAD] & mask), 1);        \
            size_t slot = h & mask;                                                     \
            if (ix[slot] != IX_EMPTY) {                                                 \
                probe p;                                                                \
                slot = probe_start(&p, t, h);                                           \
                while (ix[slot] != IX_EMPTY)                                            \
                    slot = probe_next(&p);                                              \
            }                                                                           \
            int64_t tag = tbits ? (int64_t)(h >> (32 - tbits)) << log2 : 0;             \
            ix[slot] = (T)((int64_t)i | tag);                                           \
        }                                                                               \
    } while (0)

static void index_fill(md_table *t)
{
    if (t->pending)
        return;   /* placed when the table settles (table_settle) */
    size_t mask = tbl_size(t) - 1, width = ix_width(t->log2size), n = t->nentries;
    unsigned tbits = tag_bits(t), log2 = t->log2size;   /* tag_of, out of the loop */
    const uint32_t *hashes = tbl_hashes(t);
    memset(t->index, 0xff, tbl_size(t) * width);
    switch (width) {
    case 1: INDEX_FILL_LOOP(int8_t); break;
    case 2: INDEX_FILL_LOOP(int16_t); break;
    case 4: INDEX_FILL_LOOP(int32_t); break;
    default: INDEX_FILL_LOOP(int64_t); break;
    }
}

/* Drops deleted entries, keeping order. */
static void compact(md_table *t)
{
    size_t j = 0, s = t->stride;
    uint32_t *hashes = tbl_hashes(t);
    for (size_t i = 0; i < t->nentries; i++) {
        if (!tbl_key(t, i))
            continue;
        if (i != j) {
            memmove(&t->entries[j * s], &t->entries[i * s], s * sizeof(md_val *));
            hashes[j] = hashes[i];
        }
        j++;
    }
    t->nentries = j;
}

/* Index slots per entry a rebuild gives (the index has at least this
 * many times `want` slots, rounded up to a power of two). CPython takes
 * 3, but a table that grows at its 2/3 load then quadruples its index
 * (2/3 * 3 = 2 slots per old slot, just past a power of two): its load
 * falls to 1/6, and the index cost per item swung between 8 and 13 B at
 * 1M and 10M items (4-byte slots). With 2 it doubles instead, the load
 * stays between 1/3 and 2/3 and the index costs 6 to 12 B per item at
 * every size; probes stay short since each slot keeps a tag of the
 * hash. */
#define INDEX_SLOTS_PER_ENTRY 2

/* A rebuild gives the index room for at least `want` entries, at at
 * most half load, and makes the entries array hold at least `want`
 * (growing it by a quarter, not to the index's size, which is what keeps
 * a large dict near 20 bytes per entry; exactly `want` if `exact`).
 * Returns the index's log2 (0: too big) and turns *ecap, the entries'
 * capacity so far, into theirs. */
static uint8_t rebuild_shape(size_t want, bool exact, size_t *ecap)
{
    uint8_t log2 = MIN_LOG2;
    while (((size_t)1 << log2) < INDEX_SLOTS_PER_ENTRY * want && log2 < 62)
        log2++;
    size_t size = (size_t)1 << log2;
    if (usable(size) < want)
        return 0;
    size_t cap = exact ? want : want + want / 4 + 4;
    if (cap > usable(size))
        cap = usable(size);
    if (cap > *ecap)
        *ecap = cap;   /* never shrink the entries here */
    return log2;
}

/* The entries capacity of a table whose index has room for more
 * (`room`) and whose entries are full: a quarter more at least. */
static size_t grown_ecap(size_t ecap, size_t want, size_t room)
{
    ecap = ecap + ecap / 4 + 4;
    if (ecap < want)
        ecap = want;
    return ecap > room ? room : ecap;
}

/* Rebuilds the index as rebuild_shape says. Nothing changes on failure. */
static int table_rebuild_to(md_table *t, size_t want, bool exact)
{
    size_t ecap = t->ecap;
    uint8_t log2 = rebuild_shape(want, exact, &ecap);
    if (!log2)
        return -1;
    void *index = blk_alloc(index_bytes(log2));
    if (!index)
        return -1;
    if (index_bytes(log2) >= 2 * MD_HUGE_PAGE_BYTES)
        md_advise_huge(index, index_bytes(log2));
    /* A joined index is moved out (entries_resize) before it is freed. */
    if ((ecap > t->ecap || t->joined) && entries_resize(t, ecap) < 0) {
        blk_free(index, index_bytes(log2));
        return -1;
    }
    compact(t);
    blk_free(t->index, index_bytes(t->log2size));
    t->index = index;
    t->log2size = log2;
    index_fill(t);
    return 0;
}

static int table_rebuild(md_table *t, size_t want)
{
    return table_rebuild_to(t, want, false);
}

/* Room for n more entries; `exact`: no slack beyond them if the table
 * must be rebuilt. When only the entries array is full, deleted entries
 * are dropped if they are many, else the array grows by a quarter at
 * least (so that batches of items do not realloc each time). */
static int reserve_to(md_table *t, size_t n, bool exact)
{
    if (n > SIZE_MAX / 8 - t->nentries)
        return -1;
    size_t want = t->nentries + n, room = usable(tbl_size(t));
    if (want <= t->ecap && want <= room)
        return 0;
    if (t->log2size && want <= room) {
        if (t->nentries - t->used > t->nentries / 4 && t->used + n <= t->ecap) {
            compact(t);
            index_fill(t);
            return 0;
        }
        return entries_resize(t, grown_ecap(t->ecap, want, room));
    }
    return table_rebuild_to(t, t->used + n, exact);
}

/* Room for one more entry. */
static int table_reserve(md_table *t)
{
    return reserve_to(t, 1, false);
}

/* A table sized before its first items (a decoded dict) gets exactly
 * that room: a million small dicts of one item each would otherwise
 * carry four empty entries each. (Copies and single inserts keep the
 * usual slack: where a changed key lands decides what a live iterator
 * meets, and that must stay as in CPython.) */
int md_table__reserve(md_table *t, size_t n)
{
    return reserve_to(t, n, t->ecap == 0);
}

/* Identity, then cheap same-type checks, then Python's ==. */
static int keys_equal(md_val *a, md_val *b, md_pyerr *e)
{
    if (a == b)
        return 1;
    if (((uintptr_t)a & 1) || ((uintptr_t)b & 1)) {
        if (((uintptr_t)a & 1) && ((uintptr_t)b & 1))
            return 0;   /* two distinct small ints */
    } else if (a->type == MD_T_STR && b->type == MD_T_STR) {
        size_t n = md_val__slen(a);
        return n == md_val__slen(b) &&
               memcmp(md_val__sdata(a), md_val__sdata(b), n) == 0;
    }
    return md_val__eq(a, b, e, md_val__lookup_depth);
}

/* A slot of an index whose width is a constant of the caller. */
static inline int64_t ix_raw_w(const void *index, size_t slot, size_t width)
{
    switch (width) {
    case 1: return ((const int8_t *)index)[slot];
    case 2: return ((const int16_t *)index)[slot];
    case 4: return ((const int32_t *)index)[slot];
    default: return ((const int64_t *)index)[slot];
    }
}

/* table_probe for an index of `width`-byte slots: always inlined with a
 * constant width, so the probe loop reads slots without a switch on the
 * width per step (a bulk store probes millions of times). */
static inline __attribute__((always_inline)) long
probe_w(const md_table *t, md_val *key, uint32_t h, size_t *slot_out, md_pyerr *e,
        size_t width)
{
    probe p;
    size_t slot = probe_start(&p, t, h);
    const uint32_t *hashes = tbl_hashes(t);
    const int64_t tag = tag_of(t, h), ixmask = ((int64_t)1 << t->log2size) - 1;
    for (;;) {
        int64_t raw = ix_raw_w(t->index, slot, width);
        *slot_out = slot;
        if (raw == IX_EMPTY)
            return -1;
        if (raw >= 0 && (raw & ~ixmask) == tag && hashes[raw & ixmask] == h) {
            int eq = keys_equal(tbl_key(t, (size_t)(raw & ixmask)), key, e);
            if (eq < 0)
                return -2;
            if (eq)
                return (long)(raw & ixmask);
        }
        slot = probe_next(&p);
    }
}

/* Probes for key, whose hash's low 32 bits are h: returns its entry
 * index and in *slot the index slot that holds it, or -1 and in *slot
 * the first empty slot met. -2 on error. */
static long table_probe(const md_table *t, md_val *key, uint32_t h,
                        size_t *slot_out, md_pyerr *e)
{
    if (!t->log2size) {
        *slot_out = 0;
        return -1;
    }
    switch (ix_width(t->log2size)) {
    case 1: return probe_w(t, key, h, slot_out, e, 1);
    case 2: return probe_w(t, key, h, slot_out, e, 2);
    case 4: return probe_w(t, key, h, slot_out, e, 4);
    default: return probe_w(t, key, h, slot_out, e, 8);
    }
}

MD_THREAD_LOCAL int md_val__lookup_depth;

long md_table__find(const md_table *t, md_val *key, size_t *slot, md_pyerr *e)
{
    int64_t h;
    size_t scratch;
    if (md_val__hash(key, &h, e, md_val__lookup_depth) < 0)
        return -2;
    if (t->used == 0)
        return -1;
    return table_probe(t, key, (uint32_t)h, slot ? slot : &scratch, e);
}

/* Every md_table lives in a dict or set object. */
static md_val *table_owner(md_table *t)
{
    return &((md_tableobj *)((char *)t - offsetof(md_tableobj, t)))->h;
}

/* A container stored into a table that the collector stopped tracking
 * (value.c says why) puts the table back on its lists. */
static void track_if_container(md_table *t, const md_val *child)
{
    if (md_val__is_gc(child))
        md_val__gc_track(table_owner(t));
}

/* Replaces the value of dict entry ix (Python keeps the first key
 * object). */
static void replace_value(md_table *t, size_t ix, md_val *val)
{
    md_val **slot = &t->entries[ix * 2 + 1];
    md_val *old = *slot;
    *slot = md_incref(val);
    track_if_container(t, val);
    md_decref(old);
}

/* Appends (key, val) with kept hash h as a new entry (references
 * taken; room known to be there); returns its entry number. */
static inline __attribute__((always_inline)) long
add_entry_refs(md_table *t, md_val *key, md_val *val, uint32_t h, bool steal)
{
    long ix = (long)t->nentries++;
    md_val **ent = &t->entries[(size_t)ix * t->stride];
    if (md_typeof(key) == MD_T_OPAQUE)
        t->opaque_keys = 1;
    ent[0] = steal ? key : md_incref(key);
    track_if_container(t, key);
    if (t->stride == 2) {
        ent[1] = steal ? val : md_incref(val);
        track_if_container(t, val);
    }
    tbl_hashes(t)[ix] = h;
    t->used++;
    return ix;
}

static long add_entry(md_table *t, md_val *key, md_val *val, uint32_t h)
{
    return add_entry_refs(t, key, val, h, false);
}

/* md_table__insert for a key whose hash is known (h: its low 32 bits). */
static long insert_hashed(md_table *t, md_val *key, md_val *val, uint32_t h,
                          bool *added, md_pyerr *e)
{
    *added = false;
    size_t slot;
    long ix = table_probe(t, key, h, &slot, e);
    if (ix == -2)
        return -1;
    if (ix >= 0)
        return ix;
    if (t->nentries >= t->ecap || t->nentries >= usable(tbl_size(t))) {
        if (table_reserve(t) < 0) {
            md_val__nomem(e);
            return -1;
        }
        ix = table_probe(t, key, h, &slot, e);
        if (ix != -1)
            return ix == -2 ? -1 : ix;   /* cannot happen: kept safe */
    }
    ix = add_entry(t, key, val, h);
    ix_set_tagged(t, slot, ix, h);
    *added = true;
    return ix;
}

/* insert_hashed into a table with room for the entry (reserved), for
 * an index of `width`-byte slots: inlined with a constant width, as
 * probe_w is. */
static inline __attribute__((always_inline)) long
insert_reserved_w(md_table *t, md_val *key, md_val *val, uint32_t h, bool *added,
                  md_pyerr *e, size_t width, bool steal)
{
    *added = false;
    size_t slot;
    long ix = probe_w(t, key, h, &slot, e, width);
    if (ix != -1)
        return ix == -2 ? -1 : ix;
    MD_ASSERT(t->nentries < t->ecap && t->nentries < usable(tbl_size(t)));
    ix = steal ? add_entry_refs(t, key, val, h, true) : add_entry(t, key, val, h);
    int64_t tagged = ix | tag_of(t, h);
    switch (width) {
    case 1: ((int8_t *)t->index)[slot] = (int8_t)tagged; break;
    case 2: ((int16_t *)t->index)[slot] = (int16_t)tagged; break;
    case 4: ((int32_t *)t->index)[slot] = (int32_t)tagged; break;
    default: ((int64_t *)t->index)[slot] = tagged; break;
    }
    *added = true;
    return ix;
}

long md_table__insert(md_table *t, md_val *key, md_val *val, bool *added,
                      md_pyerr *e)
{
    int64_t h;
    *added = false;
    if (md_val__hash(key, &h, e, md_val__lookup_depth) < 0)
        return -1;
    return insert_hashed(t, key, val, (uint32_t)h, added, e);
}

int md_table__copy(md_table *dst, const md_table *src)
{
    md_table__init(dst, src->stride);
    if (src->used == 0)
        return 0;
    if (table_rebuild(dst, src->used) < 0)
        return -1;
    const uint32_t *from = tbl_hashes(src);
    uint32_t *to = tbl_hashes(dst);
    size_t s = src->stride;
    bool holds_gc = false;   /* then dst joins the collector's lists */
    for (size_t i = 0; i < src->nentries; i++) {
        md_val *const *ent = &src->entries[i * s];
        if (!ent[0])
            continue;
        for (size_t j = 0; j < s; j++) {
            dst->entries[dst->nentries * s + j] = md_incref(ent[j]);
            holds_gc |= md_val__is_gc(ent[j]);
        }
        to[dst->nentries++] = from[i];
    }
    dst->opaque_keys = src->opaque_keys;
    dst->used = dst->nentries;
    index_fill(dst);
    if (holds_gc)
        md_val__gc_track(table_owner(dst));
    return 0;
}

/* md_table__merge's prefetch of the index slot where the entry with
 * hash h starts probing. Always inlined: a static function that only
 * prefetches has no effect GCC must keep, and GCC dropped its calls
 * (the merge ran with no prefetch at all). Reading the slot ahead to
 * prefetch the entry it names as well stalled on that read, and a new
 * key rarely meets its own tag anyway. */
static inline __attribute__((always_inline)) void probe_prefetch(const md_table *t, uint32_t h)
{
    size_t slot = h & (tbl_size(t) - 1);
    __builtin_prefetch((const char *)t->index + slot * ix_width(t->log2size), 1);
}

static int merge_pending(md_table *dst, const md_table *src, md_pyerr *e);

int md_table__merge(md_table *dst, const md_table *src, md_pyerr *e)
{
    MD_ASSERT(!dst->pending);
    if (src->pending)
        return merge_pending(dst, src, e);
    if (dst->used == 0 && dst != src && dst->stride == src->stride) {
        /* Into an empty table (dict(big)): a copy, no probing at all. */
        md_table__clear(dst);
        if (md_table__copy(dst, src) == 0)
            return 0;
        md_val__nomem(e);
        return -1;
    }
    if (md_table__reserve(dst, src->used) < 0) {
        md_val__nomem(e);
        return -1;
    }
    const size_t ahead = PREFETCH_AHEAD, n = src->nentries;
    /* src may be dst: read its entries afresh on every step. */
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n)
            probe_prefetch(dst, tbl_hashes(src)[i + ahead]);
        md_val *key = tbl_key(src, i);
        if (!key)
            continue;
        md_val *val = src->stride == 2 ? src->entries[i * 2 + 1] : NULL;
        bool added;
        long ix = insert_hashed(dst, key, val, tbl_hashes(src)[i], &added, e);
        if (ix < 0)
            return -1;
        if (!added && dst->stride == 2)
            replace_value(dst, (size_t)ix, val);
    }
    return 0;
}

void md_table__remove_at(md_table *t, size_t ix, size_t slot)
{
    ix_raw_set(t, slot, IX_DUMMY);
    md_val **ent = &t->entries[ix * t->stride];
    md_val *key = ent[0], *val = t->stride == 2 ? ent[1] : NULL;
    ent[0] = NULL;
    if (t->stride == 2)
        ent[1] = NULL;
    t->used--;
    if (t->used == 0) {
        /* Nothing left: start over so the table does not fill with dummies. */
        t->nentries = 0;
        memset(t->index, 0xff, tbl_size(t) * ix_width(t->log2size));
    }
    md_decref(key);
    md_decref(val);
}

/* ======================================================================
 * Growth put in place later
 * ====================================================================== */

/* Growing a big table is the costliest step of a merge into it: the
 * index refilled from every kept hash, the kept hashes moved, and new
 * memory faulted in (in the first round of filling a fresh 1M-item dict
 * from 10k chunks the client waited 74 ns per item for its reply, 51 in
 * later rounds, when that memory is reused). d.update() replies before
 * it merges (md_dict_reserve_update), and the growth follows the reply
 * as well: only allocating can fail, so the new blocks are allocated
 * before it (a failure still answers MemoryError and changes nothing)
 * and held in a growth, and filling the index, moving the hashes and
 * the merge come after. A growth gives the very table reserve_to gives
 * (growth_plan decides as it does). */
struct md_dict_room {
    size_t nentries, ecap;  /* the table's, when planned (checked)     */
    size_t new_ecap;        /* entries capacity it takes               */
    md_val **entries;       /* a new small entries block to copy into  */
    bool resized;           /* or the big block resized already        */
    void *index;            /* its new index (unfilled), or NULL: kept */
    uint8_t log2size;       /* the index's                             */
    bool rebuild;           /* a new index, as table_rebuild_to makes  */
};
typedef struct md_dict_room growth;

/* reserve_to's decision for n more entries, without acting on it: 0
 * when the table has room or only needs its deleted entries dropped
 * (which allocates nothing, so the merge does it), 1 when it must grow
 * (*g planned, nothing allocated), -1 when too big. */
static int growth_plan(const md_table *t, size_t n, bool exact, growth *g)
{
    if (n > SIZE_MAX / 8 - t->nentries)
        return -1;
    size_t want = t->nentries + n, room = usable(tbl_size(t));
    if (want <= t->ecap && want <= room)
        return 0;
    memset(g, 0, sizeof *g);
    g->nentries = t->nentries;
    g->ecap = g->new_ecap = t->ecap;
    g->log2size = t->log2size;
    if (t->log2size && want <= room) {
        if (t->nentries - t->used > t->nentries / 4 && t->used + n <= t->ecap)
            return 0;
        g->new_ecap = grown_ecap(t->ecap, want, room);
    } else {
        /* table_rebuild_to(t, t->used + n, exact): a new index even of
         * the same size (the deleted entries dropped). */
        g->rebuild = true;
        if (!(g->log2size = rebuild_shape(t->used + n, exact, &g->new_ecap)))
            return -1;
    }
    return g->new_ecap > SIZE_MAX / entry_bytes(t->stride) ? -1 : 1;
}

/* Allocates the blocks g needs, the table left as it reads: a big
 * entries block is resized at once, its kept hashes left where t->ecap
 * says they are until growth_apply moves them. (A new block copied
 * after the reply instead took the server 120-150 ms of CPU for the
 * first round of filling a 1M-item dict, against 100-110: realloc
 * often extends the block where it is.) Nothing changes on failure. */
static int growth_take(md_table *t, growth *g)
{
    size_t per = entry_bytes(t->stride);
    if (g->rebuild) {
        if (!(g->index = blk_alloc(index_bytes(g->log2size))))
            return -1;
        if (index_bytes(g->log2size) >= 2 * MD_HUGE_PAGE_BYTES)
            md_advise_huge(g->index, index_bytes(g->log2size));
    }
    if (g->new_ecap <= t->ecap)
        return 0;
    g->resized = t->ecap * per > MD_SLAB_MAX_BYTES;   /* as entries_resize */
    md_val **ent = g->resized ? md_realloc(t->entries, g->new_ecap * per)
                              : (g->entries = blk_alloc(g->new_ecap * per));
    if (!ent) {
        blk_free(g->index, index_bytes(g->log2size));
        g->index = NULL;
        return -1;
    }
    if (g->resized)
        t->entries = ent;   /* its first t->ecap * per bytes as they were */
    return 0;
}

/* Puts g in place: what reserve_to would have done, without allocating
 * (so without failing). */
static void growth_apply(md_table *t, const growth *g)
{
    MD_ASSERT(t->nentries == g->nentries && t->ecap == g->ecap && !t->pending);
    const size_t s = t->stride;
    if (g->resized) {
        memmove(t->entries + g->new_ecap * s, t->entries + t->ecap * s,
                t->nentries * sizeof(uint32_t));
        t->ecap = g->new_ecap;
    } else if (g->entries) {
        if (t->nentries) {   /* an empty table may have no block to copy */
            memcpy(g->entries, t->entries, t->nentries * s * sizeof(md_val *));
            memcpy(g->entries + g->new_ecap * s, tbl_hashes(t), t->nentries * sizeof(uint32_t));
        }
        blk_free(t->entries, t->ecap * entry_bytes(s));
        t->entries = g->entries;
        t->ecap = g->new_ecap;
    }
    if (!g->index)
        return;
    if (t->used != t->nentries)
        compact(t);
    blk_free(t->index, index_bytes(t->log2size));
    t->index = g->index;
    t->log2size = g->log2size;
    index_fill(t);
}

/* ======================================================================
 * Pending tables
 * ====================================================================== */

/* A dict that the pickle decoder builds from a batch of pairs whose keys
 * are all plain scalars is left "pending": the pairs are appended to the
 * entries in stream order, neither hashed nor indexed (a repeated key
 * stays twice), and the index memory is allocated but not filled. Most
 * such dicts are d.update() chunks: md_table__merge hashes each pair as
 * it goes into the destination (merge_pending), so the chunk itself is
 * never indexed and the decoding of a request no longer hashes and
 * places 10,000 keys that are placed again by the merge. Any other use
 * of the table goes through table_of, which settles it first: indexes
 * the entries exactly as inserting them one by one would have (for a
 * repeated key, the first key object and its place kept, the last value
 * winning), so nothing outside this section, md_table__merge, index_fill
 * and md_table__clear sees a pending table.
 *
 * Settling cannot fail, so no API that cannot fail starts failing: the
 * index and the kept hashes are allocated with the pairs (the only
 * allocation settling tries gives back unused room, pending_fit, and a
 * failure of it changes nothing), and the deferred keys are those whose
 * hash cannot fail and whose == can neither fail nor reach anything but numbers and bytes
 * (str, bytes, int, bool, float, None). Tuples are left out: hashing
 * and comparing one counts toward the depth limit and the work budget
 * of an == that may be running when a lookup settles the table. */

/* A fresh dict of fewer pairs than this is built at once: a small
 * dict's index fits in a cache line or two, so deferring saves little,
 * and most small dicts are values that are read back whole. */
#define PENDING_MIN_PAIRS 64

static bool key_defers(const md_val *key)
{
    switch (md_typeof(key)) {
    case MD_T_STR:
    case MD_T_BYTES:
    case MD_T_INT:
    case MD_T_BOOL:
    case MD_T_FLOAT:
    case MD_T_NONE:
        return true;
    default:
        return false;
    }
}

/* The hash a deferred key would have been given on insert. */
static uint32_t deferred_hash(const md_val *key)
{
    if (!MD_VAL__IS_SMALL(key) && (key->type == MD_T_STR || key->type == MD_T_BYTES))
        return (uint32_t)md_val__hash_text(md_val__sdata(key), md_val__slen(key));
    /* A number or None: no error to report, and depth 1 leaves alone the
     * work budget of an == that may be settling this table. */
    int64_t h = 0;
    int rc = md_val__hash(key, &h, NULL, 1);
    MD_ASSERT(rc == 0);
    return (uint32_t)h;
}

static inline void ix_raw_set_w(void *index, size_t slot, int64_t ix, size_t width)
{
    switch (width) {
    case 1: ((int8_t *)index)[slot] = (int8_t)ix; break;
    case 2: ((int16_t *)index)[slot] = (int16_t)ix; break;
    case 4: ((int32_t *)index)[slot] = (int32_t)ix; break;
    default: ((int64_t *)index)[slot] = ix; break;
    }
}

/* A pending table has two capacities: the one its entries block really
 * has (t->ecap) and the one md_table__reserve, batch by batch, would
 * have given it (its "nominal" capacity, t->pending_ecap), which it
 * takes when it settles, so that a stored pending dict has the layout
 * and the memory of the dict built by inserting. Its index, filled only
 * when it settles, is always the nominal one: growing it replaces it
 * without copying anything. The nominal capacity takes the 4 bytes of
 * padding after the flags: no table grows for it. */
_Static_assert(sizeof(md_table) == 3 * sizeof(size_t) + 8 + 2 * sizeof(void *),
               "pending_ecap sits in md_table's padding");

static size_t nominal_ecap(const md_table *t)
{
    return t->pending ? t->pending_ecap : t->ecap;
}

/* The nominal shape after reserving n more: md_table__reserve's
 * arithmetic (a pending table has no deleted entries to drop). 0: too
 * big. */
static uint8_t nominal_reserve(const md_table *t, size_t n, size_t *ecap)
{
    size_t want = t->nentries + n, room = usable(tbl_size(t));
    *ecap = nominal_ecap(t);
    if (want <= *ecap && want <= room)
        return t->log2size;
    if (t->log2size && want <= room) {
        *ecap = grown_ecap(*ecap, want, room);
        return t->log2size;
    }
    return rebuild_shape(t->used + n, *ecap == 0, ecap);
}

/* Room for n more pairs in a table being made pending, which can get at
 * most `most` pairs more (these n included: a bound the decoder draws
 * from the bytes left in its message). Growing batch by batch as
 * md_table__reserve does copied a 10,000-pair chunk's entries six times
 * (34 of its 439 instructions per item of decoding): the entries block is reserved at once for
 * up to MD_PENDING_FIRST_PAIRS pairs within the bound, then doubled;
 * pages never written cost no memory, and pending_fit gives back the
 * rest. Nothing changes on failure. */
static int pending_reserve(md_table *t, size_t n, size_t most)
{
    if (n > SIZE_MAX / 8 - t->nentries)
        return -1;
    size_t want = t->nentries + n, limit = SIZE_MAX / 8, nominal;
    if (most < n)
        most = n;
    if (most - n < limit - want)
        limit = want + (most - n);
    uint8_t log2 = nominal_reserve(t, n, &nominal);
    if (!log2 || nominal > UINT32_MAX)
        return -1;   /* pending_ecap's bound: 4 billion pairs, 80 GB */
    void *index = t->index;
    if (log2 != t->log2size && !(index = blk_alloc(index_bytes(log2))))
        return -1;
    if (want > t->ecap) {
        size_t ecap = t->ecap ? 2 * t->ecap : MD_PENDING_FIRST_PAIRS;
        if (ecap > limit)
            ecap = limit;
        if (ecap < nominal)
            ecap = nominal;
        if (entries_resize(t, ecap) < 0) {
            if (index != t->index)
                blk_free(index, index_bytes(log2));
            return -1;
        }
    }
    if (index != t->index) {
        if (index_bytes(log2) >= 2 * MD_HUGE_PAGE_BYTES)
            md_advise_huge(index, index_bytes(log2));
        blk_free(t->index, index_bytes(t->log2size));
        t->index = index;
        t->log2size = log2;
    }
    t->pending_ecap = (uint32_t)nominal;
    return 0;
}

/* Gives a settling table its nominal capacity back (before its kept
 * hashes are written after the entries): a stored dict (m.dict(big))
 * keeps what the dict built by inserting would. A failed realloc keeps
 * the bigger block, which is still right: settling cannot fail. */
static void pending_fit(md_table *t)
{
    size_t per = entry_bytes(t->stride), nominal = nominal_ecap(t);
    if (nominal >= t->ecap || nominal * per <= MD_SLAB_MAX_BYTES)
        return;
    md_val **ent = md_realloc(t->entries, nominal * per);
    if (ent) {
        t->entries = ent;
        t->ecap = nominal;
    }
}

/* Places the entries in order, as inserting them one by one would, in
 * an emptied index of `width`-byte slots; returns how many repeated a
 * key before them. A repeat becomes a hole holding the value it replaced
 * (dropped once the table is whole again: a value's decref may run a
 * free hook); its key, a plain scalar, is dropped at once. */
static inline __attribute__((always_inline)) size_t
place_pending_w(md_table *t, size_t width)
{
    const size_t n = t->nentries, s = t->stride, mask = tbl_size(t) - 1;
    const uint32_t *hashes = tbl_hashes(t);
    size_t repeats = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch((char *)t->index + (hashes[i + PREFETCH_AHEAD] & mask) * width, 1);
        md_val **ent = &t->entries[i * s];
        size_t slot;
        long ix = probe_w(t, ent[0], hashes[i], &slot, NULL, width);
        MD_ASSERT(ix != -2);
        if (ix == -1) {
            ix_raw_set_w(t->index, slot, (int64_t)i | tag_of(t, hashes[i]), width);
            continue;
        }
        md_val **first = &t->entries[(size_t)ix * s];
        if (s == 2) {
            md_val *old = first[1];
            first[1] = ent[1];
            ent[1] = old;
        }
        md_val *key = ent[0];
        ent[0] = NULL;
        md_decref(key);
        repeats++;
    }
    return repeats;
}

/* After place_pending_w met repeated keys: moves the live entries down
 * over the holes (order and kept hashes with them) and the held values
 * past the end, indexes the table again, and only then drops those
 * values. */
static void drop_repeats(md_table *t)
{
    size_t n = t->nentries, s = t->stride, live = 0;
    uint32_t *hashes = tbl_hashes(t);
    for (size_t i = 0; i < n; i++) {
        md_val **ent = &t->entries[i * s];
        if (!ent[0])
            continue;
        if (i != live) {
            /* Entries live .. i-1 are all holes: swap one up. */
            md_val **to = &t->entries[live * s];
            for (size_t j = 0; j < s; j++) {
                md_val *x = to[j];
                to[j] = ent[j];
                ent[j] = x;
            }
            hashes[live] = hashes[i];
        }
        live++;
    }
    t->nentries = t->used = live;
    index_fill(t);
    for (size_t i = live * s; s == 2 && i < n * s; i += s) {
        md_val *old = t->entries[i + 1];
        t->entries[i + 1] = NULL;
        md_decref(old);
    }
}

/* Makes a pending table an ordinary one (table_of calls it). */
static void table_settle(md_table *t)
{
    pending_fit(t);
    const size_t n = t->nentries;
    uint32_t *hashes = tbl_hashes(t);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch(tbl_key(t, i + PREFETCH_AHEAD));
        hashes[i] = deferred_hash(tbl_key(t, i));
    }
    t->pending = false;
    if (n == 0)
        return;
    memset(t->index, 0xff, tbl_size(t) * ix_width(t->log2size));
    size_t repeats;
    switch (ix_width(t->log2size)) {
    case 1: repeats = place_pending_w(t, 1); break;
    case 2: repeats = place_pending_w(t, 2); break;
    case 4: repeats = place_pending_w(t, 4); break;
    default: repeats = place_pending_w(t, 8); break;
    }
    t->used = n - repeats;
    if (repeats)
        drop_repeats(t);
}

/* ======================================================================
 * dict
 * ====================================================================== */

static md_table *table_raw(const md_val *v)
{
    return &((md_tableobj *)v)->t;
}

static void table_settle(md_table *t);

/* The table of a dict or set, settled if it was pending: every function
 * of the dict and set API below goes through here (or says why not), so
 * none sees a pending table. */
static md_table *table_of(const md_val *v)
{
    md_table *t = table_raw(v);
    if (__builtin_expect(t->pending, 0))
        table_settle(t);
    return t;
}

md_val *md_dict_new(void)
{
    md_tableobj *d = md_val__alloc_gc(MD_T_DICT, sizeof *d);
    if (!d)
        return NULL;
    md_table__init(&d->t, 2);
    return &d->h;
}

size_t md_dict_len(const md_val *d)
{
    return table_of(d)->used;
}

md_val *md_dict_copy(const md_val *d)
{
    md_tableobj *out = md_val__alloc_gc(MD_T_DICT, sizeof *out);
    if (!out)
        return NULL;
    if (md_table__copy(&out->t, table_of(d)) < 0) {
        md_decref(&out->h);
        return NULL;
    }
    return &out->h;
}

int md_dict_update(md_val *d, const md_val *src, md_pyerr *e)
{
    /* src as it is: a pending chunk is hashed as it goes into d. */
    return md_table__merge(table_of(d), table_raw(src), e);
}

size_t md_dict_pairs(const md_val *d)
{
    return table_raw(d)->used;
}

bool md_dict_update_cannot_fail(const md_val *d, const md_val *src)
{
    const md_table *to = table_of(d), *from = table_raw(src);
    if (d == src || to->opaque_keys)
        return false;
    if (from->pending)
        return true;   /* its keys are all key_defers keys */
    if (to->used == 0)
        return false;  /* md_table__merge copies into an empty dict */
    for (size_t i = 0; i < from->nentries; i++) {
        const md_val *key = tbl_key(from, i);
        if (key && !key_defers(key))
            return false;
    }
    return true;
}

int md_dict_reserve_update(md_val *d, const md_val *src, md_dict_room **room)
{
    md_table *t = table_of(d);
    growth g;
    *room = NULL;
    /* md_table__reserve's arguments, as the merge would pass them. */
    int rc = growth_plan(t, table_raw(src)->used, t->ecap == 0, &g);
    if (rc <= 0)
        return rc;
    if (!(*room = md_malloc(sizeof g)))
        return -1;
    if (growth_take(t, &g) < 0) {
        md_free(*room);
        *room = NULL;
        return -1;
    }
    **room = g;
    return 0;
}

int md_dict_update_reserved(md_val *d, const md_val *src, md_dict_room *room, md_pyerr *e)
{
    if (room) {
        growth_apply(table_of(d), room);
        md_free(room);
    }
    return md_dict_update(d, src, e);
}

/* Keys of md_dict_set_pairs hashed ahead of their insert: their index
 * slots are fetched together instead of one cache miss after another. */
#define PAIRS_WINDOW 32

/* md_dict_set_pairs's work once the table has room for all n pairs, for
 * an index of `width`-byte slots (constant: nothing resizes the table
 * during the call). steal: the pairs' references are the table's (a
 * repeated key's new key object dropped); *taken counts the pairs
 * stored, whichever way the call ends. */
static inline __attribute__((always_inline)) int
set_pairs_w(md_table *t, md_val *const *items, size_t n, size_t stride, md_pyerr *e,
            size_t width, bool steal, size_t *taken, uint32_t *given, uint64_t known)
{
    uint32_t hashes[PAIRS_WINDOW];
    /* A hash error waits here while the pairs before its key go in: an
     * == during their inserts may use e. Only read on failure. */
    md_pyerr hash_err;
    const size_t mask = tbl_size(t) - 1;
    for (size_t done = 0; done < n;) {
        size_t batch = n - done < PAIRS_WINDOW ? n - done : PAIRS_WINDOW;
        bool unhashable = false;
        for (size_t j = 0; j < batch; j++) {
            int64_t h;
            /* given (NULL but for md_dict_set_pairs_steal_hashed, a
             * constant once inlined): a known hash is taken as it is,
             * another is written back for the caller to keep. */
            if (given && (known >> (done + j) & 1)) {
                hashes[j] = given[done + j];
            } else if (md_val__hash_key(items[(done + j) * 2 * stride], &h, &hash_err) < 0) {
                /* A key that cannot be hashed fails in its turn: the
                 * pairs before it are stored first, as in Python. */
                batch = j;
                unhashable = true;
                break;
            } else {
                hashes[j] = (uint32_t)h;
                if (given)
                    given[done + j] = hashes[j];
            }
            __builtin_prefetch((char *)t->index + (hashes[j] & mask) * width, 1);
        }
        for (size_t j = 0; j < batch; j++) {
            md_val *const *pair = &items[(done + j) * 2 * stride];
            bool added;
            long ix = insert_reserved_w(t, pair[0], pair[stride], hashes[j], &added, e, width,
                                        steal);
            if (ix < 0)
                return -1;
            *taken = done + j + 1;
            if (added)
                continue;
            replace_value(t, (size_t)ix, pair[stride]);
            if (steal) {
                md_decref(pair[stride]);
                md_decref(pair[0]);
            }
        }
        if (unhashable) {
            if (e)
                *e = hash_err;
            return -1;
        }
        done += batch;
    }
    return 0;
}

/* The most pairs an empty table is given room for directly
 * (small_reserve): as many as rebuild_shape fits in an index of
 * 1 << MIN_LOG2 slots. */
#define SMALL_DIRECT_MAX 4
_Static_assert(SMALL_DIRECT_MAX * INDEX_SLOTS_PER_ENTRY <= (1 << MIN_LOG2) &&
                   SMALL_DIRECT_MAX <= (2 << MIN_LOG2) / 3,
               "a direct small table needs no bigger index than rebuild_shape's smallest");
_Static_assert(SMALL_DIRECT_MAX * (2 * sizeof(md_val *) + sizeof(uint32_t)) <= MD_SLAB_MAX_BYTES &&
                   (1 << MIN_LOG2) <= MD_SLAB_MAX_BYTES,
               "a direct small table's blocks come from the slab");

/* md_table__reserve(t, n) for an empty table that has never had a block
 * (a dict just decoded: the {'v': i} of a million-item chunk) and n <=
 * SMALL_DIRECT_MAX: the shape table_rebuild_to gives it (1 << MIN_LOG2
 * one-byte slots, exactly n entries), without rebuild_shape,
 * entries_resize, compact and index_fill, which took 290 of the 1,476
 * instructions per item of decoding such a chunk. Up to 3 pairs, the
 * index is the end of the entries block (joined): one slab object
 * instead of two, of the same size class as the two together (a 24 and
 * an 8-byte object for one pair, one of 32), so no memory is lost or
 * gained. entries_resize moves it out when the table grows; nothing else
 * frees a joined index. Nothing changes on failure. */
static inline int small_reserve(md_table *t, size_t n)
{
    size_t ebytes = n * entry_bytes(t->stride), ibytes = index_bytes(MIN_LOG2);
    bool joined = ebytes + ibytes <= MD_SLAB_MAX_BYTES;
    md_val **entries = md_val__slab_alloc(joined ? ebytes + ibytes : ebytes);
    if (!entries)
        return -1;
    void *index = joined ? (char *)entries + ebytes : md_val__slab_alloc(ibytes);
    if (!index) {
        md_val__slab_free(entries, ebytes);
        return -1;
    }
    memset(index, 0xff, ibytes);   /* IX_EMPTY */
    t->index = index;
    t->entries = entries;
    t->ecap = n;
    t->log2size = MIN_LOG2;
    t->joined = joined;
    return 0;
}

/* The tag small_reserve's index keeps of hash h: tag_of's, with the
 * width and size constant. */
#define SMALL_TAG_BITS (8 - 1 - MIN_LOG2)
#define SMALL_TAG(h) ((int8_t)(((h) >> (32 - SMALL_TAG_BITS)) << MIN_LOG2))

/* set_pairs_w for an empty dict table and n <= SMALL_DIRECT_MAX pairs
 * (stride as there): the table made at its final size (small_reserve)
 * and each pair placed as insert_reserved_w places it, with the index's
 * width, size and tag width constant and no window. A decoded {'v': i}
 * went through set_pairs_w's windows and the table's general inserts:
 * 234 instructions. Hashes are taken first, as set_pairs_w takes a
 * window's; a key that cannot be hashed fails after the pairs before it
 * are stored. */
static inline __attribute__((always_inline)) int
small_pairs(md_table *t, md_val *const *items, size_t n, size_t stride, md_pyerr *e, bool steal,
            size_t *taken, uint32_t *given, uint64_t known)
{
    uint32_t hashes[SMALL_DIRECT_MAX];
    md_pyerr hash_err;   /* only read on failure */
    size_t hashed = n;
    for (size_t j = 0; j < n; j++) {
        int64_t h;
        if (given && (known >> j & 1)) {
            hashes[j] = given[j];
        } else if (md_val__hash_key(items[j * 2 * stride], &h, &hash_err) < 0) {
            hashed = j;
            break;
        } else {
            hashes[j] = (uint32_t)h;
            if (given)
                given[j] = hashes[j];
        }
    }
    /* No pair to store: the table stays without a block (a joined
     * table always had an entry). */
    if (hashed == 0) {
        if (e)
            *e = hash_err;
        return -1;
    }
    if (small_reserve(t, n) < 0) {
        md_val__nomem(e);
        return -1;
    }
    int8_t *index = t->index;
    if (hashed == 1 && n == 1) {
        /* One pair (a {'v': i}): its slot is the first of its probe,
         * in an index with nothing else in it. */
        index[hashes[0] & ((1u << MIN_LOG2) - 1)] =
            (int8_t)(add_entry_refs(t, items[0], items[stride], hashes[0], steal) |
                     SMALL_TAG(hashes[0]));
        *taken = 1;
        return 0;
    }
    const uint32_t *kept = tbl_hashes(t);
    for (size_t j = 0; j < hashed; j++) {
        md_val *const *pair = &items[j * 2 * stride];
        uint32_t h = hashes[j];
        int8_t tag = SMALL_TAG(h);
        probe p = { .base = h & ((1u << MIN_LOG2) - 1), .mask = (1u << MIN_LOG2) - 1,
                    .perturb = h, .run = 0 };
        size_t slot = p.base;
        long found = -1;
        for (int8_t raw; (raw = index[slot]) != IX_EMPTY; slot = probe_next(&p)) {
            long at = raw & ((1 << MIN_LOG2) - 1);
            if (raw < 0 || (raw & ~((1 << MIN_LOG2) - 1)) != tag || kept[at] != h)
                continue;
            int eq = keys_equal(t->entries[at * 2], pair[0], e);
            if (eq < 0)
                return -1;
            if (eq) {
                found = at;
                break;
            }
        }
        *taken = j + 1;
        if (found < 0) {
            index[slot] = (int8_t)(add_entry_refs(t, pair[0], pair[stride], h, steal) | tag);
            continue;
        }
        replace_value(t, (size_t)found, pair[stride]);
        if (steal) {
            md_decref(pair[stride]);
            md_decref(pair[0]);
        }
    }
    if (hashed < n) {
        if (e)
            *e = hash_err;
        return -1;
    }
    return 0;
}

static inline __attribute__((always_inline)) int
set_pairs(md_table *t, md_val *const *items, size_t n, size_t stride, md_pyerr *e, bool steal,
          size_t *taken, uint32_t *given, uint64_t known)
{
    *taken = 0;
    if (n == 0)
        return 0;
    if (!t->ecap && !t->log2size && n <= SMALL_DIRECT_MAX && t->stride == 2)
        return small_pairs(t, items, n, stride, e, steal, taken, given, known);
    if (md_table__reserve(t, n) < 0) {
        md_val__nomem(e);
        return -1;
    }
    switch (ix_width(t->log2size)) {
    case 1: return set_pairs_w(t, items, n, stride, e, 1, steal, taken, given, known);
    case 2: return set_pairs_w(t, items, n, stride, e, 2, steal, taken, given, known);
    case 4: return set_pairs_w(t, items, n, stride, e, 4, steal, taken, given, known);
    default: return set_pairs_w(t, items, n, stride, e, 8, steal, taken, given, known);
    }
}

int md_dict_set_pairs(md_val *d, md_val *const *items, size_t n, size_t stride,
                      md_pyerr *e)
{
    size_t taken;
    return set_pairs(table_of(d), items, n, stride, e, false, &taken, NULL, 0);
}

int md_dict_set_pairs_steal(md_val *d, md_val *const *items, size_t n, size_t stride,
                            md_pyerr *e, size_t *taken)
{
    return set_pairs(table_of(d), items, n, stride, e, true, taken, NULL, 0);
}

int md_dict_set_pairs_steal_hashed(md_val *d, md_val *const *items, size_t n, size_t stride,
                                   uint32_t *hashes, uint64_t known, md_pyerr *e,
                                   size_t *taken)
{
    MD_ASSERT(n <= MD_PAIRS_HASHED_MAX);
    return set_pairs(table_of(d), items, n, stride, e, true, taken, hashes, known);
}

int md_dict_set_first_steal_hashed(md_val *d, md_val *key, md_val *val, uint32_t h)
{
    md_table *t = table_raw(d);
    /* set_pairs' test for small_pairs (a dict has stride 2; a pending
     * table has a block) */
    if (t->ecap || t->log2size)
        return 1;
    /* small_pairs of one pair whose hash is known */
    if (small_reserve(t, 1) < 0)
        return -1;
    int8_t *index = t->index;
    index[h & ((1u << MIN_LOG2) - 1)] =
        (int8_t)(add_entry_refs(t, key, val, h, true) | SMALL_TAG(h));
    return 0;
}

/* md_table__merge of a pending src (never dst: table_of settled that):
 * its pairs go into dst in stream order, each key hashed once on the
 * way, which is what building src and then merging it would give (a key
 * repeated in src: dst keeps the first key object and takes the last
 * value). src stays pending; a decoded chunk is dropped soon after.
 * With dst reserved (md_dict_reserve_update), nothing here allocates or
 * fails: src's keys hash and compare without error. */
static int merge_pending(md_table *dst, const md_table *src, md_pyerr *e)
{
    MD_ASSERT(dst != src && src->stride == 2 && dst->stride == 2);
    size_t taken;
    return set_pairs(dst, src->entries, src->nentries, 1, e, false, &taken, NULL, 0);
}

int md_dict_defer_pairs_steal_upto(md_val *d, md_val *const *items, size_t n, size_t stride,
                                   size_t most)
{
    md_table *t = table_raw(d);
    if (!t->pending && (t->nentries || n < PENDING_MIN_PAIRS))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!key_defers(items[2 * i * stride]))
            return 0;
    if (pending_reserve(t, n, most) < 0)
        return -1;
    t->pending = true;
    md_val **ent = &t->entries[t->nentries * 2];
    for (size_t i = 0; i < n; i++) {
        ent[2 * i] = items[2 * i * stride];
        ent[2 * i + 1] = items[(2 * i + 1) * stride];
        track_if_container(t, ent[2 * i + 1]);
    }
    t->nentries += n;
    t->used += n;
    return 1;
}

int md_dict_defer_pairs_steal(md_val *d, md_val *const *items, size_t n, size_t stride)
{
    return md_dict_defer_pairs_steal_upto(d, items, n, stride, SIZE_MAX);
}

int md_dict_reserve(md_val *d, size_t n)
{
    return md_table__reserve(table_of(d), n);
}

int md_dict_set(md_val *d, md_val *key, md_val *val, md_pyerr *e)
{
    int64_t h;
    if (md_val__hash(key, &h, e, md_val__lookup_depth) < 0)
        return -1;
    return md_dict_set_hashed(d, key, h, val, e);
}

int md_dict_prepare(const md_val *d, md_val *key, int64_t *hash, md_pyerr *e)
{
    if (md_val__hash(key, hash, e, md_val__lookup_depth) < 0)
        return -1;
    const md_table *t = table_of(d);
    if (t->log2size)
        __builtin_prefetch((const char *)t->index +
                           ((uint32_t)*hash & (tbl_size(t) - 1)) * ix_width(t->log2size));
    return 0;
}

int md_dict_set_hashed(md_val *d, md_val *key, int64_t hash, md_val *val, md_pyerr *e)
{
    md_table *t = table_of(d);
    bool added;
    long ix = insert_hashed(t, key, val, (uint32_t)hash, &added, e);
    if (ix < 0)
        return -1;
    if (!added)
        replace_value(t, (size_t)ix, val);
    return 0;
}

md_val *md_dict_get(const md_val *d, md_val *key, md_pyerr *e)
{
    md_pyerr_clear(e);
    const md_table *t = table_of(d);
    long ix = md_table__find(t, key, NULL, e);
    if (ix < 0)
        return NULL;
    return t->entries[(size_t)ix * 2 + 1];
}

/* Removes key's entry (dict del, set discard): 1, 0 when there is
 * none, or -1 with e set. */
static int table_discard(md_table *t, md_val *key, md_pyerr *e)
{
    size_t slot;
    long ix = md_table__find(t, key, &slot, e);
    if (ix == -2)
        return -1;
    if (ix == -1)
        return 0;
    md_table__remove_at(t, (size_t)ix, slot);
    return 1;
}

int md_dict_del(md_val *d, md_val *key, md_pyerr *e)
{
    return table_discard(table_of(d), key, e);
}

md_val *md_dict_pop(md_val *d, md_val *key, md_pyerr *e)
{
    md_pyerr_clear(e);
    md_table *t = table_of(d);
    size_t slot;
    long ix = md_table__find(t, key, &slot, e);
    if (ix < 0)
        return NULL;
    md_val *val = md_incref(t->entries[(size_t)ix * 2 + 1]);
    md_table__remove_at(t, (size_t)ix, slot);
    return val;
}

void md_dict_clear(md_val *d)
{
    md_table__clear(table_raw(d));   /* pending or not: nothing to settle */
}

bool md_dict_next(const md_val *d, size_t *pos, md_val **key, md_val **val)
{
    const md_table *t = table_of(d);
    while (*pos < t->nentries) {
        size_t i = (*pos)++;
        md_val *k = t->entries[i * 2];
        if (k) {
            if (key)
                *key = k;
            if (val)
                *val = t->entries[i * 2 + 1];
            return true;
        }
    }
    return false;
}

md_val *const *md_dict_entries(const md_val *d, size_t *n)
{
    const md_table *t = table_of(d);
    *n = t->nentries;
    return t->entries;
}

/* ======================================================================
 * set, frozenset
 * ====================================================================== */

md_val *md_set_new(bool frozen)
{
    md_tableobj *s = md_val__alloc_gc(frozen ? MD_T_FROZENSET : MD_T_SET, sizeof *s);
    if (!s)
        return NULL;
    md_table__init(&s->t, 1);
    return &s->h;
}

size_t md_set_len(const md_val *s)
{
    return table_of(s)->used;
}

int md_set_add(md_val *s, md_val *item, md_pyerr *e)
{
    bool added;
    return md_table__insert(table_of(s), item, NULL, &added, e) < 0 ? -1 : 0;
}

int md_set_contains(const md_val *s, md_val *item, md_pyerr *e)
{
    long ix = md_table__find(table_of(s), item, NULL, e);
    return ix == -2 ? -1 : ix >= 0;
}

int md_set_all_in(const md_val *a, const md_val *b, md_pyerr *e)
{
    size_t pos = 0;
    md_val *x;
    while (md_set_next(a, &pos, &x)) {
        int r = md_set_contains(b, x, e);
        if (r <= 0)
            return r;
    }
    return 1;
}

int md_set_discard(md_val *s, md_val *item, md_pyerr *e)
{
    return table_discard(table_of(s), item, e);
}

void md_set_clear(md_val *s)
{
    md_table__clear(table_of(s));
}

bool md_set_next(const md_val *s, size_t *pos, md_val **item)
{
    const md_table *t = table_of(s);
    while (*pos < t->nentries) {
        md_val *k = t->entries[(*pos)++];
        if (k) {
            if (item)
                *item = k;
            return true;
        }
    }
    return false;
}
