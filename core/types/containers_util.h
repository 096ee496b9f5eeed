/* containers_util.h - what the container types (dict, list, set, Array,
 * Iterator, Namespace, Value) share: Python's iteration of plain values,
 * slice and index arithmetic, array.array values on the wire, and the
 * object layouts the Iterator reads.
 *
 * Internal to core/types/; the prefix is md_cu_.
 */
#ifndef MD_TYPES_CONTAINERS_UTIL_H
#define MD_TYPES_CONTAINERS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/obj.h"

/* dict, list and set objects are one md_val each, mutated in place and
 * never replaced, so an Iterator can keep reading the same value. */
typedef struct md_cu_valobj {
    md_obj base;
    md_val *v;
} md_cu_valobj;

#define MD_CU_VAL(o) (((md_cu_valobj *)(o))->v)

/* The md_type hooks of such an object: finalize drops the value, repr is
 * the value's, and #GETVALUE is the value itself (a new reference: the
 * reply is encoded at once, before any later change to it). */
void md_cu_val_finalize(md_obj *self);
int md_cu_val_repr(md_obj *self, md_buf *out, md_pyerr *e);
md_val *md_cu_val_getvalue(md_obj *self, md_call *call, md_pyerr *e);

/* A multiprocessing.managers.<name> instance as Python pickles it: NEWOBJ
 * of the class with no arguments, then BUILD with state, a dict (stolen;
 * no BUILD when it is empty), for #GETVALUE of Namespace and Value. NULL
 * with MemoryError set when out of memory. */
md_val *md_cu_managers_instance(const char *name, md_val *state, md_pyerr *e);

/* ---- Iterator objects (core/types/iterator.c) ---------------------------- */

/* A new Iterator (refcount 0, for md_return_proxy) over the keys of a
 * dict object, live: it holds the dict and raises RuntimeError when the
 * dict changed size, as a dict_keyiterator does. NULL on ENOMEM. */
md_obj *md_iterator_over_dict(md_obj *dict);

/* ---- iteration ----------------------------------------------------------- */

/* The items `for x in v` yields, as a new list: list, tuple, set,
 * frozenset, dict (its keys), str (1-character strs), bytes and bytearray
 * (ints), an array.array value (its items), an OrderedDict, defaultdict
 * or Counter (its keys), and the lazy iterables of iterables.h (range,
 * zip, map, iter(...), deque, ...). Anything else: TypeError "'int'
 * object is not iterable". Every container takes its iterables here. */
md_val *md_cu_items(const md_val *v, md_pyerr *e);
/* Whether v is a mapping managerd can read: a dict, or an opaque
 * collections.OrderedDict, defaultdict or Counter. *dict gets a borrowed
 * dict, or *pairs a borrowed list of (key, value) tuples (both NULL when
 * it has no items). */
bool md_cu_mapping(const md_val *v, const md_val **dict, const md_val **pairs);

/* ---- indexes and slices -------------------------------------------------- */

/* An int or bool index. Returns 0 with *out set; 1 when it is an int too
 * big for int64 (*out is INT64_MAX or INT64_MIN by its sign); -1 when v is
 * not an int (the caller words the TypeError). */
int md_cu_int(const md_val *v, int64_t *out);

/* slice.indices(length) and the number of items the slice selects. */
typedef struct md_cu_slice {
    int64_t start, stop, step;
    size_t count;
} md_cu_slice;

/* 0, or -1 with Python's TypeError/ValueError in e. */
int md_cu_slice_indices(const md_val *slice, size_t length, md_cu_slice *out, md_pyerr *e);
/* The position of the k-th selected item. */
static inline size_t md_cu_slice_at(const md_cu_slice *s, size_t k)
{
    return (size_t)(s->start + (int64_t)k * s->step);
}
/* Python 2's __getslice__(i, j) clamping: 0 <= *lo <= *hi <= length. */
void md_cu_clamp_simple(int64_t i, int64_t j, size_t length, size_t *lo, size_t *hi);

