"""Scenario 5: a custom BaseManager subclass against managerd's
--register NAME=TYPE (a new object per call) and --share NAME=TYPE (one
shared object, the "remote manager" pattern of Python's documentation).

run.py starts the server with REGISTER and SHARE below (managerd, or
refserver.py for CPython's behaviour) and gives this scenario a server of
its own. Runs under every Python from 2.7 to 3.13.
"""
from __future__ import print_function

import subprocess
import sys
import time

import clientlib as cl
from clientlib import PY2, queue
from multiprocessing import managers
from multiprocessing.managers import BaseManager

REGISTER = ['get_dict=dict', 'get_list=list', 'make_lock=Lock', 'make_queue=JoinableQueue']
SHARE = ['get_queue=Queue', 'get_reply_queue=Queue', 'get_shared_dict=dict', 'get_ns=Namespace', 'get_event=Event']


class QueueManager(BaseManager):
    pass


QueueManager.register('get_queue')                    # AutoProxy from the exposed list
QueueManager.register('make_queue')
QueueManager.register('get_reply_queue')
QueueManager.register('get_dict', proxytype=managers.DictProxy)
QueueManager.register('get_list', proxytype=managers.ListProxy)
QueueManager.register('make_lock', proxytype=managers.AcquirerProxy)
QueueManager.register('get_shared_dict', proxytype=managers.DictProxy)
QueueManager.register('get_ns', proxytype=managers.NamespaceProxy)
QueueManager.register('get_event', proxytype=managers.EventProxy)
QueueManager.register('Iterator', proxytype=managers.IteratorProxy, create_method=False)
QueueManager.register('get_missing')                  # not registered on the server

CHILD = r'''
import sys, binascii
sys.path.insert(0, %(dir)r)
import scen_custom as sc, clientlib as cl
a = cl.args(sys.argv[1:])
m = sc.QueueManager(address=a.address, authkey=a.authkey)
m.connect()
q = m.get_queue()
q.put(('from-subprocess', sys.version_info[0]))
print(m.get_reply_queue().get(True, 20))
'''

QUEUE_METHODS = ['empty', 'full', 'get', 'get_nowait', 'join', 'put', 'put_nowait', 'qsize', 'task_done']


def main(R, a):
    m1 = cl.connect(a, QueueManager)
    m2 = cl.connect(a, QueueManager)
    n0 = m1._number_of_objects()

    q1 = m1.get_queue()
    q2 = m2.get_queue()
    R.expect('shared queue: same object for both clients', lambda: q1._token.id == q2._token.id, True)
    # managerd exposes the union of every version's Queue methods (3.13's
    # shutdown included) to every client; CPython only its own.
    union = a.server == 'managerd' or hasattr(queue.Queue, 'shutdown')
    R.expect('shared queue: exposed methods', lambda: sorted(set(q1._exposed_)) == sorted(
        set(QUEUE_METHODS + (['shutdown'] if union else []))), True)
    R.note('shared queue: exposed (sorted)', sorted(set(q1._exposed_)))
    R.expect('shared queue: put by client 1', lambda: q1.put('hello'), None)
    R.expect('shared queue: qsize by client 2', lambda: q2.qsize(), 1)
    R.expect('shared queue: get by client 2', lambda: q2.get(True, 5), 'hello')
    R.expect_exc('shared queue: empty', lambda: q1.get(False), queue.Empty)
    R.expect('shared queue: counted once', lambda: m1._number_of_objects() - n0, 1)

    # a second process of the same interpreter talks to the same queue
    code = CHILD % {'dir': sys.path[0]}
    child = subprocess.Popen([sys.executable, '-c', code] + sys.argv[1:], stdout=subprocess.PIPE)
    got = [None]

    def reader():
        got[0] = q1.get(True, 20 * a.slow)
    w = cl.Worker(reader)
    w.start()
    w.join(30 * a.slow)
    R.expect('shared queue: item from another process', lambda: got[0],
             ('from-subprocess', sys.version_info[0]))
    m1.get_reply_queue().put('reply')
    out = child.communicate()[0]
    R.expect('shared queue: other process got our reply', lambda: (child.returncode, out.strip()),
             (0, b'reply'))

    jq1 = m1.make_queue()
    jq2 = m1.make_queue()
    R.expect('registered queue: new object per call', lambda: jq1._token.id != jq2._token.id, True)
    R.expect('registered queue: join/task_done', lambda: (jq1.put(1), jq1.get(), jq1.task_done(), jq1.join()),
             (None, 1, None, None))

    d1 = m1.get_dict()
    d2 = m1.get_dict()
    R.expect('registered dict: new object per call', lambda: d1._token.id != d2._token.id, True)
    R.expect('registered dict: independent', lambda: (d1.__setitem__('a', 1), 'a' in d2), (None, False))
    R.expect('registered dict: iter via Iterator', lambda: list(iter(d1)), ['a'])
    R.expect('registered list', lambda: (lambda l: (l.append(1), l.extend([2]), l[:]))(m2.get_list()),
             (None, None, [1, 2]))
    R.expect('registered lock: new per call', lambda: (m1.make_lock().acquire(), m1.make_lock().acquire(False)),
             (True, True))

    s1 = m1.get_shared_dict()
    s2 = m2.get_shared_dict()
    R.expect('shared dict: write through one', lambda: s1.__setitem__('k', 'v'), None)
    R.expect('shared dict: read through the other', lambda: s2['k'], 'v')
    R.expect('shared dict: same object', lambda: s1._token.id == s2._token.id, True)
    R.expect('shared namespace', lambda: (setattr(m1.get_ns(), 'x', 42), m2.get_ns().x), (None, 42))
    R.expect('shared event', lambda: (m1.get_event().set(), m2.get_event().is_set(), m2.get_event().wait(1)),
             (None, True, True))
    R.expect_exc('unregistered typeid', lambda: m1.get_missing(), cl.RemoteError)

    # the shared objects' counts drop with their proxies; the object
    # itself stays shared (the next call gives the same contents)
    q1 = q2 = s1 = s2 = d1 = d2 = jq1 = jq2 = None   # (Python 2: no del of lambda names)
    cl.collect()
    R.expect('counts back after proxies dropped', lambda: cl.count_settles(m1, n0, 5 * a.slow) - n0, 0)
    R.expect('shared dict survives its proxies', lambda: m2.get_shared_dict()._getvalue(), {'k': 'v'})
    R.expect('shared queue survives its proxies', lambda: m2.get_queue().qsize(), 0)


if __name__ == '__main__':
    cl.run_main(main)
