/* builtin_fns.c - the allow-listed builtin callables managerd runs itself
 * for map(), filter() and sort(key=): recognised by their pickled shape
 * (a global such as builtins.len, getattr(str, 'lower'), an
 * operator.itemgetter or attrgetter), evaluated here with Python's
 * results and messages. See builtin_fns.h. */
#include "core/types/builtin_fns.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "core/base/alloc.h"
#include "core/types/containers_util.h"

enum bf_kind {
    BF_NONE,
    BF_STR, BF_REPR, BF_INT, BF_FLOAT, BF_ABS, BF_LEN, BF_BOOL, BF_ORD, BF_TUPLE, BF_LIST,
    BF_LOWER, BF_UPPER, BF_CASEFOLD,
    BF_ITEMGETTER, BF_ATTRGETTER,
};

static const struct {
    const char *name;
    enum bf_kind kind;
} globals[] = {
    {"str", BF_STR}, {"repr", BF_REPR}, {"int", BF_INT},     {"float", BF_FLOAT},
    {"abs", BF_ABS}, {"len", BF_LEN},   {"bool", BF_BOOL},   {"ord", BF_ORD},
    {"tuple", BF_TUPLE}, {"list", BF_LIST},
};

static const struct {
    const char *name;
    enum bf_kind kind;
} str_methods[] = {
    {"lower", BF_LOWER}, {"upper", BF_UPPER}, {"casefold", BF_CASEFOLD},
};

/* An opaque REDUCE of module.name: its argument tuple, or NULL. */
static const md_val *reduce_args(const md_val *v, const char *module, const char *name)
{
    if (md_typeof(v) != MD_T_OPAQUE || md_opaque_kind_of(v) != MD_OPQ_REDUCE)
        return NULL;
    const md_val *fn = md_opaque_callable(v);
    if (md_typeof(fn) != MD_T_GLOBAL || !md_global_is(fn, module, name))
        return NULL;
    const md_val *args = md_opaque_args(v);
    return md_typeof(args) == MD_T_TUPLE ? args : NULL;
}

static bool all_str(const md_val *t)
{
    for (size_t i = 0; i < md_tuple_len(t); i++)
        if (md_typeof(md_tuple_get(t, i)) != MD_T_STR)
            return false;
    return md_tuple_len(t) > 0;
}

/* Which builtin fn is; *args gets the getter's tuple for the getters. */
static enum bf_kind classify(const md_val *fn, const md_val **args)
{
    *args = NULL;
    if (md_typeof(fn) == MD_T_GLOBAL && strcmp(md_global_module(fn), "builtins") == 0) {
        for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
            if (strcmp(md_global_name(fn), globals[i].name) == 0)
                return globals[i].kind;
        return BF_NONE;
    }
    const md_val *a;
    if ((a = reduce_args(fn, "builtins", "getattr")) && md_tuple_len(a) == 2 &&
        md_typeof(md_tuple_get(a, 0)) == MD_T_GLOBAL &&
        md_global_is(md_tuple_get(a, 0), "builtins", "str") &&
        md_typeof(md_tuple_get(a, 1)) == MD_T_STR) {
        for (size_t i = 0; i < sizeof str_methods / sizeof str_methods[0]; i++)
            if (md_str_eq_cstr(md_tuple_get(a, 1), str_methods[i].name))
                return str_methods[i].kind;
        return BF_NONE;
    }
    if ((a = reduce_args(fn, "operator", "itemgetter")) && md_tuple_len(a) > 0) {
        *args = a;
        return BF_ITEMGETTER;
    }
    if ((a = reduce_args(fn, "operator", "attrgetter")) && all_str(a)) {
        *args = a;
        return BF_ATTRGETTER;
    }
    return BF_NONE;
}

/* The name of a callable for messages: module.qualname of a global, the
 * class of an object. */
static void callable_name(const md_val *fn, char *out, size_t n)
{
    const md_val *g = fn;
    if (md_typeof(fn) == MD_T_OPAQUE && md_typeof(md_opaque_callable(fn)) == MD_T_GLOBAL)
        g = md_opaque_callable(fn);
    if (md_typeof(g) == MD_T_GLOBAL)
        snprintf(out, n, "%s.%s%s", md_global_module(g), md_global_name(g), g == fn ? "" : "(...)");
    else
        md_val_short_repr(fn, out, n, " object");
}

