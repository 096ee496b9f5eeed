"""Scenarios 4 and 8: proxies stored in shared containers, and exact
reference counts.

Needs a server of its own (run.py starts one per interpreter), because
_number_of_objects() counts every client's objects. managerd keeps a
stored proxy's referent alive exactly while it is stored (README); CPython
keeps such referents forever in a side table, 2.7 stores a copy of the
referent, and 3.6 - 3.8 cannot store AutoProxy proxies (tests/docs/protocol.md 3.6):
checks that depend on that are marked only='managerd'. Runs under every
Python from 2.7 to 3.13.
"""
from __future__ import print_function

import multiprocessing
import re
import sys
import threading

import clientlib as cl
from clientlib import PY2, PYV
from multiprocessing.managers import BaseProxy

ENTRY = re.compile(r'^  (\S+):\s+refcount=(\d+)$')


def entries(info):
    """{ident: refcount} from a debug_info text."""
    out = {}
    for line in info.split('\n'):
        mt = ENTRY.match(line)
        if mt:
            out[mt.group(1)] = int(mt.group(2))
    return out


def consistent(R, m, name):
    """debug_info has one entry per counted object."""
    n = m._number_of_objects()
    e = entries(m._debug_info())
    R.check(name + ': debug_info entries == number_of_objects', len(e) == n,
            '%d entries, %d objects' % (len(e), n))
    return n, e


def settle(R, m, name, want, slow, only=None):
    if only is not None and only != R.server:
        return None
    got = cl.count_settles(m, want, 5 * slow)
    R.check(name, got == want, 'number_of_objects %r, want %r' % (got, want))
    return got


def gone(a, ident):
    """True when the server has dropped ident: an incref of it is refused.
    (When it is there, the incref is undone at once.)"""
    from multiprocessing.connection import Client
    from multiprocessing.managers import dispatch
    c = Client(a.address, authkey=a.authkey)
    try:
        dispatch(c, None, 'incref', (ident,))
    except cl.RemoteError:
        return True
    finally:
        c.close()
    c = Client(a.address, authkey=a.authkey)
    try:
        dispatch(c, None, 'decref', (ident,))
    finally:
        c.close()
    return False


def nested(R, m, a, slow):
    """A proxy stored in a container keeps its referent alive while stored
    (managerd and CPython 3.6+); managerd also drops it once no longer
    stored, where CPython keeps it forever (an incref revives it: the
    gone() checks are managerd-only). Objects only a container holds are
    not counted by number_of_objects, on either server."""
    mgr_only = 'managerd'
    py3_or_md = None if not PY2 else mgr_only      # CPython 2.7 stores a copy instead
    n0 = m._number_of_objects()
    info0 = m._debug_info()
    d = m.dict()
    l = m.list([10])
    lid = l._token.id
    d['l'] = l
    x = d['l']
    R.check('nested: stored proxy comes back as a proxy', isinstance(x, BaseProxy), type(x), only=py3_or_md)
    x.append(11)
    R.check('nested: append through the read-back proxy', l[:] == [10, 11], l[:], only=py3_or_md)
    l.append(12)
    R.check('nested: seen through the read-back proxy', x[:] == [10, 11, 12], x[:], only=py3_or_md)
    R.check('nested: seen through a fresh read', d['l'][:] == [10, 11, 12], d['l'][:], only=py3_or_md)
    n, e = consistent(R, m, 'nested')
    R.check('nested: two objects counted', n == n0 + 2, (n, n0))
    R.check('nested: debug_info lists the list', lid in e, e)
    info = m._debug_info()
    R.check('nested: debug_info shows the list', '[10, 11, 12]' in info, info, only=py3_or_md)

    # the gotcha of tests/docs/protocol.md 3.6: a proxy unpickled from a reply
    # authenticates with the process authkey, not the manager's
    proc = multiprocessing.current_process()
    saved = proc.authkey
    proc.authkey = b'some other process key'
    try:
        ok, err = R.step('nested: read back with another process authkey', lambda: d['l'])
    finally:
        proc.authkey = saved
    R.check('nested: read back with another process authkey fails', not ok and
            isinstance(err, multiprocessing.AuthenticationError), err, only=py3_or_md)
    err = None

    del x, l
    cl.collect()
    settle(R, m, 'nested: a list only the dict holds is not counted', n0 + 1, slow)
    R.check('nested: stored list kept alive', not gone(a, lid), only=py3_or_md)
    R.check('nested: stored list still readable', d['l'][:] == [10, 11, 12], d._getvalue(), only=py3_or_md)
    cl.collect()
    del d['l']
    R.check('nested: list dropped once deleted from the dict', gone(a, lid), only=mgr_only)
    settle(R, m, 'nested: count after the delete', n0 + 1, slow)

    # AutoProxy inside a dict (CPython 3.6 - 3.8 servers cannot store it)
    autoproxy_ok = mgr_only if PYV < (3, 9) else None
    ok, q = R.step('nested: store a Queue proxy', lambda: d.__setitem__('q', m.Queue()))
    R.check('nested: store a Queue proxy', ok, q, only=autoproxy_ok)
    if ok:
        ok2, q2 = R.step('nested: read the Queue proxy', lambda: d['q'])
        R.check('nested: Queue proxy usable', ok2 and (q2.put(5), d['q'].get(True, 5 * slow))[1] == 5,
                q2, only=autoproxy_ok)
        qid = q2._token.id if ok2 else None
        q2 = None
        d['q'] = 'overwritten'
        cl.collect()
        settle(R, m, 'nested: overwritten Queue not counted', n0 + 1, slow)
        R.check('nested: overwritten Queue dropped', qid is not None and gone(a, qid), qid, only=mgr_only)
    # a failed store's exception (3.6 - 3.8) holds the proxies in its frames
    q = q2 = None

    # a proxy stored in two containers lives until both let go
    l2 = m.list()
    ns = m.Namespace()
    inner = m.dict({'z': 1})
    iid = inner._token.id
    l2.append(inner)
    ns.child = inner
    del inner
    cl.collect()
    R.check('nested: dict in a list', l2[0]['z'] == 1, only=py3_or_md)
    R.check('nested: same dict in a namespace', ns.child['z'] == 1, only=py3_or_md)
    settle(R, m, 'nested: d, l2, ns counted', n0 + 3, slow)
    R.check('nested: stored dict alive', not gone(a, iid), only=py3_or_md)
    l2.pop()
    cl.collect()
    R.check('nested: still held by the namespace', not gone(a, iid), only=py3_or_md)
    R.check('nested: namespace copy intact', ns.child['z'] == 1, only=py3_or_md)
    del ns.child
    R.check('nested: dropped when released by both', gone(a, iid), only=mgr_only)
    settle(R, m, 'nested: count after both let go', n0 + 3, slow)
    del l2, ns

    # a dict in a dict; the outer one's death releases the inner one
    d['d2'] = m.dict({'k1': 1, 'k2': 2})
    d2id = d['d2']._token.id if not PY2 or a.server == mgr_only else None
    R.check('nested: dict in dict', sorted(d['d2'].keys()) == ['k1', 'k2'], only=py3_or_md)
    d = None     # (not del: Python 2 cannot delete a name used in a lambda)
    cl.collect()
    settle(R, m, 'nested: back to the start after deleting everything', n0, slow)
    R.check('nested: inner dict dropped with its container', d2id is not None and gone(a, d2id), d2id,
            only=mgr_only)
    R.check('nested: debug_info back to the start', m._debug_info() == info0,
            '%r\nvs\n%r' % (m._debug_info(), info0))


