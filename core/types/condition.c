/* condition.c - the shared type Condition (threading.Condition): around
 * its own RLock, or around a Lock, RLock, Semaphore or BoundedSemaphore
 * of this server passed as a proxy (m.Condition(m.Lock())), which is then
 * one lock shared with that object: acquiring it through its own proxy or
 * through the condition is the same thing. A Lock or RLock is the lock
 * core of sync_util.c, a semaphore its own (lock.c); an RLock's
 * owner is a connection, and a client's proxies share one connection per
 * thread, so m.Condition(m.RLock()) works where CPython's server, which
 * reaches the lock through a proxy of its own from another thread,
 * refuses wait and notify.
 *
 * wait() releases the lock completely and parks on the condition;
 * notify() moves waiters to the lock's queue, where each takes the lock
 * back at the depth it had and then replies True; a timeout moves the
 * waiter there too, to reply False once it holds the lock again, exactly
 * as Python's wait() only returns with the lock re-acquired.
 *
 * A waiter on an RLock keeps its peer's md_peer_watch registration on
 * the lock's object throughout (the one it had as owner), so a client
 * that vanishes while waiting drops its registration with its call and
 * owns nothing. A Lock or a semaphore has no owner: wait and notify only
 * need it taken, by anyone, as Python's Condition asks of them (an
 * acquire(False) would fail); wait gives one unit back and takes one
 * again.
 */
#include <math.h>

#include "core/types/registry.h"
#include "core/types/sync_util.h"

typedef struct md_condition {
    md_lockobj lo;                 /* first: md_lockcore_of() finds lo.lk */
    /* The Lock, RLock or semaphore object given to the constructor
     * (held), or NULL: then lo.lk is the lock. */
    md_obj *shared;
    /* Parked in wait() and not yet notified; w->i64 is the depth to
     * restore. Notified or timed-out waiters are in the lock's queue. */
    md_waitq waiters;
} md_condition;

/* The object whose lock core this condition uses. */
static md_obj *cond_lockobj(md_obj *self)
{
    md_condition *c = (md_condition *)self;
    return c->shared ? c->shared : self;
}

/* Python's Condition asks an RLock whether the caller owns it, and of a
 * Lock or a semaphore only that it is taken. */
static bool cond_holds(md_obj *self, const md_peer *peer)
{
    md_obj *lockobj = cond_lockobj(self);
    if (md_sem_is(lockobj))
        return md_sem_taken(lockobj);
    md_lockcore *lk = md_lockcore_of(lockobj);
    return lk->reentrant ? md_lockcore_owned_by(lk, peer) : lk->count > 0;
}

/* Where a notified or timed-out waiter queues to take the lock back, and
 * handing the lock to that queue while it is free. */
static md_waitq *lock_queue(md_obj *lockobj)
{
    return md_sem_is(lockobj) ? md_sem_queue(lockobj) : &md_lockcore_of(lockobj)->q;
}

static void lock_grant(md_obj *lockobj)
{
    if (md_sem_is(lockobj))
        md_sem_grant(lockobj);
    else
        md_lockcore_grant(lockobj);
}

#define COND_TIMEOUT_TYPE "'>' not supported between instances of '%s' and 'int'"

/* Condition(lock): a proxy of one of our Lock, RLock, Semaphore or
 * BoundedSemaphore objects. Anything else fails as on CPython's server,
 * on the missing 'acquire', except a Condition proxy, which managerd
 * refuses. */
