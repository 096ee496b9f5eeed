/* containers_util.c - helpers the container types share: iterating plain
 * values as Python does, slice arithmetic (slice.indices), array.array
 * items and their wire forms. See containers_util.h. */
#include "core/types/containers_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/types/iterables.h"

/* ====================================================================== */
/* UTF-8                                                                   */
/* ====================================================================== */

uint32_t md_cu_utf8_next(const uint8_t *s, size_t n, size_t *i)
{
    uint8_t c = s[*i];
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (*i + len > n)
        len = n - *i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k < len; k++)
        cp = cp << 6 | (s[*i + k] & 0x3Fu);
    *i += len;
    return cp;
}

size_t md_cu_utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static md_val *char_value(uint32_t cp, bool py2)
{
    char buf[4];
    size_t n = md_cu_utf8_put(cp, buf);
    return py2 && cp < 0x80 ? md_str_new_py2(buf, n) : md_str_new(buf, n);
}

/* ====================================================================== */
/* Iteration                                                               */
/* ====================================================================== */

static bool append_steal(md_val *list, md_val *item)
{
    return item && md_list_append_steal(list, item) == 0;
}

static md_val *nomem(md_val *partial, md_pyerr *e)
{
    md_decref(partial);
    md_pyerr_set(e, "MemoryError", "out of memory");
    return NULL;
}

static bool is_opaque_of(const md_val *v, const char *module, const char *name)
{
    return md_typeof(v) == MD_T_OPAQUE && md_typeof(md_opaque_callable(v)) == MD_T_GLOBAL &&
           md_global_is(md_opaque_callable(v), module, name);
}

/* The dict subclasses of collections, as they pickle: OrderedDict and
 * defaultdict(factory) carry their items as SETITEMS, Counter as its one
 * argument, a dict. */
bool md_cu_mapping(const md_val *v, const md_val **dict, const md_val **pairs)
{
    *dict = NULL;
    *pairs = NULL;
    if (md_typeof(v) == MD_T_DICT) {
        *dict = v;
        return true;
    }
    if (is_opaque_of(v, "collections", "OrderedDict") ||
        is_opaque_of(v, "collections", "defaultdict")) {
        *pairs = md_opaque_dictitems(v);
        return true;
    }
    if (is_opaque_of(v, "collections", "Counter")) {
        const md_val *args = md_opaque_args(v);
        if (md_typeof(args) == MD_T_TUPLE && md_tuple_len(args) == 1 &&
            md_typeof(md_tuple_get(args, 0)) == MD_T_DICT)
            *dict = md_tuple_get(args, 0);
        else
            *pairs = md_opaque_dictitems(v);
        return true;
    }
    return false;
}

static md_val *str_chars(const md_val *v, md_pyerr *e)
{
    const uint8_t *s = (const uint8_t *)md_str_data(v);
    size_t n = md_str_nbytes(v);
    md_val *out = md_list_new(md_str_len(v));
    if (!out)
        return nomem(NULL, e);
    bool py2 = md_str_is_py2(v);
    for (size_t i = 0; i < n;)
        if (!append_steal(out, char_value(md_cu_utf8_next(s, n, &i), py2)))
            return nomem(out, e);
    return out;
}

