/* test_security.c - the hardening points of issue 8 that can be shown
 * without sockets, each written as the attack: debug_info over many
 * objects, reference counts at 32 bits, shared-memory names, nested
 * frozensets in lookups, the cycle collector's generations, socket
 * modes and the folder checks.
 * (The attacks that need a running server are tests/security/.) */
#include "tests/unit/unit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/limits.h"
#include "core/obj.h"
#include "core/server_impl.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"
#include "tests/unit/harness.h"
#include "transports/wire/address.h"

/* ---- 8: debug_info is bounded ------------------------------------------ */

static size_t count_substr(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_debug_info_lists_at_most_its_limit_and_counts_the_rest(void)
{
    md_th *th = md_th_new();
    char ident[32];
    size_t nobjs = MD_DEBUG_INFO_MAX_OBJECTS + 234;
    for (size_t i = 0; i < nobjs; i++)
        CU_ASSERT_EQUAL_FATAL(md_th_create(th, "dict", NULL, NULL, ident), MD_OUT_RETURN);
    md_val *text = NULL;
    md_th_server_call(th, "debug_info", NULL);
    CU_ASSERT_EQUAL(md_th_take(th, NULL, &text), MD_OUT_RETURN);
    CU_ASSERT_FATAL(text && md_typeof(text) == MD_T_STR);
    const char *s = md_str_data(text);
    CU_ASSERT_EQUAL(count_substr(s, "refcount="), MD_DEBUG_INFO_MAX_OBJECTS);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "... and 234 more objects"));
    /* the listed ones are the lowest idents, in order */
    char first[32];
    snprintf(first, sizeof first, "%" PRIx64 ":", md_th_server(th)->next_id - nobjs);
    CU_ASSERT_EQUAL(strncmp(s + 2, first, strlen(first)), 0);
    md_decref(text);
    md_th_free(th);
}

/* ---- 11: reference counts do not wrap ----------------------------------- */

static void test_incref_that_would_overflow_32_bits_is_refused(void)
{
    md_th *th = md_th_new();
    char ident[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "list", NULL, NULL, ident), MD_OUT_RETURN);
    md_obj *o = md_objtab_find(md_th_server(th), strtoull(ident, NULL, 16));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    o->refcount = UINT32_MAX - 1;
    md_val *id = md_str_from_cstr(ident);
    md_val *args = md_tuple_pack(1, id);
    md_val *reply = NULL;
    md_th_server_call(th, "incref", args);
    CU_ASSERT_EQUAL(md_th_take(th, NULL, &reply), MD_OUT_TRACEBACK);
    CU_ASSERT(reply && strstr(md_str_data(reply), "OverflowError"));
    CU_ASSERT_EQUAL(o->refcount, UINT32_MAX - 1);   /* unchanged */
    md_decref(reply);
    o->refcount = 1;
    md_decref(args);
    md_decref(id);
    md_th_free(th);
}

static void test_value_refcount_saturates_instead_of_wrapping(void)
{
    md_val *l = md_list_new(0);
    md_val *item = md_list_new(0);
    CU_ASSERT_FATAL(l && item);
    item->refcnt = UINT32_MAX - 3;
    for (int i = 0; i < 5; i++)
        md_incref(item);
    CU_ASSERT(md_refcount(item) >= UINT32_MAX - 1);
    /* a count that reached the top is kept for good: decrefs never free */
    for (int i = 0; i < 10; i++)
        md_decref(item);
    CU_ASSERT(md_list_append(l, item) == 0);
    CU_ASSERT_EQUAL(md_list_len(l), 1);
    md_decref(l);
}

/* ---- 16: only Python's shared-memory names ------------------------------- */

static int track(md_th *th, const char *name, md_val **reply)
{
    md_val *n = md_str_from_cstr(name);
    md_val *args = md_tuple_pack(1, n);
    md_th_server_call(th, "track_segment", args);
    md_decref(args);
    md_decref(n);
    return md_th_take(th, NULL, reply);
}

static void test_track_segment_refuses_names_shared_memory_never_makes(void)
{
    static const char *const bad[] = {
        "../../home/victim/.ssh/id_rsa", "etc/passwd", "psm_0123abc", "psm_0123abcde",
        "psm_0123ABCD", "xsm_0123abcd", "psm_0123abc/", "",
        "psm_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    md_th *th = md_th_new();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        md_val *reply = NULL;
        CU_ASSERT_EQUAL(track(th, bad[i], &reply), MD_OUT_TRACEBACK);
        CU_ASSERT(reply && strstr(md_str_data(reply), "ValueError") &&
                  strstr(md_str_data(reply), "shared_memory"));
        md_decref(reply);
    }
    CU_ASSERT_EQUAL(md_list_len(md_th_server(th)->segments), 0);
    md_val *reply = NULL;
    CU_ASSERT_EQUAL(track(th, "psm_0123abcd", &reply), MD_OUT_RETURN);
    md_decref(reply);
    CU_ASSERT_EQUAL(md_list_len(md_th_server(th)->segments), 1);
    md_th_free(th);   /* unlinks /psm_0123abcd, which does not exist */
}

