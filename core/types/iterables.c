/* iterables.c - evaluating the lazy iterables clients pass as data:
 * builtins.range, iter (with its __setstate__ position), reversed, zip,
 * enumerate, map, filter and collections.deque, recognised by their
 * pickled shape and run as a small tree of C iterators, so that zip()
 * stops at its shortest argument and a position skips items as Python's
 * __setstate__ does. Every step counts against one budget per
 * evaluation. See iterables.h. */
#include "core/types/iterables.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/types/builtin_fns.h"
#include "core/types/containers_util.h"

enum lz_kind { LZ_SEQ, LZ_REV, LZ_RANGE, LZ_ZIP, LZ_ENUM, LZ_MAP, LZ_FILTER };

typedef struct lazy lazy;
struct lazy {
    enum lz_kind kind;
    md_val *items;          /* SEQ, REV: the items, owned */
    size_t pos;             /* SEQ: next index; REV: items left */
    int64_t start, step;    /* RANGE */
    uint64_t count, done;   /* RANGE */
    lazy **subs;            /* ZIP, ENUM, MAP, FILTER */
    size_t nsubs;
    const md_val *fn;       /* MAP, FILTER (NULL: truth), borrowed */
    int64_t index;          /* ENUM */
    bool strict;            /* ZIP */
};

static const char enumerate_too_big[] =
    "managerd evaluates enumerate() with a start of at most 64 bits";

typedef struct budget {
    size_t steps;
} budget;

static size_t step_limit = MD_MAX_ITER_ITEMS;

size_t md_it_set_limit(size_t steps)
{
    size_t old = step_limit;
    step_limit = steps ? steps : MD_MAX_ITER_ITEMS;
    return old;
}

static int too_long(md_pyerr *e)
{
    md_pyerr_set(e, "MemoryError",
                 "iterable yields more than %zu items, managerd's limit for lazy iterables",
                 step_limit);
    return -1;
}

static void lz_free(lazy *lz)
{
    if (!lz)
        return;
    for (size_t i = 0; i < lz->nsubs; i++)
        lz_free(lz->subs[i]);
    md_free(lz->subs);
    md_decref(lz->items);
    md_free(lz);
}

static lazy *lz_new(enum lz_kind kind, size_t nsubs, md_pyerr *e)
{
    lazy *lz = md_calloc(1, sizeof *lz);
    if (lz && nsubs && !(lz->subs = md_calloc(nsubs, sizeof *lz->subs))) {
        md_free(lz);
        lz = NULL;
    }
    if (!lz) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return NULL;
    }
    lz->kind = kind;
    lz->nsubs = nsubs;
    return lz;
}

/* ====================================================================== */
/* Stepping                                                                */
/* ====================================================================== */

static int lz_next(lazy *lz, budget *b, md_val **out, md_pyerr *e);

/* zip(strict=True) found argument k exhausted: Python's messages. */
static int zip_unequal(lazy *lz, size_t k, budget *b, md_pyerr *e)
{
    if (k > 0) {
        md_pyerr_set(e, "ValueError", "zip() argument %zu is shorter than argument%s%s%zu",
                     k + 1, k > 1 ? "s " : " ", k > 1 ? "1-" : "", k);
        return -1;
    }
    for (size_t j = 1; j < lz->nsubs; j++) {
        md_val *x = NULL;
        int r = lz_next(lz->subs[j], b, &x, e);
        md_decref(x);
        if (r < 0)
            return -1;
        if (r > 0) {
            md_pyerr_set(e, "ValueError", "zip() argument %zu is longer than argument%s%s%zu",
                         j + 1, j > 1 ? "s " : " ", j > 1 ? "1-" : "", j);
            return -1;
        }
    }
    return 0;
}

/* One item from each argument into args[]; 0 when one is exhausted. */
static int next_all(lazy *lz, budget *b, md_val **args, md_pyerr *e)
{
    for (size_t k = 0; k < lz->nsubs; k++) {
        int r = lz_next(lz->subs[k], b, &args[k], e);
        if (r <= 0) {
            for (size_t j = 0; j < k; j++)
                md_decref(args[j]);
            if (r == 0 && lz->strict)
                return zip_unequal(lz, k, b, e);
            return r;
        }
    }
    return 1;
}

