#!/usr/bin/env python3
"""run.py - the interop suite: real Python clients of every interpreter on
the machine against managerd, compared with CPython's own manager server.

    python3 tests/interop/run.py --managerd PATH [--scenarios a,b,...]
                                 [--jobs N] [--validate] [--python EXE]...

One managerd (TCP, a Unix socket and an abstract socket, plus shared
typeids) serves every interpreter at the same time for the scenarios
types, exceptions, blocking, transports, cross, iterables and stdvalues;
the scenarios refs, custom and nested need exact object counts, so each
interpreter gets a private managerd for them. types, exceptions, custom,
iterables, stdvalues and nested also run against CPython's own server of
the same interpreter (refserver.py) and the recorded steps
must match. --validate also runs the other scenarios' assertions against
CPython (a check of the tests themselves; managerd-only checks excluded).

Exit status 0 when everything passed; the last line is 'N passed, M failed'.
"""
import argparse
import binascii
import concurrent.futures
import difflib
import io
import json
import multiprocessing.connection
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ['PYTHONDONTWRITEBYTECODE'] = '1'      # never litter the source tree

import mdtest                                   # noqa: E402
from mdtest import Managerd, RefServer, SLOW, Tally, TestFailure   # noqa: E402
import scen_custom                              # noqa: E402  (its REGISTER/SHARE lists)

SCENARIOS = ['types', 'exceptions', 'blocking', 'refs', 'custom', 'transports', 'cross', 'iterables',
             'stdvalues', 'nested']
SCRIPTS = {'types': 'scen_types.py', 'exceptions': 'scen_exceptions.py', 'blocking': 'scen_blocking.py',
           'refs': 'scen_refs.py', 'custom': 'scen_custom.py', 'transports': 'scen_transports.py',
           'cross': 'scen_cross.py', 'iterables': 'scen_iterables.py', 'stdvalues': 'scen_stdvalues.py',
           'nested': 'scen_nested.py'}
COMPARED = {'types', 'exceptions', 'custom', 'iterables', 'stdvalues', 'nested'}
PRIVATE = {'refs', 'custom', 'nested'}
KEY = b'interop \xff\xfe key'       # not ASCII, not UTF-8: a key is bytes (no NUL: it goes in the environment too)
SHARED_ARGS = ['--share', 'get_tdict=dict', '--share', 'get_xdict=dict', '--share', 'get_xq=Queue']
SCRIPT_TIMEOUT = 240 * SLOW

# Steps whose results differ between managerd and CPython's server on
# purpose, beyond those the scenarios mark compare=False themselves:
# (scenario, step) -> (predicate on the interpreter version, reason).
def _py(lo, hi=None):
    """Predicate: interpreter version in [lo, hi] ((major, minor) tuples)."""
    return lambda v: tuple(v[:2]) >= lo and (hi is None or tuple(v[:2]) <= hi)


# Python 3.8 to 3.13 all speak pickle protocol 4, so managerd cannot tell
# them apart: where their texts differ it answers with the newest one.
_NEWEST_TEXT = 'pickle protocol 4 does not tell 3.8-3.12 from 3.13; managerd uses the newest text'
# Messages as CPython 3.13's server writes them, for every client: a client
# of any version may meet a newer server.
_TEXT_313 = "managerd writes CPython 3.13's message for every client"
# Queue exposes 3.13's 'shutdown' to everyone: the issue asks for the union
# of what the versions expose, and an extra name costs an AutoProxy nothing.
_UNION = 'Queue/JoinableQueue expose the union of all versions (3.13 shutdown)'
KNOWN_DIFFERENCES = {
    ('types', 'queue.exposed'): (_py((2, 7), (3, 12)), _UNION),
    ('types', 'jqueue.exposed'): (_py((2, 7), (3, 12)), _UNION),
    ('custom', 'shared queue: exposed methods'): (_py((2, 7), (3, 12)), _UNION),
    ('custom', 'shared queue: exposed (sorted)'): (_py((2, 7), (3, 12)), _UNION),
    ('types', 'lock.acquire-negative-timeout'): (_py((3, 6), (3, 12)), _TEXT_313),
    ('types', 'ns.del-missing'): (_py((3, 8), (3, 10)), _NEWEST_TEXT),
    ('types', 'ns.del-missing-class'): (_py((3, 8), (3, 10)), _NEWEST_TEXT),
    ('exceptions', 'AttributeError-del'): (_py((3, 8), (3, 10)), _NEWEST_TEXT),
    # array item errors are worded by the value layer, which does not know
    # the client's version: every client gets 3.10+'s text.
    ('types', 'array.setitem-type'): (_py((2, 7), (3, 9)), 'array errors use 3.10+ wording'),
    # Python 2 reprs: managerd prints values as Python 3 does, and its
    # 'I'/'L' array items are ints, not 2.7 longs.
    ('types', 'array.I.str'): (_py((2, 7), (2, 7)), 'Python 3 repr'),
    ('types', 'array.L.str'): (_py((2, 7), (2, 7)), 'Python 3 repr'),
    ('types', 'array.I.item'): (_py((2, 7), (2, 7)), '2.7 long vs int'),
    ('types', 'array.L.item'): (_py((2, 7), (2, 7)), '2.7 long vs int'),
}


