#!/usr/bin/env python3
"""faults.py - managerd under hostile and broken clients (newest Python 3).

    python3 tests/interop/faults.py --managerd PATH [--connections N]

Clients killed with SIGKILL mid-request, while parked in q.get(), while
holding or waiting for a Lock/RLock/Condition; malformed frames and
handshakes (garbage pickles, negative and 4 GiB length headers, oversized
handshake messages, a silent peer); pickle bombs (deep nesting, huge memo
indexes, shared-reference explosions, a REDUCE of os.system); the
--max-message and --max-connections limits at and one past the limit;
2,000 concurrent connections. Throughout, other clients must go on being
served, and at the end managerd must answer and exit 0 on SIGTERM.
Prints 'N passed, M failed' last; exit status 0 only when nothing failed.
"""
import argparse
import os
import pickle
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ['PYTHONDONTWRITEBYTECODE'] = '1'

import mdtest                                                   # noqa: E402
from mdtest import SLOW, Closed, Managerd, RawConn, Tally, frame, long_frame   # noqa: E402

KEY = b'faults-key'
SHARES = ['fq=Queue', 'flock=Lock', 'frlock=RLock', 'fcond=Condition', 'fdict=dict', 'fev=Event']
T = Tally()


def check(name, cond, detail=''):
    return T.ok(name, cond, detail)


def test(fn):
    """Run one test function; an unexpected exception is one failure."""
    t0 = time.time()
    try:
        fn()
    except Exception:                                       # noqa: BLE001
        check('%s ran without an unexpected exception' % fn.__name__, False, traceback.format_exc())
    sys.stdout.write('-- %s (%.1fs)\n' % (fn.__name__, time.time() - t0))
    sys.stdout.flush()


# ---- helpers ------------------------------------------------------------------

class Ctx(object):
    md = None          # the main managerd (defaults + shared objects)
    addr = None        # its TCP address, Python form
    uaddr = None       # its Unix socket address


def conn(addr=None, **kw):
    return RawConn(addr or Ctx.addr, KEY, **kw)


def short(method, *args, **kw):
    """A server method on a short connection (addr= another server)."""
    return mdtest.server_call(kw.get('addr') or Ctx.addr, KEY, method, *args)


def long_conn(name='faults', addr=None):
    c = conn(addr)
    r = c.call(None, 'accept_connection', (name,))
    if r != ('#RETURN', None):
        raise AssertionError('accept_connection: %r' % (r,))
    return c


def shared_ident(typeid, addr=None):
    """The ident of a --share object (create answers the same ident and
    counts one more reference; these stay for the server's lifetime)."""
    kind, payload = short('create', typeid, addr=addr)
    if kind != '#RETURN':
        raise AssertionError('create %s: %r' % (typeid, payload))
    return payload[0]


def serving(where='', addr=None):
    """True when a fresh client gets a dict created and used quickly."""
    t0 = time.time()
    try:
        kind, payload = short('create', 'dict', addr=addr)
        if kind != '#RETURN':
            return False
        ident = payload[0]
        c = long_conn(addr=addr)
        ok = (c.call(ident, '__setitem__', ('k', where)) == ('#RETURN', None)
              and c.call(ident, '__getitem__', ('k',)) == ('#RETURN', where))
        c.close()
        short('decref', ident, addr=addr)
        return ok and time.time() - t0 < 5 * SLOW
    except (OSError, Closed, EOFError, pickle.UnpicklingError):
        return False


def reply_kind(c, timeout=None):
    """'closed', or the kind of the next reply ('#TRACEBACK', ...)."""
    c.sock.settimeout(timeout or 10 * SLOW)
    try:
        data = c.recv()
    except (Closed, ConnectionResetError, BrokenPipeError):
        return 'closed'
    except socket.timeout:
        return 'timeout'
    try:
        return pickle.loads(data)[0]
    except Exception as e:                                  # noqa: BLE001
        return 'undecodable reply %r (%s)' % (data[:60], e)


def vm(pid):
    return mdtest.proc_status(pid)


