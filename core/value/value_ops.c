/* value_ops.c - Python semantics of values: ==, hash(), ordering and
 * copy.deepcopy.
 *
 * Numbers follow CPython exactly (1 == 1.0 == True == 1+0j, the numeric
 * hash modulo 2**61 - 1, big ints compared exactly with floats). Where
 * managerd cannot run the class's own code it differs from Python, on
 * purpose and documented here:
 *   - exceptions, opaque objects and globals compare structurally (same
 *     class global, same args, same state, same items), where Python
 *     compares instances by identity unless the class defines __eq__;
 *   - they hash structurally when every part is hashable, and are
 *     unhashable otherwise (e.g. an instance with a dict state);
 *   - str and bytes hash with keyed SipHash-2-4, not CPython's values.
 * Recursion is bounded by MD_MAX_DEPTH container levels (RecursionError
 * past it); frames are kept small so that depth fits the default stack
 * (measured: 10000 levels need about 2.5 MB at -O1, 4 MB at -O0, of the
 * 8 MB default).
 */
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/base/ptrmap.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"

int md_val__too_deep(md_pyerr *e, const char *what)
{
    md_pyerr_set(e, "RecursionError", "maximum recursion depth exceeded%s", what);
    return -1;
}

static bool is_intlike(const md_val *v)
{
    return IS_SMALL(v) || v->type == MD_T_INT || v->type == MD_T_BOOL;
}

static bool is_number(const md_val *v)
{
    return is_intlike(v) || v->type == MD_T_FLOAT || v->type == MD_T_COMPLEX;
}

/* A read-only mpz view of an int or bool; tmp/limb are the storage for
 * values held inline. */
static mpz_srcptr int_mpz(const md_val *v, mpz_t tmp, mp_limb_t *limb)
{
    if (!IS_SMALL(v) && v->type == MD_T_INT)
        return ((const md_bigint *)v)->z;
    int64_t i = IS_SMALL(v) ? SMALL_GET(v) : md_bool_get(v);
    *limb = (mp_limb_t)(i < 0 ? -(uint64_t)i : (uint64_t)i);
    return mpz_roinit_n(tmp, limb, i < 0 ? -1 : (i > 0 ? 1 : 0));
}

static int64_t small_value(const md_val *v)
{
    return IS_SMALL(v) ? SMALL_GET(v) : md_bool_get(v);
}

static double real_part(const md_val *v)
{
    return v->type == MD_T_FLOAT ? md_float_get(v) : md_complex_real(v);
}

/* Three-way comparison of two real numbers: -1, 0, 1, or 2 when a NaN
 * makes them unordered. Ints and floats are compared exactly. */
static int num_cmp(const md_val *a, const md_val *b)
{
    bool ai = is_intlike(a), bi = is_intlike(b);
    if (ai && bi) {
        bool abig = !IS_SMALL(a) && a->type == MD_T_INT;
        bool bbig = !IS_SMALL(b) && b->type == MD_T_INT;
        if (!abig && !bbig) {
            int64_t x = small_value(a), y = small_value(b);
            return (x > y) - (x < y);
        }
        mpz_t ta, tb;
        mp_limb_t la, lb;
        int c = mpz_cmp(int_mpz(a, ta, &la), int_mpz(b, tb, &lb));
        return (c > 0) - (c < 0);
    }
    if (ai || bi) {
        const md_val *iv = ai ? a : b;
        double d = real_part(ai ? b : a);
        if (isnan(d))
            return 2;
        int c;
        if ((IS_SMALL(iv) || iv->type == MD_T_BOOL) &&
            llabs(small_value(iv)) <= ((int64_t)1 << 53)) {
            double x = (double)small_value(iv);
            c = (x > d) - (x < d);
        } else {
            mpz_t t;
            mp_limb_t l;
            c = mpz_cmp_d(int_mpz(iv, t, &l), d);
            c = (c > 0) - (c < 0);
        }
        return ai ? c : -c;
    }
    double x = real_part(a), y = real_part(b);
    if (isnan(x) || isnan(y))
        return 2;
    return (x > y) - (x < y);
}

static int num_eq(const md_val *a, const md_val *b)
{
    bool ac = !IS_SMALL(a) && a->type == MD_T_COMPLEX;
    bool bc = !IS_SMALL(b) && b->type == MD_T_COMPLEX;
    if (ac && bc)
        return md_complex_real(a) == md_complex_real(b) &&
               md_complex_imag(a) == md_complex_imag(b);
    if ((ac && md_complex_imag(a) != 0.0) || (bc && md_complex_imag(b) != 0.0))
        return 0;
    return num_cmp(a, b) == 0;
}


/* Work budgets: shared references let a tiny pickle stand for a tuple
 * of 2**40 tuples, whose hash or comparison would run for days (CPython
 * would too). Past MD_MAX_VALUE_WORK containers visited in one top-level
 * call the operation fails instead. Single-threaded: statics do. */
static MD_THREAD_LOCAL long hash_work;
static MD_THREAD_LOCAL long eq_work;

/* ======================================================================
 * Equality
 * ====================================================================== */

/* Item comparison inside a container: Python's identity shortcut first. */
static int item_eq(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    if (a == b)
        return 1;
    if (!a || !b)
        return 0;
    return md_val__eq(a, b, e, depth);
}

