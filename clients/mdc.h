/* mdc.h - the managerd C client library.
 *
 * Talks the multiprocessing.managers protocol (framing, HMAC handshake,
 * pickle) to managerd and to CPython's own manager servers (2.7 - 3.13):
 * create shared objects, call their methods, manage reference counts.
 *
 *   mdc_client *c = mdc_client_new("127.0.0.1:50000", "secret", 6);
 *   char id[32];
 *   if (mdc_create(c, "dict", NULL, NULL, id, sizeof id) < 0)
 *       fprintf(stderr, "%s\n", mdc_errstr(c));
 *   mdc_value *args = mdc_tuple(2, k, v);        // borrowed items
 *   mdc_value *result;
 *   int kind = mdc_call(c, id, "__setitem__", args, NULL, &result);
 *
 * Values are reference counted: every mdc_value* a function returns is the
 * caller's and is released with mdc_value_free; arguments are borrowed.
 * A client is not thread-safe; use one per thread (as Python does): the
 * value layer's state is per thread, so clients on different threads
 * never share anything. A value belongs to the thread that made it.
 */
#ifndef MDC_H
#define MDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdc_client mdc_client;
typedef struct mdc_value mdc_value;   /* opaque */

/* Outcomes of mdc_call (non-negative) and errors (negative). */
enum {
    MDC_RETURN = 0,          /* *result is the value returned */
    MDC_EXCEPTION = 1,       /* *result is the exception raised (mdc_exc_*) */
    MDC_REMOTE_ERROR = 2,    /* *result is a str: the server's traceback text */
    /* Errors are numbered apart from the library's internal codes, so
     * that one can never be taken for the other. */
    MDC_ERR_IO = -101,       /* connection failed or timed out; mdc_errstr says why */
    MDC_ERR_AUTH = -102,     /* handshake failed (wrong key) */
    MDC_ERR_PROTOCOL = -103, /* the server sent something unreadable */
    MDC_ERR_ARG = -104,      /* bad argument */
    MDC_ERR_NOMEM = -105     /* out of memory */
};

/* ADDRESS: HOST:PORT, tcp://HOST:PORT, unix:PATH or unix:@NAME. The key
 * is copied into locked memory. NULL only when out of memory or the
 * address is malformed (then errbuf, if given, says why). */
mdc_client *mdc_client_new(const char *address, const void *authkey, size_t keylen);
mdc_client *mdc_client_new_err(const char *address, const void *authkey, size_t keylen,
                               char *errbuf, size_t errlen);
void mdc_client_free(mdc_client *c);
/* The message of the last failure. */
const char *mdc_errstr(const mdc_client *c);
/* Pickle protocol of requests: 4 (default, Python 3.8+ servers), 3 for
 * 3.6/3.7 servers, 2 for 2.7 servers. */
int mdc_set_protocol(mdc_client *c, int protocol);
/* Seconds to wait for a connect, each send and each reply (default 0: no
 * limit); past it the call fails with MDC_ERR_IO, "timed out". */
void mdc_set_timeout(mdc_client *c, double seconds);

/* connect(): one short connection with the 'dummy' request. */
int mdc_ping(mdc_client *c);
/* create(typeid, *args, **kwargs): the new object's ident (one reference,
 * which the caller owns: mdc_decref when done). args: tuple or NULL. */
int mdc_create(mdc_client *c, const char *typeid, mdc_value *args, mdc_value *kwargs,
               char *ident, size_t identlen);
int mdc_incref(mdc_client *c, const char *ident);
int mdc_decref(mdc_client *c, const char *ident);
/* number_of_objects(); negative on error. */
long mdc_number_of_objects(mdc_client *c);
/* debug_info() as a new str value. */
int mdc_debug_info(mdc_client *c, mdc_value **text);
/* Ask the server to stop. */
int mdc_shutdown(mdc_client *c);
/* Any server method by name on a short connection (managerctl sends
 * managerd's #managerd.* requests this way). args: tuple or NULL. Returns
 * MDC_RETURN, MDC_EXCEPTION or MDC_REMOTE_ERROR with *result set, or a
 * negative error. */
int mdc_server_call(mdc_client *c, const char *method, mdc_value *args, mdc_value *kwargs,
                    mdc_value **result);

/* A method call on a shared object, on this client's long connection
 * (opened with accept_connection on first use). Returns MDC_RETURN,
 * MDC_EXCEPTION or MDC_REMOTE_ERROR with *result set, or a negative
 * error. A #PROXY reply (e.g. iter() of a dict) returns MDC_RETURN with
 * *result = (exposed, token); mdc_token_ident reads the new ident, which
 * holds one reference the caller owns. */
int mdc_call(mdc_client *c, const char *ident, const char *method, mdc_value *args,
             mdc_value *kwargs, mdc_value **result);

/* ---- values ------------------------------------------------------------ */

mdc_value *mdc_none(void);
mdc_value *mdc_bool(bool b);
mdc_value *mdc_int(int64_t i);
mdc_value *mdc_float(double d);
mdc_value *mdc_str(const char *utf8);
mdc_value *mdc_str_n(const char *utf8, size_t n);
mdc_value *mdc_bytes(const void *data, size_t n);
/* mdc_tuple(2, a, b): items borrowed. */
mdc_value *mdc_tuple(size_t n, ...);
mdc_value *mdc_list(void);
mdc_value *mdc_dict(void);
int mdc_list_append(mdc_value *list, mdc_value *item);
int mdc_dict_set(mdc_value *dict, mdc_value *key, mdc_value *value);
void mdc_value_free(mdc_value *v);

/* Inspecting: type name as Python prints it ("int", "str", "KeyError"). */
const char *mdc_type_name(const mdc_value *v);
/* 0 and *out, or -1 when v is not an int that fits. */
int mdc_int_get(const mdc_value *v, int64_t *out);
int mdc_float_get(const mdc_value *v, double *out);
/* NUL-terminated UTF-8 of a str (borrowed), or NULL. */
const char *mdc_str_get(const mdc_value *v);
/* Bytes of bytes/bytearray (borrowed), or NULL. */
const uint8_t *mdc_bytes_get(const mdc_value *v, size_t *len);
size_t mdc_len(const mdc_value *v);      /* tuple, list, dict, set, str */
mdc_value *mdc_item(const mdc_value *v, size_t i);  /* borrowed, tuple/list */
/* repr(v) as Python prints it; malloc'd, free() it. */
char *mdc_repr(const mdc_value *v);
/* The exception's class name ("KeyError") and the module ("builtins"). */
const char *mdc_exc_class(const mdc_value *exc);
const char *mdc_exc_module(const mdc_value *exc);
/* The ident inside a #PROXY result or a Token (borrowed), or NULL. */
const char *mdc_token_ident(const mdc_value *proxy_result);

#ifdef __cplusplus
}
#endif

#endif /* MDC_H */
