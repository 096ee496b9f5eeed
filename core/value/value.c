/* value.c - the md_val object core: allocation, reference counting with
 * deferred freeing (so freeing a million-deep list never recurses), the
 * cycle collector, singletons, and the constructors and accessors of the
 * scalar types (int, float, complex, str, bytes, bytearray), slices,
 * globals, exceptions and opaque objects. Containers are in
 * value_table.c, Python semantics in value_ops.c, repr in value_repr.c.
 */
#include "core/value/value.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/base/limits.h"
#include "core/value/value_impl.h"

/* ======================================================================
 * Errors
 * ====================================================================== */

void md_pyerr_set(md_pyerr *e, const char *type, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->type = type;
}

void md_pyerr_clear(md_pyerr *e)
{
    if (!e)
        return;
    e->type = NULL;
    e->msg[0] = 0;
}

void md_val__nomem(md_pyerr *e)
{
    md_pyerr_set(e, "MemoryError", "%s", "");
}

/* ======================================================================
 * Singletons
 * ====================================================================== */

#define IMMORTAL_HDR(t) { UINT32_MAX, (t), F_IMMORTAL, 0 }

static md_val none_obj = IMMORTAL_HDR(MD_T_NONE);
static md_val true_obj = IMMORTAL_HDR(MD_T_BOOL);
static md_val false_obj = IMMORTAL_HDR(MD_T_BOOL);
static md_tupleobj empty_tuple = { IMMORTAL_HDR(MD_T_TUPLE), 0 };

md_val *md_none(void) { return &none_obj; }
md_val *md_true(void) { return &true_obj; }
md_val *md_false(void) { return &false_obj; }
md_val *md_bool(bool b) { return b ? &true_obj : &false_obj; }

bool md_bool_get(const md_val *v)
{
    return v == &true_obj;
}

/* ======================================================================
 * Allocation and the list of tracked containers
 * ====================================================================== */

/* Two generations, as CPython keeps them: containers start young and a
 * young collection (cheap: it walks only the young) moves the survivors
 * to the old list. Thread-local, so that every thread of a client
 * program has its own (values belong to the thread that made them). */
static MD_THREAD_LOCAL gc_head young_list, old_list;
static MD_THREAD_LOCAL size_t gc_count, young_count, old_pending;

/* refs outside a collection says which list the container is on, or
 * that it is on none: a tuple, dict or set that holds no container
 * cannot be part of a cycle, so it is born off the lists and joins them
 * only when a container is stored into it (md_val__gc_track, from every
 * path of value_table.c that stores one, tuple_store and
 * md_tuple_filled), as CPython's dicts are; a collection that finds a survivor holding none (its
 * containers removed since) takes it off again. A million small dicts
 * or tuples of atoms stored in one big container are then never walked:
 * linked young at birth, they cost the collector 16% of a d.update() of
 * str -> dict items and over half of an l.extend() of (int, str) tuples
 * (collect_list, md_val__visit, subtract_internal, visit_reachable of
 * each young collection). */
#define GC_UNTRACKED INTPTR_MIN
#define GC_YOUNG (INTPTR_MIN + 1)
#define GC_OLD (INTPTR_MIN + 2)

static void gc_init_lists(void)
{
    if (!young_list.next) {
        young_list.next = young_list.prev = &young_list;
        old_list.next = old_list.prev = &old_list;
    }
}

static void gc_link(gc_head *list, gc_head *g)
{
    g->prev = list->prev;
    g->next = list;
    list->prev->next = g;
    list->prev = g;
}

static void gc_unlink(gc_head *g)
{
    g->prev->next = g->next;
    g->next->prev = g->prev;
    g->prev = g->next = NULL;
}

/* Moves every container of from to the end of to. */
static void gc_splice(gc_head *to, gc_head *from)
{
    if (from->next == from)
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    from->next = from->prev = from;
}

/* Which objects come from the slab (value_slab.c): the small ones of the
 * types whose size free_plain / dealloc_container can tell from the
 * object itself (slab_size), since the slab needs it back on free. */
static bool slabbed(md_vtype type, size_t size)
{
    if (size > MD_SLAB_MAX_BYTES)
        return false;
    switch (type) {
    case MD_T_STR: case MD_T_BYTES: case MD_T_FLOAT: case MD_T_COMPLEX: case MD_T_INT:
    case MD_T_TUPLE: case MD_T_DICT: case MD_T_SET: case MD_T_FROZENSET: case MD_T_LIST:
        return true;
    default:
        return false;
    }
}

static size_t str_header(uint8_t flags)
{
    return md_val__str_header(flags);
}
/* The size v was allocated with (gc_head included for a tracked
 * container) if it came from the slab, else 0. */
static size_t slab_size(const md_val *v)
{
    size_t size;
    switch ((md_vtype)v->type) {
    case MD_T_STR:
    case MD_T_BYTES: size = str_header(v->flags) + md_val__slen(v) + 1; break;
    case MD_T_FLOAT: size = sizeof(md_floatobj); break;
    case MD_T_COMPLEX: size = sizeof(md_complexobj); break;
    case MD_T_INT: size = sizeof(md_bigint); break;
    case MD_T_TUPLE:
        size = sizeof(gc_head) + sizeof(md_tupleobj) +
               ((const md_tupleobj *)v)->len * sizeof(md_val *);
        break;
    case MD_T_DICT: case MD_T_SET: case MD_T_FROZENSET:
        size = sizeof(gc_head) + sizeof(md_tableobj);
        break;
    case MD_T_LIST: size = sizeof(gc_head) + sizeof(md_listobj); break;
    default: return 0;
    }
    return slabbed((md_vtype)v->type, size) ? size : 0;
}

size_t md_val__slab_bytes(const md_val *v)
{
    return (slab_size(v) + 7) & ~(size_t)7;
}

/* A big bytes value (a payload) takes a block kept warm by the last big
 * message and gives its block back the same way (md_malloc_sized). */
static void *val_mem(md_vtype type, size_t size)
{
    if (slabbed(type, size))
        return md_val__slab_alloc(size);
    return type == MD_T_BYTES ? md_malloc_sized(size) : md_malloc(size);
}

static void lodged_free(const uint8_t *end);

static void val_mem_free(md_val *v, void *mem)
{
    size_t size = slab_size(v);
    if (size)
        md_val__slab_free(mem, size);
    else if (v->type == MD_T_BYTES && (v->flags & F_LODGED))
        lodged_free((const uint8_t *)v);
    else if (v->type == MD_T_BYTES)
        md_free_sized(mem, str_header(v->flags) + md_val__slen(v) + 1);
    else
        md_free(mem);
}

