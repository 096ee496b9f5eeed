# setup.py - for the pips that do not run the in-tree PEP 517 backend
# themselves (see pyproject.toml): pip 19 on Python 2.7 runs this through
# setuptools' legacy backend, pip 18 on Python 3.6 runs it directly.  The
# commands that would need the wheel package (bdist_wheel, dist_info) are
# done by managerd_backend; the others (egg_info, install) by setuptools.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, '_backend'))
import managerd_backend  # noqa: E402


def _option(args, *names):
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + '='):
                return arg[len(name) + 1:]
    return None


def _main(args):
    command = args[0] if args else None
    if command == 'bdist_wheel':
        folder = _option(args, '--dist-dir', '-d') or os.path.join(_here, 'dist')
        if not os.path.isdir(folder):
            os.makedirs(folder)
        managerd_backend.build_wheel(folder)
    elif command == 'dist_info':
        managerd_backend.prepare_metadata_for_build_wheel(
            _option(args, '--egg-base', '-e') or _here)
    else:
        from setuptools import setup
        setup(name=managerd_backend.NAME, version=managerd_backend.version(),
              description=managerd_backend.SUMMARY, packages=[managerd_backend.NAME],
              python_requires=managerd_backend.REQUIRES_PYTHON)


_main(sys.argv[1:])
