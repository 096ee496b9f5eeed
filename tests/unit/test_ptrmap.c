/* test_ptrmap.c - the pointer map (core/base/ptrmap.c): growth keeps every
 * key, deletion leaves dummies that probes pass and inserts reuse, keys
 * built to share one slot stay distinct, a map in the caller's buffer
 * allocates only when it grows, and an allocation failure at any point
 * leaves the map as it was. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/ptrmap.h"

/* Keys shaped like the users' keys: malloc-like addresses (steps of 16)
 * and small integers plus one. */
static uintptr_t addr_key(size_t i)
{
    return (uintptr_t)0x7f0000001000u + (uintptr_t)i * 16;
}

static void test_ptrmap_growth_keeps_every_key_and_value(void)
{
    enum { N = 100000 };
    md_ptrmap m;
    md_ptrmap_init(&m);
    CU_ASSERT_PTR_NULL(md_ptrmap_find(&m, addr_key(1)));
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_FATAL(md_ptrmap_put(&m, addr_key(i), i * 3) == 0);
    for (size_t i = 0; i < N; i++)   /* small integers too */
        CU_ASSERT_FATAL(md_ptrmap_put(&m, i + 1, i) == 0);
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 2 * N);
    CU_ASSERT_TRUE(m.filled * 2 <= m.cap);
    bool all = true;
    for (size_t i = 0; i < N && all; i++) {
        md_ptrmap_ent *a = md_ptrmap_find(&m, addr_key(i)), *b = md_ptrmap_find(&m, i + 1);
        all = a && a->val == i * 3 && b && b->val == i;
    }
    CU_ASSERT_TRUE(all);
    CU_ASSERT_PTR_NULL(md_ptrmap_find(&m, addr_key(N)));
    CU_ASSERT_PTR_NULL(md_ptrmap_find(&m, N + 1));
    /* put on a present key replaces its value, insert finds it */
    CU_ASSERT_EQUAL(md_ptrmap_put(&m, addr_key(7), 1234), 0);
    bool added = true;
    md_ptrmap_ent *e = md_ptrmap_insert(&m, addr_key(7), &added);
    CU_ASSERT_FALSE(added);
    CU_ASSERT_TRUE(e && e->val == 1234);
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 2 * N);
    /* a walk meets each live key once */
    size_t pos = 0, seen = 0;
    uint64_t keysum = 0, want = 0;
    while (md_ptrmap_next(&m, &pos, &e)) {
        seen++;
        keysum += e->key;
    }
    for (size_t i = 0; i < N; i++)
        want += addr_key(i) + i + 1;
    CU_ASSERT_EQUAL(seen, 2 * N);
    CU_ASSERT_EQUAL(keysum, want);
    md_ptrmap_free(&m);
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 0);
    CU_ASSERT_PTR_NULL(md_ptrmap_find(&m, addr_key(1)));
}

/* Removed keys leave dummies: keys after them on a probe are still
 * found, a reinserted key gets its new value, and churn (insert, remove,
 * over and over) does not grow the table without bound. */
static void test_ptrmap_deletion_dummies_and_reinsertion(void)
{
    md_ptrmap m;
    md_ptrmap_init(&m);
    for (size_t i = 0; i < 1000; i++)
        CU_ASSERT_FATAL(md_ptrmap_put(&m, addr_key(i), i) == 0);
    for (size_t i = 0; i < 1000; i += 2)
        CU_ASSERT_TRUE(md_ptrmap_remove(&m, addr_key(i)));
    CU_ASSERT_FALSE(md_ptrmap_remove(&m, addr_key(0)));
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 500);
    CU_ASSERT_EQUAL(m.filled, 1000);   /* the dummies are still there */
    bool all = true;
    for (size_t i = 0; i < 1000 && all; i++) {
        md_ptrmap_ent *e = md_ptrmap_find(&m, addr_key(i));
        all = i % 2 ? e && e->val == i : e == NULL;
    }
    CU_ASSERT_TRUE(all);
    for (size_t i = 0; i < 1000; i += 2)
        CU_ASSERT_FATAL(md_ptrmap_put(&m, addr_key(i), i + 5000) == 0);
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 1000);
    for (size_t i = 0; i < 1000 && all; i++) {
        md_ptrmap_ent *e = md_ptrmap_find(&m, addr_key(i));
        all = e && e->val == (i % 2 ? i : i + 5000);
    }
    CU_ASSERT_TRUE(all);
    size_t cap = m.cap;
    for (size_t round = 0; round < 100; round++) {
        for (size_t i = 0; i < 300; i++)
            CU_ASSERT_FATAL(md_ptrmap_put(&m, addr_key(100000 + round * 300 + i), 1) == 0);
        for (size_t i = 0; i < 300; i++)
            CU_ASSERT_FATAL(md_ptrmap_remove(&m, addr_key(100000 + round * 300 + i)));
    }
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 1000);
    CU_ASSERT_TRUE(m.cap <= 2 * cap);
    CU_ASSERT_TRUE(m.filled * 2 <= m.cap);
    for (size_t i = 0; i < 1000 && all; i++)
        all = md_ptrmap_find(&m, addr_key(i)) != NULL;
    CU_ASSERT_TRUE(all);
    md_ptrmap_free(&m);
}

/* Keys found to land on one slot of a 64-slot map (by inserting each
 * alone and reading where it went) make one probe run: every one is found
 * with its own value, removing one in the middle keeps the later ones
 * reachable, and the freed slot is reused. */
