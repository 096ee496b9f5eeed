# _daemon.py - finding the managerd binary and running one, as a child of
# the program, under a watchdog (_watchdog.py says why a watchdog, why a
# shell, and how it talks to us).
import errno
import os
import re
import select
import shutil
import signal
import socket
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
STOP_TIMEOUT = 5.0           # seconds between SIGTERM and SIGKILL in stop()
EXIT_WAIT = 1.0              # seconds for a managerd whose output ended to exit
MAX_AUTHKEY = 4096           # managerd's own limit on a key file

SHELL = '/bin/sh'            # runs the watchdog (_watchdog.SCRIPT)
LISTEN_FD = 3                # where socket activation passes the socket
# Run as SHELL -c ACTIVATE managerd ARGS: the shell's pid, kept by exec,
# is managerd's, which LISTEN_PID must name.
# LISTEN_FDNAMES names the serializer (pickle or xmlrpclib).
ACTIVATE = 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=%s exec "$0" "$@"'


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


FIRST_FREE_FD = 10           # pipe ends we pass are moved at or above this,
                             # clear of the 0-2 they are duplicated onto
READ_SIZE = 65536            # bytes of managerd's output read at a time
_LISTENING = b'managerd: listening on '   # managerd's stdout line once it listens
# Reset in the children by posix_spawn: a program's ignored SIGCHLD or
# SIGHUP is no business of managerd's (handled signals are reset by exec).
_DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)


def _set_cloexec(fd):
    try:
        import fcntl
        flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
    except (ImportError, OSError):
        pass


def _high_fd(fd):
    """fd moved to FIRST_FREE_FD or above, close-on-exec: the spawn's dup2
    onto 0, 1 and 2 then never overwrites a source it still needs (a
    program may run with stdin or stdout closed)."""
    import fcntl
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, FIRST_FREE_FD)
    os.close(fd)
    _set_cloexec(high)
    return high


def _pipe():
    r, w = os.pipe()
    return _high_fd(r), _high_fd(w)


# The fds only the creating process may hold (the lifeline's write end and
# our end of managerd's output): a forked child closes them, so that the
# daemon stops with its creator and not with the last fork.
_owner_fds = set()
_owner_fds_lock = threading.Lock()
# The thread inside our Popen: on 3.7 a preexec_fn makes Popen run the
# at-fork hooks in its child, which must keep the fds it is handed.
_spawning_thread = [None]


def _close_owner_fds_in_child(*args):
    if _spawning_thread[0] == threading.current_thread().ident:
        return
    for fd in list(_owner_fds):
        try:
            os.close(fd)
        except OSError:
            pass
    _owner_fds.clear()


def _close_owner_fd(fd):
    with _owner_fds_lock:
        if fd in _owner_fds:
            _owner_fds.discard(fd)
            os.close(fd)


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_close_owner_fds_in_child)
else:                        # 2.7 and 3.6: multiprocessing's own children
    from multiprocessing import util as _mp_util
    _mp_util.register_after_fork(_owner_fds, _close_owner_fds_in_child)


class _Child(object):
    """poll/wait/kill for a child made by os.posix_spawn, as Popen offers them."""

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


def _inheritable_fds():
    """The program's fds above 2 that a spawned child would inherit (made
    inheritable on purpose): none of them may reach managerd, which would
    keep them open as long as it lives."""
    found = []
    for name in os.listdir('/proc/self/fd'):
        try:
            if int(name) > 2 and os.get_inheritable(int(name)):
                found.append(int(name))
        except OSError:
            pass                     # listdir's own fd, closed by now
    return found


