/* disp.c - the dispatcher's entry point: one decoded request in, one
 * outcome out (see disp.h).
 *
 * A request is (ident, methodname, args, kwds). On a short connection
 * (ident None) it names a server method (srv_methods.c) or an
 * introspection request (introspect.c); on a long connection it names a
 * shared object and one of its exposed methods (objcall.c). Proxies in
 * the request are counted first, and the outcome goes to the peer
 * (reply.c), now or, for a parked call, when it completes (core/park.c).
 */
#include "core/disp/disp_int.h"

#include <event2/event.h>

#include "core/disp/introspect.h"

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
    const md_srv_method *m = md_disp_server_method(method);
    *is_accept = m && (m->flags & MD_SRV_ACCEPT);
    return m || md_introspect_is_request(method);
}

/* The (type, method) a finished or parked object call is counted under:
 * static names only, so the counters stay bounded. */
static void label_object_call(md_call *call, const md_val *method)
{
    const char *name = call->method ? call->method->name : NULL;
    if (!name && call->self)
        name = md_disp_unlisted_name(method);
    md_stats_request_label(call->peer, call->self ? call->self->type->name : NULL, name);
}

/* A request on a short connection: a server method, or an introspection
 * request (core/disp/introspect.c), both only after the handshake. */
static void serve_short(md_call *call, md_val *ident, md_val *method, md_val *args, md_val *kwds)
{
    if (md_typeof(ident) == MD_T_NONE && md_introspect_is_request(method)) {
        md_stats_request_label(call->peer, "server", md_introspect_name(method));
        md_introspect_serve(call, method, args);
        return;
    }
    const md_srv_method *m = md_disp_server_method(method);
    if (md_typeof(ident) != MD_T_NONE || !m) {
        char r[120];
        md_val_short_repr(method, r, sizeof r, "");
        md_raise_traceback(call, "AssertionError", "%s unrecognized", r);
        return;
    }
    md_stats_request_label(call->peer, "server", m->name);
    md_disp_serve_server_method(call, m, args, kwds);
}

/* A long connection's request; true when the call parked. */
static bool serve_long(md_call *call, md_val *ident, md_val *method, md_val *args, md_val *kwds)
{
    int rc = md_disp_object_call(call, ident, method, args, kwds);
    label_object_call(call, method);
    return rc == MD_CALL_PARKED;
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
        md_disp_reply_traceback(peer, protocol, "MemoryError: building the request");
        return;
    }
    if (!unpack(request, &ident, &method, &args, &kwds)) {
        md_disp_reply_traceback(peer, protocol,
                                "ValueError: a request must be (ident, methodname, args, kwds)");
        return;
    }
    if (adopted < 0) {
        md_disp_reply_traceback(peer, protocol, "MemoryError: counting stored proxies");
        return;
    }
    md_call call;
    md_disp_call_init(&call, srv, peer, protocol);
    bool parked = false;
    if (long_conn)
        parked = serve_long(&call, ident, method, args, kwds);
    else
        serve_short(&call, ident, method, args, kwds);
    if (!parked) /* parked: the reply comes later */
        md_disp_deliver_call(&call);
    md_disp_call_done(&call);
    if (!parked && srv->shutdown && srv->shutdown_fn)
        srv->shutdown_fn(srv->shutdown_arg);
}
