"""pythons - the one place the tests find Python interpreters (Python 3).

Every interpreter under $(pyenv root)/versions/*/bin/python and every
python2.7 / python3.X / python3 / $PYTHON on PATH, each real interpreter once (told apart by
the real path of sys.executable, so a pyenv shim and the version it points
to count once), oldest first.

MD_TEST_PYTHONS (space-separated interpreters) replaces the search (the
drivers' --python options set it; make check-fast sets it to one).

A missing interpreter is a failure, never a skip, and the same one in
every driver: the suite promises 2.7 and 3.6-3.13 (PROMISED; missing()
names those not found, none when MD_TEST_PYTHONS chose the
interpreters), and require() raises Missing for one a test cannot run
without.

Run as a program it prints one "X.Y REALPATH" line per interpreter, for
the shell tests (tests/pickle/common.sh), and exits 1 naming the missing
ones on stderr.
"""
import glob
import os
import shutil
import subprocess
import sys

OVERRIDE = 'MD_TEST_PYTHONS'


def pyenv_root():
    exe = shutil.which('pyenv')
    if exe:
        try:
            out = subprocess.run([exe, 'root'], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=20)
            root = out.stdout.decode().strip()
            if root:
                return root
        except (OSError, subprocess.TimeoutExpired):
            pass
    return os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))


class Interp(object):
    def __init__(self, path, version, real):
        self.path = path
        self.version = version          # (major, minor, micro)
        self.real = real

    @property
    def name(self):
        return 'python%d.%d.%d' % self.version

    def __repr__(self):
        return '%s (%s)' % (self.name, self.path)


def _probe(path):
    code = ('import sys, os; '
            'print("%d %d %d" % tuple(sys.version_info[:3])); '
            'print(os.path.realpath(sys.executable))')
    try:
        out = subprocess.run([path, '-c', code], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.decode(errors='replace').split('\n')
    if out.returncode != 0 or len(lines) < 2:
        return None
    return Interp(path, tuple(int(x) for x in lines[0].split()), lines[1].strip())


def _candidates():
    if os.environ.get(OVERRIDE):
        return os.environ[OVERRIDE].split()
    cands = sorted(glob.glob(os.path.join(pyenv_root(), 'versions', '*', 'bin', 'python')))
    names = ['python2.7'] + ['python3.%d' % i for i in range(6, 20)] + ['python3']
    if os.environ.get('PYTHON'):
        names.append(os.environ['PYTHON'])
    for name in names:
        exe = shutil.which(name)
        if exe:
            cands.append(exe)
    return cands


def find_interpreters():
    """Every distinct interpreter (Interp objects), oldest first."""
    seen = {}
    for c in _candidates():
        it = _probe(c)
        if it is None or it.real in seen:
            continue
        seen[it.real] = it
    return sorted(seen.values(), key=lambda i: (i.version, i.path))


PROMISED = [(2, 7)] + [(3, minor) for minor in range(6, 14)]


class Missing(Exception):
    """An interpreter the tests need is not on this machine."""


def missing(interps=None):
    """The (major, minor) of PROMISED that no interpreter found has; none
    when MD_TEST_PYTHONS chose the interpreters."""
    if os.environ.get(OVERRIDE):
        return []
    interps = interps if interps is not None else find_interpreters()
    have = set(i.version[:2] for i in interps)
    return [v for v in PROMISED if v not in have]


def require(interps, version=None):
    """The interpreter of version (major, minor), or the newest 3.x when
    version is None; raises Missing naming what was looked for."""
    if version is None:
        found = newest_python3(interps)
    else:
        found = ([i for i in interps if i.version[:2] == tuple(version)] or [None])[-1]
    if found is None:
        raise Missing('no Python %s interpreter found (pyenv root or PATH%s)'
                      % ('3' if version is None else '%d.%d' % tuple(version),
                         ', MD_TEST_PYTHONS' if os.environ.get(OVERRIDE) else ''))
    return found


def newest_python3(interps=None):
    interps = interps if interps is not None else find_interpreters()
    py3 = [i for i in interps if i.version[0] == 3]
    return py3[-1] if py3 else None


def by_minor(interps=None):
    """{'X.Y': path}: the last interpreter found of each X.Y."""
    interps = interps if interps is not None else find_interpreters()
    return dict(('%d.%d' % i.version[:2], i.path) for i in interps)


if __name__ == '__main__':
    found = find_interpreters()
    for i in found:
        sys.stdout.write('%d.%d %s\n' % (i.version[0], i.version[1], i.real))
    lacking = missing(found)
    if lacking:
        sys.stderr.write('missing Python interpreters: %s\n'
                         % ' '.join('%d.%d' % v for v in lacking))
        sys.exit(1)
