/* objtab.c - the object table: ident to shared object, and the life and
 * death of shared objects.
 *
 * An object lives while any of three counts is non-zero: the clients'
 * reference count (incref/decref, as CPython keeps it), the proxies to it
 * stored inside values (CPython's "manager-owned" references, which it
 * never drops; managerd drops them with the value), and internal holds
 * (a parked call on it, an iterator over it).
 */
#include "core/server_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"

md_server *md_current_server;

static size_t bucket_of(const md_server *srv, uint64_t id)
{
    /* ids are sequential: a multiplicative hash spreads them */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & (srv->nbuckets - 1);
}

static int grow(md_server *srv)
{
    size_t n = srv->nbuckets ? srv->nbuckets * 2 : 1024;
    md_obj **b = md_calloc(n, sizeof *b);
    if (!b)
        return -1;
    md_obj **old = srv->buckets;
    size_t oldn = srv->nbuckets;
    srv->buckets = b;
    srv->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        md_obj *o = old[i];
        while (o) {
            md_obj *next = o->next_in_table;
            size_t k = bucket_of(srv, o->id);
            o->next_in_table = b[k];
            b[k] = o;
            o = next;
        }
    }
    md_free(old);
    return 0;
}

int md_objtab_insert(md_server *srv, md_obj *o)
{
    if (srv->nobjects >= srv->max_objects)
        return -1;
    if (srv->nobjects + 1 > srv->nbuckets && grow(srv) < 0)
        return -1;
    o->id = srv->next_id++;
    size_t k = bucket_of(srv, o->id);
    o->next_in_table = srv->buckets[k];
    srv->buckets[k] = o;
    o->flags |= 1u; /* in table */
    srv->nobjects++;
    return 0;
}

md_obj *md_objtab_find(md_server *srv, uint64_t id)
{
    if (!srv->nbuckets)
        return NULL;
    for (md_obj *o = srv->buckets[bucket_of(srv, id)]; o; o = o->next_in_table)
        if (o->id == id)
            return o;
    return NULL;
}

void md_objtab_remove(md_server *srv, md_obj *o)
{
    if (!(o->flags & 1u))
        return;
    md_obj **pp = &srv->buckets[bucket_of(srv, o->id)];
    while (*pp && *pp != o)
        pp = &(*pp)->next_in_table;
    MD_ASSERT(*pp == o);
    *pp = o->next_in_table;
    o->flags &= ~1u;
    srv->nobjects--;
}

static void obj_destroy(md_obj *o)
{
    if (md_current_server)
        md_objtab_remove(md_current_server, o);
    if (o->type->finalize)
        o->type->finalize(o);
    md_free(o);
}

void md_obj_maybe_free(md_obj *o)
{
    if (o->refcount || o->stored || o->holds)
        return;
    /* The shared object of a --share typeid is owned by its registry
     * entry (flag 2) and lives until the server stops. */
    if (o->flags & 2u)
        return;
    obj_destroy(o);
}

md_obj *md_obj_new(const md_type *t)
{
    MD_ASSERT(t->size >= sizeof(md_obj));
    md_obj *o = md_calloc(1, t->size);
    if (!o)
        return NULL;
    o->type = t;
    o->typeid = t->name;
    return o;
}

void md_obj_hold(md_obj *o)
{
    o->holds++;
}

void md_obj_release(md_obj *o)
{
    MD_ASSERT(o->holds > 0);
    o->holds--;
    md_obj_maybe_free(o);
}

void md_obj_ident(const md_obj *o, char *buf)
{
    snprintf(buf, 17, "%" PRIx64, o->id);
}

bool md_ident_parse(const md_val *ident, uint64_t *id)
{
    if (!ident || md_typeof(ident) != MD_T_STR)
        return false;
    const char *s = md_str_data(ident);
    size_t n = md_str_nbytes(ident);
    if (n == 0 || n > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return true;
}

md_obj *md_server_find(md_server *srv, const char *ident)
{
    md_val *s = md_str_from_cstr(ident);
    uint64_t id;
    md_obj *o = NULL;
    if (s && md_ident_parse(s, &id))
        o = md_objtab_find(srv, id);
    md_decref(s);
    return o;
}

size_t md_server_number_of_objects(const md_server *srv)
{
    size_t n = 0;
    for (size_t i = 0; i < srv->nbuckets; i++)
        for (md_obj *o = srv->buckets[i]; o; o = o->next_in_table)
            if (o->refcount)
                n++;
    return n;
}

/* At shutdown: drop every object whatever its counts. Finalizers may
 * release holds on other objects (an iterator on its dict), so objects
 * are unlinked first and destroyed after. */
void md_objtab_clear(md_server *srv)
{
    md_obj *all = NULL;
    for (size_t i = 0; i < srv->nbuckets; i++) {
        md_obj *o = srv->buckets[i];
        while (o) {
            md_obj *next = o->next_in_table;
            o->flags &= ~1u;
            o->next_in_table = all;
            all = o;
            o = next;
        }
        srv->buckets[i] = NULL;
    }
    srv->nobjects = 0;
    /* Keep every object alive while finalizers run, then free. */
    for (md_obj *o = all; o; o = o->next_in_table)
        o->holds++;
    for (md_obj *o = all; o; o = o->next_in_table)
        if (o->type->finalize)
            o->type->finalize(o);
    while (all) {
        md_obj *next = all->next_in_table;
        md_free(all);
        all = next;
    }
    md_free(srv->buckets);
    srv->buckets = NULL;
    srv->nbuckets = 0;
}
