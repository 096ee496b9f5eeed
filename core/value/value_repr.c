/* value_repr.c - repr() and str() of values, exactly as Python 3.12
 * prints the builtin types (proxies ask the server for them).
 *
 * An instance of a class managerd does not know prints in Python's
 * default shape, '<module.Name object at 0x...>' (the value's own address
 * standing for id()); standard-library values print as Python prints them
 * (value_std.c); a global is shown as Python shows a class,
 * "<class 'module.name'>".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "core/value/value_impl.h"
#include "core/value/value_unicode.h"

static int repr(const md_val *v, md_buf *out, md_pyerr *e, int depth);

/* ======================================================================
 * float and complex
 * ====================================================================== */

/* The p-digit decimal next to digits[0..p) x 10^exp10 (one unit up or
 * down in the last digit), as "D.DDDe+X" text in buf. */
static void neighbour(const char *digits, int p, int exp10, int dir, char *buf)
{
    char d[20];
    memcpy(d, digits, (size_t)p);
    int i = p - 1;
    if (dir > 0) {
        while (i >= 0 && d[i] == '9')
            d[i--] = '0';
        if (i < 0) {          /* 9.99 -> 10.0: one more power of ten */
            d[0] = '1';
            exp10++;
        } else {
            d[i]++;
        }
    } else {
        while (i >= 0 && d[i] == '0')
            d[i--] = '9';
        d[i]--;
        if (d[0] == '0') {    /* 1.00 -> 0.999: one less power of ten */
            memset(d, '9', (size_t)p);
            exp10--;
        }
    }
    char *q = buf;
    *q++ = d[0];
    *q++ = '.';
    memcpy(q, d + 1, (size_t)p - 1);
    q += p - 1;
    sprintf(q, "e%d", exp10);
}

/* buf is %e text, D[.DDD]e[+-]XX: its digits (at most 17) into digits,
 * their count into *nd; returns the exponent. */
static int sci_parts(const char *buf, char *digits, size_t *nd)
{
    const char *q = buf;
    *nd = 0;
    for (; *q != 'e'; q++)
        if (*q != '.')
            digits[(*nd)++] = *q;
    return atoi(q + 1);
}

/* Shortest decimal digits that read back as d (d finite, > 0), as
 * "D.DDDe+X" in buf. The correctly rounded p-digit decimal is the answer
 * unless it misses d's rounding interval, which near a power of two is
 * lopsided: then its neighbour on the wide side may hit it, and that is
 * what Python's dtoa picks. */
static void shortest_digits(double d, char *buf, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            return;
        char digits[20];
        size_t nd;
        int exp10 = sci_parts(buf, digits, &nd);
        char alt[48];
        neighbour(digits, (int)nd, exp10, strtod(buf, NULL) < d ? 1 : -1, alt);
        if (strtod(alt, NULL) == d) {
            snprintf(buf, size, "%s", alt);
            return;
        }
    }
}

/* Python's float repr ('r' format): the shortest digits that read back
 * as d, fixed notation for decimal exponents -4..15, else 1e+16 style.
 * add_dot0 gives '1.0' rather than '1' (float repr; complex omits it).
 * sign forces a '+' on non-negative values. Returns the length. */
static __attribute__((noinline)) size_t format_double(double d, char *out,
                                                      bool add_dot0, bool sign)
{
    char *p = out;
    if (isnan(d))
        return (size_t)sprintf(out, "%snan", sign ? "+" : "");
    if (signbit(d))
        *p++ = '-';
    else if (sign)
        *p++ = '+';
    d = fabs(d);
    if (isinf(d))
        return (size_t)(p - out) + (size_t)sprintf(p, "inf");
    if (d == 0)
        return (size_t)(p - out) + (size_t)sprintf(p, add_dot0 ? "0.0" : "0");
    char buf[48];
    shortest_digits(d, buf, sizeof buf);
    char digits[20];
    size_t nd;
    int exp10 = sci_parts(buf, digits, &nd), decpt = exp10 + 1;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (decpt <= -4 || decpt > 16) {
        *p++ = digits[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, nd - 1);
            p += nd - 1;
        }
        p += sprintf(p, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -decpt; i++)
            *p++ = '0';
        memcpy(p, digits, nd);
        p += nd;
    } else if ((size_t)decpt >= nd) {
        memcpy(p, digits, nd);
        p += nd;
        for (size_t i = nd; i < (size_t)decpt; i++)
            *p++ = '0';
        if (add_dot0) {
            *p++ = '.';
            *p++ = '0';
        }
    } else {
        memcpy(p, digits, (size_t)decpt);
        p += decpt;
        *p++ = '.';
        memcpy(p, digits + decpt, nd - (size_t)decpt);
        p += nd - (size_t)decpt;
    }
    *p = 0;
    return (size_t)(p - out);
}

