/* test_introspect.c - the #managerd.* requests (core/disp/introspect.c): only
 * on short connections, bounded replies, counters that follow the
 * requests made, parked calls shown with their timeout. */
#include "tests/unit/unit.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/disp/introspect.h"
#include "core/base/limits.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

/* The rows (borrowed list) of the section called name in reply, or NULL. */
static md_val *section_rows(const md_val *reply, const char *name)
{
    if (!reply || md_typeof(reply) != MD_T_LIST)
        return NULL;
    for (size_t i = 0; i < md_list_len(reply); i++) {
        md_val *sec = md_list_get(reply, i);
        if (md_str_eq_cstr(md_tuple_get(sec, 0), name))
            return md_tuple_get(sec, 2);
    }
    return NULL;
}

static md_val *ask(md_th *th, const char *request, md_val *args)
{
    md_val *reply = NULL;
    int kind = md_th_server_call(th, request, args);
    md_th_take(th, NULL, &reply);
    CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
    return reply;
}

static int64_t cell_i64(const md_val *row, size_t i)
{
    int64_t v = -1;
    md_int_to_i64(md_tuple_get(row, i), &v);
    return v;
}

/* requests and errors of (type, method) in a stats reply. */
static void method_counts(const md_val *stats, const char *type, const char *method,
                          int64_t *requests, int64_t *errors)
{
    md_val *rows = section_rows(stats, "requests");
    *requests = *errors = 0;
    for (size_t i = 0; rows && i < md_list_len(rows); i++) {
        md_val *r = md_list_get(rows, i);
        if (md_str_eq_cstr(md_tuple_get(r, 0), type) && md_str_eq_cstr(md_tuple_get(r, 1), method)) {
            *requests = cell_i64(r, 2);
            *errors = cell_i64(r, 3);
        }
    }
}

static void test_introspect_stats_count_requests_and_errors(void)
{
    md_th *th = md_th_new();
    md_peer *p = md_th_peer(th, 4);
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "dict", NULL, NULL, id), MD_OUT_RETURN);
    md_val *before = ask(th, "#managerd.stats", NULL);
    int64_t req0, err0, req1, err1;
    method_counts(before, "dict", "__getitem__", &req0, &err0);
    md_val *out = NULL;
    for (int i = 0; i < 3; i++) {
        md_val *args = md_th_tuple(2, md_str_from_cstr("k"), md_int_from_i64(i));
        md_th_call_take(th, p, id, "__setitem__", args, NULL, &out);
        md_decref(out);
        md_decref(args);
    }
    md_val *missing = md_th_tuple(1, md_str_from_cstr("nope"));
    CU_ASSERT_EQUAL(md_th_call_take(th, p, id, "__getitem__", missing, NULL, &out), MD_OUT_ERROR);
    md_decref(out);
    md_decref(missing);
    md_val *after = ask(th, "#managerd.stats", NULL);
    method_counts(after, "dict", "__getitem__", &req1, &err1);
    CU_ASSERT_EQUAL(req1 - req0, 1);
    CU_ASSERT_EQUAL(err1 - err0, 1);
    method_counts(after, "dict", "__setitem__", &req1, &err1);
    CU_ASSERT(req1 >= 3);
    md_val *types = section_rows(after, "objects_by_type");
    CU_ASSERT_PTR_NOT_NULL_FATAL(types);
    CU_ASSERT_EQUAL(md_list_len(types), 1);
    CU_ASSERT(md_ts_repr_is(md_list_get(types, 0), "('dict', 1)"));
    md_decref(before);
    md_decref(after);
    md_th_free(th);
}

static void test_introspect_objects_reply_is_bounded(void)
{
    md_th *th = md_th_new();
    char id[32];
    size_t total = MD_INTROSPECT_MAX_ROWS + 3;
    for (size_t i = 0; i < total; i++)
        CU_ASSERT_EQUAL_FATAL(md_th_create(th, "list", NULL, NULL, id), MD_OUT_RETURN);
    md_val *reply = ask(th, "#managerd.objects", NULL);
    md_val *rows = section_rows(reply, "objects");
    md_val *count = section_rows(reply, "count");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_PTR_NOT_NULL_FATAL(count);
    CU_ASSERT_EQUAL(md_list_len(rows), MD_INTROSPECT_MAX_ROWS);
    CU_ASSERT_EQUAL(cell_i64(md_list_get(count, 0), 1), (int64_t)total);
    md_decref(reply);
    md_th_free(th);
}

static void test_introspect_show_cuts_a_long_repr(void)
{
    md_th *th = md_th_new();
    char id[32];
    static char big[MD_INTROSPECT_SHOW_BYTES * 2];
    memset(big, 'x', sizeof big - 1);
    md_val *items = md_th_tuple(1, md_list_new(0));
    md_list_append_steal(md_tuple_get(items, 0), md_str_from_cstr(big));
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "list", items, NULL, id), MD_OUT_RETURN);
    md_decref(items);
    md_val *args = md_th_tuple(1, md_str_from_cstr(id));
    md_val *reply = ask(th, "#managerd.show", args);
    md_val *rows = section_rows(reply, "object");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    md_val *repr = md_tuple_get(md_list_get(rows, 0), 5);
    const char *text = md_str_data(repr);
    size_t n = strlen(text);
    CU_ASSERT(n <= MD_INTROSPECT_SHOW_BYTES + 3);
    CU_ASSERT(n > 1000 && strcmp(text + n - 3, "...") == 0);
    CU_ASSERT_EQUAL(cell_i64(md_list_get(rows, 0), 4), 1); /* size: one item */
    md_decref(reply);
    md_decref(args);
    md_th_free(th);
}

