/* obj.h - shared objects: the things a manager client holds proxies to
 * (a dict, a Queue, a Lock, ...), the calls made on them, and how a call
 * completes now, fails, returns a new proxy, or parks until later.
 *
 * Every shared type is one file in core/types/ that declares an md_type:
 * its constructor, its exposed methods as a static const table of rows
 * (name, handler, parameter names, arity), repr/str, #GETVALUE and what to
 * do when a client goes away; one line in core/types/registry.h's table
 * registers it. The dispatcher (core/disp/) checks exposure
 * and binds positional and keyword arguments to the row's parameter names
 * in one place before any handler runs, so a handler only sees
 * call->argv[i] (NULL when the argument was not given).
 *
 * Everything runs on the single event-loop thread: no locks.
 *
 * Ownership follows core/value/value.h: arguments borrowed, results new, "steal"
 * says otherwise. call->argv[] items are borrowed for the duration of the
 * handler; keep a reference (md_incref) to store one.
 */
#ifndef MD_OBJ_H
#define MD_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/value/value.h"

typedef struct md_obj md_obj;
typedef struct md_type md_type;
typedef struct md_call md_call;
typedef struct md_peer md_peer;       /* one caller: a long connection */
typedef struct md_waiter md_waiter;
typedef struct md_server md_server;

#define MD_MAX_PARAMS 6

/* ---- method tables --------------------------------------------------- */

/* A handler completes the call by setting its outcome (md_return*,
 * md_raise*) and returning MD_CALL_DONE, or parks it (md_park) and
 * returns MD_CALL_PARKED. */
enum { MD_CALL_DONE = 0, MD_CALL_PARKED = 1 };
typedef int (*md_method_fn)(md_call *call);
typedef void (*md_after_fn)(md_val *a, md_val *b, void *ctx);

enum md_method_flags {
    MD_M_VARARGS = 1 << 0,  /* extra positional args land in call->varargs */
    MD_M_VARKW = 1 << 1,    /* unknown keywords land in call->varkw */
    /* Keyword arguments: a method of a type with a pyclass (a Python
     * builtin type: dict, list, ...) refuses them, as CPython's C methods
     * do, unless its row says MD_M_KEYWORDS (list.sort) or MD_M_VARKW;
     * MD_M_NOKW refuses them anywhere (the ctor_flags of list() and
     * set()). MD_M_DESCR names a dunder row a method of the class
     * ("dict.__getitem__()") rather than a slot wrapper ("wrapper
     * __len__()") in that TypeError. */
    MD_M_NOKW = 1 << 2,
    MD_M_KEYWORDS = 1 << 3,
    MD_M_DESCR = 1 << 4,
};

typedef struct md_method {
    const char *name;
    md_method_fn fn;
    /* Positional parameter names, NULL-terminated; keywords of the same
     * names are accepted (q.put(3, timeout=0.2)). */
    const char *params[MD_MAX_PARAMS + 1];
    uint8_t min_args;
    uint8_t max_args;       /* ignored with MD_M_VARARGS */
    uint16_t flags;
    /* method_to_typeid: the handler returns a new object with
     * md_return_proxy and the client gets a #PROXY of this typeid. */
    const char *result_typeid;
} md_method;

struct md_type {
    const char *name;              /* "dict", "Queue", ... (its own typeid) */
    size_t size;                   /* sizeof the struct embedding md_obj */
    /* The exposed methods, ended by {NULL}: one declaration gives both
     * the handlers and the exposed tuple create() returns, which is the
     * rows' names in order followed by the names of the rows with a
     * result_typeid, as CPython's create() appends method_to_typeid's
     * (dict lists '__iter__' twice); see md_type_exposed_name(). The rows
     * are the union of what Python 2.7 - 3.14 expose, so every client
     * finds what its proxy needs. */
    const md_method *methods;
    /* Constructor: parameters bound like a method's. NULL init: the object
     * is usable zero-initialised. Returns MD_CALL_DONE, with an error
     * outcome set (md_raise*) when the arguments are bad. */
    md_method_fn init;
    const char *ctor_params[MD_MAX_PARAMS + 1];
    uint8_t ctor_min, ctor_max;
    uint16_t ctor_flags;           /* MD_M_VARARGS / MD_M_VARKW */
    /* Release what the object owns (not the struct itself). */
    void (*finalize)(md_obj *self);
    /* repr(obj) as Python prints it; str defaults to repr. */
    int (*repr)(md_obj *self, md_buf *out, md_pyerr *e);
    int (*str)(md_obj *self, md_buf *out, md_pyerr *e);
    /* #GETVALUE: a new value (a copy) for this client's protocol; NULL
     * means unpicklable and the client gets #UNSERIALIZABLE with the text
     * set in e. */
    md_val *(*getvalue)(md_obj *self, md_call *call, md_pyerr *e);
    /* A peer closed: drop its parked calls' state and release what it
     * owns. Called only for objects the peer registered with
     * md_peer_watch. */
    void (*peer_gone)(md_obj *self, md_peer *peer);
    /* The Python builtin class behind the type ("dict", "array"), whose
     * methods take no keyword arguments (MD_M_NOKW above); NULL for types
     * CPython's server runs as Python code (Queue, Namespace, ...). */
    const char *pyclass;
};

