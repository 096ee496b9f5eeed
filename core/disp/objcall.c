/* objcall.c - a call on a shared object (a long connection's request):
 * the method must be exposed by the object's type; its arguments are
 * bound to the row's parameters (bind.c) and its handler runs, which may
 * park the call. __str__, __repr__ and #GETVALUE are answered for every
 * type, as CPython's Server answers them outside `exposed`. */
#include "core/disp/disp_int.h"
#include "core/types/registry.h"

#include <stdio.h>

static const md_method *find_method(const md_type *t, const md_val *name)
{
    for (const md_method *m = t->methods; m && m->name; m++)
        if (md_str_eq_cstr(name, m->name))
            return m;
    return NULL;
}

/* str(o) or repr(o) for a type whose table has no row for them. */
static int fallback_text(md_call *call, md_obj *o, bool want_str)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    int (*fn)(md_obj *, md_buf *, md_pyerr *) = want_str && o->type->str ? o->type->str : o->type->repr;
    int rc = fn ? fn(o, &b, &e) : -1;
    if (rc < 0 && e.type)
        md_raise_pyerr(call, &e);
    else if (rc < 0 || md_buf_failed(&b))
        md_raise_noargs(call, "builtins", "MemoryError");
    else
        md_return(call, md_str_new(b.len ? (const char *)b.data : "", b.len));
    md_buf_free(&b);
    return MD_CALL_DONE;
}

static int str_text(md_call *call, md_obj *o)
{
    return fallback_text(call, o, true);
}

static int repr_text(md_call *call, md_obj *o)
{
    return fallback_text(call, o, false);
}

/* CPython's AttributeError for a name outside `exposed`. */
static void not_exposed(md_call *call, md_obj *o, const md_val *name)
{
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "{");
    const char *ex;
    for (size_t i = 0; (ex = md_type_exposed_name(o->type, i)); i++)
        md_buf_printf(&b, "%s'%s'", i ? ", " : "", ex);
    md_buf_puts(&b, "}");
    md_buf_putc(&b, 0);
    char r[120];
    md_val_short_repr(name, r, sizeof r, "");
    md_raise_traceback(call, "AttributeError", "method %s of <class '%s'> object is not in exposed=%s",
                       r, o->type->name, md_buf_failed(&b) ? "{...}" : (const char *)b.data);
    md_buf_free(&b);
}

/* #GETVALUE: a copy of the object's value, or #UNSERIALIZABLE with the
 * text of the error pickling it would raise. */
static int getvalue(md_call *call, md_obj *o)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *v = o->type->getvalue ? o->type->getvalue(o, call, &e) : NULL;
    if (v)
        return md_return(call, v);
    char text[300];
    snprintf(text, sizeof text, "%s: %s", e.type ? e.type : "TypeError",
             e.type ? e.msg : "cannot pickle this object");
    md_decref(call->out_value);
    call->out_kind = MD_OUT_UNSERIALIZABLE;
    call->out_value = md_proto_traceback(text);
    return MD_CALL_DONE;
}

/* What every object answers though no row of its type names it. */
static const struct {
    const char *name;
    int (*fn)(md_call *call, md_obj *o);
} unlisted[] = {
    {"__str__", str_text},
    {"__repr__", repr_text},
    {"#GETVALUE", getvalue},
};
#define NUNLISTED (sizeof unlisted / sizeof unlisted[0])

const char *md_disp_unlisted_name(const md_val *method)
{
    for (size_t i = 0; i < NUNLISTED; i++)
        if (md_str_eq_cstr(method, unlisted[i].name))
            return unlisted[i].name;
    return NULL;
}

/* A name with no row: an answer every object gives, or not exposed. */
static int serve_unlisted(md_call *call, md_obj *o, const md_val *method)
{
    for (size_t i = 0; i < NUNLISTED; i++)
        if (md_str_eq_cstr(method, unlisted[i].name))
            return unlisted[i].fn(call, o);
    not_exposed(call, o, method);
    return MD_CALL_DONE;
}

int md_disp_object_call(md_call *call, md_val *ident, md_val *method, md_val *args, md_val *kwds)
{
    md_obj *o = md_disp_find_or_keyerror(call, ident);
    if (!o)
        return MD_CALL_DONE;
    call->self = o;
    const md_method *m = find_method(o->type, method);
    if (!m)
        return serve_unlisted(call, o, method);
    call->method = m;
    if (md_disp_bind(call, m->name, m->params, m->min_args, m->max_args, m->flags, args, kwds) < 0)
        return MD_CALL_DONE;
    /* The handler may park the call; the waiter holds the object. */
    return m->fn(call);
}
