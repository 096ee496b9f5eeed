#!/usr/bin/env python3
"""bench_bulk.py - big values through a manager server: managerd, CPython's
own server and the do-nothing floor server side by side, with one stock
Python client (issue 10). A program that prints figures, not a test.

How to run (from the source tree, after ./dev build):

    make -C build/default bench
    python3 tests/bench/bench_bulk.py --managerd build/default/managerd [--skip-10m]

What it costs: the default run (1k to 10M items, then the 10 MB Queue rows)
took 7.3 minutes on the project's 2-core VM with other work running (1k
items 3.2 min: every fill round makes 100 fresh dict proxies, and CPython's
server takes about 0.2 s per proxy made and dropped over TCP; 10k 0.4 min,
100k 0.2, 1M 0.5, 10M 3.1), and several GB of memory at 10M (the client's
data and replies, and the three servers hold their copies at once);
--sizes 1000000 takes about 40 s, --payload-only a few seconds,
--skip-10m about 4 minutes.

Operations, at 1k, 10k, 100k, 1M and 10M items (--sizes to choose;
--skip-10m drops 10M and says so):
  - d.update() of 'k%07d' -> i in chunks of 10,000; the same with small
    dict values {'v': i}; m.dict(big) created in one call;
  - d.copy(), d.items(), d.keys() of the filled dict, l[:] of the list;
  - l.extend(ints), m.list(big); q.put()/q.get() of a 10 MB bytes payload
    (once, not per size; best of 10 each);
  - d[k] and k in d latency (median of 200 calls, the lowest of 10 rounds
    that take the calls in turn; microseconds) on the big dict and on a
    one-item one, with the client and the servers on one CPU (same_cpu).

Rounds. The three servers of a size run at once, and every row is taken in
rounds: a round visits managerd, CPython and the floor in turn, and the
next round (and the next row) starts with the next server; a row shows
each server's best round. --rounds R sets the
rounds (default 3 up to 1M items, 1 at 10M; --rounds-10m for 10M). A burst
of noise from the machine's other processes then spoils one round of one
server, not its whole figure, and the spread table after each size shows
each server's best / median / worst round so that the reader sees the
noise. A fill round fills fresh dicts (the previous round's are cleared and
dropped first, so every server reuses its memory alike); the server RSS per
stored item is read in the first round only.

Floors. For the store rows the floor server replies None: its column is
the client's own pickling and the transfer. For the read rows (and
q.get()) it is started with --canned METHOD=FILE (floor_server.c): it
answers that method with the very reply bytes a real server sends
(ForkingPickler.dumps(('#RETURN', value)), byte for byte what managerd
sends), so its column is the transfer plus the client's receive and
pickle.loads, and managerd/floor - 1 is the server's share. The client's
pickle.loads of the same bytes alone is a second reference row ('...:
client pickle.loads alone'), taken in the same rounds. That pickle.loads
is most of a big read and as noisy as the rest of the machine (a 1M-item
d.copy() is 300 ms of it, and 5-20 ms of reply), so each read is taken
once more on a raw connection, timed to its reply's last byte and not
decoded ('...: reply bytes only'): (managerd - floor) of that row over the
floor of the read is the server's share with the loads noise left out.

Times are per item (ns), so a flat column means a cost flat in size; the
server RSS per stored item is printed for d.update(). Below 100,000 items
the fill rows store several dicts of n items (100,000 items in all) per
round and divide by the total, and the one-call rows take the best of
several calls per round, so that the small sizes are measured over as
much work as the big ones. Every row says managerd / CPython and managerd
/ floor, and issue 10's aim for it with a verdict from the best rounds.
"""
import argparse
import contextlib
import gc
import os
import pickle
import statistics
import sys
import time
from multiprocessing.connection import Client
from multiprocessing.managers import SyncManager
from multiprocessing.reduction import ForkingPickler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib                                   # noqa: E402
from bench_server import SERVERS, Table, fmt     # noqa: E402

