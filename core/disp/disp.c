/* disp.c - the dispatcher: server methods, calls on shared objects, and
 * the replies they produce, with CPython's reference counting.
 *
 * A request is (ident, methodname, args, kwds). On a short connection
 * (ident None) it names a server method; on a long connection it names a
 * shared object and one of its exposed methods. The dispatcher checks the
 * method is exposed, binds the arguments to the method row's parameter
 * names, runs the handler, and delivers the outcome through the peer.
 */
#include "core/server_impl.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sodium.h>

#include "core/base/alloc.h"
#include "core/disp/introspect.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/base/log.h"
#include "serializers/pickle.h"

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
/* Server                                                                  */
/* ====================================================================== */

md_server *md_server_new(struct event_base *base, const md_server_opts *opts)
{
    md_server *srv = md_calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->base = base;
    srv->max_objects = opts && opts->max_objects ? opts->max_objects : MD_MAX_OBJECTS_DEFAULT;
    /* Idents look like CPython's (12 hex digits). They count up from a
     * start drawn from libsodium, so none repeats within a run and a
     * stale proxy from an earlier run (almost surely) names nothing. */
    uint64_t r;
    randombytes_buf(&r, sizeof r);
    srv->next_id = MD_IDENT_MIN | (r & (MD_IDENT_MIN / 4 - 1));
    srv->segments = md_list_new(0);
    srv->address = md_tuple_pack(2, md_none(), md_none());
    if (!srv->segments || !srv->address) {
        md_decref(srv->segments);
        md_decref(srv->address);
        md_free(srv);
        return NULL;
    }
    md_current_server = srv;
    return srv;
}

static void unlink_segments(md_server *srv);

void md_server_free(md_server *srv)
{
    if (!srv)
        return;
    unlink_segments(srv);
    for (size_t i = 0; i < srv->nreg; i++)
        if (srv->reg[i].shared)
            srv->reg[i].shared->flags &= ~2u;
    md_objtab_clear(srv);
    md_reg_clear(srv);
    md_decref(srv->segments);
    md_decref(srv->address);
    if (md_current_server == srv)
        md_current_server = NULL;
    md_free(srv);
}

struct event_base *md_server_base(md_server *srv)
{
    return srv->base;
}

void md_server_set_address(md_server *srv, md_val *address)
{
    md_decref(srv->address);
    srv->address = md_incref(address);
}

bool md_server_shutdown_requested(const md_server *srv)
{
    return srv->shutdown;
}

void md_server_set_shutdown_hook(md_server *srv, void (*fn)(void *), void *arg)
{
    srv->shutdown_fn = fn;
    srv->shutdown_arg = arg;
}

/* ====================================================================== */
/* Peers                                                                   */
/* ====================================================================== */

void md_peer_init(md_peer *peer, const md_peer_ops *ops, md_server *server)
{
    memset(peer, 0, sizeof *peer);
    peer->ops = ops;
    peer->server = server;
    md_stats_peer_open(peer);
}

void md_peer_close(md_peer *peer)
{
    md_stats_peer_close(peer);
    if (peer->parked)
        md_park_cancel(peer->parked);
    md_proxies_release_sent(peer);
    /* Tell each watched object once per registration; the object may
     * unwatch during the callback, so walk a snapshot. */
    while (peer->nwatched) {
        md_obj *o = peer->watched[--peer->nwatched];
        if (o->type->peer_gone)
            o->type->peer_gone(o, peer);
        md_obj_release(o);
    }
    md_free(peer->watched);
    peer->watched = NULL;
    peer->capwatched = 0;
}

int md_peer_watch(md_peer *peer, md_obj *o)
{
    if (md_grow(&peer->watched, &peer->capwatched, peer->nwatched + 1ul,
                sizeof *peer->watched) < 0)
        return -1;
    peer->watched[peer->nwatched++] = o;
    md_obj_hold(o);
    return 0;
}

void md_peer_unwatch(md_peer *peer, md_obj *o)
{
    for (uint32_t i = peer->nwatched; i-- > 0;)
        if (peer->watched[i] == o) {
            peer->watched[i] = peer->watched[--peer->nwatched];
            md_obj_release(o);
            return;
        }
}

/* ====================================================================== */
/* Replies                                                                 */
/* ====================================================================== */

/* "KeyError: 'x'" from an exception value, for #TRACEBACK texts. */
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

static md_val *traceback_text(const char *summary)
{
    md_buf b = MD_BUF_INIT;
    md_buf_printf(&b, "Traceback (most recent call last):\n"
                      "  File \"managerd\", in serve\n%s\n", summary);
    md_val *v = md_buf_failed(&b) ? NULL : md_str_new((const char *)b.data, b.len);
    md_buf_free(&b);
    return v;
}

