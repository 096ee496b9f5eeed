/* test_disp.c - the dispatcher (core/disp/) and the manager protocol's
 * shapes (core/protocol/): the table of server methods and its argument
 * checks, requests of the wrong shape, binding of positional and keyword
 * arguments to a method row, calls on names an object does not expose,
 * the one #TRACEBACK text, and how an #ERROR reaches an 'xmlrpclib' peer.
 * Replies are read back from the harness's recording peers. */
#include "tests/unit/unit.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/disp/disp_int.h"
#include "core/protocol/protocol.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

#define TB_HEAD "Traceback (most recent call last):\n  File \"managerd\", in serve\n"

/* The text of a #TRACEBACK payload, or "" for anything else. */
static const char *text_of(const md_val *p)
{
    return p && md_typeof(p) == MD_T_STR ? md_str_data(p) : "";
}

/* A server method with args (stolen, NULL: none) must reply #TRACEBACK
 * whose text ends with tail. */
static void server_call_fails(md_th *th, const char *method, md_val *args, const char *tail,
                              int line)
{
    int kind = md_th_server_call(th, method, args);
    md_val *p = NULL;
    md_th_take(th, NULL, &p);
    const char *t = text_of(p);
    size_t n = strlen(t), m = strlen(tail);
    size_t h = strlen(TB_HEAD);
    bool ok = kind == MD_OUT_TRACEBACK && n >= h && memcmp(t, TB_HEAD, h) == 0 && n >= m &&
              memcmp(t + n - m, tail, m) == 0;
    if (!ok)
        fprintf(stderr, "\n    line %d: %s: kind %d, text %s", line, method, kind, t);
    CU_ASSERT(ok);
    md_decref(p);
    md_decref(args);
}
#define SERVER_CALL_FAILS(th, m, a, tail) server_call_fails(th, m, a, tail, __LINE__)

/* ---- the table of server methods ------------------------------------- */

static void test_disp_server_table_rows_are_complete(void)
{
    size_t n = 0;
    for (const md_srv_method *m = md_disp_server_methods; m->name; m++, n++) {
        CU_ASSERT_PTR_NOT_NULL(m->fn);
        CU_ASSERT(m->signature && strncmp(m->signature, m->name, strlen(m->name)) == 0);
        CU_ASSERT(m->help && m->help[0]);
        CU_ASSERT(m->min_args <= m->max_args);
        /* a row whose count can be wrong says what CPython says then */
        if (m->min_args > 0 || m->max_args != MD_SRV_ANY_ARGS)
            CU_ASSERT(m->arity_error && m->arity_error[0]);
        for (const md_srv_method *o = md_disp_server_methods; o != m; o++)
            CU_ASSERT(strcmp(o->name, m->name) != 0);
        md_val *name = md_str_from_cstr(m->name);
        CU_ASSERT_PTR_EQUAL(md_disp_server_method(name), m);
        md_decref(name);
    }
    /* CPython's Server.public and SharedMemoryServer's three */
    CU_ASSERT_EQUAL(n, 12);
    md_val *nope = md_str_from_cstr("create_"), *num = md_int_from_i64(1);
    CU_ASSERT_PTR_NULL(md_disp_server_method(nope));
    CU_ASSERT_PTR_NULL(md_disp_server_method(num));
    CU_ASSERT_PTR_NULL(md_disp_server_method(NULL));
    md_decref(nope);
    md_decref(num);
}

/* (ident, method, (), {}) with ident None or a str. */
static md_val *req4(const char *ident, const char *method)
{
    return md_th_tuple(4, ident ? md_str_from_cstr(ident) : md_none(), md_str_from_cstr(method),
                       md_tuple_new(0), md_dict_new());
}

