"""Scenario 3: blocking calls, timeouts, and proxies in child processes.

A blocking call parks only its own connection: a get() in one thread is
completed by a put() from another, timeouts expire on time, and child
processes (fork everywhere, spawn on 3.x) use proxies handed to them.
Runs under every Python from 2.7 to 3.13.
"""
from __future__ import print_function

import multiprocessing
import os
import sys
import time

import clientlib as cl
from clientlib import PY2, queue


def timed(fn):
    t0 = time.time()
    try:
        return ('ok', fn()), time.time() - t0
    except Exception as e:                     # noqa: BLE001
        return ('exc', cl.exc_text(e)), time.time() - t0


def timeouts(R, m, slow):
    q = m.Queue()
    (res, dt) = timed(lambda: q.get(True, 0.2))
    R.check('get-timeout-empty', res[0] == 'exc' and 'Empty' in res[1], res)
    R.check('get-timeout-duration', 0.15 <= dt <= 0.2 + 3 * slow, '%.3fs' % dt)
    (res, dt) = timed(lambda: q.get(timeout=0.3))
    R.check('get-timeout-kw', res[0] == 'exc' and 'Empty' in res[1] and 0.25 <= dt, (res, dt))
    full = m.Queue(1)
    full.put(0)
    (res, dt) = timed(lambda: full.put(1, True, 0.2))
    R.check('put-timeout-full', res[0] == 'exc' and 'Full' in res[1] and 0.15 <= dt <= 0.2 + 3 * slow,
            (res, dt))

    e = m.Event()
    (res, dt) = timed(lambda: e.wait(0.2))
    R.check('event-wait-timeout', res == ('ok', False) and 0.15 <= dt <= 0.2 + 3 * slow, (res, dt))
    (res, dt) = timed(lambda: e.wait(0))
    R.check('event-wait-zero', res == ('ok', False) and dt <= 3 * slow, (res, dt))

    lk = m.Lock()
    lk.acquire()
    if not PY2:
        (res, dt) = timed(lambda: lk.acquire(timeout=0.3))
        R.check('lock-acquire-timeout', res == ('ok', False) and 0.25 <= dt <= 0.3 + 3 * slow, (res, dt))
        (res, dt) = timed(lambda: lk.acquire(True, 0))
        R.check('lock-acquire-timeout-zero', res == ('ok', False) and dt <= 3 * slow, (res, dt))
    (res, dt) = timed(lambda: lk.acquire(False))
    R.check('lock-acquire-nonblocking', res == ('ok', False) and dt <= 3 * slow, (res, dt))

    # a lock held by another thread: acquire() waits for its release
    w = cl.Worker(lambda: (time.sleep(0.3), lk.release()))
    w.start()
    (res, dt) = timed(lambda: lk.acquire(True, 10 * slow) if not PY2 else lk.acquire())
    R.check('lock-acquire-waits-for-release', res == ('ok', True) and dt >= 0.2, (res, dt))
    w.join(5 * slow)
    lk.release()

    c = m.Condition()
    c.acquire()
    (res, dt) = timed(lambda: c.wait(0.2))
    c.release()
    R.check('condition-wait-timeout', res == ('ok', None if PY2 else False) and dt >= 0.15, (res, dt))

    s = m.Semaphore(0)
    if not PY2:
        (res, dt) = timed(lambda: s.acquire(True, 0.2))
        R.check('semaphore-acquire-timeout', res == ('ok', False) and dt >= 0.15, (res, dt))
    w = cl.Worker(lambda: (time.sleep(0.2), s.release()))
    w.start()
    (res, dt) = timed(lambda: s.acquire())
    R.check('semaphore-acquire-waits', res == ('ok', True) and dt >= 0.15, (res, dt))


