"""cpython_server.py - CPython's own SyncManager server, for comparison.

usage: python cpython_server.py ADDRESS
ADDRESS is HOST:PORT (port 0 allowed) or unix:PATH. The authkey comes from
the environment variable MANAGERD_AUTHKEY, as for managerd. Once the
server listens it prints "cpython: listening on tcp://HOST:PORT" (or
"unix:PATH") and serves until it is killed. This is exactly what
SyncManager.start() runs in its child process, without the pipe back to a
parent manager.
"""
import os
import sys
from multiprocessing.managers import SyncManager


def main():
    text = sys.argv[1]
    if text.startswith('unix:'):
        address = text[len('unix:'):]
    else:
        host, port = text.rsplit(':', 1)
        address = (host, int(port))
    authkey = os.environ['MANAGERD_AUTHKEY'].encode()
    server = SyncManager(address=address, authkey=authkey).get_server()
    shown = server.address
    if isinstance(shown, tuple):
        shown = 'tcp://%s:%d' % shown
    else:
        shown = 'unix:' + shown
    sys.stdout.write('cpython: listening on %s\n' % shown)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
