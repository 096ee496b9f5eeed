/* value.h - managerd's dynamic value model, with Python's meaning.
 *
 * Every value a client can store or send is an md_val: None, bool, int of
 * any size, float, complex, str, bytes, bytearray, tuple, list, dict
 * (insertion ordered), set, frozenset, slice, exception, global reference
 * and opaque object (a pickled instance of a class managerd does not know,
 * kept as inert data).
 *
 * Ownership rule, followed everywhere:
 *   - arguments are borrowed;
 *   - results are new references (the caller must md_decref them);
 *   - a function that takes ownership of an argument says "steal" in its
 *     name or in its comment;
 *   - accessors that return a value inside a container (md_tuple_get,
 *     md_list_get, md_dict_get, ...) return a BORROWED reference, as their
 *     comment says.
 * None, True, False and the empty tuple are immortal: incref and decref
 * are no-ops on them.
 *
 * Small integers are stored inline in the pointer (tagged), so an md_val*
 * must only be inspected through these functions.
 *
 * Functions that can fail in a Python-visible way (unhashable key, mixed
 * type ordering, ...) take an md_pyerr* and return -1 (or NULL) with the
 * exception class and message filled in, exactly as Python words them.
 * Running out of memory is reported as MemoryError the same way.
 */
#ifndef MD_VALUE_H
#define MD_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "core/base/buf.h"
#include "core/base/error.h"

typedef struct md_val md_val;

/* (Named md_vtype, not md_type: md_type is a shared-object type, obj.h.) */
typedef enum md_vtype {
    MD_T_NONE,
    MD_T_BOOL,
    MD_T_INT,
    MD_T_FLOAT,
    MD_T_COMPLEX,
    MD_T_STR,
    MD_T_BYTES,
    MD_T_BYTEARRAY,
    MD_T_TUPLE,
    MD_T_LIST,
    MD_T_DICT,
    MD_T_SET,
    MD_T_FROZENSET,
    MD_T_SLICE,
    MD_T_EXC,     /* an exception instance: class global + args (+ state) */
    MD_T_GLOBAL,  /* a reference to module.qualname, e.g. a class        */
    MD_T_OPAQUE,  /* an instance managerd cannot build: kept as its parts */
    MD_T__COUNT
} md_vtype;

/* A Python exception raised by a value operation: class name as Python
 * prints it ("TypeError", "KeyError") and the message (str(exc)). */
typedef struct md_pyerr {
    const char *type;   /* static string; NULL when no error */
    char msg[MD_ERRMSG_SIZE];
} md_pyerr;

