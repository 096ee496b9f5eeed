"""Scenario 2: exceptions as the client sees them, class and message.

Every error a program can meet through a proxy arrives as the real class
(#ERROR carries the exception object): KeyError, IndexError, queue.Empty,
queue.Full, the lock error (RuntimeError; thread.error on 2.7),
BrokenBarrierError, AttributeError, ValueError, StopIteration. Errors of
server methods and of non-exposed methods are RemoteError. Runs under
every Python from 2.7 to 3.13, against managerd and CPython's own server.
"""
from __future__ import print_function

import threading

import clientlib as cl
from clientlib import PY2, PYV, queue


def exact(R, name, fn, cls, msg, args=None, compare=True, only=None):
    """fn raises exactly cls (not a subclass) with str() == msg (or one of
    a tuple) and, when given, these args."""
    ok, e = R.step(name, fn, compare=compare)
    if ok:
        return R.check(name, False, 'returned %r, want %s' % (e, cls.__name__), only)
    good = type(e) is cls
    msgs = msg if isinstance(msg, tuple) else (msg,)
    detail = 'raised %s (module %s), want %s.%s: %r' % (cl.exc_text(e), type(e).__module__,
                                                          cls.__module__, cls.__name__, msgs)
    good = good and str(e) in msgs
    if args is not None:
        good = good and tuple(e.args) == tuple(args)
        detail += ' args %r want %r' % (e.args, args)
    return R.check(name, good, detail, only)


def remote(R, name, fn, text_has=(), compare=True, only=None):
    """fn raises RemoteError; its text (str) names the problem."""
    ok, e = R.step(name, fn, compare=compare)
    if ok:
        return R.check(name, False, 'returned %r, want RemoteError' % (e,), only)
    if not isinstance(e, cl.RemoteError):
        return R.check(name, False, 'raised %s, want RemoteError' % cl.exc_text(e), only)
    text = str(e)
    missing = [t for t in text_has if t not in text]
    return R.check(name, not missing, 'RemoteError text lacks %r:\n%s' % (missing, text), only)


def main(R, a):
    m = cl.connect(a)
    d = m.dict({'a': 1})
    exact(R, 'KeyError', lambda: d['missing'], KeyError, "'missing'", ('missing',))
    exact(R, 'KeyError-tuple-key', lambda: d[(1, 'x')], KeyError, "(1, 'x')", ((1, 'x'),))
    exact(R, 'KeyError-int-key', lambda: d[42], KeyError, '42', (42,))
    exact(R, 'KeyError-del', lambda: d.__delitem__('nope'), KeyError, "'nope'", ('nope',))
    exact(R, 'KeyError-popitem', lambda: m.dict().popitem(), KeyError,
          "'popitem(): dictionary is empty'")
    exact(R, 'TypeError-unhashable', lambda: d.get({}), TypeError, "unhashable type: 'dict'")
    uk = u'cl\u00e9'
    exact(R, 'KeyError-unicode', lambda: d[uk], KeyError, repr(uk), (uk,))

    it = iter(m.dict({'x': 1}))
    next(it)
    exact(R, 'StopIteration', lambda: next(it), StopIteration, '')

    l = m.list([1, 2])
    exact(R, 'IndexError-getitem', lambda: l[5], IndexError, 'list index out of range')
    exact(R, 'IndexError-pop', lambda: m.list().pop(), IndexError, 'pop from empty list')
    exact(R, 'IndexError-pop-index', lambda: l.pop(9), IndexError, 'pop index out of range')
    exact(R, 'ValueError-remove', lambda: l.remove(42), ValueError, 'list.remove(x): x not in list')
    exact(R, 'ValueError-index', lambda: l.index(42), ValueError, '42 is not in list')
    exact(R, 'IndexError-array', lambda: m.Array('i', [1])[3], IndexError, 'array index out of range')

    q = m.Queue(1)
    exact(R, 'queue.Empty', lambda: q.get(False), queue.Empty, '')
    exact(R, 'queue.Empty-timeout', lambda: q.get(True, 0.05), queue.Empty, '')
    q.put(1)
    exact(R, 'queue.Full', lambda: q.put(2, False), queue.Full, '')
    exact(R, 'queue.Full-timeout', lambda: q.put(2, True, 0.05), queue.Full, '')
    exact(R, 'ValueError-task_done', lambda: m.JoinableQueue().task_done(), ValueError,
          'task_done() called too many times')

    lk = m.Lock()
    if PY2:
        import thread
        exact(R, 'lock-release-unlocked', lambda: lk.release(), thread.error, 'release unlocked lock')
    else:
        exact(R, 'lock-release-unlocked', lambda: lk.release(), RuntimeError, 'release unlocked lock')
    exact(R, 'rlock-release-unacquired', lambda: m.RLock().release(), RuntimeError,
          'cannot release un-acquired lock')
    exact(R, 'cond-wait-unacquired', lambda: m.Condition().wait(0.01), RuntimeError,
          'cannot wait on un-acquired lock')
    exact(R, 'bsem-over-release', lambda: m.BoundedSemaphore(1).release(), ValueError,
          'Semaphore released too many times')
    if not PY2:
        b = m.Barrier(2)
        exact(R, 'BrokenBarrierError-timeout', lambda: b.wait(0.05), threading.BrokenBarrierError, '')
        exact(R, 'BrokenBarrierError-broken', lambda: b.wait(), threading.BrokenBarrierError, '')

    ns = m.Namespace(x=1)
    exact(R, 'AttributeError-get', lambda: ns.nothere, AttributeError,
          "'Namespace' object has no attribute 'nothere'")
    # the text of a failed delattr changed in 3.11 ('nothere' before)
    exact(R, 'AttributeError-del', lambda: delattr(ns, 'nothere'), AttributeError,
          ("'Namespace' object has no attribute 'nothere'", 'nothere'))
    if PYV >= (3, 10):
        ok, e = R.step('AttributeError-name', lambda: ns.nothere)
        R.check('AttributeError-name', not ok and getattr(e, 'name', 'unset') in ('nothere', None),
                'name attribute %r' % (getattr(e, 'name', 'unset'),))

    # RemoteError: a method that is not exposed, a server-method error
    remote(R, 'RemoteError-nonexposed', lambda: d._callmethod('nosuch'), ('nosuch',))
    remote(R, 'RemoteError-nonexposed-private', lambda: d._callmethod('__class__'))
    remote(R, 'RemoteError-create-unknown-typeid', lambda: m._create('NoSuchType'), ('NoSuchType',))
    remote(R, 'RemoteError-create-bad-args', lambda: m.Semaphore(-1))
    remote(R, 'RemoteError-create-too-many-args', lambda: m.Event(1, 2, 3))
    R.check('RemoteError-still-works', d['a'] == 1)
    if a.server == 'managerd':
        # managerd refuses Pool with a clear RemoteError (README; CPython
        # would start a pool of worker processes here).
        remote(R, 'RemoteError-Pool', lambda: m.Pool(2), ('Pool',), compare=False)
        R.check('Pool-refused-then-serving', len(d) == 1, only='managerd')


if __name__ == '__main__':
    cl.run_main(main)
