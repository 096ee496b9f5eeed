/* fuzz_pickle.c - libFuzzer target for managerd's pickle codec: whatever
 * the bytes, decoding fails cleanly or gives a value that re-encodes at
 * every protocol (2..5) into a pickle that decodes again (and, from
 * protocol 3, prints with the same repr()), and is freed without leaking (md_gc_collect clears the
 * cycles).
 *
 * Built by `make check` as tests/fuzz/fuzz_pickle with clang
 * -fsanitize=fuzzer,address,undefined (Makefile.am, section "fuzz") and
 * run by tests/fuzz/fuzz_pickle.sh. Run by hand:
 *   tests/fuzz/fuzz_pickle -max_total_time=60 CORPUS_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/value/value.h"
#include "serializers/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise of the codec: print what and why, then abort so that
 * libFuzzer keeps the input. */
static void broken(const char *what, int protocol, const md_pickle_err *err)
{
    fprintf(stderr, "fuzz_pickle: %s (protocol %d): code %d (%s), offset %zu: %s\n", what,
            protocol, err ? err->code : 0, err ? md_err_name(err->code) : "-",
            err ? err->offset : (size_t)0, err ? err->msg : "");
    abort();
}

/* Decoding errors must say where: "... at byte N". */
static void check_error_message(const md_pickle_err *err, size_t size)
{
    if (err->msg[0] == '\0' || !strstr(err->msg, " at byte "))
        broken("a decoding error without 'at byte N'", -1, err);
    if (err->offset > size)
        broken("a decoding error offset past the input", -1, err);
}

/* repr() may fail (RecursionError, MemoryError), but cleanly. */
static void repr_of(const md_val *v)
{
    md_buf text = MD_BUF_INIT;
    md_pyerr e = { 0 };
    if (md_val_repr(v, &text, &e) < 0 && !e.type)
        broken("repr failed without saying why", -1, NULL);
    md_buf_free(&text);
}

/* An instance prints its own address ('<m.C object at 0x55...>'), which
 * differs between the value written and the value read back: masked. */
static void mask_addresses(md_buf *b)
{
    size_t w = 0;
    for (size_t r = 0; r < b->len;) {
        if (b->len - r > 13 && memcmp(b->data + r, " object at 0x", 13) == 0) {
            memcpy(b->data + w, " object at 0x", 13);
            w += 13;
            r += 13;
            while (r < b->len && strchr("0123456789abcdef", b->data[r]) && b->data[r])
                r++;
            continue;
        }
        b->data[w++] = b->data[r++];
    }
    b->len = w;
}

/* The value read back must print like the value written: the encoder
 * kept every part the repr shows (types, items, order, sharing shown as
 * [...] / {...}). Either repr may fail (depth), then there is nothing to
 * compare. Bare class references are left out: the encoder writes each in
 * the spelling every Python of the family imports (_queue.Empty as
 * queue.Empty), so their repr may change by design. */
static void same_repr(const md_val *v, const md_val *again, int protocol)
{
    md_buf a = MD_BUF_INIT, b = MD_BUF_INIT;
    md_pyerr ea = { 0 }, eb = { 0 };
    if (md_val_repr(v, &a, &ea) == 0 && md_val_repr(again, &b, &eb) == 0 &&
        (mask_addresses(&a), mask_addresses(&b), true) &&
        md_buf_putc(&a, '\0') == 0 && !strstr((const char *)a.data, "<class '") &&
        md_buf_putc(&b, '\0') == 0 &&
        (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) {
        fprintf(stderr, "fuzz_pickle: repr changed through protocol %d:\n  %.*s\n  %.*s\n",
                protocol, (int)(a.len < 2000 ? a.len : 2000), (const char *)a.data,
                (int)(b.len < 2000 ? b.len : 2000), (const char *)b.data);
        abort();
    }
    md_buf_free(&a);
    md_buf_free(&b);
}

/* Re-encode v at protocol, decode the result, repr it. */
static void roundtrip(const md_val *v, int protocol, const md_pickle_limits *lim)
{
    md_buf out = MD_BUF_INIT;
    md_pickle_err err;
    memset(&err, 0, sizeof err);
    int rc = md_pickle_encode(v, protocol, &out, &err);
    if (rc < 0) {
        /* Only what the protocol cannot express may be refused; running
         * out of memory is the environment's doing. */
        if (rc != MD_EUNSUPPORTED && rc != MD_ENOMEM)
            broken("encoding a decoded value failed", protocol, &err);
        md_buf_free(&out);
        return;
    }
    md_val *again = NULL;
    int proto = -1;
    memset(&err, 0, sizeof err);
    rc = md_pickle_decode(out.data, out.len, lim, &again, &proto, &err);
    if (rc < 0 && rc != MD_ENOMEM)
        broken("managerd cannot decode its own output", protocol, &err);
    if (rc == 0) {
        if (proto != protocol)
            broken("the output carries another protocol number", protocol, NULL);
        repr_of(again);
        /* Protocol 2 renames globals to their Python 2 names and back,
         * which is not one-to-one (StandardError, _queue.Empty): compare
         * from protocol 3 on, where names travel unchanged. */
        if (protocol >= 3)
            same_repr(v, again, protocol);
        md_decref(again);
    }
    md_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t baseline = (size_t)-1;
    if (baseline == (size_t)-1)
        baseline = md_gc_tracked();

    md_pickle_limits lim;
    md_pickle_limits_default(&lim);
    md_val *v = NULL;
    md_pickle_err err;
    memset(&err, 0, sizeof err);
    int rc = md_pickle_decode(data, size, &lim, &v, NULL, &err);
    if (rc < 0) {
        if (v)
            broken("a failed decode returned a value", -1, &err);
        if (err.code != rc)
            broken("the error code differs from the return value", -1, &err);
        check_error_message(&err, size);
    } else {
        for (int protocol = 2; protocol <= 5; protocol++)
            roundtrip(v, protocol, &lim);
        repr_of(v);
        md_decref(v);
    }
    md_gc_collect();
    size_t live = md_gc_tracked();
    if (live != baseline) {
        fprintf(stderr, "fuzz_pickle: %zu containers alive after md_gc_collect (was %zu)\n",
                live, baseline);
        abort();
    }
    return 0;
}
