/* peer.c - a caller as the object runtime sees it (see peer.h): the one
 * path replies take to it, and what it holds on shared objects. It lives
 * below the shared types and the dispatcher, so that a parked call that
 * completes (park.c) replies without calling up into either. */
#include "core/peer.h"

#include "core/base/alloc.h"
#include "core/server_impl.h"

void md_peer_reply(md_peer *peer, int protocol, int kind, md_val *value)
{
    if (kind == MD_OUT_ERROR && protocol == 0 && !peer->raw_exceptions) {
        /* XML-RPC cannot carry an exception; the client raises
         * RemoteError with this text instead of a confusing TypeError. */
        md_val *tb = value ? md_proto_exc_traceback(value) : NULL;
        md_decref(value);
        value = tb;
        kind = MD_OUT_TRACEBACK;
    }
    if (!value && kind != MD_OUT_RETURN)
        kind = MD_OUT_TRACEBACK, value = md_proto_traceback("MemoryError");
    if (!value)
        value = md_none();
    /* Out of memory here only risks the referent dying before the
     * client's incref; the reply still goes out. */
    if (kind == MD_OUT_RETURN)
        (void)md_proxies_hold_sent(peer, value);
    peer->protocol = protocol;
    if (peer->server && peer->server->on_reply)
        peer->server->on_reply(peer, kind);
    peer->ops->deliver(peer, kind, value);
}

void md_peer_release(md_peer *peer)
{
    if (peer->parked)
        md_park_cancel(peer->parked);
    md_proxies_release_sent(peer);
    /* Tell each watched object once per registration; the object may
     * unwatch during the callback, so walk a snapshot. */
    while (peer->nwatched) {
        md_obj *o = peer->watched[--peer->nwatched];
        if (o->type->peer_gone)
            o->type->peer_gone(o, peer);
        md_obj_release(o);
    }
    md_free(peer->watched);
    peer->watched = NULL;
    peer->capwatched = 0;
}

int md_peer_watch(md_peer *peer, md_obj *o)
{
    if (md_grow(&peer->watched, &peer->capwatched, peer->nwatched + 1ul,
                sizeof *peer->watched) < 0)
        return -1;
    peer->watched[peer->nwatched++] = o;
    md_obj_hold(o);
    return 0;
}

void md_peer_unwatch(md_peer *peer, md_obj *o)
{
    for (uint32_t i = peer->nwatched; i-- > 0;)
        if (peer->watched[i] == o) {
            peer->watched[i] = peer->watched[--peer->nwatched];
            md_obj_release(o);
            return;
        }
}
