/* event.c - the shared type Event (threading.Event): a flag that wait()
 * parks on until set() wakes every waiter with True, or its timeout
 * completes it with False. */
#include "core/types/sync_util.h"

typedef struct md_event {
    md_obj base;
    bool flag;
    md_waitq waiters;              /* empty whenever flag is set */
} md_event;

static int event_is_set(md_call *call)
{
    return md_return_bool(call, ((md_event *)call->self)->flag);
}

static int event_set(md_call *call)
{
    md_event *ev = (md_event *)call->self;
    ev->flag = true;
    /* Every waiter present now was notified, as in Python; re-read the
     * queue each time, since a reply may run more of the server. */
    md_waiter *w;
    for (size_t n = ev->waiters.len; n > 0 && (w = md_waitq_first(&ev->waiters)); n--)
        md_waiter_return(w, md_true());
    return md_return_none(call);
}

static int event_clear(md_call *call)
{
    ((md_event *)call->self)->flag = false;
    return md_return_none(call);
}

static void event_timed_out(md_waiter *w)
{
    md_waiter_return(w, md_false());
}

static int event_wait(md_call *call)
{
    md_event *ev = (md_event *)call->self;
    bool given;
    double timeout;
    if (md_sync_arg_timeout(call, 0, "'>' not supported between instances of '%s' and 'int'",
                            &given, &timeout) < 0)
        return MD_CALL_DONE;
    if (ev->flag)
        return md_return_bool(call, true);
    /* Condition.wait only blocks for a timeout > 0. */
    if (given && timeout <= 0)
        return md_return_bool(call, false);
    return md_park(call, &ev->waiters, given ? timeout : -1, event_timed_out, NULL);
}

static void event_finalize(md_obj *self)
{
    md_waitq_drop_all(&((md_event *)self)->waiters);
}

static int event_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    char ident[24];
    md_obj_ident(self, ident);
    return md_buf_printf(out, "<threading.Event at 0x%s: %s>", ident,
                         ((md_event *)self)->flag ? "set" : "unset");
}

static md_val *event_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)self;
    return md_sync_unpicklable(call, e, "_thread.lock");
}

static const md_method event_methods[] = {
    {.name = "is_set", .fn = event_is_set, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "set", .fn = event_set, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "clear", .fn = event_clear, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "wait", .fn = event_wait, .params = {"timeout", NULL}, .min_args = 0, .max_args = 1},
    {.name = NULL},
};

const md_type md_type_event = {
    .name = "Event",
    .size = sizeof(md_event),
    .methods = event_methods,
    .ctor_params = {NULL},
    .finalize = event_finalize,
    .repr = event_repr,
    .getvalue = event_getvalue,
};
