/* array.c - the 'Array' shared type: multiprocessing.managers'
 * Array(typecode, sequence, lock=True), an array.array of numbers or
 * characters that ArrayProxy indexes and slices.
 *
 * Items are stored as array.array stores them on x86-64 Linux, which is
 * also what Python 3 clients send and expect: little-endian, b/B 1 byte,
 * h/H 2, i/I/f 4, l/L/q/Q/d 8, u/w 4 (a code point). Python 2's 'c'
 * (one byte) is accepted too. Arrays go back to clients as CPython sends
 * them: array.array(typecode, bytes) for Python 3 (managers.py's
 * reduce_array), array.array(typecode, [items]) for Python 2.7, and, for
 * XML-RPC clients, which have no arrays, the list of items.
 */
#include "core/types/containers_util.h"

#include <string.h>

#include "core/base/alloc.h"

typedef struct md_arrayobj {
    md_obj base;
    const md_cu_typecode *t;
    uint8_t *data;            /* len * t->itemsize bytes */
    size_t len;
} md_arrayobj;

#define ARR(o) ((md_arrayobj *)(o))

/* ====================================================================== */
/* Values                                                                  */
/* ====================================================================== */

static md_val *items_list(const md_cu_typecode *t, const uint8_t *data, size_t n)
{
    md_val *out = md_list_new(n);
    for (size_t i = 0; out && i < n; i++)
        if (md_cu_append_new(out, md_cu_item_load(t, data + i * t->itemsize)) < 0) {
            md_decref(out);
            out = NULL;
        }
    return out;
}

/* An array.array value of n items for a client of this protocol. */
static md_val *array_value(const md_cu_typecode *t, const uint8_t *data, size_t n, int protocol)
{
    if (protocol == 0)
        return items_list(t, data, n);
    char code = t->code;
    /* Python 2's array() wants a byte-string typecode. */
    md_val *tc = protocol == 2 ? md_str_new_py2(&code, 1) : md_str_new(&code, 1);
    md_val *payload = protocol == 2 ? items_list(t, data, n)
                                    : md_bytes_new(n ? data : (const uint8_t *)"", n * t->itemsize);
    md_val *args = tc && payload ? md_tuple_pack(2, tc, payload) : NULL;
    md_decref(tc);
    md_decref(payload);
    return args ? md_cu_reduce("array", "array", args) : NULL;
}

/* items (any values) to stored bytes, with array's messages. */
static uint8_t *pack_items(const md_cu_typecode *t, const md_val *items, md_pyerr *e)
{
    size_t n = md_list_len(items);
    uint8_t *data = md_malloc(n ? n * t->itemsize : 1);
    if (!data) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (md_cu_item_store(t, md_list_get(items, i), data + i * t->itemsize, e) < 0) {
            md_free(data);
            return NULL;
        }
    return data;
}

/* The stored bytes of an array.array value sent by a client, which must
 * have typecode t (slice assignment). NULL with the error raised. */
static uint8_t *array_arg(md_call *c, const md_val *v, const md_cu_typecode *t, size_t *n)
{
    char code;
    md_val *items = NULL;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (!md_cu_array_decode(v, &code, &items, &e)) {
        md_raise(c, "builtins", "TypeError", "can only assign array (not \"%s\") to array slice",
                 md_type_name(v));
        return NULL;
    }
    uint8_t *data = NULL;
    if (!items)
        md_raise_pyerr(c, &e);
    else if (code != t->code)
        md_raise(c, "builtins", "TypeError", "bad argument type for built-in operation");
    else if (!(data = pack_items(t, items, &e)))
        md_raise_pyerr(c, &e);
    *n = items ? md_list_len(items) : 0;
    md_decref(items);
    return data;
}

/* ====================================================================== */
/* Indexes                                                                 */
/* ====================================================================== */

