#!/usr/bin/env python3
"""run_cpython_tests.py - CPython's own manager tests against managerd.

    python3 tests/cpython/run_cpython_tests.py --managerd PATH
        [--python EXE]... [--server managerd|refserver|builtin]
        [--timeout SECONDS] [--write-gaps FILE] [--start-method fork|spawn|forkserver]

For every Python 3.6 to 3.13 found (pyenv versions and PATH, as the interop
suite finds them; --python to choose), mgr_runner.py runs the manager tests
of THAT Python's test/_test_multiprocessing.py with their managers pointed
at a managerd started here (127.0.0.1, port 0, a fresh key), and every
test's outcome is compared with two lists:

  expected_failures.txt  tests that need Python code run inside the server
                         (Pool, a Barrier action, custom managers'
                         callables); they must fail, a pass is an error.
  known_gaps.txt         today's other failures, to be emptied as managerd
                         is fixed; a pass of a listed test is an error too,
                         so the list stays exact.

Any other failure, an unexpected success or a test that did not run makes
the exit status 1. --server refserver runs the same connected harness
against CPython's own server of that Python (refserver.py; the tests of
expected_failures.txt left out); --server builtin runs the tests unpatched
(CPython's own manager processes): both are checks of the harness, with
the expectation lists ignored. --write-gaps FILE
writes today's unexpected failures in known_gaps.txt's format.

make check uses the fork start method (spawn and forkserver give the same
results today, at about twice the cost). Each Python gets --timeout
seconds (the runner's process group is killed after that) and each test
30 s (SIGALRM in the runner).
"""
import argparse
import binascii
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'interop'))
os.environ['PYTHONDONTWRITEBYTECODE'] = '1'

import mdtest                                   # noqa: E402
from mdtest import Managerd, RefServer, SLOW, TestFailure   # noqa: E402

KEY = b'cpython-tests \x01\xfe key'
RUNNER = os.path.join(HERE, 'mgr_runner.py')
IDENT_RE = re.compile(r"'[0-9a-f]{6,16}'")     # an object ident in a KeyError
RANK = {'pass': 0, 'skip': 1, 'fail': 2, 'error': 3}


# ---- expectation files ------------------------------------------------------

def parse_versions(text):
    """'3.8-3.13', '3.12+', '3.8,3.10', 'all' -> predicate on (major, minor)."""
    preds = []
    for part in text.split(','):
        if part == 'all':
            preds.append(lambda v: True)
        elif part.endswith('+'):
            lo = tuple(int(x) for x in part[:-1].split('.'))
            preds.append(lambda v, lo=lo: v >= lo)
        elif '-' in part:
            lo, hi = (tuple(int(x) for x in p.split('.')) for p in part.split('-'))
            preds.append(lambda v, lo=lo, hi=hi: lo <= v <= hi)
        else:
            one = tuple(int(x) for x in part.split('.'))
            preds.append(lambda v, one=one: v == one)
    return lambda v: any(p(v) for p in preds)


def load_expectations(path):
    """Entries 'TEST-ID-PATTERN VERSIONS' (fnmatch patterns), each followed
    by indented lines (the reason; 'error: TEXT' lines, one of which the
    test's error must contain); '#' starts a comment."""
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            if line[0] in ' \t':
                if not entries:
                    raise SystemExit('%s:%d: indented line before any entry' % (path, n))
                entries[-1]['notes'].append(line.strip())
                continue
            fields = line.split()
            if len(fields) != 2:
                raise SystemExit('%s:%d: want "TEST-ID VERSIONS"' % (path, n))
            entries.append({'pattern': fields[0], 'versions': parse_versions(fields[1]),
                            'notes': [], 'where': '%s:%d' % (os.path.basename(path), n)})
    return entries


def match(entries, test_id, version):
    for e in entries:
        if fnmatch.fnmatchcase(test_id, e['pattern']) and e['versions'](version):
            return e
    return None


# ---- one Python ----------------------------------------------------------------

def run_runner(interp, args, timeout):
    """Run mgr_runner.py; returns (records by id, planned ids, log tail, timed_out)."""
    fd, results = tempfile.mkstemp(prefix='cpytests-', suffix='.json')
    os.close(fd)
    logf = tempfile.TemporaryFile()
    cmd = [interp.path, RUNNER, '--results', results] + args
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            cwd=tempfile.gettempdir(), start_new_session=True)
    timed_out = False
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    # The runner's forked children (test workers) are in its process group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    planned, recs = [], {}
    with open(results) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue                      # a line cut by the kill
            if 'planned' in r:
                planned = r['planned']
                continue
            old = recs.get(r['id'])
            if old is None or RANK[r['outcome']] > RANK[old['outcome']]:
                recs[r['id']] = r
    os.unlink(results)
    logf.seek(0)
    tail = logf.read().decode('utf-8', 'replace').splitlines()[-30:]
    return recs, planned, tail, timed_out or proc.returncode not in (0, -signal.SIGKILL)