void *md_val__alloc(md_vtype type, size_t size)
{
    md_val *v = val_mem(type, size);
    if (!v)
        return NULL;
    v->refcnt = 1;
    v->type = (uint8_t)type;
    v->flags = 0;
    v->aux = 0;
    return v;
}

static bool born_untracked(md_vtype type)
{
    return type == MD_T_TUPLE || type == MD_T_DICT || type == MD_T_SET ||
           type == MD_T_FROZENSET;
}

void *md_val__alloc_gc(md_vtype type, size_t size)
{
    gc_head *g = size <= SIZE_MAX - sizeof *g ? val_mem(type, sizeof *g + size) : NULL;
    if (!g)
        return NULL;
    gc_init_lists();
    if (born_untracked(type)) {
        g->prev = g->next = NULL;
        g->refs = GC_UNTRACKED;   /* until a container goes in */
    } else {
        g->refs = GC_YOUNG;
        gc_link(&young_list, g);
        young_count++;
    }
    gc_count++;
    md_val *v = GC_OBJ(g);
    v->refcnt = 1;
    v->type = (uint8_t)type;
    v->flags = F_GC;
    v->aux = 0;
    return v;
}

/* The stamp lives in aux, which only opaque objects use otherwise. */
uint16_t md_val_stamp(const md_val *v)
{
    return v->aux;
}

void md_val_set_stamp(const md_val *v, uint16_t stamp)
{
    MD_ASSERT(v->type == MD_T_STR || v->type == MD_T_BYTES);
    if (!(v->flags & F_IMMORTAL))
        ((md_val *)v)->aux = stamp;
}

size_t md_gc_tracked(void)
{
    return gc_count;
}

/* ======================================================================
 * Reference counting
 * ====================================================================== */

static md_opaque_free_hook opaque_hook;

/* Containers whose count reached zero wait here (linked through their
 * gc_head) and are freed by the outermost md_decref, one at a time, so
 * freeing nested data uses constant stack (CPython's trashcan idea). */
static MD_THREAD_LOCAL gc_head *pending;
static MD_THREAD_LOCAL bool draining;

/* A count about to overflow 32 bits would wrap and free a live value:
 * such a value is made immortal instead (kept until exit), as CPython
 * 3.12 pins its own. */
md_val *md_val__incref_pin(md_val *v)
{
    v->flags |= F_IMMORTAL;
    return v;
}

uint32_t md_refcount(const md_val *v)
{
    if (!v || IS_SMALL(v) || (v->flags & F_IMMORTAL))
        return UINT32_MAX;
    return v->refcnt;
}

/* The slab size of a short str, bytes or float, read straight off the
 * object (slab_size's answer for them), else 0: most of what a big
 * message frees, and nothing to release but the object. */
static inline size_t plain_slab_size(const md_val *v)
{
    size_t size;
    if ((v->type == MD_T_STR || v->type == MD_T_BYTES) && !(v->flags & F_WIDE))
        size = str_header(v->flags) + md_val__slen(v) + 1;
    else if (v->type == MD_T_FLOAT)
        size = sizeof(md_floatobj);
    else
        return 0;
    return size <= MD_SLAB_MAX_BYTES ? size : 0;
}

/* Objects md_val__decref_many frees together. */
#define FREE_BATCH 64

void md_val__decref_many(md_val *const *items, size_t n, size_t stride)
{
    void *batch[FREE_BATCH];
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        md_val *v = items[i * stride];
        if (!v || IS_SMALL(v) || (v->flags & F_IMMORTAL))
            continue;
        if (v->refcnt > 1) {
            v->refcnt--;
            continue;
        }
        if (!plain_slab_size(v)) {
            md_val__decref_last(v);
            continue;
        }
        v->refcnt = 0;
        batch[nb++] = v;
        if (nb == FREE_BATCH) {
            md_val__slab_free_many(batch, nb);
            nb = 0;
        }
    }
    if (nb)
        md_val__slab_free_many(batch, nb);
}

static void free_plain(md_val *v)
{
    size_t size = plain_slab_size(v);
    if (size) {
        md_val__slab_free(v, size);
        return;
    }
    switch ((md_vtype)v->type) {
    case MD_T_INT:
        mpz_clear(((md_bigint *)v)->z);
        break;
    case MD_T_BYTEARRAY:
        if (v->flags & F_LODGED)
            lodged_free(((md_bytearrayobj *)v)->data);
        else
            md_free_sized(((md_bytearrayobj *)v)->data, ((md_bytearrayobj *)v)->cap);
        break;
    default:
        break;
    }
    val_mem_free(v, v);
}

static void decref_clear(md_val **slot)
{
    md_val *old = *slot;
    *slot = NULL;
    md_decref(old);
}

/* Drop every reference v holds; v stays a valid (empty) object. Used by
 * dealloc and by the collector to break cycles. */
static void clear_container(md_val *v)
{
    switch ((md_vtype)v->type) {
    case MD_T_TUPLE: {
        md_tupleobj *t = (md_tupleobj *)v;
        for (size_t i = 0; i < t->len; i++) {
            md_val *old = t->items[i];
            t->items[i] = &none_obj;
            md_decref(old);
        }
        break;
    }
    case MD_T_LIST:
        md_list_clear(v);
        break;
    case MD_T_DICT:
    case MD_T_SET:
    case MD_T_FROZENSET:
        md_table__clear(&((md_tableobj *)v)->t);
        break;
    case MD_T_SLICE: {
        md_sliceobj *s = (md_sliceobj *)v;
        md_val *a = s->start, *b = s->stop, *c = s->step;
        s->start = s->stop = s->step = &none_obj;
        md_decref(a);
        md_decref(b);
        md_decref(c);
        break;
    }
    case MD_T_EXC: {
        md_excobj *x = (md_excobj *)v;
        md_val *args = x->args;
        x->args = &empty_tuple.h;
        md_decref(args);
        decref_clear(&x->state);
        decref_clear(&x->cls);
        break;
    }
    case MD_T_OPAQUE: {
        md_opaqueobj *o = (md_opaqueobj *)v;
        md_val *c = o->callable, *args = o->args;
        o->callable = &none_obj;
        o->args = &empty_tuple.h;
        md_decref(c);
        md_decref(args);
        decref_clear(&o->kwargs);
        decref_clear(&o->state);
        decref_clear(&o->listitems);
        decref_clear(&o->dictitems);
        break;
    }
    default:
        break;
    }
}

static void run_free_hook(md_val *v)
{
    if (v->type != MD_T_OPAQUE || !(v->flags & F_WATCHED))
        return;
    v->flags &= (uint8_t)~F_WATCHED;
    if (opaque_hook) {
        /* Keep the object alive (count 1) while the hook reads it. */
        uint32_t saved = v->refcnt;
        v->refcnt = 1;
        opaque_hook(v);
        v->refcnt = saved;
    }
}