/* 0 int index in *pos; 1 a slice; -1 raised. */
static int array_index(md_call *c, const md_val *idx, size_t *pos, const char *range_msg)
{
    int64_t i;
    int r = md_cu_int(idx, &i);
    if (r < 0) {
        if (md_typeof(idx) == MD_T_SLICE)
            return 1;
        md_raise(c, "builtins", "TypeError", "array indices must be integers");
        return -1;
    }
    if (r > 0) {
        md_raise(c, "builtins", "IndexError", "cannot fit 'int' into an index-sized integer");
        return -1;
    }
    int64_t len = (int64_t)ARR(c->self)->len;
    if (i < 0)
        i += len;
    if (i < 0 || i >= len) {
        md_raise(c, "builtins", "IndexError", "%s", range_msg);
        return -1;
    }
    *pos = (size_t)i;
    return 0;
}

/* The items a slice selects, as a new array value. */
static md_val *slice_value(md_call *c, const md_cu_slice *s)
{
    md_arrayobj *a = ARR(c->self);
    size_t isz = a->t->itemsize;
    uint8_t *buf = md_malloc(s->count ? s->count * isz : 1);
    if (!buf)
        return NULL;
    for (size_t k = 0; k < s->count; k++)
        memcpy(buf + k * isz, a->data + md_cu_slice_at(s, k) * isz, isz);
    md_val *v = array_value(a->t, buf, s->count, c->protocol);
    md_free(buf);
    return v;
}

/* a[lo:hi] = n items of data (the array may grow or shrink). */
static int replace_range(md_call *c, size_t lo, size_t hi, const uint8_t *data, size_t n)
{
    md_arrayobj *a = ARR(c->self);
    size_t isz = a->t->itemsize;
    size_t len = a->len - (hi - lo) + n;
    uint8_t *fresh = md_malloc(len ? len * isz : 1);
    if (!fresh)
        return md_return(c, NULL);
    memcpy(fresh, a->data, lo * isz);
    if (n)
        memcpy(fresh + lo * isz, data, n * isz);
    memcpy(fresh + (lo + n) * isz, a->data + hi * isz, (a->len - hi) * isz);
    md_free(a->data);
    a->data = fresh;
    a->len = len;
    return md_return_none(c);
}

/* ====================================================================== */
/* Methods                                                                 */
/* ====================================================================== */

static int a_len(md_call *c)
{
    return md_return_int(c, (int64_t)ARR(c->self)->len);
}

static int a_getitem(md_call *c)
{
    md_arrayobj *a = ARR(c->self);
    size_t pos;
    int r = array_index(c, c->argv[0], &pos, "array index out of range");
    if (r < 0)
        return MD_CALL_DONE;
    if (r == 0)
        return md_return(c, md_cu_item_load(a->t, a->data + pos * a->t->itemsize));
    md_cu_slice s;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_cu_slice_indices(c->argv[0], a->len, &s, &e) < 0)
        return md_raise_pyerr(c, &e);
    return md_return(c, slice_value(c, &s));
}

static int a_setitem(md_call *c)
{
    md_arrayobj *a = ARR(c->self);
    size_t isz = a->t->itemsize;
    size_t pos;
    md_pyerr e;
    md_pyerr_clear(&e);
    int r = array_index(c, c->argv[0], &pos, "array assignment index out of range");
    if (r < 0)
        return MD_CALL_DONE;
    if (r == 0) {
        uint8_t item[8];
        if (md_cu_item_store(a->t, c->argv[1], item, &e) < 0)
            return md_raise_pyerr(c, &e);
        memcpy(a->data + pos * isz, item, isz);
        return md_return_none(c);
    }
    md_cu_slice s;
    if (md_cu_slice_indices(c->argv[0], a->len, &s, &e) < 0)
        return md_raise_pyerr(c, &e);
    size_t n;
    uint8_t *data = array_arg(c, c->argv[1], a->t, &n);
    if (!data)
        return MD_CALL_DONE;
    int rc;
    if (s.step == 1) {
        size_t lo = (size_t)s.start, hi = s.stop < s.start ? lo : (size_t)s.stop;
        rc = replace_range(c, lo, hi, data, n);
    } else if (n != s.count) {
        rc = md_raise(c, "builtins", "ValueError",
                      "attempt to assign array of size %zu to extended slice of size %zu", n,
                      s.count);
    } else {
        for (size_t k = 0; k < n; k++)
            memcpy(a->data + md_cu_slice_at(&s, k) * isz, data + k * isz, isz);
        rc = md_return_none(c);
    }
    md_free(data);
    return rc;
}

