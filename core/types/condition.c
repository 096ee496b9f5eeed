/* condition.c - the shared type Condition (threading.Condition around its
 * own RLock). The RLock is the lock core of sync_util.c, owned by a
 * connection. wait() releases it completely and parks on the condition;
 * notify() moves waiters to the lock's queue, where each takes the lock
 * back at the depth it had and then replies True; a timeout moves the
 * waiter there too, to reply False once it holds the lock again, exactly
 * as Python's wait() only returns with the lock re-acquired.
 *
 * A waiter keeps its peer's md_peer_watch registration throughout (the
 * one it had as owner), so a client that vanishes while waiting drops
 * its registration with its call and owns nothing.
 */
#include <math.h>

#include "core/types/sync_util.h"

typedef struct md_condition {
    md_lockobj lo;                 /* first: md_lockcore_of() finds lo.lk */
    /* Parked in wait() and not yet notified; w->i64 is the depth to
     * restore. Notified or timed-out waiters are in lo.lk.q. */
    md_waitq waiters;
} md_condition;

#define COND_TIMEOUT_TYPE "'>' not supported between instances of '%s' and 'int'"

static int cond_init(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    c->lo.lk.reentrant = true;
    md_val *lock = call->argv[0];
    /* CPython would wrap a lock passed by proxy; managerd keeps every
     * object separate and always uses its own RLock. */
    if (lock && md_typeof(lock) != MD_T_NONE)
        return md_raise(call, "builtins", "TypeError",
                        "managerd's Condition always uses its own RLock: "
                        "create it with lock=None");
    return MD_CALL_DONE;
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
    md_waiter_move(w, &c->lo.lk.q);
    md_lockcore_grant(w->self);
}

static int cond_wait(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    md_lockcore *lk = &c->lo.lk;
    if (!md_lockcore_owned_by(lk, call->peer))
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
    int64_t depth = lk->count;
    int rc = md_park(call, &c->waiters, given ? timeout : -1, cond_timed_out, NULL);
    if (rc != MD_CALL_PARKED)
        return rc;
    md_waiter *w = md_waitq_last(&c->waiters);
    w->i64 = depth;
    w->on_cancel = md_lockcore_waiter_cancelled;
    /* Release completely; the ownership registration now stands for the
     * parked call. */
    lk->owner = NULL;
    lk->count = 0;
    md_lockcore_grant(call->self);
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
    md_lockcore *lk = &c->lo.lk;
    /* The notifier holds the lock, so the moved waiters queue for it. */
    md_waiter *w;
    while (n > 0 && (w = md_waitq_first(&c->waiters))) {
        w->val = w->protocol == 2 ? md_none() : md_true();
        md_waiter_move(w, &lk->q);
        n--;
    }
    return md_return_none(call);
}

static int cond_notify(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    if (!md_lockcore_owned_by(&c->lo.lk, call->peer))
        return md_raise(call, "builtins", "RuntimeError", "cannot notify on un-acquired lock");
    size_t n;
    if (notify_count(call, &n) < 0)
        return MD_CALL_DONE;
    return do_notify(call, n);
}

static int cond_notify_all(md_call *call)
{
    md_condition *c = (md_condition *)call->self;
    if (!md_lockcore_owned_by(&c->lo.lk, call->peer))
        return md_raise(call, "builtins", "RuntimeError", "cannot notify on un-acquired lock");
    return do_notify(call, c->waiters.len);
}

static void cond_finalize(md_obj *self)
{
    md_waitq_drop_all(&((md_condition *)self)->waiters);
    md_lockcore_finalize(self);
}

static int cond_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    md_buf_puts(out, "<Condition(");
    md_lockcore_repr(self, out);
    return md_buf_printf(out, ", %zu)>", ((md_condition *)self)->waiters.len);
}

static md_val *cond_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)self;
    return md_sync_unpicklable(call, e, "_thread.RLock");
}

static const md_method cond_methods[] = {
    {.name = "acquire", .fn = md_lockcore_acquire, .params = {"blocking", "timeout", NULL},
     .min_args = 0, .max_args = 2},
    {.name = "release", .fn = md_lockcore_release, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "wait", .fn = cond_wait, .params = {"timeout", NULL}, .min_args = 0, .max_args = 1},
    {.name = "notify", .fn = cond_notify, .params = {"n", NULL}, .min_args = 0, .max_args = 1},
    {.name = "notify_all", .fn = cond_notify_all, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = NULL},
};

static const char *const cond_exposed[] = {"acquire", "release", "wait", "notify", "notify_all",
                                           NULL};

const md_type md_type_condition = {
    .name = "Condition",
    .size = sizeof(md_condition),
    .methods = cond_methods,
    .exposed = cond_exposed,
    .init = cond_init,
    .ctor_params = {"lock", NULL},
    .ctor_min = 0,
    .ctor_max = 1,
    .finalize = cond_finalize,
    .repr = cond_repr,
    .getvalue = cond_getvalue,
    .peer_gone = md_lockcore_peer_gone,
};
