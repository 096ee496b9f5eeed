/* call.c - how a handler completes a call: return a value, raise an
 * exception, hand back a new object as a proxy; and the argument
 * conversions handlers share, with Python's TypeError wording. */
#include "core/obj.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/protocol/protocol.h"

static int set_outcome(md_call *call, int kind, md_val *value)
{
    md_decref(call->out_value);
    call->out_kind = kind;
    call->out_value = value;
    return MD_CALL_DONE;
}

/* A value that could not be made (out of memory) becomes MemoryError. */
static int out_of_memory(md_call *call)
{
    md_val *exc = md_exc_make("builtins", "MemoryError", 0);
    return set_outcome(call, exc ? MD_OUT_ERROR : MD_OUT_TRACEBACK, exc);
}

int md_return(md_call *call, md_val *value)
{
    if (!value)
        return out_of_memory(call);
    return set_outcome(call, MD_OUT_RETURN, value);
}

int md_return_none(md_call *call)
{
    return set_outcome(call, MD_OUT_RETURN, md_none());
}

int md_return_bool(md_call *call, bool b)
{
    return set_outcome(call, MD_OUT_RETURN, md_bool(b));
}

int md_return_int(md_call *call, int64_t i)
{
    return md_return(call, md_int_from_i64(i));
}

void md_call_after_reply(md_call *call, md_after_fn fn, md_val *a, md_val *b, void *ctx)
{
    MD_ASSERT(!call->after);
    call->after = fn;
    call->after_ctx = ctx;
    call->after_args[0] = a ? md_incref(a) : NULL;
    call->after_args[1] = b ? md_incref(b) : NULL;
}

void md_call_run_after(md_call *call)
{
    md_after_fn fn = call->after;
    if (!fn)
        return;
    call->after = NULL;
    md_val *a = call->after_args[0], *b = call->after_args[1];
    call->after_args[0] = call->after_args[1] = NULL;
    void *ctx = call->after_ctx;
    call->after_ctx = NULL;
    fn(a, b, ctx);
    md_decref(a);
    md_decref(b);
}

int md_return_proxy(md_call *call, md_obj *obj)
{
    if (!obj)
        return out_of_memory(call);
    set_outcome(call, MD_OUT_PROXY, NULL);
    call->out_proxy = obj;
    return MD_CALL_DONE;
}

int md_raise_val(md_call *call, md_val *exc)
{
    if (!exc)
        return out_of_memory(call);
    return set_outcome(call, MD_OUT_ERROR, exc);
}

static md_val *exc_with_text(const char *module, const char *cls, const char *text)
{
    md_val *arg = md_str_from_cstr(text);
    if (!arg)
        return NULL;
    md_val *exc = md_exc_make(module, cls, 1, arg);
    md_decref(arg);
    return exc;
}

int md_raise(md_call *call, const char *module, const char *cls, const char *fmt, ...)
{
    if (!fmt)
        return md_raise_noargs(call, module, cls);
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return md_raise_val(call, exc_with_text(module, cls, text));
}

int md_raise_noargs(md_call *call, const char *module, const char *cls)
{
    return md_raise_val(call, md_exc_make(module, cls, 0));
}

int md_raise_pyerr(md_call *call, const md_pyerr *e)
{
    const char *type = e->type ? e->type : "SystemError";
    /* A dotted type names its module ("decimal.InvalidOperation"). */
    const char *dot = strrchr(type, '.');
    char module[64];
    if (dot && (size_t)(dot - type) < sizeof module) {
        memcpy(module, type, (size_t)(dot - type));
        module[dot - type] = '\0';
        return md_raise_val(call, exc_with_text(module, dot + 1, e->msg));
    }
    return md_raise_val(call, exc_with_text("builtins", type, e->msg));
}