/* The common head of every shared object. */
struct md_obj {
    const md_type *type;
    uint64_t id;                   /* ident is its lowercase hex */
    uint32_t refcount;             /* the clients' count (incref/decref) */
    uint32_t stored;               /* proxies to it stored in values */
    uint32_t holds;                /* internal: parked calls, iterators */
    uint32_t flags;
    const char *typeid;            /* the name it was created under */
    struct md_obj *next_in_table;  /* object table chaining */
};

/* ---- a call ------------------------------------------------------------ */

struct md_call {
    md_server *server;
    md_obj *self;                  /* NULL for constructors before init */
    md_peer *peer;                 /* who called; owner for RLock etc. */
    const md_method *method;
    md_val *argv[MD_MAX_PARAMS];   /* bound arguments, borrowed, or NULL */
    size_t nargs;                  /* positional arguments given */
    md_val *varargs;               /* tuple of extra positionals, or NULL */
    md_val *varkw;                 /* dict of extra keywords, or NULL */
    /* The client's pickle protocol: 2 (Python 2.7), 3 (3.6/3.7), 4 or 5
     * (3.8+); 0 for XML-RPC clients. Decides family-specific results. */
    int protocol;
    /* The outcome, set by the md_return and md_raise functions. */
    int out_kind;                  /* MD_OUT_* in core/protocol/protocol.h */
    md_val *out_value;             /* owned */
    md_obj *out_proxy;             /* for md_return_proxy (a new object) */
    /* Work left for after the reply is sent (md_call_after_reply). */
    md_after_fn after;
    md_val *after_args[2];         /* owned */
    void *after_ctx;               /* fn's to free */
};

/* Have fn(a, b) run once the call's reply has been handed to its peer
 * (sent, or queued behind earlier output), before the server reads
 * anything else: the client can go on (pickle its next request) while
 * the server finishes. For work that cannot fail and whose outcome the
 * reply already states, e.g. merging a decoded dict into a reserved
 * table. Takes a reference to a and b (either may be NULL) and hands
 * ctx (any pointer, e.g. memory allocated for the work) to fn, which
 * runs exactly once; one continuation per call, and not for a call the
 * handler parks. */
void md_call_after_reply(md_call *call, md_after_fn fn, md_val *a, md_val *b, void *ctx);
/* Runs and clears the call's continuation, if any (the dispatcher). */
void md_call_run_after(md_call *call);

/* Complete the call. Each steals its value argument. */
int md_return(md_call *call, md_val *value);
int md_return_none(md_call *call);
int md_return_bool(md_call *call, bool b);
int md_return_int(md_call *call, int64_t i);
/* method_to_typeid: obj is a new object (refcount 0) made by
 * md_obj_new(); the dispatcher registers it with count 1 and replies
 * #PROXY. Steals obj. */
int md_return_proxy(md_call *call, md_obj *obj);
/* Raise module.cls(msg) (one str argument) or module.cls() when msg is
 * NULL, e.g. md_raise(c, "builtins", "KeyError", NULL) then set args with
 * md_raise_val for non-str arguments. Module names are Python 3's; the
 * encoder renames for Python 2 clients. */