static int cond_init(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    c->lo.lk.reentrant = true;
    md_val *lock = call->argv[0];
    if (!lock || md_typeof(lock) == MD_T_NONE)
        return MD_CALL_DONE;
    char cls[80];
    if (md_proxy_class_name(lock, cls, sizeof cls) < 0)
        return md_raise(call, "builtins", "AttributeError",
                        "'%s' object has no attribute 'acquire'", md_type_name(lock));
    md_obj *o = md_proxy_referent(lock);
    if (!o)
        return md_raise(call, "builtins", "TypeError",
                        "managerd's Condition takes a lock of this server: "
                        "the %s's object is not here", cls);
    if (o->type == &md_type_condition)
        return md_raise(call, "builtins", "TypeError",
                        "managerd's Condition takes a Lock, RLock or Semaphore, not a %s",
                        o->type->name);
    if (o->type != &md_type_lock && o->type != &md_type_rlock && !md_sem_is(o))
        return md_raise(call, "builtins", "AttributeError",
                        "'%s' object has no attribute 'acquire'", cls);
    md_obj_hold(o);
    c->shared = o;
    return MD_CALL_DONE;
}

/* Drop the registration a waiter on an RLock holds on the lock's object
 * (a Lock or a semaphore has none). */
static void cond_waiter_cancelled(md_waiter *w)
{
    md_obj *lockobj = cond_lockobj(w->self);
    if (!md_sem_is(lockobj) && md_lockcore_of(lockobj)->reentrant)
        md_sync_unwatch(w->peer, lockobj);
}

/* acquire and release are the lock's own, run on the lock's object. */
static int on_lock(md_call *call, md_method_fn fn)
{
    md_obj *self = call->self;
    call->self = cond_lockobj(self);
    int rc = fn(call);
    call->self = self;
    return rc;
}

static int cond_acquire(md_call *call)
{
    bool sem = md_sem_is(cond_lockobj(call->self));
    return on_lock(call, sem ? md_sem_acquire : md_lockcore_acquire);
}

static int cond_release(md_call *call)
{
    bool sem = md_sem_is(cond_lockobj(call->self));
    return on_lock(call, sem ? md_sem_release : md_lockcore_release);
}

/* The wait timed out: it still has to take the lock back before it can
 * reply False. A waiter already notified (in the lock's queue) keeps its
 * True: its timer fired late, and there is nothing to do. */
static void cond_timed_out(md_waiter *w)
{
    md_condition *c = (md_condition *)w->self;
    if (w->queue != &c->waiters)
        return;
    /* A Python 2.7 server's Condition.wait returns None either way. */
    w->val = w->protocol == 2 ? md_none() : md_false();
    md_obj *lockobj = cond_lockobj(w->self);
    md_waiter_move(w, lock_queue(lockobj));
    lock_grant(lockobj);
}

static int cond_wait(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    md_obj *lockobj = cond_lockobj(call->self);
    bool sem = md_sem_is(lockobj);
    if (!cond_holds(call->self, call->peer))
        return md_raise(call, "builtins", "RuntimeError", "cannot wait on un-acquired lock");
    bool given;
    double timeout;
    if (md_sync_arg_timeout(call, 0, COND_TIMEOUT_TYPE, &given, &timeout) < 0)
        return MD_CALL_DONE;
    /* Python's wait(0) (or less) gives the lock up for an instant and
     * returns False with it; nothing can notify in between here, so keep
     * the lock and answer at once. */
    if (given && timeout <= 0)
        return call->protocol == 2 ? md_return_none(call) : md_return_bool(call, false);
    /* Giving a unit back to a BoundedSemaphore(0) fails, in Python too. */
    if (sem && md_sem_full(lockobj))
        return md_raise(call, "builtins", "ValueError", "Semaphore released too many times");
    md_lockcore *lk = sem ? NULL : md_lockcore_of(lockobj);
    int rc = md_park(call, &c->waiters, given ? timeout : -1, cond_timed_out, NULL);
    if (rc != MD_CALL_PARKED)
        return rc;
    md_waiter *w = md_waitq_last(&c->waiters);
    w->on_cancel = cond_waiter_cancelled;
    if (sem) {
        md_sem_give(lockobj);
        return MD_CALL_PARKED;
    }
    /* Release completely; an RLock's ownership registration now stands
     * for the parked call. */
    w->i64 = lk->count;
    lk->owner = NULL;
    lk->count = 0;
    md_lockcore_grant(lockobj);
    return MD_CALL_PARKED;
}