static int items_eq(md_val *const *a, md_val *const *b, size_t n, md_pyerr *e,
                    int depth)
{
    for (size_t i = 0; i < n; i++) {
        int r = item_eq(a[i], b[i], e, depth);
        if (r <= 0)
            return r;
    }
    return 1;
}

static int dict_eq(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    if (md_dict_len(a) != md_dict_len(b))
        return 0;
    size_t pos = 0;
    md_val *k, *v;
    while (md_dict_next(a, &pos, &k, &v)) {
        md_pyerr_clear(e);
        md_val *w = md_dict_get(b, k, e);
        if (!w)
            return e && e->type ? -1 : 0;
        int r = item_eq(v, w, e, depth);
        if (r <= 0)
            return r;
    }
    return 1;
}

/* dict_eq or set_subset at depth: their lookups in b run at that depth. */
static int nested_lookups(int (*fn)(const md_val *, const md_val *, md_pyerr *, int),
                          const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    int saved = md_val__lookup_depth;
    md_val__lookup_depth = depth;
    int r = fn(a, b, e, depth);
    md_val__lookup_depth = saved;
    return r;
}

/* a <= b as sets. */
static int set_subset(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    (void)depth; /* md_val__lookup_depth carries it */
    if (md_set_len(a) > md_set_len(b))
        return 0;
    return md_set_all_in(a, b, e);
}

static bool is_set(const md_val *v)
{
    return !IS_SMALL(v) && (v->type == MD_T_SET || v->type == MD_T_FROZENSET);
}

static bool is_bytes(const md_val *v)
{
    return !IS_SMALL(v) && (v->type == MD_T_BYTES || v->type == MD_T_BYTEARRAY);
}

/* An instance's parts as compared and hashed: copyreg._reconstructor(cls,
 * object, None), which protocols 0 and 1 write, is the NEWOBJ cls() of
 * protocol 2 and up, so one instance sent by two clients compares equal. */
static void opaque_parts(const md_val *v, md_val **parts, uint16_t *kind)
{
    const md_opaqueobj *o = (const md_opaqueobj *)v;
    md_val *const all[] = { o->callable, o->args, o->kwargs, o->state, o->listitems, o->dictitems };
    memcpy(parts, all, sizeof all);
    *kind = v->aux;
    md_val *c = o->callable, *args = o->args;
    if (v->aux == MD_OPQ_REDUCE && md_typeof(c) == MD_T_GLOBAL &&
        (md_global_is(c, "copyreg", "_reconstructor") || md_global_is(c, "copy_reg", "_reconstructor")) &&
        md_typeof(args) == MD_T_TUPLE && md_tuple_len(args) == 3 &&
        md_typeof(md_tuple_get(args, 0)) == MD_T_GLOBAL &&
        md_typeof(md_tuple_get(args, 1)) == MD_T_GLOBAL &&
        md_global_is(md_tuple_get(args, 1), "builtins", "object") &&
        md_typeof(md_tuple_get(args, 2)) == MD_T_NONE) {
        parts[0] = md_tuple_get(args, 0);
        parts[1] = md_tuple_new(0);   /* the immortal () */
        *kind = MD_OPQ_NEWOBJ;
    }
}

static int opaque_eq(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    md_val *pa[6], *pb[6];
    uint16_t ka, kb;
    opaque_parts(a, pa, &ka);
    opaque_parts(b, pb, &kb);
    if (ka != kb)
        return 0;
    return items_eq(pa, pb, 6, e, depth);
}

/* One more container visited by the == that began at depth 0 (which
 * resets both budgets: its lookups hash too). */
static int eq_budget(int depth, md_pyerr *e)
{
    if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
        return md_val__too_deep(e, " in comparison");
    if (depth == 0)
        eq_work = hash_work = 0;
    if (++eq_work > MD_MAX_VALUE_WORK) {
        md_pyerr_set(e, "RecursionError", "values too complex to compare (over %d containers)",
                     MD_MAX_VALUE_WORK);
        return -1;
    }
    return 0;
}

