# _daemon.py - finding the managerd binary and running one under the
# watchdog (_watchdog.py says why a watchdog and how it talks to us).
import binascii
import errno
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from managerd import _watchdog

try:
    from managerd._installed import BINDIR as _INSTALLED_BINDIR
except ImportError:          # not installed by `make install`
    _INSTALLED_BINDIR = None

START_TIMEOUT = 30.0         # seconds to wait for managerd to listen
STOP_TIMEOUT = 5.0           # seconds to wait for the watchdog to clean up
MAX_AUTHKEY = 4096           # managerd's own limit on a key file

_WATCHDOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_watchdog.py')


class ManagerdError(RuntimeError):
    """managerd could not be found or started."""


def _executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _on_path(name):
    for folder in os.environ.get('PATH', os.defpath).split(os.pathsep):
        cand = os.path.join(folder or '.', name)
        if _executable(cand):
            return cand
    return None


def find_managerd():
    """MANAGERD first, then PATH, then the one `make install` put beside us."""
    env = os.environ.get('MANAGERD')
    if env:
        if not _executable(env):
            raise ManagerdError('MANAGERD=%s is not an executable file' % env)
        return os.path.abspath(env)
    found = _on_path('managerd')
    if found:
        return found
    if _INSTALLED_BINDIR:
        cand = os.path.join(_INSTALLED_BINDIR, 'managerd')
        if _executable(cand):
            return cand
    raise ManagerdError(
        'managerd was not found: set MANAGERD to the managerd binary, put it '
        'on PATH, or build and install it (./configure && make && make install '
        'from the managerd source tree)')


def _set_cloexec(fd):
    try:
        import fcntl
        flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
    except (ImportError, OSError):
        pass


# Lifeline write ends held by this process: a forked child closes them, so
# that the daemon stops with its creator and not with the last fork.
_lifelines = set()
_lifelines_lock = threading.Lock()


def _close_lifelines_in_child(*args):
    for fd in list(_lifelines):
        try:
            os.close(fd)
        except OSError:
            pass
    _lifelines.clear()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_close_lifelines_in_child)
else:                        # 2.7 and 3.6: multiprocessing's own children
    from multiprocessing import util as _mp_util
    _mp_util.register_after_fork(_lifelines, _close_lifelines_in_child)


class _ForkedChild(object):
    """poll/kill/wait for a child made by os.fork, as Popen offers them."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        return self._wait(os.WNOHANG)

    def wait(self):
        return self._wait(0)

    def _wait(self, flags):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except OSError as e:
                if e.errno != errno.ECHILD:
                    raise
                pid, status = self.pid, 0     # SIGCHLD ignored: reaped for us
            if pid:
                self.returncode = status
        return self.returncode

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)


def _fork_watchdog(argv, lifeline_r, status_w):
    """The fast way: the watchdog is a fork of this process (no new
    interpreter to start).  Only taken with one thread alive, where fork is
    safe; the child runs nothing but _watchdog's os-level code."""
    pid = os.fork()
    if pid:
        return _ForkedChild(pid)
    code = 1
    try:
        os.dup2(lifeline_r, 0)
        os.dup2(status_w, 1)
        keep = set([0, 1, 2])
        for name in os.listdir('/proc/self/fd'):
            if int(name) not in keep:
                try:
                    os.close(int(name))
                except OSError:
                    pass
        code = _watchdog.main(argv[3:], forked=True)   # argv[3] is _watchdog.py
    finally:
        os._exit(code or 0)


def _exec_watchdog(argv, lifeline_r, status_w):
    """With other threads alive: a fresh interpreter runs _watchdog.py."""
    return subprocess.Popen(argv, stdin=lifeline_r, stdout=status_w, close_fds=True)


def _read_status(fd, timeout):
    data = b''
    deadline = time.time() + timeout
    while not data.endswith(b'\n'):
        left = deadline - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode('utf-8', 'replace').strip()