static void test_disp_is_server_method_only_for_short_requests(void)
{
    bool accept = true;
    md_val *r = req4(NULL, "create");
    CU_ASSERT(md_disp_is_server_method(r, &accept));
    CU_ASSERT_FALSE(accept);
    md_decref(r);
    r = req4(NULL, "accept_connection");
    CU_ASSERT(md_disp_is_server_method(r, &accept));
    CU_ASSERT(accept);
    md_decref(r);
    r = req4(NULL, "#managerd.stats");
    CU_ASSERT(md_disp_is_server_method(r, &accept));
    CU_ASSERT_FALSE(accept);
    md_decref(r);
    r = req4("7f00aa", "create");       /* an object's ident: not a server method */
    CU_ASSERT_FALSE(md_disp_is_server_method(r, &accept));
    md_decref(r);
    r = req4(NULL, "__getitem__");
    CU_ASSERT_FALSE(md_disp_is_server_method(r, &accept));
    md_decref(r);
    r = md_th_tuple(2, md_none(), md_str_from_cstr("create"));
    CU_ASSERT_FALSE(md_disp_is_server_method(r, &accept));
    md_decref(r);
}

static void test_disp_server_methods_check_their_argument_count(void)
{
    md_th *th = md_th_new();
    SERVER_CALL_FAILS(th, "incref", NULL, "TypeError: incref() takes 2 positional arguments\n");
    SERVER_CALL_FAILS(th, "decref", md_th_tuple(2, md_th_str("a"), md_th_str("b")),
                      "TypeError: decref() takes 2 positional arguments\n");
    SERVER_CALL_FAILS(th, "create", NULL,
                      "TypeError: create() missing 1 required positional argument: 'typeid'\n");
    SERVER_CALL_FAILS(th, "get_methods", NULL, "TypeError: get_methods() expects a Token\n");
    SERVER_CALL_FAILS(th, "get_methods", md_th_tuple(1, md_th_str("not a token")),
                      "TypeError: get_methods() expects a Token\n");
    SERVER_CALL_FAILS(th, "track_segment", md_th_tuple(1, md_th_int(3)),
                      "TypeError: track_segment() expects a segment name\n");
    SERVER_CALL_FAILS(th, "release_segment", NULL,
                      "TypeError: release_segment() expects a segment name\n");
    /* methods that take anything still answer */
    md_val *args = md_th_tuple(2, md_th_int(1), md_th_int(2));
    CU_ASSERT_EQUAL(md_th_server_call(th, "number_of_objects", args), MD_OUT_RETURN);
    md_val *p = NULL;
    md_th_take(th, NULL, &p);
    CU_ASSERT(md_ts_repr_is(p, "0"));
    md_decref(p);
    md_decref(args);
    md_th_free(th);
}

static void test_disp_unknown_or_misaddressed_server_method_is_assertion_error(void)
{
    md_th *th = md_th_new();
    SERVER_CALL_FAILS(th, "no_such_method", NULL, "AssertionError: 'no_such_method' unrecognized\n");
    /* a short request must name no object */
    md_peer *p = md_th_peer(th, 4);
    md_val *req = req4("7f00aa", "create");
    md_disp_request(md_th_server(th), p, req, false);
    md_decref(req);
    md_val *out = NULL;
    CU_ASSERT_EQUAL(md_th_take(th, p, &out), MD_OUT_TRACEBACK);
    CU_ASSERT_STRING_EQUAL(text_of(out), TB_HEAD "AssertionError: 'create' unrecognized\n");
    md_decref(out);
    /* on a long connection every request is an object call */
    req = req4(NULL, "create");
    md_disp_request(md_th_server(th), p, req, true);
    md_decref(req);
    CU_ASSERT_EQUAL(md_th_take(th, p, &out), MD_OUT_TRACEBACK);
    CU_ASSERT_STRING_EQUAL(text_of(out), TB_HEAD "KeyError: None\n");
    md_decref(out);
    CU_ASSERT_EQUAL(md_th_nobj(th), 0);
    md_th_free(th);
}

