/* http.c - XML-RPC over HTTP (see http.h).
 *
 * Each HTTP connection is one md_peer, so RLock and Condition ownership
 * and parked calls belong to the connection, as they belong to a long
 * connection of a Python client. A request whose call parks is answered
 * when the call completes; a client that closes the connection takes its
 * parked call with it.
 *
 * The methods (create, call, get_methods, system.listMethods, ...) are
 * the dispatcher's table (core/disp/xmlrpc_methods.c); this file moves
 * the bytes, checks the key, keeps the connections and runs
 * system.multicall, whose calls may park one after another.
 *
 * Before authentication. libevent 2.1's server calls us only once the
 * whole body has arrived: the hook that runs between the headers and the
 * body (evhttp_request_set_header_cb on a server request, through
 * evhttp_set_newreqcb) exists only from libevent 2.2. So the body limit is
 * per connection: MD_HTTP_PREAUTH_BODY_BYTES until the connection has sent
 * one authorized request, --max-message after. libevent refuses a larger
 * Content-Length with 413 from the headers alone, before reading the body.
 * Headers are bounded by MD_HTTP_MAX_HEADER_BYTES, and a connection that
 * sends nothing for MD_HTTP_TIMEOUT_S is closed.
 *
 * Each connection is adopted as soon as libevent accepts it (our
 * bufferevent callback runs inside the accept; an active event then finds
 * the new connection behind the bufferevent): it takes a slot in the
 * server's connection limit, or is closed at once when there is none.
 */
#include "transports/http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/disp/introspect.h"
#include "transports/metrics.h"
#include "core/base/limits.h"
#include "core/base/log.h"
#include "serializers/xmlrpc.h"

typedef struct http_peer http_peer;

struct md_http {
    md_server *srv;
    struct event_base *base;
    struct evhttp *http;
    md_http_opts opts;
    md_codec_limits limits;
    char path[108];
    char where[160];               /* the listener's address, for introspection */
    uint8_t key_hash[crypto_generichash_BYTES];
    http_peer *peers;
    /* bufferevents of connections accepted but not adopted yet */
    struct bufferevent **fresh;
    size_t nfresh, fresh_cap;
    struct event *adopt;
};

/* One HTTP connection. */
struct http_peer {
    md_peer base;                  /* first: the dispatcher sees an md_peer */
    md_http *h;
    struct evhttp_connection *conn;
    struct evhttp_request *req;    /* the request being answered */
    /* system.multicall in progress */
    md_val *mc_calls;              /* list of call structs, or NULL */
    md_val *mc_results;
    size_t mc_next;
    bool mc_dispatching;
    /* A result could not be kept (out of memory): the whole multicall is
     * answered with one fault, as a list with a result missing would be
     * a wrong answer. */
    bool mc_nomem;
    /* While a call is parked evhttp does not read the connection, so a
     * client that goes away would go unnoticed: watch the socket. */
    struct event *watch;
    bool mc_delivered;
    bool counted;                  /* holds a slot of the connection limit */
    bool trusted;                  /* sent an authorized request: full body limit */
    char who[80];                  /* the client's address, for logs */
    http_peer *prev, *next;
};

static void run_multicall(http_peer *p);

/* ---- replies ---------------------------------------------------------- */

/* An error status with one extra header: evhttp_send_error would clear
 * the output headers (WWW-Authenticate, Allow) before sending. */
static void send_status(struct evhttp_request *req, int code, const char *reason,
                        const char *header, const char *value, const char *text)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, header, value);
    evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evbuffer_add_printf(out, "%s\n", text);
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

static void send_xml(struct evhttp_request *req, md_buf *body)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Content-Type", "text/xml; charset=utf-8");
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evbuffer_add(out, body->data, body->len);
    md_stats_bytes_out(body->len);
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

/* Two message buffers here are not MD_ERRMSG_SIZE (core/base/error.h),
 * because cutting them at 255 bytes would change what clients read: a
 * fault's text is the last line of a traceback ("KeyError: '...'" with
 * the client's own key in it; core/disp/reply.c builds tracebacks' texts
 * in 600 bytes too), and md_disp_xmlrpc_call's messages can name a
 * client's id ("no object with id ..."), cut at 299 bytes until now. */
