/* set.c - the 'set' shared type that Python 3.14 adds to SyncManager
 * (SetProxy): set(iterable=()) and every method 3.14's proxy exposes,
 * with Python's results and messages.
 *
 * As in CPython 3.14, __iter__ is not mapped to an Iterator proxy: the
 * server replies the set iterator itself, which pickles as
 * builtins.iter([items]), so the client iterates a snapshot. Operators
 * reply NotImplemented for operands that are not sets, as Python's do,
 * and the client then tries the reflected operation. In-place updates
 * build the new set first and swap it in (nothing else refers to the
 * set's value between requests), so a failed update changes nothing.
 */
#include "core/types/containers_util.h"

#define SET(c) MD_CU_VAL((c)->self)

enum set_op { OP_AND, OP_OR, OP_SUB, OP_XOR };

static bool is_anyset(const md_val *v)
{
    return md_typeof(v) == MD_T_SET || md_typeof(v) == MD_T_FROZENSET;
}

static void swap_in(md_call *c, md_val *fresh)
{
    md_val *old = SET(c);
    SET(c) = fresh;
    md_decref(old);
}

static int add_all(md_val *s, const md_val *items, md_pyerr *e)
{
    for (size_t i = 0; i < md_list_len(items); i++)
        if (md_set_add(s, md_list_get(items, i), e) < 0)
            return -1;
    return 0;
}

/* A new set (or frozenset) of the items of any iterable value. */
static md_val *set_of(const md_val *iterable, bool frozen, md_pyerr *e)
{
    md_val *items = md_cu_items(iterable, e);
    if (!items)
        return NULL;
    md_val *s = md_set_new(frozen);
    if (!s)
        md_pyerr_set(e, "MemoryError", "out of memory");
    if (s && add_all(s, items, e) < 0) {
        md_decref(s);
        s = NULL;
    }
    md_decref(items);
    return s;
}

/* a OP b for two sets, as a new set (frozen: a frozenset). */
static md_val *binop(const md_val *a, const md_val *b, enum set_op op, bool frozen, md_pyerr *e)
{
    md_val *out = md_set_new(frozen);
    if (!out) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return NULL;
    }
    size_t pos = 0;
    md_val *x;
    int rc = 0;
    while (rc == 0 && md_set_next(a, &pos, &x)) {
        int in_b = op == OP_OR ? 0 : md_set_contains(b, x, e);
        if (in_b < 0)
            rc = -1;
        else if ((op == OP_AND) == (in_b == 1) || op == OP_OR)
            rc = md_set_add(out, x, e);
    }
    pos = 0;
    while (rc == 0 && (op == OP_OR || op == OP_XOR) && md_set_next(b, &pos, &x)) {
        int in_a = op == OP_OR ? 0 : md_set_contains(a, x, e);
        if (in_a < 0)
            rc = -1;
        else if (!in_a)
            rc = md_set_add(out, x, e);
    }
    if (rc < 0) {
        md_decref(out);
        return NULL;
    }
    return out;
}

static md_val *set_copy(const md_val *s, md_pyerr *e)
{
    md_val *empty = md_set_new(true);
    md_val *out = empty ? binop(s, empty, OP_OR, false, e) : NULL;
    if (!empty)
        md_pyerr_set(e, "MemoryError", "out of memory");
    md_decref(empty);
    return out;
}

/* The key for contains/remove/discard: Python looks a set up as the
 * equal frozenset. New reference. */
static md_val *lookup_key(md_val *k, md_pyerr *e)
{
    if (md_typeof(k) != MD_T_SET)
        return md_incref(k);
    md_val *empty = md_set_new(true);
    md_val *out = empty ? binop(k, empty, OP_OR, true, e) : NULL;
    if (!empty)
        md_pyerr_set(e, "MemoryError", "out of memory");
    md_decref(empty);
    return out;
}

static int finish(md_call *c, md_val *result, const md_pyerr *e)
{
    return result ? md_return(c, result) : md_raise_pyerr(c, e);
}

/* Replace the set with result, or raise. */
static int finish_update(md_call *c, md_val *result, const md_pyerr *e, bool reply_self)
{
    if (!result)
        return md_raise_pyerr(c, e);
    swap_in(c, result);
    return reply_self ? md_return(c, md_incref(result)) : md_return_none(c);
}

