/* pickle_dec.c - decodes pickles of protocols 0 to 5 into md_val values
 * without importing or calling anything.
 *
 * The shape follows CPython's Modules/_pickle.c: an enum of the opcode
 * bytes, one while/switch loop, one `load_x` handler per opcode returning
 * 0 or -1 with the error set, a value stack with a separate mark stack
 * and the memo as an array indexed by integer. There is no recursion, so
 * hostile nesting cannot overflow the C stack; every length read from the
 * wire is checked against what remains before anything is allocated.
 *
 * A few globals that Python itself uses to pickle builtin data (set,
 * bytearray, complex, _codecs.encode, ...) and the exception classes
 * become real values; any other global stays inert: REDUCE, NEWOBJ, OBJ
 * and BUILD on it make an opaque value that re-encodes to an equivalent
 * pickle.
 */
#include "serializers/pickle.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/base/ptrmap.h"
#include "serializers/pickle_int.h"

/* ======================================================================
 * Opcodes (the wire bytes)
 * ====================================================================== */

enum opcode {
    MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2',
    FLOAT = 'F', INT = 'I', BININT = 'J', BININT1 = 'K', LONG = 'L',
    BININT2 = 'M', NONE = 'N', PERSID = 'P', BINPERSID = 'Q', REDUCE = 'R',
    STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U', UNICODE = 'V',
    BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
    EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i',
    LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p',
    BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't',
    EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
    /* protocol 2 */
    PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84,
    TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
    NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
    /* protocol 3 */
    BINBYTES = 'B', SHORT_BINBYTES = 'C',
    /* protocol 4 */
    SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e,
    EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92,
    STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
    /* protocol 5 */
    BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
};

/* ======================================================================
 * Decoder state
 * ====================================================================== */

/* A value with the nesting depth of what it contains (0 for scalars), so
 * the depth limit is checked as containers are built, without walking.
 * put is 1 + the memo index this stack entry was last stored under. */
typedef struct slot {
    md_val *v;
    size_t depth;
    size_t put;
} slot;
/* md_dict_set_pairs and md_list_extend read the values of consecutive
 * slots as an array of md_val * with a stride. */
_Static_assert(offsetof(slot, v) == 0 && sizeof(slot) % sizeof(md_val *) == 0,
               "slot values are md_val * apart by a whole stride");

/* The memo is an array indexed by integer, in three parts: a growable
 * array for the first MEMO_CHUNK indices (where nearly every message
 * stays), fixed chunks after that (large messages grow without copying
 * or re-zeroing megabytes, and chunks stay below the size malloc serves
 * with fresh pages), and, for indices far beyond the message size, a
 * small hash table, so BINPUT 16000000 in a 10-byte message costs one
 * entry, not a 16-million-slot array. */
#define MEMO_CHUNK 2048

/* A memo entry: a value and its depth (16 bytes: protocol 4 memoizes
 * nearly every value, so a big message writes one per item). */
typedef struct memo_ent {
    md_val *v;
    size_t depth;
} memo_ent;

/* Hashes of memoized str and bytes dict keys, by key object: a message of many small dicts such as {'v': i} pushes
 * one 'v' object for all of them, and managerd's str has no room to
 * cache its own hash as CPython's does, so the decoder keeps it, each
 * such key hashed once per message. Direct-mapped by pointer; an entry
 * holds a reference, so its object cannot be freed and another take its
 * address while the entry lasts. */
#define KEYHASH_SLOTS 32
typedef struct keyhash {
    md_val *key;                /* NULL: empty */
    uint32_t hash;
} keyhash;

typedef struct dec {
    const uint8_t *start, *p, *end;
    size_t op_off;             /* offset of the opcode being run */
    md_pickle_limits lim;
    md_pickle_err *err;
    int proto;
    /* A global named RebuildProxy was resolved: the value may hold a
     * proxy (md_pickle_decode_noting_proxies). */
    bool proxy_global;
    /* stack[flat_lo..flat_hi) holds values of depth 0 that a run
     * (load_flat) pushed after its last value of another depth or pop,
     * and no other opcode has run since the run, which ended at byte
     * flat_end: an APPENDS, LIST or SETITEMS right after needs no look
     * at their depths (items_depth). */
    size_t flat_lo, flat_hi, flat_end;

    slot *stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;

    memo_ent *memo;                /* indices below MEMO_CHUNK */
    size_t memo_cap;           /* allocated entries of memo */
    memo_ent **chunks;             /* then chunks of MEMO_CHUNK entries */
    size_t nchunks;
    size_t memo_dense_max;     /* indices below this: memo or chunks */
    md_ptrmap far;             /* far index + 1 -> its entry in far_slots */
    memo_ent *far_slots;
    size_t far_len, far_cap;
    size_t memo_count;         /* entries present: MEMOIZE's next index */
    memo_ent *hot;             /* the chunk last found (MEMOIZE fills one */
    size_t hot_base;           /* after another), and its first index    */

    keyhash keyhash[KEYHASH_SLOTS];
    size_t keyhash_used;       /* entries ever filled (0: nothing to drop) */

    /* Small messages never touch the allocator for these. */
    slot stack_inline[32];
    memo_ent memo_inline[32];
    size_t marks_inline[16];
} dec;

/* Tests turn the runs off (md_pickle__set_runs) to decode each opcode of
 * load_flat through its checking handler alone, and SETITEM through
 * store_pairs: the reference the runs must match in every result, error
 * and offset. */
static bool runs_off;

/* ======================================================================
 * Errors
 * ====================================================================== */

static int fail(dec *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every error goes through here: the message names the problem and ends
 * with the byte offset of the opcode that caused it. */
static int fail(dec *d, int code, const char *fmt, ...)
{
    if (d->err->code != 0)
        return -1; /* keep the first error */
    char text[sizeof d->err->msg - 32]; /* room for " at byte N" */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    d->err->code = code;
    d->err->offset = d->op_off;
    snprintf(d->err->msg, sizeof d->err->msg, "%.160s at byte %zu", text, d->op_off);
    return -1;
}

static int nomem(dec *d)
{
    return fail(d, MD_ENOMEM, "out of memory");
}

static const char *op_name(int op);

/* ======================================================================
 * Reading arguments
 * ====================================================================== */

static size_t remaining(const dec *d)
{
    return (size_t)(d->end - d->p);
}

/* Check that n argument bytes follow; the message names the opcode. */
static inline int need(dec *d, size_t n, int op)
{
    if (remaining(d) < n)
        return fail(d, MD_EPROTO, "%s argument runs past the end of the message",
                    op_name(op));
    return 0;
}

static inline uint64_t rd_le(const uint8_t *p, int n)
{
    /* The widths of the opcodes spelled out: each is one load. */
    switch (n) {
    case 1: return p[0];
    case 2: return (uint64_t)p[0] | (uint64_t)p[1] << 8;
    case 4:
        return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
               (uint64_t)p[3] << 24;
    default: break;
    }
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A length argument of `width` bytes, checked against what remains. */
static inline int read_len(dec *d, int width, int op, size_t *out)
{
    *out = 0;   /* set on failure too (the inlined callers' warnings) */
    if (need(d, (size_t)width, op) < 0)
        return -1;
    uint64_t n = rd_le(d->p, width);
    d->p += width;
    if (n > remaining(d))
        return fail(d, MD_EPROTO, "%s length %llu runs past the end of the message",
                    op_name(op), (unsigned long long)n);
    *out = (size_t)n;
    return 0;
}

/* A text line (protocol 0 arguments): returns its length without '\n'. */
static int read_line(dec *d, int op, const char **line, size_t *len)
{
    const uint8_t *nl = memchr(d->p, '\n', remaining(d));
    if (!nl)
        return fail(d, MD_EPROTO, "%s argument is not terminated by a newline",
                    op_name(op));
    *line = (const char *)d->p;
    *len = (size_t)(nl - d->p);
    d->p = nl + 1;
    return 0;
}

/* ======================================================================
 * Stack, marks, memo
 * ====================================================================== */

static size_t mark_base(const dec *d)
{
    return d->nmarks ? d->marks[d->nmarks - 1] : 0;
}

/* push_depth's checks and growth, out of the hot path. */
static int push_slow(dec *d, md_val *v, size_t depth)
{
    if (!v)
        return nomem(d);
    if (depth > d->lim.max_depth) {
        md_decref(v);
        return fail(d, MD_EDEPTH, "nesting depth %zu exceeds max_depth %zu",
                    depth, d->lim.max_depth);
    }
    if (d->sp >= d->lim.max_stack) {
        md_decref(v);
        return fail(d, MD_ELIMIT, "value stack exceeds max_stack %zu", d->lim.max_stack);
    }
    /* The test first: a call per push would cost the hot loop. */
    if (d->sp == d->stack_cap &&
        md_grow_inline(&d->stack, &d->stack_cap, d->stack_inline, d->sp + 1, d->lim.max_stack,
                       sizeof *d->stack) < 0) {
        md_decref(v);
        return nomem(d);
    }
    d->stack[d->sp++] = (slot){ v, depth, 0 };
    return 0;
}

/* Push steals v. Inlined into every load: the common push (a value that
 * exists, within the depth limit, with room on the stack) is these
 * three tests and a store; anything else takes push_slow, which checks
 * again and fails or grows. */
static inline int push_depth(dec *d, md_val *v, size_t depth)
{
    if (v && depth <= d->lim.max_depth && d->sp < d->stack_cap &&
        d->sp < d->lim.max_stack) {
        d->stack[d->sp++] = (slot){ v, depth, 0 };
        return 0;
    }
    return push_slow(d, v, depth);
}

static inline int push(dec *d, md_val *v)
{
    return push_depth(d, v, 0);
}

/* Items above the top mark; fails if fewer than n. */
static int need_items(dec *d, size_t n, int op)
{
    if (d->sp - mark_base(d) < n)
        return fail(d, MD_EPROTO, "%s needs %zu item%s on the stack", op_name(op), n,
                    n == 1 ? "" : "s");
    return 0;
}

/* Pop the top mark: returns the stack index where its items start. */
static int pop_mark(dec *d, int op, size_t *base)
{
    if (d->nmarks == 0)
        return fail(d, MD_EPROTO, "%s without a MARK", op_name(op));
    *base = d->marks[--d->nmarks];
    return 0;
}

static size_t max_depth_of(const slot *s, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].depth > m)
            m = s[i].depth;
    return m;
}

/* max_depth_of stack[from..sp), skipping the str and ints that runs of
 * them left there if nothing ran since (see flat_lo): a list of a
 * million of them is then not read twice. */
static size_t items_depth(const dec *d, size_t from)
{
    size_t to = d->sp;
    if (d->flat_hi == d->sp && d->flat_end == d->op_off)
        to = d->flat_lo > from ? d->flat_lo : from;
    return to > from ? max_depth_of(d->stack + from, to - from) : 0;
}

/* Drop stack entries from index `from` up. */
static void drop_to(dec *d, size_t from)
{
    while (d->sp > from)
        md_decref(d->stack[--d->sp].v);
}

