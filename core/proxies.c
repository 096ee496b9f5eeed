/* proxies.c - proxies stored inside values, and proxies sent in replies.
 *
 * When a client stores a proxy of one of our own objects in a managed
 * container (d['l'] = m.list(), m.dict(pets=pets), q.put([p])), the
 * request carries a pickled RebuildProxy(func, Token(typeid, address, id),
 * serializer, kwds). CPython keeps the referent alive forever in a table
 * of "manager-owned" objects; managerd counts the stored proxy as a
 * reference held by the value (md_obj.stored) and drops it when the value
 * dies, which the value model reports through the watched-opaque hook.
 * Every proxy anywhere in a request is counted (positional and keyword
 * arguments, any depth), before any handler runs.
 *
 * A proxy that leaves the server in a reply (q.get(), d.pop('k')) may be
 * the last thing keeping its referent: the value is freed once sent,
 * before the client's RebuildProxy has registered its own reference with
 * an incref. So each referent named in a reply is also held for the
 * connection that received it until that connection's next request (or
 * its close): a client unpickles a reply, increfs on its own short
 * connection, and only then can send on this one again.
 *
 * Our own tokens are recognised by ident alone: idents never repeat
 * within a run, and a client may name the server by any address
 * (tests/docs/protocol.md §3.6, §7.10).
 */
#include "core/server_impl.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/ptrmap.h"
#include "core/protocol/protocol.h"

/* Watched proxies alive anywhere: when there are none, no reply can name
 * one of our objects and replies are not walked. */
static size_t nwatched;

md_obj *md_proxy_referent(const md_val *proxy)
{
    const md_val *token = md_proto_proxy_token(proxy);
    md_val *typeid, *address, *ident;
    uint64_t id;
    if (!token || !md_current_server ||
        md_proto_token_parts(token, &typeid, &address, &ident) < 0 ||
        !md_ident_parse(ident, &id))
        return NULL;
    return md_objtab_find(md_current_server, id);
}

int md_proxy_class_name(const md_val *proxy, char *out, size_t n)
{
    const md_val *token = md_proto_proxy_token(proxy);
    md_val *typeid, *address, *ident;
    if (!token || md_proto_token_parts(token, &typeid, &address, &ident) < 0)
        return -1;
    md_val *func = md_tuple_get(md_opaque_args(proxy), 0);
    if (md_typeof(func) != MD_T_GLOBAL)
        return -1;
    /* AutoProxy makes its class per typeid and names it so. */
    if (md_global_is(func, "multiprocessing.managers", "AutoProxy") &&
        md_typeof(typeid) == MD_T_STR) {
        snprintf(out, n, "AutoProxy[%s]", md_str_data(typeid));
        return 0;
    }
    const char *name = md_global_name(func);
    const char *dot = strrchr(name, '.');
    snprintf(out, n, "%s", dot ? dot + 1 : name);
    return 0;
}

static void on_proxy_freed(md_val *proxy)
{
    md_obj *o = md_proxy_referent(proxy);
    if (nwatched)
        nwatched--;
    if (o && o->stored) {
        o->stored--;
        md_obj_maybe_free(o);
    }
}

typedef struct stack {
    md_val **items;
    size_t len, cap;
} stack;

static int push(stack *st, md_val *v)
{
    if (!v)
        return 0;
    md_vtype t = md_typeof(v);
    if (t != MD_T_TUPLE && t != MD_T_LIST && t != MD_T_DICT && t != MD_T_SET &&
        t != MD_T_FROZENSET && t != MD_T_OPAQUE && t != MD_T_EXC)
        return 0;
    if (md_grow(&st->items, &st->cap, st->len + 1, sizeof *st->items) < 0)
        return -1;
    st->items[st->len++] = v;
    return 0;
}

