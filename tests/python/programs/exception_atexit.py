# A program that ends in an uncaught exception after using a manager: the
# same traceback (it starts in the script), the same exit status, and its
# globals still there for its atexit handler.
# cpython-starts: 0
# compare-stderr: yes
from __future__ import print_function
import atexit
import sys
from multiprocessing import Manager

LABEL = 'globals kept'
atexit.register(lambda: print('atexit:', LABEL, __name__))


def fail(d):
    raise ValueError('failed with %d items' % len(d))


if __name__ == '__main__':
    m = Manager()
    d = m.dict(a=1, b=2)
    print(sys.argv[1:], sorted(d.keys()))
    fail(d)
