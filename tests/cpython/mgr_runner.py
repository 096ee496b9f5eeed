"""mgr_runner - CPython's own manager tests, run by the Python under test.

    python3.X mgr_runner.py --results FILE [--server connect|builtin]
                            [--address ADDR --authkey-hex HEX]
                            [--managerd EXE] [--test-timeout SECONDS]
                            [--start-method fork|spawn|forkserver]
                            [--exclude PATTERN]...

It imports that Python's test._test_multiprocessing, builds the test
classes as test_multiprocessing_fork does (install_tests_in_module_dict,
the fork start method unless --start-method says otherwise) and keeps the
ones that use a manager (SELECTED, SELECTED_TESTS below). With --server
connect, every manager those tests get from multiprocessing.Manager() (and
TestSyncManagerTypes' SyncManager) is a SyncManager connected to the server
at ADDR instead of a new CPython server process; the managers the tests
start themselves (QueueManager, MyManager, SharedMemoryManager) get a
private managerd each (--managerd), when their registry can be served
without running Python code. With --server builtin nothing is patched:
CPython's own servers, as a check of the selection. --exclude skips the
tests whose 'Class.method' matches. Each test's outcome goes to FILE as one
JSON line; a test gets --test-timeout seconds (SIGALRM).
"""
import argparse
import binascii
import inspect
import json
import os
import queue as pyqueue
import signal
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'interop'))

# Classes that use a manager. The generated WithManager* classes are every
# BaseTestCase that allows the 'manager' type; the plain TestCases below
# create managers themselves (read from _test_multiprocessing.py of 3.8 to
# 3.13; a class a version lacks is left out).
SELECTED = ('TestSyncManagerTypes',    # SyncManager().start(), every typeid, a child process
            'TestManagerExceptions',   # 3.13 (here): Manager() and a Queue's Empty
            'TestInitializers')        # Manager() Namespace used by a Pool and a manager initializer
# Single tests of other classes that start a manager: SharedMemoryManager's
# requests (track_segment, ...) are served by managerd too. The class's
# other tests use no manager (test_..._reuses_resource_tracker starts one in
# a separate interpreter, which this runner cannot point anywhere).
SELECTED_TESTS = ('WithProcessesTestSharedMemory.test_shared_memory_SharedMemoryManager_basics',
                  'WithProcessesTestSharedMemory.test_shared_memory_SharedMemoryServer_ignores_sigint')


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout('test did not finish within the per-test timeout')


# ---- the connected manager ---------------------------------------------------

def connected_manager_class(address, authkey):
    from multiprocessing.managers import SyncManager, State

    class ConnectedSyncManager(SyncManager):
        """A SyncManager whose start() connects to an existing server."""

        def __init__(self, *args, **kwds):
            kwds.pop('address', None)
            kwds.pop('authkey', None)
            kwds.pop('serializer', None)
            SyncManager.__init__(self, address=address, authkey=authkey, **kwds)

        def start(self, initializer=None, initargs=()):
            if initializer is not None and not callable(initializer):
                raise TypeError('initializer must be a callable')
            if initializer is not None:
                raise RuntimeError('an initializer runs Python code in the server process')
            self.connect()

        def shutdown(self):
            # The server is shared: a test's shutdown only ends its use of it.
            self._state.value = State.SHUTDOWN

        def join(self, timeout=None):
            pass

    return ConnectedSyncManager


