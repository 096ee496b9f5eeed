# multiprocessing.shared_memory, SharedMemoryManager in a with statement
# (doctest; do_work, which the documentation leaves out, squares its part of
# the list; the total is printed).
from multiprocessing import Process
from multiprocessing.managers import SharedMemoryManager
from docconnect import connect

def do_work(sl, start, stop):
    for i in range(start, stop):
        sl[i] = sl[i] * sl[i]

if __name__ == '__main__':
    with connect(SharedMemoryManager) as smm:
        sl = smm.ShareableList(range(2000))
        # Divide the work among two processes, storing partial results in sl
        p1 = Process(target=do_work, args=(sl, 0, 1000))
        p2 = Process(target=do_work, args=(sl, 1000, 2000))
        p1.start()
        p2.start()  # A multiprocessing.Pool might be more efficient
        p1.join()
        p2.join()   # Wait for all work to complete in both processes
        total_result = sum(sl)  # Consolidate the partial results now in sl
    print(total_result)
