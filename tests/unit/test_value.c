/* test_value.c - unit tests of the value model (core/value/): Python's
 * equality, hashing, ordering, repr and deepcopy, the containers, the
 * cycle collector, depth limits and allocation failures.
 *
 * Values are written as Python literals and built by lit(), a small
 * reader of Python expressions (numbers with + - * / **, str, bytes,
 * containers, a few calls); the expected results in the GENERATED
 * section come from running Python 3.12 (tests/unit/gen_value_tables.py).
 */
#include "tests/unit/unit.h"

#include <malloc.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"

/* ======================================================================
 * lit(): Python literal expressions -> values
 * ====================================================================== */

typedef struct lit_reader {
    const char *s;
    bool bad;
} lit_reader;

static md_val *lit_expr(lit_reader *r);

static void lit_ws(lit_reader *r)
{
    while (*r->s == ' ')
        r->s++;
}

static bool lit_eat(lit_reader *r, const char *tok)
{
    lit_ws(r);
    size_t n = strlen(tok);
    if (strncmp(r->s, tok, n) != 0)
        return false;
    r->s += n;
    return true;
}

static md_val *lit_fail(lit_reader *r, md_val *v)
{
    md_decref(v);
    r->bad = true;
    return NULL;
}

static bool is_num(const md_val *v)
{
    md_vtype t = md_typeof(v);
    return t == MD_T_INT || t == MD_T_BOOL || t == MD_T_FLOAT || t == MD_T_COMPLEX;
}

static double as_double(const md_val *v)
{
    if (md_typeof(v) == MD_T_FLOAT)
        return md_float_get(v);
    int64_t i;
    if (md_int_to_i64(v, &i) == 0)
        return (double)i;
    return mpz_get_d(((const md_bigint *)v)->z);
}

static void to_mpz(const md_val *v, mpz_t z)
{
    int64_t i;
    if (md_int_to_i64(v, &i) == 0)
        mpz_set_si(z, (long)i);
    else
        mpz_set(z, ((const md_bigint *)v)->z);
}

static md_val *from_mpz(mpz_t z)
{
    char *text = mpz_get_str(NULL, 10, z);
    md_val *v = md_int_from_decimal(text, strlen(text), false);
    void (*freefn)(void *, size_t);
    mp_get_memory_functions(NULL, NULL, &freefn);
    freefn(text, strlen(text) + 1);
    return v;
}

/* a op b for numbers: op is one of + - * / ^ (power) or 'n' (negate a). */
static md_val *lit_arith(md_val *a, md_val *b, char op)
{
    md_vtype ta = md_typeof(a), tb = b ? md_typeof(b) : MD_T_INT;
    md_val *res;
    if (ta == MD_T_COMPLEX && op == 'n') {
        res = md_complex_new(-md_complex_real(a), -md_complex_imag(a));
    } else if (ta != MD_T_FLOAT && tb != MD_T_FLOAT && ta != MD_T_COMPLEX && op != '/') {
        mpz_t x, y;
        mpz_inits(x, y, NULL);
        to_mpz(a, x);
        if (b)
            to_mpz(b, y);
        switch (op) {
        case '+': mpz_add(x, x, y); break;
        case '-': mpz_sub(x, x, y); break;
        case '*': mpz_mul(x, x, y); break;
        case '^': mpz_pow_ui(x, x, mpz_get_ui(y)); break;
        default: mpz_neg(x, x); break;
        }
        res = from_mpz(x);
        mpz_clears(x, y, NULL);
    } else {
        double x = as_double(a), y = b ? as_double(b) : 0;
        switch (op) {
        case '+': x += y; break;
        case '-': x -= y; break;
        case '*': x *= y; break;
        case '/': x /= y; break;
        case '^': x = pow(x, y); break;
        default: x = -x; break;
        }
        res = md_float_new(x);
    }
    md_decref(a);
    md_decref(b);
    return res;
}