class Daemon(object):
    """One managerd under its watchdog, owned by the process that made it."""

    def __init__(self, authkey, address=None, options=(), serializer=None):
        if len(authkey) > MAX_AUTHKEY:
            raise ValueError('managerd accepts authkeys of at most %d bytes' % MAX_AUTHKEY)
        binary = find_managerd()
        self.folder = None
        if address is None:
            # tempfile honours TMPDIR; the folder is 0700.
            self.folder = tempfile.mkdtemp(prefix='managerd-')
            address = os.path.join(self.folder, 'sock')
        self.address = address
        self.owner_pid = os.getpid()
        self.pid = None
        unix_file = not isinstance(address, tuple) and not address.startswith('\0')
        sock = address if unix_file else '-'
        argv = [sys.executable, '-S', '-E', _WATCHDOG, binary,
                self.folder or '-', sock, '--log-level', 'warning', '--ignore-sigint',
                '--listen', _listen_arg(address, serializer)]
        argv += list(options)
        self._start(argv, authkey)

    def _start(self, argv, authkey):
        lifeline_r, self._lifeline = os.pipe()
        status_r, status_w = os.pipe()
        _set_cloexec(self._lifeline)
        _set_cloexec(status_r)
        with _lifelines_lock:
            _lifelines.add(self._lifeline)
        # Written before the watchdog exists: the pipe holds it.
        os.write(self._lifeline, binascii.hexlify(bytes(authkey)) + b'\n')
        try:
            spawn = _fork_watchdog if threading.active_count() == 1 else _exec_watchdog
            self._proc = spawn(argv, lifeline_r, status_w)
        except Exception:
            self._close_lifeline()
            os.close(status_r)
            self._remove_folder()
            raise
        finally:
            os.close(lifeline_r)
            os.close(status_w)
        try:
            status = _read_status(status_r, START_TIMEOUT)
        finally:
            os.close(status_r)
        if status.startswith('ok '):
            pid, listening = (status[3:] + ' ').split(' ', 1)
            self.pid = int(pid)
            self.address = _bound_address(self.address, listening.strip())
            return
        self.stop()
        if status.startswith('error '):
            text = binascii.unhexlify(status[6:].encode('ascii')).decode('utf-8', 'replace')
            raise ManagerdError('managerd did not start: %s' % text)
        raise ManagerdError('managerd did not start within %d s' % START_TIMEOUT)

    def _close_lifeline(self):
        with _lifelines_lock:
            if self._lifeline in _lifelines:
                _lifelines.discard(self._lifeline)
                os.close(self._lifeline)

    def _remove_folder(self):
        if self.folder and os.path.isdir(self.folder):
            try:
                os.rmdir(self.folder)
            except OSError:
                pass

    def alive(self):
        return os.getpid() == self.owner_pid and self._proc.poll() is None

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        while self.alive() and (deadline is None or time.time() < deadline):
            time.sleep(0.01)

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop managerd and wait until its socket and folder are gone."""
        if os.getpid() != self.owner_pid:
            return                   # a forked copy owns nothing
        self._close_lifeline()
        deadline = time.time() + timeout
        while self._proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        if self._proc.poll() is None:
            # A watchdog that does not finish: do its work.
            for pid in (self.pid, self._proc.pid):
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            self._proc.wait()
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)


def _bound_address(address, listening):
    """(host, 0) becomes (host, the port managerd got)."""
    match = re.match(r'tcp://.*:(\d+)$', listening)
    if isinstance(address, tuple) and match:
        return (address[0], int(match.group(1)))
    return address


def _listen_arg(address, serializer):
    if isinstance(address, tuple):
        host, port = address
        text = '%s:%d' % (host, port)
    elif address.startswith('\0'):
        text = 'unix:@' + address[1:]
    else:
        text = 'unix:' + address
    return text + ('?serializer=' + serializer if serializer else '')

