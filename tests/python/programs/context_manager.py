# A multiprocessing context's Manager() shared by workers of that context,
# the start method given on the command line; helper_mod sits beside this
# file (sys.path[0]); the exit status is 3.
# cpython-starts: 0
# min-python: 3.4
# args: spawn | forkserver | fork
import sys
import multiprocessing as mp
import helper_mod

def worker(ns, lock, ev, barrier, q, n):
    barrier.wait()
    with lock:
        ns.total = ns.total + n
    q.put(helper_mod.square(n))
    ev.wait(30)

if __name__ == '__main__':
    ctx = mp.get_context(sys.argv[1])
    with ctx.Manager() as m:
        ns = m.Namespace(total=0)
        lock, ev, barrier, q = m.Lock(), m.Event(), m.Barrier(3), m.Queue()
        procs = [ctx.Process(target=worker, args=(ns, lock, ev, barrier, q, n)) for n in (1, 2, 3)]
        for p in procs:
            p.start()
        got = sorted(q.get(timeout=30) for _ in procs)
        ev.set()
        for p in procs:
            p.join()
        print(sys.argv[1], ns.total, got, [p.exitcode for p in procs])
    sys.exit(3)
