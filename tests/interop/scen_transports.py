"""Scenario 6: one managerd, three listeners (TCP, a Unix socket path, a
Linux abstract socket), one object table; a wrong authkey fails in the
client with AuthenticationError and the server goes on serving.

run.py passes the three addresses (TCP first) of a managerd started with
--share get_tdict=dict, and counts the failed handshakes this script
reports (extra['bad_handshakes']) against managerd's log.
Runs under every Python from 2.7 to 3.13.
"""
from __future__ import print_function

import os
import sys

import clientlib as cl
from multiprocessing import AuthenticationError, managers
from multiprocessing.managers import BaseManager, SyncManager


class TManager(BaseManager):
    pass


TManager.register('get_tdict', proxytype=managers.DictProxy)


def kind(text):
    if text.startswith('unix:@'):
        return 'abstract'
    if text.startswith('unix:'):
        return 'unix'
    return 'tcp'


def main(R, a):
    tag = '%s-%d' % (sys.version.split()[0], os.getpid())
    R.check('three addresses given', len(a.addresses) == 3, a.addresses)
    bad = 0
    shared = {}
    for text in a.addresses:
        k = kind(text)
        addr = cl.python_address(text)
        m = cl.connect(a, SyncManager, address=addr)
        d = m.dict({'via': k})
        R.check(k + ': dict round trip', d['via'] == k)
        q = m.Queue()
        q.put([k, 1])
        R.check(k + ': queue round trip', q.get(True, 5) == [k, 1])
        it = iter(m.dict({'x': 1}))
        R.check(k + ': iterator proxy (#PROXY reply) over this transport', list(it) == ['x'])
        tm = cl.connect(a, TManager, address=addr)
        td = tm.get_tdict()
        td[tag + '-' + k] = k
        shared[k] = td

        # a wrong authkey: AuthenticationError in the client
        try:
            SyncManager(address=addr, authkey=b'not-the-key').connect()
            R.check(k + ': wrong authkey refused', False, 'connect() succeeded')
        except AuthenticationError as e:
            R.check(k + ': wrong authkey refused', True)
            R.check(k + ': wrong authkey message', str(e) == 'digest sent was rejected', str(e))
        except Exception as e:                           # noqa: BLE001
            R.check(k + ': wrong authkey refused', False, 'raised ' + cl.exc_text(e))
        bad += 1
        # an empty key is a key too
        try:
            SyncManager(address=addr, authkey=b'').connect()
            R.check(k + ': empty authkey refused', False, 'connect() succeeded')
        except AuthenticationError:
            R.check(k + ': empty authkey refused', True)
        except Exception as e:                           # noqa: BLE001
            R.check(k + ': empty authkey refused', False, 'raised ' + cl.exc_text(e))
        bad += 1
        R.check(k + ': still serving after the failures', d['via'] == k and len(m.dict()) == 0)
    # every listener sees what the others wrote: one object table
    for k, td in shared.items():
        for other in shared:
            key = tag + '-' + other
            R.check('%s sees what %s wrote' % (k, other), td.get(key) == other, td.get(key))
    R.extra['bad_handshakes'] = bad


if __name__ == '__main__':
    cl.run_main(main)
