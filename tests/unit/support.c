/* support.c - the helpers support.h declares, shared by the unit tests. */
#include "tests/unit/support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/buf.h"
#include "serializers/pickle.h"
#include "tests/unit/unit.h"

bool md_ts_repr_is(const md_val *v, const char *expect)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    bool ok = v && md_val_repr(v, &b, &e) == 0 && b.len == strlen(expect) &&
              memcmp(b.data, expect, b.len) == 0;
    if (!ok)
        fprintf(stderr, "\n    repr: got %.*s, want %s\n", (int)(b.len > 300 ? 300 : b.len),
                b.data ? (const char *)b.data : "(null)", expect);
    md_buf_free(&b);
    return ok;
}

bool md_ts_text_is(const md_val *v, const char *expect, int line)
{
    bool ok = v && md_typeof(v) == MD_T_STR && strcmp(md_str_data(v), expect) == 0;
    if (!ok)
        fprintf(stderr, "\n    line %d: got %s, wanted the text %s\n", line,
                v && md_typeof(v) == MD_T_STR ? md_str_data(v) : "?", expect);
    return ok;
}

bool md_ts_val_eq(const md_val *a, const md_val *b)
{
    md_pyerr e;
    md_pyerr_clear(&e);
    return md_val_eq(a, b, &e) == 1;
}

md_val *md_ts_dec_ok(const md_codec_ops *codec, const uint8_t *data, size_t n, int *proto)
{
    md_val *v = NULL;
    md_codec_err err;
    int rc = codec->decode(data, n, NULL, &v, proto, &err);
    if (rc != 0) {
        fprintf(stderr, "\n  unexpected %s decode error %d: %s\n", codec->name, rc, err.msg);
        CU_FAIL("decode failed");
        return NULL;
    }
    CU_ASSERT_PTR_NOT_NULL(v);
    return v;
}

bool md_ts_dec_fails(const md_codec_ops *codec, const uint8_t *data, size_t n,
                     const md_codec_limits *lim, int code, const char *want)
{
    md_val *v = (md_val *)1;   /* a failed decode sets *out to NULL */
    md_codec_err err;
    int rc = codec->decode(data, n, lim, &v, NULL, &err);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_EQUAL(err.code, code);
    CU_ASSERT_PTR_NULL(v);
    if (rc == 0)
        md_decref(v);
    bool found = want == NULL || strstr(err.msg, want) != NULL;
    if (!found || rc != code)
        fprintf(stderr, "\n  got code %d message \"%s\", wanted %d \"%s\"\n", rc, err.msg, code,
                want ? want : "");
    return found;
}

md_val *md_ts_fixture(const char *name, int *proto)
{
    size_t n;
    uint8_t *data = md_test_read_fixture(name, &n);
    if (!data) {
        fprintf(stderr, "\n    missing fixture %s in %s\n", name, md_test_fixtures_dir());
        return NULL;
    }
    md_val *v = NULL;
    md_codec_err err;
    int rc = md_pickle_decode(data, n, NULL, &v, proto, &err);
    free(data);
    if (rc != 0)
        fprintf(stderr, "\n    fixture %s does not decode: %s\n", name, err.msg);
    return rc == 0 ? v : NULL;
}

void md_fx_init(md_fx *f)
{
    f->containers = md_gc_tracked();
    f->th = md_th_new();
    for (int i = 0; i < MD_FX_PEERS; i++)
        f->p[i] = md_th_peer(f->th, 4);
    f->p4 = f->p[0];
    f->p3 = md_th_peer(f->th, 3);
    f->p2 = md_th_peer(f->th, 2);
    f->p0 = md_th_peer(f->th, 0);
}

void md_fx_done(md_fx *f)
{
    md_th_free(f->th);
    md_gc_collect();
    CU_ASSERT_EQUAL(md_gc_tracked(), f->containers);
    if (md_gc_tracked() != f->containers)
        fprintf(stderr, "\n    %zu containers leaked\n", md_gc_tracked() - f->containers);
}

size_t md_ts_decode_at_every_failure(const md_buf *b, void (*check)(md_val *))
{
    size_t refused = 0;
    for (long fail_at = 0; fail_at < 100000; fail_at++) {
        md_val *got = NULL;
        md_pickle_err err;
        unsigned long failures = md_alloc_failures();
        md_alloc_fail_after(fail_at);
        int rc = md_pickle_decode(b->data, b->len, NULL, &got, NULL, &err);
        md_alloc_fail_after(-1);
        if (rc == 0) {
            CU_ASSERT_EQUAL(md_alloc_failures(), failures);
            CU_ASSERT_PTR_NOT_NULL_FATAL(got);
            check(got);
            md_decref(got);
            return refused;
        }
        refused++;
        CU_ASSERT_EQUAL(rc, MD_ENOMEM);
        CU_ASSERT(got == NULL);
        CU_ASSERT(md_alloc_failures() > failures);
    }
    CU_FAIL("the message never decoded");
    return refused;
}
