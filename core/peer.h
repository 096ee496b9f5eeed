/* peer.h - one caller of shared objects (a long connection, an HTTP
 * request, a test's recording peer) as the object runtime sees it: how
 * replies reach it, the call it has parked, the objects it watches for
 * ownership and the objects named in replies it was sent.
 *
 * A transport embeds an md_peer in its connection, opens and closes it
 * with md_peer_init / md_peer_close (core/disp/disp.h) and supplies the
 * ops that write a reply. Everything runs on the event-loop thread.
 */
#ifndef MD_PEER_H
#define MD_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/obj.h"
#include "core/protocol/protocol.h"

struct md_peer_info;

typedef struct md_peer_ops {
    /* Send one reply: kind is MD_OUT_*, payload is stolen (for
     * MD_OUT_PROXY it is the (exposed, Token) pair already built). */
    void (*deliver)(md_peer *peer, int kind, md_val *payload);
    /* Optional: who the peer is, for introspection (core/disp/introspect.h). */
    void (*describe)(const md_peer *peer, struct md_peer_info *out);
    /* deliver encodes a pickle payload before it returns and keeps no
     * reference to it, so a reply may be a view of a live container
     * (serializers/pickle.h); other peers get the container made real. */
    bool encodes_at_once;
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
    /* Set by the transport when the request may carry proxies (its
     * decoder resolved a global named RebuildProxy), so the dispatcher
     * counts them; see proxies.c. */
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

/* Send the outcome of a call to peer, now: the one path of every reply,
 * made at once by the dispatcher or later when a parked call completes
 * (park.c). An #ERROR for an 'xmlrpclib' peer becomes #TRACEBACK text, a
 * missing value MemoryError; proxies in a #RETURN are held for the peer
 * (proxies.c). Steals value. */
void md_peer_reply(md_peer *peer, int protocol, int kind, md_val *value);

/* Let go of everything peer holds: cancel its parked call (no reply),
 * tell the objects it watched (type->peer_gone), release what replies
 * named. The peer is closing (md_peer_close). */
void md_peer_release(md_peer *peer);

#endif /* MD_PEER_H */
