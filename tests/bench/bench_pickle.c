/* bench_pickle.c - times managerd's pickle codec on one message, for
 * tests/bench/bench_pickle.py (which compares it with CPython's pickle).
 *
 *   bench_pickle FILE [SECONDS [PROTOCOL]]
 *
 * Reads one pickle from FILE, then decodes it over and over for about
 * SECONDS (default 1), then encodes the decoded value over and over for as
 * long (at PROTOCOL, default the message's own, at least 2), and prints
 * one line of figures:
 *   bytes=N protocol=P encoded_bytes=M decode_runs=R decode_s=T encode_runs=R encode_s=T
 * Exit status 1 if the message does not decode or encode. Built by
 * `make bench`; never run by make check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/value/value.h"
#include "serializers/pickle.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, md_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        md_buf_append(out, chunk, n);
    int bad = ferror(f) || md_buf_failed(out);
    fclose(f);
    return bad ? -1 : 0;
}

/* Decode the message runs times; 0 or -1 with err set. */
static int decode_runs(const md_buf *msg, long runs, md_pickle_err *err)
{
    for (long i = 0; i < runs; i++) {
        md_val *v = NULL;
        if (md_pickle_decode(msg->data, msg->len, NULL, &v, NULL, err) < 0)
            return -1;
        md_decref(v);
    }
    return 0;
}

/* Encode v runs times; 0 or -1 with err set. */
static int encode_runs(const md_val *v, int protocol, long runs, md_buf *out,
                       md_pickle_err *err)
{
    for (long i = 0; i < runs; i++) {
        md_buf_reset(out);
        if (md_pickle_encode(v, protocol, out, err) < 0)
            return -1;
    }
    return 0;
}

/* Run batches of doubling size until the budget is spent: fewer clock
 * reads than one per run, and cheap messages still get timed in bulk. */
typedef int (*batch_fn)(long runs, void *ctx, md_pickle_err *err);

static int timed(batch_fn fn, void *ctx, double budget, long *runs_out, double *secs_out,
                 md_pickle_err *err)
{
    long runs = 0, batch = 1;
    double start = now_s(), elapsed = 0;
    while (elapsed < budget) {
        if (fn(batch, ctx, err) < 0)
            return -1;
        runs += batch;
        elapsed = now_s() - start;
        if (batch < (1L << 20))
            batch *= 2;
    }
    *runs_out = runs;
    *secs_out = elapsed;
    return 0;
}

typedef struct job {
    const md_buf *msg;
    const md_val *value;
    int protocol;
    md_buf *out;
} job;

static int decode_batch(long runs, void *ctx, md_pickle_err *err)
{
    return decode_runs(((job *)ctx)->msg, runs, err);
}

static int encode_batch(long runs, void *ctx, md_pickle_err *err)
{
    job *j = ctx;
    return encode_runs(j->value, j->protocol, runs, j->out, err);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_pickle FILE [SECONDS [PROTOCOL]]\n");
        return 2;
    }
    /* malloc as the daemon sets it up: the codec measured as it runs there. */
    md_alloc_tune_for_server();
    double budget = argc > 2 ? atof(argv[2]) : 1.0;
    md_buf msg = MD_BUF_INIT, out = MD_BUF_INIT;
    if (read_file(argv[1], &msg) < 0) {
        perror(argv[1]);
        return 1;
    }
    md_pickle_err err;
    md_val *v = NULL;
    int proto = 0;
    if (md_pickle_decode(msg.data, msg.len, NULL, &v, &proto, &err) < 0) {
        fprintf(stderr, "bench_pickle: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    int protocol = argc > 3 ? atoi(argv[3]) : proto < 2 ? 2 : proto;
    job j = { &msg, v, protocol, &out };
    long dec_runs = 0, enc_runs = 0;
    double dec_s = 0, enc_s = 0;
    int rc = 0;
    if (timed(decode_batch, &j, budget, &dec_runs, &dec_s, &err) < 0 ||
        timed(encode_batch, &j, budget, &enc_runs, &enc_s, &err) < 0) {
        fprintf(stderr, "bench_pickle: %s: %s\n", argv[1], err.msg);
        rc = 1;
    } else {
        printf("bytes=%zu protocol=%d encoded_bytes=%zu decode_runs=%ld decode_s=%.6f "
               "encode_runs=%ld encode_s=%.6f\n",
               msg.len, protocol, out.len, dec_runs, dec_s, enc_runs, enc_s);
    }
    md_decref(v);
    md_buf_free(&msg);
    md_buf_free(&out);
    md_gc_collect();
    return rc;
}
