/* test_objtab.c - the object table (core/objtab.c), on a real server made
 * by the harness: objects get distinct, increasing idents that read back
 * as themselves; thousands of them stay findable across the table's
 * growth; removal unlinks exactly one object; an object lives while any
 * of its three counts (clients' references, stored proxies, holds) is
 * non-zero and is finalized once when the last one goes; idents that are
 * not lowercase hex of at most 16 digits are never ours; a stored proxy
 * counts from the moment a server is made, whatever the value layer's
 * hook was before, and one freed after its server is gone is harmless. */
#include "tests/unit/unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/protocol/protocol.h"
#include "core/server_impl.h"
#include "tests/unit/harness.h"

enum { MANY_OBJECTS = 5000 };          /* past the first 1,024 buckets */

typedef struct probe {
    md_obj base;
    int *finalized;                    /* counts finalize calls */
} probe;

static void probe_finalize(md_obj *self)
{
    probe *p = (probe *)self;
    if (p->finalized)
        (*p->finalized)++;
}

static const md_method probe_methods[] = { { NULL } };
static const md_type probe_type = {
    .name = "probe",
    .size = sizeof(probe),
    .methods = probe_methods,
    .finalize = probe_finalize,
};

static probe *probe_in(md_server *srv, int *finalized)
{
    probe *p = (probe *)md_obj_new(&probe_type);
    if (!p)
        return NULL;
    p->finalized = finalized;
    if (md_objtab_insert(srv, &p->base) < 0) {
        md_free(p);
        return NULL;
    }
    return p;
}

static void test_objtab_idents_are_distinct_and_found(void)
{
    md_th *th = md_th_new();
    md_server *srv = md_th_server(th);
    static md_obj *objs[MANY_OBJECTS];
    int finalized = 0;
    for (int i = 0; i < MANY_OBJECTS; i++) {
        probe *p = probe_in(srv, &finalized);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        objs[i] = &p->base;
        objs[i]->refcount = 1;
        if (i > 0)
            CU_ASSERT(objs[i]->id > objs[i - 1]->id);
    }
    CU_ASSERT_EQUAL(md_th_nobj(th), MANY_OBJECTS);
    int found = 0, by_ident = 0;
    for (int i = 0; i < MANY_OBJECTS; i++) {
        found += md_objtab_find(srv, objs[i]->id) == objs[i];
        char ident[32];
        md_obj_ident(objs[i], ident);
        by_ident += md_server_find(srv, ident) == objs[i];
    }
    CU_ASSERT_EQUAL(found, MANY_OBJECTS);
    CU_ASSERT_EQUAL(by_ident, MANY_OBJECTS);
    CU_ASSERT_PTR_NULL(md_objtab_find(srv, objs[MANY_OBJECTS - 1]->id + 1));

    /* remove every other one: exactly those are gone */
    for (int i = 0; i < MANY_OBJECTS; i += 2)
        md_objtab_remove(srv, objs[i]);
    int gone = 0, kept = 0;
    for (int i = 0; i < MANY_OBJECTS; i++) {
        md_obj *o = md_objtab_find(srv, objs[i]->id);
        if (i % 2 == 0)
            gone += o == NULL;
        else
            kept += o == objs[i];
    }
    CU_ASSERT_EQUAL(gone, MANY_OBJECTS / 2);
    CU_ASSERT_EQUAL(kept, MANY_OBJECTS / 2);
    CU_ASSERT_EQUAL(md_th_nobj(th), MANY_OBJECTS / 2);
    md_objtab_remove(srv, objs[0]);    /* a second remove does nothing */
    CU_ASSERT_EQUAL(md_th_nobj(th), MANY_OBJECTS / 2);
    for (int i = 0; i < MANY_OBJECTS; i += 2) {
        objs[i]->refcount = 0;
        md_obj_maybe_free(objs[i]);
    }
    CU_ASSERT_EQUAL(finalized, MANY_OBJECTS / 2);
    md_th_free(th);                    /* the rest go with the server */
    CU_ASSERT_EQUAL(finalized, MANY_OBJECTS);
}

static void test_objtab_lives_while_any_count(void)
{
    md_th *th = md_th_new();
    md_server *srv = md_th_server(th);
    int finalized = 0;
    probe *p = probe_in(srv, &finalized);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    md_obj *o = &p->base;
    uint64_t id = o->id;
    o->refcount = 1;
    o->stored = 1;
    md_obj_hold(o);

    o->refcount = 0;
    md_obj_maybe_free(o);              /* stored and held: lives */
    CU_ASSERT_EQUAL(finalized, 0);
    CU_ASSERT_PTR_EQUAL(md_objtab_find(srv, id), o);
    CU_ASSERT_EQUAL(md_th_nobj(th), 0); /* number_of_objects counts references only */
    o->stored = 0;
    md_obj_maybe_free(o);              /* held: lives */
    CU_ASSERT_EQUAL(finalized, 0);
    md_obj_release(o);                 /* the last count: finalized and unlinked */
    CU_ASSERT_EQUAL(finalized, 1);
    CU_ASSERT_PTR_NULL(md_objtab_find(srv, id));
    md_th_free(th);
    CU_ASSERT_EQUAL(finalized, 1);
}

