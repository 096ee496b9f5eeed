/* introspect.h - what an operator sees inside a running managerd: the
 * server's counters (requests, errors and latency by method, bytes in and
 * out), the open connections and the parked calls, served as requests
 * (#managerd.stats, ...) that no Python client ever sends, and as the
 * Prometheus text format for --metrics.
 *
 * Everything runs on the event-loop thread; the counters are the
 * process's (one server per process).
 */
#ifndef MD_INTROSPECT_H
#define MD_INTROSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/disp/disp.h"

/* What a transport says about one of its peers, for `managerctl clients`
 * and the per-listener gauges. Strings are copied by the caller before
 * the next call. */
typedef struct md_peer_info {
    char who[80];              /* "127.0.0.1:40312", "unix client fd 9" */
    char listener[160];        /* the listener's address as given */
    const char *serializer;    /* "pickle", "xmlrpclib", "auto" (none yet) */
    const char *state;         /* "handshake", "short", "long", "http" */
} md_peer_info;

/* ---- hooks (dispatcher, parking, transports) ---------------------------- */

/* md_peer_init / md_peer_close: the list of open peers. */
/* The clock of uptime starts (md_server_new; later calls change nothing). */
void md_stats_start(void);
void md_stats_peer_open(md_peer *peer);
void md_stats_peer_close(md_peer *peer);
/* A request from peer starts (md_disp_request) ... */
void md_stats_request_begin(md_peer *peer);
/* ... is known to be type.method (static strings, or NULL: "other") ... */
void md_stats_request_label(md_peer *peer, const char *type, const char *method);
/* ... and its outcome (MD_OUT_*) goes out (md_peer_reply calls it through
 * md_server.on_reply, for parked calls too). */
void md_stats_request_end(md_peer *peer, int kind);
/* Bytes a connection transport read or wrote. */
void md_stats_bytes_in(size_t nbytes);
void md_stats_bytes_out(size_t nbytes);

/* ---- requests ------------------------------------------------------------ */

/* Whether method names an introspection request (a str starting with
 * "#managerd."): a name no Python client sends, since proxies call only
 * exposed names and server methods are plain identifiers. */
bool md_introspect_is_request(const md_val *method);
/* The static label of an introspection request name, or NULL. */
const char *md_introspect_name(const md_val *method);
/* Serve one (on a short connection, after the handshake like every
 * request). The outcome is set on call. */
void md_introspect_serve(md_call *call, const md_val *method, const md_val *args);

/* ---- metrics --------------------------------------------------------------- */

/* The Prometheus text exposition format (version 0.0.4) of every counter
 * and gauge. 0, or -1 when out of memory. */
int md_stats_prometheus(md_server *srv, md_buf *out);

#endif /* MD_INTROSPECT_H */
