/* test_xmlrpc.c - unit tests of the XML-RPC codec (serializers/xmlrpc.c):
 * Python's exact byte layout for every type (the literals below were
 * written by CPython 3.12's xmlrpc.client.dumps((v,), allow_none=True)),
 * every wire fixture decoding and re-encoding byte for byte, the
 * readings of each XML-RPC type, hostile input (DTDs, entities, deep
 * nesting, huge bodies, bad base64/int/boolean/double), the values that
 * cannot be written, whole method calls and responses, and an
 * allocation-failure sweep. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/protocol/protocol.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "serializers/pickle.h" /* md_pickle_limits, md_pickle_err: the codec types */
#include "serializers/xmlrpc.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

/* ======================================================================
 * Python's bytes: xmlrpc.client.dumps((v,), allow_none=True), 3.12
 * ====================================================================== */

/* None */
static const char PY_NONE[] = "<params>\n"
                              "<param>\n"
                              "<value><nil/></value></param>\n"
                              "</params>\n";
/* True */
static const char PY_TRUE[] = "<params>\n"
                              "<param>\n"
                              "<value><boolean>1</boolean></value>\n"
                              "</param>\n"
                              "</params>\n";
/* False */
static const char PY_FALSE[] = "<params>\n"
                               "<param>\n"
                               "<value><boolean>0</boolean></value>\n"
                               "</param>\n"
                               "</params>\n";
/* 0 */
static const char PY_INT0[] = "<params>\n"
                              "<param>\n"
                              "<value><int>0</int></value>\n"
                              "</param>\n"
                              "</params>\n";
/* -1 */
static const char PY_INTNEG[] = "<params>\n"
                                "<param>\n"
                                "<value><int>-1</int></value>\n"
                                "</param>\n"
                                "</params>\n";
/* 2**31 - 1 */
static const char PY_INTMAX[] = "<params>\n"
                                "<param>\n"
                                "<value><int>2147483647</int></value>\n"
                                "</param>\n"
                                "</params>\n";
/* -2**31 */
static const char PY_INTMIN[] = "<params>\n"
                                "<param>\n"
                                "<value><int>-2147483648</int></value>\n"
                                "</param>\n"
                                "</params>\n";
/* 1.5 */
static const char PY_FLOAT[] = "<params>\n"
                               "<param>\n"
                               "<value><double>1.5</double></value>\n"
                               "</param>\n"
                               "</params>\n";
/* float('inf') */
static const char PY_FLOATINF[] = "<params>\n"
                                  "<param>\n"
                                  "<value><double>inf</double></value>\n"
                                  "</param>\n"
                                  "</params>\n";
/* float('-inf') */
static const char PY_FLOATNINF[] = "<params>\n"
                                   "<param>\n"
                                   "<value><double>-inf</double></value>\n"
                                   "</param>\n"
                                   "</params>\n";
/* float('nan') */
static const char PY_FLOATNAN[] = "<params>\n"
                                  "<param>\n"
                                  "<value><double>nan</double></value>\n"
                                  "</param>\n"
                                  "</params>\n";
/* -0.0 */
static const char PY_FLOATNEGZERO[] = "<params>\n"
                                      "<param>\n"
                                      "<value><double>-0.0</double></value>\n"
                                      "</param>\n"
                                      "</params>\n";
/* 1e100 */
static const char PY_FLOAT1E100[] = "<params>\n"
                                    "<param>\n"
                                    "<value><double>1e+100</double></value>\n"
                                    "</param>\n"
                                    "</params>\n";
/* 0.1 */
static const char PY_FLOAT_TENTH[] = "<params>\n"
                                     "<param>\n"
                                     "<value><double>0.1</double></value>\n"
                                     "</param>\n"
                                     "</params>\n";
/* 1e-07 */
static const char PY_FLOAT_SMALL[] = "<params>\n"
                                     "<param>\n"
                                     "<value><double>1e-07</double></value>\n"
                                     "</param>\n"
                                     "</params>\n";
/* 'a&b<c>d"e\'f\tg\nh' */
static const char PY_STR[] = "<params>\n"
                             "<param>\n"
                             "<value><string>a&amp;b&lt;c&gt;d\"e'f\tg\n"
                             "h</string></value>\n"
                             "</param>\n"
                             "</params>\n";
/* 'h\u00e9llo \u20ac \U0001F600' */
static const char PY_STR_UNICODE[] = "<params>\n"
                                     "<param>\n"
                                     "<value><string>h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"
                                     "</string></value>\n"
                                     "</param>\n"
                                     "</params>\n";
/* '' */
static const char PY_STR_EMPTY[] = "<params>\n"
                                   "<param>\n"
                                   "<value><string></string></value>\n"
                                   "</param>\n"
                                   "</params>\n";
/* b'' */
static const char PY_BYTES_EMPTY[] = "<params>\n"
                                     "<param>\n"
                                     "<value><base64>\n"
                                     "</base64></value>\n"
                                     "</param>\n"
                                     "</params>\n";
/* bytes(range(100)): two base64 lines, the first of 76 characters */
static const char PY_BYTES[] =
    "<params>\n"
    "<param>\n"
    "<value><base64>\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\n"
    "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==\n"
    "</base64></value>\n"
    "</param>\n"
    "</params>\n";
/* bytearray(b'xyz') */
static const char PY_BYTEARRAY[] = "<params>\n"
                                   "<param>\n"
                                   "<value><base64>\n"
                                   "eHl6\n"
                                   "</base64></value>\n"
                                   "</param>\n"
                                   "</params>\n";
/* [] */
static const char PY_LIST_EMPTY[] = "<params>\n"
                                    "<param>\n"
                                    "<value><array><data>\n"
                                    "</data></array></value>\n"
                                    "</param>\n"
                                    "</params>\n";
/* [1, 'two', [3.0, None]] */
static const char PY_LIST[] = "<params>\n"
                              "<param>\n"
                              "<value><array><data>\n"
                              "<value><int>1</int></value>\n"
                              "<value><string>two</string></value>\n"
                              "<value><array><data>\n"
                              "<value><double>3.0</double></value>\n"
                              "<value><nil/></value></data></array></value>\n"
                              "</data></array></value>\n"
                              "</param>\n"
                              "</params>\n";
/* (1, (2,)) */
static const char PY_TUPLE[] = "<params>\n"
                               "<param>\n"
                               "<value><array><data>\n"
                               "<value><int>1</int></value>\n"
                               "<value><array><data>\n"
                               "<value><int>2</int></value>\n"
                               "</data></array></value>\n"
                               "</data></array></value>\n"
                               "</param>\n"
                               "</params>\n";
/* {} */
static const char PY_DICT_EMPTY[] = "<params>\n"
                                    "<param>\n"
                                    "<value><struct>\n"
                                    "</struct></value>\n"
                                    "</param>\n"
                                    "</params>\n";
/* {'a': 1, 'b&<': [True], 'c': {'d': None}} */
static const char PY_DICT[] = "<params>\n"
                              "<param>\n"
                              "<value><struct>\n"
                              "<member>\n"
                              "<name>a</name>\n"
                              "<value><int>1</int></value>\n"
                              "</member>\n"
                              "<member>\n"
                              "<name>b&amp;&lt;</name>\n"
                              "<value><array><data>\n"
                              "<value><boolean>1</boolean></value>\n"
                              "</data></array></value>\n"
                              "</member>\n"
                              "<member>\n"
                              "<name>c</name>\n"
                              "<value><struct>\n"
                              "<member>\n"
                              "<name>d</name>\n"
                              "<value><nil/></value></member>\n"
                              "</struct></value>\n"
                              "</member>\n"
                              "</struct></value>\n"
                              "</param>\n"
                              "</params>\n";
