# Everyday idioms: Pool and ProcessPoolExecutor workers sharing a dict, a
# list, a Lock, a Queue and a Namespace; records of dates, Decimals,
# Fractions and UUIDs; user classes and frozen dataclasses as keys; lazy
# iterables as arguments; sort keys. The output must be CPython's server's.
# cpython-starts: 0
# min-python: 3.7
import multiprocessing as mp, datetime, decimal, fractions, uuid, collections
from concurrent.futures import ProcessPoolExecutor

class Point:
    def __init__(self, x, y): self.x, self.y = x, y

def work(args):
    d, l, lock, i = args
    with lock:
        d[i] = i * i
        l.append(decimal.Decimal(i) / 4)
    return i

def work2(ns, q, i):
    q.put((i, datetime.date(2024, 1, i + 1)))
    return i

if __name__ == '__main__':
    with mp.Manager() as m:
        d = m.dict(); l = m.list(); lock = m.Lock()
        with mp.Pool(3) as pool:
            print(sorted(pool.map(work, [(d, l, lock, i) for i in range(6)])))
        print(sorted(d.items()), sorted(l))
        q = m.Queue(); ns = m.Namespace(total=0)
        with ProcessPoolExecutor(2) as ex:
            print(sorted(ex.map(work2, [ns]*4, [q]*4, range(4))))
        items = sorted(q.get() for _ in range(4))
        print(items)
        rec = m.dict({'when': datetime.datetime(2024, 5, 1, 12, 30), 'amount': decimal.Decimal('12.50'),
                      'ratio': fractions.Fraction(3, 4), 'id': uuid.UUID(int=5),
                      'td': datetime.timedelta(hours=36), 'tz': datetime.datetime(2024,1,1,tzinfo=datetime.timezone.utc)})
        print(rec)
        print(str(rec['when']), rec['amount'] + 1, rec['amount'] == decimal.Decimal('12.5'))
        s = m.list([Point(1, 2), Point(3, 4)])
        print(len(s))
        keys = m.dict()
        keys[(1, 'a')] = 1
        keys[frozenset([1, 2])] = 2
        keys[decimal.Decimal('2')] = 'dec'
        print(keys.get(2), keys.get(2.0), fractions.Fraction(1, 2) in m.list([0.5]))
        l2 = m.list([3.5, decimal.Decimal('1.25'), fractions.Fraction(1, 3), 2])
        l2.sort(); print(l2)
        l3 = m.list(['b', 'A', 'c']); l3.sort(key=str.lower); print(l3)
        c = m.dict(collections.Counter('abracadabra')); print(sorted(c.items()))
        od = m.list([collections.OrderedDict(a=1, b=2), collections.deque([1, 2], maxlen=5)]); print(od[1], list(od[0].items()), od[0] == {'b': 2, 'a': 1})
        l4 = m.list(range(10)); l4[2:5] = range(3); print(l4, l4.count(0), l4.index(9))
        arr = m.Array('d', [1.5, 2.5]); print(arr[:], len(arr))
        v = m.Value('i', 7); v.value += 1; print(v.value)
        ev = m.Event(); print(ev.is_set()); ev.set(); print(ev.wait(0.1))
        b = m.Barrier(1); print(b.wait())
        cond = m.Condition(); 
        with cond: print(cond.wait(0.01))
        try:
            d['missing']
        except KeyError as e:
            print('KeyError', e)
        try:
            m.list([1]).index(5)
        except ValueError as e:
            print('ValueError', e)
        print(str(m.list([1, 'x'])), str(m.dict(a=[1])))
