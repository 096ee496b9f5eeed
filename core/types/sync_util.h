/* sync_util.h - what the synchronisation types (core/types/queue.c,
 * event.c, lock.c, condition.c, barrier.c) share: timeout arguments with
 * the messages Python gives, ownership bookkeeping through md_peer_watch,
 * the lock core that Lock, RLock and Condition are built on, and what a
 * Condition on a Semaphore needs of it.
 *
 * Internal to core/types: nothing outside these files includes it.
 */
#ifndef MD_TYPES_SYNC_UTIL_H
#define MD_TYPES_SYNC_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/obj.h"

/* ---- arguments --------------------------------------------------------- */

/* Timeout argument i of a threading/queue method, which takes a number or
 * None. Absent or None: *given = false. A number: *given = true and *out
 * set (negative values are left to the caller). Anything else raises
 * TypeError built from type_fmt, whose one %s is the argument's type name:
 * Python's own methods fail in different places (queue compares with
 * '<', threading adds to time()), so each caller passes its text.
 * Returns 0, or -1 with the error raised on the call. */
int md_sync_arg_timeout(md_call *call, size_t i, const char *type_fmt, bool *given,
                        double *out);

/* ---- ownership --------------------------------------------------------- */

/* md_peer_watch / md_peer_unwatch that accept a NULL peer (a call made
 * without a connection identity owns nothing and is never told). */
int md_sync_watch(md_peer *peer, md_obj *o);
void md_sync_unwatch(md_peer *peer, md_obj *o);

/* A stable number standing for a peer in reprs ("owner=..."), where
 * CPython prints the owning thread's ident. A hash, not the address, so
 * reprs do not reveal heap addresses. 0 for NULL. */
uint64_t md_sync_peer_number(const md_peer *peer);

/* #GETVALUE of a synchronisation object: always unpicklable. Sets e to
 * the TypeError Python gives when pickling it (its first lock is `what`,
 * "_thread.lock" or "_thread.RLock"; Python 2 words it differently) and
 * returns NULL. */
md_val *md_sync_unpicklable(const md_call *call, md_pyerr *e, const char *what);

/* ---- the lock core: Lock, RLock, and the RLock inside a Condition ------ */

/* Invariants:
 *   - count == 0 means unlocked, and then q is empty (whoever frees the
 *     lock hands it to the oldest waiter at once);
 *   - for a reentrant core (RLock, a Condition's own RLock) a peer holds
 *     one md_peer_watch registration on the object for its ownership and
 *     one for a parked call on the lock, so that a vanished peer's lock
 *     is released (peer_gone) and every registration is dropped exactly
 *     once; a plain Lock's core has no owner and registers nothing.
 * Waiters in q: w->i64 is the count to take when granted (1, or the depth
 * a Condition waiter had saved) and w->val the value to reply with (NULL:
 * True). */
typedef struct md_lockcore {
    md_peer *owner;        /* RLock: the owner; always NULL for a Lock */
    int64_t count;         /* recursion depth; 0 unlocked */
    md_waitq q;            /* parked acquirers, oldest first */
    bool reentrant;        /* RLock semantics (owner re-acquires, owner releases) */
} md_lockcore;

/* The layout every lock-bearing object starts with, so that waiter
 * callbacks find the core from w->self. */
typedef struct md_lockobj {
    md_obj base;
    md_lockcore lk;
} md_lockobj;

static inline md_lockcore *md_lockcore_of(md_obj *o)
{
    return &((md_lockobj *)o)->lk;
}

/* True if peer holds the (reentrant) lock. */
bool md_lockcore_owned_by(const md_lockcore *lk, const md_peer *peer);

/* Lock.acquire(blocking=True, timeout=-1) and RLock.acquire with
 * _thread's argument checks; completes, or parks the call. */
int md_lockcore_acquire(md_call *call);
/* Lock.release() / RLock.release() with _thread's errors. */
int md_lockcore_release(md_call *call);

/* Release a lock completely (count to 0, owner cleared) and hand it on.
 * unwatch: drop the owner's registration (false inside peer_gone, where
 * the dispatcher has already consumed it). */
void md_lockcore_release_all(md_obj *self, bool unwatch);
/* While the lock is free, hand it to the oldest waiter. */
void md_lockcore_grant(md_obj *self);

/* type->peer_gone for lock-bearing types: release what peer holds. */
void md_lockcore_peer_gone(md_obj *self, md_peer *peer);
/* on_cancel of every waiter that holds a registration: drop it. */
void md_lockcore_waiter_cancelled(md_waiter *w);
/* Forget owner and waiters (finalize). */
void md_lockcore_finalize(md_obj *self);

/* "<locked _thread.lock object at 0x...>" / "<unlocked _thread.RLock
 * object owner=0 count=0 at 0x...>" as Python 3.12 prints them. */
int md_lockcore_repr(md_obj *self, md_buf *out);

/* ---- a Semaphore or BoundedSemaphore under a Condition (lock.c) ------- */

bool md_sem_is(const md_obj *o);
/* Its acquire and release methods. */
int md_sem_acquire(md_call *call);
int md_sem_release(md_call *call);
/* Python's Condition deems its lock held when acquire(False) would fail:
 * no unit left. */
bool md_sem_taken(md_obj *sem);
/* A release would fail (a BoundedSemaphore at its ceiling). */
bool md_sem_full(md_obj *sem);
/* One unit back, handed to the oldest waiter (not md_sem_full). */
void md_sem_give(md_obj *sem);
/* Where a notified Condition waiter queues for a unit (w->val is its
 * reply), and handing free units to that queue's oldest waiters. */
md_waitq *md_sem_queue(md_obj *sem);
void md_sem_grant(md_obj *sem);
/* "<threading.Semaphore at 0x...: value=1>" as Python 3.13 prints it. */
int md_sem_repr(md_obj *sem, md_buf *out);

#endif /* MD_TYPES_SYNC_UTIL_H */
