/* test_codec.c - the codec interface the transports call
 * (serializers/codec.h): codecs by name and by first byte; a request
 * decoded with the protocol to answer it in, also when it could not be
 * decoded; the proxy note (and the attack it answers); reply pairs
 * spelled for Python 2 peers. */
#include "tests/unit/unit.h"

#include <string.h>

#include "core/base/error.h"
#include "core/disp/disp.h"
#include "core/obj.h"
#include "core/protocol/protocol.h"
#include "core/server_impl.h"
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

/* RebuildProxy(AutoProxy, Token('list', ('127.0.0.1', 50000), ident),
 * 'pickle', {}) as a client pickles a proxy; steals nothing. */
static md_val *proxy_value(const char *ident)
{
    md_val *addr = md_th_tuple(2, md_th_str("127.0.0.1"), md_th_int(50000));
    md_val *token = md_proto_token_new("list", addr, ident);
    md_val *args = md_th_tuple(4, md_global_new("multiprocessing.managers", "AutoProxy"), token,
                               md_th_str("pickle"), md_dict_new());
    md_val *rebuild = md_global_new("multiprocessing.managers", "RebuildProxy");
    md_val *proxy = md_opaque_new(MD_OPQ_REDUCE, rebuild, args);
    md_decref(rebuild);
    md_decref(addr);
    md_decref(args);
    return proxy;
}

/* The same bytes with protocol 2's GLOBAL of RebuildProxy spelled as a
 * hostile client may: module and name as protocol 0 unicode lines, the
 * name's R escaped, joined by STACK_GLOBAL. Nowhere in the result is the
 * text "RebuildProxy". The caller frees out. */
static void respell_proxy_global(const md_buf *in, md_buf *out)
{
    static const char plain[] = "cmultiprocessing.managers\nRebuildProxy\n";
    static const char hostile[] = "Vmultiprocessing.managers\nV\\u0052ebuildProxy\n\x93";
    const uint8_t *at = memmem(in->data, in->len, plain, sizeof plain - 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t head = (size_t)(at - in->data), tail = head + sizeof plain - 1;
    *out = (md_buf)MD_BUF_INIT;
    md_buf_append(out, in->data, head);
    md_buf_append(out, hostile, sizeof hostile - 1);
    md_buf_append(out, in->data + tail, in->len - tail);
    CU_ASSERT_PTR_NULL(memmem(out->data, out->len, "RebuildProxy", 12));
}

/* A request's pickle of v at protocol: decoded, is the proxy note set? */
static bool noted(const md_val *v, int protocol)
{
    md_codec_msg msg;
    md_buf b = MD_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(v, protocol, &b, NULL), 0);
    CU_ASSERT_EQUAL(decode(&md_codec_pickle, b.data, b.len, &msg), 0);
    md_decref(msg.value);
    md_buf_free(&b);
    return msg.may_carry_proxies;
}