static memo_ent *memo_find(dec *d, size_t idx)
{
    if (idx < d->memo_dense_max) {
        memo_ent *s = NULL;
        if (idx < MEMO_CHUNK) {
            if (idx < d->memo_cap)
                s = &d->memo[idx];
        } else {
            size_t c = idx / MEMO_CHUNK - 1;
            if (c < d->nchunks && d->chunks[c])
                s = &d->chunks[c][idx % MEMO_CHUNK];
        }
        return s && s->v ? s : NULL;
    }
    md_ptrmap_ent *ent = md_ptrmap_find(&d->far, (uintptr_t)idx + 1);
    return ent ? &d->far_slots[ent->val] : NULL;
}

/* A new, empty entry for far memo index idx (absent): NULL if out of
 * memory, with nothing changed. */
static memo_ent *far_add(dec *d, size_t idx)
{
    /* 16 at first: a message that memoizes one far index likely has more */
    if (d->far_len == d->far_cap &&
        md_grow(&d->far_slots, &d->far_cap, d->far_len < 16 ? 16 : d->far_len + 1,
                sizeof *d->far_slots) < 0)
        return NULL;
    if (md_ptrmap_put(&d->far, (uintptr_t)idx + 1, d->far_len) < 0)
        return NULL;
    memo_ent *s = &d->far_slots[d->far_len++];
    *s = (memo_ent){ NULL, 0 };
    return s;
}

/* The slot of dense memo index idx when its array or chunk is already
 * allocated, else NULL (memo_put_slow allocates). */
static inline memo_ent *memo_dense_slot(dec *d, size_t idx)
{
    if (idx >= d->memo_dense_max)
        return NULL;   /* far indices live in the map */
    if (idx < d->memo_cap)
        return &d->memo[idx];
    if (d->hot && idx - d->hot_base < MEMO_CHUNK)
        return &d->hot[idx - d->hot_base];
    if (idx < MEMO_CHUNK)
        return NULL;
    size_t c = idx / MEMO_CHUNK - 1;
    if (c >= d->nchunks || !d->chunks[c])
        return NULL;
    d->hot = d->chunks[c];
    d->hot_base = (c + 1) * MEMO_CHUNK;
    return &d->hot[idx - d->hot_base];
}

static int memo_put_slow(dec *d, size_t idx, int op);

/* memo[idx] = the top of the stack (a new reference is taken). Protocol
 * 4 memoizes nearly every value, so the common case (a fresh index whose
 * array or chunk exists) is inline; memo_put_slow checks again and does
 * everything else. */
static inline int memo_put(dec *d, size_t idx, int op)
{
    memo_ent *dst;
    if (d->sp > mark_base(d) && idx < d->lim.max_memo && (dst = memo_dense_slot(d, idx)) &&
        !dst->v) {
        slot *top = &d->stack[d->sp - 1];
        d->memo_count++;
        *dst = (memo_ent){ md_incref(top->v), top->depth };
        top->put = idx + 1;
        return 0;
    }
    return memo_put_slow(d, idx, op);
}

/* memo_put of MEMOIZE right after a push of this opcode's own (so the
 * stack holds an item above the top mark: no need to look). */
static inline int memoize_pushed(dec *d)
{
    size_t idx = d->memo_count;
    memo_ent *dst;
    if (idx < d->lim.max_memo && (dst = memo_dense_slot(d, idx)) && !dst->v) {
        slot *top = &d->stack[d->sp - 1];
        d->memo_count++;
        *dst = (memo_ent){ md_incref(top->v), top->depth };
        top->put = idx + 1;
        return 0;
    }
    return memo_put_slow(d, idx, MEMOIZE);
}

static int memo_put_slow(dec *d, size_t idx, int op)
{
    if (d->sp == mark_base(d))
        return fail(d, MD_EPROTO, "%s with an empty stack", op_name(op));
    if (idx >= d->lim.max_memo)
        return fail(d, MD_ELIMIT, "memo index %zu exceeds max_memo %zu", idx,
                    d->lim.max_memo);
    slot *top = &d->stack[d->sp - 1];
    memo_ent *dst;
    if (idx >= MEMO_CHUNK && idx < d->memo_dense_max) {
        size_t c = idx / MEMO_CHUNK - 1;
        size_t had = d->nchunks;
        if (md_grow(&d->chunks, &d->nchunks, c + 1, sizeof *d->chunks) < 0)
            return nomem(d);
        memset(d->chunks + had, 0, (d->nchunks - had) * sizeof *d->chunks);
        if (!d->chunks[c] && !(d->chunks[c] = md_calloc(MEMO_CHUNK, sizeof(memo_ent))))
            return nomem(d);
        dst = &d->chunks[c][idx % MEMO_CHUNK];
    } else if (idx < d->memo_dense_max) {
        size_t had = d->memo_cap;
        if (idx >= d->memo_cap &&
            md_grow_inline(&d->memo, &d->memo_cap, d->memo_inline, idx + 1, MEMO_CHUNK,
                           sizeof *d->memo) < 0)
            return nomem(d);
        memset(d->memo + had, 0, (d->memo_cap - had) * sizeof *d->memo);
        dst = &d->memo[idx];
    } else {
        dst = memo_find(d, idx);
        if (!dst && !(dst = far_add(d, idx)))
            return nomem(d);
    }
    if (dst->v)
        md_decref(dst->v);
    else
        d->memo_count++;
    *dst = (memo_ent){ md_incref(top->v), top->depth };
    top->put = idx + 1;
    return 0;
}

static int memo_get(dec *d, size_t idx)
{
    memo_ent *s = memo_find(d, idx);
    if (!s)
        return fail(d, MD_EPROTO, "memo index %zu not found", idx);
    memo_ent copy = *s;
    if (push_depth(d, md_incref(copy.v), copy.depth) < 0)
        return -1;
    d->stack[d->sp - 1].put = idx + 1;
    return 0;
}

/* ======================================================================
 * Scalars and strings
 * ====================================================================== */

/* What md_int_from_decimal accepts; checked when it failed, to tell bad
 * input from no memory. */
static bool is_decimal(const char *s, size_t n, bool allow_l)
{
    if (allow_l && n && s[n - 1] == 'L')
        n--;
    if (n && (*s == '-' || *s == '+')) {
        s++;
        n--;
    }
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int load_int_text(dec *d, int op)
{
    const char *line;
    size_t len;
    if (read_line(d, op, &line, &len) < 0)
        return -1;
    if (op == INT && len == 2 && line[0] == '0' && (line[1] == '0' || line[1] == '1'))
        return push(d, md_bool(line[1] == '1'));
    /* int(text, 0) strips surrounding whitespace. */
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r' || line[len - 1] == '\t'))
        len--;
    while (len && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    size_t digits = len;
    if (digits && (line[0] == '-' || line[0] == '+'))
        digits--;
    if (digits && op == LONG && line[len - 1] == 'L')
        digits--;
    if (digits > d->lim.max_int_bytes)
        return fail(d, MD_ELIMIT, "%s literal of %zu digits exceeds max_int_bytes %zu",
                    op_name(op), digits, d->lim.max_int_bytes);
    md_val *v = md_int_from_decimal(line, len, op == LONG);
    if (!v && !is_decimal(line, len, op == LONG))
        return fail(d, MD_EPROTO, "invalid %s literal", op_name(op));
    return push(d, v);
}

static inline bool is_binint(int op)
{
    return op == BININT1 || op == BININT2 || op == BININT;
}

static inline size_t binint_width(int op)
{
    return op == BININT1 ? 1 : op == BININT2 ? 2 : 4;
}

/* A BININT* argument: 32 bits at most, so a tagged int (no allocation,
 * never NULL). */
static inline md_val *binint_at(const uint8_t *p, size_t width)
{
    uint64_t u = rd_le(p, (int)width);
    return md_int_from_i32(width == 4 ? (int32_t)(uint32_t)u : (int32_t)u);
}

/* BININT, BININT1 or BININT2 alone (load_flat's checking path). */
static int load_binint(dec *d, int op)
{
    size_t width = binint_width(op);
    if (need(d, width, op) < 0)
        return -1;
    md_val *v = binint_at(d->p, width);
    d->p += width;
    return push(d, v);
}

static int load_long_bin(dec *d, int op)
{
    size_t n;
    if (op == LONG1) {
        if (read_len(d, 1, op, &n) < 0)
            return -1;
    } else {
        if (need(d, 4, op) < 0)
            return -1;
        int32_t sn = (int32_t)(uint32_t)rd_le(d->p, 4);
        if (sn < 0)
            return fail(d, MD_EPROTO, "LONG4 has a negative byte count %d", (int)sn);
        if ((size_t)sn > d->lim.max_int_bytes)
            return fail(d, MD_ELIMIT, "LONG4 of %d bytes exceeds max_int_bytes %zu",
                        (int)sn, d->lim.max_int_bytes);
        if (read_len(d, 4, op, &n) < 0)
            return -1;
    }
    md_val *v = md_int_from_le(d->p, n);
    d->p += n;
    return push(d, v);
}

static int load_float_text(dec *d)
{
    const char *line;
    size_t len;
    if (read_line(d, FLOAT, &line, &len) < 0)
        return -1;
    char text[400];
    if (len >= sizeof text)
        return fail(d, MD_EPROTO, "FLOAT literal of %zu bytes is too long", len);
    memcpy(text, line, len);
    text[len] = '\0';
    char *endp;
    double x = strtod(text, &endp);
    while (*endp == ' ' || *endp == '\r' || *endp == '\t')
        endp++;
    if (endp == text || *endp != '\0')
        return fail(d, MD_EPROTO, "invalid FLOAT literal");
    return push(d, md_float_new(x));
}

/* A BINFLOAT argument: 8 bytes, big-endian IEEE 754. */
static inline double binfloat_at(const uint8_t *p)
{
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = (bits << 8) | p[i];
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static int load_binfloat(dec *d)
{
    if (need(d, 8, BINFLOAT) < 0)
        return -1;
    double x = binfloat_at(d->p);
    d->p += 8;
    return push(d, md_float_new(x));
}

static bool is_ascii(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] & 0x80)
            return false;
    return true;
}

/* A Python 2 str: ASCII reads as str (flagged), anything else as bytes
 * (flagged), as tests/docs/protocol.md 5.6 explains. */
static int push_py2_str(dec *d, const uint8_t *s, size_t n)
{
    if (is_ascii(s, n))
        return push(d, md_str_new_py2((const char *)s, n));
    return push(d, md_bytes_new_py2(s, n));
}

static int load_binstring(dec *d, int op)
{
    size_t n;
    if (op == BINSTRING) {
        if (need(d, 4, op) < 0)
            return -1;
        if ((int32_t)(uint32_t)rd_le(d->p, 4) < 0)
            return fail(d, MD_EPROTO, "BINSTRING has a negative byte count");
    }
    if (read_len(d, op == BINSTRING ? 4 : 1, op, &n) < 0)
        return -1;
    const uint8_t *s = d->p;
    d->p += n;
    return push_py2_str(d, s, n);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* STRING: a quoted literal with Python's bytes escapes
 * (codecs.escape_decode). */
static int load_string(dec *d)
{
    const char *line;
    size_t len;
    if (read_line(d, STRING, &line, &len) < 0)
        return -1;
    if (len < 2 || line[0] != line[len - 1] || (line[0] != '\'' && line[0] != '"'))
        return fail(d, MD_EPROTO, "the STRING opcode argument must be quoted");
    const char *s = line + 1;
    size_t n = len - 2;
    uint8_t *out = md_malloc(n ? n : 1);
    if (!out)
        return nomem(d);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = (uint8_t)s[i];
            continue;
        }
        if (++i == n) {
            md_free(out);
            return fail(d, MD_EPROTO, "STRING ends with a lone backslash");
        }
        char c = s[i];
        switch (c) {
        case '\n': break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case 'a': out[o++] = 7; break;
        case 'b': out[o++] = 8; break;
        case 'f': out[o++] = 12; break;
        case 'n': out[o++] = 10; break;
        case 'r': out[o++] = 13; break;
        case 't': out[o++] = 9; break;
        case 'v': out[o++] = 11; break;
        case 'x': {
            int h1 = i + 1 < n ? hexval(s[i + 1]) : -1;
            int h2 = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (h1 < 0 || h2 < 0) {
                md_free(out);
                return fail(d, MD_EPROTO, "invalid \\x escape in STRING");
            }
            out[o++] = (uint8_t)(h1 * 16 + h2);
            i += 2;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = (unsigned)(c - '0');
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    v = v * 8 + (unsigned)(s[++i] - '0');
                out[o++] = (uint8_t)v;
            } else {
                /* Unknown escapes are kept as written. */
                out[o++] = '\\';
                out[o++] = (uint8_t)c;
            }
        }
    }
    int rc = push_py2_str(d, out, o);
    md_free(out);
    return rc;
}