md_val *md_cu_items(const md_val *v, md_pyerr *e)
{
    md_val *out = NULL;
    size_t pos = 0, nseq;
    md_val *k, *x;
    md_val *const *seq = md_seq_items(v, &nseq);
    if (seq) {
        if (!(out = md_list_new(nseq)))
            return nomem(NULL, e);
        for (size_t i = 0; i < nseq; i++)
            if (md_list_append(out, seq[i]) < 0)
                return nomem(out, e);
        return out;
    }
    switch (md_typeof(v)) {
    case MD_T_SET:
    case MD_T_FROZENSET:
        if (!(out = md_list_new(md_set_len(v))))
            return nomem(NULL, e);
        while (md_set_next(v, &pos, &x))
            if (md_list_append(out, x) < 0)
                return nomem(out, e);
        return out;
    case MD_T_DICT:
        if (!(out = md_list_new(md_dict_len(v))))
            return nomem(NULL, e);
        while (md_dict_next(v, &pos, &k, &x))
            if (md_list_append(out, k) < 0)
                return nomem(out, e);
        return out;
    case MD_T_STR:
        return str_chars(v, e);
    case MD_T_BYTES:
    case MD_T_BYTEARRAY:
        if (!(out = md_list_new(md_bytes_len(v))))
            return nomem(NULL, e);
        for (size_t i = 0; i < md_bytes_len(v); i++)
            if (!append_steal(out, md_int_from_i64(md_bytes_data(v)[i])))
                return nomem(out, e);
        return out;
    case MD_T_OPAQUE: {
        char code;
        const md_val *dict, *pairs;
        if (md_cu_array_decode(v, &code, &out, e))
            return out;
        if (md_cu_mapping(v, &dict, &pairs)) {
            if (dict)
                return md_cu_items(dict, e);
            size_t n = pairs ? md_list_len(pairs) : 0;
            if (!(out = md_list_new(n)))
                return nomem(NULL, e);
            for (size_t i = 0; i < n; i++)
                if (md_list_append(out, md_tuple_get(md_list_get(pairs, i), 0)) < 0)
                    return nomem(out, e);
            return out;
        }
        /* range, zip, map, iter(...), deque, ...: evaluated from an allow-list */
        return md_it_items(v, e);
    }
    default:
        break;
    }
    md_pyerr_set(e, "TypeError", "'%s' object is not iterable", md_type_name(v));
    return NULL;
}

/* ====================================================================== */
/* Indexes and slices                                                      */
/* ====================================================================== */

int md_cu_int(const md_val *v, int64_t *out)
{
    md_vtype t = md_typeof(v);
    if (t == MD_T_BOOL) {
        *out = md_bool_get(v);
        return 0;
    }
    if (t != MD_T_INT)
        return -1;
    if (md_int_to_i64(v, out) == 0)
        return 0;
    *out = md_int_sign(v) < 0 ? INT64_MIN : INT64_MAX;
    return 1;
}

/* A slice bound: None keeps dflt; ints beyond int64 clamp (Python clamps
 * them to PY_SSIZE_T_MIN/MAX). */
static int slice_bound(const md_val *v, int64_t dflt, int64_t *out, md_pyerr *e)
{
    if (!v || md_typeof(v) == MD_T_NONE) {
        *out = dflt;
        return 0;
    }
    if (md_cu_int(v, out) < 0) {
        md_pyerr_set(e, "TypeError",
                     "slice indices must be integers or None or have an __index__ method");
        return -1;
    }
    return 0;
}

static int64_t adjust(int64_t i, int64_t length, int64_t step)
{
    if (i < 0) {
        i += length;
        if (i < 0)
            i = step < 0 ? -1 : 0;
    } else if (i >= length) {
        i = step < 0 ? length - 1 : length;
    }
    return i;
}

int md_cu_slice_indices(const md_val *slice, size_t length, md_cu_slice *out, md_pyerr *e)
{
    int64_t step, start, stop;
    if (slice_bound(md_slice_step(slice), 1, &step, e) < 0)
        return -1;
    if (step == 0) {
        md_pyerr_set(e, "ValueError", "slice step cannot be zero");
        return -1;
    }
    if (step < -INT64_MAX)
        step = -INT64_MAX; /* so that -step is representable, as CPython does */
    if (slice_bound(md_slice_start(slice), step < 0 ? INT64_MAX : 0, &start, e) < 0 ||
        slice_bound(md_slice_stop(slice), step < 0 ? INT64_MIN : INT64_MAX, &stop, e) < 0)
        return -1;
    int64_t len = (int64_t)length;
    start = adjust(start, len, step);
    stop = adjust(stop, len, step);
    uint64_t count = 0;
    if (step < 0 && stop < start)
        count = (uint64_t)(start - stop - 1) / (uint64_t)(-step) + 1;
    else if (step > 0 && start < stop)
        count = (uint64_t)(stop - start - 1) / (uint64_t)step + 1;
    out->start = start;
    out->stop = stop;
    out->step = step;
    out->count = (size_t)count;
    return 0;
}