static void test_introspect_waiters_show_the_parked_call(void)
{
    md_th *th = md_th_new();
    md_peer *p = md_th_peer(th, 4);
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "Queue", NULL, NULL, id), MD_OUT_RETURN);
    md_val *args = md_th_tuple(2, md_bool(true), md_float_new(30));
    md_th_call(th, p, id, "get", args, NULL);
    md_decref(args);
    md_val *reply = ask(th, "#managerd.waiters", NULL);
    md_val *rows = section_rows(reply, "waiters");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL_FATAL(md_list_len(rows), 1);
    md_val *row = md_list_get(rows, 0);
    CU_ASSERT(md_str_eq_cstr(md_tuple_get(row, 1), id));
    CU_ASSERT(md_str_eq_cstr(md_tuple_get(row, 3), "get"));
    md_val *t = md_tuple_get(row, 6);
    double timeout = md_typeof(t) == MD_T_FLOAT ? md_float_get(t) : 0;
    CU_ASSERT(timeout > 29.99 && timeout < 30.01);
    md_decref(reply);
    md_th_close_peer(th, p);
    reply = ask(th, "#managerd.waiters", NULL);
    rows = section_rows(reply, "waiters");
    CU_ASSERT(rows && md_list_len(rows) == 0);
    md_decref(reply);
    md_th_free(th);
}

static void test_introspect_requests_only_on_short_connections(void)
{
    md_th *th = md_th_new();
    md_peer *p = md_th_peer(th, 4);
    md_val *out = NULL;
    /* on a long connection it is a call on an object named None */
    CU_ASSERT_EQUAL(md_th_call_take(th, p, "0", "#managerd.stats", NULL, NULL, &out),
                    MD_OUT_TRACEBACK);
    md_decref(out);
    CU_ASSERT_EQUAL(md_th_server_call(th, "#managerd.nothing", NULL), MD_OUT_TRACEBACK);
    md_th_take(th, NULL, &out);
    md_decref(out);
    md_val *bad = md_th_tuple(2, md_none(), md_str_from_cstr("colour"));
    CU_ASSERT_EQUAL(md_th_server_call(th, "#managerd.objects", bad), MD_OUT_TRACEBACK);
    md_th_take(th, NULL, &out);
    md_decref(out);
    md_decref(bad);
    md_th_free(th);
}

/* Every allocation of each request failing in turn: a MemoryError
 * traceback or a full reply, never a crash or a leak (valgrind, ASan). */
static void test_introspect_requests_survive_every_allocation_failure(void)
{
    static const char *const requests[] = {"#managerd.stats", "#managerd.objects",
                                           "#managerd.clients", "#managerd.waiters"};
    md_th *th = md_th_new();
    md_peer *p = md_th_peer(th, 4);
    char id[32];
    CU_ASSERT_EQUAL_FATAL(md_th_create(th, "Queue", NULL, NULL, id), MD_OUT_RETURN);
    md_th_call(th, p, id, "get", NULL, NULL);
    md_val *noargs = md_tuple_new(0);
    for (size_t r = 0; r < sizeof requests / sizeof *requests; r++) {
        md_val *method = md_str_from_cstr(requests[r]);
        bool completed = false;
        for (long n = 0; n < 5000 && !completed; n++) {
            md_call call;
            memset(&call, 0, sizeof call);
            call.server = md_th_server(th);
            call.peer = p;
            call.protocol = 4;
            unsigned long before = md_alloc_failures();
            md_alloc_fail_after(n);
            md_introspect_serve(&call, method, noargs);
            md_alloc_fail_after(-1);
            completed = md_alloc_failures() == before;
            /* a reply, or MemoryError as a traceback or an exception */
            CU_ASSERT(call.out_kind == MD_OUT_RETURN || call.out_kind == MD_OUT_TRACEBACK ||
                      call.out_kind == MD_OUT_ERROR);
            CU_ASSERT(!completed || (call.out_kind == MD_OUT_RETURN && call.out_value));
            md_decref(call.out_value);
        }
        CU_ASSERT(completed);
        md_decref(method);
    }
    md_decref(noargs);
    md_buf b = MD_BUF_INIT;
    bool completed = false;
    for (long n = 0; n < 5000 && !completed; n++) {
        unsigned long before = md_alloc_failures();
        md_buf_reset(&b);
        md_alloc_fail_after(n);
        int rc = md_stats_prometheus(md_th_server(th), &b);
        md_alloc_fail_after(-1);
        completed = md_alloc_failures() == before;
        CU_ASSERT(rc == 0 || !completed);
    }
    CU_ASSERT(completed);
    md_buf_free(&b);
    md_th_free(th);
}

void md_test_register_introspect(void)
{
    CU_pSuite s = md_test_suite("introspect");
    MD_ADD_TEST(s, test_introspect_stats_count_requests_and_errors);
    MD_ADD_TEST(s, test_introspect_objects_reply_is_bounded);
    MD_ADD_TEST(s, test_introspect_show_cuts_a_long_repr);
    MD_ADD_TEST(s, test_introspect_waiters_show_the_parked_call);
    MD_ADD_TEST(s, test_introspect_requests_only_on_short_connections);
    MD_ADD_TEST(s, test_introspect_requests_survive_every_allocation_failure);
}
