/* protocol.c - the manager protocol's serializer-neutral shapes: reply
 * kinds, #TRACEBACK texts, Token and RebuildProxy (see protocol.h). */
#include "core/protocol/protocol.h"

#include "core/base/buf.h"

const char *md_out_kind_text(int kind)
{
    switch (kind) {
#define MD_OUT_TEXT(name, text) case MD_OUT_##name: return text;
        MD_OUTCOMES(MD_OUT_TEXT)
#undef MD_OUT_TEXT
    }
    return NULL;
}

/* ====================================================================== */
/* Remote errors                                                           */
/* ====================================================================== */

md_val *md_proto_traceback(const char *summary)
{
    md_buf b = MD_BUF_INIT;
    md_buf_printf(&b, "Traceback (most recent call last):\n"
                      "  File \"managerd\", in serve\n%s\n", summary);
    md_val *v = md_buf_failed(&b) ? NULL : md_str_new((const char *)b.data, b.len);
    md_buf_free(&b);
    return v;
}

/* "KeyError: 'x'" from an exception value; an exception whose str is
 * empty gives its class name alone, as Python's last traceback line. */
static void exc_summary(const md_val *exc, md_buf *out)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_typeof(exc) != MD_T_EXC) {
        md_val_repr(exc, out, &e);
        return;
    }
    md_buf_puts(out, md_global_name(md_exc_class(exc)));
    size_t mark = out->len;
    md_buf_puts(out, ": ");
    size_t before = out->len;
    if (md_val_str(exc, out, &e) < 0 || out->len == before)
        out->len = mark;
}

md_val *md_proto_exc_traceback(const md_val *exc)
{
    md_buf b = MD_BUF_INIT;
    exc_summary(exc, &b);
    md_buf_putc(&b, 0);
    md_val *v = md_buf_failed(&b) ? NULL : md_proto_traceback((const char *)b.data);
    md_buf_free(&b);
    return v;
}

/* ====================================================================== */
/* Tokens and proxies                                                      */
/* ====================================================================== */

int md_proto_token_parts(const md_val *v, md_val **typeid, md_val **address, md_val **id)
{
    if (md_typeof(v) != MD_T_OPAQUE)
        return -1;
    md_val *cls = md_opaque_callable(v);
    md_val *state = md_opaque_state(v);
    if (md_typeof(cls) != MD_T_GLOBAL ||
        !md_global_is(cls, "multiprocessing.managers", "Token") || !state ||
        md_typeof(state) != MD_T_TUPLE || md_tuple_len(state) != 3)
        return -1;
    if (typeid)
        *typeid = md_tuple_get(state, 0);
    if (address)
        *address = md_tuple_get(state, 1);
    if (id)
        *id = md_tuple_get(state, 2);
    return 0;
}

md_val *md_proto_token_new(const char *typeid, md_val *address, const char *id)
{
    md_val *cls = md_global_new("multiprocessing.managers", "Token");
    md_val *t = md_str_from_cstr(typeid), *i = md_str_from_cstr(id);
    md_val *state = cls && t && i ? md_tuple_pack(3, t, address, i) : NULL;
    md_val *tok = state ? md_opaque_new(MD_OPQ_NEWOBJ, cls, md_tuple_new(0)) : NULL;
    if (tok)
        md_opaque_set_state_steal(tok, md_incref(state));
    md_decref(cls);
    md_decref(t);
    md_decref(i);
    md_decref(state);
    return tok;
}

const md_val *md_proto_proxy_token(const md_val *v)
{
    if (md_typeof(v) != MD_T_OPAQUE || md_opaque_kind_of(v) != MD_OPQ_REDUCE)
        return NULL;
    md_val *fn = md_opaque_callable(v), *args = md_opaque_args(v);
    if (md_typeof(fn) != MD_T_GLOBAL ||
        !md_global_is(fn, "multiprocessing.managers", "RebuildProxy") ||
        md_typeof(args) != MD_T_TUPLE || md_tuple_len(args) < 2)
        return NULL;
    md_val *tok = md_tuple_get(args, 1);
    return md_proto_token_parts(tok, NULL, NULL, NULL) == 0 ? tok : NULL;
}
