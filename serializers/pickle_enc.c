/* pickle_enc.c - encodes md_val values as pickles of protocols 2 to 5,
 * choosing the opcodes CPython's C pickler chooses, so a value decoded
 * from a Python 3 pickle re-encodes at the same protocol to the same
 * bytes (or at least to a pickle that loads equal), and writing Python 2
 * module names at protocol 2.
 *
 * Nothing recurses: an explicit task stack drives the walk, and a depth
 * counter stops at MD_MAX_DEPTH. Objects are memoized before their
 * contents are written, so shared references and cycles survive; a
 * recursive tuple gets pickle.py's POP/POP_MARK + GET treatment. Output
 * goes straight into the md_buf through reserve + direct stores.
 */
#include "serializers/pickle.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/base/ptrmap.h"
#include "serializers/pickle_int.h"

enum {
    MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', BININT = 'J',
    BININT1 = 'K', BININT2 = 'M', NONE = 'N', REDUCE = 'R', BINSTRING = 'T',
    SHORT_BINSTRING = 'U', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b',
    GLOBAL = 'c', EMPTY_DICT = '}', APPENDS = 'e', BINGET = 'h',
    LONG_BINGET = 'j', EMPTY_LIST = ']', OBJ = 'o', BINPUT = 'q',
    LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')',
    SETITEMS = 'u', BINFLOAT = 'G', PROTO = 0x80, NEWOBJ = 0x81,
    TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
    NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, BINBYTES = 'B',
    SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
    BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91,
    NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
    BYTEARRAY8 = 0x96,
};

#define BATCHSIZE 1000
#define FRAME_TARGET (64 * 1024)
#define FRAME_MIN 4
#define FRAME_HEADER 9
#define NO_FRAME SIZE_MAX
/* Depth from which save_value asks whether the C stack runs short: only
 * the deep value of a hostile request gets there. */
#define STACK_CHECK_DEPTH 64

/* ======================================================================
 * State
 * ====================================================================== */

typedef enum task_kind {
    K_SAVE,   /* encode v */
    K_TUPLE,  /* items of a tuple, then TUPLEn/TUPLE or the recursion trick */
    K_ITEMS,  /* batched items of a list/dict/set (mode says which) */
    K_DONE,   /* write op (REDUCE, NEWOBJ, ...), then memoize v */
    K_OPS,    /* write a fixed tail (code says which) */
} task_kind;

typedef enum items_mode {
    M_LIST,       /* list: APPEND if it has one item, else MARK..APPENDS */
    M_LISTITEMS,  /* opaque list items: any batch of one is an APPEND */
    M_DICT,       /* dict: SETITEM if one item, else MARK..SETITEMS */
    M_DICTITEMS,  /* opaque dict items (a list of pairs) */
    M_SET,        /* set at 4+: MARK..ADDITEMS batches */
    M_SETLIST,    /* a set's items as the list argument of set()/frozenset() */
    M_FROZEN,     /* frozenset at 4+: items, then FROZENSET */
    M_VKEYS,      /* a view's list of a dict's keys */
    M_VVALUES,    /* a view's list of a dict's values */
    M_VITEMS,     /* a view's list of a dict's (key, value) tuples */
    M_VSLICE,     /* a view's list of a list's items start, start + step, ... */
} items_mode;

enum ops_code { OPS_TUPLE1_TEMP, OPS_TUPLE3_TEMP, OPS_BUILD };

typedef struct task {
    const md_val *v;
    const md_val *pending;  /* K_ITEMS dict modes: value after its key */
    size_t pos;             /* items written */
    size_t iter;            /* md_dict_next / md_set_next position */
    size_t batch_end;       /* K_ITEMS: end of the current batch, 0 if none */
    size_t count;           /* M_VSLICE: items; M_VITEMS: the dict's length */
    size_t out_start;       /* K_ITEMS: output length when its items began */
    int64_t step;           /* M_VSLICE: iter's step */
    uint32_t depth;
    uint8_t kind;
    uint8_t mode;           /* items_mode, K_DONE opcode or ops_code;
                               K_TUPLE: counted in unmemoized */
    uint8_t flag;           /* K_TUPLE: MARK written; K_ITEMS: single item */
    uint8_t phase;          /* M_VITEMS: 0 next key, 1 its value, 2 TUPLE2 */
} task;

typedef struct memo_ent {
    const md_val *key;
    size_t idx;
} memo_ent;

typedef struct str_ent {
    char *key;              /* kind byte + text, owned */
    size_t len;
    size_t idx;
} str_ent;

/* The text memo: a hash of the text -> its entry in an array. Two texts
 * of one hash (possible: the hash is FNV-1a, and names come from
 * clients) only cost a memo hit: a lookup compares the text, and the
 * later text takes the hash over. */
typedef struct str_memo {
    md_ptrmap byhash;
    str_ent *ents;
    size_t len, cap;
} str_memo;

typedef struct enc {
    md_buf *out;
    int proto;
    md_pickle_err *err;
    task *tasks;
    size_t ntasks, tasks_cap;
    md_ptrmap memo;         /* value -> memo index */
    str_memo smemo;         /* globals and module names, keyed by text */
    size_t memo_next;       /* next memo index */
    size_t frame_start;     /* offset of the open frame's header */
    size_t unmemoized;      /* open containers memoized after their contents */
    uint16_t stamp;         /* this encode's mark on memoized str/bytes */
    memo_ent *pend;         /* stamped memo entries not yet in memo */
    size_t pend_len, pend_cap, pend_flushed;
    bool materialize;       /* write views through the containers they stand for */
    md_out_refs *refs;      /* big payloads go here by reference (NULL: copied) */
    bool restart;           /* a view's source was met: encode again, materializing */

    /* Small values never touch the allocator for these. */
    task tasks_inline[16];
    md_ptrmap_ent memo_inline[64];
} enc;

static int efail(enc *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int efail(enc *e, int code, const char *fmt, ...)
{
    if (e->err->code)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err->msg, sizeof e->err->msg, fmt, ap);
    va_end(ap);
    e->err->code = code;
    e->err->offset = 0;
    return -1;
}

static int enomem(enc *e)
{
    return efail(e, MD_ENOMEM, "out of memory");
}

/* ======================================================================
 * Writing
 * ====================================================================== */

/* The slow half of room(): grow the buffer. A reply of many megabytes
 * is written into fresh pages once (a connection frees a big buffer
 * after each reply), and faulting them in 4 KiB at a time cost more than
 * a tenth of writing d.keys() of a million items: ask for huge pages. */
static int grow(enc *e, size_t n)
{
    size_t before = e->out->cap;
    if (md_buf_reserve(e->out, n) < 0)
        return enomem(e);
    if (e->out->cap != before && e->out->cap >= 2 * MD_HUGE_PAGE_BYTES)
        md_advise_huge(e->out->data, e->out->cap);
    return 0;
}

/* Room for n more bytes; the caller then stores through wp(). */
static inline int room(enc *e, size_t n)
{
    if (e->out->cap - e->out->len > n && !e->out->failed) /* md_buf keeps a spare byte */
        return 0;
    return grow(e, n);
}

/* Once the first batch of a big container is written, room for the
 * rest at the rate of that batch (and an eighth more): a buffer grown by
 * doubling copies everything written so far at each step, which was
 * the second cost of encoding d.keys() of a million items. A guess only:
 * writing goes on as before when it is short. */
#define PRESIZE_MIN_ITEMS (8 * BATCHSIZE)
#define PRESIZE_MAX_BYTES ((size_t)1 << 30)

static int presize(enc *e, size_t done, size_t total, size_t since)
{
    if (total < PRESIZE_MIN_ITEMS || done != BATCHSIZE)
        return 0;
    size_t per_item = (e->out->len - since) / done + 1;
    size_t left = total - done;
    if (per_item > PRESIZE_MAX_BYTES / left)
        return 0;
    size_t want = per_item * left;
    return room(e, want + want / 8);
}

static inline uint8_t *wp(enc *e)
{
    return e->out->data + e->out->len;
}

static inline void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static int w1(enc *e, uint8_t op)
{
    if (room(e, 1) < 0)
        return -1;
    e->out->data[e->out->len++] = op;
    return 0;
}

static int w2(enc *e, uint8_t a, uint8_t b)
{
    if (room(e, 2) < 0)
        return -1;
    uint8_t *p = wp(e);
    p[0] = a;
    p[1] = b;
    e->out->len += 2;
    return 0;
}

/* ---- frames ---- */

static void frame_open(enc *e)
{
    if (room(e, FRAME_HEADER) < 0)
        return;
    e->frame_start = e->out->len;
    e->out->len += FRAME_HEADER;
}

