/* test_value_pending.c - pending dicts (core/value/value_table.c's
 * "Pending tables"): a dict whose pairs were appended without hashing
 * reads, prints, compares, encodes, copies, changes and merges exactly
 * as the same dict built by inserting the pairs one by one (repeated
 * keys, 1 == 1.0 == True, growth, deletions after settling, a dict
 * merged into itself); settling and merging a reserved destination
 * allocate nothing; out of memory at any allocation of an append
 * changes nothing; the pickle decoder leaves big plain-keyed dicts
 * pending and builds the others at once. White-box: reads the table
 * through value_impl.h. */
#include "tests/unit/unit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/value/value_impl.h"
#include "serializers/pickle.h"
#include "tests/unit/support.h"

static const md_table *table_in(const md_val *v)
{
    return &((const md_tableobj *)v)->t;
}

static bool is_pending(const md_val *d)
{
    return table_in(d)->pending;
}

/* ---- pairs ---------------------------------------------------------------- */

/* Keys and values, pair i at items[2 i] and items[2 i + 1] (the test's
 * own references). */
typedef struct pairs {
    md_val **items;
    size_t n;
} pairs;

static pairs pairs_new(size_t n)
{
    pairs p = { md_malloc(2 * n * sizeof(md_val *)), n };
    CU_ASSERT_PTR_NOT_NULL_FATAL(p.items);
    return p;
}

static md_val *str_key(size_t i)
{
    char text[32];
    int len = snprintf(text, sizeof text, "k%07zu", i);
    return md_str_new(text, (size_t)len);
}

/* n pairs 'k%07d' % (first + i) -> first + i. */
static pairs pairs_str(size_t n, size_t first)
{
    pairs p = pairs_new(n);
    for (size_t i = 0; i < n; i++) {
        p.items[2 * i] = str_key(first + i);
        p.items[2 * i + 1] = md_int_from_i64((int64_t)(first + i));
    }
    return p;
}

static void pairs_free(pairs *p)
{
    for (size_t i = 0; i < 2 * p->n; i++)
        md_decref(p->items[i]);
    md_free(p->items);
}

/* Pairs with every kind of repeat: the same text in another str object
 * (in a later batch), 1 / 1.0 / True, 0 / 0.0 / False / -0.0, one NaN
 * object twice and another NaN once, equal bytes, None twice, a big int
 * and its float, 80 plain keys around them. */
