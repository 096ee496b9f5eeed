"""benchlib.py - the plumbing of bench_server.py: starting and stopping the
three servers (managerd, CPython's own, the C floor) and the helper
programs, reading a process's RSS, a raw protocol client that opens many
idle long connections, and cleanup that runs even on Ctrl-C.

Python 3 only (the newest one on the machine is what the figures are for).
"""
import hashlib
import hmac
import os
import pickle
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LISTEN_RE = re.compile(r'^(\w+): listening on (\S+)\s*$')


class BenchError(Exception):
    """Something the benchmark needs did not work (a server did not start)."""


# ---- cleanup ----------------------------------------------------------------

_procs = []
_tmpdirs = []


def tmpdir():
    path = tempfile.mkdtemp(prefix='managerd-bench-')
    _tmpdirs.append(path)
    return path


def track(proc):
    _procs.append(proc)
    return proc


def stop(proc, timeout=3.0):
    """SIGTERM, then SIGKILL after timeout; only our own child, by pid."""
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except OSError:
            pass
    for f in (proc.stdin, proc.stdout):
        try:
            if f:
                f.close()
        except OSError:
            pass
    if proc in _procs:
        _procs.remove(proc)


def cleanup():
    for proc in list(_procs):
        stop(proc, 2.0)
    for path in _tmpdirs:
        shutil.rmtree(path, ignore_errors=True)
    del _tmpdirs[:]


interrupted = False


def _on_stop_signal(signum, frame):
    global interrupted
    interrupted = True
    raise KeyboardInterrupt


def check_interrupted():
    """Re-raise after a Ctrl-C that an error handler (or a finally: that
    raised in turn) swallowed: once interrupted, nothing goes on."""
    if interrupted:
        raise KeyboardInterrupt


def install_cleanup():
    """SIGINT and SIGTERM stop the run, so the caller's finally: cleanup()
    runs, and are remembered (check_interrupted)."""
    signal.signal(signal.SIGTERM, _on_stop_signal)
    signal.signal(signal.SIGINT, _on_stop_signal)


