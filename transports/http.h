/* http.h - standard XML-RPC over HTTP on the same object table, so that
 * programs in any language share objects with Python clients. Served by
 * libevent's HTTP server: keep-alive, header and body size limits, read
 * and idle timeouts, Content-Type checked, HTTP Basic authentication with
 * the authkey as the password.
 */
#ifndef MD_HTTP_H
#define MD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/disp/disp.h"
#include "core/disp/xmlrpc_methods.h" /* MD_FAULT_*: the endpoint's fault codes */
#include "transports/wire/address.h"
#include "transports/wire/auth.h"
#include "transports/listen.h"

struct event_base;

typedef struct md_http md_http;

typedef struct md_http_opts {
    size_t max_body;           /* MD_MAX_MESSAGE_DEFAULT if 0 */
    /* --metrics PATH: serve the Prometheus text at this path too, to
     * GET with the authkey as HTTP Basic password (NULL: not here). */
    const char *metrics_path;
    const md_auth_key *key;    /* borrowed */
    /* Borrowed, may be NULL: HTTP connections count in its connection
     * limit and the HTTP listener pauses with its listeners when the
     * process runs out of descriptors. */
    md_listeners *conns;
} md_http_opts;

md_http *md_http_new(md_server *srv, struct event_base *base, const md_http_opts *opts);
/* Listen on an http:// address; the actual port is written back. */
int md_http_listen(md_http *h, md_addr *addr, char *err, size_t errlen);
void md_http_free(md_http *h);
/* Whether md_http_listen succeeded once. */
bool md_http_listening(const md_http *h);

#endif /* MD_HTTP_H */