/* An #ERROR outcome turned into #TRACEBACK text (server methods report
 * errors that way). */
static md_val *error_as_traceback(const md_val *exc)
{
    md_buf b = MD_BUF_INIT;
    exc_summary(exc, &b);
    md_buf_putc(&b, 0);
    md_val *v = md_buf_failed(&b) ? NULL : traceback_text((const char *)b.data);
    md_buf_free(&b);
    return v;
}

static md_val *make_token(md_server *srv, md_obj *o)
{
    char ident[24];
    md_obj_ident(o, ident);
    return md_pickle_token_new(o->typeid, srv->address, ident);
}

/* Register a new object made by a method_to_typeid handler and build the
 * #PROXY payload (exposed, Token). */
static md_val *proxy_payload(md_server *srv, md_obj *o)
{
    if (md_objtab_insert(srv, o) < 0) {
        md_obj_maybe_free(o); /* not registered: nothing else can free it */
        return NULL;
    }
    o->refcount = 1;
    md_val *exposed = md_type_exposed_tuple(o->type);
    md_val *token = make_token(srv, o);
    md_val *payload = exposed && token ? md_tuple_pack(2, exposed, token) : NULL;
    md_decref(exposed);
    md_decref(token);
    if (!payload) {
        o->refcount = 0;
        md_obj_maybe_free(o);
    }
    return payload;
}

void md_disp_deliver(md_server *srv, md_peer *peer, int protocol, int kind,
                     md_val *value, md_obj *proxy, const md_method *m)
{
    if (kind == MD_OUT_PROXY) {
        md_decref(value);
        value = proxy_payload(srv, proxy);
        if (!value)
            kind = MD_OUT_TRACEBACK, value = traceback_text("MemoryError");
        else if (protocol == 0) {
            /* An 'xmlrpclib' client cannot rebuild a Token (tests/docs/protocol.md
             * §6.4): the new object could never be released by it, so it
             * is not kept (CPython leaks it). */
            proxy->refcount = 0;
            md_obj_maybe_free(proxy);
        }
    }
    if (kind == MD_OUT_ERROR && protocol == 0 && !peer->raw_exceptions) {
        /* XML-RPC cannot carry an exception; the client raises
         * RemoteError with this text instead of a confusing TypeError. */
        md_val *tb = value ? error_as_traceback(value) : NULL;
        md_decref(value);
        value = tb;
        kind = MD_OUT_TRACEBACK;
    }
    if (!value && kind != MD_OUT_RETURN)
        kind = MD_OUT_TRACEBACK, value = traceback_text("MemoryError");
    if (!value)
        value = md_none();
    /* Out of memory here only risks the referent dying before the
     * client's incref; the reply still goes out. */
    if (kind == MD_OUT_RETURN)
        (void)md_proxies_hold_sent(peer, value);
    peer->protocol = protocol;
    md_stats_request_end(peer, kind);
    peer->ops->deliver(peer, kind, value);
}

static void deliver_call(md_call *call)
{
    md_val *v = call->out_value;
    call->out_value = NULL;
    int kind = call->out_kind;
    if (kind == MD_OUT_NONE)
        kind = MD_OUT_RETURN, v = v ? v : md_none();
    md_disp_deliver(call->server, call->peer, call->protocol, kind, v,
                    call->out_proxy, call->method);
    call->out_proxy = NULL;
}

static void reply_traceback(md_server *srv, md_peer *peer, int protocol, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_traceback(md_server *srv, md_peer *peer, int protocol, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    md_disp_deliver(srv, peer, protocol, MD_OUT_TRACEBACK, traceback_text(text), NULL, NULL);
}

/* repr of a value for messages, cut short. */
static void short_repr(const md_val *v, char *out, size_t n)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_val_repr(v, &b, &e) < 0 || md_buf_failed(&b))
        snprintf(out, n, "<%s>", md_type_name(v));
    else
        snprintf(out, n, "%.*s", (int)(b.len < n - 1 ? b.len : n - 1), (const char *)b.data);
    md_buf_free(&b);
}

/* ====================================================================== */
/* Binding arguments                                                       */
/* ====================================================================== */

/* Bind args/kwds to params like a Python def with those parameters.
 * Python counts self among positional arguments in its messages. */
