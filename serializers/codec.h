/* codec.h - the serializers behind one small interface, looked up by
 * name like Python's multiprocessing.managers.listener_client table:
 * 'pickle' and 'xmlrpclib'. 'auto' picks per connection from the first
 * message (pickles start with 0x80, XML with '<'). */
#ifndef MD_CODEC_H
#define MD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/pickle.h"

typedef struct md_codec_ops {
    const char *name;
    /* Decode one message. *protocol: the pickle protocol of the message
     * (replies use the same), 0 for XML. 0 or negative MD_E* with err. */
    int (*decode)(const uint8_t *data, size_t n, const md_pickle_limits *lim,
                  md_val **out, int *protocol, md_pickle_err *err);
    /* Encode v for a peer that spoke `protocol`. */
    int (*encode)(const md_val *v, int protocol, md_buf *out, md_pickle_err *err);
} md_codec_ops;

extern const md_codec_ops md_codec_pickle;
extern const md_codec_ops md_codec_xmlrpc;

/* By name: "pickle", "xmlrpclib"; NULL if unknown. */
const md_codec_ops *md_codec_find(const char *name);
/* For 'auto': from the first bytes of a message; NULL if neither. */
const md_codec_ops *md_codec_detect(const uint8_t *data, size_t n);

#endif /* MD_CODEC_H */