static void put_utf8(md_buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        md_buf_putc(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        md_buf_putc(b, (uint8_t)(0xC0 | cp >> 6));
        md_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        md_buf_putc(b, (uint8_t)(0xE0 | cp >> 12));
        md_buf_putc(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        md_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        md_buf_putc(b, (uint8_t)(0xF0 | cp >> 18));
        md_buf_putc(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        md_buf_putc(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        md_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

static md_val *lit_string(lit_reader *r, bool bytes)
{
    char quote = *r->s++;
    md_buf b = MD_BUF_INIT;
    while (*r->s && *r->s != quote) {
        char c = *r->s++;
        if (c != '\\') {
            md_buf_putc(&b, (uint8_t)c);
            continue;
        }
        c = *r->s++;
        int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (digits) {
            char hex[9] = { 0 };
            memcpy(hex, r->s, (size_t)digits);
            r->s += digits;
            uint32_t cp = (uint32_t)strtoul(hex, NULL, 16);
            if (bytes)
                md_buf_putc(&b, (uint8_t)cp);
            else
                put_utf8(&b, cp);
            continue;
        }
        const char *from = "ntr0", *to = "\n\t\r";
        const char *p = strchr(from, c);
        md_buf_putc(&b, p ? (uint8_t)(p - from < 3 ? to[p - from] : 0) : (uint8_t)c);
    }
    if (*r->s++ != quote) {
        md_buf_free(&b);
        return lit_fail(r, NULL);
    }
    md_val *v = bytes ? md_bytes_new(b.data, b.len)
                      : md_str_new((const char *)b.data, b.len);
    md_buf_free(&b);
    return v ? v : lit_fail(r, NULL);
}

/* Items up to `close`, into a list; *trailing_comma says whether one
 * ended the items (it makes (x,) a tuple). */
static md_val *lit_items(lit_reader *r, const char *close, bool *trailing_comma)
{
    md_val *l = md_list_new(0);
    *trailing_comma = false;
    while (!lit_eat(r, close)) {
        md_val *v = lit_expr(r);
        if (!v)
            return lit_fail(r, l);
        md_list_append_steal(l, v);
        *trailing_comma = lit_eat(r, ",");
        if (!*trailing_comma && !lit_eat(r, close))
            return lit_fail(r, l);
        if (!*trailing_comma)
            break;
    }
    return l;
}

static md_val *list_to_tuple(md_val *l)
{
    md_val *t = md_tuple_new(md_list_len(l));
    for (size_t i = 0; i < md_list_len(l); i++)
        md_tuple_set_steal(t, i, md_incref(md_list_get(l, i)));
    md_decref(l);
    return t;
}

static md_val *lit_braces(lit_reader *r)
{
    md_val *d = NULL, *set = NULL;
    if (lit_eat(r, "}"))
        return md_dict_new();
    for (;;) {
        md_val *k = lit_expr(r);
        if (!k)
            break;
        if (lit_eat(r, ":")) {
            md_val *v = lit_expr(r);
            if (!d)
                d = md_dict_new();
            if (!v || md_dict_set(d, k, v, NULL) < 0)
                r->bad = true;
            md_decref(v);
        } else {
            if (!set)
                set = md_set_new(false);
            if (md_set_add(set, k, NULL) < 0)
                r->bad = true;
        }
        md_decref(k);
        if (lit_eat(r, "}"))
            return d ? d : set;
        if (!lit_eat(r, ","))
            break;
        if (lit_eat(r, "}"))
            return d ? d : set;
    }
    md_decref(d);
    return lit_fail(r, set);
}

static md_val *lit_call(lit_reader *r, const char *name, size_t n)
{
    bool comma;
    md_val *args = lit_items(r, ")", &comma), *v = NULL;
    if (!args)
        return NULL;
    size_t na = md_list_len(args);
    md_val *a0 = na > 0 ? md_list_get(args, 0) : NULL;
#define IS(s) (n == strlen(s) && strncmp(name, s, n) == 0)
    if (IS("complex") && na == 2) {
        v = md_complex_new(as_double(a0), as_double(md_list_get(args, 1)));
    } else if (IS("set") && na == 0) {
        v = md_set_new(false);
    } else if (IS("frozenset")) {
        v = md_set_new(true);
        size_t pos = 0;
        md_val *k;
        while (a0 && md_set_next(a0, &pos, &k))
            md_set_add(v, k, NULL);
    } else if (IS("bytearray") && na == 1) {
        v = md_bytearray_new(md_bytes_data(a0), md_bytes_len(a0));
    } else if (IS("slice") && na == 3) {
        v = md_slice_new(a0, md_list_get(args, 1), md_list_get(args, 2));
    } else if (name[0] >= 'A' && name[0] <= 'Z') {
        char cls[64];
        snprintf(cls, sizeof cls, "%.*s", (int)n, name);
        md_val *g = md_global_new(strcmp(cls, "Empty") == 0 ? "_queue" : "builtins", cls);
        md_val *t = list_to_tuple(md_incref(args));
        v = md_exc_new(g, t, NULL);
        md_decref(g);
        md_decref(t);
    }
#undef IS
    md_decref(args);
    return v ? v : lit_fail(r, NULL);
}

static md_val *lit_atom(lit_reader *r)
{
    lit_ws(r);
    const char *s = r->s;
    bool comma;
    if (*s == '\'' || *s == '"')
        return lit_string(r, false);
    if (*s == 'b' && (s[1] == '\'' || s[1] == '"')) {
        r->s++;
        return lit_string(r, true);
    }
    if (lit_eat(r, "(")) {
        md_val *l = lit_items(r, ")", &comma);
        if (!l)
            return NULL;
        if (md_list_len(l) == 1 && !comma) {
            md_val *v = md_incref(md_list_get(l, 0));
            md_decref(l);
            return v;
        }
        return list_to_tuple(l);
    }
    if (lit_eat(r, "["))
        return lit_items(r, "]", &comma);
    if (lit_eat(r, "{"))
        return lit_braces(r);
    if ((*s >= '0' && *s <= '9') || *s == '.') {
        size_t n = strspn(s, "0123456789");
        if (s[n] == '.' || s[n] == 'e' || s[n] == 'j') {
            char *end;
            double d = strtod(s, &end);
            r->s = end;
            if (*r->s == 'j') {
                r->s++;
                return md_complex_new(0.0, d);
            }
            return md_float_new(d);
        }
        r->s += n;
        return md_int_from_decimal(s, n, false);
    }
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");
    r->s += n;
    if (lit_eat(r, "("))
        return lit_call(r, s, n);
    if (n == 4 && strncmp(s, "None", 4) == 0)
        return md_none();
    if (n == 4 && strncmp(s, "True", 4) == 0)
        return md_true();
    if (n == 5 && strncmp(s, "False", 5) == 0)
        return md_false();
    if (n == 3 && strncmp(s, "nan", 3) == 0)
        return md_float_new(NAN);
    if (n == 3 && strncmp(s, "inf", 3) == 0)
        return md_float_new(INFINITY);
    return lit_fail(r, NULL);
}

static md_val *lit_unary(lit_reader *r);

static md_val *lit_power(lit_reader *r)
{
    md_val *a = lit_atom(r);
    if (a && lit_eat(r, "**")) {
        md_val *b = lit_unary(r);
        if (!b)
            return lit_fail(r, a);
        return lit_arith(a, b, '^');
    }
    return a;
}

static md_val *lit_unary(lit_reader *r)
{
    if (lit_eat(r, "-")) {
        md_val *a = lit_unary(r);
        return a ? lit_arith(a, NULL, 'n') : NULL;
    }
    return lit_power(r);
}

static md_val *lit_binary(lit_reader *r, const char *ops, md_val *(*next)(lit_reader *))
{
    md_val *a = next(r);
    while (a) {
        lit_ws(r);
        char op = *r->s;
        if (!op || !strchr(ops, op) || r->s[1] == '*')
            break;
        r->s++;
        md_val *b = next(r);
        if (!b || !is_num(a) || !is_num(b)) {
            md_decref(b);
            return lit_fail(r, a);
        }
        a = lit_arith(a, b, op);
    }
    return a;
}

static md_val *lit_term(lit_reader *r)
{
    return lit_binary(r, "*/", lit_unary);
}

static md_val *lit_expr(lit_reader *r)
{
    return lit_binary(r, "+-", lit_term);
}

/* The value a Python expression denotes (new reference); fails the test
 * if the text cannot be read. */
static md_val *lit(const char *src)
{
    lit_reader r = { src, false };
    md_val *v = lit_expr(&r);
    lit_ws(&r);
    if (r.bad || !v || *r.s) {
        fprintf(stderr, "lit: cannot read %s\n", src);
        md_decref(v);
        CU_FAIL_FATAL("lit() could not read a test literal");
    }
    return v;
}

/* ======================================================================
 * Helpers
 * ====================================================================== */

struct lit_row {
    const char *src;
    const char *expect;
};

struct hash_row {
    const char *src;
    long long hash;
};

/* repr (or str) of v, malloc'd; NULL on error. */
static char *repr_of(const md_val *v, bool as_str)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    int rc = as_str ? md_val_str(v, &b, &e) : md_val_repr(v, &b, &e);
    if (rc < 0) {
        md_buf_free(&b);
        return NULL;
    }
    char *s = md_buf_steal(&b, NULL);
    if (!s)
        s = strdup("");
    return s;
}

static bool repr_is(const md_val *v, const char *expect)
{
    char *s = repr_of(v, false);
    bool ok = s && strcmp(s, expect) == 0;
    if (!ok)
        fprintf(stderr, "\nrepr: got [%s] expected [%s]\n", s ? s : "(error)", expect);
    free(s);
    return ok;
}

static int eq_src(const char *a, const char *b)
{
    md_val *x = lit(a), *y = lit(b);
    md_pyerr e;
    int r = md_val_eq(x, y, &e);
    md_decref(x);
    md_decref(y);
    return r;
}

static int64_t hash_of(const md_val *v)
{
    int64_t h = 0;
    md_pyerr e;
    CU_ASSERT_EQUAL(md_val_hash(v, &h, &e), 0);
    return h;
}

static int64_t hash_src(const char *src)
{
    md_val *v = lit(src);
    int64_t h = hash_of(v);
    md_decref(v);
    return h;
}

/* md_val_order on two literals; the error message, if any, in msg. */
static int order_src(const char *a, const char *op, const char *b, char *msg)
{
    md_val *x = lit(a), *y = lit(b);
    md_pyerr e;
    int r = md_val_order(x, y, op, &e);
    if (msg)
        strcpy(msg, r < 0 ? e.msg : "");
    md_decref(x);
    md_decref(y);
    return r;
}

/* A list nested `levels` deep: [[[...]]] with levels pairs of brackets. */
static md_val *nested_lists(size_t levels)
{
    md_val *v = md_list_new(0);
    for (size_t i = 1; i < levels; i++) {
        md_val *outer = md_list_new(1);
        md_list_append_steal(outer, v);
        v = outer;
    }
    return v;
}

static md_val *nested_tuples(size_t levels)
{
    md_val *v = md_tuple_pack(1, md_int_from_i64(1));
    for (size_t i = 1; i < levels; i++) {
        md_val *outer = md_tuple_new(1);
        md_tuple_set_steal(outer, 0, v);
        v = outer;
    }
    return v;
}

/* BEGIN GENERATED by tests/unit/gen_value_tables.py (Python 3.12.1) */
static const struct lit_row repr_rows[] = {
    { "None", "None" },
    { "True", "True" },
    { "False", "False" },
    { "0", "0" },
    { "-1", "-1" },
    { "4611686018427387903", "4611686018427387903" },
    { "-4611686018427387904", "-4611686018427387904" },
    { "4611686018427387904", "4611686018427387904" },
    { "-4611686018427387905", "-4611686018427387905" },
    { "9223372036854775808", "9223372036854775808" },
    { "-9223372036854775809", "-9223372036854775809" },
    { "2**200", "1606938044258990275541962092341162602522202993782792835301376" },
    { "-(3**100)", "-515377520732011331036461129765621272702107522001" },
    { "0.0", "0.0" },
    { "-0.0", "-0.0" },
    { "1.5", "1.5" },
    { "1.0", "1.0" },
    { "-2.0", "-2.0" },
    { "0.1", "0.1" },
    { "0.3", "0.3" },
    { "1/3", "0.3333333333333333" },
    { "2/3", "0.6666666666666666" },
    { "1e16", "1e+16" },
    { "1e15", "1000000000000000.0" },
    { "123456789012345.0", "123456789012345.0" },
    { "1234567890123456.0", "1234567890123456.0" },
    { "12345678901234567.0", "1.2345678901234568e+16" },
    { "1e-05", "1e-05" },
    { "0.0001", "0.0001" },
    { "0.00012345", "0.00012345" },
    { "1e-07", "1e-07" },
    { "1.5e-07", "1.5e-07" },
    { "1e22", "1e+22" },
    { "1e100", "1e+100" },
    { "1.7976931348623157e308", "1.7976931348623157e+308" },
    { "5e-324", "5e-324" },
    { "2.2250738585072014e-308", "2.2250738585072014e-308" },
    { "inf", "inf" },
    { "-inf", "-inf" },
    { "nan", "nan" },
    { "100.0", "100.0" },
    { "1e300*10", "1e+301" },
    { "9007199254740993.0", "9007199254740992.0" },
    { "0.1+0.2", "0.30000000000000004" },
    { "1.1", "1.1" },
    { "2.675", "2.675" },
    { "1e23", "1e+23" },
    { "2.0**-44", "5.684341886080802e-14" },
    { "2.0**-1000", "9.332636185032189e-302" },
    { "2.0**1000", "1.0715086071862673e+301" },
    { "2.0**171", "2.9931553532536892e+51" },
    { "2.0**-1074", "5e-324" },
    { "complex(1, 2)", "(1+2j)" },
    { "2j", "2j" },
    { "-2j", "(-0-2j)" },
    { "complex(0.0, -0.0)", "-0j" },
    { "complex(-0.0, 0.0)", "(-0+0j)" },
    { "complex(-0.0, -1)", "(-0-1j)" },
    { "complex(nan, inf)", "(nan+infj)" },
    { "complex(1, nan)", "(1+nanj)" },
    { "complex(1.5, -2.25)", "(1.5-2.25j)" },
    { "complex(0, 1e16)", "1e+16j" },
    { "complex(1e16, 1e-5)", "(1e+16+1e-05j)" },
    { "complex(inf, -inf)", "(inf-infj)" },
    { "complex(-1, 0)", "(-1+0j)" },
    { "''", "''" },
    { "'a'", "'a'" },
    { "'abc'", "'abc'" },
    { "\"it's\"", "\"it's\"" },
    { "'say \"hi\"'", "'say \"hi\"'" },
    { "'both \\' and \"'", "'both \\' and \"'" },
    { "'back\\\\slash'", "'back\\\\slash'" },
    { "'tab\\tnl\\ncr\\r'", "'tab\\tnl\\ncr\\r'" },
    { "'\\x00\\x01\\x1f\\x7f'", "'\\x00\\x01\\x1f\\x7f'" },
    { "'\\x80\\x9f\\xa0\\xa1\\xad\\xff'", "'\\x80\\x9f\\xa0\302\241\\xad\303\277'" },
    { "'caf\\xe9'", "'caf\303\251'" },
    { "'\\u20ac'", "'\342\202\254'" },
    { "'\\u2028\\u2029'", "'\\u2028\\u2029'" },
    { "'\\u200b\\ufeff'", "'\\u200b\\ufeff'" },
    { "'\\ud800'", "'\\ud800'" },
    { "'\\udfff x'", "'\\udfff x'" },
    { "'\\U0001f600'", "'\360\237\230\200'" },
    { "'\\U000e0001'", "'\\U000e0001'" },
    { "'\\U0010ffff'", "'\\U0010ffff'" },
    { "'\\U000f0000'", "'\\U000f0000'" },
    { "'\\u0378'", "'\\u0378'" },
    { "'\\u3000'", "'\\u3000'" },
    { "'\\u00a0'", "'\\xa0'" },
    { "'\\u4e2d\\u6587'", "'\344\270\255\346\226\207'" },
    { "'\\u0300'", "'\314\200'" },
    { "'\\ue000'", "'\\ue000'" },
    { "b''", "b''" },
    { "b'abc'", "b'abc'" },
    { "b\"it's\"", "b\"it's\"" },
    { "b'\\x00\\xff\\x7f\\x80'", "b'\\x00\\xff\\x7f\\x80'" },
    { "b'\\t\\n\\r\\\\'", "b'\\t\\n\\r\\\\'" },
    { "b'say \"hi\"'", "b'say \"hi\"'" },
    { "b'both \\' and \"'", "b'both \\' and \"'" },
    { "bytearray(b'')", "bytearray(b'')" },
    { "bytearray(b'x\\x00')", "bytearray(b'x\\x00')" },
    { "()", "()" },
    { "(1,)", "(1,)" },
    { "(1, 2)", "(1, 2)" },
    { "((),)", "((),)" },
    { "(None, True, 'a')", "(None, True, 'a')" },
    { "[]", "[]" },
    { "[1]", "[1]" },
    { "[1, [2, [3]]]", "[1, [2, [3]]]" },
    { "[(), [], {}]", "[(), [], {}]" },
    { "{}", "{}" },
    { "{'a': 1}", "{'a': 1}" },
    { "{'a': 1, 2: 'b'}", "{'a': 1, 2: 'b'}" },
    { "{1: {2: {}}}", "{1: {2: {}}}" },
    { "{(1, 2): [3]}", "{(1, 2): [3]}" },
    { "{1}", "{1}" },
    { "{1, 2, 3}", "{1, 2, 3}" },
    { "set()", "set()" },
    { "frozenset()", "frozenset()" },
    { "frozenset({1})", "frozenset({1})" },
    { "frozenset({1, 2})", "frozenset({1, 2})" },
    { "{frozenset()}", "{frozenset()}" },
    { "slice(1, 2, None)", "slice(1, 2, None)" },
    { "slice(None, None, None)", "slice(None, None, None)" },
    { "slice(1, 'a', [2])", "slice(1, 'a', [2])" },
    { "KeyError('a')", "KeyError('a')" },
    { "ValueError('a', 1)", "ValueError('a', 1)" },
    { "Empty()", "Empty()" },
    { "KeyError()", "KeyError()" },
    { "IndexError('list index out of range')", "IndexError('list index out of range')" },
    { "TypeError(1.5)", "TypeError(1.5)" },
    { "RuntimeError((1,))", "RuntimeError((1,))" },
    { "ValueError([1, 'x'])", "ValueError([1, 'x'])" },
    { "[1.5, -0.0, 2j, b'x', 'y', None]", "[1.5, -0.0, 2j, b'x', 'y', None]" },
};
static const struct lit_row str_rows[] = {
    { "'abc'", "abc" },
    { "'it\\'s'", "it's" },
    { "''", "" },
    { "'\\x00\\n'", "\000\012" },
    { "'\\ud800'", "\355\240\200" },
    { "KeyError('a')", "'a'" },
    { "KeyError()", "" },
    { "KeyError('a', 'b')", "('a', 'b')" },
    { "ValueError('a')", "a" },
    { "ValueError()", "" },
    { "ValueError('a', 1)", "('a', 1)" },
    { "ValueError(1)", "1" },
    { "ValueError(KeyError('k'))", "'k'" },
    { "Empty()", "" },
    { "b'x'", "b'x'" },
    { "[1, 'a']", "[1, 'a']" },
    { "1.5", "1.5" },
    { "2**100", "1267650600228229401496703205376" },
};
static const struct hash_row hash_rows[] = {
    { "0", 0LL },
    { "1", 1LL },
    { "-1", -2LL },
    { "-2", -2LL },
    { "2**61-1", 0LL },
    { "2**61", 1LL },
    { "-(2**61)", -2LL },
    { "2**62", 2LL },
    { "4611686018427387903", 1LL },
    { "-4611686018427387904", -2LL },
    { "2**100", 549755813888LL },
    { "-(2**100)", -549755813888LL },
    { "2**64-1", 7LL },
    { "10**20", 848750603811160107LL },
    { "True", 1LL },
    { "False", 0LL },
    { "0.0", 0LL },
    { "-0.0", 0LL },
    { "1.0", 1LL },
    { "-1.0", -2LL },
    { "1.5", 1152921504606846977LL },
    { "-1.5", -1152921504606846977LL },
    { "0.1", 230584300921369408LL },
    { "1e20", 848750603811160107LL },
    { "1e300", 1224995262755759164LL },
    { "5e-324", 16777216LL },
    { "inf", 314159LL },
    { "-inf", -314159LL },
    { "2.0**61", 1LL },
    { "2.0**62", 2LL },
    { "complex(1, 2)", 2000007LL },
    { "complex(0, 1)", 1000003LL },
    { "complex(1.5, -0.5)", -2305843009213693951LL },
    { "complex(-1, 0)", -2LL },
    { "(1, 2)", -3550055125485641917LL },
    { "()", 5740354900026072187LL },
    { "(1,)", -6644214454873602895LL },
    { "((1, 2), 3.5)", 8011440717425436011LL },
    { "(None,)", 9181102132670838864LL },
    { "frozenset()", 133146708735736LL },
    { "frozenset({1})", -558064481276695278LL },
    { "frozenset({1, 2, 3})", -272375401224217160LL },
    { "frozenset({frozenset({1})})", 5515263749738256364LL },
    { "slice(1, 2, None)", -2178470213028018262LL },
    { "None", 4238894112LL },
    { "(None, True)", -439879632793865346LL },
};
static const struct lit_row long_rows[] = {
    { "0", "" },
    { "1", "01" },
    { "-1", "ff" },
    { "127", "7f" },
    { "128", "8000" },
    { "255", "ff00" },
    { "256", "0001" },
    { "-128", "80" },
    { "-129", "7fff" },
    { "-256", "00ff" },
    { "-32768", "0080" },
    { "-32769", "ff7fff" },
    { "32767", "ff7f" },
    { "32768", "008000" },
    { "2**31-1", "ffffff7f" },
    { "-(2**31)", "00000080" },
    { "2**62-1", "ffffffffffffff3f" },
    { "-(2**62)", "00000000000000c0" },
    { "2**62", "0000000000000040" },
    { "2**63-1", "ffffffffffffff7f" },
    { "-(2**63)", "0000000000000080" },
    { "2**63", "000000000000008000" },
    { "2**64", "000000000000000001" },
    { "-(2**64)", "0000000000000000ff" },
    { "2**100+12345", "39300000000000000000000010" },
    { "-(2**100)-1", "ffffffffffffffffffffffffef" },
    { "-(2**71)", "000000000000000080" },
    { "-(2**72)", "000000000000000000ff" },
    { "2**71", "00000000000000008000" },
};
/* END GENERATED */

/* ======================================================================
 * int
 * ====================================================================== */

static void test_value_small_ints_are_tagged_and_immortal(void)
{
    md_val *a = md_int_from_i64(5), *b = md_int_from_i64(5);
    CU_ASSERT_PTR_EQUAL(a, b);
    CU_ASSERT_EQUAL(md_refcount(a), UINT32_MAX);
    CU_ASSERT_EQUAL(md_typeof(a), MD_T_INT);
    CU_ASSERT_STRING_EQUAL(md_type_name(a), "int");
    /* The inline range ends at 2**62; beyond it ints are allocated. */
    md_val *top = md_int_from_i64(((int64_t)1 << 62) - 1);
    md_val *big = md_int_from_i64((int64_t)1 << 62);
    CU_ASSERT_EQUAL(md_refcount(top), UINT32_MAX);
    CU_ASSERT_EQUAL(md_refcount(big), 1);
    int64_t i;
    CU_ASSERT_EQUAL(md_int_to_i64(big, &i), 0);
    CU_ASSERT_EQUAL(i, (int64_t)1 << 62);
    md_val *min = md_int_from_i64(INT64_MIN), *umax = md_int_from_u64(UINT64_MAX);
    CU_ASSERT_EQUAL(md_int_to_i64(min, &i), 0);
    CU_ASSERT_EQUAL(i, INT64_MIN);
    CU_ASSERT_EQUAL(md_int_to_i64(umax, &i), -1);
    CU_ASSERT_TRUE(repr_is(umax, "18446744073709551615"));
    CU_ASSERT_EQUAL(md_int_sign(min), -1);
    CU_ASSERT_EQUAL(md_int_sign(md_int_from_i64(0)), 0);
    CU_ASSERT_EQUAL(md_int_sign(umax), 1);
    /* Equal ints are equal whatever their representation. */
    md_val *big2 = md_int_from_decimal("4611686018427387904", 19, false);
    CU_ASSERT_EQUAL(md_val_eq(big, big2, NULL), 1);
    md_decref(big2);
    md_decref(big);
    md_decref(min);
    md_decref(umax);
}

static void test_value_int_decimal_accepts_python_forms_and_rejects_garbage(void)
{
    const char *bad[] = { "", "-", "+", "1.0", "12a", " 1", "1 ", "0x10", "1L" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_PTR_NULL(md_int_from_decimal(bad[i], strlen(bad[i]), false));
    CU_ASSERT_PTR_NULL(md_int_from_decimal("L", 1, true));
    md_val *v = md_int_from_decimal("-123L", 5, true);
    CU_ASSERT_TRUE(v && repr_is(v, "-123"));
    md_decref(v);
    v = md_int_from_decimal("+00042", 6, false);
    CU_ASSERT_TRUE(v && repr_is(v, "42"));
    md_decref(v);
    const char *huge = "-123456789012345678901234567890123456789";
    v = md_int_from_decimal(huge, strlen(huge), false);
    CU_ASSERT_TRUE(v && repr_is(v, huge));
    md_decref(v);
}

static void test_value_int_le_bytes_match_pickle_encode_long(void)
{
    for (size_t i = 0; i < sizeof long_rows / sizeof long_rows[0]; i++) {
        md_val *v = lit(long_rows[i].src);
        size_t n = md_int_le_size(v);
        uint8_t bytes[64];
        char hex[130] = "";
        CU_ASSERT_FATAL(n <= sizeof bytes);
        md_int_to_le(v, bytes, n);
        for (size_t k = 0; k < n; k++)
            sprintf(hex + 2 * k, "%02x", bytes[k]);
        if (strcmp(hex, long_rows[i].expect) != 0)
            fprintf(stderr, "\nencode_long(%s): got %s expected %s\n",
                    long_rows[i].src, hex, long_rows[i].expect);
        CU_ASSERT_STRING_EQUAL(hex, long_rows[i].expect);
        /* and back */
        md_val *back = md_int_from_le(bytes, n);
        CU_ASSERT_EQUAL(md_val_eq(v, back, NULL), 1);
        md_decref(back);
        md_decref(v);
    }
}

/* ======================================================================
 * Equality and hash
 * ====================================================================== */

static void test_value_numbers_equal_across_int_float_bool_complex(void)
{
    CU_ASSERT_EQUAL(eq_src("1", "1.0"), 1);
    CU_ASSERT_EQUAL(eq_src("1", "True"), 1);
    CU_ASSERT_EQUAL(eq_src("True", "complex(1, 0)"), 1);
    CU_ASSERT_EQUAL(eq_src("1.0", "complex(1, 0)"), 1);
    CU_ASSERT_EQUAL(eq_src("0", "False"), 1);
    CU_ASSERT_EQUAL(eq_src("0.0", "-0.0"), 1);
    CU_ASSERT_EQUAL(eq_src("complex(1, 1)", "1"), 0);
    CU_ASSERT_EQUAL(eq_src("10**20", "1e20"), 1);
    CU_ASSERT_EQUAL(eq_src("2**53+1", "2.0**53"), 0);
    CU_ASSERT_EQUAL(eq_src("2**53", "2.0**53"), 1);
    CU_ASSERT_EQUAL(eq_src("2**1000", "inf"), 0);
    CU_ASSERT_EQUAL(eq_src("1", "1.5"), 0);
    CU_ASSERT_EQUAL(eq_src("(1, 2.0)", "(1.0, 2)"), 1);
    CU_ASSERT_EQUAL(eq_src("{1: 'a'}", "{1.0: 'a'}"), 1);
    CU_ASSERT_EQUAL(eq_src("None", "0"), 0);
    CU_ASSERT_EQUAL(eq_src("None", "None"), 1);
    CU_ASSERT_EQUAL(eq_src("True", "False"), 0);
    /* equal numbers hash alike */
    CU_ASSERT_EQUAL(hash_src("1"), hash_src("1.0"));
    CU_ASSERT_EQUAL(hash_src("1"), hash_src("True"));
    CU_ASSERT_EQUAL(hash_src("1"), hash_src("complex(1, 0)"));
    CU_ASSERT_EQUAL(hash_src("10**20"), hash_src("1e20"));
    CU_ASSERT_EQUAL(hash_src("0.0"), hash_src("-0.0"));
    CU_ASSERT_EQUAL(hash_src("-1"), -2);
    CU_ASSERT_EQUAL(hash_src("-1.0"), -2);
    CU_ASSERT_EQUAL(hash_src("(1, 2)"), hash_src("(1.0, 2.0)"));
    CU_ASSERT_EQUAL(hash_src("frozenset({1, 2})"), hash_src("frozenset({2.0, 1.0})"));
}

static void test_value_hashes_equal_cpython_for_numbers_tuples_frozensets(void)
{
    for (size_t i = 0; i < sizeof hash_rows / sizeof hash_rows[0]; i++) {
        int64_t h = hash_src(hash_rows[i].src);
        if (h != hash_rows[i].hash)
            fprintf(stderr, "\nhash(%s): got %lld expected %lld\n", hash_rows[i].src,
                    (long long)h, hash_rows[i].hash);
        CU_ASSERT_EQUAL(h, hash_rows[i].hash);
    }
}

static void test_value_nan_is_unequal_except_by_identity_in_containers(void)
{
    md_val *nan = md_float_new(NAN), *nan2 = md_float_new(NAN);
    CU_ASSERT_EQUAL(md_val_eq(nan, nan, NULL), 0);
    CU_ASSERT_EQUAL(md_val_eq(nan, nan2, NULL), 0);
    md_val *x = md_list_new(0), *y = md_list_new(0), *z = md_list_new(0);
    md_list_append(x, nan);
    md_list_append(y, nan);
    md_list_append(z, nan2);
    CU_ASSERT_EQUAL(md_val_eq(x, x, NULL), 1);   /* x = [nan]; x == x */
    CU_ASSERT_EQUAL(md_val_eq(x, y, NULL), 1);   /* same nan object */
    CU_ASSERT_EQUAL(md_val_eq(x, z, NULL), 0);   /* [nan] == [float('nan')] */
    /* nan as a dict key is found by identity only */
    md_val *d = md_dict_new();
    CU_ASSERT_EQUAL(md_dict_set(d, nan, md_true(), NULL), 0);
    CU_ASSERT_PTR_EQUAL(md_dict_get(d, nan, NULL), md_true());
    CU_ASSERT_PTR_NULL(md_dict_get(d, nan2, NULL));
    CU_ASSERT_EQUAL(md_dict_set(d, nan2, md_false(), NULL), 0);
    CU_ASSERT_EQUAL(md_dict_len(d), 2);
    /* NaN orders as False both ways */
    CU_ASSERT_EQUAL(md_val_order(nan, nan2, "<", NULL), 0);
    CU_ASSERT_EQUAL(md_val_order(nan, nan2, ">=", NULL), 0);
    md_val *one = md_int_from_i64(1);
    CU_ASSERT_EQUAL(md_val_order(one, nan, "<=", NULL), 0);
    CU_ASSERT_EQUAL(md_val_order(one, nan, ">", NULL), 0);
    md_decref(d);
    md_decref(x);
    md_decref(y);
    md_decref(z);
    md_decref(nan);
    md_decref(nan2);
}

static void test_value_str_bytes_tuple_list_set_cross_type_equality(void)
{
    CU_ASSERT_EQUAL(eq_src("'a'", "b'a'"), 0);
    CU_ASSERT_EQUAL(eq_src("b'a'", "bytearray(b'a')"), 1);
    CU_ASSERT_EQUAL(eq_src("(1, 2)", "[1, 2]"), 0);
    CU_ASSERT_EQUAL(eq_src("{1, 2}", "frozenset({2, 1})"), 1);
    CU_ASSERT_EQUAL(eq_src("{1, 2}", "frozenset({1})"), 0);
    CU_ASSERT_EQUAL(eq_src("{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}"), 1);
    CU_ASSERT_EQUAL(eq_src("{'a': 1, 'b': 2}", "{'b': 2, 'a': 3}"), 0);
    CU_ASSERT_EQUAL(eq_src("{'a': 1}", "{'b': 1}"), 0);
    CU_ASSERT_EQUAL(eq_src("{}", "set()"), 0);
    CU_ASSERT_EQUAL(eq_src("[[1], {2: (3,)}]", "[[1.0], {2: (3,)}]"), 1);
    CU_ASSERT_EQUAL(eq_src("[1, 2]", "[1, 2, 3]"), 0);
    CU_ASSERT_EQUAL(eq_src("slice(1, 2, None)", "slice(1.0, 2, None)"), 1);
    CU_ASSERT_EQUAL(eq_src("'\\u20ac'", "'\\u20ac'"), 1);
    /* a Python 2 str equals the plain str and hashes alike */
    md_val *p2 = md_str_new_py2("abc", 3), *p3 = md_str_from_cstr("abc");
    CU_ASSERT_TRUE(md_str_is_py2(p2));
    CU_ASSERT_FALSE(md_str_is_py2(p3));
    CU_ASSERT_EQUAL(md_val_eq(p2, p3, NULL), 1);
    CU_ASSERT_EQUAL(hash_of(p2), hash_of(p3));
    CU_ASSERT_PTR_NULL(md_str_new_py2("\xc3\xa9", 2));
    md_decref(p2);
    md_decref(p3);
    md_val *b2 = md_bytes_new_py2("\xff", 1), *b3 = md_bytes_new("\xff", 1);
    CU_ASSERT_TRUE(md_bytes_is_py2(b2));
    CU_ASSERT_FALSE(md_bytes_is_py2(b3));
    CU_ASSERT_EQUAL(md_val_eq(b2, b3, NULL), 1);
    md_decref(b2);
    md_decref(b3);
}

static void test_value_unhashable_types_raise_typeerror_with_python_message(void)
{
    const char *srcs[] = { "[1]", "{}", "{1}", "bytearray(b'')", "(1, [2])", "(1, (2, {}))",
                           "frozenset({1})", "KeyError([1])" };
    const char *msgs[] = { "unhashable type: 'list'", "unhashable type: 'dict'",
                           "unhashable type: 'set'", "unhashable type: 'bytearray'",
                           "unhashable type: 'list'", "unhashable type: 'dict'", NULL,
                           "unhashable type: 'KeyError'" };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        md_val *v = lit(srcs[i]), *d = md_dict_new();
        md_pyerr e;
        int64_t h;
        int rc = md_val_hash(v, &h, &e);
        CU_ASSERT_EQUAL(md_val_is_hashable(v), msgs[i] == NULL);
        if (msgs[i]) {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_STRING_EQUAL(e.type, "TypeError");
            CU_ASSERT_STRING_EQUAL(e.msg, msgs[i]);
            CU_ASSERT_EQUAL(md_dict_set(d, v, md_none(), &e), -1);
            CU_ASSERT_STRING_EQUAL(e.msg, msgs[i]);
            CU_ASSERT_PTR_NULL(md_dict_get(d, v, &e));
            CU_ASSERT_PTR_NOT_NULL(e.type);
            CU_ASSERT_EQUAL(md_dict_len(d), 0);
        } else {
            CU_ASSERT_EQUAL(rc, 0);
        }
        md_decref(v);
        md_decref(d);
    }
}

static void test_value_exceptions_and_opaques_compare_and_hash_structurally(void)
{
    CU_ASSERT_EQUAL(eq_src("KeyError('a')", "KeyError('a')"), 1);
    CU_ASSERT_EQUAL(eq_src("KeyError('a')", "KeyError('b')"), 0);
    CU_ASSERT_EQUAL(eq_src("KeyError('a')", "IndexError('a')"), 0);
    CU_ASSERT_EQUAL(hash_src("KeyError('a', 1)"), hash_src("KeyError('a', 1.0)"));
    md_val *cls = md_global_new("datetime", "date"), *cls2 = md_global_new("datetime", "date");
    md_val *args = lit("(b'\\x07\\xe8\\x01\\x02',)");
    md_val *a = md_opaque_new(MD_OPQ_REDUCE, cls, args), *b = md_opaque_new(MD_OPQ_REDUCE, cls2, args);
    CU_ASSERT_EQUAL(md_val_eq(a, b, NULL), 1);
    CU_ASSERT_EQUAL(hash_of(a), hash_of(b));
    /* A date of the shape Python pickles is a date (test_value_std.c);
     * with a state it no longer is, and stays a plain instance. */
    CU_ASSERT_STRING_EQUAL(md_type_name(a), "datetime.date");
    CU_ASSERT_TRUE(repr_is(a, "datetime.date(2024, 1, 2)"));
    CU_ASSERT_TRUE(repr_is(cls, "<class 'datetime.date'>"));
    md_opaque_set_state_steal(b, lit("{'x': 1}"));
    CU_ASSERT_EQUAL(md_val_eq(a, b, NULL), 0);
    CU_ASSERT_STRING_EQUAL(md_type_name(b), "date");
    md_pyerr e;
    int64_t h;
    CU_ASSERT_EQUAL(md_val_hash(b, &h, &e), 0);   /* instances hash structurally */
    md_opaque_set_state_steal(a, lit("{'x': 1.0}"));
    CU_ASSERT_EQUAL(md_val_eq(a, b, NULL), 1);
    CU_ASSERT_EQUAL(md_opaque_add_listitem(a, md_none()), 0);
    CU_ASSERT_EQUAL(md_val_eq(a, b, NULL), 0);
    CU_ASSERT_EQUAL(md_opaque_add_listitem(b, md_none()), 0);
    CU_ASSERT_EQUAL(md_opaque_add_dictitem(b, md_none(), md_true()), 0);
    CU_ASSERT_EQUAL(md_opaque_add_dictitem(a, md_none(), md_true()), 0);
    CU_ASSERT_EQUAL(md_val_eq(a, b, NULL), 1);
    CU_ASSERT_TRUE(repr_is(md_opaque_dictitems(a), "[(None, True)]"));
    CU_ASSERT_TRUE(md_global_is(md_opaque_callable(a), "datetime", "date"));
    CU_ASSERT_EQUAL(md_opaque_kind_of(a), MD_OPQ_REDUCE);
    CU_ASSERT_PTR_NULL(md_opaque_kwargs(a));
    /* the class of a copyreg._reconstructor object is its first argument */
    md_val *rec = md_global_new("copyreg", "_reconstructor");
    md_val *pt = md_global_new("__main__", "Point"), *obj = md_global_new("builtins", "object");
    md_val *rargs = md_tuple_pack(3, pt, obj, md_none());
    md_val *c = md_opaque_new(MD_OPQ_REDUCE, rec, rargs);
    CU_ASSERT_STRING_EQUAL(md_type_name(c), "Point");
    char want[64];
    snprintf(want, sizeof want, "<__main__.Point object at %p>", (void *)c);
    CU_ASSERT_TRUE(repr_is(c, want));
    CU_ASSERT_TRUE(repr_is(obj, "<class 'object'>"));
    md_val *vals[] = { cls, cls2, args, a, b, rec, pt, obj, rargs, c };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
}

/* ======================================================================
 * str
 * ====================================================================== */

/* The ASCII run is tested eight bytes at a time: a non-ASCII code point or
 * a bad byte at every offset of texts up to 40 bytes (so on each side of
 * each word boundary) must still be counted or refused. */
static void test_value_str_counts_non_ascii_at_every_offset_of_the_word_scan(void)
{
    char text[48];
    for (size_t len = 0; len <= 40; len++) {
        memset(text, 'a', sizeof text);
        md_val *s = md_str_new(text, len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_TRUE(md_str_is_ascii(s));
        CU_ASSERT_EQUAL(md_str_len(s), len);
        md_decref(s);
        for (size_t at = 0; at + 2 <= len; at++) {
            memset(text, 'a', sizeof text);
            memcpy(text + at, "\xc3\xa9", 2);   /* U+00E9 */
            s = md_str_new(text, len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(s);
            CU_ASSERT_FALSE(md_str_is_ascii(s));
            CU_ASSERT_EQUAL(md_str_len(s), len - 1);
            md_decref(s);
            text[at] = (char)0xff;   /* never valid */
            CU_ASSERT_PTR_NULL(md_str_new(text, len));
            memset(text, 'a', sizeof text);
            text[at + 1] = (char)0x80;   /* a lone continuation byte */
            CU_ASSERT_PTR_NULL(md_str_new(text, len));
        }
    }
}

static void test_value_str_rejects_invalid_utf8_and_accepts_surrogates(void)
{
    const char *bad[] = { "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
                          "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
                          "\xf5\x80\x80\x80", "\xff", "\x80", "\xe2\x82", "a\xe2",
                          "\xf0\x9f\x98", "\xc3\x28", "\xe2\x28\xa1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_PTR_NULL(md_str_new(bad[i], strlen(bad[i])));
    md_val *s = md_str_new("\xed\xa0\x80", 3);   /* U+D800 */
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(md_str_len(s), 1);
    CU_ASSERT_FALSE(md_str_is_ascii(s));
    md_decref(s);
    s = md_str_new("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 14);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(md_str_len(s), 5);
    CU_ASSERT_EQUAL(md_str_nbytes(s), 14);
    md_decref(s);
    s = md_str_new("a\0b", 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(md_str_is_ascii(s));
    CU_ASSERT_EQUAL(md_str_len(s), 3);
    CU_ASSERT_EQUAL(md_str_data(s)[3], 0);
    CU_ASSERT_FALSE(md_str_eq_cstr(s, "a"));
    md_decref(s);
    s = md_str_from_cstr("key");
    CU_ASSERT_TRUE(md_str_eq_cstr(s, "key"));
    CU_ASSERT_STRING_EQUAL(md_str_data(s), "key");
    md_decref(s);
}

/* ======================================================================
 * dict, set, list, tuple
 * ====================================================================== */

static bool dict_keys_are(const md_val *d, const int64_t *keys, size_t n)
{
    size_t pos = 0, i = 0;
    md_val *k, *v;
    while (md_dict_next(d, &pos, &k, &v)) {
        int64_t x, y;
        if (i >= n || md_int_to_i64(k, &x) < 0 || md_int_to_i64(v, &y) < 0 ||
            x != keys[i] || y != keys[i] * 10)
            return false;
        i++;
    }
    return i == n;
}

static void test_value_dict_keeps_insertion_order_after_deletes_and_resize(void)
{
    md_val *d = md_dict_new();
    enum { N = 5000 };
    static int64_t expect[N];
    size_t n = 0;
    for (int64_t i = 0; i < N; i++) {
        md_val *k = md_int_from_i64(i), *v = md_int_from_i64(i * 10);
        CU_ASSERT_EQUAL(md_dict_set(d, k, v, NULL), 0);
    }
    for (int64_t i = 0; i < N; i += 2) {
        md_val *k = md_int_from_i64(i);
        CU_ASSERT_EQUAL(md_dict_del(d, k, NULL), 1);
        CU_ASSERT_EQUAL(md_dict_del(d, k, NULL), 0);
    }
    for (int64_t i = 1; i < N; i += 2)
        expect[n++] = i;
    CU_ASSERT_EQUAL(md_dict_len(d), n);
    CU_ASSERT_TRUE(dict_keys_are(d, expect, n));
    /* re-inserted keys go to the end; updated keys keep their place */
    for (int64_t i = 0; i < N; i += 2) {
        CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(i * 10), NULL), 0);
        expect[n++] = i;
    }
    CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(1), md_int_from_i64(10), NULL), 0);
    CU_ASSERT_TRUE(dict_keys_are(d, expect, n));
    for (int64_t i = 0; i < N; i++) {
        md_val *v = md_dict_get(d, md_int_from_i64(i), NULL);
        int64_t x = -1;
        CU_ASSERT_TRUE(v && md_int_to_i64(v, &x) == 0 && x == i * 10);
    }
    /* delete everything but one, then grow again: the table must reuse
     * room instead of growing without bound */
    for (int64_t round = 0; round < 50; round++) {
        for (int64_t i = 0; i < 100; i++)
            md_dict_set(d, md_int_from_i64(N + i), md_int_from_i64((N + i) * 10), NULL);
        for (int64_t i = 0; i < 100; i++)
            CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(N + i), NULL), 1);
    }
    CU_ASSERT_EQUAL(md_dict_len(d), N);
    CU_ASSERT_TRUE(dict_keys_are(d, expect, n));
    md_dict_clear(d);
    CU_ASSERT_EQUAL(md_dict_len(d), 0);
    CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(7), md_int_from_i64(70), NULL), 0);
    int64_t seven[] = { 7 };
    CU_ASSERT_TRUE(dict_keys_are(d, seven, 1));
    md_decref(d);
}

static void test_value_dict_equal_keys_share_one_slot_keeping_first_key(void)
{
    md_val *d = md_dict_new(), *one = md_int_from_i64(1), *onef = md_float_new(1.0);
    md_val *a = md_str_from_cstr("a"), *b = md_str_from_cstr("b");
    CU_ASSERT_EQUAL(md_dict_set(d, one, a, NULL), 0);
    CU_ASSERT_EQUAL(md_dict_set(d, onef, b, NULL), 0);
    CU_ASSERT_EQUAL(md_dict_set(d, md_true(), b, NULL), 0);
    CU_ASSERT_EQUAL(md_dict_len(d), 1);
    CU_ASSERT_TRUE(repr_is(d, "{1: 'b'}"));
    CU_ASSERT_PTR_EQUAL(md_dict_get(d, onef, NULL), b);
    CU_ASSERT_EQUAL(md_refcount(a), 1);
    CU_ASSERT_EQUAL(md_refcount(b), 2);
    /* str keys are found by content */
    md_val *k1 = md_str_from_cstr("key123456"), *k2 = md_str_from_cstr("key123456");
    CU_ASSERT_EQUAL(md_dict_set(d, k1, one, NULL), 0);
    CU_ASSERT_PTR_EQUAL(md_dict_get(d, k2, NULL), one);
    CU_ASSERT_EQUAL(md_dict_del(d, k2, NULL), 1);
    CU_ASSERT_EQUAL(md_refcount(k1), 1);
    md_val *vals[] = { d, onef, a, b, k1, k2 };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
}

static void test_value_dict_pop_and_set_clear(void)
{
    md_val *d = lit("{'a': [1], 'b': 2}"), *a = md_str_from_cstr("a"), *l = lit("[]");
    md_pyerr e;
    md_val *v = md_dict_pop(d, a, &e);
    CU_ASSERT_TRUE(v && repr_is(v, "[1]"));
    CU_ASSERT_EQUAL(md_refcount(v), 1);
    md_decref(v);
    CU_ASSERT_PTR_NULL(md_dict_pop(d, a, &e));
    CU_ASSERT_PTR_NULL(e.type);
    CU_ASSERT_PTR_NULL(md_dict_pop(d, l, &e));
    CU_ASSERT_STRING_EQUAL(e.msg, "unhashable type: 'list'");
    CU_ASSERT_TRUE(repr_is(d, "{'b': 2}"));
    md_val *s = lit("{1, 2}");
    md_set_clear(s);
    CU_ASSERT_TRUE(repr_is(s, "set()"));
    CU_ASSERT_EQUAL(md_set_add(s, a, &e), 0);
    CU_ASSERT_TRUE(repr_is(s, "{'a'}"));
    md_val *vals[] = { d, a, l, s };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
}

/* A decoder may use an opaque object as a key and set its state later
 * (BUILD after a memo reference): the key's hash changes under the
 * table, which must survive resizes and deletes without aborting. */
static void test_value_dict_survives_a_key_whose_hash_changed(void)
{
    md_val *g = md_global_new("__main__", "P"), *d = md_dict_new();
    md_val *o = md_opaque_new(MD_OPQ_NEWOBJ, g, NULL);
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_set(d, o, md_true(), &e), 0);
    md_opaque_set_state_steal(o, md_dict_new());   /* now unhashable */
    for (int64_t i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(i), md_none(), &e), 0);
    for (int64_t i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(i), &e), 1);
    CU_ASSERT_EQUAL(md_dict_len(d), 1);
    /* Instances hash structurally: under its new hash the key may or may
     * not be found, and either way the table stays sound. */
    int rc = md_dict_del(d, o, &e);
    CU_ASSERT_TRUE(rc == 0 || rc == 1);
    CU_ASSERT_EQUAL(md_dict_len(d), (size_t)(1 - rc));
    size_t pos = 0;
    md_val *k;
    CU_ASSERT_TRUE(rc == 1 || (md_dict_next(d, &pos, &k, NULL) && k == o));
    md_decref(d);
    md_decref(o);
    md_decref(g);
}

