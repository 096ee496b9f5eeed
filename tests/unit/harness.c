/* harness.c - drive the dispatcher from CUnit tests without sockets; see
 * harness.h. Peers record replies in a list of (kind, payload) pairs. */
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/types/registry.h"

typedef struct th_peer {
    md_peer base;              /* first: the dispatcher sees an md_peer */
    md_val *replies;           /* list of (kind int, payload) */
    bool closed;
    struct th_peer *next;
} th_peer;

struct md_th {
    struct event_base *base;
    md_server *srv;
    th_peer *peers;
    th_peer *own;              /* short-connection requests */
};

static void th_deliver(md_peer *peer, int kind, md_val *payload)
{
    th_peer *p = (th_peer *)peer;
    md_val *k = md_int_from_i64(kind);
    md_val *pair = md_tuple_pack(2, k, payload);
    md_decref(k);
    md_decref(payload);
    if (!pair || md_list_append_steal(p->replies, pair) < 0)
        abort();
}

static const md_peer_ops th_ops = {.deliver = th_deliver};

md_th *md_th_new(void)
{
    md_th *th = calloc(1, sizeof *th);
    th->base = event_base_new();
    th->srv = md_server_new(th->base, NULL);
    md_reg_add_syncmanager(th->srv);
    md_val *host = md_str_from_cstr("127.0.0.1");
    md_val *port = md_int_from_i64(50000);
    md_val *addr = md_tuple_pack(2, host, port);
    md_decref(host);
    md_decref(port);
    md_server_set_address(th->srv, addr);
    md_decref(addr);
    th->own = (th_peer *)md_th_peer(th, 4);
    return th;
}

md_server *md_th_server(md_th *th)
{
    return th->srv;
}

md_peer *md_th_peer(md_th *th, int protocol)
{
    th_peer *p = calloc(1, sizeof *p);
    md_peer_init(&p->base, &th_ops, th->srv);
    p->base.protocol = protocol;
    /* as a transport sets it for requests naming RebuildProxy */
    p->base.may_carry_proxies = true;
    p->replies = md_list_new(0);
    p->next = th->peers;
    th->peers = p;
    return &p->base;
}

void md_th_close_peer(md_th *th, md_peer *peer)
{
    th_peer *p = (th_peer *)peer;
    if (!p->closed) {
        p->closed = true;
        md_peer_close(peer);
    }
}

void md_th_free(md_th *th)
{
    for (th_peer *p = th->peers; p; p = p->next)
        md_th_close_peer(th, &p->base);
    md_server_free(th->srv);
    while (th->peers) {
        th_peer *next = th->peers->next;
        md_decref(th->peers->replies);
        free(th->peers);
        th->peers = next;
    }
    event_base_free(th->base);
    md_gc_collect();
    free(th);
}

static md_val *request(const char *ident, const char *method, md_val *args, md_val *kwargs)
{
    md_val *id = ident ? md_str_from_cstr(ident) : md_none();
    md_val *m = md_str_from_cstr(method);
    md_val *a = args ? md_incref(args) : md_tuple_new(0);
    md_val *k = kwargs ? md_incref(kwargs) : md_dict_new();
    md_val *req = md_tuple_pack(4, id, m, a, k);
    md_decref(id);
    md_decref(m);
    md_decref(a);
    md_decref(k);
    return req;
}

int md_th_take(md_th *th, md_peer *peer, md_val **payload)
{
    th_peer *p = peer ? (th_peer *)peer : th->own;
    *payload = NULL;
    if (md_list_len(p->replies) == 0)
        return MD_OUT_NONE;
    md_val *pair = md_incref(md_list_get(p->replies, 0));
    md_list_del(p->replies, 0);
    int64_t kind;
    md_int_to_i64(md_tuple_get(pair, 0), &kind);
    *payload = md_incref(md_tuple_get(pair, 1));
    md_decref(pair);
    return (int)kind;
}

int md_th_server_call(md_th *th, const char *method, md_val *args)
{
    md_val *req = request(NULL, method, args, NULL);
    md_disp_request(th->srv, &th->own->base, req, false);
    md_decref(req);
    md_val *last = md_list_len(th->own->replies)
                       ? md_list_get(th->own->replies, md_list_len(th->own->replies) - 1)
                       : NULL;
    int64_t kind = MD_OUT_NONE;
    if (last)
        md_int_to_i64(md_tuple_get(last, 0), &kind);
    return (int)kind;
}

char *md_th_mkdtemp(char *buf, size_t len, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/')
        tmp = "/tmp";
    int n = snprintf(buf, len, "%s/%s.XXXXXX", tmp, name);
    if (n < 0 || (size_t)n >= len)
        return NULL;
    return mkdtemp(buf);
}

void md_th_set_create_protocol(md_th *th, int protocol)
{
    th->own->base.protocol = protocol;
}

int md_th_create(md_th *th, const char *typeid, md_val *args, md_val *kwargs, char *ident)
{
    size_t n = args ? md_tuple_len(args) : 0;
    md_val *full = md_tuple_new(n + 1);
    md_tuple_set_steal(full, 0, md_str_from_cstr(typeid));
    for (size_t i = 0; i < n; i++)
        md_tuple_set_steal(full, i + 1, md_incref(md_tuple_get(args, i)));
    md_val *req = request(NULL, "create", full, kwargs);
    md_decref(full);
    md_disp_request(th->srv, &th->own->base, req, false);
    md_decref(req);
    md_val *payload;
    int kind = md_th_take(th, NULL, &payload);
    if (kind == MD_OUT_RETURN) {
        md_val *id = md_tuple_get(payload, 0);
        snprintf(ident, 32, "%s", md_str_data(id));
        md_decref(payload);
        return kind;
    }
    /* Put the failure back so the test can read it. */
    md_val *k = md_int_from_i64(kind);
    md_val *pair = md_tuple_pack(2, k, payload);
    md_decref(k);
    md_decref(payload);
    md_list_insert(th->own->replies, 0, pair);
    md_decref(pair);
    return kind;
}

