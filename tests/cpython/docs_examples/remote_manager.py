# "Using a remote manager": the two clients (the server is managerd with
# --share get_queue=Queue, or CPython's with get_queue returning one queue).
from multiprocessing.managers import BaseManager
from docconnect import address

class QueueManager(BaseManager): pass
QueueManager.register('get_queue')
m = QueueManager(address=address(), authkey=b'abracadabra')
m.connect()
queue = m.get_queue()
queue.put('hello')

# Another client
class QueueManager(BaseManager): pass
QueueManager.register('get_queue')
m = QueueManager(address=address(), authkey=b'abracadabra')
m.connect()
queue = m.get_queue()
print(repr(queue.get()))