/* xmlrpc.client.DateTime('20240102T03:04:05') */
static const char PY_DATETIME[] =
    "<params>\n"
    "<param>\n"
    "<value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value>\n"
    "</param>\n"
    "</params>\n";
/* dumps(Fault(1, "KeyError: 'a&b'"), methodresponse=True) */
static const char PY_FAULT[] = "<?xml version='1.0'?>\n"
                               "<methodResponse>\n"
                               "<fault>\n"
                               "<value><struct>\n"
                               "<member>\n"
                               "<name>faultCode</name>\n"
                               "<value><int>1</int></value>\n"
                               "</member>\n"
                               "<member>\n"
                               "<name>faultString</name>\n"
                               "<value><string>KeyError: 'a&amp;b'</string></value>\n"
                               "</member>\n"
                               "</struct></value>\n"
                               "</fault>\n"
                               "</methodResponse>\n";
/* dumps(([1, 'x'],), methodresponse=True, allow_none=True) */
static const char PY_RESPONSE[] = "<?xml version='1.0'?>\n"
                                  "<methodResponse>\n"
                                  "<params>\n"
                                  "<param>\n"
                                  "<value><array><data>\n"
                                  "<value><int>1</int></value>\n"
                                  "<value><string>x</string></value>\n"
                                  "</data></array></value>\n"
                                  "</param>\n"
                                  "</params>\n"
                                  "</methodResponse>\n";
/* dumps(('dict', [], {}), 'create', allow_none=True) */
static const char PY_CALL[] = "<?xml version='1.0'?>\n"
                              "<methodCall>\n"
                              "<methodName>create</methodName>\n"
                              "<params>\n"
                              "<param>\n"
                              "<value><string>dict</string></value>\n"
                              "</param>\n"
                              "<param>\n"
                              "<value><array><data>\n"
                              "</data></array></value>\n"
                              "</param>\n"
                              "<param>\n"
                              "<value><struct>\n"
                              "</struct></value>\n"
                              "</param>\n"
                              "</params>\n"
                              "</methodCall>\n";

/* ======================================================================
 * Helpers
 * ====================================================================== */

/* A dict of n (key, value) pairs given as C string and stolen value (the
 * builders S, I, L, ... are support.h's). */
static md_val *DS(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    md_val *d = md_dict_new();
    for (size_t i = 0; i < n; i++) {
        md_val *k = S(va_arg(ap, const char *));
        md_val *v = va_arg(ap, md_val *);
        md_pyerr e = {0};
        md_dict_set(d, k, v, &e);
        md_decref(k);
        md_decref(v);
    }
    va_end(ap);
    return d;
}

static bool bytes_are(const md_buf *b, const char *expect, size_t n)
{
    bool ok = b->len == n && memcmp(b->data, expect, n) == 0;
    if (!ok)
        fprintf(stderr, "\n  wrote (%zu bytes):\n%.*s\n  wanted (%zu bytes):\n%.*s\n", b->len,
                (int)b->len, b->data ? (const char *)b->data : "", n, (int)n, expect);
    return ok;
}

/* md_xmlrpc_encode(v) equals Python's bytes exactly. Steals v. */
static void check_layout(md_val *v, const char *py, size_t n)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(v, 0, &b, &err), 0);
    CU_ASSERT(bytes_are(&b, py, n));
    md_buf_free(&b);
    md_decref(v);
}
#define LAYOUT(v, lit) check_layout((v), (lit), sizeof(lit) - 1)

static md_val *dec_ok(const uint8_t *data, size_t n)
{
    int proto = -1;
    md_val *v = md_ts_dec_ok(&md_codec_xmlrpc, data, n, &proto);
    if (v)
        CU_ASSERT_EQUAL(proto, 0);
    return v;
}
#define DEC_OK(lit) dec_ok(LIT(lit))

#define DEC_FAILS(lit, code, want) CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, LIT(lit), NULL, (code), (want)))

/* The value inside <value>...</value>, wrapped in a one-param message. */
static md_val *dec_value(const char *inner)
{
    md_buf b = MD_BUF_INIT;
    md_buf_printf(&b, "<params><param><value>%s</value></param></params>", inner);
    md_val *v = NULL;
    md_pickle_err err;
    int rc = md_xmlrpc_decode(b.data, b.len, NULL, &v, NULL, &err);
    if (rc)
        fprintf(stderr, "\n  decoding <value>%s</value>: %s\n", inner, err.msg);
    md_buf_free(&b);
    return rc ? NULL : v;
}

/* Decoding <value>inner</value> fails with code and a message holding want. */
static bool value_fails(const char *inner, int code, const char *want)
{
    md_buf b = MD_BUF_INIT;
    md_buf_printf(&b, "<params><param><value>%s</value></param></params>", inner);
    bool ok = md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, NULL, code, want);
    md_buf_free(&b);
    return ok;
}

/* Encoding v fails with code and a message holding want; out is left
 * as it was. Steals v. */
static bool enc_fails(md_val *v, int code, const char *want)
{
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "keep");
    md_pickle_err err;
    int rc = md_xmlrpc_encode(v, 0, &b, &err);
    bool ok = rc == code && err.code == code && strstr(err.msg, want) != NULL && b.len == 4 &&
              memcmp(b.data, "keep", 4) == 0;
    if (!ok)
        fprintf(stderr, "\n  encode gave %d \"%s\" (%zu bytes), wanted %d \"%s\"\n", rc, err.msg,
                b.len, code, want);
    /* the HTTP flavour refuses the same values */
    md_buf h = MD_BUF_INIT;
    ok = ok && md_xmlrpc_encode_response(v, &h, &err) == code && h.len == 0;
    md_buf_free(&h);
    md_buf_free(&b);
    md_decref(v);
    return ok;
}

/* Decode Python's bytes and encode again: the same bytes. */
static void check_roundtrip(const char *py, size_t n)
{
    md_val *v = dec_ok((const uint8_t *)py, n);
    if (!v)
        return;
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(v, 0, &b, &err), 0);
    CU_ASSERT(bytes_are(&b, py, n));
    md_buf_free(&b);
    md_decref(v);
}
#define ROUNDTRIP(lit) check_roundtrip((lit), sizeof(lit) - 1)

/* n nested arrays around an int, as one <params> message. */
static void nested_arrays(md_buf *b, size_t n)
{
    md_buf_puts(b, "<params><param>");
    for (size_t i = 0; i < n; i++)
        md_buf_puts(b, "<value><array><data>");
    md_buf_puts(b, "<value><int>1</int></value>");
    for (size_t i = 0; i < n; i++)
        md_buf_puts(b, "</data></array></value>");
    md_buf_puts(b, "</param></params>");
}

/* ======================================================================
 * Python's layout, every type
 * ====================================================================== */

static void test_xmlrpc_layout_scalars_match_python(void)
{
    LAYOUT(md_none(), PY_NONE);
    LAYOUT(md_true(), PY_TRUE);
    LAYOUT(md_false(), PY_FALSE);
    LAYOUT(I(0), PY_INT0);
    LAYOUT(I(-1), PY_INTNEG);
    LAYOUT(I(2147483647), PY_INTMAX);
    LAYOUT(I(-2147483648LL), PY_INTMIN);
}

static void test_xmlrpc_layout_floats_match_python_repr(void)
{
    LAYOUT(md_float_new(1.5), PY_FLOAT);
    LAYOUT(md_float_new(INFINITY), PY_FLOATINF);
    LAYOUT(md_float_new(-INFINITY), PY_FLOATNINF);
    LAYOUT(md_float_new(NAN), PY_FLOATNAN);
    LAYOUT(md_float_new(-0.0), PY_FLOATNEGZERO);
    LAYOUT(md_float_new(1e100), PY_FLOAT1E100);
    LAYOUT(md_float_new(0.1), PY_FLOAT_TENTH);
    LAYOUT(md_float_new(1e-7), PY_FLOAT_SMALL);
}