/* Append code point cp as UTF-8 (surrogates as three bytes). */
static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* UNICODE: raw-unicode-escape. Bytes are Latin-1 characters; \uXXXX and
 * \UXXXXXXXX are escapes only after an odd run of backslashes. */
static int load_unicode_text(dec *d)
{
    const char *line;
    size_t len;
    if (read_line(d, UNICODE, &line, &len) < 0)
        return -1;
    const uint8_t *s = (const uint8_t *)line;
    uint8_t *out = md_malloc(len * 2 + 1); /* Latin-1 at most doubles */
    if (!out)
        return nomem(d);
    size_t o = 0, run = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if ((c == 'u' || c == 'U') && (run & 1)) {
            size_t digits = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            bool ok = i + digits < len;
            for (size_t k = 1; ok && k <= digits; k++) {
                int h = hexval(s[i + k]);
                if (h < 0)
                    ok = false;
                else
                    cp = cp * 16 + (uint32_t)h;
            }
            if (!ok || cp > 0x10FFFF) {
                md_free(out);
                return fail(d, MD_EPROTO, "invalid \\%c escape in UNICODE", c);
            }
            o--; /* drop the backslash that introduced the escape */
            o += put_utf8(out + o, cp);
            i += digits;
            run = 0;
            continue;
        }
        run = c == '\\' ? run + 1 : 0;
        o += put_utf8(out + o, c);
    }
    md_val *v = md_str_new((const char *)out, o);
    md_free(out);
    return push(d, v);
}

/* Whether s is UTF-8 as md_str_new accepts it (surrogates allowed).
 * Only run when md_str_new failed, to tell bad input from no memory. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2
                 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4 : 0;
        if (k == 0 || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        if (k == 3 && c == 0xE0 && s[i + 1] < 0xA0)
            return false;
        if (k == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)))
            return false;
        i += k;
    }
    return true;
}

/* One BINUNICODE* alone (load_flat's checking path, and BINUNICODE8). */
static int load_binunicode(dec *d, int op, int width)
{
    size_t n;
    if (read_len(d, width, op, &n) < 0)
        return -1;
    const char *s = (const char *)d->p;
    d->p += n;
    md_val *v = md_str_new(s, n);
    if (!v && !utf8_ok((const uint8_t *)s, n))
        return fail(d, MD_EPROTO, "%s is not valid UTF-8", op_name(op));
    return push(d, v);
}

static int load_binbytes(dec *d, int op, int width)
{
    size_t n;
    if (read_len(d, width, op, &n) < 0)
        return -1;
    const uint8_t *s = d->p;
    d->p += n;
    /* A big one takes the message's buffer over when its owner offers it
     * (lim.gift): the payload is not copied into fresh memory. */
    return push(d, op == BYTEARRAY8 ? md_bytearray_new_in(d->lim.gift, s, n)
                                    : md_bytes_new_in(d->lim.gift, s, n));
}

/* ======================================================================
 * Containers
 * ====================================================================== */

/* Build a tuple from stack[base..sp) and replace those items with it. */
static int build_tuple(dec *d, size_t base)
{
    size_t n = d->sp - base;
    size_t depth = max_depth_of(d->stack + base, n) + 1;
    md_val *t = md_tuple_new(n);
    if (!t)
        return nomem(d);
    md_val **items = md_tuple_fill(t);
    for (size_t i = 0; i < n; i++)
        items[i] = d->stack[base + i].v;
    md_tuple_filled(t);
    d->sp = base;
    return push_depth(d, t, n ? depth : 0);
}

static int load_tuple_n(dec *d, int op, size_t n)
{
    if (need_items(d, n, op) < 0)
        return -1;
    return build_tuple(d, d->sp - n);
}

static int load_tuple(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, TUPLE, &base) < 0)
        return -1;
    return build_tuple(d, base);
}

static int load_list(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, LIST, &base) < 0)
        return -1;
    size_t n = d->sp - base;
    size_t depth = items_depth(d, base) + 1;
    md_val *l = md_list_new(n);
    if (!l ||
        md_list_extend_steal(l, &d->stack[base].v, n, sizeof(slot) / sizeof(md_val *)) < 0) {
        md_decref(l);
        return nomem(d);
    }
    d->sp = base;   /* the list owns the items now */
    return push_depth(d, l, depth);
}

static int pyerr_fail(dec *d, const md_pyerr *e)
{
    if (e->type && strcmp(e->type, "MemoryError") == 0)
        return nomem(d);
    return fail(d, MD_EPROTO, "%s: %s", e->type ? e->type : "error", e->msg);
}

/* Raise the recorded depth of a container that received items. */
static int grow_depth(dec *d, slot *target, size_t item_depth)
{
    if (item_depth + 1 > target->depth) {
        target->depth = item_depth + 1;
        if (target->depth > d->lim.max_depth)
            return fail(d, MD_EDEPTH, "nesting depth %zu exceeds max_depth %zu",
                        target->depth, d->lim.max_depth);
    }
    return 0;
}

/* Append stack[from..sp) to the list or opaque object at stack[from-1]. */
static int append_items(dec *d, size_t from, int op)
{
    if (from == 0 || from - 1 < mark_base(d) || from - 1 >= d->sp)
        return fail(d, MD_EPROTO, "%s without a list below its items", op_name(op));
    slot *target = &d->stack[from - 1];
    md_vtype t = md_typeof(target->v);
    if (t != MD_T_LIST && t != MD_T_OPAQUE)
        return fail(d, MD_EPROTO, "%s on a %s", op_name(op), md_type_name(target->v));
    if (grow_depth(d, target, items_depth(d, from)) < 0)
        return -1;
    if (t == MD_T_OPAQUE) {
        for (size_t i = from; i < d->sp; i++)
            if (md_opaque_add_listitem(target->v, d->stack[i].v) < 0)
                return nomem(d);
        drop_to(d, from);
        return 0;
    }
    /* The whole batch in one call, sized once; the stack's references
     * move into the list (no incref and decref per item). */
    if (md_list_extend_steal(target->v, &d->stack[from].v, d->sp - from,
                             sizeof(slot) / sizeof(md_val *)) < 0)
        return nomem(d);
    d->sp = from;
    return 0;
}

static int load_append(dec *d)
{
    if (d->sp - mark_base(d) < 2)
        return fail(d, MD_EPROTO, "APPEND needs a list and an item on the stack");
    return append_items(d, d->sp - 1, APPEND);
}

static int load_appends(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, APPENDS, &base) < 0)
        return -1;
    return append_items(d, base, APPENDS);
}

/* The keyhash slot for key object k. */
static inline keyhash *keyhash_slot(dec *d, const md_val *k)
{
    uint64_t x = (uint64_t)(uintptr_t)k * UINT64_C(0x9E3779B97F4A7C15);
    return &d->keyhash[x >> 59];
}
_Static_assert(KEYHASH_SLOTS == 32, "keyhash_slot takes the top 5 bits");

/* Whether the key in slot k may have its hash kept: a str or bytes (the
 * keys SipHash hashes, with contents that never change) that is in the
 * memo, so the message may push the same object again. */
static inline bool keyhash_kind(const slot *k)
{
    if (!k->put)
        return false;
    md_vtype t = md_typeof(k->v);
    return t == MD_T_STR || t == MD_T_BYTES;
}

/* store_pairs for a few pairs whose memoized keys may have their hashes
 * kept: those known are given, the others hashed by the table and kept
 * for the next dict. 1: not such pairs (the caller stores them); 0: stored;
 * -1: failed, with *taken as for md_dict_set_pairs_steal. */
static int store_pairs_keyhash(dec *d, md_val *dict, size_t from, md_pyerr *e, size_t *taken)
{
    size_t n = (d->sp - from) / 2;
    if (n > MD_PAIRS_HASHED_MAX)
        return 1;
    uint32_t hashes[MD_PAIRS_HASHED_MAX];
    /* known: kept keys; fresh: keys to keep (only those can be kept,
     * so a key found needs no look at its kind). */
    uint64_t known = 0, fresh = 0;
    for (size_t j = 0; j < n; j++) {
        const slot *k = &d->stack[from + 2 * j];
        const keyhash *c = keyhash_slot(d, k->v);
        if (c->key == k->v) {
            hashes[j] = c->hash;
            known |= UINT64_C(1) << j;
        } else if (keyhash_kind(k)) {
            fresh |= UINT64_C(1) << j;
        }
    }
    if (!(known | fresh))
        return 1;
    /* A reference of our own on each key to keep: the dict drops a
     * repeated key's object, and the memo may no longer hold it. */
    for (uint64_t f = fresh; f; f &= f - 1)
        md_incref(d->stack[from + 2 * (size_t)__builtin_ctzll(f)].v);
    int rc = md_dict_set_pairs_steal_hashed(dict, &d->stack[from].v, n,
                                            sizeof(slot) / sizeof(md_val *), hashes, known, e,
                                            taken);
    for (; fresh; fresh &= fresh - 1) {
        size_t j = (size_t)__builtin_ctzll(fresh);
        md_val *key = d->stack[from + 2 * j].v;
        if (rc < 0) {
            md_decref(key);
            continue;
        }
        keyhash *c = keyhash_slot(d, key);
        md_decref(c->key);
        *c = (keyhash){ key, hashes[j] };
        d->keyhash_used++;
    }
    return rc;
}

