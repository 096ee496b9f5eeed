"""floor_canned_test.py - the floor server's canned replies (floor_server
--canned METHOD=FILE), and bench_bulk.py end to end at a tiny size.

usage: python3 floor_canned_test.py BUILD_DIR [--no-bulk]

Checks, against a floor_server started here on 127.0.0.1:0:
  - a call of a canned method gets the file's bytes as its reply, byte for
    byte (a reply of several MB, more than a socket buffer takes at once),
    whatever the request's pickle protocol (2, 3, 4) and ident;
  - every other call still gets ('#RETURN', None), create still a proxy;
  - two requests sent before reading: the canned reply, then None, in order;
  - requests streamed in pieces (a length header split across writes), a
    10 MB request, an empty frame, and a
    first request sent in one write with the handshake's last message:
    each answered as a whole request;
  - a stock SyncManager proxy's d.copy() returns the canned value;
  - bad --canned options stop the floor with status 2;
and then that bench_bulk.py --sizes 100000 --rounds 1 runs to its end with a
number in every column it fills, the canned floor of the read rows included
(100,000 items: one dict per fill row; at 1,000 items a fill row makes 100
proxies, which CPython's server serves at about 175 ms each over TCP).
Prints 'N passed, M failed' last (tests/lib/tally.py).
"""
import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Client
from multiprocessing.managers import SyncManager
from multiprocessing.reduction import ForkingPickler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
sys.path.insert(0, HERE)
import benchlib                # noqa: E402
from tally import Tally        # noqa: E402

AUTHKEY = 'floor-canned-' + os.urandom(6).hex()
BULK_TIMEOUT_S = 120


def reply_bytes(value):
    """What CPython's server sends for a call that returns value."""
    return bytes(ForkingPickler.dumps(('#RETURN', value)))


def call_raw(conn, ident, method, protocol=4):
    conn.send_bytes(pickle.dumps((ident, method, (), {}), protocol))
    return conn.recv_bytes()


def check_replies(t, floor, files):
    addr = floor.tcp
    conn = Client(addr, authkey=AUTHKEY.encode())
    try:
        conn.send((None, 'create', ('dict',), {}))
        kind, (ident, exposed) = conn.recv()
        t.eq('create still answers a proxy', (kind, 'copy' in exposed), ('#RETURN', True))
        for proto in (2, 3, 4):
            t.ok('copy, protocol %d request: the canned bytes' % proto,
                 call_raw(conn, ident, 'copy', proto) == files['copy'])
        t.ok('items: its own canned bytes', call_raw(conn, ident, 'items') == files['items'])
        t.ok('a canned method on a None ident (a server method)',
             call_raw(conn, None, 'items') == files['items'])
        none = reply_bytes(None)
        for method in ('keys', 'update', 'cop', 'copyx', '__getitem__'):
            got = call_raw(conn, ident, method)
            t.eq('%s: (#RETURN, None)' % method, pickle.loads(got), ('#RETURN', None))
        # Two requests in one write before reading any reply: the big
        # canned one is still going out when None is owed.
        both = b''
        for method in ('copy', 'keys', 'items'):
            req = pickle.dumps((ident, method, (), {}), 4)
            both += struct.pack('!i', len(req)) + req
        conn._send(both)
        got = [conn.recv_bytes() for _ in range(3)]
        t.ok('pipelined: the canned reply first, byte for byte', got[0] == files['copy'])
        t.eq('pipelined: then None', pickle.loads(got[1]), ('#RETURN', None))
        t.ok('pipelined: then the other canned reply', got[2] == files['items'])
        t.eq('none reply is what CPython sends', call_raw(conn, ident, 'keys'), none)
    finally:
        conn.close()
    check_streaming(t, addr, files)
    m = SyncManager(address=addr, authkey=AUTHKEY.encode())
    m.connect()
    d = m.dict()
    t.eq('a SyncManager proxy: d.copy() is the canned value', d.copy(),
         pickle.loads(files['copy'])[1])
    t.eq('a SyncManager proxy: d.keys() is None', d.keys(), None)


def check_streaming(t, addr, files):
    # (6) #WELCOME# and accept_connection in one write (open_idle_connections).
    sock = benchlib.open_idle_connections(addr, AUTHKEY.encode(), 1)[0]
    try:
        t.ok('handshake and first request in one write: answered', True)
        req = pickle.dumps(('f1', 'copy', (), {}), 4)
        frame = struct.pack('!i', len(req)) + req
        for cut in (2, 4 + 3):
            sock.sendall(frame[:cut])
            time.sleep(0.05)
            sock.sendall(frame[cut:])
            t.ok('a request cut after %d bytes: the canned reply' % cut,
                 recv_frame(sock) == files['copy'])
        big = pickle.dumps(('f1', 'put', (os.urandom(10 * 1000 * 1000),), {}), 4)
        sock.sendall(struct.pack('!i', len(big)) + big + frame)
        t.eq('a 10 MB request: None', pickle.loads(recv_frame(sock)), ('#RETURN', None))
        t.ok('then the next request: the canned reply', recv_frame(sock) == files['copy'])
        sock.sendall(struct.pack('!i', 0) + frame)
        t.eq('an empty frame: None', pickle.loads(recv_frame(sock)), ('#RETURN', None))
        t.ok('then the canned reply', recv_frame(sock) == files['copy'])
    finally:
        sock.close()


