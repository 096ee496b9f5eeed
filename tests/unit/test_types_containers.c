/* test_types_containers.c - unit tests of the container shared types
 * (core/types/{dict,list,set,namespace,valueobj,array,iterator}.c)
 * driven through the dispatcher with the test harness: every exposed
 * method with Python's results and messages (checked against CPython
 * 3.13), keyword spellings, the family differences (protocol 2, 3+ and
 * XML-RPC clients), iterator invalidation, replays of captured requests
 * against the captured replies, 1,000-item workloads, limits at the
 * bound and one past, and object counts back to the start. */
#include "tests/unit/unit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/server_impl.h"
#include "core/types/containers_util.h"
#include "core/types/registry.h"
#include "core/value/value_impl.h"
#include "core/protocol/protocol.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

/* ======================================================================
 * Value builders (more in support.h): every builder steals the values
 * given to it
 * ====================================================================== */

static md_val *SLICE(md_val *start, md_val *stop, md_val *step)
{
    md_val *s = md_slice_new(start, stop, step);
    md_decref(start);
    md_decref(stop);
    md_decref(step);
    return s;
}

/* An array.array value as a Python 3 client pickles it (reduce_array). */
static md_val *ARRAY3(const char *code, const void *bytes, size_t n)
{
    md_val *g = md_global_new("array", "array");
    md_val *args = T(2, S(code), B(bytes, n));
    md_val *o = md_opaque_new(MD_OPQ_REDUCE, g, args);
    md_decref(g);
    md_decref(args);
    return o;
}

/* A decimal.Decimal value as pickle carries it. */
static md_val *DECIMAL(const char *text)
{
    md_val *g = md_global_new("decimal", "Decimal");
    md_val *args = T(1, S(text));
    md_val *o = md_opaque_new(MD_OPQ_REDUCE, g, args);
    md_decref(g);
    md_decref(args);
    return o;
}

/* ... and as Python 2.7 pickles it: (typecode, [items]). */
static md_val *ARRAY2(const char *code, md_val *items)
{
    md_val *g = md_global_new("array", "array");
    md_val *args = T(2, md_str_new_py2(code, strlen(code)), items);
    md_val *o = md_opaque_new(MD_OPQ_REDUCE, g, args);
    md_decref(g);
    md_decref(args);
    return o;
}

/* ======================================================================
 * Checks (the fixture is support.h's)
 * ====================================================================== */

static int call(md_fx *f, md_peer *peer, const char *ident, const char *method, md_val *args,
                md_val *kwargs, md_val **payload)
{
    int kind = md_th_call_take(f->th, peer, ident, method, args, kwargs, payload);
    md_decref(args);
    md_decref(kwargs);
    return kind;
}

/* Expect #RETURN with a payload whose repr is expect. */
static void ret_at(md_fx *f, md_peer *peer, const char *ident, const char *method, md_val *args,
                   md_val *kwargs, const char *expect, int line)
{
    md_val *p = NULL;
    int kind = call(f, peer, ident, method, args, kwargs, &p);
    if (kind != MD_OUT_RETURN)
        fprintf(stderr, "\n    line %d: %s: kind %d\n", line, method, kind);
    CHECK_AT(kind == MD_OUT_RETURN, line);
    bool ok = md_ts_repr_is(p, expect);
    if (!ok)
        fprintf(stderr, "    (line %d, %s)\n", line, method);
    CHECK_AT(ok, line);
    md_decref(p);
}
#define RET(f, peer, id, m, args, kw, expect) ret_at(f, peer, id, m, args, kw, expect, __LINE__)

/* Expect #RETURN of the text expect (what __repr__ and __str__ reply). */
static void txt_at(md_fx *f, md_peer *peer, const char *ident, const char *method,
                   const char *expect, int line)
{
    md_val *p = NULL;
    int kind = call(f, peer, ident, method, NULL, NULL, &p);
    CHECK_AT(md_ts_text_is(p, expect, line) && kind == MD_OUT_RETURN, line);
    md_decref(p);
}
#define TXT(f, peer, id, m, expect) txt_at(f, peer, id, m, expect, __LINE__)

/* Expect #RETURN of a str that starts with prefix. */
static void ret_prefix_at(md_fx *f, md_peer *peer, const char *ident, const char *method,
                          const char *prefix, int line)
{
    md_val *p = NULL;
    int kind = call(f, peer, ident, method, NULL, NULL, &p);
    bool ok = kind == MD_OUT_RETURN && p && md_typeof(p) == MD_T_STR &&
              strncmp(md_str_data(p), prefix, strlen(prefix)) == 0;
    if (!ok)
        fprintf(stderr, "\n    line %d: got %s, wanted a str starting %s\n", line,
                p && md_typeof(p) == MD_T_STR ? md_str_data(p) : "?", prefix);
    CHECK_AT(ok, line);
    md_decref(p);
}
#define RET_PREFIX(f, peer, id, m, prefix) ret_prefix_at(f, peer, id, m, prefix, __LINE__)

/* Expect #ERROR of builtins.cls whose args have the repr args_repr. */
static void err_at(md_fx *f, md_peer *peer, const char *ident, const char *method, md_val *args,
                   md_val *kwargs, const char *cls, const char *args_repr, int line)
{
    md_val *p = NULL;
    int kind = call(f, peer, ident, method, args, kwargs, &p);
    bool ok = kind == MD_OUT_ERROR && p && md_typeof(p) == MD_T_EXC &&
              strcmp(md_global_name(md_exc_class(p)), cls) == 0 &&
              strcmp(md_global_module(md_exc_class(p)), "builtins") == 0;
    if (!ok) {
        fprintf(stderr, "\n    line %d: %s: kind %d, wanted #ERROR %s; payload ", line, method,
                kind, cls);
        md_ts_repr_is(p, "?");
    }
    CHECK_AT(ok, line);
    if (ok) {
        bool args_ok = md_ts_repr_is(md_exc_args(p), args_repr);
        if (!args_ok)
            fprintf(stderr, "    (line %d, %s)\n", line, method);
        CHECK_AT(args_ok, line);
    }
    md_decref(p);
}
#define ERR(f, peer, id, m, args, kw, cls, args_repr) \
    err_at(f, peer, id, m, args, kw, cls, args_repr, __LINE__)

/* Expect #TRACEBACK containing text. */
static void tb_at(md_fx *f, md_peer *peer, const char *ident, const char *method, md_val *args,
                  md_val *kwargs, const char *text, int line)
{
    md_val *p = NULL;
    int kind = call(f, peer, ident, method, args, kwargs, &p);
    bool ok = kind == MD_OUT_TRACEBACK && p && md_typeof(p) == MD_T_STR &&
              strstr(md_str_data(p), text);
    if (!ok)
        fprintf(stderr, "\n    line %d: kind %d payload %s, wanted #TRACEBACK \"%s\"\n", line,
                kind, p && md_typeof(p) == MD_T_STR ? md_str_data(p) : "?", text);
    CHECK_AT(ok, line);
    md_decref(p);
}
#define TB(f, peer, id, m, args, kw, text) tb_at(f, peer, id, m, args, kw, text, __LINE__)

/* Expect #RETURN and hand the payload over (new reference). */
static md_val *got_at(md_fx *f, md_peer *peer, const char *ident, const char *method, md_val *args,
                      md_val *kwargs, int line)
{
    md_val *p = NULL;
    int kind = call(f, peer, ident, method, args, kwargs, &p);
    CHECK_AT(kind == MD_OUT_RETURN, line);
    return p;
}
#define GOT(f, peer, id, m, args, kw) got_at(f, peer, id, m, args, kw, __LINE__)

/* An opaque REDUCE of module.name whose args have the repr args_repr. */
static bool is_reduce(const md_val *v, const char *module, const char *name, const char *args_repr)
{
    if (!v || md_typeof(v) != MD_T_OPAQUE || md_opaque_kind_of(v) != MD_OPQ_REDUCE) {
        fprintf(stderr, "\n    not an opaque REDUCE: ");
        md_ts_repr_is(v, "(opaque)");
        return false;
    }
    const md_val *g = md_opaque_callable(v);
    if (md_typeof(g) != MD_T_GLOBAL || !md_global_is(g, module, name)) {
        fprintf(stderr, "\n    not %s.%s\n", module, name);
        return false;
    }
    return md_ts_repr_is(md_opaque_args(v), args_repr);
}

/* An opaque NEWOBJ of module.name with no arguments and this state. */
static bool is_newobj(const md_val *v, const char *module, const char *name,
                      const char *state_repr)
{
    if (!v || md_typeof(v) != MD_T_OPAQUE || md_opaque_kind_of(v) != MD_OPQ_NEWOBJ ||
        !md_global_is(md_opaque_callable(v), module, name) ||
        md_tuple_len(md_opaque_args(v)) != 0)
        return false;
    if (!state_repr)
        return md_opaque_state(v) == NULL;
    return md_ts_repr_is(md_opaque_state(v), state_repr);
}

/* md_th_server_call borrows its args; this one steals them. */
/* decref(ident) must succeed */

/* The ident inside a #PROXY payload (exposed, Token). */
static bool proxy_ident(const md_val *payload, char *ident, const char *exposed_repr)
{
    md_val *typeid, *addr, *id;
    if (!payload || md_typeof(payload) != MD_T_TUPLE || md_tuple_len(payload) != 2 ||
        md_proto_token_parts(md_tuple_get(payload, 1), &typeid, &addr, &id) < 0 || !id ||
        md_typeof(id) != MD_T_STR)
        return false;
    snprintf(ident, 32, "%s", md_str_data(id));
    return md_str_eq_cstr(typeid, "Iterator") && md_ts_repr_is(md_tuple_get(payload, 0), exposed_repr);
}

/* ---- fixtures ------------------------------------------------------ */

static bool same_value(const md_val *a, const md_val *b)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_typeof(a) == MD_T_EXC && md_typeof(b) == MD_T_EXC) {
        const md_val *sa = md_exc_state(a), *sb = md_exc_state(b);
        return strcmp(md_global_name(md_exc_class(a)), md_global_name(md_exc_class(b))) == 0 &&
               md_val_eq(md_exc_args(a), md_exc_args(b), &e) == 1 &&
               (sa == NULL) == (sb == NULL) && (!sa || md_val_eq(sa, sb, &e) == 1);
    }
    return md_val_eq(a, b, &e) == 1;
}

/* Send the captured request "<step>.request.bin" to our object ident and
 * check the reply against "<step>.reply.bin": same kind, equal payload. */
static void replay_at(md_fx *f, md_peer *peer, const char *step, const char *ident, int line)
{
    char name[128];
    snprintf(name, sizeof name, "%s.request.bin", step);
    md_val *req = md_ts_fixture(name, NULL);
    snprintf(name, sizeof name, "%s.reply.bin", step);
    md_val *rep = md_ts_fixture(name, NULL);
    CHECK_AT(req && rep, line);
    if (req && rep) {
        md_val *p = NULL;
        int kind = md_th_call_take(f->th, peer, ident, md_str_data(md_tuple_get(req, 1)),
                                   md_tuple_get(req, 2), md_tuple_get(req, 3), &p);
        bool ok = md_str_eq_cstr(md_tuple_get(rep, 0), md_out_kind_text(kind)) &&
                  same_value(p, md_tuple_get(rep, 1));
        if (!ok) {
            fprintf(stderr, "\n    line %d: replay of %s gave kind %d ", line, step, kind);
            md_ts_repr_is(p, "(the captured reply)");
        }
        CHECK_AT(ok, line);
        md_decref(p);
    }
    md_decref(req);
    md_decref(rep);
}
#define REPLAY(f, peer, step, ident) replay_at(f, peer, step, ident, __LINE__)

/* ======================================================================
 * dict
 * ====================================================================== */