CREATORS = [
    lambda m, i: m.dict({'i': i}),
    lambda m, i: m.list([i]),
    lambda m, i: m.Queue(),
    lambda m, i: m.JoinableQueue(),
    lambda m, i: m.Event(),
    lambda m, i: m.Lock(),
    lambda m, i: m.RLock(),
    lambda m, i: m.Semaphore(),
    lambda m, i: m.Condition(),
    lambda m, i: m.Namespace(i=i),
    lambda m, i: m.Value('i', i),
    lambda m, i: m.Array('i', [i]),
]


def dict_iters(objs):
    # in a function: a Python 2 list comprehension leaks its variable
    return [iter(o) for o in objs if isinstance(o, multiprocessing.managers.DictProxy)]


def counting(R, m, slow):
    n0 = m._number_of_objects()
    info0 = m._debug_info()
    objs = [CREATORS[i % len(CREATORS)](m, i) for i in range(200)]
    n, e = consistent(R, m, 'count')
    R.check('count: 200 more objects', n == n0 + 200, (n, n0))
    R.check('count: each refcount 1', all(e[o._token.id] == 1 for o in objs if o._token.id in e)
            and all(o._token.id in e for o in objs), e)
    # a second proxy of the same object (unpickled from a reply) counts once more
    d = objs[0]
    holder = m.dict()
    holder['x'] = d
    back = holder['x']
    # CPython 2.7 stores a copy of the dict instead of the proxy
    R.check('count: read-back proxy increfs', entries(m._debug_info()).get(d._token.id) in (2, 3),
            entries(m._debug_info()).get(d._token.id), only='managerd' if PY2 else None)
    del back
    holder.clear()
    del holder
    cl.collect()
    settle(R, m, 'count: read-back proxy released', n0 + 200, slow)
    # iterators are objects too
    its = dict_iters(objs)
    settle(R, m, 'count: iterators counted', n0 + 200 + len(its), slow)
    del its
    cl.collect()
    settle(R, m, 'count: iterators released', n0 + 200, slow)
    del objs, d
    cl.collect()
    settle(R, m, 'count: back to the start after 200 proxies', n0, slow)
    R.check('count: debug_info back to the start', m._debug_info() == info0)

    # from several threads at once
    def churn(k):
        for i in range(50):
            x = CREATORS[(i + k) % len(CREATORS)](m, i)
            if hasattr(x, 'append'):
                x.append(i)
            del x
        return k
    ws = [cl.Worker(churn, k) for k in range(4)]
    for w in ws:
        w.start()
    outs = [w.outcome(60 * slow) for w in ws]
    R.check('count: churn threads finished', outs == ['ok %d' % k for k in range(4)], outs)
    settle(R, m, 'count: back to the start after churn threads', n0, slow)

    # fork: the child increfs every live proxy and decrefs them at exit
    keep = [m.dict(), m.list(), m.Queue()]
    n1 = m._number_of_objects()
    ctx = multiprocessing.get_context('fork') if not PY2 else multiprocessing
    p = ctx.Process(target=len, args=([],))
    p.start()
    p.join(30 * slow)
    R.check('count: fork child exited', p.exitcode == 0, p.exitcode)
    settle(R, m, 'count: unchanged after a fork child', n1, slow)
    del keep
    settle(R, m, 'count: back to the start at the end', n0, slow)
    R.check('count: debug_info at the end', m._debug_info() == info0)


def main(R, a):
    m = cl.connect(a)
    R.guard('nested', nested, R, m, a, a.slow)
    R.guard('counting', counting, R, m, a.slow)


if __name__ == '__main__':
    cl.run_main(main)