/* #TRACEBACK with the one remote-error text (md_proto_traceback). */
int md_raise_traceback(md_call *call, const char *type, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    md_buf b = MD_BUF_INIT;
    md_buf_printf(&b, "%s: %s", type, text);
    md_buf_putc(&b, 0);
    md_val *v = md_buf_failed(&b) ? NULL : md_proto_traceback((const char *)b.data);
    md_buf_free(&b);
    if (!v)
        return out_of_memory(call);
    return set_outcome(call, MD_OUT_TRACEBACK, v);
}

/* ---- argument checks ---------------------------------------------- */

int md_check_keywords(md_call *call, const char *fname, uint16_t flags, const md_val *kwds)
{
    if (!kwds || md_typeof(kwds) != MD_T_DICT || md_dict_len(kwds) == 0)
        return 0;
    const char *cls = call->self ? call->self->type->pyclass : NULL;
    bool refuse = (flags & MD_M_NOKW) ||
                  (call->method && cls && !(flags & (MD_M_VARKW | MD_M_KEYWORDS)));
    if (!refuse)
        return 0;
    if (!call->method)
        md_raise(call, "builtins", "TypeError", "%s() takes no keyword arguments",
                 cls ? cls : fname);
    else if (strncmp(fname, "__", 2) == 0 && !(flags & MD_M_DESCR))
        md_raise(call, "builtins", "TypeError", "wrapper %s() takes no keyword arguments", fname);
    else
        md_raise(call, "builtins", "TypeError", "%s.%s() takes no keyword arguments",
                 cls ? cls : call->self->type->name, fname);
    return -1;
}

/* ---- argument conversion --------------------------------------------- */

int md_arg_bool(md_call *call, size_t i, bool dflt, bool *out)
{
    md_val *v = call->argv[i];
    if (!v) {
        *out = dflt;
        return 0;
    }
    /* Python's truth value of the plain data a client can send. */
    switch (md_typeof(v)) {
    case MD_T_NONE: *out = false; return 0;
    case MD_T_BOOL: *out = md_bool_get(v); return 0;
    case MD_T_INT: *out = md_int_sign(v) != 0; return 0;
    case MD_T_FLOAT: *out = md_float_get(v) != 0.0; return 0;
    case MD_T_STR: *out = md_str_nbytes(v) != 0; return 0;
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: *out = md_bytes_len(v) != 0; return 0;
    case MD_T_TUPLE: *out = md_tuple_len(v) != 0; return 0;
    case MD_T_LIST: *out = md_list_len(v) != 0; return 0;
    case MD_T_DICT: *out = md_dict_len(v) != 0; return 0;
    default: *out = true; return 0;
    }
}

int md_arg_index(md_call *call, size_t i, int64_t dflt, int64_t *out)
{
    md_val *v = call->argv[i];
    if (!v) {
        *out = dflt;
        return 0;
    }
    md_vtype t = md_typeof(v);
    if (t != MD_T_INT && t != MD_T_BOOL) {
        md_raise(call, "builtins", "TypeError",
                 "'%s' object cannot be interpreted as an integer", md_type_name(v));
        return -1;
    }
    if (md_int_to_i64(v, out) < 0) {
        md_raise(call, "builtins", "OverflowError",
                 "Python int too large to convert to C ssize_t");
        return -1;
    }
    return 0;
}

int md_arg_timeout(md_call *call, size_t i, double *out)
{
    md_val *v = call->argv[i];
    if (!v || md_typeof(v) == MD_T_NONE) {
        *out = -1;
        return 0;
    }
    switch (md_typeof(v)) {
    case MD_T_BOOL:
    case MD_T_INT: {
        int64_t n;
        if (md_int_to_i64(v, &n) < 0) {
            md_raise(call, "builtins", "OverflowError", "timeout value is too large");
            return -1;
        }
        *out = (double)n;
        return 0;
    }
    case MD_T_FLOAT:
        *out = md_float_get(v);
        if (isnan(*out)) {
            md_raise(call, "builtins", "ValueError", "Invalid value NaN (not a number)");
            return -1;
        }
        return 0;
    default:
        md_raise(call, "builtins", "TypeError",
                 "'%s' object cannot be interpreted as an integer or float", md_type_name(v));
        return -1;
    }
}