static void test_dict_exposed_tuple_is_the_union_of_versions(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    md_val *args = T(1, S("dict"));
    int kind = md_th_server_call(f.th, "create", args);
    md_decref(args);
    md_val *p = NULL;
    md_th_take(f.th, NULL, &p);
    CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
    CU_ASSERT(p && md_ts_repr_is(md_tuple_get(p, 1),
                           "('__contains__', '__delitem__', '__getitem__', '__iter__', '__len__', "
                           "'__setitem__', 'clear', 'copy', 'get', 'has_key', 'items', 'keys', "
                           "'pop', 'popitem', 'setdefault', 'update', 'values', '__ior__', "
                           "'__or__', '__reversed__', '__ror__', 'fromkeys', '__iter__')"));
    snprintf(id, sizeof id, "%s", p ? md_str_data(md_tuple_get(p, 0)) : "");
    md_decref(p);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_dict_constructor_takes_what_dict_takes(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "dict", NULL, NULL, id);
    TXT(&f, f.p4, id, "__repr__", "{}");
    drop(&f, id);
    MK(&f, "dict", T(1, L(2, T(2, I(1), I(2)), L(2, S("k"), S("v")))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "{1: 2, 'k': 'v'}");
    drop(&f, id);
    MK(&f, "dict", T(1, D(1, S("a"), I(1))), D(1, S("b"), I(2)), id);
    TXT(&f, f.p4, id, "__repr__", "{'a': 1, 'b': 2}");
    drop(&f, id);
    /* a keyword named like a parameter is just a key */
    MK(&f, "dict", NULL, D(1, S("iterable"), I(5)), id);
    TXT(&f, f.p4, id, "__repr__", "{'iterable': 5}");
    drop(&f, id);
    /* a str of two characters is a pair, as in Python */
    MK(&f, "dict", T(1, L(1, S("ab"))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "{'a': 'b'}");
    drop(&f, id);
    MK_FAILS(&f, "dict", T(2, I(1), I(2)), NULL,
             "TypeError: dict expected at most 1 argument, got 2");
    MK_FAILS(&f, "dict", T(1, I(5)), NULL, "TypeError: 'int' object is not iterable");
    MK_FAILS(&f, "dict", T(1, L(1, I(1))), NULL,
             "TypeError: cannot convert dictionary update sequence element #0 to a sequence");
    MK_FAILS(&f, "dict", T(1, L(2, T(2, I(1), I(2)), T(3, I(1), I(2), I(3)))), NULL,
             "ValueError: dictionary update sequence element #1 has length 3; 2 is required");
    MK_FAILS(&f, "dict", T(1, L(1, T(2, L(0), I(2)))), NULL,
             "TypeError: unhashable type: 'list'");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_dict_item_access_and_errors(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "dict", NULL, NULL, id);
    RET(&f, f.p4, id, "__setitem__", T(2, S("a"), I(1)), NULL, "None");
    RET(&f, f.p4, id, "__setitem__", T(2, I(1), S("one")), NULL, "None");
    /* 1, 1.0 and True are one key */
    RET(&f, f.p4, id, "__setitem__", T(2, md_true(), S("true")), NULL, "None");
    RET(&f, f.p4, id, "__getitem__", T(1, F(1.0)), NULL, "'true'");
    RET(&f, f.p4, id, "__getitem__", T(1, S("a")), NULL, "1");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "2");
    RET(&f, f.p4, id, "__contains__", T(1, S("a")), NULL, "True");
    RET(&f, f.p4, id, "__contains__", T(1, S("zz")), NULL, "False");
    RET(&f, f.p4, id, "has_key", T(1, S("a")), NULL, "True");
    RET(&f, f.p2, id, "has_key", T(1, S("zz")), NULL, "False");
    ERR(&f, f.p4, id, "__getitem__", T(1, S("b")), NULL, "KeyError", "('b',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, T(2, I(1), I(2))), NULL, "KeyError", "((1, 2),)");
    ERR(&f, f.p4, id, "__delitem__", T(1, S("b")), NULL, "KeyError", "('b',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, L(1, I(1)), I(1)), NULL, "TypeError",
        "(\"unhashable type: 'list'\",)");
    ERR(&f, f.p4, id, "__getitem__", T(1, D(0)), NULL, "TypeError",
        "(\"unhashable type: 'dict'\",)");
    ERR(&f, f.p4, id, "__contains__", T(1, L(0)), NULL, "TypeError",
        "(\"unhashable type: 'list'\",)");
    RET(&f, f.p4, id, "__delitem__", T(1, S("a")), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "{1: 'true'}");
    TXT(&f, f.p4, id, "__str__", "{1: 'true'}");
    /* arity is checked before the handler */
    ERR(&f, f.p4, id, "__getitem__", NULL, NULL, "TypeError",
        "(\"__getitem__() missing 1 required positional argument: 'key'\",)");
    TB(&f, f.p4, id, "nonexistent", NULL, NULL, "AttributeError: method 'nonexistent'");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_dict_methods_follow_python(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "dict", T(1, D(2, S("a"), I(1), S("b"), I(2))), NULL, id);
    RET(&f, f.p4, id, "get", T(1, S("a")), NULL, "1");
    RET(&f, f.p4, id, "get", T(1, S("x")), NULL, "None");
    RET(&f, f.p4, id, "get", T(2, S("x"), I(7)), NULL, "7");
    /* CPython's dict methods take no keyword arguments */
    ERR(&f, f.p4, id, "get", NULL, D(2, S("key"), S("x"), S("default"), I(8)), "TypeError",
        "('dict.get() takes no keyword arguments',)");
    ERR(&f, f.p4, id, "get", T(1, L(0)), NULL, "TypeError", "(\"unhashable type: 'list'\",)");
    RET(&f, f.p4, id, "items", NULL, NULL, "[('a', 1), ('b', 2)]");
    RET(&f, f.p4, id, "keys", NULL, NULL, "['a', 'b']");
    RET(&f, f.p4, id, "values", NULL, NULL, "[1, 2]");
    RET(&f, f.p4, id, "copy", NULL, NULL, "{'a': 1, 'b': 2}");
    RET(&f, f.p4, id, "setdefault", T(1, S("a")), NULL, "1");
    RET(&f, f.p4, id, "setdefault", T(1, S("c")), NULL, "None");
    RET(&f, f.p4, id, "setdefault", T(2, S("d"), L(0)), NULL, "[]");
    ERR(&f, f.p4, id, "setdefault", T(1, S("e")), D(1, S("default"), I(5)), "TypeError",
        "('dict.setdefault() takes no keyword arguments',)");
    RET(&f, f.p4, id, "setdefault", T(2, S("e"), I(5)), NULL, "5");
    RET(&f, f.p4, id, "pop", T(1, S("c")), NULL, "None");
    RET(&f, f.p4, id, "pop", T(2, S("c"), S("dflt")), NULL, "'dflt'");
    ERR(&f, f.p4, id, "pop", T(1, S("c")), NULL, "KeyError", "('c',)");
    RET(&f, f.p4, id, "popitem", NULL, NULL, "('e', 5)");
    RET(&f, f.p4, id, "popitem", NULL, NULL, "('d', [])");
    RET(&f, f.p4, id, "update", T(1, L(1, T(2, S("z"), I(26)))), D(1, S("y"), I(25)), "None");
    RET(&f, f.p4, id, "update", T(1, D(1, S("a"), I(100))), NULL, "None");
    RET(&f, f.p4, id, "update", NULL, D(1, S("key"), I(3)), "None");
    TXT(&f, f.p4, id, "__repr__", "{'a': 100, 'b': 2, 'z': 26, 'y': 25, 'key': 3}");
    ERR(&f, f.p4, id, "update", T(2, L(0), L(0)), NULL, "TypeError",
        "('update expected at most 1 argument, got 2',)");
    ERR(&f, f.p4, id, "update", T(1, L(2, T(2, S("n"), I(1)), T(1, I(1)))), NULL, "ValueError",
        "('dictionary update sequence element #1 has length 1; 2 is required',)");
    /* a failed update changed nothing */
    RET(&f, f.p4, id, "__contains__", T(1, S("n")), NULL, "False");
    RET(&f, f.p4, id, "clear", NULL, NULL, "None");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "0");
    ERR(&f, f.p4, id, "popitem", NULL, NULL, "KeyError", "('popitem(): dictionary is empty',)");
    RET(&f, f.p4, id, "#GETVALUE", NULL, NULL, "{}");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_dict_python314_operators(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "dict", T(1, D(2, I(1), I(2), I(3), I(4))), NULL, id);
    RET(&f, f.p4, id, "__or__", T(1, D(1, I(5), I(6))), NULL, "{1: 2, 3: 4, 5: 6}");
    RET(&f, f.p4, id, "__ror__", T(1, D(2, I(5), I(6), I(1), S("x"))), NULL,
        "{5: 6, 1: 2, 3: 4}");
    md_val *p = GOT(&f, f.p4, id, "__or__", T(1, L(0)), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_GLOBAL && md_global_is(p, "builtins", "NotImplemented"));
    md_decref(p);
    p = GOT(&f, f.p4, id, "__ror__", T(1, I(1)), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_GLOBAL && md_global_is(p, "builtins", "NotImplemented"));
    md_decref(p);
    /* |= takes what update takes and replies the whole dict */
    RET(&f, f.p4, id, "__ior__", T(1, L(1, T(2, I(7), I(8)))), NULL, "{1: 2, 3: 4, 7: 8}");
    ERR(&f, f.p4, id, "__ior__", T(1, L(1, I(1))), NULL, "TypeError",
        "('cannot convert dictionary update sequence element #0 to a sequence',)");
    RET(&f, f.p4, id, "fromkeys", T(1, L(2, S("x"), S("y"))), NULL, "{'x': None, 'y': None}");
    RET(&f, f.p4, id, "fromkeys", T(2, S("ab"), I(0)), NULL, "{'a': 0, 'b': 0}");
    ERR(&f, f.p4, id, "fromkeys", T(1, I(5)), NULL, "TypeError",
        "(\"'int' object is not iterable\",)");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "3");
    /* reversed(d): an iterator the client rebuilds, keys last first */
    p = GOT(&f, f.p4, id, "__reversed__", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "iter", "([7, 3, 1],)"));
    md_decref(p);
    RET(&f, f.p0, id, "__reversed__", NULL, NULL, "[7, 3, 1]");
    drop(&f, id);
    md_fx_done(&f);
}

static void test_dict_iterator_is_live_and_invalidated(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32], it[32];
    MK(&f, "dict", T(1, D(2, S("a"), I(1), S("b"), I(2))), NULL, id);
    CU_ASSERT_EQUAL(nobj(&f), 1);
    md_val *p = NULL;
    CU_ASSERT_EQUAL(call(&f, f.p4, id, "__iter__", NULL, NULL, &p), MD_OUT_PROXY);
    CU_ASSERT(proxy_ident(p, it, "('__next__', 'next', 'send', 'throw', 'close')"));
    md_decref(p);
    CU_ASSERT_EQUAL(nobj(&f), 2);
    RET(&f, f.p4, it, "__next__", NULL, NULL, "'a'");
    /* a value change is not a size change */
    RET(&f, f.p4, id, "__setitem__", T(2, S("a"), I(10)), NULL, "None");
    RET(&f, f.p2, it, "next", NULL, NULL, "'b'");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "StopIteration", "()");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "StopIteration", "()");
    /* an exhausted iterator stays exhausted whatever the dict does */
    RET(&f, f.p4, id, "__setitem__", T(2, S("c"), I(3)), NULL, "None");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "StopIteration", "()");
    RET_PREFIX(&f, f.p4, it, "__repr__", "<dict_keyiterator object at 0x");
    drop(&f, it);
    CU_ASSERT_EQUAL(nobj(&f), 1);

    CU_ASSERT_EQUAL(call(&f, f.p4, id, "__iter__", NULL, NULL, &p), MD_OUT_PROXY);
    CU_ASSERT(proxy_ident(p, it, "('__next__', 'next', 'send', 'throw', 'close')"));
    md_decref(p);
    RET(&f, f.p4, it, "__next__", NULL, NULL, "'a'");
    p = GOT(&f, f.p4, it, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "iter", "(['b', 'c'],)"));
    md_decref(p);
    RET(&f, f.p4, id, "__setitem__", T(2, S("d"), I(4)), NULL, "None");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "RuntimeError",
        "('dictionary changed size during iteration',)");
    /* sticky, even when the size is back */
    RET(&f, f.p4, id, "__delitem__", T(1, S("d")), NULL, "None");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "RuntimeError",
        "('dictionary changed size during iteration',)");
    CU_ASSERT_EQUAL(call(&f, f.p4, it, "#GETVALUE", NULL, NULL, &p), MD_OUT_UNSERIALIZABLE);
    md_decref(p);
    TB(&f, f.p4, it, "send", T(1, NONE), NULL,
       "AttributeError: 'dict_keyiterator' object has no attribute 'send'");
    TB(&f, f.p4, it, "throw", NULL, NULL, "has no attribute 'throw'");
    TB(&f, f.p4, it, "close", NULL, NULL, "has no attribute 'close'");

    /* the iterator keeps the dict alive after the client let it go */
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 1);
    CU_ASSERT_PTR_NOT_NULL(md_server_find(md_th_server(f.th), id));
    drop(&f, it);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), id));
    md_fx_done(&f);
}

