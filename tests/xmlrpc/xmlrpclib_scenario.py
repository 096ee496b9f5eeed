"""xmlrpclib_scenario - one Python manager client with serializer='xmlrpclib'
doing every step of the XML-RPC interop test, under every Python from 2.7
to 3.13 (no Python-3-only syntax).

    python xmlrpclib_scenario.py HOST PORT [shared]

The authkey comes from MANAGERD_AUTHKEY. With 'shared', the typeid
get_xdict (a dict that a pickle client filled, see xmlrpclib_clients.py) is
read too. Each step's outcome is printed as one line
'@@STEP name JSON', where JSON is ["ok", value] or ["exc", class name,
text]; xmlrpclib_clients.py checks them and compares them with CPython's
own xmlrpclib server.
"""
from __future__ import print_function

import json
import os
import sys
import traceback

from multiprocessing.managers import DictProxy, RemoteError, SyncManager

PY2 = sys.version_info[0] == 2
if PY2:
    import xmlrpclib as xmlrpc_client   # noqa: N813
else:
    import xmlrpc.client as xmlrpc_client


class XManager(SyncManager):
    pass


XManager.register('get_xdict', proxytype=DictProxy)


def plain(v):
    """A JSON-able form of a value, the same from 2.7 and 3.x."""
    if isinstance(v, xmlrpc_client.Binary):
        return {'binary': bytearray(v.data).hex() if not PY2 else v.data.encode('hex')}
    if isinstance(v, bytes) and not PY2:
        return {'bytes': v.hex()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return dict((str(k), plain(x)) for k, x in v.items())
    if isinstance(v, str):
        return v if not PY2 else v.decode('utf-8', 'replace')
    if PY2 and isinstance(v, unicode):     # noqa: F821 (Python 2 only)
        return v
    if isinstance(v, float) or isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int) or (PY2 and isinstance(v, long)):   # noqa: F821
        return int(v) if abs(v) < 2 ** 53 else {'int': str(v)}
    return {'repr': repr(v)}


def exc_text(e):
    if isinstance(e, RemoteError):
        text = e.args[0] if e.args else ''
        return text if isinstance(text, str) else repr(text)
    return str(e)


def step(name, fn):
    try:
        out = ['ok', plain(fn())]
    except Exception as e:                  # every outcome is recorded
        out = ['exc', type(e).__name__, exc_text(e)]
    print('@@STEP %s %s' % (name, json.dumps(out, sort_keys=True)))
    sys.stdout.flush()
    return out


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    shared = 'shared' in sys.argv[3:]
    key = os.environ['MANAGERD_AUTHKEY']
    if not isinstance(key, bytes):
        key = key.encode('utf-8')
    m = XManager(address=(host, port), authkey=key, serializer='xmlrpclib')
    if step('connect', m.connect)[0] != 'ok':
        return
    s = {}

    def create_dict():
        s['d'] = m.dict()
        return None
    step('create_dict', create_dict)
    d = s['d']
    step('setitem', lambda: d.__setitem__('a', 1))
    step('int_key', lambda: (d.__setitem__(1, 'one'), d[1])[1])
    step('str', lambda: str(d))         # before any non-ASCII text: 2.7's str() is ASCII
    step('setitem_payload', lambda: d.__setitem__('p', [1, 1.5, True, None, u'h\xe9llo', [1, [2, 3]],
                                                        {'k': 'v'}]))
    step('getitem', lambda: d['a'])
    step('getitem_payload', lambda: d['p'])
    step('len', lambda: len(d))
    step('contains', lambda: 'a' in d)
    step('keys', lambda: d.keys())
    step('items', lambda: d.items())
    step('values', lambda: d.values())
    step('missing', lambda: d['missing'])
    step('after_missing', lambda: d['a'])

    def queue_roundtrip():
        s['q'] = m.Queue()
        s['q'].put('x')
        return s['q'].get()
    step('queue', queue_roundtrip)
    step('queue_empty', lambda: s['q'].get_nowait())
    step('queue_after_empty', lambda: (s['q'].put(5), s['q'].qsize())[1])

    def lock():
        s['lock'] = m.Lock()
        return [s['lock'].acquire(), s['lock'].release()]
    step('lock', lock)
    step('lock_release_unlocked', lambda: s['lock'].release())

    def value():
        v = m.Value('i', 5)
        first = v.value
        v.value = 7
        return [first, v.value]
    step('value', value)

    def namespace():
        ns = m.Namespace()
        ns.x = 1
        return ns.x
    step('namespace', namespace)

    def event():
        ev = m.Event()
        ev.set()
        return ev.wait(0.1)
    step('event', event)

    def make_list():
        s['l'] = m.list([1, 2, 3, 4])
        return s['l'][1]
    step('list_index', make_list)
    step('list_slice', lambda: s['l'][0:2])
    step('list_after_slice', lambda: s['l'][3])
    step('list_out_of_range', lambda: s['l'][99])

    def array_slice():
        a = m.Array('i', [1, 2, 3])
        return [a[0], a[0:2]]
    step('array_slice', array_slice)

    step('bigint_send', lambda: d.__setitem__('big', 2 ** 40))
    step('set_send', lambda: d.__setitem__('s', set([1])))
    step('after_send_errors', lambda: len(d))

    def iter_leak():
        n0 = m._number_of_objects()
        try:
            it = iter(d)
            first = next(it)
            result = ['no error', first]
        except Exception as e:
            result = [type(e).__name__]
        n1 = m._number_of_objects()
        return [n1 - n0] + result
    step('iter', iter_leak)
    step('number_of_objects', lambda: m._number_of_objects() > 0)
    step('debug_info', lambda: 'refcount=' in m._debug_info())

    if shared:
        x = m.get_xdict()
        step('shared_bigint', lambda: x['big'])
        step('shared_negbigint', lambda: x['negbig'])
        step('shared_set', lambda: sorted(x['set']))
        step('shared_frozenset', lambda: sorted(x['frozenset']))
        step('shared_tuple', lambda: x['tuple'])
        step('shared_bytes', lambda: x['bytes'])
        step('shared_complex', lambda: x['complex'])
        step('shared_after_complex', lambda: x['big'])
        step('shared_nonstr_keys', lambda: x['intkeys'])
        step('shared_control_char', lambda: x['control'])
        step('shared_items_with_complex', lambda: x.items())
        step('shared_len', lambda: len(x))


if __name__ == '__main__':
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(3)
