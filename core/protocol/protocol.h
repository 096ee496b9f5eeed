/* protocol.h - the shapes of multiprocessing.managers' messages that do
 * not depend on the serializer: the reply kinds ("#RETURN", ...), the
 * Token and RebuildProxy values a proxy travels as, and the text of a
 * #TRACEBACK reply. The server (core/disp) and the C client library
 * (clients/mdc.c) both read and build them here; the codecs only carry
 * them (tests/docs/protocol.md §3, §6).
 *
 * Ownership follows core/value/value.h: arguments borrowed, results new.
 */
#ifndef MD_PROTOCOL_H
#define MD_PROTOCOL_H

#include "core/value/value.h"

/* ---- reply kinds --------------------------------------------------------- */

/* Reply kinds, as the wire spells them. */
#define MD_OUTCOMES(X)                         \
    X(NONE, NULL)                              \
    X(RETURN, "#RETURN")                       \
    X(ERROR, "#ERROR")                         \
    X(TRACEBACK, "#TRACEBACK")                 \
    X(PROXY, "#PROXY")                         \
    X(UNSERIALIZABLE, "#UNSERIALIZABLE")

enum md_out_kind {
#define MD_OUT_ENUM(name, text) MD_OUT_##name,
    MD_OUTCOMES(MD_OUT_ENUM)
#undef MD_OUT_ENUM
};

/* "#RETURN" for MD_OUT_RETURN, ...; NULL for MD_OUT_NONE. */
const char *md_out_kind_text(int kind);

/* ---- remote errors ------------------------------------------------------- */

/* The text a Python client shows for a #TRACEBACK (or #UNSERIALIZABLE)
 * reply: CPython sends its server's real traceback; ours says where it
 * came from and ends with summary ("KeyError: 'x'"), the last line,
 * which is what users read. NULL when out of memory. The one builder of
 * remote-error texts: every reply that carries one is made here. */
md_val *md_proto_traceback(const char *summary);
/* The same for an exception value ("KeyError: 'x'" from KeyError('x'),
 * the repr for anything else): how an #ERROR becomes #TRACEBACK text
 * where an exception cannot travel. NULL when out of memory. */
md_val *md_proto_exc_traceback(const md_val *exc);

/* ---- tokens and proxies ----------------------------------------------------
 * multiprocessing.managers.Token travels as an opaque object: NEWOBJ of
 * the class with no arguments, then BUILD with the state tuple (typeid,
 * address, id). A proxy travels as REDUCE of
 * multiprocessing.managers.RebuildProxy with (func, token, serializer,
 * kwds). These helpers read and build exactly those shapes. */

/* 0 if v is a Token opaque (outputs borrowed, any may be NULL), else -1. */
int md_proto_token_parts(const md_val *v, md_val **typeid, md_val **address, md_val **id);
/* A new Token opaque as CPython pickles it; address is borrowed. NULL on
 * out of memory. */
md_val *md_proto_token_new(const char *typeid, md_val *address, const char *id);
/* The token (borrowed) inside a RebuildProxy opaque, or NULL. */
const md_val *md_proto_proxy_token(const md_val *v);

#endif /* MD_PROTOCOL_H */