/* Stores the pairs stack[from..sp) into dict in one call (deferred, or
 * the table sized once, each key hashed once, a window of keys ahead of
 * their inserts), the stack's references moving into the dict: the
 * stack forgets those the dict took, even when a later pair fails. */
/* The fewest bytes that push one more pair: every opcode pushes at most
 * one value, and takes a byte at least (a bound for reserving a dict's
 * room, never for correctness). */
#define MIN_PAIR_BYTES 2

/* The pairs stack[from..sp) stored into dict at once, each key hashed
 * or its hash taken from keyhash. */
static int store_pairs_now(dec *d, md_val *dict, size_t from)
{
    md_pyerr e;
    e.type = NULL;
    e.msg[0] = '\0';
    size_t taken = 0;
    int rc = store_pairs_keyhash(d, dict, from, &e, &taken);
    if (rc == 1)
        rc = md_dict_set_pairs_steal(dict, &d->stack[from].v, (d->sp - from) / 2,
                                     sizeof(slot) / sizeof(md_val *), &e, &taken);
    for (size_t i = 0; rc < 0 && i < 2 * taken; i++)
        d->stack[from + i].v = NULL;
    if (rc < 0)
        return pyerr_fail(d, &e);
    d->sp = from;
    return 0;
}

static int store_pairs(dec *d, md_val *dict, size_t from)
{
    /* A big batch of plain keys is appended as it is: its keys are
     * hashed when the dict is merged into another or first used
     * (value.h's md_dict_defer_pairs_steal). */
    size_t n = (d->sp - from) / 2;
    int deferred = md_dict_defer_pairs_steal_upto(dict, &d->stack[from].v, n,
                                                  sizeof(slot) / sizeof(md_val *),
                                                  n + remaining(d) / MIN_PAIR_BYTES);
    if (deferred < 0)
        return nomem(d);
    if (deferred) {
        d->sp = from;
        return 0;
    }
    return store_pairs_now(d, dict, from);
}

/* store_pairs for SETITEM's one pair, stack[from] and stack[from + 1]
 * on top: a dict with no pairs yet (a record's {'v': i}) takes it
 * without the deferral check, which declines one pair for a dict that is
 * not pending (and a pending dict has pairs). A dict with no block has
 * no pairs and is not pending. */
static int store_pair_rest(dec *d, md_val *dict, size_t from)
{
    if (md_dict_pairs(dict) != 0)
        return store_pairs(d, dict, from);
    return store_pairs_now(d, dict, from);
}

/* store_pair's first step, inline in load_flat: a key whose hash is kept
 * (the 'v' of every {'v': i}) into a dict never filled, what
 * store_pairs_keyhash does for it, in one call. 0: stored (the pair's
 * references are the dict's); -1: out of memory, nothing done; 1: not
 * such a pair (store_pair_rest stores it). */
static inline int store_pair_kept(dec *d, md_val *dict, const slot *k)
{
    const keyhash *c = keyhash_slot(d, k->v);
    return c->key == k->v ? md_dict_set_first_steal_hashed(dict, k[0].v, k[1].v, c->hash) : 1;
}

static int store_pair(dec *d, md_val *dict, size_t from)
{
    int rc = store_pair_kept(d, dict, &d->stack[from]);
    if (rc < 0)
        return nomem(d);
    if (rc > 0)
        return store_pair_rest(d, dict, from);
    d->sp = from;
    return 0;
}

/* Store the pairs stack[from..sp) into the dict/opaque at stack[from-1]. */
static int set_items(dec *d, size_t from, int op)
{
    if (from == 0 || from - 1 < mark_base(d))
        return fail(d, MD_EPROTO, "%s without a dict below its items", op_name(op));
    if ((d->sp - from) % 2)
        return fail(d, MD_EPROTO, "%s with an odd number of items", op_name(op));
    slot *target = &d->stack[from - 1];
    md_vtype t = md_typeof(target->v);
    if (t != MD_T_DICT && t != MD_T_OPAQUE)
        return fail(d, MD_EPROTO, "%s on a %s", op_name(op), md_type_name(target->v));
    if (grow_depth(d, target, items_depth(d, from)) < 0)
        return -1;
    if (t == MD_T_DICT)
        return store_pairs(d, target->v, from);
    for (size_t i = from; i < d->sp; i += 2)
        if (md_opaque_add_dictitem(target->v, d->stack[i].v, d->stack[i + 1].v) < 0)
            return nomem(d);
    drop_to(d, from);
    return 0;
}

/* The deeper of the two items at top[-1] and top[0]. */
static inline size_t top_two_depth(const slot *top)
{
    return top[-1].depth > top[0].depth ? top[-1].depth : top[0].depth;
}

/* SETITEM on a dict (a client's {'v': i}) checks its one pair here and
 * stores it; set_items does the rest. */
static int load_setitem(dec *d)
{
    if (d->sp - mark_base(d) < 3)
        return fail(d, MD_EPROTO, "SETITEM needs a dict, a key and a value on the stack");
    slot *top = &d->stack[d->sp - 1];
    if (md_typeof(top[-2].v) != MD_T_DICT)
        return set_items(d, d->sp - 2, SETITEM);
    if (grow_depth(d, &top[-2], top_two_depth(top)) < 0)
        return -1;
    /* the tests' reference stores as before store_pair */
    return runs_off ? store_pairs(d, top[-2].v, d->sp - 2) : store_pair(d, top[-2].v, d->sp - 2);
}

static int load_setitems(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, SETITEMS, &base) < 0)
        return -1;
    return set_items(d, base, SETITEMS);
}

static int load_dict(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, DICT, &base) < 0)
        return -1;
    if ((d->sp - base) % 2)
        return fail(d, MD_EPROTO, "DICT with an odd number of items");
    md_val *dict = md_dict_new();
    if (!dict)
        return nomem(d);
    size_t depth = max_depth_of(d->stack + base, d->sp - base) + 1;
    if (store_pairs(d, dict, base) < 0) {
        md_decref(dict);
        return -1;
    }
    return push_depth(d, dict, depth);
}

static int load_additems(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, ADDITEMS, &base) < 0)
        return -1;
    if (base == 0 || base - 1 < mark_base(d))
        return fail(d, MD_EPROTO, "ADDITEMS without a set below its items");
    slot *target = &d->stack[base - 1];
    if (md_typeof(target->v) != MD_T_SET)
        return fail(d, MD_EPROTO, "ADDITEMS on a %s", md_type_name(target->v));
    for (size_t i = base; i < d->sp; i++) {
        md_pyerr e;
        e.type = NULL;
        e.msg[0] = '\0';
        if (md_set_add(target->v, d->stack[i].v, &e) < 0)
            return pyerr_fail(d, &e);
        if (grow_depth(d, target, d->stack[i].depth) < 0)
            return -1;
    }
    drop_to(d, base);
    return 0;
}

/* A set or frozenset from items (borrowed). */
static md_val *make_set(dec *d, bool frozen, md_val *const *items, size_t n)
{
    md_val *s = md_set_new(frozen);
    if (!s) {
        nomem(d);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        md_pyerr e;
        e.type = NULL;
        e.msg[0] = '\0';
        if (md_set_add(s, items[i], &e) < 0) {
            md_decref(s);
            pyerr_fail(d, &e);
            return NULL;
        }
    }
    return s;
}

static int load_frozenset(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, FROZENSET, &base) < 0)
        return -1;
    size_t n = d->sp - base;
    size_t depth = max_depth_of(d->stack + base, n) + 1;
    md_val *s = md_set_new(true);
    if (!s)
        return nomem(d);
    for (size_t i = base; i < d->sp; i++) {
        md_pyerr e;
        e.type = NULL;
        e.msg[0] = '\0';
        if (md_set_add(s, d->stack[i].v, &e) < 0) {
            md_decref(s);
            return pyerr_fail(d, &e);
        }
    }
    drop_to(d, base);
    return push_depth(d, s, depth);
}

/* ======================================================================
 * Globals and the allow-list of calls
 * ====================================================================== */

static bool valid_name(const char *s, size_t n)
{
    return n > 0 && memchr(s, '\0', n) == NULL;
}

/* Push module.name (Python 3 spelling) as an MD_T_GLOBAL. */
static int push_global(dec *d, const char *mod, size_t mlen, const char *name,
                       size_t nlen, int op)
{
    if (!valid_name(mod, mlen) || !valid_name(name, nlen))
        return fail(d, MD_EPROTO, "%s with an empty or invalid name", op_name(op));
    char *m = md_strndup(mod, mlen), *q = md_strndup(name, nlen);
    if (!m || !q) {
        md_free(m);
        md_free(q);
        return nomem(d);
    }
    const char *m3, *q3;
    md_pickle__py3_name(m, q, d->proto, &m3, &q3);
    /* Every global of the message passes here (GLOBAL, INST and
     * STACK_GLOBAL, whatever spelled its name: a proxy named through
     * escapes or memoized strings is seen too); the name alone, in any
     * module, errs on the side of looking. */
    d->proxy_global |= strcmp(q3, MD_PICKLE_PROXY_NAME) == 0;
    md_val *g = md_global_new(m3, q3);
    md_free(m);
    md_free(q);
    return push(d, g);
}


static int load_global(dec *d, int op)
{
    const char *mod, *name;
    size_t mlen, nlen;
    if (read_line(d, op, &mod, &mlen) < 0 || read_line(d, op, &name, &nlen) < 0)
        return -1;
    if (!utf8_ok((const uint8_t *)mod, mlen) || !utf8_ok((const uint8_t *)name, nlen))
        return fail(d, MD_EPROTO, "%s name is not valid UTF-8", op_name(op));
    return push_global(d, mod, mlen, name, nlen, op);
}

static int load_stack_global(dec *d)
{
    if (need_items(d, 2, STACK_GLOBAL) < 0)
        return -1;
    md_val *mod = d->stack[d->sp - 2].v, *name = d->stack[d->sp - 1].v;
    if (md_typeof(mod) != MD_T_STR || md_typeof(name) != MD_T_STR)
        return fail(d, MD_EPROTO, "STACK_GLOBAL requires str");
    int rc = push_global(d, md_str_data(mod), md_str_nbytes(mod), md_str_data(name),
                         md_str_nbytes(name), STACK_GLOBAL);
    if (rc < 0)
        return -1;
    /* Replace module and name by the global. */
    slot g = d->stack[--d->sp];
    drop_to(d, d->sp - 2);
    d->stack[d->sp++] = g;
    return 0;
}

static bool is_latin1_name(const md_val *v)
{
    if (md_typeof(v) != MD_T_STR)
        return false;
    static const char *const names[] = { "latin1", "latin-1", "latin_1", "iso-8859-1",
                                          "iso8859-1", "iso_8859_1", "l1" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (md_str_eq_cstr(v, names[i]))
            return true;
    return false;
}

/* str -> Latin-1 bytes; false if a code point is above U+00FF. */
static bool latin1_encode(const md_val *s, uint8_t *out, size_t *n)
{
    const uint8_t *p = (const uint8_t *)md_str_data(s);
    size_t len = md_str_nbytes(s), o = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x80) {
            out[o++] = p[i];
        } else if ((p[i] & 0xE0) == 0xC0 && p[i] <= 0xC3 && i + 1 < len) {
            out[o++] = (uint8_t)(((p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F));
            i++;
        } else {
            return false;
        }
    }
    *n = o;
    return true;
}

