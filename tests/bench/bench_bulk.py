#!/usr/bin/env python3
"""bench_bulk.py - big values through a manager server: managerd, CPython's
own server and the do-nothing floor server side by side, with one stock
Python client (issue 10). A program that prints figures, not a test.

How to run (from the source tree, after ./dev build):

    make -C build/default bench
    python3 tests/bench/bench_bulk.py --managerd build/default/managerd [--skip-10m]

Operations, at 1k, 10k, 100k, 1M and 10M items (--sizes to choose;
--skip-10m drops 10M and says so):
  - d.update() of 'k%07d' -> i in chunks of 10,000; the same with small
    dict values {'v': i}; m.dict(big) created in one call;
  - d.copy(), d.items(), d.keys() of the filled dict; the floor cannot
    answer these (it replies None), so its column is the client's own
    pickle.loads of the same reply: what any server costs at least;
  - l.extend(ints), l[:], m.list(big); q.put()/q.get() of a 10 MB bytes
    payload (once, not per size; best of 10 each);
  - d[k] and k in d latency (median of 200 calls, the lowest of 10 rounds
    that take the four calls in turn; microseconds) on the big dict and on
    a one-item one, with the client and the server on one CPU (same_cpu).
Times are per item (ns), so a flat column means a cost flat in size; the
server RSS per stored item is printed for d.update(). Below 100,000 items
the fill rows store several dicts of n items (100,000 items in all) and
divide by the total, and the one-call rows take the best of as many calls
(the list rows: of at least 3 up to 1M items),
so that the small sizes are measured over as much work as the big ones. Every row says
managerd / CPython and managerd / floor.
"""
import argparse
import contextlib
import os
import pickle
import sys
import time
from multiprocessing.managers import SyncManager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib                                   # noqa: E402
from bench_server import SERVERS, Table, fmt     # noqa: E402,F401

SIZES = (1000, 10000, 100000, 1000000, 10000000)
CHUNK = 10000
# Below this many items a fill row stores several dicts of n items, this
# many items in all, and divides by their total: one dict of 1,000 items
# is a millisecond of work and a slab chunk of RSS, too little to time or
# weigh (its row used to swing 2x between runs).
FILL_ITEMS = 100000
LAT_ROUNDS = 10
# A 10 MB call is a few milliseconds, which another process on a shared
# 2-core machine doubles at will: best of 3 put the floor above managerd.
PAYLOAD_REPEAT = 10
RSS_SETTLE_S = 0.3
LAT_CALLS = 200
MAX_MESSAGE = 1 << 30   # and the floor's BENCH_MAX_FRAME


def log(msg):
    sys.stderr.write('[bulk %7.1fs] %s\n' % (time.monotonic() - T0, msg))
    sys.stderr.flush()


T0 = time.monotonic()


def timed(fn, repeat):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        t = time.perf_counter() - t
        best = t if best is None else min(best, t)
    return best


