#!/usr/bin/env python3
"""soak - a mixed load for a fixed time: well-behaved Python clients next
to hostile clients of every kind issue 8 names, against one managerd on
loopback. Prints the server's RSS every few seconds and, at the end, the
well-behaved clients' call latency (p50, p99, max). A program, not a test:
it never fails on figures.

    top_builddir=BUILD python3 tests/bench/soak.py [--seconds 60]
        [--hostile 1000] [--good 8] [--kinds all|k1,k2...]
        [--huge-items 1000000] [--max-message BYTES]

Hostile kinds (each --hostile connections, from its own process):
  http-preauth   HTTP requests announcing 60 MiB bodies with a wrong password
  http-slow      HTTP requests that send a few header bytes and stall
  idle           pickle connections that never answer the challenge
  bad-key        handshakes with a wrong key, over and over
  no-read        authenticated clients asking for 1 MiB replies, never reading
  pipeline       authenticated clients pipelining __repr__ calls (and reading)
  dag            XML-RPC reads of a shared-reference DAG (a billion laughs)
  huge           one client sending a dict.update of --huge-items ints
                 (1,000,000: a 10 MB pickle) every 2 s; README's
                 "Large requests and latency" says what it costs the others
Well-behaved clients call __len__, get and append on shared objects with
a 10 ms pause, each from its own process, and time every call.
"""
import argparse
import base64
import multiprocessing
import os
import pickle
import resource
import select
import socket
import struct
import sys
import time
import xmlrpc.client as xc
from multiprocessing.connection import Client
from multiprocessing.managers import SyncManager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'xmlrpc'))
import xtest                                    # noqa: E402
from xtest import KEY                           # noqa: E402

KINDS = ['http-preauth', 'http-slow', 'idle', 'bad-key', 'no-read', 'pipeline', 'dag', 'huge']


def manager(addr):
    m = SyncManager(address=addr, authkey=KEY)
    m.connect()
    return m


def long_conn(addr):
    c = Client(addr, authkey=KEY)
    c.send((None, 'accept_connection', ('soak',), {}))
    c.recv()
    s = socket.socket(fileno=os.dup(c.fileno()))
    s.setblocking(False)
    c.close()
    return s


def connect_many(addr, n, first=b''):
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(addr, timeout=2)
            if first:
                s.sendall(first)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    return socks


def frame(obj):
    data = pickle.dumps(obj, protocol=2)
    return struct.pack('!i', len(data)) + data


# ---- hostile clients (each runs in its own process until `end`) -------------

def hold(socks, end, refill, send=b'', read=True):
    """Keep socks open until end: read (and drop) what comes, write `send`
    while the socket takes it, replace closed ones with refill(). poll(),
    not select(): there are more than 1024 descriptors."""
    out = {s.fileno(): [s, send] for s in socks}
    poller = select.poll()
    for fd, (s, data) in out.items():
        poller.register(fd, (select.POLLIN if read else 0) | (select.POLLOUT if data else 0))
    while time.monotonic() < end and out:
        for fd, ev in poller.poll(200):
            if fd not in out:
                continue
            s, data = out[fd]
            closed = bool(ev & (select.POLLHUP | select.POLLERR))
            if ev & select.POLLIN:
                try:
                    closed = not s.recv(1 << 16)
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            if not closed and ev & select.POLLOUT and data:
                try:
                    k = s.send(data)
                    out[fd][1] = data[k:] or send
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            if closed:
                poller.unregister(fd)
                del out[fd]
                s.close()
                for n in refill(1):
                    out[n.fileno()] = [n, send]
                    poller.register(n.fileno(), (select.POLLIN if read else 0) |
                                    (select.POLLOUT if send else 0))


