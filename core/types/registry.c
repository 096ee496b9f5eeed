/* registry.c - typeids: the names clients pass to create(), each bound to
 * a built-in shared type, shared as one object (--share), or refused. */
#include "core/types/registry.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/server_impl.h"

/* MD_BUILTIN_TYPES (registry.h) is the table; each typeid is its type's
 * name. */
static const struct {
    const md_type *type;
    bool listed;
} builtin_types[] = {
#define BUILTIN_ROW(name, listed) {&md_type_##name, listed},
    MD_BUILTIN_TYPES(BUILTIN_ROW)
#undef BUILTIN_ROW
};

enum { NBUILTIN = sizeof builtin_types / sizeof builtin_types[0] };

static const struct {
    const char *typeid;
    const char *why;
} refused_types[] = {
    {"Pool", "managerd does not serve 'Pool': a process pool runs the "
             "client's Python functions inside the server, and managerd "
             "never runs client code; create the Pool in your own process"},
    {"AsyncResult", "managerd does not serve 'AsyncResult': it only comes "
                    "from a Pool, which would run client code in the server"},
};

const md_type *md_reg_builtin_type(const char *type_name)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (strcmp(builtin_types[i].type->name, type_name) == 0)
            return builtin_types[i].type;
    return NULL;
}

const md_type *md_reg_builtin_at(size_t i, bool *listed)
{
    if (i >= NBUILTIN)
        return NULL;
    if (listed)
        *listed = builtin_types[i].listed;
    return builtin_types[i].type;
}

static md_reg_entry *find_name(md_server *srv, const char *typeid, size_t n)
{
    for (size_t i = 0; i < srv->nreg; i++)
        if (strlen(srv->reg[i].typeid) == n && memcmp(srv->reg[i].typeid, typeid, n) == 0)
            return &srv->reg[i];
    return NULL;
}

md_reg_entry *md_reg_find(md_server *srv, const md_val *typeid)
{
    if (!typeid || md_typeof(typeid) != MD_T_STR)
        return NULL;
    return find_name(srv, md_str_data(typeid), md_str_nbytes(typeid));
}

static md_reg_entry *add_entry(md_server *srv, const char *typeid)
{
    md_reg_entry *e = find_name(srv, typeid, strlen(typeid));
    if (e) {
        /* Re-registering replaces, as BaseManager.register does. */
        if (e->shared) {
            e->shared->flags &= ~2u;
            md_obj_maybe_free(e->shared);
            e->shared = NULL;
        }
        md_decref(e->exposed);
        e->exposed = NULL;
        return e;
    }
    if (md_grow(&srv->reg, &srv->capreg, srv->nreg + 1, sizeof *srv->reg) < 0)
        return NULL;
    e = &srv->reg[srv->nreg];
    memset(e, 0, sizeof *e);
    e->typeid = md_strdup(typeid);
    if (!e->typeid)
        return NULL;
    srv->nreg++;
    return e;
}

int md_reg_add(md_server *srv, const char *typeid, const char *type_name,
               md_reg_kind kind, char *errbuf, size_t errlen)
{
    const md_type *t = NULL;
    if (kind != MD_REG_REFUSED) {
        t = md_reg_builtin_type(type_name);
        if (!t) {
            snprintf(errbuf, errlen, "unknown type '%s' for typeid '%s'", type_name, typeid);
            return -1;
        }
    }
    md_reg_entry *e = add_entry(srv, typeid);
    if (!e) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    e->type = t;
    e->kind = kind;
    e->refusal = kind == MD_REG_REFUSED ? type_name : NULL;
    return 0;
}

int md_reg_add_syncmanager(md_server *srv)
{
    char err[MD_ERRMSG_SIZE];
    for (size_t i = 0; i < NBUILTIN; i++) {
        const char *name = builtin_types[i].type->name;
        if (md_reg_add(srv, name, name, MD_REG_TYPE, err, sizeof err) < 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof refused_types / sizeof refused_types[0]; i++)
        if (md_reg_add(srv, refused_types[i].typeid, refused_types[i].why, MD_REG_REFUSED,
                       err, sizeof err) < 0)
            return -1;
    return 0;
}

const char *md_type_exposed_name(const md_type *t, size_t i)
{
    size_t nrows = 0;
    while (t->methods[nrows].name)
        nrows++;
    if (i < nrows)
        return t->methods[i].name;
    /* Then method_to_typeid's names again, as CPython's create() appends
     * them to the exposed list. */
    size_t extra = i - nrows;
    for (size_t r = 0; r < nrows; r++)
        if (t->methods[r].result_typeid && extra-- == 0)
            return t->methods[r].name;
    return NULL;
}

md_val *md_type_exposed_tuple(const md_type *t)
{
    size_t n = 0;
    while (md_type_exposed_name(t, n))
        n++;
    md_val *tup = md_tuple_new(n);
    if (!tup)
        return NULL;
    /* Repeated names share one str, as CPython's tuple does (the pickle
     * then holds a memo reference for the repeat). */
    for (size_t i = 0; i < n; i++) {
        const char *name = md_type_exposed_name(t, i);
        md_val *s = NULL;
        for (size_t j = 0; j < i && !s; j++)
            if (md_str_eq_cstr(md_tuple_get(tup, j), name))
                s = md_incref(md_tuple_get(tup, j));
        if (!s)
            s = md_str_from_cstr(name);
        if (!s) {
            md_decref(tup);
            return NULL;
        }
        md_tuple_set_steal(tup, i, s);
    }
    return tup;
}

md_val *md_reg_exposed(md_reg_entry *e)
{
    if (!e->exposed && e->type)
        e->exposed = md_type_exposed_tuple(e->type);
    return e->exposed;
}

void md_reg_clear(md_server *srv)
{
    for (size_t i = 0; i < srv->nreg; i++) {
        md_free(srv->reg[i].typeid);
        md_decref(srv->reg[i].exposed);
    }
    md_free(srv->reg);
    srv->reg = NULL;
    srv->nreg = srv->capreg = 0;
}
