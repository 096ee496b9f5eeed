/* bind.c - argument binding: a request's positional and keyword
 * arguments bound to a method row's (or a constructor's) parameter names
 * the way a Python def binds them, with CPython's TypeError messages, in
 * one place before any handler runs. A handler then only reads
 * call->argv[i], NULL for an argument not given. */
#include "core/disp/disp_int.h"

#include <string.h>

void md_disp_call_init(md_call *call, md_server *srv, md_peer *peer, int protocol)
{
    memset(call, 0, sizeof *call);
    call->server = srv;
    call->peer = peer;
    call->protocol = protocol;
}

void md_disp_call_done(md_call *call)
{
    /* After the reply: md_disp_request delivers before it gets here. */
    md_call_run_after(call);
    md_decref(call->out_value);
    md_decref(call->varargs);
    md_decref(call->varkw);
    if (call->out_proxy) {
        md_obj_maybe_free(call->out_proxy);
        call->out_proxy = NULL;
    }
}

/* Python counts self among positional arguments in its messages. */
static int too_many_positional(md_call *call, const char *fname, size_t min, size_t max,
                               size_t given)
{
    if (min == max)
        md_raise(call, "builtins", "TypeError",
                 "%s() takes %zu positional argument%s but %zu were given", fname, max + 1,
                 max ? "s" : "", given + 1);
    else
        md_raise(call, "builtins", "TypeError",
                 "%s() takes from %zu to %zu positional arguments but %zu were given", fname,
                 min + 1, max + 1, given + 1);
    return -1;
}

/* The first nparams positionals into argv, the rest into varargs. */
static int bind_positional(md_call *call, size_t nparams, const md_val *args, size_t n)
{
    md_val *const *argv = md_seq_items(args, &n);
    size_t npos = n < nparams ? n : nparams;
    for (size_t i = 0; i < npos; i++)
        call->argv[i] = argv[i];
    if (n <= nparams)
        return 0;
    call->varargs = md_tuple_new(n - nparams);
    if (!call->varargs) {
        md_raise_noargs(call, "builtins", "MemoryError");
        return -1;
    }
    for (size_t i = nparams; i < n; i++)
        md_tuple_set_steal(call->varargs, i - nparams, md_incref(argv[i]));
    return 0;
}

/* A keyword no parameter has: into varkw (MD_M_VARKW) or a TypeError. */
static int bind_extra_keyword(md_call *call, const char *fname, uint16_t flags, md_val *k,
                              md_val *v)
{
    if (!(flags & MD_M_VARKW)) {
        md_raise(call, "builtins", "TypeError", "%s() got an unexpected keyword argument '%s'",
                 fname, md_str_data(k));
        return -1;
    }
    md_pyerr e;
    md_pyerr_clear(&e);
    if (!call->varkw && !(call->varkw = md_dict_new())) {
        md_raise_noargs(call, "builtins", "MemoryError");
        return -1;
    }
    if (md_dict_set(call->varkw, k, v, &e) < 0) {
        md_raise_pyerr(call, &e);
        return -1;
    }
    return 0;
}

static int bind_keywords(md_call *call, const char *fname, const char *const *params,
                         size_t nparams, uint16_t flags, const md_val *kwds)
{
    size_t pos = 0;
    md_val *k, *v;
    while (kwds && md_dict_next(kwds, &pos, &k, &v)) {
        if (md_typeof(k) != MD_T_STR) {
            md_raise(call, "builtins", "TypeError", "keywords must be strings");
            return -1;
        }
        size_t i = 0;
        while (i < nparams && !md_str_eq_cstr(k, params[i]))
            i++;
        if (i == nparams) {
            if (bind_extra_keyword(call, fname, flags, k, v) < 0)
                return -1;
            continue;
        }
        if (call->argv[i]) {
            md_raise(call, "builtins", "TypeError", "%s() got multiple values for argument '%s'",
                     fname, params[i]);
            return -1;
        }
        call->argv[i] = v;
    }
    return 0;
}

int md_disp_bind(md_call *call, const char *fname, const char *const *params, size_t min,
                 size_t max, uint16_t flags, const md_val *args, const md_val *kwds)
{
    size_t nparams = 0;
    while (params[nparams])
        nparams++;
    if (md_check_keywords(call, fname, flags, kwds) < 0)
        return -1;
    size_t n;
    md_seq_items(args, &n);
    call->nargs = n;
    if (n > nparams && !(flags & MD_M_VARARGS))
        return too_many_positional(call, fname, min, max, n);
    if (bind_positional(call, nparams, args, n) < 0 ||
        bind_keywords(call, fname, params, nparams, flags, kwds) < 0)
        return -1;
    for (size_t i = 0; i < min && i < nparams; i++)
        if (!call->argv[i]) {
            md_raise(call, "builtins", "TypeError",
                     "%s() missing 1 required positional argument: '%s'", fname, params[i]);
            return -1;
        }
    return 0;
}
