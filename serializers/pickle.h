/* pickle.h - managerd's pickle codec: reads every protocol (0-5) that
 * Python 2.7 to 3.13 writes, writes protocols 2-5 as each Python family
 * reads them. Nothing is ever imported or called: unknown classes become
 * opaque values (core/value/value.h) that re-encode to an equivalent pickle.
 */
#ifndef MD_PICKLE_H
#define MD_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/codec_error.h"
#include "serializers/outref.h"

/* The pickle codec's names for the shared codec bounds and error
 * (serializers/codec_error.h). */
typedef md_codec_limits md_pickle_limits;
typedef md_codec_err md_pickle_err;

static inline void md_pickle_limits_default(md_pickle_limits *lim)
{
    md_codec_limits_default(lim);
}

/* Decode one pickle of n bytes. On success returns 0, *out is a new
 * reference, *protocol (if not NULL) the protocol of the PROTO opcode (0
 * when there is none). On failure returns a negative MD_E* code with err
 * (may be NULL) filled in; nothing is leaked. Bytes after STOP are an
 * error. lim may be NULL (defaults). Python 2 names of globals are read
 * as their Python 3 names (__builtin__ -> builtins, Queue -> queue, ...);
 * exception classes become MD_T_EXC with the Python 3 class (Queue.Empty
 * and queue.Empty -> _queue.Empty, IOError -> OSError); set, frozenset,
 * bytearray, bytes, complex, slice, list, tuple, dict, str and
 * _codecs.encode calls on plain data become real values; copyreg's
 * _reconstructor / __newobj__ / __newobj_ex__ become NEWOBJ(_EX) opaque
 * objects; everything else that builds an object is an opaque value. */
int md_pickle_decode(const uint8_t *data, size_t n, const md_pickle_limits *lim,
                     md_val **out, int *protocol, md_pickle_err *err);

/* A proxy travels as a REDUCE of multiprocessing.managers.RebuildProxy. */
#define MD_PICKLE_PROXY_NAME "RebuildProxy"

/* md_pickle_decode that also says, in the same pass, whether the value
 * may hold a proxy: *proxies (if not NULL) is true when the decoder
 * resolved a global named MD_PICKLE_PROXY_NAME (in any module, however
 * its name was spelled), false otherwise and on failure. Without such a
 * global the value holds no proxy: md_proto_proxy_token needs one. */
int md_pickle_decode_noting_proxies(const uint8_t *data, size_t n, const md_pickle_limits *lim,
                                    md_val **out, int *protocol, bool *proxies,
                                    md_pickle_err *err);

/* Where in a message of msglen bytes, of which the first avail are
 * prefix, the payload of a bytes value of min_bytes or more seems to
 * start (BINBYTES or BINBYTES8 with such a length that fits): its offset,
 * or 0 when none is seen. A guess for a transport placing a big message
 * (md_gift_skew); the decoder decides. */
size_t md_pickle_guess_big_bytes(const uint8_t *prefix, size_t avail, size_t msglen,
                                 size_t min_bytes);

/* Encode v at protocol 2..5, appending to out, with the opcodes CPython's
 * C pickler chooses. Protocol 2 uses Python 2 module names (__builtin__,
 * exceptions, Queue, thread, copy_reg), 3 and up Python 3 names (except
 * _queue.Empty, written queue.Empty at protocol 3 because 3.6 has no
 * _queue); 4 and up write FRAMEs. Shared and cyclic values are memoized.
 * Fails (MD_EUNSUPPORTED) for what the protocol cannot express, e.g. a
 * NEWOBJ_EX object at protocol 2 or 3, MD_EDEPTH past MD_MAX_DEPTH levels
 * of nesting, MD_EINVAL for another protocol; on failure out gets its
 * old length back (unless the buffer itself ran out of memory). err may
 * be NULL. */
int md_pickle_encode(const md_val *v, int protocol, md_buf *out, md_pickle_err *err);
/* md_pickle_encode that notes the payload of each str, bytes or
 * bytearray value of MD_REPLY_REF_MIN_BYTES or more in refs (outref.h)
 * instead of copying it into out (refs NULL: md_pickle_encode). out with the payloads
 * inserted is byte for byte what md_pickle_encode writes. On failure refs
 * is as it was. */
int md_pickle_encode_refs(const md_val *v, int protocol, md_buf *out, md_out_refs *refs,
                          md_pickle_err *err);

/* ---- reply views ---------------------------------------------------------
 *
 * A view stands for a new container made from src (d.copy(), d.keys(),
 * d.items(), l[:], ...) without making it: md_pickle_encode writes a view
 * straight from src, byte for byte what it writes for the container the
 * view stands for, and without the cost of building, walking twice and
 * freeing a million-item copy. A view holds a reference to src, not a
 * snapshot: it must be encoded before src changes (a reply encoded in the
 * turn that made it), or made real with md_pickle_view_materialize. Only
 * the pickle encoder knows views; give anything else the real container.
 * Views share one class value: make them on one thread (the server's). */
typedef enum md_pickle_view_kind {
    MD_PV_COPY,    /* dict(src) for a dict, src[:] for a list */
    MD_PV_KEYS,    /* list(src.keys()) of a dict */
    MD_PV_VALUES,  /* list(src.values()) of a dict */
    MD_PV_ITEMS,   /* list(src.items()) of a dict: (key, value) tuples */
} md_pickle_view_kind;

/* A new view (src borrowed; NULL on ENOMEM). */
md_val *md_pickle_view_new(md_val *src, md_pickle_view_kind kind);
/* A view of the list [src[start + k * step] for k in range(count)]; the
 * positions must be in range (src is borrowed; NULL on ENOMEM). */
md_val *md_pickle_view_slice(md_val *src, int64_t start, int64_t step, size_t count);
bool md_pickle_is_view(const md_val *v);
/* The container a view stands for (new reference; NULL on ENOMEM, or
 * when a slice's positions are no longer in its list, which encoding
 * such a view reports as MD_EINVAL). */
md_val *md_pickle_view_materialize(const md_val *view);

#endif /* MD_PICKLE_H */
