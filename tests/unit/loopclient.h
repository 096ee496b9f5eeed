/* loopclient.h - a blocking-free loopback client for the transport tests:
 * the test drives the server's libevent base and its own socket in turn,
 * each wait bounded, so a server that never answers fails the test
 * instead of hanging it. */
#ifndef MD_LOOPCLIENT_H
#define MD_LOOPCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/buf.h"
#include "tests/unit/harness.h"
#include "transports/wire/auth.h"

struct event_base;

/* The server side of a transport test: a harness server, its event base
 * and the authkey its listeners check. */
typedef struct md_lc_server {
    md_th *th;
    struct event_base *base;
    md_auth_key *key;
} md_lc_server;

/* Logging errors only while it lives: refused clients are what these
 * tests make. false if out of memory. */
bool md_lc_server_open(md_lc_server *s, const char *key);
void md_lc_server_close(md_lc_server *s);

/* Rounds of (run ready events, read the socket, sleep 1 ms) a wait may
 * take before it gives up: about two seconds. */
#define MD_LC_ROUNDS 2000

/* A non-blocking TCP connection to 127.0.0.1:port, or -1. */
int md_lc_connect(int port);
/* Write all of data (the socket is loopback: it takes small writes at
 * once, and a bounded number of retries covers the rest). true if sent. */
bool md_lc_send(int fd, const void *data, size_t len);
/* Run base's ready events once, then append what fd has to in. Returns
 * the bytes read (> 0), 0 when the server closed the connection, -1 when
 * nothing came. */
long md_lc_poll(struct event_base *base, int fd, md_buf *in);
/* Run base for up to rounds rounds without reading the socket. */
void md_lc_run(struct event_base *base, int rounds);

#endif /* MD_LOOPCLIENT_H */