static void test_objtab_ident_parse(void)
{
    static const struct {
        const char *text;
        bool ours;
        uint64_t id;
    } cases[] = {
        { "0", true, 0 },
        { "7fa6d73f0c40", true, 0x7fa6d73f0c40ull },
        { "ffffffffffffffff", true, UINT64_MAX },
        { "", false, 0 },
        { "10000000000000000", false, 0 },   /* 17 digits */
        { "7FA6", false, 0 },                /* uppercase is not ours */
        { "12g4", false, 0 },
        { "-1", false, 0 },
        { " 1", false, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        md_val *s = md_str_from_cstr(cases[i].text);
        uint64_t id = 12345;
        bool ours = md_ident_parse(s, &id);
        if (ours != cases[i].ours)
            fprintf(stderr, "\n    ident '%s': %d\n", cases[i].text, ours);
        CU_ASSERT_EQUAL(ours, cases[i].ours);
        if (cases[i].ours)
            CU_ASSERT_EQUAL(id, cases[i].id);
        md_decref(s);
    }
    uint64_t id;
    md_val *n = md_int_from_i64(1);
    CU_ASSERT_FALSE(md_ident_parse(n, &id));   /* an int is not an ident */
    CU_ASSERT_FALSE(md_ident_parse(NULL, &id));
    md_decref(n);

    md_th *th = md_th_new();
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(th), "zz"));
    CU_ASSERT_PTR_NULL(md_server_find(md_th_server(th), "abc"));   /* no such object */
    md_th_free(th);
}

/* RebuildProxy(AutoProxy, Token('probe', address, ident), 'pickle', {})
 * as a client's request carries it; NULL on out of memory. */
static md_val *proxy_of(md_server *srv, const md_obj *o)
{
    char ident[32];
    md_obj_ident(o, ident);
    md_val *token = md_proto_token_new("probe", srv->address, ident);
    md_val *func = md_global_new("multiprocessing.managers", "AutoProxy");
    md_val *rebuild = md_global_new("multiprocessing.managers", "RebuildProxy");
    md_val *ser = md_str_from_cstr("pickle"), *kwds = md_dict_new();
    md_val *args = token && func && ser && kwds ? md_tuple_pack(4, func, token, ser, kwds) : NULL;
    md_val *proxy = args && rebuild ? md_opaque_new(MD_OPQ_REDUCE, rebuild, args) : NULL;
    md_decref(token);
    md_decref(func);
    md_decref(rebuild);
    md_decref(ser);
    md_decref(kwds);
    md_decref(args);
    return proxy;
}

static void test_objtab_stored_proxy_counts_from_server_creation(void)
{
    /* An earlier count, then the hook cleared (as test_value leaves it):
     * a hook installed lazily on the first count would stay cleared. */
    md_val *none = md_none();
    CU_ASSERT_EQUAL(md_proxies_adopt(none), 0);
    md_opaque_set_free_hook(NULL);

    md_th *th = md_th_new();
    md_server *srv = md_th_server(th);
    int finalized = 0;
    probe *p = probe_in(srv, &finalized);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p->base.refcount = 1;
    md_val *proxy = proxy_of(srv, &p->base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(proxy);
    md_val *held = md_list_new(0);     /* d['l'] = proxy: a container holds it */
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    CU_ASSERT_EQUAL(md_list_append_steal(held, md_incref(proxy)), 0);
    CU_ASSERT_EQUAL(md_proxies_adopt(held), 0);
    CU_ASSERT_EQUAL(p->base.stored, 1);
    CU_ASSERT_TRUE(md_opaque_watched(proxy));

    p->base.refcount = 0;
    md_obj_maybe_free(&p->base);       /* the stored proxy keeps it */
    CU_ASSERT_EQUAL(finalized, 0);
    md_decref(held);                   /* the proxy still has our reference */
    CU_ASSERT_EQUAL(finalized, 0);
    md_decref(proxy);                  /* freed: the hook releases the referent */
    CU_ASSERT_EQUAL(finalized, 1);

    /* A proxy still stored when its server goes is freed later, harmlessly. */
    p = probe_in(srv, &finalized);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p->base.refcount = 1;
    proxy = proxy_of(srv, &p->base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(proxy);
    CU_ASSERT_EQUAL(md_proxies_adopt(proxy), 0);
    CU_ASSERT_EQUAL(p->base.stored, 1);
    md_th_free(th);
    CU_ASSERT_EQUAL(finalized, 2);
    md_decref(proxy);
    CU_ASSERT_EQUAL(finalized, 2);
}

void md_test_register_objtab(void)
{
    CU_pSuite s = md_test_suite("objtab");
    MD_ADD_TEST(s, test_objtab_idents_are_distinct_and_found);
    MD_ADD_TEST(s, test_objtab_lives_while_any_count);
    MD_ADD_TEST(s, test_objtab_ident_parse);
    MD_ADD_TEST(s, test_objtab_stored_proxy_counts_from_server_creation);
}
