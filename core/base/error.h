/* error.h - managerd's C error codes, made from one list.
 *
 * Functions that can fail return 0 or a negative MD_E* code and keep a
 * readable message on the handle they work on. Python-level exceptions
 * (KeyError, queue.Empty, ...) are not C errors: they are values (see
 * md_pyerr in value.h and md_outcome in the dispatcher).
 */
#ifndef MD_ERROR_H
#define MD_ERROR_H

#define MD_ERRORS(X)                                                   \
    X(OK, 0, "success")                                                \
    X(ENOMEM, -1, "out of memory")                                     \
    X(EPROTO, -2, "protocol error")                                    \
    X(ETOOBIG, -3, "message too large")                                \
    X(EDEPTH, -4, "nesting too deep")                                  \
    X(ELIMIT, -5, "limit exceeded")                                    \
    X(EAUTH, -6, "authentication failed")                              \
    X(EIO, -7, "input/output error")                                   \
    X(EEOF, -8, "connection closed")                                   \
    X(ETIMEOUT, -9, "timed out")                                       \
    X(EINVAL, -10, "invalid argument")                                 \
    X(EUNSUPPORTED, -11, "not supported")                              \
    X(EAGAIN, -12, "try again")                                        \
    X(EREMOTE, -13, "remote error")

typedef enum md_err {
#define MD_ERR_ENUM(name, code, text) MD_##name = code,
    MD_ERRORS(MD_ERR_ENUM)
#undef MD_ERR_ENUM
} md_err;

const char *md_strerror(int code);
const char *md_err_name(int code);

/* Always-on invariant check: reports file and line, then aborts. */
#define MD_ASSERT(cond)                                                \
    do {                                                               \
        if (!(cond))                                                   \
            md_assert_fail(#cond, __FILE__, __LINE__);                 \
    } while (0)

_Noreturn void md_assert_fail(const char *expr, const char *file, int line);

#endif /* MD_ERROR_H */