def _spawn(argv, stdin, stdout, stderr, listen=None):
    """Start argv in a process group of its own with stdin and stdout (and
    stderr unless None) from the given fds, and listen (if not None) as fd
    LISTEN_FD, no other fd of ours.  The group:
    the terminal's Ctrl-C reaches the program, not the daemon or its
    watchdog.  Not a session of its own: with the kernel's autogroup
    scheduling a new session is scheduled apart from the program and
    answers several times slower on a busy machine."""
    if hasattr(os, 'posix_spawn'):
        # Python 3.8+: vfork-like, no copy of the program's page tables.
        actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1)]
        if stderr is not None:
            actions.append((os.POSIX_SPAWN_DUP2, stderr, 2))
        if listen is not None:
            actions.append((os.POSIX_SPAWN_DUP2, listen, LISTEN_FD))
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()
                    if listen is None or fd != LISTEN_FD]
        return _Child(os.posix_spawn(argv[0], argv, os.environ, file_actions=actions,
                                     setpgroup=0, setsigmask=(),
                                     setsigdef=_DEFAULT_SIGNALS))
    if _libc_spawn() is not None:
        return _Child(_ctypes_spawn(argv, stdin, stdout, stderr, listen))
    if sys.version_info[0] == 2:
        return _fork_exec(argv, stdin, stdout, stderr, listen)
    assert listen is None, 'see can_pass_socket()'
    _spawning_thread[0] = threading.current_thread().ident
    try:
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                close_fds=True, preexec_fn=os.setpgrp)
    finally:
        _spawning_thread[0] = None


def can_pass_socket():
    """Whether _spawn can pass a listening socket (not through Popen)."""
    return (hasattr(os, 'posix_spawn') or _libc_spawn() is not None
            or sys.version_info[0] == 2)


# Python 2.7 to 3.7 have no os.posix_spawn: libc's, through ctypes, when
# libc has everything needed (glibc 2.34+ for closefrom: without it the
# program's inheritable fds -- every fd on 2.7 -- would reach managerd).
_SPAWN_FLAGS = 0x02 | 0x04 | 0x08   # POSIX_SPAWN_SETPGROUP, _SETSIGDEF, _SETSIGMASK
_SPAWN_STRUCT_SIZE = 1024           # bytes reserved for posix_spawn's opaque structs
                                    # (glibc's are 80 and 336, sigset_t 128)
_LIBC_NEEDS = ('posix_spawn', 'posix_spawn_file_actions_init',
               'posix_spawn_file_actions_destroy', 'posix_spawn_file_actions_adddup2',
               'posix_spawn_file_actions_addclosefrom_np', 'posix_spawnattr_init',
               'posix_spawnattr_destroy', 'posix_spawnattr_setflags',
               'posix_spawnattr_setpgroup', 'posix_spawnattr_setsigdefault',
               'posix_spawnattr_setsigmask', 'sigemptyset', 'sigaddset')
_libc = []


def _libc_spawn():
    """(ctypes, libc) when libc's posix_spawn can be used, else None."""
    if not _libc:
        found = None
        try:
            import ctypes
            libc = ctypes.CDLL(None)
            if all(hasattr(libc, name) for name in _LIBC_NEEDS):
                found = (ctypes, libc)
        except (ImportError, OSError):
            pass
        _libc.append(found)
    return _libc[0]


def _fs_bytes(text):
    return text if isinstance(text, bytes) else text.encode(sys.getfilesystemencoding())


def _ctypes_spawn(argv, stdin, stdout, stderr, listen):
    ctypes, libc = _libc_spawn()
    actions = ctypes.create_string_buffer(_SPAWN_STRUCT_SIZE)
    attr = ctypes.create_string_buffer(_SPAWN_STRUCT_SIZE)
    defaults = ctypes.create_string_buffer(_SPAWN_STRUCT_SIZE)
    mask = ctypes.create_string_buffer(_SPAWN_STRUCT_SIZE)
    libc.posix_spawn_file_actions_init(actions)
    libc.posix_spawnattr_init(attr)
    try:
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2), (listen, LISTEN_FD)):
            if fd is not None:
                libc.posix_spawn_file_actions_adddup2(actions, fd, target)
        libc.posix_spawn_file_actions_addclosefrom_np(
            actions, LISTEN_FD + 1 if listen is not None else 3)
        libc.sigemptyset(defaults)
        for signum in _DEFAULT_SIGNALS:
            libc.sigaddset(defaults, int(signum))
        libc.sigemptyset(mask)
        libc.posix_spawnattr_setsigdefault(attr, defaults)
        libc.posix_spawnattr_setsigmask(attr, mask)
        libc.posix_spawnattr_setpgroup(attr, 0)
        libc.posix_spawnattr_setflags(attr, ctypes.c_short(_SPAWN_FLAGS))
        args = [_fs_bytes(a) for a in argv]
        environ = getattr(os, 'environb', os.environ)
        env = [_fs_bytes(k) + b'=' + _fs_bytes(v) for k, v in environ.items()]
        pid = ctypes.c_int()
        err = libc.posix_spawn(ctypes.byref(pid), args[0], actions, attr,
                               (ctypes.c_char_p * (len(args) + 1))(*(args + [None])),
                               (ctypes.c_char_p * (len(env) + 1))(*(env + [None])))
    finally:
        libc.posix_spawn_file_actions_destroy(actions)
        libc.posix_spawnattr_destroy(attr)
    if err:
        raise OSError(err, '%s: %s' % (argv[0], os.strerror(err)))
    return pid.value


