/* dict.c - the 'dict' shared type: SyncManager's dict(*args, **kwds) and
 * every method its DictProxy sends (2.7 to 3.14), with Python's results
 * and messages.
 *
 * Values returned to a client (d[k], d.get(k), #GETVALUE) are references
 * to the stored values, not copies: the reply is encoded before any other
 * request runs (one thread), so the client gets a snapshot anyway.
 * Differences from CPython, on purpose:
 *   - has_key (exposed by the 2.7 and 3.6 proxies) works like `key in d`
 *     instead of failing with #TRACEBACK on a Python 3 server;
 *   - update() and |= check every pair before changing anything, so a
 *     failed update leaves the dict as it was (Python stops half-way).
 */
#include "core/types/containers_util.h"
#include "core/types/builtin_fns.h"

#include <string.h>

#include "core/base/limits.h"
#include "core/base/log.h"
#include "serializers/pickle.h"

#define DICT(c) MD_CU_VAL((c)->self)

/* ====================================================================== */
/* update(): the pairs of a mapping or of an iterable of pairs             */
/* ====================================================================== */

static md_val *mapping_pairs(const md_val *dict, const md_val *pairs, md_pyerr *e)
{
    md_val *out = md_list_new(dict ? md_dict_len(dict) : pairs ? md_list_len(pairs) : 0);
    if (!out)
        goto nomem;
    if (pairs) {
        for (size_t i = 0; i < md_list_len(pairs); i++)
            if (md_list_append(out, md_list_get(pairs, i)) < 0)
                goto nomem;
        return out;
    }
    size_t pos = 0;
    md_val *k, *v;
    while (dict && md_dict_next(dict, &pos, &k, &v))
        if (md_cu_append_new(out, md_tuple_pack(2, k, v)) < 0)
            goto nomem;
    return out;
nomem:
    md_decref(out);
    md_pyerr_set(e, "MemoryError", "out of memory");
    return NULL;
}

/* Python's dict_merge / dict_merge_from_seq2: a new list of (key, value)
 * tuples, each key checked hashable, or NULL with e set. */
