/* server_impl.h - md_server's insides, shared by the core's own files
 * (dispatcher, object table, registry, parking). Not for transports. */
#ifndef MD_SERVER_IMPL_H
#define MD_SERVER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/obj.h"
#include "core/peer.h"

struct event_base;

struct md_server {
    struct event_base *base;
    md_val *address;             /* token address for #PROXY replies */
    /* object table: chained hash on the numeric id */
    md_obj **buckets;
    size_t nbuckets;
    size_t nobjects;
    uint64_t next_id;
    size_t max_objects;
    /* registry */
    struct md_reg_entry *reg;    /* core/types/registry.c */
    size_t nreg, capreg;
    /* SharedMemoryManager segments, in the order tracked */
    md_val *segments;            /* list of str */
    bool shutdown;
    void (*shutdown_fn)(void *);
    void *shutdown_arg;
    /* Told of every reply as it goes out (md_peer_reply), so that the
     * request counters of core/disp/introspect.c, which sit above the
     * object runtime, see parked calls complete too; set by
     * md_server_new. */
    void (*on_reply)(md_peer *peer, int kind);
};

/* object table (objtab.c) */
int md_objtab_insert(md_server *srv, md_obj *o);
md_obj *md_objtab_find(md_server *srv, uint64_t id);
void md_objtab_remove(md_server *srv, md_obj *o);
/* Free the object if nothing keeps it alive any more. */
void md_obj_maybe_free(md_obj *o);
/* ident text to id; false if it is not one of ours. */
bool md_ident_parse(const md_val *ident, uint64_t *id);
void md_objtab_clear(md_server *srv);

/* parking (park.c): drop a waiter without a reply (its peer closed) */
void md_park_cancel(md_waiter *w);

/* proxies.c: tell the value layer to report freed watched proxies to
 * this file (md_opaque_set_free_hook); md_server_new calls it, so the
 * hook is in place before any request can store a proxy. */
void md_proxies_init(void);
/* Count every proxy of ours inside value as a reference to
 * its referent, released when the proxy value is freed. 0 or -1 ENOMEM
 * (a partial walk leaves consistent counts). */
int md_proxies_adopt(md_val *value);
/* Hold every object a proxy in reply names until the peer's next
 * request (md_proxies_release_sent): the client increfs them first.
 * 0 or -1 ENOMEM. */
int md_proxies_hold_sent(md_peer *peer, md_val *reply);
void md_proxies_release_sent(md_peer *peer);

/* The server the current object belongs to: one per process. */
extern md_server *md_current_server;

#endif /* MD_SERVER_IMPL_H */