void md_pyerr_set(md_pyerr *e, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void md_pyerr_clear(md_pyerr *e);

/* ---- reference counting ------------------------------------------------ */

/* Counts are 32-bit: a value whose count reaches this is made immortal
 * (kept until exit) instead of wrapping round to a premature free. */
#define MD_VAL_REFCNT_MAX (UINT32_MAX - 1)

/* The 8-byte header every heap value starts with. It is here, not in
 * value_impl.h, only so that the three hottest operations below are
 * inlined into every caller (a decoded million-item message runs each
 * of them several million times, and a call each was a fifth of the
 * decoder's instructions); nothing outside core/value reads it. */
struct md_val {
    uint32_t refcnt;
    uint8_t type;   /* md_vtype */
    uint8_t flags;  /* value_impl.h's F_* flags */
    uint16_t aux;   /* opaque: md_opaque_kind */
};

/* value_impl.h's F_IMMORTAL and small-int tag, for the inlines below. */
#define MD_VAL__IMMORTAL 1u
#define MD_VAL__IS_SMALL(v) (((uintptr_t)(v)) & 1)
#define MD_VAL__SMALL_MAKE(i) ((md_val *)(intptr_t)(((uint64_t)(i) << 1) | 1))

/* The slow halves of md_incref / md_decref (value.c): pinning a count
 * that would overflow, and freeing a value whose last reference goes. */
md_val *md_val__incref_pin(md_val *v);
void md_val__decref_last(md_val *v);

/* Returns v, for chaining; NULL-safe. */
static inline md_val *md_incref(md_val *v)
{
    if (!v || MD_VAL__IS_SMALL(v) || (v->flags & MD_VAL__IMMORTAL))
        return v;
    if (v->refcnt >= MD_VAL_REFCNT_MAX)
        return md_val__incref_pin(v);
    v->refcnt++;
    return v;
}

/* NULL-safe. */
static inline void md_decref(md_val *v)
{
    if (!v || MD_VAL__IS_SMALL(v) || (v->flags & MD_VAL__IMMORTAL))
        return;
    if (v->refcnt > 1) {
        v->refcnt--;
        return;
    }
    md_val__decref_last(v);
}

uint32_t md_refcount(const md_val *v); /* immortal/tagged: UINT32_MAX */

static inline md_vtype md_typeof(const md_val *v)
{
    return MD_VAL__IS_SMALL(v) ? MD_T_INT : (md_vtype)v->type;
}
/* Python's type name: "NoneType", "bool", "int", "str", "bytes", ...
 * For MD_T_EXC and MD_T_OPAQUE: the class's own name ("KeyError",
 * "Point"). */
const char *md_type_name(const md_val *v);

/* ---- singletons -------------------------------------------------------- */

md_val *md_none(void);               /* immortal; no need to decref */
md_val *md_true(void);
md_val *md_false(void);
md_val *md_bool(bool b);
bool md_bool_get(const md_val *v);   /* v must be MD_T_BOOL */

/* ---- int (arbitrary precision) ----------------------------------------- */

md_val *md_int_from_i64(int64_t i);
/* An int of 32 bits always fits the pointer: no allocation, never NULL
 * (the decoder's BININT opcodes, inline). */
static inline md_val *md_int_from_i32(int32_t i)
{
    return MD_VAL__SMALL_MAKE((int64_t)i);
}
/* The int v holds if it is one kept in the pointer (every int of up to
 * 62 bits), inline for the pickle encoder's runs of items: true and *out
 * set; false for a big int or any other value. */
static inline bool md_int_small_get(const md_val *v, int64_t *out)
{
    if (!MD_VAL__IS_SMALL(v))
        return false;
    *out = (int64_t)(intptr_t)v >> 1;
    return true;
}

md_val *md_int_from_u64(uint64_t u);
/* Two's complement little-endian, as LONG1/LONG4 carry it (n == 0 is 0). */
md_val *md_int_from_le(const uint8_t *bytes, size_t n);
/* ASCII decimal with optional sign (and optional trailing 'L' if allow_l).
 * Returns NULL if the text is not a valid integer. */
md_val *md_int_from_decimal(const char *text, size_t n, bool allow_l);
/* 0 if v (int or bool) fits in int64, -1 otherwise. */
int md_int_to_i64(const md_val *v, int64_t *out);
/* Minimal two's complement little-endian length as pickle's encode_long
 * writes it (0 for zero), and the bytes themselves. */
size_t md_int_le_size(const md_val *v);
void md_int_to_le(const md_val *v, uint8_t *out, size_t n);
int md_int_sign(const md_val *v);    /* -1, 0, 1 */
/* Decimal text appended to out. Returns 0 or -1 (out of memory). */
int md_int_to_decimal(const md_val *v, md_buf *out);

/* ---- float, complex ---------------------------------------------------- */

md_val *md_float_new(double d);
double md_float_get(const md_val *v);
md_val *md_complex_new(double re, double im);
double md_complex_real(const md_val *v);
double md_complex_imag(const md_val *v);

/* ---- str, bytes, bytearray --------------------------------------------- */

/* str is UTF-8; lone surrogates (U+D800..U+DFFF) are allowed, encoded as
 * three bytes, as Python's 'surrogatepass' writes them, because Python
 * str can hold them and pickle carries them that way.
 * md_str_new returns NULL if the bytes are not such UTF-8. */
md_val *md_str_new(const char *utf8, size_t nbytes);
md_val *md_str_from_cstr(const char *s);
/* Python 2 'str' that is ASCII: a str flagged so it re-encodes to 2.7 as
 * a byte string (SHORT_BINSTRING/BINSTRING). Equal to the plain str. */
md_val *md_str_new_py2(const char *ascii, size_t nbytes);
bool md_str_is_py2(const md_val *v);
const char *md_str_data(const md_val *v);   /* NUL-terminated */
size_t md_str_nbytes(const md_val *v);
size_t md_str_len(const md_val *v);         /* code points */
bool md_str_is_ascii(const md_val *v);
/* Compare a str value with a C string (byte equality). */
bool md_str_eq_cstr(const md_val *v, const char *s);

md_val *md_bytes_new(const void *data, size_t n);
/* A Python 2 'str' that is not ASCII: bytes flagged so it re-encodes to
 * 2.7 as a byte string (and to Python 3 as bytes). */
md_val *md_bytes_new_py2(const void *data, size_t n);
bool md_bytes_is_py2(const md_val *v);
md_val *md_bytearray_new(const void *data, size_t n);

/* A heap block whose owner lets a value decoded from it keep it: the
 * receive buffer of a big message. A bytes or bytearray value of at
 * least MD_GIFT_MIN_BYTES whose bytes lie in the block, and that makes
 * most of it (limits.h), takes the block over instead of being copied
 * into fresh memory: its bytes move to the block's start (a copy within
 * pages already touched) and the block becomes the value's. The message
 * a decoder is reading stays readable after the taken value's bytes
 * (only bytes before them are overwritten), and the block lives on until
 * md_gift_close, whatever the decoder does with the value meanwhile. */
typedef struct md_gift {
    uint8_t *block;   /* from md_malloc & co (its start); NULL: no gift */
    size_t size;      /* bytes of the block that are the giver's */
    md_val *taker;    /* the value that took it (a reference), or NULL */
} md_gift;

/* md_bytes_new and md_bytearray_new, taking gift's block over when they
 * can (gift may be NULL). Taking never fails: on any failure it is the
 * plain constructor's. */
md_val *md_bytes_new_in(md_gift *gift, const void *data, size_t n);
md_val *md_bytearray_new_in(md_gift *gift, const void *data, size_t n);
/* After the decode: true when a value took the block (it no longer
 * belongs to the giver, who must forget it); drops the reference that
 * kept the block alive. */
bool md_gift_close(md_gift *gift);
/* A bytes value of n bytes whose text lies at offset text_off of an
 * 8-aligned block can take the block where its text lies, with no copy
 * (its header goes over the opcodes before the text), when text_off +
 * md_gift_skew(text_off, n) is such an offset: a giver that knows where
 * a big payload will lie reads its message skew bytes further in. */
size_t md_gift_skew(size_t text_off, size_t n);
/* How many values of this thread took a block over (tests), and how many
 * of those where their bytes lay, without moving them (md_gift_skew). */
unsigned long md_gift_count(void);
unsigned long md_gift_lodged_count(void);
/* For bytes and bytearray. */
const uint8_t *md_bytes_data(const md_val *v);
size_t md_bytes_len(const md_val *v);

/* ---- tuple ------------------------------------------------------------- */

/* A tuple of n items, each None until set. md_tuple_set_steal may only be
 * used while building (before the tuple is shared or hashed). */
md_val *md_tuple_new(size_t n);
void md_tuple_set_steal(md_val *t, size_t i, md_val *item);
/* Building a new tuple in place (the decoder's, a copy's): md_tuple_fill
 * returns its items, each None (which need not be released), to store
 * stolen references into; md_tuple_filled then puts the tuple on the
 * collector's lists if any of them is a container. */
md_val **md_tuple_fill(md_val *t);
void md_tuple_filled(md_val *t);
md_val *md_tuple_get(const md_val *t, size_t i);       /* borrowed */
size_t md_tuple_len(const md_val *t);
/* Convenience: md_tuple_pack(2, a, b): borrowed items, new tuple. */
md_val *md_tuple_pack(size_t n, ...);

/* ---- list -------------------------------------------------------------- */

/* A 16-bit scratch stamp on a str or bytes, for the pickle encoder's
 * memo (pickle_enc.c says how it is used); 0 on a new value, changed by
 * nothing else. A value shared between threads must not be stamped. */
uint16_t md_val_stamp(const md_val *v);
void md_val_set_stamp(const md_val *v, uint16_t stamp);

md_val *md_list_new(size_t capacity_hint);
/* Makes room for n more items: 0, or -1 on ENOMEM (nothing changed). */
int md_list_reserve(md_val *l, size_t n);
size_t md_list_len(const md_val *l);
md_val *md_list_get(const md_val *l, size_t i);        /* borrowed */
int md_list_append(md_val *l, md_val *item);            /* 0 / -1 ENOMEM */
int md_list_append_steal(md_val *l, md_val *item);      /* steals item even on failure */
/* Appends n items (references taken), all or nothing: 0, or -1 on
 * ENOMEM with l unchanged. Item i is items[i * stride] (1 for an array
 * of values; more when they are the first field of a caller's larger
 * records). items may not be l's own array. */
int md_list_extend(md_val *l, md_val *const *items, size_t n, size_t stride);
/* md_list_extend that takes over the caller's references instead (the
 * decoder's stack lets go of a batch without a decref per item): on
 * success the caller no longer owns items; on failure it still does and
 * l is unchanged. */
int md_list_extend_steal(md_val *l, md_val *const *items, size_t n, size_t stride);
void md_list_set(md_val *l, size_t i, md_val *item);    /* i < len */
int md_list_insert(md_val *l, size_t i, md_val *item);  /* i clamped to len */
void md_list_del(md_val *l, size_t i);                  /* i < len */
void md_list_clear(md_val *l);

/* ---- tuple or list, read alike ------------------------------------------ */

/* The one way to read a value that may be a tuple or a list (the wire
 * sends argument lists and pairs as either): returns its items (borrowed,
 * valid until a list is next changed) and sets *len, or returns NULL with
 * *len 0 when v is NULL or neither a tuple nor a list. */
md_val *const *md_seq_items(const md_val *v, size_t *len);

/* ---- dict (insertion ordered) ------------------------------------------ */

md_val *md_dict_new(void);
size_t md_dict_len(const md_val *d);
/* A new dict with the items of d, in order (NULL on ENOMEM); no key is
 * hashed or compared. */
md_val *md_dict_copy(const md_val *d);
/* d.update(src) for a dict src, using the hashes src kept (or hashing
 * the keys of a pending src on the way): 0, or -1 with MemoryError
 * (nothing changed) or an == error of colliding keys in e. */
int md_dict_update(md_val *d, const md_val *src, md_pyerr *e);
/* Room for d.update(src), allocated but not put in place. */
typedef struct md_dict_room md_dict_room;
/* Allocates what d needs to take src's pairs, without changing what d
 * reads (a big entries block may be resized, its contents kept) and
 * without indexing a pending src, for d.update(src) before its reply:
 * the rest of a big d's growth (moving its kept hashes, filling its new
 * index) is left to md_dict_update_reserved, after the reply. 0 with
 * *room NULL (d has the room) or set, or -1 on ENOMEM (nothing
 * allocated, d as it was). A room must be passed to
 * md_dict_update_reserved before anything else reads or changes d. */
int md_dict_reserve_update(md_val *d, const md_val *src, md_dict_room **room);
/* md_dict_update(d, src, e) after md_dict_reserve_update(d, src, &room):
 * puts room (NULL: none) in place and frees it, then merges; for a
 * pending src, or when md_dict_update_cannot_fail, nothing here
 * allocates or fails. */
int md_dict_update_reserved(md_val *d, const md_val *src, md_dict_room *room, md_pyerr *e);
/* True when md_dict_update_reserved(d, src) cannot fail once
 * md_dict_reserve_update(d, src) succeeded: src's keys are all str,
 * bytes, int, bool, float or None (their hash and == cannot fail), d
 * has no opaque key (a Decimal's == with an int needs memory), and the
 * merge inserts rather than copies. Does not index a pending src. */
bool md_dict_update_cannot_fail(const md_val *d, const md_val *src);
/* The number of pairs of d without indexing a pending d (a key stored
 * twice in it counted twice). */
size_t md_dict_pairs(const md_val *d);
/* Makes room for n more items so that storing them allocates nothing:
 * 0, or -1 on ENOMEM (nothing changed). */
int md_dict_reserve(md_val *d, size_t n);

/* Stores n (key, value) pairs in order, as n md_dict_set calls would
 * (references taken; a repeated key keeps its first key object and its
 * last value), hashing each key once and a window of keys ahead of
 * their insert. Pair i's key is items[2 * i * stride] and its value
 * items[(2 * i + 1) * stride]: the pairs may be the first field of a
 * caller's larger records. Called at the top level (not from inside an
 * == of dicts). 0, or -1 with e set (MemoryError before anything is
 * stored, or the first unhashable key, the pairs before it stored). */
int md_dict_set_pairs(md_val *d, md_val *const *items, size_t n, size_t stride,
                      md_pyerr *e);
/* md_dict_set_pairs that takes over the references of the pairs it
 * stores instead of taking new ones (for a repeated key, the new key
 * object is dropped, the dict keeping its first one): *taken is how many pairs, from
 * the first, are the dict's now (n on success, fewer on failure); the
 * caller keeps the references of the others. */
int md_dict_set_pairs_steal(md_val *d, md_val *const *items, size_t n, size_t stride,
                            md_pyerr *e, size_t *taken);
/* Pairs md_dict_set_pairs_steal_hashed takes in one call (one bit each). */
#define MD_PAIRS_HASHED_MAX 64
/* md_dict_set_pairs_steal for n <= MD_PAIRS_HASHED_MAX pairs, given the
 * hashes a caller kept: for a key whose bit j of `known` is set,
 * hashes[j] is taken as its hash (the low 32 bits of its Python hash
 * under this process's key, which is what the table keeps; a wrong one
 * makes an equal key a second entry); each other key is hashed here and
 * its hash written to hashes[j], for pairs up to the one the call
 * stopped at. A decoder seeing the same key object in many small dicts
 * hashes it once. */
int md_dict_set_pairs_steal_hashed(md_val *d, md_val *const *items, size_t n, size_t stride,
                                   uint32_t *hashes, uint64_t known, md_pyerr *e,
                                   size_t *taken);
/* md_dict_set_pairs_steal_hashed of one pair whose hash h is known, for
 * a d that has never had a table block (a decoder's {'v': i}): 0 when
 * stored (references taken), -1 on ENOMEM (nothing changed), 1 when d
 * has a block (nothing done: use md_dict_set_pairs_steal_hashed). */
int md_dict_set_first_steal_hashed(md_val *d, md_val *key, md_val *val, uint32_t h);
/* For a decoder building a dict d of its own: appends the n pairs (laid
 * out as for md_dict_set_pairs) without hashing or indexing them, if d
 * is empty or was left pending by an earlier call, and every key is a
 * str, bytes, int, bool, float or None (and, for an empty d, the pairs
 * are many). The dict is then "pending" (value_table.c): indexed by the
 * first function of this API that reads or changes it, or never, when
 * md_dict_update merges it into another dict and it is dropped. 1: the
 * pairs' references are the dict's; 0: declined, nothing done (store
 * them with md_dict_set_pairs_steal); -1: ENOMEM, nothing done. Reading
 * a pending dict changes its layout: a value belongs to one thread. Room
 * is reserved ahead (MD_PENDING_FIRST_PAIRS, then doubling) and given
 * back when the dict settles. */
int md_dict_defer_pairs_steal(md_val *d, md_val *const *items, size_t n, size_t stride);
/* The same, for a decoder that knows d can get at most `most` pairs
 * more, these n included: the room for them is then reserved at once
 * (given back when d settles) instead of growing batch by batch. */
int md_dict_defer_pairs_steal_upto(md_val *d, md_val *const *items, size_t n, size_t stride,
                                   size_t most);
/* 0 on success; -1 with TypeError("unhashable type: 'list'") or
 * MemoryError in e. */
int md_dict_set(md_val *d, md_val *key, md_val *val, md_pyerr *e);
/* md_dict_set in two steps, for a batch of items (a decoder's SETITEMS):
 * md_dict_prepare hashes key (0, or -1 with TypeError in e) and starts
 * fetching the slot it goes to, so that the cache misses of a batch
 * overlap; md_dict_set_hashed then stores it with that hash, which must
 * be the one md_dict_prepare gave for this key and this dict. */
int md_dict_prepare(const md_val *d, md_val *key, int64_t *hash, md_pyerr *e);
int md_dict_set_hashed(md_val *d, md_val *key, int64_t hash, md_val *val, md_pyerr *e);
/* Borrowed value, or NULL: absent (e->type NULL) or error (e->type set). */
md_val *md_dict_get(const md_val *d, md_val *key, md_pyerr *e);
/* 1 removed, 0 absent, -1 error. */
int md_dict_del(md_val *d, md_val *key, md_pyerr *e);
void md_dict_clear(md_val *d);
/* (Addition.) Removes key and returns its value as a NEW reference, in
 * one lookup; NULL if absent (e->type NULL) or on error (e->type set). */
md_val *md_dict_pop(md_val *d, md_val *key, md_pyerr *e);
/* Iterate in insertion order: size_t pos = 0; while (md_dict_next(d, &pos,
 * &k, &v)) ...  k and v are borrowed. The dict must not change meanwhile. */
bool md_dict_next(const md_val *d, size_t *pos, md_val **key, md_val **val);
/* What md_dict_next walks, for a loop over many entries (the pickle
 * encoder's): *n entries of two pointers, key then value, in insertion
 * order; a deleted entry's key is NULL. Valid while d is unchanged. */
md_val *const *md_dict_entries(const md_val *d, size_t *n);

/* ---- set, frozenset ---------------------------------------------------- */

md_val *md_set_new(bool frozen);
size_t md_set_len(const md_val *s);
/* add: 0 ok (also when present), -1 error (unhashable). frozensets may
 * only be filled while building. */
int md_set_add(md_val *s, md_val *item, md_pyerr *e);
/* 1 present, 0 absent, -1 error. */
int md_set_contains(const md_val *s, md_val *item, md_pyerr *e);
/* Whether every item of set a is in set b: 1, 0, or -1 with e set. */
int md_set_all_in(const md_val *a, const md_val *b, md_pyerr *e);
int md_set_discard(md_val *s, md_val *item, md_pyerr *e);
/* (Addition.) Removes every item. */
void md_set_clear(md_val *s);
/* Iteration in insertion order, items borrowed. */
bool md_set_next(const md_val *s, size_t *pos, md_val **item);

/* ---- slice ------------------------------------------------------------- */

md_val *md_slice_new(md_val *start, md_val *stop, md_val *step);
md_val *md_slice_start(const md_val *s);    /* borrowed */
md_val *md_slice_stop(const md_val *s);
md_val *md_slice_step(const md_val *s);

/* ---- global reference -------------------------------------------------- */

/* module and qualified name are UTF-8 C strings, copied. */
md_val *md_global_new(const char *module, const char *qualname);
const char *md_global_module(const md_val *g);
const char *md_global_name(const md_val *g);
bool md_global_is(const md_val *g, const char *module, const char *qualname);

/* ---- exception --------------------------------------------------------- */

/* An exception instance of class cls (an MD_T_GLOBAL, e.g. builtins
 * KeyError; module names are kept in their Python 3 spelling) with args
 * (a tuple). state is NULL or the BUILD state Python 3.12+ adds to some
 * exceptions. All three are borrowed. */
md_val *md_exc_new(md_val *cls, md_val *args, md_val *state);
/* Convenience: md_exc_make("builtins", "KeyError", 1, key). Items borrowed. */
md_val *md_exc_make(const char *module, const char *name, size_t nargs, ...);
md_val *md_exc_class(const md_val *x);     /* borrowed global */
md_val *md_exc_args(const md_val *x);      /* borrowed tuple */
md_val *md_exc_state(const md_val *x);     /* borrowed, may be NULL */

/* ---- opaque object ----------------------------------------------------- */

/* How the object was built in the pickle; the encoder uses the same. */
typedef enum md_opaque_kind {
    MD_OPQ_REDUCE,    /* callable(*args)                   */
    MD_OPQ_NEWOBJ,    /* cls.__new__(cls, *args)           */
    MD_OPQ_NEWOBJ_EX, /* cls.__new__(cls, *args, **kwargs) */
    MD_OPQ_OBJ        /* Python 2 old-style instance (OBJ/INST) */
} md_opaque_kind;

/* callable and args are borrowed. callable is usually an MD_T_GLOBAL but
 * may be any value (REDUCE allows it). args is a tuple. */
md_val *md_opaque_new(md_opaque_kind kind, md_val *callable, md_val *args);
md_opaque_kind md_opaque_kind_of(const md_val *o);
md_val *md_opaque_callable(const md_val *o);   /* borrowed */
md_val *md_opaque_args(const md_val *o);       /* borrowed */
md_val *md_opaque_kwargs(const md_val *o);     /* borrowed, NULL if none */
md_val *md_opaque_state(const md_val *o);      /* borrowed, NULL if none */
/* Items appended (APPEND/APPENDS) or set (SETITEM/SETITEMS) on the object
 * after it was built: a list, and a list of 2-tuples; NULL if none. */
md_val *md_opaque_listitems(const md_val *o);
md_val *md_opaque_dictitems(const md_val *o);
/* Setters steal their argument (and replace any earlier one). */
void md_opaque_set_kwargs_steal(md_val *o, md_val *kwargs);
void md_opaque_set_state_steal(md_val *o, md_val *state);
/* Appends; create the lists on first use. 0 or -1 on ENOMEM. */
int md_opaque_add_listitem(md_val *o, md_val *item);
int md_opaque_add_dictitem(md_val *o, md_val *key, md_val *val);

/* ---- watched opaque objects ---------------------------------------------- */

/* The server counts a proxy stored inside a value as a reference to the
 * proxy's referent. It marks such RebuildProxy opaques as watched; when a
 * watched opaque is freed (the value was overwritten, deleted, or its
 * container died) the hook runs first, while the opaque's parts are still
 * readable, and releases the reference. One hook per process.
 *
 * Why a hook: a value dies inside md_decref, often deep in a container
 * freed by code that knows nothing of proxies, and only the value layer
 * sees it happen. The value layer sits below the server and must not call
 * it, so the dependency is inverted: the value layer only tells whoever
 * owns it that a watched opaque is going, and knows nothing of servers,
 * objects or references. The owner installs the hook explicitly once, when
 * it is made (core/proxies.c's md_proxies_init, called by md_server_new);
 * no hook (NULL) means nothing is told. */
typedef void (*md_opaque_free_hook)(md_val *o);
void md_opaque_set_free_hook(md_opaque_free_hook fn);
void md_opaque_watch(md_val *o);
bool md_opaque_watched(const md_val *o);

/* ---- standard-library values ------------------------------------------- */

/* Opaque objects that are standard-library values Python itself pickles
 * (recognised by class global and by the exact shape Python writes; any
 * other shape is MD_STD_NONE) get Python's repr, str, ==, hash and
 * ordering in the functions below. */
typedef enum md_std_kind {
    MD_STD_NONE, MD_STD_DATE, MD_STD_TIME, MD_STD_DATETIME, MD_STD_TIMEDELTA,
    MD_STD_TIMEZONE, MD_STD_DECIMAL, MD_STD_FRACTION, MD_STD_UUID,
    MD_STD_ORDEREDDICT, MD_STD_DEQUE, MD_STD_COUNTER, MD_STD_DEFAULTDICT,
    MD_STD_RANGE, MD_STD_ARRAY
} md_std_kind;

md_std_kind md_val_std_kind(const md_val *v);
/* The items of an OrderedDict, Counter or defaultdict (a new dict) or of
 * a deque or array (a new list, maxlen applied). NULL with e set:
 * TypeError for any other value, or MemoryError / unhashable key. */
md_val *md_val_std_items(const md_val *v, md_pyerr *e);

/* ---- Python semantics -------------------------------------------------- */

/* Python's ==. Returns 1 equal, 0 not equal, -1 error (recursion too
 * deep: RecursionError). NaN != NaN unless a and b are the same object
 * inside a container (Python's identity shortcut). */
int md_val_eq(const md_val *a, const md_val *b, md_pyerr *e);
/* Python's hash() for numbers (so 1, 1.0 and True hash alike: the same
 * algorithm as CPython, modulo 2**61 - 1), a fixed hash for everything
 * else hashable. -1 with TypeError "unhashable type: 'list'". */
int md_val_hash(const md_val *a, int64_t *out, md_pyerr *e);
/* Python's rich comparison for ordering: op is one of "<", "<=", ">",
 * ">=". Returns 1 true, 0 false, -1 error with Python's message, e.g.
 * TypeError "'<' not supported between instances of 'str' and 'int'". */
int md_val_order(const md_val *a, const md_val *b, const char *op, md_pyerr *e);
/* A key and the value it sorts (borrowed by the sort). */
typedef struct md_val_pair {
    md_val *key;
    md_val *val;
} md_val_pair;
/* Python's list.sort on pairs by key: stable, n log n comparisons, the
 * comparison always "later < earlier" ("earlier < later" with reverse),
 * CPython's operand order, so a mixed-type sort raises the same TypeError.
 * 0, or -1 with e set (the pairs are then in some permutation). */
int md_val_sort_pairs(md_val_pair *pairs, size_t n, bool reverse, md_pyerr *e);
/* repr(v) and str(v) exactly as Python 3 prints builtin values, appended
 * to out. Recursive containers print as [...] / {...}. 0 or -1 (ENOMEM,
 * or depth with RecursionError). */
int md_val_repr(const md_val *v, md_buf *out, md_pyerr *e);
int md_val_str(const md_val *v, md_buf *out, md_pyerr *e);
/* repr(v) for a message: NUL-terminated in out, cut to n - 1 bytes. When
 * the repr fails (out of memory, too deep, too long) out reads '<', the
 * type name, failed_suffix, '>': the dispatcher's "<str>", a shared
 * type's "<str object>". */
void md_val_short_repr(const md_val *v, char *out, size_t n, const char *failed_suffix);
/* repr and str stop with MemoryError once their output passes a limit
 * (MD_MAX_REPR_BYTES by default; 0 restores it). Returns the old limit and
 * clears the truncation flag; md_val_repr_truncated() tells whether a
 * repr since then stopped at the limit (debug_info wants only a prefix). */
size_t md_val_repr_limit(size_t limit);
bool md_val_repr_truncated(void);
/* copy.deepcopy: containers copied with sharing and cycles preserved,
 * immutable scalars shared. NULL on error. */
md_val *md_val_deepcopy(md_val *v, md_pyerr *e);
/* True for values that can be dict keys (tuples check their items). */
bool md_val_is_hashable(const md_val *v);

/* ---- memory kept between messages --------------------------------------- */

/* Keeping on: this thread's empty value pages stay resident (a big value
 * dropped and made again, as a dict cleared and refilled, reuses them
 * without faulting them in again) until md_val_slab_decay gives them
 * back. For a thread with a timer to call it: the daemon's loop. Off
 * gives back at once all spares past MD_SLAB_SPARE_PAGES. */
void md_val_slab_keep(bool on);
/* Gives back the memory of the empty pages past MD_SLAB_SPARE_PAGES that
 * no new page needed since the last call, at most `most` of them (a
 * call's cost is bounded: one madvise per run of adjacent pages). Returns
 * how many spares past MD_SLAB_SPARE_PAGES are left. Call it every
 * period: a page is given back one to two periods after it emptied, if
 * nothing took it meanwhile. */
size_t md_val_slab_decay(size_t most);
/* Gives back up to `most` more of the idle pages the last
 * md_val_slab_decay found and left (it gave back at most its `most`),
 * unless a new page has taken them since. Returns how many are left. */
size_t md_val_slab_release_owed(size_t most);

/* ---- cycles ------------------------------------------------------------ */

/* Containers (list, dict, set, tuple, opaque, exc) are tracked; this frees
 * every tracked container that is only reachable from other garbage
 * containers (CPython's trial deletion). Returns the number freed. The
 * server calls it from time to time and at exit. */
size_t md_gc_collect(void);
/* Live container count, for tests and debug_info. */
size_t md_gc_tracked(void);
/* The collection to run during operation, at a point where no value is
 * half built (the server: between requests). Collects the young
 * generation once MD_GC_YOUNG_THRESHOLD containers were made since the
 * last collection, then everything while the old generation is small or
 * once the young collections' survivors reach a quarter of it (CPython's
 * rule), so the work is linear in the allocations and a million stored
 * objects are not walked per request (core/base/limits.h). Returns the
 * number freed. */
size_t md_gc_maybe_collect(void);
/* True when md_gc_maybe_collect has work to do. */
bool md_gc_due(void);

#endif /* MD_VALUE_H */