static void test_dict_iterator_detects_changed_keys(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32], it[32];
    MK(&f, "dict", T(1, D(1, S("a"), I(1))), NULL, id);
    md_val *p = NULL;
    CU_ASSERT_EQUAL(call(&f, f.p3, id, "__iter__", NULL, NULL, &p), MD_OUT_PROXY);
    CU_ASSERT(proxy_ident(p, it, "('__next__', 'next', 'send', 'throw', 'close')"));
    md_decref(p);
    /* a key replaced before it was reached is simply met (as CPython) */
    RET(&f, f.p4, id, "__delitem__", T(1, S("a")), NULL, "None");
    RET(&f, f.p4, id, "__setitem__", T(2, S("b"), I(2)), NULL, "None");
    RET(&f, f.p4, it, "__next__", NULL, NULL, "'b'");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "StopIteration", "()");
    drop(&f, it);
    drop(&f, id);
    /* same size, one more key than the iterator can yield: CPython's
     * "keys changed", once, then the iterator stops (the sequence checked
     * against CPython 3.13) */
    MK(&f, "dict", T(1, D(2, S("a"), I(1), S("x"), I(0))), NULL, id);
    CU_ASSERT_EQUAL(call(&f, f.p4, id, "__iter__", NULL, NULL, &p), MD_OUT_PROXY);
    CU_ASSERT(proxy_ident(p, it, "('__next__', 'next', 'send', 'throw', 'close')"));
    md_decref(p);
    RET(&f, f.p4, it, "__next__", NULL, NULL, "'a'");
    RET(&f, f.p4, it, "__next__", NULL, NULL, "'x'");
    RET(&f, f.p4, id, "__delitem__", T(1, S("a")), NULL, "None");
    RET(&f, f.p4, id, "__setitem__", T(2, S("b"), I(2)), NULL, "None");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "RuntimeError",
        "('dictionary keys changed during iteration',)");
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "StopIteration", "()");
    drop(&f, it);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_dict_thousand_items(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32], it[32];
    MK(&f, "dict", NULL, NULL, id);
    for (int i = 0; i < 1000; i++) {
        md_val *p = NULL;
        CU_ASSERT_EQUAL(call(&f, f.p4, id, "__setitem__", T(2, I(i), I(i * i)), NULL, &p),
                        MD_OUT_RETURN);
        md_decref(p);
    }
    RET(&f, f.p4, id, "__len__", NULL, NULL, "1000");
    RET(&f, f.p4, id, "__getitem__", T(1, I(999)), NULL, "998001");
    md_val *p = NULL;
    CU_ASSERT_EQUAL(call(&f, f.p4, id, "__iter__", NULL, NULL, &p), MD_OUT_PROXY);
    CU_ASSERT(proxy_ident(p, it, "('__next__', 'next', 'send', 'throw', 'close')"));
    md_decref(p);
    int in_order = 0;
    for (int i = 0; i < 1000; i++) {
        p = GOT(&f, f.p4, it, "__next__", NULL, NULL);
        int64_t k = -1;
        if (p && md_int_to_i64(p, &k) == 0 && k == i)
            in_order++;
        md_decref(p);
    }
    CU_ASSERT_EQUAL(in_order, 1000);
    ERR(&f, f.p4, it, "__next__", NULL, NULL, "StopIteration", "()");
    drop(&f, it);
    p = GOT(&f, f.p4, id, "items", NULL, NULL);
    CU_ASSERT(p && md_list_len(p) == 1000);
    md_decref(p);
    /* popitem is LIFO */
    int lifo = 0;
    for (int i = 999; i >= 0; i--) {
        p = GOT(&f, f.p4, id, "popitem", NULL, NULL);
        int64_t k = -1;
        if (p && md_typeof(p) == MD_T_TUPLE && md_int_to_i64(md_tuple_get(p, 0), &k) == 0 &&
            k == i)
            lifo++;
        md_decref(p);
    }
    CU_ASSERT_EQUAL(lifo, 1000);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_dict_replays_captured_requests(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "dict", T(1, D(1, S("a"), I(1))), NULL, id);
    REPLAY(&f, f.p4, "py312-dict-items", id);
    REPLAY(&f, f.p4, "py312-dict-getvalue", id);
    REPLAY(&f, f.p4, "py312-dict-str", id);
    REPLAY(&f, f.p4, "py312-dict-getitem-missing", id);
    REPLAY(&f, f.p2, "py27-dict-items", id);
    REPLAY(&f, f.p2, "py27-dict-getvalue", id);
    REPLAY(&f, f.p2, "py27-dict-str", id);
    REPLAY(&f, f.p2, "py27-dict-getitem-missing", id);
    drop(&f, id);
    md_fx_done(&f);
}

/* ======================================================================
 * list
 * ====================================================================== */

static void test_list_constructor(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", NULL, NULL, id);
    TXT(&f, f.p4, id, "__repr__", "[]");
    drop(&f, id);
    MK(&f, "list", T(1, T(2, I(1), S("x"))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "[1, 'x']");
    drop(&f, id);
    MK(&f, "list", T(1, S("ab")), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "['a', 'b']");
    drop(&f, id);
    MK(&f, "list", T(1, D(2, I(1), I(2), I(3), I(4))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "[1, 3]");
    drop(&f, id);
    MK(&f, "list", T(1, B("\x01\xff", 2)), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "[1, 255]");
    drop(&f, id);
    MK_FAILS(&f, "list", T(1, I(5)), NULL, "TypeError: 'int' object is not iterable");
    MK_FAILS(&f, "list", T(2, L(0), L(0)), NULL, "TypeError: list expected at most 1 argument, got 2");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_list_indexing_and_slices(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", T(1, L(5, I(0), I(1), I(2), I(3), I(4))), NULL, id);
    RET(&f, f.p4, id, "__getitem__", T(1, I(0)), NULL, "0");
    RET(&f, f.p4, id, "__getitem__", T(1, I(-1)), NULL, "4");
    RET(&f, f.p4, id, "__getitem__", T(1, md_true()), NULL, "1");
    ERR(&f, f.p4, id, "__getitem__", T(1, I(5)), NULL, "IndexError",
        "('list index out of range',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, I(-6)), NULL, "IndexError",
        "('list index out of range',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, BIG("1180591620717411303424")), NULL, "IndexError",
        "(\"cannot fit 'int' into an index-sized integer\",)");
    ERR(&f, f.p4, id, "__getitem__", T(1, S("a")), NULL, "TypeError",
        "('list indices must be integers or slices, not str',)");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(I(1), I(3), NONE)), NULL, "[1, 2]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(NONE, NONE, I(-1))), NULL, "[4, 3, 2, 1, 0]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(NONE, NONE, I(2))), NULL, "[0, 2, 4]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(I(-2), NONE, NONE)), NULL, "[3, 4]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(I(4), I(1), I(-2))), NULL, "[4, 2]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(I(3), I(1), NONE)), NULL, "[]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(BIG("-1180591620717411303424"),
                                                BIG("1180591620717411303424"), NONE)),
        NULL, "[0, 1, 2, 3, 4]");
    RET(&f, f.p4, id, "__getitem__", T(1, SLICE(NONE, NONE, BIG("1180591620717411303424"))),
        NULL, "[0]");
    ERR(&f, f.p4, id, "__getitem__", T(1, SLICE(NONE, NONE, I(0))), NULL, "ValueError",
        "('slice step cannot be zero',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, SLICE(F(1.5), NONE, NONE)), NULL, "TypeError",
        "('slice indices must be integers or None or have an __index__ method',)");
    /* Python 2.7's simple slices, clamped */
    RET(&f, f.p2, id, "__getslice__", T(2, I(1), BIG("9223372036854775807")), NULL,
        "[1, 2, 3, 4]");
    RET(&f, f.p2, id, "__getslice__", T(2, I(-3), I(2)), NULL, "[0, 1]");
    RET(&f, f.p2, id, "__getslice__", T(2, I(3), I(1)), NULL, "[]");
    drop(&f, id);
    md_fx_done(&f);
}

static void test_list_assignment_and_deletion(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", T(1, L(3, I(0), I(1), I(2))), NULL, id);
    RET(&f, f.p4, id, "__setitem__", T(2, I(-1), S("z")), NULL, "None");
    ERR(&f, f.p4, id, "__setitem__", T(2, I(3), I(0)), NULL, "IndexError",
        "('list assignment index out of range',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, S("k"), I(0)), NULL, "TypeError",
        "('list indices must be integers or slices, not str',)");
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(I(0), I(1), NONE), L(2, I(7), I(8))), NULL,
        "None");
    TXT(&f, f.p4, id, "__repr__", "[7, 8, 1, 'z']");
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(I(1), I(3), NONE), T(0)), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "[7, 'z']");
    /* stop before start inserts at start */
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(I(2), I(0), NONE), S("ab")), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "[7, 'z', 'a', 'b']");
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, I(2)), L(2, I(0), I(2))), NULL,
        "None");
    TXT(&f, f.p4, id, "__repr__", "[0, 'z', 2, 'b']");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, I(2)), L(1, I(0))), NULL,
        "ValueError", "('attempt to assign sequence of size 1 to extended slice of size 2',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, I(-1)), L(1, I(0))), NULL,
        "ValueError", "('attempt to assign sequence of size 1 to extended slice of size 4',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(I(0), I(1), NONE), I(5)), NULL, "TypeError",
        "('must assign iterable to extended slice',)");
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, I(-1)), L(4, I(1), I(2), I(3), I(4))),
        NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "[4, 3, 2, 1]");
    RET(&f, f.p4, id, "__delitem__", T(1, I(0)), NULL, "None");
    ERR(&f, f.p4, id, "__delitem__", T(1, I(3)), NULL, "IndexError",
        "('list assignment index out of range',)");
    RET(&f, f.p4, id, "__delitem__", T(1, SLICE(NONE, NONE, I(2))), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "[2]");
    RET(&f, f.p4, id, "__delitem__", T(1, SLICE(I(5), I(9), NONE)), NULL, "None");
    /* Python 2.7's __setslice__ / __delslice__ */
    RET(&f, f.p2, id, "__setslice__", T(3, I(0), BIG("9223372036854775807"), L(3, I(5), I(6), I(7))),
        NULL, "None");
    RET(&f, f.p2, id, "__delslice__", T(2, I(0), I(1)), NULL, "None");
    TXT(&f, f.p2, id, "__repr__", "[6, 7]");
    ERR(&f, f.p2, id, "__setslice__", T(3, I(0), I(1), I(5)), NULL, "TypeError",
        "('can only assign an iterable',)");
    ERR(&f, f.p4, id, "__setitem__", NULL, D(2, S("key"), I(0), S("value"), S("kw")), "TypeError",
        "('wrapper __setitem__() takes no keyword arguments',)");
    RET(&f, f.p4, id, "__setitem__", T(2, I(0), S("kw")), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "['kw', 7]");
    drop(&f, id);
    md_fx_done(&f);
}