void md_cu_clamp_simple(int64_t i, int64_t j, size_t length, size_t *lo, size_t *hi)
{
    int64_t len = (int64_t)length;
    if (i < 0)
        i = 0;
    else if (i > len)
        i = len;
    if (j < i)
        j = i;
    else if (j > len)
        j = len;
    *lo = (size_t)i;
    *hi = (size_t)j;
}

/* ====================================================================== */
/* Misc                                                                    */
/* ====================================================================== */

md_val *md_cu_not_implemented(void)
{
    return md_global_new("builtins", "NotImplemented");
}

md_val *md_cu_reduce(const char *module, const char *name, md_val *args)
{
    md_val *g = args ? md_global_new(module, name) : NULL;
    md_val *o = g ? md_opaque_new(MD_OPQ_REDUCE, g, args) : NULL;
    md_decref(g);
    md_decref(args);
    return o;
}

md_val *md_cu_iter_value(md_val *items, int protocol)
{
    if (!items || protocol == 0)
        return items;
    md_val *args = md_tuple_pack(1, items);
    md_decref(items);
    return md_cu_reduce("builtins", "iter", args);
}

int md_cu_append_new(md_val *list, md_val *item)
{
    return item ? md_list_append_steal(list, item) : -1;
}

md_val *md_cu_list_copy(const md_val *l)
{
    size_t n = md_list_len(l);
    md_val *out = md_list_new(n);
    for (size_t i = 0; out && i < n; i++)
        if (md_list_append(out, md_list_get(l, i)) < 0) {
            md_decref(out);
            out = NULL;
        }
    return out;
}

md_val *md_cu_dict_copy(const md_val *d)
{
    return md_dict_copy(d);
}

int md_cu_raise_key(md_call *call, md_val *key)
{
    return md_raise_val(call, md_exc_make("builtins", "KeyError", 1, key));
}

int md_cu_raise_attribute_error(md_call *call, md_val *name, md_val *msg, bool with_state)
{
    md_val *args = md_tuple_pack(1, msg);
    md_val *cls = md_global_new("builtins", "AttributeError");
    md_val *state = NULL;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (args && with_state) {
        md_val *kname = md_str_from_cstr("name"), *kargs = md_str_from_cstr("args");
        state = md_dict_new();
        if (!kname || !kargs || !state || md_dict_set(state, kname, name, &e) < 0 ||
            md_dict_set(state, kargs, args, &e) < 0) {
            md_decref(state);
            state = NULL;
        }
        md_decref(kname);
        md_decref(kargs);
    }
    md_val *exc = args && cls && (state || !with_state) ? md_exc_new(cls, args, state) : NULL;
    md_decref(args);
    md_decref(cls);
    md_decref(state);
    return md_raise_val(call, exc);
}

int md_cu_int_to_double(const md_val *v, double *out, md_pyerr *e)
{
    int64_t i;
    int r = md_cu_int(v, &i);
    if (r == 0) {
        *out = (double)i; /* correctly rounded, as float(int) is */
        return 0;
    }
    /* Beyond int64: glibc's strtod rounds the decimal text correctly
     * (half to even, as CPython's int-to-float does). */
    md_buf b = MD_BUF_INIT;
    if (md_int_to_decimal(v, &b) < 0 || md_buf_putc(&b, 0) < 0) {
        md_buf_free(&b);
        md_pyerr_set(e, "MemoryError", "out of memory");
        return -1;
    }
    errno = 0;
    double d = strtod((const char *)b.data, NULL);
    md_buf_free(&b);
    if (isinf(d)) {
        md_pyerr_set(e, "OverflowError", "int too large to convert to float");
        return -1;
    }
    *out = d;
    return 0;
}

void md_cu_val_finalize(md_obj *self)
{
    md_decref(MD_CU_VAL(self));
    MD_CU_VAL(self) = NULL;
}

int md_cu_val_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    return md_val_repr(MD_CU_VAL(self), out, e);
}

md_val *md_cu_val_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)call;
    (void)e;
    return md_incref(MD_CU_VAL(self));
}