static int next_zip(lazy *lz, budget *b, md_val **out, md_pyerr *e)
{
    if (lz->nsubs == 0)
        return 0;
    md_val *t = md_tuple_new(lz->nsubs);
    md_val **args = md_calloc(lz->nsubs, sizeof *args);
    int r = t && args ? next_all(lz, b, args, e) : -1;
    if (r > 0)
        for (size_t k = 0; k < lz->nsubs; k++)
            md_tuple_set_steal(t, k, args[k]);
    if (!t || !args)
        md_pyerr_set(e, "MemoryError", "out of memory");
    md_free(args);
    if (r > 0)
        *out = t;
    else
        md_decref(t);
    return r;
}

static int next_map(lazy *lz, budget *b, md_val **out, md_pyerr *e)
{
    md_val **args = md_calloc(lz->nsubs, sizeof *args);
    if (!args) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return -1;
    }
    int r = next_all(lz, b, args, e);
    if (r > 0) {
        *out = md_bf_call(lz->fn, args, lz->nsubs, e);
        for (size_t k = 0; k < lz->nsubs; k++)
            md_decref(args[k]);
        r = *out ? 1 : -1;
    }
    md_free(args);
    return r;
}

static int next_filter(lazy *lz, budget *b, md_val **out, md_pyerr *e)
{
    for (;;) {
        md_val *x;
        int r = lz_next(lz->subs[0], b, &x, e);
        if (r <= 0)
            return r;
        bool keep;
        if (lz->fn) {
            md_val *verdict = md_bf_call(lz->fn, &x, 1, e);
            if (!verdict) {
                md_decref(x);
                return -1;
            }
            keep = md_bf_truth(verdict);
            md_decref(verdict);
        } else {
            keep = md_bf_truth(x);
        }
        if (keep) {
            *out = x;
            return 1;
        }
        md_decref(x);
    }
}

static int next_enum(lazy *lz, budget *b, md_val **out, md_pyerr *e)
{
    md_val *x;
    int r = lz_next(lz->subs[0], b, &x, e);
    if (r <= 0)
        return r;
    if (lz->index == INT64_MAX) {
        md_decref(x);
        md_pyerr_set(e, "OverflowError", "%s", enumerate_too_big);
        return -1;
    }
    md_val *i = md_int_from_i64(lz->index++);
    *out = i ? md_tuple_pack(2, i, x) : NULL;
    md_decref(i);
    md_decref(x);
    if (!*out) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return -1;
    }
    return 1;
}

/* 1 with a new item in *out, 0 when exhausted, -1 with e set. Every
 * item a leaf (a sequence or a range) yields costs one step: zip, map,
 * enumerate and filter only pass them on, so the steps bound all work. */
static int lz_next(lazy *lz, budget *b, md_val **out, md_pyerr *e)
{
    switch (lz->kind) {
    case LZ_SEQ:
        if (lz->pos >= md_list_len(lz->items))
            return 0;
        if (++b->steps > step_limit)
            return too_long(e);
        *out = md_incref(md_list_get(lz->items, lz->pos++));
        return 1;
    case LZ_REV:
        if (lz->pos == 0)
            return 0;
        if (++b->steps > step_limit)
            return too_long(e);
        *out = md_incref(md_list_get(lz->items, --lz->pos));
        return 1;
    case LZ_RANGE:
        if (lz->done >= lz->count)
            return 0;
        if (++b->steps > step_limit)
            return too_long(e);
        /* in unsigned arithmetic: done * step alone may pass int64 even
         * though start + done * step (an item of the range) does not */
        *out = md_int_from_i64((int64_t)((uint64_t)lz->start + lz->done++ * (uint64_t)lz->step));
        if (!*out) {
            md_pyerr_set(e, "MemoryError", "out of memory");
            return -1;
        }
        return 1;
    case LZ_ZIP: return next_zip(lz, b, out, e);
    case LZ_ENUM: return next_enum(lz, b, out, e);
    case LZ_MAP: return next_map(lz, b, out, e);
    case LZ_FILTER: return next_filter(lz, b, out, e);
    }
    return 0;
}

/* ====================================================================== */
/* Recognising the pickled shapes                                          */
/* ====================================================================== */

static lazy *lz_open(const md_val *v, budget *b, md_pyerr *e);

static lazy *seq_of(md_val *items, md_pyerr *e)
{
    if (!items)
        return NULL;
    lazy *lz = lz_new(LZ_SEQ, 0, e);
    if (lz)
        lz->items = items;
    else
        md_decref(items);
    return lz;
}