static void test_xmlrpc_layout_strings_escape_only_amp_lt_gt(void)
{
    LAYOUT(S("a&b<c>d\"e'f\tg\nh"), PY_STR);
    LAYOUT(S("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), PY_STR_UNICODE);
    LAYOUT(S(""), PY_STR_EMPTY);
}

static void test_xmlrpc_layout_binary_in_lines_of_76(void)
{
    uint8_t data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
    LAYOUT(md_bytes_new("", 0), PY_BYTES_EMPTY);
    LAYOUT(md_bytes_new(data, sizeof data), PY_BYTES);
    LAYOUT(md_bytearray_new("xyz", 3), PY_BYTEARRAY);
}

static void test_xmlrpc_layout_arrays_and_structs_match_python(void)
{
    LAYOUT(md_list_new(0), PY_LIST_EMPTY);
    LAYOUT(L(3, I(1), S("two"), L(2, md_float_new(3.0), md_none())), PY_LIST);
    md_val *one = I(1), *two = I(2);
    md_val *inner = md_tuple_pack(1, two); /* pack borrows its items */
    md_val *t = md_tuple_pack(2, one, inner);
    md_decref(one);
    md_decref(two);
    md_decref(inner);
    LAYOUT(t, PY_TUPLE);
    LAYOUT(md_dict_new(), PY_DICT_EMPTY);
    LAYOUT(DS(3, "a", I(1), "b&<", L(1, md_true()), "c", DS(1, "d", md_none())), PY_DICT);
}

static void test_xmlrpc_layout_datetime_round_trips(void)
{
    md_val *v = DEC_OK(PY_DATETIME);
    CU_ASSERT_EQUAL(md_typeof(v), MD_T_OPAQUE);
    CU_ASSERT(md_global_is(md_opaque_callable(v), "xmlrpc.client", "DateTime"));
    CU_ASSERT(md_ts_repr_is(md_opaque_args(v), "('20240102T03:04:05',)"));
    check_layout(v, PY_DATETIME, sizeof PY_DATETIME - 1);
}

static void test_xmlrpc_python_bytes_decode_and_reencode_identically(void)
{
    ROUNDTRIP(PY_NONE);
    ROUNDTRIP(PY_TRUE);
    ROUNDTRIP(PY_FALSE);
    ROUNDTRIP(PY_INT0);
    ROUNDTRIP(PY_INTNEG);
    ROUNDTRIP(PY_INTMAX);
    ROUNDTRIP(PY_INTMIN);
    ROUNDTRIP(PY_FLOAT);
    ROUNDTRIP(PY_FLOATINF);
    ROUNDTRIP(PY_FLOATNINF);
    ROUNDTRIP(PY_FLOATNAN);
    ROUNDTRIP(PY_FLOATNEGZERO);
    ROUNDTRIP(PY_FLOAT1E100);
    ROUNDTRIP(PY_FLOAT_TENTH);
    ROUNDTRIP(PY_FLOAT_SMALL);
    ROUNDTRIP(PY_STR);
    ROUNDTRIP(PY_STR_UNICODE);
    ROUNDTRIP(PY_STR_EMPTY);
    ROUNDTRIP(PY_BYTES_EMPTY);
    ROUNDTRIP(PY_BYTES);
    ROUNDTRIP(PY_LIST_EMPTY);
    ROUNDTRIP(PY_LIST);
    ROUNDTRIP(PY_TUPLE);
    ROUNDTRIP(PY_DICT_EMPTY);
    ROUNDTRIP(PY_DICT);
    ROUNDTRIP(PY_DATETIME);
}

static void test_xmlrpc_decoded_values_have_python_meaning(void)
{
    md_val *v = DEC_OK(PY_DICT);
    CU_ASSERT(md_ts_repr_is(v, "{'a': 1, 'b&<': [True], 'c': {'d': None}}"));
    md_decref(v);
    v = DEC_OK(PY_STR);
    CU_ASSERT(md_ts_repr_is(v, "'a&b<c>d\"e\\'f\\tg\\nh'"));
    md_decref(v);
    v = DEC_OK(PY_BYTEARRAY); /* base64 reads as bytes */
    CU_ASSERT(md_ts_repr_is(v, "b'xyz'"));
    md_decref(v);
    v = DEC_OK(PY_FLOATNEGZERO);
    CU_ASSERT(md_typeof(v) == MD_T_FLOAT && signbit(md_float_get(v)));
    md_decref(v);
    v = DEC_OK(PY_FLOATNAN);
    CU_ASSERT(md_typeof(v) == MD_T_FLOAT && isnan(md_float_get(v)));
    md_decref(v);
    v = DEC_OK(PY_LIST);
    md_val *want = L(3, I(1), S("two"), L(2, md_float_new(3.0), md_none()));
    CU_ASSERT(md_ts_val_eq(v, want));
    md_decref(want);
    md_decref(v);
    v = DEC_OK(PY_TUPLE); /* tuples arrive as lists */
    CU_ASSERT(md_ts_repr_is(v, "[1, [2]]"));
    md_decref(v);
}

/* Every *.xml capture of the wire fixtures decodes, and re-encodes to
 * exactly the bytes Python wrote (2.7 and 3.12, requests and replies). */
static void test_xmlrpc_wire_fixtures_reencode_byte_for_byte(void)
{
    DIR *dir = opendir(md_test_fixtures_dir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    int seen = 0;
    for (struct dirent *de; (de = readdir(dir));) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".xml") != 0)
            continue;
        size_t n;
        uint8_t *data = md_test_read_fixture(de->d_name, &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(data);
        md_val *v = NULL;
        md_pickle_err err;
        int rc = md_xmlrpc_decode(data, n, NULL, &v, NULL, &err);
        if (rc)
            fprintf(stderr, "\n  %s: %s\n", de->d_name, err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        if (!rc) {
            md_buf b = MD_BUF_INIT;
            CU_ASSERT_EQUAL(md_xmlrpc_encode(v, 0, &b, &err), 0);
            if (!(b.len == n && memcmp(b.data, data, n) == 0)) {
                fprintf(stderr, "\n  %s re-encodes differently\n", de->d_name);
                CU_FAIL("fixture re-encoding differs");
            }
            md_buf_free(&b);
            md_decref(v);
        }
        free(data);
        seen++;
    }
    closedir(dir);
    CU_ASSERT(seen >= 24);
}

/* ======================================================================
 * Reading: every type name, whitespace, integers of any size
 * ====================================================================== */

static void test_xmlrpc_reads_every_integer_tag(void)
{
    const char *tags[] = {"int", "i4", "i8", "i1", "i2", "biginteger"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char inner[80];
        snprintf(inner, sizeof inner, "<%s> -42 </%s>", tags[i], tags[i]);
        md_val *v = dec_value(inner);
        CU_ASSERT(md_ts_repr_is(v, "-42"));
        md_decref(v);
    }
    md_val *v = dec_value("<int>123456789012345678901234567890</int>");
    CU_ASSERT(md_ts_repr_is(v, "123456789012345678901234567890"));
    md_decref(v);
    v = dec_value("<i8>-9223372036854775808</i8>");
    CU_ASSERT(md_ts_repr_is(v, "-9223372036854775808"));
    md_decref(v);
    v = dec_value("<int>+7</int>");
    CU_ASSERT(md_ts_repr_is(v, "7"));
    md_decref(v);
}

static void test_xmlrpc_reads_double_float_string_and_bare_text(void)
{
    md_val *v = dec_value("<float>2.5</float>");
    CU_ASSERT(md_ts_repr_is(v, "2.5"));
    md_decref(v);
    v = dec_value("<double> -1e300 </double>");
    CU_ASSERT(md_ts_repr_is(v, "-1e+300"));
    md_decref(v);
    v = dec_value("plain text");
    CU_ASSERT(md_ts_repr_is(v, "'plain text'"));
    md_decref(v);
    v = dec_value("");
    CU_ASSERT(md_ts_repr_is(v, "''"));
    md_decref(v);
    v = dec_value("<string/>");
    CU_ASSERT(md_ts_repr_is(v, "''"));
    md_decref(v);
    v = dec_value("<string>&#65;&#x42;&quot;&apos;&lt;<![CDATA[<&>]]></string>");
    CU_ASSERT(md_ts_repr_is(v, "'AB\"\\'<<&>'"));
    md_decref(v);
    /* the XML parser turns \r\n and \r into \n, as expat does for Python */
    v = dec_value("<string>a\r\nb\rc</string>");
    CU_ASSERT(md_ts_repr_is(v, "'a\\nb\\nc'"));
    md_decref(v);
}

static void test_xmlrpc_reads_whitespace_and_comments_between_elements(void)
{
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<!-- a comment -->\n"
                              "<params>\n  <param>\n    <value>\n      <struct>\n"
                              "        <member> <name>k</name> <!-- c -->\n"
                              "          <value> <array> <data>\n"
                              "            <value><boolean>1</boolean></value>\n"
                              "            <value><nil /></value>\n"
                              "          </data> </array> </value>\n"
                              "        </member>\n      </struct>\n    </value>\n  </param>\n"
                              "</params>\n";
    md_val *v = DEC_OK(doc);
    CU_ASSERT(md_ts_repr_is(v, "{'k': [True, None]}"));
    md_decref(v);
}

static void test_xmlrpc_struct_duplicate_member_last_wins(void)
{
    md_val *v = dec_value("<struct><member><name>a</name><value><int>1</int></value></member>"
                          "<member><name>a</name><value><int>2</int></value></member></struct>");
    CU_ASSERT(md_ts_repr_is(v, "{'a': 2}"));
    md_decref(v);
}

static void test_xmlrpc_bool_reads_only_0_and_1(void)
{
    md_val *v = dec_value("<boolean>0</boolean>");
    CU_ASSERT(v == md_false());
    md_decref(v);
    CU_ASSERT(value_fails("<boolean>2</boolean>", MD_EPROTO, "bad boolean value"));
    CU_ASSERT(value_fails("<boolean>true</boolean>", MD_EPROTO, "bad boolean value"));
    CU_ASSERT(value_fails("<boolean></boolean>", MD_EPROTO, "bad boolean value"));
    CU_ASSERT(value_fails("<boolean> 1</boolean>", MD_EPROTO, "bad boolean value"));
}

static void test_xmlrpc_bad_int_refused(void)
{
    CU_ASSERT(value_fails("<int>12a</int>", MD_EPROTO, "bad integer"));
    CU_ASSERT(value_fails("<int></int>", MD_EPROTO, "bad integer"));
    CU_ASSERT(value_fails("<int>1.5</int>", MD_EPROTO, "bad integer"));
    CU_ASSERT(value_fails("<i4>0x10</i4>", MD_EPROTO, "bad integer"));
    CU_ASSERT(value_fails("<i8>- 1</i8>", MD_EPROTO, "bad integer"));
    CU_ASSERT(value_fails("<int>1L</int>", MD_EPROTO, "bad integer"));
}

static void test_xmlrpc_bad_double_refused(void)
{
    CU_ASSERT(value_fails("<double>abc</double>", MD_EPROTO, "bad double"));
    CU_ASSERT(value_fails("<double>1.5x</double>", MD_EPROTO, "bad double"));
    CU_ASSERT(value_fails("<double></double>", MD_EPROTO, "bad double"));
}

static void test_xmlrpc_bad_base64_refused(void)
{
    md_val *v = dec_value("<base64>\n  aGVs\nbG8=\n</base64>");
    CU_ASSERT(md_ts_repr_is(v, "b'hello'"));
    md_decref(v);
    CU_ASSERT(value_fails("<base64>@@@@</base64>", MD_EPROTO, "bad base64"));
    CU_ASSERT(value_fails("<base64>aGVsbG8</base64>", MD_EPROTO, "bad base64"));
    CU_ASSERT(value_fails("<base64>aGVsbG8===</base64>", MD_EPROTO, "bad base64"));
    CU_ASSERT(value_fails("<base64>a</base64>", MD_EPROTO, "bad base64"));
}

static void test_xmlrpc_structure_errors_refused(void)
{
    CU_ASSERT(value_fails("<unknown>1</unknown>", MD_EPROTO, "unknown XML-RPC type <unknown>"));
    CU_ASSERT(value_fails("<int>1</int><int>2</int>", MD_EPROTO, "one typed element"));
    CU_ASSERT(value_fails("x<int>1</int>", MD_EPROTO, "one typed element"));
    CU_ASSERT(value_fails("<array><value><int>1</int></value></array>", MD_EPROTO, "one <data>"));
    CU_ASSERT(value_fails("<array><data><int>1</int></data></array>", MD_EPROTO,
                          "unexpected <int> in <data>"));
    CU_ASSERT(value_fails("<array><data>junk<value>1</value></data></array>", MD_EPROTO,
                          "text inside <data>"));
    CU_ASSERT(value_fails("<struct><member><value>1</value></member></struct>", MD_EPROTO,
                          "<member> must hold <name> and <value>"));
    CU_ASSERT(value_fails("<struct><member><name>a</name></member></struct>", MD_EPROTO,
                          "<member> must hold"));
    CU_ASSERT(value_fails("<struct><value>1</value></struct>", MD_EPROTO,
                          "unexpected <value> in <struct>"));
    CU_ASSERT(value_fails("<struct>text</struct>", MD_EPROTO, "text inside <struct>"));
}

static void test_xmlrpc_message_shape_errors_refused(void)
{
    DEC_FAILS("<params></params>", MD_EPROTO, "exactly one <param>, got 0");
    DEC_FAILS("<params><param><value>a</value></param><param><value>b</value></param></params>",
              MD_EPROTO, "exactly one <param>, got 2");
    DEC_FAILS("<methodResponse/>", MD_EPROTO, "expected a <params> element");
    DEC_FAILS("<params><param></param></params>", MD_EPROTO, "<param><value>");
    DEC_FAILS("<params><value>1</value></params>", MD_EPROTO, "<param><value>");
    DEC_FAILS("<params>x<param><value>1</value></param></params>", MD_EPROTO,
              "text inside <params>");
    DEC_FAILS("", MD_EPROTO, "not well-formed");
    DEC_FAILS("<params><param><value>", MD_EPROTO, "not well-formed");
    DEC_FAILS("\x80\x04K\x01.", MD_EPROTO, "not well-formed"); /* a pickle */
    DEC_FAILS("<params><param><value><string>\xff\xfe</string></value></param></params>",
              MD_EPROTO, NULL); /* invalid UTF-8 */
}

/* ======================================================================
 * Hostile input
 * ====================================================================== */

static void test_xmlrpc_dtd_refused(void)
{
    DEC_FAILS("<!DOCTYPE params>"
              "<params><param><value>a</value></param></params>",
              MD_EPROTO, "DTD");
    /* billion laughs: refused (libxml2 sees the entity loop before our
     * DTD check), never expanded */
    DEC_FAILS("<?xml version=\"1.0\"?>"
              "<!DOCTYPE params [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">"
              "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
              "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
              "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
              "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
              "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
              "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]>"
              "<params><param><value><string>&g;</string></value></param></params>",
              MD_EPROTO, NULL);
}

static void test_xmlrpc_external_entity_never_read(void)
{
    DEC_FAILS("<?xml version=\"1.0\"?>"
              "<!DOCTYPE params [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
              "<params><param><value><string>&x;</string></value></param></params>",
              MD_EPROTO, "DTD");
    DEC_FAILS("<?xml version=\"1.0\"?>"
              "<!DOCTYPE params SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
              "<params><param><value>a</value></param></params>",
              MD_EPROTO, "DTD");
    /* XInclude is not processed: the element is an unknown type */
    CU_ASSERT(value_fails("<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
                          "href=\"file:///etc/passwd\" parse=\"text\"/>",
                          MD_EPROTO, "unknown XML-RPC type"));
}

static void test_xmlrpc_undeclared_entity_refused(void)
{
    DEC_FAILS("<params><param><value><string>&nbsp;</string></value></param></params>",
              MD_EPROTO, "not well-formed");
}

static void test_xmlrpc_depth_limit_at_and_past(void)
{
    md_pickle_limits lim;
    md_pickle_limits_default(&lim);
    lim.max_depth = 20;
    md_buf b = MD_BUF_INIT;
    /* 19 arrays around an int: 20 <value> levels, the limit */
    nested_arrays(&b, 19);
    md_val *v = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_decode(b.data, b.len, &lim, &v, NULL, &err), 0);
    md_decref(v);
    b.len = 0;
    nested_arrays(&b, 20);
    CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, &lim, MD_EDEPTH, "nested deeper than 20"));
    /* structs count the same way */
    b.len = 0;
    md_buf_puts(&b, "<params><param>");
    for (int i = 0; i < 20; i++)
        md_buf_puts(&b, "<value><struct><member><name>k</name>");
    md_buf_puts(&b, "<value>x</value>");
    for (int i = 0; i < 20; i++)
        md_buf_puts(&b, "</member></struct></value>");
    md_buf_puts(&b, "</param></params>");
    CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, &lim, MD_EDEPTH, "nested deeper than 20"));
    md_buf_free(&b);
}

