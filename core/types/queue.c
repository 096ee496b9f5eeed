/* queue.c - the shared types Queue and JoinableQueue, both queue.Queue
 * (the same class on CPython's server): a FIFO with an optional maxsize,
 * blocking get/put parked on the object, task_done/join, and 3.13's
 * shutdown.
 *
 * Fairness: a put that finds getters parked hands its item to the oldest
 * getter directly, and a get that frees a slot admits the oldest parked
 * putter, so blocked calls complete in arrival order and a newcomer never
 * overtakes them. Hence getters are parked only while the queue is empty
 * and putters only while it is full.
 */

#include <string.h>

#include "core/base/alloc.h"
#include "core/types/sync_util.h"

typedef struct md_queue {
    md_obj base;
    int64_t maxsize;               /* <= 0: unbounded */
    md_val **items;                /* ring buffer, owned references */
    size_t head, len, cap;
    int64_t unfinished;            /* items put and not yet task_done() */
    bool shut_down;
    md_waitq getters, putters, joiners;
} md_queue;

/* How Python's queue.Queue fails on a timeout that is not a number. */
#define QUEUE_TIMEOUT_TYPE "'<' not supported between instances of '%s' and 'int'"
#define QUEUE_TIMEOUT_NEGATIVE "'timeout' must be a non-negative number"

/* ====================================================================== */
/* The ring buffer                                                         */
/* ====================================================================== */

static bool queue_full(const md_queue *q)
{
    return q->maxsize > 0 && (int64_t)q->len >= q->maxsize;
}

/* Steals item, even on failure. 0, or -1 out of memory. */
static int ring_push(md_queue *q, md_val *item)
{
    if (q->len == q->cap) {
        size_t had = q->cap;
        if (md_grow(&q->items, &q->cap, q->len + 1, sizeof *q->items) < 0) {
            md_decref(item);
            return -1;
        }
        /* The full ring wrapped at the old end: the items before head
         * (the newest) move to just after it, so the ring reads on in
         * order from head (the capacity at least doubled: they fit). */
        memcpy(q->items + had, q->items, q->head * sizeof *q->items);
    }
    q->items[(q->head + q->len) % q->cap] = item;
    q->len++;
    return 0;
}

