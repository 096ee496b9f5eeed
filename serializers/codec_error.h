/* codec_error.h - what every serializer shares: the bounds a decoder
 * applies and the error it reports. Its own header, so that a codec
 * (xmlrpc.h) and the codec table (codec.h) need no other codec's header.
 */
#ifndef MD_CODEC_ERROR_H
#define MD_CODEC_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds applied while decoding; md_codec_limits_default() gives the
 * values of core/base/limits.h. A field left at 0 means its default, so a
 * caller that sets only some fields (or passes NULL) gets sane bounds.
 * The last three bind the pickle decoder only. */
typedef struct md_codec_limits {
    size_t max_bytes;     /* whole message */
    size_t max_depth;     /* nesting of containers, and open marks */
    size_t max_memo;      /* memo entries (highest index + 1) */
    size_t max_stack;     /* value stack entries */
    size_t max_int_bytes; /* LONG4 byte count, INT/LONG decimal digits */
    /* Not a bound: the block holding the message, when its owner lets a
     * big bytes or bytearray value take it over (value.h, md_gift; the
     * pickle decoder only). NULL: every value is copied out. */
    struct md_gift *gift;
} md_codec_limits;

void md_codec_limits_default(md_codec_limits *lim);

/* Why decoding or encoding failed: a one-line message naming the problem
 * (and the limit, for limits). Decoding messages end with " at byte N",
 * N being the offset where the decoder failed (also in offset), e.g.
 * "BINBYTES length 4294967295 runs past the end of the message at byte 2".
 * Python-level errors keep Python's words ("TypeError: unhashable type:
 * 'list' at byte 4"). */
typedef struct md_codec_err {
    int code;             /* MD_EPROTO, MD_ETOOBIG, MD_EDEPTH, MD_ELIMIT,
                             MD_ENOMEM, MD_EUNSUPPORTED, MD_EINVAL */
    size_t offset;
    /* The bytes are not the format at all (XML that is not well-formed),
     * as opposed to well-formed input that is no valid message: HTTP
     * answers the two with different faults. */
    bool malformed;
    /* 200, not MD_ERRMSG_SIZE (core/base/error.h): the XML-RPC codec's
     * messages can quote a client's element or class names of any length
     * and are cut here, so a larger buffer would change the texts clients
     * read; the pickle decoder's fit (a quoted 160 bytes and " at byte
     * N"), and a caller that adds words of its own ("cannot pickle the
     * request: ...", clients/mdc.c) still fits in MD_ERRMSG_SIZE. */
    char msg[200];
} md_codec_err;

#endif /* MD_CODEC_ERROR_H */