static void test_disp_rejects_requests_of_the_wrong_shape(void)
{
    md_th *th = md_th_new();
    md_peer *p = md_th_peer(th, 4);
    md_val *out = NULL;
    md_val *bad[] = {
        md_th_tuple(3, md_none(), md_th_str("create"), md_tuple_new(0)),
        md_th_tuple(4, md_none(), md_th_int(5), md_tuple_new(0), md_dict_new()),
        md_th_tuple(4, md_none(), md_th_str("create"), md_th_str("x"), md_dict_new()),
        md_th_tuple(4, md_none(), md_th_str("create"), md_tuple_new(0), md_tuple_new(0)),
        md_th_str("create"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        md_disp_request(md_th_server(th), p, bad[i], false);
        CU_ASSERT_EQUAL(md_th_take(th, p, &out), MD_OUT_TRACEBACK);
        CU_ASSERT_STRING_EQUAL(text_of(out),
                               TB_HEAD "ValueError: a request must be (ident, methodname, args, kwds)\n");
        md_decref(out);
        md_decref(bad[i]);
    }
    /* a transport that could not build the request still gets a reply */
    md_disp_request(md_th_server(th), p, NULL, true);
    CU_ASSERT_EQUAL(md_th_take(th, p, &out), MD_OUT_TRACEBACK);
    CU_ASSERT_STRING_EQUAL(text_of(out), TB_HEAD "MemoryError: building the request\n");
    md_decref(out);
    CU_ASSERT_EQUAL(md_th_take(th, p, &out), MD_OUT_NONE);
    md_th_free(th);
}

/* ---- binding ------------------------------------------------------------ */

static const char *const three_params[] = {"item", "block", "timeout", NULL};

/* Bind args/kwds (stolen) to three_params with min 1, max 3. */
static int bind3(md_call *call, uint16_t flags, md_val *args, md_val *kwds)
{
    md_disp_call_init(call, NULL, NULL, 4);
    int rc = md_disp_bind(call, "put", three_params, 1, 3, flags, args, kwds);
    md_decref(args);
    md_decref(kwds);
    return rc;
}

/* The TypeError message bind3 raised, or "". */
static const char *raised(const md_call *call)
{
    if (call->out_kind != MD_OUT_ERROR || md_typeof(call->out_value) != MD_T_EXC ||
        strcmp(md_global_name(md_exc_class(call->out_value)), "TypeError") != 0)
        return "";
    return text_of(md_tuple_get(md_exc_args(call->out_value), 0));
}

static void test_disp_bind_places_positionals_and_keywords(void)
{
    md_call call;
    md_val *args = md_th_tuple(1, md_th_int(7));
    md_val *kwds = md_th_dict(1, md_th_str("timeout"), md_th_float(0.5));
    CU_ASSERT_EQUAL(bind3(&call, 0, args, md_incref(kwds)), 0);
    CU_ASSERT_EQUAL(call.nargs, 1);
    CU_ASSERT(md_ts_repr_is(call.argv[0], "7"));
    CU_ASSERT_PTR_NULL(call.argv[1]);
    CU_ASSERT(md_ts_repr_is(call.argv[2], "0.5"));
    CU_ASSERT_PTR_NULL(call.varargs);
    md_disp_call_done(&call);
    md_decref(kwds);
}

static void test_disp_bind_collects_varargs_and_varkw(void)
{
    md_call call;
    md_val *args = md_th_tuple(5, md_th_int(1), md_th_int(2), md_th_int(3), md_th_int(4),
                               md_th_int(5));
    md_val *kwds = md_th_dict(1, md_th_str("colour"), md_th_str("red"));
    CU_ASSERT_EQUAL(bind3(&call, MD_M_VARARGS | MD_M_VARKW, args, kwds), 0);
    CU_ASSERT_EQUAL(call.nargs, 5);
    CU_ASSERT(md_ts_repr_is(call.argv[2], "3"));
    CU_ASSERT(md_ts_repr_is(call.varargs, "(4, 5)"));
    CU_ASSERT(md_ts_repr_is(call.varkw, "{'colour': 'red'}"));
    md_disp_call_done(&call);
}

static void test_disp_bind_raises_pythons_type_errors(void)
{
    md_call call;
    CU_ASSERT_EQUAL(bind3(&call, 0, md_th_tuple(4, md_th_int(1), md_th_int(2), md_th_int(3),
                                                md_th_int(4)), NULL), -1);
    CU_ASSERT_STRING_EQUAL(raised(&call),
                           "put() takes from 2 to 4 positional arguments but 5 were given");
    md_disp_call_done(&call);
    CU_ASSERT_EQUAL(bind3(&call, 0, md_tuple_new(0), NULL), -1);
    CU_ASSERT_STRING_EQUAL(raised(&call), "put() missing 1 required positional argument: 'item'");
    md_disp_call_done(&call);
    CU_ASSERT_EQUAL(bind3(&call, 0, md_th_tuple(1, md_th_int(1)),
                          md_th_dict(1, md_th_str("item"), md_th_int(2))), -1);
    CU_ASSERT_STRING_EQUAL(raised(&call), "put() got multiple values for argument 'item'");
    md_disp_call_done(&call);
    CU_ASSERT_EQUAL(bind3(&call, 0, md_th_tuple(1, md_th_int(1)),
                          md_th_dict(1, md_th_str("colour"), md_th_int(2))), -1);
    CU_ASSERT_STRING_EQUAL(raised(&call), "put() got an unexpected keyword argument 'colour'");
    md_disp_call_done(&call);
    CU_ASSERT_EQUAL(bind3(&call, 0, md_th_tuple(1, md_th_int(1)),
                          md_th_dict(1, md_th_int(9), md_th_int(2))), -1);
    CU_ASSERT_STRING_EQUAL(raised(&call), "keywords must be strings");
    md_disp_call_done(&call);
}

/* ---- object calls --------------------------------------------------- */

static void test_disp_object_call_errors_name_the_problem(void)
{
    md_th *th = md_th_new();
    md_peer *p = md_th_peer(th, 4);
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "Event", NULL, NULL, id), MD_OUT_RETURN);
    md_val *out = NULL;
    CU_ASSERT_EQUAL(md_th_call_take(th, p, id, "pop", NULL, NULL, &out), MD_OUT_TRACEBACK);
    CU_ASSERT(strstr(text_of(out), "AttributeError: method 'pop' of <class 'Event'> object is "
                                   "not in exposed={'is_set', ") != NULL);
    md_decref(out);
    CU_ASSERT_EQUAL(md_th_call_take(th, p, "ffffffffffff", "is_set", NULL, NULL, &out),
                    MD_OUT_TRACEBACK);
    CU_ASSERT_STRING_EQUAL(text_of(out), TB_HEAD "KeyError: 'ffffffffffff'\n");
    md_decref(out);
    /* __repr__ is answered for every type, exposed or not */
    CU_ASSERT_EQUAL(md_th_call_take(th, p, id, "__repr__", NULL, NULL, &out), MD_OUT_RETURN);
    CU_ASSERT(strncmp(text_of(out), "<threading.Event at 0x", 22) == 0);
    CU_ASSERT(strstr(text_of(out), ": unset>") != NULL);
    md_decref(out);
    md_th_free(th);
}