def cross_thread(R, m, slow):
    q = m.Queue()
    got = []

    def getter():
        v = q.get()
        got.append(time.time())
        return v
    w = cl.Worker(getter)
    w.start()
    time.sleep(0.3)
    R.check('get-still-blocked', not w.done, 'get returned %r early' % (w.result,))
    # the main thread's own calls are served while the other thread waits
    R.check('other-calls-served-meanwhile', q.qsize() == 0 and q.empty())
    t_put = time.time()
    q.put('late')
    R.check('blocked-get-completed-by-put', w.outcome(10 * slow) == "ok 'late'", w.outcome(0))
    R.check('get-returned-after-put', got and got[0] >= t_put, (got, t_put))

    # many parked getters, one item each
    n = 8
    ws = [cl.Worker(lambda: q.get(True, 10 * slow)) for _ in range(n)]
    for x in ws:
        x.start()
    time.sleep(0.3)
    for i in range(n):
        q.put(i)
    outs = [x.outcome(10 * slow) for x in ws]
    R.check('parked-getters-each-one-item', sorted(outs) == sorted('ok %d' % i for i in range(n)), outs)

    # a blocked put completed by a get
    b = m.Queue(1)
    b.put('first')
    w = cl.Worker(lambda: b.put('second', True, 10 * slow))
    w.start()
    time.sleep(0.2)
    R.check('put-blocked-while-full', not w.done)
    R.check('get-frees-slot', b.get() == 'first')
    R.check('blocked-put-completed', w.outcome(10 * slow) == 'ok None', w.outcome(0))
    R.check('second-item-arrived', b.get(True, 5 * slow) == 'second')

    # Event.wait in three threads, one set()
    e = m.Event()
    ws = [cl.Worker(lambda: e.wait(10 * slow)) for _ in range(3)]
    for x in ws:
        x.start()
    time.sleep(0.2)
    e.set()
    outs = [x.outcome(10 * slow) for x in ws]
    R.check('event-wakes-all-waiters', outs == ['ok True'] * 3, outs)


# ---- child processes --------------------------------------------------------

def child_main(d, q, q2, lk, ev, tag):
    """Runs in a child process with proxies handed to it."""
    d[tag] = os.getpid()
    q.put((tag, 'hello'))
    lk.acquire()
    try:
        d[tag + '-locked'] = True
    finally:
        lk.release()
    d[tag + '-ev'] = ev.wait(20)
    d[tag + '-got'] = q2.get(True, 20)
    d[tag + '-len'] = len(d)


def child_scenario(R, m, ctx, tag, slow):
    d = m.dict()
    q = m.Queue()
    q2 = m.Queue()
    lk = m.Lock()
    ev = m.Event()
    lk.acquire()          # the child blocks on it until we release
    Process = ctx.Process if ctx is not None else multiprocessing.Process
    p = Process(target=child_main, args=(d, q, q2, lk, ev, tag))
    p.start()
    try:
        try:
            hello = q.get(True, 30 * slow)
        except queue.Empty:
            hello = 'nothing (queue.Empty)'
        R.check(tag + ': child put through its queue proxy', hello == (tag, 'hello'), hello)
        time.sleep(0.2)
        R.check(tag + ': child blocked on our lock', (tag + '-locked') not in d)
        lk.release()
        R.check(tag + ': child got the lock after release',
                cl.wait_until(lambda: (tag + '-locked') in d, 20 * slow))
        ev.set()
        q2.put('for-child')
        p.join(30 * slow)
        R.check(tag + ': child exited 0', p.exitcode == 0, 'exitcode %r' % p.exitcode)
        R.check(tag + ': child pid stored', d.get(tag) == p.pid, d.get(tag))
        R.check(tag + ': child saw the event', d.get(tag + '-ev') is True, d.get(tag + '-ev'))
        R.check(tag + ': child got our item', d.get(tag + '-got') == 'for-child', d.get(tag + '-got'))
        R.check(tag + ': parent proxies still work', len(d) == 5 and q.empty(), d._getvalue())
    finally:
        if p.is_alive():
            p.terminate()
            p.join(5)


def waiter_child(q, out):
    out.put(('got', q.get(True, 20)))


def blocked_child(R, m, ctx, tag, slow):
    """A child blocked in get() is completed by a put() from the parent."""
    q = m.Queue()
    out = m.Queue()
    Process = ctx.Process if ctx is not None else multiprocessing.Process
    p = Process(target=waiter_child, args=(q, out))
    p.start()
    time.sleep(0.5)
    q.put(tag)
    try:
        r = out.get(True, 30 * slow)
    except queue.Empty:
        r = 'nothing'
    p.join(30 * slow)
    if p.is_alive():
        p.terminate()
    R.check(tag + ': child blocked in get got the parent put', r == ('got', tag), r)
    R.check(tag + ': waiter child exited 0', p.exitcode == 0, p.exitcode)


def processes(R, m, slow):
    if PY2:
        R.guard('fork', child_scenario, R, m, None, 'fork', slow)
        R.guard('fork-blocked', blocked_child, R, m, None, 'fork-blocked', slow)
    else:
        for method in ('fork', 'spawn'):
            ctx = multiprocessing.get_context(method)
            R.guard(method, child_scenario, R, m, ctx, method, slow)
            R.guard(method + '-blocked', blocked_child, R, m, ctx, method + '-blocked', slow)


def main(R, a):
    m = cl.connect(a)
    # processes first, while this process has no other threads (fork)
    processes(R, m, a.slow)
    R.guard('timeouts', timeouts, R, m, a.slow)
    R.guard('cross-thread', cross_thread, R, m, a.slow)


if __name__ == '__main__':
    cl.run_main(main)