int md_bf_check(const md_val *fn, const char *who, md_pyerr *e)
{
    const md_val *args;
    if (classify(fn, &args) != BF_NONE)
        return 0;
    char name[160];
    callable_name(fn, name, sizeof name);
    md_pyerr_set(e, "TypeError",
                 "%s with %s is not supported by managerd: the server never runs client code, "
                 "only builtins such as str, int, float, abs, len, str.lower and "
                 "operator.itemgetter/attrgetter",
                 who, name);
    return -1;
}

/* ====================================================================== */
/* Truth, numbers                                                          */
/* ====================================================================== */

/* The sized containers among opaque values (range, deque, array.array,
 * OrderedDict, Counter, defaultdict) are false when empty; anything
 * else, lazy iterators included, is true as a plain object is. */
static bool opaque_truth(const md_val *v)
{
    static const char *const sized[][2] = {
        {"builtins", "range"}, {"collections", "deque"}, {"array", "array"},
        {"array", "_array_reconstructor"},
    };
    const md_val *fn = md_opaque_callable(v), *dict, *pairs;
    bool is_sized = md_cu_mapping(v, &dict, &pairs);
    for (size_t i = 0; !is_sized && i < sizeof sized / sizeof sized[0]; i++)
        is_sized = md_typeof(fn) == MD_T_GLOBAL && md_global_is(fn, sized[i][0], sized[i][1]);
    if (!is_sized)
        return true;
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *items = md_cu_items(v, &e);
    bool truth = !items || md_list_len(items) > 0; /* too long to list: not empty */
    md_decref(items);
    return truth;
}

bool md_bf_truth(const md_val *v)
{
    switch (md_typeof(v)) {
    case MD_T_NONE: return false;
    case MD_T_BOOL: return md_bool_get(v);
    case MD_T_INT: return md_int_sign(v) != 0;
    case MD_T_FLOAT: return md_float_get(v) != 0.0;
    case MD_T_COMPLEX: return md_complex_real(v) != 0.0 || md_complex_imag(v) != 0.0;
    case MD_T_STR: return md_str_nbytes(v) != 0;
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: return md_bytes_len(v) != 0;
    case MD_T_TUPLE: return md_tuple_len(v) != 0;
    case MD_T_LIST: return md_list_len(v) != 0;
    case MD_T_DICT: return md_dict_len(v) != 0;
    case MD_T_SET:
    case MD_T_FROZENSET: return md_set_len(v) != 0;
    case MD_T_OPAQUE: return opaque_truth(v);
    default: return true;
    }
}

static md_val *nomem(md_pyerr *e)
{
    md_pyerr_set(e, "MemoryError", "out of memory");
    return NULL;
}

static md_val *checked(md_val *v, md_pyerr *e)
{
    return v ? v : nomem(e);
}

/* An int from the decimal text of an integral double (any size). */
static md_val *int_from_double(double d, md_pyerr *e)
{
    if (isnan(d)) {
        md_pyerr_set(e, "ValueError", "cannot convert float NaN to integer");
        return NULL;
    }
    if (isinf(d)) {
        md_pyerr_set(e, "OverflowError", "cannot convert float infinity to integer");
        return NULL;
    }
    d = trunc(d);
    if (fabs(d) < 9.2e18)
        return checked(md_int_from_i64((int64_t)d), e);
    char text[400];
    int n = snprintf(text, sizeof text, "%.0f", d);
    return checked(md_int_from_decimal(text, (size_t)n, false), e);
}

/* Python's int()/float() text rules: surrounding whitespace is ignored and
 * single underscores may separate digits. Copies the cleaned text to out
 * (NUL-terminated); false if an underscore is misplaced. */
static bool clean_number(const char *s, size_t n, char *out, size_t cap)
{
    while (n && isspace((unsigned char)s[0]))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n >= cap)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (i == 0 || i + 1 == n || !isdigit((unsigned char)s[i - 1]) ||
                !isdigit((unsigned char)s[i + 1]))
                return false;
            continue;
        }
        out[k++] = s[i];
    }
    out[k] = 0;
    return true;
}

/* ValueError "what: 'text'" for text int() or float() cannot read. */
static void bad_literal(const md_val *x, const char *what, md_pyerr *e)
{
    char shown[200];
    md_val_short_repr(x, shown, sizeof shown, " object");
    md_pyerr_set(e, "ValueError", "%s: %s", what, shown);
}