static void dealloc_container(md_val *v)
{
    run_free_hook(v);
    clear_container(v);
    if (v->type == MD_T_LIST)
        md_val__list_free_items(v);
    val_mem_free(v, GC_HEAD(v));
}

void md_val__decref_last(md_val *v)
{
    MD_ASSERT(v->refcnt == 1);
    v->refcnt = 0;
    if (!(v->flags & F_GC)) {
        free_plain(v);
        return;
    }
    gc_head *g = GC_HEAD(v);
    if (g->refs != GC_UNTRACKED)
        gc_unlink(g);
    gc_count--;
    if (g->refs == GC_YOUNG)
        young_count--;
    g->next = pending;
    pending = g;
    if (draining)
        return;
    draining = true;
    while (pending) {
        g = pending;
        pending = g->next;
        dealloc_container(GC_OBJ(g));
    }
    draining = false;
}

/* ======================================================================
 * Cycle collector (CPython's trial deletion)
 * ====================================================================== */

#define GC_TENTATIVE ((intptr_t)-1)

static bool is_container(const md_val *v)
{
    return v && !IS_SMALL(v) && (v->flags & F_GC);
}

/* Only containers of the generation being collected have refs >= 0
 * (or GC_TENTATIVE); the others keep their list marker untouched, so a
 * reference from an old container counts as one from outside. */
static bool collecting(const gc_head *g)
{
    return g->refs > GC_OLD;
}

static void subtract_internal(md_val *child, void *ctx)
{
    (void)ctx;
    if (is_container(child) && collecting(GC_HEAD(child)))
        GC_HEAD(child)->refs--;
}

static void visit_reachable(md_val *child, void *ctx)
{
    gc_head *young = ctx;
    if (!is_container(child))
        return;
    gc_head *g = GC_HEAD(child);
    if (g->refs == 0) {
        g->refs = 1;   /* not scanned yet; it will be, as reachable */
    } else if (g->refs == GC_TENTATIVE) {
        gc_unlink(g);
        gc_link(young, g);   /* scanned again from the tail */
        g->refs = 1;
    }
}

/* Moves every container not reachable from outside the tracked set into
 * unreach (CPython's move_unreachable: one pass, no recursion). */
static void move_unreachable(gc_head *young, gc_head *unreach)
{
    gc_head *g = young->next;
    while (g != young) {
        if (g->refs > 0) {
            md_val__visit(GC_OBJ(g), visit_reachable, young);
            g = g->next;
        } else {
            gc_head *next = g->next;
            gc_unlink(g);
            gc_link(unreach, g);
            g->refs = GC_TENTATIVE;
            g = next;
        }
    }
}

static bool any_container(md_val *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_container(items[i]))
            return true;
    return false;
}

/* A tuple, dict, set or frozenset none of whose items, keys and values
 * is a container. */
static bool holds_no_container(const md_val *v)
{
    if (v->type == MD_T_TUPLE) {
        const md_tupleobj *t = (const md_tupleobj *)v;
        return !any_container(t->items, t->len);
    }
    if (v->type != MD_T_DICT && v->type != MD_T_SET && v->type != MD_T_FROZENSET)
        return false;
    const md_table *t = &((const md_tableobj *)v)->t;
    return !any_container(t->entries, t->nentries * t->stride);
}

bool md_val__gc_tracked(const md_val *v)
{
    return is_container(v) && GC_HEAD(v)->refs != GC_UNTRACKED;
}

void md_val__gc_track(md_val *v)
{
    gc_head *g = GC_HEAD(v);
    if (g->refs != GC_UNTRACKED)
        return;
    gc_link(&young_list, g);
    g->refs = GC_YOUNG;
    young_count++;
}

/* Frees the garbage cycles among the containers of list, which must be
 * a whole generation (or both); the survivors join the old list. */
static size_t collect_list(gc_head *list)
{
    for (gc_head *g = list->next; g != list; g = g->next)
        g->refs = (intptr_t)GC_OBJ(g)->refcnt;
    for (gc_head *g = list->next; g != list; g = g->next)
        md_val__visit(GC_OBJ(g), subtract_internal, NULL);
    gc_head unreach = { &unreach, &unreach, 0 };
    move_unreachable(list, &unreach);
    size_t nsurvivors = 0;
    for (gc_head *g = list->next, *next; g != list; g = next) {
        next = g->next;
        nsurvivors++;
        if (holds_no_container(GC_OBJ(g))) {
            gc_unlink(g);
            g->refs = GC_UNTRACKED;
        } else {
            g->refs = GC_OLD;
        }
    }
    if (list != &old_list)
        gc_splice(&old_list, list);
    young_count = 0;
    old_pending += nsurvivors;

    /* Hold every garbage object while cycles are broken, so none is freed
     * while another still points at it. */
    size_t nfreed = 0;
    for (gc_head *g = unreach.next; g != &unreach; g = g->next) {
        GC_OBJ(g)->refcnt++;
        nfreed++;
    }
    for (gc_head *g = unreach.next; g != &unreach; g = g->next)
        run_free_hook(GC_OBJ(g));
    for (gc_head *g = unreach.next; g != &unreach; g = g->next)
        clear_container(GC_OBJ(g));
    while (unreach.next != &unreach) {
        gc_head *g = unreach.next;
        gc_unlink(g);
        gc_link(&old_list, g);
        g->refs = GC_OLD;
        md_decref(GC_OBJ(g));
    }
    return nfreed;
}

size_t md_gc_collect(void)
{
    if (draining)
        return 0;
    gc_init_lists();
    gc_splice(&old_list, &young_list);
    young_count = 0;
    size_t nfreed = collect_list(&old_list);
    old_pending = 0;
    return nfreed;
}

bool md_gc_due(void)
{
    return young_count >= MD_GC_YOUNG_THRESHOLD;
}

size_t md_gc_maybe_collect(void)
{
    if (draining || !md_gc_due())
        return 0;
    size_t nfreed = collect_list(&young_list);
    /* A full collection frees the cycles that were still in use at their
     * young collection (a cyclic value stored, then deleted). While the
     * old generation is small it is cheap, and runs each time; past
     * that, CPython's rule: once the survivors of young collections since
     * the last one reach a quarter of the old generation, so the cost
     * stays linear in the allocations. */
    size_t nold = gc_count - young_count;
    if (old_pending && (nold < MD_GC_FULL_MIN || old_pending > nold / 4))
        nfreed += md_gc_collect();
    return nfreed;
}

