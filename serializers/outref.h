/* outref.h - the big payloads of a reply that are written by reference:
 * an encoder given an md_out_refs writes a big str, bytes or bytearray
 * value's opcode header into its buffer and, instead of its payload, notes where
 * the payload goes, which bytes they are and the value holding them (a
 * reference). The message is the buffer with each noted payload inserted
 * at its offset, in order; a transport sends the pieces as they are
 * (transports/outq.h) and drops the references once they are written, so
 * a 10 MB q.get() reply is never copied. Only values whose bytes no server
 * operation changes once they exist are noted (str and bytes; bytearray,
 * which no method of managerd changes in place).
 */
#ifndef MD_OUTREF_H
#define MD_OUTREF_H

#include <stddef.h>
#include <stdint.h>

#include "core/value/value.h"

typedef struct md_out_ref {
    size_t at;              /* offset in the buffer the bytes go before */
    const uint8_t *data;    /* owner's bytes */
    size_t len;
    md_val *owner;          /* a reference: keeps data alive */
} md_out_ref;

typedef struct md_out_refs {
    md_out_ref *v;
    size_t n, cap;
    size_t nbytes;          /* sum of the refs' len */
} md_out_refs;

#define MD_OUT_REFS_INIT { NULL, 0, 0, 0 }

/* Note len bytes of owner (a new reference is taken) at offset at, which
 * is not before the last ref's. 0, or -1 when out of memory (nothing
 * noted). */
int md_out_refs_add(md_out_refs *r, size_t at, md_val *owner, const uint8_t *data, size_t len);
/* Drop the refs from the n-th on (an encode that failed or restarts). */
void md_out_refs_truncate(md_out_refs *r, size_t n);
/* Drop every ref and the array. */
void md_out_refs_free(md_out_refs *r);

#endif /* MD_OUTREF_H */
