/* list.c - the 'list' shared type: SyncManager's list(iterable=()) and
 * every method its ListProxy sends (2.7's slice methods to 3.14's clear
 * and copy), with Python's results and messages.
 *
 * Operations that rearrange the list (slice assignment and deletion,
 * sort, *=) build the new list first and swap it in, so a failure leaves
 * the old one untouched; nothing else refers to a list object's value
 * between requests (no live iterators over lists), so swapping is safe.
 * Returned items are references, not copies: the reply is encoded before
 * any other request runs.
 *
 * Differences from CPython, on purpose:
 *   - sort(key=f) takes only the builtins of builtin_fns.h (len, str.lower,
 *     operator.itemgetter, ...) and raises TypeError for any other f:
 *     managerd never runs client code;
 *   - reversed(l) for a Python 2.7 client replies builtins.reversed(list)
 *     (which 2.7 can rebuild) where a 2.7 server replies #UNSERIALIZABLE;
 *     an XML-RPC client gets the reversed items as a list;
 *   - l * n and l *= n stop at MD_MAX_REPEAT_ITEMS items (MemoryError).
 */
#include "core/types/containers_util.h"
#include "core/types/builtin_fns.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "serializers/pickle.h"

#define LIST(c) MD_CU_VAL((c)->self)

static void swap_in(md_call *c, md_val *fresh)
{
    md_val *old = LIST(c);
    LIST(c) = fresh;
    md_decref(old);
}

/* items[lo:hi] of l appended to out. */
static int append_range(md_val *out, const md_val *l, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        if (md_list_append(out, md_list_get(l, i)) < 0)
            return -1;
    return 0;
}

/* ====================================================================== */
/* Indexes                                                                 */
/* ====================================================================== */

/* An int index of a list of len items into *pos. Returns 0; 1 when idx is
 * a slice (nothing raised); -1 with the error raised. */
static int list_index(md_call *c, const md_val *idx, size_t len, size_t *pos,
                      const char *range_msg)
{
    int64_t i;
    int r = md_cu_int(idx, &i);
    if (r < 0) {
        if (md_typeof(idx) == MD_T_SLICE)
            return 1;
        md_raise(c, "builtins", "TypeError", "list indices must be integers or slices, not %s",
                 md_type_name(idx));
        return -1;
    }
    if (r > 0) {
        md_raise(c, "builtins", "IndexError", "cannot fit 'int' into an index-sized integer");
        return -1;
    }
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || i >= (int64_t)len) {
        md_raise(c, "builtins", "IndexError", "%s", range_msg);
        return -1;
    }
    *pos = (size_t)i;
    return 0;
}

static int slice_of(md_call *c, const md_val *slice, md_cu_slice *s)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_cu_slice_indices(slice, md_list_len(LIST(c)), s, &e) < 0) {
        md_raise_pyerr(c, &e);
        return -1;
    }
    return 0;
}

/* l[lo:hi] = items, by building the new list. */
static int replace_range(md_call *c, size_t lo, size_t hi, const md_val *items)
{
    md_val *l = LIST(c);
    size_t len = md_list_len(l);
    md_val *fresh = md_list_new(len - (hi - lo) + md_list_len(items));
    if (!fresh || append_range(fresh, l, 0, lo) < 0 ||
        append_range(fresh, items, 0, md_list_len(items)) < 0 ||
        append_range(fresh, l, hi, len) < 0) {
        md_decref(fresh);
        return md_return(c, NULL);
    }
    swap_in(c, fresh);
    return md_return_none(c);
}

/* Delete the positions a slice selects. */
static int delete_slice(md_call *c, const md_cu_slice *s)
{
    md_val *l = LIST(c);
    size_t len = md_list_len(l);
    if (s->count == 0)
        return md_return_none(c);
    bool *gone = md_calloc(len, sizeof *gone);
    md_val *fresh = gone ? md_list_new(len - s->count) : NULL;
    for (size_t k = 0; gone && k < s->count; k++)
        gone[md_cu_slice_at(s, k)] = true;
    for (size_t i = 0; fresh && i < len; i++)
        if (!gone[i] && md_list_append(fresh, md_list_get(l, i)) < 0) {
            md_decref(fresh);
            fresh = NULL;
        }
    md_free(gone);
    if (!fresh)
        return md_return(c, NULL);
    swap_in(c, fresh);
    return md_return_none(c);
}