def client_process(code):
    """A Python child that connects to the main managerd with the stock
    client, prints 'ready' and then does what code says."""
    prelude = (
        'import sys, time\n'
        'from multiprocessing.managers import BaseManager\n'
        'class M(BaseManager): pass\n'
        'for n in %r: M.register(n.split("=")[0])\n'
        'm = M(address=%r, authkey=%r); m.connect()\n' % (SHARES, Ctx.addr, KEY))
    p = subprocess.Popen([sys.executable, '-c', prelude + code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = [b'']

    def rd():
        line[0] = p.stdout.readline()
    t = threading.Thread(target=rd, daemon=True)
    t.start()
    t.join(20 * SLOW)
    if line[0].strip() != b'ready':
        p.kill()
        raise AssertionError('client did not get ready: %r %r' % (line[0], p.stderr.read()[-2000:]))
    return p


def kill(p):
    p.send_signal(signal.SIGKILL)
    p.wait(10)


class Stock(object):
    """The stock client of this Python to the main managerd's shares."""

    def __init__(self):
        from multiprocessing.managers import BaseManager

        class M(BaseManager):
            pass
        for n in SHARES:
            M.register(n.split('=')[0])
        self.m = M(address=Ctx.addr, authkey=KEY)
        self.m.connect()


# ---- 1. clients killed --------------------------------------------------------

def killed_mid_request():
    fds0 = mdtest.open_fds(Ctx.md.pid())
    code = (
        'import socket, struct, hmac, hashlib, os, pickle\n'
        'sys.path.insert(0, %r)\n'
        'import mdtest\n'
        'c = mdtest.RawConn(%r, %r)\n'
        'c.call(None, "accept_connection", ("victim",))\n'
        'req = pickle.dumps(("x", "__setitem__", ("k", "v" * 5000), {}), 4)\n'
        'c.send_raw(struct.pack("!i", len(req)) + req[:100])\n'
        'print("ready"); sys.stdout.flush(); time.sleep(60)\n' % (HERE, Ctx.addr, KEY))
    p = client_process(code)
    check('mid-request: others served while a frame is half sent', serving('half-frame'))
    kill(p)
    check('mid-request: others served after the kill', serving('after-kill'))
    check('mid-request: connection fds released', wait_fds(fds0),
          'fds %d -> %d' % (fds0, mdtest.open_fds(Ctx.md.pid())))


def wait_fds(want, timeout=None):
    end = time.time() + (timeout or 5 * SLOW)
    while time.time() < end:
        if mdtest.open_fds(Ctx.md.pid()) <= want:
            return True
        time.sleep(0.05)
    return mdtest.open_fds(Ctx.md.pid()) <= want


def killed_in_get():
    s = Stock()
    q = s.m.fq()
    while not q.empty():
        q.get(False)
    p = client_process('q = m.fq(); print("ready"); sys.stdout.flush(); print(q.get())\n')
    time.sleep(0.5)          # the child's get is parked by now
    kill(p)
    time.sleep(0.2)
    q.put('item')
    try:
        got = q.get(True, 3 * SLOW)
    except Exception as e:                                  # noqa: BLE001
        got = 'nothing: %r' % (e,)
    # CPython would hand the item to the dead client's parked get (lost)
    check('killed in q.get(): its parked get is dropped, the item is not lost', got == 'item', got)
    check('killed in q.get(): queue usable', (q.put(1), q.get(True, 2))[1] == 1)


def killed_holding(typeid, label):
    s = Stock()
    lock = getattr(s.m, typeid)()
    p = client_process('l = m.%s(); l.acquire(); print("ready"); sys.stdout.flush(); time.sleep(60)\n' % typeid)
    check('%s held by a live client: not available' % label, lock.acquire(True, 0.3) is False)
    kill(p)
    t0 = time.time()
    got = lock.acquire(True, 5 * SLOW)
    check('%s held by a killed client is released' % label, got is True,
          'acquire returned %r after %.1fs' % (got, time.time() - t0))
    if got:
        lock.release()


def killed_holding_lock():
    """A Lock has no owner: what a killed client took stays taken (as on
    CPython's server) until someone else releases it."""
    s = Stock()
    lock = s.m.flock()
    p = client_process('l = m.flock(); l.acquire(); print("ready"); sys.stdout.flush(); time.sleep(60)\n')
    kill(p)
    check('Lock held by a killed client stays held', lock.acquire(True, 0.5) is False)
    lock.release()
    check('Lock held by a killed client: released by another client', lock.acquire(False) is True)
    lock.release()


def killed_holding_locks():
    killed_holding_lock()
    killed_holding('frlock', 'RLock')
    killed_holding('fcond', 'Condition')
    # an RLock acquired twice (depth 2) by the killed client
    s = Stock()
    r = s.m.frlock()
    p = client_process('l = m.frlock(); l.acquire(); l.acquire(); print("ready"); sys.stdout.flush(); '
                       'time.sleep(60)\n')
    kill(p)
    check('RLock held at depth 2 by a killed client is released', r.acquire(True, 5 * SLOW) is True)
    r.release()


def killed_waiting_for_lock():
    """A dead client's parked acquire must not take the lock later."""
    s = Stock()
    lock = s.m.flock()
    check('waiting: lock taken by us', lock.acquire(True, 5 * SLOW))
    p = client_process('l = m.flock(); print("ready"); sys.stdout.flush(); l.acquire(); time.sleep(60)\n')
    time.sleep(0.5)
    kill(p)
    time.sleep(0.2)
    lock.release()
    check('killed while waiting for a Lock: it does not get it after death', lock.acquire(False) is True)
    lock.release()
    c = s.m.fcond()
    p = client_process('c = m.fcond(); c.acquire(); print("ready"); sys.stdout.flush(); c.wait(); '
                       'time.sleep(60)\n')
    time.sleep(0.5)
    kill(p)
    got = c.acquire(True, 5 * SLOW)
    check('killed in Condition.wait: the condition is free', got is True)
    if got:
        c.notify_all()
        c.release()
    ev = s.m.fev()
    p = client_process('e = m.fev(); print("ready"); sys.stdout.flush(); e.wait()\n')
    time.sleep(0.3)
    kill(p)
    ev.set()
    check('killed in Event.wait: set() still works for others', ev.is_set() is True)
    ev.clear()


# ---- 2. handshakes --------------------------------------------------------------

def handshake_forms():
    c = conn()
    check('modern handshake: managerd answers {sha256}', c.server_answer_form == 'sha256', c.server_answer_form)
    check('modern handshake: request served', c.call(None, 'dummy') == ('#RETURN', None))
    c.close()
    # a legacy client: raw HMAC-MD5 answer and a 20-byte challenge
    import hashlib
    import hmac
    c = conn(handshake=False)
    body = c.recv()[len(b'#CHALLENGE#'):]
    c.send(hmac.new(KEY, body, hashlib.md5).digest())
    check('legacy handshake: welcomed', c.recv() == b'#WELCOME#')
    m2 = os.urandom(20)
    c.send(b'#CHALLENGE#' + m2)
    a2 = c.recv()
    check('legacy handshake: answered with 16 raw MD5 bytes (no prefix)',
          a2 == hmac.new(KEY, m2, hashlib.md5).digest(), a2)
    c.send(b'#WELCOME#')
    check('legacy handshake: request served', c.call(None, 'dummy', protocol=2) == ('#RETURN', None))
    c.close()


def handshake_abuse():
    # a wrong answer: #FAILURE#, then the connection closes
    c = conn(handshake=False)
    c.recv()
    c.send(b'{sha256}' + b'\0' * 32)
    check('wrong answer: #FAILURE#', c.recv() == b'#FAILURE#')
    check('wrong answer: closed', c.is_closed())
    c.close()
    # at the limit: a 256-byte answer is read (and is wrong)
    c = conn(handshake=False)
    c.recv()
    c.send(b'x' * 256)
    r = reply_kind_raw(c)
    check('256-byte handshake answer: read and refused with #FAILURE#', r == b'#FAILURE#', r)
    c.close()
    # one past: 257 bytes, closed (a #FAILURE# first is fine)
    c = conn(handshake=False)
    c.recv()
    c.send(b'x' * 257)
    r = reply_kind_raw(c)
    check('257-byte handshake answer: closed', r in ('closed', b'#FAILURE#'), r)
    check('257-byte handshake answer: closed after', c.is_closed())
    c.close()
    # an oversized challenge from the client in step (4)
    c = conn(handshake=False)
    import hashlib
    import hmac
    body = c.recv()[len(b'#CHALLENGE#'):]
    c.send(b'{sha256}' + hmac.new(KEY, body, hashlib.sha256).digest())
    c.recv()
    c.send(b'#CHALLENGE#' + b'{sha256}' + b'y' * 300)
    check('oversized client challenge: closed', c.is_closed())
    c.close()
    # a header announcing 2 GiB during the handshake
    c = conn(handshake=False)
    c.recv()
    c.send_raw(struct.pack('!i', 0x7fffffff))
    check('2 GiB handshake header: closed', c.is_closed())
    c.close()
    # garbage instead of the frame
    c = conn(handshake=False)
    c.recv()
    c.send_raw(b'GET / HTTP/1.0\r\n\r\n')
    check('HTTP request in place of a handshake: closed', c.is_closed())
    c.close()
    # a client that connects and says nothing: others are unaffected
    silent = [conn(handshake=False) for _ in range(20)]
    check('20 silent clients: others served meanwhile', serving('silent'))
    for s in silent:
        s.close()
    check('serving after the handshake abuse', serving('handshake-abuse'))


def reply_kind_raw(c):
    try:
        return c.recv()
    except (Closed, ConnectionResetError, BrokenPipeError):
        return 'closed'
    except socket.timeout:
        return 'timeout'


# ---- 3. frames --------------------------------------------------------------------

def req(ident, method, args=(), kwds=None, protocol=4):
    return pickle.dumps((ident, method, tuple(args), kwds or {}), protocol=protocol)


def malformed_frames():
    dict_id = shared_ident('fdict')
    for label, payload in [('garbage bytes', b'\x00\x01garbage\xff' * 10),
                           ('truncated pickle', req(None, 'dummy')[:-3]),
                           ('empty payload', b''),
                           ('pickle of an int', pickle.dumps(42)),
                           ('3-tuple request', pickle.dumps((None, 'dummy', ()))),
                           ('unknown server method', req(None, 'nosuchmethod')),
                           ('object call on a short connection', req(dict_id, '__len__'))]:
        c = conn()
        c.send(payload)
        k = reply_kind(c)
        check('first request %s: #TRACEBACK or closed' % label, k in ('#TRACEBACK', 'closed'), k)
        c.close()
    # on a long connection an undecodable request gets #TRACEBACK and the
    # connection goes on (CPython), or it is closed
    c = long_conn()
    c.send(b'\x80\x04garbage')
    k = reply_kind(c)
    check('garbage on a long connection: #TRACEBACK or closed', k in ('#TRACEBACK', 'closed'), k)
    if k == '#TRACEBACK':
        check('long connection usable after #TRACEBACK', c.call(dict_id, '__len__')[0] == '#RETURN')
    c.close()
    c = long_conn()
    check('server method on a long connection: #TRACEBACK', c.call(None, 'dummy')[0] == '#TRACEBACK')
    check('long connection usable afterwards', c.call(dict_id, '__len__')[0] == '#RETURN')
    check('unknown ident: #TRACEBACK', c.call('ffffffff', '__len__')[0] == '#TRACEBACK')
    check('non-exposed method: #TRACEBACK', c.call(dict_id, 'nosuch')[0] == '#TRACEBACK')
    c.close()
    # two requests on a short connection: the second is not served
    c = conn()
    c.send_raw(frame(req(None, 'dummy')) + frame(req(None, 'dummy')))
    check('short connection: first reply', reply_kind(c) == '#RETURN')
    check('short connection: closed after one request', reply_kind(c, 3 * SLOW) == 'closed')
    c.close()
    # a request in the long frame form (3.8+ understand it for any size)
    c = conn()
    c.send_raw(long_frame(req(None, 'dummy')))
    check('long-form header for a small request: served', reply_kind(c) == '#RETURN')
    c.close()
    # negative headers
    for hdr in (struct.pack('!i', -2), struct.pack('!i', -0x80000000)):
        c = conn()
        c.send_raw(hdr + b'\0' * 16)
        check('negative length header %r: closed' % hdr, c.is_closed())
        c.close()
    # 4 GiB announced in the long form: closed without allocating it
    before = vm(Ctx.md.pid())
    for n in (1 << 32, (1 << 64) - 1, (1 << 31)):
        c = conn()
        c.send_raw(struct.pack('!iQ', -1, n) + b'\x80\x04' + b'A' * 1000)
        check('long header announcing %d bytes: closed' % n, c.is_closed(), n)
        c.close()
    after = vm(Ctx.md.pid())
    grew = after['VmPeak'] - before['VmPeak']
    check('huge length headers: no allocation (VmPeak grew %d kB)' % grew, grew < 256 * 1024,
          '%r -> %r' % (before, after))
    # half a header, then the client goes away
    c = conn()
    c.send_raw(b'\x00\x00')
    c.close()
    check('serving after malformed frames', serving('frames'))


def size_limits():
    """--max-message 4096 and --max-connections 5, at and past the limit."""
    g = Managerd(Ctx.exe, ['tcp'], KEY, args=['--max-message', '4096', '--max-connections', '5',
                                              '--share', 'd=dict'], name='managerd (limits)')
    g.start()
    try:
        addr = mdtest.python_address(g.address('tcp'))
        kind, payload = mdtest.server_call(addr, KEY, 'create', 'd')
        ident = payload[0]
        c = RawConn(addr, KEY)
        c.call(None, 'accept_connection', ('limits',))

        def sized(n):
            """A __setitem__ request of exactly n bytes."""
            pad = n - len(req(ident, '__setitem__', ('k', b'')))
            for extra in range(0, 16):
                body = req(ident, '__setitem__', ('k', b'x' * (pad - extra)))
                if len(body) == n:
                    return body
            raise AssertionError('cannot size a request to %d' % n)
        body = sized(4096)
        c.send(body)
        check('max-message: a 4096-byte message is served', reply_kind(c) == '#RETURN', len(body))
        c.send(sized(4097))
        check('max-message: a 4097-byte message closes the connection', reply_kind(c) == 'closed')
        c.close()
        c = RawConn(addr, KEY)
        c.send_raw(struct.pack('!i', 4097))
        check('max-message: the header alone is enough to close', c.is_closed())
        c.close()
        # handshake messages stay limited to 256 even when max-message is larger
        # (tested on the main server); here: connection count
        time.sleep(0.3)
        held = []
        try:
            for _ in range(5):
                held.append(RawConn(addr, KEY, timeout=3 * SLOW))
        except (Closed, OSError) as e:
            check('max-connections: 5 connections accepted', False, '%d accepted: %r' % (len(held), e))
        check('max-connections: 5 connections accepted', len(held) == 5, len(held))
        check('max-connections: served at the limit', held[-1].call(None, 'dummy') == ('#RETURN', None))
        # that one was a short connection, closed by the server; refill to 5
        held = held[:-1]
        time.sleep(0.3)
        held.append(RawConn(addr, KEY, timeout=3 * SLOW))
        try:
            extra = RawConn(addr, KEY, timeout=3 * SLOW)
            refused = False
            extra.close()
        except (Closed, OSError):
            refused = True
        check('max-connections: the 6th connection is refused', refused)
        for h in held:
            h.close()
        time.sleep(0.3)
        ok = False
        end = time.time() + 5 * SLOW
        while not ok and time.time() < end:
            try:
                ok = mdtest.server_call(addr, KEY, 'dummy') == ('#RETURN', None)
            except (Closed, OSError):
                time.sleep(0.1)
        check('max-connections: served again once others closed', ok)
        log = g.log_text()
        check('max-connections: refusal logged', 'connections is the limit' in log or 'refus' in log, log[-800:])
    finally:
        problems = g.stop_check()
        check('limits managerd exited 0 on SIGTERM', not problems, '\n'.join(problems))
        g.cleanup()


# ---- 4. pickle bombs -----------------------------------------------------------------

def raw_request(ident, method, value_ops, proto=b'\x80\x02'):
    """A request pickle with hand-written opcodes for the single argument."""
    def s(x):
        x = x.encode()
        return b'X' + struct.pack('<I', len(x)) + x
    return (proto + b'(' + (s(ident) if ident else b'N') + s(method) +
            b'(' + value_ops + b't' + b'}' + b't.')


def pickle_bombs():
    dict_id = shared_ident('fdict')
    c = long_conn()
    # nesting within reason is fine
    depth = 2000
    ops = b'\x8c\x01k' + b']' * depth + b'a' * (depth - 1)
    check('nested lists, depth %d: stored' % depth,
          send_get(c, raw_request(dict_id, '__setitem__', ops)) == '#RETURN')
    check('deeply nested value deleted', c.call(dict_id, '__delitem__', ('k',))[0] == '#RETURN')
    # deep nesting beyond any limit
    for depth in (100000, 1000000):
        ops = b'\x8c\x01k' + b']' * depth + b'a' * (depth - 1)
        k = send_get(c, raw_request(dict_id, '__setitem__', ops))
        check('nested lists, depth %d: clear error (#TRACEBACK) or closed' % depth,
              k in ('#TRACEBACK', 'closed'), k)
        if k == 'closed':
            c = long_conn()
    ops = b'\x8c\x01k' + b'(' * 200000 + b'l' * 200000
    k = send_get(c, raw_request(dict_id, '__setitem__', ops))
    check('200000 MARKs: clear error or closed', k in ('#TRACEBACK', 'closed'), k)
    if k == 'closed':
        c = long_conn()
    # memo indexes
    before = vm(Ctx.md.pid())
    for label, ops in [('LONG_BINGET 4000000000', b'\x8c\x01k' + b'j' + struct.pack('<I', 4000000000)),
                       ('LONG_BINPUT 4000000000', b'\x8c\x01kN' + b'r' + struct.pack('<I', 4000000000)),
                       ('BINGET of an empty memo', b'\x8c\x01k' + b'h\x05'),
                       ('LONG4 of 2^31 bytes', b'\x8c\x01k' + b'\x8b' + struct.pack('<i', 0x7fffffff) + b'\1' * 8),
                       ('BINUNICODE of 4 GiB', b'\x8c\x01k' + b'X' + struct.pack('<I', 0xffffffff) + b'abc'),
                       ('BINUNICODE8 of 2^63', b'\x8c\x01k' + b'\x8d' + struct.pack('<Q', 1 << 63) + b'abc'),
                       ('FRAME of 2^62', b'\x95' + struct.pack('<Q', 1 << 62) + b'\x8c\x01k')]:
        k = send_get(c, raw_request(dict_id, '__setitem__', ops, proto=b'\x80\x04'))
        check('%s: clear error (#TRACEBACK) or closed' % label, k in ('#TRACEBACK', 'closed'), k)
        if k == 'closed':
            c = long_conn()
    after = vm(Ctx.md.pid())
    grew = after['VmPeak'] - before['VmPeak']
    check('memo and length bombs: no huge allocation (VmPeak grew %d kB)' % grew, grew < 512 * 1024,
          '%r -> %r' % (before, after))
    check('serving after the decoder bombs', serving('decoder-bombs'))
    c.close()


def _asan_build(exe):
    """True when managerd was built with --enable-sanitizers."""
    try:
        with open(exe, 'rb') as f:
            return b'__asan_init' in f.read()
    except OSError:
        return False


def reference_bomb():
    """x = None; for i in range(60): x = [x, x]; d['k'] = x -- a tiny
    pickle (memo references) with 2^60 leaves. Anything that expands it
    (repr, str, debug_info's str(obj)[:75]) must stay bounded. Each probe
    runs on a server of its own, capped at 8 GiB of address space and
    killed at once if it gets stuck, so that a broken server harms no
    other test (or the machine)."""
    cheap = [('__getitem__', ('k',)), ('#GETVALUE', ()), ('get', ('k',)), ('__contains__', (('k',),)),
             ('__len__', ())]
    probes = [cheap, [('debug_info', None)], [('__repr__', ())], [('__str__', ())]]
    for group in probes:
        # An address-space cap cannot be used under valgrind or with an
        # AddressSanitizer build (ASan reserves terabytes of shadow space).
        limits = {} if mdtest.WRAPPER or _asan_build(Ctx.exe) else {resource.RLIMIT_AS: 8 << 30}
        b = Managerd(Ctx.exe, ['tcp'], KEY, args=['--share', 'fdict=dict'], name='managerd (bomb)',
                     limits=limits)
        b.start()
        try:
            _reference_bomb(b, mdtest.python_address(b.address('tcp')), group)
        finally:
            if b.alive():
                problems = b.stop_check()
                check('bomb managerd exited 0 on SIGTERM', not problems, '\n'.join(problems))
            else:
                b.stop()
            b.cleanup()


def _reference_bomb(b, addr, probes):
    dict_id = shared_ident('fdict', addr)
    c = long_conn(addr=addr)
    levels = 60
    ops = b'\x8c\x01k' + b'N\x940'                     # memo[0] = None
    for i in range(levels):                             # memo[i+1] = [memo[i], memo[i]]
        ops += b']' + b'(' + b'h' + bytes([i]) + b'h' + bytes([i]) + b'e' + b'\x940'
    ops += b'h' + bytes([levels])
    k = send_get(c, raw_request(dict_id, '__setitem__', ops, proto=b'\x80\x04'))
    if not check('shared-reference bomb stored (2^60 leaves, 60 lists)', k == '#RETURN', k):
        return
    results = {}

    def ask(method, args):
        t0 = time.time()
        try:
            if args is None:                     # a server method
                results[method] = (short(method, addr=addr)[0], time.time() - t0)
                return
            cc = long_conn(addr=addr)
            try:
                cc.send(req(dict_id, method, args))
                results[method] = (reply_kind(cc, 10 * SLOW), time.time() - t0)
            finally:
                cc.close()
        except Exception as e:                              # noqa: BLE001
            results[method] = (repr(e), time.time() - t0)
    for method, args in probes:
        th = threading.Thread(target=ask, args=(method, args), daemon=True)
        th.start()
        time.sleep(0.2)
        check('shared-reference bomb: others served while %s runs' % method, serving('bomb-' + method, addr))
        th.join(12 * SLOW)
        res = results.get(method, ('no reply within %ds' % (10 * SLOW), None))
        if not check('shared-reference bomb: %s answers (value or clear error) within 10s' % method,
                     res[0] in ('#RETURN', '#TRACEBACK', '#ERROR', '#UNSERIALIZABLE', 'closed')
                     and not th.is_alive(), res):
            st = mdtest.proc_status(b.pid()) if b.alive() else {}
            sys.stdout.write('   %s stuck; server memory %r; killing it\n' % (method, st))
            b._kill()          # stuck, and eating memory: stop it now
            return
    check('shared-reference bomb deleted', c.call(dict_id, '__delitem__', ('k',))[0] == '#RETURN')
    c.close()
    check('serving after the reference bomb', serving('after-ref-bomb', addr))


def send_get(c, payload):
    try:
        c.send(payload)
    except (BrokenPipeError, ConnectionResetError):
        return 'closed'
    return reply_kind(c, 30 * SLOW)


def no_code_execution():
    """A pickle that would run os.system on unpickling is kept as data."""
    dict_id = shared_ident('fdict')
    marker = os.path.join(tempfile.mkdtemp(prefix='md-faults-'), 'pwned')
    cmd = ('touch ' + marker).encode()
    ops = (b'\x8c\x01k' + b'\x8c\x05posix\x8c\x06system\x93' +
           b'X' + struct.pack('<I', len(cmd)) + cmd + b'\x85R')
    c = long_conn()
    k = send_get(c, raw_request(dict_id, '__setitem__', ops, proto=b'\x80\x04'))
    check('REDUCE(posix.system) stored or refused', k in ('#RETURN', '#TRACEBACK'), k)
    c.send(req(dict_id, '__getitem__', ('k',)))
    try:
        raw = c.recv()
    except Closed:
        raw = b''
    time.sleep(0.3)
    check('REDUCE(posix.system) was not run by the server', not os.path.exists(marker), marker)
    if k == '#RETURN':
        check('REDUCE(posix.system) comes back unchanged (as data)', b'system' in raw and cmd in raw, raw[:200])
    c.call(dict_id, '__delitem__', ('k',))
    c.close()


# ---- 5. many connections ----------------------------------------------------------------

def many_connections():
    n = Ctx.nconn
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    check('RLIMIT_NOFILE allows %d connections' % n, soft >= n + 200, (soft, hard))
    if soft < n + 200:
        return
    dict_id = shared_ident('fdict')
    stop = threading.Event()
    lat = []
    errs = []

    def background():
        s = Stock()
        d = s.m.fdict()
        i = 0
        while not stop.is_set():
            t0 = time.time()
            try:
                d['bg'] = i
                if d['bg'] != i:
                    errs.append('wrong value')
            except Exception as e:                          # noqa: BLE001
                errs.append(repr(e))
                return
            lat.append(time.time() - t0)
            i += 1
            time.sleep(0.01)
    bg = threading.Thread(target=background, daemon=True)
    bg.start()
    conns = []
    t0 = time.time()
    failures = []
    for i in range(n):
        try:
            c = conn(Ctx.uaddr if i % 4 == 3 else Ctx.addr)
            c.call(None, 'accept_connection', ('many-%d' % i,))
            conns.append(c)
        except Exception as e:                              # noqa: BLE001
            failures.append('%d: %r' % (i, e))
            if len(failures) > 5:
                break
    t_open = time.time() - t0
    check('%d concurrent connections handshaken and accepted' % n, len(conns) == n and not failures,
          '%d open, failures %s' % (len(conns), failures[:5]))
    sys.stdout.write('   %d connections open in %.1fs; server fds %d\n'
                     % (len(conns), t_open, mdtest.open_fds(Ctx.md.pid())))
    bad = 0
    for i, c in enumerate(conns[::50]):
        if c.call(dict_id, '__setitem__', ('c%d' % i, i)) != ('#RETURN', None):
            bad += 1
        if c.call(dict_id, '__getitem__', ('c%d' % i,)) != ('#RETURN', i):
            bad += 1
    check('calls on every 50th of the open connections', bad == 0, bad)
    check('calls on the first and the last connection',
          conns and conns[0].call(dict_id, '__len__')[0] == '#RETURN'
          and conns[-1].call(dict_id, '__len__')[0] == '#RETURN')
    check('a new client is served with %d connections open' % len(conns), serving('many'))
    stop.set()
    bg.join(10 * SLOW)
    check('background client never failed', not errs, errs[:3])
    check('background client latency stayed under 2s', lat and max(lat) < 2.0 * SLOW,
          'max %.3fs over %d calls' % (max(lat) if lat else -1, len(lat)))
    for c in conns:
        c.close()
    c = long_conn()
    for i in range(len(conns[::50])):
        c.call(dict_id, '__delitem__', ('c%d' % i,))
    c.close()
    fds_after = mdtest.open_fds(Ctx.md.pid())
    check('connection fds released after closing them', wait_fds(Ctx.fds0 + 10, 10 * SLOW),
          'fds %d at start, %d now' % (Ctx.fds0, fds_after))


# ---- main ------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--managerd', required=True)
    ap.add_argument('--connections', type=int, default=2000)
    ap.add_argument('--only', default='', help='comma-separated test names')
    opts = ap.parse_args()
    Ctx.exe = os.path.abspath(opts.managerd)
    Ctx.nconn = opts.connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = opts.connections + 500
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))     # managerd inherits it
    tests = [handshake_forms, handshake_abuse, malformed_frames, size_limits, pickle_bombs,
             reference_bomb, no_code_execution, killed_mid_request, killed_in_get, killed_holding_locks,
             killed_waiting_for_lock, many_connections]
    if opts.only:
        names = opts.only.split(',')
        tests = [t for t in tests if t.__name__ in names]
    t0 = time.time()
    md = Managerd(Ctx.exe, ['tcp', 'unix'], KEY, args=sum([['--share', s] for s in SHARES], []),
                  name='managerd (faults)')
    try:
        md.start()
    except mdtest.TestFailure as e:
        check('managerd started', False, str(e))
        print(T.summary())
        return 1
    Ctx.md = md
    Ctx.addr = mdtest.python_address(md.address('tcp'))
    Ctx.uaddr = mdtest.python_address(md.address('unix'))
    Ctx.fds0 = mdtest.open_fds(md.pid())
    try:
        for t in tests:
            test(t)
            if not md.alive():
                check('managerd still running after %s' % t.__name__, False,
                      'exit %r\n%s' % (md.proc.poll(), mdtest._tail(md.log_path)))
                break
        check('managerd answers at the end', md.alive() and serving('end'))
        log = md.log_text()
        errors = [l for l in log.splitlines() if ' managerd error: ' in l]
        check('no error-level lines in the log', not errors, '\n'.join(errors[:10]))
    finally:
        problems = md.stop_check()
        check('managerd exited 0 on SIGTERM', not problems, '\n'.join(problems))
        md.cleanup()
    print('faults: %.0fs' % (time.time() - t0))
    if T.failures:
        print('failed: ' + '; '.join(T.failures[:40]))
    print(T.summary())
    return 0 if T.failed == 0 and T.passed > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