int md_val__eq(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    if (is_number(a) && is_number(b))
        return num_eq(a, b);
    if ((!IS_SMALL(a) && a->type == MD_T_OPAQUE) || (!IS_SMALL(b) && b->type == MD_T_OPAQUE)) {
        /* Before the identity shortcut: Decimal('NaN') != itself. */
        if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
            return md_val__too_deep(e, " in comparison");
        int r = md_std__eq(a, b, e, depth);
        if (r != MD_STD_PASS)
            return r;
    }
    if (a == b)
        return 1;   /* every other non-number type is reflexive */
    if (IS_SMALL(a) || IS_SMALL(b))
        return 0;
    if (is_bytes(a) && is_bytes(b)) {
        size_t n = md_bytes_len(a);
        return n == md_bytes_len(b) && memcmp(md_bytes_data(a), md_bytes_data(b), n) == 0;
    }
    if (is_set(a) && is_set(b)) {
        if (md_set_len(a) != md_set_len(b))
            return 0;
        if (eq_budget(depth, e) < 0)
            return -1;
        return nested_lookups(set_subset, a, b, e, depth + 1);
    }
    if (a->type != b->type)
        return 0;
    switch ((md_vtype)a->type) {
    case MD_T_STR: {
        size_t n = md_val__slen(a);
        return n == md_val__slen(b) && memcmp(md_val__sdata(a), md_val__sdata(b), n) == 0;
    }
    case MD_T_GLOBAL:
        return strcmp(md_global_module(a), md_global_module(b)) == 0 &&
               strcmp(md_global_name(a), md_global_name(b)) == 0;
    case MD_T_NONE:
    case MD_T_BOOL:
        return 0;   /* distinct singletons */
    default:
        break;
    }
    if (eq_budget(depth, e) < 0)
        return -1;
    depth++;
    switch ((md_vtype)a->type) {
    case MD_T_TUPLE: {
        const md_tupleobj *x = (const md_tupleobj *)a, *y = (const md_tupleobj *)b;
        return x->len == y->len ? items_eq(x->items, y->items, x->len, e, depth) : 0;
    }
    case MD_T_LIST: {
        const md_listobj *x = (const md_listobj *)a, *y = (const md_listobj *)b;
        /* Item by item, re-reading the lengths as Python does. */
        if (x->len != y->len)
            return 0;
        for (size_t i = 0; i < x->len && i < y->len; i++) {
            int r = item_eq(x->items[i], y->items[i], e, depth);
            if (r <= 0)
                return r;
        }
        return 1;
    }
    case MD_T_DICT:
        return nested_lookups(dict_eq, a, b, e, depth);
    case MD_T_SLICE: {
        const md_sliceobj *x = (const md_sliceobj *)a, *y = (const md_sliceobj *)b;
        md_val *const pa[] = { x->start, x->stop, x->step };
        md_val *const pb[] = { y->start, y->stop, y->step };
        return items_eq(pa, pb, 3, e, depth);
    }
    case MD_T_EXC: {
        const md_excobj *x = (const md_excobj *)a, *y = (const md_excobj *)b;
        md_val *const pa[] = { x->cls, x->args, x->state };
        md_val *const pb[] = { y->cls, y->args, y->state };
        return items_eq(pa, pb, 3, e, depth);
    }
    case MD_T_OPAQUE:
        return opaque_eq(a, b, e, depth);
    default:
        return 0;
    }
}

int md_val_eq(const md_val *a, const md_val *b, md_pyerr *e)
{
    md_pyerr_clear(e);
    return md_val__eq(a, b, e, 0);
}

/* ======================================================================
 * Hash
 * ====================================================================== */

#define HASH_BITS 61
#define HASH_MODULUS (((uint64_t)1 << HASH_BITS) - 1)
#define HASH_INF 314159
#define HASH_IMAG 1000003ULL
#define HASH_NONE 0xFCA86420LL
#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL
#define XXROTATE(x) (((x) << 31) | ((x) >> 33))

static int64_t fix_minus_one(int64_t h)
{
    return h == -1 ? -2 : h;
}

/* CPython's _Py_HashPointer (NaN hashes by identity since 3.10). */
int64_t md_val__hash_pointer(const void *p)
{
    size_t y = (size_t)p;
    y = (y >> 4) | (y << (8 * sizeof(void *) - 4));
    return fix_minus_one((int64_t)y);
}

/* CPython's _Py_HashDouble. */
static int64_t hash_double(const void *owner, double v)
{
    if (!isfinite(v)) {
        if (isinf(v))
            return v > 0 ? HASH_INF : -HASH_INF;
        return md_val__hash_pointer(owner);
    }
    int e;
    double m = frexp(v, &e);
    int sign = 1;
    if (m < 0) {
        sign = -1;
        m = -m;
    }
    uint64_t x = 0;
    while (m) {
        x = ((x << 28) & HASH_MODULUS) | x >> (HASH_BITS - 28);
        m *= 268435456.0;   /* 2**28 */
        e -= 28;
        uint64_t y = (uint64_t)m;
        m -= (double)y;
        x += y;
        if (x >= HASH_MODULUS)
            x -= HASH_MODULUS;
    }
    e = e >= 0 ? e % HASH_BITS : HASH_BITS - 1 - ((-1 - e) % HASH_BITS);
    x = ((x << e) & HASH_MODULUS) | x >> (HASH_BITS - e);
    x = x * (uint64_t)(int64_t)sign;
    return fix_minus_one((int64_t)x);
}

static int64_t hash_int(const md_val *v)
{
    if (IS_SMALL(v) || v->type == MD_T_BOOL) {
        int64_t i = small_value(v);
        uint64_t a = (uint64_t)(i < 0 ? -i : i) % HASH_MODULUS;
        return fix_minus_one(i < 0 ? -(int64_t)a : (int64_t)a);
    }
    const mpz_t *z = &((const md_bigint *)v)->z;
    int64_t a = (int64_t)mpz_tdiv_ui(*z, HASH_MODULUS);
    return fix_minus_one(mpz_sgn(*z) < 0 ? -a : a);
}

static unsigned char sip_key[crypto_shorthash_KEYBYTES];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

/* A random key per process, so clients cannot aim collisions; made once
 * even when several client threads hash at the same time. */
static _Atomic bool sip_ready;

static void sip_make_key(void)
{
    if (sodium_init() >= 0)
        randombytes_buf(sip_key, sizeof sip_key);
    atomic_store_explicit(&sip_ready, true, memory_order_release);
}