/* bytes/bytearray from the arguments of bytes(), bytearray() or
 * _codecs.encode(): (), (bytes,) or (latin-1 text, 'latin1'). NULL with
 * no error set if the arguments are not one of those. */
static md_val *bytes_from_args(dec *d, md_val *args, bool array, bool need_text)
{
    size_t n = md_tuple_len(args);
    md_val *out = NULL;
    if (n == 0 && !need_text) {
        out = array ? md_bytearray_new("", 0) : md_bytes_new("", 0);
    } else if (n == 1 && !need_text &&
               (md_typeof(md_tuple_get(args, 0)) == MD_T_BYTES ||
                md_typeof(md_tuple_get(args, 0)) == MD_T_BYTEARRAY)) {
        md_val *b = md_tuple_get(args, 0);
        out = array ? md_bytearray_new(md_bytes_data(b), md_bytes_len(b))
                    : md_bytes_new(md_bytes_data(b), md_bytes_len(b));
    } else if (n == 2 && md_typeof(md_tuple_get(args, 0)) == MD_T_STR &&
               is_latin1_name(md_tuple_get(args, 1))) {
        md_val *s = md_tuple_get(args, 0);
        uint8_t *buf = md_malloc(md_str_nbytes(s) + 1);
        if (!buf) {
            nomem(d);
            return NULL;
        }
        size_t len;
        if (latin1_encode(s, buf, &len))
            out = array ? md_bytearray_new(buf, len) : md_bytes_new(buf, len);
        else
            len = SIZE_MAX;
        md_free(buf);
        if (len == SIZE_MAX)
            return NULL;
    } else {
        return NULL;
    }
    if (!out)
        nomem(d);
    return out;
}

/* Items of an iterable argument that is plain data; false otherwise. */
typedef struct items { md_val **v; size_t n; } items;

static int collect_items(dec *d, md_val *it, items *out, bool *ok)
{
    out->v = NULL;
    out->n = 0;
    *ok = true;
    md_vtype t = md_typeof(it);
    size_t n;
    switch (t) {
    case MD_T_LIST: n = md_list_len(it); break;
    case MD_T_TUPLE: n = md_tuple_len(it); break;
    case MD_T_SET: case MD_T_FROZENSET: n = md_set_len(it); break;
    case MD_T_DICT: n = md_dict_len(it); break;
    default: *ok = false; return 0;
    }
    out->v = md_malloc((n ? n : 1) * sizeof *out->v);
    if (!out->v)
        return nomem(d);
    size_t pos = 0, i = 0;
    md_val *k, *v;
    for (i = 0; i < n; i++) {
        if (t == MD_T_LIST)
            out->v[i] = md_list_get(it, i);
        else if (t == MD_T_TUPLE)
            out->v[i] = md_tuple_get(it, i);
        else if (t == MD_T_DICT && md_dict_next(it, &pos, &k, &v))
            out->v[i] = k;
        else if (t != MD_T_DICT && md_set_next(it, &pos, &k))
            out->v[i] = k;
        else
            break;
    }
    out->n = i;
    return 0;
}

/* A number usable as a complex part. */
static bool as_double(const md_val *v, double *out)
{
    int64_t i;
    switch (md_typeof(v)) {
    case MD_T_FLOAT: *out = md_float_get(v); return true;
    case MD_T_BOOL: *out = md_bool_get(v) ? 1.0 : 0.0; return true;
    case MD_T_INT:
        if (md_int_to_i64(v, &i) < 0)
            return false;
        *out = (double)i;
        return true;
    default: return false;
    }
}

static md_val *make_from_items(dec *d, md_vtype want, md_val *args)
{
    size_t n = md_tuple_len(args);
    if (n > 1)
        return NULL;
    items it = { NULL, 0 };
    if (n == 1) {
        bool ok;
        if (collect_items(d, md_tuple_get(args, 0), &it, &ok) < 0)
            return NULL;
        if (!ok)
            return NULL;
    }
    md_val *out = NULL;
    if (want == MD_T_SET || want == MD_T_FROZENSET) {
        out = make_set(d, want == MD_T_FROZENSET, it.v, it.n);
    } else if (want == MD_T_TUPLE) {
        out = md_tuple_new(it.n);
        for (size_t i = 0; out && i < it.n; i++)
            md_tuple_set_steal(out, i, md_incref(it.v[i]));
        if (!out)
            nomem(d);
    } else {
        out = md_list_new(it.n);
        for (size_t i = 0; out && i < it.n; i++) {
            if (md_list_append(out, it.v[i]) < 0) {
                md_decref(out);
                out = NULL;
            }
        }
        if (!out)
            nomem(d);
    }
    md_free(it.v);
    return out;
}

static md_val *make_dict(dec *d, md_val *args)
{
    size_t n = md_tuple_len(args);
    if (n > 1)
        return NULL;
    md_val *src = n ? md_tuple_get(args, 0) : NULL;
    size_t len;
    md_val *const *pairs = md_seq_items(src, &len);
    if (src && md_typeof(src) != MD_T_DICT && !pairs)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (md_typeof(pairs[i]) != MD_T_TUPLE || md_tuple_len(pairs[i]) != 2)
            return NULL;
    md_val *out = md_dict_new();
    if (!out) {
        nomem(d);
        return NULL;
    }
    if (!src)
        return out;
    md_pyerr e;
    e.type = NULL;
    e.msg[0] = '\0';
    if (md_typeof(src) == MD_T_DICT) {
        size_t pos = 0;
        md_val *k, *v;
        while (md_dict_next(src, &pos, &k, &v))
            if (md_dict_set(out, k, v, &e) < 0)
                goto bad;
    } else {
        for (size_t i = 0; i < len; i++)
            if (md_dict_set(out, md_tuple_get(pairs[i], 0), md_tuple_get(pairs[i], 1), &e) < 0)
                goto bad;
    }
    return out;
bad:
    md_decref(out);
    pyerr_fail(d, &e);
    return NULL;
}

/* The value of calling an allow-listed global with args (a tuple), or
 * NULL: with d->err set on failure, or with no error when the call is not
 * one managerd evaluates (the caller then keeps it opaque). */
static md_val *call_known(dec *d, md_val *g, md_val *args)
{
    const char *mod = md_global_module(g), *name = md_global_name(g);
    size_t n = md_tuple_len(args);
    const char *cm, *cn;
    if (md_pickle__exc_class(mod, name, &cm, &cn)) {
        md_val *cls = (cm == mod && cn == name) ? md_incref(g) : md_global_new(cm, cn);
        md_val *x = cls ? md_exc_new(cls, args, NULL) : NULL;
        md_decref(cls);
        if (!x)
            nomem(d);
        return x;
    }
    if (strcmp(mod, "builtins") == 0) {
        if (strcmp(name, "set") == 0)
            return make_from_items(d, MD_T_SET, args);
        if (strcmp(name, "frozenset") == 0)
            return make_from_items(d, MD_T_FROZENSET, args);
        if (strcmp(name, "list") == 0)
            return make_from_items(d, MD_T_LIST, args);
        if (strcmp(name, "tuple") == 0)
            return make_from_items(d, MD_T_TUPLE, args);
        if (strcmp(name, "dict") == 0)
            return make_dict(d, args);
        if (strcmp(name, "bytearray") == 0)
            return bytes_from_args(d, args, true, false);
        if (strcmp(name, "bytes") == 0)
            return bytes_from_args(d, args, false, false);
        if (strcmp(name, "str") == 0) {
            if (n == 0)
            {
                md_val *e = md_str_new("", 0);
                if (!e)
                    nomem(d);
                return e;
            }
            if (n == 1 && md_typeof(md_tuple_get(args, 0)) == MD_T_STR)
                return md_incref(md_tuple_get(args, 0));
            return NULL;
        }
        if (strcmp(name, "complex") == 0) {
            double re = 0, im = 0;
            if (n > 2 || (n >= 1 && !as_double(md_tuple_get(args, 0), &re)) ||
                (n == 2 && !as_double(md_tuple_get(args, 1), &im)))
                return NULL;
            md_val *c = md_complex_new(re, im);
            if (!c)
                nomem(d);
            return c;
        }
        if (strcmp(name, "slice") == 0) {
            if (n < 1 || n > 3)
                return NULL;
            md_val *s = n == 1 ? md_slice_new(md_none(), md_tuple_get(args, 0), md_none())
                               : md_slice_new(md_tuple_get(args, 0), md_tuple_get(args, 1),
                                              n == 3 ? md_tuple_get(args, 2) : md_none());
            if (!s)
                nomem(d);
            return s;
        }
        return NULL;
    }
    if (strcmp(mod, "_codecs") == 0 && strcmp(name, "encode") == 0)
        return bytes_from_args(d, args, false, true);
    if (strcmp(mod, "copyreg") == 0) {
        /* copyreg's __newobj__ helpers mean "cls.__new__(cls, ...)",
         * which NEWOBJ says directly at protocol 2 and up. */
        md_val *cls = n ? md_tuple_get(args, 0) : NULL;
        if (!cls || md_typeof(cls) != MD_T_GLOBAL)
            return NULL;
        md_val *o = NULL;
        /* _reconstructor(cls, object, None) is object.__new__(cls), not
         * cls.__new__(cls): a class whose __new__ wants arguments tells
         * them apart, so it stays an opaque REDUCE of its own. */
        if (strcmp(name, "__newobj__") == 0) {
            md_val *rest = md_tuple_new(n - 1);
            if (!rest) {
                nomem(d);
                return NULL;
            }
            for (size_t i = 1; i < n; i++)
                md_tuple_set_steal(rest, i - 1, md_incref(md_tuple_get(args, i)));
            o = md_opaque_new(MD_OPQ_NEWOBJ, cls, rest);
            md_decref(rest);
        } else if (strcmp(name, "__newobj_ex__") == 0 && n == 3 &&
                   md_typeof(md_tuple_get(args, 1)) == MD_T_TUPLE &&
                   md_typeof(md_tuple_get(args, 2)) == MD_T_DICT) {
            o = md_opaque_new(MD_OPQ_NEWOBJ_EX, cls, md_tuple_get(args, 1));
            if (o)
                md_opaque_set_kwargs_steal(o, md_incref(md_tuple_get(args, 2)));
        } else {
            return NULL;
        }
        if (!o)
            nomem(d);
        return o;
    }
    return NULL;
}

/* callable(*args) for REDUCE, INST and OBJ: a known call, or an opaque
 * object of the given kind. Steals nothing; pushes the result. */
