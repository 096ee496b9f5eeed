/* xmlrpc_methods.c - the XML-RPC endpoint's methods (see
 * xmlrpc_methods.h): each one row of `methods`. Object methods become
 * the manager requests a Python client would send, so that they are
 * served, counted and parked as that client's would be:
 *
 *   create(typeid, args, kwargs) -> [id, [exposed...]]
 *   call(id, method, args, kwargs) -> result
 *   incref(id), decref(id), number_of_objects(), debug_info(), shutdown()
 *   #managerd.* (managerctl's introspection requests, not listed)
 *
 * get_methods and the system.* methods are answered here. An id may also
 * be the name of a --share typeid.
 */
#include "core/disp/xmlrpc_methods.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/disp/introspect.h"

typedef struct xcall {
    md_server *srv;
    md_peer *peer;
    const char *name;
    md_val *params;            /* borrowed list */
    size_t nparams;
    md_val *first;             /* params[0], borrowed, or NULL */
    int *fault;
    char *msg;
    size_t msglen;
} xcall;

/* true: dispatched (the reply goes through the peer); false: fault set. */
typedef bool (*xmethod_fn)(xcall *x);

typedef struct xmethod {
    const char *name;
    xmethod_fn handler;
    const char *signature;     /* return type, then parameter types */
    const char *help;
} xmethod;

static bool m_create(xcall *x);
static bool m_call(xcall *x);
static bool m_refcount(xcall *x);
static bool m_no_args(xcall *x);
static bool m_get_methods(xcall *x);
static bool m_list_methods(xcall *x);
static bool m_method_help(xcall *x);
static bool m_method_signature(xcall *x);
static bool m_nested_multicall(xcall *x);

static const xmethod methods[] = {
    {"create", m_create, "array string array struct",
     "create(typeid, args, kwargs): make a shared object; returns [id, [exposed methods]]."},
    {"call", m_call, "any string string array struct",
     "call(id, method, args, kwargs): call an exposed method of a shared object (id may be a "
     "--share name); blocking calls answer when they complete."},
    {"incref", m_refcount, "nil string", "incref(id): one more reference to the object."},
    {"decref", m_refcount, "nil string",
     "decref(id): one reference less; at zero the object is dropped."},
    {"get_methods", m_get_methods, "array string", "get_methods(id): the object's exposed methods."},
    {"number_of_objects", m_no_args, "int", "number_of_objects(): objects with a reference count."},
    {"debug_info", m_no_args, "string", "debug_info(): each object, its count and its start."},
    {"shutdown", m_no_args, "nil",
     "shutdown(): the server stops, as on a Python client's shutdown (the reply leaves first)."},
    {"system.listMethods", m_list_methods, "array",
     "system.listMethods(): the methods of this endpoint."},
    {"system.methodHelp", m_method_help, "string string",
     "system.methodHelp(name): what a method does."},
    {"system.methodSignature", m_method_signature, "array string",
     "system.methodSignature(name): [[return type, parameter types...]]."},
    {MD_XMLRPC_MULTICALL, m_nested_multicall, "array array",
     "system.multicall([{methodName, params}, ...]): several calls in one request."},
};

#define NMETHODS (sizeof methods / sizeof methods[0])