/* range(stop), range(start, stop[, step]) within int64. */
static lazy *open_range(const md_val *args, md_pyerr *e)
{
    size_t n = md_tuple_len(args);
    int64_t p[3] = {0, 0, 1};
    if (n < 1 || n > 3) {
        md_pyerr_set(e, "TypeError", "range expected at most 3 arguments, got %zu", n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const md_val *a = md_tuple_get(args, i);
        int r = md_cu_int(a, &p[n == 1 ? 1 : i]);
        if (r < 0) {
            md_pyerr_set(e, "TypeError", "'%s' object cannot be interpreted as an integer",
                         md_type_name(a));
            return NULL;
        }
        if (r > 0) {
            md_pyerr_set(e, "OverflowError",
                         "managerd evaluates range() with bounds of at most 64 bits");
            return NULL;
        }
    }
    if (p[2] == 0) {
        md_pyerr_set(e, "ValueError", "range() arg 3 must not be zero");
        return NULL;
    }
    lazy *lz = lz_new(LZ_RANGE, 0, e);
    if (!lz)
        return NULL;
    lz->start = p[0];
    lz->step = p[2];
    if (p[2] > 0 && p[0] < p[1])
        lz->count = ((uint64_t)p[1] - (uint64_t)p[0] - 1) / (uint64_t)p[2] + 1;
    else if (p[2] < 0 && p[0] > p[1])
        lz->count = ((uint64_t)p[0] - (uint64_t)p[1] - 1) / (0 - (uint64_t)p[2]) + 1;
    return lz;
}

/* An iterator's __setstate__ position: skip that many items. */
static int skip_to(lazy *lz, const md_val *state, budget *b, md_pyerr *e)
{
    int64_t pos = 0;
    if (state && md_typeof(state) != MD_T_NONE && md_cu_int(state, &pos) < 0) {
        md_pyerr_set(e, "TypeError", "'%s' object cannot be interpreted as an integer",
                     md_type_name(state));
        return -1;
    }
    if (lz->kind == LZ_RANGE) {
        lz->done = pos <= 0 ? 0 : (uint64_t)pos > lz->count ? lz->count : (uint64_t)pos;
        return 0;
    }
    for (int64_t i = 0; i < pos; i++) {
        md_val *x;
        int r = lz_next(lz, b, &x, e);
        if (r <= 0)
            return r;
        md_decref(x);
    }
    return 0;
}

/* reversed(seq) with its __setstate__ index (the next item's). */
static lazy *open_reversed(const md_val *args, const md_val *state, md_pyerr *e)
{
    const md_val *seq = md_tuple_get(args, 0);
    md_vtype t = md_typeof(seq);
    if (t != MD_T_LIST && t != MD_T_TUPLE && t != MD_T_STR && t != MD_T_BYTES &&
        t != MD_T_BYTEARRAY) {
        md_pyerr_set(e, "TypeError", "'%s' object is not reversible", md_type_name(seq));
        return NULL;
    }
    lazy *lz = seq_of(md_cu_items(seq, e), e);
    if (!lz)
        return NULL;
    lz->kind = LZ_REV;
    size_t len = md_list_len(lz->items);
    int64_t idx = (int64_t)len - 1;
    if (state && md_cu_int(state, &idx) < 0) {
        lz_free(lz);
        md_pyerr_set(e, "TypeError", "'%s' object cannot be interpreted as an integer",
                     md_type_name(state));
        return NULL;
    }
    if (idx < -1)
        idx = -1;
    else if (idx > (int64_t)len - 1)
        idx = (int64_t)len - 1;
    lz->pos = (size_t)(idx + 1);
    return lz;
}

/* A node over args[first..]: zip's, map's and filter's iterables. */
static lazy *open_over(enum lz_kind kind, const md_val *args, size_t first, budget *b,
                       md_pyerr *e)
{
    size_t n = md_tuple_len(args) - first;
    lazy *lz = lz_new(kind, n, e);
    for (size_t i = 0; lz && i < n; i++)
        if (!(lz->subs[i] = lz_open(md_tuple_get(args, first + i), b, e))) {
            lz_free(lz);
            lz = NULL;
        }
    return lz;
}

static lazy *open_map(const md_val *args, budget *b, md_pyerr *e)
{
    if (md_tuple_len(args) < 2) {
        md_pyerr_set(e, "TypeError", "map() must have at least two arguments.");
        return NULL;
    }
    if (md_bf_check(md_tuple_get(args, 0), "map()", e) < 0)
        return NULL;
    lazy *lz = open_over(LZ_MAP, args, 1, b, e);
    if (lz)
        lz->fn = md_tuple_get(args, 0);
    return lz;
}

static lazy *open_filter(const md_val *args, budget *b, md_pyerr *e)
{
    if (md_tuple_len(args) != 2) {
        md_pyerr_set(e, "TypeError", "filter expected 2 arguments, got %zu", md_tuple_len(args));
        return NULL;
    }
    const md_val *fn = md_tuple_get(args, 0);
    bool plain = md_typeof(fn) == MD_T_NONE ||
                 (md_typeof(fn) == MD_T_GLOBAL && md_global_is(fn, "builtins", "bool"));
    if (!plain && md_bf_check(fn, "filter()", e) < 0)
        return NULL;
    lazy *lz = open_over(LZ_FILTER, args, 1, b, e);
    if (lz)
        lz->fn = plain ? NULL : fn;
    return lz;
}

static lazy *open_enumerate(const md_val *args, budget *b, md_pyerr *e)
{
    size_t n = md_tuple_len(args);
    int64_t start = 0;
    if (n < 1 || n > 2) {
        md_pyerr_set(e, "TypeError", "enumerate() takes at most 2 arguments (%zu given)", n);
        return NULL;
    }
    int r = n == 2 ? md_cu_int(md_tuple_get(args, 1), &start) : 0;
    if (r < 0)
        md_pyerr_set(e, "TypeError", "'%s' object cannot be interpreted as an integer",
                     md_type_name(md_tuple_get(args, 1)));
    else if (r > 0)
        md_pyerr_set(e, "OverflowError", "%s", enumerate_too_big);
    if (r != 0)
        return NULL;
    lazy *lz = lz_new(LZ_ENUM, 1, e);
    if (lz && !(lz->subs[0] = lz_open(md_tuple_get(args, 0), b, e))) {
        lz_free(lz);
        return NULL;
    }
    if (lz)
        lz->index = start;
    return lz;
}

static md_val *collect(lazy *lz, budget *b, md_pyerr *e);

/* collections.deque(iterable, maxlen) plus the items appended to it:
 * Python 3 pickles deque((), maxlen) then APPENDS, Python 2 deque(list). */
static lazy *open_deque(const md_val *o, const md_val *args, budget *b, md_pyerr *e)
{
    size_t n = md_tuple_len(args);
    int64_t maxlen = -1;
    if (n > 2 || (n == 2 && md_typeof(md_tuple_get(args, 1)) != MD_T_NONE &&
                  md_cu_int(md_tuple_get(args, 1), &maxlen) != 0)) {
        md_pyerr_set(e, "TypeError", "malformed collections.deque value");
        return NULL;
    }
    md_val *items = md_list_new(0);
    if (!items) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return NULL;
    }
    const md_val *extra = md_opaque_listitems(o);
    lazy *src = n ? lz_open(md_tuple_get(args, 0), b, e) : NULL;
    md_val *first = src ? collect(src, b, e) : n ? NULL : md_list_new(0);
    lz_free(src);
    for (size_t i = 0; first && i < md_list_len(first) + (extra ? md_list_len(extra) : 0); i++) {
        size_t nf = md_list_len(first);
        if (md_list_append(items, i < nf ? md_list_get(first, i) : md_list_get(extra, i - nf)) < 0) {
            md_pyerr_set(e, "MemoryError", "out of memory");
            md_decref(first);
            first = NULL;
        }
    }
    if (!first) {
        md_decref(items);
        return NULL;
    }
    md_decref(first);
    lazy *lz = seq_of(items, e);
    /* a bounded deque keeps the last maxlen items appended */
    if (lz && maxlen >= 0 && md_list_len(items) > (size_t)maxlen)
        lz->pos = md_list_len(items) - (size_t)maxlen;
    return lz;
}

