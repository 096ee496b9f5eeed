# _watchdog.py - the small supervisor between a Python program and its
# managerd.  Run as a script (python -S -E _watchdog.py ...), never imported
# by the program: it must start fast and depend on nothing but os.
#
# Why a supervisor: the daemon must stop when the program that made it dies,
# even by SIGKILL, and its private folder must then be removed.  managerd has
# no option for that, and prctl(PR_SET_PDEATHSIG) fires when the *thread*
# that started the child exits (a Manager() made in a worker thread would
# die with that thread) and cannot remove the folder.  So the program holds
# the write end of a pipe (our stdin); when every copy of it is closed -- the
# program ended, however it ended -- we read EOF, stop managerd (SIGTERM,
# then SIGKILL after STOP_GRACE seconds) and remove the socket and folder.
#
# Protocol: argv = MANAGERD FOLDER|- SOCKET|- [managerd options...]
# (or --resume PID FD MANAGERD FOLDER SOCKET: see _reexec).
# stdin: the lifeline; its first line is the authkey in hex.
# stdout: one status line for the program: "ok PID ADDRESS" once managerd
# listens (ADDRESS as managerd prints it, with the port a port 0 got),
# or "error TEXT" (managerd's own output, hex-encoded on one line).
# managerd's stdout and stderr come to us through a pipe: they never reach
# the program's stdout; once it listens, its log lines go to our stderr (the
# program's stderr).
import binascii
import os
import select
import signal
import sys
import time

STOP_GRACE = 2.0         # seconds between SIGTERM and SIGKILL
MAX_KEY_HEX = 8192       # managerd reads at most 4096 key bytes
POLL_INTERVAL = 0.001    # seconds between checks that managerd has exited
REEXEC_DELAY = 0.5       # seconds a forked watchdog waits before re-executing
                         # (a shutdown() right after start need not wait for it)


class _Stop(Exception):
    pass


def _on_term(signum, frame):
    raise _Stop()


def _read_key(fd):
    data = b''
    while b'\n' not in data:
        chunk = os.read(fd, 4096)
        if not chunk or len(data) > MAX_KEY_HEX:
            return None
        data += chunk
    return bytearray.fromhex(data.split(b'\n', 1)[0].decode('ascii'))


def _start(managerd, key, options):
    """Start managerd; return (pid, fd of its merged stdout and stderr)."""
    kr, kw = os.pipe()
    # The key travels through an inherited pipe, never argv.  managerd drops
    # one trailing newline, so a key ending in b'\n' survives intact.
    os.write(kw, bytes(key) + b'\n')
    os.close(kw)
    out_r, out_w = os.pipe()
    argv = [managerd, '--authkey-file', '/dev/fd/%d' % kr] + options
    spawn = _posix_spawn if hasattr(os, 'posix_spawn') else _fork_exec
    try:
        pid = spawn(argv, kr, out_w)
    finally:
        os.close(kr)
        os.close(out_w)
    return pid, out_r


def _posix_spawn(argv, kr, out_w):
    """Python 3.8+: vfork-like, so a big program's page tables (we may be a
    fork of it) are not copied once more."""
    os.set_inheritable(kr, True)
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, out_w, 1),
               (os.POSIX_SPAWN_DUP2, out_w, 2)]
    try:
        return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions,
                              setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    except OSError as e:
        os.write(out_w, ('cannot run %s: %s\n' % (argv[0], e)).encode('utf-8', 'replace'))
        return _dead_child()


def _dead_child():
    """A child that is gone at once: _serve then reports managerd's error."""
    pid = os.fork()
    if pid == 0:
        os._exit(127)
    return pid


def _fork_exec(argv, kr, out_w):
    pid = os.fork()
    if pid == 0:
        try:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            if hasattr(os, 'set_inheritable'):
                os.set_inheritable(kr, True)
            os.execv(argv[0], argv)
        except BaseException as e:
            os.write(2, ('cannot run %s: %s\n' % (argv[0], e)).encode('utf-8', 'replace'))
        os._exit(127)
    return pid


def _reap(pid, deadline):
    while time.time() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
        time.sleep(POLL_INTERVAL)
    return False