static void test_value_set_add_contains_discard_and_order(void)
{
    md_val *s = md_set_new(false);
    md_pyerr e;
    for (int i = 10; i > 0; i--)
        CU_ASSERT_EQUAL(md_set_add(s, md_int_from_i64(i), &e), 0);
    CU_ASSERT_EQUAL(md_set_add(s, md_true(), &e), 0);   /* 1 already there */
    md_val *f = md_float_new(2.0);
    CU_ASSERT_EQUAL(md_set_contains(s, f, &e), 1);
    CU_ASSERT_EQUAL(md_set_discard(s, f, &e), 1);
    CU_ASSERT_EQUAL(md_set_discard(s, f, &e), 0);
    CU_ASSERT_EQUAL(md_set_contains(s, f, &e), 0);
    CU_ASSERT_EQUAL(md_set_len(s), 9);
    CU_ASSERT_TRUE(repr_is(s, "{10, 9, 8, 7, 6, 5, 4, 3, 1}"));
    md_val *l = lit("[1]");
    CU_ASSERT_EQUAL(md_set_add(s, l, &e), -1);
    CU_ASSERT_STRING_EQUAL(e.msg, "unhashable type: 'list'");
    CU_ASSERT_EQUAL(md_set_contains(s, l, &e), -1);
    CU_ASSERT_EQUAL(md_set_discard(s, l, &e), -1);
    /* iteration */
    size_t pos = 0, count = 0;
    md_val *item;
    while (md_set_next(s, &pos, &item))
        count++;
    CU_ASSERT_EQUAL(count, 9);
    /* frozensets of equal items are equal and hash alike, whatever order */
    md_val *a = lit("frozenset({1, 'x', (2, 3)})"), *b = lit("frozenset({(2, 3), 'x', 1})");
    CU_ASSERT_EQUAL(md_val_eq(a, b, NULL), 1);
    CU_ASSERT_EQUAL(hash_of(a), hash_of(b));
    CU_ASSERT_EQUAL(md_val_eq(a, s, NULL), 0);
    md_val *vals[] = { s, f, l, a, b };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
}

static void test_value_list_insert_set_del_clear(void)
{
    md_val *l = md_list_new(0);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(md_list_append(l, md_int_from_i64(i)), 0);
    CU_ASSERT_EQUAL(md_list_insert(l, 0, md_str_from_cstr("")), 0);   /* immortal? no: leaks if not */
    md_val *s = md_list_get(l, 0);
    md_decref(s);   /* list holds the only reference now */
    CU_ASSERT_EQUAL(md_list_insert(l, 100, md_none()), 0);
    md_list_set(l, 1, md_true());
    md_list_del(l, 2);
    CU_ASSERT_TRUE(repr_is(l, "['', True, 2, 3, 4, None]"));
    CU_ASSERT_EQUAL(md_list_len(l), 6);
    md_list_clear(l);
    CU_ASSERT_TRUE(repr_is(l, "[]"));
    CU_ASSERT_EQUAL(md_list_append(l, md_none()), 0);
    CU_ASSERT_TRUE(repr_is(l, "[None]"));
    md_decref(l);
    md_val *t = md_tuple_pack(2, md_none(), md_true());
    CU_ASSERT_EQUAL(md_tuple_len(t), 2);
    CU_ASSERT_PTR_EQUAL(md_tuple_get(t, 1), md_true());
    md_decref(t);
    CU_ASSERT_PTR_EQUAL(md_tuple_new(0), md_tuple_new(0));
    CU_ASSERT_EQUAL(md_refcount(md_tuple_new(0)), UINT32_MAX);
}

