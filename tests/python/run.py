#!/usr/bin/env python3
"""The managerd Python package against every Python found (2.7, 3.6-3.13).

For each interpreter:
  1. install:  pip install --no-index --no-build-isolation --target TMP
               clients/python (offline, no setuptools or wheel needed);
  2. unit:     tests/python/test_managerd.py against that installed copy;
  3. run:      each program of tests/python/programs, and the documentation's
               examples of tests/cpython/docs_examples (the one copy both
               harnesses run) as written, under plain `python` and under
               `python -m managerd run`: same stdout and exit status,
               managers served by managerd (tests/python/probe counts the
               ones CPython served), nothing left behind.
Prints one line per check and 'N passed, M failed' last; exits 1 on any
failure.  Usage: run.py --managerd BUILD/managerd [--python PY]...
"""
import argparse
import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, 'tests', 'interop'))
import mdtest  # noqa: E402  (find_interpreters)

DOCS_EXAMPLES = os.path.join(TOP, 'tests', 'cpython', 'docs_examples')
# The documentation's examples run here: name -> (managers CPython serves
# under `managerd run`, the lowest Python). They start their managers as
# written when docconnect sees MD_DOC_START=1; the proxies they print show
# addresses, which differ from run to run (ADDR_RE).
DOCS = {
    'server_process.py': (0, (2, 7)),
    'customized_manager.py': (1, (3, 3)),     # a BaseManager starts in `with` since 3.3
    'proxy_nested.py': (0, (3, 6)),           # 2.7's server stores a copy
    'proxy_nested_dicts.py': (0, (3, 6)),
}
ADDR_RE = re.compile(r'0x[0-9a-fA-F]+')

STEP_TIMEOUT = 600           # seconds for one pip install or unit run
PROGRAM_TIMEOUT = 120        # seconds for one program run
LEFTOVER_DEADLINE = 5.0      # seconds for daemons to go after a run


class Report(object):
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=''):
        if ok:
            self.passed += 1
            print('PASS %s' % name)
        else:
            self.failed += 1
            print('FAIL %s\n%s' % (name, detail.rstrip()))
        sys.stdout.flush()


def run(argv, env, timeout, cwd=None):
    try:
        p = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired as e:
        return 'timeout', (e.stdout or b'').decode('utf-8', 'replace'), \
            (e.stderr or b'').decode('utf-8', 'replace')


def base_env(managerd, site, tmpdir):
    env = dict(os.environ)
    for name in ('PYTHONPATH', 'PYTHONHOME', 'MANAGERD_RUN_ADDRESS', 'MANAGERD_RUN_AUTHKEY'):
        env.pop(name, None)
    env.update(MANAGERD=managerd, PYTHONPATH=site, TMPDIR=tmpdir, PYTHONDONTWRITEBYTECODE='1')
    return env


def processes_mentioning(text):
    """Pids of processes whose command line contains text (our TMPDIR)."""
    found = []
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            with open(path, 'rb') as f:
                if text.encode() in f.read():
                    found.append(int(path.split('/')[2]))
        except OSError:
            pass
    return found


def no_leftovers(tmpdir):
    deadline = time.time() + LEFTOVER_DEADLINE
    while time.time() < deadline:
        procs = processes_mentioning(tmpdir)
        files = os.listdir(tmpdir)
        if not procs and not files:
            return ''
        time.sleep(0.05)
    return 'left behind: processes %s, files %s' % (procs, files)


def writable_copy(work):
    """clients/python copied where pip may write: pip 18 and 19 (Pythons 3.6
    and 2.7) write their metadata inside the tree they build, and make
    distcheck makes the source tree read-only."""
    src = os.path.join(work, 'src')
    shutil.copytree(os.path.join(TOP, 'clients', 'python'), src,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    for top, dirs, files in os.walk(src):
        for name in dirs + files:
            path = os.path.join(top, name)
            os.chmod(path, os.stat(path).st_mode | 0o200)
    os.chmod(src, 0o700)
    return src


def install(rep, interp, work):
    site = os.path.join(work, 'site')
    status, out, err = run([interp.path, '-m', 'pip', 'install', '--no-index',
                            '--no-build-isolation', '--disable-pip-version-check', '--no-cache-dir',
                            '--target', site, writable_copy(work)],
                           dict(os.environ), STEP_TIMEOUT)
    ok = status == 0 and os.path.isfile(os.path.join(site, 'managerd', '__init__.py'))
    rep.check('%s install offline' % interp.name, ok, out + err)
    return site if ok else None


def unit(rep, interp, managerd, site, work):
    tmpdir = os.path.join(work, 'tmp-unit')
    os.mkdir(tmpdir)
    status, out, err = run([interp.path, os.path.join(HERE, 'test_managerd.py')],
                           base_env(managerd, site, tmpdir), STEP_TIMEOUT)
    ran = re.search(r'Ran (\d+) tests', err)
    ok = status == 0 and ran and int(ran.group(1)) > 0
    rep.check('%s unit tests (%s)' % (interp.name, ran.group(0) if ran else 'none ran'),
              ok, err[-6000:])
    left = no_leftovers(tmpdir)
    rep.check('%s unit tests leave nothing behind' % interp.name, not left, left)


def program_specs(version):
    """(path, args, CPython-served managers expected under run, whether
    stderr is compared too, whether it is a documentation example) for
    this version."""
    specs = [(os.path.join(DOCS_EXAMPLES, name), [], starts, False, True)
             for name, (starts, low) in sorted(DOCS.items()) if version[:2] >= low]
    for path in sorted(glob.glob(os.path.join(HERE, 'programs', '*.py'))):
        with open(path) as f:
            head = f.read(2000)
        starts = re.search(r'^# cpython-starts: (\d+)', head, re.M)
        if not starts:
            continue                     # a helper module, not a program
        low = re.search(r'^# min-python: (\d+)\.(\d+)', head, re.M)
        if low and version[:2] < (int(low.group(1)), int(low.group(2))):
            continue
        stderr_too = bool(re.search(r'^# compare-stderr: yes', head, re.M))
        argsets = re.search(r'^# args: (.*)$', head, re.M)
        variants = [a.split() for a in argsets.group(1).split('|')] if argsets else [[]]
        if version[0] == 2 or version[:2] < (3, 4):
            variants = [v for v in variants if not v or v == ['fork']] or [[]]
        for args in variants:
            specs.append((path, args, int(starts.group(1)), stderr_too, False))
    return specs


def same_values(a, b):
    """Python 2.7 prints a dict in its hash order, managerd keeps insertion
    order (as every Python 3 does): on 2.7 lines that are Python literals
    are compared as values.  A known difference, in NOTES-pypkg.md."""
    la, lb = a.splitlines(), b.splitlines()
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb):
        if x != y:
            try:
                if ast.literal_eval(x) != ast.literal_eval(y):
                    return False
            except (ValueError, SyntaxError):
                return False
    return True


