# concurrent.futures.ProcessPoolExecutor workers sharing a manager's dict,
# list and Lock (proxies sent through the executor's task queue carry no
# authkey), under the start method given on the command line.
# cpython-starts: 0
# min-python: 3.7
# args: fork | spawn
import sys
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor


def count(args):
    counts, seen, lock, word = args
    with lock:
        counts[word] = counts.get(word, 0) + 1
    seen.append(len(word))
    return word.upper()


if __name__ == '__main__':
    ctx = mp.get_context(sys.argv[1])
    with ctx.Manager() as m:
        counts, seen, lock = m.dict(), m.list(), m.Lock()
        words = 'the quick brown fox jumps over the lazy dog the end'.split()
        with ProcessPoolExecutor(3, mp_context=ctx) as ex:
            upper = list(ex.map(count, [(counts, seen, lock, w) for w in words]))
        print(upper)
        print(sorted(counts.items()), sorted(seen))