/* 1,000,000 items like d['key123456'] = 123456 must fit in 64 bytes
 * each: a short str, a 16-byte entry and its index slot. Counted with
 * malloc_usable_size plus glibc's 8-byte chunk header, or the slab's
 * object size for a key from the slab. */
static void test_value_dict_of_a_million_short_str_keys_fits_64_bytes_per_item(void)
{
    enum { N = 1000000 };
    md_val *d = md_dict_new();
    size_t bytes = 0;
    char key[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "key%06d", i);
        md_val *k = md_str_new(key, (size_t)n);
        CU_ASSERT_FATAL(k != NULL);
        size_t slab = md_val__slab_bytes(k);
        bytes += slab ? slab : malloc_usable_size(k) + 8;
        CU_ASSERT_FATAL(md_dict_set(d, k, md_int_from_i64(i), NULL) == 0);
        md_decref(k);
    }
    const md_table *t = &((const md_tableobj *)d)->t;
    bytes += malloc_usable_size(t->entries) + 8 + malloc_usable_size(t->index) + 8;
    fprintf(stderr, "\n  dict of %d short str keys: %.1f bytes per item\n", N,
            (double)bytes / N);
    CU_ASSERT(bytes <= (size_t)64 * N);
    md_val *probe = md_str_from_cstr("key123456");
    md_val *v = md_dict_get(d, probe, NULL);
    int64_t x = 0;
    CU_ASSERT_TRUE(v && md_int_to_i64(v, &x) == 0 && x == 123456);
    md_decref(probe);
    md_decref(d);
}

/* ======================================================================
 * Small-object slab (value_slab.c)
 * ====================================================================== */

/* Objects per page of one size class. */
static size_t slab_per_page(size_t size)
{
    return (MD_SLAB_PAGE_BYTES - 64) / ((size + 7) & ~(size_t)7);
}

/* Pages fill up and new ones are made; every object is distinct and
 * keeps what was written in it; a freed object is the next one handed
 * out; pages whose objects are all freed leave their class (kept as
 * spares up to MD_SLAB_SPARE_PAGES, the rest given back). */
static void test_value_slab_grows_reuses_and_gives_pages_back(void)
{
    enum { SIZE = 24 };
    size_t n = 3 * slab_per_page(SIZE) + 7, pages0, spare0, pages, spare;
    md_val__slab_stats(SIZE, &pages0, &spare0);
    unsigned char **objs = calloc(n, sizeof *objs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
    for (size_t i = 0; i < n; i++) {
        objs[i] = md_val__slab_alloc(SIZE);
        CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i]);
        memset(objs[i], (int)(i & 0xff), SIZE);
    }
    md_val__slab_stats(SIZE, &pages, &spare);
    CU_ASSERT(pages >= pages0 + 3 && pages <= pages0 + 4);
    bool intact = true;
    for (size_t i = 0; i < n && intact; i++)
        for (size_t k = 0; k < SIZE; k++)
            intact = intact && objs[i][k] == (unsigned char)(i & 0xff);
    CU_ASSERT_TRUE(intact);
    void *mid = objs[n / 2];
    md_val__slab_free(mid, SIZE);
    CU_ASSERT_PTR_EQUAL(md_val__slab_alloc(SIZE), mid);
    for (size_t i = 0; i < n; i++)
        md_val__slab_free(objs[i], SIZE);
    md_val__slab_stats(SIZE, &pages, &spare);
    CU_ASSERT(pages <= pages0);
    CU_ASSERT(spare <= MD_SLAB_SPARE_PAGES);
    CU_ASSERT(spare >= spare0);
    free(objs);
}

/* Past MD_SLAB_SPARE_PAGES empty pages, a page's memory goes back to the
 * kernel and the page is reused later: fill more pages than that, free
 * them all (the spares are then full), and fill them again, contents
 * intact. */
static void test_value_slab_releases_pages_past_the_spares_and_reuses_them(void)
{
    enum { SIZE = 64 };
    size_t n = (MD_SLAB_SPARE_PAGES + 8) * slab_per_page(SIZE), pages, spare;
    md_val_slab_keep(false);   /* a listener test's server may have kept */
    unsigned char **objs = calloc(n, sizeof *objs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
    for (int round = 0; round < 2; round++) {
        bool all = true, intact = true;
        for (size_t i = 0; i < n && all; i++) {
            all = (objs[i] = md_val__slab_alloc(SIZE)) != NULL;
            if (all)
                memset(objs[i], (int)((i + round) & 0xff), SIZE);
        }
        CU_ASSERT_TRUE_FATAL(all);
        for (size_t i = 0; i < n; i++) {
            intact = intact && objs[i][0] == (unsigned char)((i + round) & 0xff) &&
                     objs[i][SIZE - 1] == (unsigned char)((i + round) & 0xff);
            md_val__slab_free(objs[i], SIZE);
        }
        CU_ASSERT_TRUE(intact);
        md_val__slab_stats(SIZE, &pages, &spare);
        CU_ASSERT_EQUAL(spare, MD_SLAB_SPARE_PAGES);
    }
    free(objs);
}

/* n objects of size from the slab into objs, each written to (so its
 * page is in memory), or a failed assertion. */
static void slab_fill(unsigned char **objs, size_t n, size_t size)
{
    bool all = true;
    for (size_t i = 0; i < n && all; i++) {
        all = (objs[i] = md_val__slab_alloc(size)) != NULL;
        if (all)
            memset(objs[i], 0x5a, size);
    }
    CU_ASSERT_TRUE_FATAL(all);
}

static void slab_empty(unsigned char **objs, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++)
        md_val__slab_free(objs[i], size);
}

static size_t slab_spares(void)
{
    size_t pages, spare;
    md_val__slab_stats(8, &pages, &spare);
    return spare;
}

/* With keeping freshly on, n objects of size made and dropped (a big
 * value's pages now spares); their array, to fill again. */
static unsigned char **slab_kept_after_drop(size_t n, size_t size)
{
    unsigned char **objs = calloc(n, sizeof *objs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
    md_val_slab_keep(false);
    md_val_slab_keep(true);
    slab_fill(objs, n, size);
    slab_empty(objs, n, size);
    return objs;
}

/* Keeping: the pages of a big value freed stay spares past
 * MD_SLAB_SPARE_PAGES; a decay gives back only those that sat unused
 * through the whole period before it (the first decay after the free sees
 * that the pages were taken during its period), at most `most` a call;
 * keeping turned off gives the rest back at once. */
static void test_value_slab_keeps_pages_until_a_period_passes_unused(void)
{
    enum { SIZE = 64, EXTRA = 40 };
    size_t n = (MD_SLAB_SPARE_PAGES + EXTRA) * slab_per_page(SIZE);
    unsigned char **objs = slab_kept_after_drop(n, SIZE);
    size_t kept = slab_spares();
    CU_ASSERT(kept >= MD_SLAB_SPARE_PAGES + EXTRA);
    /* The pages were taken in this period: none goes. */
    CU_ASSERT_EQUAL(md_val_slab_decay(SIZE_MAX), kept - MD_SLAB_SPARE_PAGES);
    CU_ASSERT_EQUAL(slab_spares(), kept);
    /* A period unused: they go, at most `most` a call. */
    CU_ASSERT_EQUAL(md_val_slab_decay(7), kept - MD_SLAB_SPARE_PAGES - 7);
    CU_ASSERT_EQUAL(slab_spares(), kept - 7);
    CU_ASSERT_EQUAL(md_val_slab_decay(SIZE_MAX), 0);
    CU_ASSERT_EQUAL(slab_spares(), MD_SLAB_SPARE_PAGES);
    CU_ASSERT_EQUAL(md_val_slab_decay(SIZE_MAX), 0);
    CU_ASSERT_EQUAL(slab_spares(), MD_SLAB_SPARE_PAGES);
    /* Filled again from spares and given-back pages alike, contents
     * theirs; freed and keeping turned off: back to the bound at once. */
    slab_fill(objs, n, SIZE);
    bool intact = true;
    for (size_t i = 0; i < n && intact; i++)
        intact = objs[i][0] == 0x5a && objs[i][SIZE - 1] == 0x5a;
    CU_ASSERT_TRUE(intact);
    slab_empty(objs, n, SIZE);
    CU_ASSERT(slab_spares() > MD_SLAB_SPARE_PAGES);
    md_val_slab_keep(false);
    CU_ASSERT_EQUAL(slab_spares(), MD_SLAB_SPARE_PAGES);
    free(objs);
}

/* A decay that may give back fewer pages than it found idle leaves the
 * rest owed: md_val_slab_release_owed gives them back slice by slice,
 * never more than are still spares past the bound (a new page may have
 * taken some since). */
static void test_value_slab_release_owed_gives_back_the_rest_in_slices(void)
{
    enum { SIZE = 56, EXTRA = 40 };
    size_t per = slab_per_page(SIZE), n = (MD_SLAB_SPARE_PAGES + EXTRA) * per;
    unsigned char **objs = slab_kept_after_drop(n, SIZE);
    (void)md_val_slab_decay(SIZE_MAX);   /* the period of the fill ends */
    size_t kept = slab_spares(), idle = kept - MD_SLAB_SPARE_PAGES;
    CU_ASSERT_FATAL(idle >= EXTRA);
    CU_ASSERT_EQUAL(md_val_slab_decay(3), idle - 3);
    CU_ASSERT_EQUAL(md_val_slab_release_owed(0), idle - 3);
    CU_ASSERT_EQUAL(slab_spares(), kept - 3);
    CU_ASSERT_EQUAL(md_val_slab_release_owed(5), idle - 8);
    CU_ASSERT_EQUAL(slab_spares(), kept - 8);
    /* Ten pages' worth made (and kept): the owed shrink to what is left. */
    slab_fill(objs, 10 * per, SIZE);
    CU_ASSERT_EQUAL(md_val_slab_release_owed(0), idle - 18);
    CU_ASSERT_EQUAL(md_val_slab_release_owed(SIZE_MAX), 0);
    CU_ASSERT_EQUAL(slab_spares(), MD_SLAB_SPARE_PAGES);
    slab_empty(objs, 10 * per, SIZE);
    md_val_slab_keep(false);
    CU_ASSERT_EQUAL(md_val_slab_release_owed(SIZE_MAX), 0);
    CU_ASSERT_EQUAL(slab_spares(), MD_SLAB_SPARE_PAGES);
    free(objs);
}

/* Pages taken during a period are not given back at its end: of spares
 * past the bound, a decay gives back only as many as were never down to
 * (a value made and dropped again between two decays keeps its pages). */
static void test_value_slab_decay_spares_the_pages_a_period_took(void)
{
    enum { SIZE = 48, EXTRA = 30, TAKEN = 10 };
    size_t per = slab_per_page(SIZE), n = (MD_SLAB_SPARE_PAGES + EXTRA) * per;
    unsigned char **objs = slab_kept_after_drop(n, SIZE);
    (void)md_val_slab_decay(SIZE_MAX);   /* the period of the fill ends */
    size_t kept = slab_spares();
    /* TAKEN pages' worth made and dropped in the next period. */
    slab_fill(objs, TAKEN * per, SIZE);
    slab_empty(objs, TAKEN * per, SIZE);
    CU_ASSERT_EQUAL(slab_spares(), kept);
    CU_ASSERT_EQUAL(md_val_slab_decay(SIZE_MAX), TAKEN);
    CU_ASSERT_EQUAL(slab_spares(), TAKEN + MD_SLAB_SPARE_PAGES);
    md_val_slab_keep(false);
    CU_ASSERT_EQUAL(slab_spares(), MD_SLAB_SPARE_PAGES);
    free(objs);
}

static void *slab_thread(void *arg)
{
    enum { N = 2000 };
    static md_val *strs[N];
    size_t pages, spare, *kept = arg;
    for (size_t i = 0; i < N; i++)
        strs[i] = md_str_from_cstr("in a thread");
    for (size_t i = 0; i < N; i++)
        md_decref(strs[i]);
    md_val__slab_stats(24, &pages, &spare);
    *kept = spare;
    return NULL;
}

/* A thread has its own pages: one that fills and frees some keeps them
 * as spares, and its end gives them back (the sanitizer build's leak
 * check fails this test if it does not). */
static void test_value_slab_pages_of_an_ended_thread_are_given_back(void)
{
    pthread_t t;
    size_t kept = 0;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, slab_thread, &kept), 0);
    pthread_join(t, NULL);
    CU_ASSERT(kept > 0);
}

/* Every size from 1 to MD_SLAB_MAX_BYTES gets room for that many bytes
 * that no other object overlaps. */
static void test_value_slab_every_size_class_keeps_objects_apart(void)
{
    enum { PER = 40 };
    unsigned char *objs[MD_SLAB_MAX_BYTES][PER];
    for (size_t size = 1; size <= MD_SLAB_MAX_BYTES; size++)
        for (size_t i = 0; i < PER; i++) {
            objs[size - 1][i] = md_val__slab_alloc(size);
            CU_ASSERT_PTR_NOT_NULL_FATAL(objs[size - 1][i]);
            CU_ASSERT_EQUAL((uintptr_t)objs[size - 1][i] % 8, 0);
            memset(objs[size - 1][i], (int)(size * 7 + i), size);
        }
    bool intact = true;
    for (size_t size = 1; size <= MD_SLAB_MAX_BYTES; size++)
        for (size_t i = 0; i < PER; i++) {
            for (size_t k = 0; k < size; k++)
                intact = intact && objs[size - 1][i][k] == (unsigned char)(size * 7 + i);
            md_val__slab_free(objs[size - 1][i], size);
        }
    CU_ASSERT_TRUE(intact);
}

/* Which values come from the slab: short str and bytes, floats, complex,
 * big ints, tuples of up to 5 items, list, dict, set and frozenset
 * objects; not a long str or a bigger tuple. */
static void test_value_slab_holds_the_small_values_only(void)
{
    md_val *small[] = { md_str_from_cstr("key123456"), md_bytes_new("abc", 3),
                        md_float_new(0.5), md_complex_new(1, 2), md_int_from_u64(UINT64_MAX),
                        md_tuple_pack(2, md_none(), md_true()),
                        md_tuple_pack(3, md_none(), md_true(), md_false()),
                        md_tuple_pack(5, md_none(), md_none(), md_none(), md_none(), md_none()),
                        md_dict_new(), md_set_new(false), md_set_new(true), md_list_new(0) };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(small[i]);
        CU_ASSERT(md_val__slab_bytes(small[i]) > 0 &&
                  md_val__slab_bytes(small[i]) <= MD_SLAB_MAX_BYTES);
        md_decref(small[i]);
    }
    char text[80] = {0};
    memset(text, 'x', sizeof text);
    md_val *big[] = { md_str_new(text, sizeof text),
                      md_tuple_pack(6, md_none(), md_none(), md_none(), md_none(), md_none(),
                                    md_none()) };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(big[i]);
        CU_ASSERT_EQUAL(md_val__slab_bytes(big[i]), 0);
        md_decref(big[i]);
    }
}

/* A list's items array comes from the slab while it holds up to 10
 * pointers and from malloc beyond: appending 0..40 items one by one (the
 * array moving from slab to slab, slab to malloc, and malloc to malloc)
 * keeps every item in order, and an append that fails for want of
 * memory at any of those steps leaves the list as it was. Then a list
 * made with room for 3 and one for 30, cleared and refilled. */