/* Close the open frame: fill in its header, or take the header out when
 * the frame is too small to be worth one (as _pickle.c does). */
static void frame_commit(enc *e)
{
    if (e->frame_start == NO_FRAME || e->out->failed)
        return;
    uint8_t *h = e->out->data + e->frame_start;
    size_t len = e->out->len - e->frame_start - FRAME_HEADER;
    if (len >= FRAME_MIN) {
        h[0] = FRAME;
        put_le(h + 1, len, 8);
    } else {
        memmove(h, h + FRAME_HEADER, len);
        e->out->len -= FRAME_HEADER;
    }
    e->frame_start = NO_FRAME;
}

/* At an opcode boundary: start a new frame once this one is big enough. */
static inline void frame_boundary(enc *e)
{
    if (e->frame_start != NO_FRAME &&
        e->out->len - e->frame_start - FRAME_HEADER >= FRAME_TARGET) {
        frame_commit(e);
        frame_open(e);
    }
}

/* An opcode header followed by a payload. A payload of 64 KiB or more
 * goes outside any frame, as CPython writes it. A big one of owner (a
 * str, bytes or bytearray value; NULL: none) is noted by reference when
 * the caller asked for that (outref.h) instead of copied: it is outside
 * any frame either way, so the bytes of the message are the same. */
_Static_assert(MD_REPLY_REF_MIN_BYTES >= FRAME_TARGET, "a payload by reference is unframed");

static int w_payload(enc *e, const uint8_t *hdr, size_t hlen, const md_val *owner,
                     const void *data, size_t n)
{
    bool big = e->frame_start != NO_FRAME && n >= FRAME_TARGET;
    bool by_ref = e->refs && owner && n >= MD_REPLY_REF_MIN_BYTES;
    size_t copied = by_ref ? 0 : n;
    if (big)
        frame_commit(e);
    if (room(e, hlen + copied) < 0)
        return -1;
    memcpy(wp(e), hdr, hlen);
    if (copied)
        memcpy(wp(e) + hlen, data, copied);
    e->out->len += hlen + copied;
    if (by_ref && md_out_refs_add(e->refs, e->out->len, (md_val *)owner, data, n) < 0)
        return enomem(e);
    if (big)
        frame_open(e);
    return 0;
}

/* ======================================================================
 * Memo
 * ====================================================================== */

/* A value with a single reference is reachable only once, so it can never
 * be met again: it still gets its memo index (CPython writes one), but
 * nothing needs to look it up, which saves most of the hashing. That only
 * holds while every container on the way down is already memoized: a
 * tuple (or a REDUCE'd object) is memoized after its contents, and if a
 * cycle leads back to it, its contents are walked a second time. */
static inline bool exclusive(const enc *e, const md_val *v)
{
    return e->unmemoized == 0 && md_refcount(v) == 1;
}

/* str and bytes skip the hash table until one is met twice.
 *
 * Encoding a big dict copy or key list memoizes a million keys that are
 * never met again, and each lookup and insert in a million-entry memo is
 * a cache (and TLB) miss: that was half of the server's time for d.copy()
 * of 1M items. So a memoized str or bytes is stamped with this encode's
 * number and its (value, index) appended to a flat array, written in
 * order; a lookup of an unstamped one is a miss without touching the
 * memo, and the flat array goes into the hash table only when a stamped
 * value comes round again. A stamp left by an older encode (one that
 * failed, or 65,536 encodes ago) only costs that hash lookup: stamps are
 * never cleared. The output is byte for byte what it was. */
static MD_THREAD_LOCAL uint16_t last_stamp;

static bool stampable(const md_val *v)
{
    md_vtype t = md_typeof(v);
    return t == MD_T_STR || t == MD_T_BYTES;
}

static int memo_insert(enc *e, const md_val *v, size_t idx);

static int pend_flush(enc *e)
{
    while (e->pend_flushed < e->pend_len) {
        const memo_ent *p = &e->pend[e->pend_flushed];
        if (memo_insert(e, p->key, p->idx) < 0)
            return -1;
        e->pend_flushed++;
    }
    return 0;
}

static int pend_add(enc *e, const md_val *v, size_t idx)
{
    /* 256 at first: a message that memoizes at all memoizes many */
    if (e->pend_len == e->pend_cap &&
        md_grow(&e->pend, &e->pend_cap, e->pend_len < 256 ? 256 : e->pend_len + 1,
                sizeof *e->pend) < 0)
        return enomem(e);
    e->pend[e->pend_len++] = (memo_ent){ v, idx };
    md_val_set_stamp(v, e->stamp);
    return 0;
}

static size_t memo_find(const enc *e, const md_val *v);

#define MEMO_ERR (SIZE_MAX - 1)
/* The memo value of a view's source while the view is written from it
 * (see save_view): meeting it means encoding again. */
#define MEMO_VIEW_SOURCE (SIZE_MAX - 2)

/* The memo index of v; SIZE_MAX: not memoized; MEMO_ERR: out of memory
 * (error set; only for a str or bytes). */
static size_t memo_lookup(enc *e, const md_val *v)
{
    if (exclusive(e, v))
        return SIZE_MAX;
    if (stampable(v)) {
        if (md_val_stamp(v) != e->stamp)
            return SIZE_MAX;
        if (pend_flush(e) < 0)
            return MEMO_ERR;
    }
    return memo_find(e, v);
}

static size_t memo_find(const enc *e, const md_val *v)
{
    md_ptrmap_ent *ent = md_ptrmap_find(&e->memo, (uintptr_t)v);
    return ent ? (size_t)ent->val : SIZE_MAX;
}

/* Write the opcode that stores the top of the stack at the next index. */
static int w_put(enc *e, size_t idx)
{
    if (e->proto >= 4)
        return w1(e, MEMOIZE);
    if (idx < 256)
        return w2(e, BINPUT, (uint8_t)idx);
    if (idx > UINT32_MAX)
        return efail(e, MD_ELIMIT, "memo index %zu is too large for protocol %d", idx,
                     e->proto);
    if (room(e, 5) < 0)
        return -1;
    wp(e)[0] = LONG_BINPUT;
    put_le(wp(e) + 1, idx, 4);
    e->out->len += 5;
    return 0;
}

static int w_get(enc *e, size_t idx)
{
    if (idx < 256)
        return w2(e, BINGET, (uint8_t)idx);
    if (idx > UINT32_MAX)
        return efail(e, MD_ELIMIT, "memo index %zu is too large", idx);
    if (room(e, 5) < 0)
        return -1;
    wp(e)[0] = LONG_BINGET;
    put_le(wp(e) + 1, idx, 4);
    e->out->len += 5;
    return 0;
}

/* op, then the memo index of the object it built, which nobody will
 * look up (exclusive, or a temporary): one room check at protocol 4+,
 * where the index is implicit. */
static int w_op_put(enc *e, uint8_t op)
{
    if (e->proto < 4)
        return w1(e, op) < 0 ? -1 : w_put(e, e->memo_next++);
    if (w2(e, op, MEMOIZE) < 0)
        return -1;
    e->memo_next++;
    return 0;
}

/* A memo index for an object nobody can refer to again (the temporary
 * list and tuple of set() arguments, ...): CPython stores those too. */
static int memoize_temp(enc *e)
{
    return w_put(e, e->memo_next++);
}

static int memo_insert(enc *e, const md_val *v, size_t idx)
{
    if (!e->memo.own_buf)
        md_ptrmap_init_buf(&e->memo, e->memo_inline,
                           sizeof e->memo_inline / sizeof e->memo_inline[0]);
    return md_ptrmap_put(&e->memo, (uintptr_t)v, idx) < 0 ? enomem(e) : 0;
}

static int memoize(enc *e, const md_val *v)
{
    if (exclusive(e, v))
        return w_put(e, e->memo_next++);
    if (stampable(v) ? pend_add(e, v, e->memo_next) < 0
                     : memo_insert(e, v, e->memo_next) < 0)
        return -1;
    return w_put(e, e->memo_next++);
}