static int call_or_keep(dec *d, md_opaque_kind kind, md_val *callable, md_val *args,
                        size_t depth, int op)
{
    md_vtype ct = md_typeof(callable);
    if (ct != MD_T_GLOBAL && ct != MD_T_OPAQUE)
        return fail(d, MD_EPROTO, "%s on a non-callable %s", op_name(op),
                    md_type_name(callable));
    if (ct == MD_T_GLOBAL) {
        md_val *v = call_known(d, callable, args);
        if (v)
            return push_depth(d, v, depth);
        if (d->err->code)
            return -1;
    }
    md_val *o = md_opaque_new(kind, callable, args);
    return push_depth(d, o, depth + 1);
}

static int load_reduce(dec *d)
{
    if (need_items(d, 2, REDUCE) < 0)
        return -1;
    slot fn = d->stack[d->sp - 2], args = d->stack[d->sp - 1];
    if (md_typeof(args.v) != MD_T_TUPLE)
        return fail(d, MD_EPROTO, "REDUCE arguments must be a tuple, not %s",
                    md_type_name(args.v));
    size_t depth = args.depth > fn.depth ? args.depth : fn.depth;
    if (call_or_keep(d, MD_OPQ_REDUCE, fn.v, args.v, depth, REDUCE) < 0)
        return -1;
    slot r = d->stack[--d->sp];
    drop_to(d, d->sp - 2);
    d->stack[d->sp++] = r;
    return 0;
}

static int load_newobj(dec *d, int op)
{
    size_t nargs = op == NEWOBJ_EX ? 3 : 2;
    if (need_items(d, nargs, op) < 0)
        return -1;
    slot *s = &d->stack[d->sp - nargs];
    if (md_typeof(s[0].v) != MD_T_GLOBAL)
        return fail(d, MD_EPROTO, "%s on a non-class %s", op_name(op),
                    md_type_name(s[0].v));
    if (md_typeof(s[1].v) != MD_T_TUPLE)
        return fail(d, MD_EPROTO, "%s arguments must be a tuple, not %s", op_name(op),
                    md_type_name(s[1].v));
    if (op == NEWOBJ_EX && md_typeof(s[2].v) != MD_T_DICT)
        return fail(d, MD_EPROTO, "NEWOBJ_EX keyword arguments must be a dict, not %s",
                    md_type_name(s[2].v));
    size_t depth = max_depth_of(s, nargs);
    md_val *o = md_opaque_new(op == NEWOBJ_EX ? MD_OPQ_NEWOBJ_EX : MD_OPQ_NEWOBJ, s[0].v,
                              s[1].v);
    if (!o)
        return nomem(d);
    if (op == NEWOBJ_EX)
        md_opaque_set_kwargs_steal(o, md_incref(s[2].v));
    drop_to(d, d->sp - nargs);
    return push_depth(d, o, depth + 1);
}

/* INST and OBJ: an old-style instance, class and args from the stack. */
static int load_obj_common(dec *d, md_val *cls, size_t base, int op)
{
    size_t n = d->sp - base;
    size_t depth = max_depth_of(d->stack + base, n);
    md_val *args = md_tuple_new(n);
    if (!args)
        return nomem(d);
    for (size_t i = 0; i < n; i++)
        md_tuple_set_steal(args, i, md_incref(d->stack[base + i].v));
    int rc = call_or_keep(d, MD_OPQ_OBJ, cls, args, depth, op);
    md_decref(args);
    if (rc < 0)
        return -1;
    slot r = d->stack[--d->sp];
    drop_to(d, base);
    d->stack[d->sp++] = r;
    return 0;
}

static int load_inst(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, INST, &base) < 0)
        return -1;
    if (load_global(d, INST) < 0)
        return -1;
    slot cls = d->stack[--d->sp];
    int rc = load_obj_common(d, cls.v, base, INST);
    md_decref(cls.v);
    return rc;
}

static int load_obj(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, OBJ, &base) < 0)
        return -1;
    if (d->sp == base)
        return fail(d, MD_EPROTO, "OBJ without a class");
    md_val *cls = md_incref(d->stack[base].v);
    int rc = load_obj_common(d, cls, base + 1, OBJ);
    if (rc == 0) {
        /* The class below the result goes too. */
        slot r = d->stack[--d->sp];
        drop_to(d, base);
        d->stack[d->sp++] = r;
    }
    md_decref(cls);
    return rc;
}

/* BUILD: the state of an opaque object or an exception. An exception
 * cannot be changed in place (the value model has no setter), so a new
 * one replaces it on the stack and under the memo index it was just
 * stored with. */
static int load_build(dec *d)
{
    if (need_items(d, 2, BUILD) < 0)
        return -1;
    slot state = d->stack[d->sp - 1];
    slot *target = &d->stack[d->sp - 2];
    md_vtype t = md_typeof(target->v);
    if (t == MD_T_OPAQUE) {
        if (md_opaque_state(target->v))
            return fail(d, MD_EUNSUPPORTED, "BUILD on an object that already has a state");
        if (grow_depth(d, target, state.depth) < 0)
            return -1;
        md_opaque_set_state_steal(target->v, state.v);
        d->sp--;
        return 0;
    }
    if (t == MD_T_EXC) {
        if (md_exc_state(target->v))
            return fail(d, MD_EUNSUPPORTED, "BUILD on an exception that already has a state");
        md_val *x = md_exc_new(md_exc_class(target->v), md_exc_args(target->v), state.v);
        if (!x)
            return nomem(d);
        if (target->put) {
            memo_ent *m = memo_find(d, target->put - 1);
            if (m && m->v == target->v) {
                md_decref(m->v);
                m->v = md_incref(x);
            }
        }
        md_decref(target->v);
        target->v = x;
        if (grow_depth(d, target, state.depth) < 0)
            return -1;
        drop_to(d, d->sp - 1);
        return 0;
    }
    return fail(d, MD_EUNSUPPORTED, "BUILD on a %s is not supported", md_type_name(target->v));
}

/* ======================================================================
 * Memo opcodes, stack manipulation
 * ====================================================================== */

static int text_index(dec *d, int op, size_t *out)
{
    const char *line;
    size_t len;
    if (read_line(d, op, &line, &len) < 0)
        return -1;
    size_t v = 0;
    if (len == 0 || len > 19)
        return fail(d, MD_EPROTO, "invalid %s index", op_name(op));
    for (size_t i = 0; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return fail(d, MD_EPROTO, "invalid %s index", op_name(op));
        v = v * 10 + (size_t)(line[i] - '0');
    }
    *out = v;
    return 0;
}

static int bin_index(dec *d, int op, int width, size_t *out)
{
    if (need(d, (size_t)width, op) < 0)
        return -1;
    *out = (size_t)rd_le(d->p, width);
    d->p += width;
    return 0;
}

static int load_pop(dec *d)
{
    if (d->sp > mark_base(d)) {
        drop_to(d, d->sp - 1);
        return 0;
    }
    /* Python pops a mark when the stack above it is empty. */
    if (d->nmarks) {
        d->nmarks--;
        return 0;
    }
    return fail(d, MD_EPROTO, "POP with an empty stack");
}

static int load_pop_mark(dec *d)
{
    size_t base = 0;
    if (pop_mark(d, POP_MARK, &base) < 0)
        return -1;
    drop_to(d, base);
    return 0;
}

static int load_dup(dec *d)
{
    if (need_items(d, 1, DUP) < 0)
        return -1;
    slot top = d->stack[d->sp - 1];
    if (push_depth(d, md_incref(top.v), top.depth) < 0)
        return -1;
    d->stack[d->sp - 1].put = top.put;
    return 0;
}

static int load_mark(dec *d)
{
    if (d->nmarks >= d->lim.max_depth)
        return fail(d, MD_EDEPTH, "more than max_depth %zu open marks", d->lim.max_depth);
    if (d->nmarks == d->marks_cap &&
        md_grow_inline(&d->marks, &d->marks_cap, d->marks_inline, d->nmarks + 1, 0,
                       sizeof *d->marks) < 0)
        return nomem(d);
    d->marks[d->nmarks++] = d->sp;
    return 0;
}

static int load_frame(dec *d)
{
    size_t n;
    if (need(d, 8, FRAME) < 0)
        return -1;
    uint64_t len = rd_le(d->p, 8);
    if (len > remaining(d) - 8)
        return fail(d, MD_EPROTO, "FRAME length %llu runs past the end of the message",
                    (unsigned long long)len);
    return read_len(d, 8, FRAME, &n) < 0 ? -1 : 0; /* frames are only a hint */
}

static int load_proto(dec *d)
{
    if (need(d, 1, PROTO) < 0)
        return -1;
    int p = *d->p++;
    if (p > 5)
        return fail(d, MD_EPROTO, "unsupported pickle protocol: %d", p);
    d->proto = p;
    return 0;
}

/* ======================================================================
 * Runs of flat scalars, and records of them
 * ====================================================================== */

/* The opcodes load_flat runs in its own loop. A protocol 4 list of str
 * is SHORT_BINUNICODE MEMOIZE over and over, a dict of str -> int
 * SHORT_BINUNICODE MEMOIZE BININT over and over, a list of ints BININT*
 * over and over; going back through run()'s switch for each of them cost
 * more than reading them. A run goes on through the opcodes of the small
 * records clients send in bulk: a dict of str -> {'v': i} is
 * SHORT_BINUNICODE MEMOIZE EMPTY_DICT MEMOIZE BINGET BININT SETITEM per
 * item, a list of (int, str) BININT1 SHORT_BINUNICODE MEMOIZE TUPLE2
 * MEMOIZE, a dict with float values ... BINFLOAT. run() enters the loop
 * at a str or an int only. run_kind says what the loop does with each
 * opcode byte (RUN_NONE: it ends a run); its switch on these small
 * numbers takes 6 instructions per opcode, a switch on the byte itself
 * took 11. */
enum run_kind {
    RUN_NONE, RUN_STR, RUN_MEMOIZE, RUN_BINGET, RUN_SETITEM, RUN_TUPLE2, RUN_EMPTY_DICT,
    RUN_BINUNICODE, RUN_BININT, RUN_BINFLOAT, RUN_ATOM, RUN_KINDS
};
_Static_assert(RUN_KINDS == 11, "load_flat's switch has a case for each kind");
static const uint8_t run_kind[256] = {
    [SHORT_BINUNICODE] = RUN_STR, [MEMOIZE] = RUN_MEMOIZE, [BINGET] = RUN_BINGET,
    [SETITEM] = RUN_SETITEM, [TUPLE2] = RUN_TUPLE2, [EMPTY_DICT] = RUN_EMPTY_DICT,
    [BINUNICODE] = RUN_BINUNICODE, [BININT] = RUN_BININT, [BININT1] = RUN_BININT,
    [BININT2] = RUN_BININT, [BINFLOAT] = RUN_BINFLOAT, [NONE] = RUN_ATOM,
    [NEWTRUE] = RUN_ATOM, [NEWFALSE] = RUN_ATOM,
};

void md_pickle__set_runs(bool on)
{
    runs_off = !on;
}

/* One opcode of the loop through the handler run() would call, which
 * checks everything. */
