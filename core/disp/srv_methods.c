/* srv_methods.c - the server methods a short connection may ask for, as
 * one table: name, handler, CPython's signature, how many positional
 * arguments it takes, and a line of help. The dispatcher finds the row,
 * checks the count of arguments once here, and runs the handler; a
 * handler can rely on its argument count. */
#include "core/disp/disp_int.h"

static void srv_none(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)args, (void)kwds;
    md_return_none(call);
}

static void srv_number_of_objects(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)args, (void)kwds;
    md_return_int(call, (int64_t)md_server_number_of_objects(call->server));
}

static void srv_shutdown(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)args, (void)kwds;
    md_srv_unlink_segments(call->server);
    call->server->shutdown = true;
    md_return_none(call);
}

#define ANY MD_SRV_ANY_ARGS

/* CPython's Server.public, plus SharedMemoryServer's three. */
const md_srv_method md_disp_server_methods[] = {
    {"shutdown", srv_shutdown, "shutdown(c)", 0, ANY, 0, NULL,
     "stop the server after this reply; tracked shared memory is unlinked"},
    {"create", md_srv_create, "create(c, typeid, /, *args, **kwds)", 1, ANY, 0,
     "missing 1 required positional argument: 'typeid'",
     "make an object of typeid (or return a --share typeid's one object): (ident, exposed)"},
    {"accept_connection", srv_none, "accept_connection(c, name)", 0, ANY, MD_SRV_ACCEPT, NULL,
     "turn this connection into a long one that calls methods of objects"},
    {"get_methods", md_srv_get_methods, "get_methods(c, token)", 1, 1, 0, "expects a Token",
     "the distinct exposed method names of the object a Token names"},
    {"debug_info", md_srv_debug_info, "debug_info(c)", 0, ANY, 0, NULL,
     "a text listing the objects that have references, by ident"},
    {"number_of_objects", srv_number_of_objects, "number_of_objects(c)", 0, ANY, 0, NULL,
     "how many objects have references"},
    {"dummy", srv_none, "dummy(c)", 0, ANY, 0, NULL, "do nothing (a client's connection test)"},
    {"incref", md_srv_incref, "incref(c, ident)", 1, 1, 0, "takes 2 positional arguments",
     "one more reference to the object ident names"},
    {"decref", md_srv_decref, "decref(c, ident)", 1, 1, 0, "takes 2 positional arguments",
     "one reference less; the object goes with its last one"},
    {"track_segment", md_srv_track_segment, "track_segment(c, segment_name)", 1, 1, 0,
     "expects a segment name", "remember a shared_memory segment to unlink at shutdown"},
    {"release_segment", md_srv_release_segment, "release_segment(c, segment_name)", 1, 1, 0,
     "expects a segment name", "unlink a tracked segment and forget it"},
    {"list_segments", md_srv_list_segments, "list_segments(c)", 0, ANY, 0, NULL,
     "the names of the tracked segments"},
    {NULL, NULL, NULL, 0, 0, 0, NULL, NULL},
};

#undef ANY

const md_srv_method *md_disp_server_method(const md_val *name)
{
    if (!name || md_typeof(name) != MD_T_STR)
        return NULL;
    for (const md_srv_method *m = md_disp_server_methods; m->name; m++)
        if (md_str_eq_cstr(name, m->name))
            return m;
    return NULL;
}

/* Run row m with args (a tuple or list) after checking their count. */
void md_disp_serve_server_method(md_call *call, const md_srv_method *m, const md_val *args,
                                 const md_val *kwds)
{
    size_t n;
    md_seq_items(args, &n);
    if (n < m->min_args || (m->max_args != MD_SRV_ANY_ARGS && n > m->max_args)) {
        md_raise_traceback(call, "TypeError", "%s() %s", m->name, m->arity_error);
        return;
    }
    m->fn(call, args, kwds);
}
