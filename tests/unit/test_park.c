/* test_park.c - blocking calls without threads (core/park.c), through the
 * dispatcher: a parked call sends nothing until it is woken, waiters wake
 * in arrival order, a timer completes a timed wait once and only once,
 * a peer that goes away drops its waiter without a reply, and a parked
 * call holds its object. A small "probe" type parks on its own queue so
 * that each step can be seen; Queue shows the same through a real type. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <string.h>

#include <event2/event.h>

#include "core/base/alloc.h"
#include "core/disp/disp.h"
#include "core/server_impl.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

/* Long enough for a 50 ms timer on a loaded machine, short for the run. */
#define SHORT_TIMEOUT 0.05
#define LOOP_SECONDS 0.5

typedef struct probe {
    md_obj base;
    md_waitq q, other;
    int timeouts, cancels;
} probe;

static void probe_timed_out(md_waiter *w)
{
    ((probe *)w->self)->timeouts++;
    md_waiter_return(w, md_str_from_cstr("timed out"));
}

static void probe_cancelled(md_waiter *w)
{
    ((probe *)w->self)->cancels++;
}

/* wait(timeout=None): parks until wake() or the timeout. */
static int probe_wait(md_call *call)
{
    probe *p = (probe *)call->self;
    double timeout;
    if (md_arg_timeout(call, 0, &timeout) < 0)
        return MD_CALL_DONE;
    int rc = md_park(call, &p->q, timeout, probe_timed_out, NULL);
    if (rc == MD_CALL_PARKED)
        md_waitq_last(&p->q)->on_cancel = probe_cancelled;
    return rc;
}

/* wake(): the oldest waiter gets 42; True if there was one. */
static int probe_wake(md_call *call)
{
    md_waiter *w = md_waitq_first(&((probe *)call->self)->q);
    if (w)
        md_waiter_return(w, md_int_from_i64(42));
    return md_return_bool(call, w != NULL);
}

/* fail(): the oldest waiter's error could not be made (out of memory). */
static int probe_fail(md_call *call)
{
    md_waiter *w = md_waitq_first(&((probe *)call->self)->q);
    if (w)
        md_waiter_raise(w, NULL);
    return md_return_bool(call, w != NULL);
}

static void probe_finalize(md_obj *self)
{
    md_waitq_drop_all(&((probe *)self)->q);
    md_waitq_drop_all(&((probe *)self)->other);
}

static const md_method probe_methods[] = {
    {.name = "wait", .fn = probe_wait, .params = {"timeout", NULL}, .min_args = 0, .max_args = 1},
    {.name = "wake", .fn = probe_wake, .params = {NULL}, .min_args = 0, .max_args = 0},
    {.name = "fail", .fn = probe_fail, .params = {NULL}, .min_args = 0, .max_args = 0},
    {NULL},
};
static const md_type probe_type = {
    .name = "probe",
    .size = sizeof(probe),
    .methods = probe_methods,
    .finalize = probe_finalize,
};

/* A registered probe with one client reference; its ident into id. */
static probe *probe_new(md_th *th, char *id)
{
    probe *p = (probe *)md_obj_new(&probe_type);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(md_objtab_insert(md_th_server(th), &p->base), 0);
    p->base.refcount = 1;
    md_obj_ident(&p->base, id);
    return p;
}

/* A harness, three peers and one probe, for each test. */
typedef struct fixture {
    md_th *th;
    md_peer *a, *b, *waker;
    probe *p;
    char id[32];
} fixture;

static void fixture_init(fixture *f)
{
    f->th = md_th_new();
    f->a = md_th_peer(f->th, 4);
    f->b = md_th_peer(f->th, 4);
    f->waker = md_th_peer(f->th, 4);
    f->p = probe_new(f->th, f->id);
}

/* The next reply of peer: its kind, and its repr must be expect. */
static int reply_is(md_th *th, md_peer *peer, const char *expect)
{
    md_val *out = NULL;
    int kind = md_th_take(th, peer, &out);
    if (expect && !md_ts_repr_is(out, expect))
        kind = -1;
    md_decref(out);
    return kind;
}

