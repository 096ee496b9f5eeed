/* test_codec.c - the codec interface the transports call
 * (serializers/codec.h): codecs by name and by first byte; a request
 * decoded with the protocol to answer it in, also when it could not be
 * decoded; the proxy hint; reply pairs spelled for Python 2 peers. */
#include "tests/unit/unit.h"

#include <string.h>

#include "core/base/error.h"
#include "serializers/codec.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"

static void test_codec_found_by_name_and_by_first_byte(void)
{
    CU_ASSERT_PTR_EQUAL(md_codec_find("pickle"), &md_codec_pickle);
    CU_ASSERT_PTR_EQUAL(md_codec_find("xmlrpclib"), &md_codec_xmlrpc);
    CU_ASSERT_PTR_NULL(md_codec_find("auto"));
    CU_ASSERT_PTR_EQUAL(md_codec_detect((const uint8_t *)"\x80\x04", 2), &md_codec_pickle);
    CU_ASSERT_PTR_EQUAL(md_codec_detect((const uint8_t *)"<params>", 8), &md_codec_xmlrpc);
    CU_ASSERT_PTR_NULL(md_codec_detect((const uint8_t *)"{}", 2));
    CU_ASSERT_PTR_NULL(md_codec_detect(NULL, 0));
}

/* Decode data with codec; the return code, msg filled in. */
static int decode(const md_codec_ops *codec, const void *data, size_t n, md_codec_msg *msg)
{
    md_codec_err err;
    memset(&err, 0, sizeof err);
    int rc = md_codec_decode_request(codec, data, n, NULL, msg, &err);
    CU_ASSERT(rc == 0 ? msg->value != NULL : msg->value == NULL && err.msg[0] != 0);
    return rc;
}

static void test_codec_request_carries_the_protocol_to_answer_in(void)
{
    md_codec_msg msg;
    md_buf b = MD_BUF_INIT;
    md_val *v = md_th_tuple(2, md_th_str("a"), md_th_int(1));
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(v, 3, &b, NULL), 0);
    CU_ASSERT_EQUAL(decode(&md_codec_pickle, b.data, b.len, &msg), 0);
    CU_ASSERT_EQUAL(msg.protocol, 3);
    CU_ASSERT_FALSE(msg.may_carry_proxies);
    md_decref(msg.value);
    /* protocol 0 ("N." is None) is answered at 2 */
    CU_ASSERT_EQUAL(decode(&md_codec_pickle, "N.", 2, &msg), 0);
    CU_ASSERT_EQUAL(msg.protocol, 2);
    md_decref(msg.value);
    /* undecodable: the protocol it announces, 4 when it announces none */
    CU_ASSERT(decode(&md_codec_pickle, "\x80\x01xx", 4, &msg) < 0);
    CU_ASSERT_EQUAL(msg.protocol, 1);
    CU_ASSERT(decode(&md_codec_pickle, "\x80\x09xx", 4, &msg) < 0);
    CU_ASSERT_EQUAL(msg.protocol, 4);
    /* XML is protocol 0, decoded or not */
    const char *xml = "<params><param><value><int>7</int></value></param></params>";
    CU_ASSERT_EQUAL(decode(&md_codec_xmlrpc, xml, strlen(xml), &msg), 0);
    CU_ASSERT_EQUAL(msg.protocol, 0);
    md_decref(msg.value);
    CU_ASSERT(decode(&md_codec_xmlrpc, "<params>", 8, &msg) < 0);
    CU_ASSERT_EQUAL(msg.protocol, 0);
    md_decref(v);
    md_buf_free(&b);
}

