"""xtest - the test-side helpers of the XML-RPC tests (Python 3 only).

Starts managerd with any listeners (http:// ones included), reads the
addresses it prints, waits for readiness with a bounded loop and stops it
with SIGTERM insisting on exit status 0; starts CPython's own manager server
with serializer='xmlrpclib' (xml_refserver.py) of a given interpreter; finds
every Python interpreter; counts passed and failed checks.

Environment: MD_SERVER_WRAPPER (a command prefix for managerd, e.g.
valgrind ...) and MD_XMLRPC_PYTHONS (interpreters to use instead of the
ones found).
"""
import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get('top_srcdir') or os.path.dirname(os.path.dirname(HERE))
TOP_BUILDDIR = os.environ.get('top_builddir') or TOP_SRCDIR
WRAPPER = shlex.split(os.environ.get('MD_SERVER_WRAPPER', ''))
SLOW = 20.0 if WRAPPER else 1.0
LISTEN_RE = re.compile(r'^managerd: listening on (\S+)\s*$')
KEY = b'xmlrpc-test-key'


class TestFailure(Exception):
    """The harness could not do its job (a server did not start...)."""


class Tally(object):
    """Counts passed and failed checks; prints each failure as it comes."""

    def __init__(self, prefix=''):
        self.passed = 0
        self.failed = 0
        self.prefix = prefix
        self.lock = threading.Lock()

    def ok(self, name, cond, detail=''):
        with self.lock:
            if cond:
                self.passed += 1
            else:
                self.failed += 1
                text = '%sFAIL: %s' % (self.prefix, name)
                if detail:
                    text += '\n    ' + str(detail).replace('\n', '\n    ')
                print(text)
                sys.stdout.flush()
        return bool(cond)

    def eq(self, name, got, want):
        return self.ok(name, got == want, 'got  %r\nwant %r' % (got, want))

    def summary(self):
        return '%d passed, %d failed' % (self.passed, self.failed)

    def finish(self):
        print(self.summary())
        sys.stdout.flush()
        return 0 if self.failed == 0 and self.passed > 0 else 1


# ---- interpreters -------------------------------------------------------------

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


def interpreters():
    """[(version tuple, path)] of every interpreter in $(pyenv root)/versions,
    oldest first; MD_XMLRPC_PYTHONS overrides."""
    if os.environ.get('MD_XMLRPC_PYTHONS'):
        cands = os.environ['MD_XMLRPC_PYTHONS'].split()
    else:
        cands = sorted(glob.glob(os.path.join(pyenv_root(), 'versions', '*', 'bin', 'python')))
    found = []
    for c in cands:
        try:
            out = subprocess.run([c, '-c', 'import sys; print("%d %d %d" % sys.version_info[:3])'],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            found.append((tuple(int(x) for x in out.stdout.split()), c))
    return sorted(found)


# ---- processes ------------------------------------------------------------------

class _Reader(threading.Thread):
    """Collects a child's stdout lines so its pipe never fills."""

    def __init__(self, stream):
        threading.Thread.__init__(self, daemon=True)
        self.stream = stream
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.start()

    def run(self):
        for raw in iter(self.stream.readline, b''):
            with self.cond:
                self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, pred, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.lines) and not self.eof:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            return pred(self.lines)


def host_port(address):
    """'tcp://H:P', 'H:P' or 'http://H:P/PATH' -> (H, P)."""
    a = address.split('?', 1)[0]
    for scheme in ('tcp://', 'http://'):
        if a.startswith(scheme):
            a = a[len(scheme):]
    a = a.split('/', 1)[0]
    host, port = a.rsplit(':', 1)
    return host.strip('[]'), int(port)