void md_val__visit(md_val *v, void (*fn)(md_val *child, void *ctx), void *ctx)
{
    switch ((md_vtype)v->type) {
    case MD_T_TUPLE: {
        md_tupleobj *t = (md_tupleobj *)v;
        for (size_t i = 0; i < t->len; i++)
            fn(t->items[i], ctx);
        break;
    }
    case MD_T_LIST: {
        md_listobj *l = (md_listobj *)v;
        for (size_t i = 0; i < l->len; i++)
            fn(l->items[i], ctx);
        break;
    }
    case MD_T_DICT:
    case MD_T_SET:
    case MD_T_FROZENSET: {
        md_table *t = &((md_tableobj *)v)->t;
        size_t n = t->nentries * t->stride;
        for (size_t i = 0; i < n; i++)
            if (t->entries[i])
                fn(t->entries[i], ctx);
        break;
    }
    case MD_T_SLICE: {
        md_sliceobj *s = (md_sliceobj *)v;
        fn(s->start, ctx);
        fn(s->stop, ctx);
        fn(s->step, ctx);
        break;
    }
    case MD_T_EXC: {
        md_excobj *x = (md_excobj *)v;
        if (x->cls)
            fn(x->cls, ctx);
        fn(x->args, ctx);
        if (x->state)
            fn(x->state, ctx);
        break;
    }
    case MD_T_OPAQUE: {
        md_opaqueobj *o = (md_opaqueobj *)v;
        md_val *parts[] = { o->callable, o->args, o->kwargs, o->state,
                            o->listitems, o->dictitems };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            if (parts[i])
                fn(parts[i], ctx);
        break;
    }
    default:
        break;
    }
}

/* ======================================================================
 * Type names
 * ====================================================================== */

static const char *const type_names[MD_T__COUNT] = {
    [MD_T_NONE] = "NoneType", [MD_T_BOOL] = "bool", [MD_T_INT] = "int",
    [MD_T_FLOAT] = "float", [MD_T_COMPLEX] = "complex", [MD_T_STR] = "str",
    [MD_T_BYTES] = "bytes", [MD_T_BYTEARRAY] = "bytearray",
    [MD_T_TUPLE] = "tuple", [MD_T_LIST] = "list", [MD_T_DICT] = "dict",
    [MD_T_SET] = "set", [MD_T_FROZENSET] = "frozenset",
    [MD_T_SLICE] = "slice", [MD_T_EXC] = "BaseException",
    [MD_T_GLOBAL] = "type", [MD_T_OPAQUE] = "object",
};

/* The class a global names, split as Python's type name (the last part
 * of the qualified name) and module. */
static const char *global_class(const md_val *g, const char **module)
{
    if (!g || IS_SMALL(g) || g->type != MD_T_GLOBAL)
        return NULL;
    const char *name = md_global_name(g);
    const char *dot = strrchr(name, '.');
    if (module)
        *module = md_global_module(g);
    return dot ? dot + 1 : name;
}

md_val *md_val__class_global(const md_val *v)
{
    if (v->type == MD_T_EXC)
        return ((const md_excobj *)v)->cls;
    if (v->type != MD_T_OPAQUE)
        return NULL;
    const md_opaqueobj *o = (const md_opaqueobj *)v;
    /* copyreg._reconstructor(cls, base, state) and copyreg.__newobj__
     * (cls, ...) name the class in their first argument. */
    if (!IS_SMALL(o->callable) && o->callable->type == MD_T_GLOBAL &&
        (strcmp(md_global_module(o->callable), "copyreg") == 0 ||
         strcmp(md_global_module(o->callable), "copy_reg") == 0) &&
        md_tuple_len(o->args) > 0) {
        md_val *cls = md_tuple_get(o->args, 0);
        if (!IS_SMALL(cls) && cls->type == MD_T_GLOBAL)
            return cls;
    }
    if (!IS_SMALL(o->callable) && o->callable->type == MD_T_GLOBAL)
        return o->callable;
    return NULL;
}

const char *md_val__class_name(const md_val *v, const char **module)
{
    if (module)
        *module = NULL;
    return global_class(md_val__class_global(v), module);
}

const char *md_type_name(const md_val *v)
{
    if (IS_SMALL(v))
        return "int";
    if (v->type == MD_T_OPAQUE && md_std__type_name(v))
        return md_std__type_name(v);
    if (v->type == MD_T_EXC || v->type == MD_T_OPAQUE) {
        const char *n = md_val__class_name(v, NULL);
        if (n)
            return n;
    }
    return type_names[v->type];
}

/* ======================================================================
 * int
 * ====================================================================== */

/* A value for z: tagged when it fits, a big int otherwise. */
static md_val *int_from_mpz(const mpz_t z)
{
    if (mpz_fits_slong_p(z)) {
        long i = mpz_get_si(z);
        if (i >= SMALL_MIN && i <= SMALL_MAX)
            return SMALL_MAKE(i);
    }
    md_bigint *b = md_val__alloc(MD_T_INT, sizeof *b);
    if (!b)
        return NULL;
    mpz_init_set(b->z, z);
    return &b->h;
}

md_val *md_val__int_from_mpz(const mpz_t z)
{
    return int_from_mpz(z);
}

md_val *md_int_from_i64(int64_t i)
{
    if (i >= SMALL_MIN && i <= SMALL_MAX)
        return SMALL_MAKE(i);
    md_bigint *b = md_val__alloc(MD_T_INT, sizeof *b);
    if (!b)
        return NULL;
    mpz_init_set_si(b->z, (long)i);
    return &b->h;
}

md_val *md_int_from_u64(uint64_t u)
{
    if (u <= (uint64_t)SMALL_MAX)
        return SMALL_MAKE((int64_t)u);
    md_bigint *b = md_val__alloc(MD_T_INT, sizeof *b);
    if (!b)
        return NULL;
    mpz_init_set_ui(b->z, (unsigned long)u);
    return &b->h;
}

md_val *md_int_from_le(const uint8_t *bytes, size_t n)
{
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = n; i-- > 0;)
            u = (u << 8) | bytes[i];
        if (n > 0 && n < 8 && (bytes[n - 1] & 0x80))
            u |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
        return md_int_from_i64((int64_t)u);
    }
    mpz_t z;
    mpz_init(z);
    mpz_import(z, n, -1, 1, 0, 0, bytes);
    if (bytes[n - 1] & 0x80) {
        mpz_t m;
        mpz_init(m);
        mpz_setbit(m, 8 * n);
        mpz_sub(z, z, m);
        mpz_clear(m);
    }
    md_val *v = int_from_mpz(z);
    mpz_clear(z);
    return v;
}

