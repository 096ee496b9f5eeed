"""managerd for Python programs: multiprocessing managers served by managerd.

    from managerd import Manager
    with Manager() as m:          # as multiprocessing.Manager(), on managerd
        d = m.dict(); q = m.Queue()

or run an unmodified program with every multiprocessing.Manager() of its
process tree served by one managerd:

    python -m managerd run prog.py ARGS...

Manager() starts managerd on a private Unix socket in a private folder
(under TMPDIR) with the authkey of current_process() -- the key that proxies
sent through Pool and executor task queues fall back on -- and stops it when
shutdown() is called or the program ends, however it ends.
"""
from multiprocessing import ProcessError, current_process, util
from multiprocessing import managers as _mm

from managerd._daemon import Daemon, ManagerdError, find_managerd

__all__ = ['Manager', 'SyncManager', 'BaseManager', 'connect', 'find_managerd',
           'ManagerdError', 'UnsupportedError']
__version__ = '0.1.0'

_POOL_REFUSED = (
    'managerd cannot serve Pool: a manager Pool runs your Python functions '
    'inside the server process, and managerd never runs Python code; create '
    'multiprocessing.Pool(...) in your program instead')
_CALLABLE_REFUSED = (
    'managerd cannot register %r with a Python callable: managerd never runs '
    'Python code; register the typeid without a callable and start managerd '
    'with --register NAME=TYPE or --share NAME=TYPE (or use '
    'Manager(register={...}, share={...}))')
_INITIALIZER_REFUSED = (
    'managerd cannot run an initializer: managerd never runs Python code')


class UnsupportedError(NotImplementedError):
    """What managerd cannot serve: Pool, Python callables, initializers."""


class _DaemonProcess(object):
    """Stands where CPython's manager keeps its server Process."""

    def __init__(self, daemon):
        self._daemon = daemon
        self.pid = daemon.pid
        self.name = 'managerd'

    def is_alive(self):
        return self._daemon.alive()

    def join(self, timeout=None):
        self._daemon.wait(timeout)

    def terminate(self):
        self._daemon.stop()

    kill = terminate


def _finalize_daemon(daemon, address, state):
    daemon.stop()
    state.value = _mm.State.SHUTDOWN
    _mm.BaseProxy._address_to_local.pop(address, None)


class _DaemonMixin(object):
    """start() runs managerd; typeids map to managerd's built-in types."""

    _managerd_options = ()

    @classmethod
    def register(cls, typeid, callable=None, *args, **kwds):
        if callable is not None:
            raise UnsupportedError(_CALLABLE_REFUSED % typeid)
        return super(_DaemonMixin, cls).register(typeid, None, *args, **kwds)

    @classmethod
    def _add_typeid(cls, flag, typeid, type_name):
        entry = _mm.SyncManager._registry.get(type_name)
        if entry is None:
            raise ValueError('managerd has no type %r' % type_name)
        _callable, exposed, method_to_typeid, proxytype = entry
        cls.register(typeid, proxytype=proxytype, exposed=exposed,
                     method_to_typeid=method_to_typeid)
        cls._managerd_options = tuple(cls._managerd_options) + (
            flag, '%s=%s' % (typeid, type_name))

    @classmethod
    def share(cls, typeid, type_name):
        """typeid returns one shared object of type_name (--share)."""
        cls._add_typeid('--share', typeid, type_name)

    @classmethod
    def register_type(cls, typeid, type_name):
        """typeid makes a new object of type_name on each call (--register)."""
        cls._add_typeid('--register', typeid, type_name)

    def start(self, initializer=None, initargs=()):
        if self._state.value != _mm.State.INITIAL:
            if self._state.value == _mm.State.STARTED:
                raise ProcessError('Already started server')
            raise ProcessError('Manager has shut down')
        if initializer is not None:
            raise UnsupportedError(_INITIALIZER_REFUSED)
        daemon = Daemon(bytes(self._authkey), self._address, self._managerd_options,
                        _serializer_of(self))
        start_with(self, daemon)


def _serializer_of(manager):
    return 'xmlrpclib' if getattr(manager, '_serializer', 'pickle') == 'xmlrpclib' else None


def start_with(manager, daemon):
    """Make manager a started manager served by daemon (a Daemon, or
    anything with address, pid, alive(), wait(timeout) and stop())."""
    manager._managerd = daemon
    manager._address = daemon.address
    manager._process = _DaemonProcess(daemon)
    manager._state.value = _mm.State.STARTED
    if hasattr(daemon, 'ready'):
        manager._Client = _checked_client(manager._Client, daemon)
    manager.shutdown = util.Finalize(
        manager, _finalize_daemon, args=(daemon, manager._address, manager._state),
        exitpriority=0)


def _checked_client(client, daemon):
    """client, after managerd has started (Manager() did not wait for it):
    a ManagerdError with managerd's output if it failed to."""
    def connect(address, *args, **kwds):
        daemon.ready()
        return client(address, *args, **kwds)
    return connect


class SyncManager(_DaemonMixin, _mm.SyncManager):
    """multiprocessing's SyncManager whose server is managerd."""

    def Pool(self, *args, **kwds):
        raise UnsupportedError(_POOL_REFUSED)


class BaseManager(_DaemonMixin, _mm.BaseManager):
    """A BaseManager for managerd: register('get_queue') with no callable to
    reach a daemon started with --share get_queue=Queue, or declare
    share('get_queue', 'Queue') / register_type('make', 'dict') and start()."""


def _manager_class(base, share, register):
    if not share and not register:
        return base
    cls = type(base.__name__, (base,), {})
    for typeid, type_name in sorted((share or {}).items()):
        cls.share(typeid, type_name)
    for typeid, type_name in sorted((register or {}).items()):
        cls.register_type(typeid, type_name)
    return cls


def Manager(address=None, authkey=None, share=None, register=None, **kwds):
    """A started SyncManager served by a new managerd.

    address: None for a private Unix socket, a path, '\\0name' (abstract) or
    (host, port).  authkey: default current_process().authkey.
    share / register: {typeid: managerd type} for --share / --register.
    Other keywords (ctx, serializer, ...) go to SyncManager.
    """
    cls = _manager_class(SyncManager, share, register)
    m = cls(address=address, authkey=authkey, **kwds)
    m.start()
    return m


def connect(address, authkey=None, manager_class=SyncManager):
    """A manager connected to a running managerd (or any manager server)."""
    m = manager_class(address=address, authkey=authkey)
    m.connect()
    return m

