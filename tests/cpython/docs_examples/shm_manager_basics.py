# multiprocessing.shared_memory, SharedMemoryManager: the basic mechanisms
# (doctest; results printed). The documentation's
# `shared_memory.SharedMemoryManager` lives in multiprocessing.managers.
from multiprocessing.managers import SharedMemoryManager
from docconnect import connect

smm = connect(SharedMemoryManager)  # Start the process that manages the shared memory blocks
sl = smm.ShareableList(range(4))
print(repr(sl))
raw_shm = smm.SharedMemory(size=128)
another_sl = smm.ShareableList('alpha')
print(repr(another_sl))
smm.shutdown()  # Calls unlink() on sl, raw_shm, and another_sl
