/* test_value_table.c - the sizing side of the value layer's memory
 * (core/value/value_table.c growth, core/value/value_slab.c chunks, big
 * bytes from blocks kept warm): a table's index stays between one and
 * four slots per entry whatever its size, with deletions and
 * reinsertions found again; a table that cannot grow (out of memory at
 * any allocation) is left as it was; the bytes per stored item are flat
 * from 1k to 1M items; slab pages are aligned in mapped chunks; a big
 * bytes value takes a warm block and gives it back; small tables come
 * from the slab and fail cleanly at each allocation; a dict or set is
 * tracked by the collector exactly when a container went into it, by
 * every way of storing one. White-box: reads the table through
 * value_impl.h. */
#include "tests/unit/unit.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/limits.h"
#include "core/value/value_impl.h"

static const md_table *table_in(const md_val *v)
{
    return &((const md_tableobj *)v)->t;
}

static size_t index_slots(const md_table *t)
{
    return t->log2size ? (size_t)1 << t->log2size : 0;
}

/* The index was last sized for at least `live` entries at a load of at
 * most one half: fewer than four slots per live entry (or the smallest
 * index), and never fuller than two thirds. */
static bool index_sized_for(const md_table *t, size_t live)
{
    size_t slots = index_slots(t);
    if (t->nentries * 3 > slots * 2)
        return false;
    return slots <= 8 || slots < 4 * (live + 1);
}

static int64_t as_i64(const md_val *v)
{
    int64_t x = INT64_MIN;
    if (v)
        (void)md_int_to_i64(v, &x);
    return x;
}

static bool has_int(const md_val *d, int64_t key, int64_t want)
{
    md_pyerr e;
    md_val *v = md_dict_get(d, md_int_from_i64(key), &e);
    return v && as_i64(v) == want;
}

static void test_table_index_doubles_and_stays_half_to_two_thirds_full(void)
{
    enum { N = 300000 };
    md_val *d = md_dict_new();
    size_t rebuilds = 0;
    uint8_t log2 = 0;
    bool sized = true;
    for (int64_t i = 0; i < N; i++) {
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(-i), NULL) == 0);
        const md_table *t = table_in(d);
        if (t->log2size != log2) {
            /* growth doubles the index: never skips a power of two */
            CU_ASSERT(log2 == 0 || t->log2size == log2 + 1);
            log2 = t->log2size;
            rebuilds++;
        }
        sized &= index_sized_for(t, t->used);
    }
    CU_ASSERT(sized);
    /* 8 slots doubled 16 times: 2^19 slots (the last doubling at
     * 174,763 entries, 2/3 of 2^18), not 2^20 as growing to 3 slots per
     * entry gave (2^18 * 2/3 * 3 > 2^19) */
    CU_ASSERT_EQUAL(log2, 19);
    CU_ASSERT_EQUAL(rebuilds, 17);
    size_t missing = 0;
    for (int64_t i = 0; i < N; i++)
        missing += !has_int(d, i, -i);
    CU_ASSERT_EQUAL(missing, 0);
    md_decref(d);
}

/* Deleting three keys in four leaves dummies; inserting as many new keys
 * again compacts or rebuilds, and every live key is found, none of the
 * deleted, in insertion order. */
static void test_table_deletions_and_reinsertion_across_sizes(void)
{
    static const int sizes[] = {5, 100, 5000, 70000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        md_val *d = md_dict_new();
        for (int i = 0; i < n; i++)
            CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(i), NULL) == 0);
        md_pyerr err;
        for (int i = 0; i < n; i++)
            if (i % 4)
                CU_ASSERT_FATAL(md_dict_del(d, md_int_from_i64(i), &err) == 1);
        size_t slots_after_delete = index_slots(table_in(d));
        for (int i = n; i < 2 * n; i++)
            CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(i), NULL) == 0);
        const md_table *t = table_in(d);
        /* room came from dropping the dummies, not from a bigger index */
        CU_ASSERT(index_slots(t) <= 2 * slots_after_delete);
        CU_ASSERT(t->nentries <= t->ecap && t->nentries * 3 <= index_slots(t) * 2);
        size_t bad = 0, pos = 0, seen = 0;
        for (int i = 0; i < 2 * n; i++) {
            bool live = i >= n || i % 4 == 0;
            md_pyerr e;
            md_val *v = md_dict_get(d, md_int_from_i64(i), &e);
            bad += live ? as_i64(v) != i : v != NULL;
        }
        md_val *k, *v;
        int64_t last = -1;
        while (md_dict_next(d, &pos, &k, &v)) {
            bad += as_i64(k) <= last;   /* insertion order kept */
            last = as_i64(k);
            seen++;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(seen, (size_t)(n + (n + 3) / 4));
        CU_ASSERT_EQUAL(md_dict_len(d), seen);
        md_decref(d);
    }
}

