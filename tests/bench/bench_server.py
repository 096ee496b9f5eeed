#!/usr/bin/env python3
"""bench_server.py - managerd next to CPython's own manager server and a
do-nothing floor server, driven by the same stock Python client.

usage: python3 tests/bench/bench_server.py --managerd PATH [--quick]
           [--python PYTHON] [--bench-dir DIR] [--only SECTION,...]

It prints figures; it is not a test and never fails on time. Every section
is bounded in time (--quick: about a minute in all; default: a few
minutes), and every process and temporary file it makes is removed at the
end, on Ctrl-C and on SIGTERM. See README.md beside this file for what each
figure means.

Sections (--only takes a comma-separated subset):
  latency     single-call latency on the long connection
  proxy       proxy creation (m.dict()) over TCP and over a Unix socket
  throughput  calls/s with 1, 4, 16 and 64 client processes
  loadgen     C load generator vs the pingpong floor, 1/16/256 connections
  items       server RSS per dict item, 1,000,000 items
  idle        server RSS per idle long connection
"""
import argparse
import gc
import json
import os
import platform
import select
import subprocess
import sys
import time
from multiprocessing.managers import SyncManager

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_worker  # noqa: E402
import benchlib  # noqa: E402
from benchlib import BenchError  # noqa: E402

SERVERS = ('managerd', 'CPython', 'floor')
SECTIONS = ('latency', 'proxy', 'throughput', 'loadgen', 'items', 'idle')

MODES = {
    # latency calls per op and server; proxy creation budget (s) and cap;
    # throughput window (s); loadgen/pingpong window (s); dict items; idle
    # connections; runs of throughput and loadgen taking turns (best kept).
    'quick': dict(lat_calls=2000, proxy_seconds=0.5, proxy_cap=2000, tput_seconds=1.0,
                  loadgen_seconds=1.0, items=1000000, idle=1000, repeats=1),
    'default': dict(lat_calls=10000, proxy_seconds=3.0, proxy_cap=10000, tput_seconds=3.0,
                    loadgen_seconds=2.0, items=1000000, idle=5000, repeats=3),
}
CLIENT_COUNTS = (1, 4, 16, 64)
LOADGEN_CONNS = (1, 16, 256)


def log(msg):
    sys.stderr.write('[bench %7.1fs] %s\n' % (time.monotonic() - T_START, msg))
    sys.stderr.flush()


T_START = time.monotonic()


def load_average():
    """The 1/5/15-minute load: figures taken on a busy machine are noisy."""
    try:
        with open('/proc/loadavg') as f:
            return ' '.join(f.read().split()[:3])
    except OSError:
        return '?'


# ---- tables -------------------------------------------------------------------

def fmt(v):
    if v is None:
        return 'error'
    if isinstance(v, str):
        return v
    if v == 0:
        return '0'
    if abs(v) >= 100:
        return '{:,.0f}'.format(v)
    if abs(v) >= 10:
        return '%.1f' % v
    return '%.3g' % v


def ratio(a, b):
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) or b <= 0:
        return None
    return a / b