md_val *md_cu_managers_instance(const char *name, md_val *state, md_pyerr *e)
{
    md_val *cls = md_global_new("multiprocessing.managers", name);
    md_val *noargs = md_tuple_new(0);
    md_val *o = cls && noargs ? md_opaque_new(MD_OPQ_NEWOBJ, cls, noargs) : NULL;
    md_decref(cls);
    md_decref(noargs);
    if (o && md_dict_len(state))
        md_opaque_set_state_steal(o, state);
    else
        md_decref(state);
    if (!o)
        md_pyerr_set(e, "MemoryError", "out of memory");
    return o;
}

/* ====================================================================== */
/* array.array items                                                       */
/* ====================================================================== */

static const md_cu_typecode typecodes[] = {
    {'b', 1, true, false, false},  {'B', 1, false, false, false},
    {'u', 4, false, false, true},  {'w', 4, false, false, true},
    {'h', 2, true, false, false},  {'H', 2, false, false, false},
    {'i', 4, true, false, false},  {'I', 4, false, false, false},
    {'l', 8, true, false, false},  {'L', 8, false, false, false},
    {'q', 8, true, false, false},  {'Q', 8, false, false, false},
    {'f', 4, true, true, false},   {'d', 8, true, true, false},
    {'c', 1, false, false, true},
};

const md_cu_typecode *md_cu_typecode_of(char code)
{
    for (size_t i = 0; i < sizeof typecodes / sizeof typecodes[0]; i++)
        if (typecodes[i].code == code)
            return &typecodes[i];
    return NULL;
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t u = 0;
    for (size_t i = n; i-- > 0;)
        u = u << 8 | p[i];
    return u;
}

static void store_le(uint8_t *p, size_t n, uint64_t u)
{
    for (size_t i = 0; i < n; i++, u >>= 8)
        p[i] = (uint8_t)u;
}

md_val *md_cu_item_load(const md_cu_typecode *t, const uint8_t *p)
{
    uint64_t u = load_le(p, t->itemsize);
    if (t->code == 'c') {
        char c = (char)u;
        return u < 0x80 ? md_str_new_py2(&c, 1) : md_bytes_new_py2(&c, 1);
    }
    if (t->is_char)
        return char_value((uint32_t)u, false);
    if (t->is_float) {
        if (t->itemsize == 4) {
            uint32_t bits = (uint32_t)u;
            float f;
            memcpy(&f, &bits, sizeof f);
            return md_float_new((double)f);
        }
        double d;
        memcpy(&d, &u, sizeof d);
        return md_float_new(d);
    }
    if (!t->is_signed)
        return md_int_from_u64(u);
    unsigned shift = 64u - 8u * t->itemsize;
    /* sign-extend from itemsize bytes */
    int64_t s = (int64_t)(u << shift) >> shift;
    return md_int_from_i64(s);
}

/* v as an unsigned 64-bit value: 0, or -1 if it does not fit (v >= 0). */
static int fits_u64(const md_val *v, uint64_t *out)
{
    size_t n = md_int_le_size(v);
    if (n > 9)
        return -1;
    uint8_t b[9] = {0};
    md_int_to_le(v, b, n);
    if (n == 9 && b[8] != 0)
        return -1;
    *out = load_le(b, 8);
    return 0;
}

/* Range checks with the wording of each array typecode (arraymodule.c
 * parses through PyArg_Parse formats, whose messages differ). */