/* Growing a table fails at each of its allocations in turn (index, then
 * entries): the table keeps every item and stays usable. */
static void test_table_growth_out_of_memory_at_every_allocation_changes_nothing(void)
{
    enum { N = 1000 };
    md_val *d = md_dict_new();
    for (int i = 0; i < N; i++)
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(i), NULL) == 0);
    size_t refused = 0;
    for (long fail_at = 0; fail_at < 10; fail_at++) {
        md_table before = *table_in(d);
        unsigned long failures = md_alloc_failures();
        md_alloc_fail_after(fail_at);
        int rc = md_dict_reserve(d, 20000);
        md_alloc_fail_after(-1);
        if (md_alloc_failures() == failures) {
            CU_ASSERT_EQUAL(rc, 0);
            break;
        }
        refused++;
        CU_ASSERT(rc < 0);
        const md_table *t = table_in(d);
        CU_ASSERT_EQUAL(t->used, before.used);
        CU_ASSERT_EQUAL(t->log2size, before.log2size);
        CU_ASSERT_PTR_EQUAL(t->index, before.index);
    }
    CU_ASSERT(refused >= 1);
    size_t missing = 0;
    for (int i = 0; i < N; i++)
        missing += !has_int(d, i, i);
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT(index_slots(table_in(d)) >= 2 * (N + 20000));
    md_decref(d);
}

/* Bytes a dict of n items like 'k0000123' -> 123 takes: keys (slab
 * object size), entries and index blocks with malloc's 8-byte header,
 * the dict object itself. */
static size_t object_bytes(const md_val *v)
{
    size_t slab = md_val__slab_bytes(v);
    return slab ? slab : malloc_usable_size((void *)v) + 8;
}

static double dict_bytes_per_item(int n)
{
    md_val *d = md_dict_new();
    size_t bytes = 0;
    bool stored = true;
    for (int i = 0; i < n; i++) {
        char key[32];
        md_val *k = md_str_new(key, (size_t)snprintf(key, sizeof key, "k%07d", i));
        bytes += object_bytes(k);
        stored &= md_dict_set(d, k, md_int_from_i64(i), NULL) == 0;
        md_decref(k);
    }
    CU_ASSERT(stored);
    const md_table *t = table_in(d);
    bytes += malloc_usable_size(t->entries) + 8 + malloc_usable_size(t->index) + 8;
    bytes += sizeof(gc_head) + sizeof(md_tableobj);
    md_decref(d);
    return (double)bytes / n;
}

static void test_table_bytes_per_item_flat_from_1k_to_1m(void)
{
    static const int sizes[] = {1000, 10000, 100000, 1000000};
    double lo = 1e9, hi = 0;
    fprintf(stderr, "\n  str -> int dict, bytes per item:");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double b = dict_bytes_per_item(sizes[i]);
        fprintf(stderr, " %d: %.1f", sizes[i], b);
        lo = b < lo ? b : lo;
        hi = b > hi ? b : hi;
    }
    fprintf(stderr, "\n");
    CU_ASSERT(hi <= 60);
    CU_ASSERT(hi - lo <= 10);
}

/* Slab pages come out of mapped chunks aligned to their size: the page
 * of an object is its address rounded down, and the objects of one
 * class fill whole pages (none lost to alignment), over several chunks. */
static void test_slab_pages_aligned_in_chunks(void)
{
    enum { SIZE = 24 };
    size_t per_page = (MD_SLAB_PAGE_BYTES - 64) / SIZE;
    size_t n = 3 * (MD_SLAB_CHUNK_BYTES / MD_SLAB_PAGE_BYTES) * per_page;
    void **objs = malloc(n * sizeof *objs);
    CU_ASSERT_FATAL(objs != NULL);
    size_t pages0, spare0, pages, spare;
    md_val__slab_stats(SIZE, &pages0, &spare0);
    size_t misaligned = 0, page_changes = 0;
    uintptr_t last_page = 0;
    for (size_t i = 0; i < n; i++) {
        objs[i] = md_val__slab_alloc(SIZE);
        CU_ASSERT_FATAL(objs[i] != NULL);
        memset(objs[i], 0xab, SIZE);
        uintptr_t page = (uintptr_t)objs[i] & ~(uintptr_t)(MD_SLAB_PAGE_BYTES - 1);
        misaligned += (uintptr_t)objs[i] - page < 64 || (uintptr_t)objs[i] % 8;
        page_changes += page != last_page;
        last_page = page;
    }
    md_val__slab_stats(SIZE, &pages, &spare);
    CU_ASSERT_EQUAL(misaligned, 0);
    /* new pages only as each fills: n objects take n / per_page pages */
    CU_ASSERT(pages - pages0 <= n / per_page + 1);
    CU_ASSERT(page_changes <= n / per_page + 2);
    for (size_t i = 0; i < n; i++)
        md_val__slab_free(objs[i], SIZE);
    md_val__slab_stats(SIZE, &pages, &spare);
    CU_ASSERT(pages <= pages0);
    free(objs);
}