static void test_codec_proxy_note_comes_from_the_decoder(void)
{
    /* a request carrying a proxy, at every protocol a client uses; a
     * global named RebuildProxy alone is enough */
    md_val *proxy = proxy_value("7f01");
    md_val *req = md_th_tuple(4, md_th_str("7f02"), md_th_str("append"),
                              md_th_tuple(1, md_incref(proxy)), md_dict_new());
    for (int protocol = 2; protocol <= 5; protocol++)
        CU_ASSERT_TRUE(noted(req, protocol));
    md_val *g = md_global_new("multiprocessing.managers", "RebuildProxy");
    CU_ASSERT_TRUE(noted(g, 4));
    md_decref(g);
    /* the name as text is not a proxy: in a str, in bytes, as a module */
    md_val *text = md_th_tuple(2, md_th_str("see multiprocessing.managers.RebuildProxy"),
                               md_th_bytes("RebuildProxy", 12));
    CU_ASSERT_FALSE(noted(text, 2));
    CU_ASSERT_FALSE(noted(text, 4));
    md_decref(text);
    g = md_global_new("RebuildProxy", "RebuildProxyish");
    CU_ASSERT_FALSE(noted(g, 4));
    md_decref(g);
    /* XML has no proxies, whatever its text says */
    md_codec_msg msg;
    const char *xml = "<params><param><value><string>RebuildProxy</string></value></param></params>";
    CU_ASSERT_EQUAL(decode(&md_codec_xmlrpc, xml, strlen(xml), &msg), 0);
    CU_ASSERT_FALSE(msg.may_carry_proxies);
    md_decref(msg.value);
    /* nothing is noted for what could not be decoded, even after the
     * global was resolved */
    CU_ASSERT(decode(&md_codec_pickle, "\x80\x04RebuildProxy", 14, &msg) < 0);
    CU_ASSERT_FALSE(msg.may_carry_proxies);
    static const char half[] = "\x80\x02" "cmultiprocessing.managers\nRebuildProxy\n" "\xff";
    CU_ASSERT(decode(&md_codec_pickle, half, sizeof half - 1, &msg) < 0);
    CU_ASSERT_FALSE(msg.may_carry_proxies);
    /* hostile: the name never written out (escaped, joined by
     * STACK_GLOBAL) is still a proxy, and still noted */
    md_buf b = MD_BUF_INIT, h;
    CU_ASSERT_EQUAL_FATAL(md_pickle_encode(req, 2, &b, NULL), 0);
    respell_proxy_global(&b, &h);
    CU_ASSERT_EQUAL(decode(&md_codec_pickle, h.data, h.len, &msg), 0);
    CU_ASSERT_TRUE(msg.may_carry_proxies);
    md_val *args = msg.value ? md_tuple_get(msg.value, 2) : NULL;
    CU_ASSERT(args && md_proto_proxy_token(md_tuple_get(args, 0)) != NULL);
    md_decref(msg.value);
    md_buf_free(&h);
    md_buf_free(&b);
    md_decref(req);
    md_decref(proxy);
}

/* The attack the note answers: a proxy stored through a request that
 * spells RebuildProxy without its text keeps its referent alive once
 * the referent's own references are gone, as a plain one does. */
static void test_codec_hostile_proxy_spelling_is_still_counted(void)
{
    for (int hinted = 0; hinted <= 1; hinted++) {
        md_th *th = md_th_new();
        char held[32], holder[32];
        md_th_create_ok(th, "dict", NULL, NULL, held, __FILE__, __LINE__);
        md_th_create_ok(th, "list", NULL, NULL, holder, __FILE__, __LINE__);
        md_val *proxy = proxy_value(held);
        md_val *req = md_th_tuple(4, md_th_str(holder), md_th_str("append"),
                                  md_th_tuple(1, proxy), md_dict_new());
        md_buf b = MD_BUF_INIT, h;
        CU_ASSERT_EQUAL_FATAL(md_pickle_encode(req, 2, &b, NULL), 0);
        respell_proxy_global(&b, &h);
        md_codec_msg msg;
        CU_ASSERT_EQUAL(decode(&md_codec_pickle, h.data, h.len, &msg), 0);
        CU_ASSERT_TRUE(msg.may_carry_proxies);
        md_peer *peer = md_th_peer(th, 2);
        /* as transports/listen.c sets it; the control run pretends the
         * note was missed, and the referent goes with its last reference
         * (so this test can tell the two apart) */
        peer->may_carry_proxies = hinted ? msg.may_carry_proxies : false;
        md_disp_request(md_th_server(th), peer, msg.value, true);
        md_decref(msg.value);
        md_val *r = NULL;
        CU_ASSERT_EQUAL(md_th_take(th, peer, &r), MD_OUT_RETURN);
        md_decref(r);
        md_th_drop(th, held, __FILE__, __LINE__);
        CU_ASSERT_EQUAL(md_server_find(md_th_server(th), held) != NULL, hinted);
        md_buf_free(&h);
        md_buf_free(&b);
        md_decref(req);
        md_th_free(th);
    }
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
    MD_ADD_TEST(s, test_codec_proxy_note_comes_from_the_decoder);
    MD_ADD_TEST(s, test_codec_hostile_proxy_spelling_is_still_counted);
    MD_ADD_TEST(s, test_codec_reply_speaks_python2_at_protocol_2);
}