static md_val *update_pairs(const md_val *arg, md_pyerr *e)
{
    const md_val *dict, *mpairs;
    md_val *out;
    if (md_cu_mapping(arg, &dict, &mpairs)) {
        out = mapping_pairs(dict, mpairs, e);
    } else {
        md_val *seq = md_cu_items(arg, e);
        if (!seq)
            return NULL;
        out = md_list_new(md_list_len(seq));
        for (size_t i = 0; out && i < md_list_len(seq); i++) {
            md_pyerr ignored;
            md_pyerr_clear(&ignored);
            md_val *elem = md_cu_items(md_list_get(seq, i), &ignored);
            if (!elem) {
                md_pyerr_set(e, "TypeError",
                             "cannot convert dictionary update sequence element #%zu to a sequence", i);
            } else if (md_list_len(elem) != 2) {
                md_pyerr_set(e, "ValueError",
                             "dictionary update sequence element #%zu has length %zu; 2 is required",
                             i, md_list_len(elem));
            } else if (md_cu_append_new(out, md_tuple_pack(2, md_list_get(elem, 0),
                                                               md_list_get(elem, 1))) < 0) {
                md_pyerr_set(e, "MemoryError", "out of memory");
            }
            md_decref(elem);
            if (e->type) {
                md_decref(out);
                out = NULL;
            }
        }
        if (!out && !e->type)
            md_pyerr_set(e, "MemoryError", "out of memory");
        md_decref(seq);
    }
    for (size_t i = 0; out && i < md_list_len(out); i++) {
        int64_t h;
        if (md_val_hash(md_tuple_get(md_list_get(out, i), 0), &h, e) < 0) {
            md_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* Store pairs (checked) then kwargs into d. */
static int apply_pairs(md_val *d, const md_val *pairs, const md_val *kwargs, md_pyerr *e)
{
    for (size_t i = 0; pairs && i < md_list_len(pairs); i++) {
        md_val *p = md_list_get(pairs, i);
        if (md_dict_set(d, md_tuple_get(p, 0), md_tuple_get(p, 1), e) < 0)
            return -1;
    }
    size_t pos = 0;
    md_val *k, *v;
    while (kwargs && md_dict_next(kwargs, &pos, &k, &v))
        if (md_dict_set(d, k, v, e) < 0)
            return -1;
    return 0;
}

static void merge_after_reply(md_val *d, md_val *src, void *room)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    /* Cannot fail: md_dict_update_cannot_fail, room reserved (update_later). */
    if (md_dict_update_reserved(d, src, room, &e) < 0)
        md_log_error("dict.update after its reply failed: %s: %s", e.type ? e.type : "?", e.msg);
}

/* d.update(big dict) replies first and merges after (md_call_after_reply):
 * the merge into a big table is mostly cache misses, and the client
 * pickles its next chunk meanwhile. Only when nothing can fail once the
 * reply says None: the memory a growing table needs allocated now (its
 * kept hashes moved and its index filled after the reply as well), and
 * keys whose hash and == cannot fail (md_dict_update_cannot_fail). A
 * chunk the decoder left pending (not indexed) is hashed only by that
 * merge. No one can see the dict before the merge: the server reads
 * nothing else until it is done. 1: deferred; 0: not (merge now); -1:
 * out of memory (d unchanged). */
static int update_later(md_call *call, md_val *d, md_val *src)
{
    if (md_dict_pairs(src) < MD_UPDATE_LATER_MIN_PAIRS || !md_dict_update_cannot_fail(d, src))
        return 0;
    md_dict_room *room;
    if (md_dict_reserve_update(d, src, &room) < 0)
        return -1;
    md_call_after_reply(call, merge_after_reply, d, src, room);
    return 1;
}

/* update(*args, **kwds) as dict() and dict.update() take them. */
static int do_update(md_call *call, md_val *d, const char *fname)
{
    md_val *args = call->varargs;
    size_t nargs = args ? md_tuple_len(args) : 0;
    if (nargs > 1)
        return md_raise(call, "builtins", "TypeError", "%s expected at most 1 argument, got %zu",
                        fname, nargs);
    md_pyerr e;
    md_pyerr_clear(&e);
    if (nargs == 1 && md_typeof(md_tuple_get(args, 0)) == MD_T_DICT && !call->varkw) {
        /* The common d.update(chunk): a dict's keys are known hashable
         * and keep their hashes, so no pair list is needed. */
        md_val *src = md_tuple_get(args, 0);
        int later = update_later(call, d, src);
        if (later < 0)
            return md_return(call, NULL);
        if (later == 0 && md_dict_update(d, src, &e) < 0)
            return md_bf_raise(call, &e);
        return md_return_none(call);
    }
    md_val *pairs = nargs ? update_pairs(md_tuple_get(args, 0), &e) : NULL;
    if ((nargs && !pairs) || apply_pairs(d, pairs, call->varkw, &e) < 0) {
        md_decref(pairs);
        return md_bf_raise(call, &e); /* KeyError(key) of an itemgetter in map() */
    }
    md_decref(pairs);
    return md_return_none(call);
}

/* ====================================================================== */
/* Methods                                                                 */
/* ====================================================================== */

/* The value (borrowed) of the key argv[0] into *v, NULL when absent: 0,
 * or -1 with the exception raised on the call (an unhashable key). */
static int lookup(md_call *c, md_val **v)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    *v = md_dict_get(DICT(c), c->argv[0], &e);
    if (!*v && e.type) {
        md_raise_pyerr(c, &e);
        return -1;
    }
    return 0;
}

static int d_contains(md_call *c)
{
    md_val *v;
    if (lookup(c, &v) < 0)
        return MD_CALL_DONE;
    return md_return_bool(c, v != NULL);
}

static int d_delitem(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    int r = md_dict_del(DICT(c), c->argv[0], &e);
    if (r < 0)
        return md_raise_pyerr(c, &e);
    if (r == 0)
        return md_cu_raise_key(c, c->argv[0]);
    return md_return_none(c);
}

static int d_getitem(md_call *c)
{
    md_val *v;
    if (lookup(c, &v) < 0)
        return MD_CALL_DONE;
    if (!v)
        return md_cu_raise_key(c, c->argv[0]);
    return md_return(c, md_incref(v));
}

static int d_iter(md_call *c)
{
    return md_return_proxy(c, md_iterator_over_dict(c->self));
}

static int d_len(md_call *c)
{
    return md_return_int(c, (int64_t)md_dict_len(DICT(c)));
}

static int d_setitem(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_dict_set(DICT(c), c->argv[0], c->argv[1], &e) < 0)
        return md_raise_pyerr(c, &e);
    return md_return_none(c);
}