static int push_children(stack *st, md_val *v)
{
    size_t pos = 0;
    md_val *k, *x;
    switch (md_typeof(v)) {
    case MD_T_TUPLE:
        for (size_t i = 0; i < md_tuple_len(v); i++)
            if (push(st, md_tuple_get(v, i)) < 0)
                return -1;
        return 0;
    case MD_T_LIST:
        for (size_t i = 0; i < md_list_len(v); i++)
            if (push(st, md_list_get(v, i)) < 0)
                return -1;
        return 0;
    case MD_T_DICT:
        while (md_dict_next(v, &pos, &k, &x))
            if (push(st, k) < 0 || push(st, x) < 0)
                return -1;
        return 0;
    case MD_T_SET:
    case MD_T_FROZENSET:
        while (md_set_next(v, &pos, &x))
            if (push(st, x) < 0)
                return -1;
        return 0;
    case MD_T_EXC:
        return push(st, md_exc_args(v)) < 0 || push(st, md_exc_state(v)) < 0 ? -1 : 0;
    case MD_T_OPAQUE:
        if (push(st, md_opaque_args(v)) < 0 || push(st, md_opaque_kwargs(v)) < 0 ||
            push(st, md_opaque_state(v)) < 0 || push(st, md_opaque_listitems(v)) < 0 ||
            push(st, md_opaque_dictitems(v)) < 0)
            return -1;
        return 0;
    default:
        return 0;
    }
}

typedef int (*proxy_fn)(md_val *proxy, void *ctx);

/* Call fn on every RebuildProxy opaque inside value, each once, without
 * recursion (values may be deep or cyclic). 0, or -1 out of memory or
 * when fn fails (a partial walk leaves consistent counts). */
static int each_proxy(md_val *value, proxy_fn fn, void *ctx)
{
    stack st = {0};
    md_ptrmap seen;   /* containers met, so shared and cyclic ones are walked once */
    md_ptrmap_init(&seen);
    int rc = push(&st, value);
    while (rc == 0 && st.len) {
        md_val *v = st.items[--st.len];
        /* Only a value referenced more than once can be met twice: a
         * cycle is entered through a value its predecessor in the cycle
         * and something outside both reference. So a tree of values
         * referenced once each (most replies) costs no set at all. */
        if (md_refcount(v) > 1) {
            bool fresh;
            if (!md_ptrmap_insert(&seen, (uintptr_t)v, &fresh)) {
                rc = -1;
                continue;
            }
            if (!fresh)
                continue;
        }
        if (md_typeof(v) == MD_T_OPAQUE && md_proto_proxy_token(v))
            rc = fn(v, ctx);
        else
            rc = push_children(&st, v);
    }
    md_free(st.items);
    md_ptrmap_free(&seen);
    return rc;
}

static int count_proxy(md_val *v, void *ctx)
{
    (void)ctx;
    if (md_opaque_watched(v))
        return 0;
    md_obj *o = md_proxy_referent(v);
    if (!o)
        return 0;
    o->stored++;
    nwatched++;
    md_opaque_watch(v);
    return 0;
}

void md_proxies_init(void)
{
    md_opaque_set_free_hook(on_proxy_freed);
}

int md_proxies_adopt(md_val *value)
{
    return each_proxy(value, count_proxy, NULL);
}

static int hold_for_peer(md_val *v, void *ctx)
{
    md_peer *peer = ctx;
    md_obj *o = md_proxy_referent(v);
    if (!o)
        return 0;
    if (md_grow(&peer->sent, &peer->capsent, peer->nsent + 1ul, sizeof *peer->sent) < 0)
        return -1;
    peer->sent[peer->nsent++] = o;
    md_obj_hold(o);
    return 0;
}

int md_proxies_hold_sent(md_peer *peer, md_val *reply)
{
    if (!nwatched || !reply)
        return 0;
    return each_proxy(reply, hold_for_peer, peer);
}

void md_proxies_release_sent(md_peer *peer)
{
    /* Releasing may free an object whose finalizer frees values holding
     * more proxies: take the list first. */
    md_obj **sent = peer->sent;
    uint32_t n = peer->nsent;
    peer->sent = NULL;
    peer->nsent = 0;
    peer->capsent = 0;
    for (uint32_t i = 0; i < n; i++)
        md_obj_release(sent[i]);
    md_free(sent);
}
