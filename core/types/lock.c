/* lock.c - the shared types Lock (threading.Lock), RLock (threading.RLock),
 * Semaphore and BoundedSemaphore (threading.Semaphore/BoundedSemaphore).
 *
 * Lock and RLock are the lock core of sync_util.c: an RLock belongs to the
 * connection that acquired it (CPython's "calling thread" is, on the
 * server, the connection's thread) and is released when that connection
 * goes away. A Lock, a Semaphore and a BoundedSemaphore have no owner, as
 * in Python: anyone may release them, and what a vanished client took
 * stays taken (a Lock passed between processes is a signal).
 */
#include <inttypes.h>

#include "core/types/registry.h"
#include "core/types/sync_util.h"

/* ====================================================================== */
/* Lock and RLock                                                          */
/* ====================================================================== */

static int lock_init(md_call *call)
{
    md_lockcore_of(call->self)->reentrant = false;
    return MD_CALL_DONE;
}

static int rlock_init(md_call *call)
{
    md_lockcore_of(call->self)->reentrant = true;
    return MD_CALL_DONE;
}

static void lock_finalize(md_obj *self)
{
    md_lockcore_finalize(self);
}

static int lock_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    return md_lockcore_repr(self, out);
}

static md_val *lock_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    return md_sync_unpicklable(call, e, md_lockcore_of(self)->reentrant ? "_thread.RLock"
                                                                      : "_thread.lock");
}

static const md_method lock_methods[] = {
    {.name = "acquire", .fn = md_lockcore_acquire, .params = {"blocking", "timeout", NULL},
     .min_args = 0, .max_args = 2},
    {.name = "release", .fn = md_lockcore_release, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = NULL},
};

const md_type md_type_lock = {
    .name = "Lock",
    .size = sizeof(md_lockobj),
    .methods = lock_methods,
    .init = lock_init,
    .ctor_params = {NULL},
    .finalize = lock_finalize,
    .repr = lock_repr,
    .getvalue = lock_getvalue,
    /* no peer_gone: a Lock has no owner and watches no one */
};

const md_type md_type_rlock = {
    .name = "RLock",
    .size = sizeof(md_lockobj),
    .methods = lock_methods,
    .init = rlock_init,
    .ctor_params = {NULL},
    .finalize = lock_finalize,
    .repr = lock_repr,
    .getvalue = lock_getvalue,
    .peer_gone = md_lockcore_peer_gone,
};

/* ====================================================================== */
/* Semaphore and BoundedSemaphore                                          */
/* ====================================================================== */

/* Invariant: waiters is empty whenever value > 0 (a release hands the
 * units to parked acquirers, oldest first, before anyone else). A
 * Condition on a semaphore queues its notified waiters here too, each
 * with its reply in w->val. */
typedef struct md_semaphore {
    md_obj base;
    int64_t value;
    int64_t initial;               /* BoundedSemaphore's ceiling */
    bool bounded;
    md_waitq waiters;
} md_semaphore;

static int sem_init(md_call *call)
{
    md_semaphore *s = (md_semaphore *)call->self;
    int64_t value;
    if (md_arg_index(call, 0, 1, &value) < 0)
        return MD_CALL_DONE;
    if (value < 0)
        return md_raise(call, "builtins", "ValueError", "semaphore initial value must be >= 0");
    s->value = s->initial = value;
    s->bounded = call->self->type == &md_type_bounded_semaphore;
    return MD_CALL_DONE;
}

static void sem_timed_out(md_waiter *w)
{
    md_waiter_return(w, md_false());
}

static int sem_acquire(md_call *call)
{
    md_semaphore *s = (md_semaphore *)call->self;
    bool blocking, given;
    double timeout;
    if (md_arg_bool(call, 0, true, &blocking) < 0 ||
        md_sync_arg_timeout(call, 1, "unsupported operand type(s) for +: 'float' and '%s'",
                            &given, &timeout) < 0)
        return MD_CALL_DONE;
    if (!blocking && given)
        return md_raise(call, "builtins", "ValueError",
                        "can't specify timeout for non-blocking acquire");
    if (s->value > 0) {
        s->value--;
        return md_return_bool(call, true);
    }
    /* threading.Semaphore gives up at once when the time left is <= 0. */
    if (!blocking || (given && timeout <= 0))
        return md_return_bool(call, false);
    return md_park(call, &s->waiters, given ? timeout : -1, sem_timed_out, NULL);
}