/* libxml2's own bound (256 elements deep without XML_PARSE_HUGE) stops
 * deep documents before our recursion could exhaust the stack: 84
 * arrays (252 elements + params/param/value) is the deepest document
 * read with the default limits; 85 and a million are refused alike. */
static void test_xmlrpc_libxml2_depth_bound_at_and_past(void)
{
    md_buf b = MD_BUF_INIT;
    nested_arrays(&b, 84);
    md_val *v = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_decode(b.data, b.len, NULL, &v, NULL, &err), 0);
    md_decref(v);
    b.len = 0;
    nested_arrays(&b, 85);
    CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, NULL, MD_EPROTO, "depth"));
    b.len = 0;
    nested_arrays(&b, 1000000);
    CU_ASSERT_FALSE(md_buf_failed(&b));
    CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, NULL, MD_EPROTO, "depth"));
    md_buf_free(&b);
}

static void test_xmlrpc_size_limit_at_and_past(void)
{
    md_pickle_limits lim;
    md_pickle_limits_default(&lim);
    lim.max_bytes = 1000;
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "<params><param><value><string>");
    const char *tail = "</string></value></param></params>";
    while (b.len < 1000 - strlen(tail))
        md_buf_putc(&b, 'x');
    md_buf_puts(&b, tail);
    CU_ASSERT_EQUAL_FATAL(b.len, 1000);
    md_val *v = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_decode(b.data, b.len, &lim, &v, NULL, &err), 0);
    CU_ASSERT(v && md_str_nbytes(v) == 1000 - 30 - strlen(tail));
    md_decref(v);
    /* one byte more (a trailing newline): refused before parsing */
    md_buf_putc(&b, '\n');
    CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, &lim, MD_ETOOBIG, "1001 bytes is over the limit"));
    /* the method-call reader has the same bound */
    md_val *m = NULL, *p = NULL;
    CU_ASSERT_EQUAL(md_xmlrpc_decode_call(b.data, b.len, &lim, &m, &p, &err), MD_ETOOBIG);
    CU_ASSERT(m == NULL && p == NULL);
    md_buf_free(&b);
}

