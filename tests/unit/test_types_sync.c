/* test_types_sync.c - unit tests of the synchronisation shared types
 * (core/types/{queue,event,lock,condition,barrier}.c) driven through the
 * dispatcher with the test harness and several peers: every method and
 * message (checked against CPython 3.13, and 3.12 where it differs),
 * blocking calls completed from another peer, timeouts, FIFO fairness,
 * peers that vanish while parked or while holding a lock, queue
 * shutdown, 1,000 parked waiters, and replays of captured requests.
 *
 * Timeouts are short (0.05 s) and the loop runs well past them: tests
 * assert outcomes, never durations. */
#include "tests/unit/unit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/protocol/protocol.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"


/* Send a call; args and kwargs are stolen (may be NULL). */
static void send(md_fx *f, md_peer *peer, const char *ident, const char *method, md_val *args,
                 md_val *kwargs)
{
    md_th_call(f->th, peer, ident, method, args, kwargs);
    md_decref(args);
    md_decref(kwargs);
}

/* The next reply of peer is #RETURN with a payload whose repr is expect. */
static void got_at(md_fx *f, md_peer *peer, const char *expect, int line)
{
    md_val *p = NULL;
    int kind = md_th_take(f->th, peer, &p);
    if (kind != MD_OUT_RETURN) {
        fprintf(stderr, "\n    line %d: kind %d, wanted #RETURN %s; payload ", line, kind, expect);
        md_ts_repr_is(p, "-");
    }
    CHECK_AT(kind == MD_OUT_RETURN, line);
    if (kind == MD_OUT_RETURN) {
        bool ok = md_ts_repr_is(p, expect);
        if (!ok)
            fprintf(stderr, "    (line %d)\n", line);
        CHECK_AT(ok, line);
    }
    md_decref(p);
}
#define GOT(f, peer, expect) got_at(f, peer, expect, __LINE__)

/* The next reply of peer is #ERROR module.cls with args of repr args
 * (NULL: any args). */
static void got_err_at(md_fx *f, md_peer *peer, const char *module, const char *cls,
                       const char *args, int line)
{
    md_val *p = NULL;
    int kind = md_th_take(f->th, peer, &p);
    bool ok = kind == MD_OUT_ERROR && p && md_typeof(p) == MD_T_EXC &&
              strcmp(md_global_module(md_exc_class(p)), module) == 0 &&
              strcmp(md_global_name(md_exc_class(p)), cls) == 0;
    if (!ok) {
        fprintf(stderr, "\n    line %d: kind %d, wanted #ERROR %s.%s; payload ", line, kind, module,
                cls);
        md_ts_repr_is(p, "-");
        if (p && md_typeof(p) == MD_T_EXC)
            fprintf(stderr, "    class %s.%s\n", md_global_module(md_exc_class(p)),
                    md_global_name(md_exc_class(p)));
    }
    CHECK_AT(ok, line);
    if (ok && args) {
        bool same = md_ts_repr_is(md_exc_args(p), args);
        if (!same)
            fprintf(stderr, "    (line %d)\n", line);
        CHECK_AT(same, line);
    }
    md_decref(p);
}
#define GOT_ERR(f, peer, module, cls, args) got_err_at(f, peer, module, cls, args, __LINE__)

/* The next reply of peer is a #TRACEBACK whose text contains text. */
static void got_tb_at(md_fx *f, md_peer *peer, const char *text, int line)
{
    md_val *p = NULL;
    int kind = md_th_take(f->th, peer, &p);
    bool ok = kind == MD_OUT_TRACEBACK && p && md_typeof(p) == MD_T_STR &&
              strstr(md_str_data(p), text);
    if (!ok) {
        fprintf(stderr, "\n    line %d: kind %d, wanted #TRACEBACK with %s; payload ", line,
                kind, text);
        md_ts_repr_is(p, "-");
    }
    CHECK_AT(ok, line);
    md_decref(p);
}
#define GOT_TB(f, peer, text) got_tb_at(f, peer, text, __LINE__)

/* No reply (yet) for peer. */
static void nothing_at(md_fx *f, md_peer *peer, int line)
{
    md_val *p = NULL;
    int kind = md_th_take(f->th, peer, &p);
    if (kind != MD_OUT_NONE) {
        fprintf(stderr, "\n    line %d: unexpected reply kind %d: ", line, kind);
        md_ts_repr_is(p, "(nothing)");
    }
    CHECK_AT(kind == MD_OUT_NONE, line);
    md_decref(p);
}
#define NOTHING(f, peer) nothing_at(f, peer, __LINE__)

#define RET(f, peer, id, m, args, kw, expect)                                                  \
    do {                                                                                       \
        send(f, peer, id, m, args, kw);                                                        \
        GOT(f, peer, expect);                                                                  \
    } while (0)
#define ERR(f, peer, id, m, args, kw, module, cls, eargs)                                      \
    do {                                                                                       \
        send(f, peer, id, m, args, kw);                                                        \
        GOT_ERR(f, peer, module, cls, eargs);                                                  \
    } while (0)
#define PARKS(f, peer, id, m, args, kw)                                                        \
    do {                                                                                       \
        send(f, peer, id, m, args, kw);                                                        \
        NOTHING(f, peer);                                                                      \
    } while (0)

/* __repr__ (what str(proxy) sends) of ident is exactly fmt with
 * fmt_ident in it (the ident itself, or a Condition's lock's). */
static void repr_at(md_fx *f, const char *ident, const char *fmt, const char *fmt_ident, int line)
{
    char want[300];
    snprintf(want, sizeof want, fmt, fmt_ident);
    md_val *p = NULL;
    send(f, f->p[MD_FX_PEERS - 1], ident, "__repr__", NULL, NULL);
    int kind = md_th_take(f->th, f->p[MD_FX_PEERS - 1], &p);
    CHECK_AT(md_ts_text_is(p, want, line) && kind == MD_OUT_RETURN, line);
    md_decref(p);
}
#define REPR(f, ident, fmt) repr_at(f, ident, fmt, ident, __LINE__)
#define REPR_OF(f, ident, fmt, fmt_ident) repr_at(f, ident, fmt, fmt_ident, __LINE__)

/* __repr__ starts with prefix, ends with suffix_fmt (holding the ident),
 * and has a non-zero owner number in between. */
static void repr_like_at(md_fx *f, const char *ident, const char *prefix, const char *suffix_fmt,
                         const char *fmt_ident, int line)
{
    char suffix[300];
    snprintf(suffix, sizeof suffix, suffix_fmt, fmt_ident);
    md_val *p = NULL;
    send(f, f->p[MD_FX_PEERS - 1], ident, "__repr__", NULL, NULL);
    int kind = md_th_take(f->th, f->p[MD_FX_PEERS - 1], &p);
    const char *r = kind == MD_OUT_RETURN && p && md_typeof(p) == MD_T_STR ? md_str_data(p) : "";
    size_t n = strlen(r), np = strlen(prefix), ns = strlen(suffix);
    bool ok = n > np + ns && strncmp(r, prefix, np) == 0 && strcmp(r + n - ns, suffix) == 0 &&
              r[np] >= '1' && r[np] <= '9';
    for (size_t i = np; ok && i < n - ns; i++)
        ok = r[i] >= '0' && r[i] <= '9';
    if (!ok)
        fprintf(stderr, "\n    line %d: repr %s, wanted %sN%s\n", line, r, prefix, suffix);
    CHECK_AT(ok, line);
    md_decref(p);
}
#define REPR_LIKE(f, ident, prefix, suffix_fmt)                                                \
    repr_like_at(f, ident, prefix, suffix_fmt, ident, __LINE__)
#define REPR_LIKE_OF(f, ident, prefix, suffix_fmt, fmt_ident)                                  \
    repr_like_at(f, ident, prefix, suffix_fmt, fmt_ident, __LINE__)

/* #GETVALUE is #UNSERIALIZABLE with text in the traceback. */
static void unserializable_at(md_fx *f, md_peer *peer, const char *ident, const char *text, int line)
{
    md_val *p = NULL;
    send(f, peer, ident, "#GETVALUE", NULL, NULL);
    int kind = md_th_take(f->th, peer, &p);
    bool ok = kind == MD_OUT_UNSERIALIZABLE && p && md_typeof(p) == MD_T_STR &&
              strstr(md_str_data(p), text);
    if (!ok)
        fprintf(stderr, "\n    line %d: kind %d %s, wanted #UNSERIALIZABLE %s\n", line, kind,
                p && md_typeof(p) == MD_T_STR ? md_str_data(p) : "?", text);
    CHECK_AT(ok, line);
    md_decref(p);
}
#define UNSERIALIZABLE(f, peer, id, text) unserializable_at(f, peer, id, text, __LINE__)

/* The exposed tuple create returns for typeid. */
static void exposed_at(md_fx *f, const char *typeid, md_val *ctor_args, const char *expect, int line)
{
    size_t n = ctor_args ? md_tuple_len(ctor_args) : 0;
    md_val *args = md_tuple_new(n + 1);
    md_tuple_set_steal(args, 0, S(typeid));
    for (size_t i = 0; i < n; i++)
        md_tuple_set_steal(args, i + 1, md_incref(md_tuple_get(ctor_args, i)));
    md_decref(ctor_args);
    int kind = md_th_server_call(f->th, "create", args);
    md_decref(args);
    md_val *p = NULL;
    md_th_take(f->th, NULL, &p);
    CHECK_AT(kind == MD_OUT_RETURN, line);
    bool ok = p && md_typeof(p) == MD_T_TUPLE && md_ts_repr_is(md_tuple_get(p, 1), expect);
    CHECK_AT(ok, line);
    if (p && md_typeof(p) == MD_T_TUPLE)
        drop(f, md_str_data(md_tuple_get(p, 0)));
    md_decref(p);
}
#define EXPOSED(f, typeid, args, expect) exposed_at(f, typeid, args, expect, __LINE__)

static void run(md_fx *f, double seconds)
{
    md_th_run(f->th, seconds);
}

/* Long enough for every 0.05 s timer of a test to have fired. */
#define PAST_TIMEOUTS 0.3

/* ======================================================================
 * Exposed tuples and unpicklable objects
 * ====================================================================== */

