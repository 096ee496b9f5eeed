"""shm_refserver - CPython's own SharedMemoryManager server (Python 3.8+),
the reference for the documentation's SharedMemoryManager examples.

    python3.X shm_refserver.py KEY-HEX

Serves on 127.0.0.1 (port chosen by the kernel), prints
'refserver: listening on HOST:PORT' (the line tests/lib/procs.py waits
for) and serves until SIGTERM, when it
unlinks the segments its clients registered, as managerd does.
"""
import binascii
import signal
import sys

from multiprocessing.managers import SharedMemoryManager


def main():
    key = binascii.unhexlify(sys.argv[1].encode('ascii'))
    server = SharedMemoryManager(address=('127.0.0.1', 0), authkey=key).get_server()

    def on_term(signum, frame):
        server.shared_memory_context.unlink()   # what its shutdown request does
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print('refserver: listening on %s:%d' % tuple(server.address))
    sys.stdout.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