static int flat_one(dec *d, int op)
{
    size_t idx;
    switch (op) {
    case MEMOIZE: return memo_put(d, d->memo_count, op);
    case SHORT_BINUNICODE: return load_binunicode(d, op, 1);
    case BINUNICODE: return load_binunicode(d, op, 4);
    case EMPTY_DICT: return push_depth(d, md_dict_new(), 1);
    case BINGET: return bin_index(d, op, 1, &idx) < 0 ? -1 : memo_get(d, idx);
    case SETITEM: return load_setitem(d);
    case TUPLE2: return load_tuple_n(d, op, 2);
    case BINFLOAT: return load_binfloat(d);
    case NONE: return push(d, md_none());
    case NEWTRUE: return push(d, md_true());
    case NEWFALSE: return push(d, md_false());
    default: return load_binint(d, op);
    }
}

/* The end of a run: stack[lo..sp) holds depth-0 values only, and what
 * ends at byte flat_end (see items_depth). */
static int flat_done(dec *d, const uint8_t *p, size_t lo, size_t sp)
{
    d->p = p;
    d->sp = sp;
    d->flat_lo = lo;
    d->flat_hi = sp;
    d->flat_end = (size_t)(p - d->start);
    return 0;
}

/* The memo slots MEMOIZE can fill next without a look at anything else:
 * *at is the slot of index memo_count, and the count returned is how
 * many follow it in the same array or chunk, below max_memo and the
 * dense part (0: memo_put does the next one, allocating if it must). */
static size_t memo_window(dec *d, memo_ent **at)
{
    size_t idx = d->memo_count;
    size_t top = d->lim.max_memo < d->memo_dense_max ? d->lim.max_memo : d->memo_dense_max;
    memo_ent *s = idx < top ? memo_dense_slot(d, idx) : NULL;
    if (!s)
        return 0;
    size_t in_part = idx < d->memo_cap ? d->memo_cap - idx : MEMO_CHUNK - (idx - d->hot_base);
    *at = s;
    return in_part < top - idx ? in_part : top - idx;
}

/* If the opcode at *p is a MEMOIZE of the value just pushed (top) and
 * the window has an empty slot for it (see memo_window): memo_put in
 * load_flat's locals, and true. */
static inline bool memoize_next(dec *d, const uint8_t **p, const uint8_t *end,
                                memo_ent **mslot, size_t *mleft, slot *top)
{
    if (*p == end || **p != MEMOIZE || !*mleft || (*mslot)->v)
        return false;
    ++*p;
    *(*mslot)++ = (memo_ent){ md_incref(top->v), top->depth };
    --*mleft;
    top->put = ++d->memo_count;
    return true;
}

/* The decoder's state as run() would have it for the opcode just read
 * (the byte before p), for a handler that checks everything. */
static inline void flat_hand_over(dec *d, const uint8_t *p, size_t sp)
{
    d->p = p;
    d->sp = sp;
    d->op_off = (size_t)(p - 1 - d->start);
}

/* A flat opcode and the loop's opcodes right after it. The loop does
 * what flat_one would, with the decoder's state in locals, for the
 * common case only: an argument within the message, room on the stack
 * (counted once per stretch), a str that md_str_new makes, an empty memo
 * slot in the window memo_window gives, a BINGET of a filled slot of the
 * memo's first array, a SETITEM onto a dict or a TUPLE2 with their items
 * above the top mark, within the depth limit. Anything else (truncation,
 * a full stack, invalid UTF-8, no memory, a memo index to allocate, one
 * already filled or missing, a SETITEM onto something else) goes through
 * flat_one with d->p, d->sp and d->op_off set as run() would set them,
 * which fails, or grows and carries on. No opcode of the loop leaves the
 * stack without an item above the top mark (run() enters at a push, and
 * SETITEM and TUPLE2 leave their result), so MEMOIZE needs no look. The
 * marks do not change here: MARK is not one of them. stack[lo..sp) is
 * what the loop pushed of depth 0 since the last value of another depth
 * or the last pop (see items_depth). */
static int load_flat(dec *d, int op)
{
    /* Right after another run (a FRAME between breaks the chain) the
     * region grows; otherwise it starts here. */
    size_t lo = d->sp != d->flat_hi || d->op_off != d->flat_end ? d->sp : d->flat_lo;
    if (runs_off) {
        d->flat_hi = SIZE_MAX;   /* no region: items_depth reads every depth */
        return flat_one(d, op);
    }
    const uint8_t *p = d->p, *const end = d->end;
    const size_t mark = mark_base(d);
    for (;;) {
        size_t sp = d->sp;
        size_t cap = d->stack_cap < d->lim.max_stack ? d->stack_cap : d->lim.max_stack;
        slot *const stack = d->stack;
        const memo_ent *const memo = d->memo;
        const size_t memo_got = d->memo_cap < d->memo_dense_max ? d->memo_cap : d->memo_dense_max;
        memo_ent *mslot = NULL;
        size_t mleft = memo_window(d, &mslot);
        for (;;) {
            /* The commonest first, without the switch's table. */
            if (op == SHORT_BINUNICODE) {
                /* A str is nearly always followed by MEMOIZE: both here. */
                size_t n;
                md_val *v;
                if (sp >= cap || p == end || (n = *p) >= (size_t)(end - p) ||
                    !(v = md_str_new((const char *)p + 1, n)))
                    goto one_alone;
                p += 1 + n;
                size_t put = 0;
                if (p < end && *p == MEMOIZE && mleft && !mslot->v) {
                    p++;
                    *mslot++ = (memo_ent){ md_incref(v), 0 };
                    mleft--;
                    put = ++d->memo_count;
                }
                stack[sp++] = (slot){ v, 0, put };
            } else switch (run_kind[op]) {
            case RUN_MEMOIZE:
                /* one that did not follow its value at once */
                p--;
                if (!memoize_next(d, &p, end, &mslot, &mleft, &stack[sp - 1])) {
                    p++;
                    goto one_alone;
                }
                break;
            case RUN_BINGET: {
                /* memo_get of an index of the first array (a record's
                 * repeated key); its depth is within the limit, as it
                 * was on the stack */
                size_t idx;
                if (sp >= cap || p == end || (idx = *p) >= memo_got || !memo[idx].v)
                    goto one_alone;
                p++;
                stack[sp++] = (slot){ md_incref(memo[idx].v), memo[idx].depth, idx + 1 };
                if (memo[idx].depth)
                    lo = sp;
                /* a record's key is followed by its value, an int most
                 * often: read it without the switch */
                if (p < end && is_binint(*p)) {
                    op = *p++;
                    goto ints;
                }
                break;
            }
            case RUN_SETITEM: {
                /* load_setitem onto a dict: its depth grows, then the
                 * pair is stored (which may fail: the state is d's). */
                if (sp - mark < 3)
                    goto one_alone;
                slot *top = &stack[sp - 1];
                size_t depth = top_two_depth(top) + 1;
                if (md_typeof(top[-2].v) != MD_T_DICT ||
                    (depth > top[-2].depth && depth > d->lim.max_depth))
                    goto one_alone;
                if (depth > top[-2].depth)
                    top[-2].depth = depth;
                int rc = store_pair_kept(d, top[-2].v, &top[-1]);
                if (rc != 0) {
                    flat_hand_over(d, p, sp);
                    if (rc < 0 ? nomem(d) : store_pair_rest(d, top[-2].v, sp - 2))
                        return -1;
                }
                sp -= 2;
                lo = sp;
                break;
            }
            case RUN_TUPLE2: {
                /* load_tuple_n(2) */
                if (sp - mark < 2)
                    goto one_alone;
                slot *top = &stack[sp - 1];
                size_t depth = top_two_depth(top) + 1;
                md_val *t;
                if (depth > d->lim.max_depth || !(t = md_tuple_new(2)))
                    goto one_alone;
                md_val **two = md_tuple_fill(t);
                two[0] = top[-1].v;
                two[1] = top[0].v;
                md_tuple_filled(t);
                sp -= 2;
                stack[sp++] = (slot){ t, depth, 0 };
                lo = sp;
                memoize_next(d, &p, end, &mslot, &mleft, &stack[sp - 1]);
                break;
            }
            case RUN_EMPTY_DICT: {
                /* depth 1: within every max_depth (0 means the default) */
                md_val *v;
                if (sp >= cap || !(v = md_dict_new()))
                    goto one_alone;
                stack[sp++] = (slot){ v, 1, 0 };
                lo = sp;
                memoize_next(d, &p, end, &mslot, &mleft, &stack[sp - 1]);
                break;
            }
            case RUN_BINUNICODE: {
                size_t left = (size_t)(end - p);
                uint64_t n;
                md_val *v;
                if (sp >= cap || left < 4 || (n = rd_le(p, 4)) > left - 4 ||
                    !(v = md_str_new((const char *)p + 4, n)))
                    goto one_alone;
                p += 4 + n;
                stack[sp++] = (slot){ v, 0, 0 };
                break;
            }
            case RUN_BININT:
                /* and the ones right after it here: a list of ints is
                 * a long run of them alone */
            ints:
                for (;;) {
                    size_t width = binint_width(op);
                    if (sp >= cap || (size_t)(end - p) < width)
                        goto one_alone;
                    stack[sp++] = (slot){ binint_at(p, width), 0, 0 };
                    p += width;
                    if (p == end || !is_binint(*p))
                        break;
                    op = *p++;
                }
                break;
            case RUN_BINFLOAT: {
                /* a dict's or a record's float value (load_binfloat) */
                md_val *v;
                if (sp >= cap || (size_t)(end - p) < 8 || !(v = md_float_new(binfloat_at(p))))
                    goto one_alone;
                p += 8;
                stack[sp++] = (slot){ v, 0, 0 };
                break;
            }
            case RUN_ATOM:
                if (sp >= cap)
                    goto one_alone;
                stack[sp++] = (slot){ op == NONE ? md_none() : md_bool(op == NEWTRUE), 0, 0 };
                break;
            case RUN_STR:   /* read above */
            case RUN_NONE:
                /* not one of the loop's: run() reads it */
                return flat_done(d, p - 1, lo, sp);
            }
            if (p == end)
                return flat_done(d, p, lo, sp);
            op = *p++;
        }
    one_alone:
        flat_hand_over(d, p, sp);
        if (flat_one(d, op) < 0)
            return -1;
        p = d->p;
        /* a value of any depth, or a pop */
        if (op == EMPTY_DICT || op == BINGET || op == SETITEM || op == TUPLE2)
            lo = d->sp;
        if (p == end)
            return flat_done(d, p, lo, d->sp);
        op = *p++;
    }
}

/* ======================================================================
 * The loop
 * ====================================================================== */