static int items_or_raise(md_call *c, const md_val *v, const char *msg, md_val **items)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    *items = md_cu_items(v, &e);
    if (*items)
        return 0;
    if (msg && strcmp(e.type, "TypeError") == 0)
        md_raise(c, "builtins", "TypeError", "%s", msg);
    else
        md_bf_raise(c, &e); /* KeyError(key) of an itemgetter in map() */
    return -1;
}

/* ====================================================================== */
/* Item and slice access                                                   */
/* ====================================================================== */

static int l_getitem(md_call *c)
{
    size_t pos;
    int r = list_index(c, c->argv[0], md_list_len(LIST(c)), &pos, "list index out of range");
    if (r < 0)
        return MD_CALL_DONE;
    if (r == 0)
        return md_return(c, md_incref(md_list_get(LIST(c), pos)));
    md_cu_slice s;
    if (slice_of(c, c->argv[0], &s) < 0)
        return MD_CALL_DONE;
    /* A view (serializers/pickle.h), as d.copy() replies one. */
    return md_return(c, md_pickle_view_slice(LIST(c), s.start, s.step, s.count));
}

static int l_setitem(md_call *c)
{
    size_t pos;
    int r = list_index(c, c->argv[0], md_list_len(LIST(c)), &pos,
                       "list assignment index out of range");
    if (r < 0)
        return MD_CALL_DONE;
    if (r == 0) {
        md_list_set(LIST(c), pos, c->argv[1]);
        return md_return_none(c);
    }
    md_cu_slice s;
    md_val *items;
    if (slice_of(c, c->argv[0], &s) < 0 ||
        items_or_raise(c, c->argv[1], "must assign iterable to extended slice", &items) < 0)
        return MD_CALL_DONE;
    int rc;
    if (s.step == 1) {
        size_t lo = (size_t)s.start, hi = s.stop < s.start ? lo : (size_t)s.stop;
        rc = replace_range(c, lo, hi, items);
    } else if (md_list_len(items) != s.count) {
        rc = md_raise(c, "builtins", "ValueError",
                      "attempt to assign sequence of size %zu to extended slice of size %zu",
                      md_list_len(items), s.count);
    } else {
        for (size_t k = 0; k < s.count; k++)
            md_list_set(LIST(c), md_cu_slice_at(&s, k), md_list_get(items, k));
        rc = md_return_none(c);
    }
    md_decref(items);
    return rc;
}

static int l_delitem(md_call *c)
{
    size_t pos;
    int r = list_index(c, c->argv[0], md_list_len(LIST(c)), &pos,
                       "list assignment index out of range");
    if (r < 0)
        return MD_CALL_DONE;
    if (r == 0) {
        md_list_del(LIST(c), pos);
        return md_return_none(c);
    }
    md_cu_slice s;
    if (slice_of(c, c->argv[0], &s) < 0)
        return MD_CALL_DONE;
    return delete_slice(c, &s);
}

/* Python 2.7's simple-slice methods: integer bounds, clamped. */
static int simple_bounds(md_call *c, size_t *lo, size_t *hi)
{
    int64_t i, j;
    if (md_arg_index(c, 0, 0, &i) < 0 || md_arg_index(c, 1, 0, &j) < 0)
        return -1;
    md_cu_clamp_simple(i, j, md_list_len(LIST(c)), lo, hi);
    return 0;
}

static int l_getslice(md_call *c)
{
    size_t lo, hi;
    if (simple_bounds(c, &lo, &hi) < 0)
        return MD_CALL_DONE;
    return md_return(c, md_pickle_view_slice(LIST(c), (int64_t)lo, 1, hi - lo));
}

static int l_setslice(md_call *c)
{
    size_t lo, hi;
    md_val *items;
    if (simple_bounds(c, &lo, &hi) < 0 ||
        items_or_raise(c, c->argv[2], "can only assign an iterable", &items) < 0)
        return MD_CALL_DONE;
    int rc = replace_range(c, lo, hi, items);
    md_decref(items);
    return rc;
}

static int l_delslice(md_call *c)
{
    size_t lo, hi;
    if (simple_bounds(c, &lo, &hi) < 0)
        return MD_CALL_DONE;
    md_cu_slice s = {(int64_t)lo, (int64_t)hi, 1, hi - lo};
    return delete_slice(c, &s);
}

/* ====================================================================== */
/* Operators                                                               */
/* ====================================================================== */