/* iter(deque) and reversed(deque) at a position: _deque_iterator(deque,
 * index) in _collections (3.6-3.11) or collections (3.12+). NULL with
 * e->type NULL when fn is neither. */
static lazy *open_deque_iterator(const md_val *fn, const md_val *args, budget *b, md_pyerr *e)
{
    const char *module = md_global_module(fn);
    if (strcmp(module, "collections") != 0 && strcmp(module, "_collections") != 0)
        return NULL;
    bool reverse = strcmp(md_global_name(fn), "_deque_reverse_iterator") == 0;
    if (!reverse && strcmp(md_global_name(fn), "_deque_iterator") != 0)
        return NULL;
    int64_t index = 0;
    if (md_tuple_len(args) != 2 || md_cu_int(md_tuple_get(args, 1), &index) != 0) {
        md_pyerr_set(e, "TypeError", "malformed %s value", md_global_name(fn));
        return NULL;
    }
    lazy *src = lz_open(md_tuple_get(args, 0), b, e);
    lazy *lz = src ? seq_of(collect(src, b, e), e) : NULL;
    lz_free(src);
    if (!lz)
        return NULL;
    size_t len = md_list_len(lz->items);
    size_t skip = index <= 0 ? 0 : (uint64_t)index > len ? len : (size_t)index;
    if (reverse) {
        lz->kind = LZ_REV;
        lz->pos = len - skip;
    } else {
        lz->pos = skip;
    }
    return lz;
}

