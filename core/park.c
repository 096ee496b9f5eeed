/* park.c - blocking calls without threads.
 *
 * A call that cannot complete yet becomes a waiter on one of its object's
 * wait queues, with an optional libevent timer. Whatever changes the
 * object's state completes waiters in arrival order; the timer completes
 * it with the timeout result; a peer that goes away cancels its waiter
 * without a reply. A waiter holds its object so the object outlives it.
 */
#include "core/server_impl.h"

#include <event2/event.h>
#include <math.h>
#include <time.h>

#include "core/base/alloc.h"
#include "core/base/error.h"

double md_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void waitq_unlink(md_waiter *w)
{
    md_waitq *q = w->queue;
    if (!q)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    q->len--;
    w->prev = w->next = NULL;
    w->queue = NULL;
}

static void waitq_push(md_waitq *q, md_waiter *w)
{
    w->queue = q;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->len++;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    md_waiter *w = arg;
    w->deadline = -1;
    w->on_timeout(w);
}

/* Unlink and free; the peer no longer has a parked call. */
static void waiter_free(md_waiter *w)
{
    waitq_unlink(w);
    if (w->timer)
        event_free(w->timer);
    if (w->peer && w->peer->parked == w)
        w->peer->parked = NULL;
    md_decref(w->val);
    md_obj *self = w->self;
    md_free(w);
    if (self)
        md_obj_release(self);
}

int md_park(md_call *call, md_waitq *q, double timeout_s, md_waiter_fn on_timeout, md_val *val)
{
    md_waiter *w = md_calloc(1, sizeof *w);
    if (!w) {
        md_decref(val);
        md_raise_noargs(call, "builtins", "MemoryError");
        return MD_CALL_DONE;
    }
    w->self = call->self;
    w->peer = call->peer;
    w->method = call->method;
    w->protocol = call->protocol;
    w->on_timeout = on_timeout;
    w->val = val;
    w->deadline = -1;
    w->since = md_now();
    if (timeout_s >= 0) {
        w->timer = evtimer_new(call->server->base, timer_fired, w);
        if (!w->timer) {
            md_decref(val);
            md_free(w);
            md_raise_noargs(call, "builtins", "MemoryError");
            return MD_CALL_DONE;
        }
        /* Cap absurd timeouts at about 30 years so timeval cannot overflow. */
        double t = timeout_s > 1e9 ? 1e9 : timeout_s;
        struct timeval tv;
        tv.tv_sec = (time_t)t;
        tv.tv_usec = (suseconds_t)((t - floor(t)) * 1e6);
        w->deadline = md_now() + t;
        /* Without its timer a timed wait would last forever: fail the
         * call now instead. */
        if (evtimer_add(w->timer, &tv) < 0) {
            event_free(w->timer);
            md_decref(val);
            md_free(w);
            md_raise_noargs(call, "builtins", "MemoryError");
            return MD_CALL_DONE;
        }
    }
    if (w->self)
        md_obj_hold(w->self);
    if (w->peer)
        w->peer->parked = w;
    waitq_push(q, w);
    return MD_CALL_PARKED;
}

static void complete(md_waiter *w, int kind, md_val *value)
{
    md_peer *peer = w->peer;
    int protocol = w->protocol;
    /* Free first: delivering may run more of the server (a reply can fail
     * and close the peer), and the waiter must be gone by then. */
    w->peer = NULL;
    if (peer && peer->parked == w)
        peer->parked = NULL;
    md_obj *self = w->self;
    if (self)
        md_obj_hold(self);
    waiter_free(w);
    if (peer)
        md_peer_reply(peer, protocol, kind, value);
    else
        md_decref(value);
    if (self)
        md_obj_release(self);
}

void md_waiter_return(md_waiter *w, md_val *value)
{
    if (!value) {
        md_waiter_raise(w, md_exc_make("builtins", "MemoryError", 0));
        return;
    }
    complete(w, MD_OUT_RETURN, value);
}

void md_waiter_raise(md_waiter *w, md_val *exc)
{
    if (!exc) {
        complete(w, MD_OUT_TRACEBACK, md_proto_traceback("MemoryError"));
        return;
    }
    complete(w, MD_OUT_ERROR, exc);
}

void md_waiter_raise_new(md_waiter *w, const char *module, const char *cls, const char *msg)
{
    md_val *exc;
    if (msg) {
        md_val *arg = md_str_from_cstr(msg);
        exc = arg ? md_exc_make(module, cls, 1, arg) : NULL;
        md_decref(arg);
    } else {
        exc = md_exc_make(module, cls, 0);
    }
    md_waiter_raise(w, exc);
}

md_waiter *md_waitq_first(const md_waitq *q)
{
    return q->head;
}

md_waiter *md_waitq_last(const md_waitq *q)
{
    return q->tail;
}

void md_waiter_move(md_waiter *w, md_waitq *to)
{
    waitq_unlink(w);
    waitq_push(to, w);
}

void md_waitq_drop_all(md_waitq *q)
{
    while (q->head)
        md_park_cancel(q->head);
}

/* No reply: the peer is gone or the object is going away. */
void md_park_cancel(md_waiter *w)
{
    if (w->on_cancel)
        w->on_cancel(w);
    waiter_free(w);
}
