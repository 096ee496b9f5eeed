/* test_value_std.c - standard-library values (core/value/value_std.c) and
 * instances of the client's classes, decoded from real pickles written by
 * Python 2.7, 3.6 and 3.13 at every protocol (test_value_std_cases.h,
 * made by gen_std_cases.py), against what Python 3.13 says of them: repr,
 * str, hash() of numbers, == and <, and the same hash for equal values. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/value/value.h"
#include "serializers/pickle.h"
#include "tests/unit/test_value_std_cases.h"

static md_val *decode(const char *data, size_t len)
{
    md_val *v = NULL;
    md_pickle_err err;
    if (md_pickle_decode((const uint8_t *)data, len, NULL, &v, NULL, &err) < 0) {
        fprintf(stderr, "\ndecode failed: %s\n", err.msg);
        return NULL;
    }
    return v;
}

static md_val *pair_value(size_t i)
{
    const uint8_t *p = (const uint8_t *)std_pair_values[i];
    size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    return decode(std_pair_values[i] + 4, len);
}

/* Text of repr (or str) of v, or "<error: Type: msg>"; malloc'd. */
static char *text_of(const md_val *v, bool str)
{
    md_buf out = MD_BUF_INIT;
    md_pyerr e;
    int rc = str ? md_val_str(v, &out, &e) : md_val_repr(v, &out, &e);
    char *s;
    if (rc < 0) {
        s = malloc(300);
        snprintf(s, 300, "<error: %s: %s>", e.type ? e.type : "?", e.msg);
    } else {
        s = malloc(out.len + 1);
        memcpy(s, out.data, out.len);
        s[out.len] = 0;
    }
    md_buf_free(&out);
    return s;
}

static bool text_is(const md_val *v, bool str, const char *want, size_t i)
{
    char *got = text_of(v, str);
    bool ok = strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "\ncase %zu %s: got [%s] want [%s]\n", i, str ? "str" : "repr", got, want);
    free(got);
    return ok;
}

