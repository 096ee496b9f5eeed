/* test_http.c - the XML-RPC-over-HTTP endpoint (transports/http.c) over
 * a real loopback socket, and its method table (core/disp/
 * xmlrpc_methods.c) through harness peers: a request without the key or
 * with a wrong one is refused with 401 and changes nothing; an empty
 * body is a parse fault; only POST of XML to the endpoint's path is
 * served; create, call and get_methods go through the table; the table
 * answers system.listMethods, methodHelp and methodSignature from its
 * rows, faults name the method and the parameters, and a --share name
 * serves as an id. */
#include "tests/unit/unit.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/disp/xmlrpc_methods.h"
#include "core/types/registry.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"
#include "tests/unit/loopclient.h"
#include "transports/http.h"

static const char TEST_KEY[] = "unit-http-key";

typedef struct hfix {
    md_lc_server srv;
    md_th *th;                 /* srv's, for short */
    struct event_base *base;
    md_http *http;
    md_addr addr;
} hfix;

static bool hfix_open(hfix *f)
{
    char err[256] = "";
    memset(f, 0, sizeof *f);
    bool ok = md_lc_server_open(&f->srv, TEST_KEY);
    f->th = f->srv.th;
    f->base = f->srv.base;
    md_http_opts opts = {.key = f->srv.key};
    f->http = ok ? md_http_new(md_th_server(f->th), f->base, &opts) : NULL;
    if (!f->http || md_addr_parse("http://127.0.0.1:0/RPC2", &f->addr, err, sizeof err) < 0 ||
        md_http_listen(f->http, &f->addr, err, sizeof err) < 0) {
        fprintf(stderr, "\n    http listener: %s\n", err);
        return false;
    }
    return f->addr.port > 0 && md_http_listening(f->http);
}

static void hfix_close(hfix *f)
{
    md_http_free(f->http);
    md_lc_server_close(&f->srv);
}

/* One request on a new connection (Connection: close); the whole
 * response, NUL-terminated, into resp. password NULL: no Authorization
 * header. false if the server did not answer and close in time. */
static bool http_exchange(hfix *f, const char *method, const char *ctype, const char *password,
                          const char *body, md_buf *resp)
{
    char auth[256] = "";
    if (password) {
        char cred[128], b64[200];
        snprintf(cred, sizeof cred, "user:%s", password);
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)cred, strlen(cred),
                          sodium_base64_VARIANT_ORIGINAL);
        snprintf(auth, sizeof auth, "Authorization: Basic %s\r\n", b64);
    }
    md_buf req = MD_BUF_INIT;
    md_buf_printf(&req, "%s /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: %s\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                  method, auth, ctype, strlen(body), body);
    int fd = md_lc_connect(f->addr.port);
    bool sent = fd >= 0 && !md_buf_failed(&req) && md_lc_send(fd, req.data, req.len);
    md_buf_free(&req);
    md_buf_reset(resp);
    bool closed = false;
    for (int i = 0; sent && !closed && i < MD_LC_ROUNDS; i++)
        closed = md_lc_poll(f->base, fd, resp) == 0;
    if (fd >= 0)
        close(fd);
    md_buf_putc(resp, 0);
    return closed && resp->len > 1;
}

static bool has(const md_buf *resp, const char *text)
{
    bool ok = resp->data && strstr((const char *)resp->data, text) != NULL;
    if (!ok)
        fprintf(stderr, "\n    no '%s' in: %s\n", text, resp->data ? (const char *)resp->data : "");
    return ok;
}

static bool post(hfix *f, const char *body, md_buf *resp)
{
    return http_exchange(f, "POST", "text/xml", TEST_KEY, body, resp);
}

#define CALL0(name) \
    "<?xml version='1.0'?><methodCall><methodName>" name "</methodName><params></params></methodCall>"

/* The first <string> of a response, copied into out. */
static bool first_string(const md_buf *resp, char *out, size_t n)
{
    const char *s = resp->data ? strstr((const char *)resp->data, "<string>") : NULL;
    const char *e = s ? strstr(s, "</string>") : NULL;
    if (!e || (size_t)(e - s - 8) >= n)
        return false;
    snprintf(out, n, "%.*s", (int)(e - s - 8), s + 8);
    return true;
}

/* ---- the HTTP endpoint ------------------------------------------------------ */