static pairs pairs_with_repeats(void)
{
    enum { PLAIN = 80 };
    md_val *nan = md_float_new(NAN);
    md_val *big = md_int_from_decimal("1180591620717411303424", 22, false);   /* 2**70 */
    md_val *special[] = {
        md_int_from_i64(1), md_float_new(1.0), md_true(),
        md_int_from_i64(0), md_float_new(0.0), md_bool(false), md_float_new(-0.0),
        md_incref(nan), md_incref(nan), md_float_new(NAN),
        md_bytes_new("xy", 2), md_bytes_new("xy", 2), md_none(), md_none(),
        md_incref(big), md_float_new(1180591620717411303424.0), md_str_new("1", 1),
    };
    size_t nspecial = sizeof special / sizeof special[0];
    pairs p = pairs_new(PLAIN + nspecial + PLAIN);
    size_t at = 0;
    for (size_t i = 0; i < PLAIN; i++, at++) {
        p.items[2 * at] = str_key(i);
        p.items[2 * at + 1] = md_int_from_i64((int64_t)at);
    }
    for (size_t i = 0; i < nspecial; i++, at++) {
        p.items[2 * at] = special[i];
        p.items[2 * at + 1] = md_int_from_i64((int64_t)at);
    }
    for (size_t i = 0; i < PLAIN; i++, at++) {
        /* every other one repeats a key of the first run, in a new object */
        p.items[2 * at] = str_key(i % 2 ? i : PLAIN + i);
        p.items[2 * at + 1] = md_int_from_i64((int64_t)at);
    }
    md_decref(nan);
    md_decref(big);
    return p;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* A dict of p's pairs appended pending, in batches of `batch`, each
 * told that `slack` more pairs than p has may still come (SIZE_MAX: the
 * call that knows no bound). */
static md_val *pending_upto(const pairs *p, size_t batch, size_t slack)
{
    md_val *d = md_dict_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    for (size_t at = 0; at < p->n; at += batch) {
        size_t k = min_size(batch, p->n - at);
        for (size_t j = 0; j < 2 * k; j++)
            md_incref(p->items[2 * at + j]);
        int rc = slack == SIZE_MAX
                     ? md_dict_defer_pairs_steal(d, &p->items[2 * at], k, 1)
                     : md_dict_defer_pairs_steal_upto(d, &p->items[2 * at], k, 1,
                                                      p->n - at + slack);
        CU_ASSERT_EQUAL_FATAL(rc, 1);
    }
    CU_ASSERT_FATAL(is_pending(d));
    return d;
}

static md_val *pending_of(const pairs *p, size_t batch)
{
    return pending_upto(p, batch, SIZE_MAX);
}

/* The same dict built by inserting, in the same batches. */
static md_val *eager_of(const pairs *p, size_t batch)
{
    md_val *d = md_dict_new();
    md_pyerr e;
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    for (size_t at = 0; at < p->n; at += batch)
        CU_ASSERT_EQUAL_FATAL(md_dict_set_pairs(d, &p->items[2 * at],
                                                min_size(batch, p->n - at), 1, &e), 0);
    CU_ASSERT_FATAL(!is_pending(d));
    return d;
}

/* ---- what a reader sees --------------------------------------------------- */

static void put_ptr(md_buf *out, const void *p)
{
    md_buf_append(out, &p, sizeof p);
}

/* The items in order, by identity: which key object and which value. */
static void trace_items(const md_val *d, md_buf *out)
{
    size_t pos = 0;
    md_val *k, *v;
    put_ptr(out, (void *)(uintptr_t)md_dict_len(d));
    while (md_dict_next(d, &pos, &k, &v)) {
        put_ptr(out, k);
        put_ptr(out, v);
    }
}

static void read_len(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    put_ptr(out, (void *)(uintptr_t)md_dict_len(d));
    trace_items(d, out);
}

static void read_items(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    trace_items(d, out);
}

/* Every key of the pairs looked up: the value found. */
static void read_get(md_val *d, const pairs *p, md_buf *out)
{
    for (size_t i = 0; i < p->n; i++) {
        md_pyerr e;
        put_ptr(out, md_dict_get(d, p->items[2 * i], &e));
    }
    trace_items(d, out);
}

static void read_repr(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    md_pyerr e;
    CU_ASSERT_EQUAL(md_val_repr(d, out, &e), 0);
}

static void read_pickle(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    CU_ASSERT_EQUAL(md_pickle_encode(d, 4, out, NULL), 0);
}

/* The reply views of d.items() and d.keys(), encoded. */
static void read_views(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    md_pickle_view_kind kinds[] = { MD_PV_ITEMS, MD_PV_KEYS, MD_PV_VALUES, MD_PV_COPY };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        md_val *view = md_pickle_view_new(d, kinds[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(view);
        CU_ASSERT_EQUAL(md_pickle_encode(view, 4, out, NULL), 0);
        md_decref(view);
    }
}

static void read_copy(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    md_val *c = md_dict_copy(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    trace_items(c, out);
    md_decref(c);
}

/* == with a dict built from the pairs by inserting (either side). */
static void read_eq(md_val *d, const pairs *p, md_buf *out)
{
    md_val *twin = eager_of(p, p->n);
    md_pyerr e;
    put_ptr(out, (void *)(intptr_t)md_val_eq(d, twin, &e));
    put_ptr(out, (void *)(intptr_t)md_val_eq(twin, d, &e));
    md_decref(twin);
}

/* Every third key deleted, new keys set, some old ones set again. */
static void read_change(md_val *d, const pairs *p, md_buf *out)
{
    md_pyerr e;
    for (size_t i = 0; i < p->n; i += 3)
        put_ptr(out, (void *)(intptr_t)md_dict_del(d, p->items[2 * i], &e));
    for (size_t i = 0; i < p->n; i += 5) {
        /* (a small int: the same object in both dicts' traces) */
        md_val *k = md_int_from_i64((int64_t)(9000000 + i));
        CU_ASSERT_EQUAL(md_dict_set(d, k, md_none(), &e), 0);
        CU_ASSERT_EQUAL(md_dict_set(d, p->items[2 * i], md_true(), &e), 0);
    }
    md_val *popped = md_dict_pop(d, p->items[2], &e);
    put_ptr(out, popped);
    md_decref(popped);
    trace_items(d, out);
}

static void read_update_self(md_val *d, const pairs *p, md_buf *out)
{
    (void)p;
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_update(d, d, &e), 0);
    trace_items(d, out);
}

typedef void (*reader)(md_val *d, const pairs *p, md_buf *out);

/* Two settled tables alike slot for slot: index, entries, kept hashes;
 * a's capacity is ecap. */
static void check_layout(const md_table *a, const md_table *b, size_t ecap)
{
    CU_ASSERT(!a->pending && !b->pending);
    CU_ASSERT_EQUAL(a->nentries, b->nentries);
    CU_ASSERT_EQUAL(a->log2size, b->log2size);
    CU_ASSERT_EQUAL(a->ecap, ecap);
    size_t width = a->log2size <= 7 ? 1 : a->log2size <= 15 ? 2 : 4;
    if (a->log2size == b->log2size && a->nentries == b->nentries) {
        CU_ASSERT(memcmp(a->index, b->index, ((size_t)1 << a->log2size) * width) == 0);
        CU_ASSERT(memcmp(a->entries, b->entries, a->nentries * 2 * sizeof(md_val *)) == 0);
        CU_ASSERT(memcmp(a->entries + 2 * a->ecap, b->entries + 2 * b->ecap,
                         a->nentries * sizeof(uint32_t)) == 0);
    }
}

/* ... and with the same capacity. */
static void check_same_layout(const md_table *a, const md_table *b)
{
    check_layout(a, b, b->ecap);
}

static const reader readers[] = {
    read_len, read_items, read_get, read_repr, read_pickle, read_views,
    read_copy, read_eq, read_change, read_update_self,
};

/* Each reader on a fresh pending dict and on an eager one: the same
 * trace, the pending one settled; with `same_layout`, the two tables
 * also alike slot for slot (index, kept hashes, capacity). */
static void check_readers(const pairs *p, size_t batch, bool same_layout)
{
    for (size_t r = 0; r < sizeof readers / sizeof readers[0]; r++) {
        md_val *lazy = pending_of(p, batch), *eager = eager_of(p, batch);
        md_buf got = MD_BUF_INIT, want = MD_BUF_INIT;
        readers[r](lazy, p, &got);
        readers[r](eager, p, &want);
        CU_ASSERT(!md_buf_failed(&got) && !md_buf_failed(&want));
        CU_ASSERT(want.len > 0);
        CU_ASSERT_EQUAL(got.len, want.len);
        if (got.len == want.len && memcmp(got.data, want.data, got.len) != 0) {
            CU_FAIL("a pending dict read differently");
            fprintf(stderr, "reader %zu\n", r);
        }
        CU_ASSERT(!is_pending(lazy));
        const md_table *a = table_in(lazy), *b = table_in(eager);
        CU_ASSERT_EQUAL(a->used, b->used);
        /* (Without same_layout, nentries may differ after deletions: the
         * pending table reserved room for its repeats too, so it drops
         * its holes at another time.) */
        if (same_layout)
            check_same_layout(a, b);
        md_buf_free(&got);
        md_buf_free(&want);
        md_decref(lazy);
        md_decref(eager);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_pending_dict_reads_and_changes_as_an_inserted_one(void)
{
    pairs p = pairs_str(3000, 0);
    check_readers(&p, 1000, true);   /* SETITEMS batches */
    check_readers(&p, 3000, true);   /* one DICT */
    check_readers(&p, 70, true);
    pairs_free(&p);
}

static void test_pending_repeated_keys_keep_first_key_and_last_value(void)
{
    pairs p = pairs_with_repeats();
    check_readers(&p, p.n, false);
    check_readers(&p, 97, false);   /* repeats across batches */
    /* What Python keeps, spelled out: 1 stays the key object with
     * True's value, 'k0000001' the first object with the last value. */
    md_val *d = pending_of(&p, 97);
    md_pyerr e;
    size_t pos = 0;
    md_val *k, *v;
    bool seen_one = false;
    while (md_dict_next(d, &pos, &k, &v)) {
        if (k == p.items[2 * 80]) {
            seen_one = true;
            CU_ASSERT_PTR_EQUAL(v, p.items[2 * 82 + 1]);
        }
        CU_ASSERT(k != p.items[2 * 81] && k != p.items[2 * 82]);   /* 1.0, True */
    }
    CU_ASSERT(seen_one);
    size_t repeat = p.n - 80 + 1;   /* 'k0000001' again, in a new object */
    CU_ASSERT_PTR_EQUAL(md_dict_get(d, p.items[2 * repeat], &e), p.items[2 * repeat + 1]);
    const md_table *t = table_in(d);
    CU_ASSERT_EQUAL(t->nentries, t->used);   /* no hole left by a repeat */
    md_decref(d);
    pairs_free(&p);
}

static void test_pending_source_merges_as_sequential_inserts(void)
{
    pairs src = pairs_with_repeats();
    pairs old = pairs_str(200, 40);   /* half of them keys of src */
    for (int empty = 0; empty < 2; empty++) {
        md_val *into_lazy = empty ? md_dict_new() : eager_of(&old, old.n);
        md_val *into_eager = empty ? md_dict_new() : eager_of(&old, old.n);
        md_pyerr e;
        md_val *f = md_float_new(1.0);   /* 1.0 already there: stays the key */
        CU_ASSERT_EQUAL(md_dict_set(into_lazy, f, md_none(), &e), 0);
        CU_ASSERT_EQUAL(md_dict_set(into_eager, f, md_none(), &e), 0);
        md_val *lazy = pending_of(&src, 97), *eager = eager_of(&src, 97);
        md_dict_room *room;
        CU_ASSERT_EQUAL(md_dict_reserve_update(into_lazy, lazy, &room), 0);
        CU_ASSERT(is_pending(lazy));
        unsigned long failures = md_alloc_failures();
        md_alloc_fail_after(0);   /* reserved: the merge allocates nothing */
        int rc = md_dict_update_reserved(into_lazy, lazy, room, &e);
        md_alloc_fail_after(-1);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(md_alloc_failures(), failures);
        CU_ASSERT(is_pending(lazy));   /* the source is never indexed */
        CU_ASSERT_EQUAL(md_dict_update(into_eager, eager, &e), 0);
        md_buf got = MD_BUF_INIT, want = MD_BUF_INIT;
        trace_items(into_lazy, &got);
        trace_items(into_eager, &want);
        CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
        md_buf_reset(&got);
        md_buf_reset(&want);
        trace_items(lazy, &got);   /* and the source settles as before */
        trace_items(eager, &want);
        CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
        md_buf_free(&got);
        md_buf_free(&want);
        md_decref(f);
        md_decref(lazy);
        md_decref(eager);
        md_decref(into_lazy);
        md_decref(into_eager);
    }
    pairs_free(&old);
    pairs_free(&src);
}

/* A copy of a table's entries and kept hashes (md_free it). */
static void *entries_copy(const md_table *t)
{
    size_t n = t->nentries;
    uint8_t *copy = md_malloc(n * (2 * sizeof(md_val *) + sizeof(uint32_t)) + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    if (n == 0)   /* an empty table may have no entries block at all */
        return copy;
    memcpy(copy, t->entries, n * 2 * sizeof(md_val *));
    memcpy(copy + n * 2 * sizeof(md_val *), t->entries + 2 * t->ecap, n * sizeof(uint32_t));
    return copy;
}

/* Whether table a reads as b, whose entries and kept hashes `copy`
 * holds: the same shape, index and entries (a big entries block may
 * have been resized, its contents kept). */
static bool same_table(const md_table *a, const md_table *b, const void *copy)
{
    size_t n = b->nentries;
    const uint8_t *hashes = (const uint8_t *)copy + n * 2 * sizeof(md_val *);
    return a->used == b->used && a->nentries == n && a->ecap == b->ecap &&
           a->log2size == b->log2size && a->index == b->index &&
           (n == 0 || (memcmp(a->entries, copy, n * 2 * sizeof(md_val *)) == 0 &&
                       memcmp(a->entries + 2 * a->ecap, hashes, n * sizeof(uint32_t)) == 0));
}

/* d, updated with src's pairs, is the table md_dict_update gives twin
 * (d as it was) with src's pairs, pending or not. */
static void check_as_update(const md_val *d, md_val *twin, const pairs *src, bool pend)
{
    md_pyerr e;
    md_val *twin_arg = pend ? pending_of(src, src->n) : eager_of(src, src->n);
    CU_ASSERT_EQUAL(md_dict_update(twin, twin_arg, &e), 0);
    check_same_layout(table_in(d), table_in(twin));
    CU_ASSERT_EQUAL(md_val_eq(d, twin, &e), 1);
    md_decref(twin_arg);
}

/* d.update(src) reserved ahead (md_dict_reserve_update) changes nothing
 * in d: its growth (new entries block copied, new index filled) is put
 * in place by md_dict_update_reserved, which allocates nothing, and
 * gives the very table md_dict_update gives. Each way a table grows:
 * entries only (its index has room), a bigger index, an index of the
 * same size rebuilt to drop deleted entries, deleted entries dropped
 * without allocating, a fresh empty dict; for a pending and a settled
 * src. */
static void test_reserved_update_grows_only_when_put_in_place(void)
{
    /* Entries of d before, of them deleted, pairs of src. */
    /* d built in one batch has exactly its n entries, an index of
     * 2 n slots or more (682 entries usable in 1024 slots, 1365 in
     * 2048). */
    const struct { size_t n, deleted, add; bool grows; } cases[] = {
        {300, 0, 290, true},     /* entries only: 590 fit the index */
        {300, 0, 1000, true},    /* past the index's 682 */
        {600, 590, 800, true},   /* 1400 past 1365, 810 live: same-size index */
        {370, 200, 100, false},  /* only the deleted dropped: no allocation */
        {0, 0, 3000, true},      /* an empty dict */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int pend = 0; pend < 2; pend++) {
            if (cases[c].n == 0 && !pend)
                continue;   /* a copy, not a merge: not reserved ahead */
            pairs old = pairs_str(cases[c].n, 0);
            /* half of src's keys already in d, when they fit */
            pairs src = pairs_str(cases[c].add, cases[c].n / 2);
            md_val *d = eager_of(&old, old.n ? old.n : 1);
            md_val *twin = eager_of(&old, old.n ? old.n : 1);
            md_pyerr e;
            for (size_t i = 0; i < cases[c].deleted; i++) {
                CU_ASSERT_EQUAL(md_dict_del(d, old.items[2 * i], &e), 1);
                CU_ASSERT_EQUAL(md_dict_del(twin, old.items[2 * i], &e), 1);
            }
            md_val *arg = pend ? pending_of(&src, src.n) : eager_of(&src, src.n);
            md_table before = *table_in(d);
            void *copy = entries_copy(&before);
            md_dict_room *room = NULL;
            CU_ASSERT_EQUAL_FATAL(md_dict_reserve_update(d, arg, &room), 0);
            CU_ASSERT_EQUAL(room != NULL, cases[c].grows);
            CU_ASSERT(same_table(table_in(d), &before, copy));
            md_free(copy);
            CU_ASSERT_EQUAL(is_pending(arg), pend);
            unsigned long failures = md_alloc_failures();
            md_alloc_fail_after(0);
            int rc = md_dict_update_reserved(d, arg, room, &e);
            md_alloc_fail_after(-1);
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(md_alloc_failures(), failures);
            CU_ASSERT_EQUAL(table_in(d)->ecap > before.ecap ||
                                table_in(d)->log2size != before.log2size ||
                                table_in(d)->index != before.index,
                            cases[c].grows);
            check_as_update(d, twin, &src, pend);
            md_decref(arg);
            md_decref(d);
            md_decref(twin);
            pairs_free(&src);
            pairs_free(&old);
        }
    }
}

/* Out of memory at any allocation of md_dict_reserve_update leaves d as
 * it was (shape, blocks, items) and no room behind; once it succeeds,
 * the update gives the table md_dict_update gives. */
static void test_reserved_update_out_of_memory_changes_nothing(void)
{
    pairs old = pairs_str(300, 0), src = pairs_str(1000, 150);
    for (int pend = 0; pend < 2; pend++) {
        md_val *d = eager_of(&old, old.n), *arg = pend ? pending_of(&src, src.n)
                                                       : eager_of(&src, src.n);
        md_table before = *table_in(d);
        void *copy = entries_copy(&before);
        md_pyerr e;
        bool done = false;
        for (long k = 0; k < 10 && !done; k++) {
            md_dict_room *room = NULL;
            unsigned long failures = md_alloc_failures();
            md_alloc_fail_after(k);
            int rc = md_dict_reserve_update(d, arg, &room);
            md_alloc_fail_after(-1);
            done = rc == 0;
            if (done) {
                CU_ASSERT_PTR_NOT_NULL(room);
                CU_ASSERT_EQUAL(md_dict_update_reserved(d, arg, room, &e), 0);
                break;
            }
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT(md_alloc_failures() > failures);
            CU_ASSERT_PTR_NULL(room);
            CU_ASSERT(same_table(table_in(d), &before, copy));
            CU_ASSERT_PTR_EQUAL(table_in(d)->entries, before.entries);
            CU_ASSERT_EQUAL(md_dict_len(d), old.n);
        }
        md_free(copy);
        CU_ASSERT_FATAL(done);
        md_val *twin = eager_of(&old, old.n);
        check_as_update(d, twin, &src, pend);
        md_decref(twin);
        md_decref(arg);
        md_decref(d);
    }
    pairs_free(&src);
    pairs_free(&old);
}

static void test_pending_growth_then_deletions_and_reinsertion(void)
{
    enum { N = 100000 };
    pairs p = pairs_str(N, 0);
    md_val *lazy = pending_of(&p, 1000), *eager = eager_of(&p, 1000);
    md_pyerr e;
    for (size_t round = 0; round < 2; round++) {
        for (size_t i = round; i < N; i += 2) {
            CU_ASSERT_EQUAL(md_dict_del(lazy, p.items[2 * i], &e), 1);
            CU_ASSERT_EQUAL(md_dict_del(eager, p.items[2 * i], &e), 1);
        }
        for (size_t i = round; i < N; i += 4) {
            CU_ASSERT_EQUAL(md_dict_set(lazy, p.items[2 * i], md_none(), &e), 0);
            CU_ASSERT_EQUAL(md_dict_set(eager, p.items[2 * i], md_none(), &e), 0);
        }
    }
    md_buf got = MD_BUF_INIT, want = MD_BUF_INIT;
    trace_items(lazy, &got);
    trace_items(eager, &want);
    CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
    size_t found = 0;
    for (size_t i = 0; i < N; i++)
        found += md_dict_get(lazy, p.items[2 * i], &e) != NULL;
    CU_ASSERT_EQUAL(found, md_dict_len(eager));
    md_buf_free(&got);
    md_buf_free(&want);
    md_decref(lazy);
    md_decref(eager);
    pairs_free(&p);
}

/* An append that runs out of memory at any allocation changes nothing
 * (and the caller keeps its references); settling allocates nothing. */
static void test_pending_out_of_memory_at_every_allocation(void)
{
    pairs p = pairs_with_repeats();
    pairs more = pairs_str(5000, 100);
    md_val *d = pending_of(&p, p.n);
    size_t before = table_in(d)->nentries;
    bool done = false;
    for (long fail_at = 0; fail_at < 50 && !done; fail_at++) {
        for (size_t j = 0; j < 2 * more.n; j++)
            md_incref(more.items[j]);
        unsigned long failures = md_alloc_failures();
        md_alloc_fail_after(fail_at);
        int rc = md_dict_defer_pairs_steal(d, more.items, more.n, 1);
        md_alloc_fail_after(-1);
        if (rc == 1) {
            done = md_alloc_failures() == failures;
            CU_ASSERT(done);
            break;
        }
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT(md_alloc_failures() > failures);
        CU_ASSERT_EQUAL(table_in(d)->nentries, before);
        CU_ASSERT(is_pending(d));
        for (size_t j = 0; j < 2 * more.n; j++)
            md_decref(more.items[j]);
    }
    CU_ASSERT(done);
    /* a fresh dict's first append fails at once, and stays an ordinary dict */
    md_val *fresh = md_dict_new();
    md_alloc_fail_after(0);
    CU_ASSERT_EQUAL(md_dict_defer_pairs_steal(fresh, p.items, p.n, 1), -1);
    md_alloc_fail_after(-1);
    CU_ASSERT(!is_pending(fresh) && md_dict_len(fresh) == 0);
    md_decref(fresh);
    /* settling (here by a len) cannot fail: it only tries to give back
     * the room it did not use, and a failure keeps it */
    unsigned long failures = md_alloc_failures();
    size_t reserved = table_in(d)->ecap;
    md_alloc_fail_after(0);
    size_t len = md_dict_len(d);
    md_alloc_fail_after(-1);
    CU_ASSERT(md_alloc_failures() <= failures + 1);
    CU_ASSERT(!is_pending(d));
    CU_ASSERT_EQUAL(table_in(d)->ecap, reserved);
    md_val *all = md_dict_copy(d);
    md_pyerr e;
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    md_val *twin = eager_of(&p, p.n);
    CU_ASSERT_EQUAL(md_dict_set_pairs(twin, more.items, more.n, 1, &e), 0);
    CU_ASSERT_EQUAL(len, md_dict_len(twin));
    CU_ASSERT_EQUAL(md_val_eq(all, twin, &e), 1);
    md_decref(all);
    md_decref(twin);
    md_decref(d);
    pairs_free(&more);
    pairs_free(&p);
}

/* A pending dict appended to over many batches, its room reserved ahead
 * (bounded or not), settles into the very table inserting the same
 * batches builds (the room it did not use given back; a bound met
 * leaves it less slack); told a bound, it reserves its entries once. */
static void test_pending_growth_over_many_batches_is_the_eager_table(void)
{
    pairs p = pairs_str(12000, 0);   /* fewer than MD_PENDING_FIRST_PAIRS */
    const size_t batches[] = { 1000, 137, 12000 };
    const size_t slacks[] = { SIZE_MAX, 0, 3, 50000 };
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        md_val *eager = eager_of(&p, batches[b]);
        for (size_t k = 0; k < sizeof slacks / sizeof slacks[0]; k++) {
            md_val *lazy = pending_upto(&p, batches[b], slacks[k]);
            const md_table *t = table_in(lazy);
            CU_ASSERT(t->ecap >= p.n);
            size_t reserved = t->ecap;
            if (slacks[k] != SIZE_MAX)   /* reserved once, within the bound */
                CU_ASSERT_EQUAL(reserved, min_size(p.n + slacks[k], MD_PENDING_FIRST_PAIRS));
            CU_ASSERT_EQUAL(md_dict_len(lazy), p.n);   /* settles it */
            /* the eager capacity, or less when the bound was met first
             * (no more pairs could come: the slack is not needed) */
            check_layout(t, table_in(eager), min_size(reserved, table_in(eager)->ecap));
            md_pyerr e;
            CU_ASSERT_EQUAL(md_val_eq(lazy, eager, &e), 1);
            md_decref(lazy);
        }
        md_decref(eager);
    }
    pairs_free(&p);
}

/* Out of memory at any allocation of any batch of a growing pending
 * dict (each growth replaces the index and moves the entries) changes
 * nothing; once every batch is in, it is still the eager table. */
static void test_pending_growth_out_of_memory_at_every_allocation(void)
{
    pairs p = pairs_str(6000, 0);
    enum { BATCH = 500 };
    for (int bounded = 0; bounded < 2; bounded++) {
        md_val *d = md_dict_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        for (size_t at = 0; at < p.n; at += BATCH) {
            md_table before = *table_in(d);
            bool done = false;
            for (long fail_at = 0; fail_at < 10 && !done; fail_at++) {
                for (size_t j = 0; j < 2 * BATCH; j++)
                    md_incref(p.items[2 * at + j]);
                unsigned long failures = md_alloc_failures();
                md_alloc_fail_after(fail_at);
                int rc = bounded ? md_dict_defer_pairs_steal_upto(d, &p.items[2 * at], BATCH, 1,
                                                                  2 * BATCH)
                                 : md_dict_defer_pairs_steal(d, &p.items[2 * at], BATCH, 1);
                md_alloc_fail_after(-1);
                done = rc == 1;
                if (done)
                    break;
                CU_ASSERT_EQUAL(rc, -1);
                CU_ASSERT(md_alloc_failures() > failures);
                const md_table *t = table_in(d);
                CU_ASSERT(t->nentries == before.nentries && t->ecap == before.ecap &&
                          t->log2size == before.log2size && t->index == before.index &&
                          t->entries == before.entries && t->pending == before.pending);
                for (size_t j = 0; j < 2 * BATCH; j++)
                    md_decref(p.items[2 * at + j]);
            }
            CU_ASSERT_FATAL(done);
        }
        md_val *eager = eager_of(&p, BATCH);
        CU_ASSERT_EQUAL(md_dict_len(d), p.n);
        check_same_layout(table_in(d), table_in(eager));
        md_decref(eager);
        md_decref(d);
    }
    pairs_free(&p);
}

static void test_pending_declined_for_small_dicts_and_other_keys(void)
{
    pairs p = pairs_str(200, 0);
    md_val *d = md_dict_new();
    CU_ASSERT_EQUAL(md_dict_defer_pairs_steal(d, p.items, 63, 1), 0);   /* small, fresh */
    md_val *tuple = md_tuple_pack(2, p.items[0], p.items[2]);
    md_val *saved = p.items[2 * 100];
    p.items[2 * 100] = tuple;   /* a tuple key in the second batch */
    for (size_t j = 0; j < 200; j++)
        md_incref(p.items[j]);
    CU_ASSERT_EQUAL(md_dict_defer_pairs_steal(d, p.items, 100, 1), 1);
    CU_ASSERT_EQUAL(md_dict_defer_pairs_steal(d, &p.items[200], 100, 1), 0);
    CU_ASSERT(is_pending(d));   /* the declined batch changed nothing */
    /* the caller then stores it as before: settled first, order kept */
    md_pyerr e;
    size_t taken;
    for (size_t j = 200; j < 400; j++)
        md_incref(p.items[j]);
    CU_ASSERT_EQUAL(md_dict_set_pairs_steal(d, &p.items[200], 100, 1, &e, &taken), 0);
    CU_ASSERT(!is_pending(d));
    md_val *twin = eager_of(&p, 100);
    md_buf got = MD_BUF_INIT, want = MD_BUF_INIT;
    trace_items(d, &got);
    trace_items(twin, &want);
    CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
    /* an ordinary dict that has items is never made pending */
    CU_ASSERT_EQUAL(md_dict_defer_pairs_steal(twin, p.items, 100, 1), 0);
    md_buf_free(&got);
    md_buf_free(&want);
    md_decref(d);
    md_decref(twin);
    p.items[2 * 100] = saved;
    md_decref(tuple);
    pairs_free(&p);
}

/* ---- through the pickle decoder -------------------------------------------- */

static void op_str(md_buf *b, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    uint8_t len[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
    md_buf_putc(b, 'X');
    md_buf_append(b, len, 4);
    md_buf_append(b, s, n);
}

static void op_int(md_buf *b, int32_t i)
{
    uint32_t u = (uint32_t)i;
    uint8_t le[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
    md_buf_putc(b, 'J');
    md_buf_append(b, le, 4);
}

/* {'k0000000': 0, ...} as CPython pickles it at protocol 2 (EMPTY_DICT,
 * then SETITEMS batches of 1000), n items, with 'k0000007' again at the
 * end (-1), a key 1.0 after 1 ('one' after it), and, with `tuple_at` <
 * n, the tuple key ('t',) in place of item tuple_at. The dict is also
 * one of its own values under 'self' (a cycle). */
static void pickle_big_dict(md_buf *b, size_t n, size_t tuple_at)
{
    md_buf_append(b, "\x80\x02}q\x00", 5);
    for (size_t i = 0; i < n; i++) {
        if (i % 1000 == 0)
            md_buf_putc(b, '(');
        char key[16];
        snprintf(key, sizeof key, "k%07zu", i);
        if (i == tuple_at)
            md_buf_append(b, "X\x01\x00\x00\x00t\x85", 7);
        else
            op_str(b, key);
        op_int(b, (int32_t)i);
        if (i % 1000 == 999 || i == n - 1)
            md_buf_putc(b, 'u');
    }
    md_buf_putc(b, '(');
    op_str(b, "k0000007");
    op_int(b, -1);
    op_int(b, 1);
    op_str(b, "integer");
    md_buf_append(b, "G\x3f\xf0\x00\x00\x00\x00\x00\x00", 9);   /* 1.0 */
    op_str(b, "one");
    op_str(b, "self");
    md_buf_append(b, "h\x00", 2);
    md_buf_append(b, "u.", 2);
}

static void test_pickle_leaves_big_plain_dicts_pending(void)
{
    enum { N = 3500 };
    for (int with_tuple = 0; with_tuple < 2; with_tuple++) {
        md_buf b = MD_BUF_INIT;
        pickle_big_dict(&b, N, with_tuple ? 2500 : N);
        md_val *d = NULL;
        CU_ASSERT_EQUAL_FATAL(md_pickle_decode(b.data, b.len, NULL, &d, NULL, NULL), 0);
        /* the batch with a tuple key settled the dict and went in at once */
        CU_ASSERT_EQUAL(is_pending(d), !with_tuple);
        CU_ASSERT_EQUAL(md_dict_len(d), N + 2);
        md_pyerr e;
        md_val *k = str_key(7), *one = md_int_from_i64(1), *self = md_str_new("self", 4);
        md_val *seven = md_dict_get(d, k, &e);
        int64_t got = 0;
        CU_ASSERT(seven && md_int_to_i64(seven, &got) == 0 && got == -1);
        md_val *v = md_dict_get(d, one, &e);
        CU_ASSERT(v && md_typeof(v) == MD_T_STR && md_str_len(v) == 3);
        CU_ASSERT_PTR_EQUAL(md_dict_get(d, self, &e), d);
        /* order: 'k0000000' first, 1 before 'self' last */
        size_t pos = 0;
        md_val *key, *val, *last = NULL, *k0 = str_key(0);
        CU_ASSERT(md_dict_next(d, &pos, &key, &val) && md_val_eq(key, k0, &e) == 1);
        md_decref(k0);
        while (md_dict_next(d, &pos, &key, &val))
            last = key;
        CU_ASSERT(last && md_val_eq(last, self, &e) == 1);
        /* the cycle through a pending-built dict is collected */
        md_decref(d);
        CU_ASSERT(md_gc_collect() >= 1);
        md_decref(k);
        md_decref(one);
        md_decref(self);
        md_buf_free(&b);
    }
}

/* Out of memory at any allocation of a decode that leaves a dict
 * pending (appends across batches, then a small batch) fails cleanly. */
enum { PENDING_OOM_PAIRS = 1200 };

static void check_pending_oom_dict(md_val *d)
{
    CU_ASSERT(is_pending(d));
    CU_ASSERT_EQUAL(md_dict_len(d), PENDING_OOM_PAIRS + 2);
    md_dict_clear(d);   /* the 'self' cycle */
}

static void test_pickle_pending_dict_out_of_memory_at_every_allocation(void)
{
    md_buf b = MD_BUF_INIT;
    pickle_big_dict(&b, PENDING_OOM_PAIRS, PENDING_OOM_PAIRS);
    md_ts_decode_at_every_failure(&b, check_pending_oom_dict);
    md_gc_collect();   /* cycles of the dicts a failure left behind */
    md_buf_free(&b);
}

void md_test_register_value_pending(void)
{
    CU_pSuite s = md_test_suite("value_pending");
    MD_ADD_TEST(s, test_pending_dict_reads_and_changes_as_an_inserted_one);
    MD_ADD_TEST(s, test_pending_repeated_keys_keep_first_key_and_last_value);
    MD_ADD_TEST(s, test_pending_source_merges_as_sequential_inserts);
    MD_ADD_TEST(s, test_reserved_update_grows_only_when_put_in_place);
    MD_ADD_TEST(s, test_reserved_update_out_of_memory_changes_nothing);
    MD_ADD_TEST(s, test_pending_growth_then_deletions_and_reinsertion);
    MD_ADD_TEST(s, test_pending_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_pending_growth_over_many_batches_is_the_eager_table);
    MD_ADD_TEST(s, test_pending_growth_out_of_memory_at_every_allocation);
    MD_ADD_TEST(s, test_pending_declined_for_small_dicts_and_other_keys);
    MD_ADD_TEST(s, test_pickle_leaves_big_plain_dicts_pending);
    MD_ADD_TEST(s, test_pickle_pending_dict_out_of_memory_at_every_allocation);
}