/* Not inlined: its locals would sit in md_val__hash's frame, which
 * hashing nested tuples multiplies by the depth (MD_MAX_DEPTH). SipHash
 * is called by its own name (crypto_shorthash is a wrapper around it),
 * and pthread_once only until the key exists: a million keys of one
 * message each paid both calls. */
__attribute__((noinline)) static int64_t hash_bytes(const void *data, size_t n)
{
    if (!atomic_load_explicit(&sip_ready, memory_order_acquire))
        pthread_once(&sip_once, sip_make_key);
    unsigned char out[crypto_shorthash_siphash24_BYTES];
    _Static_assert(crypto_shorthash_KEYBYTES == crypto_shorthash_siphash24_KEYBYTES,
                   "the key is SipHash-2-4's");
    crypto_shorthash_siphash24(out, data, n, sip_key);
    int64_t h;
    memcpy(&h, out, sizeof h);
    return fix_minus_one(h);
}

int64_t md_val__hash_text(const void *data, size_t n)
{
    return hash_bytes(data, n);
}

/* CPython's tuplehash lane step. */
static uint64_t xx_lane(uint64_t acc, int64_t lane)
{
    acc += (uint64_t)lane * XXPRIME_2;
    acc = XXROTATE(acc);
    return acc * XXPRIME_1;
}

uint64_t md_val__xx_lane(uint64_t acc, int64_t lane)
{
    return xx_lane(acc, lane);
}

static int hash_items(md_val *const *items, size_t n, uint64_t *acc,
                      md_pyerr *e, int depth)
{
    for (size_t i = 0; i < n; i++) {
        int64_t h;
        if (!items[i])
            h = HASH_NONE;
        else if (md_val__hash(items[i], &h, e, depth) < 0)
            return -1;
        *acc = xx_lane(*acc, h);
    }
    return 0;
}

static int hash_tuple(const md_tupleobj *t, int64_t *out, md_pyerr *e, int depth)
{
    uint64_t acc = XXPRIME_5;
    if (hash_items(t->items, t->len, &acc, e, depth) < 0)
        return -1;
    acc += t->len ^ (XXPRIME_5 ^ 3527539ULL);
    *out = acc == (uint64_t)-1 ? 1546275796 : (int64_t)acc;
    return 0;
}

static uint64_t shuffle_bits(uint64_t h)
{
    return ((h ^ 89869747ULL) ^ (h << 16)) * 3644798167ULL;
}

/* CPython's frozenset_hash. */
static int hash_frozenset(const md_val *s, int64_t *out, md_pyerr *e, int depth)
{
    uint64_t hash = 0;
    size_t pos = 0;
    md_val *k;
    while (md_set_next(s, &pos, &k)) {
        int64_t h;
        if (md_val__hash(k, &h, e, depth) < 0)
            return -1;
        hash ^= shuffle_bits((uint64_t)h);
    }
    hash ^= ((uint64_t)md_set_len(s) + 1) * 1927868237ULL;
    hash ^= (hash >> 11) ^ (hash >> 25);
    hash = hash * 69069U + 907133923ULL;
    *out = hash == (uint64_t)-1 ? 590923713 : (int64_t)hash;
    return 0;
}

static int unhashable(const md_val *v, md_pyerr *e)
{
    md_pyerr_set(e, "TypeError", "unhashable type: '%s'", md_type_name(v));
    return -1;
}

/* Exceptions and instances: a tuple-style hash of their parts, salted
 * with the type. An instance's parts hash structurally (Python hashes
 * instances by identity, so any instance is hashable); an exception is
 * unhashable when a part is, as before. */
static int hash_parts(const md_val *v, uint16_t kind, md_val *const *parts, size_t n,
                      bool structural, int64_t *out, md_pyerr *e, int depth)
{
    uint64_t acc = XXPRIME_5 ^ ((uint64_t)v->type << 8 | kind);
    for (size_t i = 0; i < n; i++) {
        int64_t h = HASH_NONE;
        int rc = !parts[i] ? 0
                 : structural ? md_val__struct_hash(parts[i], &h, e, depth)
                                          : md_val__hash(parts[i], &h, e, depth);
        if (rc < 0 && v->type == MD_T_EXC && e && e->type && strcmp(e->type, "TypeError") == 0)
            return unhashable(v, e);
        if (rc < 0)
            return -1;
        acc = xx_lane(acc, h);
    }
    *out = fix_minus_one((int64_t)acc);
    return 0;
}

/* Order-free hash of a dict's items: keys hash as usual, values
 * structurally. */
static int struct_hash_dict(const md_val *d, int64_t *out, md_pyerr *e, int depth)
{
    uint64_t acc = 0;
    size_t pos = 0;
    md_val *k, *v;
    while (md_dict_next(d, &pos, &k, &v)) {
        int64_t hk, hv;
        if (md_val__hash(k, &hk, e, depth) < 0 || md_val__struct_hash(v, &hv, e, depth) < 0)
            return -1;
        acc += shuffle_bits(xx_lane(xx_lane(XXPRIME_5, hk), hv));
    }
    *out = fix_minus_one((int64_t)(acc ^ md_dict_len(d)));
    return 0;
}

