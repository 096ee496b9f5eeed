# A program that registers its own class on SyncManager itself, then uses
# multiprocessing.Manager(): managerd cannot run that class, so `python -m
# managerd run` leaves this manager to CPython and the program works as
# before.
# cpython-starts: 1
# min-python: 3.3 (SyncManager in `with`)
from multiprocessing import Manager
from multiprocessing.managers import SyncManager


class Counter(object):
    def __init__(self):
        self.n = 0

    def bump(self, k):
        self.n += k
        return self.n


SyncManager.register('Counter', Counter)

if __name__ == '__main__':
    with Manager() as m:
        c = m.Counter()
        d = m.dict()
        for k in (1, 2, 3):
            d[k] = c.bump(k)
        print(sorted(d.items()))