/* A big bytes value takes a block kept warm and gives it back when freed;
 * the same for a big bytearray's data; out of memory, nothing is made
 * and the block stays kept. */
static void test_big_bytes_take_a_warm_block_and_give_it_back(void)
{
    size_t n = 2 * MD_WARM_MIN_BYTES;
    uint8_t *data = malloc(n);
    CU_ASSERT_FATAL(data != NULL);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7);
    md_alloc_warm_enable(true);
    md_alloc_warm_release();
    md_free_sized(md_malloc_sized(n + 64), n + 64);
    CU_ASSERT(md_alloc_warm_bytes() >= n);
    md_val *b = md_bytes_new(data, n);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), 0);
    CU_ASSERT_EQUAL(md_bytes_len(b), n);
    CU_ASSERT_EQUAL(memcmp(md_bytes_data(b), data, n), 0);
    md_decref(b);
    CU_ASSERT(md_alloc_warm_bytes() >= n);
    md_val *ba = md_bytearray_new(data, n);
    CU_ASSERT_FATAL(ba != NULL);
    CU_ASSERT_EQUAL(memcmp(md_bytes_data(ba), data, n), 0);
    md_decref(ba);
    size_t kept = md_alloc_warm_bytes();
    CU_ASSERT(kept >= n);
    md_alloc_fail_after(0);
    md_val *none = md_bytes_new(data, n);
    md_alloc_fail_after(-1);
    CU_ASSERT_PTR_NULL(none);
    CU_ASSERT_EQUAL(md_alloc_warm_bytes(), kept);
    md_alloc_warm_enable(false);
    free(data);
}

/* ======================================================================
 * Collector tracking of dicts and sets (born untracked)
 * ====================================================================== */

/* A dict, set or frozenset is born off the collector's lists and joins
 * them only when a container is stored into it: each way of storing
 * leaves an atom-only table untracked (never walked, even by a full
 * collection) and a table given a container tracked. */
enum { BUILD_SET, BUILD_REPLACE, BUILD_HASHED, BUILD_PAIRS, BUILD_PAIRS_STEAL,
       BUILD_PAIRS_REPLACE, BUILD_COPY, BUILD_UPDATE_EMPTY, BUILD_UPDATE, BUILD_UPDATE_REPLACE,
       BUILD_SET_ADD, BUILD_FROZENSET_ADD, BUILD_WAYS };

/* A table built the `way`-th way with `item` as the value stored (or
 * the set member), after a first atom-only entry. */
static md_val *table_built(int way, md_val *item)
{
    md_val *k = md_str_from_cstr("k"), *x = md_str_from_cstr("x"), *one = md_int_from_i64(1);
    md_val *t = way >= BUILD_SET_ADD ? md_set_new(way == BUILD_FROZENSET_ADD) : md_dict_new();
    md_pyerr e;
    int64_t h;
    bool ok = t != NULL;
    if (ok)
        ok = way >= BUILD_SET_ADD ? md_set_add(t, x, &e) == 0 : md_dict_set(t, x, one, NULL) == 0;
    md_val *pairs[] = { x, item, k, item };
    switch (way) {
    case BUILD_SET: ok &= md_dict_set(t, k, item, NULL) == 0; break;
    case BUILD_REPLACE: ok &= md_dict_set(t, x, item, NULL) == 0; break;
    case BUILD_HASHED:
        ok &= md_dict_prepare(t, k, &h, &e) == 0 && md_dict_set_hashed(t, k, h, item, &e) == 0;
        break;
    case BUILD_PAIRS: ok &= md_dict_set_pairs(t, pairs + 2, 1, 1, &e) == 0; break;
    case BUILD_PAIRS_STEAL: {
        size_t taken;
        md_val *stolen[] = { md_incref(k), md_incref(item) };
        ok &= md_dict_set_pairs_steal(t, stolen, 1, 1, &e, &taken) == 0 && taken == 1;
        break;
    }
    case BUILD_PAIRS_REPLACE: ok &= md_dict_set_pairs(t, pairs, 1, 1, &e) == 0; break;
    case BUILD_COPY: {
        ok &= md_dict_set(t, k, item, NULL) == 0;
        md_val *c = md_dict_copy(t);
        ok &= c != NULL;
        md_decref(t);
        t = c;
        break;
    }
    case BUILD_UPDATE_EMPTY:
    case BUILD_UPDATE:
    case BUILD_UPDATE_REPLACE: {
        md_val *from = md_dict_new();
        ok &= from && md_dict_set(from, way == BUILD_UPDATE_REPLACE ? x : k, item, NULL) == 0;
        if (way == BUILD_UPDATE_EMPTY)
            md_dict_clear(t);
        ok &= md_dict_update(t, from, &e) == 0;
        md_decref(from);
        break;
    }
    default: ok &= md_set_add(t, item, &e) == 0; break;
    }
    md_decref(k);
    md_decref(x);
    CU_ASSERT_FATAL(ok && t != NULL);
    return t;
}