/* A big body within the default limit: 6 MiB of text and 100,000 array
 * items (9 MB) decode. */
static void test_xmlrpc_huge_body_within_default_limit(void)
{
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "<params><param><value><array><data>");
    for (int i = 0; i < 100000; i++)
        md_buf_printf(&b, "<value><i4>%d</i4></value>", i);
    md_buf_puts(&b, "<value><string>");
    for (int i = 0; i < 6 * 1024; i++)
        md_buf_puts(&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    md_buf_puts(&b, "</string></value></data></array></value></param></params>");
    CU_ASSERT_FALSE_FATAL(md_buf_failed(&b));
    md_val *v = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_decode(b.data, b.len, NULL, &v, NULL, &err), 0);
    CU_ASSERT(v && md_list_len(v) == 100001);
    CU_ASSERT(v && md_str_nbytes(md_list_get(v, 100000)) == 6u * 1024 * 1024);
    md_decref(v);
    md_buf_free(&b);
}

/* Integer digits: MD_PICKLE_MAX_INT_BYTES digits read, one more refused. */
static void test_xmlrpc_int_digits_limit_at_and_past(void)
{
    size_t nd = MD_PICKLE_MAX_INT_BYTES;
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "<params><param><value><int>");
    for (size_t i = 0; i < nd; i++)
        md_buf_putc(&b, i == 0 ? '9' : '0');
    size_t tail_at = b.len;
    md_buf_puts(&b, "</int></value></param></params>");
    md_val *v = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_decode(b.data, b.len, NULL, &v, NULL, &err), 0);
    CU_ASSERT(v && md_typeof(v) == MD_T_INT && md_int_sign(v) == 1);
    md_decref(v);
    b.len = tail_at;
    md_buf_puts(&b, "0</int></value></param></params>");
    CU_ASSERT(md_ts_dec_fails(&md_codec_xmlrpc, b.data, b.len, NULL, MD_ELIMIT, "over the limit"));
    md_buf_free(&b);
}

/* ======================================================================
 * Writing: what XML-RPC cannot carry, sizes of integers
 * ====================================================================== */

static void test_xmlrpc_unwritable_values_fail_cleanly(void)
{
    CU_ASSERT(enc_fails(S("a\x01"), MD_EUNSUPPORTED, "control character U+0001"));
    CU_ASSERT(enc_fails(L(2, S("ok"), S("\x1f")), MD_EUNSUPPORTED, "U+001F"));
    CU_ASSERT(enc_fails(md_str_new("\xed\xa0\x80", 3), MD_EUNSUPPORTED, "lone surrogate"));
    CU_ASSERT(enc_fails(S("\xef\xbf\xbe"), MD_EUNSUPPORTED, "U+FFFE"));
    CU_ASSERT(enc_fails(S("\xef\xbf\xbf"), MD_EUNSUPPORTED, "U+FFFF"));
    CU_ASSERT(enc_fails(md_complex_new(1, 2), MD_EUNSUPPORTED, "cannot marshal <class 'complex'>"));
    CU_ASSERT(enc_fails(md_slice_new(md_none(), md_none(), md_none()), MD_EUNSUPPORTED,
                        "cannot marshal <class 'slice'>"));
    md_val *d = md_dict_new();
    md_val *k = I(1);
    md_pyerr e = {0};
    md_dict_set(d, k, k, &e);
    md_decref(k);
    CU_ASSERT(enc_fails(L(1, d), MD_EUNSUPPORTED, "dictionary key must be string"));
    /* a struct member name is text too */
    CU_ASSERT(enc_fails(DS(1, "\x02", I(1)), MD_EUNSUPPORTED, "control character"));
}