/* The lazy node for an allow-listed shape; NULL with e->type NULL when
 * v is not one. */
static lazy *recognise(const md_val *v, budget *b, md_pyerr *e)
{
    if (md_typeof(v) != MD_T_OPAQUE || md_opaque_kind_of(v) != MD_OPQ_REDUCE)
        return NULL;
    const md_val *fn = md_opaque_callable(v);
    const md_val *args = md_opaque_args(v);
    const md_val *state = md_opaque_state(v);
    lazy *lz;
    if (md_typeof(fn) != MD_T_GLOBAL || md_typeof(args) != MD_T_TUPLE)
        return NULL;
    if (md_global_is(fn, "collections", "deque"))
        return open_deque(v, args, b, e);
    if ((lz = open_deque_iterator(fn, args, b, e)) || e->type)
        return lz;
    if (strcmp(md_global_module(fn), "builtins") != 0)
        return NULL;
    const char *name = md_global_name(fn);
    size_t n = md_tuple_len(args);
    if (strcmp(name, "range") == 0)
        return open_range(args, e);
    if (strcmp(name, "iter") == 0 && n == 1) {
        lz = lz_open(md_tuple_get(args, 0), b, e);
        if (lz && skip_to(lz, state, b, e) < 0) {
            lz_free(lz);
            lz = NULL;
        }
        return lz;
    }
    if (strcmp(name, "reversed") == 0 && n == 1)
        return open_reversed(args, state, e);
    if (strcmp(name, "zip") == 0) {
        lz = open_over(LZ_ZIP, args, 0, b, e);
        if (lz)
            lz->strict = state && md_bf_truth(state);
        return lz;
    }
    if (strcmp(name, "enumerate") == 0)
        return open_enumerate(args, b, e);
    if (strcmp(name, "map") == 0)
        return open_map(args, b, e);
    if (strcmp(name, "filter") == 0)
        return open_filter(args, b, e);
    return NULL;
}

/* Any iterable: an allow-listed lazy shape, or what md_cu_items reads. */
static lazy *lz_open(const md_val *v, budget *b, md_pyerr *e)
{
    lazy *lz = recognise(v, b, e);
    if (lz || e->type)
        return lz;
    return seq_of(md_cu_items(v, e), e);
}

static md_val *collect(lazy *lz, budget *b, md_pyerr *e)
{
    /* fail at once for what is known to be too long: list(range(10**12)) */
    if (lz->kind == LZ_RANGE && lz->count - lz->done > step_limit) {
        too_long(e);
        return NULL;
    }
    md_val *out = md_list_new(0);
    if (!out) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return NULL;
    }
    for (;;) {
        md_val *x;
        int r = lz_next(lz, b, &x, e);
        if (r < 0 || (r > 0 && md_list_append_steal(out, x) < 0)) {
            if (r > 0)
                md_pyerr_set(e, "MemoryError", "out of memory");
            md_decref(out);
            return NULL;
        }
        if (r == 0)
            return out;
    }
}

md_val *md_it_items(const md_val *v, md_pyerr *e)
{
    budget b = {0};
    lazy *lz = recognise(v, &b, e);
    if (!lz) {
        if (!e->type)
            md_pyerr_set(e, "TypeError", "'%s' object is not iterable", md_type_name(v));
        return NULL;
    }
    md_val *out = collect(lz, &b, e);
    lz_free(lz);
    return out;
}
