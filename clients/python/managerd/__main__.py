"""python -m managerd run SCRIPT [ARGS...]

Runs SCRIPT as __main__ (its folder first on sys.path, ARGS in sys.argv)
with every multiprocessing.Manager(), SyncManager().start() and context
Manager() of the program and of its child processes served by one managerd,
started here and stopped when the program ends; the program's exit status
is passed through.
"""
import os
import sys
import types

try:
    import builtins
except ImportError:         # Python 2
    import __builtin__ as builtins

from multiprocessing import current_process, util

USAGE = 'usage: python -m managerd run SCRIPT [ARGS...]\n'


def _stop_daemon(daemon):
    daemon.stop()


def run(script, args):
    from managerd import ManagerdError, _daemon, _runmode
    if not os.path.isfile(script):
        sys.stderr.write("managerd run: can't open file %r\n" % script)
        return 2
    key = bytes(current_process().authkey)
    try:
        daemon = _daemon.Daemon(key, None, (), 'auto')
    except ManagerdError as e:
        sys.stderr.write('managerd run: %s\n' % e)
        return 1
    # exitpriority -1: after multiprocessing has joined the program's
    # children at exit (priority >= 0 finalizers run before that).
    util.Finalize(None, _stop_daemon, args=(daemon,), exitpriority=-1)
    _runmode.prepare_children(daemon, key)
    _runmode.activate()
    sys.argv[:] = [script] + list(args)
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    if sys.version_info >= (3, 9):
        # Python 3.9+ names the script by its absolute path in __file__
        # and in tracebacks (argv[0] stays as given).
        script = os.path.abspath(script)
    _run_as_main(script)
    return 0


def _run_as_main(script):
    """Run script as `python script` does: a __main__ module that stays in
    sys.modules until the end (atexit handlers, threads and pickles by
    reference still find it), tracebacks that start in the script."""
    main = types.ModuleType('__main__')
    main.__dict__.update(__file__=script, __builtins__=builtins, __package__=None,
                         __cached__=None, __spec__=None)
    if sys.version_info[0] >= 3:
        import importlib.machinery
        main.__loader__ = importlib.machinery.SourceFileLoader('__main__', script)
    # This module must outlive its place as __main__ (Python 2 empties the
    # globals of a module that goes away).
    sys.modules.setdefault('managerd.__main__', sys.modules['__main__'])
    sys.modules['__main__'] = main
    with open(script, 'rb') as f:
        source = f.read()
    try:
        code = compile(source, script, 'exec', 0, True)
        exec(code, main.__dict__)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        kind, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        if tb is not None and hasattr(value, 'with_traceback'):
            value = value.with_traceback(tb)
        sys.excepthook(kind, value, tb)
        sys.exit(1)


def main(argv):
    if len(argv) >= 2 and argv[0] == 'run':
        return run(argv[1], argv[2:])
    if argv[:1] in (['-h'], ['--help']):
        sys.stdout.write(USAGE + '\n' + __doc__.split('\n', 2)[2])
        return 0
    sys.stderr.write(USAGE)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
