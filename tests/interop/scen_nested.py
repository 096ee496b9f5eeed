"""Scenario: proxies however they arrive, owner-less locks, and a Condition
on a Lock or RLock of the server (issue 7, points 2, 3 and 4).

- Nested proxies: a proxy passed as a keyword argument (m.dict(pets=pets),
  d.update(k=p), m.Namespace(x=p)), set as a Namespace attribute, put in a
  Queue (alone, in a list, in a dict in a dict, to a getter already
  waiting), stored in a Value, in lists of lists and dicts of dicts (the
  shapes of CPython's test_list_proxy_in_list and test_dict_proxy_nested):
  each referent lives while the value holding it does, and
  _number_of_objects() is back to its start once everything is released.
- Lock, Semaphore and BoundedSemaphore have no owner: a child process
  takes one and exits, the parent releases it (CPython's test_lock). An
  RLock a vanished child held is released by managerd (CPython keeps it
  forever: managerd-only).
- m.Condition(m.Lock()), m.Condition(m.RLock()) and
  m.Condition(m.Semaphore()): one lock shared with its own proxy;
  wait/notify across threads and processes. CPython's
  server refuses wait and notify on Condition(m.RLock()) (its server
  reaches the RLock through a proxy of its own, from another thread):
  those steps are not compared, and the checks say which server does what.

Needs a server of its own (run.py starts one per interpreter): it counts
objects. Runs under every Python from 2.7 to 3.13; a CPython 2.7 server
stores a copy of the referent instead of the proxy, so proxy-shaped
results are compared from 3.6 on only.
"""
from __future__ import print_function

import multiprocessing
import threading
import time

import clientlib as cl
from clientlib import PY2, queue

MD = 'managerd'
# CPython 2.7's server rebuilds a stored proxy into its referent (a copy
# comes back): the nested results are the server's own there.
NESTED_ONLY = MD if PY2 else None
NESTED_CMP = not PY2


def proc_ctx():
    return multiprocessing if PY2 else multiprocessing.get_context('fork')


def settle(R, m, name, want, slow):
    got = cl.count_settles(m, want, 5 * slow)
    R.check(name, got == want, 'number_of_objects %r, want %r' % (got, want))


# ---- point 2: nested proxies -------------------------------------------------

def keywords(R, m, slow):
    n0 = m._number_of_objects()
    pets = m.dict(ferrets=2, hamsters=4)
    supplies = m.dict(water=10, feed=3)
    d = m.dict(pets=pets, supplies=supplies)
    R.expect('kw: create dict(pets=...)', lambda: d['supplies']['water'], 10, NESTED_ONLY, NESTED_CMP)
    d['supplies']['blankets'] = 5
    R.expect('kw: seen through the original', lambda: supplies['blankets'], 5, NESTED_ONLY, NESTED_CMP)
    pets = supplies = None
    cl.collect()
    R.expect('kw: stored dict alive after the sender dropped it', lambda: d['pets']['ferrets'], 2,
             NESTED_ONLY, NESTED_CMP)
    p = m.list([1, 2])
    d.update(k=p)
    p = None
    cl.collect()
    R.expect('kw: update(k=p)', lambda: d['k'][:], [1, 2], NESTED_ONLY, NESTED_CMP)
    p = m.list(['x'])
    ns = m.Namespace(x=p, n=1)
    p = None
    cl.collect()
    R.expect('kw: Namespace(x=p)', lambda: ns.x[:], ['x'], NESTED_ONLY, NESTED_CMP)
    p = m.dict({'y': 1})
    ns.y = p
    p = None
    cl.collect()
    R.expect('kw: namespace attribute', lambda: ns.y['y'], 1, NESTED_ONLY, NESTED_CMP)
    p = m.list([7])
    v = m.Value('O', p)
    p = None
    cl.collect()
    R.expect('kw: Value holding a proxy', lambda: v.value[:], [7], NESTED_ONLY, NESTED_CMP)
    # test_dict_proxy_nested's second half
    pets = d['pets']
    supplies = d['supplies']
    d.clear()
    R.expect('kw: read-back proxies outlive the clear', lambda: (supplies['water'], pets['hamsters']),
             (10, 4), NESTED_ONLY, NESTED_CMP)
    l = m.list([pets, supplies])
    l[0]['marmots'] = 1
    R.expect('kw: dict in list', lambda: pets['marmots'], 1, NESTED_ONLY, NESTED_CMP)
    pets = supplies = None
    cl.collect()
    R.expect('kw: still in the list', lambda: l[0]['marmots'], 1, NESTED_ONLY, NESTED_CMP)
    outer = m.list([[88, 99], l])
    R.expect('kw: plain list stays a list', lambda: type(outer[0]).__name__, 'list')
    R.expect('kw: list of list of dict', lambda: outer[-1][-1]['feed'], 3, NESTED_ONLY, NESTED_CMP)
    d = ns = v = l = outer = None
    settle(R, m, 'kw: back to the start', n0, slow)