static void test_disp_get_methods_lists_distinct_names(void)
{
    md_th *th = md_th_new();
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "dict", NULL, NULL, id), MD_OUT_RETURN);
    md_val *addr = md_th_tuple(2, md_th_str("127.0.0.1"), md_th_int(50000));
    md_val *args = md_th_tuple(1, md_proto_token_new("dict", addr, id));
    CU_ASSERT_EQUAL(md_th_server_call(th, "get_methods", args), MD_OUT_RETURN);
    md_val *out = NULL;
    md_th_take(th, NULL, &out);
    /* dict's exposed tuple names __iter__ twice (23 names); once here */
    CU_ASSERT_EQUAL_FATAL(md_typeof(out), MD_T_TUPLE);
    CU_ASSERT_EQUAL(md_tuple_len(out), 22);
    size_t iters = 0;
    for (size_t i = 0; i < md_tuple_len(out); i++)
        iters += md_str_eq_cstr(md_tuple_get(out, i), "__iter__");
    CU_ASSERT_EQUAL(iters, 1);
    md_decref(out);
    md_decref(args);
    /* a Token naming no object of ours */
    args = md_th_tuple(1, md_proto_token_new("dict", addr, "ffffffffffff"));
    SERVER_CALL_FAILS(th, "get_methods", args, "KeyError: 'ffffffffffff'\n");
    md_decref(addr);
    md_th_free(th);
}

/* ---- replies ------------------------------------------------------------ */