def recv_frame(sock):
    (n,) = struct.unpack('!i', recv_exact(sock, 4))
    return recv_exact(sock, n)


def recv_exact(sock, nbytes):
    parts = []
    while nbytes:
        chunk = sock.recv(min(nbytes, 1 << 20))
        if not chunk:
            raise benchlib.BenchError('the floor closed the connection')
        parts.append(chunk)
        nbytes -= len(chunk)
    return b''.join(parts)


def check_bad_options(t, floor_path, tmp, good):
    env = benchlib.server_env(AUTHKEY)
    for label, arg in (('no =', 'copy'), ('no method', '=' + good),
                       ('no file', 'copy='), ('missing file', 'copy=' + good + '.none'),
                       ('empty file', 'copy=' + os.path.join(tmp, 'empty'))):
        res = subprocess.run([floor_path, '--listen', '127.0.0.1:0', '--canned', arg],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             timeout=10)
        t.eq('--canned %s: status 2' % label, res.returncode, 2)
        t.ok('--canned %s: says why' % label, b'floor:' in res.stderr, res.stderr)


NUMBER = re.compile(r'^-?[0-9][0-9,.]*(e[-+]?[0-9]+)?$')


def check_bulk(t, build):
    """bench_bulk.py at 100,000 items, one round: every server's column of
    every row it fills holds a number; the read rows' floor too."""
    argv = [sys.executable, os.path.join(HERE, 'bench_bulk.py'),
            '--managerd', os.path.join(build, 'managerd'),
            '--bench-dir', os.path.join(build, 'tests', 'bench'),
            '--sizes', '100000', '--rounds', '1', '--payload-repeat', '2']
    t0 = time.monotonic()
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=BULK_TIMEOUT_S)
    out, err = res.stdout.decode(), res.stderr.decode()
    t.eq('bench_bulk: exit status', res.returncode, 0)
    t.ok('bench_bulk: no PROBLEM', 'PROBLEM' not in err, err[-3000:])
    sys.stdout.write('bench_bulk.py --sizes 100000 --rounds 1: %.1f s\n'
                     % (time.monotonic() - t0))
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('|') and len(cells) >= 4:
            rows.setdefault(cells[0], cells)
    want_all = ('d.update(chunks) str->int', 'd.update(chunks) str->dict', 'm.dict(big)',
                'd.copy()', 'd.items()', 'd.keys()', 'l.extend(ints)', 'l[:]',
                'm.list(big)', 'q.get() 10 MB second round, ms')
    for row in want_all:
        cells = rows.get(row)
        t.ok('bench_bulk: row %s, three numbers' % row,
             cells is not None and all(NUMBER.match(c) for c in cells[1:4]),
             cells if cells else out[-3000:])
    for row in ('d.copy()', 'd.items()', 'd.keys()', 'l[:]'):
        label = '%s: reply bytes only' % row
        cells = rows.get(label)
        t.ok('bench_bulk: row %s, three numbers' % label,
             cells is not None and all(NUMBER.match(c) for c in cells[1:4]),
             cells if cells else out[-3000:])
        t.ok('bench_bulk: %s: managerd sends the canned bytes' % row,
             'NOTE: managerd\'s reply to %s ' % row not in err, err[-2000:])
        label = '%s: client pickle.loads alone' % row
        cells = rows.get(label)
        t.ok('bench_bulk: row %s, a number in the floor column' % label,
             cells is not None and NUMBER.match(cells[3]), cells or out[-3000:])
    t.ok('bench_bulk: the across-sizes table', 'managerd across sizes' in out)
    t.ok('bench_bulk: the spread table', 'spread over rounds' in out, out[-2000:])


def main():
    build = os.path.abspath(sys.argv[1])
    floor_path = os.path.join(build, 'tests', 'bench', 'floor_server')
    t = Tally()
    tmp = tempfile.mkdtemp(prefix='floor-canned-')
    benchlib._tmpdirs.append(tmp)
    try:
        # A reply bigger than a socket buffer, and a second, different one.
        big = {'k%07d' % i: i for i in range(300000)}
        files = {'copy': reply_bytes(big), 'items': reply_bytes(list(big.items())[:1000])}
        paths = []
        for method, data in files.items():
            path = os.path.join(tmp, method + '.pkl')
            with open(path, 'wb') as f:
                f.write(data)
            paths.append('%s=%s' % (method, path))
        open(os.path.join(tmp, 'empty'), 'wb').close()
        check_bad_options(t, floor_path, tmp, paths[0].split('=', 1)[1])
        floor = benchlib.start_floor(floor_path, AUTHKEY, tmp, canned=paths)
        try:
            with benchlib.deadline(60, 'the canned-reply checks'):
                check_replies(t, floor, files)
            t.ok('the floor is still running', floor.alive())
        finally:
            floor.stop()
        if '--no-bulk' not in sys.argv:
            check_bulk(t, build)
    except Exception as e:
        t.ok('no exception', False, repr(e))
    finally:
        benchlib.cleanup()
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