static md_val *bf_int(const md_val *x, md_pyerr *e)
{
    switch (md_typeof(x)) {
    case MD_T_BOOL: return md_int_from_i64(md_bool_get(x));
    case MD_T_INT: return md_incref((md_val *)x);
    case MD_T_FLOAT: return int_from_double(md_float_get(x), e);
    case MD_T_STR:
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: {
        bool is_str = md_typeof(x) == MD_T_STR;
        const char *s = is_str ? md_str_data(x) : (const char *)md_bytes_data(x);
        size_t n = is_str ? md_str_nbytes(x) : md_bytes_len(x);
        char *text = md_malloc(n + 1);
        if (!text)
            return nomem(e);
        md_val *v = NULL;
        if (clean_number(s, n, text, n + 1))
            v = md_int_from_decimal(text, strlen(text), false);
        md_free(text);
        if (!v)
            bad_literal(x, "invalid literal for int() with base 10", e);
        return v;
    }
    default:
        md_pyerr_set(e, "TypeError",
                     "int() argument must be a string, a bytes-like object or a real number, "
                     "not '%s'", md_type_name(x));
        return NULL;
    }
}

/* float(text): decimal, inf, infinity, nan (any case, signed); never the
 * hexadecimal strtod also reads. */
static bool parse_float_text(const char *text, double *out)
{
    if (strchr(text, 'x') || strchr(text, 'X') || strchr(text, 'p') || strchr(text, 'P'))
        return false;
    const char *body = text + (text[0] == '+' || text[0] == '-');
    if (strcasecmp(body, "nan") != 0 && strcasecmp(body, "inf") != 0 &&
        strcasecmp(body, "infinity") != 0 && !isdigit((unsigned char)body[0]) && body[0] != '.')
        return false;
    char *end;
    *out = strtod(text, &end);
    return end != text && *end == 0;
}

static md_val *bf_float(const md_val *x, md_pyerr *e)
{
    double d;
    switch (md_typeof(x)) {
    case MD_T_FLOAT: return md_incref((md_val *)x);
    case MD_T_BOOL:
    case MD_T_INT:
        if (md_cu_int_to_double(x, &d, e) < 0)
            return NULL;
        return checked(md_float_new(d), e);
    case MD_T_STR: {
        size_t n = md_str_nbytes(x);
        char *text = md_malloc(n + 1);
        if (!text)
            return nomem(e);
        bool ok = clean_number(md_str_data(x), n, text, n + 1) && parse_float_text(text, &d);
        md_free(text);
        if (!ok) {
            bad_literal(x, "could not convert string to float", e);
            return NULL;
        }
        return checked(md_float_new(d), e);
    }
    default:
        md_pyerr_set(e, "TypeError", "float() argument must be a string or a real number, not '%s'",
                     md_type_name(x));
        return NULL;
    }
}

static md_val *bf_abs(const md_val *x, md_pyerr *e)
{
    int64_t i;
    switch (md_typeof(x)) {
    case MD_T_BOOL: return md_int_from_i64(md_bool_get(x));
    case MD_T_INT:
        if (md_int_sign(x) >= 0)
            return md_incref((md_val *)x);
        if (md_int_to_i64(x, &i) == 0 && i != INT64_MIN)
            return checked(md_int_from_i64(-i), e);
        {
            md_buf b = MD_BUF_INIT;
            md_val *v = md_int_to_decimal(x, &b) == 0 && !md_buf_failed(&b)
                            ? md_int_from_decimal((const char *)b.data + 1, b.len - 1, false)
                            : NULL;
            md_buf_free(&b);
            return checked(v, e);
        }
    case MD_T_FLOAT: return checked(md_float_new(fabs(md_float_get(x))), e);
    case MD_T_COMPLEX:
        return checked(md_float_new(hypot(md_complex_real(x), md_complex_imag(x))), e);
    default:
        md_pyerr_set(e, "TypeError", "bad operand type for abs(): '%s'", md_type_name(x));
        return NULL;
    }
}

