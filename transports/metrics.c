/* metrics.c - the --metrics endpoint (see metrics.h).
 *
 * A scrape needs no authkey, as Prometheus expects, so the endpoint is
 * off unless asked for, listens on loopback unless told otherwise, and
 * takes nothing but GET and HEAD of one path with a tiny request budget.
 * It reveals counts and names of types and methods, never a value.
 */
#include "transports/metrics.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/disp/introspect.h"
#include "core/base/limits.h"
#include "core/base/log.h"
#include "transports/wire/address.h"

struct md_metrics {
    md_server *srv;
    struct evhttp *http;
    char path[108];
};

void md_metrics_reply(md_server *srv, struct evhttp_request *req)
{
    md_buf b = MD_BUF_INIT;
    struct evbuffer *out = evbuffer_new();
    if (!out || md_stats_prometheus(srv, &b) < 0) {
        md_buf_free(&b);
        if (out)
            evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evbuffer_add(out, b.data, b.len);
    md_buf_free(&b);
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

static void serve(struct evhttp_request *req, void *arg)
{
    md_metrics *m = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path || strcmp(path, m->path) != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, "see the --metrics path");
        return;
    }
    md_metrics_reply(m->srv, req);
}

/* A bare port means loopback; otherwise an http:// address. */
static int parse_spec(const char *spec, md_addr *a, char *err, size_t errlen)
{
    char *end;
    long port = strtol(spec, &end, 10);
    if (*spec && !*end) {
        if (port < 0 || port > 65535) {
            snprintf(err, errlen, "--metrics: bad port '%s'", spec);
            return -1;
        }
        char full[64];
        snprintf(full, sizeof full, "http://127.0.0.1:%ld/metrics", port);
        return md_addr_parse(full, a, err, errlen);
    }
    if (md_addr_parse(spec, a, err, errlen) < 0)
        return -1;
    if (a->kind != MD_ADDR_HTTP) {
        snprintf(err, errlen, "--metrics wants http://HOST:PORT[/PATH] or a port");
        return -1;
    }
    return 0;
}

static int bound_port(struct evhttp_bound_socket *bs)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

md_metrics *md_metrics_new(md_server *srv, struct event_base *base, const char *spec,
                           char *url, size_t urllen, char *err, size_t errlen)
{
    md_addr a;
    if (parse_spec(spec, &a, err, errlen) < 0)
        return NULL;
    md_metrics *m = md_calloc(1, sizeof *m);
    if (!m || !(m->http = evhttp_new(base))) {
        md_free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->srv = srv;
    snprintf(m->path, sizeof m->path, "%s", a.path[0] ? a.path : "/metrics");
    evhttp_set_max_body_size(m->http, MD_METRICS_MAX_REQUEST_BYTES);
    evhttp_set_max_headers_size(m->http, MD_METRICS_MAX_REQUEST_BYTES);
    evhttp_set_timeout(m->http, MD_HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(m->http, serve, m);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(m->http, a.host, (ev_uint16_t)a.port);
    int port = bs ? bound_port(bs) : -1;
    if (port < 0) {
        snprintf(err, errlen, "cannot listen on http://%s:%d for --metrics", a.host, a.port);
        md_metrics_free(m);
        return NULL;
    }
    bool v6 = strchr(a.host, ':') != NULL;
    snprintf(url, urllen, "http://%s%s%s:%d%s", v6 ? "[" : "", a.host, v6 ? "]" : "", port, m->path);
    if (strcmp(a.host, "127.0.0.1") && strcmp(a.host, "::1") && strcmp(a.host, "localhost"))
        md_log_warning("metrics on %s are readable by anyone who reaches it (no authkey)", url);
    return m;
}

void md_metrics_free(md_metrics *m)
{
    if (!m)
        return;
    if (m->http)
        evhttp_free(m->http);
    md_free(m);
}
