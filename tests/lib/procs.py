"""procs - child processes of the tests (Python 3): the one reader of a
server's announcement lines (read_matches), a reader that keeps a child's
stdout lines (so its pipe never fills) and the one launcher of CPython's
own manager servers.

A reference server is tests/lib/refserver.py run by a given interpreter
(refserver_cmd makes its command line): it prints
'refserver: listening on ADDRESS' once it serves and stops on SIGTERM.
"""
import binascii
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

REFSERVER_RE = re.compile(r'^refserver: listening on (\S+)')
REFSERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'refserver.py')


def refserver_cmd(python, authkey=b'', register=(), share=(), serializer=None, shm=False):
    """The command line of CPython's manager server (refserver.py) run by
    python: the key, --register/--share NAME=TYPE, the serializer, or a
    SharedMemoryManager (shm)."""
    cmd = [python, REFSERVER, '--authkey-hex', binascii.hexlify(authkey).decode()]
    for r in register:
        cmd += ['--register', r]
    for s in share:
        cmd += ['--share', s]
    if serializer:
        cmd += ['--serializer', serializer]
    if shm:
        cmd.append('--shm')
    return cmd


def read_matches(stream, pattern, count=1, timeout=15.0):
    """Read lines of a child's stdout (bytes) until count of them match
    pattern (a regular expression searched in each line), the child closes
    it, or timeout seconds pass; returns the match objects, fewer than
    count when it gave up. Lines after the last match stay unread."""
    found = []
    end = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < end:
        line = stream.readline()
        if not line:
            break
        m = re.search(pattern, line.decode('utf-8', 'replace'))
        if m:
            found.append(m)
    return found


class HarnessFailure(Exception):
    """The harness could not do its job (a server did not start...)."""


class LineReader(threading.Thread):
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
        """Wait until pred(lines) is true, EOF, or timeout; returns pred()."""
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.lines) and not self.eof:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            return pred(self.lines)


class RefServer(object):
    """CPython's own manager server: cmd (interpreter first) run with env
    and cwd; start() waits for its 'refserver: listening on' lines and
    sets addresses (address: the first); stop() sends SIGTERM."""

    def __init__(self, cmd, env=None, cwd=None, failure=HarnessFailure, what=None):
        self.cmd = list(cmd)
        self.python = self.cmd[0]
        self.env = env
        self.cwd = cwd
        self.failure = failure
        self.what = what or 'CPython reference server'
        self.proc = None
        self.addresses = []
        self.address = None

    def start(self, timeout=30):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, env=self.env, cwd=self.cwd)
        self.reader = LineReader(self.proc.stdout)
        if not self.reader.wait_for(lambda ls: any(REFSERVER_RE.match(l) for l in ls), timeout):
            self.stop()
            self.err.seek(0)
            raise self.failure('%s (%s) did not start: %s'
                               % (self.what, self.python,
                                  self.err.read().decode('utf-8', 'replace')[-2000:]))
        self.addresses = [REFSERVER_RE.match(l).group(1) for l in self.reader.lines
                          if REFSERVER_RE.match(l)]
        self.address = self.addresses[0]
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