def _required_params(func):
    return [p for p in inspect.signature(func).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


class _ManagerdProcess(object):
    """What the tests read of BaseManager._process."""

    def __init__(self, md):
        self.pid = md.pid()
        self.exitcode = None


def _managerd_start(managerd_exe):
    """A BaseManager.start for the custom managers of the tests: a private
    managerd at the manager's address with its key and serializer, serving
    each registered typeid whose callable returns one shared queue (no
    address: a Unix socket in a temporary folder)."""
    from multiprocessing.managers import State
    import mdtest

    def start(self, initializer=None, initargs=()):
        if initializer is not None:
            raise RuntimeError('an initializer runs Python code in the server process')
        args = []
        for typeid, (func, _exp, _meth, _proxy) in sorted(self._registry.items()):
            # A function of no arguments is called here to see what it
            # serves (the tests' get_queue returns its one queue).
            value = func() if inspect.isfunction(func) and not _required_params(func) else None
            if isinstance(value, pyqueue.Queue):
                args += ['--share', '%s=Queue' % typeid]
            else:
                raise RuntimeError('managerd cannot serve typeid %r: its callable %r is Python code '
                                   'that would run in the server' % (typeid, func))
        # The process a manager's start() makes ignores SIGINT (CPython's
        # does, bpo-36368); managerd does on request.
        args.append('--ignore-sigint')
        if self._address is None:
            spec = 'unix'
        else:
            spec = '%s:%d' % self._address
        if self._serializer != 'pickle':
            spec += '?serializer=' + self._serializer
        md = mdtest.Managerd(managerd_exe, listen=[spec], authkey=bytes(self._authkey), args=args)
        md.start()
        self._address = mdtest.python_address(md.addresses[0])
        self._state.value = State.STARTED
        self._process = proc = _ManagerdProcess(md)

        def shutdown():
            if self._state.value == State.STARTED:
                self._state.value = State.SHUTDOWN
                problems = md.stop_check()         # exit status 0 (under valgrind: no error)
                proc.exitcode = md.exit_status
                md.cleanup()
                if problems:
                    raise RuntimeError('; '.join(problems))
        self.shutdown = shutdown
    return start


def patch(tm, address, authkey, managerd_exe):
    import multiprocessing
    cls = connected_manager_class(address, authkey)
    multiprocessing.Manager = lambda: _started(cls())
    if hasattr(tm, 'TestSyncManagerTypes'):
        tm.TestSyncManagerTypes.manager_class = cls
    # Every child forked by a test uses the server's key for its proxies.
    multiprocessing.current_process().authkey = authkey
    if managerd_exe:
        start = _managerd_start(managerd_exe)
        for name in ('QueueManager', 'MyManager'):
            if hasattr(tm, name):
                getattr(tm, name).start = start
        import multiprocessing.managers
        if hasattr(multiprocessing.managers, 'SharedMemoryManager'):
            multiprocessing.managers.SharedMemoryManager.start = start


def _started(m):
    m.start()
    return m


# ---- the suite ---------------------------------------------------------------

def build_module(tm, start_method):
    """The selected test classes as module 'mgrtests' (in sys.modules, so
    that a spawned child finds the classes its target refers to)."""
    g = {'__name__': 'mgrtests'}
    tm.install_tests_in_module_dict(g, start_method)
    mod = type(sys)('mgrtests')
    for name, obj in g.items():
        if name.startswith('WithManager') or name in SELECTED or \
                name in [t.split('.')[0] for t in SELECTED_TESTS]:
            setattr(mod, name, obj)
    mod.setUpModule = g['setUpModule']
    mod.tearDownModule = g['tearDownModule']
    sys.modules['mgrtests'] = mod
    return mod


def select(suite):
    """The suite without the tests of classes that are not all selected."""
    out = unittest.TestSuite()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.addTest(select(t))
        elif t.__class__.__name__ in SELECTED or t.__class__.__name__.startswith('WithManager') \
                or short_id(t) in SELECTED_TESTS:
            out.addTest(t)
    return out


def exclude(mod, patterns):
    """Skip the tests whose 'Class.method' id matches a pattern; a class
    whose every test matches is skipped whole (no setUpClass)."""
    import fnmatch
    why = 'excluded: needs Python code in the server'
    for name in dir(mod):
        cls = getattr(mod, name)
        if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase)):
            continue
        methods = unittest.defaultTestLoader.getTestCaseNames(cls)
        hit = [m for m in methods if any(fnmatch.fnmatchcase(name + '.' + m, p) for p in patterns)]
        if hit and len(hit) == len(methods):
            cls.__unittest_skip__ = True
            cls.__unittest_skip_why__ = why
        for m in hit:
            setattr(cls, m, unittest.skip(why)(getattr(cls, m)))


def short_id(test):
    """'WithManagerTestLock.test_lock'; 'Class.setUpClass' for class fixtures."""
    tid = test.id()
    if ' (' in tid:                        # _ErrorHolder: 'setUpClass (mgrtests.Cls)'
        what, where = tid.split(' (', 1)
        return where.rstrip(')').split('.')[-1] + '.' + what
    return '.'.join(tid.split('.')[-2:])


def all_ids(suite):
    out = []
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.extend(all_ids(t))
        else:
            out.append(short_id(t))
    return out


