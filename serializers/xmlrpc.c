/* xmlrpc.c - XML-RPC values both ways (see xmlrpc.h). */
#include "serializers/xmlrpc.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/base/ptrmap.h"
#include "core/protocol/protocol.h"

/* ====================================================================== */
/* Decoding                                                                */
/* ====================================================================== */

typedef struct xdec {
    const md_codec_limits *lim;
    md_codec_err *err;
    size_t depth;
} xdec;

static int xfail(xdec *d, int code, const xmlNode *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int xfail(xdec *d, int code, const xmlNode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err->msg, sizeof d->err->msg, fmt, ap);
    va_end(ap);
    d->err->code = code;
    d->err->offset = at ? (size_t)xmlGetLineNo(at) : 0;
    d->err->malformed = false;
    return code;
}

static bool is_elem(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The next element sibling, skipping whitespace and comments; text that
 * is not whitespace is an error reported through *bad. */
static xmlNode *next_elem(xmlNode *n, bool *bad)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            return n;
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            for (const xmlChar *p = n->content; p && *p; p++)
                if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                    *bad = true;
        }
    }
    return NULL;
}

static xmlNode *first_elem(xmlNode *parent, bool *bad)
{
    return next_elem(parent->children, bad);
}

/* Concatenated text of an element (entities already resolved by libxml2;
 * there are none besides the predefined five since DTDs are refused). */
static char *elem_text(const xmlNode *n, size_t *len)
{
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return NULL;
    *len = strlen((const char *)t);
    return (char *)t;
}

static md_val *decode_value(xdec *d, xmlNode *value);

static md_val *decode_int(xdec *d, xmlNode *n, const char *text, size_t len)
{
    /* Python's int() of the text: surrounding whitespace allowed. */
    while (len && (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\n' || text[len - 1] == '\r' ||
                   text[len - 1] == '\t'))
        len--;
    if (len > MD_PICKLE_MAX_INT_BYTES) {
        xfail(d, MD_ELIMIT, n, "integer of %zu digits is over the limit", len);
        return NULL;
    }
    md_val *v = md_int_from_decimal(text, len, false);
    if (!v)
        xfail(d, MD_EPROTO, n, "bad integer '%.40s'", text);
    return v;
}

static md_val *decode_double(xdec *d, xmlNode *n, const char *text)
{
    char *end;
    double x = strtod(text, &end);
    while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
        end++;
    if (end == text || *end) {
        xfail(d, MD_EPROTO, n, "bad double '%.40s'", text);
        return NULL;
    }
    return md_float_new(x);
}