static __attribute__((noinline)) int repr_float(double d, md_buf *out)
{
    char text[48];
    return md_buf_append(out, text, format_double(d, text, true, false));
}

static __attribute__((noinline)) int repr_complex(const md_val *v, md_buf *out)
{
    char re[48], im[48];
    double x = md_complex_real(v), y = md_complex_imag(v);
    size_t ni;
    if (x == 0 && !signbit(x)) {
        ni = format_double(y, im, false, false);
        md_buf_append(out, im, ni);
        return md_buf_putc(out, 'j');
    }
    size_t nr = format_double(x, re, false, false);
    ni = format_double(y, im, false, true);
    md_buf_putc(out, '(');
    md_buf_append(out, re, nr);
    md_buf_append(out, im, ni);
    return md_buf_puts(out, "j)");
}

/* ======================================================================
 * str and bytes
 * ====================================================================== */

static bool is_printable(uint32_t cp)
{
    size_t lo = 0, hi = sizeof md_nonprintable / sizeof md_nonprintable[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < md_nonprintable[mid][0])
            hi = mid;
        else if (cp > md_nonprintable[mid][1])
            lo = mid + 1;
        else
            return false;
    }
    return true;
}

/* Decodes one code point of valid (surrogatepass) UTF-8; returns its
 * length. */
static size_t utf8_decode(const uint8_t *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xE0) {
        *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        return 2;
    }
    if (s[0] < 0xF0) {
        *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
          (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    return 4;
}

/* Python's choice: single quotes unless the text has ' and no ". */
static char pick_quote(const uint8_t *s, size_t n)
{
    bool single = memchr(s, '\'', n) != NULL, dbl = memchr(s, '"', n) != NULL;
    return single && !dbl ? '"' : '\'';
}

/* The escapes str and bytes share; 0 if c needs none of them. */
static const char *simple_escape(uint32_t c, char quote)
{
    switch (c) {
    case '\\': return "\\\\";
    case '\t': return "\\t";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\'': return quote == '\'' ? "\\'" : NULL;
    case '"': return quote == '"' ? "\\\"" : NULL;
    default: return NULL;
    }
}

static int repr_str(const md_val *v, md_buf *out)
{
    const uint8_t *s = md_val__sdata(v);
    size_t n = md_val__slen(v);
    char quote = pick_quote(s, n);
    md_buf_reserve(out, n + 2);
    md_buf_putc(out, (uint8_t)quote);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(s + i, &cp);
        const char *esc = simple_escape(cp, quote);
        if (esc)
            md_buf_puts(out, esc);
        else if (cp < 0x20 || cp == 0x7F)
            md_buf_printf(out, "\\x%02x", cp);
        else if (cp < 0x7F || is_printable(cp))
            md_buf_append(out, s + i, len);
        else if (cp <= 0xFF)
            md_buf_printf(out, "\\x%02x", cp);
        else if (cp <= 0xFFFF)
            md_buf_printf(out, "\\u%04x", cp);
        else
            md_buf_printf(out, "\\U%08x", cp);
        i += len;
    }
    return md_buf_putc(out, (uint8_t)quote);
}

/* bytearray's repr escapes ' even inside double quotes (a CPython quirk:
 * repr(bytearray(b"'")) is bytearray(b"\'")). */