static int d_clear(md_call *c)
{
    md_dict_clear(DICT(c));
    return md_return_none(c);
}

/* copy(), items(), keys(), values() reply views of the dict
 * (serializers/pickle.h): a pickle peer gets the bytes of the new dict or
 * list written straight from this one, which nothing changes before the
 * reply is encoded; anyone else gets the real copy. */
static int d_copy(md_call *c)
{
    return md_return(c, md_pickle_view_new(DICT(c), MD_PV_COPY));
}

static int d_get(md_call *c)
{
    md_val *v;
    if (lookup(c, &v) < 0)
        return MD_CALL_DONE;
    if (!v)
        v = c->argv[1] ? c->argv[1] : md_none();
    return md_return(c, md_incref(v));
}

/* kind: 0 keys, 1 values, 2 items. Python 3 replies views pickled as
 * lists (managers.py registers rebuild_as_list); 2.7 replies lists. */
static md_val *dict_list(const md_val *d, int kind)
{
    md_val *out = md_list_new(md_dict_len(d));
    size_t pos = 0;
    md_val *k, *v;
    while (out && md_dict_next(d, &pos, &k, &v)) {
        int r = kind == 0   ? md_list_append(out, k)
                : kind == 1 ? md_list_append(out, v)
                            : md_cu_append_new(out, md_tuple_pack(2, k, v));
        if (r < 0) {
            md_decref(out);
            out = NULL;
        }
    }
    return out;
}

static int d_items(md_call *c)
{
    return md_return(c, md_pickle_view_new(DICT(c), MD_PV_ITEMS));
}

static int d_keys(md_call *c)
{
    return md_return(c, md_pickle_view_new(DICT(c), MD_PV_KEYS));
}

static int d_values(md_call *c)
{
    return md_return(c, md_pickle_view_new(DICT(c), MD_PV_VALUES));
}

static int d_pop(md_call *c)
{
    md_val *v;
    if (lookup(c, &v) < 0)
        return MD_CALL_DONE;
    if (!v)
        return c->argv[1] ? md_return(c, md_incref(c->argv[1])) : md_cu_raise_key(c, c->argv[0]);
    md_incref(v);
    md_pyerr e;
    md_pyerr_clear(&e);
    md_dict_del(DICT(c), c->argv[0], &e);
    return md_return(c, v);
}

static int d_popitem(md_call *c)
{
    md_val *d = DICT(c);
    if (md_dict_len(d) == 0)
        return md_raise(c, "builtins", "KeyError", "popitem(): dictionary is empty");
    /* LIFO: the last inserted item. The value API walks forward only. */
    size_t pos = 0;
    md_val *k, *v, *lastk = NULL, *lastv = NULL;
    while (md_dict_next(d, &pos, &k, &v))
        lastk = k, lastv = v;
    md_val *pair = md_tuple_pack(2, lastk, lastv);
    if (!pair)
        return md_return(c, NULL);
    md_pyerr e;
    md_pyerr_clear(&e);
    md_dict_del(d, md_tuple_get(pair, 0), &e);
    return md_return(c, pair);
}

static int d_setdefault(md_call *c)
{
    md_val *v;
    if (lookup(c, &v) < 0)
        return MD_CALL_DONE;
    if (v)
        return md_return(c, md_incref(v));
    v = c->argv[1] ? c->argv[1] : md_none();
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_dict_set(DICT(c), c->argv[0], v, &e) < 0)
        return md_raise_pyerr(c, &e);
    return md_return(c, md_incref(v));
}