static void test_proto_traceback_is_one_text(void)
{
    md_val *t = md_proto_traceback("KeyError: 'x'");
    CU_ASSERT_STRING_EQUAL(text_of(t), TB_HEAD "KeyError: 'x'\n");
    md_decref(t);
    md_val *arg = md_str_from_cstr("x");
    md_val *exc = md_exc_make("builtins", "KeyError", 1, arg);
    t = md_proto_exc_traceback(exc);
    CU_ASSERT_STRING_EQUAL(text_of(t), TB_HEAD "KeyError: 'x'\n");
    md_decref(t);
    md_decref(exc);
    md_decref(arg);
    /* no arguments: the class alone, as Python's last line */
    exc = md_exc_make("_queue", "Empty", 0);
    t = md_proto_exc_traceback(exc);
    CU_ASSERT_STRING_EQUAL(text_of(t), TB_HEAD "Empty\n");
    md_decref(t);
    md_decref(exc);
    CU_ASSERT_STRING_EQUAL(md_out_kind_text(MD_OUT_PROXY), "#PROXY");
    CU_ASSERT_PTR_NULL(md_out_kind_text(MD_OUT_NONE));
}

static void test_proto_token_round_trip(void)
{
    md_val *addr = md_th_str("/tmp/sock");
    md_val *tok = md_proto_token_new("Queue", addr, "7fa6d73d2110");
    md_val *typeid = NULL, *address = NULL, *ident = NULL;
    CU_ASSERT_EQUAL_FATAL(md_proto_token_parts(tok, &typeid, &address, &ident), 0);
    CU_ASSERT(md_str_eq_cstr(typeid, "Queue"));
    CU_ASSERT_PTR_EQUAL(address, addr);
    CU_ASSERT(md_str_eq_cstr(ident, "7fa6d73d2110"));
    CU_ASSERT_EQUAL(md_proto_token_parts(addr, NULL, NULL, NULL), -1);
    CU_ASSERT_PTR_NULL(md_proto_proxy_token(tok));   /* a Token is not a proxy */
    md_decref(tok);
    md_decref(addr);
}

static void test_disp_error_reaches_xmlrpclib_peer_as_traceback(void)
{
    md_th *th = md_th_new();
    md_peer *xml = md_th_peer(th, 0), *http = md_th_peer(th, 0);
    http->raw_exceptions = true;
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "dict", NULL, NULL, id), MD_OUT_RETURN);
    md_val *args = md_th_tuple(1, md_th_str("nope")), *out = NULL;
    CU_ASSERT_EQUAL(md_th_call_take(th, xml, id, "__getitem__", args, NULL, &out),
                    MD_OUT_TRACEBACK);
    CU_ASSERT_STRING_EQUAL(text_of(out), TB_HEAD "KeyError: 'nope'\n");
    md_decref(out);
    CU_ASSERT_EQUAL(md_th_call_take(th, http, id, "__getitem__", args, NULL, &out), MD_OUT_ERROR);
    CU_ASSERT_EQUAL(md_typeof(out), MD_T_EXC);
    md_decref(out);
    md_decref(args);
    md_th_free(th);
}

/* ---- allocation failures --------------------------------------------- */

/* The ident of the object a create (ident, exposed) or #PROXY (exposed,
 * Token) reply names, into id; false if there is none. */
static bool new_object_ident(int kind, const md_val *out, char *id)
{
    md_val *ident = NULL;
    if (kind == MD_OUT_RETURN && md_typeof(out) == MD_T_TUPLE && md_tuple_len(out) == 2 &&
        md_typeof(md_tuple_get(out, 0)) == MD_T_STR)
        ident = md_tuple_get(out, 0);
    else if (kind == MD_OUT_PROXY)
        md_proto_token_parts(md_tuple_get(out, 1), NULL, NULL, &ident);
    if (!ident || md_typeof(ident) != MD_T_STR)
        return false;
    snprintf(id, 32, "%s", md_str_data(ident));
    return true;
}

/* Serve req (borrowed) with the Nth allocation and all after it failing,
 * for every N until one run needs no failure: each run gets exactly one
 * reply, and a run that fails leaves no new object behind. */