/* ====================================================================== */
/* Multi-argument methods: union, intersection, difference (+ _update)     */
/* ====================================================================== */

/* self OP others[0] OP others[1] ... (every other any iterable). */
static md_val *fold(md_call *c, enum set_op op, md_pyerr *e)
{
    md_val *acc = set_copy(SET(c), e);
    size_t n = c->varargs ? md_tuple_len(c->varargs) : 0;
    for (size_t i = 0; acc && i < n; i++) {
        md_val *other = set_of(md_tuple_get(c->varargs, i), false, e);
        md_val *next = other ? binop(acc, other, op, false, e) : NULL;
        md_decref(other);
        md_decref(acc);
        acc = next;
    }
    return acc;
}

#define FOLD_METHODS(name, op)                                         \
    static int s_##name(md_call *c)                                    \
    {                                                                  \
        md_pyerr e;                                                    \
        md_pyerr_clear(&e);                                            \
        return finish(c, fold(c, op, &e), &e);                         \
    }                                                                  \
    static int s_##name##_update(md_call *c)                           \
    {                                                                  \
        md_pyerr e;                                                    \
        md_pyerr_clear(&e);                                            \
        return finish_update(c, fold(c, op, &e), &e, false);           \
    }

FOLD_METHODS(union, OP_OR)
FOLD_METHODS(intersection, OP_AND)
FOLD_METHODS(difference, OP_SUB)

static int s_update(md_call *c)
{
    return s_union_update(c);
}

static md_val *symdiff(md_call *c, md_pyerr *e)
{
    md_val *other = set_of(c->argv[0], false, e);
    md_val *out = other ? binop(SET(c), other, OP_XOR, false, e) : NULL;
    md_decref(other);
    return out;
}

static int s_symmetric_difference(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    return finish(c, symdiff(c, &e), &e);
}

static int s_symmetric_difference_update(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    return finish_update(c, symdiff(c, &e), &e, false);
}

/* ====================================================================== */
/* Tests: isdisjoint, issubset, issuperset and the comparisons             */
/* ====================================================================== */

static int any_in(const md_val *a, const md_val *b, md_pyerr *e)
{
    size_t pos = 0;
    md_val *x;
    while (md_set_next(a, &pos, &x)) {
        int r = md_set_contains(b, x, e);
        if (r != 0)
            return r;
    }
    return 0;
}

/* which: 0 isdisjoint, 1 issubset, 2 issuperset. */
static int relation(md_call *c, int which)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *other = set_of(c->argv[0], false, &e);
    if (!other)
        return md_raise_pyerr(c, &e);
    int r = which == 0   ? any_in(SET(c), other, &e)
            : which == 1 ? md_set_all_in(SET(c), other, &e)
                         : md_set_all_in(other, SET(c), &e);
    md_decref(other);
    if (r < 0)
        return md_raise_pyerr(c, &e);
    return md_return_bool(c, which == 0 ? r == 0 : r == 1);
}

static int s_isdisjoint(md_call *c)
{
    return relation(c, 0);
}

static int s_issubset(md_call *c)
{
    return relation(c, 1);
}

static int s_issuperset(md_call *c)
{
    return relation(c, 2);
}

/* self <= other etc.; strict adds "and the sizes differ". */
static int compare(md_call *c, bool subset, bool strict)
{
    md_val *other = c->argv[0];
    if (!is_anyset(other))
        return md_return(c, md_cu_not_implemented());
    md_val *self = SET(c);
    md_pyerr e;
    md_pyerr_clear(&e);
    size_t ls = md_set_len(self), lo = md_set_len(other);
    if (strict && ls == lo)
        return md_return_bool(c, false);
    if (subset ? ls > lo : ls < lo)
        return md_return_bool(c, false);
    int r = subset ? md_set_all_in(self, other, &e) : md_set_all_in(other, self, &e);
    if (r < 0)
        return md_raise_pyerr(c, &e);
    return md_return_bool(c, r == 1);
}

static int s_le(md_call *c)
{
    return compare(c, true, false);
}

static int s_lt(md_call *c)
{
    return compare(c, true, true);
}