static void test_http_refuses_a_wrong_or_missing_key(void)
{
    hfix f;
    CU_ASSERT_FATAL(hfix_open(&f));
    md_buf resp = MD_BUF_INIT;
    const char *create = "<?xml version='1.0'?><methodCall><methodName>create</methodName>"
                         "<params><param><value><string>dict</string></value></param></params>"
                         "</methodCall>";
    CU_ASSERT_FATAL(http_exchange(&f, "POST", "text/xml", "wrong-key", create, &resp));
    CU_ASSERT(has(&resp, "HTTP/1.1 401"));
    CU_ASSERT(has(&resp, "WWW-Authenticate: Basic"));
    CU_ASSERT_FATAL(http_exchange(&f, "POST", "text/xml", NULL, create, &resp));
    CU_ASSERT(has(&resp, "HTTP/1.1 401"));
    /* a key with one more character is still wrong */
    CU_ASSERT_FATAL(http_exchange(&f, "POST", "text/xml", "unit-http-key!", create, &resp));
    CU_ASSERT(has(&resp, "HTTP/1.1 401"));
    CU_ASSERT_EQUAL(md_th_nobj(f.th), 0); /* nothing was created */
    md_buf_free(&resp);
    hfix_close(&f);
}

static void test_http_empty_or_bad_body_is_a_fault(void)
{
    hfix f;
    CU_ASSERT_FATAL(hfix_open(&f));
    md_buf resp = MD_BUF_INIT;
    CU_ASSERT_FATAL(post(&f, "", &resp));
    CU_ASSERT(has(&resp, "HTTP/1.1 200"));
    CU_ASSERT(has(&resp, "<name>faultCode</name>\n<value><int>-32700</int>"));
    CU_ASSERT(has(&resp, "the request body is empty"));
    CU_ASSERT_FATAL(post(&f, "<methodCall><methodName>", &resp));
    CU_ASSERT(has(&resp, "<int>-32700</int>"));
    /* well-formed, but no call: invalid, not a parse error */
    CU_ASSERT_FATAL(post(&f, "<methodResponse/>", &resp));
    CU_ASSERT(has(&resp, "<int>-32600</int>"));
    md_buf_free(&resp);
    hfix_close(&f);
}

static void test_http_serves_only_xml_posts(void)
{
    hfix f;
    CU_ASSERT_FATAL(hfix_open(&f));
    md_buf resp = MD_BUF_INIT;
    CU_ASSERT_FATAL(http_exchange(&f, "GET", "text/xml", TEST_KEY, "", &resp));
    CU_ASSERT(has(&resp, "HTTP/1.1 405"));
    CU_ASSERT(has(&resp, "Allow: POST"));
    CU_ASSERT_FATAL(http_exchange(&f, "POST", "application/json", TEST_KEY, "{}", &resp));
    CU_ASSERT(has(&resp, "HTTP/1.1 415"));
    md_buf_free(&resp);
    hfix_close(&f);
}

static void test_http_create_call_and_get_methods_through_the_table(void)
{
    hfix f;
    CU_ASSERT_FATAL(hfix_open(&f));
    md_buf resp = MD_BUF_INIT;
    char id[64], body[1024];
    CU_ASSERT_FATAL(post(&f, "<?xml version='1.0'?><methodCall><methodName>create</methodName>"
                             "<params><param><value><string>dict</string></value></param>"
                             "</params></methodCall>", &resp));
    CU_ASSERT_FATAL(first_string(&resp, id, sizeof id));
    CU_ASSERT(has(&resp, "<string>__getitem__</string>"));
    CU_ASSERT_EQUAL(md_th_nobj(f.th), 1);
    snprintf(body, sizeof body,
             "<methodCall><methodName>call</methodName><params>"
             "<param><value><string>%s</string></value></param>"
             "<param><value><string>__setitem__</string></value></param>"
             "<param><value><array><data><value><string>k</string></value>"
             "<value><int>42</int></value></data></array></value></param>"
             "</params></methodCall>", id);
    CU_ASSERT_FATAL(post(&f, body, &resp));
    CU_ASSERT(has(&resp, "<nil/>"));
    snprintf(body, sizeof body,
             "<methodCall><methodName>call</methodName><params>"
             "<param><value><string>%s</string></value></param>"
             "<param><value><string>get</string></value></param>"
             "<param><value><array><data><value><string>k</string></value></data></array>"
             "</value></param></params></methodCall>", id);
    CU_ASSERT_FATAL(post(&f, body, &resp));
    CU_ASSERT(has(&resp, "<int>42</int>"));
    snprintf(body, sizeof body,
             "<methodCall><methodName>get_methods</methodName><params>"
             "<param><value><string>%s</string></value></param></params></methodCall>", id);
    CU_ASSERT_FATAL(post(&f, body, &resp));
    CU_ASSERT(has(&resp, "<string>keys</string>"));
    CU_ASSERT_FATAL(post(&f, "<methodCall><methodName>call</methodName><params>"
                             "<param><value><string>ffff</string></value></param>"
                             "<param><value><string>get</string></value></param>"
                             "</params></methodCall>", &resp));
    CU_ASSERT(has(&resp, "<int>4</int>"));
    CU_ASSERT(has(&resp, "no object with id ffff"));
    CU_ASSERT_FATAL(post(&f, CALL0("system.listMethods"), &resp));
    CU_ASSERT(has(&resp, "<string>system.multicall</string>"));
    CU_ASSERT_FATAL(post(&f, CALL0("nosuch"), &resp));
    CU_ASSERT(has(&resp, "<int>-32601</int>"));
    md_buf_free(&resp);
    hfix_close(&f);
}