/* Python 2.7's a[i:j] and a[i:j] = b. */
static int simple_bounds(md_call *c, size_t *lo, size_t *hi)
{
    int64_t i, j;
    if (md_arg_index(c, 0, 0, &i) < 0 || md_arg_index(c, 1, 0, &j) < 0)
        return -1;
    md_cu_clamp_simple(i, j, ARR(c->self)->len, lo, hi);
    return 0;
}

static int a_getslice(md_call *c)
{
    size_t lo, hi;
    if (simple_bounds(c, &lo, &hi) < 0)
        return MD_CALL_DONE;
    md_cu_slice s = {(int64_t)lo, (int64_t)hi, 1, hi - lo};
    return md_return(c, slice_value(c, &s));
}

static int a_setslice(md_call *c)
{
    size_t lo, hi, n;
    if (simple_bounds(c, &lo, &hi) < 0)
        return MD_CALL_DONE;
    uint8_t *data = array_arg(c, c->argv[2], ARR(c->self)->t, &n);
    if (!data)
        return MD_CALL_DONE;
    int rc = replace_range(c, lo, hi, data, n);
    md_free(data);
    return rc;
}

/* ====================================================================== */
/* Construction                                                            */
/* ====================================================================== */

static const md_cu_typecode *typecode_arg(md_call *c, const md_val *v)
{
    if (md_typeof(v) != MD_T_STR || md_str_len(v) != 1) {
        md_raise(c, "builtins", "TypeError", "array() argument 1 must be a unicode character, not %s",
                 md_type_name(v));
        return NULL;
    }
    const md_cu_typecode *t = md_str_nbytes(v) == 1 ? md_cu_typecode_of(md_str_data(v)[0]) : NULL;
    /* 'c' is Python 2's character array; Python 3 has none (its client
     * could not read such an array back). */
    if (t && t->code == 'c' && c->protocol != 2)
        t = NULL;
    if (!t)
        md_raise(c, "builtins", "ValueError",
                 "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
    return t;
}

/* array.array(typecode, initializer): bytes are raw items (frombytes), a
 * str fills a character array, an array or any iterable gives items. */
static uint8_t *initial_items(md_call *c, const md_cu_typecode *t, const md_val *init, size_t *n)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    md_vtype vt = md_typeof(init);
    md_val *items = NULL;
    char code;
    /* bytes: raw items (frombytes); Python 2's array('c', 'text'): the
     * bytes of the text. */
    bool raw_bytes = vt == MD_T_BYTES || vt == MD_T_BYTEARRAY;
    if (raw_bytes || (vt == MD_T_STR && t->code == 'c')) {
        const uint8_t *src = raw_bytes ? md_bytes_data(init) : (const uint8_t *)md_str_data(init);
        size_t nbytes = raw_bytes ? md_bytes_len(init) : md_str_nbytes(init);
        if (nbytes % t->itemsize) {
            md_raise(c, "builtins", "ValueError", "bytes length not a multiple of item size");
            return NULL;
        }
        *n = nbytes / t->itemsize;
        if (md_cu_items_check(t, src, *n, &e) < 0) {
            md_raise_pyerr(c, &e);
            return NULL;
        }
        uint8_t *data = md_malloc(nbytes ? nbytes : 1);
        if (!data) {
            md_raise_noargs(c, "builtins", "MemoryError");
            return NULL;
        }
        if (nbytes)
            memcpy(data, src, nbytes);
        return data;
    }
    if (vt == MD_T_STR && !t->is_char) {
        md_raise(c, "builtins", "TypeError",
                 "cannot use a str to initialize an array with typecode '%c'", t->code);
        return NULL;
    }
    if (md_cu_array_decode(init, &code, &items, &e)) {
        if (items && (code == 'u' || code == 'w') && !(t->code == 'u' || t->code == 'w')) {
            md_decref(items);
            md_raise(c, "builtins", "TypeError",
                     "cannot use a unicode array to initialize an array with typecode '%c'",
                     t->code);
            return NULL;
        }
    } else {
        items = md_cu_items(init, &e);
    }
    if (!items) {
        if (e.type)
            md_raise_pyerr(c, &e);
        else
            md_raise_noargs(c, "builtins", "MemoryError");
        return NULL;
    }
    uint8_t *data = pack_items(t, items, &e);
    *n = md_list_len(items);
    md_decref(items);
    if (!data)
        md_raise_pyerr(c, &e);
    return data;
}