static size_t str_hash(const char *s, size_t n)
{
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* The text memo's key for a text: its hash, kept clear of the map's
 * reserved keys. */
static uintptr_t smemo_key(const char *key, size_t len)
{
    uintptr_t h = (uintptr_t)str_hash(key, len);
    return h == 0 || h == MD_PTRMAP_DUMMY ? 1 : h;
}

/* Index stored under a text key, or SIZE_MAX. */
static size_t smemo_lookup(const enc *e, const char *key, size_t len)
{
    md_ptrmap_ent *ent = md_ptrmap_find(&e->smemo.byhash, smemo_key(key, len));
    if (!ent)
        return SIZE_MAX;
    const str_ent *s = &e->smemo.ents[ent->val];
    return s->len == len && memcmp(s->key, key, len) == 0 ? s->idx : SIZE_MAX;
}

/* Memoize the top of the stack under a text key. */
static int smemoize(enc *e, const char *key, size_t len)
{
    str_memo *sm = &e->smemo;
    if (sm->len == sm->cap &&
        md_grow(&sm->ents, &sm->cap, sm->len < 16 ? 16 : sm->len + 1, sizeof *sm->ents) < 0)
        return enomem(e);
    char *k = md_malloc(len + 1);
    if (!k)
        return enomem(e);
    memcpy(k, key, len);
    k[len] = '\0';
    if (md_ptrmap_put(&sm->byhash, smemo_key(key, len), sm->len) < 0) {
        md_free(k);
        return enomem(e);
    }
    sm->ents[sm->len++] = (str_ent){ k, len, e->memo_next };
    return w_put(e, e->memo_next++);
}

/* ======================================================================
 * Scalars, text, bytes
 * ====================================================================== */

/* An int of 32 bits as BININT1, BININT2 or BININT at p (room for 5
 * bytes); returns the bytes written. */
static inline size_t put_int32(uint8_t *p, int64_t i)
{
    if (i >= 0 && i <= 0xff) {
        p[0] = BININT1;
        p[1] = (uint8_t)i;
        return 2;
    }
    /* Stores the compiler merges, where put_le's loop stayed a loop. */
    uint32_t u = (uint32_t)(int32_t)i;
    p[1] = (uint8_t)u;
    p[2] = (uint8_t)(u >> 8);
    if (i >= 0 && i <= 0xffff) {
        p[0] = BININT2;
        return 3;
    }
    p[0] = BININT;
    p[3] = (uint8_t)(u >> 16);
    p[4] = (uint8_t)(u >> 24);
    return 5;
}

static int save_int(enc *e, const md_val *v)
{
    int64_t i;
    if (md_int_to_i64(v, &i) == 0 && i >= INT32_MIN && i <= INT32_MAX) {
        if (room(e, 5) < 0)
            return -1;
        e->out->len += put_int32(wp(e), i);
        return 0;
    }
    if (e->proto == 2 && md_int_to_i64(v, &i) == 0) {
        /* What Python 2's cPickle writes for an 'int' beyond 32 bits: the
         * INT text opcode, so a 2.7 client gets an int back, not a long. */
        char text[32];
        int len = snprintf(text, sizeof text, "I%lld\n", (long long)i);
        if (room(e, (size_t)len) < 0)
            return -1;
        memcpy(wp(e), text, (size_t)len);
        e->out->len += (size_t)len;
        return 0;
    }
    size_t n = md_int_le_size(v);
    if (room(e, n + 5) < 0)
        return -1;
    uint8_t *p = wp(e);
    if (n < 256) {
        p[0] = LONG1;
        p[1] = (uint8_t)n;
        md_int_to_le(v, p + 2, n);
        e->out->len += n + 2;
    } else {
        if (n > INT32_MAX)
            return efail(e, MD_EUNSUPPORTED, "int too large to pickle");
        p[0] = LONG4;
        put_le(p + 1, n, 4);
        md_int_to_le(v, p + 5, n);
        e->out->len += n + 5;
    }
    return 0;
}

static int save_float(enc *e, double x)
{
    if (room(e, 9) < 0)
        return -1;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint8_t *p = wp(e);
    p[0] = BINFLOAT;
    for (int i = 8; i >= 1; i--, bits >>= 8)
        p[i] = (uint8_t)bits;
    e->out->len += 9;
    return 0;
}

/* Text as SHORT_BINUNICODE (4+), BINUNICODE or BINUNICODE8 (4+). */
static int w_unicode(enc *e, const char *s, size_t n, const md_val *owner)
{
    uint8_t h[9];
    if (n < 256 && e->proto >= 4) {
        h[0] = SHORT_BINUNICODE;
        h[1] = (uint8_t)n;
        return w_payload(e, h, 2, NULL, s, n);
    }
    if (n <= UINT32_MAX) {
        h[0] = BINUNICODE;
        put_le(h + 1, n, 4);
        return w_payload(e, h, 5, owner, s, n);
    }
    if (e->proto < 4)
        return efail(e, MD_EUNSUPPORTED, "cannot serialize a string larger than 4GiB");
    h[0] = BINUNICODE8;
    put_le(h + 1, n, 8);
    return w_payload(e, h, 9, owner, s, n);
}

/* A Python 2 byte string, for 2.7 readers. */
static int w_binstring(enc *e, const void *s, size_t n, const md_val *owner)
{
    uint8_t h[5];
    if (n < 256) {
        h[0] = SHORT_BINSTRING;
        h[1] = (uint8_t)n;
        return w_payload(e, h, 2, NULL, s, n);
    }
    if (n > INT32_MAX)
        return efail(e, MD_EUNSUPPORTED, "cannot serialize a string larger than 2GiB");
    h[0] = BINSTRING;
    put_le(h + 1, n, 4);
    return w_payload(e, h, 5, owner, s, n);
}

static int w_binbytes(enc *e, const void *s, size_t n, const md_val *owner)
{
    uint8_t h[9];
    if (n < 256) {
        h[0] = SHORT_BINBYTES;
        h[1] = (uint8_t)n;
        return w_payload(e, h, 2, NULL, s, n);
    }
    if (n <= UINT32_MAX) {
        h[0] = BINBYTES;
        put_le(h + 1, n, 4);
        return w_payload(e, h, 5, owner, s, n);
    }
    if (e->proto < 4)
        return efail(e, MD_EUNSUPPORTED, "cannot serialize a bytes object larger than 4GiB");
    h[0] = BINBYTES8;
    put_le(h + 1, n, 8);
    return w_payload(e, h, 9, owner, s, n);
}

static bool ascii_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] & 0x80)
            return false;
    return true;
}

/* A global by name (Python 3 spelling; mapped here for the protocol),
 * memoized by its text so the same class is written once. */
static int save_global_name(enc *e, const char *module, const char *name)
{
    const char *m, *q;
    md_pickle__wire_name(module, name, e->proto, &m, &q);
    size_t ml = strlen(m), ql = strlen(q);
    if (e->proto < 4 && (memchr(m, '\n', ml) || memchr(q, '\n', ql)))
        return efail(e, MD_EUNSUPPORTED,
                     "global name with a newline cannot be written at protocol %d", e->proto);
    if (e->proto == 2 && (!ascii_only(m, ml) || !ascii_only(q, ql)))
        return efail(e, MD_EUNSUPPORTED, "can't pickle global identifier '%.60s.%.60s' "
                     "using pickle protocol 2", m, q);
    char stackkey[256];
    char *key = ml + ql + 2 <= sizeof stackkey ? stackkey : md_malloc(ml + ql + 2);
    if (!key)
        return enomem(e);
    key[0] = 'g';
    memcpy(key + 1, m, ml);
    key[1 + ml] = '\n';
    memcpy(key + 2 + ml, q, ql);
    size_t klen = ml + ql + 2;
    int rc = 0;
    size_t idx = smemo_lookup(e, key, klen);
    if (idx != SIZE_MAX) {
        rc = w_get(e, idx);
    } else if (e->proto >= 4) {
        /* The module name string is shared by every global of that
         * module; the qualified name is a string of its own. */
        char mkey[256];
        char *mk = ml + 1 <= sizeof mkey ? mkey : md_malloc(ml + 1);
        if (!mk) {
            rc = enomem(e);
        } else {
            mk[0] = 'm';
            memcpy(mk + 1, m, ml);
            size_t midx = smemo_lookup(e, mk, ml + 1);
            if (midx != SIZE_MAX)
                rc = w_get(e, midx);
            else if ((rc = w_unicode(e, m, ml, NULL)) == 0)
                rc = smemoize(e, mk, ml + 1);
            if (rc == 0 && (rc = w_unicode(e, q, ql, NULL)) == 0 &&
                (rc = memoize_temp(e)) == 0 && (rc = w1(e, STACK_GLOBAL)) == 0)
                rc = smemoize(e, key, klen);
            if (mk != mkey)
                md_free(mk);
        }
    } else {
        if (room(e, klen + 1) == 0) {
            uint8_t *p = wp(e);
            p[0] = GLOBAL;
            memcpy(p + 1, m, ml);
            p[1 + ml] = '\n';
            memcpy(p + 2 + ml, q, ql);
            p[2 + ml + ql] = '\n';
            e->out->len += klen + 1;
            rc = smemoize(e, key, klen);
        } else {
            rc = -1;
        }
    }
    if (key != stackkey)
        md_free(key);
    return rc;
}

