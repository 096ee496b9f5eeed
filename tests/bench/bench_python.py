#!/usr/bin/env python3
"""bench_python.py - multiprocessing.Manager() beside managerd.Manager().

    python3 tests/bench/bench_python.py [--managerd PATH] [--repeat N] [--quick]

1. Start-up: the time Manager() takes to return a started manager (median
   of --repeat runs), for CPython's Manager() under the fork and the spawn
   start methods and for managerd.Manager(); shutdown() times beside it.
2. A small workload of typical calls, on each manager:
   - dict: 2,000 d[k] = v then 2,000 d[k] from the main process;
   - queue: 4 worker processes each doing 500 q.put(i); q.get() on one
     Queue (started first, then released together: process start-up is
     not timed);
   - proxies: 1,000 m.dict() created (and dropped).
Prints seconds and the ratio CPython / managerd (above 1: managerd is
faster).  Aims: start-up no slower than CPython's Manager(), the workload
at least 3x faster.  A benchmark, not a test: it never fails on time.
The package is taken from clients/python of this tree unless importable;
managerd from --managerd, else MANAGERD, else PATH.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, 'clients', 'python'))
import managerd  # noqa: E402

WORKERS = 4


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def cpython_manager(method):
    return lambda: mp.get_context(method).Manager()


def startup(make, repeat):
    starts, stops = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        m = make()
        t1 = time.perf_counter()
        m.shutdown()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    return median(starts), median(stops)


def dict_calls(m, n):
    d = m.dict()
    t0 = time.perf_counter()
    for i in range(n):
        d[i] = i
    for i in range(n):
        d[i]
    return time.perf_counter() - t0


def queue_worker(q, go, n):
    go.wait()
    for i in range(n):
        q.put(i)
        q.get()


def queue_calls(m, n):
    ctx = mp.get_context('fork')
    q, go = m.Queue(), ctx.Event()
    procs = [ctx.Process(target=queue_worker, args=(q, go, n)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    time.sleep(0.2)                     # let every worker reach go.wait()
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError('queue workers failed: exit codes %s' % bad)
    return elapsed


def proxies_created(m, n):
    t0 = time.perf_counter()
    proxies = [m.dict() for _ in range(n)]
    elapsed = time.perf_counter() - t0
    del proxies
    return elapsed


def workload(m, scale):
    return [('dict set/get (%d + %d)' % (2000 // scale, 2000 // scale), dict_calls(m, 2000 // scale)),
            ('queue put/get, %d workers x %d' % (WORKERS, 500 // scale), queue_calls(m, 500 // scale)),
            ('%d proxies created' % (1000 // scale), proxies_created(m, 1000 // scale))]


def ratio(a, b):
    return '%.2fx' % (a / b) if b > 0 else '-'


def table(title, rows):
    print('\n## %s\n' % title)
    print('| what | CPython (s) | managerd (s) | CPython / managerd |')
    print('| --- | ---: | ---: | ---: |')
    for name, a, b in rows:
        print('| %s | %.4f | %.4f | %s |' % (name, a, b, ratio(a, b)))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--managerd', help='the managerd binary (default: MANAGERD, then PATH)')
    ap.add_argument('--repeat', type=int, default=15, help='start-up runs (median)')
    ap.add_argument('--quick', action='store_true', help='a tenth of the workload, 5 start-ups')
    opts = ap.parse_args()
    if opts.managerd:
        os.environ['MANAGERD'] = os.path.abspath(opts.managerd)
    repeat = 5 if opts.quick else opts.repeat
    scale = 10 if opts.quick else 1
    print('Python %s, managerd %s, load average %s' % (
        sys.version.split()[0], managerd.find_managerd(), os.getloadavg()))
    problems = []
    try:
        fork_start, fork_stop = startup(cpython_manager('fork'), repeat)
        spawn_start, spawn_stop = startup(cpython_manager('spawn'), max(3, repeat // 3))
        md_start, md_stop = startup(managerd.Manager, repeat)
        table('start-up (median)', [
            ('Manager() [CPython fork]', fork_start, md_start),
            ('Manager() [CPython spawn]', spawn_start, md_start),
            ('shutdown() [CPython fork]', fork_stop, md_stop)])
    except Exception as e:          # a benchmark reports, it never fails
        problems.append('start-up: %r' % e)
    try:
        with mp.get_context('fork').Manager() as m:
            cp = workload(m, scale)
        with managerd.Manager() as m:
            md = workload(m, scale)
        rows = [(name, a, b) for (name, a), (_, b) in zip(cp, md)]
        rows.append(('workload total', sum(r[1] for r in rows), sum(r[2] for r in rows)))
        table('workload', rows)
    except Exception as e:
        problems.append('workload: %r' % e)
    print('\naims: start-up ratio >= 1 (no slower), workload total ratio >= 3')
    for p in problems:
        print('problem: %s' % p)
    print('load average at the end: %s' % (os.getloadavg(),))
    return 0


if __name__ == '__main__':
    sys.exit(main())
