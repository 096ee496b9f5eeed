# BaseProxy._callmethod (doctest; the IndexError's traceback is printed as
# its last line).
from docconnect import Manager

manager = Manager()
l = manager.list(range(10))
print(l._callmethod('__len__'))
print(l._callmethod('__getitem__', (slice(2, 7),))) # equivalent to l[2:7]
try:
    l._callmethod('__getitem__', (20,))          # equivalent to l[20]
except Exception as e:
    print('%s: %s' % (type(e).__name__, e))