def lists(R, m, slow):
    """CPython's test_list_proxy_in_list, with list(...) for range()."""
    n0 = m._number_of_objects()
    a = m.list([m.list([0, 1, 2]) for _i in range(3)])
    R.expect('list: inner lists', lambda: [inner[:] for inner in a], [[0, 1, 2]] * 3, NESTED_ONLY,
             NESTED_CMP)
    a[0][-1] = 55
    R.expect('list: one changed', lambda: [inner[:] for inner in a], [[0, 1, 55], [0, 1, 2], [0, 1, 2]],
             NESTED_ONLY, NESTED_CMP)
    R.expect('list: pop through the outer', lambda: a[1].pop(), 2, NESTED_ONLY, NESTED_CMP)
    R.expect('list: lengths', lambda: [len(inner) for inner in a], [3, 2, 3], NESTED_ONLY, NESTED_CMP)
    x = m.list([8])
    b = m.list([[x]])
    x = None
    cl.collect()
    R.expect('list: proxy in a plain list in a list', lambda: b[0][0][:], [8], NESTED_ONLY, NESTED_CMP)
    deep = m.dict({'a': {'b': m.dict({'c': 1})}})
    cl.collect()
    R.expect('list: dict in dict in dict', lambda: deep['a']['b']['c'], 1, NESTED_ONLY, NESTED_CMP)
    a = b = deep = None
    settle(R, m, 'list: back to the start', n0, slow)


def queues(R, m, slow):
    n0 = m._number_of_objects()
    q = m.Queue()
    p = m.list([4])
    q.put(p)
    q.put([m.list([5])])
    q.put_nowait({'a': {'b': m.dict({'c': 6})}})
    p = None
    cl.collect()
    R.expect('queue: put(p)', lambda: q.get()[:], [4], NESTED_ONLY, NESTED_CMP)
    R.expect('queue: put([p])', lambda: q.get()[0][:], [5], NESTED_ONLY, NESTED_CMP)
    R.expect('queue: put({a: {b: p}})', lambda: q.get()['a']['b']['c'], 6, NESTED_ONLY, NESTED_CMP)
    # a getter already waiting when the proxy arrives
    w = cl.Worker(lambda: q.get(True, 20 * slow)[:])
    w.start()
    time.sleep(0.3)
    q.put(m.list(['parked']))
    cl.collect()
    R.check('queue: parked getter gets a live proxy', w.outcome(20 * slow) == "ok ['parked']",
            w.outcome(0), NESTED_ONLY)
    # an item left in the queue dies with it
    q.put(m.list(['left']))
    cl.collect()
    R.expect('queue: one left inside', lambda: q.qsize(), 1)
    q = w = None
    settle(R, m, 'queue: back to the start', n0, slow)


# ---- point 3: locks without an owner ------------------------------------------

def take(lock):
    lock.acquire()


def take_rlock(lock, out):
    lock.acquire()
    out.put('taken')


def run_child(target, args, slow):
    p = proc_ctx().Process(target=target, args=args)
    p.start()
    p.join(30 * slow)
    if p.is_alive():
        p.terminate()
        p.join(5)
    return p.exitcode


def owners(R, m, slow):
    n0 = m._number_of_objects()
    for name in ('Lock', 'Semaphore', 'BoundedSemaphore'):
        o = getattr(m, name)()
        R.expect('owner: %s child exited 0' % name, lambda: run_child(take, (o,), slow), 0)
        R.expect('owner: %s still taken after the child exited' % name, lambda: o.acquire(False), False)
        R.expect('owner: %s released by the parent' % name, o.release, None)
        R.expect('owner: %s free again' % name, lambda: o.acquire(False), True)
        o.release()
        o = None
    lk = m.Lock()
    run_child(take, (lk,), slow)
    lk.release()
    R.expect_exc('owner: Lock released twice', lk.release, (RuntimeError, Exception))
    # another thread (connection) may release what this one took
    lk.acquire()
    w = cl.Worker(lk.release)
    w.start()
    R.check('owner: released by another thread', w.outcome(10 * slow) == 'ok None', w.outcome(0))
    R.expect('owner: free after the other thread released it', lambda: lk.acquire(False), True)
    lk.release()
    # an RLock has an owner: managerd releases a vanished owner's RLock,
    # CPython's server keeps it held by a dead thread
    rl = m.RLock()
    out = m.Queue()
    run_child(take_rlock, (rl, out), slow)
    R.check('owner: child took the RLock', out.get(True, 10 * slow) == 'taken')
    if not PY2:
        ok, r = R.step('owner: RLock of a vanished child', lambda: rl.acquire(True, 3 * slow), compare=False)
        R.check('owner: RLock of a vanished child released (managerd)', ok and r is True, r, only=MD)
        R.check('owner: RLock of a vanished child held (CPython)', ok and r is False, r, only='cpython')
        if ok and r:
            rl.release()
    lk = w = rl = out = None
    settle(R, m, 'owner: back to the start', n0, slow)


