"""xtest - the test-side helpers of the XML-RPC tests (Python 3 only).

Starts managerd with any listeners (http:// ones included), reads the
addresses it prints, waits for readiness with a bounded loop and stops it
with SIGTERM insisting on exit status 0; starts CPython's own manager server
with serializer='xmlrpclib' (tests/lib/refserver.py) of a given interpreter
(tests/lib/procs.py); re-exports the interpreter finder (tests/lib/pythons.py)
and the tally (tests/lib/tally.py).

Environment: MD_SERVER_WRAPPER (a command prefix for managerd, e.g.
valgrind ...) and MD_TEST_PYTHONS (interpreters to use instead of the
ones found, tests/lib/pythons.py).
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import procs                        # noqa: E402
import pythons                      # noqa: E402
from pythons import pyenv_root      # noqa: E402,F401
from tally import Tally             # noqa: E402,F401
TOP_SRCDIR = os.environ.get('top_srcdir') or os.path.dirname(os.path.dirname(HERE))
TOP_BUILDDIR = os.environ.get('top_builddir') or TOP_SRCDIR
WRAPPER = shlex.split(os.environ.get('MD_SERVER_WRAPPER', ''))
SLOW = 20.0 if WRAPPER else 1.0
LISTEN_RE = re.compile(r'^managerd: listening on (\S+)\s*$')
KEY = b'xmlrpc-test-key'


TestFailure = procs.HarnessFailure


def interpreters():
    """[(version tuple, path)] of every interpreter tests/lib/pythons.py
    finds, oldest first."""
    return [(i.version, i.path) for i in pythons.find_interpreters()]


# ---- processes ------------------------------------------------------------------

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
        self.reader = procs.LineReader(self.proc.stdout)
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


class RefServer(procs.RefServer):
    """CPython's own manager server with serializer='xmlrpclib' (or pickle),
    run by a given interpreter (tests/lib/refserver.py)."""

    def __init__(self, python, serializer='xmlrpclib', share=(), authkey=KEY):
        env = dict(os.environb)
        env[b'PYTHONDONTWRITEBYTECODE'] = b'1'
        cmd = procs.refserver_cmd(python, authkey, share=share, serializer=serializer)
        procs.RefServer.__init__(self, cmd, env=env, failure=TestFailure,
                                 what='CPython server')
        self.authkey = authkey


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
