/* value_std.c - Python's semantics for the standard-library values that
 * arrive from pickles as opaque objects (a class global, its arguments and
 * state): datetime's date, time, datetime, timedelta and timezone,
 * decimal.Decimal, fractions.Fraction, uuid.UUID, collections' OrderedDict,
 * deque, Counter and defaultdict, range and array.array.
 *
 * They stay opaque values (so they re-encode to the very pickle that came
 * in); this file recognises them by class global and by the exact shape
 * each Python (2.7, 3.6 to 3.13, pickle protocols 0 to 5) writes, and gives
 * them Python 3.13's repr, str, ==, hash() and ordering. A value whose
 * shape is anything else stays a plain instance (value_ops.c).
 *
 * Numbers: Decimal and Fraction compare exactly with int, float, complex
 * and each other (as rationals num * 10**exp10 / den) and share Python's
 * numeric hash modulo 2**61 - 1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"

/* ======================================================================
 * Recognition
 * ====================================================================== */

typedef enum std_kind {
    K_NONE, K_DATE, K_TIME, K_DATETIME, K_TIMEDELTA, K_TIMEZONE, K_DECIMAL,
    K_FRACTION, K_UUID, K_ODICT, K_DEQUE, K_COUNTER, K_DEFAULTDICT, K_RANGE,
    K_ARRAY
} std_kind;

static const char *const kind_type_names[] = {
    [K_DATE] = "datetime.date", [K_TIME] = "datetime.time",
    [K_DATETIME] = "datetime.datetime", [K_TIMEDELTA] = "datetime.timedelta",
    [K_TIMEZONE] = "datetime.timezone", [K_DECIMAL] = "decimal.Decimal",
    [K_FRACTION] = "Fraction", [K_UUID] = "UUID",
    [K_ODICT] = "collections.OrderedDict", [K_DEQUE] = "collections.deque",
    [K_COUNTER] = "Counter", [K_DEFAULTDICT] = "collections.defaultdict",
    [K_RANGE] = "range", [K_ARRAY] = "array.array",
};

static bool is_type(const md_val *v, md_vtype t)
{
    return md_typeof(v) == t;
}

static bool is_int(const md_val *v)
{
    return is_type(v, MD_T_INT);   /* md_typeof says MD_T_INT for small ints */
}

static const md_opaqueobj *opq(const md_val *v)
{
    return (const md_opaqueobj *)v;
}

/* True if the opaque has none of the parts named by the flags. */
enum { P_STATE = 1, P_LIST = 2, P_DICT = 4, P_KW = 8 };
static bool lacks(const md_val *v, int parts)
{
    const md_opaqueobj *o = opq(v);
    return !((parts & P_STATE) && o->state && !is_type(o->state, MD_T_NONE)) &&
           !((parts & P_LIST) && o->listitems) && !((parts & P_DICT) && o->dictitems) &&
           !((parts & P_KW) && o->kwargs);
}

/* A REDUCE of module.name with n arguments and none of `parts`. */
static bool reduce_of(const md_val *v, const char *module, const char *name, int parts)
{
    const md_opaqueobj *o = opq(v);
    return o->h.aux == MD_OPQ_REDUCE && is_type(o->callable, MD_T_GLOBAL) &&
           md_global_is(o->callable, module, name) && lacks(v, parts);
}

static size_t nargs(const md_val *v)
{
    return md_tuple_len(opq(v)->args);
}

static md_val *arg(const md_val *v, size_t i)
{
    return md_tuple_get(opq(v)->args, i);
}

/* The bytes of a datetime state: bytes, or a str of code points below 256
 * (Python 2 str, or latin-1 text). false if neither or not n long. */