static const xmethod *method_find(const char *name)
{
    for (size_t i = 0; i < NMETHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

static bool fail(xcall *x, int fault, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool fail(xcall *x, int fault, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, x->msglen, fmt, ap);
    va_end(ap);
    *x->fault = fault;
    return false;
}

/* ---- manager requests ----------------------------------------------------- */

/* (ident, method, args, kwds) */
static md_val *request4(md_val *ident, const char *method, md_val *args, md_val *kwds)
{
    md_val *m = md_str_from_cstr(method);
    md_val *a = args ? md_incref(args) : md_list_new(0);
    md_val *k = kwds ? md_incref(kwds) : md_dict_new();
    md_val *r = m && a && k ? md_tuple_pack(4, ident, m, a, k) : NULL;
    md_decref(m);
    md_decref(a);
    md_decref(k);
    return r;
}

/* Serve request (stolen; NULL is answered MemoryError by md_disp_request). */
static bool send_request(xcall *x, md_val *request, bool on_object)
{
    md_disp_request(x->srv, x->peer, request, on_object);
    md_decref(request);
    return true;
}

static md_val *param(const xcall *x, size_t i)
{
    return i < x->nparams ? md_list_get(x->params, i) : NULL;
}

static bool is_seq(const md_val *v)
{
    return v && (md_typeof(v) == MD_T_LIST || md_typeof(v) == MD_T_TUPLE);
}

static bool is_a(const md_val *v, md_vtype type)
{
    return v && md_typeof(v) == type;
}

/* An id, or the name of a --share typeid: the ident to use (new), or
 * NULL when there is no such object. */
static md_val *resolve_id(md_server *srv, md_val *id)
{
    if (!is_a(id, MD_T_STR))
        return NULL;
    if (md_server_find(srv, md_str_data(id)))
        return md_incref(id);
    md_obj *o = md_reg_shared_object(srv, md_str_data(id));
    if (!o)
        return NULL;
    char ident[24];
    md_obj_ident(o, ident);
    return md_str_from_cstr(ident);
}

static bool m_create(xcall *x)
{
    md_val *more = param(x, 1), *kwargs = param(x, 2);
    if (x->nparams < 1 || x->nparams > 3 || !is_a(x->first, MD_T_STR) ||
        (more && !is_seq(more)) || (kwargs && !is_a(kwargs, MD_T_DICT)))
        return fail(x, MD_FAULT_PARAMS, "create(typeid, args=[], kwargs={})");
    /* The server method's args: (typeid, *args). */
    md_val *args = md_list_new(0);
    int rc = args ? md_list_append(args, x->first) : -1;
    size_t nmore = !more ? 0 : md_typeof(more) == MD_T_LIST ? md_list_len(more) : md_tuple_len(more);
    for (size_t i = 0; rc == 0 && i < nmore; i++)
        rc = md_list_append(args, md_typeof(more) == MD_T_LIST ? md_list_get(more, i)
                                                               : md_tuple_get(more, i));
    md_val *req = rc < 0 ? NULL : request4(md_none(), "create", args, kwargs);
    md_decref(args);
    return send_request(x, req, false);
}

static bool m_call(xcall *x)
{
    md_val *method = param(x, 1), *args = param(x, 2), *kwargs = param(x, 3);
    if (x->nparams < 2 || x->nparams > 4 || !is_a(method, MD_T_STR) || (args && !is_seq(args)) ||
        (kwargs && !is_a(kwargs, MD_T_DICT)))
        return fail(x, MD_FAULT_PARAMS, "call(id, method, args=[], kwargs={})");
    md_val *ident = resolve_id(x->srv, x->first);
    if (!ident)
        return fail(x, MD_FAULT_NO_OBJECT, "no object with id %s",
                    is_a(x->first, MD_T_STR) ? md_str_data(x->first) : "?");
    md_val *req = request4(ident, md_str_data(method), args, kwargs);
    md_decref(ident);
    return send_request(x, req, true);
}

/* incref(id), decref(id): the server methods of the same names. */
static bool m_refcount(xcall *x)
{
    if (x->nparams != 1 || !is_a(x->first, MD_T_STR))
        return fail(x, MD_FAULT_PARAMS, "%s(id)", x->name);
    return send_request(x, request4(md_none(), x->name, x->params, NULL), false);
}

/* number_of_objects(), debug_info(), shutdown(): the server methods of
 * the same names. */
static bool m_no_args(xcall *x)
{
    if (x->nparams != 0)
        return fail(x, MD_FAULT_PARAMS, "%s()", x->name);
    return send_request(x, request4(md_none(), x->name, NULL, NULL), false);
}

/* ---- answered here ----------------------------------------------------------- */

/* Deliver result (stolen) as the call's return value. */
static bool answer(xcall *x, md_val *result)
{
    if (!result)
        return fail(x, MD_FAULT_INTERNAL, "out of memory");
    x->peer->ops->deliver(x->peer, MD_OUT_RETURN, result);
    return true;
}

static bool m_get_methods(xcall *x)
{
    md_val *ident = x->nparams == 1 ? resolve_id(x->srv, x->first) : NULL;
    md_obj *o = ident ? md_server_find(x->srv, md_str_data(ident)) : NULL;
    md_decref(ident);
    if (!o)
        return x->nparams == 1 ? fail(x, MD_FAULT_NO_OBJECT, "no object with that id")
                               : fail(x, MD_FAULT_PARAMS, "get_methods(id)");
    return answer(x, md_obj_exposed(o));
}

/* A list of str (new) from the words of text, or NULL. */
static md_val *words(const char *text)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", text);
    md_val *l = md_list_new(0);
    for (char *save, *t = strtok_r(copy, " ", &save); l && t; t = strtok_r(NULL, " ", &save)) {
        md_val *s = md_str_from_cstr(t);
        if (!s || md_list_append_steal(l, s) < 0) {
            md_decref(l);
            l = NULL;
        }
    }
    return l;
}

static bool m_list_methods(xcall *x)
{
    md_val *l = md_list_new(NMETHODS);
    for (size_t i = 0; l && i < NMETHODS; i++) {
        md_val *s = md_str_from_cstr(methods[i].name);
        if (!s || md_list_append_steal(l, s) < 0) {
            md_decref(l);
            l = NULL;
        }
    }
    return answer(x, l);
}

/* The row a system.methodHelp / methodSignature call asks about, or NULL
 * with the fault set. */
static const xmethod *asked_about(xcall *x)
{
    const xmethod *m = x->nparams == 1 && is_a(x->first, MD_T_STR) ? method_find(md_str_data(x->first))
                                                                   : NULL;
    if (!m)
        fail(x, MD_FAULT_PARAMS, "%s(name) of a method in system.listMethods()", x->name);
    return m;
}

static bool m_method_help(xcall *x)
{
    const xmethod *m = asked_about(x);
    return m && answer(x, md_str_from_cstr(m->help));
}

/* [[return type, parameter types...]]: one signature per method. */
static bool m_method_signature(xcall *x)
{
    const xmethod *m = asked_about(x);
    if (!m)
        return false;
    md_val *one = words(m->signature);
    md_val *all = one ? md_list_new(1) : NULL;
    if (all && md_list_append(all, one) < 0) {
        md_decref(all);
        all = NULL;
    }
    md_decref(one);
    return answer(x, all);
}

/* The transport runs a system.multicall itself; one that reaches the
 * table is inside another. */
static bool m_nested_multicall(xcall *x)
{
    return fail(x, MD_FAULT_INVALID, "system.multicall cannot be nested");
}

/* ---- outcomes as faults ------------------------------------------------------ */

/* The last line of a traceback text: "KeyError: 'x'". */
static void last_line(const md_val *text, char *out, size_t n)
{
    if (!text || md_typeof(text) != MD_T_STR) {
        snprintf(out, n, "error");
        return;
    }
    const char *s = md_str_data(text);
    size_t len = md_str_nbytes(text);
    while (len && s[len - 1] == '\n')
        len--;
    size_t start = len;
    while (start && s[start - 1] != '\n')
        start--;
    snprintf(out, n, "%.*s", (int)(len - start), s + start);
}

/* An exception as a fault's text: "Class: message", or "Class". */
static void exc_text(const md_val *exc, char *out, size_t n)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_typeof(exc) == MD_T_EXC) {
        md_buf_puts(&b, md_global_name(md_exc_class(exc)));
        size_t mark = b.len;
        md_buf_puts(&b, ": ");
        size_t before = b.len;
        if (md_val_str(exc, &b, &e) < 0 || b.len == before)
            b.len = mark;
    } else {
        md_val_repr(exc, &b, &e);
    }
    snprintf(out, n, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
    md_buf_free(&b);
}