static int store_int(const md_cu_typecode *t, const md_val *v, uint8_t *p, md_pyerr *e)
{
    int64_t i;
    int r = md_cu_int(v, &i);
    if (r < 0) {
        md_pyerr_set(e, "TypeError", "'%s' object cannot be interpreted as an integer",
                     md_type_name(v));
        return -1;
    }
    bool neg = i < 0; /* also right when r == 1: i is clamped by sign */
    const char *too_long = "Python int too large to convert to C long";
    const char *msg = NULL;
    switch (t->code) {
    case 'b':
        if (r)
            msg = too_long;
        else if (i > SHRT_MAX)
            msg = "signed short integer is greater than maximum";
        else if (i < SHRT_MIN)
            msg = "signed short integer is less than minimum";
        else if (i > 127)
            msg = "signed char is greater than maximum";
        else if (i < -128)
            msg = "signed char is less than minimum";
        break;
    case 'B':
        if (r)
            msg = too_long;
        else if (i < 0)
            msg = "unsigned byte integer is less than minimum";
        else if (i > 255)
            msg = "unsigned byte integer is greater than maximum";
        break;
    case 'h':
        if (r)
            msg = too_long;
        else if (i > SHRT_MAX)
            msg = "signed short integer is greater than maximum";
        else if (i < SHRT_MIN)
            msg = "signed short integer is less than minimum";
        break;
    case 'H':
    case 'i':
        if (r)
            msg = too_long;
        else if (i > INT_MAX)
            msg = "signed integer is greater than maximum";
        else if (i < INT_MIN)
            msg = "signed integer is less than minimum";
        else if (t->code == 'H' && i < 0)
            msg = "unsigned short is less than minimum";
        else if (t->code == 'H' && i > 65535)
            msg = "unsigned short is greater than maximum";
        break;
    case 'l':
        if (r)
            msg = too_long;
        break;
    case 'q':
        if (r)
            msg = "int too big to convert";
        break;
    case 'I':
    case 'L':
    case 'Q': {
        uint64_t u = (uint64_t)i;
        if (neg)
            msg = t->code == 'Q' ? "can't convert negative int to unsigned"
                                 : "can't convert negative value to unsigned int";
        else if (r && fits_u64(v, &u) < 0)
            msg = t->code == 'Q' ? "int too big to convert"
                                 : "Python int too large to convert to C unsigned long";
        else if (t->code == 'I' && u > UINT32_MAX)
            msg = "unsigned int is greater than maximum";
        if (!msg)
            store_le(p, t->itemsize, u);
        break;
    }
    }
    if (msg) {
        md_pyerr_set(e, "OverflowError", "%s", msg);
        return -1;
    }
    if (t->code != 'I' && t->code != 'L' && t->code != 'Q')
        store_le(p, t->itemsize, (uint64_t)i);
    return 0;
}

static int store_float(const md_cu_typecode *t, const md_val *v, uint8_t *p, md_pyerr *e)
{
    double d;
    md_vtype vt = md_typeof(v);
    if (vt == MD_T_FLOAT) {
        d = md_float_get(v);
    } else if (vt == MD_T_INT || vt == MD_T_BOOL) {
        if (md_cu_int_to_double(v, &d, e) < 0)
            return -1;
    } else {
        md_pyerr_set(e, "TypeError", "must be real number, not %s", md_type_name(v));
        return -1;
    }
    if (t->itemsize == 4) {
        float f = (float)d; /* out of range becomes inf, as in CPython */
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        store_le(p, 4, bits);
    } else {
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        store_le(p, 8, bits);
    }
    return 0;
}

static int store_char(const md_cu_typecode *t, const md_val *v, uint8_t *p, md_pyerr *e)
{
    md_vtype vt = md_typeof(v);
    if (t->code == 'c') {
        /* Python 2's char array: a one-byte str */
        if (vt == MD_T_STR && md_str_nbytes(v) == 1) {
            p[0] = (uint8_t)md_str_data(v)[0];
            return 0;
        }
        if (vt == MD_T_BYTES && md_bytes_len(v) == 1) {
            p[0] = md_bytes_data(v)[0];
            return 0;
        }
        md_pyerr_set(e, "TypeError", "array item must be char");
        return -1;
    }
    if (vt != MD_T_STR || md_str_len(v) != 1) {
        md_pyerr_set(e, "TypeError", "array item must be unicode character");
        return -1;
    }
    size_t i = 0;
    store_le(p, 4, md_cu_utf8_next((const uint8_t *)md_str_data(v), md_str_nbytes(v), &i));
    return 0;
}

int md_cu_item_store(const md_cu_typecode *t, const md_val *v, uint8_t *p, md_pyerr *e)
{
    if (t->is_char)
        return store_char(t, v, p, e);
    if (t->is_float)
        return store_float(t, v, p, e);
    return store_int(t, v, p, e);
}

int md_cu_items_check(const md_cu_typecode *t, const uint8_t *p, size_t nitems, md_pyerr *e)
{
    if (t->code != 'u' && t->code != 'w')
        return 0;
    for (size_t i = 0; i < nitems; i++) {
        uint64_t cp = load_le(p + 4 * i, 4);
        if (cp > 0x10FFFF) {
            md_pyerr_set(e, "ValueError", "character U+%x is not in range [U+0000; U+10ffff]",
                         (unsigned)cp);
            return -1;
        }
    }
    return 0;
}