static void test_value_list_items_move_from_the_slab_to_malloc(void)
{
    enum { N = 40 };
    md_val *l = md_list_new(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    bool kept = true;
    unsigned long refused = 0;
    for (int i = 0; i < N; i++) {
        md_val *item = md_int_from_i64(i * 1000003LL);
        /* Every allocation of this append refused first. */
        size_t before = md_list_len(l);
        md_alloc_fail_after(0);
        int rc = md_list_append(l, item);
        md_alloc_fail_after(-1);
        if (rc < 0) {
            refused++;
            kept = kept && md_list_len(l) == before;
            CU_ASSERT_EQUAL_FATAL(md_list_append(l, item), 0);
        }
        md_decref(item);
        for (int k = 0; k <= i; k++) {
            int64_t x = 0;
            kept = kept && md_int_to_i64(md_list_get(l, (size_t)k), &x) == 0 &&
                   x == k * 1000003LL;
        }
    }
    CU_ASSERT_TRUE(kept);
    /* Growth allocates at 1, 4, 8, 12, ...: not at every append. */
    CU_ASSERT(refused > 3 && refused < N);
    md_list_clear(l);
    CU_ASSERT_EQUAL(md_list_len(l), 0);
    CU_ASSERT_EQUAL(md_list_append(l, md_none()), 0);
    CU_ASSERT_EQUAL(md_list_len(l), 1);
    md_decref(l);
    size_t hints[] = { 3, 10, 11, 30 };
    for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++) {
        md_val *m = md_list_new(hints[h]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        for (size_t i = 0; i < 2 * hints[h]; i++)
            CU_ASSERT_EQUAL(md_list_append_steal(m, md_int_from_i64((int64_t)i)), 0);
        int64_t x = -1;
        CU_ASSERT(md_int_to_i64(md_list_get(m, 2 * hints[h] - 1), &x) == 0 &&
                  x == (int64_t)(2 * hints[h] - 1));
        md_decref(m);
    }
}

/* Each object and each new page counts as an allocation for the test
 * hook: failing the Nth allocation while making 1,500 short strs (more
 * than a fresh page holds) gives NULL at once, with every str made so
 * far intact and freeable, for every N until the run succeeds. */
static void test_value_slab_fails_cleanly_at_every_allocation(void)
{
    enum { N = 1500 };
    static md_val *strs[N];
    bool done = false;
    for (long fail_at = 0; fail_at <= N + 8 && !done; fail_at++) {
        size_t made = 0;
        md_alloc_fail_after(fail_at);
        for (; made < N; made++)
            if (!(strs[made] = md_str_from_cstr("k0000001")))
                break;
        md_alloc_fail_after(-1);
        CU_ASSERT(made == N || (long)made <= fail_at);
        bool intact = true;
        for (size_t i = 0; i < made; i++) {
            intact = intact && md_str_eq_cstr(strs[i], "k0000001");
            md_decref(strs[i]);
        }
        CU_ASSERT_TRUE(intact);
        done = made == N;
    }
    CU_ASSERT_TRUE(done);
}

/* ======================================================================
 * Ordering
 * ====================================================================== */

static void test_value_order_of_mixed_types_raises_python_typeerror(void)
{
    char msg[256];
    struct { const char *a, *op, *b, *msg; } rows[] = {
        { "'a'", "<", "1", "'<' not supported between instances of 'str' and 'int'" },
        { "1", ">=", "'a'", "'>=' not supported between instances of 'int' and 'str'" },
        { "[1]", "<", "(1,)", "'<' not supported between instances of 'list' and 'tuple'" },
        { "{}", "<=", "{}", "'<=' not supported between instances of 'dict' and 'dict'" },
        { "complex(1, 0)", ">", "0", "'>' not supported between instances of 'complex' and 'int'" },
        { "None", "<", "None", "'<' not supported between instances of 'NoneType' and 'NoneType'" },
        { "b'a'", "<", "'a'", "'<' not supported between instances of 'bytes' and 'str'" },
        { "[1, 'a']", "<", "[1, 2]", "'<' not supported between instances of 'str' and 'int'" },
        { "True", "<", "1.5j", "'<' not supported between instances of 'bool' and 'complex'" },
        { "KeyError()", "<", "1", "'<' not supported between instances of 'KeyError' and 'int'" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CU_ASSERT_EQUAL(order_src(rows[i].a, rows[i].op, rows[i].b, msg), -1);
        CU_ASSERT_STRING_EQUAL(msg, rows[i].msg);
    }
}

static void test_value_order_follows_python_for_numbers_strings_sequences_sets(void)
{
    struct { const char *a, *op, *b; int expect; } rows[] = {
        { "1", "<", "2", 1 }, { "2", "<", "1", 0 }, { "True", "<", "2", 1 },
        { "1", "<", "1.5", 1 }, { "2**53+1", ">", "2.0**53", 1 },
        { "2**53+1", "<=", "2.0**53", 0 }, { "-(2**80)", "<", "-1e20", 1 },
        { "2**1000", "<", "inf", 1 }, { "-inf", "<", "-(2**1000)", 1 },
        { "10**20", ">=", "1e20", 1 }, { "10**20", ">", "1e20", 0 },
        { "0.0", "<=", "-0.0", 1 }, { "nan", "<", "1", 0 }, { "1", ">=", "nan", 0 },
        { "'a'", "<", "'b'", 1 }, { "'a'", "<", "'ab'", 1 }, { "'b'", "<", "'ab'", 0 },
        { "'\\uffff'", "<", "'\\U00010000'", 1 }, { "'\\ud800'", "<", "'\\ue000'", 1 },
        { "'Z'", "<", "'a'", 1 }, { "b'a'", "<", "bytearray(b'b')", 1 },
        { "b'ab'", ">", "b'a'", 1 }, { "[1, 2]", "<", "[1, 3]", 1 },
        { "[1, 2]", "<", "[1, 2, 0]", 1 }, { "[1, 2]", "<=", "[1, 2]", 1 },
        { "[1, 2]", "<", "[1, 2]", 0 }, { "(1, 'b')", ">", "(1, 'a', 5)", 1 },
        { "[2]", ">", "[1, 'x']", 1 }, { "([1],)", "<", "([2],)", 1 },
        { "{1}", "<", "{1, 2}", 1 }, { "{1, 2}", "<", "{1, 2}", 0 },
        { "{1, 2}", "<=", "frozenset({1, 2})", 1 }, { "{1, 3}", "<=", "{1, 2}", 0 },
        { "{1, 3}", ">=", "{1, 2}", 0 }, { "{1, 2}", ">", "{1}", 1 },
        { "set()", "<", "{1}", 1 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int r = order_src(rows[i].a, rows[i].op, rows[i].b, NULL);
        if (r != rows[i].expect)
            fprintf(stderr, "\n%s %s %s: got %d\n", rows[i].a, rows[i].op, rows[i].b, r);
        CU_ASSERT_EQUAL(r, rows[i].expect);
    }
}

/* ======================================================================
 * repr and str
 * ====================================================================== */

static void test_value_repr_matches_python_312_table(void)
{
    for (size_t i = 0; i < sizeof repr_rows / sizeof repr_rows[0]; i++) {
        md_val *v = lit(repr_rows[i].src);
        if (!repr_is(v, repr_rows[i].expect))
            fprintf(stderr, "  for %s\n", repr_rows[i].src);
        CU_ASSERT_TRUE(repr_is(v, repr_rows[i].expect));
        md_decref(v);
    }
}

static void test_value_str_matches_python_312_table(void)
{
    for (size_t i = 0; i < sizeof str_rows / sizeof str_rows[0]; i++) {
        md_val *v = lit(str_rows[i].src);
        char *s = repr_of(v, true);
        CU_ASSERT_PTR_NOT_NULL(s);
        if (s && strcmp(s, str_rows[i].expect) != 0)
            fprintf(stderr, "\nstr(%s): got [%s] expected [%s]\n", str_rows[i].src, s,
                    str_rows[i].expect);
        CU_ASSERT_TRUE(s && strcmp(s, str_rows[i].expect) == 0);
        free(s);
        md_decref(v);
    }
}

static void test_value_repr_of_float_round_trips_for_many_values(void)
{
    /* Every repr must read back as the same double, and be no longer
     * than Python's 17 significant digits. */
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d))
            continue;
        md_val *v = md_float_new(d);
        char *s = repr_of(v, false);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_EQUAL(strtod(s, NULL), d);
        CU_ASSERT_TRUE(strchr(s, '.') || strchr(s, 'e'));
        free(s);
        md_decref(v);
    }
}

static void test_value_repr_marks_recursive_containers(void)
{
    md_val *l = md_list_new(0);
    md_list_append(l, l);
    CU_ASSERT_TRUE(repr_is(l, "[[...]]"));
    md_val *d = md_dict_new();
    md_val *k = md_str_from_cstr("a");
    md_dict_set(d, k, d, NULL);
    CU_ASSERT_TRUE(repr_is(d, "{'a': {...}}"));
    md_val *t = md_tuple_pack(1, l);
    md_list_append(l, t);
    CU_ASSERT_TRUE(repr_is(t, "([[...], (...)],)"));
    CU_ASSERT_TRUE(repr_is(l, "[[...], ([...],)]"));
    md_list_clear(l);
    md_dict_clear(d);
    md_decref(t);
    md_decref(l);
    md_decref(d);
    md_decref(k);
}

/* ======================================================================
 * deepcopy
 * ====================================================================== */

static void test_value_deepcopy_preserves_sharing_and_cycles(void)
{
    md_val *inner = lit("[1, 2]"), *outer = md_list_new(0);
    md_list_append(outer, inner);
    md_list_append(outer, inner);
    md_list_append(outer, outer);
    md_val *t = md_tuple_pack(2, inner, outer);
    md_list_append(outer, t);
    md_pyerr e;
    md_val *c = md_val_deepcopy(outer, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_EQUAL(c, outer);
    md_val *c0 = md_list_get(c, 0);
    CU_ASSERT_PTR_NOT_EQUAL(c0, inner);
    CU_ASSERT_PTR_EQUAL(md_list_get(c, 1), c0);       /* sharing kept */
    CU_ASSERT_PTR_EQUAL(md_list_get(c, 2), c);        /* cycle kept */
    md_val *ct = md_list_get(c, 3);
    CU_ASSERT_PTR_NOT_EQUAL(ct, t);
    CU_ASSERT_PTR_EQUAL(md_tuple_get(ct, 0), c0);
    CU_ASSERT_PTR_EQUAL(md_tuple_get(ct, 1), c);
    CU_ASSERT_TRUE(repr_is(c, "[[1, 2], [1, 2], [...], ([1, 2], [...])]"));
    /* mutating the copy leaves the original alone */
    md_list_append(c0, md_none());
    CU_ASSERT_TRUE(repr_is(inner, "[1, 2]"));
    md_list_clear(c);
    md_list_clear(outer);
    md_decref(c);
    md_decref(outer);
    md_decref(inner);
    md_decref(t);
}

static void test_value_deepcopy_shares_immutable_values_of_atomic_items(void)
{
    md_pyerr e;
    const char *shared[] = { "1", "2**100", "1.5", "'s'", "b'b'", "(1, 'a', (2.0, None))", "None",
                             "complex(1, 2)", "()" };
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        md_val *v = lit(shared[i]);
        md_val *c = md_val_deepcopy(v, &e);
        CU_ASSERT_PTR_EQUAL(c, v);
        md_decref(c);
        md_decref(v);
    }
    const char *copied[] = { "(1, [2])", "[1]", "{1: 2}", "{1}", "bytearray(b'x')",
                             "KeyError([1])", "slice(1, [2], None)", "{(1, 2): [frozenset({3})]}" };
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        md_val *v = lit(copied[i]);
        md_val *c = md_val_deepcopy(v, &e);
        CU_ASSERT_PTR_NOT_NULL(c);
        CU_ASSERT_PTR_NOT_EQUAL(c, v);
        CU_ASSERT_EQUAL(md_val_eq(c, v, &e), 1);
        md_decref(c);
        md_decref(v);
    }
    /* opaque objects are copied part by part; the free hook's watch mark
     * is not copied (the copy holds no proxy reference yet). */
    md_val *g = md_global_new("__main__", "Point"), *args = lit("(1, [2])");
    md_val *o = md_opaque_new(MD_OPQ_NEWOBJ, g, args);
    md_opaque_set_state_steal(o, lit("{'x': [1]}"));
    md_opaque_watch(o);
    md_val *c = md_val_deepcopy(o, &e);
    CU_ASSERT_PTR_NOT_EQUAL(c, o);
    CU_ASSERT_EQUAL(md_val_eq(c, o, &e), 1);
    CU_ASSERT_PTR_EQUAL(md_opaque_callable(c), g);
    CU_ASSERT_PTR_NOT_EQUAL(md_opaque_state(c), md_opaque_state(o));
    CU_ASSERT_FALSE(md_opaque_watched(c));
    CU_ASSERT_TRUE(md_opaque_watched(o));
    md_opaque_set_free_hook(NULL);
    md_val *vals[] = { g, args, o, c };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
}

/* ======================================================================
 * Cycle collection and freeing
 * ====================================================================== */

static int hook_calls;
static bool hook_saw_state;

static void count_hook(md_val *o)
{
    hook_calls++;
    hook_saw_state = md_opaque_state(o) != NULL;
}

/* Tuples are born off the collector's lists (value.c says why) and join
 * them when a container goes in, by each way a tuple is filled. */
static void test_value_gc_tuples_of_atoms_are_never_tracked(void)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *s = md_str_from_cstr("s"), *l = md_list_new(0);
    md_val *atoms = md_tuple_pack(2, s, md_none());
    md_val *holds = md_tuple_pack(2, s, l);
    md_val *set_atoms = md_tuple_new(1), *set_holds = md_tuple_new(1);
    md_tuple_set_steal(set_atoms, 0, md_int_from_i64(7));
    md_tuple_set_steal(set_holds, 0, md_incref(l));
    md_val *exc = md_exc_make("builtins", "KeyError", 1, l);
    md_val *nested = md_tuple_pack(1, atoms);   /* an atom tuple is a container */
    CU_ASSERT_FALSE(md_val__gc_tracked(atoms));
    CU_ASSERT_FALSE(md_val__gc_tracked(set_atoms));
    CU_ASSERT_TRUE(md_val__gc_tracked(holds));
    CU_ASSERT_TRUE(md_val__gc_tracked(set_holds));
    CU_ASSERT_TRUE(md_val__gc_tracked(nested));
    md_gc_collect();
    CU_ASSERT_FALSE(md_val__gc_tracked(atoms));
    CU_ASSERT_TRUE(md_val__gc_tracked(holds));
    /* a deep copy writes its items in place: a copy that holds a new list
     * is tracked, one of atoms (the original itself) is not */
    md_val *copy = md_val_deepcopy(holds, &e), *same = md_val_deepcopy(atoms, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    CU_ASSERT_PTR_NOT_EQUAL(copy, holds);
    CU_ASSERT_TRUE(md_val__gc_tracked(copy));
    CU_ASSERT_PTR_EQUAL(same, atoms);
    CU_ASSERT_FALSE(md_val__gc_tracked(same));
    md_val *all[] = {s, l, atoms, holds, set_atoms, set_holds, exc, nested, copy, same};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        md_decref(all[i]);
}

/* Cycles through tuples are still collected: a tuple holding a list
 * that holds it, made by each way of filling a tuple, and a tuple that
 * holds a dict of atoms (itself untracked) into which the cycle's list
 * goes only later. */
static void test_value_gc_collects_cycles_through_tuples_filled_each_way(void)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_gc_collect();
    size_t start = md_gc_tracked();
    for (int way = 0; way < 4; way++) {
        md_val *l = md_list_new(0), *t;
        if (way == 0) {
            t = md_tuple_pack(1, l);
        } else if (way == 1) {
            t = md_tuple_new(1);
            md_tuple_set_steal(t, 0, md_incref(l));
        } else if (way == 2) {
            t = md_exc_make("builtins", "KeyError", 1, l);
        } else {
            md_val *orig = md_tuple_pack(1, l);
            t = md_val_deepcopy(orig, &e);
            md_decref(orig);
            md_decref(l);
            l = md_incref(md_tuple_get(t, 0));   /* the copy's own list */
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        md_list_append(l, t);
        md_decref(l);
        md_decref(t);
        CU_ASSERT(md_gc_collect() >= 2);
        CU_ASSERT_EQUAL(md_gc_tracked(), start);
        if (md_gc_tracked() != start)
            fprintf(stderr, "\n    cycle through a tuple, way %d, not collected\n", way);
    }
    md_val *d = md_dict_new(), *l = md_list_new(0), *k = md_str_from_cstr("k");
    md_val *t = md_tuple_pack(1, d);
    md_gc_collect();
    CU_ASSERT_EQUAL(md_dict_set(d, k, l, NULL), 0);
    CU_ASSERT_EQUAL(md_list_append(l, t), 0);
    md_decref(d);
    md_decref(l);
    md_decref(k);
    md_decref(t);
    CU_ASSERT_EQUAL(md_gc_collect(), 3);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
}

static void test_value_gc_frees_unreachable_cycles_only(void)
{
    md_gc_collect();
    size_t start = md_gc_tracked();
    /* a self-referencing list, a dict <-> list pair, a cycle through a
     * tuple, and a watched opaque inside a cycle */
    md_val *l = md_list_new(0);
    md_list_append(l, l);
    md_val *d = md_dict_new(), *l2 = md_list_new(0), *k = md_str_from_cstr("k");
    md_dict_set(d, k, l2, NULL);
    md_list_append(l2, d);
    md_val *l3 = md_list_new(0), *t = md_tuple_pack(1, l3);
    md_list_append(l3, t);
    md_val *g = md_global_new("multiprocessing.managers", "RebuildProxy");
    md_val *o = md_opaque_new(MD_OPQ_REDUCE, g, NULL);
    md_val *ol = md_list_new(0);
    md_opaque_set_state_steal(o, md_incref(ol));
    md_list_append(ol, o);
    md_opaque_watch(o);
    md_opaque_set_free_hook(count_hook);
    hook_calls = 0;
    /* a cycle that stays reachable from outside */
    md_val *keep = md_list_new(0);
    md_list_append(keep, keep);

    CU_ASSERT_EQUAL(md_gc_collect(), 0);   /* all still referenced */
    md_decref(l);
    md_decref(d);
    md_decref(l2);
    md_decref(k);
    md_decref(l3);
    md_decref(t);
    md_decref(o);
    md_decref(ol);
    md_decref(g);
    CU_ASSERT_EQUAL(md_gc_collect(), 7);
    CU_ASSERT_EQUAL(hook_calls, 1);
    CU_ASSERT_TRUE(hook_saw_state);
    CU_ASSERT_EQUAL(md_gc_tracked(), start + 1);
    CU_ASSERT_TRUE(repr_is(keep, "[[...]]"));
    md_list_clear(keep);
    md_decref(keep);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
    md_opaque_set_free_hook(NULL);
}

/* A dict or set of atomic items is off the collector's lists (born so,
 * and a collection leaves it so: it cannot be in a cycle); storing a
 * container into it,
 * by a new key, by replacing a value or by update(), puts it back, so a
 * cycle made through it afterwards is still found and freed. */
static void test_value_gc_untracks_atomic_tables_and_retracks_on_container_store(void)
{
    md_gc_collect();
    size_t start = md_gc_tracked();
    md_val *k = md_str_from_cstr("k"), *x = md_str_from_cstr("x");
    md_val *a = md_dict_new(), *b = md_dict_new(), *c = md_dict_new(), *s = md_set_new(false);
    md_val *one = md_int_from_i64(1);
    CU_ASSERT_EQUAL(md_dict_set(a, x, one, NULL), 0);
    CU_ASSERT_EQUAL(md_dict_set(b, x, one, NULL), 0);
    CU_ASSERT_EQUAL(md_dict_set(c, x, one, NULL), 0);
    CU_ASSERT_EQUAL(md_set_add(s, x, NULL), 0);
    CU_ASSERT_EQUAL(md_gc_collect(), 0);   /* a, b, c, s untracked now */
    CU_ASSERT_EQUAL(md_gc_tracked(), start + 4);   /* still counted as live */
    /* a: a new key whose value is a list holding a */
    md_val *la = md_list_new(0);
    md_list_append(la, a);
    CU_ASSERT_EQUAL(md_dict_set(a, k, la, NULL), 0);
    /* b: its value replaced by a list holding b */
    md_val *lb = md_list_new(0);
    md_list_append(lb, b);
    CU_ASSERT_EQUAL(md_dict_set(b, x, lb, NULL), 0);
    /* c: update() from a dict whose value is a list holding c */
    md_val *lc = md_list_new(0), *src = md_dict_new();
    md_list_append(lc, c);
    CU_ASSERT_EQUAL(md_dict_set(src, k, lc, NULL), 0);
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_update(c, src, &e), 0);
    md_decref(src);
    md_val *cycles[] = { a, b, c, la, lb, lc };
    for (size_t i = 0; i < sizeof cycles / sizeof cycles[0]; i++)
        md_decref(cycles[i]);
    CU_ASSERT_EQUAL(md_gc_collect(), 6);
    CU_ASSERT_EQUAL(md_gc_tracked(), start + 1);   /* s */
    md_decref(s);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
    md_decref(k);
    md_decref(x);
}

static void test_value_free_hook_runs_when_a_watched_opaque_dies(void)
{
    md_opaque_set_free_hook(count_hook);
    hook_calls = 0;
    md_val *g = md_global_new("multiprocessing.managers", "RebuildProxy");
    md_val *o = md_opaque_new(MD_OPQ_REDUCE, g, NULL);
    md_opaque_set_state_steal(o, md_dict_new());
    md_opaque_watch(o);
    CU_ASSERT_TRUE(md_opaque_watched(o));
    md_val *l = md_list_new(0);
    md_list_append(l, o);
    md_decref(o);
    CU_ASSERT_EQUAL(hook_calls, 0);
    md_decref(l);
    CU_ASSERT_EQUAL(hook_calls, 1);
    CU_ASSERT_TRUE(hook_saw_state);
    md_decref(g);
    md_opaque_set_free_hook(NULL);
}