static int array_init(md_call *c)
{
    const md_cu_typecode *t = typecode_arg(c, c->argv[0]);
    if (!t)
        return MD_CALL_DONE;
    size_t n = 0;
    uint8_t *data = initial_items(c, t, c->argv[1], &n);
    if (!data)
        return MD_CALL_DONE;
    md_arrayobj *a = ARR(c->self);
    a->t = t;
    a->data = data;
    a->len = n;
    return md_return_none(c);
}

static void array_finalize(md_obj *self)
{
    md_free(ARR(self)->data);
    ARR(self)->data = NULL;
    ARR(self)->len = 0;
}

/* array('i', [1, 2]), array('u', 'ab'), array('i') when empty. */
static int array_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    md_arrayobj *a = ARR(self);
    md_buf_printf(out, "array('%c'", a->t->code);
    if (a->len) {
        md_val *shown;
        md_buf_puts(out, ", ");
        if (a->t->is_char) {
            /* the items joined as one str (c: each byte a code point) */
            md_buf text = MD_BUF_INIT;
            md_val *items = items_list(a->t, a->data, a->len);
            for (size_t i = 0; items && i < a->len; i++) {
                md_val *it = md_list_get(items, i);
                if (a->t->code == 'c') {
                    uint8_t byte = a->data[i];
                    if (byte < 0x80)
                        md_buf_putc(&text, byte);
                    else
                        md_buf_printf(&text, "%c%c", 0xC0 | byte >> 6, 0x80 | (byte & 0x3F));
                } else {
                    md_buf_append(&text, md_str_data(it), md_str_nbytes(it));
                }
            }
            shown = items && !md_buf_failed(&text)
                        ? md_str_new(text.len ? (const char *)text.data : "", text.len)
                        : NULL;
            md_decref(items);
            md_buf_free(&text);
        } else {
            shown = items_list(a->t, a->data, a->len);
        }
        if (!shown || md_val_repr(shown, out, e) < 0) {
            md_decref(shown);
            if (!e->type)
                md_pyerr_set(e, "MemoryError", "out of memory");
            return -1;
        }
        md_decref(shown);
    }
    md_buf_puts(out, ")");
    if (md_buf_failed(out)) {
        md_pyerr_set(e, "MemoryError", "out of memory");
        return -1;
    }
    return 0;
}

static md_val *array_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    md_arrayobj *a = ARR(self);
    md_val *v = array_value(a->t, a->data, a->len, call->protocol);
    if (!v)
        md_pyerr_set(e, "MemoryError", "out of memory");
    return v;
}

/* The rows' order is the exposed tuple's: 2.7's (3.x's plus the slice
 * methods). */
static const md_method array_methods[] = {
    {.name = "__len__", .fn = a_len},
    {.name = "__getitem__", .fn = a_getitem, .params = {"index"}, .min_args = 1, .max_args = 1},
    {.name = "__setitem__", .fn = a_setitem, .params = {"index", "value"}, .min_args = 2,
     .max_args = 2},
    {.name = "__getslice__", .fn = a_getslice, .params = {"i", "j"}, .min_args = 2,
     .max_args = 2},
    {.name = "__setslice__", .fn = a_setslice, .params = {"i", "j", "sequence"}, .min_args = 3,
     .max_args = 3},
    {.name = NULL},
};

const md_type md_type_array = {
    .name = "Array",
    .pyclass = "array",
    .size = sizeof(md_arrayobj),
    .methods = array_methods,
    .init = array_init,
    .ctor_params = {"typecode", "sequence", "lock"},
    .ctor_min = 2,
    .ctor_max = 3,
    .finalize = array_finalize,
    .repr = array_repr,
    .getvalue = array_getvalue,
};
