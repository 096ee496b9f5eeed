/* mdc.c - the managerd C client library (see mdc.h): blocking sockets,
 * the transports' framing and handshake, the pickle codec. */
#include "clients/mdc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/protocol/protocol.h"
#include "core/value/value.h"
#include "serializers/pickle.h"
#include "transports/wire/address.h"
#include "transports/wire/auth.h"
#include "transports/wire/frame.h"

/* mdc.h keeps the value layer's names out of the public ABI: an mdc_value
 * is an md_val under an incomplete type of its own, converted only at the
 * edges of this file. */
static md_val *val(mdc_value *v) { return (md_val *)v; }
static const md_val *cval(const mdc_value *v) { return (const md_val *)v; }
static mdc_value *pub(md_val *v) { return (mdc_value *)v; }

struct mdc_client {
    md_addr addr;
    md_auth_key *key;
    int protocol;
    double timeout;
    int long_fd;                   /* accept_connection'd, or -1 */
    md_buf buf;
    char errstr[MD_ERRMSG_SIZE];
};

static int fail(mdc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(mdc_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    return code;
}

mdc_client *mdc_client_new_err(const char *address, const void *authkey, size_t keylen,
                               char *errbuf, size_t errlen)
{
    char err[MD_ERRMSG_SIZE];
    mdc_client *c = md_calloc(1, sizeof *c);
    if (!c) {
        if (errbuf)
            snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (md_addr_parse(address, &c->addr, err, sizeof err) < 0 || c->addr.kind == MD_ADDR_HTTP) {
        if (errbuf)
            snprintf(errbuf, errlen, "%s", c->addr.kind == MD_ADDR_HTTP ? "use an XML-RPC client for http://" : err);
        md_free(c);
        return NULL;
    }
    c->key = md_auth_key_new(authkey, keylen);
    if (!c->key) {
        if (errbuf)
            snprintf(errbuf, errlen, "out of memory");
        md_free(c);
        return NULL;
    }
    c->protocol = 4;
    c->long_fd = -1;
    return c;
}

mdc_client *mdc_client_new(const char *address, const void *authkey, size_t keylen)
{
    return mdc_client_new_err(address, authkey, keylen, NULL, 0);
}

void mdc_client_free(mdc_client *c)
{
    if (!c)
        return;
    if (c->long_fd >= 0)
        close(c->long_fd);
    md_auth_key_free(c->key);
    md_buf_free(&c->buf);
    md_free(c);
}

const char *mdc_errstr(const mdc_client *c)
{
    return c->errstr;
}

int mdc_set_protocol(mdc_client *c, int protocol)
{
    if (protocol < 2 || protocol > 5)
        return fail(c, MDC_ERR_ARG, "protocol must be 2..5");
    c->protocol = protocol;
    return 0;
}

void mdc_set_timeout(mdc_client *c, double seconds)
{
    c->timeout = seconds;
}

/* ---- I/O ----------------------------------------------------------------- */

static int wait_fd(mdc_client *c, int fd, short events)
{
    if (c->timeout <= 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    do
        rc = poll(&p, 1, (int)(c->timeout * 1000));
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : fail(c, MDC_ERR_IO, "timed out");
}

static int write_all(mdc_client *c, int fd, const uint8_t *p, size_t n)
{
    while (n) {
        if (wait_fd(c, fd, POLLOUT) < 0)
            return MDC_ERR_IO;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fail(c, MDC_ERR_IO, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(mdc_client *c, int fd, uint8_t *p, size_t n)
{
    while (n) {
        if (wait_fd(c, fd, POLLIN) < 0)
            return MDC_ERR_IO;
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return fail(c, MDC_ERR_IO, "the server closed the connection");
        if (r < 0)
            return fail(c, MDC_ERR_IO, "recv: %s", strerror(errno));
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One frame into c->buf. */
static int read_frame(mdc_client *c, int fd, size_t max)
{
    uint8_t hdr[MD_FRAME_HDR_MAX];
    if (read_all(c, fd, hdr, 4) < 0)
        return MDC_ERR_IO;
    size_t hlen = 0;
    uint64_t plen = 0;
    int rc = md_frame_parse(hdr, 4, max, &hlen, &plen);
    if (rc == MD_FRAME_NEED_MORE) {
        if (read_all(c, fd, hdr + 4, 8) < 0)
            return MDC_ERR_IO;
        rc = md_frame_parse(hdr, 12, max, &hlen, &plen);
    }
    if (rc < 0)
        return fail(c, MDC_ERR_PROTOCOL, "bad frame from the server: %s", md_strerror(rc));
    md_buf_reset(&c->buf);
    if (md_buf_reserve(&c->buf, (size_t)plen) < 0)
        return fail(c, MDC_ERR_NOMEM, "out of memory");
    if (read_all(c, fd, c->buf.data, (size_t)plen) < 0)
        return MDC_ERR_IO;
    c->buf.len = (size_t)plen;
    return 0;
}

static int handshake(mdc_client *c, int fd)
{
    md_auth_ctx *a = md_auth_new(MD_AUTH_CLIENT, c->key, NULL);
    md_buf out = MD_BUF_INIT;
    int rc = a ? md_auth_start(a, &out) : MD_ENOMEM;
    while (rc == MD_AUTH_CONTINUE) {
        if (out.len && write_all(c, fd, out.data, out.len) < 0) {
            rc = MDC_ERR_IO;
            break;
        }
        md_buf_reset(&out);
        if (read_frame(c, fd, MD_HANDSHAKE_MAX) < 0) {
            rc = MDC_ERR_IO;
            break;
        }
        rc = md_auth_feed(a, c->buf.data, c->buf.len, &out);
    }
    /* rc is an MDC_ERR_* (already explained) or the handshake's own MD_*
     * code, which is translated here. */
    if (rc == MD_AUTH_DONE && out.len && write_all(c, fd, out.data, out.len) < 0)
        rc = MDC_ERR_IO;
    else if (rc == MD_ENOMEM)
        rc = fail(c, MDC_ERR_NOMEM, "out of memory");
    else if (rc < 0 && rc != MDC_ERR_IO) {
        if (out.len)
            write_all(c, fd, out.data, out.len);
        rc = fail(c, MDC_ERR_AUTH, "authentication failed: %s", md_auth_errstr(a));
    }
    md_buf_free(&out);
    md_auth_free(a);
    return rc < 0 ? rc : 0;
}

/* connect(), within the client's timeout when it has one: a server
 * whose backlog is full drops the SYN, and a blocking connect would wait
 * for the kernel's retries (minutes). */
static int connect_timed(mdc_client *c, int fd)
{
    struct sockaddr *sa = (struct sockaddr *)&c->addr.ss;
    if (c->timeout <= 0) {
        if (connect(fd, sa, c->addr.sslen) == 0)
            return 0;
        return fail(c, MDC_ERR_IO, "connect: %s", strerror(errno));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return fail(c, MDC_ERR_IO, "fcntl: %s", strerror(errno));
    int err = 0;
    socklen_t len = sizeof err;
    if (connect(fd, sa, c->addr.sslen) < 0) {
        if (errno != EINPROGRESS)
            return fail(c, MDC_ERR_IO, "connect: %s", strerror(errno));
        if (wait_fd(c, fd, POLLOUT) < 0)
            return fail(c, MDC_ERR_IO, "connect: timed out after %g s", c->timeout);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err)
            return fail(c, MDC_ERR_IO, "connect: %s", strerror(err));
    }
    if (fcntl(fd, F_SETFL, flags) < 0)
        return fail(c, MDC_ERR_IO, "fcntl: %s", strerror(errno));
    return 0;
}

static int open_conn(mdc_client *c)
{
    int fd = socket(c->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(c, MDC_ERR_IO, "socket: %s", strerror(errno));
    if (connect_timed(c, fd) < 0) {
        close(fd);
        return MDC_ERR_IO;
    }
    if (c->addr.kind == MD_ADDR_TCP) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc = handshake(c, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* ---- requests ------------------------------------------------------------ */

static int send_value(mdc_client *c, int fd, const md_val *v)
{
    md_buf b = MD_BUF_INIT;
    md_pickle_err err;
    uint8_t hdr[MD_FRAME_HDR_MAX] = {0};
    md_buf_append(&b, hdr, sizeof hdr); /* room for the header */
    if (md_pickle_encode(v, c->protocol, &b, &err) < 0) {
        md_buf_free(&b);
        return fail(c, MDC_ERR_ARG, "cannot pickle the request: %s", err.msg);
    }
    size_t plen = b.len - sizeof hdr;
    int hlen = md_frame_header(hdr, plen, c->protocol >= 4);
    if (hlen < 0) {
        md_buf_free(&b);
        return fail(c, MDC_ERR_ARG, "request too large for this server");
    }
    /* header and payload in one write */
    uint8_t *start = b.data + sizeof hdr - (size_t)hlen;
    memcpy(start, hdr, (size_t)hlen);
    int rc = write_all(c, fd, start, (size_t)hlen + plen);
    md_buf_free(&b);
    return rc;
}

static md_val *request(const char *ident, const char *method, md_val *args, md_val *kwargs)
{
    md_val *id = ident ? md_str_from_cstr(ident) : md_none();
    md_val *m = md_str_from_cstr(method);
    md_val *a = args ? md_incref(args) : md_tuple_new(0);
    md_val *k = kwargs ? md_incref(kwargs) : md_dict_new();
    md_val *r = id && m && a && k ? md_tuple_pack(4, id, m, a, k) : NULL;
    md_decref(id);
    md_decref(m);
    md_decref(a);
    md_decref(k);
    return r;
}

/* Read a (kind, payload) reply: kind as MDC_* and payload (new). */
static int recv_reply(mdc_client *c, int fd, md_val **payload)
{
    *payload = NULL;
    if (read_frame(c, fd, MD_MAX_MESSAGE_DEFAULT) < 0)
        return MDC_ERR_IO;
    md_val *reply = NULL;
    md_pickle_err err;
    if (md_pickle_decode(c->buf.data, c->buf.len, NULL, &reply, NULL, &err) < 0)
        return fail(c, MDC_ERR_PROTOCOL, "unreadable reply: %s", err.msg);
    int kind = MDC_ERR_PROTOCOL;
    if (md_typeof(reply) == MD_T_TUPLE && md_tuple_len(reply) == 2 &&
        md_typeof(md_tuple_get(reply, 0)) == MD_T_STR) {
        md_val *k = md_tuple_get(reply, 0);
        if (md_str_eq_cstr(k, "#RETURN") || md_str_eq_cstr(k, "#PROXY"))
            kind = MDC_RETURN;
        else if (md_str_eq_cstr(k, "#ERROR"))
            kind = MDC_EXCEPTION;
        else if (md_str_eq_cstr(k, "#TRACEBACK") || md_str_eq_cstr(k, "#UNSERIALIZABLE"))
            kind = MDC_REMOTE_ERROR;
        if (kind >= 0)
            *payload = md_incref(md_tuple_get(reply, 1));
    }
    md_decref(reply);
    if (kind < 0)
        return fail(c, MDC_ERR_PROTOCOL, "the server sent a reply of an unknown kind");
    if (kind == MDC_REMOTE_ERROR)
        fail(c, kind, "remote error: %.200s",
             md_typeof(*payload) == MD_T_STR ? md_str_data(*payload) : "?");
    return kind;
}

/* A server method on a short connection. */
static int server_method(mdc_client *c, const char *name, md_val *args, md_val *kwargs,
                         md_val **payload)
{
    *payload = NULL;
    int fd = open_conn(c);
    if (fd < 0)
        return fd;
    md_val *req = request(NULL, name, args, kwargs);
    int rc = req ? send_value(c, fd, req) : fail(c, MDC_ERR_NOMEM, "out of memory");
    md_decref(req);
    if (rc == 0)
        rc = recv_reply(c, fd, payload);
    close(fd);
    return rc;
}

static int expect_none(mdc_client *c, int rc, md_val *payload)
{
    md_decref(payload);
    if (rc == MDC_EXCEPTION || rc == MDC_REMOTE_ERROR)
        return rc == MDC_EXCEPTION ? fail(c, MDC_ERR_PROTOCOL, "server method raised") : rc;
    return rc;
}

int mdc_ping(mdc_client *c)
{
    md_val *p;
    int rc = server_method(c, "dummy", NULL, NULL, &p);
    return expect_none(c, rc, p);
}

static int ident_call(mdc_client *c, const char *method, const char *ident)
{
    md_val *s = md_str_from_cstr(ident);
    md_val *args = s ? md_tuple_pack(1, s) : NULL;
    md_decref(s);
    if (!args)
        return fail(c, MDC_ERR_NOMEM, "out of memory");
    md_val *p;
    int rc = server_method(c, method, args, NULL, &p);
    md_decref(args);
    return expect_none(c, rc, p);
}

int mdc_incref(mdc_client *c, const char *ident)
{
    return ident_call(c, "incref", ident);
}

int mdc_decref(mdc_client *c, const char *ident)
{
    return ident_call(c, "decref", ident);
}

int mdc_create(mdc_client *c, const char *typeid, mdc_value *args, mdc_value *kwargs,
               char *ident, size_t identlen)
{
    md_val *targs = val(args);
    size_t n = targs ? md_tuple_len(targs) : 0;
    md_val *full = md_tuple_new(n + 1);
    md_val *t = md_str_from_cstr(typeid);
    if (!full || !t) {
        md_decref(full);
        md_decref(t);
        return fail(c, MDC_ERR_NOMEM, "out of memory");
    }
    md_tuple_set_steal(full, 0, t);
    for (size_t i = 0; i < n; i++)
        md_tuple_set_steal(full, i + 1, md_incref(md_tuple_get(targs, i)));
    md_val *p;
    int rc = server_method(c, "create", full, val(kwargs), &p);
    md_decref(full);
    if (rc == MDC_RETURN) {
        md_val *id = md_typeof(p) == MD_T_TUPLE && md_tuple_len(p) == 2 ? md_tuple_get(p, 0) : NULL;
        if (!id || md_typeof(id) != MD_T_STR)
            rc = fail(c, MDC_ERR_PROTOCOL, "create() returned no ident");
        else
            snprintf(ident, identlen, "%s", md_str_data(id));
    }
    md_decref(p);
    return rc;
}

long mdc_number_of_objects(mdc_client *c)
{
    md_val *p;
    int rc = server_method(c, "number_of_objects", NULL, NULL, &p);
    int64_t n = -1;
    if (rc == MDC_RETURN && md_typeof(p) == MD_T_INT)
        md_int_to_i64(p, &n);
    else if (rc >= 0)
        rc = fail(c, MDC_ERR_PROTOCOL, "number_of_objects() failed");
    md_decref(p);
    return rc < 0 ? rc : (long)n;
}

int mdc_debug_info(mdc_client *c, mdc_value **text)
{
    md_val *p;
    int rc = server_method(c, "debug_info", NULL, NULL, &p);
    *text = NULL;
    if (rc != MDC_RETURN) {
        md_decref(p);
        return rc < 0 ? rc : fail(c, MDC_ERR_PROTOCOL, "debug_info() failed");
    }
    *text = pub(p);
    return 0;
}

int mdc_server_call(mdc_client *c, const char *method, mdc_value *args, mdc_value *kwargs,
                    mdc_value **result)
{
    *result = NULL;
    if (!method)
        return fail(c, MDC_ERR_ARG, "no method name");
    md_val *p = NULL;
    int rc = server_method(c, method, val(args), val(kwargs), &p);
    *result = pub(p);
    return rc;
}

int mdc_shutdown(mdc_client *c)
{
    md_val *p;
    int rc = server_method(c, "shutdown", NULL, NULL, &p);
    return expect_none(c, rc, p);
}

int mdc_call(mdc_client *c, const char *ident, const char *method, mdc_value *args,
             mdc_value *kwargs, mdc_value **result)
{
    *result = NULL;
    if (c->long_fd < 0) {
        int fd = open_conn(c);
        if (fd < 0)
            return fd;
        md_val *name = md_str_from_cstr("managerd-c-client");
        md_val *a = name ? md_tuple_pack(1, name) : NULL;
        md_val *req = a ? request(NULL, "accept_connection", a, NULL) : NULL;
        md_decref(name);
        md_decref(a);
        md_val *p = NULL;
        int rc = req ? send_value(c, fd, req) : fail(c, MDC_ERR_NOMEM, "out of memory");
        md_decref(req);
        if (rc == 0)
            rc = recv_reply(c, fd, &p);
        md_decref(p);
        if (rc != MDC_RETURN) {
            close(fd);
            return rc < 0 ? rc : fail(c, MDC_ERR_PROTOCOL, "accept_connection failed");
        }
        c->long_fd = fd;
    }
    md_val *req = request(ident, method, val(args), val(kwargs));
    int rc = req ? send_value(c, c->long_fd, req) : fail(c, MDC_ERR_NOMEM, "out of memory");
    md_decref(req);
    md_val *r = NULL;
    if (rc == 0)
        rc = recv_reply(c, c->long_fd, &r);
    *result = pub(r);
    if (rc == MDC_ERR_IO || rc == MDC_ERR_PROTOCOL) {
        close(c->long_fd);
        c->long_fd = -1;
    }
    return rc;
}

/* ---- values ---------------------------------------------------------------- */

mdc_value *mdc_none(void) { return pub(md_none()); }
mdc_value *mdc_bool(bool b) { return pub(md_bool(b)); }
mdc_value *mdc_int(int64_t i) { return pub(md_int_from_i64(i)); }
mdc_value *mdc_float(double d) { return pub(md_float_new(d)); }
mdc_value *mdc_str(const char *utf8) { return pub(md_str_from_cstr(utf8)); }
mdc_value *mdc_str_n(const char *utf8, size_t n) { return pub(md_str_new(utf8, n)); }
mdc_value *mdc_bytes(const void *data, size_t n) { return pub(md_bytes_new(data, n)); }
mdc_value *mdc_list(void) { return pub(md_list_new(0)); }
mdc_value *mdc_dict(void) { return pub(md_dict_new()); }
void mdc_value_free(mdc_value *v) { md_decref(val(v)); }
const char *mdc_type_name(const mdc_value *v) { return md_type_name(cval(v)); }

mdc_value *mdc_tuple(size_t n, ...)
{
    md_val *t = md_tuple_new(n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        md_val *item = val(va_arg(ap, mdc_value *));
        if (t)
            md_tuple_set_steal(t, i, md_incref(item));
    }
    va_end(ap);
    return pub(t);
}

int mdc_list_append(mdc_value *list, mdc_value *item)
{
    return md_list_append(val(list), val(item));
}

int mdc_dict_set(mdc_value *dict, mdc_value *key, mdc_value *value)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    return md_dict_set(val(dict), val(key), val(value), &e);
}

int mdc_int_get(const mdc_value *pv, int64_t *out)
{
    const md_val *v = cval(pv);
    md_vtype t = md_typeof(v);
    return (t == MD_T_INT || t == MD_T_BOOL) ? md_int_to_i64(v, out) : -1;
}

int mdc_float_get(const mdc_value *pv, double *out)
{
    const md_val *v = cval(pv);
    if (md_typeof(v) != MD_T_FLOAT)
        return -1;
    *out = md_float_get(v);
    return 0;
}

const char *mdc_str_get(const mdc_value *pv)
{
    const md_val *v = cval(pv);
    return md_typeof(v) == MD_T_STR ? md_str_data(v) : NULL;
}

const uint8_t *mdc_bytes_get(const mdc_value *pv, size_t *len)
{
    const md_val *v = cval(pv);
    md_vtype t = md_typeof(v);
    if (t != MD_T_BYTES && t != MD_T_BYTEARRAY)
        return NULL;
    *len = md_bytes_len(v);
    return md_bytes_data(v);
}

size_t mdc_len(const mdc_value *pv)
{
    const md_val *v = cval(pv);
    switch (md_typeof(v)) {
    case MD_T_TUPLE: return md_tuple_len(v);
    case MD_T_LIST: return md_list_len(v);
    case MD_T_DICT: return md_dict_len(v);
    case MD_T_SET:
    case MD_T_FROZENSET: return md_set_len(v);
    case MD_T_STR: return md_str_len(v);
    case MD_T_BYTES:
    case MD_T_BYTEARRAY: return md_bytes_len(v);
    default: return 0;
    }
}

mdc_value *mdc_item(const mdc_value *pv, size_t i)
{
    size_t n;
    md_val *const *items = md_seq_items(cval(pv), &n);
    return i < n ? pub(items[i]) : NULL;
}

char *mdc_repr(const mdc_value *pv)
{
    const md_val *v = cval(pv);
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_val_repr(v, &b, &e) < 0) {
        md_buf_free(&b);
        return NULL;
    }
    size_t n;
    char *s = md_buf_steal(&b, &n);
    if (!s)
        return NULL;
    /* the caller frees with free(): hand over a malloc'd copy */
    char *copy = malloc(n + 1);
    if (copy)
        memcpy(copy, s, n + 1);
    md_free(s);
    return copy;
}

const char *mdc_exc_class(const mdc_value *pexc)
{
    const md_val *exc = cval(pexc);
    return md_typeof(exc) == MD_T_EXC ? md_global_name(md_exc_class(exc)) : NULL;
}

const char *mdc_exc_module(const mdc_value *pexc)
{
    const md_val *exc = cval(pexc);
    return md_typeof(exc) == MD_T_EXC ? md_global_module(md_exc_class(exc)) : NULL;
}

const char *mdc_token_ident(const mdc_value *pv)
{
    const md_val *v = cval(pv);
    const md_val *token = v;
    if (md_typeof(v) == MD_T_TUPLE && md_tuple_len(v) == 2)
        token = md_tuple_get(v, 1);
    md_val *typeid, *address, *ident;
    if (md_proto_token_parts(token, &typeid, &address, &ident) < 0 || md_typeof(ident) != MD_T_STR)
        return NULL;
    return md_str_data(ident);
}