def fill_not_run(recs, planned, timed_out):
    """A planned test without a result did not run: its class's setUpClass
    failed, or the runner timed out or crashed."""
    for tid in planned:
        if tid in recs:
            continue
        cls = tid.split('.')[0]
        fixture = recs.get(cls + '.setUpClass')
        if fixture is not None and fixture['outcome'] in ('fail', 'error'):
            recs[tid] = {'id': tid, 'outcome': 'error',
                         'error': 'not run: setUpClass failed: ' + fixture.get('error', '')}
        else:
            recs[tid] = {'id': tid, 'outcome': 'error',
                         'error': 'not run: the runner %s before it' %
                         ('timed out' if timed_out else 'stopped')}


def wrong_error(entry, r):
    """An entry's 'error: TEXT' lines: the test must fail with one of them."""
    wants = [n[len('error:'):].strip() for n in entry['notes'] if n.startswith('error:')]
    return bool(wants) and not any(w in r.get('error', '') for w in wants)


def classify(recs, version, expected, gaps):
    """-> dict outcome-class -> list of (id, record, entry)."""
    out = {'passed': [], 'skipped': [], 'expected': [], 'gap': [], 'unexpected': [],
           'unexpected-success': []}
    for tid in sorted(recs):
        r = recs[tid]
        e_exp = match(expected, tid, version)
        e_gap = match(gaps, tid, version)
        if r['outcome'] == 'skip':
            out['skipped'].append((tid, r, None))
        elif r['outcome'] == 'pass':
            if e_exp or e_gap:
                out['unexpected-success'].append((tid, r, e_exp or e_gap))
            else:
                out['passed'].append((tid, r, None))
        elif e_exp and not wrong_error(e_exp, r):
            out['expected'].append((tid, r, e_exp))
        elif e_exp:
            r = dict(r, error='failed, but not with the error %s gives: %s'
                     % (e_exp['where'], r.get('error', '')))
            out['unexpected'].append((tid, r, None))
        elif e_gap:
            out['gap'].append((tid, r, e_gap))
        else:
            out['unexpected'].append((tid, r, None))
    return out


def test_line(r):
    """'test_x: SOURCE' of the last test-file frame the error came through."""
    tb, found = r.get('traceback', []), ''
    for i, line in enumerate(tb[:-1]):
        if line.strip().startswith('File ') and '_test_multiprocessing.py' in line:
            found = '%s: %s' % (line.rsplit(' in ', 1)[-1], tb[i + 1].strip())
    return found