def error_summary(err, text):
    """One line for an error: the exception's type and first line (for a
    RemoteError, the server's exception line), and the last frame of the
    test file."""
    etype, value = err[0], err[1]
    msg = str(value).strip('\n')
    if etype.__name__ == 'RemoteError':
        inner = [l for l in msg.split('\n') if l and not l.startswith((' ', '-', 'Traceback'))]
        first = 'RemoteError: ' + (inner[-1] if inner else msg)
    else:
        first = etype.__name__ + (': ' + msg.split('\n')[0] if msg else '')
    where = ''
    for line in text.split('\n'):
        if line.strip().startswith('File ') and '_test_multiprocessing.py' in line:
            where = line.strip()
    return first, where


class JsonResult(unittest.TextTestResult):
    def __init__(self, stream, descriptions, verbosity, out=None, test_timeout=30):
        unittest.TextTestResult.__init__(self, stream, descriptions, verbosity)
        self.out = out
        self.test_timeout = test_timeout

    def record(self, test, outcome, err=None, reason=''):
        rec = {'id': short_id(test), 'outcome': outcome}
        if err is not None:
            text = self._exc_info_to_string(err, test)
            rec['error'], rec['where'] = error_summary(err, text)
            rec['traceback'] = text.rstrip('\n').split('\n')[-60:]
        if reason:
            rec['error'] = reason
        self.out.write(json.dumps(rec) + '\n')
        self.out.flush()

    def startTest(self, test):
        unittest.TextTestResult.startTest(self, test)
        signal.alarm(self.test_timeout)

    def stopTest(self, test):
        signal.alarm(0)
        unittest.TextTestResult.stopTest(self, test)

    def addSuccess(self, test):
        unittest.TextTestResult.addSuccess(self, test)
        self.record(test, 'pass')

    def addFailure(self, test, err):
        unittest.TextTestResult.addFailure(self, test, err)
        self.record(test, 'fail', err)

    def addError(self, test, err):
        unittest.TextTestResult.addError(self, test, err)
        self.record(test, 'error', err)

    def addSkip(self, test, reason):
        unittest.TextTestResult.addSkip(self, test, reason)
        self.record(test, 'skip', reason=reason)

    def addExpectedFailure(self, test, err):
        unittest.TextTestResult.addExpectedFailure(self, test, err)
        self.record(test, 'pass')

    def addUnexpectedSuccess(self, test):
        unittest.TextTestResult.addUnexpectedSuccess(self, test)
        self.record(test, 'fail', reason='unexpected success of a CPython expectedFailure')

    def addSubTest(self, test, subtest, err):
        unittest.TextTestResult.addSubTest(self, test, subtest, err)
        if err is not None:                 # the test itself is then reported as failed
            self.record(test, 'fail' if issubclass(err[0], test.failureException) else 'error', err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--results', required=True)
    ap.add_argument('--server', choices=('connect', 'builtin'), default='connect')
    ap.add_argument('--address')
    ap.add_argument('--authkey-hex', default='')
    ap.add_argument('--managerd')
    ap.add_argument('--test-timeout', type=int, default=30)
    ap.add_argument('--exclude', action='append', default=[])
    ap.add_argument('--start-method', choices=('fork', 'spawn', 'forkserver'), default='fork')
    opts = ap.parse_args()

    import test._test_multiprocessing as tm
    if opts.server == 'connect':
        addr = opts.address
        if ':' in addr and not addr.startswith('/'):
            host, port = addr.rsplit(':', 1)
            addr = (host, int(port))
        patch(tm, addr, binascii.unhexlify(opts.authkey_hex), opts.managerd)
    mod = build_module(tm, opts.start_method)
    exclude(mod, opts.exclude)
    suite = select(unittest.defaultTestLoader.loadTestsFromModule(mod))
    signal.signal(signal.SIGALRM, _on_alarm)
    with open(opts.results, 'w') as out:
        out.write(json.dumps({'planned': all_ids(suite)}) + '\n')
        out.flush()
        runner = unittest.TextTestRunner(
            stream=sys.stderr, verbosity=2,
            resultclass=lambda s, d, v: JsonResult(s, d, v, out, opts.test_timeout))
        runner.run(suite)
    return 0


if __name__ == '__mp_main__':
    # This file is the main module of a spawn or forkserver child: make the
    # test classes its target refers to (nothing is patched in a child: its
    # proxies arrive pickled with the server's address and key).
    import test._test_multiprocessing
    build_module(test._test_multiprocessing, 'spawn')

if __name__ == '__main__':
    sys.exit(main())