int md_raise(md_call *call, const char *module, const char *cls,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int md_raise_noargs(md_call *call, const char *module, const char *cls);
/* Raise an exception value (md_exc_new / md_exc_make). Steals exc. */
int md_raise_val(md_call *call, md_val *exc);
/* Raise what a value operation reported (builtins.<e->type>(e->msg)). */
int md_raise_pyerr(md_call *call, const md_pyerr *e);
/* #TRACEBACK with a Python-like traceback text ending in "TYPE: msg\n". */
int md_raise_traceback(md_call *call, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The dispatcher's check of keyword arguments for a call of fname (a
 * method when call->method is set, else a constructor) with flags: 0, or
 * -1 with CPython 3.13's TypeError ("dict.pop() takes no keyword
 * arguments") raised on the call. See MD_M_NOKW. */
int md_check_keywords(md_call *call, const char *fname, uint16_t flags, const md_val *kwds);

/* Helpers for handlers: argument conversion with Python's TypeError
 * messages. Return 0, or -1 with the error already raised on the call. */
int md_arg_bool(md_call *call, size_t i, bool dflt, bool *out);
int md_arg_index(md_call *call, size_t i, int64_t dflt, int64_t *out);
/* Timeout in seconds: NULL/None -> *out = -1 (no limit). Negative values
 * are left to the caller, which knows the type's message. */
int md_arg_timeout(md_call *call, size_t i, double *out);

/* ---- objects ----------------------------------------------------------- */

/* A new, unregistered object of type t (zeroed struct of t->size), for
 * md_return_proxy or the registry. NULL on ENOMEM. */
md_obj *md_obj_new(const md_type *t);
/* Internal holds keep an object alive without a client count (a parked
 * call on it, an iterator over a dict). */
void md_obj_hold(md_obj *o);
void md_obj_release(md_obj *o);
/* Lowercase hex ident into buf (at least 17 bytes). */
void md_obj_ident(const md_obj *o, char *buf);
/* Objects of a server (the object table, core/objtab.c). */
size_t md_server_number_of_objects(const md_server *srv);
md_obj *md_server_find(md_server *srv, const char *ident);

/* Monotonic seconds, for deadlines (core/park.c). */
double md_now(void);

/* ---- proxies as arguments (core/proxies.c) ------------------------------ */

/* A proxy a client sent (a pickled RebuildProxy of one of this server's
 * tokens): the object it names, or NULL when v is not one or names no
 * object of ours. The dispatcher counts such a proxy as a reference for
 * as long as the value holding it lives. */
md_obj *md_proxy_referent(const md_val *v);
/* The class of the proxy CPython would rebuild from v ("AcquirerProxy",
 * "AutoProxy[Event]"), for messages; 0, or -1 if v is not a proxy. */
int md_proxy_class_name(const md_val *v, char *out, size_t n);

/* ---- parking: blocking calls without threads ------------------------- */

/* A FIFO of parked calls on one object (getters of a queue, waiters of an
 * event, ...). Zero-initialised is empty. */
typedef struct md_waitq {
    md_waiter *head, *tail;
    size_t len;
} md_waitq;

typedef void (*md_waiter_fn)(md_waiter *w);

struct md_waiter {
    md_waiter *prev, *next;        /* in its md_waitq */
    md_waitq *queue;
    md_obj *self;                  /* held while parked */
    md_peer *peer;
    const md_method *method;
    int protocol;
    md_waiter_fn on_timeout;       /* must complete the waiter */
    /* Optional, set by the type after md_park: called just before the
     * waiter is dropped without a reply (its peer went away, or the
     * object is being destroyed), so the type can fix its counts (a
     * Barrier's n_waiting). It must not complete the waiter. */
    md_waiter_fn on_cancel;
    md_val *val;                   /* owned: e.g. the item of a put */
    int64_t i64;                   /* type's scratch: depth, generation */
    double deadline;               /* monotonic seconds, <0 none */
    double since;                  /* monotonic seconds, when parked */
    void *timer;                   /* the event loop's timer */
};

/* Park the call on q. timeout_s < 0: no limit; otherwise on_timeout runs
 * at the deadline (it must complete the waiter with md_waiter_return or
 * md_waiter_raise*). val is stolen (may be NULL). Returns MD_CALL_PARKED,
 * or MD_CALL_DONE with MemoryError raised on the call. */
int md_park(md_call *call, md_waitq *q, double timeout_s,
            md_waiter_fn on_timeout, md_val *val);
/* Complete a parked call: the reply is sent to its peer, the waiter is
 * unlinked and freed. Each steals its value. */
void md_waiter_return(md_waiter *w, md_val *value);
void md_waiter_raise(md_waiter *w, md_val *exc);
void md_waiter_raise_new(md_waiter *w, const char *module, const char *cls,
                         const char *msg);
/* The waiter md_park just queued for call (the tail of q). */
md_waiter *md_waitq_last(const md_waitq *q);
/* Oldest waiter, or NULL. */
md_waiter *md_waitq_first(const md_waitq *q);
/* Move a waiter (still parked) to the tail of another queue, e.g. a
 * Condition waiter that was notified and now waits for the lock. */
void md_waiter_move(md_waiter *w, md_waitq *to);
/* Drop every waiter of q without replying (the object is going away). */
void md_waitq_drop_all(md_waitq *q);

/* Ask to be told (type->peer_gone) when peer closes; counted, so watch
 * twice needs unwatch twice. Used for ownership (RLock, Condition). */
int md_peer_watch(md_peer *peer, md_obj *o);
void md_peer_unwatch(md_peer *peer, md_obj *o);

#endif /* MD_OBJ_H */
