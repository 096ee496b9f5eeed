/* objects.c - the server methods that make, count and describe shared
 * objects: create, incref, decref, get_methods, and the one object of a
 * --share typeid. Reference counts follow CPython's Server: create
 * returns the object with one reference, incref and decref move it, and
 * the object goes when no count keeps it (core/objtab.c). */
#include "core/disp/disp_int.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"

/* The first of a server method's args (the table checked the count). */
static md_val *first_arg(const md_val *args)
{
    size_t n;
    return md_seq_items(args, &n)[0];
}

md_obj *md_disp_lookup(md_server *srv, const md_val *ident)
{
    uint64_t id;
    if (!md_ident_parse(ident, &id))
        return NULL;
    return md_objtab_find(srv, id);
}

/* KeyError(repr(key)) as the call's #TRACEBACK, the repr cut to shown - 1
 * bytes (at most 199), as CPython's Server raises for an unknown ident or
 * typeid. */
static void raise_key_traceback(md_call *call, const md_val *key, size_t shown)
{
    char r[200];
    md_val_short_repr(key, r, shown < sizeof r ? shown : sizeof r, "");
    md_raise_traceback(call, "KeyError", "%s", r);
}

md_obj *md_disp_find_or_keyerror(md_call *call, const md_val *ident)
{
    md_obj *o = md_disp_lookup(call->server, ident);
    if (!o)
        raise_key_traceback(call, ident, 100);
    return o;
}

/* The exposed names as byte strings, as a Python 2 server sends them. */
static md_val *py2_names(md_val *names)
{
    size_t n = md_tuple_len(names);
    md_val *t = md_tuple_new(n);
    for (size_t i = 0; t && i < n; i++) {
        md_val *s = md_tuple_get(names, i);
        md_val *p = md_str_new_py2(md_str_data(s), md_str_nbytes(s));
        if (!p) {
            md_decref(t);
            return NULL;
        }
        md_tuple_set_steal(t, i, p);
    }
    return t;
}

/* create's reply: (ident, exposed). */
static md_val *create_reply(md_obj *o, md_reg_entry *e, int protocol)
{
    char ident[24];
    md_obj_ident(o, ident);
    md_val *id = protocol == 2 ? md_str_new_py2(ident, strlen(ident)) : md_str_from_cstr(ident);
    md_val *exposed = md_reg_exposed(e);
    md_val *names = exposed && protocol == 2 ? py2_names(exposed) : md_incref(exposed);
    md_val *r = id && names ? md_tuple_pack(2, id, names) : NULL;
    md_decref(id);
    md_decref(names);
    return r;
}

/* A partly built or unregistered object: let the type release what it
 * took, then free it. */
static void discard_new(md_obj *o)
{
    if (o->type->finalize)
        o->type->finalize(o);
    md_free(o);
}

/* Build a new object of e's type from create's arguments. On failure the
 * error is left on call (an #ERROR outcome) and NULL returned. */
static md_obj *construct(md_call *call, md_reg_entry *e, const md_val *args, const md_val *kwds)
{
    const md_type *t = e->type;
    md_obj *o = md_obj_new(t);
    if (!o) {
        md_raise_noargs(call, "builtins", "MemoryError");
        return NULL;
    }
    o->typeid = e->typeid;
    call->self = o;
    /* args[0] is the typeid: constructor arguments follow it. */
    size_t n;
    md_val *const *argv = md_seq_items(args, &n);
    md_val *ctor_args = md_tuple_new(n - 1);
    if (!ctor_args) {
        md_free(o);
        md_raise_noargs(call, "builtins", "MemoryError");
        return NULL;
    }
    for (size_t i = 1; i < n; i++)
        md_tuple_set_steal(ctor_args, i - 1, md_incref(argv[i]));
    int rc = md_disp_bind(call, t->name, t->ctor_params, t->ctor_min, t->ctor_max,
                          t->ctor_flags, ctor_args, kwds);
    if (rc == 0 && t->init)
        t->init(call);
    md_decref(ctor_args);
    if (rc < 0 || call->out_kind == MD_OUT_ERROR || call->out_kind == MD_OUT_TRACEBACK) {
        discard_new(o);
        call->self = NULL;
        return NULL;
    }
    md_decref(call->out_value);
    call->out_value = NULL;
    call->out_kind = MD_OUT_NONE;
    return o;
}

/* True (with the call failed) when one more reference would overflow
 * the object's 32-bit count. */
static bool refcount_full(md_call *call, const md_obj *o)
{
    if (o->refcount < MD_OBJ_REFCOUNT_MAX)
        return false;
    char ident[24];
    md_obj_ident(o, ident);
    md_raise_traceback(call, "OverflowError", "object %s already has %u references", ident,
                       o->refcount);
    return true;
}

/* Server methods report errors as #TRACEBACK text: a constructor's
 * #ERROR is turned into one. */
