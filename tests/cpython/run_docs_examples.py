#!/usr/bin/env python3
"""run_docs_examples.py - the manager examples of Python's multiprocessing
documentation, run against managerd and against CPython's own server.

    python3 tests/cpython/run_docs_examples.py --managerd PATH [--python EXE]...

Every program in docs_examples/ is an example of the documentation
("Managers", "Customized managers", "Using a remote manager", "Proxy
Objects", "Examples") as written, except that it reaches its server through
docconnect.py. For every Python 3.6 to 3.13 found, each COMPARED example
runs once against a managerd and once against CPython's server of the same
Python (tests/lib/refserver.py), both with the documentation's key
b'abracadabra' and a shared 'get_queue' Queue; exit status, standard output
and the last line of standard error must be the same, after replacing
object addresses (0x...) and managed-object idents, which are random.
With the newest Python, each compared example also runs as written (its
own multiprocessing.Manager(), MD_DOC_START=1) and must print what it
prints connected to CPython's server: connecting changes nothing else.
The SharedMemoryManager examples of multiprocessing.shared_memory's page
(SHM, Python 3.8+) are compared in the same way with CPython's own
SharedMemoryServer (refserver.py --shm); segment names (psm_...) are random
too. A connected client's segments are also registered with its own
resource tracker, which unlinks them and warns at exit against both
servers (the program as written shares its tracker with the server it
starts): for them, the as-written run compares standard output only.
The SERVER_CODE examples register Python classes or functions, which only
a CPython server can run: they run as written with CPython's own server
(MD_DOC_START=1) and must print what the documentation says, and against
managerd they must fail with a RemoteError that names the refused typeid.

Differences known today are listed as 'docs:NAME VERSIONS' in
known_gaps.txt (a listed example that matches is an error, so the list
stays exact). Exit status 0 when everything is as expected; the last line
is 'N passed, M failed'.
"""
import argparse
import binascii
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, 'docs_examples')
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'interop'))
sys.path.insert(0, HERE)
os.environ['PYTHONDONTWRITEBYTECODE'] = '1'

import mdtest                                   # noqa: E402
from mdtest import Managerd, RefServer, SLOW, TestFailure   # noqa: E402
from run_cpython_tests import load_expectations, match      # noqa: E402

KEY = b'abracadabra'                 # the documentation's key
SHARE = ['get_queue=Queue']
COMPARED = ['server_process.py', 'namespace.py', 'remote_manager.py', 'proxy_list.py',
            'proxy_nested.py', 'proxy_nested_dicts.py', 'proxy_mutable.py',
            'proxy_compare.py', 'callmethod.py']
# name -> (typeid managerd must refuse, what the documentation prints)
SERVER_CODE = {
    'customized_manager.py': ('Maths', '7\n56\n'),
    'mp_newtype.py': ('Foo1', None),
}
# Compared examples that cannot run as written (a server program runs them).
NEEDS_SERVER = {'remote_manager.py'}
# SharedMemoryManager examples (3.8+): their reference server is CPython's
# SharedMemoryServer (refserver.py --shm), which refserver.py's SyncManager is
# not.
SHM = ['shm_manager_basics.py', 'shm_manager_with.py']
RUN_TIMEOUT = 60 * SLOW
ADDR_RE = re.compile(r'0x[0-9a-fA-F]+')
IDENT_RE = re.compile(r"'[0-9a-f]{12}'")
SHM_NAME_RE = re.compile(r'psm_[0-9a-f_]+')       # a shared memory segment's random name