SIZES = (1000, 10000, 100000, 1000000, 10000000)
CHUNK = 10000
# Below this many items a fill row stores several dicts of n items, this
# many items in all, and divides by their total: one dict of 1,000 items
# is a millisecond of work and a slab chunk of RSS, too little to time or
# weigh (its row used to swing 2x between runs).
FILL_ITEMS = 100000
# Rounds per row: one round of a 10M row is seconds per server (CPython's
# m.dict(big) 14 s), three of them would take the default run past 15 min.
ROUNDS = 3
ROUNDS_10M = 1
BIG = 10000000
# The one-call rows of a small size take about this many calls in all
# (spread over the rounds), at least one per round.
READ_CALLS = 50000
LAT_ROUNDS = 10
# A 10 MB call is a few milliseconds, which another process on a shared
# 2-core machine doubles at will: best of 3 put the floor above managerd.
PAYLOAD_REPEAT = 10
PAYLOAD_BYTES = 10 * 1000 * 1000
RSS_SETTLE_S = 0.3
LAT_CALLS = 200
MAX_MESSAGE = 1 << 30   # and the floor's BENCH_MAX_FRAME
# The reference row of the read rows: the client's pickle.loads alone.
LOADS = 'loads'
# A read again on a raw connection, timed to the reply's last byte.
REPLY_ONLY = ': reply bytes only'
READ_METHODS = (('d.copy()', 'copy'), ('d.items()', 'items'), ('d.keys()', 'keys'),
                ('l[:]', '__getitem__'))

# Issue 10's aims: (text, check(managerd, CPython, floor)) per row.
STORE_AIM = ('<= 1.5x floor, >= 5x faster than CPython',
             lambda m, c, f: m <= 1.5 * f and 5 * m <= c)
READ_AIM = ('server share <= 0.2, >= 2x faster than CPython',
            lambda m, c, f: m <= 1.2 * f and 2 * m <= c)
FLOOR_AIM = ('<= 1.5x floor', lambda m, c, f: m <= 1.5 * f)
AIMS = {
    'd.update(chunks) str->int': STORE_AIM,
    'd.update(chunks) str->dict': STORE_AIM,
    'm.dict(big)': STORE_AIM,
    'd.copy()': READ_AIM, 'd.items()': READ_AIM, 'd.keys()': READ_AIM,
    'l.extend(ints)': FLOOR_AIM, 'l[:]': FLOOR_AIM, 'm.list(big)': FLOOR_AIM,
    'server RSS B/item': ('<= 64 B', lambda m, c, f: m <= 64),
}


def log(msg):
    sys.stderr.write('[bulk %7.1fs] %s\n' % (time.monotonic() - T0, msg))
    sys.stderr.flush()


T0 = time.monotonic()


def timed(fn, repeat, keep=None):
    """The best of repeat calls of fn, in seconds. A call's result is
    dropped after the clock stops (freeing a 1M-item reply is the
    client's, not the call's), before the next call; the last one is
    appended to the list keep if given."""
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        t = time.perf_counter() - t
        res = None if keep is None else [res]
        best = t if best is None else min(best, t)
    if keep is not None:
        keep.extend(res)
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
def same_cpu(pids):
    """The client and every thread of the servers pids on one CPU while
    the latency rows run. On this machine (a VM) a call whose reply wakes
    a process on the other CPU costs 55-80 us instead of 19-24, for
    CPython's server and managerd alike, and which CPU the scheduler
    picks depends on what ran before (after a big fill, usually the
    other one): unpinned, the rows measured the placement, not the
    server."""
    if not hasattr(os, 'sched_setaffinity'):
        yield
        return
    cpu = min(os.sched_getaffinity(0))
    tids = [0] + [int(t) for pid in pids for t in os.listdir('/proc/%d/task' % pid)]
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