static void test_list_methods_follow_python(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", T(1, L(3, I(3), I(1), I(2))), NULL, id);
    RET(&f, f.p4, id, "sort", NULL, NULL, "None");
    RET(&f, f.p4, id, "index", T(1, I(2)), NULL, "1");
    RET(&f, f.p4, id, "__add__", T(1, L(1, I(9))), NULL, "[1, 2, 3, 9]");
    ERR(&f, f.p4, id, "__add__", T(1, T(1, I(9))), NULL, "TypeError",
        "('can only concatenate list (not \"tuple\") to list',)");
    RET(&f, f.p4, id, "__mul__", T(1, I(2)), NULL, "[1, 2, 3, 1, 2, 3]");
    RET(&f, f.p4, id, "__rmul__", T(1, I(-1)), NULL, "[]");
    ERR(&f, f.p4, id, "__mul__", T(1, S("a")), NULL, "TypeError",
        "(\"'str' object cannot be interpreted as an integer\",)");
    ERR(&f, f.p4, id, "__mul__", T(1, BIG("-1180591620717411303424")), NULL, "OverflowError",
        "(\"cannot fit 'int' into an index-sized integer\",)");
    RET(&f, f.p4, id, "pop", NULL, NULL, "3");
    ERR(&f, f.p4, id, "remove", T(1, I(42)), NULL, "ValueError",
        "('list.remove(x): x not in list',)");
    ERR(&f, f.p4, id, "index", T(1, I(42)), NULL, "ValueError", "('42 is not in list',)");
    ERR(&f, f.p4, id, "index", T(1, S("x")), NULL, "ValueError", "(\"'x' is not in list\",)");
    ERR(&f, f.p4, id, "index", T(3, I(2), I(0), I(1)), NULL, "ValueError",
        "('2 is not in list',)");
    ERR(&f, f.p4, id, "index", T(2, I(1), S("a")), NULL, "TypeError",
        "('slice indices must be integers or have an __index__ method',)");
    RET(&f, f.p4, id, "index", T(3, I(2), I(-1), BIG("1180591620717411303424")), NULL, "1");
    RET(&f, f.p4, id, "__contains__", T(1, F(2.0)), NULL, "True");
    RET(&f, f.p4, id, "__contains__", T(1, I(5)), NULL, "False");
    RET(&f, f.p4, id, "append", T(1, I(2)), NULL, "None");
    RET(&f, f.p4, id, "count", T(1, I(2)), NULL, "2");
    RET(&f, f.p4, id, "count", T(1, L(1, I(1))), NULL, "0");
    RET(&f, f.p4, id, "extend", T(1, T(2, I(5), I(6))), NULL, "None");
    ERR(&f, f.p4, id, "extend", T(1, I(5)), NULL, "TypeError",
        "(\"'int' object is not iterable\",)");
    RET(&f, f.p4, id, "insert", T(2, I(-100), S("first")), NULL, "None");
    RET(&f, f.p4, id, "insert", T(2, I(100), S("last")), NULL, "None");
    RET(&f, f.p4, id, "insert", T(2, I(-1), S("before-last")), NULL, "None");
    ERR(&f, f.p4, id, "insert", T(2, S("a"), I(1)), NULL, "TypeError",
        "(\"'str' object cannot be interpreted as an integer\",)");
    ERR(&f, f.p4, id, "insert", T(2, BIG("1180591620717411303424"), I(1)), NULL, "OverflowError",
        "('Python int too large to convert to C ssize_t',)");
    TXT(&f, f.p4, id, "__repr__", "['first', 1, 2, 2, 5, 6, 'before-last', 'last']");
    RET(&f, f.p4, id, "pop", T(1, I(0)), NULL, "'first'");
    ERR(&f, f.p4, id, "pop", NULL, D(1, S("index"), I(-2)), "TypeError",
        "('list.pop() takes no keyword arguments',)");
    RET(&f, f.p4, id, "pop", T(1, I(-2)), NULL, "'before-last'");
    ERR(&f, f.p4, id, "pop", T(1, I(10)), NULL, "IndexError", "('pop index out of range',)");
    ERR(&f, f.p4, id, "pop", T(1, S("a")), NULL, "TypeError",
        "(\"'str' object cannot be interpreted as an integer\",)");
    RET(&f, f.p4, id, "remove", T(1, I(2)), NULL, "None");
    RET(&f, f.p4, id, "reverse", NULL, NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "['last', 6, 5, 2, 1]");
    RET(&f, f.p4, id, "copy", NULL, NULL, "['last', 6, 5, 2, 1]");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "5");
    /* l *= n replies the whole list */
    RET(&f, f.p4, id, "__imul__", T(1, I(2)), NULL, "['last', 6, 5, 2, 1, 'last', 6, 5, 2, 1]");
    ERR(&f, f.p4, id, "__imul__", T(1, F(1.5)), NULL, "TypeError",
        "(\"'float' object cannot be interpreted as an integer\",)");
    RET(&f, f.p4, id, "clear", NULL, NULL, "None");
    ERR(&f, f.p4, id, "pop", NULL, NULL, "IndexError", "('pop from empty list',)");
    RET(&f, f.p4, id, "#GETVALUE", NULL, NULL, "[]");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_list_sort_is_stable_and_refuses_client_key_functions(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    /* 1 == 1.0 == True: stability shows in the order they come out */
    MK(&f, "list", T(1, L(6, I(2), F(1.0), I(0), md_true(), I(1), F(-0.5))), NULL, id);
    RET(&f, f.p4, id, "sort", NULL, NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "[-0.5, 0, 1.0, True, 1, 2]");
    RET(&f, f.p4, id, "sort", NULL, D(1, S("reverse"), md_true()), "None");
    TXT(&f, f.p4, id, "__repr__", "[2, 1.0, True, 1, 0, -0.5]");
    RET(&f, f.p4, id, "sort", NULL, D(2, S("key"), NONE, S("reverse"), I(0)), "None");
    TXT(&f, f.p4, id, "__repr__", "[-0.5, 0, 1.0, True, 1, 2]");
    ERR(&f, f.p4, id, "sort", T(1, NONE), NULL, "TypeError",
        "('sort() takes no positional arguments',)");
    md_val *p = NULL;
    md_val *client_fn = md_global_new("__main__", "by_size");
    CU_ASSERT_EQUAL(call(&f, f.p4, id, "sort", NULL, D(1, S("key"), client_fn), &p), MD_OUT_ERROR);
    CU_ASSERT(p && md_typeof(p) == MD_T_EXC &&
              strstr(md_str_data(md_tuple_get(md_exc_args(p), 0)), "never runs client code"));
    md_decref(p);
    drop(&f, id);
    MK(&f, "list", T(1, L(2, I(1), S("a"))), NULL, id);
    ERR(&f, f.p4, id, "sort", NULL, NULL, "TypeError",
        "(\"'<' not supported between instances of 'str' and 'int'\",)");
    ERR(&f, f.p4, id, "sort", NULL, D(1, S("reverse"), md_true()), "TypeError",
        "(\"'<' not supported between instances of 'int' and 'str'\",)");
    /* a failed sort leaves the list as it was */
    TXT(&f, f.p4, id, "__repr__", "[1, 'a']");
    drop(&f, id);
    /* 1,000 items, shuffled, sorted */
    md_val *items = md_list_new(1000);
    for (int i = 0; i < 1000; i++)
        md_list_append_steal(items, I((i * 7919) % 1000));
    MK(&f, "list", T(1, items), NULL, id);
    RET(&f, f.p4, id, "sort", NULL, NULL, "None");
    int sorted_ok = 0;
    for (int i = 0; i < 1000; i += 111) {
        p = GOT(&f, f.p4, id, "__getitem__", T(1, I(i)), NULL);
        int64_t v = -1;
        if (p && md_int_to_i64(p, &v) == 0 && v == i)
            sorted_ok++;
        md_decref(p);
    }
    CU_ASSERT_EQUAL(sorted_ok, 10);
    RET(&f, f.p4, id, "__len__", NULL, NULL, "1000");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_list_reversed_by_family(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", T(1, L(3, I(1), I(2), I(3))), NULL, id);
    /* 3.x: builtins.reversed([1, 2, 3]) then BUILD 2, as CPython */
    md_val *p = GOT(&f, f.p4, id, "__reversed__", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "reversed", "([1, 2, 3],)"));
    CU_ASSERT(p && md_opaque_state(p) && md_ts_repr_is(md_opaque_state(p), "2"));
    md_decref(p);
    p = GOT(&f, f.p3, id, "__reversed__", NULL, NULL);
    CU_ASSERT(p && md_opaque_state(p) && md_ts_repr_is(md_opaque_state(p), "2"));
    md_decref(p);
    /* 2.7: reversed(list) alone, which 2.7 can rebuild */
    p = GOT(&f, f.p2, id, "__reversed__", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "reversed", "([1, 2, 3],)"));
    CU_ASSERT(p && md_opaque_state(p) == NULL);
    md_decref(p);
    RET(&f, f.p0, id, "__reversed__", NULL, NULL, "[3, 2, 1]");
    RET(&f, f.p4, id, "clear", NULL, NULL, "None");
    p = GOT(&f, f.p4, id, "__reversed__", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "reversed", "([],)"));
    CU_ASSERT(p && md_opaque_state(p) == NULL);
    md_decref(p);
    drop(&f, id);
    md_fx_done(&f);
}

static void test_list_repetition_limit(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", T(1, L(1, NONE)), NULL, id);
    /* at the limit */
    md_val *p = GOT(&f, f.p4, id, "__mul__", T(1, I((int64_t)MD_MAX_REPEAT_ITEMS)), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_LIST && md_list_len(p) == MD_MAX_REPEAT_ITEMS);
    md_decref(p);
    /* one past */
    ERR(&f, f.p4, id, "__mul__", T(1, I((int64_t)MD_MAX_REPEAT_ITEMS + 1)), NULL, "MemoryError",
        "(\"list repetition would make more than 16777216 items (managerd's limit)\",)");
    RET(&f, f.p4, id, "append", T(1, NONE), NULL, "None");
    ERR(&f, f.p4, id, "__rmul__", T(1, I((int64_t)MD_MAX_REPEAT_ITEMS / 2 + 1)), NULL,
        "MemoryError",
        "(\"list repetition would make more than 16777216 items (managerd's limit)\",)");
    ERR(&f, f.p4, id, "__imul__", T(1, I(INT64_MAX)), NULL, "MemoryError",
        "(\"list repetition would make more than 16777216 items (managerd's limit)\",)");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "2");
    drop(&f, id);
    md_fx_done(&f);
}

static void test_list_thousand_appends_and_iteration(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", NULL, NULL, id);
    for (int i = 0; i < 1000; i++) {
        md_val *p = NULL;
        CU_ASSERT_EQUAL(call(&f, f.p4, id, "append", T(1, I(i)), NULL, &p), MD_OUT_RETURN);
        md_decref(p);
    }
    /* `for x in l`: __getitem__(0), (1), ... until IndexError */
    int seen = 0;
    for (int i = 0;; i++) {
        md_val *p = NULL;
        int kind = call(&f, f.p4, id, "__getitem__", T(1, I(i)), NULL, &p);
        md_decref(p);
        if (kind != MD_OUT_RETURN)
            break;
        seen++;
    }
    CU_ASSERT_EQUAL(seen, 1000);
    RET(&f, f.p4, id, "index", T(1, I(999)), NULL, "999");
    RET(&f, f.p4, id, "__delitem__", T(1, SLICE(NONE, NONE, I(2))), NULL, "None");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "500");
    RET(&f, f.p4, id, "__getitem__", T(1, I(-1)), NULL, "999");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_list_replays_captured_requests(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "list", T(1, L(2, I(1), I(2))), NULL, id);
    REPLAY(&f, f.p4, "py312-list-iterate", id);
    REPLAY(&f, f.p2, "py27-list-iterate", id);
    drop(&f, id);
    md_fx_done(&f);
}