def run_example(interp, name, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    env['PYTHONPATH'] = EXAMPLES
    try:
        p = subprocess.run([interp.path, os.path.join(EXAMPLES, name)], cwd=EXAMPLES, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, '', 'timed out after %.0f s' % RUN_TIMEOUT
    # The last line that says something (a RemoteError ends in dashes).
    err = [l for l in p.stderr.decode('utf-8', 'replace').split('\n') if l.strip('- ')]
    return p.returncode, p.stdout.decode('utf-8', 'replace'), err[-1] if err else ''


def normalise(result):
    rc, out, err = result
    out, err = (SHM_NAME_RE.sub('psm_...', IDENT_RE.sub("'<ident>'", ADDR_RE.sub('0x...', t)))
                for t in (out, err))
    return rc, out, err


def env_for(addr):
    return {'MD_DOC_ADDRESS': addr.split('://', 1)[-1],
            'MD_DOC_AUTHKEY_HEX': binascii.hexlify(KEY).decode()}


def show(result):
    rc, out, err = result
    return 'exit %r, stdout %r, stderr ends %r' % (rc, out, err)


def check_compared(interp, name, md_env, ref_env, as_written):
    got = normalise(run_example(interp, name, md_env))
    want = normalise(run_example(interp, name, ref_env))
    if want[0] != 0:
        return False, 'fails against CPython\'s server too: ' + show(want)
    if as_written and name not in NEEDS_SERVER:
        # The connected program must print what the program as written
        # prints (multiprocessing.Manager() started by the example itself).
        written = normalise(run_example(interp, name, {'MD_DOC_START': '1'}))
        if written[:2] != want[:2] or (written[2] != want[2] and name not in SHM):
            return False, 'connecting changed the output: as written %s; connected to ' \
                'CPython\'s server %s' % (show(written), show(want))
    if got == want:
        return True, ''
    return False, 'managerd: %s\n      CPython:  %s' % (show(got), show(want))


def check_server_code(interp, name, md_env):
    typeid, doc_out = SERVER_CODE[name]
    ref = run_example(interp, name, {'MD_DOC_START': '1'})
    if ref[0] != 0 or (doc_out is not None and ref[1] != doc_out):
        return False, 'as written with CPython\'s own server: ' + show(ref)
    got = run_example(interp, name, md_env)
    if got[0] != 0 and typeid in got[2]:
        return True, 'refused: ' + got[2]
    return False, 'managerd did not refuse %r clearly: %s' % (typeid, show(got))


def ShmRefServer(interp):
    """CPython's SharedMemoryManager server (refserver.py --shm) run by a
    given interpreter, started."""
    cmd = mdtest.procs.refserver_cmd(interp.path, KEY, shm=True)
    return mdtest.procs.RefServer(cmd, failure=TestFailure,
                                  what='%s refserver.py --shm' % interp.name).start(30 * SLOW)


def run_python(interp, managerd, gaps, as_written):
    version = tuple(interp.version[:2])
    md = Managerd(managerd, listen=['tcp'], authkey=KEY,
                  args=[a for s in SHARE for a in ('--share', s)]).start()
    ref = shm = None
    npass, nfail = 0, 0
    try:
        ref = RefServer(interp.path, authkey=KEY, share=SHARE).start()
        md_env, ref_env = env_for(md.address()), env_for(ref.addresses[0])
        if version >= (3, 8):
            shm = ShmRefServer(interp)
            shm_env = env_for(shm.address)
        shm_examples = SHM if version >= (3, 8) else []
        for name in COMPARED + shm_examples + sorted(SERVER_CODE):
            if name in SERVER_CODE:
                ok, why = check_server_code(interp, name, md_env)
            elif name in SHM:
                ok, why = check_compared(interp, name, md_env, shm_env, as_written)
            else:
                ok, why = check_compared(interp, name, md_env, ref_env, as_written)
            gap = match(gaps, 'docs:' + name, version)
            if ok and gap is None:
                npass += 1
                print('  ok   %s%s' % (name, ' (%s)' % why if why else ''))
            elif not ok and gap is not None:
                npass += 1
                print('  gap  %s (known_gaps.txt): %s' % (name, why))
            elif ok:
                nfail += 1
                print('  FAIL %s now matches: remove it from known_gaps.txt (%s)' % (name, gap['where']))
            else:
                nfail += 1
                print('  FAIL %s: %s' % (name, why))
    finally:
        problems = md.stop_check()
        md.cleanup()
        if ref:
            ref.stop()
        if shm:
            shm.stop()
    for p in problems:
        print('  PROBLEM ' + p)
        nfail += 1
    return npass, nfail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--managerd', required=True)
    ap.add_argument('--python', action='append', default=[])
    opts = ap.parse_args()
    if opts.python:
        os.environ['MD_TEST_PYTHONS'] = ' '.join(opts.python)
    managerd = os.path.abspath(opts.managerd)
    gaps = load_expectations(os.path.join(HERE, 'known_gaps.txt'))
    interps = [i for i in mdtest.find_interpreters() if (3, 6) <= tuple(i.version[:2]) <= (3, 13)]
    if not interps:
        print('no Python 3.6-3.13 found')
        print('0 passed, 1 failed')
        return 1
    npass = nfail = 0
    for interp in interps:
        print('%s:' % interp.name)
        sys.stdout.flush()
        try:
            p, f = run_python(interp, managerd, gaps, interp is interps[-1])
        except TestFailure as e:
            print('  PROBLEM %s' % e)
            p, f = 0, 1
        npass, nfail = npass + p, nfail + f
        sys.stdout.flush()
    print('%d passed, %d failed' % (npass, nfail))
    return 0 if nfail == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