static void test_table_atom_only_dicts_and_sets_are_never_tracked(void)
{
    for (int way = 0; way < BUILD_WAYS; way++) {
        md_val *atom = md_str_from_cstr("atom");
        md_val *t = table_built(way, atom);
        CU_ASSERT_FALSE(md_val__gc_tracked(t));
        md_gc_collect();
        CU_ASSERT_FALSE(md_val__gc_tracked(t));
        md_decref(t);
        md_decref(atom);
    }
    /* and a tuple (a container, if of atoms) does track it */
    md_val *tup = md_tuple_pack(1, md_none());
    md_val *t = table_built(BUILD_SET_ADD, tup);
    CU_ASSERT_TRUE(md_val__gc_tracked(t));
    md_decref(t);
    md_decref(tup);
}

/* A dict whose only container is deleted is taken off the lists again
 * by the next collection, and put back by the next container. */
static void test_table_dict_emptied_of_containers_is_untracked_at_collection(void)
{
    md_val *d = md_dict_new(), *k = md_str_from_cstr("k"), *l = md_list_new(0);
    CU_ASSERT_EQUAL_FATAL(md_dict_set(d, k, l, NULL), 0);
    CU_ASSERT_TRUE(md_val__gc_tracked(d));
    md_gc_collect();
    CU_ASSERT_TRUE(md_val__gc_tracked(d));   /* still holds the list */
    CU_ASSERT_EQUAL(md_dict_set(d, k, md_int_from_i64(1), NULL), 0);
    CU_ASSERT_TRUE(md_val__gc_tracked(d));
    md_gc_collect();
    CU_ASSERT_FALSE(md_val__gc_tracked(d));
    CU_ASSERT_EQUAL(md_dict_set(d, k, l, NULL), 0);
    CU_ASSERT_TRUE(md_val__gc_tracked(d));
    md_decref(d);
    md_decref(k);
    md_decref(l);
}

/* A cycle made through a table built each way: the table holds a list
 * (for a set: an instance, hashable, whose state is the list) that
 * holds the table. */
static void test_table_cycles_through_tables_built_each_way_are_collected(void)
{
    md_gc_collect();
    size_t start = md_gc_tracked();
    for (int way = 0; way < BUILD_WAYS; way++) {
        md_val *l = md_list_new(0);
        md_val *item = md_incref(l);
        if (way >= BUILD_SET_ADD) {
            md_decref(item);
            md_val *g = md_global_new("mod", "Cls");
            item = md_opaque_new(MD_OPQ_REDUCE, g, NULL);
            CU_ASSERT_PTR_NOT_NULL_FATAL(item);
            md_opaque_set_state_steal(item, md_incref(l));
            md_decref(g);
        }
        md_val *t = table_built(way, item);
        CU_ASSERT_TRUE(md_val__gc_tracked(t));
        CU_ASSERT_EQUAL(md_list_append(l, t), 0);
        md_decref(t);
        md_decref(item);
        md_decref(l);
        size_t freed = md_gc_collect();
        CU_ASSERT_EQUAL(freed, way >= BUILD_SET_ADD ? 3u : 2u);
        CU_ASSERT_EQUAL(md_gc_tracked(), start);
        if (freed < 2)
            fprintf(stderr, "\n    cycle through way %d not collected\n", way);
    }
}

/* Small tables take their object, index and entries from the slab and
 * grow from it into malloc: refused at each allocation in turn, building
 * or growing a small dict or copying one fails cleanly, with the items
 * stored so far intact. */