enum { FAULT_TEXT_SIZE = 600, CALL_MSG_SIZE = 300 };

static void send_fault(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void send_fault(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char msg[FAULT_TEXT_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    md_buf b = MD_BUF_INIT;
    md_xmlrpc_encode_fault(code, msg, &b);
    send_xml(req, &b);
    md_buf_free(&b);
}

static void send_value(struct evhttp_request *req, const md_val *v)
{
    md_buf b = MD_BUF_INIT;
    md_codec_err err;
    if (md_xmlrpc_encode_response(v, &b, &err) < 0) {
        md_buf_free(&b);
        send_fault(req, MD_FAULT_UNSERIALIZABLE, "%s", err.msg);
        return;
    }
    send_xml(req, &b);
    md_buf_free(&b);
}

/* A fault struct for system.multicall results. */
static md_val *fault_struct(int code, const char *msg)
{
    md_val *d = md_dict_new();
    md_val *k1 = md_str_from_cstr("faultCode"), *v1 = md_int_from_i64(code);
    md_val *k2 = md_str_from_cstr("faultString"), *v2 = md_str_from_cstr(msg);
    md_pyerr e;
    md_pyerr_clear(&e);
    if (!d || !k1 || !v1 || !k2 || !v2 || md_dict_set(d, k1, v1, &e) < 0 ||
        md_dict_set(d, k2, v2, &e) < 0) {
        md_decref(d);
        d = NULL;
    }
    md_decref(k1);
    md_decref(v1);
    md_decref(k2);
    md_decref(v2);
    return d;
}

static void http_deliver(md_peer *peer, int kind, md_val *payload)
{
    http_peer *p = (http_peer *)peer;
    char msg[FAULT_TEXT_SIZE];
    int fault = md_disp_xmlrpc_fault(kind, payload, msg, sizeof msg);
    if (p->mc_calls) {
        md_val *r = NULL;
        if (fault)
            r = fault_struct(fault, msg);
        else
            r = md_tuple_pack(1, payload);
        if (!r || md_list_append_steal(p->mc_results, r) < 0)
            p->mc_nomem = true;
        md_decref(payload);
        p->mc_delivered = true;
        if (!p->mc_dispatching)
            run_multicall(p);
        return;
    }
    struct evhttp_request *req = p->req;
    p->req = NULL;
    if (p->watch)
        event_del(p->watch);
    if (!req) {
        md_decref(payload);
        return;
    }
    if (fault)
        send_fault(req, fault, "%s", msg);
    else
        send_value(req, payload);
    md_decref(payload);
}

/* HTTP connections are opened before any request proves the key, so
 * their lines are rate-limited like every line a stranger can cause. */
static md_log_rate rate_conn_opened, rate_conn_closed;

static void http_describe(const md_peer *peer, md_peer_info *out)
{
    const http_peer *p = (const http_peer *)peer;
    snprintf(out->who, sizeof out->who, "%s", p->who);
    snprintf(out->listener, sizeof out->listener, "%s", p->h->where);
    out->serializer = "xmlrpclib";
    out->state = "http";
}

static const md_peer_ops http_ops = {.deliver = http_deliver, .describe = http_describe};

/* ---- peers (one per HTTP connection) ------------------------------------ */

static void peer_closed(struct evhttp_connection *conn, void *arg)
{
    http_peer *p = arg;
    md_http *h = p->h;
    if (p->prev)
        p->prev->next = p->next;
    else
        h->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->req = NULL;
    if (p->watch)
        event_free(p->watch);
    md_log_rated(&rate_conn_closed, MD_LOG_INFO, "http %s: connection closed (%llu requests)",
                 p->who, (unsigned long long)p->base.nrequests);
    md_peer_close(&p->base);
    md_decref(p->mc_calls);
    md_decref(p->mc_results);
    if (p->counted && h->opts.conns)
        md_listen_conn_release(h->opts.conns);
    md_free(p);
}

static http_peer *peer_new(md_http *h, struct evhttp_connection *conn)
{
    http_peer *p = md_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    md_peer_init(&p->base, &http_ops, h->srv);
    p->base.protocol = 0;
    p->base.raw_exceptions = true;
    p->h = h;
    p->conn = conn;
    p->next = h->peers;
    if (h->peers)
        h->peers->prev = p;
    h->peers = p;
    evhttp_connection_set_closecb(conn, peer_closed, p);
    snprintf(p->base.name, sizeof p->base.name, "http");
    char *host = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &host, &port);
    snprintf(p->who, sizeof p->who, "%s:%u", host ? host : "?", (unsigned)port);
    md_log_rated(&rate_conn_opened, MD_LOG_INFO, "http %s: connection opened on %s", p->who,
                 h->where);
    return p;
}

static http_peer *peer_for(md_http *h, struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    for (http_peer *p = h->peers; p; p = p->next)
        if (p->conn == conn)
            return p;
    return peer_new(h, conn);
}

static md_log_rate rate_refused;

/* Runs right after libevent accepted connections (before any of their
 * bytes is read): each takes a slot of the connection limit or is
 * closed. A bufferevent libevent freed meanwhile has no callbacks left. */
static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
    md_http *h = arg;
    for (size_t i = 0; i < h->nfresh; i++) {
        struct bufferevent *bev = h->fresh[i];
        bufferevent_data_cb readcb = NULL;
        void *cbarg = NULL;
        bufferevent_getcb(bev, &readcb, NULL, NULL, &cbarg);
        struct evhttp_connection *conn = cbarg;
        if (readcb && conn && evhttp_connection_get_bufferevent(conn) == bev) {
            bool slot = !h->opts.conns || md_listen_conn_reserve(h->opts.conns);
            http_peer *p = slot ? peer_new(h, conn) : NULL;
            if (p)
                p->counted = h->opts.conns != NULL;
            else {
                if (slot && h->opts.conns)
                    md_listen_conn_release(h->opts.conns);
                md_log_rated(&rate_refused, MD_LOG_INFO, "http connection refused");
                evhttp_connection_free(conn);
            }
        }
        bufferevent_decref(bev);
    }
    h->nfresh = 0;
}