static int l_add(md_call *c)
{
    md_val *other = c->argv[0];
    if (md_typeof(other) != MD_T_LIST)
        return md_raise(c, "builtins", "TypeError",
                        "can only concatenate list (not \"%s\") to list", md_type_name(other));
    md_val *l = LIST(c);
    md_val *out = md_list_new(md_list_len(l) + md_list_len(other));
    if (out && (append_range(out, l, 0, md_list_len(l)) < 0 ||
                append_range(out, other, 0, md_list_len(other)) < 0)) {
        md_decref(out);
        out = NULL;
    }
    return md_return(c, out);
}

/* The first index in [start, stop) whose item == x, into *at: 1 found,
 * 0 not, -1 with e set (an == that raised). For in, index and remove. */
static int find_item(md_val *l, md_val *x, size_t start, size_t stop, size_t *at, md_pyerr *e)
{
    md_pyerr_clear(e);
    for (size_t i = start; i < stop && i < md_list_len(l); i++) {
        int r = md_val_eq(md_list_get(l, i), x, e);
        if (r != 0) {
            *at = i;
            return r;
        }
    }
    return 0;
}

static int l_contains(md_call *c)
{
    md_pyerr e;
    size_t at;
    int r = find_item(LIST(c), c->argv[0], 0, SIZE_MAX, &at, &e);
    return r < 0 ? md_raise_pyerr(c, &e) : md_return_bool(c, r == 1);
}

static int l_len(md_call *c)
{
    return md_return_int(c, (int64_t)md_list_len(LIST(c)));
}

/* l * n as a new list, or NULL with the error raised. */
static md_val *repeat(md_call *c, bool *raised)
{
    int64_t n;
    md_val *arg = c->argv[0];
    int r = md_cu_int(arg, &n);
    *raised = true;
    if (r < 0) {
        md_raise(c, "builtins", "TypeError", "'%s' object cannot be interpreted as an integer",
                 md_type_name(arg));
        return NULL;
    }
    if (r > 0) {
        md_raise(c, "builtins", "OverflowError", "cannot fit 'int' into an index-sized integer");
        return NULL;
    }
    md_val *l = LIST(c);
    size_t len = md_list_len(l);
    if (n < 0)
        n = 0;
    if (len && (uint64_t)n > MD_MAX_REPEAT_ITEMS / len) {
        md_raise(c, "builtins", "MemoryError",
                 "list repetition would make more than %zu items (managerd's limit)",
                 (size_t)MD_MAX_REPEAT_ITEMS);
        return NULL;
    }
    *raised = false;
    md_val *out = md_list_new(len * (size_t)n);
    for (int64_t k = 0; out && k < n; k++)
        if (append_range(out, l, 0, len) < 0) {
            md_decref(out);
            out = NULL;
        }
    return out;
}

static int l_mul(md_call *c)
{
    bool raised;
    md_val *out = repeat(c, &raised);
    return raised ? MD_CALL_DONE : md_return(c, out);
}

/* l *= n: Python's __imul__ returns the list itself; the proxy ignores
 * the reply, which is the whole list (observed). */
static int l_imul(md_call *c)
{
    bool raised;
    md_val *out = repeat(c, &raised);
    if (raised)
        return MD_CALL_DONE;
    if (!out)
        return md_return(c, NULL);
    swap_in(c, out);
    return md_return(c, md_incref(out));
}

/* reversed(l): 3.x servers reply a list_reverseiterator, which pickles as
 * builtins.reversed(list) then BUILD with the position (len - 1; 3.13
 * leaves the state out for an empty list). */
static int l_reversed(md_call *c)
{
    md_val *l = LIST(c);
    size_t len = md_list_len(l);
    if (c->protocol == 0) {
        md_val *out = md_list_new(len);
        for (size_t i = len; out && i-- > 0;)
            if (md_list_append(out, md_list_get(l, i)) < 0) {
                md_decref(out);
                out = NULL;
            }
        return md_return(c, out);
    }
    md_val *it = md_cu_reduce("builtins", "reversed", md_tuple_pack(1, l));
    if (it && len && c->protocol >= 3) {
        md_val *pos = md_int_from_i64((int64_t)len - 1);
        if (!pos) {
            md_decref(it);
            return md_return(c, NULL);
        }
        md_opaque_set_state_steal(it, pos);
    }
    return md_return(c, it);
}

/* ====================================================================== */
/* Methods                                                                 */
/* ====================================================================== */

