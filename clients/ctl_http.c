/* ctl_http.c - managerctl over managerd's http:// listener (see
 * ctl_link.h): each request is one XML-RPC call (serializers/xmlrpc.c)
 * POSTed with libevent's evhttp client on one keep-alive connection, the
 * authkey as the HTTP Basic password.
 *
 * managerd serves the #managerd.* requests and shutdown on that endpoint
 * as methods of the same names (transports/http.c). A fault comes back as
 * MDC_REMOTE_ERROR whose text is the faultString, as a server method's
 * traceback does on a pickle listener.
 *
 * The values cross between libmanagerd-client (mdc_value) and this file's
 * codec (md_val) by copy, through mdc.h's functions only: the shared
 * library keeps its own copy of the value layer private, so the two must
 * never share a value.
 */
#include "config.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/ctl_link.h"
#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/value/value.h"
#include "serializers/xmlrpc.h"
#include "transports/wire/address.h"

/* "Basic " and the base64 of "managerctl:" and a key of up to
 * MD_AUTHKEY_FILE_MAX bytes. */
#define AUTH_HEADER_MAX (6 + sodium_base64_ENCODED_LEN(11 + MD_AUTHKEY_FILE_MAX, \
                                                       sodium_base64_VARIANT_ORIGINAL))

typedef struct ctl_http {
    md_addr addr;
    char host_header[300];
    char auth[AUTH_HEADER_MAX];
    struct event_base *base;
    struct evhttp_connection *conn;
    char errstr[300];
    /* the reply to the request in flight */
    bool done;
    int status;
    bool failed;
    bool failure_known;            /* libevent said why (failure) */
    enum evhttp_request_error failure;
    md_buf body;
} ctl_http;

bool ctl_http_is_address(const char *address)
{
    return strncmp(address, "http://", 7) == 0;
}