def _fork_exec(argv, stdin, stdout, stderr, listen):
    """Python 2.7, whose Popen closes every fd up to the fd limit one by one
    (milliseconds with a high limit): its child runs Python code after fork
    as this one does, but this one closes only the fds that are open."""
    err_r, err_w = _pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2), (listen, LISTEN_FD)):
                if fd is not None:
                    os.dup2(fd, target)
            kept = (err_w, LISTEN_FD if listen is not None else err_w)
            for name in os.listdir('/proc/self/fd'):
                if int(name) > 2 and int(name) not in kept:
                    _close_quietly(int(name))
            os.execv(argv[0], argv)
        except BaseException as e:
            os.write(err_w, str(getattr(e, 'errno', None) or errno.EINVAL))
        os._exit(127)
    os.close(err_w)
    failed = os.read(err_r, 64)      # empty: the exec closed err_w
    os.close(err_r)
    if failed:
        os.waitpid(pid, 0)
        raise OSError(int(failed), '%s: %s' % (argv[0], os.strerror(int(failed))))
    return _Child(pid)


def _close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def _listening_line(output):
    """(ADDRESS, what followed its line) once output has managerd's
    'listening on ADDRESS' line on stdout (its log lines on stderr say
    'listening on' too, without the 'managerd: ' prefix), else None."""
    start = output.find(_LISTENING)
    if start < 0 or b'\n' not in output[start:]:
        return None
    line, rest = output[start + len(_LISTENING):].split(b'\n', 1)
    return line.decode('utf-8', 'replace'), rest


def _without_listening_line(output):
    found = _listening_line(output)
    if found is None:
        return output
    return output[:output.find(_LISTENING)] + found[1]


