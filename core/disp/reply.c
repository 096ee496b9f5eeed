/* reply.c - a finished call's outcome to its peer. Everything but a
 * #PROXY reply goes straight to md_peer_reply (core/peer.c), the path
 * parked calls take too; a #PROXY first registers the new object a
 * method_to_typeid handler made and builds its (exposed, Token) pair. */
#include "core/disp/disp_int.h"

#include <stdarg.h>
#include <stdio.h>

#include "serializers/pickle.h"

/* Register a new object made by a method_to_typeid handler and build the
 * #PROXY payload (exposed, Token). */
static md_val *proxy_payload(md_server *srv, md_obj *o)
{
    if (md_objtab_insert(srv, o) < 0) {
        md_obj_maybe_free(o); /* not registered: nothing else can free it */
        return NULL;
    }
    o->refcount = 1;
    char ident[24];
    md_obj_ident(o, ident);
    md_val *exposed = md_type_exposed_tuple(o->type);
    md_val *token = md_proto_token_new(o->typeid, srv->address, ident);
    md_val *payload = exposed && token ? md_tuple_pack(2, exposed, token) : NULL;
    md_decref(exposed);
    md_decref(token);
    if (!payload) {
        o->refcount = 0;
        md_obj_maybe_free(o);
    }
    return payload;
}

/* A #PROXY outcome's payload; value (stolen) is replaced. */
static int proxy_reply(md_server *srv, int protocol, md_obj *proxy, md_val **value)
{
    md_decref(*value);
    *value = proxy_payload(srv, proxy);
    if (!*value) {
        *value = md_proto_traceback("MemoryError");
        return MD_OUT_TRACEBACK;
    }
    if (protocol == 0) {
        /* An 'xmlrpclib' client cannot rebuild a Token (tests/docs/protocol.md
         * §6.4): the new object could never be released by it, so it
         * is not kept (CPython leaks it). */
        proxy->refcount = 0;
        md_obj_maybe_free(proxy);
    }
    return MD_OUT_PROXY;
}

/* A view (d.copy(), d.items(), l[:] ...: serializers/pickle.h) goes as it
 * is only to a pickle peer that encodes it now, before anything can
 * change its source; any other gets the real container. */
static int real_view(const md_call *call, md_val **v)
{
    if (!md_pickle_is_view(*v) || (call->protocol >= 2 && call->peer->ops->encodes_at_once))
        return MD_OUT_RETURN;
    md_val *real = md_pickle_view_materialize(*v);
    md_decref(*v);
    *v = real;
    if (real)
        return MD_OUT_RETURN;
    *v = md_exc_make("builtins", "MemoryError", 0);
    return *v ? MD_OUT_ERROR : MD_OUT_TRACEBACK;
}

void md_disp_deliver_call(md_call *call)
{
    md_val *v = call->out_value;
    call->out_value = NULL;
    int kind = call->out_kind;
    if (kind == MD_OUT_NONE)
        kind = MD_OUT_RETURN, v = v ? v : md_none();
    if (kind == MD_OUT_RETURN && v)
        kind = real_view(call, &v);
    if (kind == MD_OUT_PROXY)
        kind = proxy_reply(call->server, call->protocol, call->out_proxy, &v);
    call->out_proxy = NULL;
    md_peer_reply(call->peer, call->protocol, kind, v);
}

void md_disp_reply_traceback(md_peer *peer, int protocol, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    md_peer_reply(peer, protocol, MD_OUT_TRACEBACK, md_proto_traceback(text));
}
