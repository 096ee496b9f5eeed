/* metrics.h - the --metrics endpoint: an HTTP listener of its own that
 * serves the Prometheus text format of core/disp/introspect.c's counters. */
#ifndef MD_METRICS_H
#define MD_METRICS_H

#include <stddef.h>

#include "core/disp/disp.h"

struct event_base;

typedef struct md_metrics md_metrics;

/* Listen on spec: http://HOST:PORT[/PATH] (PATH defaults to /metrics) or
 * a bare PORT (127.0.0.1:PORT/metrics, loopback by default). NULL with a
 * message in err. The actual URL (port 0 resolved) is written to url. */
md_metrics *md_metrics_new(md_server *srv, struct event_base *base, const char *spec,
                           char *url, size_t urllen, char *err, size_t errlen);
void md_metrics_free(md_metrics *m);
/* Answer one scrape (the caller checked path and method). */
struct evhttp_request;
void md_metrics_reply(md_server *srv, struct evhttp_request *req);

#endif /* MD_METRICS_H */
