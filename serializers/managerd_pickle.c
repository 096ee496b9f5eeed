/* managerd_pickle.c - the managerd-pickle tool: runs managerd's pickle
 * codec on stdin, for test scripts and for looking at messages.
 *
 *   managerd-pickle [--repr | --str | --protocol N] [--stream]
 *
 * Default: read one pickle, write it re-encoded (at protocol N, or at the
 * input's own protocol, at least 2). --repr / --str: print Python 3's
 * repr() / str() of the value and a newline. --stream: stdin holds
 * records (4-byte big-endian length + pickle) until EOF; each gets one
 * output record: '+' or '-', a 4-byte big-endian length, then the result
 * (pickle, or text without newline, or the error message). Exit status:
 * 0 ok, 1 bad input, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/value/value.h"
#include "serializers/pickle.h"

typedef enum mode { MODE_ENCODE, MODE_REPR, MODE_STR } mode;

typedef struct options {
    mode mode;
    int protocol;   /* 0: the input's */
    bool stream;
} options;

static void usage(void)
{
    fprintf(stderr, "usage: managerd-pickle [--repr | --str | --protocol N] [--stream]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, options *o)
{
    bool chosen = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--stream") == 0) {
            o->stream = true;
            continue;
        }
        if (chosen)
            usage();
        chosen = true;
        if (strcmp(a, "--repr") == 0) {
            o->mode = MODE_REPR;
        } else if (strcmp(a, "--str") == 0) {
            o->mode = MODE_STR;
        } else if (strcmp(a, "--protocol") == 0 && i + 1 < argc) {
            const char *n = argv[++i];
            if (n[0] < '2' || n[0] > '5' || n[1] != '\0')
                usage();
            o->protocol = n[0] - '0';
        } else {
            usage();
        }
    }
}

/* Process one pickle: result bytes (pickle or text) or an error message
 * in out. Returns 0 ok, -1 error. */
static int process(const options *o, const uint8_t *data, size_t n, md_buf *out)
{
    md_val *v = NULL;
    int proto = 0;
    md_pickle_err err;
    if (md_pickle_decode(data, n, NULL, &v, &proto, &err) < 0) {
        md_buf_puts(out, err.msg);
        return -1;
    }
    int rc = 0;
    if (o->mode == MODE_ENCODE) {
        int p = o->protocol ? o->protocol : proto < 2 ? 2 : proto;
        if (md_pickle_encode(v, p, out, &err) < 0) {
            md_buf_reset(out);
            md_buf_puts(out, err.msg);
            rc = -1;
        }
    } else {
        md_pyerr pe = { 0 };
        int r = o->mode == MODE_REPR ? md_val_repr(v, out, &pe) : md_val_str(v, out, &pe);
        if (r < 0) {
            md_buf_reset(out);
            md_buf_printf(out, "%s: %s", pe.type ? pe.type : "error", pe.msg);
            rc = -1;
        }
    }
    md_decref(v);
    if (md_buf_failed(out)) {
        md_buf_free(out);
        md_buf_puts(out, "out of memory");
        rc = -1;
    }
    return rc;
}

/* Read exactly n bytes; returns the count read (short at EOF). */
static size_t read_full(void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t r = fread((uint8_t *)p + got, 1, n - got, stdin);
        if (r == 0)
            break;
        got += r;
    }
    return got;
}

static int run_single(const options *o)
{
    md_buf in = MD_BUF_INIT, out = MD_BUF_INIT;
    uint8_t chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        md_buf_append(&in, chunk, r);
    if (md_buf_failed(&in)) {
        fprintf(stderr, "managerd-pickle: out of memory reading the input\n");
        md_buf_free(&in);
        return 1;
    }
    int rc = process(o, in.data ? in.data : (const uint8_t *)"", in.len, &out);
    md_buf_free(&in);
    if (rc < 0) {
        fprintf(stderr, "managerd-pickle: %.*s\n", (int)out.len, out.data ? (char *)out.data : "");
        md_buf_free(&out);
        return 1;
    }
    if (o->mode != MODE_ENCODE)
        md_buf_putc(&out, '\n');
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    md_buf_free(&out);
    return 0;
}

static void put_record(uint8_t status, const md_buf *b)
{
    uint8_t hdr[5] = { status, (uint8_t)(b->len >> 24), (uint8_t)(b->len >> 16),
                       (uint8_t)(b->len >> 8), (uint8_t)b->len };
    fwrite(hdr, 1, 5, stdout);
    if (b->len)
        fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
}

static int run_stream(const options *o)
{
    md_pickle_limits lim;
    md_pickle_limits_default(&lim);
    md_buf out = MD_BUF_INIT;
    for (;;) {
        uint8_t h[4];
        size_t got = read_full(h, 4);
        if (got == 0)
            break;
        if (got < 4) {
            fprintf(stderr, "managerd-pickle: truncated record header\n");
            md_buf_free(&out);
            return 1;
        }
        size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        md_buf_reset(&out);
        if (n > lim.max_bytes) {
            /* Skip the record without holding it. */
            uint8_t sink[65536];
            size_t left = n;
            while (left) {
                size_t r = read_full(sink, left < sizeof sink ? left : sizeof sink);
                if (r == 0)
                    break;
                left -= r;
            }
            md_buf_printf(&out, "message of %zu bytes exceeds max_bytes %zu at byte 0", n,
                          lim.max_bytes);
            put_record('-', &out);
            if (left) {
                fprintf(stderr, "managerd-pickle: truncated record\n");
                md_buf_free(&out);
                return 1;
            }
            continue;
        }
        uint8_t *data = md_malloc(n ? n : 1);
        if (!data) {
            fprintf(stderr, "managerd-pickle: out of memory\n");
            md_buf_free(&out);
            return 1;
        }
        if (read_full(data, n) < n) {
            fprintf(stderr, "managerd-pickle: truncated record\n");
            md_free(data);
            md_buf_free(&out);
            return 1;
        }
        int rc = process(o, data, n, &out);
        md_free(data);
        put_record(rc < 0 ? '-' : '+', &out);
    }
    md_buf_free(&out);
    return 0;
}

int main(int argc, char **argv)
{
    options o = { MODE_ENCODE, 0, false };
    parse_args(argc, argv, &o);
    int rc = o.stream ? run_stream(&o) : run_single(&o);
    md_gc_collect();
    return rc;
}