static bool state_bytes(const md_val *s, uint8_t *out, size_t n)
{
    if (is_type(s, MD_T_BYTES)) {
        if (md_bytes_len(s) != n)
            return false;
        memcpy(out, md_bytes_data(s), n);
        return true;
    }
    if (!is_type(s, MD_T_STR))
        return false;
    const uint8_t *p = (const uint8_t *)md_str_data(s);
    size_t len = md_str_nbytes(s), k = 0;
    for (size_t i = 0; i < len; k++) {
        if (k == n)
            return false;
        if (p[i] < 0x80) {
            out[k] = p[i++];
        } else if ((p[i] & 0xE0) == 0xC0 && p[i] <= 0xC3 && i + 1 < len) {
            out[k] = (uint8_t)(((p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F));
            i += 2;
        } else {
            return false;
        }
    }
    return k == n;
}

static bool int_in(const md_val *v, int64_t lo, int64_t hi, int64_t *out)
{
    return is_int(v) && md_int_to_i64(v, out) == 0 && *out >= lo && *out <= hi;
}

/* ---- datetime ------------------------------------------------------------ */

#define US_PER_SEC 1000000LL
#define US_PER_DAY (86400LL * US_PER_SEC)

typedef struct tdparts { int64_t days, secs, us; } tdparts;

/* timedelta(days, seconds, microseconds), normalised as Python does. */
static bool parse_timedelta(const md_val *v, tdparts *td)
{
    int64_t d, s, u;
    const int64_t big = (int64_t)1 << 50;
    if (!reduce_of(v, "datetime", "timedelta", P_STATE | P_LIST | P_DICT | P_KW) ||
        nargs(v) != 3 || !int_in(arg(v, 0), -big, big, &d) ||
        !int_in(arg(v, 1), -big, big, &s) || !int_in(arg(v, 2), -big, big, &u))
        return false;
    __int128 total = (__int128)d * US_PER_DAY + (__int128)s * US_PER_SEC + u;
    __int128 days = total / US_PER_DAY, rest = total % US_PER_DAY;
    if (rest < 0) {
        rest += US_PER_DAY;
        days--;
    }
    if (days < -999999999 || days > 999999999)
        return false;
    td->days = (int64_t)days;
    td->secs = (int64_t)(rest / US_PER_SEC);
    td->us = (int64_t)(rest % US_PER_SEC);
    return true;
}

typedef struct tzparts {
    int64_t offset_us;
    const md_val *name;   /* borrowed str, NULL if none */
    tdparts td;
} tzparts;

static bool parse_timezone(const md_val *v, tzparts *tz)
{
    if (md_typeof(v) != MD_T_OPAQUE ||
        !reduce_of(v, "datetime", "timezone", P_STATE | P_LIST | P_DICT | P_KW) ||
        nargs(v) < 1 || nargs(v) > 2)
        return false;
    md_val *off = arg(v, 0);
    if (md_typeof(off) != MD_T_OPAQUE || !parse_timedelta(off, &tz->td))
        return false;
    tz->offset_us = tz->td.days * US_PER_DAY + tz->td.secs * US_PER_SEC + tz->td.us;
    if (tz->offset_us <= -US_PER_DAY || tz->offset_us >= US_PER_DAY)
        return false;
    tz->name = nargs(v) == 2 ? arg(v, 1) : NULL;
    return !tz->name || is_type(tz->name, MD_T_STR);
}

typedef struct dtparts {
    int year, month, day, hour, minute, second, us, fold;
    const md_val *tz;     /* borrowed timezone, NULL if naive */
    tzparts tzp;
} dtparts;

static bool is_leap(int y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int y, int m)
{
    static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 0001-01-01 (proleptic Gregorian), as date.toordinal() - 1. */
static int64_t ordinal(int y, int m, int d)
{
    int64_t py = y - 1;
    int64_t days = py * 365 + py / 4 - py / 100 + py / 400;
    for (int i = 1; i < m; i++)
        days += days_in_month(y, i);
    return days + d - 1;
}

static bool valid_date(const dtparts *p)
{
    return p->year >= 1 && p->year <= 9999 && p->month >= 1 && p->month <= 12 &&
           p->day >= 1 && p->day <= days_in_month(p->year, p->month);
}

static bool valid_time(const dtparts *p)
{
    return p->hour < 24 && p->minute < 60 && p->second < 60 && p->us < 1000000;
}

/* The optional second argument of time/datetime: a datetime.timezone. */
static bool parse_tzarg(const md_val *v, dtparts *p)
{
    p->tz = NULL;
    if (nargs(v) == 1)
        return true;
    p->tz = arg(v, 1);
    return parse_timezone(p->tz, &p->tzp);
}

static bool parse_datetime_kind(const md_val *v, std_kind k, dtparts *p)
{
    static const char *const names[] = { [K_DATE] = "date", [K_TIME] = "time",
                                         [K_DATETIME] = "datetime" };
    static const size_t sizes[] = { [K_DATE] = 4, [K_TIME] = 6, [K_DATETIME] = 10 };
    uint8_t b[10];
    memset(p, 0, sizeof *p);
    if (!reduce_of(v, "datetime", names[k], P_STATE | P_LIST | P_DICT | P_KW) ||
        nargs(v) < 1 || nargs(v) > (k == K_DATE ? 1u : 2u) ||
        !state_bytes(arg(v, 0), b, sizes[k]) || !parse_tzarg(v, p))
        return false;
    const uint8_t *t = b;
    if (k != K_TIME) {
        p->year = b[0] << 8 | b[1];
        p->month = b[2] & 0x7F;
        p->fold = b[2] >> 7;
        p->day = b[3];
        if (!valid_date(p))
            return false;
        t = b + 4;
    } else {
        p->year = 1;
        p->month = p->day = 1;
    }
    if (k == K_DATE)
        return true;
    p->hour = t[0];
    if (k == K_TIME) {
        p->hour = t[0] & 0x7F;
        p->fold = t[0] >> 7;
    }
    p->minute = t[1];
    p->second = t[2];
    p->us = t[3] << 16 | t[4] << 8 | t[5];
    return valid_time(p);
}

/* ---- decimal ------------------------------------------------------------- */

enum { R_FINITE, R_INF, R_NAN, R_SNAN };

typedef struct decparts {
    int sign;          /* 1 if negative */
    int special;       /* R_* */
    char *digits;      /* coefficient (or NaN payload), no leading zeros; owned */
    int64_t exp;
} decparts;

#define DEC_MAX_EXP_DIGITS 18

static bool ieq_prefix(const char **s, const char *word)
{
    size_t n = strlen(word);
    if (strncasecmp(*s, word, n) != 0)
        return false;
    *s += n;
    return true;
}

/* Digits of s[0..n) without leading zeros ("0" if none), or NULL. */
static char *strip_zeros(const char *s, size_t n)
{
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    if (n == 0) {
        s = "0";
        n = 1;
    }
    return md_strndup(s, n);
}

/* The text Decimal.__reduce__ writes (str(d)), in the grammar Decimal()
 * accepts without spaces or underscores. false if it is not one, or when
 * want_digits and the digits cannot be allocated (without want_digits,
 * p->digits stays NULL and nothing is allocated). */
static bool parse_decimal_text(const char *s, decparts *p, bool want_digits)
{
    p->sign = 0;
    p->special = R_FINITE;
    p->digits = NULL;
    p->exp = 0;
    if (*s == '+' || *s == '-')
        p->sign = *s++ == '-';
    bool number = (*s >= '0' && *s <= '9') || *s == '.';
    if (!number && (ieq_prefix(&s, "infinity") || ieq_prefix(&s, "inf"))) {
        p->special = R_INF;
        return *s == 0 && (!want_digits || (p->digits = strip_zeros("0", 1)) != NULL);
    }
    bool snan = !number && ieq_prefix(&s, "snan");
    if (snan || (!number && ieq_prefix(&s, "nan"))) {
        p->special = snan ? R_SNAN : R_NAN;
        size_t n = strspn(s, "0123456789");
        if (s[n])
            return false;
        return !want_digits || (p->digits = strip_zeros(s, n)) != NULL;
    }
    size_t ni = strspn(s, "0123456789"), nf = 0;
    const char *frac = s + ni;
    if (*frac == '.') {
        frac++;
        nf = strspn(frac, "0123456789");
    }
    if (ni + nf == 0)
        return false;
    const char *q = frac + nf;
    if (*q == 'e' || *q == 'E') {
        q++;
        bool neg = *q == '-';
        if (*q == '+' || *q == '-')
            q++;
        size_t ne = strspn(q, "0123456789");
        if (ne == 0 || ne > DEC_MAX_EXP_DIGITS)
            return false;
        for (size_t i = 0; i < ne; i++)
            p->exp = p->exp * 10 + (q[i] - '0');
        p->exp = neg ? -p->exp : p->exp;
        q += ne;
    }
    if (*q)
        return false;
    p->exp -= (int64_t)nf;
    if (!want_digits)
        return true;
    char *all = md_malloc(ni + nf + 1);
    if (!all)
        return false;
    memcpy(all, s, ni);
    memcpy(all + ni, frac, nf);
    p->digits = strip_zeros(all, ni + nf);
    md_free(all);
    return p->digits != NULL;
}

static bool parse_decimal(const md_val *v, decparts *p, bool want_digits)
{
    p->digits = NULL;
    if (!reduce_of(v, "decimal", "Decimal", P_STATE | P_LIST | P_DICT | P_KW) ||
        nargs(v) != 1 || !is_type(arg(v, 0), MD_T_STR))
        return false;
    if (parse_decimal_text(md_str_data(arg(v, 0)), p, want_digits))
        return true;
    md_free(p->digits);
    p->digits = NULL;
    return false;
}

/* ---- fraction ------------------------------------------------------------ */

static void mpz_of(const md_val *v, mpz_t out)
{
    if (IS_SMALL(v))
        mpz_set_si(out, (long)SMALL_GET(v));
    else if (v->type == MD_T_BOOL)
        mpz_set_si(out, md_bool_get(v));
    else
        mpz_set(out, ((const md_bigint *)v)->z);
}

/* Fraction(num, den) (3.12+) or Fraction('n/d') (older Pythons); num and
 * den (initialised by the caller) get its value, den > 0, in lowest terms
 * when `lowest` (comparisons need not pay for the gcd). */
static bool parse_fraction_args(const md_val *v, mpz_t num, mpz_t den, bool lowest);

static bool parse_fraction(const md_val *v, mpz_t num, mpz_t den, bool lowest)
{
    return reduce_of(v, "fractions", "Fraction", P_STATE | P_LIST | P_DICT | P_KW) &&
           parse_fraction_args(v, num, den, lowest);
}

/* parse_fraction without the class check, for a value known to be one. */
static bool parse_fraction_args(const md_val *v, mpz_t num, mpz_t den, bool lowest)
{
    if (nargs(v) == 2 && is_int(arg(v, 0)) && is_int(arg(v, 1))) {
        mpz_of(arg(v, 0), num);
        mpz_of(arg(v, 1), den);
    } else if (nargs(v) == 1 && is_type(arg(v, 0), MD_T_STR)) {
        const char *s = md_str_data(arg(v, 0));
        const char *digits = s + (*s == '-' || *s == '+');
        size_t n = strspn(digits, "0123456789");
        const char *slash = digits + n;
        if (n == 0 || (*slash && *slash != '/'))
            return false;
        /* The numerator needs its own NUL: a copy from GMP's allocator,
         * which (like every GMP number here) aborts rather than fail, so
         * recognising a Fraction never fails for want of memory. */
        void *(*alloc)(size_t);
        void (*release)(void *, size_t);
        mp_get_memory_functions(&alloc, NULL, &release);
        size_t len = (size_t)(slash - digits);
        char *text = alloc(len + 1);
        memcpy(text, digits, len);
        text[len] = 0;
        int rc = mpz_set_str(num, text, 10);
        release(text, len + 1);
        if (rc < 0)
            return false;
        if (*s == '-')
            mpz_neg(num, num);
        mpz_set_ui(den, 1);
        if (*slash) {
            size_t nd = strspn(slash + 1, "0123456789");
            if (nd == 0 || slash[1 + nd] || mpz_set_str(den, slash + 1, 10) < 0)
                return false;
        }
    } else {
        return false;
    }
    if (mpz_sgn(den) == 0)
        return false;
    if (mpz_sgn(den) < 0) {
        mpz_neg(num, num);
        mpz_neg(den, den);
    }
    if (!lowest)
        return true;
    mpz_t g;
    mpz_init(g);
    mpz_gcd(g, num, den);
    if (mpz_cmp_ui(g, 1) > 0) {
        mpz_divexact(num, num, g);
        mpz_divexact(den, den, g);
    }
    mpz_clear(g);
    return true;
}

/* ---- uuid ---------------------------------------------------------------- */

/* UUID.__new__ + state {'int': n} (NEWOBJ, or copyreg._reconstructor at
 * protocols 0 and 1), with 'is_safe' beside it from 3.7. Returns the int
 * (borrowed) or NULL. */
static md_val *parse_uuid(const md_val *v)
{
    const md_opaqueobj *o = opq(v);
    bool shape;
    if (o->h.aux == MD_OPQ_NEWOBJ)
        shape = is_type(o->callable, MD_T_GLOBAL) && md_global_is(o->callable, "uuid", "UUID") &&
                nargs(v) == 0;
    else
        shape = (reduce_of(v, "copyreg", "_reconstructor", 0) ||
                 reduce_of(v, "copy_reg", "_reconstructor", 0)) &&
                nargs(v) == 3 && is_type(arg(v, 0), MD_T_GLOBAL) &&
                md_global_is(arg(v, 0), "uuid", "UUID") && is_type(arg(v, 1), MD_T_GLOBAL) &&
                md_global_is(arg(v, 1), "builtins", "object") && is_type(arg(v, 2), MD_T_NONE);
    if (!shape || !lacks(v, P_LIST | P_DICT | P_KW) || !o->state ||
        !is_type(o->state, MD_T_DICT))
        return NULL;
    md_val *n = NULL;
    size_t pos = 0;
    md_val *k, *val;
    while (md_dict_next(o->state, &pos, &k, &val)) {
        if (md_str_eq_cstr(k, "int"))
            n = val;
        else if (!md_str_eq_cstr(k, "is_safe"))
            return NULL;
    }
    if (!n || !is_int(n) || md_int_sign(n) < 0 || md_int_le_size(n) > 17)
        return NULL;
    if (md_int_le_size(n) == 17) {
        uint8_t b[17];
        md_int_to_le(n, b, 17);
        if (b[16] != 0)
            return NULL;
    }
    return n;
}

/* ---- collections ---------------------------------------------------------- */

static bool is_pair(const md_val *p)
{
    size_t n;
    return md_seq_items(p, &n) && n == 2;
}

static bool all_pairs(const md_val *l)
{
    for (size_t i = 0; i < md_list_len(l); i++)
        if (!is_pair(md_list_get(l, i)))
            return false;
    return true;
}

static bool empty_state(const md_val *v)
{
    const md_val *s = opq(v)->state;
    return !s || is_type(s, MD_T_NONE) || (is_type(s, MD_T_DICT) && md_dict_len(s) == 0);
}

/* OrderedDict: () + SETITEMS (Python 3), or ([[k, v], ...],) (2.7). */
static bool shape_odict(const md_val *v)
{
    if (!reduce_of(v, "collections", "OrderedDict", P_LIST | P_KW) || !empty_state(v))
        return false;
    const md_val *items = opq(v)->dictitems;
    if (items && !all_pairs(items))
        return false;
    return nargs(v) == 0 ||
           (nargs(v) == 1 && is_type(arg(v, 0), MD_T_LIST) && all_pairs(arg(v, 0)));
}

static bool shape_counter(const md_val *v)
{
    return reduce_of(v, "collections", "Counter", P_LIST | P_DICT | P_KW) && empty_state(v) &&
           (nargs(v) == 0 || (nargs(v) == 1 && is_type(arg(v, 0), MD_T_DICT)));
}

static bool builtin_factory(const md_val *f)
{
    static const char *const ok[] = { "int", "float", "complex", "str", "bytes", "bytearray",
                                      "list", "dict", "set", "frozenset", "tuple", "bool",
                                      "object" };
    if (is_type(f, MD_T_NONE))
        return true;
    if (!is_type(f, MD_T_GLOBAL) || strcmp(md_global_module(f), "builtins") != 0)
        return false;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(md_global_name(f), ok[i]) == 0)
            return true;
    return false;
}

static bool shape_defaultdict(const md_val *v)
{
    const md_val *items = opq(v)->dictitems;
    return reduce_of(v, "collections", "defaultdict", P_LIST | P_KW) && empty_state(v) &&
           nargs(v) <= 1 && (nargs(v) == 0 || builtin_factory(arg(v, 0))) &&
           (!items || all_pairs(items));
}

/* deque: (), ((), maxlen) + APPENDS (Python 3) or (list[, maxlen]) (2.7). */
static bool shape_deque(const md_val *v)
{
    if (!reduce_of(v, "collections", "deque", P_STATE | P_DICT | P_KW) || nargs(v) > 2)
        return false;
    size_t n;
    if (nargs(v) >= 1 && !md_seq_items(arg(v, 0), &n))
        return false;
    int64_t m;
    return nargs(v) < 2 || is_type(arg(v, 1), MD_T_NONE) ||
           int_in(arg(v, 1), 0, INT64_MAX, &m);
}

static bool shape_range(const md_val *v)
{
    return reduce_of(v, "builtins", "range", P_STATE | P_LIST | P_DICT | P_KW) &&
           nargs(v) == 3 && is_int(arg(v, 0)) && is_int(arg(v, 1)) && is_int(arg(v, 2)) &&
           md_int_sign(arg(v, 2)) != 0;
}

/* ---- array ----------------------------------------------------------------- */

static bool typecode_of(const md_val *t, char *code)
{
    /* (strchr finds the terminator too: a NUL typecode is no typecode.) */
    if (!is_type(t, MD_T_STR) || md_str_nbytes(t) != 1 || md_str_data(t)[0] == '\0' ||
        !strchr("bBuwhHiIlLqQfd", md_str_data(t)[0]))
        return false;
    *code = md_str_data(t)[0];
    return true;
}

/* _array_reconstructor's machine formats: item size by code 0..21. */
static const uint8_t mformat_size[] = { 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8,
                                        8, 8, 8, 4, 4, 8, 8, 2, 2, 4, 4 };

/* The machine format of an x86-64 Linux array's own bytes, which
 * multiprocessing.managers' reduce_array sends (a.tobytes()). */
static int native_mformat(char code)
{
    static const char codes[] = "bBhHiIlLqQfduw";
    static const int8_t mf[] = { 1, 0, 4, 2, 8, 6, 12, 10, 12, 10, 14, 16, 20, 20 };
    return mf[strchr(codes, code) - codes];
}

/* The bytes of an array's data: bytes, or a Python 2 str of ASCII. */
static bool array_blob(const md_val *b, const uint8_t **data, size_t *n)
{
    if (is_type(b, MD_T_BYTES)) {
        *data = md_bytes_data(b);
        *n = md_bytes_len(b);
        return true;
    }
    if (!is_type(b, MD_T_STR) || !md_str_is_py2(b))
        return false;
    *data = (const uint8_t *)md_str_data(b);
    *n = md_str_nbytes(b);
    return true;
}

/* The machine format and data of an array value's bytes; false if it
 * holds a list (or nothing). */
static bool array_data(const md_val *v, char code, int64_t *mf, const uint8_t **data, size_t *n)
{
    if (md_global_is(opq(v)->callable, "array", "array")) {
        *mf = native_mformat(code);
        return nargs(v) == 2 && array_blob(arg(v, 1), data, n);
    }
    md_int_to_i64(arg(v, 2), mf);
    return array_blob(arg(v, 3), data, n);
}

/* Whether every item of an array(typecode, list)'s list is what array()
 * accepts for that code: a one-character str for 'u'/'w', a number for
 * 'f'/'d', an int for the rest (a bool is an int). Anything else makes
 * array() raise in Python, so the value is no array here either: repr
 * and == must not read an int as text. */
static bool array_items_fit(const md_val *list, char code)
{
    bool text = code == 'u' || code == 'w', real = code == 'f' || code == 'd';
    for (size_t i = 0; i < md_list_len(list); i++) {
        const md_val *it = md_list_get(list, i);
        bool ok = text ? is_type(it, MD_T_STR) && md_str_len(it) == 1
                       : is_int(it) || is_type(it, MD_T_BOOL) ||
                             (real && is_type(it, MD_T_FLOAT));
        if (!ok)
            return false;
    }
    return true;
}

/* array(typecode[, list]) (protocols 0-2, and 2.7), array(typecode,
 * bytes) (multiprocessing.managers' reducer), or
 * array._array_reconstructor(array, typecode, mformat, bytes). */
static bool shape_array(const md_val *v, char *code)
{
    int64_t mf;
    const uint8_t *data;
    size_t n;
    if (reduce_of(v, "array", "array", P_STATE | P_LIST | P_DICT | P_KW)) {
        if (nargs(v) < 1 || nargs(v) > 2 || !typecode_of(arg(v, 0), code))
            return false;
        if (nargs(v) == 1)
            return true;
        if (is_type(arg(v, 1), MD_T_LIST))
            return array_items_fit(arg(v, 1), *code);
    } else if (!reduce_of(v, "array", "_array_reconstructor", P_STATE | P_LIST | P_DICT | P_KW) ||
               nargs(v) != 4 || !is_type(arg(v, 0), MD_T_GLOBAL) ||
               !md_global_is(arg(v, 0), "array", "array") || !typecode_of(arg(v, 1), code) ||
               !int_in(arg(v, 2), 0, 21, &mf) || mf == 18 || mf == 19) {
        return false;
    }
    if (!array_data(v, *code, &mf, &data, &n))
        return false;
    bool text = *code == 'u' || *code == 'w', real = *code == 'f' || *code == 'd';
    if (text != (mf >= 18) || real != (mf >= 14 && mf <= 17))
        return false;
    return n % mformat_size[mf] == 0;
}

static std_kind kind_of(const md_val *v)
{
    if (IS_SMALL(v) || v->type != MD_T_OPAQUE)
        return K_NONE;
    md_val *cls = md_val__class_global(v);
    if (!cls)
        return K_NONE;
    const char *mod = md_global_module(cls), *name = md_global_name(cls);
    dtparts dp;
    tdparts td;
    tzparts tz;
    char code;
    if (strcmp(mod, "datetime") == 0) {
        if (strcmp(name, "date") == 0)
            return parse_datetime_kind(v, K_DATE, &dp) ? K_DATE : K_NONE;
        if (strcmp(name, "time") == 0)
            return parse_datetime_kind(v, K_TIME, &dp) ? K_TIME : K_NONE;
        if (strcmp(name, "datetime") == 0)
            return parse_datetime_kind(v, K_DATETIME, &dp) ? K_DATETIME : K_NONE;
        if (strcmp(name, "timedelta") == 0)
            return parse_timedelta(v, &td) ? K_TIMEDELTA : K_NONE;
        if (strcmp(name, "timezone") == 0)
            return parse_timezone(v, &tz) ? K_TIMEZONE : K_NONE;
        return K_NONE;
    }
    if (strcmp(mod, "decimal") == 0 && strcmp(name, "Decimal") == 0) {
        decparts p;
        bool ok = parse_decimal(v, &p, false);
        md_free(p.digits);
        return ok ? K_DECIMAL : K_NONE;
    }
    if (strcmp(mod, "fractions") == 0 && strcmp(name, "Fraction") == 0) {
        mpz_t n, d;
        mpz_inits(n, d, NULL);
        bool ok = parse_fraction(v, n, d, false);
        mpz_clears(n, d, NULL);
        return ok ? K_FRACTION : K_NONE;
    }
    if (strcmp(mod, "uuid") == 0 && strcmp(name, "UUID") == 0)
        return parse_uuid(v) ? K_UUID : K_NONE;
    if (strcmp(mod, "collections") == 0) {
        if (strcmp(name, "OrderedDict") == 0)
            return shape_odict(v) ? K_ODICT : K_NONE;
        if (strcmp(name, "Counter") == 0)
            return shape_counter(v) ? K_COUNTER : K_NONE;
        if (strcmp(name, "defaultdict") == 0)
            return shape_defaultdict(v) ? K_DEFAULTDICT : K_NONE;
        if (strcmp(name, "deque") == 0)
            return shape_deque(v) ? K_DEQUE : K_NONE;
        return K_NONE;
    }
    if (strcmp(mod, "builtins") == 0 && strcmp(name, "range") == 0)
        return shape_range(v) ? K_RANGE : K_NONE;
    if (strcmp(mod, "array") == 0)
        return shape_array(v, &code) ? K_ARRAY : K_NONE;
    return K_NONE;
}

const char *md_std__type_name(const md_val *v)
{
    std_kind k = kind_of(v);
    return k == K_NONE ? NULL : kind_type_names[k];
}

md_std_kind md_val_std_kind(const md_val *v)
{
    return (md_std_kind)kind_of(v);
}

/* ======================================================================
 * Items of the container values
 * ====================================================================== */

static md_val *nomem(md_pyerr *e)
{
    md_val__nomem(e);
    return NULL;
}

static int append_all(md_val *list, const md_val *src)
{
    size_t n;
    md_val *const *items = md_seq_items(src, &n);
    for (size_t i = 0; i < n; i++)
        if (md_list_append(list, items[i]) < 0)
            return -1;
    return 0;
}

static md_val *deque_items(const md_val *v, md_pyerr *e)
{
    md_val *l = md_list_new(0);
    const md_val *more = opq(v)->listitems;
    if (!l || (nargs(v) >= 1 && append_all(l, arg(v, 0)) < 0) ||
        (more && append_all(l, more) < 0)) {
        md_decref(l);
        return nomem(e);
    }
    int64_t maxlen;
    if (nargs(v) == 2 && md_int_to_i64(arg(v, 1), &maxlen) == 0)
        while (md_list_len(l) > (uint64_t)maxlen)
            md_list_del(l, 0);
    return l;
}

static uint64_t load_uint(const uint8_t *p, size_t size, bool big)
{
    uint64_t x = 0;
    for (size_t i = 0; i < size; i++)
        x |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
    return x;
}

/* One item of _array_reconstructor's machine format mf at p. */
static md_val *array_item(int mf, const uint8_t *p, size_t size)
{
    bool big = mf % 2 == 1;
    uint64_t x = load_uint(p, size, big);
    if (mf == 14 || mf == 15) {
        float f;
        uint32_t u = (uint32_t)x;
        memcpy(&f, &u, sizeof f);
        return md_float_new(f);
    }
    if (mf == 16 || mf == 17) {
        double d;
        memcpy(&d, &x, sizeof d);
        return md_float_new(d);
    }
    if (mf >= 20) {
        char buf[4];
        size_t n;
        if (x > 0x10FFFF)
            return NULL;
        if (x < 0x80) {
            buf[0] = (char)x;
            n = 1;
        } else if (x < 0x800) {
            buf[0] = (char)(0xC0 | x >> 6);
            buf[1] = (char)(0x80 | (x & 0x3F));
            n = 2;
        } else if (x < 0x10000) {
            buf[0] = (char)(0xE0 | x >> 12);
            buf[1] = (char)(0x80 | ((x >> 6) & 0x3F));
            buf[2] = (char)(0x80 | (x & 0x3F));
            n = 3;
        } else {
            buf[0] = (char)(0xF0 | x >> 18);
            buf[1] = (char)(0x80 | ((x >> 12) & 0x3F));
            buf[2] = (char)(0x80 | ((x >> 6) & 0x3F));
            buf[3] = (char)(0x80 | (x & 0x3F));
            n = 4;
        }
        return md_str_new(buf, n);
    }
    /* 0/1: unsigned/signed bytes; then pairs LE/BE of u16 s16 u32 s32 u64 s64. */
    bool is_signed = mf < 2 ? mf == 1 : ((mf - 2) / 2) % 2 == 1;
    if (is_signed && size < 8 && (x >> (8 * size - 1)) & 1)
        x |= ~(uint64_t)0 << (8 * size);
    return is_signed ? md_int_from_i64((int64_t)x) : md_int_from_u64(x);
}

static md_val *array_items(const md_val *v, md_pyerr *e)
{
    char code = 0;
    int64_t mf;
    const uint8_t *data;
    size_t nbytes;
    shape_array(v, &code);
    if (!array_data(v, code, &mf, &data, &nbytes)) {
        md_val *l = md_list_new(0);
        if (!l || (nargs(v) == 2 && append_all(l, arg(v, 1)) < 0)) {
            md_decref(l);
            return nomem(e);
        }
        return l;
    }
    size_t size = mformat_size[mf], n = nbytes / size;
    md_val *l = md_list_new(n);
    for (size_t i = 0; l && i < n; i++) {
        md_val *item = array_item((int)mf, data + i * size, size);
        if (!item || md_list_append_steal(l, item) < 0) {
            md_decref(l);
            l = NULL;
        }
    }
    return l ? l : nomem(e);
}

static int dict_put_pairs(md_val *d, const md_val *pairs, md_pyerr *e)
{
    for (size_t i = 0; pairs && i < md_list_len(pairs); i++) {
        size_t n;
        md_val *const *kv = md_seq_items(md_list_get(pairs, i), &n);
        if (md_dict_set(d, kv[0], kv[1], e) < 0)
            return -1;
    }
    return 0;
}

static md_val *mapping_items(const md_val *v, std_kind k, md_pyerr *e)
{
    md_val *d = md_dict_new();
    if (!d)
        return nomem(e);
    int rc = 0;
    if (k == K_COUNTER && nargs(v) == 1) {
        size_t pos = 0;
        md_val *key, *val;
        while (rc == 0 && md_dict_next(arg(v, 0), &pos, &key, &val))
            rc = md_dict_set(d, key, val, e);
    } else if (k == K_ODICT && nargs(v) == 1) {
        rc = dict_put_pairs(d, arg(v, 0), e);
    }
    if (rc == 0 && k != K_COUNTER)
        rc = dict_put_pairs(d, opq(v)->dictitems, e);
    if (rc < 0) {
        md_decref(d);
        return NULL;
    }
    return d;
}

static md_val *items_of(const md_val *v, std_kind k, md_pyerr *e)
{
    switch (k) {
    case K_ODICT: case K_COUNTER: case K_DEFAULTDICT: return mapping_items(v, k, e);
    case K_DEQUE: return deque_items(v, e);
    case K_ARRAY: return array_items(v, e);
    default:
        md_pyerr_set(e, "TypeError", "'%s' object has no items", md_type_name(v));
        return NULL;
    }
}

md_val *md_std__items(const md_val *v, md_pyerr *e)
{
    return items_of(v, kind_of(v), e);
}

md_val *md_val_std_items(const md_val *v, md_pyerr *e)
{
    md_pyerr_clear(e);
    return md_std__items(v, e);
}

/* ======================================================================
 * Exact real numbers: int, float, Decimal, Fraction
 * ====================================================================== */

/* value = num * 10**exp / den (den > 0), or a special. */
typedef struct real {
    int special;          /* R_* */
    bool neg;             /* for R_INF */
    mpz_t num, den;
    int64_t exp;
    const md_val *owner;  /* for the identity hash of NaN */
} real;

static void real_init(real *r)
{
    mpz_inits(r->num, r->den, NULL);
    r->special = R_FINITE;
    r->neg = false;
    r->exp = 0;
    r->owner = NULL;
}

static void real_clear(real *r)
{
    mpz_clears(r->num, r->den, NULL);
}

static bool real_from_double(double d, real *r)
{
    if (isnan(d)) {
        r->special = R_NAN;
    } else if (isinf(d)) {
        r->special = R_INF;
        r->neg = d < 0;
    } else {
        mpq_t q;
        mpq_init(q);
        mpq_set_d(q, d);
        mpz_set(r->num, mpq_numref(q));
        mpz_set(r->den, mpq_denref(q));
        mpq_clear(q);
    }
    return true;
}

/* The coefficient of a finite Decimal text (already validated): without
 * allocating when it fits in 64 bits, the common case, which sorting and
 * hashing meet at every comparison. false without memory. */
static bool decimal_coefficient(const char *text, mpz_t out)
{
    uint64_t x = 0;
    const char *s = text + (*text == '+' || *text == '-');
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.')
            continue;
        if (x > (UINT64_MAX - 9) / 10)
            break;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (!*s || *s == 'e' || *s == 'E') {
        mpz_set_ui(out, x);
        return true;
    }
    decparts p;
    if (!parse_decimal_text(text, &p, true))
        return false;
    mpz_set_str(out, p.digits, 10);
    md_free(p.digits);
    return true;
}

/* r from an int, bool, float, complex without imaginary part, Decimal or
 * Fraction (of kind k); false for anything else. A Fraction is in lowest
 * terms only when `lowest`. */
static bool real_from(const md_val *v, std_kind k, real *r, bool lowest)
{
    r->owner = v;
    mpz_set_ui(r->den, 1);
    switch (md_typeof(v)) {
    case MD_T_INT: case MD_T_BOOL:
        mpz_of(v, r->num);
        return true;
    case MD_T_FLOAT:
        return real_from_double(md_float_get(v), r);
    case MD_T_COMPLEX:
        return md_complex_imag(v) == 0.0 && real_from_double(md_complex_real(v), r);
    default:
        break;
    }
    /* v is known to be of kind k: only its arguments are read again. */
    if (k == K_FRACTION)
        return parse_fraction_args(v, r->num, r->den, lowest);
    decparts p;
    if (k != K_DECIMAL || !parse_decimal_text(md_str_data(arg(v, 0)), &p, false))
        return false;
    r->special = p.special;
    r->neg = p.sign;
    if (p.special == R_FINITE) {
        if (!decimal_coefficient(md_str_data(arg(v, 0)), r->num))
            return false;
        if (p.sign)
            mpz_neg(r->num, r->num);
        r->exp = p.exp;
    }
    return true;
}

/* floor(log10 |r|) lies in [lo, hi] (r finite, not zero). */
static void real_magnitude(const real *r, int64_t *lo, int64_t *hi)
{
    const double l2 = 0.30102999566398120;
    double bn = (double)mpz_sizeinbase(r->num, 2), bd = (double)mpz_sizeinbase(r->den, 2);
    *lo = r->exp + (int64_t)floor((bn - 1) * l2 - bd * l2) - 1;
    *hi = r->exp + (int64_t)ceil(bn * l2 - (bd - 1) * l2) + 1;
}

/* -1, 0, 1, or 2 when a NaN makes them unordered. */
static int real_cmp(const real *a, const real *b)
{
    if (a->special >= R_NAN || b->special >= R_NAN)
        return 2;
    int ia = a->special == R_INF ? (a->neg ? -1 : 1) : 0;
    int ib = b->special == R_INF ? (b->neg ? -1 : 1) : 0;
    if (ia || ib)
        return (ia > ib) - (ia < ib);
    int sa = mpz_sgn(a->num), sb = mpz_sgn(b->num);
    if (sa != sb || sa == 0)
        return (sa > sb) - (sa < sb);
    int64_t alo, ahi, blo, bhi;
    real_magnitude(a, &alo, &ahi);
    real_magnitude(b, &blo, &bhi);
    if (ahi < blo)
        return -sa;
    if (bhi < alo)
        return sa;
    /* Magnitudes overlap, so the exponents differ by no more than the
     * operands' own digit counts: scaling is as cheap as the inputs. */
    int64_t m = a->exp < b->exp ? a->exp : b->exp;
    mpz_t x, y, p;
    mpz_inits(x, y, p, NULL);
    mpz_ui_pow_ui(p, 10, (unsigned long)(a->exp - m));
    mpz_mul(x, a->num, b->den);
    mpz_mul(x, x, p);
    mpz_ui_pow_ui(p, 10, (unsigned long)(b->exp - m));
    mpz_mul(y, b->num, a->den);
    mpz_mul(y, y, p);
    int c = mpz_cmp(x, y);
    mpz_clears(x, y, p, NULL);
    return (c > 0) - (c < 0);
}

#define HASH_MODULUS (((uint64_t)1 << 61) - 1)
#define HASH_INF 314159

/* Python's numeric hash: num * 10**exp / den modulo 2**61 - 1. */
static int real_hash(const real *r, int64_t *out, md_pyerr *e)
{
    if (r->special == R_SNAN) {
        md_pyerr_set(e, "TypeError", "Cannot hash a signaling NaN value");
        return -1;
    }
    if (r->special == R_NAN) {
        *out = md_val__hash_pointer(r->owner);
        return 0;
    }
    if (r->special == R_INF) {
        *out = r->neg ? -HASH_INF : HASH_INF;
        return 0;
    }
    mpz_t P, h, t;
    mpz_inits(P, h, t, NULL);
    mpz_set_ui(P, HASH_MODULUS);
    mpz_abs(h, r->num);
    mpz_mod(h, h, P);
    mpz_set_ui(t, 10);
    if (r->exp < 0)
        mpz_invert(t, t, P);
    mpz_powm_ui(t, t, (unsigned long)(r->exp < 0 ? -r->exp : r->exp), P);
    mpz_mul(h, h, t);
    mpz_mod(h, h, P);
    mpz_mod(t, r->den, P);
    if (mpz_sgn(t) == 0) {
        mpz_set_ui(h, HASH_INF);   /* no inverse: Fraction's rule */
    } else {
        mpz_invert(t, t, P);
        mpz_mul(h, h, t);
        mpz_mod(h, h, P);
    }
    int64_t x = (int64_t)mpz_get_ui(h);
    if (mpz_sgn(r->num) < 0)
        x = -x;
    *out = x == -1 ? -2 : x;
    mpz_clears(P, h, t, NULL);
    return 0;
}

static int invalid_operation(md_pyerr *e)
{
    md_pyerr_set(e, "decimal.InvalidOperation", "[<class 'decimal.InvalidOperation'>]");
    return -1;
}

/* Compares a and b as numbers: *c is -1..2 as real_cmp gives, or 3 if one
 * of them is not a real number. -1 with e set on Decimal's signals (an
 * sNaN, or any NaN when `ordering`), else 0. */
static int num_compare(const md_val *a, std_kind ka, const md_val *b, std_kind kb,
                       bool ordering, int *c, md_pyerr *e)
{
    real ra, rb;
    real_init(&ra);
    real_init(&rb);
    int rc = 0;
    *c = 3;
    bool oka = real_from(a, ka, &ra, false), okb = real_from(b, kb, &rb, false);
    /* A Decimal whose shape was checked fails to convert only without
     * memory. */
    if ((!oka && ka == K_DECIMAL) || (!okb && kb == K_DECIMAL)) {
        md_val__nomem(e);
        rc = -1;
    } else if (oka && okb) {
        bool dec = ka == K_DECIMAL || kb == K_DECIMAL;
        bool snan = ra.special == R_SNAN || rb.special == R_SNAN;
        bool nan = snan || ra.special == R_NAN || rb.special == R_NAN;
        if (dec && (snan || (ordering && nan)))
            rc = invalid_operation(e);
        else
            *c = real_cmp(&ra, &rb);
    }
    real_clear(&ra);
    real_clear(&rb);
    return rc;
}

/* ======================================================================
 * ==, hash, ordering
 * ====================================================================== */

static bool is_mapping(std_kind k)
{
    return k == K_ODICT || k == K_COUNTER || k == K_DEFAULTDICT;
}

/* A point in time as one integer (microseconds; days for date), UTC for
 * aware values; *aware says which. */
static int64_t dt_key(const md_val *v, std_kind k, bool *aware)
{
    dtparts p;
    parse_datetime_kind(v, k, &p);
    *aware = p.tz != NULL;
    int64_t day = ordinal(p.year, p.month, p.day);
    if (k == K_DATE)
        return day;
    int64_t t = ((p.hour * 60LL + p.minute) * 60 + p.second) * US_PER_SEC + p.us;
    if (k == K_DATETIME)
        t += day * US_PER_DAY;
    return p.tz ? t - p.tzp.offset_us : t;
}

static int cmp3(int64_t x, int64_t y)
{
    return (x > y) - (x < y);
}

static int td_cmp(const md_val *a, const md_val *b)
{
    tdparts x, y;
    parse_timedelta(a, &x);
    parse_timedelta(b, &y);
    int c = cmp3(x.days, y.days);
    c = c ? c : cmp3(x.secs, y.secs);
    return c ? c : cmp3(x.us, y.us);
}

static int64_t tz_offset(const md_val *v)
{
    tzparts tz;
    parse_timezone(v, &tz);
    return tz.offset_us;
}

/* range: length, start and step as Python compares them. */
static md_val *range_key(const md_val *v)
{
    mpz_t start, stop, step, len;
    mpz_inits(start, stop, step, len, NULL);
    mpz_of(arg(v, 0), start);
    mpz_of(arg(v, 1), stop);
    mpz_of(arg(v, 2), step);
    /* len = max(0, ceil((stop - start) / step)) */
    if (mpz_sgn(step) > 0) {
        mpz_sub(len, stop, start);
        mpz_cdiv_q(len, len, step);
    } else {
        mpz_sub(len, start, stop);
        mpz_neg(step, step);
        mpz_cdiv_q(len, len, step);
    }
    if (mpz_sgn(len) < 0)
        mpz_set_ui(len, 0);
    md_val *n = md_val__int_from_mpz(len);
    bool one = mpz_cmp_ui(len, 1) == 0, none = mpz_sgn(len) == 0;
    mpz_clears(start, stop, step, len, NULL);
    if (!n)
        return NULL;
    /* Python hashes (len, None, None), (len, start, None) or the three. */
    md_val *t = md_tuple_pack(3, n, none ? md_none() : arg(v, 0),
                              none || one ? md_none() : arg(v, 2));
    md_decref(n);
    return t;
}

static int items_eq(const md_val *a, std_kind ka, const md_val *b, std_kind kb,
                    md_pyerr *e, int depth)
{
    md_val *x = is_type(a, MD_T_DICT) ? md_incref((md_val *)a) : items_of(a, ka, e);
    md_val *y = x && is_type(b, MD_T_DICT) ? md_incref((md_val *)b) : x ? items_of(b, kb, e) : NULL;
    int r = -1;
    if (x && y) {
        r = md_val__eq(x, y, e, depth + 1);
        /* OrderedDicts: the same items in the same order. */
        size_t pa = 0, pb = 0;
        md_val *k1, *k2, *v;
        while (r == 1 && ka == K_ODICT && kb == K_ODICT && md_dict_next(x, &pa, &k1, &v) &&
               md_dict_next(y, &pb, &k2, &v))
            r = md_val__eq(k1, k2, e, depth + 1);
    }
    md_decref(x);
    md_decref(y);
    return r;
}

/* Counter == Counter and Counter <= Counter (3.10+): every element of
 * either, a missing one counting as zero, compares == (le false) or <=
 * (le true) with its count in the other. */
static int counter_all(const md_val *a, const md_val *b, bool le, md_pyerr *e, int depth)
{
    md_val *x = items_of(a, K_COUNTER, e), *y = x ? items_of(b, K_COUNTER, e) : NULL;
    int r = x && y ? 1 : -1;
    for (int pass = 0; r == 1 && pass < 2; pass++) {
        md_val *from = pass ? y : x, *other = pass ? x : y, *k, *v;
        size_t pos = 0;
        while (r == 1 && md_dict_next(from, &pos, &k, &v)) {
            md_val *w = md_dict_get(other, k, e);
            if (!w && e && e->type) {
                r = -1;
                break;
            }
            const md_val *mine = v, *theirs = w ? w : md_int_from_i64(0);
            if (pass) {   /* walking b: the count of a is `theirs` */
                mine = theirs;
                theirs = v;
            }
            r = le ? md_val__order(mine, theirs, 1, e, depth + 1)
                   : md_val__eq(mine, theirs, e, depth + 1);
        }
    }
    md_decref(x);
    md_decref(y);
    return r;
}

static int counter_eq(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    return counter_all(a, b, false, e, depth);
}

static int counter_order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth)
{
    bool flip = op >= 2;   /* a > b is b < a */
    const md_val *x = flip ? b : a, *y = flip ? a : b;
    int le = counter_all(x, y, true, e, depth);
    if (le <= 0 || op == 1 || op == 3)
        return le;
    int eq = counter_eq(x, y, e, depth);
    return eq < 0 ? -1 : !eq;
}