def parse_result(out):
    for line in out.decode('utf-8', 'replace').splitlines():
        if line.startswith('@@RESULT '):
            return json.loads(line[len('@@RESULT '):])
    return None


def run_script(interp, scenario, addresses, server, extra=()):
    """Run one scenario script; (result dict or None, problem text)."""
    cmd = [interp.path, os.path.join(HERE, SCRIPTS[scenario])]
    for a in addresses:
        cmd += ['--address', a]
    cmd += ['--authkey-hex', binascii.hexlify(KEY).decode(), '--server', server, '--slow', str(SLOW)]
    cmd += list(extra)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=HERE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, 'timed out after %ds; stderr:\n%s' % (SCRIPT_TIMEOUT, err.decode('utf-8', 'replace')[-3000:])
    finally:
        try:                                    # children it left behind
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    res = parse_result(out)
    if res is None or p.returncode != 0:
        return res, 'exit status %d, no result line=%s; stderr:\n%s' % (
            p.returncode, res is None, err.decode('utf-8', 'replace')[-3000:])
    return res, ''


def known_difference(scenario, step, version):
    k = KNOWN_DIFFERENCES.get((scenario, step))
    return k is not None and k[0](version)


def compare(interp, scenario, md, ref):
    """Lines that differ between the two runs' compared steps."""
    def lines(res):
        return ['%s => %s' % (name, text) for name, text, cmp_ in res['steps']
                if cmp_ and not known_difference(scenario, name, interp.version)]
    a, b = lines(md), lines(ref)
    if a == b:
        return len(a), []
    diff = list(difflib.unified_diff(b, a, 'CPython %s server' % interp.name, 'managerd', lineterm='', n=0))
    return len(a), diff


class Reporter(object):
    """Thread-safe tally; each interpreter's output is printed in one piece."""

    def __init__(self):
        self.tally = Tally()
        self.lock = threading.Lock()
        self.summary = []

    def absorb(self, prefix, res, problem, out, skip_only=None):
        if res is not None:
            for name, ok, detail in res['checks']:
                self.count(out, '%s: %s' % (prefix, name), ok, detail)
        if problem:
            self.count(out, '%s: script ran to completion' % prefix, False, problem)

    def count(self, out, name, ok, detail=''):
        with self.lock:
            if ok:
                self.tally.passed += 1
            else:
                self.tally.failed += 1
                self.tally.failures.append(name)
        if not ok:
            out.write('FAIL: %s\n' % name)
            if detail:
                out.write('      ' + str(detail).replace('\n', '\n      ') + '\n')
        return ok