static const char *op_name(int op)
{
    switch (op) {
#define N(x) case x: return #x;
    N(MARK) N(STOP) N(POP) N(POP_MARK) N(DUP) N(FLOAT) N(INT) N(BININT) N(BININT1)
    N(LONG) N(BININT2) N(NONE) N(PERSID) N(BINPERSID) N(REDUCE) N(STRING)
    N(BINSTRING) N(SHORT_BINSTRING) N(UNICODE) N(BINUNICODE) N(APPEND) N(BUILD)
    N(GLOBAL) N(DICT) N(EMPTY_DICT) N(APPENDS) N(GET) N(BINGET) N(INST)
    N(LONG_BINGET) N(LIST) N(EMPTY_LIST) N(OBJ) N(PUT) N(BINPUT) N(LONG_BINPUT)
    N(SETITEM) N(TUPLE) N(EMPTY_TUPLE) N(SETITEMS) N(BINFLOAT) N(PROTO) N(NEWOBJ)
    N(EXT1) N(EXT2) N(EXT4) N(TUPLE1) N(TUPLE2) N(TUPLE3) N(NEWTRUE) N(NEWFALSE)
    N(LONG1) N(LONG4) N(BINBYTES) N(SHORT_BINBYTES) N(SHORT_BINUNICODE)
    N(BINUNICODE8) N(BINBYTES8) N(EMPTY_SET) N(ADDITEMS) N(FROZENSET) N(NEWOBJ_EX)
    N(STACK_GLOBAL) N(MEMOIZE) N(FRAME) N(BYTEARRAY8) N(NEXT_BUFFER)
    N(READONLY_BUFFER)
#undef N
    default: return "opcode";
    }
}

/* Run opcodes until STOP; 1 at STOP, -1 on error. */
static int run(dec *d)
{
    size_t idx;
    for (;;) {
        d->op_off = (size_t)(d->p - d->start);
        if (d->p >= d->end)
            return fail(d, MD_EPROTO, "pickle data was truncated");
        int op = *d->p++;
        int rc;
        switch (op) {
        case PROTO: rc = load_proto(d); break;
        case FRAME: rc = load_frame(d); break;
        case STOP: return 1;
        case MARK: rc = load_mark(d); break;
        case POP: rc = load_pop(d); break;
        case POP_MARK: rc = load_pop_mark(d); break;
        case DUP: rc = load_dup(d); break;
        case NONE: rc = push(d, md_none()); break;
        case NEWTRUE: rc = push(d, md_true()); break;
        case NEWFALSE: rc = push(d, md_false()); break;
        case INT: case LONG: rc = load_int_text(d, op); break;
        case BININT: case BININT1: case BININT2: rc = load_flat(d, op); break;
        case LONG1: case LONG4: rc = load_long_bin(d, op); break;
        case FLOAT: rc = load_float_text(d); break;
        case BINFLOAT: rc = load_binfloat(d); break;
        case STRING: rc = load_string(d); break;
        case BINSTRING: case SHORT_BINSTRING: rc = load_binstring(d, op); break;
        case UNICODE: rc = load_unicode_text(d); break;
        case BINUNICODE: rc = load_flat(d, op); break;
        case SHORT_BINUNICODE: rc = load_flat(d, op); break;
        case BINUNICODE8: rc = load_binunicode(d, op, 8); break;
        case BINBYTES: rc = load_binbytes(d, op, 4); break;
        case SHORT_BINBYTES: rc = load_binbytes(d, op, 1); break;
        case BINBYTES8: case BYTEARRAY8: rc = load_binbytes(d, op, 8); break;
        case EMPTY_TUPLE: rc = push(d, md_tuple_new(0)); break;
        case TUPLE1: rc = load_tuple_n(d, op, 1); break;
        case TUPLE2: rc = load_tuple_n(d, op, 2); break;
        case TUPLE3: rc = load_tuple_n(d, op, 3); break;
        case TUPLE: rc = load_tuple(d); break;
        case EMPTY_LIST: rc = push_depth(d, md_list_new(0), 1); break;
        case LIST: rc = load_list(d); break;
        case APPEND: rc = load_append(d); break;
        case APPENDS: rc = load_appends(d); break;
        case EMPTY_DICT: rc = push_depth(d, md_dict_new(), 1); break;
        case DICT: rc = load_dict(d); break;
        case SETITEM: rc = load_setitem(d); break;
        case SETITEMS: rc = load_setitems(d); break;
        case EMPTY_SET: rc = push_depth(d, md_set_new(false), 1); break;
        case ADDITEMS: rc = load_additems(d); break;
        case FROZENSET: rc = load_frozenset(d); break;
        case PUT: rc = text_index(d, op, &idx) < 0 ? -1 : memo_put(d, idx, op); break;
        case BINPUT: rc = bin_index(d, op, 1, &idx) < 0 ? -1 : memo_put(d, idx, op); break;
        case LONG_BINPUT: rc = bin_index(d, op, 4, &idx) < 0 ? -1 : memo_put(d, idx, op); break;
        case MEMOIZE: rc = memo_put(d, d->memo_count, op); break;
        case GET: rc = text_index(d, op, &idx) < 0 ? -1 : memo_get(d, idx); break;
        case BINGET: rc = bin_index(d, op, 1, &idx) < 0 ? -1 : memo_get(d, idx); break;
        case LONG_BINGET: rc = bin_index(d, op, 4, &idx) < 0 ? -1 : memo_get(d, idx); break;
        case GLOBAL: rc = load_global(d, op); break;
        case STACK_GLOBAL: rc = load_stack_global(d); break;
        case REDUCE: rc = load_reduce(d); break;
        case NEWOBJ: case NEWOBJ_EX: rc = load_newobj(d, op); break;
        case BUILD: rc = load_build(d); break;
        case INST: rc = load_inst(d); break;
        case OBJ: rc = load_obj(d); break;
        case EXT1: case EXT2: case EXT4:
            rc = fail(d, MD_EUNSUPPORTED, "extension registry codes are not supported");
            break;
        case PERSID: case BINPERSID:
            rc = fail(d, MD_EUNSUPPORTED, "persistent IDs are not supported");
            break;
        case NEXT_BUFFER: case READONLY_BUFFER:
            rc = fail(d, MD_EUNSUPPORTED, "out-of-band buffers are not supported");
            break;
        default:
            rc = fail(d, MD_EPROTO, "invalid opcode 0x%02x", op);
        }
        if (rc < 0)
            return -1;
    }
}

/* ======================================================================
 * Entry points
 * ====================================================================== */

static void dec_free(dec *d)
{
    drop_to(d, 0);
    for (size_t i = 0; d->keyhash_used && i < KEYHASH_SLOTS; i++)
        md_decref(d->keyhash[i].key);
    for (size_t i = 0; i < d->memo_cap; i++)
        md_decref(d->memo[i].v);
    for (size_t c = 0; c < d->nchunks; c++) {
        if (!d->chunks[c])
            continue;
        for (size_t i = 0; i < MEMO_CHUNK; i++)
            md_decref(d->chunks[c][i].v);
        md_free(d->chunks[c]);
    }
    md_free(d->chunks);
    for (size_t i = 0; i < d->far_len; i++)
        md_decref(d->far_slots[i].v);
    if (d->stack != d->stack_inline)
        md_free(d->stack);
    if (d->marks != d->marks_inline)
        md_free(d->marks);
    if (d->memo != d->memo_inline)
        md_free(d->memo);
    md_free(d->far_slots);
    md_ptrmap_free(&d->far);
}

static int decode(const uint8_t *data, size_t n, const md_pickle_limits *lim, md_val **out,
                  int *protocol, bool *proxies, md_pickle_err *err)
{
    dec d;
    memset(&d, 0, sizeof d);
    md_pickle_err scratch;
    if (!err)
        err = &scratch;
    memset(err, 0, sizeof *err);
    d.err = err;
    d.stack = d.stack_inline;
    d.stack_cap = sizeof d.stack_inline / sizeof d.stack_inline[0];
    d.memo = d.memo_inline;
    d.memo_cap = sizeof d.memo_inline / sizeof d.memo_inline[0];
    d.marks = d.marks_inline;
    d.marks_cap = sizeof d.marks_inline / sizeof d.marks_inline[0];
    md_pickle_limits_default(&d.lim);
    if (lim) {
        if (lim->max_bytes) d.lim.max_bytes = lim->max_bytes;
        if (lim->max_depth) d.lim.max_depth = lim->max_depth;
        if (lim->max_memo) d.lim.max_memo = lim->max_memo;
        if (lim->max_stack) d.lim.max_stack = lim->max_stack;
        if (lim->max_int_bytes) d.lim.max_int_bytes = lim->max_int_bytes;
        d.lim.gift = lim->gift;
    }
    *out = NULL;
    if (protocol)
        *protocol = 0;
    if (proxies)
        *proxies = false;
    d.start = d.p = data;
    d.end = data + n;
    if (n > d.lim.max_bytes) {
        fail(&d, MD_ETOOBIG, "message of %zu bytes exceeds max_bytes %zu", n,
             d.lim.max_bytes);
        return err->code;
    }
    /* Every memo entry costs at least one byte of message, so indices up
     * to a few times the size cover every real pickler; beyond that the
     * sparse table takes over. */
    d.memo_dense_max = n < (SIZE_MAX - 1024) / 2 ? 2 * n + 1024 : SIZE_MAX;
    if (d.memo_dense_max > d.lim.max_memo)
        d.memo_dense_max = d.lim.max_memo;

    int rc = run(&d);
    if (rc == 1) {
        if (d.nmarks)
            rc = fail(&d, MD_EPROTO, "STOP with %zu open MARK%s", d.nmarks,
                      d.nmarks == 1 ? "" : "s");
        else if (d.sp != 1)
            rc = fail(&d, MD_EPROTO, "STOP with %zu items on the stack", d.sp);
        else if (d.p != d.end) {
            d.op_off = (size_t)(d.p - d.start);
            rc = fail(&d, MD_EPROTO, "%zu bytes after STOP", (size_t)(d.end - d.p));
        }
    }
    if (rc == 1) {
        *out = d.stack[0].v;
        d.sp = 0;
        if (protocol)
            *protocol = d.proto;
        if (proxies)
            *proxies = d.proxy_global;
    }
    dec_free(&d);
    return rc == 1 ? 0 : err->code;
}

int md_pickle_decode(const uint8_t *data, size_t n, const md_pickle_limits *lim,
                     md_val **out, int *protocol, md_pickle_err *err)
{
    return decode(data, n, lim, out, protocol, NULL, err);
}

int md_pickle_decode_noting_proxies(const uint8_t *data, size_t n, const md_pickle_limits *lim,
                                    md_val **out, int *protocol, bool *proxies,
                                    md_pickle_err *err)
{
    return decode(data, n, lim, out, protocol, proxies, err);
}

/* A scan, not a decode: the first BINBYTES or BINBYTES8 in the prefix
 * whose length is big and fits the message. A wrong guess (the byte
 * inside some text) only costs the copy the guess would have saved. */
size_t md_pickle_guess_big_bytes(const uint8_t *prefix, size_t avail, size_t msglen,
                                 size_t min_bytes)
{
    for (size_t i = 0; i + 9 <= avail && i + 9 <= msglen; i++) {
        size_t width = prefix[i] == BINBYTES8 ? 8 : prefix[i] == BINBYTES ? 4 : 0;
        if (!width)
            continue;
        uint64_t len = 0;
        for (size_t k = width; k > 0; k--)
            len = len << 8 | prefix[i + k];
        size_t at = i + 1 + width;
        if (len >= min_bytes && len <= msglen - at)
            return at;
    }
    return 0;
}