static md_val *bf_len(const md_val *x, md_pyerr *e)
{
    size_t n;
    switch (md_typeof(x)) {
    case MD_T_STR: n = md_str_len(x); break;
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: n = md_bytes_len(x); break;
    case MD_T_TUPLE: n = md_tuple_len(x); break;
    case MD_T_LIST: n = md_list_len(x); break;
    case MD_T_DICT: n = md_dict_len(x); break;
    case MD_T_SET:
    case MD_T_FROZENSET: n = md_set_len(x); break;
    case MD_T_OPAQUE: {
        /* the sized builtins managerd reads: array.array, OrderedDict, ... */
        md_pyerr ignored;
        md_pyerr_clear(&ignored);
        md_val *items = md_cu_items(x, &ignored);
        if (items) {
            n = md_list_len(items);
            md_decref(items);
            break;
        }
    }
        /* fall through */
    default:
        md_pyerr_set(e, "TypeError", "object of type '%s' has no len()", md_type_name(x));
        return NULL;
    }
    return checked(md_int_from_u64(n), e);
}

static md_val *bf_ord(const md_val *x, md_pyerr *e)
{
    if (md_typeof(x) == MD_T_STR && md_str_len(x) == 1) {
        size_t i = 0;
        uint32_t cp = md_cu_utf8_next((const uint8_t *)md_str_data(x), md_str_nbytes(x), &i);
        return checked(md_int_from_i64(cp), e);
    }
    if (md_typeof(x) == MD_T_STR)
        md_pyerr_set(e, "TypeError", "ord() expected a character, but string of length %zu found",
                     md_str_len(x));
    else if ((md_typeof(x) == MD_T_BYTES || md_typeof(x) == MD_T_BYTEARRAY) && md_bytes_len(x) == 1)
        return checked(md_int_from_i64(md_bytes_data(x)[0]), e);
    else
        md_pyerr_set(e, "TypeError", "ord() expected string of length 1, but %s found",
                     md_type_name(x));
    return NULL;
}

static md_val *bf_sequence(const md_val *x, bool as_tuple, md_pyerr *e)
{
    md_val *items = md_cu_items(x, e);
    if (!items || !as_tuple)
        return items;
    md_val *t = md_tuple_new(md_list_len(items));
    for (size_t i = 0; t && i < md_list_len(items); i++)
        md_tuple_set_steal(t, i, md_incref(md_list_get(items, i)));
    md_decref(items);
    return checked(t, e);
}

/* ====================================================================== */
/* str and repr, str.lower/upper/casefold                                 */
/* ====================================================================== */

static md_val *text_of(const md_val *x, bool repr, md_pyerr *e)
{
    md_buf b = MD_BUF_INIT;
    int rc = repr ? md_val_repr(x, &b, e) : md_val_str(x, &b, e);
    md_val *v = NULL;
    if (rc == 0 && !md_buf_failed(&b))
        v = md_str_new(b.data ? (const char *)b.data : "", b.len);
    else if (rc == 0)
        nomem(e);
    md_buf_free(&b);
    return v;
}