class deadline(object):
    """with deadline(seconds, what): raise BenchError if the block is still
    running after seconds - a server that never answers must not hang the
    benchmark (a blocked recv is interrupted by the signal)."""

    def __init__(self, seconds, what):
        self.seconds, self.what = seconds, what

    def _fire(self, signum, frame):
        raise BenchError('%s took longer than %d s: abandoned' % (self.what, self.seconds))

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        return False


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(want, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ForkedProc(object):
    """A forked child that looks enough like a Popen (pid, stdin, stdout,
    poll, terminate, kill, wait) for stop() and the throughput driver."""

    def __init__(self, target):
        c_in, p_out = os.pipe()      # parent -> child
        p_in, c_out = os.pipe()      # child -> parent
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                os.close(p_out)
                os.close(p_in)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                target(os.fdopen(c_in, 'r'), os.fdopen(c_out, 'w'))
            except BaseException:
                status = 1
            finally:
                # Never run the parent's cleanup (or anything else) here.
                os._exit(status)
        os.close(c_in)
        os.close(c_out)
        self.pid = pid
        self.stdin = os.fdopen(p_out, 'wb')
        self.stdout = os.fdopen(p_in, 'rb')
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired('worker %d' % self.pid, timeout)
            time.sleep(0.01)
        return self.returncode

    def terminate(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


def fork_workers(count, target):
    """count ForkedProcs running target(inp, out); tracked for cleanup.
    Call before any thread exists (forking a threaded process is unsafe)."""
    return [track(ForkedProc(target)) for _ in range(count)]


# ---- addresses and servers --------------------------------------------------

def python_address(text):
    """'tcp://H:P' / 'H:P' / 'unix:PATH' -> what a Python client passes."""
    if text.startswith('unix:@'):
        return '\0' + text[len('unix:@'):]
    if text.startswith('unix:'):
        return text[len('unix:'):]
    if text.startswith('tcp://'):
        text = text[len('tcp://'):]
    host, port = text.rsplit(':', 1)
    return (host.strip('[]'), int(port))


def c_address(addr):
    """A Python address -> the text loadgen takes."""
    if isinstance(addr, tuple):
        return '%s:%d' % addr
    if addr.startswith('\0'):
        return 'unix:@' + addr[1:]
    return 'unix:' + addr


def read_rss(pid):
    """VmRSS of pid in bytes."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise BenchError('no VmRSS for pid %d' % pid)


class Server(object):
    """One running server process and the addresses it listens on."""

    def __init__(self, name, proc, addresses, log):
        self.name = name
        self.proc = proc
        self.addresses = addresses   # list of Python addresses, in order
        self.log = log

    @property
    def pid(self):
        return self.proc.pid

    @property
    def tcp(self):
        return next((a for a in self.addresses if isinstance(a, tuple)), None)

    @property
    def unix(self):
        return next((a for a in self.addresses if not isinstance(a, tuple)), None)

    def rss(self):
        return read_rss(self.proc.pid)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        stop(self.proc)


def _drain(stream, sink):
    try:
        for line in iter(stream.readline, b''):
            sink.write(line)
            sink.flush()
    except (OSError, ValueError):
        pass


def start_server(name, argv, nlisten, env, logdir, timeout=15.0):
    """Start argv, wait for its nlisten 'X: listening on ADDR' lines."""
    log_path = os.path.join(logdir, name.replace(' ', '_') + '.log')
    log = open(log_path, 'ab')
    proc = track(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=log, env=env))
    addresses = []
    deadline = time.monotonic() + timeout
    buf = b''
    while len(addresses) < nlisten:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            stop(proc)
            log.close()
            with open(log_path, 'rb') as f:
                tail = f.read()[-2000:].decode('utf-8', 'replace')
            raise BenchError('%s did not start (%s); its stderr:\n%s'
                             % (name, ' '.join(argv), tail))
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            continue
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            log.write(b'stdout: ' + line + b'\n')
            m = LISTEN_RE.match(line.decode('utf-8', 'replace'))
            if m:
                addr = python_address(m.group(2))
                if isinstance(addr, tuple) and addr[1] == 0:
                    raise BenchError('%s printed port 0: %s' % (name, line))
                addresses.append(addr)
    # Keep its stdout drained so that it can never block on a full pipe.
    threading.Thread(target=_drain, args=(proc.stdout, log), daemon=True).start()
    return Server(name, proc, addresses, log_path)


def server_env(authkey_text):
    env = dict(os.environ)
    env['MANAGERD_AUTHKEY'] = authkey_text
    return env


def start_managerd(path, authkey_text, logdir, unix_path=None, extra=()):
    argv = [path, '--listen', '127.0.0.1:0', '--log-level', 'error',
            '--max-connections', '100000']
    if unix_path:
        argv += ['--listen', 'unix:' + unix_path]
    return start_server('managerd', argv + list(extra), 2 if unix_path else 1,
                        server_env(authkey_text), logdir)


def start_cpython(python, authkey_text, logdir, unix_path=None):
    where = 'unix:' + unix_path if unix_path else '127.0.0.1:0'
    name = 'CPython' + (' unix' if unix_path else '')
    return start_server(name, [python, os.path.join(HERE, 'cpython_server.py'), where], 1,
                        server_env(authkey_text), logdir)


def start_floor(path, authkey_text, logdir, unix_path=None, canned=()):
    """canned: 'METHOD=FILE' texts, each a --canned option (floor_server.c)."""
    argv = [path, '--listen', '127.0.0.1:0']
    if unix_path:
        argv += ['--listen', 'unix:' + unix_path]
    for text in canned:
        argv += ['--canned', text]
    return start_server('floor', argv, 2 if unix_path else 1, server_env(authkey_text),
                        logdir)


# ---- the C helper programs --------------------------------------------------

C_PROGRAMS = ('floor_server', 'loadgen', 'pingpong')


def find_or_build_programs(bench_dir, managerd, workdir, log, programs=C_PROGRAMS):
    """Paths of programs (default: floor_server, loadgen and pingpong): from
    bench_dir, or next to managerd (a build tree after 'make bench'), or
    compiled here with cc from the sources beside this file."""
    candidates = []
    if bench_dir:
        candidates.append(bench_dir)
    if managerd:
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(managerd)),
                                       'tests', 'bench'))
    for d in candidates:
        paths = [os.path.join(d, p) for p in programs]
        if all(os.access(p, os.X_OK) for p in paths):
            return dict(zip(programs, paths)), d
    cc = os.environ.get('CC', 'cc')
    out = {}
    for prog in programs:
        exe = os.path.join(workdir, prog)
        argv = [cc, '-std=gnu11', '-O2', '-I' + TOP, '-o', exe,
                os.path.join(HERE, prog + '.c'), os.path.join(HERE, 'benchnet.c'),
                os.path.join(TOP, 'core', 'base', 'alloc.c'), '-lsodium', '-lnettle']
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if res.returncode != 0:
            raise BenchError('cannot build %s:\n%s' % (prog, res.stdout.decode()))
        out[prog] = exe
    log('built the C helpers with %s in %s' % (cc, workdir))
    return out, workdir


def run_c(argv, env, timeout):
    """Run a helper to completion; its stdout 'name: k=v ...' line as a dict."""
    proc = track(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise BenchError('%s took longer than %.0f s' % (os.path.basename(argv[0]), timeout))
    finally:
        if proc in _procs:
            _procs.remove(proc)
    text = out.decode('utf-8', 'replace').strip()
    if proc.returncode != 0 or not text:
        raise BenchError('%s failed (status %s): %s %s'
                         % (' '.join(argv), proc.returncode, text,
                            err.decode('utf-8', 'replace').strip()))
    fields = {}
    for word in text.splitlines()[-1].split()[1:]:
        k, _, v = word.partition('=')
        fields[k] = float(v) if re.match(r'^[0-9.]+$', v) else v
    return fields


# ---- a raw client for many idle connections ---------------------------------

CHALLENGE = b'#CHALLENGE#'
WELCOME = b'#WELCOME#'


def _mac(key, body):
    """The answer to a challenge body, in the form it asks for."""
    if len(body) == 20:
        return hmac.new(key, body, 'md5').digest()
    if body.startswith(b'{sha256}'):
        return b'{sha256}' + hmac.new(key, body, 'sha256').digest()
    raise BenchError('unexpected challenge body %r' % body[:16])


def _answer_ok(key, body, answer):
    if len(answer) == 16:
        return hmac.compare_digest(answer, hmac.new(key, body, 'md5').digest())
    if answer.startswith(b'{sha256}'):
        return hmac.compare_digest(answer[8:], hmac.new(key, body, 'sha256').digest())
    return False


def _send(sock, payload):
    sock.sendall(struct.pack('!i', len(payload)) + payload)


def _recv_exact(sock, n):
    parts = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise BenchError('connection closed by the server')
        parts.append(chunk)
        n -= len(chunk)
    return b''.join(parts)


def _recv(sock):
    (n,) = struct.unpack('!i', _recv_exact(sock, 4))
    if n < 0 or n > (1 << 20):
        raise BenchError('bad frame length %d' % n)
    return _recv_exact(sock, n)


def open_idle_connections(address, key, count, wave=100, name='bench-idle'):
    """count sockets, each through the handshake and accept_connection,
    as a Python client thread's long connection; nothing else is sent.
    The sockets go through each step in lockstep waves, so the cost is a
    few round trips per wave rather than per socket. A wave stays under
    CPython's listen backlog (128): an overflow costs a 1 s SYN retry."""
    socks = []
    accept = pickle.dumps((None, 'accept_connection', (name,), {}), 4)
    try:
        while len(socks) < count:
            batch = []
            for _ in range(min(wave, count - len(socks))):
                if isinstance(address, tuple):
                    s = socket.create_connection(address, timeout=30)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                else:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(30)
                    s.connect(address)
                batch.append(s)
                socks.append(s)
            chals = [_recv(s) for s in batch]
            for s, c in zip(batch, chals):
                if not c.startswith(CHALLENGE):
                    raise BenchError('no challenge: %r' % c[:20])
                _send(s, _mac(key, c[len(CHALLENGE):]))
            for s in batch:
                if _recv(s) != WELCOME:
                    raise BenchError('our answer was refused')
            mine = [b'{sha256}' + os.urandom(40) for _ in batch]
            for s, body in zip(batch, mine):
                _send(s, CHALLENGE + body)
            for s, body in zip(batch, mine):
                if not _answer_ok(key, body, _recv(s)):
                    raise BenchError('the server answered our challenge wrongly')
            for s in batch:
                # (6) and the first request in one write: the server must
                # take them as two frames (tests/docs/protocol.md §7, item 2).
                s.sendall(struct.pack('!i', len(WELCOME)) + WELCOME +
                          struct.pack('!i', len(accept)) + accept)
            for s in batch:
                kind, value = pickle.loads(_recv(s))
                if kind != '#RETURN':
                    raise BenchError('accept_connection: %r %r' % (kind, value))
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