static void test_xmlrpc_recursive_containers_refused(void)
{
    md_val *l = md_list_new(1);
    md_list_append(l, l);
    CU_ASSERT(enc_fails(md_incref(l), MD_EUNSUPPORTED, "cannot marshal recursive sequences"));
    md_list_clear(l); /* break the cycle */
    md_decref(l);
    md_val *d = md_dict_new();
    md_val *k = S("self");
    md_pyerr e = {0};
    md_dict_set(d, k, d, &e);
    CU_ASSERT(enc_fails(md_incref(d), MD_EUNSUPPORTED, "cannot marshal recursive dictionaries"));
    md_dict_clear(d);
    md_decref(k);
    md_decref(d);
    /* the same object twice, side by side, is not recursion */
    md_val *inner = L(1, I(5));
    md_val *outer = md_list_new(2);
    md_list_append(outer, inner);
    md_list_append(outer, inner);
    md_decref(inner);
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(outer, 0, &b, &err), 0);
    md_buf_free(&b);
    md_decref(outer);
}

/* The writer's depth bound: 64 nested containers are written, 65 are
 * refused with a clear error. */
static void test_xmlrpc_encode_depth_at_and_past(void)
{
    md_val *v = I(1);
    for (int i = 0; i < MD_XMLRPC_MAX_DEPTH; i++)
        v = L(1, v);
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(v, 0, &b, &err), 0);
    md_buf_free(&b);
    v = L(1, v);
    CU_ASSERT(enc_fails(v, MD_EDEPTH, "nested too deeply"));
}

static void test_xmlrpc_sets_and_instances_written_as_python_reads_them(void)
{
    md_val *s = md_set_new(false);
    md_pyerr e = {0};
    md_val *one = I(1);
    md_set_add(s, one, &e);
    md_decref(one);
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(s, 0, &b, &err), 0);
    CU_ASSERT(bytes_are(&b,
                        "<params>\n<param>\n<value><array><data>\n<value><int>1</int></value>\n"
                        "</data></array></value>\n</param>\n</params>\n",
                        strlen("<params>\n<param>\n<value><array><data>\n<value><int>1</int>"
                               "</value>\n</data></array></value>\n</param>\n</params>\n")));
    md_decref(s);
    /* an instance whose state is a dict: a struct of it, as Python does */
    md_val *cls = md_global_new("__main__", "Point");
    md_val *args = md_tuple_new(0);
    md_val *o = md_opaque_new(MD_OPQ_REDUCE, cls, args);
    md_decref(cls);
    md_decref(args);
    md_opaque_set_state_steal(o, DS(2, "x", I(1), "y", I(2)));
    b.len = 0;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(o, 0, &b, &err), 0);
    md_val *back = NULL;
    CU_ASSERT_EQUAL(md_xmlrpc_decode(b.data, b.len, NULL, &back, NULL, &err), 0);
    CU_ASSERT(md_ts_repr_is(back, "{'x': 1, 'y': 2}"));
    md_decref(back);
    md_decref(o);
    /* an instance without a dict state cannot be written */
    cls = md_global_new("__main__", "Opaque");
    args = md_tuple_new(0);
    o = md_opaque_new(MD_OPQ_REDUCE, cls, args);
    md_decref(cls);
    md_decref(args);
    CU_ASSERT(enc_fails(o, MD_EUNSUPPORTED, "cannot marshal <class '__main__.Opaque'>"));
    md_buf_free(&b);
}

static void test_xmlrpc_token_written_as_array_malformed_refused(void)
{
    /* Token('dict', ('127.0.0.1', 5000), '7f0a'): the array of its state */
    md_val *addr = T(2, S("127.0.0.1"), I(5000));
    md_val *tok = md_proto_token_new("dict", addr, "7f0a");
    md_decref(addr);
    LAYOUT(tok, "<params>\n<param>\n<value><array><data>\n"
                "<value><string>dict</string></value>\n"
                "<value><array><data>\n<value><string>127.0.0.1</string></value>\n"
                "<value><int>5000</int></value>\n</data></array></value>\n"
                "<value><string>7f0a</string></value>\n"
                "</data></array></value>\n</param>\n</params>\n");
    /* a Token whose state is not (typeid, address, id) is no Token, as
     * the protocol's reader judges it, and cannot be written */
    md_val *cls = md_global_new("multiprocessing.managers", "Token");
    md_val *bad = md_opaque_new(MD_OPQ_NEWOBJ, cls, md_tuple_new(0));
    md_decref(cls);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    md_opaque_set_state_steal(bad, T(2, S("dict"), S("7f0a")));
    CU_ASSERT(enc_fails(bad, MD_EUNSUPPORTED,
                        "cannot marshal <class 'multiprocessing.managers.Token'>"));
}

/* Manager messages write <int> of any size (Python reads them); the
 * HTTP flavour writes <i8> between 32 and 64 bits, <int> beyond. */
static void test_xmlrpc_integer_tags_by_size(void)
{
    struct {
        const char *dec;
        const char *manager;
        const char *http;
    } rows[] = {
        {"2147483647", "<value><int>2147483647</int></value>\n",
         "<value><int>2147483647</int></value>\n"},
        {"2147483648", "<value><int>2147483648</int></value>\n",
         "<value><i8>2147483648</i8></value>\n"},
        {"-2147483648", "<value><int>-2147483648</int></value>\n",
         "<value><int>-2147483648</int></value>\n"},
        {"-2147483649", "<value><int>-2147483649</int></value>\n",
         "<value><i8>-2147483649</i8></value>\n"},
        {"9223372036854775807", "<value><int>9223372036854775807</int></value>\n",
         "<value><i8>9223372036854775807</i8></value>\n"},
        {"9223372036854775808", "<value><int>9223372036854775808</int></value>\n",
         "<value><int>9223372036854775808</int></value>\n"},
        {"-9223372036854775809", "<value><int>-9223372036854775809</int></value>\n",
         "<value><int>-9223372036854775809</int></value>\n"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_val *v = md_int_from_decimal(rows[i].dec, strlen(rows[i].dec), false);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        md_buf b = MD_BUF_INIT, want = MD_BUF_INIT;
        md_pickle_err err;
        md_buf_printf(&want, "<params>\n<param>\n%s</param>\n</params>\n", rows[i].manager);
        CU_ASSERT_EQUAL(md_xmlrpc_encode(v, 0, &b, &err), 0);
        CU_ASSERT(bytes_are(&b, (const char *)want.data, want.len));
        b.len = 0;
        CU_ASSERT_EQUAL(md_xmlrpc_encode_value(v, &b, &err), 0);
        CU_ASSERT(bytes_are(&b, rows[i].http, strlen(rows[i].http)));
        md_decref(v);
        md_buf_free(&b);
        md_buf_free(&want);
    }
}

/* ======================================================================
 * Method calls, responses, faults
 * ====================================================================== */

static void test_xmlrpc_response_and_fault_match_python(void)
{
    md_val *v = L(2, I(1), S("x"));
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_response(v, &b, &err), 0);
    CU_ASSERT(bytes_are(&b, PY_RESPONSE, sizeof PY_RESPONSE - 1));
    md_decref(v);
    b.len = 0;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_fault(1, "KeyError: 'a&b'", &b), 0);
    CU_ASSERT(bytes_are(&b, PY_FAULT, sizeof PY_FAULT - 1));
    /* a message XML cannot hold is replaced, the fault stays well-formed */
    b.len = 0;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_fault(-32700, "bad \x01 byte", &b), 0);
    CU_ASSERT(memmem(b.data, b.len, "<int>-32700</int>", 17) != NULL);
    CU_ASSERT(memmem(b.data, b.len, "(message not representable in XML)", 34) != NULL);
    CU_ASSERT(memchr(b.data, 1, b.len) == NULL);
    md_buf_free(&b);
}