/* glibc's C.UTF-8 locale carries Unicode's simple case mappings. */
static locale_t utf8_locale(void)
{
    static locale_t loc;
    static bool tried;
    if (!tried) {
        tried = true;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    return loc;
}

static uint32_t map_case(uint32_t cp, enum bf_kind kind)
{
    if (cp < 0x80)
        return kind == BF_UPPER ? (uint32_t)toupper((int)cp) : (uint32_t)tolower((int)cp);
    locale_t loc = utf8_locale();
    if (!loc)
        return cp;
    return kind == BF_UPPER ? (uint32_t)towupper_l((wint_t)cp, loc)
                            : (uint32_t)towlower_l((wint_t)cp, loc);
}

static int put_cp(md_buf *b, uint32_t cp)
{
    char out[4];
    return md_buf_append(b, out, md_cu_utf8_put(cp, out));
}

/* Python's full mappings differ from the simple ones for a few letters;
 * the sharp s is the one that matters to sorting words. */
static int put_mapped(md_buf *b, uint32_t cp, enum bf_kind kind)
{
    if (cp == 0xDF && kind != BF_LOWER)
        return md_buf_puts(b, kind == BF_UPPER ? "SS" : "ss");
    return put_cp(b, map_case(cp, kind));
}

static md_val *bf_case(const md_val *x, enum bf_kind kind, md_pyerr *e)
{
    if (md_typeof(x) != MD_T_STR) {
        static const char *names[] = {[BF_LOWER] = "lower", [BF_UPPER] = "upper",
                                      [BF_CASEFOLD] = "casefold"};
        md_pyerr_set(e, "TypeError", "descriptor '%s' for 'str' objects doesn't apply to a '%s' object",
                     names[kind], md_type_name(x));
        return NULL;
    }
    const uint8_t *s = (const uint8_t *)md_str_data(x);
    size_t n = md_str_nbytes(x);
    md_buf b = MD_BUF_INIT;
    for (size_t i = 0; i < n;)
        if (put_mapped(&b, md_cu_utf8_next(s, n, &i), kind) < 0)
            break;
    md_val *v = md_buf_failed(&b) ? NULL : md_str_new(b.data ? (const char *)b.data : "", b.len);
    md_buf_free(&b);
    return checked(v, e);
}

/* ====================================================================== */
/* operator.itemgetter, operator.attrgetter                               */
/* ====================================================================== */

static md_val *index_seq(const md_val *x, const md_val *key, size_t len, md_pyerr *e)
{
    const char *tname = md_type_name(x);
    int64_t i;
    int r = md_cu_int(key, &i);
    if (r < 0) {
        md_pyerr_set(e, "TypeError", "%s indices must be integers%s, not %s", tname,
                     md_typeof(x) == MD_T_STR ? "" : " or slices", md_type_name(key));
        return NULL;
    }
    if (r == 0 && i < 0)
        i += (int64_t)len;
    if (r != 0 || i < 0 || i >= (int64_t)len) {
        md_pyerr_set(e, "IndexError", "%s index out of range", tname);
        return NULL;
    }
    switch (md_typeof(x)) {
    case MD_T_LIST: return md_incref(md_list_get(x, (size_t)i));
    case MD_T_TUPLE: return md_incref(md_tuple_get(x, (size_t)i));
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: return checked(md_int_from_i64(md_bytes_data(x)[i]), e);
    default: {
        md_val *chars = md_cu_items(x, e);
        md_val *c = chars ? md_incref(md_list_get(chars, (size_t)i)) : NULL;
        md_decref(chars);
        return c;
    }
    }
}

/* The key of the last KeyError, which an md_pyerr cannot carry. */
static md_val *missing_key;

int md_bf_raise(md_call *call, const md_pyerr *e)
{
    if (e->type && strcmp(e->type, "KeyError") == 0 && missing_key)
        md_cu_raise_key(call, missing_key);
    else
        md_raise_pyerr(call, e);
    md_decref(missing_key);
    missing_key = NULL;
    return MD_CALL_DONE;
}

static md_val *lookup_key(const md_val *dict, const md_val *pairs, const md_val *key, md_pyerr *e)
{
    if (dict) {
        md_val *v = md_dict_get(dict, (md_val *)key, e);
        if (v || e->type)
            return v ? md_incref(v) : NULL;
    }
    for (size_t i = 0; pairs && i < md_list_len(pairs); i++) {
        md_val *p = md_list_get(pairs, i);
        int eq = md_val_eq(md_tuple_get(p, 0), key, e);
        if (eq < 0)
            return NULL;
        if (eq)
            return md_incref(md_tuple_get(p, 1));
    }
    char shown[200];
    md_val_short_repr(key, shown, sizeof shown, " object");
    md_pyerr_set(e, "KeyError", "%s", shown);
    md_decref(missing_key);
    missing_key = md_incref((md_val *)key);
    return NULL;
}

static md_val *get_item(const md_val *x, const md_val *key, md_pyerr *e)
{
    const md_val *dict, *pairs;
    switch (md_typeof(x)) {
    case MD_T_LIST: return index_seq(x, key, md_list_len(x), e);
    case MD_T_TUPLE: return index_seq(x, key, md_tuple_len(x), e);
    case MD_T_STR: return index_seq(x, key, md_str_len(x), e);
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: return index_seq(x, key, md_bytes_len(x), e);
    default:
        if (md_cu_mapping(x, &dict, &pairs))
            return lookup_key(dict, pairs, key, e);
        md_pyerr_set(e, "TypeError", "'%s' object is not subscriptable", md_type_name(x));
        return NULL;
    }
}

/* The instance attributes of an opaque object: its state dict, or the
 * two dicts of a (dict, slots) state. */
static md_val *attribute(const md_val *x, const char *name, size_t n, md_pyerr *e)
{
    const md_val *state = md_typeof(x) == MD_T_OPAQUE ? md_opaque_state(x) : NULL;
    const md_val *dicts[2] = {state, NULL};
    if (state && md_typeof(state) == MD_T_TUPLE && md_tuple_len(state) == 2) {
        dicts[0] = md_tuple_get(state, 0);
        dicts[1] = md_tuple_get(state, 1);
    }
    md_val *key = md_str_new(name, n);
    if (!key)
        return nomem(e);
    md_val *v = NULL;
    for (size_t i = 0; i < 2 && !v; i++)
        if (dicts[i] && md_typeof(dicts[i]) == MD_T_DICT)
            v = md_dict_get(dicts[i], key, e);
    md_decref(key);
    if (v)
        return md_incref(v);
    if (!e->type)
        md_pyerr_set(e, "AttributeError", "'%s' object has no attribute '%.*s'", md_type_name(x),
                     (int)n, name);
    return NULL;
}

/* One dotted name, attribute by attribute. */
static md_val *get_attr_path(const md_val *x, const md_val *path, md_pyerr *e)
{
    const char *s = md_str_data(path);
    md_val *cur = md_incref((md_val *)x);
    while (cur) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        md_val *next = attribute(cur, s, n, e);
        md_decref(cur);
        cur = next;
        if (!dot)
            break;
        s = dot + 1;
    }
    return cur;
}