static void test_ptrmap_collisions_built_on_purpose(void)
{
    enum { CAP = 64, RUN = 8 };
    md_ptrmap_ent buf[CAP], probe_buf[CAP];
    md_ptrmap m, probe;
    md_ptrmap_init_buf(&probe, probe_buf, CAP);
    uintptr_t keys[RUN];
    size_t n = 0, target = SIZE_MAX;
    for (uintptr_t k = 1; k < 1000000 && n < RUN; k++) {
        bool added;
        md_ptrmap_ent *e = md_ptrmap_insert(&probe, k, &added);
        CU_ASSERT_FATAL(e != NULL && added);
        size_t slot = (size_t)(e - probe.slots);
        CU_ASSERT_FATAL(md_ptrmap_remove(&probe, k));
        md_ptrmap_free(&probe);   /* back to an empty buffer: no dummies */
        if (target == SIZE_MAX)
            target = slot;
        if (slot == target)
            keys[n++] = k;
    }
    CU_ASSERT_EQUAL_FATAL(n, RUN);
    md_ptrmap_init_buf(&m, buf, CAP);
    for (size_t i = 0; i < RUN; i++)
        CU_ASSERT_FATAL(md_ptrmap_put(&m, keys[i], 100 + i) == 0);
    CU_ASSERT_EQUAL(m.cap, CAP);   /* no growth: the run is real */
    for (size_t i = 0; i < RUN; i++)
        CU_ASSERT_EQUAL(md_ptrmap_find(&m, keys[i]) - m.slots, (long)((target + i) % CAP));
    CU_ASSERT_TRUE(md_ptrmap_remove(&m, keys[3]));
    for (size_t i = 0; i < RUN; i++) {
        md_ptrmap_ent *e = md_ptrmap_find(&m, keys[i]);
        CU_ASSERT_TRUE(i == 3 ? e == NULL : e != NULL && e->val == 100 + i);
    }
    CU_ASSERT_EQUAL(md_ptrmap_put(&m, keys[3], 7), 0);
    CU_ASSERT_EQUAL(md_ptrmap_find(&m, keys[3]) - m.slots, (long)((target + 3) % CAP));
    CU_ASSERT_EQUAL(m.filled, RUN);
    md_ptrmap_free(&m);
}

/* A map in the caller's buffer allocates nothing until it is half full;
 * a growth that fails returns NULL and changes nothing; free empties it
 * back into the buffer. */
static void test_ptrmap_own_buffer_and_failed_growth(void)
{
    md_ptrmap_ent buf[16];
    md_ptrmap m;
    md_ptrmap_init_buf(&m, buf, 16);
    md_alloc_fail_after(0);
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(md_ptrmap_put(&m, addr_key(i), i), 0);
    bool added = true;
    CU_ASSERT_PTR_NULL(md_ptrmap_insert(&m, addr_key(8), &added));
    CU_ASSERT_FALSE(added);
    CU_ASSERT_EQUAL(md_ptrmap_put(&m, addr_key(9), 9), -1);
    md_alloc_fail_after(-1);
    CU_ASSERT_PTR_EQUAL(m.slots, buf);
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 8);
    CU_ASSERT_PTR_NULL(md_ptrmap_find(&m, addr_key(8)));
    CU_ASSERT_EQUAL(md_ptrmap_put(&m, addr_key(8), 8), 0);
    CU_ASSERT_PTR_NOT_EQUAL(m.slots, buf);
    for (size_t i = 0; i < 9; i++) {
        md_ptrmap_ent *e = md_ptrmap_find(&m, addr_key(i));
        CU_ASSERT_TRUE(e && e->val == i);
    }
    md_ptrmap_free(&m);
    CU_ASSERT_PTR_EQUAL(m.slots, buf);
    CU_ASSERT_EQUAL(md_ptrmap_len(&m), 0);
    CU_ASSERT_PTR_NULL(md_ptrmap_find(&m, addr_key(1)));
    CU_ASSERT_EQUAL(md_ptrmap_put(&m, addr_key(1), 1), 0);
    CU_ASSERT_PTR_EQUAL(m.slots, buf);
    md_ptrmap_free(&m);
}

/* The Nth allocation fails, for every N until a run succeeds: the put
 * that failed changed nothing, every key put before it is there with its
 * value, and the map still works afterwards. */
static void test_ptrmap_alloc_failure_at_every_allocation(void)
{
    enum { N = 3000 };
    bool done = false;
    for (long fail_at = 0; fail_at < 100 && !done; fail_at++) {
        md_ptrmap m;
        md_ptrmap_init(&m);
        md_alloc_fail_after(fail_at);
        size_t ok = 0;
        while (ok < N && md_ptrmap_put(&m, addr_key(ok), ok) == 0)
            ok++;
        md_alloc_fail_after(-1);
        done = ok == N;
        CU_ASSERT_EQUAL(md_ptrmap_len(&m), ok);
        bool all = md_ptrmap_find(&m, addr_key(ok)) == NULL;
        for (size_t i = 0; i < ok && all; i++) {
            md_ptrmap_ent *e = md_ptrmap_find(&m, addr_key(i));
            all = e && e->val == i;
        }
        CU_ASSERT_TRUE(all);
        CU_ASSERT_EQUAL(md_ptrmap_put(&m, addr_key(ok), 42), 0);
        CU_ASSERT_EQUAL(md_ptrmap_len(&m), ok + 1);
        md_ptrmap_free(&m);
    }
    CU_ASSERT_TRUE(done);
}

void md_test_register_ptrmap(void)
{
    CU_pSuite s = md_test_suite("ptrmap");
    MD_ADD_TEST(s, test_ptrmap_growth_keeps_every_key_and_value);
    MD_ADD_TEST(s, test_ptrmap_deletion_dummies_and_reinsertion);
    MD_ADD_TEST(s, test_ptrmap_collisions_built_on_purpose);
    MD_ADD_TEST(s, test_ptrmap_own_buffer_and_failed_growth);
    MD_ADD_TEST(s, test_ptrmap_alloc_failure_at_every_allocation);
}