class Table(object):
    """Rows of 'what | managerd | CPython | floor | managerd/CPython |
    managerd/floor | aim'."""

    HEAD = ('what', 'managerd', 'CPython', 'floor', 'managerd/CPython', 'managerd/floor', 'aim')

    def __init__(self, title):
        self.title = title
        self.rows = []

    def add(self, what, values, aim='', check=None):
        """values: {server: number or None}; check(values) -> bool or None."""
        m, c, f = (values.get(s) for s in SERVERS)
        rc, rf = ratio(m, c), ratio(m, f)
        verdict = ''
        if check is not None:
            try:
                ok = check(m, c, f)
            except TypeError:
                ok = None
            verdict = ' (met)' if ok else (' (MISSED)' if ok is False else ' (n/a)')
        self.rows.append((what, fmt(m), fmt(c), fmt(f),
                          '-' if rc is None else '%.3gx' % rc,
                          '-' if rf is None else '%.3gx' % rf,
                          aim + verdict if aim else ''))

    def render(self, head=None):
        head = head or self.HEAD
        rows = [head] + self.rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        out = ['', '## ' + self.title, '']
        for k, r in enumerate(rows):
            cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, len(r) - 1)]
            cells.append(r[-1].ljust(widths[-1]))
            out.append('| ' + ' | '.join(cells) + ' |')
            if k == 0:
                out.append('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
        return '\n'.join(out)


class LoadTable(Table):
    HEAD = ('what', 'managerd', 'CPython', 'floor', 'pingpong', 'managerd/pingpong', 'aim')

    def add_load(self, what, m, c, f, p, aim, check):
        r = ratio(m, p)
        ok = check(r) if r is not None else None
        verdict = ' (met)' if ok else (' (MISSED)' if ok is False else ' (n/a)')
        self.rows.append((what, fmt(m), fmt(c), fmt(f), fmt(p),
                          '-' if r is None else '%.3gx' % r, aim + verdict))

    def render(self, head=None):
        return Table.render(self, self.HEAD)


# ---- the benchmark run ----------------------------------------------------------

class Bench(object):
    def __init__(self, args):
        self.args = args
        self.mode = MODES['quick' if args.quick else 'default']
        self.authkey_text = 'managerd-bench-' + os.urandom(8).hex()
        self.authkey = self.authkey_text.encode()
        self.tmp = benchlib.tmpdir()
        self.tables = []
        self.problems = []
        self.servers = {}
        self.unix_servers = {}

    # -- servers --

    def start_one(self, name, tcp_only=False, tag=''):
        sock = None if tcp_only else os.path.join(self.tmp, '%s%s.sock' % (name, tag))
        if name == 'managerd':
            return benchlib.start_managerd(self.args.managerd, self.authkey_text, self.tmp, sock)
        if name == 'CPython':
            return benchlib.start_cpython(self.args.python, self.authkey_text, self.tmp)
        return benchlib.start_floor(self.progs['floor_server'], self.authkey_text, self.tmp, sock)

    def start_main_servers(self):
        for name in SERVERS:
            self.servers[name] = self.start_one(name)
        # CPython's server listens on one address: a second one for Unix.
        self.unix_servers = {
            'managerd': self.servers['managerd'],
            'CPython': benchlib.start_cpython(self.args.python, self.authkey_text, self.tmp,
                                              os.path.join(self.tmp, 'cpython.sock')),
            'floor': self.servers['floor'],
        }
        for name, s in self.servers.items():
            log('%s: pid %d, %s' % (name, s.pid, ', '.join(map(repr, s.addresses))))

    def check_alive(self, section):
        benchlib.check_interrupted()
        for name, s in list(self.servers.items()) + [('CPython unix', self.unix_servers.get('CPython'))]:
            if s is not None and not s.alive():
                self.problem('%s exited (status %s) during %s; see %s'
                             % (name, s.proc.returncode, section, s.log))
                if name in self.servers:
                    self.servers[name] = self.start_one(name)
                    if name != 'CPython':
                        self.unix_servers[name] = self.servers[name]
                else:
                    self.unix_servers['CPython'] = benchlib.start_cpython(
                        self.args.python, self.authkey_text, self.tmp,
                        os.path.join(self.tmp, 'cpython2.sock'))

    def problem(self, text):
        benchlib.check_interrupted()
        log('PROBLEM: ' + text)
        self.problems.append(text)

    def manager(self, address):
        m = SyncManager(address=address, authkey=self.authkey)
        m.connect()
        return m

    def emit(self, table):
        self.tables.append(table)
        print(table.render())
        sys.stdout.flush()

    # -- latency --

    def latency(self):
        n = self.mode['lat_calls']
        rounds = 5
        per_round = max(1, n // rounds)
        ops = ('dict set', 'dict get', 'queue put', 'queue get', 'lock acquire+release')
        clients = {}
        for name in SERVERS:
            try:
                m = self.manager(self.servers[name].tcp)
                d, q, lock = m.dict(), m.Queue(), m.Lock()
                clients[name] = {
                    'dict set': lambda d=d: d.__setitem__('k', 1),
                    'dict get': lambda d=d: d['k'],
                    'queue put': lambda q=q: q.put(1),
                    'queue get': lambda q=q: q.get(),
                    'lock acquire+release': lambda lock=lock: (lock.acquire(), lock.release()),
                    '_keep': (m, d, q, lock),
                }
                for op in ops:                  # warm-up; puts and gets balance
                    for _ in range(100):
                        clients[name][op]()
            except Exception as e:
                self.problem('latency: %s: %r' % (name, e))
        samples = {(s, op): [] for s in clients for op in ops}
        pc = time.perf_counter_ns
        gc.disable()
        try:
            for _ in range(rounds):
                for name in clients:
                    for op in ops:
                        fn = clients[name][op]
                        out = samples[(name, op)]
                        try:
                            for _ in range(per_round):
                                t = pc()
                                fn()
                                out.append(pc() - t)
                        except Exception as e:
                            self.problem('latency: %s %s: %r' % (name, op, e))
                            break
        finally:
            gc.enable()
        t = Table('single-call latency on the long connection, microseconds '
                  '(%d calls per op and server, TCP loopback)' % (per_round * rounds))

        def pct(values, p):
            if len(values) < per_round * rounds:
                return None
            v = sorted(values)
            return v[min(len(v) - 1, int(len(v) * p))] / 1000.0

        for op in ops:
            for label, p in (('median', 0.5), ('p99', 0.99)):
                vals = {s: pct(samples.get((s, op), []), p) for s in SERVERS}
                t.add('%s, %s us' % (op, label), vals, 'managerd <= 1.1x floor',
                      lambda m, c, f: m <= 1.1 * f)
        clients.clear()
        self.emit(t)

    # -- proxy creation --

    PROXY_ROUNDS = 5

    def proxy(self):
        """Rounds that take turns between the servers, so that a burst of
        load from elsewhere on the machine lands on all three alike."""
        t = Table('proxy creation, m.dict() (create + incref + decref: three '
                  'short connections each; %d rounds taking turns)' % self.PROXY_ROUNDS)
        slice_s = self.mode['proxy_seconds'] / self.PROXY_ROUNDS
        cap = max(1, self.mode['proxy_cap'] // self.PROXY_ROUNDS)
        for transport, table in (('TCP', self.servers), ('Unix socket', self.unix_servers)):
            managers, made, spent = {}, {}, {}
            for name in SERVERS:
                addr = table[name].tcp if transport == 'TCP' else table[name].unix
                try:
                    managers[name] = self.manager(addr)
                    made[name], spent[name] = [], 0.0
                except Exception as e:
                    self.problem('proxy creation over %s: %s: %r' % (transport, name, e))
            for _ in range(self.PROXY_ROUNDS):
                for name in list(managers):
                    m, proxies = managers[name], made[name]
                    try:
                        start = len(proxies)
                        t0 = time.perf_counter()
                        while True:
                            proxies.append(m.dict())
                            now = time.perf_counter()
                            if len(proxies) - start >= cap or now - t0 >= slice_s:
                                break
                        spent[name] += now - t0
                    except Exception as e:
                        self.problem('proxy creation over %s: %s: %r' % (transport, name, e))
                        del managers[name]
            rates = {n: len(made[n]) / spent[n] for n in managers if spent[n] > 0}
            ms = {n: spent[n] / len(made[n]) * 1000.0 for n in managers if made[n]}
            log('proxy %s: proxies made %s' % (transport, {n: len(p) for n, p in made.items()}))
            made.clear()        # decref each, outside the timed windows
            aim, check = '', None
            if transport == 'TCP':
                aim, check = 'managerd >= 100x CPython', lambda m, c, f: m >= 100 * c
            t.add('m.dict() over %s, proxies/s' % transport, rates, aim, check)
            aim, check = '', None
            if transport == 'TCP':
                aim, check = 'managerd <= CPython/100', lambda m, c, f: m * 100 <= c
            t.add('m.dict() over %s, ms each' % transport, ms, aim, check)
        self.emit(t)

    # -- throughput --

    def throughput(self):
        seconds = self.mode['tput_seconds']
        workers = self.workers
        self.ask(workers, {'cmd': 'ping'}, 120)
        rounds = self.mode['repeats']
        t = Table('aggregate throughput, calls/s (each client process: d[k] = i; d[k] '
                  'in a loop for %.1f s, all started together, TCP; runs taking turns: %d, '
                  'best kept)' % (seconds, rounds))
        try:
            for count in CLIENT_COUNTS:
                vals = {}
                for _ in range(rounds):
                    for name in SERVERS:
                        try:
                            v = self.run_workers(workers[:count], self.servers[name].tcp,
                                                 seconds)
                            vals[name] = max(v, vals.get(name, 0))
                        except Exception as e:
                            self.problem('throughput with %d clients: %s: %r' % (count, name, e))
                        self.check_alive('throughput')
                aim, check = '', None
                if count == 16:
                    aim, check = 'managerd >= 3x CPython', lambda m, c, f: m >= 3 * c
                    ceiling = ratio(vals.get('floor'), vals.get('CPython'))
                    if ceiling is not None:
                        # The clients share the CPUs with the server: what
                        # the floor reaches bounds what any server can show.
                        aim += ' [reachable here: floor/CPython = %.3gx]' % ceiling
                t.add('%d client%s, calls/s' % (count, '' if count == 1 else 's'), vals,
                      aim, check)
                log('throughput %d clients: %s' % (count, {k: int(v) for k, v in vals.items()}))
        finally:
            for w in workers:
                try:
                    w.stdin.write(b'{"cmd": "quit"}\n')
                    w.stdin.flush()
                except OSError:
                    pass
            for w in workers:
                try:
                    w.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                benchlib.stop(w)
        self.emit(t)

    @staticmethod
    def ask(workers, cmd, timeout):
        line = (json.dumps(cmd) + '\n').encode()
        for w in workers:
            w.stdin.write(line)
            w.stdin.flush()
        answers = []
        deadline = time.monotonic() + timeout
        for w in workers:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([w.stdout], [], [], max(0.0, left))
            if not ready:
                raise BenchError('a worker did not answer %s within %.0f s' % (cmd['cmd'], timeout))
            text = w.stdout.readline()
            if not text:
                raise BenchError('a worker died during %s' % cmd['cmd'])
            answers.append(json.loads(text))
        return answers

    def run_workers(self, workers, address, seconds):
        self.ask(workers, {'cmd': 'prepare', 'address': list(address)}, 60)
        try:
            start = time.monotonic() + 0.3
            res = self.ask(workers, {'cmd': 'run', 'start': start, 'seconds': seconds},
                           seconds + 30)
        finally:
            self.ask(workers, {'cmd': 'release'}, 60)
        calls = sum(r['calls'] for r in res)
        window = max(r['elapsed'] for r in res)
        return calls / window

    # -- loadgen vs pingpong --

    def loadgen(self):
        seconds = self.mode['loadgen_seconds']
        env = benchlib.server_env(self.authkey_text)
        rounds = self.mode['repeats']
        t = LoadTable('C load generator (loadgen: d[k] on N long connections, one epoll loop) '
                      'vs the loopback floor (pingpong: frames of the same sizes), calls/s, '
                      'TCP, %.1f s runs; runs taking turns: %d, best kept' % (seconds, rounds))
        sizes = None
        for conns in LOADGEN_CONNS:
            vals = {}
            pp = None
            for _ in range(rounds):
                for name in SERVERS:
                    argv = [self.progs['loadgen'], '--connect',
                            benchlib.c_address(self.servers[name].tcp), '--conns', str(conns),
                            '--seconds', str(seconds)]
                    try:
                        r = benchlib.run_c(argv, env, seconds + 60)
                        vals[name] = max(r['calls_per_s'], vals.get(name, 0))
                        if name == 'managerd':
                            sizes = (int(r['request_bytes']), int(r['reply_bytes']))
                    except Exception as e:
                        self.problem('loadgen %d conns: %s: %s' % (conns, name, e))
                self.check_alive('loadgen')
                if not sizes:
                    continue
                try:
                    r = benchlib.run_c([self.progs['pingpong'], '--conns', str(conns),
                                        '--seconds', str(seconds), '--request-bytes',
                                        str(sizes[0]), '--reply-bytes', str(sizes[1])],
                                       env, seconds + 60)
                    pp = max(r['messages_per_s'], pp or 0)
                except Exception as e:
                    self.problem('pingpong %d conns: %s' % (conns, e))
            t.add_load('%d connection%s, calls/s' % (conns, '' if conns == 1 else 's'),
                       vals.get('managerd'), vals.get('CPython'), vals.get('floor'), pp,
                       'managerd >= 0.7x pingpong', lambda r: r >= 0.7)
        if sizes:
            t.title += ('; request %d + 4 bytes, managerd reply %d + 4 bytes'
                        % (sizes[0], sizes[1]))
        self.emit(t)

    # -- memory --

    def fresh_servers(self):
        out = {}
        for name in SERVERS:
            try:
                out[name] = self.start_one(name, tcp_only=True)
            except Exception as e:
                self.problem('starting a fresh %s: %s' % (name, e))
        time.sleep(0.3)
        return out

    def items(self):
        nitems = self.mode['items']
        chunk = 10000
        chunks = [{'k%07d' % i: i for i in range(base, min(base + chunk, nitems))}
                  for base in range(0, nitems, chunk)]
        servers = self.fresh_servers()
        vals, growth, seconds = {}, {}, {}
        try:
            for name, s in servers.items():
                try:
                    m = self.manager(s.tcp)
                    d = m.dict()
                    d['warm-up'] = 0
                    del d['warm-up']
                    time.sleep(0.2)
                    before = s.rss()
                    t0 = time.perf_counter()
                    for c in chunks:
                        d.update(c)
                    seconds[name] = time.perf_counter() - t0
                    after = s.rss()
                    if name != 'floor':
                        n = len(d)
                        if n != nitems:
                            self.problem('items: %s holds %d items, not %d' % (name, n, nitems))
                    vals[name] = (after - before) / float(nitems)
                    growth[name] = (after - before) / 1048576.0
                    del d, m
                except Exception as e:
                    self.problem('items: %s: %r' % (name, e))
        finally:
            for s in servers.values():
                s.stop()
        t = Table('server memory for %s small dict items (key \'k%%07d\' -> int, '
                  'd.update() in chunks of %d; VmRSS after minus before)'
                  % ('{:,}'.format(nitems), chunk))
        t.add('bytes per dict item', vals, 'managerd <= 64 B', lambda m, c, f: m <= 64)
        t.add('RSS growth, MiB', growth)
        t.add('time to store them, s', seconds)
        self.emit(t)

    def idle(self):
        count = self.mode['idle']
        benchlib.raise_nofile(count + 1000)
        servers = self.fresh_servers()
        vals, opened = {}, {}
        try:
            for name, s in servers.items():
                socks = []
                try:
                    before = s.rss()
                    t0 = time.perf_counter()
                    socks = benchlib.open_idle_connections(s.tcp, self.authkey, count)
                    opened[name] = time.perf_counter() - t0
                    time.sleep(0.5)
                    after = s.rss()
                    vals[name] = (after - before) / float(count)
                except Exception as e:
                    self.problem('idle connections: %s: %r' % (name, e))
                finally:
                    benchlib.close_all(socks)
        finally:
            for s in servers.values():
                s.stop()
        t = Table('server memory for %s idle long connections (handshake + '
                  'accept_connection, then nothing; VmRSS after minus before)'
                  % '{:,}'.format(count))
        t.add('bytes per idle connection', vals, 'managerd <= 8 KiB',
              lambda m, c, f: m <= 8192)
        t.add('time to open them all, s', opened)
        self.emit(t)

    # -- driver --

    def run(self, sections):
        self.progs, where = benchlib.find_or_build_programs(self.args.bench_dir,
                                                            self.args.managerd, self.tmp, log)
        print('# managerd benchmarks (%s mode)' % ('quick' if self.args.quick else 'default'))
        print()
        print('- managerd: %s' % os.path.abspath(self.args.managerd))
        print('- client and CPython server: Python %s (%s)'
              % (platform.python_version(), self.args.python))
        print('- floor, loadgen, pingpong: %s' % where)
        print('- machine: %s, %d CPUs, %s' % (platform.node(), os.cpu_count() or 0,
                                             platform.release()))
        print('- date: %s; load average at the start: %s'
              % (time.strftime('%Y-%m-%d %H:%M:%S'), load_average()))
        sys.stdout.flush()
        if 'throughput' in sections:
            # Forked now, before any thread or connection exists.
            key = self.authkey
            self.workers = benchlib.fork_workers(
                max(CLIENT_COUNTS), lambda inp, out: bench_worker.serve(inp, out, key))
        self.start_main_servers()
        limit = 180 if self.args.quick else 900
        for section in sections:
            log('section %s' % section)
            try:
                with benchlib.deadline(limit, section):
                    getattr(self, section)()
            except (BenchError, OSError) as e:
                self.problem('%s: %s' % (section, e))
            self.check_alive(section)
        print()
        print('# summary (every table again, for the notes)')
        for t in self.tables:
            print(t.render())
        print()
        print('## problems seen')
        print()
        for p in self.problems or ['none']:
            print('- ' + p)
        print()
        print('total time: %.0f s; load average at the end: %s'
              % (time.monotonic() - T_START, load_average()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--managerd', required=True, help='the managerd program to measure')
    ap.add_argument('--quick', action='store_true', help='about a minute in all')
    ap.add_argument('--python', default=sys.executable,
                    help='interpreter for CPython\'s server (the client processes are forked '
                         'from this one; default: this one)')
    ap.add_argument('--bench-dir', help='where floor_server, loadgen and pingpong are '
                    '(default: tests/bench beside managerd, else built with cc)')
    ap.add_argument('--only', help='comma-separated sections: ' + ','.join(SECTIONS))
    args = ap.parse_args()
    sections = SECTIONS
    if args.only:
        sections = tuple(s.strip() for s in args.only.split(',') if s.strip())
        bad = [s for s in sections if s not in SECTIONS]
        if bad:
            ap.error('unknown section(s): %s' % ', '.join(bad))
    if not os.access(args.managerd, os.X_OK):
        ap.error('%s is not an executable' % args.managerd)
    benchlib.install_cleanup()
    benchlib.raise_nofile(8192)
    bench = Bench(args)
    try:
        bench.run(sections)
    except KeyboardInterrupt:
        sys.stderr.write('\ninterrupted; cleaning up\n')
        return 130
    finally:
        benchlib.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