def ceil_div(a, b):
    return -(-a // b)


def dropped(make, arg):
    """A call of make(arg) that drops the proxy it makes before it returns,
    so that the timing includes the proxy's decref."""
    def call():
        make(arg)
    return call


def turns(names, r):
    """names in round r's order: round r starts with the (r mod n)-th."""
    k = r % len(names)
    return names[k:] + names[:k]


class Rounds(object):
    """Every round's figure of every (row, server), in the order taken."""

    def __init__(self):
        self.rows = {}

    def add(self, row, name, value):
        self.rows.setdefault(row, {}).setdefault(name, []).append(value)

    def best(self, row):
        return {name: min(v) for name, v in self.rows.get(row, {}).items()}

    def spread(self, row, name):
        """'best / median / worst' (or the one figure of one round)."""
        v = sorted(self.rows.get(row, {}).get(name, []))
        if not v:
            return ''
        if len(v) == 1:
            return fmt(v[0])
        return '%s / %s / %s' % (fmt(v[0]), fmt(statistics.median(v)), fmt(v[-1]))

    def paired(self, row):
        """managerd/floor of each round, both taken in that round (seconds
        apart): 'lowest / median / highest', or '' for a row without both."""
        got = self.rows.get(row, {})
        pairs = list(zip(got.get('managerd', []), got.get('floor', [])))
        v = sorted(m / f for m, f in pairs if f)
        if not v:
            return ''
        if len(v) == 1:
            return '%.3gx' % v[0]
        return '%.3gx / %.3gx / %.3gx' % (v[0], statistics.median(v), v[-1])


class Bulk(object):
    def __init__(self, args):
        self.args = args
        self.authkey_text = 'managerd-bulk-' + os.urandom(8).hex()
        self.tmp = benchlib.tmpdir()
        self.tables = []
        self.noted = set()
        # Each row starts one server further than the row before, so that
        # with one round (10M) the first turn of a row, which pays the
        # client's first big allocation (the first loads of a fresh 10M
        # dict: 898 ns/item, then 611), is not always managerd's.
        self.rows_begun = 0

    # -- servers --

    def start_all(self, canned):
        """The three servers, running at once; canned: {method: reply
        bytes} for the floor (written to files it reads at start)."""
        paths = []
        for k, (method, data) in enumerate(canned.items()):
            path = os.path.join(self.tmp, 'canned-%d.pkl' % k)
            with open(path, 'wb') as f:
                f.write(data)
            paths.append('%s=%s' % (method, path))
        servers = {}
        try:
            # 10M-item values are messages of more than the default 64 MiB.
            servers['managerd'] = benchlib.start_managerd(
                self.args.managerd, self.authkey_text, self.tmp,
                extra=('--max-message', str(MAX_MESSAGE)))
            servers['CPython'] = benchlib.start_cpython(self.args.python, self.authkey_text,
                                                        self.tmp)
            servers['floor'] = benchlib.start_floor(self.floor, self.authkey_text, self.tmp,
                                                    canned=paths)
        except BaseException:
            for s in servers.values():
                s.stop()
            raise
        finally:
            for p in paths:                 # the floor holds them now
                os.unlink(p.split('=', 1)[1])
        return servers

    def manager(self, server):
        m = SyncManager(address=server.tcp, authkey=self.authkey_text.encode())
        m.connect()
        return m

    def raw_conns(self, servers):
        """A long connection to each server outside any proxy, set up as a
        proxy's own (the handshake, then accept_connection)."""
        out = {}
        for name in SERVERS:
            c = Client(servers[name].tcp, authkey=self.authkey_text.encode())
            out[name] = c
            c.send((None, 'accept_connection', ('bench-raw',), {}))
            kind, _ = c.recv()
            if kind != '#RETURN':
                raise benchlib.BenchError('%s refused accept_connection' % name)
        return out

    def reply_rounds(self, row, raws, proxies, method, args, want, n, calls, rounds, rec):
        """The read of row again, on raw connections, timed to its reply's
        last byte and not decoded: the server's part and the transfer
        without the client's pickle.loads, whose noise on this machine is
        bigger than a server's share of a 1M-item read. The floor must
        send the canned bytes; managerd is said to send the same ones."""
        def fn(c, ident):
            c.send((ident, method, args, {}))
            return c.recv_bytes()

        def check(name, got):
            if name == 'floor' and got != want:
                raise benchlib.BenchError('the floor did not send its canned reply to %s' % row)
            if name == 'managerd' and got != want and row not in self.noted:
                self.noted.add(row)
                log('NOTE: managerd\'s reply to %s is not the canned bytes (%d and %d bytes)'
                    % (row, len(got), len(want)))
        fns = {name: (lambda c=raws[name], ident=proxies[name]._token.id: fn(c, ident))
               for name in SERVERS}
        self.call_rounds(row + REPLY_ONLY, fns, n, calls, rounds, rec, check)

    # -- rows taken in rounds --

    def fill_rounds(self, row, rss_row, ms, servers, chunks, n, copies, rounds, rec):
        """`rounds` rounds of `copies` fresh dicts of n items filled with
        d.update(chunk) per server; the RSS growth per item of the first
        round. The last round's dicts stay: {server: [dict proxies]}.
        Each turn starts from a collected client heap, as call_rounds'
        do: the str -> dict chunks are 10M new dicts at 10M items, whose
        first full collection would otherwise fall in whichever turn
        comes first."""
        log('  %s' % row)
        held = {name: [] for name in ms}
        for r in range(rounds):
            for name in turns(list(ms), r + self.rows_begun):
                benchlib.check_interrupted()
                m, s = ms[name], servers[name]
                for dd in held[name]:
                    dd.clear()
                held[name] = []
                dds = [m.dict() for _ in range(copies)]
                gc.collect()
                if r == 0:
                    time.sleep(RSS_SETTLE_S)
                    rss0 = s.rss()
                t = time.perf_counter()
                for dd in dds:
                    for c in chunks:
                        dd.update(c)
                t = time.perf_counter() - t
                rec.add(row, name, t * 1e9 / (n * copies))
                # Untimed: managerd replies before its merge; its length
                # is the server idle again (and the count checked).
                got = dds[-1]._callmethod('__len__')
                if name != 'floor' and got != n:
                    raise benchlib.BenchError('%s holds %d items, not %d' % (name, got, n))
                if r == 0:
                    # RSS once the server is idle: managerd gives a
                    # message's free memory back 100 ms after the last one
                    # (MD_TRIM_DELAY_MS).
                    time.sleep(RSS_SETTLE_S)
                    rec.add(rss_row, name, (s.rss() - rss0) / float(n * copies))
                held[name] = dds
        self.rows_begun += 1
        return held

    def call_rounds(self, row, fns, n, calls, rounds, rec, check=None):
        """fns: {name: fn}; per round and name the best of `calls` calls,
        in ns per item; check(name, result) after the round's calls. The
        client's collector starts every turn from the same state, so that
        no turn pays for a collection the turn before set up (d.items() of
        10M items makes 10M tuples, each one tracked)."""
        log('  %s' % row)
        for r in range(rounds):
            for name in turns(list(fns), r + self.rows_begun):
                benchlib.check_interrupted()
                gc.collect()
                last = []
                rec.add(row, name, timed(fns[name], calls, last) * 1e9 / n)
                if check:
                    check(name, last[0])
                del last
        self.rows_begun += 1

    def extend_rounds(self, ms, ints, n, calls, rounds, rec):
        """l.extend(ints) on `calls` fresh lists per round and server; the
        last round's first list of each server stays (for l[:])."""
        log('  l.extend(ints)')
        kept = {}
        for r in range(rounds):
            for name in turns(list(ms), r + self.rows_begun):
                benchlib.check_interrupted()
                kept.pop(name, None)
                lsts = [ms[name].list() for _ in range(calls)]
                it = iter(lsts)
                rec.add('l.extend(ints)', name,
                        timed(lambda: next(it).extend(ints), calls) * 1e9 / n)
                kept[name] = lsts[0]
                del lsts, it
        self.rows_begun += 1
        return kept

    def one_size(self, n, rec):
        keys = ['k%07d' % i for i in range(n)]
        big = dict(zip(keys, range(n)))
        chunks = [dict(zip(keys[b:b + CHUNK], range(b, min(b + CHUNK, n))))
                  for b in range(0, n, CHUNK)]
        ints = list(range(n))
        rounds = self.args.rounds_10m if n >= BIG else self.args.rounds
        # Per round: fills of `copies` dicts; the dict reads the best of
        # `reads` calls (17 at 1k items, 1 from 100k), m.dict(big) of
        # `creates`, the list rows of `calls` (3 at 1M: one call of 1M
        # ints is 10-40 ms, which a burst of the machine's other work
        # doubles; the first big call of a server pays for fresh pages).
        copies = max(1, FILL_ITEMS // n)
        reads = ceil_div(ceil_div(READ_CALLS, n), rounds)
        creates = ceil_div(copies, rounds)
        calls = ceil_div(max(copies, 3 * rounds if n < BIG else 1), rounds)
        # What a server sends for each read: the floor's canned replies,
        # and what the client's own pickle.loads alone is timed on.
        replies = {
            'copy': big, 'items': list(big.items()), 'keys': keys, '__getitem__': ints,
        }
        replies = {k: bytes(ForkingPickler.dumps(('#RETURN', v))) for k, v in replies.items()}
        servers = self.start_all(replies)
        raws = {}
        try:
            ms = {name: self.manager(servers[name]) for name in SERVERS}
            raws = self.raw_conns(servers)
            for m in ms.values():
                d = m.dict()
                d['warm-up'] = 0
                del d
            held = self.fill_rounds('d.update(chunks) str->int', 'server RSS B/item', ms,
                                    servers, chunks, n, copies, rounds, rec)
            ds = {}
            for name, dds in held.items():
                ds[name] = dds[0]
                for dd in dds[1:]:
                    dd.clear()
            del held, dds

            def count_is_n(name, got):
                if len(got) != n:
                    raise benchlib.BenchError('%s: %d items, not %d' % (name, len(got), n))
            for row, method in READ_METHODS[:3]:
                fns = {name: getattr(ds[name], method) for name in SERVERS}
                fns[LOADS] = lambda data=replies[method]: pickle.loads(data)
                self.call_rounds(row, fns, n, reads, rounds, rec,
                                 lambda name, got: count_is_n(name, got[1] if name == LOADS
                                                              else got))
                self.reply_rounds(row, raws, ds, method, (), replies[method], n, reads, rounds,
                                  rec)
            self.latency(ms, ds, servers, keys[n // 2], rec)
            for d in ds.values():
                d.clear()
            del ds, d
            # Made only now: n small dicts the collector would walk through
            # during every read above.
            dchunks = [{k: {'v': v} for k, v in c.items()} for c in chunks]
            held = self.fill_rounds('d.update(chunks) str->dict', 'server RSS B/item str->dict',
                                    ms, servers, dchunks, n, copies, rounds, rec)
            for dds in held.values():
                for dd in dds:
                    dd.clear()
            del held, dds, dchunks
            # The create rows: the proxy made is dropped within the call
            # (its decref frees the value on a real server).
            self.call_rounds('m.dict(big)', {name: dropped(m.dict, big)
                                             for name, m in ms.items()},
                             n, creates, rounds, rec)
            lst = self.extend_rounds(ms, ints, n, calls, rounds, rec)
            fns = {name: lst[name].__getitem__ for name in SERVERS}
            fns = {name: lambda fn=fn: fn(slice(None)) for name, fn in fns.items()}
            fns[LOADS] = lambda data=replies['__getitem__']: pickle.loads(data)
            self.call_rounds('l[:]', fns, n, calls, rounds, rec,
                             lambda name, got: count_is_n(name, got[1] if name == LOADS
                                                          else got))
            self.reply_rounds('l[:]', raws, lst, '__getitem__', (slice(None),),
                              replies['__getitem__'], n, calls, rounds, rec)
            del lst, fns
            # create, the proxy's incref, temp()'s decref, and the decref
            # of the proxy dropped at once (each on a connection of its
            # own), which frees the list on a real server.
            self.call_rounds('m.list(big)', {name: dropped(m.list, ints)
                                             for name, m in ms.items()},
                             n, calls, rounds, rec)
        finally:
            for c in raws.values():
                c.close()
            for s in servers.values():
                s.stop()
        return rounds

    def latency(self, ms, ds, servers, k, rec):
        """d[k] and k in d on the big dict and on a one-item one, managerd
        and CPython in turns, both pinned to the client's CPU."""
        fns = []
        for name in ('managerd', 'CPython'):
            d, e = ds[name], ms[name].dict()
            e['x'] = 1
            fns += [((name, 'd[k] us (big)'), lambda d=d: d[k]),
                    ((name, 'd[k] us (1 item)'), lambda e=e: e['x']),
                    ((name, 'k in d us (big)'), lambda d=d: d.__contains__(k)),
                    ((name, 'k in d us (1 item)'), lambda e=e: e.__contains__('x'))]
        with same_cpu([servers['managerd'].pid, servers['CPython'].pid]):
            lat = latencies_us(fns)
        for (name, row), us in sorted(lat.items(), key=lambda kv: kv[0][1]):
            rec.add(row, name, us)

    def payload(self):
        """q.put() and q.get() of 10 MB, the three servers at once, call by
        call in turns; the floor's get answers the very reply bytes."""
        blob = os.urandom(PAYLOAD_BYTES)
        reply = bytes(ForkingPickler.dumps(('#RETURN', blob)))
        rec = Rounds()
        repeat = self.args.payload_repeat
        servers = self.start_all({'get': reply})
        try:
            qs = {name: self.manager(servers[name]).Queue() for name in SERVERS}
            # Twice: on a fresh server every put is new memory, which on
            # this VM costs what the host charges for pages the guest
            # never touched (1-3x the call, varying from run to run, for
            # CPython's server as for managerd); the second round reuses
            # what the first round's gets freed.
            for when in ('fresh server', 'second round'):
                put_row = 'q.put(10 MB) %s, ms' % when
                get_row = 'q.get() 10 MB %s, ms' % when
                for r in range(repeat):
                    for name in turns(list(SERVERS), r):
                        rec.add(put_row, name, timed(lambda: qs[name].put(blob), 1) * 1e3)
                gets = dict((name, q.get) for name, q in qs.items())
                gets[LOADS] = lambda: pickle.loads(reply)
                for r in range(repeat):
                    for name in turns(list(gets), r):
                        got = []
                        rec.add(get_row, name, timed(gets[name], 1, got) * 1e3)
                        value = got[0][1] if name == LOADS else got[0]
                        if value != blob:
                            raise benchlib.BenchError('%s: q.get() returned another value'
                                                      % name)
        except Exception as e:
            log('PROBLEM: payload: %r' % (e,))
        finally:
            for s in servers.values():
                s.stop()
        t = Table('10 MB bytes through a Queue (the three servers at once, %d rounds of one '
                  'call each taking turns, best; floor of q.get(): the canned reply)' % repeat)
        self.add_rows(t, rec, dict((row, FLOOR_AIM) for row in rec.rows))
        return t, self.spread_table('10 MB rows', rec)

    # -- tables --

    @staticmethod
    def add_rows(t, rec, aims):
        """Each row's best rounds, with its aim and verdict; a read row's
        server share (managerd/floor - 1) and, below it, the client's
        pickle.loads alone. A server a row does not measure (the floor's
        latency) gets an empty cell, not 'error'."""
        for row in rec.rows:
            vals = rec.best(row)
            aim, check = aims.get(row, ('', None))
            m, f = vals.get('managerd'), vals.get('floor')
            if LOADS in vals and m is not None and f:
                aim = '%s [server share %.2f]' % (aim, m / f - 1)
            if row.endswith(REPLY_ONLY) and m is not None and f is not None:
                read_floor = rec.best(row[:-len(REPLY_ONLY)]).get('floor')
                if read_floor:
                    aim = ('server share = (managerd - floor) / floor of the read = %.3f'
                           % ((m - f) / read_floor))
            t.add(row, vals, aim, check)
            cells = list(t.rows[-1])
            for k, name in enumerate(SERVERS):
                if name not in vals:
                    cells[1 + k] = ''
            t.rows[-1] = tuple(cells)
            if LOADS in vals:
                t.rows.append(('%s: client pickle.loads alone' % row, '', '', fmt(vals[LOADS]),
                               '-', '-' if m is None else '%.3gx' % (m / vals[LOADS]),
                               'the floor without the transfer'))

    def spread_table(self, what, rec):
        t = Table('%s: spread over rounds, best / median / worst (and managerd/floor '
                  'within each round)' % what)
        head = ('what',) + SERVERS + ('client pickle.loads', 'managerd/floor by round')
        for row in rec.rows:
            t.rows.append((row,) + tuple(rec.spread(row, name) for name in SERVERS + (LOADS,)) +
                          (rec.paired(row),))
        t.HEAD = head
        return t

    def run(self, sizes):
        progs, where = benchlib.find_or_build_programs(self.args.bench_dir, self.args.managerd,
                                                      self.tmp, log, ('floor_server',))
        self.floor = progs['floor_server']
        print('# bulk values: managerd, CPython %s server, floor (%s)'
              % (sys.version.split()[0], where))
        if self.args.skip_10m:
            print('\n10M rows SKIPPED (--skip-10m)')
        per_size = {}
        for n in sizes:
            log('%d items' % n)
            rec = Rounds()
            with benchlib.deadline(1800, '%d items' % n):
                try:
                    rounds = self.one_size(n, rec)
                except (benchlib.BenchError, OSError, EOFError) as e:
                    log('PROBLEM: at %d items: %r' % (n, e))
                    rounds = '?'
            per_size[n] = rec
            t = Table('{:,} items: ns per item, best of {} round(s) (latency rows: '
                      'microseconds; floor of the read rows: the canned reply)'
                      .format(n, rounds))
            self.add_rows(t, rec, AIMS)
            s = self.spread_table('{:,} items'.format(n), rec)
            print(t.render())
            print(s.render(s.HEAD))
            sys.stdout.flush()
        if sizes:
            flat = Table('managerd across sizes: ns per item (best round)')
            flat.HEAD = ('what',) + tuple('{:,}'.format(n) for n in sizes)
            for row in per_size[sizes[0]].rows:
                flat.rows.append((row,) + tuple(fmt(per_size[n].best(row).get('managerd'))
                                                for n in sizes))
            print(flat.render(flat.HEAD))
        t, s = self.payload()
        print(t.render())
        print(s.render(s.HEAD))
        print('\ntotal %.0f s' % (time.monotonic() - T0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--managerd', required=True)
    ap.add_argument('--python', default=sys.executable,
                    help="interpreter for CPython's server (default: this one)")
    ap.add_argument('--bench-dir', help='where floor_server is (default: beside managerd)')
    ap.add_argument('--sizes', help='comma-separated item counts (default 1k..10M)')
    ap.add_argument('--rounds', type=int, default=ROUNDS,
                    help='rounds per row below 10M items (default %d)' % ROUNDS)
    ap.add_argument('--rounds-10m', type=int, default=ROUNDS_10M,
                    help='rounds per row from 10M items (default %d)' % ROUNDS_10M)
    ap.add_argument('--payload-repeat', type=int, default=PAYLOAD_REPEAT,
                    help='calls of each 10 MB row per server (default %d)' % PAYLOAD_REPEAT)
    ap.add_argument('--payload-only', action='store_true',
                    help='only the 10 MB Queue rows (no sizes)')
    ap.add_argument('--skip-10m', action='store_true',
                    help='leave out the 10,000,000-item rows (small machines)')
    args = ap.parse_args()
    if min(args.rounds, args.rounds_10m, args.payload_repeat) < 1:
        ap.error('--rounds, --rounds-10m and --payload-repeat take 1 or more')
    sizes = tuple(int(x) for x in args.sizes.split(',')) if args.sizes else SIZES
    if args.skip_10m:
        sizes = tuple(n for n in sizes if n < BIG)
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