/* ---- the method table, through harness peers ----------------------------- */

/* Call name(params) (stolen) from peer; the fault code, or 0 when the
 * call was made (its reply then waits on the peer). */
static int xcall(md_th *th, md_peer *peer, const char *name, md_val *params, char *msg, size_t n)
{
    int fault = 0;
    msg[0] = 0;
    bool ok = md_disp_xmlrpc_call(md_th_server(th), peer, name, params, &fault, msg, n);
    md_decref(params);
    return ok ? 0 : fault;
}

static void test_xmlrpc_methods_introspection_comes_from_one_table(void)
{
    md_th *th = md_th_new();
    md_peer *peer = md_th_peer(th, 0);
    char msg[300];
    md_val *names = NULL;
    CU_ASSERT_EQUAL_FATAL(xcall(th, peer, "system.listMethods", md_th_list(0), msg, sizeof msg), 0);
    CU_ASSERT_EQUAL_FATAL(md_th_take(th, peer, &names), MD_OUT_RETURN);
    CU_ASSERT_FATAL(md_typeof(names) == MD_T_LIST && md_list_len(names) == 12);
    /* every listed method has its help and a signature */
    for (size_t i = 0; i < md_list_len(names); i++) {
        md_val *name = md_list_get(names, i), *help = NULL, *sig = NULL;
        CU_ASSERT_EQUAL(xcall(th, peer, "system.methodHelp", md_th_list(1, md_incref(name)), msg,
                              sizeof msg), 0);
        CU_ASSERT_EQUAL(md_th_take(th, peer, &help), MD_OUT_RETURN);
        CU_ASSERT(help && md_typeof(help) == MD_T_STR &&
                  strncmp(md_str_data(help), md_str_data(name), strlen(md_str_data(name))) == 0);
        CU_ASSERT_EQUAL(xcall(th, peer, "system.methodSignature", md_th_list(1, md_incref(name)),
                              msg, sizeof msg), 0);
        CU_ASSERT_EQUAL(md_th_take(th, peer, &sig), MD_OUT_RETURN);
        CU_ASSERT(sig && md_typeof(sig) == MD_T_LIST && md_list_len(sig) == 1);
        md_decref(help);
        md_decref(sig);
    }
    md_val *sig = NULL;
    CU_ASSERT_EQUAL(xcall(th, peer, "system.methodSignature", md_th_list(1, md_th_str("call")), msg,
                          sizeof msg), 0);
    CU_ASSERT_EQUAL(md_th_take(th, peer, &sig), MD_OUT_RETURN);
    CU_ASSERT(md_ts_repr_is(sig, "[['any', 'string', 'string', 'array', 'struct']]"));
    md_decref(sig);
    md_decref(names);
    md_th_free(th);
}

static void test_xmlrpc_methods_faults_name_the_problem(void)
{
    md_th *th = md_th_new();
    md_peer *peer = md_th_peer(th, 0);
    char msg[300];
    CU_ASSERT_EQUAL(xcall(th, peer, "nosuch", md_th_list(0), msg, sizeof msg), MD_FAULT_NO_METHOD);
    CU_ASSERT_STRING_EQUAL(msg, "no method 'nosuch' (see system.listMethods)");
    CU_ASSERT_EQUAL(xcall(th, peer, "system.methodHelp", md_th_list(1, md_th_str("nosuch")), msg,
                          sizeof msg), MD_FAULT_PARAMS);
    CU_ASSERT_EQUAL(xcall(th, peer, "create", md_th_list(1, md_th_int(3)), msg, sizeof msg),
                    MD_FAULT_PARAMS);
    CU_ASSERT_STRING_EQUAL(msg, "create(typeid, args=[], kwargs={})");
    CU_ASSERT_EQUAL(xcall(th, peer, "incref", md_th_list(0), msg, sizeof msg), MD_FAULT_PARAMS);
    CU_ASSERT_STRING_EQUAL(msg, "incref(id)");
    CU_ASSERT_EQUAL(xcall(th, peer, "debug_info", md_th_list(1, md_th_int(1)), msg, sizeof msg),
                    MD_FAULT_PARAMS);
    CU_ASSERT_STRING_EQUAL(msg, "debug_info()");
    CU_ASSERT_EQUAL(xcall(th, peer, "get_methods", md_th_list(1, md_th_str("ffff")), msg,
                          sizeof msg), MD_FAULT_NO_OBJECT);
    CU_ASSERT_EQUAL(xcall(th, peer, "get_methods", md_th_list(0), msg, sizeof msg), MD_FAULT_PARAMS);
    CU_ASSERT_EQUAL(xcall(th, peer, MD_XMLRPC_MULTICALL, md_th_list(1, md_th_list(0)), msg,
                          sizeof msg), MD_FAULT_INVALID);
    CU_ASSERT_STRING_EQUAL(msg, "system.multicall cannot be nested");
    md_val *none = NULL;
    CU_ASSERT_EQUAL(md_th_take(th, peer, &none), MD_OUT_NONE); /* no fault was delivered */
    CU_ASSERT_EQUAL(md_th_nobj(th), 0);
    md_th_free(th);
}