def probe_starts(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return len(f.read().splitlines())


def run_programs(rep, interp, managerd, site, work):
    site = site + os.pathsep + os.path.join(HERE, 'probe')
    for n, (path, args, want_starts, stderr_too, doc) in enumerate(program_specs(interp.version)):
        name = '%s run %s %s' % (interp.name, os.path.basename(path), ' '.join(args))
        results = {}
        for mode, prefix in (('plain', []), ('managerd', ['-m', 'managerd', 'run'])):
            tmpdir = os.path.join(work, 'tmp-%d-%s' % (n, mode))
            os.mkdir(tmpdir)
            env = base_env(managerd, site, tmpdir)
            env['MANAGERD_TEST_PROBE'] = os.path.join(work, 'probe-%d-%s' % (n, mode))
            if doc:
                env['MD_DOC_START'] = '1'
            status, out, err = run([interp.path] + prefix + [path] + args, env,
                                   PROGRAM_TIMEOUT, cwd=work)
            if doc:
                out = ADDR_RE.sub('0x...', out)
            results[mode] = (status, out, err, probe_starts(env['MANAGERD_TEST_PROBE']),
                             no_leftovers(tmpdir))
        plain, served = results['plain'], results['managerd']
        detail = 'plain: %r\nmanagerd run: %r' % (plain[:4], served[:4])
        same = plain[1] == served[1] or (interp.version[0] == 2 and same_values(plain[1], served[1]))
        if stderr_too:
            same = same and plain[2] == served[2]
        rep.check(name + ': same output and status', plain[0] == served[0] and same and plain[1],
                  detail)
        rep.check(name + ': managerd served all but %d manager(s)' % want_starts,
                  served[3] == want_starts and plain[3] >= 1, detail)
        rep.check(name + ': nothing left behind', not served[4] and not plain[4],
                  served[4] + plain[4])


POOL_PROGRAM = '''
import multiprocessing as mp
if __name__ == '__main__':
    m = mp.Manager()
    try:
        m.Pool(2)
    except NotImplementedError as e:
        print('refused: %s' % e)
'''


def run_pool_refusal(rep, interp, managerd, site, work):
    tmpdir = os.path.join(work, 'tmp-pool')
    os.mkdir(tmpdir)
    prog = os.path.join(work, 'pool_program.py')
    with open(prog, 'w') as f:
        f.write(POOL_PROGRAM)
    status, out, err = run([interp.path, '-m', 'managerd', 'run', prog],
                           base_env(managerd, site, tmpdir), PROGRAM_TIMEOUT)
    rep.check('%s run: a manager Pool is refused naming Pool' % interp.name,
              status == 0 and out.startswith('refused: managerd cannot serve Pool'), out + err)


def interp_job(interp, managerd):
    rep = Report()
    work = tempfile.mkdtemp(prefix='pypkg-test-')
    try:
        site = install(rep, interp, work)
        if site:
            unit(rep, interp, managerd, site, work)
            run_programs(rep, interp, managerd, site, work)
            run_pool_refusal(rep, interp, managerd, site, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--managerd', required=True)
    ap.add_argument('--python', action='append', default=[])
    ap.add_argument('--jobs', type=int, default=2)
    opts = ap.parse_args()
    if opts.python:
        os.environ['MD_TEST_PYTHONS'] = ' '.join(opts.python)
    managerd = os.path.abspath(opts.managerd)
    interps = mdtest.find_interpreters()
    if not interps or not os.access(managerd, os.X_OK):
        print('no Python found or no managerd at %s' % managerd)
        print('0 passed, 1 failed')
        return 1
    print('Pythons: %s' % ', '.join(i.name for i in interps))
    total = Report()
    with ThreadPoolExecutor(opts.jobs) as pool:
        for rep in pool.map(lambda i: interp_job(i, managerd), interps):
            total.passed += rep.passed
            total.failed += rep.failed
    print('%d passed, %d failed' % (total.passed, total.failed))
    return 1 if total.failed else 0


if __name__ == '__main__':
    sys.exit(main())