static void test_codec_proxy_hint_follows_the_bytes(void)
{
    md_codec_msg msg;
    md_buf b = MD_BUF_INIT;
    /* a pickle naming RebuildProxy (here only as a global: the hint is
     * about the bytes, the dispatcher then looks at the values) */
    md_val *g = md_global_new("multiprocessing.managers", "RebuildProxy");
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(g, 4, &b, NULL), 0);
    CU_ASSERT_EQUAL(decode(&md_codec_pickle, b.data, b.len, &msg), 0);
    CU_ASSERT_TRUE(msg.may_carry_proxies);
    md_decref(msg.value);
    /* XML has no proxies, whatever its text says */
    const char *xml = "<params><param><value><string>RebuildProxy</string></value></param></params>";
    CU_ASSERT_EQUAL(decode(&md_codec_xmlrpc, xml, strlen(xml), &msg), 0);
    CU_ASSERT_FALSE(msg.may_carry_proxies);
    md_decref(msg.value);
    /* nothing is hinted for what could not be decoded */
    CU_ASSERT(decode(&md_codec_pickle, "\x80\x04RebuildProxy", 14, &msg) < 0);
    CU_ASSERT_FALSE(msg.may_carry_proxies);
    md_decref(g);
    md_buf_free(&b);
}

/* The reply pair encoded for protocol, decoded back. */
static md_val *reply(int protocol, const char *kind, md_codec_payload what, md_val *payload,
                     md_buf *b)
{
    md_codec_err err;
    md_buf_reset(b);
    if (md_codec_encode_reply(&md_codec_pickle, protocol, kind, what, payload, b, &err) < 0)
        return NULL;
    md_val *v = NULL;
    md_pickle_decode(b->data, b->len, NULL, &v, NULL, NULL);
    return v;
}

static void test_codec_reply_speaks_python2_at_protocol_2(void)
{
    md_buf b = MD_BUF_INIT;
    md_val *v = reply(2, "#TRACEBACK", MD_CODEC_TEXT, md_th_str("Traceback: x\n"), &b);
    CU_ASSERT_FATAL(v && md_typeof(v) == MD_T_TUPLE && md_tuple_len(v) == 2);
    CU_ASSERT_TRUE(md_str_is_py2(md_tuple_get(v, 0)));
    CU_ASSERT_TRUE(md_str_is_py2(md_tuple_get(v, 1)));
    md_decref(v);
    /* a text that is not ASCII goes as bytes */
    v = reply(2, "#TRACEBACK", MD_CODEC_TEXT, md_th_str("caf\xc3\xa9"), &b);
    CU_ASSERT(v && md_typeof(md_tuple_get(v, 1)) == MD_T_BYTES);
    md_decref(v);
    /* an exception's ASCII messages become str */
    md_val *msg = md_th_str("boom");
    v = reply(2, "#ERROR", MD_CODEC_EXCEPTION, md_exc_make("builtins", "ValueError", 1, msg), &b);
    CU_ASSERT_FATAL(v && md_typeof(md_tuple_get(v, 1)) == MD_T_EXC);
    CU_ASSERT_TRUE(md_str_is_py2(md_tuple_get(md_exc_args(md_tuple_get(v, 1)), 0)));
    md_decref(v);
    /* results are sent as they are; above protocol 2 nothing changes */
    v = reply(2, "#RETURN", MD_CODEC_RESULT, md_th_str("result"), &b);
    CU_ASSERT(v && !md_str_is_py2(md_tuple_get(v, 1)));
    md_decref(v);
    v = reply(4, "#TRACEBACK", MD_CODEC_TEXT, md_th_str("Traceback: x\n"), &b);
    CU_ASSERT(v && !md_str_is_py2(md_tuple_get(v, 0)) && !md_str_is_py2(md_tuple_get(v, 1)));
    md_decref(v);
    /* a NULL payload (out of memory upstream) is an error, not a crash */
    md_codec_err err;
    CU_ASSERT_EQUAL(md_codec_encode_reply(&md_codec_pickle, 4, "#RETURN", MD_CODEC_RESULT, NULL,
                                          &b, &err), MD_ENOMEM);
    md_decref(msg);
    md_buf_free(&b);
}

void md_test_register_codec(void)
{
    CU_pSuite s = md_test_suite("codec");
    MD_ADD_TEST(s, test_codec_found_by_name_and_by_first_byte);
    MD_ADD_TEST(s, test_codec_request_carries_the_protocol_to_answer_in);
    MD_ADD_TEST(s, test_codec_proxy_hint_follows_the_bytes);
    MD_ADD_TEST(s, test_codec_reply_speaks_python2_at_protocol_2);
}
