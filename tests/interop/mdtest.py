"""mdtest - the test-side helpers of the interop suite (Python 3 only).

It starts managerd (TCP port 0, a Unix socket in a temp dir, an abstract
name), reads the addresses managerd prints, waits for readiness with a
bounded loop and stops it with SIGTERM, insisting on exit status 0; it
starts CPython's own manager server of a given interpreter for comparison
runs; it finds every Python interpreter on the machine; and it has a raw
protocol client (framing, the HMAC handshake, pickled requests) for the
fault tests. Scenario scripts, which run under every interpreter from 2.7
on, use clientlib.py instead.

Environment:
  MD_SERVER_WRAPPER   command prefix for managerd (e.g. valgrind ...)
  MD_TEST_PYTHONS     space-separated interpreters to use instead of the
                      ones found (tests/lib/pythons.py)
"""
import binascii
import hashlib
import hmac
import os
import pickle
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import procs                                                  # noqa: E402
import pythons                                                  # noqa: E402,F401
from pythons import Interp, find_interpreters, newest_python3  # noqa: E402,F401
from tally import Tally                                       # noqa: E402,F401
WRAPPER = shlex.split(os.environ.get('MD_SERVER_WRAPPER', ''))
# Everything is slower under a wrapper such as valgrind.
SLOW = 20.0 if WRAPPER else 1.0
LISTEN_RE = re.compile(r'^managerd: listening on (\S+)\s*$')


TestFailure = procs.HarnessFailure


# ---- addresses -------------------------------------------------------------

# python_address: managerd's printed address -> what a Python client
# passes; the scenarios' clientlib.py has the one copy.
from clientlib import python_address                            # noqa: E402,F401


def socket_for(addr):
    """A connected blocking socket for a python_address()."""
    if isinstance(addr, tuple):
        s = socket.create_connection(addr, timeout=10 * SLOW)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10 * SLOW)
    s.connect(addr)
    return s


# ---- processes --------------------------------------------------------------

def _tail(path, n=40):
    try:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', 'replace').splitlines()
        return '\n'.join(lines[-n:])
    except OSError:
        return ''