static int bind_args(md_call *call, const char *fname, const char *const *params,
                     size_t min, size_t max, uint16_t flags,
                     const md_val *args, const md_val *kwds)
{
    size_t nparams = 0;
    while (params[nparams])
        nparams++;
    if (md_check_keywords(call, fname, flags, kwds) < 0)
        return -1;
    size_t n;
    md_val *const *argv = md_seq_items(args, &n);
    call->nargs = n;
    if (n > nparams && !(flags & MD_M_VARARGS)) {
        if (min == max)
            md_raise(call, "builtins", "TypeError",
                     "%s() takes %zu positional argument%s but %zu were given",
                     fname, max + 1, max ? "s" : "", n + 1);
        else
            md_raise(call, "builtins", "TypeError",
                     "%s() takes from %zu to %zu positional arguments but %zu were given",
                     fname, min + 1, max + 1, n + 1);
        return -1;
    }
    size_t npos = n < nparams ? n : nparams;
    for (size_t i = 0; i < npos; i++)
        call->argv[i] = argv[i];
    if (n > nparams) {
        call->varargs = md_tuple_new(n - nparams);
        if (!call->varargs) {
            md_raise_noargs(call, "builtins", "MemoryError");
            return -1;
        }
        for (size_t i = nparams; i < n; i++)
            md_tuple_set_steal(call->varargs, i - nparams, md_incref(argv[i]));
    }
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
            if (flags & MD_M_VARKW) {
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
                continue;
            }
            md_raise(call, "builtins", "TypeError",
                     "%s() got an unexpected keyword argument '%s'", fname, md_str_data(k));
            return -1;
        }
        if (call->argv[i]) {
            md_raise(call, "builtins", "TypeError",
                     "%s() got multiple values for argument '%s'", fname, params[i]);
            return -1;
        }
        call->argv[i] = v;
    }
    for (size_t i = 0; i < min && i < nparams; i++)
        if (!call->argv[i]) {
            md_raise(call, "builtins", "TypeError",
                     "%s() missing 1 required positional argument: '%s'", fname, params[i]);
            return -1;
        }
    return 0;
}

static void call_init(md_call *call, md_server *srv, md_peer *peer, int protocol)
{
    memset(call, 0, sizeof *call);
    call->server = srv;
    call->peer = peer;
    call->protocol = protocol;
}

static void call_done(md_call *call)
{
    md_decref(call->out_value);
    md_decref(call->varargs);
    md_decref(call->varkw);
    if (call->out_proxy) {
        md_obj_maybe_free(call->out_proxy);
        call->out_proxy = NULL;
    }
}

/* ====================================================================== */
/* Server methods (short connections)                                      */
/* ====================================================================== */

static md_obj *lookup(md_server *srv, const md_val *ident)
{
    uint64_t id;
    if (!md_ident_parse(ident, &id))
        return NULL;
    return md_objtab_find(srv, id);
}

static int one_arg(const md_val *args, md_val **out)
{
    size_t n;
    md_val *const *argv = md_seq_items(args, &n);
    if (!argv || n != 1)
        return -1;
    *out = argv[0];
    return 0;
}

/* The exposed names as byte strings, as a Python 2 server sends them. */
static md_val *py2_names(md_val *names)
{
    size_t n = md_tuple_len(names);
    md_val *t = md_tuple_new(n);
    for (size_t i = 0; t && i < n; i++) {
        md_val *s = md_tuple_get(names, i);
        md_val *p = md_str_new_py2(md_str_data(s), md_str_nbytes(s));
        if (!p) {
            md_decref(t);
            return NULL;
        }
        md_tuple_set_steal(t, i, p);
    }
    return t;
}

static md_val *create_reply(md_server *srv, md_obj *o, md_reg_entry *e, int protocol)
{
    char ident[24];
    md_obj_ident(o, ident);
    md_val *id = protocol == 2 ? md_str_new_py2(ident, strlen(ident)) : md_str_from_cstr(ident);
    md_val *exposed = md_reg_exposed(e);
    md_val *names = exposed && protocol == 2 ? py2_names(exposed) : md_incref(exposed);
    md_val *r = id && names ? md_tuple_pack(2, id, names) : NULL;
    md_decref(id);
    md_decref(names);
    return r;
}

/* Build a new object of e's type from create's arguments. On failure the
 * error is left on call (an #ERROR outcome) and NULL returned. */
static md_obj *construct(md_call *call, md_reg_entry *e, const md_val *args, const md_val *kwds)
{
    const md_type *t = e->type;
    md_obj *o = md_obj_new(t);
    if (!o) {
        md_raise_noargs(call, "builtins", "MemoryError");
        return NULL;
    }
    o->typeid = e->typeid;
    call->self = o;
    /* args[0] is the typeid: constructor arguments follow it. */
    md_val *ctor_args = NULL;
    size_t n;
    md_val *const *argv = md_seq_items(args, &n);
    ctor_args = md_tuple_new(n - 1);
    if (!ctor_args) {
        md_free(o);
        md_raise_noargs(call, "builtins", "MemoryError");
        return NULL;
    }
    for (size_t i = 1; i < n; i++)
        md_tuple_set_steal(ctor_args, i - 1, md_incref(argv[i]));
    int rc = bind_args(call, t->name, t->ctor_params, t->ctor_min, t->ctor_max,
                       t->ctor_flags, ctor_args, kwds);
    if (rc == 0 && t->init)
        t->init(call);
    md_decref(ctor_args);
    if (rc < 0 || call->out_kind == MD_OUT_ERROR || call->out_kind == MD_OUT_TRACEBACK) {
        /* A partly built object: let the type release what it took. */
        if (t->finalize)
            t->finalize(o);
        md_free(o);
        call->self = NULL;
        return NULL;
    }
    md_decref(call->out_value);
    call->out_value = NULL;
    call->out_kind = MD_OUT_NONE;
    return o;
}

