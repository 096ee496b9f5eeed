/* debug_info.c - the debug_info server method: CPython's text, objects
 * with a count sorted by ident; only the first MD_DEBUG_INFO_MAX_OBJECTS,
 * then a line with the number left out, so that a million objects cost
 * one cheap pass and no huge reply. */
#include "core/disp/disp_int.h"

#include <stdlib.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"

/* CPython shows str(obj)[:75]. */
enum { DEBUG_INFO_TEXT_CPS = 75 };

/* Idents all have 12 hex digits (MD_IDENT_MIN), so numeric order is
 * CPython's order of the ident strings. */
static int cmp_obj_ident(const void *a, const void *b)
{
    uint64_t x = (*(md_obj *const *)a)->id, y = (*(md_obj *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Keeps in heap (a max-heap by ident of at most cap objects) the cap
 * objects with the lowest idents seen so far. */
static void heap_offer(md_obj **heap, size_t *n, size_t cap, md_obj *o)
{
    size_t i;
    if (*n < cap) {
        for (i = (*n)++; i && heap[(i - 1) / 2]->id < o->id; i = (i - 1) / 2)
            heap[i] = heap[(i - 1) / 2];
        heap[i] = o;
        return;
    }
    if (o->id >= heap[0]->id)
        return;
    for (i = 0;;) {   /* replace the largest and sift it down */
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap[c + 1]->id > heap[c]->id)
            c++;
        if (heap[c]->id <= o->id)
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = o;
}

/* The lowest-ident objects with a count into objs (at most cap), sorted;
 * *total gets how many have a count. */
static size_t first_objects(md_server *srv, md_obj **objs, size_t cap, size_t *total)
{
    size_t k = 0;
    *total = 0;
    for (size_t i = 0; i < srv->nbuckets; i++)
        for (md_obj *o = srv->buckets[i]; o; o = o->next_in_table)
            if (o->refcount) {
                (*total)++;
                heap_offer(objs, &k, cap, o);
            }
    qsort(objs, k, sizeof *objs, cmp_obj_ident);
    return k;
}

/* str(o)[:75]: 75 code points, not bytes. */
static void put_object_text(md_buf *b, md_obj *o)
{
    md_buf s = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    int (*fn)(md_obj *, md_buf *, md_pyerr *) = o->type->str ? o->type->str : o->type->repr;
    /* Only 75 characters are shown: stop the repr soon after. */
    size_t old_limit = md_val_repr_limit(1024);
    if (fn)
        fn(o, &s, &e);
    md_val_repr_limit(old_limit);
    size_t cut = 0, cps = 0;
    while (cut < s.len && cps < DEBUG_INFO_TEXT_CPS) {
        cut++;
        while (cut < s.len && (s.data[cut] & 0xC0) == 0x80)
            cut++;
        cps++;
    }
    md_buf_append(b, s.data, cut);
    md_buf_free(&s);
}

void md_srv_debug_info(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)args, (void)kwds;
    size_t cap = MD_DEBUG_INFO_MAX_OBJECTS;
    md_obj **objs = md_malloc(cap * sizeof *objs);
    if (!objs) {
        md_raise_traceback(call, "MemoryError", "debug_info");
        return;
    }
    size_t total;
    size_t k = first_objects(call->server, objs, cap, &total);
    md_buf b = MD_BUF_INIT;
    for (size_t i = 0; i < k; i++) {
        char ident[24];
        md_obj_ident(objs[i], ident);
        if (i)
            md_buf_putc(&b, '\n');
        md_buf_printf(&b, "  %s:       refcount=%u\n    ", ident, objs[i]->refcount);
        put_object_text(&b, objs[i]);
    }
    if (total > k)
        md_buf_printf(&b, "\n  ... and %zu more objects (debug_info shows the first %zu)", total - k,
                      k);
    md_free(objs);
    md_val *v = md_buf_failed(&b) ? NULL : md_str_new(b.len ? (const char *)b.data : "", b.len);
    md_buf_free(&b);
    md_return(call, v);
}
