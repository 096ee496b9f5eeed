/* buf.c - growable byte buffer; see buf.h. */
#include "core/base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"

void md_buf_init(md_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

void md_buf_free(md_buf *b)
{
    md_free_sized(b->data, b->cap);
    md_buf_init(b);
}

/* Grows b to hold need bytes. A big buffer (a message being read or a
 * reply being written) moves into a block kept warm when one fits, which
 * costs a copy of what it holds instead of faulting in a fresh mapping
 * (md_alloc_warm_take); else realloc, which for a mapped block moves pages
 * without copying. */
static int buf_grow(md_buf *b, size_t need, bool filled)
{
    size_t ncap = b->cap > SIZE_MAX / 4 ? need : b->cap * 2;
    if (ncap < need)
        ncap = need;
    uint8_t *p = ncap >= MD_WARM_MIN_BYTES ? md_alloc_warm_take(ncap) : NULL;
    if (p) {
        if (b->len)
            memcpy(p, b->data, b->len);
        md_free_sized(b->data, b->cap);
        b->data = p;
        b->cap = ncap;
        return 0;
    }
    if (md_grow(&b->data, &b->cap, need, 1) < 0)
        return -1;
    /* Not for a block kept warm: its pages are there (md_alloc_prefault
     * also leaves alone a heap block whose pages are). */
    if (filled && b->cap >= MD_WARM_MIN_BYTES)
        md_alloc_prefault(b->data + b->len, need - b->len);
    return 0;
}

void md_buf_reset(md_buf *b)
{
    b->len = 0;
    b->failed = false;
}

static int buf_reserve(md_buf *b, size_t n, bool filled)
{
    if (b->failed)
        return -1;
    /* Keep one spare byte so md_buf_steal can always NUL-terminate. */
    if (b->cap && n < b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return -1;
    }
    if (buf_grow(b, b->len + n + 1, filled) < 0) {
        b->failed = true;
        return -1;
    }
    return 0;
}

int md_buf_reserve(md_buf *b, size_t n)
{
    return buf_reserve(b, n, false);
}

int md_buf_reserve_filled(md_buf *b, size_t n)
{
    return buf_reserve(b, n, true);
}

int md_buf_append(md_buf *b, const void *data, size_t n)
{
    if (md_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

int md_buf_putc(md_buf *b, uint8_t c)
{
    if (b->len + 1 < b->cap && !b->failed) {
        b->data[b->len++] = c;
        return 0;
    }
    return md_buf_append(b, &c, 1);
}

int md_buf_puts(md_buf *b, const char *s)
{
    return md_buf_append(b, s, strlen(s));
}

int md_buf_vprintf(md_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return -1;
    }
    if ((size_t)n < sizeof small) {
        va_end(ap2);
        return md_buf_append(b, small, (size_t)n);
    }
    if (md_buf_reserve(b, (size_t)n + 1) < 0) {
        va_end(ap2);
        return -1;
    }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int md_buf_printf(md_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = md_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

bool md_buf_failed(const md_buf *b)
{
    return b->failed;
}

char *md_buf_steal(md_buf *b, size_t *len)
{
    if (md_buf_reserve(b, 1) < 0)
        return NULL;
    b->data[b->len] = 0;
    char *p = (char *)b->data;
    if (len)
        *len = b->len;
    md_buf_init(b);
    return p;
}
