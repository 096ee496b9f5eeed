/* barrier.c - the shared type Barrier (threading.Barrier): wait() parks
 * until `parties` calls have arrived, then each returns its arrival index
 * (the first 0). A timeout, abort() or reset() while parties wait breaks
 * the barrier for all of them (BrokenBarrierError); reset() makes it
 * usable again.
 *
 * CPython's barrier has "draining" and "resetting" states while woken
 * threads leave; here every waiter completes at once, so only two states
 * remain: filling and broken.
 *
 * A client that disconnects while waiting leaves the barrier: its arrival
 * is taken back and the others keep their places (renumbered so indices
 * stay 0..n-1). In CPython its server thread would stay and count as a
 * party; managerd drops the calls of a closed connection instead.
 */
#include "core/types/containers_util.h"
#include "core/types/sync_util.h"

typedef struct md_barrier {
    md_obj base;
    int64_t parties;
    bool has_timeout;              /* the constructor's default timeout */
    double timeout;
    bool broken;
    md_waitq waiters;              /* w->i64: arrival index */
} md_barrier;

/* How threading.Barrier fails on a timeout that is not a number
 * (time() + timeout). */
#define BARRIER_TIMEOUT_TYPE "unsupported operand type(s) for +: 'float' and '%s'"

static int barrier_init(md_call *call)
{
    md_barrier *b = (md_barrier *)call->self;
    if (md_arg_index(call, 0, 0, &b->parties) < 0)
        return MD_CALL_DONE;
    if (b->parties < 1)
        return md_raise(call, "builtins", "ValueError", "parties must be > 0");
    md_val *action = call->argv[1];
    if (action && md_typeof(action) != MD_T_NONE)
        return md_raise(call, "builtins", "ValueError",
                        "managerd never runs client code, so a Barrier action must be "
                        "None: run it in the client when wait() returns 0");
    md_sync_arg_timeout(call, 2, BARRIER_TIMEOUT_TYPE, &b->has_timeout, &b->timeout);
    return MD_CALL_DONE;
}

/* Every waiter gets BrokenBarrierError; broken says what state is left. */
static void fail_waiters(md_barrier *b, bool broken)
{
    b->broken = broken;
    md_waiter *w;
    for (size_t n = b->waiters.len; n > 0 && (w = md_waitq_first(&b->waiters)); n--)
        md_waiter_raise_new(w, "threading", "BrokenBarrierError", NULL);
}

static void barrier_timed_out(md_waiter *w)
{
    fail_waiters((md_barrier *)w->self, true);
}

/* A waiter's client went away: take its arrival back. */
static void barrier_cancelled(md_waiter *w)
{
    md_barrier *b = (md_barrier *)w->self;
    int64_t index = 0;
    for (md_waiter *x = md_waitq_first(&b->waiters); x; x = x->next)
        if (x != w)
            x->i64 = index++;
}

static int barrier_wait(md_call *call)
{
    md_barrier *b = (md_barrier *)call->self;
    bool given;
    double timeout;
    if (md_sync_arg_timeout(call, 0, BARRIER_TIMEOUT_TYPE, &given, &timeout) < 0)
        return MD_CALL_DONE;
    if (!given) {
        given = b->has_timeout;
        timeout = b->timeout;
    }
    if (b->broken)
        return md_raise_noargs(call, "threading", "BrokenBarrierError");
    int64_t index = (int64_t)b->waiters.len;
    if (index + 1 == b->parties) {
        /* The last arrival releases everyone, in arrival order. */
        md_waiter *w;
        for (size_t n = b->waiters.len; n > 0 && (w = md_waitq_first(&b->waiters)); n--)
            md_waiter_return(w, md_int_from_i64(w->i64));
        return md_return_int(call, index);
    }
    /* wait_for gives up at once when the time left is <= 0, and a
     * timeout breaks the barrier for everyone. */
    if (given && timeout <= 0) {
        fail_waiters(b, true);
        return md_raise_noargs(call, "threading", "BrokenBarrierError");
    }
    int rc = md_park(call, &b->waiters, given ? timeout : -1, barrier_timed_out, NULL);
    if (rc != MD_CALL_PARKED)
        return rc;
    md_waiter *w = md_waitq_last(&b->waiters);
    w->i64 = index;
    w->on_cancel = barrier_cancelled;
    return MD_CALL_PARKED;
}