/* libevent asks for each accepted connection's bufferevent: make it, and
 * keep a reference until adopt_cb has seen the connection. */
static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
    md_http *h = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    /* one accept callback may take a whole backlog of connections */
    if (bev && md_grow(&h->fresh, &h->fresh_cap, h->nfresh + 1, sizeof *h->fresh) < 0)
        return bev; /* adopted on its first request instead (peer_for) */
    if (!bev)
        return NULL;
    bufferevent_incref(bev);
    h->fresh[h->nfresh++] = bev;
    event_active(h->adopt, EV_TIMEOUT, 0);
    return bev;
}

/* ---- system.multicall ------------------------------------------------------ */

/* system.multicall: run the calls one after another; a call that parks
 * suspends the rest until it completes. */
static void run_multicall(http_peer *p)
{
    while (!p->mc_nomem && p->mc_next < md_list_len(p->mc_calls)) {
        md_val *c = md_list_get(p->mc_calls, p->mc_next++);
        md_val *kn = md_str_from_cstr("methodName"), *kp = md_str_from_cstr("params");
        if (!kn || !kp) {
            md_decref(kn);
            md_decref(kp);
            p->mc_nomem = true;
            break;
        }
        md_pyerr e;
        md_pyerr_clear(&e);
        md_val *name = md_typeof(c) == MD_T_DICT ? md_dict_get(c, kn, &e) : NULL;
        md_val *params = md_typeof(c) == MD_T_DICT ? md_dict_get(c, kp, &e) : NULL;
        md_decref(kn);
        md_decref(kp);
        md_val *none = params ? NULL : md_list_new(0);   /* no params: [] */
        if (!params && !none) {
            p->mc_nomem = true;
            break;
        }
        int code = 0;
        char msg[CALL_MSG_SIZE];
        p->mc_delivered = false;
        p->mc_dispatching = true;
        bool ok = false;
        if (!name || md_typeof(name) != MD_T_STR || (params && md_typeof(params) != MD_T_LIST))
            code = MD_FAULT_INVALID, snprintf(msg, sizeof msg, "each call is {methodName, params}");
        else
            ok = md_disp_xmlrpc_call(p->h->srv, &p->base, md_str_data(name), params ? params : none,
                                     &code, msg, sizeof msg);
        md_decref(none);
        p->mc_dispatching = false;
        md_val *fault = ok ? NULL : fault_struct(code, msg);
        if (!ok && (!fault || md_list_append_steal(p->mc_results, fault) < 0))
            p->mc_nomem = true;
        else if (ok && !p->mc_delivered)
            return; /* parked: http_deliver resumes us */
    }
    md_val *results = p->mc_results;
    md_decref(p->mc_calls);
    p->mc_calls = p->mc_results = NULL;
    struct evhttp_request *req = p->req;
    p->req = NULL;
    if (req && p->mc_nomem)
        send_fault(req, MD_FAULT_INTERNAL, "out of memory");
    else if (req)
        send_value(req, results);
    p->mc_nomem = false;
    md_decref(results);
}