/* True (with the call failed) when one more reference would overflow
 * the object's 32-bit count. */
static bool refcount_full(md_call *call, const md_obj *o)
{
    if (o->refcount < MD_OBJ_REFCOUNT_MAX)
        return false;
    char ident[24];
    md_obj_ident(o, ident);
    md_raise_traceback(call, "OverflowError", "object %s already has %u references", ident,
                       o->refcount);
    return true;
}

static void srv_create(md_call *call, const md_val *args, const md_val *kwds)
{
    md_server *srv = call->server;
    size_t nargs;
    md_val *const *argv = md_seq_items(args, &nargs);
    if (!argv || nargs < 1) {
        md_raise_traceback(call, "TypeError", "create() missing 1 required positional argument: 'typeid'");
        return;
    }
    const md_val *typeid = argv[0];
    md_reg_entry *e = md_reg_find(srv, typeid);
    if (!e) {
        char r[200];
        short_repr(typeid, r, sizeof r);
        md_raise_traceback(call, "KeyError", "%s", r);
        return;
    }
    if (e->kind == MD_REG_REFUSED) {
        md_raise_traceback(call, "NotImplementedError", "%s", e->refusal);
        return;
    }
    md_obj *o = e->kind == MD_REG_SHARED ? e->shared : NULL;
    if (o) {
        /* The remote-manager pattern: the same object again, one more
         * reference (CPython replaces the entry and increments). */
        if (refcount_full(call, o))
            return;
        o->refcount++;
        md_return(call, create_reply(srv, o, e, call->protocol));
        return;
    }
    o = construct(call, e, args, kwds);
    if (!o) {
        md_val *exc = call->out_value;
        call->out_value = NULL;
        md_val *tb = exc ? error_as_traceback(exc) : NULL;
        md_decref(exc);
        call->out_kind = MD_OUT_TRACEBACK;
        call->out_value = tb;
        return;
    }
    if (md_objtab_insert(srv, o) < 0) {
        if (o->type->finalize)
            o->type->finalize(o);
        md_free(o);
        md_raise_traceback(call, "MemoryError", "managerd holds its maximum number of objects");
        return;
    }
    o->refcount = 1;
    if (e->kind == MD_REG_SHARED) {
        e->shared = o;
        o->flags |= 2u;
    }
    md_val *r = create_reply(srv, o, e, call->protocol);
    if (!r) {
        o->refcount = 0;
        md_obj_maybe_free(o);
    }
    md_return(call, r);
}

md_val *md_obj_exposed(const md_obj *o)
{
    return md_type_exposed_tuple(o->type);
}

md_obj *md_reg_shared_object(md_server *srv, const char *typeid)
{
    md_val *name = md_str_from_cstr(typeid);
    md_reg_entry *e = name ? md_reg_find(srv, name) : NULL;
    if (!e || e->kind != MD_REG_SHARED) {
        md_decref(name);
        return NULL;
    }
    if (e->shared) {
        md_decref(name);
        return e->shared;
    }
    md_call call;
    call_init(&call, srv, NULL, 4);
    md_val *args = md_tuple_pack(1, name);
    md_decref(name);
    md_obj *o = args ? construct(&call, e, args, NULL) : NULL;
    md_decref(args);
    call_done(&call);
    if (!o)
        return NULL;
    if (md_objtab_insert(srv, o) < 0) {
        if (o->type->finalize)
            o->type->finalize(o);
        md_free(o);
        return NULL;
    }
    o->flags |= 2u; /* owned by the registry entry */
    e->shared = o;
    return o;
}

/* The object named by a server method's one ident argument, or NULL
 * with the #TRACEBACK already set (TypeError or KeyError). */
static md_obj *ident_arg(md_call *call, const md_val *args, const char *method)
{
    md_val *ident;
    if (one_arg(args, &ident) < 0) {
        md_raise_traceback(call, "TypeError", "%s() takes 2 positional arguments", method);
        return NULL;
    }
    md_obj *o = lookup(call->server, ident);
    if (!o) {
        char r[100];
        short_repr(ident, r, sizeof r);
        md_raise_traceback(call, "KeyError", "%s", r);
    }
    return o;
}