static void test_value_decref_of_a_million_deep_list_does_not_recurse(void)
{
    size_t start = md_gc_tracked();
    md_val *v = nested_lists(1000000);
    CU_ASSERT_EQUAL(md_gc_tracked(), start + 1000000);
    md_decref(v);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
    /* and the collector walks a deep garbage cycle without recursing */
    v = nested_lists(200000);
    md_val *inner = v;
    while (md_list_len(inner))
        inner = md_list_get(inner, 0);
    md_list_append(inner, v);
    md_decref(v);
    CU_ASSERT_EQUAL(md_gc_collect(), 200000);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
}

/* ======================================================================
 * Depth limits
 * ====================================================================== */

static void check_depth(md_val *(*make)(size_t), size_t levels, bool ok)
{
    md_val *a = make(levels), *b = make(levels);
    md_pyerr e;
    md_buf out = MD_BUF_INIT;
    int64_t h;
    int want = ok ? 0 : -1;
    CU_ASSERT_EQUAL(md_val_eq(a, b, &e), ok ? 1 : -1);
    if (!ok)
        CU_ASSERT_STRING_EQUAL(e.type, "RecursionError");
    CU_ASSERT_EQUAL(md_val_order(a, b, "<=", &e), ok ? 1 : -1);
    CU_ASSERT_EQUAL(md_val_repr(a, &out, &e), want);
    if (!ok)
        CU_ASSERT_STRING_EQUAL(e.msg, "maximum recursion depth exceeded while getting the repr of an object");
    md_val *c = md_val_deepcopy(a, &e);
    CU_ASSERT_EQUAL(c != NULL, ok);
    if (c) {
        CU_ASSERT_EQUAL(md_val_eq(a, c, &e), 1);
        md_decref(c);
    }
    if (make == nested_tuples) {
        CU_ASSERT_EQUAL(md_val_hash(a, &h, &e), want);
        CU_ASSERT_EQUAL(md_val_is_hashable(a), ok);
        CU_ASSERT_EQUAL(h == 0 ? 0 : 0, 0);
    }
    md_buf_free(&out);
    md_decref(a);
    md_decref(b);
}

static void test_value_nesting_at_max_depth_works_and_one_past_fails(void)
{
    check_depth(nested_lists, MD_MAX_DEPTH, true);
    check_depth(nested_lists, MD_MAX_DEPTH + 1, false);
    check_depth(nested_tuples, MD_MAX_DEPTH, true);
    check_depth(nested_tuples, MD_MAX_DEPTH + 1, false);
}

/* ======================================================================
 * Allocation failures
 * ====================================================================== */

/* Builds {'k': [1, 'two', (3.5, b'x'), {4}], 'big': 2**100,
 * 'o': <opaque>} step by step (8 containers: the opaque holds a list
 * item and a dict item); NULL on any failure, with nothing leaked. */
static md_val *build_nested(void)
{
    md_val *d = md_dict_new(), *l = md_list_new(0), *k = md_str_from_cstr("k");
    md_val *two = md_str_from_cstr("two"), *f = md_float_new(3.5), *b = md_bytes_new("x", 1);
    md_val *t = f && b ? md_tuple_pack(2, f, b) : NULL, *s = md_set_new(false);
    md_val *big = md_int_from_le((const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\x10", 13);
    md_val *bk = md_str_from_cstr("big"), *ok = md_str_from_cstr("o");
    md_val *g = md_global_new("__main__", "P"), *o = g ? md_opaque_new(MD_OPQ_NEWOBJ, g, NULL) : NULL;
    md_val *result = NULL;
    md_pyerr e;
    if (d && l && k && two && t && s && big && bk && ok && o &&
        md_set_add(s, md_int_from_i64(4), &e) == 0 &&
        md_list_append(l, md_int_from_i64(1)) == 0 && md_list_append(l, two) == 0 &&
        md_list_append(l, t) == 0 && md_list_append(l, s) == 0 &&
        md_opaque_add_listitem(o, l) == 0 && md_opaque_add_dictitem(o, k, big) == 0 &&
        md_dict_set(d, k, l, &e) == 0 && md_dict_set(d, bk, big, &e) == 0 &&
        md_dict_set(d, ok, o, &e) == 0)
        result = md_incref(d);
    md_val *vals[] = { d, l, k, two, f, b, t, s, big, bk, ok, g, o };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
    return result;
}

/* The repr of build_nested()'s value v: its instance prints its address. */
static const char *nested_repr_of(md_val *v)
{
    static char text[256];
    md_val *key = md_str_from_cstr("o");
    md_pyerr e;
    snprintf(text, sizeof text,
             "{'k': [1, 'two', (3.5, b'x'), {4}], 'big': 1267650600228229401496703205376, "
             "'o': <__main__.P object at %p>}", (void *)md_dict_get(v, key, &e));
    md_decref(key);
    return text;
}

static void test_value_alloc_failure_sweep_building_a_nested_value(void)
{
    size_t start = md_gc_tracked();
    bool built = false;
    for (long n = 0; n < 200 && !built; n++) {
        md_alloc_fail_after(n);
        md_val *v = build_nested();
        md_alloc_fail_after(-1);
        CU_ASSERT_EQUAL(md_gc_tracked(), start + (v ? 8 : 0));
        if (v) {
            built = true;
            CU_ASSERT_TRUE(repr_is(v, nested_repr_of(v)));
            md_decref(v);
        }
    }
    CU_ASSERT_TRUE(built);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
}

static void test_value_alloc_failure_sweep_over_repr_and_deepcopy(void)
{
    size_t start = md_gc_tracked();
    md_val *v = build_nested();
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    const char *nested_repr = nested_repr_of(v);
    bool done = false;
    for (long n = 0; n < 100 && !done; n++) {
        md_buf out = MD_BUF_INIT;
        md_pyerr e;
        md_alloc_fail_after(n);
        int rc = md_val_repr(v, &out, &e);
        md_alloc_fail_after(-1);
        if (rc < 0) {
            CU_ASSERT_STRING_EQUAL(e.type, "MemoryError");
        } else {
            done = true;
            CU_ASSERT_EQUAL(out.len, strlen(nested_repr));
            CU_ASSERT_TRUE(out.len == strlen(nested_repr) &&
                           memcmp(out.data, nested_repr, out.len) == 0);
        }
        md_buf_free(&out);
    }
    CU_ASSERT_TRUE(done);
    done = false;
    for (long n = 0; n < 200 && !done; n++) {
        md_pyerr e;
        md_alloc_fail_after(n);
        md_val *c = md_val_deepcopy(v, &e);
        md_alloc_fail_after(-1);
        if (!c) {
            CU_ASSERT_STRING_EQUAL(e.type, "MemoryError");
            CU_ASSERT_EQUAL(md_gc_tracked(), start + 8);
        } else {
            done = true;
            CU_ASSERT_EQUAL(md_val_eq(c, v, &e), 1);
            md_decref(c);
        }
    }
    CU_ASSERT_TRUE(done);
    /* a dict that cannot grow keeps what it had */
    md_val *d = md_dict_new();
    md_pyerr e;
    int64_t i = 0;
    md_alloc_fail_after(3);
    while (md_dict_set(d, md_int_from_i64(i), md_none(), &e) == 0)
        i++;
    md_alloc_fail_after(-1);
    CU_ASSERT_STRING_EQUAL(e.type, "MemoryError");
    CU_ASSERT_EQUAL(md_dict_len(d), (size_t)i);
    for (int64_t j = 0; j < i; j++)
        CU_ASSERT_PTR_EQUAL(md_dict_get(d, md_int_from_i64(j), NULL), md_none());
    md_decref(d);
    md_decref(v);
    CU_ASSERT_EQUAL(md_gc_tracked(), start);
}

/* ======================================================================
 * Accessors
 * ====================================================================== */

static void test_value_accessors_return_what_was_stored(void)
{
    md_val *f = md_float_new(-0.0), *c = md_complex_new(1.5, -2.0);
    CU_ASSERT_TRUE(signbit(md_float_get(f)));
    CU_ASSERT_EQUAL(md_complex_real(c), 1.5);
    CU_ASSERT_EQUAL(md_complex_imag(c), -2.0);
    CU_ASSERT_STRING_EQUAL(md_type_name(f), "float");
    CU_ASSERT_STRING_EQUAL(md_type_name(md_none()), "NoneType");
    CU_ASSERT_TRUE(md_bool_get(md_bool(true)));
    CU_ASSERT_FALSE(md_bool_get(md_bool(false)));
    md_val *ba = md_bytearray_new("ab", 2);
    CU_ASSERT_EQUAL(md_bytes_len(ba), 2);
    CU_ASSERT_EQUAL(memcmp(md_bytes_data(ba), "ab", 2), 0);
    CU_ASSERT_STRING_EQUAL(md_type_name(ba), "bytearray");
    md_val *s = md_slice_new(md_int_from_i64(1), NULL, f);
    CU_ASSERT_PTR_EQUAL(md_slice_stop(s), md_none());
    CU_ASSERT_PTR_EQUAL(md_slice_step(s), f);
    CU_ASSERT_TRUE(repr_is(s, "slice(1, None, -0.0)"));
    md_val *x = md_exc_make("_queue", "Empty", 0);
    CU_ASSERT_TRUE(md_global_is(md_exc_class(x), "_queue", "Empty"));
    CU_ASSERT_EQUAL(md_tuple_len(md_exc_args(x)), 0);
    CU_ASSERT_PTR_NULL(md_exc_state(x));
    CU_ASSERT_STRING_EQUAL(md_type_name(x), "Empty");
    md_val *g = md_global_new("builtins", "AttributeError");
    md_val *args = lit("('no',)"), *st = lit("{'name': 'x', 'obj': None}");
    md_val *ae = md_exc_new(g, args, st);
    CU_ASSERT_PTR_EQUAL(md_exc_state(ae), st);
    CU_ASSERT_TRUE(repr_is(ae, "AttributeError('no')"));
    CU_ASSERT_STRING_EQUAL(md_global_module(g), "builtins");
    CU_ASSERT_STRING_EQUAL(md_global_name(g), "AttributeError");
    md_val *nested = md_global_new("pkg.mod", "Outer.Inner");
    CU_ASSERT_TRUE(repr_is(nested, "<class 'pkg.mod.Outer.Inner'>"));
    md_val *vals[] = { f, c, ba, s, x, g, args, st, ae, nested };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        md_decref(vals[i]);
}


/* ======================================================================
 * Table internals: kept hashes, copy, merge, reserve (value_table.c)
 * ====================================================================== */

static const md_table *table_in(const md_val *v)
{
    return &((const md_tableobj *)v)->t;
}

static int64_t dict_int(const md_val *d, int64_t key)
{
    md_pyerr e;
    md_val *v = md_dict_get(d, md_int_from_i64(key), &e);
    int64_t x = -999;
    if (!v || md_int_to_i64(v, &x) < 0)
        return -999;
    return x;
}

/* Grows through every index width (1, 2, 4 bytes) and many entry
 * reallocs: every key stays found with its value, in insertion order,
 * and the kept hashes still place every key where a probe looks. */
static void test_value_table_growth_keeps_every_key_findable_and_ordered(void)
{
    enum { N = 100000 };
    md_val *d = md_dict_new();
    for (int64_t i = 0; i < N; i++)
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i * 7919), md_int_from_i64(i), NULL) == 0);
    CU_ASSERT_EQUAL(md_dict_len(d), N);
    CU_ASSERT_TRUE(table_in(d)->log2size >= 17);
    bool all = true;
    for (int64_t i = 0; i < N && all; i++)
        all = dict_int(d, i * 7919) == i;
    CU_ASSERT_TRUE(all);
    size_t pos = 0;
    md_val *k, *v;
    int64_t expect = 0, x;
    while (md_dict_next(d, &pos, &k, &v) && md_int_to_i64(v, &x) == 0 && x == expect)
        expect++;
    CU_ASSERT_EQUAL(expect, N);
    md_decref(d);
}

/* Deleting leaves dummies in the index and holes in the entries; keys
 * reinserted go to the end; a later rebuild compacts and keeps order. */
/* {i: i for i in range(n)} with its even keys deleted (dummies left in
 * the index, holes in the entries). */
static md_val *dict_with_holes(int64_t n)
{
    md_val *d = md_dict_new();
    md_pyerr e;
    for (int64_t i = 0; i < n; i++)
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(i), NULL) == 0);
    for (int64_t i = 0; i < n; i += 2)
        CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(i), &e), 1);
    return d;
}

static void test_value_table_deletion_dummies_and_reinsertion_keep_order(void)
{
    md_val *d = dict_with_holes(1000);
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_len(d), 500);
    CU_ASSERT_EQUAL(table_in(d)->nentries, 1000);   /* holes, not yet compacted */
    CU_ASSERT_EQUAL(md_dict_get(d, md_int_from_i64(10), &e), NULL);
    CU_ASSERT_EQUAL(dict_int(d, 11), 11);
    /* Reinsert 0 and 2: they go last. */
    CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(2), md_int_from_i64(-2), NULL), 0);
    CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(0), md_int_from_i64(-1), NULL), 0);
    /* Enough new keys to force rebuilds over the holes. */
    for (int64_t i = 5000; i < 9000; i++)
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_int_from_i64(i), NULL) == 0);
    CU_ASSERT_EQUAL(table_in(d)->nentries, table_in(d)->used);   /* compacted */
    size_t pos = 0;
    md_val *k, *v;
    int64_t seq[506], n = 0, x;
    while (n < 506 && md_dict_next(d, &pos, &k, &v) && md_int_to_i64(k, &x) == 0)
        seq[n++] = x;
    CU_ASSERT_EQUAL(n, 506);
    CU_ASSERT_EQUAL(seq[0], 1);
    CU_ASSERT_EQUAL(seq[499], 999);
    CU_ASSERT_EQUAL(seq[500], 2);
    CU_ASSERT_EQUAL(seq[501], 0);
    CU_ASSERT_EQUAL(seq[502], 5000);
    CU_ASSERT_EQUAL(dict_int(d, 0), -1);
    CU_ASSERT_EQUAL(dict_int(d, 2), -2);
    CU_ASSERT_EQUAL(dict_int(d, 4), -999);
    CU_ASSERT_EQUAL(md_dict_len(d), 500 + 2 + 4000);
    md_decref(d);
}

/* Keys built to collide: equal kept hashes but unequal keys (i and
 * i + 2^32 share their low 32 bits; Python's hash(-1) == hash(-2) and
 * hash(0) == hash(2**61 - 1) share all 64), and keys that all land on one
 * first slot (multiples of 2^20). Each stays a key of its own. */
static void test_value_table_collisions_built_on_purpose_stay_distinct(void)
{
    md_val *d = md_dict_new();
    md_pyerr e;
    int64_t keys[] = { 5, 5 + ((int64_t)1 << 32), 5 + ((int64_t)3 << 32), -1, -2, 0,
                       ((int64_t)1 << 61) - 1 };
    int64_t h1, h2;
    CU_ASSERT_EQUAL(md_val_hash(md_int_from_i64(-1), &h1, &e), 0);
    CU_ASSERT_EQUAL(md_val_hash(md_int_from_i64(-2), &h2, &e), 0);
    CU_ASSERT_EQUAL(h1, h2);
    size_t nk = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < nk; i++)
        CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(keys[i]), md_int_from_i64((int64_t)i), NULL), 0);
    for (int64_t i = 1; i <= 300; i++)
        CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(i << 20), md_int_from_i64(1000 + i), NULL), 0);
    CU_ASSERT_EQUAL(md_dict_len(d), nk + 300);
    for (size_t i = 0; i < nk; i++)
        CU_ASSERT_EQUAL(dict_int(d, keys[i]), (int64_t)i);
    for (int64_t i = 1; i <= 300; i++)
        CU_ASSERT_EQUAL(dict_int(d, i << 20), 1000 + i);
    CU_ASSERT_EQUAL(dict_int(d, 5 + ((int64_t)2 << 32)), -999);
    CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(-1), &e), 1);
    CU_ASSERT_EQUAL(dict_int(d, -2), 4);
    CU_ASSERT_EQUAL(dict_int(d, -1), -999);
    md_val *c = md_dict_copy(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(md_val_eq(c, d, &e), 1);
    CU_ASSERT_EQUAL(dict_int(c, 5 + ((int64_t)1 << 32)), 1);
    md_decref(c);
    md_decref(d);
}

/* In a table of 4-byte index slots, keys on one first slot whose tags
 * (high hash bits) differ, and keys whose 32 kept bits are all equal
 * (same slot, same tag), stay findable through deletions (dummies),
 * reinsertion and the rebuild that growth makes. */
static void test_value_table_tags_separate_keys_of_one_slot(void)
{
    md_val *d = md_dict_new();
    md_pyerr e;
    for (int64_t i = 0; i < 30000; i++)
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(-1000000 - i), md_int_from_i64(0), NULL) == 0);
    uint8_t log2 = table_in(d)->log2size;
    CU_ASSERT_TRUE(log2 >= 16 && log2 <= 17);   /* 4-byte slots, 14 or 15 tag bits */
    /* 7 + j * 2^17: first slot 7 for every j, tags differ (bits 18..31);
     * 7 + j * 2^32: all 32 kept bits equal. */
    for (int64_t j = 1; j <= 200; j++) {
        CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(7 + (j << 17)), md_int_from_i64(j), NULL), 0);
        CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(7 + (j << 32)), md_int_from_i64(-j), NULL), 0);
    }
    bool all = true;
    for (int64_t j = 1; j <= 200 && all; j++)
        all = dict_int(d, 7 + (j << 17)) == j && dict_int(d, 7 + (j << 32)) == -j;
    CU_ASSERT_TRUE(all);
    for (int64_t j = 1; j <= 200; j += 2) {
        CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(7 + (j << 17)), &e), 1);
        CU_ASSERT_EQUAL(md_dict_del(d, md_int_from_i64(7 + (j << 32)), &e), 1);
    }
    for (int64_t j = 1; j <= 200 && all; j++)
        all = dict_int(d, 7 + (j << 17)) == (j % 2 ? -999 : j) &&
              dict_int(d, 7 + (j << 32)) == (j % 2 ? -999 : -j);
    CU_ASSERT_TRUE(all);
    CU_ASSERT_EQUAL(md_dict_set(d, md_int_from_i64(7 + (1LL << 17)), md_int_from_i64(77), NULL), 0);
    CU_ASSERT_EQUAL(dict_int(d, 7 + (1LL << 17)), 77);
    /* Growth to 2^18 slots and beyond: the tags are recomputed for the new size. */
    for (int64_t i = 0; i < 60000; i++)
        CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i << 8), md_int_from_i64(1), NULL) == 0);
    CU_ASSERT_TRUE(table_in(d)->log2size > log2);
    for (int64_t j = 2; j <= 200 && all; j += 2)
        all = dict_int(d, 7 + (j << 17)) == j && dict_int(d, 7 + (j << 32)) == -j &&
              dict_int(d, 7 + ((j + 1) << 32)) == -999;
    CU_ASSERT_TRUE(all);
    CU_ASSERT_EQUAL(dict_int(d, 7 + (1LL << 17)), 77);
    CU_ASSERT_EQUAL(md_dict_len(d), 30000 + 200 + 1 + 60000);
    md_decref(d);
}