static void test_table_small_tables_fail_cleanly_at_every_allocation(void)
{
    enum { N = 12 };
    size_t refused = 0;
    for (long fail_at = 0; fail_at < 200; fail_at++) {
        unsigned long failures = md_alloc_failures();
        md_alloc_fail_after(fail_at);
        md_val *d = md_dict_new();
        int stored = 0;
        if (d)
            for (; stored < N; stored++)
                if (md_dict_set(d, md_int_from_i64(stored), md_int_from_i64(-stored), NULL) < 0)
                    break;
        md_val *c = d ? md_dict_copy(d) : NULL;
        md_alloc_fail_after(-1);
        bool intact = true;
        for (int i = 0; d && i < stored; i++)
            intact &= has_int(d, i, -i) && (!c || has_int(c, i, -i));
        CU_ASSERT_TRUE(intact);
        CU_ASSERT(!d || md_dict_len(d) == (size_t)stored);
        /* still usable after a failure */
        CU_ASSERT(!d || md_dict_set(d, md_int_from_i64(N), md_int_from_i64(-N), NULL) == 0);
        CU_ASSERT(!d || has_int(d, N, -N));
        md_decref(c);
        md_decref(d);
        if (md_alloc_failures() == failures) {
            CU_ASSERT(stored == N && c != NULL);
            break;
        }
        refused++;
    }
    CU_ASSERT(refused >= 6);
}

/* ======================================================================
 * Small dicts built at their final size (value_table.c small_pairs)
 * ====================================================================== */

/* A dict given n <= 4 pairs while empty is built directly: the shape a
 * rebuild gives (8 index slots, exactly n entries). */
static bool built_small(const md_val *d, size_t n)
{
    const md_table *t = table_in(d);
    return t->log2size == 3 && t->ecap == n && t->nentries <= n;
}

static md_val *str_of(const char *s)
{
    return md_str_new(s, strlen(s));
}

/* The ways to give the pairs: copied, stolen, stolen with the hashes of
 * some keys given (as the decoder gives those it kept). */
enum { SMALL_COPY, SMALL_STEAL, SMALL_HASHED, SMALL_WAYS };

/* Stores pairs[0..2n) into the empty dict d the `way`-th way; returns the
 * call's result and in *taken the pairs it took (n for SMALL_COPY when
 * it succeeds). The caller's references stay the caller's. */
static int small_store(md_val *d, md_val **pairs, size_t n, int way, md_pyerr *e, size_t *taken)
{
    md_val *owned[8];
    for (size_t i = 0; i < 2 * n; i++)
        owned[i] = way == SMALL_COPY ? pairs[i] : md_incref(pairs[i]);
    int rc;
    *taken = n;
    if (way == SMALL_COPY) {
        rc = md_dict_set_pairs(d, owned, n, 1, e);
    } else if (way == SMALL_STEAL) {
        rc = md_dict_set_pairs_steal(d, owned, n, 1, e, taken);
    } else {
        uint32_t hashes[4];
        uint64_t known = 0;
        for (size_t j = 0; j < n; j += 2) {   /* every other key's hash given */
            int64_t h;
            if (md_val__hash_key(pairs[2 * j], &h, NULL) == 0) {
                hashes[j] = (uint32_t)h;
                known |= UINT64_C(1) << j;
            }
        }
        rc = md_dict_set_pairs_steal_hashed(d, owned, n, 1, hashes, known, e, taken);
    }
    for (size_t i = way == SMALL_COPY ? 2 * n : 2 * *taken; i < 2 * n; i++)
        md_decref(owned[i]);   /* the pairs a failed steal left */
    return rc;
}

/* Keys in insertion order and values, as "k=v," text (ints and str). */
static void small_items_text(const md_val *d, char *out, size_t cap)
{
    size_t pos = 0, at = 0;
    md_val *k, *v;
    out[0] = '\0';
    while (md_dict_next(d, &pos, &k, &v) && at + 40 < cap) {
        const char *ks = md_typeof(k) == MD_T_STR ? md_str_data(k) : NULL;
        at += (size_t)snprintf(out + at, cap - at, "%s%s%lld=%lld,", ks ? ks : "",
                               md_typeof(k) == MD_T_BOOL ? "b" :
                               md_typeof(k) == MD_T_FLOAT ? "f" : "",
                               ks ? 0LL : (long long)as_i64(k), (long long)as_i64(v));
    }
}

/* Repeated keys inside one small batch: the first key object stays, the
 * last value wins, order is first insertion; every key is found and a
 * missing one is not; the dict then grows past its small table. */