def interp_job(opts, rep, interp, shared):
    out = io.StringIO()
    line = []
    ref = priv = None
    t0 = time.time()
    try:
        need_ref = any(s in COMPARED or opts.validate for s in opts.scenarios if s != 'cross')
        if need_ref:
            ref = RefServer(interp.path, KEY, register=scen_custom.REGISTER, share=scen_custom.SHARE).start()
        if any(s in PRIVATE for s in opts.scenarios):
            reg = []
            for r in scen_custom.REGISTER:
                reg += ['--register', r]
            for s in scen_custom.SHARE:
                reg += ['--share', s]
            priv = Managerd(opts.managerd, ['tcp'], KEY, args=reg,
                            name='managerd (private for %s)' % interp.name).start()
        for sc in opts.scenarios:
            if sc == 'cross':
                continue
            if sc in PRIVATE:
                addrs = priv.addresses
            elif sc == 'transports':
                addrs = [shared.address('tcp'), shared.address('unix'), shared.address('abstract')]
            else:
                addrs = [shared.address('tcp')]
            prefix = '%s %s' % (interp.name, sc)
            md, problem = run_script(interp, sc, addrs, 'managerd')
            rep.absorb(prefix + ' [managerd]', md, problem, out)
            if md is not None and sc == 'transports':
                with rep.lock:
                    rep.bad_handshakes += md.get('extra', {}).get('bad_handshakes', 0)
            cell = '%s %s' % (sc, '%.1fs' % md['seconds'] if md else 'CRASH')
            if ref is not None and (sc in COMPARED or opts.validate) and sc not in ('transports',):
                refres, rproblem = run_script(interp, sc, ref.addresses, 'cpython')
                # the checks must hold on CPython too (except managerd-only ones)
                rep.absorb(prefix + ' [CPython server]', refres, rproblem, out)
                if sc in COMPARED and md is not None and refres is not None:
                    n, diff = compare(interp, sc, md, refres)
                    if diff:
                        rep.count(out, '%s: %d steps same as CPython\'s server' % (prefix, n), False,
                                  'diff (- CPython, + managerd):\n' + '\n'.join(diff[:80]))
                    else:
                        rep.count(out, '%s: %d steps same as CPython\'s server' % (prefix, n), True)
                    cell += '/%.1fs' % refres['seconds']
            line.append(cell)
    except TestFailure as e:
        rep.count(out, '%s: servers started' % interp.name, False, str(e))
    finally:
        if ref is not None:
            ref.stop()
        if priv is not None:
            problems = priv.stop_check()
            rep.count(out, '%s: private managerd exited 0 on SIGTERM' % interp.name, not problems,
                      '\n'.join(problems))
            priv.cleanup()
    with rep.lock:
        sys.stdout.write('== %s (%s) %.0fs: %s\n' % (interp.name, interp.path, time.time() - t0, ', '.join(line)))
        sys.stdout.write(out.getvalue())
        sys.stdout.flush()


def cross_phase(opts, rep, interps, shared, pool):
    """Every interpreter writes, then every one reads everyone's values."""
    tags = [i.name + '@' + str(n) for n, i in enumerate(interps)]
    out = io.StringIO()

    def run(interp, tag, role):
        res, problem = run_script(interp, 'cross', [shared.address('tcp')], 'managerd',
                                  ['--role', role, '--tag', tag, '--tags', ','.join(tags)])
        rep.absorb('%s cross-%s' % (interp.name, role), res, problem, out)
    for role in ('write', 'read'):
        list(pool.map(lambda it: run(it[0], it[1], role), zip(interps, tags)))
    newest = mdtest.newest_python3(interps) or interps[-1]
    run(newest, 'drain', 'drain')
    sys.stdout.write('== cross-interpreter values (%d interpreters)\n' % len(interps))
    sys.stdout.write(out.getvalue())


def failed_handshakes_logged(log):
    """Failed handshakes the log accounts for: one line each, or counted in
    a later line's '(and N similar lines suppressed)' (the log is rate-limited)."""
    lines = [l for l in log.splitlines() if 'authentication failed' in l]
    suppressed = [re.search(r'\(and (\d+) similar lines suppressed\)', l) for l in lines]
    return len(lines), len(lines) + sum(int(m.group(1)) for m in suppressed if m)


