/* buf.h - a growable byte buffer, the one way managerd builds output
 * (encoded messages, repr text, log lines).
 *
 * A buffer that failed to grow stays failed: later appends do nothing and
 * md_buf_failed() reports it, so callers can append freely and check once.
 */
#ifndef MD_BUF_H
#define MD_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct md_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;
} md_buf;

#define MD_BUF_INIT { NULL, 0, 0, false }

void md_buf_init(md_buf *b);
void md_buf_free(md_buf *b);
void md_buf_reset(md_buf *b);               /* len = 0, keeps memory */
/* Make room for n more bytes; 0 or -1. */
int md_buf_reserve(md_buf *b, size_t n);
/* md_buf_reserve for n bytes the caller is about to write whole (a big
 * message being read): when that takes a fresh big block, its pages are
 * faulted in with one call (md_alloc_prefault) rather than one fault per
 * page as they are written. */
int md_buf_reserve_filled(md_buf *b, size_t n);
int md_buf_append(md_buf *b, const void *data, size_t n);
int md_buf_putc(md_buf *b, uint8_t c);
int md_buf_puts(md_buf *b, const char *s);
int md_buf_printf(md_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int md_buf_vprintf(md_buf *b, const char *fmt, va_list ap);
bool md_buf_failed(const md_buf *b);
/* Take ownership of the bytes (NUL-terminated); the buffer becomes empty. */
char *md_buf_steal(md_buf *b, size_t *len);

#endif /* MD_BUF_H */