/* bytes at protocol 2 as Python 3 writes them: _codecs.encode(u'<latin-1
 * text>', 'latin1'), or bytes() when empty. Leaves the result on the
 * stack, unmemoized. */
static int w_bytes_p2_call(enc *e, const uint8_t *s, size_t n)
{
    if (n == 0) {
        if (save_global_name(e, "builtins", "bytes") < 0)
            return -1;
        return w2(e, EMPTY_TUPLE, REDUCE);
    }
    if (save_global_name(e, "_codecs", "encode") < 0)
        return -1;
    /* Latin-1 to UTF-8 at most doubles the length. */
    uint8_t *text = md_malloc(2 * n);
    if (!text)
        return enomem(e);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            text[o++] = s[i];
        } else {
            text[o++] = (uint8_t)(0xC0 | (s[i] >> 6));
            text[o++] = (uint8_t)(0x80 | (s[i] & 0x3F));
        }
    }
    int rc = w_unicode(e, (const char *)text, o, NULL);
    md_free(text);
    if (rc < 0 || memoize_temp(e) < 0)
        return -1;
    size_t idx = smemo_lookup(e, "clatin1", 7);
    if (idx != SIZE_MAX)
        rc = w_get(e, idx);
    else if ((rc = w_unicode(e, "latin1", 6, NULL)) == 0)
        rc = smemoize(e, "clatin1", 7);
    if (rc < 0 || w1(e, TUPLE2) < 0 || memoize_temp(e) < 0)
        return -1;
    return w1(e, REDUCE);
}

static int save_bytes(enc *e, const md_val *v)
{
    const uint8_t *s = md_bytes_data(v);
    size_t n = md_bytes_len(v);
    int rc;
    if (e->proto >= 3)
        rc = w_binbytes(e, s, n, v);
    else if (md_bytes_is_py2(v))
        rc = w_binstring(e, s, n, v);
    else
        rc = w_bytes_p2_call(e, s, n);
    return rc < 0 ? -1 : memoize(e, v);
}

static int save_bytearray(enc *e, const md_val *v)
{
    const uint8_t *s = md_bytes_data(v);
    size_t n = md_bytes_len(v);
    if (e->proto >= 5) {
        uint8_t h[9] = { BYTEARRAY8 };
        put_le(h + 1, n, 8);
        if (w_payload(e, h, 9, v, s, n) < 0)
            return -1;
        return memoize(e, v);
    }
    /* bytearray(bytes) through REDUCE, as pickle.py writes it. */
    if (save_global_name(e, "builtins", "bytearray") < 0)
        return -1;
    if (n == 0) {
        if (w1(e, EMPTY_TUPLE) < 0)
            return -1;
    } else {
        if ((e->proto >= 3 ? w_binbytes(e, s, n, v) : w_bytes_p2_call(e, s, n)) < 0)
            return -1;
        if (memoize_temp(e) < 0 || w1(e, TUPLE1) < 0 || memoize_temp(e) < 0)
            return -1;
    }
    if (w1(e, REDUCE) < 0)
        return -1;
    return memoize(e, v);
}

/* n < 256 bytes from s, without a call for the short texts that keys
 * and names are: fixed-size copies that overlap, reading only s[0..n). */
static inline void copy_short(uint8_t *d, const char *s, size_t n)
{
    if (n >= 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = (uint8_t)s[0];
        d[n / 2] = (uint8_t)s[n / 2];
        d[n - 1] = (uint8_t)s[n - 1];
    }
}

/* A text of n < 256 bytes at protocol 4+ as SHORT_BINUNICODE and
 * MEMOIZE at p (room for n + 3 bytes); returns the bytes written. */
static inline size_t put_short_str(uint8_t *p, const char *s, size_t n)
{
    p[0] = SHORT_BINUNICODE;
    p[1] = (uint8_t)n;
    copy_short(p + 2, s, n);
    p[2 + n] = MEMOIZE;
    return n + 3;
}

/* A str with its memo lookup and index (memo_lookup + w_unicode +
 * memoize in one): the commonest value of all, so the short text of
 * protocol 4 is written with one room check and no call per part. */
static int save_str(enc *e, const md_val *v)
{
    bool shared = !exclusive(e, v);
    if (shared && md_val_stamp(v) == e->stamp) {
        if (pend_flush(e) < 0)
            return -1;
        size_t idx = memo_find(e, v);
        if (idx != SIZE_MAX)
            return w_get(e, idx);
    }
    const char *s = md_str_data(v);
    size_t n = md_str_nbytes(v);
    if (n < 256 && e->proto >= 4) {
        if (room(e, n + 3) < 0)
            return -1;
        e->out->len += put_short_str(wp(e), s, n);
    } else {
        int rc = e->proto == 2 && md_str_is_py2(v) ? w_binstring(e, s, n, v) : w_unicode(e, s, n, v);
        if (rc < 0 || w_put(e, e->memo_next) < 0)
            return -1;
    }
    if (shared && pend_add(e, v, e->memo_next) < 0)
        return -1;
    e->memo_next++;
    return 0;
}

/* ======================================================================
 * Tasks
 * ====================================================================== */

static int push_task(enc *e, task t)
{
    t.out_start = e->out->len;
    /* The test first: a call per task would cost the hot loop. */
    if (e->ntasks == e->tasks_cap &&
        md_grow_inline(&e->tasks, &e->tasks_cap, e->tasks_inline, e->ntasks + 1, 0,
                       sizeof *e->tasks) < 0)
        return enomem(e);
    e->tasks[e->ntasks++] = t;
    return 0;
}

static int push_save(enc *e, const md_val *v, uint32_t depth)
{
    return push_task(e, (task){ .v = v, .depth = depth, .kind = K_SAVE });
}

static int push_items(enc *e, const md_val *v, items_mode mode, uint32_t depth)
{
    return push_task(e, (task){ .v = v, .depth = depth, .kind = K_ITEMS,
                                .mode = (uint8_t)mode });
}

static int push_done(enc *e, const md_val *v, uint8_t op)
{
    return push_task(e, (task){ .v = v, .kind = K_DONE, .mode = op });
}

static int push_ops(enc *e, enum ops_code code)
{
    return push_task(e, (task){ .kind = K_OPS, .mode = (uint8_t)code });
}

/* ======================================================================
 * Values with contents
 * ====================================================================== */

static int save_exc(enc *e, const md_val *v, uint32_t depth)
{
    md_val *cls = md_exc_class(v);
    e->unmemoized++; /* until its K_DONE */
    if (save_global_name(e, md_global_module(cls), md_global_name(cls)) < 0)
        return -1;
    md_val *state = md_exc_state(v);
    if (state && (push_ops(e, OPS_BUILD) < 0 || push_save(e, state, depth + 1) < 0))
        return -1;
    if (push_done(e, v, REDUCE) < 0)
        return -1;
    return push_save(e, md_exc_args(v), depth + 1);
}

static int save_opaque(enc *e, const md_val *v, uint32_t depth)
{
    md_opaque_kind kind = md_opaque_kind_of(v);
    if (kind == MD_OPQ_NEWOBJ_EX && e->proto < 4)
        return efail(e, MD_EUNSUPPORTED,
                     "an object built with NEWOBJ_EX cannot be written at protocol %d",
                     e->proto);
    md_val *state = md_opaque_state(v);
    md_val *litems = md_opaque_listitems(v), *ditems = md_opaque_dictitems(v);
    md_val *args = md_opaque_args(v);
    if (state && (push_ops(e, OPS_BUILD) < 0 || push_save(e, state, depth + 1) < 0))
        return -1;
    if (ditems && md_list_len(ditems) && push_items(e, ditems, M_DICTITEMS, depth) < 0)
        return -1;
    if (litems && md_list_len(litems) && push_items(e, litems, M_LISTITEMS, depth) < 0)
        return -1;
    static const uint8_t ops[] = { [MD_OPQ_REDUCE] = REDUCE, [MD_OPQ_NEWOBJ] = NEWOBJ,
                                   [MD_OPQ_NEWOBJ_EX] = NEWOBJ_EX, [MD_OPQ_OBJ] = OBJ };
    if (push_done(e, v, ops[kind]) < 0)
        return -1;
    e->unmemoized++; /* until its K_DONE */
    if (kind == MD_OPQ_OBJ) {
        /* MARK cls arg... OBJ */
        if (w1(e, MARK) < 0)
            return -1;
        for (size_t i = md_tuple_len(args); i-- > 0;)
            if (push_save(e, md_tuple_get(args, i), depth + 1) < 0)
                return -1;
        return push_save(e, md_opaque_callable(v), depth + 1);
    }
    if (kind == MD_OPQ_NEWOBJ_EX) {
        md_val *kw = md_opaque_kwargs(v);
        if (!kw) {
            /* Nothing to share with: an empty dict written inline. */
            if (push_task(e, (task){ .kind = K_OPS, .mode = 0xff }) < 0)
                return -1;
        } else if (push_save(e, kw, depth + 1) < 0) {
            return -1;
        }
    }
    if (push_save(e, args, depth + 1) < 0)
        return -1;
    return push_save(e, md_opaque_callable(v), depth + 1);
}

