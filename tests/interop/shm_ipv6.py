"""SharedMemoryManager requests and an IPv6 listener, with the newest
Python 3 found: track/list/release of segments by a stock
SharedMemoryManager client, segments left at shutdown unlinked, and the
handshake plus a request over TCP on ::1 (stock clients build AF_INET
sockets for every tuple, so the IPv6 check drives the stock
multiprocessing.connection objects over a socket it opens itself).

Usage: shm_ipv6.py --managerd PATH. Prints 'N passed, M failed'."""
import argparse
import os
import signal
import socket
import subprocess
import sys
from multiprocessing import connection
from multiprocessing.managers import SharedMemoryManager, dispatch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import procs                        # noqa: E402

KEY = b'shm-ipv6-key'
passed = failed = 0


def check(name, ok, detail=''):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print('FAIL: %s %s' % (name, detail))


def start(exe):
    env = dict(os.environ, MANAGERD_AUTHKEY=KEY.decode())
    wrapper = os.environ.get('MD_SERVER_WRAPPER', '').split()
    p = subprocess.Popen(wrapper + [exe, '--listen', '127.0.0.1:0', '--listen', '[::1]:0',
                                    '--log-level', 'warning'], stdout=subprocess.PIPE, env=env)
    ports = dict((m.group(1), int(m.group(2))) for m in procs.read_matches(
        p.stdout, r'listening on tcp://(127\.0\.0\.1|\[::1\]):(\d+)', 2, 120))
    if len(ports) < 2:
        p.kill()
        raise SystemExit('managerd did not announce both listeners: %r' % ports)
    return p, ports['127.0.0.1'], ports['[::1]']


def shm_checks(port):
    addr = ('127.0.0.1', port)
    smm = SharedMemoryManager(address=addr, authkey=KEY)
    smm.connect()
    shm = smm.SharedMemory(64)
    sl = smm.ShareableList([1, 'two'])
    names = [shm.name, sl.shm.name]
    conn = connection.Client(addr, authkey=KEY)
    listed = dispatch(conn, None, 'list_segments')
    conn.close()
    check('list_segments names both segments in order', listed == names, repr(listed))
    conn = connection.Client(addr, authkey=KEY)
    dispatch(conn, None, 'release_segment', (names[0],))
    conn.close()
    check('release_segment unlinked the segment', not os.path.exists('/dev/shm/' + names[0]))
    conn = connection.Client(addr, authkey=KEY)
    try:
        dispatch(conn, None, 'release_segment', ('psm_not_there',))
        check('release_segment of an unknown name fails', False)
    except Exception as e:
        check('release_segment of an unknown name fails', 'not in list' in str(e), str(e))
    conn.close()
    shm.close()
    sl.shm.close()
    return names


def ipv6_checks(port):
    s = socket.create_connection(('::1', port), timeout=30)
    s.settimeout(None)  # the Connection object does blocking reads
    c = connection.Connection(s.detach())
    connection.answer_challenge(c, KEY)
    connection.deliver_challenge(c, KEY)
    c.send((None, 'number_of_objects', (), {}))
    kind, value = c.recv()
    check('IPv6: handshake and a request', kind == '#RETURN' and isinstance(value, int), repr((kind, value)))
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--managerd', required=True)
    a = ap.parse_args()
    p, port4, port6 = start(a.managerd)
    try:
        names = shm_checks(port4)
        ipv6_checks(port6)
        conn = connection.Client(('127.0.0.1', port4), authkey=KEY)
        dispatch(conn, None, 'shutdown')
        conn.close()
        rc = p.wait(timeout=300)
        check('shutdown request stops managerd with status 0', rc == 0, 'exit %r' % rc)
        check('segments left at shutdown are unlinked', not os.path.exists('/dev/shm/' + names[1]))
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=300)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