static void srv_incref(md_call *call, const md_val *args)
{
    md_obj *o = ident_arg(call, args, "incref");
    if (!o || refcount_full(call, o))
        return;
    /* An object only proxies stored in values kept alive comes back with
     * a count of 1, as CPython revives a manager-owned object. */
    o->refcount++;
    md_return_none(call);
}

static void srv_decref(md_call *call, const md_val *args)
{
    md_obj *o = ident_arg(call, args, "decref");
    if (!o)
        return;
    md_return_none(call);
    if (o->refcount == 0)
        return; /* only manager-owned: accepted silently, as CPython does */
    o->refcount--;
    md_obj_maybe_free(o);
}

static void srv_get_methods(md_call *call, const md_val *args)
{
    md_val *token, *typeid, *addr, *ident;
    if (one_arg(args, &token) < 0 || md_pickle_token_parts(token, &typeid, &addr, &ident) < 0) {
        md_raise_traceback(call, "TypeError", "get_methods() expects a Token");
        return;
    }
    md_obj *o = lookup(call->server, ident);
    if (!o) {
        char r[100];
        short_repr(ident, r, sizeof r);
        md_raise_traceback(call, "KeyError", "%s", r);
        return;
    }
    /* The distinct exposed names (CPython answers with a set's order). */
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *all = md_type_exposed_tuple(o->type);
    md_val *names = md_list_new(0);
    for (size_t i = 0; all && names && i < md_tuple_len(all); i++) {
        md_val *s = md_tuple_get(all, i);
        bool seen = false;
        for (size_t j = 0; j < md_list_len(names) && !seen; j++)
            seen = md_val_eq(md_list_get(names, j), s, &e) == 1;
        if (!seen)
            md_list_append(names, s);
    }
    md_val *r = NULL;
    if (names) {
        r = md_tuple_new(md_list_len(names));
        for (size_t i = 0; r && i < md_list_len(names); i++)
            md_tuple_set_steal(r, i, md_incref(md_list_get(names, i)));
    }
    md_decref(all);
    md_decref(names);
    md_return(call, r);
}

/* Idents all have 12 hex digits (MD_IDENT_MIN), so numeric order is
 * CPython's order of the ident strings. */