static int s_ge(md_call *c)
{
    return compare(c, false, false);
}

static int s_gt(md_call *c)
{
    return compare(c, false, true);
}

/* ====================================================================== */
/* Operators                                                               */
/* ====================================================================== */

/* self OP other (reflected: other OP self, typed like other). */
static int operator(md_call *c, enum set_op op, bool reflected, bool inplace)
{
    md_val *other = c->argv[0];
    if (!is_anyset(other))
        return md_return(c, md_cu_not_implemented());
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *r = reflected ? binop(other, SET(c), op, md_typeof(other) == MD_T_FROZENSET, &e)
                          : binop(SET(c), other, op, false, &e);
    /* s |= t replies the whole set: Python's __ior__ returns self. */
    return inplace ? finish_update(c, r, &e, true) : finish(c, r, &e);
}

#define OPERATOR(fn, op, reflected, inplace)                           \
    static int fn(md_call *c)                                          \
    {                                                                  \
        return operator(c, op, reflected, inplace);                    \
    }

OPERATOR(s_and, OP_AND, false, false)
OPERATOR(s_or, OP_OR, false, false)
OPERATOR(s_sub, OP_SUB, false, false)
OPERATOR(s_xor, OP_XOR, false, false)
OPERATOR(s_rand, OP_AND, true, false)
OPERATOR(s_ror, OP_OR, true, false)
OPERATOR(s_rsub, OP_SUB, true, false)
OPERATOR(s_rxor, OP_XOR, true, false)
OPERATOR(s_iand, OP_AND, false, true)
OPERATOR(s_ior, OP_OR, false, true)
OPERATOR(s_isub, OP_SUB, false, true)
OPERATOR(s_ixor, OP_XOR, false, true)

/* ====================================================================== */
/* Single items                                                            */
/* ====================================================================== */

static int s_contains(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *k = lookup_key(c->argv[0], &e);
    int r = k ? md_set_contains(SET(c), k, &e) : -1;
    md_decref(k);
    return r < 0 ? md_raise_pyerr(c, &e) : md_return_bool(c, r == 1);
}

static int s_len(md_call *c)
{
    return md_return_int(c, (int64_t)md_set_len(SET(c)));
}

static int s_iter(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *items = md_cu_items(SET(c), &e);
    return items ? md_return(c, md_cu_iter_value(items, c->protocol)) : md_raise_pyerr(c, &e);
}

static int s_add(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_set_add(SET(c), c->argv[0], &e) < 0)
        return md_raise_pyerr(c, &e);
    return md_return_none(c);
}

static int s_clear(md_call *c)
{
    md_val *fresh = md_set_new(false);
    if (!fresh)
        return md_return(c, NULL);
    swap_in(c, fresh);
    return md_return_none(c);
}

static int s_copy(md_call *c)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    return finish(c, set_copy(SET(c), &e), &e);
}

/* discard (missing_is_error false) and remove. */
static int take_out(md_call *c, bool missing_is_error)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *k = lookup_key(c->argv[0], &e);
    int r = k ? md_set_discard(SET(c), k, &e) : -1;
    md_decref(k);
    if (r < 0)
        return md_raise_pyerr(c, &e);
    if (r == 0 && missing_is_error)
        return md_cu_raise_key(c, c->argv[0]);
    return md_return_none(c);
}

static int s_discard(md_call *c)
{
    return take_out(c, false);
}

static int s_remove(md_call *c)
{
    return take_out(c, true);
}

/* An arbitrary item: managerd's is the oldest. */
static int s_pop(md_call *c)
{
    size_t pos = 0;
    md_val *x;
    if (!md_set_next(SET(c), &pos, &x))
        return md_raise(c, "builtins", "KeyError", "pop from an empty set");
    md_incref(x);
    md_pyerr e;
    md_pyerr_clear(&e);
    md_set_discard(SET(c), x, &e);
    return md_return(c, x);
}

/* set[item]: types.GenericAlias(set, (item,)), as it pickles. */
static int s_class_getitem(md_call *c)
{
    md_val *item = c->argv[0];
    md_val *cls = md_global_new("builtins", "set");
    md_val *params = md_typeof(item) == MD_T_TUPLE ? md_incref(item) : md_tuple_pack(1, item);
    md_val *args = cls && params ? md_tuple_pack(2, cls, params) : NULL;
    md_decref(cls);
    md_decref(params);
    return md_return(c, args ? md_cu_reduce("types", "GenericAlias", args) : NULL);
}