/* One getter over x: a single item, or a tuple of several. */
static md_val *bf_getter(const md_val *x, const md_val *names, bool attr, md_pyerr *e)
{
    size_t n = md_tuple_len(names);
    if (n == 1)
        return attr ? get_attr_path(x, md_tuple_get(names, 0), e)
                    : get_item(x, md_tuple_get(names, 0), e);
    md_val *t = md_tuple_new(n);
    if (!t)
        return nomem(e);
    for (size_t i = 0; i < n; i++) {
        md_val *v = attr ? get_attr_path(x, md_tuple_get(names, i), e)
                         : get_item(x, md_tuple_get(names, i), e);
        if (!v) {
            md_decref(t);
            return NULL;
        }
        md_tuple_set_steal(t, i, v);
    }
    return t;
}

/* ====================================================================== */
/* Calling                                                                 */
/* ====================================================================== */

static const char *kind_name(enum bf_kind kind)
{
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
        if (globals[i].kind == kind)
            return globals[i].name;
    return kind == BF_ITEMGETTER ? "itemgetter" : kind == BF_ATTRGETTER ? "attrgetter" : "str";
}

md_val *md_bf_call(const md_val *fn, md_val *const *args, size_t nargs, md_pyerr *e)
{
    const md_val *getter;
    enum bf_kind kind = classify(fn, &getter);
    if (kind == BF_NONE) {
        md_bf_check(fn, "a call", e);
        return NULL;
    }
    if (nargs != 1) {
        if (kind >= BF_LOWER && kind <= BF_CASEFOLD)
            md_pyerr_set(e, "TypeError", "str.%s() takes no arguments (%zu given)",
                         kind == BF_LOWER ? "lower" : kind == BF_UPPER ? "upper" : "casefold",
                         nargs ? nargs - 1 : 0);
        else
            md_pyerr_set(e, "TypeError", "%s() takes exactly one argument (%zu given)",
                         kind_name(kind), nargs);
        return NULL;
    }
    const md_val *x = args[0];
    switch (kind) {
    case BF_STR: return text_of(x, false, e);
    case BF_REPR: return text_of(x, true, e);
    case BF_INT: return bf_int(x, e);
    case BF_FLOAT: return bf_float(x, e);
    case BF_ABS: return bf_abs(x, e);
    case BF_LEN: return bf_len(x, e);
    case BF_BOOL: return md_bool(md_bf_truth(x));
    case BF_ORD: return bf_ord(x, e);
    case BF_TUPLE: return bf_sequence(x, true, e);
    case BF_LIST: return bf_sequence(x, false, e);
    case BF_LOWER:
    case BF_UPPER:
    case BF_CASEFOLD: return bf_case(x, kind, e);
    case BF_ITEMGETTER: return bf_getter(x, getter, false, e);
    case BF_ATTRGETTER: return bf_getter(x, getter, true, e);
    case BF_NONE: break;
    }
    return NULL;
}
