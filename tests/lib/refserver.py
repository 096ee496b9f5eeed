"""refserver - CPython's own manager server, the reference of every
comparison run (the one script tests/lib/procs.py's RefServer launches).

    python refserver.py [--authkey-hex HEX | --authkey-env VAR]
                        [--serializer pickle|xmlrpclib] [--shm]
                        [--register NAME=TYPE]... [--share NAME=TYPE]...

Runs under every Python from 2.7 to 3.13. It serves a SyncManager on
127.0.0.1 (port chosen by the kernel) with the same extra typeids as
managerd's --register NAME=TYPE (a new object per create) and
--share NAME=TYPE (one shared object), with the given serializer; --shm
serves a SharedMemoryManager instead (Python 3.8+), which unlinks the
segments its clients registered at SIGTERM, as managerd does. Prints
'refserver: listening on tcp://HOST:PORT' and serves until SIGTERM.
"""
from __future__ import print_function

import binascii
import multiprocessing
import os
import signal
import sys
import threading

from multiprocessing import managers
from multiprocessing.managers import SyncManager

try:
    import queue
except ImportError:
    import Queue as queue                # noqa: N813


def types():
    t = {
        'dict': (dict, managers.DictProxy),
        'list': (list, managers.ListProxy),
        'Queue': (queue.Queue, None),
        'JoinableQueue': (queue.Queue, None),
        'Event': (threading.Event, managers.EventProxy),
        'Lock': (threading.Lock, managers.AcquirerProxy),
        'RLock': (threading.RLock, managers.AcquirerProxy),
        'Semaphore': (threading.Semaphore, managers.AcquirerProxy),
        'BoundedSemaphore': (threading.BoundedSemaphore, managers.AcquirerProxy),
        'Condition': (threading.Condition, managers.ConditionProxy),
        'Namespace': (managers.Namespace, managers.NamespaceProxy),
    }
    return t


class RefManager(SyncManager):
    pass


def quick_acks():
    """Acknowledge promptly (tests/docs/protocol.md 7.1): CPython's server otherwise
    costs 44 ms per connection (the client's Nagle waits for our delayed
    ACK), which would make the comparison runs slow. Only timing changes."""
    import socket
    from multiprocessing import connection
    quickack = getattr(socket, 'TCP_QUICKACK', None)
    if quickack is None:
        return

    def set_quickack(conn):
        try:
            s = socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            finally:
                s.close()
        except (OSError, socket.error, AttributeError):
            pass

    def wrap(fn):
        def wrapper(conn, authkey):
            set_quickack(conn)
            try:
                return fn(conn, authkey)
            finally:
                set_quickack(conn)
        return wrapper
    connection.deliver_challenge = wrap(connection.deliver_challenge)
    connection.answer_challenge = wrap(connection.answer_challenge)


def parse(argv):
    opts = {'key': b'', 'regs': [], 'serializer': 'pickle', 'shm': False}
    while argv:
        opt = argv.pop(0)
        if opt == '--shm':
            opts['shm'] = True
            continue
        val = argv.pop(0)
        if opt == '--authkey-hex':
            opts['key'] = binascii.unhexlify(val.encode('ascii'))
        elif opt == '--authkey-env':
            key = os.environ[val]
            opts['key'] = key if isinstance(key, bytes) else key.encode('utf-8')
        elif opt == '--serializer':
            opts['serializer'] = val
        elif opt in ('--register', '--share'):
            name, typ = val.split('=', 1)
            opts['regs'].append((opt == '--share', name, typ))
        else:
            raise SystemExit('unknown option ' + opt)
    return opts


def make_server(opts):
    key = opts['key']
    if opts['shm']:
        from multiprocessing.managers import SharedMemoryManager
        server = SharedMemoryManager(address=('127.0.0.1', 0), authkey=key).get_server()
        return server, server.shared_memory_context.unlink   # what its shutdown does
    table = types()
    for shared, name, typ in opts['regs']:
        ctor, proxytype = table[typ]
        if shared:
            obj = ctor()
            callable_ = (lambda o: (lambda: o))(obj)
        else:
            callable_ = ctor
        RefManager.register(name, callable=callable_, proxytype=proxytype)
    m = RefManager(address=('127.0.0.1', 0), authkey=key, serializer=opts['serializer'])
    return m.get_server(), None


def main():
    opts = parse(sys.argv[1:])
    quick_acks()
    # As in a server that multiprocessing.Manager() starts, the process key
    # is the manager's: the server reaches proxies it is sent
    # (Condition(m.Lock())) with it.
    multiprocessing.current_process().authkey = opts['key']
    server, at_exit = make_server(opts)

    def on_term(signum, frame):
        if at_exit:
            at_exit()
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print('refserver: listening on tcp://%s:%d' % tuple(server.address))
    sys.stdout.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
