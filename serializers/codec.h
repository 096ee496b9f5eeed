/* codec.h - the serializers behind one small interface, looked up by
 * name like Python's multiprocessing.managers.listener_client table:
 * 'pickle' and 'xmlrpclib'. 'auto' picks per connection from the first
 * message (pickles start with 0x80, XML with '<').
 *
 * A transport moves the bytes; what the bytes mean is asked here: the
 * value of a request, whether it may hold proxies, and a reply pair in
 * the dialect of the peer that asked (Python 2's byte strings).
 */
#ifndef MD_CODEC_H
#define MD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/codec_error.h"
#include "serializers/outref.h"

typedef struct md_codec_ops {
    const char *name;
    /* Decode one message. *protocol: the pickle protocol of the message
     * (replies use the same), 0 for XML. 0 or negative MD_E* with err. */
    int (*decode)(const uint8_t *data, size_t n, const md_codec_limits *lim,
                  md_val **out, int *protocol, md_codec_err *err);
    /* Encode v for a peer that spoke `protocol`. */
    int (*encode)(const md_val *v, int protocol, md_buf *out, md_codec_err *err);
    /* encode, noting big payloads in refs instead of copying them
     * (serializers/outref.h). NULL: the format copies everything. */
    int (*encode_refs)(const md_val *v, int protocol, md_buf *out, md_out_refs *refs,
                       md_codec_err *err);
    /* decode, also saying whether the value may hold a proxy, so that
     * the dispatcher looks for proxies in the decoded request only then
     * (the decoder notes it as it goes: far cheaper than a walk over
     * every value, or a second pass over the bytes). NULL: the format
     * never carries one, and decode serves. */
    int (*decode_noting_proxies)(const uint8_t *data, size_t n, const md_codec_limits *lim,
                                 md_val **out, int *protocol, bool *proxies,
                                 md_codec_err *err);
    /* The protocol to answer a message in, given the one it was decoded
     * at (-1: it could not be decoded). NULL: always 0 (XML). */
    int (*reply_protocol)(const uint8_t *data, size_t n, int decoded);
} md_codec_ops;

extern const md_codec_ops md_codec_pickle;
extern const md_codec_ops md_codec_xmlrpc;

/* By name: "pickle", "xmlrpclib"; NULL if unknown. */
const md_codec_ops *md_codec_find(const char *name);
/* For 'auto': from the first bytes of a message; NULL if neither. */
const md_codec_ops *md_codec_detect(const uint8_t *data, size_t n);

/* ---- requests ----------------------------------------------------------- */

/* What a transport needs of one received message. */
typedef struct md_codec_msg {
    md_val *value;             /* new reference; NULL when decoding failed */
    int protocol;              /* answer in it, failed or not (0: XML) */
    bool may_carry_proxies;    /* see md_codec_ops.decode_noting_proxies */
} md_codec_msg;

/* Decode one request message with codec. 0, or a negative MD_E* code
 * with err (msg->protocol is set either way, so that the error goes back
 * in the protocol the message announced). */
int md_codec_decode_request(const md_codec_ops *codec, const uint8_t *data, size_t n,
                            const md_codec_limits *lim, md_codec_msg *msg, md_codec_err *err);

/* ---- replies ------------------------------------------------------------ */

/* What a reply's payload is: the server's own text and exceptions are
 * spelled for the peer (see md_codec_encode_reply); results go as they
 * are. */
typedef enum md_codec_payload {
    MD_CODEC_RESULT,           /* a method's value, a proxy's parts */
    MD_CODEC_TEXT,             /* a traceback text (#TRACEBACK, #UNSERIALIZABLE) */
    MD_CODEC_EXCEPTION         /* an exception (#ERROR) */
} md_codec_payload;

/* Append the reply pair (kind, payload) as codec encodes it for a peer
 * whose request was at `protocol` (0: XML; 0 and 1 are answered at 2).
 * At protocol 2 (Python 2 peers) kind and the server's texts become
 * byte strings, as a Python 2 server sends them: a traceback text is a
 * str (bytes when not ASCII), and the ASCII messages in an exception's
 * arguments are str. payload is stolen (NULL: out of memory). 0, or a
 * negative MD_E* code with err. */
int md_codec_encode_reply(const md_codec_ops *codec, int protocol, const char *kind,
                          md_codec_payload what, md_val *payload, md_buf *out,
                          md_codec_err *err);
/* md_codec_encode_reply that may note big payloads in refs rather than
 * copy them into out (only a codec with encode_refs does; refs NULL: as
 * md_codec_encode_reply). The reply is out with the refs inserted; on
 * failure refs is as it was. */
int md_codec_encode_reply_refs(const md_codec_ops *codec, int protocol, const char *kind,
                               md_codec_payload what, md_val *payload, md_buf *out,
                               md_out_refs *refs, md_codec_err *err);

#endif /* MD_CODEC_H */
