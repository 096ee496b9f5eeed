/* iterator.c - the 'Iterator' shared type: what dict.__iter__ returns as
 * a #PROXY (method_to_typeid), served to IteratorProxy.
 *
 * Over a dict object it is live, like CPython's dict_keyiterator: it holds
 * the dict (md_obj_hold) and reads it on each __next__, raising
 * RuntimeError('dictionary changed size during iteration') once the size
 * differs from when it was made, and from then on (sticky, as CPython),
 * or RuntimeError('dictionary keys changed during iteration') once, when
 * keys were replaced at the same size.
 * create('Iterator', iterable) also works (CPython would store the object
 * itself, whose __next__ then fails): managerd iterates a snapshot of the
 * iterable's items. send, throw and close are exposed by IteratorProxy
 * but a dict iterator has no such attributes: #TRACEBACK, as CPython.
 */
#include "core/types/containers_util.h"

#include <stdio.h>

#include "core/types/registry.h"

typedef struct md_iterobj {
    md_obj base;
    md_obj *dict;          /* held; NULL for a snapshot iterator */
    md_val *items;         /* snapshot items, or NULL */
    const char *kind;      /* Python's iterator type name, for repr */
    size_t pos;            /* md_dict_next position, or list index */
    size_t used;           /* the dict's size when the iterator was made */
    size_t remaining;      /* keys still to come, as CPython's di->len */
    bool broken;           /* the dict changed: every __next__ raises */
    bool done;             /* exhausted: every __next__ stops */
} md_iterobj;

#define IT(o) ((md_iterobj *)(o))

md_obj *md_iterator_over_dict(md_obj *dict)
{
    md_obj *o = md_obj_new(&md_type_iterator);
    if (!o)
        return NULL;
    md_iterobj *it = IT(o);
    it->dict = dict;
    it->kind = "dict_keyiterator";
    it->used = it->remaining = md_dict_len(MD_CU_VAL(dict));
    md_obj_hold(dict);
    return o;
}

/* The next dict key (borrowed), NULL at the end, or NULL with *msg set. */
static md_val *next_key(md_iterobj *it, const char **msg)
{
    md_val *d = MD_CU_VAL(it->dict);
    *msg = NULL;
    if (it->broken || md_dict_len(d) != it->used) {
        it->broken = true;
        *msg = "dictionary changed size during iteration";
        return NULL;
    }
    md_val *k, *v;
    if (!md_dict_next(d, &it->pos, &k, &v)) {
        it->done = true;
        return NULL;
    }
    if (it->remaining == 0) {
        /* same size, different keys (deleted and re-added); CPython
         * then drops the dict, so the next call stops */
        it->done = true;
        *msg = "dictionary keys changed during iteration";
        return NULL;
    }
    it->remaining--;
    return k;
}

static int it_next(md_call *c)
{
    md_iterobj *it = IT(c->self);
    if (it->done)
        return md_raise_noargs(c, "builtins", "StopIteration");
    if (it->items) {
        if (it->pos >= md_list_len(it->items)) {
            it->done = true;
            return md_raise_noargs(c, "builtins", "StopIteration");
        }
        return md_return(c, md_incref(md_list_get(it->items, it->pos++)));
    }
    const char *msg;
    md_val *k = next_key(it, &msg);
    if (msg)
        return md_raise(c, "builtins", "RuntimeError", "%s", msg);
    if (!k)
        return md_raise_noargs(c, "builtins", "StopIteration");
    return md_return(c, md_incref(k));
}

/* Exposed by IteratorProxy (for generators) but missing on iterators. */
static int no_attribute(md_call *c)
{
    return md_raise_traceback(c, "AttributeError", "'%s' object has no attribute '%s'",
                              IT(c->self)->kind, c->method->name);
}

static int iterator_init(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *src = c->argv[0];
    md_val *items = md_cu_items(src, &e);
    if (!items)
        return md_raise_pyerr(c, &e);
    static const struct {
        md_vtype type;
        const char *kind;
    } kinds[] = {
        {MD_T_LIST, "list_iterator"},   {MD_T_TUPLE, "tuple_iterator"},
        {MD_T_SET, "set_iterator"},     {MD_T_FROZENSET, "set_iterator"},
        {MD_T_DICT, "dict_keyiterator"}, {MD_T_STR, "str_iterator"},
        {MD_T_BYTES, "bytes_iterator"}, {MD_T_BYTEARRAY, "bytearray_iterator"},
    };
    const char *kind = "iterator";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].type == md_typeof(src))
            kind = kinds[i].kind;
    IT(c->self)->items = items;
    IT(c->self)->kind = kind;
    return md_return_none(c);
}

static void iterator_finalize(md_obj *self)
{
    md_iterobj *it = IT(self);
    if (it->dict)
        md_obj_release(it->dict);
    it->dict = NULL;
    md_decref(it->items);
    it->items = NULL;
}

static int iterator_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    char ident[24];
    md_obj_ident(self, ident);
    md_buf_printf(out, "<%s object at 0x%s>", IT(self)->kind ? IT(self)->kind : "iterator", ident);
    if (md_buf_failed(out)) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return -1;
    }
    return 0;
}

/* #GETVALUE: the items still to come, as CPython pickles an iterator
 * (builtins.iter([...])), without advancing it. A dict that changed
 * cannot be pickled (CPython's reduce fails the same way). */
static md_val *iterator_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    md_iterobj *it = IT(self);
    md_val *rest = md_list_new(0);
    if (!rest) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return NULL;
    }
    if (it->done) {
        /* nothing left */
    } else if (it->items) {
        for (size_t i = it->pos; i < md_list_len(it->items); i++)
            if (md_list_append(rest, md_list_get(it->items, i)) < 0)
                goto nomem;
    } else {
        md_val *d = MD_CU_VAL(it->dict);
        if (it->broken || md_dict_len(d) != it->used) {
            md_decref(rest);
            md_pyerr_set(e, "RuntimeError", "dictionary changed size during iteration");
            return NULL;
        }
        size_t pos = it->pos;
        md_val *k, *v;
        while (md_list_len(rest) < it->remaining && md_dict_next(d, &pos, &k, &v))
            if (md_list_append(rest, k) < 0)
                goto nomem;
    }
    md_val *out = md_cu_iter_value(rest, call->protocol);
    if (!out)
        md_pyerr_set(e, "MemoryError", "out of memory");
    return out;
nomem:
    md_decref(rest);
    md_pyerr_set(e, "MemoryError", "out of memory");
    return NULL;
}

/* The rows' order is the exposed tuple's: 2.7's IteratorProxy tuple
 * (3.x's plus 'next'). */
static const md_method iterator_methods[] = {
    {.name = "__next__", .fn = it_next},
    {.name = "next", .fn = it_next},
    {.name = "send", .fn = no_attribute, .flags = MD_M_VARARGS | MD_M_VARKW},
    {.name = "throw", .fn = no_attribute, .flags = MD_M_VARARGS | MD_M_VARKW},
    {.name = "close", .fn = no_attribute, .flags = MD_M_VARARGS | MD_M_VARKW},
    {.name = NULL},
};

const md_type md_type_iterator = {
    .name = "Iterator",
    .size = sizeof(md_iterobj),
    .methods = iterator_methods,
    .init = iterator_init,
    .ctor_params = {"obj"},
    .ctor_min = 1,
    .ctor_max = 1,
    .finalize = iterator_finalize,
    .repr = iterator_repr,
    .getvalue = iterator_getvalue,
};