/* The oldest item (a reference the caller now owns). len > 0. */
static md_val *ring_pop(md_queue *q)
{
    md_val *item = q->items[q->head];
    q->items[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return item;
}

/* ====================================================================== */
/* Waking parked calls                                                     */
/* ====================================================================== */

static void wake_joiners(md_queue *q)
{
    md_waiter *w;
    while (q->unfinished == 0 && (w = md_waitq_first(&q->joiners)))
        md_waiter_return(w, md_none());
}

/* A slot is free: the oldest parked putter's item goes in. Its own
 * capacity was freed by the get that called us, so this cannot fail. */
static void admit_putter(md_queue *q)
{
    md_waiter *w;
    while (!queue_full(q) && !q->shut_down && (w = md_waitq_first(&q->putters))) {
        md_val *item = w->val;
        w->val = NULL;
        if (ring_push(q, item) < 0) {
            md_waiter_raise_new(w, "builtins", "MemoryError", NULL);
            continue;
        }
        q->unfinished++;
        md_waiter_return(w, md_none());
    }
}

static void getter_timed_out(md_waiter *w)
{
    md_waiter_raise_new(w, "_queue", "Empty", NULL);
}

static void putter_timed_out(md_waiter *w)
{
    md_waiter_raise_new(w, "queue", "Full", NULL);
}

/* ====================================================================== */
/* Methods                                                                 */
/* ====================================================================== */

static int queue_init(md_call *call)
{
    md_queue *q = (md_queue *)call->self;
    /* None is accepted as "no limit"; Python only fails on it later. */
    if (call->argv[0] && md_typeof(call->argv[0]) == MD_T_NONE)
        return MD_CALL_DONE;
    md_arg_index(call, 0, 0, &q->maxsize);
    return MD_CALL_DONE;
}

/* put(item, block, timeout), shared with put_nowait. */
static int do_put(md_call *call, bool block, bool given, double timeout)
{
    md_queue *q = (md_queue *)call->self;
    md_val *item = call->argv[0];
    if (q->shut_down)
        return md_raise_noargs(call, "queue", "ShutDown");
    if (q->maxsize > 0) {
        if (block && given && timeout < 0)
            return md_raise(call, "builtins", "ValueError", QUEUE_TIMEOUT_NEGATIVE);
        if (queue_full(q)) {
            if (!block || (given && timeout <= 0))
                return md_raise_noargs(call, "queue", "Full");
            return md_park(call, &q->putters, given ? timeout : -1, putter_timed_out,
                           md_incref(item));
        }
    }
    md_waiter *getter = md_waitq_first(&q->getters);
    if (getter) {
        q->unfinished++;
        md_waiter_return(getter, md_incref(item));
    } else {
        if (ring_push(q, md_incref(item)) < 0)
            return md_raise_noargs(call, "builtins", "MemoryError");
        q->unfinished++;
    }
    return md_return_none(call);
}

static int queue_put(md_call *call)
{
    bool block, given = false;
    double timeout = -1;
    if (md_arg_bool(call, 1, true, &block) < 0)
        return MD_CALL_DONE;
    /* Python looks at the timeout only for a bounded, blocking put. */
    md_queue *q = (md_queue *)call->self;
    if (block && q->maxsize > 0 &&
        md_sync_arg_timeout(call, 2, QUEUE_TIMEOUT_TYPE, &given, &timeout) < 0)
        return MD_CALL_DONE;
    return do_put(call, block, given, timeout);
}

static int queue_put_nowait(md_call *call)
{
    return do_put(call, false, false, -1);
}

static int do_get(md_call *call, bool block, bool given, double timeout)
{
    md_queue *q = (md_queue *)call->self;
    if (q->shut_down && q->len == 0)
        return md_raise_noargs(call, "queue", "ShutDown");
    if (block && given && timeout < 0)
        return md_raise(call, "builtins", "ValueError", QUEUE_TIMEOUT_NEGATIVE);
    if (q->len > 0) {
        md_val *item = ring_pop(q);
        admit_putter(q);
        return md_return(call, item);
    }
    if (!block || (given && timeout <= 0))
        return md_raise_noargs(call, "_queue", "Empty");
    return md_park(call, &q->getters, given ? timeout : -1, getter_timed_out, NULL);
}

static int queue_get(md_call *call)
{
    bool block, given = false;
    double timeout = -1;
    if (md_arg_bool(call, 0, true, &block) < 0)
        return MD_CALL_DONE;
    if (block && md_sync_arg_timeout(call, 1, QUEUE_TIMEOUT_TYPE, &given, &timeout) < 0)
        return MD_CALL_DONE;
    return do_get(call, block, given, timeout);
}

static int queue_get_nowait(md_call *call)
{
    return do_get(call, false, false, -1);
}

static int queue_qsize(md_call *call)
{
    return md_return_int(call, (int64_t)((md_queue *)call->self)->len);
}

static int queue_empty(md_call *call)
{
    return md_return_bool(call, ((md_queue *)call->self)->len == 0);
}

static int queue_full_m(md_call *call)
{
    return md_return_bool(call, queue_full((md_queue *)call->self));
}

static int queue_task_done(md_call *call)
{
    md_queue *q = (md_queue *)call->self;
    if (q->unfinished <= 0)
        return md_raise(call, "builtins", "ValueError", "task_done() called too many times");
    q->unfinished--;
    wake_joiners(q);
    return md_return_none(call);
}

static int queue_join(md_call *call)
{
    md_queue *q = (md_queue *)call->self;
    if (q->unfinished == 0)
        return md_return_none(call);
    return md_park(call, &q->joiners, -1, NULL, NULL);
}

/* 3.13: afterwards put raises ShutDown, get raises it once the queue is
 * empty; immediate=True also drops the items (counting them as done).
 * Every parked getter (the queue is empty) and putter gets ShutDown. */
static int queue_shutdown(md_call *call)
{
    md_queue *q = (md_queue *)call->self;
    bool immediate;
    if (md_arg_bool(call, 0, false, &immediate) < 0)
        return MD_CALL_DONE;
    q->shut_down = true;
    if (immediate) {
        while (q->len > 0) {
            md_decref(ring_pop(q));
            if (q->unfinished > 0)
                q->unfinished--;
        }
        wake_joiners(q);
    }
    md_waiter *w;
    while ((w = md_waitq_first(&q->getters)))
        md_waiter_raise_new(w, "queue", "ShutDown", NULL);
    while ((w = md_waitq_first(&q->putters)))
        md_waiter_raise_new(w, "queue", "ShutDown", NULL);
    return md_return_none(call);
}

/* ====================================================================== */
/* The type                                                                */
/* ====================================================================== */

static void queue_finalize(md_obj *self)
{
    md_queue *q = (md_queue *)self;
    md_waitq_drop_all(&q->getters);
    md_waitq_drop_all(&q->putters);
    md_waitq_drop_all(&q->joiners);
    while (q->len > 0)
        md_decref(ring_pop(q));
    md_free(q->items);
    q->items = NULL;
    q->cap = 0;
}

static int queue_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    (void)e;
    char ident[24];
    md_obj_ident(self, ident);
    return md_buf_printf(out, "<queue.Queue object at 0x%s>", ident);
}

static md_val *queue_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    (void)self;
    return md_sync_unpicklable(call, e, "_thread.lock");
}

/* The rows' order is the exposed tuple's, CPython's (sorted public names
 * of queue.Queue); shutdown is 3.13's, listed for every client since
 * AutoProxy only adds a method. */
static const md_method queue_methods[] = {
    {.name = "empty", .fn = queue_empty, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "full", .fn = queue_full_m, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "get", .fn = queue_get, .params = {"block", "timeout", NULL},
     .min_args = 0, .max_args = 2},
    {.name = "get_nowait", .fn = queue_get_nowait, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "join", .fn = queue_join, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "put", .fn = queue_put, .params = {"item", "block", "timeout", NULL},
     .min_args = 1, .max_args = 3},
    {.name = "put_nowait", .fn = queue_put_nowait, .params = {"item", NULL},
     .min_args = 1, .max_args = 1},
    {.name = "qsize", .fn = queue_qsize, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "shutdown", .fn = queue_shutdown, .params = {"immediate", NULL},
     .min_args = 0, .max_args = 1},
    {.name = "task_done", .fn = queue_task_done, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = NULL},
};

const md_type md_type_queue = {
    .name = "Queue",
    .size = sizeof(md_queue),
    .methods = queue_methods,
    .init = queue_init,
    .ctor_params = {"maxsize", NULL},
    .ctor_min = 0,
    .ctor_max = 1,
    .finalize = queue_finalize,
    .repr = queue_repr,
    .getvalue = queue_getvalue,
};

const md_type md_type_joinable_queue = {
    .name = "JoinableQueue",
    .size = sizeof(md_queue),
    .methods = queue_methods,
    .init = queue_init,
    .ctor_params = {"maxsize", NULL},
    .ctor_min = 0,
    .ctor_max = 1,
    .finalize = queue_finalize,
    .repr = queue_repr,
    .getvalue = queue_getvalue,
};