static int struct_hash_seq(md_val *const *items, size_t n, uint64_t salt, int64_t *out,
                           md_pyerr *e, int depth)
{
    uint64_t acc = XXPRIME_5 ^ salt;
    for (size_t i = 0; i < n; i++) {
        int64_t h;
        if (md_val__struct_hash(items[i], &h, e, depth) < 0)
            return -1;
        acc = xx_lane(acc, h);
    }
    *out = fix_minus_one((int64_t)(acc + n));
    return 0;
}

int md_val__struct_hash(const md_val *v, int64_t *out, md_pyerr *e, int depth)
{
    if (IS_SMALL(v))
        return md_val__hash(v, out, e, depth);
    if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
        return md_val__too_deep(e, " while calling a Python object");
    switch ((md_vtype)v->type) {
    case MD_T_LIST: {
        const md_listobj *l = (const md_listobj *)v;
        return struct_hash_seq(l->items, l->len, 1, out, e, depth + 1);
    }
    case MD_T_TUPLE: {
        const md_tupleobj *t = (const md_tupleobj *)v;
        return struct_hash_seq(t->items, t->len, 2, out, e, depth + 1);
    }
    case MD_T_DICT:
        return struct_hash_dict(v, out, e, depth + 1);
    case MD_T_SET:
        return hash_frozenset(v, out, e, depth + 1);
    case MD_T_BYTEARRAY:
        *out = hash_bytes(md_bytes_data(v), md_bytes_len(v));
        return 0;
    case MD_T_EXC: {
        /* Inside an instance an exception is a part like any other. */
        const md_excobj *x = (const md_excobj *)v;
        md_val *const parts[] = { x->cls, x->args, x->state };
        return hash_parts(v, v->aux, parts, 3, true, out, e, depth + 1);
    }
    case MD_T_OPAQUE: {
        md_std_kind k = md_val_std_kind(v);
        if (k == MD_STD_ORDEREDDICT || k == MD_STD_COUNTER || k == MD_STD_DEFAULTDICT ||
            k == MD_STD_DEQUE || k == MD_STD_ARRAY) {
            md_val *items = md_std__items(v, e);
            if (!items)
                return -1;
            int rc = md_val__struct_hash(items, out, e, depth + 1);
            md_decref(items);
            return rc;
        }
        return md_val__hash(v, out, e, depth);
    }
    default:
        return md_val__hash(v, out, e, depth);
    }
}

static int hash_container(const md_val *a, int64_t *out, md_pyerr *e, int depth)
{
    if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
        return md_val__too_deep(e, " while calling a Python object");
    if (++hash_work > MD_MAX_VALUE_WORK) {
        md_pyerr_set(e, "RecursionError", "value too complex to hash (over %d containers)",
                     MD_MAX_VALUE_WORK);
        return -1;
    }
    depth++;
    switch ((md_vtype)a->type) {
    case MD_T_TUPLE:
        return hash_tuple((const md_tupleobj *)a, out, e, depth);
    case MD_T_FROZENSET:
        return hash_frozenset(a, out, e, depth);
    case MD_T_SLICE: {
        /* Python 3.12 slice_hash: the tuple lanes without the length. */
        const md_sliceobj *s = (const md_sliceobj *)a;
        md_val *const parts[] = { s->start, s->stop, s->step };
        uint64_t acc = XXPRIME_5;
        if (hash_items(parts, 3, &acc, e, depth) < 0)
            return -1;
        *out = acc == (uint64_t)-1 ? 1546275796 : (int64_t)acc;
        return 0;
    }
    case MD_T_EXC: {
        const md_excobj *x = (const md_excobj *)a;
        md_val *const parts[] = { x->cls, x->args, x->state };
        return hash_parts(a, a->aux, parts, 3, false, out, e, depth);
    }
    case MD_T_OPAQUE: {
        int rc = md_std__hash(a, out, e, depth);
        if (rc != MD_STD_PASS)
            return rc;
        md_val *parts[6];
        uint16_t kind;
        opaque_parts(a, parts, &kind);
        return hash_parts(a, kind, parts, 6, true, out, e, depth);
    }
    default:
        return unhashable(a, e);
    }
}

int md_val__hash(const md_val *a, int64_t *out, md_pyerr *e, int depth)
{
    if (depth == 0)
        hash_work = 0;
    if (IS_SMALL(a)) {
        *out = hash_int(a);
        return 0;
    }
    switch ((md_vtype)a->type) {
    case MD_T_NONE:
        *out = HASH_NONE;
        return 0;
    case MD_T_BOOL:
    case MD_T_INT:
        *out = hash_int(a);
        return 0;
    case MD_T_FLOAT:
        *out = hash_double(a, md_float_get(a));
        return 0;
    case MD_T_COMPLEX: {
        uint64_t re = (uint64_t)hash_double(a, md_complex_real(a));
        uint64_t im = (uint64_t)hash_double(a, md_complex_imag(a));
        *out = fix_minus_one((int64_t)(re + HASH_IMAG * im));
        return 0;
    }
    case MD_T_STR:
    case MD_T_BYTES:
        *out = hash_bytes(md_val__sdata(a), md_val__slen(a));
        return 0;
    case MD_T_GLOBAL: {
        const md_globalobj *g = (const md_globalobj *)a;
        size_t n = g->modlen + 1 + strlen(md_global_name(a));
        *out = hash_bytes(g->text, n);
        return 0;
    }
    case MD_T_BYTEARRAY:
    case MD_T_LIST:
    case MD_T_DICT:
    case MD_T_SET:
        return unhashable(a, e);
    default:
        return hash_container(a, out, e, depth);
    }
}

