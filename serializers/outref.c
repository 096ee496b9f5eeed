/* outref.c - payloads a reply writes by reference (see outref.h). */
#include "serializers/outref.h"

#include "core/base/alloc.h"

int md_out_refs_add(md_out_refs *r, size_t at, md_val *owner, const uint8_t *data, size_t len)
{
    if (r->n == r->cap && md_grow(&r->v, &r->cap, r->n + 1, sizeof *r->v) < 0)
        return -1;
    r->v[r->n++] = (md_out_ref){at, data, len, md_incref(owner)};
    r->nbytes += len;
    return 0;
}

void md_out_refs_truncate(md_out_refs *r, size_t n)
{
    while (r->n > n) {
        md_out_ref *last = &r->v[--r->n];
        r->nbytes -= last->len;
        md_decref(last->owner);
    }
}

void md_out_refs_free(md_out_refs *r)
{
    md_out_refs_truncate(r, 0);
    md_free(r->v);
    *r = (md_out_refs)MD_OUT_REFS_INIT;
}
