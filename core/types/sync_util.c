/* sync_util.c - the parts the synchronisation types share: timeout
 * arguments, ownership registrations, and the lock core under Lock, RLock
 * and Condition (see sync_util.h for its invariants).
 *
 * Ownership: CPython's server never releases a lock held by a connection
 * that went away (tests/docs/protocol.md §4.5, §7 item 20); its thread simply stays
 * blocked and the lock stays held. managerd does better for the locks
 * that have an owner: whoever acquires an RLock or a Condition's own
 * RLock is watched (md_peer_watch), and when that peer closes, what it
 * holds is released and handed to the next waiter. A plain Lock has no
 * owner, as in Python: any connection may release it, and one taken by a
 * client that exits stays taken, because a Lock passed between processes
 * is a signal (a worker may take it for its parent to release). Its core
 * never watches anyone and its owner stays NULL.
 */
#include "core/types/sync_util.h"

#include <inttypes.h>
#include <stdio.h>

/* _thread converts a lock timeout to nanoseconds in an int64: larger
 * values fail with OverflowError before anything waits. */
#define LOCK_TIMEOUT_MAX 9223372036.854775807

/* ====================================================================== */
/* Arguments and ownership                                                 */
/* ====================================================================== */

int md_sync_arg_timeout(md_call *call, size_t i, const char *type_fmt, bool *given,
                        double *out)
{
    md_val *v = call->argv[i];
    *given = false;
    *out = -1;
    if (!v || md_typeof(v) == MD_T_NONE)
        return 0;
    md_vtype t = md_typeof(v);
    if (t != MD_T_BOOL && t != MD_T_INT && t != MD_T_FLOAT) {
        char text[200];
        snprintf(text, sizeof text, type_fmt, md_type_name(v));
        md_raise(call, "builtins", "TypeError", "%s", text);
        return -1;
    }
    if (md_arg_timeout(call, i, out) < 0)
        return -1;
    *given = true;
    return 0;
}

int md_sync_watch(md_peer *peer, md_obj *o)
{
    return peer ? md_peer_watch(peer, o) : 0;
}

void md_sync_unwatch(md_peer *peer, md_obj *o)
{
    if (peer)
        md_peer_unwatch(peer, o);
}

uint64_t md_sync_peer_number(const md_peer *peer)
{
    if (!peer)
        return 0;
    /* splitmix64 finaliser, kept to 47 bits like a Linux thread ident. */
    uint64_t z = (uint64_t)(uintptr_t)peer + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    z &= ((uint64_t)1 << 47) - 1;
    return z ? z : 1;
}

md_val *md_sync_unpicklable(const md_call *call, md_pyerr *e, const char *what)
{
    if (call && call->protocol == 2)
        md_pyerr_set(e, "TypeError", "can't pickle thread.lock objects");
    else
        md_pyerr_set(e, "TypeError", "cannot pickle '%s' object", what);
    return NULL;
}

/* ====================================================================== */
/* The lock core                                                           */
/* ====================================================================== */

bool md_lockcore_owned_by(const md_lockcore *lk, const md_peer *peer)
{
    return peer && lk->count > 0 && lk->owner == peer;
}

void md_lockcore_grant(md_obj *self)
{
    md_lockcore *lk = md_lockcore_of(self);
    md_waiter *w;
    /* State first, reply last: delivering may run more of the server. */
    while (lk->count == 0 && (w = md_waitq_first(&lk->q))) {
        lk->owner = lk->reentrant ? w->peer : NULL;
        lk->count = w->i64 > 0 ? w->i64 : 1;
        md_val *reply = w->val ? w->val : md_true();
        w->val = NULL;
        md_waiter_return(w, reply);
    }
}

void md_lockcore_release_all(md_obj *self, bool unwatch)
{
    md_lockcore *lk = md_lockcore_of(self);
    md_peer *owner = lk->owner;
    /* Dropping the owner's registration may drop the last hold on self
     * (a client that decref'd its proxy while holding the lock). */
    md_obj_hold(self);
    lk->owner = NULL;
    lk->count = 0;
    if (unwatch)
        md_sync_unwatch(owner, self);
    md_lockcore_grant(self);
    md_obj_release(self);
}

void md_lockcore_peer_gone(md_obj *self, md_peer *peer)
{
    /* Called once per registration; only the owner's has work to do (a
     * parked call's registration was dropped when the call was). */
    if (md_lockcore_owned_by(md_lockcore_of(self), peer))
        md_lockcore_release_all(self, false);
}

void md_lockcore_waiter_cancelled(md_waiter *w)
{
    md_sync_unwatch(w->peer, w->self);
}

void md_lockcore_finalize(md_obj *self)
{
    md_lockcore *lk = md_lockcore_of(self);
    md_waitq_drop_all(&lk->q);
    if (lk->count > 0)
        md_sync_unwatch(lk->owner, self);
    lk->owner = NULL;
    lk->count = 0;
}