/* ---- 18: lookups inside == keep the depth and the work budget ----------- */

static md_val *nested_frozensets(int depth)
{
    md_val *v = md_int_from_i64(0);
    for (int i = 0; i < depth; i++) {
        md_val *s = md_set_new(true);
        CU_ASSERT_FATAL(s && md_set_add(s, v, NULL) == 0);
        md_decref(v);
        v = s;
    }
    return v;
}

static void test_nested_frozenset_equality_keeps_its_budget_across_lookups(void)
{
    /* Each level of == looks the inner set up in the other, which hashes
     * it: quadratic work that used to restart its budget at every level
     * (seconds for 9,000 levels; unbounded stack for deeper ones). */
    md_val *a = nested_frozensets(9000), *b = nested_frozensets(9000);
    md_pyerr e;
    md_pyerr_clear(&e);
    CU_ASSERT_EQUAL(md_val_eq(a, b, &e), -1);
    CU_ASSERT(e.type && strcmp(e.type, "RecursionError") == 0);
    /* small nested sets still compare */
    md_val *c = nested_frozensets(50), *d = nested_frozensets(50);
    md_pyerr_clear(&e);
    CU_ASSERT_EQUAL(md_val_eq(c, d, &e), 1);
    md_decref(a);
    md_decref(b);
    md_decref(c);
    md_decref(d);
}

static void test_dict_lookup_inside_equality_counts_toward_depth(void)
{
    /* {fs: 1} == {fs': 1} with fs, fs' equal nested frozensets: the key
     * lookup runs one level down, so a key nested to the limit fails. */
    md_val *k1 = nested_frozensets(MD_MAX_DEPTH - 1), *k2 = nested_frozensets(MD_MAX_DEPTH - 1);
    md_val *d1 = md_dict_new(), *d2 = md_dict_new();
    md_pyerr e;
    md_pyerr_clear(&e);
    /* hashing at depth 0 just fits */
    CU_ASSERT_EQUAL_FATAL(md_dict_set(d1, k1, md_none(), &e), 0);
    CU_ASSERT_EQUAL_FATAL(md_dict_set(d2, k2, md_none(), &e), 0);
    CU_ASSERT_EQUAL(md_val_eq(d1, d2, &e), -1);
    CU_ASSERT(e.type && strcmp(e.type, "RecursionError") == 0);
    md_decref(d1);
    md_decref(d2);
    md_decref(k1);
    md_decref(k2);
}

/* ---- 9: cycles are collected during operation, young first --------------- */

static void test_young_collection_frees_cycles_and_keeps_what_old_holds(void)
{
    md_gc_collect();
    size_t start = md_gc_tracked();
    md_val *keep = md_list_new(0);      /* becomes old */
    md_gc_collect();
    /* a young cycle that only an old container holds must survive */
    md_val *held = md_list_new(0);
    CU_ASSERT_FATAL(md_list_append(held, held) == 0 && md_list_append(keep, held) == 0);
    md_decref(held);
    /* garbage cycles, enough to make a young collection due */
    for (int i = 0; i < MD_GC_YOUNG_THRESHOLD; i++) {
        md_val *c = md_list_new(0);
        CU_ASSERT_FATAL(c && md_list_append(c, c) == 0);
        md_decref(c);
    }
    CU_ASSERT(md_gc_due());
    CU_ASSERT(md_gc_maybe_collect() >= (size_t)MD_GC_YOUNG_THRESHOLD);
    CU_ASSERT_FALSE(md_gc_due());
    CU_ASSERT_EQUAL(md_gc_tracked(), start + 2);
    CU_ASSERT_EQUAL(md_list_get(keep, 0), held);
    CU_ASSERT_EQUAL(md_list_get(held, 0), held);
    md_decref(keep);
    CU_ASSERT_EQUAL(md_gc_collect(), 1);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
}

/* ---- 12, 14: addresses and folders ------------------------------------- */