static int same_kind_eq(const md_val *a, const md_val *b, std_kind k, md_pyerr *e, int depth)
{
    bool aa, ab;
    switch (k) {
    case K_DATE: case K_TIME: case K_DATETIME: {
        int64_t x = dt_key(a, k, &aa), y = dt_key(b, k, &ab);
        return aa == ab && x == y;
    }
    case K_TIMEDELTA: return td_cmp(a, b) == 0;
    case K_TIMEZONE: return tz_offset(a) == tz_offset(b);
    case K_UUID: return md_val__eq(parse_uuid(a), parse_uuid(b), e, depth + 1);
    case K_COUNTER: return counter_eq(a, b, e, depth);
    case K_DEQUE: case K_ARRAY: return items_eq(a, k, b, k, e, depth);
    case K_RANGE: {
        md_val *x = range_key(a), *y = range_key(b);
        int r = x && y ? md_val__eq(x, y, e, depth + 1) : (md_val__nomem(e), -1);
        md_decref(x);
        md_decref(y);
        return r;
    }
    default: return 0;
    }
}

int md_std__eq(const md_val *a, const md_val *b, md_pyerr *e, int depth)
{
    std_kind ka = kind_of(a), kb = kind_of(b);
    if (ka == K_NONE && kb == K_NONE)
        return MD_STD_PASS;
    if (ka == K_DECIMAL || ka == K_FRACTION || kb == K_DECIMAL || kb == K_FRACTION) {
        int c;
        return num_compare(a, ka, b, kb, false, &c, e) < 0 ? -1 : c == 0;
    }
    bool ma = is_mapping(ka) || (ka == K_NONE && is_type(a, MD_T_DICT));
    bool mb = is_mapping(kb) || (kb == K_NONE && is_type(b, MD_T_DICT));
    if (ma && mb && !(ka == K_COUNTER && kb == K_COUNTER))
        return items_eq(a, ka, b, kb, e, depth);
    if (ka != kb)
        return 0;
    return same_kind_eq(a, b, ka, e, depth);
}

