/* valueobj.c - the 'Value' shared type: multiprocessing.managers'
 * Value(typecode, value, lock=True), a box with get() and set(). As in
 * CPython the typecode is only remembered and printed, never enforced
 * (set('text') on a Value('i', 5) is accepted, observed). Not to be
 * confused with core/value/value.c, the value model.
 */
#include "core/types/containers_util.h"

typedef struct md_valuebox {
    md_obj base;
    md_val *typecode;
    md_val *value;
} md_valuebox;

#define BOX(o) ((md_valuebox *)(o))

static int v_get(md_call *c)
{
    return md_return(c, md_incref(BOX(c->self)->value));
}

static int v_set(md_call *c)
{
    md_val *old = BOX(c->self)->value;
    BOX(c->self)->value = md_incref(c->argv[0]);
    md_decref(old);
    return md_return_none(c);
}

static int value_init(md_call *c)
{
    /* lock (argv[2]) is accepted and ignored, as managers.Value does. */
    BOX(c->self)->typecode = md_incref(c->argv[0]);
    BOX(c->self)->value = md_incref(c->argv[1]);
    return md_return_none(c);
}

static void value_finalize(md_obj *self)
{
    md_decref(BOX(self)->typecode);
    md_decref(BOX(self)->value);
    BOX(self)->typecode = BOX(self)->value = NULL;
}

/* '%s(%r, %r)' % (type(self).__name__, self._typecode, self._value) */
static int value_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    md_buf_puts(out, "Value(");
    if (md_val_repr(BOX(self)->typecode, out, e) < 0)
        return -1;
    md_buf_puts(out, ", ");
    if (md_val_repr(BOX(self)->value, out, e) < 0)
        return -1;
    md_buf_puts(out, ")");
    if (md_buf_failed(out)) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return -1;
    }
    return 0;
}

/* #GETVALUE: a multiprocessing.managers.Value instance as Python pickles
 * it: NEWOBJ with no arguments, BUILD {'_typecode': tc, '_value': v}.
 * XML-RPC clients get that dict (xmlrpclib marshals an instance as its
 * __dict__). */
static md_val *value_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    md_val *state = md_dict_new();
    md_val *ktc = md_str_from_cstr("_typecode"), *kv = md_str_from_cstr("_value");
    if (!state || !ktc || !kv || md_dict_set(state, ktc, BOX(self)->typecode, e) < 0 ||
        md_dict_set(state, kv, BOX(self)->value, e) < 0) {
        md_decref(state);
        state = NULL;
    }
    md_decref(ktc);
    md_decref(kv);
    if (!state || call->protocol == 0) {
        if (!state && !e->type)
            md_pyerr_set(e, "MemoryError", "out of memory");
        return state;
    }
    return md_cu_managers_instance("Value", state, e);
}

static const md_method value_methods[] = {
    {.name = "get", .fn = v_get},
    {.name = "set", .fn = v_set, .params = {"value"}, .min_args = 1, .max_args = 1},
    {.name = NULL},
};

const md_type md_type_value = {
    .name = "Value",
    .size = sizeof(md_valuebox),
    .methods = value_methods,
    .init = value_init,
    .ctor_params = {"typecode", "value", "lock"},
    .ctor_min = 2,
    .ctor_max = 3,
    .finalize = value_finalize,
    .repr = value_repr,
    .getvalue = value_getvalue,
};