/* 1, 1.0 and True are one key in copy and update as in set: the first
 * key object stays, the last value wins. */
static void test_value_table_copy_and_update_merge_keys_of_mixed_types(void)
{
    md_val *d = lit("{1: 'int', 'a': 0}");
    md_val *src = lit("{1.0: 'float', 'b': 2}");
    md_val *src2 = lit("{True: 'bool'}");
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_update(d, src, &e), 0);
    CU_ASSERT_EQUAL(md_dict_update(d, src2, &e), 0);
    CU_ASSERT_TRUE(repr_is(d, "{1: 'bool', 'a': 0, 'b': 2}"));
    md_val *c = md_dict_copy(d);
    CU_ASSERT_TRUE(repr_is(c, "{1: 'bool', 'a': 0, 'b': 2}"));
    md_val *one = md_float_new(1.0);
    CU_ASSERT_EQUAL(md_dict_set(c, one, md_none(), NULL), 0);
    md_decref(one);
    CU_ASSERT_TRUE(repr_is(c, "{1: None, 'a': 0, 'b': 2}"));
    CU_ASSERT_TRUE(repr_is(d, "{1: 'bool', 'a': 0, 'b': 2}"));   /* the copy is its own */
    /* Updating a dict with itself changes nothing. */
    CU_ASSERT_EQUAL(md_dict_update(d, d, &e), 0);
    CU_ASSERT_TRUE(repr_is(d, "{1: 'bool', 'a': 0, 'b': 2}"));
    md_val *s = lit("{1, 1.0, True, 'x'}");
    CU_ASSERT_TRUE(repr_is(s, "{1, 'x'}"));
    md_decref(s);
    md_decref(c);
    md_decref(src2);
    md_decref(src);
    md_decref(d);
}

/* A copy made of a dict with holes holds only the live items, in order,
 * compacted; empty dicts copy too. */
static void test_value_table_copy_skips_deleted_entries(void)
{
    md_val *d = lit("{'a': 1, 'b': 2, 'c': 3, 'd': 4}");
    md_pyerr e;
    md_val *b = md_str_from_cstr("b");
    CU_ASSERT_EQUAL(md_dict_del(d, b, &e), 1);
    md_decref(b);
    md_val *c = md_dict_copy(d);
    CU_ASSERT_TRUE(repr_is(c, "{'a': 1, 'c': 3, 'd': 4}"));
    CU_ASSERT_EQUAL(table_in(c)->nentries, 3);
    md_val *empty = md_dict_new(), *c2 = md_dict_copy(empty);
    CU_ASSERT_TRUE(c2 && md_dict_len(c2) == 0 && repr_is(c2, "{}"));
    md_decref(c2);
    md_decref(empty);
    md_decref(c);
    md_decref(d);
}

/* Reserve makes room once: storing that many keys then allocates
 * nothing (proved by failing every allocation after it). */
static void test_value_table_reserve_then_inserts_allocate_nothing(void)
{
    md_val *d = md_dict_new(), *l = md_list_new(0);
    CU_ASSERT_EQUAL(md_dict_reserve(d, 5000), 0);
    CU_ASSERT_EQUAL(md_list_reserve(l, 5000), 0);
    md_alloc_fail_after(0);
    bool ok = true;
    for (int64_t i = 0; i < 5000 && ok; i++)
        ok = md_dict_set(d, md_int_from_i64(i), md_none(), NULL) == 0 &&
             md_list_append(l, md_int_from_i64(i)) == 0;
    md_alloc_fail_after(-1);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(md_dict_len(d), 5000);
    CU_ASSERT_EQUAL(md_list_len(l), 5000);
    /* A dict sized before its first item (a decoded one) has no slack. */
    md_val *small = md_dict_new();
    CU_ASSERT_EQUAL(md_dict_reserve(small, 1), 0);
    CU_ASSERT_EQUAL(table_in(small)->ecap, 1);
    CU_ASSERT_EQUAL(md_dict_set(small, md_int_from_i64(1), md_none(), NULL), 0);
    CU_ASSERT_EQUAL(md_dict_set(small, md_int_from_i64(2), md_none(), NULL), 0);
    CU_ASSERT_TRUE(repr_is(small, "{1: None, 2: None}"));
    md_decref(small);
    CU_ASSERT_EQUAL(md_dict_reserve(d, SIZE_MAX / 2), -1);
    CU_ASSERT_EQUAL(md_list_reserve(l, SIZE_MAX / 2), -1);
    CU_ASSERT_EQUAL(md_dict_len(d), 5000);
    md_decref(l);
    md_decref(d);
}

/* d.update(src) with the allocator failing at each allocation in turn:
 * a failure leaves d as lit(start) was, the first success holds
 * want_len items with src's values. */
static bool update_under_failures(const md_val *src, const char *start, size_t want_len)
{
    for (long n = 0; n < 20; n++) {
        md_val *d = lit(start);
        md_pyerr e;
        md_alloc_fail_after(n);
        int rc = md_dict_update(d, src, &e);
        md_alloc_fail_after(-1);
        if (rc < 0) {
            CU_ASSERT_STRING_EQUAL(e.type, "MemoryError");
            CU_ASSERT_TRUE(repr_is(d, start));
        } else {
            CU_ASSERT_EQUAL(md_dict_len(d), want_len);
            CU_ASSERT_EQUAL(dict_int(d, 0), 0);
            CU_ASSERT_EQUAL(dict_int(d, 2999), -2999);
        }
        md_decref(d);
        if (rc == 0)
            return true;
    }
    return false;
}

/* Out of memory at every allocation of copy, update, reserve and a
 * growing insert: each fails cleanly with the target unchanged, then
 * succeeds once the allocator lets it. */
static void test_value_table_alloc_failure_sweep_over_copy_update_reserve(void)
{
    md_val *src = md_dict_new();
    for (int64_t i = 0; i < 3000; i++)
        CU_ASSERT_FATAL(md_dict_set(src, md_int_from_i64(i), md_int_from_i64(-i), NULL) == 0);
    size_t start = md_gc_tracked();
    bool done = false;
    for (long n = 0; n < 20 && !done; n++) {
        md_alloc_fail_after(n);
        md_val *c = md_dict_copy(src);
        md_alloc_fail_after(-1);
        if (c) {
            done = true;
            md_pyerr e;
            CU_ASSERT_EQUAL(md_val_eq(c, src, &e), 1);
            md_decref(c);
        }
        CU_ASSERT_EQUAL(md_gc_tracked(), start);
    }
    CU_ASSERT_TRUE(done);
    /* Into a dict holding items (probing), and into an empty one (a copy). */
    CU_ASSERT_TRUE(update_under_failures(src, "{'x': 1, 0: 'zero'}", 3001));
    CU_ASSERT_TRUE(update_under_failures(src, "{}", 3000));
    /* An insert that must grow the table, failing at each allocation. */
    md_val *d = md_dict_new();
    for (int64_t i = 0; i < 3000; i++) {
        md_alloc_fail_after(0);
        md_pyerr e;
        int rc = md_dict_set(d, md_int_from_i64(i), md_none(), &e);
        md_alloc_fail_after(-1);
        if (rc < 0) {
            CU_ASSERT_EQUAL(md_dict_len(d), (size_t)i);
            CU_ASSERT_FATAL(md_dict_set(d, md_int_from_i64(i), md_none(), NULL) == 0);
        }
        CU_ASSERT_EQUAL(md_dict_len(d), (size_t)i + 1);
    }
    CU_ASSERT_PTR_EQUAL(md_dict_get(d, md_int_from_i64(1234), NULL), md_none());
    md_decref(d);
    md_decref(src);
}

/* ======================================================================
 * Bulk stores: md_dict_set_pairs, md_list_extend, short str (issue 10)
 * ====================================================================== */

/* Pairs as a decoder's stack holds them: records of three pointers, the
 * value first. */
typedef struct rec3 { md_val *v; void *pad[2]; } rec3;

/* n pairs (key_of(i), i) into records, keys and values new. */
static rec3 *pair_recs(size_t n, md_val *(*key_of)(size_t))
{
    rec3 *r = calloc(2 * n + 1, sizeof *r);
    for (size_t i = 0; r && i < n; i++) {
        r[2 * i].v = key_of(i);
        r[2 * i + 1].v = md_int_from_i64((int64_t)i);
    }
    return r;
}

static void free_recs(rec3 *r, size_t n)
{
    for (size_t i = 0; r && i < 2 * n; i++)
        md_decref(r[i].v);
    free(r);
}

static md_val *key_str(size_t i)
{
    char text[32];
    snprintf(text, sizeof text, "k%07zu", i);
    return md_str_from_cstr(text);
}

static md_val *key_int(size_t i)
{
    return md_int_from_i64((int64_t)i * 7919);
}

static size_t pair_stride(void)
{
    return sizeof(rec3) / sizeof(md_val *);
}

/* A batch far larger than the hash window, through every index width,
 * into an empty dict and onto one holding items: every key found with
 * its value, in insertion order, and the same as md_dict_set makes it. */
static void test_value_dict_set_pairs_grows_and_keeps_order(void)
{
    enum { N = 40000 };
    rec3 *r = pair_recs(N, key_str);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    md_val *d = md_dict_new(), *ref = md_dict_new();
    md_pyerr e;
    /* in batches of 1000, as a pickler writes SETITEMS */
    for (size_t at = 0; at < N; at += 1000)
        CU_ASSERT_FATAL(md_dict_set_pairs(d, &r[2 * at].v, 1000, pair_stride(), &e) == 0);
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_FATAL(md_dict_set(ref, r[2 * i].v, r[2 * i + 1].v, NULL) == 0);
    CU_ASSERT_EQUAL(md_dict_len(d), N);
    CU_ASSERT_TRUE(table_in(d)->log2size >= 16);
    CU_ASSERT_EQUAL(md_val_eq(d, ref, &e), 1);
    size_t pos = 0, n = 0;
    md_val *k, *v;
    while (md_dict_next(d, &pos, &k, &v) && k == r[2 * n].v)
        n++;
    CU_ASSERT_EQUAL(n, N);
    /* Onto a dict with items: repeated keys take the new value in place. */
    md_val *big = md_dict_new();
    CU_ASSERT_FATAL(md_dict_set(big, r[2 * 5].v, md_none(), NULL) == 0);
    CU_ASSERT_FATAL(md_dict_set_pairs(big, &r[0].v, N, pair_stride(), &e) == 0);
    pos = 0;
    CU_ASSERT_TRUE(md_dict_next(big, &pos, &k, &v) && k == r[10].v && v == r[11].v);
    CU_ASSERT_EQUAL(md_dict_len(big), N);
    md_decref(big);
    md_decref(ref);
    md_decref(d);
    free_recs(r, N);
}

/* Stored over a dict with deleted entries (dummies in its index):
 * deleted keys stored again go last, the live ones keep their place,
 * and colliding int keys (equal low 32 hash bits, or one first slot)
 * stay distinct. */
static void test_value_dict_set_pairs_over_dummies_and_collisions(void)
{
    md_val *d = dict_with_holes(100);
    md_pyerr e;
    rec3 r[2 * 70];
    size_t n = 0;
    for (int64_t i = 0; i < 10; i++) {   /* 0, 2, ... deleted; 1, 3, ... live */
        r[2 * n].v = md_int_from_i64(i);
        r[2 * n++ + 1].v = md_int_from_i64(-i);
    }
    for (int64_t j = 1; j <= 30; j++) {   /* collisions built on purpose */
        r[2 * n].v = md_int_from_i64(1000 + (j << 32));
        r[2 * n++ + 1].v = md_int_from_i64(j);
        r[2 * n].v = md_int_from_i64(j << 20);
        r[2 * n++ + 1].v = md_int_from_i64(-j);
    }
    CU_ASSERT_EQUAL_FATAL(md_dict_set_pairs(d, &r[0].v, n, pair_stride(), &e), 0);
    CU_ASSERT_EQUAL(md_dict_len(d), 50 + 5 + 60);
    CU_ASSERT_EQUAL(dict_int(d, 3), -3);    /* live key: new value, old place */
    CU_ASSERT_EQUAL(dict_int(d, 4), -4);    /* deleted key: back */
    CU_ASSERT_EQUAL(dict_int(d, 10), -999); /* still deleted */
    bool all = true;
    for (int64_t j = 1; j <= 30 && all; j++)
        all = dict_int(d, 1000 + (j << 32)) == j && dict_int(d, j << 20) == -j;
    CU_ASSERT_TRUE(all);
    size_t pos = 0;
    md_val *k, *v;
    int64_t first = -1, x;
    CU_ASSERT_TRUE(md_dict_next(d, &pos, &k, &v) && md_int_to_i64(k, &first) == 0);
    CU_ASSERT_EQUAL(first, 1);
    for (size_t i = 0; i < 50; i++)   /* the other live keys of the first 100 */
        md_dict_next(d, &pos, &k, &v);
    CU_ASSERT_TRUE(md_int_to_i64(k, &x) == 0 && x == 0);   /* reinserted 0 comes next */
    md_decref(d);
}

/* 1, 1.0 and True are one key in one batch: the first key object stays,
 * the last value wins; an unhashable key fails with Python's words after
 * the pairs before it were stored (past the hash window too). */
static void test_value_dict_set_pairs_mixed_equal_keys_and_unhashable(void)
{
    md_val *one_f = md_float_new(1.0), *list = md_list_new(0);
    md_val *items[] = { md_int_from_i64(1), md_str_from_cstr("int"), one_f,
                        md_str_from_cstr("float"), md_true(), md_str_from_cstr("bool") };
    md_val *d = md_dict_new();
    md_pyerr e;
    CU_ASSERT_EQUAL(md_dict_set_pairs(d, items, 3, 1, &e), 0);
    CU_ASSERT_TRUE(repr_is(d, "{1: 'bool'}"));
    for (size_t i = 0; i < 6; i++)
        md_decref(items[i]);
    md_decref(d);
    /* equal keys compared (==) in the window of an unhashable key */
    md_val *mixed[] = { md_int_from_i64(1), md_int_from_i64(1), md_float_new(1.0),
                        md_int_from_i64(2), list, md_int_from_i64(3) };
    d = md_dict_new();
    md_pyerr_clear(&e);
    CU_ASSERT_EQUAL(md_dict_set_pairs(d, mixed, 3, 1, &e), -1);
    CU_ASSERT_STRING_EQUAL(e.type ? e.type : "", "TypeError");
    CU_ASSERT_STRING_EQUAL(e.msg, "unhashable type: 'list'");
    CU_ASSERT_TRUE(repr_is(d, "{1: 2}"));
    md_decref(mixed[2]);
    md_decref(d);
    for (size_t bad = 0; bad < 80; bad += 37) {   /* at 0, 37 and 74 */
        rec3 *r = pair_recs(80, key_int);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        md_decref(r[2 * bad].v);
        r[2 * bad].v = md_incref(list);
        d = md_dict_new();
        md_pyerr_clear(&e);
        CU_ASSERT_EQUAL(md_dict_set_pairs(d, &r[0].v, 80, pair_stride(), &e), -1);
        CU_ASSERT_STRING_EQUAL(e.type ? e.type : "", "TypeError");
        CU_ASSERT_STRING_EQUAL(e.msg, "unhashable type: 'list'");
        CU_ASSERT_EQUAL(md_dict_len(d), bad);
        md_decref(d);
        free_recs(r, 80);
    }
    md_decref(list);
}

/* Out of memory at every allocation: MemoryError with the dict as it
 * was, then success once the allocator lets it. */
static void test_value_dict_set_pairs_fails_cleanly_at_every_allocation(void)
{
    enum { N = 3000 };
    rec3 *r = pair_recs(N, key_str);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    bool done = false;
    for (long n = 0; n < 30 && !done; n++) {
        md_val *d = lit("{'x': 1}");
        md_pyerr e;
        md_pyerr_clear(&e);
        md_alloc_fail_after(n);
        int rc = md_dict_set_pairs(d, &r[0].v, N, pair_stride(), &e);
        md_alloc_fail_after(-1);
        if (rc < 0) {
            CU_ASSERT_STRING_EQUAL(e.type ? e.type : "", "MemoryError");
            CU_ASSERT_TRUE(repr_is(d, "{'x': 1}"));
        } else {
            CU_ASSERT_EQUAL(md_dict_len(d), N + 1);
            done = true;
        }
        md_decref(d);
    }
    CU_ASSERT_TRUE(done);
    free_recs(r, N);
}

/* md_dict_set_pairs_steal: the pairs it stores are the dict's (counts
 * unchanged, no reference left with the caller), a repeated key's new
 * key object is dropped and its value replaces the old; an unhashable
 * key at 0, 37 or 74 leaves the pairs before it stored and taken, the
 * rest the caller's; out of memory at every allocation takes nothing.
 * ASan's leak and use-after-free checks see every count. */