void md_th_call(md_th *th, md_peer *peer, const char *ident, const char *method,
                md_val *args, md_val *kwargs)
{
    md_val *req = request(ident, method, args, kwargs);
    md_disp_request(th->srv, peer, req, true);
    md_decref(req);
}

int md_th_call_take(md_th *th, md_peer *peer, const char *ident, const char *method,
                    md_val *args, md_val *kwargs, md_val **payload)
{
    md_th_call(th, peer, ident, method, args, kwargs);
    return md_th_take(th, peer, payload);
}

void md_th_run(md_th *th, double seconds)
{
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    event_base_loopexit(th->base, &tv);
    event_base_dispatch(th->base);
}

md_val *md_th_tuple(size_t n, ...)
{
    md_val *t = md_tuple_new(n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        md_tuple_set_steal(t, i, va_arg(ap, md_val *));
    va_end(ap);
    return t;
}

/* ---- value builders ------------------------------------------------------ */

md_val *md_th_str(const char *s)
{
    return md_str_from_cstr(s);
}

md_val *md_th_int(int64_t i)
{
    return md_int_from_i64(i);
}

md_val *md_th_float(double d)
{
    return md_float_new(d);
}

md_val *md_th_big(const char *decimal)
{
    return md_int_from_decimal(decimal, strlen(decimal), false);
}

md_val *md_th_bytes(const void *data, size_t n)
{
    return md_bytes_new(data, n);
}

md_val *md_th_list(size_t n, ...)
{
    md_val *l = md_list_new(n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        md_list_append_steal(l, va_arg(ap, md_val *));
    va_end(ap);
    return l;
}

md_val *md_th_dict(size_t npairs, ...)
{
    md_val *d = md_dict_new();
    md_pyerr e;
    md_pyerr_clear(&e);
    va_list ap;
    va_start(ap, npairs);
    for (size_t i = 0; i < npairs; i++) {
        md_val *k = va_arg(ap, md_val *);
        md_val *v = va_arg(ap, md_val *);
        md_dict_set(d, k, v, &e);
        md_decref(k);
        md_decref(v);
    }
    va_end(ap);
    return d;
}

md_val *md_th_set(bool frozen, size_t n, ...)
{
    md_val *s = md_set_new(frozen);
    md_pyerr e;
    md_pyerr_clear(&e);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        md_val *x = va_arg(ap, md_val *);
        md_set_add(s, x, &e);
        md_decref(x);
    }
    va_end(ap);
    return s;
}

/* ---- checks -------------------------------------------------------------- */

#define MD_TH_CHECK_AT(cond, file, line) \
    CU_assertImplementation((cond), (unsigned)(line), #cond, (file), "", CU_FALSE)

size_t md_th_nobj(md_th *th)
{
    return md_server_number_of_objects(md_th_server(th));
}

void md_th_create_ok(md_th *th, const char *typeid, md_val *args, md_val *kwargs, char *ident,
                     const char *file, int line)
{
    int kind = md_th_create(th, typeid, args, kwargs, ident);
    md_decref(args);
    md_decref(kwargs);
    MD_TH_CHECK_AT(kind == MD_OUT_RETURN, file, line);
    if (kind != MD_OUT_RETURN) {
        md_val *p = NULL;
        md_th_take(th, NULL, &p);
        fprintf(stderr, "\n    line %d: create %s failed: ", line, typeid);
        md_ts_repr_is(p, "(a successful create)");
        md_decref(p);
        ident[0] = 0;
    }
}

void md_th_create_fails(md_th *th, const char *typeid, md_val *args, md_val *kwargs,
                        const char *text, const char *file, int line)
{
    char ident[32];
    int kind = md_th_create(th, typeid, args, kwargs, ident);
    md_decref(args);
    md_decref(kwargs);
    MD_TH_CHECK_AT(kind == MD_OUT_TRACEBACK, file, line);
    md_val *p = NULL;
    if (kind != MD_OUT_RETURN)
        md_th_take(th, NULL, &p);
    bool ok = p && md_typeof(p) == MD_T_STR && strstr(md_str_data(p), text);
    if (!ok)
        fprintf(stderr, "\n    line %d: traceback %s, wanted \"%s\"\n", line,
                p && md_typeof(p) == MD_T_STR ? md_str_data(p) : "(none)", text);
    MD_TH_CHECK_AT(ok, file, line);
    md_decref(p);
}

void md_th_drop(md_th *th, const char *ident, const char *file, int line)
{
    md_val *args = md_th_tuple(1, md_th_str(ident));
    int kind = md_th_server_call(th, "decref", args);
    md_decref(args);
    md_val *p = NULL;
    md_th_take(th, NULL, &p);
    md_decref(p);
    MD_TH_CHECK_AT(kind == MD_OUT_RETURN, file, line);
}

static void rec_deliver(md_peer *peer, int kind, md_val *payload)
{
    md_th_rec_peer *r = (md_th_rec_peer *)peer;
    if (r->nreplies++ == 0) {
        r->kind = kind;
        r->payload = payload;
    } else {
        md_decref(payload);
    }
}

static const md_peer_ops rec_ops = {.deliver = rec_deliver};

void md_th_rec_peer_init(md_th_rec_peer *r, md_server *srv)
{
    memset(r, 0, sizeof *r);
    md_peer_init(&r->base, &rec_ops, srv);
}