/* ---- the request handler ------------------------------------------------ */

static bool authorized(md_http *h, struct evhttp_request *req)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
        return false;
    const char *b64 = auth + 6;
    uint8_t dec[MD_HTTP_AUTH_MAX];
    size_t len = 0;
    if (sodium_base642bin(dec, sizeof dec, b64, strlen(b64), " ", &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    uint8_t *colon = memchr(dec, ':', len);
    if (!colon)
        return false;
    /* Compare digests so the comparison is constant-time whatever the
     * lengths. */
    uint8_t hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, colon + 1, (size_t)(dec + len - colon - 1), NULL, 0);
    sodium_memzero(dec, sizeof dec);
    return sodium_memcmp(hash, h->key_hash, sizeof hash) == 0;
}

/* The socket of a connection whose call is parked became readable: if
 * the client closed it, drop the connection (and with it the call). */
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
    http_peer *p = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return; /* a pipelined request: evhttp reads it after the reply */
    md_log_info("http client closed while its call was parked; dropping the call");
    evhttp_connection_free(p->conn); /* runs peer_closed */
}

static void watch_if_parked(http_peer *p)
{
    if (!p->base.parked || !p->req)
        return;
    if (!p->watch) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(p->conn);
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        if (fd < 0)
            return;
        p->watch = event_new(p->h->base, fd, EV_READ | EV_PERSIST, watch_cb, p);
        if (!p->watch)
            return;
    }
    event_add(p->watch, NULL);
}

static void handle(struct evhttp_request *req, void *arg)
{
    md_http *h = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)) ?: "/";
    if (h->opts.metrics_path && strcmp(path, h->opts.metrics_path) == 0 &&
        evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        if (!authorized(h, req))
            send_status(req, 401, "Unauthorized", "WWW-Authenticate", "Basic realm=\"managerd\"",
                        "the authkey is the password (HTTP Basic)");
        else
            md_metrics_reply(h->srv, req);
        return;
    }
    if (strcmp(evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)) ?: "/", h->path) != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, "not the XML-RPC path");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        send_status(req, 405, "Method Not Allowed", "Allow", "POST", "XML-RPC wants POST");
        return;
    }
    if (!authorized(h, req)) {
        send_status(req, 401, "Unauthorized", "WWW-Authenticate", "Basic realm=\"managerd\"",
                    "the authkey is the password (HTTP Basic)");
        return;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!ct || (strncasecmp(ct, "text/xml", 8) != 0 && strncasecmp(ct, "application/xml", 15) != 0)) {
        evhttp_send_error(req, 415, "Content-Type must be text/xml");
        return;
    }
    http_peer *p = peer_for(h, req);
    if (!p) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (!p->trusted) {
        /* The key is known on this connection: its bodies may now be as
         * large as --max-message. */
        p->trusted = true;
        evhttp_connection_set_max_body_size(p->conn, (ev_ssize_t)h->opts.max_body);
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(body);
    md_stats_bytes_in(n);
    if (n == 0) {
        send_fault(req, MD_FAULT_PARSE, "the request body is empty: an XML-RPC methodCall is expected");
        return;
    }
    const uint8_t *data = evbuffer_pullup(body, (ssize_t)n);
    md_val *method = NULL, *params = NULL;
    md_codec_err err;
    memset(&err, 0, sizeof err);
    int rc = data ? md_xmlrpc_decode_call(data, n, &h->limits, &method, &params, &err) : MD_ENOMEM;
    evbuffer_drain(body, n); /* the decoded call is all we need from here */
    if (rc < 0) {
        send_fault(req, !data ? MD_FAULT_INTERNAL
                        : err.malformed ? MD_FAULT_PARSE : MD_FAULT_INVALID,
                   "%s", data ? err.msg : "out of memory");
        md_listen_trim_after(n);
        return;
    }
    p->req = req;
    int code = 0;
    char msg[CALL_MSG_SIZE];
    if (md_str_eq_cstr(method, MD_XMLRPC_MULTICALL)) {
        md_val *calls = md_list_len(params) == 1 ? md_list_get(params, 0) : NULL;
        if (!calls || md_typeof(calls) != MD_T_LIST) {
            p->req = NULL;
            send_fault(req, MD_FAULT_PARAMS, "system.multicall([{methodName, params}, ...])");
        } else {
            p->mc_calls = md_incref(calls);
            p->mc_results = md_list_new(md_list_len(calls));
            p->mc_nomem = !p->mc_results;
            p->mc_next = 0;
            run_multicall(p);
        }
    } else if (!md_disp_xmlrpc_call(h->srv, &p->base, md_str_data(method), params, &code, msg,
                                    sizeof msg)) {
        p->req = NULL;
        send_fault(req, code, "%s", msg);
    }
    md_decref(method);
    md_decref(params);
    if (!p->mc_calls || p->req)
        watch_if_parked(p);
    md_listen_trim_after(n);
}