def has_test_suite(interp):
    """A distribution's Python may come without its test package: such an
    interpreter has no manager tests to run, and says so."""
    try:
        p = subprocess.run([interp.path, '-c', 'import test._test_multiprocessing'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        p = None
    if p is None or p.returncode != 0:
        print('%s (%s): no test._test_multiprocessing, not run' % (interp.name, interp.path))
        return False
    return True


def run_python(interp, opts, expected, gaps):
    version = tuple(interp.version[:2])
    md = ref = None
    try:
        if opts.server == 'managerd':
            md = Managerd(opts.managerd, listen=['tcp'], authkey=KEY).start()
            addr = md.address().split('://', 1)[-1]
            args = ['--address', addr, '--authkey-hex', binascii.hexlify(KEY).decode(),
                    '--managerd', opts.managerd]
        elif opts.server == 'refserver':
            ref = RefServer(interp.path, authkey=KEY).start()
            addr = ref.addresses[0].split('://', 1)[-1]
            args = ['--address', addr, '--authkey-hex', binascii.hexlify(KEY).decode()]
            # A separate CPython server process does not know the key as its
            # own authkey, so the Pool callbacks and Barrier actions it runs
            # cannot reach their proxies: leave out what needs server code.
            for e in expected:
                args += ['--exclude', e['pattern']]
        else:
            args = ['--server', 'builtin']
        args += ['--start-method', opts.start_method, '--test-timeout', str(int(30 * SLOW))]
        t0 = time.monotonic()
        recs, planned, tail, broke = run_runner(interp, args, opts.timeout)
        elapsed = time.monotonic() - t0
    finally:
        problems = md.stop_check() if md else []
        if md:
            md.cleanup()
        if ref:
            ref.stop()
    fill_not_run(recs, planned, broke)
    if opts.server != 'managerd':
        expected, gaps = [], []
    cls = classify(recs, version, expected, gaps)
    if not planned:
        problems.append('the runner planned no test; its output:\n  ' + '\n  '.join(tail))
    elif broke:
        problems.append('the runner timed out or crashed; its output ends:\n  ' + '\n  '.join(tail))
    return cls, problems, elapsed


def report(interp, cls, problems, elapsed):
    bad = cls['unexpected'] + cls['unexpected-success']
    print('%s: %d passed, %d failed, %d expected failures, %d known gaps, %d skipped (%.0f s)'
          % (interp.name, len(cls['passed']), len(bad), len(cls['expected']), len(cls['gap']),
             len(cls['skipped']), elapsed))
    for tid, r, _e in cls['unexpected']:
        print('  FAIL %s: %s' % (tid, r.get('error', '')))
        line = test_line(r)
        if line:
            print('       at %s' % line)
    for tid, r, e in cls['unexpected-success']:
        print('  UNEXPECTED SUCCESS %s (listed at %s)' % (tid, e['where']))
    for tid, r, _e in cls['skipped']:
        print('  skip %s: %s' % (tid, r.get('error', '')))
    for p in problems:
        print('  PROBLEM ' + p)
    sys.stdout.flush()
    return not bad and not problems


def version_ranges(versions):
    """[(3, 8), (3, 9), (3, 11)] -> '3.8-3.9,3.11'."""
    runs = []
    for v in sorted(versions):
        if runs and runs[-1][1][0] == v[0] and runs[-1][1][1] + 1 == v[1]:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ','.join('%d.%d' % a if a == b else '%d.%d-%d.%d' % (a + b) for a, b in runs)


def docs_blocks(path):
    """The 'docs:' entries of a known-gaps file (run_docs_examples.py's), as text."""
    keep, out = False, []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip() and not line.startswith((' ', '\t', '#')):
                    keep = line.startswith('docs:')
                if keep:
                    out.append(line)
    return ''.join(out)


def write_gaps(path, results):
    """results: list of (version, cls). One entry per test, versions merged;
    the file's docs: entries are kept."""
    docs = docs_blocks(path)
    by_id = {}
    for version, cls in results:
        for tid, r, _e in cls['unexpected'] + cls['gap']:
            by_id.setdefault(tid, []).append((version, r))
    with open(path, 'w') as f:
        f.write(GAPS_HEADER)
        for tid in sorted(by_id):
            vs = [v for v, _r in by_id[tid]]
            f.write('%s %s\n' % (tid, version_ranges(vs)))
            seen = []
            for v, r in by_id[tid]:
                err = IDENT_RE.sub("'<ident>'", r.get('error', ''))
                if err not in [e for e, _l in seen]:
                    seen.append((err, test_line(r)))
            for err, line in seen:
                f.write('    %s\n' % err)
                if line:
                    f.write('        at %s\n' % line)
        if docs:
            f.write('\n' + docs)


GAPS_HEADER = '''\
# known_gaps.txt - CPython manager tests that fail against managerd today
# and are NOT expected to: each is a bug of managerd being fixed (issue 7).
# run_cpython_tests.py accepts these failures, and fails when a listed test
# passes, so delete an entry when its fix is merged. Regenerate with
#   python3 tests/cpython/run_cpython_tests.py --managerd build/default/managerd \\
#       --write-gaps tests/cpython/known_gaps.txt
# Format: TEST-ID VERSIONS, then indented: the error's first line (a
# RemoteError shows the server's exception) and the test line it came from.
# The docs:EXAMPLE entries are run_docs_examples.py's (kept when the file is
# regenerated; edit them by hand).

'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--managerd')
    ap.add_argument('--python', action='append', default=[])
    ap.add_argument('--server', choices=('managerd', 'refserver', 'builtin'), default='managerd')
    ap.add_argument('--timeout', type=float, default=150 * SLOW)
    ap.add_argument('--write-gaps')
    ap.add_argument('--start-method', choices=('fork', 'spawn', 'forkserver'), default='fork')
    opts = ap.parse_args()
    if opts.server == 'managerd' and not opts.managerd:
        ap.error('--managerd is required')
    if opts.managerd:
        opts.managerd = os.path.abspath(opts.managerd)
    if opts.python:
        os.environ['MD_TEST_PYTHONS'] = ' '.join(opts.python)
    interps = [i for i in mdtest.find_interpreters()
               if (3, 6) <= tuple(i.version[:2]) <= (3, 13) and has_test_suite(i)]
    if not interps:
        print('no Python 3.6-3.13 with its test suite (test._test_multiprocessing) found')
        print('0 passed, 1 failed')
        return 1
    expected = load_expectations(os.path.join(HERE, 'expected_failures.txt'))
    gaps = load_expectations(os.path.join(HERE, 'known_gaps.txt'))
    ok, results = True, []
    for interp in interps:
        try:
            cls, problems, elapsed = run_python(interp, opts, expected, gaps)
        except TestFailure as e:
            print('%s: %s' % (interp.name, e))
            ok = False
            continue
        results.append((tuple(interp.version[:2]), cls))
        ok = report(interp, cls, problems, elapsed) and ok
    if opts.write_gaps:
        write_gaps(opts.write_gaps, results)
    npass = sum(1 for _v, c in results for k in ('passed', 'expected', 'gap') for _x in c[k])
    nfail = sum(len(c['unexpected']) + len(c['unexpected-success']) for _v, c in results)
    print('%d passed, %d failed' % (npass, nfail if ok or nfail else 1))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
