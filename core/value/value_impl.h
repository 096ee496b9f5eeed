/* value_impl.h - private layout of md_val objects, shared by the
 * files of core/value/ (and their white-box test, tests/unit/test_value.c);
 * nothing else may include it.
 *
 * Memory matters (a million small dict items must fit in 64 MB), so the
 * common header is 8 bytes, small ints live in the pointer, a short ASCII
 * str is 12 bytes of header plus its text, and containers carry a 24-byte
 * GC link in front of the object.
 */
#ifndef MD_VALUE_IMPL_H
#define MD_VALUE_IMPL_H

#include <gmp.h>
#include <stdint.h>

#include "core/base/alloc.h"
#include "core/value/value.h"

/* Header flags. */
enum {
    F_IMMORTAL = 1 << 0,  /* None, True, False, ()                      */
    F_GC = 1 << 1,        /* allocated with a gc_head in front          */
    F_ASCII = 1 << 2,     /* str: code points == bytes (no ncp field)    */
    F_WIDE = 1 << 3,      /* str/bytes: size_t lengths (>= 4 GiB)        */
    F_PY2 = 1 << 4,       /* str/bytes: came from a Python 2 'str'       */
    F_VISITING = 1 << 5,  /* container: repr in progress (cycle marker)  */
    F_WATCHED = 1 << 6,   /* opaque: run the free hook before freeing    */
    F_LODGED = 1 << 7     /* bytes(array): inside a block taken over     */
};

/* struct md_val (the 8-byte header) is in value.h, for its inlines. */
_Static_assert(F_IMMORTAL == MD_VAL__IMMORTAL, "value.h's inlines test F_IMMORTAL");

/* Containers are allocated with this in front; the list of live tracked
 * containers is what md_gc_collect walks. While an object waits in the
 * deferred-free chain, next links that chain. */
typedef struct gc_head {
    struct gc_head *prev, *next;
    intptr_t refs;  /* scratch for md_gc_collect */
} gc_head;

#define GC_HEAD(v) ((gc_head *)(v) - 1)
#define GC_OBJ(g) ((md_val *)((gc_head *)(g) + 1))

/* ---- small ints are tagged pointers ------------------------------------ */

#define SMALL_MIN (-((int64_t)1 << 62))
#define SMALL_MAX (((int64_t)1 << 62) - 1)
#define IS_SMALL(v) (((uintptr_t)(v)) & 1)
#define SMALL_GET(v) ((int64_t)(intptr_t)(v) >> 1)
#define SMALL_MAKE(i) MD_VAL__SMALL_MAKE(i)   /* value.h's, for its inlines */

typedef struct { md_val h; mpz_t z; } md_bigint;  /* outside small range */
typedef struct { md_val h; double d; } md_floatobj;
typedef struct { md_val h; double re, im; } md_complexobj;
typedef struct { md_val h; size_t len, cap; uint8_t *data; } md_bytearrayobj;
typedef struct { md_val h; size_t len; md_val *items[]; } md_tupleobj;
typedef struct { md_val h; size_t len, cap; md_val **items; } md_listobj;
typedef struct { md_val h; md_val *start, *stop, *step; } md_sliceobj;
typedef struct { md_val h; uint32_t modlen; char text[]; } md_globalobj;
typedef struct { md_val h; md_val *cls, *args, *state; } md_excobj;
typedef struct {
    md_val h;
    md_val *callable, *args, *kwargs, *state, *listitems, *dictitems;
} md_opaqueobj;

/* The insertion-ordered hash table behind dict (stride 2: key, value)
 * and set/frozenset (stride 1: key), like CPython's compact dict: an
 * index of small integers into a dense entries array. Deleted entries
 * keep their place (key NULL) until the next rebuild, which keeps order.
 * The low 32 bits of each key's hash are kept in the same block, after
 * the ecap entries (value_table.c says why 32): a dict entry costs 20
 * bytes. A dict the decoder built may be pending: its entries are not
 * indexed yet, its kept hashes not computed, and a key may be there
 * twice (value_table.c's "Pending tables"); GC visits and frees may see
 * that state, any other reader goes through the dict API, which settles
 * the table first. */