/* ---- setup -------------------------------------------------------------- */

md_http *md_http_new(md_server *srv, struct event_base *base, const md_http_opts *opts)
{
    md_http *h = md_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->srv = srv;
    h->base = base;
    h->opts = *opts;
    if (!h->opts.max_body)
        h->opts.max_body = MD_MAX_MESSAGE_DEFAULT;
    md_codec_limits_default(&h->limits);
    h->limits.max_bytes = h->opts.max_body;
    h->adopt = event_new(base, -1, 0, adopt_cb, h);
    if (!h->adopt) {
        md_free(h);
        return NULL;
    }
    size_t klen;
    const uint8_t *key = md_auth_key_bytes(opts->key, &klen);
    crypto_generichash(h->key_hash, sizeof h->key_hash, key, klen, NULL, 0);
    return h;
}

bool md_http_listening(const md_http *h)
{
    return h && h->where[0];
}

int md_http_listen(md_http *h, md_addr *addr, char *err, size_t errlen)
{
    if (h->http) {
        snprintf(err, errlen, "one http:// listener per server");
        return -1;
    }
    h->http = evhttp_new(h->base);
    if (!h->http) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Until a connection sends an authorized request (see the top). */
    size_t preauth = MD_HTTP_PREAUTH_BODY_BYTES < h->opts.max_body ? MD_HTTP_PREAUTH_BODY_BYTES
                                                                    : h->opts.max_body;
    evhttp_set_max_body_size(h->http, (ev_ssize_t)preauth);
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)MD_HTTP_MAX_HEADER_BYTES);
    evhttp_set_timeout(h->http, MD_HTTP_TIMEOUT_S);
    evhttp_set_bevcb(h->http, new_bev, h);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(h->http, handle, h);
    snprintf(h->path, sizeof h->path, "%s", addr->path[0] ? addr->path : "/RPC2");
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->http, addr->host, (ev_uint16_t)addr->port);
    if (!bs) {
        snprintf(err, errlen, "cannot listen on http://%s:%d", addr->host, addr->port);
        return -1;
    }
    if (h->opts.conns && md_listen_adopt(h->opts.conns, evhttp_bound_socket_get_listener(bs)) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            addr->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            addr->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    md_addr_format(addr, h->where, sizeof h->where);
    return 0;
}

void md_http_free(md_http *h)
{
    if (!h)
        return;
    if (h->http)
        evhttp_free(h->http);  /* closes connections: peer_closed runs */
    while (h->peers)
        peer_closed(h->peers->conn, h->peers);
    for (size_t i = 0; i < h->nfresh; i++)
        bufferevent_decref(h->fresh[i]);
    md_free(h->fresh);
    event_free(h->adopt);
    md_free(h);
}