static void test_unix_address_mode_option_is_checked(void)
{
    md_addr a;
    char err[300];
    CU_ASSERT_EQUAL(md_addr_parse("unix:/tmp/x.sock", &a, err, sizeof err), 0);
    CU_ASSERT_EQUAL(a.mode, 0);   /* 0600 */
    CU_ASSERT_EQUAL(md_addr_parse("unix:/tmp/x.sock?mode=0660", &a, err, sizeof err), 0);
    CU_ASSERT_EQUAL(a.mode, 0660);
    CU_ASSERT_EQUAL(md_addr_parse("unix:/tmp/x.sock?serializer=auto&mode=0666", &a, err, sizeof err),
                    0);
    CU_ASSERT(a.mode == 0666 && strcmp(a.serializer, "auto") == 0);
    static const char *const bad[] = {
        "unix:/tmp/x.sock?mode=0777", "unix:/tmp/x.sock?mode=0400", "unix:/tmp/x.sock?mode=1666",
        "unix:/tmp/x.sock?mode=", "unix:/tmp/x.sock?mode=66x", "unix:@abstract?mode=0660",
        "127.0.0.1:5000?mode=0660", "unix:/tmp/x.sock?other=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(md_addr_parse(bad[i], &a, err, sizeof err), -1);
}

static void test_private_folder_check_refuses_links_and_open_modes(void)
{
    char dir[4096], path[4200], err[300];
    CU_ASSERT_PTR_NOT_NULL_FATAL(md_th_mkdtemp(dir, sizeof dir, "md-test-folder"));
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, true, err, sizeof err), 0);
    CU_ASSERT_EQUAL(chmod(dir, 0750), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, true, err, sizeof err), -1);
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), 0);
    CU_ASSERT_EQUAL(chmod(dir, 0777), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable"));
    CU_ASSERT_EQUAL(chmod(dir, 01777), 0);   /* sticky, as /tmp */
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), 0);
    CU_ASSERT_EQUAL(chmod(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/link", dir);
    CU_ASSERT_EQUAL(symlink(dir, path), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(path, true, err, sizeof err), -1);
    CU_ASSERT_EQUAL(md_addr_check_folder(path, false, err, sizeof err), -1);
    unlink(path);
    rmdir(dir);
}

/* A client program's thread may have a small stack: a value nested within
 * MD_MAX_DEPTH must still fail with RecursionError there, not crash. */
typedef struct { int hash_rc, eq_rc, repr_rc; char hash_type[32]; } deep_result;

static void *walk_deep_value(void *arg)
{
    deep_result *r = arg;
    md_val *a = md_tuple_new(0), *b = md_tuple_new(0);
    for (int i = 0; i < MD_MAX_DEPTH - 10; i++) {
        md_val *ta = md_tuple_new(1), *tb = md_tuple_new(1);
        md_tuple_set_steal(ta, 0, a);
        md_tuple_set_steal(tb, 0, b);
        a = ta;
        b = tb;
    }
    md_pyerr e = {0};
    int64_t h;
    r->hash_rc = md_val_hash(a, &h, &e);
    snprintf(r->hash_type, sizeof r->hash_type, "%s", e.type ? e.type : "");
    md_pyerr_clear(&e);
    r->eq_rc = md_val_eq(a, b, &e);
    md_pyerr_clear(&e);
    md_buf out;
    md_buf_init(&out);
    r->repr_rc = md_val_repr(a, &out, &e);
    md_buf_free(&out);
    md_decref(a);
    md_decref(b);
    return NULL;
}

static void test_deep_value_on_a_small_thread_stack_fails_cleanly(void)
{
    pthread_attr_t attr;
    pthread_t t;
    deep_result r = {0};
    CU_ASSERT_EQUAL_FATAL(pthread_attr_init(&attr), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_attr_setstacksize(&attr, 1024 * 1024), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, &attr, walk_deep_value, &r), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    CU_ASSERT_EQUAL(r.hash_rc, -1);
    CU_ASSERT_STRING_EQUAL(r.hash_type, "RecursionError");
    CU_ASSERT_EQUAL(r.eq_rc, -1);
    CU_ASSERT_EQUAL(r.repr_rc, -1);
}

void md_test_register_security(void)
{
    CU_pSuite s = md_test_suite("security");
    MD_ADD_TEST(s, test_debug_info_lists_at_most_its_limit_and_counts_the_rest);
    MD_ADD_TEST(s, test_incref_that_would_overflow_32_bits_is_refused);
    MD_ADD_TEST(s, test_value_refcount_saturates_instead_of_wrapping);
    MD_ADD_TEST(s, test_track_segment_refuses_names_shared_memory_never_makes);
    MD_ADD_TEST(s, test_nested_frozenset_equality_keeps_its_budget_across_lookups);
    MD_ADD_TEST(s, test_dict_lookup_inside_equality_counts_toward_depth);
    MD_ADD_TEST(s, test_young_collection_frees_cycles_and_keeps_what_old_holds);
    MD_ADD_TEST(s, test_unix_address_mode_option_is_checked);
    MD_ADD_TEST(s, test_private_folder_check_refuses_links_and_open_modes);
    MD_ADD_TEST(s, test_deep_value_on_a_small_thread_stack_fails_cleanly);
}