static void test_list_exposed_tuple(void)
{
    md_fx f;
    md_fx_init(&f);
    md_val *args = T(2, S("list"), L(1, I(10)));
    int kind = md_th_server_call(f.th, "create", args);
    md_decref(args);
    md_val *p = NULL;
    md_th_take(f.th, NULL, &p);
    CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
    CU_ASSERT(p && md_ts_repr_is(md_tuple_get(p, 1),
                           "('__add__', '__contains__', '__delitem__', '__delslice__', "
                           "'__getitem__', '__getslice__', '__len__', '__mul__', '__reversed__', "
                           "'__rmul__', '__setitem__', '__setslice__', 'append', 'count', "
                           "'extend', 'index', 'insert', 'pop', 'remove', 'reverse', 'sort', "
                           "'__imul__', 'clear', 'copy')"));
    char id[32];
    snprintf(id, sizeof id, "%s", p ? md_str_data(md_tuple_get(p, 0)) : "");
    md_decref(p);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* ======================================================================
 * Namespace
 * ====================================================================== */

static void test_namespace_attributes(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Namespace", NULL, D(2, S("b"), I(2), S("a"), I(1)), id);
    RET(&f, f.p4, id, "__getattribute__", T(1, S("a")), NULL, "1");
    RET(&f, f.p4, id, "__setattr__", T(2, S("c"), L(1, I(3))), NULL, "None");
    RET(&f, f.p4, id, "__setattr__", NULL, D(2, S("name"), S("_hidden"), S("value"), I(0)),
        "None");
    TXT(&f, f.p4, id, "__repr__", "Namespace(a=1, b=2, c=[3])");
    TXT(&f, f.p4, id, "__str__", "Namespace(a=1, b=2, c=[3])");
    RET(&f, f.p4, id, "__getattribute__", T(1, S("_hidden")), NULL, "0");
    RET(&f, f.p4, id, "__delattr__", T(1, S("b")), NULL, "None");
    ERR(&f, f.p4, id, "__delattr__", T(1, S("b")), NULL, "AttributeError",
        "(\"'Namespace' object has no attribute 'b'\",)");
    ERR(&f, f.p4, id, "__getattribute__", T(1, I(1)), NULL, "TypeError",
        "(\"attribute name must be string, not 'int'\",)");
    /* 3.12+ AttributeError carries {'name': ..., 'args': ...} */
    md_val *p = NULL;
    CU_ASSERT_EQUAL(call(&f, f.p4, id, "__getattribute__", T(1, S("missing")), NULL, &p),
                    MD_OUT_ERROR);
    CU_ASSERT(p && md_exc_state(p) &&
              md_ts_repr_is(md_exc_state(p), "{'name': 'missing', 'args': (\"'Namespace' object has "
                                       "no attribute 'missing'\",)}"));
    md_decref(p);
    CU_ASSERT_EQUAL(call(&f, f.p2, id, "__getattribute__", T(1, S("missing")), NULL, &p),
                    MD_OUT_ERROR);
    CU_ASSERT(p && md_exc_state(p) == NULL);
    md_decref(p);
    REPLAY(&f, f.p4, "py312-namespace-missing", id);
    REPLAY(&f, f.p2, "py27-namespace-missing", id);
    /* #GETVALUE: a managers.Namespace instance with its attributes */
    p = GOT(&f, f.p4, id, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_newobj(p, "multiprocessing.managers", "Namespace",
                        "{'a': 1, 'c': [3], '_hidden': 0}"));
    md_decref(p);
    RET(&f, f.p0, id, "#GETVALUE", NULL, NULL, "{'a': 1, 'c': [3], '_hidden': 0}");
    TB(&f, f.p4, id, "keys", NULL, NULL, "AttributeError: method 'keys' of <class 'Namespace'>");
    drop(&f, id);
    MK(&f, "Namespace", NULL, NULL, id);
    TXT(&f, f.p4, id, "__repr__", "Namespace()");
    p = GOT(&f, f.p4, id, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_newobj(p, "multiprocessing.managers", "Namespace", NULL));
    md_decref(p);
    drop(&f, id);
    MK_FAILS(&f, "Namespace", T(1, I(1)), NULL, "TypeError");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* ======================================================================
 * Value
 * ====================================================================== */

static void test_value_get_set_repr_getvalue(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Value", T(2, S("i"), I(5)), NULL, id);
    RET(&f, f.p4, id, "get", NULL, NULL, "5");
    TXT(&f, f.p4, id, "__repr__", "Value('i', 5)");
    md_val *p = GOT(&f, f.p4, id, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_newobj(p, "multiprocessing.managers", "Value", "{'_typecode': 'i', '_value': 5}"));
    md_decref(p);
    RET(&f, f.p0, id, "#GETVALUE", NULL, NULL, "{'_typecode': 'i', '_value': 5}");
    /* the typecode is not enforced (observed in CPython) */
    RET(&f, f.p4, id, "set", T(1, S("text")), NULL, "None");
    RET(&f, f.p4, id, "get", NULL, NULL, "'text'");
    TXT(&f, f.p4, id, "__str__", "Value('i', 'text')");
    RET(&f, f.p4, id, "set", NULL, D(1, S("value"), F(2.5)), "None");
    RET(&f, f.p4, id, "get", NULL, NULL, "2.5");
    ERR(&f, f.p4, id, "set", NULL, NULL, "TypeError",
        "(\"set() missing 1 required positional argument: 'value'\",)");
    drop(&f, id);
    MK(&f, "Value", NULL, D(3, S("typecode"), S("d"), S("value"), F(1.5), S("lock"), md_false()),
       id);
    TXT(&f, f.p4, id, "__repr__", "Value('d', 1.5)");
    drop(&f, id);
    MK_FAILS(&f, "Value", T(1, S("i")), NULL, "TypeError");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* ======================================================================
 * Array
 * ====================================================================== */

static void test_array_operations(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Array", T(2, S("i"), L(3, I(1), I(2), I(3))), NULL, id);
    RET(&f, f.p4, id, "__len__", NULL, NULL, "3");
    RET(&f, f.p4, id, "__getitem__", T(1, I(0)), NULL, "1");
    RET(&f, f.p4, id, "__getitem__", T(1, I(-1)), NULL, "3");
    RET(&f, f.p4, id, "__setitem__", T(2, I(1), I(20)), NULL, "None");
    ERR(&f, f.p4, id, "__setitem__", T(2, I(0), S("x")), NULL, "TypeError",
        "(\"'str' object cannot be interpreted as an integer\",)");
    ERR(&f, f.p4, id, "__setitem__", T(2, I(0), BIG("1099511627776")), NULL, "OverflowError",
        "('signed integer is greater than maximum',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, I(0), F(1.0)), NULL, "TypeError",
        "(\"'float' object cannot be interpreted as an integer\",)");
    ERR(&f, f.p4, id, "__getitem__", T(1, I(10)), NULL, "IndexError",
        "('array index out of range',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, I(-4)), NULL, "IndexError",
        "('array index out of range',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, I(3), I(0)), NULL, "IndexError",
        "('array assignment index out of range',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, S("a")), NULL, "TypeError",
        "('array indices must be integers',)");
    ERR(&f, f.p4, id, "__getitem__", T(1, BIG("1180591620717411303424")), NULL, "IndexError",
        "(\"cannot fit 'int' into an index-sized integer\",)");
    TXT(&f, f.p4, id, "__repr__", "array('i', [1, 20, 3])");
    /* slices by family; the captured replies too */
    md_val *p = GOT(&f, f.p4, id, "__getitem__", T(1, SLICE(I(0), I(2), NONE)), NULL);
    CU_ASSERT(is_reduce(p, "array", "array", "('i', b'\\x01\\x00\\x00\\x00\\x14\\x00\\x00\\x00')"));
    md_decref(p);
    p = GOT(&f, f.p2, id, "__getslice__", T(2, I(0), I(2)), NULL);
    CU_ASSERT(is_reduce(p, "array", "array", "('i', [1, 20])"));
    CU_ASSERT(p && md_str_is_py2(md_tuple_get(md_opaque_args(p), 0)));
    md_decref(p);
    RET(&f, f.p0, id, "__getitem__", T(1, SLICE(NONE, NONE, I(-1))), NULL, "[3, 20, 1]");
    REPLAY(&f, f.p4, "py312-array-slice", id);
    REPLAY(&f, f.p2, "py27-array-slice", id);
    p = GOT(&f, f.p4, id, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_reduce(p, "array", "array",
                        "('i', b'\\x01\\x00\\x00\\x00\\x14\\x00\\x00\\x00\\x03\\x00\\x00\\x00')"));
    md_decref(p);
    /* slice assignment takes arrays of the same typecode */
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(I(0), I(1), NONE),
                                       ARRAY3("i", "\x07\0\0\0\x08\0\0\0", 8)), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "array('i', [7, 8, 20, 3])");
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, I(2)), ARRAY2("i", L(2, I(0), I(2)))),
        NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "array('i', [0, 8, 2, 3])");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, I(2)), ARRAY2("i", L(1, I(0)))), NULL,
        "ValueError", "('attempt to assign array of size 1 to extended slice of size 2',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(I(0), I(1), NONE), L(1, I(1))), NULL, "TypeError",
        "('can only assign array (not \"list\") to array slice',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(I(0), I(1), NONE), ARRAY2("d", L(1, F(1.0)))),
        NULL, "TypeError", "('bad argument type for built-in operation',)");
    ERR(&f, f.p4, id, "__setitem__", T(2, SLICE(I(0), I(1), NONE), ARRAY3("i", "\1\0\0", 3)),
        NULL, "ValueError", "('bytes length not a multiple of item size',)");
    RET(&f, f.p2, id, "__setslice__", T(3, I(1), I(9), ARRAY2("i", L(1, I(-5)))), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "array('i', [0, -5])");
    ERR(&f, f.p2, id, "__setslice__", T(3, I(0), I(1), L(1, I(1))), NULL, "TypeError",
        "('can only assign array (not \"list\") to array slice',)");
    RET(&f, f.p4, id, "__setitem__", T(2, SLICE(NONE, NONE, NONE), ARRAY3("i", "", 0)), NULL,
        "None");
    TXT(&f, f.p4, id, "__repr__", "array('i')");
    TB(&f, f.p4, id, "append", T(1, I(1)), NULL, "AttributeError: method 'append'");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_array_constructor_and_repr(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Array", T(2, S("d"), L(2, F(1.5), I(2))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('d', [1.5, 2.0])");
    drop(&f, id);
    MK(&f, "Array", T(2, S("f"), L(2, F(0.1), F(1e300))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('f', [0.10000000149011612, inf])");
    drop(&f, id);
    MK(&f, "Array", T(3, S("u"), S("abc"), md_true()), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('u', 'abc')");
    RET(&f, f.p4, id, "__getitem__", T(1, I(1)), NULL, "'b'");
    ERR(&f, f.p4, id, "__setitem__", T(2, I(0), S("xy")), NULL, "TypeError",
        "('array item must be unicode character',)");
    md_val *p = GOT(&f, f.p4, id, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_reduce(p, "array", "array", "('u', b'a\\x00\\x00\\x00b\\x00\\x00\\x00c\\x00\\x00\\x00')"));
    md_decref(p);
    drop(&f, id);
    MK(&f, "Array", T(2, S("w"), L(1, S("\xc3\xa9"))), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('w', '\xc3\xa9')");
    drop(&f, id);
    MK(&f, "Array", NULL, D(2, S("typecode"), S("B"), S("sequence"), B("\x01\xff", 2)), id);
    TXT(&f, f.p4, id, "__repr__", "array('B', [1, 255])");
    drop(&f, id);
    MK(&f, "Array", T(2, S("i"), B("abcd", 4)), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('i', [1684234849])");
    drop(&f, id);
    MK(&f, "Array", T(2, S("q"), L(0)), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('q')");
    drop(&f, id);
    MK(&f, "Array", T(2, S("d"), ARRAY3("i", "\x02\0\0\0", 4)), NULL, id);
    TXT(&f, f.p4, id, "__repr__", "array('d', [2.0])");
    drop(&f, id);
    /* Python 2.7's char arrays; Python 3 has none */
    MK_FAILS(&f, "Array", T(2, S("c"), L(0)), NULL,
             "ValueError: bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
    md_th_set_create_protocol(f.th, 2);
    MK(&f, "Array", T(2, md_str_new_py2("c", 1), md_str_new_py2("ab", 2)), NULL, id);
    md_th_set_create_protocol(f.th, 4);
    TXT(&f, f.p2, id, "__repr__", "array('c', 'ab')");
    p = GOT(&f, f.p2, id, "__getslice__", T(2, I(0), I(1)), NULL);
    CU_ASSERT(is_reduce(p, "array", "array", "('c', ['a'])"));
    md_decref(p);
    drop(&f, id);
    MK_FAILS(&f, "Array", T(2, S("x"), L(0)), NULL,
             "ValueError: bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
    MK_FAILS(&f, "Array", T(2, S("ii"), L(0)), NULL,
             "TypeError: array() argument 1 must be a unicode character, not str");
    MK_FAILS(&f, "Array", T(2, I(1), L(0)), NULL,
             "TypeError: array() argument 1 must be a unicode character, not int");
    MK_FAILS(&f, "Array", T(2, S("i"), S("abc")), NULL,
             "TypeError: cannot use a str to initialize an array with typecode 'i'");
    MK_FAILS(&f, "Array", T(2, S("i"), ARRAY3("u", "a\0\0\0", 4)), NULL,
             "TypeError: cannot use a unicode array to initialize an array with typecode 'i'");
    MK_FAILS(&f, "Array", T(2, S("i"), B("abc", 3)), NULL,
             "ValueError: bytes length not a multiple of item size");
    MK_FAILS(&f, "Array", T(2, S("u"), B("abcd", 4)), NULL,
             "ValueError: character U+64636261 is not in range [U+0000; U+10ffff]");
    MK_FAILS(&f, "Array", T(2, S("i"), NONE), NULL, "TypeError: 'NoneType' object is not iterable");
    MK_FAILS(&f, "Array", T(2, S("d"), L(1, S("a"))), NULL, "TypeError: must be real number, not str");
    MK_FAILS(&f, "Array", T(2, S("f"), L(1, BIG("1" "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000" "0000000000"
                                                 "0000000000" "0000000000" "0000000000"))),
             NULL, "OverflowError: int too large to convert to float");
    MK_FAILS(&f, "Array", T(1, S("i")), NULL, "TypeError");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* Each integer typecode at its bounds and one past, with CPython's
 * messages (arraymodule.c parses through different PyArg formats). */
static void test_array_integer_ranges(void)
{
    static const struct {
        const char *code, *ok_hi, *ok_lo, *hi, *lo, *hi_msg, *lo_msg;
    } rows[] = {
        {"b", "127", "-128", "128", "-129", "signed char is greater than maximum",
         "signed char is less than minimum"},
        {"B", "255", "0", "256", "-1", "unsigned byte integer is greater than maximum",
         "unsigned byte integer is less than minimum"},
        {"h", "32767", "-32768", "32768", "-32769", "signed short integer is greater than maximum",
         "signed short integer is less than minimum"},
        {"H", "65535", "0", "65536", "-1", "unsigned short is greater than maximum",
         "unsigned short is less than minimum"},
        {"i", "2147483647", "-2147483648", "2147483648", "-2147483649",
         "signed integer is greater than maximum", "signed integer is less than minimum"},
        {"I", "4294967295", "0", "4294967296", "-1", "unsigned int is greater than maximum",
         "can't convert negative value to unsigned int"},
        {"l", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
         "-9223372036854775809", "Python int too large to convert to C long",
         "Python int too large to convert to C long"},
        {"L", "18446744073709551615", "0", "18446744073709551616", "-1",
         "Python int too large to convert to C unsigned long",
         "can't convert negative value to unsigned int"},
        {"q", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
         "-9223372036854775809", "int too big to convert", "int too big to convert"},
        {"Q", "18446744073709551615", "0", "18446744073709551616", "-1", "int too big to convert",
         "can't convert negative int to unsigned"},
    };
    md_fx f;
    md_fx_init(&f);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        char id[32], want[200];
        MK(&f, "Array", T(2, S(rows[r].code), L(2, BIG(rows[r].ok_hi), BIG(rows[r].ok_lo))), NULL,
           id);
        snprintf(want, sizeof want, "array('%s', [%s, %s])", rows[r].code, rows[r].ok_hi,
                 rows[r].ok_lo);
        TXT(&f, f.p4, id, "__repr__", want);
        RET(&f, f.p4, id, "__getitem__", T(1, I(0)), NULL, rows[r].ok_hi);
        snprintf(want, sizeof want, "('%s',)", rows[r].hi_msg);
        if (strchr(rows[r].hi_msg, '\''))
            snprintf(want, sizeof want, "(\"%s\",)", rows[r].hi_msg);
        ERR(&f, f.p4, id, "__setitem__", T(2, I(0), BIG(rows[r].hi)), NULL, "OverflowError", want);
        snprintf(want, sizeof want, strchr(rows[r].lo_msg, '\'') ? "(\"%s\",)" : "('%s',)",
                 rows[r].lo_msg);
        ERR(&f, f.p4, id, "__setitem__", T(2, I(1), BIG(rows[r].lo)), NULL, "OverflowError", want);
        /* the array is unchanged by the failures */
        RET(&f, f.p4, id, "__getitem__", T(1, I(1)), NULL, rows[r].ok_lo);
        drop(&f, id);
    }
    /* 'b' parses as a short first (CPython's quirk) */
    MK_FAILS(&f, "Array", T(2, S("b"), L(1, I(40000))), NULL,
             "OverflowError: signed short integer is greater than maximum");
    MK_FAILS(&f, "Array", T(2, S("H"), L(1, BIG("4294967296"))), NULL,
             "OverflowError: signed integer is greater than maximum");
    MK_FAILS(&f, "Array", T(2, S("B"), L(1, BIG("18446744073709551616"))), NULL,
             "OverflowError: Python int too large to convert to C long");
    MK_FAILS(&f, "Array", T(2, S("I"), L(1, BIG("18446744073709551616"))), NULL,
             "OverflowError: Python int too large to convert to C unsigned long");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* ======================================================================
 * Iterator (create('Iterator', obj))
 * ====================================================================== */

static void test_iterator_created_directly(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Iterator", T(1, L(2, I(1), S("two"))), NULL, id);
    RET_PREFIX(&f, f.p4, id, "__repr__", "<list_iterator object at 0x");
    RET(&f, f.p4, id, "__next__", NULL, NULL, "1");
    md_val *p = GOT(&f, f.p4, id, "#GETVALUE", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "iter", "(['two'],)"));
    md_decref(p);
    RET(&f, f.p0, id, "#GETVALUE", NULL, NULL, "['two']");
    RET(&f, f.p2, id, "next", NULL, NULL, "'two'");
    ERR(&f, f.p4, id, "__next__", NULL, NULL, "StopIteration", "()");
    TB(&f, f.p4, id, "send", T(1, NONE), NULL,
       "AttributeError: 'list_iterator' object has no attribute 'send'");
    drop(&f, id);
    MK_FAILS(&f, "Iterator", T(1, I(3)), NULL, "TypeError: 'int' object is not iterable");
    MK_FAILS(&f, "Iterator", NULL, NULL, "TypeError");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* ======================================================================
 * set (Python 3.14)
 * ====================================================================== */

static md_val *one_set(int64_t a, int64_t b)
{
    return SETV(false, 2, I(a), I(b));
}

static void test_set_methods_follow_python(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "set", T(1, L(3, I(1), I(2), I(2))), NULL, id);
    RET(&f, f.p4, id, "__len__", NULL, NULL, "2");
    TXT(&f, f.p4, id, "__repr__", "{1, 2}");
    RET(&f, f.p4, id, "add", T(1, I(3)), NULL, "None");
    ERR(&f, f.p4, id, "add", NULL, D(1, S("elem"), I(3)), "TypeError",
        "('set.add() takes no keyword arguments',)");
    ERR(&f, f.p4, id, "add", T(1, L(0)), NULL, "TypeError", "(\"unhashable type: 'list'\",)");
    RET(&f, f.p4, id, "__contains__", T(1, F(3.0)), NULL, "True");
    RET(&f, f.p4, id, "__contains__", T(1, SETV(false, 0)), NULL, "False");
    ERR(&f, f.p4, id, "__contains__", T(1, L(0)), NULL, "TypeError",
        "(\"unhashable type: 'list'\",)");
    ERR(&f, f.p4, id, "remove", T(1, I(9)), NULL, "KeyError", "(9,)");
    RET(&f, f.p4, id, "remove", T(1, I(3)), NULL, "None");
    RET(&f, f.p4, id, "discard", T(1, I(9)), NULL, "None");
    RET(&f, f.p4, id, "union", T(2, L(1, I(5)), S("a")), NULL, "{1, 2, 5, 'a'}");
    RET(&f, f.p4, id, "union", NULL, NULL, "{1, 2}");
    ERR(&f, f.p4, id, "union", T(1, I(5)), NULL, "TypeError",
        "(\"'int' object is not iterable\",)");
    RET(&f, f.p4, id, "intersection", T(2, L(2, I(2), I(1)), L(1, I(2))), NULL, "{2}");
    RET(&f, f.p4, id, "difference", T(1, L(1, I(1))), NULL, "{2}");
    RET(&f, f.p4, id, "symmetric_difference", T(1, L(2, I(2), I(3))), NULL, "{1, 3}");
    RET(&f, f.p4, id, "isdisjoint", T(1, L(1, I(7))), NULL, "True");
    RET(&f, f.p4, id, "isdisjoint", T(1, L(1, I(2))), NULL, "False");
    RET(&f, f.p4, id, "issubset", T(1, L(3, I(1), I(2), I(3))), NULL, "True");
    RET(&f, f.p4, id, "issuperset", T(1, L(1, I(1))), NULL, "True");
    RET(&f, f.p4, id, "issuperset", T(1, L(1, I(7))), NULL, "False");
    ERR(&f, f.p4, id, "issubset", T(1, I(5)), NULL, "TypeError",
        "(\"'int' object is not iterable\",)");
    RET(&f, f.p4, id, "copy", NULL, NULL, "{1, 2}");
    RET(&f, f.p4, id, "update", T(2, L(1, I(3)), T(1, I(4))), NULL, "None");
    RET(&f, f.p4, id, "difference_update", T(1, L(1, I(4))), NULL, "None");
    RET(&f, f.p4, id, "intersection_update", T(1, L(3, I(1), I(2), I(3))), NULL, "None");
    RET(&f, f.p4, id, "symmetric_difference_update", T(1, L(2, I(3), I(9))), NULL, "None");
    TXT(&f, f.p4, id, "__repr__", "{1, 2, 9}");
    ERR(&f, f.p4, id, "update", T(1, L(2, I(10), L(0))), NULL, "TypeError",
        "(\"unhashable type: 'list'\",)");
    /* a failed update changed nothing */
    RET(&f, f.p4, id, "__contains__", T(1, I(10)), NULL, "False");
    RET(&f, f.p4, id, "pop", NULL, NULL, "1");
    RET(&f, f.p4, id, "clear", NULL, NULL, "None");
    ERR(&f, f.p4, id, "pop", NULL, NULL, "KeyError", "('pop from an empty set',)");
    RET(&f, f.p4, id, "#GETVALUE", NULL, NULL, "set()");
    drop(&f, id);
    MK_FAILS(&f, "set", T(2, L(0), L(0)), NULL, "TypeError: set expected at most 1 argument, got 2");
    MK_FAILS(&f, "set", T(1, I(1)), NULL, "TypeError: 'int' object is not iterable");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_set_operators_and_iteration(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "set", T(1, L(2, I(1), I(2))), NULL, id);
    RET(&f, f.p4, id, "__and__", T(1, one_set(2, 3)), NULL, "{2}");
    RET(&f, f.p4, id, "__or__", T(1, one_set(2, 3)), NULL, "{1, 2, 3}");
    RET(&f, f.p4, id, "__sub__", T(1, one_set(2, 3)), NULL, "{1}");
    RET(&f, f.p4, id, "__xor__", T(1, one_set(2, 3)), NULL, "{1, 3}");
    RET(&f, f.p4, id, "__rsub__", T(1, one_set(2, 3)), NULL, "{3}");
    RET(&f, f.p4, id, "__rand__", T(1, SETV(true, 2, I(2), I(3))), NULL, "frozenset({2})");
    RET(&f, f.p4, id, "__ror__", T(1, one_set(2, 3)), NULL, "{2, 3, 1}");
    RET(&f, f.p4, id, "__rxor__", T(1, one_set(2, 3)), NULL, "{3, 1}");
    md_val *p = GOT(&f, f.p4, id, "__and__", T(1, L(1, I(1))), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_GLOBAL && md_global_is(p, "builtins", "NotImplemented"));
    md_decref(p);
    p = GOT(&f, f.p4, id, "__lt__", T(1, L(1, I(1))), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_GLOBAL && md_global_is(p, "builtins", "NotImplemented"));
    md_decref(p);
    RET(&f, f.p4, id, "__le__", T(1, one_set(1, 2)), NULL, "True");
    RET(&f, f.p4, id, "__lt__", T(1, one_set(1, 2)), NULL, "False");
    RET(&f, f.p4, id, "__lt__", T(1, SETV(false, 3, I(1), I(2), I(3))), NULL, "True");
    RET(&f, f.p4, id, "__ge__", T(1, SETV(true, 1, I(1))), NULL, "True");
    RET(&f, f.p4, id, "__gt__", T(1, SETV(false, 1, I(1))), NULL, "True");
    RET(&f, f.p4, id, "__gt__", T(1, SETV(false, 1, I(5))), NULL, "False");
    /* in-place operators reply the whole set */
    RET(&f, f.p4, id, "__ior__", T(1, one_set(3, 4)), NULL, "{1, 2, 3, 4}");
    RET(&f, f.p4, id, "__isub__", T(1, one_set(4, 5)), NULL, "{1, 2, 3}");
    RET(&f, f.p4, id, "__iand__", T(1, one_set(2, 3)), NULL, "{2, 3}");
    RET(&f, f.p4, id, "__ixor__", T(1, one_set(3, 7)), NULL, "{2, 7}");
    p = GOT(&f, f.p4, id, "__ior__", T(1, L(0)), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_GLOBAL);
    md_decref(p);
    /* iter(s): CPython 3.14 replies the set iterator, a snapshot */
    p = GOT(&f, f.p4, id, "__iter__", NULL, NULL);
    CU_ASSERT(is_reduce(p, "builtins", "iter", "([2, 7],)"));
    md_decref(p);
    RET(&f, f.p0, id, "__iter__", NULL, NULL, "[2, 7]");
    p = GOT(&f, f.p4, id, "__class_getitem__", T(1, md_global_new("builtins", "int")), NULL);
    CU_ASSERT(p && md_typeof(p) == MD_T_OPAQUE &&
              md_global_is(md_opaque_callable(p), "types", "GenericAlias"));
    md_decref(p);
    /* a set as an element is looked up as the equal frozenset */
    RET(&f, f.p4, id, "add", T(1, SETV(true, 1, I(1))), NULL, "None");
    RET(&f, f.p4, id, "__contains__", T(1, SETV(false, 1, I(1))), NULL, "True");
    RET(&f, f.p4, id, "remove", T(1, SETV(false, 1, I(1))), NULL, "None");
    RET(&f, f.p4, id, "__len__", NULL, NULL, "2");
    drop(&f, id);
    /* 1,000 items */
    md_val *items = md_list_new(1000);
    for (int i = 0; i < 1000; i++)
        md_list_append_steal(items, I(i % 500));
    MK(&f, "set", T(1, items), NULL, id);
    RET(&f, f.p4, id, "__len__", NULL, NULL, "500");
    RET(&f, f.p4, id, "__contains__", T(1, I(499)), NULL, "True");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

static void test_set_exposed_tuple(void)
{
    md_fx f;
    md_fx_init(&f);
    md_val *args = T(1, S("set"));
    int kind = md_th_server_call(f.th, "create", args);
    md_decref(args);
    md_val *p = NULL;
    md_th_take(f.th, NULL, &p);
    CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
    CU_ASSERT(p && md_tuple_len(md_tuple_get(p, 1)) == 37);
    char id[32];
    snprintf(id, sizeof id, "%s", p ? md_str_data(md_tuple_get(p, 0)) : "");
    md_decref(p);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* ======================================================================
 * Allocation failures: every handler, every failing allocation
 * ====================================================================== */

/* Handlers called directly (the harness itself cannot survive failed
 * allocations): positional arguments only; VARARGS methods without
 * parameters get the whole tuple as varargs. */
static void direct_bind(md_call *c, const md_method *m, const char *const *params, uint16_t flags,
                        md_val *args)
{
    size_t np = 0, n = md_tuple_len(args);
    while (params[np])
        np++;
    for (size_t i = 0; i < n && i < np; i++)
        c->argv[i] = md_tuple_get(args, i);
    c->nargs = n;
    if ((flags & MD_M_VARARGS) && n > np) {
        c->varargs = md_tuple_new(n - np);
        for (size_t i = np; c->varargs && i < n; i++)
            md_tuple_set_steal(c->varargs, i - np, md_incref(md_tuple_get(args, i)));
    }
    c->method = m;
}

static void direct_done(md_call *c)
{
    md_call_run_after(c);
    md_decref(c->out_value);
    md_decref(c->varargs);
    md_decref(c->varkw);
    if (c->out_proxy)
        md_obj_maybe_free(c->out_proxy);
}

static md_obj *direct_new(const md_type *t, md_val *args)
{
    md_obj *o = md_obj_new(t);
    if (!o)
        return NULL;
    md_call c;
    memset(&c, 0, sizeof c);
    c.self = o;
    c.protocol = 4;
    direct_bind(&c, NULL, t->ctor_params, t->ctor_flags, args);
    size_t np = 0;
    while (t->ctor_params[np])
        np++;
    /* the dispatcher answers MemoryError when it cannot build varargs */
    bool bound = !(md_tuple_len(args) > np && !c.varargs);
    if (bound)
        t->init(&c);
    if (!bound || c.out_kind == MD_OUT_ERROR || c.out_kind == MD_OUT_TRACEBACK) {
        t->finalize(o);
        md_free(o);
        o = NULL;
    }
    direct_done(&c);
    if (o)
        o->refcount = 1;
    return o;
}

static void direct_call(md_obj *o, const char *method, md_val *args, int protocol)
{
    if (!o)
        return;
    const md_method *m = o->type->methods;
    while (m->name && strcmp(m->name, method) != 0)
        m++;
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->name);
    md_call c;
    memset(&c, 0, sizeof c);
    c.self = o;
    c.protocol = protocol;
    direct_bind(&c, m, m->params, m->flags, args);
    m->fn(&c);
    direct_done(&c);
}

static void direct_free(md_obj *o)
{
    if (o) {
        o->refcount = 0;
        md_obj_maybe_free(o);
    }
}

/* Creates typeid through the dispatcher with the argument arg (stolen),
 * the request being the only other holder unless the caller keeps a
 * reference; the new object's ident into id. */
static void create_with(md_fx *f, const char *typeid, md_val *arg, char *id)
{
    md_val *args = T(2, S(typeid), arg);
    int kind = md_th_server_call(f->th, "create", args);
    md_decref(args);
    md_val *p = NULL;
    md_th_take(f->th, NULL, &p);
    CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
    snprintf(id, 32, "%s", p ? md_str_data(md_tuple_get(p, 0)) : "");
    md_decref(p);
}

/* m.dict(big) and m.list(big) through the dispatcher: an argument that
 * only the request references becomes the stored value itself (nothing
 * copied: a change made to it behind the server's back shows); one that
 * anything else references is copied, so changing that other holder's
 * value leaves the stored one as it was. */
static void test_dict_and_list_keep_a_sole_argument_and_copy_a_shared_one(void)
{
    md_fx f;
    md_fx_init(&f);
    char id_d[32], id_l[32];
    for (int shared = 0; shared < 2; shared++) {
        md_val *dv = D(3, I(1), S("a"), F(1.0), S("b"), S("k"), L(1, I(2)));
        md_val *lv = L(3, I(1), S("x"), T(1, I(2)));
        md_val *held_d = shared ? md_incref(dv) : dv, *held_l = shared ? md_incref(lv) : lv;
        create_with(&f, "dict", dv, id_d);
        create_with(&f, "list", lv, id_l);
        md_obj *od = md_objtab_find(md_th_server(f.th), strtoull(id_d, NULL, 16));
        md_obj *ol = md_objtab_find(md_th_server(f.th), strtoull(id_l, NULL, 16));
        CU_ASSERT_PTR_NOT_NULL_FATAL(od);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ol);
        CU_ASSERT_EQUAL_FATAL(MD_CU_VAL(od) == held_d, !shared);
        CU_ASSERT_EQUAL_FATAL(MD_CU_VAL(ol) == held_l, !shared);
        /* the test reaches in: the value is alive (held by the store when
         * kept, by the test when shared) */
        CU_ASSERT_EQUAL(md_dict_set(held_d, S("z"), I(0), NULL), 0);
        CU_ASSERT_EQUAL(md_list_append(held_l, I(9)), 0);
        RET(&f, f.p4, id_d, "copy", T(0), NULL,
            shared ? "{1: 'b', 'k': [2]}" : "{1: 'b', 'k': [2], 'z': 0}");
        RET(&f, f.p4, id_l, "__len__", T(0), NULL, shared ? "3" : "4");
        if (shared) {
            md_decref(held_d);
            md_decref(held_l);
        }
        drop(&f, id_d);
        drop(&f, id_l);
    }
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* A dict's table (white-box: value_impl.h). */
static const md_table *dict_table(const md_val *d)
{
    return &((const md_tableobj *)d)->t;
}

/* Whether a dict's table has the shape and the blocks it had. (A big
 * entries block may be resized ahead of a reply, its contents kept:
 * compare the capacity the table reads, not the block, for that.) */
static bool table_unchanged(const md_val *d, const md_table *before)
{
    const md_table *t = dict_table(d);
    return t->nentries == before->nentries && t->ecap == before->ecap &&
           t->log2size == before->log2size && t->index == before->index &&
           t->entries == before->entries;
}

/* A peer that notes, when a reply reaches it, its kind and how many
 * items the dict it watches holds at that moment, and its table. */
typedef struct watch_peer {
    md_peer base;
    const md_val *watched;
    int kind;
    size_t len_at_reply;
    md_table table_at_reply;
} watch_peer;

static void watch_deliver(md_peer *peer, int kind, md_val *payload)
{
    watch_peer *w = (watch_peer *)peer;
    w->kind = kind;
    w->len_at_reply = md_dict_len(w->watched);
    w->table_at_reply = *dict_table(w->watched);
    md_decref(payload);
}

static const md_peer_ops watch_ops = {.deliver = watch_deliver};

/* A dict of n pairs 'k<i>' -> i, and one more key when odd_key. */
static md_val *update_arg(size_t n, md_val *odd_key)
{
    md_val *d = md_dict_new();
    char key[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        CU_ASSERT_FATAL(md_dict_set(d, S(key), I((int64_t)i), NULL) == 0);
    }
    if (odd_key)
        CU_ASSERT_FATAL(md_dict_set(d, odd_key, I(-1), NULL) == 0);
    md_decref(odd_key);
    return d;
}

/* The same pairs as the decoder leaves a big dict: pending (not
 * indexed), here with 'k0' once more at the end, -> 999. */
static md_val *pending_update_arg(size_t n)
{
    md_val *d = md_dict_new();
    md_val **items = calloc(2 * (n + 1), sizeof *items);
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    char key[32];
    for (size_t i = 0; i <= n; i++) {
        snprintf(key, sizeof key, "k%zu", i < n ? i : 0);
        items[2 * i] = S(key);
        items[2 * i + 1] = I(i < n ? (int64_t)i : 999);
    }
    CU_ASSERT_FATAL(md_dict_defer_pairs_steal(d, items, n + 1, 1) == 1);
    free(items);
    return d;
}

/* d.update(big dict) replies before it merges when the merge cannot
 * fail (md_call_after_reply): the reply leaves with the dict as it was,
 * and the merge is done by the time the request returns. A small update,
 * one with a key whose == could fail (a tuple), one into a dict holding
 * an opaque key, or a settled dict into an empty one (a copy, which
 * allocates) merges first. A pending chunk is merged pending. */
static void test_dict_update_of_a_big_dict_merges_after_its_reply(void)
{
    md_fx f;
    md_fx_init(&f);
    const size_t big = MD_UPDATE_LATER_MIN_PAIRS + 44;
    struct {
        size_t n;
        bool odd, opaque_stored, pending, empty, later;
    } cases[] = {{big, false, false, false, false, true}, {big, true, false, false, false, false},
                 {10, false, false, false, false, false}, {big, false, true, false, false, false},
                 {big, false, false, true, false, true}, {big, false, false, true, true, true},
                 {big, false, false, false, true, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char id[32];
        /* A stored Decimal key: comparing one with an int needs memory. */
        md_val *first = cases[c].opaque_stored ? DECIMAL("7") : S("k0");
        MK(&f, "dict", cases[c].empty ? NULL : T(1, D(1, first, S("old"))), NULL, id);
        if (cases[c].empty)
            md_decref(first);
        md_obj *o = md_objtab_find(md_th_server(f.th), strtoull(id, NULL, 16));
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        watch_peer w;
        memset(&w, 0, sizeof w);
        md_peer_init(&w.base, &watch_ops, md_th_server(f.th));
        w.watched = MD_CU_VAL(o);
        md_val *arg = cases[c].pending ? pending_update_arg(cases[c].n)
                                       : update_arg(cases[c].n,
                                                    cases[c].odd ? T(2, I(1), S("t")) : NULL);
        md_val *args = T(1, arg);
        md_table table_before = *dict_table(MD_CU_VAL(o));
        md_th_call(f.th, &w.base, id, "update", args, NULL);
        md_decref(args);
        size_t before = cases[c].empty ? 0 : 1;
        size_t total = cases[c].n + (cases[c].odd ? 1 : 0) + (cases[c].opaque_stored ? 1 : 0);
        CU_ASSERT_EQUAL(w.kind, MD_OUT_RETURN);
        CU_ASSERT_EQUAL(w.len_at_reply, cases[c].later ? before : total);
        CU_ASSERT_EQUAL(md_dict_len(MD_CU_VAL(o)), total);
        /* the dict grows (its entries copied, its index filled) after
         * the reply too, when it merges after it */
        CU_ASSERT(dict_table(MD_CU_VAL(o))->ecap >= total);
        CU_ASSERT_EQUAL(table_unchanged(MD_CU_VAL(o), &w.table_at_reply), !cases[c].later);
        CU_ASSERT_EQUAL(table_unchanged(MD_CU_VAL(o), &table_before), false);
        if (cases[c].later)
            CU_ASSERT(w.table_at_reply.ecap == table_before.ecap &&
                      w.table_at_reply.index == table_before.index);
        RET(&f, f.p4, id, "__getitem__", T(1, S("k0")), NULL, cases[c].pending ? "999" : "0");
        RET(&f, f.p4, id, "__getitem__", T(1, S("k9")), NULL, "9");
        md_peer_close(&w.base);
        drop(&f, id);
    }
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* l.extend(big) onto an empty list: an argument only the request
 * references becomes the stored value itself (as m.list(big): a change
 * made to it behind the server's back shows); one that anything else
 * references is copied. Onto a list with items, the items are appended
 * and the stored value stays the same. */
static void test_list_extend_takes_a_sole_argument_into_an_empty_list(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    for (int shared = 0; shared < 2; shared++) {
        create_with(&f, "list", L(0), id);
        md_obj *ol = md_objtab_find(md_th_server(f.th), strtoull(id, NULL, 16));
        CU_ASSERT_PTR_NOT_NULL_FATAL(ol);
        md_val *lv = L(3, I(1), S("x"), T(1, I(2)));
        md_val *held = shared ? md_incref(lv) : lv;
        RET(&f, f.p4, id, "extend", T(1, lv), NULL, "None");
        CU_ASSERT_EQUAL_FATAL(MD_CU_VAL(ol) == held, !shared);
        CU_ASSERT_EQUAL(md_list_append(held, I(9)), 0);
        RET(&f, f.p4, id, "__len__", T(0), NULL, shared ? "3" : "4");
        if (shared)
            md_decref(held);
        md_val *before = MD_CU_VAL(ol);
        RET(&f, f.p4, id, "extend", T(1, L(2, I(5), I(6))), NULL, "None");
        CU_ASSERT_PTR_EQUAL(MD_CU_VAL(ol), before);
        RET(&f, f.p4, id, "__getitem__", T(1, md_slice_new(NULL, NULL, NULL)), NULL,
            shared ? "[1, 'x', (2,), 5, 6]" : "[1, 'x', (2,), 9, 5, 6]");
        drop(&f, id);
    }
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* Out of memory reserving the room of a deferred update: MemoryError,
 * and the dict is as it was; with enough memory the same call stores
 * every pair. */
static void test_dict_update_later_out_of_memory_changes_nothing(void)
{
    md_fx f;
    md_fx_init(&f);
    const size_t n = 4 * MD_UPDATE_LATER_MIN_PAIRS;
    for (int pending = 0; pending < 2; pending++) {
        char id[32];
        MK(&f, "dict", T(1, D(1, S("a"), I(1))), NULL, id);
        md_obj *o = md_objtab_find(md_th_server(f.th), strtoull(id, NULL, 16));
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        /* the first update rebuilds the index; the second, of the
         * same keys, grows the entries only (the index made for n + 1
         * entries has room for 2 n + 1) */
        for (size_t round = 0; round < 2; round++) {
            size_t had = md_dict_len(MD_CU_VAL(o));
            bool done = false;
            for (long k = 0; k < 200 && !done; k++) {
                md_val *arg = pending ? pending_update_arg(n) : update_arg(n, NULL);
                md_val *args = T(1, arg);
                watch_peer w;
                memset(&w, 0, sizeof w);
                md_peer_init(&w.base, &watch_ops, md_th_server(f.th));
                w.watched = MD_CU_VAL(o);
                md_table before = *dict_table(MD_CU_VAL(o));
                md_alloc_fail_after(k);
                md_th_call(f.th, &w.base, id, "update", args, NULL);
                md_alloc_fail_after(-1);
                md_peer_close(&w.base);
                md_decref(args);
                size_t len = md_dict_len(MD_CU_VAL(o));
                done = w.kind == MD_OUT_RETURN;
                /* keys k0.. k<n-1> each round: the second adds none */
                size_t want = round ? had : had + n;
                CU_ASSERT(done ? len == want && w.len_at_reply == had : len == had);
                /* failed: the dict as it was; done: grown after the
                 * reply (room is reserved for every pair of the chunk,
                 * even keys d holds) */
                CU_ASSERT(table_unchanged(w.watched, done ? &w.table_at_reply : &before) ==
                          !done);
                if (done)
                    CU_ASSERT(table_unchanged(w.watched, &before) == false &&
                              w.table_at_reply.ecap == before.ecap &&
                              w.table_at_reply.log2size == before.log2size &&
                              w.table_at_reply.index == before.index);
            }
            CU_ASSERT_TRUE(done);
        }
        RET(&f, f.p4, id, "__getitem__", T(1, S("a")), NULL, "1");
        drop(&f, id);
    }
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_fx_done(&f);
}

/* l.extend() of a list or a tuple appends in one step, all or nothing:
 * out of memory at any allocation leaves the list as it was. */
static void test_list_extend_of_a_sequence_is_all_or_nothing(void)
{
    md_val *items = md_list_new(0);
    for (int64_t i = 0; i < 1000; i++)
        CU_ASSERT_FATAL(md_list_append_steal(items, md_int_from_i64(i)) == 0);
    md_val *args[] = { T(1, md_incref(items)), T(1, md_tuple_new(0)), T(1, T(2, S("a"), I(1))) };
    const size_t want[] = { 1002, 2, 4 };
    for (size_t a = 0; a < sizeof args / sizeof args[0]; a++) {
        bool done = false;
        for (long k = 0; k < 10 && !done; k++) {
            md_val *largs = T(1, L(2, I(-1), I(-2)));
            md_obj *l = direct_new(&md_type_list, largs);
            md_decref(largs);
            CU_ASSERT_PTR_NOT_NULL_FATAL(l);
            md_alloc_fail_after(k);
            direct_call(l, "extend", args[a], 4);
            md_alloc_fail_after(-1);
            size_t len = md_list_len(MD_CU_VAL(l));
            CU_ASSERT(len == 2 || len == want[a]);
            done = len == want[a];
            if (done && a == 0)
                CU_ASSERT(md_ts_repr_is(md_list_get(MD_CU_VAL(l), 1001), "999"));
            direct_free(l);
        }
        CU_ASSERT_TRUE(done);
        md_decref(args[a]);
    }
    md_decref(items);
}

/* Build every argument, then fail the (n+1)-th allocation from there on
 * while objects are made and every method runs. */
static void sweep_once(long n)
{
    md_val *none = T(0);
    md_val *dict_args = T(1, D(2, S("a"), I(1), S("b"), L(1, I(2))));
    md_val *pairs = T(1, L(2, T(2, S("c"), I(3)), S("de")));
    md_val *key_a = T(1, S("a")), *key_b = T(1, S("b")), *kv = T(2, S("k"), L(1, S("v")));
    md_val *other_dict = T(1, D(1, I(9), I(9)));
    md_val *list_args = T(1, L(4, I(3), S("x"), F(1.5), I(0)));
    md_val *ints = T(1, L(3, I(5), I(1), I(4)));
    md_val *sl = T(1, SLICE(NONE, NONE, I(-2)));
    md_val *sl_assign = T(2, SLICE(I(0), I(2), NONE), L(3, I(7), I(8), I(9)));
    md_val *sl_ext = T(2, SLICE(NONE, NONE, I(2)), L(2, I(7), I(8)));
    md_val *idx0 = T(1, I(0)), *two = T(1, I(2)), *ins = T(2, I(1), S("ins"));
    md_val *simple = T(2, I(0), I(2)), *simple_set = T(3, I(0), I(1), L(1, I(6)));
    md_val *set_args = T(1, L(3, I(1), I(2), I(3)));
    md_val *set_other = T(1, SETV(false, 2, I(2), I(9)));
    md_val *iterables = T(2, L(1, I(4)), S("ab"));
    md_val *ns_set = T(2, S("x"), L(0)), *ns_name = T(1, S("x"));
    md_val *val_args = T(2, S("i"), L(1, I(5)));
    md_val *arr_args = T(2, S("d"), L(3, F(1.0), I(2), F(3.5)));
    md_val *arr_slice = T(2, SLICE(I(0), I(1), NONE), ARRAY3("d", "\0\0\0\0\0\0\0\0", 8));
    md_val *arr_set = T(2, I(1), F(2.5));
    md_val *iter_args = T(1, L(2, I(1), I(2)));

    md_alloc_fail_after(n);
    md_obj *d = direct_new(&md_type_dict, dict_args);
    static const char *const dict_calls[] = {"__len__", "keys", "values", "items", "copy",
                                             "__reversed__", "popitem", "clear"};
    direct_call(d, "__getitem__", key_a, 4);
    direct_call(d, "__contains__", key_b, 4);
    direct_call(d, "get", key_b, 4);
    direct_call(d, "__setitem__", kv, 4);
    direct_call(d, "setdefault", kv, 4);
    direct_call(d, "update", pairs, 4);
    direct_call(d, "__or__", other_dict, 4);
    direct_call(d, "__ror__", other_dict, 4);
    direct_call(d, "__ior__", other_dict, 4);
    direct_call(d, "fromkeys", key_a, 4);
    direct_call(d, "pop", key_a, 4);
    direct_call(d, "__iter__", none, 4);
    for (size_t i = 0; i < sizeof dict_calls / sizeof dict_calls[0]; i++)
        direct_call(d, dict_calls[i], none, 4);
    direct_free(d);

    md_obj *l = direct_new(&md_type_list, list_args);
    static const char *const list_calls[] = {"__len__", "copy", "reverse", "__reversed__",
                                             "pop", "sort", "clear"};
    direct_call(l, "__getitem__", sl, 4);
    direct_call(l, "__setitem__", sl_assign, 4);
    direct_call(l, "__setitem__", sl_ext, 4);
    direct_call(l, "__delitem__", sl, 4);
    direct_call(l, "__add__", ints, 4);
    direct_call(l, "__mul__", two, 4);
    direct_call(l, "__imul__", two, 4);
    direct_call(l, "extend", ints, 4);
    direct_call(l, "insert", ins, 4);
    direct_call(l, "index", ins, 4);
    direct_call(l, "count", idx0, 4);
    direct_call(l, "remove", idx0, 4);
    direct_call(l, "append", two, 4);
    direct_call(l, "__getslice__", simple, 2);
    direct_call(l, "__setslice__", simple_set, 2);
    direct_call(l, "__delslice__", simple, 2);
    direct_call(l, "__reversed__", none, 2);
    for (size_t i = 0; i < sizeof list_calls / sizeof list_calls[0]; i++)
        direct_call(l, list_calls[i], none, 4);
    direct_free(l);

    md_obj *st = direct_new(&md_type_set, set_args);
    static const char *const set_ops[] = {"__and__", "__or__", "__sub__", "__xor__", "__rand__",
                                          "__rsub__", "__le__", "symmetric_difference",
                                          "isdisjoint", "issubset", "issuperset", "__iand__",
                                          "__ior__", "__ixor__", "__isub__",
                                          "symmetric_difference_update"};
    for (size_t i = 0; i < sizeof set_ops / sizeof set_ops[0]; i++)
        direct_call(st, set_ops[i], set_other, 4);
    static const char *const set_many[] = {"union", "intersection", "difference", "update",
                                           "intersection_update", "difference_update"};
    for (size_t i = 0; i < sizeof set_many / sizeof set_many[0]; i++)
        direct_call(st, set_many[i], iterables, 4);
    direct_call(st, "__contains__", set_other, 4);
    direct_call(st, "add", two, 4);
    direct_call(st, "__iter__", none, 4);
    direct_call(st, "copy", none, 4);
    direct_call(st, "__class_getitem__", two, 4);
    direct_call(st, "pop", none, 4);
    direct_call(st, "clear", none, 4);
    direct_free(st);

    md_obj *ns = direct_new(&md_type_namespace, none);
    direct_call(ns, "__setattr__", ns_set, 4);
    direct_call(ns, "__getattribute__", ns_name, 4);
    direct_call(ns, "__delattr__", ns_name, 4);
    direct_call(ns, "__getattribute__", ns_name, 4);
    direct_free(ns);

    md_obj *v = direct_new(&md_type_value, val_args);
    direct_call(v, "set", two, 4);
    direct_call(v, "get", none, 4);
    direct_free(v);

    md_obj *a = direct_new(&md_type_array, arr_args);
    direct_call(a, "__getitem__", sl, 4);
    direct_call(a, "__getitem__", sl, 2);
    direct_call(a, "__setitem__", arr_slice, 4);
    direct_call(a, "__setitem__", arr_set, 4);
    direct_call(a, "__getslice__", simple, 2);
    direct_free(a);

    md_obj *it = direct_new(&md_type_iterator, iter_args);
    direct_call(it, "__next__", none, 4);
    direct_call(it, "send", none, 4);
    direct_free(it);

    /* repr and #GETVALUE of each type under failure too */
    md_obj *objs[] = {
        direct_new(&md_type_dict, dict_args), direct_new(&md_type_list, list_args),
        direct_new(&md_type_set, set_args),   direct_new(&md_type_namespace, none),
        direct_new(&md_type_value, val_args), direct_new(&md_type_array, arr_args),
        direct_new(&md_type_iterator, iter_args),
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        if (!objs[i])
            continue;
        md_buf b = MD_BUF_INIT;
        md_pyerr e;
        md_pyerr_clear(&e);
        objs[i]->type->repr(objs[i], &b, &e);
        md_buf_free(&b);
        md_call c;
        memset(&c, 0, sizeof c);
        c.protocol = i % 2 ? 4 : 2;
        md_decref(objs[i]->type->getvalue(objs[i], &c, &e));
        direct_free(objs[i]);
    }
    md_alloc_fail_after(-1);

    md_val *all[] = {none, dict_args, pairs, key_a, key_b, kv, other_dict, list_args, ints, sl,
                     sl_assign, sl_ext, idx0, two, ins, simple, simple_set, set_args, set_other,
                     iterables, ns_set, ns_name, val_args, arr_args, arr_slice, arr_set,
                     iter_args};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        md_decref(all[i]);
}

static void test_allocation_failures_never_crash_or_leak(void)
{
    size_t containers = md_gc_tracked();
    long n;
    for (n = 0; n < 100000; n++) {
        unsigned long before = md_alloc_failures();
        sweep_once(n);
        md_gc_collect();
        if (md_gc_tracked() != containers) {
            fprintf(stderr, "\n    %zu containers leaked with allocation %ld failing\n",
                    md_gc_tracked() - containers, n);
            CU_FAIL("leak under allocation failure");
            break;
        }
        if (md_alloc_failures() == before)
            break; /* the whole script ran without reaching allocation n */
    }
    CU_ASSERT(n > 100); /* the sweep really went through the script */
}

/* ======================================================================
 * Registration
 * ====================================================================== */

void md_test_register_types_containers(void);

void md_test_register_types_containers(void)
{
    CU_pSuite s = md_test_suite("types_containers");
    MD_ADD_TEST(s, test_dict_exposed_tuple_is_the_union_of_versions);
    MD_ADD_TEST(s, test_dict_constructor_takes_what_dict_takes);
    MD_ADD_TEST(s, test_dict_and_list_keep_a_sole_argument_and_copy_a_shared_one);
    MD_ADD_TEST(s, test_dict_update_of_a_big_dict_merges_after_its_reply);
    MD_ADD_TEST(s, test_dict_update_later_out_of_memory_changes_nothing);
    MD_ADD_TEST(s, test_list_extend_takes_a_sole_argument_into_an_empty_list);
    MD_ADD_TEST(s, test_list_extend_of_a_sequence_is_all_or_nothing);
    MD_ADD_TEST(s, test_dict_item_access_and_errors);
    MD_ADD_TEST(s, test_dict_methods_follow_python);
    MD_ADD_TEST(s, test_dict_python314_operators);
    MD_ADD_TEST(s, test_dict_iterator_is_live_and_invalidated);
    MD_ADD_TEST(s, test_dict_iterator_detects_changed_keys);
    MD_ADD_TEST(s, test_dict_thousand_items);
    MD_ADD_TEST(s, test_dict_replays_captured_requests);
    MD_ADD_TEST(s, test_list_constructor);
    MD_ADD_TEST(s, test_list_indexing_and_slices);
    MD_ADD_TEST(s, test_list_assignment_and_deletion);
    MD_ADD_TEST(s, test_list_methods_follow_python);
    MD_ADD_TEST(s, test_list_sort_is_stable_and_refuses_client_key_functions);
    MD_ADD_TEST(s, test_list_reversed_by_family);
    MD_ADD_TEST(s, test_list_repetition_limit);
    MD_ADD_TEST(s, test_list_thousand_appends_and_iteration);
    MD_ADD_TEST(s, test_list_replays_captured_requests);
    MD_ADD_TEST(s, test_list_exposed_tuple);
    MD_ADD_TEST(s, test_namespace_attributes);
    MD_ADD_TEST(s, test_value_get_set_repr_getvalue);
    MD_ADD_TEST(s, test_array_operations);
    MD_ADD_TEST(s, test_array_constructor_and_repr);
    MD_ADD_TEST(s, test_array_integer_ranges);
    MD_ADD_TEST(s, test_iterator_created_directly);
    MD_ADD_TEST(s, test_set_methods_follow_python);
    MD_ADD_TEST(s, test_set_operators_and_iteration);
    MD_ADD_TEST(s, test_set_exposed_tuple);
    MD_ADD_TEST(s, test_allocation_failures_never_crash_or_leak);
}