static int fail(ctl_http *h, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(ctl_http *h, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->errstr, sizeof h->errstr, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- values across the library boundary ---------------------------------- */

/* What managerctl sends: None, str, int, float and tuples or lists of them. */
static md_val *to_md(const mdc_value *v, int depth)
{
    const char *t = mdc_type_name(v);
    int64_t i;
    double d;
    if (!strcmp(t, "NoneType"))
        return md_none();
    if (!strcmp(t, "str"))
        return md_str_from_cstr(mdc_str_get(v));
    if (mdc_int_get(v, &i) == 0)
        return md_int_from_i64(i);
    if (mdc_float_get(v, &d) == 0)
        return md_float_new(d);
    if ((strcmp(t, "tuple") && strcmp(t, "list")) || depth >= MD_XMLRPC_MAX_DEPTH)
        return NULL;
    md_val *l = md_list_new(mdc_len(v));
    for (size_t k = 0; l && k < mdc_len(v); k++) {
        md_val *item = to_md(mdc_item(v, k), depth + 1);
        if (!item || md_list_append_steal(l, item) < 0) {
            md_decref(l);
            l = NULL;
        }
    }
    return l;
}

static mdc_value *to_mdc(const md_val *v, int depth);

/* A list and a dict (a struct) item by item; NULL when out of memory. */
static mdc_value *container_to_mdc(const md_val *v, int depth)
{
    bool dict = md_typeof(v) == MD_T_DICT;
    mdc_value *out = dict ? mdc_dict() : mdc_list();
    size_t pos = 0;
    md_val *k, *item;
    for (size_t i = 0; out && (dict ? md_dict_next(v, &pos, &k, &item) : i < md_list_len(v)); i++) {
        mdc_value *key = dict ? to_mdc(k, depth + 1) : NULL;
        mdc_value *val = to_mdc(dict ? item : md_list_get(v, i), depth + 1);
        int rc = !val || (dict && !key) ? -1
                 : dict                 ? mdc_dict_set(out, key, val)
                                        : mdc_list_append(out, val);
        mdc_value_free(key);
        mdc_value_free(val);
        if (rc < 0) {
            mdc_value_free(out);
            out = NULL;
        }
    }
    return out;
}

/* What XML-RPC carries, as the pickle link would have given it (arrays
 * are lists); other values as their repr. */
static mdc_value *to_mdc(const md_val *v, int depth)
{
    int64_t i;
    switch (md_typeof(v)) {
    case MD_T_NONE: return mdc_none();
    case MD_T_BOOL: return mdc_bool(md_bool_get(v));
    case MD_T_INT:
        if (md_int_to_i64(v, &i) == 0)
            return mdc_int(i);
        break;
    case MD_T_FLOAT: return mdc_float(md_float_get(v));
    case MD_T_STR: return mdc_str_n(md_str_data(v), md_str_nbytes(v));
    case MD_T_BYTES: return mdc_bytes(md_bytes_data(v), md_bytes_len(v));
    case MD_T_LIST:
    case MD_T_DICT:
        if (depth < MD_XMLRPC_MAX_DEPTH)
            return container_to_mdc(v, depth);
        break;
    default: break;
    }
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    mdc_value *r = md_val_repr(v, &b, &e) == 0 && !md_buf_failed(&b)
                       ? mdc_str_n((const char *)b.data, b.len) : NULL;
    md_buf_free(&b);
    return r;
}

/* ---- one request ------------------------------------------------------------ */

static void on_error(enum evhttp_request_error what, void *arg)
{
    ctl_http *h = arg;
    h->failed = h->failure_known = true;
    h->failure = what;
}

static void on_reply(struct evhttp_request *req, void *arg)
{
    ctl_http *h = arg;
    h->done = true;
    event_base_loopbreak(h->base);
    if (!req || !evhttp_request_get_response_code(req)) {
        h->failed = true;
        return;
    }
    h->status = evhttp_request_get_response_code(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const unsigned char *data = evbuffer_pullup(in, (ev_ssize_t)n);
    if (n && data)
        md_buf_append(&h->body, data, n);
}

/* libevent 2.1 reports a refused connect with no reason at all. */
static const char *failure_text(const ctl_http *h)
{
    if (!h->failure_known)
        return "cannot connect, or the connection closed before a reply";
    switch (h->failure) {
    case EVREQ_HTTP_TIMEOUT: return "timed out";
    case EVREQ_HTTP_EOF: return "connection failed or closed before a reply";
    case EVREQ_HTTP_INVALID_HEADER: return "the reply's headers are not valid HTTP";
    case EVREQ_HTTP_BUFFER_ERROR: return "connection failed";
    case EVREQ_HTTP_DATA_TOO_LONG: return "the reply is too large";
    default: return "the request failed";
    }
}

/* POST body to the endpoint; the reply's body in h->body. */
static int post(ctl_http *h, const md_buf *body)
{
    struct evhttp_request *req = evhttp_request_new(on_reply, h);
    if (!req)
        return fail(h, MDC_ERR_NOMEM, "out of memory");
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Host", h->host_header);
    evhttp_add_header(hdr, "Authorization", h->auth);
    evhttp_add_header(hdr, "Content-Type", "text/xml");
    evbuffer_add(evhttp_request_get_output_buffer(req), body->data, body->len);
    h->done = h->failed = h->failure_known = false;
    h->status = 0;
    h->body.len = 0;
    if (evhttp_make_request(h->conn, req, EVHTTP_REQ_POST, h->addr.path) < 0)
        return fail(h, MDC_ERR_IO, "cannot send the request to http://%s%s", h->host_header,
                    h->addr.path);
    event_base_dispatch(h->base);
    if (!h->done || h->failed)
        return fail(h, MDC_ERR_IO, "http://%s%s: %s", h->host_header, h->addr.path,
                    failure_text(h));
    if (md_buf_failed(&h->body))
        return fail(h, MDC_ERR_NOMEM, "out of memory");
    if (h->status == 401)
        return fail(h, MDC_ERR_AUTH, "the server refused the authkey (HTTP 401 Unauthorized)");
    if (h->status != 200)
        return fail(h, MDC_ERR_PROTOCOL, "http://%s%s answered HTTP %d, not an XML-RPC reply",
                    h->host_header, h->addr.path, h->status);
    return 0;
}

static int http_call(void *conn, const char *request, mdc_value *args, mdc_value **reply)
{
    ctl_http *h = conn;
    *reply = NULL;
    md_val *params = args ? to_md(args, 0) : md_list_new(0);
    if (!params)
        return fail(h, MDC_ERR_ARG, "%s: arguments XML-RPC cannot carry", request);
    md_buf body = MD_BUF_INIT;
    md_codec_err err;
    int rc = md_xmlrpc_encode_call(request, params, &body, &err);
    md_decref(params);
    if (rc == 0)
        rc = post(h, &body);
    else
        rc = fail(h, MDC_ERR_ARG, "%s: %s", request, err.msg);
    md_buf_free(&body);
    if (rc < 0)
        return rc;
    md_val *v;
    bool fault;
    int64_t code;
    md_codec_limits lim;
    md_codec_limits_default(&lim);
    if (md_xmlrpc_decode_response(h->body.data, h->body.len, &lim, &v, &fault, &code, &err) < 0)
        return fail(h, MDC_ERR_PROTOCOL, "the server's reply is not XML-RPC: %s", err.msg);
    *reply = to_mdc(v, 0);
    md_decref(v);
    if (!*reply)
        return fail(h, MDC_ERR_NOMEM, "out of memory");
    return fault ? MDC_REMOTE_ERROR : MDC_RETURN;
}

/* ---- the link ---------------------------------------------------------------- */

static const char *http_errstr(const void *conn)
{
    return ((const ctl_http *)conn)->errstr;
}

static void http_close(void *conn)
{
    ctl_http *h = conn;
    if (h->conn)
        evhttp_connection_free(h->conn);
    if (h->base)
        event_base_free(h->base);
    md_buf_free(&h->body);
    sodium_memzero(h->auth, sizeof h->auth);
    md_free(h);
}

/* The Authorization header's value for key. */
static int set_auth(ctl_http *h, const void *key, size_t keylen)
{
    static const char user[] = "managerctl:";
    uint8_t cred[sizeof user - 1 + MD_AUTHKEY_FILE_MAX];
    if (keylen > MD_AUTHKEY_FILE_MAX)
        return -1;
    memcpy(cred, user, sizeof user - 1);
    memcpy(cred + sizeof user - 1, key, keylen);
    memcpy(h->auth, "Basic ", 6);
    sodium_bin2base64(h->auth + 6, sizeof h->auth - 6, cred, sizeof user - 1 + keylen,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(cred, sizeof cred);
    return 0;
}

int ctl_http_open(ctl_link *link, const char *address, const void *key, size_t keylen,
                  double timeout, char *err, size_t errlen)
{
    ctl_http *h = md_calloc(1, sizeof *h);
    if (!h)
        return snprintf(err, errlen, "out of memory"), -1;
    if (md_addr_parse(address, &h->addr, err, errlen) < 0) {
        md_free(h);
        return -1;
    }
    if (set_auth(h, key, keylen) < 0) {
        md_free(h);
        return snprintf(err, errlen, "the authkey is longer than %d bytes", MD_AUTHKEY_FILE_MAX), -1;
    }
    bool v6 = strchr(h->addr.host, ':') != NULL;
    snprintf(h->host_header, sizeof h->host_header, v6 ? "[%s]:%d" : "%s:%d", h->addr.host,
             h->addr.port);
    h->base = event_base_new();
    h->conn = h->base ? evhttp_connection_base_new(h->base, NULL, h->addr.host,
                                                   (ev_uint16_t)h->addr.port)
                      : NULL;
    if (!h->conn) {
        http_close(h);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    evhttp_connection_set_timeout_tv(h->conn, &tv);
    evhttp_connection_set_max_body_size(h->conn, (ev_ssize_t)MD_MAX_MESSAGE_DEFAULT);
    *link = (ctl_link){.conn = h, .call = http_call, .errstr = http_errstr, .close = http_close};
    return 0;
}