/* n for notify(n=1): Python loops "while waiters and n > 0", so a float
 * notifies ceil(n) waiters and n <= 0 none. */
static int notify_count(md_call *call, size_t *out)
{
    md_val *v = call->argv[0];
    if (!v) {
        *out = 1;
        return 0;
    }
    md_vtype t = md_typeof(v);
    if (t == MD_T_FLOAT) {
        double d = md_float_get(v);
        if (isnan(d) || d <= 0)
            *out = 0;
        else
            *out = d >= (double)SIZE_MAX ? SIZE_MAX : (size_t)ceil(d);
        return 0;
    }
    if (t != MD_T_INT && t != MD_T_BOOL) {
        md_raise(call, "builtins", "TypeError", COND_TIMEOUT_TYPE, md_type_name(v));
        return -1;
    }
    int64_t n;
    if (md_int_to_i64(v, &n) < 0)
        n = md_int_sign(v) > 0 ? INT64_MAX : 0;
    *out = n <= 0 ? 0 : (uint64_t)n > SIZE_MAX ? SIZE_MAX : (size_t)n;
    return 0;
}

static int do_notify(md_call *call, size_t n)
{
    md_condition *c = (md_condition *)call->self;
    md_obj *lockobj = cond_lockobj(call->self);
    md_waitq *q = lock_queue(lockobj);
    /* The lock is taken, so the moved waiters queue for it. */
    md_waiter *w;
    while (n > 0 && (w = md_waitq_first(&c->waiters))) {
        w->val = w->protocol == 2 ? md_none() : md_true();
        md_waiter_move(w, q);
        n--;
    }
    return md_return_none(call);
}

static int cond_notify(md_call *call)
{
    if (!cond_holds(call->self, call->peer))
        return md_raise(call, "builtins", "RuntimeError", "cannot notify on un-acquired lock");
    size_t n;
    if (notify_count(call, &n) < 0)
        return MD_CALL_DONE;
    return do_notify(call, n);
}

static int cond_notify_all(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    if (!cond_holds(call->self, call->peer))
        return md_raise(call, "builtins", "RuntimeError", "cannot notify on un-acquired lock");
    return do_notify(call, c->waiters.len);
}

static void cond_finalize(md_obj *self)
{
    md_condition *c = (md_condition *)self;
    md_waitq_drop_all(&c->waiters);
    md_lockcore_finalize(self);
    if (c->shared) {
        md_obj *shared = c->shared;
        c->shared = NULL;
        md_obj_release(shared);
    }
}

static int cond_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    /* CPython prints its lock's str(): through a proxy, the repr of the
     * lock object itself. */
    md_buf_puts(out, "<Condition(");
    md_obj *lockobj = cond_lockobj(self);
    if (md_sem_is(lockobj))
        md_sem_repr(lockobj, out);
    else
        md_lockcore_repr(lockobj, out);
    return md_buf_printf(out, ", %zu)>", ((md_condition *)self)->waiters.len);
}

static md_val *cond_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)self;
    return md_sync_unpicklable(call, e, "_thread.RLock");
}

static const md_method cond_methods[] = {
    {.name = "acquire", .fn = cond_acquire, .params = {"blocking", "timeout", NULL},
     .min_args = 0, .max_args = 2},
    {.name = "release", .fn = cond_release, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "wait", .fn = cond_wait, .params = {"timeout", NULL}, .min_args = 0, .max_args = 1},
    {.name = "notify", .fn = cond_notify, .params = {"n", NULL}, .min_args = 0, .max_args = 1},
    {.name = "notify_all", .fn = cond_notify_all, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = NULL},
};

const md_type md_type_condition = {
    .name = "Condition",
    .size = sizeof(md_condition),
    .methods = cond_methods,
    .init = cond_init,
    .ctor_params = {"lock", NULL},
    .ctor_min = 0,
    .ctor_max = 1,
    .finalize = cond_finalize,
    .repr = cond_repr,
    .getvalue = cond_getvalue,
    .peer_gone = md_lockcore_peer_gone,
};
