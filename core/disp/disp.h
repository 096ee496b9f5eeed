/* disp.h - the core dispatcher: one request in, one outcome out.
 *
 * A transport decodes a request (ident, methodname, args, kwds) with its
 * serializer and hands it to md_disp_request together with the md_peer
 * that made it. The dispatcher serves server methods (create, incref,
 * decref, ...) and calls on shared objects, and delivers the outcome
 * through the peer's ops: at once, or later for a parked call.
 *
 * The object table, the type registry and the server-wide state live in
 * md_server. Everything runs on the event-loop thread.
 */
#ifndef MD_DISP_H
#define MD_DISP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/obj.h"
#include "core/peer.h"
#include "core/protocol/protocol.h"

struct event_base;

/* ---- peers ------------------------------------------------------------- */

/* Open a peer (struct md_peer, core/peer.h) for a transport: it is
 * counted among the open connections until md_peer_close. */
void md_peer_init(md_peer *peer, const md_peer_ops *ops, md_server *server);
/* The peer is gone: cancel its parked call (no reply), tell the objects
 * it watched, release everything. Safe to call once. */
void md_peer_close(md_peer *peer);

/* ---- the server ------------------------------------------------------ */

typedef struct md_server_opts {
    size_t max_objects;
} md_server_opts;

md_server *md_server_new(struct event_base *base, const md_server_opts *opts);
void md_server_free(md_server *srv);
struct event_base *md_server_base(md_server *srv);
/* The address written into the tokens of #PROXY replies: a (host, port)
 * tuple or a str; borrowed by the server (it increfs). */
void md_server_set_address(md_server *srv, md_val *address);
/* Set when a client asked for shutdown; the main loop stops. */
bool md_server_shutdown_requested(const md_server *srv);
void md_server_set_shutdown_hook(md_server *srv, void (*fn)(void *), void *arg);

/* Whether a request is a server method (short connection) and which:
 * returns true and sets *is_accept for accept_connection. */
bool md_disp_is_server_method(const md_val *request, bool *is_accept);

/* One row of the table of server methods (core/disp/srv_methods.c): what
 * a short connection may ask, checked against min_args/max_args before
 * the handler runs. */
#define MD_SRV_ANY_ARGS 255
enum md_srv_flags {
    MD_SRV_ACCEPT = 1 << 0,    /* accept_connection: the connection turns long */
};
typedef void (*md_srv_fn)(md_call *call, const md_val *args, const md_val *kwds);
typedef struct md_srv_method {
    const char *name;
    md_srv_fn fn;
    const char *signature;     /* CPython's Server method, for help */
    uint8_t min_args, max_args; /* positional arguments; MD_SRV_ANY_ARGS */
    uint16_t flags;
    /* The TypeError for a wrong count of arguments, after "name() ":
     * CPython's own words for each method. */
    const char *arity_error;
    const char *help;
} md_srv_method;
/* The row of a server method name, or NULL. */
const md_srv_method *md_disp_server_method(const md_val *name);
/* The table, ended by a row with a NULL name. */
extern const md_srv_method md_disp_server_methods[];

/* Serve one decoded request from peer. long_conn: the request came on an
 * accept_connection'd connection (object calls only); otherwise server
 * methods only. The reply is delivered through peer->ops (maybe later). */
void md_disp_request(md_server *srv, md_peer *peer, md_val *request, bool long_conn);

/* The exposed names of an object, as create() returns them (new). */
md_val *md_obj_exposed(const md_obj *o);
/* The one object of a --share typeid, made on first use; NULL if typeid
 * is not a shared one (or out of memory). */
md_obj *md_reg_shared_object(md_server *srv, const char *typeid);


#endif /* MD_DISP_H */