int md_val_hash(const md_val *a, int64_t *out, md_pyerr *e)
{
    md_pyerr_clear(e);
    return md_val__hash(a, out, e, 0);
}

bool md_val_is_hashable(const md_val *v)
{
    int64_t h;
    md_pyerr e;
    return md_val__hash(v, &h, &e, 0) == 0;
}

/* ======================================================================
 * Ordering
 * ====================================================================== */

enum { OP_LT, OP_LE, OP_GT, OP_GE };

static bool cmp_result(int c, int op)
{
    switch (op) {
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

static const char *const op_names[] = { "<", "<=", ">", ">=" };

int md_val__not_supported(const md_val *a, const md_val *b, int op, md_pyerr *e)
{
    md_pyerr_set(e, "TypeError", "'%s' not supported between instances of '%s' and '%s'",
                 op_names[op], md_type_name(a), md_type_name(b));
    return -1;
}

static int bytes_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c)
        return c < 0 ? -1 : 1;
    return (na > nb) - (na < nb);
}

static int order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth);

/* Python's sequence rule: the first items that differ decide, else the
 * lengths do. */
static int seq_order(md_val *const *x, size_t nx, md_val *const *y, size_t ny,
                     int op, md_pyerr *e, int depth)
{
    size_t n = nx < ny ? nx : ny;
    for (size_t i = 0; i < n; i++) {
        int r = item_eq(x[i], y[i], e, depth);
        if (r < 0)
            return -1;
        if (!r)
            return order(x[i], y[i], op, e, depth);
    }
    return cmp_result((nx > ny) - (nx < ny), op);
}

static int set_order(const md_val *a, const md_val *b, int op, md_pyerr *e)
{
    size_t na = md_set_len(a), nb = md_set_len(b);
    switch (op) {
    case OP_LT: return na < nb ? set_subset(a, b, e, 0) : 0;
    case OP_LE: return set_subset(a, b, e, 0);
    case OP_GT: return na > nb ? set_subset(b, a, e, 0) : 0;
    default: return set_subset(b, a, e, 0);
    }
}

static int order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth)
{
    if ((!IS_SMALL(a) && a->type == MD_T_OPAQUE) || (!IS_SMALL(b) && b->type == MD_T_OPAQUE)) {
        if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
            return md_val__too_deep(e, " in comparison");
        int r = md_std__order(a, b, op, e, depth);
        return r != MD_STD_PASS ? r : md_val__not_supported(a, b, op, e);
    }
    bool an = is_number(a), bn = is_number(b);
    if (an && bn) {
        if ((!IS_SMALL(a) && a->type == MD_T_COMPLEX) ||
            (!IS_SMALL(b) && b->type == MD_T_COMPLEX))
            return md_val__not_supported(a, b, op, e);
        int c = num_cmp(a, b);
        return c == 2 ? 0 : cmp_result(c, op);
    }
    if (an || bn)
        return md_val__not_supported(a, b, op, e);
    if (a->type == MD_T_STR && b->type == MD_T_STR)
        return cmp_result(bytes_cmp(md_val__sdata(a), md_val__slen(a),
                                    md_val__sdata(b), md_val__slen(b)), op);
    if (is_bytes(a) && is_bytes(b))
        return cmp_result(bytes_cmp(md_bytes_data(a), md_bytes_len(a),
                                    md_bytes_data(b), md_bytes_len(b)), op);
    if (a->type == MD_T_SLICE && b->type == MD_T_SLICE) {
        /* Slices order as their (start, stop, step) tuples. */
        const md_sliceobj *x = (const md_sliceobj *)a, *y = (const md_sliceobj *)b;
        md_val *const pa[] = { x->start, x->stop, x->step };
        md_val *const pb[] = { y->start, y->stop, y->step };
        return seq_order(pa, 3, pb, 3, op, e, depth + 1);
    }
    bool seq = a->type == b->type && (a->type == MD_T_TUPLE || a->type == MD_T_LIST);
    if (!seq && !(is_set(a) && is_set(b)))
        return md_val__not_supported(a, b, op, e);
    if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
        return md_val__too_deep(e, " in comparison");
    if (!seq)
        return set_order(a, b, op, e);
    if (a->type == MD_T_TUPLE) {
        const md_tupleobj *x = (const md_tupleobj *)a, *y = (const md_tupleobj *)b;
        return seq_order(x->items, x->len, y->items, y->len, op, e, depth + 1);
    }
    const md_listobj *x = (const md_listobj *)a, *y = (const md_listobj *)b;
    return seq_order(x->items, x->len, y->items, y->len, op, e, depth + 1);
}

int md_val__order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth)
{
    return order(a, b, op, e, depth);
}

/* Bottom-up merge sort: no recursion, n log n comparisons whatever the
 * input, stable. A run's right pair goes first only when it orders
 * strictly before (reverse: strictly after) the left one. */