def _listen_socket(path):
    """A listening Unix socket at path (mode 0600), as an fd of ours."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)              # in our 0700 folder: no one else sees it yet
        os.chmod(path, 0o600)
        sock.listen(socket.SOMAXCONN)
        return _high_fd(os.dup(sock.fileno()))
    finally:
        sock.close()


def _write_stderr(data):
    if data:
        try:
            os.write(2, data)
        except OSError:
            pass


class Daemon(object):
    """One managerd, child of the process that made it, under a watchdog
    (_watchdog.py) that stops it if that process ends without stop()."""

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
        self._md = self._proc = None
        self._out = self._lifeline = None
        self._stopped = False
        self._ready = False          # managerd's listening line read
        self._failure = None         # the ManagerdError of a failed start
        self._ready_lock = threading.Lock()
        unix_file = not isinstance(address, tuple) and not address.startswith('\0')
        self._sock = address if unix_file else '-'
        # The key travels through managerd's stdin, never argv.
        argv = [binary, '--authkey-file', '/dev/fd/0', '--log-level', 'warning',
                '--ignore-sigint']
        listen = None
        try:
            if self.folder is not None and can_pass_socket():
                # Socket activation: we listen, managerd serves what waits
                # in the backlog once it has started, and we need not wait.
                listen = _listen_socket(address)
                argv = [SHELL, '-c', ACTIVATE % (serializer or 'pickle')] + argv
            else:
                argv += ['--listen', _listen_arg(address, serializer)]
            self._start(argv + list(options), bytes(authkey), listen)
        except BaseException:
            self.stop()
            raise
        finally:
            if listen is not None:
                os.close(listen)

    def _own(self, fd):
        with _owner_fds_lock:
            _owner_fds.add(fd)
        return fd

    def _start(self, argv, authkey, listen):
        key_r, key_w = _pipe()
        # managerd drops one trailing newline, so a key ending in b'\n'
        # survives intact.  Written before managerd exists: the pipe holds it.
        os.write(key_w, authkey + b'\n')
        os.close(key_w)
        out_r, out_w = _pipe()
        self._out = self._own(out_r)
        life_r, life_w = _pipe()
        self._lifeline = self._own(life_w)
        try:
            # The watchdog starts while managerd starts (then sleeps reading
            # managerd's pid); we never wait for it.
            self._md = _spawn(argv, key_r, out_w, out_w, listen)
            self._proc = _spawn([SHELL, '-c', _watchdog.SCRIPT, 'managerd-watchdog',
                                 self.folder or '-', self._sock], life_r, out_r, None)
        except OSError as e:
            raise ManagerdError('managerd did not start: %s' % e)
        finally:
            for fd in (key_r, out_w, life_r):
                os.close(fd)
        self.pid = self._md.pid
        os.write(self._lifeline, b'%d\n' % self.pid)
        if listen is None:
            self.ready()

    def ready(self):
        """Wait for managerd's listening line, then have the watchdog relay
        its output; ManagerdError with managerd's output if it failed to
        start.  Manager() does not wait (socket activation): its first
        connection does, through this, for what is left of managerd's
        start-up (2.7's Client would retry a refused connection for 20 s)."""
        with self._ready_lock:
            if self._failure is not None:
                raise self._failure  # its output was read the first time
            if not self._ready and os.getpid() == self.owner_pid and not self._stopped:
                try:
                    self._wait_listening(time.time() + START_TIMEOUT)
                except ManagerdError as e:
                    self._failure = e
                    raise
                self._ready = True

    def _wait_listening(self, deadline):
        output = b''
        while True:
            left = deadline - time.time()
            r = select.select([self._out], [], [], max(0.0, left))[0] if left > 0 else []
            if not r:
                raise ManagerdError('managerd did not start within %d s' % START_TIMEOUT)
            data = os.read(self._out, READ_SIZE)
            if not data:
                text = output.decode('utf-8', 'replace').strip()
                raise ManagerdError('managerd did not start: %s'
                                    % (text or self._exit_text()))
            output += data
            found = _listening_line(output)
            if found is not None:
                break
        listening, rest = found
        self.address = _bound_address(self.address, listening.strip())
        _write_stderr(rest)
        os.write(self._lifeline, b'r\n')    # the watchdog relays from now on

    def _exit_text(self):
        """What ended managerd, whose output just ended (it is exiting)."""
        deadline = time.time() + EXIT_WAIT
        while self._md.poll() is None and time.time() < deadline:
            time.sleep(0.001)
        status = self._md.poll()
        if status is None:
            return 'managerd closed its output'
        if os.WIFSIGNALED(status):
            return 'managerd was killed by signal %d' % os.WTERMSIG(status)
        return 'managerd exited with status %d and no message' % os.WEXITSTATUS(status)

    def _remove_files(self):
        if self._sock != '-' and os.path.exists(self._sock):
            try:
                os.unlink(self._sock)
            except OSError:
                pass
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def alive(self):
        return (os.getpid() == self.owner_pid and not self._stopped
                and self._md is not None and self._md.poll() is None)

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        while self.alive() and (deadline is None or time.time() < deadline):
            time.sleep(0.01)

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop managerd and wait until it is gone with its socket and folder."""
        if os.getpid() != self.owner_pid or self._stopped:
            return                   # a forked copy owns nothing
        self._stopped = True
        # The watchdog first, with its relay (its process group): with it
        # gone nothing else signals managerd's pid, which we free below.
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self._proc.wait()
        if self._md is not None:
            self._stop_managerd(time.time() + timeout)
        self._remove_files()
        for fd in (self._out, self._lifeline):
            if fd is not None:
                _close_owner_fd(fd)

    def _stop_managerd(self, deadline):
        """SIGTERM; managerd's output ends when it exits (we relay what it
        says meanwhile); SIGKILL if that takes past deadline."""
        if self._md.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except OSError:
                pass
            output = b''             # unless ready: may hold the listening line
            while self._out is not None:
                left = deadline - time.time()
                if left <= 0 or not select.select([self._out], [], [], left)[0]:
                    break
                data = os.read(self._out, READ_SIZE)
                if not data:
                    break
                if self._ready:
                    _write_stderr(data)
                else:
                    output += data
            _write_stderr(_without_listening_line(output))
            if self._md.poll() is None and time.time() >= deadline:
                self._md.kill()
        self._md.wait()


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