static int l_append(md_call *c)
{
    if (md_list_append(LIST(c), c->argv[0]) < 0)
        return md_return(c, NULL);
    return md_return_none(c);
}

static int l_count(md_call *c)
{
    md_val *l = LIST(c);
    md_pyerr e;
    md_pyerr_clear(&e);
    int64_t n = 0;
    for (size_t i = 0; i < md_list_len(l); i++) {
        int r = md_val_eq(md_list_get(l, i), c->argv[0], &e);
        if (r < 0)
            return md_raise_pyerr(c, &e);
        n += r;
    }
    return md_return_int(c, n);
}

/* The references to an object call's argument that the call path holds
 * while the method runs: the request's tuple of arguments (core/disp/
 * bind.c borrows c->argv from it). test_list_extend_takes_a_sole_
 * argument_into_an_empty_list fails if the count changes either way. */
#define CALL_ARG_REFS 1

static int l_extend(md_call *c)
{
    size_t n;
    if (md_list_len(LIST(c)) == 0 && md_typeof(c->argv[0]) == MD_T_LIST &&
        md_refcount(c->argv[0]) == CALL_ARG_REFS) {
        /* l = m.list(); l.extend(big): as m.list(big) does, the decoded
         * list that nothing else references becomes the shared one, so
         * a million items are neither copied nor freed again. No client
         * can tell: the list was empty, and the request goes with the
         * call. */
        swap_in(c, md_incref(c->argv[0]));
        return md_return_none(c);
    }
    md_val *const *seq = md_seq_items(c->argv[0], &n);
    if (seq && c->argv[0] != LIST(c)) {
        /* A list or tuple (l.extend(big)): appended in one step, all or
         * nothing, without the copy of its items that other iterables
         * are turned into first. */
        if (md_list_extend(LIST(c), seq, n, 1) < 0)
            return md_return(c, NULL);
        return md_return_none(c);
    }
    md_val *items;
    if (items_or_raise(c, c->argv[0], NULL, &items) < 0)
        return MD_CALL_DONE;
    int rc = append_range(LIST(c), items, 0, md_list_len(items));
    md_decref(items);
    return rc < 0 ? md_return(c, NULL) : md_return_none(c);
}

/* index()'s start/stop: ints (clamped), adjusted like slice bounds. */
static int search_bound(md_call *c, size_t i, int64_t dflt, size_t len, size_t *out)
{
    int64_t v = dflt;
    if (c->argv[i] && md_cu_int(c->argv[i], &v) < 0) {
        md_raise(c, "builtins", "TypeError",
                 "slice indices must be integers or have an __index__ method");
        return -1;
    }
    if (v < 0) {
        v += (int64_t)len;
        if (v < 0)
            v = 0;
    }
    *out = v > (int64_t)len ? len : (size_t)v;
    return 0;
}

static int l_index(md_call *c)
{
    md_val *l = LIST(c);
    size_t len = md_list_len(l), start, stop;
    if (search_bound(c, 1, 0, len, &start) < 0 || search_bound(c, 2, INT64_MAX, len, &stop) < 0)
        return MD_CALL_DONE;
    md_pyerr e;
    size_t at;
    int r = find_item(l, c->argv[0], start, stop, &at, &e);
    if (r)
        return r < 0 ? md_raise_pyerr(c, &e) : md_return_int(c, (int64_t)at);
    char text[400];
    md_val_short_repr(c->argv[0], text, sizeof text, " object");
    return md_raise(c, "builtins", "ValueError", "%s is not in list", text);
}

/* An int argument as a C ssize_t, with Python's messages. */
static int ssize_arg(md_call *c, size_t i, int64_t dflt, int64_t *out)
{
    if (!c->argv[i]) {
        *out = dflt;
        return 0;
    }
    int r = md_cu_int(c->argv[i], out);
    if (r < 0)
        md_raise(c, "builtins", "TypeError", "'%s' object cannot be interpreted as an integer",
                 md_type_name(c->argv[i]));
    else if (r > 0)
        md_raise(c, "builtins", "OverflowError", "Python int too large to convert to C ssize_t");
    return r ? -1 : 0;
}

static int l_insert(md_call *c)
{
    int64_t i;
    if (ssize_arg(c, 0, 0, &i) < 0)
        return MD_CALL_DONE;
    md_val *l = LIST(c);
    int64_t len = (int64_t)md_list_len(l);
    if (i < 0) {
        i += len;
        if (i < 0)
            i = 0;
    }
    if (i > len)
        i = len;
    if (md_list_insert(l, (size_t)i, c->argv[1]) < 0)
        return md_return(c, NULL);
    return md_return_none(c);
}

