/* outq.h - what a connection owes its peer: a queue of messages, each a
 * buffer with the payloads its encoder noted by reference inserted
 * (serializers/outref.h), written with writev straight from the buffers
 * and the values. A message's references are dropped as soon as their
 * bytes are written, and all of them when the queue is dropped (a peer
 * that vanished, or one closed for not reading), so a value lives while,
 * and only while, some of its bytes are owed.
 *
 * A message not yet in the queue (a reply just encoded) is written first
 * where it lies (md_outmsg_write); only what the socket does not take is
 * kept (md_outq_keep), by taking its buffer over when that saves a big
 * copy, else by copying its few bytes.
 */
#ifndef MD_OUTQ_H
#define MD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/buf.h"
#include "serializers/outref.h"

typedef struct md_outmsg {
    md_buf buf;             /* the bytes; the queue's own once kept */
    size_t off;             /* next unsent byte of buf */
    md_out_refs refs;       /* payloads inserted into buf, in order */
    size_t rnext;           /* the first ref not wholly sent */
    size_t roff;            /* bytes of refs.v[rnext] sent */
} md_outmsg;

typedef struct md_outq {
    md_outmsg *m;           /* m[head..n) are owed, oldest first */
    size_t head, n, cap;
    size_t pending;         /* unsent bytes, all messages */
    size_t big;             /* largest block held since last asked (trim) */
} md_outq;

#define MD_OUTQ_INIT { NULL, 0, 0, 0, 0, 0 }

/* Bytes of m still to send. */
size_t md_outmsg_pending(const md_outmsg *m);
/* Write what the non-blocking socket fd takes of m now; *written is
 * increased by the bytes sent. 0 when m is all sent or the socket is full,
 * -1 with errno set when the connection is broken. */
int md_outmsg_write(md_outmsg *m, int fd, size_t *written);

static inline size_t md_outq_pending(const md_outq *q)
{
    return q->pending;
}

/* Queue the unsent rest of m (not empty), whose buffer is from's memory
 * (from may be NULL: m's bytes are then copied). With refs or a big rest
 * (MD_WARM_MIN_BYTES) q takes from's memory and m's refs over (from and
 * m->refs are left empty); else the rest's bytes are copied and m is
 * left alone. 0, or -1 when out of memory: q, m and from unchanged. */
int md_outq_keep(md_outq *q, md_outmsg *m, md_buf *from);
/* Write what fd takes from the head of q; *written is increased by the
 * bytes sent. 0 (all written, or the socket is full), or -1 with errno
 * when the connection is broken. */
int md_outq_write(md_outq *q, int fd, size_t *written);
/* Forget everything owed: buffers freed, references dropped. */
void md_outq_drop(md_outq *q);
/* The largest block q held since the last call (for the deferred trim). */
size_t md_outq_take_big(md_outq *q);

#endif /* MD_OUTQ_H */
