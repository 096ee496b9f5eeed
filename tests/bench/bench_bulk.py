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
    payload (once, not per size);
  - d[k] and k in d latency (median, microseconds) on the big dict and on
    an empty one.
Times are per item (ns), so a flat column means a cost flat in size; the
server RSS per stored item is printed for d.update(). Every row says
managerd / CPython and managerd / floor.
"""
import argparse
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
        repeat = max(1, min(5, 100000 // n))
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
                time.sleep(0.1)
                rss0 = s.rss()
                t = time.perf_counter()
                for c in chunks:
                    d.update(c)
                put('d.update(chunks) str->int', name, time.perf_counter() - t)
                rows.setdefault('server RSS B/item', {})[name] = (s.rss() - rss0) / float(n)
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
                    lat_calls = 2000
                    rows.setdefault('d[k] us (big)', {})[name] = median_us(lambda: d[k], lat_calls)
                    rows.setdefault('d[k] us (1 item)', {})[name] = median_us(lambda: e['x'],
                                                                                lat_calls)
                    rows.setdefault('k in d us (big)', {})[name] = median_us(
                        lambda: d.__contains__(k), lat_calls)
                    del e
                d.clear() if name != 'floor' else None
                del d
                d2 = m.dict()
                t = time.perf_counter()
                for c in dchunks:
                    d2.update(c)
                put('d.update(chunks) str->dict', name, time.perf_counter() - t)
                del d2
                put('m.dict(big)', name, timed(lambda: m.dict(big), 1))
                lst = m.list()
                put('l.extend(ints)', name, timed(lambda: lst.extend(ints), 1))
                if name != 'floor':
                    put('l[:]', name, timed(lambda: lst[:], repeat))
                del lst
                put('m.list(big)', name, timed(lambda: m.list(ints), 1))
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
                rows.setdefault('q.put(10 MB), ms', {})[name] = timed(lambda: q.put(blob), 3) * 1e3
                if name != 'floor':
                    for _ in range(2):
                        q.put(blob)
                    rows.setdefault('q.get() 10 MB, ms', {})[name] = timed(q.get, 3) * 1e3
            except Exception as e:
                log('PROBLEM: %s payload: %r' % (name, e))
            finally:
                s.stop()
        t = Table('10 MB bytes through a Queue (best of 3)')
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
    ap.add_argument('--skip-10m', action='store_true',
                    help='leave out the 10,000,000-item rows (small machines)')
    args = ap.parse_args()
    sizes = tuple(int(x) for x in args.sizes.split(',')) if args.sizes else SIZES
    if args.skip_10m:
        sizes = tuple(n for n in sizes if n < 10000000)
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