static void acquire_timed_out(md_waiter *w)
{
    if (md_lockcore_of(w->self)->reentrant)
        md_sync_unwatch(w->peer, w->self);
    md_waiter_return(w, md_false());
}

/* _thread's acquire(blocking=True, timeout=-1) arguments. Returns 0, or
 * -1 with the error raised. *timeout is -1 for "no limit". */
static int acquire_args(md_call *call, bool *blocking, double *timeout)
{
    if (md_arg_bool(call, 0, true, blocking) < 0)
        return -1;
    *timeout = -1;
    md_val *t = call->argv[1];
    if (t) {
        /* None is not "no limit" here: _thread wants a number. */
        md_vtype k = md_typeof(t);
        if (k != MD_T_BOOL && k != MD_T_INT && k != MD_T_FLOAT) {
            md_raise(call, "builtins", "TypeError",
                     "'%s' object cannot be interpreted as an integer", md_type_name(t));
            return -1;
        }
        if (md_arg_timeout(call, 1, timeout) < 0)
            return -1;
    }
    if (!*blocking && *timeout != -1) {
        md_raise(call, "builtins", "ValueError", "can't specify a timeout for a non-blocking call");
        return -1;
    }
    if (*timeout < 0 && *timeout != -1) {
        /* CPython 3.13's wording for every client (3.6 - 3.12 said "must
         * be positive"): a client of any version may meet a newer
         * server, and the pickle protocol cannot tell 3.12 from 3.13. */
        md_raise(call, "builtins", "ValueError", "timeout value must be a non-negative number");
        return -1;
    }
    if (*timeout >= LOCK_TIMEOUT_MAX) {
        md_raise(call, "builtins", "OverflowError", "timestamp out of range for platform time_t");
        return -1;
    }
    return 0;
}

int md_lockcore_acquire(md_call *call)
{
    md_obj *self = call->self;
    md_lockcore *lk = md_lockcore_of(self);
    bool blocking;
    double timeout;
    if (acquire_args(call, &blocking, &timeout) < 0)
        return MD_CALL_DONE;
    if (lk->reentrant && md_lockcore_owned_by(lk, call->peer)) {
        lk->count++;
        /* Python 2.7's RLock answers a re-acquire with 1. */
        return call->protocol == 2 ? md_return_int(call, 1) : md_return_bool(call, true);
    }
    /* Only an owned (reentrant) lock watches its acquirers. */
    md_peer *owner = lk->reentrant ? call->peer : NULL;
    if (lk->count == 0) {
        if (md_sync_watch(owner, self) < 0)
            return md_raise_noargs(call, "builtins", "MemoryError");
        lk->owner = owner;
        lk->count = 1;
        return md_return_bool(call, true);
    }
    if (!blocking || timeout == 0)
        return md_return_bool(call, false);
    /* The registration a parked acquirer holds becomes its ownership's
     * when the lock is granted. */
    if (md_sync_watch(owner, self) < 0)
        return md_raise_noargs(call, "builtins", "MemoryError");
    int rc = md_park(call, &lk->q, timeout, acquire_timed_out, NULL);
    if (rc != MD_CALL_PARKED) {
        md_sync_unwatch(owner, self);
        return rc;
    }
    md_waiter *w = md_waitq_last(&lk->q);
    w->i64 = 1;
    if (owner)
        w->on_cancel = md_lockcore_waiter_cancelled;
    return MD_CALL_PARKED;
}

int md_lockcore_release(md_call *call)
{
    md_obj *self = call->self;
    md_lockcore *lk = md_lockcore_of(self);
    if (lk->reentrant) {
        if (!md_lockcore_owned_by(lk, call->peer))
            return md_raise(call, "builtins", "RuntimeError", "cannot release un-acquired lock");
        if (lk->count > 1) {
            lk->count--;
            return md_return_none(call);
        }
    } else if (lk->count == 0) {
        /* Python 2's _thread.lock raises thread.error; in Python 3
         * _thread.error is RuntimeError itself. */
        if (call->protocol == 2)
            return md_raise(call, "_thread", "error", "release unlocked lock");
        return md_raise(call, "builtins", "RuntimeError", "release unlocked lock");
    }
    md_lockcore_release_all(self, true);
    return md_return_none(call);
}

int md_lockcore_repr(md_obj *self, md_buf *out)
{
    md_lockcore *lk = md_lockcore_of(self);
    char ident[24];
    md_obj_ident(self, ident);
    const char *state = lk->count > 0 ? "locked" : "unlocked";
    if (!lk->reentrant)
        return md_buf_printf(out, "<%s _thread.lock object at 0x%s>", state, ident);
    return md_buf_printf(out, "<%s _thread.RLock object owner=%" PRIu64 " count=%" PRId64 " at 0x%s>",
                         state, lk->count > 0 ? md_sync_peer_number(lk->owner) : 0,
                         lk->count, ident);
}
