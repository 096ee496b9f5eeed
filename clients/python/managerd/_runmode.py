# _runmode.py - `python -m managerd run`: one managerd for a program and its
# whole process tree.
#
# The top process starts the daemon and names it in the environment
# (MANAGERD_RUN_ADDRESS, MANAGERD_RUN_AUTHKEY in hex).  Every Python process
# of the tree patches multiprocessing: the top one directly, forked children
# by inheritance, and children that start a new interpreter (spawn,
# forkserver, subprocess) through a sitecustomize.py in a private folder put
# first on PYTHONPATH.  That sitecustomize takes its folder off sys.path,
# imports the program's own sitecustomize if there is one, then calls
# activate().  No .pth file is installed: `python prog.py` is unchanged.
import binascii
import os
import sys

from multiprocessing import current_process
from multiprocessing import managers as _mm

import managerd

ENV_ADDRESS = 'MANAGERD_RUN_ADDRESS'
ENV_AUTHKEY = 'MANAGERD_RUN_AUTHKEY'

_SITECUSTOMIZE = '''\
# Written by `python -m managerd run`; see managerd/_runmode.py.
import os as _os
import sys as _sys
_here = _os.path.dirname(_os.path.abspath(__file__))
_sys.path[:] = [_p for _p in _sys.path if _os.path.abspath(_p or '.') != _here]
_ours = _sys.modules.pop('sitecustomize')
try:
    import sitecustomize            # the program's own, if any
except ImportError:
    pass
_sys.modules['sitecustomize'] = _ours
try:
    try:
        import managerd._runmode
    except ImportError:
        _sys.path.append(%(pkg_parent)r)
        try:
            import managerd._runmode
        finally:
            _sys.path.remove(%(pkg_parent)r)
    managerd._runmode.activate()
except Exception as _e:
    _sys.stderr.write('managerd run: cannot patch multiprocessing: %%s\\n' %% (_e,))
'''

_original_start = _mm.SyncManager.start
_original_pool = _mm.SyncManager.Pool
# The stock typeids, taken before the program runs: a program may register
# its own callables on SyncManager itself.
_stock_registry = dict(_mm.SyncManager._registry)
_shared = None               # the run's daemon, as this process sees it


class _SharedDaemon(object):
    """The run's daemon seen by a manager of the program: stopping the
    manager leaves the daemon to the rest of the process tree."""

    def __init__(self, address):
        self.address = address
        self.pid = None
        self._stopped = False

    def alive(self):
        return not self._stopped

    def wait(self, timeout=None):
        pass

    def stop(self):
        self._stopped = True


def _servable(manager, initializer):
    """A SyncManager whose typeids managerd serves (no Python callable of
    the program's own) and that has no initializer."""
    if initializer is not None:
        return False
    for typeid, entry in type(manager)._registry.items():
        if entry[0] is not None and _stock_registry.get(typeid) is not entry:
            return False
    return getattr(manager, '_serializer', 'pickle') in ('pickle', 'xmlrpclib')


def _start(self, initializer=None, initargs=()):
    if _shared is None or not _servable(self, initializer):
        return _original_start(self, initializer, initargs)
    if self._state.value != _mm.State.INITIAL:
        return _original_start(self, initializer, initargs)   # raises as CPython does
    same_key = bytes(self._authkey) == bytes(current_process().authkey)
    if self._address is None and same_key:
        managerd.start_with(self, _SharedDaemon(_shared))
    else:
        daemon = managerd.Daemon(bytes(self._authkey), self._address, (),
                                 managerd._serializer_of(self))
        managerd.start_with(self, daemon)


def _pool(self, *args, **kwds):
    if getattr(self, '_managerd', None) is not None:
        raise managerd.UnsupportedError(managerd._POOL_REFUSED)
    return _original_pool(self, *args, **kwds)


def activate():
    """Patch multiprocessing in this process to use the run's daemon."""
    global _shared
    address = os.environ.get(ENV_ADDRESS)
    key = os.environ.get(ENV_AUTHKEY)
    if not address or not key:
        return
    _shared = address
    # Proxies sent through Pool and executor queues authenticate with
    # current_process().authkey: make it the daemon's key everywhere.
    current_process().authkey = binascii.unhexlify(key.encode('ascii'))
    _mm.SyncManager.start = _start
    _mm.SyncManager.Pool = _pool


def prepare_children(daemon, key):
    """Name the daemon in the environment and write the sitecustomize that
    patches new interpreters of the tree; call in the top process."""
    daemon.ready()                   # the whole tree relies on it: wait here
    site = os.path.join(daemon.folder, 'site')
    os.mkdir(site, 0o700)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(managerd.__file__)))
    with open(os.path.join(site, 'sitecustomize.py'), 'w') as f:
        f.write(_SITECUSTOMIZE % {'pkg_parent': pkg_parent})
    os.environ[ENV_ADDRESS] = daemon.address
    os.environ[ENV_AUTHKEY] = binascii.hexlify(bytes(key)).decode('ascii')
    old = os.environ.get('PYTHONPATH')
    os.environ['PYTHONPATH'] = site + (os.pathsep + old if old else '')
