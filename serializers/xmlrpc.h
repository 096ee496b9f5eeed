/* xmlrpc.h - managerd's XML-RPC codec: the 'xmlrpclib' serializer of
 * Python managers (one <params><param> fragment per message) and the
 * values of standard XML-RPC calls on HTTP.
 *
 * libxml2 parses, hardened: no network, no DTD (a document with one is
 * refused), no entity expansion, libxml2's own depth limit plus ours. The
 * encoder writes the text directly, byte for byte as Python's
 * xmlrpc.client.dumps writes it.
 */
#ifndef MD_XMLRPC_H
#define MD_XMLRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"
#include "serializers/codec_error.h"

/* Containers nested in one written value: deeper than libxml2 lets the
 * reader go (256 elements, about 84 arrays), so whatever managerd reads
 * it can write back. */
#define MD_XMLRPC_MAX_DEPTH 128

/* Decode a <params> fragment holding exactly one <param>: the manager
 * serializer's message. *protocol is set to 0. */
int md_xmlrpc_decode(const uint8_t *data, size_t n, const md_codec_limits *lim,
                     md_val **out, int *protocol, md_codec_err *err);
/* Encode v as Python's dumps((v,), allow_none=True) does. */
int md_xmlrpc_encode(const md_val *v, int protocol, md_buf *out, md_codec_err *err);

/* One <value> element's content appended to out (with its trailing
 * newline as Python writes it). For the HTTP endpoint. */
int md_xmlrpc_encode_value(const md_val *v, md_buf *out, md_codec_err *err);

/* A whole <methodCall>: *method (new str) and *params (new list). */
int md_xmlrpc_decode_call(const uint8_t *data, size_t n, const md_codec_limits *lim,
                          md_val **method, md_val **params, md_codec_err *err);
/* <methodResponse> with one param, or with a fault. */
int md_xmlrpc_encode_response(const md_val *v, md_buf *out, md_codec_err *err);
int md_xmlrpc_encode_fault(int code, const char *message, md_buf *out);

/* The client's side (managerctl over http://). A <methodCall> of method
 * with params (a list or tuple, or NULL for none), as Python's
 * xmlrpc.client.dumps writes it. */
int md_xmlrpc_encode_call(const char *method, const md_val *params, md_buf *out,
                          md_codec_err *err);
/* A <methodResponse>: 0 with *out its one value and *fault false, or 0
 * with *out the faultString, *fault_code the faultCode and *fault true;
 * an error code (err set) when it is neither. */
int md_xmlrpc_decode_response(const uint8_t *data, size_t n, const md_codec_limits *lim,
                              md_val **out, bool *fault, int64_t *fault_code, md_codec_err *err);

#endif /* MD_XMLRPC_H */