def auth_log_check(rep, shared, out):
    """A wrong key costs one log line (rate-limited: at most MD_LOG_BURST a
    second, the rest counted in the next line); every one is accounted for."""
    log0 = shared.log_text()
    nlines, _ = failed_handshakes_logged(log0)
    rep.count(out, 'managerd logged the failed handshakes of the transports scenario',
              0 < nlines <= rep.bad_handshakes,
              '%d "authentication failed" lines, %d failed handshakes' % (nlines, rep.bad_handshakes))
    # The log's rate limit (MD_LOG_BURST lines a MD_LOG_WINDOW_MS) may
    # still be holding back the scenario's own failures: wait out its
    # window, so that the next failure is written at once.
    time.sleep(1.2)
    n0 = len(shared.log_text().splitlines())
    addr = mdtest.python_address(shared.address('tcp'))
    try:
        multiprocessing.connection.Client(addr, authkey=b'wrong key')
        refused = False
    except multiprocessing.AuthenticationError:
        refused = True
    rep.count(out, 'wrong authkey refused (Python %d.%d client)' % sys.version_info[:2], refused)
    mdtest_wait = time.time() + 3 * SLOW
    while len(shared.log_text().splitlines()) == n0 and time.time() < mdtest_wait:
        time.sleep(0.05)
    time.sleep(0.2)
    new = shared.log_text().splitlines()[n0:]
    rep.count(out, 'one log line for one failed handshake', len(new) == 1, 'new lines: %r' % new)
    _, total = failed_handshakes_logged(shared.log_text())
    rep.count(out, 'every failed handshake is accounted for in the log',
              total == rep.bad_handshakes + 1, '%d logged, %d failed' % (total, rep.bad_handshakes + 1))
    # and it still serves
    c = mdtest.RawConn(addr, KEY)
    rep.count(out, 'serving after the failed handshake', c.call(None, 'dummy') == ('#RETURN', None))
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--managerd', required=True)
    ap.add_argument('--scenarios', default=','.join(SCENARIOS))
    ap.add_argument('--jobs', type=int, default=int(os.environ.get('MD_INTEROP_JOBS', '3')))
    ap.add_argument('--validate', action='store_true',
                    help='also run every scenario\'s checks against CPython\'s server')
    ap.add_argument('--python', action='append', default=[],
                    help='use this interpreter (repeatable) instead of every one found')
    opts = ap.parse_args()
    opts.managerd = os.path.abspath(opts.managerd)
    opts.scenarios = [s for s in opts.scenarios.split(',') if s]
    unknown = [s for s in opts.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error('unknown scenario(s) %s; known: %s' % (unknown, SCENARIOS))
    if opts.python:
        os.environ['MD_TEST_PYTHONS'] = ' '.join(opts.python)
    rep = Reporter()
    rep.bad_handshakes = 0
    out = io.StringIO()
    t0 = time.time()
    interps = mdtest.find_interpreters()
    print('interpreters: %s' % ', '.join('%s (%s)' % (i.name, i.path) for i in interps))
    print('managerd: %s%s' % (opts.managerd, (' under ' + ' '.join(mdtest.WRAPPER)) if mdtest.WRAPPER else ''))
    if not interps:
        rep.count(out, 'found Python interpreters', False, 'no python2.7/python3.X found')
    else:
        # the suite promises 2.7 and 3.6-3.13: a missing one is a failure
        for want in mdtest.pythons.missing(interps):
            rep.count(out, 'interpreter %d.%d present' % want, False)
    shared = None
    try:
        shared = Managerd(opts.managerd, ['tcp', 'unix', 'abstract'], KEY, args=SHARED_ARGS,
                          key_via='env', name='managerd (shared)').start()
        print('shared managerd: %s' % ' '.join(shared.addresses))
        sys.stdout.flush()
        with concurrent.futures.ThreadPoolExecutor(max(1, opts.jobs)) as pool:
            futs = [pool.submit(interp_job, opts, rep, i, shared) for i in interps]
            for f in futs:
                f.result()
            if 'cross' in opts.scenarios and interps:
                cross_phase(opts, rep, interps, shared, pool)
        if 'transports' in opts.scenarios:
            try:
                auth_log_check(rep, shared, out)
            except (OSError, mdtest.Closed) as e:
                rep.count(out, 'failed-handshake log check ran', False, repr(e))
        rep.count(out, 'shared managerd alive after every client', shared.alive())
    except TestFailure as e:
        rep.count(out, 'shared managerd started', False, str(e))
    finally:
        if shared is not None:
            sock = mdtest.python_address(shared.address('unix')) if shared.addresses else None
            problems = shared.stop_check()
            rep.count(out, 'shared managerd exited 0 on SIGTERM', not problems, '\n'.join(problems))
            if sock:
                rep.count(out, 'Unix socket file removed at exit', not os.path.exists(sock), sock)
            shared.cleanup()
    sys.stdout.write(out.getvalue())
    print('interop: %.0fs' % (time.time() - t0))
    if rep.tally.failures:
        print('failed: ' + '; '.join(rep.tally.failures[:40]) + (' ...' if len(rep.tally.failures) > 40 else ''))
    print(rep.tally.summary())
    return 0 if rep.tally.failed == 0 and rep.tally.passed > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