static int hash_ints(std_kind k, const int64_t *parts, size_t n, int64_t *out)
{
    uint64_t acc = 2870177450012600261ULL ^ (uint64_t)k;
    for (size_t i = 0; i < n; i++)
        acc = md_val__xx_lane(acc, parts[i]);
    *out = acc == (uint64_t)-1 ? -2 : (int64_t)acc;
    return 0;
}

int md_std__hash(const md_val *v, int64_t *out, md_pyerr *e, int depth)
{
    std_kind k = kind_of(v);
    bool aware;
    switch (k) {
    case K_NONE:
        return MD_STD_PASS;
    case K_DECIMAL: case K_FRACTION: {
        real r;
        real_init(&r);
        int rc = real_from(v, k, &r, true) ? real_hash(&r, out, e) : (md_val__nomem(e), -1);
        real_clear(&r);
        return rc;
    }
    case K_DATE: case K_TIME: case K_DATETIME: {
        int64_t key[] = { dt_key(v, k, &aware), 0 };
        key[1] = aware;
        return hash_ints(k, key, 2, out);
    }
    case K_TIMEDELTA: {
        tdparts td;
        parse_timedelta(v, &td);
        int64_t key[] = { td.days, td.secs, td.us };
        return hash_ints(k, key, 3, out);
    }
    case K_TIMEZONE: {
        int64_t key[] = { tz_offset(v) };
        return hash_ints(k, key, 1, out);
    }
    case K_UUID:
        return md_val__hash(parse_uuid(v), out, e, depth + 1);
    case K_RANGE: {
        md_val *t = range_key(v);
        if (!t) {
            md_val__nomem(e);
            return -1;
        }
        int rc = md_val__hash(t, out, e, depth + 1);
        md_decref(t);
        return rc;
    }
    default:
        md_pyerr_set(e, "TypeError", "unhashable type: '%s'", kind_type_names[k]);
        return -1;
    }
}

