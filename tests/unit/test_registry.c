/* test_registry.c - the registry of built-in shared types
 * (core/types/registry.c): every SyncManager typeid is registered; the
 * exposed tuple create() returns and the names get_methods answers are
 * the ones CPython's server gives (recorded below from the tables as they
 * were before the exposed tuples were derived from the method tables);
 * the "is not in exposed" message lists them in the same order; and for
 * every type of the table, a new one too, the exposed tuple follows the
 * method rows. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/server_impl.h"
#include "core/protocol/protocol.h"
#include "core/types/registry.h"
#include "serializers/pickle.h"
#include "tests/unit/harness.h"
#include "tests/unit/support.h"

/* Each typeid with constructor arguments that make one, the exposed
 * tuple create() returns and get_methods' answer (its distinct names;
 * NULL: the same as the exposed tuple). */
typedef struct recorded {
    const char *typeid;
    const char *exposed;
    const char *methods;
} recorded;

#define QUEUE_NAMES                                                                            \
    "('empty', 'full', 'get', 'get_nowait', 'join', 'put', 'put_nowait', 'qsize', 'shutdown', " \
    "'task_done')"
#define LOCK_NAMES "('acquire', 'release')"
#define DICT_NAMES                                                                             \
    "('__contains__', '__delitem__', '__getitem__', '__iter__', '__len__', '__setitem__', "   \
    "'clear', 'copy', 'get', 'has_key', 'items', 'keys', 'pop', 'popitem', 'setdefault', "    \
    "'update', 'values', '__ior__', '__or__', '__reversed__', '__ror__', 'fromkeys'"

static const recorded today[] = {
    {"Queue", QUEUE_NAMES, NULL},
    {"JoinableQueue", QUEUE_NAMES, NULL},
    {"Event", "('is_set', 'set', 'clear', 'wait')", NULL},
    {"Lock", LOCK_NAMES, NULL},
    {"RLock", LOCK_NAMES, NULL},
    {"Semaphore", LOCK_NAMES, NULL},
    {"BoundedSemaphore", LOCK_NAMES, NULL},
    {"Condition", "('acquire', 'release', 'wait', 'notify', 'notify_all')", NULL},
    {"Barrier", "('__getattribute__', 'wait', 'abort', 'reset')", NULL},
    {"list",
     "('__add__', '__contains__', '__delitem__', '__delslice__', '__getitem__', "
     "'__getslice__', '__len__', '__mul__', '__reversed__', '__rmul__', '__setitem__', "
     "'__setslice__', 'append', 'count', 'extend', 'index', 'insert', 'pop', 'remove', "
     "'reverse', 'sort', '__imul__', 'clear', 'copy')",
     NULL},
    /* method_to_typeid's '__iter__' comes again at the end, as CPython's
     * create() appends it; get_methods answers each name once. */
    {"dict", DICT_NAMES ", '__iter__')", DICT_NAMES ")"},
    {"set",
     "('__and__', '__class_getitem__', '__contains__', '__iand__', '__ior__', '__isub__', "
     "'__iter__', '__ixor__', '__len__', '__or__', '__rand__', '__ror__', '__rsub__', "
     "'__rxor__', '__sub__', '__xor__', '__ge__', '__gt__', '__le__', '__lt__', 'add', "
     "'clear', 'copy', 'difference', 'difference_update', 'discard', 'intersection', "
     "'intersection_update', 'isdisjoint', 'issubset', 'issuperset', 'pop', 'remove', "
     "'symmetric_difference', 'symmetric_difference_update', 'union', 'update')",
     NULL},
    {"Value", "('get', 'set')", NULL},
    {"Array", "('__len__', '__getitem__', '__setitem__', '__getslice__', '__setslice__')", NULL},
    {"Namespace", "('__getattribute__', '__setattr__', '__delattr__')", NULL},
    {"Iterator", "('__next__', 'next', 'send', 'throw', 'close')", NULL},
};

enum { NRECORDED = sizeof today / sizeof today[0] };

/* Constructor arguments that make one object of typeid (new), or NULL
 * for none. */
static md_val *ctor_args(const char *typeid)
{
    if (strcmp(typeid, "Barrier") == 0)
        return md_th_tuple(1, md_th_int(2));
    if (strcmp(typeid, "Value") == 0)
        return md_th_tuple(2, md_th_str("i"), md_th_int(7));
    if (strcmp(typeid, "Array") == 0)
        return md_th_tuple(2, md_th_str("i"), md_th_list(1, md_th_int(7)));
    if (strcmp(typeid, "Iterator") == 0)
        return md_th_tuple(1, md_th_list(1, md_th_int(7)));
    return NULL;
}