static int repr_bytes(const uint8_t *s, size_t n, md_buf *out, bool escape_single)
{
    char quote = pick_quote(s, n);
    md_buf_reserve(out, n + 3);
    md_buf_putc(out, 'b');
    md_buf_putc(out, (uint8_t)quote);
    for (size_t i = 0; i < n; i++) {
        const char *esc = simple_escape(s[i], quote);
        if (!esc && escape_single && s[i] == '\'')
            esc = "\\'";
        if (esc)
            md_buf_puts(out, esc);
        else if (s[i] < 0x20 || s[i] >= 0x7F)
            md_buf_printf(out, "\\x%02x", s[i]);
        else
            md_buf_putc(out, s[i]);
    }
    return md_buf_putc(out, (uint8_t)quote);
}

/* ======================================================================
 * Containers
 * ====================================================================== */

static int repr_items(md_val *const *items, size_t n, md_buf *out, md_pyerr *e,
                      int depth)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            md_buf_puts(out, ", ");
        if (repr(items[i], out, e, depth) < 0)
            return -1;
    }
    return 0;
}

static int repr_dict(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    size_t pos = 0;
    md_val *k, *val;
    md_buf_putc(out, '{');
    for (bool first = true; md_dict_next(v, &pos, &k, &val); first = false) {
        if (!first)
            md_buf_puts(out, ", ");
        if (repr(k, out, e, depth) < 0)
            return -1;
        md_buf_puts(out, ": ");
        if (repr(val, out, e, depth) < 0)
            return -1;
    }
    return md_buf_putc(out, '}');
}

static int repr_set(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    bool frozen = v->type == MD_T_FROZENSET;
    if (md_set_len(v) == 0)
        return md_buf_puts(out, frozen ? "frozenset()" : "set()");
    if (frozen)
        md_buf_puts(out, "frozenset(");
    md_buf_putc(out, '{');
    size_t pos = 0;
    md_val *k;
    for (bool first = true; md_set_next(v, &pos, &k); first = false) {
        if (!first)
            md_buf_puts(out, ", ");
        if (repr(k, out, e, depth) < 0)
            return -1;
    }
    md_buf_putc(out, '}');
    return frozen ? md_buf_putc(out, ')') : 0;
}

/* Python's type name of an exception / opaque object's class. */
static const char *class_name(const md_val *v)
{
    const char *n = md_val__class_name(v, NULL);
    return n ? n : md_type_name(v);
}

static int repr_exc(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    md_val *args = md_exc_args(v);
    md_buf_puts(out, class_name(v));
    if (md_tuple_len(args) == 1) {
        md_buf_putc(out, '(');
        if (repr(md_tuple_get(args, 0), out, e, depth) < 0)
            return -1;
        return md_buf_putc(out, ')');
    }
    return repr(args, out, e, depth);
}

static int repr_global(const md_val *v, md_buf *out)
{
    const char *mod = md_global_module(v);
    if (strcmp(mod, "builtins") == 0 || strcmp(mod, "__builtin__") == 0)
        return md_buf_printf(out, "<class '%s'>", md_global_name(v));
    return md_buf_printf(out, "<class '%s.%s'>", mod, md_global_name(v));
}

/* A pickled proxy (RebuildProxy(func, Token(typeid, address, id), ...))
 * prints as the proxy itself prints in a CPython server:
 * <ListProxy object, typeid 'list' at 0x7d...>. 1 if v is not one. */
static int repr_proxy(const md_val *v, md_buf *out)
{
    md_val *cls = md_opaque_callable(v);
    md_val *args = md_opaque_args(v);
    if (md_typeof(cls) != MD_T_GLOBAL ||
        !md_global_is(cls, "multiprocessing.managers", "RebuildProxy") ||
        md_typeof(args) != MD_T_TUPLE || md_tuple_len(args) < 2)
        return 1;
    md_val *func = md_tuple_get(args, 0);
    md_val *token = md_tuple_get(args, 1);
    md_val *state = md_typeof(token) == MD_T_OPAQUE ? md_opaque_state(token) : NULL;
    if (md_typeof(func) != MD_T_GLOBAL || !state || md_typeof(state) != MD_T_TUPLE ||
        md_tuple_len(state) != 3 || md_typeof(md_tuple_get(state, 0)) != MD_T_STR ||
        md_typeof(md_tuple_get(state, 2)) != MD_T_STR)
        return 1;
    const char *typeid = md_str_data(md_tuple_get(state, 0));
    const char *ident = md_str_data(md_tuple_get(state, 2));
    if (strcmp(md_global_name(func), "AutoProxy") == 0)
        return md_buf_printf(out, "<AutoProxy[%s] object, typeid '%s' at 0x%s>", typeid, typeid, ident);
    return md_buf_printf(out, "<%s object, typeid '%s' at 0x%s>", md_global_name(func), typeid, ident);
}