def _stop(pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
    if not _reap(pid, time.time() + STOP_GRACE):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(pid, 0)


def _cleanup(folder, sock):
    if sock != '-' and os.path.exists(sock):
        os.unlink(sock)
    if folder == '-' or not os.path.isdir(folder):
        return
    for top, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            _quietly(os.unlink, os.path.join(top, name))
        for name in dirs:
            _quietly(os.rmdir, os.path.join(top, name))
    _quietly(os.rmdir, folder)


def _quietly(fn, path):
    try:
        fn(path)
    except OSError:
        pass


def _report(text):
    os.write(1, (text + '\n').encode('utf-8', 'replace'))
    # Nothing else of ours may reach the program's stdout.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _report_error(text):
    _report('error ' + binascii.hexlify(text.encode('utf-8')).decode('ascii'))


def _listening_line(output):
    """managerd prints 'managerd: listening on ADDRESS' on stdout once every
    listener is up (its log lines on stderr say 'listening on' too)."""
    marker = b'managerd: listening on '
    start = output.find(marker)
    if start < 0 or b'\n' not in output[start:]:
        return None
    return output[start + len(marker):].split(b'\n', 1)[0].decode('utf-8', 'replace')


def _serve(pid, out_fd, ready=False, on_ready=None):
    """Wait for 'listening', then for the lifeline's EOF or managerd's end."""
    collected = b''
    reexec_at = None
    while True:
        timeout = None if reexec_at is None else max(0.0, reexec_at - time.time())
        r, _, _ = select.select([0, out_fd], [], [], timeout)
        if not r:
            on_ready(pid, out_fd)        # returns only if it could not
            reexec_at = None
            continue
        if 0 in r and not os.read(0, 4096):
            _stop(pid)
            if not ready:
                _report_error('the program stopped waiting')
            return
        if out_fd in r:
            data = os.read(out_fd, 65536)
            if not data:
                _reap(pid, time.time() + STOP_GRACE)
                if not ready:
                    text = collected.decode('utf-8', 'replace').strip()
                    _report_error(text or 'managerd exited at once')
                return
            if ready:
                os.write(2, data)
                continue
            collected += data
            line = _listening_line(collected)
            if line is not None:
                ready = True
                _report('ok %d %s' % (pid, line))
                if on_ready:
                    reexec_at = time.time() + REEXEC_DELAY


def _reexec(argv):
    """After a fork of the program: once managerd listens (and REEXEC_DELAY
    has passed without the program stopping it), become a fresh
    small interpreter (same pid, so managerd stays our child), so that the
    program's memory is not kept alive by our copy of it.  If that fails we
    simply serve on from the fork."""
    def reexec(pid, out_fd):
        exe = sys.executable
        if not exe or 'python' not in os.path.basename(exe):
            return                       # embedded: sys.executable is not Python
        try:
            if hasattr(os, 'set_inheritable'):
                os.set_inheritable(out_fd, True)
            os.execv(exe, [exe, '-S', '-E', _source_file(), '--resume',
                           str(pid), str(out_fd)] + argv[1:4])
        except OSError:
            pass
    return reexec


def _source_file():
    path = os.path.abspath(__file__)        # Python 2 names the .pyc
    return path[:-1] if path.endswith('.pyc') and os.path.exists(path[:-1]) else path


def _resume(argv):
    pid, out_fd = int(argv[2]), int(argv[3])
    folder, sock = argv[5:7]
    _set_signals()
    try:
        _serve(pid, out_fd, ready=True)
    except _Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(pid)
    finally:
        _cleanup(folder, sock)
    return 0


def _set_signals():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def main(argv, forked=False):
    """argv as sys.argv; forked: we are a fork of the program (see _reexec)."""
    if argv[1:2] == ['--resume']:
        return _resume(argv)
    managerd, folder, sock = argv[1:4]
    # A process group of our own: the terminal's Ctrl-C reaches the program,
    # not the daemon (CPython's manager server ignores SIGINT for the same
    # reason).  Not a session of our own: with the kernel's autogroup
    # scheduling a new session would be scheduled apart from the program and
    # answer several times slower on a busy machine.
    os.setpgid(0, 0)
    _set_signals()
    pid = None
    try:
        key = _read_key(0)
        if key is None:
            return 1
        pid, out_fd = _start(managerd, key, argv[4:])
        _serve(pid, out_fd, on_ready=_reexec(argv) if forked else None)
    except _Stop:
        if pid is not None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _stop(pid)
    finally:
        _cleanup(folder, sock)
    return 0


if __name__ == '__main__':
    # os._exit: nothing of ours is buffered (os.write only), and skipping the
    # interpreter's finalization lets shutdown() return sooner.
    os._exit(main(sys.argv) or 0)
