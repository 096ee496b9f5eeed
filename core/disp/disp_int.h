/* disp_int.h - what the dispatcher's files (core/disp/) share: the
 * request's parts, argument binding, the replies, and the handlers of
 * the server-method table. Not for transports or types. */
#ifndef MD_DISP_INT_H
#define MD_DISP_INT_H

#include "core/disp/disp.h"
#include "core/server_impl.h"
#include "core/types/registry.h"

/* ---- requests and arguments (bind.c) ------------------------------------ */

/* A request and its args are a tuple or a list: read them with
 * md_seq_items (core/value), the one accessor of both. */

/* A call from peer (NULL: the server itself) at protocol, with no
 * outcome yet; md_disp_call_done releases what the call still owns. */
void md_disp_call_init(md_call *call, md_server *srv, md_peer *peer, int protocol);
void md_disp_call_done(md_call *call);

/* Bind args/kwds to params like a Python def with those parameters:
 * call->argv, nargs, varargs, varkw. 0, or -1 with Python's TypeError
 * raised on the call. */
int md_disp_bind(md_call *call, const char *fname, const char *const *params, size_t min,
                 size_t max, uint16_t flags, const md_val *args, const md_val *kwds);

/* ---- replies (reply.c) ----------------------------------------------------- */

/* The call's outcome to its peer, now: a #PROXY reply registers the new
 * object first. */
void md_disp_deliver_call(md_call *call);
/* A #TRACEBACK built from a printf format, for requests that never
 * became a call. */
void md_disp_reply_traceback(md_peer *peer, int protocol, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- objects (objects.c) ------------------------------------------------- */

/* The object an ident names, or NULL. */
md_obj *md_disp_lookup(md_server *srv, const md_val *ident);
/* The same, or NULL with KeyError(repr(ident)) as the call's #TRACEBACK,
 * which is what CPython's Server raises. */
md_obj *md_disp_find_or_keyerror(md_call *call, const md_val *ident);
/* Calls on shared objects (objcall.c): MD_CALL_DONE or MD_CALL_PARKED. */
int md_disp_object_call(md_call *call, md_val *ident, md_val *method, md_val *args,
                        md_val *kwds);
/* The static name of a method every object answers outside its table
 * (__str__, __repr__, #GETVALUE), or NULL: a bounded label for counters. */
const char *md_disp_unlisted_name(const md_val *method);

/* ---- server methods (srv_methods.c and the handlers of its rows) -------- */

/* Run a server method's row after checking its count of arguments. */
void md_disp_serve_server_method(md_call *call, const md_srv_method *m, const md_val *args,
                                 const md_val *kwds);

void md_srv_create(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_incref(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_decref(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_get_methods(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_debug_info(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_track_segment(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_release_segment(md_call *call, const md_val *args, const md_val *kwds);
void md_srv_list_segments(md_call *call, const md_val *args, const md_val *kwds);
/* Unlink every tracked shared-memory segment (shutdown, server free). */
void md_srv_unlink_segments(md_server *srv);

#endif /* MD_DISP_INT_H */
