/* fuzz_xmlrpc.c - libFuzzer target for the XML-RPC decoders
 * (md_xmlrpc_decode: the 'xmlrpclib' manager message; md_xmlrpc_decode_call:
 * a <methodCall> on the HTTP endpoint; md_xmlrpc_decode_response: a
 * <methodResponse> as managerctl reads it).
 *
 * Every input goes through the three decoders. What decodes is written back
 * with each encoder (the manager layout, the HTTP response), and what was
 * written must read back and re-encode to the same bytes: a value the
 * decoder accepts must never make the encoder emit XML the decoder then
 * refuses. Any crash, leak or sanitizer report is a failure; so is a
 * broken round trip (abort()).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/value/value.h"
#include "serializers/xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const md_buf *a, const md_buf *b, const char *msg)
{
    fprintf(stderr, "fuzz_xmlrpc: %s (%s)\n", what, msg ? msg : "");
    if (a)
        fprintf(stderr, "---- first\n%.*s\n", (int)a->len, (const char *)a->data);
    if (b)
        fprintf(stderr, "---- second\n%.*s\n", (int)b->len, (const char *)b->data);
    abort();
}

/* One pass: encode v, decode the text; *text keeps the bytes, the
 * result is the value read back (NULL when the writer refused v, which is
 * allowed: a value may be too deep for the writer). */
static md_val *pass(const md_val *v, const md_codec_limits *lim, md_buf *text)
{
    md_codec_err err;
    text->len = 0;
    if (md_xmlrpc_encode(v, 0, text, &err) != 0)
        return NULL;
    md_val *back = NULL;
    if (md_xmlrpc_decode(text->data, text->len, lim, &back, NULL, &err) != 0)
        die("the decoder refuses what the encoder wrote", text, NULL, err.msg);
    return back;
}

/* The manager layout: what the encoder writes reads back, and after one
 * pass the text is a fixed point (the first pass may normalize: XML
 * turns a CR written raw into LF, for Python as for us). */
static void check_manager_roundtrip(const md_val *v, const md_codec_limits *lim)
{
    md_buf t1 = MD_BUF_INIT, t2 = MD_BUF_INIT, t3 = MD_BUF_INIT;
    md_val *v2 = pass(v, lim, &t1);
    md_val *v3 = v2 ? pass(v2, lim, &t2) : NULL;
    if (v2 && !v3)
        die("a decoded value could not be written again", &t1, NULL, NULL);
    md_val *v4 = v3 ? pass(v3, lim, &t3) : NULL;
    if (v3 && (!v4 || t2.len != t3.len || memcmp(t2.data, t3.data, t2.len) != 0))
        die("re-encoding is not stable", &t2, &t3, NULL);
    md_decref(v2);
    md_decref(v3);
    md_decref(v4);
    md_buf_free(&t1);
    md_buf_free(&t2);
    md_buf_free(&t3);
}

/* The HTTP response (with <i8> for 64-bit ints): its <params> part reads
 * back with the manager decoder. */
static void check_response(const md_val *v, const md_codec_limits *lim)
{
    static const char head[] = "<?xml version='1.0'?>\n<methodResponse>\n";
    static const char tail[] = "</methodResponse>\n";
    md_buf out = MD_BUF_INIT;
    md_codec_err err;
    if (md_xmlrpc_encode_response(v, &out, &err) == 0) {
        size_t hl = sizeof head - 1, tl = sizeof tail - 1;
        if (out.len < hl + tl || memcmp(out.data, head, hl) != 0 ||
            memcmp(out.data + out.len - tl, tail, tl) != 0)
            die("response framing", &out, NULL, NULL);
        md_val *back = NULL;
        if (md_xmlrpc_decode(out.data + hl, out.len - hl - tl, lim, &back, NULL, &err) != 0)
            die("the decoder refuses the response the encoder wrote", &out, NULL, err.msg);
        md_decref(back);
    }
    md_buf_free(&out);
}

/* A call decoded is written back by managerctl's encoder, and reads back
 * with the endpoint's decoder as the same method. */
static void check_call(const md_val *method, const md_val *params, const md_codec_limits *lim)
{
    md_buf out = MD_BUF_INIT;
    md_codec_err err;
    if (strlen(md_str_data(method)) == md_str_nbytes(method) &&
        md_xmlrpc_encode_call(md_str_data(method), params, &out, &err) == 0) {
        md_val *m = NULL, *p = NULL;
        if (md_xmlrpc_decode_call(out.data, out.len, lim, &m, &p, &err) != 0)
            die("the decoder refuses the call the encoder wrote", &out, NULL, err.msg);
        if (md_list_len(p) != md_list_len(params))
            die("a call's params changed on the way back", &out, NULL, NULL);
        md_decref(m);
        md_decref(p);
    }
    md_buf_free(&out);
}

/* A response decoded is a value or a fault's string; written back by the
 * endpoint's encoders it reads back the same way. */
static void check_decoded_response(const md_val *v, bool fault, int64_t code,
                                   const md_codec_limits *lim)
{
    md_buf out = MD_BUF_INIT;
    md_codec_err err;
    if (fault && md_typeof(v) != MD_T_STR)
        die("a fault's string is not a str", NULL, NULL, NULL);
    int rc = fault ? (code >= INT32_MIN && code <= INT32_MAX
                          ? md_xmlrpc_encode_fault((int)code, md_str_data(v), &out)
                          : -1)
                   : md_xmlrpc_encode_response(v, &out, &err);
    if (rc == 0) {
        md_val *back = NULL;
        bool fault2;
        int64_t code2;
        if (md_xmlrpc_decode_response(out.data, out.len, lim, &back, &fault2, &code2, &err) != 0)
            die("the decoder refuses the response the encoder wrote", &out, NULL, err.msg);
        if (fault2 != fault || (fault && code2 != code))
            die("a response changed kind or fault code on the way back", &out, NULL, NULL);
        md_decref(back);
    }
    md_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    md_codec_limits lim;
    md_codec_limits_default(&lim);
    lim.max_bytes = 1u << 20;
    lim.max_depth = 200;

    md_val *v = NULL;
    md_codec_err err;
    if (md_xmlrpc_decode(data, size, &lim, &v, NULL, &err) == 0) {
        if (!v)
            die("decode succeeded without a value", NULL, NULL, NULL);
        check_manager_roundtrip(v, &lim);
        check_response(v, &lim);
        md_decref(v);
    } else if (v || !err.msg[0] || err.code >= 0) {
        die("a failed decode left a value or no message", NULL, NULL, err.msg);
    }

    md_val *method = NULL, *params = NULL;
    if (md_xmlrpc_decode_call(data, size, &lim, &method, &params, &err) == 0) {
        if (md_typeof(method) != MD_T_STR || md_typeof(params) != MD_T_LIST)
            die("decode_call gave the wrong types", NULL, NULL, NULL);
        check_manager_roundtrip(params, &lim);
        check_response(params, &lim);
        check_call(method, params, &lim);
        md_decref(method);
        md_decref(params);
    } else if (method || params || !err.msg[0]) {
        die("a failed decode_call left a value or no message", NULL, NULL, err.msg);
    }

    bool fault = false;
    int64_t code = 0;
    if (md_xmlrpc_decode_response(data, size, &lim, &v, &fault, &code, &err) == 0) {
        if (!v)
            die("decode_response succeeded without a value", NULL, NULL, NULL);
        check_decoded_response(v, fault, code, &lim);
        md_decref(v);
    } else if (v || !err.msg[0] || err.code >= 0) {
        die("a failed decode_response left a value or no message", NULL, NULL, err.msg);
    }
    return 0;
}
