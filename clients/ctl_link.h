/* ctl_link.h - how managerctl reaches a server: one small interface that
 * its commands use whatever the listener kind. managerctl.c makes the
 * pickle link (tcp, unix: libmanagerd-client); ctl_http.c the XML-RPC
 * over HTTP one (http://).
 */
#ifndef CTL_LINK_H
#define CTL_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "clients/mdc.h"

typedef struct ctl_link {
    void *conn;
    /* Send request (a server method such as "shutdown", or a #managerd.*
     * introspection request) with args (a tuple, or NULL for none).
     * MDC_RETURN, MDC_EXCEPTION or MDC_REMOTE_ERROR with *reply set (the
     * caller's), or a negative MDC_ERR_* with errstr saying why. */
    int (*call)(void *conn, const char *request, mdc_value *args, mdc_value **reply);
    const char *(*errstr)(const void *conn);
    void (*close)(void *conn);
} ctl_link;

/* Whether address names an http:// listener. */
bool ctl_http_is_address(const char *address);
/* The link to an http:// listener: the authkey is the HTTP Basic password,
 * as managerd's endpoint expects it (copied; wiped on close). 0, or -1
 * with a message in err. */
int ctl_http_open(ctl_link *link, const char *address, const void *key, size_t keylen,
                  double timeout, char *err, size_t errlen);

#endif /* CTL_LINK_H */