static int barrier_abort(md_call *call)
{
    fail_waiters((md_barrier *)call->self, true);
    return md_return_none(call);
}

static int barrier_reset(md_call *call)
{
    /* Waiters present are broken out; the barrier is usable again. */
    fail_waiters((md_barrier *)call->self, false);
    ((md_barrier *)call->self)->broken = false;
    return md_return_none(call);
}

/* An AttributeError as Python words it; 3.x pickles carry the name in a
 * state dict, which Python 2 has no use for. */
static int no_attribute(md_call *call, md_val *name)
{
    md_buf b = MD_BUF_INIT;
    md_buf_printf(&b, "'Barrier' object has no attribute '%s'", md_str_data(name));
    md_val *msg = md_buf_failed(&b) ? NULL : md_str_new((const char *)b.data, b.len);
    md_buf_free(&b);
    if (!msg)
        return md_raise_noargs(call, "builtins", "MemoryError");
    int rc = md_cu_raise_attribute_error(call, name, msg, call->protocol != 2);
    md_decref(msg);
    return rc;
}

/* The BarrierProxy's properties ask for parties, n_waiting and broken;
 * CPython answers any attribute (§7 item 22). managerd answers those and
 * the private fields they are made of, and AttributeError otherwise. */
static int barrier_getattribute(md_call *call)
{
    md_barrier *b = (md_barrier *)call->self;
    md_val *name = call->argv[0];
    if (md_typeof(name) != MD_T_STR)
        return md_raise(call, "builtins", "TypeError", "attribute name must be string, not '%s'",
                        md_type_name(name));
    size_t n_waiting = b->broken ? 0 : b->waiters.len;
    if (md_str_eq_cstr(name, "parties") || md_str_eq_cstr(name, "_parties"))
        return md_return_int(call, b->parties);
    if (md_str_eq_cstr(name, "n_waiting"))
        return md_return_int(call, (int64_t)n_waiting);
    if (md_str_eq_cstr(name, "_count"))
        return md_return_int(call, (int64_t)b->waiters.len);
    if (md_str_eq_cstr(name, "broken"))
        return md_return_bool(call, b->broken);
    if (md_str_eq_cstr(name, "_state"))
        return md_return_int(call, b->broken ? -2 : 0);
    if (md_str_eq_cstr(name, "_timeout"))
        return b->has_timeout ? md_return(call, md_float_new(b->timeout)) : md_return_none(call);
    return no_attribute(call, name);
}

static void barrier_finalize(md_obj *self)
{
    md_waitq_drop_all(&((md_barrier *)self)->waiters);
}

static int barrier_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    md_barrier *b = (md_barrier *)self;
    char ident[24];
    md_obj_ident(self, ident);
    if (b->broken)
        return md_buf_printf(out, "<threading.Barrier at 0x%s: broken>", ident);
    return md_buf_printf(out, "<threading.Barrier at 0x%s: waiters=%zu/%lld>", ident,
                         b->waiters.len, (long long)b->parties);
}

static md_val *barrier_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)self;
    return md_sync_unpicklable(call, e, "_thread.lock");
}

static const md_method barrier_methods[] = {
    {.name = "__getattribute__", .fn = barrier_getattribute, .params = {"name", NULL},
     .min_args = 1, .max_args = 1},
    {.name = "wait", .fn = barrier_wait, .params = {"timeout", NULL}, .min_args = 0, .max_args = 1},
    {.name = "abort", .fn = barrier_abort, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "reset", .fn = barrier_reset, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = NULL},
};

const md_type md_type_barrier = {
    .name = "Barrier",
    .size = sizeof(md_barrier),
    .methods = barrier_methods,
    .init = barrier_init,
    .ctor_params = {"parties", "action", "timeout", NULL},
    .ctor_min = 1,
    .ctor_max = 3,
    .finalize = barrier_finalize,
    .repr = barrier_repr,
    .getvalue = barrier_getvalue,
};