def median_us(fn, calls):
    vals = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn()
        vals.append(time.perf_counter_ns() - t)
    vals.sort()
    return vals[len(vals) // 2] / 1000.0


def latencies_us(fns, rounds=LAT_ROUNDS, calls=LAT_CALLS):
    """{name: microseconds} for each fn of fns: the median of `calls` calls,
    the lowest over `rounds` rounds that take the fns in turn. Measured
    one after the other, 2,000 calls each, the same call read 25 us or 80
    us depending on what the other helpers of the machine did meanwhile,
    which made a 10M-item dict look three times slower than a one-item
    one; in turns, every fn meets the same noise."""
    best = {}
    for _ in range(rounds):
        for name, fn in fns:
            us = median_us(fn, calls)
            best[name] = us if name not in best else min(best[name], us)
    return best


@contextlib.contextmanager
def same_cpu(pid):
    """The client and every thread of server pid on one CPU while the
    latency rows run. On this machine (a VM) a call whose reply wakes a
    process on the other CPU costs 55-80 us instead of 19-24, for
    CPython's server and managerd alike, and which CPU the scheduler
    picks depends on what ran before (after a big fill, usually the
    other one): unpinned, the rows measured the placement, not the
    server."""
    if not hasattr(os, 'sched_setaffinity'):
        yield
        return
    cpu = min(os.sched_getaffinity(0))
    tids = [int(t) for t in os.listdir('/proc/%d/task' % pid)] + [0]
    saved = {t: os.sched_getaffinity(t) for t in tids}
    try:
        for t in tids:
            os.sched_setaffinity(t, {cpu})
        yield
    finally:
        for t, cpus in saved.items():
            try:
                os.sched_setaffinity(t, cpus)
            except OSError:
                pass


class Bulk(object):
    def __init__(self, args):
        self.args = args
        self.authkey_text = 'managerd-bulk-' + os.urandom(8).hex()
        self.tmp = benchlib.tmpdir()
        self.tables = []

    def start(self, name):
        if name == 'managerd':
            # 10M-item values are messages of more than the default 64 MiB.
            return benchlib.start_managerd(self.args.managerd, self.authkey_text, self.tmp,
                                           extra=('--max-message', str(MAX_MESSAGE)))
        if name == 'CPython':
            return benchlib.start_cpython(self.args.python, self.authkey_text, self.tmp)
        return benchlib.start_floor(self.floor, self.authkey_text, self.tmp)

    def manager(self, server):
        m = SyncManager(address=server.tcp, authkey=self.authkey_text.encode())
        m.connect()
        return m

    def one_size(self, n):
        """{row: {server: ns per item}} for n items, plus RSS bytes/item."""
        keys = ['k%07d' % i for i in range(n)]
        big = dict(zip(keys, range(n)))
        chunks = [dict(zip(keys[b:b + CHUNK], range(b, min(b + CHUNK, n))))
                  for b in range(0, n, CHUNK)]
        dchunks = [{k: {'v': v} for k, v in c.items()} for c in chunks]
        ints = list(range(n))
        # Reads: best of enough calls to last a while (50 at 1k items,
        # 3 up to 1M, 1 at 10M); fills: `copies` dicts of n items.
        repeat = 1 if n > 1000000 else max(3, min(50, 50000 // n))
        copies = max(1, FILL_ITEMS // n)
        rows = {}

        def put(row, name, seconds):
            rows.setdefault(row, {})[name] = None if seconds is None else seconds * 1e9 / n

        # The client's own decoding of each reply: the floor of the read rows.
        loads = {
            'd.copy()': pickle.dumps(('#RETURN', big), 4),
            'd.items()': pickle.dumps(('#RETURN', list(big.items())), 4),
            'd.keys()': pickle.dumps(('#RETURN', keys), 4),
            'l[:]': pickle.dumps(('#RETURN', ints), 4),
        }
        for row, data in loads.items():
            put(row, 'floor', timed(lambda: pickle.loads(data), repeat))
        del loads
        for name in SERVERS:
            benchlib.check_interrupted()
            s = self.start(name)
            try:
                m = self.manager(s)
                d = m.dict()
                d['warm-up'] = 0
                del d['warm-up']
                more = [m.dict() for _ in range(copies - 1)]
                time.sleep(0.1)
                rss0 = s.rss()
                t = time.perf_counter()
                for dd in [d] + more:
                    for c in chunks:
                        dd.update(c)
                put('d.update(chunks) str->int', name, (time.perf_counter() - t) / copies)
                # RSS once the server is idle: managerd gives a message's
                # free memory back 100 ms after the last one (MD_TRIM_DELAY_MS).
                time.sleep(RSS_SETTLE_S)
                rows.setdefault('server RSS B/item', {})[name] = ((s.rss() - rss0) /
                                                                  float(n * copies))
                if name != 'floor':
                    for dd in more:
                        dd.clear()
                del more
                if name != 'floor':
                    got = len(d)
                    if got != n:
                        raise benchlib.BenchError('%s holds %d items, not %d' % (name, got, n))
                    put('d.copy()', name, timed(d.copy, repeat))
                    put('d.items()', name, timed(d.items, repeat))
                    put('d.keys()', name, timed(d.keys, repeat))
                    k = keys[n // 2]
                    e = m.dict()
                    e['x'] = 1
                    with same_cpu(s.pid):
                        lat = latencies_us([('d[k] us (big)', lambda: d[k]),
                                            ('d[k] us (1 item)', lambda: e['x']),
                                            ('k in d us (big)', lambda: d.__contains__(k)),
                                            ('k in d us (1 item)', lambda: e.__contains__('x'))])
                    for row, us in lat.items():
                        rows.setdefault(row, {})[name] = us
                    del e
                d.clear() if name != 'floor' else None
                del d
                d2s = [m.dict() for _ in range(copies)]
                time.sleep(RSS_SETTLE_S)
                rss0 = s.rss()
                t = time.perf_counter()
                for d2 in d2s:
                    for c in dchunks:
                        d2.update(c)
                put('d.update(chunks) str->dict', name, (time.perf_counter() - t) / copies)
                # After the str -> int dict was cleared: memory it left
                # resident (the slab's spare pages) is reused first.
                time.sleep(RSS_SETTLE_S)
                rows.setdefault('server RSS B/item str->dict', {})[name] = (
                    (s.rss() - rss0) / float(n * copies))
                del d2s, d2
                # One-call rows: best of `copies` calls (each result is
                # dropped before the next call).
                put('m.dict(big)', name, timed(lambda: m.dict(big), copies))
                # The list rows: best of `calls`, at least 3 up to 1M items.
                # One call of 1M ints is 15-30 ms, which the other
                # processes of a shared 2-core machine doubled at will
                # (the floor's own m.list(big) read 12 and 24 ns/item in
                # two runs), and the first big call of a server pays for
                # fresh pages (a 1M list's is 8 MB of pointers).
                calls = max(copies, repeat)
                lsts = [m.list() for _ in range(calls)]
                it = iter(lsts)
                put('l.extend(ints)', name, timed(lambda: next(it).extend(ints), calls))
                lst = lsts[0]
                del lsts, it
                if name != 'floor':
                    put('l[:]', name, timed(lambda: lst[:], repeat))
                del lst
                # create, the proxy's incref, temp()'s decref, and the
                # decref of the proxy dropped at once (each on a connection
                # of its own), which frees the list on a real server.
                put('m.list(big)', name, timed(lambda: m.list(ints), calls))
            except Exception as e:
                log('PROBLEM: %s at %d items: %r' % (name, n, e))
            finally:
                s.stop()
        return rows

    def payload(self):
        blob = os.urandom(10 * 1000 * 1000)
        rows = {}
        for name in SERVERS:
            s = self.start(name)
            try:
                m = self.manager(s)
                q = m.Queue()
                # Twice: on a fresh server every put is new memory, which
                # on this VM costs what the host charges for pages the
                # guest never touched (1-3x the call, varying from run to
                # run, for CPython's server as for managerd); the second
                # round reuses what the first round's gets freed.
                for when in ('fresh server', 'second round'):
                    rows.setdefault('q.put(10 MB) %s, ms' % when, {})[name] = (
                        timed(lambda: q.put(blob), PAYLOAD_REPEAT) * 1e3)
                    if name != 'floor':
                        rows.setdefault('q.get() 10 MB %s, ms' % when, {})[name] = (
                            timed(q.get, PAYLOAD_REPEAT) * 1e3)
            except Exception as e:
                log('PROBLEM: %s payload: %r' % (name, e))
            finally:
                s.stop()
        t = Table('10 MB bytes through a Queue (best of %d)' % PAYLOAD_REPEAT)
        for row, vals in rows.items():
            t.add(row, vals)
        return t

    def run(self, sizes):
        progs, where = benchlib.find_or_build_programs(self.args.bench_dir, self.args.managerd,
                                                      self.tmp, log)
        self.floor = progs['floor_server']
        print('# bulk values: managerd, CPython %s server, floor (%s)'
              % (sys.version.split()[0], where))
        if self.args.skip_10m:
            print('\n10M rows SKIPPED (--skip-10m)')
        per_size = {}
        for n in sizes:
            log('%d items' % n)
            with benchlib.deadline(1800, '%d items' % n):
                per_size[n] = self.one_size(n)
            t = Table('{:,} items: ns per item (latency rows: microseconds; '
                      'floor of the read rows: the client\'s pickle.loads)'.format(n))
            for row, vals in per_size[n].items():
                t.add(row, vals)
            self.tables.append(t)
            print(t.render())
            sys.stdout.flush()
        if not sizes:
            print(self.payload().render())
            return
        flat = Table('managerd across sizes: ns per item')
        flat.HEAD = ('what',) + tuple('{:,}'.format(n) for n in sizes)
        for row in per_size[sizes[0]]:
            flat.rows.append((row,) + tuple(fmt(per_size[n].get(row, {}).get('managerd'))
                                            for n in sizes))
        print(flat.render(flat.HEAD))
        t = self.payload()
        print(t.render())
        print('\ntotal %.0f s' % (time.monotonic() - T0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--managerd', required=True)
    ap.add_argument('--python', default=sys.executable,
                    help="interpreter for CPython's server (default: this one)")
    ap.add_argument('--bench-dir', help='where floor_server is (default: beside managerd)')
    ap.add_argument('--sizes', help='comma-separated item counts (default 1k..10M)')
    ap.add_argument('--payload-only', action='store_true',
                    help='only the 10 MB Queue rows (no sizes)')
    ap.add_argument('--skip-10m', action='store_true',
                    help='leave out the 10,000,000-item rows (small machines)')
    args = ap.parse_args()
    sizes = tuple(int(x) for x in args.sizes.split(',')) if args.sizes else SIZES
    if args.skip_10m:
        sizes = tuple(n for n in sizes if n < 10000000)
    if args.payload_only:
        sizes = ()
    benchlib.install_cleanup()
    try:
        Bulk(args).run(sizes)
    except KeyboardInterrupt:
        return 130
    finally:
        benchlib.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
