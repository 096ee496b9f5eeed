#!/usr/bin/env python3
"""hardening - attacks on managerd's transports, one case per point of
issue 8 that this folder covers, each run against a fresh managerd on
loopback: `hardening.py CASE` (the .sh files beside this one pick the case).

  http_preauth    unauthenticated HTTP bodies and headers are refused
                  before they are read; RSS falls back after a big request
  http_timeouts   idle and half-sent HTTP connections are closed, and HTTP
                  connections count in --max-connections
  fd_exhaustion   out of descriptors the server neither spins nor floods
                  its log; failed handshakes are rate-limited in the log
  output_bound    a client that never reads its replies cannot grow the
                  server without bound
  fairness        a new client's handshake is quick while 100 clients
                  pipeline heavy requests
  xmlrpc_budget   a shared-reference DAG read over XML-RPC fails fast
  http_longkey    HTTP Basic works with the longest key file
  http_empty_body an empty POST gets a proper fault
  value_memory    a big dict cleared and filled again reuses its memory;
                  dropped, its memory goes back within a few seconds

Every loop and wait is bounded; the server's RSS and CPU come from /proc.
Prints 'N passed, M failed' last.
"""
import base64
import http.client
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import time
import xmlrpc.client as xc
from multiprocessing.connection import Client
from multiprocessing.managers import SyncManager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'xmlrpc'))
import xtest                                    # noqa: E402
from xtest import KEY, Managerd                 # noqa: E402

MIB = 1 << 20


# ---- measuring the server -----------------------------------------------------

def rss_mib(md):
    """The server's resident set size in MiB (from /proc)."""
    with open('/proc/%d/status' % md.proc.pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return 0.0


def sanitized(md):
    """True when the server runs under AddressSanitizer, whose allocator
    keeps freed memory in quarantine (RSS does not fall back)."""
    with open('/proc/%d/maps' % md.proc.pid) as f:
        return 'libasan' in f.read()


def ok_unsanitized(t, md, name, cond, why):
    """t.ok(name, cond), unless the server runs under AddressSanitizer,
    whose allocator makes the figure meaningless (why): then a line saying
    so."""
    if sanitized(md):
        print('skipped: %s (AddressSanitizer %s)' % (name, why))
    else:
        t.ok(name, cond)


def cpu_seconds(md):
    """User + system CPU time the server has used (from /proc)."""
    with open('/proc/%d/stat' % md.proc.pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))


def minor_faults(md):
    """Pages the server has faulted in so far (minflt, from /proc)."""
    with open('/proc/%d/stat' % md.proc.pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[7])


def log_size(md):
    try:
        return os.path.getsize(md.log_path)
    except OSError:
        return 0


def start(listen, args=(), authkey=KEY, limit_fds=None):
    md = Managerd(listen, args=args, authkey=authkey)
    if limit_fds:
        # the server runs with a low descriptor limit, soft and hard
        saved = xtest.WRAPPER
        xtest.WRAPPER = ['sh', '-c', 'ulimit -n %d && exec "$@"' % limit_fds, 'sh'] + saved
        try:
            md.start()
        finally:
            xtest.WRAPPER = saved
    else:
        md.start()
    return md


def http_addr(md):
    return xtest.host_port([a for a in md.addresses if a.startswith('http://')][0])


def basic(password, user='u'):
    raw = ('%s:' % user).encode() + password
    return 'Basic ' + base64.b64encode(raw).decode()


def manager(md, index=0):
    m = SyncManager(address=md.tcp(index), authkey=KEY)
    m.connect()
    return m


def long_connection(md, index=0):
    """A raw manager connection after accept_connection."""
    c = Client(md.tcp(index), authkey=KEY)
    c.send((None, 'accept_connection', ('hostile',), {}))
    kind, _ = c.recv()
    assert kind == '#RETURN', kind
    return c