/* ---- array.array values as clients pickle them ------------------------ */

/* array._array_reconstructor's machine formats (arraymodule.c): size in
 * bytes and byte order, by code 0..21. UTF-16 (18, 19) is not an x86-64
 * Linux 'u' and is refused. */
static int mformat_size(int64_t mf, bool *big_endian)
{
    static const int8_t sizes[22] = {1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8,
                                     8, 8, 8, 4, 4, 8, 8, -1, -1, 4, 4};
    if (mf < 0 || mf > 21)
        return -1;
    *big_endian = mf >= 2 && (mf % 2) == 1;
    return sizes[mf];
}

static md_val *items_from_bytes(const md_cu_typecode *t, const uint8_t *data, size_t n,
                                bool big_endian, md_pyerr *e)
{
    if (n % t->itemsize) {
        md_pyerr_set(e, "ValueError", "bytes length not a multiple of item size");
        return NULL;
    }
    size_t count = n / t->itemsize;
    uint8_t tmp[8];
    md_val *out = md_list_new(count);
    if (!out)
        return nomem(NULL, e);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = data + i * t->itemsize;
        if (big_endian) {
            for (size_t k = 0; k < t->itemsize; k++)
                tmp[k] = p[t->itemsize - 1 - k];
            p = tmp;
        }
        if (md_cu_items_check(t, p, 1, e) < 0) {
            md_decref(out);
            return NULL;
        }
        if (!append_steal(out, md_cu_item_load(t, p)))
            return nomem(out, e);
    }
    return out;
}

static const md_cu_typecode *typecode_arg(const md_val *v)
{
    if (md_typeof(v) != MD_T_STR || md_str_nbytes(v) != 1)
        return NULL;
    return md_cu_typecode_of(md_str_data(v)[0]);
}

bool md_cu_array_decode(const md_val *v, char *code, md_val **items, md_pyerr *e)
{
    *items = NULL;
    if (md_typeof(v) != MD_T_OPAQUE || md_opaque_kind_of(v) != MD_OPQ_REDUCE)
        return false;
    const md_val *fn = md_opaque_callable(v);
    const md_val *args = md_opaque_args(v);
    if (md_typeof(fn) != MD_T_GLOBAL || md_typeof(args) != MD_T_TUPLE)
        return false;
    const md_val *data;
    const md_cu_typecode *t;
    bool big_endian = false;
    if (md_global_is(fn, "array", "array") && md_tuple_len(args) == 2) {
        t = typecode_arg(md_tuple_get(args, 0));
        data = md_tuple_get(args, 1);
    } else if (md_global_is(fn, "array", "_array_reconstructor") && md_tuple_len(args) == 4) {
        int64_t mf;
        t = typecode_arg(md_tuple_get(args, 1));
        data = md_tuple_get(args, 3);
        if (t && (md_cu_int(md_tuple_get(args, 2), &mf) != 0 ||
                  mformat_size(mf, &big_endian) != (int)t->itemsize)) {
            md_pyerr_set(e, "ValueError", "unsupported array machine format for typecode '%c'",
                         t->code);
            *code = t->code;
            return true;
        }
    } else {
        return false;
    }
    if (!t)
        return false;
    *code = t->code;
    switch (md_typeof(data)) {
    case MD_T_BYTES:
    case MD_T_BYTEARRAY:
        *items = items_from_bytes(t, md_bytes_data(data), md_bytes_len(data), big_endian, e);
        return true;
    case MD_T_STR:
        /* Python 2's array.array('c', 'ab') or an ASCII byte string */
        *items = items_from_bytes(t, (const uint8_t *)md_str_data(data), md_str_nbytes(data),
                                  big_endian, e);
        return true;
    case MD_T_LIST:
        *items = md_cu_list_copy(data);
        if (!*items)
            nomem(NULL, e);
        return true;
    default:
        md_pyerr_set(e, "TypeError", "malformed array.array value");
        return true;
    }
}