# ---- point 4: Condition on a Lock or RLock -------------------------------------

def notifier(c, ns):
    c.acquire()
    try:
        ns.ready = True
        c.notify()
    finally:
        c.release()


def wait_ready(c, ns, slow):
    """Wait on c (held) until ns.ready, bounded; returns ns.ready."""
    end = time.time() + 20 * slow
    while not ns.ready and time.time() < end:
        c.wait(1)
    return ns.ready


def condition_on(R, m, kind, slow):
    tag = 'cond(%s)' % kind
    lk = getattr(m, kind)()
    c = m.Condition(lk)
    # CPython's server cannot wait or notify on Condition(m.RLock()), except
    # 2.7's, which rebuilds the proxy into the RLock itself
    works_on_cpython = kind != 'RLock' or PY2
    only = None if works_on_cpython else MD
    cmp_ = works_on_cpython
    owned = kind == 'RLock'
    R.expect(tag + ': acquire', c.acquire, True)
    R.expect(tag + ': the same lock through its own proxy',
             lambda: 'skipped' if owned else lk.acquire(False), 'skipped' if owned else False)
    ok, r = R.step(tag + ': wait(0.1) times out', lambda: c.wait(0.1), compare=cmp_)
    R.check(tag + ': wait(0.1) times out', ok and r in (False, None), r, only)
    if not works_on_cpython:
        R.check(tag + ': CPython refuses the wait', not ok and 'cannot wait on un-acquired lock' in str(r),
                r, only='cpython')
    # a thread notifies
    ns = m.Namespace(ready=False)
    w = cl.Worker(notifier, c, ns)
    w.start()
    ok, r = R.step(tag + ': notified by a thread', lambda: wait_ready(c, ns, slow), compare=cmp_)
    R.check(tag + ': notified by a thread', ok and r is True, r, only)
    R.expect(tag + ': release', c.release, None)
    R.check(tag + ': notifier thread done', w.outcome(20 * slow) == 'ok None', w.outcome(0), only)
    # a child process notifies
    ns.ready = False
    c.acquire()
    p = proc_ctx().Process(target=notifier, args=(c, ns))
    p.start()
    ok, r = R.step(tag + ': notified by a process', lambda: wait_ready(c, ns, slow), compare=cmp_)
    R.check(tag + ': notified by a process', ok and r is True, r, only)
    c.release()
    p.join(30 * slow)
    if p.is_alive():
        p.terminate()
        p.join(5)
    R.check(tag + ': notifier process exited 0', p.exitcode == 0, p.exitcode, only)
    # the lock is free once both let go; the condition is drawn on it
    R.expect(tag + ': free at the end', lambda: (lk.acquire(False), lk.release())[0], True)
    if kind == 'RLock' and not PY2:
        # acquired through the RLock's proxy, waited on through the
        # condition's: one owner in managerd
        lk.acquire()
        ok, r = R.step(tag + ': wait after acquiring through the lock', lambda: c.wait(0.1), compare=False)
        R.check(tag + ': wait after acquiring through the lock', ok and r is False, r, only=MD)
        lk.release()


def conditions(R, m, slow):
    n0 = m._number_of_objects()
    R.guard('cond(Lock)', condition_on, R, m, 'Lock', slow)
    R.guard('cond(RLock)', condition_on, R, m, 'RLock', slow)
    R.guard('cond(Semaphore)', condition_on, R, m, 'Semaphore', slow)
    c = m.Condition()
    R.expect('cond(): acquire', c.acquire, True)
    R.expect('cond(): wait(0.05)', lambda: c.wait(0.05), None if PY2 else False)
    R.expect('cond(): release', c.release, None)
    R.expect_exc('cond(1) refused', lambda: m.Condition(1), Exception)
    c = None
    settle(R, m, 'cond: back to the start', n0, slow)


def main(R, a):
    m = cl.connect(a)
    n0 = m._number_of_objects()
    # child processes first, while this process has no other threads (fork)
    R.guard('owners', owners, R, m, a.slow)
    R.guard('conditions', conditions, R, m, a.slow)
    R.guard('keywords', keywords, R, m, a.slow)
    R.guard('lists', lists, R, m, a.slow)
    R.guard('queues', queues, R, m, a.slow)
    settle(R, m, 'back to the start at the end', n0, a.slow)


if __name__ == '__main__':
    cl.run_main(main)