static int sem_release(md_call *call)
{
    md_semaphore *s = (md_semaphore *)call->self;
    int64_t n;
    if (md_arg_index(call, 0, 1, &n) < 0)
        return MD_CALL_DONE;
    if (n < 1)
        return md_raise(call, "builtins", "ValueError", "n must be one or more");
    if (s->bounded && n > s->initial - s->value)
        return md_raise(call, "builtins", "ValueError", "Semaphore released too many times");
    /* Python's int has no ceiling; ours stops at 2**63 - 1. */
    if (n > INT64_MAX - s->value)
        return md_raise(call, "builtins", "OverflowError", "semaphore value too large");
    s->value += n;
    md_sem_grant(call->self);
    return md_return_none(call);
}

/* ---- a Semaphore under a Condition ------------------------------------- */

bool md_sem_is(const md_obj *o)
{
    return o->type == &md_type_semaphore || o->type == &md_type_bounded_semaphore;
}

int md_sem_acquire(md_call *call)
{
    return sem_acquire(call);
}

int md_sem_release(md_call *call)
{
    return sem_release(call);
}

bool md_sem_taken(md_obj *self)
{
    return ((md_semaphore *)self)->value == 0;
}

bool md_sem_full(md_obj *self)
{
    md_semaphore *s = (md_semaphore *)self;
    return (s->bounded && s->value >= s->initial) || s->value == INT64_MAX;
}

void md_sem_give(md_obj *self)
{
    ((md_semaphore *)self)->value++;
    md_sem_grant(self);
}

md_waitq *md_sem_queue(md_obj *self)
{
    return &((md_semaphore *)self)->waiters;
}

void md_sem_grant(md_obj *self)
{
    md_semaphore *s = (md_semaphore *)self;
    md_waiter *w;
    /* State first, reply last: delivering may run more of the server. */
    while (s->value > 0 && (w = md_waitq_first(&s->waiters))) {
        s->value--;
        md_val *reply = w->val ? w->val : md_true();
        w->val = NULL;
        md_waiter_return(w, reply);
    }
}

static void sem_finalize(md_obj *self)
{
    md_waitq_drop_all(&((md_semaphore *)self)->waiters);
}

int md_sem_repr(md_obj *self, md_buf *out)
{
    md_semaphore *s = (md_semaphore *)self;
    char ident[24];
    md_obj_ident(self, ident);
    if (s->bounded)
        return md_buf_printf(out, "<threading.BoundedSemaphore at 0x%s: value=%" PRId64 "/%" PRId64 ">",
                             ident, s->value, s->initial);
    return md_buf_printf(out, "<threading.Semaphore at 0x%s: value=%" PRId64 ">", ident, s->value);
}

static int sem_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    return md_sem_repr(self, out);
}

static md_val *sem_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)self;
    return md_sync_unpicklable(call, e, "_thread.lock");
}

static const md_method sem_methods[] = {
    {.name = "acquire", .fn = sem_acquire, .params = {"blocking", "timeout", NULL},
     .min_args = 0, .max_args = 2},
    {.name = "release", .fn = sem_release, .params = {"n", NULL}, .min_args = 0, .max_args = 1},
    {.name = NULL},
};

const md_type md_type_semaphore = {
    .name = "Semaphore",
    .size = sizeof(md_semaphore),
    .methods = sem_methods,
    .init = sem_init,
    .ctor_params = {"value", NULL},
    .ctor_min = 0,
    .ctor_max = 1,
    .finalize = sem_finalize,
    .repr = sem_repr,
    .getvalue = sem_getvalue,
};

const md_type md_type_bounded_semaphore = {
    .name = "BoundedSemaphore",
    .size = sizeof(md_semaphore),
    .methods = sem_methods,
    .init = sem_init,
    .ctor_params = {"value", NULL},
    .ctor_min = 0,
    .ctor_max = 1,
    .finalize = sem_finalize,
    .repr = sem_repr,
    .getvalue = sem_getvalue,
};
