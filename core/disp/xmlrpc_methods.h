/* xmlrpc_methods.h - the methods of the XML-RPC-over-HTTP endpoint as
 * the dispatcher serves them: one table (name, handler, signature, help
 * text), from which system.listMethods, system.methodHelp and
 * system.methodSignature answer; and how an outcome becomes a fault.
 * The HTTP transport (transports/http.c) decodes a <methodCall> and
 * hands its name and params here.
 */
#ifndef MD_XMLRPC_METHODS_H
#define MD_XMLRPC_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/disp/disp.h"

/* Fault codes of the endpoint (the README has the table). */
#define MD_HTTP_FAULTS(X)                                                  \
    X(EXCEPTION, 1, "the call raised a Python exception: 'Class: message'") \
    X(SERVER_ERROR, 2, "a server method failed (unknown typeid, bad arguments)") \
    X(UNSERIALIZABLE, 3, "the result cannot be expressed in XML-RPC")    \
    X(NO_OBJECT, 4, "no object with that id")                            \
    X(PARSE, -32700, "the request is not well-formed XML-RPC")           \
    X(INVALID, -32600, "the request is not a valid method call")         \
    X(NO_METHOD, -32601, "no such method")                               \
    X(PARAMS, -32602, "wrong number or types of parameters")             \
    X(INTERNAL, -32603, "internal error (out of memory)")

enum md_http_fault {
#define MD_HTTP_FAULT_ENUM(name, code, text) MD_FAULT_##name = code,
    MD_HTTP_FAULTS(MD_HTTP_FAULT_ENUM)
#undef MD_HTTP_FAULT_ENUM
};

/* The name of the method whose calls the transport runs itself, one
 * after another as each completes (a call may park): here it only has
 * its row, for introspection, and a nested one is refused. */
#define MD_XMLRPC_MULTICALL "system.multicall"

/* Serve one XML-RPC call (params: a list, borrowed) from peer. The
 * result, or the outcome of the object call, is delivered through
 * peer->ops (maybe later, for a call that parks). false, with a fault
 * code (MD_FAULT_*) and a message in msg, when the call could not be
 * made: no such method, bad params, no such object, out of memory. */
bool md_disp_xmlrpc_call(md_server *srv, md_peer *peer, const char *name, md_val *params,
                         int *fault, char *msg, size_t msglen);

/* The fault an outcome (MD_OUT_*, with its payload, borrowed) of a call
 * is answered with, its text in msg; 0 for a result (a return, a proxy):
 * an exception is fault 1 with "Class: message", an unserializable
 * result fault 3 and any other failure fault 2 with the last line of the
 * traceback. */
int md_disp_xmlrpc_fault(int kind, const md_val *payload, char *msg, size_t n);

#endif /* MD_XMLRPC_METHODS_H */
