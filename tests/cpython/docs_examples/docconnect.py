"""docconnect - how every documentation example reaches its server.

The examples of Python's multiprocessing documentation are kept as written
except that, where they start a manager (`with Manager() as manager:`,
`manager = MyManager(); manager.start()`, `QueueManager(address=...)`),
they call this module, which connects to the server named by the
environment, the same way for managerd and for CPython's server:

  MD_DOC_ADDRESS     HOST:PORT of the server
  MD_DOC_AUTHKEY_HEX its key (hex); also made this process's authkey, so
                     that proxies work in the child processes of the example
  MD_DOC_START=1     start CPython's own server as written instead (for the
                     examples that register Python code, which only a
                     CPython server can run)
"""
import binascii
import os
import multiprocessing
from multiprocessing.managers import SyncManager


def address():
    host, port = os.environ['MD_DOC_ADDRESS'].rsplit(':', 1)
    return (host, int(port))


def authkey():
    return binascii.unhexlify(os.environ['MD_DOC_AUTHKEY_HEX'])


def connect(cls=SyncManager):
    """A cls manager of the server; `with` and shutdown() leave the server
    running (it is shared by the test)."""
    if os.environ.get('MD_DOC_START') == '1':
        m = cls()
        m.start()
        return m
    multiprocessing.current_process().authkey = authkey()
    m = cls(address=address(), authkey=authkey())
    m.connect()
    m.shutdown = lambda: None
    return m


def Manager():
    """multiprocessing.Manager(), connected instead of started."""
    return connect(SyncManager)