def closed_within(sock, seconds):
    """True when the peer closes (EOF or reset) within seconds."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
            if not data:
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def watch_rss(md, seconds, cap_mib, until=None):
    """Peak RSS over seconds; kills the server past cap_mib (so that a
    server without the fix cannot take the machine) and returns."""
    peak = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end and md.alive():
        peak = max(peak, rss_mib(md))
        if peak > cap_mib:
            md.kill()
            break
        if until and until():
            break
        time.sleep(0.05)
    return peak


# ---- point 1: before authentication ------------------------------------------

def case_http_preauth(t):
    md = start(['http://127.0.0.1:0/RPC2'])
    try:
        host, port = http_addr(md)
        base = rss_mib(md)
        # 20 connections announce 60 MiB bodies with a wrong password and
        # send up to 8 MiB each; the server must not read (or keep) them.
        socks = []
        head = ('POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                'Authorization: %s\r\nContent-Length: %d\r\n\r\n'
                % (basic(b'wrong'), 60 * MIB)).encode()
        chunk = b'<' * (256 << 10)
        for _ in range(20):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(head)
            socks.append(s)
        refused = 0
        for s in socks:
            s.settimeout(0.5)
            try:
                for _ in range(32):            # at most 8 MiB per connection
                    s.sendall(chunk)
            except OSError:
                refused += 1                   # reset or timed out: not read
        peak = rss_mib(md)
        t.ok('20 unauthenticated 60 MiB bodies are not read (RSS %.0f -> %.0f MiB)' % (base, peak),
             peak - base < 40)
        t.ok('unauthenticated big bodies are refused (%d of 20)' % refused, refused == 20)
        for s in socks:
            s.close()

        # 1 MiB of headers: refused long before the end.
        s = socket.create_connection((host, port), timeout=5)
        sent = 0
        try:
            s.sendall(b'POST /RPC2 HTTP/1.1\r\nHost: x\r\n')
            for i in range(1024):              # 1 KiB header lines
                s.sendall(('X-Pad-%d: %s\r\n' % (i, 'a' * 1000)).encode())
                sent += 1
            s.sendall(b'\r\n')
            s.settimeout(5)
            reply = s.recv(100)
        except OSError:
            reply = b''
        s.close()
        t.ok('1 MiB of headers is refused (%d KiB sent, reply %r)' % (sent, reply[:20]),
             sent < 1024 or reply[:12] in (b'HTTP/1.1 400', b'HTTP/1.1 413', b'HTTP/1.1 431'))

        # A big authorized request: RSS falls back afterwards.
        before = rss_mib(md)
        proxy = xc.ServerProxy(md.http_url(), allow_none=True)
        proxy.system.listMethods()             # authenticates the connection
        big = 'x' * (48 * MIB)
        try:
            proxy.call('no-such-object', 'append', [big])
        except xc.Fault:
            pass
        del big
        time.sleep(0.5)
        after = rss_mib(md)
        ok_unsanitized(t, md, 'RSS falls back after a 48 MiB request (%.0f MiB before, %.0f after)'
                       % (before, after), after - before < 24, 'keeps freed memory')
        t.ok('server alive', md.alive())
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- point 2: timeouts and the connection count ------------------------------

def case_http_timeouts(t):
    md = start(['127.0.0.1:0', 'http://127.0.0.1:0/RPC2'], args=['--max-connections', '40'])
    try:
        host, port = http_addr(md)
        time.sleep(0.5)                        # the start-up probes are gone
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(20)]
        half = []
        for _ in range(20):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b'POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n')
            half.append(s)
        time.sleep(0.5)
        # 40 HTTP connections fill --max-connections: a pickle client is refused.
        probe = socket.create_connection(md.tcp(0), timeout=5)
        t.ok('HTTP connections count in --max-connections', closed_within(probe, 2))
        probe.close()
        start_t = time.monotonic()
        gone = [closed_within(s, 16 - (time.monotonic() - start_t)) for s in idle + half]
        t.ok('idle and half-sent HTTP connections are closed (%d of 40 within 16 s)'
             % sum(gone), all(gone))
        for s in idle + half:
            s.close()
        time.sleep(0.3)
        m = manager(md)
        t.ok('a pickle client is served once they are gone', m.list([1, 2])._callmethod('__len__') == 2)
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- point 3: out of descriptors, and the log -----------------------------------

def case_fd_exhaustion(t):
    md = start(['127.0.0.1:0'], args=['--log-level', 'info'], limit_fds=256)
    try:
        addr = md.tcp(0)
        socks = []
        for _ in range(300):                   # more than the server's descriptors
            try:
                socks.append(socket.create_connection(addr, timeout=2))
            except OSError:
                break
        time.sleep(0.3)
        cpu0, log0 = cpu_seconds(md), log_size(md)
        time.sleep(3)
        cpu, logged = cpu_seconds(md) - cpu0, log_size(md) - log0
        t.ok('no spinning while out of descriptors (%.2f s CPU in 3 s)' % cpu, cpu < 0.6)
        t.ok('no log flood while out of descriptors (%d bytes in 3 s)' % logged, logged < 20000)
        for s in socks:
            s.close()
        time.sleep(0.5)
        m = manager(md)
        t.ok('served again once descriptors are free', m.list([1])._callmethod('__len__') == 1)
        # 300 failed handshakes: a bounded number of log lines.
        log0 = log_size(md)
        for _ in range(300):
            try:
                Client(addr, authkey=b'wrong key').close()
            except Exception:
                pass
        time.sleep(0.3)
        logged = log_size(md) - log0
        t.ok('failed handshakes are rate-limited in the log (%d bytes for 300)' % logged,
             logged < 8000)
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- point 4: replies nobody reads ----------------------------------------------

def case_output_bound(t):
    md = start(['127.0.0.1:0'])
    try:
        m = manager(md)
        lst = m.list([b'x' * MIB])
        ident = lst._token.id
        base = rss_mib(md)
        c = long_connection(md)
        s = socket.socket(fileno=os.dup(c.fileno()))
        s.settimeout(0.2)
        req = pickle.dumps((ident, '__getitem__', (0,), {}), protocol=2)
        frame = struct.pack('!i', len(req)) + req
        sent = 0
        end = time.monotonic() + 8
        peak = base
        while sent < 400 and time.monotonic() < end:   # at most 400 MiB of replies
            try:
                s.sendall(frame * 10)
                sent += 10
            except socket.timeout:
                pass                           # the server stopped reading: good
            peak = max(peak, rss_mib(md))
            if peak - base > 1500:
                break
        time.sleep(0.5)
        peak = max(peak, rss_mib(md))
        t.ok('unread replies are bounded (%d requests sent, RSS %.0f -> %.0f MiB)'
             % (sent, base, peak), peak - base < 64)
        t0 = time.monotonic()
        ok = lst._callmethod('__len__') == 1
        t.ok('other clients are served meanwhile (%.3f s)' % (time.monotonic() - t0),
             ok and time.monotonic() - t0 < 1)
        s.close()
        c.close()
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- point 5: fairness ----------------------------------------------------------

HAMMER = r'''
import os, pickle, select, socket, struct, sys, time
from multiprocessing.connection import Client
addr = (sys.argv[1], int(sys.argv[2])); ident = sys.argv[3]; n = int(sys.argv[4])
key = os.environ['MD_KEY'].encode(); seconds = float(sys.argv[5])
req = pickle.dumps((ident, '__repr__', (), {}), protocol=2)
burst = (struct.pack('!i', len(req)) + req) * 200
conns = []
for _ in range(n):
    c = Client(addr, authkey=key)
    c.send((None, 'accept_connection', ('h',), {})); c.recv()
    s = socket.socket(fileno=os.dup(c.fileno())); s.setblocking(False)
    conns.append((c, s))
print('ready', flush=True)
end = time.monotonic() + seconds
out = {s: burst for _, s in conns}
while time.monotonic() < end:
    r, w, _ = select.select([s for _, s in conns], [s for _, s in conns if out[s]], [], 0.1)
    for s in r:
        try:
            if not s.recv(1 << 20): sys.exit(0)
        except BlockingIOError: pass
    for s in w:
        try:
            k = s.send(out[s]); out[s] = out[s][k:] or burst
        except BlockingIOError: pass
'''


def case_fairness(t):
    md = start(['127.0.0.1:0'])
    hammer = None
    try:
        m = manager(md)
        lst = m.list(list(range(3000)))
        env = dict(os.environ, MD_KEY=KEY.decode())
        host, port = md.tcp(0)
        hammer = subprocess.Popen([sys.executable, '-c', HAMMER, host, str(port), lst._token.id,
                                   '100', '20'], stdout=subprocess.PIPE, env=env)
        ready = select.select([hammer.stdout], [], [], 20)[0] and hammer.stdout.readline()
        t.ok('100 pipelining clients connected', ready == b'ready\n')
        time.sleep(1)
        t0 = time.monotonic()
        lst._callmethod('__len__')
        t.ok('a call on another connection is quick (%.3f s)' % (time.monotonic() - t0),
             time.monotonic() - t0 < 0.5)
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            c = Client((host, port), authkey=KEY)
            c.send((None, 'dummy', (), {}))
            c.recv()
            times.append(time.monotonic() - t0)
            c.close()
        times.sort()
        t.ok('new clients are served quickly under load (median %.3f s, worst %.3f s)'
             % (times[2], times[-1]), times[-1] < 1.0)
        t.ok('the load was still on', hammer.poll() is None)
    finally:
        if hammer:
            hammer.kill()
            hammer.wait(10)
        for p in md.stop():
            t.ok(p, False)


# ---- point 6: the XML-RPC encoder's budgets -----------------------------------

def case_xmlrpc_budget(t):
    md = start(['127.0.0.1:0', 'http://127.0.0.1:0/RPC2'])
    try:
        m = manager(md)
        d = m.dict()
        dag = []
        for _ in range(40):                    # 2**40 paths, a few hundred bytes of pickle
            dag = [dag, dag]
        d['dag'] = dag
        base = rss_mib(md)
        proxy = xc.ServerProxy(md.http_url(), allow_none=True)
        result = {}

        def read():
            try:
                proxy.call(d._token.id, '__getitem__', ['dag'])
                result['r'] = 'no fault'
            except xc.Fault as f:
                result['r'] = f.faultString
            except Exception as e:               # noqa: BLE001 - reported below
                result['r'] = repr(e)

        import threading
        th = threading.Thread(target=read, daemon=True)
        t0 = time.monotonic()
        th.start()
        peak = watch_rss(md, 15, 1024, until=lambda: not th.is_alive())
        elapsed = time.monotonic() - t0
        t.ok('the DAG read fails with a clear fault (%r)' % result.get('r'),
             'too large' in str(result.get('r')))
        t.ok('and fast (%.2f s, RSS %.0f -> %.0f MiB)' % (elapsed, base, peak),
             elapsed < 10 and peak - base < 600)
        t.ok('other clients carry on', md.alive() and len(d) == 1)
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- point 15: long keys over HTTP -------------------------------------------

def case_http_longkey(t):
    key = (b'k' * 4095) + b'!'                 # the longest key file accepted
    md = start(['http://127.0.0.1:0/RPC2'], authkey=key)
    try:
        host, port = http_addr(md)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        body = xc.dumps((), 'system.listMethods').encode()
        conn.request('POST', '/RPC2', body, {'Content-Type': 'text/xml',
                                             'Authorization': basic(key, user='user')})
        r = conn.getresponse()
        data = r.read()
        t.ok('HTTP Basic with a 4096-byte key works (status %d)' % r.status,
             r.status == 200 and b'system.listMethods' in data)
        conn.request('POST', '/RPC2', body, {'Content-Type': 'text/xml',
                                             'Authorization': basic(key[:-1] + b'?')})
        r = conn.getresponse()
        r.read()
        t.eq('and a wrong 4096-byte key does not', r.status, 401)
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- point 17: an empty body ----------------------------------------------------

def case_http_empty_body(t):
    md = start(['http://127.0.0.1:0/RPC2'])
    try:
        host, port = http_addr(md)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request('POST', '/RPC2', b'', {'Content-Type': 'text/xml',
                                            'Authorization': basic(KEY)})
        r = conn.getresponse()
        data = r.read()
        try:
            xc.loads(data)
            fault = None
        except xc.Fault as f:
            fault = (f.faultCode, f.faultString)
        t.ok('an empty body gets a parse fault, not "out of memory" (%d %r)' % (r.status, fault),
             r.status == 200 and fault is not None and fault[0] == -32700 and
             'memory' not in fault[1])
    finally:
        for p in md.stop():
            t.ok(p, False)


# ---- memory of big values ---------------------------------------------------

def case_value_memory(t):
    """The server keeps the pages of values it freed for a second or two
    (md_val_slab_decay): refilling a cleared dict must not fault its
    memory in again, and the memory must still go back once unused."""
    md = start(['127.0.0.1:0'])
    try:
        m = manager(md)
        n, chunk = 200000, 10000
        chunks = [{'k%07d' % i: {'v': i} for i in range(b, b + chunk)}
                  for b in range(0, n, chunk)]
        d = m.dict()
        time.sleep(0.3)
        base = rss_mib(md)
        f0 = minor_faults(md)
        for c in chunks:
            d.update(c)
        t.ok('filled', len(d) == n)
        first = minor_faults(md) - f0
        time.sleep(0.3)                # the deferred trim of the fill's messages
        full = rss_mib(md)
        d.clear()
        f0 = minor_faults(md)
        for c in chunks:
            d.update(c)
        again = minor_faults(md) - f0
        ok_unsanitized(t, md, 'a cleared dict filled again reuses its pages (%d pages faulted in,'
                       ' %d the first time)' % (again, first), first > 5000 and again < first // 4,
                       'quarantines freed blocks and maps shadow pages')
        t.ok('and holds the same items', len(d) == n and d['k0123456'] == {'v': 123456})
        d.clear()
        deadline = time.monotonic() + 8
        after = rss_mib(md)
        # what may stay: MD_SLAB_SPARE_PAGES (8 MiB) of spare pages, and slack
        kept_mib = 8 + 4
        while after - base > kept_mib and time.monotonic() < deadline:
            time.sleep(0.25)
            after = rss_mib(md)
        ok_unsanitized(t, md, 'RSS falls back after the dict is cleared (%.0f MiB before, %.0f'
                       ' full, %.0f after)' % (base, full, after),
                       full - base > 2 * kept_mib and after - base <= kept_mib, 'keeps freed memory')
        t.ok('server alive', md.alive() and d.get('x', 1) == 1)
    finally:
        for p in md.stop():
            t.ok(p, False)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith('case_')}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print('usage: hardening.py %s' % '|'.join(sorted(CASES)))
        return 2
    t = xtest.Tally()
    fail_ok = t.ok

    def ok(name, cond, detail=''):
        if cond:
            print('ok: %s' % name)             # the figures, for the log
        return fail_ok(name, cond, detail)
    t.ok = ok
    try:
        CASES[sys.argv[1]](t)
    except xtest.TestFailure as e:
        t.ok(str(e), False)
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