static void test_value_dict_set_pairs_steal_moves_references(void)
{
    enum { N = 80 };
    md_val *dup_key = md_str_from_cstr("k0000003"), *dup_val = md_float_new(0.5);
    rec3 *r = pair_recs(N + 1, key_str);
    CU_ASSERT_FATAL(r && dup_key && dup_val);
    md_val *first_key = r[6].v;
    md_decref(r[2 * N].v);
    r[2 * N].v = dup_key;   /* the last pair: k0000003 again */
    r[2 * N + 1].v = dup_val;
    md_val *d = md_dict_new();
    md_pyerr e;
    size_t taken = 99;
    md_alloc_fail_after(0);
    CU_ASSERT_EQUAL(md_dict_set_pairs_steal(d, &r[0].v, N + 1, pair_stride(), &e, &taken), -1);
    md_alloc_fail_after(-1);
    CU_ASSERT_EQUAL(taken, 0);
    CU_ASSERT_EQUAL(md_dict_len(d), 0);
    CU_ASSERT_EQUAL(md_refcount(first_key), 1);   /* still only the caller's */
    md_incref(dup_key);   /* watched past its drop */
    md_pyerr_clear(&e);
    CU_ASSERT_EQUAL(md_dict_set_pairs_steal(d, &r[0].v, N + 1, pair_stride(), &e, &taken), 0);
    CU_ASSERT_EQUAL(taken, N + 1);
    CU_ASSERT_EQUAL(md_dict_len(d), N);
    CU_ASSERT_EQUAL(md_refcount(first_key), 1);   /* the dict's now */
    CU_ASSERT_EQUAL(md_refcount(dup_key), 1);     /* only the test's: dropped */
    CU_ASSERT_EQUAL(md_refcount(dup_val), 1);     /* the dict's */
    md_val *got = md_dict_get(d, dup_key, &e);
    CU_ASSERT_PTR_EQUAL(got, dup_val);
    size_t pos = 0;
    md_val *k, *v;
    for (size_t i = 0; i < 4 && md_dict_next(d, &pos, &k, &v); i++)
        ;
    CU_ASSERT_PTR_EQUAL(k, first_key);            /* the first key object kept */
    md_decref(dup_key);
    md_decref(d);
    free(r);   /* every reference went to the dict */
    md_val *list = md_list_new(0);
    for (size_t bad = 0; bad < N; bad += 37) {
        r = pair_recs(N, key_int);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        r[2 * bad].v = list;   /* small ints need no decref */
        d = md_dict_new();
        md_pyerr_clear(&e);
        CU_ASSERT_EQUAL(md_dict_set_pairs_steal(d, &r[0].v, N, pair_stride(), &e, &taken), -1);
        CU_ASSERT_STRING_EQUAL(e.msg, "unhashable type: 'list'");
        CU_ASSERT_EQUAL(taken, bad);
        CU_ASSERT_EQUAL(md_dict_len(d), bad);
        CU_ASSERT_EQUAL(md_refcount(list), 1);
        md_decref(d);
        for (size_t i = 2 * taken; i < 2 * N; i++)   /* the caller's part */
            if (i != 2 * bad)
                md_decref(r[i].v);
        free(r);
    }
    md_decref(list);
    /* a big batch under allocation failures: all or nothing */
    bool done = false;
    for (long n = 0; n < 30 && !done; n++) {
        r = pair_recs(3000, key_str);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        d = lit("{'x': 1}");
        md_pyerr_clear(&e);
        md_alloc_fail_after(n);
        int rc = md_dict_set_pairs_steal(d, &r[0].v, 3000, pair_stride(), &e, &taken);
        md_alloc_fail_after(-1);
        CU_ASSERT_EQUAL(taken, rc == 0 ? 3000u : 0u);
        CU_ASSERT_TRUE(rc == 0 ? md_dict_len(d) == 3001 : repr_is(d, "{'x': 1}"));
        done = rc == 0;
        if (rc < 0)
            free_recs(r, 3000);
        else
            free(r);
        md_decref(d);
    }
    CU_ASSERT_TRUE(done);
}

/* md_list_extend appends all or nothing, and its items stay referenced
 * after the source goes. */
static void test_value_list_extend_is_all_or_nothing(void)
{
    md_val *src = lit("[1, 'two', (3,), [4]]");
    size_t n;
    md_val *const *items = md_seq_items(src, &n);
    bool done = false;
    for (long k = 0; k < 10 && !done; k++) {
        md_val *l = lit("[0]");
        md_alloc_fail_after(k);
        int rc = md_list_extend(l, items, n, 1);
        md_alloc_fail_after(-1);
        done = rc == 0;
        CU_ASSERT_TRUE(repr_is(l, rc == 0 ? "[0, 1, 'two', (3,), [4]]" : "[0]"));
        md_decref(l);
    }
    CU_ASSERT_TRUE(done);
    md_val *l = md_list_new(0);
    CU_ASSERT_EQUAL(md_list_extend(l, items, 0, 1), 0);   /* no array yet, none made */
    CU_ASSERT_EQUAL(md_list_len(l), 0);
    CU_ASSERT_EQUAL(md_list_extend(l, items, n, 1), 0);
    CU_ASSERT_EQUAL(md_list_extend(l, items, 0, 1), 0);
    md_decref(src);
    CU_ASSERT_TRUE(repr_is(l, "[1, 'two', (3,), [4]]"));
    md_decref(l);
}

/* md_list_extend_steal moves the caller's references into the list (the
 * counts do not change) and, when it fails, leaves the list unchanged
 * and the references with the caller: at every allocation. */
static void test_value_list_extend_steal_moves_references_all_or_nothing(void)
{
    bool done = false;
    for (long k = 0; k < 10 && !done; k++) {
        md_val *items[3] = { md_str_from_cstr("stolen one"), md_float_new(2.5),
                             md_list_new(0) };
        CU_ASSERT_FATAL(items[0] && items[1] && items[2]);
        md_val *l = lit("[0]");
        md_alloc_fail_after(k);
        int rc = md_list_extend_steal(l, items, 3, 1);
        md_alloc_fail_after(-1);
        done = rc == 0;
        CU_ASSERT_TRUE(repr_is(l, rc == 0 ? "[0, 'stolen one', 2.5, []]" : "[0]"));
        for (size_t i = 0; i < 3; i++)
            CU_ASSERT_EQUAL(md_refcount(items[i]), 1);
        if (rc < 0)
            for (size_t i = 0; i < 3; i++)
                md_decref(items[i]);
        md_decref(l);   /* frees the stolen items once (ASan checks) */
    }
    CU_ASSERT_TRUE(done);
    md_val *l = md_list_new(0);
    CU_ASSERT_EQUAL(md_list_extend_steal(l, NULL, 0, 1), 0);
    CU_ASSERT_EQUAL(md_list_len(l), 0);
    md_decref(l);
}

/* md_val__decref_many: the str, bytes and floats whose last reference
 * it drops go back to the slab page by page (every page of their class
 * left empty leaves the class), shared ones only lose a count, NULLs,
 * tagged ints and immortals are skipped, containers are freed with
 * what they hold; more than one batch, in page order and shuffled. */
static void test_value_decref_many_frees_in_bulk_and_keeps_shared(void)
{
    enum { STRIDE = 2 };
    /* 31 bytes of text: 8 + 4 + 31 + 1 = 44, a class of its own here */
    const size_t size = 44;
    size_t n = 6 * slab_per_page(size) + 12, pages0, spare, pages;   /* even */
    md_val__slab_stats(size, &pages0, &spare);
    md_val **items = calloc(n * STRIDE, sizeof *items);
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    md_val *shared = md_str_from_cstr("a shared str that outlives it!!");
    for (int order = 0; order < 2; order++) {
        for (size_t i = 0; i < n; i++) {
            char text[40];
            snprintf(text, sizeof text, "%031zu", i);
            md_val *v;
            switch (i % 9) {
            case 1: v = md_float_new((double)i); break;
            case 2: v = md_bytes_new(text, 31); break;
            case 3: v = md_incref(shared); break;
            case 4: v = md_int_from_i64((int64_t)i); break;
            case 5: v = i % 2 ? NULL : md_none(); break;
            case 6: v = lit("[1, 'x', (2.5,)]"); break;
            default: v = md_str_new(text, 31); break;
            }
            CU_ASSERT_FATAL(v || i % 9 == 5);
            /* order 1: every other slot of the array first, so the
             * pages alternate */
            size_t at = order ? (i % 2 ? n / 2 + i / 2 : i / 2) : i;
            items[at * STRIDE] = v;
            items[at * STRIDE + 1] = md_none();
        }
        md_val__slab_stats(size, &pages, &spare);
        CU_ASSERT(pages >= pages0 + 2);
        md_val__decref_many(items, n, STRIDE);
        md_val__slab_stats(size, &pages, &spare);
        CU_ASSERT(pages <= pages0 + 1);   /* only the shared str's page may stay */
        CU_ASSERT_EQUAL(md_refcount(shared), 1);
        CU_ASSERT_TRUE(md_str_eq_cstr(shared, "a shared str that outlives it!!"));
        md_val *again = md_str_from_cstr("and is reused after the free 123");
        CU_ASSERT_PTR_NOT_NULL(again);
        md_decref(again);
    }
    md_decref(shared);
    md_val__slab_stats(size, &pages, &spare);
    CU_ASSERT(pages <= pages0);
    free(items);
}

/* Short str take the one-pass ASCII copy: every length up to the slab's
 * largest and one past, and a non-ASCII byte at every offset (which
 * must fall back to the counted layout, equal to the same text made
 * byte by byte). */
static void test_value_short_str_every_length_and_non_ascii_offset(void)
{
    char text[80] = {0};
    for (size_t n = 0; n < 70; n++) {
        for (size_t i = 0; i < n; i++)
            text[i] = (char)('a' + i % 26);
        md_val *s = md_str_new(text, n);
        CU_ASSERT_FATAL(s != NULL);
        CU_ASSERT_EQUAL(md_str_nbytes(s), n);
        CU_ASSERT_EQUAL(md_str_len(s), n);
        CU_ASSERT_TRUE(memcmp(md_str_data(s), text, n) == 0 && md_str_data(s)[n] == 0);
        md_decref(s);
        for (size_t at = 0; at + 1 < n; at++) {
            memcpy(text + at, "\xc3\xa9", 2);   /* U+00E9 */
            s = md_str_new(text, n);
            CU_ASSERT_FATAL(s != NULL);
            CU_ASSERT_EQUAL(md_str_len(s), n - 1);
            CU_ASSERT_EQUAL(md_str_nbytes(s), n);
            text[at] = (char)('a' + at % 26);
            text[at + 1] = (char)('a' + (at + 1) % 26);
            md_decref(s);
        }
        if (n) {
            text[n - 1] = (char)0xff;   /* not UTF-8 at all */
            CU_ASSERT_PTR_NULL(md_str_new(text, n));
        }
    }
}

/* UTF-8 as md_str_new takes it, read the plain way (one code point at
 * a time, surrogates allowed): the number of code points, or -1. */
static long ref_utf8_count(const uint8_t *s, size_t n)
{
    long cps = 0;
    for (size_t i = 0; i < n; cps++) {
        uint32_t c = s[i], cp;
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || n - i < len)
            return -1;
        cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return -1;
        i += len;
    }
    return cps;
}

/* The short str path (whole words, then the last 8 bytes; 4 to 7 bytes
 * as two halves; fewer byte by byte) against ref_utf8_count: every
 * length 0 to 17, one or two bytes of a set covering each UTF-8 class
 * at every position (so each position of each 8-byte word and of the
 * overlapping tail), the rest ASCII: the same verdict, code point
 * count and bytes. */
static void test_value_short_str_matches_a_plain_utf8_reading(void)
{
    static const uint8_t probe[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                     0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4,
                                     0xf5, 0xff };
    const size_t np = sizeof probe;
    size_t wrong = 0, checked = 0;
    for (size_t len = 0; len <= 17; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t a = 0; a < np; a++) {
                for (size_t b = 0; b <= np; b++) {
                    uint8_t text[24];
                    memset(text, 'q', sizeof text);
                    text[at] = probe[a];
                    if (b < np && at + 1 < len)
                        text[at + 1] = probe[b];
                    else if (b < np)
                        continue;
                    /* a third byte keeps 3 and 4-byte forms in reach */
                    if (at + 2 < len && (probe[a] >= 0xe0 || b % 2))
                        text[at + 2] = 0x80 | (uint8_t)(b & 0x3f);
                    long want = ref_utf8_count(text, len);
                    md_val *v = md_str_new((const char *)text, len);
                    checked++;
                    if (want < 0) {
                        wrong += v != NULL;
                    } else {
                        wrong += !v || md_str_len(v) != (size_t)want ||
                                 md_str_nbytes(v) != len ||
                                 memcmp(md_str_data(v), text, len) != 0 ||
                                 md_str_data(v)[len] != 0 ||
                                 md_str_is_ascii(v) != ((size_t)want == len);
                    }
                    md_decref(v);
                }
            }
        }
    }
    CU_ASSERT(checked > 10000);
    CU_ASSERT_EQUAL(wrong, 0);
}

/* md_seq_items reads a tuple and a list alike, an empty list (which has no
 * array yet) as zero items that are not NULL, and refuses anything else. */
static void test_value_seq_items_reads_tuple_and_list_alike(void)
{
    size_t n = 99;
    md_val *t = md_tuple_pack(2, md_int_from_i64(7), md_none());
    md_val *const *items = md_seq_items(t, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_PTR_EQUAL(items[0], md_int_from_i64(7));
    CU_ASSERT_PTR_EQUAL(items[1], md_none());
    md_val *l = md_list_new(0);
    items = md_seq_items(l, &n);
    CU_ASSERT_PTR_NOT_NULL(items);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_FATAL(md_list_append(l, t) == 0);
    items = md_seq_items(l, &n);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_PTR_EQUAL(items ? items[0] : NULL, t);
    md_val *d = md_dict_new();
    n = 99;
    CU_ASSERT_PTR_NULL(md_seq_items(d, &n));
    CU_ASSERT_EQUAL(n, 0);
    n = 99;
    CU_ASSERT_PTR_NULL(md_seq_items(md_int_from_i64(3), &n));
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(md_seq_items(NULL, &n));
    md_decref(d);
    md_decref(l);
    md_decref(t);
}

void md_test_register_value(void)
{
    CU_pSuite s = md_test_suite("value");
    MD_ADD_TEST(s, test_value_seq_items_reads_tuple_and_list_alike);
    MD_ADD_TEST(s, test_value_small_ints_are_tagged_and_immortal);
    MD_ADD_TEST(s, test_value_int_decimal_accepts_python_forms_and_rejects_garbage);
    MD_ADD_TEST(s, test_value_int_le_bytes_match_pickle_encode_long);
    MD_ADD_TEST(s, test_value_numbers_equal_across_int_float_bool_complex);
    MD_ADD_TEST(s, test_value_hashes_equal_cpython_for_numbers_tuples_frozensets);
    MD_ADD_TEST(s, test_value_nan_is_unequal_except_by_identity_in_containers);
    MD_ADD_TEST(s, test_value_str_bytes_tuple_list_set_cross_type_equality);
    MD_ADD_TEST(s, test_value_unhashable_types_raise_typeerror_with_python_message);
    MD_ADD_TEST(s, test_value_exceptions_and_opaques_compare_and_hash_structurally);
    MD_ADD_TEST(s, test_value_str_rejects_invalid_utf8_and_accepts_surrogates);
    MD_ADD_TEST(s, test_value_str_counts_non_ascii_at_every_offset_of_the_word_scan);
    MD_ADD_TEST(s, test_value_dict_keeps_insertion_order_after_deletes_and_resize);
    MD_ADD_TEST(s, test_value_dict_equal_keys_share_one_slot_keeping_first_key);
    MD_ADD_TEST(s, test_value_dict_pop_and_set_clear);
    MD_ADD_TEST(s, test_value_dict_survives_a_key_whose_hash_changed);
    MD_ADD_TEST(s, test_value_set_add_contains_discard_and_order);
    MD_ADD_TEST(s, test_value_list_insert_set_del_clear);
    MD_ADD_TEST(s, test_value_dict_of_a_million_short_str_keys_fits_64_bytes_per_item);
    MD_ADD_TEST(s, test_value_slab_grows_reuses_and_gives_pages_back);
    MD_ADD_TEST(s, test_value_slab_releases_pages_past_the_spares_and_reuses_them);
    MD_ADD_TEST(s, test_value_slab_keeps_pages_until_a_period_passes_unused);
    MD_ADD_TEST(s, test_value_slab_decay_spares_the_pages_a_period_took);
    MD_ADD_TEST(s, test_value_slab_release_owed_gives_back_the_rest_in_slices);
    MD_ADD_TEST(s, test_value_slab_pages_of_an_ended_thread_are_given_back);
    MD_ADD_TEST(s, test_value_slab_every_size_class_keeps_objects_apart);
    MD_ADD_TEST(s, test_value_slab_holds_the_small_values_only);
    MD_ADD_TEST(s, test_value_list_items_move_from_the_slab_to_malloc);
    MD_ADD_TEST(s, test_value_slab_fails_cleanly_at_every_allocation);
    MD_ADD_TEST(s, test_value_table_growth_keeps_every_key_findable_and_ordered);
    MD_ADD_TEST(s, test_value_table_deletion_dummies_and_reinsertion_keep_order);
    MD_ADD_TEST(s, test_value_table_collisions_built_on_purpose_stay_distinct);
    MD_ADD_TEST(s, test_value_table_tags_separate_keys_of_one_slot);
    MD_ADD_TEST(s, test_value_table_copy_and_update_merge_keys_of_mixed_types);
    MD_ADD_TEST(s, test_value_table_copy_skips_deleted_entries);
    MD_ADD_TEST(s, test_value_table_reserve_then_inserts_allocate_nothing);
    MD_ADD_TEST(s, test_value_table_alloc_failure_sweep_over_copy_update_reserve);
    MD_ADD_TEST(s, test_value_dict_set_pairs_grows_and_keeps_order);
    MD_ADD_TEST(s, test_value_dict_set_pairs_over_dummies_and_collisions);
    MD_ADD_TEST(s, test_value_dict_set_pairs_mixed_equal_keys_and_unhashable);
    MD_ADD_TEST(s, test_value_dict_set_pairs_fails_cleanly_at_every_allocation);
    MD_ADD_TEST(s, test_value_dict_set_pairs_steal_moves_references);
    MD_ADD_TEST(s, test_value_list_extend_is_all_or_nothing);
    MD_ADD_TEST(s, test_value_list_extend_steal_moves_references_all_or_nothing);
    MD_ADD_TEST(s, test_value_decref_many_frees_in_bulk_and_keeps_shared);
    MD_ADD_TEST(s, test_value_short_str_every_length_and_non_ascii_offset);
    MD_ADD_TEST(s, test_value_short_str_matches_a_plain_utf8_reading);
    MD_ADD_TEST(s, test_value_order_of_mixed_types_raises_python_typeerror);
    MD_ADD_TEST(s, test_value_order_follows_python_for_numbers_strings_sequences_sets);
    MD_ADD_TEST(s, test_value_repr_matches_python_312_table);
    MD_ADD_TEST(s, test_value_str_matches_python_312_table);
    MD_ADD_TEST(s, test_value_repr_of_float_round_trips_for_many_values);
    MD_ADD_TEST(s, test_value_repr_marks_recursive_containers);
    MD_ADD_TEST(s, test_value_deepcopy_preserves_sharing_and_cycles);
    MD_ADD_TEST(s, test_value_deepcopy_shares_immutable_values_of_atomic_items);
    MD_ADD_TEST(s, test_value_gc_frees_unreachable_cycles_only);
    MD_ADD_TEST(s, test_value_gc_tuples_of_atoms_are_never_tracked);
    MD_ADD_TEST(s, test_value_gc_collects_cycles_through_tuples_filled_each_way);
    MD_ADD_TEST(s, test_value_gc_untracks_atomic_tables_and_retracks_on_container_store);
    MD_ADD_TEST(s, test_value_free_hook_runs_when_a_watched_opaque_dies);
    MD_ADD_TEST(s, test_value_decref_of_a_million_deep_list_does_not_recurse);
    MD_ADD_TEST(s, test_value_nesting_at_max_depth_works_and_one_past_fails);
    MD_ADD_TEST(s, test_value_alloc_failure_sweep_building_a_nested_value);
    MD_ADD_TEST(s, test_value_alloc_failure_sweep_over_repr_and_deepcopy);
    MD_ADD_TEST(s, test_value_accessors_return_what_was_stored);
}