static int d_update(md_call *c)
{
    return do_update(c, DICT(c), "update");
}

static int d_has_key(md_call *c)
{
    return d_contains(c);
}

/* ---- 3.14's DictProxy additions ------------------------------------- */

/* d | other: a new dict; NotImplemented unless other is a dict (or an
 * OrderedDict, a dict subclass in Python). */
static int d_or(md_call *c)
{
    const md_val *dict, *pairs;
    if (!md_cu_mapping(c->argv[0], &dict, &pairs))
        return md_return(c, md_cu_not_implemented());
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *out = md_cu_dict_copy(DICT(c));
    md_val *p = out ? update_pairs(c->argv[0], &e) : NULL;
    if (!p || apply_pairs(out, p, NULL, &e) < 0) {
        md_decref(out);
        md_decref(p);
        return out ? md_raise_pyerr(c, &e) : md_return(c, NULL);
    }
    md_decref(p);
    return md_return(c, out);
}

/* other | d */
static int d_ror(md_call *c)
{
    const md_val *dict, *pairs;
    if (!md_cu_mapping(c->argv[0], &dict, &pairs))
        return md_return(c, md_cu_not_implemented());
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *out = md_dict_new();
    md_val *p = out ? update_pairs(c->argv[0], &e) : NULL;
    md_val *mine = p ? mapping_pairs(DICT(c), NULL, &e) : NULL;
    int rc = mine ? apply_pairs(out, p, NULL, &e) : -1;
    if (rc == 0)
        rc = apply_pairs(out, mine, NULL, &e);
    md_decref(p);
    md_decref(mine);
    if (rc < 0) {
        md_decref(out);
        return out ? md_raise_pyerr(c, &e) : md_return(c, NULL);
    }
    return md_return(c, out);
}

/* d |= other: update (any update argument), reply the whole dict as
 * Python's __ior__ returns self (the proxy ignores it). */
static int d_ior(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *p = update_pairs(c->argv[0], &e);
    if (!p || apply_pairs(DICT(c), p, NULL, &e) < 0) {
        md_decref(p);
        return md_raise_pyerr(c, &e);
    }
    md_decref(p);
    return md_return(c, md_incref(DICT(c)));
}

/* reversed(d): CPython replies a dict_reversekeyiterator, pickled as
 * builtins.iter([keys, last first]). */
static int d_reversed(md_call *c)
{
    md_val *keys = dict_list(DICT(c), 0);
    md_val *rev = keys ? md_list_new(md_list_len(keys)) : NULL;
    for (size_t i = rev ? md_list_len(keys) : 0; i-- > 0;)
        if (md_list_append(rev, md_list_get(keys, i)) < 0) {
            md_decref(rev);
            rev = NULL;
        }
    md_decref(keys);
    return md_return(c, md_cu_iter_value(rev, c->protocol));
}

/* d.fromkeys(iterable, value=None): a new dict; d is not changed. */
static int d_fromkeys(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *keys = md_cu_items(c->argv[0], &e);
    if (!keys)
        return md_raise_pyerr(c, &e);
    md_val *value = c->argv[1] ? c->argv[1] : md_none();
    md_val *out = md_dict_new();
    for (size_t i = 0; out && i < md_list_len(keys); i++)
        if (md_dict_set(out, md_list_get(keys, i), value, &e) < 0) {
            md_decref(out);
            md_decref(keys);
            return md_raise_pyerr(c, &e);
        }
    md_decref(keys);
    return md_return(c, out);
}

/* ====================================================================== */
/* The type                                                                */
/* ====================================================================== */

/* The references to dict()'s positional argument that the create path
 * itself holds while init runs: the request's tuple of arguments,
 * construct()'s ctor_args and bind's varargs (core/disp/objects.c and
 * bind.c; test_dict_and_list_keep_a_sole_argument_and_copy_a_shared_one
 * goes through that path and fails if the count changes either way). */