class Managerd(object):
    """One managerd; listen is a list of --listen specs, args extra options."""

    def __init__(self, listen, args=(), authkey=KEY, exe=None):
        self.exe = exe or os.path.join(TOP_BUILDDIR, 'managerd')
        self.listen = list(listen)
        self.args = list(args)
        self.authkey = authkey
        self.tmp = tempfile.mkdtemp(prefix='md-xmlrpc-')
        self.log_path = os.path.join(self.tmp, 'managerd.log')
        self.proc = None
        self.addresses = []

    def start(self):
        if not os.path.exists(self.exe):
            raise TestFailure('%s not found (build managerd first)' % self.exe)
        cmd = list(WRAPPER) + [self.exe]
        for spec in self.listen:
            cmd += ['--listen', spec]
        cmd += self.args
        env = dict(os.environb)
        env[b'MANAGERD_AUTHKEY'] = self.authkey
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env)
        self.reader = _Reader(self.proc.stdout)
        want = len(self.listen)
        if not self.reader.wait_for(lambda ls: sum(1 for l in ls if LISTEN_RE.match(l)) >= want,
                                    15 * SLOW):
            rc = self.proc.poll()
            self.kill()
            raise TestFailure('managerd did not print %d listening lines (exit %r): %r\n%s'
                              % (want, rc, self.reader.lines, self.log_tail()))
        self.addresses = [LISTEN_RE.match(l).group(1) for l in self.reader.lines
                          if LISTEN_RE.match(l)]
        end = time.monotonic() + 15 * SLOW
        for a in self.addresses:            # bounded: every port accepts
            while True:
                try:
                    socket.create_connection(host_port(a), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > end or self.proc.poll() is not None:
                        self.kill()
                        raise TestFailure('managerd not accepting on %s\n%s' % (a, self.log_tail()))
                    time.sleep(0.05)
        return self

    def http_url(self, password=None, user='test'):
        """The XML-RPC URL with HTTP Basic credentials (password: the key)."""
        a = [x for x in self.addresses if x.startswith('http://')][0]
        pw = (self.authkey.decode() if password is None else password)
        return a.replace('http://', 'http://%s:%s@' % (user, pw), 1) if pw is not False else a

    def tcp(self, index):
        """The index-th tcp listener as (host, port)."""
        return host_port([x for x in self.addresses if not x.startswith('http://')][index])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        """SIGTERM; returns a list of problems (empty: exit status 0)."""
        if self.proc is None:
            return []
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.kill()
                rc = None
        else:
            rc = self.proc.returncode
        self.log.close()
        if rc != 0:
            problems.append('managerd exit status %r after SIGTERM\n%s' % (rc, self.log_tail()))
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def log_tail(self, n=30):
        try:
            with open(self.log_path, 'rb') as f:
                return '\n'.join(f.read().decode('utf-8', 'replace').splitlines()[-n:])
        except OSError:
            return ''


class RefServer(object):
    """CPython's own manager server with serializer='xmlrpclib' (or pickle),
    run by a given interpreter (xml_refserver.py)."""

    def __init__(self, python, serializer='xmlrpclib', share=(), authkey=KEY):
        self.python = python
        self.cmd = [python, os.path.join(HERE, 'xml_refserver.py'), serializer]
        for s in share:
            self.cmd.append(s)
        self.authkey = authkey
        self.proc = None

    def start(self):
        env = dict(os.environb)
        env[b'MANAGERD_AUTHKEY'] = self.authkey
        env[b'PYTHONDONTWRITEBYTECODE'] = b'1'
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, env=env)
        self.reader = _Reader(self.proc.stdout)
        pat = re.compile(r'^refserver: listening on (\S+)')
        if not self.reader.wait_for(lambda ls: any(pat.match(l) for l in ls), 30):
            self.stop()
            self.err.seek(0)
            raise TestFailure('CPython server (%s) did not start: %s'
                              % (self.python, self.err.read().decode('utf-8', 'replace')[-2000:]))
        self.address = [pat.match(l).group(1) for l in self.reader.lines if pat.match(l)][0]
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_client(python, script, args, timeout=120, env_extra=None):
    """Run a client script; returns (status, stdout text, stderr text)."""
    env = dict(os.environ)
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    env.pop('PYTHONPATH', None)
    if env_extra:
        env.update(env_extra)
    try:
        p = subprocess.run([python, os.path.join(HERE, script)] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout * SLOW, env=env)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b'').decode('utf-8', 'replace'), 'timed out after %ss' % timeout
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def main_wrapper(fn):
    """Run fn(tally); any harness exception is one failure; exit status."""
    t = Tally()
    try:
        fn(t)
    except TestFailure as e:
        t.ok('harness', False, str(e))
    except Exception:                       # a bug in the test itself: still a failure
        import traceback
        t.ok('test crashed', False, traceback.format_exc())
    sys.exit(t.finish())