static void test_value_std_repr_str_and_numeric_hash_match_python(void)
{
    size_t n = sizeof std_cases / sizeof std_cases[0];
    CU_ASSERT_TRUE(n > 100);
    for (size_t i = 0; i < n; i++) {
        const struct std_case *c = &std_cases[i];
        md_val *v = decode(c->pickle, c->len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        CU_ASSERT_TRUE(text_is(v, false, c->repr, i));
        CU_ASSERT_TRUE(text_is(v, true, c->str, i));
        if (c->has_hash) {
            int64_t h;
            md_pyerr e;
            CU_ASSERT_EQUAL(md_val_hash(v, &h, &e), 0);
            CU_ASSERT_EQUAL(h, c->hash);
            if (h != c->hash)
                fprintf(stderr, "\ncase %zu hash %lld want %lld\n", i, (long long)h, c->hash);
        }
        md_decref(v);
    }
}

/* The outcome of a < b as Python words it: "True", "False" or
 * "TypeError: message". */
static void order_text(const md_val *a, const md_val *b, char *out, size_t size)
{
    md_pyerr e;
    int rc = md_val_order(a, b, "<", &e);
    if (rc < 0)
        snprintf(out, size, "%s: %s",
                 strcmp(e.type, "decimal.InvalidOperation") == 0 ? "InvalidOperation" : e.type,
                 e.msg);
    else
        snprintf(out, size, "%s", rc ? "True" : "False");
}

static void test_value_std_eq_order_and_hash_across_types_match_python(void)
{
    size_t nv = sizeof std_pair_values / sizeof std_pair_values[0];
    md_val **vals = calloc(nv, sizeof *vals);
    for (size_t i = 0; i < nv; i++) {
        vals[i] = pair_value(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(vals[i]);
    }
    size_t bad = 0;
    for (size_t k = 0; k < sizeof std_pairs / sizeof std_pairs[0]; k++) {
        const struct std_pair *p = &std_pairs[k];
        md_val *a = vals[p->a], *b = vals[p->b];
        md_pyerr e;
        int eq = md_val_eq(a, b, &e);
        char lt[300];
        order_text(a, b, lt, sizeof lt);
        bool ok = eq == p->eq && strcmp(lt, p->lt) == 0;
        int64_t ha, hb;
        if (eq == 1 && md_val_hash(a, &ha, &e) == 0 && md_val_hash(b, &hb, &e) == 0)
            ok = ok && ha == hb;   /* equal and hashable: the same hash */
        if (!ok && bad++ < 20)
            fprintf(stderr, "\npair %d,%d: eq %d (want %d), < [%s] (want [%s])\n", p->a, p->b,
                    eq, p->eq, lt, p->lt);
        CU_ASSERT_TRUE(ok);
    }
    for (size_t i = 0; i < nv; i++)
        md_decref(vals[i]);
    free(vals);
}

/* Point 6: instances with dict states go in sets and dicts, whatever the
 * order of their state, and print Python's default repr. */
static void test_value_std_instances_are_set_members_and_dict_keys(void)
{
    size_t nv = sizeof std_pair_values / sizeof std_pair_values[0];
    /* The last five pair values: Point(1, 2), the same with its state
     * built in the other order, Point(1, 3), two Slotted. */
    md_val *p = pair_value(nv - 5), *q = pair_value(nv - 4), *r = pair_value(nv - 3);
    md_val *s = md_set_new(false), *d = md_dict_new();
    md_pyerr e;
    CU_ASSERT_EQUAL(md_set_add(s, p, &e), 0);
    CU_ASSERT_EQUAL(md_set_add(s, q, &e), 0);
    CU_ASSERT_EQUAL(md_set_add(s, r, &e), 0);
    CU_ASSERT_EQUAL(md_set_len(s), 2);
    CU_ASSERT_EQUAL(md_set_contains(s, q, &e), 1);
    CU_ASSERT_EQUAL(md_dict_set(d, p, md_true(), &e), 0);
    CU_ASSERT_PTR_EQUAL(md_dict_get(d, q, &e), md_true());
    CU_ASSERT_PTR_NULL(md_dict_get(d, r, &e));
    char want[80];
    snprintf(want, sizeof want, "<userclasses.Point object at %p>", (void *)p);
    CU_ASSERT_TRUE(text_is(p, false, want, 0));
    CU_ASSERT_TRUE(text_is(p, true, want, 0));
    CU_ASSERT_EQUAL(md_val_order(p, q, "<", &e), -1);
    CU_ASSERT_STRING_EQUAL(e.msg, "'<' not supported between instances of 'Point' and 'Point'");
    md_val *vals[] = { p, q, r, s, d };
    for (size_t i = 0; i < 5; i++)
        md_decref(vals[i]);
}

/* Shapes that are not what Python writes stay plain instances. */
static void test_value_std_malformed_shapes_stay_instances(void)
{
    static const char *const bad[] = {
        /* date(b'\x07\xe8\x0d\x01'): month 13 */
        "\x80\x02" "cdatetime\ndate\n" "C\x04\x07\xe8\x0d\x01\x85R.",
        /* Decimal('1.2.3') */
        "\x80\x02" "cdecimal\nDecimal\n" "X\x05\x00\x00\x00" "1.2.3" "\x85R.",
        /* Fraction(1, 0) */
        "\x80\x02" "cfractions\nFraction\n" "K\x01K\x00\x86R.",
        /* range(0, 1, 0) */
        "\x80\x02" "c__builtin__\nxrange\n" "K\x00K\x01K\x00\x87R.",
        /* defaultdict with a factory that is not a builtin class */
        "\x80\x02" "ccollections\ndefaultdict\n" "cos\nsystem\n\x85R.",
        /* array('u', [1, 20]): ints where array() wants characters (found
         * by fuzz_pickle: repr read the ints as str) */
        "\x80\x02" "carray\narray\n" "U\x01u]" "(K\x01K\x14" "e\x86R.",
        /* array('u', ['ab']): a str of two characters */
        "\x80\x02" "carray\narray\n" "U\x01u]" "(X\x02\x00\x00\x00" "ab" "e" "\x86R.",
        /* array('i', ['a']) and array('d', [None]) */
        "\x80\x02" "carray\narray\n" "U\x01i]" "(X\x01\x00\x00\x00" "a" "e" "\x86R.",
        "\x80\x02" "carray\narray\n" "U\x01" "d]" "(Ne" "\x86R.",
    };
    static const size_t lens[] = { 26, 32, 29, 31, 41, 28, 31, 30, 25 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        md_val *v = decode(bad[i], lens[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        CU_ASSERT_EQUAL(md_val_std_kind(v), MD_STD_NONE);
        char *text = text_of(v, false);
        CU_ASSERT_TRUE(strncmp(text, "<", 1) == 0 && strstr(text, " object at 0x") != NULL);
        free(text);
        md_decref(v);
    }
}

/* Every allocation that repr, == and hash of these values make may fail:
 * the answer is then MemoryError, never a wrong one, and nothing leaks. */
static void test_value_std_alloc_failure_sweep_over_repr_eq_and_hash(void)
{
    size_t nv = sizeof std_pair_values / sizeof std_pair_values[0];
    md_val *list = md_list_new(nv), *copy = NULL;
    md_pyerr e;
    for (size_t i = 0; i < nv; i++)
        CU_ASSERT_EQUAL_FATAL(md_list_append_steal(list, pair_value(i)), 0);
    copy = md_val_deepcopy(list, &e);   /* equal, with no shared items */
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    char *want = text_of(list, false);
    /* Not 1: a Decimal NaN is unequal to its copy. */
    int want_eq = md_val_eq(list, copy, &e);
    CU_ASSERT_EQUAL(want_eq, 0);
    md_list_del(list, 22);   /* the NaN (std_pair_values[22]) */
    md_list_del(copy, 22);
    free(want);
    want = text_of(list, false);
    CU_ASSERT_EQUAL(md_val_eq(list, copy, &e), 1);
    size_t start = md_gc_tracked();
    bool done = false;
    for (long n = 0; n < 20000 && !done; n++) {
        md_buf out = MD_BUF_INIT;
        md_pyerr e1, e2;
        md_alloc_fail_after(n);
        int rc = md_val_repr(list, &out, &e1);
        int eq = md_val_eq(list, copy, &e2);
        md_alloc_fail_after(-1);
        CU_ASSERT_TRUE(rc < 0 ? strcmp(e1.type, "MemoryError") == 0
                              : out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
        CU_ASSERT_TRUE(eq < 0 ? strcmp(e2.type, "MemoryError") == 0 : eq == 1);
        done = rc == 0 && eq == 1;
        md_buf_free(&out);
    }
    CU_ASSERT_TRUE(done);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
    /* hash of every hashable value, range included (it builds a tuple) */
    for (size_t i = 0; i < md_list_len(list); i++) {
        md_val *v = md_list_get(list, i);
        int64_t h0, h;
        if (md_val_hash(v, &h0, &e) < 0)
            continue;
        for (long n = 0; n < 100; n++) {
            md_alloc_fail_after(n);
            int rc = md_val_hash(v, &h, &e);
            md_alloc_fail_after(-1);
            CU_ASSERT_TRUE(rc == 0 ? h == h0 : strcmp(e.type, "MemoryError") == 0);
            if (rc == 0)
                break;
        }
    }
    free(want);
    md_decref(list);
    md_decref(copy);
}

void md_test_register_value_std(void)
{
    CU_pSuite s = md_test_suite("value_std");
    MD_ADD_TEST(s, test_value_std_repr_str_and_numeric_hash_match_python);
    MD_ADD_TEST(s, test_value_std_eq_order_and_hash_across_types_match_python);
    MD_ADD_TEST(s, test_value_std_instances_are_set_members_and_dict_keys);
    MD_ADD_TEST(s, test_value_std_malformed_shapes_stay_instances);
    MD_ADD_TEST(s, test_value_std_alloc_failure_sweep_over_repr_eq_and_hash);
}
