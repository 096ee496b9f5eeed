/* xmlrpcc_ref.c - managerd's XML-RPC codec against xmlrpc-c, the
 * independent implementation.
 *
 * From a fixed seed it makes random values of the types both sides
 * support (int32, i8, boolean, finite double, string of valid XML
 * characters, base64, array, struct, nil), each built twice: as an
 * md_val and as an xmlrpc_value. Then, for every value:
 *   1. managerd writes it (md_xmlrpc_encode_response) and xmlrpc-c's
 *      parser (xmlrpc_parse_response2) reads back an equal value; the
 *      <value> alone also goes through xmlrpc_parse_value_xml;
 *   2. xmlrpc-c writes it (xmlrpc_serialize_response, i8 dialect: <i8>
 *      and <nil/>) and managerd's decoder reads back an equal value; the
 *      same with xmlrpc_serialize_call through md_xmlrpc_decode_call.
 * Prints each mismatch, then 'N passed, M failed'; exits 1 on any failure.
 *
 *   xmlrpcc_ref [COUNT [SEED]]      (defaults: 2000 values, seed 20240601)
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/xmlrpc.h"

/* ---- a small deterministic PRNG (xorshift64*) ---------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

/* ---- one random value, built on both sides -------------------------------- */

typedef struct pair {
    md_val *md;
    xmlrpc_value *xv;
} pair;

static xmlrpc_env env;

static void need_env(const char *what)
{
    if (env.fault_occurred) {
        fprintf(stderr, "xmlrpcc_ref: xmlrpc-c failed building %s: %s\n", what, env.fault_string);
        exit(2);
    }
}

