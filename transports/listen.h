/* listen.h - managerd's listeners and server-side connections for the
 * multiprocessing.connection transport: TCP (IPv4/IPv6), Unix and Linux
 * abstract sockets, all feeding one md_server.
 *
 * A connection runs the HMAC handshake, then serves one server method
 * (a short connection) or, after accept_connection, calls on shared
 * objects until the client closes it (a long connection).
 */
#ifndef MD_LISTEN_H
#define MD_LISTEN_H

#include <stddef.h>

#include "core/disp.h"
#include "transports/address.h"
#include "transports/auth.h"

struct event_base;

typedef struct md_listen_opts {
    size_t max_message;        /* bytes; MD_MAX_MESSAGE_DEFAULT if 0 */
    size_t max_connections;    /* MD_MAX_CONNECTIONS_DEFAULT if 0 */
    const md_auth_key *key;    /* borrowed; must outlive the listeners */
} md_listen_opts;

typedef struct md_listeners md_listeners;

md_listeners *md_listen_new(md_server *srv, struct event_base *base, const md_listen_opts *opts);
/* Start listening on addr (not HTTP). 0, or -1 with a message. The actual
 * address (port 0 resolved) is written back into addr. */
int md_listen_add(md_listeners *ls, md_addr *addr, char *err, size_t errlen);
/* Close every listener and connection (Unix socket files are removed). */
void md_listen_free(md_listeners *ls);
/* Stop accepting; established connections go on. */
void md_listen_stop_accepting(md_listeners *ls);
size_t md_listen_nconns(const md_listeners *ls);

#endif /* MD_LISTEN_H */