static int save_set(enc *e, const md_val *v, bool frozen, uint32_t depth)
{
    if (e->proto >= 4) {
        if (frozen) {
            if (w1(e, MARK) < 0 || push_items(e, v, M_FROZEN, depth) < 0)
                return -1;
            e->unmemoized++; /* until FROZENSET */
            return 0;
        }
        if (w1(e, EMPTY_SET) < 0 || memoize(e, v) < 0)
            return -1;
        return md_set_len(v) ? push_items(e, v, M_SET, depth) : 0;
    }
    /* set([items]) / frozenset([items]) through REDUCE. */
    if (save_global_name(e, "builtins", frozen ? "frozenset" : "set") < 0)
        return -1;
    if (w1(e, EMPTY_LIST) < 0 || memoize_temp(e) < 0)
        return -1;
    if (push_done(e, v, REDUCE) < 0)
        return -1;
    e->unmemoized++; /* until its K_DONE */
    if (push_ops(e, OPS_TUPLE1_TEMP) < 0)
        return -1;
    return md_set_len(v) ? push_items(e, v, M_SETLIST, depth) : 0;
}

/* ======================================================================
 * Reply views (pickle.h)
 * ====================================================================== */

/* A view is an opaque value whose callable is this process's own class
 * global, which no decoded value can be (the decoder makes globals of
 * its own), and whose arguments are (src, kind, start, step, count). */
enum { VIEW_SLICE = MD_PV_ITEMS + 1 };

static md_val *view_cls;

static md_val *view_class(void)
{
    md_val *g = __atomic_load_n(&view_cls, __ATOMIC_ACQUIRE);
    if (g)
        return g;
    g = md_global_new("managerd", "_reply_view");
    if (!g)
        return NULL;
    md_val *seen = NULL;
    if (!__atomic_compare_exchange_n(&view_cls, &seen, g, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        md_decref(g); /* another thread made it first */
        return seen;
    }
    return g;
}

static md_val *view_make(md_val *src, int kind, int64_t start, int64_t step, size_t count)
{
    md_val *cls = view_class();
    md_val *k = md_int_from_i64(kind), *a = md_int_from_i64(start);
    md_val *b = md_int_from_i64(step), *n = md_int_from_u64(count);
    md_val *args = cls && k && a && b && n ? md_tuple_pack(5, src, k, a, b, n) : NULL;
    md_val *view = args ? md_opaque_new(MD_OPQ_REDUCE, cls, args) : NULL;
    md_decref(k);
    md_decref(a);
    md_decref(b);
    md_decref(n);
    md_decref(args);
    return view;
}

md_val *md_pickle_view_new(md_val *src, md_pickle_view_kind kind)
{
    if (kind == MD_PV_COPY && md_typeof(src) == MD_T_LIST)
        return view_make(src, VIEW_SLICE, 0, 1, md_list_len(src));
    return view_make(src, (int)kind, 0, 1, 0);
}

md_val *md_pickle_view_slice(md_val *src, int64_t start, int64_t step, size_t count)
{
    return view_make(src, VIEW_SLICE, start, step, count);
}

bool md_pickle_is_view(const md_val *v)
{
    md_val *cls = __atomic_load_n(&view_cls, __ATOMIC_ACQUIRE);
    return cls && md_typeof(v) == MD_T_OPAQUE && md_opaque_callable(v) == cls;
}

typedef struct view_parts {
    md_val *src;
    int kind;
    int64_t start, step;
    uint64_t count;
} view_parts;

static view_parts view_of(const md_val *view)
{
    md_val *args = md_opaque_args(view);
    view_parts p = { .src = md_tuple_get(args, 0) };
    int64_t kind;
    md_int_to_i64(md_tuple_get(args, 1), &kind);
    p.kind = (int)kind;
    md_int_to_i64(md_tuple_get(args, 2), &p.start);
    md_int_to_i64(md_tuple_get(args, 3), &p.step);
    int64_t count;
    md_int_to_i64(md_tuple_get(args, 4), &count);
    p.count = (uint64_t)count;
    return p;
}

/* Whether a slice view's positions are all inside its list. */
static bool slice_in_range(const view_parts *p)
{
    if (p->count == 0)
        return true;
    int64_t last = p->start + (int64_t)(p->count - 1) * p->step;
    size_t len = md_list_len(p->src);
    return p->start >= 0 && (size_t)p->start < len && last >= 0 && (size_t)last < len;
}

md_val *md_pickle_view_materialize(const md_val *view)
{
    view_parts p = view_of(view);
    if (p.kind == MD_PV_COPY)
        return md_dict_copy(p.src);
    if (p.kind == VIEW_SLICE && !slice_in_range(&p))
        return NULL;
    size_t n = p.kind == VIEW_SLICE ? p.count : md_dict_len(p.src);
    md_val *out = md_list_new(n);
    size_t pos = 0;
    md_val *k, *v;
    for (size_t i = 0; out && i < n; i++) {
        int rc;
        if (p.kind == VIEW_SLICE)
            rc = md_list_append(out, md_list_get(p.src, (size_t)(p.start + (int64_t)i * p.step)));
        else if (!md_dict_next(p.src, &pos, &k, &v))
            rc = -1; /* cannot happen: nothing runs between */
        else if (p.kind == MD_PV_ITEMS) {
            md_val *pair = md_tuple_pack(2, k, v);
            rc = pair ? md_list_append_steal(out, pair) : -1;
        }
        else
            rc = md_list_append(out, p.kind == MD_PV_KEYS ? k : v);
        if (rc < 0) {
            md_decref(out);
            out = NULL;
        }
    }
    return out;
}

static int save_value(enc *e, const md_val *v, uint32_t depth);

/* The container a view stands for, made real and kept as the view's
 * state, written as any value; the view's own memo entry is that
 * container's index, so a view met twice is one container twice. */
static int save_view_materialized(enc *e, const md_val *v, uint32_t depth)
{
    md_val *m = md_opaque_state(v);
    if (!m) {
        m = md_pickle_view_materialize(v);
        if (!m)
            return enomem(e);
        md_opaque_set_state_steal((md_val *)v, m);
    }
    if (!exclusive(e, v) && memo_insert(e, v, e->memo_next) < 0)
        return -1;
    return save_value(e, m, depth);
}

/* A view straight from its source, as the new container it stands for
 * would be written: the view takes that container's memo index (and is
 * its identity), the items are the source's own.
 *
 * Why the bytes are the container's: the container would hold one more
 * reference to each item, and an item the source alone holds could then
 * be met a second time, through the container and through the source;
 * here it is exclusive and would be written twice. So the source must
 * never be met while the value is written: it is put in the memo with a
 * mark, and meeting it (a source inside its own items, or elsewhere in
 * the value) starts the whole encode again with every view made real. */
static int save_view(enc *e, const md_val *v, uint32_t depth)
{
    if (e->materialize)
        return save_view_materialized(e, v, depth);
    view_parts p = view_of(v);
    if (md_refcount(p.src) > 1 && memo_insert(e, p.src, MEMO_VIEW_SOURCE) < 0)
        return -1;
    if (w1(e, p.kind == MD_PV_COPY ? EMPTY_DICT : EMPTY_LIST) < 0 || memoize(e, v) < 0)
        return -1;
    static const uint8_t modes[] = { [MD_PV_COPY] = M_DICT, [MD_PV_KEYS] = M_VKEYS,
                                     [MD_PV_VALUES] = M_VVALUES, [MD_PV_ITEMS] = M_VITEMS,
                                     [VIEW_SLICE] = M_VSLICE };
    size_t n = p.kind == VIEW_SLICE ? p.count : md_dict_len(p.src);
    if (n == 0)
        return 0;
    if (p.kind == VIEW_SLICE && !slice_in_range(&p))
        return efail(e, MD_EINVAL, "container changed while being pickled");
    /* The item tuples of items() are one level deeper than the list. */
    if (p.kind == MD_PV_ITEMS && depth + 1 > MD_MAX_DEPTH)
        return efail(e, MD_EDEPTH, "nesting depth exceeds %d", MD_MAX_DEPTH);
    return push_task(e, (task){ .v = p.src, .depth = depth, .kind = K_ITEMS,
                                .mode = modes[p.kind], .iter = (size_t)p.start,
                                .step = p.step, .count = n });
}

/* Values that save_value writes at once, without pushing tasks. */
static const uint32_t leaf_types =
    1u << MD_T_NONE | 1u << MD_T_BOOL | 1u << MD_T_INT | 1u << MD_T_FLOAT |
    1u << MD_T_COMPLEX | 1u << MD_T_STR | 1u << MD_T_BYTES | 1u << MD_T_BYTEARRAY |
    1u << MD_T_GLOBAL;

/* A tuple of up to 3 leaves: (key, value) pairs, (int, str) records. */
static bool leaf_tuple(const md_val *v)
{
    size_t n = md_tuple_len(v);
    if (n > 3)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(leaf_types >> md_typeof(md_tuple_get(v, i)) & 1))
            return false;
    return true;
}

