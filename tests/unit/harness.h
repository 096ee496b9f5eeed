/* harness.h - drive the dispatcher from CUnit tests without sockets.
 *
 * A harness owns an event base and an md_server with every SyncManager
 * typeid registered. Its peers record the replies delivered to them, so a
 * test can make a call, park it, complete it from another peer, and read
 * the replies in order. Values passed in are borrowed.
 */
#ifndef MD_HARNESS_H
#define MD_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/disp/disp.h"

typedef struct md_th md_th;

md_th *md_th_new(void);
void md_th_free(md_th *th);
md_server *md_th_server(md_th *th);

/* A recording peer speaking the given pickle protocol (2..5; 0 = XML). */
md_peer *md_th_peer(md_th *th, int protocol);
/* A peer that records its first reply without allocating (the harness's
 * peers allocate, which fails under an allocation-failure sweep); later
 * replies are counted and dropped. The caller owns payload. */
typedef struct md_th_rec_peer {
    md_peer base;
    int nreplies, kind;
    md_val *payload;
} md_th_rec_peer;
void md_th_rec_peer_init(md_th_rec_peer *r, md_server *srv);
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

/* ---- value builders: each steals the values given to it -------------- */

/* A tuple of n new values, which it steals: md_th_tuple(2, a, b). */
md_val *md_th_tuple(size_t n, ...);
md_val *md_th_str(const char *s);
md_val *md_th_int(int64_t i);
md_val *md_th_float(double d);
/* An int of any size from its decimal digits. */
md_val *md_th_big(const char *decimal);
md_val *md_th_bytes(const void *data, size_t n);
/* md_th_list(2, a, b) */
md_val *md_th_list(size_t n, ...);
/* md_th_dict(2, key, value, key, value): npairs pairs. */
md_val *md_th_dict(size_t npairs, ...);
/* md_th_set(false, 2, a, b): a set (frozen: a frozenset). */
md_val *md_th_set(bool frozen, size_t n, ...);

/* ---- checks: failures are reported at the caller's file and line ------- */

/* A fresh private folder (mkdtemp, mode 0700) named NAME.XXXXXX under
 * $TMPDIR (or /tmp) into buf; buf on success, NULL on failure. */
char *md_th_mkdtemp(char *buf, size_t len, const char *name);

/* The number of shared objects the server holds. */
size_t md_th_nobj(md_th *th);
/* create(typeid, *args, **kwargs) must succeed: the ident is copied into
 * ident (>= 32 bytes; "" on failure). args and kwargs are stolen (NULL:
 * none). */
void md_th_create_ok(md_th *th, const char *typeid, md_val *args, md_val *kwargs, char *ident,
                     const char *file, int line);
/* create(...) must fail with a #TRACEBACK containing text; args and
 * kwargs are stolen. */
void md_th_create_fails(md_th *th, const char *typeid, md_val *args, md_val *kwargs,
                        const char *text, const char *file, int line);

/* decref(ident) must succeed. */
void md_th_drop(md_th *th, const char *ident, const char *file, int line);

#endif /* MD_HARNESS_H */