static void sweep_request(md_th *th, md_val *req, bool long_conn)
{
    md_th_rec_peer r;
    md_th_rec_peer_init(&r, md_th_server(th));
    bool completed = false;
    for (long n = 0; n < 5000 && !completed; n++) {
        size_t nobj = md_th_nobj(th);
        r.nreplies = 0;
        r.payload = NULL;
        r.base.protocol = 4;
        unsigned long before = md_alloc_failures();
        md_alloc_fail_after(n);
        md_disp_request(md_th_server(th), &r.base, req, long_conn);
        md_alloc_fail_after(-1);
        completed = md_alloc_failures() == before;
        CU_ASSERT_EQUAL(r.nreplies, 1);
        CU_ASSERT(r.kind == MD_OUT_RETURN || r.kind == MD_OUT_PROXY || r.kind == MD_OUT_ERROR ||
                  r.kind == MD_OUT_TRACEBACK);
        CU_ASSERT(!completed || r.kind == MD_OUT_RETURN || r.kind == MD_OUT_PROXY);
        char id[32];
        if (new_object_ident(r.kind, r.payload, id) && md_th_nobj(th) > nobj)
            md_th_drop(th, id, __FILE__, __LINE__); /* so the next run starts even */
        CU_ASSERT_EQUAL(md_th_nobj(th), nobj);
        md_decref(r.payload);
    }
    CU_ASSERT(completed);
    md_peer_close(&r.base);
}

/* (ident, method, args, {}): args stolen, ident NULL for None. */
static md_val *request_of(const char *ident, const char *method, md_val *args)
{
    return md_th_tuple(4, ident ? md_th_str(ident) : md_none(), md_th_str(method), args,
                       md_dict_new());
}

static void test_disp_requests_survive_every_allocation_failure(void)
{
    md_th *th = md_th_new();
    char id[32];
    md_val *items = md_th_tuple(1, md_th_list(1, md_th_tuple(2, md_th_str("k"), md_th_int(1))));
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "dict", items, NULL, id), MD_OUT_RETURN);
    md_decref(items);
    md_val *addr = md_th_tuple(2, md_th_str("127.0.0.1"), md_th_int(50000));
    md_val *reqs[] = {
        request_of(NULL, "create", md_th_tuple(2, md_th_str("list"),
                                               md_th_list(2, md_th_int(1), md_th_str("x")))),
        request_of(NULL, "get_methods", md_th_tuple(1, md_proto_token_new("dict", addr, id))),
        request_of(NULL, "debug_info", md_tuple_new(0)),
        request_of(NULL, "number_of_objects", md_tuple_new(0)),
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        sweep_request(th, reqs[i], false);
        md_decref(reqs[i]);
    }
    /* on the long connection: a method_to_typeid call (#PROXY), a repr */
    md_val *iter = request_of(id, "__iter__", md_tuple_new(0));
    md_val *repr = request_of(id, "__repr__", md_tuple_new(0));
    sweep_request(th, iter, true);
    sweep_request(th, repr, true);
    md_decref(iter);
    md_decref(repr);
    md_decref(addr);
    md_th_free(th);
}

void md_test_register_disp(void)
{
    CU_pSuite s = md_test_suite("disp");
    MD_ADD_TEST(s, test_disp_server_table_rows_are_complete);
    MD_ADD_TEST(s, test_disp_is_server_method_only_for_short_requests);
    MD_ADD_TEST(s, test_disp_server_methods_check_their_argument_count);
    MD_ADD_TEST(s, test_disp_unknown_or_misaddressed_server_method_is_assertion_error);
    MD_ADD_TEST(s, test_disp_rejects_requests_of_the_wrong_shape);
    MD_ADD_TEST(s, test_disp_bind_places_positionals_and_keywords);
    MD_ADD_TEST(s, test_disp_bind_collects_varargs_and_varkw);
    MD_ADD_TEST(s, test_disp_bind_raises_pythons_type_errors);
    MD_ADD_TEST(s, test_disp_object_call_errors_name_the_problem);
    MD_ADD_TEST(s, test_disp_get_methods_lists_distinct_names);
    MD_ADD_TEST(s, test_proto_traceback_is_one_text);
    MD_ADD_TEST(s, test_proto_token_round_trip);
    MD_ADD_TEST(s, test_disp_error_reaches_xmlrpclib_peer_as_traceback);
    MD_ADD_TEST(s, test_disp_requests_survive_every_allocation_failure);
}