static md_val *decode_base64(xdec *d, xmlNode *n, const char *text, size_t len)
{
    size_t cap = len / 4 * 3 + 3;
    uint8_t *bin = md_malloc(cap);
    size_t out_len = 0;
    if (!bin) {
        xfail(d, MD_ENOMEM, n, "out of memory");
        return NULL;
    }
    if (sodium_base642bin(bin, cap, text, len, " \t\r\n", &out_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        md_free(bin);
        xfail(d, MD_EPROTO, n, "bad base64 data");
        return NULL;
    }
    md_val *v = md_bytes_new(bin, out_len);
    md_free(bin);
    return v;
}

/* dateTime.iso8601 has no Python builtin type: it travels as an
 * xmlrpc.client.DateTime, which is what a Python xmlrpclib client gets
 * too. Kept as that opaque object so it re-encodes as a dateTime. */
static md_val *decode_datetime(const char *text)
{
    md_val *cls = md_global_new("xmlrpc.client", "DateTime");
    md_val *s = md_str_from_cstr(text);
    md_val *args = cls && s ? md_tuple_pack(1, s) : NULL;
    md_val *v = args ? md_opaque_new(MD_OPQ_REDUCE, cls, args) : NULL;
    md_decref(cls);
    md_decref(s);
    md_decref(args);
    return v;
}

/* The values under parent (<data> or <params>, named by what) as a list:
 * each child of a <data> is a <value>, each child of <params> a <param>
 * holding one <value>. */
static md_val *decode_values(xdec *d, xmlNode *parent, const char *what)
{
    bool params = strcmp(what, "params") == 0;
    md_val *list = md_list_new(0);
    bool bad = false;
    for (xmlNode *c = list ? first_elem(parent, &bad) : NULL; c; c = next_elem(c->next, &bad)) {
        xmlNode *v = c;
        if (params) {
            v = is_elem(c, "param") ? first_elem(c, &bad) : NULL;
            if (!is_elem(v, "value") || next_elem(v->next, &bad)) {
                md_decref(list);
                xfail(d, MD_EPROTO, c, "<params> must hold <param><value>...</value></param>");
                return NULL;
            }
        } else if (!is_elem(c, "value")) {
            md_decref(list);
            xfail(d, MD_EPROTO, c, "unexpected <%s> in <data>", (const char *)c->name);
            return NULL;
        }
        md_val *item = decode_value(d, v);
        if (!item || md_list_append_steal(list, item) < 0) {
            md_decref(list);
            return NULL;
        }
    }
    if (bad) {
        md_decref(list);
        xfail(d, MD_EPROTO, parent, "text inside <%s>", what);
        return NULL;
    }
    return list;
}

static md_val *decode_array(xdec *d, xmlNode *n)
{
    bool bad = false;
    xmlNode *data = first_elem(n, &bad);
    if (!is_elem(data, "data") || bad) {
        xfail(d, MD_EPROTO, n, "<array> must hold one <data>");
        return NULL;
    }
    return decode_values(d, data, "data");
}

static md_val *decode_member(xdec *d, xmlNode *m, md_val *dict)
{
    bool bad = false;
    xmlNode *name = first_elem(m, &bad);
    xmlNode *value = name ? next_elem(name->next, &bad) : NULL;
    if (!is_elem(name, "name") || !is_elem(value, "value") || next_elem(value->next, &bad) || bad) {
        xfail(d, MD_EPROTO, m, "<member> must hold <name> and <value>");
        return NULL;
    }
    size_t len;
    char *text = elem_text(name, &len);
    md_val *key = text ? md_str_new(text, len) : NULL;
    xmlFree(text);
    if (!key) {
        xfail(d, MD_EPROTO, name, "bad member name");
        return NULL;
    }
    md_val *v = decode_value(d, value);
    md_pyerr e;
    md_pyerr_clear(&e);
    int rc = v ? md_dict_set(dict, key, v, &e) : -1;
    md_decref(key);
    md_decref(v);
    return rc < 0 ? NULL : dict;
}

static md_val *decode_struct(xdec *d, xmlNode *n)
{
    md_val *dict = md_dict_new();
    bool bad = false;
    for (xmlNode *m = dict ? first_elem(n, &bad) : NULL; m; m = next_elem(m->next, &bad)) {
        if (!is_elem(m, "member") || !decode_member(d, m, dict)) {
            if (!d->err->msg[0])
                xfail(d, MD_EPROTO, m, "unexpected <%s> in <struct>", (const char *)m->name);
            md_decref(dict);
            return NULL;
        }
    }
    if (bad) {
        md_decref(dict);
        xfail(d, MD_EPROTO, n, "text inside <struct>");
        return NULL;
    }
    return dict;
}

static md_val *decode_typed(xdec *d, xmlNode *t)
{
    const char *name = (const char *)t->name;
    if (strcmp(name, "array") == 0)
        return decode_array(d, t);
    if (strcmp(name, "struct") == 0)
        return decode_struct(d, t);
    if (strcmp(name, "nil") == 0)
        return md_none();
    size_t len;
    char *text = elem_text(t, &len);
    if (!text) {
        xfail(d, MD_ENOMEM, t, "out of memory");
        return NULL;
    }
    md_val *v = NULL;
    if (!strcmp(name, "int") || !strcmp(name, "i4") || !strcmp(name, "i8") ||
        !strcmp(name, "i1") || !strcmp(name, "i2") || !strcmp(name, "biginteger"))
        v = decode_int(d, t, text, len);
    else if (!strcmp(name, "boolean")) {
        if (!strcmp(text, "0") || !strcmp(text, "1"))
            v = md_bool(text[0] == '1');
        else
            xfail(d, MD_EPROTO, t, "bad boolean value '%.20s'", text);
    } else if (!strcmp(name, "double") || !strcmp(name, "float"))
        v = decode_double(d, t, text);
    else if (!strcmp(name, "string")) {
        v = md_str_new(text, len);
        if (!v)
            xfail(d, MD_EPROTO, t, "string is not valid UTF-8");
    } else if (!strcmp(name, "base64"))
        v = decode_base64(d, t, text, len);
    else if (!strcmp(name, "dateTime.iso8601"))
        v = decode_datetime(text);
    else
        xfail(d, MD_EPROTO, t, "unknown XML-RPC type <%s>", name);
    xmlFree(text);
    return v;
}

static md_val *decode_value(xdec *d, xmlNode *value)
{
    if (++d->depth > d->lim->max_depth) {
        xfail(d, MD_EDEPTH, value, "values nested deeper than %zu", d->lim->max_depth);
        return NULL;
    }
    bool bad = false;
    xmlNode *t = first_elem(value, &bad);
    md_val *v;
    if (!t) {
        /* <value>text</value>: a string */
        size_t len;
        char *text = elem_text(value, &len);
        v = text ? md_str_new(text, len) : NULL;
        xmlFree(text);
        if (!v)
            xfail(d, MD_EPROTO, value, "bad string value");
    } else if (bad || next_elem(t->next, &bad)) {
        xfail(d, MD_EPROTO, value, "<value> must hold one typed element");
        v = NULL;
    } else {
        v = decode_typed(d, t);
    }
    d->depth--;
    return v;
}

static xmlDoc *parse(const uint8_t *data, size_t n, xdec *d)
{
    if (n > d->lim->max_bytes || n > INT32_MAX) {
        xfail(d, MD_ETOOBIG, NULL, "XML message of %zu bytes is over the limit", n);
        return NULL;
    }
    /* No network, no entity substitution (no XML_PARSE_NOENT), no DTD
     * loading; libxml2 keeps its default depth limit. */
    xmlDoc *doc = xmlReadMemory((const char *)data, (int)n, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        xfail(d, MD_EPROTO, NULL, "not well-formed XML%s%s", e && e->message ? ": " : "",
              e && e->message ? e->message : "");
        d->err->malformed = true;
        /* libxml2's messages end in a newline */
        size_t l = strlen(d->err->msg);
        if (l && d->err->msg[l - 1] == '\n')
            d->err->msg[l - 1] = 0;
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        xfail(d, MD_EPROTO, NULL, "XML with a DTD is refused");
        return NULL;
    }
    return doc;
}

/* The start of every decode: err cleared, the default limits when lim is
 * NULL, the document parsed (NULL: err says why). */
static xmlDoc *start(xdec *d, const uint8_t *data, size_t n, const md_codec_limits *lim,
                     md_codec_limits *dflt, md_codec_err *err)
{
    if (!lim) {
        md_codec_limits_default(dflt);
        lim = dflt;
    }
    memset(err, 0, sizeof *err);
    *d = (xdec){.lim = lim, .err = err};
    return parse(data, n, d);
}

/* <params><param><value>..</value></param>...</params>: the values as a
 * list. */
static md_val *decode_params(xdec *d, xmlNode *params)
{
    return decode_values(d, params, "params");
}

int md_xmlrpc_decode(const uint8_t *data, size_t n, const md_codec_limits *lim,
                     md_val **out, int *protocol, md_codec_err *err)
{
    md_codec_limits dflt;
    xdec d;
    *out = NULL;
    if (protocol)
        *protocol = 0;
    xmlDoc *doc = start(&d, data, n, lim, &dflt, err);
    if (!doc)
        return err->code;
    xmlNode *root = xmlDocGetRootElement(doc);
    md_val *list = is_elem(root, "params") ? decode_params(&d, root) : NULL;
    if (!list && !err->msg[0])
        xfail(&d, MD_EPROTO, root, "expected a <params> element");
    xmlFreeDoc(doc);
    if (!list)
        return err->code ? err->code : MD_EPROTO;
    if (md_list_len(list) != 1) {
        size_t k = md_list_len(list);
        md_decref(list);
        xfail(&d, MD_EPROTO, NULL, "expected exactly one <param>, got %zu", k);
        return MD_EPROTO;
    }
    *out = md_incref(md_list_get(list, 0));
    md_decref(list);
    return 0;
}

int md_xmlrpc_decode_call(const uint8_t *data, size_t n, const md_codec_limits *lim,
                          md_val **method, md_val **params, md_codec_err *err)
{
    md_codec_limits dflt;
    xdec d;
    *method = *params = NULL;
    xmlDoc *doc = start(&d, data, n, lim, &dflt, err);
    if (!doc)
        return err->code;
    xmlNode *root = xmlDocGetRootElement(doc);
    bool bad = false;
    xmlNode *name = is_elem(root, "methodCall") ? first_elem(root, &bad) : NULL;
    xmlNode *ps = name ? next_elem(name->next, &bad) : NULL;
    if (!is_elem(name, "methodName") || (ps && !is_elem(ps, "params")) ||
        (ps && next_elem(ps->next, &bad)) || bad) {
        /* before the free: the error names root's line */
        xfail(&d, MD_EPROTO, root, "expected <methodCall><methodName>..</methodName><params>..");
        xmlFreeDoc(doc);
        return MD_EPROTO;
    }
    size_t len;
    char *text = elem_text(name, &len);
    *method = text ? md_str_new(text, len) : NULL;
    xmlFree(text);
    *params = ps ? decode_params(&d, ps) : md_list_new(0);
    xmlFreeDoc(doc);
    if (!*method || !*params) {
        md_decref(*method);
        md_decref(*params);
        *method = *params = NULL;
        if (!err->msg[0])
            xfail(&d, MD_EPROTO, NULL, "bad method call");
        return err->code ? err->code : MD_EPROTO;
    }
    return 0;
}

/* A failure already reported (by decode_value), or this one. */
static int err_or(xdec *d, const xmlNode *at, const char *msg)
{
    return d->err->code ? d->err->code : xfail(d, MD_EPROTO, at, "%s", msg);
}

/* The faultCode and faultString of a <fault>'s struct. */
static int decode_fault(xdec *d, xmlNode *fault, md_val **out, int64_t *code)
{
    bool bad = false;
    xmlNode *v = first_elem(fault, &bad);
    md_val *st = is_elem(v, "value") && !next_elem(v->next, &bad) && !bad ? decode_value(d, v) : NULL;
    md_val *kc = md_str_from_cstr("faultCode"), *ks = md_str_from_cstr("faultString");
    md_pyerr e;
    md_pyerr_clear(&e);
    bool is_dict = st && md_typeof(st) == MD_T_DICT;
    md_val *c = is_dict && kc ? md_dict_get(st, kc, &e) : NULL;
    md_val *s = is_dict && ks ? md_dict_get(st, ks, &e) : NULL;
    int rc = 0;
    if (!c || md_typeof(c) != MD_T_INT || md_int_to_i64(c, code) < 0 || !s ||
        md_typeof(s) != MD_T_STR)
        rc = err_or(d, fault, "<fault> must hold a struct of faultCode (int) and faultString");
    else
        *out = md_incref(s);
    md_decref(kc);
    md_decref(ks);
    md_decref(st);
    return rc;
}

int md_xmlrpc_decode_response(const uint8_t *data, size_t n, const md_codec_limits *lim,
                              md_val **out, bool *fault, int64_t *fault_code, md_codec_err *err)
{
    md_codec_limits dflt;
    xdec d;
    *out = NULL;
    *fault = false;
    *fault_code = 0;
    xmlDoc *doc = start(&d, data, n, lim, &dflt, err);
    if (!doc)
        return err->code;
    xmlNode *root = xmlDocGetRootElement(doc);
    bool bad = false;
    xmlNode *body = is_elem(root, "methodResponse") ? first_elem(root, &bad) : NULL;
    int rc = 0;
    if (!body || next_elem(body->next, &bad) || bad) {
        rc = err_or(&d, root, "expected <methodResponse> with <params> or <fault>");
    } else if (is_elem(body, "fault")) {
        *fault = true;
        rc = decode_fault(&d, body, out, fault_code);
    } else {
        md_val *list = is_elem(body, "params") ? decode_params(&d, body) : NULL;
        if (list && md_list_len(list) == 1)
            *out = md_incref(md_list_get(list, 0));
        else
            rc = err_or(&d, body, "expected <params> with exactly one <param>");
        md_decref(list);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* ====================================================================== */
/* Encoding                                                                */
/* ====================================================================== */

typedef struct xenc {
    md_buf *out;
    md_codec_err *err;
    size_t depth;
    /* containers being written, to refuse recursive ones as Python does */
    const md_val *path[MD_XMLRPC_MAX_DEPTH];
    size_t npath;
    /* Standard XML-RPC on HTTP: <i8> for ints beyond 32 bits, which
     * other implementations read; Python's manager layout is plain
     * <int> for every size. */
    bool http;
    /* Budgets, as repr has them: a value of shared references (a DAG)
     * is small in memory and in a pickle but exponential in XML. */
    size_t work;                   /* containers written so far */
    size_t out_start;              /* out->len when encoding began */
} xenc;

static int efail(xenc *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int efail(xenc *e, int code, const char *fmt, ...)
{
    if (e->err->code)
        return e->err->code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err->msg, sizeof e->err->msg, fmt, ap);
    va_end(ap);
    e->err->code = code;
    return code;
}

/* Text as XML-RPC carries it: &, < and > escaped; characters XML 1.0
 * cannot hold (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/FFFF)
 * fail the call instead of producing ill-formed XML as Python does. */
static int put_text(xenc *e, const char *s, size_t n)
{
    md_buf *b = e->out;
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        const char *rep = NULL;
        if (c == '&')
            rep = "&amp;";
        else if (c == '<')
            rep = "&lt;";
        else if (c == '>')
            rep = "&gt;";
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return efail(e, MD_EUNSUPPORTED,
                         "cannot marshal a string holding the control character U+%04X", c);
        else if (c == 0xED && i + 1 < n && p[i + 1] >= 0xA0)
            return efail(e, MD_EUNSUPPORTED, "cannot marshal a string holding a lone surrogate");
        else if (c == 0xEF && i + 2 < n && p[i + 1] == 0xBF && p[i + 2] >= 0xBE)
            return efail(e, MD_EUNSUPPORTED, "cannot marshal a string holding U+FFFE or U+FFFF");
        if (rep) {
            md_buf_append(b, s + start, i - start);
            md_buf_puts(b, rep);
            start = i + 1;
        }
    }
    md_buf_append(b, s + start, n - start);
    return 0;
}

static int put_scalar(xenc *e, const char *type, const char *text, size_t n)
{
    md_buf_printf(e->out, "<value><%s>", type);
    md_buf_append(e->out, text, n);
    md_buf_printf(e->out, "</%s></value>\n", type);
    return 0;
}

static int put_base64(xenc *e, const uint8_t *data, size_t n)
{
    md_buf *b = e->out;
    size_t enc_len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *tmp = md_malloc(enc_len);
    if (!tmp)
        return efail(e, MD_ENOMEM, "out of memory");
    sodium_bin2base64(tmp, enc_len, data, n, sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(tmp);
    md_buf_puts(b, "<value><base64>\n");
    /* Python writes lines of 76 characters, each ending with \n. */
    for (size_t i = 0; i < len; i += 76) {
        size_t k = len - i < 76 ? len - i : 76;
        md_buf_append(b, tmp + i, k);
        md_buf_putc(b, '\n');
    }
    md_buf_puts(b, "</base64></value>\n");
    md_free(tmp);
    return 0;
}

static int encode_value(xenc *e, const md_val *v);

static int enter(xenc *e, const md_val *v)
{
    if (++e->work > MD_XMLRPC_MAX_WORK)
        return efail(e, MD_ETOOBIG, "the value is too large to write as XML-RPC "
                     "(more than %zu containers; shared references count each time)",
                     MD_XMLRPC_MAX_WORK);
    for (size_t i = 0; i < e->npath; i++)
        if (e->path[i] == v)
            return efail(e, MD_EUNSUPPORTED, "cannot marshal recursive %s",
                         md_typeof(v) == MD_T_DICT ? "dictionaries" : "sequences");
    if (e->npath == sizeof e->path / sizeof e->path[0] || ++e->depth > MD_MAX_DEPTH || md_stack_exhausted())
        return efail(e, MD_EDEPTH, "values nested too deeply for XML-RPC");
    e->path[e->npath++] = v;
    return 0;
}

static void leave(xenc *e)
{
    e->npath--;
    e->depth--;
}

static int put_array_items(xenc *e, const md_val *v)
{
    size_t pos = 0, n;
    md_val *item;
    md_val *const *items = md_seq_items(v, &n);
    md_buf_puts(e->out, "<value><array><data>\n");
    if (items) {
        for (size_t i = 0; i < n; i++)
            if (encode_value(e, items[i]))
                return e->err->code;
    } else {
        while (md_set_next(v, &pos, &item))
            if (encode_value(e, item))
                return e->err->code;
    }
    md_buf_puts(e->out, "</data></array></value>\n");
    return 0;
}

static int put_struct(xenc *e, const md_val *dict)
{
    size_t pos = 0;
    md_val *k, *x;
    md_buf_puts(e->out, "<value><struct>\n");
    while (md_dict_next(dict, &pos, &k, &x)) {
        if (md_typeof(k) != MD_T_STR)
            return efail(e, MD_EUNSUPPORTED, "dictionary key must be string");
        md_buf_puts(e->out, "<member>\n<name>");
        if (put_text(e, md_str_data(k), md_str_nbytes(k)))
            return e->err->code;
        md_buf_puts(e->out, "</name>\n");
        if (encode_value(e, x))
            return e->err->code;
        md_buf_puts(e->out, "</member>\n");
    }
    md_buf_puts(e->out, "</struct></value>\n");
    return 0;
}

/* Opaque objects: what Python's marshaller does with an instance (a
 * struct of its __dict__), xmlrpc DateTime back to a dateTime, and a
 * Token as the array (typeid, address, id) a client can read. */
/* The text of an xmlrpc DateTime: DateTime(text) as our decoder makes
 * it, or an instance a Python pickle client sent (state {'value': text}). */
static md_val *datetime_text(const md_val *cls, const md_val *args, const md_val *state)
{
    if (md_typeof(cls) != MD_T_GLOBAL || !(md_global_is(cls, "xmlrpc.client", "DateTime") ||
                                           md_global_is(cls, "xmlrpclib", "DateTime")))
        return NULL;
    if (args && md_tuple_len(args) == 1 && md_typeof(md_tuple_get(args, 0)) == MD_T_STR)
        return md_tuple_get(args, 0);
    if (state && md_typeof(state) == MD_T_DICT && md_dict_len(state) == 1) {
        size_t pos = 0;
        md_val *k, *x;
        if (md_dict_next(state, &pos, &k, &x) && md_typeof(k) == MD_T_STR &&
            md_str_eq_cstr(k, "value") && md_typeof(x) == MD_T_STR)
            return x;
    }
    return NULL;
}

static int put_opaque(xenc *e, const md_val *v)
{
    md_val *cls = md_opaque_callable(v);
    md_val *args = md_opaque_args(v);
    md_val *s = datetime_text(cls, args, md_opaque_state(v));
    if (s) {
        md_buf_puts(e->out, "<value><dateTime.iso8601>");
        if (put_text(e, md_str_data(s), md_str_nbytes(s)))
            return e->err->code;
        md_buf_puts(e->out, "</dateTime.iso8601></value>\n");
        return 0;
    }
    md_val *state = md_opaque_state(v);
    if (state && md_typeof(state) == MD_T_DICT)
        return put_struct(e, state);
    /* A Token exactly as the manager protocol shapes it (core/protocol):
     * the array (typeid, address, id). Anything else of that class is not
     * a Token, as md_proto_proxy_token and the pickle path judge it, and
     * cannot be marshalled. */
    if (md_proto_token_parts(v, NULL, NULL, NULL) == 0)
        return put_array_items(e, state);
    return efail(e, MD_EUNSUPPORTED, "cannot marshal <class '%s.%s'> objects",
                 md_typeof(cls) == MD_T_GLOBAL ? md_global_module(cls) : "?",
                 md_typeof(cls) == MD_T_GLOBAL ? md_global_name(cls) : "?");
}

/* Stop an encoding that has written too many bytes. */
static int over_budget(xenc *e)
{
    if (e->out->len - e->out_start > MD_XMLRPC_MAX_OUTPUT_BYTES)
        return efail(e, MD_ETOOBIG, "the value is too large to write as XML-RPC "
                     "(more than %zu bytes)", MD_XMLRPC_MAX_OUTPUT_BYTES);
    return 0;
}

/* A container written by put, between enter() and leave(). */
static int put_entered(xenc *e, const md_val *v, int (*put)(xenc *, const md_val *))
{
    if (enter(e, v))
        return e->err->code;
    int rc = put(e, v);
    leave(e);
    return rc;
}

static int encode_value(xenc *e, const md_val *v)
{
    char num[64];
    md_pyerr pe;
    md_pyerr_clear(&pe);
    if (over_budget(e))
        return e->err->code;
    switch (md_typeof(v)) {
    case MD_T_NONE:
        md_buf_puts(e->out, "<value><nil/></value>");
        return 0;
    case MD_T_BOOL:
        return put_scalar(e, "boolean", md_bool_get(v) ? "1" : "0", 1);
    case MD_T_INT: {
        int64_t i;
        const char *tag = "int";
        if (e->http && (md_int_to_i64(v, &i) < 0 || i < INT32_MIN || i > INT32_MAX))
            tag = md_int_to_i64(v, &i) < 0 ? "int" : "i8";
        md_buf_printf(e->out, "<value><%s>", tag);
        md_int_to_decimal(v, e->out);
        md_buf_printf(e->out, "</%s></value>\n", tag);
        return 0;
    }
    case MD_T_FLOAT: {
        md_buf tmp = MD_BUF_INIT;
        md_val_repr(v, &tmp, &pe);
        int n = snprintf(num, sizeof num, "%.*s", (int)tmp.len, (const char *)tmp.data);
        md_buf_free(&tmp);
        return put_scalar(e, "double", num, (size_t)n);
    }
    case MD_T_STR:
        md_buf_puts(e->out, "<value><string>");
        if (put_text(e, md_str_data(v), md_str_nbytes(v)))
            return e->err->code;
        md_buf_puts(e->out, "</string></value>\n");
        return 0;
    case MD_T_BYTES:
    case MD_T_BYTEARRAY:
        return put_base64(e, md_bytes_data(v), md_bytes_len(v));
    case MD_T_TUPLE:
    case MD_T_LIST:
    case MD_T_SET:
    case MD_T_FROZENSET:
        return put_entered(e, v, put_array_items);
    case MD_T_DICT:
        return put_entered(e, v, put_struct);
    case MD_T_OPAQUE:
        return put_entered(e, v, put_opaque);
    default:
        return efail(e, MD_EUNSUPPORTED, "cannot marshal <class '%s'> objects", md_type_name(v));
    }
}

/* What the encoding of v will cost, known before a byte is written: the
 * containers it visits (a shared one at every visit, as enter() counts
 * them) and a lower bound of the bytes it writes. Each container's total
 * is memoised by address, so a value of shared references (a DAG, a
 * "billion laughs" of a few hundred bytes) costs its distinct
 * containers here, not its exponential expansion: such a value fails in
 * microseconds instead of after the budget's worth of writing, which
 * other clients would wait for. Cycles and depth are left to the
 * encoder, which names them; counts saturate past the budgets. */
typedef struct xcost {
    size_t visits;
    size_t bytes;
} xcost;

typedef struct xcount {
    md_ptrmap seen;        /* container -> index + 1 into done[]; 0: open */
    xcost *done;
    size_t ndone, capdone;
    size_t depth;
    bool failed;           /* out of memory: skip the pre-check */
} xcount;

/* The fewest bytes a value's XML takes besides its text: a scalar's tags
 * (<value><nil/></value>), a container's (<value><struct>\n ...
 * </struct></value>\n), a struct member's (<member>\n<name> ...). */
enum { XCOST_SCALAR = 21, XCOST_CONTAINER = 34, XCOST_MEMBER = 33 };

static void xcost_add(xcost *to, xcost c)
{
    to->visits = to->visits + c.visits < to->visits ? SIZE_MAX : to->visits + c.visits;
    to->bytes = to->bytes + c.bytes < to->bytes ? SIZE_MAX : to->bytes + c.bytes;
}

static bool xcost_over(const xcost *c)
{
    return c->visits > MD_XMLRPC_MAX_WORK || c->bytes > MD_XMLRPC_MAX_OUTPUT_BYTES;
}

static xcost count_value(xcount *x, const md_val *v);

static xcost count_children(xcount *x, const md_val *v)
{
    xcost c = {1, XCOST_CONTAINER};
    size_t pos = 0, n;
    md_val *k, *item;
    md_val *const *items = md_seq_items(v, &n);
    if (items) {
        for (size_t i = 0; i < n && !xcost_over(&c); i++)
            xcost_add(&c, count_value(x, items[i]));
    } else if (md_typeof(v) == MD_T_DICT) {
        while (!xcost_over(&c) && md_dict_next(v, &pos, &k, &item)) {
            xcost_add(&c, (xcost){0, XCOST_MEMBER + (md_typeof(k) == MD_T_STR ? md_str_nbytes(k) : 0)});
            xcost_add(&c, count_value(x, item));
        }
    } else if (md_typeof(v) == MD_T_OPAQUE) {
        /* The encoder enters the object, not its state: one visit. */
        md_val *state = md_opaque_state(v);
        if (state && (md_typeof(state) == MD_T_DICT || md_typeof(state) == MD_T_TUPLE))
            return count_children(x, state);
    } else {
        while (!xcost_over(&c) && md_set_next(v, &pos, &item))
            xcost_add(&c, count_value(x, item));
    }
    return c;
}

static xcost count_container(xcount *x, const md_val *v)
{
    xcost none = {0, 0};
    if (x->failed || x->depth >= MD_MAX_DEPTH || md_stack_exhausted())
        return none;
    /* A container held by one reference is met by one path only: no
     * memo, so a plain big reply pays no map entry per container. */
    if (md_refcount(v) == 1) {
        x->depth++;
        xcost c = count_children(x, v);
        x->depth--;
        return c;
    }
    bool added;
    md_ptrmap_ent *ent = md_ptrmap_insert(&x->seen, (uintptr_t)v, &added);
    if (!ent) {
        x->failed = true;
        return none;
    }
    if (!added)  /* done: its total; open: a cycle, the encoder's to name */
        return ent->val ? x->done[ent->val - 1] : none;
    x->depth++;
    xcost c = count_children(x, v);
    x->depth--;
    if (md_grow(&x->done, &x->capdone, x->ndone + 1, sizeof *x->done) < 0) {
        x->failed = true;
        return c;
    }
    x->done[x->ndone++] = c;
    ent = md_ptrmap_find(&x->seen, (uintptr_t)v);
    ent->val = x->ndone;
    return c;
}

static xcost count_value(xcount *x, const md_val *v)
{
    switch (md_typeof(v)) {
    case MD_T_STR:
        return (xcost){0, XCOST_SCALAR + md_str_nbytes(v)};
    case MD_T_BYTES:
    case MD_T_BYTEARRAY:
        return (xcost){0, XCOST_SCALAR + md_bytes_len(v) / 3 * 4};
    case MD_T_TUPLE:
    case MD_T_LIST:
    case MD_T_SET:
    case MD_T_FROZENSET:
    case MD_T_DICT:
    case MD_T_OPAQUE:
        return count_container(x, v);
    default:
        return (xcost){0, XCOST_SCALAR};
    }
}

/* Fails the encoding at once when the pre-count shows it over a budget. */
static int precheck_budgets(xenc *e, const md_val *v)
{
    xcount x = {.depth = 0};
    md_ptrmap_init(&x.seen);
    xcost c = count_value(&x, v);
    bool failed = x.failed;
    md_ptrmap_free(&x.seen);
    md_free(x.done);
    if (failed)
        return 0;
    if (c.visits > MD_XMLRPC_MAX_WORK)
        return efail(e, MD_ETOOBIG, "the value is too large to write as XML-RPC "
                     "(more than %zu containers; shared references count each time)",
                     MD_XMLRPC_MAX_WORK);
    if (c.bytes > MD_XMLRPC_MAX_OUTPUT_BYTES)
        return efail(e, MD_ETOOBIG, "the value is too large to write as XML-RPC "
                     "(more than %zu bytes)", MD_XMLRPC_MAX_OUTPUT_BYTES);
    return 0;
}

static int encode_top(const md_val *v, md_buf *out, md_codec_err *err, bool http)
{
    memset(err, 0, sizeof *err);
    xenc e = {.out = out, .err = err, .http = http, .out_start = out->len};
    size_t mark = out->len;
    if (precheck_budgets(&e, v) || encode_value(&e, v)) {
        out->len = mark;
        return err->code;
    }
    if (md_buf_failed(out)) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->code = MD_ENOMEM;
    }
    return 0;
}

int md_xmlrpc_encode_value(const md_val *v, md_buf *out, md_codec_err *err)
{
    return encode_top(v, out, err, true);
}

int md_xmlrpc_encode(const md_val *v, int protocol, md_buf *out, md_codec_err *err)
{
    size_t mark = out->len;
    md_buf_puts(out, "<params>\n<param>\n");
    int rc = encode_top(v, out, err, false);
    if (rc) {
        out->len = mark;
        return rc;
    }
    md_buf_puts(out, "</param>\n</params>\n");
    return md_buf_failed(out) ? MD_ENOMEM : 0;
}

int md_xmlrpc_encode_response(const md_val *v, md_buf *out, md_codec_err *err)
{
    size_t mark = out->len;
    md_buf_puts(out, "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    int rc = md_xmlrpc_encode_value(v, out, err);
    if (rc) {
        out->len = mark;
        return rc;
    }
    md_buf_puts(out, "</param>\n</params>\n</methodResponse>\n");
    return md_buf_failed(out) ? MD_ENOMEM : 0;
}

int md_xmlrpc_encode_call(const char *method, const md_val *params, md_buf *out,
                          md_codec_err *err)
{
    memset(err, 0, sizeof *err);
    size_t mark = out->len;
    xenc e = {.out = out, .err = err, .http = true, .out_start = out->len};
    md_buf_puts(out, "<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    int rc = put_text(&e, method, strlen(method));
    md_buf_puts(out, "</methodName>\n<params>\n");
    bool tuple = params && md_typeof(params) == MD_T_TUPLE;
    size_t n = !params ? 0 : tuple ? md_tuple_len(params) : md_list_len(params);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        md_buf_puts(out, "<param>\n");
        rc = encode_value(&e, tuple ? md_tuple_get(params, i) : md_list_get(params, i));
        md_buf_puts(out, "</param>\n");
    }
    md_buf_puts(out, "</params>\n</methodCall>\n");
    if (rc == 0 && md_buf_failed(out)) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        rc = err->code = MD_ENOMEM;
    }
    if (rc)
        out->len = mark;
    return rc;
}

int md_xmlrpc_encode_fault(int code, const char *message, md_buf *out)
{
    md_codec_err err;
    memset(&err, 0, sizeof err);
    xenc e = {.out = out, .err = &err};
    md_buf_printf(out, "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n"
                       "<member>\n<name>faultCode</name>\n<value><int>%d</int></value>\n</member>\n"
                       "<member>\n<name>faultString</name>\n<value><string>", code);
    size_t mark = out->len;
    if (put_text(&e, message, strlen(message))) {
        /* A message XML cannot hold: say so instead. */
        out->len = mark;
        md_buf_puts(out, "(message not representable in XML)");
    }
    md_buf_puts(out, "</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n");
    return md_buf_failed(out) ? MD_ENOMEM : 0;
}
