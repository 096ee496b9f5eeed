/* pickle.h - managerd's pickle codec: reads every protocol (0-5) that
 * Python 2.7 to 3.13 writes, writes protocols 2-5 as each Python family
 * reads them. Nothing is ever imported or called: unknown classes become
 * opaque values (core/value/value.h) that re-encode to an equivalent pickle.
 */
#ifndef MD_PICKLE_H
#define MD_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/codec_error.h"

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

#endif /* MD_PICKLE_H */