/* A leaf tuple without a task: what step_tuple writes for it (its items
 * cannot lead back to it, so it is never in the memo after them). */
static int save_leaf_tuple(enc *e, const md_val *v, uint32_t depth)
{
    size_t n = md_tuple_len(v);
    bool counted = !exclusive(e, v);
    e->unmemoized += counted;
    for (size_t i = 0; i < n; i++) {
        frame_boundary(e);
        if (save_value(e, md_tuple_get(v, i), depth + 1) < 0)
            return -1;
    }
    e->unmemoized -= counted;
    static const uint8_t ops[] = { EMPTY_TUPLE, TUPLE1, TUPLE2, TUPLE3 };
    if (!counted)
        return w_op_put(e, ops[n]);
    return w1(e, ops[n]) < 0 ? -1 : memoize(e, v);
}

/* Encode one value: leaves are written at once, containers write their
 * opening and push tasks for the rest. */
static int save_value(enc *e, const md_val *v, uint32_t depth)
{
    md_vtype t = md_typeof(v);
    switch (t) {
    case MD_T_NONE: return w1(e, NONE);
    case MD_T_BOOL: return w1(e, md_bool_get(v) ? NEWTRUE : NEWFALSE);
    case MD_T_INT: return save_int(e, v);
    case MD_T_FLOAT: return save_float(e, md_float_get(v));
    default: break;
    }
    if (t == MD_T_STR)
        return save_str(e, v);
    if (t == MD_T_TUPLE && md_tuple_len(v) == 0)
        return w1(e, EMPTY_TUPLE);
    size_t idx = memo_lookup(e, v);
    if (idx == MEMO_ERR)
        return -1;
    if (idx == MEMO_VIEW_SOURCE) {
        e->restart = true;
        return efail(e, MD_EINVAL, "a view's source is inside the value");
    }
    if (idx != SIZE_MAX)
        return w_get(e, idx);
    switch (t) {
    case MD_T_BYTES: return save_bytes(e, v);
    case MD_T_BYTEARRAY: return save_bytearray(e, v);
    case MD_T_GLOBAL: return save_global_name(e, md_global_module(v), md_global_name(v));
    case MD_T_COMPLEX:
        if (save_global_name(e, "builtins", "complex") < 0 ||
            save_float(e, md_complex_real(v)) < 0 || save_float(e, md_complex_imag(v)) < 0 ||
            w1(e, TUPLE2) < 0 || memoize_temp(e) < 0 || w1(e, REDUCE) < 0)
            return -1;
        return memoize(e, v);
    default: break;
    }
    /* Nothing here recurses, so the stack matters only in a deep value. */
    if (depth > MD_MAX_DEPTH || (depth > STACK_CHECK_DEPTH && md_stack_exhausted()))
        return efail(e, MD_EDEPTH, "nesting depth exceeds %d", MD_MAX_DEPTH);
    switch (t) {
    case MD_T_TUPLE: {
        if (leaf_tuple(v))
            return save_leaf_tuple(e, v, depth);
        bool mark = md_tuple_len(v) > 3;
        /* An exclusive tuple (the ('#RETURN', value) of every reply) can
         * never be reached again through its own items, since that needs
         * a second reference to it: its items stay exclusive too. */
        bool counted = !exclusive(e, v);
        if (mark && w1(e, MARK) < 0)
            return -1;
        if (push_task(e, (task){ .v = v, .depth = depth, .kind = K_TUPLE, .flag = mark,
                                 .mode = counted }) < 0)
            return -1;
        e->unmemoized += counted; /* until TUPLE */
        return 0;
    }
    case MD_T_LIST:
        if (w1(e, EMPTY_LIST) < 0 || memoize(e, v) < 0)
            return -1;
        return md_list_len(v) ? push_items(e, v, M_LIST, depth) : 0;
    case MD_T_DICT:
        if (w1(e, EMPTY_DICT) < 0 || memoize(e, v) < 0)
            return -1;
        return md_dict_len(v) ? push_items(e, v, M_DICT, depth) : 0;
    case MD_T_SET: return save_set(e, v, false, depth);
    case MD_T_FROZENSET: return save_set(e, v, true, depth);
    case MD_T_SLICE:
        if (save_global_name(e, "builtins", "slice") < 0 || push_done(e, v, REDUCE) < 0)
            return -1;
        e->unmemoized++; /* until its K_DONE */
        if (push_ops(e, OPS_TUPLE3_TEMP) < 0 ||
            push_save(e, md_slice_step(v), depth + 1) < 0 ||
            push_save(e, md_slice_stop(v), depth + 1) < 0)
            return -1;
        return push_save(e, md_slice_start(v), depth + 1);
    case MD_T_EXC: return save_exc(e, v, depth);
    case MD_T_OPAQUE:
        return md_pickle_is_view(v) ? save_view(e, v, depth) : save_opaque(e, v, depth);
    default:
        return efail(e, MD_EUNSUPPORTED, "cannot pickle a value of type %s",
                     md_type_name(v));
    }
}

/* Save v from inside a task's loop. Returns 1 if v pushed tasks (the
 * caller must yield to them), 0 if it was written completely, -1. */
static inline int save_child(enc *e, const md_val *v, uint32_t depth)
{
    size_t before = e->ntasks;
    frame_boundary(e);
    if (save_value(e, v, depth) < 0)
        return -1;
    return e->ntasks != before;
}

static int step_tuple(enc *e, size_t ti)
{
    task *t = &e->tasks[ti];
    size_t n = md_tuple_len(t->v);
    while (t->pos < n) {
        int rc = save_child(e, md_tuple_get(t->v, t->pos++), t->depth + 1);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        t = &e->tasks[ti];
    }
    const md_val *v = t->v;
    bool mark = t->flag;
    e->ntasks--;
    e->unmemoized -= t->mode;
    size_t idx = memo_lookup(e, v);
    if (idx != SIZE_MAX) {
        /* The tuple was reached again through its own items and is in the
         * memo now: drop what we wrote and fetch that copy. */
        if (mark) {
            if (w1(e, POP_MARK) < 0)
                return -1;
        } else {
            for (size_t i = 0; i < n; i++)
                if (w1(e, POP) < 0)
                    return -1;
        }
        return w_get(e, idx);
    }
    static const uint8_t small[] = { EMPTY_TUPLE, TUPLE1, TUPLE2, TUPLE3 };
    if (w1(e, mark ? TUPLE : small[n]) < 0)
        return -1;
    return memoize(e, v);
}

/* The next item of a K_ITEMS task; for dict modes the key, leaving the
 * value in t->pending. */
static const md_val *next_item(task *t)
{
    md_val *k, *val;
    switch (t->mode) {
    case M_LIST:
    case M_LISTITEMS:
        return md_list_get(t->v, t->pos);
    case M_DICT:
        if (!md_dict_next(t->v, &t->iter, &k, &val))
            return NULL;
        t->pending = val;
        return k;
    case M_DICTITEMS: {
        md_val *pair = md_list_get(t->v, t->pos);
        t->pending = md_tuple_get(pair, 1);
        return md_tuple_get(pair, 0);
    }
    case M_VKEYS:
        return md_dict_next(t->v, &t->iter, &k, &val) ? k : NULL;
    case M_VVALUES:
        return md_dict_next(t->v, &t->iter, &k, &val) ? val : NULL;
    case M_VSLICE: { /* positions checked by save_view */
        size_t at = t->iter;
        t->iter = (size_t)((int64_t)at + t->step);
        return md_list_get(t->v, at);
    }
    default:
        return md_set_next(t->v, &t->iter, &k) ? k : NULL;
    }
}

static size_t items_len(const task *t)
{
    switch (t->mode) {
    case M_LIST: case M_LISTITEMS: case M_DICTITEMS: return md_list_len(t->v);
    case M_DICT: case M_VKEYS: case M_VVALUES: case M_VITEMS: return md_dict_len(t->v);
    case M_VSLICE: return t->count;
    default: return md_set_len(t->v);
    }
}