/* ---- the type descriptors ------------------------------------------------ */

static void test_registry_exposed_tuples_are_unchanged(void)
{
    for (size_t i = 0; i < NRECORDED; i++) {
        const md_type *t = md_reg_builtin_type(today[i].typeid);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_STRING_EQUAL(t->name, today[i].typeid);
        md_val *tup = md_type_exposed_tuple(t);
        if (!md_ts_repr_is(tup, today[i].exposed))
            fprintf(stderr, "\n    %s: exposed tuple changed\n", today[i].typeid);
        CU_ASSERT(md_ts_repr_is(tup, today[i].exposed));
        md_decref(tup);
    }
    CU_ASSERT_PTR_NULL(md_reg_builtin_type("Pool"));
    CU_ASSERT_PTR_NULL(md_reg_builtin_type("queue"));
}

/* For every type of the table, new ones included: the exposed tuple is
 * its method rows' names in order, then method_to_typeid's names again;
 * no two rows share a name (the dispatcher would never reach the second);
 * md_reg_builtin_type finds it by its own name. */
static void test_registry_exposed_tuple_follows_the_method_rows(void)
{
    const md_type *t;
    size_t ntypes = 0;
    for (size_t i = 0; (t = md_reg_builtin_at(i, NULL)); i++, ntypes++) {
        CU_ASSERT_PTR_EQUAL(md_reg_builtin_type(t->name), t);
        md_val *tup = md_type_exposed_tuple(t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(tup);
        size_t nrows = 0, k = 0;
        for (; t->methods[nrows].name; nrows++) {
            CU_ASSERT_FATAL(nrows < md_tuple_len(tup));
            CU_ASSERT(md_str_eq_cstr(md_tuple_get(tup, nrows), t->methods[nrows].name));
            for (size_t j = 0; j < nrows; j++)
                CU_ASSERT(strcmp(t->methods[j].name, t->methods[nrows].name) != 0);
        }
        CU_ASSERT(nrows > 0);
        k = nrows;
        for (size_t r = 0; r < nrows; r++) {
            if (!t->methods[r].result_typeid)
                continue;
            CU_ASSERT_FATAL(k < md_tuple_len(tup));
            CU_ASSERT(md_str_eq_cstr(md_tuple_get(tup, k), t->methods[r].name));
            /* The repeat is the same str, as in CPython's tuple. */
            CU_ASSERT_PTR_EQUAL(md_tuple_get(tup, k), md_tuple_get(tup, r));
            k++;
        }
        CU_ASSERT_EQUAL(md_tuple_len(tup), k);
        for (size_t j = 0; j < k; j++)
            CU_ASSERT(md_str_eq_cstr(md_tuple_get(tup, j), md_type_exposed_name(t, j)));
        CU_ASSERT_PTR_NULL(md_type_exposed_name(t, k));
        md_decref(tup);
    }
    CU_ASSERT(ntypes >= NRECORDED);
}

/* The table keeps SyncManager's order; Iterator (which only a method
 * returns) is not listed for --help; every server registers them all,
 * and refuses Pool. */
static void test_registry_table_lists_every_syncmanager_typeid(void)
{
    bool listed = false;
    const md_type *t;
    size_t i = 0, nseen = 0;
    /* today's typeids appear in the table in this order (a new type may
     * come between them) */
    for (; (t = md_reg_builtin_at(i, &listed)); i++) {
        if (nseen < NRECORDED && strcmp(t->name, today[nseen].typeid) == 0)
            nseen++;
        if (strcmp(t->name, "Iterator") == 0)
            CU_ASSERT(!listed);
    }
    CU_ASSERT_EQUAL(nseen, NRECORDED);
    CU_ASSERT_PTR_NULL(md_reg_builtin_at(i, &listed));
    CU_ASSERT_PTR_NOT_NULL(md_reg_builtin_at(0, &listed));
    CU_ASSERT(listed); /* Queue */

    md_th *th = md_th_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    md_server *srv = md_th_server(th);
    for (i = 0; i < NRECORDED; i++) {
        md_val *name = md_th_str(today[i].typeid);
        md_reg_entry *e = md_reg_find(srv, name);
        CU_ASSERT(e && e->kind == MD_REG_TYPE && e->type == md_reg_builtin_at(i, NULL));
        md_decref(name);
    }
    md_val *pool = md_th_str("Pool");
    md_reg_entry *e = md_reg_find(srv, pool);
    CU_ASSERT(e && e->kind == MD_REG_REFUSED && !e->type);
    md_decref(pool);
    md_th_free(th);
}

/* ---- through the dispatcher ---------------------------------------------- */

/* create(typeid) returns (ident, exposed); get_methods(Token) the
 * distinct names. */
static void check_served(md_th *th, const recorded *r)
{
    md_val *args = md_th_tuple(1, md_th_str(r->typeid));
    md_val *ctor = ctor_args(r->typeid);
    if (ctor) {
        md_val *all = md_tuple_new(1 + md_tuple_len(ctor));
        md_tuple_set_steal(all, 0, md_incref(md_tuple_get(args, 0)));
        for (size_t i = 0; i < md_tuple_len(ctor); i++)
            md_tuple_set_steal(all, i + 1, md_incref(md_tuple_get(ctor, i)));
        md_decref(args);
        md_decref(ctor);
        args = all;
    }
    int kind = md_th_server_call(th, "create", args);
    md_decref(args);
    md_val *reply = NULL;
    md_th_take(th, NULL, &reply);
    CU_ASSERT_EQUAL_FATAL(kind, MD_OUT_RETURN);
    CU_ASSERT_FATAL(reply && md_typeof(reply) == MD_T_TUPLE && md_tuple_len(reply) == 2);
    CU_ASSERT(md_ts_repr_is(md_tuple_get(reply, 1), r->exposed));

    md_val *address = md_th_str("127.0.0.1");
    md_val *token = md_proto_token_new(r->typeid, address, md_str_data(md_tuple_get(reply, 0)));
    md_decref(address);
    CU_ASSERT_PTR_NOT_NULL_FATAL(token);
    md_val *gm_args = md_th_tuple(1, token);
    kind = md_th_server_call(th, "get_methods", gm_args);
    md_decref(gm_args);
    md_val *names = NULL;
    md_th_take(th, NULL, &names);
    CU_ASSERT_EQUAL(kind, MD_OUT_RETURN);
    const char *want = r->methods ? r->methods : r->exposed;
    if (!md_ts_repr_is(names, want))
        fprintf(stderr, "\n    %s: get_methods changed\n", r->typeid);
    CU_ASSERT(md_ts_repr_is(names, want));
    md_decref(names);
    md_th_drop(th, md_str_data(md_tuple_get(reply, 0)), __FILE__, __LINE__);
    md_decref(reply);
}

static void test_registry_create_and_get_methods_are_unchanged(void)
{
    md_th *th = md_th_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    for (size_t i = 0; i < NRECORDED; i++)
        check_served(th, &today[i]);
    CU_ASSERT_EQUAL(md_th_nobj(th), 0);
    md_th_free(th);
}

/* The traceback of a call to a name that is not exposed. */
static char *not_exposed_text(md_th *th, const char *typeid)
{
    char ident[32];
    md_th_create_ok(th, typeid, NULL, NULL, ident, __FILE__, __LINE__);
    md_peer *peer = md_th_peer(th, 4);
    md_val *tb = NULL;
    int kind = md_th_call_take(th, peer, ident, "nosuch", NULL, NULL, &tb);
    CU_ASSERT_EQUAL(kind, MD_OUT_TRACEBACK);
    char *text = tb && md_typeof(tb) == MD_T_STR ? strdup(md_str_data(tb)) : NULL;
    md_decref(tb);
    md_th_drop(th, ident, __FILE__, __LINE__);
    return text;
}

static void test_registry_not_exposed_lists_the_exposed_names(void)
{
    md_th *th = md_th_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    char *event = not_exposed_text(th, "Event");
    CU_ASSERT_PTR_NOT_NULL(event);
    CU_ASSERT(event && strstr(event, "AttributeError: method 'nosuch' of <class 'Event'> object "
                                     "is not in exposed={'is_set', 'set', 'clear', 'wait'}"));
    free(event);
    char *dict = not_exposed_text(th, "dict");
    CU_ASSERT(dict && strstr(dict, "exposed={'__contains__', '__delitem__', '__getitem__', "
                                   "'__iter__', '__len__', "));
    CU_ASSERT(dict && strstr(dict, "'__ror__', 'fromkeys', '__iter__'}"));
    free(dict);
    md_th_free(th);
}

void md_test_register_registry(void)
{
    CU_pSuite s = md_test_suite("registry");
    MD_ADD_TEST(s, test_registry_exposed_tuples_are_unchanged);
    MD_ADD_TEST(s, test_registry_exposed_tuple_follows_the_method_rows);
    MD_ADD_TEST(s, test_registry_table_lists_every_syncmanager_typeid);
    MD_ADD_TEST(s, test_registry_create_and_get_methods_are_unchanged);
    MD_ADD_TEST(s, test_registry_not_exposed_lists_the_exposed_names);
}
