/* server.c - the server's lifetime and its peers' opening and closing:
 * what md_server_new sets up, md_server_free tears down, and the hooks
 * the daemon and the transports use. */
#include "core/disp/disp_int.h"

#include <sodium.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/disp/introspect.h"

md_server *md_server_new(struct event_base *base, const md_server_opts *opts)
{
    md_server *srv = md_calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->base = base;
    srv->max_objects = opts && opts->max_objects ? opts->max_objects : MD_MAX_OBJECTS_DEFAULT;
    /* Idents look like CPython's (12 hex digits). They count up from a
     * start drawn from libsodium, so none repeats within a run and a
     * stale proxy from an earlier run (almost surely) names nothing. */
    uint64_t r;
    randombytes_buf(&r, sizeof r);
    srv->next_id = MD_IDENT_MIN + (r & (MD_IDENT_SPAN - 1));
    srv->segments = md_list_new(0);
    srv->address = md_tuple_pack(2, md_none(), md_none());
    if (!srv->segments || !srv->address) {
        md_decref(srv->segments);
        md_decref(srv->address);
        md_free(srv);
        return NULL;
    }
    srv->on_reply = md_stats_request_end;
    md_stats_start();
    md_proxies_init();
    md_current_server = srv;
    return srv;
}

void md_server_free(md_server *srv)
{
    if (!srv)
        return;
    md_srv_unlink_segments(srv);
    for (size_t i = 0; i < srv->nreg; i++)
        if (srv->reg[i].shared)
            srv->reg[i].shared->flags &= ~2u;
    md_objtab_clear(srv);
    md_reg_clear(srv);
    md_decref(srv->segments);
    md_decref(srv->address);
    if (md_current_server == srv)
        md_current_server = NULL;
    md_free(srv);
}

struct event_base *md_server_base(md_server *srv)
{
    return srv->base;
}

void md_server_set_address(md_server *srv, md_val *address)
{
    md_decref(srv->address);
    srv->address = md_incref(address);
}

bool md_server_shutdown_requested(const md_server *srv)
{
    return srv->shutdown;
}

void md_server_set_shutdown_hook(md_server *srv, void (*fn)(void *), void *arg)
{
    srv->shutdown_fn = fn;
    srv->shutdown_arg = arg;
}

/* ---- peers ----------------------------------------------------------- */

void md_peer_init(md_peer *peer, const md_peer_ops *ops, md_server *server)
{
    memset(peer, 0, sizeof *peer);
    peer->ops = ops;
    peer->server = server;
    md_stats_peer_open(peer);
}

void md_peer_close(md_peer *peer)
{
    md_stats_peer_close(peer);
    md_peer_release(peer);
}
