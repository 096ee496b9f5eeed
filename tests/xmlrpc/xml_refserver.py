"""xml_refserver - CPython's own manager server for comparison runs of the
XML-RPC tests, under every Python from 2.7 to 3.13.

    python xml_refserver.py SERIALIZER [NAME=TYPE]...

SERIALIZER is 'xmlrpclib' or 'pickle'; each NAME=TYPE (TYPE dict or Queue)
is a shared typeid returning one object, like managerd's --share. The
authkey comes from MANAGERD_AUTHKEY. Prints
'refserver: listening on tcp://HOST:PORT' and serves until SIGTERM.
"""
from __future__ import print_function

import os
import signal
import sys

from multiprocessing.managers import SyncManager, DictProxy

try:
    import queue
except ImportError:                      # Python 2
    import Queue as queue                # noqa: N813


class RefManager(SyncManager):
    pass


def main():
    serializer = sys.argv[1]
    for spec in sys.argv[2:]:
        name, typ = spec.split('=', 1)
        obj = {'dict': dict, 'Queue': queue.Queue}[typ]()
        proxytype = DictProxy if typ == 'dict' else None
        RefManager.register(name, callable=(lambda o: (lambda: o))(obj), proxytype=proxytype)
    key = os.environ['MANAGERD_AUTHKEY']
    if not isinstance(key, bytes):
        key = key.encode('utf-8')
    m = RefManager(address=('127.0.0.1', 0), authkey=key, serializer=serializer)
    server = m.get_server()

    def on_term(signum, frame):
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print('refserver: listening on tcp://%s:%d' % tuple(server.address))
    sys.stdout.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