int md_val__sort_pairs(md_val_pair *pairs, size_t n, bool reverse, md_pyerr *e, int depth)
{
    md_val_pair *tmp = md_malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) {
        md_val__nomem(e);
        return -1;
    }
    md_val_pair *src = pairs, *dst = tmp;
    int rc = 0;
    for (size_t width = 1; rc == 0 && width < n; width *= 2) {
        for (size_t lo = 0; rc == 0 && lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                int r = reverse ? order(src[a].key, src[b].key, 0, e, depth)
                                : order(src[b].key, src[a].key, 0, e, depth);
                if (r < 0) {
                    rc = -1;
                    break;
                }
                dst[k++] = r ? src[b++] : src[a++];
            }
            while (a < mid)
                dst[k++] = src[a++];
            while (b < hi)
                dst[k++] = src[b++];
        }
        md_val_pair *t = src;
        src = dst;
        dst = t;
    }
    /* After a failure dst holds the last complete pass. */
    md_val_pair *last = rc == 0 ? src : dst;
    if (last != pairs)
        memcpy(pairs, last, n * sizeof *pairs);
    md_free(tmp);
    return rc;
}

int md_val_sort_pairs(md_val_pair *pairs, size_t n, bool reverse, md_pyerr *e)
{
    md_pyerr_clear(e);
    return md_val__sort_pairs(pairs, n, reverse, e, 0);
}

int md_val_order(const md_val *a, const md_val *b, const char *op, md_pyerr *e)
{
    md_pyerr_clear(e);
    for (int i = 0; i < 4; i++)
        if (strcmp(op, op_names[i]) == 0)
            return order(a, b, i, e, 0);
    md_pyerr_set(e, "ValueError", "unknown comparison operator '%s'", op);
    return -1;
}

/* ======================================================================
 * deepcopy
 * ====================================================================== */

/* Original -> copy, by address; holds a reference to each copy. */
typedef md_ptrmap memo;

static md_val *memo_get(const memo *m, const md_val *key)
{
    md_ptrmap_ent *ent = md_ptrmap_find(m, (uintptr_t)key);
    return ent ? (md_val *)ent->val : NULL;
}

static int memo_put(memo *m, const md_val *key, md_val *val, md_pyerr *e)
{
    if (md_ptrmap_put(m, (uintptr_t)key, (uintptr_t)val) < 0) {
        md_val__nomem(e);
        return -1;
    }
    md_incref(val);
    return 0;
}

static void memo_free(memo *m)
{
    size_t pos = 0;
    md_ptrmap_ent *ent;
    while (md_ptrmap_next(m, &pos, &ent))
        md_decref((md_val *)ent->val);
    md_ptrmap_free(m);
}

static md_val *copy(md_val *v, memo *m, md_pyerr *e, int depth);

/* Copies n items into out[]; *same tells whether every copy is the
 * original. On failure the copies made so far are released. */
static int copy_items(md_val *const *items, size_t n, md_val **out, bool *same,
                      memo *m, md_pyerr *e, int depth)
{
    *same = true;
    for (size_t i = 0; i < n; i++) {
        if (!items[i]) {
            out[i] = NULL;
            continue;
        }
        out[i] = copy(items[i], m, e, depth);
        if (!out[i]) {
            while (i-- > 0)
                md_decref(out[i]);
            return -1;
        }
        if (out[i] != items[i])
            *same = false;
    }
    return 0;
}

static md_val *copy_tuple(md_val *v, memo *m, md_pyerr *e, int depth)
{
    const md_tupleobj *x = (const md_tupleobj *)v;
    md_val *t = md_tuple_new(x->len);
    if (!t) {
        md_val__nomem(e);
        return NULL;
    }
    bool same;
    md_tupleobj *y = (md_tupleobj *)t;
    if (copy_items(x->items, x->len, y->items, &same, m, e, depth) < 0) {
        for (size_t i = 0; i < x->len; i++)
            y->items[i] = md_none();
        md_decref(t);
        return NULL;
    }
    md_tuple_filled(t);
    /* A cycle through a mutable item may have copied this tuple already. */
    md_val *done = memo_get(m, v);
    if (done || same) {
        md_decref(t);
        return md_incref(done ? done : v);
    }
    if (memo_put(m, v, t, e) < 0) {
        md_decref(t);
        return NULL;
    }
    return t;
}

static md_val *copy_list(md_val *v, md_val *y, memo *m, md_pyerr *e, int depth)
{
    for (size_t i = 0; i < md_list_len(v); i++) {
        md_val *c = copy(md_list_get(v, i), m, e, depth);
        if (!c)
            return NULL;
        if (md_list_append_steal(y, c) < 0) {
            md_val__nomem(e);
            return NULL;
        }
    }
    return y;
}

static md_val *copy_table(md_val *v, md_val *y, memo *m, md_pyerr *e, int depth)
{
    size_t pos = 0;
    md_val *k, *val = NULL;
    for (;;) {
        bool more = v->type == MD_T_DICT ? md_dict_next(v, &pos, &k, &val)
                                         : md_set_next(v, &pos, &k);
        if (!more)
            return y;
        md_val *ck = copy(k, m, e, depth), *cv = NULL;
        if (ck && val)
            cv = copy(val, m, e, depth);
        int rc = !ck || (val && !cv) ? -1
                 : v->type == MD_T_DICT ? md_dict_set(y, ck, cv, e)
                                        : md_set_add(y, ck, e);
        md_decref(ck);
        md_decref(cv);
        if (rc < 0)
            return NULL;
    }
}

