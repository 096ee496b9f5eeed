# A test probe (tests/python/run.py puts this folder on PYTHONPATH): logs
# every manager that CPython's own BaseManager.start serves to the file
# MANAGERD_TEST_PROBE names, so that the test knows which managers
# `python -m managerd run` left to CPython.  It is also "the program's own
# sitecustomize" that managerd's must still import.
import os
from multiprocessing import managers

_start = managers.BaseManager.start


def _logged_start(self, *args, **kwds):
    path = os.environ.get('MANAGERD_TEST_PROBE')
    if path:
        with open(path, 'a') as f:
            f.write('cpython-start %s\n' % type(self).__name__)
    return _start(self, *args, **kwds)


managers.BaseManager.start = _logged_start
