/* error.h - managerd's C error codes, made from one list, and the one
 * convention of functions that can fail.
 *
 * Returns:
 *   - A function that can fail returns int: 0 (or a count, where its
 *     comment says so) on success, a negative value on failure. Codecs,
 *     the handshake and the frame reader return the MD_E* code below; the
 *     others return -1, which is MD_ENOMEM when they can fail only for
 *     memory. A function that makes something returns a pointer, NULL on
 *     failure (its comment says whether that can mean more than out of
 *     memory).
 *   - A failed call leaves what it was given as it was (no half-done
 *     change), except the message below and a sticky failure flag where
 *     the type has one (md_buf).
 * Messages (one line, no trailing newline, always NUL-terminated, cut to
 * fit):
 *   - on the handle the function works on (md_auth_ctx, mdc_client, an
 *     md_pickle_err): the handle owns it, valid until its next call;
 *   - or into a buffer the caller passes as (char *err, size_t errlen):
 *     the caller owns it and may pass NULL where the comment allows.
 *   Message buffers are MD_ERRMSG_SIZE bytes: handles' fields and callers'
 *   arrays alike. A buffer that holds one message and adds words of its
 *   own says so beside its size.
 * Python-level exceptions (KeyError, queue.Empty, ...) are not C errors:
 * they are values (md_pyerr in value.h, md_outcome in the dispatcher). */
#ifndef MD_ERROR_H
#define MD_ERROR_H

/* Bytes of one error message buffer, NUL included. */
#define MD_ERRMSG_SIZE 256

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