/* ======================================================================
 * Runs of plain items
 * ====================================================================== */

/* A big reply is mostly runs of two kinds of item: a short str that only
 * its container holds (a dict's keys, a list's texts) and an int of 32
 * bits. Neither needs a memo lookup nor a task, so a batch of them is
 * written by one loop: one room check per entry, the frame check before
 * each item where save_child makes it, and the bytes save_str, save_int
 * and save_leaf_tuple write (the same opcodes and memo indices). The
 * first item of any other kind ends the run and goes the general way.
 * Runs need protocol 4+ (MEMOIZE, SHORT_BINUNICODE) and no open
 * container memoized after its contents (see exclusive()). */

static inline bool plain_runs(const enc *e)
{
    return e->proto >= 4 && e->unmemoized == 0;
}

/* Two short str and TUPLE2 MEMOIZE: the most one entry writes. */
#define RUN_ENTRY_MAX (2 * (255 + 3) + 2)

/* A run's output position, in locals (it is passed by value, so that
 * the compiler keeps it in registers: every store through the output
 * pointer could otherwise alias it): the buffer (NULL when out of
 * memory), its length, the memo counter, the open frame's end and the
 * length from which the next entry needs the slow checks (that frame's
 * end, or too little room left for one more entry). */
typedef struct run_pos {
    uint8_t *data;
    size_t len, memo_next, frame_end, limit;
} run_pos;

/* The position from e, with room for an entry made. */
static run_pos run_load(enc *e)
{
    run_pos r = { 0 };
    if (room(e, RUN_ENTRY_MAX) < 0)
        return r;
    r.data = e->out->data;
    r.len = e->out->len;
    r.memo_next = e->memo_next;
    r.frame_end = e->frame_start == NO_FRAME ? SIZE_MAX
                                             : e->frame_start + FRAME_HEADER + FRAME_TARGET;
    size_t room_end = e->out->cap - 1 - RUN_ENTRY_MAX;
    r.limit = room_end < r.frame_end ? room_end : r.frame_end;
    return r;
}

static inline void run_store(enc *e, run_pos r)
{
    e->out->len = r.len;
    e->memo_next = r.memo_next;
}

/* Once an entry starts at r.limit: the frame check save_child makes,
 * and room for the entry. */
static run_pos run_renew(enc *e, run_pos r)
{
    run_store(e, r);
    frame_boundary(e);
    return run_load(e);
}

/* Write v at p if it is a plain item (room made): the bytes written, or
 * 0 (nothing written) if it is not one. A str takes a memo index. */
static inline size_t put_plain(uint8_t *p, const md_val *v, size_t *memo_next)
{
    int64_t i;
    if (md_int_small_get(v, &i))
        return i >= INT32_MIN && i <= INT32_MAX ? put_int32(p, i) : 0;
    if (md_typeof(v) != MD_T_STR || md_refcount(v) != 1)
        return 0;
    size_t n = md_str_nbytes(v);
    if (n >= 256)
        return 0;
    ++*memo_next;
    return put_short_str(p, md_str_data(v), n);
}

/* k and v at p as save_leaf_tuple writes an exclusive (k, v): k, v,
 * TUPLE2 and its memo index. The bytes written, or 0 (nothing written)
 * if either is not plain or if k takes frame_left bytes or more (the
 * frame check before v would end the frame: left to the general way). */
static inline size_t put_plain_pair(uint8_t *p, size_t frame_left, const md_val *k,
                                    const md_val *v, size_t *memo_next)
{
    size_t memo = *memo_next;
    size_t n = put_plain(p, k, memo_next);
    size_t m = n && n < frame_left ? put_plain(p + n, v, memo_next) : 0;
    if (!m) {
        *memo_next = memo;
        return 0;
    }
    p[n + m] = TUPLE2;
    p[n + m + 1] = MEMOIZE;
    ++*memo_next;
    return n + m + 2;
}

/* The live entry of a dict's md_dict_entries at or after *at. */
static inline bool entry_next(md_val *const *ent, size_t nent, size_t *at, md_val **k,
                              md_val **v)
{
    for (size_t i = *at; i < nent; i++) {
        if (ent[2 * i]) {
            *k = ent[2 * i];
            *v = ent[2 * i + 1];
            *at = i + 1;
            return true;
        }
    }
    return false;
}

/* A dict's entry k: v as its batch writes it: the bytes written, or 0
 * (nothing written) if k is not plain or takes frame_left bytes or more
 * (as in put_plain_pair). *v_left: only k was written, v is not plain. */
static inline size_t put_plain_entry(uint8_t *p, size_t frame_left, const md_val *k,
                                     const md_val *v, size_t *memo_next, bool *v_left)
{
    size_t memo = *memo_next;
    size_t n = put_plain(p, k, memo_next);
    if (!n || n >= frame_left) {
        *memo_next = memo;
        return 0;
    }
    size_t m = put_plain(p + n, v, memo_next);
    *v_left = m == 0;
    return n + m;
}

/* Entries of an M_DICT batch (items false) while their keys are plain,
 * a value that is not being left in t->pending for the general way; or
 * of a d.items() view's batch (items true) while key and value are. */
static inline __attribute__((always_inline)) int
run_entries(enc *e, task *t, bool items)
{
    run_pos r = run_load(e);
    size_t pos = t->pos, iter = t->iter, nent;
    const size_t end = t->batch_end;
    md_val *const *ent = md_dict_entries(t->v, &nent);
    bool v_left = false;
    while (r.data && pos < end) {
        if (r.len >= r.limit && !(r = run_renew(e, r)).data)
            break;
        size_t at = iter;
        md_val *k, *v;
        if (!entry_next(ent, nent, &at, &k, &v))
            break;
        uint8_t *p = r.data + r.len;
        size_t n = items ? put_plain_pair(p, r.frame_end - r.len, k, v, &r.memo_next)
                         : put_plain_entry(p, r.frame_end - r.len, k, v, &r.memo_next, &v_left);
        if (!n)
            break;
        r.len += n;
        iter = at;
        if (v_left) {
            t->pending = v;
            break;
        }
        pos++;
    }
    t->pos = pos;
    t->iter = iter;
    if (!r.data)
        return -1;
    run_store(e, r);
    return 0;
}

/* Items of a batch of the other modes while they are plain items or
 * plain pairs (a tuple item is one level deeper, never near a limit). */
static int run_list(enc *e, task *t)
{
    bool pairs = t->depth + 1 <= STACK_CHECK_DEPTH;
    bool keys = t->mode == M_VKEYS;
    size_t nent = 0;
    md_val *const *ent = keys ? md_dict_entries(t->v, &nent) : NULL;
    run_pos r = run_load(e);
    /* t->pos itself: next_item reads it. */
    while (r.data && t->pos < t->batch_end) {
        if (r.len >= r.limit && !(r = run_renew(e, r)).data)
            break;
        size_t at = t->iter;
        md_val *key, *val;
        const md_val *item;
        if (t->mode == M_LIST) /* next_item's commonest case, without its switch */
            item = md_list_get(t->v, t->pos);
        else if (keys)
            item = entry_next(ent, nent, &t->iter, &key, &val) ? key : NULL;
        else
            item = next_item(t);
        size_t n = 0;
        if (item && md_typeof(item) != MD_T_TUPLE)
            n = put_plain(r.data + r.len, item, &r.memo_next);
        else if (item && pairs && md_tuple_len(item) == 2 && md_refcount(item) == 1)
            n = put_plain_pair(r.data + r.len, r.frame_end - r.len, md_tuple_get(item, 0),
                               md_tuple_get(item, 1), &r.memo_next);
        if (!n) {
            t->iter = at;
            break;
        }
        r.len += n;
        t->pos++;
    }
    if (!r.data)
        return -1;
    run_store(e, r);
    return 0;
}

/* run_entries made twice, each with its constant (each gets registers
 * of its own: the loop inlined into step_items cost a fifth more). */
static int run_dict(enc *e, task *t)
{
    return run_entries(e, t, false);
}

static int run_vitems(enc *e, task *t)
{
    return run_entries(e, t, true);
}

/* ======================================================================
 * Containers' items
 * ====================================================================== */