md_val *md_int_from_decimal(const char *text, size_t n, bool allow_l)
{
    if (allow_l && n > 0 && (text[n - 1] == 'L' || text[n - 1] == 'l'))
        n--;
    size_t i = 0;
    bool neg = false;
    if (i < n && (text[i] == '+' || text[i] == '-'))
        neg = text[i++] == '-';
    if (i == n)
        return NULL;
    for (size_t j = i; j < n; j++)
        if (text[j] < '0' || text[j] > '9')
            return NULL;
    if (n - i <= 18) {
        int64_t x = 0;
        for (; i < n; i++)
            x = x * 10 + (text[i] - '0');
        return md_int_from_i64(neg ? -x : x);
    }
    char *digits = md_strndup(text + i, n - i);
    if (!digits)
        return NULL;
    mpz_t z;
    mpz_init_set_str(z, digits, 10);
    md_free(digits);
    if (neg)
        mpz_neg(z, z);
    md_val *v = int_from_mpz(z);
    mpz_clear(z);
    return v;
}

int md_int_to_i64(const md_val *v, int64_t *out)
{
    if (IS_SMALL(v)) {
        *out = SMALL_GET(v);
        return 0;
    }
    if (v->type == MD_T_BOOL) {
        *out = md_bool_get(v);
        return 0;
    }
    const md_bigint *b = (const md_bigint *)v;
    if (v->type != MD_T_INT || !mpz_fits_slong_p(b->z))
        return -1;
    *out = mpz_get_si(b->z);
    return 0;
}

int md_int_sign(const md_val *v)
{
    if (IS_SMALL(v)) {
        int64_t i = SMALL_GET(v);
        return (i > 0) - (i < 0);
    }
    if (v->type == MD_T_BOOL)
        return md_bool_get(v);
    return mpz_sgn(((const md_bigint *)v)->z);
}

/* Bit length of |v| and whether |v| is a power of two. */
static size_t int_bits(const md_val *v, bool *pow2)
{
    int64_t i;
    if (md_int_to_i64(v, &i) == 0 && i != INT64_MIN) {
        uint64_t a = (uint64_t)(i < 0 ? -i : i);
        *pow2 = a && !(a & (a - 1));
        return a ? 64 - (size_t)__builtin_clzll(a) : 0;
    }
    const mpz_t *z = &((const md_bigint *)v)->z;
    size_t bits = mpz_sizeinbase(*z, 2);
    *pow2 = mpz_scan1(*z, 0) == bits - 1;
    return bits;
}

size_t md_int_le_size(const md_val *v)
{
    bool pow2;
    size_t bits = int_bits(v, &pow2);
    if (bits == 0)
        return 0;
    /* pickle.encode_long drops a redundant 0xff byte: -128 is b'\x80'. */
    if (md_int_sign(v) < 0 && pow2 && bits % 8 == 0)
        return bits / 8;
    return bits / 8 + 1;
}

void md_int_to_le(const md_val *v, uint8_t *out, size_t n)
{
    int64_t i;
    memset(out, 0, n);
    if (md_int_to_i64(v, &i) == 0) {
        uint64_t u = (uint64_t)i;
        for (size_t k = 0; k < n; k++) {
            out[k] = k < 8 ? (uint8_t)(u >> (8 * k)) : (i < 0 ? 0xff : 0);
        }
        return;
    }
    mpz_t r;
    mpz_init(r);
    mpz_fdiv_r_2exp(r, ((const md_bigint *)v)->z, 8 * n);  /* v mod 2^8n */
    size_t count = 0;
    mpz_export(out, &count, -1, 1, 0, 0, r);
    mpz_clear(r);
}

int md_int_to_decimal(const md_val *v, md_buf *out)
{
    int64_t i;
    if (md_int_to_i64(v, &i) == 0)
        return md_buf_printf(out, "%lld", (long long)i) < 0 ? -1 : 0;
    const mpz_t *z = &((const md_bigint *)v)->z;
    size_t need = mpz_sizeinbase(*z, 10) + 2;
    if (md_buf_reserve(out, need) < 0)
        return -1;
    char *p = (char *)out->data + out->len;
    mpz_get_str(p, 10, *z);
    out->len += strlen(p);
    return 0;
}

/* ======================================================================
 * float, complex
 * ====================================================================== */

md_val *md_float_new(double d)
{
    md_floatobj *f = md_val__alloc(MD_T_FLOAT, sizeof *f);
    if (f)
        f->d = d;
    return f ? &f->h : NULL;
}

double md_float_get(const md_val *v)
{
    return ((const md_floatobj *)v)->d;
}

md_val *md_complex_new(double re, double im)
{
    md_complexobj *c = md_val__alloc(MD_T_COMPLEX, sizeof *c);
    if (!c)
        return NULL;
    c->re = re;
    c->im = im;
    return &c->h;
}

double md_complex_real(const md_val *v)
{
    return ((const md_complexobj *)v)->re;
}

double md_complex_imag(const md_val *v)
{
    return ((const md_complexobj *)v)->im;
}

/* ======================================================================
 * str and bytes: one compact layout
 *
 * After the 8-byte header: a uint32 byte count, then (non-ASCII str only)
 * a uint32 code point count, then the bytes and a NUL. Texts of 4 GiB or
 * more (F_WIDE) use two size_t counts instead. A short ASCII key such as
 * 'key123456' is thus a 22-byte allocation.
 * ====================================================================== */


/* Sets the flags and lengths of a str or bytes header at v (value.c's
 * layout: the text follows at str_header(flags)). */
static void str_set_lengths(md_val *v, uint8_t flags, size_t nbytes, size_t ncp)
{
    v->flags = flags;
    uint8_t *p = (uint8_t *)v + sizeof(md_val);
    if (flags & F_WIDE) {
        ((size_t *)p)[0] = nbytes;
        ((size_t *)p)[1] = ncp;
    } else {
        ((uint32_t *)p)[0] = (uint32_t)nbytes;
        if (!(flags & F_ASCII))
            ((uint32_t *)p)[1] = (uint32_t)ncp;
    }
}

static md_val *str_alloc(md_vtype type, uint8_t flags, const void *data,
                         size_t nbytes, size_t ncp)
{
    if (nbytes > UINT32_MAX)
        flags |= F_WIDE;
    size_t hdr = str_header(flags);
    if (nbytes > SIZE_MAX - hdr - 1)
        return NULL;
    md_val *v = md_val__alloc(type, hdr + nbytes + 1);
    if (!v)
        return NULL;
    str_set_lengths(v, flags, nbytes, ncp);
    uint8_t *d = (uint8_t *)v + hdr;
    if (nbytes)
        memcpy(d, data, nbytes);
    d[nbytes] = 0;
    return v;
}