def hostile(kind, n, env, end):
    tcp, http, ids = env['tcp'], env['http'], env['ids']
    if kind == 'http-preauth':
        bad = base64.b64encode(b'u:wrong').decode()
        head = ('POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                'Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n' % (bad, 60 << 20)).encode()
        hold(connect_many(http, n, head), end, lambda k: connect_many(http, k, head), b'<' * 65536)
    elif kind == 'http-slow':
        head = b'POST /RPC2 HTTP/1.1\r\nHost: x\r\n'
        hold(connect_many(http, n, head), end, lambda k: connect_many(http, k, head))
    elif kind == 'idle':
        hold(connect_many(tcp, n), end, lambda k: connect_many(tcp, k))
    elif kind == 'bad-key':
        while time.monotonic() < end:
            try:
                Client(tcp, authkey=b'wrong key').close()
            except Exception:                   # noqa: BLE001 - refused, as it should be
                pass
    elif kind == 'no-read':
        req = frame((ids['big'], '__getitem__', (slice(None),), {})) * 64
        hold([long_conn(tcp) for _ in range(n)], end, lambda k: [], req, read=False)
    elif kind == 'pipeline':
        req = frame((ids['list'], '__repr__', (), {})) * 200
        hold([long_conn(tcp) for _ in range(n)], end, lambda k: [], req)
    elif kind == 'dag':
        url = 'http://u:%s@%s:%d/RPC2' % (KEY.decode(), http[0], http[1])
        proxy = xc.ServerProxy(url)
        while time.monotonic() < end:
            try:
                proxy.call(ids['dict'], '__getitem__', ['dag'])
            except Exception:                   # noqa: BLE001 - the expected fault
                pass
    elif kind == 'huge':
        payload = {i: i for i in range(env['huge_items'])}
        while time.monotonic() < end:
            try:                                # refused past --max-message:
                m = manager(tcp)                # the connection is closed,
                d = m.dict()                    # so come back as a new client
                while time.monotonic() < end:
                    d.update(payload)
                    d.clear()
                    time.sleep(2)
            except (OSError, EOFError):
                time.sleep(2)


# ---- well-behaved clients ------------------------------------------------------

def good(addr, ids, end, results):
    m = manager(addr)
    lst = m.list([1, 2, 3])
    d = m.dict({'k': 'v'})
    lat = []
    i = 0
    while time.monotonic() < end:
        t0 = time.perf_counter()
        if i % 3 == 0:
            lst.__len__()
        elif i % 3 == 1:
            d.get('k')
        else:
            lst.append(i)
            lst.pop()
        lat.append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.01)
    results.put(lat)


def rss_mib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return 0.0


def pct(sorted_values, p):
    if not sorted_values:
        return float('nan')
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--hostile', type=int, default=1000, help='connections per hostile kind')
    ap.add_argument('--good', type=int, default=8)
    ap.add_argument('--kinds', default='all')
    ap.add_argument('--huge-items', type=int, default=1000000)
    ap.add_argument('--max-message', help="the server's --max-message")
    opts = ap.parse_args()
    kinds = KINDS if opts.kinds == 'all' else opts.kinds.split(',')
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args = ['--log-level', 'warning']
    if opts.max_message:
        args += ['--max-message', opts.max_message]
    md = xtest.Managerd(['127.0.0.1:0', 'http://127.0.0.1:0/RPC2'], args=args)
    md.start()
    try:
        tcp = md.tcp(0)
        http = xtest.host_port([a for a in md.addresses if a.startswith('http://')][0])
        owner = manager(tcp)
        big = owner.list()                      # 1 MiB in 8 parts: each request
        for i in range(8):                      # stays under a small --max-message
            big.append(bytes([65 + i]) * (1 << 17))
        lst = owner.list(list(range(3000)))
        d = owner.dict()
        dag = []
        for _ in range(40):
            dag = [dag, dag]
        d['dag'] = dag
        env = {'tcp': tcp, 'http': http, 'huge_items': opts.huge_items,
               'ids': {'big': big._token.id, 'list': lst._token.id, 'dict': d._token.id}}
        end = time.monotonic() + opts.seconds
        procs = [multiprocessing.Process(target=hostile, args=(k, opts.hostile, env, end), daemon=True)
                 for k in kinds]
        for p in procs:
            p.start()
        time.sleep(min(5, opts.seconds / 4))   # let the hostile load build up
        results = multiprocessing.Queue()
        goods = [multiprocessing.Process(target=good, args=(tcp, env['ids'], end, results), daemon=True)
                 for _ in range(opts.good)]
        for p in goods:
            p.start()
        print('kinds: %s; %d hostile connections per kind; %d well-behaved clients; %.0f s'
              % (','.join(kinds), opts.hostile, opts.good, opts.seconds))
        print('%6s  %9s' % ('t (s)', 'RSS (MiB)'))
        t0 = time.monotonic()
        peak = 0.0
        while time.monotonic() < end and md.alive():
            r = rss_mib(md.proc.pid)
            peak = max(peak, r)
            print('%6.0f  %9.1f' % (time.monotonic() - t0, r))
            sys.stdout.flush()
            time.sleep(min(5, max(0.5, end - time.monotonic())))
        lat = []
        for _ in goods:
            try:
                lat += results.get(timeout=30)
            except Exception:                   # noqa: BLE001 - a client that hung
                print('a well-behaved client reported nothing')
        lat.sort()
        print('well-behaved calls: %d; p50 %.2f ms, p99 %.2f ms, max %.2f ms; peak RSS %.1f MiB'
              % (len(lat), 1000 * pct(lat, 0.5), 1000 * pct(lat, 0.99),
                 1000 * (lat[-1] if lat else float('nan')), peak))
        for p in procs + goods:
            p.join(10)
            if p.is_alive():
                p.terminate()
    finally:
        problems = md.stop()
        for p in problems:
            print(p)


if __name__ == '__main__':
    main()