static void test_small_direct_dict_repeats_keep_first_key_last_value(void)
{
    for (int way = 0; way < SMALL_WAYS; way++) {
        md_val *a1 = str_of("a"), *a2 = str_of("a"), *b = str_of("b"), *c = str_of("c");
        md_val *pairs[8] = { a1, md_int_from_i64(1), b, md_int_from_i64(2),
                             a2, md_int_from_i64(3), c, md_int_from_i64(4) };
        uint32_t a2_refs = a2->refcnt;
        md_val *d = md_dict_new();
        md_pyerr e;
        e.type = NULL;
        size_t taken = 0;
        CU_ASSERT_EQUAL_FATAL(small_store(d, pairs, 4, way, &e, &taken), 0);
        CU_ASSERT_EQUAL(taken, 4);
        CU_ASSERT_TRUE(built_small(d, 4));
        CU_ASSERT_EQUAL(md_dict_len(d), 3);
        char text[256];
        small_items_text(d, text, sizeof text);
        CU_ASSERT_STRING_EQUAL(text, "a0=3,b0=2,c0=4,");
        size_t pos = 0;
        md_val *k, *v;
        CU_ASSERT_TRUE(md_dict_next(d, &pos, &k, &v));
        CU_ASSERT_PTR_EQUAL(k, a1);            /* the first key object */
        CU_ASSERT_EQUAL(a2->refcnt, a2_refs);  /* the repeat's dropped */
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, a2, &e)), 3);
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, b, &e)), 2);
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, c, &e)), 4);
        md_val *z = str_of("z");
        e.type = NULL;
        CU_ASSERT_PTR_NULL(md_dict_get(d, z, &e));
        CU_ASSERT_PTR_NULL(e.type);
        for (int i = 0; i < 20; i++)
            CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(-i), NULL) == 0);
        size_t missing = 0;
        for (int i = 0; i < 20; i++)
            missing += !has_int(d, i, -i);
        CU_ASSERT_EQUAL(missing, 0);
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, a1, &e)), 3);
        CU_ASSERT_EQUAL(md_dict_len(d), 23);
        md_decref(d);
        md_decref(z);
        for (size_t i = 0; i < 8; i += 2)
            md_decref(pairs[i]);
    }
}

/* 1, 1.0 and True are one key in a small batch as anywhere: the first
 * key object is kept with the last value; 2 and 2.0 likewise. */
static void test_small_direct_dict_keys_equal_across_types(void)
{
    for (int way = 0; way < SMALL_WAYS; way++) {
        md_val *one_f = md_float_new(1.0), *two_f = md_float_new(2.0);
        md_val *pairs[8] = { md_true(), md_int_from_i64(10), md_int_from_i64(2), md_int_from_i64(20),
                             one_f, md_int_from_i64(30), two_f, md_int_from_i64(40) };
        md_val *d = md_dict_new();
        md_pyerr e;
        e.type = NULL;
        size_t taken = 0;
        CU_ASSERT_EQUAL_FATAL(small_store(d, pairs, 4, way, &e, &taken), 0);
        CU_ASSERT_TRUE(built_small(d, 4));
        CU_ASSERT_EQUAL(md_dict_len(d), 2);
        char text[256];
        small_items_text(d, text, sizeof text);
        CU_ASSERT_STRING_EQUAL(text, "b1=30,2=40,");
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, md_int_from_i64(1), &e)), 30);
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, two_f, &e)), 40);
        md_decref(d);
        md_decref(one_f);
        md_decref(two_f);
        /* and in three pairs: int 1 first, then True, then 1.0 */
        md_val *one_f2 = md_float_new(1.0);
        md_val *three[6] = { md_int_from_i64(1), md_int_from_i64(5), md_true(), md_int_from_i64(6),
                             one_f2, md_int_from_i64(7) };
        d = md_dict_new();
        CU_ASSERT_EQUAL_FATAL(small_store(d, three, 3, way, &e, &taken), 0);
        CU_ASSERT_TRUE(built_small(d, 3));
        small_items_text(d, text, sizeof text);
        CU_ASSERT_STRING_EQUAL(text, "1=7,");
        md_decref(d);
        md_decref(one_f2);
    }
}

/* An unhashable key in a small batch fails the call with TypeError after
 * the pairs before it are stored (as in Python); a stolen call took
 * exactly those pairs. */
static void test_small_direct_dict_unhashable_key_stops_after_the_pairs_before(void)
{
    for (int way = 0; way < SMALL_WAYS; way++) {
        md_val *a = str_of("a"), *l = md_list_new(0), *b = str_of("b");
        md_val *pairs[6] = { a, md_int_from_i64(1), l, md_int_from_i64(2), b, md_int_from_i64(3) };
        md_val *d = md_dict_new();
        md_pyerr e;
        e.type = NULL;
        size_t taken = 99;
        CU_ASSERT_EQUAL(small_store(d, pairs, 3, way, &e, &taken), -1);
        CU_ASSERT(e.type && strcmp(e.type, "TypeError") == 0);
        if (way != SMALL_COPY)
            CU_ASSERT_EQUAL(taken, 1);
        CU_ASSERT_EQUAL(md_dict_len(d), 1);
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, a, &e)), 1);
        CU_ASSERT_PTR_NULL(md_dict_get(d, b, &e));
        md_decref(d);
        md_decref(a);
        md_decref(l);
        md_decref(b);
    }
}

/* Out of memory at each allocation of a small direct build (the dict,
 * its entries block with the index joined to it): the call fails with
 * MemoryError, the dict is left empty and usable, nothing is taken and
 * no reference is lost. */