/* Length of the ASCII run s starts with. Keys and values are nearly always
 * ASCII: eight bytes are tested per step instead of one (memcpy, so any
 * alignment is fine). */
static size_t ascii_prefix(const uint8_t *s, size_t n)
{
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        if (w & UINT64_C(0x8080808080808080))
            break;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

/* Counts the code points of UTF-8 text in which lone surrogates are
 * allowed (surrogatepass); (size_t)-1 if it is not such text. */
static size_t utf8_count(const uint8_t *s, size_t n)
{
    size_t i = ascii_prefix(s, n);
    size_t ncp = i;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;   /* range of the second byte */
        if (c < 0x80) {
            i++;
            ncp++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;   /* no overlongs */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;   /* nothing above U+10FFFF */
        } else {
            return (size_t)-1;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return (size_t)-1;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return (size_t)-1;
        i += len;
        ncp++;
    }
    return ncp;
}

/* An ASCII str of up to this many bytes fits a slab object with its
 * header and NUL. */
#define STR_SHORT_MAX (MD_SLAB_MAX_BYTES - sizeof(md_val) - 4 - 1)

/* md_str_new of short text: the object is taken first and the text
 * copied into it a word at a time while its bytes are tested for ASCII
 * (one pass over the text, no memcpy call); NULL with *ascii false when
 * the text is not ASCII (the object is given back). Most keys and str
 * values of a decoded message come here. */
static md_val *str_short_ascii(const uint8_t *src, size_t nbytes, bool *ascii)
{
    size_t size = sizeof(md_val) + 4 + nbytes + 1;
    *ascii = true;
    md_val *v = md_val__slab_alloc(size);
    if (!v)
        return NULL;
    uint8_t *dst = (uint8_t *)v + sizeof(md_val) + 4;
    uint64_t high = 0;
    size_t i = 0;
    if (nbytes >= 8) {
        /* Whole words, then the last 8 bytes (overlapping what was
         * copied, and all there is to the tail of 8 to 16 bytes, the
         * common key, which so takes no loop). */
        for (; nbytes - i > 8; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, sizeof w);
            memcpy(dst + i, &w, sizeof w);
            high |= w;
        }
        uint64_t w;
        memcpy(&w, src + nbytes - 8, sizeof w);
        memcpy(dst + nbytes - 8, &w, sizeof w);
        high |= w;
        i = nbytes;
    } else if (nbytes >= 4) {
        /* 4 to 7 bytes: the first 4 and the last 4, overlapping. */
        uint32_t a, b;
        memcpy(&a, src, sizeof a);
        memcpy(&b, src + nbytes - 4, sizeof b);
        memcpy(dst, &a, sizeof a);
        memcpy(dst + nbytes - 4, &b, sizeof b);
        high |= a | b;
        i = nbytes;
    }
    for (; i < nbytes; i++) {
        dst[i] = src[i];
        high |= src[i];
    }
    if (high & UINT64_C(0x8080808080808080)) {
        md_val__slab_free(v, size);
        *ascii = false;
        return NULL;
    }
    dst[nbytes] = 0;
    v->refcnt = 1;
    v->type = MD_T_STR;
    v->flags = F_ASCII;
    v->aux = 0;
    uint32_t len = (uint32_t)nbytes;
    memcpy((uint8_t *)v + sizeof(md_val), &len, sizeof len);
    return v;
}

md_val *md_str_new(const char *utf8, size_t nbytes)
{
    if (nbytes <= STR_SHORT_MAX) {
        bool ascii;
        md_val *v = str_short_ascii((const uint8_t *)utf8, nbytes, &ascii);
        if (v || ascii)
            return v;
    }
    size_t ncp = utf8_count((const uint8_t *)utf8, nbytes);
    if (ncp == (size_t)-1)
        return NULL;
    return str_alloc(MD_T_STR, ncp == nbytes ? F_ASCII : 0, utf8, nbytes, ncp);
}

md_val *md_str_from_cstr(const char *s)
{
    return md_str_new(s, strlen(s));
}

md_val *md_str_new_py2(const char *ascii, size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++)
        if ((uint8_t)ascii[i] >= 0x80)
            return NULL;
    return str_alloc(MD_T_STR, F_ASCII | F_PY2, ascii, nbytes, nbytes);
}

bool md_str_is_py2(const md_val *v)
{
    return (v->flags & F_PY2) != 0;
}

const char *md_str_data(const md_val *v)
{
    return (const char *)md_val__sdata(v);
}

size_t md_str_nbytes(const md_val *v)
{
    return md_val__slen(v);
}

size_t md_str_len(const md_val *v)
{
    if (v->flags & F_ASCII)
        return md_val__slen(v);
    const uint8_t *p = (const uint8_t *)v + sizeof(md_val);
    if (v->flags & F_WIDE)
        return ((const size_t *)p)[1];
    return ((const uint32_t *)p)[1];
}

bool md_str_is_ascii(const md_val *v)
{
    return (v->flags & F_ASCII) != 0 ||
           ((v->flags & F_WIDE) && md_str_len(v) == md_val__slen(v));
}

bool md_str_eq_cstr(const md_val *v, const char *s)
{
    size_t n = strlen(s);
    return !IS_SMALL(v) && v->type == MD_T_STR && md_val__slen(v) == n &&
           memcmp(md_val__sdata(v), s, n) == 0;
}

md_val *md_bytes_new(const void *data, size_t n)
{
    return str_alloc(MD_T_BYTES, F_ASCII, data, n, n);
}

md_val *md_bytes_new_py2(const void *data, size_t n)
{
    return str_alloc(MD_T_BYTES, F_ASCII | F_PY2, data, n, n);
}

bool md_bytes_is_py2(const md_val *v)
{
    return v->type == MD_T_BYTES && (v->flags & F_PY2) != 0;
}

md_val *md_bytearray_new(const void *data, size_t n)
{
    md_bytearrayobj *b = md_val__alloc(MD_T_BYTEARRAY, sizeof *b);
    if (!b)
        return NULL;
    b->data = md_malloc_sized(n ? n : 1);
    if (!b->data) {
        md_free(b);
        return NULL;
    }
    if (n)
        memcpy(b->data, data, n);
    b->len = b->cap = n;
    return &b->h;
}

/* ---- values that take their message's buffer over ------------------------ */

/* Whether a value of n bytes now at data can make gift's block its home
 * with its text room bytes from the block's start: the text lies in the
 * block at least room bytes in (the move is backwards, so the message
 * after the text stays where the decoder reads it, and a bytes' NUL
 * lands inside the old text), it is big, and it is most of the block. */