static bool cmp_holds(int c, int op)
{
    switch (op) {
    case 0: return c < 0;
    case 1: return c <= 0;
    case 2: return c > 0;
    default: return c >= 0;
    }
}

int md_std__order(const md_val *a, const md_val *b, int op, md_pyerr *e, int depth)
{
    std_kind ka = kind_of(a), kb = kind_of(b);
    if (ka == K_NONE && kb == K_NONE)
        return MD_STD_PASS;
    if (ka == K_DECIMAL || ka == K_FRACTION || kb == K_DECIMAL || kb == K_FRACTION) {
        if (md_typeof(a) == MD_T_COMPLEX || md_typeof(b) == MD_T_COMPLEX)
            return md_val__not_supported(a, b, op, e);
        int c;
        if (num_compare(a, ka, b, kb, true, &c, e) < 0)
            return -1;
        if (c == 3)
            return md_val__not_supported(a, b, op, e);
        return c == 2 ? 0 : cmp_holds(c, op);
    }
    if (ka != kb)
        return md_val__not_supported(a, b, op, e);
    bool aa, ab;
    switch (ka) {
    case K_DATE: case K_TIME: case K_DATETIME: {
        int64_t x = dt_key(a, ka, &aa), y = dt_key(b, kb, &ab);
        if (aa != ab) {
            md_pyerr_set(e, "TypeError", "can't compare offset-naive and offset-aware %s",
                         ka == K_TIME ? "times" : "datetimes");
            return -1;
        }
        return cmp_holds(cmp3(x, y), op);
    }
    case K_TIMEDELTA:
        return cmp_holds(td_cmp(a, b), op);
    case K_UUID:
        return md_val__order(parse_uuid(a), parse_uuid(b), op, e, depth + 1);
    case K_COUNTER:
        return counter_order(a, b, op, e, depth);
    case K_DEQUE: case K_ARRAY: {
        md_val *x = items_of(a, ka, e), *y = x ? items_of(b, kb, e) : NULL;
        int r = x && y ? md_val__order(x, y, op, e, depth + 1) : -1;
        md_decref(x);
        md_decref(y);
        return r;
    }
    default:
        return md_val__not_supported(a, b, op, e);
    }
}

