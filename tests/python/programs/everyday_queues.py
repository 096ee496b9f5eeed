# Everyday idioms: producer and consumer processes on a Queue and a
# JoinableQueue, timeouts and queue.Empty, dataclass keys, dict and list
# methods, Namespace, RLock, BoundedSemaphore, Condition, Value, Array, lazy
# iterables. The output must be CPython's server's.
# cpython-starts: 0
# min-python: 3.7
import multiprocessing as mp, queue, threading, time, datetime, collections, decimal
from dataclasses import dataclass

@dataclass(frozen=True)
class Key:
    a: int
    b: str

class Rec:
    def __init__(self, n): self.n = n

def producer(q, jq, n):
    for i in range(n):
        q.put(i); jq.put(i)
    q.put(None)

def consumer(jq, out):
    while True:
        try:
            x = jq.get(timeout=0.5)
        except queue.Empty:
            break
        out.append(x * 10)
        jq.task_done()

if __name__ == '__main__':
    m = mp.Manager()
    q = m.Queue(); jq = m.JoinableQueue(); out = m.list()
    p = mp.Process(target=producer, args=(q, jq, 5)); p.start(); p.join()
    c = mp.Process(target=consumer, args=(jq, out)); c.start(); jq.join(); c.join()
    print(sorted(out), [q.get() for _ in range(6)])
    try: q.get_nowait()
    except queue.Empty: print('empty')
    try: q.get(timeout=0.05)
    except queue.Empty: print('empty2')
    d = m.dict()
    d[Key(1, 'x')] = 'k1'
    print(d[Key(1, 'x')], Key(1, 'x') in d, len(d))
    s = m.list([Rec(1)])
    try:
        s.sort()
    except TypeError as e: print('TypeError', e)
    d2 = m.dict({'a': 1, 'b': 2})
    print(list(d2), d2.keys(), d2.values(), d2.items(), 'a' in d2, d2.get('z', 5))
    print(d2.popitem(), d2.setdefault('c', 3), d2.pop('a'), d2)
    del d2['c']; print(d2.copy(), d2 == {}, d2.__len__())
    l = m.list([3, 1, 2])
    print([x for x in l], l + [9], l * 2, 3 in l, l[::-1], l[-1], reversed(l) is not None)
    l += [4]; l *= 1; l.extend((5, 6)); l.insert(0, 0); l.remove(3); print(l, l.pop(), l.pop(0))
    l.reverse(); print(l); l.sort(reverse=True); print(l)
    try: l[100]
    except IndexError as e: print('IndexError', e)
    ns = m.Namespace(x=1, y=[1]); ns.x += 1; ns.z = 'new'; print(ns.x, ns.y, ns.z, ns)
    try: ns.nope
    except AttributeError as e: print('AttributeError', e)
    rl = m.RLock(); rl.acquire(); rl.acquire(); rl.release(); rl.release()
    try: rl.release()
    except RuntimeError as e: print('RuntimeError', e)
    sem = m.BoundedSemaphore(1); sem.acquire(); sem.release()
    try: sem.release()
    except ValueError as e: print('ValueError', e)
    print(sem.acquire(timeout=0.01), sem.acquire(timeout=0.01))
    cond = m.Condition(); res = []
    def waiter():
        with cond:
            res.append(cond.wait_for(lambda: len(res) > 0 or True, 1))
    t = threading.Thread(target=waiter); t.start(); t.join()
    print(res)
    v = m.Value('d', 1.5); print(v, v.value)
    a = m.Array('i', range(5)); print(list(a), a[4], len(a))
    try: a[1:3] = [9, 9]
    except TypeError as e: print('TypeError', e)
    print(m.dict(zip('abc', range(3))), m.list(enumerate('xy')), m.list(map(str, [1, 2])))
    print(m.list(filter(None, [0, 1, 2])), m.dict(collections.defaultdict(int, a=1)))
    e = m.dict(); e.update([('k', 1)], z=2); print(e)
    print(m.list(sorted({3, 1}))), print(m.list({1, 2}))
    t0 = datetime.datetime(2024, 1, 1); dl = m.list([t0 + datetime.timedelta(days=i) for i in (3, 1, 2)])
    dl.sort(); print(dl[0], max(dl), min(dl) < max(dl))
    print(m.list([decimal.Decimal('1.10')]).count(decimal.Decimal('1.1')))
    m.shutdown()