static void test_xmlrpc_methods_a_share_name_is_an_id(void)
{
    md_th *th = md_th_new();
    char err[200], msg[300];
    CU_ASSERT_EQUAL_FATAL(md_reg_add(md_th_server(th), "get_queue", "Queue", MD_REG_SHARED, err,
                                     sizeof err), 0);
    md_peer *peer = md_th_peer(th, 0);
    md_val *exposed = NULL, *size = NULL;
    CU_ASSERT_EQUAL(xcall(th, peer, "get_methods", md_th_list(1, md_th_str("get_queue")), msg,
                          sizeof msg), 0);
    CU_ASSERT_EQUAL(md_th_take(th, peer, &exposed), MD_OUT_RETURN);
    CU_ASSERT(exposed && md_typeof(exposed) == MD_T_TUPLE && md_tuple_len(exposed) > 0);
    CU_ASSERT_EQUAL(xcall(th, peer, "call",
                          md_th_list(2, md_th_str("get_queue"), md_th_str("qsize")), msg,
                          sizeof msg), 0);
    CU_ASSERT_EQUAL(md_th_take(th, peer, &size), MD_OUT_RETURN);
    CU_ASSERT(md_ts_repr_is(size, "0"));
    md_decref(exposed);
    md_decref(size);
    md_th_free(th);
}

static void test_xmlrpc_methods_outcomes_become_faults(void)
{
    char msg[300];
    md_val *one = md_th_int(1);
    CU_ASSERT_EQUAL(md_disp_xmlrpc_fault(MD_OUT_RETURN, one, msg, sizeof msg), 0);
    md_val *key = md_th_str("x");
    md_val *exc = md_exc_make("builtins", "KeyError", 1, key);
    CU_ASSERT_EQUAL_FATAL(md_disp_xmlrpc_fault(MD_OUT_ERROR, exc, msg, sizeof msg),
                          MD_FAULT_EXCEPTION);
    CU_ASSERT_STRING_EQUAL(msg, "KeyError: 'x'");
    md_val *tb = md_th_str("Traceback (most recent call last):\n  File \"managerd\", in serve\n"
                           "TypeError: no such typeid\n");
    CU_ASSERT_EQUAL(md_disp_xmlrpc_fault(MD_OUT_TRACEBACK, tb, msg, sizeof msg),
                    MD_FAULT_SERVER_ERROR);
    CU_ASSERT_STRING_EQUAL(msg, "TypeError: no such typeid");
    CU_ASSERT_EQUAL(md_disp_xmlrpc_fault(MD_OUT_UNSERIALIZABLE, tb, msg, sizeof msg),
                    MD_FAULT_UNSERIALIZABLE);
    md_decref(one);
    md_decref(key);
    md_decref(exc);
    md_decref(tb);
}

void md_test_register_http(void)
{
    CU_pSuite s = md_test_suite("http");
    MD_ADD_TEST(s, test_http_refuses_a_wrong_or_missing_key);
    MD_ADD_TEST(s, test_http_empty_or_bad_body_is_a_fault);
    MD_ADD_TEST(s, test_http_serves_only_xml_posts);
    MD_ADD_TEST(s, test_http_create_call_and_get_methods_through_the_table);
    MD_ADD_TEST(s, test_xmlrpc_methods_introspection_comes_from_one_table);
    MD_ADD_TEST(s, test_xmlrpc_methods_faults_name_the_problem);
    MD_ADD_TEST(s, test_xmlrpc_methods_a_share_name_is_an_id);
    MD_ADD_TEST(s, test_xmlrpc_methods_outcomes_become_faults);
}
