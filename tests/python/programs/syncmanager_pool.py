# SyncManager().start() by hand, proxies passed to Pool workers through the
# task queue (they carry no authkey), and a Manager() made in a child under
# the start method the program sets itself.
# cpython-starts: 0
# args: | spawn | forkserver
import sys
import multiprocessing as mp
from multiprocessing.managers import SyncManager

def work(args):
    d, q, i = args
    d[i] = i * 10
    q.put(i)
    return i + 1

def child_manager(q):
    m = mp.Manager()
    v = m.Value('i', 41)
    v.value += 1
    q.put(v.value)
    m.shutdown()

if __name__ == '__main__':
    if len(sys.argv) > 1:
        mp.set_start_method(sys.argv[1])
    m = SyncManager()
    m.start()
    d, q = m.dict(), m.Queue()
    pool = mp.Pool(2)
    print(sorted(pool.map(work, [(d, q, i) for i in range(5)])))
    pool.close()
    pool.join()
    print(sorted(d.items()), sorted(q.get() for _ in range(5)))
    p = mp.Process(target=child_manager, args=(q,))
    p.start()
    p.join()
    print(q.get(timeout=30), p.exitcode)
    m.shutdown()