static void error_to_traceback(md_call *call)
{
    md_val *exc = call->out_value;
    call->out_value = NULL;
    md_val *tb = exc ? md_proto_exc_traceback(exc) : NULL;
    md_decref(exc);
    call->out_kind = MD_OUT_TRACEBACK;
    call->out_value = tb;
}

/* The registry entry create's typeid names, or NULL with the #TRACEBACK
 * set (KeyError, or the reason a refused typeid gives). */
static md_reg_entry *creatable_entry(md_call *call, const md_val *typeid)
{
    md_reg_entry *e = md_reg_find(call->server, typeid);
    if (!e) {
        raise_key_traceback(call, typeid, 200);
        return NULL;
    }
    if (e->kind == MD_REG_REFUSED) {
        md_raise_traceback(call, "NotImplementedError", "%s", e->refusal);
        return NULL;
    }
    return e;
}

void md_srv_create(md_call *call, const md_val *args, const md_val *kwds)
{
    md_server *srv = call->server;
    md_reg_entry *e = creatable_entry(call, first_arg(args));
    if (!e)
        return;
    md_obj *o = e->kind == MD_REG_SHARED ? e->shared : NULL;
    if (o) {
        /* The remote-manager pattern: the same object again, one more
         * reference (CPython replaces the entry and increments). */
        if (refcount_full(call, o))
            return;
        o->refcount++;
        md_return(call, create_reply(o, e, call->protocol));
        return;
    }
    o = construct(call, e, args, kwds);
    if (!o) {
        error_to_traceback(call);
        return;
    }
    if (md_objtab_insert(srv, o) < 0) {
        discard_new(o);
        md_raise_traceback(call, "MemoryError", "managerd holds its maximum number of objects");
        return;
    }
    o->refcount = 1;
    if (e->kind == MD_REG_SHARED) {
        e->shared = o;
        o->flags |= 2u;
    }
    md_val *r = create_reply(o, e, call->protocol);
    if (!r) {
        o->refcount = 0;
        md_obj_maybe_free(o);
    }
    md_return(call, r);
}

md_val *md_obj_exposed(const md_obj *o)
{
    return md_type_exposed_tuple(o->type);
}

md_obj *md_reg_shared_object(md_server *srv, const char *typeid)
{
    md_val *name = md_str_from_cstr(typeid);
    md_reg_entry *e = name ? md_reg_find(srv, name) : NULL;
    if (!e || e->kind != MD_REG_SHARED || e->shared) {
        md_decref(name);
        return e && e->kind == MD_REG_SHARED ? e->shared : NULL;
    }
    md_call call;
    md_disp_call_init(&call, srv, NULL, 4);
    md_val *args = md_tuple_pack(1, name);
    md_decref(name);
    md_obj *o = args ? construct(&call, e, args, NULL) : NULL;
    md_decref(args);
    md_disp_call_done(&call);
    if (!o)
        return NULL;
    if (md_objtab_insert(srv, o) < 0) {
        discard_new(o);
        return NULL;
    }
    o->flags |= 2u; /* owned by the registry entry */
    e->shared = o;
    return o;
}

void md_srv_incref(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)kwds;
    md_obj *o = md_disp_find_or_keyerror(call, first_arg(args));
    if (!o || refcount_full(call, o))
        return;
    /* An object only proxies stored in values kept alive comes back with
     * a count of 1, as CPython revives a manager-owned object. */
    o->refcount++;
    md_return_none(call);
}

void md_srv_decref(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)kwds;
    md_obj *o = md_disp_find_or_keyerror(call, first_arg(args));
    if (!o)
        return;
    md_return_none(call);
    if (o->refcount == 0)
        return; /* only manager-owned: accepted silently, as CPython does */
    o->refcount--;
    md_obj_maybe_free(o);
}

/* The distinct names of a tuple, in first-seen order (CPython answers
 * get_methods with a set's order). */
static md_val *distinct_names(md_val *all)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *names = md_list_new(0);
    for (size_t i = 0; all && names && i < md_tuple_len(all); i++) {
        md_val *s = md_tuple_get(all, i);
        bool seen = false;
        for (size_t j = 0; j < md_list_len(names) && !seen; j++)
            seen = md_val_eq(md_list_get(names, j), s, &e) == 1;
        if (!seen)
            md_list_append(names, s);
    }
    md_val *r = NULL;
    if (names) {
        r = md_tuple_new(md_list_len(names));
        for (size_t i = 0; r && i < md_list_len(names); i++)
            md_tuple_set_steal(r, i, md_incref(md_list_get(names, i)));
    }
    md_decref(names);
    return r;
}

void md_srv_get_methods(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)kwds;
    md_val *typeid, *addr, *ident;
    if (md_proto_token_parts(first_arg(args), &typeid, &addr, &ident) < 0) {
        md_raise_traceback(call, "TypeError", "get_methods() expects a Token");
        return;
    }
    md_obj *o = md_disp_find_or_keyerror(call, ident);
    if (!o)
        return;
    md_val *all = md_type_exposed_tuple(o->type);
    md_val *r = distinct_names(all);
    md_decref(all);
    md_return(call, r);
}