/* Standard-library values print as Python prints them (value_std.c);
 * any other instance in Python's default shape, with its own address as
 * the stable stand-in for id(). */
static int repr_opaque(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    int rc = repr_proxy(v, out);
    if (rc <= 0)
        return rc;
    rc = md_std__repr(v, out, e, depth);
    if (rc <= 0)
        return rc;
    md_val *cls = md_val__class_global(v);
    if (!cls)
        return md_buf_printf(out, "<object object at %p>", (const void *)v);
    return md_buf_printf(out, "<%s.%s object at %p>", md_global_module(cls),
                         md_global_name(cls), (const void *)v);
}

/* What a container prints when met again inside itself. */
static const char *recursive_repr(const md_val *v)
{
    switch ((md_vtype)v->type) {
    case MD_T_LIST: return "[...]";
    case MD_T_TUPLE: return "(...)";
    case MD_T_DICT: return "{...}";
    case MD_T_SET: return "set(...)";
    case MD_T_FROZENSET: return "frozenset(...)";
    case MD_T_OPAQUE: return md_val_std_kind(v) == MD_STD_DEQUE ? "[...]" : "...";
    default: return "...";
    }
}

static int repr_container(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    md_val *mv = (md_val *)v;   /* only the cycle marker changes */
    if (v->flags & F_VISITING)
        return md_buf_puts(out, recursive_repr(v));
    if (depth >= MD_MAX_DEPTH || md_stack_exhausted())
        return md_val__too_deep(e, " while getting the repr of an object");
    /* () is immortal, holds nothing and is shared by every thread of a
     * client program: it needs no marker, and must not be written. */
    uint8_t mark = v->flags & F_IMMORTAL ? 0 : F_VISITING;
    if (mark)
        mv->flags |= mark;
    depth++;
    int rc;
    switch ((md_vtype)v->type) {
    case MD_T_TUPLE: {
        const md_tupleobj *t = (const md_tupleobj *)v;
        md_buf_putc(out, '(');
        rc = repr_items(t->items, t->len, out, e, depth);
        if (rc == 0)
            rc = md_buf_puts(out, t->len == 1 ? ",)" : ")");
        break;
    }
    case MD_T_LIST: {
        const md_listobj *l = (const md_listobj *)v;
        md_buf_putc(out, '[');
        rc = repr_items(l->items, l->len, out, e, depth);
        if (rc == 0)
            rc = md_buf_putc(out, ']');
        break;
    }
    case MD_T_DICT: rc = repr_dict(v, out, e, depth); break;
    case MD_T_SET: case MD_T_FROZENSET: rc = repr_set(v, out, e, depth); break;
    case MD_T_SLICE: {
        const md_sliceobj *s = (const md_sliceobj *)v;
        md_val *const parts[] = { s->start, s->stop, s->step };
        md_buf_puts(out, "slice(");
        rc = repr_items(parts, 3, out, e, depth);
        if (rc == 0)
            rc = md_buf_putc(out, ')');
        break;
    }
    case MD_T_EXC: rc = repr_exc(v, out, e, depth); break;
    default: rc = repr_opaque(v, out, e, depth); break;
    }
    if (mark)
        mv->flags &= (uint8_t)~mark;
    return rc;
}

/* Output bound: shared references let a 400-byte pickle stand for a
 * value whose repr has 2**60 items, so repr stops (MemoryError) once its
 * output passes the limit instead of running the server out of time and
 * memory. Thread-local: one client per thread in the client library. */
static MD_THREAD_LOCAL size_t repr_limit = MD_MAX_REPR_BYTES;
static MD_THREAD_LOCAL bool repr_hit_limit;

size_t md_val_repr_limit(size_t limit)
{
    size_t old = repr_limit;
    repr_limit = limit ? limit : MD_MAX_REPR_BYTES;
    repr_hit_limit = false;
    return old;
}