static int l_pop(md_call *c)
{
    int64_t i;
    if (ssize_arg(c, 0, -1, &i) < 0)
        return MD_CALL_DONE;
    md_val *l = LIST(c);
    int64_t len = (int64_t)md_list_len(l);
    if (len == 0)
        return md_raise(c, "builtins", "IndexError", "pop from empty list");
    if (i < 0)
        i += len;
    if (i < 0 || i >= len)
        return md_raise(c, "builtins", "IndexError", "pop index out of range");
    md_val *v = md_incref(md_list_get(l, (size_t)i));
    md_list_del(l, (size_t)i);
    return md_return(c, v);
}

static int l_remove(md_call *c)
{
    md_pyerr e;
    size_t at;
    int r = find_item(LIST(c), c->argv[0], 0, SIZE_MAX, &at, &e);
    if (r < 0)
        return md_raise_pyerr(c, &e);
    if (r == 0)
        return md_raise(c, "builtins", "ValueError", "list.remove(x): x not in list");
    md_list_del(LIST(c), at);
    return md_return_none(c);
}

static int l_reverse(md_call *c)
{
    md_val *l = LIST(c);
    size_t len = md_list_len(l);
    md_val *fresh = md_list_new(len);
    for (size_t i = len; fresh && i-- > 0;)
        if (md_list_append(fresh, md_list_get(l, i)) < 0) {
            md_decref(fresh);
            fresh = NULL;
        }
    if (!fresh)
        return md_return(c, NULL);
    swap_in(c, fresh);
    return md_return_none(c);
}

/* ---- sort ---------------------------------------------------------- */

/* Every item's key first, as CPython computes them before comparing: a
 * key that fails leaves the list as it was. Keys are new references. */
static int sort_keys(const md_val *key, md_val_pair *pairs, size_t len, md_pyerr *e)
{
    for (size_t i = 0; i < len; i++) {
        pairs[i].key = key ? md_bf_call(key, &pairs[i].val, 1, e) : md_incref(pairs[i].val);
        if (!pairs[i].key) {
            while (i-- > 0)
                md_decref(pairs[i].key);
            return -1;
        }
    }
    return 0;
}

/* sort(key=None, reverse=False): key may be an allow-listed builtin
 * (builtin_fns.h); the client's own functions are refused. */
static int l_sort(md_call *c)
{
    if (c->nargs > 0)
        return md_raise(c, "builtins", "TypeError", "sort() takes no positional arguments");
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *key = c->argv[0];
    if (key && md_typeof(key) == MD_T_NONE)
        key = NULL;
    if (key && md_bf_check(key, "sort()", &e) < 0)
        return md_raise_pyerr(c, &e);
    bool reverse;
    if (md_arg_bool(c, 1, false, &reverse) < 0)
        return MD_CALL_DONE;
    md_val *l = LIST(c);
    size_t len = md_list_len(l);
    md_val_pair *pairs = md_malloc((len ? len : 1) * sizeof *pairs);
    if (!pairs)
        return md_return(c, NULL);
    for (size_t i = 0; i < len; i++)
        pairs[i].val = md_list_get(l, i);
    if (sort_keys(key, pairs, len, &e) < 0) {
        md_free(pairs);
        return md_bf_raise(c, &e);
    }
    int rc;
    if (md_val_sort_pairs(pairs, len, reverse, &e) < 0) {
        rc = md_raise_pyerr(c, &e);
    } else {
        md_val *fresh = md_list_new(len);
        for (size_t i = 0; fresh && i < len; i++)
            if (md_list_append(fresh, pairs[i].val) < 0) {
                md_decref(fresh);
                fresh = NULL;
            }
        if (fresh)
            swap_in(c, fresh);
        rc = fresh ? md_return_none(c) : md_return(c, NULL);
    }
    for (size_t i = 0; i < len; i++)
        md_decref(pairs[i].key);
    md_free(pairs);
    return rc;
}

static int l_clear(md_call *c)
{
    md_list_clear(LIST(c));
    return md_return_none(c);
}

static int l_copy(md_call *c)
{
    return md_return(c, md_pickle_view_new(LIST(c), MD_PV_COPY));
}

/* ====================================================================== */
/* The type                                                                */
/* ====================================================================== */