class Managerd(object):
    """One managerd process.

    listen: list of specs; 'tcp' = 127.0.0.1:0, 'unix' = a socket in a
    temp dir, 'abstract' = a unique abstract name, anything else is passed
    through. The authkey goes through --authkey-file (default) or the
    environment (key_via='env').
    """

    def __init__(self, exe, listen=('tcp',), authkey=b'managerd-interop-key',
                 args=(), key_via='file', name='managerd', limits=None):
        self.exe = exe
        self.limits = dict(limits or {})      # resource.RLIMIT_* -> soft and hard value
        self.authkey = authkey
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix='mdtest-')
        self.specs = []
        for spec in listen:
            if spec == 'tcp':
                spec = '127.0.0.1:0'
            elif spec == 'unix':
                spec = 'unix:' + os.path.join(self.tmp, 'md.sock')
            elif spec == 'abstract':
                spec = 'unix:@mdtest-%d-%s' % (os.getpid(), binascii.hexlify(os.urandom(6)).decode())
            self.specs.append(spec)
        self.args = list(args)
        self.key_via = key_via
        self.log_path = os.path.join(self.tmp, 'managerd.log')
        self.proc = None
        self.addresses = []        # as printed, e.g. 'tcp://127.0.0.1:41234'
        self.exit_status = None

    # -- start/stop
    def command(self):
        cmd = list(WRAPPER) + [self.exe]
        for s in self.specs:
            cmd += ['--listen', s]
        if self.key_via == 'file':
            keyfile = os.path.join(self.tmp, 'authkey')
            fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'wb') as f:
                f.write(self.authkey + b'\n')     # one trailing newline is stripped
            cmd += ['--authkey-file', keyfile]
        return cmd + self.args

    def start(self, timeout=None):
        timeout = timeout or 15 * SLOW
        env = dict(os.environb)                  # bytes: the key need not be text
        env.pop(b'MANAGERD_AUTHKEY', None)
        if self.key_via == 'env':
            env[b'MANAGERD_AUTHKEY'] = self.authkey
        if not os.path.exists(self.exe):
            raise TestFailure('%s not found (build it first)' % self.exe)
        self.log = open(self.log_path, 'wb')
        def preexec():
            import resource
            for res, val in self.limits.items():
                resource.setrlimit(res, (val, val))
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     preexec_fn=preexec if self.limits else None)
        self.reader = procs.LineReader(self.proc.stdout)
        want = len(self.specs)
        ok = self.reader.wait_for(
            lambda ls: sum(1 for l in ls if LISTEN_RE.match(l)) >= want, timeout)
        if not ok:
            rc = self.proc.poll()
            self._kill()
            raise TestFailure('%s did not print %d listening lines within %.0fs '
                              '(exit %r); stdout: %r\nlog:\n%s'
                              % (self.name, want, timeout, rc, self.reader.lines, _tail(self.log_path)))
        self.addresses = [LISTEN_RE.match(l).group(1) for l in self.reader.lines if LISTEN_RE.match(l)]
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout):
        """Bounded loop: every address accepts a connection and speaks first."""
        end = time.monotonic() + timeout
        for a in self.addresses:
            while True:
                try:
                    s = socket_for(python_address(a))
                    s.settimeout(max(0.5, end - time.monotonic()))
                    hdr = _recv_exact(s, 4)
                    s.close()
                    if hdr:
                        break
                except OSError:
                    pass
                if time.monotonic() > end or self.proc.poll() is not None:
                    rc = self.proc.poll()
                    self._kill()
                    raise TestFailure('%s not ready on %s (exit %r)\nlog:\n%s'
                                      % (self.name, a, rc, _tail(self.log_path)))
                time.sleep(0.05)

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=None):
        """SIGTERM; returns the exit status (None when it had to be killed)."""
        if self.proc is None:
            return None
        timeout = timeout or 10 * SLOW
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                self.exit_status = None
        else:
            self.exit_status = self.proc.returncode
        self.log.close()
        return self.exit_status

    def stop_check(self):
        """Stop it and return a list of problems (empty when exit status 0)."""
        st = self.stop()
        if st == 0:
            return []
        if st is None:
            return ['%s did not exit within the timeout after SIGTERM (killed)\nlog:\n%s'
                    % (self.name, _tail(self.log_path))]
        return ['%s exited with status %r after SIGTERM\nlog:\n%s'
                % (self.name, st, _tail(self.log_path, 80))]

    def cleanup(self):
        self._kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_text(self):
        try:
            self.log.flush()
        except (ValueError, OSError):
            pass
        with open(self.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def pid(self):
        return self.proc.pid

    def address(self, kind='tcp'):
        for a in self.addresses:
            if kind == 'tcp' and (a.startswith('tcp://') or not a.startswith('unix:')):
                return a
            if kind == 'abstract' and a.startswith('unix:@'):
                return a
            if kind == 'unix' and a.startswith('unix:') and not a.startswith('unix:@'):
                return a
        raise KeyError(kind)


class RefServer(procs.RefServer):
    """CPython's own manager server, run by a given interpreter
    (tests/lib/refserver.py), which can import this folder's modules
    (userclasses.py) to unpickle what the scenarios send."""

    def __init__(self, python, authkey=b'managerd-interop-key', register=(), share=()):
        cmd = procs.refserver_cmd(python, authkey, register, share)
        path = os.environ.get('PYTHONPATH')
        env = dict(os.environ, PYTHONPATH=HERE + (os.pathsep + path if path else ''))
        procs.RefServer.__init__(self, cmd, env=env, cwd=HERE, failure=TestFailure)
        self.authkey = authkey


# ---- raw protocol client -----------------------------------------------------

def _recv_exact(s, n):
    """n bytes, or fewer if the peer closed."""
    chunks = []
    while n > 0:
        b = s.recv(min(n, 1 << 20))
        if not b:
            break
        chunks.append(b)
        n -= len(b)
    return b''.join(chunks)


def frame(payload):
    return struct.pack('!i', len(payload)) + payload


def long_frame(payload):
    return struct.pack('!iQ', -1, len(payload)) + payload


class Closed(Exception):
    pass


class RawConn(object):
    """A hand-written client of the manager protocol (modern handshake)."""

    def __init__(self, addr, authkey, handshake=True, timeout=None):
        self.addr = addr
        self.key = authkey
        self.sock = socket_for(addr)
        self.sock.settimeout(timeout or 10 * SLOW)
        if handshake:
            self.handshake()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, payload):
        self.sock.sendall(frame(payload))

    def recv(self):
        hdr = _recv_exact(self.sock, 4)
        if len(hdr) < 4:
            raise Closed('connection closed (got %r)' % hdr)
        n, = struct.unpack('!i', hdr)
        if n == -1:
            n, = struct.unpack('!Q', _recv_exact(self.sock, 8))
        data = _recv_exact(self.sock, n)
        if len(data) < n:
            raise Closed('connection closed mid-frame')
        return data

    def is_closed(self, timeout=None):
        """True when the peer closes (EOF or reset) within timeout; bytes
        that arrive first are skipped."""
        end = time.monotonic() + (timeout or 5 * SLOW)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True

    def handshake(self):
        # (1) server challenge, (2) our answer, (3) welcome
        msg = self.recv()
        if not msg.startswith(b'#CHALLENGE#'):
            raise Closed('expected #CHALLENGE#, got %r' % msg[:40])
        body = msg[len(b'#CHALLENGE#'):]
        if body.startswith(b'{sha256}'):
            answer = b'{sha256}' + hmac.new(self.key, body, hashlib.sha256).digest()
        else:
            answer = hmac.new(self.key, body, hashlib.md5).digest()
        self.send(answer)
        w = self.recv()
        if w != b'#WELCOME#':
            raise Closed('handshake step 3: %r' % w)
        # (4) our challenge, (5) server answer, (6) welcome
        m2 = b'{sha256}' + os.urandom(40)
        self.send(b'#CHALLENGE#' + m2)
        a2 = self.recv()
        self.server_answer_form = 'sha256' if a2.startswith(b'{sha256}') else 'raw-%d' % len(a2)
        if len(a2) == 16:                       # a legacy peer answers raw HMAC-MD5
            want = hmac.new(self.key, m2, hashlib.md5).digest()
        else:
            want = b'{sha256}' + hmac.new(self.key, m2, hashlib.sha256).digest()
        if not hmac.compare_digest(a2, want):
            self.send(b'#FAILURE#')
            raise Closed('server answer wrong: %r' % a2[:50])
        self.send(b'#WELCOME#')

    def call(self, ident, method, args=(), kwds=None, protocol=4):
        self.send(pickle.dumps((ident, method, tuple(args), kwds or {}), protocol=protocol))
        return pickle.loads(self.recv())


def server_call(addr, authkey, method, *args):
    """One short connection: (kind, payload) of a server method."""
    c = RawConn(addr, authkey)
    try:
        return c.call(None, method, args)
    finally:
        c.close()


def proc_status(pid):
    """VmPeak/VmHWM/VmRSS of a process, in kB."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('VmPeak', 'VmHWM', 'VmRSS', 'VmSize'):
                out[k] = int(v.split()[0])
    return out


def open_fds(pid):
    try:
        return len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return -1