static void test_xmlrpc_decode_call_reads_python_call(void)
{
    md_val *m = NULL, *p = NULL;
    md_pickle_err err;
    CU_ASSERT_EQUAL_FATAL(md_xmlrpc_decode_call(LIT(PY_CALL), NULL, &m, &p, &err), 0);
    CU_ASSERT(md_ts_repr_is(m, "'create'"));
    CU_ASSERT(md_ts_repr_is(p, "['dict', [], {}]"));
    md_decref(m);
    md_decref(p);
    /* no <params>: an empty list */
    static const char bare[] = "<methodCall><methodName>system.listMethods</methodName></methodCall>";
    CU_ASSERT_EQUAL_FATAL(md_xmlrpc_decode_call(LIT(bare), NULL, &m, &p, &err), 0);
    CU_ASSERT(md_ts_repr_is(m, "'system.listMethods'"));
    CU_ASSERT(md_ts_repr_is(p, "[]"));
    md_decref(m);
    md_decref(p);
}

static bool call_fails(const char *doc, int code, const char *want)
{
    md_val *m = (md_val *)1, *p = (md_val *)1;
    md_pickle_err err;
    int rc = md_xmlrpc_decode_call((const uint8_t *)doc, strlen(doc), NULL, &m, &p, &err);
    bool ok = rc == code && m == NULL && p == NULL && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "\n  call decode gave %d \"%s\", wanted %d \"%s\"\n", rc, err.msg, code,
                want);
    return ok;
}

static void test_xmlrpc_decode_call_refuses_bad_shapes(void)
{
    CU_ASSERT(call_fails("<methodCall><params/></methodCall>", MD_EPROTO, "<methodName>"));
    CU_ASSERT(call_fails("<methodResponse><params/></methodResponse>", MD_EPROTO, "<methodCall>"));
    CU_ASSERT(call_fails("<methodCall><methodName>a</methodName><params/><x/></methodCall>",
                         MD_EPROTO, "<methodName>"));
    CU_ASSERT(call_fails("<methodCall><methodName>a</methodName><junk/></methodCall>", MD_EPROTO,
                         "<methodName>"));
    CU_ASSERT(call_fails("<methodCall><methodName>a</methodName><params><param><value>"
                         "<int>x</int></value></param></params></methodCall>",
                         MD_EPROTO, "bad integer"));
    CU_ASSERT(call_fails("<methodCall><methodName>a", MD_EPROTO, "not well-formed"));
    CU_ASSERT(call_fails("<!DOCTYPE methodCall><methodCall><methodName>a</methodName>"
                         "</methodCall>",
                         MD_EPROTO, "DTD"));
}

/* managerctl's side: the call as Python's dumps(params, methodname) writes
 * it, and Python's responses and faults read back. */
static void test_xmlrpc_encode_call_matches_python(void)
{
    md_val *params = L(3, S("dict"), L(0), D(0));
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_call("create", params, &b, &err), 0);
    CU_ASSERT(bytes_are(&b, PY_CALL, sizeof PY_CALL - 1));
    md_decref(params);
    /* a tuple of params, and a name escaped like any text */
    md_val *t = md_tuple_pack(0);
    b.len = 0;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_call("#a<b", t, &b, &err), 0);
    CU_ASSERT(memmem(b.data, b.len, "<methodName>#a&lt;b</methodName>\n<params>\n</params>", 51) != NULL);
    md_decref(t);
    /* a value XML-RPC cannot carry: an error and nothing written */
    params = L(1, S("bad \x01"));
    b.len = 0;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_call("m", params, &b, &err), MD_EUNSUPPORTED);
    CU_ASSERT(b.len == 0);
    md_decref(params);
    md_buf_free(&b);
}

static void test_xmlrpc_decode_response_reads_results_and_faults(void)
{
    md_val *v = NULL;
    bool fault = true;
    int64_t code = -1;
    md_pickle_err err;
    CU_ASSERT_EQUAL_FATAL(md_xmlrpc_decode_response(LIT(PY_RESPONSE), NULL, &v, &fault, &code, &err), 0);
    CU_ASSERT(!fault && code == 0 && md_ts_repr_is(v, "[1, 'x']"));
    md_decref(v);
    CU_ASSERT_EQUAL_FATAL(md_xmlrpc_decode_response(LIT(PY_FAULT), NULL, &v, &fault, &code, &err), 0);
    CU_ASSERT(fault && code == 1 && md_ts_repr_is(v, "\"KeyError: 'a&b'\""));
    md_decref(v);
}

static bool response_fails(const char *doc, const char *want)
{
    md_val *v = (md_val *)1;
    bool fault;
    int64_t code;
    md_pickle_err err;
    int rc = md_xmlrpc_decode_response((const uint8_t *)doc, strlen(doc), NULL, &v, &fault, &code,
                                       &err);
    bool ok = rc == MD_EPROTO && v == NULL && strstr(err.msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "\n  response decode gave %d \"%s\", wanted \"%s\"\n", rc, err.msg, want);
    return ok;
}

static void test_xmlrpc_decode_response_refuses_bad_shapes(void)
{
    CU_ASSERT(response_fails("<methodCall><methodName>a</methodName></methodCall>",
                             "<methodResponse>"));
    CU_ASSERT(response_fails("<methodResponse></methodResponse>", "<methodResponse>"));
    CU_ASSERT(response_fails("<methodResponse><params/></methodResponse>", "exactly one"));
    CU_ASSERT(response_fails("<methodResponse><params><param><value>1</value></param><param>"
                             "<value>2</value></param></params></methodResponse>",
                             "exactly one"));
    CU_ASSERT(response_fails("<methodResponse><params/><fault/></methodResponse>",
                             "<methodResponse>"));
    CU_ASSERT(response_fails("<methodResponse><fault><value><struct><member><name>faultString"
                             "</name><value>x</value></member></struct></value></fault>"
                             "</methodResponse>",
                             "faultCode"));
    CU_ASSERT(response_fails("<methodResponse><fault><value><int>1</int></value></fault>"
                             "</methodResponse>",
                             "faultCode"));
    CU_ASSERT(response_fails("<methodResponse><params><param><value><int>x</int></value>"
                             "</param></params></methodResponse>",
                             "bad integer"));
    CU_ASSERT(response_fails("<methodResponse><par", "not well-formed"));
}

/* ======================================================================
 * Allocation failures: every failing allocation is a clean error
 * ====================================================================== */

static void test_xmlrpc_allocation_failure_sweep(void)
{
    md_val *m = NULL, *p = NULL;
    md_pickle_err err;
    bool done = false;
    for (long n = 0; n < 5000 && !done; n++) {
        md_alloc_fail_after(n);
        int rc = md_xmlrpc_decode_call(LIT(PY_CALL), NULL, &m, &p, &err);
        md_alloc_fail_after(-1);
        if (rc == 0) {
            CU_ASSERT(md_ts_repr_is(p, "['dict', [], {}]"));
            md_decref(m);
            md_decref(p);
            done = true;
        } else {
            CU_ASSERT(m == NULL && p == NULL && err.msg[0] != 0);
        }
    }
    CU_ASSERT(done);
    /* the encoder too: a failure leaves out as it was */
    md_val *v = DEC_OK(PY_DICT);
    done = false;
    for (long n = 0; n < 5000 && v && !done; n++) {
        md_buf b = MD_BUF_INIT;
        md_alloc_fail_after(n);
        int rc = md_xmlrpc_encode(v, 0, &b, &err);
        md_alloc_fail_after(-1);
        if (rc == 0) {
            CU_ASSERT(bytes_are(&b, PY_DICT, sizeof PY_DICT - 1));
            done = true;
        } else {
            CU_ASSERT_EQUAL(rc, MD_ENOMEM);
        }
        md_buf_free(&b);
    }
    CU_ASSERT(done);
    md_decref(v);
}