typedef struct md_table {
    size_t used;      /* live entries                                 */
    size_t nentries;  /* entries in use, deleted ones included        */
    size_t ecap;      /* capacity of entries, in entries              */
    uint8_t log2size; /* index has 1 << log2size slots; 0: no index   */
    uint8_t stride;   /* 1 or 2                                       */
    /* Some key is (or was) an opaque value (a Decimal, a user class...),
     * whose == with another key may need memory and so may fail. Only a
     * clear resets it. */
    uint8_t opaque_keys;
    /* pending and joined share one byte, so that pending_ecap still
     * fits in the padding before index (md_table stays 48 bytes). */
    bool pending : 1; /* entries not indexed yet (value_table.c's     */
                      /* "Pending tables"): only table_of may see it  */
    bool joined : 1;  /* the index is the end of the entries block    */
                      /* (value_table.c small_reserve)                */
    /* A pending table's nominal capacity, which it takes when it settles
     * (value_table.c); unused otherwise. In the padding before index: a
     * pending table comes from one message, and pending_reserve refuses
     * (ENOMEM) to make one of more than UINT32_MAX entries. */
    uint32_t pending_ecap;
    void *index;
    md_val **entries;
} md_table;

typedef struct { md_val h; md_table t; } md_tableobj;  /* dict, set */

static inline md_val *tbl_key(const md_table *t, size_t i)
{
    return t->entries[i * t->stride];
}

/* ---- shared internals (value.c) ----------------------------------------- */

void *md_val__alloc(md_vtype type, size_t size);     /* plain object */
/* A container with its gc_head; the collector tracks it from birth,
 * except a tuple, dict, set or frozenset (md_val__gc_track, when a
 * container goes in). */
void *md_val__alloc_gc(md_vtype type, size_t size);
void md_val__nomem(md_pyerr *e);
/* Puts a tuple, dict or set that is off the collector's lists (born
 * there, or taken off by a collection: it held no container) on them:
 * called whenever a container is stored into it. */
void md_val__gc_track(md_val *v);
/* Whether the collector walks v (a container on its lists; tests). */
bool md_val__gc_tracked(const md_val *v);
static inline bool md_val__is_gc(const md_val *v)
{
    return v && !((uintptr_t)v & 1) && (v->flags & F_GC);
}
/* Calls fn on each child of a container (NULL children skipped). */
void md_val__visit(md_val *v, void (*fn)(md_val *child, void *ctx), void *ctx);
/* Name of the class an exception / opaque object was built from, and its
 * module (NULL if unknown). */
const char *md_val__class_name(const md_val *v, const char **module);
/* The class global of an exception / opaque object, NULL if unknown. */
md_val *md_val__class_global(const md_val *v);
/* str/bytes layout accessors (value.c describes the layout; inline: a
 * table probe and a slab free read them for every key). */
static inline size_t md_val__str_header(uint8_t flags)
{
    if (flags & F_WIDE)
        return sizeof(md_val) + 2 * sizeof(size_t);
    return sizeof(md_val) + ((flags & F_ASCII) ? 4 : 8);
}

static inline const uint8_t *md_val__sdata(const md_val *v)
{
    return (const uint8_t *)v + md_val__str_header(v->flags);
}

static inline size_t md_val__slen(const md_val *v)
{
    const uint8_t *p = (const uint8_t *)v + sizeof(md_val);
    if (v->flags & F_WIDE)
        return *(const size_t *)p;
    return *(const uint32_t *)p;
}

/* ---- small objects (value_slab.c) ---------------------------------------- */

/* An object of size bytes (1 .. MD_SLAB_MAX_BYTES) from the calling
 * thread's pages; NULL when memory runs out (or the test hook refuses). */
void *md_val__slab_alloc(size_t size);
/* Gives back an object of md_val__slab_alloc(size), same size. */
void md_val__slab_free(void *obj, size_t size);
/* Gives back n objects of md_val__slab_alloc at once (any sizes; those
 * of one page next to each other are handled as one run). */
void md_val__slab_free_many(void *const *objs, size_t n);
/* Frees list l's items array (value_table.c: small ones are slab
 * objects), leaving it none; the items are not touched. */
void md_val__list_free_items(md_val *l);
/* md_decref of items[i * stride] for i < n (NULLs skipped), the short
 * str, bytes and floats whose count ends freed in bulk (no call each). */
void md_val__decref_many(md_val *const *items, size_t n, size_t stride);
/* Bytes v takes in a slab page (its class's object size), 0 when v came
 * from malloc (tests count memory with it). */
size_t md_val__slab_bytes(const md_val *v);
/* Pages of size's class, and the empty pages kept for any class (tests). */
void md_val__slab_stats(size_t size, size_t *pages, size_t *spare);

/* ---- tables (value_table.c) ----------------------------------------------- */

void md_table__init(md_table *t, uint8_t stride);
void md_table__clear(md_table *t);   /* drops references, frees memory */
/* Entry index of key (and, if slot, the index slot holding it), -1
 * absent, -2 error. */
long md_table__find(const md_table *t, md_val *key, size_t *slot, md_pyerr *e);
/* Entry index of key, inserting (key, val) if absent (references taken);
 * *added says which. -1 on error (nothing taken). */
