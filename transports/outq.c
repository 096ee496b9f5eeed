/* outq.c - a connection's unsent output, written with writev from
 * buffers and from the values a reply refers to (see outq.h). */
#include "transports/outq.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"

/* Where m's next unsent byte is: inside ref rnext when the buffer has
 * been sent up to that ref's offset. */
static bool in_ref(const md_outmsg *m)
{
    return m->rnext < m->refs.n && m->off == m->refs.v[m->rnext].at;
}

size_t md_outmsg_pending(const md_outmsg *m)
{
    size_t left = m->buf.len - m->off;
    for (size_t r = m->rnext; r < m->refs.n; r++)
        left += m->refs.v[r].len;
    return left - m->roff;
}

/* The unsent pieces of m, in order, into iov[k..max); returns the new k. */
static int msg_iov(const md_outmsg *m, struct iovec *iov, int k, int max)
{
    size_t off = m->off;
    for (size_t r = m->rnext; r < m->refs.n && k < max; r++) {
        const md_out_ref *ref = &m->refs.v[r];
        if (ref->at > off) {
            iov[k++] = (struct iovec){m->buf.data + off, ref->at - off};
            off = ref->at;
            if (k == max)
                return k;
        }
        size_t done = r == m->rnext ? m->roff : 0;
        iov[k++] = (struct iovec){(void *)(ref->data + done), ref->len - done};
    }
    if (k < max && off < m->buf.len)
        iov[k++] = (struct iovec){m->buf.data + off, m->buf.len - off};
    return k;
}

/* n more bytes of m were sent; returns what of n was past m's end. A ref
 * wholly sent lets its value go at once. */
static size_t msg_advance(md_outmsg *m, size_t n)
{
    while (n) {
        if (in_ref(m)) {
            md_out_ref *ref = &m->refs.v[m->rnext];
            size_t take = ref->len - m->roff < n ? ref->len - m->roff : n;
            m->roff += take;
            n -= take;
            if (m->roff == ref->len) {
                md_decref(ref->owner);
                ref->owner = NULL;
                m->rnext++;
                m->roff = 0;
            }
            continue;
        }
        size_t end = m->rnext < m->refs.n ? m->refs.v[m->rnext].at : m->buf.len;
        if (end == m->off)
            break; /* all of m is sent */
        size_t take = end - m->off < n ? end - m->off : n;
        m->off += take;
        n -= take;
    }
    return n;
}

static bool msg_done(const md_outmsg *m)
{
    return m->off == m->buf.len && m->rnext == m->refs.n;
}

/* One writev of iov[0..k); the bytes sent, 0 when the socket is full, -1
 * when the connection is broken. */
static ssize_t write_iov(int fd, struct iovec *iov, int k)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
    for (;;) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

int md_outmsg_write(md_outmsg *m, int fd, size_t *written)
{
    struct iovec iov[MD_OUTQ_IOV];
    while (!msg_done(m)) {
        int k = msg_iov(m, iov, 0, MD_OUTQ_IOV);
        ssize_t n = write_iov(fd, iov, k);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        msg_advance(m, (size_t)n);
        *written += (size_t)n;
    }
    return 0;
}

static void msg_free(md_outmsg *m)
{
    md_buf_free(&m->buf);
    md_out_refs_free(&m->refs);
}

/* A kept message's room: its buffer and the refs it still holds. */
static void note_big(md_outq *q, const md_outmsg *m)
{
    size_t held = m->buf.cap + m->refs.nbytes;
    if (held > q->big)
        q->big = held;
}

/* Copy len bytes to the end of the last message, which is q's own. Once
 * most of a big buffer is sent (and none of its refs is still owed) it is
 * compacted first, so that memory follows what is owed; only then:
 * compacting while nothing is added would copy for nothing. */
static int append_to_last(md_outq *q, const uint8_t *data, size_t len)
{
    md_outmsg *last = &q->m[q->n - 1];
    if (last->rnext == last->refs.n && last->off > ((size_t)1 << 20) &&
        last->off > last->buf.len / 2) {
        memmove(last->buf.data, last->buf.data + last->off, last->buf.len - last->off);
        last->buf.len -= last->off;
        last->off = 0;
        md_out_refs_free(&last->refs);
        last->rnext = 0;
    }
    if (md_buf_append(&last->buf, data, len) < 0) {
        last->buf.failed = false; /* nothing was added: the queue stays as it was */
        return -1;
    }
    note_big(q, last);
    return 0;
}

/* A new last message; NULL when out of memory. */
static md_outmsg *push(md_outq *q)
{
    if (q->head == q->n)
        q->head = q->n = 0;
    if (q->n == q->cap && md_grow(&q->m, &q->cap, q->n + 1, sizeof *q->m) < 0)
        return NULL;
    md_outmsg *m = &q->m[q->n++];
    memset(m, 0, sizeof *m);
    return m;
}

int md_outq_keep(md_outq *q, md_outmsg *m, md_buf *from)
{
    size_t left = md_outmsg_pending(m);
    if (from && (m->refs.n > m->rnext || left >= MD_WARM_MIN_BYTES)) {
        md_outmsg *k = push(q);
        if (!k)
            return -1;
        *k = *m;
        k->buf.cap = from->cap; /* m->buf may be a view of from's bytes */
        md_buf_init(from);
        m->refs = (md_out_refs)MD_OUT_REFS_INIT;
        m->rnext = m->roff = 0;
        q->pending += left;
        note_big(q, k);
        return 0;
    }
    /* Only bytes are left (refs wholly sent, or none): a copy. */
    const uint8_t *rest = m->buf.data + m->off;
    size_t nbytes = m->buf.len - m->off;
    if (q->head == q->n || q->m[q->n - 1].refs.n > q->m[q->n - 1].rnext) {
        if (!push(q))
            return -1;
        if (append_to_last(q, rest, nbytes) < 0) {
            q->n--;
            return -1;
        }
    } else if (append_to_last(q, rest, nbytes) < 0) {
        return -1;
    }
    q->pending += nbytes;
    return 0;
}

int md_outq_write(md_outq *q, int fd, size_t *written)
{
    struct iovec iov[MD_OUTQ_IOV];
    while (q->head < q->n) {
        int k = 0;
        for (size_t i = q->head; i < q->n && k < MD_OUTQ_IOV; i++)
            k = msg_iov(&q->m[i], iov, k, MD_OUTQ_IOV);
        ssize_t n = write_iov(fd, iov, k);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        *written += (size_t)n;
        q->pending -= (size_t)n;
        size_t left = (size_t)n;
        while (q->head < q->n) {
            left = msg_advance(&q->m[q->head], left);
            if (!msg_done(&q->m[q->head]))
                break;
            msg_free(&q->m[q->head++]);
        }
    }
    md_free(q->m); /* idle connections keep no output memory */
    q->m = NULL;
    q->head = q->n = q->cap = 0;
    return 0;
}

void md_outq_drop(md_outq *q)
{
    for (size_t i = q->head; i < q->n; i++)
        msg_free(&q->m[i]);
    md_free(q->m);
    q->m = NULL;
    q->head = q->n = q->cap = 0;
    q->pending = 0;
}

size_t md_outq_take_big(md_outq *q)
{
    size_t big = q->big;
    q->big = 0;
    return big;
}
