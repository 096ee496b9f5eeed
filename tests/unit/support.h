/* support.h - what the unit tests share beside the dispatcher harness:
 * short names for the value builders, value checks (repr, equality),
 * wire fixtures decoded, a codec's decode expected to succeed or fail,
 * and the fixture of the shared-type tests (a harness and one peer per
 * client family) with its checks. Failures are reported at the caller's
 * line. */
#ifndef MD_TEST_SUPPORT_H
#define MD_TEST_SUPPORT_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/codec.h"
#include "tests/unit/harness.h"

/* ---- value builders of harness.h by short names: each steals the values
 * given to it ------------------------------------------------------------- */

#define S md_th_str
#define I md_th_int
#define F md_th_float
#define BIG md_th_big
#define B md_th_bytes
/* T(n, a, b, ...): a tuple of n new values (stolen); L likewise a list */
#define T md_th_tuple
#define L md_th_list
/* D(2, key, value, key, value) */
#define D md_th_dict
#define SETV md_th_set

#define NONE md_none()
#define TRUE_ md_true()
#define FALSE_ md_false()

/* A bytes literal as (pointer, length), without its NUL. */
#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* ---- value checks (messages on stderr when false) ------------------------ */

/* The repr of v is expect (v NULL: false). */
bool md_ts_repr_is(const md_val *v, const char *expect);
/* v is a str whose text is expect (line: the caller's, for the message). */
bool md_ts_text_is(const md_val *v, const char *expect, int line);
/* a == b in Python's sense (an error counts as unequal). */
bool md_ts_val_eq(const md_val *a, const md_val *b);

/* ---- decoding ------------------------------------------------------------ */

/* Decode with codec, asserting success; NULL (and a failed assertion)
 * otherwise. *proto (may be NULL): the message's protocol. */
md_val *md_ts_dec_ok(const md_codec_ops *codec, const uint8_t *data, size_t n, int *proto);
/* Decodes pickle b with each allocation refused in turn until it
 * decodes: every failure is a clean MD_ENOMEM that leaves no value, and
 * the value that decodes goes to check, then is released. Returns the
 * allocations refused before it decoded. */
size_t md_ts_decode_at_every_failure(const md_buf *b, void (*check)(md_val *));
/* Decode expecting failure with code (asserted, with *out left NULL);
 * returns whether the message contains want (NULL: anything). */
bool md_ts_dec_fails(const md_codec_ops *codec, const uint8_t *data, size_t n,
                     const md_codec_limits *lim, int code, const char *want);
/* The pickle in tests/fixtures/wire/name, decoded; NULL (with a message)
 * when the file is missing or does not decode. *proto may be NULL. */
md_val *md_ts_fixture(const char *name, int *proto);

/* ---- the shared-type fixture --------------------------------------------- */

#define MD_FX_PEERS 6

typedef struct md_fx {
    md_th *th;
    md_peer *p[MD_FX_PEERS];     /* protocol 4 (3.8+) peers; p4 is p[0] */
    md_peer *p4, *p3, *p2, *p0;  /* 3.8+, 3.6/3.7, 2.7 and XML-RPC peers */
    size_t containers;           /* md_gc_tracked() before the test */
} md_fx;

void md_fx_init(md_fx *f);
/* Free the server and check no value container outlived it (a leaked
 * list or dict stays tracked by the value model). */
void md_fx_done(md_fx *f);
#define nobj(f) md_th_nobj((f)->th)

#define CHECK_AT(cond, line) CU_assertImplementation((cond), (line), #cond, __FILE__, "", CU_FALSE)

/* create(...) must succeed / must fail with a #TRACEBACK containing text
 * (args and kwargs stolen, may be NULL) */
#define MK(f, typeid, args, kwargs, ident) \
    md_th_create_ok((f)->th, typeid, args, kwargs, ident, __FILE__, __LINE__)
#define MK_FAILS(f, typeid, args, kwargs, text) \
    md_th_create_fails((f)->th, typeid, args, kwargs, text, __FILE__, __LINE__)
/* decref(ident) must succeed */
#define drop(f, ident) md_th_drop((f)->th, ident, __FILE__, __LINE__)

#endif /* MD_TEST_SUPPORT_H */
