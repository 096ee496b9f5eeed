"""clientlib - client-side helpers for the interop scenario scripts.

Runs unchanged under every Python from 2.7 to 3.13 (no f-strings, no
Python-3-only syntax). A scenario script parses its command line with
args(), connects with connect(), records what each step returns with a
Recorder, and prints one '@@RESULT {json}' line at the end, which run.py
collects and compares between managerd and CPython's own server.
"""
from __future__ import print_function

import array
import binascii
import gc
import json
import multiprocessing
import os
import sys
import threading
import time
import traceback

from multiprocessing.managers import BaseProxy, RemoteError, SyncManager

PY2 = sys.version_info[0] == 2
PYV = tuple(sys.version_info[:2])
try:
    import queue
except ImportError:                      # Python 2
    import Queue as queue                # noqa: N813


class Args(object):
    pass


def args(argv=None):
    """--address A (repeatable) --authkey-hex H --server managerd|cpython
    [--slow F]; every address is managerd's printed form. Other options
    go to a.opts for the scenario."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = Args()
    a.addresses = []
    a.authkey = b''
    a.server = 'managerd'
    a.slow = 1.0
    a.opts = {}
    while argv:
        opt = argv.pop(0)
        val = argv.pop(0)
        if opt == '--address':
            a.addresses.append(val)
        elif opt == '--authkey-hex':
            a.authkey = binascii.unhexlify(val.encode('ascii'))
        elif opt == '--server':
            a.server = val
        elif opt == '--slow':
            a.slow = float(val)
        else:
            a.opts[opt] = val          # the scenario's own options
    a.address = python_address(a.addresses[0]) if a.addresses else None
    return a


def python_address(text):
    """managerd's printed address -> what a Python client passes (the
    harness, mdtest.py, uses this one too)."""
    text = text.split('?', 1)[0]
    if text.startswith('tcp://'):
        text = text[len('tcp://'):]
    if text.startswith('unix:@'):
        return '\0' + text[len('unix:@'):]
    if text.startswith('unix:'):
        return text[len('unix:'):]
    host, port = text.rsplit(':', 1)
    return (host.strip('[]'), int(port))


def connect(a, cls=SyncManager, address=None, authkey=None):
    """A connected manager; the process authkey is set to the manager key
    (tests/docs/protocol.md 3.6: proxies unpickled from replies use it)."""
    key = a.authkey if authkey is None else authkey
    m = cls(address=address or a.address, authkey=key)
    m.connect()
    multiprocessing.current_process().authkey = a.authkey
    return m


# ---- recording -------------------------------------------------------------

def exc_name(e):
    t = type(e)
    return '%s.%s' % (t.__module__, t.__name__)


def exc_text(e):
    """Class and message. A RemoteError's text is a server traceback, which
    tests/docs/protocol.md 3.3 leaves free, so only its class is kept."""
    if isinstance(e, RemoteError):
        return 'RemoteError'
    try:
        msg = str(e)
    except Exception:                     # noqa: BLE001 (py2 unicode args)
        msg = repr(e.args)
    return '%s: %s' % (exc_name(e), msg)


def canon(x):
    """repr() with sets sorted (their order depends on string hashing, which
    differs between processes) and dicts sorted on Python 2 (hash order)."""
    if isinstance(x, BaseProxy):
        return '<%s>' % type(x).__name__
    if isinstance(x, (set, frozenset)):
        items = sorted(canon(i) for i in x)
        return '%s({%s})' % (type(x).__name__, ', '.join(items))
    if isinstance(x, dict):
        items = ['%s: %s' % (canon(k), canon(v)) for k, v in x.items()]
        if PY2:
            items.sort()
        return '{%s}' % ', '.join(items)
    if isinstance(x, list):
        return '[%s]' % ', '.join(canon(i) for i in x)
    if isinstance(x, tuple):
        if len(x) == 1:
            return '(%s,)' % canon(x[0])
        return '(%s)' % ', '.join(canon(i) for i in x)
    if isinstance(x, array.array):
        return 'array(%r, %s)' % (x.typecode, canon(x.tolist()))
    return repr(x)


def ordered(seq):
    """A list in a version-independent order on Python 2, where dicts
    iterate in hash order (a CPython 2.7 server and managerd may differ)."""
    seq = list(seq)
    if PY2:
        seq.sort(key=repr)
    return seq


class Recorder(object):
    """Steps (compared between servers) and checks (assertions)."""

    def __init__(self, a):
        self.a = a
        self.server = a.server
        self.steps = []       # [name, text, compare]
        self.checks = []      # [name, ok, detail]
        self.extra = {}       # facts for run.py (e.g. bad handshakes made)
        self.t0 = time.time()

    def step(self, name, fn, *fargs, **fkw):
        """Run fn; record 'ok REPR' or 'exc CLASS: MSG'. Returns
        (ok, value_or_exception)."""
        compare = fkw.pop('compare', True)
        try:
            r = fn(*fargs, **fkw)
        except Exception as e:                     # noqa: BLE001
            self.steps.append([name, 'exc ' + exc_text(e), compare])
            return False, e
        self.steps.append([name, 'ok ' + canon(r), compare])
        return True, r

    def note(self, name, value, compare=True):
        self.steps.append([name, 'ok ' + canon(value), compare])

    def check(self, name, cond, detail='', only=None):
        """An assertion. only='managerd' marks a behaviour CPython's server
        does not have (a documented difference): it is not checked there."""
        if only is not None and only != self.server:
            return cond
        self.checks.append([name, bool(cond), '' if cond else str(detail)])
        return cond

    def expect(self, name, fn, want, only=None, compare=True):
        ok, r = self.step(name, fn, compare=compare)
        if ok:
            return self.check(name, r == want, 'got %s, want %s' % (canon(r), canon(want)), only)
        return self.check(name, False, 'raised %s, want %s' % (exc_text(r), canon(want)), only)

    def expect_exc(self, name, fn, classes, msg=None, only=None, compare=True):
        """fn must raise an instance of classes (a class or tuple); msg,
        when given, is the exact str() of the exception (or a tuple of
        acceptable ones)."""
        ok, r = self.step(name, fn, compare=compare)
        if ok:
            return self.check(name, False, 'returned %s, want %s' % (canon(r), classes), only)
        if not isinstance(r, classes):
            return self.check(name, False, 'raised %s, want %s' % (exc_text(r), classes), only)
        if msg is not None:
            msgs = msg if isinstance(msg, tuple) else (msg,)
            return self.check(name, str(r) in msgs, 'message %r, want %r' % (str(r), msgs), only)
        return self.check(name, True, '', only)

    def guard(self, name, fn, *fargs):
        """Run a whole block; an unexpected exception fails one check named
        after the block instead of the whole script."""
        try:
            fn(*fargs)
        except Exception:                          # noqa: BLE001
            self.check(name + ' (block raised)', False, traceback.format_exc())

    def emit(self):
        out = {'steps': self.steps, 'checks': self.checks, 'extra': self.extra,
               'python': sys.version.split()[0], 'server': self.server,
               'seconds': round(time.time() - self.t0, 2)}
        sys.stdout.write('@@RESULT ' + json.dumps(out) + '\n')
        sys.stdout.flush()


# ---- small utilities ---------------------------------------------------------

class Worker(threading.Thread):
    """A thread whose result or exception can be collected with a bound."""

    def __init__(self, fn, *fargs):
        threading.Thread.__init__(self)
        self.daemon = True
        self.fn = fn
        self.fargs = fargs
        self.result = None
        self.error = None
        self.done = False

    def run(self):
        try:
            self.result = self.fn(*self.fargs)
        except BaseException as e:                 # noqa: BLE001
            self.error = e
        self.done = True

    def outcome(self, timeout):
        self.join(timeout)
        if not self.done:
            return 'still running after %ss' % timeout
        if self.error is not None:
            return 'exc ' + exc_text(self.error)
        return 'ok ' + canon(self.result)


def wait_until(pred, timeout, step=0.02):
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(step)


def collect():
    gc.collect()
    gc.collect()


def count_settles(m, want, timeout):
    """Poll m._number_of_objects() until it equals want (bounded)."""
    last = [None]

    def pred():
        collect()
        last[0] = m._number_of_objects()
        return last[0] == want
    wait_until(pred, timeout, 0.05)
    return last[0]


def run_main(main):
    """Common entry: parse args, run main(R, a), print the result line."""
    a = args()
    R = Recorder(a)
    try:
        main(R, a)
    except Exception:                              # noqa: BLE001
        R.check('scenario completed', False, traceback.format_exc())
    R.emit()
    sys.stdout.flush()
    # A normal exit: live proxies send their decrefs, as real programs do
    # (run.py bounds the whole script with a timeout).
    sys.exit(0)