/* The references to list()'s argument that the create path itself holds
 * while init runs: the request's tuple of arguments and construct()'s
 * ctor_args (core/disp/objects.c; test_dict_and_list_keep_a_sole_
 * argument_and_copy_a_shared_one goes through that path and fails if
 * the count changes either way). */
#define CREATE_ARG_REFS 2

static int list_init(md_call *c)
{
    if (c->varargs)
        return md_raise(c, "builtins", "TypeError", "list expected at most 1 argument, got %zu",
                        1 + md_tuple_len(c->varargs));
    md_val *items;
    if (c->argv[0] && md_typeof(c->argv[0]) == MD_T_LIST &&
        md_refcount(c->argv[0]) == CREATE_ARG_REFS) {
        /* m.list(big): nothing but the request and the create path's
         * own tuple references this decoded list, and both are dropped
         * when the call returns, so the list itself becomes the shared
         * one and a million items are not copied. No client can tell:
         * no other reference exists, and a copy would hold the same
         * items in the same order. */
        items = md_incref(c->argv[0]);
    } else if (c->argv[0]) {
        if (items_or_raise(c, c->argv[0], NULL, &items) < 0)
            return MD_CALL_DONE;
    } else if (!(items = md_list_new(0))) {
        return md_raise_noargs(c, "builtins", "MemoryError");
    }
    MD_CU_VAL(c->self) = items;
    return md_return_none(c);
}

#define ONE(n) .params = {n}, .min_args = 1, .max_args = 1

/* The rows' order is the exposed tuple's: 2.7's (3.x's plus the slice
 * methods) and 3.14's clear, copy. */
static const md_method list_methods[] = {
    {.name = "__add__", .fn = l_add, ONE("value")},
    {.name = "__contains__", .fn = l_contains, ONE("key")},
    {.name = "__delitem__", .fn = l_delitem, ONE("key")},
    {.name = "__delslice__", .fn = l_delslice, .params = {"i", "j"}, .min_args = 2,
     .max_args = 2},
    {.name = "__getitem__", .fn = l_getitem, ONE("index"), .flags = MD_M_DESCR},
    {.name = "__getslice__", .fn = l_getslice, .params = {"i", "j"}, .min_args = 2,
     .max_args = 2},
    {.name = "__len__", .fn = l_len},
    {.name = "__mul__", .fn = l_mul, ONE("value")},
    {.name = "__reversed__", .fn = l_reversed, .flags = MD_M_DESCR},
    {.name = "__rmul__", .fn = l_mul, ONE("value")},
    {.name = "__setitem__", .fn = l_setitem, .params = {"key", "value"}, .min_args = 2,
     .max_args = 2},
    {.name = "__setslice__", .fn = l_setslice, .params = {"i", "j", "sequence"}, .min_args = 3,
     .max_args = 3},
    {.name = "append", .fn = l_append, ONE("object")},
    {.name = "count", .fn = l_count, ONE("value")},
    {.name = "extend", .fn = l_extend, ONE("iterable")},
    {.name = "index", .fn = l_index, .params = {"value", "start", "stop"}, .min_args = 1,
     .max_args = 3},
    {.name = "insert", .fn = l_insert, .params = {"index", "object"}, .min_args = 2,
     .max_args = 2},
    {.name = "pop", .fn = l_pop, .params = {"index"}, .min_args = 0, .max_args = 1},
    {.name = "remove", .fn = l_remove, ONE("value")},
    {.name = "reverse", .fn = l_reverse},
    /* Python's key and reverse are keyword-only; positional ones are
     * refused in the handler with Python's message. */
    {.name = "sort", .fn = l_sort, .params = {"key", "reverse"}, .min_args = 0, .max_args = 2,
     .flags = MD_M_KEYWORDS},
    {.name = "__imul__", .fn = l_imul, ONE("value")},
    {.name = "clear", .fn = l_clear},
    {.name = "copy", .fn = l_copy},
    {.name = NULL},
};

const md_type md_type_list = {
    .name = "list",
    .pyclass = "list",
    .size = sizeof(md_cu_valobj),
    .methods = list_methods,
    .init = list_init,
    .ctor_params = {"iterable"},
    .ctor_min = 0,
    .ctor_max = 1,
    .ctor_flags = MD_M_VARARGS | MD_M_NOKW,
    .finalize = md_cu_val_finalize,
    .repr = md_cu_val_repr,
    .getvalue = md_cu_val_getvalue,   /* encoded at once: see the top */
};
