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

#include <stdbool.h>
#include <stddef.h>

#include "core/disp/disp.h"
#include "transports/wire/address.h"
#include "transports/wire/auth.h"

struct event_base;
struct evconnlistener;

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
/* Serve a listening socket this process was given (socket activation)
 * with serializer ("pickle", "xmlrpclib", "auto"). Its address is written
 * to addr. 0, or -1 with a message. The socket file of a Unix socket is
 * left in place at exit: the service manager owns it. */
int md_listen_add_fd(md_listeners *ls, int fd, const char *serializer, md_addr *addr, char *err,
                     size_t errlen);
/* Close every listener and connection (Unix socket files are removed). */
void md_listen_free(md_listeners *ls);
/* Stop accepting; established connections go on. */
void md_listen_stop_accepting(md_listeners *ls);
/* Connections open now, pickle and HTTP (see md_listen_conn_reserve). */
size_t md_listen_nconns(const md_listeners *ls);

/* The event loop for a server: three priorities (connections in the
 * handshake first, connections that pipeline more than a turn last) and,
 * for the last, a look for new events after every MD_HOG_CALLBACKS
 * callbacks, so that no client waits behind a queue of pipelining ones. */
struct event_base *md_listen_base_new(void);

/* Raise the soft descriptor limit (RLIMIT_NOFILE) to the hard limit; the
 * limit now in force, or -1. main() calls it before md_listen_new, whose
 * default connection limit is that less MD_FD_RESERVE. */
long md_listen_raise_fd_limit(void);

/* Other transports (HTTP) count their connections in the same
 * --max-connections: reserve a slot for a new connection (false, with a
 * rate-limited log line, when the limit is reached) and release it when
 * the connection closes. */
bool md_listen_conn_reserve(md_listeners *ls);
void md_listen_conn_release(md_listeners *ls);
/* Pause and resume another transport's listener with ours when the
 * process runs out of descriptors (it gets our accept error callback). */
int md_listen_adopt(md_listeners *ls, struct evconnlistener *ev);

/* After handling nbytes (a request or reply buffer being freed), hand
 * free memory back to the system when nbytes was large. */
void md_listen_trim_after(size_t nbytes);

#endif /* MD_LISTEN_H */