/* ======================================================================
 * repr and str
 * ====================================================================== */

/* Decimal's to-sci-string (str(d)). */
static int decimal_text(const decparts *p, md_buf *out)
{
    if (p->sign)
        md_buf_putc(out, '-');
    if (p->special == R_INF)
        return md_buf_puts(out, "Infinity");
    if (p->special != R_FINITE) {
        md_buf_puts(out, p->special == R_SNAN ? "sNaN" : "NaN");
        return strcmp(p->digits, "0") == 0 ? 0 : md_buf_puts(out, p->digits);
    }
    const char *c = p->digits;
    int64_t n = (int64_t)strlen(c), adjusted = p->exp + n - 1;
    if (p->exp <= 0 && adjusted >= -6) {
        if (p->exp == 0)
            return md_buf_puts(out, c);
        if (n > -p->exp) {
            md_buf_append(out, c, (size_t)(n + p->exp));
            md_buf_putc(out, '.');
            return md_buf_puts(out, c + n + p->exp);
        }
        md_buf_puts(out, "0.");
        for (int64_t i = 0; i < -p->exp - n; i++)
            md_buf_putc(out, '0');
        return md_buf_puts(out, c);
    }
    md_buf_putc(out, (uint8_t)c[0]);
    if (n > 1) {
        md_buf_putc(out, '.');
        md_buf_puts(out, c + 1);
    }
    return md_buf_printf(out, "E%+lld", (long long)adjusted);
}