static void test_small_direct_dict_out_of_memory_at_every_allocation(void)
{
    for (int way = 0; way < SMALL_WAYS; way++) {
        size_t refused = 0;
        for (long fail_at = 0; fail_at < 20; fail_at++) {
            md_val *a = str_of("a"), *b = str_of("b");
            md_val *pairs[6] = { a, md_int_from_i64(1), b, md_int_from_i64(2), a, md_int_from_i64(3) };
            uint32_t a_refs = a->refcnt, b_refs = b->refcnt;
            unsigned long failures = md_alloc_failures();
            md_pyerr e;
            e.type = NULL;
            size_t taken = 99;
            md_alloc_fail_after(fail_at);
            md_val *d = md_dict_new();
            int rc = d ? small_store(d, pairs, 3, way, &e, &taken) : -1;
            md_alloc_fail_after(-1);
            bool hit = md_alloc_failures() != failures;
            if (d && rc < 0) {
                CU_ASSERT(e.type && strcmp(e.type, "MemoryError") == 0);
                if (way != SMALL_COPY)
                    CU_ASSERT_EQUAL(taken, 0);
                CU_ASSERT_EQUAL(md_dict_len(d), 0);
                CU_ASSERT_EQUAL(table_in(d)->ecap, 0);
                CU_ASSERT_EQUAL(a->refcnt, a_refs);
                CU_ASSERT_EQUAL(b->refcnt, b_refs);
                /* still usable: the same pairs go in */
                CU_ASSERT_EQUAL(small_store(d, pairs, 3, way, &e, &taken), 0);
            }
            CU_ASSERT(!d || (md_dict_len(d) == 2 && built_small(d, 3) &&
                             as_i64(md_dict_get(d, a, &e)) == 3 &&
                             as_i64(md_dict_get(d, b, &e)) == 2));
            md_decref(d);
            CU_ASSERT_EQUAL(a->refcnt, a_refs);
            md_decref(a);
            md_decref(b);
            if (!hit) {
                CU_ASSERT_EQUAL(rc, 0);
                break;
            }
            refused++;
        }
        /* dict object, entries and index (and any new slab page) */
        CU_ASSERT(refused >= 2);
    }
}

/* Five pairs take the general path (no direct build), and a dict that
 * already has a table is not rebuilt by the direct path. */