/* ====================================================================== */
/* The type                                                                */
/* ====================================================================== */

static int set_init(md_call *c)
{
    if (c->varargs)
        return md_raise(c, "builtins", "TypeError", "set expected at most 1 argument, got %zu",
                        1 + md_tuple_len(c->varargs));
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *s = c->argv[0] ? set_of(c->argv[0], false, &e) : md_set_new(false);
    if (!s)
        return e.type ? md_raise_pyerr(c, &e) : md_raise_noargs(c, "builtins", "MemoryError");
    MD_CU_VAL(c->self) = s;
    return md_return_none(c);
}

#define OTHER .params = {"other"}, .min_args = 1, .max_args = 1
#define ELEM .params = {"elem"}, .min_args = 1, .max_args = 1
#define MANY .flags = MD_M_VARARGS

/* The rows' order is the exposed tuple's: 3.14's _BaseSetProxy. */
static const md_method set_methods[] = {
    {.name = "__and__", .fn = s_and, OTHER},
    {.name = "__class_getitem__", .fn = s_class_getitem, .params = {"item"}, .min_args = 1,
     .max_args = 1, .flags = MD_M_DESCR},
    {.name = "__contains__", .fn = s_contains, ELEM, .flags = MD_M_DESCR},
    {.name = "__iand__", .fn = s_iand, OTHER},
    {.name = "__ior__", .fn = s_ior, OTHER},
    {.name = "__isub__", .fn = s_isub, OTHER},
    {.name = "__iter__", .fn = s_iter},
    {.name = "__ixor__", .fn = s_ixor, OTHER},
    {.name = "__len__", .fn = s_len},
    {.name = "__or__", .fn = s_or, OTHER},
    {.name = "__rand__", .fn = s_rand, OTHER},
    {.name = "__ror__", .fn = s_ror, OTHER},
    {.name = "__rsub__", .fn = s_rsub, OTHER},
    {.name = "__rxor__", .fn = s_rxor, OTHER},
    {.name = "__sub__", .fn = s_sub, OTHER},
    {.name = "__xor__", .fn = s_xor, OTHER},
    {.name = "__ge__", .fn = s_ge, OTHER},
    {.name = "__gt__", .fn = s_gt, OTHER},
    {.name = "__le__", .fn = s_le, OTHER},
    {.name = "__lt__", .fn = s_lt, OTHER},
    {.name = "add", .fn = s_add, ELEM},
    {.name = "clear", .fn = s_clear},
    {.name = "copy", .fn = s_copy},
    {.name = "difference", .fn = s_difference, MANY},
    {.name = "difference_update", .fn = s_difference_update, MANY},
    {.name = "discard", .fn = s_discard, ELEM},
    {.name = "intersection", .fn = s_intersection, MANY},
    {.name = "intersection_update", .fn = s_intersection_update, MANY},
    {.name = "isdisjoint", .fn = s_isdisjoint, OTHER},
    {.name = "issubset", .fn = s_issubset, OTHER},
    {.name = "issuperset", .fn = s_issuperset, OTHER},
    {.name = "pop", .fn = s_pop},
    {.name = "remove", .fn = s_remove, ELEM},
    {.name = "symmetric_difference", .fn = s_symmetric_difference, OTHER},
    {.name = "symmetric_difference_update", .fn = s_symmetric_difference_update, OTHER},
    {.name = "union", .fn = s_union, MANY},
    {.name = "update", .fn = s_update, MANY},
    {.name = NULL},
};

const md_type md_type_set = {
    .name = "set",
    .pyclass = "set",
    .size = sizeof(md_cu_valobj),
    .methods = set_methods,
    .init = set_init,
    .ctor_params = {"iterable"},
    .ctor_min = 0,
    .ctor_max = 1,
    .ctor_flags = MD_M_VARARGS | MD_M_NOKW,
    .finalize = md_cu_val_finalize,
    .repr = md_cu_val_repr,
    .getvalue = md_cu_val_getvalue,
};