/* ---- UTF-8 of str values ----------------------------------------------- */

/* The code point at s[*i] (str values are valid UTF-8, surrogates
 * included as 3 bytes), advancing *i. */
uint32_t md_cu_utf8_next(const uint8_t *s, size_t n, size_t *i);
/* cp as UTF-8 into out (4 bytes room); returns the length. */
size_t md_cu_utf8_put(uint32_t cp, char *out);

/* ---- misc ------------------------------------------------------------------- */

/* NotImplemented, the answer of a binary operator that does not know its
 * other operand (the client then tries the reflected operation). */
md_val *md_cu_not_implemented(void);
/* callable(*args) as an opaque REDUCE, e.g. builtins.iter([...]). args is
 * stolen. NULL on ENOMEM. */
md_val *md_cu_reduce(const char *module, const char *name, md_val *args);
/* An iterator the client rebuilds by itself: builtins.iter(list) for
 * pickle clients (what CPython pickles dict and set iterators as), the
 * plain list for XML-RPC clients (protocol 0), which have no iterators.
 * Steals items. */
md_val *md_cu_iter_value(md_val *items, int protocol);
/* Append a new value (stolen) to list: -1 if item is NULL (it failed to
 * be made) or the list cannot grow. */
int md_cu_append_new(md_val *list, md_val *item);
/* A new list of the same items (a shallow copy). */
md_val *md_cu_list_copy(const md_val *l);
/* A new dict of the same items. NULL on ENOMEM. */
md_val *md_cu_dict_copy(const md_val *d);
/* KeyError(key) as Python raises it for a missing key. */
int md_cu_raise_key(md_call *call, md_val *key);
/* AttributeError(msg) (msg a str, borrowed); with_state adds the state
 * {'name': name, 'args': (msg,)} Python 3 pickles (2.7 has no use for
 * it). */
int md_cu_raise_attribute_error(md_call *call, md_val *name, md_val *msg, bool with_state);
/* int -> double exactly as Python's float(int), with OverflowError "int
 * too large to convert to float". 0 or -1. */
int md_cu_int_to_double(const md_val *v, double *out, md_pyerr *e);

/* ---- array.array values ------------------------------------------------------ */

/* The typecodes managerd stores: b B u h H i I l L q Q f d w, and Python
 * 2's c. itemsize is x86-64 Linux's (Python clients send native bytes). */
typedef struct md_cu_typecode {
    char code;
    uint8_t itemsize;
    bool is_signed;
    bool is_float;
    bool is_char;      /* u, w: a code point; c: a byte */
} md_cu_typecode;

const md_cu_typecode *md_cu_typecode_of(char code);

/* One item in its stored form (itemsize bytes, little-endian) to a value:
 * int, float, a 1-character str (u, w) or a Python 2 byte string (c).
 * NULL on ENOMEM. */
md_val *md_cu_item_load(const md_cu_typecode *t, const uint8_t *p);
/* A value to its stored form, with array's TypeError/OverflowError
 * messages ("signed integer is greater than maximum", ...). 0 or -1. */
int md_cu_item_store(const md_cu_typecode *t, const md_val *v, uint8_t *p, md_pyerr *e);
/* Check raw bytes for t (u, w: valid code points). 0 or -1 (ValueError). */
int md_cu_items_check(const md_cu_typecode *t, const uint8_t *p, size_t nitems, md_pyerr *e);

/* Decode an array.array value as a client pickles it: REDUCE array.array
 * (typecode, bytes) from Python 3, (typecode, list) from Python 2, or
 * array._array_reconstructor(array.array, typecode, mformat, bytes).
 * Returns false if v is not such a value. On true, *code is the typecode
 * and *items a new list of its items (NULL with e set if the value is
 * malformed). */
bool md_cu_array_decode(const md_val *v, char *code, md_val **items, md_pyerr *e);

#endif /* MD_TYPES_CONTAINERS_UTIL_H */