static void test_small_direct_dict_only_for_a_fresh_table_of_up_to_4_pairs(void)
{
    md_val *ks[5] = { str_of("a"), str_of("b"), str_of("c"), str_of("d"), str_of("e") };
    md_val *pairs[10];
    for (int i = 0; i < 5; i++) {
        pairs[2 * i] = ks[i];
        pairs[2 * i + 1] = md_int_from_i64(i);
    }
    md_pyerr e;
    e.type = NULL;
    md_val *d = md_dict_new();
    CU_ASSERT_EQUAL(md_dict_set_pairs(d, pairs, 5, 1, &e), 0);
    CU_ASSERT_EQUAL(md_dict_len(d), 5);
    CU_ASSERT_EQUAL(table_in(d)->ecap, 5);   /* exact, as reserved */
    md_decref(d);
    d = md_dict_new();
    CU_ASSERT_EQUAL(md_dict_set_pairs(d, pairs, 1, 1, &e), 0);
    CU_ASSERT_EQUAL(md_dict_set_pairs(d, pairs + 2, 2, 1, &e), 0);
    CU_ASSERT_EQUAL(md_dict_len(d), 3);
    CU_ASSERT(table_in(d)->ecap >= 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(as_i64(md_dict_get(d, ks[i], &e)), i);
    md_decref(d);
    for (int i = 0; i < 5; i++)
        md_decref(ks[i]);
}

/* A small table of up to 3 pairs keeps its index at the end of its
 * entries block (joined); 4 pairs do not fit one slab object. */
static void test_small_direct_dict_index_joined_up_to_3_pairs(void)
{
    for (size_t n = 1; n <= 4; n++) {
        md_val *pairs[8];
        for (size_t i = 0; i < n; i++) {
            pairs[2 * i] = md_int_from_i64((int64_t)i);
            pairs[2 * i + 1] = md_int_from_i64(-(int64_t)i);
        }
        md_val *d = md_dict_new();
        md_pyerr e;
        CU_ASSERT_EQUAL_FATAL(md_dict_set_pairs(d, pairs, n, 1, &e), 0);
        const md_table *t = table_in(d);
        CU_ASSERT_TRUE(built_small(d, n));
        CU_ASSERT_EQUAL(t->joined, n <= 3);
        bool at_end = (char *)t->index == (char *)t->entries + n * (2 * sizeof(md_val *) + 4);
        CU_ASSERT_EQUAL(at_end, n <= 3);
        CU_ASSERT(has_int(d, 0, 0) && has_int(d, (int64_t)n - 1, 1 - (int64_t)n));
        md_decref(d);
    }
}

/* A joined table grows every way (a new entry in its free slots after a
 * delete, past its entries, past its index, a reserve, a copy, a clear,
 * deleting everything and filling again) with every key found, and a
 * growth refused at each allocation leaves it joined and intact. */
static void test_small_direct_dict_joined_index_moves_out_when_it_grows(void)
{
    enum { GROW_STEPS = 6 };
    for (int step = 0; step < GROW_STEPS; step++) {
        md_val *pairs[4] = { md_int_from_i64(100), md_int_from_i64(-100),
                             md_int_from_i64(101), md_int_from_i64(-101) };
        md_val *d = md_dict_new();
        md_pyerr e;
        CU_ASSERT_EQUAL_FATAL(md_dict_set_pairs(d, pairs, 2, 1, &e), 0);
        CU_ASSERT_TRUE_FATAL(table_in(d)->joined);
        /* refused growth first: the table stays as it was */
        for (long fail_at = 0; fail_at < 3; fail_at++) {
            md_table before = *table_in(d);
            md_alloc_fail_after(fail_at);
            int rc = md_dict_reserve(d, 10);
            md_alloc_fail_after(-1);
            if (rc == 0) {
                md_dict_clear(d);
                CU_ASSERT_EQUAL_FATAL(md_dict_set_pairs(d, pairs, 2, 1, &e), 0);
                break;
            }
            const md_table *t = table_in(d);
            CU_ASSERT(t->joined && t->index == before.index && t->entries == before.entries);
            CU_ASSERT(has_int(d, 100, -100) && has_int(d, 101, -101));
        }
        int64_t live_from = 100;
        md_val *c = NULL;
        switch (step) {
        case 0:   /* room left in the 2 entries after a delete */
            CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(100), &e), 1);
            live_from = 101;
            break;
        case 1: CU_ASSERT_EQUAL(md_dict_reserve(d, 40), 0); break;
        case 2:
            c = md_dict_copy(d);
            CU_ASSERT_PTR_NOT_NULL_FATAL(c);
            md_decref(d);
            d = c;
            break;
        case 3: md_dict_clear(d); live_from = 102; break;
        case 4:
            CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(100), &e), 1);
            CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(101), &e), 1);
            live_from = 102;
            break;
        default: break;
        }
        for (int64_t i = 102; i < 130; i++)
            CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(-i), NULL) == 0);
        size_t missing = 0;
        for (int64_t i = live_from; i < 130; i++)
            missing += !has_int(d, i, -i);
        CU_ASSERT_EQUAL(missing, 0);
        CU_ASSERT_EQUAL(md_dict_len(d), (size_t)(130 - live_from));
        CU_ASSERT_FALSE(table_in(d)->joined);
        md_decref(d);
    }
}

void md_test_register_value_table(void)
{
    CU_pSuite s = md_test_suite("value_table");
    MD_ADD_TEST(s, test_table_index_doubles_and_stays_half_to_two_thirds_full);
    MD_ADD_TEST(s, test_table_deletions_and_reinsertion_across_sizes);
    MD_ADD_TEST(s, test_table_growth_out_of_memory_at_every_allocation_changes_nothing);
    MD_ADD_TEST(s, test_table_bytes_per_item_flat_from_1k_to_1m);
    MD_ADD_TEST(s, test_slab_pages_aligned_in_chunks);
    MD_ADD_TEST(s, test_big_bytes_take_a_warm_block_and_give_it_back);
    MD_ADD_TEST(s, test_table_atom_only_dicts_and_sets_are_never_tracked);
    MD_ADD_TEST(s, test_table_dict_emptied_of_containers_is_untracked_at_collection);
    MD_ADD_TEST(s, test_table_cycles_through_tables_built_each_way_are_collected);
    MD_ADD_TEST(s, test_table_small_tables_fail_cleanly_at_every_allocation);
    MD_ADD_TEST(s, test_small_direct_dict_repeats_keep_first_key_last_value);
    MD_ADD_TEST(s, test_small_direct_dict_keys_equal_across_types);
    MD_ADD_TEST(s, test_small_direct_dict_unhashable_key_stops_after_the_pairs_before);
    MD_ADD_TEST(s, test_small_direct_dict_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_small_direct_dict_only_for_a_fresh_table_of_up_to_4_pairs);
    MD_ADD_TEST(s, test_small_direct_dict_index_joined_up_to_3_pairs);
    MD_ADD_TEST(s, test_small_direct_dict_joined_index_moves_out_when_it_grows);
}