long md_table__insert(md_table *t, md_val *key, md_val *val, bool *added,
                      md_pyerr *e);
/* Room for n more entries without allocating: 0 or -1 (ENOMEM, nothing
 * changed). */
int md_table__reserve(md_table *t, size_t n);
/* Initialises dst as a copy of src (references taken, kept hashes
 * reused): 0, or -1 on ENOMEM with dst empty. */
int md_table__copy(md_table *dst, const md_table *src);
/* Inserts src's entries into dst (same stride; a dict's values replace
 * dst's), with src's kept hashes; a pending src is hashed on the way and
 * stays pending (dst must not be pending). -1 with e set on error. */
int md_table__merge(md_table *dst, const md_table *src, md_pyerr *e);
/* Removes entry ix, found at index slot `slot` by md_table__find. */
void md_table__remove_at(md_table *t, size_t ix, size_t slot);
/* The depth at which md_table__find/insert hash and compare keys: 0,
 * except while an == of dicts or sets looks their items up, so that the
 * nested lookups keep counting toward MD_MAX_DEPTH and the work budget
 * instead of starting afresh (md_val__nested_lookups sets it). */
extern MD_THREAD_LOCAL int md_val__lookup_depth;

/* ---- ops (value_ops.c) ------------------------------------------------------ */

int md_val__eq(const md_val *a, const md_val *b, md_pyerr *e, int depth);
int md_val__hash(const md_val *a, int64_t *out, md_pyerr *e, int depth);
/* The SipHash of a str's or bytes' text, as md_val__hash gives it. */
int64_t md_val__hash_text(const void *data, size_t n);
/* md_val__hash for a key about to be looked up at depth 0 (bulk stores):
 * a str, the usual key, goes straight to SipHash. */
static inline int md_val__hash_key(const md_val *a, int64_t *out, md_pyerr *e)
{
    if (!MD_VAL__IS_SMALL(a) && a->type == MD_T_STR) {
        *out = md_val__hash_text(md_val__sdata(a), md_val__slen(a));
        return 0;
    }
    return md_val__hash(a, out, e, 0);
}
int md_val__too_deep(md_pyerr *e, const char *what);
/* Ordering with op 0..3 for <, <=, >, >= (value_ops.c's order()). */
int md_val__order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth);
/* md_val_sort_pairs inside another walk: comparisons at depth. */
int md_val__sort_pairs(md_val_pair *pairs, size_t n, bool reverse, md_pyerr *e, int depth);
/* The TypeError "'<' not supported between instances of ..." */
int md_val__not_supported(const md_val *a, const md_val *b, int op, md_pyerr *e);
/* CPython's tuple-hash lane step and pointer hash, for value_std.c. */
uint64_t md_val__xx_lane(uint64_t acc, int64_t lane);
int64_t md_val__hash_pointer(const void *p);
/* A structural hash that accepts lists, dicts, sets and bytearrays (hashed
 * by content, dicts whatever their order): the hash of the parts of an
 * instance, which Python hashes by identity. */
int md_val__struct_hash(const md_val *v, int64_t *out, md_pyerr *e, int depth);

/* ---- repr (value_repr.c) ------------------------------------------------ */

int md_val__repr(const md_val *v, md_buf *out, md_pyerr *e, int depth);

/* ---- int (value.c) -------------------------------------------------------- */

md_val *md_val__int_from_mpz(const mpz_t z);   /* NULL on ENOMEM */

/* ---- standard-library values (value_std.c) -------------------------------- */

/* "Not a standard-library value": the caller applies its own rule. */
#define MD_STD_PASS 2
/* Python's type name (tp_name) of a recognised value, NULL otherwise. */
const char *md_std__type_name(const md_val *v);
/* == when a or b is an opaque object: 1, 0, -1 (error) or MD_STD_PASS. */
int md_std__eq(const md_val *a, const md_val *b, md_pyerr *e, int depth);
/* hash of an opaque object: 0, -1 or MD_STD_PASS. */
int md_std__hash(const md_val *v, int64_t *out, md_pyerr *e, int depth);
/* Ordering (op 0..3) when a or b is opaque: 1, 0, -1 or MD_STD_PASS. */
int md_std__order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth);
/* repr / str of a recognised value: 0, -1, or 1 when v is not one (str:
 * or when its str is its repr). */
int md_std__repr(const md_val *v, md_buf *out, md_pyerr *e, int depth);
int md_std__str(const md_val *v, md_buf *out, md_pyerr *e);
/* A new dict / list of the items of a mapping / sequence standard value
 * (OrderedDict, Counter, defaultdict / deque, array), NULL with e set. */
md_val *md_std__items(const md_val *v, md_pyerr *e);

#endif /* MD_VALUE_IMPL_H */