#define CREATE_VARARG_REFS 3

static int dict_init(md_call *c)
{
    md_val *arg = c->varargs && md_tuple_len(c->varargs) == 1 ? md_tuple_get(c->varargs, 0)
                                                                : NULL;
    if (arg && !c->varkw && md_typeof(arg) == MD_T_DICT &&
        md_refcount(arg) == CREATE_VARARG_REFS) {
        /* m.dict(big): nothing but the request and the create path's own
         * tuples references this decoded dict, and they are all dropped
         * when the call returns, so the dict itself becomes the shared
         * one, its table neither copied nor rebuilt. No client can tell:
         * no other reference exists, and a copy would hold the same
         * items in the same order. */
        MD_CU_VAL(c->self) = md_incref(arg);
        return md_return_none(c);
    }
    md_val *d = md_dict_new();
    if (!d)
        return md_raise_noargs(c, "builtins", "MemoryError");
    MD_CU_VAL(c->self) = d;
    return do_update(c, d, "dict");
}

/* The rows' order is the exposed tuple's: 3.7 - 3.13's with 2.7/3.6's
 * has_key after get and 3.14's additions at the end; __iter__'s
 * result_typeid adds it once more after them, as CPython appends
 * method_to_typeid's names. */
static const md_method dict_methods[] = {
    {.name = "__contains__", .fn = d_contains, .params = {"key"}, .min_args = 1, .max_args = 1,
     .flags = MD_M_DESCR},
    {.name = "__delitem__", .fn = d_delitem, .params = {"key"}, .min_args = 1, .max_args = 1},
    {.name = "__getitem__", .fn = d_getitem, .params = {"key"}, .min_args = 1, .max_args = 1,
     .flags = MD_M_DESCR},
    {.name = "__iter__", .fn = d_iter, .result_typeid = "Iterator"},
    {.name = "__len__", .fn = d_len},
    {.name = "__setitem__", .fn = d_setitem, .params = {"key", "value"}, .min_args = 2,
     .max_args = 2},
    {.name = "clear", .fn = d_clear},
    {.name = "copy", .fn = d_copy},
    {.name = "get", .fn = d_get, .params = {"key", "default"}, .min_args = 1, .max_args = 2},
    {.name = "has_key", .fn = d_has_key, .params = {"key"}, .min_args = 1, .max_args = 1},
    {.name = "items", .fn = d_items},
    {.name = "keys", .fn = d_keys},
    {.name = "pop", .fn = d_pop, .params = {"key", "default"}, .min_args = 1, .max_args = 2},
    {.name = "popitem", .fn = d_popitem},
    {.name = "setdefault", .fn = d_setdefault, .params = {"key", "default"}, .min_args = 1,
     .max_args = 2},
    /* update(iterable_or_mapping, **kwds): keywords are items, so no
     * named parameter may capture one (d.update(key=1) sets 'key'). */
    {.name = "update", .fn = d_update, .flags = MD_M_VARARGS | MD_M_VARKW},
    {.name = "values", .fn = d_values},
    {.name = "__ior__", .fn = d_ior, .params = {"other"}, .min_args = 1, .max_args = 1},
    {.name = "__or__", .fn = d_or, .params = {"other"}, .min_args = 1, .max_args = 1},
    {.name = "__reversed__", .fn = d_reversed, .flags = MD_M_DESCR},
    {.name = "__ror__", .fn = d_ror, .params = {"other"}, .min_args = 1, .max_args = 1},
    {.name = "fromkeys", .fn = d_fromkeys, .params = {"iterable", "value"}, .min_args = 1,
     .max_args = 2},
    {.name = NULL},
};

const md_type md_type_dict = {
    .name = "dict",
    .pyclass = "dict",
    .size = sizeof(md_cu_valobj),
    .methods = dict_methods,
    .init = dict_init,
    .ctor_flags = MD_M_VARARGS | MD_M_VARKW,
    .finalize = md_cu_val_finalize,
    .repr = md_cu_val_repr,
    .getvalue = md_cu_val_getvalue,   /* the dict itself: see the top on references */
};