/* ======================================================================
 * Registration
 * ====================================================================== */

/* A list holding one shared empty list n times: n + 1 containers to
 * write, each visit of the shared one counting (a DAG's way). */
static int encode_shared_list(size_t n, md_pickle_err *err)
{
    md_val *inner = md_list_new(0);
    md_val *outer = md_list_new(n);
    for (size_t i = 0; i < n; i++)
        md_list_append(outer, inner);
    md_buf b = MD_BUF_INIT;
    int rc = md_xmlrpc_encode_value(outer, &b, err);
    md_buf_free(&b);
    md_decref(outer);
    md_decref(inner);
    return rc;
}

static void test_xmlrpc_encoder_writes_up_to_its_container_budget(void)
{
    md_pickle_err err;
    CU_ASSERT_EQUAL(encode_shared_list(MD_XMLRPC_MAX_WORK - 1, &err), 0);
}

static void test_xmlrpc_encoder_refuses_one_container_past_its_budget(void)
{
    md_pickle_err err;
    CU_ASSERT_EQUAL(encode_shared_list(MD_XMLRPC_MAX_WORK, &err), MD_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "too large to write as XML-RPC"));
}

static void test_xmlrpc_encoder_refuses_a_shared_reference_dag(void)
{
    md_val *dag = md_list_new(0);
    for (int i = 0; i < 40; i++) { /* 2**40 paths in 40 lists */
        md_val *up = md_tuple_pack(2, dag, dag);
        md_decref(dag);
        dag = up;
    }
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode(dag, 0, &b, &err), MD_ETOOBIG);
    CU_ASSERT(b.len == 0);
    md_buf_free(&b);
    md_decref(dag);
}

/* The budgets are known before writing: a DAG of 2**40 paths, or 200
 * references to one 1 MiB string, fail with nothing written and no
 * buffer grown (the encoder used to write up to the budget first, tens
 * of milliseconds every other client waited for). */
static void test_xmlrpc_encoder_budgets_fail_before_writing(void)
{
    md_val *dag = md_list_new(0);
    for (int i = 0; i < 40; i++) {
        md_val *up = md_list_new(0);
        md_list_append(up, dag);
        md_list_append(up, dag);
        md_decref(dag);
        dag = up;
    }
    md_buf b = MD_BUF_INIT;
    md_codec_err err;
    CU_ASSERT_EQUAL(md_xmlrpc_encode_value(dag, &b, &err), MD_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "containers"));
    CU_ASSERT(b.len == 0 && b.cap == 0);
    md_decref(dag);
    char *mib = malloc(1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mib);
    memset(mib, 'x', 1 << 20);
    md_val *str = md_str_new(mib, 1 << 20);
    free(mib);
    md_val *many = md_list_new(0);
    for (int i = 0; i < 200; i++)
        md_list_append(many, str);
    CU_ASSERT_EQUAL(md_xmlrpc_encode_value(many, &b, &err), MD_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bytes"));
    CU_ASSERT(b.len == 0 && b.cap == 0);
    /* 60 references (60 MiB) stay within the budget and are written */
    md_val *some = md_list_new(0);
    for (int i = 0; i < 60; i++)
        md_list_append(some, str);
    CU_ASSERT_EQUAL(md_xmlrpc_encode_value(some, &b, &err), 0);
    CU_ASSERT(b.len > (size_t)60 << 20);
    md_buf_free(&b);
    md_decref(some);
    md_decref(many);
    md_decref(str);
}

void md_test_register_xmlrpc(void)
{
    CU_pSuite s = md_test_suite("xmlrpc");
    MD_ADD_TEST(s, test_xmlrpc_layout_scalars_match_python);
    MD_ADD_TEST(s, test_xmlrpc_encoder_writes_up_to_its_container_budget);
    MD_ADD_TEST(s, test_xmlrpc_encoder_refuses_one_container_past_its_budget);
    MD_ADD_TEST(s, test_xmlrpc_encoder_refuses_a_shared_reference_dag);
    MD_ADD_TEST(s, test_xmlrpc_encoder_budgets_fail_before_writing);
    MD_ADD_TEST(s, test_xmlrpc_layout_floats_match_python_repr);
    MD_ADD_TEST(s, test_xmlrpc_layout_strings_escape_only_amp_lt_gt);
    MD_ADD_TEST(s, test_xmlrpc_layout_binary_in_lines_of_76);
    MD_ADD_TEST(s, test_xmlrpc_layout_arrays_and_structs_match_python);
    MD_ADD_TEST(s, test_xmlrpc_layout_datetime_round_trips);
    MD_ADD_TEST(s, test_xmlrpc_python_bytes_decode_and_reencode_identically);
    MD_ADD_TEST(s, test_xmlrpc_decoded_values_have_python_meaning);
    MD_ADD_TEST(s, test_xmlrpc_wire_fixtures_reencode_byte_for_byte);
    MD_ADD_TEST(s, test_xmlrpc_reads_every_integer_tag);
    MD_ADD_TEST(s, test_xmlrpc_reads_double_float_string_and_bare_text);
    MD_ADD_TEST(s, test_xmlrpc_reads_whitespace_and_comments_between_elements);
    MD_ADD_TEST(s, test_xmlrpc_struct_duplicate_member_last_wins);
    MD_ADD_TEST(s, test_xmlrpc_bool_reads_only_0_and_1);
    MD_ADD_TEST(s, test_xmlrpc_bad_int_refused);
    MD_ADD_TEST(s, test_xmlrpc_bad_double_refused);
    MD_ADD_TEST(s, test_xmlrpc_bad_base64_refused);
    MD_ADD_TEST(s, test_xmlrpc_structure_errors_refused);
    MD_ADD_TEST(s, test_xmlrpc_message_shape_errors_refused);
    MD_ADD_TEST(s, test_xmlrpc_dtd_refused);
    MD_ADD_TEST(s, test_xmlrpc_external_entity_never_read);
    MD_ADD_TEST(s, test_xmlrpc_undeclared_entity_refused);
    MD_ADD_TEST(s, test_xmlrpc_depth_limit_at_and_past);
    MD_ADD_TEST(s, test_xmlrpc_libxml2_depth_bound_at_and_past);
    MD_ADD_TEST(s, test_xmlrpc_size_limit_at_and_past);
    MD_ADD_TEST(s, test_xmlrpc_huge_body_within_default_limit);
    MD_ADD_TEST(s, test_xmlrpc_int_digits_limit_at_and_past);
    MD_ADD_TEST(s, test_xmlrpc_unwritable_values_fail_cleanly);
    MD_ADD_TEST(s, test_xmlrpc_recursive_containers_refused);
    MD_ADD_TEST(s, test_xmlrpc_encode_depth_at_and_past);
    MD_ADD_TEST(s, test_xmlrpc_sets_and_instances_written_as_python_reads_them);
    MD_ADD_TEST(s, test_xmlrpc_token_written_as_array_malformed_refused);
    MD_ADD_TEST(s, test_xmlrpc_integer_tags_by_size);
    MD_ADD_TEST(s, test_xmlrpc_response_and_fault_match_python);
    MD_ADD_TEST(s, test_xmlrpc_decode_call_reads_python_call);
    MD_ADD_TEST(s, test_xmlrpc_decode_call_refuses_bad_shapes);
    MD_ADD_TEST(s, test_xmlrpc_encode_call_matches_python);
    MD_ADD_TEST(s, test_xmlrpc_decode_response_reads_results_and_faults);
    MD_ADD_TEST(s, test_xmlrpc_decode_response_refuses_bad_shapes);
    MD_ADD_TEST(s, test_xmlrpc_allocation_failure_sweep);
}
