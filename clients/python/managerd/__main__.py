"""python -m managerd run SCRIPT [ARGS...]

Runs SCRIPT as __main__ (its folder first on sys.path, ARGS in sys.argv)
with every multiprocessing.Manager(), SyncManager().start() and context
Manager() of the program and of its child processes served by one managerd,
started here and stopped when the program ends; the program's exit status
is passed through.
"""
import os
import runpy
import sys

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
    runpy.run_path(script, run_name='__main__')
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == 'run':
        return run(argv[1], argv[2:])
    if argv[:1] in (['-h'], ['--help']):
        sys.stdout.write(USAGE + __doc__.split('\n', 2)[2])
        return 0
    sys.stderr.write(USAGE)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