static void test_sync_exposed_tuples_match_cpython(void)
{
    md_fx f;
    md_fx_init(&f);
    const char *queue = "('empty', 'full', 'get', 'get_nowait', 'join', 'put', 'put_nowait', "
                        "'qsize', 'shutdown', 'task_done')";
    EXPOSED(&f, "Queue", NULL, queue);
    EXPOSED(&f, "JoinableQueue", NULL, queue);
    EXPOSED(&f, "Event", NULL, "('is_set', 'set', 'clear', 'wait')");
    EXPOSED(&f, "Lock", NULL, "('acquire', 'release')");
    EXPOSED(&f, "RLock", NULL, "('acquire', 'release')");
    EXPOSED(&f, "Semaphore", NULL, "('acquire', 'release')");
    EXPOSED(&f, "BoundedSemaphore", NULL, "('acquire', 'release')");
    EXPOSED(&f, "Condition", NULL, "('acquire', 'release', 'wait', 'notify', 'notify_all')");
    EXPOSED(&f, "Barrier", T(1, I(2)), "('__getattribute__', 'wait', 'abort', 'reset')");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_sync_objects_are_unpicklable(void)
{
    md_fx f;
    md_fx_init(&f);
    static const struct {
        const char *typeid, *text;
    } cases[] = {
        {"Queue", "TypeError: cannot pickle '_thread.lock' object"},
        {"JoinableQueue", "TypeError: cannot pickle '_thread.lock' object"},
        {"Event", "TypeError: cannot pickle '_thread.lock' object"},
        {"Lock", "TypeError: cannot pickle '_thread.lock' object"},
        {"RLock", "TypeError: cannot pickle '_thread.RLock' object"},
        {"Semaphore", "TypeError: cannot pickle '_thread.lock' object"},
        {"BoundedSemaphore", "TypeError: cannot pickle '_thread.lock' object"},
        {"Condition", "TypeError: cannot pickle '_thread.RLock' object"},
    };
    char id[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        MK(&f, cases[i].typeid, NULL, NULL, id);
        UNSERIALIZABLE(&f, f.p[0], id, cases[i].text);
        UNSERIALIZABLE(&f, f.p2, id, "TypeError: can't pickle thread.lock objects");
        drop(&f, id);
    }
    MK(&f, "Barrier", T(1, I(2)), NULL, id);
    UNSERIALIZABLE(&f, f.p[0], id, "TypeError: cannot pickle '_thread.lock' object");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* ======================================================================
 * Queue
 * ====================================================================== */

static void test_queue_put_get_and_counts(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0];
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    REPR(&f, id, "<queue.Queue object at 0x%s>");
    RET(&f, a, id, "empty", NULL, NULL, "True");
    RET(&f, a, id, "full", NULL, NULL, "False");
    RET(&f, a, id, "put", T(1, S("x")), NULL, "None");
    /* q.put(3, timeout=0.2) sends (3,) and {'timeout': 0.2} */
    RET(&f, a, id, "put", T(1, I(3)), D(1, S("timeout"), F(0.2)), "None");
    RET(&f, a, id, "put", T(3, I(4), TRUE_, NONE), NULL, "None");
    RET(&f, a, id, "put", NULL, D(2, S("item"), I(5), S("block"), FALSE_), "None");
    RET(&f, a, id, "put_nowait", T(1, I(6)), NULL, "None");
    RET(&f, a, id, "qsize", NULL, NULL, "5");
    RET(&f, a, id, "empty", NULL, NULL, "False");
    RET(&f, a, id, "full", NULL, NULL, "False");
    RET(&f, a, id, "get", NULL, NULL, "'x'");
    RET(&f, a, id, "get", T(2, TRUE_, F(0.5)), NULL, "3");
    RET(&f, a, id, "get", NULL, D(1, S("block"), FALSE_), "4");
    RET(&f, a, id, "get_nowait", NULL, NULL, "5");
    RET(&f, a, id, "get", T(1, FALSE_), NULL, "6");
    ERR(&f, a, id, "get_nowait", NULL, NULL, "_queue", "Empty", "()");
    ERR(&f, a, id, "get", T(1, FALSE_), NULL, "_queue", "Empty", "()");
    ERR(&f, a, id, "get", T(2, TRUE_, I(0)), NULL, "_queue", "Empty", "()");
    ERR(&f, a, id, "get", T(2, TRUE_, F(-1)), NULL, "builtins", "ValueError",
        "(\"'timeout' must be a non-negative number\",)");
    ERR(&f, a, id, "get", NULL, D(1, S("timeout"), S("x")), "builtins", "TypeError",
        "(\"'<' not supported between instances of 'str' and 'int'\",)");
    /* a non-blocking get ignores its timeout, as Python does */
    ERR(&f, a, id, "get", T(2, FALSE_, F(-1)), NULL, "_queue", "Empty", "()");
    /* an unbounded put never looks at its timeout */
    RET(&f, a, id, "put", T(3, I(7), TRUE_, F(-1)), NULL, "None");
    RET(&f, a, id, "qsize", NULL, NULL, "1");
    ERR(&f, a, id, "put", NULL, NULL, "builtins", "TypeError", NULL);
    ERR(&f, a, id, "get", T(3, TRUE_, NONE, NONE), NULL, "builtins", "TypeError", NULL);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* The ring is full while wrapped (head in the middle) when it grows:
 * every item still comes out in the order put, through two growths. */
static void test_queue_ring_keeps_order_across_wrap_and_growth(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0];
    char id[32], want[16];
    MK(&f, "Queue", NULL, NULL, id);
    int put = 0, got = 0;
    for (; put < 6; put++)
        RET(&f, a, id, "put", T(1, I(put)), NULL, "None");
    for (; got < 4; got++) {
        snprintf(want, sizeof want, "%d", got);
        RET(&f, a, id, "get", NULL, NULL, want);
    }
    for (; put < 30; put++)           /* wraps at 8, grows at 8 and 16 items */
        RET(&f, a, id, "put", T(1, I(put)), NULL, "None");
    RET(&f, a, id, "qsize", NULL, NULL, "26");
    for (; got < 30; got++) {
        snprintf(want, sizeof want, "%d", got);
        RET(&f, a, id, "get", NULL, NULL, want);
    }
    ERR(&f, a, id, "get_nowait", NULL, NULL, "_queue", "Empty", "()");
    drop(&f, id);
    md_th_free(f.th);
}

static void test_queue_maxsize_full_and_constructor(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0];
    char id[32];
    MK(&f, "Queue", T(1, I(2)), NULL, id);
    RET(&f, a, id, "put", T(1, I(1)), NULL, "None");
    RET(&f, a, id, "put", T(1, I(2)), NULL, "None");
    RET(&f, a, id, "full", NULL, NULL, "True");
    ERR(&f, a, id, "put_nowait", T(1, I(3)), NULL, "queue", "Full", "()");
    ERR(&f, a, id, "put", T(2, I(3), FALSE_), NULL, "queue", "Full", "()");
    ERR(&f, a, id, "put", T(3, I(3), TRUE_, I(0)), NULL, "queue", "Full", "()");
    ERR(&f, a, id, "put", T(3, I(3), TRUE_, F(-0.5)), NULL, "builtins", "ValueError",
        "(\"'timeout' must be a non-negative number\",)");
    ERR(&f, a, id, "put", T(1, I(3)), D(1, S("timeout"), S("soon")), "builtins", "TypeError",
        "(\"'<' not supported between instances of 'str' and 'int'\",)");
    RET(&f, a, id, "qsize", NULL, NULL, "2");
    drop(&f, id);
    /* maxsize <= 0 or None: unbounded */
    MK(&f, "JoinableQueue", NULL, D(1, S("maxsize"), I(-3)), id);
    for (int i = 0; i < 100; i++)
        RET(&f, a, id, "put_nowait", T(1, I(i)), NULL, "None");
    RET(&f, a, id, "full", NULL, NULL, "False");
    REPR(&f, id, "<queue.Queue object at 0x%s>");
    drop(&f, id);
    MK(&f, "Queue", T(1, NONE), NULL, id);
    RET(&f, a, id, "full", NULL, NULL, "False");
    drop(&f, id);
    MK_FAILS(&f, "Queue", T(1, S("x")), NULL, "TypeError");
    MK_FAILS(&f, "Queue", T(2, I(1), I(2)), NULL, "TypeError");
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_queue_blocking_get_completed_by_put_from_another_peer(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    PARKS(&f, a, id, "get", NULL, NULL);
    /* a parked call blocks only its own connection */
    RET(&f, b, id, "qsize", NULL, NULL, "0");
    send(&f, b, id, "put", T(1, S("hello")), NULL);
    GOT(&f, a, "'hello'");
    GOT(&f, b, "None");
    NOTHING(&f, a);
    RET(&f, b, id, "qsize", NULL, NULL, "0");
    /* the item went straight to the getter but still counts for join */
    RET(&f, b, id, "task_done", NULL, NULL, "None");
    ERR(&f, b, id, "task_done", NULL, NULL, "builtins", "ValueError",
        "('task_done() called too many times',)");
    /* a blocking put on a full queue completed by a get */
    drop(&f, id);
    MK(&f, "Queue", T(1, I(1)), NULL, id);
    RET(&f, a, id, "put", T(1, I(1)), NULL, "None");
    PARKS(&f, a, id, "put", T(1, I(2)), NULL);
    RET(&f, b, id, "get", NULL, NULL, "1");
    GOT(&f, a, "None");
    RET(&f, b, id, "qsize", NULL, NULL, "1");
    RET(&f, b, id, "get", NULL, NULL, "2");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_queue_parked_getters_and_putters_are_served_in_arrival_order(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *feeder = f.p[MD_FX_PEERS - 1];
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    /* getters parked in the order 2, 0, 3, 1 */
    int order[] = {2, 0, 3, 1};
    for (int i = 0; i < 4; i++)
        PARKS(&f, f.p[order[i]], id, "get", NULL, NULL);
    for (int i = 0; i < 4; i++)
        RET(&f, feeder, id, "put", T(1, I(100 + i)), NULL, "None");
    GOT(&f, f.p[2], "100");
    GOT(&f, f.p[0], "101");
    GOT(&f, f.p[3], "102");
    GOT(&f, f.p[1], "103");
    RET(&f, feeder, id, "empty", NULL, NULL, "True");
    drop(&f, id);

    /* putters parked on a full queue get in in the order they came */
    MK(&f, "Queue", T(1, I(1)), NULL, id);
    RET(&f, feeder, id, "put", T(1, S("first")), NULL, "None");
    for (int i = 0; i < 4; i++)
        PARKS(&f, f.p[order[i]], id, "put", T(1, I(order[i])), NULL);
    /* a newcomer's non-blocking put does not overtake them */
    ERR(&f, feeder, id, "put_nowait", T(1, S("late")), NULL, "queue", "Full", "()");
    RET(&f, feeder, id, "get", NULL, NULL, "'first'");
    GOT(&f, f.p[2], "None");
    NOTHING(&f, f.p[0]);
    RET(&f, feeder, id, "get", NULL, NULL, "2");
    GOT(&f, f.p[0], "None");
    RET(&f, feeder, id, "get", NULL, NULL, "0");
    GOT(&f, f.p[3], "None");
    RET(&f, feeder, id, "get", NULL, NULL, "3");
    GOT(&f, f.p[1], "None");
    RET(&f, feeder, id, "get", NULL, NULL, "1");
    RET(&f, feeder, id, "qsize", NULL, NULL, "0");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_queue_timeouts_raise_empty_and_full(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "Queue", T(1, I(1)), NULL, id);
    PARKS(&f, a, id, "get", T(2, TRUE_, F(0.05)), NULL);
    PARKS(&f, b, id, "get", NULL, D(1, S("timeout"), I(10)));
    run(&f, PAST_TIMEOUTS);
    GOT_ERR(&f, a, "_queue", "Empty", "()");
    NOTHING(&f, b);
    /* the timed-out getter is gone: the item goes to the next one */
    RET(&f, c, id, "put", T(1, I(9)), NULL, "None");
    GOT(&f, b, "9");
    RET(&f, c, id, "put", T(1, I(10)), NULL, "None");
    PARKS(&f, a, id, "put", T(3, I(11), TRUE_, F(0.05)), NULL);
    run(&f, PAST_TIMEOUTS);
    GOT_ERR(&f, a, "queue", "Full", "()");
    RET(&f, c, id, "get", NULL, NULL, "10");
    RET(&f, c, id, "qsize", NULL, NULL, "0");
    drop(&f, id);
    md_th_free(f.th);
}

static void test_queue_peer_closing_while_parked_loses_nothing(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    PARKS(&f, a, id, "get", NULL, NULL);
    md_th_close_peer(f.th, a);
    /* nobody waits now: the item stays in the queue */
    RET(&f, b, id, "put", T(1, S("kept")), NULL, "None");
    RET(&f, b, id, "qsize", NULL, NULL, "1");
    RET(&f, c, id, "get", NULL, NULL, "'kept'");
    /* with two getters, the survivor gets the item */
    PARKS(&f, b, id, "get", NULL, NULL);
    PARKS(&f, c, id, "get", T(2, TRUE_, I(100)), NULL);
    md_th_close_peer(f.th, b);
    RET(&f, f.p[3], id, "put", T(1, I(42)), NULL, "None");
    GOT(&f, c, "42");
    RET(&f, f.p[3], id, "qsize", NULL, NULL, "0");
    drop(&f, id);

    /* a parked putter that vanishes never puts */
    MK(&f, "Queue", T(1, I(1)), NULL, id);
    RET(&f, c, id, "put", T(1, I(1)), NULL, "None");
    PARKS(&f, f.p[4], id, "put", T(1, I(2)), NULL);
    md_th_close_peer(f.th, f.p[4]);
    RET(&f, c, id, "get", NULL, NULL, "1");
    RET(&f, c, id, "qsize", NULL, NULL, "0");
    RET(&f, c, id, "task_done", NULL, NULL, "None");
    ERR(&f, c, id, "task_done", NULL, NULL, "builtins", "ValueError",
        "('task_done() called too many times',)");
    /* the closed peers' calls kept nothing alive */
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_queue_join_waits_for_every_task_done(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "JoinableQueue", NULL, NULL, id);
    RET(&f, a, id, "join", NULL, NULL, "None");
    RET(&f, a, id, "put", T(1, I(1)), NULL, "None");
    RET(&f, a, id, "put", T(1, I(2)), NULL, "None");
    PARKS(&f, b, id, "join", NULL, NULL);
    PARKS(&f, c, id, "join", NULL, NULL);
    RET(&f, a, id, "get", NULL, NULL, "1");
    RET(&f, a, id, "task_done", NULL, NULL, "None");
    NOTHING(&f, b);
    RET(&f, a, id, "get", NULL, NULL, "2");
    NOTHING(&f, b);
    RET(&f, a, id, "task_done", NULL, NULL, "None");
    GOT(&f, b, "None");
    GOT(&f, c, "None");
    ERR(&f, a, id, "task_done", NULL, NULL, "builtins", "ValueError",
        "('task_done() called too many times',)");
    /* a joiner that vanishes is simply dropped */
    RET(&f, a, id, "put", T(1, I(3)), NULL, "None");
    PARKS(&f, b, id, "join", NULL, NULL);
    md_th_close_peer(f.th, b);
    RET(&f, a, id, "get", NULL, NULL, "3");
    RET(&f, a, id, "task_done", NULL, NULL, "None");
    RET(&f, a, id, "join", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_queue_shutdown(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    /* parked getters are woken with ShutDown; put refuses afterwards;
     * get drains what is left, then raises */
    MK(&f, "Queue", NULL, NULL, id);
    PARKS(&f, a, id, "get", NULL, NULL);
    PARKS(&f, b, id, "get", T(2, TRUE_, I(30)), NULL);
    RET(&f, c, id, "shutdown", NULL, NULL, "None");
    GOT_ERR(&f, a, "queue", "ShutDown", "()");
    GOT_ERR(&f, b, "queue", "ShutDown", "()");
    ERR(&f, c, id, "put", T(1, I(1)), NULL, "queue", "ShutDown", "()");
    ERR(&f, c, id, "get", NULL, NULL, "queue", "ShutDown", "()");
    drop(&f, id);

    MK(&f, "Queue", T(1, I(2)), NULL, id);
    RET(&f, c, id, "put", T(1, I(1)), NULL, "None");
    RET(&f, c, id, "put", T(1, I(2)), NULL, "None");
    PARKS(&f, a, id, "put", T(1, I(3)), NULL);
    PARKS(&f, b, id, "join", NULL, NULL);
    RET(&f, c, id, "shutdown", T(1, FALSE_), NULL, "None");
    GOT_ERR(&f, a, "queue", "ShutDown", "()");
    NOTHING(&f, b);
    ERR(&f, c, id, "put_nowait", T(1, I(4)), NULL, "queue", "ShutDown", "()");
    RET(&f, c, id, "get", NULL, NULL, "1");
    RET(&f, c, id, "get_nowait", NULL, NULL, "2");
    ERR(&f, c, id, "get", NULL, NULL, "queue", "ShutDown", "()");
    ERR(&f, c, id, "get_nowait", NULL, NULL, "queue", "ShutDown", "()");
    RET(&f, c, id, "task_done", NULL, NULL, "None");
    NOTHING(&f, b);
    RET(&f, c, id, "task_done", NULL, NULL, "None");
    GOT(&f, b, "None");
    drop(&f, id);

    /* immediate=True drops the items, counts them done, wakes join */
    MK(&f, "JoinableQueue", NULL, NULL, id);
    RET(&f, c, id, "put", T(1, I(1)), NULL, "None");
    RET(&f, c, id, "put", T(1, I(2)), NULL, "None");
    RET(&f, c, id, "put", T(1, I(3)), NULL, "None");
    RET(&f, c, id, "get", NULL, NULL, "1");
    PARKS(&f, b, id, "join", NULL, NULL);
    RET(&f, c, id, "shutdown", NULL, D(1, S("immediate"), TRUE_), "None");
    /* one item was taken and not marked done: join still waits */
    NOTHING(&f, b);
    RET(&f, c, id, "qsize", NULL, NULL, "0");
    ERR(&f, c, id, "get", NULL, NULL, "queue", "ShutDown", "()");
    RET(&f, c, id, "task_done", NULL, NULL, "None");
    GOT(&f, b, "None");
    ERR(&f, c, id, "task_done", NULL, NULL, "builtins", "ValueError",
        "('task_done() called too many times',)");
    RET(&f, c, id, "shutdown", T(1, TRUE_), NULL, "None");
    drop(&f, id);

    MK(&f, "Queue", NULL, NULL, id);
    RET(&f, c, id, "put", T(1, I(1)), NULL, "None");
    PARKS(&f, b, id, "join", NULL, NULL);
    RET(&f, c, id, "shutdown", T(1, TRUE_), NULL, "None");
    GOT(&f, b, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_queue_thousand_parked_getters(void)
{
    md_fx f;
    md_fx_init(&f);
    enum { N = 1000 };
    md_peer **peers = calloc(N, sizeof *peers);
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    for (int i = 0; i < N; i++) {
        peers[i] = md_th_peer(f.th, 4);
        send(&f, peers[i], id, "get", NULL, NULL);
    }
    /* every tenth getter vanishes; the others get the items in order */
    for (int i = 0; i < N; i += 10)
        md_th_close_peer(f.th, peers[i]);
    for (int i = 0; i < N; i++)
        RET(&f, f.p[0], id, "put", T(1, I(i)), NULL, "None");
    int next = 0, wrong = 0, missing = 0;
    for (int i = 0; i < N; i++) {
        if (i % 10 == 0)
            continue;
        md_val *p = NULL;
        int kind = md_th_take(f.th, peers[i], &p);
        int64_t got = -1;
        if (kind != MD_OUT_RETURN || !p || md_int_to_i64(p, &got) < 0)
            missing++;
        else if (got != next)
            wrong++;
        next++;
        md_decref(p);
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(missing, 0);
    /* 100 getters were gone, so 100 items are left, in order */
    RET(&f, f.p[0], id, "qsize", NULL, NULL, "100");
    RET(&f, f.p[0], id, "get", NULL, NULL, "900");
    drop(&f, id);
    free(peers);
    md_th_free(f.th);
}

static void test_queue_thousand_timeouts(void)
{
    md_fx f;
    md_fx_init(&f);
    enum { N = 1000 };
    md_peer **peers = calloc(N, sizeof *peers);
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    for (int i = 0; i < N; i++) {
        peers[i] = md_th_peer(f.th, 4);
        send(&f, peers[i], id, "get", T(2, TRUE_, F(0.05)), NULL);
    }
    run(&f, 0.5);
    int empty = 0;
    for (int i = 0; i < N; i++) {
        md_val *p = NULL;
        int kind = md_th_take(f.th, peers[i], &p);
        if (kind == MD_OUT_ERROR && p && md_typeof(p) == MD_T_EXC &&
            strcmp(md_global_name(md_exc_class(p)), "Empty") == 0)
            empty++;
        md_decref(p);
    }
    CU_ASSERT_EQUAL(empty, N);
    RET(&f, f.p[0], id, "put", T(1, I(1)), NULL, "None");
    RET(&f, f.p[0], id, "qsize", NULL, NULL, "1");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    free(peers);
    md_th_free(f.th);
}

/* ======================================================================
 * Event
 * ====================================================================== */

static void test_event_set_wakes_every_waiter(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "Event", NULL, NULL, id);
    REPR(&f, id, "<threading.Event at 0x%s: unset>");
    RET(&f, a, id, "is_set", NULL, NULL, "False");
    RET(&f, a, id, "wait", T(1, I(0)), NULL, "False");
    RET(&f, a, id, "wait", T(1, F(-1)), NULL, "False");
    ERR(&f, a, id, "wait", T(1, S("x")), NULL, "builtins", "TypeError",
        "(\"'>' not supported between instances of 'str' and 'int'\",)");
    PARKS(&f, a, id, "wait", NULL, NULL);
    PARKS(&f, b, id, "wait", NULL, D(1, S("timeout"), I(60)));
    RET(&f, c, id, "set", NULL, NULL, "None");
    GOT(&f, a, "True");
    GOT(&f, b, "True");
    REPR(&f, id, "<threading.Event at 0x%s: set>");
    RET(&f, a, id, "is_set", NULL, NULL, "True");
    RET(&f, a, id, "wait", NULL, NULL, "True");
    RET(&f, a, id, "wait", T(1, F(-1)), NULL, "True");
    RET(&f, a, id, "set", NULL, NULL, "None");
    RET(&f, a, id, "clear", NULL, NULL, "None");
    RET(&f, a, id, "is_set", NULL, NULL, "False");
    /* timeout: False; a vanished waiter is dropped */
    PARKS(&f, a, id, "wait", T(1, F(0.05)), NULL);
    PARKS(&f, b, id, "wait", NULL, NULL);
    run(&f, PAST_TIMEOUTS);
    GOT(&f, a, "False");
    NOTHING(&f, b);
    md_th_close_peer(f.th, b);
    RET(&f, c, id, "set", NULL, NULL, "None");
    NOTHING(&f, a);
    ERR(&f, c, id, "wait", T(2, I(1), I(2)), NULL, "builtins", "TypeError", NULL);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_event_thousand_waiters(void)
{
    md_fx f;
    md_fx_init(&f);
    enum { N = 1000 };
    md_peer **peers = calloc(N, sizeof *peers);
    char id[32];
    MK(&f, "Event", NULL, NULL, id);
    for (int i = 0; i < N; i++) {
        peers[i] = md_th_peer(f.th, 4);
        send(&f, peers[i], id, "wait", i % 2 ? T(1, I(60)) : NULL, NULL);
    }
    RET(&f, f.p[0], id, "set", NULL, NULL, "None");
    int woken = 0;
    for (int i = 0; i < N; i++) {
        md_val *p = NULL;
        if (md_th_take(f.th, peers[i], &p) == MD_OUT_RETURN && p == md_true())
            woken++;
        md_decref(p);
    }
    CU_ASSERT_EQUAL(woken, N);
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    free(peers);
    md_th_free(f.th);
}

/* ======================================================================
 * Lock
 * ====================================================================== */

static void test_lock_acquire_release_and_messages(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK(&f, "Lock", NULL, NULL, id);
    REPR(&f, id, "<unlocked _thread.lock object at 0x%s>");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "RuntimeError", "('release unlocked lock',)");
    ERR(&f, f.p2, id, "release", NULL, NULL, "_thread", "error", "('release unlocked lock',)");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    REPR(&f, id, "<locked _thread.lock object at 0x%s>");
    RET(&f, a, id, "acquire", T(1, FALSE_), NULL, "False");
    RET(&f, b, id, "acquire", T(2, TRUE_, I(0)), NULL, "False");
    RET(&f, b, id, "acquire", NULL, D(2, S("blocking"), FALSE_, S("timeout"), I(-1)), "False");
    ERR(&f, b, id, "acquire", T(2, FALSE_, I(1)), NULL, "builtins", "ValueError",
        "(\"can't specify a timeout for a non-blocking call\",)");
    ERR(&f, b, id, "acquire", T(2, TRUE_, F(-2)), NULL, "builtins", "ValueError",
        "('timeout value must be a non-negative number',)");
    /* 3.13's wording for every client, 3.6 and 3.7 included */
    ERR(&f, f.p3, id, "acquire", T(2, TRUE_, F(-2)), NULL, "builtins", "ValueError",
        "('timeout value must be a non-negative number',)");
    ERR(&f, b, id, "acquire", T(2, TRUE_, NONE), NULL, "builtins", "TypeError",
        "(\"'NoneType' object cannot be interpreted as an integer\",)");
    ERR(&f, b, id, "acquire", NULL, D(1, S("timeout"), F(1e10)), "builtins", "OverflowError",
        "('timestamp out of range for platform time_t',)");
    ERR(&f, b, id, "acquire", T(3, TRUE_, I(1), I(2)), NULL, "builtins", "TypeError", NULL);
    /* XML-RPC clients get Python 3's newest wording (as a traceback:
     * 'xmlrpclib' cannot carry an exception) */
    send(&f, f.p0, id, "acquire", T(2, TRUE_, F(-2)), NULL);
    GOT_TB(&f, f.p0, "ValueError: timeout value must be a non-negative number");
    /* _thread's limit: 2**63 ns; just under it waits, just over fails */
    PARKS(&f, f.p[4], id, "acquire", T(2, TRUE_, F(9223372036.0)), NULL);
    ERR(&f, b, id, "acquire", T(2, TRUE_, F(9223372037.0)), NULL, "builtins", "OverflowError",
        "('timestamp out of range for platform time_t',)");
    md_th_close_peer(f.th, f.p[4]);
    /* no owner: any peer may release */
    RET(&f, b, id, "release", NULL, NULL, "None");
    REPR(&f, id, "<unlocked _thread.lock object at 0x%s>");
    RET(&f, b, id, "acquire", T(2, TRUE_, F(-1.0)), NULL, "True");
    RET(&f, a, id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_lock_blocking_acquire_and_timeout(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "Lock", NULL, NULL, id);
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    PARKS(&f, b, id, "acquire", NULL, NULL);
    PARKS(&f, c, id, "acquire", T(2, TRUE_, F(0.05)), NULL);
    run(&f, PAST_TIMEOUTS);
    GOT(&f, c, "False");
    NOTHING(&f, b);
    RET(&f, a, id, "release", NULL, NULL, "None");
    GOT(&f, b, "True");
    RET(&f, c, id, "acquire", T(1, FALSE_), NULL, "False");
    /* a Lock is not reentrant: its holder parks like anyone */
    PARKS(&f, b, id, "acquire", T(2, TRUE_, F(0.05)), NULL);
    run(&f, PAST_TIMEOUTS);
    GOT(&f, b, "False");
    RET(&f, c, id, "release", NULL, NULL, "None");
    RET(&f, c, id, "acquire", NULL, NULL, "True");
    RET(&f, c, id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* A Lock has no owner, as in Python: what a vanished client took stays
 * taken until anyone releases it (CPython's test_lock has a worker leave
 * it taken for its parent). */
static void test_lock_stays_held_when_its_holder_vanishes(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2], *d = f.p[3];
    char id[32];
    MK(&f, "Lock", NULL, NULL, id);
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    PARKS(&f, b, id, "acquire", NULL, NULL);
    PARKS(&f, c, id, "acquire", NULL, NULL);
    /* a waiter that vanishes is skipped; the holder's exit frees nothing */
    md_th_close_peer(f.th, b);
    md_th_close_peer(f.th, a);
    NOTHING(&f, c);
    REPR(&f, id, "<locked _thread.lock object at 0x%s>");
    RET(&f, d, id, "acquire", T(1, FALSE_), NULL, "False");
    /* someone else releases it: the oldest live waiter gets it */
    RET(&f, d, id, "release", NULL, NULL, "None");
    GOT(&f, c, "True");
    /* the client that got it through a parked call vanishes too */
    md_th_close_peer(f.th, c);
    RET(&f, d, id, "acquire", T(1, FALSE_), NULL, "False");
    RET(&f, f.p[4], id, "release", NULL, NULL, "None");
    ERR(&f, f.p[4], id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('release unlocked lock',)");
    /* a holder that parks on its own lock and vanishes still holds it */
    RET(&f, d, id, "acquire", NULL, NULL, "True");
    PARKS(&f, d, id, "acquire", NULL, NULL);
    PARKS(&f, f.p[4], id, "acquire", NULL, NULL);
    md_th_close_peer(f.th, d);
    NOTHING(&f, f.p[4]);
    RET(&f, f.p[5], id, "release", NULL, NULL, "None");
    GOT(&f, f.p[4], "True");
    RET(&f, f.p[5], id, "release", NULL, NULL, "None");
    /* and one that every client dropped while taken is freed */
    RET(&f, f.p[5], id, "acquire", NULL, NULL, "True");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), id));
    md_th_free(f.th);
}

/* Semaphores keep what a vanished client took, like a Lock. */
static void test_bounded_semaphore_stays_taken_when_its_holder_vanishes(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "BoundedSemaphore", T(1, I(1)), NULL, id);
    RET(&f, f.p[0], id, "acquire", NULL, NULL, "True");
    md_th_close_peer(f.th, f.p[0]);
    RET(&f, f.p[1], id, "acquire", T(1, FALSE_), NULL, "False");
    REPR(&f, id, "<threading.BoundedSemaphore at 0x%s: value=0/1>");
    RET(&f, f.p[1], id, "release", NULL, NULL, "None");
    ERR(&f, f.p[1], id, "release", NULL, NULL, "builtins", "ValueError",
        "('Semaphore released too many times',)");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_lock_dropped_by_its_clients_while_held(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    /* the holder's registration keeps the object until the holder goes */
    MK(&f, "RLock", NULL, NULL, id);
    RET(&f, f.p[0], id, "acquire", NULL, NULL, "True");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_close_peer(f.th, f.p[0]);
    md_th_free(f.th);
}

/* ======================================================================
 * RLock
 * ====================================================================== */

static void test_rlock_owner_depth_and_messages(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK(&f, "RLock", NULL, NULL, id);
    REPR(&f, id, "<unlocked _thread.RLock object owner=0 count=0 at 0x%s>");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    ERR(&f, f.p2, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    RET(&f, a, id, "acquire", T(1, FALSE_), NULL, "True");
    RET(&f, a, id, "acquire", T(2, TRUE_, I(5)), NULL, "True");
    REPR_LIKE(&f, id, "<locked _thread.RLock object owner=", " count=3 at 0x%s>");
    ERR(&f, b, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    RET(&f, b, id, "acquire", T(1, FALSE_), NULL, "False");
    ERR(&f, b, id, "acquire", T(2, FALSE_, F(0.5)), NULL, "builtins", "ValueError",
        "(\"can't specify a timeout for a non-blocking call\",)");
    ERR(&f, b, id, "acquire", T(2, TRUE_, I(-5)), NULL, "builtins", "ValueError",
        "('timeout value must be a non-negative number',)");
    PARKS(&f, b, id, "acquire", NULL, NULL);
    RET(&f, a, id, "release", NULL, NULL, "None");
    RET(&f, a, id, "release", NULL, NULL, "None");
    NOTHING(&f, b);
    RET(&f, a, id, "release", NULL, NULL, "None");
    GOT(&f, b, "True");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    RET(&f, b, id, "release", NULL, NULL, "None");
    REPR(&f, id, "<unlocked _thread.RLock object owner=0 count=0 at 0x%s>");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_rlock_released_when_its_owner_vanishes(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "RLock", NULL, NULL, id);
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    PARKS(&f, b, id, "acquire", T(2, TRUE_, F(0.05)), NULL);
    PARKS(&f, c, id, "acquire", NULL, NULL);
    run(&f, PAST_TIMEOUTS);
    GOT(&f, b, "False");
    md_th_close_peer(f.th, a);
    GOT(&f, c, "True");
    RET(&f, c, id, "release", NULL, NULL, "None");
    ERR(&f, c, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    /* a vanished waiter holds nothing and is skipped */
    RET(&f, b, id, "acquire", NULL, NULL, "True");
    PARKS(&f, c, id, "acquire", NULL, NULL);
    PARKS(&f, f.p[3], id, "acquire", NULL, NULL);
    md_th_close_peer(f.th, c);
    RET(&f, b, id, "release", NULL, NULL, "None");
    GOT(&f, f.p[3], "True");
    RET(&f, f.p[3], id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* ======================================================================
 * Semaphore and BoundedSemaphore
 * ====================================================================== */

static void test_semaphore_counts_and_messages(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK_FAILS(&f, "Semaphore", T(1, I(-1)), NULL, "ValueError: semaphore initial value must be >= 0");
    MK_FAILS(&f, "BoundedSemaphore", NULL, D(1, S("value"), I(-1)),
             "ValueError: semaphore initial value must be >= 0");
    MK(&f, "Semaphore", NULL, NULL, id);
    REPR(&f, id, "<threading.Semaphore at 0x%s: value=1>");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    RET(&f, a, id, "acquire", T(1, FALSE_), NULL, "False");
    RET(&f, a, id, "acquire", T(2, TRUE_, I(0)), NULL, "False");
    RET(&f, a, id, "acquire", T(2, TRUE_, F(-3)), NULL, "False");
    ERR(&f, a, id, "acquire", T(2, FALSE_, I(1)), NULL, "builtins", "ValueError",
        "(\"can't specify timeout for non-blocking acquire\",)");
    ERR(&f, a, id, "acquire", T(2, TRUE_, S("x")), NULL, "builtins", "TypeError",
        "(\"unsupported operand type(s) for +: 'float' and 'str'\",)");
    /* any peer may release, and more than it acquired */
    RET(&f, b, id, "release", NULL, NULL, "None");
    RET(&f, b, id, "release", T(1, I(3)), NULL, "None");
    REPR(&f, id, "<threading.Semaphore at 0x%s: value=4>");
    ERR(&f, b, id, "release", T(1, I(0)), NULL, "builtins", "ValueError",
        "('n must be one or more',)");
    ERR(&f, b, id, "release", NULL, D(1, S("n"), S("x")), "builtins", "TypeError", NULL);
    RET(&f, a, id, "acquire", NULL, D(1, S("timeout"), NONE), "True");
    REPR(&f, id, "<threading.Semaphore at 0x%s: value=3>");
    drop(&f, id);

    MK(&f, "BoundedSemaphore", T(1, I(2)), NULL, id);
    REPR(&f, id, "<threading.BoundedSemaphore at 0x%s: value=2/2>");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "ValueError",
        "('Semaphore released too many times',)");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    ERR(&f, a, id, "release", T(1, I(2)), NULL, "builtins", "ValueError",
        "('Semaphore released too many times',)");
    RET(&f, a, id, "release", NULL, NULL, "None");
    REPR(&f, id, "<threading.BoundedSemaphore at 0x%s: value=2/2>");
    drop(&f, id);
    MK(&f, "Semaphore", T(1, I(0)), NULL, id);
    RET(&f, a, id, "acquire", T(1, FALSE_), NULL, "False");
    drop(&f, id);
    /* the value is an int64: up to 2**63 - 1, one more is refused */
    MK(&f, "Semaphore", T(1, I(INT64_MAX - 1)), NULL, id);
    RET(&f, a, id, "release", NULL, NULL, "None");
    REPR(&f, id, "<threading.Semaphore at 0x%s: value=9223372036854775807>");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "OverflowError",
        "('semaphore value too large',)");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    ERR(&f, a, id, "release", T(1, I(2)), NULL, "builtins", "OverflowError",
        "('semaphore value too large',)");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_semaphore_release_wakes_waiters_in_order(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Semaphore", T(1, I(0)), NULL, id);
    for (int i = 0; i < 4; i++)
        PARKS(&f, f.p[i], id, "acquire", NULL, NULL);
    PARKS(&f, f.p[4], id, "acquire", T(2, TRUE_, F(0.05)), NULL);
    run(&f, PAST_TIMEOUTS);
    GOT(&f, f.p[4], "False");
    RET(&f, f.p[5], id, "release", T(1, I(2)), NULL, "None");
    GOT(&f, f.p[0], "True");
    GOT(&f, f.p[1], "True");
    NOTHING(&f, f.p[2]);
    REPR(&f, id, "<threading.Semaphore at 0x%s: value=0>");
    /* a vanished waiter is skipped; a semaphore has no owner, so a peer
     * that acquired and vanishes keeps its unit */
    md_th_close_peer(f.th, f.p[2]);
    md_th_close_peer(f.th, f.p[0]);
    RET(&f, f.p[5], id, "release", T(1, I(2)), NULL, "None");
    GOT(&f, f.p[3], "True");
    REPR(&f, id, "<threading.Semaphore at 0x%s: value=1>");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* ======================================================================
 * Condition
 * ====================================================================== */

static void test_condition_ownership_messages(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK_FAILS(&f, "Condition", T(1, I(1)), NULL,
             "AttributeError: 'int' object has no attribute 'acquire'");
    MK(&f, "Condition", T(1, NONE), NULL, id);
    REPR(&f, id, "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x%s>, 0)>");
    ERR(&f, a, id, "wait", NULL, NULL, "builtins", "RuntimeError",
        "('cannot wait on un-acquired lock',)");
    ERR(&f, a, id, "notify", NULL, NULL, "builtins", "RuntimeError",
        "('cannot notify on un-acquired lock',)");
    ERR(&f, a, id, "notify_all", NULL, NULL, "builtins", "RuntimeError",
        "('cannot notify on un-acquired lock',)");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    ERR(&f, b, id, "wait", T(1, I(1)), NULL, "builtins", "RuntimeError",
        "('cannot wait on un-acquired lock',)");
    ERR(&f, b, id, "notify", T(1, I(1)), NULL, "builtins", "RuntimeError",
        "('cannot notify on un-acquired lock',)");
    RET(&f, a, id, "notify", NULL, NULL, "None");
    RET(&f, a, id, "notify", T(1, I(-1)), NULL, "None");
    RET(&f, a, id, "notify_all", NULL, NULL, "None");
    ERR(&f, a, id, "notify", T(1, S("x")), NULL, "builtins", "TypeError",
        "(\"'>' not supported between instances of 'str' and 'int'\",)");
    RET(&f, a, id, "wait", T(1, I(0)), NULL, "False");
    RET(&f, a, id, "wait", T(1, F(-1)), NULL, "False");
    ERR(&f, a, id, "wait", T(1, S("x")), NULL, "builtins", "TypeError",
        "(\"'>' not supported between instances of 'str' and 'int'\",)");
    RET(&f, a, id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_condition_wait_notify_reacquires_at_saved_depth(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK(&f, "Condition", NULL, NULL, id);
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    PARKS(&f, a, id, "wait", NULL, NULL);
    REPR(&f, id, "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x%s>, 1)>");
    /* the wait released the lock completely */
    RET(&f, b, id, "acquire", T(1, FALSE_), NULL, "True");
    RET(&f, b, id, "notify", NULL, NULL, "None");
    REPR_LIKE(&f, id, "<Condition(<locked _thread.RLock object owner=", " count=1 at 0x%s>, 0)>");
    /* notified, but b still holds the lock: a waits for it */
    NOTHING(&f, a);
    RET(&f, b, id, "release", NULL, NULL, "None");
    GOT(&f, a, "True");
    /* a is back at depth 2 */
    RET(&f, b, id, "acquire", T(1, FALSE_), NULL, "False");
    RET(&f, a, id, "release", NULL, NULL, "None");
    RET(&f, b, id, "acquire", T(1, FALSE_), NULL, "False");
    RET(&f, a, id, "release", NULL, NULL, "None");
    ERR(&f, a, id, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    RET(&f, b, id, "acquire", T(1, FALSE_), NULL, "True");
    RET(&f, b, id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_condition_notify_n_and_notify_all(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *boss = f.p[MD_FX_PEERS - 1];
    char id[32];
    MK(&f, "Condition", NULL, NULL, id);
    for (int i = 0; i < 4; i++) {
        RET(&f, f.p[i], id, "acquire", NULL, NULL, "True");
        PARKS(&f, f.p[i], id, "wait", i == 3 ? T(1, I(60)) : NULL, NULL);
    }
    RET(&f, boss, id, "acquire", NULL, NULL, "True");
    RET(&f, boss, id, "notify", T(1, I(2)), NULL, "None");
    RET(&f, boss, id, "release", NULL, NULL, "None");
    /* the first notified waiter gets the lock; the second waits for it */
    GOT(&f, f.p[0], "True");
    NOTHING(&f, f.p[1]);
    RET(&f, f.p[0], id, "release", NULL, NULL, "None");
    GOT(&f, f.p[1], "True");
    NOTHING(&f, f.p[2]);
    /* a notifier that waits itself: notify_all then wait */
    RET(&f, f.p[1], id, "notify_all", NULL, NULL, "None");
    PARKS(&f, f.p[1], id, "wait", NULL, NULL);
    GOT(&f, f.p[2], "True");
    NOTHING(&f, f.p[3]);
    RET(&f, f.p[2], id, "release", NULL, NULL, "None");
    GOT(&f, f.p[3], "True");
    RET(&f, f.p[3], id, "notify", NULL, D(1, S("n"), F(1.5)), "None");
    RET(&f, f.p[3], id, "release", NULL, NULL, "None");
    GOT(&f, f.p[1], "True");
    RET(&f, f.p[1], id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_condition_timeout_returns_false_after_reacquiring(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char id[32];
    MK(&f, "Condition", NULL, NULL, id);
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    PARKS(&f, a, id, "wait", T(1, F(0.05)), NULL);
    RET(&f, b, id, "acquire", NULL, NULL, "True");
    run(&f, PAST_TIMEOUTS);
    /* timed out, but b holds the lock */
    NOTHING(&f, a);
    REPR_LIKE(&f, id, "<Condition(<locked _thread.RLock object owner=", " count=1 at 0x%s>, 0)>");
    /* a notify now does not turn the timeout into True */
    RET(&f, b, id, "notify", NULL, NULL, "None");
    RET(&f, b, id, "release", NULL, NULL, "None");
    GOT(&f, a, "False");
    RET(&f, b, id, "acquire", T(1, FALSE_), NULL, "False");
    /* timeout with the lock free: False at once when it fires */
    PARKS(&f, a, id, "wait", NULL, D(1, S("timeout"), F(0.05)));
    run(&f, PAST_TIMEOUTS);
    GOT(&f, a, "False");
    /* notified before its timer fires: True, the late timer is ignored */
    PARKS(&f, a, id, "wait", T(1, F(0.05)), NULL);
    RET(&f, b, id, "acquire", NULL, NULL, "True");
    RET(&f, b, id, "notify", NULL, NULL, "None");
    run(&f, PAST_TIMEOUTS);
    NOTHING(&f, a);
    RET(&f, b, id, "release", NULL, NULL, "None");
    GOT(&f, a, "True");
    RET(&f, a, id, "release", NULL, NULL, "None");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_condition_vanished_waiters_and_owners(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2], *d = f.p[3];
    char id[32];
    MK(&f, "Condition", NULL, NULL, id);
    /* a waiter that vanishes holds nothing */
    RET(&f, a, id, "acquire", NULL, NULL, "True");
    PARKS(&f, a, id, "wait", NULL, NULL);
    md_th_close_peer(f.th, a);
    REPR(&f, id, "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x%s>, 0)>");
    RET(&f, b, id, "acquire", NULL, NULL, "True");
    RET(&f, b, id, "notify", NULL, NULL, "None");
    /* an owner that vanishes hands the lock to the next in line, a
     * notified waiter included */
    PARKS(&f, c, id, "acquire", NULL, NULL);
    md_th_close_peer(f.th, b);
    GOT(&f, c, "True");
    PARKS(&f, c, id, "wait", NULL, NULL);
    RET(&f, d, id, "acquire", NULL, NULL, "True");
    RET(&f, d, id, "notify", NULL, NULL, "None");
    md_th_close_peer(f.th, d);
    GOT(&f, c, "True");
    /* a notified waiter that vanishes before it gets the lock */
    PARKS(&f, c, id, "wait", NULL, NULL);
    RET(&f, f.p[4], id, "acquire", NULL, NULL, "True");
    RET(&f, f.p[4], id, "notify", NULL, NULL, "None");
    md_th_close_peer(f.th, c);
    RET(&f, f.p[4], id, "release", NULL, NULL, "None");
    REPR(&f, id, "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x%s>, 0)>");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* A pickled proxy of our object ident as a client sends it:
 * RebuildProxy(multiprocessing.managers.<cls>, Token(typeid, address,
 * ident), 'pickle', {}). */
static md_val *PROXY(const char *cls, const char *typeid, const char *ident)
{
    md_val *rebuild = md_global_new("multiprocessing.managers", "RebuildProxy");
    md_val *func = md_global_new("multiprocessing.managers", cls);
    md_val *addr = T(2, S("127.0.0.1"), I(50000));
    md_val *token = md_proto_token_new(typeid, addr, ident);
    md_val *args = T(4, func, token, S("pickle"), md_dict_new());
    md_val *p = md_opaque_new(MD_OPQ_REDUCE, rebuild, args);
    md_decref(rebuild);
    md_decref(addr);
    md_decref(args);
    return p;
}

/* m.Condition(m.Lock()): one lock, taken through either proxy; wait and
 * notify only need it held (by anyone, as Python asks of a Lock), and
 * the lock stays taken when a client that took it vanishes. */
static void test_condition_on_a_shared_lock(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char lk[32], cv[32];
    MK(&f, "Lock", NULL, NULL, lk);
    MK(&f, "Condition", T(1, PROXY("AcquirerProxy", "Lock", lk)), NULL, cv);
    REPR_OF(&f, cv, "<Condition(<unlocked _thread.lock object at 0x%s>, 0)>", lk);
    /* the proxy sent to create is counted while the condition lives */
    drop(&f, lk);
    CU_ASSERT_EQUAL(nobj(&f), 1);
    CU_ASSERT_PTR_NOT_NULL(md_server_find(md_th_server(f.th), lk));
    ERR(&f, a, cv, "wait", NULL, NULL, "builtins", "RuntimeError",
        "('cannot wait on un-acquired lock',)");
    ERR(&f, a, cv, "notify", NULL, NULL, "builtins", "RuntimeError",
        "('cannot notify on un-acquired lock',)");
    RET(&f, a, cv, "acquire", NULL, NULL, "True");
    /* the same lock through its own proxy: taken */
    RET(&f, b, lk, "acquire", T(1, FALSE_), NULL, "False");
    REPR(&f, lk, "<locked _thread.lock object at 0x%s>");
    PARKS(&f, a, cv, "wait", NULL, NULL);
    REPR_OF(&f, cv, "<Condition(<unlocked _thread.lock object at 0x%s>, 1)>", lk);
    /* b takes the lock through the Lock's proxy and notifies */
    RET(&f, b, lk, "acquire", NULL, NULL, "True");
    RET(&f, b, cv, "notify", NULL, NULL, "None");
    NOTHING(&f, a);
    /* a Lock has no owner: c releases what b took */
    RET(&f, c, lk, "release", NULL, NULL, "None");
    GOT(&f, a, "True");
    REPR(&f, lk, "<locked _thread.lock object at 0x%s>");
    /* a waiter that times out takes the lock back before replying */
    PARKS(&f, a, cv, "wait", T(1, F(0.05)), NULL);
    RET(&f, b, lk, "acquire", NULL, NULL, "True");
    run(&f, PAST_TIMEOUTS);
    NOTHING(&f, a);
    RET(&f, b, cv, "release", NULL, NULL, "None");
    GOT(&f, a, "False");
    /* its holder vanishes: still taken, until anyone releases it */
    md_th_close_peer(f.th, a);
    RET(&f, b, cv, "acquire", T(1, FALSE_), NULL, "False");
    RET(&f, b, lk, "release", NULL, NULL, "None");
    ERR(&f, b, cv, "release", NULL, NULL, "builtins", "RuntimeError",
        "('release unlocked lock',)");
    /* dropping the condition releases the lock it held */
    drop(&f, cv);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), lk));
    md_th_free(f.th);
}

/* m.Condition(m.RLock()): the RLock is owned by the connection, which a
 * client's proxies share per thread, so acquiring through the RLock's
 * proxy and waiting through the condition's is one owner (CPython's
 * server refuses that wait). A vanished owner's RLock is released. */
static void test_condition_on_a_shared_rlock(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char lk[32], cv[32];
    MK(&f, "RLock", NULL, NULL, lk);
    MK(&f, "Condition", NULL, D(1, S("lock"), PROXY("AcquirerProxy", "RLock", lk)), cv);
    RET(&f, a, lk, "acquire", NULL, NULL, "True");
    RET(&f, a, cv, "acquire", NULL, NULL, "True");
    REPR_LIKE_OF(&f, cv, "<Condition(<locked _thread.RLock object owner=",
                 " count=2 at 0x%s>, 0)>", lk);
    ERR(&f, b, cv, "wait", NULL, NULL, "builtins", "RuntimeError",
        "('cannot wait on un-acquired lock',)");
    ERR(&f, b, cv, "release", NULL, NULL, "builtins", "RuntimeError",
        "('cannot release un-acquired lock',)");
    PARKS(&f, a, cv, "wait", NULL, NULL);
    /* the wait released both levels */
    RET(&f, b, lk, "acquire", T(1, FALSE_), NULL, "True");
    RET(&f, b, cv, "notify", NULL, NULL, "None");
    RET(&f, b, lk, "release", NULL, NULL, "None");
    GOT(&f, a, "True");
    /* a is back at depth 2 */
    RET(&f, a, lk, "release", NULL, NULL, "None");
    RET(&f, b, lk, "acquire", T(1, FALSE_), NULL, "False");
    /* a vanishes holding it: released, handed to the next in line */
    PARKS(&f, c, cv, "acquire", NULL, NULL);
    md_th_close_peer(f.th, a);
    GOT(&f, c, "True");
    /* a waiter that vanishes holds nothing */
    PARKS(&f, c, cv, "wait", NULL, NULL);
    md_th_close_peer(f.th, c);
    RET(&f, b, lk, "acquire", T(1, FALSE_), NULL, "True");
    RET(&f, b, cv, "notify", NULL, NULL, "None");
    RET(&f, b, cv, "release", NULL, NULL, "None");
    REPR_OF(&f, cv, "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x%s>, 0)>",
            lk);
    drop(&f, lk);
    drop(&f, cv);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), lk));
    md_th_free(f.th);
}

/* m.Condition(m.Semaphore()) as Python's Condition uses a semaphore:
 * taken means no unit left, wait gives one back and takes one again. */
static void test_condition_on_a_shared_semaphore(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char sem[32], cv[32], bs[32], cb[32];
    MK(&f, "Semaphore", T(1, I(2)), NULL, sem);
    MK(&f, "Condition", T(1, PROXY("AcquirerProxy", "Semaphore", sem)), NULL, cv);
    REPR_OF(&f, cv, "<Condition(<threading.Semaphore at 0x%s: value=2>, 0)>", sem);
    RET(&f, a, cv, "acquire", NULL, NULL, "True");
    /* one unit left: not taken yet */
    ERR(&f, a, cv, "wait", NULL, NULL, "builtins", "RuntimeError",
        "('cannot wait on un-acquired lock',)");
    RET(&f, b, sem, "acquire", NULL, NULL, "True");
    PARKS(&f, a, cv, "wait", NULL, NULL);
    REPR_OF(&f, cv, "<Condition(<threading.Semaphore at 0x%s: value=1>, 1)>", sem);
    /* c takes the unit a gave back, notifies, and a waits for a unit */
    RET(&f, c, cv, "acquire", T(1, FALSE_), NULL, "True");
    RET(&f, c, cv, "notify", NULL, NULL, "None");
    NOTHING(&f, a);
    /* anyone may release a semaphore */
    RET(&f, b, sem, "release", NULL, NULL, "None");
    GOT(&f, a, "True");
    REPR(&f, sem, "<threading.Semaphore at 0x%s: value=0>");
    /* a timed-out waiter takes a unit back before replying */
    PARKS(&f, a, cv, "wait", T(1, F(0.05)), NULL);
    RET(&f, b, sem, "acquire", NULL, NULL, "True");
    run(&f, PAST_TIMEOUTS);
    NOTHING(&f, a);
    RET(&f, c, sem, "release", T(1, I(2)), NULL, "None");
    GOT(&f, a, "False");
    REPR(&f, sem, "<threading.Semaphore at 0x%s: value=1>");
    /* a waiter that vanishes holds nothing */
    RET(&f, c, cv, "acquire", NULL, NULL, "True");
    PARKS(&f, c, cv, "wait", NULL, NULL);
    md_th_close_peer(f.th, c);
    REPR_OF(&f, cv, "<Condition(<threading.Semaphore at 0x%s: value=1>, 0)>", sem);
    drop(&f, sem);
    drop(&f, cv);
    /* a BoundedSemaphore(0) is always taken, and cannot give a unit back */
    MK(&f, "BoundedSemaphore", T(1, I(0)), NULL, bs);
    MK(&f, "Condition", NULL, D(1, S("lock"), PROXY("AcquirerProxy", "BoundedSemaphore", bs)), cb);
    RET(&f, a, cb, "notify", NULL, NULL, "None");
    ERR(&f, a, cb, "wait", NULL, NULL, "builtins", "ValueError",
        "('Semaphore released too many times',)");
    drop(&f, bs);
    drop(&f, cb);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), sem));
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), bs));
    md_th_free(f.th);
}

/* What Condition(lock) refuses, with CPython's texts where it has one. */
static void test_condition_refuses_other_locks(void)
{
    md_fx f;
    md_fx_init(&f);
    char ev[32], co[32];
    MK(&f, "Event", NULL, NULL, ev);
    MK(&f, "Condition", NULL, NULL, co);
    MK_FAILS(&f, "Condition", T(1, S("x")), NULL,
             "AttributeError: 'str' object has no attribute 'acquire'");
    MK_FAILS(&f, "Condition", T(1, PROXY("EventProxy", "Event", ev)), NULL,
             "AttributeError: 'EventProxy' object has no attribute 'acquire'");
    MK_FAILS(&f, "Condition", T(1, PROXY("AutoProxy", "Event", ev)), NULL,
             "AttributeError: 'AutoProxy[Event]' object has no attribute 'acquire'");
    MK_FAILS(&f, "Condition", T(1, PROXY("ConditionProxy", "Condition", co)), NULL,
             "TypeError: managerd's Condition takes a Lock, RLock or Semaphore, not a Condition");
    MK_FAILS(&f, "Condition", T(1, PROXY("AcquirerProxy", "Lock", "7d00ffffffff")), NULL,
             "TypeError: managerd's Condition takes a lock of this server");
    drop(&f, ev);
    drop(&f, co);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(f.th), ev));
    md_th_free(f.th);
}

/* ======================================================================
 * Proxies in arguments and replies
 * ====================================================================== */

static bool exists(md_fx *f, const char *ident)
{
    return md_server_find(md_th_server(f->th), ident) != NULL;
}

/* A proxy passed as a keyword argument of create lives as long as the
 * object holding it (m.dict(pets=pets)). */
static void test_proxy_in_keyword_arguments_kept_alive(void)
{
    md_fx f;
    md_fx_init(&f);
    char inner[32], outer[32], ns[32];
    MK(&f, "dict", NULL, D(1, S("ferrets"), I(2)), inner);
    MK(&f, "dict", NULL, D(1, S("pets"), PROXY("DictProxy", "dict", inner)), outer);
    MK(&f, "Namespace", NULL, D(1, S("x"), T(1, PROXY("DictProxy", "dict", inner))), ns);
    drop(&f, inner);
    CU_ASSERT_EQUAL(nobj(&f), 2);
    CU_ASSERT_TRUE(exists(&f, inner));
    /* update(k=p) replaces it: still held by the namespace */
    RET(&f, f.p[0], outer, "update", NULL, D(1, S("pets"), I(0)), "None");
    CU_ASSERT_TRUE(exists(&f, inner));
    drop(&f, ns);
    CU_ASSERT_FALSE(exists(&f, inner));
    drop(&f, outer);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* A proxy inside a cyclic value (a list that holds itself) is counted
 * once, and released when the cycle is collected. */
static void test_proxy_in_a_cycle_counted_once(void)
{
    md_fx f;
    md_fx_init(&f);
    char d[32], inner[32];
    MK(&f, "dict", NULL, NULL, d);
    MK(&f, "list", NULL, NULL, inner);
    md_val *cyc = md_list_new(0);
    md_val *p = PROXY("ListProxy", "list", inner);
    md_list_append(cyc, p);
    md_list_append(cyc, cyc);
    md_list_append(cyc, p);
    md_decref(p);
    /* the walk of the request ends, and counts p once */
    RET(&f, f.p[0], d, "__setitem__", T(2, S("k"), cyc), NULL, "None");
    drop(&f, inner);
    md_gc_collect();
    CU_ASSERT_TRUE(exists(&f, inner));
    RET(&f, f.p[0], d, "__delitem__", T(1, S("k")), NULL, "None");
    /* only the value model's cycle collector can free it now */
    CU_ASSERT_TRUE(exists(&f, inner));
    md_gc_collect();
    CU_ASSERT_FALSE(exists(&f, inner));
    drop(&f, d);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* A proxy taken out of a queue leaves the server with the reply: its
 * referent waits for the getter's incref until the getter's next
 * request, parked get or not. */
static void test_queue_item_proxy_lives_until_the_getter_registers_it(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1];
    char q[32], l1[32], l2[32];
    MK(&f, "Queue", NULL, NULL, q);
    MK(&f, "list", NULL, NULL, l1);
    MK(&f, "list", NULL, NULL, l2);
    RET(&f, a, q, "put", T(1, md_list_new(0)), NULL, "None");
    /* q.put([p]): nested in a plain list */
    md_val *box = md_list_new(0);
    md_val *p1 = PROXY("ListProxy", "list", l1);
    md_list_append(box, p1);
    md_decref(p1);
    RET(&f, a, q, "put", T(1, box), NULL, "None");
    drop(&f, l1);
    CU_ASSERT_TRUE(exists(&f, l1));
    RET(&f, b, q, "get", NULL, NULL, "[]");
    send(&f, b, q, "get", NULL, NULL);
    md_val *got = NULL;
    CU_ASSERT_EQUAL(md_th_take(f.th, b, &got), MD_OUT_RETURN);
    md_decref(got);
    /* out of the queue, held for b */
    CU_ASSERT_TRUE(exists(&f, l1));
    /* b's RebuildProxy increfs it, then b calls again: b's count keeps it */
    md_val *id = T(1, S(l1));
    CU_ASSERT_EQUAL(md_th_server_call(f.th, "incref", id), MD_OUT_RETURN);
    md_val *r = NULL;
    md_th_take(f.th, NULL, &r);
    md_decref(r);
    md_decref(id);
    RET(&f, b, q, "qsize", NULL, NULL, "0");
    CU_ASSERT_TRUE(exists(&f, l1));
    drop(&f, l1);
    CU_ASSERT_FALSE(exists(&f, l1));
    /* a parked getter, and a getter that never increfs */
    PARKS(&f, b, q, "get", NULL, NULL);
    RET(&f, a, q, "put", T(1, PROXY("ListProxy", "list", l2)), NULL, "None");
    drop(&f, l2);
    CU_ASSERT_EQUAL(md_th_take(f.th, b, &got), MD_OUT_RETURN);
    md_decref(got);
    CU_ASSERT_TRUE(exists(&f, l2));
    RET(&f, b, q, "qsize", NULL, NULL, "0");
    CU_ASSERT_FALSE(exists(&f, l2));
    drop(&f, q);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* ======================================================================
 * Barrier
 * ====================================================================== */

static void test_barrier_three_parties(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK_FAILS(&f, "Barrier", T(1, I(0)), NULL, "ValueError: parties must be > 0");
    MK_FAILS(&f, "Barrier", NULL, NULL, "TypeError");
    MK_FAILS(&f, "Barrier", T(2, I(2), md_global_new("__main__", "action")), NULL,
             "ValueError: managerd never runs client code");
    MK(&f, "Barrier", T(3, I(3), NONE, NONE), NULL, id);
    REPR(&f, id, "<threading.Barrier at 0x%s: waiters=0/3>");
    RET(&f, a, id, "__getattribute__", T(1, S("parties")), NULL, "3");
    RET(&f, a, id, "__getattribute__", T(1, S("n_waiting")), NULL, "0");
    RET(&f, a, id, "__getattribute__", T(1, S("broken")), NULL, "False");
    RET(&f, a, id, "__getattribute__", T(1, S("_timeout")), NULL, "None");
    ERR(&f, a, id, "__getattribute__", T(1, S("x")), NULL, "builtins", "AttributeError",
        "(\"'Barrier' object has no attribute 'x'\",)");
    ERR(&f, a, id, "__getattribute__", T(1, I(1)), NULL, "builtins", "TypeError",
        "(\"attribute name must be string, not 'int'\",)");
    for (int round = 0; round < 2; round++) {
        PARKS(&f, b, id, "wait", NULL, NULL);
        PARKS(&f, a, id, "wait", T(1, I(60)), NULL);
        RET(&f, c, id, "__getattribute__", T(1, S("n_waiting")), NULL, "2");
        REPR(&f, id, "<threading.Barrier at 0x%s: waiters=2/3>");
        RET(&f, c, id, "wait", NULL, NULL, "2");
        GOT(&f, b, "0");
        GOT(&f, a, "1");
        RET(&f, c, id, "__getattribute__", T(1, S("n_waiting")), NULL, "0");
    }
    /* a party that vanishes leaves; the others keep their order */
    PARKS(&f, a, id, "wait", NULL, NULL);
    PARKS(&f, b, id, "wait", NULL, NULL);
    md_th_close_peer(f.th, a);
    RET(&f, c, id, "__getattribute__", T(1, S("n_waiting")), NULL, "1");
    PARKS(&f, c, id, "wait", NULL, NULL);
    RET(&f, f.p[3], id, "wait", NULL, NULL, "2");
    GOT(&f, b, "0");
    GOT(&f, c, "1");
    drop(&f, id);
    /* one party: never waits */
    MK(&f, "Barrier", T(1, I(1)), NULL, id);
    RET(&f, b, id, "wait", NULL, NULL, "0");
    RET(&f, b, id, "wait", T(1, I(0)), NULL, "0");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

static void test_barrier_timeout_abort_and_reset(void)
{
    md_fx f;
    md_fx_init(&f);
    md_peer *a = f.p[0], *b = f.p[1], *c = f.p[2];
    char id[32];
    MK(&f, "Barrier", T(1, I(3)), NULL, id);
    /* one waiter's timeout breaks the barrier for every waiter */
    PARKS(&f, a, id, "wait", T(1, F(0.05)), NULL);
    PARKS(&f, b, id, "wait", NULL, NULL);
    run(&f, PAST_TIMEOUTS);
    GOT_ERR(&f, a, "threading", "BrokenBarrierError", "()");
    GOT_ERR(&f, b, "threading", "BrokenBarrierError", "()");
    RET(&f, c, id, "__getattribute__", T(1, S("broken")), NULL, "True");
    RET(&f, c, id, "__getattribute__", T(1, S("n_waiting")), NULL, "0");
    REPR(&f, id, "<threading.Barrier at 0x%s: broken>");
    ERR(&f, c, id, "wait", NULL, NULL, "threading", "BrokenBarrierError", "()");
    RET(&f, c, id, "reset", NULL, NULL, "None");
    RET(&f, c, id, "__getattribute__", T(1, S("broken")), NULL, "False");
    /* reset while parties wait: they get BrokenBarrierError, the barrier
     * stays usable */
    PARKS(&f, a, id, "wait", NULL, NULL);
    RET(&f, c, id, "reset", NULL, NULL, "None");
    GOT_ERR(&f, a, "threading", "BrokenBarrierError", "()");
    RET(&f, c, id, "__getattribute__", T(1, S("broken")), NULL, "False");
    PARKS(&f, a, id, "wait", NULL, NULL);
    PARKS(&f, b, id, "wait", NULL, NULL);
    RET(&f, c, id, "wait", NULL, NULL, "2");
    GOT(&f, a, "0");
    GOT(&f, b, "1");
    /* abort breaks it */
    PARKS(&f, a, id, "wait", NULL, NULL);
    RET(&f, c, id, "abort", NULL, NULL, "None");
    GOT_ERR(&f, a, "threading", "BrokenBarrierError", "()");
    ERR(&f, b, id, "wait", NULL, NULL, "threading", "BrokenBarrierError", "()");
    RET(&f, c, id, "reset", NULL, NULL, "None");
    /* a timeout <= 0 breaks it at once */
    PARKS(&f, a, id, "wait", NULL, NULL);
    ERR(&f, b, id, "wait", T(1, I(0)), NULL, "threading", "BrokenBarrierError", "()");
    GOT_ERR(&f, a, "threading", "BrokenBarrierError", "()");
    ERR(&f, b, id, "wait", T(1, S("x")), NULL, "builtins", "TypeError",
        "(\"unsupported operand type(s) for +: 'float' and 'str'\",)");
    drop(&f, id);
    /* the constructor's timeout is the default for wait() */
    MK(&f, "Barrier", T(3, I(2), NONE, F(0.05)), NULL, id);
    RET(&f, a, id, "__getattribute__", T(1, S("_timeout")), NULL, "0.05");
    PARKS(&f, a, id, "wait", NULL, NULL);
    run(&f, PAST_TIMEOUTS);
    GOT_ERR(&f, a, "threading", "BrokenBarrierError", "()");
    RET(&f, a, id, "reset", NULL, NULL, "None");
    /* an explicit timeout overrides it */
    PARKS(&f, a, id, "wait", T(1, I(60)), NULL);
    run(&f, PAST_TIMEOUTS);
    NOTHING(&f, a);
    RET(&f, b, id, "wait", NULL, NULL, "1");
    GOT(&f, a, "0");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* ======================================================================
 * Captured requests, replayed
 * ====================================================================== */

static bool contains(const uint8_t *data, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; data && i + k <= n; i++)
        if (memcmp(data + i, needle, k) == 0)
            return true;
    return false;
}

/* Send the captured request "<step>.request.bin" to our object, from a
 * peer of that capture's protocol, and check the reply: the same kind,
 * an exception of the same class and args, and our encoding of it
 * naming the class as that family can import it (wire_name). */
static void replay_at(md_fx *f, const char *step, const char *ident, const char *wire_name, int line)
{
    char name[128];
    int protocol = 0;
    snprintf(name, sizeof name, "%s.request.bin", step);
    md_val *req = md_ts_fixture(name, &protocol);
    snprintf(name, sizeof name, "%s.reply.bin", step);
    md_val *rep = md_ts_fixture(name, NULL);
    CHECK_AT(req && rep, line);
    if (req && rep) {
        md_peer *peer = md_th_peer(f->th, protocol);
        md_val *p = NULL;
        md_th_call(f->th, peer, ident, md_str_data(md_tuple_get(req, 1)), md_tuple_get(req, 2),
                   md_tuple_get(req, 3));
        int kind = md_th_take(f->th, peer, &p);
        if (kind == MD_OUT_NONE) {
            run(f, 0.5); /* the barrier-timeout capture waits 0.2 s */
            kind = md_th_take(f->th, peer, &p);
        }
        md_val *want = md_tuple_get(rep, 1);
        md_pyerr e;
        md_pyerr_clear(&e);
        bool ok = md_str_eq_cstr(md_tuple_get(rep, 0), md_out_kind_text(kind)) && p &&
                  md_typeof(p) == MD_T_EXC && md_typeof(want) == MD_T_EXC &&
                  strcmp(md_global_name(md_exc_class(p)), md_global_name(md_exc_class(want))) == 0 &&
                  md_val_eq(md_exc_args(p), md_exc_args(want), &e) == 1;
        if (!ok) {
            fprintf(stderr, "\n    line %d: replay of %s gave kind %d ", line, step, kind);
            md_ts_repr_is(p, "(the captured reply)");
        }
        CHECK_AT(ok, line);
        /* how our reply is written for this family */
        md_val *kindstr = S(md_out_kind_text(kind));
        md_val *msg = p ? md_tuple_pack(2, kindstr, p) : NULL;
        md_buf out = MD_BUF_INIT;
        md_pickle_err err;
        bool named = msg && md_pickle_encode(msg, protocol, &out, &err) == 0 &&
                     contains(out.data, out.len, wire_name);
        if (!named)
            fprintf(stderr, "\n    line %d: %s: encoding lacks %s\n", line, step, wire_name);
        CHECK_AT(named, line);
        md_buf_free(&out);
        md_decref(msg);
        md_decref(kindstr);
        md_decref(p);
    }
    md_decref(req);
    md_decref(rep);
}
#define REPLAY(f, step, ident, wire_name) replay_at(f, step, ident, wire_name, __LINE__)

static void test_sync_replays_captured_requests(void)
{
    md_fx f;
    md_fx_init(&f);
    char id[32];
    MK(&f, "Queue", NULL, NULL, id);
    REPLAY(&f, "py27-queue-empty", id, "cQueue\nEmpty\n");
    REPLAY(&f, "py37-queue-empty", id, "queue\nEmpty\n");
    REPLAY(&f, "py311-queue-empty", id, "\x8c\x06_queue");
    REPLAY(&f, "py312-queue-empty", id, "\x8c\x06_queue");
    REPLAY(&f, "py313-queue-empty", id, "\x8c\x05" "Empty");
    drop(&f, id);
    MK(&f, "Lock", NULL, NULL, id);
    REPLAY(&f, "py27-lock-release-unlocked", id, "cthread\nerror\n");
    REPLAY(&f, "py312-lock-release-unlocked", id, "RuntimeError");
    drop(&f, id);
    MK(&f, "RLock", NULL, NULL, id);
    REPLAY(&f, "py27-rlock-release-unowned", id, "cexceptions\nRuntimeError\n");
    REPLAY(&f, "py312-rlock-release-unowned", id, "\x8c\x08" "builtins");
    drop(&f, id);
    MK(&f, "Barrier", T(1, I(2)), NULL, id);
    REPLAY(&f, "py312-barrier-timeout", id, "\x8c\x12" "BrokenBarrierError");
    drop(&f, id);
    CU_ASSERT_EQUAL(nobj(&f), 0);
    md_th_free(f.th);
}

/* ======================================================================
 * Out of memory anywhere
 * ====================================================================== */

/* A peer that only counts its replies: the harness's own peers need
 * memory to record them, and this test takes memory away. */
typedef struct rec_peer {
    md_peer base;
    size_t nreplies;
} rec_peer;

static void rec_deliver(md_peer *peer, int kind, md_val *payload)
{
    (void)kind;
    ((rec_peer *)peer)->nreplies++;
    md_decref(payload);
}

static const md_peer_ops rec_ops = {.deliver = rec_deliver};

/* A request (ident, method, args, {}); args stolen. */
static md_val *REQ(const char *ident, const char *method, md_val *args)
{
    return T(4, S(ident), S(method), args ? args : md_tuple_new(0), md_dict_new());
}

enum { OOM_PEERS = 8 };

typedef struct oom_step {
    int peer;
    int obj;                       /* index into the object idents */
    const char *method;
} oom_step;

/* Recording peers for a sweep; may_carry: as a transport sets it for
 * requests that name RebuildProxy. */
static void rec_peers_init(rec_peer *peers, md_server *srv, bool may_carry)
{
    for (int i = 0; i < OOM_PEERS; i++) {
        memset(&peers[i], 0, sizeof peers[i]);
        md_peer_init(&peers[i].base, &rec_ops, srv);
        peers[i].base.protocol = 4;
        peers[i].base.may_carry_proxies = may_carry;
    }
}

/* Send each step's request from its peer with the nth allocation
 * failing; true when nothing failed. */
static bool run_failing(md_server *srv, rec_peer *peers, md_val *const *reqs,
                        const oom_step *steps, size_t nsteps, long n)
{
    unsigned long before = md_alloc_failures();
    md_alloc_fail_after(n);
    for (size_t i = 0; i < nsteps; i++) {
        md_peer *p = &peers[steps[i].peer].base;
        /* as a transport does: nothing more is read while parked */
        if (!p->parked)
            md_disp_request(srv, p, reqs[i], true);
    }
    md_alloc_fail_after(-1);
    return md_alloc_failures() == before;
}

/* Each peer got want[i] replies. */
static void check_replies(const rec_peer *peers, const size_t *want)
{
    for (int i = 0; i < OOM_PEERS; i++)
        CU_ASSERT_EQUAL(peers[i].nreplies, want[i]);
}

static void rec_peers_close(rec_peer *peers, md_val **reqs, size_t nsteps)
{
    for (int i = 0; i < OOM_PEERS; i++)
        md_peer_close(&peers[i].base);
    for (size_t i = 0; i < nsteps; i++)
        md_decref(reqs[i]);
}

/* One run of a sweep: the requests sent with the nth allocation failing,
 * then every peer gone and the requests freed. When nothing failed, each
 * peer got want[i] replies and the peers listed in parked (ended by -1)
 * were still parked. Returns true when nothing failed. */
static bool sweep_once(md_server *srv, md_val **reqs, const oom_step *steps, size_t nsteps,
                       long n, bool may_carry, const size_t *want, const int *parked)
{
    rec_peer peers[OOM_PEERS];
    rec_peers_init(peers, srv, may_carry);
    bool completed = run_failing(srv, peers, reqs, steps, nsteps, n);
    if (completed) {
        check_replies(peers, want);
        for (const int *i = parked; *i >= 0; i++)
            CU_ASSERT_PTR_NOT_NULL(peers[*i].base.parked);
    }
    rec_peers_close(peers, reqs, nsteps);
    return completed;
}

/* A Lock a vanished peer took stays taken: release it, whoever has it. */
static void release_lock(md_fx *f, md_peer *q, const char *ident)
{
    send(f, q, ident, "release", NULL, NULL);
    md_val *rel = NULL;
    md_th_take(f->th, q, &rel);
    md_decref(rel);
}

/* Blocking calls parked, completed, timed out and abandoned on every
 * type, with the Nth allocation failing for every N: whatever fails
 * fails cleanly (MemoryError or a dropped reply), and once memory is
 * back and the peers are gone every object is free and usable. */
static void test_sync_survives_allocation_failures(void)
{
    static const char *const typeids[] = {"Lock", "RLock", "Condition", "Queue", "Semaphore",
                                          "Event", "Barrier"};
    enum { LOCK, RLOCK, COND, QUEUE, SEM, EVENT, BARRIER, NOBJ };
    static const oom_step steps[] = {
        {0, LOCK, "acquire"},   {1, LOCK, "acquire"},   {2, RLOCK, "acquire"},
        {2, RLOCK, "acquire"},  {3, RLOCK, "acquire"},  {4, COND, "acquire"},
        {4, COND, "wait"},      {5, COND, "acquire"},   {5, COND, "notify"},
        {5, COND, "release"},   {6, QUEUE, "get"},      {7, QUEUE, "put"},
        {7, QUEUE, "put"},      {7, SEM, "release"},    {0, LOCK, "release"},
        {2, RLOCK, "release"},  {7, EVENT, "set"},      {7, BARRIER, "wait"},
    };
    size_t nsteps = sizeof steps / sizeof steps[0];
    bool completed = false;
    for (long n = 0; n < 2000 && !completed; n++) {
        md_fx f;
        md_fx_init(&f);
        md_server *srv = md_th_server(f.th);
        char ids[NOBJ][32];
        for (int i = 0; i < NOBJ; i++)
            MK(&f, typeids[i], i == BARRIER ? T(1, I(2)) : NULL, NULL, ids[i]);
        md_val *reqs[sizeof steps / sizeof steps[0]];
        for (size_t i = 0; i < nsteps; i++) {
            md_val *args = NULL;
            if (steps[i].obj == QUEUE && strcmp(steps[i].method, "put") == 0)
                args = T(1, T(2, S("item"), I((int64_t)i)));
            else if (steps[i].obj == COND && strcmp(steps[i].method, "wait") == 0)
                args = T(1, I(60));
            reqs[i] = REQ(ids[steps[i].obj], steps[i].method, args);
        }
        /* the run without a failure goes as planned: the parked calls
         * are completed by the later steps, except peer 3's RLock
         * acquire (the owner is one level deep still) and peer 7's
         * Barrier wait (1 of 2 parties) */
        static const size_t want[OOM_PEERS] = {2, 1, 3, 0, 2, 3, 1, 4};
        static const int parked[] = {3, 7, -1};
        completed = sweep_once(srv, reqs, steps, nsteps, n, false, want, parked);
        /* everything let go: the owned locks are free, the objects
         * work; the Lock stays taken if a vanished peer took it */
        md_peer *q = f.p[0];
        release_lock(&f, q, ids[LOCK]);
        RET(&f, q, ids[LOCK], "acquire", T(1, FALSE_), NULL, "True");
        RET(&f, q, ids[RLOCK], "acquire", T(1, FALSE_), NULL, "True");
        RET(&f, q, ids[COND], "acquire", T(1, FALSE_), NULL, "True");
        RET(&f, q, ids[COND], "notify_all", NULL, NULL, "None");
        RET(&f, q, ids[SEM], "release", NULL, NULL, "None");
        RET(&f, q, ids[QUEUE], "put", T(1, I(-1)), NULL, "None");
        RET(&f, q, ids[BARRIER], "reset", NULL, NULL, "None");
        RET(&f, q, ids[BARRIER], "__getattribute__", T(1, S("n_waiting")), NULL, "0");
        REPR_LIKE(&f, ids[COND], "<Condition(<locked _thread.RLock object owner=",
                  " count=1 at 0x%s>, 0)>");
        for (int i = 0; i < NOBJ; i++)
            drop(&f, ids[i]);
        md_th_close_peer(f.th, q);
        CU_ASSERT_EQUAL(nobj(&f), 0);
        md_th_free(f.th);
    }
    CU_ASSERT_TRUE(completed);
}

/* The same with a Condition on a shared Lock and RLock, and proxies that
 * travel through a queue: whatever allocation fails, once the peers are
 * gone and the lock released, the objects work and every one is freed
 * when dropped. */
static void test_shared_locks_and_queued_proxies_survive_allocation_failures(void)
{
    enum { LK, RL, CL, CR, Q, L, BS, CB, NOBJ2 };
    static const oom_step steps[] = {
        {0, CL, "acquire"}, {0, CL, "wait"},    {1, LK, "acquire"}, {1, CL, "notify"},
        {2, CL, "acquire"}, {1, LK, "release"}, {3, RL, "acquire"}, {3, CR, "acquire"},
        {3, CR, "wait"},    {4, CR, "acquire"}, {4, RL, "acquire"}, {4, CR, "notify_all"},
        {4, CR, "release"}, {4, RL, "release"}, {5, Q, "put"},      {6, Q, "get"},
        {6, Q, "qsize"},    {7, CB, "acquire"}, {7, CB, "wait"},    {6, CB, "acquire"},
        {6, CB, "notify"},  {6, CB, "release"},
    };
    size_t nsteps = sizeof steps / sizeof steps[0];
    bool completed = false;
    for (long n = 0; n < 2000 && !completed; n++) {
        md_fx f;
        md_fx_init(&f);
        md_server *srv = md_th_server(f.th);
        char ids[NOBJ2][32];
        MK(&f, "Lock", NULL, NULL, ids[LK]);
        MK(&f, "RLock", NULL, NULL, ids[RL]);
        MK(&f, "Condition", T(1, PROXY("AcquirerProxy", "Lock", ids[LK])), NULL, ids[CL]);
        MK(&f, "Condition", T(1, PROXY("AcquirerProxy", "RLock", ids[RL])), NULL, ids[CR]);
        MK(&f, "Queue", NULL, NULL, ids[Q]);
        MK(&f, "list", NULL, NULL, ids[L]);
        MK(&f, "BoundedSemaphore", NULL, NULL, ids[BS]);
        MK(&f, "Condition", T(1, PROXY("AcquirerProxy", "BoundedSemaphore", ids[BS])), NULL,
           ids[CB]);
        md_val *reqs[sizeof steps / sizeof steps[0]];
        for (size_t i = 0; i < nsteps; i++) {
            md_val *args = NULL;
            if (steps[i].obj == Q && strcmp(steps[i].method, "put") == 0)
                args = T(1, T(1, PROXY("ListProxy", "list", ids[L])));
            else if (strcmp(steps[i].method, "wait") == 0)
                args = T(1, I(60));
            reqs[i] = REQ(ids[steps[i].obj], steps[i].method, args);
        }
        drop(&f, ids[L]);
        /* without a failure: peer 0's wait completes once peer 1
         * releases the Lock; peer 2 waits for the Lock peer 0 holds;
         * peer 3's wait completes when peer 4 lets the RLock go; the
         * list goes through the queue; peer 7's wait on the semaphore
         * completes when peer 6 releases it */
        static const size_t want[OOM_PEERS] = {2, 3, 0, 3, 5, 1, 5, 2};
        static const int parked[] = {2, -1};
        completed = sweep_once(srv, reqs, steps, nsteps, n, true, want, parked);
        md_peer *q = f.p[0];
        release_lock(&f, q, ids[LK]);
        RET(&f, q, ids[CL], "acquire", T(1, FALSE_), NULL, "True");
        RET(&f, q, ids[LK], "acquire", T(1, FALSE_), NULL, "False");
        RET(&f, q, ids[CL], "notify_all", NULL, NULL, "None");
        RET(&f, q, ids[LK], "release", NULL, NULL, "None");
        RET(&f, q, ids[RL], "acquire", T(1, FALSE_), NULL, "True");
        RET(&f, q, ids[CR], "notify", NULL, NULL, "None");
        RET(&f, q, ids[CR], "release", NULL, NULL, "None");
        /* a BoundedSemaphore(1) a vanished peer took stays taken too */
        release_lock(&f, q, ids[BS]);
        RET(&f, q, ids[CB], "acquire", T(1, FALSE_), NULL, "True");
        RET(&f, q, ids[CB], "notify_all", NULL, NULL, "None");
        RET(&f, q, ids[CB], "release", NULL, NULL, "None");
        for (int i = 0; i < NOBJ2; i++)
            if (i != L)
                drop(&f, ids[i]);
        md_th_close_peer(f.th, q);
        CU_ASSERT_EQUAL(nobj(&f), 0);
        for (int i = 0; i < NOBJ2; i++)
            CU_ASSERT_PTR_NULL(md_server_find(srv, ids[i]));
        md_th_free(f.th);
    }
    CU_ASSERT_TRUE(completed);
}

/* ======================================================================
 * Registration
 * ====================================================================== */

void md_test_register_types_sync(void);

void md_test_register_types_sync(void)
{
    CU_pSuite s = md_test_suite("types_sync");
    MD_ADD_TEST(s, test_sync_exposed_tuples_match_cpython);
    MD_ADD_TEST(s, test_sync_objects_are_unpicklable);
    MD_ADD_TEST(s, test_queue_put_get_and_counts);
    MD_ADD_TEST(s, test_queue_ring_keeps_order_across_wrap_and_growth);
    MD_ADD_TEST(s, test_queue_maxsize_full_and_constructor);
    MD_ADD_TEST(s, test_queue_blocking_get_completed_by_put_from_another_peer);
    MD_ADD_TEST(s, test_queue_parked_getters_and_putters_are_served_in_arrival_order);
    MD_ADD_TEST(s, test_queue_timeouts_raise_empty_and_full);
    MD_ADD_TEST(s, test_queue_peer_closing_while_parked_loses_nothing);
    MD_ADD_TEST(s, test_queue_join_waits_for_every_task_done);
    MD_ADD_TEST(s, test_queue_shutdown);
    MD_ADD_TEST(s, test_queue_thousand_parked_getters);
    MD_ADD_TEST(s, test_queue_thousand_timeouts);
    MD_ADD_TEST(s, test_event_set_wakes_every_waiter);
    MD_ADD_TEST(s, test_event_thousand_waiters);
    MD_ADD_TEST(s, test_lock_acquire_release_and_messages);
    MD_ADD_TEST(s, test_lock_blocking_acquire_and_timeout);
    MD_ADD_TEST(s, test_lock_stays_held_when_its_holder_vanishes);
    MD_ADD_TEST(s, test_bounded_semaphore_stays_taken_when_its_holder_vanishes);
    MD_ADD_TEST(s, test_lock_dropped_by_its_clients_while_held);
    MD_ADD_TEST(s, test_rlock_owner_depth_and_messages);
    MD_ADD_TEST(s, test_rlock_released_when_its_owner_vanishes);
    MD_ADD_TEST(s, test_semaphore_counts_and_messages);
    MD_ADD_TEST(s, test_semaphore_release_wakes_waiters_in_order);
    MD_ADD_TEST(s, test_condition_ownership_messages);
    MD_ADD_TEST(s, test_condition_wait_notify_reacquires_at_saved_depth);
    MD_ADD_TEST(s, test_condition_notify_n_and_notify_all);
    MD_ADD_TEST(s, test_condition_timeout_returns_false_after_reacquiring);
    MD_ADD_TEST(s, test_condition_vanished_waiters_and_owners);
    MD_ADD_TEST(s, test_condition_on_a_shared_lock);
    MD_ADD_TEST(s, test_condition_on_a_shared_rlock);
    MD_ADD_TEST(s, test_condition_on_a_shared_semaphore);
    MD_ADD_TEST(s, test_condition_refuses_other_locks);
    MD_ADD_TEST(s, test_proxy_in_keyword_arguments_kept_alive);
    MD_ADD_TEST(s, test_proxy_in_a_cycle_counted_once);
    MD_ADD_TEST(s, test_queue_item_proxy_lives_until_the_getter_registers_it);
    MD_ADD_TEST(s, test_barrier_three_parties);
    MD_ADD_TEST(s, test_barrier_timeout_abort_and_reset);
    MD_ADD_TEST(s, test_sync_replays_captured_requests);
    MD_ADD_TEST(s, test_sync_survives_allocation_failures);
    MD_ADD_TEST(s, test_shared_locks_and_queued_proxies_survive_allocation_failures);
}