/* Append one code point as UTF-8. */
static void put_utf8(md_buf *b, uint32_t cp)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80)
        tmp[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        tmp[0] = (char)(0xC0 | cp >> 6), tmp[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        tmp[0] = (char)(0xE0 | cp >> 12), tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        tmp[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        tmp[0] = (char)(0xF0 | cp >> 18), tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), tmp[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    md_buf_append(b, tmp, n);
}

/* A code point XML 1.0 can hold, biased towards what needs escaping.
 * CR is left out: both XML parsers turn a raw CR into LF, and managerd
 * writes CR raw as Python does (README: value mapping). Only the Basic
 * Multilingual Plane: xmlrpc-c 1.33 refuses UTF-8 beyond it ("not in the
 * Basic Multilingual Plane"), managerd and Python take any code point. */
static uint32_t random_char(void)
{
    static const uint32_t special[] = {'&', '<', '>', '"', '\'', '\t', '\n', ' ', ']', ';', '#'};
    switch (below(8)) {
    case 0:
        return special[below(sizeof special / sizeof special[0])];
    case 1:
        return 0xA0 + below(0x800 - 0xA0);
    case 2: {
        uint32_t cp = 0x800 + below(0xFFFE - 0x800);
        return cp >= 0xD800 && cp <= 0xDFFF ? 0x20AC : cp;
    }
    case 3:
        return 0xE000 + below(0xFFFE - 0xE000);
    default:
        return 0x20 + below(0x7F - 0x20);
    }
}

static void random_text(md_buf *b, size_t maxlen)
{
    size_t n = below((uint32_t)maxlen + 1);
    for (size_t i = 0; i < n; i++)
        put_utf8(b, random_char());
}

/* Finite doubles; no subnormals: Python's repr writes them with an
 * exponent ("5e-324"), and xmlrpc-c 1.33 reads exponents only through
 * strtod, which reports ERANGE for them, so it refuses the text. */
static double random_double(void)
{
    switch (below(6)) {
    case 0:
        return (double)(int32_t)rnd();
    case 1:
        return (double)((int64_t)rnd() % 1000000000000000); /* 15 digits */
    case 2:
        return -0.0;
    case 3: {
        /* any finite bit pattern */
        for (;;) {
            uint64_t bits = rnd();
            double d;
            memcpy(&d, &bits, sizeof d);
            if (isnormal(d))
                return d;
        }
    }
    case 4:
        return ldexp((double)(rnd() >> 11), (int)below(200) - 150);
    default:
        return ((double)(int64_t)rnd()) / 1e6;
    }
}

static pair random_value(int depth);

static pair random_scalar(void)
{
    pair p = {NULL, NULL};
    switch (below(8)) {
    case 0: {
        int32_t i = (int32_t)rnd();
        if (below(4) == 0)
            i = below(2) ? INT32_MAX : INT32_MIN;
        p.md = md_int_from_i64(i);
        p.xv = xmlrpc_int_new(&env, i);
        break;
    }
    case 1: {
        int64_t i = (int64_t)rnd();
        switch (below(5)) {
        case 0:
            i = below(2) ? INT64_MAX : INT64_MIN;
            break;
        case 1:
            i = below(2) ? (int64_t)INT32_MAX + 1 : (int64_t)INT32_MIN - 1;
            break;
        case 2:
            i = (int32_t)i; /* an i8 that fits in 32 bits */
            break;
        default:
            break;
        }
        p.md = md_int_from_i64(i);
        p.xv = xmlrpc_i8_new(&env, i);
        break;
    }
    case 2: {
        bool b = below(2);
        p.md = md_bool(b);
        p.xv = xmlrpc_bool_new(&env, b);
        break;
    }
    case 3: {
        double d = random_double();
        p.md = md_float_new(d);
        p.xv = xmlrpc_double_new(&env, d);
        break;
    }
    case 4:
    case 5: {
        md_buf b = MD_BUF_INIT;
        random_text(&b, 40);
        p.md = md_str_new(b.data ? (const char *)b.data : "", b.len);
        p.xv = xmlrpc_string_new_lp(&env, b.len, b.data ? (const char *)b.data : "");
        md_buf_free(&b);
        break;
    }
    case 6: {
        size_t n = below(4) == 0 ? below(400) : below(20);
        unsigned char *data = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            data[i] = (unsigned char)rnd();
        p.md = md_bytes_new(data, n);
        p.xv = xmlrpc_base64_new(&env, n, data);
        free(data);
        break;
    }
    default:
        p.md = md_none();
        p.xv = xmlrpc_nil_new(&env);
        break;
    }
    need_env("a scalar");
    return p;
}

static pair random_array(int depth)
{
    pair p = {md_list_new(0), xmlrpc_array_new(&env)};
    need_env("an array");
    size_t n = below(6);
    for (size_t i = 0; i < n; i++) {
        pair item = random_value(depth + 1);
        md_list_append_steal(p.md, item.md);
        xmlrpc_array_append_item(&env, p.xv, item.xv);
        need_env("an array item");
        xmlrpc_DECREF(item.xv);
    }
    return p;
}

static pair random_struct(int depth)
{
    pair p = {md_dict_new(), xmlrpc_struct_new(&env)};
    need_env("a struct");
    size_t n = below(6);
    for (size_t i = 0; i < n; i++) {
        md_buf key = MD_BUF_INIT;
        random_text(&key, 12);
        pair item = random_value(depth + 1);
        md_val *k = md_str_new(key.data ? (const char *)key.data : "", key.len);
        md_pyerr e;
        md_pyerr_clear(&e);
        md_dict_set(p.md, k, item.md, &e); /* a repeated key: the last wins on both sides */
        xmlrpc_struct_set_value_n(&env, p.xv, key.data ? (const char *)key.data : "", key.len,
                                  item.xv);
        need_env("a struct member");
        md_decref(k);
        md_decref(item.md);
        xmlrpc_DECREF(item.xv);
        md_buf_free(&key);
    }
    return p;
}

static pair random_value(int depth)
{
    uint32_t r = below(10);
    if (depth < 4 && r < 2)
        return random_array(depth);
    if (depth < 4 && r < 4)
        return random_struct(depth);
    return random_scalar();
}

/* ---- comparing ------------------------------------------------------------- */

static char why[512];

static bool mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool mismatch(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return false;
}

/* How far apart two finite doubles are, in units in the last place. */
static uint64_t ulp_distance(double a, double b)
{
    if (a == b)
        return 0;
    int64_t ia, ib;
    memcpy(&ia, &a, sizeof a);
    memcpy(&ib, &b, sizeof b);
    /* map the sign-magnitude order onto the integers */
    if (ia < 0)
        ia = INT64_MIN - ia;
    if (ib < 0)
        ib = INT64_MIN - ib;
    return ia > ib ? (uint64_t)ia - (uint64_t)ib : (uint64_t)ib - (uint64_t)ia;
}

/* xmlrpc-c 1.33 carries doubles to about 15 significant digits: its
 * writer stops there (4490636005970898.0 -> "4490636005970900") and its
 * reader sums decimal digits one by one, landing up to some tens of ULPs
 * away ("74.625" -> 74.624999999999986). So a double matches when its
 * relative error is within XMLRPCC_DOUBLE_REL, and exactly when it is an
 * integer of at most 15 digits, which both sides carry exactly. managerd's
 * own reading is checked exactly against strtod of the text xmlrpc-c
 * wrote (exact_double_check). -0.0 equals 0.0, as in Python: xmlrpc-c
 * writes it "0". */
#define XMLRPCC_DOUBLE_REL 1e-14
static uint64_t max_ulps;

static bool doubles_match(double got, double want)
{
    if (want == floor(want) && fabs(want) < 1e15)
        return got == want || mismatch("double %.17g, wanted exactly %.17g", got, want);
    uint64_t ulps = ulp_distance(got, want);
    if (ulps > max_ulps)
        max_ulps = ulps;
    return fabs(got - want) <= XMLRPCC_DOUBLE_REL * fabs(want) ||
           mismatch("double %.17g, wanted %.17g (%" PRIu64 " ULPs)", got, want, ulps);
}

/* Is x (read by xmlrpc-c) the value v (managerd's)? Integers are also
 * checked for the tag managerd chose: <int> within 32 bits, <i8> beyond. */
static bool xv_equals(xmlrpc_value *x, const md_val *v)
{
    xmlrpc_env e;
    xmlrpc_env_init(&e);
    bool ok = false;
    xmlrpc_type t = xmlrpc_value_type(x);
    switch (md_typeof(v)) {
    case MD_T_NONE:
        ok = t == XMLRPC_TYPE_NIL || mismatch("expected nil, got type %d", t);
        break;
    case MD_T_BOOL: {
        xmlrpc_bool b = 0;
        if (t != XMLRPC_TYPE_BOOL)
            return mismatch("expected a boolean, got type %d", t);
        xmlrpc_read_bool(&e, x, &b);
        ok = (bool)b == md_bool_get(v) || mismatch("boolean differs");
        break;
    }
    case MD_T_INT: {
        int64_t want = 0;
        md_int_to_i64(v, &want);
        bool small = want >= INT32_MIN && want <= INT32_MAX;
        if (small && t == XMLRPC_TYPE_INT) {
            int got = 0;
            xmlrpc_read_int(&e, x, &got);
            ok = got == want || mismatch("int %d, wanted %" PRId64, got, want);
        } else if (!small && t == XMLRPC_TYPE_I8) {
            xmlrpc_int64 got = 0;
            xmlrpc_read_i8(&e, x, &got);
            ok = got == want || mismatch("i8 %" PRId64 ", wanted %" PRId64, (int64_t)got, want);
        } else {
            ok = mismatch("integer %" PRId64 " read as type %d", want, t);
        }
        break;
    }
    case MD_T_FLOAT: {
        double got = 0;
        if (t != XMLRPC_TYPE_DOUBLE)
            return mismatch("expected a double, got type %d", t);
        xmlrpc_read_double(&e, x, &got);
        ok = doubles_match(got, md_float_get(v));
        break;
    }
    case MD_T_STR: {
        const char *s = NULL;
        size_t n = 0;
        if (t != XMLRPC_TYPE_STRING)
            return mismatch("expected a string, got type %d", t);
        xmlrpc_read_string_lp(&e, x, &n, &s);
        ok = !e.fault_occurred && n == md_str_nbytes(v) && memcmp(s, md_str_data(v), n) == 0;
        if (!ok)
            mismatch("string '%.*s' (%zu bytes), wanted '%s' (%zu bytes)", (int)(n > 60 ? 60 : n),
                     s ? s : "", n, md_str_data(v), md_str_nbytes(v));
        free((void *)s);
        break;
    }
    case MD_T_BYTES: {
        const unsigned char *d = NULL;
        size_t n = 0;
        if (t != XMLRPC_TYPE_BASE64)
            return mismatch("expected base64, got type %d", t);
        xmlrpc_read_base64(&e, x, &n, &d);
        ok = n == md_bytes_len(v) && (n == 0 || memcmp(d, md_bytes_data(v), n) == 0);
        if (!ok)
            mismatch("base64 of %zu bytes differs (wanted %zu)", n, md_bytes_len(v));
        free((void *)d);
        break;
    }
    case MD_T_LIST: {
        if (t != XMLRPC_TYPE_ARRAY)
            return mismatch("expected an array, got type %d", t);
        size_t n = (size_t)xmlrpc_array_size(&e, x);
        if (n != md_list_len(v))
            return mismatch("array of %zu items, wanted %zu", n, md_list_len(v));
        ok = true;
        for (size_t i = 0; ok && i < n; i++) {
            xmlrpc_value *item = NULL;
            xmlrpc_array_read_item(&e, x, (unsigned)i, &item);
            ok = item && xv_equals(item, md_list_get(v, i));
            if (item)
                xmlrpc_DECREF(item);
        }
        break;
    }
    case MD_T_DICT: {
        if (t != XMLRPC_TYPE_STRUCT)
            return mismatch("expected a struct, got type %d", t);
        size_t n = (size_t)xmlrpc_struct_size(&e, x);
        if (n != md_dict_len(v))
            return mismatch("struct of %zu members, wanted %zu", n, md_dict_len(v));
        size_t pos = 0;
        md_val *k, *item;
        ok = true;
        while (ok && md_dict_next(v, &pos, &k, &item)) {
            xmlrpc_value *got = NULL;
            xmlrpc_struct_find_value(&e, x, md_str_data(k), &got);
            if (!got)
                return mismatch("struct member '%s' missing", md_str_data(k));
            ok = xv_equals(got, item);
            xmlrpc_DECREF(got);
        }
        break;
    }
    default:
        ok = mismatch("unexpected managerd type %s", md_type_name(v));
    }
    if (e.fault_occurred)
        ok = mismatch("xmlrpc-c: %s", e.fault_string);
    xmlrpc_env_clean(&e);
    return ok;
}

/* Python equality, plus: a float is a float and an int an int (1 == 1.0
 * in Python, but the types must survive). */
static bool md_same(const md_val *a, const md_val *b)
{
    if (md_typeof(a) != md_typeof(b))
        return mismatch("type %s, wanted %s", md_type_name(a), md_type_name(b));
    md_vtype t = md_typeof(a);
    if (t == MD_T_LIST) {
        if (md_list_len(a) != md_list_len(b))
            return mismatch("list of %zu, wanted %zu", md_list_len(a), md_list_len(b));
        for (size_t i = 0; i < md_list_len(a); i++)
            if (!md_same(md_list_get(a, i), md_list_get(b, i)))
                return false;
        return true;
    }
    if (t == MD_T_DICT) {
        if (md_dict_len(a) != md_dict_len(b))
            return mismatch("dict of %zu, wanted %zu", md_dict_len(a), md_dict_len(b));
        size_t pos = 0;
        md_val *k, *item;
        while (md_dict_next(b, &pos, &k, &item)) {
            md_pyerr e;
            md_pyerr_clear(&e);
            md_val *got = md_dict_get(a, k, &e); /* borrowed */
            if (!got)
                return mismatch("key '%s' missing", md_str_data(k));
            if (!md_same(got, item))
                return false;
        }
        return true;
    }
    if (t == MD_T_FLOAT)
        return doubles_match(md_float_get(a), md_float_get(b));
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_val_eq(a, b, &e) == 1)
        return true;
    md_buf ra = MD_BUF_INIT, rb = MD_BUF_INIT;
    md_val_repr(a, &ra, &e);
    md_val_repr(b, &rb, &e);
    mismatch("%.*s, wanted %.*s", (int)(ra.len > 100 ? 100 : ra.len), (const char *)ra.data,
             (int)(rb.len > 100 ? 100 : rb.len), (const char *)rb.data);
    md_buf_free(&ra);
    md_buf_free(&rb);
    return false;
}

/* ---- the two directions ------------------------------------------------------ */

static bool managerd_to_xmlrpcc(const pair *p)
{
    md_buf out = MD_BUF_INIT;
    md_codec_err err;
    if (md_xmlrpc_encode_response(p->md, &out, &err) != 0) {
        md_buf_free(&out);
        return mismatch("managerd could not write it: %s", err.msg);
    }
    xmlrpc_env e;
    xmlrpc_env_init(&e);
    xmlrpc_value *got = NULL;
    int fault_code = 0;
    const char *fault = NULL;
    xmlrpc_parse_response2(&e, (const char *)out.data, out.len, &got, &fault_code, &fault);
    bool ok;
    if (e.fault_occurred)
        ok = mismatch("xmlrpc_parse_response2 refused managerd's response: %s", e.fault_string);
    else if (fault)
        ok = mismatch("xmlrpc-c read a fault: %s", fault);
    else
        ok = xv_equals(got, p->md);
    if (got)
        xmlrpc_DECREF(got);
    free((void *)fault);
    xmlrpc_env_clean(&e);
    /* the <value> element alone, with xmlrpc_parse_value_xml */
    if (ok) {
        md_buf val = MD_BUF_INIT;
        md_xmlrpc_encode_value(p->md, &val, &err);
        xmlrpc_env_init(&e);
        got = NULL;
        xmlrpc_parse_value_xml(&e, (const char *)val.data, val.len, &got);
        if (e.fault_occurred)
            ok = mismatch("xmlrpc_parse_value_xml refused managerd's value: %s", e.fault_string);
        else
            ok = xv_equals(got, p->md);
        if (got)
            xmlrpc_DECREF(got);
        xmlrpc_env_clean(&e);
        md_buf_free(&val);
    }
    if (!ok)
        fprintf(stderr, "---- managerd wrote:\n%.*s\n", (int)(out.len > 3000 ? 3000 : out.len),
                (const char *)out.data);
    md_buf_free(&out);
    return ok;
}

/* The <params>...</params> of a response xmlrpc-c wrote. */
static bool params_slice(const char *doc, size_t n, size_t *start, size_t *len)
{
    const char *a = memmem(doc, n, "<params>", 8);
    const char *b = NULL;
    for (const char *s = doc; s && (s = memmem(s, n - (size_t)(s - doc), "</params>", 9)); s++)
        b = s;
    if (!a || !b || b < a)
        return false;
    *start = (size_t)(a - doc);
    *len = (size_t)(b + 9 - a);
    return true;
}

static bool xmlrpcc_to_managerd(const pair *p)
{
    xmlrpc_env e;
    xmlrpc_env_init(&e);
    xmlrpc_mem_block *mb = xmlrpc_mem_block_new(&e, 0);
    xmlrpc_serialize_response2(&e, mb, p->xv, xmlrpc_dialect_i8);
    if (e.fault_occurred) {
        bool r = mismatch("xmlrpc-c could not write it: %s", e.fault_string);
        XMLRPC_MEMBLOCK_FREE(char, mb);
        xmlrpc_env_clean(&e);
        return r;
    }
    const char *doc = XMLRPC_MEMBLOCK_CONTENTS(char, mb);
    size_t n = XMLRPC_MEMBLOCK_SIZE(char, mb);
    size_t start, len;
    bool ok;
    md_val *got = NULL;
    md_codec_err err;
    if (!params_slice(doc, n, &start, &len))
        ok = mismatch("no <params> in xmlrpc-c's response");
    else if (md_xmlrpc_decode((const uint8_t *)doc + start, len, NULL, &got, NULL, &err) != 0)
        ok = mismatch("managerd refused xmlrpc-c's response: %s", err.msg);
    else
        ok = md_same(got, p->md);
    md_decref(got);
    if (!ok)
        fprintf(stderr, "---- xmlrpc-c wrote:\n%.*s\n", (int)(n > 3000 ? 3000 : n), doc);
    XMLRPC_MEMBLOCK_FREE(char, mb);

    /* and as the only parameter of a call */
    if (ok) {
        xmlrpc_value *params = xmlrpc_array_new(&e);
        xmlrpc_array_append_item(&e, params, p->xv);
        mb = xmlrpc_mem_block_new(&e, 0);
        xmlrpc_serialize_call2(&e, mb, "call", params, xmlrpc_dialect_i8);
        md_val *method = NULL, *list = NULL;
        if (e.fault_occurred)
            ok = mismatch("xmlrpc-c could not write the call: %s", e.fault_string);
        else if (md_xmlrpc_decode_call((const uint8_t *)XMLRPC_MEMBLOCK_CONTENTS(char, mb),
                                       XMLRPC_MEMBLOCK_SIZE(char, mb), NULL, &method, &list,
                                       &err) != 0)
            ok = mismatch("managerd refused xmlrpc-c's call: %s", err.msg);
        else if (!md_str_eq_cstr(method, "call") || md_list_len(list) != 1)
            ok = mismatch("call read with the wrong name or arity");
        else
            ok = md_same(md_list_get(list, 0), p->md);
        md_decref(method);
        md_decref(list);
        XMLRPC_MEMBLOCK_FREE(char, mb);
        xmlrpc_DECREF(params);
    }
    xmlrpc_env_clean(&e);
    return ok;
}

/* A double alone: managerd's reading of xmlrpc-c's text is exactly
 * strtod's reading of that text. */
static bool exact_double_check(double d)
{
    xmlrpc_env e;
    xmlrpc_env_init(&e);
    xmlrpc_value *x = xmlrpc_double_new(&e, d);
    xmlrpc_mem_block *mb = xmlrpc_mem_block_new(&e, 0);
    xmlrpc_serialize_value(&e, mb, x);
    md_buf doc = MD_BUF_INIT;
    md_buf_puts(&doc, "<params><param>");
    md_buf_append(&doc, XMLRPC_MEMBLOCK_CONTENTS(char, mb), XMLRPC_MEMBLOCK_SIZE(char, mb));
    md_buf_puts(&doc, "</param></params>");
    md_buf_putc(&doc, 0);
    const char *text = strstr((const char *)doc.data, "<double>");
    double want = text ? strtod(text + 8, NULL) : NAN;
    md_val *got = NULL;
    md_codec_err err;
    bool ok;
    if (md_xmlrpc_decode(doc.data, doc.len - 1, NULL, &got, NULL, &err) != 0)
        ok = mismatch("managerd refused xmlrpc-c's double: %s", err.msg);
    else
        ok = (md_typeof(got) == MD_T_FLOAT && md_float_get(got) == want &&
              signbit(md_float_get(got)) == signbit(want)) ||
             mismatch("managerd read %s as %.17g", text, md_float_get(got));
    md_decref(got);
    md_buf_free(&doc);
    XMLRPC_MEMBLOCK_FREE(char, mb);
    xmlrpc_DECREF(x);
    xmlrpc_env_clean(&e);
    return ok;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 20240601;
    if (rng_state == 0)
        rng_state = 1;
    xmlrpc_env_init(&env);
    /* deep enough for what we make (depth 4 plus the response) */
    xmlrpc_limit_set(XMLRPC_NESTING_LIMIT_ID, 64);
    long passed = 0, failed = 0;
    for (long i = 0; i < count; i++) {
        pair p = random_value(0);
        bool a = managerd_to_xmlrpcc(&p);
        if (!a)
            fprintf(stderr, "value %ld, managerd -> xmlrpc-c: %s\n", i, why);
        bool b = xmlrpcc_to_managerd(&p);
        if (!b)
            fprintf(stderr, "value %ld, xmlrpc-c -> managerd: %s\n", i, why);
        passed += a + b;
        failed += !a + !b;
        if (i % 4 == 0) {
            bool c = exact_double_check(random_double());
            if (!c)
                fprintf(stderr, "value %ld, exact double: %s\n", i, why);
            passed += c;
            failed += !c;
        }
        md_decref(p.md);
        xmlrpc_DECREF(p.xv);
    }
    xmlrpc_env_clean(&env);
    printf("xmlrpcc_ref: %ld random values, both directions (largest double error, "
           "xmlrpc-c's: %" PRIu64 " ULPs)\n", count, max_ulps);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