/* Each part orig[i] (a NULL one is skipped) copied into *slots[i], the
 * empty copy's part released: 0, or -1 with e set. */
static int copy_slots(md_val *const *orig, md_val **const *slots, size_t n, memo *m, md_pyerr *e,
                      int depth)
{
    for (size_t i = 0; i < n; i++) {
        if (!orig[i])
            continue;
        md_val *c = copy(orig[i], m, e, depth);
        if (!c)
            return -1;
        md_val *old = *slots[i];
        *slots[i] = c;
        md_decref(old);
    }
    return 0;
}

static md_val *copy_parts(md_val *v, md_val *y, memo *m, md_pyerr *e, int depth)
{
    md_val **slots[6];
    size_t n = 0;
    if (v->type == MD_T_EXC) {
        md_excobj *c = (md_excobj *)y;   /* the class global is shared */
        slots[n++] = &c->args;
        slots[n++] = &c->state;
    } else {
        md_opaqueobj *c = (md_opaqueobj *)y;
        slots[n++] = &c->callable;
        slots[n++] = &c->args;
        slots[n++] = &c->kwargs;
        slots[n++] = &c->state;
        slots[n++] = &c->listitems;
        slots[n++] = &c->dictitems;
    }
    md_val *orig[6];
    if (v->type == MD_T_EXC) {
        orig[0] = md_exc_args(v);
        orig[1] = md_exc_state(v);
    } else {
        orig[0] = md_opaque_callable(v);
        orig[1] = md_opaque_args(v);
        orig[2] = md_opaque_kwargs(v);
        orig[3] = md_opaque_state(v);
        orig[4] = md_opaque_listitems(v);
        orig[5] = md_opaque_dictitems(v);
    }
    return copy_slots(orig, slots, n, m, e, depth) < 0 ? NULL : y;
}

/* A new, empty container of v's kind, for the memo before its items. */
static md_val *empty_like(md_val *v)
{
    switch ((md_vtype)v->type) {
    case MD_T_LIST: return md_list_new(md_list_len(v));
    case MD_T_DICT: return md_dict_new();
    case MD_T_SET: return md_set_new(false);
    case MD_T_FROZENSET: return md_set_new(true);
    case MD_T_BYTEARRAY: return md_bytearray_new(md_bytes_data(v), md_bytes_len(v));
    case MD_T_EXC: return md_exc_new(md_exc_class(v), NULL, NULL);
    case MD_T_OPAQUE: return md_opaque_new(md_opaque_kind_of(v), NULL, NULL);
    case MD_T_SLICE: return md_slice_new(NULL, NULL, NULL);
    default: return NULL;
    }
}

static md_val *copy_slice(md_val *v, md_val *y, memo *m, md_pyerr *e, int depth)
{
    md_sliceobj *x = (md_sliceobj *)v, *c = (md_sliceobj *)y;
    md_val *orig[] = { x->start, x->stop, x->step };
    md_val **slots[] = { &c->start, &c->stop, &c->step };
    return copy_slots(orig, slots, 3, m, e, depth) < 0 ? NULL : y;
}

static md_val *copy(md_val *v, memo *m, md_pyerr *e, int depth)
{
    if (IS_SMALL(v) || (v->flags & F_IMMORTAL))
        return v;
    switch ((md_vtype)v->type) {
    case MD_T_INT: case MD_T_FLOAT: case MD_T_COMPLEX: case MD_T_STR:
    case MD_T_BYTES: case MD_T_GLOBAL:
        return md_incref(v);
    default:
        break;
    }
    md_val *done = memo_get(m, v);
    if (done)
        return md_incref(done);
    if (depth >= MD_MAX_DEPTH || md_stack_exhausted()) {
        md_val__too_deep(e, " while copying");
        return NULL;
    }
    depth++;
    if (v->type == MD_T_TUPLE)
        return copy_tuple(v, m, e, depth);
    md_val *y = empty_like(v);
    if (!y) {
        md_val__nomem(e);
        return NULL;
    }
    if (memo_put(m, v, y, e) < 0) {
        md_decref(y);
        return NULL;
    }
    md_val *r;
    switch ((md_vtype)v->type) {
    case MD_T_LIST: r = copy_list(v, y, m, e, depth); break;
    case MD_T_DICT: case MD_T_SET: case MD_T_FROZENSET:
        r = copy_table(v, y, m, e, depth); break;
    case MD_T_EXC: case MD_T_OPAQUE: r = copy_parts(v, y, m, e, depth); break;
    case MD_T_SLICE: r = copy_slice(v, y, m, e, depth); break;
    default: r = y; break;   /* bytearray: copied whole */
    }
    if (!r)
        md_decref(y);
    return r;
}

md_val *md_val_deepcopy(md_val *v, md_pyerr *e)
{
    md_pyerr_clear(e);
    memo m;
    md_ptrmap_init(&m);
    md_val *r = copy(v, &m, e, 0);
    memo_free(&m);
    return r;
}