static int mpz_text(const mpz_t z, md_buf *out)
{
    char *s = mpz_get_str(NULL, 10, z);
    int rc = md_buf_puts(out, s);
    void (*freefn)(void *, size_t);
    mp_get_memory_functions(NULL, NULL, &freefn);
    freefn(s, strlen(s) + 1);
    return rc;
}

static int uuid_text(const md_val *v, md_buf *out)
{
    uint8_t le[17] = { 0 };
    md_val *n = parse_uuid(v);
    md_int_to_le(n, le, md_int_le_size(n));
    for (int i = 15; i >= 0; i--) {
        md_buf_printf(out, "%02x", le[i]);
        if (i == 12 || i == 10 || i == 8 || i == 6)
            md_buf_putc(out, '-');
    }
    return 0;
}

/* +HH:MM[:SS[.ffffff]] */
static int offset_text(int64_t off, md_buf *out)
{
    md_buf_putc(out, off < 0 ? '-' : '+');
    if (off < 0)
        off = -off;
    int64_t us = off % US_PER_SEC, s = off / US_PER_SEC;
    md_buf_printf(out, "%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60));
    if (s % 60 || us)
        md_buf_printf(out, ":%02lld", (long long)(s % 60));
    return us ? md_buf_printf(out, ".%06lld", (long long)us) : 0;
}

static int timezone_str(const md_val *v, md_buf *out)
{
    tzparts tz;
    parse_timezone(v, &tz);
    if (tz.name)
        return md_buf_append(out, md_str_data(tz.name), md_str_nbytes(tz.name));
    md_buf_puts(out, "UTC");
    return tz.offset_us ? offset_text(tz.offset_us, out) : 0;
}

static int timedelta_repr(const md_val *v, md_buf *out)
{
    tdparts td;
    parse_timedelta(v, &td);
    md_buf_puts(out, "datetime.timedelta(");
    if (!td.days && !td.secs && !td.us)
        return md_buf_puts(out, "0)");
    const char *sep = "";
    if (td.days) {
        md_buf_printf(out, "days=%lld", (long long)td.days);
        sep = ", ";
    }
    if (td.secs) {
        md_buf_printf(out, "%sseconds=%lld", sep, (long long)td.secs);
        sep = ", ";
    }
    if (td.us)
        md_buf_printf(out, "%smicroseconds=%lld", sep, (long long)td.us);
    return md_buf_putc(out, ')');
}

static int timedelta_str(const md_val *v, md_buf *out)
{
    tdparts td;
    parse_timedelta(v, &td);
    if (td.days)
        md_buf_printf(out, "%lld day%s, ", (long long)td.days,
                      td.days == 1 || td.days == -1 ? "" : "s");
    md_buf_printf(out, "%lld:%02lld:%02lld", (long long)(td.secs / 3600),
                  (long long)(td.secs / 60 % 60), (long long)(td.secs % 60));
    return td.us ? md_buf_printf(out, ".%06lld", (long long)td.us) : 0;
}

static int timezone_repr(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    tzparts tz;
    parse_timezone(v, &tz);
    if (!tz.name && !tz.offset_us)
        return md_buf_puts(out, "datetime.timezone.utc");
    md_buf_puts(out, "datetime.timezone(");
    timedelta_repr(arg(v, 0), out);
    if (tz.name) {
        md_buf_puts(out, ", ");
        if (md_val__repr(tz.name, out, e, depth) < 0)
            return -1;
    }
    return md_buf_putc(out, ')');
}

static int datetime_repr(const md_val *v, std_kind k, md_buf *out, md_pyerr *e, int depth)
{
    dtparts p;
    parse_datetime_kind(v, k, &p);
    md_buf_printf(out, "%s(", kind_type_names[k]);
    if (k != K_TIME)
        md_buf_printf(out, "%d, %d, %d%s", p.year, p.month, p.day, k == K_DATE ? "" : ", ");
    if (k != K_DATE) {
        md_buf_printf(out, "%d, %d", p.hour, p.minute);
        if (p.second || p.us)
            md_buf_printf(out, ", %d", p.second);
        if (p.us)
            md_buf_printf(out, ", %d", p.us);
    }
    /* time writes tzinfo before fold, datetime fold before tzinfo. */
    if (p.fold && k == K_DATETIME)
        md_buf_puts(out, ", fold=1");
    if (p.tz) {
        md_buf_puts(out, ", tzinfo=");
        if (timezone_repr(p.tz, out, e, depth) < 0)
            return -1;
    }
    if (p.fold && k == K_TIME)
        md_buf_puts(out, ", fold=1");
    return md_buf_putc(out, ')');
}

static int datetime_str(const md_val *v, std_kind k, md_buf *out)
{
    dtparts p;
    parse_datetime_kind(v, k, &p);
    if (k != K_TIME)
        md_buf_printf(out, "%04d-%02d-%02d%s", p.year, p.month, p.day, k == K_DATE ? "" : " ");
    if (k == K_DATE)
        return 0;
    md_buf_printf(out, "%02d:%02d:%02d", p.hour, p.minute, p.second);
    if (p.us)
        md_buf_printf(out, ".%06d", p.us);
    return p.tz ? offset_text(p.tzp.offset_us, out) : 0;
}

static int number_text(const md_val *v, std_kind k, bool as_repr, md_buf *out, md_pyerr *e)
{
    if (k == K_DECIMAL) {
        decparts p;
        if (!parse_decimal(v, &p, true)) {   /* the shape was checked: out of memory */
            md_val__nomem(e);
            return -1;
        }
        if (as_repr)
            md_buf_puts(out, "Decimal('");
        int rc = decimal_text(&p, out);
        md_free(p.digits);
        return as_repr ? md_buf_puts(out, "')") : rc;
    }
    mpz_t n, d;
    mpz_inits(n, d, NULL);
    parse_fraction(v, n, d, true);
    md_buf_puts(out, as_repr ? "Fraction(" : "");
    mpz_text(n, out);
    if (as_repr || mpz_cmp_ui(d, 1) != 0) {
        md_buf_puts(out, as_repr ? ", " : "/");
        mpz_text(d, out);
    }
    mpz_clears(n, d, NULL);
    return as_repr ? md_buf_putc(out, ')') : 0;
}

/* Counter's repr lists items by count, largest first (ties in insertion
 * order), as most_common() does; counts that do not order (TypeError)
 * keep the insertion order, as Python falls back to dict(self). A new
 * dict, or NULL with e set. */
static md_val *counter_sorted(md_val *d, md_pyerr *e, int depth)
{
    /* Sorted on the count (the pair's key), largest first: a stable
     * reverse sort keeps ties in insertion order. */
    size_t n = md_dict_len(d), pos = 0;
    md_val_pair *pairs = md_malloc((n ? n : 1) * sizeof *pairs);
    md_val *out = pairs ? md_dict_new() : NULL;
    int rc = out ? 0 : -1;
    if (!out)
        md_val__nomem(e);
    for (size_t i = 0; out && md_dict_next(d, &pos, &pairs[i].val, &pairs[i].key); i++)
        ;
    if (rc == 0 && md_val__sort_pairs(pairs, n, true, e, depth + 1) < 0) {
        rc = -1;
        if (e && e->type && strcmp(e->type, "TypeError") == 0) {
            md_pyerr_clear(e);
            md_decref(out);
            out = md_incref(d);
            n = rc = 0;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = md_dict_set(out, pairs[i].val, pairs[i].key, e);
    md_free(pairs);
    if (rc < 0) {
        md_decref(out);
        return NULL;
    }
    return out;
}

static int container_repr(const md_val *v, std_kind k, md_buf *out, md_pyerr *e, int depth)
{
    static const char *const names[] = { [K_ODICT] = "OrderedDict", [K_COUNTER] = "Counter",
                                         [K_DEFAULTDICT] = "defaultdict", [K_DEQUE] = "deque",
                                         [K_ARRAY] = "array" };
    md_val *items = items_of(v, k, e);
    if (!items)
        return -1;
    if (k == K_COUNTER) {
        md_val *s = counter_sorted(items, e, depth);
        md_decref(items);
        if (!(items = s))
            return -1;
    }
    md_buf_printf(out, "%s(", names[k]);
    int rc = 0;
    bool empty = md_typeof(items) == MD_T_DICT ? md_dict_len(items) == 0 : md_list_len(items) == 0;
    if (k == K_DEFAULTDICT) {
        rc = md_val__repr(nargs(v) ? arg(v, 0) : md_none(), out, e, depth);
        md_buf_puts(out, ", ");
    }
    if (k == K_ARRAY) {
        md_val__repr(md_tuple_get(opq(v)->args, md_global_is(opq(v)->callable, "array", "array") ? 0 : 1),
                     out, e, depth);
        if (!empty)
            md_buf_puts(out, ", ");
    }
    char code = 0;
    shape_array(v, &code);
    if (rc == 0 && (!empty || k == K_DEFAULTDICT || k == K_DEQUE)) {
        if (k == K_ARRAY && (code == 'u' || code == 'w')) {
            md_buf text = MD_BUF_INIT;
            for (size_t i = 0; i < md_list_len(items); i++) {
                md_val *c = md_list_get(items, i);
                md_buf_append(&text, md_str_data(c), md_str_nbytes(c));
            }
            md_val *s = md_buf_failed(&text) ? NULL : md_str_new((const char *)text.data, text.len);
            md_buf_free(&text);
            rc = s ? md_val__repr(s, out, e, depth) : (md_val__nomem(e), -1);
            md_decref(s);
        } else {
            rc = md_val__repr(items, out, e, depth);
        }
    }
    int64_t maxlen;
    if (rc == 0 && k == K_DEQUE && nargs(v) == 2 && md_int_to_i64(arg(v, 1), &maxlen) == 0)
        md_buf_printf(out, ", maxlen=%lld", (long long)maxlen);
    md_decref(items);
    return rc < 0 ? -1 : md_buf_putc(out, ')');
}

int md_std__repr(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    std_kind k = kind_of(v);
    switch (k) {
    case K_NONE: return 1;
    case K_DECIMAL: case K_FRACTION: return number_text(v, k, true, out, e);
    case K_UUID:
        md_buf_puts(out, "UUID('");
        uuid_text(v, out);
        return md_buf_puts(out, "')");
    case K_DATE: case K_TIME: case K_DATETIME: return datetime_repr(v, k, out, e, depth);
    case K_TIMEDELTA: return timedelta_repr(v, out);
    case K_TIMEZONE: return timezone_repr(v, out, e, depth);
    case K_RANGE:
        md_buf_puts(out, "range(");
        md_val__repr(arg(v, 0), out, e, depth);
        md_buf_puts(out, ", ");
        md_val__repr(arg(v, 1), out, e, depth);
        int64_t step;
        if (md_int_to_i64(arg(v, 2), &step) < 0 || step != 1) {
            md_buf_puts(out, ", ");
            md_val__repr(arg(v, 2), out, e, depth);
        }
        return md_buf_putc(out, ')');
    default: return container_repr(v, k, out, e, depth);
    }
}

int md_std__str(const md_val *v, md_buf *out, md_pyerr *e)
{
    std_kind k = kind_of(v);
    switch (k) {
    case K_NONE: return 1;
    case K_DECIMAL: case K_FRACTION: return number_text(v, k, false, out, e);
    case K_UUID: return uuid_text(v, out);
    case K_DATE: case K_TIME: case K_DATETIME: return datetime_str(v, k, out);
    case K_TIMEDELTA: return timedelta_str(v, out);
    case K_TIMEZONE: return timezone_str(v, out);
    default: return 1;   /* str is repr, which marks recursion (value_repr.c) */
    }
}
