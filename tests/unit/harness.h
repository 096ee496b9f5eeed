/* harness.h - drive the dispatcher from CUnit tests without sockets.
 *
 * A harness owns an event base and an md_server with every SyncManager
 * typeid registered. Its peers record the replies delivered to them, so a
 * test can make a call, park it, complete it from another peer, and read
 * the replies in order. Values passed in are borrowed.
 */
#ifndef MD_HARNESS_H
#define MD_HARNESS_H

#include "core/disp.h"

typedef struct md_th md_th;

md_th *md_th_new(void);
void md_th_free(md_th *th);
md_server *md_th_server(md_th *th);

/* A recording peer speaking the given pickle protocol (2..5; 0 = XML). */
md_peer *md_th_peer(md_th *th, int protocol);
/* Close a peer as a vanished client would (its parked call is dropped). */
void md_th_close_peer(md_th *th, md_peer *peer);

/* create(typeid, *args, **kwargs) as a short-connection request; on
 * success copies the ident into ident (>= 32 bytes) and returns
 * MD_OUT_RETURN; otherwise returns the reply kind (MD_OUT_TRACEBACK) and
 * leaves the reply readable with md_th_take. args/kwargs may be NULL. */
int md_th_create(md_th *th, const char *typeid, md_val *args, md_val *kwargs,
                 char *ident);
/* The protocol of the peer md_th_create and md_th_server_call use (4 by
 * default; 2 creates as a Python 2.7 client). */
void md_th_set_create_protocol(md_th *th, int protocol);
/* Any server method (incref, decref, number_of_objects, ...). Returns the
 * reply kind; the payload is readable with md_th_take. */
int md_th_server_call(md_th *th, const char *method, md_val *args);
/* A call on a shared object from peer, on its long connection. */
void md_th_call(md_th *th, md_peer *peer, const char *ident, const char *method,
                md_val *args, md_val *kwargs);
/* Pop the oldest reply delivered to peer (NULL peer: the harness's own
 * short-connection peer): returns its kind (MD_OUT_NONE if there is none
 * yet) and sets *payload to a new reference (or NULL). */
int md_th_take(md_th *th, md_peer *peer, md_val **payload);
/* Run the event loop for about `seconds` (timers fire). */
void md_th_run(md_th *th, double seconds);

/* Convenience: call and take the reply in one go; returns the kind and
 * the payload (new reference) like md_th_take. */
int md_th_call_take(md_th *th, md_peer *peer, const char *ident, const char *method,
                    md_val *args, md_val *kwargs, md_val **payload);

/* A tuple of n new values, which it steals: md_th_tuple(2, a, b). */
md_val *md_th_tuple(size_t n, ...);

/* Test assertion helpers: the repr of v equals expect. */
int md_th_repr_eq(const md_val *v, const char *expect);

#endif /* MD_HARNESS_H */