int md_disp_xmlrpc_fault(int kind, const md_val *payload, char *msg, size_t n)
{
    switch (kind) {
    case MD_OUT_RETURN:
    case MD_OUT_PROXY:
        return 0;
    case MD_OUT_ERROR:
        exc_text(payload, msg, n);
        return MD_FAULT_EXCEPTION;
    case MD_OUT_UNSERIALIZABLE:
        last_line(payload, msg, n);
        return MD_FAULT_UNSERIALIZABLE;
    default:
        last_line(payload, msg, n);
        return MD_FAULT_SERVER_ERROR;
    }
}

/* ---- entry point ------------------------------------------------------------ */

bool md_disp_xmlrpc_call(md_server *srv, md_peer *peer, const char *name, md_val *params,
                         int *fault, char *msg, size_t msglen)
{
    xcall x = {.srv = srv, .peer = peer, .name = name, .params = params,
               .nparams = md_list_len(params), .fault = fault, .msg = msg, .msglen = msglen};
    x.first = param(&x, 0);
    /* managerctl over HTTP: the #managerd.* requests, served as on a
     * short pickle connection (not listed, like the pickle listener's). */
    md_val *mname = md_str_from_cstr(name);
    bool operator = mname && md_introspect_is_request(mname);
    md_decref(mname);
    if (operator)
        return send_request(&x, request4(md_none(), name, params, NULL), false);
    const xmethod *m = method_find(name);
    if (!m)
        return fail(&x, MD_FAULT_NO_METHOD, "no method '%s' (see system.listMethods)", name);
    return m->handler(&x);
}