bool md_val_repr_truncated(void)
{
    return repr_hit_limit;
}

static int repr(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    if (out->len > repr_limit) {
        repr_hit_limit = true;
        if (e && !e->type)
            md_pyerr_set(e, "MemoryError", "repr longer than %zu bytes", repr_limit);
        return -1;
    }
    if (IS_SMALL(v))
        return md_buf_printf(out, "%lld", (long long)SMALL_GET(v));
    switch ((md_vtype)v->type) {
    case MD_T_NONE: return md_buf_puts(out, "None");
    case MD_T_BOOL: return md_buf_puts(out, md_bool_get(v) ? "True" : "False");
    case MD_T_INT: return md_int_to_decimal(v, out);
    case MD_T_FLOAT: return repr_float(md_float_get(v), out);
    case MD_T_COMPLEX: return repr_complex(v, out);
    case MD_T_STR: return repr_str(v, out);
    case MD_T_BYTES: return repr_bytes(md_bytes_data(v), md_bytes_len(v), out, false);
    case MD_T_BYTEARRAY:
        md_buf_puts(out, "bytearray(");
        repr_bytes(md_bytes_data(v), md_bytes_len(v), out, true);
        return md_buf_putc(out, ')');
    case MD_T_GLOBAL: return repr_global(v, out);
    case MD_T_TUPLE:
        if (md_tuple_len(v) == 0)
            return md_buf_puts(out, "()");
        return repr_container(v, out, e, depth);
    default:
        return repr_container(v, out, e, depth);
    }
}

/* Runs f and turns a failed buffer into MemoryError. */
static int finish(int rc, md_buf *out, md_pyerr *e)
{
    if (rc < 0 && e && e->type)
        return -1;
    if (rc < 0 || md_buf_failed(out)) {
        md_val__nomem(e);
        return -1;
    }
    return 0;
}

int md_val__repr(const md_val *v, md_buf *out, md_pyerr *e, int depth)
{
    return repr(v, out, e, depth);
}

int md_val_repr(const md_val *v, md_buf *out, md_pyerr *e)
{
    md_pyerr_clear(e);
    return finish(repr(v, out, e, 0), out, e);
}

void md_val_short_repr(const md_val *v, char *out, size_t n, const char *failed_suffix)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    if (md_val_repr(v, &b, &e) < 0 || md_buf_failed(&b))
        snprintf(out, n, "<%s%s>", md_type_name(v), failed_suffix);
    else
        snprintf(out, n, "%.*s", (int)(b.len < n - 1 ? b.len : n - 1),
                 b.data ? (const char *)b.data : "");
    md_buf_free(&b);
}

/* str(exc): '' without args, str(arg) with one (repr(arg) for KeyError),
 * else the args tuple. */
static int str_exc(const md_val *v, md_buf *out, md_pyerr *e)
{
    md_val *args = md_exc_args(v), *cls = md_exc_class(v);
    size_t n = md_tuple_len(args);
    if (n == 0)
        return 0;
    if (n > 1)
        return repr(args, out, e, 0);
    md_val *arg = md_tuple_get(args, 0);
    if (cls && md_global_is(cls, "builtins", "KeyError"))
        return repr(arg, out, e, 0);
    if (!IS_SMALL(arg) && arg->type == MD_T_STR)
        return md_buf_append(out, md_val__sdata(arg), md_val__slen(arg));
    if (!IS_SMALL(arg) && arg->type == MD_T_EXC)
        return str_exc(arg, out, e);
    return repr(arg, out, e, 0);
}

int md_val_str(const md_val *v, md_buf *out, md_pyerr *e)
{
    md_pyerr_clear(e);
    int rc;
    if (!IS_SMALL(v) && v->type == MD_T_STR)
        rc = md_buf_append(out, md_val__sdata(v), md_val__slen(v));
    else if (!IS_SMALL(v) && v->type == MD_T_EXC)
        rc = str_exc(v, out, e);
    else if (!IS_SMALL(v) && v->type == MD_T_OPAQUE && (rc = md_std__str(v, out, e)) <= 0)
        ;
    else
        rc = repr(v, out, e, 0);
    return finish(rc, out, e);
}