static int step_items(enc *e, size_t ti)
{
    task *t = &e->tasks[ti];
    size_t n = items_len(t);
    bool dict = t->mode == M_DICT || t->mode == M_DICTITEMS;
    bool frozen = t->mode == M_FROZEN;
    for (;;) {
        if (t->batch_end == 0) {
            /* Start a batch, or finish. */
            if (t->pos >= n)
                break;
            if (presize(e, t->pos, n, t->out_start) < 0)
                return -1;
            size_t left = n - t->pos;
            bool single_rule = t->mode == M_LISTITEMS || t->mode == M_DICTITEMS ||
                               (t->mode != M_SET && t->mode != M_FROZEN && t->pos == 0);
            t->flag = left == 1 && single_rule;
            t->batch_end = frozen ? n : t->pos + (left < BATCHSIZE ? left : BATCHSIZE);
            if (!t->flag && !frozen && w1(e, MARK) < 0)
                return -1;
        }
        while (t->pos < t->batch_end) {
            if (plain_runs(e) && !t->pending && (!dict || t->mode == M_DICT)) {
                if ((dict ? run_dict(e, t) : run_list(e, t)) < 0)
                    return -1;
                if (t->pos == t->batch_end)
                    break;
            }
            int rc;
            if (dict && t->pending) {
                const md_val *val = t->pending;
                t->pending = NULL;
                t->pos++;
                rc = save_child(e, val, t->depth + 1);
            } else {
                const md_val *item = next_item(t);
                if (!item)
                    return efail(e, MD_EINVAL, "container changed while being pickled");
                if (!dict)
                    t->pos++;
                rc = save_child(e, item, t->depth + 1);
            }
            if (rc != 0)
                return rc < 0 ? -1 : 0;
            t = &e->tasks[ti];
        }
        if (frozen)
            break;
        uint8_t op;
        if (dict)
            op = t->flag ? SETITEM : SETITEMS;
        else if (t->mode == M_SET)
            op = ADDITEMS;
        else
            op = t->flag ? APPEND : APPENDS;
        if (w1(e, op) < 0)
            return -1;
        /* CPython's C pickler ends a dict or set whose last batch was
         * full with an empty batch (its loop runs while a batch is full). */
        if ((t->mode == M_DICT || t->mode == M_SET) && t->pos == n && n % BATCHSIZE == 0 &&
            w2(e, MARK, op) < 0)
            return -1;
        t->batch_end = 0;
    }
    const md_val *v = t->v;
    e->ntasks--;
    if (frozen) {
        e->unmemoized--;
        size_t idx = memo_lookup(e, v);
        if (idx != SIZE_MAX)
            return w1(e, POP_MARK) < 0 ? -1 : w_get(e, idx);
        return w1(e, FROZENSET) < 0 ? -1 : memoize(e, v);
    }
    return 0;
}

/* A view of d.items(): per entry what a (key, value) tuple held by the
 * list alone is written as (step_tuple: key, value, TUPLE2, its memo
 * index), without the tuple; t->phase says how far the entry got. */
static int step_vitems(enc *e, size_t ti)
{
    task *t = &e->tasks[ti];
    for (;;) {
        int rc = 0;
        if (t->phase == 1) {
            t->phase = 2;
            rc = save_child(e, t->pending, t->depth + 2);
        } else if (t->phase == 2) {
            t->phase = 0;
            t->pos++;
            if (w_op_put(e, TUPLE2) < 0)
                return -1;
        } else if (t->batch_end == 0) {
            if (t->pos >= t->count)
                break;
            if (presize(e, t->pos, t->count, t->out_start) < 0)
                return -1;
            size_t left = t->count - t->pos;
            t->flag = left == 1 && t->pos == 0;
            t->batch_end = t->pos + (left < BATCHSIZE ? left : BATCHSIZE);
            if (!t->flag && w1(e, MARK) < 0)
                return -1;
        } else if (t->pos == t->batch_end) {
            if (w1(e, t->flag ? APPEND : APPENDS) < 0)
                return -1;
            t->batch_end = 0;
        } else {
            if (plain_runs(e)) {
                if (run_vitems(e, t) < 0)
                    return -1;
                if (t->pos == t->batch_end)
                    continue;
            }
            md_val *k, *v;
            if (!md_dict_next(t->v, &t->iter, &k, &v))
                return efail(e, MD_EINVAL, "container changed while being pickled");
            t->pending = v;
            t->phase = 1;
            rc = save_child(e, k, t->depth + 2);
        }
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        t = &e->tasks[ti];
    }
    e->ntasks--;
    return 0;
}

static int step_done(enc *e, const task *t)
{
    const md_val *v = t->v;
    e->unmemoized--;
    if (w1(e, t->mode) < 0)
        return -1;
    size_t idx = memo_lookup(e, v);
    if (idx != SIZE_MAX)
        return w1(e, POP) < 0 ? -1 : w_get(e, idx);
    return memoize(e, v);
}

static int step_ops(enc *e, uint8_t code)
{
    switch (code) {
    case OPS_TUPLE1_TEMP: return w1(e, TUPLE1) < 0 ? -1 : memoize_temp(e);
    case OPS_TUPLE3_TEMP: return w1(e, TUPLE3) < 0 ? -1 : memoize_temp(e);
    case OPS_BUILD: return w1(e, BUILD);
    default: return w1(e, EMPTY_DICT) < 0 ? -1 : memoize_temp(e);
    }
}

static int run(enc *e)
{
    while (e->ntasks) {
        size_t ti = e->ntasks - 1;
        task t = e->tasks[ti];
        int rc;
        switch (t.kind) {
        case K_SAVE:
            e->ntasks--;
            frame_boundary(e);
            rc = save_value(e, t.v, t.depth);
            break;
        case K_TUPLE: rc = step_tuple(e, ti); break;
        case K_ITEMS: rc = t.mode == M_VITEMS ? step_vitems(e, ti) : step_items(e, ti); break;
        case K_DONE:
            e->ntasks--;
            rc = step_done(e, &t);
            break;
        default:
            e->ntasks--;
            rc = step_ops(e, t.mode);
        }
        if (rc < 0 || e->out->failed) {
            if (!e->err->code)
                enomem(e);
            return -1;
        }
    }
    return 0;
}

/* One encode of v; *restart: a view's source was met (see save_view). */
static int encode_pass(const md_val *v, int protocol, md_buf *out, md_out_refs *refs,
                       md_pickle_err *err, bool materialize, bool *restart)
{
    memset(err, 0, sizeof *err);
    /* The inline arrays are 2 KiB that a small reply never reads: left
     * as they are, which made zeroing them half the cost of such a reply. */
    enc e;
    memset(&e, 0, offsetof(enc, tasks_inline));
    e.out = out;
    e.proto = protocol;
    e.err = err;
    e.frame_start = NO_FRAME;
    e.materialize = materialize;
    e.refs = refs;
    e.tasks = e.tasks_inline;
    e.tasks_cap = sizeof e.tasks_inline / sizeof e.tasks_inline[0];
    md_ptrmap_init(&e.memo); /* given its inline buffer on the first insert */
    md_ptrmap_init(&e.smemo.byhash);
    if (++last_stamp == 0)
        last_stamp = 1;   /* 0 is every new value's stamp */
    e.stamp = last_stamp;
    if (protocol < 2 || protocol > 5) {
        efail(&e, MD_EINVAL, "cannot write pickle protocol %d (2 to 5 only)", protocol);
        return err->code;
    }
    size_t start_len = out->len;
    size_t start_refs = refs ? refs->n : 0;
    int rc = w2(&e, PROTO, (uint8_t)protocol);
    if (rc == 0 && protocol >= 4)
        frame_open(&e);
    if (rc == 0)
        rc = push_save(&e, v, 1);
    if (rc == 0)
        rc = run(&e);
    if (rc == 0)
        rc = w1(&e, STOP);
    frame_commit(&e);
    if (rc == 0 && out->failed)
        rc = enomem(&e);
    if (e.tasks != e.tasks_inline)
        md_free(e.tasks);
    md_ptrmap_free(&e.memo);
    for (size_t i = 0; i < e.smemo.len; i++)
        md_free(e.smemo.ents[i].key);
    md_free(e.smemo.ents);
    md_ptrmap_free(&e.smemo.byhash);
    md_free(e.pend);
    *restart = e.restart;
    if (rc < 0) {
        if (!err->code)
            enomem(&e);
        if (!out->failed)
            out->len = start_len;
        if (refs)
            md_out_refs_truncate(refs, start_refs);
        return err->code;
    }
    return 0;
}

int md_pickle_encode_refs(const md_val *v, int protocol, md_buf *out, md_out_refs *refs,
                          md_pickle_err *err)
{
    md_pickle_err scratch;
    if (!err)
        err = &scratch;
    bool restart = false;
    int rc = encode_pass(v, protocol, out, refs, err, false, &restart);
    if (rc != 0 && restart && !out->failed)
        rc = encode_pass(v, protocol, out, refs, err, true, &restart);
    return rc;
}

int md_pickle_encode(const md_val *v, int protocol, md_buf *out, md_pickle_err *err)
{
    return md_pickle_encode_refs(v, protocol, out, NULL, err);
}