static bool gift_fits(const md_gift *gift, const void *data, size_t n, size_t room)
{
    if (!gift || !gift->block || gift->taker || n < MD_GIFT_MIN_BYTES)
        return false;
    uintptr_t lo = (uintptr_t)gift->block, at = (uintptr_t)data;
    if (at < lo || at - lo < room || at - lo > gift->size || n > gift->size - (at - lo))
        return false;
    return gift->size / MD_GIFT_SHARE_DEN <= n / MD_GIFT_SHARE_NUM;
}

static MD_THREAD_LOCAL unsigned long gifts_taken, gifts_lodged;

static md_val *gift_taken(md_gift *gift, md_val *v)
{
    md_incref(v); /* the gift's: the block outlives what the decoder does */
    gift->taker = v;
    gifts_taken++;
    return v;
}

unsigned long md_gift_count(void)
{
    return gifts_taken;
}

unsigned long md_gift_lodged_count(void)
{
    return gifts_lodged;
}

/* A lodged bytes value (F_LODGED) lies inside its block rather than at
 * its start: the block's start and size are the LODGE_BYTES before its
 * header (over opcodes already read, as the header is). A lodged
 * bytearray's bytes lie inside the block, the lodge before them. */
typedef struct lodge {
    uint8_t *block;
    size_t size;
} lodge;
#define LODGE_BYTES sizeof(lodge)

size_t md_gift_skew(size_t text_off, size_t n)
{
    size_t hdr = str_header(n > UINT32_MAX ? F_ASCII | F_WIDE : F_ASCII);
    return (hdr - text_off) & (sizeof(void *) - 1);
}

/* The value whose text is data, made where it lies when it can be: its
 * header aligned and the lodge before it inside the block, and the byte
 * after the text (the NUL, written when the gift closes: it is still the
 * message's) inside it too. NULL when it cannot. */
static md_val *lodge_in(md_gift *gift, uint8_t *data, size_t n, uint8_t flags)
{
    size_t hdr = str_header(flags), at = (size_t)(data - gift->block);
    if (at < hdr + LODGE_BYTES || n >= gift->size - at || ((uintptr_t)(data - hdr) & 7))
        return NULL;
    md_val *v = (md_val *)(data - hdr);
    memcpy((uint8_t *)v - LODGE_BYTES, &(lodge){gift->block, gift->size}, LODGE_BYTES);
    v->refcnt = 1;
    v->type = MD_T_BYTES;
    v->aux = 0;
    str_set_lengths(v, flags | F_LODGED, n, n);
    return v;
}

/* Frees the block of a lodge that ends at end. */
static void lodged_free(const uint8_t *end)
{
    lodge l;
    memcpy(&l, end - LODGE_BYTES, LODGE_BYTES);
    md_free_sized(l.block, l.size);
}

md_val *md_bytes_new_in(md_gift *gift, const void *data, size_t n)
{
    uint8_t flags = n > UINT32_MAX ? F_ASCII | F_WIDE : F_ASCII;
    size_t hdr = str_header(flags);
    if (!gift_fits(gift, data, n, hdr + 1))
        return md_bytes_new(data, n);
    md_val *lodged = lodge_in(gift, (uint8_t *)data, n, flags);
    if (lodged) {
        gifts_lodged++;
        return gift_taken(gift, lodged);
    }
    /* The text first: the header goes where the message's bytes before
     * it were. */
    memmove(gift->block + hdr, data, n);
    gift->block[hdr + n] = 0;
    md_val *v = (md_val *)gift->block;
    v->refcnt = 1;
    v->type = MD_T_BYTES;
    v->aux = 0;
    str_set_lengths(v, flags, n, n);
    return gift_taken(gift, v);
}

md_val *md_bytearray_new_in(md_gift *gift, const void *data, size_t n)
{
    if (!gift_fits(gift, data, n, 0))
        return md_bytearray_new(data, n);
    md_bytearrayobj *b = md_val__alloc(MD_T_BYTEARRAY, sizeof *b);
    if (!b)
        return NULL;
    size_t at = (size_t)((const uint8_t *)data - gift->block);
    if (at >= LODGE_BYTES) {
        /* its bytes stay where they are: no header to align */
        memcpy((uint8_t *)data - LODGE_BYTES, &(lodge){gift->block, gift->size}, LODGE_BYTES);
        b->h.flags |= F_LODGED;
        b->data = (uint8_t *)data;
        b->len = b->cap = n;
        gifts_lodged++;
        return gift_taken(gift, &b->h);
    }
    memmove(gift->block, data, n);
    b->data = gift->block;
    b->len = n;
    b->cap = gift->size;
    return gift_taken(gift, &b->h);
}

bool md_gift_close(md_gift *gift)
{
    md_val *taker = gift->taker;
    if (taker && taker->type == MD_T_BYTES && (taker->flags & F_LODGED))
        ((uint8_t *)md_val__sdata(taker))[md_val__slen(taker)] = 0;
    gift->block = NULL;
    gift->size = 0;
    gift->taker = NULL;
    md_decref(taker);
    return taker != NULL;
}

const uint8_t *md_bytes_data(const md_val *v)
{
    if (v->type == MD_T_BYTEARRAY)
        return ((const md_bytearrayobj *)v)->data;
    return md_val__sdata(v);
}

size_t md_bytes_len(const md_val *v)
{
    if (v->type == MD_T_BYTEARRAY)
        return ((const md_bytearrayobj *)v)->len;
    return md_val__slen(v);
}

/* ======================================================================
 * tuple
 * ====================================================================== */

md_val *md_tuple_new(size_t n)
{
    if (n == 0)
        return &empty_tuple.h;
    if (n > (SIZE_MAX - sizeof(md_tupleobj) - sizeof(gc_head)) / sizeof(md_val *))
        return NULL;
    md_tupleobj *t = md_val__alloc_gc(MD_T_TUPLE, sizeof *t + n * sizeof(md_val *));
    if (!t)
        return NULL;
    t->len = n;
    for (size_t i = 0; i < n; i++)
        t->items[i] = &none_obj;
    return &t->h;
}

/* Every store into a tuple comes here (or is followed by md_tuple_filled),
 * so that a tuple holding a container is on the collector's lists. */
static void tuple_store(md_val *t, size_t i, md_val *item)
{
    ((md_tupleobj *)t)->items[i] = item;
    if (is_container(item))
        md_val__gc_track(t);
}

void md_tuple_set_steal(md_val *t, size_t i, md_val *item)
{
    md_tupleobj *tp = (md_tupleobj *)t;
    MD_ASSERT(i < tp->len);
    md_val *old = tp->items[i];
    tuple_store(t, i, item);
    md_decref(old);
}

md_val **md_tuple_fill(md_val *t)
{
    return ((md_tupleobj *)t)->items;
}