static void test_park_sends_nothing_until_woken_in_arrival_order(void)
{
    fixture f;
    fixture_init(&f);
    md_th *th = f.th;
    md_peer *a = f.a, *b = f.b, *waker = f.waker;
    const char *id = f.id;
    probe *p = f.p;
    md_th_call(th, a, id, "wait", NULL, NULL);
    md_th_call(th, b, id, "wait", NULL, NULL);
    CU_ASSERT_EQUAL(reply_is(th, a, NULL), MD_OUT_NONE);
    CU_ASSERT_EQUAL(reply_is(th, b, NULL), MD_OUT_NONE);
    CU_ASSERT_EQUAL(p->q.len, 2);
    CU_ASSERT_PTR_EQUAL(a->parked, md_waitq_first(&p->q));
    CU_ASSERT_PTR_EQUAL(b->parked, md_waitq_last(&p->q));
    CU_ASSERT_EQUAL(p->base.holds, 2);            /* each waiter holds the object */
    md_th_call(th, waker, id, "wake", NULL, NULL);
    CU_ASSERT_EQUAL(reply_is(th, a, "42"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(reply_is(th, b, NULL), MD_OUT_NONE);
    CU_ASSERT_PTR_NULL(a->parked);
    md_th_call(th, waker, id, "wake", NULL, NULL);
    CU_ASSERT_EQUAL(reply_is(th, b, "42"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(reply_is(th, waker, "True"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(reply_is(th, waker, "True"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(p->q.len, 0);
    CU_ASSERT_EQUAL(p->base.holds, 0);
    md_th_free(th);
}

static void test_park_timer_completes_a_timed_wait_once(void)
{
    fixture f;
    fixture_init(&f);
    md_th *th = f.th;
    md_peer *a = f.a, *b = f.b, *waker = f.waker;
    const char *id = f.id;
    probe *p = f.p;
    md_val *args = md_th_tuple(1, md_th_float(SHORT_TIMEOUT));
    md_th_call(th, a, id, "wait", args, NULL);
    CU_ASSERT_EQUAL(reply_is(th, a, NULL), MD_OUT_NONE);
    CU_ASSERT(a->req_started > 0);                /* still being timed */
    md_th_run(th, LOOP_SECONDS);
    CU_ASSERT_EQUAL(reply_is(th, a, "'timed out'"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(p->timeouts, 1);
    /* the request counters heard of the late reply (md_server.on_reply) */
    CU_ASSERT_EQUAL(a->req_started, 0);
    CU_ASSERT_PTR_NULL(a->parked);
    /* woken before its deadline: the value, and the timer never fires */
    md_th_call(th, b, id, "wait", args, NULL);
    md_th_call(th, waker, id, "wake", NULL, NULL);
    CU_ASSERT_EQUAL(reply_is(th, b, "42"), MD_OUT_RETURN);
    md_th_run(th, LOOP_SECONDS);
    CU_ASSERT_EQUAL(reply_is(th, b, NULL), MD_OUT_NONE);
    CU_ASSERT_EQUAL(p->timeouts, 1);
    CU_ASSERT_EQUAL(p->base.holds, 0);
    md_decref(args);
    md_th_free(th);
}

static void test_park_peer_gone_drops_its_waiter_without_reply(void)
{
    fixture f;
    fixture_init(&f);
    md_th *th = f.th;
    md_peer *a = f.a, *b = f.b, *waker = f.waker;
    const char *id = f.id;
    probe *p = f.p;
    md_th_call(th, a, id, "wait", NULL, NULL);
    md_th_call(th, b, id, "wait", NULL, NULL);
    md_th_close_peer(th, a);
    CU_ASSERT_EQUAL(p->cancels, 1);
    CU_ASSERT_EQUAL(p->q.len, 1);
    CU_ASSERT_EQUAL(p->base.holds, 1);
    CU_ASSERT_EQUAL(reply_is(th, a, NULL), MD_OUT_NONE);
    /* the next wake goes to the waiter still there */
    md_th_call(th, waker, id, "wake", NULL, NULL);
    CU_ASSERT_EQUAL(reply_is(th, b, "42"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(reply_is(th, a, NULL), MD_OUT_NONE);
    md_th_free(th);
}

static void test_park_drop_all_and_move_keep_queues_consistent(void)
{
    fixture f;
    fixture_init(&f);
    md_th *th = f.th;
    md_peer *a = f.a, *b = f.b;
    probe *p = f.p;
    const char *id = f.id;
    md_th_call(th, a, id, "wait", NULL, NULL);
    md_th_call(th, b, id, "wait", NULL, NULL);
    md_waiter *wa = md_waitq_first(&p->q);
    md_waiter_move(wa, &p->other);
    CU_ASSERT_EQUAL(p->q.len, 1);
    CU_ASSERT_EQUAL(p->other.len, 1);
    CU_ASSERT_PTR_EQUAL(md_waitq_first(&p->q), b->parked);
    CU_ASSERT_PTR_EQUAL(md_waitq_first(&p->other), a->parked);
    md_waitq_drop_all(&p->q);
    md_waitq_drop_all(&p->other);
    CU_ASSERT_EQUAL(p->cancels, 2);
    CU_ASSERT_PTR_NULL(a->parked);
    CU_ASSERT_PTR_NULL(b->parked);
    CU_ASSERT_EQUAL(p->base.holds, 0);
    CU_ASSERT_EQUAL(reply_is(th, a, NULL), MD_OUT_NONE);
    CU_ASSERT_EQUAL(reply_is(th, b, NULL), MD_OUT_NONE);
    md_th_free(th);
}

static void test_park_error_that_cannot_be_made_is_memory_error(void)
{
    fixture f;
    fixture_init(&f);
    md_th_call(f.th, f.a, f.id, "wait", NULL, NULL);
    md_th_call(f.th, f.waker, f.id, "fail", NULL, NULL);
    md_val *out = NULL;
    CU_ASSERT_EQUAL(md_th_take(f.th, f.a, &out), MD_OUT_TRACEBACK);
    CU_ASSERT_STRING_EQUAL(md_typeof(out) == MD_T_STR ? md_str_data(out) : "",
                           "Traceback (most recent call last):\n"
                           "  File \"managerd\", in serve\nMemoryError\n");
    md_decref(out);
    md_th_free(f.th);
}

/* Issue 8, point 20, as the attack: memory runs out while a timed wait
 * parks (the timer's event, or the timer heap inside libevent's
 * evtimer_add). A timed wait must then fail at once with MemoryError;
 * before the check it parked with no timer and never answered. Every
 * allocation of the call, libevent's included, fails in turn; the peer
 * records its reply without allocating (md_th_rec_peer). */
static void test_park_timed_wait_without_memory_fails_at_once(void)
{
    unsigned parked = 0, refused = 0;
    bool completed = false;
    for (long n = 0; n < 1000 && !completed; n++) {
        fixture f;
        fixture_init(&f);
        md_th_rec_peer r;
        md_th_rec_peer_init(&r, md_th_server(f.th));
        r.base.protocol = 4;
        md_val *req = md_th_tuple(4, md_str_from_cstr(f.id), md_str_from_cstr("wait"),
                                  md_th_tuple(1, md_th_float(0.01)), md_dict_new());
        event_set_mem_functions(md_malloc, md_realloc, md_free);
        unsigned long before = md_alloc_failures();
        md_alloc_fail_after(n);
        md_disp_request(md_th_server(f.th), &r.base, req, true);
        md_alloc_fail_after(-1);
        event_set_mem_functions(NULL, NULL, NULL);
        completed = md_alloc_failures() == before;
        if (r.nreplies == 0) {
            /* parked: its timer must answer */
            parked++;
            CU_ASSERT_PTR_NOT_NULL(r.base.parked);
            md_th_run(f.th, LOOP_SECONDS);
            CU_ASSERT_EQUAL(r.nreplies, 1);
            CU_ASSERT(r.nreplies == 1 && r.kind == MD_OUT_RETURN &&
                      md_ts_repr_is(r.payload, "'timed out'"));
        } else {
            refused++;
            CU_ASSERT_EQUAL(r.nreplies, 1);
            CU_ASSERT(r.kind == MD_OUT_ERROR || r.kind == MD_OUT_TRACEBACK);
        }
        CU_ASSERT_PTR_NULL(r.base.parked);
        CU_ASSERT_EQUAL(f.p->q.len, 0);
        md_decref(r.payload);
        md_peer_close(&r.base);
        md_decref(req);
        md_th_free(f.th);
    }
    CU_ASSERT(completed);     /* the sweep reached a run with no failure */
    CU_ASSERT(refused > 0);   /* some allocation of the wait did fail */
    CU_ASSERT(parked > 0);
}

/* The same through a real type: Queue.get parks, put wakes it, a timed
 * get ends in queue.Empty, a vanished getter takes nothing. */
static void test_park_queue_get_put_timeout_and_gone(void)
{
    md_th *th = md_th_new();
    md_peer *a = md_th_peer(th, 4), *b = md_th_peer(th, 4), *prod = md_th_peer(th, 4);
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "Queue", NULL, NULL, id), MD_OUT_RETURN);
    md_th_call(th, a, id, "get", NULL, NULL);
    CU_ASSERT_EQUAL(reply_is(th, a, NULL), MD_OUT_NONE);
    md_val *item = md_th_tuple(1, md_th_str("x"));
    md_th_call(th, prod, id, "put", item, NULL);
    CU_ASSERT_EQUAL(reply_is(th, a, "'x'"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(reply_is(th, prod, "None"), MD_OUT_RETURN);
    md_val *timed = md_th_tuple(2, md_bool(true), md_th_float(SHORT_TIMEOUT));
    md_th_call(th, b, id, "get", timed, NULL);
    md_th_run(th, LOOP_SECONDS);
    md_val *out = NULL;
    CU_ASSERT_EQUAL(md_th_take(th, b, &out), MD_OUT_ERROR);
    CU_ASSERT(md_typeof(out) == MD_T_EXC &&
              strcmp(md_global_name(md_exc_class(out)), "Empty") == 0);
    md_decref(out);
    md_th_call(th, a, id, "get", NULL, NULL);
    md_th_close_peer(th, a);
    md_th_call(th, prod, id, "put", item, NULL);
    CU_ASSERT_EQUAL(reply_is(th, prod, "None"), MD_OUT_RETURN);
    CU_ASSERT_EQUAL(md_th_call_take(th, prod, id, "qsize", NULL, NULL, &out), MD_OUT_RETURN);
    CU_ASSERT(md_ts_repr_is(out, "1"));
    md_decref(out);
    CU_ASSERT_EQUAL(md_server_find(md_th_server(th), id)->holds, 0);
    md_decref(timed);
    md_decref(item);
    md_th_free(th);
}

void md_test_register_park(void)
{
    CU_pSuite s = md_test_suite("park");
    MD_ADD_TEST(s, test_park_sends_nothing_until_woken_in_arrival_order);
    MD_ADD_TEST(s, test_park_timer_completes_a_timed_wait_once);
    MD_ADD_TEST(s, test_park_peer_gone_drops_its_waiter_without_reply);
    MD_ADD_TEST(s, test_park_drop_all_and_move_keep_queues_consistent);
    MD_ADD_TEST(s, test_park_error_that_cannot_be_made_is_memory_error);
    MD_ADD_TEST(s, test_park_queue_get_put_timeout_and_gone);
    MD_ADD_TEST(s, test_park_timed_wait_without_memory_fails_at_once);
}