static int cmp_obj_ident(const void *a, const void *b)
{
    uint64_t x = (*(md_obj *const *)a)->id, y = (*(md_obj *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Keeps in heap (a max-heap by ident of at most cap objects) the cap
 * objects with the lowest idents seen so far. */
static void heap_offer(md_obj **heap, size_t *n, size_t cap, md_obj *o)
{
    size_t i;
    if (*n < cap) {
        for (i = (*n)++; i && heap[(i - 1) / 2]->id < o->id; i = (i - 1) / 2)
            heap[i] = heap[(i - 1) / 2];
        heap[i] = o;
        return;
    }
    if (o->id >= heap[0]->id)
        return;
    for (i = 0;;) {   /* replace the largest and sift it down */
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap[c + 1]->id > heap[c]->id)
            c++;
        if (heap[c]->id <= o->id)
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = o;
}

/* debug_info: CPython's text, objects with a count sorted by ident; only
 * the first MD_DEBUG_INFO_MAX_OBJECTS, then a line with the number left
 * out, so that a million objects cost one cheap pass and no huge reply. */
static void srv_debug_info(md_call *call)
{
    md_server *srv = call->server;
    size_t cap = MD_DEBUG_INFO_MAX_OBJECTS;
    md_obj **objs = md_malloc(cap * sizeof *objs);
    if (!objs) {
        md_raise_traceback(call, "MemoryError", "debug_info");
        return;
    }
    size_t k = 0, total = 0;
    for (size_t i = 0; i < srv->nbuckets; i++)
        for (md_obj *o = srv->buckets[i]; o; o = o->next_in_table)
            if (o->refcount) {
                total++;
                heap_offer(objs, &k, cap, o);
            }
    qsort(objs, k, sizeof *objs, cmp_obj_ident);
    md_buf b = MD_BUF_INIT;
    for (size_t i = 0; i < k; i++) {
        char ident[24];
        md_obj_ident(objs[i], ident);
        if (i)
            md_buf_putc(&b, '\n');
        md_buf_printf(&b, "  %s:       refcount=%u\n    ", ident, objs[i]->refcount);
        md_buf s = MD_BUF_INIT;
        md_pyerr e;
        md_pyerr_clear(&e);
        const md_type *t = objs[i]->type;
        int (*fn)(md_obj *, md_buf *, md_pyerr *) = t->str ? t->str : t->repr;
        /* Only 75 characters are shown: stop the repr soon after. */
        size_t old_limit = md_val_repr_limit(1024);
        if (fn)
            fn(objs[i], &s, &e);
        md_val_repr_limit(old_limit);
        /* str(obj)[:75]: 75 code points, not bytes */
        size_t cut = 0, cps = 0;
        while (cut < s.len && cps < 75) {
            cut++;
            while (cut < s.len && (s.data[cut] & 0xC0) == 0x80)
                cut++;
            cps++;
        }
        md_buf_append(&b, s.data, cut);
        md_buf_free(&s);
    }
    if (total > k)
        md_buf_printf(&b, "\n  ... and %zu more objects (debug_info shows the first %zu)", total - k,
                      k);
    md_free(objs);
    md_val *v = md_buf_failed(&b) ? NULL : md_str_new(b.len ? (const char *)b.data : "", b.len);
    md_buf_free(&b);
    md_return(call, v);
}

/* ---- SharedMemoryManager ------------------------------------------- */

/* Only names of the form Python's shared_memory makes may be tracked:
 * the server unlinks tracked names, and must not be made to remove any
 * other file its user may remove. */
static bool shm_name_ok(const md_val *name)
{
    size_t plen = strlen(MD_SHM_NAME_PREFIX);
    const char *s = md_str_data(name);
    if (md_str_nbytes(name) != plen + MD_SHM_NAME_HEX || strncmp(s, MD_SHM_NAME_PREFIX, plen))
        return false;
    for (size_t i = plen; i < plen + MD_SHM_NAME_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void srv_track_segment(md_call *call, const md_val *args)
{
    md_val *name;
    if (one_arg(args, &name) < 0 || md_typeof(name) != MD_T_STR) {
        md_raise_traceback(call, "TypeError", "track_segment() expects a segment name");
        return;
    }
    if (!shm_name_ok(name)) {
        char r[100];
        short_repr(name, r, sizeof r);
        md_raise_traceback(call, "ValueError",
                           "managerd tracks only segment names made by multiprocessing."
                           "shared_memory (%s + %d hex digits), not %s",
                           MD_SHM_NAME_PREFIX, MD_SHM_NAME_HEX, r);
        return;
    }
    if (md_list_append(call->server->segments, name) < 0) {
        md_raise_traceback(call, "MemoryError", "track_segment");
        return;
    }
    md_return_none(call);
}

static int shm_unlink_name(const md_val *name)
{
    char path[32];
    if (!shm_name_ok(name))
        return -1;
    snprintf(path, sizeof path, "/%s", md_str_data(name));
    return shm_unlink(path);
}

static void srv_release_segment(md_call *call, const md_val *args)
{
    md_val *name;
    md_val *segs = call->server->segments;
    if (one_arg(args, &name) < 0) {
        md_raise_traceback(call, "TypeError", "release_segment() expects a segment name");
        return;
    }
    md_pyerr e;
    md_pyerr_clear(&e);
    for (size_t i = 0; i < md_list_len(segs); i++) {
        if (md_val_eq(md_list_get(segs, i), name, &e) == 1) {
            md_list_del(segs, i);
            if (md_typeof(name) == MD_T_STR && shm_unlink_name(name) < 0) {
                md_raise_traceback(call, "FileNotFoundError",
                                   "[Errno 2] No such file or directory: '/%s'", md_str_data(name));
                return;
            }
            md_return_none(call);
            return;
        }
    }
    md_raise_traceback(call, "ValueError", "list.remove(x): x not in list");
}

static void srv_list_segments(md_call *call)
{
    md_val *segs = call->server->segments;
    md_val *copy = md_list_new(md_list_len(segs));
    for (size_t i = 0; copy && i < md_list_len(segs); i++)
        if (md_list_append(copy, md_list_get(segs, i)) < 0) {
            md_decref(copy);
            copy = NULL;
        }
    md_return(call, copy);
}

static void unlink_segments(md_server *srv)
{
    md_val *segs = srv->segments;
    while (segs && md_list_len(segs)) {
        md_val *name = md_list_get(segs, 0);
        if (md_typeof(name) == MD_T_STR)
            shm_unlink_name(name);
        md_list_del(segs, 0);
    }
}

static void srv_shutdown(md_call *call)
{
    md_server *srv = call->server;
    unlink_segments(srv);
    srv->shutdown = true;
    md_return_none(call);
}

/* ---- the table of server methods ------------------------------------ */

enum srv_method {
    SM_DUMMY, SM_CREATE, SM_INCREF, SM_DECREF, SM_GET_METHODS, SM_DEBUG_INFO,
    SM_NUMBER_OF_OBJECTS, SM_ACCEPT_CONNECTION, SM_SHUTDOWN, SM_TRACK_SEGMENT,
    SM_RELEASE_SEGMENT, SM_LIST_SEGMENTS, SM__COUNT
};

static const char *const srv_method_names[SM__COUNT] = {
    "dummy", "create", "incref", "decref", "get_methods", "debug_info",
    "number_of_objects", "accept_connection", "shutdown", "track_segment",
    "release_segment", "list_segments",
};

static int srv_method_of(const md_val *name)
{
    if (!name || md_typeof(name) != MD_T_STR)
        return -1;
    for (int i = 0; i < SM__COUNT; i++)
        if (md_str_eq_cstr(name, srv_method_names[i]))
            return i;
    return -1;
}

/* The request's four fields, or false if it is not a 4-sequence of the
 * right types. */
static bool unpack(const md_val *req, md_val **ident, md_val **method, md_val **args, md_val **kwds)
{
    size_t n, nargs;
    md_val *const *field = md_seq_items(req, &n);
    if (!field || n != 4)
        return false;
    *ident = field[0];
    *method = field[1];
    *args = field[2];
    *kwds = field[3];
    return md_typeof(*method) == MD_T_STR && md_seq_items(*args, &nargs) &&
           (md_typeof(*kwds) == MD_T_DICT);
}

bool md_disp_is_server_method(const md_val *request, bool *is_accept)
{
    md_val *ident, *method, *args, *kwds;
    *is_accept = false;
    if (!unpack(request, &ident, &method, &args, &kwds) || md_typeof(ident) != MD_T_NONE)
        return false;
    int m = srv_method_of(method);
    *is_accept = m == SM_ACCEPT_CONNECTION;
    return m >= 0 || md_introspect_is_request(method);
}

static void serve_server_method(md_call *call, md_val *method, md_val *args, md_val *kwds)
{
    switch (srv_method_of(method)) {
    case SM_DUMMY:
    case SM_ACCEPT_CONNECTION:
        md_return_none(call);
        break;
    case SM_CREATE: srv_create(call, args, kwds); break;
    case SM_INCREF: srv_incref(call, args); break;
    case SM_DECREF: srv_decref(call, args); break;
    case SM_GET_METHODS: srv_get_methods(call, args); break;
    case SM_DEBUG_INFO: srv_debug_info(call); break;
    case SM_NUMBER_OF_OBJECTS:
        md_return_int(call, (int64_t)md_server_number_of_objects(call->server));
        break;
    case SM_SHUTDOWN: srv_shutdown(call); break;
    case SM_TRACK_SEGMENT: srv_track_segment(call, args); break;
    case SM_RELEASE_SEGMENT: srv_release_segment(call, args); break;
    case SM_LIST_SEGMENTS: srv_list_segments(call); break;
    default: {
        char r[120];
        short_repr(method, r, sizeof r);
        md_raise_traceback(call, "AssertionError", "%s unrecognized", r);
    }
    }
}

/* ====================================================================== */
/* Calls on shared objects (long connections)                              */
/* ====================================================================== */

static const md_method *find_method(const md_type *t, const md_val *name)
{
    for (const md_method *m = t->methods; m && m->name; m++)
        if (md_str_eq_cstr(name, m->name))
            return m;
    return NULL;
}

static void fallback_text(md_call *call, md_obj *o, bool want_str)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    int (*fn)(md_obj *, md_buf *, md_pyerr *) = want_str && o->type->str ? o->type->str : o->type->repr;
    int rc = fn ? fn(o, &b, &e) : -1;
    if (rc < 0 && e.type)
        md_raise_pyerr(call, &e);
    else if (rc < 0 || md_buf_failed(&b))
        md_raise_noargs(call, "builtins", "MemoryError");
    else
        md_return(call, md_str_new(b.len ? (const char *)b.data : "", b.len));
    md_buf_free(&b);
}

static void not_exposed(md_call *call, md_obj *o, const md_val *name)
{
    md_buf b = MD_BUF_INIT;
    md_buf_puts(&b, "{");
    const char *const *ex = o->type->exposed;
    for (size_t i = 0; ex && ex[i]; i++)
        md_buf_printf(&b, "%s'%s'", i ? ", " : "", ex[i]);
    md_buf_puts(&b, "}");
    md_buf_putc(&b, 0);
    char r[120];
    short_repr(name, r, sizeof r);
    md_raise_traceback(call, "AttributeError", "method %s of <class '%s'> object is not in exposed=%s",
                       r, o->type->name, md_buf_failed(&b) ? "{...}" : (const char *)b.data);
    md_buf_free(&b);
}

static int serve_object_call(md_call *call, md_val *ident, md_val *method, md_val *args, md_val *kwds)
{
    md_obj *o = lookup(call->server, ident);
    if (!o) {
        char r[100];
        short_repr(ident, r, sizeof r);
        return md_raise_traceback(call, "KeyError", "%s", r);
    }
    call->self = o;
    const md_method *m = find_method(o->type, method);
    if (!m) {
        if (md_str_eq_cstr(method, "__str__"))
            fallback_text(call, o, true);
        else if (md_str_eq_cstr(method, "__repr__"))
            fallback_text(call, o, false);
        else if (md_str_eq_cstr(method, "#GETVALUE"))
            goto getvalue;
        else
            not_exposed(call, o, method);
        return MD_CALL_DONE;
    }
    call->method = m;
    if (bind_args(call, m->name, m->params, m->min_args, m->max_args, m->flags, args, kwds) < 0)
        return MD_CALL_DONE;
    /* The handler may park the call; the waiter holds the object. */
    return m->fn(call);

getvalue: {
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *v = o->type->getvalue ? o->type->getvalue(o, call, &e) : NULL;
    if (v)
        return md_return(call, v);
    char text[300];
    snprintf(text, sizeof text, "%s: %s", e.type ? e.type : "TypeError",
             e.type ? e.msg : "cannot pickle this object");
    md_decref(call->out_value);
    call->out_kind = MD_OUT_UNSERIALIZABLE;
    call->out_value = traceback_text(text);
    return MD_CALL_DONE;
}
}

/* ====================================================================== */
/* Entry point                                                             */
/* ====================================================================== */

/* Cycles are collected between loop turns, not inside a request: then
 * no value is half built and the request just served (which may be the
 * garbage) has been released by its connection. */
static void gc_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    *(bool *)arg = false;
    md_gc_maybe_collect();
}

static void gc_schedule(md_server *srv)
{
    static bool scheduled;
    static const struct timeval now = {0, 0};
    if (!scheduled && srv->base && md_gc_due() &&
        event_base_once(srv->base, -1, EV_TIMEOUT, gc_turn, &scheduled, &now) == 0)
        scheduled = true;
}

/* The (type, method) a finished or parked object call is counted under:
 * static names only, so the counters stay bounded. */
static void label_object_call(md_call *call, const md_val *method)
{
    static const char *const fallbacks[] = {"__str__", "__repr__", "#GETVALUE"};
    const char *name = call->method ? call->method->name : NULL;
    for (size_t i = 0; !name && call->self && i < 3; i++)
        if (md_str_eq_cstr(method, fallbacks[i]))
            name = fallbacks[i];
    md_stats_request_label(call->peer, call->self ? call->self->type->name : NULL, name);
}

/* A request on a short connection: a server method, or an introspection
 * request (core/disp/introspect.c), both only after the handshake. */
static void serve_short(md_call *call, md_val *ident, md_val *method, md_val *args, md_val *kwds)
{
    int m = srv_method_of(method);
    if (md_typeof(ident) == MD_T_NONE && md_introspect_is_request(method)) {
        md_stats_request_label(call->peer, "server", md_introspect_name(method));
        md_introspect_serve(call, method, args);
        return;
    }
    if (md_typeof(ident) != MD_T_NONE || m < 0) {
        char r[120];
        short_repr(method, r, sizeof r);
        md_raise_traceback(call, "AssertionError", "%s unrecognized", r);
        return;
    }
    md_stats_request_label(call->peer, "server", srv_method_names[m]);
    serve_server_method(call, method, args, kwds);
}

void md_disp_request(md_server *srv, md_peer *peer, md_val *request, bool long_conn)
{
    md_stats_request_begin(peer);
    gc_schedule(srv);
    int protocol = peer->protocol;
    /* Count every proxy anywhere in the request first: positional or
     * keyword arguments of a call or a create, however deep
     * (m.dict(pets=pets), q.put([p])). Then let go of what the last
     * reply named: the client has registered those proxies by now, and
     * this request may be the one that stores one again. */
    int adopted = peer->may_carry_proxies ? md_proxies_adopt(request) : 0;
    md_proxies_release_sent(peer);
    md_val *ident, *method, *args, *kwds;
    if (!request) { /* the transport ran out of memory building it */
        reply_traceback(srv, peer, protocol, "MemoryError: building the request");
        return;
    }
    if (!unpack(request, &ident, &method, &args, &kwds)) {
        reply_traceback(srv, peer, protocol,
                        "ValueError: a request must be (ident, methodname, args, kwds)");
        return;
    }
    if (adopted < 0) {
        reply_traceback(srv, peer, protocol, "MemoryError: counting stored proxies");
        return;
    }
    md_call call;
    call_init(&call, srv, peer, protocol);
    if (!long_conn) {
        serve_short(&call, ident, method, args, kwds);
    } else {
        int parked = serve_object_call(&call, ident, method, args, kwds) == MD_CALL_PARKED;
        label_object_call(&call, method);
        if (parked) {
            call_done(&call);
            return; /* parked: the reply comes later */
        }
    }
    deliver_call(&call);
    call_done(&call);
    if (srv->shutdown && srv->shutdown_fn)
        srv->shutdown_fn(srv->shutdown_arg);
}