void md_tuple_filled(md_val *t)
{
    const md_tupleobj *tp = (const md_tupleobj *)t;
    if (any_container(tp->items, tp->len))
        md_val__gc_track(t);
}

md_val *md_tuple_get(const md_val *t, size_t i)
{
    const md_tupleobj *tp = (const md_tupleobj *)t;
    MD_ASSERT(i < tp->len);
    return tp->items[i];
}

size_t md_tuple_len(const md_val *t)
{
    return ((const md_tupleobj *)t)->len;
}

md_val *md_tuple_pack(size_t n, ...)
{
    md_val *t = md_tuple_new(n);
    if (!t)
        return NULL;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        tuple_store(t, i, md_incref(va_arg(ap, md_val *)));
    va_end(ap);
    return t;
}

/* ======================================================================
 * slice, global
 * ====================================================================== */

md_val *md_slice_new(md_val *start, md_val *stop, md_val *step)
{
    md_sliceobj *s = md_val__alloc_gc(MD_T_SLICE, sizeof *s);
    if (!s)
        return NULL;
    s->start = md_incref(start ? start : &none_obj);
    s->stop = md_incref(stop ? stop : &none_obj);
    s->step = md_incref(step ? step : &none_obj);
    return &s->h;
}

md_val *md_slice_start(const md_val *s) { return ((const md_sliceobj *)s)->start; }
md_val *md_slice_stop(const md_val *s) { return ((const md_sliceobj *)s)->stop; }
md_val *md_slice_step(const md_val *s) { return ((const md_sliceobj *)s)->step; }

md_val *md_global_new(const char *module, const char *qualname)
{
    size_t ml = strlen(module), nl = strlen(qualname);
    md_globalobj *g = md_val__alloc(MD_T_GLOBAL, sizeof *g + ml + nl + 2);
    if (!g)
        return NULL;
    g->modlen = (uint32_t)ml;
    memcpy(g->text, module, ml + 1);
    memcpy(g->text + ml + 1, qualname, nl + 1);
    return &g->h;
}

const char *md_global_module(const md_val *g)
{
    return ((const md_globalobj *)g)->text;
}

const char *md_global_name(const md_val *g)
{
    const md_globalobj *gp = (const md_globalobj *)g;
    return gp->text + gp->modlen + 1;
}

bool md_global_is(const md_val *g, const char *module, const char *qualname)
{
    return !IS_SMALL(g) && g->type == MD_T_GLOBAL &&
           strcmp(md_global_module(g), module) == 0 &&
           strcmp(md_global_name(g), qualname) == 0;
}

/* ======================================================================
 * exception
 * ====================================================================== */

md_val *md_exc_new(md_val *cls, md_val *args, md_val *state)
{
    md_excobj *x = md_val__alloc_gc(MD_T_EXC, sizeof *x);
    if (!x)
        return NULL;
    x->cls = md_incref(cls);
    x->args = md_incref(args ? args : &empty_tuple.h);
    x->state = md_incref(state);
    return &x->h;
}

md_val *md_exc_make(const char *module, const char *name, size_t nargs, ...)
{
    md_val *cls = md_global_new(module, name);
    md_val *args = md_tuple_new(nargs);
    md_val *x = NULL;
    if (cls && args) {
        va_list ap;
        va_start(ap, nargs);
        for (size_t i = 0; i < nargs; i++)
            tuple_store(args, i, md_incref(va_arg(ap, md_val *)));
        va_end(ap);
        x = md_exc_new(cls, args, NULL);
    }
    md_decref(cls);
    md_decref(args);
    return x;
}

md_val *md_exc_class(const md_val *x) { return ((const md_excobj *)x)->cls; }
md_val *md_exc_args(const md_val *x) { return ((const md_excobj *)x)->args; }
md_val *md_exc_state(const md_val *x) { return ((const md_excobj *)x)->state; }

/* ======================================================================
 * opaque object
 * ====================================================================== */

md_val *md_opaque_new(md_opaque_kind kind, md_val *callable, md_val *args)
{
    md_opaqueobj *o = md_val__alloc_gc(MD_T_OPAQUE, sizeof *o);
    if (!o)
        return NULL;
    o->h.aux = (uint16_t)kind;
    o->callable = md_incref(callable ? callable : &none_obj);
    o->args = md_incref(args ? args : &empty_tuple.h);
    o->kwargs = o->state = o->listitems = o->dictitems = NULL;
    return &o->h;
}

md_opaque_kind md_opaque_kind_of(const md_val *o) { return (md_opaque_kind)o->aux; }
md_val *md_opaque_callable(const md_val *o) { return ((const md_opaqueobj *)o)->callable; }
md_val *md_opaque_args(const md_val *o) { return ((const md_opaqueobj *)o)->args; }
md_val *md_opaque_kwargs(const md_val *o) { return ((const md_opaqueobj *)o)->kwargs; }
md_val *md_opaque_state(const md_val *o) { return ((const md_opaqueobj *)o)->state; }
md_val *md_opaque_listitems(const md_val *o) { return ((const md_opaqueobj *)o)->listitems; }
md_val *md_opaque_dictitems(const md_val *o) { return ((const md_opaqueobj *)o)->dictitems; }

void md_opaque_set_kwargs_steal(md_val *o, md_val *kwargs)
{
    md_opaqueobj *op = (md_opaqueobj *)o;
    md_val *old = op->kwargs;
    op->kwargs = kwargs;
    md_decref(old);
}

void md_opaque_set_state_steal(md_val *o, md_val *state)
{
    md_opaqueobj *op = (md_opaqueobj *)o;
    md_val *old = op->state;
    op->state = state;
    md_decref(old);
}

int md_opaque_add_listitem(md_val *o, md_val *item)
{
    md_opaqueobj *op = (md_opaqueobj *)o;
    if (!op->listitems && !(op->listitems = md_list_new(0)))
        return -1;
    return md_list_append(op->listitems, item);
}

int md_opaque_add_dictitem(md_val *o, md_val *key, md_val *val)
{
    md_opaqueobj *op = (md_opaqueobj *)o;
    if (!op->dictitems && !(op->dictitems = md_list_new(0)))
        return -1;
    md_val *pair = md_tuple_pack(2, key, val);
    if (!pair)
        return -1;
    return md_list_append_steal(op->dictitems, pair);
}

void md_opaque_set_free_hook(md_opaque_free_hook fn)
{
    opaque_hook = fn;
}

void md_opaque_watch(md_val *o)
{
    o->flags |= F_WATCHED;
}

bool md_opaque_watched(const md_val *o)
{
    return !IS_SMALL(o) && o->type == MD_T_OPAQUE && (o->flags & F_WATCHED);
}
