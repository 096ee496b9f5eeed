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

struct event_base;

/* Reply kinds, as the wire spells them. */
#define MD_OUTCOMES(X)                         \
    X(NONE, NULL)                              \
    X(RETURN, "#RETURN")                       \
    X(ERROR, "#ERROR")                         \
    X(TRACEBACK, "#TRACEBACK")                 \
    X(PROXY, "#PROXY")                         \
    X(UNSERIALIZABLE, "#UNSERIALIZABLE")

enum md_out_kind {
#define MD_OUT_ENUM(name, text) MD_OUT_##name,
    MD_OUTCOMES(MD_OUT_ENUM)
#undef MD_OUT_ENUM
};

const char *md_out_kind_text(int kind);

/* ---- peers ------------------------------------------------------------- */

struct md_peer_info;

typedef struct md_peer_ops {
    /* Send one reply: kind is MD_OUT_*, payload is stolen (for
     * MD_OUT_PROXY it is the (exposed, Token) pair already built). */
    void (*deliver)(md_peer *peer, int kind, md_val *payload);
    /* Optional: who the peer is, for introspection (core/disp/introspect.h). */
    void (*describe)(const md_peer *peer, struct md_peer_info *out);
} md_peer_ops;

struct md_peer {
    const md_peer_ops *ops;
    md_server *server;
    int protocol;              /* of the peer's last request; 0 = XML */
    md_waiter *parked;         /* at most one call parked at a time */
    md_obj **watched;          /* md_peer_watch registrations */
    uint32_t nwatched;
    size_t capwatched;
    char name[64];             /* accept_connection's name, for logs */
    /* Set by the transport when the request may carry proxies (its bytes
     * name RebuildProxy), so the dispatcher counts them; see proxies.c. */
    bool may_carry_proxies;
    /* Objects named by proxies in replies sent to this peer, held until
     * its next request or its close (proxies.c). */
    md_obj **sent;
    uint32_t nsent;
    size_t capsent;
    /* XML-RPC over HTTP: keep #ERROR outcomes as exceptions (they become
     * fault 1) instead of the #TRACEBACK text xmlrpclib clients get. */
    bool raw_exceptions;
    /* Introspection (core/disp/introspect.c): the list of open peers, when
     * this one opened, its requests, and the one being served. */
    md_peer *stats_prev, *stats_next;
    bool stats_linked;
    double opened_at;              /* wall clock, seconds since the epoch */
    uint64_t nrequests;
    double req_started;            /* monotonic; 0: none in progress */
    const char *req_type, *req_method;
};

void md_peer_init(md_peer *peer, const md_peer_ops *ops, md_server *server);
/* The peer is gone: cancel its parked call (no reply), tell the objects
 * it watched, release everything. Safe to call once. */
void md_peer_close(md_peer *peer);

/* ---- registry ---------------------------------------------------------- */

typedef enum md_reg_kind {
    MD_REG_TYPE,       /* each create makes a new object (SyncManager) */
    MD_REG_SHARED,     /* --share: every create returns one object */
    MD_REG_REFUSED     /* Pool, AsyncResult: refused with a reason */
} md_reg_kind;

/* Add a typeid. For MD_REG_SHARED the object is made on first use.
 * Returns 0, or -1 if the type name is unknown (errbuf says so). */
int md_reg_add(md_server *srv, const char *typeid, const char *type_name,
               md_reg_kind kind, char *errbuf, size_t errlen);
/* Register every SyncManager typeid. */
int md_reg_add_syncmanager(md_server *srv);
/* The built-in type of that name ("dict", "Queue", ...), or NULL. */
const md_type *md_reg_builtin_type(const char *type_name);

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

/* Monotonic seconds, for deadlines. */
double md_now(void);

/* Whether a request is a server method (short connection) and which:
 * returns true and sets *is_accept for accept_connection. */
bool md_disp_is_server_method(const md_val *request, bool *is_accept);

/* Serve one decoded request from peer. long_conn: the request came on an
 * accept_connection'd connection (object calls only); otherwise server
 * methods only. The reply is delivered through peer->ops (maybe later). */
void md_disp_request(md_server *srv, md_peer *peer, md_val *request, bool long_conn);

/* The exposed names of an object, as create() returns them (new). */
md_val *md_obj_exposed(const md_obj *o);
/* The one object of a --share typeid, made on first use; NULL if typeid
 * is not a shared one (or out of memory). */
md_obj *md_reg_shared_object(md_server *srv, const char *typeid);

/* Objects, for tests and debug. */
size_t md_server_number_of_objects(const md_server *srv);
md_obj *md_server_find(md_server *srv, const char *ident);

#endif /* MD_DISP_H */
